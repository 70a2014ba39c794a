"""``tune --method optimal``: one profile, one exact solve, one run to confirm.

The start (every site checkpointed unless ``--config``) is run with profiling on
as step 0; its profile builds the cost model (:mod:`pyharness.model`), the MILP
chooses the fastest configuration whose predicted peak fits the budget on every
rank, and that configuration is run as step 1 (phase ``optimal``). Every step
of a tune.h5 made this way carries the model's prediction next to the
measurement (``/steps/NNNNN/predicted``, docs/FORMAT.md).

The chosen configuration is accepted when its measured peak equals the
prediction on every rank to the byte, it fits the budget, its gradient is the
start's, and it is not slower than the start by more than ``--tolerance``.
Otherwise tune says so plainly and continues with the greedy loop from the
better of the two measured configurations (steps recorded as such).

``--max-steps N`` bounds the steps after the start (step 0, always made) as it does
the greedy loop's: the choice's run, the calibrated second look and the greedy
fallback's steps each take one. With ``--max-steps 0`` the start is profiled and
the model solved, and the plan is kept as :attr:`OptimalStep.unconfirmed` (tune
reports it as predicted, not confirmed by a run, and writes no configuration);
with ``--max-steps 1`` the choice is run and not looked at again.
"""

from __future__ import annotations

import numpy as np

from ..errors import PyharnessError, UsageError
from ..units import human_bytes, human_time, per_rank, ranks_differing
from .loop import BudgetUnreachable, TuneLoop
from .state import StepRecord

__all__ = ["OptimalStep", "prediction_record"]


def prediction_record(pred, plan=None) -> dict:
    """What tune.h5 stores of a prediction (and of the solve that chose it)."""
    rec = {"time_s": float(pred.time), "time_by_rank_s": np.asarray(pred.time_by_rank, dtype=float),
           "peak_bytes": np.asarray(pred.peak_by_rank, dtype=np.int64), "exact": bool(pred.exact),
           "reasons": "; ".join(pred.reasons)}
    if plan is not None:
        rec.update(status=plan.status_text(), proven=bool(plan.proven), solve_s=float(plan.solve_s),
                   gap=float(plan.gap) if np.isfinite(plan.gap) else float("nan"),
                   method=plan.method)
    return rec


class OptimalStep:
    """Rank 0's side of ``--method optimal`` around a :class:`TuneLoop`."""

    def __init__(self, loop: TuneLoop, granularity: str, time_limit: float | None = 60.0,
                 note=print, tolerance: float = 0.01):
        self.loop = loop
        self.granularity = granularity
        self.time_limit = time_limit
        self.model = None
        self.note = note
        self.tolerance = tolerance      # the choice may be this fraction slower than the start
        # --max-steps 0: the plan solved but not run (nothing measured confirms it)
        self.unconfirmed = None

    def steps_left(self) -> int:
        """Steps --max-steps still allows (the start is step 0 and does not count)."""
        return self.loop.max_steps + 1 - self.loop.state.nsteps

    # ------------------------------------------------------------ model
    def attach(self) -> None:
        """Build the model from the start's profile as soon as the start is recorded."""
        self.loop.predictor = self.predict

    def build_model(self, profile: str):
        """The model of the start's profile; None (with the reason said) when it has no events."""
        from ..model import StructureError
        from ..model.cache import model_of
        try:
            # shared with the estimator (control bits) and the greedy loop's --flips
            self.model = model_of(profile)
        except (UsageError, StructureError) as exc:
            self.note(f"the start's profile gives no model ({exc}): continuing with the greedy loop")
            self.loop.predictor = None
            self.failed = True
            return None
        for n in self.model.notes:
            self.note(f"model: {n}")
        return self.model

    failed = False

    def predict(self, rec: StepRecord) -> dict:
        """Prediction record of a step's configuration (its inhibited decision units)."""
        if self.model is None:
            if self.failed or rec.decision != "start" or self.build_model(rec.measurement.profile) is None:
                return {}
        cfg = self.loop.gran.config(sorted(rec.inhibited), self.loop.snapshots)
        return prediction_record(self.model.predict(cfg))

    def _confirm_slower(self, n: int, keys, m) -> tuple[bool, str, dict]:
        """The choice's one run was slower than the start's beyond --tolerance. With the
        greedy loop's --rounds N > 1 (and a backend whose runs vary) run the choice and the
        start alternately until each has N runs (:meth:`TuneLoop.measure_alternately
        <pyharness.tuner.loop.TuneLoop.measure_alternately>`, ``m`` the choice's first),
        and call the choice slower only when the difference of the medians exceeds the
        measured spread and the tolerance (:func:`~pyharness.tuner.state.compare_rounds`).
        Returns (slower, detail, rounds)."""
        from .state import compare_rounds
        st = self.loop.state
        one = (f"{m.wall:.6f} s against {st.start.wall:.6f} s, beyond the tolerance of "
               f"{self.tolerance:.1%}")
        if self.loop.rounds <= 1:
            return True, one, {}
        alt = self.loop.measure_alternately(n, frozenset(keys), st.inhibited, ".start", first=m,
                                            stop_at_failure=False)
        start, choice = alt.incumbent, tuple(c.wall for c in alt.candidate)
        if not start:
            return True, one, {}
        v = compare_rounds(start, choice, self.tolerance)
        more = dict(runs=alt.runs, start=start, choice=choice, margin=v.margin_s)
        slower = -v.gain_s > v.margin_s
        detail = (f"median of {len(choice)} run(s) {v.candidate_s:.6f} s against the start's "
                  f"{v.incumbent_s:.6f} s ({len(start)} run(s), alternately), beyond the "
                  f"margin of {v.margin_s:.6f} s (the measured spread, or --tolerance "
                  f"{self.tolerance:.1%} of the start)")
        if not slower:
            self.note(f"optimal: the first run of the choice was slower than the start's ({one}); "
                      f"measured again alternately: {detail.replace('beyond', 'not beyond')}")
        return slower, detail, more

    def _check(self, m, runs, pred: dict, grad_note: str = "") -> tuple[list[str], object, dict]:
        """What disqualifies a measured choice (``m``, the run that stands for it among
        ``runs``): a measured peak other than the predicted one on any rank of any run,
        a peak above the budget, a gradient other than the start's. Returns (problems,
        the gradient comparison, the step record's gradient fields)."""
        st = self.loop.state
        problems = []
        want = np.asarray(pred["peak_bytes"], dtype=np.int64)
        for r in runs:
            peak = np.asarray(r.peak_bytes, dtype=np.int64)
            if peak.shape != want.shape or np.any(peak != want):
                problems.append("MEASURED PEAK DIFFERS from the predicted "
                                + ranks_differing(peak, want))
                break
        if m.peak > st.budget:
            problems.append(f"measured peak {human_bytes(m.peak)} is above the budget "
                            f"{human_bytes(st.budget)}")
        cmp = self.loop.guard.compare(st.start, m)
        extra = {}
        if not cmp.same:
            problems.append("gradient differs from the start's: " + cmp.detail + grad_note)
            extra = dict(grad_differs=True, grad_detail=cmp.detail, grad_rel_diff=cmp.rel_diff)
        return problems, cmp, extra

    # ------------------------------------------------------------ the solve and its run
    def solve_and_run(self) -> bool:
        """Optimise under the budget and run the choice. True: nothing left to do (the
        choice accepted, or --max-steps leaving no step to run it: :attr:`unconfirmed`)."""
        from ..model.milp import BudgetError, Units, optimize
        st = self.loop.state
        if not Units.of(self.model, self.granularity).names:
            # every call site has zero instances (loop counts of 0): the solver has nothing
            # to decide and failed with 'need at least one array to stack'
            self.note("optimal: no checkpoint site ran in the start's run: nothing for the model "
                      "to decide; continuing with the greedy loop")
            return False
        try:
            plan = optimize(self.model, st.budget, self.granularity, method="milp",
                            time_limit=self.time_limit)
        except BudgetError as exc:
            raise BudgetUnreachable(f"{exc} (the start measured {human_bytes(st.start.peak)} per rank)") \
                from None
        keys = self.loop.gran.keys_of(plan.config)
        pred = prediction_record(plan.prediction, plan)
        self.note(f"optimal: {len(plan.config.inhibited)} site(s) inhibited, predicted "
                  f"{human_time(plan.predicted_time)}, peak {human_bytes(plan.peak)}/rank; "
                  f"{plan.status_text()}, solved in {plan.solve_s:.2f} s")
        if self.steps_left() < 1:
            self.unconfirmed = plan
            self.note(f"optimal: --max-steps {self.loop.max_steps}: the choice is NOT RUN; "
                      "its prediction is not confirmed by a measurement")
            return True
        n = st.nsteps
        m, ests, attempts, failure = self.loop._measure(n, frozenset(keys))
        base = dict(step=n, phase="optimal", flips=(), inhibited=tuple(sorted(keys)),
                    est_dt=float(st.start.wall - plan.predicted_time),
                    est_dpk=int(plan.peak - st.start.peak), attempts=attempts,
                    job_id=getattr(self.loop.backend, "last_job_id", "") or "", prediction=pred)
        if m is None:
            self.note(f"the chosen configuration could not be run ({failure}): "
                      "continuing with the greedy loop from the start")
            self.loop._record(StepRecord(decision="failed", reason=str(failure),
                                         failure_state=failure.state, exit_code=failure.exit_code,
                                         **base))
            return False
        problems, cmp, extra = self._check(m, [m], pred, " (one of its "
                                           f"{len(keys)} inhibited sites changes it: the greedy loop "
                                           "flips them one at a time and names the callees that must "
                                           "stay checkpointed)")
        if m.wall > st.start.wall * (1.0 + self.tolerance):
            # one run of each says slower: measure both again, alternately, before saying so
            slower, detail, more = self._confirm_slower(n, keys, m)
            if more:
                base.update(runs=attempts + more["runs"], rounds_incumbent=more["start"],
                            rounds_candidate=more["choice"], margin_s=more["margin"])
            if slower:
                problems.append(f"SLOWER than the start: {detail}")
        if not problems:
            why = (f"measured peak equals the prediction on every rank; {m.wall:.6f} s "
                   f"(predicted {plan.predicted_time:.6f} s), start {st.start.wall:.6f} s")
            rec = StepRecord(decision="accepted", reason=why, measurement=m, estimates=ests, **base)
            self.loop._record(rec)
            self.refine(rec)
            return True
        why = "; ".join(problems)
        # the greedy loop goes on from the measured choice when it is usable, else from the start
        usable = m.peak <= st.budget and cmp.same and m.wall < st.start.wall
        self.note(f"optimal: {why} - continuing with the greedy loop from "
                  f"{'the chosen configuration' if usable else 'the start'}")
        self.loop._record(StepRecord(decision="accepted" if usable else "rejected",
                                     reason=why + "; continuing with the greedy loop",
                                     measurement=m, estimates=ests, **base, **extra))
        return False

    # ------------------------------------------------------------ calibrated: a second look
    def refine(self, first: StepRecord) -> None:
        """Fit the model's cold-reverse term to the accepted choice's run and solve again.

        The profile cannot see what an inhibited callee's reverse sweep loses reading its
        tape back from memory; the choice's run shows it (docs/MODEL.md, "The cold-reverse
        term"). When the calibrated model chooses differently, the new choice is run (and
        the first again, alternately, with ``--rounds`` > 1) and kept when its peak is the
        predicted one, it fits, its gradient is the start's and the median of its runs is
        faster than the first choice's; else the first choice stands. Both are steps of
        phase ``optimal``; the second's prediction carries ``calibrated_from`` (the first's
        step) and ``cold_ns_per_byte``. No second look when ``--max-steps`` leaves no step."""
        from ..model.calibration import read_run
        from ..model.milp import BudgetError, optimize
        from .state import compare_rounds
        if self.steps_left() < 1:
            self.note(f"optimal: --max-steps {self.loop.max_steps} reached: no calibrated second "
                      "look; the choice stands")
            return
        st = self.loop.state
        m1 = first.measurement
        try:
            model = self.model.calibrated([read_run(self.model, m1.profile)])
        except (UsageError, OSError) as exc:
            self.note(f"optimal: the choice's run does not calibrate the model ({exc})")
            return
        if not np.any(model.cold_s_per_byte > 0):
            self.note("optimal: the choice ran no slower than predicted: no cold-reverse term, "
                      "the choice stands")
            return
        self.model = model          # what tune.h5 predicts from here on carries the term
        said = ("calibrated with its run (cold reverse per rank, ns per byte: "
                + per_rank(np.asarray(model.cold_s_per_byte) * 1e9, lambda v: f"{v:.4f}", labels=False)
                + ")")
        try:
            plan = optimize(model, st.budget, self.granularity, method="milp", time_limit=self.time_limit)
        except BudgetError as exc:      # peaks do not change with the term: the first choice fits
            self.note(f"optimal: {said}: no solve ({exc}); the choice stands")
            return
        keys = frozenset(self.loop.gran.keys_of(plan.config))
        before = frozenset(first.inhibited)
        if keys == before:
            self.note(f"optimal: {said}: the same choice")
            return
        t1 = model.predict(self.loop.gran.config(sorted(before), self.loop.snapshots)).time
        self.note(f"optimal: {said}: another choice, {len(plan.config.inhibited)} site(s) inhibited, "
                  f"predicted {human_time(plan.predicted_time)} against the first choice's {human_time(t1)}; running it")
        pred = prediction_record(plan.prediction, plan)
        pred.update(calibrated_from=int(first.step), cold_ns_per_byte=model.cold_s_per_byte * 1e9)
        n = self.loop.state.nsteps
        alt = self.loop.measure_alternately(n, keys, before, ".first")
        base = dict(step=n, phase="optimal", flips=(), inhibited=tuple(sorted(keys)),
                    est_dt=float(m1.wall - plan.predicted_time), est_dpk=int(plan.peak - m1.peak),
                    attempts=alt.attempts, runs=alt.runs, prediction=pred,
                    job_id=getattr(self.loop.backend, "last_job_id", "") or "")
        head = f"calibrated with step {first.step}'s run, solved again: "
        if alt.failure is not None or not alt.candidate:
            f = alt.failure
            self.note(f"optimal: the calibrated choice could not be run ({f}): the first choice stands")
            self.loop._record(StepRecord(decision="failed", reason=head + str(f),
                                         failure_state=getattr(f, "state", ""),
                                         exit_code=getattr(f, "exit_code", None), **base))
            return
        cand = alt.candidate
        m = sorted(cand, key=lambda c: c.wall)[(len(cand) - 1) // 2]     # the median run stands for it
        v = compare_rounds(alt.incumbent or (m1.wall,), [c.wall for c in cand])
        problems, _, extra = self._check(m, cand, pred)
        if v.gain_s <= 0:
            problems.append(f"not faster than the first choice: median {v.candidate_s:.6f} s against "
                            f"{v.incumbent_s:.6f} s")
        ok = not problems
        why = head + (f"{v.candidate_s:.6f} s against the first choice's {v.incumbent_s:.6f} s "
                      f"(predicted {plan.predicted_time:.6f} s), measured peak equals the prediction"
                      if ok else "; ".join(problems) + "; the first choice stands")
        self.note(f"optimal: {why}")
        self.loop._record(StepRecord(decision="accepted" if ok else "rejected", reason=why,
                                     measurement=m, estimates=self.loop.estimator(m.profile),
                                     rounds_incumbent=alt.incumbent,
                                     rounds_candidate=tuple(c.wall for c in cand),
                                     margin_s=v.margin_s, **base, **extra))
