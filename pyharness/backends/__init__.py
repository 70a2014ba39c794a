"""Backends run one configuration each and leave a profile.h5 behind.

- ``inline``: the ranks of the current MPI job run it (``mpiexec python -m pyharness.tune``)
- ``local``:  a new ``mpiexec -n N python -m pyharness.profile`` process per run
- ``slurm``:  an ``sbatch`` job of jobs/profile.sbatch per run
- ``command``: a user's own program (a Tapenade adjoint): rebuilt per configuration
  with its -nocheckpoint list, run under mpiexec or Slurm, its traces ingested

All share :class:`~pyharness.backends.base.Backend`: ``run(config, profile_path)``
returns a :class:`~pyharness.backends.base.Measurement` or raises
:class:`~pyharness.backends.base.RunFailed`.
"""

from .base import (Backend, Measurement, RunFailed, RunRequest, add_backend_arguments, backend_class,
                   backend_names, get_backend)

__all__ = ["Backend", "Measurement", "RunFailed", "RunRequest", "get_backend", "backend_class",
           "backend_names", "add_backend_arguments"]
