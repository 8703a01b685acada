"""Deprecated shim: :mod:`gridmap.recurrence` moved to :mod:`gridmap.analysis.recurrence` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.analysis.recurrence` instead.
"""

from __future__ import annotations

import warnings

from gridmap.analysis.recurrence import (  # noqa: F401 - re-exported for the old import path
    RECURRENCE_COLUMNS, SITE_COLUMNS, recurrences, recurring_sites,
)

__all__ = ['RECURRENCE_COLUMNS', 'SITE_COLUMNS', 'recurrences', 'recurring_sites']

warnings.warn("gridmap.recurrence is deprecated: it moved to gridmap.analysis.recurrence; import from there",
              DeprecationWarning, stacklevel=2)
