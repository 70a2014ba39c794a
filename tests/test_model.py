"""The cost model (pyharness.model) against real runs of the calltree kernel at 1 rank,
the MILP against exhaustive search over the model, and bad input.

"Measured" is always a real run: pyharness.profile / pyharness.explore run the
Fortran kernel with the configuration, and their files' peak_bytes are compared
with the model's prediction byte for byte."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from phtest import mpirun
from pyharness.config import Configuration
from pyharness.errors import UsageError
from pyharness.model import CostModel, StructureError, reduce_rank
from pyharness.model.milp import BudgetError, Units, lowest_peak, optimize, pareto_front

TREES = [("random", 12, 3), ("balanced", 10, 1), ("deep", 12, 5), ("random", 9, 11)]


def _tree_args(shape, nsites, seed):
    return ["--kernel", "calltree", "--param", f"shape={shape}", "--param", f"nsites={nsites}",
            "--param", f"seed={seed}", "--param", "m=64"]


def _profile(tmp, targs, name="profile.h5", extra=(), n=1):
    out = tmp / name
    mpirun(n, ["-m", "pyharness.profile", *targs, "--out", str(out), *extra], cwd=tmp, check=True)
    return out


def _measured_peaks(tmp, targs, configs, n=1):
    """Peak per rank of each configuration, from real runs (one pyharness.profile each)."""
    out = []
    for j, cfg in enumerate(configs):
        p = tmp / f"cfg{j}.json"
        p.write_text(json.dumps({"inhibited": sorted(cfg.inhibited)}))
        f = _profile(tmp, targs, f"run{j}.h5", ["--config", str(p), "--no-profiling"], n=n)
        with h5py.File(f) as h:
            out.append(h["summary/peak_bytes"][()])
    return out


@pytest.fixture(scope="module", params=TREES, ids=lambda t: f"{t[0]}{t[1]}s{t[2]}")
def tree(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("model")
    targs = _tree_args(*request.param)
    prof = _profile(tmp, targs)
    return tmp, targs, CostModel.from_profile(prof)


def _random_configs(model, n, seed):
    rng = np.random.default_rng(seed)
    sites = model.site_indices
    out = []
    for _ in range(n):
        k = int(rng.integers(0, len(sites) + 1))
        idx = rng.choice(sites, size=k, replace=False)
        out.append(Configuration(frozenset(model.names[i] for i in idx)))
    return out


def test_profile_records_the_cost_of_an_event(tree):
    _, _, m = tree
    assert np.all(m.event_cost_ns > 0) and np.all(m.callback_cost_ns >= 0)
    assert np.all(m.event_cost_ns > m.callback_cost_ns)


def test_measured_peaks_equal_predictions_to_the_byte(tree):
    tmp, targs, m = tree
    configs = [Configuration(), Configuration(frozenset(m.table.site_names))]
    configs += _random_configs(m, 6, seed=len(m.site_indices))
    measured = _measured_peaks(tmp, targs, configs)
    for cfg, got in zip(configs, measured):
        p = m.predict(cfg)
        assert p.exact, p.reasons
        assert list(p.peak_by_rank) == list(got), sorted(cfg.inhibited)


@pytest.mark.parametrize("granularity", ["site", "callee"])
def test_milp_is_the_best_of_exhaustive_search(tree, granularity):
    _, _, m = tree
    low = lowest_peak(m, granularity, method="exhaustive").peak
    assert lowest_peak(m, granularity).peak == low
    top = optimize(m, None, granularity, method="exhaustive").peak
    for budget in sorted({low, (low + top) // 2, int(low * 1.2), top, int(m.measured_peak.max())}):
        ex = optimize(m, budget, granularity, method="exhaustive")
        mi = optimize(m, budget, granularity)
        assert mi.status == "optimal"
        assert mi.peak <= budget and ex.peak <= budget
        # proven optimal: within the solver's relative gap (1e-6) of the exhaustive optimum
        assert ex.predicted_time - 1e-12 <= mi.predicted_time <= ex.predicted_time * (1 + 2e-6) + 1e-12


def test_chosen_configuration_measures_its_predicted_peak(tree):
    tmp, targs, m = tree
    low = lowest_peak(m).peak
    plans = [optimize(m, b) for b in sorted({low, int(1.5 * m.measured_peak.max())})]
    measured = _measured_peaks(tmp, targs, [p.config for p in plans])
    for plan, got in zip(plans, measured):
        assert list(plan.peak_by_rank) == list(got)
        assert max(got) <= plan.budget


def test_time_model_is_linear_in_the_active_sites(tree):
    """T(cfg) = T(all inhibited) + the weights of the active sites; the profiled run's own
    time minus its events' cost is the prediction of the profiled configuration."""
    _, _, m = tree
    every = m.predict(Configuration())
    none = m.predict(Configuration(frozenset(m.table.site_names)))
    w = m.site_weight_s()
    assert every.time_by_rank == pytest.approx(none.time_by_rank + w.sum(axis=1))
    expected = m.wall_s - m.nevents * (m.event_cost_ns - m.callback_cost_ns) * 1e-9
    assert every.time_by_rank == pytest.approx(expected)
    # with profiling on, the profiled configuration costs what was measured
    assert every.profiled_time_by_rank == pytest.approx(m.wall_s)
    assert list(every.events_by_rank) == list(m.nevents)


def test_pareto_front_is_monotone(tree):
    _, _, m = tree
    pts = pareto_front(m, 5)
    assert pts[0].plan.peak == lowest_peak(m).peak
    times = [p.plan.predicted_time for p in pts]
    assert all(a >= b - 1e-12 for a, b in zip(times, times[1:]))
    assert all(p.plan.peak <= p.budget for p in pts)


def test_profile_with_inhibited_sites_is_exact_only_for_configurations_that_keep_them(tmp_path):
    targs = _tree_args("random", 10, 7)
    full = CostModel.from_profile(_profile(tmp_path, targs, "full.h5"))
    names = full.table.site_names
    part = CostModel.from_profile(_profile(tmp_path, targs, "part.h5",
                                           ["--nocheckpoint", ",".join(names[:3])]))
    keep = Configuration(frozenset(names[:3] + names[5:7]))
    p = part.predict(keep)
    assert p.exact and not p.reasons
    assert list(p.peak_by_rank) == list(full.predict(keep).peak_by_rank)
    assert list(p.peak_by_rank) == list(_measured_peaks(tmp_path, targs, [keep])[0])
    wake = part.predict(Configuration(frozenset(names[1:3])))
    assert not wake.exact
    assert names[0] in wake.reasons[0] and "inhibited in the profiled run" in wake.reasons[0]


def test_optimize_of_a_profile_with_inhibited_sites_says_it_keeps_them(tmp_path):
    """optimize of a profile that inhibited sites printed 'inhibited 0 site(s): none (every
    checkpoint on)' for a plan (and plan.config.json) that keeps those sites inhibited."""
    targs = _tree_args("random", 6, 2)
    names = CostModel.from_profile(_profile(tmp_path, targs, "full.h5")).table.site_names
    prof = _profile(tmp_path, targs, "part.h5", ["--nocheckpoint", ",".join(names[:2])])
    r = mpirun(1, ["-m", "pyharness.optimize", str(prof), "--budget", "10x", "--out",
                   str(tmp_path / "plan")], cwd=tmp_path, check=True)
    cfg = set(json.loads((tmp_path / "plan.config.json").read_text())["inhibited"])
    assert set(names[:2]) <= cfg                      # the plan keeps them inhibited
    assert "every checkpoint on" not in r.stdout, r.stdout
    kept = [ln for ln in r.stdout.splitlines() if ln.startswith("kept")]
    assert len(kept) == 1 and "2 site(s)" in kept[0] and all(n in kept[0] for n in names[:2]), r.stdout


def test_a_profile_in_which_no_site_ran_has_nothing_to_optimise(tmp_path):
    """Every call with loop count 0: the solver had no decision and optimize and tune
    (method optimal) ended in a traceback ('need at least one array to stack')."""
    tree = tmp_path / "t.json"
    tree.write_text(json.dumps({"nodes": [{"name": "a", "children": [{"node": "b", "loop": 0}]},
                                          {"name": "b"}]}))
    targs = ["--kernel", "calltree", "--param", f"tree={tree}"]
    prof = _profile(tmp_path, targs)
    r = mpirun(1, ["-m", "pyharness.optimize", str(prof), "--budget", "1.5x"], cwd=tmp_path)
    assert r.returncode == 2 and "no checkpoint site ran" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = mpirun(1, ["-m", "pyharness.tune", *targs, "--budget", "1.5x", "--no-progress", "--out",
                   str(tmp_path / "t.h5")], cwd=tmp_path)
    assert r.returncode == 0 and "nothing for the model to decide" in r.stderr + r.stdout, r.stderr[-2000:]
    assert json.loads((tmp_path / "t.config.json").read_text())["inhibited"] == []


def test_optimize_dp_with_a_pareto_front(tmp_path):
    """--method dp --pareto N wrote the plan, then failed: '--method dp needs a budget'
    (the front's fastest configuration is solved without one)."""
    prof = _profile(tmp_path, _tree_args("random", 6, 2))
    r = mpirun(1, ["-m", "pyharness.optimize", str(prof), "--budget", "1.2x", "--method", "dp",
                   "--pareto", "3", "--out", str(tmp_path / "plan")], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "(dp)" in r.stdout and "solved by milp" in r.stdout
    with h5py.File(tmp_path / "plan.pareto.h5") as f:
        assert f.attrs["method"] == "milp" and len(f["pareto/time_s"]) >= 1


# ------------------------------------------------------------------ bad input

def test_profile_without_events_is_refused_with_the_reason(tmp_path):
    prof = _profile(tmp_path, _tree_args("chain", 4, 0), extra=["--no-profiling"])
    with pytest.raises(UsageError, match="no-profiling"):
        CostModel.from_profile(prof)
    r = mpirun(1, ["-m", "pyharness.optimize", str(prof), "--budget", "1MiB"], cwd=tmp_path)
    assert r.returncode == 2 and "no-profiling" in r.stderr and "Traceback" not in r.stderr


def test_budget_below_every_reachable_peak_names_the_lowest(tree):
    _, _, m = tree
    low = lowest_peak(m).peak
    for method in ("milp", "exhaustive"):
        with pytest.raises(BudgetError, match=f"lowest predicted peak is .*{low} bytes") as ei:
            optimize(m, low - 1, method=method)
        assert ei.value.lowest_peak == low


def test_optimize_cli_budget_error_once_for_every_rank(tmp_path):
    prof = _profile(tmp_path, _tree_args("random", 6, 2), n=2)
    r = mpirun(2, ["-m", "pyharness.optimize", str(prof), "--budget", "1KiB"], cwd=tmp_path)
    assert r.returncode != 0
    assert r.stderr.count("lowest predicted peak") == 1, r.stderr     # printed once, by rank 0
    assert "[ranks 0-1 of 2]" in r.stderr


NAMES = ["r@x.f:0", "a@r.f:1", "b@r.f:2"]


def _ev(rows):
    k, l, s = zip(*rows)
    return np.array(k), np.array(l), np.arange(len(rows)) * 10, np.array(s)


def test_trace_that_does_not_nest_names_the_site_and_the_event():
    # a's forward call, then b is reversed: not the call pending on the stack
    rows = [(1, 1, 0), (2, 1, 8), (3, 1, 8), (1, 2, 8), (2, 2, 16), (3, 2, 16), (7, 0, 16),
            (4, 1, 16)]
    with pytest.raises(StructureError, match=r"event #7 \(SNPREAD of a@r.f:1\).*b@r.f:2.*not nest"):
        reduce_rank(*_ev(rows), NAMES)
    # ENDADVANCE without BEGINADVANCE
    with pytest.raises(StructureError, match=r"event #1 \(ENDADVANCE of a@r.f:1\)"):
        reduce_rank(*_ev([(1, 1, 0), (3, 1, 0)]), NAMES)


def test_instances_that_disagree_in_bytes_name_the_site_and_both_events():
    rows = [(1, 1, 0), (2, 1, 8), (3, 1, 8), (1, 1, 8), (2, 1, 24), (3, 1, 24)]
    with pytest.raises(StructureError, match=r"event #4 .*a@r.f:1.*16 bytes.*event #1 was 8 bytes"):
        reduce_rank(*_ev(rows), NAMES)


def test_unknown_names_and_methods_are_usage_errors(tree):
    _, _, m = tree
    with pytest.raises(UsageError, match="unknown site or callee"):
        m.predict(["no_such_routine"])
    with pytest.raises(UsageError, match="granularity"):
        Units.of(m, "routine")
    with pytest.raises(UsageError, match="method"):
        optimize(m, 10**9, method="greedy")


def test_predict_and_optimize_commands_under_mpiexec(tmp_path):
    targs = _tree_args("random", 8, 4)
    prof = _profile(tmp_path, targs, n=2)
    r = mpirun(2, ["-m", "pyharness.optimize", str(prof), "--budget", "1.2x", "--out",
                   str(tmp_path / "plan"), "--pareto", "3"], cwd=tmp_path, check=True)
    assert r.stdout.count("proven optimal") >= 1 and "rank 1:" in r.stdout
    cfg = json.loads((tmp_path / "plan.config.json").read_text())
    assert (tmp_path / "plan.nocheckpoint.txt").exists()
    with h5py.File(tmp_path / "plan.pareto.h5") as f:
        assert f.attrs["kind"] == "pareto" and len(f["pareto/time_s"]) == 3
    r = mpirun(2, ["-m", "pyharness.predict", str(prof), "--config", str(tmp_path / "plan.config.json")],
               cwd=tmp_path, check=True)
    assert r.stdout.count("exact  yes") == 1      # rank 0 prints
    peaks = [int(v) for v in __import__("re").findall(r"rank \d: [^(]*\((\d+) B\)", r.stdout)]
    measured = _measured_peaks(tmp_path, targs, [Configuration(frozenset(cfg["inhibited"]))], n=2)[0]
    assert peaks == list(measured)
