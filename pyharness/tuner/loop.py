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

__all__ = ["DecisionUnits", "TuneLoop", "BudgetUnreachable", "Alternation"]


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


@dataclass(frozen=True)
class Alternation:
    """The runs of :meth:`TuneLoop.measure_alternately`."""

    candidate: tuple            # the candidate's measurements, in run order
    incumbent: tuple[float, ...]   # the incumbent's slowest-rank wall times, in run order
    attempts: int               # attempts of the candidate (runs made and failed)
    runs: int                   # every run made, candidate's and incumbent's
    failure: RunFailed | None   # the candidate's last failure (None: every run succeeded)


class TuneLoop:
    """Rank 0's side of the loop. ``estimator(profile_path) -> {key: Estimate}``."""

    def __init__(self, state: TuneState, backend: Backend, store: TuneStore, gran: DecisionUnits,
                 estimator: Callable[[str], dict[str, Estimate]], profile_dir: Path,
                 max_steps: int = 50, retries: int = 1, progress=None, snapshots: int = 0,
                 guard: GradientGuard | None = None, rounds: int = 2):
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
        # inhibit steps run the incumbent and the candidate alternately, this many times
        # each; 1 (and any backend that gives the same measurement every time): the
        # candidate once, against the incumbent's recorded run
        self.rounds = 1 if getattr(backend, "deterministic", False) else max(1, int(rounds))
        self._models: dict[str, object] = {}
        # --method optimal: step record -> the model's prediction, stored with the step
        self.predictor: Callable[[StepRecord], dict] | None = None
        self.attempt_log: list[dict] = []     # the failed attempts of the step being measured
        self.cut_off = False     # --max-steps stopped the loop with flips still to try

    # ------------------------------------------------------------------
    def _measure(self, step: int, inhibited: frozenset[str], suffix: str = "", estimate: bool = True):
        """Run a configuration with retries. Returns (measurement|None, estimates, attempts, failure).

        Every failed attempt goes to the step's in-flight record at once (job id, state,
        exit code, log), so a resumed run neither forgets it nor retries more often than
        ``retries``; the step record carries them all (``attempt_log``). Attempts that an
        earlier run gave up (``given_up`` in the in-flight record, :meth:`run_start`) do
        not count: ``retries`` + 1 attempts follow them."""
        config = self.gran.config(sorted(inhibited), self.snapshots)
        path = str(self.profile_dir / f"step_{step:05d}{suffix}.h5")
        pending = self.store.pending()
        log, given_up = [], 0
        if pending and pending.get("profile") and os.path.abspath(pending["profile"]) == os.path.abspath(path):
            log = [dict(x) for x in pending.get("attempts", [])]
            given_up = int(pending.get("given_up") or 0)
        self.attempt_log = log
        failure = None
        last = given_up + self.retries + 1
        for attempt in range(len(log) + 1, last + 1):
            try:
                m = self.backend.run(config, path, label=f"step {step}{suffix}")
            except RunFailed as exc:
                failure = exc
                log.append({"attempt": attempt, "job_id": exc.job_id or "", "state": exc.state,
                            "exit_code": exc.exit_code, "message": str(exc)[:1000],
                            "log": getattr(exc, "log", "") or ""})
                # one write: this attempt is over (no job in flight) and recorded
                self.store.update_pending(profile=path, job_id="", attempts=log)
                again = attempt < last and exc.retryable
                gone = "the start cannot be run" if step == 0 and not suffix else "skipping this flip"
                self._note(f"step {step}{suffix}: run failed ({exc.state}): {exc} "
                           + ("- retrying" if again else
                              f"- {gone}" + ("" if exc.retryable else " (running it again cannot help)")))
                if not again:
                    return None, {}, attempt, failure
                continue
            stop_at("run-done")
            return m, (self.estimator(path) if estimate else {}), attempt, None
        if failure is None and log:       # every attempt failed before a kill: as recorded
            last = log[-1]
            failure = RunFailed(last.get("message", "failed"), state=last.get("state", "FAILED"),
                                exit_code=last.get("exit_code"), job_id=last.get("job_id") or None)
        return None, {}, max(len(log), 1), failure

    def measure_alternately(self, step: int, candidate: frozenset[str], incumbent: frozenset[str],
                            incumbent_suffix: str, first=None, stop_at_failure: bool = True
                            ) -> Alternation:
        """Run the candidate and the incumbent alternately, ``rounds`` times each, the
        candidate first (a candidate that fails costs no incumbent run): round ``r`` runs
        the candidate as ``step_NNNNN[.rR]`` (no suffix for round 0) and the incumbent as
        ``step_NNNNN<incumbent_suffix>R``. ``first``: the candidate's run of round 0,
        already made. With ``rounds`` 1 only the candidate runs (against the incumbent's
        recorded run). A failed candidate run ends the alternation when
        ``stop_at_failure``, else it is left out; a failed incumbent run is left out.

        The greedy loop's inhibit steps (:meth:`_measure_rounds`) and ``--method
        optimal``'s second look at a choice that ran slower than the start
        (:meth:`OptimalStep._confirm_slower <pyharness.tuner.optimal.OptimalStep>`)
        both measure this way."""
        cand, inc, runs, attempts_c, failure = [], [], 0, 0, None
        if first is not None:
            cand.append(first)
        for r in range(self.rounds):
            if r > 0 or first is None:
                m, _, attempts, fail = self._measure(step, candidate, "" if r == 0 else f".r{r}",
                                                     estimate=False)
                runs += attempts
                attempts_c += attempts
                if m is None:
                    failure = fail
                    if stop_at_failure:
                        break
                else:
                    cand.append(m)
            if self.rounds == 1:     # the paper's loop: against the incumbent's recorded run
                break
            mi, _, attempts, _ = self._measure(step, incumbent, f"{incumbent_suffix}{r}", estimate=False)
            runs += attempts
            if mi is not None:
                inc.append(mi.wall)
        return Alternation(tuple(cand), tuple(inc), attempts_c, runs, failure)

    def _measure_rounds(self, step: int, target: frozenset[str]):
        """The candidate and the incumbent, alternately, ``rounds`` times each
        (:meth:`measure_alternately`). Returns (candidate's median run | None, its
        estimates, attempts of the candidate, runs made, failure, incumbent times,
        candidate times)."""
        alt = self.measure_alternately(step, target, self.state.inhibited, ".incumbent")
        if alt.failure is not None:
            return None, {}, alt.attempts, alt.runs, alt.failure, (), ()
        cand = alt.candidate
        # the incumbent could not be run again: its recorded time
        inc = alt.incumbent or (self.state.current.wall,)
        # the candidate's run of median time stands for it (its profile gives the estimates)
        order = sorted(range(len(cand)), key=lambda i: (cand[i].wall, i))
        pick = order[(len(order) - 1) // 2]
        m = cand[pick]
        peaks = {c.peak_bytes for c in cand}
        if len(peaks) > 1:
            self._note(f"step {step}: the candidate's runs measured different peaks {sorted(peaks)}: "
                       "keeping the largest")
            m = dataclasses.replace(m, peak_bytes=max(peaks, key=max))
        return (m, self.estimator(m.profile), alt.attempts, alt.runs, None, tuple(inc),
                tuple(c.wall for c in cand))

    # ------------------------------------------------------------ the cost model (several flips)
    def _model(self, profile: str):
        """The cost model of a profile (cached); None when it gives none."""
        if profile not in self._models:
            from ..model import StructureError
            from ..model.cache import model_of
            try:
                model = model_of(profile)     # built once per profile, shared (model/cache.py)
                if not model.peaks_verified:
                    self._note(f"the cost model of {profile} does not give back its measured peak: "
                               "one flip per step")
                    model = None
            except (PyharnessError, StructureError) as exc:
                self._note(f"no cost model from {profile} ({exc}): one flip per step")
                model = None
            self._models = {profile: model}      # only the incumbent's is ever asked again
        return self._models[profile]

    def peak_of(self, inhibited: frozenset[str]) -> int | None:
        """The model's predicted largest per-rank peak of a configuration, from the
        incumbent's profile; None when it is not exact there (it re-activates sites the
        profiled run inhibited, or the profile has repeat sections)."""
        cur = self.state.current
        if cur is None or not cur.profile:
            return None
        model = self._model(cur.profile)
        if model is None:
            return None
        pred = model.predict(self.gran.config(sorted(inhibited), self.snapshots))
        return pred.peak if pred.exact else None

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
        # an earlier run gave the start up (every attempt failed: a wrong partition, a bad
        # venv...): nothing is recorded, so --resume can only mean "run the start again"
        pending = self.store.pending()
        if pending and pending.get("gave_up") and not pending.get("job_id"):
            tried = pending.get("attempts") or [{}]
            self._note(f"step 0: an earlier run gave the start up after {len(tried)} failed "
                       f"attempt(s) ({tried[-1].get('state', 'FAILED')}): running it again")
            # those attempts stay in the record; they do not count against --retries
            self.store.update_pending(gave_up=False, given_up=len(tried))
        m, ests, attempts, failure = self._measure(0, start_inhibited)
        if m is None:
            self.store.update_pending(gave_up=True)
            raise PyharnessError(f"the starting configuration could not be run: {failure}\n"
                                 f"nothing is recorded in {self.store.path} yet: fix the cause and run "
                                 "the command again with --resume (the start runs again, with the "
                                 "options then given), or use another --out")
        self._record(StepRecord(step=0, phase=Phase.START, flips=(), inhibited=tuple(sorted(start_inhibited)),
                                decision=Decision.START, reason="starting configuration", measurement=m,
                                estimates=ests, attempts=attempts,
                                job_id=getattr(self.backend, "last_job_id", "") or ""))

    def step(self) -> bool:
        """One step; False when the loop is finished."""
        st = self.state
        prop = st.propose(self.peak_of if st.flips_per_step > 1 else None)
        if st.nsteps >= self.max_steps + 1:
            # stopped by --max-steps: say so when the loop still had something to try
            self.cut_off = prop is not None
            return False
        if prop is None:
            if st.over_budget:
                raise BudgetUnreachable(
                    f"the budget {human_bytes(st.budget)} per rank is below what any configuration "
                    f"reached: the smallest peak measured is {human_bytes(st.min_peak)} per rank "
                    f"(every checkpoint that could be re-activated was tried); raise --budget")
            return False
        target = st.config_after(prop)
        n = st.nsteps
        inc_t = cand_t = ()
        if prop.phase is Phase.INHIBIT:
            m, ests, attempts, runs, failure, inc_t, cand_t = self._measure_rounds(n, target)
        else:     # judged by the peak: bytes, the same in every run
            m, ests, attempts, failure = self._measure(n, target)
            runs = attempts
        est_dt = sum(e.dt for e in prop.flips)
        est_dpk = prop.est_dpk if prop.phase is Phase.INHIBIT else sum(e.dpk for e in prop.flips)
        common = dict(step=n, phase=prop.phase, flips=prop.keys, inhibited=tuple(sorted(target)),
                      est_dt=est_dt, est_dpk=est_dpk, attempts=attempts, runs=runs,
                      rounds_incumbent=inc_t, rounds_candidate=cand_t)
        if m is None:
            rec = StepRecord(decision=Decision.FAILED, reason=str(failure), failure_state=failure.state,
                             exit_code=failure.exit_code, job_id=failure.job_id or "", **common)
        elif not (cmp := self.guard.compare(st.start, m)).same:
            # never chosen, whatever its time and peak; its flips stay checkpointed
            culprits = sorted({callee_of(k) for k in prop.keys}) if prop.phase in (Phase.INHIBIT, Phase.LOWER) else []
            why = "gradient differs from the start's: " + cmp.detail
            if culprits:
                why += f"; must stay checkpointed: {', '.join(culprits)}"
            self._note(f"step {n}: {why} - rejected")
            rec = StepRecord(decision=Decision.REJECTED, reason=why, measurement=m, estimates=ests,
                             job_id=getattr(self.backend, "last_job_id", "") or "",
                             grad_differs=True, grad_detail=cmp.detail, grad_rel_diff=cmp.rel_diff,
                             **common)
        else:
            ok, why, margin = st.judge(prop.phase, m, prop, inc_t, cand_t)
            rec = StepRecord(decision=Decision.ACCEPTED if ok else Decision.REJECTED, reason=why,
                             measurement=m, estimates=ests, margin_s=margin,
                             job_id=getattr(self.backend, "last_job_id", "") or "", **common)
        self._record(rec)
        return True

    def run(self) -> TuneState:
        while self.step():
            pass
        return self.state
