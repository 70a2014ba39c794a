"""What a many-rank user reads: per-rank figures summarised, not one entry per rank.

Synthetic per-rank arrays in one process (no MPI run): a 2,000-rank user got a
60,000-character 'peak' line from optimize and predict, two 2,000-element lists from
tune when a measured peak differed from the prediction, and 2,000 overlapping tick
labels under report's per-rank bars.
"""

from types import SimpleNamespace

import numpy as np

from pyharness.predict import format_prediction
from pyharness.units import human_bytes, per_rank, rank_list, ranks_differing

R = 2000


def _peaks():
    p = np.full(R, 230624, dtype=np.int64)
    p[[3, 4, 5, 900]] = 240000          # the largest, on four ranks
    p[1500] = 200000                    # the smallest, on one
    return p


def test_rank_list_joins_consecutive_ranks_and_stops_at_the_limit():
    assert rank_list([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert rank_list(range(0, 40, 2), limit=3) == "0, 2, 4, ... (20 ranks in all)"


def test_per_rank_summary_stays_one_short_line_and_names_the_extreme_ranks():
    fmt = lambda v: f"{human_bytes(v)} ({int(v)} B)"
    text = per_rank(_peaks(), fmt)
    assert len(text) < 200, text
    assert "240000 B) largest (ranks 3-5, 900)" in text
    assert "smallest 195.31 KiB (200000 B) (rank 1500)" in text
    assert text.endswith(f"over {R} ranks")
    assert per_rank(_peaks(), fmt, option="--per-rank").endswith("(--per-rank: every rank's)")
    assert per_rank(np.full(R, 1024), fmt) == f"1.00 KiB (1024 B) on every rank ({R} ranks)"
    # every rank's on request, and at a few ranks as before
    every = per_rank(_peaks(), fmt, all_ranks=True)
    assert every.count("rank ") == R and "rank 1999: 225.22 KiB (230624 B)" in every
    assert per_rank([1, 2], str) == "rank 0: 1.0, rank 1: 2.0"


def test_predict_prints_a_summary_at_many_ranks_and_every_rank_with_per_rank():
    t = np.full(R, 0.0100)
    t[77] = 0.0125
    pred = SimpleNamespace(config=SimpleNamespace(inhibited=frozenset({"a"})), time=0.0125,
                           time_by_rank=t, cpu_by_rank=None, peak_by_rank=_peaks(),
                           exact=True, reasons=[])
    out = format_prediction("plan", pred)
    assert max(map(len, out.splitlines())) < 250, out
    assert "per rank 0.012500 slowest (rank 77)" in out and "largest (ranks 3-5, 900)" in out
    assert "(--per-rank: every rank's)" in out
    full = format_prediction("plan", pred, all_ranks=True)
    assert full.count("rank 1999: ") == 1 and full.count(", 0.010000") == R - 2


def test_a_differing_measured_peak_names_the_ranks_not_two_full_lists():
    want = _peaks()
    got = want.copy()
    got[[10, 11, 12, 13, 14, 1999]] += 8
    text = ranks_differing(got, want)
    assert len(text) < 200, text
    assert text.startswith(f"on 6 of {R} ranks (10-14, 1999): rank 10 230632 B, not 230624 B;")
    assert text.endswith("(2 more)")
    assert ranks_differing(got[:5], want) == f"for 5 rank(s), predicted for {R}"


def test_per_rank_bars_label_a_readable_number_of_ranks(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from pyharness.report import plots
    wall = np.full(R, 1.0)
    for n in (32, R):       # 32 labels already ran into each other in the 9-inch figure
        fig = plots.rank_bars(wall[:n], _peaks()[:n])
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if -0.5 <= t <= n - 0.5]
            assert 2 <= len(ticks) <= 12, (n, ticks)
    wall[1717] = 1.6
    fig = plots.rank_bars(wall, _peaks())       # the ranks that stand out are named
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][0] == "slowest: rank 1717"
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()][0] == "largest: rank 3"
    fig = plots.rank_bars(wall[:8], _peaks()[:8])
    assert list(fig.axes[0].get_xticks()) == list(range(8))      # every rank at a few ranks


def test_errors_of_many_ranks_are_a_few_lines_naming_the_ranks_as_ranges():
    from pyharness.mpiutil import error_lines
    errors = {r: f"rank {r}: trace is not well nested" for r in range(0, R, 2)}   # each its own
    errors.update({r: None for r in range(1, R - 100, 2)})                        # fine
    lines = error_lines("pyharness.analyze", errors, R)                           # 50 never reported
    assert len(lines) == 6, lines
    assert lines[0] == f"pyharness.analyze: error: [rank 0 of {R}] rank 0: trace is not well nested"
    assert lines[-1].startswith(f"pyharness.analyze: error: [ranks 10, 12, 14, 16, 18, 20, 22, 24, "
                                f"... ({R // 2 - 5} ranks in all) of {R}] {R // 2 - 5} other message(s), "
                                "the first: rank 10: trace")
    assert lines[-1].endswith(f"(ranks 1901, 1903, 1905, 1907, 1909, 1911, 1913, 1915, ... (50 ranks "
                              f"in all) of {R} did not finish within 10 s)")
    assert max(map(len, lines)) < 300
    same = error_lines("p", {r: "out of memory" for r in range(R)}, R)
    assert same == [f"p: error: [ranks 0-{R - 1} of {R}] out of memory"]


def test_a_note_every_rank_makes_is_said_once_with_its_ranks():
    from pyharness.model import reduce_rank
    from pyharness.model.cost import combine_rank_models
    from pyharness.units import merge_rank_notes
    # a fixed-point (repeat) section at the root: every rank notes that its resets are
    # not modelled; the joined model said it once per rank (2,000 times at 2,000 ranks)
    kind, loc, stack = np.array([8, 9, 10, 7]), np.zeros(4, dtype=int), np.array([0, 8, 8, 8])
    names = ["r@x.f:0", "a@r.f:1"]
    n = 50
    parts = combine_rank_models([reduce_rank(kind, loc, np.arange(4) * 10, stack, names, rank=r)
                                 for r in range(n)], n, len(names))
    assert parts.notes == (f"ranks 0-{n - 1}: repeat (fixed-point) sections: their stack resets "
                           "are not modelled, peaks inside them are approximate",)
    assert merge_rank_notes(["rank 3: x", "other", "rank 0: x", "rank 9: y", "other"]) == \
        ("ranks 0, 3: x", "other", "rank 9: y")


def _in_a_collective_block(tmp_path, ranks: int, body: str, before: str = ""):
    """Run ``body`` (indented lines; ``rank``, ``time``, ``sys`` at hand) inside
    mpiutil.collective on ``ranks`` ranks, a CollectiveError caught; ``before`` runs first."""
    from phtest import mpirun
    script = tmp_path / "block.py"
    script.write_text("import sys, time\nfrom mpi4py import MPI\nfrom pyharness import mpiutil\n"
                      f"rank = MPI.COMM_WORLD.rank\n{before}"
                      "try:\n    with mpiutil.collective(MPI.COMM_WORLD, 'a step'):\n"
                      f"{body}except mpiutil.CollectiveError:\n    pass\n")
    return mpirun(ranks, [str(script)], cwd=tmp_path, timeout=120)


def test_a_bug_every_rank_hits_prints_one_traceback(tmp_path):
    p = _in_a_collective_block(tmp_path, 3, "        raise RuntimeError('the same bug' if rank else 'another')\n")
    assert p.returncode == 0, p.stderr
    # ranks 1 and 2 hit the same bug, rank 0 another: one traceback each
    assert p.stderr.count("Traceback") == 2, p.stderr
    assert p.stderr.count("RuntimeError: the same bug") == 1 and "RuntimeError: another" in p.stderr


def test_a_rank_whose_bug_the_others_do_not_wait_for_prints_its_traceback_at_once(tmp_path):
    """The one traceback waited for every rank's message: when the others were held
    elsewhere (blocked in a collective the failing rank had left), nothing was printed
    while the job hung. A rank with a traceback whose peers do not arrive within
    TRACEBACK_WAIT_S prints it then."""
    p = _in_a_collective_block(
        tmp_path, 2,
        "        if rank == 1:\n"
        "            raise RuntimeError('a bug on rank 1')\n"
        "        time.sleep(4)          # rank 0 held elsewhere\n"
        "        print('rank 0 arrives', file=sys.stderr, flush=True)\n",
        before="mpiutil.TRACEBACK_WAIT_S = 0.5\n")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("Traceback") == 1, p.stderr
    assert p.stderr.index("RuntimeError: a bug on rank 1") < p.stderr.index("rank 0 arrives"), p.stderr


def test_the_launchers_size_is_read_under_srun_with_pmix(monkeypatch):
    # srun --mpi=pmix exports PMIX_RANK and no size variable: ingest read a size of 1 and
    # every process imported all the traces alone, into the same --out
    from pyharness.mpiutil import launched_rank, launched_size
    for var in ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PMIX_RANK", "3")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "8")
    assert (launched_rank(), launched_size()) == (3, 8)
