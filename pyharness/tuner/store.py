"""tune.h5: the loop's history, one small HDF5 file per step, committed by rename.

Layout (docs/FORMAT.md, kind ``tune``)::

    tune.h5           the index: attrs kernel, size, params (JSON), nranks, strategy,
                      granularity, budget, budget_bytes, backend, tolerance, ...,
                      steps_dir; /keys (decision units); /steps/NNNNN: an external
                      link to tune.h5.steps/NNNNN.h5:/steps/NNNNN (h5py and h5dump
                      readers see every step where they always did)
    tune.h5.steps/NNNNN.h5   one step (kind ``tune-step``)::

      /steps/NNNNN    attrs: step, phase, decision, reason, flips, inhibited,
                      est_dt, est_dpk, profile, cost, grad_sha1, attempts,
                      attempt_log (JSON: every failed attempt's job id, state, exit
                      code and log), grad_differs, grad_detail, grad_rel_diff, ...
                      datasets: wall_s, cpu_s, peak_bytes (per rank)
                      greedy inhibit steps: attrs margin_s, runs; datasets
                      rounds_incumbent_s, rounds_candidate_s (slowest-rank wall of
                      every run of the incumbent and of the candidate in that step)
      /steps/NNNNN/estimates   key, dt, dpk, count, dt_cpu (of that step's profile)
      /steps/NNNNN/predicted   --method optimal: the model's prediction of that step's
                      configuration: datasets peak_bytes, time_s (per rank); attrs
                      time_s (slowest rank), exact, reasons; the solved step also
                      status, proven, solve_s, gap, method
    tune.h5.steps/pending.json   the run in flight of the next step (a batch job's
                      id, the failed attempts so far), for --resume

A step is committed when its file is renamed into tune.h5.steps (written to a
temporary name, fsynced, renamed, directory fsynced): that one rename records the
step AND ends its in-flight state, since ``pending.json`` only counts for a step that
has no file yet. A kill at any moment leaves the step either wholly recorded or not at
all, and a job that was in flight is found again by ``--resume``. The index is
rewritten after each step (it is small: attributes and links); the step files are
authoritative, and a step whose link is missing (a kill between the two) is linked
by the next write. Appending costs one small file, whatever the history's length.

Profile paths are stored relative to tune.h5's directory, so a history can be moved
or read from anywhere; older files' absolute or cwd-relative paths are still read.
Files written before step files existed (steps inside tune.h5, ``/pending``) are read
as before, and new steps of a resumed old file go to step files.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from ..backends.base import Measurement
from ..config import write_text_atomic
from ..errors import UsageError
from ..faults import stop_at
from ..h5io import atomic_h5, decoded, open_h5, read_attrs, read_str, str_array
from ..vocabulary import Decision, Phase
from .state import StepRecord
from .strategy import Estimate

__all__ = ["TuneStore", "IDENTITY_ATTRS", "resolve_path", "relative_path"]

# what must match for --resume to continue a run: every attribute that defines the
# history's decisions (a file made before an attribute was recorded is not checked on it)
IDENTITY_ATTRS = ("kernel", "size", "params", "nranks", "granularity", "strategy", "budget",
                  "snapshots", "tolerance", "flips", "method", "start", "repeat", "limit",
                  "rounds")

# the option that sets each identity attribute, for the error message
_OPTION = {"kernel": "--kernel", "size": "--size", "params": "--param", "nranks": "--ranks",
           "granularity": "--granularity", "strategy": "--strategy", "budget": "--budget",
           "snapshots": "--snapshots", "tolerance": "--tolerance", "flips": "--flips",
           "method": "--method", "start": "--config", "repeat": "--repeat", "limit": "--limit",
           "rounds": "--rounds"}


def _same(have, want) -> bool:
    try:
        return float(have) == float(want)
    except (TypeError, ValueError):
        return str(have) == str(want)

_STEP_RE = re.compile(r"^(\d{5,})\.h5$")
STEP_KIND = "tune-step"


def relative_path(path: str | os.PathLike, h5file: str | os.PathLike) -> str:
    """``path`` as stored in ``h5file``: relative to that file's directory."""
    if not str(path):
        return ""
    base = os.path.dirname(os.path.abspath(h5file))
    return os.path.relpath(os.path.abspath(path), base)


def resolve_path(stored: str, h5file: str | os.PathLike) -> str:
    """A path read from ``h5file``: relative to that file's directory (this
    version's files), or absolute or relative to the working directory (older
    files). The first that exists; else the one relative to ``h5file``."""
    if not stored or os.path.isabs(stored):
        return stored
    base = os.path.dirname(str(h5file))
    beside = os.path.normpath(os.path.join(base, stored)) if base else stored
    if os.path.exists(beside) or not os.path.exists(stored):
        return beside
    return stored


def _same_path(a, b) -> bool:
    return bool(a) and bool(b) and os.path.abspath(a) == os.path.abspath(b)


def _write_prediction(p, pred: dict) -> None:
    p["peak_bytes"] = np.asarray(pred["peak_bytes"], dtype=np.int64)
    p["time_s"] = np.asarray(pred["time_by_rank_s"], dtype=np.float64)
    for k, v in pred.items():
        if k not in ("peak_bytes", "time_by_rank_s"):
            p.attrs[k] = v


def _read_prediction(p) -> dict:
    out = read_attrs(p)
    out["peak_bytes"] = p["peak_bytes"][()]
    out["time_by_rank_s"] = p["time_s"][()]
    return out


class TuneStore:
    """The tuning history of one ``--out`` (see the module's documentation)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.steps_dir = self.path.with_name(self.path.name + ".steps")
        self.pending_path = self.steps_dir / "pending.json"

    # ------------------------------------------------------------ create / check
    def create(self, attrs: dict, keys: list[str]) -> None:
        self._clear_orphan_steps()
        with atomic_h5(self.path, "tune", {**attrs, "steps_dir": self.steps_dir.name}) as f:
            f["keys"] = str_array(keys)
            f.create_group("steps")
        self.steps_dir.mkdir(exist_ok=True)

    def _clear_orphan_steps(self) -> None:
        """Step files without their tune.h5 (it was removed): not this run's history."""
        if not self.steps_dir.is_dir():
            return
        for p in self.steps_dir.iterdir():
            if _STEP_RE.match(p.name) or p.name == "pending.json" or ".tmp." in p.name:
                p.unlink()

    def check_resume(self, attrs: dict) -> None:
        """Refuse to resume a tune.h5 made for another kernel, size, ranks or settings,
        saying which option to pass to continue it."""
        from ..cli_common import resume_hint
        with open_h5(self.path, ("tune",)) as f:
            for k in IDENTITY_ATTRS:
                if k not in f.attrs or k not in attrs:
                    continue          # older file, or an attribute this run does not set
                have = decoded(f.attrs[k])
                want = attrs[k]
                if isinstance(have, np.generic):
                    have = have.item()
                if _same(have, want):
                    continue
                hint = resume_hint(k, have, attrs.get("backend", ""))
                if hint is None and k == "limit":
                    hint = (f"pass --limit {have}B" if int(have) else "pass no --limit")
                elif hint is None:
                    hint = f"pass {_OPTION.get(k, k)} {have}"
                raise UsageError(f"cannot resume {self.path}: it was made with {k}={have}, this run "
                                 f"has {k}={want}; {hint} to continue it, or another --out to start "
                                 "a new history")

    def update_attrs(self, attrs: dict) -> None:
        """Set root attributes of the index (written to a temporary name and renamed, as
        every write of it); the step files are left as they are."""
        with atomic_h5(self.path, "tune", copy_from=self.path) as f:
            for k, v in attrs.items():
                f.attrs[k] = v

    def attrs(self) -> dict:
        with open_h5(self.path, ("tune",)) as f:
            return read_attrs(f)

    # ------------------------------------------------------------ step files
    def _step_file(self, step: int) -> Path:
        return self.steps_dir / f"{step:05d}.h5"

    def _step_files(self) -> dict[int, Path]:
        if not self.steps_dir.is_dir():
            return {}
        out = {}
        for p in self.steps_dir.iterdir():
            m = _STEP_RE.match(p.name)
            if m:
                out[int(m.group(1))] = p
        return out

    def committed_steps(self) -> set[int]:
        """Step numbers recorded (step files, and steps inside older tune.h5 files)."""
        steps = set(self._step_files())
        if self.path.exists():
            with open_h5(self.path, ("tune",)) as f:
                steps |= {int(n) for n, g in self._inline_steps(f)}
        return steps

    @staticmethod
    def _inline_steps(f):
        """(name, group) of the steps stored inside tune.h5 itself (files of before step files)."""
        if "steps" not in f:
            return []
        return [(n, f["steps"][n]) for n in sorted(f["steps"])
                if isinstance(f["steps"].get(n, getlink=True), h5py.HardLink)]

    def next_step(self) -> int:
        steps = self.committed_steps()
        return max(steps) + 1 if steps else 0

    # ------------------------------------------------------------ steps
    def append(self, rec: StepRecord) -> None:
        """Commit one step: its own file, renamed into place (this also ends the step's
        in-flight state); then the index's link to it."""
        self.steps_dir.mkdir(exist_ok=True)
        with atomic_h5(self._step_file(rec.step), STEP_KIND, {"step": rec.step}) as f:
            self._write_step(f.create_group("steps").create_group(f"{rec.step:05d}"), rec)
        stop_at("step-written")
        self.link_steps()
        try:   # over from now on (its step has a file); removed to keep the directory clean
            if int(json.loads(self.pending_path.read_text()).get("step", -1)) <= rec.step:
                self.pending_path.unlink()
        except (OSError, ValueError):
            pass

    def _write_step(self, g, rec: StepRecord) -> None:
        a = g.attrs
        a["step"] = rec.step
        a["phase"] = rec.phase.value            # the strings of earlier files
        a["decision"] = rec.decision.value
        a["reason"] = rec.reason
        a["flips"] = json.dumps(list(rec.flips))
        a["inhibited"] = json.dumps(sorted(rec.inhibited))
        a["est_dt"] = rec.est_dt
        a["est_dpk"] = rec.est_dpk
        a["attempts"] = rec.attempts
        a["attempt_log"] = json.dumps([dict(x) for x in rec.attempt_log])
        a["failure_state"] = rec.failure_state
        a["exit_code"] = -1 if rec.exit_code is None else rec.exit_code
        a["job_id"] = rec.job_id
        a["grad_differs"] = bool(rec.grad_differs)
        a["grad_detail"] = rec.grad_detail
        a["grad_rel_diff"] = float(rec.grad_rel_diff)
        a["margin_s"] = float(rec.margin_s)
        a["runs"] = int(rec.runs or rec.attempts)
        if rec.rounds_incumbent or rec.rounds_candidate:
            g["rounds_incumbent_s"] = np.array(rec.rounds_incumbent, dtype=np.float64)
            g["rounds_candidate_s"] = np.array(rec.rounds_candidate, dtype=np.float64)
        m = rec.measurement
        if m is not None:
            a["profile"] = relative_path(m.profile, self.path)
            a["cost"] = m.cost
            a["grad_sha1"] = m.grad_digest
            a["gradient_file"] = m.gradient_file
            g["wall_s"] = np.array(m.wall_s)
            g["cpu_s"] = np.array(m.cpu_s)
            g["peak_bytes"] = np.array(m.peak_bytes, dtype=np.int64)
        if rec.estimates:
            e = g.create_group("estimates")
            ests = list(rec.estimates.values())
            e["key"] = str_array(x.key for x in ests)
            e["dt"] = np.array([x.dt for x in ests])
            e["dpk"] = np.array([x.dpk for x in ests], dtype=np.int64)
            e["count"] = np.array([x.count for x in ests], dtype=np.int64)
            e["dt_cpu"] = np.array([x.dt_cpu for x in ests])
        if rec.prediction:
            _write_prediction(g.create_group("predicted"), rec.prediction)

    def link_steps(self) -> None:
        """Link every step file the index does not link yet (after a kill between a
        step's commit and its link, the next write repairs it)."""
        files = self._step_files()
        with open_h5(self.path, ("tune",)) as f:
            have = set(f["steps"]) if "steps" in f else set()
        missing = {n: p for n, p in files.items() if f"{n:05d}" not in have}
        if not missing:
            return
        with atomic_h5(self.path, "tune", copy_from=self.path) as f:
            steps = f.require_group("steps")
            for n, p in sorted(missing.items()):
                steps[f"{n:05d}"] = h5py.ExternalLink(f"{self.steps_dir.name}/{p.name}", f"/steps/{n:05d}")

    def records(self) -> list[StepRecord]:
        groups: dict[int, StepRecord] = {}
        with open_h5(self.path, ("tune",)) as f:
            for name, g in self._inline_steps(f):
                rec = self._read_step(g)
                groups[rec.step] = rec
        for n, p in sorted(self._step_files().items()):
            with open_h5(p, (STEP_KIND,)) as f:
                groups[n] = self._read_step(f["steps"][f"{n:05d}"])
        return [groups[n] for n in sorted(groups)]

    def _read_step(self, g) -> StepRecord:
        a = g.attrs
        m = None
        if "wall_s" in g:
            m = Measurement(tuple(float(x) for x in g["wall_s"][()]),
                            tuple(float(x) for x in g["cpu_s"][()]),
                            tuple(int(x) for x in g["peak_bytes"][()]),
                            float(a["cost"]), str(a["grad_sha1"]),
                            resolve_path(str(a["profile"]), self.path),
                            resolve_path(str(a.get("gradient_file", "")), self.path))
        ests = {}
        if "estimates" in g:
            e = g["estimates"]
            for k, dt, dpk, c, dtc in zip(read_str(e["key"]), e["dt"][()], e["dpk"][()],
                                          e["count"][()], e["dt_cpu"][()]):
                ests[k] = Estimate(k, float(dt), int(dpk), int(c), float(dtc))
        pred = _read_prediction(g["predicted"]) if "predicted" in g else {}
        code = int(a["exit_code"])
        return StepRecord(
            step=int(a["step"]), phase=Phase(str(a["phase"])), flips=tuple(json.loads(a["flips"])),
            inhibited=tuple(json.loads(a["inhibited"])), decision=Decision(str(a["decision"])),
            reason=str(a["reason"]), est_dt=float(a["est_dt"]), est_dpk=int(a["est_dpk"]),
            measurement=m, estimates=ests, attempts=int(a["attempts"]),
            failure_state=str(a["failure_state"]), exit_code=None if code < 0 else code,
            job_id=str(a["job_id"]), grad_differs=bool(a.get("grad_differs", False)),
            grad_detail=str(a.get("grad_detail", "")),
            grad_rel_diff=float(a.get("grad_rel_diff", float("nan"))), prediction=pred,
            attempt_log=tuple(json.loads(a.get("attempt_log", "[]"))),
            margin_s=float(a.get("margin_s", 0.0)), runs=int(a.get("runs", 0)),
            rounds_incumbent=tuple(float(x) for x in g["rounds_incumbent_s"][()])
            if "rounds_incumbent_s" in g else (),
            rounds_candidate=tuple(float(x) for x in g["rounds_candidate_s"][()])
            if "rounds_candidate_s" in g else ())

    # ------------------------------------------------------------ a run in flight
    def pending(self) -> dict | None:
        """The in-flight state of the next step (``job_id``, ``profile``, ``attempts``:
        the failed ones), or None. A pending.json of a step that has its file is over."""
        try:
            info = json.loads(self.pending_path.read_text())
        except FileNotFoundError:
            info = None
        except (OSError, ValueError):
            info = None        # unreadable: as if absent (it is only ever renamed into place)
        if info is not None:
            if int(info.get("step", -1)) in self.committed_steps():
                return None
            if info.get("profile"):
                info["profile"] = resolve_path(info["profile"], self.path)
            return info
        if self.path.exists():          # a tune.h5 of before step files
            with open_h5(self.path, ("tune",)) as f:
                if "pending" in f and f["pending"].attrs.get("job_id"):
                    return read_attrs(f["pending"])
        return None

    def set_pending(self, info: dict) -> None:
        """Record the next step's in-flight state (replaces it; {} clears it)."""
        info = dict(info)
        if not info:
            try:
                self.pending_path.unlink()
            except FileNotFoundError:
                pass
            return
        info["step"] = self.next_step()
        if info.get("profile"):
            info["profile"] = relative_path(info["profile"], self.path)
        self.steps_dir.mkdir(exist_ok=True)
        write_text_atomic(self.pending_path, json.dumps(info, indent=1) + "\n", "in-flight record")

    def update_pending(self, **changes) -> dict:
        """Merge ``changes`` into the next step's in-flight state and record it."""
        info = self.pending() or {}
        info.update(changes)
        self.set_pending(info)
        return info
