"""The Fortran runtime driven the way Tapenade's -profile adjoints drive it.

tests/fortran/tapenade_style.f90 is compiled and linked against the installed
runtime library with nothing but pyharness-config's flags; the expected events and byte counts below are derived by hand from the
call tree written in that file (see its header).
"""

import os
import subprocess

import pytest

from phtest import ROOT, build_against_runtime


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    d = tmp_path_factory.mktemp("tapenade_style")
    # Tapenade's output calls PUSH*/POP* with varying argument types: -fallow-argument-mismatch.
    # scripts/test-debug.sh adds its checks and traps through PYHARNESS_TEST_FFLAGS.
    extra = os.environ.get("PYHARNESS_TEST_FFLAGS", "").split()
    exe = build_against_runtime([ROOT / "tests" / "fortran" / "tapenade_style.f90"], d / "tapenade_style",
                                extra=("-fallow-argument-mismatch", *extra))
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
    # 3 x (real8 + control bit), integer4, boolean: the 4 bits stay in adStack.c's
    # 32-bit word (it reaches the stack only when full), so they cost no bytes yet
    fwd_main = 3 * 8 + 4
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
    # 3 reals, an integer4; the 4 control/boolean bits never fill a 4-byte word
    assert peak == 80 + 3 * 8 + 4
    assert pushed == popped == 80 + 3 * 8 + 4 + 40


def test_limit_is_a_status_and_storing_goes_on(output):
    code, current, *msg = _rows(output, "LIMIT")[0]
    assert int(code) != 0
    # past the limit the stack keeps storing (so one rank over its limit keeps
    # computing what the others compute, and its MPI calls keep matching theirs);
    # the status fails the run at its end
    assert int(current) == 80 + 40
    assert "limit" in " ".join(msg)
    assert _rows(output, "POPPED")[0] == ["10.0"]   # y(5) = 2.0 each, popped intact
    code, *msg = _rows(output, "UNDERFLOW")[0]
    assert int(code) != 0 and "underflow" in " ".join(msg)
