#!/usr/bin/env bash
# Stop the one-node Slurm started by scripts/slurm-up.sh (by its pid files).
# With --all, stop munged too.
set -uo pipefail
dir="${PYHARNESS_SLURM_DIR:-/tmp/pyharness-slurm}"
stop() {
  local pidfile=$1
  [ -s "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
stop "$dir/slurmd.pid"
stop "$dir/slurmctld.pid"
if [ "${1:-}" = "--all" ]; then
  pkill -u munge munged 2>/dev/null || true
fi
echo "slurm-down: stopped"
