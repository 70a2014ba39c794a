"""Kernels and backends as plug-ins, found through entry points.

pyharness's own kernels and backends are registered in its pyproject.toml
exactly as another package registers its own::

    [project.entry-points."pyharness.kernels"]
    mykernel = "mypackage.kernel:SPEC"          # a pyharness.kernels.KernelSpec

    [project.entry-points."pyharness.backends"]
    mybackend = "mypackage.backend:MyBackend"   # a pyharness.backends.Backend subclass

Names are listed without importing anything; a plug-in is imported when it is
used. An unknown name gets the list of known ones; a plug-in that fails to
import gets its own error (:class:`PluginError`, chained to the import error).

Example
-------
>>> from pyharness.plugins import available
>>> sorted(available("kernels"))           # doctest: +SKIP
['biogeo', 'calltree', 'streamice']
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata

from .errors import PyharnessError, UsageError

__all__ = ["GROUPS", "Plugin", "PluginError", "available", "load", "describe"]

#: plug-in kind → entry-point group
GROUPS = {"kernels": "pyharness.kernels", "backends": "pyharness.backends"}
_SINGULAR = {"kernels": "kernel", "backends": "backend"}


class PluginError(PyharnessError, ImportError):
    """A registered plug-in could not be imported or is not what its group expects."""


@dataclass(frozen=True)
class Plugin:
    """One entry point: its name, where it points and which distribution registered it."""

    kind: str          # "kernels" or "backends"
    name: str
    value: str         # "module:attribute"
    dist: str          # "name version" of the registering distribution

    @property
    def origin(self) -> str:
        return f"{self.value} ({self.dist})"

    def load(self):
        what = _SINGULAR[self.kind]
        try:
            module, _, attr = self.value.partition(":")
            obj = importlib.import_module(module.strip())
            for part in attr.strip().split(".") if attr.strip() else ():
                obj = getattr(obj, part)
        except Exception as exc:
            raise PluginError(f"{what} '{self.name}' registered by {self.dist} as {self.value} "
                              f"failed to import: {type(exc).__name__}: {exc}") from exc
        return obj


def _entry_points(kind: str) -> list[Plugin]:
    if kind not in GROUPS:
        raise ValueError(f"unknown plug-in kind {kind!r}; kinds: {', '.join(GROUPS)}")
    out = []
    for ep in metadata.entry_points(group=GROUPS[kind]):
        dist = getattr(ep, "dist", None)
        label = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown distribution"
        out.append(Plugin(kind, ep.name, ep.value, label))
    return out


def available(kind: str) -> dict[str, list[Plugin]]:
    """Every registered name of ``kind`` ("kernels" or "backends") → its entry points
    (more than one if two distributions claim the same name)."""
    reg: dict[str, list[Plugin]] = {}
    for p in _entry_points(kind):
        if all(q.value != p.value for q in reg.get(p.name, [])):   # the same dist seen twice
            reg.setdefault(p.name, []).append(p)
    return reg


def describe(kind: str, name: str) -> Plugin:
    """The entry point called ``name``, or a clear error listing the known names."""
    reg = available(kind)
    what = _SINGULAR[kind]
    if name not in reg:
        known = ", ".join(sorted(reg)) or "none (is pyharness installed? its own are registered at install)"
        raise UsageError(f"unknown {what} '{name}'; known {kind}: {known}")
    if len(reg[name]) > 1:
        raise UsageError(f"{what} '{name}' is registered more than once: "
                         + "; ".join(p.origin for p in reg[name])
                         + ". Uninstall one of these packages.")
    return reg[name][0]


def load(kind: str, name: str):
    """Import and return the object registered as ``name`` in ``kind``."""
    return describe(kind, name).load()
