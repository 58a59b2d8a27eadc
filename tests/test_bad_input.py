"""Bad input: a specific MLMCourseError naming the problem and the fix from the library, and from the CLI a
one-line message with exit status 2, no traceback, and nothing half-written."""
import functools, json, subprocess, sys
from pathlib import Path
import pytest
from hypothesis import given, settings, strategies as st

from mlm_course.utils import MLMCourseError, DataError, ConfigError, ModelError, OutputDirError
from mlm_course.data import load_corpus
from mlm_course.chunking import group_texts, make_blocks
from mlm_course.masking import mlm_collator
from mlm_course.tokenizer import offline_tokenizer, load_tokenizer
from mlm_course.model import load_model
from mlm_course.inference import fill_mask
from mlm_course.utils import prepare_output_dir


@functools.cache
def shared_tokenizer(): return offline_tokenizer()  # hypothesis tests take no fixtures: load it once per module


@pytest.fixture(scope="module")
def tok(): return shared_tokenizer()


def write(path:Path, text:str) -> str:
    path.write_text(text); return str(path)


# --- data ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,content,message", [
    ("empty.jsonl", "", "is empty"),
    ("blank.txt", "\n   \n\t\n", "no non-blank text"),
    ("other.jsonl", '{"body": "a"}\n{"body": "b"}\n', "no column 'text' (columns: body)"),
    ("bad.jsonl", '{"text": "fine"}\n{"text": "fine"}\n{"text": oops}\n', "line 3 is not valid JSON"),
    ("bad.csv", 'text,label\n"a",1\n"b",2,3\n', "line 3 has 3 fields, the header has 2"),
    ("numbers.jsonl", '{"text": 1}\n{"text": 2}\n', "not a string"),
    ("table.xlsx", "PK", "unsupported extension"),
])
def test_bad_files(tmp_path, name, content, message):
    with pytest.raises(DataError, match="Fix:") as e: load_corpus(write(tmp_path/name, content))
    assert message in str(e.value)


def test_missing_dataset_path():
    with pytest.raises(DataError, match="does not exist"): load_corpus("/no/such/corpus.jsonl")


# --- settings -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("block_size,message", [(0, "positive integer"), (-5, "positive integer"),
                                                (4096, "above the model's limit of 512")])
def test_block_size(tok, block_size, message):
    corpus = load_corpus("builtin")
    with pytest.raises(ConfigError, match=message): make_blocks(corpus, tok, block_size)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5])
def test_mlm_probability(tok, p):
    with pytest.raises(ConfigError): mlm_collator(tok, mlm_probability=p)


# --- model and tokenizer ------------------------------------------------------------------------------------------
def test_missing_model_dir():
    with pytest.raises(ModelError, match="does not exist"): load_model("./no/such/model")


def test_model_dir_without_weights(tmp_path, tok):
    model = load_model("builtin", tok)
    model.save_pretrained(tmp_path); (tmp_path/"model.safetensors").unlink()
    with pytest.raises(ModelError, match="has no weights"): load_model(tmp_path)


def test_truncated_weights(tmp_path, tok):
    load_model("builtin", tok).save_pretrained(tmp_path)
    w = tmp_path/"model.safetensors"; w.write_bytes(w.read_bytes()[:5000])
    with pytest.raises(ModelError, match="Could not load"): load_model(tmp_path)


def test_tokenizer_without_mask_token(tmp_path):
    "A GPT-2 style tokenizer (byte-level BPE, no mask token) cannot do masked-language modelling."
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast
    bpe = ByteLevelBPETokenizer(); bpe.train_from_iterator(["some text for a tiny vocabulary"] * 10, vocab_size=300)
    GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>").save_pretrained(tmp_path)
    with pytest.raises(ModelError, match="no mask token"): load_tokenizer(str(tmp_path))


def test_fill_mask_without_mask(tok):
    model = load_model("builtin", tok, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    with pytest.raises(DataError, match="mask"): fill_mask(model, tok, ["There is no blank in this sentence."])


def test_output_dir_with_other_results(tmp_path):
    (tmp_path/"report.json").write_text("{}")
    with pytest.raises(OutputDirError, match="--overwrite"): prepare_output_dir(tmp_path)
    assert (tmp_path/"report.json").read_text() == "{}", "nothing of the earlier run is touched"


def test_every_error_names_a_fix():
    for cls in (DataError, ConfigError, ModelError, OutputDirError):
        assert issubclass(cls, MLMCourseError) and issubclass(cls, ValueError)


# --- the command line: one line, exit 2, no traceback, no report --------------------------------------------------
@pytest.mark.parametrize("extra,message", [
    (["--dataset", "EMPTY"], "is empty"),
    (["--dataset", "/no/such/file.csv"], "does not exist"),
    (["--model", "./no/such/model"], "does not exist"),
    (["--mlm-probability", "0"], "mlm-probability"),
    (["--block-size", "-1"], "block-size"),
    (["--epochs", "0"], "epochs"),
])
def test_cli_bad_input(tmp_path, extra, message):
    extra = [str(write(tmp_path/"empty.jsonl", "")) if x == "EMPTY" else x for x in extra]
    exe = Path(sys.executable).parent/"mlm-course"
    p = subprocess.run([str(exe), "run", "--output-dir", str(tmp_path/"out"), *extra], capture_output=True, text=True)
    assert p.returncode == 2, p.stderr[-2000:]
    assert message in p.stderr and "Fix:" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path/"out"/"report.json").exists()


# --- properties on arbitrary inputs (hypothesis) ------------------------------------------------------------------
token_lists = st.lists(st.lists(st.integers(0, 1000), max_size=40), max_size=30)

@given(token_lists, st.integers(1, 64))
@settings(max_examples=300, deadline=None)
def test_group_texts_properties(docs, block_size):
    out = group_texts({"input_ids": docs}, block_size)["input_ids"]
    flat = [t for d in docs for t in d]
    joined = [t for b in out for t in b]
    assert joined == flat[:len(joined)], "blocks are the concatenation, in order"
    if len(flat) >= block_size:
        assert all(len(b) == block_size for b in out) and len(joined) == len(flat) // block_size * block_size
    else:
        assert out == ([flat] if flat else [])


@given(st.lists(st.lists(st.integers(5, 8000), min_size=1, max_size=50), min_size=1, max_size=8),
       st.floats(0.05, 0.95), st.booleans(), st.integers(0, 2**31 - 1))
@settings(max_examples=60, deadline=None)
def test_masking_properties(rows, p, whole_word, seed):
    tok = shared_tokenizer()
    examples = [{"input_ids": [tok.bos_token_id, *r, tok.eos_token_id]} for r in rows]
    batch = mlm_collator(tok, mlm_probability=p, whole_word=whole_word, seed=seed)(examples)
    ids, labels, attn = batch["input_ids"], batch["labels"], batch["attention_mask"]
    special = (labels != -100) & ((labels == tok.bos_token_id) | (labels == tok.eos_token_id) | (labels == tok.pad_token_id))
    assert not special.any(), "special tokens and padding are never selected"
    assert ((labels == -100) | (attn == 1)).all()
    original = [e["input_ids"] for e in examples]
    for i,row in enumerate(original):  # unselected positions keep their token; labels hold the original token
        for j,t in enumerate(row):
            if labels[i, j] == -100: assert ids[i, j] == t
            else: assert labels[i, j] == t
    again = mlm_collator(tok, mlm_probability=p, whole_word=whole_word, seed=seed)(examples)
    assert (again["input_ids"] == ids).all(), "same seed, same masks"
