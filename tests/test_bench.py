"Smoke test of the benchmark (bench/run): the code runs in seconds at tiny sizes and reports every figure. Not timed."
import json, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mlm_course.scaling import distilroberta_config
from bench.common import peak_memory
from bench.limits import train_step_flops
from bench.peer import phase_times
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


def test_train_step_flops_counts_the_shapes():
    c = distilroberta_config()
    h, i, V, T = 768, 3072, 50_265, 8*128
    dense = 3*2*(6*T*(4*h*h + 2*h*i + 2*128*h) + T*(h*h + h*V))  # 6 layers and the head at every position
    assert train_step_flops(c, 8, scored=154, sparse=False) == dense
    assert train_step_flops(c, 8, scored=T, sparse=True) == dense  # every position scored: the sparse path does it all
    sparse = train_step_flops(c, 8, scored=154)
    assert 0.45*dense < sparse < 0.55*dense  # the full-vocabulary head is ~47% of the dense step


def _event(name, seq=-1, self_us=0.0, children=()):
    from types import SimpleNamespace
    e = SimpleNamespace(name=name, sequence_nr=seq, self_cpu_time_total=self_us, cpu_children=list(children), cpu_parent=None)
    for child in children: child.cpu_parent = e
    return e


def test_phase_times_gives_backward_nodes_the_phase_of_their_forward_op():
    events = [_event("phase:LM head", self_us=1000, children=[_event("aten::addmm", seq=7, self_us=2000)]),
              _event("Optimizer.step#AdamW.step", self_us=400),
              _event("autograd::engine::evaluate_function: AddmmBackward0", seq=7, self_us=500,
                     children=[_event("aten::mm", self_us=3000)]),
              _event("autograd::engine::evaluate_function: torch::autograd::AccumulateGrad", seq=-1, self_us=200),
              _event("aten::add", seq=9, self_us=100)]
    events += [c for e in events for c in e.cpu_children]  # the profiler lists every event, children too
    assert phase_times(events) == {"LM head": 6.5, "optimizer": 0.4, "gradient accumulation": 0.2, None: 0.1}


@pytest.fixture(scope="module")
def smoke(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")/"bench.json"
    run = subprocess.run([sys.executable, str(ROOT/"bench"/"run"), "--smoke", "--json", str(out)],
                         capture_output=True, text=True, timeout=480, cwd=ROOT)
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


def test_smoke_run_compares_with_the_peer_and_the_limits(smoke):
    "Issue 16's figures: the best-configured peer, the peak matmul rate, the raw tokenizer and the main job."
    r, stdout = smoke
    for key in ["peer_train_speedup", "peer_eval_speedup", "train_fraction_of_peak", "train_fraction_of_peak_fp32",
                "peer_train_fraction_of_peak", "peak_matmul_float32_flops", "peak_matmul_bfloat16_flops",
                "preprocess_fraction_of_raw", "raw_encode_batch_fast_s", "raw_make_blocks_s", "main_job_wall_s",
                "peer_tiny_train_peer_samples_per_s", "peer_tiny_train_ours_samples_per_s"]:
        assert isinstance(r[key], float) and r[key] > 0, key
    assert len(r["peer_probe"]) == 4 and all(x["samples_per_s"] > 0 for x in r["peer_probe"])  # smoke: no compile
    fastest = max(r["peer_probe"], key=lambda x: x["samples_per_s"])
    assert {k: fastest[k] for k in ("attn_implementation", "optim", "torch_compile")} == \
           {k: r["peer_config"][k] for k in ("attn_implementation", "optim", "torch_compile")}
    assert r["peer_train_loss_max_rel_diff"] < 1e-3 and r["peer_eval_loss_rel_diff"] < 1e-3  # same masks, same bf16
    assert r["peer_tiny_train_ours_flops"] < r["peer_tiny_train_peer_flops"]  # the sparse head does less work
    assert r["train_fraction_of_peak"] < 1.5 and r["preprocess_fraction_of_raw"] < 1.5  # a "limit" we beat is a bug
    for side in ("peer", "ours"):
        profile = r[f"peer_tiny_profile_{side}"]
        assert {"embedding", "attention", "FFN", "LM head", "optimizer", "data/collate"} <= set(profile["phases_ms"])
        assert abs(sum(profile["phases_ms"].values()) - profile["step_ms"]) < 1  # "other" is the rest of the step
    assert r["main_job_perplexity_after"] > 1 and r["main_job_model"] == "course-base"
    assert set(r["goals_met"]) == {"peer_train_speedup", "peer_eval_speedup", "train_fraction_of_peak",
                                   "preprocess_fraction_of_raw", "main_job_wall_s"}
    assert "| measurement | peer / limit | ours | ratio |" in stdout and "Issue 16's goals met" in stdout


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


def test_gpu_script_smoke_runs_every_part_and_writes_its_table(tmp_path):
    "bench/gpu.py's code paths on the CPU at tiny sizes (there the `graphed` variant runs its step without a graph)."
    out = tmp_path/"gpu.json"
    subprocess.run([sys.executable, "-m", "bench.gpu", "--smoke", "--json", str(out)], cwd=ROOT, check=True,
                   capture_output=True, text=True)
    r = json.loads(out.read_text())
    assert [x["variant"] for x in r["batch8"]] == ["seed", "ours", "graphed"]
    assert all(x["samples_per_s"] > 0 and 8 < x["loss"] < 10 for x in r["batch8"])  # ln(8192) = 9.0 at the start
    assert [x["batch_size"] for x in r["largest"]] == [16, 32]  # doubling up to the smoke run's limit
    assert r["largest_graphed"]["batch_size"] == 32
    jobs = {j["job"]: j for j in r["seed_job"]}
    assert set(jobs) == {"defaults", "no-eval-no-save"}
    assert all(j["n_train_blocks"] > 0 and j["wall_s"] > 0 and j["learning_rate"] == 2e-5 and j["batch_size"] == 8
               for j in jobs.values())  # the reference preset: the seed's settings
    from bench.common import write_readme_section
    readme = tmp_path/"README.md"
    readme.write_text("head\n<!-- gpu:start -->\nold\n<!-- gpu:end -->\ntail\n")
    from bench.gpu import gpu_table
    write_readme_section("gpu", gpu_table(r), readme)
    text = readme.read_text()
    assert text.startswith("head\n<!-- gpu:start -->\n") and text.endswith("<!-- gpu:end -->\ntail\n") and "old" not in text
    assert "| ours | 32 |" in text and "| defaults --max-steps 3 |" in text
