"""Turn the per-rank trace files of a program profiled without Python into profile.h5.

A Tapenade adjoint linked against the pyharness runtime, run with
``PYHARNESS_PROFILE=DIR``, writes one ``DIR/pyharness.NNNNN.phtrace`` per rank
(docs/FORMAT.md). This joins them into the same ``profile.h5`` that
``python -m pyharness.profile`` writes for the built-in kernels (kernel
``external``), so that analyze, report and the model read it unchanged::

    PYHARNESS_PROFILE=traces mpiexec -n 4 ./my_adjoint
    python -m pyharness.ingest traces --out profile.h5
    python -m pyharness.analyze profile.h5

Bad input fails with a message that says what to do: an empty or missing
directory, a truncated trace, traces of different programs or runs, missing ranks.

Example
-------
>>> t = read_trace("traces/pyharness.00000.phtrace")          # doctest: +SKIP
>>> t.rank, t.nranks, len(t.kind)                             # doctest: +SKIP
(0, 2, 1234)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import shlex
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UsageError
from .units import rank_list

__all__ = ["Trace", "TraceFileError", "read_trace", "read_traces", "ingest", "main"]

MAGIC = b"PHTRACE\0"
END = b"PHTREND\0"
VERSION = 2       # 2: control bits on the stack per event; version 1 is still read
_HEAD = struct.Struct("<8siiiiqqqqqqqqqqdd")   # 120 bytes, docs/FORMAT.md
_NAME = re.compile(r"^pyharness\.(\d+)\.phtrace$")


class TraceFileError(UsageError):
    """A trace file or directory that cannot be ingested (the message says why and what to do)."""


@dataclass(frozen=True, eq=False)
class Trace:
    """One rank's trace file (docs/FORMAT.md, "Trace files")."""

    path: str
    rank: int
    nranks: int
    cpu_clock: bool
    lost_events: bool
    wall_ns: int
    cpu_ns: int
    peak: int
    pushed: int
    popped: int
    current: int
    start_unix_ns: int
    pid: int
    event_cost_ns: float      # recorder's cost per event, measured at start-up (NaN: not)
    callback_cost_ns: float   # per callback with recording off
    program: str
    argv: tuple[str, ...]
    run_id: str
    host: str
    callee: tuple[str, ...]
    file: tuple[str, ...]
    line: tuple[int, ...]
    is_site: tuple[bool, ...]
    active: tuple[bool, ...]
    kind: np.ndarray
    loc: np.ndarray
    wall: np.ndarray
    cpu: np.ndarray
    stack: np.ndarray
    ctl_bits: np.ndarray | None   # control bits on the stack per event (None: version-1 trace)
    nevents: int = -1         # events in the file (the arrays are empty when read without them)

    @property
    def command(self) -> str:
        return " ".join(shlex.quote(a) for a in self.argv)


def read_trace(path, events: bool = True) -> Trace:
    """Read one trace file; :class:`TraceFileError` if it is not one or is truncated.

    With ``events=False`` the event arrays are checked but not kept (empty):
    the header, the location table and ``nevents`` only."""
    p = Path(path)
    data = p.read_bytes()
    if len(data) < 8 or data[:8] != MAGIC:
        raise TraceFileError(f"'{p}' is not a pyharness trace (it does not start with PHTRACE)")
    if len(data) < _HEAD.size:
        raise TraceFileError(f"'{p}' is truncated ({len(data)} bytes, not even a header): "
                             "the program was killed while writing it? run it again")
    (_, version, flags, rank, nranks, nloc, nev, wall, cpu, peak, pushed, popped, cur, unix0,
     pid, event_ns, callback_ns) = _HEAD.unpack_from(data, 0)
    if version > VERSION:
        raise TraceFileError(f"'{p}' has trace format {version}, newer than this pyharness "
                             f"({VERSION}): upgrade pyharness")
    per_event = 29 if version < 2 else 37
    need = _HEAD.size + nev * per_event + 16
    if len(data) < 16 or data[-16:-8] != END or struct.unpack_from("<q", data, len(data) - 8)[0] != len(data) \
            or len(data) < need:
        raise TraceFileError(f"'{p}' is truncated or damaged ({len(data)} bytes; its header announces "
                             f"{nev} events, at least {need} bytes, and the end marker is missing): "
                             "run the program again")
    pos = _HEAD.size

    def string() -> str:
        nonlocal pos
        (n,) = struct.unpack_from("<i", data, pos)
        if n < 0 or pos + 4 + n > len(data):
            raise TraceFileError(f"'{p}' is damaged (a string at byte {pos} runs past the end)")
        s = data[pos + 4:pos + 4 + n].decode("utf-8", "replace")
        pos += 4 + n
        return s

    try:
        program = string()
        argv = tuple(a for a in string().split("\0"))
        run_id = string()
        host = string()
        callee, file, line, is_site, active = [], [], [], [], []
        for _ in range(nloc):
            ln, lf = struct.unpack_from("<ii", data, pos)
            pos += 8
            callee.append(string())
            file.append(string())
            line.append(ln)
            is_site.append(bool(lf & 1))
            active.append(not lf & 2)
    except struct.error:
        raise TraceFileError(f"'{p}' is damaged: its location table runs past the end") from None
    if pos + nev * per_event + 16 != len(data):
        raise TraceFileError(f"'{p}' is damaged: {len(data)} bytes where the header and the "
                             f"location table announce {pos + nev * per_event + 16}")

    def arr(dtype, size):
        nonlocal pos
        a = np.frombuffer(data, dtype=dtype, count=nev, offset=pos).copy()
        pos += nev * size
        return a

    kind, loc = arr("<i1", 1), arr("<i4", 4)
    if nev and (loc.min() < -1 or loc.max() >= nloc):
        raise TraceFileError(f"'{p}' is damaged: an event names location {int(loc.max())} of {nloc}")
    if not events:
        kind, loc = kind[:0], loc[:0]
        wall_a = cpu_a = stack = np.zeros(0, dtype=np.int64)
        ctl = np.zeros(0, dtype=np.int64) if version >= 2 else None
    else:
        wall_a, cpu_a, stack = arr("<i8", 8), arr("<i8", 8), arr("<i8", 8)
        ctl = arr("<i8", 8) if version >= 2 else None
    del data
    return Trace(str(p), rank, nranks, bool(flags & 1), bool(flags & 2), wall, cpu, peak, pushed,
                 popped, cur, unix0, pid, event_ns if event_ns >= 0 else float("nan"),
                 callback_ns if callback_ns >= 0 else float("nan"), program, argv, run_id, host, tuple(callee), tuple(file),
                 tuple(line), tuple(is_site), tuple(active), kind, loc, wall_a, cpu_a, stack, ctl, nev)


def _trace_files(directory: Path) -> list[Path]:
    if not directory.exists():
        raise TraceFileError(f"trace directory '{directory}' does not exist: run the program with "
                             f"PYHARNESS_PROFILE={directory} first")
    if not directory.is_dir():
        raise TraceFileError(f"'{directory}' is not a directory: give the directory that "
                             "PYHARNESS_PROFILE named")
    files = sorted(f for f in directory.iterdir() if _NAME.match(f.name))
    if not files:
        raise TraceFileError(f"no trace files (pyharness.NNNNN.phtrace) in '{directory}': run the "
                             f"program with PYHARNESS_PROFILE={directory}, linked against the pyharness "
                             "runtime; traces are written at adprofileadj_showprofiles(file) and at exit")
    return files


def read_traces(directory, events: bool = True) -> list[Trace]:
    """Every rank's trace in ``directory``, in rank order, checked to be one complete run.

    With ``events=False`` only headers and location tables are kept (one file
    in memory at a time): what :func:`ingest` needs before it streams the events."""
    d = Path(directory)
    traces = [read_trace(f, events) for f in _trace_files(d)]
    for t in traces:
        m = _NAME.match(Path(t.path).name)
        if int(m.group(1)) != t.rank:
            raise TraceFileError(f"'{t.path}' holds rank {t.rank} (renamed?): keep the names the "
                                 "runtime gave")
    programs = sorted({t.program for t in traces})
    if len(programs) > 1:
        detail = "; ".join(f"rank {t.rank}: {t.program}" for t in traces[:8])
        raise TraceFileError(f"the traces in '{d}' come from different programs ({detail}): "
                             "give each run its own PYHARNESS_PROFILE directory")
    runs = sorted({t.run_id for t in traces})
    sizes = sorted({t.nranks for t in traces})
    if len(runs) > 1 or len(sizes) > 1:
        detail = "; ".join(f"rank {t.rank}: {t.nranks} rank(s), {t.run_id or 'no launcher id'}"
                           for t in traces[:8])
        raise TraceFileError(f"the traces in '{d}' come from different runs of {programs[0]} "
                             f"({detail}): empty the directory, or give each run its own, and run again")
    n = sizes[0]
    have = {t.rank for t in traces}
    missing = [r for r in range(n) if r not in have]
    if missing:
        shown = rank_list(missing)
        raise TraceFileError(f"'{d}' has traces of {len(have)} of {n} ranks; missing rank(s) {shown}: "
                             "did those ranks fail or not reach the end? run again")
    extra = sorted(r for r in have if r >= n)
    if extra:
        raise TraceFileError(f"'{d}' has traces of ranks {rank_list(extra)} of a {n}-rank run")
    lost = [t.rank for t in traces if t.lost_events]
    if lost:
        raise TraceFileError(f"rank(s) {rank_list(lost)} ran out of memory for events: the traces "
                             "are incomplete")
    return sorted(traces, key=lambda t: t.rank)


def ingest(directory, out, *, command: str = "", keep_events: bool = True,
           event_files=None, inhibited_sites=(), comm=None) -> list[Trace] | None:
    """Join the per-rank traces of ``directory`` into ``out`` (a profile.h5, docs/FORMAT.md).

    The traces are read twice, one at a time: first their headers and location
    tables (to build the one location table), then each rank's events, which go
    to the event files beside ``out`` and are reduced (merge and model part,
    pyharness/reduction.py) before the next rank is read; ``out`` joins the
    event files with virtual datasets and stores the reductions in ``/reduced``.
    Memory: one rank's events plus sites x ranks figures.

    ``event_files`` (:func:`pyharness.reduction.parse_event_files`): ``"node"``
    (default): the ranks of one host (the traces' host name) share one file,
    ``out.events/group_FFFFF.RUN.h5`` (F: its first rank; RUN: the run's tag); ``G``: G consecutive ranks
    per file; ``"rank"``: ``out.events/rank_NNNNN.RUN.h5`` per rank.

    ``inhibited_sites``: names (``callee@file:line``) of the sites the program was built
    with inhibited. A Tapenade adjoint built with ``-nocheckpoint`` makes no profiling
    call for them, so its traces do not show them: they are added to the profile's
    sites as inhibited, and the profile then says which configuration ran (what
    ``--calibrate`` reads). A named site whose checkpoint the traces show active is an
    error.

    ``comm`` (an MPI communicator of P processes, ``ingest`` under ``mpiexec -n P``):
    the groups of ranks (event files) are shared out among the processes, each
    writing its groups' files and reducing their ranks' events; the reductions
    (O(sites) each) go to process 0, which writes ``out``. One process reduces every
    rank in turn (0.2-0.6 s per rank of 15-60k events): hours at thousands of ranks.

    Returns the traces read (rank order); with ``keep_events=False`` (always with
    ``comm``) without their event arrays (``nevents`` says how many there were);
    None on every process of ``comm`` but 0."""
    import uuid

    from .analysis.profiles import Locations
    from .profile import RunSummary, write_profile_h5
    from .mpiutil import collective
    from .reduction import parse_event_files, remove_stale_rank_files
    from .runtime import Location
    size = comm.size if comm is not None else 1
    me = comm.rank if comm is not None else 0
    together = ((lambda what: collective(comm, what)) if size > 1 else
                (lambda what: contextlib.nullcontext()))
    def locations(heads):
        # one location table for all ranks (each rank numbers locations as it first met them)
        index: dict[tuple, int] = {}
        locs: list[Location] = []
        inhibited: list[bool] = []
        maps = []
        for t in heads:
            m = np.empty(len(t.callee) + 1, dtype=np.int32)
            m[-1] = -1
            for i, key in enumerate(zip(t.callee, t.file, t.line, t.is_site)):
                if key not in index:
                    index[key] = len(locs)
                    locs.append(Location(len(locs), *key))
                    inhibited.append(bool(key[3]) and not t.active[i])
                m[i] = index[key]
            maps.append(m)
        for name in inhibited_sites:
            callee, _, where = str(name).partition("@")
            file, _, line = where.rpartition(":")
            if not (callee and file and line.isdigit()):
                raise UsageError(f"inhibited site '{name}' is not a site name (callee@file:line)")
            key = (callee, file, int(line), True)
            if key not in index:            # built without its checkpoint: absent from the traces
                index[key] = len(locs)
                locs.append(Location(len(locs), *key))
                inhibited.append(True)
            elif not inhibited[index[key]]:
                raise TraceFileError(f"site {name} is said to be inhibited, but the traces show its "
                                     "checkpoint active: was the program built with that -nocheckpoint list?")
        names = [l.name for l in locs]
        dup = {x for x in names if names.count(x) > 1}
        if dup:
            raise TraceFileError(f"a site and a routine share the name(s) {sorted(dup)[:5]}")
        return locs, inhibited, maps

    if size == 1:
        heads = read_traces(directory, events=False)
        locs, inhibited, maps = locations(heads)
    else:
        # rank 0 reads the headers and makes the location table; the other processes get
        # the table, each rank's location map and the headers without their location
        # tables (O(locations) each: every process would hold every rank's); a bad
        # directory is the same error on every process
        got = None
        if me == 0:
            try:
                heads = read_traces(directory, events=False)
                got = (*locations(heads), [dataclasses.replace(
                    h, callee=(), file=(), line=(), is_site=(), active=(), argv=()) for h in heads])
            except (UsageError, OSError) as exc:
                got = exc
        got = comm.bcast(got, root=0)
        if isinstance(got, BaseException):
            raise got
        locs, inhibited, maps, light = got
        if me != 0:
            heads = light
        keep_events = False
    table = Locations.from_records(locs)
    run_id = uuid.uuid4().hex if me == 0 else None
    if size > 1:
        run_id = comm.bcast(run_id, root=0)
    spec = parse_event_files(event_files)
    # the groups of ranks that share a file, one file written at a time
    groups: dict = {}
    for i, h in enumerate(heads):
        key = h.host if spec == "node" else h.rank // spec
        groups.setdefault(key, []).append(i)
    nr = len(heads)
    kept: list = [None] * nr
    reductions: list = [None] * nr
    counts: list[int] = [0] * nr
    ctl: list[bool] = [False] * nr
    sources: list = [("", "")] * nr
    cpu_clock = all(x.cpu_clock for x in heads)
    # the event files by group of ranks (a file is written by one process), the
    # reductions by rank: a node's file holds many ranks, whose reductions (the costly
    # part) the processes share
    mine = [members for g, members in enumerate(groups.values()) if g % size == me]
    to_reduce = range(me, nr, size)
    with together("ingesting the traces' events"):
        _ingest_groups(mine, to_reduce, out, spec, run_id, heads, maps, table, cpu_clock,
                       keep_events, kept, reductions, counts, ctl, sources)
    if size > 1:
        from .reduction import pack_reduction, unpack_reduction
        done = ([(i, None if reductions[i] is None else pack_reduction(reductions[i]), counts[i],
                  ctl[i]) for i in to_reduce],
                [(i, sources[i]) for members in mine for i in members])
        parts = comm.gather(done, root=0)
        if me != 0:
            return None
        for reds, srcs in parts:
            for i, red, cnt, c in reds:
                reductions[i] = None if red is None else unpack_reduction(red)
                counts[i], ctl[i] = cnt, c
                kept[i] = heads[i]
            for i, src in srcs:
                sources[i] = src
    traces = kept
    f64 = lambda v: np.array(v, dtype=np.float64)
    i64 = lambda v: np.array(v, dtype=np.int64)
    summary = RunSummary(f64([t.wall_ns * 1e-9 for t in traces]), f64([t.cpu_ns * 1e-9 for t in traces]),
                         i64([t.peak for t in traces]), i64([t.pushed for t in traces]),
                         i64([t.popped for t in traces]), i64(counts),
                         float("nan"), float("nan"), "",
                         f64([t.event_cost_ns for t in traces]), f64([t.callback_cost_ns for t in traces]))
    t0 = traces[0]
    # params name the job (what --calibrate requires to be the same of a profile and a run);
    # where these traces came from differs from run to run and is kept apart
    params = {"program": t0.program}
    origin = {"traces": str(Path(directory).resolve()), "host": t0.host, "run_id": t0.run_id}
    write_profile_h5(out, kernel="external", params=params, extra_attrs={"trace_origin": json.dumps(origin)},
                     nranks=len(traces),
                     command=command or t0.command, profiling=True,
                     cpu_clock=all(t.cpu_clock for t in traces), locations=locs,
                     inhibited=np.array(inhibited, dtype=bool), snapshots=0, summary=summary,
                     event_counts=counts, event_ctl=ctl, run_id=run_id, event_sources=sources,
                     reductions=reductions if sum(counts) else None)
    remove_stale_rank_files(out, {fn for fn, _ in sources if fn})
    return traces


def _ingest_groups(groups, reduce, out, spec, run_id, heads, maps, table, cpu_clock,
                   keep_events, kept, reductions, counts, ctl, sources) -> None:
    """Write the event files of ``groups`` (lists of indices into ``heads``, the ranks
    sharing one file) and reduce the events of the ranks in ``reduce`` (indices), one
    rank in memory at a time, each trace read once where both fall to this process;
    fills the per-rank lists at those indices (``sources``: of the ranks written)."""
    from .reduction import EventFileWriter, group_file, reduce_events, write_rank_events

    def events(i):
        h, m = heads[i], maps[i]
        t = read_trace(h.path)
        if (t.rank, t.nranks, t.run_id, t.nevents) != (h.rank, h.nranks, h.run_id, h.nevents):
            raise TraceFileError(f"'{t.path}' changed while it was being ingested: run again")
        return t, {"kind": t.kind, "loc": m[t.loc], "wall_ns": t.wall, "cpu_ns": t.cpu,
                   "stack": t.stack, "ctl_bits": t.ctl_bits}

    def reduced(i, t, ev):
        reductions[i] = reduce_events(ev, table, t.rank, cpu_clock=cpu_clock)
        counts[i] = len(t.kind)
        ctl[i] = t.ctl_bits is not None
        kept[i] = t if keep_events else heads[i]

    reduce = set(reduce)
    for members in groups:
        gfile = group_file(out, heads[members[0]].rank, run_id)
        writer = EventFileWriter(gfile, run_id) if spec != 1 else None
        try:
            for i in members:
                t, ev = events(i)
                if len(t.kind):
                    if writer is None:
                        sources[i] = (write_rank_events(out, t.rank, ev, run_id).name, "")
                    else:
                        writer.add(t.rank, ev)
                        sources[i] = (gfile.name, f"rank_{t.rank:05d}")
                if i in reduce:
                    reduced(i, t, ev)
                    reduce.discard(i)
                del ev, t
            if writer is not None:
                writer.commit()
        finally:
            if writer is not None:
                writer.abort()
    for i in sorted(reduce):        # ranks whose events another process writes
        t, ev = events(i)
        reduced(i, t, ev)
        del ev, t


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pyharness.ingest", description=__doc__.split("\n")[0])
    ap.add_argument("directory", help="the directory PYHARNESS_PROFILE named (pyharness.NNNNN.phtrace files)")
    ap.add_argument("--out", default="profile.h5", help="profile file to write (default: profile.h5)")
    ap.add_argument("--event-files", default=None, metavar="node|rank|G",
                    help="how the raw events are filed beside the profile: one file per host (the "
                         "default, or $PYHARNESS_EVENT_FILES), per rank, or per G consecutive ranks")
    ap.add_argument("--inhibited", default=None, metavar="CONFIG.json",
                    help="the configuration the program was built with (plan.config.json of "
                         "optimize, tune.config.json): its sites leave no trace in a build with "
                         "-nocheckpoint and are recorded as inhibited, so that predict and "
                         "optimize --calibrate read this run as the configuration it was")
    return ap


def read_inhibited_sites(path) -> list[str]:
    """The site names (``callee@file:line``) of a JSON configuration's ``inhibited``."""
    from .config import read_config_json
    p = Path(path)
    data = read_config_json(p)
    if data is None:
        raise UsageError(f"'{p}' is not a JSON configuration ({{\"inhibited\": [\"callee@file:line\", ...]}}): "
                         "give the .config.json that optimize or tune wrote beside the -nocheckpoint list")
    names = data.get("inhibited", [])
    bad = [n for n in names if "@" not in n]
    if bad:
        raise UsageError(f"'{p}' names callees ({', '.join(bad[:5])}), not sites: give the .config.json "
                         "that optimize or tune wrote (site names, callee@file:line)")
    return names


def main(argv=None) -> int:
    from .h5io import check_writable
    from .mpiutil import collective, launched_size
    from .units import human_bytes, human_time
    args = build_parser().parse_args(argv)
    comm = None
    if launched_size() > 1:
        # under mpiexec -n P: the P processes share the ranks' event files and
        # reductions; one import, written and printed once (rank 0's)
        from mpi4py import MPI
        comm = MPI.COMM_WORLD if MPI.COMM_WORLD.size > 1 else None
    with (collective(comm, "checking --out and --inhibited") if comm is not None
          else contextlib.nullcontext()):
        check_writable(args.out)
        sites = read_inhibited_sites(args.inhibited) if args.inhibited else ()
    traces = ingest(args.directory, args.out, keep_events=False, event_files=args.event_files,
                    inhibited_sites=sites, comm=comm)
    if traces is None:          # not rank 0 of the processes that shared the work
        return 0
    t0 = traces[0]
    wall = [t.wall_ns * 1e-9 for t in traces]
    print(f"{len(traces)} rank(s) of {t0.command or t0.program}\n"
          f"  wall           {human_time(max(wall))} slowest rank (min {human_time(min(wall))})\n"
          f"  peak stack     {human_bytes(max(t.peak for t in traces))} max over ranks\n"
          f"  events         {sum(t.nevents for t in traces)} in all"
          + ("" if t0.cpu_clock else " (no CPU clock: PYHARNESS_PROFILE_CPU=1 to record it)")
          + f"\n  profile written to {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    from .mpiutil import run_cli
    sys.exit(run_cli("pyharness.ingest", main))
