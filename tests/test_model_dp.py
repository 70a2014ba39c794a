"""The dynamic programme over the call tree (pyharness/model/dp.py) against exhaustive
enumeration of the model and the MILP, on random simulated trees (a site occurs at
several nodes and callees repeat, so the programme's relaxation is often
inconsistent and its branching is exercised); and the presolve that fixes units
whose inhibition can never break the budget."""

from __future__ import annotations

import numpy as np
import pytest

from test_model_bruteforce import CASES, _model

from pyharness.errors import UsageError
from pyharness.model.dp import _pareto2, _pareto3, dp_applicable, solve_dp
from pyharness.model.milp import (Units, _dominated, _greedy, _harmless, _probe, lowest_peak,
                                  optimize)


def _all(m, units):
    k = len(units.names)
    X = ((np.arange(1 << k)[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)
    times, peaks = m.predict_many(units.active(X))
    return X, times.max(axis=1), peaks.max(axis=1)


def _budgets(pmax, seed):
    rng = np.random.default_rng(seed)
    lo, hi = int(pmax.min()), int(pmax.max())
    return sorted({lo, (lo + hi) // 2, hi} | {int(b) for b in rng.integers(lo, hi + 1, size=4)})


@pytest.mark.parametrize("seed", range(40))
def test_dp_equals_exhaustive_and_milp_on_one_rank(seed):
    m = _model(seed, 1)
    units = Units.of(m, "site")
    if not units.names:
        pytest.skip("no site ran")
    assert dp_applicable(m, units) is None
    X, tmax, pmax = _all(m, units)
    for budget in _budgets(pmax, seed):
        best = tmax[pmax <= budget].min()
        # the programme alone, without presolve or start
        r = solve_dp(m, units, budget)
        assert r.proven and r.complete
        j = int((r.x.astype(np.int64) << np.arange(len(units.names))).sum())
        assert pmax[j] <= budget
        assert tmax[j] <= best * (1 + 1e-12) + 1e-15, (budget, r)
        assert r.bound <= best * (1 + 1e-12) + 1e-15
        # through optimize (presolve, greedy start), --method dp and the MILP's default
        for method in ("dp", "milp"):
            p = optimize(m, budget, "site", method=method)
            assert p.status == "optimal" and p.peak <= budget and p.method == method
            assert best - 1e-15 <= p.predicted_time <= best * (1 + 2e-6) + 1e-15, (method, budget)
        ex = optimize(m, budget, "site", method="exhaustive")
        assert ex.predicted_time == pytest.approx(best, rel=1e-12, abs=1e-15)
    low = int(pmax.min())
    assert solve_dp(m, units, low - 1).x is None


@pytest.mark.parametrize("seed,nranks", [c for c in CASES if c[1] > 1][::3])
def test_dp_refuses_several_ranks_and_the_milp_answers(seed, nranks):
    """The objective of several ranks is the slowest rank's time, not a sum: the
    programme does not apply and --method dp says so."""
    m = _model(seed, nranks)
    units = Units.of(m, "site")
    if not units.names:
        pytest.skip("no site ran")
    assert "rank" in dp_applicable(m, units)
    X, tmax, pmax = _all(m, units)
    budget = int(np.median(pmax))
    with pytest.raises(UsageError, match="dp does not apply"):
        optimize(m, budget, "site", method="dp")
    with pytest.raises(UsageError, match="dp does not apply"):
        optimize(m, budget, "callee", method="dp")


@pytest.mark.parametrize("seed,nranks", CASES[::2])
def test_harmless_units_keep_an_optimum(seed, nranks):
    """Every unit the new presolve fixes inhibited is inhibited in some optimum (over
    the dominated units and the units the budget decides too)."""
    m = _model(seed, nranks)
    units = Units.of(m, "site")
    if not units.names:
        pytest.skip("no site ran")
    X, tmax, pmax = _all(m, units)
    for budget in _budgets(pmax, seed):
        best = tmax[pmax <= budget].min()
        f0 = _dominated(m, units)
        f1 = _harmless(m, units, budget, f0)
        assert all(f1[u] == v for u, v in f0.items())
        fixed = _probe(m, units, budget, f1)
        keep = pmax <= budget
        for u, v in fixed.items():
            keep &= X[:, u] == v
        assert keep.any() and tmax[keep].min() <= best * (1 + 1e-12) + 1e-15, (budget, f1, fixed)
        start = _greedy(m, units, budget, fixed)
        if start is not None:
            j = int((start.astype(np.int64) << np.arange(len(units.names))).sum())
            assert pmax[j] <= budget


def test_pareto_filters_equal_brute_force():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 50, 400, 3000):
        t = rng.integers(0, 30, n).astype(np.float64)
        a = rng.integers(0, 30, n)
        b = rng.integers(0, 30, n)
        k = _pareto3(t, a, b)
        pts = set(zip(t[k].tolist(), a[k].tolist(), b[k].tolist()))
        assert len(pts) == len(k)           # one of equal points
        want = {(t[i], a[i], b[i]) for i in range(n)
                if not np.any((t <= t[i]) & (a <= a[i]) & (b <= b[i])
                              & ((t < t[i]) | (a < a[i]) | (b < b[i])))}
        assert pts == {(float(x), int(y), int(z)) for x, y, z in want}
        k2 = _pareto2(t, a)
        want2 = {(t[i], a[i]) for i in range(n)
                 if not np.any((t <= t[i]) & (a <= a[i]) & ((t < t[i]) | (a < a[i])))}
        assert set(zip(t[k2].tolist(), a[k2].tolist())) == want2 and len(k2) == len(want2)


def test_lowest_peak_unchanged():
    m = _model(5, 1)
    assert lowest_peak(m).peak == lowest_peak(m, method="exhaustive").peak
