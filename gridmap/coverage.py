"""Deprecated shim: :mod:`gridmap.coverage` moved to :mod:`gridmap.analysis.coverage` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.analysis.coverage` instead.
"""

from __future__ import annotations

import warnings

from gridmap.analysis.coverage import (  # noqa: F401 - re-exported for the old import path
    CSV_COLUMNS, CoverageResult, DEAD_CORNER_COLUMNS, GRID_COLUMNS, overall_coverage, sweep_coverage,
)

__all__ = ['CSV_COLUMNS', 'CoverageResult', 'DEAD_CORNER_COLUMNS', 'GRID_COLUMNS', 'overall_coverage',
           'sweep_coverage']

warnings.warn("gridmap.coverage is deprecated: it moved to gridmap.analysis.coverage; import from there",
              DeprecationWarning, stacklevel=2)
