"""Faults, quick and deterministic: kills at named points (PYHARNESS_STOP_AT), two
writers on one --out, temporary files of killed writers, histories read from
another directory. The Slurm cases (a step's job in flight, a job array, a failed
attempt) are in tests/test_slurm.py.

Every kill here is ``kill -9`` at a point the driver names (pyharness/faults.py),
so each case lands in its window every time.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from phtest import MPI_ENV, mpirun, procs_mentioning as _procs_mentioning, wait_for as _wait_for
from pyharness.durable import OutputLock
from pyharness.tuner.store import TuneStore

KERNEL = ["--kernel", "calltree"]
# --rounds 1: the paper's loop (one candidate run per step against the incumbent's
# recorded run), whose history a replay follows step for step
TUNE = [sys.executable, "-m", "pyharness.tune", *KERNEL, "--method", "greedy", "--rounds", "1",
        "--budget", "1.5x", "--max-steps", "6", "--no-progress"]


def run(cmd, cwd, env=None, timeout=300):
    e = dict(os.environ)
    e.pop("PYHARNESS_STOP_AT", None)
    e.update(env or {})
    return subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)


def history(out):
    return [(r.step, r.phase, r.flips, r.decision, r.inhibited) for r in TuneStore(out).records()]


def tmp_files(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*.tmp.*"))


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """A real, uninterrupted history (inline backend), written with a relative --out."""
    d = tmp_path_factory.mktemp("ref")
    p = run(TUNE + ["--out", "tune.h5"], cwd=d)
    assert p.returncode == 0, p.stderr[-3000:]
    assert len(TuneStore(d / "tune.h5").records()) >= 4
    return d / "tune.h5"


def test_each_step_is_one_small_file_and_tune_h5_links_them(ref):
    """tune.h5 is not copied on every append: each step is its own file, committed by
    rename, and tune.h5 is an index that h5py readers see as before (issue 14, item 3)."""
    recs = TuneStore(ref).records()
    steps = ref.with_name("tune.h5.steps")
    assert sorted(p.name for p in steps.glob("*.h5")) == [f"{r.step:05d}.h5" for r in recs]
    with h5py.File(ref) as f:
        assert sorted(f["steps"]) == [f"{r.step:05d}" for r in recs]
        for r in recs:
            link = f["steps"].get(f"{r.step:05d}", getlink=True)
            assert isinstance(link, h5py.ExternalLink)
            g = f["steps"][f"{r.step:05d}"]          # read through the link, as before
            assert json.loads(g.attrs["inhibited"]) == list(r.inhibited)
            assert int(max(g["peak_bytes"][()])) == r.measurement.peak
    # the index holds no step data: it stays small however long the history
    assert ref.stat().st_size < 64 * 1024
    assert not ref.with_name("tune.h5.steps").joinpath("pending.json").exists()


@pytest.mark.parametrize("point", ["run-done@3", "step-written@2", "tmp-written@10"])
def test_kill_at_a_named_point_then_resume_gives_the_uninterrupted_history(ref, tmp_path, point):
    """kill -9 between a run and its step, between a step's file and the index, and
    between a temporary file and its rename (the 10th: the replayed step 2's per-rank
    event file, beside its profile): the history is never torn, the resumed run
    repeats no step and ends as the uninterrupted one, and the killed writer's
    temporary file is gone after the resume (D5)."""
    cmd = TUNE + ["--backend", "replay", "--replay-from", str(ref), "--out", "tune.h5"]
    p = run(cmd, cwd=tmp_path, env={"PYHARNESS_STOP_AT": point})
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr[-2000:])
    assert "SIGKILL at " + point in p.stderr
    before = history(tmp_path / "tune.h5")           # readable: nothing torn
    assert 1 <= len(before) < len(history(ref))
    if point.startswith("tmp-written"):
        assert tmp_files(tmp_path), "the kill left no temporary file"
    p = run(cmd + ["--resume"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    after = history(tmp_path / "tune.h5")
    assert [h[0] for h in after] == list(range(len(after)))      # no step repeated or lost
    assert [h[1:] for h in after] == [h[1:] for h in history(ref)]
    assert tmp_files(tmp_path) == []
    # the index links every step again (also one committed just before the kill)
    with h5py.File(tmp_path / "tune.h5") as f:
        assert sorted(f["steps"]) == [f"{h[0]:05d}" for h in after]


def test_a_second_writer_is_told_who_holds_the_output(ref, tmp_path):
    """D4: a --resume (or a new run) on an --out another process writes stops at once,
    on every rank, naming that process; no traceback, the history untouched."""
    out = tmp_path / "tune.h5"
    shutil.copy(ref, out)
    shutil.copytree(ref.with_name("tune.h5.steps"), tmp_path / "tune.h5.steps")
    shutil.copytree(ref.with_name("tune.h5.profiles"), tmp_path / "tune.h5.profiles")
    before = history(out)
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from pyharness.durable import OutputLock; "
                               f"OutputLock({str(out)!r}, 'tune').acquire(); print('locked', flush=True); "
                               "time.sleep(120)"], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert holder.stdout.readline().strip() == "locked"
        p = mpirun(2, ["-m", "pyharness.tune", *KERNEL, "--method", "greedy", "--budget", "1.5x",
                       "--max-steps", "6", "--no-progress", "--out", str(out), "--resume"], cwd=tmp_path)
        assert p.returncode != 0
        assert "Traceback" not in p.stderr, p.stderr
        # every rank stops; rank 0 says it once for all of them, naming the holder
        assert p.stderr.count(f"is in use by another tune (process {holder.pid}") == 1, p.stderr
        assert "[ranks 0-1 of 2]" in p.stderr
        assert history(out) == before
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone (killed): its lock went with it
    p = run(TUNE + ["--backend", "replay", "--replay-from", str(ref), "--out", str(out), "--resume"],
            cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]


def test_lock_file_names_the_holder(tmp_path):
    out = tmp_path / "x.h5"
    with OutputLock(out, "tune"):
        with pytest.raises(Exception) as err:
            OutputLock(out, "tune").acquire()       # flock is per open file: refused here too
        assert f"process {os.getpid()}" in str(err.value)
    OutputLock(out, "tune").acquire().release()     # free again


def test_stale_temporary_files_of_dead_writers_are_removed_on_start(ref, tmp_path):
    """D5: NAME.tmp.<pid> of a dead writer beside --out, in its steps and its profiles
    directory goes at the next start; one of a live process stays."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / "tune.h5.steps").mkdir()
    (tmp_path / "tune.h5.profiles").mkdir()
    stale = [tmp_path / f"tune.h5.tmp.{dead}", tmp_path / f"tune.config.json.tmp.{dead}",
             tmp_path / "tune.h5.profiles" / f"step_00003.h5.tmp.{dead}"]
    live = tmp_path / f"tune.h5.tmp.{os.getppid()}"
    for p in stale + [live]:
        p.write_bytes(b"half a file")
    p = run(TUNE + ["--backend", "replay", "--replay-from", str(ref), "--out", "tune.h5"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert not any(s.exists() for s in stale)
    assert live.exists()
    assert "temporary file(s) left by killed writers" in p.stderr


def test_replay_from_another_directory_and_after_a_move(ref, tmp_path):
    """D16: profile paths are stored relative to the history, so --replay-from works
    from any directory, also after the whole directory was moved."""
    with h5py.File(ref) as f:
        prof = str(f["steps/00000"].attrs["profile"])
    assert not os.path.isabs(prof) and prof.startswith("tune.h5.profiles/")
    moved = tmp_path / "moved"
    shutil.copytree(ref.parent, moved)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = run(TUNE + ["--backend", "replay", "--replay-from", str(moved / "tune.h5"), "--out", "t.h5"],
            cwd=elsewhere)
    assert p.returncode == 0, p.stderr[-2000:]
    assert [h[1:] for h in history(elsewhere / "t.h5")] == [h[1:] for h in history(ref)]
    for r in TuneStore(moved / "tune.h5").records():
        assert os.path.exists(r.measurement.profile) and str(moved) in os.path.abspath(r.measurement.profile)


def test_older_histories_with_absolute_or_cwd_relative_paths_still_replay(ref, tmp_path, monkeypatch):
    """Files of before D16: a path relative to the directory the tuner ran in."""
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "old"
    shutil.copytree(ref.parent, old)
    for p in (old / "tune.h5.steps").glob("*.h5"):
        with h5py.File(p, "r+") as f:
            for g in f["steps"].values():
                g.attrs["profile"] = "old/" + str(g.attrs["profile"])     # cwd-relative (cwd: tmp_path)
    recs = TuneStore(old / "tune.h5").records()
    assert all(os.path.exists(r.measurement.profile) for r in recs)


def test_explore_history_replays_from_another_directory(ref, tmp_path):
    """D16 for explore.h5: samples' profiles relative to the file."""
    d = tmp_path / "x"
    d.mkdir()
    p = run([sys.executable, "-m", "pyharness.explore", *KERNEL, "--param", "nsites=3", "--exhaustive",
             "--out", "e.h5"], cwd=d)
    assert p.returncode == 0, p.stderr[-2000:]
    with h5py.File(d / "e.h5") as f:
        profs = [str(f["samples"][s].attrs["profile"]) for s in f["samples"]]
    assert profs and not any(os.path.isabs(x) for x in profs)
    other = tmp_path / "other"
    other.mkdir()
    p = run([sys.executable, "-m", "pyharness.tune", *KERNEL, "--param", "nsites=3", "--method", "greedy",
             "--budget", "1.5x", "--max-steps", "3", "--no-progress", "--backend", "replay",
             "--replay-from", str(d / "e.h5"), "--out", "t.h5"], cwd=other)
    assert p.returncode == 0, p.stderr[-2000:]


def test_explore_lock_and_stale_files(tmp_path):
    """D4 and D5 for explore: a second writer is refused; a killed writer's temporary
    file is removed by --resume, which then finishes the exploration."""
    cmd = [sys.executable, "-m", "pyharness.explore", *KERNEL, "--param", "nsites=3", "--exhaustive",
           "--out", "e.h5"]
    p = run(cmd, cwd=tmp_path, env={"PYHARNESS_STOP_AT": "tmp-written@2"})
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    assert tmp_files(tmp_path)
    with OutputLock(tmp_path / "e.h5", "exploration"):
        q = run(cmd + ["--resume"], cwd=tmp_path)
        assert q.returncode != 0 and "in use by another" in q.stderr and "Traceback" not in q.stderr, q.stderr
    q = run(cmd + ["--resume"], cwd=tmp_path)
    assert q.returncode == 0, q.stderr[-2000:]
    assert tmp_files(tmp_path) == []
    with h5py.File(tmp_path / "e.h5") as f:
        assert len(f["samples"]) == 8


def test_a_history_of_before_step_files_resumes(ref, tmp_path):
    """A tune.h5 whose steps are groups inside it (written before step files existed)
    is read and resumed: new steps go to step files, the history is the same."""
    old = tmp_path / "tune.h5"
    with h5py.File(ref) as src, h5py.File(old, "w") as dst:
        for k, v in src.attrs.items():
            if k != "steps_dir":
                dst.attrs[k] = v
        dst["keys"] = src["keys"][()]
        steps = dst.create_group("steps")
        for name in sorted(src["steps"])[:3]:
            src.copy(src["steps"][name], steps, name=name)      # a real group, not a link
    shutil.copytree(ref.with_name("tune.h5.profiles"), tmp_path / "tune.h5.profiles")
    assert [h[1:] for h in history(old)] == [h[1:] for h in history(ref)][:3]
    p = run(TUNE + ["--backend", "replay", "--replay-from", str(ref), "--out", "tune.h5", "--resume"],
            cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert [h[1:] for h in history(old)] == [h[1:] for h in history(ref)]
    new = sorted(q.name for q in (tmp_path / "tune.h5.steps").glob("*.h5"))
    assert new and new[0] == "00003.h5"
    with h5py.File(old) as f:
        assert isinstance(f["steps"].get("00000", getlink=True), h5py.HardLink)
        assert isinstance(f["steps"].get("00003", getlink=True), h5py.ExternalLink)


def test_a_second_profile_writer_is_refused(tmp_path):
    """D4 for profile: --out held by another writer is a clear error naming it."""
    out = tmp_path / "p.h5"
    with OutputLock(out, "profile"):
        p = run([sys.executable, "-m", "pyharness.profile", *KERNEL, "--out", str(out)], cwd=tmp_path)
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    assert f"in use by another profile (process {os.getpid()}" in p.stderr, p.stderr
    assert not out.exists()


# ---------------------------------------------------------------- the local backend's steps
# (a killed driver takes its step down: pyharness/watchdog.py)

def _local_tune(tmp_path, out, *extra):
    return [sys.executable, "-m", "pyharness.tune", "--kernel", "streamice", "--budget", "1.5x",
            "--method", "greedy", "--backend", "local", "--ranks", "2", "--max-steps", "1",
            "--no-progress", "--out", str(out), *extra]


def _env(tmp_path, **more):
    runs = tmp_path / "runs"          # the runs' temporary directories, to look into
    runs.mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(runs), **MPI_ENV)
    env.update(more)
    return env, runs


def test_killed_driver_takes_its_running_step_down(tmp_path):
    """D3: kill -9 of the driver left `mpiexec ... pyharness.profile` running (up to
    17 s, alongside the resumed measurement of the same step, writing the same file)
    and /tmp/pyharness-run-* behind. The step here never ends on its own
    (PYHARNESS_HANG_AT), so only the driver's death can end it."""
    out = tmp_path / "tune.h5"
    env, runs = _env(tmp_path, PYHARNESS_HANG_AT="profile-started")
    marker = str(tmp_path / "tune.h5.profiles")          # in every step's command line
    driver = subprocess.Popen(_local_tune(tmp_path, out), cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # the step is running: mpiexec and its 2 ranks, hanging in pyharness.profile
        assert _wait_for(lambda: len([p for p in _procs_mentioning(marker)
                                      if p != driver.pid]) >= 3, 120), "the step never started"
        assert list(runs.glob("pyharness-run-*")), "the run directory is not where TMPDIR says"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert _wait_for(lambda: not _procs_mentioning(marker), 30), \
            f"orphans of the killed driver: {_procs_mentioning(marker)}"
        assert _wait_for(lambda: not list(runs.glob("pyharness-run-*")), 10), list(runs.iterdir())
    finally:
        for pid in _procs_mentioning(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if driver.poll() is None:
            driver.kill()


def test_kill_at_run_started_then_resume_finishes_with_nothing_left(tmp_path):
    """kill -9 right after the step's mpiexec started (PYHARNESS_STOP_AT=run-started):
    nothing of it survives, and --resume measures the step and finishes."""
    out = tmp_path / "tune.h5"
    marker = str(tmp_path / "tune.h5.profiles")
    env, runs = _env(tmp_path, PYHARNESS_STOP_AT="run-started")
    p = subprocess.run(_local_tune(tmp_path, out), cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    assert "SIGKILL at run-started@1" in p.stderr
    assert _wait_for(lambda: not _procs_mentioning(marker), 30), _procs_mentioning(marker)
    assert _wait_for(lambda: not list(runs.glob("pyharness-run-*")), 10), list(runs.iterdir())
    env, _ = _env(tmp_path)
    p = subprocess.run(_local_tune(tmp_path, out, "--resume"), cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    recs = TuneStore(out).records()
    assert [r.step for r in recs] == list(range(len(recs))) and len(recs) == 2
    assert not list(runs.glob("pyharness-run-*"))


def test_run_directory_of_a_dead_driver_is_removed_and_its_step_killed(tmp_path):
    """Driver and watchdog both killed (kill -9 of everything but the step): the next
    local backend kills what is left of that step's session and removes its directory."""
    from pyharness.backends.base import RunRequest
    from pyharness.backends.local import LocalBackend
    runs = tmp_path / "runs"
    runs.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()                                          # a pid that no longer runs
    # a 'step' in a session of its own, as the watchdog leaves it
    step = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                            start_new_session=True)
    stale = runs / f"pyharness-run-{dead.pid}-abc"
    stale.mkdir()
    (stale / "driver").write_text(f"{dead.pid} 1\n")
    (stale / "session").write_text(f"{step.pid} 1\n")
    (stale / "config.json").write_text("{}")
    live = runs / f"pyharness-run-{os.getpid()}-xyz"     # a live driver's: kept
    live.mkdir()
    (live / "driver").write_text(f"{os.getpid()}\n")
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(runs)
    import tempfile
    tempfile.tempdir = None
    try:
        LocalBackend(RunRequest("streamice", nranks=1))
    finally:
        if old_tmp is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old_tmp
        tempfile.tempdir = None
    try:
        assert step.wait(timeout=30) == -signal.SIGKILL
    finally:
        if step.poll() is None:
            step.kill()
    assert not stale.exists() and live.exists()


def test_watchdog_passes_the_exit_code_and_cleans_up_leftovers(tmp_path):
    """Under the watchdog a command's exit code is its own, and a process it left in
    the session (a rank outliving its launcher) is killed when it ends."""
    marker = f"sleep-{os.getpid()}-leftover"
    script = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '{marker}']); sys.exit(3)"
    p = subprocess.run([sys.executable, "-m", "pyharness.watchdog", "--driver", str(os.getpid()), "--",
                        sys.executable, "-c", script], start_new_session=True, timeout=60)
    assert p.returncode == 3
    assert _wait_for(lambda: not _procs_mentioning(marker), 10), _procs_mentioning(marker)


def test_a_killed_writer_not_yet_reaped_counts_as_dead(tmp_path):
    """A writer killed by SIGKILL whose parent has not reaped it (a zombie, as MPI ranks
    are when the launcher exits before them) leaves a temporary that the next run
    removes; a live writer's temporary stays."""
    from pyharness.durable import remove_stale_tmp
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        child.send_signal(signal.SIGKILL)     # not waited for: a zombie until reaped
        stat = Path(f"/proc/{child.pid}/stat")
        assert _wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", 30)
        dead_tmp = tmp_path / f"group_00000.h5.tmp.{child.pid}"
        live_tmp = tmp_path / f"group_00002.h5.tmp.{live.pid}"
        dead_tmp.write_bytes(b"torn")
        live_tmp.write_bytes(b"being written")
        assert remove_stale_tmp(tmp_path) == [dead_tmp]
        assert live_tmp.exists() and not dead_tmp.exists()
    finally:
        live.kill()
        live.wait()
        child.wait()
