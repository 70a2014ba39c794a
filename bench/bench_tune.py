"""Tuning results: speed-up and peak of the tuned configuration against every site
checkpointed, for two budgets, and how well the estimates predicted each step.

    python bench/bench_tune.py --kernel streamice --size medium --ranks 2

Runs `mpiexec -n RANKS python -m pyharness.tune` (inline backend) per budget, then
reads tune.h5: for every step (one flip against the configuration it came from) the
estimated dT/dPk next to the measured change.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

from pyharness.tuner.store import TuneStore
from pyharness.units import human_bytes


def run(kernel, size, ranks, budget, strategy, out, repeat):
    cmd = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "pyharness.tune", "--kernel", kernel,
           "--size", size, "--budget", budget, "--strategy", strategy, "--backend", "inline",
           "--repeat", str(repeat), "--max-steps", "30", "--no-progress", "--out", out]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return TuneStore(out).records()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default="streamice")
    ap.add_argument("--size", default="medium")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budgets", default="1.5x,3x")
    ap.add_argument("--strategy", default="runtime-first")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-tune-")
    print(f"{args.kernel} {args.size} on {args.ranks} ranks, strategy {args.strategy}, "
          f"each run the fastest of {args.repeat}")
    print(f"{'budget':>8} {'start':>9} {'tuned':>9} {'speed-up':>9} {'start peak':>11} "
          f"{'tuned peak':>11} {'steps':>6} {'inhibited':>10}")
    errs_t, errs_p = [], []
    for b in args.budgets.split(","):
        recs = run(args.kernel, args.size, args.ranks, b, args.strategy,
                   os.path.join(tmp, f"tune-{b}.h5"), args.repeat)
        start = recs[0].measurement
        acc = [r for r in recs if r.decision in ("start", "accepted")]
        best = acc[-1].measurement
        print(f"{b:>8} {start.wall:>8.3f}s {best.wall:>8.3f}s {start.wall / best.wall:>8.2f}x "
              f"{human_bytes(start.peak):>11} {human_bytes(best.peak):>11} {len(recs) - 1:>6} "
              f"{len(acc[-1].inhibited):>10}")
        cur = recs[0].measurement
        for r in recs[1:]:
            if r.measurement is not None and r.phase == "inhibit":
                m = r.measurement
                errs_t.append((r.est_dt, cur.wall - m.wall))
                errs_p.append((r.est_dpk, m.peak - cur.peak))
            if r.decision == "accepted":
                cur = r.measurement
    if errs_p:
        et = np.array(errs_t)
        ep = np.array(errs_p)
        exact = int(np.sum(ep[:, 0] == ep[:, 1]))
        print(f"\nestimate vs measurement over {len(ep)} steps:")
        print(f"  peak change: exact in {exact}/{len(ep)} steps; "
              f"median |error| {human_bytes(float(np.median(np.abs(ep[:, 0] - ep[:, 1]))))}")
        rel = np.abs(et[:, 0] - et[:, 1]) / np.maximum(np.abs(et[:, 1]), 1e-9)
        print(f"  time gain: median estimate {np.median(et[:, 0]):.4f} s, median measured "
              f"{np.median(et[:, 1]):.4f} s, median relative error {np.median(rel):.0%} "
              f"(noise of single runs on a shared 2-core machine included)")


if __name__ == "__main__":
    main()
