"""From a profile.h5 to the tuner's per-unit estimates (via pyharness.analysis)."""

from __future__ import annotations

import math
from typing import Callable

from .strategy import Estimate

__all__ = ["profile_estimator"]


def profile_estimator(gran) -> Callable[[str], dict[str, Estimate]]:
    """A function profile_path -> {decision unit: Estimate} for this granularity.

    Units without events in the profile (inhibited ones) get no estimate: the
    loop keeps the last estimate it had of them while they were active.
    """

    def estimate(path: str) -> dict[str, Estimate]:
        from ..analysis import analyze_profile   # heavy import, on demand
        an = analyze_profile(path, granularity=gran.granularity)
        out = {}
        for e in an.estimates:
            if e.count <= 0:
                continue
            dt = e.time_gain_wall_s if math.isfinite(e.time_gain_wall_s) else e.time_gain_s
            dtc = e.time_gain_cpu_s if math.isfinite(e.time_gain_cpu_s) else 0.0
            out[e.name] = Estimate(e.name, float(dt), int(e.peak_change), int(e.count), float(dtc))
        return out

    return estimate
