"""Predict the per-rank peak and time of any configuration from one profile.

>>> m = CostModel.from_profile("profile.h5")                      # doctest: +SKIP
>>> p = m.predict(Configuration(frozenset({"cg_solve"})))         # doctest: +SKIP
>>> p.time, p.peak_by_rank, p.exact, p.reasons                    # doctest: +SKIP

Peaks: a max-plus recursion over the DAG of nodes (:mod:`.structure`), exact to
the byte when the configuration inhibits at least the sites the profiled run
inhibited. Amounts are (bytes, control bits) pairs; a node's peak is kept for
each of the 32 bit alignments at which it can start, since the stack counts
control bits in 4-byte words only. Times: linear; inhibiting an active site saves, per instance, its
snapshot write, untaped run and snapshot read, and the callbacks it no longer
makes; the profiler's own cost per event (``/summary/event_cost_ns``, measured
in the run) is taken out. docs/MODEL.md says what is exact and what is not.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ..config import Configuration, SiteTable, profile_listing
from ..errors import UsageError
from ..units import merge_rank_notes
from .structure import WORD_BITS, Node, RankModel, StructureError, reduce_rank

__all__ = ["CostModel", "Prediction", "ModelParts", "combine_rank_models", "EVENTS_PER_INSTANCE"]

# what the model says (rank 0's notes) of a profile whose events carry no control bits
NO_CONTROL_BITS_NOTE = (
    "the profile does not record the control bits on the stack (written "
    "before pyharness recorded them, or ingested from version-1 traces): "
    "predicted peaks are exact only if the adjoint pushes no control bits "
    "(PUSHCONTROLnB, PUSHBOOLEAN); profile again for exact peaks")

# SNPWRITE, BEGINADVANCE, ENDADVANCE, SNPREAD, BEGINREVERSE, the callee's TURN, ENDREVERSE
EVENTS_PER_INSTANCE = 7
# intervals between consecutive events hold one event's cost each; t1t2 spans three
_INTERVALS_IN_T1T2 = 3


@dataclass(frozen=True)
class Prediction:
    """What the model predicts for one configuration."""

    config: Configuration
    time_by_rank: np.ndarray       # s, adjoint wall time per rank, without profiling
    peak_by_rank: np.ndarray       # bytes, peak AD stack per rank
    events_by_rank: np.ndarray     # events the run would record with profiling on
    profiled_time_by_rank: np.ndarray   # s, the same run with profiling on
    exact: bool                    # False: see reasons
    reasons: tuple[str, ...] = ()
    cpu_by_rank: np.ndarray | None = None   # s, process CPU time per rank (profiles with --cpu-clock)

    @property
    def time(self) -> float:
        """Predicted time of the slowest rank (s)."""
        return float(np.max(self.time_by_rank))

    @property
    def peak(self) -> int:
        """Largest predicted per-rank peak (bytes)."""
        return int(np.max(self.peak_by_rank))


def _cold_bytes(nodes: Sequence[Node], roots: np.ndarray, active: np.ndarray, nloc: int) -> np.ndarray:
    """(R, nloc) per rank and active site, its instances' callee tapes (bytes, control
    bits as their words) under ``active`` (nloc,), counted with multiplicity through the
    DAG (children before parents)."""
    T: dict[int, np.ndarray] = {}
    _eval_nodes(nodes, active[None, :], sorted(set(int(r) for r in roots)), tapes=T)
    out = np.zeros((len(roots), nloc))
    for r, root in enumerate(roots):
        inst = np.zeros(len(nodes))
        inst[int(root)] = 1.0
        for i in range(int(root), -1, -1):
            if inst[i] == 0:
                continue
            for a, g, s, sn, c, cnt in nodes[i].items:
                k = inst[i] * cnt
                inst[c] += k
                if active[s]:
                    out[r, s] += k * T[c][0]
    return out


def _eval_nodes(nodes: Sequence[Node], active: np.ndarray, want: Iterable[int],
                tapes: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Peak R of the nodes ``want`` (and all below) for each row of ``active``;
    with ``tapes`` (a dict), also every such node's tape in stack bytes at a whole
    control word (int64[C]), stored into it.

    ``active``: bool (C, nloc), True = checkpointed. Returns {node id: int64[C]},
    the peak above the node's base when it starts at a whole control word (the
    root does: the stack is empty when the adjoint starts).

    Each node's tape is a pair (bytes, control bits), and its peak is computed for
    every alignment ``al`` (control bits in the word when it starts, 0..31): a
    value (b, c) above the base adds ``b + 4 * ((al + c) // 32)`` stack bytes.
    Nodes without control bits anywhere below keep one column (alignment does not
    matter to them).
    """
    C = active.shape[0]
    need = set()
    todo = list(want)
    while todo:
        i = todo.pop()
        if i in need:
            continue
        need.add(i)
        todo += [it[4] for it in nodes[i].items]
    Tb: dict[int, np.ndarray] = {}
    Tc: dict[int, np.ndarray] = {}
    R: dict[int, np.ndarray] = {}       # (C, 32) or (C, 1)
    bits: dict[int, bool] = {}
    zero = np.zeros(C, dtype=np.int64)
    aligns = np.arange(WORD_BITS, dtype=np.int64)[None, :]
    for i in sorted(need):          # children have smaller ids than their parents
        nd = nodes[i]
        hb = bits[i] = nd.has_bits or any(bits[it[4]] for it in nd.items)
        al = aligns if hb else aligns[:, :1]

        def at(b, c):
            """(C, A) stack bytes of the value (b, c) above the base, per alignment."""
            return b[:, None] + 4 * ((al + c[:, None]) // WORD_BITS) if hb else b[:, None]

        Qb: list[np.ndarray] = []
        Qc: list[np.ndarray] = []
        r = np.zeros((C, al.shape[1]), dtype=np.int64)
        for a, (gb, gc), s, (sb, sc), c, cnt in nd.items:
            act = active[:, s]
            yb = np.where(act, sb, Tb[c])
            yc = np.where(act, sc, Tc[c])
            bb = (Qb[a] if a >= 0 else zero) + gb
            bc = (Qc[a] if a >= 0 else zero) + gc
            qb = bb + cnt * yb
            qc = bc + cnt * yc
            np.maximum(r, at(qb, qc), out=r)
            # the child runs from its last forward iteration's base, at that base's alignment
            cb = bb + (cnt - 1) * yb
            cc = bc + (cnt - 1) * yc
            Rc = R[c]
            if Rc.shape[1] > 1:
                Rc = np.take_along_axis(Rc, (al + cc[:, None]) % WORD_BITS, axis=1)
            np.maximum(r, at(cb, cc) + Rc, out=r)
            Qb.append(qb)
            Qc.append(qc)
        for a, (ob, oc) in nd.points:
            np.maximum(r, at((Qb[a] if a >= 0 else zero) + ob, (Qc[a] if a >= 0 else zero) + oc), out=r)
        ta, (tb, tc) = nd.tape
        Tb[i] = (Qb[ta] if ta >= 0 else zero) + tb
        Tc[i] = (Qc[ta] if ta >= 0 else zero) + tc
        np.maximum(r, at(Tb[i], Tc[i]), out=r)
        R[i] = r
        if tapes is not None:
            tapes[i] = Tb[i] + 4 * (Tc[i] // WORD_BITS)
    return {i: R[i][:, 0] for i in want}


@dataclass(frozen=True)
class ModelParts:
    """Every rank's model combined: one DAG of nodes shared by all ranks (identical
    nodes stored once) and per-rank, per-location arrays (``[R, nloc]``)."""

    nodes: list[Node]
    roots: np.ndarray             # int64 (R,): root node of every rank
    snap: np.ndarray              # int64 (R, nloc), -1 where never seen
    mult: np.ndarray              # int64 (R, nloc)
    t1t2_ns: np.ndarray           # float64 (R, nloc)
    t_sq: np.ndarray              # float64 (R, nloc)
    snap_bits: np.ndarray         # int64 (R, nloc): control bits of the snapshots
    notes: tuple[str, ...] = ()
    t1t2_cpu_ns: np.ndarray | None = None   # float64 (R, nloc): in CPU time (--cpu-clock), or None


def combine_rank_models(models: Iterable[RankModel], nranks: int, nloc: int) -> ModelParts:
    """Join ranks' :class:`RankModel` (any order, each rank once) into one :class:`ModelParts`.

    Memory grows as nodes + ranks x locations, never with the events.
    """
    nodes: list[Node] = []
    ids: dict[Node, int] = {}
    R = nranks
    roots = np.zeros(R, dtype=np.int64)
    snap = np.full((R, nloc), -1, dtype=np.int64)
    snapb = np.zeros((R, nloc), dtype=np.int64)
    mult = np.zeros((R, nloc), dtype=np.int64)
    t12 = np.zeros((R, nloc))
    tsq = np.zeros((R, nloc))
    notes: list[str] = []
    models = list(models)
    with_cpu = bool(models) and all(m.t1t2_cpu_ns is not None for m in models)
    tcpu = np.zeros((R, nloc))
    for m in models:
        local = np.zeros(len(m.nodes), dtype=np.int64)
        for j, nd in enumerate(m.nodes):
            g = nd.remap(local)
            got = ids.get(g)
            if got is None:
                got = ids[g] = len(nodes)
                nodes.append(g)
            local[j] = got
        roots[m.rank] = local[m.root]
        snap[m.rank] = m.snap
        if m.snap_bits is not None:
            snapb[m.rank] = m.snap_bits
        mult[m.rank] = m.mult
        t12[m.rank] = m.t1t2_ns
        tsq[m.rank] = m.t_sq
        if with_cpu:
            tcpu[m.rank] = m.t1t2_cpu_ns
        notes += m.notes
    return ModelParts(nodes, roots, snap, mult, t12, tsq, snapb, merge_rank_notes(notes),
                      tcpu if with_cpu else None)


@dataclass
class CostModel:
    """Every rank's model from one profile, merged: one DAG of distinct nodes.

    Per-rank arrays are (nranks, nloc), indexed by the profile's location index.
    """

    path: str
    names: tuple[str, ...]
    callees: tuple[str, ...]
    is_site: tuple[bool, ...]
    nodes: list[Node]
    roots: np.ndarray             # int: root node of every rank
    snap: np.ndarray              # int64 (R, nloc)
    mult: np.ndarray              # int64 (R, nloc)
    t1t2_ns: np.ndarray           # float64 (R, nloc): raw sums, events included
    t_sq: np.ndarray              # float64 (R, nloc)
    wall_s: np.ndarray            # (R,) measured adjoint time of the profiled run
    nevents: np.ndarray           # (R,)
    event_cost_ns: np.ndarray     # (R,) one recorded event
    callback_cost_ns: np.ndarray  # (R,) one callback with recording off
    measured_peak: np.ndarray     # (R,)
    profiled_inhibited: frozenset[int]
    snapshots: int = 0
    kernel: str = ""
    params: str = ""
    notes: list[str] = field(default_factory=list)
    peaks_verified: bool = True
    snap_bits: np.ndarray | None = None    # int64 (R, nloc): control bits of the snapshots
    _bound: list[Node] | None = field(default=None, repr=False)
    t1t2_cpu_ns: np.ndarray | None = None   # (R, nloc) the same sums in CPU time (--cpu-clock)
    cpu_s: np.ndarray | None = None         # (R,) measured adjoint CPU time of the profiled run
    # the cold-reverse term (:meth:`calibrated`): seconds per byte an inhibited callee's
    # reverse sweep reads back from memory, per rank; None until calibrated
    cold_s_per_byte: np.ndarray | None = None
    calibration: dict | None = None
    _cold_bytes: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_profile(cls, path: str | os.PathLike, comm=None) -> "CostModel":
        """Build the model of a ``profile.h5``.

        With ``comm`` (an MPI communicator), rank ``i`` reduces the profiled
        ranks ``i, i + size, ...`` and only the reduced models travel; every
        rank returns the same model.

        Raises
        ------
        UsageError
            Not a profile, or a profile without events (``--no-profiling``).
        StructureError
            A rank's trace does not nest, or one site's instances disagree in bytes.
        """
        from ..analysis.profiles import read_locations, read_rank_events
        from ..h5io import open_h5
        from ..mpiutil import collective
        size = comm.size if comm is not None else 1
        me = comm.rank if comm is not None else 0
        err = None
        head = None
        parts = None
        mine: list[RankModel] = []
        try:
            with open_h5(path, kinds=("profile",)) as f:
                locs = read_locations(f)
                if not bool(f.attrs.get("profiling", True)) or "events" not in f:
                    raise UsageError(f"'{path}' holds no events: it was written with --no-profiling. "
                                     "The model needs the events of a profiled run: profile again "
                                     "without --no-profiling (all sites checkpointed is best)")
                nranks = int(f.attrs.get("nranks", 0)) or len(f["events"])
                s = f["summary"]
                summ = {k: s[k][()] for k in s}
                inh = f["config"]["inhibited"][()] if "config" in f else np.zeros(len(locs), bool)
                snaps = int(f["config"].attrs.get("snapshots", 0)) if "config" in f else 0
                head = (locs, nranks, summ, inh, snaps, str(f.attrs.get("kernel", "")),
                        str(f.attrs.get("params", "")))
                cpu_clock = bool(f.attrs.get("cpu_clock", False))
                total = int(np.sum(summ.get("nevents", [0])))
                if total == 0 and sum(len(f["events"][g]["kind"]) for g in f["events"]) == 0:
                    raise UsageError(f"'{path}' has no recorded events (was it profiled with "
                                     "--no-profiling?): profile again with profiling on")
                if "reduced" in f and bool(f["reduced"].attrs.get("model", False)):
                    # each profiled rank reduced its own events when the profile was
                    # written: read those figures (sites x ranks), never the events
                    from ..reduction import read_model_parts
                    parts = read_model_parts(f, nranks, len(locs.names))
                else:
                    for r in range(me, nranks, size):
                        ev = read_rank_events(f, r)
                        mine.append(reduce_rank(ev["kind"], ev["loc"], ev["wall_ns"], ev["stack"],
                                                locs.names, rank=r, ctl_bits=ev.get("ctl_bits"),
                                                cpu_ns=ev["cpu_ns"] if cpu_clock else None))
                        if "ctl_bits" not in ev and r == 0:
                            mine[-1].notes.append(NO_CONTROL_BITS_NOTE)
        except (UsageError, StructureError) as exc:
            err = exc
        if comm is not None:
            with collective(comm, f"reducing the events of {path}"):
                if err is not None:
                    raise err
        elif err is not None:
            raise err
        if parts is not None:        # the same file on every rank: all take this branch
            return cls.from_parts(parts, head, str(path))
        if comm is not None:
            gathered = comm.allgather(mine)
            models = sorted((m for part in gathered for m in part), key=lambda m: m.rank)
        else:
            models = mine
        return cls.from_rank_models(models, head, str(path))

    @classmethod
    def from_rank_models(cls, models: Sequence[RankModel], head, path: str = "") -> "CostModel":
        locs, nranks = head[0], head[1]
        return cls.from_parts(combine_rank_models(models, nranks, len(locs.names)), head, path)

    @classmethod
    def from_parts(cls, parts: "ModelParts", head, path: str = "") -> "CostModel":
        """The model from ranks' models already combined (:func:`combine_rank_models`),
        e.g. as ``/reduced/model`` of a profile stores them (pyharness.reduction)."""
        locs, nranks, summ, inh, snaps, kernel, params = head
        R = nranks
        nodes, roots, snap, mult, t12, tsq = (parts.nodes, parts.roots, parts.snap, parts.mult,
                                              parts.t1t2_ns, parts.t_sq)
        snapb = parts.snap_bits
        notes = list(parts.notes)
        with_cpu = parts.t1t2_cpu_ns is not None
        tcpu = parts.t1t2_cpu_ns

        def arr(key, default):
            v = summ.get(key)
            if v is None or np.shape(v) != (R,):
                return np.full(R, default, dtype=np.float64)
            return np.asarray(v, dtype=np.float64)

        ecost = arr("event_cost_ns", np.nan)
        cb = arr("callback_cost_ns", np.nan)
        if np.isnan(ecost).any():
            notes.append("the profile has no measured cost per event (/summary/event_cost_ns, "
                         "written since this version): predicted times include the profiler's cost")
            ecost = np.zeros(R)
            cb = np.zeros(R)
        model = cls(path, locs.names, locs.callees, locs.is_site, nodes, roots, snap, mult, t12, tsq,
                    arr("wall_s", np.nan), arr("nevents", 0).astype(np.int64), ecost, cb,
                    arr("peak_bytes", -1).astype(np.int64),
                    frozenset(int(i) for i in np.flatnonzero(np.asarray(inh, dtype=bool))),
                    snaps, kernel, params, notes, snap_bits=snapb)
        cpu = summ.get("cpu_s")
        if with_cpu and cpu is not None and np.shape(cpu) == (R,):
            model.t1t2_cpu_ns = tcpu
            model.cpu_s = np.asarray(cpu, dtype=np.float64)
        # the model must give back the measured peak of the profiled run
        got = model._peaks(model.profiled_active()[None, :])[0]
        bad = [r for r in range(R) if model.measured_peak[r] >= 0 and got[r] != model.measured_peak[r]]
        if bad:
            r = bad[0]
            model.peaks_verified = False
            model.notes.append(
                f"the model's peak of the profiled configuration is {got[r]} bytes on rank {r}, the "
                f"measured peak was {model.measured_peak[r]} bytes: the peak was reached between "
                "events in a way the model does not see; predicted peaks are approximate")
        return model

    # ------------------------------------------------------------ basics
    @property
    def bound_nodes(self) -> list[Node]:
        """The nodes with every (bytes, bits) amount replaced by the linear bound
        ``bytes + bits / 8`` (floats): above the stack bytes it stands for by less
        than 4 at any point, never below (what the MILP works with)."""
        if self._bound is None:
            self._bound = [nd.bound() for nd in self.nodes]
        return self._bound

    @property
    def has_control_bits(self) -> bool:
        """Whether any node holds control bits (then the MILP's bound is not exact)."""
        return any(nd.has_bits for nd in self.nodes)

    @property
    def nranks(self) -> int:
        return len(self.roots)

    @property
    def nloc(self) -> int:
        return len(self.names)

    @functools.cached_property
    def table(self) -> SiteTable:
        """The site table of the profile (the type configurations are resolved against).
        Built once: the kernels' listing scans the installed plug-ins (some 15 ms), and
        every prediction reads the table."""
        from ..kernels import kernel_names, sites_command
        if self.kernel in kernel_names():
            try:
                params = json.loads(self.params) if self.params else {}
            except ValueError:
                params = {}
            listing = sites_command(self.kernel, "small", params if isinstance(params, dict) else {})
        else:       # a program of the user's (ingested traces): its profile lists the sites
            listing = profile_listing(self.path)
        return SiteTable(self.names, self.callees, self.is_site, listing)

    @property
    def site_indices(self) -> list[int]:
        return [i for i, s in enumerate(self.is_site) if s]

    def profiled_active(self) -> np.ndarray:
        """Activation of the profiled run per location (True: checkpointed)."""
        a = np.array(self.is_site, dtype=bool)
        for i in self.profiled_inhibited:
            a[i] = False
        return a

    @property
    def recording_ns(self) -> np.ndarray:
        """(R,) what recording one event costs (recorded − callback with recording off)."""
        return np.maximum(0.0, self.event_cost_ns - self.callback_cost_ns)

    def site_weight_s(self) -> np.ndarray:
        """(R, nloc) time an active site costs a run without profiling (s), per rank:
        its instances' snapshot writes, untaped runs and reads, and its callbacks, less,
        once calibrated, what its callee's reverse sweep would lose reading its tape back
        cold were the site inhibited (:meth:`calibrated`)."""
        per_inst = (-_INTERVALS_IN_T1T2 * self.event_cost_ns
                    + EVENTS_PER_INSTANCE * self.callback_cost_ns)[:, None]
        w = (self.t1t2_ns + self.mult * per_inst) * 1e-9
        if self.cold_s_per_byte is not None:
            w = w - self.cold_s_per_byte[:, None] * self.cold_bytes()
        return w

    def cold_bytes(self) -> np.ndarray:
        """(R, nloc) per site, the bytes its callee's tape holds, summed over its instances,
        in the profiled configuration: what the callee's reverse sweep reads back.

        Checkpointed, a callee's reverse sweep follows its taped re-run at once, its tape
        still in cache, and that is what the profiled run measures; inhibited, its tape
        is written in the caller's forward sweep and read back long after, from memory.
        The cold-reverse term charges these bytes at :attr:`cold_s_per_byte`.
        """
        if self._cold_bytes is None:
            self._cold_bytes = _cold_bytes(self.nodes, self.roots, self.profiled_active(),
                                           self.mult.shape[1])
        return self._cold_bytes

    def calibrated(self, runs: Sequence[tuple[Configuration, np.ndarray]]) -> "CostModel":
        """The model with its cold-reverse term fitted to measured runs.

        ``runs``: (configuration, measured time per rank in s, without profiling). Per
        rank, the seconds per cold byte that best explain (least squares, never below
        0) what the runs measured beyond the uncalibrated prediction, from the bytes
        their inhibited sites' callees read back (:meth:`cold_bytes`). A run that
        inhibits nothing the profiled run checkpointed carries no information on the
        term; with none that does, the term stays 0. Peaks do not change.
        """
        if not runs:
            return self
        base = dataclasses.replace(self, cold_s_per_byte=None, calibration=None)
        prof = base.profiled_active()
        cb = base.cold_bytes()
        R = base.nranks
        X = np.zeros((len(runs), R))
        E = np.zeros((len(runs), R))
        for j, (cfg, measured) in enumerate(runs):
            measured = np.asarray(measured, dtype=np.float64)
            if measured.shape != (R,):
                raise UsageError(f"a calibration run has {measured.size} rank(s), the profile "
                                 f"{R}: calibrate with runs of the same job size")
            act = base.active_mask(cfg) & prof
            X[j] = cb[:, prof & ~act].sum(axis=1)
            E[j] = measured - base._times(act[None, :])[0]
        den = (X * X).sum(axis=0)
        k = np.where(den > 0, (X * E).sum(axis=0) / np.where(den > 0, den, 1.0), 0.0)
        k = np.maximum(k, 0.0)
        out = dataclasses.replace(self, cold_s_per_byte=k, _cold_bytes=cb)
        resid = E - X * k[None, :]
        out.calibration = {"runs": len(runs), "cold_ns_per_byte": k * 1e9,
                           "error_before_s": E, "error_after_s": resid, "cold_bytes": X}
        return out

    def site_cpu_weight_s(self) -> np.ndarray:
        """(R, nloc) the CPU time an active site costs (profiles with ``--cpu-clock``)."""
        per_inst = (-_INTERVALS_IN_T1T2 * self.event_cost_ns
                    + EVENTS_PER_INSTANCE * self.callback_cost_ns)[:, None]
        return (self.t1t2_cpu_ns + self.mult * per_inst) * 1e-9

    def base_cpu_s(self) -> np.ndarray:
        """(R,) predicted CPU time with every site inhibited, without profiling."""
        w = self.site_cpu_weight_s()
        act = self.profiled_active()
        return self.cpu_s - self.nevents * self.recording_ns * 1e-9 - w[:, act].sum(axis=1)

    @property
    def has_cpu(self) -> bool:
        """Whether the profile's events carry CPU times (``profile --cpu-clock``)."""
        return self.t1t2_cpu_ns is not None and self.cpu_s is not None

    def base_time_s(self) -> np.ndarray:
        """(R,) predicted time with every site of the profile inhibited, without profiling."""
        w = self.site_weight_s()
        act = self.profiled_active()
        return self.wall_s - self.nevents * self.recording_ns * 1e-9 - w[:, act].sum(axis=1)

    # ------------------------------------------------------------ prediction
    def active_mask(self, config: Configuration | Iterable[str]) -> np.ndarray:
        """Activation per location of a configuration (names resolved against the profile)."""
        if not isinstance(config, Configuration):
            config = Configuration.from_names(self.table, list(config))
        return config.active_mask(self.table)

    def _peaks(self, active: np.ndarray) -> np.ndarray:
        """int64 (C, R) predicted peaks for rows of ``active`` (C, nloc)."""
        active = np.asarray(active, dtype=bool) & self.profiled_active()[None, :]
        uniq = sorted(set(int(r) for r in self.roots))
        R = _eval_nodes(self.nodes, active, uniq)
        return np.stack([R[int(r)] for r in self.roots], axis=1)

    def _times(self, active: np.ndarray) -> np.ndarray:
        """float64 (C, R) predicted times (s, no profiling) for rows of ``active``."""
        active = np.asarray(active, dtype=bool) & self.profiled_active()[None, :]
        return self.base_time_s()[None, :] + active.astype(np.float64) @ self.site_weight_s().T

    def _cpu_times(self, active: np.ndarray) -> np.ndarray | None:
        """float64 (C, R) predicted CPU times (s), or None without CPU events."""
        if not self.has_cpu:
            return None
        active = np.asarray(active, dtype=bool) & self.profiled_active()[None, :]
        return self.base_cpu_s()[None, :] + active.astype(np.float64) @ self.site_cpu_weight_s().T

    def _events(self, active: np.ndarray) -> np.ndarray:
        active = np.asarray(active, dtype=bool) & self.profiled_active()[None, :]
        prof = self.profiled_active()
        dropped = (prof[None, :] & ~active).astype(np.int64) @ self.mult.T
        return self.nevents[None, :] - EVENTS_PER_INSTANCE * dropped

    def predict_many(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(times (C, R) in s, peaks (C, R) in bytes) for rows of ``active`` (C, nloc)."""
        return self._times(active), self._peaks(active)

    def reasons(self, config: Configuration) -> tuple[str, ...]:
        """Why a prediction of ``config`` is not exact (empty: it is)."""
        act = self.active_mask(config)
        out = []
        wake = sorted(i for i in self.profiled_inhibited if act[i])
        if wake:
            shown = ", ".join(self.names[i] for i in wake[:8]) + (" ..." if len(wake) > 8 else "")
            out.append(f"activates {len(wake)} site(s) inhibited in the profiled run ({shown}): "
                       "their costs were not observed and they are predicted as inhibited; "
                       "profile with every site checkpointed for exact predictions")
        if config.snapshots != self.snapshots:
            out.append(f"asks for {config.snapshots} time-loop snapshot(s), the profile was taken "
                       f"with {self.snapshots}: the model is that of {self.snapshots}")
        out += self.notes
        return tuple(out)

    def predict(self, config: Configuration | Iterable[str] = Configuration()) -> Prediction:
        """Predicted per-rank time and peak of ``config`` (a Configuration or site/callee names)."""
        if not isinstance(config, Configuration):
            config = Configuration.from_names(self.table, list(config), self.snapshots)
        act = self.active_mask(config)[None, :]
        t = self._times(act)[0]
        p = self._peaks(act)[0]
        e = self._events(act)[0]
        tp = t + e * self.recording_ns * 1e-9
        reasons = self.reasons(config)
        exact = not any(True for i in self.profiled_inhibited if act[0, i]) and \
            config.snapshots == self.snapshots and self.peaks_verified and \
            not any("repeat" in n or "control bits on the stack" in n for n in self.notes)
        ct = self._cpu_times(act)
        return Prediction(config, t, p, e, tp, exact, reasons, None if ct is None else ct[0])

    def spread_s(self) -> np.ndarray:
        """(R, nloc) standard deviation of a site's per-instance t1t2 (s)."""
        n = np.maximum(self.mult, 1)
        mean = self.t1t2_ns / n
        var = np.maximum(0.0, self.t_sq / n - mean * mean)
        return np.sqrt(var) * 1e-9
