"""Deterministic fault injection: stop the process with SIGKILL at a named point.

``PYHARNESS_STOP_AT=point[@n][,point[@n]...]`` kills the process (``kill -9``, no
clean-up of any kind) the ``n``-th time (default: the first) it reaches ``point``.
The tests and the fault campaign (bench/faults.sh) use it to reproduce a kill in a
window of a fraction of a second, every time.

Points (where the driver calls :func:`stop_at`):

``tmp-written``      a temporary file is complete, not yet renamed onto its name
``pending-written``  a step's in-flight record is written, its run not yet started
``run-started``      the local backend's mpiexec has been started
``job-submitted``    sbatch returned a job id, not yet recorded
``run-done``         a run finished (measurement read), its step not yet written
``step-written``     a step file is committed, tune.h5's index not yet updated
``array-submitted``  explore's job array was submitted, its id not yet recorded
``sample-written``   explore wrote a batch of samples
``profile-started``  a profile run (a step of the local or slurm backend) checked its
                     arguments, its adjoint not yet run

The local backend does not pass ``PYHARNESS_STOP_AT`` on to its steps: it is the
driver's. ``PYHARNESS_HANG_AT=point[@n]`` makes the process sleep forever there instead: a step
that never ends on its own, to check that a killed driver still takes it down
(tests/test_faults.py).

Example::

    PYHARNESS_STOP_AT=run-done@3 python -m pyharness.tune ...   # killed after the 3rd run
"""

from __future__ import annotations

import os
import signal
import sys
import time

__all__ = ["stop_at", "POINTS"]

POINTS = ("tmp-written", "pending-written", "run-started", "job-submitted", "run-done",
          "step-written", "array-submitted", "sample-written", "profile-started")

_counts: dict[str, int] = {}


def _plan(var: str = "PYHARNESS_STOP_AT") -> dict[str, int]:
    spec = os.environ.get(var, "").strip()
    plan = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, n = item.partition("@")
        if name not in POINTS:
            raise SystemExit(f"{var}: unknown point '{name}'; points: {', '.join(POINTS)}")
        plan[name] = int(n or 1)
    return plan


def stop_at(point: str) -> None:
    """Kill this process with SIGKILL if ``PYHARNESS_STOP_AT`` names this visit of
    ``point``; sleep forever if ``PYHARNESS_HANG_AT`` does."""
    if "PYHARNESS_STOP_AT" not in os.environ and "PYHARNESS_HANG_AT" not in os.environ:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _plan().get(point) == _counts[point]:
        sys.stdout.flush()
        print(f"pyharness: PYHARNESS_STOP_AT: SIGKILL at {point}@{_counts[point]} (pid {os.getpid()})",
              file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if _plan("PYHARNESS_HANG_AT").get(point) == _counts[point]:
        print(f"pyharness: PYHARNESS_HANG_AT: hanging at {point}@{_counts[point]} (pid {os.getpid()})",
              file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
