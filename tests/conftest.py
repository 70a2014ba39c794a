"""Shared fixtures (helpers live in phtest.py)."""

import shutil
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
