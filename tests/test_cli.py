"""The command-line tools as users run them: mpiexec, real files, clear errors."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from phtest import ROOT, mpirun, run1


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


def test_profile_summary_shows_the_time_of_a_run_below_a_millisecond():
    # the plug-in example's documented profile (smoother, small) runs in a fraction of a
    # millisecond: its summary read 'adjoint wall   0.000 s slowest rank (min 0.000 s ...)'
    from types import SimpleNamespace

    import numpy as np

    from pyharness.config import Configuration
    from pyharness.profile import RunSummary, format_summary
    one = np.array([0.000345])
    summary = RunSummary(wall_s=one, cpu_s=one, peak_bytes=np.array([1024]), pushed_bytes=np.array([2048]),
                         popped_bytes=np.array([2048]), nevents=np.array([10]), cost=1.0, grad_norm=1.0)
    kernel = SimpleNamespace(name="k", params_dict=lambda: {})
    table = SimpleNamespace(site_indices=[], resolve=lambda names: frozenset())
    text = format_summary("p.h5", kernel, 1, Configuration(), table, summary)
    assert "adjoint wall   0.000345 s slowest rank" in text and "0.000 s" not in text, text


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


def test_an_unknown_site_name_says_the_command_that_lists_this_problems_sites(tmp_path):
    """The error for an unknown site name ended 'List the site names with: python -m
    pyharness.sites --kernel KERNEL', a placeholder to fill in, and the sites of calltree
    depend on its parameters too. It now names the kernel and the parameters that differ
    from the default size's, from the command line (profile) and from a profile's own
    attributes (predict); the command it names, run as printed, lists this problem's
    sites (the profile's own)."""
    import re
    import shlex
    tree = ["--kernel", "calltree", "--param", "nsites=5", "--param", "seed=2", "--param", "m=64"]
    proc = mpirun(1, ["-m", "pyharness.profile", *tree, "--nocheckpoint", "nosuch",
                      "--out", str(tmp_path / "bad.h5")], cwd=tmp_path)
    assert proc.returncode == 2 and "unknown site or callee name(s)" in proc.stderr, proc.stderr
    want = "python -m pyharness.sites --kernel calltree --param m=64 --param nsites=5 --param seed=2"
    assert f"List the site names with: {want}" in proc.stderr and "KERNEL" not in proc.stderr
    prof = tmp_path / "p.h5"
    mpirun(1, ["-m", "pyharness.profile", *tree, "--out", str(prof)], cwd=tmp_path, check=True)
    proc = mpirun(1, ["-m", "pyharness.predict", str(prof), "--nocheckpoint", "nosuch"], cwd=tmp_path)
    assert proc.returncode == 2 and "unknown site or callee name(s)" in proc.stderr, proc.stderr
    cmd = re.search(r"List the site names with: (python -m pyharness\.sites[^(]*?)(?: \(|$)",
                    proc.stderr, re.M).group(1)
    assert "KERNEL" not in cmd and "--kernel calltree" in cmd and "--param nsites=5" in cmd
    listed = subprocess.run([sys.executable, *shlex.split(cmd)[1:], "--json"], capture_output=True,
                            text=True, check=True, cwd=tmp_path).stdout
    with h5py.File(prof) as f:
        sites = [n.decode() for n, s in zip(f["locations/name"][()], f["locations/is_site"][()]) if s]
    assert [e["name"] for e in json.loads(listed)] == sites


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
    assert proc.stderr.count(message) == 1, proc.stderr        # once, for every rank
    assert "[ranks 0-1 of 2]" in proc.stderr


BAD = [
    (["-m", "pyharness.profile", "--nocheckpoint", "cg_solv@nowhere.f90:1"], "unknown site"),
    (["-m", "pyharness.profile", "--limit", "lots"], "is not a size"),
    (["-m", "pyharness.profile", "--kernel", "nosuchkernel"], "unknown kernel"),
    (["-m", "pyharness.profile", "--out", "/nonexistent/dir/p.h5"], "does not exist"),
    (["-m", "pyharness.profile", "--param", "nx=1"], "nx"),
    (["-m", "pyharness.tune", "--budget", "12qq"], "is not a size"),
]


def test_a_call_tree_without_a_call_is_refused_with_the_reason(tmp_path):
    # one node, no children: no checkpoint site; sites and tune ended in a traceback
    # ('max() arg is an empty sequence', 'need at least one array to stack')
    from pyharness.errors import UsageError
    from pyharness.kernels.calltree import validate_description
    with pytest.raises(UsageError, match="needs at least 1 site.*'main' calls nothing"):
        validate_description({"nodes": [{"name": "main"}, {"name": "leaf"}]}, "t.json")
    validate_description({"nodes": [{"name": "main", "children": [{"node": "leaf"}]}, {"name": "leaf"}]})


@pytest.mark.parametrize("args", [
    ["-m", "pyharness.tune", "--budget", "1.5x", "--snapshots", "0,2"],
    ["-m", "pyharness.explore", "--samples", "2", "--snapshots", "2"],
], ids=["tune", "explore"])
def test_snapshots_a_one_step_time_loop_cannot_take_are_refused_before_anything_runs(tmp_path, args):
    """calltree's default time loop has 1 step: tune --snapshots 0,2 tuned K=0 to the end,
    then failed at K=2's start; explore measured its reference, failed every sample and
    said to fix the cause and --resume, which then refused the fixing --param as another
    problem. Now nothing runs, and the message names the parameter."""
    proc = run1([*args, "--kernel", "calltree", "--out", str(tmp_path / "out.h5")], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "needs at least 2 time steps, and kernel 'calltree' has 1: give it more with --param " \
           "nsteps=N" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5.lock"]      # nothing ran


@pytest.mark.parametrize("param,message", [
    ("seed=-1", "seed -1: the generator's seed is an integer >= 0 (--param seed=N)"),
    ("nsteps=0", "nsteps 0: the time loop needs at least 1 step (--param nsteps=N)"),
    # numpy's OverflowError and its traceback, on the way to the Fortran setup
    ("m=3000000000", "parameter m=3000000000 of kernel 'calltree' is out of range"),
])
def test_call_tree_parameters_out_of_range_are_refused_naming_them(tmp_path, param, message):
    """--param seed=-1 ended in numpy's traceback ('expected non-negative integer', no
    parameter named); --param nsteps=0 (or -3) was run as one time step without a word."""
    proc = subprocess.run([sys.executable, "-m", "pyharness.sites", "--kernel", "calltree",
                           "--param", param], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("kernel", ["streamice", "biogeo"])
def test_a_grid_too_large_to_allocate_is_a_status_not_a_stop(tmp_path, kernel):
    """--param nx=1000000 --param ny=1000000: the grid's allocate had no stat=, so the
    Fortran runtime stopped the process ('Error allocating 8000032000032 bytes', exit 1)."""
    overcommit = "/proc/sys/vm/overcommit_memory"
    if os.path.exists(overcommit) and open(overcommit).read().strip() == "1":
        pytest.skip("every allocation succeeds here (vm.overcommit_memory=1): the run would fill memory")
    proc = run1(["-m", "pyharness.profile", "--kernel", kernel, "--param", "nx=1000000", "--param", "ny=1000000",
                 "--out", str(tmp_path / "p.h5")], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{kernel}: cannot allocate the grid of 1000002 x 1000002" in proc.stderr, proc.stderr[-2000:]
    assert "or more ranks" in proc.stderr and "Error allocating" not in proc.stderr


# profile, with the address space capped just above what the process holds when the
# kernel's primal or adjoint starts: 20 MB more, so the driver's first allocate of a field
# (about 50 MB in the runs below, above glibc's mmap threshold: a fresh mapping) cannot be
# satisfied; the cap is lifted when the call returns.
_CAPPED_RUN = r"""
import os, resource, runpy, sys
from pyharness import runtime
real_call = runtime.call
def call(name, *args):
    if name not in os.environ.get("CAP_CALLS", "kernel_primal,kernel_adjoint").split(",") or \
            os.environ.get("OMPI_COMM_WORLD_RANK", "0") not in os.environ.get("CAP_RANKS", "0").split(","):
        return real_call(name, *args)
    vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:")) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm + int(os.environ.get("CAP_MB", "20")) * 2**20, hard))
    try:
        return real_call(name, *args)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
runtime.call = call
sys.argv[0] = "pyharness.profile"
runpy.run_module("pyharness.profile", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("kernel,params,message", [
    ("streamice", ["nx=2500", "ny=2500"], "streamice: cannot allocate the control field"),
    ("biogeo", ["nx=200", "ny=200", "nz=30"], "biogeo: cannot allocate the tracers"),
], ids=["streamice", "biogeo"])
def test_a_kernel_run_that_cannot_allocate_its_fields_is_a_status_not_a_stop(tmp_path, kernel, params, message):
    """The drivers allocated the fields of their primal and adjoint without stat=: with a
    grid that fits and no room left for those fields, the Fortran runtime stopped the process
    ('Error allocating 50080032 bytes', exit 1). Now the run says what could not be allocated
    and what to do, exit 2."""
    args = [a for p in params for a in ("--param", p)]
    proc = run1(["-c", _CAPPED_RUN, "--kernel", kernel, *args, "--out", str(tmp_path / "p.h5")], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "cells on this rank: use a smaller --param nx" in proc.stderr, \
        proc.stderr[-2000:]
    assert "or more ranks" in proc.stderr
    assert "Error allocating" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_time_loop_whose_state_cannot_be_allocated_is_a_status_not_a_stop(tmp_path):
    """streamice's time-loop state (six fields, allocated on assignment) stopped the
    process when it could not be allocated; --snapshots runs it. Room for the control
    field (about 50 MB) and one more field only."""
    env = {"CAP_CALLS": "kernel_ts_begin", "CAP_MB": "120"}
    proc = run1(["-c", _CAPPED_RUN, "--kernel", "streamice", "--param", "nx=2500", "--param", "ny=2500",
                 "--snapshots", "2", "--out", str(tmp_path / "p.h5")], cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "streamice: cannot allocate the time-stepping state" in proc.stderr, proc.stderr[-2000:]
    assert "Error allocating" not in proc.stderr and "Traceback" not in proc.stderr


def test_one_rank_that_cannot_allocate_stops_every_rank_with_its_message(tmp_path):
    """Only rank 1 cannot allocate its fields: it returned its status while rank 0 went on
    into the run's halo exchanges and waited for it forever. The ranks agree on the
    failure first; every rank returns, and the message names the rank."""
    env = {**os.environ, "CAP_RANKS": "1"}
    proc = mpirun(2, ["-c", _CAPPED_RUN, "--kernel", "streamice", "--param", "nx=3500", "--param", "ny=3500",
                      "--out", str(tmp_path / "p.h5")], cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "streamice: cannot allocate the control field" in proc.stderr, proc.stderr[-2000:]
    assert "cells on rank 1: use a smaller --param nx" in proc.stderr, proc.stderr[-2000:]
    assert "Error allocating" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,message", BAD, ids=[b[1] for b in BAD])
def test_bad_input_clear_message_once_for_every_rank(tmp_path, args, message):
    proc = mpirun(2, args, cwd=tmp_path, timeout=120)     # a hang would time out
    assert proc.returncode != 0
    # printed once by rank 0, naming the ranks it happened on (never once per rank,
    # where mpiexec interleaves the ranks' lines)
    assert proc.stderr.count(": error:") == 1, proc.stderr
    assert ": error: [ranks 0-1 of 2] " in proc.stderr and message in proc.stderr, proc.stderr
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
    # no --nocheckpoint, no --config: every site is checkpointed, so the advice cannot be
    # to activate more checkpoints; it names the limit's option, and the time loop's
    # binomial checkpointing (every kernel has the time-stepping interface, README)
    assert "every checkpoint site is already active" in proc.stderr, proc.stderr
    assert "activate more checkpoints" not in proc.stderr
    assert "--limit SIZE" in proc.stderr and "PYHARNESS_LIMIT" in proc.stderr
    assert "--snapshots K" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_stack_limit_with_sites_inhibited_advises_activating_checkpoints(tmp_path):
    sites = json.loads(subprocess.run([sys.executable, "-m", "pyharness.sites", "--kernel", "streamice",
                                       "--json"], capture_output=True, text=True, check=True,
                                      cwd=tmp_path).stdout)
    two = [sites[0]["name"], sites[1]["name"]]         # two sites named: two inhibited
    proc = mpirun(1, ["-m", "pyharness.profile", "--kernel", "streamice", "--limit", "1KiB",
                      "--nocheckpoint", ",".join(two), "--out", str(tmp_path / "p.h5")], cwd=tmp_path)
    assert proc.returncode != 0
    assert "AD stack limit exceeded" in proc.stderr, proc.stderr
    assert f"2 of {len(sites)} checkpoint sites are inhibited: activate more checkpoints" in proc.stderr
    assert "already active" not in proc.stderr and "--limit SIZE" in proc.stderr


def test_stack_limit_advice_on_the_time_loop_follows_the_snapshot_count():
    """Each snapshot the revolve schedule holds is a state on the stack (README, binomial
    checkpointing): with K > 1 fewer help; with K = 1 there is no fewer (0 tapes the whole
    loop); a kernel without a time-stepping interface gets no time-loop advice."""
    from pyharness.config import Configuration, SiteTable
    from pyharness.profile import stack_limit_advice

    class Stepping:
        supports_time_stepping = True

    table = SiteTable(("f@a.f90:1", "g@a.f90:2"), ("f", "g"), (True, True))
    assert "--snapshots below 4" in stack_limit_advice(Stepping(), table, Configuration(snapshots=4))
    assert "--snapshots" not in stack_limit_advice(Stepping(), table, Configuration(snapshots=1))
    assert "--snapshots K" in stack_limit_advice(Stepping(), table, Configuration())
    assert "--snapshots" not in stack_limit_advice(object(), table, Configuration())
    inhibited = Configuration(frozenset({"g@a.f90:2"}))
    assert stack_limit_advice(Stepping(), table, inhibited).startswith(
        "1 of 2 checkpoint sites are inhibited: activate more checkpoints")


# ---------------------------------------------------------------- issue 13: bad input, said once

def _tune1(tmp_path, *args, out="tune.h5", env=None):
    return mpirun(1, ["-m", "pyharness.tune", "--kernel", "streamice", "--no-progress",
                      "--out", str(tmp_path / out), *args], cwd=tmp_path, timeout=300, env=env)


@pytest.mark.parametrize("args,message", [
    (["-m", "pyharness.tune", "--budget", "1.5x", "--retries", "-1"], "--retries -1: must be at least 0"),
    (["-m", "pyharness.tune", "--budget", "1.5x", "--backend", "local", "--ranks", "0"],
     "--ranks 0: must be at least 1"),
    (["-m", "pyharness.tune", "--budget", "1.5x", "--backend", "local", "--ranks", "-2"],
     "--ranks -2: must be at least 1"),
    (["-m", "pyharness.tune", "--budget", "1.5x", "--backend", "local", "--ranks", "1.5"],
     "invalid int value: '1.5'"),
    (["-m", "pyharness.tune", "--budget", "1.5x", "--max-steps", "-3"], "--max-steps -3: must be at least 0"),
    (["-m", "pyharness.tune", "--budget", "1.5x", "--repeat", "0"], "--repeat 0: must be at least 1"),
    (["-m", "pyharness.tune", "--budget", "1.5x", "--solve-time-limit", "-1"], "--solve-time-limit -1"),
    (["-m", "pyharness.explore", "--samples", "2", "--seed", "-1"], "--seed -1: must be at least 0"),
    (["-m", "pyharness.explore", "--samples", "2", "--backend", "local", "--ranks", "0"],
     "--ranks 0: must be at least 1"),
    (["-m", "pyharness.explore", "--samples", "2", "--repeat", "-1"], "--repeat -1: must be at least 1"),
    (["-m", "pyharness.explore", "--samples", "2", "--max-parallel", "0"], "--max-parallel 0"),
    # --exhaustive measured every configuration whatever --samples said
    (["-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=2", "--samples", "3", "--exhaustive"],
     "--samples 3 and --exhaustive"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_negative_and_zero_counts_are_refused_before_anything_runs(tmp_path, args, message):
    """D12, D13: --ranks 0 is not quietly 1 rank, --retries -1 is not 'could not be
    run: None'; a count outside its range is refused first, with the option named."""
    proc = mpirun(1, [*args, "--out", str(tmp_path / "out.h5")], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out.h5").exists()          # nothing ran


@pytest.mark.parametrize("args,message", [
    (["--method", "greedy", "--solve-time-limit", "5"],
     "--solve-time-limit is the solver's, but --method greedy solves nothing"),
    (["--replay-from", "earlier.h5"], "--replay-from is the replay backend's, but the inline backend runs"),
], ids=["solve-time-limit", "replay-from"])
def test_an_option_of_another_method_or_backend_is_refused_not_ignored(tmp_path, args, message):
    """tune --method greedy --solve-time-limit 5, and --replay-from without --backend
    replay, ran (the inline backend measuring every configuration) as if the option had
    not been given, as Slurm options without a Slurm backend did before they were refused."""
    proc = run1(["-m", "pyharness.tune", "--budget", "1.5x", *args, "--out", str(tmp_path / "out.h5")],
                cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "out.h5").exists()


def test_profile_refuses_the_cpu_clock_without_events(tmp_path):
    """profile --no-profiling --cpu-clock ran without a word: no event records a clock."""
    proc = subprocess.run([sys.executable, "-m", "pyharness.profile", "--no-profiling", "--cpu-clock",
                           "--out", str(tmp_path / "p.h5")], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "--cpu-clock reads the CPU clock at every event, and --no-profiling records none" in proc.stderr
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.parametrize("tool", ["tune", "explore"])
@pytest.mark.parametrize("resume", [False, True])
def test_out_that_is_a_directory_is_said_to_be_one(tmp_path, tool, resume):
    """D15: --out /tmp was told '/tmp exists: use --resume'."""
    args = ["-m", f"pyharness.{tool}", "--out", str(tmp_path)] + (["--resume"] if resume else [])
    args += ["--budget", "1.5x"] if tool == "tune" else ["--samples", "2"]
    proc = mpirun(1, args, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert f"--out {tmp_path} is a directory" in proc.stderr, proc.stderr
    assert "use --resume" not in proc.stderr and "Traceback" not in proc.stderr


def test_failing_mpiexec_reports_its_own_message_not_its_frame(tmp_path):
    """D12: a failing mpiexec was reported as 'mpiexec exited with 1: -----' (a line of
    its frame); the reason inside the frame, or mpiexec's own error line, is what counts."""
    from pyharness.backends.base import RunFailed, RunRequest
    from pyharness.backends.local import LocalBackend
    from pyharness.config import Configuration
    runs = [(RunRequest("streamice", nranks=-2), (), "negative number of processes"),
            (RunRequest("streamice", nranks=1), ("--no-such-option",), "unknown option")]
    for request, extra, want in runs:
        with pytest.raises(RunFailed) as ei:
            LocalBackend(request, mpiexec_args=extra).run(Configuration(), str(tmp_path / "p.h5"))
        assert want in str(ei.value), str(ei.value)
        assert "---" not in str(ei.value)


def test_an_error_of_some_ranks_is_printed_once_naming_them(tmp_path):
    """Cosmetic: at N ranks an error was printed N times (lines glued together). With
    the local backend only rank 0 drives, so only rank 0 fails: one line, naming it,
    no hang while rank 1 has already finished."""
    proc = mpirun(2, ["-m", "pyharness.tune", "--kernel", "streamice", "--budget", "1.5x",
                      "--backend", "local", "--ranks", "1", "--limit", "1KiB", "--retries", "0",
                      "--no-progress", "--out", str(tmp_path / "t.h5")], cwd=tmp_path, timeout=300)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.startswith("pyharness.tune: error:")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pyharness.tune: error: [rank 0 of 2] the starting configuration "
                               "could not be run"), lines
    assert "limit" in lines[0]


@pytest.mark.parametrize("module", ["analyze", "gradcheck", "ingest", "optimize", "predict", "profile",
                                    "tune"])
def test_help_describes_the_command_in_whole_sentences(module):
    # --help's description is cut from the module's documentation: gradcheck's stopped at the
    # end of the docstring's first line, mid-sentence ("... Taylor test, finite differences,")
    import importlib
    desc = importlib.import_module(f"pyharness.{module}").build_parser().description.strip()
    assert desc.endswith("."), desc


def test_an_argparse_error_is_printed_once(tmp_path):
    proc = mpirun(2, ["-m", "pyharness.tune", "--budget", "1.5x", "--ranks", "x"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("invalid int value: 'x'") == 1, proc.stderr
    assert "[ranks 0-1 of 2]" in proc.stderr and "--help" in proc.stderr


# ---------------------------------------------------------------- issue 13: tune's result and history

@pytest.mark.parametrize("method", ["greedy", "optimal"])
def test_tune_that_ends_over_budget_fails_and_recommends_nothing(tmp_path, method):
    """D8: --budget 1KiB --max-steps 2 ended over budget with exit 0 and wrote that
    configuration as the recommendation."""
    proc = _tune1(tmp_path, "--budget", "1KiB", "--max-steps", "2", "--method", method)
    assert proc.returncode == 2, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "tune.config.json").exists()
    assert not (tmp_path / "tune.nocheckpoint.txt").exists()
    if method == "greedy":
        assert "still OVER THE BUDGET" in proc.stderr and "--max-steps" in proc.stderr, proc.stderr
        assert "tuning finished" not in proc.stdout
    else:
        assert "lowest predicted peak" in proc.stderr, proc.stderr


def test_resume_refuses_other_settings_of_the_history_and_says_what_to_pass(tmp_path):
    """D9: --resume took another --flips/--tolerance (and --rounds: how many runs a
    step's verdict rests on) silently; the history then no longer matched its own
    attributes, and a resumed run was not the uninterrupted one."""
    proc = _tune1(tmp_path, "--budget", "1.5x", "--max-steps", "0", "--method", "greedy")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # every site checkpointed, half the peak again to spend: the loop had flips to try
    assert "STOPPED BY --max-steps 0 with flips still to try" in proc.stdout
    import h5py
    with h5py.File(tmp_path / "tune.h5") as f:
        before = dict(f.attrs)
    for args, want in [(["--tolerance", "0.05", "--method", "greedy"], "pass --tolerance 0"),
                       (["--flips", "2", "--method", "greedy"], "pass --flips 1"),
                       (["--method", "optimal"], "pass --method greedy"),
                       (["--repeat", "2", "--method", "greedy"], "pass --repeat 1"),
                       (["--limit", "10MiB", "--method", "greedy"], "pass no --limit"),
                       (["--rounds", "3", "--method", "greedy"], "pass --rounds 2")]:
        proc = _tune1(tmp_path, "--budget", "1.5x", "--max-steps", "0", "--resume", *args)
        assert proc.returncode == 2, (args, proc.stdout[-1000:])
        assert "cannot resume" in proc.stderr and want in proc.stderr, (args, proc.stderr)
    with h5py.File(tmp_path / "tune.h5") as f:
        assert dict(f.attrs).keys() == before.keys() and len(f["steps"]) == 1
    # the same settings continue it
    proc = _tune1(tmp_path, "--budget", "1.5x", "--max-steps", "0", "--resume", "--method", "greedy")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_start_that_could_not_run_is_resumed_with_the_option_that_fixes_it(tmp_path):
    """A start over its --limit said 'raise the limit' and 'fix the cause and run the same
    command with --resume'; the resume with a higher --limit was then refused ('it was made
    with limit=102400 ... pass --limit 102400B'), and a run without --resume found tune.h5
    existing: the only way on was another --out. Nothing is recorded, so --resume starts
    the history again with the new settings."""
    from pyharness.tuner.store import TuneStore
    proc = _tune1(tmp_path, "--budget", "1.5x", "--limit", "100KiB", "--max-steps", "0")
    assert proc.returncode == 2 and "could not be run" in proc.stderr and "--resume" in proc.stderr, \
        proc.stderr[-2000:]
    proc = _tune1(tmp_path, "--budget", "1.5x", "--limit", "2MiB", "--max-steps", "0", "--resume")
    assert proc.returncode == 0, proc.stderr[-2000:]
    store = TuneStore(tmp_path / "tune.h5")
    assert store.attrs()["limit"] == 2 * 1024 * 1024
    assert [r.step for r in store.records()] == [0]
    # once a step is recorded, the history's settings are fixed again
    proc = _tune1(tmp_path, "--budget", "1.5x", "--limit", "4MiB", "--max-steps", "0", "--resume")
    assert proc.returncode == 2 and "pass --limit 2097152B" in proc.stderr, proc.stderr[-2000:]


def test_replay_refuses_another_problems_measurements_before_writing_a_history(tmp_path):
    """A recorded history of streamice replayed for another size or kernel was served as
    this run's measurements (a 12-site calltree tuned on a 5-site tree's runs reported
    '1 of 12 sites inhibited', exit 0); and a --replay-from that failed to open left an
    empty tune.h5 that the corrected command refused to overwrite ('exists: use --resume')."""
    proc = _tune1(tmp_path, "--budget", "1.5x", "--max-steps", "0", out="ref.h5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = str(tmp_path / "ref.h5")
    for args, asked in ((["--size", "demo"], "--kernel streamice --size demo"),
                        (["--param", "nt=2"], "--param nt=2")):
        proc = _tune1(tmp_path, "--budget", "1.5x", "--backend", "replay", "--replay-from", ref, *args,
                      out="rep.h5")
        assert proc.returncode == 2 and "holds measurements of --kernel streamice --size small" in proc.stderr \
            and asked in proc.stderr, proc.stderr[-2000:]
        assert not (tmp_path / "rep.h5").exists()
    # runs of another rank count: a 1-rank history served as 2 ranks' measurements (exit 0)
    proc = _tune1(tmp_path, "--budget", "1.5x", "--backend", "replay", "--replay-from", ref, "--ranks", "2",
                  out="rep.h5")
    assert proc.returncode == 2 and "holds measurements of runs on 1 rank(s), this run asks for 2" \
        in proc.stderr and "replay with --ranks 1 (or without --ranks)" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "rep.h5").exists()
    # the size's own parameters given one by one are the same problem
    proc = _tune1(tmp_path, "--budget", "1.5x", "--backend", "replay", "--replay-from", ref,
                  "--param", "nx=48", "--max-steps", "0", out="same.h5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = _tune1(tmp_path, "--budget", "1.5x", "--backend", "replay", "--replay-from",
                  str(tmp_path / "nothere.h5"), out="rep.h5")
    assert proc.returncode == 2 and "does not exist" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "rep.h5").exists()
    proc = _tune1(tmp_path, "--budget", "1.5x", "--backend", "replay", "--replay-from", ref,
                  "--max-steps", "0", out="rep.h5")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_replay_honours_the_stack_limit(tmp_path):
    """D11: the replay backend ignored --limit (steps at 506 KiB under a 100 KiB limit,
    exit 0). A recorded configuration above the limit fails as the real run would."""
    from pyharness.tuner.store import TuneStore
    # --rounds 1: each step one run against the incumbent's recorded one, so the replay
    # (one measurement per configuration) takes the same path
    proc = _tune1(tmp_path, "--budget", "3x", "--max-steps", "6", "--method", "greedy", "--rounds", "1",
                  out="ref.h5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = TuneStore(tmp_path / "ref.h5").records()
    peaks = sorted({r.measurement.peak for r in ref if r.measurement is not None})
    if peaks[-1] == ref[0].measurement.peak:
        pytest.skip("no step above the start's peak to put a limit under")
    limit = peaks[-1] - 1                     # at or above the start, below the highest step
    proc = _tune1(tmp_path, "--budget", "3x", "--max-steps", "6", "--method", "greedy", "--rounds", "1",
                  "--backend", "replay", "--replay-from", str(tmp_path / "ref.h5"), "--limit", f"{limit}B",
                  out="rep.h5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    recs = TuneStore(tmp_path / "rep.h5").records()
    assert all(r.measurement.peak <= limit for r in recs if r.measurement is not None)
    # every recorded configuration above the limit fails as the real run would; once one
    # has failed, the replay's path leaves the reference's, and configurations the
    # reference never ran fail as not measured
    ref_peak = {frozenset(r.inhibited): r.measurement.peak for r in ref if r.measurement is not None}
    failed = [r for r in recs if r.decision == "failed"]
    over = [r for r in failed if ref_peak.get(frozenset(r.inhibited), -1) > limit]
    assert over, [(r.decision, r.reason) for r in recs]
    for r in failed:
        if frozenset(r.inhibited) in ref_peak:
            assert "stack limit" in r.reason, (r.inhibited, r.reason)
        else:
            assert "not measured" in r.reason, (r.inhibited, r.reason)


def test_slurm_backend_passes_the_stack_limit_to_its_job(tmp_path, monkeypatch):
    """D11: the slurm backend ignored --limit. A stand-in sbatch records what the job
    would get; the job script turns PYHARNESS_LIMIT into profile's --limit."""
    from pyharness.backends.base import RunRequest
    from pyharness.backends.slurm import SlurmBackend, job_script
    from pyharness.config import Configuration
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "sbatch").write_text(f"#!/bin/sh\necho \"$PYHARNESS_LIMIT\" > {tmp_path}/limit\necho 42\n")
    (bin_ / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:{__import__('os').environ['PATH']}")
    b = SlurmBackend(RunRequest("streamice"), stack_limit=123456)
    assert b.submit(Configuration(), str(tmp_path / "p.h5")) == "42"
    assert (tmp_path / "limit").read_text().strip() == "123456"
    assert '--limit "$PYHARNESS_LIMIT"' in job_script("profile.sbatch").read_text()


_ONE_RANK_FAILS = """
import sys
from mpi4py import MPI
from pyharness.errors import PyharnessError
from pyharness.mpiutil import run_cli

def main(argv):
    comm = MPI.COMM_WORLD
    if comm.rank == 1:
        if "{how}" == "exit":
            sys.exit("rank 1 gave up")
        raise PyharnessError("only rank 1 failed")
    if "{then}" == "collective":
        comm.barrier()          # rank 0 waits for a rank that left: it never comes
    return 0

sys.exit(run_cli("demo", main))
"""


@pytest.mark.parametrize("how,then", [("raise", "return"), ("exit", "return"), ("raise", "collective")])
def test_an_error_of_one_rank_is_printed_once_and_never_hangs(tmp_path, how, then):
    """Errors go to rank 0 point to point (no collective): one line naming the rank, also
    when rank 0 succeeded, and also when rank 0 is blocked in a collective the failing
    rank left (then the failing rank says it itself, after a bounded wait)."""
    script = tmp_path / "demo.py"
    script.write_text(_ONE_RANK_FAILS.replace("{how}", how).replace("{then}", then))
    proc = mpirun(2, [str(script)], cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.startswith("demo: error:")]
    want = "rank 1 gave up" if how == "exit" else "only rank 1 failed"
    assert lines == [f"demo: error: [rank 1 of 2] {want}"], proc.stderr


@pytest.mark.parametrize("args", [["-m", "pyharness.sites", "--kernel", "streamice"],
                                  ["-m", "pyharness.sites", "--list-kernels"]])
def test_output_into_a_pipe_whose_reader_left_is_dropped_without_a_traceback(tmp_path, args):
    """`python -m pyharness.sites ... | head`: when the reader has closed the pipe before
    the tool writes, the output is dropped; no BrokenPipeError traceback, status 0."""
    p = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=tmp_path)
    p.stdout.close()            # the reader leaves before the tool (still importing) writes
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_command_started_in_the_checkout_says_it_imported_the_sources(tmp_path):
    """The README's cluster driver, `~/ph/bin/python -m pyharness.tune ...`, run in the
    checkout where `pip install .` was just typed, imported the sources (the current
    directory comes first on sys.path) and stopped with "cannot import name 'phapi'
    from 'pyharness'", which says neither why nor what to do."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    proc = subprocess.run([sys.executable, "-m", "pyharness.sites", "--kernel", "calltree"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "imported from its source tree" in proc.stderr and "PYTHONSAFEPATH=1" in proc.stderr, proc.stderr


@pytest.mark.parametrize("args, given, fix", [
    (["-m", "pyharness.tune", "--budget", "1.5x", "--max-steps", "0", "--partition", "debug",
      "--sbatch-arg=--qos=normal"], "--partition, --sbatch-arg are Slurm options", "--backend slurm"),
    (["-m", "pyharness.tune", "--budget", "1.5x", "--max-steps", "0", "--backend", "local",
      "--time-limit", "00:20:00"], "--time-limit is a Slurm option", "--backend slurm"),
    (["-m", "pyharness.explore", "--samples", "1", "--max-parallel", "4"], "--max-parallel is a Slurm option",
     "--backend slurm")])
def test_slurm_options_without_the_slurm_backend_are_refused(tmp_path, args, given, fix):
    """The README's driver without its --backend slurm (--partition, --account,
    --time-limit... given) ran every configuration on the login node with the default
    inline backend, the Slurm options silently unused."""
    proc = mpirun(1, args + ["--kernel", "calltree", "--no-progress" if "tune" in args[1] else "--seed=0",
                             "--out", str(tmp_path / "o.h5")], cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert given in proc.stderr and f"add {fix}" in proc.stderr, proc.stderr
    assert not (tmp_path / "o.h5").exists()


def test_tune_starts_with_the_snapshot_count_of_its_config_file(tmp_path):
    """tune --config FILE whose JSON says "snapshots": 2 recorded that start and ran it
    with 0 snapshots (the default of --snapshots), as a look at the start's profile
    showed; --snapshots overrides the file's, as in profile and explore."""
    from pyharness.tuner.store import TuneStore
    cfg = tmp_path / "start.json"
    cfg.write_text('{"inhibited": [], "snapshots": 2}')
    for extra, want in (([], 2), (["--snapshots", "1"], 1)):
        out = tmp_path / f"t{want}.h5"
        proc = run1(["-m", "pyharness.tune", "--kernel", "calltree", "--param", "nsteps=3", "--budget",
                     "1.5x", "--config", str(cfg), *extra, "--max-steps", "0", "--no-progress",
                     "--out", str(out)], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        start = TuneStore(out).records()[0].measurement.profile
        with h5py.File(start if os.path.isabs(start) else tmp_path / start) as f:
            assert int(f["config"].attrs["snapshots"]) == want
