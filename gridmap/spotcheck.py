"""Deprecated shim: :mod:`gridmap.spotcheck` moved to :mod:`gridmap.analysis.spotcheck` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.analysis.spotcheck` instead.
"""

from __future__ import annotations

import warnings

from gridmap.analysis.spotcheck import (  # noqa: F401 - re-exported for the old import path
    CHECKLIST_COLUMNS, NO_STRATUM, SpotCheck, allocate, draw_order, spot_check,
)

__all__ = ['CHECKLIST_COLUMNS', 'NO_STRATUM', 'SpotCheck', 'allocate', 'draw_order', 'spot_check']

warnings.warn("gridmap.spotcheck is deprecated: it moved to gridmap.analysis.spotcheck; import from there",
              DeprecationWarning, stacklevel=2)
