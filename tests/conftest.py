"""Shared fixtures (helpers live in phtest.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phtest import ROOT  # noqa: E402  (also sets the MPI environment)

# tests/mpi/ runs under mpiexec at 1, 2 and 3 ranks, launched by test_mpi.py
collect_ignore = ["mpi"]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def have_mpiexec() -> bool:
    if shutil.which("mpiexec") is None:
        pytest.fail("mpiexec not found: run scripts/setup.sh (installs OpenMPI)")
    return True


@pytest.fixture(scope="session")
def slurm() -> bool:
    """A real Slurm on localhost, started by the project's own scripts/slurm-up.sh
    (it returns at once when the daemons already run). Skipped only when Slurm
    cannot be started on this machine, and never under CI=true."""
    up = ROOT / "scripts" / "slurm-up.sh"
    if not up.exists():
        pytest.fail("scripts/slurm-up.sh is missing")
    proc = subprocess.run(["bash", str(up)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        why = f"Slurm could not be started here: {proc.stdout[-500:]} {proc.stderr[-1500:]}"
        if os.environ.get("CI") == "true":     # under CI the Slurm tests must not pass by skipping
            pytest.fail("CI=true: " + why)
        pytest.skip(why)
    return True
