"""The gradient guard: a configuration whose gradient differs from the start's is never
chosen, and the callees it inhibited must stay checkpointed.

Checkpointing replays the same floating-point operations in the same order, so for
the built-in kernels the gradient of every configuration is bitwise the start's
(docs/GRADCHECK.md, invariance); the guard compares SHA-1 digests of every rank's
gradient bytes. A user's program run through a backend that ingests its results
may not be bitwise reproducible (e.g. reductions in a varying order): its run
writes the gradient to a file (``--gradient-file``), the measurement carries that
file's path as ``gradient_file``, and the guard compares the gradients to a relative
tolerance (:class:`GradientGuard` with ``rtol``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import callee_of
from ..errors import UsageError

__all__ = ["GradientComparison", "GradientGuard", "load_gradient_file", "callee_of"]


@dataclass(frozen=True)
class GradientComparison:
    same: bool
    detail: str                    # in words, for the record and the output
    rel_diff: float = math.nan     # max |g - g0| / max |g0| where known


def load_gradient_file(path: str | Path) -> np.ndarray:
    """A gradient written by a user's run: ``.npy``, or text with one or more numbers
    per line (# comments)."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"gradient file {p} does not exist: the run must write it (--gradient-file)")
    try:
        if p.suffix == ".npy":
            return np.asarray(np.load(p, allow_pickle=False), dtype=float).ravel()
        return np.loadtxt(p, dtype=float, comments="#", ndmin=1).ravel()
    except (ValueError, OSError) as exc:
        raise UsageError(f"gradient file {p} is not a .npy array or numbers as text: {exc}") from None


def _grad_norm(profile: str) -> float:
    """|g| recorded in a profile.h5 (nan when the file or the value is missing)."""
    try:
        from ..h5io import open_h5
        with open_h5(profile, ("profile",)) as f:
            return float(f["result/grad_norm"][()])
    except Exception:
        return math.nan


class GradientGuard:
    """Compare a measured configuration's gradient with the reference (the start's).

    ``rtol=None``: bitwise (the built-in kernels). Otherwise both measurements must
    carry a ``gradient_file`` and agree to ``max |g - g0| <= rtol * max |g0|``.
    ``compare=False``: nothing to compare (a program that writes no gradient); every
    comparison says so.
    """

    def __init__(self, rtol: float | None = None, compare: bool = True):
        if rtol is not None and not rtol >= 0:
            raise UsageError("the gradient tolerance must be >= 0")
        self.rtol = rtol
        self.enabled = compare

    @property
    def mode(self) -> str:
        if not self.enabled:
            return "not compared"
        return "bitwise" if self.rtol is None else f"relative tolerance {self.rtol:g}"

    def compare(self, ref, m) -> GradientComparison:
        if not self.enabled:       # a user's program that writes no gradient (no --gradient-file)
            return GradientComparison(True, "gradient NOT compared (the runs write no gradient file: "
                                            "give --gradient-file)")
        if self.rtol is not None:
            return self._compare_files(getattr(ref, "gradient_file", ""), getattr(m, "gradient_file", ""))
        if m.grad_digest == ref.grad_digest and m.cost == ref.cost:
            return GradientComparison(True, "gradient bitwise identical to the start's", 0.0)
        n0, n1 = _grad_norm(ref.profile), _grad_norm(m.profile)
        rel = abs(n1 - n0) / abs(n0) if n0 else math.nan
        words = [f"gradient differs from the start's (SHA-1 {m.grad_digest[:12]} instead of "
                 f"{ref.grad_digest[:12]})"]
        if math.isfinite(rel):
            words.append(f"|g| {n1:.6e} instead of {n0:.6e} (relative difference {rel:.1e})")
        if m.cost != ref.cost:
            words.append(f"cost {m.cost:.15e} instead of {ref.cost:.15e}")
        return GradientComparison(False, "; ".join(words), rel)

    def _compare_files(self, ref_path: str, path: str) -> GradientComparison:
        if not ref_path or not path:
            raise UsageError("a gradient tolerance needs runs that write their gradient "
                             "(--gradient-file); this backend's measurements carry none")
        g0, g = load_gradient_file(ref_path), load_gradient_file(path)
        if g.shape != g0.shape:
            return GradientComparison(False, f"gradient has {g.size} entries, the start's {g0.size} "
                                             f"({path} against {ref_path})", math.inf)
        scale = float(np.max(np.abs(g0), initial=0.0))
        diff = float(np.max(np.abs(g - g0), initial=0.0))
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
        if rel <= self.rtol:
            return GradientComparison(True, f"gradient within {self.rtol:g} of the start's "
                                            f"(relative difference {rel:.1e})", rel)
        return GradientComparison(False, f"relative difference {rel:.2e} > tolerance {self.rtol:g} "
                                         f"({path} against {ref_path})", rel)

