"""Bounds over every configuration of a model, shared by the program (:mod:`.milp`) and
the dynamic programme (:mod:`.dp`): the tapes' lowest and largest values, the lowest
base at which each node runs, and the all-high configuration (every point at its
highest). Amounts are those of ``model.bound_nodes`` (control bits as their linear
bound)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .cost import CostModel
    from .milp import Units

__all__ = ["bounds_of_tapes", "unit_value", "lowest_bases", "all_high"]


def bounds_of_tapes(model: CostModel, units: Units | None = None,
                    fixed: dict[int, bool] | None = None):
    """Lower and upper bounds of every node's tape over all configurations (that keep
    the units of ``fixed`` as given), in the linear bound of control bits, as the
    program sees them."""
    act = None
    if units is not None:
        act = {}
        for u, mem in enumerate(units.members):
            for i in mem:
                act[i] = (fixed or {}).get(u)
        fa = units.fixed_active
    tmin: list[float] = []
    tmax: list[float] = []
    for nd in model.bound_nodes:
        qlo: list[float] = []
        qhi: list[float] = []
        for a, g, s, sn, c, cnt in nd.items:
            v = None if act is None else act.get(s, bool(fa[s]))
            if v is None:
                lo, hi = min(sn, tmin[c]), max(sn, tmax[c])
            elif v:
                lo = hi = sn
            else:
                lo, hi = tmin[c], tmax[c]
            qlo.append((qlo[a] if a >= 0 else 0) + g + cnt * lo)
            qhi.append((qhi[a] if a >= 0 else 0) + g + cnt * hi)
        ta, toff = nd.tape
        tmin.append((qlo[ta] if ta >= 0 else 0) + toff)
        tmax.append((qhi[ta] if ta >= 0 else 0) + toff)
    return tmin, tmax


def unit_value(units: Units, unit_of: dict[int, int], fixed: dict[int, bool], s: int) -> bool | None:
    """A site's activation: True/False when settled (a unit of ``fixed``, or a site that
    is no unit: its activation in the profile), None when its unit is free."""
    u = unit_of.get(s)
    return bool(units.fixed_active[s]) if u is None else fixed.get(u)


def lowest_bases(model: CostModel, units: Units, fixed: dict[int, bool], tmin=None) -> list[float]:
    """The lowest base (stack below it) at which each node runs, over every configuration
    that keeps the units of ``fixed`` as given: the bound of what the budget leaves the
    node (np.inf: no root reaches it). ``tmin``: the tapes' lower bounds, when known."""
    nodes = model.bound_nodes
    if tmin is None:
        tmin, _ = bounds_of_tapes(model, units, fixed)
    unit_of = {i: u for u, mem in enumerate(units.members) for i in mem}
    base_lb = [np.inf] * len(nodes)
    for r in set(int(v) for v in model.roots):
        base_lb[r] = 0
    for i in range(len(nodes) - 1, -1, -1):      # parents have larger ids
        if not np.isfinite(base_lb[i]):
            continue
        q: list[float] = []
        for a, g, s, sn, c, cnt in nodes[i].items:
            base = (q[a] if a >= 0 else 0) + g
            v = unit_value(units, unit_of, fixed, s)
            y = sn if v is True else tmin[c] if v is False else min(sn, tmin[c])
            base_lb[c] = min(base_lb[c], base_lb[i] + base + (cnt - 1) * y)
            q.append(base + cnt * y)
    return base_lb


def all_high(model: CostModel, units: Units, fixed: dict[int, bool]):
    """The all-high configuration: every free unit at its higher-peak choice
    (``max(S, largest tape)``: every configuration is at or below it at every point).
    Returns per node its peak ``Rhi``, its largest tape ``tmax``, its highest base
    ``base_hi`` (over its calls), per call the highest point that includes the bytes the
    call leaves (``after``, relative to the node's base: the later calls, its own re-run
    when it loops, the node's turn) and per node ``up``: the highest point (absolute)
    above its tape in any caller. None when some node's calls are not one chain
    (binomial time steps), which these walks do not follow."""
    nodes = model.bound_nodes
    if any(it[0] != j - 1 for nd in nodes for j, it in enumerate(nd.items)) or \
            any(nd.tape[0] not in (-1, len(nd.items) - 1) for nd in nodes):
        return None
    unit_of = {i: u for u, mem in enumerate(units.members) for i in mem}
    _, tmax = bounds_of_tapes(model, units, fixed)

    def yhi(s, sn, c):
        v = unit_value(units, unit_of, fixed, s)
        return sn if v is True else tmax[c] if v is False else max(sn, tmax[c])

    Rhi = [0.0] * len(nodes)
    after: list[list[float]] = []
    for i, nd in enumerate(nodes):
        n = len(nd.items)
        Q: list[float] = []
        own: list[float] = []          # the call's child re-run, relative to the node's base
        for a, g, s, sn, c, cnt in nd.items:
            b = (Q[-1] if Q else 0) + g
            y = yhi(s, sn, c)
            own.append(b + (cnt - 1) * y + Rhi[c])
            Q.append(b + cnt * y)
        pts = [-np.inf] * (n + 1)      # points anchored at call j (index j + 1)
        for a, off in nd.points:
            pts[a + 1] = max(pts[a + 1], (Q[a] if a >= 0 else 0) + off)
        T = (Q[-1] if Q and nd.tape[0] >= 0 else 0) + nd.tape[1]
        # suffix maxima: after[j] = the highest point that includes call j's y (the
        # turn does when it comes after the calls; a turn anchored before them does not)
        aft = [0.0] * n
        run = max(T if nd.tape[0] >= 0 else -np.inf, pts[n])
        for j in range(n - 1, -1, -1):
            run = max(run, Q[j], pts[j + 1])
            cnt = nd.items[j][5]
            aft[j] = max(run, own[j]) if cnt > 1 else run
            run = max(run, own[j])
        after.append(aft)
        Rhi[i] = max([0.0, T, pts[0]] + Q + own + [p for p in pts if p > -np.inf])
    base_hi = [-np.inf] * len(nodes)
    up = [-np.inf] * len(nodes)
    for r in set(int(v) for v in model.roots):
        base_hi[r] = 0.0
    for i in range(len(nodes) - 1, -1, -1):       # parents have larger ids
        if base_hi[i] == -np.inf:
            continue
        q = 0.0
        above = up[i] if nodes[i].tape[0] >= 0 else -np.inf
        for j, (a, g, s, sn, c, cnt) in enumerate(nodes[i].items):
            b = q + g
            y = yhi(s, sn, c)
            base_hi[c] = max(base_hi[c], base_hi[i] + b + (cnt - 1) * y)
            up[c] = max(up[c], base_hi[i] + after[i][j], above)
            q = b + cnt * y
    return Rhi, tmax, base_hi, after, up
