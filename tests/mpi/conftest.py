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


@pytest.fixture(scope="session")
def streamice(comm):
    from pyharness.kernels import get_kernel
    from pyharness import runtime
    from pyharness.config import SiteTable
    k = get_kernel("streamice").create(comm, "small")
    table = SiteTable.from_locations(runtime.locations())
    return k, table
