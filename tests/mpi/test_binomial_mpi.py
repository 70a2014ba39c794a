"""Binomial (revolve) checkpointing of the calltree kernel's time loop."""

import numpy as np
import pytest

from mpihelpers import all_ranks, random_configs
from pyharness import runtime
from pyharness.binomial import binomial_adjoint, revolve_forward_steps
from pyharness.config import Configuration, SiteTable
from pyharness.kernels import get_kernel
from pyharness.profile import run_adjoint

NSTEPS = 9


@pytest.fixture(scope="module")
def stepped(comm):
    k = get_kernel("calltree").create(comm, overrides={"nsteps": str(NSTEPS), "nsites": "8",
                                                        "seed": "4", "m": "48"})
    return k, SiteTable.from_locations(runtime.locations())


def test_gradient_unchanged_and_extra_steps_optimal(comm, stepped):
    k, table = stepped
    ref, _, gref = run_adjoint(comm, k, table, Configuration(), profiling=False)
    configs = random_configs(table, 3, seed=2) + [Configuration()]
    for snaps in range(1, NSTEPS):
        for c in configs:
            s, _, g = run_adjoint(comm, k, table, Configuration(c.inhibited, snaps), profiling=False)
            assert all_ranks(comm, np.array_equal(g, gref)), (snaps, sorted(c.inhibited))
            assert s.cost == ref.cost
        runtime.reset()
        _, _, st = binomial_adjoint(k, k.control_default(), snaps)
        # recomputation equals Griewank's optimum for (steps, snapshots)
        assert st.extra_steps == revolve_forward_steps(NSTEPS, snaps)
        assert st.max_snapshots_held == snaps


def test_peak_includes_the_snapshots(comm, stepped):
    k, table = stepped
    inhibited_all = Configuration.from_indices(table, table.site_indices)
    peaks = []
    for snaps in (1, 4):
        s, _, _ = run_adjoint(comm, k, table, Configuration(inhibited_all.inhibited, snaps),
                              profiling=False)
        peaks.append(int(s.peak_bytes.max()))
    # one step's tape is the same; three more snapshots of 48 reals are held at once
    assert peaks[1] - peaks[0] == 3 * 48 * 8


def test_streamice_time_loop_binomial_gradient_unchanged(comm):
    k = get_kernel("streamice").create(comm, overrides={"nt": "5"})
    table = SiteTable.from_locations(runtime.locations())
    ref, _, gref = run_adjoint(comm, k, table, Configuration(), profiling=False)
    some = random_configs(table, 2, seed=5)
    for snaps in range(1, 5):
        for c in [Configuration()] + some:
            s, _, g = run_adjoint(comm, k, table, Configuration(c.inhibited, snaps), profiling=False)
            assert all_ranks(comm, np.array_equal(g, gref)), (snaps, sorted(c.inhibited))
            assert s.cost == ref.cost
        runtime.reset()
        _, _, st = binomial_adjoint(k, k.control_default(), snaps)
        assert st.extra_steps == revolve_forward_steps(5, snaps)
