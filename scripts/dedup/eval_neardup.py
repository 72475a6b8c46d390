#!/usr/bin/env python3
"""Precision / recall / F1 of near-duplicate removals against the neardup ground truth.

Usage: eval_neardup.py NEARDUP.jsonl.zst REMOVED_IDS.txt
REMOVED_IDS.txt holds one removed document id per line (from glmkit's rejected/ output or a
peer's). A removal is right when its true cluster (`dup_cluster`) has another member; at most
size-1 removals count per true cluster.
"""
import collections, json, subprocess, sys

raw = subprocess.run(["zstd", "-dc", sys.argv[1]], check=True, capture_output=True).stdout
cluster_of = {}
size = collections.Counter()
for line in raw.decode().splitlines():
    d = json.loads(line)
    cluster_of[d["id"]] = d["dup_cluster"]
    size[d["dup_cluster"]] += 1
removed = [l.strip() for l in open(sys.argv[2]) if l.strip()]
per_cluster = collections.Counter(cluster_of[i] for i in removed)
right = sum(min(n, size[c] - 1) for c, n in per_cluster.items())
possible = sum(s - 1 for s in size.values())
p = right / len(removed) if removed else 1.0
r = right / possible
f1 = 2 * p * r / (p + r) if p + r else 0.0
print(json.dumps({"removed": len(removed), "right": right, "possible": possible,
                  "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}))
