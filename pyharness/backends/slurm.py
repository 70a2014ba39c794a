"""slurm: each run is an ``sbatch`` job of jobs/profile.sbatch.

The driver submits, records the job id in tune.h5 (``/pending``) before waiting,
and waits by sleeping between ``scontrol show job`` queries (growing intervals,
no busy polling). A job that fails, is cancelled or times out raises
:class:`RunFailed` with Slurm's state and exit code. Killed and resumed, the
driver re-attaches to the recorded job instead of submitting it again.
Works without accounting (no slurmdbd): the state comes from ``scontrol``;
``sacct`` is used when scontrol has forgotten the job.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from ..config import Configuration, write_config_json
from ..errors import UsageError
from .base import Backend, Measurement, RunFailed, RunRequest, measurement_from_profile

__all__ = ["SlurmBackend", "job_script", "job_state"]

FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED"}


def job_script(name: str = "profile.sbatch") -> Path:
    """Path of a job script shipped with the package (a copy of jobs/NAME)."""
    p = Path(str(resources.files("pyharness") / "jobs" / name))
    if not p.exists():  # running from a source tree
        p = Path(__file__).resolve().parents[2] / "jobs" / name
    return p


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def job_state(job_id: str) -> tuple[str | None, int | None, str]:
    """(state, exit code, reason) of a job; state None if Slurm does not know it."""
    p = _run(["scontrol", "show", "job", "-o", str(job_id)])
    if p.returncode == 0 and "JobState=" in p.stdout:
        state = re.search(r"JobState=(\S+)", p.stdout).group(1)
        m = re.search(r"ExitCode=(\d+):(\d+)", p.stdout)
        code = int(m.group(1)) if m else None
        if m and int(m.group(2)):
            code = 128 + int(m.group(2))
        reason = re.search(r"Reason=(\S+)", p.stdout)
        return state, code, reason.group(1) if reason else ""
    if shutil.which("sacct"):
        p = _run(["sacct", "-j", str(job_id), "-X", "-n", "-P", "-o", "State,ExitCode"])
        line = p.stdout.strip().splitlines()[0] if p.returncode == 0 and p.stdout.strip() else ""
        if line:
            state, ec = line.split("|")[:2]
            state = state.split()[0]
            code = int(ec.split(":")[0]) if ec else None
            return state, code, ""
    return None, None, ""


class SlurmBackend(Backend):
    """An sbatch job (jobs/profile.sbatch) per configuration."""

    name = "slurm"

    def __init__(self, request: RunRequest, partition: str | None = None, account: str | None = None,
                 time_limit: str = "00:30:00", launcher: str = "srun",
                 extra_args: tuple[str, ...] = (), store=None, max_wait: float | None = None,
                 poll_min: float = 0.5, poll_max: float = 10.0):
        super().__init__(request)
        if shutil.which("sbatch") is None:
            raise UsageError("the slurm backend needs sbatch on PATH (is this a Slurm cluster? "
                             "on a single machine, scripts/slurm-up.sh starts one)")
        self.partition = partition
        self.account = account
        self.time_limit = time_limit
        self.launcher = launcher
        self.extra_args = tuple(extra_args)
        self.store = store
        self.max_wait = max_wait
        self.poll_min = poll_min
        self.poll_max = poll_max
        self.script = job_script("profile.sbatch")
        self.last_job_id = ""

    def describe(self) -> str:
        return f"slurm (sbatch {self.script.name}, {self.request.nranks} task(s))"

    # ------------------------------------------------------------------
    def sbatch(self, script, env: dict, log, chdir, label: str = "") -> str:
        """Submit ``script`` as one job of ``request.nranks`` tasks with this backend's
        partition, account, time limit and extra arguments; return the job id.
        Used for jobs/profile.sbatch and by other backends (command) for their own scripts."""
        cmd = ["sbatch", "--parsable", f"--ntasks={self.request.nranks}", f"--time={self.time_limit}",
               f"--job-name=pyharness-{label.replace(' ', '') or 'run'}",
               f"--output={Path(log).resolve()}", "--export=ALL",
               f"--chdir={Path(chdir).resolve()}"]
        if self.partition:
            cmd.append(f"--partition={self.partition}")
        if self.account:
            cmd.append(f"--account={self.account}")
        cmd += list(self.extra_args) + [str(script)]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        if p.returncode != 0:
            raise RunFailed(f"sbatch refused the job: {p.stderr.strip()}", state="SUBMIT_FAILED",
                            exit_code=p.returncode)
        return p.stdout.strip().split(";")[0]

    def submit(self, config: Configuration, profile_path: str, label: str = "") -> str:
        out = Path(profile_path)
        cfg = out.with_suffix(".config.json")
        write_config_json(cfg, config)
        env = dict(os.environ)
        env.update({
            "PYHARNESS_KERNEL": self.request.kernel,
            "PYHARNESS_SIZE": self.request.size,
            "PYHARNESS_PARAMS": ",".join(f"{k}={v}" for k, v in self.request.params),
            "PYHARNESS_CONFIG": str(cfg.resolve()),
            "PYHARNESS_OUT": str(out.resolve()),
            "PYHARNESS_REPEAT": str(self.request.repeat),
            "PYHARNESS_LAUNCHER": self.launcher,
            "PYHARNESS_VENV": str(Path(sys.executable).parent.parent),
        })
        return self.sbatch(self.script, env, out.with_suffix(".out"), out.resolve().parent, label)

    def wait(self, job_id: str) -> tuple[str, int | None, str]:
        """Sleep until the job reaches a final state; return (state, exit code, reason)."""
        delay, t0, unknown = self.poll_min, time.monotonic(), 0
        while True:
            state, code, reason = job_state(job_id)
            if state is None:
                unknown += 1
                if unknown >= 5:
                    return "UNKNOWN", None, "Slurm no longer knows the job"
            elif state.split()[0] in FINAL_STATES:
                return state, code, reason
            if self.max_wait is not None and time.monotonic() - t0 > self.max_wait:
                _run(["scancel", str(job_id)])
                return "CANCELLED", None, f"no result after {self.max_wait:.0f} s: cancelled by the driver"
            time.sleep(delay)
            delay = min(self.poll_max, delay * 1.5)

    def submit_and_wait(self, submit, profile_path: str, label: str = "") -> tuple[str, str, int | None, str]:
        """Submit a job (``submit()`` returns its id), record it as pending in tune.h5
        before waiting, wait for it, clear the record; return (job id, state, exit code,
        reason). Resumed with a pending job for the same ``profile_path``, re-attach to
        it instead of submitting again."""
        pending = self.store.pending() if self.store is not None else None
        if pending and pending.get("profile") == str(profile_path):
            job_id = str(pending["job_id"])          # resume: re-attach, do not resubmit
        else:
            if os.path.exists(profile_path):
                os.unlink(profile_path)
            job_id = submit()
            if self.store is not None:
                self.store.set_pending({"job_id": job_id, "profile": str(profile_path), "label": label})
        self.last_job_id = job_id
        state, code, reason = self.wait(job_id)
        if self.store is not None:
            self.store.set_pending({})  # finished: a retry must submit a new job
        return job_id, state, code, reason

    def run(self, config: Configuration, profile_path: str, label: str = "") -> Measurement:
        job_id, state, code, reason = self.submit_and_wait(
            lambda: self.submit(config, profile_path, label), profile_path, label)
        if state == "COMPLETED" and os.path.exists(profile_path):
            return measurement_from_profile(profile_path)
        log = Path(profile_path).with_suffix(".out")
        tail = ""
        if log.exists():
            lines = [l for l in log.read_text(errors="replace").splitlines() if l.strip()]
            ours = [l for l in lines if l.startswith("pyharness.") and "error:" in l]
            err = [l for l in lines if "error" in l.lower()]
            tail = (ours[:1] or err[-1:] or lines[-1:] or [""])[0][:300]
        raise RunFailed(f"job {job_id} ended {state} (exit code {code}{', ' + reason if reason and reason != 'None' else ''})"
                        + (f": {tail}" if tail else ""), state=state.split()[0], exit_code=code,
                        job_id=job_id)
