"""The model's cold-reverse term (CostModel.calibrated, predict/optimize --calibrate).

The bytes it charges per site come from the DAG recursion; here they are checked
against the raw events of a real profiled run (the stack at each instance's callee
TURN minus the stack at its BEGINREVERSE), an independent derivation. Calibration
runs are real --no-profiling runs of the calltree kernel."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

from phtest import mpirun
from pyharness.analysis.merge import EventKind
from pyharness.analysis.profiles import read_rank_events
from pyharness.config import Configuration
from pyharness.errors import UsageError
from pyharness.model import CostModel
from pyharness.model.calibration import read_run

TREE = ["--kernel", "calltree", "--param", "shape=random", "--param", "nsites=10",
        "--param", "seed=7", "--param", "m=64"]


def _run(tmp, name, n=1, extra=(), targs=TREE):
    out = tmp / name
    mpirun(n, ["-m", "pyharness.profile", *targs, "--out", str(out), *extra], cwd=tmp, check=True)
    return out


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calib")
    return tmp, _run(tmp, "profile.h5")


def _tape_bytes_from_events(path, nloc):
    """Per site, the stack its callee's taped run adds up to its TURN, summed over
    instances, read off the raw events (first TURN after each BEGINREVERSE)."""
    out = np.zeros(nloc)
    with h5py.File(path) as f:
        ev = read_rank_events(f, 0)
    open_: list[list] = []          # [loc, stack at BEGINREVERSE, turned]
    for k, loc, st in zip(ev["kind"], ev["loc"], ev["stack"]):
        if k == EventKind.BEGINREVERSE:
            open_.append([int(loc), int(st), False])
        elif k == EventKind.TURN and open_ and not open_[-1][2]:
            out[open_[-1][0]] += int(st) - open_[-1][1]
            open_[-1][2] = True
        elif k == EventKind.ENDREVERSE:
            assert open_.pop()[2], "a reversal without its callee's TURN"
    assert not open_
    return out


def test_cold_bytes_are_the_callee_tapes_the_events_show(profiled):
    _, prof = profiled
    m = CostModel.from_profile(prof)
    want = _tape_bytes_from_events(prof, len(m.names))
    got = m.cold_bytes()[0]
    assert want[m.site_indices].sum() > 0
    np.testing.assert_array_equal(got, want)


def test_calibration_with_a_real_run(profiled):
    tmp, prof = profiled
    m = CostModel.from_profile(prof)
    sites = m.site_indices
    cfg = Configuration(frozenset(m.names[i] for i in sites[: len(sites) // 2 + 1]))
    p = tmp / "half.json"
    p.write_text(json.dumps({"inhibited": sorted(cfg.inhibited)}))
    run = _run(tmp, "half.h5", extra=["--config", str(p), "--no-profiling"])
    got_cfg, measured = read_run(m, run)
    assert got_cfg.inhibited == cfg.inhibited
    with h5py.File(run) as f:
        np.testing.assert_array_equal(measured, f["summary/wall_s"][()])   # no events to take out
    mc = m.calibrated([(got_cfg, measured)])
    before = m.predict(cfg).time_by_rank
    after = mc.predict(cfg).time_by_rank
    k = mc.cold_s_per_byte
    assert k.shape == (1,) and k[0] >= 0
    if measured[0] > before[0]:
        # one run, one unknown per rank: the fit reproduces the run
        assert k[0] > 0 and after[0] == pytest.approx(measured[0], rel=1e-9)
    else:
        # the run was not slower than predicted: nothing to charge (never negative)
        assert k[0] == 0 and after[0] == pytest.approx(before[0], rel=1e-12)
    # the term only charges inhibited sites: the profiled configuration is unchanged
    assert mc.predict(Configuration()).time == pytest.approx(m.predict(Configuration()).time, rel=1e-12)
    # peaks never change
    assert list(mc.predict(cfg).peak_by_rank) == list(m.predict(cfg).peak_by_rank)


def test_a_known_term_is_recovered_and_predicts_other_configurations(profiled):
    _, prof = profiled
    m = CostModel.from_profile(prof)
    sites = m.site_indices
    cb = m.cold_bytes()[0]
    k_true = 0.05e-9
    a = Configuration(frozenset(m.names[i] for i in sites[::2]))
    b = Configuration(frozenset(m.names[i] for i in sites[1::2]))

    def truth(cfg):
        inh = [m.names.index(n) for n in cfg.inhibited]
        return m.predict(cfg).time_by_rank + k_true * cb[inh].sum()

    mc = m.calibrated([(a, truth(a))])
    assert mc.cold_s_per_byte[0] == pytest.approx(k_true, rel=1e-9)
    assert mc.predict(b).time_by_rank[0] == pytest.approx(truth(b)[0], rel=1e-9)
    # runs that inhibit nothing carry no information: the term stays 0
    assert m.calibrated([(Configuration(), m.predict(Configuration()).time_by_rank + 1.0)]) \
        .cold_s_per_byte[0] == 0


def test_calibration_runs_of_another_job_are_refused(profiled, tmp_path):
    _, prof = profiled
    m = CostModel.from_profile(prof)
    other = _run(tmp_path, "other.h5", extra=["--no-profiling"],
                 targs=[*TREE[:-2], "--param", "m=32"])
    with pytest.raises(UsageError, match="calibrate with runs of the profiled kernel"):
        read_run(m, other)
    two = _run(tmp_path, "two.h5", n=2, extra=["--no-profiling"])
    with pytest.raises(UsageError, match="same job size"):
        read_run(m, two)


def test_predict_and_optimize_calibrate_under_mpiexec(tmp_path):
    prof = _run(tmp_path, "profile.h5", n=2)
    m = CostModel.from_profile(prof)
    sites = m.site_indices
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps({"inhibited": [m.names[i] for i in sites[: len(sites) - 1]]}))
    run = _run(tmp_path, "run.h5", n=2, extra=["--config", str(p), "--no-profiling"])
    r = mpirun(2, ["-m", "pyharness.predict", str(prof), "--config", str(p), "--calibrate", str(run)],
               cwd=tmp_path, check=True)
    assert r.stdout.count("calibrated with 1 measured run(s)") == 1    # rank 0 prints
    got = [float(v) for v in re.search(r"per rank ([\d., ]+)\)", r.stdout).group(1).split(", ")]
    with h5py.File(run) as f:
        measured = f["summary/wall_s"][()]
    mc = m.calibrated([(Configuration(frozenset(json.loads(p.read_text())["inhibited"])), measured)])
    assert got == pytest.approx(list(mc.predict(Configuration(frozenset(
        json.loads(p.read_text())["inhibited"]))).time_by_rank), abs=2e-6)
    r = mpirun(2, ["-m", "pyharness.optimize", str(prof), "--budget", "1.5x", "--calibrate", str(run)],
               cwd=tmp_path, check=True)
    assert "calibrated with 1 measured run(s)" in r.stdout and "proven optimal" in r.stdout
    bad = mpirun(2, ["-m", "pyharness.predict", str(prof), "--config", str(p), "--calibrate",
                     str(tmp_path / "missing.h5")], cwd=tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "missing.h5" in bad.stderr
