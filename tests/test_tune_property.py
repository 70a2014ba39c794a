"""Every strategy over a grid of (tree, budget, granularity), replayed on exhaustive
measurements of real runs: an accepted step never exceeds the budget, the gradient
never changes, and the loop ends within budget whenever a configuration within
budget exists among the measured ones."""

import itertools
import subprocess
import sys

import h5py
import numpy as np
import pytest

from phtest import mpirun
from pyharness.tuner.store import TuneStore

TREES = [("random", 5, 1), ("chain", 4, 2), ("wide", 5, 3)]


@pytest.fixture(scope="module", params=TREES, ids=lambda t: f"{t[0]}{t[1]}")
def measured(request, tmp_path_factory):
    shape, n, seed = request.param
    d = tmp_path_factory.mktemp(f"{shape}{n}")
    params = ["--param", f"shape={shape}", "--param", f"nsites={n}", "--param", f"seed={seed}",
              "--param", "m=32"]
    p = mpirun(2, ["-m", "pyharness.explore", "--kernel", "calltree", *params, "--exhaustive",
                   "--out", str(d / "all.h5")], cwd=d)
    assert p.returncode == 0, p.stderr
    with h5py.File(d / "all.h5") as f:
        s = [f["samples"][k] for k in f["samples"]]
        peaks = [int(np.max(g["peak_bytes"][()])) for g in s]
        digests = {g.attrs["grad_sha1"] for g in s}
    assert len(s) == 2 ** n and len(digests) == 1      # every configuration: the same gradient
    return d, params, min(peaks)


@pytest.mark.parametrize("strategy,budget,granularity", list(itertools.product(
    ["runtime-first", "memory-careful"], ["1.0x", "1.3x", "3x"], ["site", "callee"])))
def test_budget_never_exceeded_gradient_never_changes(measured, strategy, budget, granularity):
    d, params, min_peak = measured
    out = d / f"t-{strategy}-{budget}-{granularity}.h5"
    p = subprocess.run([sys.executable, "-m", "pyharness.tune", "--kernel", "calltree", *params,
                        "--backend", "replay", "--replay-from", str(d / "all.h5"), "--budget", budget,
                        "--strategy", strategy, "--granularity", granularity, "--no-progress",
                        "--out", str(out)], cwd=d, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    recs = TuneStore(out).records()
    start = recs[0].measurement
    limit = int(float(budget[:-1]) * start.peak)
    for r in recs:
        if r.decision in ("start", "accepted") and r.step > 0:
            assert r.measurement.peak <= limit
        if r.measurement is not None:
            assert r.measurement.grad_digest == start.grad_digest
    final = [r for r in recs if r.decision in ("start", "accepted")][-1].measurement
    assert final.peak <= limit
    assert final.wall <= start.wall
