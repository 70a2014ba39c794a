"""Per-rank reduction (pyharness/reduction.py): every rank writes its own event file,
the profile's /events read them back through virtual datasets, and what rank 0
receives is the ranks' per-site and per-node figures, whose size does not depend
on the number of events."""

import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from mpihelpers import all_ranks
from pyharness import runtime
from pyharness.analysis.profiles import analyze_profile, read_rank_events
from pyharness.config import Configuration, SiteTable
from pyharness.kernels import get_kernel
from pyharness.model import CostModel
from pyharness.profile import run_adjoint, write_profile
from pyharness.reduction import EVENT_FIELDS, rank_file


def _tree(loop: int) -> dict:
    """root calls a (loop times; a calls b twice) then c: the events grow with
    ``loop``, the sites (3) and the model's nodes do not (a loop is one call with
    a count)."""
    return {"m": 64, "nodes": [
        {"name": "root", "work": 1, "pad": 64, "children": [{"node": "a", "loop": loop},
                                                             {"node": "c", "loop": 1}]},
        {"name": "a", "work": 1, "pad": 16, "snap_pad": 32, "children": [{"node": "b", "loop": 2}]},
        {"name": "b", "work": 1, "pad": 64},
        {"name": "c", "work": 2, "pad": 512, "comm": True}]}


def _profile(comm, d: Path, loop: int):
    desc = d / f"tree{loop}.json"
    if comm.rank == 0:
        desc.write_text(json.dumps(_tree(loop)))
    comm.Barrier()
    k = get_kernel("calltree").create(comm, "small", overrides={"tree": str(desc), "m": "64"})
    table = SiteTable.from_locations(runtime.locations())
    summary, ev, _ = run_adjoint(comm, k, table, Configuration(), profiling=True)
    path = d / f"profile{loop}.h5"
    stats = write_profile(str(path), comm, k, table, Configuration(), summary, ev)
    return path, ev, stats


@pytest.fixture(scope="module")
def tmpdir_shared(comm):
    d = comm.bcast(tempfile.mkdtemp(prefix="phreduce") if comm.rank == 0 else None)
    yield Path(d)
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(d, ignore_errors=True)


def test_rank_files_and_virtual_datasets_read_back_the_events(comm, tmpdir_shared):
    path, ev, _ = _profile(comm, tmpdir_shared, 30)
    mine = {"kind": ev.kind, "loc": ev.loc, "wall_ns": ev.wall_ns, "cpu_ns": ev.cpu_ns,
            "stack": ev.stack}
    ok = len(ev.kind) > 0 and rank_file(path, comm.rank).exists()
    with h5py.File(path, "r") as f:
        assert all_ranks(comm, sorted(f["events"]) == [f"rank_{r:05d}" for r in range(comm.size)])
        g = f["events"][f"rank_{comm.rank:05d}"]
        ok &= all(g[k].is_virtual for k in EVENT_FIELDS)
        got = read_rank_events(f, comm.rank)            # through the virtual datasets
        ok &= all(got[k].dtype == mine[k].dtype and np.array_equal(got[k], mine[k])
                  for k in EVENT_FIELDS)
        ok &= int(f["summary/nevents"][comm.rank]) == len(ev.kind)
    with h5py.File(rank_file(path, comm.rank), "r") as f:   # the per-rank file itself
        ok &= all(np.array_equal(f[k][()], mine[k]) for k in EVENT_FIELDS)
    assert all_ranks(comm, ok)


def test_reduced_figures_equal_a_merge_of_the_events(comm, tmpdir_shared):
    runtime.set_cpu_clock(True)          # the model's CPU-time sums travel too
    try:
        path, _, _ = _profile(comm, tmpdir_shared, 7)
    finally:
        runtime.set_cpu_clock(False)
    comm.Barrier()
    ok = True
    for gran in ("site", "callee"):
        fast = analyze_profile(path, gran)                   # /reduced: no events read
        slow = analyze_profile(path, gran, method="numba")   # merges the events again
        ok &= repr(fast.estimates) == repr(slow.estimates) and fast.peak == slow.peak
    # the model from /reduced equals the model built from the events
    other = tmpdir_shared / f"noreduced{comm.rank}.h5"
    shutil.copyfile(path, other)
    shutil.copytree(str(path) + ".events", str(other) + ".events", dirs_exist_ok=True)
    with h5py.File(other, "r+") as f:
        del f["reduced"]
    a, b = CostModel.from_profile(path), CostModel.from_profile(other)
    ok &= a.nodes == b.nodes and list(a.roots) == list(b.roots)
    for k in ("snap", "snap_bits", "mult", "t1t2_ns", "t_sq"):
        ok &= np.array_equal(getattr(a, k), getattr(b, k))
    ok &= a.has_cpu and b.has_cpu and np.array_equal(a.t1t2_cpu_ns, b.t1t2_cpu_ns)
    ok &= list(a.predict().peak_by_rank) == list(b.predict().peak_by_rank)
    assert all_ranks(comm, ok)


def test_rank0_receives_per_site_figures_not_events(comm, tmpdir_shared):
    """What each rank sends (and so what rank 0 receives) is the same for 3 and for
    300 loop iterations: 100x the events, not one byte more."""
    _, ev_small, small = _profile(comm, tmpdir_shared, 3)
    _, ev_big, big = _profile(comm, tmpdir_shared, 300)
    grew = len(ev_big.kind) > 50 * len(ev_small.kind)
    same = big.sent_bytes == small.sent_bytes
    total_small = comm.reduce(small.sent_bytes, root=0)
    total_big = comm.reduce(big.sent_bytes, root=0)
    if comm.rank == 0:
        same &= total_small == total_big
    assert all_ranks(comm, grew), (len(ev_small.kind), len(ev_big.kind))
    assert all_ranks(comm, same), (small.sent_bytes, big.sent_bytes)
    # and far less than the events themselves
    assert all_ranks(comm, big.sent_bytes * 20 < big.event_bytes), (big.sent_bytes, big.event_bytes)
