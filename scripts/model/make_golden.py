"""Build tiny random GLM-4 models with transformers and save golden logits and NLL.

Writes fixtures/model/<name>/ (config.json + safetensors) and fixtures/model/golden.safetensors
(logits of every model on every input) plus golden.json (inputs and per-sequence NLL).

Models:
  glm-gqa     transformers GlmForCausalLM, 4 query heads over 2 key/value heads
  glm-mqa     GlmForCausalLM, 1 key/value head, head_dim 12 (heads * head_dim != hidden)
  glm4-gqa    Glm4ForCausalLM (sandwich norms), saved as two shards with an index
  chatglm-gqa glm-gqa's weights converted to THUDM names and a ChatGLMModel config
  chatglm-mqa glm-mqa's weights, likewise

Run: /path/to/venv/bin/python scripts/model/make_golden.py [fixtures/model]
Needs torch, transformers (5.x) and safetensors; runs on CPU in float32.
"""
import json
import math
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import Glm4Config, Glm4ForCausalLM, GlmConfig, GlmForCausalLM

OUT = sys.argv[1] if len(sys.argv) > 1 else "fixtures/model"
VOCAB = 100

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=4096,
    attention_bias=True,
    tie_word_embeddings=False,
    pad_token_id=0,
    eos_token_id=1,
)

MODELS = {
    "glm-gqa": (GlmConfig, GlmForCausalLM,
                dict(num_key_value_heads=2, head_dim=8, rms_norm_eps=1.5625e-07, rope_theta=500000.0,
                     partial_rotary_factor=0.5)),
    "glm-mqa": (GlmConfig, GlmForCausalLM,
                dict(num_key_value_heads=1, head_dim=12, rms_norm_eps=1.5625e-07, rope_theta=10000.0,
                     partial_rotary_factor=0.5)),
    "glm4-gqa": (Glm4Config, Glm4ForCausalLM,
                 dict(num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-05, rope_theta=10000.0,
                      partial_rotary_factor=0.5)),
}
CONVERTED = {"chatglm-gqa": "glm-gqa", "chatglm-mqa": "glm-mqa"}


def inputs():
    g = torch.Generator().manual_seed(7)
    lengths = [12, 7, 3]
    t = max(lengths)
    ids = torch.randint(2, VOCAB, (len(lengths), t), generator=g)
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        ids[b, n:] = 0
    long_ids = torch.randint(2, VOCAB, (1, 160), generator=g)
    return {
        "padded": (ids, mask),
        "long": (long_ids, torch.ones_like(long_ids)),
    }


def nll(logits, ids, mask):
    """Per sequence: mean over t with mask[t] = mask[t+1] = 1 of -log_softmax(logits[t])[ids[t+1]]."""
    logp = torch.log_softmax(logits.double(), dim=-1)
    out = []
    for b in range(ids.shape[0]):
        total, n = 0.0, 0
        for t in range(ids.shape[1] - 1):
            if mask[b, t] and mask[b, t + 1]:
                total -= logp[b, t, ids[b, t + 1]].item()
                n += 1
        mean = total / n if n else 0.0
        out.append({"n_tokens": n, "sum_nll": total, "mean_nll": mean, "perplexity": math.exp(mean)})
    return out


def to_chatglm(config, state):
    """THUDM names and config for a transformers GLM model (the reverse of convert_glm_weights_to_hf.py)."""
    chat = {
        "architectures": ["ChatGLMModel"],
        "model_type": "chatglm",
        "add_bias_linear": False,
        "add_qkv_bias": True,
        "apply_query_key_layer_scaling": True,
        "apply_residual_connection_post_layernorm": False,
        "attention_softmax_in_fp32": True,
        "bias_dropout_fusion": True,
        "ffn_hidden_size": config.intermediate_size,
        "fp32_residual_connection": False,
        "hidden_size": config.hidden_size,
        "kv_channels": config.head_dim,
        "layernorm_epsilon": config.rms_norm_eps,
        "multi_query_attention": True,
        "multi_query_group_num": config.num_key_value_heads,
        "num_attention_heads": config.num_attention_heads,
        "num_layers": config.num_hidden_layers,
        "original_rope": True,
        "padded_vocab_size": config.vocab_size,
        "post_layer_norm": True,
        "rmsnorm": True,
        "rope_ratio": config.rope_parameters["rope_theta"] / 10000.0,
        "seq_length": config.max_position_embeddings,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }
    out = {
        "transformer.embedding.word_embeddings.weight": state["model.embed_tokens.weight"],
        "transformer.encoder.final_layernorm.weight": state["model.norm.weight"],
        "transformer.output_layer.weight": state["lm_head.weight"],
        # ChatGLM2/3 checkpoints carry this cache; loaders must ignore it.
        "transformer.rotary_pos_emb.inv_freq": torch.arange(4, dtype=torch.float32),
    }
    for i in range(config.num_hidden_layers):
        hf = f"model.layers.{i}."
        th = f"transformer.encoder.layers.{i}."
        out[th + "input_layernorm.weight"] = state[hf + "input_layernorm.weight"]
        out[th + "post_attention_layernorm.weight"] = state[hf + "post_attention_layernorm.weight"]
        for kind in ("weight", "bias"):
            out[th + f"self_attention.query_key_value.{kind}"] = torch.cat(
                [state[hf + f"self_attn.{p}_proj.{kind}"] for p in "qkv"], dim=0)
        out[th + "self_attention.dense.weight"] = state[hf + "self_attn.o_proj.weight"]
        out[th + "mlp.dense_h_to_4h.weight"] = state[hf + "mlp.gate_up_proj.weight"]
        out[th + "mlp.dense_4h_to_h.weight"] = state[hf + "mlp.down_proj.weight"]
    return chat, {k: v.contiguous() for k, v in out.items()}


def main():
    torch.manual_seed(0)
    data = inputs()
    golden_tensors = {}
    golden = {"inputs": {}, "models": {}}
    for name, (ids, mask) in data.items():
        golden["inputs"][name] = {"input_ids": ids.tolist(), "attention_mask": mask.tolist()}

    states = {}
    for seed, (name, (config_cls, model_cls, extra)) in enumerate(MODELS.items()):
        torch.manual_seed(100 + seed)
        config = config_cls(**COMMON, **extra)
        model = model_cls(config).eval().to(torch.float32)
        # Random init gives near-zero biases and unit norms; perturb them so they matter.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith("bias") or "norm" in pname:
                    p.add_(0.2 * torch.randn_like(p))
                elif p.dim() == 2:
                    p.mul_(8.0)
        directory = os.path.join(OUT, name)
        os.makedirs(directory, exist_ok=True)
        shard = "20KB" if name == "glm4-gqa" else "50MB"
        model.save_pretrained(directory, safe_serialization=True, max_shard_size=shard)
        for extra_file in ("generation_config.json",):
            path = os.path.join(directory, extra_file)
            if os.path.exists(path):
                os.remove(path)
        states[name] = (config, {k: v.detach().clone() for k, v in model.state_dict().items()})
        golden["models"][name] = {}
        for input_name, (ids, mask) in data.items():
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask).logits.float()
            golden_tensors[f"{name}.{input_name}"] = logits.contiguous()
            golden["models"][name][input_name] = nll(logits, ids, mask)

    for name, source in CONVERTED.items():
        config, state = states[source]
        chat, tensors = to_chatglm(config, state)
        directory = os.path.join(OUT, name)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "config.json"), "w") as f:
            json.dump(chat, f, indent=2)
        save_file(tensors, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
        golden["models"][name] = {"same_as": source}

    save_file(golden_tensors, os.path.join(OUT, "golden.safetensors"))
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)


if __name__ == "__main__":
    main()


# --- scoring reference: tokenizer + strided windows (run after main()) ---

SCORE_TEXTS = [
    "the cat sat on the mat.",
    "a dog and a cat went to the market to buy some fish and bread.",
    "",
    "zebras quietly quilt xylophones!",
    " ".join(["the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat"] * 6),
    "short",
]
SCORE_OPTIONS = {"max_tokens": 24, "stride": 10}


def make_tokenizer(path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=96, special_tokens=["<unk>", "[gMASK]", "<sop>"], limit_alphabet=30)
    corpus = [
        "the cat sat on the mat and the dog sat on the log",
        "a market sells fish bread and fruit to the people of the town",
        "the quick brown fox jumps over the lazy dog",
    ] * 20
    tok.train_from_iterator(corpus, trainer)
    tok.save(path)
    return tok


def plan_windows(n, first_target, max_tokens, stride):
    """Same plan as src/model/score/windows.rs: every target once, first window that holds it."""
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


def score_reference(out_dir):
    from transformers import AutoModelForCausalLM

    tok = make_tokenizer(os.path.join(out_dir, "tokenizer.json"))
    prefix = [tok.token_to_id("[gMASK]"), tok.token_to_id("<sop>")]
    model = AutoModelForCausalLM.from_pretrained(os.path.join(out_dir, "glm4-gqa"), dtype=torch.float32).eval()
    docs = []
    for text in SCORE_TEXTS:
        ids = prefix + tok.encode(text, add_special_tokens=False).ids
        total, predicted = 0.0, 0
        for begin, end, first in plan_windows(len(ids), len(prefix), **SCORE_OPTIONS):
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([ids[begin:end]])).logits[0].double()
            logp = torch.log_softmax(logits, dim=-1)
            for t in range(first, end):
                total -= logp[t - 1 - begin, ids[t]].item()
                predicted += 1
        docs.append({
            "text": text,
            "tokens": len(ids) - len(prefix),
            "predicted": predicted,
            "sum_nll": total,
            "ppl": math.exp(total / predicted) if predicted else None,
        })
    with open(os.path.join(out_dir, "score_golden.json"), "w") as f:
        json.dump({"model": "glm4-gqa", "options": SCORE_OPTIONS, "docs": docs}, f, indent=1)


if __name__ == "__main__":
    score_reference(OUT)
