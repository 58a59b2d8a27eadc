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
    out = _run_alone("--list", "--skip-file-re", "^([_.]|(12|07|11|10|05|04|06)_)")
    names = out.stdout.split()
    assert out.returncode == 0 and "00_data.ipynb" in names and "index.ipynb" in names
    assert not {"12_masking_study.ipynb", "07_domain_adaptation.ipynb"} & set(names)
