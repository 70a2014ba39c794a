"""The tuning loop's state and its deterministic update from step records.

The live loop and ``--resume`` share one code path: the state after a step is
``state.apply(record)``, so replaying the records of tune.h5 rebuilds exactly
the state a killed run had, and the loop goes on from there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping

from ..backends.base import Measurement
from ..vocabulary import Decision, Phase
from .strategy import Estimate, Strategy, propose_activate, propose_inhibit, propose_lower

__all__ = ["StepRecord", "TuneState", "Proposal"]


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

    def __post_init__(self):
        # records read back from tune.h5 carry the strings: members from here on
        object.__setattr__(self, "phase", Phase(self.phase))
        object.__setattr__(self, "decision", Decision(self.decision))


@dataclass(frozen=True)
class Proposal:
    phase: Phase
    flips: tuple[Estimate, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(e.key for e in self.flips)


@dataclass(frozen=True)
class TuneState:
    strategy: Strategy
    budget_spec: object              # units.Budget
    tolerance: float = 0.01
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

    # ------------------------------------------------------------ decisions
    def propose(self) -> Proposal | None:
        """The next flips, or None when no candidate is left."""
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
                 and k not in self.forbidden]
        flips = propose_inhibit(self.strategy, self.estimates, cands, cur.peak, self.budget,
                                self.flips_per_step)
        return Proposal(Phase.INHIBIT, tuple(flips)) if flips else None

    def config_after(self, proposal: Proposal) -> frozenset[str]:
        if proposal.phase in (Phase.INHIBIT, Phase.LOWER):
            return self.inhibited | set(proposal.keys)
        return self.inhibited - set(proposal.keys)

    def judge(self, phase: Phase, m: Measurement) -> tuple[bool, str]:
        """Keep a measured configuration? Returns (accepted, reason)."""
        cur = self.current
        if phase.lowers_peak:
            if m.peak < cur.peak:
                return True, f"peak lowered {cur.peak} -> {m.peak} bytes"
            return False, "peak not lowered"
        if m.peak > self.budget:
            return False, f"peak {m.peak} bytes above budget {self.budget}"
        if m.wall < cur.wall * (1.0 - self.tolerance):
            return True, f"faster: {cur.wall:.6f} -> {m.wall:.6f} s"
        return False, f"not faster than {cur.wall:.6f} s by more than {self.tolerance:.1%}"

    @property
    def chosen(self) -> tuple[frozenset[str], Measurement]:
        """The configuration to report: the fastest within budget, else the current one."""
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
                         "nruns": s.nruns + rec.attempts}
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
