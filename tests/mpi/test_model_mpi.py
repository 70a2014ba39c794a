"""The cost model under MPI: every rank reduces its own events (CostModel.from_profile
with the communicator), and the predicted per-rank peaks of random configurations
equal the measured ones byte for byte, on calltree, streamice and biogeo; the MILP
matches exhaustive search over the model."""

import tempfile
from pathlib import Path

import numpy as np
import pytest

from mpihelpers import all_ranks, random_configs
from pyharness import runtime
from pyharness.config import Configuration, SiteTable
from pyharness.kernels import get_kernel
from pyharness.model import CostModel
from pyharness.model.milp import lowest_peak, optimize
from pyharness.profile import run_adjoint, write_profile


def _setup(comm, name, **overrides):
    k = get_kernel(name).create(comm, "small", overrides={a: str(b) for a, b in overrides.items()})
    return k, SiteTable.from_locations(runtime.locations())


def _model(comm, k, table):
    d = comm.bcast(tempfile.mkdtemp(prefix="phmodel") if comm.rank == 0 else None)
    path = str(Path(d) / "profile.h5")
    summary, ev, _ = run_adjoint(comm, k, table, Configuration(), profiling=True)
    write_profile(path, comm, k, table, Configuration(), summary, ev)
    return CostModel.from_profile(path, comm=comm), summary


CASES = [("calltree", {"shape": "random", "nsites": 12, "seed": 3, "m": 64}),
         ("calltree", {"shape": "balanced", "nsites": 10, "seed": 1, "m": 64}),
         ("streamice", {}), ("biogeo", {})]


@pytest.mark.parametrize("name,overrides", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_predicted_peaks_equal_measured_on_every_rank(comm, name, overrides):
    k, table = _setup(comm, name, **overrides)
    model, summary = _model(comm, k, table)
    assert model.nranks == comm.size
    assert all_ranks(comm, model.peaks_verified), model.notes
    configs = [Configuration(), Configuration.from_indices(table, table.site_indices)]
    configs += random_configs(table, 6, seed=17)
    low = lowest_peak(model)
    configs.append(low.config)
    configs.append(optimize(model, int(1.3 * summary.peak)).config)
    bad = []
    for cfg in configs:
        s, _, _ = run_adjoint(comm, k, table, cfg, profiling=False)
        pred = model.predict(cfg)
        if list(pred.peak_by_rank) != list(s.peak_bytes) or not pred.exact:
            bad.append((sorted(cfg.inhibited)[:4], list(pred.peak_by_rank), list(s.peak_bytes)))
    assert all_ranks(comm, not bad), bad


def test_milp_equals_exhaustive_across_ranks(comm):
    k, table = _setup(comm, "calltree", shape="random", nsites=10, seed=8, m=64)
    model, summary = _model(comm, k, table)
    bad = []
    if comm.rank == 0:
        low = lowest_peak(model).peak
        exl = lowest_peak(model, method="exhaustive").peak
        if exl != low:
            bad.append(("lowest peak", low, exl))
        for b in (low, int(1.2 * low), int(summary.peak), 3 * int(summary.peak)):
            for gran in ("site", "callee"):
                mi = optimize(model, b, gran)
                ex = optimize(model, b, gran, method="exhaustive")
                # proven optimal: within the solver's relative gap (1e-6) of the exhaustive optimum
                if not (ex.predicted_time - 1e-12 <= mi.predicted_time
                        <= ex.predicted_time * (1 + 2e-6) + 1e-12) or mi.peak > b:
                    bad.append((b, gran, mi.predicted_time, ex.predicted_time, mi.peak, mi.status))
    assert all_ranks(comm, not bad), bad
