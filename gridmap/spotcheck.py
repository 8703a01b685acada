"""Deprecated shim: :mod:`gridmap.spotcheck` moved to :mod:`gridmap.analysis.spotcheck` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.analysis.spotcheck` instead,
or, for ``spot_check`` and ``SpotCheck`` (which open a workspace from its path and write
the page), from :mod:`gridmap.jobs.spotcheck`.
"""

from __future__ import annotations

import warnings

from gridmap.analysis.spotcheck import (  # noqa: F401 - re-exported for the old import path
    CHECKLIST_COLUMNS, NO_STRATUM, allocate, draw_order,
)
from gridmap.jobs.spotcheck import SpotCheck, spot_check  # noqa: F401 - the old ones took a path and wrote the page

__all__ = ['CHECKLIST_COLUMNS', 'NO_STRATUM', 'SpotCheck', 'allocate', 'draw_order', 'spot_check']

warnings.warn("gridmap.spotcheck is deprecated: it moved to gridmap.analysis.spotcheck (and spot_check, SpotCheck "
              "to gridmap.jobs.spotcheck); import from there",
              DeprecationWarning, stacklevel=2)
