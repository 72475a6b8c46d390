#!/usr/bin/env bash
# Bring up / tear down a throw-away single-node Slurm cluster on Debian 12 for tests.
#
#   local-cluster.sh install           apt-get install slurm + munge (exit 3 = cannot, skip tests)
#   local-cluster.sh start STATE_DIR   write STATE_DIR/slurm.conf, start munged, slurmctld, slurmd;
#                                      prints "export SLURM_CONF=..." on stdout for callers to eval
#   local-cluster.sh stop STATE_DIR    cancel jobs, stop the daemons started by `start`
#
# Needs root. Does not use systemd (CI containers have none). Everything Slurm writes
# (state, spool, logs, pid files) lives under STATE_DIR; munged uses the Debian default
# socket /run/munge/munge.socket.2 so the stock client libraries find it.
set -euo pipefail

die() { echo "local-cluster.sh: $*" >&2; exit 1; }
skip() { echo "slurm test skipped: $*" >&2; exit 3; }
log() { echo "local-cluster.sh: $*" >&2; }

# stop_pidfiles FILE:NAME...: TERM each pid that is still a live NAME process (pids get
# reused), wait up to 15 s for all of them together, then KILL what is left.
stop_pidfiles() {
  local spec f pid pids=()
  for spec in "$@"; do
    f=${spec%%:*}
    [[ -s $f ]] || continue
    pid=$(<"$f")
    if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "${spec#*:}" ]]; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
    rm -f "$f"
  done
  ((${#pids[@]})) || return 0
  for _ in $(seq 75); do
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && { sleep 0.2; continue 2; }; done
    return 0
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

cmd_install() {
  [[ $(id -u) == 0 ]] || skip "not root"
  command -v apt-get >/dev/null || skip "no apt-get"
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
     && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  local pkgs=(slurm-wlm slurmctld slurmd slurm-client munge)
  # A fresh VM may have empty package lists: only run `apt-get update` if the install fails.
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; } \
    || skip "apt-get install ${pkgs[*]} failed"
}

# fail MSG: print MSG plus whatever helps to see why, then exit 1 (daemons left running
# for inspection; `stop` cleans up).
fail() {
  log "$*"
  sinfo -N -l >&2 || true
  scontrol show node >&2 || true
  for f in "$S"/log/slurmctld.log "$S"/log/slurmd.log /var/log/munge/munged.log; do
    [[ -f $f ]] && { echo "==== tail $f" >&2; tail -n 40 "$f" >&2; }
  done
  exit 1
}

cmd_start() {
  S=$1 # global: fail() uses it
  [[ $(id -u) == 0 ]] || die "must run as root"
  command -v slurmctld >/dev/null || die "slurm not installed (run: $0 install)"
  mkdir -p "$S"
  S=$(cd "$S" && pwd)
  cmd_stop "$S" 2>/dev/null || true # idempotent: kill daemons from an earlier start
  mkdir -p "$S/ctld" "$S/spool" "$S/log"

  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  # RealMemory must not exceed what slurmd detects, or the node is drained ("Low RealMemory").
  mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)

  cat >"$S/slurm.conf" <<EOF
ClusterName=localtest
# Address given explicitly so nothing depends on the host name resolving.
SlurmctldHost=$host(127.0.0.1)
# Daemons run as root: no slurm-user-owned directories needed.
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (containers/CI VMs often lack a usable cgroup tree): track by process tree.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd, so no accounting; sacct will not work.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
# Without this slurmctld tries to run /usr/bin/mail for --mail-type and logs errors.
MailProg=/bin/true
# Allocate single CPUs (not whole nodes) so 1-CPU array tasks run side by side.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Cancel jobs whose dependency can never be satisfied (e.g. afterok on a failed/cancelled
# job) instead of leaving them pending with reason DependencyNeverSatisfied forever.
DependencyParameters=kill_invalid_depend
# A node that was DOWN comes back as soon as slurmd registers with a valid config.
ReturnToService=2
# Short timeouts: this is a test cluster, fail/recover fast.
SlurmctldTimeout=10
SlurmdTimeout=10
MessageTimeout=10
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$S/slurm.conf

  # --- munge -------------------------------------------------------------------------
  if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
      || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "reusing the munged already running"   # not ours: no pid file, stop leaves it alone
  else
    # munged (as user munge) needs /run/munge for its socket and pid file; without systemd
    # the package's tmpfiles.d entry that creates it is never applied.
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start (see /var/log/munge/munged.log)"
    cp /run/munge/munged.pid "$S/munged.pid"   # so that `stop` stops it
    for _ in $(seq 25); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  fi

  # --- slurm ---------------------------------------------------------------------------
  # Both fork into the background and write their pid files (paths above).
  # The daemons fork before binding their ports (6817/6818), so a second cluster on this
  # host would "start" fine and then die; catch the common case up front.
  if timeout 10 scontrol ping 2>/dev/null | grep -q UP; then
    fail "a slurmctld already answers on this host (another STATE_DIR still running?)"
  fi
  local t0 state="" started=0
  t0=$(date +%s)
  slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
  slurmd -f "$SLURM_CONF" || fail "slurmd did not start"

  # With state recovered from an earlier run the node can show "idle" before this slurmd
  # registered, so also require SlurmdStartTime to be from this start.
  for _ in $(seq 120); do
    state=$(sinfo -h -o %T 2>/dev/null | head -n1 || true)
    started=$(scontrol show node "$host" 2>/dev/null | grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2 || true)
    started=$(date -d "$started" +%s 2>/dev/null || echo 0)
    [[ $state == idle && $started -ge $t0 ]] && break
    # (its pid file appears only a moment after `slurmctld` returns)
    if [[ -s $S/slurmctld.pid ]] && ! kill -0 "$(<"$S/slurmctld.pid")" 2>/dev/null; then
      fail "slurmctld died"
    fi
    sleep 0.5
  done
  [[ $state == idle && $started -ge $t0 ]] \
    || fail "node did not become idle within 60 s (state: '${state}')"
  echo "export SLURM_CONF=$SLURM_CONF"
}

cmd_stop() {
  local S=$1
  [[ -d $S ]] || return 0
  S=$(cd "$S" && pwd)
  if [[ -s $S/slurmctld.pid && -f $S/slurm.conf ]]; then
    # Cancel every job first, otherwise slurmstepd and job processes outlive slurmd.
    SLURM_CONF=$S/slurm.conf timeout 10 scancel --quiet --partition=debug 2>/dev/null || true
    for _ in $(seq 25); do
      pgrep -x slurmstepd >/dev/null || break
      sleep 0.2
    done
  fi
  # slurmctld takes ~5 s to exit on TERM, so stop all three in parallel.
  stop_pidfiles "$S/slurmd.pid:slurmd" "$S/slurmctld.pid:slurmctld" "$S/munged.pid:munged"
}

case ${1:-} in
  install) cmd_install ;;
  start) [[ $# == 2 ]] || die "usage: $0 start STATE_DIR"; cmd_start "$2" ;;
  stop) [[ $# == 2 ]] || die "usage: $0 stop STATE_DIR"; cmd_stop "$2" ;;
  *) die "usage: $0 install | start STATE_DIR | stop STATE_DIR" ;;
esac
