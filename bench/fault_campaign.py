"""Kill campaign: kill -9 the tuner at every named point and at random moments, resume,
and check what a kill must never break.

    bash bench/faults.sh                      # every backend, every point, 4 random kills each
    python bench/fault_campaign.py --backends replay --random 10 --seed 3

For each backend (replay, local, inline) an uninterrupted run is the reference. Each
case runs the same tune with ``PYHARNESS_STOP_AT=point@n`` (the driver kills itself
with SIGKILL there; pyharness/faults.py) or kills it after a random delay, then runs
``--resume`` (again, until it finishes) and checks:

- every HDF5 file in the case's directory opens with h5py (no torn file);
- the history's steps are 0, 1, 2, ... (none lost, none repeated) and the steps
  recorded before the kill are unchanged by the resume;
- replay: the resumed history equals the uninterrupted one step for step (flips,
  decision, configuration, measurement); local and inline measure real times, so
  their decisions may differ: there the recommended configuration must fit the
  budget and give the reference's gradient bitwise;
- no process of the killed run is left (nothing whose command line names the
  case's directory) and no ``pyharness-run-*`` directory is left in its TMPDIR.

Temporary files (``*.tmp.*``) left next to the history are reported. The exit status
is the number of failed cases (0: all passed). Runs on 1 rank (replay, local with
--ranks 2) and 2 ranks (inline); a whole campaign takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py

# the test suite's process helpers (tests/phtest.py): the campaign and tests/test_faults.py
# look for orphans the same way
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from phtest import procs_mentioning, wait_for  # noqa: E402

# the driver's kill points each backend reaches (pending-written and job-submitted are
# the slurm backend's: tests/test_slurm.py)
POINTS = {"replay": ["tmp-written", "run-done", "step-written"],
          "local": ["tmp-written", "run-started", "run-done", "step-written"],
          "inline": ["tmp-written", "run-done", "step-written"]}
BUDGET = "1.5x"
STEPS = 6
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_mpi_yield_when_idle": "1",
           "PYTHONSAFEPATH": "1"}


def tune_cmd(backend: str, out: Path, ref: Path) -> list[str]:
    args = ["-m", "pyharness.tune", "--kernel", "streamice", "--method", "greedy", "--rounds", "1", "--budget", BUDGET,
            "--max-steps", str(STEPS), "--no-progress", "--out", str(out), "--backend", backend]
    if backend == "replay":
        args += ["--replay-from", str(ref), "--replay-delay", "0.1"]
    if backend == "local":
        args += ["--ranks", "2"]
    if backend == "inline":
        return ["mpiexec", "-n", "2", sys.executable, *args]
    return [sys.executable, *args]


def env_for(case_dir: Path, **more) -> dict:
    runs = case_dir / "tmp"
    runs.mkdir(exist_ok=True)
    env = dict(os.environ, **MPI_ENV, TMPDIR=str(runs))
    for k in ("PYHARNESS_STOP_AT", "PYHARNESS_HANG_AT"):
        env.pop(k, None)
    env.update(more)
    return env


def records(path: Path) -> list[dict]:
    from pyharness.tuner.store import TuneStore
    out = []
    for r in TuneStore(path).records():
        m = r.measurement
        out.append({"step": r.step, "flips": list(r.flips), "decision": str(r.decision.value),
                    "inhibited": sorted(r.inhibited),
                    "peak": None if m is None else list(m.peak_bytes),
                    "wall": None if m is None else list(m.wall_s),
                    "grad": None if m is None else m.grad_digest})
    return out




def run_case(backend: str, case_dir: Path, ref: Path, reference: list[dict], stop: str | None,
             delay: float | None) -> tuple[bool, str]:
    """One kill and its resume; (passed, what happened)."""
    case_dir.mkdir(parents=True)
    out = case_dir / "tune.h5"
    cmd = tune_cmd(backend, out, ref)
    env = env_for(case_dir, **({"PYHARNESS_STOP_AT": stop} if stop else {}))
    p = subprocess.Popen(cmd, cwd=case_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    if delay is not None:
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            # the driver (for inline: mpiexec's rank 0 and with it the job)
            target = p.pid
            if backend == "inline":
                kids = [q for q in procs_mentioning(str(out)) if q != p.pid]
                target = min(kids) if kids else p.pid
            os.kill(target, signal.SIGKILL)
    _, err = p.communicate(timeout=900)
    killed = p.returncode != 0
    notes = []
    if stop and "SIGKILL at" not in err:
        notes.append(f"{stop} not reached")
    problems = []
    marker = str(case_dir)
    if not wait_for(lambda: not procs_mentioning(marker), 30):
        problems.append(f"orphans after the kill: {procs_mentioning(marker)}")
        for q in procs_mentioning(marker):
            os.kill(q, signal.SIGKILL)
    before = records(out) if out.exists() else []
    # resume until it finishes (a kill before step 0 was written leaves no file: start again)
    for attempt in range(3):
        again = cmd + (["--resume"] if out.exists() else [])
        r = subprocess.run(again, cwd=case_dir, env=env_for(case_dir), capture_output=True, text=True,
                           timeout=900)
        if r.returncode == 0:
            break
    else:
        problems.append(f"resume failed ({r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
    for f in case_dir.rglob("*.h5"):
        try:
            with h5py.File(f, "r"):
                pass
        except OSError as exc:
            problems.append(f"torn HDF5 file {f.relative_to(case_dir)}: {exc}")
    if list((case_dir / "tmp").glob("pyharness-run-*")):
        problems.append("pyharness-run-* directories left behind")
    tmps = [f.name for f in case_dir.rglob("*.tmp.*")]
    if tmps:
        notes.append(f"temporary files left: {', '.join(tmps[:3])}")
    if out.exists() and not problems:
        after = records(out)
        if [a["step"] for a in after] != list(range(len(after))):
            problems.append(f"steps {[a['step'] for a in after]}: not 0..{len(after) - 1}")
        if after[:len(before)] != before:
            problems.append("the resume changed steps recorded before the kill")
        if backend == "replay":
            key = lambda rs: [(a["flips"], a["decision"], a["inhibited"], a["peak"], a["wall"]) for a in rs]
            if key(after) != key(reference):
                problems.append("history differs from the uninterrupted run's")
        else:
            cfg = case_dir / "tune.config.json"
            kept = [a for a in after if a["decision"] in ("start", "accepted")]
            if not cfg.exists():
                problems.append("no configuration written")
            elif sorted(json.loads(cfg.read_text())["inhibited"]) != kept[-1]["inhibited"]:
                problems.append("written configuration is not the last accepted one")
            budget = 1.5 * max(after[0]["peak"])
            if max(kept[-1]["peak"]) > budget:
                problems.append("recommended configuration over the budget")
            if kept[-1]["grad"] != reference[0]["grad"]:
                problems.append("gradient differs from the uninterrupted run's")
    what = f"killed={'yes' if killed else 'no'} steps-before={len(before)}"
    if notes:
        what += " (" + "; ".join(notes) + ")"
    return not problems, what + ("" if not problems else "  PROBLEMS: " + "; ".join(problems))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="replay,local,inline",
                    help="comma-separated (default replay,local,inline)")
    ap.add_argument("--random", type=int, default=4, help="random kills per backend (default 4)")
    ap.add_argument("--seed", type=int, default=0, help="of the random kill times (default 0)")
    ap.add_argument("--dir", default=None, help="work directory (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(args.dir or tempfile.mkdtemp(prefix="pyharness-faults-"))
    if args.dir and work.exists() and any(work.iterdir()):
        # an earlier campaign's histories: tune refuses to write over them (and the cases'
        # directories exist), so the campaign would stop at its first run
        ap.error(f"--dir {work} is not empty: give a new or empty directory (or remove it)")
    work.mkdir(parents=True, exist_ok=True)
    print(f"fault campaign in {work}", flush=True)
    # the measurements the replay backend serves: one uninterrupted inline run
    src = work / "source.h5"
    subprocess.run(tune_cmd("inline", src, src), cwd=work, env=env_for(work), check=True,
                   capture_output=True, timeout=900)
    failed = total = 0
    for backend in args.backends.split(","):
        ref_dir = work / backend / "reference"
        ref_dir.mkdir(parents=True)
        t0 = time.monotonic()
        r = subprocess.run(tune_cmd(backend, ref_dir / "tune.h5", src), cwd=ref_dir, env=env_for(ref_dir),
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            print(f"{backend}: the uninterrupted run failed: {r.stderr[-500:]}")
            failed += 1
            continue
        span = time.monotonic() - t0
        reference = records(ref_dir / "tune.h5")
        cases = [(f"{pt}@{n}", None) for pt in POINTS[backend] for n in (1, 3)]
        cases += [(None, round(rng.uniform(0.3, span), 2)) for _ in range(args.random)]
        for i, (stop, delay) in enumerate(cases):
            name = stop or f"random {delay:.2f}s"
            ok, what = run_case(backend, work / backend / f"case{i:02d}", src, reference, stop, delay)
            total += 1
            failed += not ok
            print(f"  {backend:7s} {name:22s} {'ok  ' if ok else 'FAIL'}  {what}", flush=True)
    print(f"{total - failed} of {total} cases passed" + (f"; {failed} FAILED" if failed else ""))
    if not args.keep and not failed and args.dir is None:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return failed


if __name__ == "__main__":
    sys.exit(min(main(), 100))
