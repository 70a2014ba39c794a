"""Binomial (revolve) checkpointing of a kernel's time loop, with checkpoint_schedules.

The schedule (``checkpoint_schedules.Revolve``, optimal for a number of steps and
of snapshots held in memory) is driven from Python; the kernel provides the
pieces: its state at the current step, advancing untaped or taped, reversing the
steps taped last. The call-tree checkpoints inside every step work as usual.
The snapshots' bytes count in the per-rank AD stack accounting (current size
and peak), so profiles and budgets see them.

    cost, grad, stats = binomial_adjoint(kernel, ctrl, snapshots=3)
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
# imported here, not in binomial_adjoint: the first timed run must not pay for it
from checkpoint_schedules import Copy, EndForward, EndReverse, Forward, Move, Reverse, Revolve

from . import runtime
from .errors import UsageError

__all__ = ["BinomialStats", "binomial_adjoint", "check_time_loop", "revolve_forward_steps"]


@dataclass(frozen=True)
class BinomialStats:
    nsteps: int
    snapshots: int
    forward_steps: int          # steps advanced in all, taped or not
    extra_steps: int            # forward_steps - nsteps: the cost of recomputation
    max_snapshots_held: int


def revolve_forward_steps(nsteps: int, snapshots: int) -> int:
    """Griewank's minimal number of forward steps to reverse ``nsteps`` steps
    with ``snapshots`` checkpoints (each step's taped run not counted).

    With r the smallest repetition number such that C(s + r, s) >= l:
    t(l, s) = r l - C(s + r, s + 1)   (Griewank & Walther, Algorithm 799).
    """
    l, s = nsteps, snapshots
    if l <= 1:
        return 0
    r = 0
    while comb(s + r, s) < l:
        r += 1
    return r * l - comb(s + r, s + 1)


def check_time_loop(kernel, snapshots: int) -> None:
    """Refuse a snapshot count ``snapshots`` > 0 that ``kernel`` cannot reverse its time
    loop with (no time-stepping interface, fewer than 2 time steps), naming the
    parameter that sets its time steps; 0 (the whole loop taped) always runs. The tools
    call it before they write anything: a tune or explore found out at the first run
    with snapshots, after the others had run and their files were made."""
    if snapshots < 1:
        return
    if not getattr(kernel, "supports_time_stepping", False):
        from .kernels import time_stepping_kernels
        able = time_stepping_kernels()
        raise UsageError(f"kernel '{kernel.name}' has no time-stepping interface: binomial "
                         f"checkpointing (snapshots > 0) is available for: {', '.join(able)}")
    nsteps = kernel.ts_nsteps()
    if nsteps < 2:
        param = getattr(kernel, "ts_param", None)
        how = f": give it more with --param {param}=N" if param else ""
        raise UsageError(f"binomial checkpointing ({snapshots} snapshot(s)) needs at least 2 time "
                         f"steps, and kernel '{kernel.name}' has {nsteps}{how}, or use 0 snapshots")


def binomial_adjoint(kernel, ctrl: np.ndarray, snapshots: int):
    """Run the kernel's adjoint with its time loop under a revolve schedule."""
    if snapshots < 1:
        raise UsageError("binomial checkpointing needs at least 1 snapshot")
    check_time_loop(kernel, snapshots)
    nsteps = kernel.ts_nsteps()
    snapshots = min(snapshots, nsteps - 1)
    nbytes = kernel.ts_state_bytes() if hasattr(kernel, "ts_state_bytes") else 8 * kernel.nctrl()
    store: dict[int, np.ndarray] = {}
    held = max_held = advanced = 0
    cost = None
    kernel.ts_begin(ctrl)
    try:
        for action in Revolve(nsteps, snapshots):
            if isinstance(action, Forward):
                if action.write_ics:
                    store[action.n0] = kernel.ts_state()
                    runtime.api().api_stack_external(nbytes)
                    held += 1
                    max_held = max(max_held, held)
                kernel.ts_advance(action.n1 - action.n0, bool(action.write_adj_deps))
                advanced += action.n1 - action.n0
            elif isinstance(action, EndForward):
                cost = kernel.ts_end_forward()
            elif isinstance(action, Reverse):
                kernel.ts_reverse(action.n1 - action.n0)
            elif isinstance(action, Copy):
                kernel.ts_set_state(store[action.n])
            elif isinstance(action, Move):
                kernel.ts_set_state(store.pop(action.n))
                runtime.api().api_stack_external(-nbytes)
                held -= 1
            elif isinstance(action, EndReverse):
                break
    finally:
        if store:
            runtime.api().api_stack_external(-nbytes * len(store))
    runtime.call("stack_check")
    grad = kernel.ts_gradient()
    return float(cost), grad, BinomialStats(nsteps, snapshots, advanced, advanced - nsteps, max_held)
