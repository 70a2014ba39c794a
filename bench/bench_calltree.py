"""Scaling with the number of sites and dynamic instances (calltree kernel).

For random call trees of growing size: adjoint time with profiling on and off (in
the same process, alternating), events recorded, and the analysis time of the profile:

    mpiexec -n 2 python bench/bench_calltree.py

and, run without mpiexec, the time of a real tuning run of a few steps per tree
(`mpiexec -n RANKS python -m pyharness.tune`, inline backend), split into the runs
themselves and the tuner's own work (analysis, estimates, decisions, tune.h5):

    python bench/bench_calltree.py --tuning
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def runs_wall(rec) -> float:
    """Wall time of every run a tuning step made (slowest rank): a greedy inhibit step
    with --rounds N runs the candidate and the incumbent N times each and records each
    run's time; any other step, its one measured run."""
    if rec.rounds_incumbent or rec.rounds_candidate:
        return float(sum(rec.rounds_incumbent) + sum(rec.rounds_candidate))
    return rec.measurement.wall if rec.measurement is not None else 0.0


def tuning(args):
    """Wall time of `pyharness.tune` per step on each tree, split into the run itself and
    the tuner's own work, from two real tuning runs: 0 steps (start-up and the starting
    profile) and --steps steps; their difference is what the steps cost. The greedy loop
    runs with --rounds 1 (the paper's loop: one run per step); the runs a step makes are
    counted from its record whatever their number."""
    import shutil

    from pyharness.tuner.store import TuneStore

    def tune(n, steps):
        tmp = tempfile.mkdtemp(prefix="bench-ct-tune-")
        try:
            out = os.path.join(tmp, "tune.h5")
            cmd = ["mpiexec", "-n", str(args.ranks), sys.executable, "-m", "pyharness.tune",
                   "--kernel", "calltree", "--param", f"shape=random,nsites={n},seed=1,m=64",
                   "--budget", "3x", "--backend", "inline", "--max-steps", str(steps), "--method", "greedy",
                   "--rounds", "1", "--no-progress", "--out", out]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=tmp)
            wall = time.perf_counter() - t0
            recs = TuneStore(out).records()
            return wall, recs, _nevents(os.path.join(tmp, recs[0].measurement.profile))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"calltree random trees, m=64 reals per rank, {args.ranks} ranks: real tuning runs "
          f"(inline backend, greedy, runtime-first, --rounds 1, budget 3x), {args.steps} steps "
          f"against 0 steps")
    print(f"{'sites':>6} {'events':>9} {'start-up':>9} {'per step':>9} {'its runs':>9} "
          f"{'tuner':>9} {'tuner/run':>10}")
    rows = []
    for n in map(int, args.sizes.split(",")):
        t_zero, _, _ = tune(n, 0)
        t_steps, recs, nev = tune(n, args.steps)
        k = len(recs) - 1
        per_step = (t_steps - t_zero) / k
        run = sum(runs_wall(r) for r in recs[1:]) / k
        rows.append((n, nev, per_step - run))
        print(f"{n:>6} {nev:>9} {t_zero:>8.2f}s {per_step:>8.3f}s {run:>8.3f}s "
              f"{per_step - run:>8.3f}s {(per_step - run) / max(run, 1e-9):>9.2f}x")
    if len(rows) >= 3:
        x = np.log([r[1] for r in rows])
        y = np.log([max(r[2], 1e-3) for r in rows])
        print(f"the tuner's own time per step (gather, profile.h5, analysis, decision, tune.h5) "
              f"grows as events^{np.polyfit(x[1:], y[1:], 1)[0]:.2f} (fit without the smallest tree)")


def _nevents(path) -> int:
    import h5py
    with h5py.File(path) as f:
        return int(np.sum(f["summary/nevents"][()]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,50,200,1000,2000",
                    help="numbers of sites of the random trees (default 10,50,200,1000,2000)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="runs with profiling off and on per tree, the median kept (default 5)")
    ap.add_argument("--tuning", action="store_true",
                    help="time real tuning runs instead (run without mpiexec)")
    ap.add_argument("--steps", type=int, default=5, help="tuning steps per tree (--tuning)")
    ap.add_argument("--ranks", type=int, default=2, help="ranks of each tuning run (--tuning)")
    args = ap.parse_args()
    if args.tuning:
        return tuning(args)       # before importing mpi4py.MPI: this process starts mpiexec
    scaling(args)


def scaling(args):
    from mpi4py import MPI

    from pyharness import runtime
    from pyharness.analysis import Locations, analyze_events
    from pyharness.config import Configuration, SiteTable
    from pyharness.kernels import get_kernel
    from pyharness.mpiutil import gather_arrays
    from pyharness.profile import run_adjoint
    comm = MPI.COMM_WORLD
    rows = []
    for n in map(int, args.sizes.split(",")):
        k = get_kernel("calltree").create(comm, overrides={"shape": "random", "nsites": str(n),
                                                            "seed": "1", "m": "64"})
        table = SiteTable.from_locations(runtime.locations())
        cfg = Configuration()
        run_adjoint(comm, k, table, cfg, profiling=True)   # warm-up
        t_on, t_off = [], []
        for _ in range(args.rounds):
            t_off.append(run_adjoint(comm, k, table, cfg, profiling=False)[0].wall)
            s, ev, _ = run_adjoint(comm, k, table, cfg, profiling=True)
            t_on.append(s.wall)
        g = gather_arrays(comm, {"kind": ev.kind, "loc": ev.loc, "wall_ns": ev.wall_ns,
                                 "cpu_ns": ev.cpu_ns, "stack": ev.stack})
        t_an = None
        if comm.rank == 0:
            locs = Locations.from_records(runtime.locations())
            analyze_events(g, locs, "site", wall_s=s.wall_s, cpu_s=s.cpu_s)   # compile / warm
            t0 = time.perf_counter()
            analyze_events(g, locs, "site", wall_s=s.wall_s, cpu_s=s.cpu_s)
            t_an = time.perf_counter() - t0
        nev = int(s.nevents.sum())
        rows.append((n, nev // 6, nev, statistics.median(t_off), statistics.median(t_on), t_an))
    if comm.rank == 0:
        print(f"calltree random trees, m=64 reals per rank, {comm.size} ranks, "
              f"median of {args.rounds} alternating rounds")
        print(f"{'sites':>6} {'instances':>10} {'events':>9} {'adjoint':>9} {'profiled':>9} "
              f"{'overhead':>9} {'analysis':>9} {'events/s':>10}")
        for n, inst, nev, toff, ton, tan in rows:
            print(f"{n:>6} {inst:>10} {nev:>9} {toff:>8.4f}s {ton:>8.4f}s {100 * (ton / toff - 1):>+8.1f}% "
                  f"{tan:>8.4f}s {nev / tan:>10.0f}")
        if len(rows) >= 2:       # a growth needs two sizes
            x = np.log([r[2] for r in rows])
            y = np.log([r[5] for r in rows])
            print(f"analysis time grows as events^{np.polyfit(x, y, 1)[0]:.2f}")


if __name__ == "__main__":
    main()
