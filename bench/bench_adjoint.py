"""Adjoint cost of a kernel: adjoint/primal ratio with every site checkpointed
and with every site inhibited, and the overhead of profiling.

All variants run alternately in the same job (the order reversed every other
round), at least 9 rounds. The profiling overhead is the per-round ratio
profiled / not profiled (each pair measured side by side), reported as the median
over the rounds with its spread (min, quartiles, max), so that it can be told from
the noise of a shared machine. Profiling records wall time only (the default); add
--cpu-clock to measure the cost of the thread CPU clock as well.

    mpiexec -n 2 python bench/bench_adjoint.py --kernel streamice --size medium
"""

import argparse
import statistics

import numpy as np
from mpi4py import MPI

from pyharness import runtime
from pyharness.config import Configuration, SiteTable
from pyharness.kernels import get_kernel


def timed(comm, fn):
    comm.Barrier()
    t0 = MPI.Wtime()
    out = fn()
    t = comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)   # the slowest rank's time
    return t, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default="streamice")
    ap.add_argument("--size", default="medium")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--cpu-clock", action="store_true", help="profile with the thread CPU clock too")
    args = ap.parse_args()
    if args.rounds < 9:
        ap.error("--rounds must be at least 9 (a median with a spread)")
    runtime.set_cpu_clock(args.cpu_clock)
    comm = MPI.COMM_WORLD
    k = get_kernel(args.kernel).create(comm, args.size)
    table = SiteTable.from_locations(runtime.locations())
    ctrl = k.control_default()
    active = Configuration().active_mask(table)
    inhibited = Configuration.from_indices(table, table.site_indices).active_mask(table)

    def adjoint(mask, prof):
        def f():
            runtime.set_active(mask)
            runtime.reset()
            runtime.enable_profiling(prof)
            out = k.adjoint(ctrl)
            runtime.enable_profiling(False)
            return runtime.stack_stats().peak
        return f

    variants = {
        "primal": lambda: k.primal(ctrl),
        "adjoint, all checkpointed": adjoint(active, False),
        "adjoint, all checkpointed, profiled": adjoint(active, True),
        "adjoint, all inhibited": adjoint(inhibited, False),
        "adjoint, all inhibited, profiled": adjoint(inhibited, True),
    }
    for f in variants.values():   # warm-up: page in the stack and the event buffer
        f()
    times = {name: [] for name in variants}
    peaks = {}
    for r in range(args.rounds):
        order = list(variants.items())
        for name, f in (order if r % 2 == 0 else order[::-1]):
            t, out = timed(comm, f)
            times[name].append(t)
            if name.startswith("adjoint"):
                peaks[name] = comm.allreduce(out, op=MPI.MAX)
    if comm.rank != 0:
        return
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"{args.kernel} {args.size} {k.params_dict()} on {comm.size} rank(s), "
          f"median of {args.rounds} alternating rounds (slowest rank)")
    for n in variants:
        extra = f"   peak {peaks[n] / 2**20:8.2f} MiB/rank" if n in peaks else ""
        print(f"  {n:<38} {med[n]:8.3f} s{extra}")
    p = med["primal"]
    a, i = med["adjoint, all checkpointed"], med["adjoint, all inhibited"]
    print(f"adjoint/primal, all checkpointed:  {a / p:6.2f}")
    print(f"adjoint/primal, all inhibited:     {i / p:6.2f}")
    print(f"all checkpointed / all inhibited:  {a / i:6.2f}")
    clock = "wall + thread CPU clock" if args.cpu_clock else "wall clock only"
    for base in ("adjoint, all checkpointed", "adjoint, all inhibited"):
        pr = 100 * (np.array(times[base + ", profiled"]) / np.array(times[base]) - 1)
        q1, q2, q3 = np.percentile(pr, [25, 50, 75])
        print(f"profiling overhead ({base[9:]}, {clock}): median {q2:+6.2f} %  "
              f"(spread over {len(pr)} rounds: min {pr.min():+.2f}, quartiles {q1:+.2f} .. {q3:+.2f}, "
              f"max {pr.max():+.2f} %)")


if __name__ == "__main__":
    main()
