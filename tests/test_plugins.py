"""Kernels and backends as entry-point plug-ins: pyharness's own, a separate
package installed into the venv (examples/plugin-kernel) profiled and tuned at
2 ranks, and a plug-in whose package is broken."""

import json
import subprocess
import sys

import h5py
import pytest

from phtest import ROOT, mpirun
from pyharness.tuner.store import TuneStore

EXAMPLE = ROOT / "examples" / "plugin-kernel"


def pip(*args):
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def example_installed():
    """The example kernel package installed into this venv (as a user would), removed after."""
    proc = pip("install", "--no-build-isolation", "--no-deps", str(EXAMPLE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield
    pip("uninstall", "-y", "pyharness-example-kernel")


def sites_cli(*args, cwd, env=None):
    import os
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "pyharness.sites", *args], capture_output=True,
                          text=True, cwd=cwd, env=e, timeout=120)


def test_builtins_are_listed_with_their_origin(tmp_path):
    proc = sites_cli("--list-kernels", "--list-backends", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # two JSON documents, one per kind
    docs = [json.loads(d) for d in proc.stdout.replace("}\n{", "}\n\x00{").split("\x00")]
    kernels = {r["name"]: r for r in docs[0]["kernels"]}
    backends = {r["name"]: r for r in docs[1]["backends"]}
    assert {"streamice", "biogeo", "calltree"} <= set(kernels)
    assert {"inline", "local", "slurm", "replay"} <= set(backends)
    assert kernels["streamice"]["entry_point"] == "pyharness.kernels.streamice:SPEC"
    assert kernels["streamice"]["distribution"].startswith("pyharness ")
    assert backends["slurm"]["entry_point"] == "pyharness.backends.slurm:SlurmBackend"
    assert not any(r["about"].startswith("BROKEN") for r in [*kernels.values(), *backends.values()])


def test_unknown_names_list_the_known_ones(tmp_path):
    from pyharness.backends import RunRequest, get_backend
    from pyharness.errors import UsageError
    from pyharness.kernels import get_kernel
    with pytest.raises(UsageError, match="unknown kernel 'nosuch'; known kernels: .*biogeo.*streamice"):
        get_kernel("nosuch")
    with pytest.raises(UsageError, match="unknown backend 'nosuch'; known backends: .*inline.*slurm"):
        get_backend("nosuch", RunRequest("streamice"))


def test_a_broken_plugin_reports_its_own_import_error(tmp_path):
    # a distribution whose entry point names a module that fails to import
    # (found by importlib.metadata on the path, as an installed package would be)
    site = tmp_path / "site"
    dist = site / "broken_kernel-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-kernel\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[pyharness.kernels]\nbroken = broken_kernel:SPEC\n"
        "[pyharness.backends]\nbrokenbackend = broken_kernel:Backend\n")
    (site / "broken_kernel.py").write_text("import numpy\nraise ImportError('libfoo.so: cannot open')\n")
    env = {"PYTHONPATH": str(site)}
    proc = mpirun(2, ["-m", "pyharness.profile", "--kernel", "broken"], cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.count(": error: [ranks 0-1 of 2] ") == 1, proc.stderr
    assert proc.stderr.count("kernel 'broken' registered by broken-kernel 1.0 as broken_kernel:SPEC "
                             "failed to import: ImportError: libfoo.so: cannot open") == 1, proc.stderr
    assert "not available" not in proc.stderr and "Traceback" not in proc.stderr
    # the listing shows it as broken, and the others as they are
    proc = sites_cli("--list-kernels", "--list-backends", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    line = [l for l in proc.stdout.splitlines() if l.split()[:1] == ["broken"]][0]
    assert "broken-kernel 1.0" in line and "BROKEN" in line and "libfoo.so" in line
    assert "brokenbackend" in proc.stdout
    streamice = [l for l in proc.stdout.splitlines() if l.split()[:1] == ["streamice"]][0]
    assert "BROKEN" not in streamice


def test_installed_plugin_kernel_profiles_and_tunes_at_2_ranks(tmp_path, example_installed):
    proc = sites_cli("--list-kernels", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = [l for l in proc.stdout.splitlines() if l.split()[:1] == ["smoother"]][0]
    assert "ph_example_kernel:SPEC" in line and "pyharness-example-kernel 0.1.0" in line

    # its sites: every call edge of the tree in examples/plugin-kernel, named child@parent.f:k
    # (step calls smooth, residual, coarse, smooth; coarse calls restrict, smooth, prolong)
    proc = sites_cli("--kernel", "smoother", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = sorted(s["name"] for s in json.loads(proc.stdout))
    assert names == sorted(["smooth@step.f:1", "residual@step.f:2", "coarse@step.f:3", "smooth@step.f:4",
                            "restrict@coarse.f:1", "smooth@coarse.f:2", "prolong@coarse.f:3"])

    out = tmp_path / "profile.h5"
    proc = mpirun(2, ["-m", "pyharness.profile", "--kernel", "smoother", "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out) as f:
        assert f.attrs["kernel"] == "smoother" and f.attrs["nranks"] == 2
        assert sorted(f["events"]) == ["rank_00000", "rank_00001"]
        assert (f["summary/pushed_bytes"][()] == f["summary/popped_bytes"][()]).all()
        assert (f["summary/peak_bytes"][()] > 0).all()

    tuned = tmp_path / "tune.h5"
    proc = mpirun(2, ["-m", "pyharness.tune", "--method", "greedy", "--kernel", "smoother", "--budget", "1.5x", "--max-steps", "6",
                      "--out", str(tuned), "--no-progress"], cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(tuned).records()
    start = recs[0].measurement
    kept = [r for r in recs if r.decision in ("start", "accepted")]
    for r in kept:
        assert r.measurement.peak <= int(1.5 * start.peak)
        assert r.measurement.grad_digest == start.grad_digest
    assert len(recs) > 1


def test_gradcheck_takes_a_kernels_figures_from_the_kernel_not_from_a_table_of_names():
    """What gradcheck needs of a kernel (the Taylor test's steps, --check serial's
    tolerance, the boundary rows --plant-error makes wrong) is the kernel's own: a
    plug-in package cannot edit a table in pyharness/gradcheck.py, and a kernel in
    pyharness should not have to (docs/KERNELS.md). Nothing Fortran is called."""
    import numpy as np

    from pyharness.gradcheck import DEFAULT_RANGE, EpsRange, boundary_row_mask, eps_range_for, serial_rtol
    from pyharness.kernels import Kernel

    class Mine(Kernel):
        taylor_eps = (1e-2, 1e-4)
        serial_rtol = 1e-10

        def nctrl(self):
            return 6

        def boundary_rows(self):
            mask = np.zeros(6, dtype=bool)
            mask[:2] = True
            return mask

    class Plain(Kernel):
        def nctrl(self):
            return 4

    mine, plain = object.__new__(Mine), object.__new__(Plain)
    assert eps_range_for(mine) == eps_range_for(Mine) == EpsRange(1e-2, 1e-4)
    assert serial_rtol(mine) == 1e-10
    assert boundary_row_mask(mine).tolist() == [True, True, False, False, False, False]
    # a kernel that says nothing: the default range, no serial check, its last entry
    assert eps_range_for(plain) == DEFAULT_RANGE == EpsRange(1e-3, 1e-6)
    assert serial_rtol(plain) is None
    assert boundary_row_mask(plain).tolist() == [False, False, False, True]
    # the built-in kernels keep the figures docs/GRADCHECK.md's tables state
    assert eps_range_for("streamice") == EpsRange(1e-4, 1e-6)
    assert eps_range_for("biogeo") == EpsRange(1e-3, 1e-6)
    assert eps_range_for("calltree") == EpsRange(1e-2, 1e-5)
    assert (serial_rtol("streamice"), serial_rtol("biogeo"), serial_rtol("calltree")) == (1e-8, 1e-12, None)
