#!/usr/bin/env python3
"""Benchmark corpus for dedup: the shared corpus replicated with edits.

Usage: make_edit_corpus.py CORPUS_DIR OUT_DIR TARGET_MB [FILES]

Copy 0 is every record of clean, neardup and noisy as it is; copy k > 0 holds every record with
about 1.5 % of its words replaced by `w<random>` (a near duplicate, Jaccard about 0.86 over
5-grams), every 5th record exact instead. Ids get a `c<k>/` prefix. Writes FILES files
OUT_DIR/part-NN.jsonl.zst (zstd -3) of about TARGET_MB MB of JSON lines in all. Seeded, so the
same arguments give the same files. Needs the zstd tool.
"""
import json, os, random, re, subprocess, sys

corpus, out_dir, target_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(out_dir, exist_ok=True)
files = int(sys.argv[4]) if len(sys.argv) > 4 else 8
records = []
for name in ["clean", "neardup", "noisy"]:
    raw = subprocess.run(["zstd", "-dc", f"{corpus}/{name}.jsonl.zst"], check=True, capture_output=True).stdout
    records += [json.loads(l) for l in raw.decode().split("\n") if l.strip()]
rng = random.Random(7)
word = re.compile(r"\S+")
target = target_mb * 1_000_000
lines, size, copy = [], 0, 0
while size < target:
    for i, r in enumerate(records):
        r2 = dict(r)
        r2["id"] = f"c{copy}/{r['id']}"
        if copy > 0 and i % 5 != 0:
            r2["text"] = word.sub(lambda m: f"w{rng.randrange(10**6)}" if rng.random() < 0.015 else m.group(0), r["text"])
        line = json.dumps(r2, ensure_ascii=False) + "\n"
        lines.append(line)
        size += len(line.encode())
        if size >= target:
            break
    copy += 1
per_file = (len(lines) + files - 1) // files
for k in range(files):
    chunk = "".join(lines[k * per_file:(k + 1) * per_file]).encode()
    subprocess.run(["zstd", "-q", "-3", "-f", "-o", f"{out_dir}/part-{k:02}.jsonl.zst"], input=chunk, check=True)
print(f"{len(lines)} records, {size / 1e6:.1f} MB in {files} files ({copy} copies)")
