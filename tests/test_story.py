"""The course as a learner reads it: clean stored outputs, and one source for the headline numbers.

The headline numbers of the main job (the domain perplexity before and after, general English before and after,
first-guess accuracy) come from one executed source: the stored output of lesson 00, the whole job in one page.
Any prose that quotes them (README, index, lessons) must quote the same values, to the digits it shows."""
import json, math, re
from pathlib import Path
import pytest

root = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((root/"nbs").glob("*.ipynb"))
SOURCE = root/"nbs"/"00_whole_job.ipynb"


def cells(path:Path, kind:str): return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]
def output_texts(cell) -> list:
    texts = []
    for o in cell.get("outputs", []):
        texts.append("".join(o.get("text", "")))
        for k, v in o.get("data", {}).items():
            if k.startswith("text/") and k != "text/html": texts.append("".join(v))
    return texts

# What a learner should never have to read in a stored output
NOISE = {"a progress bar": re.compile(r"\d+%\|[^\n]*\|\s*\d+/\d+|\bit/s\]|examples/s\]"),
         "a Trainer log dictionary": re.compile(r"\{'(loss|eval_loss|train_runtime|grad_norm)': "),
         "a usage dump": re.compile(r"usage: [\w-]+(?:[^\n]*\n){25,}")}


def noise_in(text:str) -> list: return [what for what, pattern in NOISE.items() if pattern.search(text)]


def test_noise_patterns_catch_what_they_should():
    assert noise_in("Map:  50%|#####     | 5/10 [00:01<00:01, 4.2 examples/s]") == ["a progress bar"]
    assert noise_in("{'loss': '3.017', 'grad_norm': '5.535', 'learning_rate': '0.0005'}") == ["a Trainer log dictionary"]
    assert noise_in("usage: mlm-course run" + "\n  --x X" * 30) == ["a usage dump"]
    assert noise_in("360 steps in 84 s\nPython docs  perplexity 22.6 -> 7.5") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_clean(path):
    found = [f"cell {i}: {what}" for i, c in enumerate(cells(path, "code"))
             for t in output_texts(c) for what in noise_in(t)]
    assert not found, (f"{path.name} stores progress bars, log lines or usage dumps: {found}. Turn them off "
                       "(quiet_libraries(), disable_tqdm=True, quiet_trainer) and re-run nbdev-test --save")


# ---- headline numbers -----------------------------------------------------------------------------------------
_re_domain = re.compile(r"Python docs\s+perplexity ([\d.]+) ± ([\d.]+) -> ([\d.]+) ± ([\d.]+); "
                        r"first guess right (\d+)% -> (\d+)%")
_re_general = re.compile(r"WikiText-2\s+perplexity ([\d.]+) -> ([\d.]+); first guess right (\d+)% -> (\d+)%")


def headline() -> dict:
    "The main job's numbers, read from the stored output of lesson 00."
    text = "\n".join(t for c in cells(SOURCE, "code") for t in output_texts(c))
    d, g = _re_domain.search(text), _re_general.search(text)
    assert d and g, "lesson 00 has no stored score table: run nbdev-test --save nbs/00_whole_job.ipynb"
    return dict(domain=(float(d[1]), float(d[3])), general=(float(g[1]), float(g[2])),
                accuracy=(int(d[5]), int(d[6])), general_accuracy=(int(g[3]), int(g[4])))


SCOPE = re.compile(r"main job|whole job|lesson 00", re.I)  # a sentence that speaks of the main job
PAIR = re.compile(r"(\d+(?:\.\d+)?)\**(?: ± [\d.]+)?(?: before)?\**\s*(?:→|->|to)\s*\**(\d+(?:\.\d+)?)(%?)")


def same(quoted:str, value:float) -> bool:
    "Does `quoted` show `value` to the digits it shows?"
    digits = len(quoted.split(".")[1]) if "." in quoted else 0
    return math.isclose(float(quoted), round(value, digits), abs_tol=10**-digits/2)


def misquotes(text:str, h:dict) -> list:
    "The pairs in `text`'s sentences about the main job that differ from the headline numbers."
    bad = []
    paragraphs = [p for p in re.split(r"\n\s*\n|\n(?=\s*[-*] )", text) if "|---" not in p]  # no tables; a bullet each
    for para in (s for p in paragraphs for s in re.split(r"(?<=[.!?])\s+(?=[A-Z*(\[`])", p.replace("\n", " "))):
        if not SCOPE.search(para): continue
        for m in PAIR.finditer(para):
            before = para[max(0, m.start() - 60):m.start()]
            if m[3]: key = "general_accuracy" if re.search(r"WikiText|general", before) else "accuracy"
            elif re.search(r"perplex|threefold|fold", para[max(0, m.start() - 120):m.end() + 40], re.I):
                key = "general" if re.search(r"WikiText|general", before) else "domain"
            else: continue
            if not (same(m[1], h[key][0]) and same(m[2], h[key][1])): bad.append(f"{m[0]!r} ({key}: {h[key]})")
    return bad


def test_misquotes_catch_a_wrong_number():
    h = dict(domain=(22.6, 7.5), general=(19.6, 37.6), accuracy=(49, 62), general_accuracy=(47, 40))
    assert misquotes("The main job lowers the perplexity threefold (21 to 7).", h)
    assert misquotes("The main job: perplexity 22.6 → 7.4.", h)
    assert misquotes("In the main job, WikiText-2 perplexity 20.0 → 38.7.", h)
    assert not misquotes("The main job: perplexity **22.6 ± 1.0 before → 7.5 ± 0.3 after**; WikiText-2 perplexity "
                         "19.6 → 37.6, first-guess accuracy 49% → 62%.", h)
    assert not misquotes("A run from scratch: perplexity 600 → 60.", h)  # not about the main job
    assert not misquotes("ELI5 went from 26.5 to 24.3. The main job went from 22.6 to 7.5.", h)  # sentence by sentence


def prose_files():
    yield root/"README.md", (root/"README.md").read_text()
    for p in NOTEBOOKS: yield p, "\n\n".join("".join(c["source"]) for c in cells(p, "markdown"))


def test_prose_quotes_the_headline_numbers_of_lesson_00():
    h = headline()
    bad = {p.name: m for p, text in prose_files() if (m := misquotes(text, h))}
    assert not bad, f"prose quotes the main job's numbers differently from lesson 00's output {h}: {bad}"


# ---- size of a main-path lesson -------------------------------------------------------------------------------
HIDDEN = re.compile(r"^#\|\s*(hide|include:\s*false|export\b|default_exp)", re.M)  # cells the page does not show


def main_path() -> list:
    "The lessons of the main path, by tools/build-docs' own rule (the same module test_docs.py loads)."
    from test_docs import bd
    return [p for p in NOTEBOOKS if bd.is_lesson(p) and not bd.is_appendix(p)]


def shown_code_cells(path:Path) -> int:
    "Code cells a reader sees on the page: not hidden, not exported-and-hidden (`#| export`), not `show_doc`."
    return sum(1 for c in cells(path, "code") if not HIDDEN.search(src := "".join(c["source"]))
               and not src.startswith("show_doc(") and src.strip())


def prose_words(path:Path) -> int:
    "Words of prose, without code blocks and without folded answers (`<details>`)."
    text = "\n".join("".join(c["source"]) for c in cells(path, "markdown"))
    return len(re.sub(r"<details>.*?</details>|```.*?```", "", text, flags=re.S).split())


def test_main_path_is_the_stages_and_the_capstone():
    names = [p.stem for p in main_path()]
    assert names[0] == "00_whole_job" and "11_capstone" in names and len(names) == 12, names


@pytest.mark.parametrize("path", main_path(), ids=lambda p: p.name)
def test_a_main_path_lesson_is_short(path):
    assert shown_code_cells(path) <= 35, f"{path.name}: {shown_code_cells(path)} code cells shown (at most 35)"
    assert prose_words(path) <= 2200, f"{path.name}: {prose_words(path)} words of prose (at most 2,200)"


@pytest.mark.parametrize("path", main_path(), ids=lambda p: p.name)
def test_a_main_path_lesson_checks_understanding(path):
    text = "\n".join("".join(c["source"]) for c in cells(path, "markdown"))
    if path.stem != "00_whole_job" and path.stem != "11_capstone":
        assert "## What to try next" in text, f"{path.name} has no 'What to try next'"
    questions = re.search(r"## Check your understanding\n(.*?)(\n## |\Z)", text, re.S)
    assert questions and 3 <= questions[1].count("<details>") <= 5, f"{path.name}: 3 to 5 questions with folded answers"


def test_the_replay_sentence_quotes_the_runs_of_tools_main_replay():
    """The README's replay sentence is the stored output of an index cell that reads nbs/main_job_replay.json (written by
    tools/main-replay from two `mlm-course run` reports): it must have been re-executed since the file last changed."""
    a, b = json.loads((root/"nbs"/"main_job_replay.json").read_text()).values()
    assert not a["replay"] and b["replay"] and 0 < b["replay_fraction"] < 1
    stored = " ".join(t for c in cells(root/"nbs"/"index.ipynb", "code") for t in output_texts(c))
    readme = (root/"README.md").read_text()
    for value in (f"{b['replay_fraction']:.0%}", f"{a['general_perplexity_after']:.1f}", f"{b['general_perplexity_after']:.1f}",
                  f"{a['perplexity_after']:.2f} ± {a['perplexity_after_std']:.2f}",
                  f"{b['perplexity_after']:.2f} ± {b['perplexity_after_std']:.2f}"):
        assert value in stored and value in readme, f"{value} is not in the index's stored output and the README"
