#!/usr/bin/env python3
"""Assembles the BPE benchmark texts from real text on the machine (deterministic order).

shared.txt: every document of the shared dev corpus (clean, noisy, neardup), one after another.
mixed.txt:  man pages of every language under /usr/share/man (roff source as shipped; up to 6 MB
            per translated language and 3 MB per English section) and UTF-8 text files under
            /usr/share/doc (up to 8 MB).
Usage: python3 scripts/bpe/bench_data.py CORPUS_DIR OUT_DIR
"""
import gzip
import json
import os
import subprocess
import sys


def write_doc(out, t):
    out.write(t if t.endswith("\n") else t + "\n")


def main():
    corpus, out_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(out_dir, "shared.txt"), "w", encoding="utf-8") as out:
        for f in ["clean", "noisy", "neardup"]:
            data = subprocess.run(["zstd", "-dc", f"{corpus}/{f}.jsonl.zst"], capture_output=True, check=True).stdout
            for line in data.decode("utf-8").split("\n"):
                if line.strip():
                    write_doc(out, json.loads(line)["text"])
    root = "/usr/share/man"
    with open(os.path.join(out_dir, "mixed.txt"), "w", encoding="utf-8") as out:
        for lang in sorted(os.listdir(root)):
            cap = 3_000_000 if lang.startswith("man") else 6_000_000
            used = 0
            for dp, dn, fn in sorted(os.walk(os.path.join(root, lang))):
                dn.sort()
                for f in sorted(fn):
                    p = os.path.join(dp, f)
                    if not f.endswith(".gz") or os.path.islink(p):
                        continue
                    try:
                        t = gzip.open(p).read().decode("utf-8")
                    except Exception:
                        continue
                    if used + len(t.encode()) > cap:
                        continue
                    write_doc(out, t)
                    used += len(t.encode())
        used = 0
        for dp, dn, fn in sorted(os.walk("/usr/share/doc")):
            dn.sort()
            for f in sorted(fn):
                p = os.path.join(dp, f)
                if os.path.islink(p) or not (f.endswith((".txt", ".md", ".rst", ".gz")) or f == "copyright"):
                    continue
                try:
                    raw = open(p, "rb").read()
                    if f.endswith(".gz"):
                        raw = gzip.decompress(raw)
                    t = raw.decode("utf-8")
                except Exception:
                    continue
                if "\0" in t or used + len(raw) > 8_000_000:
                    continue
                write_doc(out, t)
                used += len(raw)


if __name__ == "__main__":
    main()
