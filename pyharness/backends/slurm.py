"""slurm: each run is an ``sbatch`` job of jobs/profile.sbatch.

The driver submits, records the job id in the step's in-flight record
(tune.h5.steps/pending.json) before waiting, and waits by sleeping between
``scontrol show job`` queries (growing intervals, no busy polling). A job that
fails, is cancelled or times out raises :class:`RunFailed` with Slurm's state and
exit code. The in-flight record ends only when the step itself is committed, so a
driver killed at any moment and resumed re-attaches to the recorded job (or collects
the result of a job that finished meanwhile) instead of submitting it again. Each
attempt writes its own log, ``step_NNNNN.attemptA.out``: a retry never overwrites
the log of the attempt that failed.
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
from ..faults import stop_at
from .base import Backend, Measurement, RunFailed, RunRequest, measurement_from_profile

__all__ = ["SlurmBackend", "job_script", "job_state", "log_reason", "release_failure"]

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


def _beyond_partition(stderr: str) -> bool:
    """Slurm's answer to a job asking more than its partition allows (more CPUs or nodes,
    a longer time limit): the job would pend forever with reason PartitionConfig."""
    return "partition configuration not available" in stderr.lower()


def release_failure(job_id: str, stderr: str, asked: str = "the job's tasks, time limit and partition") -> str:
    """The message of a held job that ``scontrol release`` refused (and that was cancelled)."""
    msg = f"scontrol release {job_id} failed: {stderr.strip()}; job {job_id} cancelled"
    if _beyond_partition(stderr):
        msg += (f". The job asks more than the partition allows: check {asked} against `sinfo` "
                "(on a node with fewer CPUs than ranks, --sbatch-arg=--overcommit)")
    return msg


class SlurmBackend(Backend):
    """An sbatch job (jobs/profile.sbatch) per configuration."""

    name = "slurm"

    def __init__(self, request: RunRequest, partition: str | None = None, account: str | None = None,
                 time_limit: str = "00:30:00", launcher: str = "srun",
                 extra_args: tuple[str, ...] = (), store=None, max_wait: float | None = None,
                 poll_min: float = 0.5, poll_max: float = 10.0, stack_limit: int = 0):
        super().__init__(request)
        self.stack_limit = int(stack_limit or 0)
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
    def _name(self, label: str) -> str:
        """The job name: the step, and (with a history) a token of that history, so that
        a job of this --out can be told from every other."""
        name = f"pyharness-{label.replace(' ', '') or 'run'}"
        if self.store is not None:
            import hashlib
            name += "-" + hashlib.sha1(str(Path(self.store.path).resolve()).encode()).hexdigest()[:10]
        return name

    def _cancel_unrecorded(self, label: str, keep: str) -> None:
        """Jobs of this step submitted (held) by a driver killed before it recorded
        them: they never started; cancel them so that only the recorded one runs."""
        p = _run(["squeue", "-h", f"--name={self._name(label)}", "-o", "%i %r"])
        for line in p.stdout.splitlines() if p.returncode == 0 else []:
            jid, _, reason = line.partition(" ")
            if jid != keep and "Held" in reason:
                _run(["scancel", jid])
                print(f"slurm: cancelled job {jid} ({label}): submitted by a killed driver before "
                      "it was recorded; it never started", file=sys.stderr, flush=True)

    def release(self, job_id: str) -> None:
        p = _run(["scontrol", "release", str(job_id)])
        if p.returncode != 0 and "already" not in p.stderr.lower() and job_state(job_id)[0] == "PENDING":
            # given up: it must not stay in the queue (it would pend forever, or run later
            # beside the retry or a resumed driver's job)
            _run(["scancel", str(job_id)])
            asked = [f"--ranks {self.request.nranks}", f"--time-limit {self.time_limit}"] + \
                ([f"--partition {self.partition}"] if self.partition else [])
            asked = ", ".join(asked[:-1]) + " and " + asked[-1]
            raise RunFailed(release_failure(job_id, p.stderr, asked), state="SUBMIT_FAILED", job_id=job_id,
                            retryable=not _beyond_partition(p.stderr))

    def sbatch(self, script, env: dict, log, chdir, label: str = "", hold: bool = False) -> str:
        """Submit ``script`` as one job of ``request.nranks`` tasks with this backend's
        partition, account, time limit and extra arguments; return the job id.
        Used for jobs/profile.sbatch and by other backends (command) for their own scripts.
        ``hold``: submitted held (released by :meth:`release` once recorded)."""
        cmd = ["sbatch", "--parsable", f"--ntasks={self.request.nranks}", f"--time={self.time_limit}",
               f"--job-name={self._name(label)}",
               f"--output={Path(log).resolve()}", "--export=ALL",
               f"--chdir={Path(chdir).resolve()}"]
        if hold:
            cmd.append("--hold")
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

    def submit(self, config: Configuration, profile_path: str, label: str = "",
               log: str | os.PathLike | None = None, hold: bool = False) -> str:
        out = Path(profile_path)
        log = Path(log) if log is not None else out.with_suffix(".out")
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
            "PYHARNESS_LIMIT": str(self.stack_limit) if self.stack_limit else "",
            "PYHARNESS_LAUNCHER": self.launcher,
            "PYHARNESS_VENV": str(Path(sys.executable).parent.parent),
        })
        return self.sbatch(self.script, env, log, out.resolve().parent, label, hold=hold)

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

    def attempt_log(self, profile_path: str) -> Path:
        """The log of the next attempt at ``profile_path`` (step_N.attemptA.out): a
        retry never overwrites the log of the attempt that failed."""
        pending = self.store.pending() if self.store is not None else None
        attempts = []
        if pending and pending.get("profile") and \
                os.path.abspath(pending["profile"]) == os.path.abspath(profile_path):
            if pending.get("job_id") and pending.get("log"):
                return Path(pending["log"])          # the attempt in flight
            attempts = pending.get("attempts", [])
        return Path(profile_path).with_suffix(f".attempt{len(attempts) + 1}.out")

    def submit_and_wait(self, submit, profile_path: str, label: str = "",
                        log: str | os.PathLike | None = None) -> tuple[str, str, int | None, str]:
        """Submit a job (``submit(hold)`` returns its id), record it as in flight beside
        tune.h5 before it may start (submitted held, recorded, released), wait for it;
        return (job id, state, exit code, reason). Resumed with a job in flight for the
        same ``profile_path``, re-attach to it instead of submitting again.

        The in-flight record is NOT cleared here: it ends when the step is committed
        with its result (one rename), or when the loop records this attempt as failed,
        so a kill at any moment re-attaches to this job and collects its result."""
        job_id, attempts = "", []
        pending = self.store.pending() if self.store is not None else None
        if pending and pending.get("profile") and \
                os.path.abspath(pending["profile"]) == os.path.abspath(profile_path):
            job_id = str(pending.get("job_id") or "")     # resume: re-attach, do not resubmit
            attempts = list(pending.get("attempts", []))
        if self.store is not None:
            self._cancel_unrecorded(label, keep=job_id)
        if job_id:
            print(f"slurm: re-attaching to job {job_id} ({label or profile_path}), submitted "
                  "before the driver was stopped", file=sys.stderr, flush=True)
            self.release(job_id)          # held still if the kill came before its release
        else:
            if os.path.exists(profile_path):
                os.unlink(profile_path)
            job_id = submit(self.store is not None)
            stop_at("job-submitted")
            if self.store is not None:
                info = dict(job_id=job_id, profile=str(profile_path), label=label, attempts=attempts)
                if log is not None:
                    info["log"] = str(Path(log).resolve())
                self.store.update_pending(**info)
                stop_at("pending-written")
                self.release(job_id)
        self.last_job_id = job_id
        try:
            state, code, reason = self.wait(job_id)
        except KeyboardInterrupt:
            # the job outlives its driver: say so, and how to collect it or drop it
            again = ("run the same command with --resume to collect it, or " if self.store is not None
                     else "")
            print(f"slurm: job {job_id} ({label or profile_path}) is still in the queue: {again}"
                  f"scancel {job_id}", file=sys.stderr, flush=True)
            raise
        return job_id, state, code, reason

    def run(self, config: Configuration, profile_path: str, label: str = "") -> Measurement:
        log = self.attempt_log(profile_path)
        job_id, state, code, reason = self.submit_and_wait(
            lambda hold: self.submit(config, profile_path, label, log=log, hold=hold),
            profile_path, label, log=log)
        done = state == "COMPLETED" or (state == "UNKNOWN" and _complete_profile(profile_path))
        if done and os.path.exists(profile_path):
            return measurement_from_profile(profile_path)
        tail = log_reason(log)
        exc = RunFailed(f"job {job_id} ended {state} (exit code {code}{', ' + reason if reason and reason != 'None' else ''})"
                        + (f": {tail}" if tail else ""), state=state.split()[0], exit_code=code,
                        job_id=job_id)
        exc.log = str(log)
        raise exc


def log_reason(log) -> str:
    """The line of a job's log that says why it failed: pyharness's own error line, else
    the last line naming an error, else the last line ('' without a log)."""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return ""
    lines = [l for l in text.splitlines() if l.strip()]
    ours = [l for l in lines if l.startswith("pyharness.") and "error:" in l]
    err = [l for l in lines if "error" in l.lower()]
    return (ours[:1] or err[-1:] or lines[-1:] or [""])[0][:300]


def _complete_profile(path) -> bool:
    """A profile that a job finished writing (Slurm forgot the job meanwhile)."""
    try:
        measurement_from_profile(str(path))
    except Exception:
        return False
    return True
