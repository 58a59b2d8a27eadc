"""Issue 13: the course's own path (tokenizer, model, blocks, masks, perplexity, training, fill-mask) on a tiny offline
stand-in of every masked-LM family (`tiny_model_dir`): BERT, RoBERTa, ALBERT, ELECTRA, DeBERTa-v2, ModernBERT, XLM-R."""
import math
import pytest
import torch
from datasets import DatasetDict
from mlm_course.chunking import make_blocks
from mlm_course.data import builtin_corpus
from mlm_course.evaluation import eval_mask_draws, evaluate_perplexity
from mlm_course.inference import fill_mask
from mlm_course.masking import mlm_collator, word_start_table, word_starts
from mlm_course.model import TINY_FAMILIES, count_parameters, load_model
from mlm_course.tokenizer import load_tokenizer
from mlm_course.training import make_trainer, mlm_training_args
from mlm_course.utils import ConfigError

BLOCK = 32
BYTE_LEVEL = {"roberta", "modernbert"}  # words end at whitespace only (lesson 03), not at punctuation as word_ids()
PLAIN = "Interpreters evaluate expressions lazily and then stop"  # plain words: every family's word_ids() agrees
PUNCTUATED = "Interpreters evaluate expressions lazily, then\nstop."


@pytest.fixture(scope="module")
def docs():
    corpus = builtin_corpus()
    return DatasetDict(train=corpus["train"].select(range(300, 340)), validation=corpus["validation"].select(range(20)))


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def family(request): return request.param


@pytest.fixture(scope="module")
def loaded(family, family_dir, docs):
    "Tokenizer, model and blocks of one family, through the course's own loaders."
    path = family_dir(family)
    tok = load_tokenizer(str(path))
    return tok, load_model(str(path), tokenizer=tok), make_blocks(docs, tok, block_size=BLOCK)


def test_loads_as_its_family(family, loaded):
    tok, model, _ = loaded
    assert model.config.model_type == family and model.config.vocab_size == len(tok) == 1000
    assert tok.mask_token is not None and tok.model_max_length == 128
    framed = tok.convert_ids_to_tokens(tok("Return x.")["input_ids"])
    assert (framed[0], framed[-1]) == (tok.cls_token, tok.sep_token)
    counts = count_parameters(model)
    assert counts["total"] == model.num_parameters() and min(counts[k] for k in ("embeddings", "encoder", "lm_head")) > 0
    assert counts["lm_head"] < len(tok) * (getattr(model.config, "embedding_size", None) or model.config.hidden_size)


def test_blocks_and_perplexity_on_fixed_masks(loaded):
    tok, model, blocks = loaded
    for split in ("train", "validation"):
        ids = torch.tensor(blocks[split]["input_ids"])
        assert ids.shape[1] == BLOCK and len(ids) > 50 and int(ids.max()) < len(tok)
        assert int((ids == tok.sep_token_id).sum()) >= 10  # every document ends with the separator
    draws = eval_mask_draws(blocks["validation"], tok, n_draws=2, whole_word=True)
    for masked in draws:
        labels, ids = torch.tensor(masked["labels"]), torch.tensor(blocks["validation"]["input_ids"])
        assert not torch.isin(ids[labels != -100], torch.tensor(tok.all_special_ids)).any()
        assert 0.05 < float((labels != -100).float().mean()) < 0.3
    scores = evaluate_perplexity(model, draws, tokenizer=tok)
    assert scores["n_draws"] == 2 and math.isfinite(scores["perplexity"]) and scores["perplexity_std"] >= 0
    assert 300 < scores["perplexity"] < 3000  # a random model: close to the vocabulary size, 1,000


def _tokenizer_word_starts(enc) -> list[bool]:
    w = enc.word_ids(0)
    return [x is None or i == 0 or x != w[i - 1] for i, x in enumerate(w)]


def test_whole_words_are_the_tokenizer_words(family, loaded):
    tok, _, blocks = loaded
    table = word_start_table(tok)
    special_ids = torch.tensor(tok.all_special_ids)
    for text in [PLAIN] if family in BYTE_LEVEL else [PLAIN, PUNCTUATED]:
        enc = tok([text])
        ids = torch.tensor(enc["input_ids"])
        assert word_starts(ids, torch.isin(ids, special_ids), table)[0].tolist() == _tokenizer_word_starts(enc)
        assert len(ids[0]) > len(text.split()) + 2  # some words are split, so the test has something to check
    # the collator selects whole words of grouped blocks: a word's tokens are all selected or none
    rows = blocks["train"]["input_ids"][:16]
    batch = mlm_collator(tok, whole_word=True, mlm_probability=0.5, seed=0)([{"input_ids": r} for r in rows])
    ids = torch.tensor(rows)
    starts = word_starts(ids, torch.isin(ids, special_ids), table)
    selected = batch["labels"] != -100
    word = starts.long().cumsum(1)
    n_split = 0
    for r in range(len(rows)):
        for w in word[r].unique():
            sel = selected[r][word[r] == w]
            assert sel.all() or not sel.any()
            n_split += int(len(sel) > 1 and sel.all())
    assert n_split > 5 and 0.3 < float(selected.float().mean()) < 0.7


def test_three_training_steps(family, family_dir, loaded, tmp_path):
    tok, _, blocks = loaded
    model = load_model(str(family_dir(family)))  # a fresh copy: training changes the weights
    before = model.get_input_embeddings().weight.detach().clone()
    args = mlm_training_args(tmp_path, max_steps=3, per_device_train_batch_size=4, learning_rate=1e-3,
                             eval_strategy="no", save_strategy="no", logging_steps=1, report_to=[], use_cpu=True)
    eval_masked = eval_mask_draws(blocks["validation"].select(range(16)), tok, n_draws=1)[0]
    trainer = make_trainer(model, tok, blocks["train"], eval_masked, args, sparse=False, whole_word=True, seed=0)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert trainer.state.global_step == 3 and len(losses) == 3 and all(math.isfinite(x) for x in losses)
    assert all(5 < x < 9 for x in losses)  # about log(1000) = 6.9 for a random model
    assert math.isfinite(trainer.evaluate()["eval_loss"])
    assert not torch.equal(before, model.get_input_embeddings().weight.detach())


def test_fill_mask_with_the_tokenizer_mask(loaded):
    tok, model, _ = loaded
    text = f"The if {tok.mask_token} is used for conditional execution."
    answers = fill_mask(model, tok, text, top_k=3)[0]
    enc = tok(text, return_tensors="pt")
    with torch.no_grad(): logits = model.eval()(**enc).logits[0]
    probs, ids = logits[(enc["input_ids"][0] == tok.mask_token_id).nonzero().item()].softmax(-1).topk(3)
    assert [a["token"] for a in answers] == ids.tolist()  # the pipeline's top 3: the model's own, in order
    assert [a["score"] for a in answers] == pytest.approx(probs.tolist(), abs=1e-5)
    assert all(tok.mask_token not in a["sequence"] for a in answers)
    placeholder = fill_mask(model, tok, "The if <mask> is used for conditional execution.", top_k=3)[0]
    assert [a["token"] for a in placeholder] == ids.tolist()  # `<mask>` is rewritten to the family's own token


def test_unknown_family_is_one_line_config_error(tmp_path):
    from mlm_course.model import tiny_model_dir
    with pytest.raises(ConfigError, match="use one of bert, roberta, albert, electra, deberta-v2, modernbert, xlm-roberta"):
        tiny_model_dir("gpt2", tmp_path/"x")
