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
    assert run(tmp_path/"modernbert", family_dir("modernbert"), corpus)["sparse"] is True  # its head and decoder
    albert = run(tmp_path/"albert", family_dir("albert"), corpus)
    assert albert["sparse"] is False and "dense loss" in capsys.readouterr().err
    assert run(tmp_path/"no-sparse", family_dir("roberta"), corpus, "--no-sparse")["sparse"] is False


def test_options_reach_the_trainer_unchanged():
    model, data, output, args = parse_run(["--output-dir", "x", "--tf32", "false", "--lr-scheduler-type", "cosine",
                                           "--warmup-ratio", "0.1", "--eval-steps", "7", "--dataloader-num-workers", "2",
                                           "--torch-compile", "--fill-mask", "A <mask>.", "Two <mask>.",
                                           "--fill-mask", "Three <mask>.",
                                           "--validation-split-percentage", "10", "--strategy", "overflow",
                                           "--report-to", "none"])
    assert (args.lr_scheduler_type, args.warmup_steps, args.eval_steps, args.dataloader_num_workers, args.torch_compile) \
        == ("cosine", 0.1, 7, 2, True)
    assert output.fill_mask == ["A <mask>.", "Two <mask>.", "Three <mask>."] and data.validation_split_percentage == 10
    assert data.strategy == "overflow" and model.sparse is None and args.report_to in (["none"], [], "none")


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
    (["--torch-compile", "--sparse"], "drop --sparse"),
    (["--resume-from-checkpoint", "/no/such/checkpoint-3"], "not a checkpoint folder"),
    (["--early-stopping-patience", "2"], "--load-best-model-at-end"),
    (["--dataloader-num-workers", "2", "--dataloader-persistent-workers"], "first epoch's masks"),
    (["--learning_rat", "1e-4"], "unknown option --learning_rat. Fix: use --learning_rate"),
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


class RecordingApi:
    "Stands in for `huggingface_hub.HfApi` where a run would reach the network: records each call and what it would upload."
    calls = []
    def __init__(self, *a, **kw): pass
    def create_repo(self, repo_id, **kw): RecordingApi.calls.append(("create_repo", repo_id, kw)); return f"https://hf.co/{repo_id}"
    def create_branch(self, repo_id, **kw): RecordingApi.calls.append(("create_branch", repo_id, kw))
    def upload_folder(self, repo_id, folder_path, **kw):
        from huggingface_hub.utils import filter_repo_objects
        paths = [str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file()]
        kept = filter_repo_objects(paths, ignore_patterns=kw.get("ignore_patterns"))
        RecordingApi.calls.append(("upload_folder", repo_id, dict(kw, files={f: (Path(folder_path)/f).read_bytes() for f in kept})))


@pytest.fixture
def hub(monkeypatch):
    "A token in the environment and the recording stand-in instead of `HfApi`; the calls it recorded."
    import huggingface_hub
    monkeypatch.setenv("HF_TOKEN", "hf_secret_never_written")
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    RecordingApi.calls = []
    return RecordingApi.calls


def test_push_to_hub_sends_model_and_card_never_the_token(tmp_path, family_dir, corpus, hub, capsys):
    out = tmp_path/"out"
    run(out, family_dir("roberta"), corpus, "--push-to-hub", "--hub-model-id", "someone/tiny-mlm")
    assert [c[0] for c in hub] == ["create_repo", "upload_folder"]  # --hub-strategy end: one push, at the end
    assert hub[0][1] == "someone/tiny-mlm" and hub[0][2]["private"] is None  # the account's default visibility
    files = hub[1][2]["files"]
    assert {"README.md", "model.safetensors", "config.json", "report.json", "tokenizer.json"} <= set(files)
    assert not [f for f in files if f.startswith("checkpoints/")]
    card = files["README.md"].decode()
    assert "pipeline_tag: fill-mask" in card and "Perplexity" in card and "--hub-model-id someone/tiny-mlm" in card
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert b"hf_secret_never_written" not in written + capsys.readouterr().out.encode()


def test_private_repo_branch_and_checkpoint_pushes_as_asked(tmp_path, family_dir, corpus, hub):
    """--hub-private-repo creates a private repository before training; --hub-revision puts every push on that
    branch; --hub-strategy checkpoint pushes the model at each save and the whole checkpoint to last-checkpoint/."""
    from huggingface_hub import ModelCard
    run(tmp_path/"out", family_dir("roberta"), corpus, "--push-to-hub", "--hub-model-id", "someone/private-mlm",
        "--hub-private-repo", "true", "--hub-revision", "trial", "--hub-strategy", "checkpoint",
        "--save-strategy", "steps", "--save-steps", "2")
    assert hub[0] == ("create_repo", "someone/private-mlm", dict(private=True, exist_ok=True))
    assert hub[1] == ("create_branch", "someone/private-mlm", dict(branch="trial", exist_ok=True))
    uploads = [(kw.get("path_in_repo", "."), kw) for name, _, kw in hub[2:]]
    assert [u[0] for u in uploads] == [".", "last-checkpoint"] * 2 + ["."]  # saves at steps 2 and 3, then the result
    assert [kw["commit_message"] for _, kw in uploads[:4:2]] == [f"Training in progress, step {n}" for n in (2, 3)]
    assert all(kw["revision"] == "trial" for _, kw in uploads)
    assert "model.safetensors" in uploads[0][1]["files"] and "optimizer.pt" not in uploads[0][1]["files"]
    assert {"optimizer.pt", "trainer_state.json", "model.safetensors"} <= set(uploads[1][1]["files"])
    card = ModelCard(uploads[4][1]["files"]["README.md"].decode()).data
    assert card.pipeline_tag == "fill-mask" and card.base_model is None  # a local model: no hub id to link
    assert card.eval_results[0].metric_type == "perplexity" and card.eval_results[0].metric_value > 1


def test_push_without_token_or_stray_hub_options_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path/"hf"))  # no stored token either
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path/"hf"/"token"))
    out = tmp_path/"out"
    assert main(["run", "--output-dir", str(out), "--push-to-hub", "--hub-model-id", "you/x"]) == 2
    assert "needs a hub token" in capsys.readouterr().err and not out.exists()
    assert main(["run", "--output-dir", str(out), "--hub-strategy", "checkpoint"]) == 2
    assert "only with --push-to-hub" in capsys.readouterr().err and not out.exists()


def test_help_lists_the_subcommands_and_the_groups(capsys):
    assert main(["--help"]) == 0
    err = capsys.readouterr().err
    assert all(f"  {c} " in err for c in ("run", "pretrain", "evaluate", "fill-mask"))
    with pytest.raises(SystemExit): main(["run", "--help"])
    out = capsys.readouterr().out
    assert all(g in out for g in ("model:", "data:", "output:", "--bf16", "--push-to-hub", "--strategy"))
    assert out.index("\nmodel:") < out.index("\noutput:") < out.index("\ntraining (every TrainingArguments")  # ours first


def test_resume_from_checkpoint_and_eval_alone(tmp_path, family_dir, corpus):
    """--resume-from-checkpoint PATH continues that checkpoint (here already at --max-steps, so nothing is trained and
    the saved model is the checkpoint's, though the seed differs); --do-eval alone scores and trains nothing."""
    from safetensors.torch import load_file
    model = family_dir("roberta")
    run(tmp_path/"a", model, corpus, "--max-steps", "2", "--seed", "1", "--save-strategy", "steps", "--save-steps", "2")
    checkpoint = tmp_path/"a"/"checkpoints"/"checkpoint-2"
    run(tmp_path/"b", model, corpus, "--max-steps", "2", "--seed", "2", "--resume-from-checkpoint", str(checkpoint))
    saved, resumed = load_file(checkpoint/"model.safetensors"), load_file(tmp_path/"b"/"model.safetensors")
    assert all((saved[k] == resumed[k]).all() for k in saved)
    fresh = load_file(tmp_path/"a"/"model.safetensors")  # the same weights as its checkpoint; another seed would differ:
    run(tmp_path/"c", model, corpus, "--max-steps", "2", "--seed", "2")
    assert any((load_file(tmp_path/"c"/"model.safetensors")[k] != fresh[k]).any() for k in fresh)
    report = run(tmp_path/"eval", model, corpus, "--do-eval")
    assert report["perplexity_before"] > 1 and "perplexity_after" not in report and "losses" not in report
    assert not (tmp_path/"eval"/"model.safetensors").exists() and not (tmp_path/"eval"/"checkpoints").exists()


def test_label_smoothing_and_early_stopping(tmp_path, family_dir, corpus):
    """--label-smoothing-factor changes the sparse loss (it was ignored there); --early-stopping-patience 1 with
    --load-best-model-at-end stops at the first evaluation that is not better (here: loss must rise, so step 2)."""
    plain = run(tmp_path/"plain", "course-base", corpus, "--max-steps", "1")  # a trained model: a random one guesses uniformly, and
    smooth = run(tmp_path/"smooth", "course-base", corpus, "--max-steps", "1", "--label-smoothing-factor", "0.5")  # smoothing changes nothing
    assert plain["sparse"] and smooth["sparse"]
    assert smooth["losses"][0] > 1.5 * plain["losses"][0]  # half of each target spread over 8,192 tokens
    model = family_dir("roberta")
    every_step = ["--eval-strategy", "steps", "--eval-steps", "1", "--save-strategy", "steps", "--save-steps", "1"]
    stopped = run(tmp_path/"stopped", model, corpus, "--max-steps", "6", "--learning-rate", "5e-3", *every_step,
                  "--load-best-model-at-end", "--metric-for-best-model", "loss", "--greater-is-better", "true",
                  "--early-stopping-patience", "1")
    assert len(stopped["losses"]) == 2


def test_option_handling_table_names_real_tests():
    "Every row of lesson 10's table of options the job handles itself names a test that exists."
    from mlm_course.run import OPTION_HANDLING
    here = Path(__file__).parent
    for option, (what, test) in OPTION_HANDLING.items():
        file, _, name = test.partition("::")
        assert f"def {name}(" in (here/file).read_text(), f"{option}: no test {test}"


def test_run_mlm_command_lines_work_unchanged(tmp_path, family_dir, corpus):
    """run_mlm.py's README command lines, with the hub model and data swapped for local stand-ins of the same shape,
    and the same options as one JSON file (HfArgumentParser's convention)."""
    model = family_dir("roberta")
    lines = tmp_path/"train.txt"  # --line_by_line: one document per line
    lines.write_text("\n".join(json.loads(d)["text"].replace("\n", " ") for d in corpus.read_text().splitlines()))
    common = ["--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4", "--max_steps", "2",
              "--max_seq_length", "64", "--mask_draws", "1", "--quiet"]
    report = lambda out: json.loads((out/"report.json").read_text())
    assert main(["run", "--model_name_or_path", str(model), "--dataset_name", str(corpus), "--do_train", "--do_eval",
                 "--output_dir", str(tmp_path/"a"), *common]) == 0
    assert (report(tmp_path/"a")["model"], report(tmp_path/"a")["block_size"]) == (str(model), 64)
    (tmp_path/"b").mkdir(); (tmp_path/"b"/"old.txt").write_text("a previous run")  # --overwrite_output_dir replaces it
    assert main(["run", "--model_name_or_path", str(model), "--train_file", str(lines), "--validation_file", str(lines),
                 "--line_by_line", "--pad_to_max_length", "--preprocessing_num_workers", "1", "--do_train", "--do_eval",
                 "--overwrite_output_dir", "--output_dir", str(tmp_path/"b"), *common]) == 0
    b = report(tmp_path/"b")
    assert (b["strategy"], b["validation_file"], b["num_proc"]) == ("pad", str(lines), 1) and not (tmp_path/"b"/"old.txt").exists()
    config = tmp_path/"args.json"
    config.write_text(json.dumps(dict(model_name_or_path=str(model), dataset_name=str(corpus), output_dir=str(tmp_path/"c"),
                                      do_train=True, do_eval=True, max_seq_length=64, per_device_train_batch_size=4,
                                      max_steps=2, mask_draws=1, quiet=True, line_by_line=False)))
    assert main(["run", str(config)]) == 0
    assert (report(tmp_path/"c")["block_size"], report(tmp_path/"c")["strategy"]) == (64, "group")
    assert parse_run(["--output_dir", "x", "--dataset_config_name", "wikitext-2-raw-v1"])[1].dataset_config == "wikitext-2-raw-v1"


def test_console_summary_for_people_and_json_for_scripts(tmp_path, family_dir, corpus, capsys):
    "A run prints a short summary (scores before → after, fill-mask answers, files); --json prints report.json."
    report = run(tmp_path/"people", family_dir("roberta"), corpus)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 + len(report["fill_mask"]) and lines[1].startswith("  perplexity   ") and " → " in lines[1]
    assert f"  files        {tmp_path/'people'}: model, README.md" in lines[-1]
    report = run(tmp_path/"scripts", family_dir("roberta"), corpus, "--json")
    assert json.loads(capsys.readouterr().out) == report


def test_small_stream_holds_out_a_share_that_fits(tmp_path, family_dir, corpus, capsys):
    """--streaming holds out the first 500 documents by default; a 120-document corpus gets 20% held out instead (with
    a notice), and a one-document corpus a one-line error before any training, never a traceback."""
    report = run(tmp_path/"out", family_dir("roberta"), corpus, "--streaming")
    assert report["n_eval_blocks"] > 0 and len(report["losses"]) == 3
    assert "only 120 documents; holding out 24 (20%)" in capsys.readouterr().err
    one = tmp_path/"one.jsonl"; one.write_text(json.dumps({"text": "A single document."}) + "\n")
    assert main(["run", "--output-dir", str(tmp_path/"one"), "--model", str(family_dir("roberta")), "--dataset", str(one),
                 "--streaming", "--max-steps", "3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "too few to train and evaluate" in err and "Traceback" not in err
    assert not (tmp_path/"one"/"checkpoints").exists()


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


def test_run_mlm_model_options(tmp_path, family_dir, corpus, capsys):
    """run_mlm.py's model options: --tokenizer_name with added tokens resizes the embeddings (the new token is in the
    saved model's vocabulary), --torch_dtype and --attn_implementation reach from_pretrained, --model_revision and
    --cache_dir are passed on, and a checkpoint with only pytorch_model.bin trains through the weights-only loader."""
    import shutil, torch
    from safetensors.torch import load_file
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    roberta = family_dir("roberta")
    tok_dir = tmp_path/"tok"
    tok = AutoTokenizer.from_pretrained(roberta)
    tok.add_tokens(["<py_def>", "<py_class>"]); tok.save_pretrained(tok_dir)
    report = run(tmp_path/"added", roberta, corpus, "--tokenizer_name", str(tok_dir), "--torch_dtype", "float32",
                 "--attn_implementation", "eager", "--model_revision", "main", "--cache_dir", str(tmp_path/"cache"))
    assert "adding 2 rows" in capsys.readouterr().err
    saved = AutoModelForMaskedLM.from_pretrained(tmp_path/"added")
    assert saved.get_input_embeddings().num_embeddings == len(tok) == len(AutoTokenizer.from_pretrained(tmp_path/"added"))
    assert (report["tokenizer"], report["torch_dtype"], report["model_revision"]) == (str(tok_dir), "float32", "main")

    pickled = tmp_path/"pickled"
    shutil.copytree(roberta, pickled)
    weights = load_file(pickled/"model.safetensors"); (pickled/"model.safetensors").unlink()
    torch.save(weights, pickled/"pytorch_model.bin")
    run(tmp_path/"from_bin", pickled, corpus)
    assert "weights-only loader" in capsys.readouterr().err


def test_model_options_refused_for_the_builtin_model(tmp_path, capsys):
    assert main(["run", "--output-dir", str(tmp_path/"out"), "--model", "builtin", "--torch_dtype", "bfloat16"]) == 2
    assert "builtin model is built from scratch" in capsys.readouterr().err


def test_run_mlm_data_sources(tmp_path, corpus, monkeypatch):
    """A folder of split files and a hub dataset keep their own validation split (--validation_split_name picks
    another); a glob and a folder of plain shards train without --streaming."""
    from datasets import Dataset, DatasetDict
    import mlm_course.data
    from mlm_course.run import DataArguments, load_documents
    texts = [json.loads(line)["text"] for line in corpus.read_text().splitlines()]
    folder = tmp_path/"splits"; folder.mkdir()
    (folder/"train.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in texts[:100]))
    (folder/"validation.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in texts[100:]))
    docs = load_documents(DataArguments(dataset=str(folder)))
    assert (len(docs["train"]), sorted(docs["validation"]["text"])) == (100, sorted(texts[100:]))
    streamed = load_documents(DataArguments(dataset=str(folder), streaming=True))  # streamed: the same split
    assert sorted(streamed["validation"]["text"]) == sorted(texts[100:]) and len(list(streamed["train"])) == 100

    hub = DatasetDict(train=Dataset.from_dict({"text": texts[:90]}), validation=Dataset.from_dict({"text": texts[90:100]}),
                      test=Dataset.from_dict({"text": texts[100:]}))
    asked = []
    def fake_load_dataset(path, name=None, **kw): asked.append((path, name, kw)); return hub
    monkeypatch.setattr(mlm_course.data, "load_dataset", fake_load_dataset)
    docs = load_documents(DataArguments(dataset="someone/notes", dataset_config="v1"))
    assert asked[0][:2] == ("someone/notes", "v1") and "split" not in asked[0][2]  # every split, to find validation
    assert (len(docs["train"]), len(docs["validation"])) == (90, 10)
    docs = load_documents(DataArguments(dataset="someone/notes", validation_split_name="test"))
    assert sorted(docs["validation"]["text"]) == sorted(texts[100:])
    monkeypatch.undo()

    shards = tmp_path/"shards"; shards.mkdir()
    for i in range(3): (shards/f"part-{i}.txt").write_text("\n".join(texts[i::3]))
    for source in (shards, shards/"part-*.txt"):
        out = tmp_path/f"out-{len(list(tmp_path.iterdir()))}"
        assert main(["run", "--output-dir", str(out), "--model", "builtin", "--dataset", str(source), "--max-steps", "2",
                     "--batch-size", "4", "--block-size", "32", "--mask-draws", "1", "--quiet"]) == 0


def test_the_trainer_receives_the_options_as_given(tmp_path, family_dir, corpus, monkeypatch):
    """The Trainer that trains gets the TrainingArguments fields as given on the command line; --save_steps alone
    (run_mlm.py's habit) switches saving to steps; the course's own defaults hold where nothing is given."""
    from transformers import Trainer
    seen = []
    real_train = Trainer.train
    def recording_train(self, *a, **kw): seen.append(self.args); return real_train(self, *a, **kw)
    monkeypatch.setattr(Trainer, "train", recording_train)
    run(tmp_path/"given", family_dir("roberta"), corpus, "--lr_scheduler_type", "cosine", "--weight_decay", "0.05",
        "--adam_beta2", "0.98", "--max_grad_norm", "0.5", "--gradient_accumulation_steps", "2", "--save_steps", "2",
        "--save_total_limit", "3", "--warmup_steps", "1", "--optim", "adamw_torch", "--label_names", "labels")
    a = seen[-1]
    assert (a.lr_scheduler_type, a.weight_decay, a.adam_beta2, a.max_grad_norm, a.gradient_accumulation_steps) == \
        ("cosine", 0.05, 0.98, 0.5, 2)
    assert (a.save_strategy, a.save_steps, a.save_total_limit, a.warmup_steps, a.optim) == ("steps", 2, 3, 1, "adamw_torch")
    assert (tmp_path/"given"/"checkpoints"/"checkpoint-2").is_dir()  # saved at step 2, as asked
    run(tmp_path/"defaults", family_dir("roberta"), corpus)
    d = seen[-1]
    assert (d.save_strategy, d.eval_strategy, d.weight_decay, d.save_total_limit, d.logging_steps) == ("epoch", "epoch", 0.01, 2, 1)
    assert d.prediction_loss_only and d.report_to in (["tensorboard"], "tensorboard")
