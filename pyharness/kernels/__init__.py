"""The adjoint kernels, each a Fortran mini-app with a Tapenade-shaped adjoint.

A kernel is set up on a communicator with a parameter record, then runs its
primal or its adjoint as often as needed under different configurations::

    from pyharness.kernels import get_kernel
    k = get_kernel("streamice").create(comm, size="small")
    cost, grad = k.adjoint(k.control_default())
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError

__all__ = ["KernelSpec", "Kernel", "FortranKernel", "get_kernel", "kernel_names",
           "time_stepping_kernels", "parse_params", "sites_command"]


@dataclass(frozen=True)
class KernelSpec:
    """What the registry knows of a kernel: its name, parameters and sizes."""

    name: str
    params_type: type
    sizes: dict[str, Any]
    factory: Any            # callable(comm, params) -> Kernel
    description: str = ""

    def params(self, size: str = "small", overrides: dict[str, str] | None = None):
        """Parameters of a named size, with ``name=value`` overrides."""
        if size not in self.sizes:
            raise UsageError(f"kernel '{self.name}' has no size '{size}'; sizes: {', '.join(self.sizes)}")
        p = self.sizes[size]
        if overrides:
            fields = {f.name: f.type for f in dataclasses.fields(self.params_type)}
            kw = {}
            for k, v in overrides.items():
                if k not in fields:
                    raise UsageError(f"kernel '{self.name}' has no parameter '{k}'; parameters: {', '.join(fields)}")
                if fields[k] in (int, "int"):
                    try:
                        kw[k] = int(v)
                    except ValueError:
                        raise UsageError(f"parameter {k}={v!r} of kernel '{self.name}' is not an integer") from None
                    if not -2**31 <= kw[k] < 2**31:
                        # the Fortran kernels take 32-bit integers: numpy's OverflowError and
                        # its traceback, naming no parameter
                        raise UsageError(f"parameter {k}={v} of kernel '{self.name}' is out of range: "
                                         "the kernels take 32-bit integers (|value| < 2147483648)")
                else:
                    kw[k] = v
            p = dataclasses.replace(p, **kw)
        return p

    def create(self, comm, size: str = "small", overrides: dict[str, str] | None = None, params=None):
        return self.factory(comm, params if params is not None else self.params(size, overrides))


class Kernel:
    """Base class of a set-up kernel (one per process; Fortran state is global)."""

    spec: KernelSpec
    supports_time_stepping = False   # binomial checkpointing of the time loop (binomial.py)
    ts_param: str | None = None      # the parameter that sets the time steps (for messages)
    # how the kernel records events, for runtime.calibrate_events: (path, id);
    # path 1 = site number through ph_sitecalls; None: by the location id of its first site
    event_probe: tuple[int, int] | None = None
    # what pyharness.gradcheck needs to know of it (docs/GRADCHECK.md):
    # the Taylor test's largest and smallest step (None: 1e-3 .. 1e-6), from a scan of
    # the remainder over eps = 1 .. 1e-10
    taylor_eps: tuple[float, float] | None = None
    # --check serial's tolerance, relative to the largest entry of the gradient; None:
    # no grid decomposed over the ranks (each rank has its own state), the check does not
    # apply. A kernel that sets it also gives decomposed_rows().
    serial_rtol: float | None = None

    def __init__(self, comm, params):
        self.comm = comm
        self.params = params

    @property
    def name(self) -> str:
        return self.spec.name

    def params_dict(self) -> dict:
        return dataclasses.asdict(self.params)

    def nctrl(self) -> int:
        raise NotImplementedError

    def control_default(self) -> np.ndarray:
        raise NotImplementedError

    def primal(self, ctrl: np.ndarray) -> float:
        raise NotImplementedError

    def adjoint(self, ctrl: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def teardown(self) -> None:
        pass

    def boundary_rows(self) -> np.ndarray:
        """True on this rank's entries of the control next to the halo it sends (on the
        last rank, the domain's boundary): where a wrong halo adjoint shows, and where
        ``gradcheck --plant-error`` makes the gradient wrong. Default: the last entry."""
        mask = np.zeros(self.nctrl(), dtype=bool)
        mask[-1] = True
        return mask

    def decomposed_rows(self, g: np.ndarray) -> np.ndarray:
        """This rank's gradient with the axis decomposed over the ranks as axis 1
        (``gradcheck --check serial`` joins the ranks' parts along it); kernels with a
        :attr:`serial_rtol` give it."""
        raise NotImplementedError(f"kernel '{self.name}' has no decomposed grid")


class FortranKernel(Kernel):
    """A kernel compiled into the Fortran library: a type extending ``ph_kernel_t``
    (fortran/kernels/ph_kernel.f90), registered in ph_kernel_registry.f90 under
    :attr:`fortran_name`, driven through the API's ``api_kernel_*`` entry points
    with its id (setup, nctrl, control_default, primal, adjoint, teardown, and
    the ``ts_*`` time-stepping hooks binomial checkpointing of the time loop uses).

    A subclass says how its parameters travel to the Fortran ``setup`` hook:
    :meth:`setup_ints` (and :meth:`setup_reals` if it needs reals), and sets
    ``supports_time_stepping = True`` if its Fortran type binds the optional
    ``ts_*`` hooks (without them binomial checkpointing is refused up front and
    ``gradcheck --check invariance`` runs no snapshot counts).
    """

    supports_time_stepping = False      # True when the Fortran type binds the ts_* hooks
    ts_param = "nt"
    fortran_name: str | None = None     # name in ph_kernel_registry (default: spec.name)

    def setup_ints(self) -> list[int]:
        """The integer parameters of the Fortran ``setup`` hook."""
        raise NotImplementedError

    def setup_reals(self) -> list[float]:
        """The real parameters of the Fortran ``setup`` hook."""
        return []

    def _call(self, what: str, *args):
        from .. import runtime
        return runtime.call("kernel_" + what, self._kid, *args)

    def __init__(self, comm, params):
        super().__init__(comm, params)
        from .. import runtime
        self._kid = runtime.kernel_id(self.fortran_name or self.spec.name)
        ints = np.ascontiguousarray(self.setup_ints(), dtype=np.int32)
        reals = np.ascontiguousarray(self.setup_reals(), dtype=np.float64)
        # f2py wants arrays of at least one element even when the count is 0
        self._call("setup", comm.py2f(), len(ints), ints if len(ints) else np.zeros(1, np.int32),
                   len(reals), reals if len(reals) else np.zeros(1))
        self._n = int(self._call("nctrl"))

    def nctrl(self) -> int:
        return self._n

    def control_default(self) -> np.ndarray:
        ctrl = np.zeros(self._n, dtype=np.float64)
        self._call("control_default", self._n, ctrl)
        return ctrl

    def primal(self, ctrl: np.ndarray) -> float:
        c = np.ascontiguousarray(ctrl, dtype=np.float64)
        return float(self._call("primal", self._n, c))

    def adjoint(self, ctrl: np.ndarray) -> tuple[float, np.ndarray]:
        c = np.ascontiguousarray(ctrl, dtype=np.float64)
        grad = np.zeros(self._n, dtype=np.float64)
        cost = self._call("adjoint", self._n, c, grad)
        return float(cost), grad

    # ---- time-stepping interface (binomial checkpointing of the time loop)
    def ts_nsteps(self) -> int:
        return self.params.nt

    def ts_state_bytes(self) -> int:
        return 8 * int(self._call("ts_state_size"))

    def ts_begin(self, ctrl: np.ndarray) -> None:
        self._call("ts_begin", self._n, np.ascontiguousarray(ctrl, dtype=np.float64))

    def ts_state(self) -> np.ndarray:
        n = int(self._call("ts_state_size"))
        x = np.zeros(n)
        self._call("ts_state", n, x)
        return x

    def ts_set_state(self, x: np.ndarray) -> None:
        self._call("ts_set_state", len(x), np.ascontiguousarray(x, dtype=np.float64))

    def ts_advance(self, nsteps: int, taped: bool) -> None:
        self._call("ts_advance", int(nsteps), 1 if taped else 0)

    def ts_end_forward(self) -> float:
        return float(self._call("ts_end_forward"))

    def ts_reverse(self, nsteps: int) -> None:
        self._call("ts_reverse", int(nsteps))

    def ts_gradient(self) -> np.ndarray:
        g = np.zeros(self._n)
        self._call("ts_gradient", self._n, g)
        return g

    def teardown(self) -> None:
        self._call("teardown")


def kernel_names() -> list[str]:
    """Every registered kernel (entry-point group ``pyharness.kernels``), without importing any."""
    from ..plugins import available
    return sorted(available("kernels"))


def get_kernel(name: str) -> KernelSpec:
    """The kernel called ``name``, or a clear error listing the available ones
    (:class:`~pyharness.plugins.PluginError` if its package fails to import)."""
    from ..plugins import PluginError, describe
    plugin = describe("kernels", name)
    spec = plugin.load()
    if not isinstance(spec, KernelSpec):
        raise PluginError(f"kernel '{name}' registered by {plugin.dist} as {plugin.value} is a "
                          f"{type(spec).__name__}, not a pyharness.kernels.KernelSpec")
    if spec.name != name:
        raise PluginError(f"kernel '{name}' registered by {plugin.dist} as {plugin.value} calls "
                          f"itself '{spec.name}': the entry-point name and KernelSpec.name must agree")
    return spec


def time_stepping_kernels() -> list[str]:
    """Registered kernels that can run their time loop step by step (binomial
    checkpointing); kernels whose package fails to import are left out."""
    from ..plugins import PluginError
    out = []
    for name in kernel_names():
        try:
            spec = get_kernel(name)
        except PluginError:
            continue
        if getattr(spec.factory, "supports_time_stepping", False):
            out.append(name)
    return out


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``['nx=64', 'nt=5']`` → ``{'nx': '64', 'nt': '5'}``."""
    out = {}
    for item in items or []:
        for part in item.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise UsageError(f"parameter '{part}' is not NAME=VALUE (e.g. --param nx=64)")
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def sites_command(kernel: str, size: str = "small", params: dict | None = None) -> str:
    """The command that lists the site names of ``kernel`` with ``size`` and ``params``,
    ready to paste into an error message: ``--size`` when not the default, ``--param``
    for each value that differs from that size's (``params``: overrides, or a whole
    parameter record as a profile stores it; every value when the kernel is not
    installed here). The sites of some kernels (calltree) depend on them.

    >>> sites_command("streamice", "small", {"nx": "64"})       # doctest: +SKIP
    'python -m pyharness.sites --kernel streamice --param nx=64'
    """
    import shlex
    from ..errors import PyharnessError
    cmd = ["python", "-m", "pyharness.sites", "--kernel", kernel]
    size = size or "small"
    if size != "small":
        cmd += ["--size", size]
    if params:
        try:
            base = dataclasses.asdict(get_kernel(kernel).params(size))
        except PyharnessError:          # not installed here, or no such size
            base = {}
        for k, v in sorted(params.items()):
            if k not in base or str(base[k]) != str(v):
                cmd += ["--param", f"{k}={v}"]
    return shlex.join(cmd)
