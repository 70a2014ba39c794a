"""The benchmarks under bench/ as a user meets them: --help, what a tuning step's runs
cost, and no files left behind. Tiny sizes; no timing is asserted."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from phtest import ROOT

BENCH = ROOT / "bench"
SCRIPTS = ["bench_adjoint", "bench_analysis", "bench_calltree", "bench_model", "bench_ranks",
           "bench_stack", "bench_tune", "fault_campaign"]


def _bench_module(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _first_paragraph(path) -> str:
    src = path.read_text()
    doc = src.split('"""')[1]
    return " ".join(doc.split("\n\n")[0].split())


@pytest.mark.parametrize("name", SCRIPTS)
def test_bench_help_says_what_it_measures_and_what_every_option_does(name, tmp_path):
    # --help printed the docstring's first line only, cut mid-sentence for three of them
    # ("... adjoint/primal ratio with every site checkpointed"), and most options had no text
    p = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--help"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert _first_paragraph(BENCH / f"{name}.py") in " ".join(p.stdout.split()), p.stdout
    lines = p.stdout.split("options:", 1)[1].splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^  (-\S.*?)(\s{2,}\S.*)?$", line)
        if not m or line.startswith("  -h, --help"):
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        has_text = m.group(2) is not None or nxt.startswith("    ")     # options start at column 2
        assert has_text, f"{name}: {m.group(1)} has no help text"


def test_calltree_tuning_counts_every_run_of_a_step():
    # a greedy inhibit step with --rounds 2 runs the candidate and the incumbent twice each:
    # the benchmark counted the one recorded run and called the other three the tuner's work
    from pyharness.backends.base import Measurement
    from pyharness.tuner.state import StepRecord
    from pyharness.vocabulary import Decision, Phase
    runs_wall = _bench_module("bench_calltree").runs_wall
    m = Measurement(wall_s=(0.2, 0.3), cpu_s=(0.2, 0.3), peak_bytes=(1, 1), cost=0.0, grad_digest="",
                    profile="p.h5")
    four = StepRecord(step=1, phase=Phase.INHIBIT, flips=("a",), inhibited=("a",),
                      decision=Decision.ACCEPTED, measurement=m, runs=4,
                      rounds_incumbent=(0.4, 0.5), rounds_candidate=(0.3, 0.3))
    one = StepRecord(step=2, phase=Phase.ACTIVATE, flips=("a",), inhibited=(),
                     decision=Decision.ACCEPTED, measurement=m, runs=1)
    assert runs_wall(four) == pytest.approx(0.4 + 0.5 + 0.3 + 0.3)
    assert runs_wall(one) == pytest.approx(0.3)          # the slowest rank's


def test_bench_model_leaves_no_files_behind(tmp_path):
    # both modes made a directory under TMPDIR with the profiles and never removed it
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    for args in (["--solve", "8", "--time-limit", "10"],
                 ["--kernel", "calltree", "--size", "small", "--configs", "1", "--repeat", "1"]):
        p = subprocess.run([sys.executable, str(BENCH / "bench_model.py"), *args], capture_output=True,
                           text=True, cwd=tmp_path, env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        assert "optimal" in p.stdout or "peaks exact" in p.stdout, p.stdout
        assert sorted(os.listdir(tmp)) == [], args


def test_bench_adjoint_prints_the_times_its_ratios_come_from(tmp_path):
    # the small size's primal printed '0.000 s' beside 'adjoint/primal 22.75': a time the
    # ratio divides by cannot be nothing (three significant digits, as analyze prints)
    p = subprocess.run([sys.executable, str(BENCH / "bench_adjoint.py"), "--kernel", "streamice",
                        "--size", "small"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr
    times = {m.group(1): float(m.group(2))
             for m in re.finditer(r"^  (primal|adjoint, [a-z ,]+?)\s+([0-9.]+) s", p.stdout, re.M)}
    assert len(times) == 5, p.stdout
    assert all(t > 0 for t in times.values()), p.stdout


def test_bench_ranks_reuse_states_the_kept_runs_size(tmp_path):
    # --reuse printed the default --loop (2000 iterations, ~42000 events per rank) over runs
    # kept with --loop 20, and 'nans' for the job time it did not measure
    env = dict(os.environ, TMPDIR=str(tmp_path))
    bench = [sys.executable, str(BENCH / "bench_ranks.py"), "--ranks", "1"]
    p = subprocess.run(bench + ["--loop", "20", "--keep"], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    kept = p.stdout.strip().splitlines()[-1].split("files kept in ")[1]
    p = subprocess.run(bench + ["--reuse", kept], capture_output=True, text=True, cwd=tmp_path, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    assert "calltree, 20 loop iterations per rank" in p.stdout, p.stdout
    # the kept tree's events per rank: per loop iteration a and its two b's (6 events each
    # and a turn each: 21), plus c, the two d's (7 each) and the root's turn (22)
    row = [line for line in p.stdout.splitlines() if line.split()[:1] == ["1"]]
    assert row and row[0].split()[1] == str(21 * 20 + 22) and "nan" not in row[0], p.stdout


def test_fault_campaign_refuses_a_used_directory(tmp_path):
    # --dir of an earlier campaign: its uninterrupted run found source.h5 there, tune refused
    # to overwrite the history, and the campaign ended in a CalledProcessError traceback
    (tmp_path / "source.h5").write_bytes(b"")
    p = subprocess.run([sys.executable, str(BENCH / "fault_campaign.py"), "--dir", str(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert f"--dir {tmp_path} is not empty" in p.stderr, p.stderr
