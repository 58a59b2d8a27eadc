#!/usr/bin/env python
"""The offline preset's recipe, one change at a time: what each choice of the built-in job buys in *quality*.

Every variant trains the built-in model (lesson 04) on the built-in corpus with the same seed, data order and
evaluation masks, and reports the perplexity on the fixed 15% masks, the top-1/top-3 accuracy at the masked
positions (`masked_token_accuracy`, lesson 06), and the job's fill-mask examples. Perplexity and accuracy do not
depend on the machine's speed, so this can run beside other work. Examples:

    bench/recipe.py                                # every variant, 8 epochs, otherwise the preset (~15 min, native bf16)
    bench/recipe.py --variants warm --epochs 24    # the preset itself (~4 min)
    bench/recipe.py --smoke                        # seconds: checks the code
"""
from __future__ import annotations
import argparse, json, tempfile, time
from pathlib import Path

VARIANTS = {  # name -> (initialisation, share of tokens masked in training, dropout)
    "plain": (None, 0.15, 0.1),
    "masks30": (None, 0.3, 0.1),  # one change from plain: the masking rate only
    "nodropout": (None, 0.15, 0.0),  # one change from plain: dropout only
    "masks30-nodropout": (None, 0.3, 0.0),
    "positions-masks30-nodropout": ("positions", 0.3, 0.0),
    "vectors": ("vectors", 0.15, 0.1),
    "vectors-masks30-nodropout": ("vectors", 0.3, 0.0),
    "warm": ("both", 0.3, 0.0),  # lesson 17's `warm_start`: what `mlm-course run` does for the built-in model
    "warm-dropout": ("both", 0.3, 0.1),  # the same with the usual dropout
}

def initialise(model, init:str|None, train_ids):
    "Apply none, one or both parts of lesson 04's warm start."
    import torch
    from mlm_course.warm_start import cooccurrence_embeddings, sinusoidal_positions, warm_start
    if init == "both": return warm_start(model, train_ids)
    words, positions = model.get_input_embeddings().weight, model.base_model.embeddings.position_embeddings.weight
    with torch.no_grad():
        if init == "vectors": words.copy_(cooccurrence_embeddings(train_ids, *words.shape))
        if init == "positions": positions.copy_(sinusoidal_positions(*positions.shape))
    return model

def run_variant(name:str, corpus, tokenizer, blocks, eval_masked, epochs:float, lr:float, bf16:bool,
                max_steps:int, out_dir:str) -> dict:
    "Train one variant from the same seed and measure it."
    import torch
    from transformers import set_seed
    from mlm_course.model import load_model
    from mlm_course.training import mlm_training_args, make_trainer
    from mlm_course.evaluation import evaluate_perplexity
    from mlm_course.inference import fill_mask
    from mlm_course.run import FILL_MASK_EXAMPLES
    init, p, dropout = VARIANTS[name]
    set_seed(42)
    model = load_model("builtin", tokenizer=tokenizer, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    initialise(model, init, blocks["train"]["input_ids"])
    args = mlm_training_args(out_dir, preset="builtin", learning_rate=lr, num_train_epochs=epochs,
                             max_steps=max_steps, seed=42, bf16=bf16, use_cpu=bf16 and not torch.cuda.is_available(),
                             eval_strategy="no", save_strategy="no", report_to=[], disable_tqdm=True, logging_steps=10**6)
    t0 = time.perf_counter()
    make_trainer(model, tokenizer, blocks["train"], None, args, mlm_probability=p).train()
    seconds = time.perf_counter() - t0
    scores = evaluate_perplexity(model, eval_masked, top_k=3)  # perplexity and top-1/top-3 accuracy, one pass
    examples = fill_mask(model, tokenizer, FILL_MASK_EXAMPLES["builtin"], top_k=3)
    return dict(variant=name, init=init, train_mlm_probability=p, dropout=dropout, epochs=epochs, learning_rate=lr,
                bf16=bf16, train_s=round(seconds, 1), perplexity=round(scores["perplexity"], 1),
                top1=round(scores["accuracy"], 4), top3=round(scores["top3_accuracy"], 4),
                fill_mask={t: [q["token_str"] for q in preds] for t, preds in zip(FILL_MASK_EXAMPLES["builtin"], examples)})

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {', '.join(VARIANTS)}")
    ap.add_argument("--epochs", type=float, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast (default: bf16 where it is native, as the job)")
    ap.add_argument("--smoke", action="store_true", help="a few steps on a few blocks: checks the code")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args(argv)
    from mlm_course.training import bf16_is_fast
    bf16 = bf16_is_fast() and not a.fp32
    names = a.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown: ap.error(f"unknown variant(s) {unknown}: use some of {', '.join(VARIANTS)}")
    from mlm_course.data import builtin_corpus
    from mlm_course.tokenizer import offline_tokenizer
    from mlm_course.chunking import make_blocks
    from mlm_course.masking import fixed_eval_masks
    corpus = builtin_corpus(seed=42)
    tokenizer = offline_tokenizer(texts=corpus["train"]["text"])
    blocks = make_blocks(corpus, tokenizer, block_size=128)
    if a.smoke: blocks = {k: v.select(range(16)) for k, v in blocks.items()}
    eval_masked = fixed_eval_masks(blocks["validation"], tokenizer, mlm_probability=0.15, seed=42)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            r = run_variant(name, corpus, tokenizer, blocks, eval_masked, a.epochs, a.lr, bf16,
                            max_steps=2 if a.smoke else -1, out_dir=tmp)
            print(json.dumps(r), flush=True)
            results.append(r)
    print(f"\n| variant | perplexity | top-1 | top-3 | train s |\n|---|---|---|---|---|")
    for r in results: print(f"| {r['variant']} | {r['perplexity']:,} | {r['top1']:.1%} | {r['top3']:.1%} | {r['train_s']} |")
    if a.json: Path(a.json).write_text(json.dumps(results, indent=1))
    return results

if __name__ == "__main__": main()
