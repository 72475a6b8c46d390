#!/usr/bin/env bash
# BPE benchmarks: glmkit vs HF tokenizers (training) and tiktoken (encoding), same text, same run.
# Usage: scripts/bpe/bench.sh GLMKIT_BIN PYTHON DATA_DIR OUT_DIR
# DATA_DIR holds shared.txt, mixed.txt and mixed-docs.jsonl (scripts/bpe/bench_data.py and the
# JSONL split described in docs/BENCHMARKS.md). PYTHON has `tokenizers` and `tiktoken`.
set -euo pipefail
BIN=$1; PY=$2; DATA=$3; OUT=$4
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
peak() { grep -E "Maximum resident|Elapsed \(wall" "$1" | sed 's/^\s*//' | tr '\n' ' '; echo; }

for text in shared mixed; do
  for vocab in 32000 64000; do
    tag=$text-$vocab
    RAYON_NUM_THREADS=2 /usr/bin/time -v "$PY" "$HERE/hf_train.py" "$OUT/hf-$tag" $vocab "$DATA/$text.txt" 2> "$OUT/hf-$tag.time"
    /usr/bin/time -v "$BIN" bpe train "$DATA/$text.txt" --vocab-size $vocab --special-tokens '<|endoftext|>' \
      --threads 2 --output "$OUT/glmkit-$tag" 2> "$OUT/glmkit-$tag.time"
    echo "== $tag"
    echo "hf:     $(peak "$OUT/hf-$tag.time")"
    echo "glmkit: $(peak "$OUT/glmkit-$tag.time")"
    "$PY" "$HERE/compare_merges.py" "$OUT/glmkit-$tag/tokenizer.json" "$OUT/hf-$tag/tokenizer.json"
  done
done

# Encoding with the 64k mixed vocabulary, 1 and 2 threads.
TOK=$OUT/glmkit-mixed-64000
"$BIN" bpe encode --tokenizer "$TOK/tokenizer.json" "$DATA/mixed-docs.jsonl" > "$OUT/glmkit-ids.jsonl"
for threads in 1 2; do
  echo "== encode, $threads thread(s)"
  /usr/bin/time -v "$BIN" tokenize "$DATA/mixed-docs.jsonl" --tokenizer "$TOK/tokenizer.json" \
    --output "$OUT/mixed-docs-$threads" --threads $threads 2> "$OUT/glmkit-encode-$threads.time"
  echo "glmkit tokenize (whole process): $(peak "$OUT/glmkit-encode-$threads.time")"
  /usr/bin/time -v "$PY" "$HERE/tiktoken_encode.py" "$TOK/tokenizer.model" "$DATA/mixed-docs.jsonl" $threads \
    --check "$OUT/glmkit-ids.jsonl" 2> "$OUT/tiktoken-$threads.time" || true
  grep -E "^tiktoken|^ids" "$OUT/tiktoken-$threads.time"
  echo "tiktoken (whole process): $(peak "$OUT/tiktoken-$threads.time")"
done
