"`tools/run-alone` runs each notebook alone in a fresh folder, as Colab does: a notebook that reads a file left beside it fails."
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _notebook(path:Path, *sources:str) -> Path:
    "A minimal notebook with one code cell per source."
    cells = [dict(cell_type="code", id=f"c{i}", metadata={}, execution_count=None, outputs=[], source=s)
             for i, s in enumerate(sources)]
    path.write_text(json.dumps(dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5)))
    return path


def _run_alone(*args:str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT/"tools"/"run-alone"), *args], capture_output=True, text=True,
                          timeout=300)


def test_a_notebook_that_reads_a_file_left_beside_it_fails_alone_and_a_self_contained_one_passes(tmp_path):
    (tmp_path/"models").mkdir(); (tmp_path/"models"/"x").write_text("left by another notebook")
    reads = _notebook(tmp_path/"reads_models_x.ipynb", "from pathlib import Path\nPath('models/x').read_text()")
    alone = _notebook(tmp_path/"self_contained.ipynb", "import tempfile, pathlib\n"
                      "p = pathlib.Path(tempfile.mkdtemp())/'x'; p.write_text('mine'); assert p.read_text() == 'mine'")
    failed = _run_alone(str(reads))
    assert failed.returncode == 1 and "reads_models_x.ipynb" in failed.stderr and "models/x" in failed.stderr
    passed = _run_alone(str(alone))
    assert passed.returncode == 0 and "Success." in passed.stdout, passed.stderr
    assert (tmp_path/"models"/"x").exists() and not list(tmp_path.glob("run-alone-*"))  # nothing moved, nothing left


def test_the_rest_job_selects_every_lesson_not_run_on_its_own():
    out = _run_alone("--list", "--skip-file-re", "^([_.]|(14|08|13|12|06|05|07)_)")
    names = out.stdout.split()
    assert out.returncode == 0 and "01_data.ipynb" in names and "index.ipynb" in names
    assert not {"14_masking_study.ipynb", "08_domain_adaptation.ipynb"} & set(names)


def test_a_lesson_whose_stated_run_time_is_off_is_printed(tmp_path):
    nb = _notebook(tmp_path/"07_quick.ipynb", "x = 1")
    data = json.loads(nb.read_text())
    data["cells"].insert(0, dict(cell_type="markdown", id="m", metadata={},
                                 source="**How long:** the cells run in about 9 minutes on 2 CPU cores."))
    nb.write_text(json.dumps(data))
    record = tmp_path/"times.json"
    out = _run_alone(str(nb), "--record", str(record))
    assert out.returncode == 0 and "07_quick.ipynb states about 9 min on 2 CPU cores" in out.stdout, out.stdout
    assert json.loads(record.read_text())["07_quick.ipynb"]["stated"] == [9.0, "about"]
    data["cells"][0]["source"] = "**How long:** the cells run in under a minute on 2 CPU cores."
    nb.write_text(json.dumps(data))
    assert "off by more than 50%" not in _run_alone(str(nb), "--record", str(record)).stdout
