#!/usr/bin/env bash
# Set everything up, then run the whole test suite (MPI and Slurm tests included).
# Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
# a real one-node Slurm for the batch backend's tests
if ! bash "$here/scripts/slurm-up.sh"; then
  echo "test: Slurm could not be started; its tests will be skipped" >&2
fi
source "$here/scripts/env.sh"
cd "$here"
# `pytest`, not `python -m pytest`: the latter would put the source tree first on
# sys.path, shadowing the installed package and its compiled extension.
exec pytest tests "$@"
