"""The wheel carries everything a user needs: built from this checkout, installed into a fresh virtual environment
and run away from the repository, `mlm-course` loads `course-base` by name, offline."""
import json, os, shutil, subprocess, sys, sysconfig, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    "A venv with the wheel installed; its other dependencies come from this environment (no download)."
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp/"src"  # the files git tracks, without the egg-info an editable install leaves (it would add files itself)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        (src/name).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(ROOT/name, src/name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp/"dist"),
                    str(src)], check=True, capture_output=True, timeout=600)
    wheel = next((tmp/"dist").glob("mlm_course-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(tmp/"venv")], check=True, timeout=300)
    purelib = subprocess.run([str(tmp/"venv"/"bin"/"python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch, transformers, ... from here
    subprocess.run([str(tmp/"venv"/"bin"/"python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return wheel, tmp


def test_wheel_holds_course_base(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "README.md"):
        assert f"mlm_course/course_base/{f}" in names, f"the wheel lacks course_base/{f}"


def test_fill_mask_with_course_base_from_the_wheel(installed):
    _, tmp = installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | dict(HF_HUB_OFFLINE="1")
    where = subprocess.run([str(tmp/"venv"/"bin"/"python"), "-c", "import mlm_course; print(mlm_course.__file__)"],
                           capture_output=True, text=True, cwd=tmp, env=env, check=True).stdout
    assert str(tmp/"venv") in where, f"mlm_course came from {where}, not from the installed wheel"
    p = subprocess.run([str(tmp/"venv"/"bin"/"mlm-course"), "fill-mask", "--model", "course-base", "--top-k", "5",
                        "--text", "The First World War ended in <mask>."], capture_output=True, text=True, cwd=tmp,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "1918" in [x["token_str"].strip() for x in json.loads(p.stdout)[0]["predictions"]]


def test_the_default_job_runs_from_the_wheel_without_nbdev(installed):
    "The wheel carries everything the default job needs (corpus, model, tokenizer), and the library never imports nbdev."
    _, tmp = installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | dict(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    no_nbdev = ("import sys; sys.modules['nbdev'] = None  # any `import nbdev` now fails\n"
                "import mlm_course, mlm_course.cli as cli\n"
                "for m in ('data', 'chunking', 'masking', 'model', 'training', 'sparse', 'evaluation', 'inference',\n"
                "          'adaptation', 'scaling', 'run', 'pretraining', 'downstream', 'study', 'tokenizer', 'utils',\n"
                "          'warm_start'):\n"
                "    __import__(f'mlm_course.{m}')\n"
                "sys.exit(cli.main(sys.argv[1:]))")
    out = tmp/"run"
    p = subprocess.run([str(tmp/"venv"/"bin"/"python"), "-c", no_nbdev, "run", "--max-steps", "5", "--mask-draws", "1",
                        "--output-dir", str(out), "--quiet"], capture_output=True, text=True, cwd=tmp, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads((out/"report.json").read_text())
    assert report["model"] == "course-base" and report["max_steps"] == 5 and report["perplexity_after"] > 1
