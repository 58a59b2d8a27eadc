"Loading models safely (hub id or local directory), the small offline config, parameter and compute counts."
import pytest, torch
from transformers import (AutoModelForMaskedLM, BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertForMaskedLM,
                          RobertaConfig, RobertaForMaskedLM, pipeline)
import mlm_course.model as model_module
from mlm_course.model import count_parameters, flops_per_token, load_model, small_mlm_config
from mlm_course.tokenizer import offline_tokenizer
from mlm_course.utils import ModelError

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def tok(): return offline_tokenizer()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tok):
    "A local stand-in for a hub checkpoint: a directory written by save_pretrained."
    d = tmp_path_factory.mktemp("saved")
    torch.manual_seed(0)
    model = load_model("builtin", tok, **TINY).eval()
    model.save_pretrained(d); tok.save_pretrained(d)
    return d, model


def test_small_config_matches_tokenizer(tok):
    cfg = small_mlm_config(tok)
    assert cfg.vocab_size == len(tok) and cfg.model_type == "roberta"
    assert (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id) == (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id)
    assert small_mlm_config(tok, hidden_size=64, num_attention_heads=2).hidden_size == 64


def test_builtin_model_takes_max_length_tokens(tok):
    "RoBERTa numbers positions from pad_id + 1: a 512-token input needs 514 position embeddings."
    model = load_model("builtin", tok, **TINY, max_length=512).eval()
    ids = torch.randint(5, len(tok), (1, 512))
    assert model(input_ids=ids).logits.shape == (1, 512, len(tok))


def test_builtin_needs_a_tokenizer():
    with pytest.raises(ModelError, match="tokenizer"): load_model("builtin")


def test_local_directory_round_trip(saved, tok):
    d, model = saved
    assert (d/"model.safetensors").exists() and not list(d.glob("*.bin"))
    reloaded = load_model(str(d)).eval()
    assert type(reloaded) is RobertaForMaskedLM
    x = torch.tensor([tok("Return the absolute value of a number.")["input_ids"]])
    torch.testing.assert_close(reloaded(x).logits, model(x).logits)
    assert len(pipeline("fill-mask", model=reloaded, tokenizer=tok)("Return the <mask>.", top_k=3)) == 3


def test_safe_defaults_reach_from_pretrained(saved, monkeypatch):
    "Safetensors where there are some, pickles only through the weights-only loader, the checkpoint's code only when asked."
    calls = []
    def fake(name, **kwargs): calls.append(kwargs); return "model"
    monkeypatch.setattr(model_module.AutoModelForMaskedLM, "from_pretrained", fake)
    load_model(str(saved[0])); load_model(str(saved[0]), trust_remote_code=True); load_model("someone/a-hub-model")
    safe = dict(weights_only=True, use_safetensors=True)
    assert calls == [dict(safe, trust_remote_code=False), dict(safe, trust_remote_code=True),
                     dict(safe, use_safetensors=None, trust_remote_code=False)]  # a hub id: safetensors if the repo has them


class _Payload:
    "A pickle that would create a file when unpickled by an unrestricted loader."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (open, (self.marker, "w"))


def test_a_pickle_that_runs_code_is_refused(tmp_path, saved):
    "pytorch_model.bin is read with the weights-only loader: a pickle that calls a function is refused, and never runs."
    import torch
    (tmp_path/"config.json").write_text((saved[0]/"config.json").read_text())
    marker = tmp_path.parent/"pickle-ran"
    torch.save({"weight": _Payload(marker)}, tmp_path/"pytorch_model.bin")
    with pytest.raises(ModelError, match="Could not load"): load_model(tmp_path)
    assert not marker.exists()


def test_directory_without_config(tmp_path):
    (tmp_path/"model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="no config.json"): load_model(tmp_path)


def test_hub_id_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="Could not load a masked-language model from 'no-such-user/no-such-model'"):
        load_model("no-such-user/no-such-model")


@pytest.mark.parametrize("model", [
    RobertaForMaskedLM(RobertaConfig(vocab_size=300, **TINY, max_position_embeddings=40)),
    BertForMaskedLM(BertConfig(vocab_size=300, **TINY)),
    DistilBertForMaskedLM(DistilBertConfig(vocab_size=300, dim=32, n_layers=1, n_heads=2, hidden_dim=64)),
], ids=["roberta", "bert", "distilbert"])
def test_count_parameters_covers_every_weight_once(model):
    counts = count_parameters(model)
    assert counts["total"] == model.num_parameters() == sum(counts[k] for k in ("embeddings", "encoder", "lm_head"))
    assert counts["embeddings"] >= 300*32 and counts["encoder"] > 0
    assert counts["lm_head"] < 300*32, "the tied vocabulary matrix is counted in the embeddings, once"


def test_distilroberta_shape_without_download():
    cfg = RobertaConfig(vocab_size=50265, hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1)
    counts = count_parameters(RobertaForMaskedLM(cfg))
    assert counts["total"] == 82_170_201  # the "82 M parameters" of distilbert/distilroberta-base
    f = flops_per_token(cfg, block_size=128)
    assert f["lm_head"] == 768*768 + 768*50265
    assert 0.45 < f["lm_head"] / (f["lm_head"] + f["encoder"]) < 0.5  # almost half the forward pass


def test_cooccurrence_embeddings_bring_tokens_with_shared_contexts_together():
    "Tokens 1 and 2 always sit between 5 and 6; token 3 sits between 7 and 8: 1 is nearer to 2 than to 3."
    import random, torch
    from mlm_course.warm_start import cooccurrence_embeddings
    rng = random.Random(0)
    blocks = [sum((rng.choice([[5, 1, 6], [5, 2, 6], [7, 3, 8], [9, 4, 9]]) for _ in range(40)), []) for _ in range(20)]
    vectors = torch.nn.functional.normalize(cooccurrence_embeddings(blocks, vocab_size=10, dim=6, window=1), dim=1)
    sim = vectors @ vectors.T
    assert sim[1, 2] > sim[1, 3] + 0.3 and sim[1, 2] > sim[1, 4] + 0.3
    again = torch.nn.functional.normalize(cooccurrence_embeddings(blocks, vocab_size=10, dim=6, window=1), dim=1)
    torch.testing.assert_close(again, vectors)  # seeded: the same counts give the same vectors


def test_warm_start_sets_words_and_positions_in_place():
    import torch
    from mlm_course.model import load_model
    from mlm_course.warm_start import warm_start, sinusoidal_positions
    from mlm_course.tokenizer import offline_tokenizer
    tok = offline_tokenizer()
    model = load_model("builtin", tok, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ids = [tok("Return the absolute value of a number. Return a new list.")["input_ids"] * 4 for _ in range(3)]
    assert warm_start(model, ids) is model
    torch.testing.assert_close(model.roberta.embeddings.position_embeddings.weight,
                               sinusoidal_positions(*model.roberta.embeddings.position_embeddings.weight.shape))
    assert model.lm_head.decoder.weight is model.get_input_embeddings().weight
