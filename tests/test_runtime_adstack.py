"""The AD stack as a user's Tapenade adjoint links it: the programs in
tests/fortran/ are compiled and linked with nothing but ``pyharness-config``
flags against the installed library (static, the default, and shared), then run.

Byte counts are derived by hand from adStack.c's accounting: control bits and
scalar booleans fill a 32-bit word that reaches the stack (4 bytes) when full;
a boolean array element is a 4-byte LOGICAL; a character is 1 byte.
"""

import os
import subprocess

import pytest

from phtest import ROOT, build_against_runtime, mpirun  # noqa: F401

SRC = ROOT / "tests" / "fortran"


def run(exe, env=None):
    return subprocess.run([str(exe)], check=True, capture_output=True, text=True,
                          env=env or dict(os.environ)).stdout


def rows(out, tag):
    return [l.split()[1:] for l in out.splitlines() if l.split() and l.split()[0] == tag]


def value(out, tag):
    return rows(out, tag)[0][0]


@pytest.fixture(scope="module", params=["static", "shared"])
def build(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"adstack_{request.param}")

    def _build(name, compiler="gfortran", ext=".f90"):
        return build_against_runtime([SRC / (name + ext)], d / name, compiler=compiler,
                                     shared=request.param == "shared")
    return _build


def test_fixed_point_adjoint_pushing_inside_its_repeat_section_converges(build):
    out = run(build("adstack_fixedpoint"))
    z = float(value(out, "PRIMAL"))
    grad, fd = float(value(out, "GRAD")), float(value(out, "FD"))
    import math
    closed = 2 * z / (1 - 0.5 * math.cos(z))     # implicit function theorem
    assert grad == pytest.approx(closed, rel=1e-12)
    assert grad == pytest.approx(fd, rel=1e-8)
    # the adjoint contracts by |0.5 cos z| <= 0.5 per pass: converged well before 200
    assert int(value(out, "ITERS")) < 60
    # peak: 10 filler reals + the frozen z (88 bytes), then the body's own tape
    # above it: real 8 + integer 4 + 40 bits (one full word, 4) + real 8 = 24
    assert int(value(out, "PEAK")) == 80 + 8 + 24
    assert int(value(out, "LEFT")) == 0 and int(value(out, "STATUS")) == 0
    assert "FILLER WRONG" not in out


def test_every_pass_of_a_repeat_section_pops_the_frozen_tape_again(build):
    out = run(build("adstack_repeat_passes"))
    want = ["10.", "9.", "8.", "99.", "99.", "99.", "99.", "7.", "6.", "5.", "4.", "3.", "2.", "1."]
    assert rows(out, "PASS") == [["1", *want], ["2", *want]]
    # the four pushes inside the section go above the frozen 80 bytes
    assert int(value(out, "PEAK")) == 80 + 4 * 8
    assert int(value(out, "LEFT")) == 0


def test_byte_counts_of_every_type_equal_adstack_c(build):
    out = run(build("adstack_types"))
    assert [l for l in out.splitlines() if l.startswith("BAD")] == []
    size = {t: int(b) for t, b in rows(out, "SIZE")}
    assert size["ctl1b"] == 100 // 32 * 4                  # 100 bits: 3 full words, 4 bits held
    assert size["ctl3b"] == (100 + 30) // 32 * 4           # 130 bits: 4 words
    assert size["bool"] == (130 + 30) // 32 * 4            # 160 bits: exactly 5 words
    assert size["boolarray"] == 20 + 7 * 4                 # LOGICAL array: 4 bytes each
    assert size["chararray"] == 48 + 13
    assert size["char"] == 61 + 1
    assert size["ctl8b"] == 62                             # 8 bits, still in the word
    # complex16 16, complex8 8, integer8 8, real4 x3 12, real16 16, pointer8 8
    assert size["scalars"] == 62 + 16 + 8 + 8 + 12 + 16 + 8
    assert int(value(out, "PEAK")) == size["scalars"]
    assert size["after-boolarray"] == 20 and size["end"] == 0
    assert rows(out, "TRAFFIC") == [["130", "130"]]
    assert "Peak stack size (1 blocks): 130 bytes" in out
    assert "Total push/pop traffic 260 bytes" in out


def test_c_names(build):
    out = run(build("adstack_c_names", compiler="gcc", ext=".c"))
    assert "BAD" not in out
    # real8 8 + integer4 4 + 33 x 2 bits = 66 bits: two full words, 8 bytes
    assert rows(out, "SIZE") == [["pushed", "20"], ["end", "0"]]


def test_mpi_adjoint_at_two_ranks(build, have_mpiexec):
    exe = build("adstack_mpi", compiler="mpif90")
    # env given explicitly: once mpi4py initialised MPI in this process (another
    # test did), the C-level environment carries OpenMPI singleton variables that
    # make a child mpiexec fail silently; os.environ does not have them
    proc = subprocess.run(["mpiexec", "-n", "2", str(exe)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    assert proc.returncode == 0, f"mpiexec exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    got = sorted(rows(proc.stdout, "RANK"))
    assert len(got) == 2
    for r, (rank, _, peak, _, left, _, err) in enumerate(got):
        # rank r pushes 5 + r reals; its 5 + r control bits stay in the word
        assert int(rank) == r and int(peak) == 8 * (5 + r) and int(left) == 0
        assert float(err) == 0.0


def test_entry_points_cover_adstack_c(tmp_path):
    """The 67 Fortran entry points of adStack.c (listed here from its interface)."""
    from phtest import pyharness_config
    lib = [f for f in pyharness_config("--libs") if f.endswith(".a")][0]
    syms = subprocess.run(["nm", "-g", "--defined-only", lib], capture_output=True, text=True,
                          check=True).stdout.split()
    types = ["integer4", "integer8", "real4", "real8", "real16", "complex8", "complex16", "character"]
    want = [f"{d}{t}{a}_" for d in ("push", "pop") for t in types for a in ("", "array")]
    want += [f"{d}{t}_" for d in ("push", "pop") for t in ("pointer4", "pointer8", "boolean", "booleanarray")]
    want += [f"{d}control{n}b_" for d in ("push", "pop") for n in range(1, 9)]
    want += [f"adstack_{w}_" for w in ("startrepeat", "resetrepeat", "endrepeat", "showpeaksize",
                                       "showtotaltraffic", "showstacksize", "showstack")]
    want += ["stackisthreadsafe_", "showerrorcontext_", "locstrb_", "locstro_"]
    assert len(want) == 67
    assert sorted(set(want) - set(syms)) == []
    c_names = ["pushReal8", "popReal8", "pushControl1b", "popControl8b", "pushBoolean",
               "adStack_getCurrentStackSize", "adStack_startRepeat", "pushCharacterArray"]
    assert sorted(set(c_names) - set(syms)) == []
