"""Strategies: from per-site (or per-callee) estimates to the next flips.

Every estimate is for one flip with everything else fixed (docs/MODEL.md), and is
exact for one flip. Several flips at once are NOT the sum of their single-flip
memory costs (peaks need not coincide, and an inner site inhibited with its caller
costs more than the two changes apart: the sum is below the truth in about 7% of
random pairs), so a step of several flips is judged with the cost model's predicted
peak of the whole configuration (``peak_of``, :mod:`pyharness.model`); without a
model a step flips one unit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from ..vocabulary import MemoryEffect

__all__ = ["Strategy", "Estimate", "propose_inhibit", "pick_inhibit", "propose_activate", "propose_lower"]


class Strategy(enum.Enum):
    RUNTIME_FIRST = "runtime-first"
    MEMORY_CAREFUL = "memory-careful"


@dataclass(frozen=True)
class Estimate:
    """What inhibiting one decision unit (a site or a callee) is estimated to do."""

    key: str            # site name, or callee name with --granularity callee
    dt: float           # s saved on the slowest rank (wall) if inhibited
    dpk: int            # bytes: change of the largest per-rank peak if inhibited
    count: int = 0      # dynamic instances (summed over ranks)
    dt_cpu: float = 0.0

    @property
    def group(self) -> MemoryEffect:
        """Tapenade's group of this unit: lowers the peak, memory-neutral, or a memory cost."""
        return MemoryEffect.of(self.dpk)


def _take(ordered: Iterable[Estimate], peak: int, budget: int, k: int,
          peak_of: Callable[[frozenset[str]], int | None] | None = None
          ) -> tuple[list[Estimate], int | None]:
    """The first unit whose single-flip peak fits, then (k > 1) more units as long as
    the model's predicted peak of all of them together fits; without a prediction
    (no model, or not exact for that configuration) only the first. Returns the units
    and, for two or more, the predicted peak of all of them (None for one)."""
    out: list[Estimate] = []
    together = None
    for e in ordered:
        if not out:
            if peak + max(e.dpk, 0) <= budget:      # exact for one flip
                out.append(e)
                if k == 1 or peak_of is None:
                    break
            continue
        p = peak_of(frozenset(x.key for x in out) | {e.key})
        if p is None:
            break
        if p <= budget:
            out.append(e)
            together = p
            if len(out) == k:
                break
    return out, together


def propose_inhibit(strategy: Strategy, estimates: Mapping[str, Estimate], candidates: Iterable[str],
                    peak: int, budget: int, k: int = 1,
                    peak_of: Callable[[frozenset[str]], int | None] | None = None) -> list[Estimate]:
    """Up to ``k`` active units to inhibit whose peak fits ``budget``
    (:func:`pick_inhibit` without the predicted peak).

    Example
    -------
    >>> ests = {"a": Estimate("a", 2.0, 10), "b": Estimate("b", 1.0, -5)}
    >>> [e.key for e in propose_inhibit(Strategy.RUNTIME_FIRST, ests, ["a", "b"], 100, 105)]
    ['b']
    """
    return pick_inhibit(strategy, estimates, candidates, peak, budget, k, peak_of)[0]


def pick_inhibit(strategy: Strategy, estimates: Mapping[str, Estimate], candidates: Iterable[str],
                 peak: int, budget: int, k: int = 1,
                 peak_of: Callable[[frozenset[str]], int | None] | None = None
                 ) -> tuple[list[Estimate], int | None]:
    """Up to ``k`` active units to inhibit whose peak fits ``budget``, and the predicted
    peak of them all when there are several (``peak_of`` of the chosen set, as computed
    while choosing them; None for one unit).

    runtime-first: the largest time gains first. memory-careful: units that
    lower the peak or leave it unchanged first (largest gain first), then the best
    gain per byte. Proposed: units with a positive estimated gain, and units that
    lower the peak whatever their gain (the memory they free may let a later flip
    fit; they are kept when the measured peak is lower and the time not worse
    beyond the measured spread). ``peak_of(units)`` is the predicted peak of the
    current configuration with ``units`` inhibited too (None: unknown); it judges
    steps of several flips, which single-flip estimates cannot.

    Example
    -------
    >>> ests = {"a": Estimate("a", 2.0, 10), "b": Estimate("b", 1.0, -5)}
    >>> pick_inhibit(Strategy.RUNTIME_FIRST, ests, ["a", "b"], 100, 115, k=2,
    ...              peak_of=lambda units: 108)[1]
    108
    """
    pool = [estimates[c] for c in candidates if c in estimates
            and (estimates[c].dt > 0 or estimates[c].dpk < 0)]
    if strategy is Strategy.RUNTIME_FIRST:
        ordered = sorted(pool, key=lambda e: (-e.dt, e.dpk, e.key))
    else:
        free = sorted((e for e in pool if e.dpk <= 0), key=lambda e: (-e.dt, e.dpk, e.key))
        costly = sorted((e for e in pool if e.dpk > 0), key=lambda e: (-e.dt / e.dpk, e.key))
        ordered = free + costly
    return _take(ordered, peak, budget, k, peak_of)


def propose_activate(estimates: Mapping[str, Estimate], inhibited: Iterable[str],
                     k: int = 1) -> list[Estimate]:
    """Up to ``k`` inhibited units to checkpoint again, most memory saved per time lost first.

    ``estimates`` are those of each unit when it was last active (its inhibition
    estimate: activating it again should save about ``dpk`` bytes and cost about ``dt``).
    Units never seen active are tried last, by name.
    """
    known = [estimates[c] for c in inhibited if c in estimates and estimates[c].dpk > 0]
    ordered = sorted(known, key=lambda e: (-e.dpk / max(e.dt, 1e-9), e.key))
    unknown = sorted(c for c in inhibited if c not in estimates)
    ordered += [Estimate(c, 0.0, 0) for c in unknown]
    return ordered[:k]


def propose_lower(estimates: Mapping[str, Estimate], active: Iterable[str], k: int = 1) -> list[Estimate]:
    """Up to ``k`` active units whose inhibition is estimated to lower the peak (their
    checkpoint's snapshot outweighs the tape of the callee), the largest reduction first:
    the way down to a budget when nothing is left to re-activate."""
    pool = [estimates[c] for c in active if c in estimates and estimates[c].dpk < 0]
    return sorted(pool, key=lambda e: (e.dpk, -e.dt, e.key))[:k]
