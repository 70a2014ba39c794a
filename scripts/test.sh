#!/usr/bin/env bash
# Set everything up, then run the whole test suite (MPI and Slurm tests included).
# Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
# a real one-node Slurm for the batch backend's tests. Under CI (CI=true) a Slurm that
# cannot start fails the run: its tests must not pass by being skipped.
if ! bash "$here/scripts/slurm-up.sh"; then
  if [ "${CI:-}" = "true" ]; then
    echo "test: ERROR: Slurm could not be started, and CI=true: the Slurm tests cannot run" >&2
    exit 1
  fi
  echo "test: Slurm could not be started; its tests will be skipped (under CI=true: an error)" >&2
fi
source "$here/scripts/env.sh"
cd "$here"
# `pytest`, not `python -m pytest`: the latter would put the source tree first on
# sys.path, shadowing the installed package and its compiled extension.
exec pytest tests "$@"
