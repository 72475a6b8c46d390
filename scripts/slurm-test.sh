#!/usr/bin/env bash
# The pipeline graph on a real Slurm: a single-node cluster on this machine (Debian's slurm-wlm
# and munge, installed if missing), the default pipeline submitted with several tasks per stage
# by `glmkit slurm submit`, its output compared byte for byte with a local run; then a second
# submission with one array task cancelled mid-run (scancel), finished by `glmkit slurm resume`
# to the same bytes. Cleans up after itself.
#
#   scripts/slurm-test.sh              the test (exit 0 passed or skipped, 1 failed)
#   scripts/slurm-test.sh --timings    per-stage times with 1, 2 and 4 tasks (docs/distributed.md)
#
# GLMKIT: the binary to test (default: target/debug/glmkit, built by `cargo test`; built with
# `cargo build` if missing). Skips with a message where Slurm cannot run (not root, no apt).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cluster="$root/scripts/slurm/local-cluster.sh"
pipeline="$root/fixtures/pipelines/default.toml"
mode=${1:-test}

status=0
bash "$cluster" install || status=$?
if [[ $status == 3 ]]; then
  exit 0 # local-cluster.sh said why
elif [[ $status != 0 ]]; then
  echo "slurm test: installing slurm-wlm and munge failed" >&2
  exit 1
fi

glmkit=${GLMKIT:-$root/target/debug/glmkit}
if [[ ! -x $glmkit ]]; then
  cargo build --locked --quiet
fi

work=$(mktemp -d /tmp/glmkit-slurm-test.XXXXXX)
state="$work/cluster"
cleanup() {
  bash "$cluster" stop "$state" >/dev/null 2>&1 || true
  if [[ ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
eval "$(bash "$cluster" start "$state")"
export SLURM_CONF

fail() {
  echo "slurm test FAILED: $*" >&2
  for log in "$state"/*.log; do echo "--- $log" >&2; tail -n 20 "$log" >&2; done
  exit 1
}

# Waits until no job is queued or running (every task finished, failed or was cancelled).
wait_for_queue() {
  local seconds=${1:-900}
  for _ in $(seq $((seconds * 5))); do
    [[ -z $(squeue -h -o %i) ]] && return 0
    sleep 0.2
  done
  squeue >&2
  fail "jobs still queued after $seconds s"
}

# The run's outputs, without the work folder and the Slurm files.
same_outputs() {
  diff -r -q -x .work -x slurm "$1" "$2" >&2 || fail "$2 differs from $1"
}

if [[ $mode == --timings ]]; then
  printf '%-6s %-26s %s\n' tasks stage "slowest task (s)"
  for tasks in 1 2 4; do
    run="$work/timings-$tasks"
    start=$(date +%s.%N)
    "$glmkit" slurm submit "$pipeline" -o "$run" --tasks "$tasks" 2>/dev/null
    wait_for_queue
    end=$(date +%s.%N)
    "$glmkit" slurm status "$run" |
      awk -v t="$tasks" '/^stage/ { match($0, /slowest task [0-9.]+ s/); \
        printf "%-6s %-26s %s\n", t, $3, substr($0, RSTART + 13, RLENGTH - 15) }'
    echo "$tasks tasks per stage: $(echo "$end - $start" | bc) s from submit to the last task"
  done
  exit 0
fi

echo "slurm test: local run" >&2
"$glmkit" run "$pipeline" -o "$work/local" -q

echo "slurm test: submit, 3 tasks per stage" >&2
"$glmkit" slurm submit "$pipeline" -o "$work/slurm" --tasks 3
wait_for_queue
"$glmkit" slurm status "$work/slurm" | tee "$work/status.txt"
grep -q "every task has finished" "$work/status.txt" || fail "not every task finished"
same_outputs "$work/local" "$work/slurm"

echo "slurm test: submit again, cancel a running task of a later stage, resume" >&2
"$glmkit" slurm submit "$pipeline" -o "$work/cancel" --tasks 3
cancelled=""
for _ in $(seq 3000); do
  # The first running array task of stage 4 or later (job names are glmkit-KK-NAME).
  cancelled=$(squeue -h -r -t RUNNING -o '%i %j' | awk '$2 ~ /^glmkit-(0[4-9]|[1-9][0-9])-/ { print $1; exit }')
  [[ -n $cancelled ]] && break
  [[ -z $(squeue -h -o %i) ]] && break
  sleep 0.2
done
[[ -n $cancelled ]] || fail "saw no running task of a later stage to cancel"
scancel "$cancelled"
echo "slurm test: cancelled $cancelled" >&2
wait_for_queue
"$glmkit" slurm status "$work/cancel" | tee "$work/status.txt"
grep -q "^    task [0-9]*: " "$work/status.txt" || fail "status shows no failed task"
if grep -q "every task has finished" "$work/status.txt"; then fail "a cancelled run looks finished"; fi
"$glmkit" slurm resume "$work/cancel"
wait_for_queue
"$glmkit" slurm status "$work/cancel" | tee "$work/status.txt"
grep -q "every task has finished" "$work/status.txt" || fail "resume did not finish the run"
same_outputs "$work/local" "$work/cancel"
echo "slurm test passed" >&2
