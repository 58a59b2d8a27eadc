"""The GPU rows of issue 16, in one run: DistilRoBERTa-shaped masked-LM training on one GPU.

1. **Throughput** at batch 8 and at the largest batch that fits (doubling until the GPU runs out of memory):
   samples/s, MFU and peak GPU memory of each variant, from the same weights on the same masked batches
   (random token ids: speed only). `seed` = fp32, eager attention, logits at every position, AdamW (the seed's
   Trainer on a GPU); `ours` = bf16 autocast, SDPA attention, fused AdamW, the LM head on masked positions only
   (`mlm_course.sparse.sparse_mlm_loss`); `graphed` = bf16, SDPA, fused AdamW and the whole step (forward, backward,
   optimizer) captured once in a CUDA graph and replayed: no launch overhead, which dominates at batch 8. A graph
   needs static shapes, so `graphed` scores every position (the sparse head's row count changes with each batch).
2. **The seed's whole job** through `mlm-course run` (the console script; bench/gpu-run installs it): a randomly
   initialised DistilRoBERTa-shaped model with the offline tokenizer, the first 5,000 ELI5-Category questions of the
   development release (answers joined, 80/20 split, blocks of 128, 15% masks, lr 2e-5, 3 epochs, batch 8, weight
   decay 0.01): wall time and perplexity, once with the defaults and once without the per-epoch evaluations and
   checkpoints (the same training).

MFU = the FLOPs a step needs / step time / the GPU's dense bf16 peak (from its data sheet; the measured peak of a
large `torch.matmul` is reported beside it). The FLOPs are those the CPU rows count (`bench.limits.train_step_flops`):
the LM head and the last layer's queries, attention and FFN on the 15% masked positions only, the same for every
variant.

    python -m bench.gpu --json /tmp/gpu.json        # on the GPU (see bench/gpu-run for the device machine)
    python -m bench.gpu --smoke                     # a CPU check of the code paths (tests/test_bench.py)
    python -m bench.gpu --from-json gpu.json --readme   # write a saved run's table into bench/README.md"""
from __future__ import annotations
import argparse, copy, json, tempfile, time
from pathlib import Path
import torch
from mlm_course.sparse import sparse_mlm_loss
from mlm_course.tokenizer import offline_tokenizer
from .common import BLOCK_SIZE, TINY_SHAPE, answer_texts, eli5_questions, make_model, run_job, write_readme_section
from .limits import peak_matmul, sync, train_step_flops

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0}  # dense, SXM where it matters
VARIANTS = ("seed", "ours", "graphed")
SMOKE_SHAPE = dict(vocab_size=8192, **TINY_SHAPE)

def masked_batch(batch_size:int, vocab_size:int, mask_id:int=4, p:float=0.15, seed:int=0) -> dict:
    "A batch of random token ids with ~`p` of the positions masked (labels elsewhere -100)."
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch_size, BLOCK_SIZE), generator=g)
    scored = torch.rand(ids.shape, generator=g) < p
    return dict(input_ids=torch.where(scored, mask_id, ids), attention_mask=torch.ones_like(ids),
                labels=torch.where(scored, ids, -100))

def make_step(name:str, model, device:str):
    "One training step of variant `name` as a function of a batch (the optimizer lives in the closure)."
    bf16, cuda = name != "seed", device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, fused=bf16 and cuda,
                                  capturable=name == "graphed" and cuda)
    def graph_loss(b):  # no padding here: without a mask, transformers skips its host-side `.all()` check of one,
        return model(input_ids=b["input_ids"], labels=b["labels"]).loss  # which a CUDA graph capture does not allow
    loss_of = {"seed": lambda b: model(**b).loss, "ours": lambda b: sparse_mlm_loss(model, b), "graphed": graph_loss}[name]
    def step(batch):  # grads set to None first: in a graph capture, backward then allocates them from its pool
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16, cache_enabled=name != "graphed"):
            loss = loss_of(batch)
        loss.backward(); optimizer.step()
        return loss
    return graphed(step) if name == "graphed" and cuda else step  # the CPU smoke run: uncaptured

def graphed(step):
    "`step` captured in a CUDA graph on its first call (after warm-up steps on a side stream); replayed after."
    static, graph, out = {}, torch.cuda.CUDAGraph(), {}
    def replay(batch):
        if not static:
            static.update({k: v.clone() for k, v in batch.items()})
            side = torch.cuda.Stream(); side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3): step(static)
            torch.cuda.current_stream().wait_stream(side)
            with torch.cuda.graph(graph): out["loss"] = step(static)
        for k, v in batch.items(): static[k].copy_(v)
        graph.replay()
        return out["loss"]
    return replay

def peak_tflops(device:str) -> float|None:
    "The GPU's dense bf16 peak from its data sheet (`PEAK_BF16_TFLOPS`), or None."
    if device != "cuda": return None
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in torch.cuda.get_device_name()), None)

def run_variant(name:str, initial, batch_size:int, steps:int, warmup:int, device:str) -> dict:
    "Samples/s, MFU and peak memory of variant `name` at `batch_size`; synchronised wall clock over `steps` steps."
    model = copy.deepcopy(initial)
    model.set_attn_implementation("eager" if name == "seed" else "sdpa")
    model = model.to(device).train()
    step = make_step(name, model, device)
    batch = {k: v.to(device) for k, v in masked_batch(batch_size, model.config.vocab_size).items()}
    for _ in range(warmup): step(batch)
    sync(device)
    if device == "cuda": torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps): loss = step(batch)
    sync(device)
    seconds = (time.perf_counter() - start)/steps
    peak, flops = peak_tflops(device), train_step_flops(model.config, batch_size, scored=round(0.15*batch_size*BLOCK_SIZE))
    return dict(variant=name, batch_size=batch_size, step_s=seconds, samples_per_s=batch_size/seconds,
                loss=float(loss), mfu=flops/seconds/(peak*1e12) if peak else None,
                peak_gpu_mib=torch.cuda.max_memory_allocated()/2**20 if device == "cuda" else None)

def largest_batch(initial, steps:int, warmup:int, device:str, start:int=16, limit:int=4096) -> list[dict]:
    "`ours` at batch 16, 32, ... until the GPU runs out of memory (or `limit`): one row per batch size that fit."
    rows, batch_size = [], start
    while batch_size <= limit:
        try: rows.append(run_variant("ours", initial, batch_size, steps, warmup, device))
        except torch.OutOfMemoryError: break
        finally:
            if device == "cuda": torch.cuda.empty_cache()
        print(json.dumps(rows[-1]), flush=True)
        batch_size *= 2
    return rows

def seed_job_inputs(folder:Path, n_questions:int, smoke:bool=False) -> tuple[Path, Path]:
    "The seed's job's inputs: a random DistilRoBERTa-shaped model with the offline tokenizer, and its documents."
    tokenizer = offline_tokenizer()
    make_model("distilroberta", **(SMOKE_SHAPE if smoke else {})).save_pretrained(folder/"model")
    tokenizer.save_pretrained(folder/"model")
    docs = folder/"eli5.jsonl"
    docs.write_text("".join(json.dumps(dict(text=t)) + "\n" for t in answer_texts(eli5_questions(n_questions))))
    return folder/"model", docs

def seed_job(folder:Path, model:Path, docs:Path, name:str, extra:list) -> dict:
    "`mlm-course run` on the seed's inputs (the reference preset's settings are its defaults for a model directory)."
    wall, r = run_job(folder/name, "--model", str(model), "--train-file", str(docs), *extra)
    keep = ("n_train_blocks", "epochs", "batch_size", "learning_rate", "bf16", "train_runtime_s", "train_samples_per_second",
            "perplexity_before", "perplexity_after")
    return dict(job=name, extra=" ".join(extra), wall_s=wall, **{k: r.get(k) for k in keep})

JOB_GOAL_S = 30  # issue 16: the seed's whole job on an H200 (the reference took 292 s on a Colab GPU)

def gpu_table(r:dict) -> str:
    "The run as markdown: one row per variant and batch size, then the seed's whole job."
    pct = lambda x: f"{x:.1%}" if isinstance(x, float) else "—"
    rows = [*r.get("batch8", []), *r.get("largest", [])[-1:],
            *([r["largest_graphed"]] if isinstance(r.get("largest_graphed"), dict) else [])]
    lines = [f"{r['date']}, {r['device']}, torch {r['torch']}; bf16 peak {r['peak_bf16_tflops']} TFLOP/s (data sheet), "
             f"{r['measured_matmul_tflops']:.0f} measured (8192³ `torch.matmul`)", "",
             "| variant | batch | samples/s | step (ms) | MFU | peak GPU memory (MiB) |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {x['variant']} | {x['batch_size']} | {x['samples_per_s']:,.0f} | {x['step_s']*1e3:.1f} | {pct(x['mfu'])} | "
              f"{x['peak_gpu_mib'] or 0:,.0f} |" for x in rows]
    lines += ["", f"Largest batch that fit (`ours`): {r['largest'][-1]['batch_size'] if r.get('largest') else '—'}.", "",
              f"| the seed's whole job, `mlm-course run` | wall (s; goal {JOB_GOAL_S}) | training (s) | samples/s | "
              "perplexity before → after |", "|---|---:|---:|---:|---|"]
    lines += [f"| {j['job']} {j['extra']} | {j['wall_s']:.1f} | {j['train_runtime_s']} | {j['train_samples_per_second']} | "
              f"{j['perplexity_before']:.1f} → {j['perplexity_after']:.2f} |" for j in r.get("seed_job", [])]
    return "\n".join(lines)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20); p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--json", help="write the results here (rewritten after each part)")
    p.add_argument("--parts", default="throughput,largest,job", help="any of throughput, largest, job")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU: checks the code, measures nothing")
    p.add_argument("--from-json", metavar="FILE", help="measure nothing: print (with --readme: write) a saved run's table")
    p.add_argument("--readme", action="store_true", help="write the table into bench/README.md")
    a = p.parse_args(argv)
    if a.from_json:
        results = json.loads(Path(a.from_json).read_text())
        print(gpu_table(results))
        if a.readme: write_readme_section("gpu", gpu_table(results))
        return results
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not a.smoke: raise SystemExit("bench/gpu.py needs a CUDA GPU (or --smoke for a CPU check)")
    initial = make_model("distilroberta", **(SMOKE_SHAPE if a.smoke else {}))
    steps, warmup = (2, 1) if a.smoke else (a.steps, a.warmup)
    results = dict(device=torch.cuda.get_device_name() if device == "cuda" else "cpu (smoke)", torch=torch.__version__,
                   date=time.strftime("%Y-%m-%d %H:%M"), peak_bf16_tflops=peak_tflops(device),
                   measured_matmul_tflops=peak_matmul((256,) if a.smoke else (8192,), 10, device)[
                       "peak_matmul_bfloat16_flops"]/1e12)
    def save():
        print(json.dumps(results, indent=1), flush=True)
        if a.json: Path(a.json).write_text(json.dumps(results, indent=1))
    parts = a.parts.split(",")
    if "throughput" in parts:
        results["batch8"] = [run_variant(n, initial, 8, steps, warmup, device) for n in VARIANTS]; save()
    if "largest" in parts:
        rows = largest_batch(initial, steps, warmup, device, limit=32 if a.smoke else 4096)
        results["largest"] = rows
        if rows:
            try: results["largest_graphed"] = run_variant("graphed", initial, rows[-1]["batch_size"], steps, warmup, device)
            except torch.OutOfMemoryError: results["largest_graphed"] = "out of memory"
        save()
    if "job" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            model, docs = seed_job_inputs(Path(tmp), 40 if a.smoke else 5000, a.smoke)
            quick, results["seed_job"] = (["--max-steps", "3"] if a.smoke else []), []
            for name, extra in [("defaults", []), ("no-eval-no-save", ["--eval-strategy", "no", "--save-strategy", "no"])]:
                results["seed_job"].append(seed_job(Path(tmp), model, docs, name, quick + extra)); save()
    return results

if __name__ == "__main__": main()
