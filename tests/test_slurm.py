"""The slurm backend and the job scripts against a real Slurm on localhost.

The Slurm daemons are started by the project's own script (scripts/slurm-up.sh);
these tests are skipped only when Slurm cannot be started at all on this machine
(the `slurm` fixture of conftest.py).
"""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import pytest

from phtest import ROOT
from pyharness.backends.base import RunFailed, RunRequest
from pyharness.config import Configuration
from pyharness.tuner.store import TuneStore


def sbatch_wait(tmp_path, env, script="profile.sbatch", args=()):
    e = dict(os.environ)
    e.update(env)
    e["PYHARNESS_VENV"] = str(os.path.dirname(os.path.dirname(sys.executable)))
    proc = subprocess.run(["sbatch", "--wait", "--overcommit", "--ntasks=2", f"--chdir={tmp_path}",
                           f"--output={tmp_path}/job-%j.out", *args, str(ROOT / "jobs" / script)],
                          capture_output=True, text=True, env=e, timeout=600)
    logs = "".join(p.read_text() for p in tmp_path.glob("job-*.out"))
    return proc, logs


@pytest.fixture(scope="module")
def over_time_job(slurm, tmp_path_factory):
    """A job that runs into its time limit, submitted through the backend in a thread as
    soon as this module's first test starts, and judged by its last test. Slurm's time
    limits are whole minutes, checked every 30 s: the job takes 60-90 s, which the tests in
    between use instead of waiting for it. It sleeps in its one task (PYHARNESS_HANG_AT,
    in the job's environment only), so it holds one core and no CPU time; the other
    tests' jobs ask --overcommit and fit on the other core."""
    import threading
    d = tmp_path_factory.mktemp("over_time")
    b = slurm_backend(d, time_limit="1")
    b.request = RunRequest("calltree", "small", (), 1)
    b.extra_args = (*b.extra_args, "--export=ALL,PYHARNESS_HANG_AT=profile-started")
    result = {}

    def run():
        try:
            b.run(Configuration(), str(d / "slow.h5"))
            result["error"] = None
        except RunFailed as exc:
            result["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield t, result, d


@pytest.mark.parametrize("launcher", ["srun", "mpiexec"])
def test_profile_job_at_two_ranks(slurm, tmp_path, launcher, over_time_job):
    out = tmp_path / "p.h5"
    proc, logs = sbatch_wait(tmp_path, {"PYHARNESS_OUT": str(out), "PYHARNESS_LAUNCHER": launcher,
                                        "PYHARNESS_KERNEL": "streamice"})
    assert proc.returncode == 0, proc.stderr + logs
    with h5py.File(out) as f:
        assert f.attrs["nranks"] == 2 and f.attrs["kernel"] == "streamice"
        assert len(f["events"]) == 2


def test_tuning_loop_inside_one_allocation(slurm, tmp_path):
    out = tmp_path / "tune.h5"
    proc, logs = sbatch_wait(tmp_path, {"PYHARNESS_OUT": str(out), "PYHARNESS_TUNE_ARGS": "--max-steps 3",
                                        "PYHARNESS_KERNEL": "calltree"}, script="tune.sbatch")
    assert proc.returncode == 0, proc.stderr + logs
    assert len(TuneStore(out).records()) >= 2


def slurm_backend(tmp_path, **kw):
    from pyharness.backends.slurm import SlurmBackend
    return SlurmBackend(RunRequest("calltree", "small", (), 2), time_limit=kw.pop("time_limit", "5"),
                        extra_args=("--overcommit",), poll_max=2.0, **kw)


def test_tune_with_slurm_steps(slurm, tmp_path):
    # --rounds 1: one job per step (the alternating rounds are the loop's, tested with
    # the inline and replay backends; here every step is a job)
    out = tmp_path / "tune.h5"
    proc = subprocess.run([sys.executable, "-m", "pyharness.tune", "--method", "greedy", "--kernel", "calltree", "--backend", "slurm",
                           "--ranks", "2", "--budget", "1.5x", "--max-steps", "4", "--rounds", "1", "--no-progress",
                           "--sbatch-arg=--overcommit", "--time-limit", "5", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(out).records()
    budget = 1.5 * recs[0].measurement.peak
    assert len(recs) >= 3, [r.decision for r in recs]        # the start and steps, each a job
    assert all(r.job_id for r in recs if r.measurement is not None)
    acc = [r for r in recs if r.decision in ("start", "accepted")]
    assert all(r.measurement.peak <= budget for r in acc)
    assert acc[-1].measurement.grad_digest == recs[0].measurement.grad_digest


def test_failed_job_is_reported_with_state_and_exit_code(slurm, tmp_path):
    b = slurm_backend(tmp_path)
    bad = Configuration(frozenset({"no_such_site@nowhere.f:1"}))     # the job's profile run refuses it
    with pytest.raises(RunFailed) as err:
        b.run(bad, str(tmp_path / "bad.h5"))
    assert err.value.state == "FAILED" and err.value.exit_code == 2
    assert "unknown site" in str(err.value)


def test_stack_limit_reaches_the_job(slurm, tmp_path):
    """D11 on a real Slurm (beside tests/test_cli.py's stand-in sbatch): the job's profile
    run gets --limit, stops cleanly beyond it, and the step fails saying so."""
    b = slurm_backend(tmp_path, stack_limit=1024)
    with pytest.raises(RunFailed) as err:
        b.run(Configuration(), str(tmp_path / "lim.h5"))
    assert "stack limit" in str(err.value), str(err.value)
    assert not (tmp_path / "lim.h5").exists()


def test_cancelled_job(slurm, tmp_path):
    b = slurm_backend(tmp_path)
    # a long run: calltree with many time steps
    b.request = RunRequest("calltree", "small", (("nsteps", "200000"),), 2)
    job = b.submit(Configuration(), str(tmp_path / "long.h5"))
    time.sleep(2)
    subprocess.run(["scancel", job], check=True)
    state, code, _ = b.wait(job)
    assert state.startswith("CANCELLED")


def test_resume_after_driver_killed_while_a_job_runs(slurm, tmp_path):
    out = tmp_path / "tune.h5"
    cmd = [sys.executable, "-m", "pyharness.tune", "--method", "greedy", "--kernel", "calltree", "--param", "nsteps=100",
           "--backend", "slurm", "--ranks", "2", "--budget", "1.5x", "--max-steps", "2", "--rounds", "1", "--no-progress",
           "--sbatch-arg=--overcommit", "--time-limit", "10", "--out", str(out)]
    p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pending = None
    deadline = time.time() + 300
    while time.time() < deadline and pending is None:
        time.sleep(0.3)
        try:
            pend = TuneStore(out).pending()
        except Exception:
            pend = None
        if pend and pend.get("job_id"):
            pending = pend
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert pending is not None, "no job was submitted"
    # the job was still in flight when its driver died (else this would test the
    # collection of a finished job, which the fault tests below do)
    state = subprocess.run(["squeue", "-h", "-o", "%T", "-j", str(pending["job_id"])],
                           capture_output=True, text=True).stdout.strip()
    assert state in ("PENDING", "CONFIGURING", "RUNNING"), state
    proc = subprocess.run(cmd + ["--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = TuneStore(out).records()
    # the job in flight at the kill was waited for, not submitted again
    assert str(pending["job_id"]) in [r.job_id for r in recs]
    ids = [r.job_id for r in recs if r.job_id]
    assert len(ids) == len(set(ids))


def test_exploration_as_a_job_array(slurm, tmp_path):
    out = tmp_path / "e.h5"
    proc = subprocess.run([sys.executable, "-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=2",
                           "--exhaustive", "--backend", "slurm", "--ranks", "2", "--sbatch-arg=--overcommit",
                           "--time-limit", "5", "--out", str(out)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with h5py.File(out) as f:
        samples = [f["samples"][s] for s in sorted(f["samples"])]
        assert len(samples) == 4
        jobs = {s.attrs["job_id"].split("_")[0] for s in samples}
    assert len(jobs) == 1          # one array job, four tasks


# ---------------------------------------------------------------- faults (issue 13)

def _tune_cmd(out, *extra):
    # --rounds 1: one job per step (the paper's loop), so a step's job is the one recorded
    return [sys.executable, "-m", "pyharness.tune", "--method", "greedy", "--rounds", "1", "--kernel", "calltree",
            "--backend", "slurm", "--ranks", "2", "--budget", "1.5x", "--no-progress",
            "--sbatch-arg=--overcommit", "--time-limit", "5", "--out", str(out), *extra]


def _env(**kw):
    e = dict(os.environ)
    e.pop("PYHARNESS_STOP_AT", None)
    e.update(kw)
    return e


def test_a_step_whose_job_finished_before_a_kill_is_collected_not_run_again(slurm, tmp_path):
    """D1: the driver is killed after step 1's job COMPLETED and before the step is
    recorded. The step's in-flight record ends only with the step itself (one
    rename), so --resume finds the job and collects its result: no second job."""
    out = tmp_path / "tune.h5"
    p = subprocess.run(_tune_cmd(out, "--max-steps", "2"), cwd=tmp_path, capture_output=True, text=True,
                       timeout=900, env=_env(PYHARNESS_STOP_AT="run-done@2"))
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    assert len(TuneStore(out).records()) == 1
    pend = TuneStore(out).pending()
    assert pend and pend["job_id"], pend
    state = subprocess.run(["scontrol", "show", "job", "-o", pend["job_id"]], capture_output=True,
                           text=True).stdout
    assert "JobState=COMPLETED" in state, state
    p = subprocess.run(_tune_cmd(out, "--max-steps", "2", "--resume"), cwd=tmp_path, capture_output=True,
                       text=True, timeout=900, env=_env())
    assert p.returncode == 0, p.stderr[-3000:]
    recs = TuneStore(out).records()
    assert recs[1].job_id == pend["job_id"] and recs[1].attempts == 1
    ids = [r.job_id for r in recs if r.job_id]
    assert len(ids) == len(set(ids))
    # one job, one log for step 1: nothing was submitted again
    assert [q.name for q in (tmp_path / "tune.h5.profiles").glob("step_00001.*out")] == ["step_00001.attempt1.out"]
    assert TuneStore(out).pending() is None


def test_a_job_submitted_but_not_yet_recorded_never_runs_twice(slurm, tmp_path):
    """Killed between sbatch and recording its id: the job was submitted held, so it
    never started; --resume cancels it and runs the step once."""
    out = tmp_path / "tune.h5"
    p = subprocess.run(_tune_cmd(out, "--max-steps", "0"), cwd=tmp_path, capture_output=True, text=True,
                       timeout=900, env=_env(PYHARNESS_STOP_AT="job-submitted"))
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    p = subprocess.run(_tune_cmd(out, "--max-steps", "0", "--resume"), cwd=tmp_path, capture_output=True,
                       text=True, timeout=900, env=_env())
    assert p.returncode == 0, p.stderr[-3000:]
    assert "never started" in p.stderr
    recs = TuneStore(out).records()
    assert len(recs) == 1 and recs[0].job_id


def test_a_failed_attempt_is_recorded_when_its_retry_succeeds(slurm, tmp_path):
    """D10: the first job of step 0 fails (an sbatch wrapper on PATH gives it a kernel
    that does not exist), the retry succeeds: the failed job's id, state and exit code
    stay in the step's record, and each attempt has its own log."""
    wrap = tmp_path / "bin"
    wrap.mkdir()
    real = subprocess.run(["which", "sbatch"], capture_output=True, text=True).stdout.strip()
    (wrap / "sbatch").write_text(
        "#!/bin/bash\n"
        f"n=$(cat {tmp_path}/count 2>/dev/null || echo 0); echo $((n+1)) > {tmp_path}/count\n"
        'if [ "$n" = 0 ]; then export PYHARNESS_KERNEL=no_such_kernel; fi\n'
        f'exec {real} "$@"\n')
    (wrap / "sbatch").chmod(0o755)
    out = tmp_path / "tune.h5"
    p = subprocess.run(_tune_cmd(out, "--max-steps", "0", "--retries", "1"), cwd=tmp_path,
                       capture_output=True, text=True, timeout=900,
                       env=_env(PATH=f"{wrap}:{os.environ['PATH']}"))
    assert p.returncode == 0, p.stderr[-3000:]
    (rec,) = TuneStore(out).records()
    assert rec.attempts == 2 and rec.measurement is not None
    (failed,) = rec.attempt_log
    assert failed["attempt"] == 1 and failed["state"] == "FAILED" and failed["exit_code"] not in (None, 0)
    assert failed["job_id"] and failed["job_id"] != rec.job_id
    logs = tmp_path / "tune.h5.profiles"
    first, second = logs / "step_00000.attempt1.out", logs / "step_00000.attempt2.out"
    assert failed["log"] == str(first)
    assert "no_such_kernel" in first.read_text()          # the failure's log, not overwritten
    assert second.exists() and "no_such_kernel" not in second.read_text()


def _explore_cmd(out):
    return [sys.executable, "-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=2",
            "--exhaustive", "--backend", "slurm", "--ranks", "2", "--sbatch-arg=--overcommit",
            "--time-limit", "5", "--max-parallel", "1", "--out", str(out)]


def _array_logs(d):
    return sorted(p.name for p in (d / "e.h5.profiles").glob("array-*.out"))


def test_explore_resume_reattaches_to_its_running_array(slurm, tmp_path):
    """D2: killed after the first samples were written while its array still runs,
    --resume waits for that array instead of submitting a new one: every sample
    measured once, by one array."""
    out = tmp_path / "e.h5"
    p = subprocess.run(_explore_cmd(out), cwd=tmp_path, capture_output=True, text=True, timeout=900,
                       env=_env(PYHARNESS_STOP_AT="sample-written"))
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    with h5py.File(out) as f:
        assert 1 <= len(f["samples"]) < 4
    p = subprocess.run(_explore_cmd(out) + ["--resume"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=900, env=_env())
    assert p.returncode == 0, p.stderr[-3000:]
    assert "re-attached" in p.stdout + p.stderr
    with h5py.File(out) as f:
        jobs = [f["samples"][s].attrs["job_id"] for s in sorted(f["samples"])]
    assert len(jobs) == 4
    assert len({j.split("_")[0] for j in jobs}) == 1
    logs = _array_logs(tmp_path)
    assert len(logs) == 4 and len({l.split("_")[0] for l in logs}) == 1, logs    # no task ran twice


def test_explore_array_submitted_but_not_recorded_never_runs(slurm, tmp_path):
    """Killed between sbatch and recording the array's id: the array was submitted held
    and never ran; --resume cancels it and runs each sample once."""
    out = tmp_path / "e.h5"
    p = subprocess.run(_explore_cmd(out), cwd=tmp_path, capture_output=True, text=True, timeout=900,
                       env=_env(PYHARNESS_STOP_AT="array-submitted"))
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    p = subprocess.run(_explore_cmd(out) + ["--resume"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=900, env=_env())
    assert p.returncode == 0, p.stderr[-3000:]
    assert "never started" in p.stdout + p.stderr
    logs = _array_logs(tmp_path)
    assert len(logs) == 4 and len({l.split("_")[0] for l in logs}) == 1, logs


def test_a_job_recorded_but_still_held_at_the_kill_is_released_on_resume(slurm, tmp_path):
    """Killed after the job's id was recorded and before its release: --resume releases
    that very job and waits for it, submitting nothing."""
    out = tmp_path / "tune.h5"
    p = subprocess.run(_tune_cmd(out, "--max-steps", "0"), cwd=tmp_path, capture_output=True, text=True,
                       timeout=900, env=_env(PYHARNESS_STOP_AT="pending-written"))
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    pend = TuneStore(out).pending()
    state = subprocess.run(["squeue", "-h", "-j", pend["job_id"], "-o", "%r"], capture_output=True,
                           text=True).stdout
    assert "Held" in state, state
    p = subprocess.run(_tune_cmd(out, "--max-steps", "0", "--resume"), cwd=tmp_path, capture_output=True,
                       text=True, timeout=900, env=_env())
    assert p.returncode == 0, p.stderr[-3000:]
    (rec,) = TuneStore(out).records()
    assert rec.job_id == pend["job_id"] and rec.attempts == 1


@pytest.mark.parametrize("script", ["profile.sbatch", "tune.sbatch"])
def test_job_script_refuses_a_venv_path_that_is_not_a_venv(tmp_path, script):
    """PYHARNESS_VENV=<mistyped path> was prepended to PATH and forgotten: the job ran
    whatever python came first on PATH (an older install, or none: 'No module named
    pyharness', which does not name the variable). Run directly with bash (no Slurm),
    the script stops at once naming PYHARNESS_VENV; nothing is run."""
    env = dict(os.environ, PYHARNESS_VENV=str(tmp_path / "no-such-venv"), PYHARNESS_LAUNCHER="mpiexec",
               PYHARNESS_KERNEL="calltree", PYHARNESS_TUNE_ARGS="--max-steps 0",
               PYHARNESS_OUT=str(tmp_path / "out.h5"), SLURM_NTASKS="1")
    proc = subprocess.run(["bash", str(ROOT / "jobs" / script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"PYHARNESS_VENV={tmp_path / 'no-such-venv'} has no bin/python" in proc.stderr
    assert not (tmp_path / "out.h5").exists()


def test_tune_job_resume_without_the_history_to_continue_names_pyharness_out(tmp_path):
    """PYHARNESS_RESUME=1 without PYHARNESS_OUT resumed the default tune-<this job's
    id>.h5, new with every job, and was told '--resume: ... does not exist; run without
    --resume', never that PYHARNESS_OUT names the history to continue."""
    env = dict(os.environ, PYHARNESS_VENV=str(os.path.dirname(os.path.dirname(sys.executable))),
               PYHARNESS_LAUNCHER="mpiexec", PYHARNESS_KERNEL="calltree", PYHARNESS_RESUME="1",
               SLURM_NTASKS="1", SLURM_JOB_ID="77")
    env.pop("PYHARNESS_OUT", None)
    proc = subprocess.run(["bash", str(ROOT / "jobs" / "tune.sbatch")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "PYHARNESS_RESUME=1 needs PYHARNESS_OUT" in proc.stderr, proc.stderr


def test_array_job_submitted_away_from_the_checkout_says_where_profile_sbatch_is(tmp_path):
    """profile-array.sbatch submitted from another directory (a cluster user's work
    directory, pyharness installed in a venv) died with 'bash: .../jobs/profile.sbatch:
    No such file or directory' (exit 127), never naming PYHARNESS_JOBS_DIR. Run
    directly with bash as array task 0 of a job submitted from tmp_path."""
    (tmp_path / "cfg").mkdir()
    env = dict(os.environ, PYHARNESS_CONFIG_DIR=str(tmp_path / "cfg"), SLURM_ARRAY_TASK_ID="0",
               SLURM_SUBMIT_DIR=str(tmp_path))
    env.pop("PYHARNESS_JOBS_DIR", None)
    proc = subprocess.run(["bash", str(ROOT / "jobs" / "profile-array.sbatch")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"no profile.sbatch in {tmp_path}/jobs" in proc.stderr and "PYHARNESS_JOBS_DIR" in proc.stderr


def test_a_job_asking_more_than_the_partition_is_cancelled_not_left_pending(slurm, tmp_path):
    """More ranks than the node has CPUs, without --overcommit: the held job cannot be
    released ('Requested partition configuration not available now'). The driver gave
    the attempt up but left the job pending in the queue (reason PartitionConfig),
    one more per retry, each free to run later beside a resumed driver's job."""
    from pyharness.backends.slurm import SlurmBackend, job_state
    store = TuneStore(tmp_path / "tune.h5")
    store.create({"kernel": "calltree"}, [])
    b = SlurmBackend(RunRequest("calltree", "small", (), (os.cpu_count() or 1) + 1), time_limit="5",
                     store=store, poll_max=2.0)
    with pytest.raises(RunFailed) as err:
        b.run(Configuration(), str(tmp_path / "p.h5"), label="step 0")
    assert err.value.job_id and not err.value.retryable
    assert "--ranks" in str(err.value) and "cancelled" in str(err.value)
    assert job_state(err.value.job_id)[0] == "CANCELLED"


def test_explore_whose_array_tasks_all_fail_says_why_and_fails(slurm, tmp_path):
    """Every array task failed (here: a launcher the job script refuses): explore printed
    'sample 0: job N_0 ended FAILED (exit code 2)' without the reason or the log, then
    '0 of 1 configurations measured' and exited 0."""
    env = dict(os.environ, PYHARNESS_LAUNCHER="bogus")
    proc = subprocess.run([sys.executable, "-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=2",
                           "--samples", "1", "--backend", "slurm", "--ranks", "2", "--sbatch-arg=--overcommit",
                           "--time-limit", "5", "--out", str(tmp_path / "e.h5")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2, said
    assert "PYHARNESS_LAUNCHER must be srun or mpiexec" in said, said
    assert f"(log {tmp_path}/e.h5.profiles/array-" in said
    assert "no configuration could be measured" in proc.stderr and "--resume" in proc.stderr


def test_explore_array_runs_its_own_repeat_and_not_the_callers_limit(slurm, tmp_path):
    """explore --backend slurm --repeat 2 ran every array task with --repeat 1 (the
    array's environment had no PYHARNESS_REPEAT), and a PYHARNESS_LIMIT left exported
    in the caller's shell (for an sbatch of profile.sbatch) reached every task."""
    env = dict(os.environ, PYHARNESS_LIMIT="1KiB")
    proc = subprocess.run([sys.executable, "-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=2",
                           "--samples", "1", "--repeat", "2", "--backend", "slurm", "--ranks", "2",
                           "--sbatch-arg=--overcommit", "--time-limit", "5", "--out", str(tmp_path / "e.h5")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (log,) = (tmp_path / "e.h5.profiles").glob("array-*.out")
    ran = log.read_text().splitlines()[0]
    assert "--repeat 2" in ran and "--limit" not in ran, ran


def test_an_interrupted_driver_says_its_job_still_runs_and_how_to_collect_it(slurm, tmp_path, capsys):
    """Ctrl-C of the driver while a step's job ran printed 'pyharness.tune: interrupted'
    alone: the job went on in the queue, unmentioned (by design: --resume collects it)."""
    from pyharness.backends.slurm import SlurmBackend
    store = TuneStore(tmp_path / "tune.h5")
    store.create({"kernel": "calltree"}, [])
    b = SlurmBackend(RunRequest("calltree", "small", (), 2), store=store)

    def interrupted(job_id):
        raise KeyboardInterrupt
    b.wait = interrupted
    b.release = lambda job_id: None
    with pytest.raises(KeyboardInterrupt):
        b.submit_and_wait(lambda hold: "4242", str(tmp_path / "p.h5"), "step 3")
    err = capsys.readouterr().err
    assert "job 4242 (step 3) is still in the queue" in err and "--resume" in err and "scancel 4242" in err


def test_job_over_its_time_limit(over_time_job):
    """Last in this module: the job of ``over_time_job`` ran past its 1-minute limit."""
    t, result, d = over_time_job
    t.join(timeout=400)
    assert not t.is_alive(), "the job over its time limit was never ended by Slurm"
    err = result["error"]
    assert isinstance(err, RunFailed), f"the job ended without failing: {result}"
    assert err.state == "TIMEOUT", (err.state, str(err))
    # it was the time limit, not the hang point failing to take: the task did hang
    logs = "".join(p.read_text(errors="replace") for p in d.glob("*.out"))
    assert "hanging at profile-started" in logs, logs[-2000:]
