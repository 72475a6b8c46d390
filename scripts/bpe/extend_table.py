#!/usr/bin/env python3
"""Bytes per token per language from `glmkit bpe eval` outputs, as a Markdown table (one column
per vocabulary, named after the file: eval-NAME.json).

Usage: extend_table.py eval-A.json eval-B.json ...
"""
import json
import os
import sys


def main():
    names = [os.path.basename(p)[len("eval-"):-len(".json")] for p in sys.argv[1:]]
    evals = [json.load(open(p)) for p in sys.argv[1:]]
    langs = sorted(evals[0]["by_lang"], key=lambda l: -evals[0]["by_lang"][l]["bytes"])
    print("| lang | docs | bytes | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for lang in langs + ["all"]:
        figs = [e["all"] if lang == "all" else e["by_lang"][lang] for e in evals]
        cells = " | ".join(f"{f['bytes_per_token']:.2f}" for f in figs)
        print(f"| {lang} | {figs[0]['documents']} | {figs[0]['bytes']:,} | {cells} |")


if __name__ == "__main__":
    main()
