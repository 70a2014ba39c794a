#!/usr/bin/env bash
# Set everything up, then run the whole test suite (MPI tests included).
# Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
source "$here/scripts/env.sh"
cd "$here"
exec python -m pytest tests "$@"
