"""Cost/benefit of every checkpoint from a profile: the analysis side of pyharness.

Pure Python + NumPy (numba, when installed, compiles the per-rank pass);
no MPI. The pieces, each usable alone:

- :mod:`~pyharness.analysis.merge`     one rank's events -> per-group estimates (docs/MODEL.md's
  nested-checkpoint merge with the rebase step), reference and fast versions
- :mod:`~pyharness.analysis.ranks`     per-rank estimates -> whole-job figures (per-rank peaks,
  slowest-rank time, min/mean/max/imbalance)
- :mod:`~pyharness.analysis.suggestions`   three groups of suggestions, a list under a budget,
  table / JSON / Tapenade-text printouts
- :mod:`~pyharness.analysis.profiles`  profile.h5 in, ``/analysis`` in and out
- :mod:`~pyharness.analysis.tapenade`  Tapenade's per-rank text tables in
- :mod:`~pyharness.analysis.simulate`  a simulator of the execution model (traces + brute-force truth)
- :mod:`~pyharness.analysis.config_files`, :mod:`~pyharness.analysis.units`

Example
-------
>>> from pyharness.analysis import analyze_profile, suggest, select_under_budget
>>> an = analyze_profile("profile.h5", granularity="callee")         # doctest: +SKIP
>>> plan = select_under_budget(an, budget=int(1.5 * an.peak))        # doctest: +SKIP
>>> plan.tapenade_option                                             # doctest: +SKIP
"""

from .merge import EventKind, MergeResult, TraceError, merge_events, merge_reference
from .profiles import Locations, analyze_events, analyze_profile, read_analysis, write_analysis
from .ranks import (Analysis, Granularity, GroupEstimate, GroupTable, MemoryEffect, RankData,
                    Spread, combine_ranks, rank_data)
from .suggestions import (BudgetPlan, Suggestions, format_table, format_tapenade,
                      select_under_budget, suggest, to_json)

__all__ = ["EventKind", "MergeResult", "TraceError", "merge_events", "merge_reference",
           "Locations", "analyze_events", "analyze_profile", "read_analysis", "write_analysis",
           "Analysis", "Granularity", "GroupEstimate", "GroupTable", "MemoryEffect", "RankData",
           "Spread", "combine_ranks", "rank_data", "BudgetPlan", "Suggestions", "format_table",
           "format_tapenade", "select_under_budget", "suggest", "to_json"]
