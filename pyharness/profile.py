"""Run the adjoint with profiling on all ranks and write one HDF5 profile.

Usage::

    mpiexec -n 2 python -m pyharness.profile --kernel streamice \
        [--nocheckpoint SITE,...] [--config FILE] --out profile.h5

The file layout is documented in docs/FORMAT.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import runtime
from .binomial import binomial_adjoint
from .cli_common import add_config_args, add_kernel_args, config_from_args, setup_kernel
from .config import Configuration, SiteTable
from .durable import OutputLock, remove_stale_tmp
from .errors import StackLimitError, UsageError
from .h5io import atomic_h5, check_writable, str_array
from .faults import stop_at
from .mpiutil import collective, pickled_size, run_cli
from .units import human_bytes, human_time, parse_size

__all__ = ["RunSummary", "WriteStats", "run_adjoint", "write_profile", "write_profile_h5", "main"]

EVENT_FIELDS = ("kind", "loc", "wall_ns", "cpu_ns", "stack")
# written when the events carry it (every run since trace format 2; absent in older
# profiles and in profiles ingested from version-1 traces)
CTL_FIELD = "ctl_bits"


def stack_limit_advice(kernel, table: SiteTable, config: Configuration) -> str:
    """What can make a run that went over the AD stack limit fit, under ``config``.

    With sites inhibited, checkpointing some of them again lowers the stack; with every
    site already checkpointed it cannot, and saying so keeps the user from looking for
    checkpoints to activate: a higher limit, the time loop's snapshots, or inhibiting
    the sites whose inhibition lowers the peak (analyze's lowers-peak group) remain.
    """
    limit = "raise the limit (--limit SIZE; PYHARNESS_LIMIT for jobs/profile.sbatch)"
    n_inhibited = len(config.indices(table))
    if n_inhibited:
        return (f"{n_inhibited} of {len(table.site_indices)} checkpoint sites are inhibited: "
                f"activate more checkpoints, or {limit}")
    if config.snapshots > 1:
        loop = (f", hold fewer time-loop snapshots (--snapshots below {config.snapshots}: each "
                "one held is a state on the stack)")
    elif config.snapshots == 0 and getattr(kernel, "supports_time_stepping", False):
        loop = ", checkpoint the time loop binomially (--snapshots K)"
    else:
        loop = ""
    return (f"every checkpoint site is already active, so activating checkpoints cannot help: "
            f"{limit}{loop}, or inhibit sites whose inhibition lowers the peak (the lowers-peak "
            "group of python -m pyharness.analyze on a profile run without the limit)")


@dataclass(frozen=True)
class RunSummary:
    """Figures of one adjoint run, per rank (arrays indexed by rank, on every rank)."""

    wall_s: np.ndarray
    cpu_s: np.ndarray
    peak_bytes: np.ndarray
    pushed_bytes: np.ndarray
    popped_bytes: np.ndarray
    nevents: np.ndarray
    cost: float
    grad_norm: float
    grad_digest: str = ""     # SHA-1 of every rank's gradient bytes, in rank order
    # the profiler's own cost per rank, measured in the run (NaN: not measured)
    event_cost_ns: np.ndarray | None = None      # one recorded event, callback included
    callback_cost_ns: np.ndarray | None = None   # one callback with recording off

    @property
    def wall(self) -> float:
        """Run time of the slowest rank."""
        return float(self.wall_s.max())

    @property
    def peak(self) -> int:
        """Largest per-rank peak stack."""
        return int(self.peak_bytes.max())


def run_adjoint(comm, kernel, table: SiteTable, config: Configuration, *,
                profiling: bool = True, stack_limit: int = 0, ctrl=None,
                repeat: int = 1):
    """Run the adjoint under ``config`` on every rank of ``comm``.

    Returns ``(summary, events, grad)``: the per-rank summary (replicated), this
    rank's events and gradient. With ``repeat > 1`` the run is repeated and the
    fastest repetition (slowest rank's wall time) is kept. Errors (a stack limit
    reached on one rank, ...) are raised on every rank.
    """
    with collective(comm, "configuring the kernel"):
        runtime.set_active(config.active_mask(table))
        runtime.set_stack_limit(stack_limit)
    if ctrl is None:
        ctrl = kernel.control_default()
    ecost = np.array([np.nan, np.nan])
    if profiling:
        # what one event costs on this rank, through the kernel's own recording path;
        # pyharness.model takes it out of its predictions
        with collective(comm, "measuring the profiler's cost per event"):
            probe = kernel.event_probe
            if probe is None:
                sites = table.site_indices
                probe = (0, (sites[0] if sites else 0) + 1)
            c = runtime.calibrate_events(*probe)
            ecost = np.array([c.recorded_ns, c.callback_ns])
    ecosts = np.array(comm.allgather(ecost))
    best = None
    for _ in range(max(1, repeat)):
        with collective(comm, "the adjoint run"):
            runtime.reset()
            runtime.enable_profiling(profiling)
            comm.Barrier()
            w0, c0 = runtime.clocks()
            try:
                if config.snapshots:
                    cost, grad, _ = binomial_adjoint(kernel, ctrl, config.snapshots)
                else:
                    cost, grad = kernel.adjoint(ctrl)
            except StackLimitError as exc:
                raise exc.with_advice(stack_limit_advice(kernel, table, config)) from None
            finally:
                w1, c1 = runtime.clocks()
                runtime.enable_profiling(False)
                runtime.set_stack_limit(0)
            stats = runtime.stack_stats()
            ev = runtime.events() if profiling else None
        local = np.array([(w1 - w0) * 1e-9, (c1 - c0) * 1e-9, stats.peak, stats.pushed,
                          stats.popped, 0 if ev is None else len(ev)], dtype=np.float64)
        allv = np.array(comm.allgather(local))
        gn = float(np.sqrt(comm.allreduce(float(np.dot(grad, grad)))))
        digests = comm.allgather(hashlib.sha1(np.ascontiguousarray(grad).tobytes()).hexdigest())
        digest = hashlib.sha1("".join(digests).encode()).hexdigest()
        summary = RunSummary(allv[:, 0], allv[:, 1], allv[:, 2].astype(np.int64),
                             allv[:, 3].astype(np.int64), allv[:, 4].astype(np.int64),
                             allv[:, 5].astype(np.int64), float(cost), gn, digest,
                             ecosts[:, 0].copy(), ecosts[:, 1].copy())
        if best is None or summary.wall < best[0].wall:
            best = (summary, ev, grad)
    return best


@dataclass(frozen=True)
class WriteStats:
    """What writing a profile cost this rank (pyharness' own traffic, for bench/bench_ranks.py)."""

    sent_bytes: int          # bytes this rank sent to rank 0 (its reduction, O(sites))
    event_bytes: int         # bytes of this rank's raw events (written by it or its group's first rank)
    reduce_s: float          # time to merge its events and build its part of the model
    write_events_s: float    # time to write its event file (a group's first rank: the group's
                             # file; the others: until their events were received)
    gather_s: float          # time of the gather of reductions
    write_profile_s: float   # rank 0: time to write profile.h5 (0 elsewhere)


def write_profile(path, comm, kernel, table: SiteTable, config: Configuration,
                  summary: RunSummary, events, command: str = "", profiling: bool = True,
                  event_files=None) -> WriteStats:
    """Write profile.h5 atomically; every rank reduces its own events.

    The raw events go beside the profile: by default each node's ranks send them
    to the node's first rank, which writes one file for the node,
    ``PATH.events/group_NNNNN.RUN.h5`` (RUN: the run's tag, :func:`pyharness.reduction.group_file`); ``event_files`` (``"node"``, ``"rank"``: each
    rank its own ``PATH.events/rank_NNNNN.RUN.h5``, or G ranks per file; default
    ``$PYHARNESS_EVENT_FILES``, else node) chooses
    (:func:`pyharness.reduction.write_event_files`). Each rank merges its events
    itself (per site, per callee, and its part of the cost model) while they are
    written; only those per-site and per-node figures travel to rank 0, which
    writes the profile with ``/events`` as virtual datasets over the event files
    (one ``/events/rank_NNNNN`` per rank, whatever the files) and the figures in
    ``/reduced`` (pyharness/reduction.py, docs/FORMAT.md).
    """
    import time
    import uuid

    from .reduction import (RankReduction, gather_reductions, parse_event_files, reduce_events,
                            remove_stale_rank_files, write_event_files)
    if events is None:
        arrays = {k: np.zeros(0, dtype=dt) for k, dt in zip(
            EVENT_FIELDS + (CTL_FIELD,), (np.int8, np.int32, np.int64, np.int64, np.int64, np.int64))}
    else:
        arrays = {"kind": events.kind, "loc": events.loc, "wall_ns": events.wall_ns,
                  "cpu_ns": events.cpu_ns, "stack": events.stack}
        if getattr(events, CTL_FIELD, None) is not None:
            arrays[CTL_FIELD] = events.ctl_bits
    n = len(arrays["kind"])
    with collective(comm, "checking how the event files are grouped"):
        spec = parse_event_files(event_files)
    run_id = comm.bcast(uuid.uuid4().hex if comm.rank == 0 else None, root=0)
    t0 = time.perf_counter()
    t_wait = 0.0
    with collective(comm, f"writing and reducing the events of {path}"):
        # a group's first rank writes the group's file; the others' events are sent
        # to it while they reduce them
        source, pending = write_event_files(comm, path, arrays, run_id, spec)
        t1 = time.perf_counter()
        try:
            locs = runtime.locations()
            red = (reduce_events(arrays, locs, comm.rank, cpu_clock=runtime.cpu_clock()) if n
                   else RankReduction(comm.rank, 0, len(locs)))
        finally:
            tw = time.perf_counter()
            pending.wait()
            t_wait = time.perf_counter() - tw
    t2 = time.perf_counter()
    reds, sent = gather_reductions(comm, red)
    mine = (n, CTL_FIELD in arrays, source)
    counts = comm.gather(mine, root=0)
    t3 = time.perf_counter()
    del red
    with collective(comm, f"writing {path}"):
        if comm.rank == 0:
            site_table = SiteTable.from_locations(locs)
            inhibited = np.zeros(len(locs), dtype=bool)
            for i in config.indices(site_table):
                inhibited[i] = True
            write_profile_h5(path, kernel=kernel.name, params=kernel.params_dict(), nranks=comm.size,
                             command=command, profiling=profiling, cpu_clock=runtime.cpu_clock(),
                             locations=locs, inhibited=inhibited, snapshots=config.snapshots,
                             summary=summary, event_counts=[c[0] for c in counts],
                             event_ctl=[c[1] for c in counts], run_id=run_id,
                             event_sources=[c[2] for c in counts],
                             reductions=reds if sum(c[0] for c in counts) else None)
            remove_stale_rank_files(path, {c[2][0] for c in counts if c[2][0]})
    t4 = time.perf_counter()
    ebytes = sum(a.nbytes for a in arrays.values())
    # what this rank sent to rank 0: its reduction, and its event count and file pickled
    return WriteStats(sent + pickled_size(mine), ebytes if n else 0, t2 - t1 - t_wait, (t1 - t0) + t_wait,
                      t3 - t2, t4 - t3)


def write_profile_h5(path, *, kernel: str, params: dict, nranks: int, command: str,
                     profiling: bool, cpu_clock: bool, locations, inhibited, snapshots: int,
                     summary: RunSummary, events=None, event_counts=None, event_ctl=None,
                     run_id: str = "", reductions=None, event_sources=None,
                     extra_attrs=None) -> None:
    """Write one profile.h5 atomically (docs/FORMAT.md): the one writer of profiles.

    Used by :func:`write_profile` (built-in kernels, every rank's events in its
    own file) and by :mod:`pyharness.ingest` (per-rank trace files).

    Parameters
    ----------
    locations : sequence of :class:`~pyharness.runtime.Location`
    inhibited : bool[nloc]   sites inhibited in the run
    events : iterable of mappings (one per rank, in rank order) with the arrays
        ``kind``, ``loc``, ``wall_ns``, ``cpu_ns``, ``stack`` and, when known,
        ``ctl_bits``, stored inside the file (the layout before per-rank files;
        consumed one rank at a time)
    event_counts : events per rank already written by
        :func:`pyharness.reduction.write_event_files` beside ``path`` (with ``run_id``):
        ``/events`` becomes virtual datasets over those files. Give this or ``events``.
    event_ctl : per rank, whether its file holds ``ctl_bits`` (default: none does)
    event_sources : per rank, ``(file, group)`` of its events in ``PATH.events``
        (:func:`pyharness.reduction.write_event_files`; default: ``rank_NNNNN.h5``)
    reductions : the ranks' :class:`~pyharness.reduction.RankReduction`, in rank
        order, stored as ``/reduced`` (None: readers merge the events themselves)
    extra_attrs : more root attributes (ingest: ``trace_origin``)
    """
    from pathlib import Path

    from .reduction import write_events_vds, write_reduced
    locs = list(locations)
    attrs = {"kernel": kernel, "params": json.dumps(params), "nranks": int(nranks),
             "command": command, "profiling": bool(profiling), "cpu_clock": bool(cpu_clock),
             **(extra_attrs or {})}
    with atomic_h5(path, "profile", attrs) as f:
        g = f.create_group("locations")
        g["name"] = str_array(l.name for l in locs)
        g["callee"] = str_array(l.callee for l in locs)
        g["file"] = str_array(l.file for l in locs)
        g["line"] = np.array([l.line for l in locs], dtype=np.int32)
        g["is_site"] = np.array([l.is_site for l in locs], dtype=bool)
        c = f.create_group("config")
        c["inhibited"] = np.asarray(inhibited, dtype=bool)
        c.attrs["snapshots"] = int(snapshots)
        s = f.create_group("summary")
        s["wall_s"] = summary.wall_s
        s["cpu_s"] = summary.cpu_s
        s["peak_bytes"] = summary.peak_bytes
        s["pushed_bytes"] = summary.pushed_bytes
        s["popped_bytes"] = summary.popped_bytes
        s["nevents"] = summary.nevents
        if profiling and summary.event_cost_ns is not None:
            s["event_cost_ns"] = np.asarray(summary.event_cost_ns, dtype=np.float64)
            s["callback_cost_ns"] = np.asarray(summary.callback_cost_ns, dtype=np.float64)
        r = f.create_group("result")
        r["cost"] = summary.cost
        r["grad_norm"] = summary.grad_norm
        r.attrs["grad_sha1"] = summary.grad_digest
        if event_counts is not None:
            write_events_vds(f, Path(path).name, event_counts, run_id, event_ctl, event_sources)
        else:
            e = f.create_group("events")
            for rank, d in enumerate(events):
                gr = e.create_group(f"rank_{rank:05d}")
                for k in EVENT_FIELDS + ((CTL_FIELD,) if d.get(CTL_FIELD) is not None else ()):
                    gr.create_dataset(k, data=d[k], compression="gzip" if len(d[k]) > 4096 else None,
                                      shuffle=len(d[k]) > 4096)
        if reductions is not None:
            write_reduced(f, reductions, nranks, len(locs))


def format_summary(path, kernel, comm_size: int, config: Configuration, table: SiteTable,
                   summary: RunSummary) -> str:
    ninh = len(config.indices(table))
    nsites = len(table.site_indices)
    w = summary.wall_s
    lines = [
        f"{kernel.name} {kernel.params_dict()} on {comm_size} rank(s); "
        f"{nsites - ninh} of {nsites} sites checkpointed",
        f"  adjoint wall   {human_time(w.max())} slowest rank (min {human_time(w.min())}, "
        f"mean {human_time(w.mean())})",
        f"  adjoint CPU    {human_time(summary.cpu_s.max())} max over ranks",
        f"  peak stack     {human_bytes(summary.peak)} max over ranks "
        f"(min {human_bytes(summary.peak_bytes.min())})",
        f"  stack traffic  {human_bytes(summary.pushed_bytes.sum())} pushed in all",
        f"  events         {int(summary.nevents.sum())} in all",
        f"  cost           {summary.cost:.15e}   |gradient| {summary.grad_norm:.15e}",
    ]
    if path:
        lines.append(f"  profile written to {path}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pyharness.profile", description=__doc__.split("\n")[0])
    add_kernel_args(ap)
    add_config_args(ap)
    ap.add_argument("--out", default="profile.h5", help="profile file to write (default: profile.h5)")
    ap.add_argument("--no-profiling", action="store_true",
                    help="run with the profiling callbacks switched off (no events recorded)")
    ap.add_argument("--limit", default=None, metavar="SIZE",
                    help="per-rank hard limit of the AD stack, e.g. 256MiB; the run fails cleanly above it")
    ap.add_argument("--cpu-clock", action="store_true",
                    help="also read the thread CPU clock at every event (a system call each; off by "
                         "default, or PYHARNESS_PROFILE_CPU=1): per-site CPU-time gains")
    ap.add_argument("--repeat", type=int, default=1, help="run N times, keep the fastest (default 1)")
    ap.add_argument("--event-files", default=None, metavar="node|rank|G",
                    help="how the raw events are filed beside the profile: one file per node (the "
                         "default, or $PYHARNESS_EVENT_FILES), per rank, or per G consecutive ranks")
    return ap


def main(argv=None) -> int:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    args = build_parser().parse_args(argv)
    with collective(comm, "checking the arguments"):
        limit = parse_size(args.limit, "stack limit") if args.limit is not None else 0
        if args.repeat < 1:
            raise UsageError("--repeat must be at least 1")
        if args.cpu_clock and args.no_profiling:
            # was ignored: no event, so no per-site CPU-time gain, whatever the flag said
            raise UsageError("--cpu-clock reads the CPU clock at every event, and --no-profiling records "
                             "none: drop one of them (the run's own CPU time is measured either way)")
        from .reduction import parse_event_files
        parse_event_files(args.event_files)
    with collective(comm, "checking the output path"):
        if comm.rank == 0:
            check_writable(args.out)
            # one writer per --out (named when refused); a killed writer's temporary file goes
            lock = OutputLock(args.out, "profile").acquire()
            remove_stale_tmp(Path(args.out).parent, names={Path(args.out).name})
            from .reduction import events_dir    # and the event files of a killed profile
            remove_stale_tmp(events_dir(args.out))
    stop_at("profile-started")
    with collective(comm, "setting up the kernel"):
        kernel, table = setup_kernel(comm, args)
        config = config_from_args(args, table)
    if args.cpu_clock:
        runtime.set_cpu_clock(True)
    summary, events, _ = run_adjoint(comm, kernel, table, config, profiling=not args.no_profiling,
                                     stack_limit=limit, repeat=args.repeat)
    command = " ".join(shlex.quote(a) for a in ["python", "-m", "pyharness.profile"] + (argv if argv is not None else sys.argv[1:]))
    write_profile(args.out, comm, kernel, table, config, summary, events, command,
                  profiling=not args.no_profiling, event_files=args.event_files)
    if comm.rank == 0:
        print(format_summary(args.out, kernel, comm.size, config, table, summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.profile", main))
