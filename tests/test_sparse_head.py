"Sparse prediction (LM head on masked positions only) gives the model's own loss and gradients, for three heads."
import pytest, torch
from transformers import (AlbertConfig, AlbertForMaskedLM, BertConfig, BertForMaskedLM, DebertaV2Config,
                          DebertaV2ForMaskedLM, DistilBertConfig, DistilBertForMaskedLM, ElectraConfig, ElectraForMaskedLM,
                          ModernBertConfig, ModernBertForMaskedLM, RobertaConfig, RobertaForMaskedLM,
                          AutoModelForMaskedLM, pipeline)
from mlm_course.sparse import sparse_mlm_loss, sparse_supported, mlm_head

V = 300
MODELS = {
    "roberta": lambda: RobertaForMaskedLM(RobertaConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=70, pad_token_id=1)),
    "bert": lambda: BertForMaskedLM(BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)),
    "distilbert": lambda: DistilBertForMaskedLM(DistilBertConfig(vocab_size=V, dim=32, n_layers=2, n_heads=2,
                          hidden_dim=64, max_position_embeddings=64)),
    "deberta-v2": lambda: DebertaV2ForMaskedLM(DebertaV2Config(vocab_size=V, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)),  # legacy head: `cls`
    "modernbert": lambda: ModernBertForMaskedLM(ModernBertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, pad_token_id=0,
                          global_attn_every_n_layers=2, local_attention=16, attn_implementation="eager")),
}
SMALL = dict(vocab_size=V, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
UNKNOWN_HEADS = {  # their own (dense) loss: make_trainer falls back, evaluate_perplexity uses their full output
    "albert": lambda: AlbertForMaskedLM(AlbertConfig(embedding_size=16, **SMALL)),  # `predictions`
    "electra": lambda: ElectraForMaskedLM(ElectraConfig(embedding_size=16, **SMALL)),  # `generator_lm_head`
    "deberta-v2 (new head)": lambda: DebertaV2ForMaskedLM(DebertaV2Config(legacy=False, **SMALL)),  # `lm_predictions`
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


def test_known_heads_are_supported():
    assert all(sparse_supported(make()) for make in MODELS.values())


@pytest.mark.parametrize("arch", list(UNKNOWN_HEADS))
def test_unknown_head_is_a_clear_error(arch):
    from mlm_course.utils import ModelError
    model = UNKNOWN_HEADS[arch]()
    assert not sparse_supported(model)
    with pytest.raises(ModelError, match="No known LM head"): mlm_head(model)


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


@pytest.mark.parametrize("arch", ["roberta", "bert"])
def test_training_mode_is_identical_with_dropout(arch):
    """In training mode, with dropout: the last layer computed on masked rows only draws the same random numbers as
    the full layer (on the CPU), so loss and gradients equal the dense model's."""
    model = MODELS[arch]().train()
    batch = masked_batch(seed=2)
    torch.manual_seed(5); dense = model(**batch).loss; dense.backward(); g_dense = grads(model); model.zero_grad()
    torch.manual_seed(5); sparse = sparse_mlm_loss(model, batch); sparse.backward(); g_sparse = grads(model)
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=0)
    for name in g_dense:
        torch.testing.assert_close(g_sparse[name], g_dense[name], rtol=1e-5, atol=1e-7, msg=name)
    torch.manual_seed(6); other = sparse_mlm_loss(model, batch)
    assert abs(other.item() - sparse.item()) > 1e-4, "another seed, other dropout: the check can fail"


@pytest.mark.parametrize("arch, rows_only", [("roberta", True), ("bert", True), ("distilbert", False)])
def test_last_layer_runs_on_masked_rows_only(arch, rows_only):
    "BERT-style last layers run their feed-forward on the scored rows only; other layouts fall back to the full layer."
    model = MODELS[arch]().eval()
    last = model.base_model.encoder.layer[-1].intermediate.dense if arch != "distilbert" else model.distilbert.transformer.layer[-1].ffn.lin1
    rows = []
    last.register_forward_hook(lambda m, i, o: rows.append(i[0].reshape(-1, i[0].shape[-1]).shape[0]))
    batch = masked_batch(seed=3)
    sparse_mlm_loss(model, batch)
    n_scored, n_all = int((batch["labels"] != -100).sum()), batch["input_ids"].numel()
    assert rows == [n_scored if rows_only else n_all]
    assert len(model.base_model.encoder.layer if arch != "distilbert" else model.distilbert.transformer.layer) == 2, \
        "the encoder gets its last layer back"


@pytest.mark.parametrize("tie", [True, False])
def test_embedding_gradient_stays_dense(tie):
    "The input embedding's sparse gradient is only used with tied weights, and the optimiser always sees a dense one."
    model = RobertaForMaskedLM(RobertaConfig(vocab_size=V, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                             intermediate_size=64, max_position_embeddings=70, pad_token_id=1,
                                             tie_word_embeddings=tie))
    assert (model.lm_head.decoder.weight is model.roberta.embeddings.word_embeddings.weight) == tie
    sparse_mlm_loss(model, masked_batch(seed=4)).backward()
    for p in (model.roberta.embeddings.word_embeddings.weight, model.lm_head.decoder.weight):
        assert p.grad is not None and p.grad.layout == torch.strided
    assert not model.roberta.embeddings.word_embeddings.sparse, "the embedding is restored"


def documents_batch(model, seed=2):
    "`masked_batch` with separators (id 2) splitting each row into documents, as `mlm_collator(documents=True)` sees it."
    from mlm_course.masking import document_attention
    from mlm_course.training import position_offset
    batch = masked_batch(seed)
    batch["input_ids"][:, [11, 30]] = 2; batch["labels"][:, [11, 30]] = -100  # three documents per row
    return {**batch, **document_attention(batch["input_ids"], batch["attention_mask"], 2, position_offset(model))}


@pytest.mark.parametrize("arch", ["roberta", "bert"])
def test_documents_apart_sparse_equals_dense(arch):
    torch.manual_seed(0)
    model = MODELS[arch]().eval()
    batch = documents_batch(model)
    dense = model(**batch).loss; dense.backward(); g_dense = grads(model); model.zero_grad()
    sparse = sparse_mlm_loss(model, batch); sparse.backward(); g_sparse = grads(model)
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=0)
    for name in g_dense:
        torch.testing.assert_close(g_sparse[name], g_dense[name], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("arch", ["roberta", "bert"])
def test_documents_apart_equals_each_document_alone(arch):
    "Oracle: within a packed row, each document's logits are those of the document run on its own (positions reset)."
    torch.manual_seed(0)
    model = MODELS[arch]().eval()
    batch = documents_batch(model)
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       position_ids=batch["position_ids"]).logits
        for a, b in [(0, 12), (12, 31), (31, 48)]:  # documents of row 1 (row 0 has padding at the end)
            alone = model(input_ids=batch["input_ids"][1:2, a:b]).logits
            torch.testing.assert_close(packed[1:2, a:b], alone, rtol=1e-4, atol=1e-5)
        wrong = model(input_ids=batch["input_ids"][1:2, 12:31], position_ids=torch.arange(19)[None]).logits
        if arch == "roberta":  # RoBERTa's positions start at padding_idx + 1 = 2: counting from 0 is another input
            assert (packed[1:2, 12:31] - wrong).abs().max() > 1e-3
