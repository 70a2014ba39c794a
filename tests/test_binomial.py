"""The revolve optimum, checked against checkpoint_schedules' schedules."""

import pytest

from pyharness.binomial import revolve_forward_steps


def schedule_extra_steps(nsteps, snaps):
    from checkpoint_schedules import EndReverse, Forward, Revolve
    advanced = 0
    for a in Revolve(nsteps, snaps):
        if isinstance(a, Forward):
            advanced += a.n1 - a.n0
        if isinstance(a, EndReverse):
            break
    return advanced - nsteps


def test_closed_form_small_cases():
    # by hand: one snapshot re-runs from the start for every step: l(l-1)/2
    assert revolve_forward_steps(10, 1) == 45
    # as many snapshots as steps-1: each step is advanced once more, but the last
    assert revolve_forward_steps(10, 9) == 9


@pytest.mark.parametrize("nsteps", [2, 5, 10, 17, 30])
def test_schedules_are_optimal(nsteps):
    for snaps in range(1, nsteps):
        assert schedule_extra_steps(nsteps, snaps) == revolve_forward_steps(nsteps, snaps)
