"""Predict the time and per-rank peak of configurations from one profile.

Usage::

    python -m pyharness.predict profile.h5 --config a.json [--config b.txt ...]
    python -m pyharness.predict profile.h5 --nocheckpoint cg_solve,halo_exchange

Prints, per configuration, the predicted adjoint time of the slowest rank
(without profiling), the peak AD stack of every rank, and whether the
prediction is exact (a configuration that activates sites the profiled run
inhibited is not: their costs were never observed). Under ``mpiexec`` every
rank reduces its share of the profile's ranks and rank 0 prints. The model is
described in docs/MODEL.md.
"""

from __future__ import annotations

import argparse
import sys

from .config import Configuration, read_config_file
from .errors import UsageError
from .model.calibration import CALIBRATE_HELP
from .mpiutil import collective, run_cli
from .units import PER_RANK_LIMIT, human_bytes, per_rank

__all__ = ["main", "format_prediction"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pyharness.predict", description=__doc__.split("\n")[0])
    ap.add_argument("profile", help="profile.h5 written by pyharness.profile (with events)")
    ap.add_argument("--config", action="append", default=[], metavar="FILE",
                    help="a configuration: JSON {\"inhibited\": [...]} or a callee list (one "
                         "lower-case name per line); repeatable")
    ap.add_argument("--nocheckpoint", action="append", default=[], metavar="SITE,...",
                    help="a configuration given inline: inhibited sites or callees, comma-separated; "
                         "repeatable (one configuration each)")
    ap.add_argument("--calibrate", action="append", default=[], metavar="RUN.h5",
                    help=CALIBRATE_HELP)
    ap.add_argument("--profiled-time", action="store_true",
                    help="also print the time of the same run with profiling on")
    ap.add_argument("--per-rank", action="store_true",
                    help=f"print the predicted time and peak of every rank (default: every rank's "
                         f"up to {PER_RANK_LIMIT} ranks, else the largest, smallest and mean)")
    return ap


def format_prediction(label: str, pred, profiled: bool = False, all_ranks: bool = False) -> str:
    p = pred
    times = "per rank " + per_rank(p.time_by_rank, lambda t: f"{t:.6f}", largest="slowest",
                                   all_ranks=all_ranks, labels=False, option="--per-rank")
    lines = [f"{label}: {len(p.config.inhibited)} site(s) inhibited",
             f"  time   {p.time:.6f} s slowest rank (predicted, without profiling; {times})"]
    if p.cpu_by_rank is not None:
        lines.append(f"  CPU    {max(p.cpu_by_rank):.6f} s slowest rank (process CPU time; the "
                     "profile has CPU times per event)")
    if profiled:
        lines.append(f"  time with profiling on  {max(p.profiled_time_by_rank):.6f} s "
                     f"({int(sum(p.events_by_rank))} events)")
    lines.append("  peak   " + per_rank(p.peak_by_rank, lambda v: f"{human_bytes(v)} ({int(v)} B)",
                                         all_ranks=all_ranks, option="--per-rank"))
    if p.exact:
        lines.append("  exact  yes (peaks to the byte; the time from the profiled run's measurements)")
    else:
        lines.append("  exact  no: " + "; ".join(p.reasons))
    return "\n".join(lines)


def main(argv=None) -> int:
    from mpi4py import MPI
    from .model.calibration import format_calibration, model_for_cli
    comm = MPI.COMM_WORLD
    args = build_parser().parse_args(argv)
    model = model_for_cli(args.profile, args.calibrate, comm)
    configs: list[tuple[str, Configuration]] = []
    with collective(comm, "reading the configurations"):
        table = model.table
        for path in args.config:
            c = read_config_file(path, table)
            configs.append((path, Configuration(c.inhibited, c.snapshots or model.snapshots)))
        for item in args.nocheckpoint:
            names = [n for n in item.split(",") if n.strip()]
            configs.append((f"--nocheckpoint {item}",
                            Configuration.from_names(table, names, model.snapshots, source="--nocheckpoint")))
        if not configs:
            raise UsageError("give at least one configuration: --config FILE or --nocheckpoint SITE,...")
    if comm.rank == 0:
        print(f"model of {args.profile}: {model.nranks} rank(s), {len(model.site_indices)} sites, "
              f"{len(model.nodes)} distinct nodes; profiled run {max(model.wall_s):.6f} s, "
              f"peak {human_bytes(max(model.measured_peak))}")
        if model.calibration:
            print(format_calibration(model))
        for label, cfg in configs:
            print(format_prediction(label, model.predict(cfg), args.profiled_time, args.per_rank),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.predict", main))
