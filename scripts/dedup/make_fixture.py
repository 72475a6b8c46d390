#!/usr/bin/env python3
"""Cut a small slice of whole near-duplicate clusters out of the shared near-dup corpus.

Usage: python3 scripts/dedup/make_fixture.py ../shared/corpus/neardup.jsonl.zst fixtures/dedup/neardup-slice.jsonl.zst

Keeps every cluster (by `dup_cluster`) whose documents are all at most MAX_DOC bytes, multi-member
clusters first (up to MULTI_BUDGET bytes of text), then singletons up to BUDGET bytes; a cluster is never cut. Records keep
their fields (`id`, `text`, `lang`, `source`, `origin`, `dup_cluster`) and the input order (by id).
Needs the `zstd` command line tool.
"""
import collections, json, subprocess, sys

MAX_DOC = 24_000
BUDGET = 700_000
MULTI_BUDGET = 450_000  # the rest goes to singletons, so precision is tested too

src, dst = sys.argv[1], sys.argv[2]
raw = subprocess.run(["zstd", "-dc", src], check=True, capture_output=True).stdout
docs = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
clusters = collections.defaultdict(list)
for d in docs:
    clusters[d["dup_cluster"]].append(d)
eligible = [c for c, members in clusters.items() if all(len(m["text"].encode()) <= MAX_DOC for m in members)]
# Multi-member clusters first (sorted by name for a stable choice), then singletons.
eligible.sort(key=lambda c: (len(clusters[c]) == 1, c))
chosen, size = set(), 0
for c in eligible:
    add = sum(len(m["text"].encode()) for m in clusters[c])
    budget = MULTI_BUDGET if len(clusters[c]) > 1 else BUDGET
    if size + add > budget:
        continue
    chosen.add(c)
    size += add
out = [d for d in docs if d["dup_cluster"] in chosen]
lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in out).encode()
subprocess.run(["zstd", "-19", "-q", "-f", "-o", dst], input=lines, check=True)
sizes = collections.Counter(len(clusters[c]) for c in chosen)
print(f"{len(out)} documents, {len(chosen)} clusters {dict(sorted(sizes.items()))}, {size} bytes of text")
