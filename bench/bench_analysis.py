"""Benchmark of the per-rank merge: reference (pure Python) vs fast (numba), one run.

Generates a synthetic one-rank trace of 10 million events with the simulator
(a time loop over a random call tree: ``simulate_loop``), then times

- the reference and the fast merge on the same subset (they must agree),
- the fast merge on the full trace,

and prints events/second and the measured fast/reference ratio side by side.

Usage::

    python bench/bench_analysis.py [--events 10000000] [--subset 200000] [--seed 3]
"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np

from pyharness.analysis.merge import merge_events, merge_reference, numba_available
from pyharness.analysis.simulate import random_tree, simulate, simulate_loop


def make_step(seed: int, nsites: int):
    """One time step: a random call tree under the loop's call site ``nsites``."""
    rng = random.Random(seed)
    while True:
        step = random_tree(rng, nsites=nsites, max_depth=5, max_children=4, max_count=3,
                           max_tape=4096, max_snapshot=2048, max_time=5000, nroutines=8)
        n = len(simulate(step))
        if 200 <= n <= 4000:
            break
    from dataclasses import replace
    return replace(step, site=nsites, snapshot=1 << 16, write_ns=20_000, read_ns=20_000)


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000, help="events of the full trace")
    ap.add_argument("--subset", type=int, default=200_000, help="events timed with both versions")
    ap.add_argument("--seed", type=int, default=3, help="of the random call tree (default 3)")
    args = ap.parse_args()

    nsites = 40
    nloc = nsites + 1 + 8                       # sites, the loop's site, routines
    key = np.full(nloc, -1, np.int64)
    key[: nsites + 1] = np.arange(nsites + 1)
    step = make_step(args.seed, nsites)
    per_step = len(simulate(step)) + 6

    full, t_gen = timed(simulate_loop, step, max(1, math.ceil(args.events / per_step)), (4096, 1024))
    sub, _ = timed(simulate_loop, step, max(1, math.ceil(args.subset / per_step)), (4096, 1024))
    print(f"trace: {len(full):,} events ({per_step - 6} per time step, {nsites + 1} sites), "
          f"generated in {t_gen:.2f} s; subset {len(sub):,} events")
    if not numba_available():
        print("numba is not installed: only the reference can be timed (pip install numba)")
        _, t_ref = timed(merge_reference, *sub.arrays, key)
        print(f"reference  {len(sub) / t_ref:14,.0f} events/s on the subset")
        return

    _, t_jit = timed(merge_events, *simulate_loop(step, 2).arrays, key, method="numba")
    print(f"fast version loaded/compiled in {t_jit:.2f} s (cached after the first run)")

    ref, t_ref = timed(merge_reference, *sub.arrays, key)
    fast, t_fast_sub = timed(merge_events, *sub.arrays, key, method="numba")
    same = all((getattr(ref, a) == getattr(fast, a)).all()
               for a in ("count", "dt_wall_ns", "dt_cpu_ns", "dpk", "dtn"))
    same = same and ref.peak == fast.peak == sub.peak
    res, t_full = timed(merge_events, *full.arrays, key, method="numba")
    assert res.peak == full.peak, "root Pk differs from the true peak"

    print()
    print(f"{'':22}{'events':>12}{'seconds':>10}{'events/s':>16}")
    print(f"{'reference, subset':22}{len(sub):>12,}{t_ref:>10.3f}{len(sub) / t_ref:>16,.0f}")
    print(f"{'fast, subset':22}{len(sub):>12,}{t_fast_sub:>10.3f}{len(sub) / t_fast_sub:>16,.0f}")
    print(f"{'fast, full trace':22}{len(full):>12,}{t_full:>10.3f}{len(full) / t_full:>16,.0f}")
    print()
    print(f"fast / reference speed ratio on the same subset: {t_ref / t_fast_sub:.0f}x "
          f"(results identical: {same})")


if __name__ == "__main__":
    main()
