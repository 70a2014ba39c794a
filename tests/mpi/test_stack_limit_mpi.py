"""A stack limit reached on one rank only (issue 13): that rank keeps storing,
so it computes exactly what it would without the limit and its MPI calls keep
matching the other ranks'; the run then fails on every rank, with the reason.
Run by tests/test_mpi.py at 1, 2 and 3 ranks."""

import numpy as np
import pytest

from mpihelpers import all_ranks
from pyharness import runtime
from pyharness.config import Configuration
from pyharness.errors import PyharnessError
from pyharness.mpiutil import collective
from pyharness.profile import run_adjoint


def test_limit_on_one_rank_fails_every_rank_without_hang_or_corruption(comm, streamice):
    k, table = streamice
    cfg = Configuration.from_indices(table, table.site_indices)     # all inhibited: a big tape
    ref, _, grad = run_adjoint(comm, k, table, cfg, profiling=False)
    ref_stats = runtime.stack_stats()
    last = comm.size - 1
    limit = int(ref.peak_bytes[last]) // 3
    runtime.set_active(cfg.active_mask(table))
    with pytest.raises(PyharnessError, match="AD stack limit exceeded") as exc:
        with collective(comm, "the adjoint run"):
            runtime.reset()
            runtime.set_stack_limit(limit if comm.rank == last else 0)
            try:
                k.adjoint(k.control_default())
            finally:
                runtime.set_stack_limit(0)
    # every rank names the rank that failed (or is that rank, at 1 rank)
    assert all_ranks(comm, comm.size == 1 or f"rank {last}" in str(exc.value))
    # the over-limit rank stored on: the same bytes as without the limit, all popped
    st = runtime.stack_stats()
    assert all_ranks(comm, st.current == 0 and st.pushed == st.popped == ref_stats.pushed)
    assert all_ranks(comm, st.peak == ref_stats.peak)
    # and the next run is clean and bitwise the same
    s2, _, g2 = run_adjoint(comm, k, table, cfg, profiling=False)
    assert all_ranks(comm, np.array_equal(g2, grad)) and s2.grad_digest == ref.grad_digest


def test_the_limit_error_carries_its_figures_as_numbers(comm, streamice):
    """The runtime gives the bytes needed and the limit as numbers (ph_stack_limit_error),
    so pyharness words its advice without parsing the runtime's message: the figures
    are the ones the runtime's own text states, and the advice replaces its tail."""
    from pyharness.errors import StackLimitError
    k, table = streamice
    runtime.set_active(Configuration().active_mask(table))
    runtime.reset()
    runtime.set_stack_limit(1024)            # every rank of streamice needs more (all ranks fail alike)
    try:
        with pytest.raises(StackLimitError) as exc:
            k.adjoint(k.control_default())
    finally:
        runtime.set_stack_limit(0)
    e = exc.value
    assert e.limit == 1024 and e.needed > 1024
    # the runtime's text (fortran/runtime/ph_adstack.c), written independently of the figures
    assert e.detail == (f"AD stack limit exceeded: {e.needed} bytes needed on this rank, "
                        f"limit 1024: raise the limit")
    advised = e.with_advice("do this")
    assert isinstance(advised, StackLimitError) and (advised.needed, advised.limit) == (e.needed, 1024)
    assert advised.detail == f"AD stack limit exceeded: {e.needed} bytes needed on this rank, limit 1024: do this"
    runtime.reset()
    assert runtime.stack_stats().current == 0
