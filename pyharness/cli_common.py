"""Arguments and set-up shared by the command-line tools."""

from __future__ import annotations

import argparse

from . import runtime
from .config import Configuration, SiteTable, read_config_file
from .errors import UsageError
from .kernels import get_kernel, kernel_names, parse_params, sites_command

__all__ = ["add_kernel_args", "add_config_args", "setup_kernel", "config_from_args",
           "parse_snapshots", "check_count", "check_out_path", "resume_hint", "SNAPSHOTS_HELP", "CONFIG_HELP"]

#: the one meaning of --snapshots in every tool
SNAPSHOTS_HELP = ("binomial (revolve) checkpointing of the time loop with K snapshots in every run "
                  "(kernels with a time-stepping interface; default 0: the whole time loop is taped)")
#: the one meaning of --config in every tool
CONFIG_HELP = ("configuration file: JSON {\"inhibited\": [...], \"snapshots\": K} or a callee list "
               "(one lower-case name per line, # comments); default: every site checkpointed")


def _size_help() -> str:
    """Every size of every registered kernel, e.g. 'small (default), demo, medium or large
    (calltree: small, medium)'."""
    from .plugins import PluginError
    per_kernel = {}
    for name in kernel_names():
        try:
            per_kernel[name] = list(get_kernel(name).sizes)
        except (PluginError, UsageError):
            continue
    union: list[str] = []
    for sizes in per_kernel.values():
        union += [x for x in sizes if x not in union]
    if "small" in union:
        union.remove("small")
    words = ["small (default)"] + union
    text = ", ".join(words[:-1]) + (" or " + words[-1] if len(words) > 1 else words[0])
    differ = [f"{k}: {', '.join(v)}" for k, v in sorted(per_kernel.items())
              if sorted(v) != sorted(["small"] + union)]
    return "named problem size: " + text + (f" ({'; '.join(differ)})" if differ else "")


def parse_snapshots(text, several: bool = False) -> list[int]:
    """``--snapshots``: one count K >= 0, or (``several``) distinct counts ``0,2,4``."""
    try:
        counts = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        counts = [-1]
    if not counts or min(counts) < 0 or len(set(counts)) != len(counts) or (len(counts) > 1 and not several):
        if several:
            raise UsageError(f"--snapshots {text!r}: give one count K >= 0 or distinct counts "
                             "separated by commas, e.g. --snapshots 0,2,4")
        raise UsageError(f"--snapshots {text!r}: give one count K >= 0")
    return counts


def check_count(option: str, value, minimum: int = 0, meaning: str = "") -> None:
    """A count option (``--retries``, ``--ranks``...) must be an integer >= ``minimum``:
    a negative or zero count is refused before anything runs, never taken as something else."""
    if value is None:
        return
    if isinstance(value, float) and not value.is_integer():
        raise UsageError(f"{option} {value}: give a whole number >= {minimum}")
    if value < minimum:
        what = f" ({meaning})" if meaning else ""
        raise UsageError(f"{option} {value}: must be at least {minimum}{what}")


def refuse_unused_slurm_options(args, given: list[str]) -> None:
    """Slurm options (``given``: the ones on the command line) with a built-in backend
    that submits no job are refused, never ignored: a forgotten ``--backend slurm``
    would otherwise run every configuration here, on the login node. A plug-in backend
    may read them, and the command backend does with ``--run-on slurm``."""
    if not given or args.backend == "slurm" or args.backend not in ("inline", "local", "replay", "command"):
        return
    if args.backend == "command" and getattr(args, "run_on", None) == "slurm":
        return
    fix = "--run-on slurm" if args.backend == "command" else "--backend slurm"
    what = "is a Slurm option" if len(given) == 1 else "are Slurm options"
    raise UsageError(f"{', '.join(given)} {what}, but the {args.backend} backend submits no Slurm job "
                     f"(every run would be made here): add {fix}, or drop {'it' if len(given) == 1 else 'them'}")


def resume_hint(key: str, have, backend: str = "") -> str | None:
    """What to pass to continue a history (tune.h5, explore.h5) recorded with ``key`` =
    ``have``, for the keys the tools share (params, start, nranks); None for the others,
    which each tool words itself."""
    if key == "params":
        return f"pass the same --param options ({key}={have})"
    if key == "start":
        return f"pass --config with the same starting configuration ({have})"
    if key == "nranks" and backend == "inline":
        # --ranks does not apply: the inline backend runs on this job's ranks
        return f"run on {have} rank(s) (mpiexec -n {have}; in a batch job sbatch --ntasks={have} or srun -n {have})"
    if key == "nranks":
        return f"run on {have} rank(s) (--ranks {have})"
    return None


def check_out_path(out, resume: bool, what: str = "history") -> None:
    """``--out`` of a tool that continues its file with ``--resume``: a directory, a
    missing parent, an existing file without --resume, a missing one with it are
    each refused with the reason."""
    from pathlib import Path
    from .h5io import check_writable
    p = Path(out)
    if p.is_dir():
        raise UsageError(f"--out {p} is a directory: give the {what} file's name, e.g. "
                         f"--out {p / ('tune.h5' if what == 'history' else 'explore.h5')}")
    if resume and not p.exists():
        raise UsageError(f"--resume: {p} does not exist; run without --resume to start")
    if not resume and p.exists():
        raise UsageError(f"{p} exists: use --resume to continue it, or another --out")
    check_writable(p)


def add_kernel_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("kernel")
    g.add_argument("--kernel", default="streamice",
                   help=f"adjoint kernel to run (default: streamice; available: {', '.join(kernel_names())})")
    g.add_argument("--size", default="small", help=_size_help())
    g.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="override one kernel parameter, e.g. --param nx=64 (repeatable)")


def add_config_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("configuration (default: every site checkpointed)")
    g.add_argument("--nocheckpoint", action="append", metavar="SITE,...",
                   help="inhibit these sites: site names (callee@file:line) or callee names "
                        "(all sites calling it), comma-separated; repeatable")
    g.add_argument("--snapshots", default=None, metavar="K",
                   help=SNAPSHOTS_HELP + "; overrides the configuration file's")
    g.add_argument("--config", metavar="FILE", help=CONFIG_HELP)


def setup_kernel(comm, args):
    """Create the kernel named by ``args`` on ``comm`` and return (kernel, site table)."""
    spec = get_kernel(args.kernel)
    params = parse_params(args.param)
    kernel = spec.create(comm, args.size, params)
    table = SiteTable.from_locations(runtime.locations(), sites_command(args.kernel, args.size, params))
    return kernel, table


def config_from_args(args, table: SiteTable) -> Configuration:
    cfg = Configuration()
    if getattr(args, "config", None):
        cfg = cfg.union(read_config_file(args.config, table))
    names = []
    for item in getattr(args, "nocheckpoint", None) or []:
        names += [n for n in item.split(",") if n.strip()]
    if names:
        cfg = cfg.union(Configuration.from_names(table, names, source="--nocheckpoint"))
    snaps = getattr(args, "snapshots", None)
    if snaps is not None:
        cfg = Configuration(cfg.inhibited, parse_snapshots(snaps)[0])
    return cfg
