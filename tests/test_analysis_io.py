"""Across ranks, suggestions, printouts, profile.h5, Tapenade text import, lists, CLI.

Expected values are worked out in the tests (or by brute force with the
simulator), never copied from the code's output.
"""

from __future__ import annotations

import doctest
import importlib
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from pyharness.analysis import (Granularity, GroupTable, Locations, MemoryEffect, RankData,
                                analyze_events, analyze_profile, combine_ranks, format_table,
                                format_tapenade, select_under_budget, suggest, to_json)
from pyharness.analysis.config_files import check_names, read_name_list, write_name_list
from pyharness.analysis.ranks import spread, sum_by_callee
from pyharness.analysis.simulate import random_tree, simulate
from pyharness.analysis.tapenade import (expand_rank_files, import_tapenade, parse_tapenade_text)
from pyharness.analysis.units import parse_tapenade_bytes, resolve_budget
from pyharness.analyze import PROG, main
from pyharness.errors import UsageError
from pyharness.h5io import atomic_h5, str_array
from pyharness.mpiutil import run_cli

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------
# Helpers: a hand-made job of 2 ranks and 5 groups; profile files
# ---------------------------------------------------------------------------

def hand_analysis(inhibited=()):
    """2 ranks, 5 sites.  a: cost, b1/b2: gain / neutral (same callee b), c: cost, d: never run."""
    names = ["a@f.f90:1", "b@f.f90:2", "b@g.f90:3", "c@f.f90:4", "d@f.f90:5"]
    callees = ["a", "b", "b", "c", "d"]
    groups = GroupTable.from_locations(names, callees, [True] * 5, "site",
                                       files=["f.f90", "f.f90", "g.f90", "f.f90", "f.f90"],
                                       lines=[1, 2, 3, 4, 5])
    data = RankData(
        count=np.array([[2, 1, 1, 4, 0], [3, 1, 1, 4, 0]]),
        dt_wall_s=np.array([[1.0, 3.0, 0.2, 50.0, 0.0], [3.0, 0.5, 0.2, 40.0, 0.0]]),
        dt_cpu_s=np.array([[1.0, 2.0, 0.1, 45.0, 0.0], [3.0, 0.5, 0.1, 40.0, 0.0]]),
        dpk=np.array([[10, -20, 0, 100, 0], [30, 5, 20, 0, 0]]),
        peak=np.array([100, 80]), wall_s=np.array([10.0, 9.0]), cpu_s=np.array([8.0, 8.0]))
    return combine_ranks(groups, data, source="hand", inhibited_sites=inhibited)


LOC_NAMES = ["cg@a.f90:10", "halo@a.f90:20", "cg@b.f90:30", "adv@b.f90:40", "halo@c.f90:50",
             "visc@c.f90:60", "main@m.f90", "step@s.f90", "solve@v.f90", "misc@x.f90"]
LOC_CALLEES = ["cg", "halo", "cg", "adv", "halo", "visc", "main", "step", "solve", "misc"]
LOC_SITE = [True] * 6 + [False] * 4
LOCS = Locations(tuple(LOC_NAMES), tuple(LOC_CALLEES),
                 tuple(n.split("@")[1].split(":")[0] for n in LOC_NAMES),
                 tuple(int(n.split(":")[1]) if ":" in n else 0 for n in LOC_NAMES), tuple(LOC_SITE))


def write_profile(path, traces, inhibited=(), events=True):
    attrs = {"kernel": "sim", "params": "{}", "nranks": len(traces), "command": "test",
             "profiling": events}
    with atomic_h5(path, "profile", attrs) as f:
        g = f.create_group("locations")
        g["name"] = str_array(LOCS.names)
        g["callee"] = str_array(LOCS.callees)
        g["file"] = str_array(LOCS.files)
        g["line"] = np.array(LOCS.lines, dtype=np.int32)
        g["is_site"] = np.array(LOCS.is_site)
        c = f.create_group("config")
        c["inhibited"] = np.array([i in inhibited for i in range(len(LOC_NAMES))])
        c.attrs["snapshots"] = 0
        s = f.create_group("summary")
        s["wall_s"] = np.array([t.total_wall_ns * 1e-9 for t in traces])
        s["cpu_s"] = np.array([t.total_cpu_ns * 1e-9 for t in traces])
        s["peak_bytes"] = np.array([t.peak for t in traces], dtype=np.int64)
        if events:
            e = f.create_group("events")
            for r, t in enumerate(traces):
                gr = e.create_group(f"rank_{r:05d}")
                for k, a in zip(("kind", "loc", "wall_ns", "cpu_ns", "stack"), t.arrays):
                    gr[k] = a


def rank_trees(seed, nranks=2):
    """Per-rank trees (different work per rank) over sites 0-5, routines 6-9."""
    return [random_tree(random.Random(seed * 10 + r), nsites=6, max_time=5_000_000)
            for r in range(nranks)]


def cli(argv, capsys):
    code = run_cli(PROG, main, argv)
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------------------
# Across ranks
# ---------------------------------------------------------------------------

def test_combine_ranks_by_hand():
    an = hand_analysis()
    a, b1, b2, c, d = an.estimates
    # memory: max_r(Pk_r + dPk_r) - max_r Pk_r with peaks (100, 80)
    assert (a.new_peak, a.peak_change, a.effect) == (110, 10, MemoryEffect.COST)      # 110, 110
    assert (b1.new_peak, b1.peak_change, b1.effect) == (85, -15, MemoryEffect.GAIN)   # 80, 85
    assert (b2.peak_change, b2.effect) == (0, MemoryEffect.NEUTRAL)                  # 100, 100
    # time: max_r T_r - max_r(T_r - dT_r) with T = (10, 9) wall, (8, 8) CPU
    assert a.time_gain_wall_s == pytest.approx(10 - max(9, 6))
    assert b1.time_gain_wall_s == pytest.approx(10 - max(7, 8.5))
    assert a.time_gain_cpu_s == pytest.approx(8 - max(7, 5))
    assert c.time_gain_wall_s == pytest.approx(10 - max(-40, -31))
    assert a.count == 5 and d.count == 0
    assert (a.dt_wall.min, a.dt_wall.mean, a.dt_wall.max, a.dt_wall.imbalance) == (1, 2, 3, 1.5)
    assert an.peak == 100 and an.time_basis == "wall"
    assert an.wall_spread.imbalance == pytest.approx(10 / 9.5)


def test_callee_groups_ignore_case_and_skip_routines():
    g = GroupTable.from_locations(["CG@a:1", "x@a:2", "cg@b:3", "main@m"], ["CG", "x", "cg", "main"],
                                  [True, True, True, False], "callee")
    assert g.names == ("CG", "x") and g.key.tolist() == [0, 1, 0, -1]
    assert g.sites == (("CG@a:1", "cg@b:3"), ("x@a:2",))


def test_spread_edge_cases():
    assert spread([4, 4]).imbalance == 1.0
    assert spread([-2, 1]).imbalance is None
    assert math.isnan(spread([1, float("nan")]).max)


def test_job_estimates_match_brute_force_on_simulated_ranks():
    for seed in range(30):
        trees = rank_trees(seed, 3)
        traces = [simulate(t) for t in trees]
        for gran in ("site", "callee"):
            an = analyze_events([dict(zip(("kind", "loc", "wall_ns", "cpu_ns", "stack"), t.arrays))
                                 for t in traces], LOCS, gran,
                                wall_s=[t.total_wall_ns * 1e-9 for t in traces],
                                cpu_s=[t.total_cpu_ns * 1e-9 for t in traces])
            for e in an.estimates:
                sites = {LOC_NAMES.index(s) for s in e.sites}
                flipped = [simulate(t, sites) for t in trees]
                true_peak = max(f.peak for f in flipped) - max(t.peak for t in traces)
                assert e.peak_change == true_peak, (seed, gran, e.name)
                true_wall = (max(t.total_wall_ns for t in traces)
                             - max(f.total_wall_ns for f in flipped)) * 1e-9
                assert e.time_gain_wall_s == pytest.approx(true_wall, abs=1e-12), (seed, e.name)


def test_sum_by_callee_adds_times_and_counts():
    an = sum_by_callee(hand_analysis())
    b = an.estimate("b")
    assert b.count == 4 and b.sites == ("b@f.f90:2", "b@g.f90:3")
    # per-rank time gains add: (3.2, 0.7); T = (10, 9): 10 - max(6.8, 8.3)
    assert b.time_gain_wall_s == pytest.approx(1.7)
    assert "estimate" in an.notes[-1]


# ---------------------------------------------------------------------------
# Suggestions and the budget
# ---------------------------------------------------------------------------

def test_three_groups_and_orders():
    s = suggest(hand_analysis())
    assert [e.name for e in s.gain] == ["b@f.f90:2"]
    assert [e.name for e in s.neutral] == ["b@g.f90:3"]
    # costs by seconds per byte: c 41 s / 100 B (10 - max(-40, -31)), a 1 s / 10 B
    assert [e.name for e in s.cost] == ["c@f.f90:4", "a@f.f90:1"]
    assert "d@f.f90:5" not in [e.name for e in s]                  # never executed
    assert [e.name for e in suggest(hand_analysis(), exclude=["C"]).cost] == ["a@f.f90:1"]


def test_budget_greedy_by_hand():
    an = hand_analysis(inhibited=("e@h.f90:9",))
    # peaks (100, 80).  b1 raises rank 1 by 5 -> (100, 85); b2 by 20 -> (100, 105);
    # c raises rank 0 by 100 -> 200 > 115: skipped; a: (110, 135) > 115: skipped.
    plan = select_under_budget(an, 115)
    assert [e.name for e in plan.selected] == ["b@f.f90:2", "b@g.f90:3"]
    assert plan.rank_peaks == (100, 105) and plan.new_peak == 105
    # both sites of callee b selected, e already inhibited
    assert plan.nocheckpoint == ("b", "e") and plan.partial == ()
    assert plan.tapenade_option == '-nocheckpoint "b e"'
    # time gains add per rank: (3.2, 0.7) on T = (10, 9) -> 10 - max(6.8, 8.3)
    assert plan.time_gain_wall_s == pytest.approx(1.7)
    # a larger budget also takes a: (110, 135)
    plan = select_under_budget(an, 140)
    assert [e.name for e in plan.selected] == ["b@f.f90:2", "b@g.f90:3", "a@f.f90:1"]
    assert plan.nocheckpoint == ("a", "b", "e")
    assert not plan.over_budget and select_under_budget(an, 90).over_budget


def test_the_budget_list_follows_the_one_nocheckpoint_rule(monkeypatch):
    """analyze's proposed list is config.nocheckpoint_list's (the rule Configuration and
    report --nocheckpoint apply too), not a copy of it."""
    import pyharness.analysis.suggestions as suggestions
    from pyharness.config import nocheckpoint_list
    seen = []

    def spy(inhibited, sites_of):
        seen.append({c: sorted(s) for c, s in sites_of.items()})
        return nocheckpoint_list(inhibited, sites_of)

    monkeypatch.setattr(suggestions, "nocheckpoint_list", spy)
    plan = select_under_budget(hand_analysis(inhibited=("e@h.f90:9",)), 115)
    assert plan.nocheckpoint == ("b", "e") and len(seen) == 1
    assert seen[0]["b"] == ["b@f.f90:2", "b@g.f90:3"] and seen[0]["e"] == ["e@h.f90:9"]


def test_budget_partial_callee():
    an = hand_analysis()
    s = suggest(an, exclude=["b@g.f90:3"])
    plan = select_under_budget(an, 100, s)
    assert [e.name for e in plan.selected] == ["b@f.f90:2"]
    assert plan.nocheckpoint == () and plan.partial == ("b@f.f90:2",)


# ---------------------------------------------------------------------------
# Printouts
# ---------------------------------------------------------------------------

def test_table_is_aligned_with_units():
    an = hand_analysis()
    text = format_table(an, plan=select_under_budget(an, 140))
    lines = text.splitlines()
    assert "Peak memory gain" in text and "Peak memory neutral" in text and "Peak memory cost" in text
    i = lines.index("Peak memory cost (best time gained per byte first):")
    table = lines[i + 1:i + 4]
    assert table[0].split()[:3] == ["#", "site", "calls"]
    assert len({len(r) for r in table}) == 1                   # right-aligned columns line up
    # c: wall gains 50/40 on T = 10/9 -> 10 - max(-40, -31) = 41; CPU 45/40 on 8/8 -> 40
    assert "41.000 s" in table[1] and "40.000 s" in table[1] and "+100 B" in table[1]
    assert "-15 B" in text and "1.500 s" in text                # b1's memory gain and time gain
    assert '-nocheckpoint "a b"' in text


def test_human_memory_units():
    groups = GroupTable.from_locations(["x@f:1"], ["x"], [True])
    data = RankData(np.array([[1]]), np.array([[1.23456]]), np.array([[1.0]]),
                    np.array([[3 * 2**20 // 2]]), np.array([5 * 2**30]), np.array([20.0]),
                    np.array([20.0]))
    text = format_table(combine_ranks(groups, data))
    assert "+1.50 MiB" in text and "5.00 GiB" in text and "1.235 s" in text


def test_gains_below_a_millisecond_are_not_printed_as_zero():
    # a small case's sites gain fractions of a millisecond (streamice demo: most of its 30
    # sites): printed to the millisecond they all read 0.000 s, ranked by a gain not shown
    groups = GroupTable.from_locations(["x@f:1"], ["x"], [True])
    data = RankData(np.array([[1]]), np.array([[0.000345]]), np.array([[0.0000123]]),
                    np.array([[0]]), np.array([2**20]), np.array([0.0123]), np.array([0.0123]))
    text = format_table(combine_ranks(groups, data))
    assert "0.000345 s" in text and "0.0000123 s" in text and "0.0123 s" in text, text
    assert "0.000 s" not in text, text


def test_json_is_strict_and_complete():
    an = hand_analysis()
    d = json.loads(json.dumps(to_json(an, plan=select_under_budget(an, 115)), allow_nan=False))
    assert d["nranks"] == 2 and d["ranks"]["peak_bytes"] == [100, 80]
    assert [e["name"] for e in d["suggestions"]["cost"]] == ["c@f.f90:4", "a@f.f90:1"]
    c = d["suggestions"]["cost"][0]
    assert c["peak_change_bytes"] == 100 and c["seconds_per_byte"] == pytest.approx(0.41)
    assert c["per_rank"]["dt_wall_s"] == {"min": 40, "mean": 45, "max": 50,
                                          "imbalance": pytest.approx(50 / 45)}
    assert d["budget"]["nocheckpoint"] == ["b"]


def test_tapenade_text_round_trip():
    an = hand_analysis()
    text = format_tapenade(an)
    assert text.splitlines()[:3] == ["PEAK STACK:100 bytes", "SUGGESTED NOCHECKPOINTs:",
                                     " * Peak memory gain:"]
    t = parse_tapenade_text(text, "x.txt")
    assert t.peak == 100
    rows = {r.name: r for r in t.rows}
    assert set(rows) == {"a@f.f90:1", "b@f.f90:2", "b@g.f90:3", "c@f.f90:4"}
    assert (rows["b@f.f90:2"].dpk, rows["b@f.f90:2"].time_s, rows["b@f.f90:2"].section) == (-15, 1.5, "gain")
    assert (rows["c@f.f90:4"].dpk, rows["c@f.f90:4"].count) == (100, 8)
    assert rows["a@f.f90:1"].time_s == 1.0 and rows["b@g.f90:3"].dpk == 0


# ---------------------------------------------------------------------------
# Tapenade's own text files
# ---------------------------------------------------------------------------

TAPENADE_0 = """PEAK STACK:923000000 bytes
SUGGESTED NOCHECKPOINTs:
 * Peak memory gain:
  - Time gain -12.345 s. and peak memory gain -865000b for call dynamics (720 times), at location#7: line 311 of file forward_step.f
 * Peak memory neutral:
  - Time gain - 3.000 s. at peak memory cost zero for call do_oceanic_phys (720 times), at location#9: line 420 of file forward_step.f
 * Peak memory cost:
  - Time gain -45.000 s. at peak memory cost    1.500000 Mb for call thermodynamics (720 times), at location#3: line 200 of file forward_step.f
  - Time gain - 0.250 s. at peak memory cost 12 Kb for checkpoint (5 times) starting at location#12: line 50 of file cg2d.f
"""

TAPENADE_1 = """PEAK STACK:925000000 bytes
SUGGESTED NOCHECKPOINTs:
 * Peak memory gain:
  - Time gain -10.000 s. and peak memory gain 1000b for call dynamics (720 times), at location#7: line 311 of file forward_step.f
 * Peak memory neutral:
 * Peak memory cost:
  - Time gain -50.000 s. at peak memory cost    0.500000 Mb for call thermodynamics (720 times), at location#3: line 200 of file forward_step.f
"""


def test_parse_tapenade_lines():
    t = parse_tapenade_text(TAPENADE_0, "p.0.txt")
    assert t.peak == 923_000_000
    got = [(r.name, r.callee, r.time_s, r.dpk, r.count, r.location, r.section) for r in t.rows]
    assert got == [
        ("dynamics@forward_step.f:311", "dynamics", 12.345, -865_000, 720, 7, "gain"),
        ("do_oceanic_phys@forward_step.f:420", "do_oceanic_phys", 3.0, 0, 720, 9, "neutral"),
        ("thermodynamics@forward_step.f:200", "thermodynamics", 45.0, 1_500_000, 720, 3, "cost"),
        ("checkpoint@cg2d.f:50", "", 0.25, 12_000, 5, 12, "cost")]
    # a gain printed without its minus sign is still a decrease
    assert parse_tapenade_text(TAPENADE_1, "p.1.txt").rows[0].dpk == -1000


@pytest.mark.parametrize("text, where, what", [
    ("PEAK STACK:10\n  - Time gain -1.000 s. at peak memory cost 1.5 parsecs for call x (1 times), "
     "at location#1: line 1 of file f\n", "bad.txt:2:", "cannot parse line"),
    ("SUGGESTED NOCHECKPOINTs:\n", "bad.txt:", "no 'PEAK STACK:' line"),
    ("PEAK STACK:10\nhello\n", "bad.txt:2:", "cannot parse line 'hello'"),
    ("PEAK STACK:10\nPEAK STACK:11\n", "bad.txt:2:", "second 'PEAK STACK:'"),
    (TAPENADE_1 + TAPENADE_1.splitlines()[3] + "\n", "bad.txt:8:", "listed twice (first at line 4)"),
])
def test_parse_tapenade_errors(text, where, what):
    with pytest.raises(UsageError) as info:
        parse_tapenade_text(text, "bad.txt")
    assert str(info.value).startswith(where) and what in str(info.value)


def test_import_tapenade_merges_ranks(tmp_path):
    (tmp_path / "tp.10.txt").write_text(TAPENADE_1)        # rank 1 (10 > 2)
    (tmp_path / "tp.2.txt").write_text(TAPENADE_0)         # rank 0
    files = expand_rank_files([str(tmp_path / "tp.*.txt")])
    assert [f.name for f in files] == ["tp.2.txt", "tp.10.txt"]
    an = import_tapenade(files)
    assert an.nranks == 2 and an.peak == 925_000_000 and an.time_basis == "cpu"
    th = an.estimate("thermodynamics@forward_step.f:200")
    # max(923e6 + 1.5e6, 925e6 + 0.5e6) - 925e6
    assert th.peak_change == 500_000
    # totals unknown: equal ranks, slowest-rank gain = smallest per-rank gain
    assert th.time_gain_cpu_s == 45.0 and math.isnan(th.time_gain_wall_s)
    dyn = an.estimate("dynamics@forward_step.f:311")
    assert dyn.peak_change == max(923_000_000 - 865_000, 925_000_000 - 1000) - 925_000_000
    # absent from rank 1: no gain there -> smallest gain 0; peak as rank 0's change allows
    phys = an.estimate("do_oceanic_phys@forward_step.f:420")
    assert phys.time_gain_cpu_s == 0.0 and phys.count == 720
    callee = import_tapenade(files, "callee")
    assert callee.groups.granularity is Granularity.CALLEE and "checkpoint" not in callee.groups.names


def test_cli_from_tapenade_writes_an_importable_file(tmp_path, capsys):
    (tmp_path / "tapenade_profile.0000.txt").write_text(TAPENADE_0)
    (tmp_path / "tapenade_profile.0001.txt").write_text(TAPENADE_1)
    out = tmp_path / "imported.h5"
    lst = tmp_path / "list.txt"
    code, text, err = cli(["--from-tapenade", str(tmp_path / "tapenade_profile.*.txt"),
                           "--out", str(out), "--budget", "926.5MB", "--write-list", str(lst)],
                          capsys)
    assert code == 0, err
    # budget 926.5e6 per rank, peaks (923e6, 925e6): dynamics lowers both ranks, phys and
    # the anonymous checkpoint (+12 kB on rank 0 only) change nothing above 925e6;
    # thermodynamics raises the ranks to (924.512e6 with the checkpoint, 925.5e6): fits
    assert '-nocheckpoint "do_oceanic_phys dynamics thermodynamics"' in text
    assert read_name_list(lst) == ("do_oceanic_phys", "dynamics", "thermodynamics")
    with h5py.File(out) as f:
        assert f.attrs["source"] == "tapenade-text" and f.attrs["kind"] == "profile"
        assert f["analysis"]["dpk_bytes"].shape == (2, 4)
        assert list(f["summary"]["peak_bytes"][()]) == [923_000_000, 925_000_000]
        assert not any(n.endswith(".tmp") or ".tmp." in n for n in os.listdir(tmp_path))
    back = analyze_profile(out)
    assert back.estimate("thermodynamics@forward_step.f:200").peak_change == 500_000
    code, text, err = cli([str(out), "--granularity", "callee", "--json"], capsys)
    assert code == 0 and json.loads(text)["granularity"] == "callee"


def test_cli_from_tapenade_malformed(tmp_path, capsys):
    bad = tmp_path / "tp.0.txt"
    bad.write_text(TAPENADE_0.replace("for call dynamics", "for cal dynamics"))
    code, _, err = cli(["--from-tapenade", str(bad)], capsys)
    assert code == 2
    assert err.strip() == (f"{PROG}: error: {bad}:4: cannot parse line "
                           f"'{TAPENADE_0.splitlines()[3].strip().replace('call dyn', 'cal dyn')}' "
                           "(expected '- Time gain ... for call NAME (N times), at location#K: "
                           "line L of file F')")
    code, _, err = cli(["--from-tapenade", str(tmp_path / "none.*.txt")], capsys)
    assert code == 2 and "no file matches" in err


# ---------------------------------------------------------------------------
# Sizes and name lists
# ---------------------------------------------------------------------------

def test_budget_sizes():
    assert resolve_budget("512MiB", 1) == 512 * 2**20
    assert resolve_budget("1.5GB", 1) == 1_500_000_000
    assert resolve_budget("1000000", 1) == 1_000_000
    assert resolve_budget("1.5x", 1000) == 1500
    for bad in ("12qq", "-1x", "infx", ""):
        with pytest.raises(UsageError) as info:
            resolve_budget(bad, 1000)
        assert str(info.value) == (f"budget '{bad}' is not a size: use bytes with a unit like "
                                   "512MiB, or a factor like 1.5x")
    # a unitless fraction was taken as bytes (--budget 1.5: 2 B, refused only after the
    # start's run as below every peak): a factor without its x
    assert resolve_budget("1.5e6", 1) == 1_500_000
    for bad in ("1.5", "0.8B"):
        with pytest.raises(UsageError) as info:
            resolve_budget(bad, 1000)
        assert f"write {bad.rstrip('B')}x" in str(info.value)
    assert parse_tapenade_bytes("1.500000", "Mb") == 1_500_000
    assert parse_tapenade_bytes("-865000", "b") == -865_000
    assert parse_tapenade_bytes("2", "KiB") == 2048


def test_name_lists(tmp_path):
    p = tmp_path / "nocheckpoint.txt"
    p.write_text("# callees to inhibit\nCG   # the solver\n\nhalo\ncg\n")
    assert read_name_list(p) == ("cg", "halo")
    write_name_list(tmp_path / "out.txt", ["Halo", "CG"], header="two\nlines")
    assert (tmp_path / "out.txt").read_text() == "# two\n# lines\nhalo\ncg\n"
    assert read_name_list(tmp_path / "out.txt") == ("halo", "cg")
    p.write_text("cg\nhalo visc\n")
    with pytest.raises(UsageError, match=r"nocheckpoint.txt:2: one name per line"):
        read_name_list(p)
    with pytest.raises(UsageError, match="cannot read name list"):
        read_name_list(tmp_path / "missing.txt")


def test_unknown_names_are_errors():
    check_names(["cg", "HALO@A.F90:20"], LOC_NAMES, LOC_CALLEES)
    with pytest.raises(UsageError) as info:
        check_names(["cg", "cgg", "nothing"], LOC_NAMES[:6], LOC_CALLEES[:6], source="l.txt")
    msg = str(info.value)
    assert "unknown name(s) in l.txt: 'cgg', 'nothing'" in msg
    assert "Known callees include: adv, cg, halo, visc" in msg
    assert "'cgg': did you mean cg?" in msg


# ---------------------------------------------------------------------------
# profile.h5 and the command line
# ---------------------------------------------------------------------------

def test_analyze_profile_matches_events_in_memory(tmp_path):
    trees = rank_trees(3)
    traces = [simulate(t, {4}) for t in trees]
    path = tmp_path / "profile.h5"
    write_profile(path, traces, inhibited={4})
    for gran in ("site", "callee"):
        a = analyze_profile(path, gran)
        b = analyze_events([dict(zip(("kind", "loc", "wall_ns", "cpu_ns", "stack"), t.arrays))
                            for t in traces], LOCS, gran,
                           wall_s=[t.total_wall_ns * 1e-9 for t in traces],
                           cpu_s=[t.total_cpu_ns * 1e-9 for t in traces])
        ref = analyze_profile(path, gran, method="reference")
        for x in (b, ref):
            for f in ("count", "dpk", "peak", "dt_wall_s", "dt_cpu_s", "wall_s"):
                np.testing.assert_array_equal(getattr(a.data, f), getattr(x.data, f))
        assert a.inhibited_sites == ("halo@c.f90:50",)
        assert a.peak == max(t.peak for t in traces)
    # site 4 (halo@c) is inhibited: no instances, never suggested
    assert analyze_profile(path).estimate("halo@c.f90:50").count == 0


def test_cli_on_a_profile(tmp_path, capsys):
    path = tmp_path / "profile.h5"
    traces = [simulate(t) for t in rank_trees(4)]
    write_profile(path, traces)
    code, text, err = cli([str(path)], capsys)
    assert code == 0, err
    assert "2 rank(s), per site" in text and "SUGGESTED NOCHECKPOINTs" in text
    code, text, _ = cli([str(path), "--granularity", "callee", "--json"], capsys)
    d = json.loads(text)
    names = {e["name"] for grp in d["suggestions"].values() for e in grp}
    assert d["granularity"] == "callee" and names <= {"cg", "halo", "adv", "visc"}
    code, text, _ = cli([str(path), "--tapenade"], capsys)
    assert text.startswith("PEAK STACK:")
    lst = tmp_path / "l.txt"
    code, text, err = cli([str(path), "--granularity", "callee", "--budget", "1.0x",
                           "--write-list", str(lst)], capsys)
    assert code == 0, err
    assert lst.exists() and "Under a per-rank budget of" in text
    fitting = lst.read_text()
    assert "DOES NOT FIT" not in fitting
    # 100 bytes: below every rank's peak (751 B here), and no inhibition lowers it: the
    # plan is printed, then the command fails (a script must be able to tell), with no
    # list written (the one of the fitting run above stays as it was)
    peak = max(t.peak for t in traces)
    code, text, err = cli([str(path), "--budget", "100", "--write-list", str(lst)], capsys)
    assert code == 2
    assert "DOES NOT FIT" in text
    note, error = err.splitlines()          # no cost model of this simulated profile: said
    assert note.startswith("note: no cost model of")
    assert error.startswith(f"{PROG}: error: the proposed list does not fit the budget of 100 B "
                            f"(100 bytes) per rank: its estimated peak is")
    assert f"({peak} bytes)" in error and f"no list written to {lst}" in error
    assert lst.read_text() == fitting


def test_a_budget_below_every_reachable_peak_fails_with_the_lowest_predicted_peak(tmp_path, capsys):
    """analyze --budget exited 0 with a proposal above the budget (only the printout said
    DOES NOT FIT): a script could not tell. Now it fails as optimize does, exit status 2
    with the lowest predicted peak, here of a real run's profile (its cost model exists).
    The expected lowest peak comes from an exhaustive search over the model, not the
    MILP that analyze asks. At that lowest peak some configuration fits: analyze
    either proposes one that fits (exit 0) or fails pointing to optimize."""
    from phtest import mpirun
    from pyharness.model import CostModel
    from pyharness.model.milp import lowest_peak
    prof = tmp_path / "profile.h5"
    mpirun(1, ["-m", "pyharness.profile", "--kernel", "calltree", "--param", "shape=random",
               "--param", "nsites=9", "--param", "seed=11", "--param", "m=64", "--out", str(prof)],
           cwd=tmp_path, check=True)
    low = lowest_peak(CostModel.from_profile(prof), "site", method="exhaustive").peak
    code, text, err = cli([str(prof), "--budget", str(low - 1)], capsys)
    assert code == 2 and "DOES NOT FIT" in text and err.count("\n") == 1
    assert (f"no configuration fits: the lowest predicted peak is" in err
            and f"({low} bytes, on rank 0)" in err and f"Give a budget of at least {low} bytes" in err)
    code, text, err = cli([str(prof), "--budget", str(low)], capsys)
    assert (code == 0 and "DOES NOT FIT" not in text) or \
        (code == 2 and f"python -m pyharness.optimize {prof} --budget {low}" in err), err


def test_cli_keep_list(tmp_path, capsys):
    path = tmp_path / "profile.h5"
    write_profile(path, [simulate(t) for t in rank_trees(5)])
    keep = tmp_path / "keep.txt"
    keep.write_text("cg\n")
    code, text, _ = cli([str(path), "--keep", str(keep), "--json"], capsys)
    names = {e["name"] for grp in json.loads(text)["suggestions"].values() for e in grp}
    assert code == 0 and names and not any(n.startswith("cg@") for n in names)
    keep.write_text("cgg\n")
    code, _, err = cli([str(path), "--keep", str(keep)], capsys)
    assert code == 2 and "unknown name(s)" in err and "did you mean cg" in err


@pytest.mark.parametrize("args, message", [
    (["--budget", "12qq"], "budget '12qq' is not a size"),
    (["--write-list", "x.txt"], "--write-list needs --budget"),
    (["--out", "x.h5"], "--out is for --from-tapenade"),
    (["--top", "0"], "--top must be at least 1"),
])
def test_cli_usage_errors(tmp_path, capsys, args, message):
    path = tmp_path / "profile.h5"
    write_profile(path, [simulate(t) for t in rank_trees(6, 1)])
    code, out, err = cli([str(path)] + args, capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"{PROG}: error: ") and message in err and err.count("\n") == 1


def test_cli_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["p.h5", "--granularity", "file"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "invalid choice: 'file'" in err
    code, _, err = cli([], capsys)
    assert code == 2 and "give either a profile file or --from-tapenade" in err


def test_cli_bad_files(tmp_path, capsys):
    code, _, err = cli([str(tmp_path / "missing.h5")], capsys)
    assert code == 2 and "does not exist" in err
    noev = tmp_path / "noev.h5"
    write_profile(noev, [simulate(t) for t in rank_trees(7, 1)], events=False)
    code, _, err = cli([str(noev)], capsys)
    assert code == 2 and "has no events" in err and "--no-profiling" in err
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    code, _, err = cli([str(other)], capsys)
    assert code == 2 and "not a pyharness file" in err


def test_cli_not_well_nested_trace_exits_2_without_traceback(tmp_path):
    traces = [simulate(t) for t in rank_trees(8)]
    path = tmp_path / "profile.h5"
    write_profile(path, traces)
    with h5py.File(path, "r+") as f:                 # drop rank 1's last ENDREVERSE
        g = f["events"]["rank_00001"]
        last = int(np.flatnonzero(g["kind"][()] == 6)[-1])
        for k in ("kind", "loc", "wall_ns", "cpu_ns", "stack"):
            a = np.delete(g[k][()], last)
            del g[k]
            g[k] = a
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "pyharness.analyze", str(path)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1
    assert "rank 1: trace is not well nested: the trace ends inside the checkpoint level" in p.stderr


@pytest.mark.parametrize("module", ["merge", "simulate", "ranks", "units", "config_files",
                                    "tapenade", "profiles"])
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = doctest.testmod(importlib.import_module(f"pyharness.analysis.{module}"))
    assert res.failed == 0 and res.attempted > 0


def test_a_plan_above_the_budget_says_so_and_what_to_do():
    """Budget 50 is below both ranks' peaks (100, 80) and below every peak the hand job's
    inhibitions reach: the plan says it does not fit; 'activate checkpoints' only when
    the profiled run inhibited some, otherwise 'raise the budget'. Within the budget
    (140) nothing of that is said."""
    an = hand_analysis()
    text = format_table(an, plan=select_under_budget(an, 50))
    assert "DOES NOT FIT" in text and "raise the budget" in text and "activate" not in text
    an = hand_analysis(inhibited=("e@h.f90:9",))
    text = format_table(an, plan=select_under_budget(an, 50))
    assert "DOES NOT FIT" in text and "activate some of the 1 checkpoint(s)" in text
    assert "DOES NOT FIT" not in format_table(an, plan=select_under_budget(an, 140))


def test_unknown_names_are_listed_five_at_most():
    """A configuration of another kernel names nothing of this one: the refusal shows the
    first five unknown names and how many more, not all of them (29 for streamice's plan
    given to biogeo: a 2 KB line)."""
    from pyharness.config import Configuration, SiteTable
    table = SiteTable(("cg@a.f90:1", "halo@a.f90:2", "main@m.f90"), ("cg", "halo", "main"),
                      (True, True, False))
    names = [f"other{i}@x.f90:{i}" for i in range(12)]
    with pytest.raises(UsageError) as info:
        Configuration.from_names(table, names, source="plan.config.json")
    msg = str(info.value)
    assert "'other4@x.f90:4'" in msg and "other5@" not in msg and "and 7 more" in msg
    assert "in plan.config.json" in msg and "Known callees: cg, halo." in msg


def test_a_configuration_of_another_kernel_is_said_to_be_one(tmp_path):
    """plan.config.json records its kernel: given to another kernel, none of its names is
    a site there, and the refusal says whose configuration it is. One name of this
    kernel among them is the usual unknown-name error."""
    from pyharness.config import SiteTable, read_config_file
    table = SiteTable(("cg@a.f90:1", "halo@a.f90:2", "main@m.f90"), ("cg", "halo", "main"),
                      (True, True, False))
    plan = tmp_path / "plan.config.json"
    plan.write_text(json.dumps({"inhibited": ["advect@streamice_main.f90:44", "xpay"],
                                "snapshots": 0, "kernel": "streamice"}))
    with pytest.raises(UsageError, match="configuration of kernel 'streamice'"):
        read_config_file(plan, table)
    plan.write_text(json.dumps({"inhibited": ["cg", "xpay"], "kernel": "streamice"}))
    with pytest.raises(UsageError, match=r"unknown site or callee name\(s\) in .*'xpay'"):
        read_config_file(plan, table)
    plan.write_text(json.dumps({"inhibited": ["CG", "halo@a.f90:2"], "kernel": "mine"}))
    assert read_config_file(plan, table).inhibited
