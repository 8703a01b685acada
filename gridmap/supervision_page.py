"""Deprecated shim: :mod:`gridmap.supervision_page` moved to :mod:`gridmap.pages.scoreboard` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.pages.scoreboard` instead.
"""

from __future__ import annotations

import warnings

from gridmap.pages.scoreboard import (  # noqa: F401 - re-exported for the old import path
    PAGE_LABELS, chart_html, scoreboard_html, write_page,
)

__all__ = ['PAGE_LABELS', 'chart_html', 'scoreboard_html', 'write_page']

warnings.warn("gridmap.supervision_page is deprecated: it moved to gridmap.pages.scoreboard; import from there",
              DeprecationWarning, stacklevel=2)
