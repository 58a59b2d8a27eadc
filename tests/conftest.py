"Shared pytest fixtures: offline settings, the shared data folder, small stand-in models."
import os
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

from mlm_course.utils import shared_data_dir
from transformers.utils import logging as hf_logging
hf_logging.get_logger("transformers")  # its handler binds the real stderr now, not a test's captured one (closed later)


@pytest.fixture(scope="session")
def shared_data():
    "The offline data folder (../shared/data); tests that need it skip on machines without it."
    d = shared_data_dir()
    if d is None: pytest.skip("../shared/data is absent (set MLM_COURSE_DATA to run this test)")
    return d


@pytest.fixture(scope="session")
def eli5_test_file(shared_data):
    "The ELI5-Category `test` release file: the split for development and tests (validation-2 is reserved)."
    return shared_data/"eli5_category"/"eli5-category-test.json.gz"


@pytest.fixture(scope="session")
def family_dir(tmp_path_factory):
    """Factory: `family_dir("albert")` is a saved tiny masked-LM of that family (`mlm_course.model.tiny_model_dir`),
    model and tokenizer, built on first use and shared by the whole session (treat it as read-only)."""
    from mlm_course.model import tiny_model_dir
    root, built = tmp_path_factory.mktemp("families"), {}
    def make(family:str): # One of `mlm_course.model.TINY_FAMILIES`
        if family not in built: built[family] = tiny_model_dir(family, root/family)
        return built[family]
    return make
