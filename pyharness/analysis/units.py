"""Sizes for the analysis: budgets (``512MiB``, ``1.5GB``, ``1000000``, ``1.5x``) and printing.

The byte parser and printers are the package's (:mod:`pyharness.units`), so
that every tool reads sizes the same way; this module adds what the analysis
needs on top: resolving a budget against the current peak, and reading the
sizes Tapenade prints (``1.500000 Mb``, ``-865000b``: decimal units).

Examples
--------
>>> resolve_budget("1.5x", current_peak=1000)
1500
>>> resolve_budget("2KiB", current_peak=1000)
2048
>>> parse_tapenade_bytes("1.500000", "Mb")
1500000
"""

from __future__ import annotations

import math

from ..errors import UsageError
from ..units import Budget, human_bytes, human_time, parse_budget, parse_size

__all__ = ["parse_size", "parse_budget", "Budget", "resolve_budget", "human_bytes", "human_time",
           "parse_tapenade_bytes", "BUDGET_HELP"]

BUDGET_HELP = "use bytes with a unit like 512MiB, or a factor like 1.5x"

_TAPENADE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
                   "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def resolve_budget(text: str | Budget, current_peak: int) -> int:
    """Bytes of a per-rank budget given as a size or as a factor of ``current_peak``.

    Parameters
    ----------
    text : str or Budget
        ``'512MiB'``, ``'1.5GB'``, ``'1000000'`` or ``'1.5x'``.
    current_peak : int
        The largest per-rank peak of the profile (what ``x`` multiplies).

    Raises
    ------
    UsageError
        ``budget '12qq' is not a size: use bytes with a unit like 512MiB, or a
        factor like 1.5x``.
    """
    budget = text if isinstance(text, Budget) else parse_budget(text)
    if budget.factor is not None and not math.isfinite(budget.factor):
        raise UsageError(f"budget '{text}' is not a size: {BUDGET_HELP}")
    return int(budget.resolve(int(current_peak)))


def parse_tapenade_bytes(value: str, unit: str) -> int:
    """Bytes of a size printed by Tapenade's profiler (``Mb`` = 10^6 bytes, as it prints them).

    The sign is kept; binary units (``MiB``) are accepted too.
    """
    u = unit.strip().lower()
    if u not in _TAPENADE_UNITS:
        raise ValueError(f"unknown size unit '{unit}' (expected b, Kb, Mb, Gb)")
    return int(round(float(value) * _TAPENADE_UNITS[u]))
