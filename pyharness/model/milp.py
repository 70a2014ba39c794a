"""The fastest configuration whose predicted peak fits a per-rank budget, proven.

A mixed-integer linear program solved by HiGHS (``scipy.optimize.milp``):
binary ``x_u`` per decision unit (a site, or a callee with all its sites),
1 = checkpointed; per node its tape ``T`` and peak ``R``, per call its value
``Q`` and, per (site, snapshot, child), the bytes ``y`` it leaves on the stack
(``S`` if active, the child's tape if not). Every constraint is a lower bound,
so the true values are always feasible and any solution's ``R_root`` bounds
the true peak from above: the chosen configuration fits the budget by
construction, and it is checked again with the exact recursion afterwards.
Control bits count in 4-byte words only, which is not linear: the program
takes ``bytes + bits / 8`` for every amount (above the truth by less than 4
bytes, never below) and the exact recursion decides (docs/MODEL.md).
The objective is the slowest rank's predicted time. docs/MODEL.md has the
formulation.

>>> plan = optimize(CostModel.from_profile("profile.h5"), budget=2**30)   # doctest: +SKIP
>>> plan.config, plan.predicted_time, plan.peak_by_rank, plan.status      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..config import Configuration
from ..errors import UsageError
from ..units import human_bytes
from ..vocabulary import Granularity
from .cost import CostModel, Prediction
from .bounds import all_high as _high
from .bounds import bounds_of_tapes as _bounds_of_tapes
from .bounds import lowest_bases as _lowest_bases
from .bounds import unit_value as _unit_value
from .dp import dp_applicable, solve_dp

__all__ = ["Plan", "BudgetError", "Units", "optimize", "lowest_peak", "pareto_front",
           "ParetoPoint", "EXHAUSTIVE_MAX_UNITS"]

EXHAUSTIVE_MAX_UNITS = 22
# control bits: the program's bound exceeds the exact stack by at most 31/8 bytes
# (31 bits still in the word); solutions it lets through that do not fit exactly
# are excluded this many times before the budget itself is used
BITS_SLACK = 31 / 8
MAX_EXCLUDED = 8


class BudgetError(UsageError):
    """The budget is below every reachable peak (``lowest_peak``: the lowest, in bytes)."""

    def __init__(self, message: str, lowest_peak: int, config: Configuration | None = None):
        super().__init__(message)
        self.lowest_peak = lowest_peak
        self.config = config


@dataclass(frozen=True)
class Plan:
    """A chosen configuration and what the model predicts for it."""

    config: Configuration          # the same type tune runs and writes
    budget: int | None             # bytes per rank (None: unconstrained)
    granularity: str               # site | callee
    method: str                    # milp | exhaustive
    status: str                    # optimal | time-limit | exhaustive | feasible | bound
    gap: float                     # relative gap of the time (0: proven optimal)
    solve_s: float
    prediction: Prediction
    inhibited_units: tuple[str, ...]

    @property
    def predicted_time(self) -> float:
        return self.prediction.time

    @property
    def time_by_rank(self) -> np.ndarray:
        return self.prediction.time_by_rank

    @property
    def peak_by_rank(self) -> np.ndarray:
        return self.prediction.peak_by_rank

    @property
    def peak(self) -> int:
        return self.prediction.peak

    @property
    def proven(self) -> bool:
        return self.status in ("optimal", "exhaustive")

    def status_text(self) -> str:
        if self.status == "exhaustive":
            return "optimal (exhaustive search over the model)"
        if self.status == "feasible":
            return "fits the budget (the optimum lies within the solver's tolerance of the lowest peak)"
        if self.status == "bound":
            return ("fits the budget; optimal among the configurations whose linear bound of "
                    "control bits fits (one within 4 bytes of the budget might be faster)")
        if self.status == "optimal":
            return f"proven optimal (relative gap {self.gap:.1e})"
        return f"stopped by the time limit: certified gap {100 * self.gap:.3g}% (the optimum is at most that much faster)"


@dataclass(frozen=True)
class Units:
    """The decision units of a granularity: names and the locations each switches."""

    granularity: Granularity
    names: tuple[str, ...]
    members: tuple[tuple[int, ...], ...]     # location indices per unit
    fixed_active: np.ndarray                 # activation of everything not decided (bool, nloc)

    @classmethod
    def of(cls, model: CostModel, granularity: Granularity | str = Granularity.SITE) -> "Units":
        try:
            granularity = Granularity(granularity)
        except ValueError:
            raise UsageError(f"granularity '{granularity}' is not site or callee") from None
        prof = model.profiled_active()
        ran = model.mult.sum(axis=0) > 0
        fixed = prof.copy()
        if granularity is Granularity.SITE:
            idx = [i for i in model.site_indices if prof[i] and ran[i]]
            return cls(Granularity.SITE, tuple(model.names[i] for i in idx), tuple((i,) for i in idx), fixed)
        groups: dict[str, list[int]] = {}
        for i in model.site_indices:
            if prof[i]:
                groups.setdefault(model.callees[i].lower(), []).append(i)
        names = sorted(c for c, m in groups.items() if any(ran[i] for i in m))
        return cls(Granularity.CALLEE, tuple(names), tuple(tuple(groups[c]) for c in names), fixed)

    def active(self, x: np.ndarray) -> np.ndarray:
        """Activation per location for unit decisions ``x`` (C, nunits) or (nunits,)."""
        x = np.atleast_2d(np.asarray(x, dtype=bool))
        a = np.repeat(self.fixed_active[None, :], x.shape[0], axis=0)
        for u, mem in enumerate(self.members):
            for i in mem:
                a[:, i] = x[:, u]
        return a

    def config(self, model: CostModel, x: np.ndarray) -> Configuration:
        act = self.active(x)[0]
        return Configuration(frozenset(model.names[i] for i in model.site_indices if not act[i]),
                             model.snapshots)


# ---------------------------------------------------------------- the MILP

# the last program's size and where its time went (build, solver): for the benchmark
LAST_SOLVE: dict[str, float] = {}


class _Builder:
    def __init__(self):
        self.ncols = 0
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.integ: list[int] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.rlb: list[float] = []
        self.nrows = 0

    def var(self, lb=0.0, ub=np.inf, integer=False) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.integ.append(1 if integer else 0)
        self.ncols += 1
        return self.ncols - 1

    def ge(self, terms: dict[int, float], rhs: float) -> None:
        """sum(coef * var) >= rhs"""
        for c, v in terms.items():
            if v != 0:
                self.rows.append(self.nrows)
                self.cols.append(c)
                self.vals.append(v)
        self.rlb.append(rhs)
        self.nrows += 1


def _solve(model: CostModel, units: Units, budget: float | None, time_limit: float,
           objective: str = "time", exclude=(), fixed: dict[int, bool] | None = None,
           start: np.ndarray | None = None):
    """Build and solve; returns (x or None, status, gap, solve seconds, message).

    ``exclude``: unit decisions (bool arrays) the solution must differ from;
    ``fixed``: unit -> activation settled before the solve (presolve); ``start``: a
    configuration (activation per unit) that fits, the solver's first incumbent.
    The seconds returned count building the program too (``LAST_SOLVE`` has the split)."""
    _highs_bindings()           # imported once, outside the timing (about 2 s the first time)
    t_build = time.perf_counter()
    nodes = model.bound_nodes
    fixed = fixed or {}
    tmin, tmax = _bounds_of_tapes(model, units, fixed)
    ref = float(max(1, int(model.measured_peak.max()), int(budget or 0)))
    sc = 1.0 / ref                               # bytes -> O(1)
    B = _Builder()
    unit_of = {}
    for u, mem in enumerate(units.members):
        for i in mem:
            unit_of[i] = u
    x = []
    for u in range(len(units.names)):
        v = fixed.get(u)
        x.append(B.var(0, 1, True) if v is None else B.var(float(v), float(v), True))
    # lowest base at which each node runs (for the big-M of its tape)
    base_lb = _lowest_bases(model, units, fixed, tmin)
    Tv = [B.var(-np.inf) for _ in nodes]
    Rv = [B.var(-np.inf) for _ in nodes]
    yv: dict[tuple[int, int, int], int] = {}

    def yvar(s: int, sn: int, c: int) -> int | None:
        """The variable of a call's bytes, or None when the site is fixed active (y = sn)."""
        key = (s, sn, c)
        if key in yv:
            return yv[key]
        u = unit_of.get(s)
        on = _unit_value(units, unit_of, fixed, s)
        if on is True:
            yv[key] = None
            return None
        v = B.var(-np.inf)
        yv[key] = v
        if on is False:      # fixed inhibited: the child's tape
            B.ge({v: 1.0, Tv[c]: -1.0}, 0.0)
            return v
        lo = min(sn, tmin[c])
        # y >= lo + (sn - lo) x
        B.ge({v: 1.0, x[u]: -(sn - lo) * sc}, lo * sc)
        # y >= T_child - M x, M: the child's tape can never exceed it
        hi = tmax[c]
        if budget is not None and np.isfinite(base_lb[c]):
            hi = min(hi, max(0, budget - int(base_lb[c])))
        M = max(0.0, hi - sn)
        B.ge({v: 1.0, Tv[c]: -1.0, x[u]: M * sc}, 0.0)
        return v

    for i, nd in enumerate(nodes):
        Qv: list[int] = []
        for a, g, s, sn, c, cnt in nd.items:
            yi = yvar(s, sn, c)
            qv = B.var(-np.inf)
            # Q >= Q[a] + g + cnt y
            t = {qv: 1.0}
            if a >= 0:
                t[Qv[a]] = -1.0
            rhs = g * sc
            if yi is None:
                rhs += cnt * sn * sc
            else:
                t[yi] = t.get(yi, 0.0) - cnt
            B.ge(t, rhs)
            # R >= Q
            B.ge({Rv[i]: 1.0, qv: -1.0}, 0.0)
            # R >= Q[a] + g + (cnt - 1) y + R_child
            t = {Rv[i]: 1.0, Rv[c]: -1.0}
            if a >= 0:
                t[Qv[a]] = -1.0
            rhs = g * sc
            if yi is None:
                rhs += (cnt - 1) * sn * sc
            elif cnt > 1:
                t[yi] = t.get(yi, 0.0) - (cnt - 1)
            B.ge(t, rhs)
            Qv.append(qv)
        for a, off in nd.points:
            t = {Rv[i]: 1.0}
            if a >= 0:
                t[Qv[a]] = -1.0
            B.ge(t, off * sc)
        B.ge({Rv[i]: 1.0}, 0.0)
        ta, toff = nd.tape
        t = {Tv[i]: 1.0}
        if ta >= 0:
            t[Qv[ta]] = -1.0
        B.ge(t, toff * sc)
    for xs in exclude:        # differ from xs in at least one unit
        xs = np.asarray(xs, dtype=bool)
        B.ge({x[u]: (-1.0 if v else 1.0) for u, v in enumerate(xs)}, 1.0 - float(xs.sum()))
    roots = sorted(set(int(v) for v in model.roots))
    c = np.zeros(0)
    if objective == "time":
        tau = B.var(-np.inf)
        W = model.site_weight_s()
        base = model.base_time_s()
        # fixed-active sites are part of the constant
        fixed_w = (W * (units.fixed_active & np.array([i not in unit_of for i in range(model.nloc)]))
                   [None, :]).sum(axis=1)
        tref = max(1e-12, float(np.max(np.abs(base + W.sum(axis=1)))))
        rows_seen = set()
        for r in range(model.nranks):
            coefs = tuple(round(float(W[r, list(mem)].sum()) / tref, 15) for mem in units.members)
            rhs = float(base[r] + fixed_w[r]) / tref
            key = (coefs, rhs)
            if key in rows_seen:
                continue
            rows_seen.add(key)
            t = {tau: 1.0}
            for u, w in enumerate(coefs):
                if w:
                    t[x[u]] = -w
            B.ge(t, rhs)
        c = np.zeros(B.ncols)
        c[tau] = 1.0
    else:   # lowest peak
        rho = B.var(-np.inf)
        for r in roots:
            B.ge({rho: 1.0, Rv[r]: -1.0}, 0.0)
        c = np.zeros(B.ncols)
        c[rho] = 1.0
    if budget is not None:
        # every node's peak, above the lowest base it can run at, stays in the budget
        for i in range(len(nodes)):
            if np.isfinite(base_lb[i]):
                B.ub[Rv[i]] = max(0.0, budget - base_lb[i]) * sc
        for r in roots:
            B.ub[Rv[r]] = budget * sc
    nunits = len(units.names)
    t0 = time.perf_counter()
    LAST_SOLVE["build_s"] = t0 - t_build
    LAST_SOLVE["rows"], LAST_SOLVE["cols"] = B.nrows, B.ncols
    with (contextlib.nullcontext() if os.environ.get("PYHARNESS_MILP_LOG") else _quiet_stdout()):
        res = _run_highs(B, c, time_limit, start, nunits)
    if res is None:
        res = _run_scipy(B, c, time_limit)
    LAST_SOLVE["solver_s"] = time.perf_counter() - t0
    dt = time.perf_counter() - t_build
    xs_all, status, gap, msg = res
    if xs_all is None:
        return None, status, np.nan, dt, msg
    xs = np.round(xs_all[:nunits]).astype(bool)
    return xs, status, max(0.0, gap), dt, msg


def _run_scipy(B: "_Builder", c: np.ndarray, time_limit: float):
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix
    A = csr_matrix((B.vals, (B.rows, B.cols)), shape=(B.nrows, B.ncols))
    cons = LinearConstraint(A, np.array(B.rlb), np.full(B.nrows, np.inf))
    opts = {"disp": bool(os.environ.get("PYHARNESS_MILP_LOG")), "mip_rel_gap": 1e-6}
    if time_limit:
        opts["time_limit"] = float(time_limit)
    res = milp(c, constraints=[cons], integrality=np.array(B.integ), bounds=Bounds(B.lb, B.ub),
               options=opts)
    if res.x is None:
        return None, ("infeasible" if res.status == 2 else "no-solution"), np.nan, res.message
    gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
    return res.x, ("optimal" if res.status == 0 else "time-limit"), gap, res.message


def _highs_bindings():
    """scipy's own HiGHS bindings, or None when this scipy build has none."""
    try:
        from scipy.optimize._highspy import _core
    except ImportError:      # pragma: no cover - depends on the scipy build
        return None
    return _core


def _run_highs(B: "_Builder", c: np.ndarray, time_limit: float, start, nunits: int):
    """HiGHS through scipy's own bindings, which take a starting incumbent (scipy's
    milp does not). None when those bindings are missing (then scipy's milp)."""
    try:
        from scipy.optimize._highspy import _core as hc
        from scipy.sparse import csc_matrix
    except ImportError:      # pragma: no cover - depends on the scipy build
        return None
    try:
        h = hc._Highs()
        lp = hc.HighsLp()
        lp.num_col_ = B.ncols
        lp.num_row_ = B.nrows
        inf = hc.kHighsInf
        lp.col_cost_ = np.asarray(c, dtype=np.float64)
        lp.col_lower_ = np.where(np.isfinite(B.lb), B.lb, -inf).astype(np.float64)
        lp.col_upper_ = np.where(np.isfinite(B.ub), B.ub, inf).astype(np.float64)
        lp.row_lower_ = np.asarray(B.rlb, dtype=np.float64)
        lp.row_upper_ = np.full(B.nrows, inf)
        A = csc_matrix((B.vals, (B.rows, B.cols)), shape=(B.nrows, B.ncols))
        A.sum_duplicates()
        lp.a_matrix_.format_ = hc.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data.astype(np.float64)
        lp.integrality_ = [hc.HighsVarType.kInteger if v else hc.HighsVarType.kContinuous
                           for v in B.integ]
        h.setOptionValue("output_flag", bool(os.environ.get("PYHARNESS_MILP_LOG")))
        h.setOptionValue("mip_rel_gap", 1e-6)
        h.setOptionValue("threads", 1)
        # a byte of a 1 MB budget is 1e-6 in the program's units: HiGHS's default
        # tolerance let solutions through a few bytes over, and each costs a re-solve
        h.setOptionValue("mip_feasibility_tolerance", 1e-9)
        h.setOptionValue("primal_feasibility_tolerance", 1e-9)
        if time_limit:
            h.setOptionValue("time_limit", float(time_limit))
        if h.passModel(lp) != hc.HighsStatus.kOk:
            return None
        if start is not None:
            # the decisions only: HiGHS completes the continuous part itself
            idx = np.arange(nunits, dtype=np.int32)
            h.setSolution(int(nunits), idx, np.asarray(start, dtype=np.float64)[:nunits])
        h.run()
    except Exception:        # pragma: no cover - a binding that differs: scipy's milp
        return None
    ms = h.getModelStatus()
    info = h.getInfo()
    name = h.modelStatusToString(ms)
    if ms == hc.HighsModelStatus.kInfeasible:
        return None, "infeasible", np.nan, name
    sol = h.getSolution()
    if not sol.value_valid or info.primal_solution_status == 0:
        return None, "no-solution", np.nan, name
    xv = np.asarray(sol.col_value)
    gap = float(info.mip_gap) if np.isfinite(info.mip_gap) else np.inf
    status = "optimal" if ms == hc.HighsModelStatus.kOptimal else "time-limit"
    return xv, status, gap, name


# ---------------------------------------------------------------- presolve and a first incumbent

def _unit_items(model: CostModel, units: Units) -> list[list[tuple[int, int]]]:
    """Per unit, the (snapshot, child) of every call of its sites."""
    unit_of = {i: u for u, mem in enumerate(units.members) for i in mem}
    out: list[set] = [set() for _ in units.names]
    for nd in model.bound_nodes:
        for a, g, s, sn, c, cnt in nd.items:
            u = unit_of.get(s)
            if u is not None:
                out[u].add((sn, c))
    return [sorted(v) for v in out]


def _dominated(model: CostModel, units: Units, objective: str = "time") -> dict[int, bool]:
    """Units whose decision is settled up front, without losing the optimum.

    Inhibiting a call leaves the child's tape instead of its snapshot and nothing else
    changes in the peak recursion, which only grows with those bytes. So a unit whose
    snapshot is at least the largest tape its child can have (in every call of it) never
    raises a peak when inhibited; if it saves time on every rank too (or the objective
    is the peak), inhibiting it is never worse: fixed inhibited. Symmetrically, a unit
    whose snapshot is at most the smallest tape of its child and whose checkpoint costs
    no time on any rank is fixed checkpointed. Fixing changes the tapes' bounds, so
    repeat until nothing moves."""
    W = model.site_weight_s()
    w = np.stack([W[:, list(mem)].sum(axis=1) for mem in units.members], axis=1) \
        if units.members else np.zeros((model.nranks, 0))
    calls = _unit_items(model, units)
    fixed: dict[int, bool] = {}
    for _ in range(8):
        tmin, tmax = _bounds_of_tapes(model, units, fixed)
        moved = False
        for u, cl in enumerate(calls):
            if u in fixed or not cl:
                continue
            inh_free = all(sn >= tmax[c] for sn, c in cl)
            act_free = all(sn <= tmin[c] for sn, c in cl)
            if objective == "time":
                if inh_free and np.all(w[:, u] >= 0):
                    fixed[u] = False
                elif act_free and np.all(w[:, u] <= 0):
                    fixed[u] = True
            elif inh_free:
                fixed[u] = False
            elif act_free:
                fixed[u] = True
            if u in fixed:
                moved = True
        if not moved:
            break
    return fixed


def _harmless(model: CostModel, units: Units, budget: float, fixed: dict[int, bool]) -> dict[int, bool]:
    """Units whose inhibition can never break the budget, fixed inhibited.

    Inhibiting a call changes the bytes ``y`` it leaves (snapshot -> child's tape) and
    so only the stack at the points above ``y``: the later calls of its node, its own
    re-run when it loops, the node's turn and, through the node's tape, the points
    above that tape in every caller. In the all-high configuration (:func:`_high`;
    every configuration is below it everywhere), with every node at its highest base:
    if all those points stay within the budget for every call of a unit, and inhibiting
    it saves time on every rank, inhibiting it keeps any configuration that fits within
    the budget and is not slower: some optimum has it inhibited. Nodes whose calls do
    not form a chain (binomial time steps) are left alone (nothing is fixed). Keeps
    ``fixed`` and adds to it."""
    fixed = dict(fixed)
    hi = _high(model, units, fixed)
    if hi is None:
        return fixed
    Rhi, tmax, base_hi, after, up = hi
    nodes = model.bound_nodes
    W = model.site_weight_s()
    w = np.stack([W[:, list(mem)].sum(axis=1) for mem in units.members], axis=1) \
        if units.members else np.zeros((model.nranks, 0))
    unit_of = {i: u for u, mem in enumerate(units.members) for i in mem}
    worst = [-np.inf] * len(units.names)
    for i, nd in enumerate(nodes):
        if base_hi[i] == -np.inf:
            continue
        above = up[i] if nd.tape[0] >= 0 else -np.inf
        for j, (a, g, s, sn, c, cnt) in enumerate(nd.items):
            u = unit_of.get(s)
            if u is not None:
                worst[u] = max(worst[u], base_hi[i] + after[i][j], above)
    for u in range(len(units.names)):
        if u not in fixed and worst[u] <= budget and np.all(w[:, u] >= 0):
            fixed[u] = False
    return fixed


class _Peaks:
    """The exact peak recursion, kept per node and updated along the ancestors of
    the nodes a flip touches (pure Python: a flip costs microseconds, not a pass)."""

    def __init__(self, model: CostModel, units: Units, x: np.ndarray | None = None,
                 free: "dict[int, bool] | None" = None):
        """``x``: activation per unit; or ``x`` None and ``free``: the fixed units (unit ->
        activation), every other unit free, and then every value is the LOWEST over the
        free units' choices (each call takes the smaller of snapshot and tape)."""
        self.nodes = model.bound_nodes        # control bits as their linear bound
        self.roots = sorted(set(int(r) for r in model.roots))
        if x is None:
            act = [bool(v) for v in units.fixed_active]
            for u, mem in enumerate(units.members):
                for i in mem:
                    act[i] = (free or {}).get(u)
            self.act = act
        else:
            self.act = [bool(v) for v in units.active(x)[0]]
        self.members = units.members
        self.parents: list[set[int]] = [set() for _ in self.nodes]
        self.of_site: dict[int, set[int]] = {}
        for i, nd in enumerate(self.nodes):
            for a, g, s, sn, c, cnt in nd.items:
                self.parents[c].add(i)
                self.of_site.setdefault(s, set()).add(i)
        self.T = [0] * len(self.nodes)
        self.R = [0] * len(self.nodes)
        for i in range(len(self.nodes)):
            self._eval(i)

    def _eval(self, i: int) -> bool:
        nd = self.nodes[i]
        T, R, act = self.T, self.R, self.act
        Q: list[int] = []
        r = 0
        for a, g, s, sn, c, cnt in nd.items:
            v = act[s]
            y = sn if v else T[c] if v is False else min(sn, T[c])
            base = (Q[a] if a >= 0 else 0) + g
            q = base + cnt * y
            v = base + (cnt - 1) * y + R[c]
            if q > r:
                r = q
            if v > r:
                r = v
            Q.append(q)
        for a, off in nd.points:
            v = (Q[a] if a >= 0 else 0) + off
            if v > r:
                r = v
        ta, toff = nd.tape
        t = (Q[ta] if ta >= 0 else 0) + toff
        changed = t != T[i] or r != R[i]
        T[i] = t
        R[i] = r
        return changed

    def set(self, u: int, value: bool | None) -> None:
        import heapq
        todo: list[int] = []
        seen = set()
        for s in self.members[u]:
            self.act[s] = value
            for i in self.of_site.get(s, ()):
                if i not in seen:
                    seen.add(i)
                    heapq.heappush(todo, i)
        while todo:                      # children have smaller ids than their parents
            i = heapq.heappop(todo)
            if self._eval(i):
                for p in self.parents[i]:
                    if p not in seen:
                        seen.add(p)
                        heapq.heappush(todo, p)

    def peak(self) -> int:
        return max(self.R[r] for r in self.roots)


def _probe(model: CostModel, units: Units, budget: int, fixed: dict[int, bool]) -> dict[int, bool]:
    """Units the budget decides: with one unit forced one way and every other free unit at
    its lowest-peak choice, the peak is a lower bound of every configuration that forces
    it so; over the budget, the unit must take the other value. Fixing raises the bounds,
    so repeat until nothing moves (a unit that cannot fit either way is left to the
    solver, which then reports the budget as infeasible)."""
    fixed = dict(fixed)
    ev = _Peaks(model, units, None, fixed)
    if ev.peak() > budget:
        return fixed
    for _ in range(20):
        moved = False
        for u in range(len(units.names)):
            if u in fixed:
                continue
            for v in (False, True):
                ev.set(u, v)
                over = ev.peak() > budget
                ev.set(u, None)
                if over:
                    fixed[u] = not v
                    ev.set(u, not v)
                    moved = True
                    break
        if not moved:
            break
    return fixed


def _greedy(model: CostModel, units: Units, budget: int, fixed: dict[int, bool]) -> np.ndarray | None:
    """A good configuration under the budget, for the solver's first incumbent: from
    every free unit checkpointed (when that fits), inhibit units one at a time, most
    time saved first (and, second try, most time saved per byte of peak), keeping
    each flip that still fits. The faster of the two; None when the start does not fit."""
    n = len(units.names)
    x0 = np.ones(n, dtype=bool)
    for u, v in fixed.items():
        x0[u] = v
    ev = _Peaks(model, units, x0)
    if ev.peak() > budget:
        return None
    W = model.site_weight_s()
    w = np.stack([W[:, list(mem)].sum(axis=1) for mem in units.members], axis=1)
    gain = w.max(axis=0)
    free = [u for u in range(n) if u not in fixed and gain[u] > 0]
    p0 = ev.peak()
    cost = {}
    for u in free:                       # each flip's own peak increase, from the start
        ev.set(u, False)
        cost[u] = max(0, ev.peak() - p0)
        ev.set(u, True)
    orders = [sorted(free, key=lambda u: -gain[u]),
              sorted(free, key=lambda u: -gain[u] / (1.0 + cost[u]))]
    best = None
    for order in orders:
        x = x0.copy()
        for u in order:
            ev.set(u, False)
            if ev.peak() <= budget:
                x[u] = False
            else:
                ev.set(u, True)
        t = float(np.max(model.base_time_s() + W @ units.active(x)[0]))
        if best is None or t < best[0]:
            best = (t, x)
        for u in order:                  # back to the start for the next order
            if not x[u]:
                ev.set(u, True)
    return best[1]


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 (C-level prints) for the duration of the block."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


# ---------------------------------------------------------------- public API

def _plan(model, units, x, budget, method, status, gap, dt) -> Plan:
    cfg = units.config(model, x)
    pred = model.predict(cfg)
    inh = tuple(n for n, v in zip(units.names, np.atleast_1d(x)) if not v)
    return Plan(cfg, budget, units.granularity, method, status, gap, dt, pred, inh)


def _exhaustive(model: CostModel, units: Units, budget: int | None, objective: str = "time"):
    k = len(units.names)
    if k > EXHAUSTIVE_MAX_UNITS:
        raise UsageError(f"exhaustive search over {k} {units.granularity}s (2^{k} configurations) is "
                         f"too large (at most {EXHAUSTIVE_MAX_UNITS}): use --method milp")
    best = None
    t0 = time.perf_counter()
    chunk = 1 << 12
    total = 1 << k
    for start in range(0, total, chunk):
        idx = np.arange(start, min(total, start + chunk), dtype=np.int64)
        X = ((idx[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)
        act = units.active(X) if k else np.repeat(units.fixed_active[None, :], len(idx), axis=0)
        times, peaks = model.predict_many(act)
        tmax = times.max(axis=1)
        pmax = peaks.max(axis=1)
        if objective == "time":
            ok = np.ones(len(idx), bool) if budget is None else pmax <= budget
            if not ok.any():
                continue
            j = int(np.argmin(np.where(ok, tmax, np.inf)))
            cand = (float(tmax[j]), int(pmax[j]))
        else:
            j = int(np.argmin(pmax))
            cand = (int(pmax[j]), float(tmax[j]))
        if best is None or cand < best[0]:
            best = (cand, X[j].copy())
    dt = time.perf_counter() - t0
    return (None if best is None else best[1]), dt


def lowest_peak(model: CostModel, granularity: str = "site", *, method: str = "milp",
                time_limit: float | None = None) -> Plan:
    """The configuration with the lowest predicted peak (largest over ranks)."""
    units = Units.of(model, granularity)
    if method == "exhaustive":
        x, dt = _exhaustive(model, units, None, "peak")
        return _plan(model, units, x, None, "exhaustive", "exhaustive", 0.0, dt)
    # every call at the smaller of snapshot and tape: settled by the presolve (exact
    # without control bits; with them the bound's minimum is searched below)
    fixed = {} if model.has_control_bits else _dominated(model, units, "peak")
    x, status, gap, dt, msg = _solve(model, units, None, time_limit or 0, "peak", fixed=fixed)
    if x is None:
        raise UsageError(f"the solver found no configuration ({msg})")
    best = _plan(model, units, x, None, "milp", status, gap, dt)
    if model.has_control_bits:
        # the bound's minimum may be up to 31/8 bytes above the exact peak of some other
        # configuration: look for one whose bound allows an exact peak below the best
        excluded = [np.asarray(x, dtype=bool)]
        for _ in range(MAX_EXCLUDED):
            x2, st2, _, dt2, _ = _solve(model, units, best.peak - 1 + BITS_SLACK, time_limit or 0,
                                        "peak", exclude=excluded)
            dt += dt2
            if x2 is None:          # nothing else can be lower: the best is exact
                break
            excluded.append(np.asarray(x2, dtype=bool))
            p = _plan(model, units, x2, None, "milp", st2, 0.0, dt)
            if p.peak < best.peak:
                best = p
        best = Plan(best.config, None, best.granularity, "milp", best.status, best.gap, dt,
                    best.prediction, best.inhibited_units)
    return best


def optimize(model: CostModel, budget: int | None, granularity: str = "site", *,
             method: str = "milp", time_limit: float | None = 60.0) -> Plan:
    """The fastest configuration (slowest rank's predicted time) whose predicted
    peak fits ``budget`` bytes on every rank.

    Parameters
    ----------
    model : CostModel
    budget : bytes per rank, or None for no memory limit
    granularity : ``site`` (one decision per call site) or ``callee`` (a
        callee's sites together, as Tapenade's ``-nocheckpoint`` list does)
    method : ``milp`` (HiGHS), ``dp`` (the dynamic programme of :mod:`.dp`: one
        rank, site decisions, no control bits) or ``exhaustive`` (every
        configuration; small trees)
    time_limit : seconds for the solver; when it stops the search the plan's
        status is ``time-limit`` and ``gap`` the certified relative gap

    Raises
    ------
    BudgetError
        The budget is below every reachable peak; ``.lowest_peak`` is the lowest.
    """
    if method not in ("milp", "exhaustive", "dp"):
        raise UsageError(f"method '{method}' is not milp, dp or exhaustive")
    units = Units.of(model, granularity)
    if method == "exhaustive":
        x, dt = _exhaustive(model, units, budget)
        if x is None:
            raise _budget_error(model, granularity, budget, "exhaustive")
        return _plan(model, units, x, budget, "exhaustive", "exhaustive", 0.0, dt)
    # With control bits the program's peak is above the exact one by less than 4 bytes
    # (BITS_SLACK at most): solved with the budget raised by that much it is a
    # relaxation (every configuration that fits is feasible in it), so a solution
    # that fits exactly is the proven optimum; one that does not is excluded and the
    # program solved again (a few times, then the budget itself: safe, not proven).
    relax = BITS_SLACK if (budget is not None and model.has_control_bits) else 0.0
    target = budget if budget is None else budget + relax
    excluded: list[np.ndarray] = []
    total = 0.0
    step = 1
    # presolve (docs/MODEL.md): dominated units (not with control bits, where the bound
    # is not the exact peak), then per budget the units it decides and a first incumbent
    t0 = time.perf_counter()
    fixed0 = {} if model.has_control_bits else _dominated(model, units)
    total += time.perf_counter() - t0
    first: Plan | None = None       # the greedy first incumbent, when it fits exactly
    dual = None                     # a lower bound of the optimum's time (first solve)
    if method == "dp":
        # the dynamic programme over the call tree (docs/MODEL.md): exact by construction
        why = dp_applicable(model, units)
        if why is not None:
            raise UsageError(f"--method dp does not apply here: {why}; use --method milp")
        if budget is None:
            raise UsageError("--method dp needs a budget; without one use --method milp")
        t0 = time.perf_counter()
        fixed = _probe(model, units, budget, _harmless(model, units, budget, fixed0))
        start = _greedy(model, units, budget, fixed)
        res = solve_dp(model, units, budget, fixed, time_limit=time_limit or None, start=start)
        total += time.perf_counter() - t0
        if res.x is None and res.complete:
            raise _budget_error(model, granularity, budget, "milp")
        if res.x is None:
            raise UsageError(f"the dynamic programme found no configuration within {time_limit} s: "
                             "raise --time-limit or use --method milp")
        tx = model.predict(units.config(model, res.x)).time
        gap = max(0.0, 1.0 - res.bound / tx) if np.isfinite(res.bound) else np.inf
        return _plan(model, units, res.x, budget, "dp", "optimal" if res.proven else "time-limit",
                     gap, total)
    for _ in range(6 + (MAX_EXCLUDED if relax else 0)):
        t0 = time.perf_counter()
        fixed = fixed0 if target is None else \
            _probe(model, units, target, _harmless(model, units, min(target, budget), fixed0))
        start = None if target is None else _greedy(model, units, target, fixed)
        if start is not None and first is None:
            p0 = _plan(model, units, start, budget, "milp", "time-limit", np.nan, 0.0)
            first = p0 if p0.peak <= budget else None
        total += time.perf_counter() - t0
        left = 0 if not time_limit else max(1.0, time_limit - total)
        x, status, gap, dt, msg = _solve(model, units, target, left, exclude=excluded, fixed=fixed,
                                         start=start)
        total += dt
        if x is None:
            if status != "infeasible":
                raise UsageError(f"the solver found no configuration within {time_limit} s ({msg}): "
                                 "raise --time-limit")
            if (target == budget and not relax) or (relax and target > budget):
                # relaxed: nothing that fits was excluded, so nothing fits
                raise _budget_error(model, granularity, budget, "milp")
            # within the solver's tolerance of the lowest peak: is anything at all below?
            low = lowest_peak(model, granularity, time_limit=time_limit)
            if low.peak <= budget:
                return Plan(low.config, budget, units.granularity, "milp", "feasible", np.nan,
                            total + low.solve_s, low.prediction, low.inhibited_units)
            raise _budget_error(model, granularity, budget, "milp")
        if relax and target <= budget and status == "optimal":
            status = "bound"      # optimal over the linear bound only
        plan = _plan(model, units, x, budget, "milp", status, gap, total)
        if dual is None and (budget is None or target >= budget) and np.isfinite(gap):
            dual = plan.predicted_time * (1.0 - gap)     # every fitting configuration was in
        if budget is None or plan.peak <= budget:
            if first is not None and first.predicted_time < plan.predicted_time:
                # a re-solve (after a tolerance overshoot) with little time left did worse
                # than the first incumbent: keep that, with the gap the first bound certifies
                g = np.nan if dual is None else max(0.0, 1.0 - dual / first.predicted_time)
                st = "optimal" if (g == g and g <= 1e-6) else "time-limit"
                return Plan(first.config, budget, units.granularity, "milp", st, g, total,
                            first.prediction, first.inhibited_units)
            return plan
        if relax and target > budget and len(excluded) < MAX_EXCLUDED:
            excluded.append(np.asarray(x, dtype=bool))
            continue
        if relax and target > budget:
            excluded = []
            target = budget
            continue
        # the solver's feasibility tolerance let a few bytes through: tighten and solve again
        step = max(step * 4, plan.peak - budget + 1)
        target = budget - step
    raise UsageError("the solver's solutions keep exceeding the budget by its tolerance; "
                     "give a slightly larger budget")


def _budget_error(model: CostModel, granularity: str, budget: int, method: str) -> BudgetError:
    low = lowest_peak(model, granularity, method=method)
    r = int(np.argmax(low.peak_by_rank))
    return BudgetError(
        f"no configuration fits a budget of {human_bytes(budget)} ({budget} bytes) per rank: the "
        f"lowest predicted peak is {human_bytes(low.peak)} ({low.peak} bytes, on rank {r}), with "
        f"{len(low.config.inhibited)} site(s) inhibited. Give a budget of at least {low.peak} bytes",
        low.peak, low.config)


@dataclass(frozen=True)
class ParetoPoint:
    budget: int
    plan: Plan


def pareto_front(model: CostModel, n: int, granularity: str = "site", *, method: str = "milp",
                 time_limit: float | None = 60.0, budgets=()) -> list[ParetoPoint]:
    """The predicted front: the optimum at ``n`` budgets from the lowest reachable
    peak to the peak of the fastest configuration, and at each of ``budgets`` within
    that range (those above it are the fastest configuration's: at its peak; those
    below it fit nothing and are left out). Drawn as a staircase, the front passes at
    each such budget B through the optimum at B, so that no configuration whose
    predicted peak is B lies faster than the staircase at B."""
    if n < 1:
        raise UsageError("--pareto needs at least 1 point")
    low = lowest_peak(model, granularity, method=method, time_limit=time_limit)
    fast = optimize(model, None, granularity, method=method, time_limit=time_limit)
    lo, hi = low.peak, max(low.peak, fast.peak)
    extra = {min(int(b), hi) for b in budgets if int(b) >= lo}
    budgets = sorted(set(int(round(b)) for b in np.linspace(lo, hi, n)) | extra)
    out = []
    for b in budgets:
        out.append(ParetoPoint(b, optimize(model, b, granularity, method=method, time_limit=time_limit)))
    return out
