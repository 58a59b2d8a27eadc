"Tests of lesson 07: fill-mask through the pipeline against a direct computation, both mask placeholders, errors."
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, RobertaConfig, RobertaForMaskedLM
from mlm_course.data import builtin_corpus
from mlm_course.inference import compare_fill_mask, fill_mask, with_model_mask
from mlm_course.tokenizer import train_wordpiece_tokenizer
from mlm_course.tokenizer import offline_tokenizer
from mlm_course.utils import DataError

TEXTS = ["The <mask> statement is used for conditional execution.", "Return the absolute [MASK] of a number.",
         "A much longer sentence about modules, functions and the <mask> they provide to the interpreter."]


@pytest.fixture(scope="module")
def bpe(): return offline_tokenizer()

@pytest.fixture(scope="module")
def wordpiece(): return train_wordpiece_tokenizer(builtin_corpus()["train"]["text"][:300], vocab_size=1000)

def tiny(config_cls, model_cls, tokenizer):
    torch.manual_seed(0)
    return model_cls(config_cls(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=130, pad_token_id=tokenizer.pad_token_id)).train()

@pytest.fixture(scope="module")
def roberta(bpe): return tiny(RobertaConfig, RobertaForMaskedLM, bpe)

@pytest.fixture(scope="module")
def bert(wordpiece): return tiny(BertConfig, BertForMaskedLM, wordpiece)


def direct_top_k(model, tokenizer, text, k):
    "Oracle: softmax over the vocabulary at the mask position of the unpadded text."
    enc = tokenizer(text, return_tensors="pt")
    model.eval()
    with torch.no_grad(): logits = model(**enc).logits[0]
    model.train()
    pos = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().item()
    probs, ids = logits[pos].softmax(-1).topk(k)
    return ids.tolist(), probs.tolist()


@pytest.mark.parametrize("batch_size", [1, 8])
def test_fill_mask_matches_direct_computation(roberta, bpe, batch_size):
    got = fill_mask(roberta, bpe, TEXTS, top_k=4, batch_size=batch_size)
    assert len(got) == len(TEXTS) and all(len(p) == 4 for p in got)
    for text, preds in zip(with_model_mask(TEXTS, bpe), got):
        ids, probs = direct_top_k(roberta, bpe, text, 4)
        assert [p["token"] for p in preds] == ids
        assert [p["score"] for p in preds] == pytest.approx(probs, rel=1e-4)
        assert "<mask>" not in preds[0]["sequence"] and preds[0]["token_str"] in preds[0]["sequence"]
    assert roberta.training  # mode restored


def test_single_text_and_placeholders_are_equivalent(roberta, bpe):
    one = fill_mask(roberta, bpe, "The [MASK] statement.", top_k=2)
    assert len(one) == 1 and len(one[0]) == 2
    assert [p["token"] for p in fill_mask(roberta, bpe, ["The <mask> statement."], top_k=2)[0]] == [p["token"] for p in one[0]]


def test_bert_style_model_accepts_roberta_placeholder(bert, wordpiece):
    assert with_model_mask(["a <mask> b"], wordpiece) == ["a [MASK] b"]
    got = fill_mask(bert, wordpiece, ["The <mask> statement is used for conditional execution."], top_k=3)
    ids, _ = direct_top_k(bert, wordpiece, "The [MASK] statement is used for conditional execution.", 3)
    assert [p["token"] for p in got[0]] == ids


@pytest.mark.parametrize("text, n", [("No blank here.", 0), ("Two <mask> and [MASK].", 2)])
def test_mask_count_errors_name_problem_and_fix(roberta, bpe, text, n):
    with pytest.raises(DataError, match=f"holds {n} mask tokens.*Fix: write <mask> or \\[MASK\\] once"):
        fill_mask(roberta, bpe, ["The <mask> is fine.", text])


def test_compare_fill_mask_with_two_tokenizers(roberta, bpe, bert, wordpiece):
    texts = TEXTS[:2]
    cmp = compare_fill_mask({"roberta": roberta, "bert": bert}, {"roberta": bpe, "bert": wordpiece}, texts, top_k=2)
    assert cmp.texts == texts and list(cmp.predictions) == ["roberta", "bert"]
    assert cmp.predictions["roberta"] == fill_mask(roberta, bpe, texts, top_k=2)
    lines = str(cmp).splitlines()
    assert lines[0].split() == ["text", "roberta", "bert"] and len(lines) == 2 + len(texts)
    assert cmp._repr_markdown_().count("\n") == len(texts) + 1
