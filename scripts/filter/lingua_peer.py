"""lingua (PyPI `lingua-language-detector`: Python bindings over the lingua Rust crate, the same
models and code) as a language identifier, for the choice of crate in docs/filter.md: accuracy
per language on whole documents, throughput and memory, with glmkit's candidate languages (the
24 corpus languages, th, hi, he, fa, la).

Usage:
  python lingua_peer.py accuracy CORPUS/clean.jsonl.zst [--low] > lingua.jsonl   (table on stderr)
  python lingua_peer.py speed [--low] [--runs N] FILE.jsonl.zst...

`--low` is lingua's low accuracy mode (trigrams only, smaller models). `speed` reports docs/s,
MB/s and the CPU seconds of one pass (all threads, user + sys) for one thread
(`detect_language_of` per document) and for lingua's own parallel call
(`detect_languages_in_parallel_of`, all cores), median of N runs after a warm-up, and the peak
resident memory of the process with the models loaded.
"""

import collections
import json
import resource
import statistics
import subprocess
import sys
import time

from lingua import IsoCode639_1, LanguageDetectorBuilder

CODES = "zh en de fr es it pt ru pl uk cs nl sv ja ko vi id el tr hu fi da ro ar th hi he fa la".split()


def load(paths):
    docs = []
    for path in paths:
        raw = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
        docs += [json.loads(l) for l in raw.decode().split("\n") if l.strip()]
    return docs


def detector(low):
    isos = [getattr(IsoCode639_1, c.upper()) for c in CODES]
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*isos).with_preloaded_language_models()
    if low:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


def code(language):
    return None if language is None else language.iso_code_639_1.name.lower()


def accuracy(path, low):
    det = detector(low)
    per_lang = collections.defaultdict(lambda: [0, 0])
    for doc in load([path]):
        found = code(det.detect_language_of(doc["text"]))
        print(json.dumps({"id": doc["id"], "lang": doc["lang"], "lingua_lang": found}))
        per_lang[doc["lang"]][0] += 1
        per_lang[doc["lang"]][1] += found == doc["lang"]
    total = [sum(v[0] for v in per_lang.values()), sum(v[1] for v in per_lang.values())]
    for lang, (n, ok) in sorted(per_lang.items()) + [("all", total)]:
        print(f"{lang}\t{ok}/{n}\t{ok / n:.3f}", file=sys.stderr)


def speed(paths, low, runs):
    texts = [d["text"] for d in load(paths)]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    det = detector(low)
    mode = "low accuracy" if low else "high accuracy"
    print(f"{len(texts)} documents, {mb:.2f} MB; lingua {mode}; peak RSS with models "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("| task | threads | docs/s | MB/s | CPU s per pass |\n|---|---|---|---|---|")
    tasks = [
        ("1", lambda: [det.detect_language_of(t) for t in texts]),
        ("all cores", lambda: det.detect_languages_in_parallel_of(texts)),
    ]
    for threads, fn in tasks:
        fn()
        walls, cpus = [], []
        for _ in range(runs):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            fn()
            walls.append(time.perf_counter() - wall0)
            cpus.append(time.process_time() - cpu0)
        wall = statistics.median(walls)
        print(f"| lingua {mode}, whole documents | {threads} | {len(texts) / wall:.0f} | "
              f"{mb / wall:.2f} | {statistics.mean(cpus):.3f} |", flush=True)
    print(f"peak RSS after the runs: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main():
    args = sys.argv[1:]
    low = "--low" in args
    runs = 3
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i : i + 2]
    args = [a for a in args if not a.startswith("--")]
    if args[0] == "accuracy":
        accuracy(args[1], low)
    elif args[0] == "speed":
        speed(args[1:], low, runs)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
