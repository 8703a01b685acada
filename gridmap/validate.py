"""Deprecated shim: :mod:`gridmap.validate` moved to :mod:`gridmap.analysis.validate` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.analysis.validate` instead.
"""

from __future__ import annotations

import warnings

from gridmap.analysis.validate import (  # noqa: F401 - re-exported for the old import path
    GridCheck, PROBLEM_KINDS, TERRITORIES, validate_grids,
)

__all__ = ['GridCheck', 'PROBLEM_KINDS', 'TERRITORIES', 'validate_grids']

warnings.warn("gridmap.validate is deprecated: it moved to gridmap.analysis.validate; import from there",
              DeprecationWarning, stacklevel=2)
