# shellcheck shell=bash
# Source this file: what Slurm's clients and jobs need to find the cluster that
# scripts/slurm-up.sh runs. With the defaults this changes nothing (the tools read
# /etc/slurm/slurm.conf by themselves); it matters for a second cluster started with
# SLURM_CONF=... PYHARNESS_SLURM_DIR=... PYHARNESS_SLURM_PORT=... scripts/slurm-up.sh.
# sbatch passes the environment on, so jobs and their srun steps see the same config.
# (The MPI settings jobs need as root are in scripts/env.sh.)
export SLURM_CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
