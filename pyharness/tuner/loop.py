"""Drive the tuning loop with a backend; record every step; resume from tune.h5."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..backends.base import Backend, RunFailed
from ..config import Configuration, SiteTable
from ..errors import PyharnessError
from ..faults import stop_at
from ..units import human_bytes
from ..vocabulary import Decision, Granularity, Phase
from .guard import GradientGuard, callee_of
from .state import StepRecord, TuneState
from .store import TuneStore
from .strategy import Estimate

__all__ = ["DecisionUnits", "TuneLoop", "BudgetUnreachable"]


class BudgetUnreachable(PyharnessError):
    """No configuration the loop can reach fits the budget."""


@dataclass(frozen=True)
class DecisionUnits:
    """The units the tuner flips, at a :class:`~pyharness.vocabulary.Granularity`:
    every site alone, or every callee (all its sites together)."""

    granularity: Granularity
    table: SiteTable

    def __post_init__(self):
        object.__setattr__(self, "granularity", Granularity(self.granularity))

    @property
    def keys(self) -> list[str]:
        if self.granularity is Granularity.SITE:
            return self.table.site_names
        return self.table.callee_names

    def config(self, keys, snapshots: int = 0) -> Configuration:
        """The configuration that inhibits these units."""
        return Configuration.from_names(self.table, keys, snapshots)

    def keys_of(self, config: Configuration) -> frozenset[str]:
        """Units inhibited by a configuration (a callee counts when all its sites are)."""
        if self.granularity is Granularity.SITE:
            return frozenset(config.inhibited)
        return frozenset(config.nocheckpoint_callees(self.table))


class TuneLoop:
    """Rank 0's side of the loop. ``estimator(profile_path) -> {key: Estimate}``."""

    def __init__(self, state: TuneState, backend: Backend, store: TuneStore, gran: DecisionUnits,
                 estimator: Callable[[str], dict[str, Estimate]], profile_dir: Path,
                 max_steps: int = 50, retries: int = 1, progress=None, snapshots: int = 0,
                 guard: GradientGuard | None = None):
        self.state = state
        self.backend = backend
        self.store = store
        self.gran = gran
        self.estimator = estimator
        self.profile_dir = Path(profile_dir)
        self.max_steps = max_steps
        self.retries = retries
        self.progress = progress
        self.snapshots = snapshots
        self.guard = guard if guard is not None else GradientGuard()
        # --method optimal: step record -> the model's prediction, stored with the step
        self.predictor: Callable[[StepRecord], dict] | None = None
        self.attempt_log: list[dict] = []     # the failed attempts of the step being measured

    # ------------------------------------------------------------------
    def _measure(self, step: int, inhibited: frozenset[str]):
        """Run a configuration with retries. Returns (measurement|None, estimates, attempts, failure).

        Every failed attempt goes to the step's in-flight record at once (job id, state,
        exit code, log), so a resumed run neither forgets it nor retries more often than
        ``retries``; the step record carries them all (``attempt_log``)."""
        config = self.gran.config(sorted(inhibited), self.snapshots)
        path = str(self.profile_dir / f"step_{step:05d}.h5")
        pending = self.store.pending()
        log = []
        if pending and pending.get("profile") and os.path.abspath(pending["profile"]) == os.path.abspath(path):
            log = [dict(x) for x in pending.get("attempts", [])]
        self.attempt_log = log
        failure = None
        for attempt in range(len(log) + 1, self.retries + 2):
            try:
                m = self.backend.run(config, path, label=f"step {step}")
            except RunFailed as exc:
                failure = exc
                log.append({"attempt": attempt, "job_id": exc.job_id or "", "state": exc.state,
                            "exit_code": exc.exit_code, "message": str(exc)[:1000],
                            "log": getattr(exc, "log", "") or ""})
                # one write: this attempt is over (no job in flight) and recorded
                self.store.update_pending(profile=path, job_id="", attempts=log)
                again = attempt <= self.retries and exc.retryable
                self._note(f"step {step}: run failed ({exc.state}): {exc} "
                           + ("- retrying" if again else "- skipping this flip"))
                if not again:
                    return None, {}, attempt, failure
                continue
            stop_at("run-done")
            return m, self.estimator(path), attempt, None
        if failure is None and log:       # every attempt failed before a kill: as recorded
            last = log[-1]
            failure = RunFailed(last.get("message", "failed"), state=last.get("state", "FAILED"),
                                exit_code=last.get("exit_code"), job_id=last.get("job_id") or None)
        return None, {}, max(len(log), 1), failure

    def _note(self, msg: str) -> None:
        if self.progress is not None:
            self.progress.write(msg)
        else:
            print(msg, file=sys.stderr, flush=True)

    def _record(self, rec: StepRecord) -> None:
        if self.predictor is not None and not rec.prediction and rec.measurement is not None:
            rec = dataclasses.replace(rec, prediction=self.predictor(rec))
        if not rec.attempt_log and self.attempt_log:      # the failed attempts before it
            rec = dataclasses.replace(rec, attempt_log=tuple(self.attempt_log))
        self.attempt_log = []
        self.store.append(rec)
        self.state = self.state.apply(rec)
        if self.progress is not None:
            self.progress.update(self.state, rec)

    def run_start(self, start_inhibited: frozenset[str]) -> None:
        m, ests, attempts, failure = self._measure(0, start_inhibited)
        if m is None:
            raise PyharnessError(f"the starting configuration could not be run: {failure}")
        self._record(StepRecord(step=0, phase=Phase.START, flips=(), inhibited=tuple(sorted(start_inhibited)),
                                decision=Decision.START, reason="starting configuration", measurement=m,
                                estimates=ests, attempts=attempts,
                                job_id=getattr(self.backend, "last_job_id", "") or ""))

    def step(self) -> bool:
        """One step; False when the loop is finished."""
        st = self.state
        if st.nsteps >= self.max_steps + 1:
            return False
        prop = st.propose()
        if prop is None:
            if st.over_budget:
                raise BudgetUnreachable(
                    f"the budget {human_bytes(st.budget)} per rank is below what any configuration "
                    f"reached: the smallest peak measured is {human_bytes(st.min_peak)} per rank "
                    f"(every checkpoint that could be re-activated was tried); raise --budget")
            return False
        target = st.config_after(prop)
        n = st.nsteps
        m, ests, attempts, failure = self._measure(n, target)
        est_dt = sum(e.dt for e in prop.flips)
        est_dpk = sum(e.dpk for e in prop.flips)
        if m is None:
            rec = StepRecord(step=n, phase=prop.phase, flips=prop.keys, inhibited=tuple(sorted(target)),
                             decision=Decision.FAILED, reason=str(failure), est_dt=est_dt, est_dpk=est_dpk,
                             attempts=attempts, failure_state=failure.state,
                             exit_code=failure.exit_code, job_id=failure.job_id or "")
        elif not (cmp := self.guard.compare(st.start, m)).same:
            # never chosen, whatever its time and peak; its flips stay checkpointed
            culprits = sorted({callee_of(k) for k in prop.keys}) if prop.phase in (Phase.INHIBIT, Phase.LOWER) else []
            why = "gradient differs from the start's: " + cmp.detail
            if culprits:
                why += f"; must stay checkpointed: {', '.join(culprits)}"
            self._note(f"step {n}: {why} - rejected")
            rec = StepRecord(step=n, phase=prop.phase, flips=prop.keys, inhibited=tuple(sorted(target)),
                             decision=Decision.REJECTED, reason=why, est_dt=est_dt, est_dpk=est_dpk,
                             measurement=m, estimates=ests, attempts=attempts,
                             job_id=getattr(self.backend, "last_job_id", "") or "",
                             grad_differs=True, grad_detail=cmp.detail, grad_rel_diff=cmp.rel_diff)
        else:
            ok, why = st.judge(prop.phase, m)
            rec = StepRecord(step=n, phase=prop.phase, flips=prop.keys, inhibited=tuple(sorted(target)),
                             decision=Decision.ACCEPTED if ok else Decision.REJECTED, reason=why, est_dt=est_dt,
                             est_dpk=est_dpk, measurement=m, estimates=ests, attempts=attempts,
                             job_id=getattr(self.backend, "last_job_id", "") or "")
        self._record(rec)
        return True

    def run(self) -> TuneState:
        while self.step():
            pass
        return self.state
