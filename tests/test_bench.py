"Smoke test of the benchmark (bench/run): the code runs in seconds at tiny sizes and reports every figure. Not timed."
import json, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import peak_memory
from bench.seed_pipeline import seed_group_texts


def test_seed_group_texts_is_the_seed_recipe():
    examples = {"input_ids": [[1, 2, 3], [4, 5], [6, 7, 8, 9]], "attention_mask": [[1]*3, [1]*2, [1]*4]}
    out = seed_group_texts(examples, block_size=4)
    assert out["input_ids"] == [[1, 2, 3, 4], [5, 6, 7, 8]]  # concatenated, cut, remainder [9] dropped
    assert out["attention_mask"] == [[1]*4, [1]*4]


def test_peak_memory_sees_an_allocation():
    with peak_memory() as mem: block = bytearray(64 * 2**20); block[::4096] = b"x" * len(block[::4096])
    del block
    assert mem["peak_rss_delta_mib"] >= 48, mem


@pytest.fixture(scope="module")
def smoke(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")/"bench.json"
    run = subprocess.run([sys.executable, str(ROOT/"bench"/"run"), "--smoke", "--json", str(out)],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(out.read_text()), run.stdout


def test_smoke_run_reports_ratios_and_their_figures(smoke):
    r, stdout = smoke
    for key in ["group_texts_speedup", "preprocess_speedup", "train_speedup", "eval_speedup", "fill_mask_speedup",
                "group_texts_seed_s", "group_texts_ours_s", "preprocess_seed_s", "preprocess_ours_s",
                "tiny_train_seed_samples_per_s", "tiny_train_ours_samples_per_s", "tiny_eval_seed_s", "tiny_eval_ours_s",
                "tiny_train_seed_peak_rss_mib", "tiny_train_ours_peak_rss_mib", "preprocess_seed_peak_rss_mib",
                "tiny_evaluate_perplexity_s"]:
        assert isinstance(r[key], float) and r[key] > 0, key
    assert "| measurement | seed | ours | ratio |" in stdout


def test_smoke_run_compares_like_with_like(smoke):
    r, _ = smoke
    assert r["group_texts_same_output"]  # our group_texts returns exactly the seed's blocks
    assert len(r["tiny_train_seed_losses"]) == len(r["tiny_train_ours_losses"]) == 2
    assert r["train_loss_max_abs_diff"] < 1e-4  # same masks, same batches: the sparse head changes no loss
    assert r["tiny_eval_loss_abs_diff"] < 1e-4
    assert r["tiny_fill_mask_same_top1"]


def test_recipe_smoke_reports_every_variant(tmp_path):
    "bench/recipe.py (the offline preset's ablation) runs end to end at tiny size and measures each variant."
    out = tmp_path/"recipe.json"
    run = subprocess.run([sys.executable, str(ROOT/"bench"/"recipe.py"), "--smoke", "--json", str(out)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    from bench.recipe import VARIANTS
    assert [r["variant"] for r in results] == list(VARIANTS)
    for r in results:
        assert r["perplexity"] > 1 and 0 <= r["top1"] <= r["top3"] <= 1, r
        assert len(r["fill_mask"]) == 5 and all(len(v) == 3 for v in r["fill_mask"].values()), r
    assert "| warm |" in run.stdout


def test_recipe_rejects_an_unknown_variant():
    run = subprocess.run([sys.executable, str(ROOT/"bench"/"recipe.py"), "--variants", "warm,nope"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 2 and "unknown variant(s) ['nope']" in run.stderr
