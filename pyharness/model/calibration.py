"""Measured runs of other configurations, for the model's cold-reverse term.

The profiled run checkpoints every site, so every callee's reverse sweep it measures
follows the callee's taped re-run at once, with the tape still in cache. Inhibited, a
callee's tape is written in its caller's forward sweep and read back long after: the
profile cannot see that cost. One measured run of a configuration that inhibits
sites (``tune --method optimal`` measures its choice anyway) fits it:
:meth:`CostModel.calibrated <pyharness.model.cost.CostModel.calibrated>`.

>>> runs = read_runs(model, ["choice.h5"])          # doctest: +SKIP
>>> model = model.calibrated(runs)                  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..config import Configuration
from ..errors import UsageError
from ..units import per_rank
from .cost import CostModel

__all__ = ["read_runs", "read_run", "model_for_cli", "format_calibration", "CALIBRATE_HELP"]


def read_run(model: CostModel, path: str | os.PathLike) -> tuple[Configuration, np.ndarray]:
    """(configuration, time per rank without profiling) of the run a ``profile.h5`` holds.

    A profiled run's time is taken without its events' recording cost (the model's
    measured cost per event); a ``--no-profiling`` run's as measured. The run must be
    of the profile's kernel, parameters, ranks and snapshot count.
    """
    from ..analysis.profiles import read_locations
    from ..h5io import open_h5
    with open_h5(path, kinds=("profile",)) as f:
        locs = read_locations(f)
        kernel, params = str(f.attrs.get("kernel", "")), str(f.attrs.get("params", ""))
        profiling = bool(f.attrs.get("profiling", True))
        s = f["summary"]
        wall = np.asarray(s["wall_s"][()], dtype=np.float64)
        nev = np.asarray(s["nevents"][()], dtype=np.float64) if "nevents" in s else np.zeros_like(wall)
        inh = f["config"]["inhibited"][()] if "config" in f else np.zeros(len(locs.names), bool)
        snaps = int(f["config"].attrs.get("snapshots", 0)) if "config" in f else 0
    what = f"'{path}'"
    if (kernel, params) != (model.kernel, model.params):
        raise UsageError(f"{what} is a run of {kernel or '?'} ({params or 'no parameters'}), the "
                         f"profile of {model.kernel or '?'} ({model.params or 'no parameters'}): "
                         "calibrate with runs of the profiled kernel and parameters")
    if wall.size != model.nranks:
        raise UsageError(f"{what} ran on {wall.size} rank(s), the profile on {model.nranks}: "
                         "calibrate with runs of the same job size")
    if snaps != model.snapshots:
        raise UsageError(f"{what} ran with --snapshots {snaps}, the profile with "
                         f"{model.snapshots}: calibrate with runs of the same snapshot count")
    names = [n for n, i in zip(locs.names, inh) if i]
    unknown = sorted(set(names) - set(model.table.names))
    if unknown:
        raise UsageError(f"{what} inhibits site(s) the profile does not have ({', '.join(unknown[:5])}): "
                         "calibrate with runs of the same build as the profile")
    cfg = Configuration.from_names(model.table, names, snaps, source=str(path))
    if profiling:
        wall = wall - nev * model.recording_ns * 1e-9
    return cfg, wall


def read_runs(model: CostModel, paths: Sequence[str | os.PathLike]) -> list[tuple[Configuration, np.ndarray]]:
    """:func:`read_run` of every path."""
    return [read_run(model, p) for p in paths]


CALIBRATE_HELP = ("a measured run (profile.h5, profiled or --no-profiling) of another "
                  "configuration of the same job that inhibits sites: fits the model's "
                  "cold-reverse term, the time an inhibited callee's reverse sweep loses "
                  "reading its tape back from memory, which the all-checkpointed profile "
                  "cannot see (docs/MODEL.md); repeatable")


def model_for_cli(profile: str, calibrate: Sequence[str], comm) -> CostModel:
    """The model of ``profile`` under ``mpiexec`` (every rank reduces its share),
    calibrated with the runs ``calibrate`` (read on every rank; errors on every rank)."""
    from ..mpiutil import collective
    model = CostModel.from_profile(profile, comm=comm if comm.size > 1 else None)
    if not calibrate:
        return model
    with collective(comm, "reading the calibration runs"):
        runs = read_runs(model, calibrate)
    return model.calibrated(runs)


def format_calibration(model: CostModel) -> str:
    """One line on the model's cold-reverse term (empty if not calibrated)."""
    c = model.calibration
    if not c:
        return ""
    k = per_rank(c["cold_ns_per_byte"], lambda v: f"{v:.4f}", labels=False)
    before = np.abs(c["error_before_s"]).max()
    after = np.abs(c["error_after_s"]).max()
    return (f"calibrated with {c['runs']} measured run(s): cold reverse per rank (ns per byte) "
            f"{k}; largest error on those runs {before:.6f} s before, {after:.6f} s after")
