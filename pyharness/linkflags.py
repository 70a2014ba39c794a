"""``pyharness-config``: compile and link flags for the installed runtime library.

Link your own Tapenade adjoint against pyharness instead of adStack.c and
adProfile.c, in the manner of numpy-config and pybind11-config::

    gfortran -c $(pyharness-config --fflags) my_adjoint_b.f90
    gfortran my_adjoint_b.o main.o adBinomial.o $(pyharness-config --libs) -o adjoint
    mpif90 ... $(pyharness-config --libs) ...               # MPI programs: the same flags
    gfortran ... $(pyharness-config --libs --shared) ...    # the shared library instead

``--libs`` links the static archive: the program's calls reach the push/pop
entry points directly, as they reach adStack.c compiled into it (through the
shared library every call takes an extra jump through the PLT, which costs about
as much as a push). The archive references no MPI symbol (the rank is asked of
MPI at run time when the program has it), so the same flags serve programs with
and without MPI. ``--libs --shared`` gives the shared library, found at run time
through an rpath. See docs/RUNTIME.md.
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


def libs(shared: bool = False) -> list[str]:
    """Link flags: the static archive (default), or the shared library with an rpath.

    The archive is named by its path, so a shared library of the same name
    elsewhere on the linker's path cannot be taken instead; then what it needs
    of the system: libgfortran (for C and C++ programs: gfortran adds it
    itself), libm, and libdl (dlsym, with which the runtime finds MPI; part of
    libc since glibc 2.34, an empty archive there). No MPI library: the same
    flags link with gfortran and with mpif90.
    """
    lib = _check() / "lib"
    if shared:
        return [f"-L{lib}", f"-Wl,-rpath,{lib}", "-lpyharness_runtime"]
    return [str(lib / "libpyharness_runtime.a"), "-lgfortran", "-lm", "-ldl"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="pyharness-config", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  gfortran -c $(pyharness-config --fflags) my_adjoint_b.f90\n"
               "  gfortran my_adjoint_b.o main.o $(pyharness-config --libs) -o adjoint\n"
               "  mpif90 my_adjoint_b.o main.o $(pyharness-config --libs) -o adjoint   (MPI: same flags)\n"
               "  pkg-config: PKG_CONFIG_PATH=$(pyharness-config --pkgconfigdir); pyharness (static,\n"
               "  the same as --libs) or pyharness-shared (the same as --libs --shared)")
    ap.add_argument("--prefix", action="store_true", help="the installed package directory")
    ap.add_argument("--fflags", action="store_true", help="Fortran compile flags (.mod files)")
    ap.add_argument("--cflags", action="store_true", help="C compile flags (adStack.h)")
    ap.add_argument("--libs", action="store_true",
                    help="link flags of the runtime: the static archive (fastest push/pop; the same "
                         "flags with and without MPI)")
    ap.add_argument("--shared", action="store_true",
                    help="with --libs: the shared library instead (found through an rpath)")
    ap.add_argument("--static", action="store_true",
                    help="with --libs: the static archive (the default; kept for old build files)")
    ap.add_argument("--pkgconfigdir", action="store_true", help="directory of pyharness.pc (for PKG_CONFIG_PATH)")
    ap.add_argument("--version", action="store_true")
    args = ap.parse_args(argv)
    if (args.static or args.shared) and not args.libs:
        ap.error(f"--{'static' if args.static else 'shared'} goes with --libs")
    if args.static and args.shared:
        ap.error("--static and --shared exclude each other")
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
        out += libs(shared=args.shared)
    if args.pkgconfigdir:
        out.append(str(_check() / "lib" / "pkgconfig"))
    if not out:
        ap.print_help()
        return 1
    print(" ".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
