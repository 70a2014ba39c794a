#!/bin/bash
# The kill campaign (bench/fault_campaign.py): kill -9 the tuner at every
# PYHARNESS_STOP_AT point and at random moments, with the replay, local and inline
# backends; resume; check no torn HDF5 file, no lost or repeated step, replay equal
# to an uninterrupted run, no orphan process, no run directory left behind.
#
#   bash bench/faults.sh                          # everything (a few minutes)
#   bash bench/faults.sh --backends replay --random 20 --seed 7
#
# Exit status: the number of failed cases (0: all passed; capped at 100).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
source "$here/scripts/env.sh"
cd "${TMPDIR:-/tmp}"
exec python "$here/bench/fault_campaign.py" "$@"
