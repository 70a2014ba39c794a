"""One rank's events reduced to the structure that predicts every configuration.

Per static site ``s`` (indexed by its location index in the profile):
``S(s)`` snapshot bytes (all its instances must agree), the summed snapshot
write, untaped run and snapshot read times over its instances, and ``mult(s)``,
the number of instances. Per reversed callee instance, its taped run
(``BEGINREVERSE`` .. ``ENDREVERSE``) becomes a :class:`Node`: the active calls
inside in order (loops compressed), the bytes the callee pushes itself between
them, and its turn; identical nodes are stored once, so the model is a DAG.
The root (everything outside any reversed callee) is a node too.

How a node is written down (docs/MODEL.md has the whole model):

- ``items``: the forward calls, each ``(anchor, gap, site, snap, child, count)``.
  A call's stack contribution is ``y = snap`` when its site is active, else
  the child's tape. Its value ``Q = Q[anchor] + gap + count * y`` is the stack
  (relative to the node's base) right after its last forward iteration, where
  ``Q[-1] = 0`` and ``anchor`` is the call whose bytes were the top of the
  stack when this one started (a chain for an ordinary callee; branches at the
  root when binomial checkpointing reverses time steps one by one).
- when the call is reversed (its first reversed iteration being the highest):
  the child runs at ``Q[anchor] + gap + (count - 1) * y`` and reaches that
  plus the child's peak ``R(child)``.
- ``points``: own stack values seen at turns, ``(anchor, offset)``.
- ``tape``: ``(anchor, offset)`` of the node's turn: its tape, the bytes it
  leaves on the stack when its caller inhibits its checkpoint.

A trace that does not nest (a reverse without its forward call, stacks that do
not match) raises :class:`StructureError` naming the site and the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import PyharnessError

__all__ = ["StructureError", "Node", "RankModel", "reduce_rank", "SNPWRITE", "BEGINADVANCE",
           "ENDADVANCE", "SNPREAD", "BEGINREVERSE", "ENDREVERSE", "TURN"]

SNPWRITE, BEGINADVANCE, ENDADVANCE, SNPREAD, BEGINREVERSE, ENDREVERSE, TURN = range(1, 8)
STARTREPEAT, RESETREPEAT, ENDREPEAT = 8, 9, 10
_KIND = {1: "SNPWRITE", 2: "BEGINADVANCE", 3: "ENDADVANCE", 4: "SNPREAD", 5: "BEGINREVERSE",
         6: "ENDREVERSE", 7: "TURN", 8: "STARTREPEAT", 9: "RESETREPEAT", 10: "ENDREPEAT"}


class StructureError(PyharnessError, ValueError):
    """A trace the model cannot be built from (the message names site and event)."""


@dataclass(frozen=True)
class Node:
    """A callee's taped run (or the root), identified by its structure."""

    items: tuple[tuple[int, int, int, int, int, int], ...]   # (anchor, gap, site, snap, child, count)
    points: tuple[tuple[int, int], ...]                        # (anchor, offset)
    tape: tuple[int, int]                                       # (anchor, offset)

    def remap(self, ids) -> "Node":
        """The same node with child ids translated by ``ids``."""
        return Node(tuple((a, g, s, sn, int(ids[c]), n) for a, g, s, sn, c, n in self.items),
                    self.points, self.tape)


@dataclass
class RankModel:
    """One rank's model: its nodes (children before parents), root and site figures.

    Arrays are indexed by location index of the profile (routines stay 0).
    Times are sums over the site's instances, in ns, as measured (event costs
    included: :class:`~pyharness.model.cost.CostModel` takes them out).
    """

    rank: int
    nodes: list[Node]
    root: int
    snap: np.ndarray          # int64: snapshot bytes, -1 where never seen
    mult: np.ndarray          # int64: instances
    sw_ns: np.ndarray         # float64: snapshot writes (SNPWRITE..BEGINADVANCE)
    u_ns: np.ndarray          # float64: untaped runs (BEGINADVANCE..ENDADVANCE)
    sr_ns: np.ndarray         # float64: snapshot reads (SNPREAD..BEGINREVERSE)
    t_sq: np.ndarray          # float64: sum of squared per-instance t1t2 (ns^2), for the spread
    nevents: int
    notes: list[str] = field(default_factory=list)

    @property
    def t1t2_ns(self) -> np.ndarray:
        return self.sw_ns + self.u_ns + self.sr_ns


class _Level:
    __slots__ = ("site", "item", "base", "items", "P", "held", "points", "tape", "event")

    def __init__(self, site: int, item: int, base: int, event: int):
        self.site = site          # site whose reversal this is (-1: root)
        self.item = item          # the parent's item being reversed
        self.base = base
        self.items: list[list[int]] = []    # [anchor, gap, site, snap, child, count]
        self.P: list[int] = []              # profile value of each item (relative to base)
        self.held: list[int] = []           # items whose reverse is pending (LIFO)
        self.points: list[tuple[int, int]] = []
        self.tape: tuple[int, int] | None = None
        self.event = event

    def anchor(self) -> tuple[int, int]:
        """(top item, its profile value) of the held chain."""
        if self.held:
            k = self.held[-1]
            return k, self.P[k]
        return -1, 0


def _compress(items: list[list[int]], points: list[tuple[int, int]], tape: tuple[int, int]):
    """Merge consecutive identical calls (same site, snapshot and child, no bytes
    between, nothing else anchored on the first) into one call with a count."""
    n = len(items)
    refs = [0] * n
    for it in items:
        if it[0] >= 0:
            refs[it[0]] += 1
    for a, _ in points:
        if a >= 0:
            refs[a] += 1
    if tape[0] >= 0:
        refs[tape[0]] += 1
    new_of = [0] * n
    out: list[list[int]] = []
    for j, it in enumerate(items):
        a, g, s, sn, c, cnt = it
        if out and a == j - 1 and g == 0 and refs[j - 1] == 1:
            last = out[-1]
            if last[2] == s and last[3] == sn and last[4] == c:
                last[5] += cnt
                new_of[j] = len(out) - 1
                new_of[j - 1] = len(out) - 1
                continue
        out.append([new_of[a] if a >= 0 else -1, g, s, sn, c, cnt])
        new_of[j] = len(out) - 1
    items_t = tuple(tuple(x) for x in out)
    best: dict[int, int] = {}
    for a, off in points:
        key = new_of[a] if a >= 0 else -1
        if key not in best or off > best[key]:
            best[key] = off
    pts = tuple(sorted(best.items()))
    tp = (new_of[tape[0]] if tape[0] >= 0 else -1, tape[1])
    return items_t, pts, tp


def reduce_rank(kind, loc, wall_ns, stack, names, *, rank: int = 0, nloc: int | None = None) -> RankModel:
    """Reduce one rank's events to its :class:`RankModel`.

    Parameters
    ----------
    kind, loc, wall_ns, stack : arrays of one rank's events (docs/FORMAT.md)
    names : location names, for messages
    rank : the rank (messages)
    nloc : number of locations (default ``len(names)``)

    Raises
    ------
    StructureError
        Instances of one site disagree in snapshot bytes, or the trace does not
        nest; the message names the rank, the site and the event.
    """
    kind = np.asarray(kind).astype(np.int64).tolist()
    loc = np.asarray(loc).astype(np.int64).tolist()
    wall = np.asarray(wall_ns).astype(np.int64).tolist()
    stk = np.asarray(stack).astype(np.int64).tolist()
    nloc = len(names) if nloc is None else nloc
    snap = np.full(nloc, -1, dtype=np.int64)
    snap_event = [-1] * nloc
    mult = np.zeros(nloc, dtype=np.int64)
    sw = np.zeros(nloc)
    u = np.zeros(nloc)
    sr = np.zeros(nloc)
    tsq = np.zeros(nloc)
    notes: list[str] = []
    node_ids: dict[Node, int] = {}
    nodes: list[Node] = []

    def name(l: int) -> str:
        return names[l] if 0 <= l < len(names) else f"location {l}"

    def fail(i: int, msg: str):
        raise StructureError(f"rank {rank}: event #{i} ({_KIND.get(kind[i], kind[i])} of "
                             f"{name(loc[i])}): {msg}")

    def intern(nd: Node) -> int:
        got = node_ids.get(nd)
        if got is None:
            got = node_ids[nd] = len(nodes)
            nodes.append(nd)
        return got

    def close(L: _Level, i: int) -> int:
        if L.held:
            k = L.held[-1]
            raise StructureError(
                f"rank {rank}: the forward call of {name(L.items[k][2])} inside "
                f"{'the root' if L.site < 0 else name(L.site)} was never reversed "
                f"(the level closes at event #{i}): the trace does not nest")
        tape = L.tape
        if tape is None:
            tape = (-1, 0)
            if L.site >= 0 and L.items:
                notes.append(f"rank {rank}: the reversal of {name(L.site)} has no TURN event: "
                             "its tape is taken as its active calls' bytes only")
        items, pts, tp = _compress(L.items, L.points, tape)
        return intern(Node(items, pts, tp))

    levels = [_Level(-1, -1, 0, 0)]
    L = levels[0]
    fwd = None          # open forward call: [site, event, stack at SNPWRITE, wall now, stage, wall at SNPWRITE]
    rev = None          # open reverse: (site, item, event, wall at SNPREAD)
    tfwd: dict[tuple[int, int], int] = {}   # (level depth, item) -> write + untaped time of that instance
    repeats = False
    n = len(kind)
    for i in range(n):
        k = kind[i]
        s = loc[i]
        if fwd is not None:
            if s != fwd[0] or k != fwd[4] + 1:
                fail(i, f"expected {_KIND[fwd[4] + 1]} of {name(fwd[0])} (its "
                        f"{_KIND[fwd[4]]} is event #{fwd[1]}): the trace does not nest")
            if k == BEGINADVANCE:
                nb = stk[i] - fwd[2]
                if snap[s] < 0:
                    snap[s] = nb
                    snap_event[s] = i
                elif snap[s] != nb:
                    fail(i, f"this instance's snapshot is {nb} bytes, the one at event "
                            f"#{snap_event[s]} was {snap[s]} bytes: instances of one site must agree")
                sw[s] += wall[i] - fwd[3]
                fwd[3] = wall[i]
                fwd[4] = BEGINADVANCE
                continue
            # ENDADVANCE
            if stk[i] != fwd[2] + snap[s]:
                fail(i, f"the stack moved by {stk[i] - fwd[2] - snap[s]} bytes during the untaped run")
            u[s] += wall[i] - fwd[3]
            a, pa = L.anchor()
            L.items.append([a, fwd[2] - L.base - pa, s, int(snap[s]), -1, 1])
            L.P.append(stk[i] - L.base)
            L.held.append(len(L.items) - 1)
            mult[s] += 1
            tfwd[(len(levels), len(L.items) - 1)] = wall[i] - fwd[5]
            fwd = None
            continue
        if rev is not None:
            if k != BEGINREVERSE or s != rev[0]:
                fail(i, f"expected BEGINREVERSE of {name(rev[0])} (its SNPREAD is event #{rev[2]}): "
                        "the trace does not nest")
            expect = L.base + L.P[rev[1]] - int(snap[s])
            if stk[i] != expect:
                fail(i, f"the stack is {stk[i]} bytes after the snapshot was read, {expect} bytes "
                        "expected from its forward call: the trace does not nest")
            sr[s] += wall[i] - rev[3]
            t = tfwd.pop((len(levels), rev[1]), 0) + wall[i] - rev[3]
            tsq[s] += float(t) * float(t)
            levels.append(_Level(s, rev[1], stk[i], i))
            L = levels[-1]
            rev = None
            continue
        if k == SNPWRITE:
            if s < 0 or s >= nloc:
                fail(i, "unknown location")
            fwd = [s, i, stk[i], wall[i], SNPWRITE, wall[i]]
        elif k == SNPREAD:
            if not L.held:
                fail(i, f"no forward call is pending in {'the root' if L.site < 0 else name(L.site)}: "
                        "the trace does not nest")
            top = L.held[-1]
            if L.items[top][2] != s:
                fail(i, f"the last forward call not yet reversed here is {name(L.items[top][2])}: "
                        "the trace does not nest")
            expect = L.base + L.P[top]
            if stk[i] != expect:
                fail(i, f"the stack is {stk[i]} bytes, {expect} bytes expected from its forward "
                        "call: the trace does not nest")
            rev = (s, top, i, wall[i])
        elif k == ENDREVERSE:
            if L.site < 0 or s != L.site:
                fail(i, "no reversal of this site is open: the trace does not nest")
            if stk[i] != L.base:
                fail(i, f"the reversal of {name(s)} (BEGINREVERSE at event #{L.event}) leaves "
                        f"{stk[i] - L.base} bytes on the stack")
            child = close(L, i)
            levels.pop()
            parent = levels[-1]
            parent.items[L.item][4] = child
            parent.held.pop()
            L = parent
        elif k == TURN:
            a, pa = L.anchor()
            off = stk[i] - L.base - pa
            if L.site >= 0 and L.tape is None:
                L.tape = (a, off)
            L.points.append((a, off))
        elif k in (STARTREPEAT, RESETREPEAT, ENDREPEAT):
            repeats = True
            a, pa = L.anchor()
            L.points.append((a, stk[i] - L.base - pa))
        else:
            fail(i, f"unexpected event kind {k}")
    if fwd is not None:
        raise StructureError(f"rank {rank}: the trace ends inside the forward call of {name(fwd[0])} "
                             f"(SNPWRITE at event #{fwd[1]})")
    if rev is not None or len(levels) > 1:
        site = rev[0] if rev is not None else levels[-1].site
        raise StructureError(f"rank {rank}: the trace ends inside the reversal of {name(site)}")
    if repeats:
        notes.append(f"rank {rank}: repeat (fixed-point) sections: their stack resets are not "
                     "modelled, peaks inside them are approximate")
    root = close(levels[0], n)
    return RankModel(rank, nodes, root, snap, mult, sw, u, sr, tsq, n, notes)
