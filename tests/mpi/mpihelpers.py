"""Helpers of the MPI tests: collective assertions, seeded configurations."""

import numpy as np


def all_ranks(comm, ok: bool) -> bool:
    """True only if ``ok`` holds on every rank (collective)."""
    return bool(comm.allreduce(bool(ok), op=_land()))


def _land():
    from mpi4py import MPI
    return MPI.LAND


def random_configs(table, n, seed=42):
    """n random inhibited-site sets, the same on every rank (seeded)."""
    from pyharness.config import Configuration
    rng = np.random.default_rng(seed)
    sites = table.site_indices
    out = []
    for _ in range(n):
        k = int(rng.integers(0, len(sites) + 1))
        idx = rng.choice(sites, size=k, replace=False)
        out.append(Configuration.from_indices(table, idx))
    return out
