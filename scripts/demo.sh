#!/usr/bin/env bash
# The main job on the bundled data: clean a small multilingual corpus and make it
# training-ready. Outputs go to out/ (ignored by git).
#
#   1. filter:   normalize, language id, Gopher/C4/FineWeb rules (fixtures/pipelines/filter.toml)
#                over the clean and noisy samples and a near-duplicate slice;
#   2. dedup:    MinHash-LSH fuzzy dedup of what the filter kept;
#   3. stats:    documents per language of the result;
#   4. bpe:      train a 4k byte-level BPE vocabulary on it (GLM-4 pattern and special tokens);
#   5. tokenize: write a Megatron-LM indexed dataset (out/tokens.bin + .idx).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${GLMKIT:-}" ] || cargo build --release --quiet
glmkit=${GLMKIT:-target/release/glmkit}
rm -rf out
$glmkit run fixtures/pipelines/filter.toml fixtures/filter fixtures/dedup --output out/filter --quiet
$glmkit dedup fuzzy out/filter/kept --output out/dedup --quiet
$glmkit stats out/dedup/kept --by glmkit.lang
$glmkit bpe train out/dedup/kept --vocab-size 4000 --special-tokens glm4 --output out/tokenizer
$glmkit tokenize out/dedup/kept --tokenizer out/tokenizer/tokenizer.json --append-eod --output out/tokens
echo "done: out/filter, out/dedup (kept/rejected/stats.json), out/tokenizer, out/tokens.{bin,idx}"
