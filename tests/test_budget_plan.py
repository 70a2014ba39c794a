"""``analyze --budget`` / ``--write-list`` (suggestions.select_under_budget) never
proposes a configuration whose true peak is over the budget.

Summed single-flip estimates are below the truth when an inner site and its
caller are inhibited together (the caller's tape then holds the inner call's
whole tape). The plan now asks the cost model for the peak of the whole
configuration. "True" is always a real run of the proposed configuration
(pyharness.profile --config), compared with the budget byte for byte."""

from __future__ import annotations

import json

import h5py
import numpy as np

from phtest import mpirun
from pyharness.analysis.profiles import analyze_profile
from pyharness.analysis.suggestions import select_under_budget
from pyharness.config import Configuration
from pyharness.model import CostModel

# 4 sites, among them n1@root (the caller) and n3@n1 (an inner site)
TREE = ["--kernel", "calltree", "--param", "shape=random", "--param", "nsites=4",
        "--param", "seed=0", "--param", "m=8"]


def _run(tmp, name, extra=()):
    out = tmp / name
    mpirun(1, ["-m", "pyharness.profile", *TREE, "--out", str(out), *extra], cwd=tmp, check=True)
    return out


def _measured_peak(tmp, sites, j) -> int:
    p = tmp / f"cfg{j}.json"
    p.write_text(json.dumps({"inhibited": sorted(sites)}))
    with h5py.File(_run(tmp, f"run{j}.h5", ["--config", str(p), "--no-profiling"])) as f:
        return int(np.max(f["summary/peak_bytes"][()]))


def _sites(an, plan) -> set[str]:
    return set(an.inhibited_sites) | {s for e in plan.selected for s in e.sites}


def _nested(sites) -> bool:
    """An inner site and its caller: callee of one is the parent of the other."""
    callee = {s.split("@")[0] for s in sites}
    return any(s.split("@")[1].split(".")[0] in callee for s in sites)


def test_plan_never_over_budget_where_summed_estimates_are(tmp_path):
    prof = _run(tmp_path, "profile.h5")
    an = analyze_profile(str(prof), "site")
    model = CostModel.from_profile(prof)
    budgets = range(int(an.peak), 3 * int(an.peak), 64)
    plans = {}
    summed_over = None
    for b in budgets:
        plan = select_under_budget(an, b, model=model)
        assert plan.exact_peaks and plan.new_peak <= b
        plans.setdefault(frozenset(_sites(an, plan)), (b, plan))
        old = select_under_budget(an, b)
        old_sites = _sites(an, old)
        if summed_over is None and model.predict(Configuration(frozenset(old_sites))).peak > b:
            summed_over = (b, old, old_sites)
    # the summed estimates do go over the budget here, with a site and its caller
    assert summed_over is not None
    b, old, old_sites = summed_over
    assert old.new_peak <= b and _nested(old_sites)
    true_old = _measured_peak(tmp_path, old_sites, 0)
    assert true_old > b, (true_old, b)
    # the model's plan at that budget, and every distinct plan, fits when run
    new_at_b = select_under_budget(an, b, model=model)
    plans.setdefault(frozenset(_sites(an, new_at_b)), (b, new_at_b))
    assert len(plans) >= 2
    for j, (sites, (bb, plan)) in enumerate(sorted(plans.items(), key=lambda kv: kv[1][0]), 1):
        true = _measured_peak(tmp_path, sites, j)
        assert true == plan.new_peak and true <= bb, (sorted(sites), true, plan.new_peak, bb)


def test_analyze_write_list_says_the_peak_is_predicted(tmp_path):
    prof = _run(tmp_path, "profile.h5")
    lst = tmp_path / "list.txt"
    p = mpirun(1, ["-m", "pyharness.analyze", str(prof), "--budget", "1.5x", "--write-list",
                   str(lst)], cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "predicted peak" in p.stdout
    assert "predicted peak" in lst.read_text()
