"""From a profile.h5 to the tuner's per-unit estimates (via pyharness.analysis)."""

from __future__ import annotations

from typing import Callable

from .strategy import Estimate

__all__ = ["profile_estimator"]


def profile_estimator(gran) -> Callable[[str], dict[str, Estimate]]:
    """A function profile_path -> {decision unit: Estimate} for this granularity."""

    def estimate(path: str) -> dict[str, Estimate]:
        from ..analysis import analyze_profile   # noqa: WPS433 (heavy import, on demand)
        res = analyze_profile(path, granularity=gran.name)
        return {r.key: Estimate(r.key, r.dt_wall, r.dpk, r.count, r.dt_cpu) for r in res.rows}

    return estimate
