"""The MILP's optimum (with its presolve: dominated units, units the budget decides, the
greedy incumbent) equals exhaustive enumeration of the model, on random small call
trees with several ranks whose trees and times differ (no runs: the simulator of
docs/MODEL.md's execution model gives each rank's exact events)."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from pyharness.analysis.profiles import Locations
from pyharness.analysis.simulate import Node, random_tree, simulate
from pyharness.config import Configuration
from pyharness.model import CostModel
from pyharness.model.milp import (BudgetError, Units, _dominated, _greedy, _Peaks, _probe,
                                  lowest_peak, optimize)
from pyharness.model.structure import reduce_rank

NSITES = 9
NROUTINES = 3
CASES = [(seed, nranks) for seed in range(14) for nranks in (1, 2, 3)]


def _consistent(node: Node, snap: dict[int, int]) -> Node:
    """The same tree with one snapshot size per site (the model requires it)."""
    kids = tuple(_consistent(ch, snap) for ch in node.children)
    s = snap.setdefault(node.site, node.snapshot) if node.site >= 0 else node.snapshot
    return dataclasses.replace(node, snapshot=s, children=kids)


def _vary(node: Node, rng: random.Random) -> Node:
    """Another rank: same calls, other times (and now and then other own tapes)."""
    kids = tuple(_vary(ch, rng) for ch in node.children)
    tape = tuple(t if rng.random() < 0.8 else rng.randint(0, 100) for t in node.tape)
    return dataclasses.replace(node, run_ns=rng.randint(0, 80), write_ns=rng.randint(0, 10),
                               read_ns=rng.randint(0, 10), tape=tape, children=kids)


def _model(seed: int, nranks: int, with_trees: bool = False):
    rng = random.Random(seed)
    snap: dict[int, int] = {}
    base = _consistent(random_tree(rng, nsites=NSITES, max_depth=4, max_children=3, idle=False,
                                   nroutines=NROUTINES), snap)
    trees = [base] + [_vary(base, rng) for _ in range(nranks - 1)]
    names = tuple(f"c{k % 4}@r.f:{k}" for k in range(NSITES)) + \
        tuple(f"routine{k}" for k in range(NROUTINES))
    callees = tuple(f"c{k % 4}" for k in range(NSITES)) + tuple(f"routine{k}" for k in range(NROUTINES))
    is_site = (True,) * NSITES + (False,) * NROUTINES
    locs = Locations(names, callees, ("r.f",) * len(names), tuple(range(len(names))), is_site)
    models, walls, cpus, peaks, nev = [], [], [], [], []
    for r, t in enumerate(trees):
        tr = simulate(t)
        models.append(reduce_rank(tr.kind, tr.loc, tr.wall_ns, tr.stack, names, rank=r,
                                  cpu_ns=tr.cpu_ns))
        walls.append(tr.total_wall_ns * 1e-9)
        cpus.append(tr.total_cpu_ns * 1e-9)
        peaks.append(tr.peak)
        nev.append(len(tr))
    summ = {"wall_s": np.array(walls), "cpu_s": np.array(cpus), "peak_bytes": np.array(peaks), "nevents": np.array(nev),
            "event_cost_ns": np.zeros(nranks), "callback_cost_ns": np.zeros(nranks)}
    head = (locs, nranks, summ, np.zeros(len(names), bool), 0, "sim", "")
    m = CostModel.from_rank_models(models, head, "sim")
    return (m, trees) if with_trees else m


@pytest.mark.parametrize("seed,nranks", CASES[::2])
def test_wall_and_cpu_time_predictions_equal_the_simulated_runs(seed, nranks):
    """The simulator's true wall and CPU times of random configurations (idle time on
    the wall clock only, as MPI waiting) equal the predictions of the one all-active
    trace, rank by rank."""
    m, trees = _model(seed, nranks, with_trees=True)
    assert m.has_cpu
    sites = sorted(set(range(NSITES)) & {s for s in range(NSITES) if m.mult[:, s].sum()})
    rng = random.Random(seed)
    for _ in range(6):
        inh = {s for s in sites if rng.random() < 0.5}
        p = m.predict(Configuration(frozenset(m.names[s] for s in inh)))
        for r, t in enumerate(trees):
            tr = simulate(t, inhibited=inh)
            assert p.time_by_rank[r] == pytest.approx(tr.total_wall_ns * 1e-9, abs=1e-15)
            assert p.cpu_by_rank[r] == pytest.approx(tr.total_cpu_ns * 1e-9, abs=1e-15)


@pytest.mark.parametrize("seed,nranks", CASES)
@pytest.mark.parametrize("granularity", ["site", "callee"])
def test_milp_equals_brute_force_on_random_trees(seed, nranks, granularity):
    m = _model(seed, nranks)
    assert m.peaks_verified, m.notes
    units = Units.of(m, granularity)
    if not units.names:
        pytest.skip("no site ran")
    low_ex = lowest_peak(m, granularity, method="exhaustive").peak
    assert lowest_peak(m, granularity).peak == low_ex
    top = optimize(m, None, granularity, method="exhaustive").peak
    rng = np.random.default_rng(seed)
    budgets = {low_ex, (low_ex + top) // 2, top, int(m.measured_peak.max())}
    budgets |= {int(b) for b in rng.integers(low_ex, max(low_ex + 1, top + 1), size=3)}
    for budget in sorted(budgets):
        ex = optimize(m, budget, granularity, method="exhaustive")
        mi = optimize(m, budget, granularity)
        assert mi.status == "optimal", (budget, mi.status)
        assert mi.peak <= budget and ex.peak <= budget
        assert ex.predicted_time - 1e-15 <= mi.predicted_time <= ex.predicted_time * (1 + 2e-6) + 1e-15, \
            (budget, sorted(ex.config.inhibited), sorted(mi.config.inhibited))
    with pytest.raises(BudgetError) as err:
        optimize(m, low_ex - 1, granularity)
    assert err.value.lowest_peak == low_ex


def _every_site_configuration(m):
    """(site units, bool[2^k, k]: every configuration of the k sites); skips without sites."""
    units = Units.of(m, "site")
    k = len(units.names)
    if not k:
        pytest.skip("no site ran")
    return units, ((np.arange(1 << k)[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)


@pytest.mark.parametrize("seed,nranks", CASES[::3])
def test_presolve_keeps_an_optimum_and_the_start_fits(seed, nranks):
    """Every unit the presolve fixes takes that value in some optimum (the best
    configuration over the fixings equals the best over all), the greedy start fits the
    budget, and the incremental peaks equal the model's peaks."""
    m = _model(seed, nranks)
    units, X = _every_site_configuration(m)
    k = len(units.names)
    times, peaks = m.predict_many(units.active(X))
    tmax, pmax = times.max(axis=1), peaks.max(axis=1)
    ev = _Peaks(m, units, X[5 % len(X)])
    assert ev.peak() == pmax[5 % len(X)]
    for j in (3 % len(X), 0, len(X) - 1):
        for u in range(k):
            ev.set(u, bool(X[j, u]))
        assert ev.peak() == pmax[j]
    for budget in sorted({int(pmax.min()), int(np.median(pmax)), int(pmax.max())}):
        ok = pmax <= budget
        best = tmax[ok].min()
        fixed = _probe(m, units, budget, _dominated(m, units))
        keep = ok.copy()
        for u, v in fixed.items():
            keep &= X[:, u] == v
        assert keep.any() and tmax[keep].min() <= best * (1 + 1e-12) + 1e-15, fixed
        start = _greedy(m, units, budget, fixed)
        if start is not None:
            j = int((start.astype(np.int64) << np.arange(k)).sum())
            assert pmax[j] <= budget


def _exact_bases(nodes, roots, act) -> dict[int, float]:
    """The lowest base of every node over the calls of one configuration, by walking
    the unfolded tree (an independent reference: its own tape recursion)."""
    T: list[float] = []
    for nd in nodes:
        Q: list[float] = []
        for a, g, s, sn, c, cnt in nd.items:
            y = sn if act[s] else T[c]
            Q.append((Q[a] if a >= 0 else 0) + g + cnt * y)
        ta, toff = nd.tape
        T.append((Q[ta] if ta >= 0 else 0) + toff)
    low: dict[int, float] = {}
    todo = [(int(r), 0.0) for r in set(int(v) for v in roots)]
    while todo:
        i, b = todo.pop()
        low[i] = min(low.get(i, np.inf), b)
        Q = []
        for a, g, s, sn, c, cnt in nodes[i].items:
            y = sn if act[s] else T[c]
            start = (Q[a] if a >= 0 else 0) + g
            todo.append((c, b + start + (cnt - 1) * y))
            Q.append(start + cnt * y)
    return low


@pytest.mark.parametrize("seed,nranks", CASES[::3])
def test_lowest_bases_bound_every_configuration(seed, nranks):
    """The lowest base the program and the dynamic programme give every node (the budget
    minus it bounds the node's peak) is at most the node's base in every call of every
    configuration that keeps the presolve's fixings; infinite only for nodes no
    configuration runs."""
    from pyharness.model.bounds import lowest_bases
    m = _model(seed, nranks)
    units, X = _every_site_configuration(m)
    nodes = m.bound_nodes
    _, peaks = m.predict_many(units.active(X))
    for fixed in ({}, _probe(m, units, int(np.median(peaks.max(axis=1))), _dominated(m, units))):
        lb = lowest_bases(m, units, fixed)
        seen: dict[int, float] = {}
        for row in X:
            if any(row[u] != v for u, v in fixed.items()):
                continue
            for i, b in _exact_bases(nodes, m.roots, units.active(row[None, :])[0]).items():
                assert lb[i] <= b + 1e-9, (fixed, i, lb[i], b)
                seen[i] = min(seen.get(i, np.inf), b)
        for i in range(len(nodes)):
            if i not in seen:
                assert lb[i] == np.inf, (i, lb[i])
