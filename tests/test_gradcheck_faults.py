"""Injected faults must be caught: with each kind of PYHARNESS_FAULT (docs/RUNTIME.md)
that can act in the built-in kernels, the gradient check and the invariance check both
exit non-zero, and a tuning in which one site's inhibition corrupts the adjoint never
chooses it and records why.

A check that still passes under a fault is a defect (issue: proofs with teeth)."""

import json

import pytest

from phtest import mpirun
from pyharness.tuner.store import TuneStore

# k per kind and kernel; the test asserts that the fault fired. flip-real: a popped
# real the gradient depends on (streamice's 40th popped real, 1.18, is restored but
# never used by the adjoint: flipped, the gradient stays bitwise right, and no check
# can or should fail; its 5000th is used). skip-push: every later pop is shifted and
# the adjoint ends in a stack underflow, reported as an error on every rank.
# bad-control needs an adjoint that pushes control bits: streamice and biogeo do not
# (their branches do not depend on active values), calltree nodes with "branch" do
# (test_bad_control_is_caught below).
FAULTS = {"flip-real": "flip-real:{k}", "skip-push": "skip-push:{k}"}
K = {("streamice", "flip-real"): 5000, ("streamice", "skip-push"): 40,
     ("biogeo", "flip-real"): 40, ("biogeo", "skip-push"): 40,
     ("calltree", "flip-real"): 40, ("calltree", "skip-push"): 40}


@pytest.mark.parametrize("check", ["taylor", "invariance"])
@pytest.mark.parametrize("kind", list(FAULTS))
@pytest.mark.parametrize("kernel", ["streamice", "biogeo", "calltree"])
def test_checks_fail_under_every_fault(tmp_path, kernel, kind, check):
    fault = FAULTS[kind].format(k=K[kernel, kind])
    p = mpirun(2, ["-m", "pyharness.gradcheck", "--kernel", kernel, "--check", check],
               env={"PYHARNESS_FAULT": fault}, cwd=tmp_path, timeout=300)
    assert "fired" in p.stderr, (fault, p.stderr[-2000:])           # the fault acted
    assert p.returncode != 0, (fault, check, p.stdout[-3000:])
    # a verdict or an error, reached on every rank and printed once
    assert p.stderr.count("pyharness.gradcheck: error: [ranks 0-1 of 2]") == 1, p.stderr[-2000:]
    if kind == "flip-real":
        assert "FAILED" in p.stdout, p.stdout[-3000:]


BRANCHY = {"m": 64, "nodes": [
    {"name": "root", "work": 1, "children": [{"node": "heavy"}, {"node": "light", "loop": 2}]},
    {"name": "heavy", "work": 3, "branch": True, "children": [{"node": "inner", "loop": 2}]},
    {"name": "inner", "work": 4, "branch": True},
    {"name": "light", "work": 2}]}


@pytest.mark.parametrize("check,fault", [
    # a control popped wrong in every run: the adjoint takes the other branch once,
    # and only finite differences can see it (every configuration pops the same
    # logical control k-th, so all gradients are equally wrong and the invariance
    # check cannot tell them apart; docs/GRADCHECK.md)
    ("taylor", "bad-control:3"),
    # a control popped wrong only while heavy's checkpoint is off: the configurations
    # disagree, and the invariance check must say so
    ("invariance", "bad-control:2:heavy@root.f:1"),
])
def test_bad_control_is_caught(tmp_path, check, fault):
    (tmp_path / "tree.json").write_text(json.dumps(BRANCHY))
    p = mpirun(2, ["-m", "pyharness.gradcheck", "--kernel", "calltree", "--param",
                   f"tree={tmp_path / 'tree.json'}", "--check", check],
               env={"PYHARNESS_FAULT": fault}, cwd=tmp_path, timeout=300)
    assert "control popped as" in p.stderr, (fault, p.stderr[-2000:])     # the fault acted
    assert p.returncode != 0, (fault, check, p.stdout[-3000:])
    assert f"gradient check(s) failed: {check}" in p.stderr, p.stderr[-2000:]
    assert "FAILED" in p.stdout, p.stdout[-3000:]


def test_malformed_fault_is_a_clear_error_on_every_rank(tmp_path):
    p = mpirun(2, ["-m", "pyharness.gradcheck", "--kernel", "streamice"],
               env={"PYHARNESS_FAULT": "flip:3"}, cwd=tmp_path, timeout=120)
    assert p.returncode != 0
    assert p.stderr.count("is malformed") >= 2, p.stderr


TREE = {"m": 64, "nodes": [
    {"name": "root", "work": 1, "children": [{"node": "heavy"}, {"node": "light"}, {"node": "tiny"}]},
    {"name": "heavy", "work": 1, "children": [{"node": "inner", "loop": 3}]},
    {"name": "inner", "work": 40},
    {"name": "light", "work": 2},
    {"name": "tiny", "work": 1}]}


def test_tune_never_chooses_a_configuration_that_changes_the_gradient(tmp_path):
    """The fault acts only while heavy@root.f:1 is inhibited: the start's gradient is
    right, and inhibiting heavy (by far the largest time gain, the first flip the
    tuner tries) changes it. The tuner must reject it, record why, and say that heavy
    must stay checkpointed."""
    (tmp_path / "tree.json").write_text(json.dumps(TREE))
    site = "heavy@root.f:1"
    out = tmp_path / "tune.h5"
    p = mpirun(2, ["-m", "pyharness.tune", "--kernel", "calltree", "--param", f"tree={tmp_path / 'tree.json'}",
                   "--budget", "100x", "--no-progress", "--max-steps", "6", "--out", str(out)],
               env={"PYHARNESS_FAULT": f"flip-real:5:{site}"}, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    recs = TuneStore(out).records()
    start = recs[0].measurement
    with_site = [r for r in recs if r.measurement is not None and site in r.inhibited]
    assert with_site, "the tuner never inhibited the faulty site"
    for r in recs:
        if r.measurement is None:
            continue
        changed = r.measurement.grad_digest != start.grad_digest
        assert changed == (site in r.inhibited), (r.step, r.inhibited)   # the fault, and only it
        assert r.grad_differs == changed
        if changed:
            assert r.decision == "rejected" and "gradient differs from the start's" in r.reason
            if r.phase == "optimal":
                # the optimum inhibits several sites at once: which one is at fault is the
                # greedy loop's to find, one flip at a time
                assert "the greedy loop flips them one at a time" in r.reason, r.reason
            else:
                assert "must stay checkpointed: heavy" in r.reason, r.reason
    chosen = json.loads((tmp_path / "tune.config.json").read_text())["inhibited"]
    assert site not in chosen
    assert "heavy" not in (tmp_path / "tune.nocheckpoint.txt").read_text().split()
    assert "MUST STAY CHECKPOINTED (inhibiting them changed the gradient): heavy" in p.stdout
    assert (tmp_path / "tune.keep-checkpointed.txt").read_text().split("\n")[-2] == "heavy"
