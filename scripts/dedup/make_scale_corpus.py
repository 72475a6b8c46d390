#!/usr/bin/env python3
"""Generated corpus for dedup scaling runs: N MB of JSON lines (.jsonl.zst) in several files.

Usage: make_scale_corpus.py OUT_DIR TARGET_MB [--files 8] [--corpus /work/shared/corpus] [--seed 7]

make_edit_corpus.py replicates the shared corpus (4 MB) with small edits, so past a few copies
every document is a near duplicate and every line recurs: fine for speed, not for memory at
scale, where most documents are unique. This script streams documents drawn from the shared
corpus (clean, neardup, noisy) and mixes, in a seeded order:

- 70 % fresh documents: a window of up to 3,000 characters of a source document, with every line made unique (a `w<n>` token
  inserted) and about 15 % of its words replaced, so fresh documents share few shingles;
- 20 % near duplicates of a recent fresh document (about 1.5 % of words replaced, Jaccard
  about 0.86 over 5-grams: fuzzy dedup links them);
- 10 % exact copies of a recent document (exact dedup removes them);
- about 30 % of documents get a boilerplate header or footer from a pool of 2,000 lines
  (line dedup removes them).

Ids are `s<n>`, unique. Files are written one after the other through `zstd -3` (so memory
stays small whatever the size); TARGET_MB counts the uncompressed JSON lines. Same arguments,
same bytes. Needs the zstd tool.
"""
import argparse
import json
import os
import random
import re
import subprocess

ap = argparse.ArgumentParser()
ap.add_argument("out_dir")
ap.add_argument("target_mb", type=float)
ap.add_argument("--files", type=int, default=8)
ap.add_argument("--corpus", default="/work/shared/corpus")
ap.add_argument("--seed", type=int, default=7)
args = ap.parse_args()

os.makedirs(args.out_dir, exist_ok=True)
sources = []
for name in ["clean", "neardup", "noisy"]:
    raw = subprocess.run(
        ["zstd", "-dc", f"{args.corpus}/{name}.jsonl.zst"], check=True, capture_output=True
    ).stdout
    for line in raw.decode().split("\n"):
        if line.strip():
            r = json.loads(line)
            if isinstance(r.get("text"), str) and r["text"].strip():
                sources.append(r["text"])

rng = random.Random(args.seed)
word = re.compile(r"\S+")
boiler = [
    f"{rng.choice(['Copyright', 'Posted by', 'Share this', 'Read more at', '版权所有', 'Alle Rechte'])} "
    f"site{i} {rng.randrange(10**6)}"
    for i in range(2000)
]


def edit(text, rate):
    """Replaces about `rate` of the words by random tokens."""
    return word.sub(
        lambda m: f"w{rng.randrange(10**9)}" if rng.random() < rate else m.group(0), text
    )


def fresh():
    # A window of at most about 3,000 characters of a source (web pages are a few KB; some
    # sources are whole books).
    src = rng.choice(sources).split("\n")
    start = rng.randrange(len(src))
    window, chars = [], 0
    for line in src[start:]:
        if window and chars + len(line) > 3000:
            break
        window.append(line[:3000])
        chars += len(line) + 1
    lines = []
    for line in window:
        if line.strip():
            cut = rng.randrange(len(line) + 1)
            line = f"{line[:cut]} w{rng.randrange(10**12)} {line[cut:]}"
        lines.append(line)
    return edit("\n".join(lines), 0.15)


target = int(args.target_mb * 1_000_000)
per_file = target // args.files
recent = []  # recent fresh documents, the originals of duplicates
n = 0
total = 0
for k in range(args.files):
    path = f"{args.out_dir}/part-{k:03}.jsonl.zst"
    z = subprocess.Popen(["zstd", "-q", "-3", "-f", "-o", path], stdin=subprocess.PIPE)
    size = 0
    buf = []
    while size < per_file:
        roll = rng.random()
        if roll < 0.7 or not recent:
            text = fresh()
            recent.append(text)
            if len(recent) > 5000:
                recent[rng.randrange(5000)] = recent.pop()
        elif roll < 0.9:
            text = edit(rng.choice(recent), 0.015)
        else:
            text = rng.choice(recent)
        b = rng.random()
        if b < 0.15:
            text = rng.choice(boiler) + "\n" + text
        elif b < 0.3:
            text = text + "\n" + rng.choice(boiler)
        line = json.dumps({"id": f"s{n}", "text": text}, ensure_ascii=False) + "\n"
        n += 1
        data = line.encode()
        size += len(data)
        buf.append(data)
        if len(buf) >= 2000:
            z.stdin.write(b"".join(buf))
            buf = []
    z.stdin.write(b"".join(buf))
    z.stdin.close()
    if z.wait() != 0:
        raise SystemExit(f"zstd failed on {path}")
    total += size
print(f"{n} records, {total / 1e6:.1f} MB in {args.files} files")
