"""The tuning loop's state and its deterministic update from step records.

The live loop and ``--resume`` share one code path: the state after a step is
``state.apply(record)``, so replaying the records of tune.h5 rebuilds exactly
the state a killed run had, and the loop goes on from there.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from ..backends.base import Measurement
from ..vocabulary import Decision, Phase
from .strategy import Estimate, Strategy, pick_inhibit, propose_activate, propose_lower

__all__ = ["StepRecord", "TuneState", "Proposal", "Verdict", "compare_rounds"]


@dataclass(frozen=True)
class StepRecord:
    """One measured run of the loop (step 0 is the starting configuration)."""

    step: int
    phase: Phase                     # start | optimal | inhibit | activate | lower
    flips: tuple[str, ...]           # decision units flipped relative to the current config
    inhibited: tuple[str, ...]       # units inhibited in the configuration that was run
    decision: Decision               # start | accepted | rejected | failed
    reason: str = ""
    est_dt: float = 0.0              # estimated gain of the flips (s, slowest rank)
    est_dpk: int = 0                 # estimated peak change of the flips (bytes per rank)
    measurement: Measurement | None = None
    estimates: Mapping[str, Estimate] = field(default_factory=dict)
    attempts: int = 1
    failure_state: str = ""
    exit_code: int | None = None
    job_id: str = ""
    grad_differs: bool = False       # the gradient guard rejected it (tuner/guard.py)
    grad_detail: str = ""            # how the gradient differs from the start's
    grad_rel_diff: float = float("nan")
    prediction: Mapping = field(default_factory=dict)   # the model's (--method optimal)
    # every failed attempt before this record's run (job id, state, exit code, log)
    attempt_log: tuple = ()
    # the greedy loop's noise rule (inhibit steps): slowest-rank wall of every run of the
    # incumbent and of the candidate, measured alternately in this step, and the margin
    # the candidate's gain had to beat (0: a step of another kind, or an older file)
    rounds_incumbent: tuple[float, ...] = ()
    rounds_candidate: tuple[float, ...] = ()
    margin_s: float = 0.0
    runs: int = 0                    # runs made by this step (0: as many as attempts)

    def __post_init__(self):
        # records read back from tune.h5 carry the strings: members from here on
        object.__setattr__(self, "phase", Phase(self.phase))
        object.__setattr__(self, "decision", Decision(self.decision))


@dataclass(frozen=True)
class Proposal:
    phase: Phase
    flips: tuple[Estimate, ...]
    est_peak: int | None = None      # estimated peak of the whole new configuration, if known
    est_dpk: int = 0                 # est_peak - current peak (inhibit steps)

    @property
    def lowers_peak(self) -> bool:
        """The flips are estimated to lower the peak (single flip: dpk < 0; several:
        the model's peak of the new configuration below the current one)."""
        return self.est_dpk < 0

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(e.key for e in self.flips)


@dataclass(frozen=True)
class Verdict:
    """The noise rule applied to the runs of one inhibit step (docs/MODEL.md, "The greedy loop")."""

    gain_s: float        # median(incumbent) - median(candidate)
    spread_s: float      # the larger range (max - min) of the two sets of runs
    margin_s: float      # max(spread, tolerance x median(incumbent))
    incumbent_s: float = float("nan")   # median(incumbent)
    candidate_s: float = float("nan")   # median(candidate)

    @property
    def faster(self) -> bool:
        return self.gain_s > self.margin_s

    @property
    def not_slower(self) -> bool:
        return self.gain_s >= -self.margin_s


def compare_rounds(incumbent: Sequence[float], candidate: Sequence[float], tolerance: float = 0.0) -> Verdict:
    """Compare the incumbent's and the candidate's run times of one step.

    The candidate is faster when the difference of the medians is larger than the
    measured spread (the larger of the two ranges) and than ``tolerance`` times the
    incumbent's median. Noise-free (every run of a configuration takes the same
    time) the spread is 0 and, at the default tolerance of 0, every exact gain counts.

    Example
    -------
    >>> compare_rounds([1.00, 1.02], [0.90, 0.93]).faster
    True
    >>> compare_rounds([1.00, 1.10], [0.95, 0.96]).faster     # 0.045 s gain, 0.1 s spread
    False
    """
    inc, cand = list(incumbent), list(candidate)
    mi, mc = statistics.median(inc), statistics.median(cand)
    spread = max(max(inc) - min(inc), max(cand) - min(cand))
    return Verdict(mi - mc, spread, max(spread, tolerance * mi), mi, mc)


@dataclass(frozen=True)
class TuneState:
    strategy: Strategy
    budget_spec: object              # units.Budget
    tolerance: float = 0.0
    flips_per_step: int = 1
    keys: tuple[str, ...] = ()       # every decision unit
    inhibited: frozenset[str] = frozenset()
    budget: int | None = None        # bytes, fixed by the start measurement
    start: Measurement | None = None
    current: Measurement | None = None
    estimates: Mapping[str, Estimate] = field(default_factory=dict)
    known: Mapping[str, Estimate] = field(default_factory=dict)
    tried: frozenset[str] = frozenset()
    best_inhibited: frozenset[str] | None = None
    best: Measurement | None = None
    min_peak: int | None = None
    nsteps: int = 0
    nruns: int = 0
    forbidden: frozenset[str] = frozenset()   # units whose inhibition changed the gradient
    # units rejected in an inhibit step: (their estimate then, the margin their gain had
    # to beat); proposed again once the incumbent's estimate of them changed beyond it
    rejected: Mapping[str, tuple] = field(default_factory=dict)

    # ------------------------------------------------------------ decisions
    def reopened(self, key: str) -> bool:
        """May ``key`` be proposed for inhibition? Not when it was rejected and the
        current estimate of it is the one it was rejected with: same peak change, and a
        time gain within the margin that step applied. Later flips that change its
        estimate (another peak change through the rebase, a larger gain) open it again."""
        r = self.rejected.get(key)
        if r is None:
            return True
        then, margin = r
        now = self.estimates.get(key)
        if now is None or then is None:
            return False
        return now.dpk != then.dpk or abs(now.dt - then.dt) > margin

    def propose(self, peak_of: Callable[[frozenset[str]], int | None] | None = None) -> Proposal | None:
        """The next flips, or None when no candidate is left.

        ``peak_of(units)``: the predicted peak of the current configuration with ``units``
        inhibited as well (the cost model), used to judge a step of several flips.
        """
        cur = self.current
        if cur.peak > self.budget:
            cands = [k for k in sorted(self.inhibited) if ("+" + k) not in self.tried]
            flips = propose_activate(self.known, cands, self.flips_per_step)
            if flips:
                return Proposal(Phase.ACTIVATE, tuple(flips))
            # nothing left to re-activate: inhibit the sites whose inhibition lowers the
            # peak (Tapenade's first group), the largest estimated reduction first
            cands = [k for k in self.keys if k not in self.inhibited and ("-" + k) not in self.tried
                     and k not in self.forbidden]
            flips = propose_lower(self.estimates, cands, self.flips_per_step)
            return Proposal(Phase.LOWER, tuple(flips)) if flips else None
        cands = [k for k in self.keys if k not in self.inhibited and k not in self.tried
                 and k not in self.forbidden and self.reopened(k)]
        rel = None
        if peak_of is not None:
            def rel(units, _base=self.inhibited):
                return peak_of(frozenset(_base) | units)
        # the model's peak of several flips together comes with them: predicted once
        flips, p = pick_inhibit(self.strategy, self.estimates, cands, cur.peak, self.budget,
                                self.flips_per_step, rel)
        if not flips:
            return None
        if len(flips) == 1:
            return Proposal(Phase.INHIBIT, tuple(flips), cur.peak + flips[0].dpk, flips[0].dpk)
        return Proposal(Phase.INHIBIT, tuple(flips), p, p - cur.peak)

    def config_after(self, proposal: Proposal) -> frozenset[str]:
        if proposal.phase in (Phase.INHIBIT, Phase.LOWER):
            return self.inhibited | set(proposal.keys)
        return self.inhibited - set(proposal.keys)

    def judge(self, phase: Phase, m: Measurement, proposal: Proposal | None = None,
              incumbent: Sequence[float] = (), candidate: Sequence[float] = ()
              ) -> tuple[bool, str, float]:
        """Keep a measured configuration? Returns (accepted, reason, margin in s).

        Over budget (activate, lower) a step is kept when the peak is lower. Within
        budget (inhibit) the runs of the incumbent and of the candidate made in this
        step decide (:func:`compare_rounds`; without them the incumbent's recorded time
        and ``m``): kept when faster beyond the margin, or, for flips estimated to
        lower the peak, when the measured peak is lower and the time not worse
        beyond the margin.
        """
        cur = self.current
        if phase.lowers_peak:
            if m.peak < cur.peak:
                return True, f"peak lowered {cur.peak} -> {m.peak} bytes", 0.0
            return False, "peak not lowered", 0.0
        v = compare_rounds(incumbent or (cur.wall,), candidate or (m.wall,), self.tolerance)
        if m.peak > self.budget:
            return False, f"peak {m.peak} bytes above budget {self.budget}", v.margin_s
        n = len(candidate) or 1
        times = (f"median of {n} run(s) each, incumbent {v.incumbent_s:.6f} s, "
                 f"candidate {v.candidate_s:.6f} s, spread {v.spread_s:.6f} s")
        if v.faster:
            return True, f"faster by {v.gain_s:.6f} s, beyond the margin of {v.margin_s:.6f} s ({times})", \
                v.margin_s
        if proposal is not None and proposal.lowers_peak and m.peak < cur.peak and v.not_slower:
            return True, (f"peak lowered {cur.peak} -> {m.peak} bytes, time not worse beyond the "
                          f"margin of {v.margin_s:.6f} s ({times})"), v.margin_s
        return False, f"not faster beyond the margin of {v.margin_s:.6f} s ({times})", v.margin_s

    @property
    def chosen(self) -> tuple[frozenset[str], Measurement]:
        """The configuration to report: the current one when it fits the budget (every
        step that made it current was judged against the one before, measured in the
        same step), else the fastest measured within budget, else the current one."""
        if self.current is not None and self.current.peak <= self.budget:
            return self.inhibited, self.current
        keys = self.best_inhibited if self.best_inhibited is not None else self.inhibited
        return keys, self.best or self.current

    @property
    def must_stay_checkpointed(self) -> list[str]:
        """Callees whose inhibition changed the gradient (the flips of guarded steps)."""
        from .guard import callee_of
        return sorted({callee_of(k) for k in self.forbidden})

    @property
    def over_budget(self) -> bool:
        return self.current is not None and self.current.peak > self.budget

    # ------------------------------------------------------------ update
    def apply(self, rec: StepRecord) -> "TuneState":
        s = self
        m = rec.measurement
        changes: dict = {"nsteps": max(s.nsteps, rec.step + 1),
                         "nruns": s.nruns + (rec.runs or rec.attempts)}
        if m is not None:
            changes["min_peak"] = m.peak if s.min_peak is None else min(s.min_peak, m.peak)
        if rec.decision is Decision.START:
            known = dict(s.known)
            known.update(rec.estimates)
            budget = s.budget if s.budget is not None else s.budget_spec.resolve(m.peak)
            changes.update(start=m, current=m, estimates=dict(rec.estimates), known=known,
                           inhibited=frozenset(rec.inhibited), budget=budget)
        elif rec.decision is Decision.ACCEPTED:
            known = dict(s.known)
            known.update(rec.estimates)
            changes.update(current=m, estimates=dict(rec.estimates), known=known,
                           inhibited=frozenset(rec.inhibited))
        elif (rec.decision is Decision.REJECTED and rec.phase is Phase.INHIBIT
              and not rec.grad_differs and m is not None):
            # judged, not broken: open again once the estimate of it changes (reopened)
            rejected = dict(s.rejected)
            for k in rec.flips:
                rejected[k] = (s.estimates.get(k), float(rec.margin_s))
            changes["rejected"] = rejected
        else:
            mark = {Phase.ACTIVATE: "+", Phase.LOWER: "-"}.get(rec.phase, "")
            changes["tried"] = s.tried | {mark + k for k in rec.flips}
            if rec.grad_differs and rec.phase in (Phase.INHIBIT, Phase.LOWER):
                changes["forbidden"] = s.forbidden | set(rec.flips)
        new = dataclasses.replace(s, **changes)
        budget = new.budget
        if (rec.decision.kept and m is not None and m.peak <= budget
                and (new.best is None or m.wall < new.best.wall)):
            new = dataclasses.replace(new, best=m, best_inhibited=frozenset(rec.inhibited))
        return new
