"""Deprecated shim: :mod:`gridmap.hotspot` moved to :mod:`gridmap.analysis.hotspot` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.analysis.hotspot` instead.
"""

from __future__ import annotations

import warnings

from gridmap.analysis.hotspot import (  # noqa: F401 - re-exported for the old import path
    EMERGING_CATEGORIES, MIN_STEPS, categorise, emerging_hotspots, fdr_reject, fishnet, gi_star, hexagons,
    hotspots, mann_kendall, neighbour_matrix, space_time_cube,
)

__all__ = ['EMERGING_CATEGORIES', 'MIN_STEPS', 'categorise', 'emerging_hotspots', 'fdr_reject', 'fishnet',
           'gi_star', 'hexagons', 'hotspots', 'mann_kendall', 'neighbour_matrix', 'space_time_cube']

warnings.warn("gridmap.hotspot is deprecated: it moved to gridmap.analysis.hotspot; import from there",
              DeprecationWarning, stacklevel=2)
