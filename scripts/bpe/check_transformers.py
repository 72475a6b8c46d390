#!/usr/bin/env python3
"""Loads a glmkit tokenizer.json in transformers' PreTrainedTokenizerFast and compares its ids with
`glmkit bpe encode` output for the same JSONL documents (matched by id).

Usage: check_transformers.py TOKENIZER_JSON DOCS.jsonl GLMKIT_IDS.jsonl
"""
import json
import sys

from transformers import PreTrainedTokenizerFast

tok = PreTrainedTokenizerFast(tokenizer_file=sys.argv[1])
# Matched by id: glmkit skips records its readers quarantine (e.g. empty text).
ours = {r["id"]: r["ids"] for r in map(json.loads, open(sys.argv[3], encoding="utf-8"))}
records = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
docs = [r["text"] for r in records if r["id"] in ours]
theirs = [tok.encode(d, add_special_tokens=False) for d in docs]
ours = [ours[r["id"]] for r in records if r["id"] in ours]
bad = sum(a != b for a, b in zip(ours, theirs)) + abs(len(ours) - len(theirs))
back = sum(tok.decode(ids) != d for ids, d in zip(theirs, docs))
print(f"transformers {len(docs)} documents: {bad} with different ids, {back} not decoding back to the text")
sys.exit(1 if bad or back else 0)
