"""The command-line tools as users run them: mpiexec, real files, clear errors."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from phtest import ROOT, mpirun


def test_profile_writes_a_complete_profile(tmp_path):
    out = tmp_path / "profile.h5"
    proc = mpirun(2, ["-m", "pyharness.profile", "--kernel", "streamice", "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "peak stack" in proc.stdout and str(out) in proc.stdout
    with h5py.File(out) as f:
        assert f.attrs["schema"] == "pyharness" and f.attrs["kind"] == "profile"
        assert f.attrs["nranks"] == 2 and f.attrs["kernel"] == "streamice"
        assert json.loads(f.attrs["params"])["nx"] > 0
        for a in ("git_revision", "pyharness_version", "mpi_version", "numpy_version", "h5py_version"):
            assert f.attrs[a]
        nloc = len(f["locations/name"])
        assert f["config/inhibited"].shape == (nloc,) and not f["config/inhibited"][()].any()
        assert sorted(f["events"]) == ["rank_00000", "rank_00001"]
        for r in range(2):
            g = f[f"events/rank_{r:05d}"]
            assert len(g["kind"]) == f["summary/nevents"][r] > 0
            # the peak of the summary is at least every stack value recorded in events
            assert g["stack"][()].max() <= f["summary/peak_bytes"][r]
        assert (f["summary/pushed_bytes"][()] == f["summary/popped_bytes"][()]).all()
    assert not list(tmp_path.glob("*.tmp.*"))


def test_profile_cpu_clock_is_optional(tmp_path):
    """Without --cpu-clock the events carry no CPU time and the analysis says so
    (NaN, a note) instead of printing zero gains; with it, they do."""
    from pyharness.analysis.profiles import analyze_profile
    for flag in ([], ["--cpu-clock"]):
        out = tmp_path / f"p{len(flag)}.h5"
        proc = mpirun(1, ["-m", "pyharness.profile", "--kernel", "streamice", "--size", "small",
                          "--out", str(out), *flag], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        with h5py.File(out) as f:
            assert bool(f.attrs["cpu_clock"]) == bool(flag)
            cpu = f["events/rank_00000/cpu_ns"][()]
            assert (cpu > 0).any() == bool(flag)
            assert f["summary/cpu_s"][0] > 0          # the run's total is measured either way
        an = analyze_profile(out)
        gains = [e.time_gain_cpu_s for e in an.estimates]
        assert all(np.isnan(g) for g in gains) != bool(flag)
        assert any("--cpu-clock" in n for n in an.notes) != bool(flag)


def test_nocheckpoint_by_site_and_by_callee(tmp_path):
    sites = subprocess.run([sys.executable, "-m", "pyharness.sites", "--kernel", "streamice", "--json"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    sites = json.loads(sites)
    assert len(sites) >= 25
    callee = sites[-1]["callee"]
    by_callee = [s["name"] for s in sites if s["callee"] == callee]
    out = tmp_path / "p.h5"
    proc = mpirun(2, ["-m", "pyharness.profile", "--out", str(out), "--nocheckpoint",
                      f"{sites[0]['name']},{callee}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out) as f:
        names = [n.decode() for n in f["locations/name"][()]]
        inh = {n for n, m in zip(names, f["config/inhibited"][()]) if m}
    assert inh == {sites[0]["name"], *by_callee}


def test_sites_lists_stable_names(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pyharness.sites", "--kernel", "streamice"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "checkpoint sites" in proc.stdout and "@streamice" in proc.stdout


def _orders(stdout: str) -> list[float]:
    """The order column of gradcheck's table (rows of five numbers)."""
    out = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 5:
            try:
                out.append(float(parts[3]))
            except ValueError:
                pass
    return out


@pytest.mark.parametrize("nranks", [1, 3])
@pytest.mark.parametrize("kernel", ["streamice", "biogeo", "calltree"])
def test_gradcheck_all_checks_pass(kernel, nranks):
    proc = mpirun(nranks, ["-m", "pyharness.gradcheck", "--kernel", kernel, "--check", "all"], timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    orders = _orders(proc.stdout)
    assert len(orders) >= 6 and all(abs(o - 2) <= 0.1 for o in orders), proc.stdout
    assert "invariance under checkpoint configurations" in proc.stdout
    assert ("against a serial run" in proc.stdout) == (kernel != "calltree")
    assert "all gradient checks passed" in proc.stdout


BRANCHY_TREE = {"m": 64, "nodes": [
    {"name": "root", "work": 1, "children": [{"node": "heavy"}, {"node": "light", "loop": 2}]},
    {"name": "heavy", "work": 3, "branch": True, "children": [{"node": "inner", "loop": 2}]},
    {"name": "inner", "work": 4, "branch": True},
    {"name": "light", "work": 2, "comm": True}]}


@pytest.mark.parametrize("nranks", [1, 3])
def test_gradcheck_of_an_adjoint_that_pushes_control_bits(tmp_path, nranks):
    """calltree nodes with "branch": the forward sweep pushes each branch's outcome
    (PUSHCONTROL1B) and the backward sweep pops it, as Tapenade's code does; the adjoint
    must still agree with finite differences and be invariant under checkpointing."""
    (tmp_path / "tree.json").write_text(json.dumps(BRANCHY_TREE))
    proc = mpirun(nranks, ["-m", "pyharness.gradcheck", "--kernel", "calltree", "--param",
                           f"tree={tmp_path / 'tree.json'}", "--check", "all"], cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    orders = _orders(proc.stdout)
    assert len(orders) >= 3 and all(abs(o - 2) <= 0.1 for o in orders), proc.stdout
    assert "all gradient checks passed" in proc.stdout


def test_gradcheck_fails_with_a_planted_error():
    """A wrong adjoint (scaled by 1.001 in the boundary rows) must fail: on one rank
    the orders stay at 2.000, only the finite differences catch it."""
    proc = mpirun(1, ["-m", "pyharness.gradcheck", "--kernel", "streamice", "--plant-error", "1e-3"])
    assert proc.returncode != 0, proc.stdout
    assert "FAILED: finite differences disagree" in proc.stdout
    assert "gradient check(s) failed: taylor" in proc.stderr


@pytest.mark.parametrize("args,message", [
    (["--check", "speed"], "choose from taylor, invariance, serial"),
    (["--kernel", "calltree", "--check", "serial"], "has no decomposed grid"),
    (["--eps", "1e-8", "--eps-min", "1e-4"], "bad range of eps"),
])
def test_gradcheck_bad_input(tmp_path, args, message):
    proc = mpirun(2, ["-m", "pyharness.gradcheck", *args], cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.count(message) == 2, proc.stderr        # on every rank


BAD = [
    (["-m", "pyharness.profile", "--nocheckpoint", "cg_solv@nowhere.f90:1"], "unknown site"),
    (["-m", "pyharness.profile", "--limit", "lots"], "is not a size"),
    (["-m", "pyharness.profile", "--kernel", "nosuchkernel"], "unknown kernel"),
    (["-m", "pyharness.profile", "--out", "/nonexistent/dir/p.h5"], "does not exist"),
    (["-m", "pyharness.profile", "--param", "nx=1"], "nx"),
    (["-m", "pyharness.tune", "--budget", "12qq"], "is not a size"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[b[1] for b in BAD])
def test_bad_input_clear_message_on_every_rank(tmp_path, args, message):
    proc = mpirun(2, args, cwd=tmp_path, timeout=120)     # a hang would time out
    assert proc.returncode != 0
    # one message per rank (mpiexec may interleave the ranks' lines)
    assert proc.stderr.count(": error: [rank ") == 2, proc.stderr
    assert proc.stderr.count(message) >= 2, proc.stderr
    assert "Traceback" not in proc.stderr


def test_malformed_config_file(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"inhibited": ["cg_solve",]}')
    proc = mpirun(2, ["-m", "pyharness.profile", "--config", str(cfg)], cwd=tmp_path)
    assert proc.returncode != 0
    assert "malformed JSON" in proc.stderr and "c.json:1" in proc.stderr


def test_stack_limit_fails_cleanly_and_keeps_existing_output(tmp_path):
    out = tmp_path / "p.h5"
    out.write_bytes(b"previous results")
    proc = mpirun(2, ["-m", "pyharness.profile", "--limit", "1KiB", "--out", str(out)], cwd=tmp_path)
    assert proc.returncode != 0
    assert "AD stack limit exceeded" in proc.stderr
    assert out.read_bytes() == b"previous results"      # nothing lost
