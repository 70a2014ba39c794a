"""Reading pyharness files for reports: profiles, tuning histories, explorations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..h5io import open_h5, read_str
from ..vocabulary import Decision, Phase

__all__ = ["Point", "load_points", "file_kind", "config_of", "all_units", "predicted_front"]


@dataclass(frozen=True)
class Point:
    """One measured configuration: a dot in the Pareto plane."""

    source: str          # file it came from
    label: str           # step number, sample index, ...
    wall: float          # slowest rank, s
    peak: int            # largest per-rank peak, bytes
    inhibited: tuple[str, ...]
    kind: str            # profile | tune | explore
    decision: Decision | None = None   # tune steps only
    strategy: str = ""
    snapshots: int = 0
    budget: int | None = None
    grad_ok: bool = True  # False: its gradient differs from the start's (never to be chosen)
    phase: str = ""
    # tune --method optimal: the cost model's prediction of this configuration
    pred_wall: float | None = None       # slowest rank, s
    pred_peak: int | None = None         # largest per-rank peak, bytes
    peak_exact: bool | None = None       # predicted peak equals the measured one on every rank
    profiled: bool = True                # False: a profile written with --no-profiling (no events)


def file_kind(path) -> str:
    with open_h5(path, ("profile", "tune", "explore", "pareto")) as f:
        return str(f.attrs["kind"])


def saved_front(path) -> tuple[dict, list[dict]]:
    """The front ``optimize --pareto N`` saved (docs/FORMAT.md, ``kind = pareto``):
    (the file's attributes, one row per budget: budget, time (s), peak (bytes, largest
    rank), inhibited (count), status, gap, solve_s)."""
    with open_h5(path, ("pareto",)) as f:
        g = f["pareto"]
        cols = dict(budget=g["budget_bytes"][()], time=g["time_s"][()],
                    peak=np.max(g["peak_bytes"][()], axis=1), status=read_str(g["status"]),
                    gap=g["gap"][()], solve_s=g["solve_s"][()],
                    inhibited=[len(json.loads(x)) for x in read_str(g["inhibited"])])
        attrs = dict(f.attrs)
    rows = [dict(zip(cols, vals)) for vals in zip(*cols.values())]
    return attrs, rows


def _profile_point(path, label="") -> Point:
    with open_h5(path, ("profile",)) as f:
        names = read_str(f["locations/name"])
        inh = f["config/inhibited"][()]
        snaps = int(f["config"].attrs.get("snapshots", 0))
        wall = float(np.max(f["summary/wall_s"][()])) if "wall_s" in f["summary"] else float("nan")
        return Point(str(path), label or Path(path).stem, wall, int(np.max(f["summary/peak_bytes"][()])),
                     tuple(n for n, m in zip(names, inh) if m), "profile", snapshots=snaps,
                     profiled=bool(f.attrs.get("profiling", True)))


def load_points(path) -> list[Point]:
    """Every measured configuration in a file."""
    kind = file_kind(path)
    if kind == "profile":
        return [_profile_point(path)]
    if kind == "pareto":          # predictions only: nothing was measured
        return []
    out = []
    with open_h5(path, (kind,)) as f:
        attrs = f.attrs
        if kind == "tune":
            strategy = str(attrs.get("strategy", ""))
            snaps = int(attrs.get("snapshots", 0))
            steps = f["steps"]
            start_peak = None
            for name in sorted(steps):
                g = steps[name]
                a = g.attrs
                if "peak_bytes" not in g:
                    continue
                peak = int(np.max(g["peak_bytes"][()]))
                if start_peak is None:
                    start_peak = peak
                pred = {}
                if "predicted" in g:
                    pg = g["predicted"]
                    pp = pg["peak_bytes"][()]
                    pred = dict(pred_wall=float(pg.attrs["time_s"]), pred_peak=int(np.max(pp)),
                                peak_exact=bool(np.array_equal(pp, g["peak_bytes"][()])))
                out.append(Point(str(path), str(int(a["step"])), float(np.max(g["wall_s"][()])), peak,
                                 tuple(json.loads(a["inhibited"])), "tune", Decision(str(a["decision"])),
                                 strategy, snaps, grad_ok=not bool(a.get("grad_differs", False)),
                                 phase=str(a.get("phase", "")), **pred))
            if str(attrs.get("method", "greedy")) == "optimal":
                # the strategy steers only the greedy loop: named when that fallback ran
                greedy = any(p.phase in (Phase.INHIBIT.value, Phase.ACTIVATE.value, Phase.LOWER.value)
                             for p in out)
                name = f"optimal, then greedy {strategy}" if greedy else "optimal"
                out = [Point(**{**p.__dict__, "strategy": name}) for p in out]
            b = str(attrs.get("budget", ""))
            if out and b:
                from ..units import parse_budget
                try:
                    budget = parse_budget(b).resolve(start_peak)
                    out = [Point(**{**p.__dict__, "budget": budget}) for p in out]
                except Exception:
                    pass
        else:  # explore
            for name in sorted(f["samples"]):
                g = f["samples"][name]
                a = g.attrs
                out.append(Point(str(path), name, float(np.max(g["wall_s"][()])),
                                 int(np.max(g["peak_bytes"][()])), tuple(json.loads(a["inhibited"])),
                                 "explore", snapshots=int(a.get("snapshots", 0)),
                                 grad_ok=bool(a.get("grad_same", True))))
    return out


def config_of(path, label: str) -> tuple[str, ...]:
    """The inhibited sites of one measured configuration (step or sample label)."""
    points = load_points(path)
    want = str(label).strip()
    for p in points:
        # step numbers and explore's zero-padded sample names: 7 is 00007
        if p.label == want or (p.label.isdigit() and want.isdigit() and int(p.label) == int(want)):
            return p.inhibited
    from ..errors import UsageError
    labels = [p.label for p in points]
    have = (f"its labels are {labels[0]}" + (f" .. {labels[-1]}" if len(labels) > 1 else "")
            if labels else "it holds no measured configuration")
    raise UsageError(f"{path} has no configuration labelled '{label}': {have} (the label column "
                     "of python -m pyharness.report's table)")


def all_units(path) -> tuple[str, ...] | None:
    """Every decision unit of a file (site names, or callee names of a per-callee tune.h5),
    whether inhibited or not; None for a file that does not record them."""
    with open_h5(path, ("profile", "tune", "explore")) as f:
        kind = str(f.attrs["kind"])
        if kind == "profile":
            names = read_str(f["locations/name"])
            return tuple(n for n, s in zip(names, f["locations/is_site"][()]) if s)
        key = "keys" if kind == "tune" else "sites"
        return tuple(read_str(f[key])) if key in f else None


def predicted_front(path, n: int = 8):
    """The cost model's front (predicted time against peak) of a tune.h5 made with
    ``--method optimal``: ``n`` optimal plans from the lowest reachable peak to the
    fastest configuration's, from the start's profile, and the optimal plan at each
    predicted peak of the configurations tune ran (its choice among them): at ``n``
    budgets only, the staircase drawn through them passed right of tune's own choice,
    which looked faster than the front. [] when there is none to draw (greedy
    history, or the start's profile is gone)."""
    with open_h5(path, ("tune",)) as f:
        if str(f.attrs.get("method", "greedy")) != "optimal" or "00000" not in f["steps"]:
            return []
        prof = str(f["steps/00000"].attrs.get("profile", ""))
        gran = str(f.attrs.get("granularity", "site"))
        ran = sorted({int(np.max(g["predicted/peak_bytes"][()])) for g in f["steps"].values()
                      if "predicted" in g})
    p = Path(prof)
    if not p.is_absolute():
        p = Path(path).parent / p if not p.exists() else p
    if not p.exists():
        return []
    from ..model import CostModel
    from ..model.milp import pareto_front
    model = CostModel.from_profile(p)
    return [(pt.plan.predicted_time, pt.plan.peak) for pt in pareto_front(model, n, gran, budgets=ran)]
