"""Arguments and set-up shared by the command-line tools."""

from __future__ import annotations

import argparse

from . import runtime
from .config import Configuration, SiteTable, read_config_file
from .errors import UsageError
from .kernels import get_kernel, kernel_names, parse_params

__all__ = ["add_kernel_args", "add_config_args", "setup_kernel", "config_from_args"]


def add_kernel_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("kernel")
    g.add_argument("--kernel", default="streamice",
                   help=f"adjoint kernel to run (default: streamice; available: {', '.join(kernel_names())})")
    g.add_argument("--size", default="small", help="named problem size: small (default), demo or medium (kernels may differ)")
    g.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="override one kernel parameter, e.g. --param nx=64 (repeatable)")


def add_config_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("configuration (default: every site checkpointed)")
    g.add_argument("--nocheckpoint", action="append", metavar="SITE,...",
                   help="inhibit these sites: site names (callee@file:line) or callee names "
                        "(all sites calling it), comma-separated; repeatable")
    g.add_argument("--snapshots", type=int, default=None, metavar="K",
                   help="binomial (revolve) checkpointing of the time loop with K snapshots "
                        "(default 0: the whole time loop is taped)")
    g.add_argument("--config", metavar="FILE",
                   help="configuration file: JSON {\"inhibited\": [...]} or a callee list "
                        "(one lower-case name per line, # comments)")


def setup_kernel(comm, args):
    """Create the kernel named by ``args`` on ``comm`` and return (kernel, site table)."""
    spec = get_kernel(args.kernel)
    kernel = spec.create(comm, args.size, parse_params(args.param))
    table = SiteTable.from_locations(runtime.locations())
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
        if snaps < 0:
            raise UsageError("--snapshots must be >= 0")
        cfg = Configuration(cfg.inhibited, snaps)
    return cfg
