"End-to-end tests of the `mlm-course` command with tiny configurations (seconds each)."
import gzip, json, subprocess, sys
from pathlib import Path
import pytest

REPORT_KEYS = {"model", "dataset", "n_train_blocks", "n_eval_blocks", "block_size", "mlm_probability",
               "train_runtime_s", "train_samples_per_second", "eval_loss_before", "perplexity_before",
               "eval_loss_after", "perplexity_after", "fill_mask", "perplexity_before_std", "perplexity_after_std",
               "n_mask_draws"}


def mlm_course(*args, check=True):
    "Run the installed console script and return the completed process."
    exe = Path(sys.executable).parent/"mlm-course"
    p = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=600)
    if check: assert p.returncode == 0, p.stderr[-3000:]
    return p


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    "One tiny offline run of the main job, shared by the tests that inspect its output."
    out = tmp_path_factory.mktemp("run")/"out"
    mlm_course("run", "--output-dir", out, "--max-steps", 4, "--batch-size", 8, "--quiet")
    return out


def test_run_writes_report_model_and_figure(tiny_run):
    report = json.loads((tiny_run/"report.json").read_text())
    assert REPORT_KEYS <= report.keys()
    assert report["n_train_blocks"] > 100 and report["n_eval_blocks"] > 10
    assert report["perplexity_before"] > 0 and report["perplexity_after"] > 0
    for when in ("before", "after"):  # masked-token accuracy on the same fixed masks
        assert 0 <= report[f"accuracy_{when}"] <= report[f"top3_accuracy_{when}"] <= 1
    assert report["model"] == "course-base"  # the default job adapts the course's pretrained model
    assert all(len(ex["before"]) == len(ex["after"]) == 3 for ex in report["fill_mask"])  # base and adapted answers
    assert all(isinstance(w, str) and 0 <= p <= 1 for ex in report["fill_mask"] for w,p in ex["before"] + ex["after"])
    assert report["warm_start"] is False and isinstance(report["bf16"], bool)
    assert (report["mlm_probability"], report["train_mlm_probability"], report["learning_rate"]) == (0.15, 0.15, 5e-4)
    assert "general_perplexity_before" not in report  # only with --general-eval
    assert (tiny_run/"loss_curve.png").stat().st_size > 1000
    assert report["n_mask_draws"] == 3  # perplexity with its spread over 3 evaluation mask draws
    assert 0 < report["perplexity_after_std"] < 0.2 * report["perplexity_after"]
    assert (tiny_run/"model.safetensors").exists() and (tiny_run/"config.json").exists()
    assert not list(tiny_run.glob("*.bin")), "weights must be saved as safetensors only"


def test_general_eval_reports_forgetting(tmp_path, shared_data):
    "--general-eval scores general English (WikiText) before and after: what adaptation forgets."
    out, wiki = tmp_path/"out", tmp_path/"wiki.test.raw"  # the first 400 lines of WikiText-2 test: a quick check
    wiki.write_text("".join((shared_data/"wikitext2_raw"/"wiki.test.raw").read_text().splitlines(keepends=True)[:400]))
    mlm_course("run", "--output-dir", out, "--max-steps", 3, "--batch-size", 8, "--quiet", "--mask-draws", 1,
               "--general-eval", wiki)
    report = json.loads((out/"report.json").read_text())
    assert report["n_general_blocks"] > 100
    assert 5 < report["general_perplexity_before"] < 100  # course-base knows general English
    assert report["general_perplexity_after"] > 0 and 0 <= report["general_accuracy_after"] <= 1
    p = mlm_course("run", "--output-dir", tmp_path/"x", "--general-eval", tmp_path/"none.raw", check=False)
    assert p.returncode == 2 and "--general-eval" in p.stderr and "Traceback" not in p.stderr


def test_course_base_by_name(tmp_path):
    "`course-base` loads by name in every subcommand and as a plain directory in 🤗's pipeline."
    from transformers import pipeline
    from mlm_course.utils import course_base_dir
    fm = json.loads(mlm_course("fill-mask", "--model", "course-base", "--top-k", 5,
                               "--text", "She was born in a small <mask> in the north of England.").stdout)
    words = [p["token_str"].strip() for p in fm[0]["predictions"]]
    assert len(words) == 5 and "village" in words
    fill = pipeline("fill-mask", model=str(course_base_dir()))
    assert fill.model.dtype.is_floating_point and str(fill.model.dtype) == "torch.float32"  # fp16 on disk, fp32 loaded
    assert [p["token_str"] for p in fill("She was born in a small <mask> in the north of England.", top_k=5)] == \
           [p["token_str"] for p in fm[0]["predictions"]]
    size = sum(f.stat().st_size for f in course_base_dir().iterdir())
    assert size <= 25e6, f"course-base is {size/1e6:.1f} MB: the package limit is 25 MB"
    card = (course_base_dir()/"README.md").read_text()
    assert "CC BY-SA 3.0" in card and "wikitext2_test" in card and "Recipe" in card


def test_output_dir_loads_in_fill_mask_pipeline(tiny_run):
    from transformers import pipeline
    fill = pipeline("fill-mask", model=str(tiny_run))
    preds = fill("The <mask> statement is used for conditional execution.", top_k=2)
    assert len(preds) == 2 and all("token_str" in p for p in preds)


def test_evaluate_and_fill_mask_subcommands(tiny_run):
    ev = json.loads(mlm_course("evaluate", "--model", tiny_run).stdout)
    report = json.loads((tiny_run/"report.json").read_text())
    assert ev["perplexity"] == pytest.approx(report["perplexity_after"], rel=1e-4)  # same deterministic masks
    assert ev["accuracy"] == pytest.approx(report["accuracy_after"], abs=0.01)
    assert ev["top3_accuracy"] == pytest.approx(report["top3_accuracy_after"], abs=0.01)
    assert ev["perplexity_std"] == pytest.approx(report["perplexity_after_std"], rel=1e-3) and ev["n_draws"] == 3
    one = json.loads(mlm_course("evaluate", "--model", tiny_run, "--mask-draws", 1).stdout)
    assert one["perplexity_std"] == 0 and one["perplexity"] != pytest.approx(ev["perplexity"], rel=1e-6)
    assert "pseudo_perplexity" not in one  # only when asked: every token masked in turn is slow
    pseudo = json.loads(mlm_course("evaluate", "--model", tiny_run, "--mask-draws", 1, "--pseudo-perplexity",
                                   "--pseudo-texts", 3).stdout)
    assert pseudo["pseudo_n_texts"] == 3 and pseudo["pseudo_n_tokens"] > 3 and 1 < pseudo["pseudo_perplexity"] < 1000
    assert pseudo["perplexity"] == pytest.approx(one["perplexity"], rel=1e-6)  # the usual score is unchanged
    refused = mlm_course("evaluate", "--model", tiny_run, "--pseudo-perplexity", "--pseudo-texts", 0, check=False)
    assert refused.returncode == 2 and "--pseudo-texts must be positive" in refused.stderr
    fm = json.loads(mlm_course("fill-mask", "--model", tiny_run, "--text", "Return the <mask> value.", "--top-k", 4).stdout)
    assert len(fm[0]["predictions"]) == 4


def test_refuses_to_mix_runs(tiny_run):
    p = mlm_course("run", "--output-dir", tiny_run, "--max-steps", 1, check=False)
    assert p.returncode == 2
    assert "already holds results" in p.stderr and "--overwrite" in p.stderr
    assert "Traceback" not in p.stderr
    assert (tiny_run/"report.json").exists(), "the earlier run's results must be left alone"


@pytest.mark.parametrize("args,message", [
    (["--mlm-probability", "1.5"], "mlm-probability"),
    (["--block-size", "0"], "block-size"),
    (["--mask-draws", "0"], "mask-draws"),
    (["--dataset", "/no/such/file.jsonl"], "no/such/file.jsonl"),
])
def test_bad_settings_fail_in_one_line(tmp_path, args, message):
    p = mlm_course("run", "--output-dir", tmp_path/"out", *args, check=False)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path/"out"/"report.json").exists()


def test_colab_path_on_local_stand_ins(tmp_path, eli5_test_file):
    """The reference job's code path (pretrained model dir + ELI5 data) on stand-ins of the same shape:
    a `save_pretrained` directory instead of distilroberta-base, the ELI5 release file instead of the hub."""
    from transformers import RobertaConfig, RobertaForMaskedLM
    from mlm_course.tokenizer import offline_tokenizer
    tok = offline_tokenizer()
    cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=130, pad_token_id=tok.pad_token_id,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model_dir = tmp_path/"pretrained"
    RobertaForMaskedLM(cfg).save_pretrained(model_dir); tok.save_pretrained(model_dir)
    # 200 ELI5 questions, same format as the release file
    rows = json.loads(gzip.open(eli5_test_file).read())[:200]
    small = tmp_path/"eli5-small.json.gz"
    small.write_bytes(gzip.compress(json.dumps(rows).encode()))
    out = tmp_path/"out"
    mlm_course("run", "--output-dir", out, "--model", model_dir, "--dataset", small, "--max-steps", 2, "--quiet")
    report = json.loads((out/"report.json").read_text())
    assert report["learning_rate"] == 2e-5 and report["block_size"] == 128  # the reference settings
    assert report["n_train_blocks"] > 50


def test_a_log_file_gets_plain_progress_lines(tmp_path):
    "Output sent to a file (not a terminal): a plain line per tenth of training and per evaluation, no control codes."
    out = tmp_path/"out"
    p = mlm_course("run", "--output-dir", out, "--model", "builtin", "--max-steps", 10, "--batch-size", 4,
                   "--block-size", 32, "--max-train-samples", 40, "--mask-draws", 1, "--eval-strategy", "steps",
                   "--eval-steps", 5)
    assert "\x1b" not in p.stderr and "\r" not in p.stderr, p.stderr[:500]
    lines = [line for line in p.stderr.splitlines() if line.startswith("mlm_course: ")]
    assert [line for line in lines if "%" in line][-1].startswith("mlm_course: training 100% (10/10 steps")
    assert sum("evaluation at step" in line for line in lines) == 2
    assert "{'loss'" not in p.stdout and "perplexity" in p.stdout  # the summary, not the Trainer's dictionaries
    assert "mlm_course: scoring the model before training" in p.stderr and "mlm_course: scoring the trained model" in p.stderr


def test_downstream_subcommand_on_a_labelled_file(tmp_path, family_dir):
    "`mlm-course downstream`: a labelled CSV with other column names, three starts, two seeds: report.json with mean ± std."
    from mlm_course.data import builtin_corpus
    texts = builtin_corpus()["train"].select(range(60))["text"]
    rows = ["body,topic"] + [f'"{t[:200].replace(chr(34), "")}",{"func" if "return" in t.lower() else "other"}' for t in texts]
    (tmp_path/"labelled.csv").write_text("\n".join(rows))
    out = tmp_path/"study"
    p = mlm_course("downstream", "--data", tmp_path/"labelled.csv", "--output-dir", out, "--base", family_dir("roberta"),
                   "--text-column", "body", "--label-column", "topic", "--n-train", 20, "--n-test", 20,
                   "--adapt-steps", 2, "--seeds", 0, 1, "--num-train-epochs", 1)
    report = json.loads((out/"report.json").read_text())
    assert json.loads(p.stdout) == report
    assert len(report["results"]) == 3 and all(len(r["runs"]) == 2 and "accuracy_std" in r for r in report["results"].values())
    refused = mlm_course("downstream", "--data", tmp_path/"labelled.csv", "--output-dir", out, "--text-column", "body",
                         "--label-column", "topic", "--n-train", 20, "--n-test", 20, check=False)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    missing = mlm_course("downstream", "--data", tmp_path/"labelled.csv", "--output-dir", tmp_path/"x", check=False)
    assert missing.returncode == 2 and "no column 'text' (columns: body, topic)" in missing.stderr
