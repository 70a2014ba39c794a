"""One vocabulary: the Enums every layer compares, the strings old files hold,
and the options with one meaning in every tool."""

import subprocess
import sys

import pytest

from pyharness.cli_common import parse_snapshots
from pyharness.errors import UsageError
from pyharness.kernels import get_kernel, kernel_names
from pyharness.vocabulary import Decision, Granularity, MemoryEffect, Phase


def test_values_are_the_strings_of_earlier_files():
    # tune.h5 and profile analyses written before the Enums hold these strings
    assert [d.value for d in Decision] == ["start", "accepted", "rejected", "failed"]
    # and the phase tune --method optimal adds
    assert [p.value for p in Phase] == ["start", "inhibit", "activate", "lower", "optimal"]
    assert [g.value for g in MemoryEffect] == ["gain", "neutral", "cost"]
    assert [g.value for g in Granularity] == ["site", "callee"]
    assert Decision("accepted") is Decision.ACCEPTED and Phase("lower") is Phase.LOWER


def test_groups_by_sign_of_the_peak_change():
    assert MemoryEffect.of(-1) is MemoryEffect.GAIN and MemoryEffect.GAIN.label == "lowers-peak"
    assert MemoryEffect.of(0) is MemoryEffect.NEUTRAL and MemoryEffect.NEUTRAL.label == "memory-neutral"
    assert MemoryEffect.of(8) is MemoryEffect.COST and MemoryEffect.COST.label == "memory-cost"
    assert [d for d in Decision if d.kept] == [Decision.START, Decision.ACCEPTED]
    assert [p for p in Phase if p.lowers_peak] == [Phase.ACTIVATE, Phase.LOWER]


def test_one_granularity():
    import pyharness.analysis as analysis
    import pyharness.tuner.loop as loop
    assert analysis.Granularity is Granularity
    assert not hasattr(loop, "Granularity") or loop.Granularity is Granularity


def test_snapshots_one_count_or_several_where_allowed():
    assert parse_snapshots("3") == [3]
    assert parse_snapshots("0,2,4", several=True) == [0, 2, 4]
    for bad in ("-1", "x", ""):
        with pytest.raises(UsageError, match="--snapshots"):
            parse_snapshots(bad)
    with pytest.raises(UsageError, match="one count K >= 0"):
        parse_snapshots("0,2")          # a profile runs one count
    with pytest.raises(UsageError, match="0,2,4"):
        parse_snapshots("2,2", several=True)


@pytest.mark.parametrize("tool", ["profile", "tune", "explore"])
def test_every_tool_names_the_configuration_and_every_size_alike(tool, tmp_path):
    out = subprocess.run([sys.executable, "-m", f"pyharness.{tool}", "--help"], capture_output=True,
                         text=True, cwd=tmp_path, check=True).stdout
    assert "--config FILE" in out and "--snapshots K" in out
    text = " ".join(out.split())
    for name in kernel_names():
        for size in get_kernel(name).sizes:
            assert size in text, (tool, name, size)
    if tool == "tune":
        assert "--start" in out          # the older name still works
