#!/usr/bin/env python3
"""Encoding peer for the benchmarks: PyPI tokenizers loading a tokenizer.json (the one glmkit
wrote). Prints in-process time around `encode_batch`; with --check, compares the ids with a
`glmkit bpe encode` output (JSON lines in the same document order).

Usage: hf_encode.py TOKENIZER_JSON DOCS.jsonl [--check GLMKIT_OUT.jsonl]
Threads: RAYON_NUM_THREADS.
"""
import json
import sys
import time

from tokenizers import Tokenizer


def main():
    tok = Tokenizer.from_file(sys.argv[1])
    docs = [json.loads(l)["text"] for l in open(sys.argv[2], encoding="utf-8")]
    size = sum(len(d.encode()) for d in docs)
    t, cpu = time.perf_counter(), time.process_time()
    ids = [e.ids for e in tok.encode_batch(docs, add_special_tokens=False)]
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"tokenizers: {size / 1e6:.1f} MB in {elapsed:.2f}s = {size / 1e6 / elapsed:.1f} MB/s, {cpu:.2f} CPU s",
          file=sys.stderr)
    if len(sys.argv) > 4 and sys.argv[3] == "--check":
        ours = [json.loads(l)["ids"] for l in open(sys.argv[4], encoding="utf-8")]
        bad = sum(a != b for a, b in zip(ours, ids)) + abs(len(ours) - len(ids))
        print(f"ids: {len(ids)} documents, {sum(map(len, ids))} tokens, {bad} documents differ", file=sys.stderr)
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
