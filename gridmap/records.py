"""Deprecated shim: :mod:`gridmap.records` moved to :mod:`gridmap.io.records` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.io.records` instead.
"""

from __future__ import annotations

import warnings

from gridmap.io.records import (  # noqa: F401 - re-exported for the old import path
    CHINA_BOUNDS, COORDS, DERIVED_ID_PREFIX, DERIVED_ID_SOURCES, EARLIEST_TIME, FUTURE_SLACK, PreparedBatch,
    READER_COLUMNS, REPAIR_COLUMNS, SURVEY_ALIASES, TIME_DTYPE, UTC_HEADERS, check_column_map, check_defaults,
    derived_ids, extra_json, parse_times, prepare,
)

__all__ = ['CHINA_BOUNDS', 'COORDS', 'DERIVED_ID_PREFIX', 'DERIVED_ID_SOURCES', 'EARLIEST_TIME', 'FUTURE_SLACK',
           'PreparedBatch', 'READER_COLUMNS', 'REPAIR_COLUMNS', 'SURVEY_ALIASES', 'TIME_DTYPE', 'UTC_HEADERS',
           'check_column_map', 'check_defaults', 'derived_ids', 'extra_json', 'parse_times', 'prepare']

warnings.warn("gridmap.records is deprecated: it moved to gridmap.io.records; import from there",
              DeprecationWarning, stacklevel=2)
