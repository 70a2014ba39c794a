#!/usr/bin/env bash
# Stop the one-node Slurm started by scripts/slurm-up.sh: slurmd, then slurmctld, each by
# its pid file in $PYHARNESS_SLURM_DIR (default /tmp/pyharness-slurm); with --all munged too
# (by /run/munge/munged.pid). Waits until they are gone; idempotent.
# Jobs still running keep running (their slurmstepd outlives slurmd) and are picked up again
# by the next scripts/slurm-up.sh; slurmctld saves its state on the way down.
set -uo pipefail
dir="${PYHARNESS_SLURM_DIR:-/tmp/pyharness-slurm}"
all=0
case "${1:-}" in
  "") ;;
  --all) all=1 ;;
  *) echo "usage: $0 [--all]" >&2; exit 2 ;;
esac

running() {  # pid, name: a process of that name that is not a zombie (PID 1 here is slow
  local st       # to reap orphans, and a zombie daemon still shows its name in /proc)
  [[ "$1" =~ ^[0-9]+$ ]] && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ "$st" == "$1 ($2) "* && "${st#*) }" != Z* ]]
}
stop() {  # pid file, process name
  local pid i
  pid=$(cat "$1" 2>/dev/null) || return 0
  # a stale pid file may name a pid now reused by something else: check the name
  running "$pid" "$2" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 300; i++)); do   # slurmctld saves its state first: give it 30 s
    running "$pid" "$2" || { echo "slurm-down: $2 ($pid) stopped"; return 0; }
    sleep 0.1
  done
  echo "slurm-down: $2 ($pid) ignored SIGTERM for 30 s: SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do running "$pid" "$2" || return 0; sleep 0.1; done
  echo "slurm-down: $2 ($pid) is still there" >&2
  return 1
}

rc=0
stop "$dir/slurmd.pid" slurmd || rc=1
stop "$dir/slurmctld.pid" slurmctld || rc=1
if ((all)); then
  stop /run/munge/munged.pid munged || rc=1
fi
((rc == 0)) && echo "slurm-down: Slurm of $dir is down$( ((all)) && echo ', munged too')"
exit $rc
