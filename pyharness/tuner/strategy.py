"""Strategies: from per-site (or per-callee) estimates to the next flips.

Every estimate is for one flip with everything else fixed (docs/MODEL.md); several
flips at once are judged with the sum of their positive memory costs, an upper
bound of the peak (peaks need not coincide), and then measured anyway.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..vocabulary import MemoryEffect

__all__ = ["Strategy", "Estimate", "propose_inhibit", "propose_activate", "propose_lower"]


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


def _take(ordered: Iterable[Estimate], peak: int, budget: int, k: int) -> list[Estimate]:
    out, extra = [], 0
    for e in ordered:
        cost = max(e.dpk, 0)
        if peak + extra + cost <= budget:
            out.append(e)
            extra += cost
            if len(out) == k:
                break
    return out


def propose_inhibit(strategy: Strategy, estimates: Mapping[str, Estimate], candidates: Iterable[str],
                    peak: int, budget: int, k: int = 1) -> list[Estimate]:
    """Up to ``k`` active units to inhibit whose estimated peak fits ``budget``.

    runtime-first: the largest time gains first. memory-careful: units that
    lower the peak or leave it unchanged first (largest gain first), then the best
    gain per byte. Only units with a positive estimated gain are proposed.
    """
    pool = [estimates[c] for c in candidates if c in estimates and estimates[c].dt > 0]
    if strategy is Strategy.RUNTIME_FIRST:
        ordered = sorted(pool, key=lambda e: (-e.dt, e.dpk, e.key))
    else:
        free = sorted((e for e in pool if e.dpk <= 0), key=lambda e: (-e.dt, e.dpk, e.key))
        costly = sorted((e for e in pool if e.dpk > 0), key=lambda e: (-e.dt / e.dpk, e.key))
        ordered = free + costly
    return _take(ordered, peak, budget, k)


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
