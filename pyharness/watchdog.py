"""A step's processes live and die with the driver that started them.

The local backend starts every run (``mpiexec -n N python -m pyharness.profile``)
through this module's watchdog, in a session of its own (``start_new_session``)::

    python -m pyharness.watchdog --driver PID --run-dir DIR -- mpiexec -n 2 python -m ...

The watchdog is the session's leader; mpiexec and every rank it starts belong to
that session (OpenMPI gives each rank a process group of its own, but not a new
session), so the session id names the whole step. When the driver dies — even by
``kill -9`` — the kernel tells the watchdog at once (``PR_SET_PDEATHSIG``, Linux;
elsewhere it notices within a fifth of a second because its parent changed), and
it kills every process of the session and removes the run's temporary directory.
A killed driver therefore never leaves a step running alongside the resumed
measurement of the same step, writing the same profile.

If the watchdog itself is killed with the driver, the next local backend to start
finds the run directory of the dead driver (``pyharness-run-<pid>-*`` in the
temporary directory, with the driver's and the session's identity inside), kills
what is left of that session and removes the directory: :func:`clean_stale_run_dirs`.

Only the standard library is imported here: the watchdog starts in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["RUN_PREFIX", "make_run_dir", "remove_run_dir", "clean_stale_run_dirs", "session_members",
           "kill_session", "watch_command", "watched"]

#: temporary run directories: pyharness-run-<driver pid>-<random>
RUN_PREFIX = "pyharness-run-"


# ---------------------------------------------------------------- processes

def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (with the pid, an identity
    that survives pid reuse); None if there is no such process."""
    st = _stat(pid)
    return st[19] if st is not None and len(st) > 19 else None


def session_members(sid: int) -> list[int]:
    """Every live process of session ``sid`` (Linux /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is not None and len(st) > 3 and st[3] == str(sid) and st[0] != "Z":
            out.append(int(name))
    return out


def kill_session(sid: int, exclude: tuple[int, ...] = (), rounds: int = 50) -> int:
    """SIGKILL every process of session ``sid`` but ``exclude``; repeat until none is
    left (a launcher may start one while we kill). Returns how many were killed."""
    killed = set()
    for _ in range(rounds):
        left = [p for p in session_members(sid) if p not in exclude]
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    return len(killed)


def _alive(pid: int, started: str | None) -> bool:
    now = start_time(pid)
    return now is not None and (started is None or now == started)


# ---------------------------------------------------------------- run directories

def make_run_dir() -> Path:
    """A new temporary directory for one run, named after this (driver) process and
    recording its identity, so that a later driver can tell it is stale."""
    d = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-"))
    (d / "driver").write_text(f"{os.getpid()} {start_time(os.getpid()) or ''}\n")
    return d


def remove_run_dir(d: Path) -> None:
    shutil.rmtree(d, ignore_errors=True)


def _read_ids(path: Path) -> tuple[int, str | None] | None:
    try:
        parts = path.read_text().split()
        return int(parts[0]), (parts[1] if len(parts) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None


def clean_stale_run_dirs(tmpdir: str | None = None) -> list[Path]:
    """Remove the run directories of drivers that are gone, after killing whatever is
    left of their step's session. Returns the directories removed."""
    removed = []
    root = Path(tmpdir or tempfile.gettempdir())
    try:
        candidates = [d for d in root.iterdir() if d.name.startswith(RUN_PREFIX) and d.is_dir()]
    except OSError:
        return removed
    for d in candidates:
        driver = _read_ids(d / "driver")
        if driver is None:
            # written by an older version (no identity inside): judge by the pid in the name
            try:
                pid = int(d.name[len(RUN_PREFIX):].split("-")[0])
            except ValueError:
                continue
            driver = (pid, None)
        if _alive(*driver):
            continue
        session = _read_ids(d / "session")
        if session is not None and session[0] not in (os.getpid(), os.getsid(0)):
            # a live session id is never reused while it has members: these are the step's
            kill_session(session[0])
        remove_run_dir(d)
        removed.append(d)
    return removed


# ---------------------------------------------------------------- the watchdog

def watch_command(driver: int, run_dir: Path | None, python: str = sys.executable) -> list[str]:
    """The argument vector that runs a command under the watchdog (append ``cmd``)."""
    out = [python, "-m", "pyharness.watchdog", "--driver", str(driver)]
    if run_dir is not None:
        out += ["--run-dir", str(run_dir)]
    return out + ["--"]


@contextlib.contextmanager
def watched(cmd: list[str], run_dir: Path, **popen_kw):
    """Start ``cmd`` in a session of its own under the watchdog (``run_dir`` is removed
    with it) and yield the :class:`subprocess.Popen`: when this driver dies, even by
    kill -9, the whole session goes. Leaving the block while it still runs (a timeout,
    Ctrl-C, an error) kills the session too. The one way the backends start a step."""
    proc = subprocess.Popen(watch_command(os.getpid(), run_dir) + list(cmd), start_new_session=True,
                            **popen_kw)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            kill_session(proc.pid)
            proc.wait()


def _set_parent_death_signal(sig: int) -> bool:
    """prctl(PR_SET_PDEATHSIG, sig): the kernel signals us when our parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(driver: int, run_dir: Path | None, cmd: list[str]) -> int:
    me = os.getpid()
    if os.getsid(0) != me:                # started without a session of its own: make one
        try:
            os.setsid()
        except OSError:
            pass
    own_session = os.getsid(0) == me      # never kill a session that is not the step's
    child = None
    orphaned = []
    signal.signal(signal.SIGTERM, lambda *_: orphaned.append(True))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_parent_death_signal(signal.SIGTERM)

    def take_down(code: int) -> None:
        if own_session:
            kill_session(me, exclude=(me,))
        elif child is not None:
            child.kill()
        if run_dir is not None and os.getppid() != driver:
            remove_run_dir(run_dir)       # the driver is gone: nobody else will
        os._exit(code)

    if os.getppid() != driver:            # the driver died before the death signal was set
        take_down(137)
    if run_dir is not None and own_session:
        (run_dir / "session").write_text(f"{me} {start_time(me) or ''}\n")
    try:
        child = subprocess.Popen(cmd)
    except OSError as exc:
        print(f"pyharness.watchdog: cannot start {cmd[0]}: {exc}", file=sys.stderr, flush=True)
        return 127
    while True:
        try:
            code = child.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if orphaned or os.getppid() != driver:
                take_down(137)
    # the launcher is done: ranks it left behind go with it
    if own_session:
        kill_session(me, exclude=(me,))
    return code if code >= 0 else 128 - code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyharness.watchdog",
                                 description="run a command in this session; kill the session "
                                             "when the driver dies")
    ap.add_argument("--driver", type=int, required=True, help="pid of the driver to watch")
    ap.add_argument("--run-dir", type=Path, default=None, help="removed when the driver dies")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given")
    return _watch(args.driver, args.run_dir, cmd)


if __name__ == "__main__":
    sys.exit(main())
