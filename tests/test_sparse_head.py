"Sparse prediction (LM head on masked positions only) gives the model's own loss and gradients, for three heads."
import pytest, torch
from transformers import (BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertForMaskedLM, RobertaConfig,
                          RobertaForMaskedLM, AutoModelForMaskedLM, pipeline)
from mlm_course.training import sparse_mlm_loss, mlm_head

V = 300
MODELS = {
    "roberta": lambda: RobertaForMaskedLM(RobertaConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=70, pad_token_id=1)),
    "bert": lambda: BertForMaskedLM(BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)),
    "distilbert": lambda: DistilBertForMaskedLM(DistilBertConfig(vocab_size=V, dim=32, n_layers=2, n_heads=2,
                          hidden_dim=64, max_position_embeddings=64)),
}


def masked_batch(seed=0, batch=4, length=48):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (batch, length), generator=g)
    labels = torch.full_like(ids, -100)
    chosen = torch.rand(batch, length, generator=g) < 0.15
    labels[chosen] = ids[chosen]
    ids[chosen] = 4
    mask = torch.ones_like(ids); mask[0, -10:] = 0; labels[0, -10:] = -100  # some padding too
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def grads(model):
    return {n: p.grad.detach().clone() for n,p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("arch", list(MODELS))
def test_same_loss_and_gradients(arch):
    torch.manual_seed(0)
    model = MODELS[arch]().eval()
    batch = masked_batch()
    dense = model(**batch).loss; dense.backward(); g_dense = grads(model); model.zero_grad()
    sparse = sparse_mlm_loss(model, batch); sparse.backward(); g_sparse = grads(model)
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=0)
    assert g_dense.keys() == g_sparse.keys()
    for name in g_dense:
        torch.testing.assert_close(g_sparse[name], g_dense[name], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("arch", list(MODELS))
def test_sum_normalisation_matches_mean(arch):
    "With num_items = the batch's masked count (how the Trainer calls it), the loss is the same mean."
    model = MODELS[arch]().eval()
    batch = masked_batch(seed=1)
    n = (batch["labels"] != -100).sum()
    torch.testing.assert_close(sparse_mlm_loss(model, batch, n), sparse_mlm_loss(model, batch), rtol=1e-6, atol=0)


def test_unknown_head_is_a_clear_error():
    from mlm_course.utils import ModelError
    with pytest.raises(ModelError, match="No known LM head"): mlm_head(torch.nn.Linear(2, 2))


def test_trained_sparse_model_is_a_standard_checkpoint(tmp_path):
    "Training with SparseMLMTrainer changes nothing in the model class: the saved directory loads as usual."
    from mlm_course.tokenizer import offline_tokenizer
    from mlm_course.model import load_model
    from mlm_course.training import make_trainer, mlm_training_args
    tok = offline_tokenizer()
    model = load_model("builtin", tok, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    blocks = [{"input_ids": tok("The if statement is used for conditional execution. " * 8,
                                truncation=True, max_length=64)["input_ids"]} for _ in range(16)]
    args = mlm_training_args(tmp_path/"ckpt", max_steps=3, per_device_train_batch_size=8, eval_strategy="no",
                             save_strategy="no", report_to=[], disable_tqdm=True, learning_rate=1e-3)
    trainer = make_trainer(model, tok, blocks, None, args)
    before = model.lm_head.decoder.weight.detach().clone()
    trainer.train()
    assert not torch.equal(before, model.lm_head.decoder.weight), "the head is trained through the sparse loss"
    trainer.save_model(str(tmp_path/"model")); tok.save_pretrained(tmp_path/"model")
    assert type(AutoModelForMaskedLM.from_pretrained(tmp_path/"model")).__name__ == "RobertaForMaskedLM"
    assert len(pipeline("fill-mask", model=str(tmp_path/"model"))("Return the <mask>.", top_k=2)) == 2


@pytest.mark.parametrize("bf16", [False, True])
def test_sparse_trainer_honours_mixed_precision(tmp_path, bf16):
    """`bf16=True` must reach the sparse loss: Accelerate puts autocast around `model.forward`, which the sparse loss
    does not call, so `SparseMLMTrainer` opens Accelerate's autocast itself (bf16 autocast runs on CPUs too)."""
    from mlm_course.tokenizer import offline_tokenizer
    from mlm_course.model import load_model
    from mlm_course.training import make_trainer, mlm_training_args
    tok = offline_tokenizer()
    model = load_model("builtin", tok, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    seen = []
    model.roberta.encoder.layer[0].intermediate.dense.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    blocks = [{"input_ids": tok("Return the absolute value of a number. " * 8, truncation=True, max_length=64)["input_ids"]}
              for _ in range(8)]
    args = mlm_training_args(tmp_path, max_steps=1, per_device_train_batch_size=8, eval_strategy="no", save_strategy="no",
                             report_to=[], disable_tqdm=True, bf16=bf16, use_cpu=True)
    make_trainer(model, tok, blocks, None, args).train()
    assert seen and set(seen) == {torch.bfloat16 if bf16 else torch.float32}
