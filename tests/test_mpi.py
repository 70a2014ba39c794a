"""Run the MPI test modules (tests/mpi/) under mpiexec at 1, 2 and 3 ranks."""

import sys

import pytest

from phtest import ROOT, mpirun


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_mpi_suite(nranks, have_mpiexec):
    proc = mpirun(nranks, ["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--color=no",
                           str(ROOT / "tests" / "mpi")], timeout=900, cwd=ROOT / "tests" / "mpi")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert " passed" in out and " failed" not in out
