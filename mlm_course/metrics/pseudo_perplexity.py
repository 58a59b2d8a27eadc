"""Pseudo-perplexity as a local `evaluate` metric: `mlm_course.evaluation.load_metric("pseudo_perplexity")`.

Written by hand, not exported by nbdev: `evaluate.load` copies this single file elsewhere before importing it, so it
must use absolute imports only. The computation lives in `mlm_course.evaluation` (nbs/06_evaluation.ipynb)."""
import datasets
import evaluate
import mlm_course.evaluation


class PseudoPerplexity(evaluate.Metric):
    "Pseudo-perplexity of texts under a masked-language model (Salazar et al. 2020)."
    def _info(self):
        return evaluate.MetricInfo(
            description="Mask each token in turn, score the true token, and report exp(-mean log-probability).",
            citation="Salazar, Liang, Nguyen, Kirchhoff. Masked Language Model Scoring. ACL 2020.",
            inputs_description="predictions: texts to score; model, tokenizer: a masked LM and its tokenizer; "
                               "batch_size: masked copies per forward pass",
            features=datasets.Features({"predictions": datasets.Value("string")}))

    def _compute(self, predictions, model=None, tokenizer=None, batch_size=64):
        return mlm_course.evaluation.pseudo_perplexity(model, tokenizer, predictions, batch_size=batch_size)
