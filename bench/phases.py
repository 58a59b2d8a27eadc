"""One measurement per phase: the seed's way and ours, on the same data, model shape and masks.

Each `measure_*` returns a flat dict of figures. `bench/run` calls each in a fresh child process. Inside it the two
sides take turns (`alternate`), so that load from other processes falls on both alike, and the fastest round counts:
other load can only add time. Peak memory is measured per side and round (`peak_memory`); the largest growth counts."""
from __future__ import annotations
import copy, os, tempfile
import datasets
from datasets import DatasetDict
from transformers import TrainingArguments
from mlm_course.model import count_parameters
from .common import (BLOCK_SIZE, MASK_SEED, StepClock, alternate, answer_texts, bench_blocks, bench_tokenizer,
                     eli5_like_seed, eli5_questions, make_model, peak_memory, record_losses, timed)
from .limits import train_step_flops
from .seed_pipeline import SEED_NUM_PROC, seed_group_texts, seed_preprocess, seed_trainer

SIDES = ("seed", "ours")

def _fastest(prefix:str, runs:dict[str, list[dict]]) -> dict:
    "Per side: the fastest round's `seconds`, the largest memory growth, and the first round's other figures."
    out = {}
    for side, results in runs.items():
        best = min(results, key=lambda x: x["seconds"])
        out.update({f"{prefix}_{side}_{k}": v for k, v in results[0].items() if k not in ("memory", "seconds")})
        out[f"{prefix}_{side}_s"], out[f"{prefix}_{side}_rounds_s"] = best["seconds"], [x["seconds"] for x in results]
        if "memory" in best:
            worst = max(results, key=lambda x: x["memory"]["peak_rss_delta_mib"])["memory"]
            out.update({f"{prefix}_{side}_{k}": v for k, v in worst.items()})
    return out

# ---------------------------------------------------------------- group_texts
def measure_group_texts(n_examples:int=1000, repeat:int=5) -> dict:
    "Seed's quadratic `group_texts` vs `mlm_course.chunking.group_texts` on one `map` batch of tokenized answers."
    from mlm_course.chunking import group_texts
    batch = dict(bench_tokenizer()(answer_texts(eli5_questions(n_examples))))
    runs = alternate({"seed": lambda: timed(lambda: seed_group_texts(batch, BLOCK_SIZE)),
                      "ours": lambda: timed(lambda: group_texts(batch, BLOCK_SIZE))}, repeat)
    (seed_s, seed_out), (ours_s, ours_out) = (min(runs[side], key=lambda x: x[0]) for side in SIDES)
    return dict(group_texts_examples=n_examples, group_texts_tokens=sum(map(len, batch["input_ids"])),
                group_texts_seed_s=seed_s, group_texts_ours_s=ours_s, group_texts_speedup=seed_s/ours_s,
                group_texts_same_output=seed_out == ours_out)

# ---------------------------------------------------------------- preprocessing
def ours_preprocess(eli5:DatasetDict, tokenizer, num_proc:int|None=None) -> DatasetDict:
    "Our pipeline from the same flattened data: `make_blocks` joins each question's answers, tokenizes and groups."
    from mlm_course.chunking import make_blocks
    return make_blocks(eli5, tokenizer, block_size=BLOCK_SIZE, num_proc=num_proc, text_column="answers.text")

def measure_preprocess(n_examples:int=5000, rounds:int=2, num_proc:int|None=None,
                       seed_num_proc:int=SEED_NUM_PROC, scaling_procs:tuple=(1, 2)) -> dict:
    """Tokenize + group the seed's 5,000 ELI5 questions (80/20 split) into blocks, both ways; time and peak memory.
    Then our `make_blocks` with 1 and 2 processes, cold and from the `datasets` cache (`preprocess_scaling`).
    `TOKENIZERS_PARALLELISM=true` here, the default of a fresh process: the Rust tokenizer uses every core. Set
    explicitly, because once the seed's `num_proc` workers have forked, `tokenizers` stops using threads in this
    process for the rest of the run (the seed's workers tokenize single-threaded either way)."""
    from mlm_course.scaling import preprocess_scaling
    datasets.disable_caching()  # a cached `map` would time a file read, not the work
    datasets.disable_progress_bars()
    tokenizer, eli5 = bench_tokenizer(), eli5_like_seed(eli5_questions(n_examples))
    def run(preprocess):
        os.environ["TOKENIZERS_PARALLELISM"] = "true"  # a fresh process's default; the seed's forks would turn it off
        with peak_memory() as memory: seconds, blocks = timed(preprocess)
        return dict(seconds=seconds, memory=memory, blocks=sum(map(len, blocks.values())))
    runs = alternate({"seed": lambda: run(lambda: seed_preprocess(eli5, tokenizer, num_proc=seed_num_proc)),
                      "ours": lambda: run(lambda: ours_preprocess(eli5, tokenizer, num_proc))}, rounds)
    out = _fastest("preprocess", runs)
    out.update({f"preprocess_{side}_examples_per_s": n_examples/out[f"preprocess_{side}_s"] for side in SIDES})
    datasets.enable_caching()
    docs = eli5.map(lambda a: {"text": [" ".join(x) for x in a]}, batched=True, input_columns="answers.text",
                    remove_columns=eli5["train"].column_names)
    scaling = preprocess_scaling(scaling_procs, corpus=docs, tokenizer=tokenizer, block_size=BLOCK_SIZE)
    return dict(out, preprocess_examples=n_examples, preprocess_speedup=out["preprocess_seed_s"]/out["preprocess_ours_s"],
                preprocess_scaling=scaling)

# ---------------------------------------------------------------- models, training, evaluation, fill-mask
def masked_sentences(tokenizer, n:int) -> list[str]:
    "`n` ELI5 answer sentences of 8-30 words, with the middle word replaced by the mask token."
    out = []
    for text in answer_texts(eli5_questions(5000)):
        for sentence in text.split(". "):
            words = sentence.split()
            if 8 <= len(words) <= 30:
                words[len(words)//2] = tokenizer.mask_token
                out.append(" ".join(words) + ".")
            if len(out) == n: return out
    raise ValueError("not enough ELI5 sentences")

def fill_mask_seed_way(model, tokenizer, texts:list[str], top_k:int=3) -> list:
    "The seed's inference: a `fill-mask` pipeline, called on one text at a time."
    from transformers import pipeline
    filler = pipeline("fill-mask", model=model, tokenizer=tokenizer)
    return [filler(text, top_k=top_k) for text in texts]

def _args(output_dir:str, batch_size:int, max_steps:int, bf16:bool=False) -> TrainingArguments:
    "The seed's hyper-parameters (lr 2e-5, weight decay 0.01) for a short timed run; nothing saved or reported."
    return TrainingArguments(output_dir=output_dir, learning_rate=2e-5, weight_decay=0.01, max_steps=max_steps, bf16=bf16,
                             per_device_train_batch_size=batch_size, per_device_eval_batch_size=batch_size,
                             eval_strategy="no", save_strategy="no", report_to="none", logging_strategy="no",
                             disable_tqdm=True, dataloader_num_workers=0, seed=42, use_cpu=True)

def _trainer(side:str, model, args, train_blocks, eval_blocks, tokenizer):
    "The seed's `Trainer` (full logits) or our `SparseMLMTrainer`, each with a fresh collator seeded with `MASK_SEED`."
    return record_losses(seed_trainer(model, args, train_blocks, eval_blocks, tokenizer, MASK_SEED) if side == "seed"
                         else _ours_trainer(model, args, train_blocks, eval_blocks, tokenizer))

def _ours_trainer(model, args, train_blocks, eval_blocks, tokenizer):
    from mlm_course.masking import mlm_collator
    from mlm_course.sparse import SparseMLMTrainer
    return SparseMLMTrainer(model=model, args=args, train_dataset=train_blocks, eval_dataset=eval_blocks,
                            data_collator=mlm_collator(tokenizer, seed=MASK_SEED), processing_class=tokenizer)

def measure_model(kind:str="distilroberta", batch_size:int=8, warmup_steps:int=1, timed_steps:int=2,
                  eval_blocks:int=32, rounds:int=2, fill_mask_texts:int=0, bf16:bool=False) -> dict:
    """Both sides on the same freshly initialised model: `Trainer.evaluate`, fill-mask, then training from the same
    weights; `rounds` alternating rounds of each. Train speed: the fastest timed step (after `warmup_steps`).
    `bf16`: also time ours with bf16 autocast (`ours_bf16`: other arithmetic, so its losses are compared, not equal)."""
    tokenizer = bench_tokenizer()
    train = bench_blocks(tokenizer, batch_size*(warmup_steps + timed_steps))
    held_out = bench_blocks(tokenizer, eval_blocks, skip_blocks=len(train))
    initial, tmp = make_model(kind, tokenizer), tempfile.mkdtemp(prefix="mlm-bench-")
    p = kind
    out = {f"{p}_parameters": count_parameters(initial)["total"], f"{p}_batch_size": batch_size}

    def evaluate(side, blocks=held_out):
        trainer = _trainer(side, initial, _args(tmp, batch_size, 1), None, blocks, tokenizer)
        with peak_memory() as memory: seconds, metrics = timed(trainer.evaluate)
        return dict(seconds=seconds, memory=memory, loss=metrics["eval_loss"])
    for side in SIDES: evaluate(side, held_out.select(range(min(batch_size, eval_blocks))))  # warm-up, one batch
    out.update(_fastest(f"{p}_eval", alternate({side: lambda side=side: evaluate(side) for side in SIDES}, rounds)))

    if fill_mask_texts:
        from mlm_course.inference import fill_mask
        texts = masked_sentences(tokenizer, fill_mask_texts)
        fills = {"seed": lambda: fill_mask_seed_way(initial, tokenizer, texts), "ours": lambda: fill_mask(initial, tokenizer, texts)}
        runs = alternate({side: lambda side=side: dict(zip(("seconds", "top1"), timed(fills[side]))) for side in SIDES},
                         rounds, warmup=True)
        out.update(_fastest(f"{p}_fill_mask", runs))
        top1 = {side: [predictions[0]["token"] for predictions in runs[side][0]["top1"]] for side in SIDES}
        out[f"{p}_fill_mask_same_top1"] = top1["seed"] == top1["ours"]
        for side in SIDES: out.pop(f"{p}_fill_mask_{side}_top1")
        out[f"{p}_fill_mask_texts"] = fill_mask_texts

    from mlm_course.evaluation import evaluate_perplexity
    from mlm_course.masking import fixed_eval_masks
    masked = fixed_eval_masks(held_out, tokenizer)
    seconds, result = timed(lambda: evaluate_perplexity(initial, masked, batch_size=32))
    out.update({f"{p}_evaluate_perplexity_s": seconds, f"{p}_evaluate_perplexity_loss": result["eval_loss"]})

    def train_once(side):
        clock, model = StepClock(), copy.deepcopy(initial)
        args = _args(tmp, batch_size, warmup_steps + timed_steps, bf16=side == "ours_bf16")
        trainer = _trainer(side.removesuffix("_bf16"), model, args, train, None, tokenizer)
        trainer.add_callback(clock)
        with peak_memory() as memory: trainer.train()
        steps, fastest = clock.steps(warmup_steps)
        flops = train_step_flops(initial.config, batch_size, trainer.scored[warmup_steps + fastest], sparse=side != "seed")
        return dict(seconds=steps[fastest], steps_s=steps, losses=trainer.losses, memory=memory, flops=flops)
    train_sides = SIDES + ("ours_bf16",) if bf16 else SIDES
    runs = alternate({side: lambda side=side: train_once(side) for side in train_sides}, rounds)
    out.update(_fastest(f"{p}_train", runs))
    for side in train_sides:  # the FLOPs of the fastest step (its masked-token count), not of the first round's
        out[f"{p}_train_{side}_flops"] = min(runs[side], key=lambda x: x["seconds"])["flops"]
    for side in train_sides[2:]:
        out[f"{p}_train_{side}_samples_per_s"] = batch_size/out[f"{p}_train_{side}_s"]
        out[f"{p}_train_{side}_all_steps_s"] = [s for r in runs[side] for s in r["steps_s"]]
        out.pop(f"{p}_train_{side}_steps_s")
    for side in SIDES:
        out[f"{p}_train_{side}_samples_per_s"] = batch_size/out[f"{p}_train_{side}_s"]
        out[f"{p}_eval_{side}_samples_per_s"] = eval_blocks/out[f"{p}_eval_{side}_s"]
        out[f"{p}_train_{side}_all_steps_s"] = [s for r in runs[side] for s in r["steps_s"]]
        out.pop(f"{p}_train_{side}_steps_s")
    return out
