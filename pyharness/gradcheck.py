"""Quantitative checks of a kernel's adjoint gradient: Taylor test, finite differences,
invariance under checkpoint configurations, and the decomposition against a serial run.

Taylor test. For a random direction d (seeded), J the cost and g the adjoint gradient::

    r(eps) = | J(c + eps d) - J(c) - eps <g, d> |     falls as eps^2

over a range of eps chosen per kernel (its ``taylor_eps``), whose smallest remainder
lies at least three decades above the round-off of J (measured, see
:func:`taylor_test`). It fails unless

- every observed order log(r(e1)/r(e2)) / log(e1/e2) is within 2 +- 0.1, and
- the central finite difference (J(c + eps d) - J(c - eps d)) / (2 eps) agrees with the
  adjoint's <g, d> to a relative tolerance (1e-6, :data:`FD_RTOL`) at some eps of the range.

Invariance (``--check invariance``): the gradient and the cost are bitwise identical
under every checkpoint configuration (all checkpointed, all inhibited, random ones,
and every snapshot count of binomial checkpointing of the time loop).

Decomposition (``--check serial``): the gradient gathered over all ranks agrees with
a serial run of the whole grid on every rank (kernels with a decomposed grid).

Usage::

    mpiexec -n 3 python -m pyharness.gradcheck --kernel streamice
    mpiexec -n 3 python -m pyharness.gradcheck --kernel biogeo --check all
    python -m pyharness.gradcheck --kernel streamice --plant-error 1e-3   # must FAIL

The command exits with status 0 only if every check it ran passed. See docs/GRADCHECK.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import numpy as np

from . import runtime
from .cli_common import add_config_args, add_kernel_args, config_from_args, setup_kernel
from .config import Configuration
from .errors import PyharnessError, UsageError
from .kernels import get_kernel, parse_params
from .mpiutil import collective, run_cli

__all__ = ["EpsRange", "eps_range_for", "ORDER_TOL", "FD_RTOL", "ROUNDOFF_DECADES",
           "TaylorResult", "taylor_test", "boundary_row_mask", "InvarianceResult",
           "invariance_check", "SerialResult", "serial_check", "serial_rtol", "main"]

ORDER_TOL = 0.1          # every observed order within 2 +- ORDER_TOL
FD_RTOL = 1e-6           # central finite difference against <g, d>, relative
ROUNDOFF_DECADES = 3.0   # the smallest remainder at least 10^3 times the round-off of J


@dataclass(frozen=True)
class EpsRange:
    """Steps of the Taylor test: ``eps_max`` down by factors of ``factor`` until
    ``eps_min`` is reached (the last step is at most ``eps_min``)."""

    eps_max: float
    eps_min: float
    factor: float = 2.0

    def values(self) -> np.ndarray:
        if not (0 < self.eps_min < self.eps_max) or self.factor <= 1:
            raise UsageError(f"bad range of eps: {self.eps_max:g} down to {self.eps_min:g} "
                             f"by factors of {self.factor:g}; need 0 < min < max and factor > 1")
        n = int(np.ceil(np.log(self.eps_max / self.eps_min) / np.log(self.factor) - 1e-9)) + 1
        return self.eps_max / self.factor ** np.arange(n)


# Each kernel's range is its class's ``taylor_eps``, chosen from a scan of r(eps) over
# eps = 1 .. 1e-10 (docs/GRADCHECK.md): the upper end where the order has settled at 2,
# the lower end two to three decades further, where the remainder is still five or more
# decades above the round-off of J. A kernel without one gets this:
DEFAULT_RANGE = EpsRange(1e-3, 1e-6)


def _kernel_class(kernel):
    """The class of a kernel given as an instance, a class or its registered name (a
    plug-in's factory may be a plain function: it then has none of the attributes)."""
    if isinstance(kernel, str):
        return get_kernel(kernel).factory
    return kernel if isinstance(kernel, type) else type(kernel)


def eps_range_for(kernel) -> EpsRange:
    """The Taylor test's steps for ``kernel`` (an instance, its class or its name)."""
    eps = getattr(_kernel_class(kernel), "taylor_eps", None)
    return EpsRange(*eps) if eps else DEFAULT_RANGE


def serial_rtol(kernel) -> float | None:
    """``--check serial``'s tolerance for ``kernel`` (an instance, its class or its
    name); None if it has no decomposed grid, and the check does not apply."""
    return getattr(_kernel_class(kernel), "serial_rtol", None)


def _serial_kernels() -> list[str]:
    """The registered kernels --check serial applies to (for messages)."""
    from .kernels import kernel_names
    out = []
    for name in kernel_names():
        try:
            if serial_rtol(name) is not None:
                out.append(name)
        except PyharnessError:
            continue
    return out


@dataclass(frozen=True)
class TaylorResult:
    eps: np.ndarray
    remainder: np.ndarray      # |J(c+eps d) - J(c) - eps <g,d>|
    first_order: np.ndarray    # |J(c+eps d) - J(c)|, for comparison
    directional: float         # <g, d> from the adjoint
    orders: np.ndarray         # observed order between successive eps
    fd: np.ndarray             # central difference (J(c+eps d) - J(c-eps d)) / (2 eps)
    roundoff: float            # round-off level of the remainder (measured)
    cost: float

    @property
    def fd_rel(self) -> np.ndarray:
        """Relative difference of the central finite difference and <g, d>, per eps."""
        return np.abs(self.fd - self.directional) / max(abs(self.directional), np.finfo(float).tiny)

    @property
    def min_order(self) -> float:
        return float(np.min(self.orders))

    @property
    def decades_above_roundoff(self) -> float:
        """log10 of the smallest remainder over the round-off level."""
        lo = float(np.min(self.remainder))
        return float(np.log10(lo / self.roundoff)) if self.roundoff > 0 and lo > 0 else float("inf")

    def failures(self, order_tol: float = ORDER_TOL, fd_rtol: float = FD_RTOL,
                 decades: float = ROUNDOFF_DECADES) -> list[str]:
        """What fails, in words (empty: passed)."""
        out = []
        if len(self.orders) < 2:
            out.append("fewer than three values of eps: no order to judge")
        bad = [f"{self.eps[i + 1]:.2e}: {o:.3f}" for i, o in enumerate(self.orders)
               if not (abs(o - 2.0) <= order_tol)]
        if bad:
            out.append(f"observed order outside 2 +- {order_tol:g} at eps " + ", ".join(bad))
        best = float(np.min(self.fd_rel))
        if not best <= fd_rtol:
            out.append(f"finite differences disagree with the adjoint: best relative difference "
                       f"{best:.2e} > {fd_rtol:.0e}")
        if self.decades_above_roundoff < decades:
            out.append(f"the smallest remainder is only {self.decades_above_roundoff:.1f} decades above "
                       f"round-off ({self.roundoff:.1e}); need {decades:g}: use a larger eps")
        return out

    def passed(self, order_tol: float = ORDER_TOL, fd_rtol: float = FD_RTOL,
               decades: float = ROUNDOFF_DECADES) -> bool:
        return not self.failures(order_tol, fd_rtol, decades)


def boundary_row_mask(kernel) -> np.ndarray:
    """True on this rank's last owned row of the control (next to the halo it sends
    up; on the last rank the domain's boundary): where a wrong halo adjoint shows.
    The kernel says where that is (:meth:`~pyharness.kernels.Kernel.boundary_rows`)."""
    return np.asarray(kernel.boundary_rows(), dtype=bool)


def taylor_test(comm, kernel, ctrl=None, seed: int = 1234, eps=None, direction_mask=None,
                plant_error: float = 0.0, snapshots: int = 0) -> TaylorResult:
    """Run the Taylor test on every rank (collective); the result is the same on all ranks.

    ``eps``: an :class:`EpsRange`, an array of steps, or None for the kernel's range.
    The direction is random normal, times ``direction_mask`` if given (e.g. one tracer
    only). ``plant_error`` > 0 scales the adjoint gradient in every rank's boundary row
    by (1 + plant_error): a deliberately wrong adjoint, for showing the test fails.

    The round-off level of the remainder is measured: r at three steps 1e5 to 1e6 times
    smaller than the smallest eps (where the true remainder is 1e-10 of the smallest
    one's) is round-off alone; the level is the largest of those, and at least
    |J| times the unit round-off.

    ``snapshots`` > 0: the gradient is the adjoint's with the time loop reversed by a
    revolve schedule holding that many snapshots (:mod:`pyharness.binomial`).
    """
    if ctrl is None:
        ctrl = kernel.control_default()
    if eps is None:
        eps = eps_range_for(kernel)
    eps = eps.values() if isinstance(eps, EpsRange) else np.asarray(eps, dtype=float)
    rng = np.random.default_rng(seed + 7919 * comm.rank)
    d = rng.standard_normal(kernel.nctrl())
    if direction_mask is not None:
        d = d * np.asarray(direction_mask, dtype=float)
    runtime.reset()
    if snapshots:
        from .binomial import binomial_adjoint
        j0, g, _ = binomial_adjoint(kernel, ctrl, snapshots)
    else:
        j0, g = kernel.adjoint(ctrl)
    if plant_error:
        g = g.copy()
        g[boundary_row_mask(kernel)] *= 1.0 + plant_error
    dj = comm.allreduce(float(np.dot(g, d)))
    rem, first, fd = [], [], []
    for e in eps:
        jp = kernel.primal(ctrl + e * d)
        jm = kernel.primal(ctrl - e * d)
        rem.append(abs(jp - j0 - e * dj))
        first.append(abs(jp - j0))
        fd.append((jp - jm) / (2 * e))
    noise = abs(j0) * np.finfo(float).eps
    for f in (1e-5, 3e-6, 1e-6):
        e = eps.min() * f
        noise = max(noise, abs(kernel.primal(ctrl + e * d) - j0 - e * dj))
    rem = np.array(rem)
    with np.errstate(divide="ignore", invalid="ignore"):
        orders = np.log(rem[:-1] / rem[1:]) / np.log(eps[:-1] / eps[1:])
    return TaylorResult(eps, rem, np.array(first), dj, orders, np.array(fd), float(noise), float(j0))


def format_table(res: TaylorResult) -> str:
    lines = [f"J(c) = {res.cost:.15e}   <g, d> = {res.directional:.15e}",
             f"round-off of the remainder: {res.roundoff:.2e} (smallest remainder "
             f"{res.decades_above_roundoff:.1f} decades above)",
             f"{'eps':>10}  {'|J(c+eps d)-J(c)|':>18}  {'remainder':>12}  {'order':>6}  {'FD vs adjoint':>13}"]
    rel = res.fd_rel
    for i, e in enumerate(res.eps):
        o = f"{res.orders[i - 1]:.3f}" if i > 0 else ""
        lines.append(f"{e:10.3e}  {res.first_order[i]:18.6e}  {res.remainder[i]:12.4e}  {o:>6}  {rel[i]:13.2e}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- invariance
@dataclass(frozen=True)
class InvarianceResult:
    labels: list[str]
    same: list[bool]           # gradient and cost bitwise identical to the reference
    rel_diff: list[float]      # max |g - g_ref| / max |g_ref| over all ranks

    @property
    def passed(self) -> bool:
        return all(self.same)

    def format(self) -> str:
        lines = [f"{'configuration':<44}  gradient"]
        for lab, s, r in zip(self.labels, self.same, self.rel_diff):
            lines.append(f"{lab:<44}  {'bitwise identical' if s else f'DIFFERS (max rel. {r:.2e})'}")
        return "\n".join(lines)


def invariance_check(comm, kernel, table, nrandom: int = 10, seed: int = 42,
                     snapshots: bool = True) -> InvarianceResult:
    """Run the adjoint under many configurations; compare every gradient bitwise with
    the all-checkpointed one (collective)."""
    from .profile import run_adjoint
    sites = table.site_indices
    configs = [("all checkpointed", Configuration()),
               ("all inhibited", Configuration.from_indices(table, sites))]
    rng = np.random.default_rng(seed)
    for i in range(nrandom):
        k = int(rng.integers(0, len(sites) + 1))
        idx = rng.choice(sites, size=k, replace=False)
        configs.append((f"random {i} ({k} of {len(sites)} inhibited)", Configuration.from_indices(table, idx)))
    nt = kernel.ts_nsteps() if snapshots and kernel.supports_time_stepping else 0
    if nt >= 2:
        for s in range(1, nt):
            configs.append((f"time loop: {s} snapshot(s) of {nt} steps", Configuration(frozenset(), s)))
        if nrandom:
            c = configs[2][1]
            configs.append((f"random 0 with {max(1, nt // 2)} snapshot(s)", Configuration(c.inhibited, max(1, nt // 2))))
    ref_cost, ref_g = None, None
    labels, same, rel = [], [], []
    for lab, c in configs:
        s, _, g = run_adjoint(comm, kernel, table, c, profiling=False)
        if ref_g is None:
            ref_cost, ref_g = s.cost, g.copy()
        ok = bool(comm.allreduce(bool(np.array_equal(g, ref_g)), op=_land())) and s.cost == ref_cost
        scale = comm.allreduce(float(np.max(np.abs(ref_g), initial=0.0)), op=_max())
        diff = comm.allreduce(float(np.max(np.abs(g - ref_g), initial=0.0)), op=_max())
        labels.append(lab)
        same.append(ok)
        rel.append(diff / scale if scale > 0 else diff)
    return InvarianceResult(labels, same, rel)


# ---------------------------------------------------------------------- decomposition
# Not bitwise in general: the decomposed run sums its global dot products and norms
# (allreduce) in another order than the serial one; each kernel's serial_rtol says
# by how much its gradient may differ, and why (pyharness/kernels/).


@dataclass(frozen=True)
class SerialResult:
    cost_rel: float
    grad_rel: float            # max |g_decomposed - g_serial| / max |g_serial|
    rtol: float

    @property
    def passed(self) -> bool:
        return self.cost_rel <= self.rtol and self.grad_rel <= self.rtol


def serial_check(comm, name: str, size: str = "small", overrides: dict | None = None,
                 rtol: float | None = None) -> SerialResult:
    """The kernel decomposed over ``comm`` against a serial run of the whole grid on
    every rank (COMM_SELF). Leaves the decomposed kernel set up (collective)."""
    from mpi4py import MPI
    if serial_rtol(name) is None:
        raise UsageError(f"--check serial: kernel '{name}' has no decomposed grid (each rank has "
                         f"its own state); the check applies to {', '.join(_serial_kernels())}")
    if rtol is None:
        rtol = serial_rtol(name)
    spec = get_kernel(name)
    k = spec.create(comm, size, overrides)
    runtime.set_active(np.ones(len(runtime.locations()), dtype=bool))
    runtime.reset()
    cost, g = k.adjoint(k.control_default())
    gw = np.concatenate(comm.allgather(k.decomposed_rows(g)), axis=1)
    ks = spec.create(MPI.COMM_SELF, size, overrides)
    runtime.set_active(np.ones(len(runtime.locations()), dtype=bool))
    runtime.reset()
    cost1, g1 = ks.adjoint(ks.control_default())
    g1 = ks.decomposed_rows(g1)
    spec.create(comm, size, overrides)           # leave the decomposed kernel set up
    scale = float(np.max(np.abs(g1)))
    grad_rel = float(np.max(np.abs(gw - g1))) / scale if scale > 0 else float(np.max(np.abs(gw - g1)))
    cost_rel = abs(cost - cost1) / abs(cost1) if cost1 else abs(cost - cost1)
    worst = comm.allreduce((grad_rel, cost_rel), op=_max())
    return SerialResult(worst[1], worst[0], rtol)


def _land():
    from mpi4py import MPI
    return MPI.LAND


def _max():
    from mpi4py import MPI
    return MPI.MAX


# ---------------------------------------------------------------------- command line
CHECKS = ("taylor", "invariance", "serial")


def _parse_checks(text: str, kernel: str) -> list[str]:
    items = [c.strip() for c in text.split(",") if c.strip()]
    if items == ["all"]:
        return [c for c in CHECKS if c != "serial" or serial_rtol(kernel) is not None]
    bad = [c for c in items if c not in CHECKS]
    if bad or not items:
        raise UsageError(f"--check {text!r}: choose from {', '.join(CHECKS)} (comma-separated) or all")
    if "serial" in items and serial_rtol(kernel) is None:
        raise UsageError(f"--check serial: kernel '{kernel}' has no decomposed grid (each rank has "
                         f"its own state); the check applies to {', '.join(_serial_kernels())}")
    return items


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pyharness.gradcheck",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_kernel_args(ap)
    add_config_args(ap)
    ap.add_argument("--check", default="taylor", metavar="CHECK[,CHECK]",
                    help="taylor (default: Taylor test and finite differences), invariance "
                         "(gradient bitwise identical under configurations), serial (decomposed "
                         "against a serial run; streamice, biogeo), or all (comma-separated)")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the direction (default 1234)")
    ap.add_argument("--eps", type=float, default=None,
                    help="largest step of the Taylor test (default: the kernel's, see docs/GRADCHECK.md)")
    ap.add_argument("--eps-min", type=float, default=None, help="smallest step (default: the kernel's)")
    ap.add_argument("--order-tol", type=float, default=ORDER_TOL,
                    help=f"every observed order within 2 +- this (default {ORDER_TOL:g})")
    ap.add_argument("--fd-rtol", type=float, default=FD_RTOL,
                    help=f"relative tolerance of finite differences against the adjoint (default {FD_RTOL:g})")
    ap.add_argument("--random-configs", type=int, default=10,
                    help="random configurations of the invariance check (default 10)")
    ap.add_argument("--plant-error", type=float, default=0.0, metavar="SCALE",
                    help="self-test: scale the adjoint in each rank's boundary row by 1+SCALE; "
                         "the Taylor check must then fail")
    return ap


def main(argv=None) -> int:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    args = build_parser().parse_args(argv)
    with collective(comm, "checking the arguments"):
        checks = _parse_checks(args.check, args.kernel)
        r = eps_range_for(args.kernel)
        rng = EpsRange(args.eps if args.eps is not None else r.eps_max,
                       args.eps_min if args.eps_min is not None else r.eps_min, r.factor)
        rng.values()
        if args.order_tol <= 0 or args.fd_rtol <= 0:
            raise UsageError("--order-tol and --fd-rtol must be > 0")
        if args.random_configs < 0:
            raise UsageError("--random-configs must be >= 0")
    with collective(comm, "setting up the kernel"):
        kernel, table = setup_kernel(comm, args)
        config = config_from_args(args, table)
        from .binomial import check_time_loop
        check_time_loop(kernel, config.snapshots)
    failed = []
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    say(f"gradient checks of the {kernel.name} adjoint on {comm.size} rank(s): {', '.join(checks)}")
    if "taylor" in checks:
        with collective(comm, "the Taylor test"):
            runtime.set_active(config.active_mask(table))
            # the snapshot count of --snapshots or --config is the adjoint's too: it was
            # silently left out (the whole time loop taped), while the docs said otherwise
            res = taylor_test(comm, kernel, seed=args.seed, eps=rng, plant_error=args.plant_error,
                              snapshots=config.snapshots)
        say(f"\nTaylor test (configuration: {len(config.inhibited)} site(s) inhibited"
            + (f", time loop reversed with {config.snapshots} snapshot(s)" if config.snapshots else "")
            + (f"; PLANTED ERROR x(1{args.plant_error:+g}) in the boundary rows" if args.plant_error else "")
            + ")")
        say(format_table(res))
        why = res.failures(args.order_tol, args.fd_rtol)
        if why:
            failed.append("taylor")
            for w in why:
                say(f"FAILED: {w}")
        else:
            say(f"PASSED: every order within 2 +- {args.order_tol:g}; finite differences agree "
                f"to {np.min(res.fd_rel):.1e} (tolerance {args.fd_rtol:.0e})")
    if "invariance" in checks:
        with collective(comm, "the invariance check"):
            inv = invariance_check(comm, kernel, table, nrandom=args.random_configs)
        say("\ninvariance under checkpoint configurations")
        say(inv.format())
        if inv.passed:
            say(f"PASSED: gradient and cost bitwise identical under {len(inv.labels)} configurations")
        else:
            failed.append("invariance")
            say(f"FAILED: the gradient differs under {inv.same.count(False)} of {len(inv.labels)} configurations")
    if "serial" in checks:
        with collective(comm, "the serial check"):
            ser = serial_check(comm, args.kernel, args.size, parse_params(args.param))
        say(f"\ndecomposed over {comm.size} rank(s) against a serial run: cost relative difference "
            f"{ser.cost_rel:.1e}, gradient {ser.grad_rel:.1e} (tolerance {ser.rtol:.0e})")
        if ser.passed:
            say("PASSED")
        else:
            failed.append("serial")
            say("FAILED: the decomposed gradient disagrees with the serial one")
    if failed:
        raise PyharnessError(f"gradient check(s) failed: {', '.join(failed)} (details above)")
    say("\nall gradient checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.gradcheck", main))
