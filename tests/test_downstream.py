"Lesson 13: PubMedQA loading (release file and hub shape), the scores, bad input, and a tiny end-to-end comparison."
import json
import numpy as np
import pytest
from datasets import ClassLabel, Dataset
from mlm_course.downstream import (DECISIONS, check_labelled, classification_scores, compare_starts, label_by_mesh,
                                   load_pubmedqa, split_labelled)
from mlm_course.utils import ConfigError, DataError

HUB_ROWS = [dict(pubid=100 + i, question=f"Does drug {i} help children?",
                 context=dict(contexts=[f"Background of study {i}.", f"Results of study {i}."],
                              labels=["BACKGROUND", "RESULTS"], meshes=["Humans", "Child" if i % 2 else "Aged"],
                              reasoning_required_pred=["yes"], reasoning_free_pred=["yes"]),
                 long_answer=f"Drug {i} helps.", final_decision=DECISIONS[i % 3]) for i in range(9)]


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_hub_shaped_file(tmp_path, suffix):
    "The hub's `pqa_labeled` shape, from a local stand-in: nothing is downloaded."
    path = tmp_path/f"pqa_labeled{suffix}"
    ds = Dataset.from_list(HUB_ROWS)
    ds.to_parquet(path) if suffix == ".parquet" else ds.to_json(path)
    out = load_pubmedqa(path)
    assert out.features["label"].names == DECISIONS
    assert out["label"] == [i % 3 for i in range(9)] and out["pubid"][0] == 100
    assert out["text"][1] == "Does drug 1 help children? Background of study 1. Results of study 1."
    assert out["meshes"][1] == ["Humans", "Child"]


def test_release_file(shared_data):
    "The offline release file: 1,000 abstracts, 552/338/110 answers (PROVENANCE.txt)."
    ds = load_pubmedqa(shared_data/"pubmedqa"/"ori_pqal.json")
    assert len(ds) == 1000 and np.bincount(ds["label"]).tolist() == [552, 338, 110]
    assert load_pubmedqa()[0]["pubid"] == ds[0]["pubid"]  # None finds the same file


def test_scores_by_hand():
    "Macro-F1 computed by hand: F1 = 2TP / (2TP + FP + FN) per class, averaged."
    s = classification_scores([0, 0, 1, 2, 2, 0], [0, 0, 1, 1, 2, 2])
    assert s["accuracy"] == pytest.approx(4/6)
    assert s["macro_f1"] == pytest.approx((4/5 + 2/3 + 1/2) / 3)
    never = classification_scores([0, 0, 0, 0], [0, 0, 1, 1], num_classes=3)  # class 2 appears nowhere: F1 0
    assert never["macro_f1"] == pytest.approx((2*2/(4+2) + 0 + 0) / 3)


def test_bad_input_is_one_line(tmp_path):
    ds = load_pubmedqa(_write_hub(tmp_path))
    with pytest.raises(DataError, match="no 'label' column.*Fix: rename"): check_labelled(ds.rename_column("label", "y"))
    one_class = Dataset.from_dict(dict(text=["a", "b"], label=[0, 0])).cast_column("label", ClassLabel(names=["x"]))
    with pytest.raises(DataError, match="1 class"): check_labelled(one_class)
    with pytest.raises(DataError, match="is empty"): split_labelled(ds.select([]), 2, 2)
    with pytest.raises(DataError, match="two classes"): label_by_mesh(ds, {"kids": ["Child"]})
    with pytest.raises(DataError, match="does not exist"): load_pubmedqa(tmp_path/"missing.json")
    with pytest.raises(ConfigError, match="No model found for the start 'nowhere/at-all'") as e:
        compare_starts({"x": "nowhere/at-all"}, None, ds, ds, tmp_path)
    assert "\n" not in str(e.value)


def _write_hub(tmp_path):
    path = tmp_path/"hub.parquet"
    Dataset.from_list(HUB_ROWS * 4).to_parquet(path)
    return path


def test_label_by_mesh_and_split(tmp_path):
    ds = label_by_mesh(load_pubmedqa(_write_hub(tmp_path)), {"kids": ["Child"], "old": ["Aged"]})
    assert ds.features["label"].names == ["kids", "old"] and ds["label"][:2] == [1, 0]
    parts = split_labelled(ds, n_train=10, n_test=8, seed=0)
    assert (len(parts["train"]), len(parts["test"]), len(parts["unlabelled"])) == (10, 8, len(ds) - 18)
    assert np.bincount(parts["test"]["label"]).tolist() == [4, 4]  # stratified


def test_compare_starts_end_to_end(tmp_path):
    "Two starts, two seeds, a handful of steps: the report's shape, and the spread over seeds."
    from mlm_course.tokenizer import load_tokenizer
    ds = label_by_mesh(load_pubmedqa(_write_hub(tmp_path)), {"kids": ["Child"], "old": ["Aged"]})
    parts = split_labelled(ds, n_train=20, n_test=16)
    res = compare_starts({"random": "random", "base": "course-base"}, load_tokenizer("course-base"), parts["train"],
                         parts["test"], tmp_path/"runs", seeds=(0, 1), max_steps=3, max_length=32)
    assert list(res) == ["random", "base"]
    for r in res.values():
        assert len(r["runs"]) == 2 and 0 <= r["accuracy"] <= 1 and 0 <= r["macro_f1"] <= 1
        accs = [run["accuracy"] for run in r["runs"]]
        assert r["accuracy"] == pytest.approx(np.mean(accs)) and r["accuracy_std"] == pytest.approx(np.std(accs, ddof=1))
