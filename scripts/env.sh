# Source this file: the venv and the MPI settings pyharness runs with.
_ph_here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${PYHARNESS_VENV:-$_ph_here/.venv}/bin:$PATH"
# OpenMPI refuses to run as root without these, and refuses more ranks than
# cores without oversubscription (this project's machines have 2 cores).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Busy-polling ranks on an oversubscribed node slow each other down: yield instead.
export OMPI_MCA_mpi_yield_when_idle=1
# `python -m pyharness...` run from the source tree would import the sources (no
# compiled bindings) instead of the installed package: keep the current directory
# off sys.path (Python >= 3.11).
export PYTHONSAFEPATH=1
unset _ph_here
