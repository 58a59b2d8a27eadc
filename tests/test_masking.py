"Statistical and contract tests of lesson 03's masking over more than 100k tokens of the built-in corpus."
import copy
import pytest
import torch
from datasets import Dataset
from mlm_course.data import builtin_corpus
from transformers import DataCollatorForLanguageModeling
from mlm_course.masking import OUTCOMES, fixed_eval_masks, mask_outcomes, mlm_collator, padding_collator
from mlm_course.tokenizer import offline_tokenizer, train_sentencepiece_tokenizer, train_wordpiece_tokenizer
from mlm_course.utils import ConfigError, ModelError

MAX_LEN, BATCH = 256, 32


@pytest.fixture(scope="module")
def texts(): return list(builtin_corpus()["train"]["text"])

@pytest.fixture(scope="module")
def bpe(): return offline_tokenizer()

@pytest.fixture(scope="module")
def wordpiece(texts): return train_wordpiece_tokenizer(texts, vocab_size=3000)

@pytest.fixture(scope="module")
def sentencepiece(texts): return train_sentencepiece_tokenizer(texts, vocab_size=3000)


def documents(tokenizer, texts):
    "One truncated example per document (so batches need padding), with offsets for the word oracle."
    enc = tokenizer(texts, truncation=True, max_length=MAX_LEN, return_offsets_mapping=True)
    return enc, [{"input_ids": ids} for ids in enc["input_ids"]]


def collate_all(collator, examples):
    "Run the collator over all examples in batches; return originals, inputs, labels (rows padded to MAX_LEN)."
    pad = lambda t, v: torch.nn.functional.pad(t, (0, MAX_LEN - t.shape[1]), value=v)
    orig, inputs, labels = [], [], []
    for i in range(0, len(examples), BATCH):
        chunk = examples[i:i+BATCH]
        b = collator([dict(e) for e in chunk])
        orig.append(pad(padding_collator(collator.tokenizer)(chunk)["input_ids"], collator.tokenizer.pad_token_id))
        inputs.append(pad(b["input_ids"], collator.tokenizer.pad_token_id)); labels.append(pad(b["labels"], -100))
    return torch.cat(orig), torch.cat(inputs), torch.cat(labels)


def eligible(tokenizer, ids):
    "Tokens that may be selected: not special, not padding."
    return ~torch.isin(ids, torch.tensor(tokenizer.all_special_ids))


def shares(tokenizer, orig, inputs, labels):
    "Selected share of eligible tokens, and the masked/replaced/kept shares of the selected ones."
    out = mask_outcomes(orig, inputs, labels, tokenizer.mask_token_id)
    n_eligible = eligible(tokenizer, orig).sum().item()
    n_selected = (labels != -100).sum().item()
    assert n_eligible > 100_000
    return n_selected/n_eligible, {name: (out == code).sum().item()/n_selected for code, name in enumerate(OUTCOMES) if code}


@pytest.mark.parametrize("whole_word", [False, True])
def test_selected_share_and_80_10_10(bpe, texts, whole_word):
    _, examples = documents(bpe, texts)
    orig, inputs, labels = collate_all(mlm_collator(bpe, whole_word=whole_word, seed=0), examples)
    selected, parts = shares(bpe, orig, inputs, labels)
    assert abs(selected - 0.15) < 0.005, selected
    assert abs(parts["masked"] - 0.8) < 0.01 and abs(parts["replaced"] - 0.1) < 0.01 and abs(parts["kept"] - 0.1) < 0.01, parts
    special = ~eligible(bpe, orig)
    assert (labels[special] == -100).all(), "a special or padding token was selected"
    assert (inputs[special] == orig[special]).all(), "a special or padding token was corrupted"
    assert (labels[labels != -100] == orig[labels != -100]).all(), "labels must hold the original tokens"


def whitespace_words(text, offsets):
    "Oracle for byte-level BPE: a word is a run of non-space characters of the text; whitespace-only tokens get None."
    starts = [i == 0 and not c.isspace() or (not c.isspace() and text[i-1].isspace()) for i, c in enumerate(text)]
    word_of_char = torch.tensor(starts, dtype=torch.long).cumsum(0).tolist()
    return [None if s == e or text[s:e].isspace() else word_of_char[s + (len(text[s:e]) - len(text[s:e].lstrip()))]
            for s, e in offsets]


def assert_all_or_nothing(word_ids, selected_row):
    words = {}
    for w, sel in zip(word_ids, selected_row.tolist()):
        if w is not None: words.setdefault(w, set()).add(sel)
    split = [w for w, s in words.items() if len(s) > 1]
    assert not split, f"words partly selected: {split[:5]}"
    return len(words)


def test_whole_words_all_or_nothing_byte_level(bpe, texts):
    enc, examples = documents(bpe, texts)
    _, _, labels = collate_all(mlm_collator(bpe, whole_word=True, seed=1), examples)
    n_words = sum(assert_all_or_nothing(whitespace_words(t, off), labels[i, :len(off)] != -100)
                  for i, (t, off) in enumerate(zip(texts, enc["offset_mapping"])))
    assert n_words > 50_000


@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece"])
def test_whole_words_all_or_nothing_by_word_ids(request, texts, kind):
    "WordPiece (`##` continues a word) and SentencePiece (`▁` starts one), against the tokenizer's own word ids."
    tokenizer = request.getfixturevalue(kind)
    enc, examples = documents(tokenizer, texts)
    orig, inputs, labels = collate_all(mlm_collator(tokenizer, whole_word=True, seed=2), examples)
    n_words = sum(assert_all_or_nothing(enc.word_ids(i), labels[i, :len(enc["input_ids"][i])] != -100)
                  for i in range(len(texts)))
    assert n_words > 50_000
    selected, parts = shares(tokenizer, orig, inputs, labels)
    assert abs(selected - 0.15) < 0.005 and abs(parts["masked"] - 0.8) < 0.01, (selected, parts)
    assert (labels[~eligible(tokenizer, orig)] == -100).all()


def short_examples(tokenizer, texts, length=12):
    "Pieces of exactly `length` tokens (<s>, length - 2 tokens, </s>): each is empty with probability 0.85**10."
    n = length - 2
    ids = tokenizer(texts, add_special_tokens=False, return_attention_mask=False, verbose=False)["input_ids"]
    return [{"input_ids": [tokenizer.cls_token_id] + x[i:i+n] + [tokenizer.sep_token_id]}
            for x in ids for i in range(0, len(x) - n + 1, n)]


@pytest.mark.parametrize("whole_word", [False, True])
def test_never_empty_keeps_80_10_10(bpe, texts, whole_word):
    examples = short_examples(bpe, texts)
    orig, inputs, labels = collate_all(mlm_collator(bpe, whole_word=whole_word, seed=4), examples)
    assert ((labels != -100).sum(1) > 0).all(), "an example has no selected token"
    selected, parts = shares(bpe, orig, inputs, labels)
    assert 0.15 < selected < 0.25, selected  # short examples get a few more selections, never fewer
    assert abs(parts["masked"] - 0.8) < 0.01 and abs(parts["replaced"] - 0.1) < 0.01 and abs(parts["kept"] - 0.1) < 0.01, parts


def test_never_empty_off_leaves_empty_rows_and_matches_hugging_face(bpe, texts):
    "Control: without the option about 20% of 12-token examples are empty, and the draws are the parent class's."
    examples = short_examples(bpe, texts)[:3000]
    _, _, labels = collate_all(mlm_collator(bpe, seed=5, never_empty=False), examples)
    assert abs(((labels != -100).sum(1) == 0).float().mean().item() - 0.85**10) < 0.03
    batch = [dict(e) for e in examples[:BATCH]]
    ours, theirs = mlm_collator(bpe, seed=6, never_empty=False)(batch), DataCollatorForLanguageModeling(bpe, seed=6)(batch)
    assert torch.equal(ours["input_ids"], theirs["input_ids"]) and torch.equal(ours["labels"], theirs["labels"])


def test_token_level_splits_words(bpe, texts):
    "Control for the oracle: token-level masking does select parts of words, so the all-or-nothing test can fail."
    enc, examples = documents(bpe, texts[:200])
    _, _, labels = collate_all(mlm_collator(bpe, seed=0), examples)
    with pytest.raises(AssertionError, match="partly selected"):
        for i, (t, off) in enumerate(zip(texts[:200], enc["offset_mapping"])):
            assert_all_or_nothing(whitespace_words(t, off), labels[i, :len(off)] != -100)


@pytest.mark.parametrize("whole_word", [False, True])
def test_same_seed_same_masks(bpe, texts, whole_word):
    _, examples = documents(bpe, texts[:300])
    run = lambda seed: collate_all(mlm_collator(bpe, whole_word=whole_word, seed=seed), examples)
    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[2], c[2])


@pytest.fixture(scope="module")
def blocks(bpe, texts):
    ids = [i for doc in bpe(texts[:400])["input_ids"] for i in doc]
    return Dataset.from_dict({"input_ids": [ids[i:i+128] for i in range(0, len(ids) - 127, 128)]})


@pytest.mark.parametrize("whole_word", [False, True])
def test_fixed_eval_masks_reproducible_and_order_free(bpe, blocks, whole_word):
    a = fixed_eval_masks(blocks, bpe, seed=0, whole_word=whole_word)
    assert a.column_names == ["input_ids", "attention_mask", "labels"]
    assert a[:] == fixed_eval_masks(blocks, bpe, seed=0, whole_word=whole_word)[:]
    assert a["labels"] != fixed_eval_masks(blocks, bpe, seed=1, whole_word=whole_word)["labels"]
    order = list(range(len(blocks)))[::-1]
    assert fixed_eval_masks(blocks.select(order), bpe, seed=0, whole_word=whole_word)[:] == a.select(order)[:]
    labels = torch.tensor(a["labels"])
    assert abs((labels != -100).float().mean().item() - 0.15) < 0.01


def test_padding_dynamic_and_multiple_of(bpe):
    examples = [{"input_ids": bpe("short")["input_ids"]}, {"input_ids": bpe("a somewhat longer example text")["input_ids"]}]
    longest = max(len(e["input_ids"]) for e in examples)
    b = mlm_collator(bpe, seed=0)(examples)
    assert b["input_ids"].shape == (2, longest)
    b = mlm_collator(bpe, pad_to_multiple_of=8, seed=0)(examples)
    assert b["input_ids"].shape[1] % 8 == 0 and b["input_ids"].shape[1] >= longest
    assert (b["input_ids"][0, len(examples[0]["input_ids"]):] == bpe.pad_token_id).all()
    assert (b["labels"][0, len(examples[0]["input_ids"]):] == -100).all()
    assert b["attention_mask"][0].sum() == len(examples[0]["input_ids"])


def test_premasked_examples_are_only_padded(bpe, blocks):
    masked = fixed_eval_masks(blocks.select(range(4)), bpe)
    rows = [{k: v[:100 + i] for k, v in masked[i].items()} for i in range(4)]
    for collate in (padding_collator(bpe), mlm_collator(bpe, seed=0)):
        b = collate(rows)
        assert b["labels"].shape == (4, 103)
        assert b["labels"][0, :100].tolist() == rows[0]["labels"] and (b["labels"][0, 100:] == -100).all()
        assert b["input_ids"][0, :100].tolist() == rows[0]["input_ids"]


@pytest.mark.parametrize("p", [0, 1, -0.1, 1.5, "0.15"])
def test_bad_probability_is_config_error(bpe, p):
    with pytest.raises(ConfigError, match="mlm_probability"): mlm_collator(bpe, mlm_probability=p)
    with pytest.raises(ConfigError, match="mlm_probability"): fixed_eval_masks(Dataset.from_dict({"input_ids": [[0, 2]]}), bpe, mlm_probability=p)


def test_tokenizer_without_mask_is_model_error(bpe):
    no_mask = copy.deepcopy(bpe); no_mask.mask_token = None
    with pytest.raises(ModelError, match="mask token"): mlm_collator(no_mask)
