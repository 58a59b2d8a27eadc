"""A run killed mid-training (SIGKILL) resumes from its last checkpoint and ends with the same metrics as an
uninterrupted run with the same seed, from a stored corpus and from a stream (the Trainer skips the batches the
checkpoint has seen). report.json exists only once a run has completed."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest

TOLERANCE = 1e-6  # relative, on the final evaluation loss: a resumed run draws the same masks and restores weights, optimiser, scheduler and RNG


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    "80 documents of the built-in corpus as a local JSONL file: a few dozen training blocks."
    from mlm_course.data import builtin_corpus
    docs = builtin_corpus()["train"].select(range(80))["text"]
    path = tmp_path_factory.mktemp("data")/"docs.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in docs))
    return path


SOURCES = {"stored": ["--epochs", "3", "--max-train-samples", "96"],  # a checkpoint per epoch of 12 steps
           "streamed": ["--streaming", "--max-eval-samples", "15", "--max-steps", "24", "--save-strategy", "steps",
                        "--save-steps", "8"]}


@pytest.fixture(params=SOURCES)
def command(request):
    def command(out, corpus, *extra):
        exe = Path(sys.executable).parent/"mlm-course"
        return [str(exe), "run", "--output-dir", str(out), "--dataset", str(corpus), "--batch-size", "8", "--seed", "7",
                "--quiet", *SOURCES[request.param], *extra]
    return command


def test_killed_run_resumes_to_the_same_result(tmp_path, small_corpus, command):
    full = tmp_path/"full"
    subprocess.run(command(full, small_corpus), check=True, capture_output=True, timeout=600)
    expected = json.loads((full/"report.json").read_text())

    killed = tmp_path/"killed"
    proc = subprocess.Popen(command(killed, small_corpus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not list((killed/"checkpoints").glob("checkpoint-*/trainer_state.json")) and time.time() < deadline:
        assert proc.poll() is None, "the run ended before writing its first checkpoint"
        time.sleep(0.2)
    time.sleep(1.0)  # now past the first checkpoint
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert not (killed/"report.json").exists(), "a killed run must not look complete"
    assert not (killed/"model.safetensors").exists()

    refused = subprocess.run(command(killed, small_corpus), capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr

    subprocess.run(command(killed, small_corpus, "--resume"), check=True, capture_output=True, timeout=600)
    resumed = json.loads((killed/"report.json").read_text())
    assert resumed["eval_loss_after"] == pytest.approx(expected["eval_loss_after"], rel=TOLERANCE)
    assert resumed["perplexity_before"] == pytest.approx(expected["perplexity_before"], rel=1e-6)
    assert resumed["n_train_blocks"] == expected["n_train_blocks"]


SOAK_KILLS = int(os.environ.get("SOAK_KILLS", 0))  # SOAK_KILLS=20 pytest -s tests/test_resume.py -k soak (~11 min)


@pytest.mark.skipif(not SOAK_KILLS, reason="set SOAK_KILLS=20 to run it (about 11 minutes)")
def test_soak_kills_at_any_moment_then_resumes_to_the_same_result(tmp_path, small_corpus):
    """Kill one run SOAK_KILLS times, every other time the moment a checkpoint folder appears without its
    trainer_state.json (mid-write), else at a random moment (loading, scoring, training or saving); resume it with
    --resume each time; the run that finally completes ends with the uninterrupted run's metrics."""
    import random
    exe = Path(sys.executable).parent/"mlm-course"
    def command(out, *extra):  # a checkpoint every 2 of 120 steps: many writes to be killed in
        return [str(exe), "run", "--output-dir", str(out), "--dataset", str(small_corpus), "--batch-size", "8", "--seed", "7",
                "--quiet", "--max-train-samples", "96", "--epochs", "10", "--save-strategy", "steps", "--save-steps", "2",
                "--save-total-limit", "3", *extra]
    full = tmp_path/"full"
    subprocess.run(command(full), check=True, capture_output=True, timeout=900)
    expected = json.loads((full/"report.json").read_text())

    out, rng, mid_write = tmp_path/"soak", random.Random(0), 0
    for kill in range(SOAK_KILLS):
        proc = subprocess.Popen(command(out, *(["--resume"] if kill else [])), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        half_written = lambda: {p for p in (out/"checkpoints").glob("checkpoint-*") if not (p/"trainer_state.json").exists()}
        start, deadline, left_before = time.time(), time.time() + rng.uniform(3, 12), half_written()
        while proc.poll() is None and time.time() < start + 600:
            if (kill % 2 and half_written() - left_before) or (not kill % 2 and time.time() > deadline): break
            time.sleep(0.005)
        mid_write += bool(kill % 2 and proc.poll() is None)
        proc.send_signal(signal.SIGKILL); proc.wait()
        if (out/"report.json").exists(): break  # it finished before this kill: nothing left to interrupt
        # a kill while the result is written may leave model.safetensors without report.json: still a run to resume
    assert kill + 1 == SOAK_KILLS, f"the run completed after {kill + 1} of {SOAK_KILLS} kills: make it longer"
    subprocess.run(command(out, "--resume"), check=True, capture_output=True, timeout=900)
    resumed = json.loads((out/"report.json").read_text())
    print(f"{kill + 1} kills, {mid_write} of them while a checkpoint was being written; eval loss "
          f"{resumed['eval_loss_after']!r} resumed, {expected['eval_loss_after']!r} uninterrupted")
    assert resumed["eval_loss_after"] == pytest.approx(expected["eval_loss_after"], rel=TOLERANCE)
    assert resumed["perplexity_before"] == pytest.approx(expected["perplexity_before"], rel=1e-6)
