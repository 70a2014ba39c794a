"""Control bits (PUSHCONTROLnB, PUSHBOOLEAN) and exact peaks.

adStack.c packs control bits 32 to a 4-byte word and counts only full words, so
a callee's bytes depend on the bit alignment at which it starts: inhibiting one
site moves the alignment of everything after it. The runtime records the control
bits on the stack at every event, and the model carries (bytes, bits) pairs.

"Measured" is a real run: an exhaustive pyharness.explore of calltree trees whose
nodes push one control bit per work sweep ("branch": true), at 2 ranks.
"""

from __future__ import annotations

import ctypes
import json

import h5py
import numpy as np
import pytest

from phtest import mpirun
from pyharness import runtime
from pyharness.config import Configuration
from pyharness.kernels.calltree import generate
from pyharness.model import CostModel, reduce_rank
from pyharness.model.milp import BudgetError, lowest_peak, optimize
from pyharness.model.structure import stack_bytes

# the lead's reproduction: inhibiting heavy shifts light's bits by 46 per call
LEAD_TREE = {"m": 4, "nodes": [
    {"name": "root", "work": 1, "children": [{"node": "heavy", "loop": 3}, {"node": "light", "loop": 2}]},
    {"name": "heavy", "work": 7, "branch": True, "children": [{"node": "inner", "loop": 3}]},
    {"name": "inner", "work": 13, "branch": True},
    {"name": "light", "work": 5, "branch": True}]}


def _branchy_tree(seed: int, nsites: int = 4) -> dict:
    """A random tree whose nodes mostly branch, with work counts that leave the bit
    word at many alignments (one bit per work sweep)."""
    desc = generate("random", nsites, seed, m=8)
    rng = np.random.default_rng(1000 + seed)
    for nd in desc["nodes"]:
        nd["branch"] = bool(rng.random() < 0.8)
        nd["work"] = int(rng.integers(1, 24))
        nd["comm"] = False
    return desc


TREES = [("lead", LEAD_TREE)] + [(f"seed{s}", _branchy_tree(s)) for s in (1, 2, 3, 5)]


@pytest.fixture(scope="module", params=TREES, ids=lambda t: t[0])
def explored(request, tmp_path_factory):
    """(model from the all-checkpointed profile, {inhibited sites: measured peaks})."""
    tmp = tmp_path_factory.mktemp("ctlbits")
    tree = tmp / "tree.json"
    tree.write_text(json.dumps(request.param[1]))
    out = tmp / "all.h5"
    mpirun(2, ["-m", "pyharness.explore", "--kernel", "calltree", "--param", f"tree={tree}",
               "--exhaustive", "--out", str(out)], cwd=tmp, check=True, timeout=600)
    measured = {}
    prof = None
    with h5py.File(out) as f:
        sites = [s.decode() if isinstance(s, bytes) else str(s) for s in f["sites"][()]]
        assert len(sites) <= 4
        for k in f["samples"]:
            g = f["samples"][k]
            inh = frozenset(json.loads(g.attrs["inhibited"]))
            measured[inh] = g["peak_bytes"][()]
            if not inh:
                prof = tmp / "all.h5.profiles" / f"sample_{int(k):06d}.h5"
    assert len(measured) == 2 ** len(sites)
    return CostModel.from_profile(prof), measured


def test_every_predicted_peak_equals_the_measured_one_to_the_byte(explored):
    m, measured = explored
    assert m.has_control_bits
    for inh, got in measured.items():
        p = m.predict(Configuration(inh))
        assert p.exact, p.reasons
        assert list(p.peak_by_rank) == list(got), sorted(inh)


def test_control_bits_change_the_peak_with_the_alignment(explored):
    """Without the bits (every control word counted as bytes of its callee) some
    predictions would be wrong: the test trees do exercise the alignment."""
    m, measured = explored
    if len(measured) < 8:
        pytest.skip("too few configurations")
    with h5py.File(m.path) as f:
        ev = [dict((k, f["events"][g][k][()]) for k in f["events"][g]) for g in sorted(f["events"])]
    assert any(np.any(e["ctl_bits"] % 32) for e in ev)


def test_single_flip_peak_changes_of_analyze_are_the_measured_ones(explored):
    """analyze's per-site ΔPk (Tapenade's profiler, made exact) with control bits: each
    single flip's new peak equals the measured peak of that configuration."""
    from pyharness.analysis.profiles import analyze_profile
    m, measured = explored
    an = analyze_profile(m.path)
    start = measured[frozenset()]
    for g, est in enumerate(an.estimates):
        got = measured[frozenset(est.sites)]
        assert list(an.data.dpk[:, g]) == [int(a - b) for a, b in zip(got, start)], est.name
        assert est.new_peak == int(max(got))


def test_lowest_peak_is_the_lowest_measured(explored):
    m, measured = explored
    assert lowest_peak(m).peak == min(int(max(v)) for v in measured.values())


@pytest.mark.parametrize("granularity", ["site", "callee"])
def test_the_optimum_never_exceeds_the_budget_when_measured(explored, granularity):
    m, measured = explored
    peaks = sorted({int(max(v)) for v in measured.values()})
    budgets = sorted({b + d for b in peaks for d in (-4, -1, 0, 1, 3)} | {peaks[0] - 100})
    for budget in budgets:
        fits = [inh for inh, v in measured.items() if max(v) <= budget]
        try:
            plan = optimize(m, budget, granularity)
        except BudgetError:
            if granularity == "site":
                assert not fits, f"budget {budget}: {sorted(map(sorted, fits))} fit"
            continue
        got = measured[frozenset(plan.config.inhibited)]
        assert max(got) <= budget
        assert list(plan.peak_by_rank) == list(got)
        ex = optimize(m, budget, granularity, method="exhaustive")
        # the exact optimum over the model (its peaks are the measured ones)
        assert plan.predicted_time <= ex.predicted_time * (1 + 2e-6) + 1e-12
        assert plan.status == "optimal", plan.status_text()


def test_stack_bytes_count_whole_words_only():
    assert stack_bytes((0, 31)) == 0 and stack_bytes((0, 32)) == 4
    assert stack_bytes((8, 1), 31) == 12 and stack_bytes((8, 1), 30) == 8


def test_reduce_rank_splits_bytes_and_bits():
    """A callee pushing 40 bits (one word + 8 in the word) at base alignment 0:
    its tape is (0 bytes, 40 bits), 4 stack bytes here, 8 from an alignment >= 24."""
    names = ["r@x.f:0", "a@r.f:1"]
    # SNPWRITE, BEGINADVANCE, ENDADVANCE, SNPREAD, BEGINREVERSE, TURN, ENDREVERSE
    kind = [1, 2, 3, 4, 5, 7, 6]
    loc = [1, 1, 1, 1, 1, 0, 1]
    stack = [0, 8, 8, 8, 0, 4, 0]
    ctl = [0, 0, 0, 0, 0, 40, 0]
    rm = reduce_rank(kind, loc, np.arange(7), stack, names, ctl_bits=ctl)
    leaf = rm.nodes[0]                         # children are interned first
    assert leaf.tape == (-1, (0, 40)) and rm.root == 1
    assert rm.snap[1] == 8 and rm.snap_bits[1] == 0


def _lib():
    from pyharness import _phapi
    lib = ctypes.CDLL(_phapi.__file__)
    lib.ph_stack_ctlbits.restype = ctypes.c_int64
    lib.ph_stack_current.restype = ctypes.c_int64
    return lib


def test_runtime_counts_the_control_bits_on_the_stack():
    """32 per word on the stack plus those in the word, through pushes, pops and a
    repeat section; the bytes keep adStack.c's accounting."""
    runtime.api()
    lib = _lib()
    lib.ph_stack_reset()
    c = ctypes.c_int(1)
    r = ctypes.c_double(0.5)
    bits = 0
    for k in range(70):                        # 70 one-bit controls, reals between
        lib.pushcontrol1b_(ctypes.byref(c))
        bits += 1
        if k % 9 == 0:
            lib.pushreal8_(ctypes.byref(r))
        assert lib.ph_stack_ctlbits() == bits
    reals = 8 * len(range(0, 70, 9))
    assert lib.ph_stack_current() == reals + 4 * (70 // 32)
    for _ in range(3):
        lib.pushcontrol3b_(ctypes.byref(c))
    assert lib.ph_stack_ctlbits() == 79
    lib.adStack_startRepeat()
    for _ in range(20):
        lib.pushcontrol2b_(ctypes.byref(c))
    assert lib.ph_stack_ctlbits() == 119
    lib.adStack_resetRepeat()
    assert lib.ph_stack_ctlbits() == 79
    lib.adStack_endRepeat()
    out = ctypes.c_int(0)
    for _ in range(3):
        lib.popcontrol3b_(ctypes.byref(out))
    bits = 70
    for k in reversed(range(70)):
        if k % 9 == 0:
            lib.popreal8_(ctypes.byref(r))
        lib.popcontrol1b_(ctypes.byref(out))
        bits -= 1
        assert lib.ph_stack_ctlbits() == bits
    assert lib.ph_stack_current() == 0
    lib.ph_stack_reset()
    assert lib.ph_stack_ctlbits() == 0


def _as_version_1(src, dst):
    """The same trace as format version 1 wrote it: no control bits."""
    import struct
    from pyharness.ingest import read_trace
    t = read_trace(src)
    data = bytearray(src.read_bytes())
    n = len(t.kind)
    tail = 16 + 8 * n                       # the control bits, the end marker, the length
    body = data[:len(data) - tail] + data[len(data) - 16:len(data) - 8]
    struct.pack_into("<i", body, 8, 1)
    dst.write_bytes(bytes(body) + struct.pack("<q", len(body) + 8))


def test_traces_carry_the_control_bits_and_version_1_is_still_read(tmp_path):
    """A branchy adjoint profiled through PYHARNESS_PROFILE (the path of a Tapenade
    program): ingest gives the same events, control bits included, and the same
    exact peaks; a version-1 trace is read without them and says so."""
    from pyharness.ingest import ingest, read_trace
    tree = tmp_path / "tree.json"
    tree.write_text(json.dumps(LEAD_TREE))
    mpirun(2, ["-m", "pyharness.profile", "--kernel", "calltree", "--param", f"tree={tree}",
               "--out", str(tmp_path / "prof.h5")], cwd=tmp_path, check=True,
           env={"PYHARNESS_PROFILE": str(tmp_path / "tr")})
    ingest(tmp_path / "tr", tmp_path / "ing.h5")
    with h5py.File(tmp_path / "prof.h5") as a, h5py.File(tmp_path / "ing.h5") as b:
        for r in ("rank_00000", "rank_00001"):
            for k in ("kind", "stack", "ctl_bits"):
                assert np.array_equal(a["events"][r][k][()], b["events"][r][k][()]), (r, k)
            assert a["events"][r]["ctl_bits"][()].max() > 0
    direct, ingested = CostModel.from_profile(tmp_path / "prof.h5"), CostModel.from_profile(tmp_path / "ing.h5")
    for inh in ([], ["heavy@root.f:1"], ["heavy@root.f:1", "inner@heavy.f:1"]):
        p = ingested.predict(inh)
        assert p.exact and list(p.peak_by_rank) == list(direct.predict(inh).peak_by_rank)
    (tmp_path / "v1").mkdir()
    for r in (0, 1):
        name = f"pyharness.{r:05d}.phtrace"
        _as_version_1(tmp_path / "tr" / name, tmp_path / "v1" / name)
        old, new = read_trace(tmp_path / "v1" / name), read_trace(tmp_path / "tr" / name)
        assert old.ctl_bits is None and np.array_equal(old.stack, new.stack)
    ingest(tmp_path / "v1", tmp_path / "v1.h5")
    with h5py.File(tmp_path / "v1.h5") as f:
        assert "ctl_bits" not in f["events"]["rank_00000"]
    p = CostModel.from_profile(tmp_path / "v1.h5").predict([])
    assert not p.exact and any("control bits" in r for r in p.reasons)


def test_plans_of_a_larger_branchy_tree_measure_their_predicted_peaks(tmp_path):
    """60 sites at 2 ranks: the MILP (relaxation, exclusions) at several budgets, and
    random configurations, each run and measured."""
    desc = generate("random", 60, 7, m=16)
    rng = np.random.default_rng(7)
    for nd in desc["nodes"]:
        nd["branch"] = bool(rng.random() < 0.7)
        nd["work"] = int(rng.integers(1, 24))
        nd["comm"] = False
    tree = tmp_path / "tree.json"
    tree.write_text(json.dumps(desc))
    targs = ["--kernel", "calltree", "--param", f"tree={tree}"]
    mpirun(2, ["-m", "pyharness.profile", *targs, "--out", str(tmp_path / "prof.h5")],
           cwd=tmp_path, check=True)
    m = CostModel.from_profile(tmp_path / "prof.h5")
    assert m.has_control_bits and len(m.site_indices) == 60
    low = lowest_peak(m).peak
    top = optimize(m, None).peak
    configs, budgets = [], []
    for b in np.linspace(low, top, 4).astype(int)[:-1]:
        plan = optimize(m, int(b))
        assert plan.peak <= b and plan.status == "optimal", plan.status_text()
        configs.append(plan.config)
        budgets.append(int(b))
    sites = [m.names[i] for i in m.site_indices]
    for k in (7, 31):
        configs.append(Configuration(frozenset(rng.choice(sites, size=k, replace=False).tolist())))
        budgets.append(None)
    for j, (cfg, b) in enumerate(zip(configs, budgets)):
        p = tmp_path / f"c{j}.json"
        p.write_text(json.dumps({"inhibited": sorted(cfg.inhibited)}))
        out = tmp_path / f"r{j}.h5"
        mpirun(2, ["-m", "pyharness.profile", *targs, "--config", str(p), "--no-profiling",
                   "--out", str(out)], cwd=tmp_path, check=True)
        with h5py.File(out) as f:
            got = [int(x) for x in f["summary/peak_bytes"][()]]
        assert got == [int(x) for x in m.predict(cfg).peak_by_rank], (j, b)
        assert b is None or max(got) <= b


def test_control_words_follow_a_push_made_inside_the_frozen_part():
    """A repeat pass pops into the frozen part, then pushes: the push goes above the
    frozen part (whose words are on the stack again) and popping back returns."""
    runtime.api()
    lib = _lib()
    lib.ph_stack_reset()
    c, out, r = ctypes.c_int(1), ctypes.c_int(0), ctypes.c_double(2.0)
    for _ in range(2):
        lib.pushreal8_(ctypes.byref(r))
    for _ in range(64):
        lib.pushcontrol1b_(ctypes.byref(c))
    assert (lib.ph_stack_current(), lib.ph_stack_ctlbits()) == (24, 64)
    lib.adStack_startRepeat()
    for _ in range(40):
        lib.popcontrol1b_(ctypes.byref(out))
    assert (lib.ph_stack_current(), lib.ph_stack_ctlbits()) == (16, 24)
    lib.pushreal8_(ctypes.byref(r))            # above the frozen 24 bytes (2 words)
    assert (lib.ph_stack_current(), lib.ph_stack_ctlbits()) == (32, 88)
    lib.popreal8_(ctypes.byref(r))             # back below the frozen part
    assert (lib.ph_stack_current(), lib.ph_stack_ctlbits()) == (16, 24)
    lib.adStack_resetRepeat()
    assert (lib.ph_stack_current(), lib.ph_stack_ctlbits()) == (24, 64)
    lib.adStack_endRepeat()
    lib.ph_stack_reset()
