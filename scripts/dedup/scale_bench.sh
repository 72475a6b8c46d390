#!/usr/bin/env bash
# Runs exact, fuzzy and line dedup stage by stage over one corpus and records, per stage:
# wall, user and sys seconds, peak RSS (/usr/bin/time -v: file-backed pages of memory-mapped
# stage files included), peak anonymous RSS (RssAnon sampled from /proc every 50 ms: the
# memory the task itself holds), the 1-minute load average at the start, and, after each
# filter stage, one sha256 over every output file (kept, rejected, quarantine, stats.json).
#
# Usage: scale_bench.sh GLMKIT CORPUS_DIR WORK_ROOT LABEL [THREADS] [PARTITIONS] [ALGOS]
#   e.g. scale_bench.sh target/release/glmkit /work/scale-data/c1g /work/scale-data/run new 2 16
# Appends tab-separated rows to WORK_ROOT/results.tsv:
#   label algo stage wall_s user_s sys_s maxrss_kb peak_anon_kb load1 sha256
# Wall times mean something only on a quiet machine: compare load1 before trusting them.
set -euo pipefail
BIN=$(readlink -f "$1"); CORPUS=$2; ROOT=$3; LABEL=$4
THREADS=${5:-2}; PARTS=${6:-16}; ALGOS=${7:-"exact fuzzy lines"}
mkdir -p "$ROOT"
RESULTS=$ROOT/results.tsv
[ -f "$RESULTS" ] || printf 'label\talgo\tstage\twall_s\tuser_s\tsys_s\tmaxrss_kb\tpeak_anon_kb\tload1\tsha256\n' >"$RESULTS"

# Peak RssAnon of process $1, written to $2 when it exits.
sample_anon() {
    local pid=$1 out=$2 peak=0 k v _
    while [ -e "/proc/$pid" ]; do
        while read -r k v _; do
            if [ "$k" = "RssAnon:" ]; then
                [ "$v" -gt "$peak" ] && peak=$v
                break
            fi
        done <"/proc/$pid/status" 2>/dev/null || true
        sleep 0.05
    done
    echo "$peak" >"$out"
}

stages_of() {
    case $1 in
        # `all` last: exact's one-pass streaming step (dedup_exact), into an output of its own.
        exact) echo "hashes groups filter all" ;;
        fuzzy) echo "signatures buckets cluster filter" ;;
        lines) echo "counts buckets filter" ;;
    esac
}

for algo in $ALGOS; do
    out=$ROOT/$LABEL-$algo-out
    work=$ROOT/$LABEL-$algo-work
    rm -rf "$out" "$out-onepass" "$work"
    for stage in $(stages_of "$algo"); do
        dest=$out
        [ "$stage" = all ] && dest=$out-onepass
        tf=$(mktemp); pidf=$(mktemp); anonf=$(mktemp)
        load1=$(cut -d' ' -f1 /proc/loadavg)
        # bash execs glmkit, so the pid it writes is glmkit's own.
        /usr/bin/time -v -o "$tf" bash -c 'echo $$ >"$0"; exec "$@"' "$pidf" \
            "$BIN" dedup "$algo" "$CORPUS" -o "$dest" --work-dir "$work" --stage "$stage" \
            --threads "$THREADS" --partitions "$PARTS" >/dev/null 2>"$ROOT/$LABEL-$algo-$stage.err" &
        tpid=$!
        while [ ! -s "$pidf" ]; do sleep 0.01; done
        sample_anon "$(cat "$pidf")" "$anonf" &
        spid=$!
        wait "$tpid" || { echo "$algo $stage failed: see $ROOT/$LABEL-$algo-$stage.err" >&2; exit 1; }
        wait "$spid"
        field() { grep -F "$1" "$tf" | sed 's/.*: //'; }
        wall=$(field "Elapsed (wall clock)" | awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
        sha=-
        if [ "$stage" = filter ] || [ "$stage" = all ]; then
            sha=$(cd "$dest" && find . -type f ! -path './.done/*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$LABEL" "$algo" "$stage" "$wall" \
            "$(field 'User time')" "$(field 'System time')" "$(field 'Maximum resident')" \
            "$(cat "$anonf")" "$load1" "$sha" | tee -a "$RESULTS"
        rm -f "$tf" "$pidf" "$anonf"
    done
done
