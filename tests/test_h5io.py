"""HDF5 files: round trip, atomic replacement, refusal of foreign files."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from pyharness.errors import UsageError
from pyharness.h5io import SCHEMA_VERSION, atomic_h5, open_h5


def test_round_trip(tmp_path):
    p = tmp_path / "x.h5"
    rng = np.random.default_rng(0)
    data = {"kind": rng.integers(1, 11, 1000).astype(np.int8), "stack": rng.integers(0, 2**40, 1000)}
    with atomic_h5(p, "profile", {"kernel": "k"}) as f:
        for k, v in data.items():
            f[f"events/rank_00000/{k}"] = v
    with open_h5(p, ("profile",)) as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION and f.attrs["kernel"] == "k"
        for k, v in data.items():
            got = f[f"events/rank_00000/{k}"][()]
            assert got.dtype == v.dtype and np.array_equal(got, v)
    assert os.listdir(tmp_path) == ["x.h5"]


def test_failure_inside_leaves_the_old_file(tmp_path):
    p = tmp_path / "x.h5"
    with atomic_h5(p, "profile") as f:
        f["v"] = 1
    with pytest.raises(RuntimeError):
        with atomic_h5(p, "profile") as f:
            f["v"] = 2
            raise RuntimeError("boom")
    with open_h5(p) as f:
        assert f["v"][()] == 1
    assert os.listdir(tmp_path) == ["x.h5"]


WRITER = r"""
import sys, time, numpy as np
from pyharness.h5io import atomic_h5
with atomic_h5(sys.argv[1], "profile") as f:
    for i in range(10000):
        f[f"chunk{i}"] = np.random.default_rng(i).random(20000)
        f.flush()
        if i == 3:
            print("writing", flush=True)
        time.sleep(0.01)
"""


def test_killed_writer_leaves_no_file_under_the_final_name(tmp_path):
    p = tmp_path / "big.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(p)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not p.exists()
    assert list(tmp_path.glob("big.h5.tmp.*"))          # the torn file has another name


@pytest.mark.parametrize("content,message", [
    (b"not hdf5 at all", "not an HDF5 file"),
])
def test_foreign_files_are_refused(tmp_path, content, message):
    p = tmp_path / "f.h5"
    p.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        open_h5(p)


def test_hdf5_not_ours_and_newer_schema(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["x"] = 1
    with pytest.raises(UsageError, match="not a pyharness file"):
        open_h5(p)
    q = tmp_path / "new.h5"
    with atomic_h5(q, "profile") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(UsageError, match="newer"):
        open_h5(q)


def test_truncated_file(tmp_path):
    p = tmp_path / "t.h5"
    with atomic_h5(p, "profile") as f:
        f["x"] = np.arange(100000)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(UsageError) as ei:
        with open_h5(p, ("profile",)) as f:
            f["x"][()]
    # with what to do, as every other file that cannot be read ('it may be truncated' alone)
    assert "truncated or damaged; give a profile (python -m pyharness.profile" in str(ei.value)


def _tiny(path, kind):
    with atomic_h5(path, kind):
        pass


@pytest.mark.parametrize("make,message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b"plain text"), "not an HDF5 file"),
    (lambda p: h5py.File(p, "w").close(), "not a pyharness file"),
    (lambda p: _tiny(p, "explore"), "is a pyharness 'explore' file"),
])
def test_a_file_that_is_not_what_the_tool_reads_says_what_to_give(tmp_path, make, message):
    """Each refusal names the kind of file to give and the command that writes it."""
    p = tmp_path / "in.h5"
    make(p)
    with pytest.raises(UsageError, match=message) as info:
        open_h5(p, ("profile",))
    assert "give a profile (python -m pyharness.profile" in str(info.value)
    with pytest.raises(UsageError, match=message) as info:
        open_h5(p, ("tune", "profile"))
    assert "give a tuning history (python -m pyharness.tune" in str(info.value)
    assert " or a profile (python -m pyharness.profile" in str(info.value)
