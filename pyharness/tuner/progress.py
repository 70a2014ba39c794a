"""The progress display of the tuning loop (rank 0), with tqdm."""

from __future__ import annotations

import sys

from ..units import human_bytes, human_time

__all__ = ["Progress"]


class Progress:
    """A bar of steps with the current time and peak against the budget, and the best so far."""

    def __init__(self, total: int, initial=None):
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True,
                        disable=None, leave=True)
        if initial is not None and initial.nsteps:
            self.bar.update(initial.nsteps)
            self._postfix(initial)

    def _postfix(self, st) -> None:
        if st.current is None:
            return
        best = st.best.wall if st.best is not None else float("nan")
        self.bar.set_postfix_str(
            f"now {human_time(st.current.wall)} peak {human_bytes(st.current.peak)}/"
            f"{human_bytes(st.budget)} best {human_time(best)}", refresh=False)

    def update(self, st, rec) -> None:
        self.bar.update(1)
        self._postfix(st)
        flips = ",".join(rec.flips) if rec.flips else "-"
        if len(flips) > 60:
            flips = flips[:57] + "..."
        m = rec.measurement
        got = f"{human_time(m.wall)} {human_bytes(m.peak)}" if m is not None else rec.failure_state
        self.bar.write(f"step {rec.step:3d} {rec.phase.value:8s} {rec.decision.value:9s} {got:>22s}  {flips}")

    def write(self, msg: str) -> None:
        self.bar.write(msg)

    def close(self) -> None:
        self.bar.close()
