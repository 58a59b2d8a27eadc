"""`mlm-course run` is the one driver (issue 13): any masked-LM family, the precision and speed options of
`TrainingArguments`, the data options of `run_mlm.py` (strategies, streaming, sample limits, validation files), the
hub upload with its model card, and one-line errors for bad values. Each run trains a tiny local model (no
download) for 3 steps on a small local corpus, in this process (`main([...])`, the console script's function)."""
import json
from pathlib import Path
import pytest

from mlm_course.cli import main
from mlm_course.run import parse_run

FAMILIES = ["bert", "roberta", "albert", "electra", "deberta-v2", "modernbert", "xlm-roberta"]
VARIANTS = {"plain": [],  # and with the options a user from run_mlm.py turns on first, then a streamed corpus
            "bf16-accumulate-pad": ["--bf16", "--gradient-accumulation-steps", "2", "--strategy", "pad"],
            "streaming": ["--streaming", "--max-eval-samples", "20"]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    "120 documents of the built-in corpus as a local JSON-lines file."
    from mlm_course.data import builtin_corpus
    path = tmp_path_factory.mktemp("data")/"docs.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in builtin_corpus()["train"].select(range(120))["text"]))
    return path


def run(out:Path, model, corpus, *extra) -> dict:
    "Run `mlm-course run` for 3 steps of 4 blocks of 64 tokens; its report."
    args = ["run", "--output-dir", str(out), "--model", str(model), "--dataset", str(corpus), "--max-steps", "3",
            "--batch-size", "4", "--block-size", "64", "--mask-draws", "1", "--logging-steps", "1", "--quiet", *extra]
    assert main(args) == 0
    return json.loads((out/"report.json").read_text())


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_with_the_common_options(tmp_path, family_dir, corpus, family, variant):
    report = run(tmp_path/"out", family_dir(family), corpus, *VARIANTS[variant])
    assert len(report["losses"]) == 3 and all(loss > 0 for loss in report["losses"])
    assert report["perplexity_before"] > 1 and report["perplexity_after"] > 1
    assert report["gradient_accumulation_steps"] == (2 if variant == "bf16-accumulate-pad" else 1)
    if variant == "bf16-accumulate-pad": assert report["bf16"] is True and report["strategy"] == "pad"
    if variant == "streaming": assert report["streaming"] is True and report["n_train_blocks"] is None
    assert (tmp_path/"out"/"model.safetensors").is_file() and (tmp_path/"out"/"README.md").is_file()


def test_sparse_where_known_dense_elsewhere_and_overridable(tmp_path, family_dir, corpus, capsys):
    assert run(tmp_path/"roberta", family_dir("roberta"), corpus)["sparse"] is True
    albert = run(tmp_path/"albert", family_dir("albert"), corpus)
    assert albert["sparse"] is False and "dense loss" in capsys.readouterr().err
    assert run(tmp_path/"no-sparse", family_dir("roberta"), corpus, "--no-sparse")["sparse"] is False


def test_options_reach_the_trainer_unchanged():
    model, data, output, args = parse_run(["--output-dir", "x", "--tf32", "false", "--lr-scheduler-type", "cosine",
                                           "--warmup-ratio", "0.1", "--eval-steps", "7", "--dataloader-num-workers", "2",
                                           "--torch-compile", "--fill-mask", "A <mask>.", "Two <mask>.",
                                           "--fill-mask", "Three <mask>.",
                                           "--validation-split-percentage", "10", "--strategy", "overflow"])
    assert (args.lr_scheduler_type, args.warmup_steps, args.eval_steps, args.dataloader_num_workers, args.torch_compile) \
        == ("cosine", 0.1, 7, 2, True)
    assert output.fill_mask == ["A <mask>.", "Two <mask>.", "Three <mask>."] and data.validation_split_percentage == 10
    assert data.strategy == "overflow" and model.sparse is None


def test_validation_file_and_sample_limits(tmp_path, family_dir, corpus):
    report = run(tmp_path/"out", family_dir("bert"), corpus, "--validation-file", str(corpus),
                 "--max-train-samples", "10", "--max-eval-samples", "5", "--fill-mask", "The <mask> returns a value.")
    assert (report["n_train_blocks"], report["n_eval_blocks"]) == (10, 5)
    assert report["fill_mask"][0]["text"] == "The [MASK] returns a value."  # the model's own mask token


@pytest.mark.parametrize("args,message", [
    (["--strategy", "lines"], "invalid choice"),
    (["--streaming"], "--max-steps"),
    (["--gradient-accumulation-steps", "0"], "--gradient-accumulation-steps"),
    (["--config-overrides", "layers=2"], "--config-overrides"),
    (["--push-to-hub"], "--hub-model-id"),
    (["--hub-token", "hf_x"], "HF_TOKEN"),
    (["--lr-scheduler-type", "sometimes"], "invalid choice"),
    (["--bf16", "--fp16"], "Fix:"),
    (["--replay", "general_english", "--replay-fraction", "0"], "--replay-fraction"),
    (["--replay", "general_english", "--replay-fraction", "1"], "--replay-fraction"),
    (["--replay", "no/such/general.jsonl"], "cannot be read"),
])
def test_bad_options_fail_in_one_line_before_any_work(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) if "invalid choice" in message else _no_exit():
        assert main(["run", "--output-dir", str(tmp_path/"out"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path/"out").exists() or not any((tmp_path/"out").iterdir())


class _no_exit:
    def __enter__(self): return self
    def __exit__(self, *exc): return False


def test_push_to_hub_sends_model_and_card_never_the_token(tmp_path, family_dir, corpus, monkeypatch, capsys):
    "The hub calls are stubbed where they would reach the network: the repository's creation and the folder upload."
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects
    sent = {}
    monkeypatch.setenv("HF_TOKEN", "hf_secret_never_written")
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: sent.update(repo=repo_id))
    def upload_folder(self, repo_id, folder_path, ignore_patterns=None, **kw):  # what upload_folder would send
        paths = [str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file()]
        sent.update(files={f: (Path(folder_path)/f).read_bytes() for f in filter_repo_objects(paths, ignore_patterns=ignore_patterns)})
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    out = tmp_path/"out"
    run(out, family_dir("roberta"), corpus, "--push-to-hub", "--hub-model-id", "someone/tiny-mlm")
    assert sent["repo"] == "someone/tiny-mlm"
    files = sent["files"]
    assert {"README.md", "model.safetensors", "config.json", "report.json", "tokenizer.json"} <= set(files)
    assert not [f for f in files if f.startswith("checkpoints/")]
    card = files["README.md"].decode()
    assert "pipeline_tag: fill-mask" in card and "Perplexity" in card and "--hub-model-id someone/tiny-mlm" in card
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert b"hf_secret_never_written" not in written + capsys.readouterr().out.encode()


def test_help_lists_the_subcommands_and_the_groups(capsys):
    assert main(["--help"]) == 0
    err = capsys.readouterr().err
    assert all(f"  {c} " in err for c in ("run", "pretrain", "evaluate", "fill-mask"))
    with pytest.raises(SystemExit): main(["run", "--help"])
    out = capsys.readouterr().out
    assert all(g in out for g in ("model:", "data:", "output:", "--bf16", "--push-to-hub", "--strategy"))


def test_replay_mixes_the_asked_share_into_training_only(tmp_path, family_dir, corpus):
    """--replay: general text is `--replay-fraction` of the training blocks (to one block); the evaluation blocks and
    their masks are the domain's, exactly as without replay."""
    from mlm_course.run import job_inputs, job_settings
    from mlm_course.utils import DataError
    general = tmp_path/"general.jsonl"  # stand-in general text: other documents of the built-in corpus
    from mlm_course.data import builtin_corpus
    general.write_text("\n".join(json.dumps({"text": t}) for t in builtin_corpus()["validation"]["text"]))
    common = dict(output_dir=str(tmp_path/"x"), model=str(family_dir("roberta")), dataset=str(corpus), block_size=64,
                  mask_draws=2)
    *_, plain_train, plain_eval, none = job_inputs(*job_settings(**common)[:2])
    for fraction in (0.1, 0.25, 0.5):
        *_, train, evals, n = job_inputs(*job_settings(**common, replay=str(general), replay_fraction=fraction)[:2])
        assert n == len(train) - len(plain_train) and abs(n / len(train) - fraction) <= 1 / len(train)
        assert [e["input_ids"] for e in evals] == [e["input_ids"] for e in plain_eval]
        assert [e["labels"] for e in evals] == [e["labels"] for e in plain_eval]
        domain_rows = set(map(tuple, plain_train["input_ids"]))
        assert sum(tuple(r) not in domain_rows for r in train["input_ids"]) == n  # the rest is the domain's, unchanged
    assert none == 0
    report = run(tmp_path/"out", family_dir("roberta"), corpus, "--replay", str(general), "--replay-fraction", "0.25")
    assert (report["replay"], report["replay_fraction"]) == (str(general), 0.25) and report["n_replay_blocks"] > 0
    assert "general text" in (tmp_path/"out"/"README.md").read_text()
    with pytest.raises(DataError, match="smaller --replay-fraction"):  # not enough general text for the share
        tiny = tmp_path/"tiny.jsonl"; tiny.write_text(json.dumps({"text": "A few words."}) + "\n" + json.dumps({"text": "More."}))
        job_inputs(*job_settings(**common, replay=str(tiny), replay_fraction=0.5)[:2])
