#!/usr/bin/env bash
# Set everything up, then run the main job on the small default case (streamice 'demo'
# size: 128 x 96 cells, 6 time steps):
# profile the streamice adjoint on 2 MPI ranks, analyse the profile, and tune the
# checkpoint placement under a per-rank budget of 1.5x the all-checkpointed peak.
# Results go to ./results (override with PYHARNESS_RESULTS).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
source "$here/scripts/env.sh"
out="${PYHARNESS_RESULTS:-$PWD/results}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
# run in the results directory: from the source tree, Python < 3.11 would import
# the sources instead of the installed package
cd "$out"
np="${PYHARNESS_RANKS:-2}"
echo "== profile: every site checkpointed (Tapenade's default), $np ranks"
mpiexec -n "$np" python -m pyharness.profile --kernel streamice --size demo --out "$out/profile.h5"
echo "== cost/benefit of every site"
python -m pyharness.analyze "$out/profile.h5"
echo "== tuning under a per-rank budget of 1.5x the starting peak (method optimal: one profile,"
echo "   the cost model's proven optimum, one run to confirm that its peak is the predicted one)"
rm -rf "$out/tune.h5" "$out/tune.h5.profiles"
mpiexec -n "$np" python -m pyharness.tune --kernel streamice --size demo --budget 1.5x \
  --strategy runtime-first --backend inline --repeat 3 --out "$out/tune.h5"
echo
echo "results in $out: profile.h5 (profile), tune.h5 (tuning history),"
echo "  tune.config.json and tune.nocheckpoint.txt (the chosen configuration)"
