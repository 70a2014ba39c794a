"""Tuning results: speed-up and peak of the tuned configuration against every site
checkpointed, for two budgets, and how well the estimates predicted each step.

    python bench/bench_tune.py --kernel streamice --size medium --ranks 2
    python bench/bench_tune.py --kernel biogeo --budgets 1.0x --snapshots 0,2,4   # pairs

Runs `mpiexec -n RANKS python -m pyharness.tune` (inline backend) per budget, then
reads tune.h5: for every step (one flip against the configuration it came from) the
estimated dT/dPk next to the measured change.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from pyharness.tuner.store import TuneStore
from pyharness.units import human_bytes
from pyharness.vocabulary import Decision, Phase


def run(kernel, size, ranks, budget, strategy, out, repeat, snapshots="0", max_steps=30):
    cmd = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "pyharness.tune", "--kernel", kernel,
           "--size", size, "--budget", budget, "--strategy", strategy, "--backend", "inline",
           "--method", "greedy",
           "--repeat", str(repeat), "--max-steps", str(max_steps), "--no-progress", "--out", out,
           "--snapshots", snapshots]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    if "," in snapshots:
        return None
    return TuneStore(out).records()


def pairs(args, tmp):
    """One tuning per snapshot count under the same bytes; the pair table."""
    out = os.path.join(tmp, "pairs.h5")
    run(args.kernel, args.size, args.ranks, args.budgets.split(",")[0], args.strategy, out,
        args.repeat, args.snapshots, args.max_steps)
    summary = json.load(open(os.path.join(tmp, "pairs.pairs.json")))
    ref = summary["pairs"][0]["start_wall"]
    print(f"budget {human_bytes(summary['budget_bytes'])}/rank ({args.budgets} of K="
          f"{summary['pairs'][0]['snapshots']} all checkpointed); speed-up against that start")
    print(f"{'K':>3} {'start':>9} {'start peak':>11} {'tuned':>9} {'tuned peak':>11} "
          f"{'speed-up':>9} {'inhibited':>10}")
    for r in summary["pairs"]:
        print(f"{r['snapshots']:>3} {r['start_wall']:>8.3f}s {human_bytes(r['start_peak']):>11} "
              f"{r['wall']:>8.3f}s {human_bytes(r['peak']):>11} {ref / r['wall']:>8.2f}x "
              f"{len(r['inhibited']):>10}{'' if r['within_budget'] else '  (over budget)'}")
    best = summary["best"]
    if best:
        print(f"best pair: K={best['snapshots']}, {len(best['inhibited'])} sites inhibited")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default="streamice")
    ap.add_argument("--size", default="medium")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budgets", default="1.5x,3x")
    ap.add_argument("--strategy", default="runtime-first")
    ap.add_argument("--max-steps", type=int, default=30, help="tuning steps per run (default 30)")
    ap.add_argument("--snapshots", default="0",
                    help="time-loop snapshot count; several (0,2,4): the pair search")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-tune-")
    if "," in args.snapshots:
        print(f"{args.kernel} {args.size} on {args.ranks} ranks, pairs of (configuration, "
              f"snapshot count), each run the fastest of {args.repeat}")
        pairs(args, tmp)
        return
    print(f"{args.kernel} {args.size} on {args.ranks} ranks, strategy {args.strategy}, "
          f"each run the fastest of {args.repeat}")
    print(f"{'budget':>8} {'start':>9} {'tuned':>9} {'speed-up':>9} {'start peak':>11} "
          f"{'tuned peak':>11} {'steps':>6} {'inhibited':>10}")
    errs_t, errs_p = [], []
    for b in args.budgets.split(","):
        recs = run(args.kernel, args.size, args.ranks, b, args.strategy,
                   os.path.join(tmp, f"tune-{b}.h5"), args.repeat, args.snapshots, args.max_steps)
        start = recs[0].measurement
        acc = [r for r in recs if r.decision.kept]
        best = acc[-1].measurement
        print(f"{b:>8} {start.wall:>8.3f}s {best.wall:>8.3f}s {start.wall / best.wall:>8.2f}x "
              f"{human_bytes(start.peak):>11} {human_bytes(best.peak):>11} {len(recs) - 1:>6} "
              f"{len(acc[-1].inhibited):>10}")
        cur = recs[0].measurement
        for r in recs[1:]:
            if r.measurement is not None and r.phase is Phase.INHIBIT:
                m = r.measurement
                errs_t.append((r.est_dt, cur.wall - m.wall))
                errs_p.append((r.est_dpk, m.peak - cur.peak))
            if r.decision is Decision.ACCEPTED:
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
