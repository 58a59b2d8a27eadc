"""Lesson 01 (data): the seed's ELI5 job read offline from a release file, checked against the seed's own recipe;
the generic loaders on every supported file type; clear errors on bad input."""
import gzip, json
import datasets, pytest
from datasets import Dataset, List, Value

from mlm_course.data import load_eli5, prepare_eli5, load_corpus, plot_token_lengths
from mlm_course.tokenizer import offline_tokenizer
from mlm_course.utils import ConfigError, DataError


@pytest.fixture(scope="module", autouse=True)
def fresh_maps():
    "Recompute every `map`: `datasets` fingerprints library functions by name, so its cache would hide a code change."
    datasets.disable_caching(); yield; datasets.enable_caching()


@pytest.fixture(scope="module")
def raw_rows(eli5_test_file):
    "The release file read with nothing but `json`: the ground truth."
    return json.loads(gzip.open(eli5_test_file).read())


@pytest.fixture(scope="module")
def eli5(eli5_test_file): return load_eli5("test[:5000]", data_files=eli5_test_file.parent)


# --- the seed's job: ELI5-Category ---------------------------------------------------------------------------------
def test_load_eli5_has_the_hub_schema(eli5, raw_rows):
    assert len(eli5) == 5000
    for k in ("title_urls", "selftext_urls"): assert eli5.features[k] == List(Value("string"))
    assert eli5["title_urls"][:] == [r["title_urls"]["url"] for r in raw_rows[:5000]]
    assert {"q_id", "title", "selftext", "category", "subreddit", "answers.a_id", "answers.text", "answers.score",
            "answers.text_urls", "title_urls", "selftext_urls"} == set(eli5.flatten().column_names)


def test_prepare_eli5_is_the_seed_recipe(eli5, raw_rows):
    "Ours (flatten, join, split) = the seed's order (split with the same seed, flatten, join) on the raw rows."
    ours = prepare_eli5(eli5, test_size=0.2, seed=42)
    seed = Dataset.from_list(raw_rows[:5000]).train_test_split(test_size=0.2, seed=42).flatten()
    for ours_split, seed_split in (("train", "train"), ("validation", "test")):
        assert list(ours[ours_split]["text"]) == [" ".join(x) for x in seed[seed_split]["answers.text"]]
        assert list(ours[ours_split]["category"]) == list(seed[seed_split]["category"])
    assert (len(ours["train"]), len(ours["validation"])) == (4000, 1000)


def test_load_corpus_eli5_offline(eli5_test_file, eli5):
    corpus = load_corpus("eli5_category", data_files=eli5_test_file)
    assert list(corpus["validation"]["text"]) == list(prepare_eli5(eli5)["validation"]["text"])
    assert set(corpus["train"].column_names) == {"text", "category"}


def test_a_release_file_as_source_is_recognised(eli5_test_file, raw_rows):
    corpus = load_corpus(str(eli5_test_file))
    texts = sorted(list(corpus["train"]["text"]) + list(corpus["validation"]["text"]))
    assert texts == sorted(" ".join(r["answers"]["text"]) for r in raw_rows if " ".join(r["answers"]["text"]).strip())


def test_eli5_errors_name_the_fix(tmp_path):
    with pytest.raises(DataError, match="no split 'training'.*Fix: use one of"): load_eli5("training[:10]")
    with pytest.raises(DataError, match="eli5-category-train.json.gz' does not exist.*Fix: download"):
        load_corpus("eli5_category", data_files=tmp_path)


# --- any corpus ----------------------------------------------------------------------------------------------------
DOCS = [f"Document number {i} talks about masked language models." for i in range(20)]
CATS = ["a", "b"] * 10

def write_jsonl(path, rows, opener=open):
    with opener(path, "wt") as f: f.write("\n".join(json.dumps(r) for r in rows) + "\n")
    return path

@pytest.mark.parametrize("name", ["docs.txt", "docs.jsonl", "docs.jsonl.gz", "docs.json", "docs.csv", "docs.parquet"])
def test_every_file_type(tmp_path, name):
    path, rows = tmp_path/name, [{"body": d, "category": c} for d, c in zip(DOCS, CATS)]
    if name.endswith(".txt"): path.write_text("\n\n".join(DOCS) + "\n")  # blank lines between documents
    elif name.endswith(".jsonl"): write_jsonl(path, rows)
    elif name.endswith(".jsonl.gz"): write_jsonl(path, rows, gzip.open)
    elif name.endswith(".json"): path.write_text(json.dumps(rows))
    else: getattr(Dataset.from_list(rows), "to_csv" if name.endswith(".csv") else "to_parquet")(path)
    corpus = load_corpus(str(path), text_column=None if name.endswith(".txt") else "body", test_size=0.25)
    assert (len(corpus["train"]), len(corpus["validation"])) == (15, 5)
    assert sorted(list(corpus["train"]["text"]) + list(corpus["validation"]["text"])) == sorted(DOCS)
    expected = ["text"] if name.endswith(".txt") else ["category", "text"]
    assert sorted(corpus["train"].column_names) == expected


def test_text_fn_builds_the_text(tmp_path):
    path = write_jsonl(tmp_path/"qa.jsonl", [{"q": f"Q{i}?", "a": f"A{i}."} for i in range(10)])
    corpus = load_corpus(str(path), text_fn=lambda row: f"{row['q']} {row['a']}")
    assert sorted(list(corpus["train"]["text"]) + list(corpus["validation"]["text"])) == \
           sorted(f"Q{i}? A{i}." for i in range(10))


def test_the_split_is_reproducible(tmp_path):
    path = str(write_jsonl(tmp_path/"d.jsonl", [{"text": d} for d in DOCS]))
    same = [list(load_corpus(path, seed=1)["validation"]["text"]) for _ in range(2)]
    assert same[0] == same[1] != list(load_corpus(path, seed=2)["validation"]["text"])


@pytest.mark.parametrize("name,content,message", [
    ("other.csv", "body,stars\nnice,5\nbad,1\n", "no column 'text' (columns: body, stars)"),
    ("nulls.jsonl", '{"text": "fine"}\n{"text": null}\n', "Row 1 of the text column holds NoneType"),
    ("bad.jsonl.gz", '{"text": "fine"}\n{"text": "fine"\n', "line 2 is not valid JSON"),
    ("one.jsonl", '{"text": "only one"}\n', "has a single text"),
    ("notes.docx", "x", "unsupported extension"),
])
def test_bad_files_name_the_problem_and_the_fix(tmp_path, name, content, message):
    path = tmp_path/name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as f: f.write(content)
    else: path.write_text(content)
    with pytest.raises(DataError, match="Fix:") as e: load_corpus(str(path))
    assert message in str(e.value)


def test_text_fn_must_return_strings(tmp_path):
    path = write_jsonl(tmp_path/"n.jsonl", [{"n": i} for i in range(4)])
    with pytest.raises(DataError, match="not a string"): load_corpus(str(path), text_fn=lambda row: row["n"])


def test_unreachable_hub_dataset():
    "Offline (as in CI) a hub id cannot load: one DataError that says to check the id or pass a local file."
    with pytest.raises(DataError, match="Could not load the hub dataset 'no-such-user/no-such-data'.*local file"):
        load_corpus("no-such-user/no-such-data")


def test_data_files_with_a_local_source(tmp_path):
    path = write_jsonl(tmp_path/"d.jsonl", [{"text": d} for d in DOCS])
    with pytest.raises(ConfigError, match="pass the local file as source"): load_corpus(str(path), data_files=str(path))


def test_builtin_source():
    corpus = load_corpus("builtin")
    assert list(corpus) == ["train", "validation"] and "text" in corpus["train"].column_names
    n_train, n_val = len(corpus["train"]), len(corpus["validation"])
    assert n_train > 900 and abs(n_val / (n_train + n_val) - 0.1) < 0.01, "the built-in corpus keeps its own 10%"


# --- the figure ----------------------------------------------------------------------------------------------------
def test_token_length_figure_marks_the_limits():
    fig = plot_token_lengths(DOCS + [" ".join(DOCS) * 3], offline_tokenizer(), max_length=512, block_size=128)
    ax = fig.axes[0]
    assert sorted(line.get_xdata()[0] for line in ax.lines) == [128, 512]
    assert "longer than 512" in ax.get_title()
    assert sum(p.get_height() for p in ax.patches) == len(DOCS) + 1, "every document is counted once"


def test_general_english_by_name():
    "`load_corpus('general_english')` reads the offline Wikipedia text course-base was pre-trained on (replay's source)."
    from mlm_course.data import load_corpus
    from mlm_course.utils import shared_data_dir
    if shared_data_dir() is None: pytest.skip("no offline data folder")
    docs = load_corpus("general_english", test_size=0.01)
    assert len(docs["train"]) > 9000 and all(docs["train"].select(range(5))["text"])
