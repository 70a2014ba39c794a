"""command: tune a user's own adjoint (a Tapenade build) by rebuilding and running it.

Tapenade has no run-time switch: a configuration is a rebuild with
``-nocheckpoint "a b c"``. Each run of this backend:

1. writes the configuration as Tapenade's ``-nocheckpoint`` list (one lower-case
   callee per line, ``STEP.d/nocheckpoint.txt``): decisions are per callee;
2. runs the user's ``--build`` template through the shell in ``--workdir``, with
   ``{nocheckpoint}`` (the names, space-separated), ``{nocheckpoint_file}`` (that
   file), ``{step}`` (the run's name: step_00003, sample_000012, ...) and
   ``{step_dir}`` filled in;
3. runs the user's ``--run`` command (the same placeholders) on ``--ranks`` ranks,
   under ``mpiexec`` or as a Slurm job (``--run-on slurm``: the slurm backend's
   submission, wait and re-attachment on ``--resume``), with
   ``PYHARNESS_PROFILE=STEP.d/traces``;
4. ingests the per-rank traces into the run's profile.h5 (kernel ``external``);
   with ``--gradient-file``, keeps the gradient the run wrote (``STEP.d/gradient.*``)
   for the gradient guard.

A build or a run that fails is a :class:`RunFailed` carrying the last lines of its
output (the whole output in ``STEP.d/build.log`` / ``run.log``); a failed build is
not retried. docs/COMMAND.md has the whole story and the example project
(examples/tapenade-project).

Example
-------
::

    python -m pyharness.tune --backend command --ranks 2 --budget 2x \\
        --build 'make NOCHECKPOINT="{nocheckpoint}"' --run ./adjoint \\
        --gradient-file gradient.txt --out tune.h5
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
import shutil
import string
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..config import Configuration, SiteTable, profile_listing, write_name_list
from ..errors import UsageError
from ..vocabulary import Granularity
from .base import Backend, Measurement, RunFailed, RunRequest, measurement_from_profile, mpiexec_env

__all__ = ["CommandBackend", "PLACEHOLDERS", "output_tail", "table_from_profile"]

#: what --build and --run may name, and what each becomes
PLACEHOLDERS = {
    "nocheckpoint": "the callees to inhibit, lower case, separated by spaces (Tapenade's "
                    "-nocheckpoint \"...\" list; empty when every call is checkpointed)",
    "nocheckpoint_file": "absolute path of the same list as a file, one name per line",
    "step": "the run's name (step_00003 in tune, sample_000012 in explore)",
    "step_dir": "absolute path of the run's own directory (STEP.d next to its profile)",
}
TAIL_LINES = 15


def output_tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last non-empty lines of a command's output, indented for an error message."""
    body = [l.rstrip() for l in text.splitlines() if l.strip()]
    shown = body[-lines:] or ["(no output)"]
    return "\n".join("    | " + l[:300] for l in shown)


def _check_template(what: str, template: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise UsageError(f"{what} {template!r} is not a valid template ({exc}); write literal braces "
                         "as {{ and }}") from None
    unknown = sorted({f for f in fields if f not in PLACEHOLDERS})
    if unknown:
        raise UsageError(f"{what} names unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
                         f"known: {', '.join('{' + k + '}' for k in PLACEHOLDERS)}")


def table_from_profile(path: str) -> SiteTable:
    """The site table of a profile.h5 (its locations)."""
    from ..h5io import open_h5, read_str
    with open_h5(path, ("profile",)) as f:
        g = f["locations"]
        return SiteTable(tuple(read_str(g["name"])), tuple(read_str(g["callee"])),
                         tuple(bool(x) for x in g["is_site"][()]), profile_listing(path))


def _digest(values: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


class CommandBackend(Backend):
    """A user's own program (a Tapenade adjoint), rebuilt per configuration with --build and run with --run."""

    name = "command"
    discovers_sites = True
    granularity = Granularity.CALLEE

    def __init__(self, request: RunRequest, build: str, run: str, gradient_file: str = "",
                 gradient_rtol: float = 1e-10, workdir: str = ".", run_on: str = "local",
                 mpiexec: str = "mpiexec", mpiexec_args: tuple[str, ...] = (),
                 build_timeout: float = 3600.0, run_timeout: float = 3600.0,
                 slurm: dict | None = None, store=None):
        super().__init__(request)
        if not build or not run:
            raise UsageError("the command backend needs --build TEMPLATE (how to rebuild the adjoint "
                             "for a -nocheckpoint list, e.g. --build 'make NOCHECKPOINT=\"{nocheckpoint}\"') "
                             "and --run COMMAND (the adjoint, e.g. --run ./adjoint)")
        _check_template("--build", build)
        _check_template("--run", run)
        if not shlex.split(run.format(**{k: "x" for k in PLACEHOLDERS})):
            raise UsageError("--run is empty: give the command that runs the adjoint")
        self.workdir = Path(workdir).resolve()
        if not self.workdir.is_dir():
            raise UsageError(f"--workdir {workdir}: no such directory")
        if gradient_rtol is not None and not gradient_rtol >= 0:
            raise UsageError("--gradient-rtol must be >= 0")
        if run_on not in ("local", "slurm"):
            raise UsageError("--run-on must be local or slurm")
        self.build = build
        self.run_cmd = run
        self.gradient_file = gradient_file
        self.gradient_rtol = gradient_rtol
        self.run_on = run_on
        self.mpiexec = mpiexec
        self.mpiexec_args = tuple(mpiexec_args)
        self.build_timeout = build_timeout
        self.run_timeout = run_timeout
        self.table: SiteTable | None = None
        from ..watchdog import clean_stale_run_dirs
        # builds and runs of a killed driver whose watchdog was killed too go before we start
        clean_stale_run_dirs()
        self.last_job_id = ""
        self._first: tuple[str, Measurement] | None = None
        self.slurm = None
        if run_on == "slurm":
            from .slurm import SlurmBackend
            self.slurm = SlurmBackend(request, store=store, **(slurm or {}))
        elif request.nranks < 1:
            raise UsageError("--ranks must be at least 1")

    # ------------------------------------------------------------ options
    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--build", metavar="TEMPLATE",
                           help="shell command that rebuilds the adjoint for one configuration, run in "
                                "--workdir; placeholders: " + "; ".join(f"{{{k}}} {v}" for k, v in PLACEHOLDERS.items()))
        group.add_argument("--run", dest="run_command", metavar="COMMAND",
                           help="the adjoint's command line (same placeholders), started on --ranks ranks "
                                "by mpiexec (or a Slurm job) in --workdir with PYHARNESS_PROFILE set")
        group.add_argument("--gradient-file", metavar="PATH", default="",
                           help="file the run writes its gradient to (relative to --workdir): plain text, "
                                "one or more reals per line, # comments, or a .npy array; compared with "
                                "the start's (--gradient-rtol). Without it gradients are not compared")
        group.add_argument("--gradient-rtol", type=float, default=1e-10, metavar="R",
                           help="a gradient is the start's when max|g - g0| <= R * max|g0| "
                                "(default 1e-10; 0: identical values)")
        group.add_argument("--workdir", default=".", metavar="DIR",
                           help="where --build and --run are run (default: the current directory)")
        group.add_argument("--run-on", default="local", choices=["local", "slurm"],
                           help="local: mpiexec -n RANKS (default); slurm: an sbatch job per run "
                                "(tune's slurm options: --partition, --account, --time-limit, "
                                "--launcher, --sbatch-arg; explore takes --sbatch-arg, its jobs "
                                "start with srun --mpi=pmix)")
        group.add_argument("--mpiexec", default="mpiexec", metavar="CMD",
                           help="MPI launcher of local runs (default mpiexec)")
        group.add_argument("--mpiexec-arg", action="append", default=[], metavar="ARG",
                           help="extra launcher argument, e.g. --mpiexec-arg=--bind-to=none (repeatable)")
        group.add_argument("--build-timeout", type=float, default=3600.0, metavar="S",
                           help="seconds a build may take (default 3600)")
        group.add_argument("--run-timeout", type=float, default=3600.0, metavar="S",
                           help="seconds a local run may take (default 3600)")

    @classmethod
    def options_from_args(cls, args, **context) -> dict:
        slurm = {}
        for key, attr in (("partition", "partition"), ("account", "account"),
                          ("time_limit", "time_limit"), ("launcher", "launcher")):
            if getattr(args, attr, None) is not None:
                slurm[key] = getattr(args, attr)
        if getattr(args, "sbatch_arg", None):
            slurm["extra_args"] = tuple(args.sbatch_arg)
        return dict(build=args.build, run=args.run_command, gradient_file=args.gradient_file,
                    gradient_rtol=args.gradient_rtol, workdir=args.workdir, run_on=args.run_on,
                    mpiexec=args.mpiexec, mpiexec_args=tuple(args.mpiexec_arg),
                    build_timeout=args.build_timeout, run_timeout=args.run_timeout, slurm=slurm,
                    store=context.get("store"))

    def describe(self) -> str:
        where = "an sbatch job" if self.run_on == "slurm" else f"{self.mpiexec} -n {self.request.nranks}"
        return f"command (rebuild with --build, run with {where})"

    @property
    def store(self):
        return self.slurm.store if self.slurm is not None else None

    @store.setter
    def store(self, value) -> None:
        if self.slurm is not None:
            self.slurm.store = value

    # ------------------------------------------------------------ gradients
    def gradient_guard(self):
        from ..tuner.guard import GradientGuard
        if not self.gradient_file:
            return GradientGuard(compare=False)
        return GradientGuard(rtol=self.gradient_rtol)

    # ------------------------------------------------------------ the site table
    def site_table(self, profile_path: str) -> SiteTable:
        """The sites of the user's program, from the run with every call checkpointed
        (Tapenade's default: an inhibited callee leaves no trace, so only that run
        shows every site). Reads ``profile_path`` when it exists (resume); otherwise
        builds and runs that configuration there and keeps its measurement for the
        first :meth:`run` of the same configuration and path."""
        if not os.path.exists(profile_path):
            self._first = (str(profile_path), self._run(Configuration(), str(profile_path), [], "start"))
        table = table_from_profile(str(profile_path))
        if not table.site_names:
            raise UsageError(f"the program recorded no checkpoint site ({profile_path}): is it a Tapenade "
                             "adjoint built with -profile (ADPROFILEADJ_* calls) and linked with "
                             "$(pyharness-config --libs)?")
        bad = [c for c in table.callee_names if not c.replace("_", "").isalnum()]
        if bad:
            raise UsageError(f"callee name(s) {bad[:5]} are not Fortran names: they cannot go into a "
                             "-nocheckpoint list")
        self.table = table
        return table

    # ------------------------------------------------------------ one run
    def run(self, config: Configuration, profile_path: str, label: str = "") -> Measurement:
        if self._first is not None and self._first[0] == str(profile_path) and not config.inhibited:
            m, self._first = self._first[1], None
            return m
        if self.table is None:
            raise UsageError("the command backend's site table is not known yet: call site_table() first")
        partial = config.partially_inhibited_callees(self.table)
        if partial:
            raise UsageError(f"callee(s) {', '.join(partial)} are inhibited at some sites only: "
                             "-nocheckpoint is per callee (use --granularity callee)")
        return self._run(config, str(profile_path), config.nocheckpoint_callees(self.table), label)

    def _env(self) -> dict:
        env = dict(os.environ)
        # pyharness-config of the pyharness that drives the runs comes first on PATH
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.pop("PYHARNESS_PROFILE", None)
        return env

    def _run(self, config: Configuration, profile_path: str, names: list[str], label: str) -> Measurement:
        from ..ingest import TraceFileError, ingest
        out = Path(profile_path)
        d = out.with_suffix(".d")
        listfile = d / "nocheckpoint.txt"
        pending = self.store.pending() if self.store is not None else None
        # resumed: a job in flight (a pending record without one lists failed attempts only)
        attach = bool(pending) and bool(pending.get("job_id")) and bool(pending.get("profile")) \
            and os.path.abspath(pending["profile"]) == os.path.abspath(out)
        if not attach:
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            write_name_list(listfile, names, header=f"pyharness: -nocheckpoint list of {out.stem}")
        fields = {"nocheckpoint": " ".join(n.lower() for n in names),
                  "nocheckpoint_file": str(listfile.resolve()), "step": out.stem,
                  "step_dir": str(d.resolve())}
        self.last_job_id = ""
        grad = self.workdir / self.gradient_file if self.gradient_file else None
        if not attach:
            self._build(self.build.format(**fields), d / "build.log", out.stem)
            if grad is not None and grad.exists():
                grad.unlink()         # never take the previous run's gradient for this one's
        # ---- run
        traces = d / "traces"
        run = self.run_cmd.format(**fields)
        if self.slurm is not None:
            self._run_slurm(run, traces, d, out, label)
        else:
            self._run_local(run, traces, d / "run.log", out)
        # ---- traces -> profile.h5, and the gradient
        if not (traces.is_dir() and any(traces.glob("pyharness.*.phtrace"))):
            # ingest's own advice (run with PYHARNESS_PROFILE) is what was just done
            raise RunFailed(f"the run of {out.stem} wrote no trace ({run} ran with PYHARNESS_PROFILE="
                            f"{traces}): link the program against the pyharness runtime in place of "
                            "Tapenade's adStack.c and adProfile.c ($(pyharness-config --libs)) and "
                            "generate its adjoint with tapenade -profile; each rank writes its trace at "
                            "adprofileadj_showprofiles and at normal exit (docs/COMMAND.md)",
                            state="NO_TRACES")
        try:
            # the build inhibited these: its traces cannot show them, the profile must
            ingest(traces, out, command=run, inhibited_sites=sorted(config.inhibited))
        except TraceFileError as exc:
            raise RunFailed(f"the run of {out.stem} left no usable traces: {exc}", state="NO_TRACES") from None
        m = measurement_from_profile(str(out))
        if grad is None:
            return m
        if not grad.exists():
            raise RunFailed(f"the run of {out.stem} did not write its gradient file {grad} "
                            "(--gradient-file, relative to --workdir)", state="NO_GRADIENT")
        from ..tuner.guard import load_gradient_file
        kept = d / ("gradient" + (".npy" if grad.suffix == ".npy" else ".txt"))
        shutil.copyfile(grad, kept)
        try:
            values = load_gradient_file(kept)
        except UsageError as exc:
            raise RunFailed(f"the run of {out.stem} wrote an unreadable gradient: {exc}",
                            state="NO_GRADIENT") from None
        return dataclasses.replace(m, grad_digest=_digest(values), gradient_file=str(kept.resolve()))

    def _watched(self, cmd: list[str], env: dict, log: Path, timeout: float) -> int:
        """Run ``cmd`` in ``--workdir``, its output to ``log``, in a session of its own under
        the watchdog (pyharness/watchdog.py), as the local backend runs its steps: when the
        driver dies, even by kill -9, the whole build or run goes with it, so it never
        writes the gradient file or rebuilds alongside the resumed step. The exit code;
        :class:`subprocess.TimeoutExpired` after ``timeout`` (the session killed)."""
        from .. import watchdog
        tmp = watchdog.make_run_dir()
        try:
            with open(log, "w") as fh, watchdog.watched(cmd, tmp, cwd=self.workdir, env=env, stdout=fh,
                                                         stderr=subprocess.STDOUT) as proc:
                return proc.wait(timeout=timeout)      # a timeout leaves the block: the session goes
        finally:
            watchdog.remove_run_dir(tmp)

    def _build(self, build: str, log: Path, name: str) -> None:
        try:
            p = self._watched(["/bin/sh", "-c", build], self._env(), log, self.build_timeout)
        except subprocess.TimeoutExpired:
            raise RunFailed(f"the build of {name} took more than {self.build_timeout:.0f} s: {build}\n"
                            f"{output_tail(log.read_text(errors='replace'))}\n  (whole output: {log})",
                            state="BUILD_TIMEOUT", retryable=False) from None
        if p != 0:
            raise RunFailed(f"the build of {name} failed (exit code {p}): {build}\n"
                            f"  last lines of its output (whole output: {log}):\n"
                            f"{output_tail(log.read_text(errors='replace'))}",
                            state="BUILD_FAILED", exit_code=p, retryable=False)

    def _run_local(self, run: str, traces: Path, log: Path, out: Path) -> None:
        env = mpiexec_env(self._env())
        env["PYHARNESS_PROFILE"] = str(traces.resolve())
        cmd = [self.mpiexec, "-n", str(self.request.nranks), *self.mpiexec_args, *shlex.split(run)]
        if shutil.which(cmd[0], path=env.get("PATH")) is None:
            raise RunFailed(f"cannot start {cmd[0]}: not found on PATH", state="FAILED", retryable=False)
        try:
            p = self._watched(cmd, env, log, self.run_timeout)
        except subprocess.TimeoutExpired:
            raise RunFailed(f"the run of {out.stem} took more than {self.run_timeout:.0f} s\n"
                            f"{output_tail(log.read_text(errors='replace'))}", state="TIMEOUT") from None
        except OSError as exc:
            raise RunFailed(f"cannot start {cmd[0]}: {exc}", state="FAILED", retryable=False) from None
        if p != 0:
            raise RunFailed(f"the run of {out.stem} failed (exit code {p}): "
                            f"{' '.join(shlex.quote(c) for c in cmd)}\n"
                            f"  last lines of its output (whole output: {log}):\n"
                            f"{output_tail(log.read_text(errors='replace'))}",
                            state="FAILED", exit_code=p)

    def _run_slurm(self, run: str, traces: Path, d: Path, out: Path, label: str) -> None:
        script = d / "job.sh"
        launch = ("srun --mpi=pmix" if self.slurm.launcher == "srun"
                  else f"{shlex.quote(self.mpiexec)} -n \"${{SLURM_NTASKS:-1}}\"")
        script.write_text(
            "#!/bin/bash\n"
            f"# pyharness command backend: {out.stem}\n"
            "set -euo pipefail\n"
            f"cd {shlex.quote(str(self.workdir))}\n"
            f"export PYHARNESS_PROFILE={shlex.quote(str(traces.resolve()))}\n"
            "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1\n"
            "export OMPI_MCA_rmaps_base_oversubscribe=1\n"
            f"echo \"pyharness: job ${{SLURM_JOB_ID:-?}} on ${{SLURM_NTASKS:-?}} task(s): {run}\"\n"
            f"exec {launch} {run}\n")
        log = d / "run.log"
        env = self._env()
        job_id, state, code, reason = self.slurm.submit_and_wait(
            lambda hold: self.slurm.sbatch(script, env, log, self.workdir, label or out.stem, hold=hold),
            str(out), label)
        self.last_job_id = job_id
        if state.split()[0] != "COMPLETED":
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RunFailed(f"job {job_id} of {out.stem} ended {state} (exit code {code}"
                            f"{', ' + reason if reason and reason != 'None' else ''})\n"
                            f"  last lines of its output (whole output: {log}):\n{output_tail(text)}",
                            state=state.split()[0], exit_code=code, job_id=job_id)
