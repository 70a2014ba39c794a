"""streamice: a 2-D ice-stream mini-app (Picard + CG velocity solve, thickness
advection) under MPI, with a hand-written Tapenade-shaped adjoint.

See docs/STREAMICE.md for the equations and the call tree of its checkpoint sites.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def setup_ints(self) -> list[int]:
        p = self.params
        return [p.nx, p.ny, p.nt, p.npicard, p.ncg]


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
