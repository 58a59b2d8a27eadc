"Training settings, the trainer wiring, checkpoints and logs, and the sparse loss inside the Trainer's own loops."
import pytest, torch
from datasets import Dataset
from transformers import Trainer
from transformers.trainer_utils import IntervalStrategy
from mlm_course.masking import fixed_eval_masks
from mlm_course.model import load_model
from mlm_course.tokenizer import offline_tokenizer
from mlm_course.sparse import SparseMLMTrainer
from mlm_course.training import make_trainer, mlm_training_args, plot_loss_curves
from mlm_course.utils import ConfigError

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
QUIET = dict(report_to=[], disable_tqdm=True)


@pytest.fixture(scope="module")
def tok(): return offline_tokenizer()


@pytest.fixture(scope="module")
def blocks(tok):
    texts = ["The if statement is used for conditional execution.", "Return the absolute value of a number.",
             "A for loop iterates over the items of any sequence.", "Raise KeyError when the key is missing."]
    ids = [tok(" ".join(texts[i:] + texts[:i]) * 2, truncation=True, max_length=48)["input_ids"] for i in range(4)]
    return Dataset.from_dict({"input_ids": ids * 4, "attention_mask": [[1]*len(x) for x in ids] * 4})


def tiny_model(tok, seed=0):
    torch.manual_seed(seed)
    return load_model("builtin", tok, **TINY)


def test_reference_defaults(tmp_path):
    args = mlm_training_args(tmp_path)
    assert (args.learning_rate, args.num_train_epochs, args.weight_decay) == (2e-5, 3, 0.01)
    assert args.eval_strategy == IntervalStrategy.EPOCH and args.save_strategy == "epoch"
    assert args.report_to == ["tensorboard"] and not args.push_to_hub and args.prediction_loss_only
    assert args.save_total_limit == 2 and args.per_device_train_batch_size == 8


def test_builtin_preset_and_overrides(tmp_path):
    args = mlm_training_args(tmp_path, preset="builtin")
    assert args.learning_rate >= 10 * 2e-5 and args.get_warmup_steps(1000) > 0
    assert mlm_training_args(tmp_path, preset="builtin", learning_rate=5e-4).learning_rate == 5e-4
    steps = mlm_training_args(tmp_path, eval_strategy="steps", eval_steps=50)
    assert (steps.save_strategy, steps.save_steps) == ("steps", 50), "checkpoints follow the evaluation schedule unless told otherwise"
    with pytest.raises(ConfigError, match="Unknown training preset"): mlm_training_args(tmp_path, preset="fast")


def test_hub_token_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="HF_TOKEN"): mlm_training_args(tmp_path, hub_token="hf_secret")


def test_make_trainer_wiring(tmp_path, tok, blocks):
    args = mlm_training_args(tmp_path, **QUIET)
    trainer = make_trainer(tiny_model(tok), tok, blocks, None, args, seed=7)
    assert type(trainer) is SparseMLMTrainer, "sparse prediction is the default"
    assert args.eval_strategy == IntervalStrategy.NO, "no evaluation set, no evaluation"
    assert args.seed == 7
    assert type(make_trainer(tiny_model(tok), tok, blocks, None, args, sparse=False)) is Trainer


def test_unknown_head_falls_back_to_the_dense_loss(tmp_path, tok, blocks, capsys):
    "A model whose LM head sparse prediction does not know trains with its own loss, said in one line; sparse=True refuses."
    from transformers import AlbertConfig, AlbertForMaskedLM
    from mlm_course.utils import ModelError
    albert = AlbertForMaskedLM(AlbertConfig(vocab_size=len(tok), embedding_size=16, hidden_size=32, num_hidden_layers=1,
                                            num_attention_heads=2, intermediate_size=64))
    args = mlm_training_args(tmp_path, max_steps=1, per_device_train_batch_size=4, save_strategy="no", **QUIET)
    trainer = make_trainer(albert, tok, blocks, None, args)
    assert type(trainer) is Trainer
    assert capsys.readouterr().err == ("mlm_course: no sparse LM head for AlbertForMaskedLM; training with the dense loss "
                                       "(same result, more compute)\n")
    trainer.train(); capsys.readouterr()  # the dense loss trains it
    with pytest.raises(ModelError, match="--no-sparse"): make_trainer(albert, tok, blocks, None, args, sparse=True)
    make_trainer(tiny_model(tok), tok, blocks, None, args)
    assert capsys.readouterr().err == "", "no message where the head is known"


def test_sparse_evaluation_equals_dense(tmp_path, tok, blocks):
    "evaluate() goes through compute_loss (prediction_step): sparse and dense agree on fixed masks."
    masked = fixed_eval_masks(blocks, tok, seed=0)
    model = tiny_model(tok)
    args = mlm_training_args(tmp_path, per_device_eval_batch_size=5, **QUIET)
    sparse = make_trainer(model, tok, blocks, masked, args).evaluate()["eval_loss"]
    dense = make_trainer(model, tok, blocks, masked, args, sparse=False).evaluate()["eval_loss"]
    assert sparse == pytest.approx(dense, rel=1e-5)


def test_gradient_accumulation_matches_one_big_batch(tmp_path, tok, blocks):
    """Two accumulated micro-batches of 4 (different numbers of masks) give the update of one batch of 8: the loss is
    normalised by the masks of the whole accumulated batch. Pre-masked blocks make the masks independent of batching."""
    premasked = fixed_eval_masks(blocks, tok, seed=1)
    runs = {}
    for name, sparse, batch, accumulate in [("dense 8", False, 8, 1), ("sparse 8", True, 8, 1), ("sparse 4x2", True, 4, 2)]:
        args = mlm_training_args(tmp_path/name, max_steps=2, per_device_train_batch_size=batch,
                                 gradient_accumulation_steps=accumulate, learning_rate=1e-3, eval_strategy="no",
                                 save_strategy="no", logging_steps=1, **QUIET)
        trainer = make_trainer(tiny_model(tok), tok, premasked, None, args, sparse=sparse, seed=3)
        trainer.train()
        runs[name] = ({n: p.detach().clone() for n,p in trainer.model.named_parameters()},
                      [h["loss"] for h in trainer.state.log_history if "loss" in h])
    reference, reference_losses = runs["dense 8"]
    for name in ("sparse 8", "sparse 4x2"):
        weights, losses = runs[name]
        assert losses == pytest.approx(reference_losses, rel=1e-4), name
        for param, w in reference.items():
            torch.testing.assert_close(weights[param], w, rtol=1e-4, atol=1e-6, msg=f"{name}: {param}")


def test_checkpoints_logs_and_curves(tmp_path, tok, blocks):
    masked = fixed_eval_masks(blocks, tok, seed=0)
    args = mlm_training_args(tmp_path, max_steps=6, per_device_train_batch_size=4, learning_rate=1e-3,
                             eval_strategy="steps", eval_steps=2, logging_steps=1, disable_tqdm=True)
    trainer = make_trainer(tiny_model(tok), tok, blocks, masked, args)
    trainer.train()
    checkpoints = sorted(tmp_path.glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-4", "checkpoint-6"], "save_total_limit keeps the last two"
    assert all((c/"model.safetensors").exists() and not list(c.glob("pytorch_model*")) for c in checkpoints)
    assert list((tmp_path/"runs").rglob("events.out.tfevents*")), "TensorBoard logs under output_dir/runs"
    assert not list(tmp_path.rglob("*wandb*"))
    fig = plot_loss_curves(trainer.state.log_history)
    lines = {l.get_label(): l for l in fig.axes[0].get_lines()}
    assert len(lines["train"].get_xdata()) == 6 and list(lines["eval (fixed masks)"].get_xdata()) == [2, 4, 6]
