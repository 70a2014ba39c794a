"""One :class:`~pyharness.model.cost.CostModel` per profile file, shared by its readers.

Within one process several readers want the model of the same profile: ``tune
--method optimal`` builds it to solve and predict, the greedy loop with
``--flips`` > 1 asks it for the peak of several flips, and the analysis asks it
for the exact peak changes of an adjoint that pushes control bits. Each of them
calling :meth:`CostModel.from_profile` read the profile (and its events) again;
:func:`model_of` builds it once per file and hands the same model to all.

The cache (a :class:`~pyharness.filecache.FileCache`, as the check of event
files keeps) is keyed by the file's real path and its identity on disk
(:func:`~pyharness.filecache.file_key`: device, inode, modification and change
times, size): a profile rewritten under the same name (always by a rename,
pyharness.durable) is a new key. It holds the last few profiles only. The model
returned is shared: treat it as read-only.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from ..filecache import FileCache
from .cost import CostModel
from .structure import StructureError

__all__ = ["model_of", "clear"]

KEEP = 4        # models kept: the tuner asks for its incumbent's and its candidate's

# a profile that gives no model gives the same error again, without being read again
_models: FileCache[CostModel] = FileCache(KEEP, keep_errors=(UsageError, StructureError))


def model_of(path: str | os.PathLike) -> CostModel:
    """The cost model of the profile ``path``, built at most once per file version.

    The errors of :meth:`CostModel.from_profile` (:class:`UsageError`,
    :class:`StructureError`) are raised again for the same file without reading it;
    a missing file is handed to it every time (it says so), nothing kept.

    >>> model_of("profile.h5") is model_of("./profile.h5")      # doctest: +SKIP
    True
    """
    return _models.get(path, CostModel.from_profile)


def clear() -> None:
    """Forget every model (tests; a caller that wants a fresh read)."""
    _models.clear()
