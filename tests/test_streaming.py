"""Streaming (lesson 09): flat memory when the corpus grows 10x, and the same blocks as the in-memory pipeline.

Peak memory is the peak resident set size (ru_maxrss) of a fresh child process that streams a generated JSON-lines
corpus of N (3,000) and of 10N documents from disk through `stream_blocks` (shuffle buffer included) and consumes
every block. Tolerance: the 10N run may peak at most 20 MiB (~5% of the ~420 MiB that interpreter, torch and
tokenizer take in either run) above the N run; what remains is native allocator and tokenizer-cache warm-up that
levels off (measured: +11 to +12 MiB for 10x, +0.4 MiB more for 20x; with the `json` reader's default 10 MiB
read chunks instead of `stream_corpus`'s 1 MiB it would be ~+55 MiB). The tolerance is tight enough to fail: holding the
extra ~23,000 blocks of the 10N run as int64 tensors (ids + mask) would take ~45 MiB, as Python lists ~5x more.
"""
import json, os, random, subprocess, sys, textwrap
from pathlib import Path
import pytest

from mlm_course.tokenizer import load_tokenizer
from mlm_course.chunking import stream_blocks
from mlm_course.data import stream_corpus

N_DOCS = 3_000
TOLERANCE_MIB = 20
ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import json, resource, sys
    from mlm_course.tokenizer import load_tokenizer
    from mlm_course.chunking import stream_blocks
    from mlm_course.data import stream_corpus
    peak_mib = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    path = sys.argv[1]
    blocks = stream_blocks(stream_corpus(path), load_tokenizer("builtin"), block_size=128, shuffle_buffer=200)
    print(json.dumps(dict(blocks=sum(1 for _ in blocks), peak_mib=peak_mib())))
""")


def write_corpus(path, n_docs, seed=0):
    "A JSON-lines corpus of `n_docs` generated documents of 40-160 words (about 0.6 KB each)."
    rng = random.Random(seed)
    words = ("the function returns a new list of values from the iterable object when called with an "
             "optional key argument and raises an error if the file cannot be opened for reading").split()
    with open(path, "w") as f:
        for i in range(n_docs):
            f.write(json.dumps({"text": f"Document {i}. " + " ".join(rng.choices(words, k=rng.randint(40, 160)))}) + "\n")
    return path


def stream_in_child(path):
    "Blocks seen and peak RSS (MiB) of a fresh process streaming `path`."
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    res = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("builtin")


def test_peak_memory_flat_when_corpus_grows_10x(tmp_path, tokenizer):
    small = stream_in_child(write_corpus(tmp_path/"small.jsonl", N_DOCS))
    large = stream_in_child(write_corpus(tmp_path/"large.jsonl", 10*N_DOCS))
    assert large["blocks"] > 9*small["blocks"]  # the large run really processed 10x the data
    growth = large["peak_mib"] - small["peak_mib"]
    assert growth < TOLERANCE_MIB, f"peak RSS grew by {growth:.1f} MiB for 10x the documents: {small} -> {large}"
    # the tolerance is meaningful: holding the extra blocks as the int64 tensors of a batch would exceed it twice
    held_extra_mib = (large["blocks"] - small["blocks"]) * 128 * 2 * 8 / 2**20
    assert held_extra_mib > 2*TOLERANCE_MIB


def test_streamed_blocks_equal_in_memory_blocks(tmp_path, tokenizer):
    from datasets import DatasetDict, load_dataset
    from mlm_course.chunking import make_blocks
    path = write_corpus(tmp_path/"docs.jsonl", 2_500, seed=1)  # > one map batch: remainders are dropped per batch
    in_memory = make_blocks(DatasetDict(train=load_dataset("json", data_files=str(path), split="train")),
                            tokenizer, block_size=64)["train"]
    streamed = list(stream_blocks(stream_corpus(path), tokenizer, block_size=64))
    assert len(streamed) == len(in_memory) > 100
    assert [b["input_ids"] for b in streamed] == in_memory["input_ids"]
    assert [b["attention_mask"] for b in streamed] == in_memory["attention_mask"]


def test_resume_from_state_dict(tmp_path, tokenizer):
    path = write_corpus(tmp_path/"docs.jsonl", 300, seed=2)
    blocks = stream_blocks(stream_corpus(path), tokenizer, block_size=64, batch_size=50)
    it = iter(blocks)
    head = [next(it)["input_ids"] for _ in range(37)]
    state = blocks.state_dict()
    rest = [b["input_ids"] for b in it]
    resumed = stream_blocks(stream_corpus(path), tokenizer, block_size=64, batch_size=50)
    resumed.load_state_dict(state)
    assert [b["input_ids"] for b in resumed] == rest
    assert head + rest == [b["input_ids"] for b in blocks]


def test_shuffle_buffer_permutes_blocks(tmp_path, tokenizer):
    path = write_corpus(tmp_path/"docs.jsonl", 300, seed=3)
    ordered = [b["input_ids"] for b in stream_blocks(stream_corpus(path), tokenizer, block_size=64)]
    shuffled = [b["input_ids"] for b in stream_blocks(stream_corpus(path), tokenizer, block_size=64, shuffle_buffer=100)]
    assert shuffled != ordered and sorted(shuffled) == sorted(ordered)


def test_stream_corpus_errors(tmp_path):
    from mlm_course.utils import DataError
    with pytest.raises(DataError, match="no column 'body'.*Fix:"):
        stream_corpus(write_corpus(tmp_path/"docs.jsonl", 3), text_column="body")
    (tmp_path/"docs.xml").write_text("<doc/>")
    with pytest.raises(DataError, match="unknown file type.*Fix:"):
        stream_corpus(tmp_path/"docs.xml")
