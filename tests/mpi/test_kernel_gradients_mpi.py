"""Every kernel pyharness registers, whatever it is: the Taylor test of its adjoint
passes, fails when the adjoint is planted wrong in each rank's boundary row, and the
gradient and cost are bitwise identical under every configuration (all checkpointed,
all inhibited, 10 random sets). A new kernel is tested here by being registered in
pyproject.toml: it needs no test code of its own for these three checks
(docs/KERNELS.md). Run by tests/test_mpi.py at 1, 2 and 3 ranks.

The kernels' own modules test what is particular to each (decomposition against a
serial run, per-tracer Taylor tests, event traces, calltree's tree shapes)."""

import numpy as np
import pytest

from mpihelpers import all_ranks, random_configs
from pyharness import runtime
from pyharness.config import Configuration, SiteTable
from pyharness.gradcheck import taylor_test
from pyharness.kernels import get_kernel, kernel_names
from pyharness.plugins import describe
from pyharness.profile import run_adjoint

# pyharness's own kernels (a plug-in package installed beside it is its own to test)
OWN = [n for n in kernel_names() if describe("kernels", n).dist.split()[0] == "pyharness"]


def test_the_built_in_kernels_are_all_here():
    assert {"streamice", "biogeo", "calltree"} <= set(OWN)


@pytest.fixture(scope="module", params=OWN)
def kernel(request, comm):
    k = get_kernel(request.param).create(comm, "small")
    return k, SiteTable.from_locations(runtime.locations())


def test_taylor_second_order(comm, kernel):
    k, table = kernel
    runtime.set_active(Configuration().active_mask(table))
    res = taylor_test(comm, k, seed=7)
    # the remainder of a first-order Taylor expansion falls as eps^2 exactly when the
    # gradient is right: every order within 2 +- 0.1 over at least two decades of eps,
    # the smallest remainder 1e3 above round-off, and central differences agree with
    # <g, d> to 1e-6
    assert all_ranks(comm, res.passed()), (k.name, res.failures())
    assert all_ranks(comm, np.log10(res.eps.max() / res.eps.min()) >= 2)


def test_taylor_fails_with_a_wrong_boundary_row(comm, kernel):
    """The check has teeth: the adjoint scaled by 1.001 in each rank's last row only
    (on one rank: the domain's boundary, where the gradient is small) fails it."""
    k, table = kernel
    runtime.set_active(Configuration().active_mask(table))
    res = taylor_test(comm, k, seed=7, plant_error=1e-3)
    assert all_ranks(comm, not res.passed()), (k.name, res.orders, res.fd_rel)


def test_gradient_identical_under_every_configuration(comm, kernel):
    k, table = kernel
    configs = [Configuration(), Configuration.from_indices(table, table.site_indices)]
    configs += random_configs(table, 10)
    results = [run_adjoint(comm, k, table, c, profiling=False) for c in configs]
    ref_sum, _, ref_grad = results[0]
    for (s, _, g), c in zip(results, configs):
        assert all_ranks(comm, np.array_equal(g, ref_grad)), (k.name, sorted(c.inhibited))
        assert s.cost == ref_sum.cost           # bitwise, not approximately
        assert s.grad_digest == ref_sum.grad_digest
    # the configuration changes the cost of the adjoint, never its result
    all_active, all_inhibited = results[0][0], results[1][0]
    assert not np.array_equal(all_active.pushed_bytes, all_inhibited.pushed_bytes), k.name
    if k.name in ("streamice", "biogeo"):
        # their callees tape more than their snapshots hold, so inhibiting every site
        # raises the peak (calltree's trees need not: a site may snapshot more than it tapes)
        assert all_inhibited.peak > all_active.peak, k.name
