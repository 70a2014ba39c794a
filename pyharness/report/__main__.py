"""Turn pyharness files into tables, plots, CSV and an HTML page.

Usage::

    python -m pyharness.report results/profile.h5 results/tune.h5 --out report --html
    python -m pyharness.report results/tune.h5 --nocheckpoint 7     # Tapenade list of step 7

A profile gives the memory timeline per rank, the per-site estimates (three
suggestion groups) and the rank imbalance; tuning histories and explorations give
the Pareto plane (peak stack vs run time) with the tuning paths, the budget and the
Pareto front of everything measured. A tune.h5 made with ``--method optimal`` also
gives a table of predicted against measured for every measured configuration, and
the cost model's predicted front drawn with the measured points. Several files are
overlaid.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import os
import sys
from pathlib import Path

from ..config import callee_of, gradient_suspects, nocheckpoint_list
from ..errors import UsageError
from ..reduction import EventFilesMissing
from ..mpiutil import run_cli
from ..units import human_bytes, human_time, seconds_figure
from ..vocabulary import MemoryEffect
from .data import all_units, config_of, file_kind, load_points

__all__ = ["main"]


def _table(points) -> str:
    lines = [f"{'file':<24} {'label':>6} {'decision':>9} {'wall (s)':>10} {'peak':>12} {'inhibited':>9}  gradient"]
    for p in points:
        lines.append(f"{Path(p.source).name[:24]:<24} {p.label:>6} {p.decision.value if p.decision else '-':>9} "
                     f"{seconds_figure(p.wall):>10} {human_bytes(p.peak):>12} {len(p.inhibited):>9}  "
                     f"{'same' if p.grad_ok else 'DIFFERS'}")
    bad = [p for p in points if not p.grad_ok]
    if bad:
        keep = gradient_suspects((p.inhibited for p in bad),
                                 (p.inhibited for p in points if p.grad_ok))
        lines.append(f"\n{len(bad)} configuration(s) CHANGED THE GRADIENT: never chosen, not on the Pareto front")
        if keep:
            lines.append("MUST STAY CHECKPOINTED (inhibited only where the gradient changed): " + ", ".join(keep))
    return "\n".join(lines)


def _prediction_table(points) -> str:
    """Predicted against measured, every measured configuration of a --method optimal tune.h5."""
    lines = [f"{'step':>4} {'phase':>8} {'decision':>9} {'pred (s)':>10} {'meas (s)':>10} {'error':>7} "
             f"{'pred peak':>12} {'meas peak':>12}  peak per rank"]
    for p in points:
        err = (p.wall - p.pred_wall) / p.pred_wall if p.pred_wall else float("nan")
        lines.append(f"{p.label:>4} {p.phase or '-':>8} {p.decision or '-':>9} {seconds_figure(p.pred_wall):>10} "
                     f"{seconds_figure(p.wall):>10} {100 * err:>+6.1f}% {human_bytes(p.pred_peak):>12} "
                     f"{human_bytes(p.peak):>12}  {'equal' if p.peak_exact else 'DIFFERS'}")
    n = sum(1 for p in points if p.peak_exact)
    lines.append(f"peak predicted to the byte on every rank: {n}/{len(points)} configurations")
    return "\n".join(lines)


def _front_table(attrs, rows) -> str:
    """The plans of a saved front (:func:`~pyharness.report.data.saved_front`)."""
    lines = [f"predicted by the cost model ({attrs.get('kernel', '')}, {int(attrs.get('nranks', 0))} "
             f"rank(s), granularity {attrs.get('granularity', '')}, from {attrs.get('profile', '')}); "
             f"the profiled configuration: {human_time(float(attrs.get('profiled_time_s', float('nan'))))}, "
             f"peak {human_bytes(int(attrs.get('profiled_peak_bytes', 0)))}/rank",
             f"{'budget':>12} {'time':>10} {'peak':>12} {'inhibited':>9}  {'status':<12} {'gap':>8} {'solve':>8}"]
    for r in rows:
        lines.append(f"{human_bytes(int(r['budget'])):>12} {seconds_figure(r['time']):>10} {human_bytes(int(r['peak'])):>12} "
                     f"{r['inhibited']:>9}  {r['status']:<12} {100 * r['gap']:>7.3g}% {r['solve_s']:>7.2f}s")
    return "\n".join(lines)


def _write_points_csv(path, points) -> None:
    from .plots import written
    with written(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "kind", "label", "decision", "strategy", "snapshots", "wall_s",
                    "peak_bytes", "n_inhibited", "inhibited", "gradient_same"])
        for p in points:
            w.writerow([p.source, p.kind, p.label, p.decision.value if p.decision else "", p.strategy, p.snapshots, f"{p.wall:.9f}",
                        p.peak, len(p.inhibited), " ".join(p.inhibited), int(p.grad_ok)])


def _write_sites_csv(path, an) -> None:
    from .plots import written
    with written(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["site", "callee", "instances", "time_gain_wall_s", "time_gain_cpu_s",
                    "peak_change_bytes", "new_peak_bytes", "group"])
        for e in an.estimates:
            eff = MemoryEffect(e.effect).value
            w.writerow([e.name, e.callee, e.count, f"{e.time_gain_wall_s:.9f}", f"{e.time_gain_cpu_s:.9f}",
                        e.peak_change, e.new_peak, eff])


def _nocheckpoint(path, label) -> tuple[str, list[str]]:
    """Tapenade's ``-nocheckpoint`` list of one configuration: the callees all of whose
    sites it inhibits (a callee in the list is inhibited at every site), and the sites
    it inhibits whose callee keeps other sites checkpointed ($AD NOCHECKPOINT per site)."""
    names = config_of(path, label)
    units = all_units(path) or names
    sites_of: dict[str, set[str]] = {}
    for n in (*units, *names):
        sites_of.setdefault(callee_of(n), set()).add(n)
    inhibited = set(names)
    full = nocheckpoint_list(inhibited, sites_of)
    partial = sorted(n for n in inhibited if callee_of(n) not in full)
    return '-nocheckpoint "' + " ".join(full) + '"', partial


def main(argv=None) -> int:
    from ..mpiutil import launched_rank
    if launched_rank() != 0:
        return 0          # under mpiexec: one report, written and printed once (rank 0's)
    ap = argparse.ArgumentParser(prog="python -m pyharness.report", description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="profile.h5, tune.h5, explore.h5 or PLAN.pareto.h5 "
                                             "(optimize --pareto) files (overlaid)")
    ap.add_argument("--out", default="report", help="directory for plots, CSV and HTML (default: report)")
    ap.add_argument("--html", action="store_true", help="also write DIR/report.html (offline, self-contained)")
    ap.add_argument("--granularity", choices=["site", "callee"], default="site")
    ap.add_argument("--nocheckpoint", metavar="LABEL",
                    help="print the Tapenade -nocheckpoint list of the configuration LABEL "
                         "(a tuning step or exploration sample number) of the first file, and stop")
    ap.add_argument("--front", type=int, default=8, metavar="N",
                    help="tune.h5 of --method optimal: draw the cost model's predicted front at N "
                         "budgets from the start's profile, and at the predicted peak of each "
                         "configuration tune ran (default 8; 0: off)")
    args = ap.parse_args(argv)
    kinds = [file_kind(f) for f in args.files]       # clear errors for bad files, before any work
    if args.nocheckpoint is not None:
        option, partial = _nocheckpoint(args.files[0], args.nocheckpoint)
        print(option)
        if partial:
            print("per-site $AD NOCHECKPOINT needed (their callees keep other sites checkpointed, "
                  "so they cannot be in the list): " + " ".join(partial), file=sys.stderr)
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: give a directory for the figures, CSV and HTML "
                         "(created if missing; default: report)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the directory ({exc.strerror}): give a "
                         "directory that can be created or written") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out {out}: the directory is not writable: give another one")
    from . import plots
    figures, tables = [], []
    points = []
    fronts = []
    for path, kind in zip(args.files, kinds):
        pts = load_points(path)
        points += pts
        stem = Path(path).stem
        if kind == "profile" and not pts[0].profiled:
            tables.append((f"{path}: measured without profiling",
                           "no events (--no-profiling): no per-site estimates or timeline; "
                           "its time and peak are a point of the Pareto plane"))
        elif kind == "profile":
            from ..analysis import analyze_profile
            from ..analysis.suggestions import format_table, suggest
            an = analyze_profile(path, args.granularity)
            text = format_table(an, suggest(an))
            tables.append((f"{path}: cost/benefit per {args.granularity}", text))
            _write_sites_csv(out / f"{stem}-sites.csv", an)
            with_events = True
            try:
                figures.append(("Memory timeline: " + path, plots.save(plots.memory_timeline(path),
                                                                        out / f"{stem}-timeline")))
            except KeyError:
                with_events = False
            except EventFilesMissing as exc:
                # the tables come from the profile's reduced data; only the drawings of
                # the raw events are lost
                with_events = False
                tables.append((f"{path}: no memory timeline or rank imbalance",
                               f"{exc}; the tables and per-site figures above come from the "
                               "profile's reduced data"))
            figures.append(("Per-site estimates: " + path,
                            plots.save(plots.site_estimates(an), out / f"{stem}-sites")))
            if with_events:
                figures.append(("Rank imbalance: " + path,
                                plots.save(plots.rank_imbalance(path), out / f"{stem}-ranks")))
        elif kind == "pareto":
            from .data import saved_front
            attrs, rows = saved_front(path)
            tables.append((f"{path}: the predicted front (optimize --pareto)", _front_table(attrs, rows)))
            fronts.append((Path(path).name, [(float(r["time"]), int(r["peak"])) for r in rows]))
        else:
            tables.append((f"{path}: measured configurations", _table(pts)))
            pred = [p for p in pts if p.pred_wall is not None]
            if pred:
                tables.append((f"{path}: predicted (cost model, from the start's profile) against "
                               "measured", _prediction_table(pred)))
                if args.front > 0:
                    from .data import predicted_front
                    fronts.append((Path(path).name, predicted_front(path, args.front)))
    if any(k != "profile" for k in kinds) or len(points) > 1:
        figures.insert(0, ("Pareto plane", plots.save(plots.pareto_plane(points, predicted=fronts),
                                                      out / "pareto")))
    _write_points_csv(out / "configurations.csv", points)
    for title, text in tables:
        print(f"== {title}\n{text}\n")
    print(f"figures, CSV{' and HTML' if args.html else ''} written to {out}/:")
    for title, paths in figures:
        print(f"  {paths[0]}  ({title})")
    if args.html:
        parts = ["<!doctype html><html><head><meta charset='utf-8'><title>pyharness report</title>",
                 "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
                 "pre{font-size:12px;background:#f6f6f6;padding:8px;overflow-x:auto}"
                 "img{max-width:100%}</style></head><body><h1>pyharness report</h1>",
                 "<p>" + ", ".join(html.escape(str(f)) for f in args.files) + "</p>"]
        for title, paths in figures:
            data = base64.b64encode(Path(paths[0]).read_bytes()).decode()
            parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                         f"src='data:image/png;base64,{data}'>")
        for title, text in tables:
            parts.append(f"<h2>{html.escape(title)}</h2><pre>{html.escape(text)}</pre>")
        parts.append("</body></html>")
        with plots.written(out / "report.html") as tmp:
            tmp.write_text("\n".join(parts))
        print(f"  {out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.report", main))
