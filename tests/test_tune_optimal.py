"""``tune --method optimal`` end to end: real MPI runs of calltree at 1 and 2 ranks,
real tune.h5 files. One profile, one solve, one confirming run: the measured
peak of the chosen configuration equals the model's prediction to the byte on
every rank, fits the budget, and is the optimum of an exhaustive search over
the model (enumerated here, independently of the optimiser)."""

import itertools
from pathlib import Path

import h5py
import numpy as np
import pytest

from phtest import mpirun
from pyharness.model import CostModel
from pyharness.tuner.store import TuneStore

# 8 sites: 256 configurations, enumerated below
TREE = ["--kernel", "calltree", "--param", "shape=random", "--param", "nsites=8",
        "--param", "seed=3", "--param", "m=64"]


def tune(tmp_path, n, *args):
    out = tmp_path / "tune.h5"
    # --tolerance 0.95: the verdict must not depend on this shared machine's timing noise;
    # what is asserted is the peak (exact) and the choice (the model's optimum)
    proc = mpirun(n, ["-m", "pyharness.tune", *TREE, "--out", str(out), "--no-progress",
                      "--tolerance", "0.95", *args], timeout=600, cwd=tmp_path)
    return proc, out


def _profile(tmp_path, rec) -> str:
    p = Path(rec.measurement.profile)
    return str(p if p.is_absolute() else tmp_path / p)


def _enumerated_best(model, budget: int) -> float:
    """The predicted time of the fastest of every configuration whose predicted peak fits,
    enumerated (independently of the optimiser)."""
    sites = model.site_indices
    rows = []
    for bits in itertools.product([False, True], repeat=len(sites)):
        a = model.profiled_active().copy()
        a[sites] = bits
        rows.append(a)
    times, peaks = model.predict_many(np.array(rows))
    return float(times.max(axis=1)[peaks.max(axis=1) <= budget].min())


def _steps(recs):
    """(start, the first optimal step, the calibrated second look or None). The second
    look is a step only when the model calibrated with the choice's run chose
    differently (docs/MODEL.md, "The cold-reverse term")."""
    assert [(r.step, r.phase, r.decision) for r in recs[:2]] == [(0, "start", "start"),
                                                                 (1, "optimal", "accepted")]
    assert len(recs) <= 3, [(r.step, r.phase, r.decision) for r in recs]
    second = recs[2] if len(recs) == 3 else None
    if second is not None:
        assert second.phase == "optimal" and int(second.prediction["calibrated_from"]) == 1
        assert second.decision in ("accepted", "rejected", "failed")
        assert sorted(second.inhibited) != sorted(recs[1].inhibited)
    return recs[0], recs[1], second


def _calibrated_optimum_holds(tmp_path, start, first, second, budget):
    """The second look is the optimum of the start's model calibrated with the first
    choice's run (enumerated here), measured to the byte, and kept exactly when the
    median of its runs beat the first choice's."""
    from pyharness.model.calibration import read_run
    model = CostModel.from_profile(_profile(tmp_path, start))
    cal = model.calibrated([read_run(model, _profile(tmp_path, first))])
    assert (cal.cold_s_per_byte > 0).any()
    np.testing.assert_allclose(np.atleast_1d(second.prediction["cold_ns_per_byte"]),
                               cal.cold_s_per_byte * 1e9, rtol=1e-9)
    assert second.prediction["time_s"] <= _enumerated_best(cal, budget) * (1 + 1e-6) + 1e-12
    if second.decision == "failed":
        return
    assert list(second.measurement.peak_bytes) == [int(x) for x in second.prediction["peak_bytes"]]
    inc = list(second.rounds_incumbent) or [first.measurement.wall]
    faster = np.median(second.rounds_candidate) < np.median(inc)
    fine = second.measurement.peak <= budget and \
        second.measurement.grad_digest == start.measurement.grad_digest
    assert (second.decision == "accepted") == (faster and fine), second.reason


@pytest.mark.parametrize("n", [1, 2])
def test_optimal_choice_is_exact_within_budget_and_the_exhaustive_optimum(tmp_path, n):
    proc, out = tune(tmp_path, n, "--budget", "1.3x")
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(out).records()
    # two runs: the profiled start and the chosen configuration (more only when the choice's
    # run was slower than the start's: both are then run again alternately, --rounds each;
    # or when the model calibrated with the choice's run chooses another configuration)
    start, chosen, second = _steps(recs)
    again = len(recs[1].rounds_incumbent) + max(len(recs[1].rounds_candidate) - 1, 0)
    assert sum(r.runs or r.attempts for r in recs[:2]) == 2 + again
    # the summary says how its speed-up was measured
    side = any(r.decision == "accepted" and r.rounds_incumbent and r.rounds_candidate
               for r in (chosen, second) if r is not None)
    assert ("measured side by side" in proc.stdout) == side
    assert ("(one run each)" in proc.stdout) == (not side)
    with h5py.File(out) as f:
        assert f.attrs["method"] == "optimal"
    budget = int(1.3 * start.measurement.peak)     # 1.3x of the start's largest per-rank peak
    if second is not None:
        _calibrated_optimum_holds(tmp_path, start, chosen, second, budget)
    # measured peak equals the prediction to the byte, on every rank, for both runs
    for r in recs[:2]:
        assert list(r.measurement.peak_bytes) == [int(x) for x in r.prediction["peak_bytes"]], r.step
        assert len(r.measurement.peak_bytes) == n
    assert chosen.measurement.peak <= budget
    assert chosen.measurement.grad_digest == start.measurement.grad_digest
    assert len(chosen.inhibited) > 0       # the budget leaves room: something is inhibited
    # the optimum of every configuration of the 8 sites, predicted from the start's profile
    model = CostModel.from_profile(_profile(tmp_path, start))
    assert len(model.site_indices) == 8
    assert chosen.prediction["time_s"] <= _enumerated_best(model, budget) * (1 + 1e-6) + 1e-12
    assert bool(chosen.prediction["exact"])
    assert "measured peak equals the prediction" in proc.stdout
    # the report: predicted against measured for both runs, the predicted front drawn
    rep = mpirun(1, ["-m", "pyharness.report", str(out), "--out", str(tmp_path / "rep"),
                     "--front", "4"], cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr[-2000:]
    assert "predicted (cost model, from the start's profile) against measured" in rep.stdout
    assert f"peak predicted to the byte on every rank: {len(recs)}/{len(recs)} configurations" in rep.stdout
    assert (tmp_path / "rep" / "pareto.png").stat().st_size > 0


def test_budget_below_every_reachable_peak_says_the_lowest_on_every_rank(tmp_path):
    proc, out = tune(tmp_path, 2, "--budget", "1KiB")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "lowest predicted peak" in proc.stderr
    # every rank has it (the error is broadcast); rank 0 prints it once, naming the ranks
    assert proc.stderr.count("lowest predicted peak") == 1, proc.stderr[-2000:]
    assert "[ranks 0-1 of 2]" in proc.stderr
    # nothing torn: the profiled start is recorded, no choice written
    recs = TuneStore(out).records()
    assert [r.decision for r in recs] == ["start"]
    assert not (tmp_path / "tune.config.json").exists()
    assert not list(tmp_path.glob("*.tmp*"))
    # what it says to do works: nothing was decided under the budget, so --resume with a
    # larger one continues from the recorded start (it was refused: 'made with
    # budget=1KiB, pass --budget 1KiB', and without --resume 'tune.h5 exists')
    assert "--resume and the larger --budget" in proc.stderr, proc.stderr[-2000:]
    again, _ = tune(tmp_path, 2, "--budget", "1.5x", "--resume", "--max-steps", "0")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "holds its start only" in again.stderr
    assert TuneStore(out).records()[0].measurement == recs[0].measurement     # not run again
    assert TuneStore(out).attrs()["budget"] == "1.5x"      # a later --resume takes the new one


def test_snapshot_counts_one_profile_and_one_solve_each(tmp_path):
    out = tmp_path / "tune.h5"
    proc = mpirun(2, ["-m", "pyharness.tune", "--kernel", "biogeo", "--param", "nt=6", "--budget", "1.0x",
                      "--snapshots", "0,2", "--out", str(out), "--no-progress", "--tolerance", "0.95"],
                  timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    budget = None
    for k in (0, 2):
        recs = TuneStore(tmp_path / f"tune.K{k}.h5").records()
        _, _, second = _steps(recs)      # one profile and one solve (and the calibrated look)
        if second is not None and second.decision != "failed":
            assert list(second.measurement.peak_bytes) == [int(x) for x in second.prediction["peak_bytes"]]
        if budget is None:             # 1.0x of the first count's start, in bytes for both
            budget = recs[0].measurement.peak
        m = recs[1].measurement
        assert list(m.peak_bytes) == [int(x) for x in recs[1].prediction["peak_bytes"]]
        assert m.peak <= budget
    assert (tmp_path / "tune.pairs.json").exists() and (tmp_path / "tune.config.json").exists()


def _cut(out, keep: int) -> None:
    """Remove every step after ``keep`` from a tune.h5, as a kill before they were recorded would."""
    with h5py.File(out, "r+") as f:
        for name in list(f["steps"]):
            if int(name) > keep:
                del f["steps"][name]
    for p in Path(out).with_name(Path(out).name + ".steps").glob("*.h5"):   # each step is a file
        if int(p.stem) > keep:
            p.unlink()


def _optimum(tmp_path, start_rec, budget: int) -> list[str]:
    """The model's optimum from a start's profile, solved here (HiGHS is deterministic)."""
    from pyharness.model.milp import optimize
    plan = optimize(CostModel.from_profile(_profile(tmp_path, start_rec)), budget, "site")
    return sorted(plan.config.inhibited)


def test_resume_after_a_kill_continues_with_the_same_solve(tmp_path):
    """--method optimal --resume: killed after the profiled start was recorded (steps cut from
    tune.h5, and a real SIGKILL between the choice's run and its record), the resumed run does
    not profile the start again, solves from the recorded start's profile and records the
    same choice as an uninterrupted run would from that profile, then stops."""
    proc, out = tune(tmp_path, 1, "--budget", "1.3x")
    assert proc.returncode == 0, proc.stderr[-3000:]
    full = TuneStore(out).records()
    _steps(full)
    budget = int(1.3 * full[0].measurement.peak)
    # 1. a kill after the start was recorded: cut step 1, resume
    _cut(out, 0)
    proc = mpirun(1, ["-m", "pyharness.tune", *TREE, "--out", str(out), "--no-progress",
                      "--tolerance", "0.95", "--budget", "1.3x", "--resume"], timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming" in proc.stderr and "1 step(s) recorded" in proc.stderr
    again = TuneStore(out).records()
    _steps(again)
    assert again[0].measurement == full[0].measurement            # the start was not run again
    assert sorted(again[1].inhibited) == sorted(full[1].inhibited) == _optimum(tmp_path, full[0], budget)
    assert list(again[1].measurement.peak_bytes) == [int(x) for x in again[1].prediction["peak_bytes"]]
    # 2. resuming a finished run runs nothing
    proc = mpirun(1, ["-m", "pyharness.tune", *TREE, "--out", str(out), "--no-progress",
                      "--tolerance", "0.95", "--budget", "1.3x", "--resume"], timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(TuneStore(out).records()) == len(again)
    # 3. a real SIGKILL (PYHARNESS_STOP_AT): after the choice's run, before its step is written
    d = tmp_path / "killed"
    d.mkdir()
    killed = d / "tune.h5"
    proc = mpirun(1, ["-m", "pyharness.tune", *TREE, "--out", str(killed), "--no-progress",
                      "--tolerance", "0.95", "--budget", "1.3x"], timeout=600, cwd=d,
                  env={"PYHARNESS_STOP_AT": "run-done@2"})
    assert proc.returncode != 0 and "SIGKILL at run-done@2" in proc.stderr, proc.stderr[-2000:]
    assert len(TuneStore(killed).records()) == 1
    start = TuneStore(killed).records()[0]
    proc = mpirun(1, ["-m", "pyharness.tune", *TREE, "--out", str(killed), "--no-progress",
                      "--tolerance", "0.95", "--budget", "1.3x", "--resume"], timeout=600, cwd=killed.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(killed).records()
    _steps(recs)
    assert recs[0].measurement == start.measurement
    assert sorted(recs[1].inhibited) == _optimum(killed.parent, start, int(1.3 * start.measurement.peak))
    assert not list(killed.parent.glob("*.tmp*"))


def test_a_choice_slower_than_predicted_calibrates_the_model_and_is_looked_at_again(tmp_path):
    """The first choice's run made 4x slower in its profile (as a cold reverse sweep far
    worse than the profile shows would): resumed, tune fits the cold-reverse term to
    that run, solves again, runs the calibrated model's choice (real runs) and keeps
    whichever of the two measured faster; the configuration it writes is that one."""
    import json
    args = ["--budget", "1.3x", "--rounds", "1"]
    proc, out = tune(tmp_path, 1, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _cut(out, 1)
    start, first, _ = _steps(TuneStore(out).records())
    with h5py.File(_profile(tmp_path, first), "r+") as f:
        f["summary/wall_s"][...] = 4 * f["summary/wall_s"][()]
    proc = mpirun(1, ["-m", "pyharness.tune", *TREE, "--out", str(out), "--no-progress",
                      "--tolerance", "0.95", *args, "--resume"], timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "calibrated with its run" in proc.stderr
    recs = TuneStore(out).records()
    start, first, second = _steps(recs)
    assert second is not None, proc.stderr[-2000:]
    _calibrated_optimum_holds(tmp_path, start, first, second, int(1.3 * start.measurement.peak))
    kept = second if second.decision == "accepted" else first
    written = json.loads((tmp_path / "tune.config.json").read_text())["inhibited"]
    assert sorted(written) == sorted(kept.inhibited)
    assert ("chosen by the model calibrated with step 1's run" in proc.stdout) == (kept is second)


BRANCHY = {"m": 4, "nodes": [
    {"name": "root", "work": 1, "children": [{"node": "heavy", "loop": 3}, {"node": "light", "loop": 2}]},
    {"name": "heavy", "work": 7, "branch": True, "children": [{"node": "inner", "loop": 3}]},
    {"name": "inner", "work": 13, "branch": True},
    {"name": "light", "work": 5, "branch": True}]}


def test_one_model_per_profile_for_the_estimator_the_solve_and_several_flips(tmp_path, monkeypatch):
    """The estimator (exact peak changes of an adjoint with control bits), --method
    optimal's model and the greedy loop's --flips predictions read one profile into one
    model; a profile written again under the same name is read again."""
    import json
    import os
    from types import SimpleNamespace

    from pyharness.errors import UsageError
    from pyharness.model import cache
    from pyharness.reduction import copy_profile
    from pyharness.tuner.estimates import profile_estimator
    from pyharness.tuner.loop import TuneLoop
    from pyharness.tuner.optimal import OptimalStep
    tree = tmp_path / "tree.json"
    tree.write_text(json.dumps(BRANCHY))
    prof = tmp_path / "p.h5"
    for out, extra in ((prof, []), (tmp_path / "again.h5", []), (tmp_path / "none.h5", ["--no-profiling"])):
        mpirun(1, ["-m", "pyharness.profile", "--kernel", "calltree", "--param", f"tree={tree}",
                   "--out", str(out), *extra], cwd=tmp_path, check=True)
    built = []
    real = CostModel.from_profile.__func__
    monkeypatch.setattr(CostModel, "from_profile", classmethod(
        lambda cls, path, comm=None: built.append(str(path)) or real(cls, path, comm)))
    cache.clear()
    gran = SimpleNamespace(granularity="site")
    ests = profile_estimator(gran)(str(prof))
    assert ests and built == [str(prof)]      # control bits: the analysis asked for the model
    loop = TuneLoop(None, None, None, gran, None, tmp_path, progress=SimpleNamespace(write=print))
    opt = OptimalStep(loop, "site", note=print)
    model = opt.build_model(str(prof))
    assert model is not None and model.has_control_bits
    assert loop._model(os.path.join(str(tmp_path), ".", "p.h5")) is model    # the same file
    assert built == [str(prof)]
    # written again under the same name (through a rename, as every profile is): read again
    copy_profile(tmp_path / "again.h5", prof)
    assert opt.build_model(str(prof)) is not model and len(built) == 2
    # a profile without events: the same error each time, the file read once
    for _ in range(2):
        with pytest.raises(UsageError, match="no-profiling"):
            cache.model_of(tmp_path / "none.h5")
    assert len(built) == 3


def test_max_steps_bounds_the_choice_the_second_look_and_the_greedy_fallback(tmp_path):
    """--max-steps N counts the steps after the start (step 0) with --method optimal as with
    greedy; the choice's run and the calibrated second look ignored it (--max-steps 0 ran
    both). 0: the start is profiled and the model solved, the plan printed as NOT CONFIRMED,
    nothing else run, no configuration written; --resume --max-steps 1 runs that choice and
    does not look again even when the calibrated model chooses another; --max-steps 2 does;
    a greedy fallback takes only the steps left."""
    args = ["--budget", "1.3x", "--rounds", "1"]

    def resume(steps):
        proc = mpirun(1, ["-m", "pyharness.tune", *TREE, "--out", str(out), "--no-progress",
                          "--tolerance", "0.95", *args, "--max-steps", steps, "--resume"],
                      timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc, TuneStore(out).records()

    proc, out = tune(tmp_path, 1, *args, "--max-steps", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (start,) = TuneStore(out).records()
    assert (start.step, start.phase) == (0, "start")
    plan = _optimum(tmp_path, start, int(1.3 * start.measurement.peak))
    assert plan                              # the budget leaves room: the plan is not the start
    assert "NOT CONFIRMED by a run" in proc.stdout and "tuning finished" not in proc.stdout
    assert f"{len(plan)} of 8 sites inhibited in the predicted plan" in proc.stdout
    assert not (tmp_path / "tune.config.json").exists()
    assert not (tmp_path / "tune.nocheckpoint.txt").exists()
    # 1: the plan is run (not the start again), and nothing else
    proc, recs = resume("1")
    assert [(r.step, r.phase, r.decision) for r in recs] == [(0, "start", "start"), (1, "optimal", "accepted")]
    assert recs[0].measurement == start.measurement and sorted(recs[1].inhibited) == plan
    assert "measured peak equals the prediction" in proc.stdout
    assert (tmp_path / "tune.config.json").exists()
    # the choice's run made 4x slower, as in the test above: the calibrated model would
    # choose another, but --max-steps 1 leaves no step for it
    with h5py.File(_profile(tmp_path, recs[1]), "r+") as f:
        f["summary/wall_s"][...] = 4 * f["summary/wall_s"][()]
    proc, recs = resume("1")
    assert len(recs) == 2 and "no calibrated second look" in proc.stderr, proc.stderr[-2000:]
    proc, recs = resume("2")
    _, _, second = _steps(recs)
    assert second is not None and second.step == 2, proc.stderr[-2000:]
    # a choice that cannot run (its peak above --limit, the start's peak): the greedy
    # fallback gets the one step --max-steps 2 leaves
    d = tmp_path / "limited"
    d.mkdir()
    assert recs[1].measurement.peak > start.measurement.peak
    proc = mpirun(1, ["-m", "pyharness.tune", *TREE, "--out", str(d / "tune.h5"), "--no-progress",
                      "--tolerance", "0.95", *args, "--max-steps", "2", "--retries", "0",
                      "--limit", f"{start.measurement.peak}B"], timeout=600, cwd=d)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(d / "tune.h5").records()
    assert [(r.phase, r.decision) for r in recs[:2]] == [("start", "start"), ("optimal", "failed")]
    assert len(recs) == 3 and recs[2].phase not in ("start", "optimal"), [(r.phase, r.decision) for r in recs]


def test_speed_up_is_measured_side_by_side():
    """The optimal method's speed-up comes from runs made alternately when there were any:
    on a loaded machine the choice's single first run (here 0.053 s against the start's
    0.034 s) says 0.65x of a choice whose alternating runs were 1.6x faster than the
    start's (the defect seen running the README's first command beside other jobs). The
    ratios below are the medians' (the documented rule), chained through the first
    choice when a calibrated second look was kept."""
    from pyharness.backends.base import Measurement
    from pyharness.tuner.state import StepRecord
    from pyharness.tune import _side_by_side

    def meas(wall):
        return Measurement((wall,), (wall,), (100,), 0.0, "", "p.h5")

    first = StepRecord(step=1, phase="optimal", flips=(), inhibited=("a",), decision="accepted",
                       measurement=meas(0.053), rounds_incumbent=(0.034, 0.124, 0.130),
                       rounds_candidate=(0.053, 0.078, 0.070))
    ratio, how = _side_by_side([first], 0.034)
    assert ratio == pytest.approx(0.124 / 0.070)
    assert "alternately" in how and "the start's" in how
    # no alternation: one run each, and nothing to say
    plain = StepRecord(step=1, phase="optimal", flips=(), inhibited=("a",), decision="accepted",
                       measurement=meas(0.020))
    assert _side_by_side([plain], 0.030) == (pytest.approx(1.5), "")
    # a kept second look: its ratio to the first choice, measured alternately, chains on
    second = StepRecord(step=2, phase="optimal", flips=(), inhibited=("b",), decision="accepted",
                        measurement=meas(0.010), prediction={"calibrated_from": 1},
                        rounds_incumbent=(0.020, 0.022), rounds_candidate=(0.010, 0.011))
    ratio, how = _side_by_side([plain, second], 0.030)
    assert ratio == pytest.approx(1.5 * 0.021 / 0.0105)
    assert "the first choice's" in how
    # the greedy loop's kept steps: each against the configuration before it
    g1 = StepRecord(step=1, phase="inhibit", flips=("a",), inhibited=("a",), decision="accepted",
                    measurement=meas(0.050), rounds_incumbent=(0.060, 0.062), rounds_candidate=(0.050, 0.052))
    g3 = StepRecord(step=3, phase="inhibit", flips=("b",), inhibited=("a", "b"), decision="accepted",
                    measurement=meas(0.040), rounds_incumbent=(0.050, 0.054), rounds_candidate=(0.040, 0.042))
    ratio, how = _side_by_side([g1, g3], 0.070)
    assert ratio == pytest.approx((0.061 / 0.051) * (0.052 / 0.041))
    # three significant digits below 0.1 s, as analyze and profile print times
    assert "step 1: median 0.0510 s against the start's 0.0610 s" in how
    assert "step 3: median 0.0410 s against step 1's 0.0520 s" in how
    # sub-millisecond kernels: to the millisecond both read 0.000 s
    tiny = StepRecord(step=1, phase="optimal", flips=(), inhibited=("a",), decision="accepted",
                      measurement=meas(0.0002), rounds_incumbent=(0.000345, 0.000355),
                      rounds_candidate=(0.000201, 0.000199))
    assert "median 0.000200 s against the start's 0.000350 s" in _side_by_side([tiny], 0.0003)[1]


def _three_digits(text: str, label: str, value: float) -> None:
    """The time printed after ``label`` in ``text`` is ``value`` to three significant
    digits (never 0.000 s for a run of a fraction of a millisecond)."""
    import math
    import re
    m = re.search(rf"^\s*{label}\s+([0-9.]+) s\b", text, re.M)
    assert m, (label, text)
    got = float(m.group(1))
    digits = len(m.group(1).split(".")[1])
    assert digits == max(3, 2 - math.floor(math.log10(value))), (label, m.group(1), value)
    assert abs(got - value) <= 0.5 * 10.0 ** -digits * (1 + 1e-9), (label, got, value)


def test_tune_summaries_print_small_times_to_three_significant_digits(tmp_path):
    """tune printed its summary to the millisecond: a calltree run of a few milliseconds
    read 0.007 s (one digit), a sub-millisecond one 0.000 s. The times printed are the
    history's own (tune.h5), to three significant digits below 0.1 s: the summary of
    --max-steps 0 (start and prediction), then of the resumed run (start, choice and
    its prediction)."""
    proc, out = tune(tmp_path, 1, "--budget", "1.5x", "--max-steps", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    start = TuneStore(out).records()[0].measurement.wall
    _three_digits(proc.stdout, "start", start)
    proc, _ = tune(tmp_path, 1, "--budget", "1.5x", "--max-steps", "1", "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(out).records()
    _three_digits(proc.stdout, "start", start)
    _three_digits(proc.stdout, "chosen", recs[1].measurement.wall)
    _three_digits(proc.stdout, "predicted", float(recs[1].prediction["time_s"]))


def test_the_reports_predicted_front_passes_through_tunes_own_choice(tmp_path):
    """report drew the predicted front at --front N budgets only: a choice between two of
    them (here N = 2, the lowest reachable peak and the fastest configuration's) sat left
    of the staircase, faster than the 'front'. The front now holds the optimum at each
    predicted peak of the configurations tune ran: the staircase at such a peak is no
    slower than that configuration's prediction, and at the choice's peak it is the
    optimum of every configuration (enumerated from the start's profile)."""
    from pyharness.report.data import load_points, predicted_front
    proc, out = tune(tmp_path, 1, "--budget", "1.15x", "--max-steps", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(out).records()
    chosen = recs[1]
    assert chosen.phase == "optimal"
    front = predicted_front(out, 2)

    def staircase(peak):          # the drawn front at a peak: its fastest plan within it
        return min(t for t, pk in front if pk <= peak)

    assert float(chosen.prediction["time_s"]) > min(t for t, _ in front), \
        "the budget must leave the choice between the front's two ends"
    points = [p for p in load_points(out) if p.pred_wall is not None]
    assert len(points) == len(recs)
    for p in points:
        assert staircase(p.pred_peak) <= p.pred_wall * (1 + 1e-9), (p.label, p.pred_wall, front)
    model = CostModel.from_profile(_profile(tmp_path, recs[0]))
    peak = int(max(chosen.prediction["peak_bytes"]))
    assert staircase(peak) == pytest.approx(_enumerated_best(model, peak), rel=1e-6)
