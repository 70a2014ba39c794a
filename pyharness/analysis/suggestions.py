"""Suggestions from an analysis: three groups, a budgeted list, and their printouts.

The groups follow Tapenade's profiler: inhibitions that lower the peak,
memory-neutral ones, and those with a memory cost, the last ordered by time
gained per byte of peak (``dT / dPk``, descending). Each estimate assumes one
flip with everything else fixed: several flips are not predicted by the sum
of single-flip estimates, so the loop re-profiles after flipping.

Printouts: an aligned terminal table (times to the millisecond, memory in
KiB/MiB/GiB), JSON, and Tapenade's own text (``PEAK STACK:`` then
``SUGGESTED NOCHECKPOINTs:``), which ``--from-tapenade`` reads back.

Example
-------
>>> s = suggest(analysis)                                  # doctest: +SKIP
>>> plan = select_under_budget(analysis, 512 * 2**20)      # doctest: +SKIP
>>> print(format_table(analysis, s, plan))                 # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..config import callee_of, nocheckpoint_list
from .ranks import (Analysis, Granularity, GroupEstimate, MemoryEffect, json_number,
                    slowest_rank_gain)
from .units import human_bytes, human_time

__all__ = ["Suggestions", "suggest", "BudgetPlan", "select_under_budget", "format_table",
           "to_json", "format_tapenade"]


def _t(v: float) -> float:
    return -math.inf if v is None or math.isnan(v) else v


@dataclass(frozen=True)
class Suggestions:
    """Groups whose inhibition is estimated to lower the peak / not change it / raise it."""

    gain: tuple[GroupEstimate, ...]
    neutral: tuple[GroupEstimate, ...]
    cost: tuple[GroupEstimate, ...]

    def __iter__(self) -> Iterator[GroupEstimate]:
        """All suggestions, best first: gains, neutral ones, then costs by dT/dPk."""
        yield from self.gain
        yield from self.neutral
        yield from self.cost

    def __len__(self) -> int:
        return len(self.gain) + len(self.neutral) + len(self.cost)


def suggest(analysis: Analysis, exclude: Iterable[str] = ()) -> Suggestions:
    """Sort the groups of ``analysis`` into the three groups of suggestions.

    Groups never executed (no instance on any rank: absent from the run, or
    already inhibited) are left out, and so are the names in ``exclude``
    (group, site or callee names that must stay checkpointed).

    Orders: memory gains by time gain (then by larger peak decrease), neutral
    ones by time gain, memory costs by time gain per byte of peak, descending.

    >>> s = suggest(analyze_profile("profile.h5"), exclude=["cg_solve"])   # doctest: +SKIP
    >>> [e.name for e in s.cost][:3]                                       # doctest: +SKIP
    """
    ex = {n.lower() for n in exclude}
    cand = [e for e in analysis.estimates if e.count > 0 and e.name.lower() not in ex
            and e.callee.lower() not in ex and not any(s.lower() in ex for s in e.sites)]
    gain = sorted((e for e in cand if e.effect is MemoryEffect.GAIN),
                  key=lambda e: (-_t(e.time_gain_s), e.peak_change, e.name))
    neutral = sorted((e for e in cand if e.effect is MemoryEffect.NEUTRAL),
                     key=lambda e: (-_t(e.time_gain_s), e.name))
    cost = sorted((e for e in cand if e.effect is MemoryEffect.COST),
                  key=lambda e: (-_t(e.time_gain_s) / e.peak_change, -_t(e.time_gain_s), e.name))
    return Suggestions(tuple(gain), tuple(neutral), tuple(cost))


@dataclass(frozen=True)
class BudgetPlan:
    """Groups proposed for inhibition under a per-rank peak budget.

    Attributes
    ----------
    budget : int
        Per-rank peak budget in bytes.
    selected : tuple of GroupEstimate
        In the order they were taken.
    rank_peaks : tuple of int
        Estimated per-rank peaks with all of ``selected`` inhibited: the
        current peaks plus the sum of the positive per-rank peak changes
        (memory gains are not credited: peaks of several flips need not add).
    new_peak : int
        ``max(rank_peaks)``.
    time_gain_wall_s, time_gain_cpu_s : float
        Slowest-rank gains with the per-rank time gains summed (time gains add
        up exactly in the model; memory does not).
    nocheckpoint : tuple of str
        Callees (lower case) all of whose sites would be inhibited, the ones
        already inhibited in the profiled configuration included: Tapenade's
        ``-nocheckpoint`` list for the proposed configuration.
    partial : tuple of str
        Site names selected whose callee keeps other sites checkpointed
        (they need ``$AD NOCHECKPOINT`` at the call, not the callee list).
    over_budget : bool
        The profiled peak already exceeds the budget (only memory-lowering or
        neutral groups are proposed then; activating sites is the tuner's job).
    granularity : str
        ``site`` or ``callee``: what ``selected`` names.
    """

    budget: int
    selected: tuple[GroupEstimate, ...]
    rank_peaks: tuple[int, ...]
    new_peak: int
    time_gain_wall_s: float
    time_gain_cpu_s: float
    nocheckpoint: tuple[str, ...]
    partial: tuple[str, ...]
    over_budget: bool
    granularity: str = "site"
    exact_peaks: bool = False      # rank_peaks predicted by the cost model, not summed estimates

    @property
    def tapenade_option(self) -> str:
        """``-nocheckpoint "a b c"``."""
        return '-nocheckpoint "' + " ".join(self.nocheckpoint) + '"'


def select_under_budget(analysis: Analysis, budget: int, suggestions: Suggestions | None = None,
                        model=None) -> BudgetPlan:
    """Greedy choice of groups to inhibit while every rank's peak fits ``budget``.

    Candidates are taken in the order of :class:`Suggestions` (memory gains,
    neutral ones, then costs by dT/dPk); one is taken if, on every rank, the
    peak does not rise or stays within the budget. Candidates that do not fit
    are skipped and the scan goes on (a cheaper one may still fit).

    With ``model`` (a :class:`pyharness.model.CostModel` of the same profile)
    every rank's peak is the model's prediction of the whole configuration
    (the profiled inhibitions, the groups taken so far and the candidate),
    exact to the byte: peaks do not add (an inner site inhibited with its
    caller costs more than the two single changes), so the plan never goes
    over the budget it was given. Without a model (a Tapenade import) the
    peak is the sum of single-flip estimates, which can be below the truth:
    re-profile to check.

    Examples
    --------
    >>> plan = select_under_budget(analysis, budget=600 * 2**20)   # doctest: +SKIP
    >>> plan.tapenade_option                                      # doctest: +SKIP
    '-nocheckpoint "cg_solve halo_exchange"'
    """
    if suggestions is None:
        suggestions = suggest(analysis)
    data = analysis.data
    est = data.peak.astype(np.int64).copy()
    over = bool(est.max() > budget)
    chosen: list[GroupEstimate] = []
    if model is not None:
        from ..config import Configuration
        inhibited = set(analysis.inhibited_sites)

        def peaks(sites) -> np.ndarray:
            cfg = Configuration(frozenset(sites), model.snapshots)
            return np.asarray(model.predict(cfg).peak_by_rank, dtype=np.int64)

        est = peaks(inhibited)
        for e in suggestions:
            p = peaks(inhibited | set(e.sites))
            if np.all((p <= est) | (p <= budget)):
                chosen.append(e)
                inhibited |= set(e.sites)
                est = p
    else:
        for e in suggestions:
            inc = np.maximum(data.dpk[:, e.index], 0)
            if np.all((inc == 0) | (est + inc <= budget)):
                chosen.append(e)
                est += inc
    idx = [e.index for e in chosen]
    dtw = data.dt_wall_s[:, idx].sum(axis=1) if idx else np.zeros(data.nranks)
    dtc = data.dt_cpu_s[:, idx].sum(axis=1) if idx else np.zeros(data.nranks)
    nocp, partial = _callee_list(analysis, chosen)
    return BudgetPlan(int(budget), tuple(chosen), tuple(int(v) for v in est), int(est.max()),
                      slowest_rank_gain(data.wall_s, dtw), slowest_rank_gain(data.cpu_s, dtc),
                      nocp, partial, over, analysis.groups.granularity.value, model is not None)


def _callee_list(analysis: Analysis, chosen: Sequence[GroupEstimate]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    groups = analysis.groups
    inhibited = {s for s in analysis.inhibited_sites}
    sel_sites = {s for e in chosen for s in e.sites} | inhibited
    # every site of each callee: the groups' sites plus the inhibited ones
    by_callee: dict[str, set[str]] = {}
    for g in range(len(groups)):
        c = groups.callees[g].lower()
        if c:
            by_callee.setdefault(c, set()).update(groups.sites[g])
    for s in inhibited:
        c = callee_of(s)
        if c:
            by_callee.setdefault(c, set()).add(s)
    full = nocheckpoint_list(sel_sites, by_callee)
    partial = sorted(s for e in chosen for s in e.sites
                     if e.callee.lower() not in full)
    return tuple(full), tuple(partial)


# ---------------------------------------------------------------------------
# Printouts
# ---------------------------------------------------------------------------

def _fmt_s(v: float) -> str:
    return "-" if v is None or math.isnan(v) else human_time(v)


def _fmt_imb(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.2f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool],
           indent: str = "  ") -> list[str]:
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r)]

    def line(cells):
        out = [c.rjust(w) if rj else c.ljust(w) for c, w, rj in zip(cells, widths, right)]
        return (indent + "  ".join(out)).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def format_table(analysis: Analysis, suggestions: Suggestions | None = None,
                 plan: BudgetPlan | None = None, top: int | None = None) -> str:
    """The suggestions as an aligned terminal table.

    Times to the millisecond (slowest-rank gains, wall and CPU), memory in
    human units; ``rank imb.`` is the imbalance (max/mean over ranks) of the
    per-rank time gains, shown when there are several ranks.

    >>> print(format_table(an, plan=select_under_budget(an, 2**30), top=10))   # doctest: +SKIP
    """
    if suggestions is None:
        suggestions = suggest(analysis)
    a = analysis
    what = "site" if a.groups.granularity is Granularity.SITE else "callee"
    lines = [f"{a.source or 'profile'}: {a.nranks} rank(s), per {what}, "
             f"{len(a.groups)} {what}s, {len(suggestions)} with instances"]
    ws, cs, ps = a.wall_spread, a.cpu_spread, a.peak_spread
    if not math.isnan(ws.max):
        lines.append(f"  adjoint wall  {_fmt_s(ws.max)} slowest rank (min {_fmt_s(ws.min)}, "
                     f"mean {_fmt_s(ws.mean)}, imbalance {_fmt_imb(ws.imbalance)})")
    if not math.isnan(cs.max):
        lines.append(f"  adjoint CPU   {_fmt_s(cs.max)} slowest rank (min {_fmt_s(cs.min)}, "
                     f"mean {_fmt_s(cs.mean)}, imbalance {_fmt_imb(cs.imbalance)})")
    lines.append(f"  peak stack    {human_bytes(ps.max)} largest rank (min {human_bytes(ps.min)}, "
                 f"mean {human_bytes(ps.mean)})")
    lines.append("")
    lines.append("SUGGESTED NOCHECKPOINTs (each estimate assumes this flip alone: re-profile after flipping)")
    multi = a.nranks > 1
    headers = ["#", what, "calls", "gain wall", "gain CPU", "peak change", "new peak"]
    right = [True, False, True, True, True, True, True]
    if multi:
        headers.append("rank imb.")
        right.append(True)
    sections = [("Peak memory gain (inhibiting lowers the peak):", suggestions.gain, False),
                ("Peak memory neutral:", suggestions.neutral, False),
                ("Peak memory cost (best time gained per byte first):", suggestions.cost, True)]
    all_rows = []
    for _, ests, _ in sections:
        for e in ests[:top] if top else ests:
            basis = e.dt_wall if a.time_basis == "wall" else e.dt_cpu
            row = [str(e.index), e.name, str(e.count), _fmt_s(e.time_gain_wall_s),
                   _fmt_s(e.time_gain_cpu_s), human_bytes(e.peak_change, signed=True),
                   human_bytes(e.new_peak)]
            if multi:
                row.append(_fmt_imb(basis.imbalance))
            all_rows.append(row)
    table = _table(headers, all_rows, right)
    k = 1
    for title, ests, _ in sections:
        shown = ests[:top] if top else ests
        lines.append(title)
        if not shown:
            lines.append("  (none)")
            continue
        lines.append(table[0])
        lines.extend(table[k:k + len(shown)])
        k += len(shown)
        if top and len(ests) > top:
            lines.append(f"  ... {len(ests) - top} more")
    if plan is not None:
        lines.append("")
        lines.extend(_format_plan(plan, what, len(a.inhibited_sites), a.source))
    for n in a.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)


def _format_plan(plan: BudgetPlan, what: str, profiled_inhibited: int = 0,
                 source: str = "") -> list[str]:
    out = [f"Under a per-rank budget of {human_bytes(plan.budget)} ({plan.budget} bytes): "
           f"{len(plan.selected)} {what}(s) proposed"]
    if plan.over_budget:
        out.append("  the profiled peak is already above the budget: only inhibitions that do "
                   "not raise it are proposed")
    for e in plan.selected:
        out.append(f"  {e.name}")
    peak = (f"predicted peak {human_bytes(plan.new_peak)} (the cost model's, of the whole "
            "configuration)" if plan.exact_peaks else
            f"estimated peak {human_bytes(plan.new_peak)} (per-rank costs summed, gains not "
            "credited: re-profile to check)")
    out.append(f"  estimated gain {_fmt_s(plan.time_gain_wall_s)} wall, {_fmt_s(plan.time_gain_cpu_s)} "
               f"CPU (slowest rank); {peak}")
    out.append(f"  Tapenade: {plan.tapenade_option}")
    if plan.new_peak > plan.budget:
        todo = (f"activate some of the {profiled_inhibited} checkpoint(s) the profiled run inhibited "
                "(re-profile), or raise the budget" if profiled_inhibited else
                "every checkpoint was on in the profiled run: raise the budget")
        out.append(f"  DOES NOT FIT: {'its' if plan.exact_peaks else 'the estimated'} peak "
                   f"{human_bytes(plan.new_peak)} is above the budget on some rank; {todo} "
                   f"(python -m pyharness.optimize {source or 'PROFILE'} --budget B names the "
                   "lowest peak a configuration reaches)")
    if plan.partial:
        out.append("  per site only ($AD NOCHECKPOINT; their callees have other checkpointed sites): "
                   + " ".join(plan.partial))
    return out


def _est_dict(e: GroupEstimate) -> dict:
    d = {"index": e.index, "name": e.name, "callee": e.callee, "sites": list(e.sites),
         "count": e.count, "effect": e.effect.value,
         "time_gain_wall_s": json_number(e.time_gain_wall_s),
         "time_gain_cpu_s": json_number(e.time_gain_cpu_s),
         "peak_change_bytes": e.peak_change, "new_peak_bytes": e.new_peak,
         "per_rank": {"dt_wall_s": e.dt_wall.as_dict(), "dt_cpu_s": e.dt_cpu.as_dict(),
                      "peak_change_bytes": e.dpk.as_dict(), "count": e.calls.as_dict()}}
    if e.effect is MemoryEffect.COST:
        d["seconds_per_byte"] = json_number(e.ratio)
    return d


def to_json(analysis: Analysis, suggestions: Suggestions | None = None,
            plan: BudgetPlan | None = None) -> dict:
    """The analysis as a JSON-ready dict (NaN and unknown values become ``null``).

    >>> json.dumps(to_json(an), allow_nan=False)          # doctest: +SKIP
    """
    if suggestions is None:
        suggestions = suggest(analysis)
    a = analysis
    out = {
        "source": a.source, "granularity": a.groups.granularity.value, "time_basis": a.time_basis,
        "nranks": a.nranks,
        "ranks": {"wall_s": [json_number(v) for v in a.data.wall_s],
                  "cpu_s": [json_number(v) for v in a.data.cpu_s],
                  "peak_bytes": [int(v) for v in a.data.peak],
                  "wall": a.wall_spread.as_dict(), "cpu": a.cpu_spread.as_dict(),
                  "peak": a.peak_spread.as_dict()},
        "peak_bytes": a.peak,
        "suggestions": {"gain": [_est_dict(e) for e in suggestions.gain],
                        "neutral": [_est_dict(e) for e in suggestions.neutral],
                        "cost": [_est_dict(e) for e in suggestions.cost]},
        "notes": list(a.notes),
    }
    if plan is not None:
        out["budget"] = {"budget_bytes": plan.budget, "selected": [e.name for e in plan.selected],
                         "rank_peaks_bytes": list(plan.rank_peaks), "new_peak_bytes": plan.new_peak,
                         "time_gain_wall_s": json_number(plan.time_gain_wall_s),
                         "time_gain_cpu_s": json_number(plan.time_gain_cpu_s),
                         "nocheckpoint": list(plan.nocheckpoint), "per_site_only": list(plan.partial),
                         "over_budget": plan.over_budget, "tapenade_option": plan.tapenade_option}
    return out


def _tapenade_line(e: GroupEstimate, analysis: Analysis) -> str:
    ms = int(round(_t(e.time_gain_s) * 1000)) if not math.isinf(_t(e.time_gain_s)) else 0
    ms = max(ms, 0)
    line = f"  - Time gain -{ms // 1000:2d}.{ms % 1000:03d} s."
    d = e.peak_change
    if d < 0:
        line += f" and peak memory gain {d}b"
    elif d == 0:
        line += " at peak memory cost zero"
    else:
        line += f" at peak memory cost {d // 1000000:4d}.{d % 1000000:06d} Mb"
    g = analysis.groups
    callee = e.callee or ""
    if callee:
        line += f" for call {callee} ({e.count} times), at"
    else:
        line += f" for checkpoint ({e.count} times) starting at"
    line += f" location#{e.index}: line {g.lines[e.index]} of file {g.files[e.index] or '?'}"
    return line


def format_tapenade(analysis: Analysis, suggestions: Suggestions | None = None) -> str:
    """The suggestions in the text format of Tapenade's profiler.

    Same layout and line format as ``adProfileAdj_showProfiles`` (so that
    ``--from-tapenade`` and scripts written for Tapenade read it), but the
    figures are the whole job's: the largest per-rank peak, slowest-rank time
    gains to the millisecond (not truncated to seconds) and counts summed
    over ranks. Callee groups are printed at their first site's file and line.

    >>> print(format_tapenade(an))                        # doctest: +SKIP
    PEAK STACK:923000000 bytes
    SUGGESTED NOCHECKPOINTs:
     * Peak memory gain:
    ...
    """
    if suggestions is None:
        suggestions = suggest(analysis)
    lines = [f"PEAK STACK:{analysis.peak} bytes", "SUGGESTED NOCHECKPOINTs:", " * Peak memory gain:"]
    lines += [_tapenade_line(e, analysis) for e in suggestions.gain]
    lines.append(" * Peak memory neutral:")
    lines += [_tapenade_line(e, analysis) for e in suggestions.neutral]
    lines.append(" * Peak memory cost:")
    lines += [_tapenade_line(e, analysis) for e in suggestions.cost]
    return "\n".join(lines)
