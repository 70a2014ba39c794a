"""Per-rank reduction of profiling events: what travels between ranks is O(sites).

Each rank of a profiled run (or each trace that :mod:`pyharness.ingest` reads)

1. has its raw events written beside the profile: by default the ranks of one
   node send them to the node's first rank, which writes one file for the node,
   ``NAME.events/group_NNNNN.RUN.h5`` (NNNNN: its first rank; RUN: the run's tag,
   :func:`group_file`; one group
   ``rank_RRRRR`` per rank), or each rank writes its own
   ``NAME.events/rank_NNNNN.RUN.h5`` (``event_files="rank"``), or groups of G
   consecutive ranks share one (temporary name, fsync, rename), and
2. reduces them itself: the nested-checkpoint merge (per site and per callee,
   :func:`~pyharness.analysis.merge.merge_events`) and its part of the cost
   model (:func:`~pyharness.model.structure.reduce_rank`).

Only the reductions travel to rank 0 (one ``Gatherv`` of bytes): per-site and
per-node figures, whose size does not depend on the number of events. Rank 0
writes ``profile.h5`` with

- ``/events/rank_NNNNN/{kind,loc,wall_ns,cpu_ns,stack}`` as HDF5 *virtual*
  datasets mapped onto the event files (relative paths, resolved beside the
  profile), so h5dump and every reader still see one file per rank, and
- ``/reduced``: the gathered per-rank figures, which analyze, report, predict,
  optimize, tune and explore read instead of merging every rank's events again.

Rank 0 therefore holds sites x ranks numbers, never events x ranks; a node's
first rank holds, besides its own events, one other rank's at a time.
docs/FORMAT.md documents the layout.

Example
-------
>>> red = reduce_events(ev, locations, rank=comm.rank)                # doctest: +SKIP
>>> reds, sent = gather_reductions(comm, red)                         # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import UsageError
from .filecache import FileCache

__all__ = ["EVENT_FIELDS", "CTL_FIELD", "EVENT_DTYPES", "EVENTS_LAYOUT", "GROUPED_LAYOUT", "RankReduction",
           "events_dir", "rank_file", "group_file", "parse_event_files", "DEFAULT_EVENT_FILES",
           "reduce_events", "write_rank_events", "EventFileWriter", "write_event_files",
           "gather_reductions", "write_events_vds", "pack_reduction", "unpack_reduction", "write_reduced",
           "read_reduced_merges", "read_model_parts", "check_rank_file", "rank_source",
           "remove_stale_rank_files", "copy_profile"]

EVENT_FIELDS = ("kind", "loc", "wall_ns", "cpu_ns", "stack")
CTL_FIELD = "ctl_bits"    # control bits on the stack at each event, when the events carry them
EVENT_DTYPES = {"kind": np.int8, "loc": np.int32, "wall_ns": np.int64, "cpu_ns": np.int64,
                "stack": np.int64, CTL_FIELD: np.int64}
EVENTS_LAYOUT = "per-rank files"          # /events attribute `layout`: one file per rank
GROUPED_LAYOUT = "grouped files"          # ... files of several ranks (a node's, or G ranks')
EVENT_LAYOUTS = (EVENTS_LAYOUT, GROUPED_LAYOUT)
EVENT_FILES_ENV = "PYHARNESS_EVENT_FILES"  # node | rank | G: the default of event_files
DEFAULT_EVENT_FILES = "node"
_GROUP_TAG = 32101                         # point-to-point tags of the events a node's ranks send
MERGE_ARRAYS = ("count", "dt_wall_ns", "dt_cpu_ns", "dpk", "dtn")
MERGE_SCALARS = ("peak", "turn", "nevents", "span_wall_ns", "span_cpu_ns")
_RANK_RE = re.compile(r"^(rank|group)_(\d+)(\.[0-9a-f]+)?\.h5$")
REFERENCE_MERGE_BELOW = 300_000   # events per rank: below, the per-rank merge runs without numba


@dataclass(frozen=True)
class RankReduction:
    """What one rank sends to rank 0 instead of its events.

    ``merges`` maps a granularity (``site``, ``callee``) to that rank's
    :class:`~pyharness.analysis.merge.MergeResult`; ``model`` is its
    :class:`~pyharness.model.structure.RankModel`. Either is missing (with the
    reason in ``merge_error`` / ``model_error``) when the events do not reduce
    (a trace that does not nest): readers then fall back to the raw events and
    raise the same error the merge would.
    """

    rank: int
    nevents: int
    nloc: int
    merges: dict = field(default_factory=dict)
    model: object = None
    merge_error: str = ""
    model_error: str = ""
    has_bits: bool = False    # the stack held control bits at some event of this rank


def events_dir(path: str | os.PathLike) -> Path:
    """The directory of per-rank event files of the profile ``path`` (``NAME.events``)."""
    p = Path(path)
    return p.with_name(p.name + ".events")


def _run_tag(run_id: str) -> str:
    """``.1a2b3c4d`` (the run id's first 8 hex digits): in every event file's name, so
    that a profile written again never replaces the files the existing one reads before
    it is itself replaced; a run killed in between (or failing) left the existing
    profile pointing at another run's events."""
    return f".{run_id[:8]}" if run_id else ""


def rank_file(path: str | os.PathLike, rank: int, run_id: str = "") -> Path:
    """The event file of ``rank`` of the profile ``path`` when each rank has its own
    (``event_files="rank"``; see :func:`rank_source` for any layout), written by the
    run ``run_id`` (``rank_NNNNN.<run>.h5``; without it the name of older profiles)."""
    return events_dir(path) / f"rank_{rank:05d}{_run_tag(run_id)}.h5"


def group_file(path: str | os.PathLike, first_rank: int, run_id: str = "") -> Path:
    """The event file of the group of ranks whose first rank is ``first_rank``, written
    by the run ``run_id`` (``group_NNNNN.<run>.h5``)."""
    return events_dir(path) / f"group_{first_rank:05d}{_run_tag(run_id)}.h5"


def parse_event_files(spec=None) -> str | int:
    """How ranks share event files: ``"node"`` (the ranks of one node: one file per
    node), or ``G`` (groups of G consecutive ranks; 1, also spelt ``"rank"``: one file
    per rank). None: ``$PYHARNESS_EVENT_FILES``, else :data:`DEFAULT_EVENT_FILES`."""
    if spec is None:
        spec = os.environ.get(EVENT_FILES_ENV, "").strip() or DEFAULT_EVENT_FILES
    if isinstance(spec, int) and not isinstance(spec, bool):
        g = spec
    else:
        text = str(spec).strip().lower()
        if text == "node":
            return "node"
        if text == "rank":
            return 1
        try:
            g = int(text)
        except ValueError:
            g = 0
    if g < 1:
        raise UsageError(f"event files: expected node, rank or a number of ranks per file >= 1, "
                         f"got {spec!r}")
    return g


def reduce_events(events: Mapping[str, np.ndarray], locations, rank: int,
                  cpu_clock: bool = False) -> RankReduction:
    """Reduce one rank's events: merges at both granularities and the model part.

    Parameters
    ----------
    events : mapping with the five arrays of docs/FORMAT.md, and ``ctl_bits`` when known
    locations : :class:`~pyharness.analysis.profiles.Locations`, or records with
        ``name``, ``callee``, ``file``, ``line``, ``is_site`` (``runtime.locations()``)
    rank : this rank (messages)
    cpu_clock : the events carry CPU times (``profile --cpu-clock``): the model part
        then also sums the sites' intervals in CPU time
    """
    from .analysis.merge import TraceError, merge_events
    from .analysis.profiles import Locations
    from .analysis.ranks import Granularity
    from .model.structure import StructureError, reduce_rank
    locs = locations if isinstance(locations, Locations) else Locations.from_records(locations)
    n = len(events["kind"])
    # the compiled merge costs every process about 3 s and 120 MB to load numba; the
    # reference merge (fuzzed equal to it) does ~100k events/s: below this size it is
    # the cheaper of the two, on every rank and above all on rank 0
    method = "reference" if n < REFERENCE_MERGE_BELOW else "auto"
    merges: dict = {}
    merr = moderr = ""
    try:
        for gran in Granularity:
            groups = locs.groups(gran)
            merges[gran.value] = merge_events(events["kind"], events["loc"], events["wall_ns"],
                                              events["cpu_ns"], events["stack"], groups.key,
                                              len(groups), names=locs.names, method=method)
    except (TraceError, ValueError) as exc:
        merges, merr = {}, f"rank {rank}: {exc}"
    model = None
    ctl = events.get(CTL_FIELD)
    try:
        model = reduce_rank(events["kind"], events["loc"], events["wall_ns"], events["stack"],
                            locs.names, rank=rank, ctl_bits=ctl,
                            cpu_ns=events["cpu_ns"] if cpu_clock else None)
        if ctl is None and rank == 0:      # as CostModel.from_profile says it of such events
            from .model.cost import NO_CONTROL_BITS_NOTE
            model.notes.append(NO_CONTROL_BITS_NOTE)
    except (StructureError, ValueError) as exc:
        moderr = str(exc)
    return RankReduction(rank, n, len(locs), merges, model, merr, moderr,
                         bool(ctl is not None and np.any(ctl)))


def write_rank_events(path: str | os.PathLike, rank: int, events: Mapping[str, np.ndarray],
                      run_id: str) -> Path:
    """Write one rank's events to :func:`rank_file` (temporary name, fsync, rename).

    Returns the file written. The file holds the five datasets of
    ``/events/rank_NNNNN`` (and ``ctl_bits`` when given) and the attributes
    ``rank``, ``run_id``, ``nevents``.
    """
    import h5py

    from .durable import commit, tmp_name
    final = rank_file(path, rank, run_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(final)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema"] = "pyharness"
            f.attrs["kind"] = "events"
            f.attrs["rank"] = int(rank)
            f.attrs["run_id"] = run_id
            f.attrs["nevents"] = int(len(events["kind"]))
            _write_fields(f, events)
        commit(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


class EventFileWriter:
    """One event file of several ranks, ``group_NNNNN.h5``: written under a temporary
    name, one group ``rank_RRRRR`` (the datasets of :func:`write_rank_events`) per rank
    added, then fsynced and renamed by :meth:`commit` (never a torn file under the
    final name). The file is created when the first rank with events is added."""

    def __init__(self, final: str | os.PathLike, run_id: str):
        from .durable import tmp_name
        self.final = Path(final)
        self.tmp = tmp_name(self.final)
        self.run_id = run_id
        self.ranks: list[int] = []
        self.nevents: list[int] = []
        self._f = None

    def add(self, rank: int, events: Mapping[str, np.ndarray]) -> None:
        """Write the events of ``rank`` (none: nothing is written)."""
        n = len(events["kind"])
        if n == 0:
            return
        if self._f is None:
            import h5py
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._f = h5py.File(self.tmp, "w")
            # HDF5's metadata cache grows with the objects written to an open file (up
            # to 32 MiB): writing 256 ranks' groups (63k events each) into one file grew
            # the writer's RSS by 25 MiB, 12 MiB with the cache capped at 1 MiB (measured;
            # 64 ranks: 10 MiB either way, HDF5's bounded free lists)
            cfg = self._f.id.get_mdc_config()
            cfg.set_initial_size = True
            cfg.initial_size = cfg.min_size = cfg.max_size = 1 << 20
            cfg.incr_mode = 0            # H5C_incr__off
            self._f.id.set_mdc_config(cfg)
        g = self._f.create_group(f"rank_{rank:05d}")
        g.attrs["rank"] = int(rank)
        g.attrs["nevents"] = int(n)
        _write_fields(g, events)
        self.ranks.append(int(rank))
        self.nevents.append(int(n))

    def commit(self) -> Path | None:
        """Close, fsync and rename onto the final name; the file written (None: no events)."""
        from .durable import commit
        if self._f is None:
            return None
        f, self._f = self._f, None
        try:
            f.attrs["schema"] = "pyharness"
            f.attrs["kind"] = "events"
            f.attrs["run_id"] = self.run_id
            f.attrs["ranks"] = np.array(self.ranks, dtype=np.int64)
            f.attrs["nevents"] = np.array(self.nevents, dtype=np.int64)
            f.close()
            commit(self.tmp, self.final)
        except BaseException:
            f.close()
            self.abort()
            raise
        return self.final

    def abort(self) -> None:
        """Drop the temporary file (after an error)."""
        if self._f is not None:
            self._f.close()
            self._f = None
        if self.tmp.exists():
            self.tmp.unlink()


def _write_fields(g, events) -> None:
    for k in EVENT_FIELDS + ((CTL_FIELD,) if events.get(CTL_FIELD) is not None else ()):
        a = np.ascontiguousarray(events[k], dtype=EVENT_DTYPES[k])
        big = len(a) > 4096
        g.create_dataset(k, data=a, compression="gzip" if big else None, shuffle=big)


class _PendingSends:
    """A rank's events on their way to its node's first rank (:func:`write_event_files`)."""

    def __init__(self, requests=(), buffers=()):
        self.requests = list(requests)
        self.buffers = list(buffers)     # alive until the sends complete

    def wait(self) -> None:
        if self.requests:
            from mpi4py import MPI
            MPI.Request.Waitall(self.requests)
        self.requests, self.buffers = [], []


def write_event_files(comm, path: str | os.PathLike, events: Mapping[str, np.ndarray], run_id: str,
                      event_files=None):
    """Write the raw events of every rank of ``comm`` beside the profile ``path``
    (collective). Returns ``(source, pending)``: where this rank's events are,
    ``(file name in NAME.events, group in that file)`` (``("", "")``: it has none),
    and the sends still in flight, whose ``wait()`` the caller must call (after its
    own work: the reduction overlaps the writing).

    ``event_files`` (:func:`parse_event_files`): ``"node"`` (default) splits ``comm``
    by shared memory (``MPI_Comm_split_type``, ``COMM_TYPE_SHARED``), ``G`` into
    groups of G consecutive ranks; each group's first rank writes its own events
    and then every other member's, received one rank at a time, into
    ``group_FFFFF.h5`` (F: its first rank). With ``G = 1`` each rank writes
    ``rank_NNNNN.h5`` itself, as before groups existed. A group's first rank
    therefore holds at most its own events and one other rank's.
    """
    spec = parse_event_files(event_files)
    n = len(events["kind"])
    if spec == 1:
        if n:
            return (write_rank_events(path, comm.rank, events, run_id).name, ""), _PendingSends()
        return ("", ""), _PendingSends()
    from mpi4py import MPI
    if spec == "node":
        sub = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.rank)
    else:
        sub = comm.Split(comm.rank // spec, key=comm.rank)
    try:
        first = sub.bcast(comm.rank, root=0)       # key = rank: sub's rank 0 is the lowest
        name = group_file(path, first, run_id).name
        has_ctl = events.get(CTL_FIELD) is not None
        fields = EVENT_FIELDS + ((CTL_FIELD,) if has_ctl else ())
        mine = (name, f"rank_{comm.rank:05d}") if n else ("", "")
        if sub.rank != 0:
            head = np.array([comm.rank, n, int(has_ctl)], dtype=np.int64)
            bufs = [head] + ([np.ascontiguousarray(events[k], dtype=EVENT_DTYPES[k]) for k in fields]
                             if n else [])
            reqs = [sub.Isend(b, dest=0, tag=_GROUP_TAG + j) for j, b in enumerate(bufs)]
            return mine, _PendingSends(reqs, bufs)
        writer = EventFileWriter(group_file(path, first, run_id), run_id)
        error = None
        try:
            writer.add(comm.rank, events)
        except Exception as exc:       # keep receiving: the members' sends must complete
            error = exc
        for src in range(1, sub.size):
            head = np.empty(3, dtype=np.int64)
            sub.Recv(head, source=src, tag=_GROUP_TAG)
            rank, m, ctl = (int(v) for v in head)
            if not m:
                continue
            got = {}
            for j, k in enumerate(EVENT_FIELDS + ((CTL_FIELD,) if ctl else ()), start=1):
                got[k] = np.empty(m, dtype=EVENT_DTYPES[k])
                sub.Recv(got[k], source=src, tag=_GROUP_TAG + j)
            if error is None:
                try:
                    writer.add(rank, got)
                except Exception as exc:
                    error = exc
            del got
        if error is None:
            try:
                writer.commit()
            except Exception as exc:
                error = exc
        if error is not None:
            writer.abort()
            raise error
        return mine, _PendingSends()
    finally:
        sub.Free()


_GRANS = ("site", "callee")


def _flat_nodes(nodes):
    """Nodes as int64 rows: items (anchor, gap bytes, gap bits, site, snap bytes,
    snap bits, child, count), points (anchor, bytes, bits), tapes (anchor, bytes, bits)."""
    items = np.array([(a, g[0], g[1], s, sn[0], sn[1], c, n)
                      for nd in nodes for a, g, s, sn, c, n in nd.items],
                     dtype=np.int64).reshape(-1, 8)
    points = np.array([(a, o[0], o[1]) for nd in nodes for a, o in nd.points],
                      dtype=np.int64).reshape(-1, 3)
    tapes = np.array([(nd.tape[0], nd.tape[1][0], nd.tape[1][1]) for nd in nodes],
                     dtype=np.int64).reshape(-1, 3)
    return items, points, tapes


def _nodes_from_flat(items, item_start, points, point_start, tapes):
    """The :class:`~pyharness.model.structure.Node` list that :func:`_flat_nodes` flattened."""
    from .model.structure import Node
    it = items.tolist()
    pt = points.tolist()
    st_i = [int(v) for v in item_start]
    st_p = [int(v) for v in point_start]
    out = []
    for i, (ta, tb, tc) in enumerate(tapes.tolist()):
        out.append(Node(tuple((a, (gb, gc), s, (sb, sc), c, n)
                              for a, gb, gc, s, sb, sc, c, n in it[st_i[i]:st_i[i + 1]]),
                        tuple((a, (ob, oc)) for a, ob, oc in pt[st_p[i]:st_p[i + 1]]),
                        (ta, (tb, tc))))
    return out


def pack_reduction(red: RankReduction) -> np.ndarray:
    """One rank's reduction as fixed-width numbers (uint8 buffer, no pickle).

    Its length depends on the locations, the groups and the model's nodes, and
    on the text of any error or note, never on the number of events: counts and
    times are int64/float64 whatever their magnitude.
    """
    text = "\0".join([red.merge_error, red.model_error]
                      + (list(red.model.notes) if red.model is not None else [])).encode()
    m = red.model
    nodes = m.nodes if m is not None else []
    items, points, tapes = _flat_nodes(nodes)
    gsizes = [len(red.merges[g].count) if red.merges else 0 for g in _GRANS]
    head = np.array([red.rank, red.nevents, red.nloc, int(bool(red.merges)), int(m is not None),
                     *gsizes, len(nodes), len(items), len(points),
                     m.root if m is not None else -1, len(text), int(red.has_bits),
                     int(m is not None and m.t1t2_cpu_ns is not None)], dtype=np.int64)
    parts = [head]
    if red.merges:
        for g in _GRANS:
            r = red.merges[g]
            parts += [np.asarray(getattr(r, k), dtype=np.int64) for k in MERGE_ARRAYS]
            parts.append(np.array([int(getattr(r, k)) for k in MERGE_SCALARS], dtype=np.int64))
    if m is not None:
        snapb = m.snap_bits if m.snap_bits is not None else np.zeros(red.nloc, dtype=np.int64)
        parts += [np.asarray(m.snap, dtype=np.int64), np.asarray(snapb, dtype=np.int64),
                  np.asarray(m.mult, dtype=np.int64),
                  np.asarray(m.sw_ns, dtype=np.float64), np.asarray(m.u_ns, dtype=np.float64),
                  np.asarray(m.sr_ns, dtype=np.float64), np.asarray(m.t_sq, dtype=np.float64),
                  np.array([m.nevents], dtype=np.int64),
                  np.array([len(nd.items) for nd in nodes], dtype=np.int64),
                  np.array([len(nd.points) for nd in nodes], dtype=np.int64),
                  tapes, items, points]
        if m.t1t2_cpu_ns is not None:
            parts.append(np.asarray(m.t1t2_cpu_ns, dtype=np.float64))
    raw = b"".join(np.ascontiguousarray(a).tobytes() for a in parts) + text
    return np.frombuffer(raw, dtype=np.uint8)


def unpack_reduction(buf) -> RankReduction:
    """The :class:`RankReduction` that :func:`pack_reduction` packed."""
    from .analysis.merge import MergeResult
    from .model.structure import RankModel
    b = memoryview(np.ascontiguousarray(buf, dtype=np.uint8)).cast("B")
    pos = 0

    def take(n, dtype=np.int64):
        nonlocal pos
        a = np.frombuffer(b, dtype=dtype, count=n, offset=pos).copy()
        pos += a.nbytes
        return a

    head = take(14)
    (rank, nev, nloc, has_merge, has_model, gs, gc, nn, ni, npt, root, ntext,
     has_bits, has_cpu) = (int(v) for v in head)
    merges = {}
    if has_merge:
        for g, G in zip(_GRANS, (gs, gc)):
            arrays = [take(G) for _ in MERGE_ARRAYS]
            sc = take(len(MERGE_SCALARS))
            merges[g] = MergeResult(*arrays, *(int(v) for v in sc))
    model_parts = None
    if has_model:
        snap, snapb, mult = take(nloc), take(nloc), take(nloc)
        sw, u, sr, tsq = (take(nloc, np.float64) for _ in range(4))
        mnev = int(take(1)[0])
        ilen, plen = take(nn), take(nn)
        tape = take(3 * nn).reshape(-1, 3)
        items = take(8 * ni).reshape(-1, 8)
        points = take(3 * npt).reshape(-1, 3)
        tcpu = take(nloc, np.float64) if has_cpu else None
        model_parts = (snap, snapb, mult, sw, u, sr, tsq, mnev, ilen, plen, tape, items, points)
    text = bytes(b[pos:pos + ntext]).decode()
    strs = text.split("\0")
    merr, moderr, notes = strs[0], strs[1], [t for t in strs[2:] if t]
    model = None
    if model_parts is not None:
        snap, snapb, mult, sw, u, sr, tsq, mnev, ilen, plen, tape, items, points = model_parts
        nodes = _nodes_from_flat(items, np.concatenate([[0], np.cumsum(ilen)]).astype(np.int64),
                                 points, np.concatenate([[0], np.cumsum(plen)]).astype(np.int64),
                                 tape)
        model = RankModel(rank, nodes, root, snap, mult, sw, u, sr, tsq, mnev, notes, snapb, tcpu)
    return RankReduction(rank, nev, nloc, merges, model, merr, moderr, bool(has_bits))


def gather_reductions(comm, red: RankReduction, root: int = 0) -> tuple[list | None, int]:
    """Gather every rank's :class:`RankReduction` to ``root`` as raw bytes.

    Returns ``(reductions in rank order or None off root, bytes this rank sent)``.
    The bytes sent are the packed reduction (:func:`pack_reduction`) plus its
    length, pickled as mpi4py sends it: they depend on the sites and nodes, not on
    the number of events.
    """
    from .mpiutil import pickled_size
    payload = pack_reduction(red)
    sizes = comm.gather(len(payload), root=root)
    sent = payload.nbytes + pickled_size(len(payload))
    if comm.rank != root:
        comm.Gatherv(payload, None, root=root)
        return None, sent
    counts = np.array(sizes, dtype=np.int64)
    buf = np.empty(int(counts.sum()), dtype=np.uint8)
    comm.Gatherv(payload, [buf, counts], root=root)
    out = []
    pos = 0
    for c in counts:
        out.append(unpack_reduction(buf[pos:pos + c]))
        pos += int(c)
    del buf
    return out, sent


def write_events_vds(f, profile_name: str, counts: Sequence[int], run_id: str,
                     ctl: Sequence[bool] | None = None,
                     sources: Sequence[tuple[str, str]] | None = None) -> None:
    """``/events`` of an open profile as virtual datasets over the event files.

    Source paths are relative (``NAME.events/FILE``): HDF5 resolves them beside
    the profile, wherever it is read from. ``sources[r]`` = ``(FILE, GROUP)``: rank
    ``r``'s datasets are ``GROUP/kind``, ... in ``NAME.events/FILE`` (default, and
    ``GROUP`` empty: ``rank_RRRRR.h5`` with the datasets at its root); each rank's
    group records them as attributes ``file`` and ``group``. A rank without events
    gets ordinary empty datasets (a virtual dataset needs a non-empty source).
    ``ctl[r]``: rank ``r``'s events hold ``ctl_bits`` too.
    """
    import h5py
    if sources is None:
        sources = [(f"rank_{r:05d}.h5", "") for r in range(len(counts))]
    e = f.create_group("events")
    grouped = any(grp for _, grp in sources)
    e.attrs["layout"] = GROUPED_LAYOUT if grouped else EVENTS_LAYOUT
    e.attrs["directory"] = profile_name + ".events"
    e.attrs["run_id"] = run_id
    if grouped:
        e.attrs["files"] = len({fn for (fn, _), n in zip(sources, counts) if n})
    for r, n in enumerate(counts):
        g = e.create_group(f"rank_{r:05d}")
        fname, grp = sources[r] if n else ("", "")
        if n:
            g.attrs["file"] = fname
            g.attrs["group"] = grp
        src = f"{profile_name}.events/{fname}"
        for k in EVENT_FIELDS + ((CTL_FIELD,) if ctl is not None and ctl[r] else ()):
            dt = EVENT_DTYPES[k]
            if n == 0:
                g.create_dataset(k, data=np.zeros(0, dtype=dt))
                continue
            lay = h5py.VirtualLayout(shape=(int(n),), dtype=dt)
            lay[:] = h5py.VirtualSource(src, f"{grp}/{k}" if grp else k, shape=(int(n),))
            g.create_virtual_dataset(k, lay)


def write_reduced(f, reductions: Iterable[RankReduction], nranks: int, nloc: int) -> dict:
    """``/reduced`` of an open profile from every rank's reduction (rank order).

    Layout (docs/FORMAT.md)::

        /reduced                 attrs: merge (bool), model (bool), merge_error, model_error,
                                        control_bits (bool: some rank's stack held control bits)
        /reduced/site/count, dt_wall_ns, dt_cpu_ns, dpk, dtn    int64[R, G]
        /reduced/site/peak, turn, nevents, span_wall_ns, span_cpu_ns   int64[R]
        /reduced/callee/...      the same per callee
        /reduced/model/snap, snap_bits, mult   int64[R, nloc]
        /reduced/model/t1t2_ns, t_sq  float64[R, nloc]
        /reduced/model/t1t2_cpu_ns    float64[R, nloc]  in CPU time (profiles with --cpu-clock only)
        /reduced/model/root           int64[R]
        /reduced/model/items          int64[K, 8]  (anchor, gap bytes, gap bits, site, snap bytes,
                                                    snap bits, child, count)
        /reduced/model/item_start     int64[N + 1] node i's items: items[item_start[i]:item_start[i+1]]
        /reduced/model/points         int64[P, 3]  (anchor, bytes, bits)
        /reduced/model/point_start    int64[N + 1]
        /reduced/model/tape           int64[N, 3]  (anchor, bytes, bits)
        /reduced/model attrs: notes (newline-separated)

    Returns ``{"merge": bool, "model": bool}``: which parts every rank could reduce.
    """
    from .model.cost import combine_rank_models
    reds = list(reductions)
    if len(reds) != nranks or any(r.rank != i for i, r in enumerate(reds)):
        raise ValueError(f"write_reduced needs one reduction per rank in rank order ({nranks})")
    g = f.create_group("reduced")
    same = all(r.nloc == nloc for r in reds)      # every rank saw the profile's location table
    merge_ok = same and all(r.merges for r in reds)
    model_ok = same and all(r.model is not None for r in reds)
    g.attrs["merge"] = merge_ok
    g.attrs["model"] = model_ok
    g.attrs["control_bits"] = any(r.has_bits for r in reds)
    g.attrs["merge_error"] = next((r.merge_error for r in reds if r.merge_error), "")
    g.attrs["model_error"] = next((r.model_error for r in reds if r.model_error), "")
    if merge_ok:
        for gran in reds[0].merges:
            gg = g.create_group(gran)
            for k in MERGE_ARRAYS:
                gg[k] = np.stack([np.asarray(getattr(r.merges[gran], k), dtype=np.int64)
                                  for r in reds])
            for k in MERGE_SCALARS:
                gg[k] = np.array([int(getattr(r.merges[gran], k)) for r in reds], dtype=np.int64)
    if model_ok:
        parts = combine_rank_models((r.model for r in reds), nranks, nloc)
        m = g.create_group("model")
        m["snap"] = parts.snap
        m["snap_bits"] = parts.snap_bits
        m["mult"] = parts.mult
        m["t1t2_ns"] = parts.t1t2_ns
        m["t_sq"] = parts.t_sq
        if parts.t1t2_cpu_ns is not None:
            m["t1t2_cpu_ns"] = parts.t1t2_cpu_ns
        m["root"] = parts.roots
        items, points, tapes = _flat_nodes(parts.nodes)
        m["items"] = items
        m["item_start"] = np.cumsum([0] + [len(nd.items) for nd in parts.nodes], dtype=np.int64)
        m["points"] = points
        m["point_start"] = np.cumsum([0] + [len(nd.points) for nd in parts.nodes], dtype=np.int64)
        m["tape"] = tapes
        m.attrs["notes"] = "\n".join(parts.notes)
    return {"merge": merge_ok, "model": model_ok}


def read_reduced_merges(f, granularity: str):
    """The per-rank :class:`MergeResult` list stored in ``/reduced/<granularity>``, or None."""
    from .analysis.merge import MergeResult
    if "reduced" not in f or not bool(f["reduced"].attrs.get("merge", False)):
        return None
    if granularity not in f["reduced"]:
        return None
    g = f["reduced"][granularity]
    arrays = {k: g[k][()] for k in MERGE_ARRAYS}
    scalars = {k: g[k][()] for k in MERGE_SCALARS}
    R = arrays["count"].shape[0]
    return [MergeResult(*(arrays[k][r] for k in MERGE_ARRAYS),
                        *(int(scalars[k][r]) for k in MERGE_SCALARS)) for r in range(R)]


def read_model_parts(f, nranks: int, nloc: int):
    """The :class:`~pyharness.model.cost.ModelParts` stored in ``/reduced/model``."""
    from .model.cost import ModelParts
    try:
        m = f["reduced"]["model"]
        nodes = _nodes_from_flat(m["items"][()], m["item_start"][()], m["points"][()],
                                 m["point_start"][()], m["tape"][()])
        parts = ModelParts(nodes, m["root"][()].astype(np.int64), m["snap"][()], m["mult"][()],
                           m["t1t2_ns"][()], m["t_sq"][()], m["snap_bits"][()],
                           tuple(n for n in str(m.attrs.get("notes", "")).split("\n") if n),
                           m["t1t2_cpu_ns"][()] if "t1t2_cpu_ns" in m else None)
    except KeyError as exc:
        raise UsageError(f"'{f.filename}': incomplete /reduced/model group ({exc})") from None
    if parts.snap.shape != (nranks, nloc):
        raise UsageError(f"'{f.filename}': /reduced/model holds {parts.snap.shape} figures for "
                         f"{nranks} rank(s) and {nloc} locations")
    return parts


def rank_source(f, rank: int) -> tuple[str, str] | None:
    """``(file, group)`` of the events of ``rank`` of an open profile whose events live
    in files beside it: the file's name in the ``.events`` directory and the group of
    its datasets in that file ("" : its root). None: the events are inside the
    profile, or the rank has none."""
    e = f["events"]
    if e.attrs.get("layout") not in EVENT_LAYOUTS:
        return None
    g = e.get(f"rank_{rank:05d}")
    if g is None or "kind" not in g or len(g["kind"]) == 0:
        return None
    return str(g.attrs.get("file", f"rank_{rank:05d}.h5")), str(g.attrs.get("group", ""))


# what check_rank_file read of each event file: (run id, names of its groups and
# datasets), per version of the file on disk (pyharness.filecache: an event file is
# always written under a temporary name and renamed, so a new file is a new key);
# the last few files only
_SEEN_KEEP = 64
_seen: FileCache[tuple[str, frozenset[str]]] = FileCache(_SEEN_KEEP)


def _read_event_file(where: Path) -> tuple[str, frozenset[str]]:
    import h5py
    with h5py.File(where, "r") as s:
        names: list[str] = []
        s.visit(names.append)
        return str(s.attrs.get("run_id", "")), frozenset(names)


def _event_file_contents(where: Path) -> tuple[str, frozenset[str]] | None:
    """``(run_id, names of every group and dataset)`` of an event file, opened once per
    version of the file (a node's ranks share one); None when it is missing."""
    return _seen.get(where, _read_event_file, missing=lambda _: None)


class EventFilesMissing(UsageError):
    """The event files a profile points to are not beside it, cannot be read (truncated)
    or hold another run's events (only what needs the raw events is lost: the reduced
    tables are in the profile itself)."""


def check_rank_file(f, rank: int) -> None:
    """Raise a clear :class:`UsageError` if the events of ``rank`` live in an event
    file that is missing or belongs to another run (HDF5 would read zeros).

    A file several ranks share (one per node, ``group_NNNNN.h5``) is opened once,
    not once per rank: what the check needs of it is kept per version of the file."""
    src = rank_source(f, rank)
    if src is None:
        return
    e = f["events"]
    fname, grp = src
    where = Path(f.filename).resolve().parent / str(e.attrs["directory"]) / fname
    try:
        seen = _event_file_contents(where)
    except OSError as exc:
        # HDF5 cannot open it (cut short by a copy or a full disk: pyharness renames only
        # whole files): a traceback before
        raise EventFilesMissing(f"'{f.filename}': the events of rank {rank} are in '{where}', which "
                                f"cannot be read ({exc}): profile again to have the raw events") from None
    if seen is None:
        raise EventFilesMissing(f"'{f.filename}': the events of rank {rank} are in '{where}', which is "
                         f"missing: keep the directory {e.attrs['directory']} beside the profile "
                         "(copy or move them together)")
    run_id, names = seen
    if run_id != str(e.attrs.get("run_id", "")):
        raise EventFilesMissing(f"'{where}' holds the events of another run than '{f.filename}' "
                                "(overwritten by a later profile with the same name?)")
    if grp and grp.strip("/") not in names:
        raise UsageError(f"'{where}' has no events of rank {rank} (no group {grp})")


def remove_stale_rank_files(path: str | os.PathLike, keep: Iterable[str]) -> None:
    """Delete the event files (``rank_NNNNN.h5``, ``group_NNNNN.h5``) beside the
    profile ``path`` that it does not use (``keep``: the names it uses), left by an
    earlier run with more ranks or other groups."""
    d = events_dir(path)
    if not d.is_dir():
        return
    keep = set(keep)
    for p in d.iterdir():
        if _RANK_RE.match(p.name) and p.name not in keep:
            try:
                p.unlink()
            except OSError:
                pass


def copy_profile(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy a profile with its event files (per rank or per group of ranks), so that
    the copy's ``/events`` read the copied files (its virtual datasets are rebuilt
    to point at them).

    A profile with its events inside (written before per-rank files) is copied as is.
    """
    import shutil

    from .durable import commit, tmp_name
    from .h5io import atomic_h5
    src, dst = Path(src), Path(dst)
    used: list[str] = []
    with atomic_h5(dst, "profile", copy_from=src) as f:
        e = f.get("events")
        if e is not None and e.attrs.get("layout") in EVENT_LAYOUTS:
            run_id = str(e.attrs.get("run_id", ""))
            names = sorted(k for k in e if k.startswith("rank_"))
            counts = [len(e[k]["kind"]) for k in names]
            ctl = [CTL_FIELD in e[k] for k in names]
            sources = [rank_source(f, r) or ("", "") for r in range(len(names))]
            sdir = src.parent / str(e.attrs["directory"])
            ddir = events_dir(dst)
            ddir.mkdir(exist_ok=True)
            used = list(dict.fromkeys(fn for fn, _ in sources if fn))
            for fname in used:                                          # each file once
                ftmp = tmp_name(ddir / fname)
                shutil.copyfile(sdir / fname, ftmp)
                commit(ftmp, ddir / fname)
            del f["events"]
            write_events_vds(f, dst.name, counts, run_id, ctl, sources)
    if used:        # a profile copied over another: its run's files are no longer read
        remove_stale_rank_files(dst, used)
