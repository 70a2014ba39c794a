"""biogeo under MPI: the Taylor test per tracer, the gradient bitwise identical
under every snapshot count of the time loop, exact stack accounting, the
decomposition (halo adjoints) checked against a serial run, and the site tree (the
whole control's Taylor test and the invariance under configurations:
test_kernel_gradients_mpi.py, as every kernel's). Run by tests/test_mpi.py at 1, 2
and 3 ranks."""

import numpy as np
import pytest

from mpihelpers import all_ranks, random_configs
from pyharness import runtime
from pyharness.binomial import binomial_adjoint, revolve_forward_steps
from pyharness.config import Configuration, SiteTable
from pyharness.gradcheck import EpsRange, taylor_test
from pyharness.kernels import get_kernel
from pyharness.profile import run_adjoint


# eps per tracer, from a scan of r(eps) (docs/GRADCHECK.md): the curvature of the
# cost along PO4, DOP and O2 alone is 1e3 to 1e5 times smaller than along DIC, so
# their remainders reach round-off (~5e-18) sooner; each range keeps the smallest
# remainder three decades above it, and starts where the order has settled at 2
TRACER_EPS = {0: EpsRange(1e-2, 1e-5), 1: EpsRange(1e-2, 1e-5), 2: EpsRange(1e-2, 1e-5),
              3: EpsRange(1e-2, 1e-4), 4: EpsRange(3e-3, 3e-5)}


@pytest.mark.parametrize("tracer", range(5))
def test_taylor_per_tracer(comm, biogeo, tracer):
    """Each tracer's initial field alone: a wrong adjoint in one tracer's path
    (e.g. oxygen, whose gradient is small) cannot hide behind the others."""
    k, table = biogeo
    runtime.set_active(Configuration().active_mask(table))
    n = k.nctrl()
    mask = np.zeros(n)
    mask[tracer * n // 5:(tracer + 1) * n // 5] = 1
    res = taylor_test(comm, k, seed=11 + tracer, direction_mask=mask, eps=TRACER_EPS[tracer])
    assert all_ranks(comm, res.passed()), (tracer, res.failures())


def test_stack_accounting_exact(comm, biogeo):
    k, table = biogeo
    for cfg in (Configuration(), Configuration.from_indices(table, table.site_indices)):
        run_adjoint(comm, k, table, cfg, profiling=False)
        st = runtime.stack_stats()
        assert all_ranks(comm, st.current == 0)
        assert all_ranks(comm, st.pushed == st.popped)
    # all inhibited, the forward sweep pushes everything before anything is popped
    assert all_ranks(comm, st.peak == st.pushed)


def test_site_tree(comm, biogeo):
    """At least 40 sites, nested 5 deep, some in loops over tracers, levels and
    iterations."""
    k, table = biogeo
    s, ev, _ = run_adjoint(comm, k, table, Configuration(), profiling=True)
    assert len(table.site_indices) >= 40
    sites = table.site_indices
    counts = np.array([np.sum((ev.loc == i) & (ev.kind == 1)) for i in sites])
    assert np.all(counts > 0)                              # every site runs
    assert counts.max() >= 5 * k.params.nt                 # loops over tracers, levels, iterations
    # nesting from the event trace: all active, the reversal of an instance
    # (BEGINREVERSE .. ENDREVERSE) holds the reversals of its callee's sites;
    # time step > air-sea > carbonate solve > Newton iteration > residual
    depth, deepest = 0, 0
    for kind in ev.kind[(ev.kind == 5) | (ev.kind == 6)]:
        depth += 1 if kind == 5 else -1
        deepest = max(deepest, depth)
    assert deepest == 5


def test_decomposition_matches_a_serial_run(comm):
    """The cost and the gathered gradient on all ranks equal a serial run on
    each rank (COMM_SELF) to round-off: the halo exchanges and their adjoints
    are right for every split of the rows."""
    from mpi4py import MPI
    spec = get_kernel("biogeo")
    p = spec.params("small")
    k = spec.create(comm, "small")
    cost, g = k.adjoint(k.control_default())
    parts = comm.allgather(g.reshape(p.nx, -1, p.nz, 5, order="F"))
    gw = np.concatenate(parts, axis=1)
    ks = spec.create(MPI.COMM_SELF, "small")
    cost1, g1 = ks.adjoint(ks.control_default())
    g1 = g1.reshape(p.nx, p.ny, p.nz, 5, order="F")
    spec.create(comm, "small")                     # leave the module's kernel set up
    assert all_ranks(comm, abs(cost - cost1) <= 1e-13 * abs(cost1))
    assert all_ranks(comm, np.allclose(gw, g1, rtol=1e-9, atol=1e-12 * np.abs(g1).max()))


def test_time_loop_binomial_gradient_unchanged(comm):
    nt = 5
    k = get_kernel("biogeo").create(comm, overrides={"nt": str(nt)})
    table = SiteTable.from_locations(runtime.locations())
    ref, _, gref = run_adjoint(comm, k, table, Configuration(), profiling=False)
    some = random_configs(table, 2, seed=5)
    peaks = {}
    for snaps in range(1, nt):
        for c in [Configuration()] + some:
            s, _, g = run_adjoint(comm, k, table, Configuration(c.inhibited, snaps), profiling=False)
            assert all_ranks(comm, np.array_equal(g, gref)), (snaps, sorted(c.inhibited))
            assert s.cost == ref.cost
            if not c.inhibited:
                peaks[snaps] = int(s.peak_bytes[comm.rank])
        runtime.reset()
        _, _, st = binomial_adjoint(k, k.control_default(), snaps)
        assert st.extra_steps == revolve_forward_steps(nt, snaps)
        assert st.max_snapshots_held == snaps
    # each extra snapshot of the time loop holds one more state on the peak
    state = k.ts_state_bytes()
    assert all_ranks(comm, peaks[3] - peaks[1] == 2 * state)
    get_kernel("biogeo").create(comm, "small")      # leave the module's kernel set up
