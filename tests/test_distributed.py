"""Data parallelism (lesson 09): `torchrun` with 2 CPU processes (gloo; DDP, and FSDP with each rank holding half of
every weight) learns what 1 process learns, and only rank 0 writes the output directory.

Both runs train the same tiny model (2 layers, hidden 64, dropout off) for 30 steps with the same global batch: 8
blocks per step, as 1 process x 8 or 2 processes x 4. Same data order: the Trainer's (Accelerate's) sampler draws one
seeded permutation and deals the global batch to the ranks, so a step sees the same 8 blocks in both runs. Same
masks: `--static-masking` masks each block once from a hash of its content (`fixed_eval_masks`), not from a
per-process random stream, which would differ between 1 and 2 processes. What remains is arithmetic: each rank
averages its loss over its own masked tokens and DDP averages the two, where one process averages over all of them,
and float sums run in another order. Tolerance: final validation loss (fixed masks) and every logged training loss
within 2% (relative) of the single-process run; measured differences are below 0.5%.
"""
import json, os, subprocess, sys, textwrap
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = 30
TINY = "hidden_size=64,num_hidden_layers=2,num_attention_heads=2,intermediate_size=128"  # the builtin model: no dropout
REL_TOLERANCE = 0.02

# Runs `mlm-course run` while recording, through Python's audit hooks, every file or directory this
# process creates, writes, renames or removes under the output directory; saved per rank next to it.
RECORDER = textwrap.dedent("""
    import json, os, sys
    out, argv = os.path.realpath(sys.argv[1]), sys.argv[2:]
    touched = set()
    def inside(p):
        try: p = os.path.realpath(os.fsdecode(p))
        except TypeError: return None
        return os.path.relpath(p, out) if p == out or p.startswith(out + os.sep) else None
    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (mode and any(c in mode for c in "wax+")) or (mode is None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writes and inside(path) is not None: touched.add(inside(path))
        elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.replace", "shutil.rmtree", "os.truncate"):
            for p in args[:2]:
                if isinstance(p, (str, bytes, os.PathLike)) and inside(p) is not None: touched.add(inside(p))
    sys.addaudithook(hook)
    from mlm_course.cli import main  # the command line: `mlm-course run --output-dir out ...`
    assert main(["run", "--output-dir", out, *argv]) == 0
    rank = os.environ.get("RANK", "0")
    with open(out + f".writes-rank{rank}.json", "w") as f: json.dump(sorted(touched), f)
""")


def launch(tmp_path, name, nproc, args):
    "Run `mlm-course run` with `nproc` processes (torchrun when > 1), recording each rank's writes."
    out = tmp_path/name
    script = tmp_path/"record_writes.py"
    script.write_text(RECORDER)
    launcher = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                    "--nproc_per_node", str(nproc)]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    res = subprocess.run([*launcher, str(script), str(out), *args], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    writes = {int(p.name.split("rank")[1].split(".")[0]): json.loads(p.read_text())
              for p in tmp_path.glob(f"{name}.writes-rank*.json")}
    return writes, out, res.stdout


def run(tmp_path, name, nproc, per_device_batch_size, *extra):
    "Train with `mlm-course run`; the run's report.json and per-rank write records."
    args = ["--model", "builtin", "--config-overrides", TINY, "--max-steps", str(STEPS), "--batch-size",
            str(per_device_batch_size), "--block-size", "64", "--max-train-samples", "600", "--learning-rate", "1e-3",
            "--static-masking", "--logging-steps", "1", "--mask-draws", "1", "--quiet", *extra]
    writes, out, stdout = launch(tmp_path, name, nproc, args)
    return json.loads((out/"report.json").read_text()), writes, out, stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    return dict(one=run(tmp, "one", 1, 8), two=run(tmp, "two", 2, 4),
                fsdp=run(tmp, "fsdp", 2, 4, "--fsdp", "full_shard auto_wrap"))


def test_two_processes_learn_what_one_process_learns(runs):
    (one, *_), (two, *_) = runs["one"], runs["two"]
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["global_batch_size"] == two["global_batch_size"] == 8
    assert len(one["losses"]) == len(two["losses"]) == STEPS
    assert one["eval_loss_after"] < 0.95*one["eval_loss_before"]  # it learns
    # the same model at the end: loss on the same fixed validation masks
    a, b = one["eval_loss_after"], two["eval_loss_after"]
    assert abs(a - b) <= REL_TOLERANCE*a, (a, b)
    assert set(one) == set(two)  # the same report fields
    # the same path there: the logged training loss of every step
    for step, (a, b) in enumerate(zip(one["losses"], two["losses"])):
        assert abs(a - b) <= REL_TOLERANCE*a, f"step {step}: 1 process {a:.4f}, 2 processes {b:.4f}"


def test_fsdp_learns_what_one_process_learns_and_scores_the_full_model(runs):
    """FSDP (`--fsdp "full_shard auto_wrap"`, each rank holding half of every weight) under torchrun: the same losses
    as 1 process within the DDP tolerance; the scores after training and the fill-mask answers come from the full
    weights (the saved model gives the same answers as the report)."""
    from mlm_course.inference import fill_mask, short_answers
    from mlm_course.model import load_model
    from mlm_course.tokenizer import load_tokenizer
    (one, *_), (fsdp, _, out, _) = runs["one"], runs["fsdp"]
    assert fsdp["world_size"] == 2 and len(fsdp["losses"]) == STEPS
    a, b = one["eval_loss_after"], fsdp["eval_loss_after"]
    assert abs(a - b) <= REL_TOLERANCE*a, (a, b)
    for step, (a, b) in enumerate(zip(one["losses"], fsdp["losses"])):
        assert abs(a - b) <= REL_TOLERANCE*a, f"step {step}: 1 process {a:.4f}, FSDP {b:.4f}"
    saved, tok = load_model(str(out)), load_tokenizer(str(out))
    texts = [f["text"] for f in fsdp["fill_mask"]]
    for reported, again in zip(fsdp["fill_mask"], map(short_answers, fill_mask(saved, tok, texts))):
        assert [w for w, _ in reported["after"]] == [w for w, _ in again], (reported, again)
        assert all(abs(s - t) < 0.01 for (_, s), (_, t) in zip(reported["after"], again))


def test_deepspeed_is_refused_unless_installed(tmp_path, capsys):
    import importlib.util
    from mlm_course.cli import main
    if importlib.util.find_spec("deepspeed"): pytest.skip("deepspeed is installed here")
    config = tmp_path/"ds.json"; config.write_text("{}")
    assert main(["run", "--output-dir", str(tmp_path/"out"), "--deepspeed", str(config)]) == 2
    assert "pip install deepspeed" in capsys.readouterr().err and not (tmp_path/"out").exists()


def test_only_rank_0_writes_the_output_directory(runs):
    """Under torchrun, rank 0 prepares the output directory while rank 1 waits (else it would find rank 0's files and
    refuse them as another run's), both train, only rank 0 writes results and one report. Rank 1 only saves its own
    random-number state into the Trainer's checkpoints (`rng_state_1.pth`, in a checkpoint folder it may create):
    the Trainer needs it to resume a multi-process run exactly."""
    import re
    _, writes, out, stdout = runs["two"]
    assert set(writes) == {0, 1}, "each rank must leave its record"
    own_state = re.compile(r"checkpoints/checkpoint-\d+(/rng_state_1\.pth)?")
    assert all(own_state.fullmatch(p) for p in writes[1]), f"rank 1 wrote into the output directory: {writes[1]}"
    assert list((out/"checkpoints").glob("checkpoint-*/rng_state_1.pth")), "rank 1's state is in the checkpoint"
    assert {"report.json", "config.json", "loss_curve.png", "README.md"} <= set(writes[0])
    assert (out/"model.safetensors").is_file()
    assert stdout.count("  perplexity ") == 1  # one process prints the summary
