"""Train glmkit's built-in reference GLM-4 (transformers `glm` layout) on the bundled clean corpus.

Steps (all deterministic from SEED):
  1. Split the clean documents: a document is held out for evaluation when the first 8 hex
     digits of SHA-1(id), as an integer, modulo 100 are below HELD_OUT_PERCENT. Held-out ids
     are recorded in train_report.json and never enter the vocabulary or the model's training.
  2. Train the vocabulary with `glmkit bpe train` on the training documents (GLM-4's special
     tokens, so the scorer prepends [gMASK]<sop> as it does for GLM-4).
  3. Train a small GlmForCausalLM (float32, AdamW, warmup + cosine) on random windows of the
     concatenated training documents, each document written as [gMASK]<sop> text <|endoftext|>.
  4. Save bf16 safetensors + config.json + tokenizer.json and train_report.json (data, settings,
     losses, held-out loss) in OUT.

Run (the shipped model: --steps 6000, 73 minutes on the project's 2-core VM; without --steps,
  as many steps as fit in --minutes):
  cargo build --release
  nice -n 10 python scripts/model/train_reference.py \
      --corpus /path/to/clean.jsonl.zst --glmkit target/release/glmkit --out data/model --steps 6000
Needs torch, transformers (5.x), safetensors, zstandard.
"""
import argparse
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

import torch
import zstandard
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import GlmConfig, GlmForCausalLM

SEED = 12
HELD_OUT_PERCENT = 15
VOCAB_SIZE = 8192
MODEL = dict(
    vocab_size=VOCAB_SIZE,
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=32,
    partial_rotary_factor=0.5,
    rope_theta=10000.0,
    rms_norm_eps=1e-5,
    max_position_embeddings=512,
    attention_bias=True,
    tie_word_embeddings=False,
)
TRAIN = dict(seq_len=512, batch=8, lr=3e-3, min_lr=3e-4, warmup=30, weight_decay=0.1, grad_clip=1.0)


def held_out(doc_id: str) -> bool:
    return int(hashlib.sha1(doc_id.encode()).hexdigest()[:8], 16) % 100 < HELD_OUT_PERCENT


def read_jsonl_zst(path):
    with open(path, "rb") as f:
        text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8")
        return [json.loads(line) for line in text]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True, help="clean.jsonl.zst of the bundled corpus")
    ap.add_argument("--glmkit", default="target/release/glmkit")
    ap.add_argument("--out", default="data/model")
    ap.add_argument("--steps", type=int, default=0,
                    help="optimizer steps; 0: as many as fit in --minutes, measured on the first "
                         "steps (the number run is recorded, so --steps N repeats the run exactly)")
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    docs = read_jsonl_zst(args.corpus)
    train_docs = [d for d in docs if not held_out(d["id"])]
    eval_docs = [d for d in docs if held_out(d["id"])]
    print(f"{len(train_docs)} training and {len(eval_docs)} held-out documents", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        train_path = os.path.join(tmp, "train.jsonl")
        with open(train_path, "w", encoding="utf-8") as f:
            for d in train_docs:
                f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
        tok_dir = os.path.join(tmp, "tok")
        subprocess.run([args.glmkit, "bpe", "train", train_path, "--vocab-size", str(VOCAB_SIZE),
                        "--special-tokens", "glm4", "--output", tok_dir, "--threads", "1"], check=True)
        with open(os.path.join(tok_dir, "tokenizer.json"), encoding="utf-8") as f:
            tokenizer_json = f.read()
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(tokenizer_json)

    tok = Tokenizer.from_str(tokenizer_json)
    gmask, sop, eos = (tok.token_to_id(t) for t in ("[gMASK]", "<sop>", "<|endoftext|>"))
    assert None not in (gmask, sop, eos), "the vocabulary lacks GLM-4's special tokens"
    assert tok.get_vocab_size() <= VOCAB_SIZE

    def encode(d):
        return [gmask, sop] + tok.encode(d["text"], add_special_tokens=False).ids + [eos]

    stream = torch.tensor([i for d in train_docs for i in encode(d)], dtype=torch.long)
    print(f"{len(stream)} training tokens", flush=True)

    config = GlmConfig(**MODEL, pad_token_id=eos, eos_token_id=eos)
    model = GlmForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params} parameters", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": TRAIN["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=TRAIN["lr"], betas=(0.9, 0.95))
    T, B = TRAIN["seq_len"], TRAIN["batch"]
    g = torch.Generator().manual_seed(SEED)

    def lr_at(step):
        if step < TRAIN["warmup"]:
            return TRAIN["lr"] * (step + 1) / TRAIN["warmup"]
        p = (step - TRAIN["warmup"]) / max(1, args.steps - TRAIN["warmup"])
        return TRAIN["min_lr"] + 0.5 * (TRAIN["lr"] - TRAIN["min_lr"]) * (1 + math.cos(math.pi * p))

    losses = []
    start = time.time()
    cpu_start = time.process_time()
    model.train()
    calibrate = args.steps == 0
    if calibrate:
        args.steps = 10**9
    step = 0
    while step < args.steps:
        starts = torch.randint(0, len(stream) - T - 1, (B,), generator=g)
        batch = torch.stack([stream[s:s + T + 1] for s in starts])
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        out = model(input_ids=batch[:, :-1], labels=batch[:, :-1].clone())
        # transformers shifts labels itself: labels = inputs, loss over positions 1..T-1.
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), TRAIN["grad_clip"])
        opt.step()
        losses.append(out.loss.item())
        if calibrate and step == 9:
            per_step = (time.time() - start) / 10
            args.steps = max(TRAIN["warmup"] + 10, int(args.minutes * 60 / per_step))
            print(f"{per_step:.2f}s per step: {args.steps} steps", flush=True)
        if step % 20 == 0 or step == args.steps - 1:
            recent = losses[-20:]
            print(f"step {step} loss {sum(recent) / len(recent):.3f} lr {lr_at(step):.2e} "
                  f"{time.time() - start:.0f}s", flush=True)
        step += 1
    train_seconds = time.time() - start
    train_cpu_seconds = time.process_time() - cpu_start

    # Held-out loss: each held-out document's first window, as the scorer sees it.
    model.eval()
    nll_sum, n_tok = 0.0, 0
    with torch.no_grad():
        for d in eval_docs:
            ids = encode(d)[:T]
            if len(ids) < 3:
                continue
            x = torch.tensor([ids])
            logits = model(input_ids=x).logits[0, :-1].double()
            tgt = x[0, 1:]
            nll = torch.nn.functional.cross_entropy(logits, tgt, reduction="sum").item()
            nll_sum += nll
            n_tok += len(tgt)
    eval_loss = nll_sum / n_tok

    state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    config.dtype = "bfloat16"
    config.save_pretrained(args.out)
    cfg_path = os.path.join(args.out, "config.json")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    cfg.pop("transformers_version", None)  # keep the file stable across library versions
    with open(cfg_path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")

    report = {
        "data": {
            "corpus": os.path.basename(args.corpus),
            "corpus_sha256": sha256(args.corpus),
            "held_out_rule": f"int(sha1(id).hexdigest()[:8], 16) % 100 < {HELD_OUT_PERCENT}",
            "train_documents": len(train_docs),
            "train_tokens": len(stream),
            "held_out_documents": len(eval_docs),
            "held_out_ids": [d["id"] for d in eval_docs],
        },
        "vocabulary": {"tool": "glmkit bpe train", "vocab_size": VOCAB_SIZE, "special_tokens": "glm4",
                       "pattern": "glm4", "trained_on": "training documents only"},
        "model": {**MODEL, "parameters": n_params, "saved_dtype": "bfloat16"},
        "training": {**TRAIN, "steps": args.steps, "seed": SEED, "threads": args.threads,
                     "tokens_seen": args.steps * B * T, "seconds": round(train_seconds),
                     "cpu_seconds": round(train_cpu_seconds),
                     "optimizer": "AdamW(betas=(0.9, 0.95)), linear warmup then cosine to min_lr",
                     "samples": "random windows of seq_len+1 tokens of the concatenated training documents"},
        "losses": {
            "first_20_steps_mean": sum(losses[:20]) / 20,
            "last_20_steps_mean": sum(losses[-20:]) / 20,
            "every_20_steps": [round(sum(losses[i:i + 20]) / len(losses[i:i + 20]), 4)
                               for i in range(0, len(losses), 20)],
            "held_out_first_window_nll": eval_loss,
            "held_out_first_window_ppl": math.exp(eval_loss),
        },
        "software": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": __import__("transformers").__version__},
    }
    with open(os.path.join(args.out, "train_report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(json.dumps(report["losses"], indent=2))


if __name__ == "__main__":
    sys.exit(main())
