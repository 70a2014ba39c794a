"""streamice under MPI: the Taylor test of the binomial adjoint, the decomposition
against a serial run, stack accounting, the hard limit, and the event trace (its
Taylor test, finite differences and configuration invariance:
test_kernel_gradients_mpi.py, as every kernel's). Run by tests/test_mpi.py at 1, 2
and 3 ranks."""

import numpy as np
import pytest

from mpihelpers import all_ranks, random_configs
from pyharness import runtime
from pyharness.config import Configuration
from pyharness.errors import PyharnessError
from pyharness.gradcheck import serial_check, serial_rtol, taylor_test
from pyharness.kernels import get_kernel
from pyharness.profile import run_adjoint


def test_taylor_with_snapshots_checks_the_binomial_adjoint(comm, streamice, monkeypatch):
    """gradcheck --snapshots K (docs/GRADCHECK.md: the Taylor test runs the adjoint under
    that configuration) ran the taped adjoint whatever K was. With K the gradient comes
    from the revolve schedule's sweeps, never from the taped adjoint, and passes."""
    k, table = streamice

    def taped(ctrl):
        raise AssertionError("the taped adjoint was run")
    monkeypatch.setattr(k, "adjoint", taped)
    runtime.set_active(Configuration().active_mask(table))
    res = taylor_test(comm, k, seed=7, snapshots=2)
    assert all_ranks(comm, res.passed()), res.failures()


def test_decomposition_matches_a_serial_run(comm):
    """The gathered gradient on all ranks equals a serial run of the whole grid on
    each rank (COMM_SELF) to 1e-8 of its largest entry, the cost to 1e-13: the halo
    exchanges and their adjoints are right for every split of the rows. Not bitwise:
    the CG solve's global dot products are summed in another order (see Streamice.serial_rtol)."""
    from mpi4py import MPI
    spec = get_kernel("streamice")
    p = spec.params("small")
    k = spec.create(comm, "small")
    runtime.set_active(np.ones(len(runtime.locations()), dtype=bool))
    cost, g = k.adjoint(k.control_default())
    gw = np.concatenate(comm.allgather(g.reshape(p.nx, -1, order="F")), axis=1)
    ks = spec.create(MPI.COMM_SELF, "small")
    runtime.set_active(np.ones(len(runtime.locations()), dtype=bool))
    cost1, g1 = ks.adjoint(ks.control_default())
    g1 = g1.reshape(p.nx, p.ny, order="F")
    spec.create(comm, "small")                     # leave the module's kernel set up
    assert all_ranks(comm, gw.shape == g1.shape)
    assert all_ranks(comm, abs(cost - cost1) <= 1e-13 * abs(cost1))
    err = np.abs(gw - g1).max() / np.abs(g1).max()
    assert all_ranks(comm, err <= 1e-8), err
    if comm.size == 1:
        assert np.array_equal(gw, g1)              # the same split: bitwise
    # the library's check agrees, with its stated tolerance
    res = serial_check(comm, "streamice")
    assert all_ranks(comm, res.passed and res.rtol == serial_rtol("streamice") == 1e-8)


def test_stack_accounting_exact(comm, streamice):
    k, table = streamice
    for cfg in (Configuration(), Configuration.from_indices(table, table.site_indices)):
        s, _, _ = run_adjoint(comm, k, table, cfg, profiling=False)
        st = runtime.stack_stats()
        assert all_ranks(comm, st.current == 0)
        assert all_ranks(comm, st.pushed == st.popped)
    # all inhibited: the forward sweep pushes everything before the backward
    # sweep pops anything, so the peak is exactly the total pushed
    assert all_ranks(comm, st.peak == st.pushed)


def test_hard_limit_raises_on_every_rank_without_hang(comm, streamice):
    k, table = streamice
    s, _, _ = run_adjoint(comm, k, table, Configuration(), profiling=False)
    limit = int(s.peak_bytes.min()) // 2
    with pytest.raises(PyharnessError, match="limit"):
        run_adjoint(comm, k, table, Configuration(), profiling=False, stack_limit=limit)
    # and the runtime recovers: the next run without a limit is fine
    s2, _, _ = run_adjoint(comm, k, table, Configuration(), profiling=False)
    assert s2.grad_digest == s.grad_digest


def test_event_kinds_pair_up_per_site(comm, streamice):
    k, table = streamice
    rng = np.random.default_rng(3)
    cfg = random_configs(table, 1, seed=11)[0]
    _, ev, _ = run_adjoint(comm, k, table, cfg, profiling=True)
    inh = cfg.indices(table)
    ok = True
    for i in table.site_indices:
        counts = [int(np.sum((ev.loc == i) & (ev.kind == kind))) for kind in range(1, 7)]
        if i in inh:
            ok &= counts == [0] * 6          # an inhibited site emits nothing
        else:
            ok &= len(set(counts)) == 1       # each instance: one event of each kind
    assert all_ranks(comm, ok)
    # events are in time order and the stack is empty at the end
    assert all_ranks(comm, bool(np.all(np.diff(ev.wall_ns) >= 0)))
