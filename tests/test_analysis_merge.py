"""The per-rank merge against hand-worked cases and the brute-force simulator.

Expected values come from reasoning written in the tests (stack and clock
followed by hand) or from simulating the flipped configuration; never from
the merge's own output.
"""

from __future__ import annotations

import random
import sys
from dataclasses import replace

import numpy as np
import pytest

from pyharness.analysis import merge as merge_mod
from pyharness.analysis.merge import (EventKind, TraceError, merge_events, merge_reference,
                                      numba_available)
from pyharness.analysis.simulate import (Node, primal_time, random_tree, simulate, simulate_loop,
                                         sites_of)

K = EventKind
FIELDS = ("count", "dt_wall_ns", "dt_cpu_ns", "dpk", "dtn")
METHODS = ["reference"] + (["numba"] if numba_available() else [])


def site_key(nsites: int, nloc: int) -> np.ndarray:
    key = np.full(nloc, -1, np.int64)
    key[:nsites] = np.arange(nsites)
    return key


def run(trace, key, method, ngroups=None):
    return merge_events(*trace.arrays, key, ngroups, method=method)


def assert_same(a, b):
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert (a.peak, a.turn) == (b.peak, b.turn)


# ---------------------------------------------------------------------------
# Hand-worked cases
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_u_c_d(method):
    # U = root's tape before C (10 B), D = root's tape after C (5 B).
    # C: tape 100 B, snapshot 20 B; write 3, untaped run 50 (+7 idle, wall only), read 4.
    C = Node(site=0, tape=100, snapshot=20, run_ns=50, fwd_ns=60, bwd_ns=70, write_ns=3,
             read_ns=4, idle_ns=7)
    root = Node(tape=(10, 5), children=(C,))
    tr = simulate(root)
    # active: root turn at U+snapshot+D = 35; C's turn (after popping D and the
    # snapshot) at U+C = 110 -> peak 110.  Inhibited: U+C+D = 115 at the root turn.
    r = run(tr, site_key(1, 1), method)
    assert r.peak == tr.peak == 110
    assert r.count[0] == 1
    assert r.dpk[0] == 115 - 110
    # t1t2 = write + untaped run + read: wall 3 + 57 + 4, CPU 3 + 50 + 4
    assert r.dt_wall_ns[0] == 64 and r.dt_cpu_ns[0] == 57
    flipped = simulate(root, {0})
    assert flipped.peak == 115
    assert tr.total_wall_ns - flipped.total_wall_ns == 64
    assert tr.total_cpu_ns - flipped.total_cpu_ns == 57


@pytest.mark.parametrize("method", METHODS)
def test_u_c_d_peak_in_d_and_memory_gain(method):
    # D large (200 B): the active peak is U+snapshot+D; inhibiting adds C - snapshot.
    C = Node(site=0, tape=100, snapshot=20)
    r = run(simulate(Node(tape=(10, 200), children=(C,))), site_key(1, 1), method)
    assert r.peak == 230 and r.dpk[0] == (10 + 100 + 200) - 230 == 80
    # snapshot larger than the tape: inhibiting lowers the peak by 50 B
    C = Node(site=0, tape=100, snapshot=150)
    r = run(simulate(Node(tape=(10, 200), children=(C,))), site_key(1, 1), method)
    assert r.peak == 360 and r.dpk[0] == 310 - 360


@pytest.mark.parametrize("method", METHODS)
def test_nested_sites(method):
    # root -> A (site 0: tape 30 before B, 10 after; snapshot 5) -> B (site 1: tape 50, snapshot 8)
    B = Node(site=1, tape=50, snapshot=8, run_ns=11, write_ns=2, read_ns=3)
    A = Node(site=0, tape=(30, 10), snapshot=5, run_ns=20, write_ns=4, read_ns=6, children=(B,))
    tr = simulate(Node(children=(A,)))
    # Active: root turn 5; A reversed: 30 + 8 (B's snapshot) + 10 = 48 at A's turn;
    # B reversed after popping A's 10 and B's snapshot: 30 + 50 = 80. Peak 80.
    # Inhibit B: A's forward holds 30 + 50 + 10 = 90 at A's turn -> +10.
    # Inhibit A: root turn holds 30 + 8 + 10 = 48, B's reversal still 80 -> 0.
    r = run(tr, site_key(2, 2), method)
    assert r.peak == 80
    assert r.dpk.tolist() == [0, 10]
    # A's untaped run includes B's: t1t2_A = 4 + (20 + 11) + 6; t1t2_B = 2 + 11 + 3
    assert r.dt_wall_ns.tolist() == [41, 16]
    assert r.count.tolist() == [1, 1]
    for s, dpk in ((0, 0), (1, 10)):
        assert simulate(Node(children=(A,)), {s}).peak - tr.peak == dpk


@pytest.mark.parametrize("method", METHODS)
def test_site_nested_in_itself(method):
    # root -> A (site 0; tape 40 after its child; snapshot 10) -> A' (site 0 again; tape 25, snapshot 6)
    inner = Node(site=0, tape=25, snapshot=6, run_ns=5, write_ns=1, read_ns=2)
    outer = Node(site=0, tape=(0, 40), snapshot=10, run_ns=9, write_ns=3, read_ns=4,
                 children=(inner,))
    root = Node(children=(outer,))
    tr = simulate(root)
    # Active: outer reversed: 6 (inner's snapshot) + 40 = 46 at its turn; inner: 25. Peak 46.
    # Site 0 inhibited (both instances): root turn holds 25 + 40 = 65 -> +19.
    r = run(tr, site_key(1, 1), method)
    assert r.peak == 46 and r.count[0] == 2
    assert r.dpk[0] == 19 == simulate(root, {0}).peak - 46
    # both instances' t1t2: outer 3 + (9 + 5) + 4, inner 1 + 5 + 2
    assert r.dt_wall_ns[0] == 21 + 8


@pytest.mark.parametrize("method", METHODS)
def test_repeated_instances_in_a_loop(method):
    # root (U = 10, D = 5) calls C (tape 100, snapshot 20) 3 times in a loop.
    C = Node(site=0, count=3, tape=100, snapshot=20, run_ns=30, write_ns=2, read_ns=5)
    root = Node(tape=(10, 5), children=(C,))
    tr = simulate(root)
    # Active: root turn 10 + 3*20 + 5 = 75; the last instance is reversed first with
    # two snapshots below it: 10 + 2*20 + 100 = 150 = the peak.
    # Inhibited: 10 + 3*100 + 5 = 315 -> +165.  Time: 3 * (2 + 30 + 5).
    r = run(tr, site_key(1, 1), method)
    assert r.peak == 150 and r.count[0] == 3
    assert r.dpk[0] == 165 and r.dt_wall_ns[0] == 3 * 37


@pytest.mark.parametrize("method", METHODS)
def test_design_counterexample_needs_the_rebase(method):
    # DESIGN.md: the root (its own tape 1 B, pushed after its calls) calls site 2
    # (callee tape 2 B) then site 3 (callee tape 1 B), empty snapshots, both active.
    root = Node(tape=(0, 0, 1), children=(Node(site=2, tape=2), Node(site=3, tape=1)))
    tr = simulate(root)
    # Active: root turn 1; site 3 reversed (root's byte popped first): 1; site 2: 2. Peak 2.
    # Inhibit 3: root turn 1 + 1 = 2; site 3's tape is popped by its backward sweep
    # before site 2 is reversed (at 2): the peak stays 2, no change.
    # Inhibit 2: site 2's tape (2) stays under the root's turn (3) and under site 3's
    # reversal (2 + 1 = 3): +1.
    key = site_key(4, 4)
    r = run(tr, key, method)
    assert r.peak == 2
    assert r.dpk[3] == 0 == simulate(root, {3}).peak - 2
    assert r.dpk[2] == 1 == simulate(root, {2}).peak - 2
    # the unrebased rule (Tapenade 2024) says +1 for site 3
    assert merge_reference(*tr.arrays, key, rebase=False).dpk[3] == 1


# ---------------------------------------------------------------------------
# Brute force on random trees: every single flip is exact
# ---------------------------------------------------------------------------

def _random_case(seed):
    rng = random.Random(seed)
    tree = random_tree(rng, nsites=6)
    sites = sorted(sites_of(tree))
    base = {s for s in sites if rng.random() < 0.3}
    return rng, tree, sites, base


@pytest.mark.parametrize("method", METHODS)
def test_every_single_site_flip_is_exact(method):
    nflips = 0
    for seed in range(400):
        _, tree, sites, base = _random_case(seed)
        tr = simulate(tree, base)
        r = run(tr, site_key(6, 10), method, 6)
        assert r.peak == tr.peak, seed                    # root Pk is the true peak
        for s in sites:
            if s in base:
                continue
            fl = simulate(tree, base | {s})
            assert r.dt_wall_ns[s] == tr.total_wall_ns - fl.total_wall_ns, (seed, s)
            assert r.dt_cpu_ns[s] == tr.total_cpu_ns - fl.total_cpu_ns, (seed, s)
            assert r.dpk[s] == fl.peak - tr.peak, (seed, s)
            nflips += 1
    assert nflips > 1000


def test_unrebased_rule_is_wrong_on_some_random_trees():
    wrong = 0
    for seed in range(200):
        _, tree, sites, base = _random_case(seed)
        tr = simulate(tree, base)
        r = merge_reference(*tr.arrays, site_key(6, 10), 6, rebase=False)
        wrong += sum(r.dpk[s] != simulate(tree, base | {s}).peak - tr.peak
                     for s in sites if s not in base)
    assert wrong > 0


@pytest.mark.parametrize("method", METHODS)
def test_every_callee_flip_is_exact_with_the_callee_keyed_merge(method):
    sum_wrong = 0
    for seed in range(400):
        rng, tree, sites, base = _random_case(seed)
        callee_of = [rng.randrange(3) for _ in range(6)]          # site -> callee
        key = np.array(callee_of + [-1] * 4, np.int64)
        tr = simulate(tree, base)
        r = run(tr, key, method, 3)
        per_site = merge_reference(*tr.arrays, site_key(6, 10), 6)
        for c in range(3):
            group = {s for s in sites if callee_of[s] == c and s not in base}
            if not group:
                assert r.count[c] == 0
                continue
            fl = simulate(tree, base | group)
            assert r.dt_wall_ns[c] == tr.total_wall_ns - fl.total_wall_ns, (seed, c)
            assert r.dt_cpu_ns[c] == tr.total_cpu_ns - fl.total_cpu_ns, (seed, c)
            assert r.dpk[c] == fl.peak - tr.peak, (seed, c)
            assert r.count[c] == sum(per_site.count[s] for s in group)
            sum_wrong += sum(per_site.dpk[s] for s in group) != fl.peak - tr.peak
    assert sum_wrong > 0        # summing per-site estimates is not exact (DESIGN.md)


# ---------------------------------------------------------------------------
# Fast == reference
# ---------------------------------------------------------------------------

def _perturb(rng, tr):
    """A damaged copy of a trace: an event dropped, moved, relabelled, or a TURN added."""
    arrs = [a.copy() for a in tr.arrays]
    n = len(arrs[0])
    i = rng.randrange(n)
    what = rng.randrange(5)
    if what == 0:
        return [np.delete(a, i) for a in arrs]
    if what == 1:
        j = rng.randrange(n)
        for a in arrs:
            a[i], a[j] = a[j], a[i]
        return arrs
    if what == 2:
        arrs[1][i] = rng.randrange(-1, 11)
        return arrs
    if what == 3:
        arrs[0][i] = rng.choice([0, 6, 7, 8, 9, 10, 11])
        return arrs
    # an extra turn anywhere (also after children closed), with any stack value
    ins = [K.TURN, 6, arrs[2][i], arrs[3][i], rng.randrange(0, 2 * max(1, tr.peak))]
    return [np.insert(a, i, v) for a, v in zip(arrs, ins)]


def _outcome(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except TraceError as exc:
        return (exc.code, exc.event, str(exc))


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_fast_equals_reference_on_random_and_damaged_traces():
    rng = random.Random(12345)
    nerr = nok = 0
    for seed in range(600):
        tree = random_tree(random.Random(seed), nsites=6, repeat=seed % 3 == 0)
        sites = sorted(sites_of(tree))
        tr = simulate(tree, {s for s in sites if rng.random() < 0.3})
        keys = [site_key(6, 10), np.array([rng.randrange(3) for _ in range(6)] + [-1] * 4)]
        for key in keys:
            ref = merge_reference(*tr.arrays, key)
            assert_same(ref, merge_events(*tr.arrays, key, method="numba"))
            for _ in range(3):
                arrs = _perturb(rng, tr)
                a = _outcome(merge_reference, *arrs, key)
                b = _outcome(merge_events, *arrs, key, method="numba")
                if isinstance(a, tuple):
                    assert a == b, (seed, a, b)
                    nerr += 1
                else:
                    assert_same(a, b)
                    nok += 1
    assert nerr > 100 and nok > 100           # both kinds of outcome were exercised


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_fast_handles_deep_nesting_and_many_groups():
    # a chain of 300 nested active sites (recursion): pools must grow
    node = Node(site=0, tape=3, snapshot=1)
    for d in range(1, 300):
        node = Node(site=d % 250, tape=(d % 7, 2), snapshot=d % 5, children=(node,))
    tr = simulate(Node(children=(node,)))
    key = site_key(250, 250)
    assert_same(merge_reference(*tr.arrays, key), merge_events(*tr.arrays, key, method="numba"))


def test_fallback_to_reference_warns(monkeypatch):
    tr = simulate(random_tree(random.Random(3)))
    key = site_key(6, 10)
    monkeypatch.setitem(sys.modules, "pyharness.analysis._fastmerge", None)   # import fails
    monkeypatch.setattr(merge_mod, "_warned", False)
    with pytest.warns(RuntimeWarning, match="numba is not installed"):
        r = merge_events(*tr.arrays, key, method="auto")
    assert_same(r, merge_reference(*tr.arrays, key))
    assert not numba_available()
    with pytest.raises(ImportError, match="pip install numba"):
        merge_events(*tr.arrays, key, method="numba")


# ---------------------------------------------------------------------------
# Malformed traces, repeats
# ---------------------------------------------------------------------------

def ev(*rows):
    """Events from (kind, loc, stack) rows; times = index."""
    a = np.array(rows, dtype=np.int64).reshape(-1, 3)
    n = len(a)
    return a[:, 0], a[:, 1], np.arange(n), np.arange(n), a[:, 2]


GOOD = [(1, 0, 0), (2, 0, 4), (3, 0, 4), (7, 1, 4), (4, 0, 4), (5, 0, 0), (7, 2, 9), (6, 0, 0)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rows, event, text", [
    (GOOD[:7] + [(6, 1, 0)], 7, "the open checkpoint level is that of site 0"),
    (GOOD[:4] + [(5, 0, 0)], 4, "no SNPREAD of this site"),
    ([(4, 0, 0), (5, 0, 0)], 1, "no advanced instance left"),
    (GOOD[:7], 5, "ends inside the checkpoint level of site 0 'a@f:1' opened at event 5"),
    (GOOD[:4], 2, "advanced at event 2 is never reversed"),
    ([(6, 0, 0)], 0, "no checkpoint level is open"),
    ([(12, 0, 0)], 0, "unknown event kind 12"),
    ([(1, 2, 0)], 0, "location 2 is not a checkpoint site"),
    ([(1, 7, 0)], 0, "location 7 is not a checkpoint site"),
    ([(1, 0, 0), (3, 0, 0)], 1, "no BEGINADVANCE"),
    ([(9, -1, 0)], 0, "no repeat section is open"),
    # an instance advanced inside a level but reversed outside it
    ([(1, 0, 0), (2, 0, 0), (3, 0, 0), (4, 0, 0), (5, 0, 0), (1, 1, 0), (2, 1, 0), (3, 1, 0),
      (6, 0, 0), (4, 1, 0), (5, 1, 0), (6, 1, 0)], 8, "were never reversed"),
])
def test_not_well_nested(method, rows, event, text):
    key = np.array([0, 1, -1])
    with pytest.raises(TraceError, match=text) as info:
        merge_events(*ev(*rows), key, method=method, names=["a@f:1", "b@f:2", "r@f"])
    assert info.value.event == event
    assert f"event {event}" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("method", METHODS)
def test_error_names_the_site(method):
    with pytest.raises(TraceError, match=r"site 0 'a@f:1'"):
        merge_events(*ev(*GOOD[:4], (5, 0, 0)), np.array([0, -1, -1]), method=method,
                     names=["a@f:1", "r@f", "s@f"])


@pytest.mark.parametrize("method", METHODS)
def test_repeat_sections_are_accepted(method):
    # a fixed-point backward loop over C, 3 passes: C's advanced instance is
    # reversed once per pass (RESETREPEAT makes it reversible again)
    C = Node(site=0, tape=40, snapshot=8, run_ns=10, write_ns=1, read_ns=2)
    root = Node(tape=(5, 5), repeat=3, children=(C,))
    tr = simulate(root)
    kinds = tr.kind.tolist()
    assert kinds.count(K.STARTREPEAT) == 1 and kinds.count(K.RESETREPEAT) == 3
    r = run(tr, site_key(1, 1), method)
    assert r.count[0] == 3
    # advance (1 + 10) counted once, each pass reads the snapshot (2)
    assert r.dt_wall_ns[0] == 11 + 3 * 2
    assert r.peak == tr.peak == 45


def test_empty_trace_and_bad_arguments():
    r = merge_reference(*ev(), np.array([0]))
    assert r.peak == 0 and r.count.tolist() == [0] and r.nevents == 0
    with pytest.raises(ValueError, match="shape"):
        merge_events([1], [0, 0], [0], [0], [0], [0])
    with pytest.raises(ValueError, match="key values"):
        merge_events([], [], [], [], [], [0, 5], ngroups=2)
    with pytest.raises(ValueError, match="method"):
        merge_events([], [], [], [], [], [0], method="fast")


# ---------------------------------------------------------------------------
# The simulator itself
# ---------------------------------------------------------------------------

def test_simulator_trace_shape_and_truths():
    for seed in range(100):
        tree = random_tree(random.Random(seed))
        tr = simulate(tree)
        assert tr.stack.min() >= 0
        # the true peak is reached just before a turn, which records it
        assert tr.peak == tr.stack[tr.kind == K.TURN].max()
        assert (np.diff(tr.wall_ns) >= 0).all() and (tr.cpu_ns <= tr.wall_ns).all()
        # every active instance emits six events
        ninst = (tr.kind == K.BEGINREVERSE).sum()
        assert all((tr.kind == k).sum() == ninst for k in range(1, 7))


def test_simulate_loop_matches_simulate():
    rng = random.Random(7)
    for seed in range(20):
        step = replace(random_tree(random.Random(seed), nsites=5), site=5, snapshot=rng.randint(0, 30),
                       write_ns=rng.randint(0, 9), read_ns=rng.randint(0, 9))
        cnt = rng.randint(1, 4)
        u, d = rng.randint(0, 50), rng.randint(0, 50)
        a = simulate_loop(step, cnt, tape=(u, d), routine=7)
        b = simulate(Node(tape=(u, d), routine=7, children=(replace(step, count=cnt),)))
        for x, y in zip(a.arrays, b.arrays):
            np.testing.assert_array_equal(x, y)
        assert (a.peak, a.total_wall_ns, a.total_cpu_ns) == (b.peak, b.total_wall_ns, b.total_cpu_ns)


def test_node_validation():
    with pytest.raises(ValueError, match="segments"):
        Node(tape=(1, 2), children=())
    with pytest.raises(ValueError, match="non-negative"):
        Node(snapshot=-1)
    assert primal_time(Node(run_ns=3, idle_ns=2, children=(Node(site=0, count=4, run_ns=1),))) == (9, 7)
