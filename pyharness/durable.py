"""Durable files: fsync before rename, an advisory lock on an output, stale
temporary files of dead writers.

Every pyharness file is written to ``NAME.tmp.<pid>``, flushed to disk and renamed
onto ``NAME`` (atomic on POSIX file systems), so a kill leaves the old file or the
new one, never a torn one; what a killed writer leaves is a ``NAME.tmp.<pid>``,
which :func:`remove_stale_tmp` deletes once that pid is gone.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
from pathlib import Path

from .errors import UsageError

__all__ = ["fsync_file", "fsync_dir", "commit", "tmp_name", "OutputLock", "remove_stale_tmp",
           "remove_stale_outputs"]

_TMP_RE = re.compile(r"^(?P<name>.+)\.tmp\.(?P<pid>\d+)$")


def tmp_name(path: str | os.PathLike) -> Path:
    """The temporary name this process writes ``path`` under."""
    p = Path(path)
    return p.with_name(f"{p.name}.tmp.{os.getpid()}")


def fsync_file(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename in this directory durable (best effort where unsupported)."""
    try:
        fd = os.open(path or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """fsync ``tmp``, rename it onto ``final`` and fsync the directory."""
    from .faults import stop_at
    fsync_file(tmp)
    stop_at("tmp-written")
    os.replace(tmp, final)
    fsync_dir(Path(final).parent)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs: a zombie (killed, not yet reaped; its
    parent, an MPI launcher, may have exited and left it to an init that reaps late)
    writes nothing more, so it counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True     # no /proc: trust kill()


def remove_stale_tmp(directory: str | os.PathLike, names: set[str] | None = None,
                     prefix: str | None = None) -> list[Path]:
    """Delete ``NAME.tmp.<pid>`` files in ``directory`` whose writer is dead.

    Only files of these ``names``, or whose NAME starts with ``prefix``, when given.
    Returns the files removed.
    """
    d = Path(directory)
    removed = []
    if not d.is_dir():
        return removed
    for p in d.iterdir():
        m = _TMP_RE.match(p.name)
        if not m or (names is not None and m.group("name") not in names):
            continue
        if prefix is not None and not m.group("name").startswith(prefix):
            continue
        pid = int(m.group("pid"))
        if pid == os.getpid() or not _pid_alive(pid):
            try:
                if p.is_dir():
                    continue
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    return removed


def remove_stale_outputs(out: str | os.PathLike, dirs=()) -> list[Path]:
    """Temporary files that killed writers left beside ``out`` (``tune.h5.tmp.<pid>``,
    ``tune.config.json.tmp.<pid>``, ...) and in ``dirs`` (and the ``*.events``
    directories of the profiles there): removed, and said so.

    Call it holding ``out``'s :class:`OutputLock`. Only for directories written on this
    host: the pid of a job's writer on another node means nothing here."""
    out = Path(out)
    stem = out.name[:-3] if out.name.endswith(".h5") else out.name
    removed = remove_stale_tmp(out.parent if str(out.parent) else ".", prefix=stem)
    for d in dirs:
        removed += remove_stale_tmp(d)
        # the event files of the profiles kept there (PROFILE.events/{rank,group}_*.h5)
        if Path(d).is_dir():
            for sub in sorted(Path(d).glob("*.events")):
                removed += remove_stale_tmp(sub)
    if removed:
        import sys
        print(f"removed {len(removed)} temporary file(s) left by killed writers: "
              + ", ".join(str(p) for p in removed[:5]) + (", ..." if len(removed) > 5 else ""),
              file=sys.stderr, flush=True)
    return removed


class OutputLock:
    """An advisory lock (``flock``) on ``OUT.lock``, held while a tuner or an
    exploration writes ``OUT``.

    A second writer fails at once with the holder's pid instead of colliding with it.
    The lock goes away with the process (also after ``kill -9``); the lock file stays.
    """

    def __init__(self, out: str | os.PathLike, what: str = "run"):
        self.out = Path(out)
        self.path = self.out.with_name(self.out.name + ".lock")
        self.what = what
        self.fd: int | None = None

    def acquire(self) -> "OutputLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot create the lock file '{self.path}': {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                os.close(fd)       # a file system without locks (some NFS): go on unlocked
                import sys
                print(f"warning: cannot lock {self.path} ({exc.strerror}): nothing stops another "
                      f"{self.what} from writing {self.out} at the same time", file=sys.stderr)
                return self
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            try:
                words = os.pread(fd, 256, 0).decode(errors="replace").split()
                holder = words[0] + (f" on {words[1]}" if len(words) > 1 else "")
            except (OSError, IndexError):
                holder = "?"
            os.close(fd)
            raise UsageError(f"{self.out} is in use by another {self.what} (process {holder}, lock "
                             f"{self.path}): wait for it to finish or stop it, or use another --out") from None
        os.ftruncate(fd, 0)
        import socket
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
