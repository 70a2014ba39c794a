"""The default link, as users get it: ``pyharness-config --libs`` is the static
archive, and the same flags link a program without MPI (plain gfortran) and an
MPI program (mpif90). The runtime references no MPI symbol; the rank in the trace
file names comes from MPI when the program has it initialised, else from the
launcher's variables, else 0 (docs/RUNTIME.md, "Ranks").

tests/fortran/tapenade_plain.f90 (no MPI) and tapenade_mpi.f90 are Tapenade-shaped
adjoints; the expected values are derived by hand in their headers.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from phtest import ROOT, build_against_runtime, pyharness_config

from pyharness.ingest import read_trace, read_traces

SRC = ROOT / "tests" / "fortran"
LAUNCHER_VARS = ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "PMIX_RANK",
                 "PMIX_SIZE", "SLURM_PROCID", "SLURM_NTASKS")


def clean_env(**extra) -> dict:
    """This process's environment without profiling or launcher variables (pytest may
    itself run under a launcher), plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if k not in LAUNCHER_VARS and not k.startswith("PYHARNESS_")}
    env.update(extra)
    return env


def archive() -> Path:
    return Path([f for f in pyharness_config("--libs") if f.endswith(".a")][0])


def test_flags_default_static_and_shared_on_request():
    default = pyharness_config("--libs")
    assert default == pyharness_config("--libs", "--static")         # the old spelling still works
    a = archive()
    assert a.name == "libpyharness_runtime.a" and a.is_file()
    assert not any(f.startswith("-lmpi") or "mpi" in Path(f).name for f in default)
    shared = pyharness_config("--libs", "--shared")
    assert "-lpyharness_runtime" in shared and any(f.startswith("-Wl,-rpath,") for f in shared)
    assert (Path(shared[0][2:]) / "libpyharness_runtime.so").is_file()


def test_pkg_config_files_match_the_flags():
    if shutil.which("pkg-config") is None:
        pytest.fail("pkg-config not found: run scripts/setup.sh")
    env = dict(os.environ, PKG_CONFIG_PATH=pyharness_config("--pkgconfigdir")[0])

    def pc(*args):
        return subprocess.run(["pkg-config", *args], env=env, check=True, capture_output=True,
                              text=True).stdout.split()
    # pyharness.pc is the default (static) link, pyharness-shared.pc the shared one;
    # pkg-config spells the directories its own way: compare the files they name
    static = pc("--libs", "pyharness")
    assert [Path(f).resolve() for f in static if f.endswith(".a")] == [archive().resolve()]
    assert [f for f in static if not f.endswith(".a")] == ["-lgfortran", "-lm", "-ldl"]
    shared = pc("--libs", "pyharness-shared")
    assert "-lpyharness_runtime" in shared and not any(f.endswith(".a") for f in shared)
    libdir = [Path(f[2:]).resolve() for f in shared if f.startswith("-L")]
    assert libdir == [archive().parent.resolve()]
    assert [Path(f[2:]).resolve() for f in pc("--cflags", "pyharness")] == \
        [Path(pyharness_config("--fflags")[0][2:]).resolve()]


def test_the_runtime_references_no_mpi_symbol():
    """What lets one archive link with and without MPI: no MPI symbol is needed
    (the recorder looks MPI up with dlsym), and the shared library needs no libmpi."""
    undefined = subprocess.run(["nm", "-u", str(archive())], check=True, capture_output=True,
                               text=True).stdout.split()
    mpi = sorted({s for s in undefined if s.lower().startswith(("mpi_", "pmpi_", "ompi_", "mpir_"))})
    assert mpi == []
    so = archive().with_suffix(".so")
    needed = subprocess.run(["readelf", "-d", str(so)], check=True, capture_output=True, text=True).stdout
    assert "libmpi" not in needed


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    d = tmp_path_factory.mktemp("link_plain")
    # plain gfortran: no MPI wrapper, no MPI library, only pyharness-config's flags
    return build_against_runtime([SRC / "tapenade_plain.f90"], d / "tapenade_plain", compiler="gfortran")


def run_plain(exe, cwd, **env):
    p = subprocess.run([str(exe)], cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_program_without_mpi_links_statically_and_writes_its_trace(plain, tmp_path):
    needed = subprocess.run(["readelf", "-d", str(plain)], check=True, capture_output=True,
                            text=True).stdout
    assert "libmpi" not in needed and "libpyharness_runtime" not in needed     # static, no MPI
    out = run_plain(plain, tmp_path, PYHARNESS_PROFILE=str(tmp_path / "tr"))
    grads = [l.split()[1:] for l in out.splitlines() if l.startswith("GRAD")]
    assert len(grads) == 5 and all(float(g) == float(r) for _, g, r in grads)
    assert "Peak stack size (1 blocks): 40 bytes" in out
    # no MPI, no launcher: rank 0 of 1, the trace written at exit
    assert sorted(p.name for p in (tmp_path / "tr").iterdir()) == ["pyharness.00000.phtrace"]
    t = read_trace(tmp_path / "tr" / "pyharness.00000.phtrace")
    assert (t.rank, t.nranks) == (0, 1)
    assert t.peak == 40 and t.current == 0
    assert len(t.kind) == 8                           # 6 events at the site, 2 turns
    assert "sq" in t.callee and "main" in t.callee


def test_program_without_mpi_takes_the_rank_from_the_launcher(plain, tmp_path):
    run_plain(plain, tmp_path, PYHARNESS_PROFILE=str(tmp_path / "tr"), OMPI_COMM_WORLD_RANK="3",
              OMPI_COMM_WORLD_SIZE="4")
    t = read_trace(tmp_path / "tr" / "pyharness.00003.phtrace")
    assert (t.rank, t.nranks) == (3, 4)
    run_plain(plain, tmp_path, PYHARNESS_PROFILE=str(tmp_path / "tr2"), SLURM_PROCID="1", SLURM_NTASKS="2")
    assert (read_trace(tmp_path / "tr2" / "pyharness.00001.phtrace").rank, 2) == (1, 2)


def test_program_without_mpi_under_mpiexec(plain, tmp_path, have_mpiexec):
    p = subprocess.run(["mpiexec", "-n", "2", str(plain)], cwd=tmp_path, capture_output=True, text=True,
                       env=clean_env(PYHARNESS_PROFILE=str(tmp_path / "tr")), timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert [(t.rank, t.nranks) for t in read_traces(tmp_path / "tr")] == [(0, 2), (1, 2)]


def test_only_push_pop_still_writes_the_trace_at_exit(tmp_path):
    """A program that calls only PUSH/POP (an adjoint built without -profile) takes
    the recorder along from the archive too: its trace is written at exit, as from
    the shared library, with the stack's figures."""
    exe = build_against_runtime([SRC / "adstack_repeat_passes.f90"], tmp_path / "passes")
    out = run_plain(exe, tmp_path, PYHARNESS_PROFILE=str(tmp_path / "tr"))
    assert "PASS 1" in out
    t = read_trace(tmp_path / "tr" / "pyharness.00000.phtrace")
    assert len(t.kind) == 0 and t.peak == 80 + 4 * 8


@pytest.fixture(scope="module")
def mpi_exe(tmp_path_factory):
    for tool in ("mpif90", "mpiexec"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: run scripts/setup.sh")
    d = tmp_path_factory.mktemp("link_mpi")
    return build_against_runtime([SRC / "tapenade_mpi.f90"], d / "tapenade_mpi", compiler="mpif90",
                                 extra=("-fallow-argument-mismatch",))


def test_mpi_program_gets_its_ranks_from_mpi(mpi_exe, tmp_path):
    """Linked the default way with mpif90, at 2 ranks: the launcher's variables are
    made wrong (rank 7 of 9 on both) between mpiexec and the program, so the trace
    names and headers can be right only if the rank came from MPI. The program
    writes its traces with ADPROFILEADJ_SHOWPROFILESFILE, before MPI_Finalize, as
    MITgcm's main program does (a trace written at exit, after MPI_Finalize, can no
    longer ask MPI: it takes the launcher's variables)."""
    assert "libpyharness_runtime" not in subprocess.run(["readelf", "-d", str(mpi_exe)], check=True,
                                                        capture_output=True, text=True).stdout
    wrong = ["OMPI_COMM_WORLD_RANK=7", "OMPI_COMM_WORLD_SIZE=9", "PMI_RANK=7", "PMI_SIZE=9",
             "SLURM_PROCID=7", "SLURM_NTASKS=9"]
    p = subprocess.run(["mpiexec", "-n", "2", "env", *wrong, str(mpi_exe), "1"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120,
                       env=clean_env(PYHARNESS_PROFILE=str(tmp_path / "tr")))
    assert p.returncode == 0, p.stdout + p.stderr
    assert sorted(f.name for f in (tmp_path / "tr").iterdir()) == \
        ["pyharness.00000.phtrace", "pyharness.00001.phtrace"]
    traces = read_traces(tmp_path / "tr")
    assert [(t.rank, t.nranks) for t in traces] == [(0, 2), (1, 2)]
    # the rank printed by the program itself (MPI_Comm_rank) agrees with the file's
    ranks = sorted({int(l.split()[1]) for l in p.stdout.splitlines() if l.startswith("COST")})
    assert ranks == [0, 1]
    assert all(t.peak == 4 * 6 * 8 for t in traces)     # tapenade_mpi.f90: 4 arrays of 6 reals


def test_python_runtime_gets_its_ranks_from_mpi(tmp_path, have_mpiexec):
    """The same lookup from inside the Python extension (the runtime linked into
    _phapi.so, loaded privately, MPI initialised by mpi4py): dlsym searches the
    extension's own dependencies, so MPI is found there too."""
    import sys
    code = ("from mpi4py import MPI; from pyharness import runtime; "
            f"runtime.write_trace({str(tmp_path / 'tr')!r})")
    wrong = ["OMPI_COMM_WORLD_RANK=7", "OMPI_COMM_WORLD_SIZE=9"]
    p = subprocess.run(["mpiexec", "-n", "2", "env", *wrong, sys.executable, "-c", code], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, env=clean_env())
    assert p.returncode == 0, p.stdout + p.stderr
    assert [(t.rank, t.nranks) for t in read_traces(tmp_path / "tr")] == [(0, 2), (1, 2)]
