"""A literate course and library for masked-language-model domain adaptation: data, chunking, masking, training, perplexity and fill-mask, built with nbdev.

Modules:

- `mlm_course.adaptation`: The point of the whole course made measurable: a model trained on general text, adapted on domain text. What it gains on the domain, and what it forgets of general text.
- `mlm_course.browser`: How `course-base` and the adapted model reach the docs site: exported to ONNX, stored as 8-bit weights, run by transformers.js, and checked against the 🤗 pipeline.
- `mlm_course.chunking`: Three ways to cut documents into fixed-size blocks (pad and truncate, overflow chunks, concatenate and group), measured side by side on real text.
- `mlm_course.data`: Loading a corpus for masked-language modelling: the seed's ELI5 job, any local or hub dataset, and a built-in offline corpus of real text.
- `mlm_course.downstream`: Lower perplexity on the domain is a promise, not a result. Here we fine-tune a classifier on a real labelled task, from random weights, from the base model and from the adapted model, and measure what adaptation buys.
- `mlm_course.evaluation`: Perplexity on fixed masks and its spread over mask draws, pseudo-perplexity without masks, and perplexity per category: numbers you can compare across runs.
- `mlm_course.inference`: Fill-mask with the `pipeline`: any model's mask token, batched calls, and a side-by-side table of a base and an adapted model.
- `mlm_course.masking`: Choosing what the model must predict: 15% of the tokens, the 80/10/10 corruption, whole words, no example left without a mask, fixed masks that make an evaluation repeatable, and documents kept apart inside a block.
- `mlm_course.metrics.pseudo_perplexity`: Pseudo-perplexity as a local `evaluate` metric: `mlm_course.evaluation.load_metric("pseudo_perplexity")`.
- `mlm_course.model`: Load a pretrained masked-language model safely, meet the course's own `course-base`, and see where its parameters and its compute go.
- `mlm_course.pretraining`: How the course's own pretrained model was made: a byte-level BPE tokenizer and a small RoBERTa pre-trained on 23.7M words of Wikipedia, its shape chosen by a sweep at a fixed budget, rebuilt by one command.
- `mlm_course.scaling`: When one CPU or GPU is no longer enough: memory arithmetic, several GPUs and nodes with `torchrun` / `accelerate launch`, corpora streamed instead of loaded, and preprocessing on several processes.
- `mlm_course.sparse`: The LM head, and most of the last encoder layer, run only on the ~15% of positions that the masked-LM loss scores: the model's own loss and gradients, for less compute.
- `mlm_course.study`: Three recipe choices measured one at a time on the course's main job: the masking rate (15%, 30%, 40%), whole words or single tokens, and attention across document joins. Same model, data, steps and evaluation masks; three seeds each.
- `mlm_course.training`: The 🤗 `Trainer` with the reference settings, checkpoints, TensorBoard logs and loss curves, and a masked-LM loss that runs the LM head only on the masked positions.
- `mlm_course.warm_start`: A model trained from scratch starts from random numbers. Word vectors from co-occurrence counts and sinusoidal positions give it a head start, using only the training text."""

__version__ = "0.1.0"
