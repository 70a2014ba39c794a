"""Adjoint cost of a kernel: adjoint/primal ratio with every site checkpointed
and with every site inhibited, and the overhead of profiling.

All variants run alternately in the same job (the order reversed every other
round), at least 9 rounds. The profiling overhead is the per-round ratio
profiled / not profiled (each pair measured side by side), reported as the median
over the rounds with its spread (min, quartiles, max), so that it can be told from
the noise of a shared machine, and as the ratio of the fastest runs (warm, fastest
of N each). The all-inhibited variant records one event per adjoint: its
"overhead" is the noise floor of the measurement. Profiling records wall time only (the default); add
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
from pyharness.units import human_time


def timed(comm, fn):
    """(slowest rank's wall s, largest rank's process CPU s, fn's result)."""
    comm.Barrier()
    c0 = runtime.clocks()[1]
    t0 = MPI.Wtime()
    out = fn()
    t = comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)
    c = comm.allreduce((runtime.clocks()[1] - c0) * 1e-9, op=MPI.MAX)
    return t, c, out


def recorder_cost(n: int = 1_000_000, reps: int = 5):
    """(ns by id, ns by name, ns with profiling off) per event, from the C recorder itself."""
    import ctypes
    from pyharness import _phapi
    lib = ctypes.CDLL(_phapi.__file__)
    out = [ctypes.c_double() for _ in range(3)]
    lib.ph_trace_bench(ctypes.c_int64(n), ctypes.c_int32(reps), *(ctypes.byref(o) for o in out))
    return tuple(o.value for o in out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="streamice", help="kernel (default streamice)")
    ap.add_argument("--size", default="medium", help="size (default medium)")
    ap.add_argument("--rounds", type=int, default=9,
                    help="alternating rounds of the five variants, at least 9 (default 9)")
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
            return runtime.stack_stats().peak, int(runtime.api().api_prof_nevents())
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
    cpus = {name: [] for name in variants}
    peaks, nevents = {}, {}
    for r in range(args.rounds):
        order = list(variants.items())
        for name, f in (order if r % 2 == 0 else order[::-1]):
            t, c, out = timed(comm, f)
            times[name].append(t)
            cpus[name].append(c)
            if name.startswith("adjoint"):
                peaks[name] = comm.allreduce(out[0], op=MPI.MAX)
                nevents[name] = comm.allreduce(out[1], op=MPI.MAX)
    ns_id, ns_named, ns_off = recorder_cost()
    if comm.rank != 0:
        return
    print(f"recorder, ns per event (best of 5 x 10^6, this rank): by site id {ns_id:.1f}, "
          f"by name (Tapenade's callback, resolved once per call site) {ns_named:.1f}, "
          f"profiling off {ns_off:.1f}")
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"{args.kernel} {args.size} {k.params_dict()} on {comm.size} rank(s), "
          f"median of {args.rounds} alternating rounds (slowest rank)")
    for n in variants:
        extra = f"   peak {peaks[n] / 2**20:8.2f} MiB/rank" if n in peaks else ""
        print(f"  {n:<38} {human_time(med[n]):>12}{extra}")
    p = med["primal"]
    a, i = med["adjoint, all checkpointed"], med["adjoint, all inhibited"]
    print(f"adjoint/primal, all checkpointed:  {a / p:6.2f}")
    print(f"adjoint/primal, all inhibited:     {i / p:6.2f}")
    print(f"all checkpointed / all inhibited:  {a / i:6.2f}")
    clock = "wall + thread CPU clock" if args.cpu_clock else "wall clock only"
    for base in ("adjoint, all checkpointed", "adjoint, all inhibited"):
        for what, tt in (("wall", times), ("process CPU", cpus)):
            pr = 100 * (np.array(tt[base + ", profiled"]) / np.array(tt[base]) - 1)
            q1, q2, q3 = np.percentile(pr, [25, 50, 75])
            fastest = 100 * (min(tt[base + ", profiled"]) / min(tt[base]) - 1)
            print(f"profiling overhead ({base[9:]}, {clock}), {what} time: median {q2:+6.2f} %  "
                  f"(spread over {len(pr)} paired rounds: min {pr.min():+.2f}, quartiles {q1:+.2f} .. "
                  f"{q3:+.2f}, max {pr.max():+.2f} %); fastest of {len(pr)} against fastest: "
                  f"{fastest:+.2f} %")
        ev = nevents[base + ", profiled"]
        print(f"  {ev} events per rank x {ns_id:.1f} ns = {ev * ns_id * 1e-6:.2f} ms recording: "
              f"{100 * ev * ns_id * 1e-9 / med[base]:+.3f} % of the unprofiled median")


if __name__ == "__main__":
    main()
