"""Deprecated shim: :mod:`gridmap.retry` moved to :mod:`gridmap.io.retry` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.io.retry` instead.
"""

from __future__ import annotations

import warnings

from gridmap.io.retry import (  # noqa: F401 - re-exported for the old import path
    RetrySummary, SKIP_REASONS, retry_quarantine,
)

__all__ = ['RetrySummary', 'SKIP_REASONS', 'retry_quarantine']

warnings.warn("gridmap.retry is deprecated: it moved to gridmap.io.retry; import from there",
              DeprecationWarning, stacklevel=2)
