"""The gradient guard's comparisons: bitwise for the built-in kernels (SHA-1 digests
of real profiles), to a tolerance for gradients that a user's run writes to a file."""

from dataclasses import dataclass

import numpy as np
import pytest

from pyharness.errors import UsageError
from pyharness.tuner.guard import GradientGuard, callee_of, load_gradient_file


@dataclass(frozen=True)
class M:                         # the fields of a Measurement the guard reads
    grad_digest: str = "a" * 40
    cost: float = 1.0
    profile: str = "/nonexistent.h5"
    gradient_file: str = ""


def test_bitwise_same_and_different():
    g = GradientGuard()
    assert g.mode == "bitwise"
    assert g.compare(M(), M()).same
    d = g.compare(M(), M(grad_digest="b" * 40))
    assert not d.same and "bbbbbbbbbbbb instead of aaaaaaaaaaaa" in d.detail
    # the same gradient with another cost is another result too
    assert not g.compare(M(), M(cost=1.0 + 1e-16 * 4)).same


def test_tolerance_on_gradient_files(tmp_path):
    rng = np.random.default_rng(0)
    g0 = rng.standard_normal(100)
    np.save(tmp_path / "g0.npy", g0)
    np.savetxt(tmp_path / "g1.txt", g0 * (1 + 1e-10), header="user's run")
    g2 = g0.copy()
    g2[-1] += 1e-3 * np.abs(g0).max()          # one entry wrong at 1e-3 of the largest
    np.save(tmp_path / "g2.npy", g2)
    guard = GradientGuard(rtol=1e-8)
    ref = M(gradient_file=str(tmp_path / "g0.npy"))
    ok = guard.compare(ref, M(gradient_file=str(tmp_path / "g1.txt")))
    assert ok.same and ok.rel_diff <= 1e-9
    bad = guard.compare(ref, M(gradient_file=str(tmp_path / "g2.npy")))
    assert not bad.same and bad.rel_diff == pytest.approx(1e-3, rel=1e-6)
    np.save(tmp_path / "short.npy", g0[:-1])
    assert not guard.compare(ref, M(gradient_file=str(tmp_path / "short.npy"))).same


def test_tolerance_needs_gradient_files(tmp_path):
    with pytest.raises(UsageError, match="--gradient-file"):
        GradientGuard(rtol=1e-8).compare(M(), M())
    with pytest.raises(UsageError, match="does not exist"):
        load_gradient_file(tmp_path / "missing.npy")
    (tmp_path / "junk.txt").write_text("not a number\n")
    with pytest.raises(UsageError, match="not a .npy array"):
        load_gradient_file(tmp_path / "junk.txt")
    with pytest.raises(UsageError):
        GradientGuard(rtol=-1)


def test_callee_of_site_names():
    assert callee_of("CG_solve@streamice_vel.f90:212") == "cg_solve"
    assert callee_of("n4") == "n4"
