"""The tuning loop end to end: real MPI runs, real tune.h5 files, real kills."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from phtest import ROOT, kill_after_steps, mpirun
from pyharness.tuner.store import TuneStore

KERNEL = ["--kernel", "streamice"]


def tune(tmp_path, n, *args, name="tune.h5", timeout=600):
    out = tmp_path / name
    # the greedy loop (the paper's) is what these tests assert; tests/test_tune_optimal.py
    # tests --method optimal
    method = [] if "--method" in args else ["--method", "greedy"]
    proc = mpirun(n, ["-m", "pyharness.tune", *KERNEL, "--out", str(out), "--no-progress", *method, *args],
                  timeout=timeout, cwd=tmp_path)
    return proc, out


def accepted(records):
    return [r for r in records if r.decision in ("start", "accepted")]


@pytest.mark.parametrize("strategy", ["runtime-first", "memory-careful"])
def test_strategy_reaches_faster_configuration_within_budget(tmp_path, strategy):
    proc, out = tune(tmp_path, 2, "--budget", "1.5x", "--strategy", strategy, "--backend", "inline",
                     "--repeat", "3", "--max-steps", "12")
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(out).records()
    start = recs[0].measurement
    budget = int(1.5 * start.peak)
    # the budget is never exceeded by an accepted step
    for r in accepted(recs):
        assert r.measurement.peak <= budget, (r.step, r.measurement.peak, budget)
    final = accepted(recs)[-1]
    assert final.step > 0, "no step was accepted"
    # faster, as the loop measures it (no absolute time asserted: the machine is shared):
    # every kept inhibit step ran the incumbent and the candidate alternately, --rounds 2
    # times each, and the candidate's median was below the incumbent's by more than the
    # spread, or (a flip estimated to lower the peak) the peak went down, time not worse
    for r in recs:
        if r.phase == "inhibit" and r.measurement is not None:
            assert len(r.rounds_incumbent) == len(r.rounds_candidate) == 2, r.step
            assert r.runs == 4 and r.measurement.wall in r.rounds_candidate
            gain = np.median(r.rounds_incumbent) - np.median(r.rounds_candidate)
            spread = max(np.ptp(r.rounds_incumbent), np.ptp(r.rounds_candidate))
            assert r.margin_s == pytest.approx(spread)
            if r.decision == "accepted" and not r.grad_differs:
                assert gain > spread or ("peak lowered" in r.reason and gain >= -spread), r.reason
            elif r.decision == "rejected" and r.measurement.peak <= budget and r.est_dpk >= 0:
                assert gain <= spread, r.reason
    # the configuration changes the cost, never the gradient
    assert final.measurement.grad_digest == start.grad_digest
    cfg = json.loads((tmp_path / "tune.config.json").read_text())
    assert sorted(cfg["inhibited"]) == sorted(final.inhibited)
    assert (tmp_path / "tune.nocheckpoint.txt").exists()
    assert "speed-up" in proc.stdout
    # the speed-up printed is the chain of the kept steps' alternating runs (each step's
    # candidate median against its incumbent's), not one run of the choice against one of
    # the start, which a loaded machine can turn into a "speed-up" below 1 of a kept flip
    kept = [r for r in recs[1:] if r.decision == "accepted"]
    if all(r.rounds_incumbent and r.rounds_candidate for r in kept):
        chain = np.prod([np.median(r.rounds_incumbent) / np.median(r.rounds_candidate) for r in kept])
        assert "measured side by side" in proc.stdout, proc.stdout
        assert f"speed-up {chain:.2f}x" in proc.stdout, proc.stdout
    if len(recs) < 13:          # ended before --max-steps 12: nothing to say about the limit
        assert "STOPPED BY --max-steps" not in proc.stdout


def test_resume_after_kill_gives_the_same_final_configuration(tmp_path):
    # measurements: a real uninterrupted run
    proc, real = tune(tmp_path, 2, "--budget", "1.5x", "--backend", "inline", "--max-steps", "8",
                      name="real.h5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the reference: the same measurements replayed without a kill (each step of the real run
    # judged several runs of the incumbent and the candidate; a replay has one per configuration)
    cmd = [sys.executable, "-m", "pyharness.tune", *KERNEL, "--no-progress", "--method", "greedy",
           "--budget", "1.5x", "--backend", "replay", "--replay-from", str(real), "--max-steps", "8"]
    proc = subprocess.run(cmd + ["--out", str(tmp_path / "ref.h5")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref_recs = TuneStore(tmp_path / "ref.h5").records()
    assert len(ref_recs) >= 4
    # the same measurements, replayed slowly, in a process we kill with SIGKILL mid-loop
    out = tmp_path / "killed.h5"
    cmd = cmd + ["--out", str(out), "--replay-delay", "0.4"]
    nrec = kill_after_steps(cmd, out, 3, 120, cwd=tmp_path)
    assert 3 <= nrec < len(ref_recs), "the kill did not land mid-loop"
    before = TuneStore(out).records()        # the file is intact after the kill
    proc = subprocess.run(cmd + ["--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = TuneStore(out).records()
    assert [r.step for r in after] == list(range(len(after)))          # no step repeated
    assert [(r.flips, r.decision) for r in after[:len(before)]] == [(r.flips, r.decision) for r in before]
    assert [(r.flips, r.decision) for r in after] == [(r.flips, r.decision) for r in ref_recs]
    assert accepted(after)[-1].inhibited == accepted(ref_recs)[-1].inhibited


def test_budget_below_reach_says_so_and_keeps_the_file(tmp_path):
    proc, out = tune(tmp_path, 2, "--budget", "1KiB", "--backend", "inline")
    assert proc.returncode != 0
    assert "smallest peak measured" in proc.stderr
    assert "Traceback" not in proc.stderr
    recs = TuneStore(out).records()
    assert recs[0].decision == "start"


def test_unknown_site_in_start_configuration(tmp_path):
    start = tmp_path / "start.txt"
    start.write_text("# my list\ncg_solve\nno_such_routine\n")
    proc, out = tune(tmp_path, 2, "--budget", "1.5x", "--start", str(start))
    assert proc.returncode != 0
    assert "no_such_routine" in proc.stderr and "unknown" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_resume_refuses_another_size(tmp_path):
    proc, out = tune(tmp_path, 1, "--budget", "1.5x", "--max-steps", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc2 = mpirun(1, ["-m", "pyharness.tune", *KERNEL, "--method", "greedy", "--param", "nx=40", "--out", str(out),
                       "--budget", "1.5x", "--resume", "--no-progress"], cwd=tmp_path)
    assert proc2.returncode != 0
    assert "cannot resume" in proc2.stderr and "params" in proc2.stderr
    assert len(TuneStore(out).records()) == 2      # untouched


def test_failed_steps_are_recorded_and_skipped_and_a_stack_limit_not_retried(tmp_path):
    # a hard stack limit a little above the all-checkpointed peak: configurations
    # that need more fail cleanly; the loop records them and goes on. They are not
    # retried (--retries 1 is the default): a configuration's stack is the same bytes
    # every run, so running it again cannot help (a retry of a retryable failure, a
    # killed Slurm job, is tests/test_slurm.py's)
    proc, probe = tune(tmp_path, 2, "--budget", "1.5x", "--max-steps", "0", name="probe.h5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak = TuneStore(probe).records()[0].measurement.peak
    proc, out = tune(tmp_path, 2, "--budget", str(4 * peak), "--limit", str(int(1.05 * peak)),
                     "--strategy", "runtime-first", "--max-steps", "6")
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(out).records()
    failed = [r for r in recs if r.decision == "failed"]
    assert failed, [(r.decision, r.reason) for r in recs]
    for r in failed:
        assert r.attempts == 1 and "limit" in r.reason
    assert "running it again cannot help" in proc.stderr
    flips = [r.flips for r in failed]
    assert len(flips) == len(set(flips))       # a failed flip is not tried again


def test_local_backend_runs_each_step_as_a_new_mpiexec(tmp_path):
    out = tmp_path / "local.h5"
    proc = subprocess.run([sys.executable, "-m", "pyharness.tune", *KERNEL, "--method", "greedy", "--backend", "local",
                           "--ranks", "2", "--budget", "1.5x", "--max-steps", "2", "--no-progress",
                           "--out", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(out).records()
    assert len(recs) == 3
    with h5py.File(recs[0].measurement.profile) as f:
        assert f.attrs["nranks"] == 2


def test_pairs_of_configuration_and_snapshot_count(tmp_path):
    """--snapshots 0,2: one tuning per count under the same bytes; the best pair is
    the fastest within the budget, and every pair gives the same gradient."""
    proc, out = tune(tmp_path, 2, "--kernel", "biogeo", "--param", "nt=6", "--budget", "1.0x",
                     "--snapshots", "0,2", "--backend", "inline", "--repeat", "2",
                     "--max-steps", "6")
    assert proc.returncode == 0, proc.stderr[-3000:]
    pairs = json.loads((tmp_path / "tune.pairs.json").read_text())
    rows = {r["snapshots"]: r for r in pairs["pairs"]}
    assert sorted(rows) == [0, 2]
    k0 = TuneStore(tmp_path / "tune.K0.h5").records()
    k2 = TuneStore(tmp_path / "tune.K2.h5").records()
    # a factor budget is taken of the first count's start, then held in bytes
    assert pairs["budget_bytes"] == k0[0].measurement.peak
    # two snapshots of the time loop hold less than six stored steps: K=2 starts lower
    assert k2[0].measurement.peak < k0[0].measurement.peak
    for k, recs in ((0, k0), (2, k2)):
        for r in accepted(recs):
            assert r.measurement.peak <= pairs["budget_bytes"], (k, r.step)
        assert rows[k]["within_budget"] == (rows[k]["peak"] <= pairs["budget_bytes"])
    within = [r for r in pairs["pairs"] if r["within_budget"]]
    best = min(within, key=lambda r: r["wall"])
    assert pairs["best"] == {"snapshots": best["snapshots"], "inhibited": best["inhibited"]}
    cfg = json.loads((tmp_path / "tune.config.json").read_text())
    assert cfg["snapshots"] == best["snapshots"]
    assert sorted(cfg["inhibited"]) == best["inhibited"]
    assert len({r["grad_digest"] for r in pairs["pairs"]}) == 1
    assert "best pair: K=" in proc.stdout


def test_bad_snapshot_list_is_a_clear_error(tmp_path):
    proc, out = tune(tmp_path, 2, "--budget", "1.5x", "--snapshots", "2,x")
    assert proc.returncode != 0
    assert "--snapshots" in proc.stderr and "0,2,4" in proc.stderr
    assert not out.exists()


def test_pairs_none_within_budget_says_so_and_keeps_every_history(tmp_path):
    proc, out = tune(tmp_path, 2, "--kernel", "biogeo", "--param", "nt=4", "--budget", "1KiB",
                     "--snapshots", "0,1", "--backend", "inline", "--max-steps", "4")
    assert proc.returncode != 0
    assert "no snapshot count reached the budget" in proc.stderr
    assert "Traceback" not in proc.stderr
    pairs = json.loads((tmp_path / "tune.pairs.json").read_text())
    assert [r["snapshots"] for r in pairs["pairs"]] == [0, 1]
    assert not any(r["within_budget"] for r in pairs["pairs"]) and pairs["best"] is None
    for k in (0, 1):
        assert TuneStore(tmp_path / f"tune.K{k}.h5").records()[0].decision == "start"
    assert not (tmp_path / "tune.config.json").exists()


def test_start_over_budget_with_nothing_to_reactivate_lowers_the_peak_by_inhibiting(tmp_path):
    """Every site checkpointed and still over budget: no checkpoint is left to turn
    back on, so the loop inhibits the sites whose inhibition lowers the peak (a
    snapshot larger than the callee's tape, e.g. biogeo's per-tracer tendencies)
    until the peak fits."""
    proc, out = tune(tmp_path, 2, "--kernel", "biogeo", "--budget", "0.97x", "--backend", "inline",
                     "--max-steps", "8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(out).records()
    start = recs[0].measurement
    budget = int(0.97 * start.peak)
    assert start.peak > budget
    assert recs[1].phase == "lower"
    lowered = [r for r in recs if r.phase == "lower" and r.decision == "accepted"]
    assert lowered and all(r.measurement.peak < start.peak for r in lowered)
    final = accepted(recs)[-1]
    assert final.measurement.peak <= budget
    assert final.measurement.grad_digest == start.grad_digest


# ---------------------------------------------------------------------- the greedy loop's rules
# (pure: the state is rebuilt from step records exactly as --resume does)
from pyharness.backends.base import Measurement                     # noqa: E402
from pyharness.tuner.state import StepRecord, TuneState, compare_rounds   # noqa: E402
from pyharness.tuner.strategy import Estimate, Strategy, propose_inhibit  # noqa: E402
from pyharness.units import parse_budget                              # noqa: E402


def _m(wall, peak):
    return Measurement((wall,), (wall,), (peak,), 1.0, "g" * 40, "p.h5")


def _state(budget="1000B", **kw):
    return TuneState(strategy=Strategy.RUNTIME_FIRST, budget_spec=parse_budget(budget),
                     keys=("a", "b", "c"), **kw)


def _rec(step, phase, flips, inhibited, decision, m, ests, margin=0.0):
    return StepRecord(step=step, phase=phase, flips=tuple(flips), inhibited=tuple(inhibited),
                      decision=decision, measurement=m, estimates=ests, margin_s=margin)


def test_default_tolerance_keeps_exact_gains_below_one_percent():
    from pyharness.tune import _greedy_tolerance, build_parser
    from pyharness.vocabulary import Phase
    args = build_parser().parse_args(["--budget", "1.5x"])
    st = _state(tolerance=_greedy_tolerance(args)).apply(_rec(0, "start", (), (), "start", _m(1.0, 500), {}))
    ok, why, margin = st.judge(Phase.INHIBIT, _m(0.996, 500), None, (1.0,), (0.996,))
    assert ok and margin == 0.0, why          # 0.4% faster, noise-free: kept
    ok, _, _ = st.judge(Phase.INHIBIT, _m(1.0, 500), None, (1.0,), (1.0,))
    assert not ok                              # not faster: not kept


def test_noise_rule_gain_must_beat_the_measured_spread():
    assert compare_rounds([1.0, 1.0], [0.99, 0.99]).faster
    v = compare_rounds([1.00, 1.04], [0.99, 1.00])        # 0.025 s gain, 0.04 s spread
    assert not v.faster and v.spread_s == pytest.approx(0.04) and v.not_slower
    assert compare_rounds([1.00, 1.04, 1.02], [0.90, 0.95, 0.93]).faster
    assert not compare_rounds([1.0], [0.99], tolerance=0.02).faster


def test_a_rejected_unit_is_proposed_again_once_its_estimate_changed():
    e0 = {"a": Estimate("a", 0.3, 0), "b": Estimate("b", 0.2, 0), "c": Estimate("c", 0.1, 0)}
    st = _state().apply(_rec(0, "start", (), (), "start", _m(1.0, 500), e0))
    assert st.propose().keys == ("a",)
    st = st.apply(_rec(1, "inhibit", ["a"], ["a"], "rejected", _m(1.1, 500), {}, margin=0.01))
    assert st.propose().keys == ("b",)                 # a is not proposed again ...
    # b kept; in its profile a's estimate is the same within the margin: still not
    e1 = {"a": Estimate("a", 0.305, 0), "c": Estimate("c", 0.1, 0)}
    st2 = st.apply(_rec(2, "inhibit", ["b"], ["b"], "accepted", _m(0.8, 500), e1))
    assert st2.propose().keys == ("c",)
    # ... but once a later flip changed it (another peak change, or a larger gain): again
    for a in (Estimate("a", 0.3, -8), Estimate("a", 0.5, 0)):
        st3 = st.apply(_rec(2, "inhibit", ["b"], ["b"], "accepted", _m(0.8, 500),
                            {"a": a, "c": Estimate("c", 0.1, 0)}))
        assert st3.propose().keys == ("a",), a
    # a failed run is not judged: that flip is not tried again
    st4 = st2.apply(_rec(3, "inhibit", ["c"], ["b", "c"], "failed", None, {}))
    assert st4.propose() is None


def test_memory_lowering_flips_are_tried_and_kept_without_a_time_gain():
    from pyharness.vocabulary import Phase
    e0 = {"a": Estimate("a", 0.0, -100), "b": Estimate("b", -0.01, 0)}
    st = _state().apply(_rec(0, "start", (), (), "start", _m(1.0, 500), e0))
    prop = st.propose()
    assert prop.keys == ("a",) and prop.lowers_peak      # no gain, lower peak: tried; b is not
    ok, why, _ = st.judge(Phase.INHIBIT, _m(1.0, 400), prop, (1.0,), (1.0,))
    assert ok and "peak lowered" in why
    ok, _, _ = st.judge(Phase.INHIBIT, _m(1.05, 400), prop, (1.0,), (1.05,))
    assert not ok                                        # slower beyond the (zero) spread
    ok, _, _ = st.judge(Phase.INHIBIT, _m(1.0, 500), prop, (1.0,), (1.0,))
    assert not ok                                        # the peak did not go down


def test_several_flips_are_judged_with_the_predicted_peak_not_the_sum():
    ests = {"a": Estimate("a", 3.0, 10), "b": Estimate("b", 2.0, 10), "c": Estimate("c", 1.0, 10)}
    # each alone fits (100 + 10 <= 125) and the sum of two (120) too; the model says a and b
    # together peak at 130 (an inner site and its caller), a and c at 115
    truth = {frozenset("a"): 110, frozenset("ab"): 130, frozenset("ac"): 115, frozenset("abc"): 140}
    got = propose_inhibit(Strategy.RUNTIME_FIRST, ests, "abc", 100, 125, k=3, peak_of=truth.get)
    assert [e.key for e in got] == ["a", "c"]
    # without a model: one flip per step (single-flip estimates are exact)
    got = propose_inhibit(Strategy.RUNTIME_FIRST, ests, "abc", 100, 125, k=3)
    assert [e.key for e in got] == ["a"]


def test_several_flips_are_predicted_once_each():
    """The peak of the flips chosen together is the one predicted while choosing them:
    propose asks the model once per set, never again for the final one."""
    ests = {"a": Estimate("a", 3.0, 10), "b": Estimate("b", 2.0, 10), "c": Estimate("c", 1.0, 10)}
    truth = {frozenset("ab"): 130, frozenset("ac"): 115}
    asked = []

    def peak_of(units):
        asked.append(units)
        return truth.get(units)

    st = _state("125B", flips_per_step=3).apply(_rec(0, "start", (), (), "start", _m(1.0, 100), ests))
    prop = st.propose(peak_of)
    assert prop.keys == ("a", "c") and prop.est_peak == 115 and prop.est_dpk == 15
    # a+b (too high), then a+c (fits): each once, a+c not again for the proposal
    assert asked == [frozenset("ab"), frozenset("ac")]


def test_the_judge_and_the_verdict_give_the_medians_of_the_rounds():
    from pyharness.vocabulary import Phase
    inc, cand = (1.0, 1.25, 1.125), (0.5, 0.625, 0.375, 0.75)     # medians 1.125 and 0.5625
    v = compare_rounds(inc, cand)
    assert (v.incumbent_s, v.candidate_s, v.gain_s, v.spread_s) == (1.125, 0.5625, 0.5625, 0.375)
    st = _state().apply(_rec(0, "start", (), (), "start", _m(1.0, 500), {}))
    ok, why, _ = st.judge(Phase.INHIBIT, _m(0.625, 500), None, inc, cand)
    assert ok and "incumbent 1.125000 s, candidate 0.562500 s, spread 0.375000 s" in why


# ---------------------------------------------------------------------- alternate runs, one way
class _Backend:
    """Runs nothing: each configuration's run takes the time given, or fails by label."""

    deterministic = False

    def __init__(self, walls, fail=()):
        self.walls, self.fail, self.labels = walls, set(fail), []

    def run(self, config, path, label=""):
        from pyharness.backends.base import RunFailed
        self.labels.append(label)
        if label in self.fail:
            raise RunFailed("broken", retryable=False)
        return Measurement((self.walls[config],), (0.0,), (100,), 1.0, "g" * 40, path)


class _Units:
    def config(self, keys, snapshots=0):
        return frozenset(keys)


class _Store:
    def pending(self):
        return None

    def update_pending(self, **kw):
        pass


def _loop(backend, tmp_path, rounds=3):
    from pyharness.tuner.loop import TuneLoop
    st = _state().apply(_rec(0, "start", (), (), "start", _m(1.0, 100), {}))
    return TuneLoop(st, backend, _Store(), _Units(), lambda p: {"from": p}, tmp_path, retries=0,
                    rounds=rounds, progress=None)


def test_inhibit_steps_and_the_optimal_recheck_alternate_runs_the_same_way(tmp_path, capsys):
    a = frozenset("a")
    walls = {frozenset(): 1.0, a: 0.8}
    # the greedy loop's inhibit step: candidate first, then the incumbent, each round
    be = _Backend(walls)
    m, ests, attempts, runs, failure, inc, cand = _loop(be, tmp_path)._measure_rounds(5, a)
    assert be.labels == ["step 5", "step 5.incumbent0", "step 5.r1", "step 5.incumbent1",
                         "step 5.r2", "step 5.incumbent2"]
    assert (attempts, runs, failure, inc, cand) == (3, 6, None, (1.0,) * 3, (0.8,) * 3)
    assert ests == {"from": m.profile} and m.wall == 0.8
    # a candidate that fails ends the step: no incumbent run after it
    be = _Backend(walls, fail={"step 5.r1"})
    m, ests, attempts, runs, failure, inc, cand = _loop(be, tmp_path)._measure_rounds(5, a)
    assert be.labels == ["step 5", "step 5.incumbent0", "step 5.r1"]
    assert m is None and failure is not None and (attempts, runs) == (2, 3)
    # --method optimal, a choice whose first run was slower: its first run is round 0, then
    # the same alternation, the start as the incumbent; a failed re-run of the choice is
    # left out and the rounds go on
    from pyharness.tuner.optimal import OptimalStep
    walls = {frozenset(): 1.0, a: 1.2}
    be = _Backend(walls, fail={"step 1.r1"})
    opt = OptimalStep(_loop(be, tmp_path), "site", note=lambda s: None, tolerance=0.01)
    first = Measurement((1.2,), (0.0,), (100,), 1.0, "g" * 40, "first.h5")
    slower, detail, more = opt._confirm_slower(1, a, first)
    assert be.labels == ["step 1.start0", "step 1.r1", "step 1.start1", "step 1.r2", "step 1.start2"]
    assert slower and more["runs"] == 5
    assert more["start"] == (1.0, 1.0, 1.0) and more["choice"] == (1.2, 1.2)
    assert "median of 2 run(s) 1.200000 s against the start's 1.000000 s (3 run(s)" in detail


def test_resume_runs_again_a_start_that_an_earlier_run_gave_up(tmp_path):
    """A start whose every attempt failed (sbatch: invalid partition) left its failed
    attempts in pending.json and nothing else; --resume with the partition fixed then
    repeated the old error without running anything, and a run without --resume refused
    the existing tune.h5: the history could never start. A resume runs the start again,
    and the failed attempts stay in its record."""
    from pyharness.errors import PyharnessError
    from pyharness.tuner.loop import TuneLoop
    store = TuneStore(tmp_path / "tune.h5")
    store.create({"kernel": "k"}, ["a", "b", "c"])

    def loop(backend):
        return TuneLoop(_state(), backend, store, _Units(), lambda p: {}, tmp_path, retries=1,
                        rounds=1, progress=None)
    class Refused(_Backend):
        def run(self, config, path, label=""):
            from pyharness.backends.base import RunFailed
            self.labels.append(label)
            raise RunFailed("sbatch refused the job: invalid partition", state="SUBMIT_FAILED")
    broken = Refused({})
    with pytest.raises(PyharnessError) as ei:
        loop(broken).run_start(frozenset())
    assert broken.labels == ["step 0", "step 0"]           # the run and its one retry
    assert "--resume" in str(ei.value)                      # it says how to go on
    assert store.records() == []
    still = Refused({})                   # resumed, still broken: its own run and retry
    with pytest.raises(PyharnessError):
        loop(still).run_start(frozenset())
    assert still.labels == ["step 0", "step 0"]
    fixed = _Backend({frozenset(): 1.0})
    resumed = loop(fixed)
    resumed.run_start(frozenset())
    assert fixed.labels == ["step 0"]
    (rec,) = store.records()
    assert rec.step == 0 and rec.measurement.wall == 1.0
    assert [a["attempt"] for a in rec.attempt_log] == [1, 2, 3, 4] and rec.attempts == 5


def test_resume_on_other_ranks_names_the_way_that_backend_takes_them(tmp_path):
    """tune.sbatch resumed with another --ntasks was told '--ranks 2, or mpiexec -n 2
    with inline': --ranks is refused by the inline backend, and a batch job's ranks come
    from sbatch --ntasks."""
    from pyharness.errors import UsageError
    store = TuneStore(tmp_path / "tune.h5")
    store.create({"kernel": "k", "nranks": 2, "backend": "inline"}, ["a"])
    with pytest.raises(UsageError) as ei:
        store.check_resume({"kernel": "k", "nranks": 3, "backend": "inline"})
    assert "sbatch --ntasks=2" in str(ei.value) and "--ranks" not in str(ei.value)
    with pytest.raises(UsageError) as ei:
        store.check_resume({"kernel": "k", "nranks": 3, "backend": "slurm"})
    assert "--ranks 2" in str(ei.value)
