"""smoother: an example pyharness kernel shipped as its own package.

Its call tree is that of a two-level multigrid cycle inside a time step: per
step, ``nsmooth`` pre-smoothing sweeps, a residual, a coarse-grid correction
(itself smoothed), then post-smoothing. The adjoint and its checkpoint sites are
pyharness's calltree engine (Fortran, Tapenade-shaped); only the tree and the
parameters are defined here. The package registers the kernel in its
pyproject.toml::

    [project.entry-points."pyharness.kernels"]
    smoother = "ph_example_kernel:SPEC"
"""

from __future__ import annotations

from dataclasses import dataclass

from pyharness.kernels import KernelSpec
from pyharness.kernels.calltree import Calltree, validate_description

__all__ = ["SmootherParams", "Smoother", "SPEC"]


@dataclass(frozen=True)
class SmootherParams:
    """State reals per rank, time steps, smoothing sweeps per level."""

    m: int = 128
    nsteps: int = 4
    nsmooth: int = 2

    def description(self) -> dict:
        s = max(1, self.nsmooth)
        return validate_description({"m": self.m, "nodes": [
            {"name": "step", "work": 1, "children": [
                {"node": "smooth", "loop": s}, {"node": "residual"},
                {"node": "coarse"}, {"node": "smooth", "loop": s}]},
            {"name": "smooth", "work": 2, "pad": 64, "comm": True},
            {"name": "residual", "work": 1, "pad": 256, "comm": True},
            {"name": "coarse", "work": 1, "snap_pad": 16, "children": [
                {"node": "restrict"}, {"node": "smooth", "loop": 2 * s}, {"node": "prolong"}]},
            {"name": "restrict", "work": 1, "pad": 512},
            {"name": "prolong", "work": 1, "pad": 512},
        ]}, "smoother")


class Smoother(Calltree):
    """The calltree engine with the tree above."""


SPEC = KernelSpec(
    name="smoother",
    params_type=SmootherParams,
    sizes={"small": SmootherParams(), "demo": SmootherParams(m=4096, nsteps=8, nsmooth=3)},
    factory=Smoother,
    description="example plug-in: a two-level multigrid cycle per time step (calltree engine)",
)
Smoother.spec = SPEC
