"""tune.h5: the loop's history, one group per step, appended atomically.

Layout (docs/FORMAT.md, kind ``tune``)::

    /                 attrs: kernel, size, params (JSON), nranks, strategy,
                      granularity, budget, budget_bytes, backend, tolerance, ...
    /keys             decision units (site or callee names)
    /steps/00000      attrs: step, phase, decision, reason, flips, inhibited,
                      est_dt, est_dpk, profile, cost, grad_sha1, attempts,
                      grad_differs, grad_detail, grad_rel_diff (gradient guard), ...
                      datasets: wall_s, cpu_s, peak_bytes (per rank)
    /steps/00000/estimates   key, dt, dpk, count, dt_cpu (of that step's profile)
    /steps/00000/predicted   --method optimal: the model's prediction of that step's
                      configuration: datasets peak_bytes, time_s (per rank); attrs
                      time_s (slowest rank), exact, reasons; the solved step also
                      status, proven, solve_s, gap, method
    /pending          attrs of a run in flight (a batch job), for --resume

Every append copies the file, adds the group and renames the copy over the
original, so a killed tuner leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..backends.base import Measurement
from ..errors import UsageError
from ..h5io import atomic_h5, open_h5, read_str, str_array
from ..vocabulary import Decision, Phase
from .state import StepRecord
from .strategy import Estimate

__all__ = ["TuneStore", "IDENTITY_ATTRS"]

# what must match for --resume to continue a run
IDENTITY_ATTRS = ("kernel", "size", "params", "nranks", "granularity", "strategy", "budget",
                  "snapshots")


def _write_prediction(p, pred: dict) -> None:
    p["peak_bytes"] = np.asarray(pred["peak_bytes"], dtype=np.int64)
    p["time_s"] = np.asarray(pred["time_by_rank_s"], dtype=np.float64)
    for k, v in pred.items():
        if k not in ("peak_bytes", "time_by_rank_s"):
            p.attrs[k] = v


def _read_prediction(p) -> dict:
    out = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in p.attrs.items()}
    out["peak_bytes"] = p["peak_bytes"][()]
    out["time_by_rank_s"] = p["time_s"][()]
    return out


class TuneStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ------------------------------------------------------------ create / check
    def create(self, attrs: dict, keys: list[str]) -> None:
        with atomic_h5(self.path, "tune", attrs) as f:
            f["keys"] = str_array(keys)
            f.create_group("steps")

    def check_resume(self, attrs: dict) -> None:
        """Refuse to resume a tune.h5 made for another kernel, size, ranks or settings."""
        with open_h5(self.path, ("tune",)) as f:
            for k in IDENTITY_ATTRS:
                have = f.attrs.get(k)
                want = attrs.get(k)
                if isinstance(have, bytes):
                    have = have.decode()
                if isinstance(have, np.integer):
                    have = int(have)
                if str(have) != str(want):
                    raise UsageError(f"cannot resume {self.path}: it was made with {k}={have}, "
                                     f"this run has {k}={want}; use the same options or another --out")

    def attrs(self) -> dict:
        with open_h5(self.path, ("tune",)) as f:
            return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}

    # ------------------------------------------------------------ steps
    def append(self, rec: StepRecord) -> None:
        with atomic_h5(self.path, "tune", copy_from=self.path) as f:
            g = f["steps"].create_group(f"{rec.step:05d}")
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
            a["failure_state"] = rec.failure_state
            a["exit_code"] = -1 if rec.exit_code is None else rec.exit_code
            a["job_id"] = rec.job_id
            a["grad_differs"] = bool(rec.grad_differs)
            a["grad_detail"] = rec.grad_detail
            a["grad_rel_diff"] = float(rec.grad_rel_diff)
            m = rec.measurement
            if m is not None:
                a["profile"] = m.profile
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
            if "pending" in f:
                del f["pending"]

    def records(self) -> list[StepRecord]:
        out = []
        with open_h5(self.path, ("tune",)) as f:
            for name in sorted(f["steps"]):
                g = f["steps"][name]
                a = g.attrs
                m = None
                if "wall_s" in g:
                    m = Measurement(tuple(float(x) for x in g["wall_s"][()]),
                                    tuple(float(x) for x in g["cpu_s"][()]),
                                    tuple(int(x) for x in g["peak_bytes"][()]),
                                    float(a["cost"]), str(a["grad_sha1"]), str(a["profile"]),
                                    str(a.get("gradient_file", "")))
                ests = {}
                if "estimates" in g:
                    e = g["estimates"]
                    for k, dt, dpk, c, dtc in zip(read_str(e["key"]), e["dt"][()], e["dpk"][()],
                                                  e["count"][()], e["dt_cpu"][()]):
                        ests[k] = Estimate(k, float(dt), int(dpk), int(c), float(dtc))
                pred = _read_prediction(g["predicted"]) if "predicted" in g else {}
                code = int(a["exit_code"])
                out.append(StepRecord(
                    step=int(a["step"]), phase=Phase(str(a["phase"])), flips=tuple(json.loads(a["flips"])),
                    inhibited=tuple(json.loads(a["inhibited"])), decision=Decision(str(a["decision"])),
                    reason=str(a["reason"]), est_dt=float(a["est_dt"]), est_dpk=int(a["est_dpk"]),
                    measurement=m, estimates=ests, attempts=int(a["attempts"]),
                    failure_state=str(a["failure_state"]), exit_code=None if code < 0 else code,
                    job_id=str(a["job_id"]), grad_differs=bool(a.get("grad_differs", False)),
                    grad_detail=str(a.get("grad_detail", "")),
                    grad_rel_diff=float(a.get("grad_rel_diff", float("nan"))), prediction=pred))
        return out

    # ------------------------------------------------------------ a run in flight
    def set_pending(self, info: dict) -> None:
        with atomic_h5(self.path, "tune", copy_from=self.path) as f:
            if "pending" in f:
                del f["pending"]
            g = f.create_group("pending")
            for k, v in info.items():
                g.attrs[k] = v

    def pending(self) -> dict | None:
        with open_h5(self.path, ("tune",)) as f:
            if "pending" not in f:
                return None
            return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["pending"].attrs.items()}
