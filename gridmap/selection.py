"""Deprecated shim: :mod:`gridmap.selection` moved to :mod:`gridmap.analysis.selection` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.analysis.selection` instead.
"""

from __future__ import annotations

import warnings

from gridmap.analysis.selection import (  # noqa: F401 - re-exported for the old import path
    DAYS_PER_MONTH, as_time, period_months, select_reports,
)

__all__ = ['DAYS_PER_MONTH', 'as_time', 'period_months', 'select_reports']

warnings.warn("gridmap.selection is deprecated: it moved to gridmap.analysis.selection; import from there",
              DeprecationWarning, stacklevel=2)
