"""List the checkpoint sites of a kernel with their stable names.

Usage::

    python -m pyharness.sites --kernel streamice [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

from . import runtime
from .cli_common import add_kernel_args, setup_kernel
from .mpiutil import collective, run_cli

__all__ = ["main"]


def main(argv=None) -> int:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    ap = argparse.ArgumentParser(prog="python -m pyharness.sites", description=__doc__.split("\n")[0])
    add_kernel_args(ap)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    with collective(comm, "setting up the kernel"):
        kernel, table = setup_kernel(comm, args)
    if comm.rank != 0:
        return 0
    locs = [l for l in runtime.locations() if l.is_site]
    if args.json:
        print(json.dumps([{"index": l.index, "name": l.name, "callee": l.callee, "file": l.file,
                           "line": l.line} for l in locs], indent=1))
        return 0
    wn = max(len(l.name) for l in locs)
    print(f"{kernel.name}: {len(locs)} checkpoint sites, "
          f"{len({l.callee for l in locs})} callees")
    print(f"{'#':>4}  {'site':<{wn}}  callee")
    for l in locs:
        print(f"{l.index:>4}  {l.name:<{wn}}  {l.callee}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.sites", main))
