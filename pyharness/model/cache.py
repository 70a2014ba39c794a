"""One :class:`~pyharness.model.cost.CostModel` per profile file, shared by its readers.

Within one process several readers want the model of the same profile: ``tune
--method optimal`` builds it to solve and predict, the greedy loop with
``--flips`` > 1 asks it for the peak of several flips, and the analysis asks it
for the exact peak changes of an adjoint that pushes control bits. Each of them
calling :meth:`CostModel.from_profile` read the profile (and its events) again;
:func:`model_of` builds it once per file and hands the same model to all.

The cache is keyed by the file's real path and its identity on disk (inode,
modification time, size): a profile rewritten under the same name (always by a
rename, pyharness.durable) is a new key. It holds the last few profiles only.
The model returned is shared: treat it as read-only.
"""

from __future__ import annotations

import os
from collections import OrderedDict

from ..errors import UsageError
from .cost import CostModel
from .structure import StructureError

__all__ = ["model_of", "clear"]

KEEP = 4        # models kept: the tuner asks for its incumbent's and its candidate's

_models: OrderedDict[tuple, object] = OrderedDict()


def _key(path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), st.st_ino, st.st_mtime_ns, st.st_size)


def model_of(path: str | os.PathLike) -> CostModel:
    """The cost model of the profile ``path``, built at most once per file version.

    The errors of :meth:`CostModel.from_profile` (:class:`UsageError`,
    :class:`StructureError`) are raised again for the same file without reading it.

    >>> model_of("profile.h5") is model_of("./profile.h5")      # doctest: +SKIP
    True
    """
    key = _key(path)
    if key is None:             # missing: from_profile says so, nothing to keep
        return CostModel.from_profile(path)
    if key in _models:
        _models.move_to_end(key)
        got = _models[key]
    else:
        try:
            got = CostModel.from_profile(path)
        except (UsageError, StructureError) as exc:
            got = exc
        _models[key] = got
        while len(_models) > KEEP:
            _models.popitem(last=False)
    if isinstance(got, BaseException):
        raise got.with_traceback(None)
    return got


def clear() -> None:
    """Forget every model (tests; a caller that wants a fresh read)."""
    _models.clear()
