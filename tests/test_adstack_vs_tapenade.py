"""The runtime against Tapenade's own ADFirstAidKit, when you give its sources.

Tapenade's sources are not shipped with pyharness, so the comparisons run only
when their paths are given, and are skipped otherwise (with the reason):

    ADSTACK_C=/path/to/ADFirstAidKit/adStack.c \\
    ADBINOMIAL_C=/path/to/ADFirstAidKit/adBinomial.c \\
        python -m pytest tests/test_adstack_vs_tapenade.py

- tests/fortran/adstack_accounting.f90 calls only Tapenade's entry points and
  prints the stack size after every push, pop and repeat-section call; linked
  against the runtime (static, the default, and shared) and against adStack.c, the outputs must
  be the same line for line (sizes, values, peak).
- tests/fortran/tapenade_binomial.f90 is a time loop reversed by binomial
  checkpointing with Tapenade's adBinomial.c choosing the actions: it must link
  alongside the runtime (static and shared) and give the gradient of the fully
  taped loop, bit for bit.

Without the sources, the runtime's own output of the accounting program is
checked against byte counts derived by hand from adStack.c's rules.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phtest import ROOT, build_against_runtime

SRC = ROOT / "tests" / "fortran"


def _given(var: str, what: str) -> Path:
    v = os.environ.get(var)
    if not v:
        pytest.skip(f"{var} not set: give the path of Tapenade's {what} to compare "
                    "(Tapenade's sources are not shipped with pyharness)")
    p = Path(v)
    if not p.is_file():
        pytest.fail(f"{var}={v}: no such file")
    return p


def _built(cmd: list, what: str) -> None:
    """Run a compiler; a file given as Tapenade's that is not (another C file, another
    version) fails the test saying which, with the compiler's own words."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-8:])
        pytest.fail(f"{what}\n  $ {' '.join(cmd)}\n{tail}", pytrace=False)


def _compile_c(src: Path, d: Path, *defines: str) -> Path:
    """Compile one of Tapenade's C files as its users do (its own directory on -I)."""
    obj = d / (src.stem + ".o")
    _built(["gcc", "-O2", "-I", str(src.parent), *defines, "-c", str(src), "-o", str(obj)],
           f"{src} could not be compiled as Tapenade's {src.name} (its own directory on -I):")
    return obj


def _link_plain(sources: list, exe: Path) -> Path:
    """A Fortran program linked with Tapenade's objects only, no pyharness."""
    fc = shutil.which("gfortran")
    assert fc, "gfortran not found: run scripts/setup.sh"
    given = ", ".join(f"{v}={os.environ[v]}" for v in ("ADSTACK_C", "ADBINOMIAL_C") if os.environ.get(v))
    _built([fc, "-O2", *map(str, sources), "-o", str(exe)],
           f"the program does not link with Tapenade's objects: are {given} Tapenade's files "
           "(the entry points the program calls are missing)?")
    return exe


def _run(exe: Path) -> str:
    return subprocess.run([str(exe)], check=True, capture_output=True, text=True,
                          timeout=120).stdout


def _rows(out: str, tag: str) -> list:
    return [line.split()[1:] for line in out.splitlines() if line.split()[:1] == [tag]]


@pytest.fixture(scope="module", params=["static", "shared"])
def ours(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"vs_tapenade_{request.param}")

    def _build(name: str, extra_objs=()) -> Path:
        return build_against_runtime([SRC / f"{name}.f90", *extra_objs], d / name,
                                     shared=request.param == "shared")
    _build.dir = d
    return _build


# ---------------------------------------------------------------- accounting

def test_accounting_by_hand(ours):
    """Without Tapenade's sources: the runtime's sizes after the first pushes,
    derived by hand (adStack.c: 8/4/16/4/8/8/16/1/8 bytes for real8, real4,
    real16, integer4, integer8, complex8, complex16, character, pointer8; arrays
    n times that; a boolean array 4 bytes per element)."""
    out = _run(ours("adstack_accounting"))
    assert not [line for line in out.splitlines() if line.startswith("BAD")], out
    sizes = {}
    for tag, n in _rows(out, "S"):
        sizes.setdefault(tag, int(n))           # first occurrence: after the push
    expected = {"start": 0, "real8": 8, "real4": 12, "real16": 28, "integer4": 32, "integer8": 40,
                "complex8": 48, "complex16": 64, "character": 65, "pointer8": 73,
                "real8array": 105, "real4array": 117, "real16array": 149, "integer4array": 169,
                "integer8array": 193, "complex8array": 209, "complex16array": 241,
                "characterarray": 252, "booleanarray": 276}
    assert {k: sizes[k] for k in expected} == expected
    # control values 1b..8b, 9 each (324 bits), then 40 booleans: 364 bits,
    # 11 full words (44 bytes) on the stack, 12 bits waiting in the word
    booleans = [int(n) for t, n in _rows(out, "S") if t == "boolean"]
    assert booleans[39] == 276 + 44
    # popping the 40 booleans leaves the 324 control bits: 10 words, 4 bits in the word
    assert booleans[-1] == 276 + 40
    # the final size and the values popped: everything came back
    assert _rows(out, "S")[-1] == ["after-control1b", "0"]


def test_accounting_equals_tapenade_adstack(ours, tmp_path):
    adstack = _given("ADSTACK_C", "adStack.c")
    # ADSTACK_PROFILE: adStack.c counts the traffic only then
    tap = _link_plain([SRC / "adstack_accounting.f90", _compile_c(adstack, tmp_path, "-DADSTACK_PROFILE")],
                      tmp_path / "accounting_tapenade")

    def split(out):      # the traffic line comes from C's printf: its place depends on buffering
        lines = out.splitlines()
        return [x for x in lines if "traffic" not in x], [x for x in lines if "traffic" in x]
    expected, expected_traffic = split(_run(tap))
    got, got_traffic = split(_run(ours("adstack_accounting")))
    diff = [(a, b) for a, b in zip(got, expected) if a != b]
    assert not diff and len(got) == len(expected), f"first differences (runtime, adStack.c): {diff[:10]}"
    assert got_traffic == expected_traffic and len(got_traffic) == 1


# ---------------------------------------------------------------- adBinomial

def test_binomial_checkpointing_links_alongside(ours, tmp_path):
    adbinomial = _given("ADBINOMIAL_C", "adBinomial.c")
    out = _run(ours("tapenade_binomial", [_compile_c(adbinomial, tmp_path)]))
    val = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.split()}
    assert val["GRAD_BINOMIAL"] == val["GRAD_TAPE"]           # bit for bit
    assert float(val["GRAD_BINOMIAL"]) == pytest.approx(float(val["FD"]), rel=1e-7)
    assert int(val["LEFT"]) == 0
    assert int(val["SNAPS"]) == 4                               # the schedule used every snapshot
    # 4 snapshots of 16 reals + one step's tape (16 reals; its 16 bits in the word)
    assert int(val["PEAK_BINOMIAL"]) == 5 * 16 * 8
    # 40 steps of 16 reals and 16 bits: 5120 + 20 words
    assert int(val["PEAK_TAPE"]) == 40 * 16 * 8 + 20 * 4
    if os.environ.get("ADSTACK_C"):          # and the same run as under Tapenade's own stack
        adstack = _given("ADSTACK_C", "adStack.c")
        tap = _link_plain([SRC / "tapenade_binomial.f90", _compile_c(adstack, tmp_path),
                           _compile_c(adbinomial, tmp_path)], tmp_path / "binomial_tapenade")
        assert _run(tap) == out


def test_a_wrong_adstack_c_is_named_with_the_linkers_words(tmp_path):
    # a C file given as adStack.c that is not Tapenade's failed with a CalledProcessError
    # whose compiler output was captured and never shown
    if os.environ.get("PH_INNER_TAPENADE_RUN"):
        pytest.skip("the inner run of this check")
    (tmp_path / "adStack.c").write_text("int not_adstack = 1;\n")
    env = dict(os.environ, ADSTACK_C=str(tmp_path / "adStack.c"), PH_INNER_TAPENADE_RUN="1")
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__)),
                        "-k", "accounting_equals_tapenade and static"], capture_output=True, text=True,
                       env=env, cwd=ROOT / "tests", timeout=300)
    assert p.returncode == 1, p.stdout
    assert f"ADSTACK_C={tmp_path / 'adStack.c'} Tapenade's files" in p.stdout, p.stdout
    assert "undefined reference to `" in p.stdout and "CalledProcessError" not in p.stdout, p.stdout
