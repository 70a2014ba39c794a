#!/usr/bin/env bash
# Start a one-node Slurm on this machine (munge, slurmctld, slurmd), idempotently.
#   - installs munge slurmctld slurmd slurm-client libpmix-dev from Debian if missing
#   - creates the munge key if missing and starts munged (as user munge) if it does not answer
#   - writes slurm.conf for NodeName=localhost to $SLURM_CONF (default /etc/slurm/slurm.conf,
#     where the Slurm tools look), a copy in the state dir; a changed config restarts the daemons
#   - starts slurmctld and `slurmd -N localhost` unless their pid files name live daemons,
#     then waits (at most 60 s) until the node is idle
# State, spool, logs and pid files: $PYHARNESS_SLURM_DIR (default /tmp/pyharness-slurm).
# Ports: $PYHARNESS_SLURM_PORT for slurmctld (default 6817), the next one for slurmd; change
# them (with SLURM_CONF and PYHARNESS_SLURM_DIR) only to run a second cluster beside the first.
# When all is up already this takes about a second and changes nothing.
# scripts/slurm-down.sh stops the daemons; docs/SLURM.md says why the config is as it is.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${PYHARNESS_SLURM_DIR:-/tmp/pyharness-slurm}"
conf="${SLURM_CONF:-/etc/slurm/slurm.conf}"
port="${PYHARNESS_SLURM_PORT:-6817}"
export SLURM_CONF="$conf"          # every daemon and client started below reads this one

fail() {  # message, then the tails of the given logs; exit 1
  echo "slurm-up: $1" >&2
  shift
  local f
  for f in "$@"; do
    [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 25 "$f" >&2; }
  done
  exit 1
}

# --- packages (Debian's; nothing is ever removed: purging libmunge2 takes OpenMPI along)
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
need=()
for p in munge slurmctld slurmd slurm-client libpmix-dev; do
  installed "$p" || need+=("$p")
done
if ((${#need[@]})); then
  echo "slurm-up: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  log="$dir/log/apt.log"
  mkdir -p "$dir/log"
  apt_install() { apt-get install -y -qq --no-install-recommends "${need[@]}" >"$log" 2>&1; }
  updated=0
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
    apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed" "$log"
    updated=1
  fi
  if ! apt_install; then
    ((updated)) && fail "apt-get install ${need[*]} failed" "$log"
    apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed" "$log"
    apt_install || fail "apt-get install ${need[*]} failed" "$log"
  fi
fi

# --- munge
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
key=/etc/munge/munge.key
if [ ! -s "$key" ]; then
  mkdir -p /etc/munge
  mungekey --create --keyfile="$key" || fail "mungekey --create failed"
fi
[ "$(stat -c %U:%a "$key")" = munge:400 ] || { chown munge:munge "$key"; chmod 0400 "$key"; }
if ! munge_ok; then
  # /run is empty after a reboot; munged wants its socket, log and seed dirs owned by munge
  for d in /run/munge /var/log/munge /var/lib/munge; do
    mkdir -p "$d"
    [ "$(stat -c %U "$d")" = munge ] || chown munge:munge "$d"
  done
  # --force: a munged that died uncleanly leaves its socket behind, and nothing answers on it
  runuser -u munge -- /usr/sbin/munged --force >/dev/null 2>&1 || true
  for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
  munge_ok || fail "munged does not answer (munge -n | unmunge)" /var/log/munge/munged.log
fi

# --- configuration
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
config="# Written by pyharness scripts/slurm-up.sh: a one-node cluster on localhost.
# Edits are overwritten by the next run; see docs/SLURM.md.
ClusterName=pyharness
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MailProg=/bin/true
# finished jobs stay in 'scontrol show job' for an hour; each also gets a line in JobCompLoc
MinJobAge=3600
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
# a job is killed as soon as the (30 s) time-limit check sees it over --time
OverTimeLimit=0
KillWait=5
InactiveLimit=0
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP"

for d in "$dir" "$dir/state" "$dir/spool" "$dir/log" "$(dirname "$conf")"; do
  [ -d "$d" ] || mkdir -p "$d"
done
changed=0
if ! cmp -s <(printf '%s\n' "$config") "$conf"; then
  printf '%s\n' "$config" >"$conf.pyharness-new" && mv "$conf.pyharness-new" "$conf"
  changed=1
fi
cmp -s "$conf" "$dir/slurm.conf" || cp "$conf" "$dir/slurm.conf"

# --- daemons
running() {  # pid, name: a process of that name that is not a zombie (PID 1 here is slow
  local st       # to reap orphans, and a zombie daemon still shows its name in /proc)
  [[ "$1" =~ ^[0-9]+$ ]] && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ "$st" == "$1 ($2) "* && "${st#*) }" != Z* ]]
}
alive() {  # pid file, name: the file names a live process of that name
  local pid
  pid=$(cat "$1" 2>/dev/null) && running "$pid" "$2"
}
ctld_pid="$dir/slurmctld.pid" d_pid="$dir/slurmd.pid"
if ((changed)) && { alive "$ctld_pid" slurmctld || alive "$d_pid" slurmd; }; then
  echo "slurm-up: $conf changed: restarting the daemons"
  PYHARNESS_SLURM_DIR="$dir" bash "$here/slurm-down.sh" >/dev/null
fi
logs=("$dir/log/slurmctld.log" "$dir/log/slurmd.log")
start() {  # name, command...: start a daemon whose pid file is stale; wait (at most 15 s)
  local name=$1 pidfile="$dir/$1.pid" i
  shift
  rm -f "$pidfile"
  "$@" >/dev/null 2>&1 || true
  for ((i = 0; i < 150; i++)); do
    if [ -s "$pidfile" ]; then
      sleep 0.2   # a daemon that cannot bind its port writes its pid file, then dies
      alive "$pidfile" "$name" && return 0
      return 1
    fi
    sleep 0.1
  done
  return 1
}
if ! alive "$ctld_pid" slurmctld; then
  if ! start slurmctld slurmctld; then
    if tail -n 3 "${logs[0]}" 2>/dev/null | grep -q "Address already in use"; then
      fail "slurmctld could not bind port $port: another slurmctld runs there" "${logs[0]}"
    fi
    # state files it cannot read (left by another Slurm version or config): ignore them
    echo "slurm-up: slurmctld did not start; retrying with -i (ignore unreadable state)" >&2
    start slurmctld slurmctld -i || fail "slurmctld did not start" "${logs[0]}"
  fi
fi
if ! alive "$d_pid" slurmd; then
  start slurmd slurmd -N localhost || fail "slurmd did not start" "${logs[@]}"
fi

# --- wait until the node takes jobs
st=""
for ((i = 0; i < 120; i++)); do
  st=$(sinfo -h -n localhost -o %t 2>/dev/null | head -n 1) || st=""
  case "$st" in
    idle | mix | alloc | comp)
      echo "slurm-up: Slurm is up (node localhost $st, $cpus CPUs, config $conf); logs in $dir/log"
      exit 0 ;;
    down | drain | drng | fail | failg)   # responding, but held down (e.g. from saved state)
      ((i % 4 == 0)) && scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  alive "$ctld_pid" slurmctld || fail "slurmctld died" "${logs[@]}"
  alive "$d_pid" slurmd || fail "slurmd died" "${logs[@]}"
  sleep 0.5
done
fail "node localhost is not idle after 60 s (sinfo says '${st:-nothing}')" "${logs[@]}"
