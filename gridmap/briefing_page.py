"""Deprecated shim: :mod:`gridmap.briefing_page` moved to :mod:`gridmap.pages.briefing` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.pages.briefing` instead.
"""

from __future__ import annotations

import warnings

from gridmap.pages.briefing import (  # noqa: F401 - re-exported for the old import path
    A4_LANDSCAPE_IN, RECTIFIED_STATUSES, briefing, community_table, rectified_known, rectified_share,
)

__all__ = ['A4_LANDSCAPE_IN', 'RECTIFIED_STATUSES', 'briefing', 'community_table', 'rectified_known',
           'rectified_share']

warnings.warn("gridmap.briefing_page is deprecated: it moved to gridmap.pages.briefing; import from there",
              DeprecationWarning, stacklevel=2)
