"""biogeo: a 3-D ocean biogeochemistry mini-app in the spirit of MITgcm's
tutorial_global_oce_biogeo (DIC, alkalinity, phosphate, DOP, oxygen under a
prescribed circulation; upwind advection, implicit vertical mixing, biological
uptake and remineralisation, air-sea exchange with a Newton carbonate solve)
under MPI, with a hand-written Tapenade-shaped adjoint. The control is the
initial state of the five tracers; the cost is the mean air-sea CO2 uptake.

See docs/BIOGEO.md for the equations and the call tree of its 43 checkpoint sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import FortranKernel, KernelSpec

__all__ = ["BiogeoParams", "Biogeo", "SPEC", "TRACERS"]

TRACERS = ("dic", "alk", "po4", "dop", "o2")


@dataclass(frozen=True)
class BiogeoParams:
    """Grid (nx zonal, ny meridional split over ranks, nz levels), time steps,
    Newton iterations of the carbonate solve."""

    nx: int = 24
    ny: int = 16
    nz: int = 6
    nt: int = 3
    nnewton: int = 4


class Biogeo(FortranKernel):
    event_probe = (1, 1)     # events through ph_sitecalls, by site number
    supports_time_stepping = True     # the Fortran type binds the ts_* hooks
    # order 2 from ~1e-2 down; round-off (~4e-18) reached near 1e-8
    taylor_eps = (1e-3, 1e-6)
    # no global sums in the time step: agrees with a serial run to ~1e-15
    serial_rtol = 1e-12

    def setup_ints(self) -> list[int]:
        p = self.params
        return [p.nx, p.ny, p.nz, p.nt, p.nnewton]

    def decomposed_rows(self, g):
        p = self.params
        return g.reshape(p.nx, -1, p.nz, 5, order="F")            # (x, this rank's rows, z, tracer)

    def boundary_rows(self):
        mask = np.zeros(self.nctrl(), dtype=bool)
        self.decomposed_rows(mask)[:, -1, :, :] = True            # the last owned row
        return mask


SPEC = KernelSpec(
    name="biogeo",
    params_type=BiogeoParams,
    sizes={
        "small": BiogeoParams(),
        "demo": BiogeoParams(nx=64, ny=48, nz=12, nt=6, nnewton=5),
        "medium": BiogeoParams(nx=128, ny=96, nz=15, nt=12, nnewton=6),
        "large": BiogeoParams(nx=256, ny=192, nz=20, nt=24, nnewton=6),
    },
    factory=Biogeo,
    description="3-D ocean tracers: advection, implicit mixing, biology, carbonate chemistry",
)
Biogeo.spec = SPEC
