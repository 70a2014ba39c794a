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


def test_a_fortran_kernel_without_time_stepping_hooks_is_refused_up_front():
    """The ts_* hooks of ph_kernel_t are optional (docs/KERNELS.md): a FortranKernel
    that does not say it binds them has no time-stepping interface, so binomial
    checkpointing (and gradcheck's snapshot counts) are refused with the kernels that
    can, instead of the Fortran's 'does not implement time stepping' midway through
    a run. Nothing Fortran is called: the refusal comes first."""
    import numpy as np

    from pyharness.binomial import binomial_adjoint
    from pyharness.errors import UsageError
    from pyharness.kernels import FortranKernel, KernelSpec, get_kernel, time_stepping_kernels

    class NoSteps(FortranKernel):
        def setup_ints(self):
            return []

    NoSteps.spec = KernelSpec(name="nosteps", params_type=dict, sizes={}, factory=NoSteps)

    k = object.__new__(NoSteps)          # no set-up: the check must not need one
    assert not k.supports_time_stepping
    with pytest.raises(UsageError, match="no time-stepping interface.*streamice"):
        binomial_adjoint(k, np.zeros(1), 2)
    # the built-in kernels whose Fortran types bind the hooks say so
    for name in ("streamice", "biogeo", "calltree"):
        assert get_kernel(name).factory.supports_time_stepping, name
    assert {"streamice", "biogeo", "calltree"} <= set(time_stepping_kernels())
