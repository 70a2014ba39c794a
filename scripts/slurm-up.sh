#!/usr/bin/env bash
# Start a one-node Slurm on this machine (munge, slurmctld, slurmd), idempotently.
#   - installs munge slurmctld slurmd slurm-client libpmix-dev from Debian if missing
#   - writes /etc/slurm/slurm.conf for NodeName=localhost (a copy in the state dir)
#   - starts the daemons that are not running, waits until the node is idle
# State, logs and pid files: $PYHARNESS_SLURM_DIR (default /tmp/pyharness-slurm).
# scripts/slurm-down.sh stops the daemons again.
set -euo pipefail
dir="${PYHARNESS_SLURM_DIR:-/tmp/pyharness-slurm}"
mkdir -p "$dir"/{state,spool,log}

need=()
for p in munge slurmctld slurmd slurm-client libpmix-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
  echo "slurm-up: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1 || \
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { echo "slurm-up: munged does not answer" >&2; exit 1; }
fi

# --- configuration
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
conf="$dir/slurm.conf"
cat > "$conf.new" <<CONF
# written by pyharness scripts/slurm-up.sh: a one-node cluster on localhost
ClusterName=pyharness
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
MinJobAge=3600
OverTimeLimit=0
KillWait=5
InactiveLimit=0
# time limits are enforced by the periodic check of slurmctld
SlurmctldParameters=enable_configless
NodeName=localhost CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
mkdir -p /etc/slurm
if ! cmp -s "$conf.new" /etc/slurm/slurm.conf; then
  cp "$conf.new" /etc/slurm/slurm.conf
  changed=1
else
  changed=0
fi
mv "$conf.new" "$conf"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ((changed)) && alive "$dir/slurmctld.pid"; then
  bash "$(dirname "$0")/slurm-down.sh" >/dev/null
fi
if ! alive "$dir/slurmctld.pid"; then
  slurmctld >/dev/null 2>&1 || slurmctld -c >/dev/null 2>&1 || true
fi
if ! alive "$dir/slurmd.pid"; then
  slurmd -N localhost >/dev/null 2>&1 || true
fi

for _ in $(seq 120); do
  st=$(sinfo -h -n localhost -o %t 2>/dev/null | head -1 || true)
  case "$st" in
    idle*|mix*|alloc*) echo "slurm-up: Slurm is up (node localhost $st); logs in $dir/log"; exit 0 ;;
    down*|drain*|drng*|fail*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
echo "slurm-up: the node did not become idle; last log lines:" >&2
tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null || true
exit 1
