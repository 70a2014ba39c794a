"""The exact optimum by dynamic programming over the call tree (one rank).

The peak recursion (docs/MODEL.md) is monotone: a node's tape ``T`` and peak ``R``
only grow with its children's, and the time is a sum over sites. So for every
node N the configurations of the sites below it are summed up, exactly, by their
*Pareto set* of (time, T, R): a configuration another one beats in all three can
never be part of a better whole, whatever happens around N. The sets are built
children first, walking each node's calls in order with the state (time, Q, peak
so far); states whose peak exceeds what the budget leaves the node (the budget
minus the lowest base at which it runs) are dropped; the root's fastest state is
the optimum. Nothing is approximated: this is exhaustive search with dominated
partial configurations discarded.

The model is a DAG: a node is stored once however many calls run it, and a site
may occur in several nodes. The programme above decides every call of the
*unfolded* tree on its own (a shared node's callers may pick different entries of
its set), with each site's time split over its instances; that is a relaxation
(every configuration is one of its choices, at the same time), so its optimum is
a lower bound, and it is the optimum when its choice gives every site one value.
When it does not, the search branches on a site that got both values (fixed
checkpointed in one branch, inhibited in the other; best bound first) until the
best choice is consistent. Applies to one rank (the objective is a sum, not the
slowest of several ranks), site granularity and profiles without control bits
(the exact peak is then linear); elsewhere only the MILP (:mod:`.milp`) solves.
``optimize(..., method="dp")`` (``--method dp``) runs it; the MILP stays the
default because the sets grow too large beyond a few hundred sites (docs/MODEL.md
has the figures).
"""

from __future__ import annotations

import heapq
import time
from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

from .bounds import all_high, lowest_bases, unit_value

__all__ = ["DPResult", "dp_applicable", "solve_dp"]


def dp_applicable(model, units) -> str | None:
    """Why the programme cannot solve this model (None: it can)."""
    if model.nranks != 1:
        return "more than one rank (the objective is the slowest rank's time)"
    if model.has_control_bits:
        return "control bits (the peak is not linear in whole words)"
    if any(len(m) != 1 for m in units.members):
        return "units of several sites (callee granularity)"
    nodes = model.bound_nodes
    for i in _reachable(nodes, int(model.roots[0])):
        nd = nodes[i]
        for j, it in enumerate(nd.items):
            if it[0] != j - 1:
                return "calls that do not nest as a chain (binomial time steps)"
        n = len(nd.items)
        if nd.tape[0] not in (-1, n - 1):
            return "a turn between calls"
        if any(a >= n for a, _ in nd.points):
            return "a point after the turn"
    return None


def _reachable(nodes, root: int) -> list[int]:
    seen = {root}
    todo = [root]
    while todo:
        i = todo.pop()
        for it in nodes[i].items:
            c = it[4]
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return sorted(seen)


def _pareto2(t: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Indices of the points no other beats in both t and r (ties: one kept)."""
    if len(t) <= 1:
        return np.arange(len(t))
    order = np.lexsort((r, t))
    rr = r[order]
    prev = np.minimum.accumulate(np.concatenate(([np.iinfo(np.int64).max], rr[:-1])))
    return order[rr < prev]


def _pareto3(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Indices of the points no other beats (<=) in all of t, a, b (of equal points,
    one is kept). Sorted by t, each point is checked against the 2-D staircase of
    (a, b) of the points before it: vectorised per batch, exact."""
    n = len(t)
    if n <= 1:
        return np.arange(n)
    order = np.lexsort((b, a, t))
    a_s = a[order]
    b_s = b[order]
    SA: list[int] = []          # staircase: a ascending, b strictly descending
    SB: list[int] = []
    keep: list[int] = []
    batch = 256
    pos = 0
    while pos < n:
        hi = min(n, pos + batch)
        ca = a_s[pos:hi]
        cb = b_s[pos:hi]
        if SA:
            sa = np.asarray(SA)
            sb = np.asarray(SB)
            k = np.searchsorted(sa, ca, side="right") - 1
            dom = (k >= 0) & (sb[np.maximum(k, 0)] <= cb)
            cand = np.flatnonzero(~dom)
        else:
            cand = np.arange(hi - pos)
        for j in cand.tolist():
            x = int(ca[j])
            y = int(cb[j])
            q = bisect_right(SA, x) - 1
            if q >= 0 and SB[q] <= y:
                continue
            keep.append(pos + j)
            # insert, dropping the staircase points the new one beats
            ins = q if (q >= 0 and SA[q] == x) else q + 1
            end = ins
            while end < len(SA) and SB[end] >= y:
                end += 1
            SA[ins:end] = [x]
            SB[ins:end] = [y]
        pos = hi
        batch = min(batch * 2, 1 << 16)
    return order[np.asarray(keep, dtype=np.int64)]


@dataclass
class _Set:
    """A node's Pareto set: per entry its time t (s, per instance of the node), tape T
    and peak R; how each entry was made (per call: previous state, decision, child
    entry) and its projection on (t, R) for callers that checkpoint it."""

    t: np.ndarray
    T: np.ndarray
    R: np.ndarray
    steps: list = field(default_factory=list)      # per item: (prev, x, child entry)
    final: np.ndarray | None = None                # entry -> state index after the last item
    proj: np.ndarray | None = None                 # entries kept for (t, R)


@dataclass
class DPResult:
    x: np.ndarray | None           # activation per unit (None: nothing fits)
    bound: float                   # lower bound of the time (s; the optimum when proven)
    proven: bool
    complete: bool                 # the search ended (not stopped by the time limit)
    nodes_explored: int
    largest_set: int
    seconds: float


class _OutOfTime(Exception):
    pass


class _Programme:
    def __init__(self, model, units, budget: int, fixed: dict[int, bool]):
        self.deadline = np.inf
        self.thr = np.inf       # states at least this slow (s, above the constant) are dropped
        self.model = model
        self.units = units
        self.nodes = model.bound_nodes
        self.root = int(model.roots[0])
        self.order = _reachable(self.nodes, self.root)       # children first
        self.budget = int(budget)
        self.unit_of = {mem[0]: u for u, mem in enumerate(units.members)}
        # instances of every node in the unfolded tree, and of every site through it
        m = {i: 0 for i in self.order}
        m[self.root] = 1
        for i in reversed(self.order):
            for a, g, s, sn, c, cnt in self.nodes[i].items:
                m[c] += m[i] * cnt
        inst: dict[int, int] = {}
        for i in self.order:
            for a, g, s, sn, c, cnt in self.nodes[i].items:
                inst[s] = inst.get(s, 0) + m[i] * cnt
        W = model.site_weight_s()[0]
        self.wpi = {s: float(W[s]) / n for s, n in inst.items() if n > 0}
        # sites below each node (for the cache of sets under fixings)
        below: dict[int, frozenset] = {}
        for i in self.order:
            acc = set()
            for a, g, s, sn, c, cnt in self.nodes[i].items:
                acc.add(s)
                acc |= below[c]
            below[i] = frozenset(acc)
        self.below = below
        self.cache: dict[tuple, _Set] = {}
        self.largest = 0
        # what the budget leaves each node: the budget minus the lowest base at which it
        # runs (under the fixings of the presolve; branching only raises the bases)
        base = lowest_bases(model, units, fixed)
        self.cap = {i: self.budget - base[i] for i in self.order}
        # Loose nodes: a node whose every point, in every configuration and at its highest
        # base, stays within the budget can never break it: its peak R is replaced by
        # its largest (all-high) value, and its tape T too when every point above the
        # tape in any caller stays within the budget. Feasibility is then the same for
        # every state (whatever those values reach is within the budget in every
        # context), and the sets lose those dimensions (docs/MODEL.md).
        hi = all_high(model, units, fixed)
        self.loose_R: dict[int, float] = {}
        self.loose_T: dict[int, float] = {}
        if hi is not None:
            Rhi, tmax, base_hi, _, up = hi
            for i in self.order:
                if base_hi[i] + Rhi[i] <= self.budget:
                    self.loose_R[i] = int(Rhi[i])
                if i != self.root and up[i] <= self.budget:
                    self.loose_T[i] = int(tmax[i])

    def _value(self, s: int, fixed: dict[int, bool]):
        return unit_value(self.units, self.unit_of, fixed, s)

    def _build(self, i: int, fixed: dict[int, bool], cap: float, sets: dict[int, _Set]) -> _Set:
        nd = self.nodes[i]
        t = np.zeros(1)
        Q = np.zeros(1, dtype=np.int64)
        Rm = np.zeros(1, dtype=np.int64)
        pts: dict[int, int] = {}
        for a, off in nd.points:
            pts[a] = max(pts.get(a, off), off)
        if -1 in pts:
            Rm = np.maximum(Rm, pts[-1])
        steps = []
        keep_r = i not in self.loose_R          # else no point of the node can break the budget
        keep_q = keep_r or i not in self.loose_T
        if not keep_r:
            Rm = np.zeros(1, dtype=np.int64)
        for j, (a, g, s, sn, c, cnt) in enumerate(nd.items):
            ch = sets[c]
            v = self._value(s, fixed)
            w = self.wpi.get(s, 0.0)
            # candidates per block of states (bounded memory), each block filtered
            step = max(1, (1 << 20) // max(1, len(ch.t)))
            blocks = []
            for lo in range(0, len(t), step):
                blk = self._merge(t[lo:lo + step], Q[lo:lo + step], Rm[lo:lo + step], lo,
                                  g, sn, cnt, w, v, ch, cap, keep_r, keep_q, self.thr)
                if len(blk[0]):
                    blocks.append(blk)
            if not blocks:
                t = np.zeros(0)
                Q = Rm = np.zeros(0, dtype=np.int64)
                steps.append((np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64)))
                break
            t, Q, Rm, prev, xs, es = (np.concatenate(z) for z in zip(*blocks))
            if len(blocks) > 1:
                k = _pareto3(t, Q, Rm)
                t, Q, Rm, prev, xs, es = t[k], Q[k], Rm[k], prev[k], xs[k], es[k]
            if j in pts and keep_r:
                Rm = np.maximum(Rm, Q + pts[j])
                ok = Rm <= cap
                t, Q, Rm, prev, xs, es = t[ok], Q[ok], Rm[ok], prev[ok], xs[ok], es[ok]
                k = _pareto3(t, Q, Rm)
                t, Q, Rm, prev, xs, es = t[k], Q[k], Rm[k], prev[k], xs[k], es[k]
            self.largest = max(self.largest, len(t))
            steps.append((prev, xs, es))
            if not len(t):
                break
        ta, toff = nd.tape
        T = Q + toff if ta >= 0 else np.full(len(Q), toff, dtype=np.int64)   # the root: no calls below its turn
        if i in self.loose_T:
            T = np.full(len(T), self.loose_T[i], dtype=np.int64)
        R = np.maximum(Rm, T)
        if i in self.loose_R:
            R = np.full(len(R), self.loose_R[i], dtype=np.int64)
        ok = R <= cap
        idx = np.flatnonzero(ok)
        t, T, R = t[idx], T[idx], R[idx]
        if len(t) > 1:
            k = _pareto3(t, T, R)
            t, T, R, idx = t[k], T[k], R[k], idx[k]
        out = _Set(t, T, R, steps, idx)
        out.proj = _pareto2(t, R)
        return out

    @staticmethod
    def _merge(t, Q, Rm, lo, g, sn, cnt, w, v, ch: _Set, cap, keep_r=True, keep_q=True,
               thr=np.inf):
        """The states after one call, from the states (t, Q, Rm) before it (indices from
        ``lo``): checkpointed (``v`` not False: the snapshot stays, the child re-runs
        from (t, R) of its set) and inhibited (``v`` not True: the child's tape stays);
        those over ``cap`` dropped, the rest filtered to their Pareto set."""
        b = Q + g
        parts = []
        if v is not False:
            p = ch.proj
            qn = b + cnt * sn
            pk = np.maximum(qn[:, None], (b + (cnt - 1) * sn)[:, None] + ch.R[p][None, :])
            pk = np.maximum(pk, Rm[:, None])
            si, ci = np.nonzero(pk <= cap)
            parts.append((t[si] + cnt * (w + ch.t[p][ci]), qn[si], pk[si, ci], si,
                          np.ones(len(si), bool), p[ci]))
        if v is not True:
            qn = b[:, None] + cnt * ch.T[None, :]
            pk = np.maximum(qn, b[:, None] + (cnt - 1) * ch.T[None, :] + ch.R[None, :])
            pk = np.maximum(pk, Rm[:, None])
            si, ci = np.nonzero(pk <= cap)
            parts.append((t[si] + cnt * ch.t[ci], qn[si, ci], pk[si, ci], si,
                          np.zeros(len(si), bool), ci))
        t, Q, Rm, prev, xs, es = (np.concatenate(z) for z in zip(*parts))
        Q = Q.astype(np.int64) if keep_q else np.zeros(len(t), dtype=np.int64)
        Rm = Rm.astype(np.int64) if keep_r else np.zeros(len(t), dtype=np.int64)
        prev = prev.astype(np.int64) + lo
        if thr < np.inf:
            k = np.flatnonzero(t < thr)
            t, Q, Rm, prev, xs, es = t[k], Q[k], Rm[k], prev[k], xs[k], es[k]
        if len(t) > 1:
            k = _pareto3(t, Q, Rm)
            t, Q, Rm, prev, xs, es = t[k], Q[k], Rm[k], prev[k], xs[k], es[k]
        return t, Q, Rm, prev, xs, es

    def solve(self, fixed: dict[int, bool]):
        """The relaxation under ``fixed`` (unit -> activation): (time of the free
        and fixed units' sites, or None if nothing fits; per site the values chosen)."""
        sets: dict[int, _Set] = {}
        fx = sorted((self.units.members[u][0], v) for u, v in fixed.items())
        for i in self.order:
            bl = self.below[i]
            key = (i, tuple(sv for sv in fx if sv[0] in bl))
            got = self.cache.get(key)
            if got is None:
                if time.perf_counter() > self.deadline:
                    raise _OutOfTime()
                got = self._build(i, fixed, self.cap[i], sets)
                self.cache[key] = got
            sets[i] = got
        rs = sets[self.root]
        if not len(rs.t):
            return None, None
        k = int(np.argmin(rs.t))
        # the choices of the unfolded tree, each (node, entry) once
        vals: dict[int, set] = {}
        seen = set()
        todo = [(self.root, k)]
        while todo:
            i, e = todo.pop()
            if (i, e) in seen:
                continue
            seen.add((i, e))
            S = sets[i]
            st = int(S.final[e])
            nd = self.nodes[i]
            for j in range(len(S.steps) - 1, -1, -1):
                prev, xs, es = S.steps[j]
                s = nd.items[j][2]
                vals.setdefault(s, set()).add(bool(xs[st]))
                todo.append((nd.items[j][4], int(es[st])))
                st = int(prev[st])
        return float(rs.t[k]), vals


def solve_dp(model, units, budget: int, fixed: dict[int, bool] | None = None,
             time_limit: float | None = None, start: np.ndarray | None = None,
             rel_gap: float = 1e-6) -> DPResult:
    """The fastest configuration (one rank) whose peak fits ``budget``, by the
    programme above with branching on inconsistent sites. ``fixed``: unit ->
    activation settled before (the presolve of :mod:`.milp`, which keeps an optimum).
    ``start``: a configuration that fits (activation per unit), an incumbent to prune
    with. Returns the best configuration found (None: nothing fits), a lower bound of
    the optimum's time and whether it is proven (relative gap <= ``rel_gap``);
    ``time_limit`` stops the branching."""
    from .milp import _Peaks
    t0 = time.perf_counter()
    fixed = dict(fixed or {})
    prog = _Programme(model, units, budget, fixed)
    if time_limit is not None:
        prog.deadline = t0 + time_limit
    n = len(units.names)
    W = model.site_weight_s()[0]
    wu = np.array([W[list(mem)].sum() for mem in units.members]) if n else np.zeros(0)
    const = float(model._times(units.active(np.zeros(n, dtype=bool)))[0, 0])

    def time_of(x):
        return const + float(wu @ np.asarray(x, dtype=np.float64))

    best_x = None
    best_t = np.inf
    if start is not None:
        best_x = np.asarray(start, dtype=bool).copy()
        best_t = time_of(best_x)
    ev = None
    heap: list = []
    count = 0
    explored = 0

    # with no negative weight, a node's partial time never exceeds the whole's (above
    # the constant): states that cannot beat the incumbent by more than the gap are
    # dropped; a relaxation left with nothing then proves the incumbent
    prune = bool(np.all(wu >= 0)) and all(v >= 0 for v in prog.wpi.values())

    def push(fx):
        nonlocal count
        if prune and best_x is not None:
            prog.thr = best_t * (1 - rel_gap) - const
        r, vals = prog.solve(fx)
        if r is None:            # nothing fits under these fixings
            return
        heapq.heappush(heap, (const + r, count, fx, vals))
        count += 1

    complete = True
    try:
        push(fixed)
    except _OutOfTime:
        return DPResult(best_x, -np.inf, False, False, 0, prog.largest, time.perf_counter() - t0)
    while heap:
        lb = heap[0][0]
        if best_x is not None and lb >= best_t * (1 - rel_gap):
            break
        if time_limit is not None and explored and time.perf_counter() - t0 > time_limit:
            complete = False
            break
        lb, _, fx, vals = heapq.heappop(heap)
        explored += 1
        both = [s for s, v in vals.items() if len(v) > 1]
        x = np.ones(n, dtype=bool)
        for s, v in vals.items():
            u = prog.unit_of.get(s)
            if u is not None:
                x[u] = max(v)            # an inconsistent site checkpointed (a repair)
        for u, v in fx.items():
            x[u] = v
        if not both:                     # the relaxation's choice is a configuration
            if time_of(x) < best_t:
                best_x, best_t = x, time_of(x)
            continue
        if ev is None:
            ev = _Peaks(model, units, x)
        else:
            for u in range(n):
                ev.set(u, bool(x[u]))
        if ev.peak() <= budget:
            # then each inconsistent site inhibited where that still fits (most time first)
            for s in sorted(both, key=lambda q: -W[q]):
                u = prog.unit_of[s]
                if u in fx or W[s] <= 0:
                    continue
                ev.set(u, False)
                if ev.peak() <= budget:
                    x[u] = False
                else:
                    ev.set(u, True)
            if time_of(x) < best_t:
                best_x, best_t = x.copy(), time_of(x)
        s = max(both, key=lambda q: abs(W[q]))
        u = prog.unit_of[s]
        try:
            for v in (False, True):
                f2 = dict(fx)
                f2[u] = v
                push(f2)
        except _OutOfTime:               # this node's bound still holds for what is left
            heapq.heappush(heap, (lb, count, fx, vals))
            count += 1
            complete = False
            break
    lo = min(heap[0][0] if heap else np.inf, best_t)
    proven = best_x is not None and lo >= best_t * (1 - rel_gap)
    return DPResult(best_x, lo, proven, complete, explored, prog.largest, time.perf_counter() - t0)
