"""replay: serve the measurements recorded in an earlier tune.h5 or explore.h5
instead of running.

For replaying the loop's decisions on recorded data: comparing strategies or
tolerances offline, and testing ``--resume`` deterministically (the same
measurements give the same decisions). A configuration that was never measured
in the source file is a failed run (state ``NOT_RECORDED``). Under a stack limit
(``--limit``) a recorded configuration whose peak is above it fails as the real
run would have (the AD stack's hard limit).
"""

from __future__ import annotations

import time

from ..config import Configuration
from ..errors import UsageError
from .base import Backend, Measurement, RunFailed, RunRequest

__all__ = ["ReplayBackend", "recorded_nranks"]


def recorded_nranks(source: str) -> int:
    """The rank count of the runs recorded in ``source`` (a tune.h5 or explore.h5); 0 if
    the file does not say. A replay run without --ranks takes it."""
    from ..h5io import decoded, open_h5
    with open_h5(source, ("tune", "explore")) as f:
        return int(decoded(f.attrs.get("nranks", 0)))


class ReplayBackend(Backend):
    """Serves the measurements recorded in an earlier tune.h5 or explore.h5 instead of running."""

    name = "replay"
    deterministic = True

    def __init__(self, request: RunRequest, source: str, delay: float = 0.0, stack_limit: int = 0):
        super().__init__(request)
        self.stack_limit = int(stack_limit or 0)
        from ..h5io import open_h5
        from ..tuner.store import TuneStore, resolve_path
        from .base import measurement_from_profile
        if not source:
            raise UsageError("the replay backend needs --replay-from TUNE.h5 (or EXPLORE.h5)")
        self.source = source
        self.delay = delay
        self.table: dict[frozenset[str], Measurement] = {}
        with open_h5(source, ("tune", "explore")) as f:
            kind = str(f.attrs["kind"])
            _check_same_problem(source, {k: f.attrs[k] for k in ("kernel", "size", "params")
                                         if k in f.attrs}, request)
            have = int(f.attrs.get("nranks", 0))
            if have and have != request.nranks:
                # served as this run's, N ranks' peaks and times were taken for M ranks'
                raise UsageError(f"{source} holds measurements of runs on {have} rank(s), this run asks "
                                 f"for {request.nranks} (--ranks {request.nranks}): replay with --ranks "
                                 f"{have} (or without --ranks), or give a history of {request.nranks} "
                                 "rank(s) to --replay-from")
            # stored relative to the file (older files: absolute or cwd-relative)
            profiles = ([resolve_path(str(f["samples"][s].attrs["profile"]), source)
                         for s in sorted(f["samples"])] if kind == "explore" else [])
        if kind == "tune":
            for rec in TuneStore(source).records():
                if rec.measurement is not None:
                    self.table.setdefault(_inhibited_sites(rec.measurement.profile), rec.measurement)
        for p in profiles:
            self.table.setdefault(_inhibited_sites(p), measurement_from_profile(p))

    def describe(self) -> str:
        return f"replay (measurements of {self.source})"

    def run(self, config: Configuration, profile_path: str, label: str = "") -> Measurement:
        if self.delay:
            time.sleep(self.delay)
        m = self.table.get(frozenset(config.inhibited))
        if m is None:
            raise RunFailed("configuration not measured in " + self.source, state="NOT_RECORDED")
        if self.stack_limit and m.peak > self.stack_limit:
            # what the run would have done under the hard limit: fail cleanly
            ranks = [r for r, p in enumerate(m.peak_bytes) if p > self.stack_limit]
            raise RunFailed(f"AD stack limit exceeded: the recorded peak {m.peak} bytes (rank "
                            f"{ranks[0]}) is above --limit {self.stack_limit} bytes (replayed from "
                            f"{self.source})", state="FAILED", exit_code=2)
        from ..reduction import copy_profile
        copy_profile(m.profile, profile_path)     # with its event files
        return Measurement(m.wall_s, m.cpu_s, m.peak_bytes, m.cost, m.grad_digest, str(profile_path))


def _check_same_problem(source: str, attrs: dict, request: RunRequest) -> None:
    """Refuse measurements of another kernel, size or parameters: served to this run they
    would be taken for its own (a configuration of the other problem with the same site
    names, or every one of them not measured)."""
    import json

    from ..h5io import decoded
    from ..kernels import get_kernel

    def text(v) -> str:
        return str(decoded(v))

    if "kernel" not in attrs:
        return                                  # a file of before these attributes
    kernel, size = text(attrs["kernel"]), text(attrs.get("size", request.size))
    overrides = json.loads(text(attrs.get("params", "{}")) or "{}")

    def problem(k, sz, ov):
        try:
            return k, get_kernel(k).params(sz, ov)        # --size demo equals its parameters
        except UsageError:
            return k, sz, sorted(ov.items())            # a kernel not installed here
    if problem(kernel, size, overrides) == problem(request.kernel, request.size, dict(request.params)):
        return
    given = " ".join([f"--kernel {kernel}", f"--size {size}"]
                     + [f"--param {k}={v}" for k, v in sorted(overrides.items())])
    asked = " ".join([f"--kernel {request.kernel}", f"--size {request.size}"]
                     + [f"--param {k}={v}" for k, v in request.params])
    raise UsageError(f"{source} holds measurements of {given}, this run is of {asked}: replay "
                     f"with the recorded kernel, size and parameters ({given}), or give a history "
                     "of this problem to --replay-from")


def _inhibited_sites(profile: str) -> frozenset[str]:
    from ..h5io import open_h5, read_str
    with open_h5(profile, ("profile",)) as f:
        names = read_str(f["locations/name"])
        mask = f["config/inhibited"][()]
    return frozenset(n for n, m in zip(names, mask) if m)
