#!/usr/bin/env python3
"""Run datatrove's MinHash dedup (its defaults: 5-grams, 14 buckets x 8 hashes) on a JSONL folder.

Usage: datatrove_minhash.py INPUT_DIR WORK_DIR TASKS REMOVED_IDS_OUT
Prints the seconds of each stage and in total as JSON; writes the removed ids, one per line.
Needs `pip install datatrove` (0.10.1 was used) and its word-tokenizer dependencies.
"""
import json, os, sys, time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
                                              MinhashDedupCluster, MinhashDedupFilter)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter

inp, work, tasks, removed_out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
config = MinhashConfig()
reader = lambda: JsonlReader(inp, glob_pattern="*.jsonl", text_key="text", id_key="id")
stages = [
    ("signatures", [reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=config)], tasks),
    ("buckets", [MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=config)],
     config.num_buckets),
    ("cluster", [MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=config)], 1),
    ("filter", [reader(), MinhashDedupFilter(input_folder=f"{work}/remove_ids",
                                             exclusion_writer=JsonlWriter(f"{work}/removed", compression=None)),
                JsonlWriter(f"{work}/kept", compression=None)], tasks),
]
times = {}
start = time.time()
for name, pipeline, n in stages:
    t = time.time()
    LocalPipelineExecutor(pipeline=pipeline, tasks=n, workers=min(n, tasks), logging_dir=f"{work}/logs/{name}",
                          skip_completed=False).run()
    times[name] = round(time.time() - t, 2)
times["total"] = round(time.time() - start, 2)
with open(removed_out, "w") as out:
    for root, _, files in os.walk(f"{work}/removed"):
        for f in sorted(files):
            for line in open(os.path.join(root, f)):
                out.write(json.loads(line)["id"] + "\n")
print(json.dumps(times))
