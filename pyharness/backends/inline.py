"""inline: every rank of the current MPI job runs each configuration.

Rank 0 (the tuner) broadcasts the configuration; all ranks run the adjoint with
profiling on and rank 0 writes the profile. The other ranks sit in
:meth:`InlineBackend.serve` until :meth:`shutdown`.
"""

from __future__ import annotations

from ..config import Configuration
from ..errors import PyharnessError
from ..kernels import get_kernel, sites_command
from .. import runtime
from ..config import SiteTable
from .base import Backend, Measurement, RunFailed, RunRequest, measurement_from_profile

__all__ = ["InlineBackend"]


class InlineBackend(Backend):
    """The ranks of the tuning job run every configuration (mpiexec python -m pyharness.tune)."""

    name = "inline"

    def __init__(self, request: RunRequest, comm, stack_limit: int = 0):
        super().__init__(request)
        self.comm = comm
        self.stack_limit = stack_limit
        spec = get_kernel(request.kernel)
        self.kernel = spec.create(comm, request.size, dict(request.params))
        self.table = SiteTable.from_locations(
            runtime.locations(), sites_command(request.kernel, request.size, dict(request.params)))
        self._warm = False

    @classmethod
    def create(cls, request: RunRequest, comm=None, **options) -> "InlineBackend":
        if comm is None:
            from mpi4py import MPI
            comm = MPI.COMM_WORLD
        return cls(request, comm, **options)

    def describe(self) -> str:
        return f"inline ({self.comm.size} rank(s) of this job)"

    def _run_all(self, config: Configuration, profile_path: str) -> str | None:
        """Collective: every rank runs; returns an error message or None (same on all ranks)."""
        from ..profile import run_adjoint, write_profile
        try:
            if not self._warm:
                # one unmeasured run first: page in the stack and the event buffer,
                # so that the starting configuration is not timed cold
                run_adjoint(self.comm, self.kernel, self.table, config, profiling=True)
                self._warm = True
            summary, events, _ = run_adjoint(self.comm, self.kernel, self.table, config,
                                             profiling=True, stack_limit=self.stack_limit,
                                             repeat=self.request.repeat)
            write_profile(profile_path, self.comm, self.kernel, self.table, config, summary, events,
                          command="pyharness.tune (inline backend)")
        except PyharnessError as exc:   # raised on every rank by the collectives
            return str(exc)
        return None

    def run(self, config: Configuration, profile_path: str, label: str = "") -> Measurement:
        self.comm.bcast(("run", config, profile_path), root=0)
        err = self._run_all(config, profile_path)
        if err is not None:
            raise RunFailed(err, state="FAILED")
        return measurement_from_profile(profile_path)

    def serve(self) -> None:
        """Loop of the non-root ranks: run what rank 0 broadcasts until told to stop."""
        while True:
            msg = self.comm.bcast(None, root=0)
            if msg is None or msg[0] == "stop":
                return
            _, config, path = msg
            self._run_all(config, path)

    def shutdown(self) -> None:
        if self.comm.rank == 0:
            self.comm.bcast(("stop",), root=0)
