"""A literate course and library for masked-language-model domain adaptation: data, chunking, masking, training, perplexity and fill-mask, built with nbdev.

Modules:

- `mlm_course.data`: Loading a corpus for masked-language modelling: the seed's ELI5 job, any local or hub dataset, and a built-in offline corpus of real text."""

__version__ = "0.1.0"
