"Oracle tests of lesson 06: exact token-weighted perplexity, batched pseudo-perplexity, per-category perplexity."
import math
import pytest
import torch
from datasets import Dataset
from transformers import RobertaConfig, RobertaForMaskedLM
from mlm_course.data import builtin_corpus
from mlm_course.evaluation import evaluate_perplexity, load_metric, perplexity_by, pseudo_perplexity
from mlm_course.masking import fixed_eval_masks, padding_collator
from mlm_course.tokenizer import offline_tokenizer
from mlm_course.utils import DataError

TEXTS = ["The if statement is used for conditional execution.", "Return the absolute value of a number x."]


@pytest.fixture(scope="module")
def tokenizer(): return offline_tokenizer()

@pytest.fixture(scope="module")
def model(tokenizer):
    "A tiny random RoBERTa: the oracles compare computations, not quality. Left in train mode on purpose."
    torch.manual_seed(0)
    cfg = RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=258, pad_token_id=tokenizer.pad_token_id)
    return RobertaForMaskedLM(cfg).train()

@pytest.fixture(scope="module")
def masked(tokenizer):
    "Pre-masked documents of unequal length (so batches need padding and hold different numbers of masks)."
    docs = list(builtin_corpus()["validation"]["text"][:40])
    enc = tokenizer(docs, truncation=True, max_length=96)
    return fixed_eval_masks(Dataset.from_dict(dict(enc)), tokenizer, seed=0)


def reference_loss(model, masked, tokenizer, batch_size):
    "Straightforward oracle: HF forward with labels per batch; weight each batch mean by its number of masked tokens."
    collate, total, n = padding_collator(tokenizer), 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(masked), batch_size):
            batch = collate([masked[j] for j in range(i, min(i+batch_size, len(masked)))])
            k = int((batch["labels"] != -100).sum())
            total += model(**batch).loss.item() * k; n += k
    model.train()
    return total / n


def test_evaluate_perplexity_matches_reference(model, tokenizer, masked):
    got = evaluate_perplexity(model, masked, batch_size=8, tokenizer=tokenizer)
    expected = reference_loss(model, masked, tokenizer, batch_size=8)
    assert got["n_tokens"] == sum(sum(l != -100 for l in labels) for labels in masked["labels"])
    assert got["eval_loss"] == pytest.approx(expected, abs=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert model.training  # the model's mode is restored


def test_evaluate_perplexity_is_deterministic_and_batch_size_free(model, tokenizer, masked):
    a = evaluate_perplexity(model, masked, batch_size=8, tokenizer=tokenizer)
    assert evaluate_perplexity(model, masked, batch_size=8, tokenizer=tokenizer) == a
    assert evaluate_perplexity(model, masked, batch_size=3, tokenizer=tokenizer)["eval_loss"] == pytest.approx(a["eval_loss"], abs=1e-5)


def test_evaluate_perplexity_errors(model, tokenizer, masked):
    with pytest.raises(DataError, match="pass tokenizer="): evaluate_perplexity(model, masked)
    unmasked = masked.map(lambda l: {"labels": [-100]*len(l)}, input_columns="labels")
    with pytest.raises(DataError, match="fixed_eval_masks"): evaluate_perplexity(model, unmasked, tokenizer=tokenizer)


def naive_pll(model, tokenizer, text):
    "One forward pass per token, as in the paper's definition."
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    model.eval(); total = 0.0
    with torch.no_grad():
        for i in range(1, ids.shape[1] - 1):
            x = ids.clone(); x[0, i] = tokenizer.mask_token_id
            total += model(input_ids=x).logits[0, i].log_softmax(-1)[ids[0, i]].item()
    model.train()
    return total, ids.shape[1] - 2


@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_pseudo_perplexity_matches_naive_loop(model, tokenizer, batch_size):
    got = pseudo_perplexity(model, tokenizer, TEXTS, batch_size=batch_size)
    naive = [naive_pll(model, tokenizer, t) for t in TEXTS]
    assert got["pseudo_log_likelihood"] == pytest.approx([p for p,_ in naive], abs=1e-3)
    assert got["per_text"] == pytest.approx([math.exp(-p/n) for p,n in naive], rel=1e-4)
    n = sum(n for _,n in naive)
    assert got["n_tokens"] == n
    assert got["pseudo_perplexity"] == pytest.approx(math.exp(-sum(p for p,_ in naive) / n), rel=1e-4)


def test_pseudo_perplexity_calls_model_in_batches(model, tokenizer, monkeypatch):
    calls = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    n = pseudo_perplexity(model, tokenizer, TEXTS, batch_size=8)["n_tokens"]
    assert len(calls) == math.ceil(n / 8)


def test_perplexity_by_several_categories(model, tokenizer):
    docs = builtin_corpus()["validation"].select(range(30))
    docs = docs.add_column("category", ["reference" if s.startswith("topic:") else "docstrings" for s in docs["source"]])
    by = perplexity_by(model, tokenizer, docs, block_size=32)
    assert set(by) == set(docs["category"]) and len(by) == 2
    assert sum(r["n_documents"] for r in by.values()) == len(docs)
    for value, r in by.items():  # each group equals evaluating that group on its own
        alone = perplexity_by(model, tokenizer, docs.filter(lambda c: c == value, input_columns="category"), block_size=32)
        assert alone[value]["perplexity"] == pytest.approx(r["perplexity"], rel=1e-6)
    with pytest.raises(DataError, match="no 'topic' column"): perplexity_by(model, tokenizer, docs, column="topic")


def test_local_evaluate_metric(model, tokenizer):
    metric = load_metric("pseudo_perplexity")
    got = metric.compute(predictions=TEXTS, model=model, tokenizer=tokenizer, batch_size=4)
    assert got["pseudo_perplexity"] == pytest.approx(pseudo_perplexity(model, tokenizer, TEXTS)["pseudo_perplexity"], rel=1e-6)
    with pytest.raises(DataError, match="no metric 'nope'"): load_metric("nope")
