"""Taylor test of a kernel's adjoint: the remainder must converge at second order.

For a random direction d (seeded), with J the cost and g its adjoint gradient::

    r(eps) = | J(c + eps d) - J(c) - eps <g, d> |   should fall as eps^2

Usage::

    mpiexec -n 2 python -m pyharness.gradcheck --kernel streamice
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from . import runtime
from .cli_common import add_config_args, add_kernel_args, config_from_args, setup_kernel
from .mpiutil import collective, run_cli
from .errors import PyharnessError

__all__ = ["TaylorResult", "taylor_test", "main"]


@dataclass(frozen=True)
class TaylorResult:
    eps: np.ndarray
    remainder: np.ndarray
    first_order: np.ndarray   # |J(c+eps d) - J(c)|, for comparison
    directional: float        # <g, d>
    orders: np.ndarray        # log2 ratio of successive remainders

    @property
    def min_order(self) -> float:
        return float(np.min(self.orders))

    def passed(self, tol: float = 1.8) -> bool:
        """Second order reached: the last two halvings each divide the remainder by ~4.

        A wrong gradient leaves a first-order remainder (ratio ~2) however small
        eps gets; the first entries may still be pre-asymptotic (curvature).
        """
        return bool(len(self.orders) >= 2 and np.all(self.orders[-2:] > tol))


def taylor_test(comm, kernel, ctrl=None, seed: int = 1234, eps0: float = 1e-3,
                nsteps: int = 6, direction_mask=None) -> TaylorResult:
    """Run the Taylor test on every rank; the result is the same on all ranks.

    The direction is random normal, times ``direction_mask`` if given (e.g. to
    perturb one part of the control only)."""
    if ctrl is None:
        ctrl = kernel.control_default()
    rng = np.random.default_rng(seed + 7919 * comm.rank)
    d = rng.standard_normal(kernel.nctrl())
    if direction_mask is not None:
        d = d * np.asarray(direction_mask, dtype=float)
    runtime.reset()
    j0, g = kernel.adjoint(ctrl)
    dj = comm.allreduce(float(np.dot(g, d)))
    eps = eps0 * 0.5 ** np.arange(nsteps)
    rem, first = [], []
    for e in eps:
        j = kernel.primal(ctrl + e * d)
        rem.append(abs(j - j0 - e * dj))
        first.append(abs(j - j0))
    rem = np.array(rem)
    with np.errstate(divide="ignore", invalid="ignore"):
        orders = np.log2(rem[:-1] / rem[1:])
    return TaylorResult(eps, rem, np.array(first), dj, orders)


def format_table(res: TaylorResult) -> str:
    lines = [f"<g, d> = {res.directional:.12e}",
             f"{'eps':>10}  {'|J(c+eps d)-J(c)|':>18}  {'remainder':>12}  order"]
    for i, e in enumerate(res.eps):
        o = f"{res.orders[i - 1]:.2f}" if i > 0 else ""
        lines.append(f"{e:10.3e}  {res.first_order[i]:18.6e}  {res.remainder[i]:12.4e}  {o}")
    return "\n".join(lines)


def main(argv=None) -> int:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    ap = argparse.ArgumentParser(prog="python -m pyharness.gradcheck", description=__doc__.split("\n")[0])
    add_kernel_args(ap)
    add_config_args(ap)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--eps", type=float, default=1e-3, help="largest step (default 1e-3)")
    ap.add_argument("--steps", type=int, default=6, help="number of halvings (default 6)")
    args = ap.parse_args(argv)
    with collective(comm, "setting up the kernel"):
        kernel, table = setup_kernel(comm, args)
        runtime.set_active(config_from_args(args, table).active_mask(table))
    with collective(comm, "the Taylor test"):
        res = taylor_test(comm, kernel, seed=args.seed, eps0=args.eps, nsteps=args.steps)
    if comm.rank == 0:
        print(f"Taylor test of the {kernel.name} adjoint on {comm.size} rank(s)")
        print(format_table(res))
        print("PASSED: second-order convergence" if res.passed()
              else "FAILED: the remainder does not converge at second order")
    if not res.passed():
        raise PyharnessError("Taylor test failed")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.gradcheck", main))
