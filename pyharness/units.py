"""Sizes and times for people: parse ``512MiB`` / ``1.5x``, print ``1.23 MiB`` / ``12.345 s``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import UsageError

__all__ = ["parse_size", "parse_budget", "Budget", "human_bytes", "human_time", "seconds_figure",
           "rank_list", "per_rank", "ranks_differing", "merge_rank_notes", "PER_RANK_LIMIT"]

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "t": 1000**4, "tb": 1000**4,
    "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2, "gi": 1024**3, "gib": 1024**3,
    "ti": 1024**4, "tib": 1024**4,
}
MAX_BYTES = 2**63          # sizes travel to Fortran as 64-bit integers
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_size(text: str, what: str = "size") -> int:
    """Bytes from ``'512MiB'``, ``'1.5GB'``, ``'1000000'``.

    >>> parse_size("2KiB")
    2048
    """
    m = _SIZE_RE.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise UsageError(f"{what} '{text}' is not a size: use bytes with a unit like 512MiB, 2GB or 1000000")
    value = float(m.group(1)) * _UNITS[unit]
    if not value < MAX_BYTES:          # also inf and nan (1e400)
        raise UsageError(f"{what} '{text}' is too large: at most {MAX_BYTES - 1} bytes (8 EiB)")
    return int(round(value))


@dataclass(frozen=True)
class Budget:
    """A per-rank peak-stack budget: absolute bytes, or a factor of a reference peak."""

    nbytes: int | None = None
    factor: float | None = None

    def resolve(self, reference_peak: int) -> int:
        if self.nbytes is not None:
            return self.nbytes
        return int(self.factor * reference_peak)

    def __str__(self) -> str:
        return human_bytes(self.nbytes) if self.nbytes is not None else f"{self.factor:g}x"


def parse_budget(text: str) -> Budget:
    """``'512MiB'`` → absolute budget; ``'1.5x'`` → factor of the starting peak.

    >>> parse_budget("1.5x").factor
    1.5
    """
    s = str(text).strip()
    if s.lower().endswith("x"):
        try:
            factor = float(s[:-1])
        except ValueError:
            factor = -1.0
        if not 0 < factor < 1e6:       # inf, nan, negative or absurd (infx, 1e400x)
            raise UsageError(f"budget '{text}' is not a size: use bytes with a unit like 512MiB, or a factor like 1.5x")
        return Budget(factor=factor)
    m = _SIZE_RE.match(s)
    if m and m.group(2).lower() in ("", "b") and not float(m.group(1)).is_integer():
        # '1.5' or '0.8B': a fraction of a byte, surely a factor without its x
        raise UsageError(f"budget '{text}' is a fraction of a byte: for a factor of the starting peak "
                         f"write {m.group(1)}x; bytes are whole (1000000, or with a unit like 512MiB)")
    try:
        return Budget(nbytes=parse_size(s, "budget"))
    except UsageError as exc:
        if "too large" in str(exc):
            raise
        raise UsageError(f"budget '{text}' is not a size: use bytes with a unit like 512MiB, or a factor like 1.5x") from None


def human_bytes(n: float | int | None, signed: bool = False) -> str:
    """``1536`` → ``'1.50 KiB'``; with ``signed``, a leading + for positive values."""
    if n is None:
        return "-"
    sign = "-" if n < 0 else ("+" if signed and n > 0 else "")
    a = abs(float(n))
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if a >= scale:
            return f"{sign}{a / scale:.2f} {unit}"
    return f"{sign}{a:.0f} B"


def human_time(seconds: float, signed: bool = False) -> str:
    """Seconds to the millisecond, and below 0.1 s to three significant digits (the
    gains of a small case's sites are fractions of a millisecond; to the millisecond
    they all read 0.000 s): ``12.3456`` → ``'12.346 s'``, ``0.000345`` → ``'0.000345 s'``."""
    return f"{seconds_figure(seconds, signed)} s"


def seconds_figure(seconds: float, signed: bool = False) -> str:
    """:func:`human_time` without its unit, for table columns headed "(s)"."""
    sign = "+" if signed and seconds > 0 else ""
    a = abs(seconds)
    dec = 3 if a >= 0.1 or a == 0 or not math.isfinite(a) else 2 - math.floor(math.log10(a))
    return f"{sign}{seconds:.{dec}f}"


# A figure per rank is printed rank by rank up to this many ranks; beyond, summarised
# (largest, smallest, mean, which ranks hold the largest), the full list on request
# (--per-rank): at 2,000 ranks one entry per rank is a 60,000-character line.
PER_RANK_LIMIT = 8


def rank_list(ranks, limit: int = 8) -> str:
    """Ranks as ranges, at most ``limit`` of them: ``[0, 1, 2, 5, 7, 8]`` → ``'0-2, 5, 7-8'``;
    beyond ``limit`` ranges, ``'..., N ranks in all'``."""
    rs = sorted(int(r) for r in ranks)
    runs: list[tuple[int, int]] = []
    for r in rs:
        if runs and r == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], r)
        else:
            runs.append((r, r))
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit])
    if len(runs) > limit:
        text += f", ... ({len(rs)} ranks in all)"
    return text


def per_rank(values, fmt, *, largest: str = "largest", all_ranks: bool = False,
             limit: int = PER_RANK_LIMIT, labels: bool = True, option: str = "") -> str:
    """One figure per rank for a terminal line: every rank's up to ``limit`` ranks (or with
    ``all_ranks``; without ``labels``, the figures alone, in rank order), else a summary that stays one short line at any number of ranks:
    ``'225.22 KiB on every rank (2000 ranks)'`` or ``'230.1 KiB largest (ranks 3, 17),
    smallest 220.0 KiB (rank 0), mean 225.3 KiB, over 2000 ranks'``; ``option``: the
    command-line option that prints every rank's, named after a summary."""
    v = [float(x) for x in values]
    n = len(v)
    if n == 0:
        return "no ranks"
    if all_ranks or n <= limit:
        return ", ".join(f"rank {r}: {fmt(x)}" if labels else fmt(x) for r, x in enumerate(v))
    hi, lo = max(v), min(v)
    if hi == lo:
        return f"{fmt(hi)} on every rank ({n} ranks)"
    at_hi = [r for r, x in enumerate(v) if x == hi]
    lo_r = v.index(lo)
    return (f"{fmt(hi)} {largest} (rank{'s' if len(at_hi) > 1 else ''} {rank_list(at_hi)}), "
            f"smallest {fmt(lo)} (rank {lo_r}), mean {fmt(math.fsum(v) / n)}, over {n} ranks"
            + (f" ({option}: every rank's)" if option else ""))


def ranks_differing(got, want, unit: str = "B", limit: int = 4) -> str:
    """Where two per-rank integer figures differ, in a line that stays short at any number
    of ranks: ``'on 2 of 2000 ranks (3, 17): rank 3 1024 B, not 1000 B; rank 17 ...'``."""
    g, w = list(map(int, got)), list(map(int, want))
    if len(g) != len(w):
        return f"for {len(g)} rank(s), predicted for {len(w)}"
    bad = [r for r in range(len(g)) if g[r] != w[r]]
    if not bad:
        return "on no rank"
    shown = "; ".join(f"rank {r} {g[r]} {unit}, not {w[r]} {unit}" for r in bad[:limit])
    more = f"; ... ({len(bad) - limit} more)" if len(bad) > limit else ""
    return f"on {len(bad)} of {len(g)} ranks ({rank_list(bad)}): {shown}{more}"


_RANK_NOTE = re.compile(r"^ranks? ([0-9][0-9, -]*): (.*)$", re.S)


def merge_rank_notes(notes) -> tuple[str, ...]:
    """Notes of many ranks, each said once: ``'rank 3: X'`` and ``'rank 4: X'`` become
    ``'ranks 3-4: X'`` (in the place of the first); other notes once each, in order. Every
    rank of a run with the same structure notes the same thing: at 2,000 ranks the same
    sentence 2,000 times in predict's 'exact no:' line and in tune's messages."""
    order: list[str] = []
    ranks: dict[str, list[int]] = {}
    for n in notes:
        m = _RANK_NOTE.match(n)
        key, rs = (m.group(2), _ranks_of(m.group(1))) if m else (n, None)
        if key not in ranks:
            order.append(key)
            ranks[key] = []
        if rs is not None:
            ranks[key].extend(rs)
    out = []
    for key in order:
        rs = sorted(set(ranks[key]))
        out.append(key if not rs else
                   f"rank {rs[0]}: {key}" if len(rs) == 1 else f"ranks {rank_list(rs)}: {key}")
    return tuple(out)


def _ranks_of(text: str) -> list[int]:
    """``'0-2, 5'`` → ``[0, 1, 2, 5]`` (what :func:`rank_list` writes, without its '...')."""
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        if a.isdigit() and (not b or b.isdigit()):
            out.extend(range(int(a), int(b or a) + 1))
    return out
