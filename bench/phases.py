"""One measurement per function: the seed's way and ours, on the same data, model shape and masks.

Each `measure_*` returns a flat dict of figures. `bench/run` calls them in a fresh child process per side, so that
peak memory is per phase and one side's allocations cannot slow the other down."""
from __future__ import annotations
import statistics, tempfile, time
import datasets, torch
from datasets import Dataset, DatasetDict
from transformers import RobertaForMaskedLM, Trainer, TrainerCallback, TrainingArguments
from mlm_course.tokenizer import offline_tokenizer
from .common import (BLOCK_SIZE, MASK_SEED, answer_texts, best_time, distilroberta_config, eli5_like_seed,
                     eli5_questions, peak_memory)
from .seed_pipeline import SEED_NUM_PROC, seed_group_texts, seed_preprocess

SIDES = ("seed", "ours")

def bench_tokenizer():
    "The offline byte-level BPE tokenizer (the hub's DistilRoBERTa tokenizer needs the network); same on both sides."
    return offline_tokenizer()

# ---------------------------------------------------------------- group_texts
def measure_group_texts(n_examples:int=1000, repeat:int=5) -> dict:
    "Seed's quadratic `group_texts` vs `mlm_course.chunking.group_texts` on one `map` batch of tokenized answers."
    from mlm_course.chunking import group_texts
    batch = dict(bench_tokenizer()(answer_texts(eli5_questions(n_examples))))
    seed_s, seed_out = best_time(lambda: seed_group_texts(batch, BLOCK_SIZE), repeat)
    ours_s, ours_out = best_time(lambda: group_texts(batch, BLOCK_SIZE), repeat)
    return dict(group_texts_examples=n_examples, group_texts_tokens=sum(map(len, batch["input_ids"])),
                group_texts_seed_s=seed_s, group_texts_ours_s=ours_s, group_texts_speedup=seed_s/ours_s,
                group_texts_same_output=seed_out == ours_out)

# ---------------------------------------------------------------- preprocessing
def ours_preprocess(eli5:DatasetDict, tokenizer, num_proc:int|None=None) -> DatasetDict:
    "Our pipeline from the same flattened data: one `text` per question, then `make_blocks`."
    from mlm_course.chunking import make_blocks
    join = lambda batch: {"text": [" ".join(answers) for answers in batch["answers.text"]]}
    docs = eli5.map(join, batched=True, remove_columns=eli5["train"].column_names)
    return make_blocks(docs, tokenizer, block_size=BLOCK_SIZE, num_proc=num_proc)

def measure_preprocess(side:str, n_examples:int=5000, repeat:int=1, num_proc:int|None=None,
                       seed_num_proc:int=SEED_NUM_PROC) -> dict:
    "Tokenize + group the seed's 5,000 ELI5 questions (80/20 split) into blocks; time and peak memory."
    datasets.disable_caching()  # a cached `map` would time a file read, not the work
    datasets.disable_progress_bars()
    tokenizer, eli5 = bench_tokenizer(), eli5_like_seed(eli5_questions(n_examples))
    run = (lambda: seed_preprocess(eli5, tokenizer, num_proc=seed_num_proc)) if side == "seed" else (lambda: ours_preprocess(eli5, tokenizer, num_proc))
    with peak_memory() as mem: seconds, blocks = best_time(run, repeat)
    n_blocks = sum(map(len, blocks.values()))
    return {f"preprocess_{side}_s": seconds, f"preprocess_{side}_examples_per_s": n_examples/seconds,
            f"preprocess_{side}_blocks": n_blocks, **{f"preprocess_{side}_{k}": v for k, v in mem.items()}}

# ---------------------------------------------------------------- models, training, evaluation
def make_model(kind:str, tokenizer):
    "A freshly initialised model, identical on both sides (seeded): DistilRoBERTa's shape, the course's, or a tiny one."
    torch.manual_seed(0)
    if kind == "distilroberta": return RobertaForMaskedLM(distilroberta_config())
    if kind == "builtin":
        from mlm_course.model import load_model
        return load_model("builtin", tokenizer=tokenizer)
    if kind == "tiny": return RobertaForMaskedLM(distilroberta_config(len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                                                      num_attention_heads=2, intermediate_size=64))
    raise ValueError(f"unknown model kind {kind!r}")

def bench_blocks(tokenizer, n_blocks:int, skip_blocks:int=0) -> Dataset:
    "`n_blocks` blocks of ELI5 answers (after the first `skip_blocks`), grouped the seed's way."
    questions = eli5_questions(5000)
    tokens_needed, texts = (skip_blocks + n_blocks + 1)*BLOCK_SIZE, []
    for text in answer_texts(questions):  # ~4 characters per token is plenty of margin
        texts.append(text)
        if sum(map(len, texts)) > 6*tokens_needed: break
    blocks = seed_group_texts(dict(tokenizer(texts)), BLOCK_SIZE)
    if len(blocks["input_ids"]) < skip_blocks + n_blocks: raise ValueError("not enough ELI5 text for the blocks asked")
    return Dataset.from_dict({k: v[skip_blocks:skip_blocks + n_blocks] for k, v in blocks.items()})

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
    "The seed's inference: a `fill-mask` pipeline called on one text at a time."
    from transformers import pipeline
    filler = pipeline("fill-mask", model=model, tokenizer=tokenizer)
    return [filler(text, top_k=top_k) for text in texts]

def measure_fill_mask(side:str, model, tokenizer, prefix:str, n_texts:int) -> dict:
    "Seconds for top-3 fill-mask on `n_texts` sentences: one text per call (seed) or `mlm_course.inference.fill_mask`."
    texts = masked_sentences(tokenizer, n_texts)
    if side == "seed": run = lambda: fill_mask_seed_way(model, tokenizer, texts)
    else:
        from mlm_course.inference import fill_mask
        run = lambda: fill_mask(model, tokenizer, texts, top_k=3)
    run()  # warm-up
    seconds, predictions = best_time(run, 1)
    return {f"{prefix}_fill_mask_s": seconds, f"{prefix}_fill_mask_texts": n_texts,
            f"{prefix}_fill_mask_top_tokens": [p[0]["token"] for p in predictions]}

def measure_evaluate_perplexity(model, tokenizer, blocks:Dataset, prefix:str, batch_size:int=32) -> dict:
    "Seconds of `mlm_course.evaluation.evaluate_perplexity` on fixed masks (the masks are made before timing)."
    from mlm_course.evaluation import evaluate_perplexity
    from mlm_course.masking import fixed_eval_masks
    masked = fixed_eval_masks(blocks, tokenizer)
    start = time.perf_counter(); result = evaluate_perplexity(model, masked, batch_size=batch_size)
    return {f"{prefix}_evaluate_perplexity_s": time.perf_counter() - start,
            f"{prefix}_evaluate_perplexity_loss": result["eval_loss"]}

def _recording(trainer_class):
    "`trainer_class` that also keeps every training loss at full precision (the logged ones are rounded)."
    class Recording(trainer_class):
        losses: list
        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            out = super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)
            loss = out[0] if return_outputs else out
            if model.training: self.losses.append(float(loss.detach()))
            return out
    Recording.__name__ = f"Recording{trainer_class.__name__}"
    return Recording

class StepClock(TrainerCallback):
    "Wall-clock time at the end of every optimizer step (data loading, forward, backward and update included)."
    def __init__(self): self.ends = []
    def on_step_end(self, args, state, control, **kwargs): self.ends.append(time.perf_counter())

def _args(output_dir:str, batch_size:int, max_steps:int) -> TrainingArguments:
    "The seed's hyper-parameters (lr 2e-5, weight decay 0.01) for a short timed run; nothing saved or reported."
    return TrainingArguments(output_dir=output_dir, learning_rate=2e-5, weight_decay=0.01, max_steps=max_steps,
                             per_device_train_batch_size=batch_size, per_device_eval_batch_size=batch_size,
                             eval_strategy="no", save_strategy="no", report_to="none", logging_strategy="no",
                             disable_tqdm=True, dataloader_num_workers=0, seed=42, use_cpu=True)

def _trainer(side:str, model, args, train_blocks, eval_blocks, tokenizer):
    "The seed's `Trainer` (full logits) or our `SparseMLMTrainer`, each with a collator seeded with `MASK_SEED`."
    if side == "seed":
        from .seed_pipeline import seed_trainer
        return seed_trainer(model, args, train_blocks, eval_blocks, tokenizer, MASK_SEED, _recording(Trainer))
    from mlm_course.masking import mlm_collator
    from mlm_course.training import SparseMLMTrainer
    return _recording(SparseMLMTrainer)(model=model, args=args, train_dataset=train_blocks, eval_dataset=eval_blocks,
                                        data_collator=mlm_collator(tokenizer, seed=MASK_SEED), processing_class=tokenizer)

def measure_model(side:str, kind:str="distilroberta", batch_size:int=8, warmup_steps:int=1, timed_steps:int=4,
                  eval_blocks:int=32, fill_mask_texts:int=0) -> dict:
    """On a fresh model: evaluate (Trainer), fill-mask, `evaluate_perplexity` (our side), then train.
    Eval samples/s, train samples/s (median timed step), per-step losses, peak memory of eval and train."""
    tokenizer = bench_tokenizer()
    train = bench_blocks(tokenizer, batch_size*(warmup_steps + timed_steps))
    held_out = bench_blocks(tokenizer, eval_blocks, skip_blocks=len(train))
    model = make_model(kind, tokenizer)
    p = f"{kind}_{side}"
    out = {f"{p}_parameters": sum(t.numel() for t in model.parameters())}
    with tempfile.TemporaryDirectory() as tmp:
        warm_up = held_out.select(range(min(batch_size, eval_blocks)))  # first-call allocations, one batch
        _trainer(side, model, _args(tmp, batch_size, 1), None, warm_up, tokenizer).evaluate()
        evaluator = _trainer(side, model, _args(tmp, batch_size, 1), None, held_out, tokenizer)
        with peak_memory() as mem:
            start = time.perf_counter(); metrics = evaluator.evaluate(); eval_s = time.perf_counter() - start
        out.update({f"{p}_eval_s": eval_s, f"{p}_eval_samples_per_s": eval_blocks/eval_s,
                    f"{p}_eval_loss": metrics["eval_loss"], **{f"{p}_eval_{k}": v for k, v in mem.items()}})
        if fill_mask_texts: out.update(measure_fill_mask(side, model, tokenizer, p, fill_mask_texts))
        if side == "ours": out.update(measure_evaluate_perplexity(model, tokenizer, held_out, p))
        clock = StepClock()
        trainer = _trainer(side, model, _args(tmp, batch_size, warmup_steps + timed_steps), train, None, tokenizer)
        trainer.losses = []
        trainer.add_callback(clock)
        with peak_memory() as mem: trainer.train()
    steps = [b - a for a, b in zip(clock.ends[warmup_steps - 1:], clock.ends[warmup_steps:])]
    out.update({f"{p}_train_step_s": statistics.median(steps), f"{p}_train_steps_s": steps,
                f"{p}_train_samples_per_s": batch_size/statistics.median(steps), f"{p}_train_losses": trainer.losses,
                **{f"{p}_train_{k}": v for k, v in mem.items()}})
    return out
