"""Set up the scoring benchmark: a random GLM-4-shaped model (4 layers, hidden 256, GLM-4's padded
vocabulary of 151,552), a byte-level BPE tokenizer.json with [gMASK]/<sop> trained on the dev
corpus, and a JSONL of documents to score.

Run: python scripts/model/bench_setup.py OUT_DIR CORPUS.jsonl.zst [N_DOCS] [small|wide]
Writes OUT_DIR/model/, OUT_DIR/tokenizer.json, OUT_DIR/docs.jsonl. `wide` makes a model whose
layers weigh more: 8 layers, hidden 1024, 8 heads of 128 over 2 KV heads, intermediate 3424.
"""
import io
import json
import os
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import Glm4Config, Glm4ForCausalLM

out, corpus = sys.argv[1], sys.argv[2]
n_docs = int(sys.argv[3]) if len(sys.argv) > 3 else 48
# Texts are cut to this many characters so the run stays short on 2 cores.
MAX_CHARS = 1500
os.makedirs(out, exist_ok=True)

import subprocess

lines = subprocess.run(["zstd", "-dc", corpus], capture_output=True, check=True).stdout.decode().splitlines()
records = [json.loads(l) for l in lines]

# Tokenizer: byte-level BPE, 32k merges, GLM-4's special tokens.
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
specials = ["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>"]
trainer = trainers.BpeTrainer(vocab_size=32000, special_tokens=specials,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tok.train_from_iterator((r["text"] for r in records), trainer)
tok.save(os.path.join(out, "tokenizer.json"))

# Documents: every 7th record, first n_docs, as JSONL with id/text/lang.
chosen = records[::7][:n_docs]
with open(os.path.join(out, "docs.jsonl"), "w") as f:
    for r in chosen:
        f.write(json.dumps({"id": r["id"], "text": r["text"][:MAX_CHARS], "lang": r["lang"]}, ensure_ascii=False) + "\n")

shape = sys.argv[4] if len(sys.argv) > 4 else "small"
dims = {
    "small": dict(hidden_size=256, intermediate_size=832, num_hidden_layers=4, num_attention_heads=8, head_dim=32),
    "wide": dict(hidden_size=1024, intermediate_size=3424, num_hidden_layers=8, num_attention_heads=8, head_dim=128),
}[shape]
torch.manual_seed(0)
config = Glm4Config(
    vocab_size=151552, num_key_value_heads=2, partial_rotary_factor=0.5, **dims,
    rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=8192, attention_bias=True,
    tie_word_embeddings=False, pad_token_id=0, eos_token_id=1,
)
model = Glm4ForCausalLM(config).eval().float()
model.save_pretrained(os.path.join(out, "model"), safe_serialization=True)
print("total tokens:", sum(len(tok.encode(r["text"][:MAX_CHARS]).ids) for r in chosen))
