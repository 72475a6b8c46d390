#!/usr/bin/env python3
"""Reference trainer for the benchmarks: HF tokenizers' BpeTrainer with the settings glmkit
matches (Split(GLM-4 pattern, isolated) + ByteLevel(add_prefix_space=False, use_regex=False),
the 256 byte symbols as initial alphabet). Threads: RAYON_NUM_THREADS.

Usage: hf_train.py OUT_DIR VOCAB_SIZE INPUT.txt... (sequences = lines, as train_from_files)
"""
import os
import sys
import time

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

GLM4 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def main():
    out, vocab_size, inputs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GLM4), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=0,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
    )
    t = time.perf_counter()
    tok.train(inputs, trainer)
    elapsed = time.perf_counter() - t
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    print(f"hf train: {elapsed:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
