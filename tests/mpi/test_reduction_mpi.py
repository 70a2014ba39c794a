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
from pyharness.reduction import EVENT_FIELDS, events_dir, rank_source


def _untagged(name: str) -> str:
    """An event file's name without its run tag (group_00000.1a2b3c4d.h5 -> group_00000.h5)."""
    import re
    return re.sub(r"\.[0-9a-f]{8}(?=\.h5)", "", name)


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


def _profile(comm, d: Path, loop: int, event_files=None):
    desc = d / f"tree{loop}.json"
    if comm.rank == 0:
        desc.write_text(json.dumps(_tree(loop)))
    comm.Barrier()
    k = get_kernel("calltree").create(comm, "small", overrides={"tree": str(desc), "m": "64"})
    table = SiteTable.from_locations(runtime.locations())
    summary, ev, _ = run_adjoint(comm, k, table, Configuration(), profiling=True)
    path = d / f"profile{loop}.h5"
    stats = write_profile(str(path), comm, k, table, Configuration(), summary, ev,
                          event_files=event_files)
    return path, ev, stats


@pytest.fixture(scope="module")
def tmpdir_shared(comm):
    d = comm.bcast(tempfile.mkdtemp(prefix="phreduce") if comm.rank == 0 else None)
    yield Path(d)
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(d, ignore_errors=True)


def test_rank_files_and_virtual_datasets_read_back_the_events(comm, tmpdir_shared):
    path, ev, _ = _profile(comm, tmpdir_shared, 30, event_files="rank")
    mine = {"kind": ev.kind, "loc": ev.loc, "wall_ns": ev.wall_ns, "cpu_ns": ev.cpu_ns,
            "stack": ev.stack}
    with h5py.File(path, "r") as f:
        mine_file = events_dir(path) / rank_source(f, comm.rank)[0]
    ok = len(ev.kind) > 0 and mine_file.exists() and _untagged(mine_file.name) == f"rank_{comm.rank:05d}.h5"
    with h5py.File(path, "r") as f:
        assert all_ranks(comm, sorted(f["events"]) == [f"rank_{r:05d}" for r in range(comm.size)])
        g = f["events"][f"rank_{comm.rank:05d}"]
        ok &= all(g[k].is_virtual for k in EVENT_FIELDS)
        got = read_rank_events(f, comm.rank)            # through the virtual datasets
        ok &= all(got[k].dtype == mine[k].dtype and np.array_equal(got[k], mine[k])
                  for k in EVENT_FIELDS)
        ok &= int(f["summary/nevents"][comm.rank]) == len(ev.kind)
    with h5py.File(mine_file, "r") as f:   # the per-rank file itself
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
    300 loop iterations: 100x the events, and only the event count itself is larger
    (a pickled int: its few bytes grow with its magnitude)."""
    import pickle
    _, ev_small, small = _profile(comm, tmpdir_shared, 3)
    _, ev_big, big = _profile(comm, tmpdir_shared, 300)
    grew = len(ev_big.kind) > 50 * len(ev_small.kind)
    # pickle stores an int in 1, 2 or 4 bytes after its opcode, by magnitude, in every
    # protocol from 2 (protocol 2 has no framing: the difference is the int's alone)
    count_grew = (len(pickle.dumps(len(ev_big.kind), 2))
                  - len(pickle.dumps(len(ev_small.kind), 2)))
    same = big.sent_bytes - small.sent_bytes == count_grew
    total_small = comm.reduce(small.sent_bytes, root=0)
    total_big = comm.reduce(big.sent_bytes, root=0)
    growth = comm.reduce(count_grew, root=0)
    if comm.rank == 0:
        same &= total_big - total_small == growth
    assert all_ranks(comm, grew), (len(ev_small.kind), len(ev_big.kind))
    assert all_ranks(comm, same), (small.sent_bytes, big.sent_bytes)
    # and far less than the events themselves
    assert all_ranks(comm, big.sent_bytes * 20 < big.event_bytes), (big.sent_bytes, big.event_bytes)


def test_grouped_event_files_read_as_the_per_rank_files(comm, tmpdir_shared):
    """One run written three ways: a file per rank, per group of 2 ranks and per node.
    The groups' first ranks write ceil(R / 2) files (one per node), and every reader
    sees the same events (through the virtual datasets, in every rank's /events
    group), the same /reduced analysis, the same merge of the events and the same
    model as from the per-rank files."""
    d = tmpdir_shared
    desc = d / "tree_g.json"
    if comm.rank == 0:
        desc.write_text(json.dumps(_tree(20)))
    comm.Barrier()
    k = get_kernel("calltree").create(comm, "small", overrides={"tree": str(desc), "m": "64"})
    table = SiteTable.from_locations(runtime.locations())
    summary, ev, _ = run_adjoint(comm, k, table, Configuration(), profiling=True)
    paths = {}
    for spec in ("rank", 2, "node"):
        paths[spec] = d / f"grouped_{spec}.h5"
        write_profile(str(paths[spec]), comm, k, table, Configuration(), summary, ev, event_files=spec)
    comm.Barrier()
    R = comm.size
    files = {spec: sorted(_untagged(p.name) for p in Path(str(paths[spec]) + ".events").iterdir())
             for spec in paths}
    ok = files["rank"] == [f"rank_{r:05d}.h5" for r in range(R)]
    ok &= files[2] == [f"group_{r:05d}.h5" for r in range(0, R, 2)]
    ok &= files["node"] == ["group_00000.h5"]          # the MPI tests run on one node
    mine = {"kind": ev.kind, "loc": ev.loc, "wall_ns": ev.wall_ns, "cpu_ns": ev.cpu_ns,
            "stack": ev.stack, "ctl_bits": ev.ctl_bits}
    for spec in (2, "node"):
        with h5py.File(paths[spec], "r") as f, h5py.File(paths["rank"], "r") as g:
            ok &= sorted(f["events"]) == sorted(g["events"]) == [f"rank_{r:05d}" for r in range(R)]
            ok &= f["events"].attrs["layout"] == "grouped files"
            for r in range(R):
                a, b = read_rank_events(f, r), read_rank_events(g, r)
                ok &= sorted(a) == sorted(b)
                ok &= all(a[x].dtype == b[x].dtype and np.array_equal(a[x], b[x]) for x in a)
            got = read_rank_events(f, comm.rank)
            ok &= all(np.array_equal(got[x], mine[x]) for x in got)
            ok &= all(f["events"][f"rank_{comm.rank:05d}"][x].is_virtual for x in EVENT_FIELDS)
        for gran in ("site", "callee"):
            for method in ("auto", "reference"):       # /reduced, and a merge of the events
                a = analyze_profile(paths[spec], gran, method=method)
                b = analyze_profile(paths["rank"], gran, method=method)
                ok &= repr(a.estimates) == repr(b.estimates) and a.peak == b.peak
        a, b = CostModel.from_profile(paths[spec]), CostModel.from_profile(paths["rank"])
        ok &= a.nodes == b.nodes and list(a.predict().peak_by_rank) == list(b.predict().peak_by_rank)
    assert all_ranks(comm, ok), files
