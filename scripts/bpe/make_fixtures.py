#!/usr/bin/env python3
"""Builds the small BPE fixtures in fixtures/bpe/ from the shared dev corpus (real Debian text).

Usage: python3 scripts/bpe/make_fixtures.py /path/to/clean.jsonl.zst fixtures/bpe
Deterministic: documents are taken in corpus order (sorted by id) under per-file byte budgets.
"""
import json
import subprocess
import sys
from pathlib import Path


def documents(path):
    out = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    for line in out.decode("utf-8").splitlines():
        yield json.loads(line)


def take(docs, langs, budget, max_doc):
    """Whole documents of the given languages, smallest-first within the order, until budget bytes."""
    picked, used, per_lang = [], 0, {}
    share = budget // len(langs)
    for d in docs:
        n = len(d["text"].encode("utf-8"))
        if d["lang"] not in langs or n > max_doc or per_lang.get(d["lang"], 0) + n > share:
            continue
        per_lang[d["lang"]] = per_lang.get(d["lang"], 0) + n
        picked.append({"id": d["id"], "text": d["text"], "lang": d["lang"]})
        used += n
    return picked


EDGE_CASES = [
    "Hello world!  Two spaces.   Three.\tTab\t\ttabs \t mixed \n",
    "CRLF line one\r\nline two\r\n\r\n  indented\r\n",
    "trailing spaces   \nand blank lines\n\n\n   \n\tend",
    "It's they're we've I'm you'll he'd IT'S THEY'RE We'Ve",
    "numbers 1 12 123 1234 12345 3.14159 2026-11-28 \u0661\u0662\u0663\u0664\u0665 \u4e00\u4e8c\u4e09",
    "\u5168\u89d2\u7a7a\u683c\u3000\u3000\u4e4b\u540e NBSP\u00a0\u00a0here EM\u2003\u2003SPACE \u4e2d\u6587\uff0c\u6807\u70b9\u3002\u300c\u5f15\u53f7\u300d",
    "emoji \U0001f642\U0001f642 \U0001f469\u200d\U0001f469\u200d\U0001f467 flags \U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7 zwj\u200dend combining e\u0301 ",
    "special tokens in text: <|endoftext|> [gMASK]<sop> <|user|>hi<|assistant|>",
    "ascii control \x01\x02\x7f and DEL, non-breaking\u00a0x  \u00a0 y",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!  \u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5. \u3053\u3093\u306b\u3061\u306f\u4e16\u754c\u3002\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4. Xin ch\u00e0o th\u1ebf gi\u1edbi.",
    "    ",
    "",
    " a",
    "a \n\n b\n \n c  \r\n  d",
    "x\u2028y\u2029z\u0085w\u000bv\u000cu",
]


def write_edge(out):
    with open(out / "edge.jsonl", "w", encoding="utf-8") as f:
        for i, t in enumerate(EDGE_CASES):
            d = {"id": f"edge-{i}", "text": t, "lang": "en" if i < 5 else "mixed"}
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def main():
    corpus, out = sys.argv[1], Path(sys.argv[2])
    docs = list(documents(corpus))
    zh = take(docs, {"zh"}, 60_000, 6_000)
    en = take(docs, {"en"}, 50_000, 5_000)
    mixed_langs = {"zh", "en", "de", "ru", "ja", "ko", "el", "vi", "fr", "uk", "tr", "ar"}
    mixed = take([d for d in docs if d["id"] not in {x["id"] for x in zh + en}], mixed_langs, 80_000, 4_000)
    with open(out / "zh.jsonl", "w", encoding="utf-8") as f:
        for d in zh:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(out / "mixed.jsonl", "w", encoding="utf-8") as f:
        for d in mixed:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    # Plain text: the English documents one after another (a sequence per line when training).
    with open(out / "en.txt", "w", encoding="utf-8", newline="") as f:
        for d in en:
            f.write(d["text"].rstrip("\n") + "\n")
    write_edge(out)
    for name, ds in [("zh", zh), ("mixed", mixed), ("en", en)]:
        print(name, len(ds), sum(len(d["text"].encode()) for d in ds), "bytes")


if __name__ == "__main__":
    main()
