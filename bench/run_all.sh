#!/usr/bin/env bash
# Run every benchmark and print their results (paste into the README).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/env.sh"
cd /tmp
echo "## stack throughput"; python "$here/bench/bench_stack.py"
echo "## adjoint cost and profiling overhead"; mpiexec -n 2 python "$here/bench/bench_adjoint.py" --size medium
echo "## analysis throughput"; python "$here/bench/bench_analysis.py"
echo "## tuning"; python "$here/bench/bench_tune.py"
