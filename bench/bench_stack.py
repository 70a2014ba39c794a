"""AD stack speed: pyharness's runtime against Tapenade's adStack.c, and against a plain copy.

1. Scalar and control push+pop through one Fortran driver (bench/stack_driver.f90)
   linked three ways, all with plain gfortran (no MPI): against the installed
   runtime as `pyharness-config --libs` links it ("default": the static archive)
   and as `--libs --shared` does ("shared"), and, when you give the path of
   Tapenade's adStack.c in ADSTACK_C, against that. The
   variants run alternately, round after round; each keeps its fastest round, the
   spread is (slowest - fastest) / fastest, and the ratios are to adStack.c (or to
   the default link when no adStack.c is given); --adstack-shared also links
   adStack.c as a shared library, like the runtime's shared one. Times are the process's CPU
   time (--clock cpu, the default): on a shared, loaded machine the wall clock
   (--clock wall) mostly measures the time a run waits for a core.
2. Array pushes against a plain memory copy of the same bytes, in one call.

    python bench/bench_stack.py
    ADSTACK_C=/path/to/ADFirstAidKit/adStack.c python bench/bench_stack.py

adStack.c is compiled as Tapenade's users compile it, into an object linked into
the executable, with gcc -O3 and -I its own directory (adStack.h, adComplex.h);
ADSTACK_CFLAGS adds flags (e.g. -DADSTACK_PROFILE). adStack.c is Tapenade's; it is
not shipped with pyharness.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROUTINES = ["real8", "control1b", "integer4", "control3b"]


def config(*args):
    exe = Path(sys.executable).with_name("pyharness-config")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pyharness.linkflags"]
    return subprocess.run(cmd + list(args), check=True, capture_output=True, text=True,
                          cwd=tempfile.gettempdir()).stdout.split()


def check_adstack_c(adstack_c: str | None, adstack_shared: bool) -> None:
    """Refuse, before anything is built, an ADSTACK_C that names no file (or --adstack-shared
    without one)."""
    if adstack_shared and not adstack_c:
        sys.exit("--adstack-shared builds the adStack.c given in ADSTACK_C as a shared library: "
                 "set ADSTACK_C=/path/to/ADFirstAidKit/adStack.c")
    if adstack_c and not Path(adstack_c).is_file():
        what = "a directory" if Path(adstack_c).is_dir() else "no such file"
        sys.exit(f"ADSTACK_C={adstack_c}: {what} (give the path of Tapenade's adStack.c, "
                 "e.g. ADSTACK_C=/path/to/ADFirstAidKit/adStack.c)")


def _adstack_step(adstack_c: str, cmd: list[str]) -> None:
    """Compile or link with the user's adStack.c; a file that is not Tapenade's adStack.c
    (another C file, a wrong version) fails here: say so, with the compiler's words."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-8:])
        sys.exit(f"ADSTACK_C={adstack_c}: could not be {'linked' if '-c' not in cmd else 'compiled'} "
                 f"as Tapenade's adStack.c (the driver calls its pushreal8_, popreal8_, "
                 f"pushcontrol1b_, ... entry points):\n  $ {' '.join(cmd)}\n{tail}")


def build_drivers(d: Path, adstack_c: str | None, adstack_shared: bool = False) -> dict[str, Path]:
    fc = shutil.which("gfortran") or sys.exit("gfortran not found: run scripts/setup.sh")
    obj = d / "stack_driver.o"
    subprocess.run([fc, "-O2", "-c", str(HERE / "stack_driver.f90"), "-o", str(obj)], check=True)
    # plain gfortran, as a program without MPI links: the default flags need no MPI
    ld = fc
    exes = {}
    for name, libs in (("default", config("--libs")), ("shared", config("--libs", "--shared"))):
        exes[name] = d / f"driver_{name}"
        subprocess.run([ld, str(obj), *libs, "-o", str(exes[name])], check=True)
    if adstack_c:
        src = Path(adstack_c)
        cobj = d / "adStack.o"
        extra = os.environ.get("ADSTACK_CFLAGS", "").split()
        exes["adStack.c"] = d / "driver_adstack"
        _adstack_step(adstack_c, ["gcc", "-O3", "-I", str(src.parent), *extra, "-c", str(src), "-o", str(cobj)])
        _adstack_step(adstack_c, [ld, str(obj), str(cobj), "-o", str(exes["adStack.c"])])
        if adstack_shared:   # the same file as a shared library, linked as the runtime's --libs
            lib = d / "libadstack_tapenade.so"
            _adstack_step(adstack_c, ["gcc", "-O3", "-fPIC", "-shared", "-I", str(src.parent), *extra, str(src),
                                      "-o", str(lib)])
            exes["adStack.c.so"] = d / "driver_adstack_shared"
            _adstack_step(adstack_c, [ld, str(obj), f"-L{d}", f"-Wl,-rpath,{d}", "-ladstack_tapenade",
                                      "-o", str(exes["adStack.c.so"])])
    return exes


def run_drivers(exes: dict[str, Path], rounds: int, total_log: int,
                clock: str = "cpu") -> dict[str, dict[str, list[float]]]:
    col = 2 if clock == "cpu" else 1         # the driver prints: routine wall cpu
    times = {v: {r: [] for r in ROUTINES} for v in exes}
    for _ in range(rounds):
        for v, exe in exes.items():          # alternately, so drifts hit every variant alike
            out = subprocess.run([str(exe), str(total_log)], check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                f = line.split()
                if f and f[0] in ROUTINES:
                    times[v][f[0]].append(float(f[col]))
    return times


def report_drivers(times, total_log: int, clock: str = "cpu") -> None:
    ref = "adStack.c" if "adStack.c" in times else "default"
    variants = list(times)
    pair = "adStack.c.so" in times        # both as shared libraries
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"2^{total_log} push+pop pairs per routine, warm (the stack's memory allocated before the timing; "
          f"every round a new process), {clock} time: fastest of {len(times[ref]['real8'])} rounds"
          f" + spread (slowest over fastest), ratio to {ref} (load average {load})")
    print(f"{'routine':>10} " + " ".join(f"{v:>22}" for v in variants) + "  "
          + " ".join(f"{v + '/' + ref:>18}" for v in variants if v != ref)
          + (f" {'shared/adStack.c.so':>22}" if pair else ""))
    for r in ROUTINES:
        cells, best = [], {}
        for v in variants:
            ts = times[v][r]
            best[v] = max(min(ts), 1e-9)       # a clock tick at tiny sizes
            cells.append(f"{best[v]:.4g}s+{(max(ts) - best[v]) / best[v]:.0%}")
        ratios = [f"{best[v] / best[ref]:18.2f}" for v in variants if v != ref]
        if pair:
            ratios.append(f"{best['shared'] / best['adStack.c.so']:22.2f}")
        print(f"{r:>10} " + " ".join(f"{c:>22}" for c in cells) + "  " + " ".join(ratios))
    if ref != "adStack.c":
        print("(no ADSTACK_C given: adStack.c not measured)")


def bench_copy(total_mib: float, reps: int) -> None:
    from pyharness import runtime
    total = int(total_mib * 2**20)
    print(f"{'reals/push':>10} {'pushes':>8} {'stack GB/s':>11} {'copy GB/s':>10} {'stack/copy':>11}")
    for n in (1, 16, 256, 4096, 65536):
        npush = max(1, total // (8 * n))
        t_stack, t_copy, ok = runtime.api().api_bench_stack(n, npush, reps)
        assert ok == 0, "popped values differ from pushed ones"
        nbytes = 2 * 8 * n * npush          # every byte goes in and comes back out
        print(f"{n:>10} {npush:>8} {nbytes / t_stack / 1e9:>11.2f} {nbytes / t_copy / 1e9:>10.2f} "
              f"{t_copy / t_stack:>11.2f}")
    print("stack/copy = throughput of the AD stack as a fraction of a plain copy (target >= 0.5)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7, help="rounds of the driver comparison (default 7)")
    ap.add_argument("--log2-pairs", type=int, default=25,
                    help="push+pop pairs per routine: 2^N (default 25)")
    ap.add_argument("--total-mib", type=float, default=256,
                    help="array pushes: bytes moved per repetition (MiB, default 256)")
    ap.add_argument("--reps", type=int, default=5,
                    help="array pushes: repetitions, the fastest kept (default 5)")
    ap.add_argument("--adstack-shared", action="store_true",
                    help="also build ADSTACK_C as a shared library (the runtime's shared library against it)")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="time the drivers by the process's CPU time (default) or the wall clock")
    ap.add_argument("--part", choices=["all", "drivers", "copy"], default="all",
                    help="drivers: 1. only; copy: 2. only (default all)")
    args = ap.parse_args()
    if args.part in ("all", "drivers"):
        check_adstack_c(os.environ.get("ADSTACK_C"), args.adstack_shared)
        with tempfile.TemporaryDirectory(prefix="bench-stack-") as d:
            exes = build_drivers(Path(d), os.environ.get("ADSTACK_C"), args.adstack_shared)
            report_drivers(run_drivers(exes, args.rounds, args.log2_pairs, args.clock), args.log2_pairs,
                           args.clock)
    if args.part in ("all", "copy"):
        print()
        bench_copy(args.total_mib, args.reps)


if __name__ == "__main__":
    main()
