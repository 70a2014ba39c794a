"""Import the text tables of Tapenade's own profiler, one file per rank.

``adProfileAdj_showProfilesFile`` writes::

    PEAK STACK:923000000 bytes
    SUGGESTED NOCHECKPOINTs:
     * Peak memory gain:
      - Time gain -12.345 s. and peak memory gain -865000b for call dynamics (720 times), at location#7: line 311 of file forward_step.f
     * Peak memory neutral:
      - Time gain - 3.000 s. at peak memory cost zero for call ...
     * Peak memory cost:
      - Time gain -45.000 s. at peak memory cost    1.500000 Mb for call ...

Conventions read here:

- Time: Tapenade prints ``-`` then the magnitude (``-%2d.%03d``, possibly
  ``- 3.000``); the time saved is that magnitude, whatever the sign. It is
  one process's CPU time (``clock()``), truncated to whole seconds by some
  Tapenade versions.
- Memory: ``gain X`` is a peak decrease of ``|X|`` (Tapenade prints it
  negative), ``cost X`` a peak change of ``X``, ``cost zero`` no change.
  ``Mb`` / ``Kb`` are 10^6 / 10^3 bytes (Tapenade divides by 1000000);
  ``b`` or ``bytes`` are bytes; ``MiB`` etc. are read as binary units.
- A site is identified across ranks by callee, file and line
  (``callee@file:line``); ``for checkpoint (N times) starting at`` entries
  (no callee) become ``checkpoint@file:line``.

Ranks are merged as for pyharness profiles (rank peaks from ``PEAK
STACK:``). The ranks' total run times are not in the files, so ranks count as
equally long: the slowest-rank gain is then the smallest per-rank gain.

Example
-------
>>> t = parse_tapenade_text("PEAK STACK:1000 bytes\\nSUGGESTED NOCHECKPOINTs:\\n * Peak memory cost:\\n"
...     "  - Time gain - 2.500 s. at peak memory cost    0.000100 Mb for call f (3 times), "
...     "at location#1: line 9 of file a.f\\n", "t.txt")
>>> t.peak, t.rows[0].name, t.rows[0].time_s, t.rows[0].dpk
(1000, 'f@a.f:9', 2.5, 100)
"""

from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UsageError
from .ranks import Analysis, Granularity, GroupTable, RankData, combine_ranks, sum_by_callee
from .units import parse_tapenade_bytes

__all__ = ["TapenadeParseError", "TapenadeRow", "TapenadeTable", "parse_tapenade_text",
           "read_tapenade_file", "expand_rank_files", "import_tapenade", "write_imported"]


class TapenadeParseError(UsageError):
    """A Tapenade profile text that cannot be read (message: ``FILE:LINE: cannot parse ...``)."""


@dataclass(frozen=True)
class TapenadeRow:
    """One ``- Time gain ...`` line."""

    lineno: int
    section: str          # gain | neutral | cost | '' (before any section header)
    time_s: float         # time saved (magnitude)
    dpk: int              # peak change in bytes (negative: the peak goes down)
    callee: str           # '' for anonymous checkpoints
    count: int
    location: int         # Tapenade's location#
    line: int
    file: str

    @property
    def name(self) -> str:
        """Site name, ``callee@file:line`` (``checkpoint@file:line`` without callee)."""
        return f"{self.callee or 'checkpoint'}@{self.file}:{self.line}"


@dataclass(frozen=True)
class TapenadeTable:
    """One rank's file: its peak and its rows."""

    path: str
    peak: int
    rows: tuple[TapenadeRow, ...]


_NUM = r"[-+]?\s*(?:\d+(?:\.\d*)?|\.\d+)"
_PEAK = re.compile(rf"^\s*PEAK\s+STACK\s*:\s*(?P<v>{_NUM})\s*(?P<u>[kmgt]?i?b)?(?:ytes)?\s*$", re.I)
_SUGGESTED = re.compile(r"^\s*SUGGESTED\s+NOCHECKPOINTs?\s*:\s*$", re.I)
_SECTION = re.compile(r"^\s*\*\s*Peak\s+memory\s+(?P<s>gain|neutral|cost)\s*:\s*$", re.I)
_ROW = re.compile(
    rf"^\s*-\s*Time\s+gain\s+(?P<t>{_NUM})\s*s\.?"
    rf"\s+(?:and|at)\s+peak\s+memory\s+(?P<mk>gain|cost)\s+"
    rf"(?:(?P<zero>zero)|(?P<m>{_NUM})\s*(?P<u>[kmgt]?i?b)(?:ytes)?)"
    r"\s+for\s+(?:call\s+(?P<callee>\S+)\s+\((?P<n1>\d+)\s+times?\)\s*,?\s*at"
    r"|checkpoint\s+\((?P<n2>\d+)\s+times?\)\s+starting\s+at)"
    r"\s+location\s*#\s*(?P<loc>\d+)\s*:\s*line\s+(?P<line>\d+)\s+of\s+file\s+(?P<file>\S(?:.*\S)?)\s*$",
    re.I)


def _num(s: str) -> float:
    return float(s.replace(" ", ""))


def parse_tapenade_text(text: str, path: str = "<text>") -> TapenadeTable:
    """Parse one rank's profile text.

    Raises
    ------
    TapenadeParseError
        ``FILE:LINE: cannot parse ...`` for a malformed line; ``FILE: no 'PEAK
        STACK:' line`` when the peak is missing; a site listed twice.
    """
    peak = None
    section = ""
    rows: list[TapenadeRow] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _PEAK.match(line)
        if m:
            if peak is not None:
                raise TapenadeParseError(f"{path}:{lineno}: cannot parse: a second 'PEAK STACK:' line")
            try:
                peak = parse_tapenade_bytes(m.group("v").replace(" ", ""), m.group("u") or "b")
            except ValueError:
                raise TapenadeParseError(f"{path}:{lineno}: cannot parse the peak: "
                                         f"'{line.strip()}'") from None
            if peak < 0:
                raise TapenadeParseError(f"{path}:{lineno}: cannot parse: negative peak stack")
            continue
        if _SUGGESTED.match(line):
            continue
        m = _SECTION.match(line)
        if m:
            section = m.group("s").lower()
            continue
        m = _ROW.match(line)
        if not m:
            raise TapenadeParseError(f"{path}:{lineno}: cannot parse line '{line.strip()}' "
                                     "(expected '- Time gain ... for call NAME (N times), at "
                                     "location#K: line L of file F')")
        if m.group("zero"):
            dpk = 0
        else:
            v = parse_tapenade_bytes(str(_num(m.group("m"))), m.group("u"))
            dpk = -abs(v) if m.group("mk").lower() == "gain" else v
        row = TapenadeRow(lineno, section, abs(_num(m.group("t"))), dpk, m.group("callee") or "",
                          int(m.group("n1") or m.group("n2")), int(m.group("loc")),
                          int(m.group("line")), m.group("file"))
        if row.name in seen:
            raise TapenadeParseError(f"{path}:{lineno}: cannot parse: site {row.name} is listed "
                                     f"twice (first at line {seen[row.name]})")
        seen[row.name] = lineno
        rows.append(row)
    if peak is None:
        raise TapenadeParseError(f"{path}: no 'PEAK STACK:' line: not a Tapenade profiler table")
    return TapenadeTable(str(path), peak, tuple(rows))


def read_tapenade_file(path: str | os.PathLike) -> TapenadeTable:
    """Read and parse one rank's file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read '{p}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TapenadeParseError(f"{p}: cannot parse: not a text file") from None
    return parse_tapenade_text(text, str(p))


def expand_rank_files(patterns: Sequence[str]) -> list[Path]:
    """Files named by ``patterns`` (file names or quoted glob patterns), in rank order.

    Rank order is the number in the file name (``tapenade_profile.0003.txt``
    is rank 3) when every file has a distinct one, else name order.

    >>> expand_rank_files(["tapenade_profile.*.txt"])     # doctest: +SKIP
    [PosixPath('tapenade_profile.0000.txt'), PosixPath('tapenade_profile.0001.txt')]
    """
    files: list[str] = []
    for pat in patterns:
        hits = sorted(glob.glob(pat)) if glob.has_magic(pat) else ([pat] if os.path.exists(pat) else [])
        if not hits:
            raise UsageError(f"no file matches '{pat}'")
        files.extend(h for h in hits if h not in files)
    nums = []
    for f in files:
        m = re.search(r"(\d+)(?=\D*$)", os.path.basename(f))
        nums.append(int(m.group(1)) if m else None)
    if None not in nums and len(set(nums)) == len(nums):
        files = [f for _, f in sorted(zip(nums, files))]
    else:
        files = sorted(files)
    return [Path(f) for f in files]


def import_tapenade(paths: Sequence[str | os.PathLike],
                    granularity: Granularity | str = Granularity.SITE) -> Analysis:
    """Merge per-rank Tapenade tables (in rank order) into an :class:`Analysis`.

    Sites missing from a rank's table count as not executed there (no time
    gain, no peak change). The time basis is CPU (what Tapenade measures);
    wall figures are NaN. ``granularity="callee"`` sums the sites of each
    callee (exact for time, approximate for memory; said in the notes).

    Examples
    --------
    >>> an = import_tapenade(expand_rank_files(["tapenade_profile.*.txt"]))   # doctest: +SKIP
    """
    tables = [read_tapenade_file(p) for p in paths]
    if not tables:
        raise UsageError("no Tapenade profile files given")
    index: dict[str, int] = {}
    first: list[TapenadeRow] = []
    for t in tables:
        for r in t.rows:
            if r.name not in index:
                index[r.name] = len(first)
                first.append(r)
    R, G = len(tables), len(first)
    count = np.zeros((R, G), np.int64)
    dtc = np.zeros((R, G))
    dpk = np.zeros((R, G), np.int64)
    for ri, t in enumerate(tables):
        for r in t.rows:
            g = index[r.name]
            count[ri, g] = r.count
            dtc[ri, g] = r.time_s
            dpk[ri, g] = r.dpk
    peaks = np.array([t.peak for t in tables], np.int64)
    nan = np.full(R, np.nan)
    data = RankData(count, np.full((R, G), np.nan), dtc, dpk, peaks, nan, nan.copy())
    groups = GroupTable(Granularity.SITE, tuple(r.name for r in first), tuple(r.callee for r in first),
                        tuple((r.name,) for r in first), tuple(r.file for r in first),
                        tuple(r.line for r in first), np.arange(G, dtype=np.int64))
    notes = ("figures read from Tapenade's profiler text: time gains are one process's CPU time "
             "(truncated to whole seconds by some Tapenade versions); the ranks' total times are "
             "not recorded, so the slowest-rank gain is taken as the smallest per-rank gain",)
    src = "tapenade-text (" + (str(paths[0]) if R == 1 else f"{R} files: {paths[0]} ...") + ")"
    an = combine_ranks(groups, data, time_basis="cpu", source=src, notes=notes)
    if Granularity(granularity) is Granularity.CALLEE:
        an = sum_by_callee(an)
    return an


def write_imported(path: str | os.PathLike, analysis: Analysis, files: Sequence[str | os.PathLike],
                   plan=None, command: str = "") -> None:
    """Write an imported per-site analysis as a profile-like HDF5 file (atomically).

    Root attributes as for a profile (``kind = profile``) plus
    ``source = "tapenade-text"`` and ``files``; ``/locations`` holds the sites,
    ``/summary/peak_bytes`` the ranks' peaks (times NaN: not recorded), no
    ``/events``; ``/analysis`` as written by
    :func:`~pyharness.analysis.profiles.write_analysis`.
    """
    from ..h5io import atomic_h5, str_array
    from .profiles import write_analysis
    g = analysis.groups
    if g.granularity is not Granularity.SITE:
        raise ValueError("write_imported stores the per-site analysis")
    attrs = {"source": "tapenade-text", "kernel": "", "params": "{}", "nranks": analysis.nranks,
             "command": command, "profiling": True,
             "files": json.dumps([str(f) for f in files])}
    with atomic_h5(path, "profile", attrs) as f:
        loc = f.create_group("locations")
        loc["name"] = str_array(g.names)
        loc["callee"] = str_array(g.callees)
        loc["file"] = str_array(g.files)
        loc["line"] = np.asarray(g.lines, dtype=np.int32)
        loc["is_site"] = np.ones(len(g), dtype=bool)
        cfg = f.create_group("config")
        cfg["inhibited"] = np.zeros(len(g), dtype=bool)
        cfg.attrs["snapshots"] = 0
        s = f.create_group("summary")
        s["peak_bytes"] = analysis.data.peak.astype(np.int64)
        s["wall_s"] = analysis.data.wall_s
        s["cpu_s"] = analysis.data.cpu_s
        write_analysis(f, analysis, plan)
