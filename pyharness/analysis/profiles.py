"""Profiles in and out: events of ``profile.h5`` to an :class:`Analysis`, and ``/analysis``.

``profile.h5`` is laid out as docs/FORMAT.md says; this module reads
``/locations``, ``/config``, ``/summary`` and either ``/reduced`` (each rank's
merge, computed by that rank when the profile was written: no event is read)
or ``/events/rank_*`` (older profiles, or ``method`` other than ``auto``: the
per-rank merge runs here), and combines the ranks. It also writes and reads an
``/analysis`` group, the per-group, per-rank figures behind the estimates::

    /analysis                 attrs: granularity (site|callee), time_basis (wall|cpu),
                                     source, nranks, ngroups
    /analysis/name            str[G]        group names (sites or callees)
    /analysis/callee          str[G]
    /analysis/file, line      str[G], int32[G]  first site of the group
    /analysis/sites           str[G]        the group's site names, newline-separated
    /analysis/count           int64[R, G]   instances per rank
    /analysis/dt_wall_s       float64[R, G] time gain per rank (NaN: not measured)
    /analysis/dt_cpu_s        float64[R, G]
    /analysis/dpk_bytes       int64[R, G]   peak change per rank
    /analysis/peak_bytes      int64[R]      per-rank peak
    /analysis/wall_s, cpu_s   float64[R]    per-rank totals (NaN: not measured)
    /analysis/time_gain_wall_s, time_gain_cpu_s   float64[G]  slowest-rank gains
    /analysis/peak_change_bytes, new_peak_bytes   int64[G]    across ranks
    /analysis/effect          str[G]        gain | neutral | cost
    /analysis/inhibited_sites str[n]        sites inhibited in the profiled configuration
    /analysis/budget          (optional) attrs budget_bytes, new_peak_bytes,
                              tapenade_option; datasets selected str[k], nocheckpoint str[m]

Example
-------
>>> an = analyze_profile("profile.h5", granularity="callee")       # doctest: +SKIP
>>> an.estimate("cg_solve").time_gain_wall_s                       # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import UsageError
from .merge import MergeResult, TraceError, merge_events
from .ranks import (Analysis, Granularity, GroupTable, RankData, combine_ranks, rank_data,
                    sum_by_callee)

__all__ = ["Locations", "analyze_events", "analyze_results", "analyze_profile", "read_locations", "read_rank_events",
           "write_analysis", "read_analysis", "EVENT_FIELDS"]

EVENT_FIELDS = ("kind", "loc", "wall_ns", "cpu_ns", "stack")


@dataclass(frozen=True)
class Locations:
    """The location table of a profile (``/locations``): sites and routines."""

    names: tuple[str, ...]
    callees: tuple[str, ...]
    files: tuple[str, ...]
    lines: tuple[int, ...]
    is_site: tuple[bool, ...]

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_records(cls, records) -> "Locations":
        """From objects with ``name``, ``callee``, ``file``, ``line``, ``is_site``.

        Such as :func:`pyharness.runtime.locations` returns.

        >>> from types import SimpleNamespace as L
        >>> Locations.from_records([L(name="f@a.f90:3", callee="f", file="a.f90", line=3,
        ...                           is_site=True)]).site_names
        ['f@a.f90:3']
        """
        recs = list(records)
        return cls(tuple(r.name for r in recs), tuple(r.callee for r in recs),
                   tuple(r.file for r in recs), tuple(int(r.line) for r in recs),
                   tuple(bool(r.is_site) for r in recs))

    @property
    def site_names(self) -> list[str]:
        return [n for n, s in zip(self.names, self.is_site) if s]

    @property
    def callee_names(self) -> list[str]:
        return sorted({c.lower() for c, s in zip(self.callees, self.is_site) if s and c})

    def groups(self, granularity: Granularity | str = Granularity.SITE) -> GroupTable:
        """The :class:`GroupTable` (and merge key) for a granularity."""
        return GroupTable.from_locations(self.names, self.callees, self.is_site, granularity,
                                         files=self.files, lines=self.lines)


def _strs(ds) -> tuple[str, ...]:
    from ..h5io import read_str
    return tuple(read_str(ds))


def read_locations(f) -> Locations:
    """The ``/locations`` table of an open profile file."""
    try:
        g = f["locations"]
        names = _strs(g["name"])
        callees = _strs(g["callee"])
        files = _strs(g["file"]) if "file" in g else ("",) * len(names)
        lines = tuple(int(v) for v in g["line"][()]) if "line" in g else (0,) * len(names)
        is_site = tuple(bool(v) for v in g["is_site"][()])
    except KeyError as exc:
        raise UsageError(f"'{f.filename}' has no complete /locations table ({exc}): "
                         "not a profile written by pyharness.profile") from None
    if not (len(names) == len(callees) == len(files) == len(lines) == len(is_site)):
        raise UsageError(f"'{f.filename}': the /locations datasets have different lengths")
    return Locations(names, callees, files, lines, is_site)


def _rank_groups(f) -> list[str]:
    ev = f["events"]
    names = sorted(k for k in ev.keys() if k.startswith("rank_"))
    if not names:
        raise UsageError(f"'{f.filename}' has an empty /events group: no rank recorded events")
    expected = [f"rank_{r:05d}" for r in range(len(names))]
    if names != expected:
        raise UsageError(f"'{f.filename}': /events holds {', '.join(names[:4])}...; expected "
                         f"rank_00000 .. rank_{len(names) - 1:05d}")
    return names


def read_rank_events(f, rank: int) -> dict[str, np.ndarray]:
    """The five event arrays of one rank of an open profile file, and ``ctl_bits``
    (control bits on the stack at each event) when the file has it."""
    from ..reduction import check_rank_file
    check_rank_file(f, rank)
    try:
        g = f["events"][f"rank_{rank:05d}"]
        out = {k: g[k][()] for k in EVENT_FIELDS}
        if "ctl_bits" in g:
            out["ctl_bits"] = g["ctl_bits"][()]
        return out
    except KeyError as exc:
        raise UsageError(f"'{f.filename}': rank {rank} has incomplete events ({exc})") from None


def analyze_events(events: Iterable[Mapping[str, np.ndarray]], locations: Locations,
                   granularity: Granularity | str = Granularity.SITE, *,
                   wall_s=None, cpu_s=None, method: str = "auto", source: str = "",
                   inhibited_sites: Sequence[str] = (), cpu_clock: bool = True) -> Analysis:
    """Per-group estimates of a job from its per-rank event arrays (in memory).

    Parameters
    ----------
    events : iterable of mappings
        One mapping per rank, in rank order, with the arrays ``kind``, ``loc``,
        ``wall_ns``, ``cpu_ns``, ``stack`` (e.g. ``runtime.events()`` gathered
        to rank 0, or ``{"kind": ev.kind, ...}``); may be a generator, each
        rank is merged before the next is read.
    locations : Locations
        The location table the events' ``loc`` indexes.
    granularity : {"site", "callee"}
    wall_s, cpu_s : array_like, optional
        Per-rank total adjoint times; default: the span of each rank's events.
    method : {"auto", "numba", "reference"}
        Merge implementation (see :func:`~pyharness.analysis.merge.merge_events`).
    source : str
        A label for printouts.
    inhibited_sites : sequence of str
        Sites inhibited in the profiled configuration.
    cpu_clock : bool
        False if the events carry no CPU time (profiled without ``--cpu-clock``):
        the per-site CPU gains are then NaN ("not measured"), never zeros.

    Returns
    -------
    Analysis

    Raises
    ------
    TraceError
        A rank's trace is not well nested (the message names the rank and event).

    Examples
    --------
    >>> an = analyze_events([ev0, ev1], locs, "site", wall_s=[9.9, 10.2])   # doctest: +SKIP
    >>> [e.name for e in suggest(an).cost][:3]                             # doctest: +SKIP
    """
    groups = locations.groups(granularity)
    results: list[MergeResult] = []
    for r, ev in enumerate(events):
        try:
            results.append(merge_events(ev["kind"], ev["loc"], ev["wall_ns"], ev["cpu_ns"],
                                        ev["stack"], groups.key, len(groups),
                                        names=locations.names, method=method))
        except TraceError as exc:
            prefix = f"{source}: " if source else ""
            raise TraceError(f"{prefix}rank {r}: {exc}", exc.code, exc.event) from None
    return analyze_results(results, groups, wall_s=wall_s, cpu_s=cpu_s, source=source,
                           inhibited_sites=inhibited_sites, cpu_clock=cpu_clock)


def analyze_results(results: Sequence[MergeResult], groups: GroupTable, *, wall_s=None,
                    cpu_s=None, source: str = "", inhibited_sites: Sequence[str] = (),
                    cpu_clock: bool = True) -> Analysis:
    """:func:`analyze_events` from the ranks' merge results (one per rank, rank order),
    e.g. those each rank computed itself and ``/reduced`` stores (pyharness.reduction)."""
    data = rank_data(results, wall_s, cpu_s)
    notes = ()
    if not cpu_clock:
        data.dt_cpu_s[...] = np.nan
        notes = ("CPU-time gains not measured: the events carry no CPU clock "
                 "(profile with --cpu-clock or PYHARNESS_PROFILE_CPU=1)",)
    return combine_ranks(groups, data, source=source, inhibited_sites=inhibited_sites, notes=notes)


def analyze_profile(path: str | os.PathLike, granularity: Granularity | str = Granularity.SITE,
                    *, method: str = "auto") -> Analysis:
    """Per-group estimates from a ``profile.h5`` (events, or a stored ``/analysis``).

    Parameters
    ----------
    path : path of a pyharness profile file
    granularity : {"site", "callee"}
    method : {"auto", "numba", "reference"}

    Returns
    -------
    Analysis

    Raises
    ------
    UsageError
        Missing or malformed file, a profile without events.
    TraceError
        A rank's trace is not well nested.

    Examples
    --------
    >>> an = analyze_profile("profile.h5")                               # doctest: +SKIP
    >>> for e in suggest(an): print(e.name, e.time_gain_s, e.peak_change)  # doctest: +SKIP
    """
    from ..h5io import open_h5
    gran = Granularity(granularity)
    with open_h5(path, kinds=("profile",)) as f:
        locs = read_locations(f)
        inhibited = ()
        if "config" in f and "inhibited" in f["config"]:
            mask = f["config"]["inhibited"][()]
            inhibited = tuple(n for n, m, s in zip(locs.names, mask, locs.is_site) if m and s)
        # a --no-profiling run still writes /events, with no event in it: its estimates
        # would all be empty and its peak 0 B
        if "events" not in f or not bool(f.attrs.get("profiling", True)):
            if "analysis" in f:
                return read_analysis(f, gran, source=str(path))
            raise UsageError(f"'{path}' has no events: it was written with --no-profiling. "
                             "Profile again without --no-profiling to estimate what each "
                             "site's checkpoint costs")
        ranks = _rank_groups(f)
        reduced = None
        if method == "auto":
            from ..reduction import read_reduced_merges
            reduced = read_reduced_merges(f, gran.value)
            if reduced is not None and len(reduced) != len(ranks):
                reduced = None
        wall = cpu = None
        if "summary" in f:
            s = f["summary"]
            if "wall_s" in s and s["wall_s"].shape == (len(ranks),):
                wall = s["wall_s"][()]
            if "cpu_s" in s and s["cpu_s"].shape == (len(ranks),):
                cpu = s["cpu_s"][()]
        if reduced is not None:
            # every rank merged its own events when the profile was written: the
            # per-rank figures (sites x ranks) are all that is read, never the events
            an = analyze_results(reduced, locs.groups(gran), wall_s=wall, cpu_s=cpu,
                                 source=str(path), inhibited_sites=inhibited,
                                 cpu_clock=bool(f.attrs.get("cpu_clock", True)))
            bits = [bool(f["reduced"].attrs.get("control_bits", False))]
        else:
            # one rank's events in memory at a time
            bits = []
            events = (_note_bits(read_rank_events(f, r), bits) for r in range(len(ranks)))
            an = analyze_events(events, locs, gran, wall_s=wall, cpu_s=cpu, method=method,
                                source=str(path), inhibited_sites=inhibited,
                                cpu_clock=bool(f.attrs.get("cpu_clock", True)))
    return _exact_peak_changes(an, path) if any(bits) else an


def _note_bits(ev, bits: list):
    bits.append(bool("ctl_bits" in ev and np.any(ev["ctl_bits"])))
    return ev


def _exact_peak_changes(an: Analysis, path) -> Analysis:
    """The peak changes of an adjoint that pushes control bits, from the cost model.

    The merge works on stack bytes, which count control bits in whole 4-byte words
    only: inhibiting a site moves the bit alignment of what follows, and its ΔPk can
    be off by a multiple of 4 bytes. The model carries the bits (docs/MODEL.md) and
    predicts each single flip exactly; when it cannot be built, or does not give back
    the measured peaks, the merge's figures stay, with a note."""
    from dataclasses import replace
    from ..model import StructureError
    from ..model.cache import model_of
    try:
        model = model_of(path)       # the tuner asks for the same profile's model: built once
    except (UsageError, StructureError) as exc:
        model, why = None, str(exc)
    if model is not None and not model.peaks_verified:
        model, why = None, "its peak of the profiled run is not the measured one"
    if model is None:
        return replace(an, notes=an.notes + (
            f"the adjoint pushes control bits and the cost model could not be built ({why}): "
            "peak changes can be off by a multiple of 4 bytes",))
    name_idx = {n: i for i, n in enumerate(model.names)}
    rows = np.repeat(model.profiled_active()[None, :], len(an.groups.names), axis=0)
    for g, sites in enumerate(an.groups.sites):
        for s in sites:
            if s in name_idx:
                rows[g, name_idx[s]] = False
    peaks = model.predict_many(rows)[1]              # (G, R)
    base = model.predict_many(model.profiled_active()[None, :])[1][0]
    dpk = (peaks - base[None, :]).T.astype(np.int64)     # (R, G)
    data = replace(an.data, dpk=dpk)
    return combine_ranks(an.groups, data, time_basis=an.time_basis, source=an.source,
                         notes=an.notes + ("peak changes from the cost model: the adjoint pushes "
                                           "control bits, which the stack counts in whole words",),
                         inhibited_sites=an.inhibited_sites)


def write_analysis(f, analysis: Analysis, plan=None) -> None:
    """Write ``analysis`` (and a budget plan) into the ``/analysis`` group of an open file.

    The layout is in this module's docstring; an existing ``/analysis`` is replaced.

    >>> with atomic_h5("out.h5", "profile") as f:                  # doctest: +SKIP
    ...     write_analysis(f, analysis, select_under_budget(analysis, 2**30))
    """
    from ..h5io import str_array
    if "analysis" in f:
        del f["analysis"]
    g = f.create_group("analysis")
    a, d, gt = analysis, analysis.data, analysis.groups
    g.attrs["granularity"] = gt.granularity.value
    g.attrs["time_basis"] = a.time_basis
    g.attrs["source"] = a.source
    g.attrs["nranks"] = a.nranks
    g.attrs["ngroups"] = len(gt)
    g["name"] = str_array(gt.names)
    g["callee"] = str_array(gt.callees)
    g["file"] = str_array(gt.files)
    g["line"] = np.asarray(gt.lines, dtype=np.int32)
    g["sites"] = str_array("\n".join(s) for s in gt.sites)
    g["count"] = d.count.astype(np.int64)
    g["dt_wall_s"] = d.dt_wall_s.astype(np.float64)
    g["dt_cpu_s"] = d.dt_cpu_s.astype(np.float64)
    g["dpk_bytes"] = d.dpk.astype(np.int64)
    g["peak_bytes"] = d.peak.astype(np.int64)
    g["wall_s"] = d.wall_s.astype(np.float64)
    g["cpu_s"] = d.cpu_s.astype(np.float64)
    g["time_gain_wall_s"] = np.array([e.time_gain_wall_s for e in a.estimates], dtype=np.float64)
    g["time_gain_cpu_s"] = np.array([e.time_gain_cpu_s for e in a.estimates], dtype=np.float64)
    g["peak_change_bytes"] = np.array([e.peak_change for e in a.estimates], dtype=np.int64)
    g["new_peak_bytes"] = np.array([e.new_peak for e in a.estimates], dtype=np.int64)
    g["effect"] = str_array(e.effect.value for e in a.estimates)
    g["inhibited_sites"] = str_array(a.inhibited_sites)
    if a.notes:
        g.attrs["notes"] = "\n".join(a.notes)
    if plan is not None:
        b = g.create_group("budget")
        b.attrs["granularity"] = plan.granularity
        b.attrs["budget_bytes"] = plan.budget
        b.attrs["new_peak_bytes"] = plan.new_peak
        b.attrs["tapenade_option"] = plan.tapenade_option
        b["selected"] = str_array(e.name for e in plan.selected)
        b["nocheckpoint"] = str_array(plan.nocheckpoint)


def read_analysis(f, granularity: Granularity | str | None = None, source: str = "") -> Analysis:
    """An :class:`Analysis` from the ``/analysis`` group of an open file.

    With ``granularity="callee"`` on a per-site analysis (a Tapenade text
    import has no events), sites are aggregated per callee by summing their
    per-rank figures: exact for times and counts, an approximation for the
    peak change (noted in ``Analysis.notes``).

    >>> with h5py.File("imported.h5") as f:                        # doctest: +SKIP
    ...     an = read_analysis(f, "callee")
    """
    try:
        g = f["analysis"]
        gran = Granularity(g.attrs["granularity"])
        names, callees = _strs(g["name"]), _strs(g["callee"])
        files, lines = _strs(g["file"]), tuple(int(v) for v in g["line"][()])
        sites = tuple(tuple(x for x in s.split("\n") if x) for s in _strs(g["sites"]))
        data = RankData(g["count"][()].astype(np.int64), g["dt_wall_s"][()], g["dt_cpu_s"][()],
                        g["dpk_bytes"][()].astype(np.int64), g["peak_bytes"][()].astype(np.int64),
                        g["wall_s"][()], g["cpu_s"][()])
        inhibited = _strs(g["inhibited_sites"]) if "inhibited_sites" in g else ()
        basis = str(g.attrs.get("time_basis", "wall"))
        notes = tuple(n for n in str(g.attrs.get("notes", "")).split("\n") if n)
        src = source or str(g.attrs.get("source", ""))
    except (KeyError, ValueError) as exc:
        raise UsageError(f"'{f.filename}': incomplete /analysis group ({exc})") from None
    key = np.arange(len(names), dtype=np.int64)
    groups = GroupTable(gran, names, callees, sites, files, lines, key)
    an = combine_ranks(groups, data, time_basis=basis, source=src, notes=notes,
                       inhibited_sites=inhibited)
    want = Granularity(granularity) if granularity is not None else gran
    if want is gran:
        return an
    if want is Granularity.SITE:
        raise UsageError(f"'{f.filename}' holds a per-callee analysis without events: "
                         "per-site figures cannot be recovered from it")
    return sum_by_callee(an)
