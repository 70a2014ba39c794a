"""Scaling with the number of ranks: profile, analyse and optimise calltree at
2, 8, 32 and 64 ranks with the same events per rank, and extrapolate.

    python bench/bench_ranks.py [--ranks 2,8,32,64] [--loop 2000] [--legacy 2,64]

Run without mpiexec: it launches ``mpiexec -n N`` itself (oversubscribed on a
small machine: little work per rank, many events). For each N it prints

- rank 0's peak RSS (``resource.getrusage``) at the start of the profiling run
  (after imports and kernel set-up) and at its end, and that of the analysis and
  of the optimisation (each run in its own process, through the commands' own
  ``main``);
- the bytes each rank sends to rank 0 when the profile is written (what
  :func:`pyharness.profile.write_profile` sends: its packed per-site and per-node
  reduction), against the bytes of its raw events;
- the time of each phase: the adjoint run, writing the event files (the
  slowest rank: with one file per node, the node's first rank writing every
  rank's events), reducing its events (while they are written), the gather,
  rank 0 writing profile.h5, analyze (site and callee), optimize (the MILP under
  a 1.5x budget);

then the same figures extrapolated to 1,024 and 10,000 ranks from the measured
per-rank costs (a straight-line fit in the number of ranks of what rank 0 does
alone; per-rank phases stay constant on a machine with a core per rank), and
the checks of issue 14: rank 0's peak RSS at the largest N within 2x of the
smallest N, and the largest profile read by analyze, report and h5dump.

``--event-files node|rank|G`` chooses how the profiles file their raw events
(default: profile's, one file per node). ``--legacy 2,64`` also measures, at those N, the way profiles were written before
(every rank's events gathered to rank 0 and written there), for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def tree(loop: int) -> dict:
    """root calls a ``loop`` times (a calls b twice) then c (a halo exchange):
    about 21 events per loop iteration, 4 sites, 5 nodes, whatever ``loop``."""
    return {"m": 16, "nodes": [
        {"name": "root", "work": 1, "pad": 64, "children": [{"node": "a", "loop": loop},
                                                             {"node": "c", "loop": 1},
                                                             {"node": "d", "loop": 2}]},
        {"name": "a", "work": 1, "pad": 16, "snap_pad": 32, "children": [{"node": "b", "loop": 2}]},
        {"name": "b", "work": 1, "pad": 64},
        {"name": "c", "work": 1, "pad": 512, "comm": True},
        {"name": "d", "work": 1, "pad": 128}]}


def loop_of(description: dict) -> int:
    """The ``loop`` a :func:`tree` description was made with."""
    root = next(n for n in description["nodes"] if n["name"] == "root")
    return next(c["loop"] for c in root["children"] if c["node"] == "a")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # ru_maxrss is KiB on Linux


# ---------------------------------------------------------------- under mpiexec
def worker(args) -> int:
    from mpi4py import MPI

    from pyharness import runtime
    from pyharness.config import Configuration, SiteTable
    from pyharness.kernels import get_kernel
    from pyharness.profile import run_adjoint, write_profile
    comm = MPI.COMM_WORLD
    k = get_kernel("calltree").create(comm, "small", overrides={"tree": args.tree, "m": "16"})
    table = SiteTable.from_locations(runtime.locations())
    rss_start = rss_mib()
    c0, t0 = time.process_time(), time.perf_counter()
    summary, ev, _ = run_adjoint(comm, k, table, Configuration(), profiling=True)
    t_run = time.perf_counter() - t0
    rss_prewrite = rss_mib()      # every peer has talked to rank 0 by now (run_adjoint's allgathers)
    c1, t1 = time.process_time(), time.perf_counter()
    if args.gather_events:
        from pyharness.mpiutil import gather_arrays
        from pyharness.profile import write_profile_h5
        arrays = {"kind": ev.kind, "loc": ev.loc, "wall_ns": ev.wall_ns, "cpu_ns": ev.cpu_ns,
                  "stack": ev.stack}
        if getattr(ev, "ctl_bits", None) is not None:
            arrays["ctl_bits"] = ev.ctl_bits
        gathered = gather_arrays(comm, arrays)
        if comm.rank == 0:
            locs = runtime.locations()
            write_profile_h5(args.out, kernel=k.name, params=k.params_dict(), nranks=comm.size,
                             command="bench", profiling=True, cpu_clock=runtime.cpu_clock(),
                             locations=locs, inhibited=[False] * len(locs), snapshots=0,
                             summary=summary, events=gathered)
        del gathered
        comm.Barrier()
        stats = {"sent_bytes": sum(a.nbytes for a in arrays.values()) if comm.rank else 0,
                 "event_bytes": sum(a.nbytes for a in arrays.values()),
                 "reduce_s": 0.0, "write_events_s": 0.0, "gather_s": 0.0, "write_profile_s": 0.0}
    else:
        st = write_profile(args.out, comm, k, table, Configuration(), summary, ev, "bench",
                           event_files=args.event_files or None)
        stats = dict(st.__dict__)
    t_write = time.perf_counter() - t1
    cpu_write = time.process_time() - c1
    stats.update(run_s=t_run, write_s=t_write, cpu_run_s=c1 - c0, cpu_write_s=cpu_write,
                 nevents=len(ev.kind), rss_start_mib=rss_start, rss_prewrite_mib=rss_prewrite,
                 rss_peak_mib=rss_mib())
    allstats = comm.gather(stats, root=0)          # the benchmark's own bookkeeping
    if comm.rank == 0:
        Path(args.json).write_text(json.dumps(allstats))
    return 0


# ---------------------------------------------------------------- one phase, own process
def phase(args) -> int:
    t0 = time.perf_counter()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if args.phase == "analyze":
            from pyharness import analyze
            rc = analyze.main([args.profile])
            rc |= analyze.main([args.profile, "--granularity", "callee"])
        elif args.phase == "optimize":
            from pyharness import optimize
            rc = optimize.main([args.profile, "--budget", "1.5x", "--time-limit", "120"])
        elif args.phase == "report":
            from pyharness.report.__main__ import main as report_main
            rc = report_main([args.profile])
        else:
            raise SystemExit(f"unknown phase {args.phase}")
    print(json.dumps({"rc": int(rc or 0), "s": time.perf_counter() - t0, "rss_mib": rss_mib(),
                      "out_chars": len(out.getvalue())}))
    return 0


def run_phase(name: str, profile: str) -> dict:
    p = subprocess.run([sys.executable, str(HERE), "--phase", name, "--profile", profile],
                       capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"{name} of {profile} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- driver
def measure(n: int, d: Path, args, legacy: bool) -> dict:
    out = d / f"profile{n}{'-legacy' if legacy else ''}.h5"
    js = d / f"stats{n}{'-legacy' if legacy else ''}.json"
    cmd = ["mpiexec", "--oversubscribe", "-n", str(n), sys.executable, "-m", "mpi4py", str(HERE),
           "--worker", "--tree", str(d / "tree.json"), "--out", str(out), "--json", str(js)]
    if legacy:
        cmd.append("--gather-events")
    elif args.event_files:
        cmd += ["--event-files", args.event_files]
    if args.reuse and js.exists():
        wall = float("nan")      # measured in the earlier run (its log says how long)
    else:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=d)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"{n} ranks failed:\n{p.stderr[-3000:]}")
    st = json.loads(js.read_text())
    r0 = st[0]
    row = {"n": n, "legacy": legacy, "job_s": wall, "nevents": r0["nevents"],
           "event_bytes": max(s["event_bytes"] for s in st),
           "sent_bytes": max(s["sent_bytes"] for s in st),
           "rss0_start": r0["rss_start_mib"], "rss0_peak": r0["rss_peak_mib"],
           "rss0_prewrite": r0.get("rss_prewrite_mib", float("nan")),
           "run_s": max(s["run_s"] for s in st), "cpu_run_s": sum(s["cpu_run_s"] for s in st) / n,
           "write_s": r0["write_s"],
           "write_events_s": max(s["write_events_s"] for s in st),
           "reduce_s": max(s["reduce_s"] for s in st),
           "gather_s": r0["gather_s"], "write_profile_s": r0["write_profile_s"],
           "cpu_write_s": sum(s["cpu_write_s"] for s in st) / n,
           "profile": str(out)}
    if not legacy:
        a = run_phase("analyze", str(out))
        o = run_phase("optimize", str(out))
        row.update(analyze_s=a["s"], analyze_rss=a["rss_mib"], optimize_s=o["s"],
                   optimize_rss=o["rss_mib"])
    return row


def fit(xs, ys):
    """Least-squares a + b x with b >= 0 (a cost does not shrink with more ranks: a
    negative slope is noise of the shared machine, and then b = 0, a = the mean)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    b = max(b, 0.0)
    return my - b * mx, b


def checks(rows, args) -> list[str]:
    new = [r for r in rows if not r["legacy"]]
    lo, hi = new[0], new[-1]
    out = []
    ratio = hi["rss0_peak"] / lo["rss0_peak"]
    out.append(f"rank 0 peak RSS at {hi['n']} ranks / at {lo['n']} ranks: {ratio:.2f} "
               f"({'within' if ratio <= 2 else 'NOT within'} 2x; same events per rank: "
               f"{lo['nevents']} / {hi['nevents']})")
    prof = hi["profile"]
    evdir = Path(prof + ".events")
    nfiles = len(list(evdir.glob("*.h5"))) if evdir.is_dir() else 0
    out.append(f"the {hi['n']}-rank profile's raw events: {nfiles} file(s) in {evdir.name}")
    res = []
    a = run_phase("analyze", prof)
    res.append(f"analyze rc {a['rc']} ({a['out_chars']} chars)")
    rp = run_phase("report", prof)
    res.append(f"report rc {rp['rc']} ({rp['out_chars']} chars)")
    if shutil.which("h5dump"):
        last = f"/events/rank_{hi['n'] - 1:05d}/stack"
        h = subprocess.run(["h5dump", "-d", last, prof], capture_output=True, text=True)
        hh = subprocess.run(["h5dump", "-H", prof], capture_output=True, text=True)
        ok = h.returncode == 0 and "DATA" in h.stdout and hh.returncode == 0
        res.append(f"h5dump -H rc {hh.returncode}, h5dump -d {last} rc {h.returncode} "
                   f"({'reads the events' if ok else 'FAILED'})")
    else:
        res.append("h5dump not installed (Debian package hdf5-tools): not checked")
    out.append(f"the {hi['n']}-rank profile: " + "; ".join(res))
    return out


def extrapolate(rows) -> list[str]:
    new = [r for r in rows if not r["legacy"]]
    ns = [r["n"] for r in new]
    lines = []

    def model(key):
        return fit(ns, [r[key] for r in new])

    for r in new:
        r["rss0_growth"] = r["rss0_peak"] - r["rss0_start"]
    a_rss, b_rss = model("rss0_growth")
    a_st, b_st = model("rss0_start")
    a_g, b_g = model("gather_s")
    a_w, b_w = model("write_profile_s")
    a_an, b_an = model("analyze_s")
    a_ar, b_ar = model("analyze_rss")
    a_o, b_o = model("optimize_s")
    sent = max(r["sent_bytes"] for r in new)
    evb = max(r["event_bytes"] for r in new)
    per_rank = {k: sum(r[k] for r in new) / len(new) for k in ("cpu_run_s",)}
    red = min(r["reduce_s"] for r in new)
    wev = min(r["write_events_s"] for r in new)
    lines.append("fits in the number of ranks R (least squares over the measured R):")
    lines.append(f"  rank 0 RSS at start (Python, MPI, kernel)  {a_st:8.1f} MiB + {b_st * 1024:8.2f} KiB x R")
    lines.append(f"  rank 0 RSS growth while profiling and writing  {a_rss:8.1f} MiB + {b_rss * 1024:8.2f} KiB x R")
    lines.append(f"  gather            {a_g:8.3f} s   + {b_g * 1e3:8.3f} ms x R")
    lines.append(f"  write profile.h5  {a_w:8.3f} s   + {b_w * 1e3:8.3f} ms x R")
    lines.append(f"  analyze           {a_an:8.3f} s   + {b_an * 1e3:8.3f} ms x R   "
                 f"(RSS {a_ar:.1f} MiB + {b_ar * 1024:.2f} KiB x R)")
    lines.append(f"  optimize          {a_o:8.3f} s   + {b_o * 1e3:8.3f} ms x R")
    lines.append(f"per rank (parallel, constant with a core per rank): adjoint CPU "
                 f"{per_rank['cpu_run_s']:.3f} s, reduce {red:.3f} s, write its events {wev:.3f} s "
                 "(fastest measured; oversubscription inflates the others)")
    lines.append("")
    lines.append(f"{'ranks':>7} {'sent/rank':>10} {'rank 0 receives':>16} {'before: rank 0 receives':>24} "
                 f"{'rank 0 RSS':>11} {'gather':>8} {'write h5':>9} {'analyze':>8} {'optimize':>9}")
    for R in (1024, 10000):
        lines.append(f"{R:>7} {sent:>9}B {_h(sent * R):>16} {_h(evb * R):>24} "
                     f"{a_st + b_st * R + a_rss + b_rss * R:>8.0f}MiB {a_g + b_g * R:>7.2f}s {a_w + b_w * R:>8.2f}s "
                     f"{a_an + b_an * R:>7.2f}s {a_o + b_o * R:>8.2f}s")
    return lines


def _h(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if b < 1024 or unit == "TiB":
            return f"{b:.1f} {unit}" if unit != "B" else f"{int(b)} B"
        b /= 1024
    return str(b)


def driver(args) -> int:
    d = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="bench-ranks-"))
    if not args.reuse:
        (d / "tree.json").write_text(json.dumps(tree(args.loop)))
    else:     # the kept runs' tree, whatever --loop says now
        if not (d / "tree.json").is_file():
            sys.exit(f"--reuse {d}: no tree.json there (a directory kept by --keep holds one)")
        args.loop = loop_of(json.loads((d / "tree.json").read_text()))
    load = os.getloadavg()
    print(f"calltree, {args.loop} loop iterations per rank (~{21 * args.loop} events per rank, "
          f"4 sites), ranks {args.ranks}; {os.cpu_count()} cores; load average at start "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", flush=True)
    hdr = (f"{'ranks':>5} {'events/rank':>11} {'event B/rank':>12} {'sent B/rank':>11} "
           f"{'RSS0 start':>10} {'pre-write':>10} {'RSS0 peak':>9} {'run':>7} {'write':>7} {'evfile':>7} "
           f"{'reduce':>7} {'gather':>7} {'h5 r0':>7} {'analyze':>8} {'optimize':>8} {'job':>7}")
    print(hdr, flush=True)
    print("(RSS0: rank 0's peak RSS after set-up, after the adjoint run, and at the end; "
          "write = events file + reduce + gather + profile.h5)", flush=True)
    rows = []
    for n in map(int, args.ranks.split(",")):
        legacy_ns = [int(x) for x in args.legacy.split(",")] if args.legacy else []
        for legacy in ([False, True] if n in legacy_ns else [False]):
            try:
                r = measure(n, d, args, legacy)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"{n:>5} {'legacy' if legacy else ''} FAILED: {str(exc)[:2000]}", flush=True)
                continue
            rows.append(r)
            tag = " (before: gather events to rank 0)" if legacy else ""
            an = f"{r['analyze_s']:7.2f}s {r['optimize_s']:7.2f}s" if not legacy else f"{'':>8} {'':>8}"
            print(f"{n:>5} {r['nevents']:>11} {r['event_bytes']:>12} {r['sent_bytes']:>11} "
                  f"{r['rss0_start']:>7.1f}MiB {r['rss0_prewrite']:>7.1f}MiB {r['rss0_peak']:>6.1f}MiB {r['run_s']:>6.2f}s "
                  f"{r['write_s']:>6.2f}s {r['write_events_s']:>6.2f}s {r['reduce_s']:>6.2f}s "
                  f"{r['gather_s']:>6.3f}s {r['write_profile_s']:>6.2f}s {an} "
                  f"{'reused' if r['job_s'] != r['job_s'] else format(r['job_s'], '6.1f') + 's':>7}{tag}",
                  flush=True)
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if len([r for r in rows if not r["legacy"]]) >= 2:
        print()
        for line in checks(rows, args):
            print(line)
        print()
        for line in extrapolate(rows):
            print(line)
    if args.keep or args.reuse:
        print(f"files kept in {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", default="2,8,32,64", help="rank counts (default 2,8,32,64)")
    ap.add_argument("--loop", type=int, default=2000, help="loop iterations per rank (events ~ 21x; default 2000)")
    ap.add_argument("--legacy", default="", metavar="N,...",
                    help="at these rank counts, also measure the former way: every rank's events "
                         "gathered to rank 0 and written there")
    ap.add_argument("--event-files", default="", metavar="node|rank|G",
                    help="how the profiles file their raw events (default: profile's, one file per node)")
    ap.add_argument("--keep", action="store_true", help="keep the profiles")
    ap.add_argument("--reuse", default="", metavar="DIR",
                    help="take the profiling runs kept (--keep) in DIR instead of running them again; "
                         "analyse, optimise and check again")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--gather-events", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    ap.add_argument("--profile", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.phase:
        return phase(args)
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
