"""bench/bench_stack.py builds and runs its driver every way it promises: the
default link (static), shared and, with ADSTACK_C, against a given adStack.c. Tiny sizes; no timing is
asserted (speed is the benchmark's business). The adStack.c here is a stand-in
written into the test's temp dir with the few entry points the driver calls."""

import os
import subprocess
import sys

from phtest import ROOT

STANDIN = r"""
#include <stdlib.h>
static char buf[1 << 24]; static long top = 0;
static void put(const void *x, int n) { for (int i = 0; i < n; i++) buf[top++] = ((const char *)x)[i]; }
static void get(void *x, int n) { for (int i = n - 1; i >= 0; i--) ((char *)x)[i] = buf[--top]; }
void pushreal8_(double *x) { put(x, 8); }      void popreal8_(double *x) { get(x, 8); }
void pushinteger4_(int *x) { put(x, 4); }      void popinteger4_(int *x) { get(x, 4); }
void pushcontrol1b_(int *x) { put(x, 4); }     void popcontrol1b_(int *x) { get(x, 4); }
void pushcontrol3b_(int *x) { put(x, 4); }     void popcontrol3b_(int *x) { get(x, 4); }
"""


def test_bench_stack_drivers_run_all_three_ways(tmp_path):
    (tmp_path / "adStack.c").write_text(STANDIN)
    env = dict(os.environ, ADSTACK_C=str(tmp_path / "adStack.c"))
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_stack.py"), "--part", "drivers",
                        "--rounds", "2", "--log2-pairs", "14"], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "ratio to adStack.c" in p.stdout
    assert "warm (the stack's memory allocated before the timing" in p.stdout    # as the README says
    lines = {l.split()[0]: l.split() for l in p.stdout.splitlines() if l.split()}
    for r in ("real8", "control1b", "integer4", "control3b"):
        assert r in lines and len(lines[r]) == 1 + 3 + 2      # 3 variants' times, 2 ratios
        # 2^14 push+pop pairs cannot take less than 2^14 ns: below 2^20 pairs (the driver's
        # round) no round ran, and every cell was a 1e-9 s floor printed as 0.000s
        for cell in lines[r][1:4]:
            assert float(cell.split("s+")[0]) >= 2**14 * 1e-9, lines[r]


def test_bench_stack_without_adstack_c_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ADSTACK_C"}
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_stack.py"), "--part", "drivers",
                        "--rounds", "1", "--log2-pairs", "12"], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "no ADSTACK_C given" in p.stdout and "ratio to default" in p.stdout


def _bench_drivers(tmp_path, adstack_c, *more):
    env = dict(os.environ, ADSTACK_C=str(adstack_c))
    return subprocess.run([sys.executable, str(ROOT / "bench" / "bench_stack.py"), "--part", "drivers",
                           "--rounds", "1", "--log2-pairs", "10", *more], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)


def test_bench_stack_refuses_a_wrong_adstack_c_saying_why(tmp_path):
    # a path that is not there, a directory, and a C file that is not Tapenade's adStack.c:
    # the last one ended in a CalledProcessError traceback from the link
    (tmp_path / "other.c").write_text("int not_adstack = 1;\n")
    for path, said in ((tmp_path / "nope" / "adStack.c", "no such file"), (tmp_path, "a directory"),
                       (tmp_path / "other.c", "could not be linked as Tapenade's adStack.c")):
        p = _bench_drivers(tmp_path, path)
        assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
        assert f"ADSTACK_C={path}: {said}" in p.stderr, p.stderr
    p = _bench_drivers(tmp_path, "", "--adstack-shared")        # nothing to build as a library
    assert p.returncode != 0 and "--adstack-shared" in p.stderr and "ADSTACK_C" in p.stderr, p.stderr
