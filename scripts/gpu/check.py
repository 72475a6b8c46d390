#!/usr/bin/env python3
"""GPU check of glmkit's CUDA build, run by scripts/gpu/check.sh (see docs/gpu.md).

1. Golden fixtures on CUDA: `glmkit model forward` in f32 within 1e-4 of transformers' logits
   (and 1e-5 relative perplexity), bf16 within the CPU tests' bounds (0.25 logits, 3e-2 relative
   perplexity); `glmkit model score` in f32 against the scoring fixture (1e-5 relative), and in
   bf16 twice on one input: identical scores run to run?
2. Benchmark at three shapes with random bf16 weights made here: `glmkit model score` against
   transformers' GlmForCausalLM (sdpa attention, LM head on the predicting positions, log-softmax
   and gather on the GPU), same documents, tokenizer and windows: tokens/s, peak GPU memory
   (nvidia-smi, per process) and MFU = 2 x matmul parameters x predicted tokens / s over the bf16
   matmul peak measured by torch in the same run.

--dry-run does everything that needs no GPU (arguments, inputs, documents, weights at the
smallest shape on the CPU when torch is there, the binary's clean failure without a GPU).
"""
import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "model"
GOLDEN_MODELS = ["glm-gqa", "glm-mqa", "glm4-gqa", "chatglm-gqa", "chatglm-mqa"]
GOLDEN_INPUTS = ["padded", "long"]

# GLM-4's layer layout (transformers `glm`); max_tokens = window, tokens = predicted tokens scored.
SHAPES = {
    "57m": dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
                head_dim=64, intermediate_size=1536, vocab_size=32000,
                max_tokens=1024, batch_tokens=16384, tokens=262144),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=16, num_key_value_heads=2,
               head_dim=128, intermediate_size=5632, vocab_size=151552,
               max_tokens=2048, batch_tokens=16384, tokens=131072),
    "9b": dict(hidden_size=4096, num_hidden_layers=40, num_attention_heads=32, num_key_value_heads=2,
               head_dim=128, intermediate_size=13696, vocab_size=151552,
               max_tokens=2048, batch_tokens=16384, tokens=65536),
}


START = time.monotonic()
# The whole check must end within 8 minutes: optional runs are skipped past this many seconds.
OPTIONAL_UNTIL = 6.5 * 60


def log(*args):
    print(*args, flush=True)


def fail(message):
    raise SystemExit(f"check.py: {message}")


# ---------------------------------------------------------------------------------------------
# glmkit runs


def run_glmkit(glmkit, args, memory=None, check=True):
    """Runs glmkit; returns (stdout, stderr, peak GPU MiB of its process or None)."""
    # Without a backtrace, as a user sees it (anyhow appends one when RUST_BACKTRACE is set).
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_BACKTRACE", "RUST_LIB_BACKTRACE")}
    proc = subprocess.Popen([str(glmkit)] + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    if memory:
        memory.watch(proc.pid)
    out, err = proc.communicate()
    peak = memory.peak(proc.pid) if memory else None
    if check and proc.returncode != 0:
        fail(f"glmkit {' '.join(map(str, args))} exited {proc.returncode}:\n{err[-3000:]}")
    return out, err, peak, proc.returncode


class GpuMemory(threading.Thread):
    """Peak GPU memory of a process, from nvidia-smi every 50 ms: its own figure where
    nvidia-smi lists it (per-process accounting can be missing in containers), else the card's
    used memory above what it was when the watch began."""

    def __init__(self):
        super().__init__(daemon=True)
        self.lock = threading.Lock()
        self.peaks, self.used, self.base, self.used_peak = {}, 0, 0, 0
        self.start()

    def watch(self, pid):
        time.sleep(0.2)
        with self.lock:
            self.peaks.pop(pid, None)
            self.base = self.used_peak = self.used

    def peak(self, pid):
        time.sleep(0.2)
        with self.lock:
            if pid in self.peaks:
                return self.peaks[pid]
            return f"{self.used_peak - self.base} (card)"

    def run(self):
        while True:
            try:
                apps = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                                       "--format=csv,noheader,nounits"], capture_output=True,
                                      text=True, timeout=5).stdout
                used = subprocess.run(["nvidia-smi", "--query-gpu=memory.used",
                                       "--format=csv,noheader,nounits"], capture_output=True,
                                      text=True, timeout=5).stdout
            except Exception:
                apps, used = "", ""
            with self.lock:
                for line in apps.splitlines():
                    parts = [p.strip() for p in line.split(",")]
                    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                        pid, mib = int(parts[0]), int(parts[1])
                        self.peaks[pid] = max(self.peaks.get(pid, 0), mib)
                if used.strip().splitlines() and used.strip().splitlines()[0].isdigit():
                    self.used = int(used.strip().splitlines()[0])
                    self.used_peak = max(self.used_peak, self.used)
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# 1. golden fixtures


def golden_checks(glmkit, work, results):
    import torch
    from safetensors.torch import load_file

    golden = json.loads((FIXTURES / "golden.json").read_text())
    reference = load_file(str(FIXTURES / "golden.safetensors"))
    ok = True
    for input_name in GOLDEN_INPUTS:
        batch = golden["inputs"][input_name]
        (work / f"{input_name}.json").write_text(json.dumps(batch))
    for name in GOLDEN_MODELS:
        source = golden["models"][name].get("same_as", name) if isinstance(golden["models"][name], dict) else name
        for input_name in GOLDEN_INPUTS:
            batch = golden["inputs"][input_name]
            lengths = [sum(m) for m in batch["attention_mask"]] if batch.get("attention_mask") else \
                [len(r) for r in batch["input_ids"]]
            theirs = reference[f"{source}.{input_name}"].float()
            for dtype, logit_bound, ppl_bound in [("f32", 1e-4, 1e-5), ("bf16", 0.25, 3e-2)]:
                out_file = work / f"logits-{name}-{input_name}-{dtype}.safetensors"
                out, _, _, _ = run_glmkit(glmkit, ["model", "forward", "--model", FIXTURES / name,
                                                   "--input", work / f"{input_name}.json",
                                                   "--output", out_file, "--dtype", dtype,
                                                   "--device", "cuda"])
                ours = load_file(str(out_file))["logits"].float()
                diff = max(float((ours[b, :n] - theirs[b, :n]).abs().max()) for b, n in enumerate(lengths))
                expected = golden["models"][source][input_name]
                seqs = json.loads(out)["sequences"]
                rel = max(abs(s["perplexity"] - e["perplexity"]) / e["perplexity"]
                          for s, e in zip(seqs, expected))
                good = diff < logit_bound and rel < ppl_bound
                ok &= good
                results.append(dict(check="forward", model=name, input=input_name, dtype=dtype,
                                    max_logit_diff=diff, max_ppl_rel=rel, ok=good))
                log(f"{'ok  ' if good else 'FAIL'} forward {name:12s} {input_name:6s} {dtype:4s} "
                    f"max|dlogit| {diff:.2e} (< {logit_bound:g})  ppl rel {rel:.2e} (< {ppl_bound:g})")
    # Scoring fixture: windows, prefix, NLL on the device, packing.
    score = json.loads((FIXTURES / "score_golden.json").read_text())
    docs = work / "score_docs.jsonl"
    docs.write_text("".join(json.dumps({"id": i, "text": d["text"]}) + "\n"
                            for i, d in enumerate(score["docs"])))
    common = ["model", "score", "--model", FIXTURES / score["model"], "--tokenizer",
              FIXTURES / "tokenizer.json", "--input", docs,
              "--max-tokens", score["options"]["max_tokens"], "--stride", score["options"]["stride"],
              "--batch-tokens", 64, "--device", "cuda"]
    out, _, _, _ = run_glmkit(glmkit, common + ["--dtype", "f32"])
    rel = 0.0
    for line, expected in zip(out.splitlines(), score["docs"]):
        ours = json.loads(line)
        if expected["ppl"] is None:
            rel = max(rel, 0.0 if ours["ppl"] is None else float("inf"))
        else:
            rel = max(rel, abs(ours["ppl"] - expected["ppl"]) / expected["ppl"])
    good = rel < 1e-5
    ok &= good
    results.append(dict(check="score", dtype="f32", max_ppl_rel=rel, ok=good))
    log(f"{'ok  ' if good else 'FAIL'} score fixture f32: ppl rel {rel:.2e} (< 1e-5)")
    first, _, _, _ = run_glmkit(glmkit, common + ["--dtype", "bf16"])
    second, _, _, _ = run_glmkit(glmkit, common + ["--dtype", "bf16"])
    same = first == second
    results.append(dict(check="determinism", dtype="bf16", identical=same))
    log(f"{'ok  ' if same else 'DIFF'} score fixture bf16 twice, same batch: identical scores: {same}")
    return ok


# ---------------------------------------------------------------------------------------------
# 2. benchmark


def make_documents(tokenizer_path, total_tokens, max_tokens, seed=0):
    """Documents of random words from the scoring fixture, 1/4 to 2 windows long each, about
    `total_tokens` tokens in all; their exact lengths come from the tokenizer."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    score = json.loads((FIXTURES / "score_golden.json").read_text())
    words = sorted({w for d in score["docs"] for w in d["text"].split()})
    rng = random.Random(seed)
    sample = " ".join(rng.choice(words) for _ in range(2000))
    per_word = len(tok.encode(sample, add_special_tokens=False).ids) / 2000
    docs, tokens = [], 0
    while tokens < total_tokens:
        n = rng.randint(max_tokens // 4, 2 * max_tokens)
        text = " ".join(rng.choice(words) for _ in range(int(n / per_word)))
        docs.append({"id": len(docs), "text": text})
        tokens += n
    return docs


def plan_windows(n, first_target, max_tokens, stride):
    """src/model/score/windows.rs, same windows."""
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


def make_model(shape, directory, device):
    """Random bf16 GlmForCausalLM weights of `shape`, made on `device`, saved for glmkit."""
    import torch
    from transformers import GlmConfig, GlmForCausalLM

    dims = {k: v for k, v in SHAPES[shape].items() if k not in ("max_tokens", "batch_tokens", "tokens")}
    config = GlmConfig(**dims, partial_rotary_factor=0.5, rms_norm_eps=1.5625e-07,
                       rope_theta=10000.0, max_position_embeddings=8192, attention_bias=True,
                       tie_word_embeddings=False, pad_token_id=0, eos_token_id=1,
                       attn_implementation="sdpa")
    torch.manual_seed(0)
    with torch.device(device):
        model = GlmForCausalLM(config).to(torch.bfloat16).eval()
    model.save_pretrained(str(directory), safe_serialization=True, max_shard_size="5GB")
    matmul_params = sum(p.numel() for n, p in model.named_parameters()
                        if p.dim() == 2 and "embed_tokens" not in n)
    return model, matmul_params


def torch_score(model, tokenizer_path, docs, max_tokens, batch_tokens, warmup, device="cuda"):
    """transformers' model on the same windows as glmkit (stride = max_tokens), windows sorted
    by length and batched up to batch_tokens padded tokens; the LM head on predicting positions
    only, log-softmax and gather on the GPU; per-document NLL sums stay on the GPU until the end."""
    import torch
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    prefix = [tok.token_to_id("[gMASK]"), tok.token_to_id("<sop>")]
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    seqs = [prefix + e.ids for e in tok.encode_batch([d["text"] for d in docs], add_special_tokens=False)]
    jobs = sorted(((w[1] - w[0], i, w) for i, s in enumerate(seqs)
                   for w in plan_windows(len(s), len(prefix), max_tokens, max_tokens)), key=lambda j: j[0])
    sums = torch.zeros(len(docs), dtype=torch.float64, device=dev)
    predicted = 0
    batches = []
    k = 0
    while k < len(jobs):
        rows, t = [], jobs[k][0]
        while k < len(jobs) and (len(rows) + 1) * max(t, jobs[k][0]) <= max(batch_tokens, jobs[k][0]):
            rows.append(jobs[k])
            t = max(t, jobs[k][0])
            k += 1
        batches.append((t, rows))
    if warmup:
        batches = batches[:1]
    with torch.inference_mode():
        for t, rows in batches:
            ids = torch.zeros((len(rows), t), dtype=torch.long)
            mask = torch.zeros((len(rows), t), dtype=torch.long)
            bs, ps, ts, owners = [], [], [], []
            for b, (n, i, (begin, end, first)) in enumerate(rows):
                ids[b, :n] = torch.tensor(seqs[i][begin:end])
                mask[b, :n] = 1
                pos = torch.arange(first - 1 - begin, end - 1 - begin)
                bs.append(torch.full_like(pos, b)), ps.append(pos), ts.append(ids[b, pos + 1])
                owners.append(torch.full_like(pos, i))
                predicted += end - first
            ids, mask = ids.to(dev, non_blocking=True), mask.to(dev, non_blocking=True)
            bs, ps, ts, owners = (torch.cat(x).to(dev) for x in (bs, ps, ts, owners))
            hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
            for c in range(0, len(ts), 4096):
                logits = model.lm_head(hidden[bs[c:c + 4096], ps[c:c + 4096]]).float()
                nll = -torch.log_softmax(logits, dim=-1).gather(1, ts[c:c + 4096, None])[:, 0]
                sums.index_add_(0, owners[c:c + 4096], nll.double())
    sums = sums.cpu()
    elapsed = time.perf_counter() - start
    return predicted, elapsed, sums


def matmul_peak_tflops():
    import torch

    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    times = []
    for _ in range(20):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * n ** 3 / statistics.median(times) / 1e12


def benchmark(glmkit, work, shape, memory, peak_tflops, results, device="cuda", tokens=None):
    """One shape, both engines, same documents and windows. On the CPU (--dry-run) with a few
    documents, to check the plumbing; no memory or MFU there."""
    import torch

    spec = SHAPES[shape]
    directory = work / f"model-{shape}"
    tokenizer = FIXTURES / "tokenizer.json"
    t0 = time.perf_counter()
    model, params = make_model(shape, directory, device)
    shutil.copy(tokenizer, directory / "tokenizer.json")
    made = time.perf_counter() - t0
    docs = make_documents(tokenizer, tokens or spec["tokens"], spec["max_tokens"])
    docs_file = work / f"docs-{shape}.jsonl"
    docs_file.write_text("".join(json.dumps(d) + "\n" for d in docs))
    log(f"{shape}: {params / 1e9:.3f} B matmul parameters, weights made and saved in {made:.0f} s, "
        f"{len(docs)} documents")
    gpu = device == "cuda"

    if gpu:
        torch.cuda.reset_peak_memory_stats()
        torch_score(model, tokenizer, docs, spec["max_tokens"], spec["batch_tokens"], True, device)
        memory.watch(os.getpid())
    predicted, seconds, torch_sums = torch_score(model, tokenizer, docs, spec["max_tokens"],
                                                 spec["batch_tokens"], False, device)
    rows = [dict(shape=shape, engine="transformers", tokens=predicted, seconds=seconds,
                 tokens_per_s=predicted / seconds)]
    if gpu:
        rows[0]["peak_gpu_mib"] = memory.peak(os.getpid())
        rows[0]["torch_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    del model
    if gpu:
        torch.cuda.empty_cache()

    # Packed windows (the GPU default: fewer, uniform calls, a little more padding) and one
    # window per row (length-bucketed calls, the least padding).
    for packing in ["on", "off"]:
        if packing == "off" and time.monotonic() - START > OPTIONAL_UNTIL:
            log(f"{shape}: glmkit without packing skipped (the check is near its 8 minutes)")
            break
        args = ["model", "score", "--model", directory, "--input", docs_file, "--max-tokens",
                spec["max_tokens"], "--stride", spec["max_tokens"], "--batch-tokens",
                spec["batch_tokens"], "--device", device, "--dtype", "bf16", "--packing", packing]
        out, err, peak, _ = run_glmkit(glmkit, args, memory if gpu else None)
        summary = json.loads(err.strip().splitlines()[-1])
        ours = [json.loads(line) for line in out.splitlines()]
        rows.append(dict(shape=shape, engine=f"glmkit, packing {packing}",
                         tokens=summary["predicted_tokens"], seconds=summary["seconds"],
                         tokens_per_s=summary["tokens_per_s"], peak_gpu_mib=peak,
                         padding_share=summary.get("padding_share")))
        # Same windows, same tokens: per-document perplexities of the two engines (bf16 both).
        rel = 0.0
        for d in ours:
            if d["ppl"] is not None:
                theirs = math.exp(float(torch_sums[d["id"]]) / d["predicted"])
                rel = max(rel, abs(d["ppl"] - theirs) / theirs)
        rows[-1]["max_ppl_rel_to_transformers"] = rel
        if summary["predicted_tokens"] != predicted:
            log(f"WARNING {shape}: glmkit predicted {summary['predicted_tokens']} tokens, "
                f"transformers {predicted}")
        if not gpu:
            break  # the CPU plumbing check needs one run
    for row in rows:
        row["mfu"] = 2 * params * row["tokens_per_s"] / (peak_tflops * 1e12) if peak_tflops else None
    shutil.rmtree(directory)
    results.extend(rows)
    return rows


# ---------------------------------------------------------------------------------------------


def clean_failure_without_gpu(glmkit):
    """Started without a usable GPU, glmkit must exit non-zero with one line, no panic."""
    _, err, _, code = run_glmkit(glmkit, ["model", "forward", "--model", FIXTURES / "glm-gqa",
                                          "--input", FIXTURES / "golden.json", "--device", "cuda"],
                                 check=False)
    lines = [l for l in err.splitlines() if l.strip()]
    good = code not in (0, 101) and code > 0 and len(lines) == 1 and "panicked" not in err
    log(f"{'ok  ' if good else 'FAIL'} without a GPU: exit {code}, stderr: {err.strip()!r}")
    return good


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--glmkit", required=True, type=Path, help="the CUDA build of glmkit")
    p.add_argument("--work", required=True, type=Path, help="scratch folder (weights, inputs)")
    p.add_argument("--out", type=Path, help="write results.json here")
    p.add_argument("--shapes", default="57m,1b,9b",
                   help="comma-separated benchmark shapes: " + ", ".join(SHAPES))
    p.add_argument("--skip-golden", action="store_true", help="benchmark only")
    p.add_argument("--dry-run", action="store_true", help="no GPU: check everything up to it")
    args = p.parse_args()
    shapes = [s for s in args.shapes.split(",") if s]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        fail(f"unknown shape(s) {unknown}; known: {list(SHAPES)}")
    if not args.glmkit.is_file():
        fail(f"{args.glmkit}: no such binary")
    args.work.mkdir(parents=True, exist_ok=True)
    results = []

    if args.dry_run:
        good = clean_failure_without_gpu(args.glmkit)
        for shape in shapes:
            spec = SHAPES[shape]
            docs = make_documents(FIXTURES / "tokenizer.json", spec["tokens"], spec["max_tokens"])
            log(f"dry run {shape}: {len(docs)} documents, windows of {spec['max_tokens']}")
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as e:
            log(f"dry run: no weights made ({e}); the GPU machine has torch and transformers")
        else:
            # Both engines on the CPU, on a few documents: the benchmark's plumbing.
            rows = benchmark(args.glmkit, args.work, shapes[0], None, None, results, "cpu", 2048)
            print_table(rows)
        sys.exit(0 if good else 1)

    import torch

    if not torch.cuda.is_available():
        fail("torch sees no GPU; use --dry-run to check the rest")
    log(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
        f"transformers {__import__('transformers').__version__}")
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                          "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    log(f"nvidia-smi: {smi}")
    memory = GpuMemory()
    ok = True
    if not args.skip_golden:
        ok = golden_checks(args.glmkit, args.work, results)
    peak = matmul_peak_tflops()
    log(f"bf16 matmul peak (torch, 8192^3, median of 20): {peak:.0f} TFLOP/s")
    results.append(dict(check="matmul_peak", tflops=peak))
    table = []
    for shape in shapes:
        table += benchmark(args.glmkit, args.work, shape, memory, peak, results)
    log(f"check took {time.monotonic() - START:.0f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print_table(table)
    sys.exit(0 if ok else 1)


def print_table(rows):
    log("")
    log("| shape | engine | tokens | s | tokens/s | peak GPU MiB | MFU | padding | ppl rel to transformers |")
    log("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-"
        padding = f"{r['padding_share']:.3f}" if r.get("padding_share") is not None else "-"
        log(f"| {r['shape']} | {r['engine']} | {r['tokens']} | {r['seconds']:.2f} | {r['tokens_per_s']:.0f} | "
            f"{r.get('peak_gpu_mib')} | {mfu} | {padding} | {r.get('max_ppl_rel_to_transformers', 0):.1e} |")


if __name__ == "__main__":
    main()
