#!/usr/bin/env python3
"""Copy a small, deterministic multilingual sample of the shared corpus into fixtures/corpus/.

Usage: python3 scripts/sample_corpus_fixture.py ../shared/corpus fixtures/corpus

Takes, for each language of clean.jsonl.zst, the first PER_LANG documents (in id order) of at
most MAX_CHARS characters, and writes them with all their fields to sample.jsonl.zst.
Needs only the `zstd` command line tool.
"""
import json
import subprocess
import sys
from collections import defaultdict

PER_LANG = 4
MAX_CHARS = 3000


def read_zst(path):
    out = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    return [json.loads(line) for line in out.decode("utf-8").split("\n") if line]


def main(corpus_dir, out_dir):
    taken = defaultdict(int)
    sample = []
    for doc in read_zst(f"{corpus_dir}/clean.jsonl.zst"):
        if len(doc["text"]) <= MAX_CHARS and taken[doc["lang"]] < PER_LANG:
            taken[doc["lang"]] += 1
            sample.append(doc)
    data = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in sample).encode("utf-8")
    subprocess.run(["zstd", "-q", "-19", "-f", "-o", f"{out_dir}/sample.jsonl.zst"], input=data, check=True)
    print(f"{len(sample)} documents in {len(taken)} languages, {len(data)} bytes uncompressed")


if __name__ == "__main__":
    main(*sys.argv[1:3])
