"""List the checkpoint sites of a kernel with their stable names.

Usage::

    python -m pyharness.sites --kernel streamice [--json]
    python -m pyharness.sites --list-kernels      # registered kernels, where they come from
    python -m pyharness.sites --list-backends
"""

from __future__ import annotations

import argparse
import json
import sys

from . import runtime
from .cli_common import add_kernel_args, setup_kernel
from .errors import UsageError
from .mpiutil import collective, run_cli

__all__ = ["main"]


def main(argv=None) -> int:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    ap = argparse.ArgumentParser(prog="python -m pyharness.sites", description=__doc__.split("\n")[0])
    add_kernel_args(ap)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--list-kernels", action="store_true",
                    help="list the registered kernels (entry points) and where they come from")
    ap.add_argument("--list-backends", action="store_true",
                    help="list the registered backends (entry points) and where they come from")
    args = ap.parse_args(argv)
    if args.list_kernels or args.list_backends:
        if comm.rank == 0:
            for kind in ("kernels", "backends"):
                if getattr(args, "list_" + kind):
                    print_plugins(kind, args.json)
        return 0
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


def print_plugins(kind: str, as_json: bool = False) -> None:
    """Print every registered plug-in of ``kind``: name, entry point, distribution,
    and its description (or its import error)."""
    from .plugins import PluginError, available, describe
    rows = []
    for name, eps in sorted(available(kind).items()):
        try:
            obj = describe(kind, name).load()
            about = getattr(obj, "description", "") or (getattr(obj, "__doc__", "") or "").strip().split("\n")[0]
            if kind == "kernels":
                about = f"sizes {', '.join(obj.sizes)}; {about}"
        except (PluginError, UsageError) as exc:
            about = f"BROKEN: {exc}"
        rows.append({"name": name, "entry_point": "; ".join(p.value for p in eps),
                     "distribution": "; ".join(p.dist for p in eps), "about": about})
    if as_json:
        print(json.dumps({kind: rows}, indent=1))
        return
    print(f"{kind} (entry-point group pyharness.{kind}):")
    if not rows:
        print("  none registered")
        return
    wn = max(len(r["name"]) for r in rows)
    we = max(len(r["entry_point"]) for r in rows)
    wd = max(len(r["distribution"]) for r in rows)
    for r in rows:
        print(f"  {r['name']:<{wn}}  {r['entry_point']:<{we}}  {r['distribution']:<{wd}}  {r['about']}")


if __name__ == "__main__":
    sys.exit(run_cli("pyharness.sites", main))
