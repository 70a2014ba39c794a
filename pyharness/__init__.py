"""pyharness: profile and tune the checkpoint placement of Tapenade-style adjoints.

The package is split the way the work is:

- ``pyharness.runtime``   the Fortran runtime (AD stack, profiler, sites), via f90wrap
- ``pyharness.kernels``   the adjoint kernels (streamice, ...)
- ``pyharness.config``    configurations: which sites are inhibited
- ``pyharness.h5io``      HDF5 files written atomically, schema checks
- ``pyharness.profile``   ``python -m pyharness.profile``: one profiled adjoint run
- ``pyharness.analysis``  cost/benefit of every site from a profile
- ``pyharness.sites``, ``pyharness.gradcheck``: command-line tools

Importing the package does not load the Fortran extension or MPI.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
