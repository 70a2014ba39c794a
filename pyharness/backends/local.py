"""local: each run is a new ``mpiexec -n N python -m pyharness.profile`` process.

Each run is a session of its own under a watchdog (:mod:`pyharness.watchdog`): a
driver killed with ``kill -9`` takes its step down with it, and its temporary run
directory (``pyharness-run-<pid>-*``) is removed; one left by a driver whose
watchdog died too is cleaned up when the next local backend starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from ..config import Configuration, write_config_json
from .base import Backend, Measurement, RunFailed, RunRequest, measurement_from_profile, mpiexec_env

__all__ = ["LocalBackend", "profile_command", "failure_message"]


def profile_command(request: RunRequest, config_file: str, out: str, stack_limit: int = 0) -> list[str]:
    """The ``python -m pyharness.profile`` arguments for one run."""
    cmd = ["-m", "pyharness.profile", "--kernel", request.kernel, "--size", request.size,
           "--config", config_file, "--out", out, "--repeat", str(request.repeat)]
    if stack_limit:
        cmd += ["--limit", str(stack_limit)]
    for k, v in request.params:
        cmd += ["--param", f"{k}={v}"]
    return cmd


def failure_message(stderr: str) -> str:
    """The line that says why a run failed, from its stderr: our tool's own
    ``error:`` line, else a Python exception's last line, else the text of
    mpiexec's framed message (its ``-----`` lines are a frame, not a reason)."""
    lines = [l.strip() for l in stderr.splitlines()]
    ours = [l for l in lines if l.startswith("pyharness.") and ": error:" in l]
    if ours:
        return ours[0]
    if any(l.startswith("Traceback") for l in lines):
        exc = [l for l in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b.*", l)]
        if exc:
            return exc[-1]
    paragraph: list[str] = []
    for l in lines:
        if l and set(l) <= set("-=*"):     # a frame line: the message is inside
            if paragraph:
                break
            continue
        if l:
            paragraph.append(l)
    text = " ".join(paragraph) or "(no output)"
    return text if len(text) <= 400 else text[:397] + "..."


class LocalBackend(Backend):
    """A new mpiexec -n N python -m pyharness.profile process per configuration."""

    name = "local"

    def __init__(self, request: RunRequest, mpiexec: str = "mpiexec", timeout: float = 3600.0,
                 mpiexec_args: tuple[str, ...] = (), stack_limit: int = 0):
        super().__init__(request)
        self.stack_limit = stack_limit
        self.mpiexec = mpiexec
        self.timeout = timeout
        self.mpiexec_args = tuple(mpiexec_args)
        from ..watchdog import clean_stale_run_dirs
        # the steps of a killed driver (whose watchdog was killed too) go before we run
        clean_stale_run_dirs()

    def describe(self) -> str:
        return f"local ({self.mpiexec} -n {self.request.nranks} per run)"

    def run(self, config: Configuration, profile_path: str, label: str = "") -> Measurement:
        from .. import watchdog
        from ..faults import stop_at
        tmp = watchdog.make_run_dir()
        try:
            cfg = os.path.join(tmp, "config.json")
            write_config_json(cfg, config)
            cmd = [self.mpiexec, "-n", str(self.request.nranks), *self.mpiexec_args, sys.executable,
                   *profile_command(self.request, cfg, profile_path, self.stack_limit)]
            env = mpiexec_env(dict(os.environ))
            env.pop("PYHARNESS_STOP_AT", None)    # the driver's kill points, not its steps'
            # the step in a session of its own, under a watchdog that kills the session
            # if this driver dies (pyharness/watchdog.py): no orphan outlives a kill -9
            with watchdog.watched(cmd, tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) as proc:
                stop_at("run-started")
                try:
                    _, stderr = proc.communicate(timeout=self.timeout)
                except subprocess.TimeoutExpired:
                    raise RunFailed(f"run exceeded {self.timeout:.0f} s", state="TIMEOUT") from None
        finally:
            watchdog.remove_run_dir(tmp)
        if proc.returncode != 0:
            msg = failure_message(stderr)
            raise RunFailed(f"mpiexec exited with {proc.returncode}: {msg}", state="FAILED",
                            exit_code=proc.returncode)
        return measurement_from_profile(profile_path)
