"""Builds fixtures/filter/{clean,noisy}.jsonl.zst: a deterministic slice of the shared corpus.

Selection (no look at any filter's result): documents of at most MAX_BYTES bytes of UTF-8,
ordered by SHA-1 of their id; per language the first PER_LANG clean documents that are not
`gettext` plus the first GETTEXT_PER_LANG gettext catalogs; per defect the first PER_DEFECT
noisy documents. Fields are kept as they are.

Usage: python make_fixture.py /work/shared/corpus fixtures/filter
"""

import collections
import hashlib
import json
import subprocess
import sys

MAX_BYTES = 10_000
PER_LANG = 20
GETTEXT_PER_LANG = 1
PER_DEFECT = 6


def load(path):
    raw = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
    return [json.loads(line) for line in raw.decode().split("\n") if line.strip()]


def key(doc):
    return hashlib.sha1(doc["id"].encode()).hexdigest()


def write(path, docs):
    data = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode()
    subprocess.run(["zstd", "-19", "-q", "-f", "-o", path], input=data, check=True)


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    clean = sorted((d for d in load(f"{corpus}/clean.jsonl.zst") if len(d["text"].encode()) <= MAX_BYTES), key=key)
    taken, gettext = collections.Counter(), collections.Counter()
    picked = []
    for d in clean:
        if d["format"] == "gettext":
            if gettext[d["lang"]] < GETTEXT_PER_LANG:
                gettext[d["lang"]] += 1
                picked.append(d)
        elif taken[d["lang"]] < PER_LANG:
            taken[d["lang"]] += 1
            picked.append(d)
    noisy = sorted((d for d in load(f"{corpus}/noisy.jsonl.zst") if len(d["text"].encode()) <= MAX_BYTES), key=key)
    per_defect = collections.Counter()
    bad = []
    for d in noisy:
        if per_defect[d["defect"]] < PER_DEFECT:
            per_defect[d["defect"]] += 1
            bad.append(d)
    write(f"{out}/clean.jsonl.zst", picked)
    write(f"{out}/noisy.jsonl.zst", bad)
    print(f"clean {len(picked)} ({dict(sorted(taken.items()))}, gettext {sum(gettext.values())}); noisy {len(bad)} {dict(per_defect)}")


if __name__ == "__main__":
    main()
