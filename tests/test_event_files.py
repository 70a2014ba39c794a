"""Raw events filed per group of ranks (issue 14): real mpiexec runs of profile with
--event-files, against one file per rank; a kill between a group file's temporary
write and its rename."""

import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from phtest import ROOT, mpirun, procs_mentioning, run1, untagged, wait_for
from pyharness.analysis.profiles import analyze_profile, read_rank_events

PROFILE = ["-m", "pyharness.profile", "--kernel", "calltree"]
# what does not depend on the run's timing: equal in two runs of the same configuration
STABLE = ("kind", "loc", "stack", "ctl_bits")


def _files(out):
    """The names in OUT.events, without the run tag (temporary files as they are)."""
    return sorted(untagged(p.name) for p in out.with_name(out.name + ".events").iterdir())


def _file(out, name):
    """The event file ``name`` (untagged) of the profile ``out``."""
    (p,) = [p for p in out.with_name(out.name + ".events").iterdir() if untagged(p.name) == name]
    return p


def test_one_run_at_four_ranks_in_groups_of_two(tmp_path):
    """mpiexec -n 4, one adjoint written per rank, in groups of 2 and per node: 4, 2 and
    1 files, and every rank's events, the /reduced analysis, the merge of the events
    and the model read identically (tests/mpi/test_reduction_mpi.py at 4 ranks)."""
    p = mpirun(4, ["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--color=no",
                   str(ROOT / "tests" / "mpi" / "test_reduction_mpi.py"), "-k", "grouped"],
               timeout=600, cwd=ROOT / "tests" / "mpi")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "1 passed" in p.stdout


def test_profile_cli_groups_of_two(tmp_path):
    """python -m pyharness.profile --event-files 2 at 4 ranks: two files, each rank's
    events where /events says; against a run with one file per rank, the same events
    (all but the clocks) and the same per-site counts and peak changes; h5dump reads
    rank 3's events through the virtual dataset."""
    outs = {}
    for spec in ("rank", "2"):
        outs[spec] = tmp_path / f"p{spec}.h5"
        p = mpirun(4, PROFILE + ["--event-files", spec, "--out", str(outs[spec])], cwd=tmp_path)
        assert p.returncode == 0, p.stderr[-3000:]
    assert _files(outs["rank"]) == [f"rank_{r:05d}.h5" for r in range(4)]
    assert _files(outs["2"]) == ["group_00000.h5", "group_00002.h5"]
    with h5py.File(outs["2"]) as f, h5py.File(outs["rank"]) as g:
        assert f["events"].attrs["layout"] == "grouped files" and f["events"].attrs["files"] == 2
        for r in range(4):
            a, b = read_rank_events(f, r), read_rank_events(g, r)
            assert a["kind"].size > 0 and all(np.array_equal(a[k], b[k]) for k in STABLE if k in a)
            assert untagged(f[f"events/rank_{r:05d}"].attrs["file"]) == f"group_{r // 2 * 2:05d}.h5"
        with h5py.File(_file(outs["2"], "group_00002.h5")) as src:
            assert list(src.attrs["ranks"]) == [2, 3]
            assert np.array_equal(src["rank_00003/stack"][()], read_rank_events(f, 3)["stack"])
    a, b = analyze_profile(outs["2"]), analyze_profile(outs["rank"])
    assert [(e.name, e.count, e.peak_change) for e in a.estimates] == \
        [(e.name, e.count, e.peak_change) for e in b.estimates]
    if shutil.which("h5dump"):
        h = subprocess.run(["h5dump", "-d", "/events/rank_00003/stack", str(outs["2"])],
                           capture_output=True, text=True)
        assert h.returncode == 0 and "DATA" in h.stdout


def test_a_kill_before_a_group_file_is_renamed_leaves_no_torn_file(tmp_path):
    """kill -9 of the groups' first ranks between writing their file and renaming it:
    no group file and no profile under their names, only temporary files, which the
    next run removes; that run's files read."""
    out = tmp_path / "p.h5"
    env = {"PYHARNESS_STOP_AT": "tmp-written@1"}
    p = mpirun(4, PROFILE + ["--event-files", "2", "--out", str(out)], cwd=tmp_path, env=env)
    assert p.returncode != 0 and "SIGKILL at tmp-written@1" in p.stderr, p.stderr[-2000:]
    assert not out.exists()
    left = _files(out)
    assert left and all(".h5.tmp." in n and n.startswith("group_") for n in left), left
    # the launcher may return while ranks it killed still exit: the next run removes
    # the temporaries of writers that are gone, so wait until they are
    assert wait_for(lambda: not procs_mentioning(str(out)), 120), procs_mentioning(str(out))
    p = mpirun(4, PROFILE + ["--event-files", "2", "--out", str(out)], cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert _files(out) == ["group_00000.h5", "group_00002.h5"]
    with h5py.File(out) as f:
        assert all(read_rank_events(f, r)["kind"].size for r in range(4))


def test_a_node_file_is_checked_once_for_its_ranks(tmp_path, monkeypatch):
    """One file per node (the default) at 4 ranks: reading every rank's events opens the
    node's file once to check it (run id, each rank's group), not once per rank; a file
    of another run put in its place (renamed over it, as profiles are written), or a
    missing one, is still refused."""
    import os

    from pyharness.errors import UsageError
    outs = [tmp_path / "p.h5", tmp_path / "q.h5"]
    for out in outs:
        p = mpirun(4, PROFILE + ["--out", str(out)], cwd=tmp_path)
        assert p.returncode == 0, p.stderr[-3000:]
        assert _files(out) == ["group_00000.h5"]
    node = _file(outs[0], "group_00000.h5").resolve()
    opened = []
    real = h5py.File

    def counting(name, *a, **kw):
        if os.path.realpath(str(name)) == str(node):
            opened.append(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(h5py, "File", counting)
    with real(outs[0]) as f:
        assert all(read_rank_events(f, r)["kind"].size for r in range(4))
        assert len(opened) == 1
        analyze_profile(outs[0], method="reference")     # merges the events again: read
    assert len(opened) == 1
    # the other run's node file renamed over this one's: a new file, checked again
    tmp = node.with_name("other.tmp")
    shutil.copyfile(_file(outs[1], "group_00000.h5"), tmp)
    os.replace(tmp, node)
    with real(outs[0]) as f, pytest.raises(UsageError, match="another run"):
        read_rank_events(f, 2)
    node.unlink()
    with real(outs[0]) as f, pytest.raises(UsageError, match="which is missing"):
        read_rank_events(f, 1)


def test_a_profile_written_again_and_killed_leaves_the_existing_one_whole(tmp_path):
    """A profile run again under the same name wrote its event files over the existing
    profile's before renaming the new profile into place: killed in between (or failing
    there), it left the existing profile pointing at another run's events ('holds the
    events of another run'). Each run's event files now have names of their own; the
    next complete run removes the ones no profile reads."""
    out = tmp_path / "p.h5"
    assert run1(PROFILE + ["--out", str(out)], cwd=tmp_path).returncode == 0
    with h5py.File(out) as f:
        before = read_rank_events(f, 0)
    # the group file renamed into place, the profile's temporary file not yet
    p = run1(PROFILE + ["--out", str(out)], cwd=tmp_path, env={"PYHARNESS_STOP_AT": "tmp-written@2"})
    assert p.returncode != 0 and "SIGKILL at tmp-written@2" in p.stderr, p.stderr[-2000:]
    with h5py.File(out) as f:
        after = read_rank_events(f, 0)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert run1(PROFILE + ["--out", str(out)], cwd=tmp_path).returncode == 0
    assert _files(out) == ["group_00000.h5"]          # the killed run's and the first one's: gone
    with h5py.File(out) as f:
        assert read_rank_events(f, 0)["kind"].size


def test_a_profile_copied_over_another_keeps_only_the_files_it_reads(tmp_path):
    """Event files carry their run in their names: copying a second profile over a first
    (replay does, step after step) left the first run's files beside the copy."""
    from pyharness.reduction import copy_profile
    a, b, dst = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "copy.h5"
    for out in (a, b):
        assert run1(PROFILE + ["--out", str(out)], cwd=tmp_path).returncode == 0
    copy_profile(a, dst)
    copy_profile(b, dst)
    names = sorted(p.name for p in dst.with_name(dst.name + ".events").iterdir())
    assert names == sorted(p.name for p in b.with_name(b.name + ".events").iterdir()), names
    analyze_profile(str(dst))          # and the copy reads them
