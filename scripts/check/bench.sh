#!/usr/bin/env bash
# Benchmark of `glmkit check` (docs/BENCHMARKS.md, "glmkit check").
#
# Usage: scripts/check/bench.sh GLMKIT CORPUS_DIR WORK_DIR [THREADS] [RUNS]
#   CORPUS_DIR: e.g. made by `python3 scripts/make_bench_corpus.py ../shared/corpus DIR 1000 8`
# Runs, each with /usr/bin/time (wall, user+sys CPU, peak RSS) and the load average before it:
#   stats    `glmkit stats` over the same files (reads and decodes every record: the floor)
#   cheap    schema, encoding, length, exact and near duplicates
#   full     all rules but perplexity, on every document
#   sampled  the same with sample_rate = 0.05 for language, quality and tokenizer
# and single-rule runs (language, quality, tokenizer alone) to show where the time goes.
set -euo pipefail
GLMKIT=$1 CORPUS=$2 WORK=$3 THREADS=${4:-2}
RUNS=${5:-"cheap sampled full language quality tokenizer"}
mkdir -p "$WORK"
cd "$WORK"
# The tokenizer rule's vocabulary: 8,000 tokens trained on the first input file.
first=$(find -L "$CORPUS" -type f | sort | head -1)
[ -f tok/tokenizer.json ] || "$GLMKIT" bpe train "$first" --vocab-size 8000 --output tok --threads "$THREADS" >/dev/null

base='[schema]
required = { id = "string", text = "string" }
[encoding]
[length]
min_chars = 1
max_chars = 5000000
[duplicates]
max_exact_rate = 1.0
max_near_rate = 1.0'
slow() { # $1: sample_rate line or empty
  printf '[language]\nmin_share = { en = 0.01 }\n%s\n[quality]\nmin_pass_rate = 0.0\n%s\n[tokenizer]\npath = "tok/tokenizer.json"\n%s\n' "$1" "$1" "$1"
}
printf '%s\n' "$base" > cheap.toml
{ printf '%s\n' "$base"; slow ""; } > full.toml
{ printf '%s\n' "$base"; slow "sample_rate = 0.05"; } > sampled.toml
printf '[language]\n' > language.toml
printf '[quality]\nmin_pass_rate = 0.0\n' > quality.toml
printf '[tokenizer]\npath = "tok/tokenizer.json"\n' > tokenizer.toml

bytes=$(for f in "$CORPUS"/*; do zstd -dcf "$f"; done | wc -c)
run() { # name, command...
  local name=$1; shift
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  /usr/bin/time -f "%e %U %S %M" -o "time-$name.txt" "$@" > "out-$name.txt" 2>&1 || true
  read -r wall user sys rss < "time-$name.txt"
  awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$bytes" -v l="$load" \
    'BEGIN { c = u + s; printf "| %s | %.1f | %.1f | %.0f | %.0f | %.0f | %s |\n", n, w, c, b / 1e6 / w, b / 1e6 / c, r / 1024, l }'
}
echo "input: $bytes bytes of JSON lines; threads $THREADS"
echo "| run | wall s | cpu s | MB/s wall | MB per cpu-s | peak MiB | load before |"
echo "|---|---|---|---|---|---|---|"
run stats "$GLMKIT" stats "$CORPUS" --threads "$THREADS"
for c in $RUNS; do
  run "$c" "$GLMKIT" check "$CORPUS" --contract "$c.toml" --threads "$THREADS" --json "report-$c.json"
done
