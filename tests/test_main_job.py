"""The README's first command (the main job) and its manual steps, run the way a
user runs them: from the repository root."""

import os
import subprocess

import h5py

from phtest import ROOT


def test_main_job_from_the_repository_root(tmp_path):
    env = dict(os.environ, PYHARNESS_RESULTS=str(tmp_path / "results"))
    p = subprocess.run(["bash", "scripts/run-default.sh"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
    assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:])
    res = tmp_path / "results"
    for f in ("profile.h5", "tune.h5", "tune.config.json", "tune.nocheckpoint.txt"):
        assert (res / f).exists(), f
    with h5py.File(res / "tune.h5") as f:
        assert f.attrs["kind"] == "tune" and len(f["steps"]) >= 2
    assert "speed-up" in p.stdout and "bitwise identical" in p.stdout


def test_manual_commands_from_the_repository_root_use_the_installed_package():
    """README: `source scripts/env.sh`, then `python -m pyharness...` in the checkout:
    the sources there must not shadow the installed package and its bindings."""
    p = subprocess.run(["bash", "-c", "source scripts/env.sh && python -m pyharness.sites --kernel biogeo"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "43 checkpoint sites" in p.stdout
