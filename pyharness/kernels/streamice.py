"""streamice: a 2-D ice-stream mini-app (Picard + CG velocity solve, thickness
advection) under MPI, with a hand-written Tapenade-shaped adjoint.

See docs/STREAMICE.md for the equations and the call tree of its checkpoint sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import FortranKernel, KernelSpec

__all__ = ["StreamiceParams", "Streamice", "SPEC"]


@dataclass(frozen=True)
class StreamiceParams:
    """Grid (nx along flow, ny across, split over ranks), time steps, iterations."""

    nx: int = 48
    ny: int = 32
    nt: int = 3
    npicard: int = 2
    ncg: int = 4


class Streamice(FortranKernel):
    event_probe = (1, 1)     # events through ph_sitecalls, by site number
    supports_time_stepping = True     # the Fortran type binds the ts_* hooks
    # the Picard and CG solves are far from quadratic above ~3e-4 (order 0.3-1.8)
    taylor_eps = (1e-4, 1e-6)
    # not bitwise: the decomposed run sums its global dot products and norms (allreduce)
    # in another order than the serial one, and the CG solve stops after a fixed number
    # of iterations, so its result, and its adjoint, carry that round-off on: 1.0e-9
    # (2 ranks) and 1.4e-9 (3 ranks) of the largest entry, spread smoothly over the
    # domain, not peaked at the rows next to the rank boundaries (where a wrong halo
    # adjoint would show, at order one)
    serial_rtol = 1e-8

    def setup_ints(self) -> list[int]:
        p = self.params
        return [p.nx, p.ny, p.nt, p.npicard, p.ncg]

    def decomposed_rows(self, g):
        return g.reshape(self.params.nx, -1, order="F")           # (x, this rank's rows)

    def boundary_rows(self):
        mask = np.zeros(self.nctrl(), dtype=bool)
        self.decomposed_rows(mask)[:, -1] = True                  # the last owned row
        return mask


SPEC = KernelSpec(
    name="streamice",
    params_type=StreamiceParams,
    sizes={
        "small": StreamiceParams(),
        "demo": StreamiceParams(nx=128, ny=96, nt=6, npicard=2, ncg=4),
        "medium": StreamiceParams(nx=256, ny=256, nt=16, npicard=3, ncg=4),
        # about 10 s per checkpointed adjoint on 2 ranks (cold); all inhibited it tapes ~5 GB per rank
        "large": StreamiceParams(nx=512, ny=512, nt=32, npicard=3, ncg=4),
    },
    factory=Streamice,
    description="2-D ice stream: Picard/Glen viscosity, CG momentum solve, advection",
)
Streamice.spec = SPEC
