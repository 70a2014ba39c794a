"""What a process read from a file, kept per version of the file on disk.

Two readers keep what they read of a file so as not to read it again: the cost
model of a profile (:func:`pyharness.model.cache.model_of`) and what the check of
an event file needs of it (:func:`pyharness.reduction.check_rank_file`). Both key
it by :func:`file_key`, the file's real path and its identity on disk: pyharness
writes every file under a temporary name and renames it into place
(:mod:`pyharness.durable`), so a file written again is a new inode, a new key, and
is read again. A :class:`FileCache` keeps the last few results only.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Callable, Generic, TypeVar

__all__ = ["FileCache", "file_key"]

T = TypeVar("T")


def file_key(path: str | os.PathLike) -> tuple | None:
    """``(real path, device, inode, modification time, change time, size)`` of the
    file ``path`` (the times in ns); None when it cannot be stat'ed (missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


class FileCache(Generic[T]):
    """The last ``keep`` results of ``read(path)``, by :func:`file_key` (least recently
    used first out). An exception of the types ``keep_errors`` that ``read`` raises
    is kept too and raised again for the same file version without reading it; any
    other passes through, and nothing is kept. A file that cannot be stat'ed (missing)
    is handed to ``missing`` (default: ``read``, which says what is wrong) every time,
    and nothing is kept."""

    def __init__(self, keep: int, keep_errors: tuple[type[BaseException], ...] = ()):
        self.keep = keep
        self.keep_errors = tuple(keep_errors)
        self._items: OrderedDict[tuple, tuple[bool, object]] = OrderedDict()

    def get(self, path: str | os.PathLike, read: Callable[[str | os.PathLike], T],
            missing: Callable[[str | os.PathLike], T] | None = None) -> T:
        """``read(path)``, or what it gave (or raised) for this version of the file."""
        key = file_key(path)
        if key is None:
            return (missing or read)(path)
        if key in self._items:
            self._items.move_to_end(key)
            failed, got = self._items[key]
        else:
            try:
                failed, got = False, read(path)
            except self.keep_errors as exc:
                failed, got = True, exc
            self._items[key] = (failed, got)
            while len(self._items) > self.keep:
                self._items.popitem(last=False)
        if failed:
            raise got.with_traceback(None)
        return got

    def clear(self) -> None:
        """Forget everything kept."""
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
