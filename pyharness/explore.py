"""Measure many configurations: random ones (seeded) or every one of a small tree.

Usage::

    mpiexec -n 2 python -m pyharness.explore --kernel streamice --samples 250 --out explore.h5
    python -m pyharness.explore --kernel calltree --param nsites=8 --exhaustive --backend local --ranks 2

Random sampling draws the number of inhibited sites uniformly, then the sites.
``--config FILE`` fixes a configuration every sample starts from (its sites stay
inhibited, the others are sampled) and ``--snapshots K`` runs every sample with
K time-loop snapshots, as in profile and tune. Each
measurement is appended to explore.h5 (copy + rename: a kill never tears it);
``--resume`` skips the samples already measured (same seed, same sequence). With
``--backend slurm`` all remaining samples go to Slurm at once as one job array of
jobs/profile-array.sbatch and are read back as they finish; the array is recorded in
explore.h5 before it may start, and ``--resume`` re-attaches to it (waits for its tasks
in flight, submits only the samples neither measured nor running).

Gradient guard: every sample's gradient is compared bitwise with the all-checkpointed
configuration's (a sample of its own, or a reference run in ``/reference``); each
sample gets ``grad_same``, and the callees inhibited only in configurations whose
gradient differs are reported as "must stay checkpointed".
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .backends import RunFailed, RunRequest, add_backend_arguments, backend_names, get_backend
from .backends.base import measurement_from_profile
from .binomial import check_time_loop
from .cli_common import (CONFIG_HELP, SNAPSHOTS_HELP, add_kernel_args, check_count, check_out_path,
                         config_from_args, parse_snapshots, refuse_unused_slurm_options, resume_hint,
                         setup_kernel)
from .config import Configuration, gradient_suspects, write_config_json
from .durable import OutputLock, remove_stale_outputs
from .errors import PyharnessError, UsageError
from .faults import stop_at
from .h5io import atomic_h5, decoded, open_h5, str_array
from .kernels import parse_params
from .mpiutil import collective, run_cli
from .tuner.store import relative_path

__all__ = ["sample_configurations", "main"]

MAX_EXHAUSTIVE = 14


def sample_configurations(sites: list[str], samples: int, seed: int, exhaustive: bool) -> list[tuple[str, ...]]:
    """The sequence of inhibited-site sets to measure (deterministic)."""
    if exhaustive:
        if len(sites) > MAX_EXHAUSTIVE:
            raise UsageError(f"--exhaustive on {len(sites)} sites means 2^{len(sites)} runs; "
                             f"use at most {MAX_EXHAUSTIVE} sites or random --samples")
        return [tuple(c) for k in range(len(sites) + 1) for c in itertools.combinations(sites, k)]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(samples):
        k = int(rng.integers(0, len(sites) + 1))
        out.append(tuple(sorted(rng.choice(sites, size=k, replace=False).tolist())))
    return out


def _append(path: Path, samples, snapshots: int = 0) -> None:
    """Add measured samples ``(index, inhibited, measurement, extra attrs)`` in one
    atomic rewrite of the file."""
    if not samples:
        return
    with atomic_h5(path, "explore", copy_from=path) as f:
        for index, inhibited, m, extra in samples:
            g = f["samples"].create_group(f"{index:06d}")
            g.attrs["inhibited"] = json.dumps(list(inhibited))
            g.attrs["profile"] = relative_path(m.profile, path)     # the file can move
            g.attrs["cost"] = m.cost
            g.attrs["grad_sha1"] = m.grad_digest
            g.attrs["snapshots"] = snapshots
            g.attrs["gradient_file"] = m.gradient_file
            for k, v in (extra or {}).items():
                g.attrs[k] = v
            g["wall_s"] = np.array(m.wall_s)
            g["cpu_s"] = np.array(m.cpu_s)
            g["peak_bytes"] = np.array(m.peak_bytes, dtype=np.int64)


class _Batch:
    """Samples measured but not yet in the file: written together at most every
    ``seconds`` (each write copies the file, so one per sample is quadratic), and
    always on the way out; a killed run loses at most those seconds of runs, which
    --resume measures again."""

    def __init__(self, path: Path, seconds: float = 2.0, snapshots: int = 0):
        self.path, self.seconds, self.snapshots = path, seconds, snapshots
        self.items: list = []
        self.last = time.monotonic()

    def add(self, index, inhibited, m, extra=None) -> None:
        self.items.append((index, inhibited, m, extra))
        if time.monotonic() - self.last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        _append(self.path, self.items, self.snapshots)
        if self.items:
            stop_at("sample-written")
        self.items = []
        self.last = time.monotonic()


def _done(path: Path) -> set[int]:
    with open_h5(path, ("explore",)) as f:
        return {int(n) for n in f["samples"]}


def main(argv=None) -> int:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    ap = argparse.ArgumentParser(prog="python -m pyharness.explore", description=__doc__.split("\n")[0],
                                 epilog="A backend's own options: --backend NAME --help.")
    add_kernel_args(ap)
    ap.add_argument("--samples", type=int, default=None,
                    help="random configurations to measure (default 250; each is a run)")
    ap.add_argument("--exhaustive", action="store_true", help="every configuration (small trees only)")
    ap.add_argument("--seed", type=int, default=0, help="of the random samples (default 0)")
    choices = [b for b in backend_names() if b != "replay"]
    ap.add_argument("--backend", default="inline", choices=choices,
                    help="where each configuration runs (default inline: this MPI job); slurm: all "
                         "of them as one job array of jobs/profile-array.sbatch")
    ap.add_argument("--ranks", type=int, default=None, help="ranks per run (local, slurm)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="repeat every run N times and keep the fastest (default 1)")
    ap.add_argument("--out", default="explore.h5", help="the exploration (default explore.h5)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the exploration in --out: measure only what it lacks")
    ap.add_argument("--time-limit", help="slurm: per array task (default 00:30:00)")
    ap.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                    help="slurm: extra sbatch argument, e.g. --sbatch-arg=--partition=P "
                         "(repeatable; the partition and account go this way)")
    ap.add_argument("--max-parallel", type=int,
                    help="slurm: array tasks running at once (sbatch --array=...%%N; default 1)")
    ap.add_argument("--config", metavar="FILE",
                    help="the configuration every sample starts from (its sites stay inhibited): "
                         + CONFIG_HELP)
    ap.add_argument("--snapshots", default=None, metavar="K",
                    help=SNAPSHOTS_HELP + "; overrides the configuration file's")
    cls = add_backend_arguments(ap, sys.argv[1:] if argv is None else argv, choices=choices)
    args = ap.parse_args(argv)
    external = bool(getattr(cls, "discovers_sites", False))
    if external:          # a user's program: no kernel, its sites come from its first run
        args.kernel, args.size, args.param = "external", "", None
    out = Path(args.out)
    with collective(comm, "checking the arguments"):
        if args.exhaustive and args.samples is not None:
            # --exhaustive measured every configuration whatever --samples said
            raise UsageError(f"--samples {args.samples} and --exhaustive: --exhaustive measures every "
                             "configuration (2^sites runs); give one of them")
        args.samples = 250 if args.samples is None else args.samples
        check_count("--samples", args.samples, 1)
        check_count("--seed", args.seed, 0)
        check_count("--ranks", args.ranks, 1, "ranks per run")
        check_count("--repeat", args.repeat, 1)
        check_count("--max-parallel", args.max_parallel, 1)
        refuse_unused_slurm_options(args, [o for o, v in (
            ("--time-limit", args.time_limit), ("--sbatch-arg", args.sbatch_arg),
            ("--max-parallel", args.max_parallel)) if v])
        args.time_limit = args.time_limit or "00:30:00"
        args.max_parallel = args.max_parallel or 1
        check_out_path(out, args.resume, what="exploration")
        if args.snapshots is not None:
            parse_snapshots(args.snapshots)
        if external and (args.config or args.snapshots not in (None, "0")):
            raise UsageError(f"--config/--snapshots: the {args.backend} backend runs your program as it "
                             "is built, starting from every call checkpointed")
    with collective(comm, "locking the output"):
        # one writer per --out, named when refused; then what killed writers left
        lock = OutputLock(out, "exploration").acquire() if comm.rank == 0 else None
        if comm.rank == 0:
            pdir = Path(str(out) + ".profiles")
            remove_stale_outputs(out, [pdir] if pdir.is_dir() and args.backend != "slurm" else [])
    inline = args.backend == "inline"
    request = RunRequest(args.kernel, args.size, tuple(sorted(parse_params(args.param).items())),
                         args.ranks or comm.size, args.repeat)
    with collective(comm, "setting up the kernel"):
        kernel = None
        if inline:
            backend = get_backend("inline", request, comm)
            table, kernel = backend.table, backend.kernel
        elif comm.rank == 0 and not external:
            kernel, table = setup_kernel(MPI.COMM_SELF, args)
        else:
            table = None
    if not inline and comm.rank != 0:
        return 0
    error = None
    if comm.rank == 0:
        try:
            backend_ = backend if inline else None
            if external:
                # the sites come from the all-checkpointed run, which is the gradient's reference
                backend_ = cls.create(request, **cls.options_from_args(args))
                pdir = Path(str(out) + ".profiles")
                pdir.mkdir(exist_ok=True)
                ref = pdir / "reference.h5"
                try:
                    table = backend_.site_table(str(ref))
                except RunFailed as exc:
                    raise PyharnessError(f"the all-checkpointed configuration could not be run: {exc}") \
                        from None
            base = config_from_args(args, table)
            if kernel is not None:
                # before explore.h5 is made: every sample failed, and the corrected --param
                # was refused on --resume as another problem
                check_time_loop(kernel, base.snapshots)
            _drive(args, request, table, backend_, out, base)
        except PyharnessError as exc:
            error = str(exc)
        finally:
            if inline:
                backend.shutdown()
    elif inline:
        backend.serve()
    if inline:
        error = comm.bcast(error, root=0)
    if error:
        raise PyharnessError(error)
    return 0


def _resume_hint(key: str, have, backend: str = "") -> str:
    """The option that continues an exploration recorded with ``key`` = ``have``."""
    have = decoded(have)
    shared = resume_hint(key, have, backend)
    if shared is not None:
        return shared
    if key == "exhaustive":
        return "pass --exhaustive" if str(have) == "True" else "pass no --exhaustive"
    return f"pass --{key} {have}"


def _drive(args, request, table, backend, out: Path, base: Configuration) -> None:
    # a backend that cannot switch single sites (command: -nocheckpoint is per callee)
    # samples callees: a callee name inhibits all its sites
    per_callee = getattr(backend, "granularity", None) is not None
    units = table.callee_names if per_callee else table.site_names
    free = [n for n in units if n not in base.inhibited]
    configs = [tuple(sorted(base.inhibited | set(c)))
               for c in sample_configurations(free, args.samples, args.seed, args.exhaustive)]
    attrs = {"kernel": request.kernel, "size": request.size, "params": json.dumps(dict(request.params)),
             "backend": args.backend, "units": "callee" if per_callee else "site",
             "nranks": request.nranks, "seed": args.seed, "exhaustive": bool(args.exhaustive),
             "samples": len(configs), "start": json.dumps(base.to_json()),
             "snapshots": base.snapshots}
    if args.resume:
        defaults = {"start": json.dumps(Configuration().to_json()), "snapshots": 0}   # older files
        with open_h5(out, ("explore",)) as f:
            for k in ("kernel", "size", "params", "nranks", "seed", "exhaustive", "start", "snapshots"):
                have = f.attrs.get(k, defaults.get(k))
                if str(have) != str(attrs[k]):
                    raise UsageError(f"cannot resume {out}: made with {k}={have}, this run has {attrs[k]}; "
                                     f"{_resume_hint(k, have, args.backend)} to continue it, or another --out to "
                                     "start a new exploration")
    else:
        with atomic_h5(out, "explore", attrs) as f:
            f.create_group("samples")
            f["sites"] = str_array(table.site_names)
            if per_callee:
                f["callees"] = str_array(table.callee_names)
    done = _done(out)
    todo = [i for i in range(len(configs)) if i not in done]
    pdir = Path(str(out) + ".profiles")
    pdir.mkdir(exist_ok=True)
    from tqdm import tqdm
    bar = tqdm(total=len(configs), initial=len(done), unit="run", file=sys.stderr, disable=None)
    if args.backend == "slurm":
        _slurm_array(args, request, configs, todo, pdir, out, bar, base.snapshots)
    else:
        if backend is None:
            backend = get_backend(args.backend, request)
        if () not in configs and _reference(out) is None:
            # no all-checkpointed sample: measure it once, as the gradient's reference
            m = backend.run(Configuration(), str(pdir / "reference.h5"), label="reference")
            with atomic_h5(out, "explore", copy_from=out) as f:
                g = f.create_group("reference")
                g.attrs["inhibited"] = "[]"
                g.attrs["profile"] = relative_path(m.profile, out)
                g.attrs["cost"] = m.cost
                g.attrs["grad_sha1"] = m.grad_digest
                g.attrs["gradient_file"] = m.gradient_file
        batch = _Batch(out, snapshots=base.snapshots)
        try:
            for i in todo:
                cfg = Configuration.from_names(table, configs[i], base.snapshots)
                if per_callee:      # the sites of those callees, recorded by name
                    configs[i] = tuple(sorted(cfg.inhibited))
                try:
                    m = backend.run(cfg, str(pdir / f"sample_{i:06d}.h5"), label=f"sample {i}")
                except RunFailed as exc:
                    bar.write(f"sample {i}: run failed ({exc.state}): {exc}")
                    continue
                batch.add(i, configs[i], m)
                bar.update(1)
        finally:
            batch.flush()
    bar.close()
    done = _done(out)
    measured = len([i for i in done if i < len(configs)])
    more = len(done) - measured      # a --resume with fewer --samples: 'measured 5 of 2'
    print(f"{measured} of {len(configs)} configurations measured in {out}"
          + (f" (and {more} more, of an earlier run with more --samples)" if more else ""))
    if measured < len(configs):
        # the failed samples are not recorded: a resume measures them (and only them)
        msg = (f"{len(configs) - measured} configuration(s) failed (see above): fix the cause and run "
               "the same command with --resume to measure them")
        if not measured:
            raise PyharnessError(f"no configuration could be measured; {msg}")
        print(msg, file=sys.stderr)
    guard = backend.gradient_guard() if backend is not None else None
    _guard_gradients(out, guard)


def _reference(out: Path):
    """(grad_sha1, cost, gradient file) of the all-checkpointed configuration, or None if
    not measured."""
    with open_h5(out, ("explore",)) as f:
        if "reference" in f:
            a = f["reference"].attrs
            return str(a["grad_sha1"]), float(a["cost"]), str(a.get("gradient_file", ""))
        for name in sorted(f["samples"]):
            a = f["samples"][name].attrs
            if json.loads(a["inhibited"]) == []:
                return str(a["grad_sha1"]), float(a["cost"]), str(a.get("gradient_file", ""))
    return None


def _guard_gradients(out: Path, guard=None) -> None:
    """Mark every sample grad_same against the all-checkpointed gradient (bitwise, or
    the backend's guard: a user's program's gradient files to a tolerance) and say
    plainly which configurations changed the gradient."""
    from types import SimpleNamespace
    from .tuner.guard import GradientGuard
    guard = guard or GradientGuard()
    ref = _reference(out)
    if ref is None:
        print("gradient guard: the all-checkpointed configuration was not measured; "
              "gradients not compared")
        return
    if not guard.enabled:
        print("gradient guard: gradients NOT compared: the runs write no gradient file (--gradient-file)")
        return
    rec = lambda digest, cost, path: SimpleNamespace(grad_digest=digest, cost=cost, gradient_file=path,
                                                     profile="")
    ref_m = rec(*ref)
    differ, same = [], []
    with atomic_h5(out, "explore", copy_from=out) as f:
        for name in sorted(f["samples"]):
            a = f["samples"][name].attrs
            if guard.rtol is None:       # bitwise, without opening any profile
                ok = str(a["grad_sha1"]) == ref[0] and float(a["cost"]) == ref[1]
            else:
                cmp = guard.compare(ref_m, rec(str(a["grad_sha1"]), float(a["cost"]),
                                               str(a.get("gradient_file", ""))))
                ok = cmp.same
                a["grad_rel_diff"] = cmp.rel_diff
            a["grad_same"] = ok
            (same if ok else differ).append((name, json.loads(a["inhibited"])))
        f.attrs["grad_reference_sha1"] = ref[0]
        f.attrs["grad_compare"] = guard.mode
    how = "bitwise" if guard.rtol is None else f"within {guard.rtol:g} of"
    if not differ:
        print(f"gradient guard: every configuration's gradient is {how} the all-checkpointed one's")
        return
    suspects = gradient_suspects((inh for _, inh in differ), (inh for _, inh in same))
    print(f"gradient guard: {len(differ)} of {len(differ) + len(same)} configurations CHANGED THE "
          f"GRADIENT (grad_same=False in {out}; samples {', '.join(n for n, _ in differ[:10])}"
          f"{', ...' if len(differ) > 10 else ''})")
    if suspects:
        print(f"  MUST STAY CHECKPOINTED (inhibited only in configurations whose gradient differs): "
              f"{', '.join(suspects)}")


def _array_name(out: Path) -> str:
    """The job name of this exploration's arrays (one per --out)."""
    import hashlib
    return "pyharness-explore-" + hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:12]


def _arrays(out: Path) -> dict[str, list[int]]:
    """The job arrays recorded in explore.h5: job id -> its sample indices."""
    with open_h5(out, ("explore",)) as f:
        if "arrays" not in f:
            return {}
        return {jid: json.loads(g.attrs["samples"]) for jid, g in f["arrays"].items()}


def _record_array(out: Path, job: str, samples) -> None:
    with atomic_h5(out, "explore", copy_from=out) as f:
        g = f.require_group("arrays").create_group(str(job))
        g.attrs["samples"] = json.dumps(sorted(int(i) for i in samples))


def _slurm_array(args, request, configs, todo, pdir: Path, out: Path, bar, snapshots: int = 0) -> None:
    """Measure the samples ``todo`` as Slurm job arrays, re-attaching to the arrays an
    earlier, killed driver submitted: each array is recorded in explore.h5 (``/arrays``)
    before it may start (submitted held, recorded, released), and ``--resume`` waits for
    its tasks still pending or running, collects the ones that finished meanwhile, and
    submits only the samples that are neither measured nor in flight."""
    import subprocess
    from .backends.slurm import FINAL_STATES, job_script, job_state, log_reason, release_failure
    from .backends.slurm import _complete_profile
    name = _array_name(out)
    recorded = _arrays(out)
    # an array submitted (held) but never recorded - a kill in that window - never ran: cancel it
    q = subprocess.run(["squeue", "-h", f"--name={name}", "-o", "%A"], capture_output=True, text=True)
    for jid in sorted(set(q.stdout.split()) - set(recorded)) if q.returncode == 0 else []:
        subprocess.run(["scancel", jid], capture_output=True)
        bar.write(f"cancelled job array {jid}: submitted by a killed driver before it was recorded; "
                  "it never started")
    waiting: dict[int, str] = {}          # sample -> its array task in flight
    todo = list(todo)
    for jid, samples in recorded.items():
        subprocess.run(["scontrol", "release", jid], capture_output=True)   # held at a kill
        for i in samples:
            if i not in todo:
                continue
            state, _, _ = job_state(f"{jid}_{i}")
            final = state is not None and state.split()[0] in FINAL_STATES
            prof = pdir / f"profile_{i}.h5"
            if state is not None and not final:
                waiting[i] = f"{jid}_{i}"
            elif (state is None or state.split()[0] == "COMPLETED") and _complete_profile(prof):
                waiting[i] = f"{jid}_{i}"            # finished while no driver ran: read it below
    if waiting:
        bar.write(f"re-attached to {len(waiting)} sample(s) of job array(s) "
                  f"{', '.join(sorted({t.split('_')[0] for t in waiting.values()}))}")
    submit = [i for i in todo if i not in waiting]
    if submit:
        for i in submit:
            write_config_json(pdir / f"config_{i}.json", Configuration(frozenset(configs[i]), snapshots))
            prof = pdir / f"profile_{i}.h5"
            if prof.exists():
                prof.unlink()
        env = dict(os.environ)
        env.update({"PYHARNESS_CONFIG_DIR": str(pdir.resolve()), "PYHARNESS_OUT_DIR": str(pdir.resolve()),
                    "PYHARNESS_KERNEL": request.kernel, "PYHARNESS_SIZE": request.size,
                    "PYHARNESS_PARAMS": ",".join(f"{k}={v}" for k, v in request.params),
                    # every variable profile.sbatch reads that explore decides (never the
                    # caller's environment: sbatch passes it on)
                    "PYHARNESS_REPEAT": str(request.repeat), "PYHARNESS_LIMIT": "",
                    "PYHARNESS_VENV": str(Path(sys.executable).parent.parent),
                    "PYHARNESS_JOBS_DIR": str(job_script("profile.sbatch").parent)})
        cmd = ["sbatch", "--parsable", "--hold", f"--job-name={name}",
               f"--array={','.join(map(str, submit))}%{max(1, args.max_parallel)}",
               f"--ntasks={request.nranks}",
               f"--time={args.time_limit}", f"--output={pdir.resolve()}/array-%A_%a.out", *args.sbatch_arg,
               str(job_script("profile-array.sbatch"))]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise PyharnessError(f"sbatch refused the job array: {p.stderr.strip()}")
        job = p.stdout.strip().split(";")[0]
        stop_at("array-submitted")
        _record_array(out, job, submit)      # before it can start: a resume finds it
        r = subprocess.run(["scontrol", "release", job], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["scancel", job], capture_output=True)
            raise PyharnessError(release_failure(job, r.stderr, f"--ranks {request.nranks}, --time-limit "
                                                 f"{args.time_limit} and --sbatch-arg"))
        waiting.update({i: f"{job}_{i}" for i in submit})
    delay = 0.5
    unknown: dict[int, int] = {}
    batch = _Batch(out, seconds=0.0, snapshots=snapshots)      # one write per polling round
    while waiting:
        for i in sorted(waiting):
            task = waiting[i]
            state, code, _ = job_state(task)
            prof = pdir / f"profile_{i}.h5"
            unknown[i] = unknown.get(i, 0) + 1 if state is None else 0
            done = state is not None and state.split()[0] == "COMPLETED" and prof.exists()
            if done or (state is None and _complete_profile(prof)):
                batch.items.append((i, configs[i], measurement_from_profile(str(prof)),
                                    {"job_id": task}))
                del waiting[i]
                bar.update(1)
            elif unknown[i] >= 5 or (state is not None and state.split()[0] in FINAL_STATES):
                log = pdir / f"array-{task}.out"
                why = log_reason(log)
                bar.write(f"sample {i}: job {task} ended {state or 'UNKNOWN'} (exit code {code})"
                          + (f": {why}" if why else "") + f" (log {log})")
                del waiting[i]
        batch.flush()
        if waiting:
            time.sleep(delay)
            delay = min(10.0, delay * 1.5)


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.explore", main))
