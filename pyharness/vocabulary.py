"""The words pyharness decides with, one Enum each, shared by the analysis, the
tuner and the reports.

Each member's value is the string written in HDF5 files and JSON, unchanged from
earlier versions so that old files read; code compares members, never strings
(the Enums derive from ``str`` only so that values read back from files compare
equal to their member).

>>> MemoryEffect.of(-4096) is MemoryEffect.GAIN
True
>>> Decision("accepted") is Decision.ACCEPTED
True
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Granularity", "MemoryEffect", "Phase", "Decision"]


class Granularity(str, Enum):
    """What a decision applies to: one call site, or every site calling a callee."""

    SITE = "site"
    CALLEE = "callee"

    def __str__(self) -> str:
        return self.value


class MemoryEffect(str, Enum):
    """The three groups of suggestions, as in Tapenade's profiler: inhibiting
    the site lowers the peak stack, leaves it unchanged, or raises it."""

    GAIN = "gain"          # lowers the peak
    NEUTRAL = "neutral"    # memory-neutral
    COST = "cost"          # a memory cost

    @classmethod
    def of(cls, peak_change: float) -> "MemoryEffect":
        """The group of a peak change in bytes (negative: the peak goes down)."""
        return cls.GAIN if peak_change < 0 else cls.NEUTRAL if peak_change == 0 else cls.COST

    @property
    def label(self) -> str:
        """The group's name in reports: lowers-peak, memory-neutral, memory-cost."""
        return {"gain": "lowers-peak", "neutral": "memory-neutral", "cost": "memory-cost"}[self.value]

    def __str__(self) -> str:
        return self.value


class Phase(str, Enum):
    """What a tuning step does: measure the start, inhibit units to save time,
    re-activate units to get under the budget, or inhibit units that lower the peak
    when nothing is left to re-activate."""

    START = "start"
    INHIBIT = "inhibit"
    ACTIVATE = "activate"
    LOWER = "lower"
    OPTIMAL = "optimal"     # tune --method optimal: the cost model's choice

    @property
    def lowers_peak(self) -> bool:
        """Steps taken over budget: judged by the peak, not by the time."""
        return self in (Phase.ACTIVATE, Phase.LOWER)

    def __str__(self) -> str:
        return self.value


class Decision(str, Enum):
    """What the tuner made of a measured step."""

    START = "start"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def kept(self) -> bool:
        """The step's configuration became the current one."""
        return self in (Decision.START, Decision.ACCEPTED)

    def __str__(self) -> str:
        return self.value
