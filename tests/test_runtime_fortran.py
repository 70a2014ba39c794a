"""The Fortran runtime driven the way Tapenade's -profile adjoints drive it.

tests/fortran/tapenade_style.f90 is compiled and linked against the runtime
sources; the expected events and byte counts below are derived by hand from the
call tree written in that file (see its header).
"""

import shutil
import subprocess

import pytest

from phtest import ROOT

RUNTIME = ["ph_kinds.f90", "ph_stack.f90", "ph_profile.f90", "ph_adstack.f90"]
RUNTIME_C = ["ph_trace.c", "ph_trace_table.c"]


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    fc = shutil.which("gfortran")
    if fc is None:
        pytest.fail("gfortran not found: run scripts/setup.sh")
    d = tmp_path_factory.mktemp("tapenade_style")
    objs = []
    for f in RUNTIME_C:   # the recorder, without MPI (rank from the launcher's variables)
        obj = d / (f + ".o")
        subprocess.run(["gcc", "-O2", "-c", str(ROOT / "fortran" / "runtime" / f), "-o", str(obj)],
                       check=True, capture_output=True, text=True)
        objs.append(str(obj))
    srcs = [str(ROOT / "fortran" / "runtime" / f) for f in RUNTIME] + objs
    srcs.append(str(ROOT / "tests" / "fortran" / "tapenade_style.f90"))
    exe = d / "tapenade_style"
    subprocess.run([fc, "-O2", "-fallow-argument-mismatch", "-J", str(d), *srcs, "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return out.splitlines()


def _rows(lines, tag):
    return [l.split()[1:] for l in lines if l.split()[0] == tag]


def test_locations_registered_from_callbacks(output):
    locs = _rows(output, "LOC")
    # the site (callee, file, line) and the two routines that turn, NUL stripped
    assert locs == [["0", "solve", "model.f", "12", "T"],
                    ["1", "main", "model.f", "0", "F"],
                    ["2", "solve", "model.f", "0", "F"]]


def test_events_follow_the_call_tree(output):
    ev = [tuple(map(int, r)) for r in _rows(output, "EV")]
    snap = 10 * 8                 # PUSHREAL8ARRAY(x, 10)
    fwd_main = 3 * (8 + 1) + 4 + 1  # 3 x (real8 + control bit), integer4, boolean
    tape_solve = 5 * 8            # solve_fwd pushes y(5)
    expected = [
        (1, 0, 0),                        # SNPWRITE solve
        (2, 0, snap),                     # BEGINADVANCE after the snapshot
        (3, 0, snap),                     # ENDADVANCE: the untaped run pushes nothing
        (7, 1, snap + fwd_main),          # TURN main
        (4, 0, snap),                     # SNPREAD: main's tape popped
        (5, 0, 0),                        # BEGINREVERSE: snapshot popped
        (7, 2, tape_solve),               # TURN solve in its re-run
        (6, 0, 0),                        # ENDREVERSE
        (8, -1, 0), (9, -1, 0), (10, -1, 0),  # repeat events, no location
        (1, 0, 0),                        # blank-padded names: the same site
    ]
    assert ev == expected
    assert "CLOCK NOT MONOTONIC" not in output


def test_exact_byte_accounting(output):
    cur, peak, pushed, popped = map(int, _rows(output, "STAT")[0])
    assert cur == 0
    assert peak == 80 + 3 * 9 + 5
    assert pushed == popped == 80 + 3 * 9 + 5 + 40


def test_hard_limit_is_a_status_not_a_crash(output):
    code, current, *msg = _rows(output, "LIMIT")[0]
    assert int(code) != 0
    assert int(current) == 80          # the refused push left the stack as it was
    assert "limit" in " ".join(msg)
    assert _rows(output, "POPPED")[0] == ["0.0"]   # pops after a failure give zeros
    code, *msg = _rows(output, "UNDERFLOW")[0]
    assert int(code) != 0 and "underflow" in " ".join(msg)
