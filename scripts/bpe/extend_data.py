#!/usr/bin/env python3
"""Data for the `glmkit bpe extend` benchmark: the shared corpus's clean documents, split by
SHA-1 of the id into a held-out tenth (every language, English included) and the rest; the rest
without English is the training text (Chinese and the other languages, as GLM-4 extended cl100k).

Usage: extend_data.py CLEAN.jsonl.zst OUT_DIR   -> OUT_DIR/train.jsonl, OUT_DIR/heldout.jsonl
"""
import hashlib
import json
import os
import subprocess
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    text = subprocess.run(["zstd", "-dc", src], check=True, capture_output=True).stdout.decode("utf-8")
    counts = {"train": 0, "heldout": 0, "english_not_used": 0}
    with open(os.path.join(out, "train.jsonl"), "w", encoding="utf-8") as train, \
            open(os.path.join(out, "heldout.jsonl"), "w", encoding="utf-8") as held:
        for line in text.splitlines():
            doc = json.loads(line)
            row = json.dumps({"id": doc["id"], "text": doc["text"], "lang": doc["lang"]}, ensure_ascii=False) + "\n"
            if hashlib.sha1(doc["id"].encode()).digest()[0] % 10 == 0:
                held.write(row)
                counts["heldout"] += 1
            elif doc["lang"] != "en":
                train.write(row)
                counts["train"] += 1
            else:
                counts["english_not_used"] += 1
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
