"""HDF5 files of pyharness: atomic writes, common metadata, schema checks.

Every file is written by one process to ``NAME.tmp.<pid>`` and renamed onto
``NAME`` only once complete and closed, so a killed job never leaves a torn file
under the final name (the rename is atomic on POSIX file systems).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from . import __version__
from .durable import commit
from .errors import UsageError

__all__ = ["SCHEMA", "SCHEMA_VERSION", "atomic_h5", "open_h5", "check_writable",
           "common_attrs", "git_revision", "str_array", "read_str", "decoded", "read_attrs"]

SCHEMA = "pyharness"
SCHEMA_VERSION = 1


def git_revision() -> str:
    """Git revision recorded at build time (``unknown`` if there was none)."""
    try:
        from ._build_info import GIT_REVISION  # written by meson's vcs_tag
    except ImportError:
        return "unknown"
    return GIT_REVISION or "unknown"


def common_attrs(kind: str) -> dict:
    """The root attributes every pyharness file carries (docs/FORMAT.md)."""
    try:
        from mpi4py import MPI
        mpi_version = MPI.Get_library_version().replace("\x00", "").splitlines()[0].strip()
    except Exception:  # pragma: no cover - mpi4py missing or broken
        mpi_version = "unknown"
    try:
        from ._build_info import COMPILER
    except ImportError:
        COMPILER = "unknown"
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "pyharness_version": __version__,
        "numpy_version": np.__version__,
        "h5py_version": h5py.__version__,
        "mpi_version": mpi_version,
        "compiler": COMPILER,
        "git_revision": git_revision(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any computation, if ``path`` cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"output path '{p}' is a directory: give a file name such as {p / 'profile.h5'}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write '{p}': directory '{parent}' does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"cannot write '{p}': directory '{parent}' is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"cannot write '{p}': the file exists and is read-only")
    return p


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, kind: str, attrs: dict | None = None,
              copy_from: str | os.PathLike | None = None) -> Iterator[h5py.File]:
    """Open a temporary HDF5 file; on success rename it onto ``path``.

    Parameters
    ----------
    path : final file name
    kind : ``profile``, ``tune`` or ``explore`` (root attribute ``kind``)
    attrs : more root attributes
    copy_from : start from a copy of this file (used to append to a file
        without ever modifying the original in place)

    Example
    -------
    >>> with atomic_h5("out.h5", "profile") as f:        # doctest: +SKIP
    ...     f["result/cost"] = 1.0
    """
    final = Path(path)
    tmp = final.with_name(f"{final.name}.tmp.{os.getpid()}")
    # before any file is open: the first use of MPI may start a helper process
    # (OpenMPI's singleton init) that would inherit the open file and its lock
    root_attrs = common_attrs(kind) if copy_from is None else {}
    try:
        if copy_from is not None:
            import shutil
            shutil.copyfile(copy_from, tmp)
            mode = "r+"
        else:
            mode = "w"
        with h5py.File(tmp, mode) as f:
            for k, v in root_attrs.items():
                f.attrs[k] = v
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
            yield f
            f.flush()
        commit(tmp, final)   # on disk (fsync) before the rename makes it visible
    finally:
        if tmp.exists():
            tmp.unlink()


def open_h5(path: str | os.PathLike, kinds: tuple[str, ...] | None = None) -> h5py.File:
    """Open a pyharness file for reading, with clear errors for anything else.

    Raises :class:`UsageError` for a missing file, a file that is not HDF5 or is
    truncated, an HDF5 file not written by pyharness, a newer schema version, or
    a file of another kind than ``kinds``.
    """
    p = Path(path)
    give = _what_to_give(kinds)
    if not p.exists():
        raise UsageError(f"'{p}' does not exist: {give}")
    if p.is_dir():
        raise UsageError(f"'{p}' is a directory: {give}")
    if not h5py.is_hdf5(p):
        raise UsageError(f"'{p}' is not an HDF5 file (or is truncated): {give}")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        # cut short after its superblock (a copy that stopped, a full disk): say what to do
        raise UsageError(f"'{p}' cannot be read as HDF5 ({exc}): it is truncated or damaged; "
                         f"{give}") from None
    if f.attrs.get("schema") != SCHEMA:
        f.close()
        raise UsageError(f"'{p}' is an HDF5 file but not a pyharness file (no schema='pyharness' "
                         f"attribute): {give}")
    try:
        version = int(f.attrs.get("schema_version", 0))
    except (TypeError, ValueError):
        bad = f.attrs.get("schema_version")
        f.close()
        raise UsageError(f"'{p}' has a malformed schema_version attribute ({bad!r}, not an integer): "
                         "the file was not written by pyharness or was edited") from None
    if version > SCHEMA_VERSION:
        f.close()
        raise UsageError(f"'{p}' has schema version {version}, newer than this pyharness "
                         f"({SCHEMA_VERSION}): upgrade pyharness to read it")
    kind = f.attrs.get("kind")
    if kinds is not None and kind not in kinds:
        f.close()
        raise UsageError(f"'{p}' is a pyharness '{kind}' file: {give}")
    return f


#: what writes each kind of file, for the error messages of open_h5
_WRITERS = {
    "profile": "a profile (python -m pyharness.profile ... --out profile.h5)",
    "tune": "a tuning history (python -m pyharness.tune ... --out tune.h5)",
    "explore": "an exploration (python -m pyharness.explore ... --out explore.h5)",
    "pareto": "a predicted front (python -m pyharness.optimize ... --pareto N)",
}


def _what_to_give(kinds) -> str:
    """``give a profile (python -m pyharness.profile ... --out profile.h5)``."""
    if not kinds:
        return "give a file written by pyharness"
    return "give " + " or ".join(_WRITERS.get(k, f"a pyharness '{k}' file") for k in kinds)


def str_array(values) -> np.ndarray:
    """Variable-length UTF-8 strings for h5py datasets."""
    return np.array(list(values), dtype=h5py.string_dtype())


def decoded(value):
    """A value as h5py reads it, with bytes decoded to str: a string attribute or element
    reads as bytes or str depending on how it was written (fixed- or variable-length,
    h5py version). Anything else is returned as it is."""
    return value.decode() if isinstance(value, bytes) else value


def read_attrs(obj) -> dict:
    """The attributes of an HDF5 file, group or dataset, strings decoded (:func:`decoded`)."""
    return {k: decoded(v) for k, v in obj.attrs.items()}


def read_str(dataset) -> list[str]:
    return [str(decoded(v)) for v in dataset[()]]
