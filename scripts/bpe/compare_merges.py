#!/usr/bin/env python3
"""Exits 0 when two tokenizer.json files have the same model vocab and the same merges in order."""
import json
import sys


def model(path):
    m = json.load(open(path, encoding="utf-8"))["model"]
    merges = [tuple(x) if isinstance(x, list) else tuple(x.split(" ", 1)) for x in m["merges"]]
    return m["vocab"], merges


(va, ma), (vb, mb) = model(sys.argv[1]), model(sys.argv[2])
first = next((i for i, (a, b) in enumerate(zip(ma, mb)) if a != b), None)
print(f"merges {len(ma)} vs {len(mb)}; first difference: {first}; vocab equal: {va == vb}")
sys.exit(0 if va == vb and ma == mb else 1)
