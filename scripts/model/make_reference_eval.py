"""Copy the evaluation documents of the built-in reference model into fixtures/reference-eval/.

- clean.jsonl: every clean document of the bundled corpus held out from the model's training
  (the rule of scripts/model/train_reference.py, checked against data/model/train_report.json),
  with `id`, `lang`, `format`, `text`.
- noisy.jsonl: noisy documents of the bundled corpus, `id`, `defect`, `text`: every document of
  each defect, at most PER_DEFECT per defect (the first by SHA-1 of id).

Each text is cut to its first MAX_BYTES bytes (at a character boundary), so that the AUC test
scores a few tens of thousands of tokens in a debug build; `cut_from` records the full length.

Run: python scripts/model/make_reference_eval.py /path/to/corpus [fixtures/reference-eval]
Needs zstandard.
"""
import hashlib
import io
import json
import os
import sys

import zstandard

HELD_OUT_PERCENT = 15  # as in train_reference.py
MAX_BYTES = 256
PER_DEFECT = 24


def sha(doc_id):
    return hashlib.sha1(doc_id.encode()).hexdigest()


def held_out(doc_id):
    return int(sha(doc_id)[:8], 16) % 100 < HELD_OUT_PERCENT


def read(path):
    with open(path, "rb") as f:
        text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8")
        return [json.loads(line) for line in text]


def cut(text):
    data = text.encode("utf-8")
    if len(data) <= MAX_BYTES:
        return text
    return data[:MAX_BYTES].decode("utf-8", errors="ignore")


def main():
    corpus = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "fixtures/reference-eval"
    os.makedirs(out, exist_ok=True)
    with open("data/model/train_report.json", encoding="utf-8") as f:
        recorded = set(json.load(f)["data"]["held_out_ids"])

    clean = [d for d in read(os.path.join(corpus, "clean.jsonl.zst")) if held_out(d["id"])]
    assert {d["id"] for d in clean} == recorded, "held-out rule differs from the training run's"
    with open(os.path.join(out, "clean.jsonl"), "w", encoding="utf-8") as f:
        for d in clean:
            rec = {"id": d["id"], "lang": d["lang"], "format": d["format"], "text": cut(d["text"]),
                   "cut_from": len(d["text"].encode())}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")

    by_defect = {}
    for d in read(os.path.join(corpus, "noisy.jsonl.zst")):
        by_defect.setdefault(d["defect"], []).append(d)
    with open(os.path.join(out, "noisy.jsonl"), "w", encoding="utf-8") as f:
        for defect in sorted(by_defect):
            chosen = sorted(by_defect[defect], key=lambda d: sha(d["id"]))[:PER_DEFECT]
            for d in sorted(chosen, key=lambda d: d["id"]):
                rec = {"id": d["id"], "defect": d["defect"], "text": cut(d["text"]),
                       "cut_from": len(d["text"].encode())}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
