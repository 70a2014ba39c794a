"""The per-rank pass: from one rank's events to per-site cost/benefit.

This is the nested-checkpoint merge of docs/MODEL.md ("Single-flip
estimates"), with the rebase step that makes every single-flip estimate
exact on the execution model.

Vocabulary (docs/MODEL.md)
--------------------------
An *instance* of an active site C is one SNPWRITE/BEGINADVANCE/ENDADVANCE in
its parent's forward sweep, matched (per site, last advanced first reversed)
with one SNPREAD/BEGINREVERSE/ENDREVERSE in the parent's backward sweep. Its

- ``t1t2 = (ENDADVANCE - SNPWRITE) + (BEGINREVERSE - SNPREAD)`` is what
  inhibiting C saves (snapshot write, untaped run, snapshot read);
- ``Snp`` is the stack at BEGINADVANCE.

The reversal of an instance (BEGINREVERSE .. ENDREVERSE) is a *level*; the
whole trace is the root level. A level keeps ``Pk`` (peak stack at the turns
seen in it, nested levels included), ``Tn`` (stack at its highest turn) and, per
group X seen inside it, ``dT_X``, ``dPk_X`` and ``dTn_X``: what inhibiting X
alone would change. When a level C closes inside D, with
``offset = Tn_C + dTn_C(C) - Snp``::

    for X in list(C) + [C]:                       (offset_X = offset if X is C else 0)
        dT_X(D)  += dT_X(C) (+ t1t2 if X is C)
        dTn_X(D) += offset_X
        dPk_X(D)  = max(Pk_D + dPk_X(D) + offset_X, Pk_C + dPk_X(C)) - max(Pk_D, Pk_C)
    for Y in list(D), Y not in list(C) + [C]:     (the rebase step)
        dPk_Y(D)  = max(Pk_D + dPk_Y(D), Pk_C) - max(Pk_D, Pk_C)
    Pk_D = max(Pk_D, Pk_C)

A TURN with stack ``s`` is one more point of the current level: ``Pk`` and
``Tn`` become ``max(., s)`` and the list is rebased on ``s`` the same way (in
a Tapenade-shaped adjoint a level's turn comes before any child closes, so the
list is then empty).

Groups
------
The pass works on *groups*: ``key[loc]`` maps every location index to a group
id (``-1`` for locations that are not checkpoint sites). With one group per
site this gives the per-site estimates (``--granularity site``); with one group
per callee, "X is C" means "C's site calls X's callee", and the same pass gives
exact per-callee estimates (``--granularity callee``).

Conventions of this implementation (both versions behave identically)
------------------------------------------------------------------------
- A new level starts with ``Pk = Tn = stack at BEGINREVERSE`` (its callee's
  tape counts as empty until its turn); the root starts with the stack of the
  first event.
- Repeat sections (STARTREPEAT / RESETREPEAT / ENDREPEAT, Tapenade's
  fixed-point loops) are accepted: RESETREPEAT makes the instances advanced
  before STARTREPEAT reversible again, as Tapenade's profiler does. An
  instance reversed several times counts its advance time and its ``Tn``
  offset once and its snapshot read every time. Estimates for sites inside
  repeat sections are approximate (the model of docs/MODEL.md has no repeats).
- ``dT`` summed over the levels reduces to the plain sum of ``t1t2`` over the
  group's instances; the fast version sums it directly.

Example
-------
>>> import numpy as np
>>> from pyharness.analysis.merge import merge_events
>>> # root pushes 10 B, calls site 0 (snapshot 4 B, callee tape 30 B), turns:
>>> kind  = np.array([1, 2, 3, 7, 4, 5, 7, 6], dtype=np.int8)
>>> loc   = np.array([0, 0, 0, 1, 0, 0, 2, 0], dtype=np.int32)
>>> wall  = np.array([0, 2, 9, 9, 12, 13, 20, 30])
>>> stack = np.array([10, 14, 14, 14, 14, 10, 40, 10])
>>> r = merge_events(kind, loc, wall, wall, stack, key=np.array([0, -1, -1]), method="reference")
>>> int(r.peak), int(r.count[0]), int(r.dt_wall_ns[0]), int(r.dpk[0])
(40, 1, 10, 0)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import IntEnum
from typing import Sequence

import numpy as np

from ..errors import PyharnessError

__all__ = ["EventKind", "TraceError", "MergeResult", "merge_events", "merge_reference",
           "numba_available"]


class EventKind(IntEnum):
    """Event codes of docs/FORMAT.md (Tapenade's ``ADPROFILEADJ_*`` callbacks)."""

    SNPWRITE = 1
    BEGINADVANCE = 2
    ENDADVANCE = 3
    SNPREAD = 4
    BEGINREVERSE = 5
    ENDREVERSE = 6
    TURN = 7
    STARTREPEAT = 8
    RESETREPEAT = 9
    ENDREPEAT = 10


class TraceError(PyharnessError, ValueError):
    """A trace that is not well nested (or has unknown codes).

    Attributes
    ----------
    code : int
        Which check failed (one of the ``E_*`` constants of this module).
    event : int
        Index of the offending event (or of the unfinished one, at the end).
    """

    def __init__(self, message: str, code: int, event: int):
        super().__init__(message)
        self.code = code
        self.event = event


@dataclass(frozen=True, eq=False)
class MergeResult:
    """Per-group estimates of one rank (arrays indexed by group id).

    Attributes
    ----------
    count : int64[G]
        Dynamic instances (reversals) of the group's sites.
    dt_wall_ns, dt_cpu_ns : int64[G]
        Time inhibiting the group would save (sum of t1t2), wall and CPU.
    dpk : int64[G]
        Change of this rank's peak stack if the group alone were inhibited.
    dtn : int64[G]
        Change of the root level's turn stack (kept for completeness).
    peak : int
        The root level's Pk: the rank's peak stack (at turns).
    turn : int
        The root level's Tn.
    nevents : int
    span_wall_ns, span_cpu_ns : int
        Last minus first event time (a fallback for the rank's total time).
    """

    count: np.ndarray
    dt_wall_ns: np.ndarray
    dt_cpu_ns: np.ndarray
    dpk: np.ndarray
    dtn: np.ndarray
    peak: int
    turn: int
    nevents: int
    span_wall_ns: int
    span_cpu_ns: int

    @property
    def ngroups(self) -> int:
        return int(self.count.shape[0])


# ---------------------------------------------------------------------------
# Errors: codes shared with the numba kernel, messages built here
# ---------------------------------------------------------------------------

E_KIND = 1
E_LOC = 2
E_WRITE_PENDING = 3
E_NO_WRITE = 4
E_NO_BEGINADVANCE = 5
E_READ_PENDING = 6
E_NO_READ = 7
E_NO_ADVANCE = 8
E_ADV_OTHER_LEVEL = 9
E_ENDREV_ROOT = 10
E_ENDREV_MISMATCH = 11
E_CLOSE_REPEAT = 12
E_CLOSE_PENDING = 13
E_REPEAT_NONE = 14
E_REPEAT_LEVEL = 15
E_OPEN_LEVEL = 16
E_OPEN_WRITE = 17
E_OPEN_READ = 18
E_UNREVERSED = 19


def _kind_name(k: int) -> str:
    try:
        return EventKind(int(k)).name
    except ValueError:
        return f"kind {int(k)}"


def _trace_error(code: int, event: int, loc: int, other: int, kind: int,
                 names: Sequence[str] | None, nloc: int) -> TraceError:
    """Build the :class:`TraceError` for an error code (both versions use this)."""

    def site(l: int) -> str:
        if names is not None and 0 <= l < len(names):
            return f"site {l} '{names[l]}'"
        return f"site {l}"

    what = f"event {event} ({_kind_name(kind)}"
    what += f" of {site(loc)})" if 1 <= kind <= 6 else ")"
    msgs = {
        E_KIND: f"event {event}: unknown event kind {kind} (kinds are 1-10, see docs/FORMAT.md)",
        E_LOC: f"event {event} ({_kind_name(kind)}): location {loc} is not a checkpoint site "
               f"(the location table has {nloc} entries)",
        E_WRITE_PENDING: f"{what}: the SNPWRITE of this site at event {other} has no ENDADVANCE yet",
        E_NO_WRITE: f"{what}: no SNPWRITE of this site before it",
        E_NO_BEGINADVANCE: f"{what}: no BEGINADVANCE of this site before it",
        E_READ_PENDING: f"{what}: the SNPREAD of this site at event {other} has no BEGINREVERSE yet",
        E_NO_READ: f"{what}: no SNPREAD of this site before it",
        E_NO_ADVANCE: f"{what}: this site has no advanced instance left to reverse",
        E_ADV_OTHER_LEVEL: f"{what}: the instance it reverses was advanced at event {other}, "
                           "inside another checkpoint level",
        E_ENDREV_ROOT: f"{what}: no checkpoint level is open",
        E_ENDREV_MISMATCH: f"{what}: the open checkpoint level is that of {site(other)}",
        E_CLOSE_REPEAT: f"{what}: the repeat section started at event {other} inside this level "
                        "is not ended",
        E_CLOSE_PENDING: f"{what}: {other} instance(s) advanced inside this level were never reversed",
        E_REPEAT_NONE: f"{what}: no repeat section is open",
        E_REPEAT_LEVEL: f"{what}: the repeat section was started at event {other} in another "
                        "checkpoint level",
        E_OPEN_LEVEL: f"the trace ends inside the checkpoint level of {site(loc)} opened at "
                      f"event {event}",
        E_OPEN_WRITE: f"the trace ends inside the advance of {site(loc)} started at event {event}",
        E_OPEN_READ: f"the trace ends between the SNPREAD of {site(loc)} at event {event} and "
                     "its BEGINREVERSE",
        E_UNREVERSED: f"the instance of {site(loc)} advanced at event {event} is never reversed",
    }
    return TraceError("trace is not well nested: " + msgs[code], code, event)


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------

def _prepare(kind, loc, wall_ns, cpu_ns, stack, key, ngroups):
    kind = np.ascontiguousarray(kind, dtype=np.int8)
    loc = np.ascontiguousarray(loc, dtype=np.int32)
    wall = np.ascontiguousarray(wall_ns, dtype=np.int64)
    cpu = np.ascontiguousarray(cpu_ns, dtype=np.int64)
    stack = np.ascontiguousarray(stack, dtype=np.int64)
    key = np.ascontiguousarray(key, dtype=np.int64)
    n = kind.shape[0]
    for name, a in (("loc", loc), ("wall_ns", wall), ("cpu_ns", cpu), ("stack", stack)):
        if a.ndim != 1 or a.shape[0] != n:
            raise ValueError(f"event array '{name}' has shape {a.shape}; expected ({n},) like 'kind'")
    if key.ndim != 1:
        raise ValueError("key must be a 1-D array: one group id per location (-1 for non-sites)")
    if ngroups is None:
        ngroups = int(key.max()) + 1 if key.size else 0
    ngroups = int(ngroups)
    if key.size and (key.min() < -1 or key.max() >= ngroups):
        raise ValueError(f"key values must lie in [-1, {ngroups - 1}] (ngroups={ngroups})")
    return kind, loc, wall, cpu, stack, key, ngroups


def _span(a: np.ndarray) -> int:
    return int(a[-1] - a[0]) if a.shape[0] else 0


# ---------------------------------------------------------------------------
# Reference implementation: plain Python, the rules as written in docs/MODEL.md
# ---------------------------------------------------------------------------

class _Advance:
    """One advanced instance waiting for its reversal."""

    __slots__ = ("event", "t_wall", "t_cpu", "snp", "depth", "reversed")

    def __init__(self, event, t_wall, t_cpu, snp, depth):
        self.event, self.t_wall, self.t_cpu, self.snp, self.depth = event, t_wall, t_cpu, snp, depth
        self.reversed = False


class _Level:
    """A checkpoint level: the reversal of one instance (or the root)."""

    def __init__(self, loc, begin, t1t2_wall, t1t2_cpu, snp, base, first):
        self.loc, self.begin = loc, begin
        self.t1t2_wall, self.t1t2_cpu, self.snp, self.first = t1t2_wall, t1t2_cpu, snp, first
        self.pk = base
        self.tn = base
        self.pending = 0            # instances advanced in this level, not yet reversed
        # per group X seen inside: what inhibiting X alone would change
        self.dt_wall: dict[int, int] = {}
        self.dt_cpu: dict[int, int] = {}
        self.dpk: dict[int, int] = {}
        self.dtn: dict[int, int] = {}


def merge_reference(kind, loc, wall_ns, cpu_ns, stack, key, ngroups: int | None = None, *,
                    names: Sequence[str] | None = None, rebase: bool = True) -> MergeResult:
    """Readable reference version of the per-rank merge (dicts, one Python step per event).

    Parameters
    ----------
    kind, loc, wall_ns, cpu_ns, stack : array_like
        One rank's events (docs/FORMAT.md).
    key : array_like of int
        Group id of each location (``-1`` for locations that are not sites).
    ngroups : int, optional
        Number of groups (default ``key.max() + 1``).
    names : sequence of str, optional
        Location names, used in error messages only.
    rebase : bool
        ``False`` skips the rebase step: Tapenade 2024's rule, known to be
        wrong (docs/MODEL.md); only for demonstrating the difference.

    Returns
    -------
    MergeResult

    Raises
    ------
    TraceError
        If the trace is not well nested (the message gives the event index).
    """
    kind, loc, wall, cpu, stack, key, G = _prepare(kind, loc, wall_ns, cpu_ns, stack, key, ngroups)
    n, nloc = kind.shape[0], key.shape[0]
    kind_l, loc_l = kind.tolist(), loc.tolist()
    wall_l, cpu_l, stack_l, key_l = wall.tolist(), cpu.tolist(), stack.tolist(), key.tolist()

    def fail(code, event, l=-1, other=-1, k=0):
        raise _trace_error(code, event, l, other, k, names, nloc)

    root = _Level(-1, -1, 0, 0, 0, stack_l[0] if n else 0, True)
    levels = [root]
    writes: dict[int, list] = {}     # loc -> [state (1: written, 2: advancing), event, wall, cpu, snp]
    reads: dict[int, tuple] = {}     # loc -> (event, wall, cpu)
    # advanced instances per location, as persistent linked lists (node = (advance, next))
    # so that a repeat section can restore an earlier state
    advanced: dict[int, tuple | None] = {}
    repeats: list[tuple] = []        # (saved advanced lists, level depth, event, saved pending)
    count = [0] * G

    for i in range(n):
        k = kind_l[i]
        if k < 1 or k > 10:
            fail(E_KIND, i, -1, -1, k)
        l = loc_l[i]
        if k <= 6 and not (0 <= l < nloc and key_l[l] >= 0):
            fail(E_LOC, i, l, -1, k)
        cur = levels[-1]
        if k == EventKind.SNPWRITE:
            if l in writes:
                fail(E_WRITE_PENDING, i, l, writes[l][1], k)
            writes[l] = [1, i, wall_l[i], cpu_l[i], 0]
        elif k == EventKind.BEGINADVANCE:
            if l not in writes or writes[l][0] != 1:
                fail(E_NO_WRITE, i, l, -1, k)
            writes[l][0] = 2
            writes[l][4] = stack_l[i]                      # Snp: stack at BEGINADVANCE
        elif k == EventKind.ENDADVANCE:
            if l not in writes or writes[l][0] != 2:
                fail(E_NO_BEGINADVANCE, i, l, -1, k)
            _, _, w0, c0, snp = writes.pop(l)
            adv = _Advance(i, wall_l[i] - w0, cpu_l[i] - c0, snp, len(levels) - 1)
            advanced[l] = (adv, advanced.get(l))
            cur.pending += 1
        elif k == EventKind.SNPREAD:
            if l in reads:
                fail(E_READ_PENDING, i, l, reads[l][0], k)
            reads[l] = (i, wall_l[i], cpu_l[i])
        elif k == EventKind.BEGINREVERSE:
            if l not in reads:
                fail(E_NO_READ, i, l, -1, k)
            if advanced.get(l) is None:
                fail(E_NO_ADVANCE, i, l, -1, k)
            adv, rest = advanced[l]
            if adv.depth != len(levels) - 1:
                fail(E_ADV_OTHER_LEVEL, i, l, adv.event, k)
            advanced[l] = rest
            cur.pending -= 1
            _, w0, c0 = reads.pop(l)
            first = not adv.reversed
            adv.reversed = True
            t_wall = (wall_l[i] - w0) + (adv.t_wall if first else 0)
            t_cpu = (cpu_l[i] - c0) + (adv.t_cpu if first else 0)
            count[key_l[l]] += 1
            levels.append(_Level(l, i, t_wall, t_cpu, adv.snp, stack_l[i], first))
        elif k == EventKind.ENDREVERSE:
            if len(levels) == 1:
                fail(E_ENDREV_ROOT, i, l, -1, k)
            if cur.loc != l:
                fail(E_ENDREV_MISMATCH, i, l, cur.loc, k)
            if repeats and repeats[-1][1] == len(levels) - 1:
                fail(E_CLOSE_REPEAT, i, l, repeats[-1][2], k)
            if cur.pending:
                fail(E_CLOSE_PENDING, i, l, cur.pending, k)
            levels.pop()
            _close(cur, levels[-1], key_l[l], rebase)
        elif k == EventKind.TURN:
            _turn(cur, stack_l[i], rebase)
        elif k == EventKind.STARTREPEAT:
            repeats.append((dict(advanced), len(levels) - 1, i, cur.pending))
        elif k in (EventKind.RESETREPEAT, EventKind.ENDREPEAT):
            if not repeats:
                fail(E_REPEAT_NONE, i, -1, -1, k)
            saved, depth, start, pending = repeats[-1]
            if depth != len(levels) - 1:
                fail(E_REPEAT_LEVEL, i, -1, start, k)
            if k == EventKind.RESETREPEAT:
                advanced = dict(saved)
                cur.pending = pending
            else:
                repeats.pop()

    if len(levels) > 1:
        fail(E_OPEN_LEVEL, levels[-1].begin, levels[-1].loc)
    for l in sorted(writes):
        fail(E_OPEN_WRITE, writes[l][1], l)
    for l in sorted(reads):
        fail(E_OPEN_READ, reads[l][0], l)
    for l in sorted(advanced):
        if advanced[l] is not None:
            fail(E_UNREVERSED, advanced[l][0].event, l)

    def dense(d):
        a = np.zeros(G, dtype=np.int64)
        for g, v in d.items():
            a[g] = v
        return a

    return MergeResult(np.array(count, dtype=np.int64), dense(root.dt_wall), dense(root.dt_cpu),
                       dense(root.dpk), dense(root.dtn), int(root.pk), int(root.tn), int(n),
                       _span(wall), _span(cpu))


def _turn(L: _Level, s: int, rebase: bool) -> None:
    """A turn at stack ``s`` in level L: a new point, the list rebased on it."""
    new_pk, new_tn = max(L.pk, s), max(L.tn, s)
    if rebase:
        for y in L.dpk:
            L.dpk[y] = max(L.pk + L.dpk[y], s) - new_pk
            L.dtn[y] = max(L.tn + L.dtn[y], s) - new_tn
    L.pk, L.tn = new_pk, new_tn


def _close(C: _Level, D: _Level, c: int, rebase: bool) -> None:
    """Merge the closed level C (an instance of group ``c``) into its parent D."""
    offset = C.tn + C.dtn.get(c, 0) - C.snp        # what would stay on the stack through D
    new_pk = max(D.pk, C.pk)
    merged = set(C.dpk) | {c}
    for x in sorted(merged):
        off = offset if x == c else 0
        D.dt_wall[x] = D.dt_wall.get(x, 0) + C.dt_wall.get(x, 0) + (C.t1t2_wall if x == c else 0)
        D.dt_cpu[x] = D.dt_cpu.get(x, 0) + C.dt_cpu.get(x, 0) + (C.t1t2_cpu if x == c else 0)
        # an instance reversed again in a repeat section raises the turn only once
        D.dtn[x] = D.dtn.get(x, 0) + (off if C.first else 0)
        D.dpk[x] = max(D.pk + D.dpk.get(x, 0) + off, C.pk + C.dpk.get(x, 0)) - new_pk
    if rebase:
        for y in D.dpk:
            if y not in merged:
                D.dpk[y] = max(D.pk + D.dpk[y], C.pk) - new_pk
    D.pk = new_pk


# ---------------------------------------------------------------------------
# Dispatch: the numba version when available
# ---------------------------------------------------------------------------

_warned = False


def numba_available() -> bool:
    """True if the compiled (numba) merge can be used."""
    import importlib
    try:
        importlib.import_module(__package__ + "._fastmerge")
    except ImportError:
        return False
    return True


def merge_events(kind, loc, wall_ns, cpu_ns, stack, key, ngroups: int | None = None, *,
                 names: Sequence[str] | None = None, method: str = "auto") -> MergeResult:
    """Per-group cost/benefit of one rank's events: the nested-checkpoint merge.

    Parameters
    ----------
    kind, loc, wall_ns, cpu_ns, stack : array_like
        One rank's event arrays (int8, int32, int64, int64, int64; docs/FORMAT.md).
    key : array_like of int
        Group id per location index: ``arange(nloc)`` style for per-site
        estimates, callee ids for per-callee estimates; ``-1`` for locations
        that are not checkpoint sites (routines).
    ngroups : int, optional
        Number of groups (default ``key.max() + 1``).
    names : sequence of str, optional
        Location names, for error messages.
    method : {"auto", "numba", "reference"}
        ``auto`` uses the compiled version (numba) and falls back to the
        reference, with a warning, if numba cannot be imported.

    Returns
    -------
    MergeResult

    Raises
    ------
    TraceError
        The trace is not well nested; the message names the event index.

    Examples
    --------
    >>> r = merge_events(kind, loc, wall, cpu, stack, key=np.arange(nloc))   # doctest: +SKIP
    >>> r.dt_wall_ns[site], r.dpk[site]                                       # doctest: +SKIP
    """
    global _warned
    if method not in ("auto", "numba", "reference"):
        raise ValueError(f"method '{method}' is unknown: use auto, numba or reference")
    if method == "reference":
        return merge_reference(kind, loc, wall_ns, cpu_ns, stack, key, ngroups, names=names)
    try:
        from ._fastmerge import merge_fast
    except ImportError as exc:
        if method == "numba":
            raise ImportError("method='numba' needs numba: pip install numba") from exc
        if not _warned:
            warnings.warn("numba is not installed: using the pure-Python reference merge, "
                          "slow for large traces (pip install numba)", RuntimeWarning, stacklevel=2)
            _warned = True
        return merge_reference(kind, loc, wall_ns, cpu_ns, stack, key, ngroups, names=names)
    args = _prepare(kind, loc, wall_ns, cpu_ns, stack, key, ngroups)
    out, err = merge_fast(*args)
    if err[0] != 0:
        code, event, l, other, k = (int(v) for v in err)
        raise _trace_error(code, event, l, other, k, names, args[5].shape[0])
    count, dtw, dtc, dpk, dtn, peak, turn = out
    return MergeResult(count, dtw, dtc, dpk, dtn, int(peak), int(turn), int(args[0].shape[0]),
                       _span(args[2]), _span(args[3]))
