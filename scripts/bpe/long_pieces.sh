#!/usr/bin/env bash
# Long-piece encoding benchmark: single-piece documents of 100 KB to 10 MB, glmkit against HF
# tokenizers and tiktoken (same vocabulary, same run), ids compared where the peer finishes.
# Usage: scripts/bpe/long_pieces.sh GLMKIT_BIN PYTHON TOKENIZER_DIR OUT_DIR [PEER_TIMEOUT_S]
# TOKENIZER_DIR: a `glmkit bpe train` output (tokenizer.json + tokenizer.model), e.g. the 32k
# vocabulary of mixed.txt (docs/BENCHMARKS.md). PYTHON has `tokenizers` and `tiktoken`.
# The data is made in OUT_DIR/data by long_piece_data.py. A peer still running after
# PEER_TIMEOUT_S wall seconds (default 300) is stopped; its CPU seconds until then are printed.
# Optional 6th argument: the documents to run (default: all).
set -euo pipefail
BIN=$1; PY=$2; TOK=$3; OUT=$4; LIMIT=${5:-300}
NAMES=${6:-acgt-100k acgt-400k acgt-10m letters-10m b64-10m spaces-1m spaces-10m cjk-10m}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/data"
[ -f "$OUT/data/cjk-10m.jsonl" ] || "$PY" "$HERE/long_piece_data.py" "$OUT/data"
times() { grep -E "User time|System time|Maximum resident|Elapsed \(wall" "$1" | sed 's/^\s*//' | tr '\n' ' '; echo; }

uptime
for name in $NAMES; do
  doc=$OUT/data/$name.jsonl
  echo "== $name ($(stat -c %s "$doc") bytes)"
  /usr/bin/time -v "$BIN" tokenize "$doc" --tokenizer "$TOK/tokenizer.json" --output "$OUT/$name" \
    --threads 1 > /dev/null 2> "$OUT/glmkit-$name.time"
  echo "glmkit tokenize: $(times "$OUT/glmkit-$name.time")"
  "$BIN" bpe encode --tokenizer "$TOK/tokenizer.json" "$doc" > "$OUT/glmkit-$name.ids.jsonl"
  RAYON_NUM_THREADS=1 /usr/bin/time -v timeout "$LIMIT" "$PY" "$HERE/hf_encode.py" "$TOK/tokenizer.json" "$doc" \
    --check "$OUT/glmkit-$name.ids.jsonl" 2> "$OUT/hf-$name.time" && rc=0 || rc=$?
  [ "$rc" = 124 ] && echo "tokenizers: stopped after ${LIMIT}s wall"
  [ "$rc" != 0 ] && [ "$rc" != 124 ] && echo "tokenizers: failed: $(grep -E 'Error|Exception' "$OUT/hf-$name.time" | tail -1)"
  grep -E "^tokenizers|^ids" "$OUT/hf-$name.time" || true
  echo "tokenizers (whole process): $(times "$OUT/hf-$name.time")"
  /usr/bin/time -v timeout "$LIMIT" "$PY" "$HERE/tiktoken_encode.py" "$TOK/tokenizer.model" "$doc" 1 \
    --check "$OUT/glmkit-$name.ids.jsonl" 2> "$OUT/tiktoken-$name.time" && rc=0 || rc=$?
  [ "$rc" = 124 ] && echo "tiktoken: stopped after ${LIMIT}s wall"
  [ "$rc" != 0 ] && [ "$rc" != 124 ] && echo "tiktoken: failed: $(grep -E 'Error|Exception' "$OUT/tiktoken-$name.time" | tail -1)"
  grep -E "^tiktoken|^ids" "$OUT/tiktoken-$name.time" || true
  echo "tiktoken (whole process): $(times "$OUT/tiktoken-$name.time")"
done
uptime
