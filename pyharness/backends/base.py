"""The backend interface and the record of one measured run."""

from __future__ import annotations

import abc
from dataclasses import dataclass


from ..config import Configuration
from ..errors import PyharnessError
from ..h5io import open_h5

__all__ = ["Backend", "Measurement", "RunFailed", "RunRequest", "get_backend",
           "backend_names", "measurement_from_profile"]


class RunFailed(PyharnessError):
    """A run did not produce a profile (crashed, cancelled, timed out, bad input)."""

    def __init__(self, message: str, state: str = "FAILED", exit_code: int | None = None,
                 job_id: str | None = None):
        self.state = state
        self.exit_code = exit_code
        self.job_id = job_id
        super().__init__(message)


@dataclass(frozen=True)
class Measurement:
    """Per-rank figures of one adjoint run, read back from its profile.h5."""

    wall_s: tuple[float, ...]
    cpu_s: tuple[float, ...]
    peak_bytes: tuple[int, ...]
    cost: float
    grad_digest: str
    profile: str

    @property
    def wall(self) -> float:
        """Slowest rank's wall time: the run time that matters."""
        return max(self.wall_s)

    @property
    def cpu(self) -> float:
        return max(self.cpu_s)

    @property
    def peak(self) -> int:
        """Largest per-rank peak stack: what the per-rank budget is compared with."""
        return max(self.peak_bytes)


def measurement_from_profile(path: str) -> Measurement:
    with open_h5(path, ("profile",)) as f:
        s = f["summary"]
        return Measurement(
            tuple(float(x) for x in s["wall_s"][()]),
            tuple(float(x) for x in s["cpu_s"][()]),
            tuple(int(x) for x in s["peak_bytes"][()]),
            float(f["result/cost"][()]),
            str(f["result"].attrs.get("grad_sha1", "")),
            str(path),
        )


@dataclass(frozen=True)
class RunRequest:
    """What every backend needs to run a kernel: name, size, overrides, ranks."""

    kernel: str
    size: str = "small"
    params: tuple[tuple[str, str], ...] = ()
    nranks: int = 1
    repeat: int = 1


class Backend(abc.ABC):
    """Runs one configuration and returns its measurement (rank 0 of the tuner)."""

    name = "abstract"

    def __init__(self, request: RunRequest):
        self.request = request

    @abc.abstractmethod
    def run(self, config: Configuration, profile_path: str, label: str = "") -> Measurement:
        """Run ``config``, leave its profile at ``profile_path``, return the measurement."""

    def shutdown(self) -> None:
        """Release workers (the inline backend's other ranks)."""

    def describe(self) -> str:
        return self.name

    @classmethod
    def create(cls, request: RunRequest, comm=None, **options) -> "Backend":
        """Make the backend for ``request``; ``comm`` is the tuner's communicator,
        which only a backend running on the tuner's own ranks needs (inline)."""
        return cls(request, **options)


def backend_names() -> list[str]:
    """Every registered backend (entry-point group ``pyharness.backends``), without importing any."""
    from ..plugins import available
    return sorted(available("backends"))


def get_backend(name: str, request: RunRequest, comm=None, **options) -> Backend:
    """A backend by name: an unknown name lists the known ones; a backend whose
    package fails to import raises :class:`~pyharness.plugins.PluginError` with
    that import error."""
    from ..plugins import PluginError, describe
    plugin = describe("backends", name)
    cls = plugin.load()
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise PluginError(f"backend '{name}' registered by {plugin.dist} as {plugin.value} is not "
                          f"a subclass of pyharness.backends.Backend")
    return cls.create(request, comm=comm, **options)
