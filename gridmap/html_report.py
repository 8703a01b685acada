"""Deprecated shim: :mod:`gridmap.html_report` moved to :mod:`gridmap.pages.report` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.pages.report` instead.
"""

from __future__ import annotations

import warnings

from gridmap.pages.report import (  # noqa: F401 - re-exported for the old import path
    CHART_WEEKS, DESCRIPTION_BUDGET, HOTSPOT_CELL_M, MAX_LISTED_CORNERS, REPORT_LABELS, check_assets,
    default_title, export_html, page_html, report_map, save_page, shareable, shareable_coverage,
)

__all__ = ['CHART_WEEKS', 'DESCRIPTION_BUDGET', 'HOTSPOT_CELL_M', 'MAX_LISTED_CORNERS', 'REPORT_LABELS',
           'check_assets', 'default_title', 'export_html', 'page_html', 'report_map', 'save_page', 'shareable',
           'shareable_coverage']

warnings.warn("gridmap.html_report is deprecated: it moved to gridmap.pages.report; import from there",
              DeprecationWarning, stacklevel=2)
