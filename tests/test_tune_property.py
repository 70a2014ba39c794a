"""The tuning loop's promises, replayed on exhaustive measurements of real runs.

Every configuration of a few small call trees is measured once (``explore
--exhaustive``, 2 ranks); the loop is then replayed on those measurements for every
strategy, granularity, budget and starting configuration, starting under and over
budget. The exhaustive table is the independent truth the test checks against:

- when a configuration the loop can express fits the budget, the loop ends within
  it; when none does, it fails with a clear error and recommends nothing;
- the chosen configuration's peak and time are its measured ones (its record in
  tune.h5 and the exhaustive table agree), and it fits the budget;
- the chosen configuration's gradient is the all-checkpointed one's;
- a configuration whose gradient differs (made so in a copy of the measurements) is
  never chosen, is recorded with the difference, and its callee is reported as one
  that must stay checkpointed; explore and the report say the same;
- noise-free (every configuration has one measurement), the loop makes exactly the
  choices of a single-flip greedy written here from the rule (docs/MODEL.md), with
  the measured table as its only source of times and peaks;
- with several flips per step, the peak of every step's configuration is the cost
  model's prediction (the sum of single-flip costs is not), so none goes over budget.

The loop's acceptance rule alone does not give any of these: a start over budget,
a greedy path that strands above the budget, or a recorded peak that is not the
configuration's would each break one.
"""

import csv
import itertools
import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from phtest import mpirun
from pyharness.reduction import copy_profile
from pyharness.tuner.store import TuneStore, resolve_path

TREES = [("random", 5, 1), ("chain", 4, 2), ("wide", 5, 3)]
STRATEGIES = ["runtime-first", "memory-careful"]
GRANULARITIES = ["site", "callee"]
BUDGETS = ["below-all", "tightest", "median", "roomy"]

# Runs every case in one Python process (one import, one MPI initialisation): the
# tuner's main as a user calls it, its exit status and output captured per case.
RUNNER = r"""
import contextlib, io, json, sys
from pyharness.mpiutil import run_cli
from pyharness.tune import main
cases = json.load(open(sys.argv[1]))
res = {}
for name, argv in cases.items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run_cli("pyharness.tune", main, argv)
    res[name] = {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}
json.dump(res, open(sys.argv[2], "w"))
"""


def callee(site: str) -> str:
    return site.split("@", 1)[0].lower()


class Table:
    """The exhaustive measurements: inhibited site set -> (peak, wall, digest, cost)."""

    def __init__(self, path):
        self.rows = {}
        self.profiles = {}
        with h5py.File(path) as f:
            self.sites = [s.decode() if isinstance(s, bytes) else str(s) for s in f["sites"][()]]
            for name in f["samples"]:
                g = f["samples"][name]
                a = g.attrs
                key = frozenset(json.loads(a["inhibited"]))
                self.rows[key] = (
                    int(np.max(g["peak_bytes"][()])), float(np.max(g["wall_s"][()])),
                    str(a["grad_sha1"]), float(a["cost"]))
                self.profiles[key] = resolve_path(str(a["profile"]), path)   # relative to the file
        self.ref_digest = self.rows[frozenset()][2]

    def sites_of(self, keys, granularity):
        """The site set of a record's decision units (callee names with --granularity callee)."""
        if granularity == "site":
            return frozenset(keys)
        keys = {k.lower() for k in keys}
        return frozenset(s for s in self.sites if callee(s) in keys)

    def expressible(self, granularity):
        """Configurations the loop can reach: any site set, or unions of whole callees."""
        if granularity == "site":
            return list(self.rows)
        by = {}
        for s in self.sites:
            by.setdefault(callee(s), set()).add(s)
        groups = list(by.values())
        out = []
        for k in range(len(groups) + 1):
            for c in itertools.combinations(groups, k):
                out.append(frozenset().union(*c))
        return out


def _explore(d, params):
    p = mpirun(2, ["-m", "pyharness.explore", "--kernel", "calltree", *params, "--exhaustive",
                   "--out", str(d / "all.h5")], cwd=d, timeout=600)
    assert p.returncode == 0, p.stderr
    return p


def _budget(table, kind):
    peaks = sorted({r[0] for r in table.rows.values()})
    return {"below-all": peaks[0] - 1, "tightest": peaks[0], "median": peaks[len(peaks) // 2],
            "roomy": peaks[-1]}[kind]


def _starts(table, granularity, budget):
    """Starting configurations: all checkpointed, all inhibited, and (per site) the
    slowest one that fits and the one with the largest peak."""
    starts = {"none": frozenset(), "all": frozenset(table.sites)}
    if granularity == "site":
        fit = [c for c, r in table.rows.items() if r[0] <= budget]
        if fit:
            starts["slow-fit"] = max(fit, key=lambda c: (table.rows[c][1], sorted(c)))
        starts["max-peak"] = max(table.rows, key=lambda c: (table.rows[c][0], sorted(c)))
    return starts


def _run_cases(d, params, source, cases, extra=()):
    """cases: name -> (budget bytes, strategy, granularity, start set). Returns name -> result."""
    argvs = {}
    for name, (budget, strategy, gran, start) in cases.items():
        sub = d / name
        sub.mkdir()
        (sub / "start.json").write_text(json.dumps({"inhibited": sorted(start)}))
        argvs[name] = ["--method", "greedy", "--kernel", "calltree", *params, "--backend", "replay", "--replay-from",
                       str(source), "--budget", f"{budget}B", "--strategy", strategy,
                       "--granularity", gran, "--start", str(sub / "start.json"), "--no-progress",
                       "--out", str(sub / "tune.h5"), *extra]
    (d / "cases.json").write_text(json.dumps(argvs))
    p = subprocess.run([sys.executable, "-c", RUNNER, str(d / "cases.json"), str(d / "results.json")],
                       cwd=d, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads((d / "results.json").read_text())


@pytest.fixture(scope="module", params=TREES, ids=lambda t: f"{t[0]}{t[1]}")
def replayed(request, tmp_path_factory):
    shape, n, seed = request.param
    d = tmp_path_factory.mktemp(f"{shape}{n}")
    params = ["--param", f"shape={shape}", "--param", f"nsites={n}", "--param", f"seed={seed}",
              "--param", "m=32"]
    _explore(d, params)
    table = Table(d / "all.h5")
    assert len(table.rows) == 2 ** n
    # checkpointing changes the cost of the adjoint, never its result
    assert {r[2] for r in table.rows.values()} == {table.ref_digest}
    cases = {}
    for strategy, gran, bkind in itertools.product(STRATEGIES, GRANULARITIES, BUDGETS):
        budget = _budget(table, bkind)
        for sname, start in _starts(table, gran, budget).items():
            cases[f"{strategy}-{gran}-{bkind}-{sname}"] = (budget, strategy, gran, start)
    results = _run_cases(d, params, d / "all.h5", cases)
    return d, table, cases, results


def test_starts_under_and_over_budget(replayed):
    """The grid really starts on both sides of the budget (else the rest proves little)."""
    _, table, cases, _ = replayed
    sides = {table.rows[start][0] <= budget for budget, _, _, start in cases.values()}
    assert sides == {True, False}


@pytest.mark.parametrize("strategy,granularity,budget_kind", list(itertools.product(
    STRATEGIES, GRANULARITIES, BUDGETS)))
def test_within_budget_when_possible_chosen_as_measured_gradient_unchanged(
        replayed, strategy, granularity, budget_kind):
    d, table, cases, results = replayed
    for name, (budget, st, gran, start) in cases.items():
        if (st, gran) != (strategy, granularity) or f"-{budget_kind}-" not in name:
            continue
        res = results[name]
        sub = d / name
        fits = [c for c in table.expressible(gran) if table.rows[c][0] <= budget]
        if not fits:
            # nothing can fit: a clear error, and nothing recommended
            assert res["rc"] != 0, (name, res["stdout"])
            assert "raise --budget" in res["stderr"], (name, res["stderr"])
            assert not (sub / "tune.config.json").exists(), name
            continue
        assert res["rc"] == 0, (name, res["stderr"][-2000:])
        chosen = frozenset(json.loads((sub / "tune.config.json").read_text())["inhibited"])
        assert chosen in table.rows, (name, sorted(chosen))
        peak, wall, digest, cost = table.rows[chosen]
        # never over budget at the end
        assert peak <= budget, (name, peak, budget, sorted(chosen))
        # the chosen configuration's figures are its measurement's
        recs = TuneStore(sub / "tune.h5").records()
        mine = [r for r in recs if r.measurement is not None and r.decision in ("start", "accepted")
                and table.sites_of(r.inhibited, gran) == chosen]
        assert mine, (name, sorted(chosen))
        assert all(r.measurement.peak == peak and r.measurement.wall == wall for r in mine), name
        # the gradient never changed: the chosen one's is the all-checkpointed one's
        assert digest == table.ref_digest and cost == table.rows[frozenset()][3], name
        assert "gradient bitwise identical to the start's" in res["stdout"], name
        # the recorded start is the one asked for (granularity callee: whole callees)
        assert table.sites_of(recs[0].inhibited, gran) == start
        assert not any(r.grad_differs for r in recs), name


# ---------------------------------------------------------------------- the reference greedy
def _estimates(profile):
    """Per site (time gain of the slowest rank, peak change) of one measured profile."""
    from pyharness.analysis import analyze_profile
    out = {}
    for e in analyze_profile(profile, granularity="site").estimates:
        if e.count > 0:
            dt = e.time_gain_wall_s if np.isfinite(e.time_gain_wall_s) else e.time_gain_s
            out[e.name] = (float(dt), int(e.peak_change))
    return out


def reference_greedy(table, strategy, budget, max_steps=50):
    """Single-flip greedy from all checkpointed, under budget, written from the rule of
    docs/MODEL.md ("The greedy loop") and nothing of pyharness.tuner: propose the best
    active site (runtime-first: largest estimated gain; memory-careful: sites that
    lower or keep the peak first, then the best gain per byte) whose estimated peak
    fits, among those with a positive gain or a lower peak; keep it when its measured
    time is lower, or when it lowers the peak and the time is not higher; a rejected
    site is proposed again once its estimate changed. Times and peaks: the table's.
    Returns the steps as (flip, kept)."""
    cur = frozenset()
    rejected = {}
    steps = []
    while len(steps) < max_steps:
        peak, wall = table.rows[cur][:2]
        est = _estimates(table.profiles[cur])
        pool = [(s, *est[s]) for s in table.sites if s not in cur and s in est
                and (s not in rejected or rejected[s] != est[s])
                and (est[s][0] > 0 or est[s][1] < 0) and peak + max(est[s][1], 0) <= budget]
        if not pool:
            break
        if strategy == "runtime-first":
            pool.sort(key=lambda x: (-x[1], x[2], x[0]))
        else:
            free = sorted((x for x in pool if x[2] <= 0), key=lambda x: (-x[1], x[2], x[0]))
            costly = sorted((x for x in pool if x[2] > 0), key=lambda x: (-x[1] / x[2], x[0]))
            pool = free + costly
        s, dt, dpk = pool[0]
        new = cur | {s}
        npeak, nwall = table.rows[new][:2]
        kept = npeak <= budget and (nwall < wall or (dpk < 0 and npeak < peak and nwall <= wall))
        steps.append((s, kept))
        if kept:
            cur = new
        else:
            rejected[s] = est[s]
    return steps, cur


def test_noise_free_the_loop_chooses_what_single_flip_greedy_chooses(replayed):
    """Replayed measurements are noise-free: the loop, at its default settings, makes the
    reference greedy's every choice (no exact gain is lost to a tolerance)."""
    d, table, cases, results = replayed
    compared = 0
    for name, (budget, strategy, gran, start) in cases.items():
        if gran != "site" or start or table.rows[start][0] > budget:
            continue
        steps, final = reference_greedy(table, strategy, budget)
        recs = TuneStore(d / name / "tune.h5").records()
        mine = [(r.flips[0], r.decision == "accepted") for r in recs[1:]]
        assert all(len(r.flips) == 1 and r.phase == "inhibit" for r in recs[1:]), name
        assert mine == steps, (name, mine, steps)
        chosen = frozenset(json.loads((d / name / "tune.config.json").read_text())["inhibited"])
        assert chosen == final, (name, sorted(chosen), sorted(final))
        compared += 1
    assert compared >= 4


def test_several_flips_per_step_are_judged_with_the_model_peak(replayed, tmp_path):
    """--flips 3: a step's configuration is proposed when the cost model's peak of the
    whole configuration fits, and that prediction is its measured peak (est_dpk is the
    measured change): no step goes over the budget for want of an exact peak."""
    d, table, cases, _ = replayed
    params = json.loads((d / "cases.json").read_text())
    some = next(iter(params.values()))
    tree = some[some.index("--kernel"):some.index("--backend")]
    multi = {}
    for bkind in ("tightest", "median", "roomy"):
        budget = _budget(table, bkind)
        if table.rows[frozenset()][0] <= budget:
            for strategy in STRATEGIES:
                multi[f"{strategy}-{bkind}"] = (budget, strategy, "site", frozenset())
    assert multi
    results = _run_cases(tmp_path, tree[2:], d / "all.h5", multi, extra=("--flips", "3"))
    several = 0
    for name, (budget, strategy, gran, start) in multi.items():
        assert results[name]["rc"] == 0, (name, results[name]["stderr"][-2000:])
        recs = TuneStore(tmp_path / name / "tune.h5").records()
        cur = recs[0]
        for r in recs[1:]:
            peak = table.rows[frozenset(r.inhibited)][0]
            assert peak <= budget, (name, r.step, peak, budget)
            assert r.measurement.peak == peak
            assert r.est_dpk == peak - cur.measurement.peak, (name, r.step, r.flips)
            several += len(r.flips) > 1
            if r.decision == "accepted":
                cur = r
    assert several >= 1, "no step flipped several sites"


# ---------------------------------------------------------------------- gradient guard
@pytest.fixture(scope="module")
def tampered(tmp_path_factory):
    """Exhaustive measurements of one tree in which every configuration inhibiting one
    site X has another gradient (its recorded digest changed, as a fault that acts only
    while X is inhibited would), X being the first site the loop tries untampered."""
    d = tmp_path_factory.mktemp("guard")
    params = ["--param", "shape=random", "--param", "nsites=5", "--param", "seed=1", "--param", "m=32"]
    _explore(d, params)
    table = Table(d / "all.h5")
    roomy = _budget(table, "roomy")
    (d / "base").mkdir()
    base = _run_cases(d / "base", params, d / "all.h5",
                      {f"{s}-{g}": (roomy, s, g, frozenset())
                       for s, g in itertools.product(STRATEGIES, GRANULARITIES)})
    recs = TuneStore(d / "base" / "runtime-first-site" / "tune.h5").records()
    # the first site the loop tries (accepted or not: which one is accepted depends on the
    # measured times, which one is tried first does not once the profile is replayed)
    first = [r for r in recs if r.phase == "inhibit" and r.flips]
    assert first, "the untampered loop tried no flip: no site to make wrong"
    x = first[0].flips[0]
    # a copy of the measurements and their profiles, X's configurations made wrong
    t = d / "tampered"
    t.mkdir()
    shutil.copy(d / "all.h5", t / "all.h5")
    bad = set()
    with h5py.File(t / "all.h5", "r+") as f:
        for name in f["samples"]:
            a = f["samples"][name].attrs
            prof = t / (name + ".h5")
            # relative to all.h5; with its per-rank event files (NAME.events)
            copy_profile(resolve_path(str(a["profile"]), d / "all.h5"), prof)
            a["profile"] = str(prof)
            if x in json.loads(a["inhibited"]):
                bad.add(frozenset(json.loads(a["inhibited"])))
                a["grad_sha1"] = "0" * 40
                with h5py.File(prof, "r+") as p:
                    p["result"].attrs["grad_sha1"] = "0" * 40
    assert base and len(bad) == 2 ** 4
    return d, t, params, table, x, bad, roomy


def test_a_configuration_that_changes_the_gradient_is_never_chosen(tampered):
    d, t, params, table, x, bad, roomy = tampered
    cases = {f"{s}-{g}": (roomy, s, g, frozenset()) for s, g in itertools.product(STRATEGIES, GRANULARITIES)}
    results = _run_cases(t, params, t / "all.h5", cases)
    guarded = 0
    for name, res in results.items():
        assert res["rc"] == 0, (name, res["stderr"][-2000:])
        chosen = frozenset(json.loads((t / name / "tune.config.json").read_text())["inhibited"])
        assert x not in chosen and chosen not in bad, (name, sorted(chosen))
        recs = TuneStore(t / name / "tune.h5").records()
        for r in recs:
            if r.measurement is None:
                continue
            wrong = r.measurement.grad_digest != recs[0].measurement.grad_digest
            # every configuration with another gradient is recorded as such, and rejected
            assert r.grad_differs == wrong, (name, r.step)
            if wrong:
                assert r.decision == "rejected" and "gradient differs" in r.reason, (name, r.reason)
                assert "0" * 12 in r.grad_detail, r.grad_detail
        flagged = [r for r in recs if r.grad_differs]
        if flagged:
            guarded += 1
            assert f"must stay checkpointed: {callee(x)}" in flagged[0].reason, flagged[0].reason
            assert "CHANGED THE GRADIENT" in res["stdout"]
            assert f"MUST STAY CHECKPOINTED (inhibiting them changed the gradient): {callee(x)}" \
                in res["stdout"], res["stdout"]
            keep = (t / name / "tune.keep-checkpointed.txt").read_text().split("\n")
            assert callee(x) in keep
        assert "gradient bitwise identical to the start's" in res["stdout"]
    # the untampered runs tried X first: the tampered ones try it and are stopped
    assert guarded >= 1


def test_resume_keeps_the_guard(tampered):
    """A resumed run rebuilds the guard's verdicts from tune.h5: X is not tried again."""
    d, t, params, table, x, bad, roomy = tampered
    r = t / "resume"
    r.mkdir()
    cases = {"first": (roomy, "runtime-first", "site", frozenset())}
    _run_cases(r, params, t / "all.h5", cases)
    out = r / "first" / "tune.h5"
    recs = TuneStore(out).records()
    assert any(rec.grad_differs for rec in recs)
    # cut the history right after the guarded step, then resume
    cut = [rec.step for rec in recs if rec.grad_differs][0]
    with h5py.File(out, "r+") as f:
        for name in list(f["steps"]):
            if int(name) > cut:
                del f["steps"][name]
    for p in out.with_name("tune.h5.steps").glob("*.h5"):     # each step is a file of its own
        if int(p.stem) > cut:
            p.unlink()
    argv = ["--method", "greedy", "--kernel", "calltree", *params, "--backend", "replay", "--replay-from", str(t / "all.h5"),
            "--budget", f"{roomy}B", "--start", str(r / "first" / "start.json"), "--no-progress",
            "--out", str(out), "--resume"]
    p = subprocess.run([sys.executable, "-m", "pyharness.tune", *argv], cwd=r, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    after = TuneStore(out).records()[cut + 1:]
    assert all(x not in rec.flips for rec in after)
    assert x not in json.loads((r / "first" / "tune.config.json").read_text())["inhibited"]


def test_explore_and_report_say_which_configurations_changed_the_gradient(tampered, tmp_path):
    d, t, params, table, x, bad, roomy = tampered
    # explore --resume on the finished, tampered exploration: nothing left to run,
    # the guard marks every sample
    p = mpirun(2, ["-m", "pyharness.explore", "--kernel", "calltree", *params, "--exhaustive",
                   "--resume", "--out", str(t / "all.h5")], cwd=t, timeout=300)
    assert p.returncode == 0, p.stderr
    assert f"{len(bad)} of {len(table.rows)} configurations CHANGED THE GRADIENT" in p.stdout
    assert f"MUST STAY CHECKPOINTED (inhibited only in configurations whose gradient differs): {callee(x)}" \
        in p.stdout
    with h5py.File(t / "all.h5") as f:
        for name in f["samples"]:
            a = f["samples"][name].attrs
            assert bool(a["grad_same"]) == (frozenset(json.loads(a["inhibited"])) not in bad)
    p = subprocess.run([sys.executable, "-m", "pyharness.report", str(t / "all.h5"), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert f"{len(bad)} configuration(s) CHANGED THE GRADIENT" in p.stdout
    # the same rule as explore's, on the report's own reading of the file
    assert f"MUST STAY CHECKPOINTED (inhibited only where the gradient changed): {callee(x)}" in p.stdout
    rows = list(csv.DictReader(open(tmp_path / "configurations.csv")))
    assert sum(r["gradient_same"] == "0" for r in rows) == len(bad)
