"""The backend interface and the record of one measured run."""

from __future__ import annotations

import abc
import argparse
from dataclasses import dataclass

from ..config import Configuration
from ..errors import PyharnessError
from ..h5io import open_h5

__all__ = ["Backend", "Measurement", "RunFailed", "RunRequest", "get_backend", "backend_class",
           "backend_names", "measurement_from_profile", "mpiexec_env"]


def mpiexec_env(env: dict) -> dict:
    """``env`` (changed in place, and returned) made the environment of an ``mpiexec``
    this process starts (the local backend's runs, the command backend's ``--run``):
    OpenMPI allowed to run as root and to oversubscribe unless the user said otherwise,
    and none of this process's MPI identity (a singleton, or a rank of an mpiexec: the
    child would refuse with 'mpiexec does not support recursive calls'). What the
    launcher sets goes; the user's own MCA settings stay."""
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    launcher_mca = ("OMPI_MCA_ess", "OMPI_MCA_orte", "OMPI_MCA_pmix", "OMPI_MCA_initial_wdir",
                    "OMPI_MCA_shmem_RUNTIME_QUERY_hint", "OMPI_MCA_mpi_oversubscribe")
    for k in list(env):
        if k.startswith(("PMIX_", "ORTE_")) or k.startswith(launcher_mca):
            del env[k]
        elif k.startswith("OMPI_") and not k.startswith(("OMPI_MCA_", "OMPI_ALLOW_RUN_AS_ROOT")):
            del env[k]          # OMPI_COMM_WORLD_*, OMPI_UNIVERSE_SIZE, OMPI_COMMAND, OMPI_ARGV, ...
    return env


# how the runtime says a run went over --limit (fortran/runtime/ph_adstack.c; the replay
# backend says it the same way)
STACK_LIMIT_TEXT = "AD stack limit exceeded"


class RunFailed(PyharnessError):
    """A run did not produce a profile (crashed, cancelled, timed out, bad input)."""

    def __init__(self, message: str, state: str = "FAILED", exit_code: int | None = None,
                 job_id: str | None = None, retryable: bool = True):
        self.state = state
        self.exit_code = exit_code
        self.job_id = job_id
        # False: running it again cannot help (a build error; the AD stack limit, which the
        # same configuration exceeds by the same bytes every time)
        self.retryable = retryable and STACK_LIMIT_TEXT not in message
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
    gradient_file: str = ""      # the gradient the run wrote (--gradient-file), kept per step

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
    """Runs one configuration and returns its measurement (rank 0 of the tuner).

    A backend may declare its own command-line options: tune and explore add
    :meth:`add_arguments`'s options (in a group of their own) when ``--backend``
    names it, and build the backend with the keyword arguments
    :meth:`options_from_args` makes of the parsed options. A backend that runs a
    program pyharness does not know (``command``) sets ``discovers_sites``: its
    site table comes from its first run (:meth:`site_table`), not from a kernel.
    """

    name = "abstract"
    #: the site table is learnt from a run (site_table), there is no kernel to ask
    discovers_sites = False
    #: decisions this backend can carry out, if it cannot switch single sites
    #: (Tapenade's -nocheckpoint list is per callee); None: any granularity
    granularity = None

    @classmethod
    def add_arguments(cls, group: "argparse._ArgumentGroup") -> None:
        """Declare this backend's command-line options on ``group`` (default: none)."""

    @classmethod
    def options_from_args(cls, args: argparse.Namespace, **context) -> dict:
        """Keyword arguments of :meth:`create` from the parsed options (default: none).
        ``context`` carries what the tool has made already (``store``: the tune.h5)."""
        return {}

    def site_table(self, profile_path: str):
        """``discovers_sites`` backends: the site table, from ``profile_path`` if it exists
        (resume), else from a run of every site checkpointed written there."""
        raise NotImplementedError(f"the {self.name} backend runs a known kernel: ask the kernel")

    def gradient_guard(self):
        """How gradients of this backend's measurements are compared with the start's
        (default: bitwise, tuner/guard.py)."""
        from ..tuner.guard import GradientGuard
        return GradientGuard()
    # True: running a configuration again gives the same measurement (replay), so the
    # tuner's repeated rounds of one step would only repeat it
    deterministic = False

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


def backend_class(name: str) -> type[Backend]:
    """The class registered as backend ``name``: an unknown name lists the known ones; a
    backend whose package fails to import raises :class:`~pyharness.plugins.PluginError`
    with that import error."""
    from ..plugins import PluginError, describe
    plugin = describe("backends", name)
    cls = plugin.load()
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise PluginError(f"backend '{name}' registered by {plugin.dist} as {plugin.value} is not "
                          f"a subclass of pyharness.backends.Backend")
    return cls


def get_backend(name: str, request: RunRequest, comm=None, **options) -> Backend:
    """A backend by name (see :func:`backend_class`), made for ``request``."""
    return backend_class(name).create(request, comm=comm, **options)


def add_backend_arguments(ap: argparse.ArgumentParser, argv, default: str = "inline",
                          choices=None) -> type[Backend] | None:
    """Add the options of the backend ``argv`` selects (``--backend NAME``) to ``ap``,
    in a group of their own; returns its class (None for a name that is not registered:
    the parser's own ``choices`` then says so)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--backend", default=default)
    known, _ = pre.parse_known_args(argv)
    names = backend_names() if choices is None else choices
    if known.backend not in names:
        return None
    cls = backend_class(known.backend)
    group = ap.add_argument_group(f"{known.backend} backend")
    cls.add_arguments(group)
    return cls
