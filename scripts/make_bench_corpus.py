#!/usr/bin/env python3
"""Build a benchmark corpus by replicating the shared development corpus.

Usage: python3 scripts/make_bench_corpus.py ../shared/corpus OUT_DIR [TARGET_MB] [FILES]

Writes FILES files OUT_DIR/part-NN.jsonl.zst holding about TARGET_MB MB of JSON lines
(uncompressed): every record of clean, neardup and noisy, repeated with the copy number
prepended to the id (`c3/<id>`), compressed with `zstd -3`. Needs only the zstd tool.
"""
import json
import subprocess
import sys


def read_zst(path):
    out = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    return [line for line in out.decode("utf-8").split("\n") if line]


def main(corpus_dir, out_dir, target_mb=200, files=8):
    target = int(target_mb) * 1_000_000
    files = int(files)
    lines = []
    for name in ["clean", "neardup", "noisy"]:
        lines += read_zst(f"{corpus_dir}/{name}.jsonl.zst")
    records = [json.loads(l) for l in lines]
    out = []
    size, copy = 0, 0
    while size < target:
        for r in records:
            r2 = dict(r)
            r2["id"] = f"c{copy}/{r['id']}"
            line = json.dumps(r2, ensure_ascii=False) + "\n"
            out.append(line)
            size += len(line.encode("utf-8"))
            if size >= target:
                break
        copy += 1
    per_file = (len(out) + files - 1) // files
    for k in range(files):
        chunk = "".join(out[k * per_file:(k + 1) * per_file]).encode("utf-8")
        subprocess.run(["zstd", "-q", "-3", "-f", "-o", f"{out_dir}/part-{k:02}.jsonl.zst"], input=chunk, check=True)
    print(f"{len(out)} records, {size / 1e6:.1f} MB in {files} files ({copy} copies)")


if __name__ == "__main__":
    main(*sys.argv[1:])
