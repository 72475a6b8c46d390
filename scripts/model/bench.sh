#!/bin/sh
# Scoring benchmark: glmkit vs transformers/PyTorch on CPU, 2 threads, same model, tokenizer,
# documents, windows and batch size, run back to back.
#   scripts/model/bench.sh GLMKIT_BINARY PYTHON BENCH_DIR [DOCS.jsonl] [RUNS]
# BENCH_DIR comes from scripts/model/bench_setup.py.
set -eu
glmkit=$1 python=$2 dir=$3 docs=${4:-$3/docs.jsonl} runs=${5:-1}
here=$(dirname "$0")
common="--max-tokens 512 --stride 256 --batch-tokens 1024"
i=0
while [ "$i" -lt "$runs" ]; do
  RAYON_NUM_THREADS=2 /usr/bin/time -f 'glmkit wall %e s, max RSS %M KiB' \
    "$glmkit" model score --model "$dir/model" --tokenizer "$dir/tokenizer.json" --input "$docs" $common > /tmp/glmkit_scores.jsonl
  RAYON_NUM_THREADS=2 /usr/bin/time -f 'glmkit --copy-weights wall %e s, max RSS %M KiB' \
    "$glmkit" model score --model "$dir/model" --tokenizer "$dir/tokenizer.json" --input "$docs" $common --copy-weights > /dev/null
  /usr/bin/time -f 'torch wall %e s, max RSS %M KiB' \
    "$python" "$here/bench_torch.py" "$dir" --docs "$docs" --threads 2 $common --out /tmp/torch_scores.jsonl 2>&1 | grep -v "Loading weights"
  i=$((i + 1))
done
# Same perplexities? (largest relative difference over documents)
"$python" - <<'PY'
import json
a = [json.loads(l) for l in open("/tmp/glmkit_scores.jsonl")]
b = [json.loads(l) for l in open("/tmp/torch_scores.jsonl")]
assert [x["id"] for x in a] == [x["id"] for x in b]
print("max relative ppl difference glmkit vs torch: %.2e" % max(abs(x["ppl"] - y["ppl"]) / y["ppl"] for x, y in zip(a, b)))
PY
