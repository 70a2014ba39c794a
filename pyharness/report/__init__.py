"""Reports of pyharness files: ``python -m pyharness.report FILE.h5 [...] [--out DIR] [--html]``.

- :mod:`.data`   measured configurations from profiles, tuning histories, explorations
- :mod:`.plots`  the figures (matplotlib, Agg)
- :mod:`.__main__` the command line: tables, CSV, PNG/SVG and an offline HTML page
"""
