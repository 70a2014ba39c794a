"""MPI helpers: collective error agreement, gathering arrays to rank 0, CLI runner.

The rule: an error that happens on some ranks must become an error on every
rank, at a point where all ranks are, so that nobody is left waiting in a
collective. :func:`collective` does that for a block of code.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from typing import Callable, Iterator

import numpy as np

from .errors import PyharnessError

__all__ = ["collective", "CollectiveError", "gather_arrays", "launched_rank", "pickled_size", "rank_list",
           "run_cli", "world"]


def world():
    """mpi4py's COMM_WORLD (imported lazily)."""
    from mpi4py import MPI
    return MPI.COMM_WORLD


def launched_rank() -> int:
    """This process's rank in the job that launched it (mpiexec, srun), 0 outside one,
    read from the launcher's environment without starting MPI: serial tools (analyze,
    report) run under ``mpiexec -n N`` do their work, and print, on rank 0 only."""
    for var in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"):
        v = os.environ.get(var, "")
        if v.isdigit():
            return int(v)
    return 0


def launched_size() -> int:
    """The number of processes of the job that launched this one (mpiexec, srun), 1
    outside one, read from the launcher's environment without starting MPI (PMIx
    exports no size: under srun, the step's task count)."""
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"):
        v = os.environ.get(var, "")
        if v.isdigit():
            return int(v)
    return 1


def pickled_size(obj) -> int:
    """Bytes of ``obj`` as mpi4py's lower-case calls (``gather``, ``send``, ...) send it:
    pickled by ``MPI.pickle`` (its protocol and any dumps set there)."""
    from mpi4py import MPI
    return len(MPI.pickle.dumps(obj))


class CollectiveError(PyharnessError):
    """Raised on every rank when a block failed on at least one rank."""


TRACEBACK_WAIT_S = 10.0     # how long a rank with a traceback waits for the others to arrive


def _arrive(comm, waiting: Callable[[], None] | None = None) -> None:
    """A barrier of every rank of ``comm``; ``waiting()`` is called once if the others
    have not all arrived within ``TRACEBACK_WAIT_S`` (then the barrier is still waited for)."""
    req = comm.Ibarrier()
    if waiting is not None:
        end = time.monotonic() + TRACEBACK_WAIT_S
        while not req.Test():
            if time.monotonic() > end:
                waiting()
                break
            time.sleep(0.005)
    req.Wait()


@contextlib.contextmanager
def collective(comm, what: str) -> Iterator[None]:
    """Run a block on all ranks; if it fails anywhere, raise on every rank.

    The message is the first failing rank's, prefixed with that rank when the
    ranks disagree (``rank 1: AD stack limit exceeded ...``). An unexpected exception's
    traceback is printed by the first rank that raised it (the same message), not by
    every rank: 2,000 ranks hitting the same bug printed 2,000 tracebacks.
    """
    err: BaseException | None = None
    tb = ""
    try:
        yield
    except PyharnessError as exc:
        err = exc
    except Exception as exc:  # unexpected: keep the traceback in the message
        err = exc
        tb = traceback.format_exc()
    said = []

    def say_now():
        # the others are not coming (blocked in a collective this rank left, say): the
        # traceback now, or the hang would show nothing
        print(f"rank {comm.rank}: {tb}", end="", file=sys.stderr, flush=True)
        said.append(True)

    _arrive(comm, say_now if tb else None)
    if said:
        tb = ""
    msgs = comm.allgather(None if err is None else str(err))
    bad = [(r, m) for r, m in enumerate(msgs) if m is not None]
    if tb and next(r for r, m in bad if m == msgs[comm.rank]) == comm.rank:
        print(tb, end="", file=sys.stderr, flush=True)
    if not bad:
        return
    if err is not None and isinstance(err, PyharnessError) and len(bad) == comm.size:
        raise err
    r, m = bad[0]
    if len(bad) == comm.size and len({b[1] for b in bad}) == 1:
        raise CollectiveError(m)
    others = f" and {len(bad) - 1} other rank(s)" if len(bad) > 1 else ""
    raise CollectiveError(f"{m} (while {what}, on rank {r}{others})")


def gather_arrays(comm, arrays: dict[str, np.ndarray], root: int = 0) -> list[dict] | None:
    """Gather each rank's named 1-D arrays to ``root`` (None elsewhere).

    Sizes and dtypes travel first (small pickled messages), then every array as
    a raw buffer, so millions of events cost no pickling.
    """
    meta = {k: (len(v), v.dtype.str) for k, v in arrays.items()}
    metas = comm.gather(meta, root=root)
    if comm.rank != root:
        for tag, k in enumerate(sorted(arrays)):
            comm.Send(np.ascontiguousarray(arrays[k]), dest=root, tag=tag)
        return None
    out = []
    for r, m in enumerate(metas):
        if r == root:
            out.append({k: np.ascontiguousarray(v) for k, v in arrays.items()})
            continue
        d = {}
        for tag, k in enumerate(sorted(m)):
            n, dt = m[k]
            buf = np.empty(n, dtype=np.dtype(dt))
            comm.Recv(buf, source=r, tag=tag)
            d[k] = buf
        out.append(d)
    return out


def run_cli(prog: str, main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a command-line main under MPI: clean messages, exit codes, no hang.

    A :class:`PyharnessError` (bad input, a failed run) exits with status 2 and
    is printed once, by rank 0, naming the ranks it happened on
    (``prog: error: [ranks 0-3 of 4] message``; ranks with different messages
    get a line each), never once per rank. A bad command line (argparse) is such
    an error too. Anything else prints its traceback and, when several ranks
    run, aborts the whole job so that no rank hangs in a collective.
    """
    error = None
    code = 0
    stdout = sys.stdout
    if not isinstance(stdout, _ReaderMayLeave):
        sys.stdout = _ReaderMayLeave(stdout)
    try:
        with _argparse_errors_raise():
            code = int(main(argv) or 0)
    except PyharnessError as exc:
        error, code = str(exc), 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        comm = _world_if_initialized()
        if exc.code in (None, 0) or comm is None or comm.size == 1:
            raise
        # a failure too: said once by rank 0 like the others
        error = exc.code if isinstance(exc.code, str) else f"exited with status {exc.code}"
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:
        traceback.print_exc()
        comm = _world_if_initialized()
        if comm is not None and comm.size > 1:
            sys.stderr.flush()
            comm.Abort(1)
        return 1
    finally:
        sys.stdout.flush()      # what is still buffered, while a closed pipe is caught
        sys.stdout = stdout
    _print_errors(prog, _world_if_initialized(), error)
    return code


class _ReaderMayLeave:
    """sys.stdout while a command line runs: when the reader of a pipe has gone
    (``python -m pyharness.sites ... | head``), the rest of the output is discarded
    instead of raising BrokenPipeError (a traceback, and under MPI a rank leaving
    the others in a collective); the command runs to its end."""

    def __init__(self, stream):
        self._stream = stream

    def _discard(self) -> None:
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError, AttributeError):
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard()

    def __getattr__(self, name):
        return getattr(self._stream, name)


#: tag of the end-of-run status messages run_cli sends to rank 0 (point to point:
#: never matched against a collective a failing rank may have left behind)
_STATUS_TAG = 32123
_ACK_TAG = 32124
#: how long a failed rank 0 waits for the other ranks' status before it reports
_FAILED_WAIT_S = 10.0


#: distinct error messages printed one per line; the others are counted (each rank's
#: message may name its rank: at 2,000 ranks, 2,000 lines)
_MAX_MESSAGES = 5


def error_lines(prog: str, errors: dict, size: int) -> list[str]:
    """The lines rank 0 prints for ``errors`` (rank -> message, or None: fine; ranks
    absent did not report): one per distinct message, with the ranks it happened on,
    at most :data:`_MAX_MESSAGES`; the rest counted with their ranks."""
    by_msg: dict[str, list[int]] = {}
    for r in sorted(errors):
        if errors[r] is not None:
            by_msg.setdefault(errors[r], []).append(r)
    items = list(by_msg.items())
    lines = [f"{prog}: error: [{rank_list(ranks, size)}] {msg}" for msg, ranks in items[:_MAX_MESSAGES]]
    if len(items) > _MAX_MESSAGES:
        rest = sorted(r for _, ranks in items[_MAX_MESSAGES:] for r in ranks)
        lines.append(f"{prog}: error: [{rank_list(rest, size)}] {len(items) - _MAX_MESSAGES} other "
                     f"message(s), the first: {items[_MAX_MESSAGES][0]}")
    silent = [r for r in range(size) if r not in errors]
    if lines and silent:
        lines[-1] += f" ({rank_list(silent, size)} did not finish within {_FAILED_WAIT_S:.0f} s)"
    return lines


def _print_errors(prog: str, comm, error: str | None) -> None:
    """Rank 0 prints every rank's error once, grouped by message, with the ranks
    it happened on. Each rank sends its status (None: fine) to rank 0 point to
    point, so ranks that succeeded and ranks that failed meet without a collective."""
    if comm is None or comm.size == 1:
        if error is not None:
            print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
        return
    if comm.rank != 0:
        comm.send(error, dest=0, tag=_STATUS_TAG)
        if error is not None:
            # rank 0 confirms it printed this; if it cannot (blocked in a collective this
            # rank left), say it here rather than not at all
            deadline = time.monotonic() + _FAILED_WAIT_S
            while not comm.iprobe(source=0, tag=_ACK_TAG):
                if time.monotonic() > deadline:
                    print(f"{prog}: error: [{rank_list([comm.rank], comm.size)}] {error}",
                          file=sys.stderr, flush=True)
                    _abort(comm)      # MPI_Finalize would wait for rank 0 forever
                time.sleep(0.01)
            comm.recv(source=0, tag=_ACK_TAG)
        return
    from mpi4py import MPI
    errors = {0: error}
    # fine here: wait for every rank (as MPI_Finalize would). Failed here: wait a while
    # only, because a rank may be blocked in a collective this one left; then exit, and
    # mpiexec ends that rank
    deadline = time.monotonic() + (_FAILED_WAIT_S if error is not None else float("inf"))
    while len(errors) < comm.size:
        st = MPI.Status()
        if error is None:
            msg = comm.recv(source=MPI.ANY_SOURCE, tag=_STATUS_TAG, status=st)
        elif comm.iprobe(source=MPI.ANY_SOURCE, tag=_STATUS_TAG, status=st):
            msg = comm.recv(source=st.Get_source(), tag=_STATUS_TAG)
        elif time.monotonic() < deadline:
            time.sleep(0.01)
            continue
        else:
            break
        errors[st.Get_source()] = msg
    lines = error_lines(prog, errors, comm.size)
    silent = [r for r in range(comm.size) if r not in errors]
    if lines:
        print("\n".join(lines), file=sys.stderr, flush=True)
    for r, msg in errors.items():
        if r != 0 and msg is not None:
            comm.send(True, dest=r, tag=_ACK_TAG)
    if silent:
        _abort(comm)      # they are blocked where this rank will never come


def _abort(comm) -> None:
    """End the whole job with status 2: ranks blocked in a collective that a failed
    rank left would otherwise keep MPI_Finalize waiting for ever."""
    sys.stdout.flush()
    sys.stderr.flush()
    comm.Abort(2)


def rank_list(ranks: list[int], size: int) -> str:
    """``rank 1 of 4``, ``ranks 0-3 of 4``, ``ranks 0, 2 of 4``; at most 8 ranges
    (:func:`pyharness.units.rank_list`), whatever the number of ranks."""
    from .units import rank_list as ranges
    ranks = sorted(ranks)
    if len(ranks) == 1:
        return f"rank {ranks[0]} of {size}"
    return f"ranks {ranges(ranks)} of {size}"


@contextlib.contextmanager
def _argparse_errors_raise() -> Iterator[None]:
    """A bad command line raises :class:`UsageError` instead of printing on every rank
    and exiting, so that run_cli prints it once."""
    import argparse
    from .errors import UsageError

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")

    saved = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = error
    try:
        yield
    finally:
        argparse.ArgumentParser.error = saved


def _world_if_initialized():
    mod = sys.modules.get("mpi4py.MPI")
    if mod is None or not mod.Is_initialized() or mod.Is_finalized():
        return None
    return mod.COMM_WORLD
