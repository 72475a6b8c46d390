#!/usr/bin/env python3
"""Encoding peer for the benchmarks: PyPI tiktoken with an Encoding built from glmkit's rank file
(tokenizer.model) and the GLM-4 pattern. Prints in-process throughput; with --check, compares
the ids with a `glmkit bpe encode` output (JSON lines in the same document order).

Usage: tiktoken_encode.py RANKS DOCS.jsonl THREADS [--check GLMKIT_OUT.jsonl]
"""
import base64
import json
import sys
import time

import tiktoken

GLM4 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def main():
    ranks_path, docs_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ranks = {}
    for line in open(ranks_path, encoding="ascii"):
        tok, rank = line.split()
        ranks[base64.b64decode(tok)] = int(rank)
    enc = tiktoken.Encoding("glmkit", pat_str=GLM4, mergeable_ranks=ranks, special_tokens={})
    docs = [json.loads(l)["text"] for l in open(docs_path, encoding="utf-8")]
    size = sum(len(d.encode()) for d in docs)
    t, cpu = time.perf_counter(), time.process_time()
    ids = enc.encode_ordinary_batch(docs, num_threads=threads)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    # CPU seconds of the whole process (all threads) during the call: the figure to read on a
    # loaded machine, where wall time depends on what else runs.
    print(f"tiktoken: {size / 1e6:.1f} MB in {elapsed:.2f}s = {size / 1e6 / elapsed:.1f} MB/s on {threads} threads, "
          f"{cpu:.2f} CPU s", file=sys.stderr)
    if len(sys.argv) > 5 and sys.argv[4] == "--check":
        ours = [json.loads(l)["ids"] for l in open(sys.argv[5], encoding="utf-8")]
        bad = sum(a != b for a, b in zip(ours, ids)) + abs(len(ours) - len(ids))
        print(f"ids: {len(ids)} documents, {sum(map(len, ids))} tokens, {bad} documents differ", file=sys.stderr)
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
