"""Tune the checkpoint placement automatically under a per-rank memory budget.

Usage::

    mpiexec -n 2 python -m pyharness.tune --kernel streamice --budget 1.5x \
        --strategy runtime-first --backend inline --out tune.h5

``--method optimal`` (the default) profiles the start (every site checkpointed,
or ``--config FILE``) once, builds the cost model from that profile, chooses the
fastest configuration whose predicted peak fits the budget on every rank (a
MILP, proven optimal), runs it and records predicted against measured: two
runs. If the measured peak differs from the prediction, or the choice is slower
than the start beyond ``--tolerance``, it says so and continues with the greedy
loop. ``--max-steps N`` bounds the steps after the start: ``0`` profiles and
solves only (the plan is reported as a prediction, not confirmed by a run, and no
configuration is written). ``--method greedy`` is the paper's loop: estimates
every site's gain and memory cost from the current profile, flips the best
candidates, measures, keeps or rolls back, and repeats. Every step goes to tune.h5; ``--resume``
continues a killed run. docs/MODEL.md describes the model and the estimates.

``--backend command`` tunes a user's own Tapenade adjoint instead of a built-in
kernel: every configuration is a rebuild (``--build`` with its ``-nocheckpoint``
list) and a run (``--run``, under mpiexec or Slurm) whose traces are ingested;
decisions are per callee, and ``--gradient-file`` lets the gradient guard compare
the runs' gradients (docs/COMMAND.md).

With ``--snapshots 0,2,4`` (several snapshot counts of the time loop's binomial
checkpointing) it tunes the call-tree configuration once per count, under the
same per-rank budget in bytes, and reports the best pair of configuration and
snapshot count: each history goes to ``tune.K<k>.h5``, the pair table to
``tune.pairs.json`` and the best pair to ``tune.config.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from .backends import RunRequest, add_backend_arguments, backend_names, get_backend
from .backends.replay import recorded_nranks
from .cli_common import (CONFIG_HELP, SNAPSHOTS_HELP, add_kernel_args, check_count, check_out_path,
                         parse_snapshots, refuse_unused_slurm_options, setup_kernel)
from .config import (Configuration, read_config_file, read_config_json, write_config_json,
                     write_name_list, write_text_atomic)
from .durable import OutputLock, remove_stale_outputs
from .errors import PyharnessError, UsageError
from .kernels import parse_params
from .mpiutil import collective, run_cli
from .backends.base import RunFailed
from .binomial import check_time_loop
from .tuner.estimates import profile_estimator
from .tuner.guard import GradientGuard
from .tuner.loop import BudgetUnreachable, DecisionUnits, TuneLoop
from .tuner.optimal import OptimalStep
from .tuner.progress import Progress
from .tuner.state import TuneState, compare_rounds
from .tuner.store import TuneStore
from .tuner.strategy import Strategy
from .units import Budget, human_bytes, human_time, parse_budget, parse_size, per_rank
from .vocabulary import Granularity

__all__ = ["main"]


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The options; those of the backend that ``argv`` names (``--backend NAME``) in a
    group of their own (``python -m pyharness.tune --backend command --help`` lists them)."""
    ap = argparse.ArgumentParser(prog="python -m pyharness.tune", description=__doc__.split("\n")[0],
                                 epilog="A backend's own options: --backend NAME --help.")
    add_kernel_args(ap)
    ap.add_argument("--budget", required=True,
                    help="per-rank peak stack budget: bytes with a unit (512MiB) or a factor of "
                         "the starting peak (1.5x)")
    ap.add_argument("--method", default="optimal", choices=["optimal", "greedy"],
                    help="optimal (default): one profile, the model's proven optimum, one run to "
                         "confirm it; greedy: the paper's loop of one run per flip")
    ap.add_argument("--solve-time-limit", type=float, default=None, metavar="S",
                    help="--method optimal: seconds for the solver (default 60)")
    ap.add_argument("--strategy", default="runtime-first", choices=[s.value for s in Strategy],
                    help="greedy loop: runtime-first proposes the largest time gain that fits; "
                         "memory-careful takes memory-lowering and memory-neutral units first "
                         "(default runtime-first; docs/MODEL.md)")
    ap.add_argument("--granularity", default=None, choices=[g.value for g in Granularity],
                    help="decide per call site ($AD NOCHECKPOINT; the default) or per callee "
                         "(-nocheckpoint list; the command backend's only choice)")
    ap.add_argument("--backend", default="inline", choices=backend_names(),
                    help="where each configuration runs: inline (this MPI job, the default), "
                         "local (a new mpiexec per run), slurm (an sbatch job per run), command "
                         "(your own build and run: a Tapenade adjoint), replay (a recorded "
                         "history); `--backend NAME --help` shows its options")
    ap.add_argument("--out", default="tune.h5", help="tuning history (default: tune.h5)")
    ap.add_argument("--config", "--start", dest="config", metavar="FILE",
                    help="the starting configuration: " + CONFIG_HELP + " (--start: the older name)")
    ap.add_argument("--flips", type=int, default=1, help="flips per step (default 1)")
    ap.add_argument("--snapshots", default=None, metavar="K[,K...]",
                    help=SNAPSHOTS_HELP + "; overrides the --config file's. Several counts (0,2,4): tune once per count under the "
                         "same budget in bytes and report the best pair of configuration and count; "
                         "a factor budget (1.5x) is then taken of the first count's starting peak")
    ap.add_argument("--rounds", type=int, default=2, metavar="N",
                    help="greedy loop: every step runs the incumbent and the candidate alternately, "
                         "N times each, and keeps the candidate when the difference of the median "
                         "times is larger than the measured spread (the larger range of the two "
                         "sets of runs); flips estimated to lower the peak are kept when the peak "
                         "is lower and the time not worse beyond that spread (default 2). 1: the "
                         "candidate's one run against the incumbent's recorded run, no spread (the "
                         "paper's loop; what the replay backend does: its measurements do not vary)")
    ap.add_argument("--tolerance", type=float, default=None, metavar="F",
                    help="greedy loop: a candidate must also be faster by this fraction of the "
                         "incumbent's time (default 0: the measured spread decides, and without "
                         "noise every exact gain counts); --method optimal: the confirmed choice "
                         "may be slower than the start by at most this fraction (default 0.01)")
    ap.add_argument("--max-steps", type=int, default=50, metavar="N",
                    help="at most N steps after the start (the start's run is step 0 and is always "
                         "made; default 50). Greedy: one configuration per step. Optimal: the "
                         "choice's run is step 1, the calibrated second look step 2, the greedy "
                         "fallback's steps the rest; 0: profile and solve only (the plan is printed "
                         "as predicted, NOT confirmed by a run, and no configuration is written), "
                         "1: the choice is run and not looked at again. A step with --rounds makes "
                         "several runs. --resume with a larger N continues")
    ap.add_argument("--retries", type=int, default=1, help="retries of a failed run (default 1)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="repeat every run N times and keep the fastest (noise; default 1)")
    ap.add_argument("--resume", action="store_true", help="continue the run recorded in --out")
    ap.add_argument("--ranks", type=int, default=None,
                    help="ranks per run for the local, slurm and command backends (default: this job's size)")
    ap.add_argument("--limit", metavar="SIZE", default=None,
                    help="hard per-rank AD stack limit of every run (every backend; replay fails a "
                         "recorded configuration whose peak is above it): "
                         "a configuration above it fails cleanly instead of exhausting memory")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--replay-from", metavar="FILE.h5",
                    help="replay backend: serve the measurements recorded in this tuning history "
                         "or exploration (e.g. an --exhaustive one)")
    ap.add_argument("--replay-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    sl = ap.add_argument_group("slurm backend")
    sl.add_argument("--partition")
    sl.add_argument("--account")
    sl.add_argument("--time-limit", help="per job (default 00:30:00)")
    sl.add_argument("--launcher", choices=["srun", "mpiexec"],
                    help="how the job starts its ranks (default srun --mpi=pmix)")
    sl.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                    help="extra sbatch argument, e.g. --sbatch-arg=--qos=debug (repeatable)")
    ap.backend_class = add_backend_arguments(ap, argv)
    return ap


def _refuse_start_config(args, cls) -> None:
    """A backend of one granularity (a user's own build) starts from Tapenade's default,
    so --config is refused before anything reads the file."""
    if args.config and getattr(cls, "granularity", None) is not None:
        raise UsageError(f"--config: the {args.backend} backend starts from every call checkpointed "
                         "(Tapenade's default): an inhibited callee leaves no trace, so only that run "
                         "shows every site. Drop --config")


def _backend_granularity(args, cls) -> None:
    """A backend that can only carry out one granularity (command: Tapenade's -nocheckpoint
    list is per callee) decides at that one, and says so when another was asked for."""
    forced = getattr(cls, "granularity", None)
    if forced is None:
        args.granularity = args.granularity or Granularity.SITE.value
        return
    forced = Granularity(forced).value
    if args.granularity not in (None, forced):
        print(f"pyharness.tune: the {args.backend} backend decides per {forced} "
              f"(Tapenade's -nocheckpoint list names callees): --granularity {forced}, "
              f"not {args.granularity}", file=sys.stderr, flush=True)
    elif args.granularity is None:
        print(f"pyharness.tune: the {args.backend} backend decides per {forced} "
              f"(--granularity {forced})", file=sys.stderr, flush=True)
    args.granularity = forced
    if args.repeat != 1:
        raise UsageError(f"--repeat: the {args.backend} backend runs each configuration once")
    if args.limit:
        raise UsageError(f"--limit does not apply to the {args.backend} backend")
    if args.snapshot_counts != [0]:
        raise UsageError(f"--snapshots: the {args.backend} backend runs your program as it is built; "
                         "binomial checkpointing of its time loop is its own (adBinomial)")


#: the built-in backends that honour --limit (a plug-in says so with takes_stack_limit = True)
_TAKE_LIMIT = ("inline", "local", "replay", "slurm")


def backend_class_of(name: str):
    from .backends import backend_class
    return backend_class(name)


def _validate(args, comm):
    budget = parse_budget(args.budget)
    check_count("--flips", args.flips, 1)
    if args.tolerance is not None and not 0 <= args.tolerance < 1:
        raise UsageError("--tolerance must be in [0, 1)")
    check_count("--rounds", args.rounds, 1, "runs of incumbent and candidate per greedy step")
    check_count("--max-steps", args.max_steps, 0)
    check_count("--retries", args.retries, 0, "0: a failed run is not retried")
    check_count("--repeat", args.repeat, 1)
    check_count("--ranks", args.ranks, 1, "ranks per run")
    if args.solve_time_limit is not None and not args.solve_time_limit > 0:
        raise UsageError(f"--solve-time-limit {args.solve_time_limit}: give a number of seconds > 0")
    # options of another method or backend are refused, never ignored (as Slurm options are)
    if args.solve_time_limit is not None and args.method != "optimal":
        raise UsageError(f"--solve-time-limit is the solver's, but --method {args.method} solves nothing: "
                         "drop it, or use --method optimal")
    args.solve_time_limit = 60.0 if args.solve_time_limit is None else args.solve_time_limit
    if args.replay_from and args.backend != "replay":
        raise UsageError(f"--replay-from is the replay backend's, but the {args.backend} backend runs every "
                         "configuration: add --backend replay, or drop --replay-from")
    if not args.replay_delay >= 0:
        raise UsageError(f"--replay-delay {args.replay_delay}: give a number of seconds >= 0")
    refuse_unused_slurm_options(args, [o for o, v in (
        ("--partition", args.partition), ("--account", args.account), ("--time-limit", args.time_limit),
        ("--launcher", args.launcher), ("--sbatch-arg", args.sbatch_arg)) if v])
    args.time_limit = args.time_limit or "00:30:00"
    args.launcher = args.launcher or "srun"
    if args.snapshots is None:
        # the starting configuration's count (a JSON configuration's "snapshots"): it was
        # recorded as the start and the runs made with 0, the default of --snapshots
        data = read_config_json(args.config) if args.config else None
        args.snapshots = str((data or {}).get("snapshots", 0))
    counts = parse_snapshots(args.snapshots, several=True)
    args.snapshot_counts = counts
    outs = [Path(args.out)] if len(counts) == 1 else [_pair_out(args.out, k) for k in counts]
    if Path(args.out).is_dir():
        check_out_path(args.out, args.resume)
    if args.resume:
        if not any(o.exists() for o in outs):
            raise UsageError(f"--resume: {', '.join(map(str, outs))} does not exist; run without "
                             "--resume to start")
    for out in outs:
        if out.exists() or not args.resume:
            check_out_path(out, args.resume)
    limit = parse_size(args.limit, "stack limit") if args.limit else 0
    if args.backend == "replay" and not args.replay_from:
        raise UsageError("--backend replay needs --replay-from TUNE.h5")
    return budget, limit


def main(argv=None) -> int:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    ap = build_parser(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv)
    cls = ap.backend_class
    with collective(comm, "checking the arguments"):
        _refuse_start_config(args, cls)
        budget, limit = _validate(args, comm)
        _backend_granularity(args, cls)
        if limit and args.backend not in _TAKE_LIMIT and not getattr(cls, "takes_stack_limit", False):
            # a backend that cannot honour --limit refuses it, never ignores it
            raise UsageError(f"--limit does not apply to the {args.backend} backend")
    with collective(comm, "locking the output"):
        # one writer per --out: a second tuner (or a --resume of a live run) stops here,
        # told which process holds it; held until this process ends
        lock = _lock_output(args) if comm.rank == 0 else None
    nranks = args.ranks or comm.size
    if args.backend == "replay" and args.ranks is None:
        with collective(comm, "reading --replay-from"):
            # the recorded runs' rank count (the replay backend runs nothing here)
            nranks = recorded_nranks(args.replay_from) or nranks
    external = bool(getattr(cls, "discovers_sites", False))
    if external:          # a user's program: no kernel, its sites come from its first run
        args.kernel, args.size, args.param = "external", "", None
    request = RunRequest(args.kernel, args.size, tuple(sorted(parse_params(args.param).items())),
                         nranks, args.repeat)
    inline = args.backend == "inline"
    if inline and args.ranks not in (None, comm.size):
        with collective(comm, "checking the arguments"):
            raise UsageError("--ranks does not apply to the inline backend: it runs on this job's ranks")

    # the site table (and, inline, the kernel on every rank)
    with collective(comm, "setting up the kernel"):
        kernel = None
        if inline:
            backend = get_backend("inline", request, comm, stack_limit=limit)
            table, kernel = backend.table, backend.kernel
        elif comm.rank == 0 and not external:
            kernel, table = setup_kernel(MPI.COMM_SELF, args)
        else:
            table = None
        if kernel is not None:       # before tune.h5 is made (and, with several, any count runs)
            for k in args.snapshot_counts:
                check_time_loop(kernel, k)
    if not inline and comm.rank != 0:
        return 0     # the local and slurm backends drive runs from rank 0 alone

    error = None
    if comm.rank == 0:
        try:
            if len(args.snapshot_counts) == 1:
                args.snapshots = args.snapshot_counts[0]
                _drive(args, comm, request, budget, limit, table, backend if inline else None)
            else:
                _drive_pairs(args, comm, request, budget, limit, table, backend if inline else None)
        except PyharnessError as exc:
            error = str(exc)
        finally:
            if inline:
                backend.shutdown()
    elif inline:
        backend.serve()
    if inline:
        error = comm.bcast(error, root=0)
    if error is not None:
        raise PyharnessError(error)
    return 0


def _lock_output(args) -> OutputLock:
    lock = OutputLock(args.out, "tune").acquire()
    local = args.backend != "slurm"     # a job's writer on another node has a pid of its own
    outs = [Path(args.out)] + [_pair_out(args.out, k) for k in args.snapshot_counts]
    remove_stale_outputs(args.out, [d for o in outs
                                    for d in (Path(str(o) + ".steps"), Path(str(o) + ".profiles"))
                                    if d.is_dir() and (local or d.name.endswith(".steps"))])
    return lock


def _stem(out) -> str:
    """tune.h5 -> tune: the prefix of the files written next to the history."""
    return str(out)[:-3] if str(out).endswith(".h5") else str(out)


def _start_given_up(store: TuneStore) -> bool:
    """The history holds no step and no run in flight: its start was given up."""
    pending = store.pending() or {}
    return not store.committed_steps() and bool(pending.get("gave_up")) and not pending.get("job_id")


def _start_only_differs_in_budget(store: TuneStore, attrs: dict) -> bool:
    """The history holds its start only, and differs from this run in the budget alone:
    nothing recorded was decided under the budget (the start runs whatever it is), so
    a --resume may continue it with another (the advice when no configuration fits)."""
    if store.committed_steps() != {0} or (store.pending() or {}).get("job_id"):
        return False
    try:
        store.check_resume({**attrs, "budget": store.attrs().get("budget", attrs["budget"])})
    except UsageError:
        return False
    return True


def _pair_out(out: str, k: int) -> Path:
    return Path(f"{_stem(out)}.K{k}.h5")


def _write_choice(stem: str, cfg: Configuration, gran: DecisionUnits, kernel: str, header: str) -> None:
    """The chosen configuration as JSON and as Tapenade's -nocheckpoint callee list."""
    write_config_json(stem + ".config.json", cfg, kernel=kernel)
    write_name_list(stem + ".nocheckpoint.txt", cfg.nocheckpoint_callees(gran.table), header=header)


def _drive_pairs(args, comm, request, budget, limit, table, backend) -> None:
    """Tune once per snapshot count under one budget in bytes; report the best pair."""
    results, unconfirmed = [], []
    for i, k in enumerate(args.snapshot_counts):
        sub = argparse.Namespace(**vars(args))
        sub.snapshots = k
        sub.out = str(_pair_out(args.out, k))
        sub.resume = args.resume and Path(sub.out).exists()
        print(f"\n== snapshot count K={k}: tuning into {sub.out}", flush=True)
        st = _drive(sub, comm, request, budget, limit, table, backend, unreachable_ok=True)
        if getattr(sub, "unconfirmed", False):
            unconfirmed.append(k)
        if i == 0:
            # the same bytes for every count: the first count's start fixes a factor budget
            budget = Budget(nbytes=st.budget)
            args.budget = str(st.budget) + "B"
        results.append((k, sub.out, st))
    if unconfirmed:
        # --max-steps 0: every count's plan is a prediction (printed above); no pair was run
        print(f"\n--max-steps {args.max_steps}: the plans of snapshot counts "
              f"{', '.join(map(str, unconfirmed))} were solved, NOT RUN: no pair is chosen and "
              f"no configuration written ({_stem(args.out)}.config.json)")
        return
    _report_pairs(args, DecisionUnits(Granularity(args.granularity), table), results)


def _report_pairs(args, gran: DecisionUnits, results) -> None:
    rows = []
    for k, out, st in results:
        keys, best = st.chosen
        choice = _optimal_choice(TuneStore(out).records()) if args.method == "optimal" else None
        if choice is not None:       # the model's optimum, confirmed by its run
            keys, best = choice[0], choice[1]
        rows.append({"snapshots": k, "history": out, "start_wall": st.start.wall,
                     "start_peak": st.start.peak, "wall": best.wall, "peak": best.peak,
                     "within_budget": best.peak <= st.budget, "inhibited": sorted(keys),
                     "grad_digest": best.grad_digest})
    ref = results[0][2].start
    ok = [r for r in rows if r["within_budget"]]
    print(f"\npairs of (configuration, snapshot count) under {human_bytes(results[0][2].budget)}/rank:")
    print(f"  {'K':>3}  {'start wall':>11}  {'start peak':>11}  {'tuned wall':>11}  {'tuned peak':>11}  "
          f"{'inhibited':>9}  within")
    for r in rows:
        print(f"  {r['snapshots']:>3}  {human_time(r['start_wall']):>11}  {human_bytes(r['start_peak']):>11}  "
              f"{human_time(r['wall']):>11}  {human_bytes(r['peak']):>11}  {len(r['inhibited']):>9}  "
              f"{'yes' if r['within_budget'] else 'no'}")
    stem = _stem(args.out)
    best = min(ok, key=lambda r: r["wall"]) if ok else None
    summary = {"kernel": args.kernel, "budget_bytes": int(results[0][2].budget), "pairs": rows,
               "best": None if best is None else {"snapshots": best["snapshots"],
                                                   "inhibited": best["inhibited"]}}
    write_text_atomic(stem + ".pairs.json", json.dumps(summary, indent=1) + "\n", "pair table")
    if best is None:
        raise PyharnessError(f"no snapshot count reached the budget of {human_bytes(summary['budget_bytes'])} "
                             f"per rank (pairs in {stem}.pairs.json): raise --budget or try more "
                             "snapshot counts")
    digests = {r["grad_digest"] for r in rows}
    cfg = gran.config(best["inhibited"], best["snapshots"])
    _write_choice(stem, cfg, gran, args.kernel,
                  f"pyharness tune: callees to inhibit for {args.kernel} with "
                  f"{best['snapshots']} time-loop snapshots (budget {args.budget})")
    print(f"  best pair: K={best['snapshots']} with {len(best['inhibited'])} sites inhibited, "
          f"{human_time(best['wall'])}, speed-up {ref.wall / best['wall']:.2f}x over K="
          f"{results[0][0]} all checkpointed")
    print(f"  gradient {'bitwise identical for every pair' if len(digests) == 1 else 'DIFFERS between pairs'}")
    print(f"  configuration: {stem}.config.json   pairs: {stem}.pairs.json")


def _drive(args, comm, request, budget, limit, table, backend, unreachable_ok=False) -> TuneState:
    profile_dir = Path(str(args.out) + ".profiles")
    if table is None:
        # a user's program (command backend): its sites come from the run of the start
        # (step 0, every call checkpointed), which the loop then takes as its first step
        cls = type(backend) if backend is not None else None
        if backend is None:
            from .backends import backend_class
            cls = backend_class(args.backend)
            backend = cls.create(request, **cls.options_from_args(args))
        profile_dir.mkdir(exist_ok=True)
        print(f"pyharness.tune: {backend.describe()}: building and running the start (every call "
              f"checkpointed) to learn the sites", file=sys.stderr, flush=True)
        try:
            table = backend.site_table(str(profile_dir / "step_00000.h5"))
        except RunFailed as exc:
            raise PyharnessError(f"the starting configuration could not be run: {exc}") from None
        print(f"pyharness.tune: {len(table.site_names)} checkpoint sites over "
              f"{len(table.callee_names)} callees: {', '.join(table.callee_names)}",
              file=sys.stderr, flush=True)
    gran = DecisionUnits(Granularity(args.granularity), table)
    start = Configuration()
    if args.config:
        start = read_config_file(args.config, table)
    attrs = {"kernel": request.kernel, "size": request.size,
             "params": json.dumps(dict(request.params), sort_keys=True), "nranks": request.nranks,
             "strategy": args.strategy, "granularity": args.granularity, "budget": str(args.budget),
             "backend": args.backend, "tolerance": _greedy_tolerance(args), "flips": args.flips,
             "rounds": args.rounds,
             "start": json.dumps(start.to_json()), "snapshots": args.snapshots,
             "method": args.method, "repeat": request.repeat, "limit": int(limit),
             "command": " ".join(shlex.quote(a) for a in sys.argv)}
    if backend is None and args.backend == "replay":
        # before tune.h5 is made: a wrong --replay-from (no such file, another problem's
        # measurements) left an empty history that the corrected command refused to overwrite
        backend = get_backend("replay", request, source=args.replay_from, delay=args.replay_delay,
                              stack_limit=limit)
    store = TuneStore(args.out)
    if args.resume:
        try:
            store.check_resume(attrs)
        except UsageError:
            if _start_only_differs_in_budget(store, attrs):
                # a budget below every reachable peak stopped it after the start: the
                # corrected budget continues from the start's measurement
                print(f"pyharness.tune: {args.out} holds its start only (nothing was decided under "
                      f"budget {store.attrs().get('budget')}): continuing it with --budget {args.budget}",
                      file=sys.stderr, flush=True)
                store.update_attrs({"budget": attrs["budget"]})
            elif not _start_given_up(store):
                raise
            else:
                # nothing is recorded: the start failed, and its fix may be an option of the
                # history (a higher --limit, another --param); "--resume" runs the start again
                print(f"pyharness.tune: {args.out} holds no step (its start could not be run): "
                      "starting it again with this run's settings", file=sys.stderr, flush=True)
                store.create(attrs, gran.keys)
    else:
        store.create(attrs, gran.keys)
    if backend is None:
        if args.backend == "local":
            opts = dict(stack_limit=limit)
        elif args.backend == "slurm":
            opts = dict(partition=args.partition, account=args.account, time_limit=args.time_limit,
                        launcher=args.launcher, extra_args=tuple(args.sbatch_arg), store=store,
                        stack_limit=limit)
        else:        # any other backend (a plug-in's): the options it declared
            from .backends import backend_class
            cls = backend_class(args.backend)
            opts = cls.options_from_args(args, store=store)
        if limit and getattr(backend_class_of(args.backend), "takes_stack_limit", False):
            opts.setdefault("stack_limit", limit)
        backend = get_backend(args.backend, request, **opts)
    elif getattr(backend, "discovers_sites", False) and hasattr(backend, "store"):
        backend.store = store        # a batch job in flight is recorded in tune.h5 from here on
    profile_dir.mkdir(exist_ok=True)
    state = TuneState(strategy=Strategy(args.strategy), budget_spec=budget, tolerance=_greedy_tolerance(args),
                      flips_per_step=args.flips, keys=tuple(gran.keys))
    records = store.records()
    for rec in records:
        state = state.apply(rec)
    progress = None if args.no_progress else Progress(args.max_steps + 1, initial=state)
    loop = TuneLoop(state, backend, store, gran, profile_estimator(gran), profile_dir,
                    max_steps=args.max_steps, retries=args.retries, progress=progress,
                    snapshots=args.snapshots, guard=backend.gradient_guard(), rounds=args.rounds)
    if records:
        loop._note(f"resuming {args.out}: {len(records)} step(s) recorded, continuing at step {state.nsteps}")
    optimal = None
    if args.method == "optimal":
        optimal = OptimalStep(loop, args.granularity, args.solve_time_limit, note=loop._note,
                              tolerance=0.01 if args.tolerance is None else args.tolerance)
        optimal.attach()
    try:
        if not records:
            loop.run_start(gran.keys_of(start))
        elif optimal is not None:
            optimal.build_model(loop.state.start.profile)
        done = False
        if optimal is not None and optimal.model is None:
            optimal = None
        if optimal is not None:
            done = _optimal_phase(optimal, loop)
        final = loop.state if done else loop.run()
        if optimal is not None and optimal.unconfirmed is not None:
            # --max-steps 0: the plan was solved, not run: a prediction, no recommendation
            args.unconfirmed = True
            _report_unconfirmed(args, gran, final, optimal.unconfirmed)
            return final
    except BudgetUnreachable as exc:
        if not unreachable_ok:
            raise BudgetUnreachable(f"{exc}; {_budget_hint(args, loop.state)}") from None
        # one snapshot count of a pair search: the others may still reach the budget
        print(f"  K={args.snapshots}: {exc}", flush=True)
        return loop.state
    finally:
        if progress is not None:
            progress.close()
    over = _over_budget(args, final)
    if over:
        if not unreachable_ok:
            raise PyharnessError(over)
        print(f"  K={args.snapshots}: {over}", flush=True)
        return final
    _report(args, gran, final, optimal=optimal is not None, guard=loop.guard, cut_off=loop.cut_off)
    return final


def _over_budget(args, st: TuneState) -> str:
    """Why the loop's result cannot be the recommendation ('' when it fits the budget):
    it stopped at --max-steps with every measured configuration over the budget."""
    _, best = st.chosen
    if best is None or best.peak <= st.budget:
        return ""
    return (f"tuning stopped after {st.nsteps - 1} step(s) (--max-steps {args.max_steps}) still OVER "
            f"THE BUDGET: the lowest peak measured is {human_bytes(st.min_peak)} per rank, the budget "
            f"{human_bytes(st.budget)} per rank; no configuration is recommended ({_stem(args.out)}"
            f".config.json not written; every step is in {args.out}). Continue with --resume and a "
            f"larger --max-steps, or raise --budget with another --out")


def _budget_hint(args, st: TuneState) -> str:
    """How to go on with a larger --budget: --resume continues a history that holds its
    start only; one with steps decided under this budget needs another --out (a rerun
    was refused: the file exists, and its --resume: made with another budget)."""
    if st.nsteps <= 1:
        return (f"{args.out} holds the start's measurement: run the same command with --resume and "
                "the larger --budget to continue from it")
    return (f"the steps in {args.out} were decided under this budget: give the larger --budget "
            "with another --out")


def _greedy_tolerance(args) -> float:
    """--tolerance for the greedy loop's steps: 0 unless given (the spread decides)."""
    return 0.0 if args.tolerance is None else float(args.tolerance)


def _optimal_phase(optimal: "OptimalStep", loop: TuneLoop) -> bool:
    """Solve and run the choice unless tune.h5 already holds it. True: nothing left to do
    (with --max-steps 0 the plan is solved only: ``optimal.unconfirmed``). The choice's
    run and the second look each take a step of --max-steps (``OptimalStep.steps_left``);
    the greedy loop that may follow takes what is left."""
    done = [r for r in TuneStore(loop.store.path).records() if r.phase == "optimal"]
    if not done:
        return optimal.solve_and_run()
    first = done[0]
    ok = first.decision == "accepted" and "greedy" not in first.reason
    if ok and len(done) == 1:
        optimal.refine(first)       # stopped after the choice's run: the calibrated second look
    return ok


def _optimal_choice(records) -> tuple | None:
    """(inhibited units, measurement, prediction, every accepted optimal step) of the
    last accepted optimal step (the calibrated second choice when it was kept) among a
    history's ``records``, else None."""
    got = None
    accepted = []
    for r in records:
        if r.phase == "optimal" and r.decision == "accepted" and "greedy" not in r.reason:
            accepted.append(r)
            got = frozenset(r.inhibited), r.measurement, r.prediction
    if got is None:
        return None
    return got + (accepted,)


def _side_by_side(accepted, start_wall: float) -> tuple[float, str]:
    """The speed-up over the start from runs measured side by side: (ratio, how; how is
    '' when no step ran alternately). ``accepted``: the steps that made the chosen
    configuration current, in order, each judged against the one before (the optimal
    method's choice against the start, a kept calibrated second look against the first
    choice, each greedy step against its incumbent): their ratios (the medians of their
    runs when they were run alternately, else one run each) multiply. On a loaded
    machine one run each can say 0.6x of a choice that alternating runs found 1.6x
    faster."""
    ratio, parts, prev, prev_step = 1.0, [], start_wall, None
    for r in accepted:
        than = ("the first choice" if "calibrated_from" in (r.prediction or {})
                else "the start" if prev_step is None else f"step {prev_step}")
        if r.rounds_incumbent and r.rounds_candidate:
            v = compare_rounds(r.rounds_incumbent, r.rounds_candidate)     # the loop's medians
            inc, cand = v.incumbent_s, v.candidate_s
            parts.append(f"step {r.step}: median {human_time(cand)} against {than}'s {human_time(inc)}, "
                         f"{len(r.rounds_candidate)} and {len(r.rounds_incumbent)} run(s) alternately")
        else:
            inc, cand = prev, r.measurement.wall
        ratio *= inc / cand if cand > 0 else float("nan")
        prev, prev_step = r.measurement.wall, r.step
    if len(parts) > 3:          # a long greedy chain: the first and the last, and how many
        parts = [parts[0], f"... {len(parts) - 2} more step(s) ...", parts[-1]]
    return ratio, "; ".join(parts)


def _report_unconfirmed(args, gran: DecisionUnits, st: TuneState, plan) -> None:
    """--method optimal with no step left after the start (--max-steps 0): the start was
    profiled and the model solved, nothing else run. The plan is printed as what it is, a
    prediction; no configuration is written, since no run confirmed it."""
    cfg = gran.config(sorted(gran.keys_of(plan.config)), args.snapshots)
    stem = _stem(args.out)
    print(f"\ntuning stopped after the start (--max-steps {args.max_steps}): the model's choice "
          f"was solved but NOT RUN")
    print(f"  start      {human_time(st.start.wall)}  peak {human_bytes(st.start.peak)}/rank (measured, step 0)")
    print(f"  PREDICTED  {human_time(plan.predicted_time)}  peak {human_bytes(plan.peak)}/rank "
          f"(budget {human_bytes(st.budget)}/rank; {plan.status_text()}): NOT CONFIRMED by a run, "
          f"gradient not compared")
    print(f"  {len(cfg.inhibited)} of {len(gran.table.site_names)} sites inhibited in the predicted plan")
    print(f"  Tapenade (predicted plan, not confirmed): {cfg.tapenade_option(gran.table)}")
    print(f"  no configuration written ({stem}.config.json): run the plan with --resume "
          f"--max-steps 1 (or more) to measure it")
    print(f"  history: {args.out}")


def _report_guard(st: TuneState, stem: str, out, records) -> None:
    """Say plainly which configurations the gradient guard rejected and what must stay
    checkpointed; the callees go to STEM.keep-checkpointed.txt as well."""
    rejected = [r for r in records if r.grad_differs]
    if not rejected:
        return
    print(f"  {len(rejected)} configuration(s) CHANGED THE GRADIENT and were never chosen "
          f"(steps {', '.join(str(r.step) for r in rejected)}; reasons in {out}):")
    for r in rejected[:10]:
        print(f"    step {r.step}: {r.phase} {', '.join(r.flips)}: {r.grad_detail}")
    keep = st.must_stay_checkpointed
    if keep:
        write_name_list(stem + ".keep-checkpointed.txt", keep,
                        header="pyharness tune: callees whose inhibition changed the gradient; "
                               "they must stay checkpointed")
        print(f"  MUST STAY CHECKPOINTED (inhibiting them changed the gradient): {', '.join(keep)}"
              f"   (list in {stem}.keep-checkpointed.txt)")


def _report(args, gran: DecisionUnits, st: TuneState, optimal: bool = False, guard=None,
            cut_off: bool = False) -> None:
    best_keys, best = st.chosen
    records = TuneStore(args.out).records()       # read once for everything said below
    choice = _optimal_choice(records) if optimal else None
    side = None
    if choice is not None:       # confirmed by its run: the model's optimum, not the luckier sample
        best_keys, best, pred, side = choice
    elif best is st.current and best is not st.start:
        # the greedy loop's choice: the steps that made it current, each measured alternately
        # with the configuration before it (one run each is as noisy as for the optimal method)
        side = [r for r in records if r.decision == "accepted"]
    cfg = gran.config(sorted(best_keys), args.snapshots)
    table = gran.table
    stem = _stem(args.out)
    _write_choice(stem, cfg, gran, args.kernel, f"pyharness tune: callees to inhibit for {args.kernel} "
                                               f"(budget {args.budget}, strategy {args.strategy})")
    speedup = st.start.wall / best.wall if best.wall > 0 else float("nan")
    measured = ""
    if side is not None:
        # runs made alternately are what compares them: one run each can be far off
        ratio, how_measured = _side_by_side(side, st.start.wall)
        if how_measured:
            speedup = ratio
            measured = f"\n          (measured side by side: {how_measured})"
        else:
            measured = " (one run each)"
    if choice is not None:
        how = " (method optimal)"
    elif optimal and st.nsteps >= args.max_steps + 1 and not any(
            r.phase not in ("start", "optimal") for r in records):
        how = (f" (method optimal, its choice not kept; --max-steps {args.max_steps} left "
               "the greedy loop no step)")
    else:
        how = " (method optimal, then the greedy loop)" if optimal else ""
    print(f"\ntuning finished after {st.nsteps - 1} step(s), {st.nruns} run(s)" + how)
    if cut_off:
        print(f"  STOPPED BY --max-steps {args.max_steps} with flips still to try: continue with "
              f"--resume and a larger --max-steps")
    print(f"  start   {human_time(st.start.wall)}  peak {human_bytes(st.start.peak)}/rank")
    print(f"  chosen  {human_time(best.wall)}  peak {human_bytes(best.peak)}/rank "
          f"(budget {human_bytes(st.budget)}/rank)  speed-up {speedup:.2f}x{measured}")
    if choice is not None:
        print(f"  predicted {human_time(float(pred['time_s']))}  peak {human_bytes(int(max(pred['peak_bytes'])))}"
              f"/rank: measured peak equals the prediction on every rank "
              f"({pred.get('status', '')})")
        if "calibrated_from" in pred:
            print(f"  chosen by the model calibrated with step {int(pred['calibrated_from'])}'s run "
                  "(cold reverse per rank, ns per byte: "
                  f"{per_rank(np.atleast_1d(pred['cold_ns_per_byte']), lambda v: f'{v:.4f}', labels=False)}"
                  ") and measured faster than that step's choice")
    print(f"  {len(cfg.inhibited)} of {len(table.site_names)} sites inhibited")
    cmp = (guard or GradientGuard()).compare(st.start, best)
    if guard is not None and not guard.enabled:
        print("  WARNING: gradients NOT compared: the runs write no gradient file (--gradient-file); "
              "check the tuned configuration's gradient yourself")
    elif guard is not None and guard.rtol is not None:
        print(f"  {cmp.detail} (every measured configuration was compared)")
    elif cmp.same:
        print("  gradient bitwise identical to the start's (every measured configuration was compared)")
    else:     # cannot happen for a chosen configuration: the guard rejects it first
        print("  WARNING: the chosen configuration's gradient DIFFERS from the start's")
    _report_guard(st, stem, args.out, records)
    print(f"  configuration: {stem}.config.json")
    print(f"  Tapenade: {cfg.tapenade_option(table)}   (list in {stem}.nocheckpoint.txt)")
    partial = cfg.partially_inhibited_callees(table)
    if partial:
        print(f"  per-site $AD NOCHECKPOINT needed for callees inhibited at some sites only: "
              f"{', '.join(partial)}")
    print(f"  history: {args.out}")


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.tune", main))
