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

__all__ = ["KernelSpec", "Kernel", "get_kernel", "kernel_names", "parse_params"]


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


def _registry() -> dict[str, KernelSpec]:
    from . import calltree, streamice
    return {s.name: s for s in (streamice.SPEC, calltree.SPEC)}


def kernel_names() -> list[str]:
    return sorted(_registry())


def get_kernel(name: str) -> KernelSpec:
    """The kernel called ``name``, or a clear error listing the available ones."""
    reg = _registry()
    if name not in reg:
        raise UsageError(f"unknown kernel '{name}'; available kernels: {', '.join(sorted(reg))}")
    return reg[name]


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
