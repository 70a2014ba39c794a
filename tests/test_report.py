"""Reports of small real runs: every plot, the HTML, CSV that agrees with the files."""

import csv
import json
import struct
import subprocess
import sys

import h5py
import numpy as np
import pytest

from phtest import mpirun


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    assert mpirun(2, ["-m", "pyharness.profile", "--out", str(d / "profile.h5")], cwd=d).returncode == 0
    p = mpirun(2, ["-m", "pyharness.tune", "--method", "greedy", "--budget", "1.5x", "--max-steps", "5", "--no-progress",
                   "--out", str(d / "tune.h5")], cwd=d)
    assert p.returncode == 0, p.stderr
    return d


def test_report_makes_every_plot_and_the_html(runs):
    out = runs / "rep"
    p = subprocess.run([sys.executable, "-m", "pyharness.report", str(runs / "profile.h5"),
                        str(runs / "tune.h5"), "--out", str(out), "--html"],
                       capture_output=True, text=True, cwd=runs)
    assert p.returncode == 0, p.stderr
    for name in ("pareto", "profile-timeline", "profile-sites", "profile-ranks"):
        w, h = png_size(out / f"{name}.png")
        assert w > 400 and h > 200
        assert (out / f"{name}.svg").stat().st_size > 1000
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "http" not in page.split("<body>")[1][:200]


def test_csv_agrees_with_the_files(runs):
    out = runs / "rep"
    rows = list(csv.DictReader(open(out / "configurations.csv")))
    with h5py.File(runs / "tune.h5") as f:
        steps = [f["steps"][s] for s in sorted(f["steps"]) if "wall_s" in f["steps"][s]]
        walls = [float(np.max(g["wall_s"][()])) for g in steps]
        peaks = [int(np.max(g["peak_bytes"][()])) for g in steps]
        inhibited = [json.loads(g.attrs["inhibited"]) for g in steps]
    tune_rows = [r for r in rows if r["kind"] == "tune"]
    assert [int(r["peak_bytes"]) for r in tune_rows] == peaks
    assert np.allclose([float(r["wall_s"]) for r in tune_rows], walls)
    assert [r["inhibited"].split() for r in tune_rows] == [sorted(i) for i in inhibited]
    sites = list(csv.DictReader(open(out / "profile-sites.csv")))
    with h5py.File(runs / "profile.h5") as f:
        assert len(sites) == int(f["locations/is_site"][()].sum())


def test_tapenade_list_of_a_step(runs):
    p = subprocess.run([sys.executable, "-m", "pyharness.report", str(runs / "tune.h5"), "--nocheckpoint", "0"],
                       capture_output=True, text=True, cwd=runs)
    assert p.returncode == 0 and p.stdout.strip() == '-nocheckpoint ""'


@pytest.mark.parametrize("content,message", [(b"plain text", "not an HDF5 file"), (None, "not a pyharness file")])
def test_bad_files_get_a_message_not_a_traceback(tmp_path, content, message):
    f = tmp_path / "x.h5"
    if content is None:
        with h5py.File(f, "w") as h:
            h["a"] = 1
    else:
        f.write_bytes(content)
    p = subprocess.run([sys.executable, "-m", "pyharness.report", str(f)], capture_output=True, text=True,
                       cwd=tmp_path)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr
