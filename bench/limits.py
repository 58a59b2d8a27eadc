"""This machine's limits, and how close we come: the CPU's peak matrix-multiply rate (fp32, bf16), the FLOPs a
training step really does (counted from the shapes), the raw Rust tokenizer's speed, and the main job's wall time."""
from __future__ import annotations
import os, tempfile
from pathlib import Path
import datasets, torch
from datasets import Dataset, DatasetDict
from mlm_course.chunking import make_blocks
from mlm_course.model import flops_per_token
from .common import BLOCK_SIZE, alternate, answer_texts, bench_tokenizer, eli5_questions, run_job, timed

def sync(device:str):
    "Wait for the GPU's queued work (nothing to wait for on the CPU), so that a wall clock times it."
    if device == "cuda": torch.cuda.synchronize()

def peak_matmul(sizes:tuple=(2048, 3072, 4096), rounds:int=5, device:str="cpu") -> dict:
    """The best FLOP/s of a large square `torch.matmul`, per dtype, over `sizes` and `rounds` (all of torch's threads;
    on a GPU each product is waited for)."""
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        name, best = str(dtype).removeprefix("torch."), {}
        for n in sizes:
            a, b = torch.randn(n, n, device=device).to(dtype), torch.randn(n, n, device=device).to(dtype)
            torch.matmul(a, b); sync(device)  # warm-up: oneDNN / cuBLAS picks and caches its kernel
            seconds = min(timed(lambda: (torch.matmul(a, b), sync(device)))[0] for _ in range(rounds))
            best[n] = 2*n**3/seconds
        out.update({f"peak_matmul_{name}_flops": max(best.values()),
                    f"peak_matmul_{name}_by_size": {str(n): f for n, f in best.items()}})
    return dict(out, peak_matmul_threads=torch.get_num_threads())

def train_step_flops(config, batch_size:int, scored:int, sparse:bool=True, block:int=BLOCK_SIZE) -> float:
    """Matrix-multiply FLOPs of one training step (2 per multiply-add; backward = 2x forward), from lesson 04's
    `flops_per_token` (encoder layers: projections, attention scores and context, FFN; the LM head). Sparse (ours):
    the last layer's keys and values at every position, its queries, attention, output and FFN at the `scored` rows
    only, and the LM head at those rows. Embedding lookups, norms, softmax and activations are not counted."""
    per_token, h, n = flops_per_token(config, block), config.hidden_size, config.num_hidden_layers
    tokens, layer = batch_size*block, per_token["encoder"] // n
    if not sparse: return 3*2*tokens*(per_token["encoder"] + per_token["lm_head"])
    last = tokens*2*h*h + scored*(layer - 2*h*h)  # keys and values everywhere, the rest at the scored rows
    return 3*2*((n - 1)*tokens*layer + last + scored*per_token["lm_head"])

# ---------------------------------------------------------------- preprocessing against the raw Rust tokenizer
def measure_raw_tokenizer(n_examples:int=5000, rounds:int=3) -> dict:
    """The Rust batch encoder alone (`encode_batch_fast`, no `datasets`, nothing else) against our `make_blocks` on
    the same joined ELI5 answers; the fastest round of each, taking turns, so each side gets the same number of draws.
    `encode_batch` (which also computes offsets: more work) is timed for reference, not in the ratio: the faster of
    two encoders would be the best of twice as many rounds. `TOKENIZERS_PARALLELISM` is a fresh process's default
    (true): both use every core."""
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    datasets.disable_caching(); datasets.disable_progress_bars()  # a cached `map` would time a file read
    tokenizer, texts = bench_tokenizer(), answer_texts(eli5_questions(n_examples))
    docs, backend = DatasetDict(train=Dataset.from_dict({"text": texts})), tokenizer.backend_tokenizer
    runs = alternate({"encode_batch": lambda: timed(lambda: backend.encode_batch(texts))[0],
                      "encode_batch_fast": lambda: timed(lambda: backend.encode_batch_fast(texts))[0],
                      "make_blocks": lambda: timed(lambda: make_blocks(docs, tokenizer, block_size=BLOCK_SIZE))[0]},
                     rounds, warmup=True)  # the BPE model's word cache then as warm for every side
    best = {k: min(v) for k, v in runs.items()}
    datasets.enable_caching()
    return dict(raw_tokenizer_examples=n_examples, raw_tokens=sum(map(len, backend.encode_batch_fast(texts))),
                **{f"raw_{k}_s": v for k, v in best.items()}, **{f"raw_{k}_rounds_s": v for k, v in runs.items()},
                preprocess_fraction_of_raw=best["encode_batch_fast"]/best["make_blocks"])

# ---------------------------------------------------------------- the main job, as a user runs it
def measure_main_job(extra:tuple=()) -> dict:
    "`mlm-course run --output-dir TMP --quiet` with its defaults (course-base on the built-in corpus): wall time, scores."
    with tempfile.TemporaryDirectory() as tmp: wall, report = run_job(Path(tmp)/"run", *extra)
    keys = ("model", "train_runtime_s", "perplexity_before", "perplexity_after", "bf16", "n_train_blocks")
    return dict(main_job_wall_s=wall, main_job_command=" ".join(["mlm-course run --output-dir TMP --quiet", *extra]),
                **{f"main_job_{k}": report.get(k) for k in keys})
