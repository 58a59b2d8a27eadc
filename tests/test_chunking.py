"""Lesson 02 (chunking). Oracle: `group_texts` equals the reference notebook's quadratic version on real text, for
many batch and block sizes; its invariants on arbitrary input (hypothesis); `make_blocks` end to end."""
import random
import datasets, pytest
from datasets import Dataset, DatasetDict
from hypothesis import given, settings, strategies as st

from mlm_course.chunking import group_texts, make_blocks, document_ids, separator_id
from mlm_course.data import builtin_corpus, load_corpus
from mlm_course.tokenizer import offline_tokenizer
from mlm_course.utils import ConfigError, shared_data_dir


def seed_group_texts(examples, block_size):
    "Written exactly like the reference notebook's `group_texts` (with its `sum(lists, [])`)."
    concatenated_examples = {k: sum(examples[k], []) for k in examples.keys()}
    total_length = len(concatenated_examples[list(examples.keys())[0]])
    if total_length >= block_size:
        total_length = (total_length // block_size) * block_size
    result = {k: [t[i : i + block_size] for i in range(0, total_length, block_size)]
              for k, t in concatenated_examples.items()}
    return result


@pytest.fixture(scope="module", autouse=True)
def fresh_maps():
    "Recompute every `map`: `datasets` fingerprints library functions by name, so its cache would hide a code change."
    datasets.disable_caching(); yield; datasets.enable_caching()


@pytest.fixture(scope="module")
def tok(): return offline_tokenizer()


@pytest.fixture(scope="module")
def docs():
    "Real text: 1,500 ELI5 answers-per-question texts from the shared test file when present, else the built-in corpus."
    d = shared_data_dir()
    if d is not None:
        return load_corpus(str(d/"eli5_category"/"eli5-category-test.json.gz"))["train"].select(range(1500))
    return builtin_corpus()["train"]


@pytest.fixture(scope="module")
def encoded(docs, tok):
    "The reference's tokenization: one tokenizer call per document, `input_ids` and `attention_mask`."
    return tok(list(docs["text"]), verbose=False)


def test_equals_reference_on_real_text(encoded):
    ids, masks = encoded["input_ids"], encoded["attention_mask"]
    rng, shorter_than_a_block = random.Random(0), 0
    for _ in range(150):
        n = rng.choice([1, 2, 3, rng.randint(1, 40), rng.randint(40, 600)])
        start = rng.randint(0, len(ids) - n)
        block = rng.choice([1, 7, 64, 128, 512, rng.randint(2, 2048), 100_000])
        batch = {"input_ids": ids[start:start+n], "attention_mask": masks[start:start+n]}
        assert group_texts(batch, block) == seed_group_texts(batch, block), (n, block)
        shorter_than_a_block += sum(map(len, batch["input_ids"])) < block
    assert shorter_than_a_block >= 5, "the draws include batches shorter than one block"


def test_a_batch_shorter_than_a_block_is_kept_whole(encoded):
    short = {k: v[:1] for k, v in encoded.items()}
    n = len(short["input_ids"][0])
    assert group_texts(short, n + 1) == seed_group_texts(short, n + 1) == {k: [v[0]] for k, v in short.items()}
    assert group_texts({"input_ids": [], "attention_mask": []}, 8) == {"input_ids": [], "attention_mask": []}


def test_make_blocks_equals_the_reference_pipeline(docs, tok):
    "`make_blocks` = the reference's tokenize `map` + `group_texts` `map` (RoBERTa's `</s>` already separates)."
    ours = make_blocks(DatasetDict(train=docs), tok, block_size=128)["train"]
    tokenized = docs.map(lambda b: tok(b["text"], verbose=False), batched=True, remove_columns=docs.column_names)
    reference = tokenized.map(seed_group_texts, batched=True, fn_kwargs=dict(block_size=128))
    assert ours.column_names == ["input_ids", "attention_mask"]
    assert list(ours["input_ids"]) == list(reference["input_ids"])
    assert list(ours["attention_mask"]) == list(reference["attention_mask"])


def test_make_blocks_can_pad_the_remainder_instead_of_dropping_it(docs, tok):
    few = DatasetDict(train=docs.select(range(40)))
    total = sum(map(len, document_ids(few["train"][:], tok)["input_ids"]))
    padded = make_blocks(few, tok, block_size=100, remainder="pad")["train"]
    dropped = make_blocks(few, tok, block_size=100)["train"]
    assert {len(x) for x in padded["input_ids"]} == {100}
    assert sum(map(sum, padded["attention_mask"])) == total, "every token is kept"
    assert sum(map(sum, dropped["attention_mask"])) == total // 100 * 100
    assert len(padded) == -(-total // 100)
    last = padded[-1]
    assert all(t == tok.pad_token_id for t, m in zip(last["input_ids"], last["attention_mask"]) if m == 0)


def test_num_proc_groups_each_share_of_the_documents_on_its_own(docs, tok):
    "With `num_proc=2` each process groups its contiguous half, so the blocks are those of the two halves."
    few = docs.select(range(300))
    parallel = make_blocks(DatasetDict(train=few), tok, num_proc=2)["train"]["input_ids"]
    halves = [make_blocks(DatasetDict(train=few.shard(2, i, contiguous=True)), tok)["train"]["input_ids"] for i in (0, 1)]
    assert list(parallel) == list(halves[0]) + list(halves[1])


@pytest.mark.parametrize("strategy", ["pad", "overflow"])
def test_other_strategies_give_rectangular_blocks(docs, tok, strategy):
    blocks = make_blocks(DatasetDict(train=docs.select(range(30))), tok, block_size=64, strategy=strategy)["train"]
    assert blocks.column_names == ["input_ids", "attention_mask"]
    assert {len(x) for x in blocks["input_ids"]} == {64}
    assert (len(blocks) == 30) == (strategy == "pad")


@pytest.mark.parametrize("kwargs,message", [
    (dict(block_size=0), "positive integer"), (dict(block_size=-3), "positive integer"),
    (dict(block_size=513), "at most 512"), (dict(strategy="sliding"), "use one of"),
    (dict(remainder="keep"), "use 'drop' or 'pad'"),
])
def test_bad_settings_name_the_fix(tok, kwargs, message):
    corpus = DatasetDict(train=Dataset.from_dict({"text": ["a short text", "another one"]}))
    with pytest.raises(ConfigError, match="Fix:") as e: make_blocks(corpus, tok, **kwargs)
    assert message in str(e.value)


def test_separator_is_added_when_the_tokenizer_adds_none():
    "A GPT-2 style tokenizer adds no special tokens: `document_ids` appends its `eos` to every document."
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["plain text without special tokens"] * 10, vocab_size=300,
                            special_tokens=["<|endoftext|>"])
    gpt = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>")
    eos = separator_id(gpt)
    ids = document_ids({"text": ["plain text", "without special"]}, gpt)["input_ids"]
    assert [x[-1] for x in ids] == [eos, eos] and all(eos not in x[:-1] for x in ids)


def test_roberta_documents_are_not_separated_twice(tok):
    ids = document_ids({"text": ["one document", "and another"]}, tok)["input_ids"]
    assert ids == tok(["one document", "and another"])["input_ids"], "`</s>` already ends each document"
    assert separator_id(tok) == tok.sep_token_id == tok.eos_token_id


# --- invariants on arbitrary input (hypothesis) --------------------------------------------------------------------
token_lists = st.lists(st.lists(st.integers(0, 50_000), max_size=60), max_size=25)

@given(token_lists, st.integers(1, 100))
@settings(max_examples=400, deadline=None)
def test_group_texts_invariants(docs, block_size):
    examples = {"input_ids": docs, "attention_mask": [[1] * len(d) for d in docs]}
    out = group_texts(examples, block_size)
    flat = [t for d in docs for t in d]
    blocks = out["input_ids"]
    joined = [t for b in blocks for t in b]
    assert joined == flat[:len(joined)], "the output, concatenated, is a prefix of the concatenated input"
    if len(flat) >= block_size:
        assert all(len(b) == block_size for b in blocks)
        assert len(joined) == len(flat) // block_size * block_size, "tokens kept = floor(total/bs)*bs"
    else:
        assert blocks == ([flat] if flat else []), "a batch shorter than one block is one short block"
    assert [len(b) for b in out["attention_mask"]] == [len(b) for b in blocks], "columns stay aligned"
    assert out == seed_group_texts(examples, block_size)


def test_tokenize_and_group_keeps_a_short_batch_whole_like_the_reference(tok):
    "A batch with fewer tokens than one block: one short block (`group_texts` semantics), or one padded block."
    from mlm_course.chunking import tokenize_and_group
    batch = {"text": ["a few words", "and a few more"]}
    ids = document_ids(batch, tok)["input_ids"]
    n = sum(map(len, ids))
    kept = tokenize_and_group(batch, tok, block_size=n + 5)
    assert kept == {"input_ids": [ids[0] + ids[1]], "attention_mask": [[1] * n]}
    padded = tokenize_and_group(batch, tok, block_size=n + 5, remainder="pad")
    assert padded["input_ids"].tolist() == [ids[0] + ids[1] + [tok.pad_token_id] * 5]
    assert padded["attention_mask"].tolist() == [[1] * n + [0] * 5]
    assert tokenize_and_group({"text": []}, tok, block_size=8) == {"input_ids": [], "attention_mask": []}


def test_the_map_cache_key_changes_with_every_input_that_changes_the_blocks(docs, tok):
    "`concat_and_group`'s own fingerprint: same inputs, same key; another tokenizer, setting or dataset, another key."
    import copy
    from mlm_course.chunking import _map_fingerprint
    few = docs.select(range(20))
    key = lambda d=few, t=tok, **kw: _map_fingerprint(d, t, **{**dict(block_size=128, text_column="text",
                                                                       remainder="drop", batch_size=1000), **kw})
    assert key() == key(t=copy.deepcopy(tok))
    grown = copy.deepcopy(tok); grown.add_tokens(["<new_token>"])
    others = [key(t=grown), key(block_size=64), key(remainder="pad"), key(batch_size=10), key(d=docs.select(range(21)))]
    assert len({key(), *others}) == 1 + len(others)


def test_the_map_cache_key_covers_the_code_that_makes_documents(docs, tok, monkeypatch):
    "A change to `document_ids` alone (the function `tokenize_and_group` calls) must not reuse stale cached blocks."
    import mlm_course.chunking as chunking
    key = lambda: chunking._map_fingerprint(docs.select(range(5)), tok, block_size=128)
    before = key()
    monkeypatch.setattr(chunking, "document_ids", lambda batch, tokenizer, text_column="text": {"input_ids": []})
    assert key() != before


def test_make_blocks_reuses_the_datasets_cache(tmp_path, docs, tok):
    "On a dataset backed by files, a second identical `make_blocks` reads the cached result; other settings do not."
    datasets.enable_caching()
    try:
        docs.select(range(200)).save_to_disk(tmp_path/"docs")
        on_disk = DatasetDict(train=datasets.load_from_disk(str(tmp_path/"docs")))
        first = make_blocks(on_disk, tok, block_size=64)["train"]
        again = make_blocks(on_disk, tok, block_size=64)["train"]
        other = make_blocks(on_disk, tok, block_size=32)["train"]
        assert again.cache_files == first.cache_files and other.cache_files != first.cache_files
        assert list(again["input_ids"]) == list(first["input_ids"]) and len(other["input_ids"][0]) == 32
    finally: datasets.disable_caching()
