"""Reports of small real runs: every plot, the HTML, CSV that agrees with the files."""

import csv
import json
import os
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


def test_report_replaces_its_files_by_rename_never_in_place(runs, tmp_path):
    """Like every pyharness output, the report's files are written to a temporary name and
    renamed (a killed report leaves the old file or the new one): an old file that is a
    hard link keeps its content, where writing in place would change it."""
    out = tmp_path / "rep"
    out.mkdir()
    names = ["pareto.png", "pareto.svg", "configurations.csv", "profile-sites.csv",
             "profile-timeline.png", "profile-ranks.svg", "report.html"]
    for n in names:
        (tmp_path / f"old-{n}").write_text("old")
        os.link(tmp_path / f"old-{n}", out / n)
    p = subprocess.run([sys.executable, "-m", "pyharness.report", str(runs / "profile.h5"),
                        str(runs / "tune.h5"), "--out", str(out), "--html"],
                       capture_output=True, text=True, cwd=runs)
    assert p.returncode == 0, p.stderr
    for n in names:
        assert (tmp_path / f"old-{n}").read_text() == "old", n
        assert (out / n).stat().st_nlink == 1 and (out / n).stat().st_size > 100, n
    assert not list(out.glob("*.tmp.*"))


def test_serial_tools_under_mpiexec_print_once(runs):
    """analyze and report are serial: under mpiexec -n 2 each rank printed the whole table
    (and report's ranks wrote the same files at once). Rank 0 does the work; an error is
    said once, with status 2, and nothing hangs."""
    p = mpirun(2, ["-m", "pyharness.analyze", str(runs / "profile.h5")], cwd=runs)
    assert p.returncode == 0 and p.stdout.count("SUGGESTED NOCHECKPOINTs") == 1, p.stderr
    p = mpirun(2, ["-m", "pyharness.report", str(runs / "profile.h5"), "--out", str(runs / "rep-mpi")], cwd=runs)
    assert p.returncode == 0 and p.stdout.count("written to") == 1, p.stderr
    p = mpirun(2, ["-m", "pyharness.analyze", str(runs / "missing.h5")], cwd=runs)
    assert p.returncode == 2 and p.stderr.count("does not exist") == 1 and "Traceback" not in p.stderr


def test_timeline_of_a_real_profile_reaches_each_ranks_peak(runs):
    """The drawn curve of every rank of a real 2-rank profile peaks at the largest
    stack size among that rank's events, read with h5py through /events."""
    from pyharness.report import plots
    fig = plots.memory_timeline(runs / "profile.h5")
    with h5py.File(runs / "profile.h5") as f:
        peaks = [f[f"events/rank_{r:05d}/stack"][()].max() for r in range(2)]
    for ax, peak in zip(fig.axes, peaks):
        line = max(ax.get_lines(), key=lambda ln: len(ln.get_xdata()))
        assert np.max(line.get_ydata()) == peak / plots.MIB


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


def test_a_profile_without_events_is_refused_by_analyze_and_only_a_point_in_report(runs):
    """A --no-profiling run writes /events with no event in it: analyze said its peak was
    0 B with every estimate empty, and report drew an empty timeline. Now analyze says
    it has no events (status 2, on stderr), report keeps its measured time and peak."""
    np_h5 = runs / "noprof.h5"
    assert mpirun(2, ["-m", "pyharness.profile", "--no-profiling", "--out", str(np_h5)], cwd=runs).returncode == 0
    p = subprocess.run([sys.executable, "-m", "pyharness.analyze", str(np_h5)], capture_output=True, text=True, cwd=runs)
    assert p.returncode == 2 and "--no-profiling" in p.stderr and "Traceback" not in p.stderr
    assert p.stdout == ""
    out = runs / "rep-noprof"
    p = subprocess.run([sys.executable, "-m", "pyharness.report", str(np_h5), str(runs / "profile.h5"),
                        "--out", str(out)], capture_output=True, text=True, cwd=runs)
    assert p.returncode == 0 and "Traceback" not in p.stderr and "Warning" not in p.stderr, p.stderr
    assert not (out / "noprof-timeline.png").exists() and not (out / "noprof-sites.csv").exists()
    with h5py.File(np_h5) as f:
        peak = int(np.max(f["summary/peak_bytes"][()]))
    assert peak > 0
    rows = {r["label"]: r for r in csv.DictReader(open(out / "configurations.csv"))}
    assert int(rows["noprof"]["peak_bytes"]) == peak


def _tune_file(path, keys, steps):
    """A minimal tune.h5 (docs/FORMAT.md): its decision units and steps of given inhibitions."""
    with h5py.File(path, "w") as h:
        h.attrs.update(schema="pyharness", schema_version=1, kind="tune")
        h["keys"] = np.array(keys, dtype=h5py.string_dtype())
        for step, inhibited in steps.items():
            g = h.create_group(f"steps/{step:05d}")
            g.attrs.update(step=step, decision="accepted", inhibited=json.dumps(inhibited))
            g["wall_s"] = np.ones(2)
            g["peak_bytes"] = np.full(2, 1000, dtype=np.int64)


def test_tapenade_list_holds_only_callees_inhibited_at_every_site(tmp_path):
    """-nocheckpoint "c" inhibits c at every call: a callee inhibited at some of its sites
    only is not in the list (that would be another configuration), its sites are named
    as needing $AD NOCHECKPOINT; inhibited at all of them, it is in the list."""
    keys = ["halo_exchange@a.f90:1", "halo_exchange@a.f90:2", "viscosity@a.f90:3", "cg_solve@b.f90:4"]
    _tune_file(tmp_path / "tune.h5", keys, {
        0: [], 1: ["halo_exchange@a.f90:2", "viscosity@a.f90:3"],
        2: ["halo_exchange@a.f90:1", "halo_exchange@a.f90:2", "viscosity@a.f90:3"]})

    def listed(label):
        p = subprocess.run([sys.executable, "-m", "pyharness.report", "tune.h5", "--nocheckpoint", label],
                           capture_output=True, text=True, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip(), p.stderr

    out, err = listed("1")
    assert out == '-nocheckpoint "viscosity"'
    assert "halo_exchange@a.f90:2" in err and "halo_exchange@a.f90:1" not in err
    out, err = listed("2")
    assert out == '-nocheckpoint "halo_exchange viscosity"' and "NOCHECKPOINT" not in err


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


def test_envelope_holds_every_column_extreme():
    """stack_envelope against a brute force: per column, the least and largest value
    the step series takes in it (the value carried into the column included), on
    random series with repeated times and empty columns."""
    from pyharness.report.plots import stack_envelope
    rng = np.random.default_rng(7)
    for trial in range(200):
        n = int(rng.integers(1, 400))
        t = np.sort(rng.integers(0, int(rng.integers(1, 5000)), n)).astype(np.int64)
        v = np.cumsum(rng.integers(-50, 51, n)).astype(np.int64)
        ncols = int(rng.integers(1, 120))
        cols, vmin, vmax, vexit = stack_envelope(t, v, ncols)
        lo, hi = t[0], t[-1]
        col = [min(ncols - 1, int((x - lo) * ncols // (hi - lo))) if hi > lo else 0 for x in t]
        assert list(cols) == list(range(col[0], col[-1] + 1))
        for k, c in enumerate(cols):
            inside = [i for i in range(n) if col[i] == c]
            before = [i for i in range(n) if col[i] < c]
            vals = [v[i] for i in inside] + ([v[before[-1]]] if before else [])
            assert vmin[k] == min(vals) and vmax[k] == max(vals), (trial, c)
            assert vexit[k] == v[(inside or before)[-1]]
        assert vmax.max() == v.max() and vmin.min() == v.min()


def _long_profile(path, nranks=2):
    """A profile of ``nranks`` simulated ranks with ~100k events each (events inside)."""
    from pyharness.analysis.simulate import Node, simulate_loop
    from pyharness.profile import RunSummary, write_profile_h5
    from pyharness.runtime import Location
    locs = [Location(0, "step", "m.f90", 10, True), Location(1, "inner", "m.f90", 20, True),
            Location(2, "step", "m.f90", 0, False)]
    evs, traces = [], []
    for r in range(nranks):
        step = Node(site=0, routine=2, tape=(30 + r, 40), snapshot=12, run_ns=500, fwd_ns=400,
                    bwd_ns=700 + 50 * r, write_ns=20, read_ns=20,
                    children=(Node(site=1, routine=2, tape=900 + 100 * r, snapshot=5, run_ns=40,
                                   count=2),))
        t = simulate_loop(step, 7000 + 1000 * r, tape=(64, 8))
        traces.append(t)
        evs.append(dict(zip(("kind", "loc", "wall_ns", "cpu_ns", "stack"), t.arrays)))
    f64 = lambda v: np.array(v, dtype=np.float64)
    i64 = lambda v: np.array(v, dtype=np.int64)
    summ = RunSummary(f64([t.total_wall_ns * 1e-9 for t in traces]),
                      f64([t.total_cpu_ns * 1e-9 for t in traces]), i64([t.peak for t in traces]),
                      i64([0] * nranks), i64([0] * nranks), i64([len(t.kind) for t in traces]),
                      0.0, 0.0)
    write_profile_h5(path, kernel="sim", params={}, nranks=nranks, command="test", profiling=True,
                     cpu_clock=False, locations=locs, inhibited=[False] * 3, snapshots=0,
                     summary=summ, events=evs)
    return path


def test_timeline_draws_each_ranks_true_peak_in_two_points_per_column(tmp_path):
    """The memory timeline of ~100k events per rank draws at most 2 points per pixel
    column, and its curve reaches each rank's true peak and least value, taken from
    the events with h5py."""
    from pyharness.report import plots
    path = _long_profile(tmp_path / "long.h5")
    fig = plots.memory_timeline(path)
    with h5py.File(path) as f:
        truth = [(f[f"events/rank_{r:05d}/stack"][()].max(), f[f"events/rank_{r:05d}/stack"][()].min(),
                  len(f[f"events/rank_{r:05d}/stack"])) for r in range(2)]
    for ax, (peak, least, nev) in zip(fig.axes, truth):
        line = max(ax.get_lines(), key=lambda ln: len(ln.get_xdata()))
        y = np.asarray(line.get_ydata())
        width_px = ax.get_position().width * fig.get_figwidth() * plots.SAVE_DPI
        assert nev > 50_000 and len(y) <= 2 * width_px
        assert y.max() == peak / plots.MIB and y.min() == least / plots.MIB
        assert "peak" in ax.texts[0].get_text()
    plots.save(fig, tmp_path / "long-timeline")
    assert png_size(tmp_path / "long-timeline.png")[0] > 400


def test_span_coverage_is_the_covered_share_of_each_column():
    """span_coverage against a brute force: the length of the union of the intervals
    within each column, over the column's width (nested and overlapping intervals)."""
    from pyharness.report.plots import span_coverage
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(0, 40))
        b = rng.uniform(0, 100, n)
        e = b + rng.exponential(rng.choice([0.3, 5.0, 30.0]), n)
        ncols = int(rng.integers(1, 50))
        cov = span_coverage(b, e, 0.0, 100.0, ncols)
        w = 100.0 / ncols
        for k in range(ncols):
            c0, c1 = k * w, (k + 1) * w
            parts = sorted((max(x, c0), min(y, c1)) for x, y in zip(b, e) if y > c0 and x < c1)
            total, end = 0.0, c0
            for x, y in parts:                     # union length
                x = max(x, end)
                if y > x:
                    total += y - x
                    end = y
            if sum(y - x for x, y in parts) <= w:     # no overlap beyond the column: exact
                assert abs(cov[k] - sum(y - x for x, y in parts) / w) < 1e-9
            assert cov[k] >= total / w - 1e-9 and cov[k] <= 1.0


def test_tapenade_list_of_an_exploration_sample_by_its_number(tmp_path):
    """explore.h5 names its samples 000000, 000001, ...: --nocheckpoint 1 is sample
    000001, as it is step 1 of a tune.h5; a label it does not hold is refused with the
    labels it has."""
    with h5py.File(tmp_path / "explore.h5", "w") as h:
        h.attrs.update(schema="pyharness", schema_version=1, kind="explore")
        h["sites"] = np.array(["f@a.f90:1", "g@a.f90:2"], dtype=h5py.string_dtype())
        for i, inh in enumerate([["g@a.f90:2"], ["f@a.f90:1"]]):
            g = h.create_group(f"samples/{i:06d}")
            g.attrs["inhibited"] = json.dumps(inh)
            g["wall_s"] = np.ones(2)
            g["peak_bytes"] = np.full(2, 1000, dtype=np.int64)

    def run(label):
        return subprocess.run([sys.executable, "-m", "pyharness.report", "explore.h5", "--nocheckpoint", label],
                              capture_output=True, text=True, cwd=tmp_path)

    for label in ("1", "000001"):
        p = run(label)
        assert p.returncode == 0 and p.stdout.strip() == '-nocheckpoint "f"', p.stderr
    p = run("7")
    assert p.returncode == 2 and "000000 .. 000001" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("out", ["a-file", "a-file/sub"])
def test_out_that_cannot_be_a_directory_gets_a_message_not_a_traceback(tmp_path, out):
    """--out names the directory of the figures: an existing file there, or a path
    through a file, is a usage error (status 2) before anything is drawn."""
    _tune_file(tmp_path / "tune.h5", ["f@a.f90:1"], {0: []})
    (tmp_path / "a-file").write_text("keep me")
    p = subprocess.run([sys.executable, "-m", "pyharness.report", "tune.h5", "--out", out],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert f"--out {out}" in p.stderr and "directory" in p.stderr
    assert (tmp_path / "a-file").read_text() == "keep me"


def test_a_profile_copied_without_its_event_files_still_gets_its_tables(runs, tmp_path):
    """profile.h5 copied alone (its .events directory left behind): report stopped with an
    error after writing the sites CSV. The per-site table needs only the profile's own
    reduced data (docs/FORMAT.md), so the tables, the CSV and the per-site figure are
    made; the timeline and the rank imbalance, which need the raw events, are not, and
    the report says why."""
    import shutil
    alone = tmp_path / "alone.h5"
    shutil.copy(runs / "profile.h5", alone)
    out = tmp_path / "rep"
    p = subprocess.run([sys.executable, "-m", "pyharness.report", str(alone), "--out", str(out)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "no memory timeline or rank imbalance" in p.stdout
    assert "keep the directory" in p.stdout           # the reason, with what to do
    assert (out / "alone-sites.png").exists()
    assert not (out / "alone-timeline.png").exists() and not (out / "alone-ranks.png").exists()
    # the same per-site rows as with the events beside it
    ref = tmp_path / "ref"
    assert subprocess.run([sys.executable, "-m", "pyharness.report", str(runs / "profile.h5"),
                           "--out", str(ref)], capture_output=True, cwd=runs).returncode == 0
    assert (out / "alone-sites.csv").read_text() == (ref / "profile-sites.csv").read_text()


def test_a_profile_whose_event_file_is_cut_short_still_gets_its_tables(runs, tmp_path):
    """An event file cut short (a copy that stopped, a full disk): report ended in h5py's
    traceback ('truncated file: eof = ...', status 1), and so did analyze --method
    reference. The events are said unreadable, with what to do; report, whose tables
    come from the profile's reduced data, makes them and says why the timeline is not."""
    import h5py

    from pyharness.analysis.profiles import read_rank_events
    from pyharness.reduction import EventFilesMissing, copy_profile
    prof = tmp_path / "cut.h5"
    copy_profile(runs / "profile.h5", prof)
    (ev,) = (tmp_path / "cut.h5.events").iterdir()
    ev.write_bytes(ev.read_bytes()[: ev.stat().st_size // 2])
    with h5py.File(prof) as f, pytest.raises(EventFilesMissing, match="cannot be read.*profile again"):
        read_rank_events(f, 0)
    out = tmp_path / "rep"
    p = subprocess.run([sys.executable, "-m", "pyharness.report", str(prof), "--out", str(out)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "no memory timeline or rank imbalance" in p.stdout and "cannot be read" in p.stdout
    assert (out / "cut-sites.png").exists() and not (out / "cut-timeline.png").exists()


def test_report_draws_the_front_optimize_saved(runs, tmp_path):
    """optimize --pareto N saves the predicted front 'for the report' (issue 10), but report
    refused a PLAN.pareto.h5. Now it is drawn on the Pareto plane with the measured points
    and listed: one row per budget, the plan's time and peak as the file holds them, each
    peak within its budget."""
    p = mpirun(1, ["-m", "pyharness.optimize", str(runs / "profile.h5"), "--budget", "1.5x",
                   "--out", str(tmp_path / "plan"), "--pareto", "3"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    front = tmp_path / "plan.pareto.h5"
    with h5py.File(front) as f:
        budgets = f["pareto/budget_bytes"][()]
        times = f["pareto/time_s"][()]
        peaks = f["pareto/peak_bytes"][()].max(axis=1)
    assert len(budgets) == 3 and np.all(peaks <= budgets)
    out = tmp_path / "rep"
    p = subprocess.run([sys.executable, "-m", "pyharness.report", str(front), str(runs / "profile.h5"),
                        "--out", str(out), "--html"], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    table = p.stdout.split("the predicted front (optimize --pareto)")[1].split("==")[0]
    rows = [ln.split() for ln in table.splitlines() if ln.strip() and "optimal" in ln.split()]
    assert len(rows) == 3
    assert sorted(float(r[2]) for r in rows) == pytest.approx(sorted(np.round(times, 4)), abs=1e-4)
    w, h = png_size(out / "pareto.png")
    assert w > 400 and h > 200
    # the plane, and the profile's timeline, per-site figure and rank imbalance
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4


def test_the_fronts_of_a_pair_search_are_told_apart_by_their_tuning_paths_colours():
    """report of tune.K0.h5 tune.K2.h5 (a --snapshots 0,2 search) drew both predicted
    fronts in one colour: the legend listed two identical dotted lines."""
    from matplotlib.colors import to_hex
    from pyharness.report.data import Point
    from pyharness.report.plots import pareto_plane
    from pyharness.vocabulary import Decision
    pts = [Point(f"d/t.K{k}.h5", str(i), 1.0 - 0.1 * i, 100 + 10 * i, (), "tune", Decision.ACCEPTED,
                 "runtime-first", snapshots=k, budget=200) for k in (0, 2) for i in range(2)]
    fig = pareto_plane(pts, predicted=[(f"t.K{k}.h5", [(0.8, 150), (1.0, 100)]) for k in (0, 2)])
    lines = {l.get_label(): to_hex(l.get_color()) for l in fig.axes[0].get_lines()}
    fronts = [lines[f"predicted front (t.K{k}.h5)"] for k in (0, 2)]
    paths = [c for label, c in lines.items() if label.startswith("tuning path")]
    assert fronts[0] != fronts[1] and fronts == paths


def test_an_optimal_tunes_path_is_named_after_its_method_not_an_unused_strategy(runs, tmp_path):
    """A tune.h5 of --method optimal (the default) was drawn as 'tuning path:
    runtime-first', a greedy strategy that played no part; a greedy history keeps its
    strategy's name."""
    from pyharness.report.data import load_points
    p = mpirun(1, ["-m", "pyharness.tune", "--kernel", "calltree", "--budget", "1.5x", "--max-steps", "1",
                   "--no-progress", "--out", str(tmp_path / "opt.h5")], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert {pt.strategy for pt in load_points(tmp_path / "opt.h5")} == {"optimal"}
    assert {pt.strategy for pt in load_points(runs / "tune.h5")} == {"runtime-first"}


def test_tables_give_sub_millisecond_times_three_significant_digits():
    # a small kernel's configurations differ by microseconds: to four decimals the
    # measured and predicted columns all read 0.0001 and the error column looked wrong
    from pyharness.report.__main__ import _prediction_table, _table
    from pyharness.report.data import Point
    p = Point(source="tune.h5", label="1", wall=0.0000965, peak=4096, inhibited=("a",), kind="tune",
              phase="optimal", pred_wall=0.0000912, pred_peak=4096, peak_exact=True)
    row = _table([p]).splitlines()[1].split()
    assert "0.0000965" in row, row
    row = _prediction_table([p]).splitlines()[1].split()
    assert row[3:5] == ["0.0000912", "0.0000965"], row
