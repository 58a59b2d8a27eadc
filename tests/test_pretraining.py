"`mlm-course pretrain`: the recipe that built course-base, end to end on a tiny corpus and shape (seconds)."
import gzip, itertools, json, subprocess, sys
from pathlib import Path
import pytest


def mlm_course(*args, check=True):
    exe = Path(sys.executable).parent/"mlm-course"
    p = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=600)
    if check: assert p.returncode == 0, p.stderr[-3000:]
    return p


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory, shared_data):
    "The first 60 articles of general_english, as a local JSON Lines file."
    path = tmp_path_factory.mktemp("data")/"general_60.jsonl"
    with gzip.open(shared_data/"general_english"/"general_english.jsonl.gz", "rt") as f:
        path.write_text("".join(itertools.islice(f, 60)))
    return path


TINY = ["--vocab-size", 1024, "--hidden-size", 32, "--num-hidden-layers", 1, "--num-attention-heads", 2,
        "--intermediate-size", 64, "--batch-size", 8, "--quiet"]


def test_pretrain_writes_a_loadable_half_precision_model_with_a_card(tmp_path, small_corpus):
    out = tmp_path/"base"
    mlm_course("pretrain", "--output-dir", out, "--corpus", small_corpus, "--max-steps", 6, *TINY)
    report = json.loads((out/"report.json").read_text())
    assert report["max_steps"] == 6 and report["vocab_size"] == 1024 and report["shape"]["hidden_size"] == 32
    assert report["scores"]["wikitext2_test"]["perplexity"] > 1 and len(report["scores"]["fill_mask"]) == 6
    assert not (out/"checkpoints").exists(), "a finished run leaves no checkpoints behind"
    from safetensors import safe_open
    with safe_open(str(out/"model.safetensors"), "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float16"}
    fm = json.loads(mlm_course("fill-mask", "--model", out, "--text", "The river flows into the <mask>.").stdout)
    assert len(fm[0]["predictions"]) == 3
    card = (out/"README.md").read_text()
    assert "mlm-course pretrain" in card and "CC BY-SA 3.0" in card and "| wikitext2_test |" in card


def test_budget_in_minutes_sets_the_steps(tmp_path, small_corpus):
    out = tmp_path/"budget"
    mlm_course("pretrain", "--output-dir", out, "--corpus", small_corpus, "--budget-minutes", 0.1, *TINY)
    report = json.loads((out/"report.json").read_text())
    assert report["max_steps"] >= 10 and report["train_minutes"] < 1.0


@pytest.mark.parametrize("args,message", [
    (["--hidden-size", 30, "--num-attention-heads", 4], "not a multiple"),
    (["--budget-minutes", 0], "--budget-minutes"),
    (["--corpus", "/no/such/corpus.jsonl"], "does not exist"),
])
def test_bad_pretrain_settings_fail_in_one_line(tmp_path, args, message):
    p = mlm_course("pretrain", "--output-dir", tmp_path/"out", *args, check=False)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert len(p.stderr.strip().splitlines()) == 1


def test_help_lists_every_subcommand_with_a_line_each():
    p = mlm_course("--help")
    lines = {l.split()[0]: l for l in p.stderr.splitlines() if l.startswith("  ")}
    assert set(lines) == {"run", "pretrain", "evaluate", "fill-mask", "downstream"}
    assert "course-base" in lines["run"] and "pre-train" in lines["pretrain"]
    assert mlm_course(check=False).returncode == 2  # no command at all: a usage error
