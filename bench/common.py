"Shared pieces of the benchmark: the data, the model shapes, timing and peak-memory measurement."
from __future__ import annotations
import ctypes, gc, gzip, json, re, resource, time
from contextlib import contextmanager
from pathlib import Path
from datasets import Dataset, DatasetDict
from transformers import RobertaConfig
from mlm_course.utils import DataError, shared_data_dir

ELI5_DEV_FILE = "eli5_category/eli5-category-test.json.gz"  # development split; validation-2 is reserved
BLOCK_SIZE = 128
MASK_SEED = 1234  # collator seed shared by both sides: identical masks, so losses can be compared step by step

def eli5_questions(n:int=5000) -> list[dict]:
    "The first `n` questions of the ELI5-Category test release, as the JSON records the hub's builder reads."
    data = shared_data_dir()
    if data is None or not (data/ELI5_DEV_FILE).exists():
        raise DataError("The benchmark needs the ELI5-Category test file in the shared data folder",
                        "run it from a checkout beside ../shared/data, or set MLM_COURSE_DATA")
    with gzip.open(data/ELI5_DEV_FILE, "rt") as f: return json.load(f)[:n]

def eli5_like_seed(questions:list[dict], test_size:float=0.2, seed:int=42) -> DatasetDict:
    "What the seed holds before tokenizing: the questions split train/test, nested fields flattened (`answers.text`)."
    split = Dataset.from_list(questions).train_test_split(test_size=test_size, seed=seed)
    return split.flatten()

def answer_texts(questions:list[dict]) -> list[str]:
    "One document per question: its answers joined by spaces, as the seed's tokenizing function builds them."
    return [" ".join(q["answers"]["text"]) for q in questions]

def distilroberta_config(vocab_size:int=50_265, **overrides) -> RobertaConfig:
    "`distilbert/distilroberta-base`'s shape: 6 layers, hidden 768, 12 heads, 3072 FFN, 514 positions."
    shape = dict(vocab_size=vocab_size, hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                 bos_token_id=0, pad_token_id=1, eos_token_id=2)
    return RobertaConfig(**{**shape, **overrides})

def _status_kib(field:str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))

def _malloc_trim():
    try: ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError): pass

@contextmanager
def peak_memory():
    """Peak resident memory of this process during the block, in MiB, plus the largest peak of any child process
    (e.g. `datasets` workers). Linux: the kernel's high-water mark `VmHWM`, reset on entry via /proc/self/clear_refs."""
    result = {}
    gc.collect()
    _malloc_trim()  # hand memory freed by earlier phases back to the OS, so the growth measured here is this block's
    start, children_before = _status_kib("VmRSS"), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try: Path("/proc/self/clear_refs").write_text("5"); resettable = True
    except OSError: resettable = False
    yield result
    peak = _status_kib("VmHWM") if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # a maximum since process start:
    children = children if children > children_before else 0             # only a new maximum belongs to this block
    result.update(rss_start_mib=round(start/1024, 1), peak_rss_mib=round(peak/1024, 1),
                  peak_rss_delta_mib=round((peak - start)/1024, 1),
                  peak_rss_children_mib=round(children/1024, 1) if children else None,
                  peak_rss_method="VmHWM reset at phase start" if resettable else "ru_maxrss since process start")

def timed(fn) -> tuple[float, object]:
    "Wall-clock seconds of `fn()`, and its result."
    start = time.perf_counter(); result = fn()
    return time.perf_counter() - start, result

def alternate(runs:dict, rounds:int, warmup:bool=False) -> dict[str, list]:
    """Call every side's function `rounds` times, the sides taking turns (seed, ours, ours, seed, ...), so that load
    from other processes on a shared machine falls on both sides alike. Per side, the list of results. `warmup`: call
    each side once first and drop the result (caches and thread pools then as warm for every side)."""
    results, sides = {side: [] for side in runs}, list(runs)
    if warmup:
        for side in sides: runs[side]()
    for r in range(rounds):
        for side in (sides if r % 2 == 0 else sides[::-1]): results[side].append(runs[side]())
    return results

def write_readme_section(name:str, # The section's markers: `<!-- name:start -->` and `<!-- name:end -->`
                         block:str, # What goes between them
                         path:Path=Path(__file__).parent/"README.md"):
    "Replace what lies between a pair of markers in bench/README.md (a run's tables) with `block`."
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    head, rest = path.read_text().split(start)
    path.write_text(f"{head}{start}\n{block}\n{end}{rest.split(end)[1]}")
