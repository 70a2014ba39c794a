"""calltree under MPI: Taylor test, invariance under configurations, and the event
trace against the instance counts derived from the description alone."""

import numpy as np
import pytest

from mpihelpers import all_ranks, random_configs
from pyharness import runtime
from pyharness.config import Configuration, SiteTable
from pyharness.gradcheck import taylor_test
from pyharness.kernels import get_kernel
from pyharness.kernels.calltree import count_instances
from pyharness.profile import run_adjoint


@pytest.fixture(scope="module", params=[("random", 12, 3), ("balanced", 10, 1), ("chain", 6, 2)])
def calltree(request, comm):
    shape, nsites, seed = request.param
    k = get_kernel("calltree").create(comm, overrides={"shape": shape, "nsites": str(nsites),
                                                        "seed": str(seed), "m": "64"})
    return k, SiteTable.from_locations(runtime.locations())


def test_taylor_second_order(comm, calltree):
    k, table = calltree
    runtime.set_active(Configuration().active_mask(table))
    res = taylor_test(comm, k, seed=5)
    assert all_ranks(comm, res.passed()), res.failures()


def test_taylor_fails_with_a_wrong_boundary_entry(comm, calltree):
    k, table = calltree
    runtime.set_active(Configuration().active_mask(table))
    res = taylor_test(comm, k, seed=5, plant_error=1e-3)
    assert all_ranks(comm, not res.passed()), (res.orders, res.fd_rel)


def test_gradient_identical_under_every_configuration(comm, calltree):
    k, table = calltree
    configs = [Configuration(), Configuration.from_indices(table, table.site_indices)]
    configs += random_configs(table, 10, seed=9)
    ref = None
    for c in configs:
        s, _, g = run_adjoint(comm, k, table, c, profiling=False)
        if ref is None:
            ref = (s, g)
        assert all_ranks(comm, np.array_equal(g, ref[1])), sorted(c.inhibited)
        assert s.cost == ref[0].cost


def test_event_counts_match_the_description(comm, calltree):
    k, table = calltree
    expected = count_instances(k.desc)          # from the JSON tree, not from Fortran
    _, ev, _ = run_adjoint(comm, k, table, Configuration(), profiling=True)
    ok = True
    for i in table.site_indices:
        name = table.names[i]
        for kind in range(1, 7):
            ok &= int(np.sum((ev.loc == i) & (ev.kind == kind))) == expected[name]
    # one TURN per active re-run plus the root's
    nturn = int(np.sum(ev.kind == 7))
    ok &= nturn == 1 + sum(expected.values())
    assert all_ranks(comm, ok)
