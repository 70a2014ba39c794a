"""Estimates against measurement on the real kernels: for every site of streamice and biogeo,
inhibit it alone and compare the measured change of the peak stack (largest over
ranks) with the estimate from the all-checkpointed profile.

DESIGN.md's merge is exact for single flips when the peak occurs at turns and the
snapshot I/O sits between the callbacks, which is how the kernels are written; so
the estimate must equal the measurement byte for byte."""

import pytest

from mpihelpers import all_ranks
from pyharness import runtime
from pyharness.analysis import Locations, analyze_events
from pyharness.config import Configuration
from pyharness.mpiutil import gather_arrays
from pyharness.profile import run_adjoint


@pytest.mark.parametrize("kernel", ["streamice", "biogeo"])
def test_single_flip_peak_estimates_are_exact(comm, kernel, request):
    k, table = request.getfixturevalue(kernel)
    k, table = _fresh(comm, k)
    summary, ev, _ = run_adjoint(comm, k, table, Configuration(), profiling=True)
    arrays = {"kind": ev.kind, "loc": ev.loc, "wall_ns": ev.wall_ns, "cpu_ns": ev.cpu_ns, "stack": ev.stack}
    gathered = gather_arrays(comm, arrays)
    est = None
    if comm.rank == 0:
        an = analyze_events(gathered, Locations.from_records(runtime.locations()), "site",
                            wall_s=summary.wall_s, cpu_s=summary.cpu_s)
        assert an.peak == summary.peak                 # the root level's Pk is the true peak
        est = {e.name: e.peak_change for e in an.estimates}
    est = comm.bcast(est)
    bad = []
    for i in table.site_indices:
        name = table.names[i]
        s, _, _ = run_adjoint(comm, k, table, Configuration.from_indices(table, [i]), profiling=False)
        measured = s.peak - summary.peak
        if measured != est[name]:
            bad.append((name, est[name], measured))
    assert all_ranks(comm, not bad), bad


def _fresh(comm, k):
    """Set the kernel up again: a module may hold fixtures of both kernels, and the
    Fortran state is the last one set up."""
    from pyharness.config import SiteTable
    k2 = k.spec.create(comm, params=k.params)
    return k2, SiteTable.from_locations(runtime.locations())
