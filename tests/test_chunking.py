"Oracle: `group_texts` equals the reference notebook's quadratic version on real text, for many batch and block sizes."
import random
import pytest
from mlm_course.chunking import group_texts, make_blocks, document_ids
from mlm_course.tokenizer import offline_tokenizer


def seed_group_texts(examples, block_size):
    "Written exactly like the reference notebook's `group_texts` (with its `sum(lists, [])`)."
    concatenated_examples = {k: sum(examples[k], []) for k in examples.keys()}
    total_length = len(concatenated_examples[list(examples.keys())[0]])
    if total_length >= block_size:
        total_length = (total_length // block_size) * block_size
    result = {k: [t[i : i + block_size] for i in range(0, total_length, block_size)]
              for k, t in concatenated_examples.items()}
    return result


@pytest.fixture(scope="module")
def real_token_lists(eli5_test_file):
    "Token ids and attention masks of 600 real ELI5 answers-per-question texts."
    import gzip, json
    rows = json.loads(gzip.open(eli5_test_file).read())[:600]
    tok = offline_tokenizer()
    enc = document_ids({"text": [" ".join(r["answers"]["text"]) for r in rows]}, tok)
    return enc["input_ids"], enc["attention_mask"]


def test_equals_reference_on_real_text(real_token_lists):
    ids, masks = real_token_lists
    rng = random.Random(0)
    for trial in range(150):
        n = rng.choice([1, 2, 3, rng.randint(1, 40), rng.randint(40, 600)])
        start = rng.randint(0, len(ids) - n)
        block = rng.choice([1, 7, 64, 128, 512, rng.randint(2, 2048), 100_000])  # incl. batches shorter than a block
        batch = {"input_ids": ids[start:start+n], "attention_mask": masks[start:start+n]}
        assert group_texts(batch, block) == seed_group_texts(batch, block), (n, block)


def test_make_blocks_on_real_text(shared_data):
    from mlm_course.data import load_corpus
    tok = offline_tokenizer()
    corpus = load_corpus(str(shared_data/"eli5_category"/"eli5-category-test.json.gz"))
    blocks = make_blocks(corpus, tok, 128)
    assert all(len(x) == 128 for x in blocks["train"]["input_ids"][:500])
    assert len(blocks["train"]) > 4 * len(blocks["validation"]) * 0.8  # an 80/20 split of questions
