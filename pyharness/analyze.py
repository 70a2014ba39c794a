"""Estimate, for every checkpoint site or callee, what inhibiting it would save and cost.

Usage::

    python -m pyharness.analyze profile.h5 [--granularity site|callee] [--json | --tapenade]
                                [--budget B] [--keep FILE] [--write-list FILE]
    python -m pyharness.analyze --from-tapenade 'tapenade_profile.*.txt' [--out imported.h5] ...

The table lists three groups, as Tapenade's profiler does: inhibitions that
lower the peak stack, memory-neutral ones, and those with a memory cost
(best seconds per byte first). Times are the slowest rank's gains, memory the
largest per-rank peak. Every estimate assumes that flip alone: re-profile
after flipping. With ``--budget`` (``512MiB``, ``1.5GB``, ``1000000`` bytes, or
``1.5x`` the current peak) a list that fits every rank's budget is proposed,
also as Tapenade's ``-nocheckpoint "a b c"``. A proposal that does not fit is
printed, marked DOES NOT FIT, and the command then fails (exit status 2, as
``optimize`` for a budget below every reachable peak) with the lowest predicted
peak; ``--write-list`` is not written then.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from .errors import UsageError
from .mpiutil import run_cli
from .vocabulary import Granularity

__all__ = ["main", "build_parser"]

PROG = "python -m pyharness.analyze"


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line on stderr, exit status 2."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog=PROG, description=__doc__.split("\n")[0],
                 epilog="Size units: B, KB/MB/GB (10^3), KiB/MiB/GiB (2^10); a factor ends in x.")
    ap.add_argument("profile", nargs="?", help="profile.h5 written by python -m pyharness.profile "
                    "(or imported with --from-tapenade)")
    ap.add_argument("--from-tapenade", nargs="+", metavar="FILE",
                    help="read Tapenade profiler text files instead, one per rank (file names "
                         "or a quoted glob pattern such as 'tapenade_profile.*.txt')")
    ap.add_argument("--out", metavar="FILE.h5",
                    help="with --from-tapenade: write the imported figures to this HDF5 file")
    ap.add_argument("--granularity", choices=[g.value for g in Granularity], default="site",
                    help="estimate per call site (default; $AD NOCHECKPOINT) or per callee "
                         "(Tapenade's -nocheckpoint list)")
    out = ap.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON instead of the table")
    out.add_argument("--tapenade", action="store_true",
                     help="print Tapenade's text format (PEAK STACK / SUGGESTED NOCHECKPOINTs)")
    ap.add_argument("--budget", metavar="B",
                    help="per-rank peak stack budget: 512MiB, 1.5GB, 1000000, or 1.5x the current peak")
    ap.add_argument("--keep", metavar="FILE",
                    help="name list (one site or callee per line, # comments) that must stay "
                         "checkpointed: never suggested")
    ap.add_argument("--write-list", metavar="FILE",
                    help="with --budget: write the proposed callee list (one per line) to FILE")
    ap.add_argument("--top", type=int, metavar="N", help="show at most N entries per group")
    ap.add_argument("--method", choices=("auto", "numba", "reference"), default="auto",
                    help="auto (default): the per-rank figures each rank stored in the profile "
                         "(/reduced), else the events merged with numba if installed; numba or "
                         "reference: merge the events again with that implementation")
    return ap


def _model_or_none(profile):
    """The cost model of a profile (exact peaks of whole configurations for --budget), or
    None when there is none to build (a Tapenade import, a profile without events)."""
    if profile is None:
        return None
    from .model import StructureError
    from .model.cache import model_of
    try:
        return model_of(profile)     # the analysis may have built it (control bits)
    except (UsageError, StructureError) as exc:
        print(f"note: no cost model of {profile} ({exc}); the budget plan sums single-flip "
              "estimates, which can be below the true peak: re-profile to check", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    from .mpiutil import launched_rank
    if launched_rank() != 0:
        return 0          # under mpiexec: one analysis, printed once (rank 0's)
    args = build_parser().parse_args(argv)
    from .analysis import config_files, units
    from .analysis.profiles import analyze_profile
    from .analysis.ranks import sum_by_callee
    from .analysis.suggestions import (format_table, format_tapenade, select_under_budget, suggest,
                                   to_json)
    from .analysis.tapenade import expand_rank_files, import_tapenade, write_imported
    from .h5io import check_writable

    if (args.profile is None) == (args.from_tapenade is None):
        raise UsageError("give either a profile file or --from-tapenade FILES (exactly one of them)")
    if args.out and not args.from_tapenade:
        raise UsageError("--out is for --from-tapenade (a profile already holds its events)")
    if args.write_list and not args.budget:
        raise UsageError("--write-list needs --budget (it writes the list proposed under the budget)")
    if args.top is not None and args.top < 1:
        raise UsageError("--top must be at least 1")
    if args.budget is not None:
        units.parse_budget(args.budget)          # fail on a bad size before reading anything
    if args.out:
        check_writable(args.out)
    if args.write_list:
        check_writable(args.write_list)
    keep = config_files.read_name_list(args.keep) if args.keep else ()

    files = []
    if args.from_tapenade:
        files = expand_rank_files(args.from_tapenade)
        site_an = import_tapenade(files)
        an = sum_by_callee(site_an) if args.granularity == "callee" else site_an
    else:
        an = analyze_profile(args.profile, args.granularity, method=args.method)

    if keep:
        sites = [s for g in an.groups.sites for s in g] + list(an.inhibited_sites)
        config_files.check_names(keep, sites, list(an.groups.callees), source=args.keep)
    sugg = suggest(an, exclude=keep)
    plan = model = None
    if args.budget is not None:
        model = _model_or_none(args.profile)
        plan = select_under_budget(an, units.resolve_budget(args.budget, an.peak), sugg, model=model)
    fits = plan is None or plan.new_peak <= plan.budget

    if args.out:
        command = " ".join(shlex.quote(a) for a in
                           [*PROG.split(), *(argv if argv is not None else sys.argv[1:])])
        write_imported(args.out, site_an, files, plan, command)
    if args.write_list and plan is not None and fits:
        config_files.write_name_list(
            args.write_list, plan.nocheckpoint,
            header=f"-nocheckpoint list proposed by {PROG} from {an.source}\n"
                   f"per-rank budget {units.human_bytes(plan.budget)}; "
                   + (f"predicted peak {units.human_bytes(plan.new_peak)} (cost model, exact "
                      "to the byte for a profile with every site checkpointed)" if plan.exact_peaks
                      else f"estimated peak {units.human_bytes(plan.new_peak)}: re-profile to check"))

    if args.json:
        print(json.dumps(to_json(an, sugg, plan), indent=1))
    elif args.tapenade:
        print(format_tapenade(an, sugg))
        if plan is not None:
            print(f"PROPOSED UNDER {plan.budget} BYTES: {plan.tapenade_option}")
    else:
        print(format_table(an, sugg, plan, top=args.top))
        if args.out:
            print(f"imported figures written to {args.out}")
    if not fits:
        sys.stdout.flush()          # the plan above, then the error
        raise UsageError(_does_not_fit(plan, model, args))
    return 0


def _does_not_fit(plan, model, args) -> str:
    """Why the proposal above the budget fails, with the lowest predicted peak when the
    profile has a cost model (as optimize says it for a budget below every reachable peak)."""
    from .units import human_bytes
    b = plan.budget
    msg = (f"the proposed list does not fit the budget of {human_bytes(b)} ({b} bytes) per rank: "
           f"its {'predicted' if plan.exact_peaks else 'estimated'} peak is "
           f"{human_bytes(plan.new_peak)} ({plan.new_peak} bytes)")
    if model is not None:
        from .model.milp import lowest_peak
        low = lowest_peak(model, args.granularity, time_limit=60.0)
        r = int(max(range(len(low.peak_by_rank)), key=lambda i: low.peak_by_rank[i]))
        if low.peak > b:
            msg += (f"; no configuration fits: the lowest predicted peak is {human_bytes(low.peak)} "
                    f"({low.peak} bytes, on rank {r}), with {len(low.config.inhibited)} site(s) "
                    f"inhibited. Give a budget of at least {low.peak} bytes")
        else:
            msg += (f"; inhibiting only, one {args.granularity} at a time, misses a configuration "
                    f"that fits (the lowest predicted peak is {human_bytes(low.peak)}, {low.peak} "
                    f"bytes): python -m pyharness.optimize {shlex.quote(args.profile)} --budget "
                    f"{shlex.quote(args.budget)} "
                    + (f"--granularity {args.granularity} " if args.granularity != "site" else "")
                    + "finds the fastest one")
    else:
        msg += ("; without a cost model the lowest reachable peak is not known: python -m "
                "pyharness.optimize on a profile with events names it")
    if args.write_list:
        msg += f" (no list written to {args.write_list})"
    return msg


if __name__ == "__main__":
    sys.exit(run_cli(PROG, main))
