"""The fastest checkpoint configuration under a per-rank memory budget, from one profile.

Usage::

    python -m pyharness.optimize profile.h5 --budget 512MiB [--granularity site|callee]
        [--method milp|dp|exhaustive] [--time-limit S] [--out PLAN] [--pareto N]

Minimises the slowest rank's predicted time subject to every rank's predicted
peak fitting the budget, by a mixed-integer linear program (HiGHS, through
scipy); ``--method dp`` solves one-rank profiles by an exact dynamic programme
over the call tree instead, ``--method exhaustive`` evaluates every
configuration of the model (small trees: the cross-check). Prints the configuration, its
predicted time and per-rank peak, the status (proven optimal, or the certified
gap when the time limit stopped the solver) and the solve time. ``--out PLAN``
writes ``PLAN.config.json`` and Tapenade's callee list ``PLAN.nocheckpoint.txt``
(the files tune writes); ``--pareto N`` also writes the predicted front (time
against budget at N budgets) to ``PLAN.pareto.h5``. Budgets: bytes with a unit
(512MiB) or a factor of the profiled run's peak (1.5x). docs/MODEL.md describes
the model and the program.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .config import write_config_json, write_name_list
from .errors import UsageError
from .model.calibration import CALIBRATE_HELP
from .h5io import atomic_h5, check_writable, str_array
from .mpiutil import collective, run_cli
from .units import PER_RANK_LIMIT, human_bytes, parse_budget, per_rank
from .vocabulary import Granularity

__all__ = ["main", "format_plan", "write_plan", "write_pareto", "plan_stem"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pyharness.optimize", description=__doc__.split("\n")[0])
    ap.add_argument("profile", help="profile.h5 written by pyharness.profile (with events; "
                                    "every site checkpointed gives exact predictions)")
    ap.add_argument("--budget", required=True,
                    help="per-rank peak stack budget: bytes with a unit (512MiB) or a factor of the "
                         "profiled run's peak (1.5x)")
    ap.add_argument("--granularity", default="site", choices=[g.value for g in Granularity],
                    help="decide per call site ($AD NOCHECKPOINT) or per callee (-nocheckpoint list)")
    ap.add_argument("--method", default="milp", choices=["milp", "dp", "exhaustive"],
                    help="milp (default), dp (an exact dynamic programme over the call tree: "
                         "one rank, site granularity, no control bits; trees of about 100 sites) "
                         "or exhaustive (every configuration; small trees only)")
    ap.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                    help="seconds for the solver (default 60); when it stops the search the "
                         "certified gap is reported")
    ap.add_argument("--calibrate", action="append", default=[], metavar="RUN.h5",
                    help=CALIBRATE_HELP)
    ap.add_argument("--out", default=None, metavar="PLAN",
                    help="write PLAN.config.json and PLAN.nocheckpoint.txt (and PLAN.pareto.h5)")
    ap.add_argument("--pareto", type=int, default=0, metavar="N",
                    help="also solve at N budgets from the lowest reachable peak to the fastest "
                         "configuration's peak and write the front to PLAN.pareto.h5")
    ap.add_argument("--per-rank", action="store_true",
                    help=f"print the predicted peak of every rank (default: every rank's up to "
                         f"{PER_RANK_LIMIT} ranks, else the largest, smallest and mean)")
    return ap


def plan_stem(out: str | None) -> str:
    """PLAN, PLAN.json or PLAN.config.json -> PLAN."""
    s = str(out or "plan")
    for suffix in (".config.json", ".json", ".h5"):
        if s.endswith(suffix):
            return s[: -len(suffix)]
    return s


def format_plan(plan, model, budget: int | None, all_ranks: bool = False) -> str:
    p = plan.prediction
    prof = model.predict(_profiled_config(model))
    unit = plan.granularity.value
    # sites the profiled run inhibited are not decided (their costs were never observed):
    # the plan keeps them inhibited, so the plan is not "every checkpoint on"
    kept = sorted(model.names[i] for i in model.profiled_inhibited)
    lines = [f"budget    {human_bytes(budget)} ({budget} B) per rank" if budget is not None else
             "budget    none",
             f"status    {plan.status_text()}; solved in {plan.solve_s:.3f} s ({plan.method})",
             f"time      {p.time:.6f} s slowest rank, predicted (the profiled configuration: "
             f"{prof.time:.6f} s, {prof.time / p.time if p.time > 0 else float('nan'):.3f}x)",
             "peak      " + per_rank(p.peak_by_rank, lambda v: f"{human_bytes(v)} ({int(v)} B)",
                                      all_ranks=all_ranks, option="--per-rank"),
             f"inhibited {len(plan.inhibited_units)} {unit}(s): "
             + (", ".join(plan.inhibited_units) if plan.inhibited_units else
                "none" if kept else "none (every checkpoint on)")]
    if kept:
        lines.append(f"kept      {len(kept)} site(s) inhibited as in the profiled run, not decided (their "
                     f"checkpoints' costs were never observed): {', '.join(kept[:8])}"
                     f"{' ...' if len(kept) > 8 else ''}; profile with every site checkpointed to "
                     "decide every site")
    if not p.exact:
        lines.append("not exact: " + "; ".join(p.reasons))
    return "\n".join(lines)


def _profiled_config(model):
    from .config import Configuration
    return Configuration(frozenset(model.names[i] for i in model.profiled_inhibited), model.snapshots)


def write_plan(stem: str, plan, model) -> list[str]:
    """The plan as tune writes its choice: JSON configuration and callee list."""
    table = model.table
    header = (f"pyharness.optimize of {model.path}: budget {plan.budget} B per rank, "
              f"{plan.granularity} granularity, {plan.status}\n"
              f"predicted {plan.predicted_time:.6f} s, peak {plan.peak} B\n"
              f"{plan.config.tapenade_option(table)}")
    partial = plan.config.partially_inhibited_callees(table)
    if partial:
        header += ("\ncallees with only some sites inhibited (need $AD NOCHECKPOINT per site, see "
                   f"{stem}.config.json): " + " ".join(partial))
    write_config_json(stem + ".config.json", plan.config, kernel=model.kernel)
    write_name_list(stem + ".nocheckpoint.txt", plan.config.nocheckpoint_callees(table), header=header)
    return [stem + ".config.json", stem + ".nocheckpoint.txt"]


def write_pareto(path: str, points, model, granularity: str, method: str) -> None:
    """The predicted front (docs/FORMAT.md, ``kind = pareto``)."""
    attrs = {"profile": str(model.path), "kernel": model.kernel, "params": model.params,
             "nranks": model.nranks, "granularity": granularity, "method": method,
             "snapshots": model.snapshots,
             "profiled_time_s": float(model.predict(_profiled_config(model)).time),
             "profiled_peak_bytes": int(max(model.measured_peak))}
    with atomic_h5(path, "pareto", attrs) as f:
        g = f.create_group("pareto")
        g["budget_bytes"] = np.array([pt.budget for pt in points], dtype=np.int64)
        g["time_s"] = np.array([pt.plan.predicted_time for pt in points], dtype=np.float64)
        g["time_by_rank_s"] = np.array([pt.plan.time_by_rank for pt in points], dtype=np.float64)
        g["peak_bytes"] = np.array([pt.plan.peak_by_rank for pt in points], dtype=np.int64)
        g["status"] = str_array(pt.plan.status for pt in points)
        g["gap"] = np.array([pt.plan.gap for pt in points], dtype=np.float64)
        g["solve_s"] = np.array([pt.plan.solve_s for pt in points], dtype=np.float64)
        g["inhibited"] = str_array(json.dumps(sorted(pt.plan.config.inhibited)) for pt in points)


def main(argv=None) -> int:
    from mpi4py import MPI
    from .model.calibration import format_calibration, model_for_cli
    from .model.milp import Units, optimize, pareto_front
    comm = MPI.COMM_WORLD
    args = build_parser().parse_args(argv)
    stem = plan_stem(args.out)
    with collective(comm, "checking the arguments"):
        b = parse_budget(args.budget)
        if args.time_limit is not None and args.time_limit <= 0:
            raise UsageError("--time-limit must be positive (seconds)")
        if args.pareto < 0:
            raise UsageError("--pareto N needs N >= 1")
        if comm.rank == 0 and args.out:
            check_writable(stem + ".config.json")
        if comm.rank == 0 and args.pareto:
            check_writable(stem + ".pareto.h5")
    model = model_for_cli(args.profile, args.calibrate, comm)
    budget = b.resolve(int(max(model.measured_peak)))
    # the solve is small (O(sites)): rank 0 solves, the others wait for its verdict
    with collective(comm, "optimising"):
        if comm.rank == 0 and not Units.of(model, args.granularity).names:
            raise UsageError(f"no checkpoint site ran in {args.profile} (every call site has zero "
                             "instances): there is no checkpoint to decide")
        if comm.rank == 0:
            plan = optimize(model, budget, args.granularity, method=args.method,
                            time_limit=args.time_limit)
            print(f"model of {args.profile}: {model.nranks} rank(s), {len(model.site_indices)} sites, "
                  f"{len(model.nodes)} distinct nodes; budget {b} = {human_bytes(budget)}", flush=True)
            if model.calibration:
                print(format_calibration(model), flush=True)
            print(format_plan(plan, model, budget, args.per_rank), flush=True)
            if args.out:
                for p in write_plan(stem, plan, model):
                    print(f"wrote {p}")
            if args.pareto:
                # the front's far end is the fastest configuration, solved without a budget,
                # which the dynamic programme cannot do: the front is the MILP's (both exact)
                front_method = "milp" if args.method == "dp" else args.method
                pts = pareto_front(model, args.pareto, args.granularity, method=front_method,
                                   time_limit=args.time_limit)
                write_pareto(stem + ".pareto.h5", pts, model, args.granularity, front_method)
                print(f"predicted front ({len(pts)} budgets) written to {stem}.pareto.h5"
                      + (" (solved by milp: --method dp needs a budget, and the front's fastest "
                         "configuration has none)" if front_method != args.method else ""))
                for pt in pts:
                    print(f"  budget {human_bytes(pt.budget):>12}  time {pt.plan.predicted_time:.6f} s  "
                          f"peak {human_bytes(pt.plan.peak):>12}  {pt.plan.status}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.optimize", main))
