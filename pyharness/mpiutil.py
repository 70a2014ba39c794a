"""MPI helpers: collective error agreement, gathering arrays to rank 0, CLI runner.

The rule: an error that happens on some ranks must become an error on every
rank, at a point where all ranks are, so that nobody is left waiting in a
collective. :func:`collective` does that for a block of code.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from typing import Callable, Iterator

import numpy as np

from .errors import PyharnessError

__all__ = ["collective", "CollectiveError", "gather_arrays", "run_cli", "world"]


def world():
    """mpi4py's COMM_WORLD (imported lazily)."""
    from mpi4py import MPI
    return MPI.COMM_WORLD


class CollectiveError(PyharnessError):
    """Raised on every rank when a block failed on at least one rank."""


@contextlib.contextmanager
def collective(comm, what: str) -> Iterator[None]:
    """Run a block on all ranks; if it fails anywhere, raise on every rank.

    The message is the first failing rank's, prefixed with that rank when the
    ranks disagree (``rank 1: AD stack limit exceeded ...``).
    """
    err: BaseException | None = None
    try:
        yield
    except PyharnessError as exc:
        err = exc
    except Exception as exc:  # unexpected: keep the traceback in the message
        err = exc
        traceback.print_exc()
    msgs = comm.allgather(None if err is None else str(err))
    bad = [(r, m) for r, m in enumerate(msgs) if m is not None]
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

    A :class:`PyharnessError` (bad input, a failed run) prints ``prog: error:
    message`` on every rank and exits with status 2. Anything else prints its
    traceback and, when several ranks run, aborts the whole job so that no rank
    hangs in a collective.
    """
    try:
        return int(main(argv) or 0)
    except PyharnessError as exc:
        comm = _world_if_initialized()
        tag = f"[rank {comm.rank}/{comm.size}] " if comm is not None and comm.size > 1 else ""
        print(f"{prog}: error: {tag}{exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        comm = _world_if_initialized()
        if comm is not None and comm.size > 1:
            sys.stderr.flush()
            comm.Abort(1)
        return 1


def _world_if_initialized():
    mod = sys.modules.get("mpi4py.MPI")
    if mod is None or not mod.Is_initialized() or mod.Is_finalized():
        return None
    return mod.COMM_WORLD
