"""A simulator of the execution model of docs/MODEL.md: exact traces and brute-force truths.

A :class:`Node` is one call in a call tree: the call site it is called from,
its loop count, the tape its own code pushes, the snapshot its call saves,
and its own times. :func:`simulate` runs the Tapenade-shaped adjoint of the
tree under a configuration (the set of inhibited sites) and returns the event
trace the profiling runtime would record, together with the TRUE total time
and TRUE peak stack, measured by brute force (every push tracked). Estimating
a flip from one trace and simulating the flipped configuration gives the
ground truth the merge is tested against.

The adjoint of a node (``fwd`` = taped forward sweep, ``bwd`` = backward sweep)::

    fwd(N):  own forward time; for each child j: push tape[j]; repeat count times:
                 inhibited child: fwd(child)
                 active child:    SNPWRITE, write time, push snapshot, BEGINADVANCE,
                                  primal(child) (untaped: no events, no stack), ENDADVANCE
             push tape[-1]
    bwd(N):  pop tape[-1]; own backward time; for each child j in reverse order:
                 repeat count times:
                     inhibited child: bwd(child)
                     active child:    SNPREAD, read time, pop snapshot, BEGINREVERSE,
                                      fwd(child), TURN(child), bwd(child), ENDREVERSE
                 pop tape[j]
    run:     fwd(root), TURN(root), bwd(root)

A node with ``repeat = r > 1`` reverses its children ``r`` times, as a
fixed-point loop does (STARTREPEAT, then RESETREPEAT before each pass, which
restores the stack, then ENDREPEAT); estimates are not exact there.

CPU time: each own phase (untaped run, taped forward, backward) of a node takes
its ``*_ns`` time on the CPU and ``idle_ns`` more on the wall clock only (MPI
waiting); snapshot I/O takes the same wall and CPU time.

Example
-------
>>> leaf = Node(site=1, tape=100, snapshot=20, run_ns=50, fwd_ns=60, bwd_ns=70)
>>> root = Node(tape=(10, 5), children=(leaf,))
>>> simulate(root).peak, simulate(root, inhibited={1}).peak
(110, 115)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .merge import EventKind

__all__ = ["Node", "Trace", "simulate", "simulate_loop", "primal_time", "random_tree", "sites_of",
           "tree_size"]

_K = EventKind


@dataclass(frozen=True)
class Node:
    """One call in a call tree.

    Parameters
    ----------
    site : int
        Location index of the call site this node is called from (ignored for
        the root). Several nodes may share a site: a call in a routine called
        from several places, or a site nested in itself (recursion).
    routine : int
        Location index recorded with this node's TURN (``-1`` if none).
    count : int
        The call is repeated ``count`` times in a loop of its parent.
    tape : int or tuple of int
        Bytes pushed by the node's own forward code: one segment before each
        child's loop and one after the last child (``len(children) + 1``
        values). An int puts everything after the children.
    snapshot : int
        Bytes of the snapshot of this call when it is checkpointed.
    run_ns, fwd_ns, bwd_ns : int
        Own CPU time of the untaped run, taped forward sweep and backward sweep.
    write_ns, read_ns : int
        Time to write / read this call's snapshot.
    idle_ns : int
        Extra wall time (not CPU) of each own phase.
    repeat : int
        Number of passes of the backward loop over the children (1: none).
    children : tuple of Node
    """

    site: int = -1
    routine: int = -1
    count: int = 1
    tape: tuple[int, ...] | int = 0
    snapshot: int = 0
    run_ns: int = 0
    fwd_ns: int = 0
    bwd_ns: int = 0
    write_ns: int = 0
    read_ns: int = 0
    idle_ns: int = 0
    repeat: int = 1
    children: tuple["Node", ...] = field(default_factory=tuple)

    def __post_init__(self):
        children = tuple(self.children)
        object.__setattr__(self, "children", children)
        tape = self.tape
        if isinstance(tape, (int, np.integer)):
            tape = (0,) * len(children) + (int(tape),)
        tape = tuple(int(t) for t in tape)
        if len(tape) != len(children) + 1:
            raise ValueError(f"tape has {len(tape)} segments; a node with {len(children)} children "
                             f"needs {len(children) + 1} (one before each child, one after)")
        object.__setattr__(self, "tape", tape)
        for name in ("count", "snapshot", "run_ns", "fwd_ns", "bwd_ns", "write_ns", "read_ns",
                     "idle_ns", "repeat"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative")
        if min(tape) < 0:
            raise ValueError("tape segments must be non-negative")
        if self.repeat < 1:
            raise ValueError("repeat must be at least 1")


@dataclass(frozen=True, eq=False)
class Trace:
    """The events of one simulated adjoint run and its brute-force truths.

    Attributes
    ----------
    kind, loc, wall_ns, cpu_ns, stack : ndarray
        The event arrays, as the runtime records them (docs/FORMAT.md).
    total_wall_ns, total_cpu_ns : int
        TRUE run time of the adjoint.
    peak : int
        TRUE peak of the stack (maximum after every push).
    """

    kind: np.ndarray
    loc: np.ndarray
    wall_ns: np.ndarray
    cpu_ns: np.ndarray
    stack: np.ndarray
    total_wall_ns: int
    total_cpu_ns: int
    peak: int

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """``(kind, loc, wall_ns, cpu_ns, stack)``, the arguments of the merge."""
        return self.kind, self.loc, self.wall_ns, self.cpu_ns, self.stack

    def __len__(self) -> int:
        return int(self.kind.shape[0])


def primal_time(node: Node) -> tuple[int, int]:
    """(wall, CPU) time of one untaped run of ``node`` and its subtree."""
    w = node.run_ns + node.idle_ns
    c = node.run_ns
    for ch in node.children:
        cw, cc = primal_time(ch)
        w += ch.count * cw
        c += ch.count * cc
    return w, c


class _Sim:
    def __init__(self, inhibited: frozenset[int]):
        self.inhibited = inhibited
        self.ev: list[tuple[int, int, int, int, int]] = []
        self.s = 0
        self.peak = 0
        self.w = 0
        self.c = 0
        self._primal: dict[int, tuple[int, int]] = {}

    def emit(self, kind: int, loc: int) -> None:
        self.ev.append((kind, loc, self.w, self.c, self.s))

    def tick(self, cpu: int, idle: int = 0) -> None:
        self.w += cpu + idle
        self.c += cpu

    def push(self, n: int) -> None:
        self.s += n
        if self.s > self.peak:
            self.peak = self.s

    def pop(self, n: int) -> None:
        self.s -= n
        assert self.s >= 0, "simulator popped more than it pushed"

    def primal(self, node: Node) -> None:
        wc = self._primal.get(id(node))
        if wc is None:
            wc = self._primal[id(node)] = primal_time(node)
        w, c = wc
        self.w += w
        self.c += c

    def fwd(self, node: Node) -> None:
        self.tick(node.fwd_ns, node.idle_ns)
        for j, ch in enumerate(node.children):
            self.push(node.tape[j])
            for _ in range(ch.count):
                if ch.site in self.inhibited:
                    self.fwd(ch)
                else:
                    self.emit(_K.SNPWRITE, ch.site)
                    self.tick(ch.write_ns)
                    self.push(ch.snapshot)
                    self.emit(_K.BEGINADVANCE, ch.site)
                    self.primal(ch)
                    self.emit(_K.ENDADVANCE, ch.site)
        self.push(node.tape[-1])

    def bwd(self, node: Node) -> None:
        self.pop(node.tape[-1])
        self.tick(node.bwd_ns, node.idle_ns)
        if node.repeat > 1:
            self.emit(_K.STARTREPEAT, -1)
            saved = self.s
        for _ in range(node.repeat):
            if node.repeat > 1:
                self.emit(_K.RESETREPEAT, -1)
                self.s = saved                       # each pass pops the same tape again
            for j in range(len(node.children) - 1, -1, -1):
                ch = node.children[j]
                for _ in range(ch.count):
                    if ch.site in self.inhibited:
                        self.bwd(ch)
                    else:
                        self.emit(_K.SNPREAD, ch.site)
                        self.tick(ch.read_ns)
                        self.pop(ch.snapshot)
                        self.emit(_K.BEGINREVERSE, ch.site)
                        self.fwd(ch)
                        self.emit(_K.TURN, ch.routine)
                        self.bwd(ch)
                        self.emit(_K.ENDREVERSE, ch.site)
                self.pop(node.tape[j])
        if node.repeat > 1:
            self.emit(_K.ENDREPEAT, -1)


def simulate(root: Node, inhibited: Iterable[int] = ()) -> Trace:
    """Run the adjoint of ``root`` with the sites in ``inhibited`` inhibited.

    Parameters
    ----------
    root : Node
        The top of the call tree (its ``site`` is ignored).
    inhibited : iterable of int
        Site indices whose checkpoints are switched off (split mode).

    Returns
    -------
    Trace
        Events plus the true total times and true peak stack.

    Examples
    --------
    >>> t = simulate(Node(tape=8, children=(Node(site=0, tape=4),)))
    >>> [EventKind(k).name for k in t.kind][:4]
    ['SNPWRITE', 'BEGINADVANCE', 'ENDADVANCE', 'TURN']
    """
    sim = _Sim(frozenset(int(i) for i in inhibited))
    sim.fwd(root)
    sim.emit(_K.TURN, root.routine)
    sim.bwd(root)
    assert sim.s == 0, "the simulated stack does not return to empty"
    ev = np.array(sim.ev, dtype=np.int64).reshape(-1, 5)
    return Trace(ev[:, 0].astype(np.int8), ev[:, 1].astype(np.int32), ev[:, 2].copy(),
                 ev[:, 3].copy(), ev[:, 4].copy(), sim.w, sim.c, sim.peak)


def simulate_loop(step: Node, count: int, tape: tuple[int, int] = (0, 0), routine: int = -1) -> Trace:
    """The trace of a root that calls ``step`` ``count`` times in a loop, built with NumPy.

    Same result as ``simulate(Node(tape=tape, routine=routine,
    children=(replace(step, count=count),)))`` with ``step`` active, in time
    linear in the number of events with small constants: ``step`` is simulated
    once and its reversal is tiled with the right time and stack offsets. For
    benchmarks (millions of events); ``step.site`` must not be inhibited.

    Parameters
    ----------
    step : Node
        One iteration (e.g. a time step), called from site ``step.site``.
    count : int
        Number of iterations (at least 1).
    tape : (int, int)
        The root's own tape before and after the loop.
    routine : int
        Location recorded with the root's TURN.

    Examples
    --------
    >>> from dataclasses import replace
    >>> step = Node(site=0, routine=2, tape=(3, 4), snapshot=2, run_ns=5,
    ...             children=(Node(site=1, tape=7, run_ns=1),))
    >>> a = simulate_loop(step, 3, tape=(1, 2))
    >>> b = simulate(Node(tape=(1, 2), children=(replace(step, count=3),)))
    >>> all((x == y).all() for x, y in zip(a.arrays, b.arrays)), a.peak == b.peak
    (True, True)
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    blk = simulate(step)                         # fwd(step), TURN(step), bwd(step)
    u, d = (int(t) for t in tape)
    K, snp, site = int(count), int(step.snapshot), int(step.site)
    pw, pc = primal_time(step)
    wr, rd = int(step.write_ns), int(step.read_ns)
    k = np.arange(K, dtype=np.int64)
    # forward sweep of the root: SNPWRITE, BEGINADVANCE, ENDADVANCE per iteration
    f_kind = np.tile(np.array([_K.SNPWRITE, _K.BEGINADVANCE, _K.ENDADVANCE], np.int8), K)
    f_wall = np.stack([k * (wr + pw), k * (wr + pw) + wr, k * (wr + pw) + wr + pw], 1).ravel()
    f_cpu = np.stack([k * (wr + pc), k * (wr + pc) + wr, k * (wr + pc) + wr + pc], 1).ravel()
    f_stack = np.stack([u + k * snp, u + (k + 1) * snp, u + (k + 1) * snp], 1).ravel()
    t0w, t0c = K * (wr + pw), K * (wr + pc)
    # backward sweep: instance K-1 first; each is SNPREAD, BEGINREVERSE, block, ENDREVERSE
    inst = K - 1 - k                              # instance reversed at position j = k
    sw = t0w + k * (rd + blk.total_wall_ns)       # SNPREAD time of position j
    sc = t0c + k * (rd + blk.total_cpu_ns)
    base = u + inst * snp
    B = len(blk)
    b_kind = np.empty((K, B + 3), np.int8)
    b_loc = np.empty((K, B + 3), np.int32)
    b_wall = np.empty((K, B + 3), np.int64)
    b_cpu = np.empty((K, B + 3), np.int64)
    b_stack = np.empty((K, B + 3), np.int64)
    b_kind[:, 0], b_kind[:, 1], b_kind[:, 2:-1], b_kind[:, -1] = _K.SNPREAD, _K.BEGINREVERSE, blk.kind, _K.ENDREVERSE
    b_loc[:, 0], b_loc[:, 1], b_loc[:, 2:-1], b_loc[:, -1] = site, site, blk.loc, site
    b_wall[:, 0] = sw
    b_wall[:, 1] = sw + rd
    b_wall[:, 2:-1] = (sw + rd)[:, None] + blk.wall_ns[None, :]
    b_wall[:, -1] = sw + rd + blk.total_wall_ns
    b_cpu[:, 0] = sc
    b_cpu[:, 1] = sc + rd
    b_cpu[:, 2:-1] = (sc + rd)[:, None] + blk.cpu_ns[None, :]
    b_cpu[:, -1] = sc + rd + blk.total_cpu_ns
    b_stack[:, 0] = base + snp
    b_stack[:, 1] = base
    b_stack[:, 2:-1] = base[:, None] + blk.stack[None, :]
    b_stack[:, -1] = base
    kind = np.concatenate([f_kind, np.array([_K.TURN], np.int8), b_kind.ravel()])
    loc = np.concatenate([np.full(3 * K, site, np.int32), np.array([routine], np.int32), b_loc.ravel()])
    wall = np.concatenate([f_wall, [t0w], b_wall.ravel()])
    cpu = np.concatenate([f_cpu, [t0c], b_cpu.ravel()])
    stack = np.concatenate([f_stack, [u + K * snp + d], b_stack.ravel()])
    total_w = t0w + K * (rd + blk.total_wall_ns)
    total_c = t0c + K * (rd + blk.total_cpu_ns)
    peak = max(u + K * snp + d, u + (K - 1) * snp + blk.peak)
    return Trace(kind, loc, wall, cpu, stack, int(total_w), int(total_c), int(peak))


def sites_of(root: Node) -> set[int]:
    """The site indices appearing in the tree (the root's own site excluded)."""
    out: set[int] = set()
    stack = list(root.children)
    while stack:
        n = stack.pop()
        out.add(n.site)
        stack.extend(n.children)
    return out


def tree_size(root: Node) -> int:
    """Number of dynamic calls of the tree (loop counts multiplied out), root included."""
    return 1 + sum(ch.count * tree_size(ch) for ch in root.children)


def random_tree(rng: random.Random, *, nsites: int = 6, max_depth: int = 4, max_children: int = 3,
                max_count: int = 3, max_tape: int = 100, max_snapshot: int = 60,
                max_time: int = 50, idle: bool = True, repeat: bool = False,
                nroutines: int = 4) -> Node:
    """A random call tree for property tests.

    Sites are drawn from ``range(nsites)``, so a site may occur at several
    nodes, including inside itself; snapshots may exceed tapes (memory gains);
    zero tapes and snapshots occur. Routine locations are ``nsites ..
    nsites + nroutines - 1``.

    Examples
    --------
    >>> t = random_tree(random.Random(1))
    >>> isinstance(t, Node)
    True
    """

    def rnd(hi: int, zero_prob: float = 0.2) -> int:
        return 0 if rng.random() < zero_prob else rng.randint(0, hi)

    def make(depth: int, site: int) -> Node:
        nch = rng.randint(0, max_children) if depth < max_depth else 0
        if depth == 0 and nch == 0:
            nch = 1
        children = tuple(make(depth + 1, rng.randrange(nsites)) for _ in range(nch))
        return Node(site=site, routine=nsites + rng.randrange(nroutines),
                    count=rng.randint(1, max_count) if rng.random() < 0.4 else 1,
                    tape=tuple(rnd(max_tape) for _ in range(nch + 1)),
                    snapshot=rnd(max_snapshot), run_ns=rnd(max_time, 0.1), fwd_ns=rnd(max_time, 0.1),
                    bwd_ns=rnd(max_time, 0.1), write_ns=rnd(max_time // 5 + 1),
                    read_ns=rnd(max_time // 5 + 1), idle_ns=rnd(max_time // 2, 0.5) if idle else 0,
                    repeat=(rng.randint(2, 3) if repeat and nch and rng.random() < 0.3 else 1),
                    children=children)

    return make(0, -1)
