"""The fault switch PYHARNESS_FAULT="<kind>:<k>[:<site>]" (docs/RUNTIME.md):
each kind does exactly what it says to a program linked against the installed
runtime, a malformed value is a clear error, and a fault naming a site acts
only while that site is inhibited."""

import os
import subprocess
import sys

import pytest

from phtest import ROOT, build_against_runtime


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    d = tmp_path_factory.mktemp("fault")
    return build_against_runtime([ROOT / "tests" / "fortran" / "adstack_fault.f90"], d / "adstack_fault")


def run(prog, fault):
    env = dict(os.environ)
    env.pop("PYHARNESS_FAULT", None)
    if fault is not None:
        env["PYHARNESS_FAULT"] = fault
    p = subprocess.run([str(prog)], capture_output=True, text=True, env=env, check=True)
    out = {l.split()[0]: l.split()[1:] for l in p.stdout.splitlines()}
    return out, p.stderr


def test_no_fault(prog):
    out, err = run(prog, None)
    assert out["REALS"] == ["5.0", "4.0", "3.0", "2.0", "1.0"] and out["CONTROLS"] == ["1", "0", "1"]
    assert out["STATUS"] == ["0"] and err == ""


def test_flip_real_flips_the_top_mantissa_bit_of_the_kth_popped_real(prog):
    out, err = run(prog, "flip-real:2")
    # the 2nd real popped is 4.0 = 2**2; its top mantissa bit set: 4 * 1.5 = 6
    assert out["REALS"] == ["5.0", "6.0", "3.0", "2.0", "1.0"]
    assert out["CONTROLS"] == ["1", "0", "1"] and out["STATUS"] == ["0"]
    assert "flip-real:2 fired" in err


def test_skip_push_skips_the_kth_push(prog):
    out, err = run(prog, "skip-push:3")
    # push 3 (the real 3.0) never happens: the pops shift and the last one underflows
    assert out["REALS"] == ["5.0", "4.0", "2.0", "1.0", "0.0"]
    assert out["STATUS"][0] == "2" and "underflow" in " ".join(out["STATUS"])
    assert "skip-push:3 fired" in err


def test_bad_control_pops_the_kth_control_wrong(prog):
    out, err = run(prog, "bad-control:2")
    assert out["CONTROLS"] == ["1", "1", "1"]        # pops in reverse: the 2nd popped is the 0
    assert out["REALS"] == ["5.0", "4.0", "3.0", "2.0", "1.0"]
    assert "bad-control:2 fired" in err


DROP_IN = """
program drop_in
  ! a Tapenade adjoint's calls only: it never asks for the AD stack's status
  real(8) :: x, y, z
  x = 2d0
  call pushreal8(x)
  call popreal8(y)
  call popreal8(z)          ! one pop too many: an underflow
  print '(a,2f5.1)', 'POPPED', y, z
end program drop_in
"""


def test_a_failure_nobody_asked_about_is_said_at_exit(prog, tmp_path):
    # adStack.c prints "Popping from an empty stack" (and crashes); linked in its place,
    # a program that never reads the status must not lose its underflow in silence
    src = tmp_path / "drop_in.f90"
    src.write_text(DROP_IN)
    exe = build_against_runtime([src], tmp_path / "drop_in")
    p = subprocess.run([str(exe)], capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                       if k != "PYHARNESS_FAULT"})
    assert "POPPED  2.0  0.0" in p.stdout
    assert "the AD stack failed in this run (status 2)" in p.stderr and "underflow" in p.stderr, p.stderr
    # a program that reads the status (ph_stack_status) reports it itself: nothing more at exit
    out, err = run(prog, "skip-push:3")
    assert out["STATUS"][0] == "2" and "failed in this run" not in err
    # a malformed fault: said at load; the program that did not ask hears it again at exit
    p = subprocess.run([str(exe)], capture_output=True, text=True, env=dict(os.environ, PYHARNESS_FAULT="flip:3"))
    assert p.stderr.count("PYHARNESS_FAULT='flip:3' is malformed") == 2, p.stderr
    assert "(status 6)" in p.stderr


@pytest.mark.parametrize("bad", ["flip-real", "flip:3", "flip-real:0", "skip-push:x", "bad-control:2:", ""])
def test_malformed_value_is_a_clear_error(prog, bad):
    out, err = run(prog, bad)
    if bad == "":
        assert out["STATUS"] == ["0"]                # empty: no fault
        return
    assert out["STATUS"][0] == "6"
    assert "PYHARNESS_FAULT" in err and "flip-real, skip-push or bad-control" in err


SCRIPT = r"""
import sys
from mpi4py import MPI
from pyharness import runtime
from pyharness.errors import UsageError
from pyharness.kernels import get_kernel
from pyharness.config import SiteTable
try:
    k = get_kernel("calltree").create(MPI.COMM_SELF, "small")
except UsageError as e:
    print("USAGE", e); sys.exit(0)
locs = [l for l in runtime.locations() if l.is_site]
mask = [True] * len(runtime.locations())
try:
    runtime.set_active(mask)
except UsageError as e:
    print("USAGE", e); sys.exit(0)
for inhibit in (False, True):
    mask = [True] * len(runtime.locations())
    mask[locs[0].index] = not inhibit
    runtime.set_active(mask)
    runtime.reset()
    k.adjoint(k.control_default())
    print("FIRED", inhibit, runtime.fault_fired())
"""


def _python(fault, tmp_path):
    env = dict(os.environ, PYHARNESS_FAULT=fault)
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def test_malformed_value_raises_in_python(tmp_path):
    p = _python("flip-real:-1", tmp_path)
    assert "USAGE PYHARNESS_FAULT='flip-real:-1' is malformed" in p.stdout, p.stdout + p.stderr


def test_unknown_site_is_a_clear_error(tmp_path):
    p = _python("flip-real:1:no_such_routine", tmp_path)
    assert "USAGE PYHARNESS_FAULT names site 'no_such_routine'" in p.stdout, p.stdout + p.stderr
    assert "known sites:" in p.stdout


def test_fault_naming_a_site_acts_only_while_it_is_inhibited(tmp_path):
    # the first site of the calltree kernel, by its callee name
    from pyharness.kernels import get_kernel  # noqa: F401  (installed package present)
    probe = subprocess.run([sys.executable, "-c", "from mpi4py import MPI\nfrom pyharness import runtime\n"
                            "from pyharness.kernels import get_kernel\n"
                            "get_kernel('calltree').create(MPI.COMM_SELF, 'small')\n"
                            "print([l.callee for l in runtime.locations() if l.is_site][0])"],
                           capture_output=True, text=True, cwd=tmp_path, check=True)
    site = probe.stdout.split()[-1]
    p = _python(f"flip-real:1:{site}", tmp_path)
    assert "FIRED False False" in p.stdout and "FIRED True True" in p.stdout, p.stdout + p.stderr
