"""``pyharness-config``: compile and link flags for the installed runtime library.

Link your own Tapenade adjoint against pyharness instead of adStack.c (and,
later, adProfile.c), in the manner of numpy-config and pybind11-config::

    gfortran -c $(pyharness-config --fflags) my_adjoint_b.f90
    gfortran my_adjoint_b.o main.o adBinomial.o $(pyharness-config --libs) -o adjoint
    mpif90 ... $(pyharness-config --libs --static) ...     # no run-time dependency on pyharness

The shared library is found at run time through an rpath in ``--libs``. See
docs/RUNTIME.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["prefix", "fflags", "cflags", "libs", "main"]


def prefix() -> Path:
    """The installed package directory: lib/, include/ and lib/pkgconfig/ are inside."""
    return Path(__file__).resolve().parent


def _check() -> Path:
    p = prefix()
    if not (p / "lib").is_dir():
        raise SystemExit(f"pyharness-config: no runtime library under {p / 'lib'}: this is the source "
                         "tree, not an installed pyharness (run scripts/setup.sh, or pip install .)")
    return p


def fflags() -> list[str]:
    """Fortran compile flags: where the .mod files (ph_stack, ...) are."""
    return [f"-I{_check() / 'include'}"]


def cflags() -> list[str]:
    """C compile flags: where adStack.h is."""
    return [f"-I{_check() / 'include'}"]


def libs(static: bool = False) -> list[str]:
    """Link flags: the shared library with an rpath, or the static archive.

    The static archive needs MPI's libraries too (the runtime asks MPI for the
    rank when MPI is initialised): link with the MPI compiler wrapper (mpif90).
    """
    lib = _check() / "lib"
    if static:
        return [str(lib / "libpyharness_runtime.a"), "-lgfortran", "-lm"]
    return [f"-L{lib}", f"-Wl,-rpath,{lib}", "-lpyharness_runtime"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pyharness-config", description=__doc__.split("\n")[0])
    ap.add_argument("--prefix", action="store_true", help="the installed package directory")
    ap.add_argument("--fflags", action="store_true", help="Fortran compile flags (.mod files)")
    ap.add_argument("--cflags", action="store_true", help="C compile flags (adStack.h)")
    ap.add_argument("--libs", action="store_true", help="link flags of the runtime library")
    ap.add_argument("--static", action="store_true", help="with --libs: link the static library")
    ap.add_argument("--pkgconfigdir", action="store_true", help="directory of pyharness.pc (for PKG_CONFIG_PATH)")
    ap.add_argument("--version", action="store_true")
    args = ap.parse_args(argv)
    if args.static and not args.libs:
        ap.error("--static goes with --libs")
    out: list[str] = []
    if args.version:
        from importlib.metadata import version
        out.append(version("pyharness"))
    if args.prefix:
        out.append(str(_check()))
    if args.fflags:
        out += fflags()
    if args.cflags:
        out += cflags()
    if args.libs:
        out += libs(args.static)
    if args.pkgconfigdir:
        out.append(str(_check() / "lib" / "pkgconfig"))
    if not out:
        ap.print_help()
        return 1
    print(" ".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
