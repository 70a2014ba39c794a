"""local: each run is a new ``mpiexec -n N python -m pyharness.profile`` process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from ..config import Configuration, write_config_json
from .base import Backend, Measurement, RunFailed, RunRequest, measurement_from_profile

__all__ = ["LocalBackend", "profile_command"]


def profile_command(request: RunRequest, config_file: str, out: str, stack_limit: int = 0) -> list[str]:
    """The ``python -m pyharness.profile`` arguments for one run."""
    cmd = ["-m", "pyharness.profile", "--kernel", request.kernel, "--size", request.size,
           "--config", config_file, "--out", out, "--repeat", str(request.repeat)]
    if stack_limit:
        cmd += ["--limit", str(stack_limit)]
    for k, v in request.params:
        cmd += ["--param", f"{k}={v}"]
    return cmd


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

    def describe(self) -> str:
        return f"local ({self.mpiexec} -n {self.request.nranks} per run)"

    def run(self, config: Configuration, profile_path: str, label: str = "") -> Measurement:
        with tempfile.TemporaryDirectory(prefix="pyharness-run-") as tmp:
            cfg = os.path.join(tmp, "config.json")
            write_config_json(cfg, config)
            cmd = [self.mpiexec, "-n", str(self.request.nranks), *self.mpiexec_args, sys.executable,
                   *profile_command(self.request, cfg, profile_path, self.stack_limit)]
            env = dict(os.environ)
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
            # the child must not inherit this process's MPI (singleton) identity
            for k in list(env):
                if k.startswith(("OMPI_COMM_WORLD", "PMIX_", "OMPI_MCA_ess", "OMPI_MCA_orte")):
                    del env[k]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout, env=env)
            except subprocess.TimeoutExpired:
                raise RunFailed(f"run exceeded {self.timeout:.0f} s", state="TIMEOUT") from None
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])
            msg = next((l for l in tail if "error:" in l), tail[-1])
            raise RunFailed(f"mpiexec exited with {proc.returncode}: {msg}", state="FAILED",
                            exit_code=proc.returncode)
        return measurement_from_profile(profile_path)
