#!/usr/bin/env bash
# Run every benchmark and print their results (paste into the README).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/env.sh"
cd /tmp
echo "## stack throughput"; python "$here/bench/bench_stack.py"
echo "## adjoint cost and profiling overhead"
mpiexec -n 2 python "$here/bench/bench_adjoint.py" --kernel streamice --size medium
mpiexec -n 2 python "$here/bench/bench_adjoint.py" --kernel biogeo --size medium
echo "## analysis throughput"; python "$here/bench/bench_analysis.py"
echo "## tuning: --method optimal against --method greedy"
python "$here/bench/bench_tune.py" --cases streamice:medium,biogeo:medium --budgets 1.5x,0.95x --rounds 5
python "$here/bench/bench_tune.py" --budgets 1.5x,0.95x --rounds 5
echo "## pairs of configuration and time-loop snapshot count"
python "$here/bench/bench_tune.py" --kernel biogeo --size medium --budgets 0.6x --snapshots 0,2,4 --max-steps 40
echo "## scaling with the number of sites"
mpiexec -n 2 python "$here/bench/bench_calltree.py"
python "$here/bench/bench_calltree.py" --tuning
echo "## scaling with the number of ranks (per-rank reduction)"
python "$here/bench/bench_ranks.py" --ranks 2,8,32,64 --loop 3000 --legacy 2,64
echo "## the cost model: predicted against measured, and the MILP's solve time"
mpiexec -n 2 python "$here/bench/bench_model.py" --kernel streamice --size medium --configs 20
mpiexec -n 2 python "$here/bench/bench_model.py" --kernel biogeo --size medium --configs 20
python "$here/bench/bench_model.py" --solve 100,500,2000 --time-limit 120
