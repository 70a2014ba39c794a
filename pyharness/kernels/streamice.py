"""streamice: a 2-D ice-stream mini-app (Picard + CG velocity solve, thickness
advection) under MPI, with a hand-written Tapenade-shaped adjoint.

See docs/STREAMICE.md for the equations and the call tree of its checkpoint sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import runtime
from . import Kernel, KernelSpec

__all__ = ["StreamiceParams", "Streamice", "SPEC"]


@dataclass(frozen=True)
class StreamiceParams:
    """Grid (nx along flow, ny across, split over ranks), time steps, iterations."""

    nx: int = 48
    ny: int = 32
    nt: int = 3
    npicard: int = 2
    ncg: int = 4


class Streamice(Kernel):
    def __init__(self, comm, params: StreamiceParams):
        super().__init__(comm, params)
        p = params
        runtime.call("streamice_setup", comm.py2f(), p.nx, p.ny, p.nt, p.npicard, p.ncg)
        self._n = int(runtime.api().api_streamice_nctrl())

    def nctrl(self) -> int:
        return self._n

    def control_default(self) -> np.ndarray:
        ctrl = np.zeros(self._n, dtype=np.float64)
        runtime.api().api_streamice_control_default(self._n, ctrl)
        return ctrl

    def primal(self, ctrl: np.ndarray) -> float:
        c = np.ascontiguousarray(ctrl, dtype=np.float64)
        return float(runtime.call("streamice_primal", self._n, c))

    def adjoint(self, ctrl: np.ndarray) -> tuple[float, np.ndarray]:
        c = np.ascontiguousarray(ctrl, dtype=np.float64)
        grad = np.zeros(self._n, dtype=np.float64)
        cost = runtime.call("streamice_adjoint", self._n, c, grad)
        return float(cost), grad

    # ---- time-stepping interface (binomial checkpointing of the time loop)
    supports_time_stepping = True

    def ts_nsteps(self) -> int:
        return self.params.nt

    def ts_state_bytes(self) -> int:
        return 8 * int(runtime.api().api_streamice_ts_state_size())

    def ts_begin(self, ctrl: np.ndarray) -> None:
        runtime.api().api_streamice_ts_begin(self._n, np.ascontiguousarray(ctrl, dtype=np.float64))

    def ts_state(self) -> np.ndarray:
        n = int(runtime.api().api_streamice_ts_state_size())
        x = np.zeros(n)
        runtime.api().api_streamice_ts_state(n, x)
        return x

    def ts_set_state(self, x: np.ndarray) -> None:
        runtime.api().api_streamice_ts_set_state(len(x), np.ascontiguousarray(x, dtype=np.float64))

    def ts_advance(self, nsteps: int, taped: bool) -> None:
        runtime.api().api_streamice_ts_advance(int(nsteps), 1 if taped else 0)

    def ts_end_forward(self) -> float:
        return float(runtime.api().api_streamice_ts_end_forward())

    def ts_reverse(self, nsteps: int) -> None:
        runtime.api().api_streamice_ts_reverse(int(nsteps))

    def ts_gradient(self) -> np.ndarray:
        g = np.zeros(self._n)
        runtime.api().api_streamice_ts_gradient(self._n, g)
        return g

    def teardown(self) -> None:
        runtime.api().api_streamice_teardown()


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
