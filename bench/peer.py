"""The best-configured peer: the Hugging Face `Trainer` + `DataCollatorForLanguageModeling` with the fastest settings
the ecosystem offers on this machine (bf16 autocast, SDPA or eager attention, plain or fused AdamW, `torch.compile`
only if it helps), against ours built the way a user builds it (`mlm_training_args` + `make_trainer`) with the same settings.

`measure_peer` first probes every peer configuration once (`PROBE`), keeps the fastest, then times both sides in
alternating rounds like the rest of the benchmark, and profiles one step of each (`profile_step`)."""
from __future__ import annotations
import copy, tempfile, time
import torch
from transformers import DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments
from .common import StepClock, alternate, bench_blocks, bench_tokenizer, make_model, record_losses, timed
from .limits import train_step_flops

PROBE = [dict(attn_implementation=attn, optim=optim, torch_compile=compile)
         for attn, compile in (("sdpa", False), ("eager", False), ("sdpa", True))  # compile: SDPA only (minutes each)
         for optim in ("adamw_torch", "adamw_torch_fused")]
SIDES = ("peer", "ours")

def shared_settings(output_dir:str, batch_size:int, max_steps:int, attn_implementation:str, optim:str,
                    torch_compile:bool) -> dict:
    """What both sides get: the attention implementation, and `TrainingArguments` with the seed's lr and weight decay,
    bf16 autocast on the CPU, nothing saved."""
    return dict(attn_implementation=attn_implementation, output_dir=output_dir, learning_rate=2e-5, weight_decay=0.01,
                warmup_steps=0, max_steps=max_steps, per_device_train_batch_size=batch_size,
                per_device_eval_batch_size=batch_size, bf16=True, use_cpu=True, optim=optim, torch_compile=torch_compile,
                eval_strategy="no", save_strategy="no", report_to="none",
                logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0, dataloader_pin_memory=False, seed=42)

def _attention(model, settings:dict) -> dict:
    "Set the model's attention implementation from `settings`; the rest of them, for `TrainingArguments`."
    model.set_attn_implementation(settings["attn_implementation"])
    return {k: v for k, v in settings.items() if k != "attn_implementation"}

class SeededLikeOurs(DataCollatorForLanguageModeling):
    """`DataCollatorForLanguageModeling` drawing each batch's masks from a generator seeded as ours seeds it (the seed,
    epoch 0, the batch's tokens; `EpochMaskCollator`), so both sides train on the same masks."""
    def torch_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        from mlm_course.masking import block_seed
        self.generator = torch.Generator().manual_seed(block_seed(inputs, 42, 0))
        return super().torch_mask_tokens(inputs, special_tokens_mask, offset_mapping)

def peer_trainer(model, tokenizer, train, held_out, settings:dict) -> Trainer:
    "The ecosystem's way: `Trainer` (full-vocabulary logits) and `DataCollatorForLanguageModeling`."
    args = TrainingArguments(**_attention(model, settings))
    collator = SeededLikeOurs(tokenizer, mlm_probability=0.15)  # the parent's draws, from our seeds
    return record_losses(Trainer(model=model, args=args, train_dataset=train, eval_dataset=held_out,
                                 data_collator=collator, processing_class=tokenizer))

def ours_trainer(model, tokenizer, train, held_out, settings:dict) -> Trainer:
    "Ours as a user builds it: `mlm_training_args` (same settings) and `make_trainer` (sparse head, `mlm_collator`)."
    from mlm_course.training import make_trainer, mlm_training_args
    args = mlm_training_args(**_attention(model, settings))
    return record_losses(make_trainer(model, tokenizer, train, held_out, args))

MAKE = dict(peer=peer_trainer, ours=ours_trainer)

def train_steps(side:str, initial, tokenizer, train, settings:dict, warmup_steps:int) -> dict:
    "Train a copy of `initial`: every step's wall time after the warm-up, the losses, the masked tokens per step."
    clock, trainer = StepClock(), MAKE[side](copy.deepcopy(initial), tokenizer, train, None, settings)
    trainer.add_callback(clock); trainer.train()
    steps, fastest = clock.steps(warmup_steps)
    return dict(seconds=steps[fastest], steps_s=steps, losses=trainer.losses, scored=trainer.scored[warmup_steps + fastest])

def evaluate(side:str, initial, tokenizer, held_out, settings:dict) -> dict:
    "`Trainer.evaluate` on the held-out blocks (masked by each side's collator, from the same seeds)."
    trainer = MAKE[side](initial, tokenizer, None, held_out, settings)
    seconds, metrics = timed(trainer.evaluate)
    return dict(seconds=seconds, loss=metrics["eval_loss"])

def probe(initial, tokenizer, train, tmp:str, batch_size:int, warmup_steps:int, probe_steps:int,
          compile:bool=True) -> list[dict]:
    """Each peer configuration of `PROBE` once (`compile=False`: those without `torch.compile`, for the smoke run):
    its fastest step after the warm-up, in which `torch.compile` compiles."""
    out = []
    for config in [c for c in PROBE if compile or not c["torch_compile"]]:
        settings = shared_settings(tmp, batch_size, warmup_steps + probe_steps, **config)
        start = time.perf_counter()
        run = train_steps("peer", initial, tokenizer, train, settings, warmup_steps)
        out.append(dict(config, step_s=run["seconds"], samples_per_s=batch_size/run["seconds"],
                        wall_s=time.perf_counter() - start))
    return out

def measure_peer(kind:str="distilroberta", batch_size:int=8, warmup_steps:int=1, timed_steps:int=3, eval_blocks:int=16,
                 rounds:int=3, probe_steps:int=2, probe_compile:bool=True, profile:bool=True) -> dict:
    """Probe the peer's configurations, keep the fastest, then time peer and ours with it (training and evaluation) in
    alternating rounds; the fastest round counts. Also the FLOPs of each side's step and a per-phase profile."""
    tokenizer, tmp = bench_tokenizer(), tempfile.mkdtemp(prefix="mlm-peer-")
    train = bench_blocks(tokenizer, batch_size*(warmup_steps + max(timed_steps, probe_steps) + 1))
    held_out = bench_blocks(tokenizer, eval_blocks, skip_blocks=len(train))
    initial = make_model(kind, tokenizer)
    probed = probe(initial, tokenizer, train, tmp, batch_size, warmup_steps + 1, probe_steps, probe_compile)
    best = min(probed, key=lambda x: x["step_s"])
    config = {k: best[k] for k in PROBE[0]}
    settings = shared_settings(tmp, batch_size, warmup_steps + timed_steps, **config)
    trains = alternate({side: lambda side=side: train_steps(side, initial, tokenizer, train, settings, warmup_steps)
                        for side in SIDES}, rounds)
    evals = alternate({side: lambda side=side: evaluate(side, initial, tokenizer, held_out, settings)
                       for side in SIDES}, rounds)
    p, out = f"peer_{kind}", dict(peer_probe=probed, peer_config=dict(config, bf16=True))
    for side in SIDES:
        t, e = min(trains[side], key=lambda x: x["seconds"]), min(evals[side], key=lambda x: x["seconds"])
        out.update({f"{p}_train_{side}_s": t["seconds"], f"{p}_train_{side}_samples_per_s": batch_size/t["seconds"],
                    f"{p}_train_{side}_all_steps_s": [s for r in trains[side] for s in r["steps_s"]],
                    f"{p}_train_{side}_losses": trains[side][0]["losses"],
                    f"{p}_train_{side}_flops": train_step_flops(initial.config, batch_size, t["scored"], side == "ours"),
                    f"{p}_eval_{side}_s": e["seconds"], f"{p}_eval_{side}_samples_per_s": eval_blocks/e["seconds"],
                    f"{p}_eval_{side}_rounds_s": [r["seconds"] for r in evals[side]], f"{p}_eval_{side}_loss": e["loss"]})
    if profile:
        out.update({f"{p}_profile_{side}": profile_step(side, initial, tokenizer, train, settings) for side in SIDES})
    return dict(out, peer_model=kind, peer_batch_size=batch_size)

# ---------------------------------------------------------------- where a training step's time goes
PHASES = (("embedding", r"\.embeddings(\.|$)"), ("attention", r"\.layer\.\d+\.attention(\.|$)"),
          ("FFN", r"\.layer\.\d+\.(intermediate|output)(\.|$)"), ("LM head", r"(^|\.)lm_head(\.|$)"))
LABEL = "phase:"  # prefix of the profiler ranges this module opens

def label_modules(model) -> list:
    "Open a profiler range named after its phase around every forward of the modules of `PHASES`; returns the hooks."
    import re
    from torch.autograd.profiler import record_function
    hooks, open_ranges = [], []
    def enter(name): return lambda module, args: open_ranges.append(record_function(LABEL + name).__enter__())
    def leave(module, args, output): open_ranges.pop().__exit__(None, None, None)
    for name, module in model.named_modules():
        phase = next((ph for ph, pattern in PHASES if re.search(pattern, name)), None)
        if phase: hooks += [module.register_forward_pre_hook(enter(phase)), module.register_forward_hook(leave)]
    return hooks

def phase_of(name:str) -> str|None:
    "The phase a profiler range's name stands for: ours (`phase:...`), the optimizer's own, or None."
    if name.startswith(LABEL): return name[len(LABEL):]
    if name.startswith(("Optimizer.step", "Optimizer.zero_grad")): return "optimizer"
    return None

def phase_times(events) -> dict:
    """Self time (ms) of every profiled event, summed per phase: an op counts for the innermost phase range around
    it; a backward node for the phase of the forward op that made it (same autograd `sequence_nr`)."""
    forward_phase, totals = {}, {}
    def walk(event, phase, summing:bool, in_backward:bool=False):
        phase = phase_of(event.name) or phase
        if event.name.startswith("autograd::engine::evaluate_function"):
            in_backward = True
            if "AccumulateGrad" in event.name: phase = "gradient accumulation"
            elif summing: phase = forward_phase.get(event.sequence_nr, phase)
        elif not (in_backward or summing) and event.sequence_nr >= 0: forward_phase.setdefault(event.sequence_nr, phase)
        if summing: totals[phase] = totals.get(phase, 0.0) + event.self_cpu_time_total/1e3
        for child in event.cpu_children: walk(child, phase, summing, in_backward)
    roots = [e for e in events if e.cpu_parent is None]
    for summing in (False, True):  # first learn each forward op's phase, then sum, backward nodes mapped to it
        for root in roots: walk(root, None, summing)
    return totals

class ProfileOneStep(TrainerCallback):
    "Profile from the end of the warm-up step to the end of the next: one whole step, next batch's collation included."
    def __init__(self): self.prof, self.window_s = None, None
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]); self.prof.__enter__()
            self.start = time.perf_counter()
        elif state.global_step == 2: self.prof.__exit__(None, None, None); self.window_s = time.perf_counter() - self.start

def labelled(fn, phase:str):
    "`fn`, called inside a profiler range named after `phase`."
    from torch.autograd.profiler import record_function
    def call(*args, **kwargs):
        with record_function(LABEL + phase): return fn(*args, **kwargs)
    return call

def profile_step(side:str, initial, tokenizer, train, settings:dict) -> dict:
    """Milliseconds per phase of one profiled training step: embedding, attention, FFN, LM head (forward and
    backward), the loss and the rest of the forward (ours: the last layer's row selection and attention scores),
    gradient clipping, optimizer, data/collate; `other` = the rest of the step (the Trainer's Python, the profiler)."""
    trainer = MAKE[side](copy.deepcopy(initial), tokenizer, train, None, dict(settings, max_steps=2))
    trainer.data_collator = labelled(trainer.data_collator, "data/collate")
    trainer.compute_loss = labelled(trainer.compute_loss, "loss, rest of forward")  # the module phases lie inside
    trainer.accelerator.clip_grad_norm_ = labelled(trainer.accelerator.clip_grad_norm_, "gradient clipping")
    hooks, callback = label_modules(trainer.model), ProfileOneStep()
    trainer.add_callback(callback); trainer.train()
    for hook in hooks: hook.remove()
    ms = phase_times(callback.prof.events())
    ms.pop(None, None)
    ms = {k: round(v, 1) for k, v in sorted(ms.items(), key=lambda kv: -kv[1])}
    return dict(phases_ms=dict(ms, other=round(callback.window_s*1e3 - sum(ms.values()), 1)),
                step_ms=round(callback.window_s*1e3, 1))
