"""Helpers shared by the tests: the repository root, MPI launching, the environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# OpenMPI as root, more ranks than cores, polite idling (see scripts/env.sh).
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMPI_MCA_mpi_yield_when_idle": "1",
}
os.environ.update(MPI_ENV)


def mpirun(n: int, args: list[str], timeout: float = 300, cwd=None, check: bool = False,
           env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` on ``n`` ranks with mpiexec; capture the output.

    The default working directory is a scratch one: from the repository root,
    ``python -m`` would import the source tree instead of the installed package.
    """
    if cwd is None:
        cwd = tempfile.gettempdir()
    cmd = ["mpiexec", "-n", str(n), sys.executable] + list(args)
    e = dict(os.environ)
    e.update(env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=e)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc



def pyharness_config(*args: str) -> list[str]:
    """Flags from the installed ``pyharness-config`` (next to this Python)."""
    exe = Path(sys.executable).with_name("pyharness-config")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pyharness.linkflags"]
    out = subprocess.run(cmd + list(args), check=True, capture_output=True, text=True,
                         cwd=tempfile.gettempdir()).stdout
    return out.split()


def build_against_runtime(sources: list, exe: Path, compiler: str = "gfortran",
                          shared: bool = False, extra: tuple = ()) -> Path:
    """Compile and link a user's program with nothing but pyharness-config's flags.

    The default link is the static archive (``--libs``), with the compiler given:
    plain gfortran/gcc for a program without MPI, mpif90/mpicc for an MPI one
    (the archive needs no MPI library). ``shared=True``: ``--libs --shared``.
    """
    if shutil.which(compiler) is None:
        raise AssertionError(f"{compiler} not found: run scripts/setup.sh")
    comp = pyharness_config("--cflags" if compiler in ("gcc", "cc", "mpicc") else "--fflags")
    libs = pyharness_config("--libs", *(["--shared"] if shared else []))
    modules = [] if compiler in ("gcc", "cc", "mpicc") else ["-J", str(exe.parent)]
    cmd = [compiler, "-O2", *extra, *comp, *modules, *map(str, sources), *libs, "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return exe


def procs_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (not zombies)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            out.append(int(name))
    return out


def run1(args: list[str], cwd=None, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` as one process without mpiexec (MPI starts as a singleton): a
    one-rank run as the tools take it, some 2 s cheaper than ``mpirun(1, ...)``."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable] + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or tempfile.gettempdir(), env=e)


def untagged(name: str) -> str:
    """An event file's name without the run tag it carries (``group_00000.1a2b3c4d.h5``
    -> ``group_00000.h5``; pyharness.reduction.group_file)."""
    import re
    return re.sub(r"\.[0-9a-f]{8}(?=\.h5)", "", name)


def wait_for(cond, seconds: float) -> bool:
    """Poll ``cond`` until true or ``seconds`` passed (a liveness bound, not a timing)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def recorded_steps(out) -> int:
    """Steps committed to the tune.h5 at ``out`` (0 while it does not exist or is being made)."""
    from pyharness.tuner.store import TuneStore
    try:
        return len(TuneStore(out).records())
    except Exception:
        return 0


def kill_after_steps(cmd: list[str], out, steps: int, seconds: float, **popen) -> int:
    """Start ``cmd``, SIGKILL it once ``out`` holds ``steps`` recorded steps (or after
    ``seconds``, a liveness bound), and return how many steps were recorded then."""
    import signal
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
    wait_for(lambda: p.poll() is not None or recorded_steps(out) >= steps, seconds)
    n = recorded_steps(out)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    return n
