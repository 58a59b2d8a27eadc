"""The baseline: the seed notebook's pipeline, step for step, on offline stand-ins.

Same semantics as the seed (a tokenizer call per batch of joined answers, `group_texts` concatenating with
`sum(lists, [])`, `DataCollatorForLanguageModeling`, a plain `Trainer` whose `RobertaForMaskedLM` computes logits
at every position). Two deliberate differences, both applied to our side too: the collator gets a `seed` so both
sides see identical masks, and the tokenizer is the offline byte-level BPE one (no hub access)."""
from __future__ import annotations
import copy
from datasets import DatasetDict
from transformers import DataCollatorForLanguageModeling, Trainer

SEED_NUM_PROC = 4  # what the seed passes to both `map` calls

def seed_group_texts(examples:dict, block_size:int=128) -> dict:
    "The seed's `group_texts`: concatenate every column with `sum(lists, [])` (quadratic), cut into full blocks."
    joined = {column: sum(examples[column], []) for column in examples.keys()}
    total = len(joined[list(examples.keys())[0]])
    if total >= block_size: total = (total // block_size) * block_size
    return {column: [ids[i:i + block_size] for i in range(0, total, block_size)] for column, ids in joined.items()}

def seed_preprocess(eli5:DatasetDict, tokenizer, block_size:int=128, num_proc:int=SEED_NUM_PROC) -> DatasetDict:
    "Tokenize the joined answers of each question (batched map), then group into blocks (a second batched map)."
    def tokenize_answers(examples): return tokenizer([" ".join(answers) for answers in examples["answers.text"]])
    tokenized = eli5.map(tokenize_answers, batched=True, num_proc=num_proc,
                         remove_columns=eli5["train"].column_names)
    return tokenized.map(seed_group_texts, batched=True, num_proc=num_proc, fn_kwargs=dict(block_size=block_size))

def seed_collator(tokenizer, seed:int|None=None) -> DataCollatorForLanguageModeling:
    "The seed's collator (15% masking, pad with the EOS token); `seed` fixes the masks for a side-by-side run."
    tokenizer = copy.deepcopy(tokenizer)  # the seed sets pad = EOS globally; a copy keeps our side unaffected
    tokenizer.pad_token = tokenizer.eos_token
    return DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=0.15, seed=seed)

def seed_trainer(model, args, train_blocks, eval_blocks, tokenizer, seed:int|None=None):
    "The seed's `Trainer`: full-vocabulary logits at every position."
    return Trainer(model=model, args=args, train_dataset=train_blocks, eval_dataset=eval_blocks,
                   data_collator=seed_collator(tokenizer, seed), processing_class=tokenizer)
