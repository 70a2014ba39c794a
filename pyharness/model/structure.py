"""One rank's events reduced to the structure that predicts every configuration.

Per static site ``s`` (indexed by its location index in the profile):
``S(s)`` snapshot bytes (all its instances must agree), the summed snapshot
write, untaped run and snapshot read times over its instances, and ``mult(s)``,
the number of instances. Per reversed callee instance, its taped run
(``BEGINREVERSE`` .. ``ENDREVERSE``) becomes a :class:`Node`: the active calls
inside in order (loops compressed), the bytes the callee pushes itself between
them, and its turn; identical nodes are stored once, so the model is a DAG.
The root (everything outside any reversed callee) is a node too.

Stack amounts are pairs ``(bytes, bits)``: the bytes of everything but control
bits, and the control bits (``PUSHCONTROLnB``, ``PUSHBOOLEAN``). Both add up
along the stack; the stack's size is ``bytes + 4 * (bits // 32)`` (adStack.c
packs 32 bits to a 4-byte word and counts only full words), which is not
additive: a callee's bytes depend on the bit alignment at which it starts. The
runtime records the control bits on the stack at every event (docs/FORMAT.md),
so the pairs are exact; a profile without them is read with ``bits = 0``.

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
           "ENDADVANCE", "SNPREAD", "BEGINREVERSE", "ENDREVERSE", "TURN", "WORD_BITS",
           "stack_bytes", "Amount"]

SNPWRITE, BEGINADVANCE, ENDADVANCE, SNPREAD, BEGINREVERSE, ENDREVERSE, TURN = range(1, 8)
STARTREPEAT, RESETREPEAT, ENDREPEAT = 8, 9, 10
_KIND = {1: "SNPWRITE", 2: "BEGINADVANCE", 3: "ENDADVANCE", 4: "SNPREAD", 5: "BEGINREVERSE",
         6: "ENDREVERSE", 7: "TURN", 8: "STARTREPEAT", 9: "RESETREPEAT", 10: "ENDREPEAT"}


WORD_BITS = 32          # control bits per 4-byte word on the stack (adStack.c)

Amount = tuple[int, int]    # (bytes other than control bits, control bits)


def stack_bytes(a: Amount, align: int = 0) -> int:
    """Stack bytes an amount adds on top of a stack holding ``align`` (mod 32)
    control bits: its bytes plus 4 per control word it completes.

    >>> stack_bytes((8, 40)), stack_bytes((8, 40), 24), stack_bytes((0, 31))
    (12, 16, 0)
    """
    return a[0] + 4 * ((align + a[1]) // WORD_BITS)


# While reducing, an amount (b, c) travels as the one integer b * _M + c: sums,
# differences and equality are those of the pairs (|c| < _M / 2), at the speed of
# plain integers; _dec gives the pair back.
# Without control bits the integer is the bytes (_dec0).
_M = 1 << 40
_H = _M // 2


def _dec(v: int) -> Amount:
    b, c = divmod(v, _M)
    return (b + 1, c - _M) if c >= _H else (b, c)


def _dec0(v: int) -> Amount:
    return (v, 0)


def _fmt(v: int, dec=_dec) -> str:
    b, c = dec(v)
    return f"{b} bytes" if not c else f"{b} bytes and {c} control bits"


class StructureError(PyharnessError, ValueError):
    """A trace the model cannot be built from (the message names site and event)."""


@dataclass(frozen=True)
class Node:
    """A callee's taped run (or the root), identified by its structure."""

    items: tuple[tuple[int, Amount, int, Amount, int, int], ...]   # (anchor, gap, site, snap, child, count)
    points: tuple[tuple[int, Amount], ...]                         # (anchor, offset)
    tape: tuple[int, Amount]                                        # (anchor, offset)

    @property
    def has_bits(self) -> bool:
        """Whether any of the node's own amounts holds control bits."""
        return (any(g[1] or sn[1] for _, g, _, sn, _, _ in self.items)
                or any(o[1] for _, o in self.points) or bool(self.tape[1][1]))

    def bound(self) -> "Node":
        """The node with every amount replaced by ``bytes + bits / 8``: an upper bound
        of the stack bytes it adds at any alignment, short of them by less than 4
        (linear, for the MILP; the exact values come from :func:`stack_bytes`)."""
        lin = lambda a: a[0] + a[1] / 8 if a[1] else a[0]
        pts: dict[int, float] = {}
        for a, off in self.points:
            pts[a] = max(pts.get(a, -np.inf), lin(off))
        return Node(tuple((a, lin(g), s, lin(sn), c, n) for a, g, s, sn, c, n in self.items),
                    tuple(sorted(pts.items())), (self.tape[0], lin(self.tape[1])))

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
    snap: np.ndarray          # int64: snapshot bytes (control bits aside), -1 where never seen
    mult: np.ndarray          # int64: instances
    sw_ns: np.ndarray         # float64: snapshot writes (SNPWRITE..BEGINADVANCE)
    u_ns: np.ndarray          # float64: untaped runs (BEGINADVANCE..ENDADVANCE)
    sr_ns: np.ndarray         # float64: snapshot reads (SNPREAD..BEGINREVERSE)
    t_sq: np.ndarray          # float64: sum of squared per-instance t1t2 (ns^2), for the spread
    nevents: int
    notes: list[str] = field(default_factory=list)
    snap_bits: np.ndarray | None = None    # int64: control bits of the snapshot (None: 0)
    t1t2_cpu_ns: np.ndarray | None = None  # float64: the same intervals in process CPU time

    @property
    def t1t2_ns(self) -> np.ndarray:
        return self.sw_ns + self.u_ns + self.sr_ns


class _Level:
    __slots__ = ("site", "item", "base", "items", "P", "held", "points", "tape", "event")

    def __init__(self, site: int, item: int, base: int, event: int):
        self.site = site          # site whose reversal this is (-1: root)
        self.item = item          # the parent's item being reversed
        self.base = base
        self.items: list[list] = []         # [anchor, gap, site, snap, child, count]
        self.P: list[int] = []              # profile value of each item (relative to base), encoded
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


def _pareto(offs: list[Amount]) -> list[Amount]:
    """The amounts no other one covers in both bytes and bits (the only ones that
    can be the highest, whatever the alignment)."""
    if len(offs) == 1:
        return offs
    out: list[Amount] = []
    for o in sorted(set(offs), key=lambda v: (-v[0], -v[1])):
        if not out or o[1] > max(v[1] for v in out):
            out.append(o)
    return out


def _compress(items: list[list], points: list[tuple[int, int]], tape: tuple[int, int], dec=_dec):
    """Merge consecutive identical calls (same site, snapshot and child, no bytes
    between, nothing else anchored on the first) into one call with a count.
    Amounts come encoded (one integer each) and leave as (bytes, bits) pairs."""
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
    items_t = tuple((a, dec(g), s, dec(sn), c, cnt) for a, g, s, sn, c, cnt in out)
    by: dict[int, list[Amount]] = {}
    for a, off in points:
        by.setdefault(new_of[a] if a >= 0 else -1, []).append(dec(off))
    pts = tuple((a, o) for a in sorted(by) for o in _pareto(by[a]))
    tp = (new_of[tape[0]] if tape[0] >= 0 else -1, dec(tape[1]))
    return items_t, pts, tp


def reduce_rank(kind, loc, wall_ns, stack, names, *, rank: int = 0, nloc: int | None = None,
                ctl_bits=None, cpu_ns=None) -> RankModel:
    """Reduce one rank's events to its :class:`RankModel`.

    Parameters
    ----------
    kind, loc, wall_ns, stack : arrays of one rank's events (docs/FORMAT.md)
    names : location names, for messages
    ctl_bits : control bits on the stack at each event (None: no control bits)
    rank : the rank (messages)
    nloc : number of locations (default ``len(names)``)
    cpu_ns : the events' process CPU times (profiles taken with ``--cpu-clock``), or None;
        with them the model also predicts CPU time, which other jobs on the machine do
        not inflate

    Raises
    ------
    StructureError
        Instances of one site disagree in snapshot bytes, or the trace does not
        nest; the message names the rank, the site and the event.
    """
    kind = np.asarray(kind).astype(np.int64).tolist()
    loc = np.asarray(loc).astype(np.int64).tolist()
    wall = np.asarray(wall_ns).astype(np.int64).tolist()
    stk_a = np.asarray(stack).astype(np.int64)
    stk = stk_a.tolist()
    cpu = np.asarray(cpu_ns).astype(np.int64).tolist() if cpu_ns is not None else [0] * len(kind)
    if ctl_bits is None:
        ctl_a = np.zeros(len(stk), dtype=np.int64)
    else:
        ctl_a = np.asarray(ctl_bits).astype(np.int64)
        if len(ctl_a) != len(stk):
            raise StructureError(f"rank {rank}: {len(ctl_a)} control-bit counts for {len(stk)} events")
    # (bytes other than control words, control bits) at each event, encoded
    if not ctl_a.any():
        amt, dec = stk, _dec0
    else:
        amt = [b * _M + c for b, c in zip((stk_a - 4 * (ctl_a // WORD_BITS)).tolist(), ctl_a.tolist())]
        dec = _dec
    nloc = len(names) if nloc is None else nloc
    snap = np.full(nloc, -1, dtype=np.int64)
    snapb = np.zeros(nloc, dtype=np.int64)
    snaps: dict[int, int] = {}
    snap_event = [-1] * nloc
    mult = np.zeros(nloc, dtype=np.int64)
    sw = np.zeros(nloc)
    u = np.zeros(nloc)
    sr = np.zeros(nloc)
    tsq = np.zeros(nloc)
    ct = np.zeros(nloc)
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
        items, pts, tp = _compress(L.items, L.points, tape, dec)
        return intern(Node(items, pts, tp))

    levels = [_Level(-1, -1, 0, 0)]
    L = levels[0]
    fwd = None          # open forward call: [site, event, amount at SNPWRITE, wall now, stage, wall at SNPWRITE, cpu at SNPWRITE]
    rev = None          # open reverse: (site, item, event, wall at SNPREAD, cpu at SNPREAD)
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
                nb = amt[i] - fwd[2]
                if s not in snaps:
                    snaps[s] = nb
                    snap[s], snapb[s] = dec(nb)
                    snap_event[s] = i
                elif snaps[s] != nb:
                    fail(i, f"this instance's snapshot is {_fmt(nb, dec)}, the one at event "
                            f"#{snap_event[s]} was {_fmt(snaps[s], dec)}: instances of one site must agree")
                sw[s] += wall[i] - fwd[3]
                fwd[3] = wall[i]
                fwd[4] = BEGINADVANCE
                continue
            # ENDADVANCE
            if amt[i] != fwd[2] + snaps[s]:
                fail(i, f"the stack moved by {_fmt(amt[i] - fwd[2] - snaps[s], dec)} during "
                        "the untaped run")
            u[s] += wall[i] - fwd[3]
            ct[s] += cpu[i] - fwd[6]
            a, pa = L.anchor()
            L.items.append([a, fwd[2] - L.base - pa, s, snaps[s], -1, 1])
            L.P.append(amt[i] - L.base)
            L.held.append(len(L.items) - 1)
            mult[s] += 1
            tfwd[(len(levels), len(L.items) - 1)] = wall[i] - fwd[5]
            fwd = None
            continue
        if rev is not None:
            if k != BEGINREVERSE or s != rev[0]:
                fail(i, f"expected BEGINREVERSE of {name(rev[0])} (its SNPREAD is event #{rev[2]}): "
                        "the trace does not nest")
            expect = L.base + L.P[rev[1]] - snaps[s]
            if amt[i] != expect:
                fail(i, f"the stack is {_fmt(amt[i], dec)} after the snapshot was read, "
                        f"{_fmt(expect, dec)} expected from its forward call: the trace does not nest")
            sr[s] += wall[i] - rev[3]
            ct[s] += cpu[i] - rev[4]
            t = tfwd.pop((len(levels), rev[1]), 0) + wall[i] - rev[3]
            tsq[s] += float(t) * float(t)
            levels.append(_Level(s, rev[1], amt[i], i))
            L = levels[-1]
            rev = None
            continue
        if k == SNPWRITE:
            if s < 0 or s >= nloc:
                fail(i, "unknown location")
            fwd = [s, i, amt[i], wall[i], SNPWRITE, wall[i], cpu[i]]
        elif k == SNPREAD:
            if not L.held:
                fail(i, f"no forward call is pending in {'the root' if L.site < 0 else name(L.site)}: "
                        "the trace does not nest")
            top = L.held[-1]
            if L.items[top][2] != s:
                fail(i, f"the last forward call not yet reversed here is {name(L.items[top][2])}: "
                        "the trace does not nest")
            expect = L.base + L.P[top]
            if amt[i] != expect:
                fail(i, f"the stack is {_fmt(amt[i], dec)}, {_fmt(expect, dec)} expected from its "
                        "forward call: the trace does not nest")
            rev = (s, top, i, wall[i], cpu[i])
        elif k == ENDREVERSE:
            if L.site < 0 or s != L.site:
                fail(i, "no reversal of this site is open: the trace does not nest")
            if amt[i] != L.base:
                fail(i, f"the reversal of {name(s)} (BEGINREVERSE at event #{L.event}) leaves "
                        f"{_fmt(amt[i] - L.base, dec)} on the stack")
            child = close(L, i)
            levels.pop()
            parent = levels[-1]
            parent.items[L.item][4] = child
            parent.held.pop()
            L = parent
        elif k == TURN:
            a, pa = L.anchor()
            off = amt[i] - L.base - pa
            if L.site >= 0 and L.tape is None:
                L.tape = (a, off)
            L.points.append((a, off))
        elif k in (STARTREPEAT, RESETREPEAT, ENDREPEAT):
            repeats = True
            a, pa = L.anchor()
            L.points.append((a, amt[i] - L.base - pa))
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
    return RankModel(rank, nodes, root, snap, mult, sw, u, sr, tsq, n, notes, snapb,
                     ct if cpu_ns is not None else None)
