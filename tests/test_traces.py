"""Profiling without Python: a Tapenade-shaped MPI adjoint writes per-rank traces
(PYHARNESS_PROFILE=DIR), `python -m pyharness.ingest` joins them into profile.h5,
and analyze reads it. Expected values are derived by hand from
tests/fortran/tapenade_mpi.f90 (see its header)."""

import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from phtest import ROOT, build_against_runtime, mpirun, untagged

from pyharness.analysis.profiles import analyze_profile
from pyharness.ingest import TraceFileError, ingest, read_trace, read_traces

N = 6                       # reals per array in the test program
LONG = "compute_the_contribution_of_vertical_mixing_to_the_tracer_budget_in_each_column_"


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    for tool in ("mpicc", "mpif90", "mpiexec"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: run scripts/setup.sh")
    d = tmp_path_factory.mktemp("tapenade_mpi")
    # linked as a user links: the installed runtime, with pyharness-config's flags
    return build_against_runtime([ROOT / "tests" / "fortran" / "tapenade_mpi.f90"], d / "tapenade_mpi",
                                 compiler="mpif90", extra=("-fallow-argument-mismatch",))


def run(exe, n, cwd, *args, trace_dir=None, cpu=False):
    env = dict(os.environ)
    env.pop("PYHARNESS_PROFILE", None)
    env.pop("PYHARNESS_PROFILE_CPU", None)
    if trace_dir is not None:
        env["PYHARNESS_PROFILE"] = str(trace_dir)
    if cpu:
        env["PYHARNESS_PROFILE_CPU"] = "1"
    p = subprocess.run(["mpiexec", "-n", str(n), str(exe), *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return sorted(l for l in p.stdout.splitlines() if l.startswith(("COST", "GRAD")))


@pytest.mark.parametrize("nranks", [1, 2])
def test_traces_ingested_and_analysed(exe, tmp_path, nranks):
    nrep = 3
    run(exe, nranks, tmp_path, str(nrep), trace_dir=tmp_path / "tr")
    files = sorted(p.name for p in (tmp_path / "tr").iterdir())
    assert files == [f"pyharness.{r:05d}.phtrace" for r in range(nranks)]   # no temp file left
    out = tmp_path / "profile.h5"
    traces = ingest(tmp_path / "tr", out)
    assert [t.rank for t in traces] == list(range(nranks))
    # by hand: per repetition 3 sites x 6 events + 4 turns (main and the three callees)
    assert all(len(t.kind) == nrep * (3 * 6 + 4) for t in traces)
    # peak: three snapshots of 6 reals, then w pushed before main's turn
    assert all(t.peak == 4 * N * 8 for t in traces)
    with h5py.File(out) as f:
        assert f.attrs["kernel"] == "external" and f.attrs["nranks"] == nranks
        assert f.attrs["cpu_clock"] == False    # noqa: E712 (numpy bool)
        assert "tapenade_mpi" in f.attrs["command"]
        names = [v.decode() for v in f["locations/name"][()]]
        assert list(f["summary/peak_bytes"][()]) == [4 * N * 8] * nranks
        # the recorder's own cost, measured at start-up, for the model
        ec = f["summary/event_cost_ns"][()]
        assert ec.shape == (nranks,) and np.isfinite(ec).all() and (ec > 0).all()
        assert (f["summary/callback_cost_ns"][()] < ec).all()
        assert len(f["events"]) == nranks
    # long names kept whole and distinct (they share their first 80 characters)
    assert f"{LONG}part_one@model.f90:22" in names and f"{LONG}part_two@model.f90:23" in names
    assert "smooth@model.f90:21" in names and "main@model.f90" in names
    an = analyze_profile(out)
    assert an.nranks == nranks
    counts = {e.name: e.count for e in an.estimates}
    assert counts == {"smooth@model.f90:21": nrep * nranks, f"{LONG}part_one@model.f90:22": nrep * nranks,
                      f"{LONG}part_two@model.f90:23": nrep * nranks}
    assert int(an.data.peak.max()) == 4 * N * 8
    # no CPU clock recorded: CPU gains are "not measured", not zeros
    assert all(np.isnan(e.time_gain_cpu_s) for e in an.estimates)
    assert any("CPU" in n for n in an.notes)
    # Tapenade's own table, one file per rank, as MITgcm asks for it
    for r in range(nranks):
        text = (tmp_path / f"tapenade_profile.{r:04d}.txt").read_text().splitlines()
        assert text[0] == f"PEAK STACK:{4 * N * 8} bytes"
        assert text[1] == "SUGGESTED NOCHECKPOINTs:"
        rows = [l for l in text if l.startswith("  - Time gain")]
        assert len(rows) == 3 and all(f"({nrep} times)" in l for l in rows)
        assert any(f"for call {LONG}part_two (" in l for l in rows)


def test_cli_and_trace_at_exit_with_cpu_clock(exe, tmp_path):
    run(exe, 2, tmp_path, "1", "noshow", trace_dir=tmp_path / "tr", cpu=True)
    assert not list(tmp_path.glob("tapenade_profile.*"))
    p = subprocess.run([sys.executable, "-m", "pyharness.ingest", str(tmp_path / "tr"), "--out",
                        str(tmp_path / "p.h5")], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "2 rank(s)" in p.stdout
    with h5py.File(tmp_path / "p.h5") as f:
        assert f.attrs["cpu_clock"] == True    # noqa: E712
        cpu = f["events/rank_00000/cpu_ns"][()]
        assert (np.diff(cpu) >= 0).all() and cpu[-1] > 0
    an = analyze_profile(tmp_path / "p.h5")
    assert all(not np.isnan(e.time_gain_cpu_s) for e in an.estimates)


def test_profiling_does_not_change_the_gradient(exe, tmp_path):
    off = run(exe, 2, tmp_path, "2")
    on = run(exe, 2, tmp_path, "2", trace_dir=tmp_path / "tr", cpu=True)
    assert len(off) == 2 + 2 * N
    assert on == off              # hex digits: bitwise identical


# ---------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def two_rank_traces(exe, tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    run(exe, 2, d, "1", trace_dir=d / "tr")
    return d / "tr"


def _copy(src, dst, names=None):
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if names is None or p.name in names:
            shutil.copy(p, dst / p.name)
    return dst


def test_empty_or_missing_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TraceFileError, match="no trace files .* PYHARNESS_PROFILE"):
        ingest(tmp_path / "empty", tmp_path / "p.h5")
    with pytest.raises(TraceFileError, match="does not exist"):
        ingest(tmp_path / "nowhere", tmp_path / "p.h5")
    assert not (tmp_path / "p.h5").exists()


def test_missing_rank(two_rank_traces, tmp_path):
    d = _copy(two_rank_traces, tmp_path / "tr", {"pyharness.00000.phtrace"})
    with pytest.raises(TraceFileError, match=r"1 of 2 ranks; missing rank\(s\) 1"):
        read_traces(d)


def test_truncated_trace(two_rank_traces, tmp_path):
    d = _copy(two_rank_traces, tmp_path / "tr")
    p = d / "pyharness.00001.phtrace"
    data = p.read_bytes()
    for cut in (len(data) - 3, 200, 50, 4):
        p.write_bytes(data[:cut])
        with pytest.raises(TraceFileError, match="truncated|not a pyharness trace"):
            read_traces(d)


def test_traces_of_different_programs(two_rank_traces, exe, tmp_path):
    other = tmp_path / "other_program"
    shutil.copy(exe, other)
    d = _copy(two_rank_traces, tmp_path / "tr", {"pyharness.00000.phtrace"})
    run(other, 2, tmp_path, "1", trace_dir=tmp_path / "tr2")
    shutil.copy(tmp_path / "tr2" / "pyharness.00001.phtrace", d)
    with pytest.raises(TraceFileError, match="different programs"):
        read_traces(d)


def test_traces_of_different_runs(two_rank_traces, exe, tmp_path):
    d = _copy(two_rank_traces, tmp_path / "tr", {"pyharness.00000.phtrace"})
    run(exe, 2, tmp_path, "1", trace_dir=tmp_path / "tr2")
    shutil.copy(tmp_path / "tr2" / "pyharness.00001.phtrace", d)
    with pytest.raises(TraceFileError, match="different runs"):
        read_traces(d)


def test_cli_error_is_clear(tmp_path):
    (tmp_path / "empty").mkdir()
    p = subprocess.run([sys.executable, "-m", "pyharness.ingest", str(tmp_path / "empty")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2
    assert "no trace files" in p.stderr and "Traceback" not in p.stderr


def test_cli_under_mpiexec_imports_once_and_says_an_error_once(tmp_path):
    """A user may start ingest as the program was started: under mpiexec -n 2 every
    rank imported the traces into the same profile and printed every message, the two
    run into one line ('...firstpyharness.ingest: error: ...')."""
    (tmp_path / "empty").mkdir()
    p = mpirun(2, ["-m", "pyharness.ingest", str(tmp_path / "empty")], cwd=tmp_path, timeout=120)
    assert p.returncode == 2
    assert p.stderr.count("pyharness.ingest: error: [ranks 0-1 of 2] no trace files") == 1, p.stderr
    assert "Traceback" not in p.stderr


def test_ingest_under_mpiexec_shares_the_ranks_reductions_and_writes_what_one_process_does(
        two_rank_traces, tmp_path):
    """Under mpiexec -n P the processes share the ranks' reductions (the costly part,
    0.2-0.6 s per rank of 15-60k events): rank 0 alone reduced every rank in turn,
    hours at thousands of ranks. The profile is the one a single process writes."""
    script = tmp_path / "spy.py"
    script.write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        "import pyharness.reduction as red\n"
        "done, orig = [], red.reduce_events\n"
        "def spy(ev, table, rank, **kw):\n"
        "    done.append(rank)\n"
        "    return orig(ev, table, rank, **kw)\n"
        "red.reduce_events = spy\n"
        "from pyharness.ingest import main\n"
        "from pyharness.mpiutil import run_cli\n"
        "code = run_cli('pyharness.ingest', main, sys.argv[1:])\n"
        "print(f'process {MPI.COMM_WORLD.rank} reduced {done}', flush=True)\n"
        "sys.exit(code)\n")
    p = mpirun(2, [str(script), str(two_rank_traces), "--out", str(tmp_path / "par.h5")],
               cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "process 0 reduced [0]" in p.stdout and "process 1 reduced [1]" in p.stdout, p.stdout
    assert p.stdout.count("profile written to") == 1, p.stdout
    ingest(two_rank_traces, tmp_path / "ser.h5")
    with h5py.File(tmp_path / "par.h5") as a, h5py.File(tmp_path / "ser.h5") as b:
        names = []
        b["reduced"].visit(names.append)
        assert names
        for n in names:
            if isinstance(b["reduced"][n], h5py.Dataset):
                assert np.array_equal(a["reduced"][n][()], b["reduced"][n][()]), n
        for r in range(2):
            assert np.array_equal(a[f"events/rank_{r:05d}/stack"][()], b[f"events/rank_{r:05d}/stack"][()])


def test_read_trace_matches_header(two_rank_traces):
    t = read_trace(two_rank_traces / "pyharness.00001.phtrace")
    assert (t.rank, t.nranks) == (1, 2)
    assert t.current == 0 and t.pushed == t.popped
    assert (np.diff(t.wall) >= 0).all()


def test_ingest_files_the_events_per_host_or_per_group(exe, tmp_path):
    """ingest writes the ranks of one host to one file by default (group_00000.h5 on
    this machine), per rank or per G ranks on request; every rank's events and the
    analysis read the same through the virtual datasets whatever the files."""
    from pyharness.analysis.profiles import read_rank_events
    run(exe, 2, tmp_path, "2", trace_dir=tmp_path / "tr")
    files = {}
    for spec in ("rank", "node", 1, 2):
        out = tmp_path / f"p_{spec}.h5"
        ingest(tmp_path / "tr", out, event_files=None if spec == "node" else spec)
        files[spec] = sorted(untagged(p.name) for p in (tmp_path / f"p_{spec}.h5.events").iterdir())
    assert files["rank"] == files[1] == ["rank_00000.h5", "rank_00001.h5"]
    assert files["node"] == files[2] == ["group_00000.h5"]
    with h5py.File(tmp_path / "p_rank.h5") as g:
        ref = [read_rank_events(g, r) for r in range(2)]
    for spec in ("node", 2):
        with h5py.File(tmp_path / f"p_{spec}.h5") as f:
            for r in range(2):
                got = read_rank_events(f, r)
                assert sorted(got) == sorted(ref[r])
                assert all(np.array_equal(got[k], ref[r][k]) for k in got)
        for method in ("auto", "reference"):
            a = analyze_profile(tmp_path / f"p_{spec}.h5", method=method)
            b = analyze_profile(tmp_path / "p_rank.h5", method=method)
            assert repr(a.estimates) == repr(b.estimates)
