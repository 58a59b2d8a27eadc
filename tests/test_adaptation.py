"Lesson 08 (domain adaptation): WikiText loading, the perplexity table, and a real (tiny) adaptation run."
import math
import pytest
import torch
from datasets import Dataset
from mlm_course.adaptation import (adaptation_summary, continue_pretraining, detokenize_wikitext, fixed_eval_sets,
                                   load_wikitext, perplexity_table, wikitext_articles)
from mlm_course.chunking import make_blocks
from mlm_course.data import load_corpus
from mlm_course.model import load_model
from mlm_course.tokenizer import train_bpe_tokenizer
from mlm_course.utils import DataError


@pytest.fixture(scope="module")
def wiki(shared_data): return load_wikitext("validation", shared_data/"wikitext2_raw")

@pytest.fixture(scope="module")
def eli5(eli5_test_file): return load_corpus("eli5_category", data_files=eli5_test_file)


def test_wikitext_articles_on_the_real_file(shared_data, wiki):
    "Every article starts at its ` = Title = ` row; section headings stay inside; the spacing is restored."
    raw = (shared_data/"wikitext2_raw"/"wiki.valid.raw").read_text(encoding="utf-8").splitlines(keepends=True)
    titles = [l for l in raw if l.startswith(" = ") and not l.startswith(" = = ")]
    assert len(wiki) == len(titles) > 50
    assert all(t.startswith("= ") for t in wiki["text"])
    assert not any(" @,@ " in t or " , " in t for t in wiki["text"])
    assert sum(len(t.split()) for t in wiki["text"]) > 150_000  # nothing lost: WikiText-2 valid has ~214k words


def test_detokenize_wikitext():
    assert detokenize_wikitext("It cost $ 1 @,@ 000 ( in 1990 ) , he said .") == "It cost $ 1,000 (in 1990), he said."
    assert detokenize_wikitext("the 3 @.@ 5 @-@ inch gun 's barrel") == "the 3.5-inch gun's barrel"
    assert wikitext_articles([" = A = \n", " x \n", " \n", " = = B = = \n", " y \n"]) == ["= A =\nx\n\n= = B = =\ny"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(split="dev"), "no split 'dev'"),
    (dict(split="test", data_files="/nonexistent/wiki.test.raw"), "does not exist"),
])
def test_load_wikitext_errors(kwargs, message):
    with pytest.raises(DataError, match=message): load_wikitext(**kwargs)


def test_adaptation_summary_arithmetic():
    table = {"base": {"general": 100.0, "domain": 200.0}, "adapted": {"general": 120.0, "domain": 50.0}}
    assert adaptation_summary(table, "base", "adapted") == pytest.approx(dict(domain_change_pct=-75, general_change_pct=20))


def test_adapting_lowers_the_domain_perplexity(tmp_path, shared_data, wiki, eli5):
    """The lesson's claim at test scale: pre-train on WikiText, adapt on ELI5; the domain perplexity drops, the
    base model is better on general than on domain text, and the base model is left unchanged by the adaptation."""
    tok = train_bpe_tokenizer(wiki["text"], vocab_size=2048)
    general = {"train": wiki.select(range(40)), "validation": load_wikitext("test", shared_data/"wikitext2_raw").select(range(10))}
    sets = fixed_eval_sets({"general": general["validation"], "domain": eli5["validation"].select(range(100))}, tok,
                           block_size=64, max_blocks=48)
    assert {k: len(v) for k, v in sets.items()} == {"general": 48, "domain": 48}
    torch.manual_seed(0)
    init = load_model("builtin", tokenizer=tok, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=128)
    train = lambda model, docs, lr: continue_pretraining(model, tok, make_blocks({"train": docs}, tok, 64)["train"],
                                                         tmp_path, preset="builtin", max_steps=60,
                                                         learning_rate=lr, per_device_train_batch_size=16).model
    base = train(init, general["train"], 2e-3)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    adapted = train(base, eli5["train"].select(range(600)), 1e-3)
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())  # the base model was copied
    table = perplexity_table({"base": base, "adapted": adapted}, sets)
    assert all(math.isfinite(p) for row in table.values() for p in row.values())
    assert table["base"]["general"] < table["base"]["domain"]
    assert adaptation_summary(table, "base", "adapted")["domain_change_pct"] < -10

