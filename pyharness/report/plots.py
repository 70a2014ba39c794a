"""The report's figures (matplotlib, headless Agg): Pareto plane, memory timeline,
per-site estimates, rank imbalance. Axes in MiB and seconds."""

from __future__ import annotations

import contextlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..h5io import open_h5, read_str  # noqa: E402
from ..vocabulary import Decision, MemoryEffect  # noqa: E402

__all__ = ["pareto_plane", "memory_timeline", "stack_envelope", "span_coverage", "site_estimates", "rank_imbalance",
           "save", "written", "SAVE_DPI"]

MIB = 2.0 ** 20
GROUP_COLOURS = {MemoryEffect.GAIN: "#2a9d8f", MemoryEffect.NEUTRAL: "#8d99ae", MemoryEffect.COST: "#e76f51"}
STRATEGY_COLOURS = ["#1d3557", "#e63946", "#2a9d8f", "#f4a261"]
SAVE_DPI = 110       # the resolution figures are saved at (the timeline is drawn for it)


@contextlib.contextmanager
def written(path):
    """The temporary name to write ``path`` under, renamed onto ``path`` once complete:
    a killed report leaves the old file or the new one, like every pyharness output."""
    from ..durable import commit, tmp_name
    tmp = tmp_name(path)
    try:
        yield tmp
        commit(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save(fig, out_base) -> list[str]:
    paths = []
    for ext in ("png", "svg"):
        p = f"{out_base}.{ext}"
        with written(p) as tmp:
            fig.savefig(tmp, format=ext, dpi=SAVE_DPI, bbox_inches="tight")
        paths.append(p)
    plt.close(fig)
    return paths


def pareto_front(points):
    """Points not dominated in (wall, peak): nobody is both faster and smaller."""
    pts = sorted(points, key=lambda p: (p.wall, p.peak))
    front, best = [], None
    for p in pts:
        if best is None or p.peak < best:
            front.append(p)
            best = p.peak
    return front


def pareto_plane(points, title: str = "Peak stack vs adjoint run time", predicted=()):
    """Every measured configuration as a dot; tuning paths as lines; budget; front.

    ``predicted``: [(label, [(time s, peak bytes), ...])] fronts predicted by the cost
    model, drawn with the measured points (and each measured configuration's
    prediction joined to its measurement)."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    tunes = {}
    for p in points:
        if p.kind == "tune":
            tunes.setdefault((p.source, p.strategy), []).append(p)
    # several fronts (the histories of a pair search): each in its tuning path's colour
    colour_of = {Path(src).name: STRATEGY_COLOURS[i % len(STRATEGY_COLOURS)]
                 for i, (src, _) in enumerate(tunes)}
    several = sum(1 for _, front in predicted if front) > 1
    for label, front in predicted:
        if front:
            fr = sorted(front)
            ax.step([t for t, _ in fr], [pk / MIB for _, pk in fr], where="post",
                    color=colour_of.get(label, "#2a9d8f") if several else "#2a9d8f",
                    ls=":", lw=2, label=f"predicted front ({label})", zorder=2)
    pred = [p for p in points if p.pred_wall is not None]
    if pred:
        ax.scatter([p.pred_wall for p in pred], [p.pred_peak / MIB for p in pred], s=30, marker="+",
                   c="#2a9d8f", label="predicted (cost model)", zorder=4)
        for p in pred:
            ax.plot([p.pred_wall, p.wall], [p.pred_peak / MIB, p.peak / MIB], color="#2a9d8f",
                    lw=0.6, alpha=0.6, zorder=2)
    explore = [p for p in points if p.kind == "explore" and not p.snapshots]
    if explore:
        ax.scatter([p.wall for p in explore], [p.peak / MIB for p in explore], s=14, c="0.7",
                   label=f"random configurations ({len(explore)})", zorder=1)
    binom = [p for p in points if p.snapshots]
    if binom:
        ax.scatter([p.wall for p in binom], [p.peak / MIB for p in binom], s=18, c="#9b5de5",
                   marker="D", label="with binomial time-loop checkpointing", zorder=2)
    same_strategy = len({st for _, st in tunes}) < len(tunes)
    budgets = {}
    for i, ((src, strategy), pts) in enumerate(tunes.items()):
        col = STRATEGY_COLOURS[i % len(STRATEGY_COLOURS)]
        name = strategy or "tune"
        if pts[0].snapshots or same_strategy:     # e.g. the histories of a pair search
            name += f", K={pts[0].snapshots}, {Path(src).name}"
        path = [p for p in pts if p.decision is not None and p.decision.kept]
        ax.plot([p.wall for p in path], [p.peak / MIB for p in path], "-o", color=col, ms=5,
                label=f"tuning path: {name}", zorder=3)
        for p in path:
            ax.annotate(p.label, (p.wall, p.peak / MIB), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=col)
        rej = [p for p in pts if p.decision is Decision.REJECTED]
        if rej:
            ax.scatter([p.wall for p in rej], [p.peak / MIB for p in rej], s=22, facecolors="none",
                       edgecolors=col, label=f"rejected steps ({name})", zorder=3)
        for b in {p.budget for p in pts if p.budget}:
            budgets.setdefault(b, col)
    for b, col in budgets.items():       # one line per distinct budget
        ax.axhline(b / MIB, color=col if len(budgets) > 1 else "0.3", ls="--", lw=1,
                   label=f"budget {b / MIB:.2f} MiB/rank")
    profiles = [p for p in points if p.kind == "profile"]
    if profiles:
        ax.scatter([p.wall for p in profiles], [p.peak / MIB for p in profiles], s=40, marker="s",
                   c="#264653", label="profiles", zorder=4)
    bad = [p for p in points if not p.grad_ok]
    if bad:
        ax.scatter([p.wall for p in bad], [p.peak / MIB for p in bad], s=40, marker="x", c="#d62828",
                   label=f"gradient differs: never chosen ({len(bad)})", zorder=5)
    # a configuration whose gradient differs is no option: not on the front
    front = pareto_front([p for p in points if np.isfinite(p.wall) and p.grad_ok])
    if len(front) > 1:
        ax.step([p.wall for p in front], [p.peak / MIB for p in front], where="post", color="#f4a261",
                lw=2.5, alpha=0.7, label="Pareto front of all measured", zorder=2)
    ax.set_xlabel("adjoint run time, slowest rank (s)")
    ax.set_ylabel("peak AD stack, largest rank (MiB)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def stack_envelope(t, v, ncols: int, lo=None, hi=None):
    """The extremes of a step series in ``ncols`` equal columns of time.

    ``v[i]`` holds from ``t[i]`` to ``t[i + 1]`` (the AD stack between two events);
    ``t`` is non-decreasing. The columns split ``[lo, hi]`` (default: the events'
    span) and only those from the first event's to the last event's are returned.

    Returns ``(columns, vmin, vmax, vexit)``: the column indices and, per column,
    the least and largest value the series takes in it (the value it enters with
    included, so that a column without events holds the value carried into it) and
    the value it leaves with. Every value of ``v`` lies in some column's range and
    every range's ends are values of ``v``: ``vmax.max() == v.max()`` and
    ``vmin.min() == v.min()`` exactly. Vectorised (no Python loop over events).
    """
    t = np.asarray(t)
    v = np.asarray(v)
    n = len(t)
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, v[:0].copy(), v[:0].copy(), v[:0].copy()
    lo = t[0] if lo is None else lo
    hi = t[-1] if hi is None else hi
    if hi > lo and np.issubdtype(t.dtype, np.integer):     # exact: times in ns
        col = (t.astype(np.int64) - int(lo)) * int(ncols) // (int(hi) - int(lo))
    elif hi > lo:
        col = np.floor((t - lo) * (ncols / float(hi - lo))).astype(np.int64)
    else:
        col = np.zeros(n, dtype=np.int64)
    np.clip(col, 0, ncols - 1, out=col)
    cols = np.arange(col[0], col[-1] + 1)
    starts = np.searchsorted(col, cols, side="left")      # first event at or after each column
    ends = np.append(starts[1:], n)
    has = ends > starts
    entry = v[np.maximum(starts - 1, 0)]                  # the value carried into the column
    vmin, vmax = entry.copy(), entry.copy()
    idx = starts[has]                                      # strictly increasing: reduceat's segments
    vmax[has] = np.maximum(vmax[has], np.maximum.reduceat(v, idx))
    vmin[has] = np.minimum(vmin[has], np.minimum.reduceat(v, idx))
    vexit = v[ends - 1]
    return cols, vmin, vmax, vexit


def _envelope_line(t, v, ncols: int, lo, hi):
    """The series ``v`` (a step function of ``t``) as a polyline of at most 2 points per
    column of :func:`stack_envelope`: each column's least and largest value at its
    centre, the one nearer the value it leaves with last. Series with no more than 2
    points per column are returned as their exact steps."""
    if len(t) <= 2 * ncols:
        x = np.repeat(t, 2)[1:]
        y = np.repeat(v, 2)[:-1]
        return x, y
    cols, vmin, vmax, vexit = stack_envelope(t, v, ncols, lo, hi)
    width = (hi - lo) / ncols if hi > lo else 1.0
    xc = lo + (cols + 0.5) * width                       # float64: exact enough for a pixel
    last_max = np.abs(vexit - vmax) <= np.abs(vexit - vmin)
    y = np.empty(2 * len(cols), dtype=np.float64)
    y[0::2] = np.where(last_max, vmin, vmax)
    y[1::2] = np.where(last_max, vmax, vmin)
    return np.repeat(xc, 2), y


def _by_site(kind, loc, t, k):
    """``{location: times of its events of kind k, in order}``, one sort for all sites."""
    sel = np.flatnonzero(kind == k)
    if not len(sel):
        return {}
    sel = sel[np.argsort(loc[sel], kind="stable")]
    keys, first = np.unique(loc[sel], return_index=True)
    bounds = np.append(first, len(sel))
    return {int(i): t[sel[bounds[j]:bounds[j + 1]]] for j, i in enumerate(keys)}


def span_coverage(b, e, lo, hi, ncols: int):
    """The fraction of each of ``ncols`` equal columns of ``[lo, hi]`` that the
    intervals ``[b[i], e[i]]`` cover (the sum of their lengths in it, clipped to 1:
    nested intervals, as a recursive site's, darken up to a full column). Vectorised: the covered length up to x is
    ``sum(x - b_i for b_i < x) - sum(x - e_i for e_i < x)``, evaluated at the edges
    with two sorts and cumulative sums."""
    b = np.asarray(b, dtype=np.float64) - lo
    e = np.asarray(e, dtype=np.float64) - lo
    if not len(b) or hi <= lo:
        return np.zeros(ncols)
    sb, se = np.sort(np.minimum(b, e)), np.sort(np.maximum(b, e))
    cb = np.concatenate([[0.0], np.cumsum(sb)])
    ce = np.concatenate([[0.0], np.cumsum(se)])
    x = np.linspace(0.0, float(hi - lo), ncols + 1)
    k, m = np.searchsorted(sb, x), np.searchsorted(se, x)
    covered = (k * x - cb[k]) - (m * x - ce[m])
    return np.clip(np.diff(covered) / (x[1] - x[0]), 0.0, 1.0)


def _shade(ax, b, e, colour, alpha, lo, hi, ncols: int) -> None:
    """Shade the intervals at pixel resolution: each column as dark as the share of its
    time they cover (what drawing every interval would show, in at most ``ncols``
    rectangles: runs of columns of one shade are one rectangle), one collection."""
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgba
    cov = span_coverage(b, e, lo, hi, ncols)
    level = np.round(cov * 32).astype(np.int64)            # 33 shades
    if not level.any():
        return
    start = np.flatnonzero(np.diff(level, prepend=-1))      # runs of one shade
    lev = level[start]
    stop = np.append(start[1:], ncols)
    keep = lev > 0
    edges = np.linspace(lo, hi, ncols + 1)
    x0, x1, lev = edges[start[keep]], edges[stop[keep]], lev[keep]
    verts = np.stack([np.stack([x0, np.zeros_like(x0)], 1), np.stack([x0, np.ones_like(x0)], 1),
                      np.stack([x1, np.ones_like(x1)], 1), np.stack([x1, np.zeros_like(x1)], 1)], 1)
    rgba = np.tile(to_rgba(colour), (len(lev), 1))
    rgba[:, 3] = alpha * lev / 32.0
    ax.add_collection(PolyCollection(verts, facecolors=rgba, lw=0, antialiased=False,
                                     transform=ax.get_xaxis_transform()), autolim=False)


def memory_timeline(profile_path, top: int = 4, max_ranks: int = 4):
    """Stack size over time on every rank, with the advance/reverse phases of the
    sites that hold the most time shaded, and each rank's peak marked.

    With more than ``max_ranks`` ranks, only rank 0, the ranks of the largest and
    smallest peaks and the slowest rank are drawn (only their events are read).

    Drawn at the resolution it is saved at (:data:`SAVE_DPI`): each rank's stack
    series is reduced to the least and largest value in every pixel column
    (:func:`stack_envelope`, at most 2 points per column), so the curve covers what
    every event's would and the peaks are exact, whatever the number of events;
    the shaded phases become, per pixel column, a shade as dark as the share of
    the column's time they cover (:func:`span_coverage`), one collection per site
    and phase. Events are read one rank at a time."""
    with open_h5(profile_path, ("profile",)) as f:
        names = read_str(f["locations/name"])
        ranks = sorted(f["events"])
        shown_of = ""
        if len(ranks) > max_ranks:
            s = f["summary"]
            pk, wall = s["peak_bytes"][()], s["wall_s"][()]
            pick = sorted({0, int(np.argmax(pk)), int(np.argmin(pk)), int(np.argmax(wall))})
            shown_of = f" ({len(pick)} of {len(ranks)} ranks: 0, largest and smallest peak, slowest)"
            ranks = [f"rank_{r:05d}" for r in pick[:max_ranks]]
        fig, axes = plt.subplots(len(ranks), 1, figsize=(9, 2.4 * len(ranks) + 0.6), sharex=True,
                                 squeeze=False)
        from ..reduction import check_rank_file
        for rk in ranks:
            check_rank_file(f, int(rk.split("_")[1]))   # its event file present, same run
        # the common time axis, from each shown rank's first and last event
        ends = [(int(g["wall_ns"][0]), int(g["wall_ns"][-1]))
                for g in (f["events"][rk] for rk in ranks) if len(g["wall_ns"])]
        lo_ns = min(a for a, _ in ends) if ends else 0
        hi_ns = max(b for _, b in ends) if ends else 1
        lo, hi = lo_ns * 1e-9, hi_ns * 1e-9
        # pixel columns that [lo, hi] spans in the plotting area as saved (sharex: the same
        # for every rank; the axes add their x margin on both sides)
        width_px = axes[0, 0].get_position().width * fig.get_figwidth() * SAVE_DPI
        ncols = max(64, int(width_px / (1 + 2 * axes[0, 0].margins()[0])))
        for ax, rk in zip(axes[:, 0], ranks):
            g = f["events"][rk]
            kind, loc = g["kind"][()], g["loc"][()]
            t_ns = g["wall_ns"][()]
            st = g["stack"][()] / MIB
            if len(t_ns) > 1 and np.any(np.diff(t_ns) < 0):   # not expected: events in time order
                o = np.argsort(t_ns, kind="stable")
                kind, loc, t_ns, st = kind[o], loc[o], t_ns[o], st[o]
            x, y = _envelope_line(t_ns, st, ncols, lo_ns, hi_ns)
            ax.plot(x * 1e-9, y, color="#1d3557", lw=1)
            t = t_ns * 1e-9
            # time in advance+reverse per site: shade the phases of the top sites
            begins = {k: _by_site(kind, loc, t, k) for k in (1, 2, 3, 4, 6)}   # reverses: _pair_lifo below
            tot = {}
            for k_begin, k_end in ((1, 3), (4, 6)):
                for i, b in begins[k_begin].items():
                    e = begins[k_end].get(i, b[:0])
                    n = min(len(b), len(e))
                    tot[i] = tot.get(i, 0.0) + float(np.sum(np.abs(e[:n] - b[:n])))
            tops = sorted(tot, key=lambda i: -tot[i])[:top]
            cols = plt.cm.tab10(np.arange(len(tops)))
            for c, i in zip(cols, tops):
                b, e = begins[2].get(i, t[:0]), begins[3].get(i, t[:0])
                n = min(len(b), len(e))
                _shade(ax, b[:n], e[:n], c, 0.25, lo, hi, ncols)        # advance
                b, e = _pair_lifo(t, kind, loc, i, 5, 6)                # reverse: nested LIFO pairs
                _shade(ax, b, e, c, 0.12, lo, hi, ncols)
                ax.plot([], [], color=c, lw=6, alpha=0.4, label=names[i] if i >= 0 else "?")
            turns = t[kind == 7]
            for xt in turns[:1]:
                ax.axvline(xt, color="0.4", ls=":", lw=1)
            if len(st):
                j = int(np.argmax(st))
                ax.plot(t[j], st[j], "v", color="#e63946", ms=8)
                ax.annotate(f"peak {st[j]:.2f} MiB", (t[j], st[j]), xytext=(5, -12),
                            textcoords="offset points", fontsize=8, color="#e63946")
            ax.set_ylabel(f"rank {int(rk.split('_')[1])}\nstack (MiB)")
            ax.grid(alpha=0.3)
            del kind, loc, t, t_ns, st, begins
        axes[0, 0].legend(fontsize=7, loc="upper right", title="sites (light: advance, pale: reverse)",
                          title_fontsize=7)
        axes[-1, 0].set_xlabel("wall time since the adjoint started (s)")
        fig.suptitle("AD stack over time per rank (dotted: the root's turn)" + shown_of)
    return fig


def _pair_lifo(t, kind, loc, i, kb, ke):
    sel = np.where(((kind == kb) | (kind == ke)) & (loc == i))[0]
    stack, b, e = [], [], []
    for j in sel:
        if kind[j] == kb:
            stack.append(t[j])
        elif stack:
            b.append(stack.pop())
            e.append(t[j])
    return b, e


def site_estimates(analysis, top: int = 30):
    """Per-site estimated time gain and peak change, coloured by suggestion group."""
    ests = sorted(analysis.estimates, key=lambda e: -e.time_gain_s if np.isfinite(e.time_gain_s) else 0)
    ests = [e for e in ests if e.count > 0][:top]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 0.28 * len(ests) + 1.6), sharey=True)
    y = np.arange(len(ests))
    cols = [GROUP_COLOURS.get(MemoryEffect(e.effect), "0.5") for e in ests]
    a1.barh(y, [e.time_gain_s * 1e3 for e in ests], color=cols)
    a2.barh(y, [e.peak_change / MIB for e in ests], color=cols)
    a1.set_yticks(y, [e.name for e in ests], fontsize=7)
    a1.invert_yaxis()
    a1.set_xlabel("estimated time gain if inhibited (ms, slowest rank)")
    a2.set_xlabel("estimated peak change if inhibited (MiB per rank)")
    a2.axvline(0, color="0.3", lw=0.8)
    for a in (a1, a2):
        a.grid(axis="x", alpha=0.3)
    from matplotlib.patches import Patch
    labels = {MemoryEffect.GAIN: "lowers the peak", MemoryEffect.NEUTRAL: "memory-neutral",
              MemoryEffect.COST: "memory cost"}
    a2.legend(handles=[Patch(color=c, label=labels[g]) for g, c in GROUP_COLOURS.items()],
              fontsize=8, loc="lower right")
    fig.suptitle("What inhibiting each checkpoint would do (one flip at a time)")
    return fig


# Up to this many ranks every rank's bar is labelled; beyond, matplotlib's integer ticks
# (2,000 labels, one per rank, ran into one black band).
RANK_TICKS_LIMIT = 16
# Up to this many ranks a bar each; beyond, one outline with the outstanding rank marked.
RANK_BARS_LIMIT = 256


def rank_imbalance(profile_path):
    with open_h5(profile_path, ("profile",)) as f:
        wall = f["summary/wall_s"][()]
        peak = f["summary/peak_bytes"][()]
    return rank_bars(wall, peak)


def rank_bars(wall, peak_bytes):
    """The per-rank wall time and peak stack, readable at any number of ranks: a bar per
    rank up to :data:`RANK_BARS_LIMIT` ranks; beyond, one filled outline (thousands of
    sub-pixel bars drop the ranks that stand out), the slowest and the largest rank
    marked and named."""
    from matplotlib.ticker import MaxNLocator
    wall = np.asarray(wall, dtype=float)
    peak = np.asarray(peak_bytes, dtype=float) / MIB
    r = np.arange(len(wall))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for a, v, colour, label, what in ((axes[0], wall, "#457b9d", "adjoint wall time (s)", "slowest"),
                                     (axes[1], peak, "#e76f51", "peak AD stack (MiB)", "largest")):
        if len(r) <= RANK_BARS_LIMIT:
            a.bar(r, v, color=colour)
        else:
            a.fill_between(r, v, step="mid", color=colour, lw=0)
            top = int(np.argmax(v))
            a.plot([top], [v[top]], "v", color="#d62828", ms=6, label=f"{what}: rank {top}")
        a.axhline(np.mean(v), color="0.3", ls="--", lw=1,
                  label=f"mean; imbalance {np.max(v) / np.mean(v):.2f}")
        a.set_xlabel("rank"); a.set_ylabel(label); a.legend(fontsize=8)
        if len(r) <= RANK_TICKS_LIMIT:
            a.set_xticks(r)
        else:
            a.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
            a.set_xlim(-0.5, len(r) - 0.5)
        a.set_ylim(0, None)
        a.grid(axis="y", alpha=0.3)
    fig.suptitle("Per-rank run time and peak stack")
    return fig
