#!/usr/bin/env bash
# Set everything up, then run the whole test suite (MPI tests included).
# Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
source "$here/scripts/env.sh"
cd "$here"
# `pytest`, not `python -m pytest`: the latter would put the source tree first on
# sys.path, shadowing the installed package and its compiled extension.
exec pytest tests "$@"
