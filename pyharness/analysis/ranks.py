"""Across ranks: per-rank estimates to per-group figures of the whole job.

Memory is per rank (each rank owns its node's memory), so a group's memory
effect is ``max_r(Pk_r + dPk_r) - max_r(Pk_r)``: the change of the largest
per-rank peak. Time is the slowest rank's: the gain is
``max_r T_r - max_r(T_r - dT_r)``, for wall time and for CPU time. Every
per-rank figure is also summarised by min / mean / max / imbalance (max/mean),
the way Caliper and TAU report ranks.

Example
-------
>>> import numpy as np
>>> groups = GroupTable.from_locations(["a@f.f90:1", "a@f.f90:2"], ["a", "a"],
...                                    [True, True], "callee", files=["f.f90"] * 2, lines=[1, 2])
>>> groups.names, groups.key.tolist()
(('a',), [0, 0])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..vocabulary import Granularity, MemoryEffect
from .merge import MergeResult

__all__ = ["Granularity", "MemoryEffect", "Spread", "spread", "GroupTable", "RankData",
           "GroupEstimate", "Analysis", "rank_data", "combine_ranks", "slowest_rank_gain",
           "json_number", "sum_by_callee"]


@dataclass(frozen=True)
class Spread:
    """Min, mean, max and imbalance (max/mean) of a figure over ranks.

    ``imbalance`` is 1.0 when all ranks agree, ``None`` when the mean is not
    positive (the ratio means nothing then), NaN when values are unknown.
    """

    min: float
    mean: float
    max: float
    imbalance: float | None

    def as_dict(self) -> dict:
        return {"min": json_number(self.min), "mean": json_number(self.mean),
                "max": json_number(self.max), "imbalance": json_number(self.imbalance)}


def json_number(v):
    """``v`` for JSON: ints stay ints, NaN and None become None."""
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return None
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def spread(values) -> Spread:
    """The :class:`Spread` of per-rank values.

    >>> spread([1, 2, 3])
    Spread(min=1.0, mean=2.0, max=3.0, imbalance=1.5)
    """
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0 or np.isnan(a).any():
        nan = float("nan")
        return Spread(nan, nan, nan, nan)
    lo, mean, hi = float(a.min()), float(a.mean()), float(a.max())
    if lo == hi:
        imb = 1.0
    elif mean > 0:
        imb = hi / mean
    else:
        imb = None
    return Spread(lo, mean, hi, imb)


@dataclass(frozen=True, eq=False)
class GroupTable:
    """The groups a merge is keyed by, and how locations map to them.

    Attributes
    ----------
    granularity : Granularity
    names : tuple of str
        Site names (``callee@file:line``) or callee names.
    callees : tuple of str
        The callee of each group ('' when unknown).
    sites : tuple of tuple of str
        The site names of each group.
    files, lines : tuple
        File and line of each group's first site.
    key : ndarray of int64
        Group id of each location, ``-1`` for locations that are not sites:
        the ``key`` argument of :func:`~pyharness.analysis.merge.merge_events`.
    """

    granularity: Granularity
    names: tuple[str, ...]
    callees: tuple[str, ...]
    sites: tuple[tuple[str, ...], ...]
    files: tuple[str, ...]
    lines: tuple[int, ...]
    key: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_locations(cls, names: Sequence[str], callees: Sequence[str], is_site: Sequence[bool],
                       granularity: Granularity | str = Granularity.SITE, *,
                       files: Sequence[str] | None = None,
                       lines: Sequence[int] | None = None) -> "GroupTable":
        """Groups of a location table (``/locations`` of a profile).

        Site granularity: one group per site, in location order. Callee
        granularity: one group per callee, in order of first appearance,
        named as first spelled (callees are compared in lower case, Fortran
        names being case-insensitive; Tapenade lists are printed in lower case).
        """
        gran = Granularity(granularity)
        nloc = len(names)
        files = list(files) if files is not None else [""] * nloc
        lines = list(lines) if lines is not None else [0] * nloc
        key = np.full(nloc, -1, dtype=np.int64)
        gnames: list[str] = []
        gcallees: list[str] = []
        gsites: list[list[str]] = []
        gfiles: list[str] = []
        glines: list[int] = []
        index: dict[str, int] = {}
        for i in range(nloc):
            if not is_site[i]:
                continue
            if gran is Granularity.SITE:
                g = len(gnames)
                gnames.append(names[i])
                gcallees.append(callees[i])
                gsites.append([names[i]])
                gfiles.append(files[i])
                glines.append(int(lines[i]))
            else:
                g = index.get(callees[i].lower())
                if g is None:
                    g = index[callees[i].lower()] = len(gnames)
                    gnames.append(callees[i])
                    gcallees.append(callees[i])
                    gsites.append([])
                    gfiles.append(files[i])
                    glines.append(int(lines[i]))
                gsites[g].append(names[i])
            key[i] = g
        return cls(gran, tuple(gnames), tuple(gcallees), tuple(tuple(s) for s in gsites),
                   tuple(gfiles), tuple(glines), key)


@dataclass(frozen=True, eq=False)
class RankData:
    """Per-rank, per-group figures: the input of :func:`combine_ranks`.

    Arrays are ``[nranks, ngroups]`` (or ``[nranks]`` for the totals); NaN in a
    float array means "not measured" (e.g. wall time in a Tapenade text table).
    """

    count: np.ndarray          # int64[R, G]
    dt_wall_s: np.ndarray      # float64[R, G]
    dt_cpu_s: np.ndarray       # float64[R, G]
    dpk: np.ndarray            # int64[R, G]
    peak: np.ndarray           # int64[R]   the ranks' peaks (root Pk)
    wall_s: np.ndarray         # float64[R] the ranks' total adjoint wall time (NaN: unknown)
    cpu_s: np.ndarray          # float64[R]

    @property
    def nranks(self) -> int:
        return int(self.peak.shape[0])

    @property
    def ngroups(self) -> int:
        return int(self.count.shape[1])


def rank_data(results: Sequence[MergeResult], wall_s=None, cpu_s=None) -> RankData:
    """Stack per-rank :class:`MergeResult` into :class:`RankData`.

    ``wall_s`` / ``cpu_s`` are the ranks' total times in seconds (``/summary``);
    by default the span of each rank's events is used.

    >>> groups = locations.groups("site")                                   # doctest: +SKIP
    >>> res = [merge_events(*ev, groups.key, len(groups)) for ev in ranks]  # doctest: +SKIP
    >>> an = combine_ranks(groups, rank_data(res, wall_s=[9.8, 10.1]))      # doctest: +SKIP
    """
    if not results:
        raise ValueError("no rank results to combine")
    G = results[0].ngroups
    if any(r.ngroups != G for r in results):
        raise ValueError("rank results have different numbers of groups")
    if wall_s is None:
        wall_s = [r.span_wall_ns * 1e-9 for r in results]
    if cpu_s is None:
        cpu_s = [r.span_cpu_ns * 1e-9 for r in results]
    wall_s = np.asarray(wall_s, dtype=np.float64)
    cpu_s = np.asarray(cpu_s, dtype=np.float64)
    if wall_s.shape != (len(results),) or cpu_s.shape != (len(results),):
        raise ValueError(f"wall_s and cpu_s need one value per rank ({len(results)})")
    return RankData(np.stack([r.count for r in results]),
                    np.stack([r.dt_wall_ns for r in results]).astype(np.float64) * 1e-9,
                    np.stack([r.dt_cpu_ns for r in results]).astype(np.float64) * 1e-9,
                    np.stack([r.dpk for r in results]),
                    np.array([r.peak for r in results], dtype=np.int64), wall_s, cpu_s)


def slowest_rank_gain(total, gain) -> float:
    """``max_r T_r - max_r(T_r - dT_r)``; ranks of unknown total count as equally long.

    >>> slowest_rank_gain([10.0, 8.0], [3.0, 0.5])    # 10 -> 7 and 8 -> 7.5: slowest is 7.5
    2.5
    """
    gain = np.asarray(gain, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    if np.isnan(gain).any():
        return float("nan")
    if np.isnan(total).any():
        total = np.zeros_like(gain)
    return float(total.max() - (total - gain).max())


@dataclass(frozen=True)
class GroupEstimate:
    """What inhibiting one group (site or callee) alone is estimated to do.

    Attributes
    ----------
    index : int
        Group id (index in the :class:`GroupTable`).
    name, callee : str
    sites : tuple of str
    count : int
        Dynamic instances, summed over ranks.
    time_gain_wall_s, time_gain_cpu_s : float
        Gain of the slowest rank (NaN when not measured).
    time_gain_s : float
        The one of the two the analysis is based on (``Analysis.time_basis``).
    peak_change : int
        ``max_r(Pk_r + dPk_r) - max_r Pk_r`` in bytes.
    new_peak : int
        ``max_r(Pk_r + dPk_r)``: the estimated largest per-rank peak after.
    effect : MemoryEffect
    dt_wall, dt_cpu, dpk, calls : Spread
        Per-rank figures.
    """

    index: int
    name: str
    callee: str
    sites: tuple[str, ...]
    count: int
    time_gain_wall_s: float
    time_gain_cpu_s: float
    time_gain_s: float
    peak_change: int
    new_peak: int
    effect: MemoryEffect
    dt_wall: Spread
    dt_cpu: Spread
    dpk: Spread
    calls: Spread

    @property
    def ratio(self) -> float:
        """Seconds gained per byte of peak (``inf`` when the peak does not rise)."""
        return self.time_gain_s / self.peak_change if self.peak_change > 0 else math.inf


@dataclass(frozen=True, eq=False)
class Analysis:
    """Per-group estimates of a whole job, with the per-rank data behind them.

    Attributes
    ----------
    groups : GroupTable
    data : RankData
    estimates : tuple of GroupEstimate
        One per group, in group order.
    time_basis : str
        ``wall`` (default) or ``cpu``: the time the gains are ordered by.
    source : str
        Where the figures come from (a profile path, ``tapenade-text``, ...).
    notes : tuple of str
        Caveats to print with the results.
    inhibited_sites : tuple of str
        Sites inhibited in the profiled configuration (they have no events).
    """

    groups: GroupTable
    data: RankData
    estimates: tuple[GroupEstimate, ...]
    time_basis: str = "wall"
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    inhibited_sites: tuple[str, ...] = field(default_factory=tuple)

    @property
    def nranks(self) -> int:
        return self.data.nranks

    @property
    def peak(self) -> int:
        """The largest per-rank peak stack."""
        return int(self.data.peak.max())

    @property
    def peak_spread(self) -> Spread:
        return spread(self.data.peak)

    @property
    def wall_spread(self) -> Spread:
        return spread(self.data.wall_s)

    @property
    def cpu_spread(self) -> Spread:
        return spread(self.data.cpu_s)

    def estimate(self, name: str) -> GroupEstimate:
        """The estimate of the group called ``name`` (exact, else ignoring case)."""
        for e in self.estimates:
            if e.name == name:
                return e
        for e in self.estimates:
            if e.name.lower() == name.lower():
                return e
        raise KeyError(f"no group named '{name}'")


def combine_ranks(groups: GroupTable, data: RankData, *, time_basis: str | None = None,
                  source: str = "", notes: Sequence[str] = (),
                  inhibited_sites: Sequence[str] = ()) -> Analysis:
    """Per-group figures of the whole job from per-rank data.

    Parameters
    ----------
    groups : GroupTable
    data : RankData
        ``[nranks, len(groups)]`` arrays.
    time_basis : {"wall", "cpu"}, optional
        Default: wall if wall times were measured, else CPU.
    source : str
    notes : sequence of str
    inhibited_sites : sequence of str
        Sites inhibited in the profiled configuration.

    Returns
    -------
    Analysis

    Examples
    --------
    >>> an = combine_ranks(groups, rank_data([r0, r1], wall_s=[9.5, 10.0]))   # doctest: +SKIP
    >>> an.estimate("cg_solve@streamice_main.f90:42").peak_change             # doctest: +SKIP
    """
    if data.ngroups != len(groups):
        raise ValueError(f"rank data has {data.ngroups} groups, the group table {len(groups)}")
    if time_basis is None:
        time_basis = "cpu" if np.isnan(data.dt_wall_s).all() and data.dt_wall_s.size else "wall"
    if time_basis not in ("wall", "cpu"):
        raise ValueError(f"time_basis '{time_basis}' is unknown: use wall or cpu")
    peak0 = int(data.peak.max())
    out = []
    for g in range(len(groups)):
        new_peak = int((data.peak + data.dpk[:, g]).max())
        change = new_peak - peak0
        gw = slowest_rank_gain(data.wall_s, data.dt_wall_s[:, g])
        gc = slowest_rank_gain(data.cpu_s, data.dt_cpu_s[:, g])
        effect = MemoryEffect.of(change)
        out.append(GroupEstimate(
            index=g, name=groups.names[g], callee=groups.callees[g], sites=groups.sites[g],
            count=int(data.count[:, g].sum()), time_gain_wall_s=gw, time_gain_cpu_s=gc,
            time_gain_s=gw if time_basis == "wall" else gc, peak_change=change, new_peak=new_peak,
            effect=effect, dt_wall=spread(data.dt_wall_s[:, g]), dt_cpu=spread(data.dt_cpu_s[:, g]),
            dpk=spread(data.dpk[:, g]), calls=spread(data.count[:, g])))
    return Analysis(groups, data, tuple(out), time_basis, source, tuple(notes),
                    tuple(inhibited_sites))


def sum_by_callee(analysis: Analysis) -> Analysis:
    """Per-callee figures from a per-site analysis that has no events behind it.

    Sums each callee's per-site, per-rank figures: exact for counts and time
    gains (they add up in the model), only an estimate for the peak change
    (docs/MODEL.md: about 7% of such sums are wrong), which ``notes`` says. With
    events, run the merge keyed by callee instead (exact).

    >>> sum_by_callee(import_tapenade(files)).estimate("dynamics")   # doctest: +SKIP
    """
    g = analysis.groups
    if g.granularity is not Granularity.SITE:
        raise ValueError("sum_by_callee needs a per-site analysis")
    agg = GroupTable.from_locations(g.names, g.callees, [bool(c) for c in g.callees],
                                    Granularity.CALLEE, files=g.files, lines=g.lines)
    d = analysis.data
    R, G = d.nranks, len(agg)
    cnt = np.zeros((R, G), np.int64)
    dtw = np.zeros((R, G))
    dtc = np.zeros((R, G))
    dpk = np.zeros((R, G), np.int64)
    for i, k in enumerate(agg.key):
        if k >= 0:
            cnt[:, k] += d.count[:, i]
            dtw[:, k] += d.dt_wall_s[:, i]
            dtc[:, k] += d.dt_cpu_s[:, i]
            dpk[:, k] += d.dpk[:, i]
    note = ("per-callee figures summed from per-site figures (no events): time gains are exact, "
            "peak changes only an estimate; profile with pyharness for exact per-callee estimates")
    return combine_ranks(agg, RankData(cnt, dtw, dtc, dpk, d.peak, d.wall_s, d.cpu_s),
                         time_basis=analysis.time_basis, source=analysis.source,
                         notes=analysis.notes + (note,), inhibited_sites=analysis.inhibited_sites)
