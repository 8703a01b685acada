"""Deprecated shim: :mod:`gridmap.spreadsheet` moved to :mod:`gridmap.export.spreadsheet` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.export.spreadsheet` instead.
"""

from __future__ import annotations

import warnings

from gridmap.export.spreadsheet import (  # noqa: F401 - re-exported for the old import path
    EXCEL_MAX_TEXT, FORMULA_PREFIXES, neutralise_frame, neutralise_text, write_csv, write_xlsx,
)

__all__ = ['EXCEL_MAX_TEXT', 'FORMULA_PREFIXES', 'neutralise_frame', 'neutralise_text', 'write_csv', 'write_xlsx']

warnings.warn("gridmap.spreadsheet is deprecated: it moved to gridmap.export.spreadsheet; import from there",
              DeprecationWarning, stacklevel=2)
