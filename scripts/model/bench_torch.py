"""The PyTorch peer of `glmkit score`: same model, tokenizer, windows and length-sorted batches,
scored with transformers on CPU in float32.

Run: python scripts/model/bench_torch.py BENCH_DIR [--threads 2] [--max-tokens 512] [--stride 256]
     [--batch-tokens 4096] [--out scores.jsonl]
Prints tokens/s (predicted tokens over the wall time of tokenizing + scoring) and peak RSS.
"""
import argparse
import json
import math
import os
import resource
import time

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

p = argparse.ArgumentParser()
p.add_argument("bench_dir")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--max-tokens", type=int, default=512)
p.add_argument("--stride", type=int, default=256)
p.add_argument("--batch-tokens", type=int, default=1024)
p.add_argument("--docs", help="JSONL of documents (default BENCH_DIR/docs.jsonl)")
p.add_argument("--out")
p.add_argument("--gather", action="store_true",
               help="run the LM head only on positions that predict a target (as glmkit does)")
args = p.parse_args()
torch.set_num_threads(args.threads)


def plan_windows(n, first_target, max_tokens, stride):
    first_target = max(first_target, 1)
    out, scored_up_to, begin = [], first_target, 0
    if n <= first_target:
        return out
    while True:
        begin_eff = min(begin, scored_up_to - 1)
        end = min(begin_eff + max_tokens, n)
        first = max(scored_up_to, begin_eff + 1)
        if first < end:
            out.append((begin_eff, end, first))
            scored_up_to = end
        if end == n:
            return out
        begin += stride


tok = Tokenizer.from_file(os.path.join(args.bench_dir, "tokenizer.json"))
model = AutoModelForCausalLM.from_pretrained(os.path.join(args.bench_dir, "model"), dtype=torch.float32).eval()
docs = [json.loads(l) for l in open(args.docs or os.path.join(args.bench_dir, "docs.jsonl"))]
prefix = [tok.token_to_id("[gMASK]"), tok.token_to_id("<sop>")]

start = time.perf_counter()
seqs = [prefix + e.ids for e in tok.encode_batch([d["text"] for d in docs], add_special_tokens=False)]
jobs = [(w[1] - w[0], i, w) for i, s in enumerate(seqs)
        for w in plan_windows(len(s), len(prefix), args.max_tokens, args.stride)]
jobs.sort(key=lambda j: j[0])
sums = [0.0] * len(docs)
counts = [0] * len(docs)
with torch.inference_mode():
    k = 0
    while k < len(jobs):
        t = jobs[k][0]
        rows = []
        while k < len(jobs) and (len(rows) + 1) * max(t, jobs[k][0]) <= max(args.batch_tokens, jobs[k][0]):
            rows.append(jobs[k])
            t = max(t, jobs[k][0])
            k += 1
        ids = torch.zeros((len(rows), t), dtype=torch.long)
        mask = torch.zeros((len(rows), t), dtype=torch.long)
        for b, (n, i, (begin, end, first)) in enumerate(rows):
            ids[b, :n] = torch.tensor(seqs[i][begin:end])
            mask[b, :n] = 1
        if args.gather:
            hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
            bs, ps, ts = [], [], []
            for b, (n, i, (begin, end, first)) in enumerate(rows):
                pos = torch.arange(first - 1 - begin, end - 1 - begin)
                bs.append(torch.full_like(pos, b)), ps.append(pos), ts.append(ids[b, pos + 1])
            bs, ps, ts = torch.cat(bs), torch.cat(ps), torch.cat(ts)
            logits = model.lm_head(hidden[bs, ps]).float()
            nll = torch.logsumexp(logits, dim=-1) - logits.gather(1, ts[:, None])[:, 0]
            offset = 0
            for b, (n, i, (begin, end, first)) in enumerate(rows):
                sums[i] += nll[offset:offset + end - first].double().sum().item()
                counts[i] += end - first
                offset += end - first
        else:
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            for b, (n, i, (begin, end, first)) in enumerate(rows):
                pos = torch.arange(first - 1 - begin, end - 1 - begin)
                targets = ids[b, pos + 1]
                sums[i] -= logp[b, pos, targets].double().sum().item()
                counts[i] += end - first
elapsed = time.perf_counter() - start
predicted = sum(counts)
print(json.dumps({
    "peer": "transformers %s / torch %s, %d threads%s" % (__import__("transformers").__version__, torch.__version__,
                                                          args.threads, ", LM head on targets only" if args.gather else ""),
    "documents": len(docs),
    "predicted_tokens": predicted,
    "seconds": round(elapsed, 3),
    "tokens_per_s": round(predicted / elapsed, 1),
    "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
}))
if args.out:
    with open(args.out, "w") as f:
        for d, s, c in zip(docs, sums, counts):
            f.write(json.dumps({"id": d["id"], "tokens": c, "ppl": math.exp(s / c) if c else None}) + "\n")
