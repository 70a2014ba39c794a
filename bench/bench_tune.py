"""Tuning: --method optimal against --method greedy, side by side in one job.

    python bench/bench_tune.py                                  # streamice:demo, biogeo:small, calltree:random12
    python bench/bench_tune.py --cases streamice:demo --budgets 1.5x,0.95x
    python bench/bench_tune.py --kernel biogeo --size medium --budgets 0.6x --snapshots 0,2,4   # pairs

For every case (kernel and size; a calltree tree) and budget, tunes with both methods
(`mpiexec -n RANKS python -m pyharness.tune`, inline backend), then measures the start
and both choices again, alternately, --rounds times each without profiling, so the
final times are compared under the same load. Prints per method: runs used, wall time
of the tuning, the final time (median of the rounds, and their spread max - min), the
speed-up over the start, the final peak against the budget; and the time ratio
optimal/greedy of the two choices.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from pyharness.tuner.store import TuneStore
from pyharness.units import human_bytes

CASES = {
    "streamice:demo": ["--kernel", "streamice", "--size", "demo"],
    "biogeo:small": ["--kernel", "biogeo", "--size", "small"],
    "streamice:medium": ["--kernel", "streamice", "--size", "medium"],
    "biogeo:medium": ["--kernel", "biogeo", "--size", "medium"],
    "calltree:random12": ["--kernel", "calltree", "--param", "shape=random", "--param", "nsites=12",
                          "--param", "seed=3", "--param", "m=4096"],
}


def run(kernel, size, ranks, budget, strategy, out, repeat, snapshots="0", max_steps=30):
    """The pair search (--snapshots 0,2,4) with the greedy loop."""
    cmd = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "pyharness.tune", "--kernel", kernel,
           "--size", size, "--budget", budget, "--strategy", strategy, "--backend", "inline",
           "--method", "greedy",
           "--repeat", str(repeat), "--max-steps", str(max_steps), "--no-progress", "--out", out,
           "--snapshots", snapshots]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(out))
    if p.returncode != 0:
        said = [line for line in p.stderr.splitlines() if "error:" in line] or p.stderr.splitlines()[-20:]
        table = os.path.splitext(out)[0] + ".pairs.json"
        if "," in snapshots and os.path.exists(table):     # no count fits: the table still says how close
            print(f"tune exited {p.returncode}: {said[-1].strip()}")
            return None
        sys.exit(f"the tuning failed (exit {p.returncode}): {' '.join(cmd)}\n" + "\n".join(said))
    if "," in snapshots:
        return None
    return TuneStore(out).records()


def tune(case, ranks, budget, method, out, args):
    """One tuning; (records, wall seconds, exit status, stderr tail)."""
    cmd = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "pyharness.tune", *case,
           "--budget", budget, "--method", method, "--strategy", args.strategy, "--backend", "inline",
           "--max-steps", str(args.max_steps), "--rounds", str(args.tune_rounds), "--no-progress",
           "--out", out]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(out))
    wall = time.perf_counter() - t0
    recs = TuneStore(out).records() if os.path.exists(out) else []
    said = [l for l in p.stderr.splitlines() if any(c.isalnum() for c in l)]
    return recs, wall, p.returncode, said[-1:] if p.returncode else []


def measure(case, ranks, config, out):
    """Slowest rank's adjoint time of one run without profiling, and its largest peak."""
    cmd = ["mpiexec", "-n", str(ranks), sys.executable, "-m", "pyharness.profile", *case,
           "--no-profiling", "--out", out]
    if config:
        cmd += ["--config", config]
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=os.path.dirname(out))
    import h5py
    with h5py.File(out) as f:
        return float(max(f["summary/wall_s"][()])), int(max(f["summary/peak_bytes"][()]))


def compare(args, tmp):
    cases = args.cases.split(",")
    print(f"optimal against greedy ({args.strategy}, --rounds {args.tune_rounds}), {args.ranks} ranks; "
          f"final times: median of {args.rounds} runs without profiling, start and both choices "
          f"measured alternately (spread = max - min)")
    print(f"{'case':<18} {'budget':>6} {'method':>7} {'runs':>5} {'tuning':>8} {'final':>9} "
          f"{'spread':>8} {'speed-up':>8} {'peak':>10} {'budget':>10}  fits")
    for name in cases:
        case = CASES[name]
        for b in args.budgets.split(","):
            d = tempfile.mkdtemp(prefix=f"{name.replace(':', '-')}-{b}-", dir=tmp)
            res = {}
            for method in ("optimal", "greedy"):
                out = os.path.join(d, f"{method}.h5")
                recs, wall, rc, err = tune(case, args.ranks, b, method, out, args)
                cfg = os.path.join(d, f"{method}.config.json")
                res[method] = dict(recs=recs, wall=wall, rc=rc, err=err,
                                   cfg=cfg if rc == 0 and os.path.exists(cfg) else None)
            if not res["optimal"]["recs"]:
                print(f"{name:<18} {b:>6}  no start: {res['optimal']['err']}")
                continue
            budget = None
            with_cfg = [m for m in res if res[m]["cfg"]]
            times = {"start": []}
            times.update({m: [] for m in with_cfg})
            peaks = {}
            for r in range(args.rounds):
                for key in times:
                    cfg = None if key == "start" else res[key]["cfg"]
                    t, pk = measure(case, args.ranks, cfg, os.path.join(d, f"m-{key}-{r}.h5"))
                    times[key].append(t)
                    peaks[key] = pk
            start = statistics.median(times["start"])
            for method in ("optimal", "greedy"):
                x = res[method]
                recs = x["recs"]
                runs = sum(r.runs or r.attempts for r in recs)
                if budget is None and recs:
                    from pyharness.units import parse_budget
                    budget = parse_budget(b).resolve(recs[0].measurement.peak)
                if method not in times:
                    print(f"{name:<18} {b:>6} {method:>7} {runs:>5} {x['wall']:>7.1f}s  "
                          f"no configuration: {' '.join(x['err'])[:70]}")
                    continue
                t = times[method]
                med = statistics.median(t)
                print(f"{name:<18} {b:>6} {method:>7} {runs:>5} {x['wall']:>7.1f}s {med:>8.4f}s "
                      f"{max(t) - min(t):>7.4f}s {start / med:>7.2f}x {human_bytes(peaks[method]):>10} "
                      f"{human_bytes(budget):>10}  {'yes' if peaks[method] <= budget else 'NO'}")
            print(f"{name:<18} {b:>6} {'start':>7} {'':>5} {'':>8} {start:>8.4f}s "
                  f"{max(times['start']) - min(times['start']):>7.4f}s {1.0:>7.2f}x "
                  f"{human_bytes(peaks['start']):>10}")
            if "optimal" in times and "greedy" in times:
                ratio = statistics.median(times["optimal"]) / statistics.median(times["greedy"])
                print(f"{name:<18} {b:>6}   time ratio optimal/greedy {ratio:.3f}")


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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="streamice:demo,biogeo:small,calltree:random12", help=f"comma-separated, of {', '.join(CASES)} (default streamice:demo,biogeo:small,calltree:random12)")
    ap.add_argument("--kernel", default="biogeo", help="pair search (--snapshots 0,2,4) only (default biogeo)")
    ap.add_argument("--size", default="medium", help="pair search only (default medium)")
    ap.add_argument("--ranks", type=int, default=2, help="ranks of every run (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="pair search: each run the fastest of N (default 3)")
    ap.add_argument("--budgets", default="1.5x,0.95x",
                    help="budgets, each tuned with both methods (default 1.5x,0.95x; the pair search takes the first)")
    ap.add_argument("--strategy", default="runtime-first", help="the greedy loop's (default runtime-first)")
    ap.add_argument("--max-steps", type=int, default=60, help="greedy steps per tuning (default 60)")
    ap.add_argument("--tune-rounds", type=int, default=2, help="the greedy loop's --rounds (default 2)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="runs of the start and of each choice, alternately, to compare them (default 5)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the histories and profiles (default: removed at the end)")
    ap.add_argument("--snapshots", default="0",
                    help="several time-loop snapshot counts (0,2,4): the pair search of the greedy "
                         "loop instead of the comparison (default 0: no pair search)")
    args = ap.parse_args()
    unknown = [c for c in args.cases.split(",") if c not in CASES]
    if unknown:
        ap.error(f"--cases: unknown {', '.join(unknown)}; known: {', '.join(CASES)}")
    if "," not in args.snapshots and args.snapshots.strip() != "0":
        ap.error(f"--snapshots {args.snapshots}: the comparison runs without time-loop snapshots; "
                 "give several counts (--snapshots 0,2,4) for the pair search")
    tmp = tempfile.mkdtemp(prefix="bench-tune-")
    try:
        if "," in args.snapshots:
            print(f"{args.kernel} {args.size} on {args.ranks} ranks, pairs of (configuration, "
                  f"snapshot count), each run the fastest of {args.repeat}")
            pairs(args, tmp)
        else:
            compare(args, tmp)
    finally:      # every tuning's profiles (hundreds of MiB at medium sizes)
        if args.keep:
            print(f"files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
