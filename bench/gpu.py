"""GPU training throughput and MFU of a DistilRoBERTa-shaped MLM at block 128. NOT YET MEASURED: on an H200
(2026-11-30, torch 2.11, transformers 5.24) all three variants together did not finish within 80 s per batch size:
the `+compile` variant compiles for a long time (a graph break in RobertaEmbeddings.forward). Each variant now prints
and saves its figures as soon as it finishes; give compile its own time or leave it out with --variants.

    python -m bench.gpu --steps 30 --batch-size 64 --json /tmp/gpu.json
    python -m bench.gpu --variants seed,bf16+sdpa+fused --batch-size 256

Variants, each from the same weights on the same masked batches (random ids; speed only):
`seed` = fp32, eager attention, full-vocabulary logits, plain AdamW (what the seed's Trainer does on a GPU);
`bf16+sdpa+fused` = bf16 autocast, PyTorch SDPA attention, fused AdamW, sparse LM head (`sparse_mlm_loss`);
`... +compile` = the same under `torch.compile`.
MFU = achieved model FLOP/s / the GPU's dense bf16 peak. Model FLOPs per trained token = 6 x the forward
multiply-adds of `mlm_course.model.flops_per_token` (forward 2 FLOPs per multiply-add, backward twice the forward),
LM head counted on the masked positions only (the work that is needed), for every variant alike."""
from __future__ import annotations
import argparse, copy, json, time
from pathlib import Path
import torch
from transformers import RobertaForMaskedLM
from mlm_course.model import flops_per_token
from mlm_course.sparse import sparse_mlm_loss
from .common import BLOCK_SIZE, distilroberta_config

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0}  # dense, SXM where it matters

VARIANTS = ("seed", "bf16+sdpa+fused", "bf16+sdpa+fused+compile")

def masked_batch(batch_size:int, vocab_size:int, mask_id:int=4, p:float=0.15, seed:int=0) -> dict:
    "A batch of random token ids with ~`p` of the positions masked (labels elsewhere -100)."
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch_size, BLOCK_SIZE), generator=g)
    scored = torch.rand(ids.shape, generator=g) < p
    return dict(input_ids=torch.where(scored, mask_id, ids), attention_mask=torch.ones_like(ids),
                labels=torch.where(scored, ids, -100))

def full_logits_loss(model, batch) -> torch.Tensor:
    "The seed's loss: logits at every position, cross-entropy on the masked ones."
    return model(**batch).loss

def train_step_fn(model, optimizer, loss_fn, autocast:bool):
    def step(batch):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast): loss = loss_fn(model, batch)
        loss.backward(); optimizer.step(); optimizer.zero_grad(set_to_none=True)
        return loss
    return step

def run_variant(name:str, initial, batch:dict, steps:int, warmup:int) -> dict:
    "Steps/s of one variant; CUDA-synchronised wall clock over `steps` steps after `warmup`."
    sparse = name != "seed"
    model = copy.deepcopy(initial)
    model.set_attn_implementation("sdpa" if sparse else "eager")
    model = model.cuda().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, fused=sparse)
    step = train_step_fn(model, optimizer, (lambda m, b: sparse_mlm_loss(m, b)) if sparse else full_logits_loss, sparse)
    if name.endswith("+compile"): step = torch.compile(step)
    batch = {k: v.cuda() for k, v in batch.items()}
    for _ in range(warmup): step(batch)
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps): loss = step(batch)
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start)/steps
    return dict(step_s=seconds, loss=float(loss), peak_gpu_mib=torch.cuda.max_memory_allocated()/2**20)

def mfu(step_s:float, batch_size:int, config, mask_share:float=0.15) -> float|None:
    "Model FLOPs utilisation of one training step, or None if the GPU's peak is not in `PEAK_BF16_TFLOPS`."
    macs = flops_per_token(config, BLOCK_SIZE)
    flops = 6*(macs["encoder"] + mask_share*macs["lm_head"])*batch_size*BLOCK_SIZE
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    return flops/step_s/(peak*1e12) if peak else None

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30); p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64); p.add_argument("--json")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    a = p.parse_args(argv)
    if not torch.cuda.is_available(): raise SystemExit("bench/gpu.py needs a CUDA GPU")
    torch.manual_seed(0)
    config = distilroberta_config()
    initial, batch = RobertaForMaskedLM(config), masked_batch(a.batch_size, config.vocab_size)
    results = {}
    for name in a.variants.split(","):  # each variant's figures are printed and saved as soon as it finishes
        r = results[name] = run_variant(name, initial, batch, a.steps, a.warmup)
        r.update(samples_per_s=a.batch_size/r["step_s"], mfu=mfu(r["step_s"], a.batch_size, config),
                 speedup=results["seed"]["step_s"]/r["step_s"] if "seed" in results else None)
        print(f"{name:26s} {r['samples_per_s']:9.1f} samples/s  x{r['speedup'] or float('nan'):.2f}  "
              f"MFU {r['mfu'] or float('nan'):.1%}  peak {r['peak_gpu_mib']:.0f} MiB  loss {r['loss']:.3f}", flush=True)
        if a.json: Path(a.json).write_text(json.dumps(dict(device=torch.cuda.get_device_name(), **results), indent=1))

if __name__ == "__main__": main()
