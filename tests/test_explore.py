"""Exploration: every configuration of a tiny tree exactly once, resumable."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np

from phtest import mpirun, run1
from pyharness.explore import sample_configurations


def test_random_samples_are_seeded_and_uniform_in_size():
    sites = [f"s{i}" for i in range(10)]
    a = sample_configurations(sites, 200, 3, False)
    assert a == sample_configurations(sites, 200, 3, False)
    assert a != sample_configurations(sites, 200, 4, False)
    sizes = [len(c) for c in a]
    assert min(sizes) == 0 and max(sizes) == 10 and all(len(set(c)) == len(c) for c in a)


def test_exhaustive_then_resume_measures_each_configuration_once(tmp_path):
    args = ["-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=4", "--param", "m=16",
            "--exhaustive", "--out", str(tmp_path / "e.h5")]
    p = mpirun(2, args, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    with h5py.File(tmp_path / "e.h5") as f:
        first = sorted(f["samples"])
        configs = [tuple(json.loads(f["samples"][s].attrs["inhibited"])) for s in first]
    assert len(first) == 2 ** 4 and len(set(configs)) == 2 ** 4
    # resume of a finished run measures nothing again
    r = mpirun(2, args + ["--resume"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "e.h5") as f:
        assert sorted(f["samples"]) == first


def test_resume_after_removing_samples_fills_only_the_gaps(tmp_path):
    out = tmp_path / "e.h5"
    args = ["-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=3", "--param", "m=16",
            "--exhaustive", "--out", str(out)]
    assert mpirun(2, args, cwd=tmp_path).returncode == 0
    with h5py.File(out, "a") as f:          # pretend the run was killed after 3 samples
        for s in sorted(f["samples"])[3:]:
            del f["samples"][s]
    r = mpirun(2, args + ["--resume"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with h5py.File(out) as f:
        configs = [tuple(json.loads(f["samples"][s].attrs["inhibited"])) for s in sorted(f["samples"])]
    assert len(configs) == 8 and len(set(configs)) == 8


def test_exhaustive_refuses_big_trees(tmp_path):
    r = mpirun(1, ["-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=20",
                   "--exhaustive", "--out", str(tmp_path / "e.h5")], cwd=tmp_path)
    assert r.returncode == 2 and "2^20" in r.stderr


def test_exhaustive_ten_sites_every_configuration_gives_the_same_gradient(tmp_path):
    """All 1024 checkpoint configurations of a 10-site random tree (with shared
    callees), each a real 2-rank run: one gradient and one cost, bitwise; and the
    per-site peak estimates of the all-checkpointed profile are the measured
    single-flip changes."""
    from pyharness.analysis import analyze_profile
    out = tmp_path / "e.h5"
    p = mpirun(2, ["-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=10",
                   "--param", "seed=5", "--param", "m=32", "--exhaustive", "--out", str(out)],
               cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    with h5py.File(out) as f:
        sites = [s.decode() if isinstance(s, bytes) else s for s in f["sites"][()]]
        samples = {tuple(json.loads(g.attrs["inhibited"])): g for g in f["samples"].values()}
        assert len(samples) == 2 ** 10
        assert len({g.attrs["grad_sha1"] for g in samples.values()}) == 1
        assert len({float(g.attrs["cost"]) for g in samples.values()}) == 1
        peak = {c: int(np.max(g["peak_bytes"][()])) for c, g in samples.items()}
        base = samples[()].attrs["profile"]
    an = analyze_profile(tmp_path / base if not os.path.isabs(base) else base)
    est = {e.name: e.peak_change for e in an.estimates}
    assert {s: peak[(s,)] - peak[()] for s in sites} == {s: est[s] for s in sites}


def test_resume_with_other_settings_says_what_to_pass(tmp_path):
    """explore --resume with other settings named the mismatch but not the option that
    continues the exploration, unlike tune --resume."""
    args = ["-m", "pyharness.explore", "--kernel", "calltree", "--param", "m=16", "--out", str(tmp_path / "e.h5")]
    p = mpirun(1, args + ["--param", "nsites=2", "--exhaustive"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for more, want in [(["--param", "nsites=3", "--exhaustive"], "pass the same --param options"),
                       (["--param", "nsites=2", "--samples", "3"], "pass --exhaustive to continue it")]:
        r = mpirun(1, args + more + ["--resume"], cwd=tmp_path)
        assert r.returncode == 2 and "cannot resume" in r.stderr and want in r.stderr, (more, r.stderr)


def test_resume_with_fewer_samples_counts_what_it_planned(tmp_path):
    """explore --resume with fewer --samples than the exploration holds printed
    '3 of 1 configurations measured'."""
    args = ["-m", "pyharness.explore", "--kernel", "calltree", "--param", "nsites=2", "--param", "m=16",
            "--out", str(tmp_path / "e.h5")]
    assert run1(args + ["--samples", "3"], cwd=tmp_path).returncode == 0
    r = run1(args + ["--samples", "1", "--resume"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 of 1 configurations measured in" in r.stdout, r.stdout
    assert "(and 2 more, of an earlier run with more --samples)" in r.stdout
