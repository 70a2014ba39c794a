"""Configurations: which checkpoint sites are inhibited.

A configuration is the set of inhibited sites (everything else stays active,
Tapenade's default), named by their stable site names
(``cg_solve@streamice_main.f90:42``). Users may name a callee instead
(``cg_solve``): that inhibits every site calling it, like Tapenade's
``-nocheckpoint "cg_solve"``. Names that match nothing are an error, never
silently ignored.

Files
-----
- JSON: ``{"inhibited": ["cg_solve@streamice_main.f90:42", "halo_exchange"], "snapshots": 0}``
- callee list: one lower-case name per line, ``#`` starts a comment (the form
  Tapenade users keep next to their build).
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .durable import commit
from .errors import UsageError

__all__ = ["SiteTable", "Configuration", "callee_of", "profile_listing", "gradient_suspects", "nocheckpoint_list", "read_config_file", "read_config_json", "read_name_list",
           "write_name_list", "write_config_json", "write_text_atomic"]


def callee_of(name: str) -> str:
    """The callee of a site name: ``cg_solve@streamice_main.f90:42`` -> ``cg_solve``
    (lower case, as Tapenade's options take it)."""
    return name.split("@", 1)[0].lower()


def gradient_suspects(differ: Iterable[Iterable[str]], same: Iterable[Iterable[str]]) -> list[str]:
    """The callees inhibited only in configurations whose gradient changed, sorted.

    ``differ`` and ``same`` hold, per configuration, the names of its inhibited sites
    (configurations whose gradient differs from the reference's, and those whose
    gradient is the same). A callee also inhibited in a configuration that kept the
    gradient is cleared: its inhibition alone does not change it. The rule behind
    "must stay checkpointed" in explore's gradient guard and in report's table.
    """
    cleared = {callee_of(n) for inh in same for n in inh}
    return sorted({callee_of(n) for inh in differ for n in inh} - cleared)


def nocheckpoint_list(inhibited: Iterable[str], sites_of: Mapping[str, Iterable[str]]) -> list[str]:
    """Tapenade's ``-nocheckpoint`` rule on names: the callees every one of whose sites
    is inhibited, sorted.

    ``inhibited`` names the inhibited sites; ``sites_of`` maps each callee to the names of
    all its sites, inhibited or not. A callee with no site is never listed (there is
    nothing of it to inhibit). The one rule behind :meth:`Configuration.nocheckpoint_callees`
    (a kernel's :class:`SiteTable`), ``python -m pyharness.report --nocheckpoint`` (names
    read from a file, without the kernel) and analyze's proposed list.
    """
    inh = set(inhibited)
    out = []
    for callee, sites in sites_of.items():
        sites = list(sites)
        if sites and all(s in inh for s in sites):
            out.append(callee)
    return sorted(out)


def profile_listing(path) -> str:
    """The command that lists the sites of a profile of a program that is no registered
    kernel (the sites of a user's Tapenade adjoint come from its own run)."""
    import shlex
    return f"python -m pyharness.analyze {shlex.quote(str(path))}"


@dataclass(frozen=True)
class SiteTable:
    """The checkpoint sites of a kernel, as registered by its Fortran set-up."""

    names: tuple[str, ...]          # one per location (sites and routines)
    callees: tuple[str, ...]
    is_site: tuple[bool, ...]
    # the command that lists these site names (kernels.sites_command), for the error of
    # an unknown name; "" when the table's kernel is not known
    listing: str = field(default="", compare=False, repr=False)

    @classmethod
    def from_locations(cls, locs, listing: str = "") -> "SiteTable":
        return cls(tuple(l.name for l in locs), tuple(l.callee for l in locs),
                   tuple(bool(l.is_site) for l in locs), listing)

    # the lookups below are cached: tables of thousands of sites are asked per callee
    @functools.cached_property
    def _site_idx(self) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.is_site) if s)

    @functools.cached_property
    def _by_callee(self) -> dict[str, tuple[int, ...]]:
        out: dict[str, list[int]] = {}
        for i in self._site_idx:
            out.setdefault(self.callees[i].lower(), []).append(i)
        return {k: tuple(v) for k, v in out.items()}

    @property
    def site_indices(self) -> list[int]:
        return list(self._site_idx)

    @property
    def site_names(self) -> list[str]:
        return [self.names[i] for i in self._site_idx]

    @property
    def callee_names(self) -> list[str]:
        return sorted({self.callees[i] for i in self._site_idx})

    def sites_of_callee(self, callee: str) -> list[int]:
        return list(self._by_callee.get(callee.lower(), ()))

    def resolve(self, names: Iterable[str], source: str = "") -> frozenset[int]:
        """Location indices of site or callee names; unknown names are an error."""
        by_name = {self.names[i].lower(): i for i in self._site_idx}
        out: set[int] = set()
        unknown = []
        for raw in names:
            name = raw.strip()
            if not name:
                continue
            if name.lower() in by_name:
                out.add(by_name[name.lower()])
                continue
            idx = self.sites_of_callee(name)
            if idx:
                out.update(idx)
            else:
                unknown.append(name)
        if unknown:
            known = self.site_names + self.callee_names
            hints = []
            for u in unknown[:5]:
                close = difflib.get_close_matches(u, known, n=3, cutoff=0.5)
                if close:
                    hints.append(f"'{u}': did you mean {', '.join(close)}?")
            where = f" in {source}" if source else ""
            shown = ", ".join(repr(u) for u in unknown[:5])
            if len(unknown) > 5:
                shown += f" and {len(unknown) - 5} more"
            msg = (f"unknown site or callee name(s){where}: {shown}. "
                   f"Known callees: {', '.join(self.callee_names)}. "
                   f"List the site names with: "
                   f"{self.listing or 'python -m pyharness.sites --kernel (the kernel name)'}")
            if hints:
                msg += " (" + "; ".join(hints) + ")"
            raise UsageError(msg)
        return frozenset(out)


@dataclass(frozen=True)
class Configuration:
    """Inhibited sites (by name) plus the number of time-loop snapshots (0: none)."""

    inhibited: frozenset[str] = field(default_factory=frozenset)
    snapshots: int = 0

    @classmethod
    def from_indices(cls, table: SiteTable, idx: Iterable[int], snapshots: int = 0) -> "Configuration":
        return cls(frozenset(table.names[i] for i in idx), snapshots)

    @classmethod
    def from_names(cls, table: SiteTable, names: Iterable[str], snapshots: int = 0,
                   source: str = "") -> "Configuration":
        return cls.from_indices(table, table.resolve(names, source), snapshots)

    def indices(self, table: SiteTable) -> frozenset[int]:
        return table.resolve(self.inhibited)

    def active_mask(self, table: SiteTable) -> np.ndarray:
        """Activation per location (True = checkpointed), for the runtime."""
        mask = np.ones(len(table.names), dtype=bool)
        for i in self.indices(table):
            mask[i] = False
        return mask

    def inhibited_mask(self, table: SiteTable) -> np.ndarray:
        return ~self.active_mask(table)

    def union(self, other: "Configuration") -> "Configuration":
        return Configuration(self.inhibited | other.inhibited, max(self.snapshots, other.snapshots))

    def nocheckpoint_callees(self, table: SiteTable) -> list[str]:
        """Callees all of whose sites are inhibited: Tapenade's -nocheckpoint list."""
        inhibited = (table.names[i] for i in self.indices(table))
        return nocheckpoint_list(inhibited, {c: [table.names[i] for i in table.sites_of_callee(c)]
                                             for c in table.callee_names})

    def partially_inhibited_callees(self, table: SiteTable) -> list[str]:
        """Callees with some but not all sites inhibited (need $AD NOCHECKPOINT per site)."""
        inh = self.indices(table)
        out = []
        for c in table.callee_names:
            s = table.sites_of_callee(c)
            k = sum(i in inh for i in s)
            if 0 < k < len(s):
                out.append(c)
        return out

    def tapenade_option(self, table: SiteTable) -> str:
        return '-nocheckpoint "' + " ".join(c.lower() for c in self.nocheckpoint_callees(table)) + '"'

    def to_json(self) -> dict:
        return {"inhibited": sorted(self.inhibited), "snapshots": self.snapshots}


def read_config_json(path: str | Path) -> dict | None:
    """A JSON configuration file's contents, checked for shape (not against a kernel):
    ``{"inhibited": [names], "snapshots": K, "kernel": ...}``, or None when the file
    is not JSON (a callee list, one name per line)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read configuration file '{p}': {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"configuration file '{p}' is not UTF-8 text (byte {exc.start}): give a JSON "
                         "configuration or a callee list, one name per line") from None
    if text.lstrip().startswith("["):
        # JSON, but not a configuration: read as a callee list, it was refused as one
        # unknown name '["cg_solve", "viscosity"]' followed by the kernel's every callee
        raise UsageError(f'{p}: a JSON list is not a configuration: write {{"inhibited": [...], '
                         '"snapshots": 0}, or a callee list, one name per line')
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p}:{exc.lineno}: malformed JSON configuration: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("inhibited", []), list):
        raise UsageError(f"{p}: a JSON configuration is an object like "
                         '{"inhibited": ["cg_solve", ...], "snapshots": 0}')
    extra = set(data) - {"inhibited", "snapshots", "kernel", "comment"}
    if extra:
        raise UsageError(f"{p}: unknown key(s) {', '.join(sorted(extra))} in JSON configuration; "
                         "allowed: inhibited, snapshots")
    snaps = data.get("snapshots", 0)
    if not isinstance(snaps, int) or isinstance(snaps, bool) or snaps < 0:     # true is not 1
        raise UsageError(f"{p}: 'snapshots' must be a non-negative integer")
    if not all(isinstance(n, str) for n in data.get("inhibited", [])):
        raise UsageError(f"{p}: 'inhibited' must be a list of site or callee names (strings)")
    return data


def read_config_file(path: str | Path, table: SiteTable) -> Configuration:
    """Read a JSON configuration or a callee list file, validating every name."""
    p = Path(path)
    data = read_config_json(p)
    if data is None:
        return Configuration.from_names(table, read_name_list(p), 0, source=str(p))
    names = data.get("inhibited", [])
    kernel = data.get("kernel")
    known = {n.lower() for n in (*table.site_names, *table.callee_names)}
    if kernel and names and not any(n.strip().lower() in known for n in names):
        # written for another kernel (tune and optimize record it): say so, not 'unknown names'
        raise UsageError(f"{p} is a configuration of kernel '{kernel}' and names none of the "
                         f"sites here (its first: '{names[0]}'): give a configuration of the "
                         "kernel this run or profile is of")
    return Configuration.from_names(table, names, data.get("snapshots", 0), source=str(p))


def read_name_list(path: str | os.PathLike) -> tuple[str, ...]:
    """Names of a list file, lower-cased, in file order, duplicates dropped.

    Raises
    ------
    UsageError
        The file cannot be read, or a line holds more than one name
        (``FILE:LINE: one name per line expected``).
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read name list '{p}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"'{p}' is not a text file: a name list has one name per line") from None
    names: list[str] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        parts = body.split()
        if len(parts) != 1:
            raise UsageError(f"{p}:{lineno}: one name per line expected, got '{body}'")
        name = parts[0].lower()
        if name not in seen:
            seen.add(name)
            names.append(name)
    return tuple(names)


def write_text_atomic(path: str | os.PathLike, text: str, what: str = "file") -> None:
    """Write ``text`` to a temporary name and rename it, so a reader (or a killed job)
    never sees half a file."""
    p = Path(path)
    tmp = p.with_name(f"{p.name}.tmp.{os.getpid()}")
    try:
        tmp.write_text(text)
        commit(tmp, p)          # fsync, rename, fsync the directory
    except OSError as exc:
        raise UsageError(f"cannot write {what} '{p}': {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_name_list(path: str | os.PathLike, names: Iterable[str], header: str = "") -> None:
    """Write one lower-case name per line (``header`` as ``#`` comment lines)."""
    lines = [f"# {h}".rstrip() for h in header.splitlines()] if header else []
    lines += [n.lower() for n in names]
    write_text_atomic(path, "\n".join(lines) + "\n", "name list")


def write_config_json(path: str | Path, config: Configuration, **extra) -> None:
    data = config.to_json()
    data.update(extra)
    write_text_atomic(path, json.dumps(data, indent=2) + "\n", "configuration")
