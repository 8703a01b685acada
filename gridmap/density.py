"""Deprecated shim: :mod:`gridmap.density` moved to :mod:`gridmap.analysis.density` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.analysis.density` instead.
"""

from __future__ import annotations

import warnings

from gridmap.analysis.density import (  # noqa: F401 - re-exported for the old import path
    Bounds, DensityGrid, GAUSS_BOUNDS_SIGMAS, GAUSS_SUPPORT_SIGMAS, KERNELS, UNITS, default_bandwidth, kde,
)

__all__ = ['Bounds', 'DensityGrid', 'GAUSS_BOUNDS_SIGMAS', 'GAUSS_SUPPORT_SIGMAS', 'KERNELS', 'UNITS',
           'default_bandwidth', 'kde']

warnings.warn("gridmap.density is deprecated: it moved to gridmap.analysis.density; import from there",
              DeprecationWarning, stacklevel=2)
