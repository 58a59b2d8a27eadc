"""Shared pieces of the benchmark: the data, tokenizer, models and blocks, the `mlm-course` job, timing (per call and
per training step), the losses, and peak-memory measurement. Imports nothing else of bench/: every module above it
(seed_pipeline, limits, phases, peer, recipe, gpu) imports downward only."""
from __future__ import annotations
import ctypes, gc, gzip, json, os, re, resource, shutil, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path
import torch
from datasets import Dataset, DatasetDict
from transformers import AutoTokenizer, RobertaForMaskedLM, Trainer
from mlm_course.chunking import group_texts
from mlm_course.scaling import distilroberta_config
from mlm_course.tokenizer import offline_tokenizer
from mlm_course.training import StepTimer
from mlm_course.utils import DataError, shared_data_dir

ELI5_DEV_FILE = "eli5_category/eli5-category-test.json.gz"  # development split; validation-2 is reserved
BLOCK_SIZE = 128
MASK_SEED = 1234  # collator seed shared by both sides: identical masks, so losses can be compared step by step

def eli5_questions(n:int=5000) -> list[dict]:
    "The first `n` questions of the ELI5-Category test release, as the JSON records the hub's builder reads."
    data = shared_data_dir()
    if data is None or not (data/ELI5_DEV_FILE).exists():
        raise DataError("The benchmark needs the ELI5-Category test file in the shared data folder",
                        "run it from a checkout beside ../shared/data, or set MLM_COURSE_DATA")
    with gzip.open(data/ELI5_DEV_FILE, "rt") as f: return json.load(f)[:n]

def eli5_like_seed(questions:list[dict], test_size:float=0.2, seed:int=42) -> DatasetDict:
    "What the seed holds before tokenizing: the questions split train/test, nested fields flattened (`answers.text`)."
    split = Dataset.from_list(questions).train_test_split(test_size=test_size, seed=seed)
    return split.flatten()

def answer_texts(questions:list[dict]) -> list[str]:
    "One document per question: its answers joined by spaces, as the seed's tokenizing function builds them."
    return [" ".join(q["answers"]["text"]) for q in questions]

def bench_tokenizer():
    """The offline byte-level BPE tokenizer (the hub's DistilRoBERTa tokenizer needs the network); same on both sides.
    `bench/run` resolves it once and hands its directory to the child processes in `$MLM_BENCH_TOKENIZER`."""
    path = os.environ.get("MLM_BENCH_TOKENIZER")
    return AutoTokenizer.from_pretrained(path) if path else offline_tokenizer()

TINY_SHAPE = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)  # for smoke runs

def make_model(kind:str, tokenizer=None, **overrides):
    """A freshly initialised model (seeded): DistilRoBERTa's shape (`mlm_course.scaling.distilroberta_config`, with
    `overrides`), the course's built-in one, or a tiny one (`TINY_SHAPE`, the tokenizer's vocabulary) for tests."""
    torch.manual_seed(0)
    if kind == "distilroberta": return RobertaForMaskedLM(distilroberta_config(**overrides))
    if kind == "builtin":
        from mlm_course.model import load_model
        return load_model("builtin", tokenizer=tokenizer)
    if kind == "tiny": return RobertaForMaskedLM(distilroberta_config(vocab_size=len(tokenizer), **TINY_SHAPE))
    raise ValueError(f"unknown model kind {kind!r}")

def bench_blocks(tokenizer, n_blocks:int, skip_blocks:int=0) -> Dataset:
    "`n_blocks` blocks of ELI5 answers (after the first `skip_blocks`), grouped by `group_texts` (the seed's blocks)."
    tokens_needed, texts = (skip_blocks + n_blocks + 1)*BLOCK_SIZE, []
    for text in answer_texts(eli5_questions(5000)):  # ~4 characters per token: 6 is plenty of margin
        texts.append(text)
        if sum(map(len, texts)) > 6*tokens_needed: break
    blocks = group_texts(dict(tokenizer(texts)), BLOCK_SIZE)
    if len(blocks["input_ids"]) < skip_blocks + n_blocks: raise ValueError("not enough ELI5 text for the blocks asked")
    return Dataset.from_dict({k: v[skip_blocks:skip_blocks + n_blocks] for k, v in blocks.items()})

def record_losses(trainer:Trainer) -> Trainer:
    """`trainer`, also keeping every training loss at full precision (`trainer.losses`; the logged ones are rounded)
    and the masked tokens of each batch (`trainer.scored`: the sparse head's rows)."""
    trainer.losses, trainer.scored, compute = [], [], trainer.compute_loss
    def compute_loss(model, inputs, *args, **kwargs):
        scored = int((inputs["labels"] != -100).sum())
        out = compute(model, inputs, *args, **kwargs)
        if model.training:
            trainer.losses.append(float((out[0] if isinstance(out, tuple) else out).detach())); trainer.scored.append(scored)
        return out
    trainer.compute_loss = compute_loss
    return trainer

class StepClock(StepTimer):
    """`mlm_course.training.StepTimer` (wall clock at the end of every optimizer step: data loading, forward, backward
    and update included), with the steps' durations."""
    def steps(self, warmup_steps:int) -> tuple[list[float], int]:
        "The duration of every step after the first `warmup_steps`, and the index of the fastest."
        steps = [b - a for a, b in zip(self.times[warmup_steps - 1:], self.times[warmup_steps:])]
        return steps, min(range(len(steps)), key=steps.__getitem__)

def run_job(output_dir:Path, *args:str) -> tuple[float, dict]:
    """`mlm-course run --output-dir OUTPUT_DIR --quiet ARGS` through the installed console script, as a user runs it
    (this interpreter's, else the first on `PATH`): its wall time from start to exit, and its `report.json`."""
    script = Path(sys.executable).parent/"mlm-course"
    script = str(script) if script.exists() else shutil.which("mlm-course") or "mlm-course"
    seconds, _ = timed(lambda: subprocess.run([script, "run", "--output-dir", str(output_dir), "--quiet", *args],
                                              check=True, stdout=subprocess.DEVNULL))
    return seconds, json.loads((Path(output_dir)/"report.json").read_text())

def _status_kib(field:str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))

def _malloc_trim():
    try: ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError): pass

@contextmanager
def peak_memory():
    """Peak resident memory of this process during the block, in MiB, plus the largest peak of any child process
    (e.g. `datasets` workers). Linux: the kernel's high-water mark `VmHWM`, reset on entry via /proc/self/clear_refs."""
    result = {}
    gc.collect()
    _malloc_trim()  # hand memory freed by earlier phases back to the OS, so the growth measured here is this block's
    start, children_before = _status_kib("VmRSS"), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try: Path("/proc/self/clear_refs").write_text("5"); resettable = True
    except OSError: resettable = False
    yield result
    peak = _status_kib("VmHWM") if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # a maximum since process start:
    children = children if children > children_before else 0             # only a new maximum belongs to this block
    result.update(rss_start_mib=round(start/1024, 1), peak_rss_mib=round(peak/1024, 1),
                  peak_rss_delta_mib=round((peak - start)/1024, 1),
                  peak_rss_children_mib=round(children/1024, 1) if children else None,
                  peak_rss_method="VmHWM reset at phase start" if resettable else "ru_maxrss since process start")

def timed(fn) -> tuple[float, object]:
    "Wall-clock seconds of `fn()`, and its result."
    start = time.perf_counter(); result = fn()
    return time.perf_counter() - start, result

def alternate(runs:dict, rounds:int, warmup:bool=False) -> dict[str, list]:
    """Call every side's function `rounds` times, the sides taking turns (seed, ours, ours, seed, ...), so that load
    from other processes on a shared machine falls on both sides alike. Per side, the list of results. `warmup`: call
    each side once first and drop the result (caches and thread pools then as warm for every side)."""
    results, sides = {side: [] for side in runs}, list(runs)
    if warmup:
        for side in sides: runs[side]()
    for r in range(rounds):
        for side in (sides if r % 2 == 0 else sides[::-1]): results[side].append(runs[side]())
    return results

def write_readme_section(name:str, # The section's markers: `<!-- name:start -->` and `<!-- name:end -->`
                         block:str, # What goes between them
                         path:Path=Path(__file__).parent/"README.md"):
    "Replace what lies between a pair of markers in bench/README.md (a run's tables) with `block`."
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    head, rest = path.read_text().split(start)
    path.write_text(f"{head}{start}\n{block}\n{end}{rest.split(end)[1]}")
