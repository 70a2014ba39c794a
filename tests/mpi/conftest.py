"""Fixtures of the tests that run under mpiexec (tests/test_mpi.py launches them).

Every assertion is preceded by a gather of the condition from all ranks
(:func:`all_ranks`), so a failure on one rank cannot leave the others blocked
in a collective.
"""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _kernel(comm, name, **overrides):
    from pyharness.kernels import get_kernel
    from pyharness import runtime
    from pyharness.config import SiteTable
    k = get_kernel(name).create(comm, "small", overrides={a: str(b) for a, b in overrides.items()})
    return k, SiteTable.from_locations(runtime.locations())


# The Fortran state of a kernel is global per process: each module sets its kernel
# up again (cheap), so no module sees another module's kernel.
@pytest.fixture(scope="module")
def biogeo(comm):
    return _kernel(comm, "biogeo")


@pytest.fixture(scope="module")
def streamice(comm):
    return _kernel(comm, "streamice")
