"""How :func:`gridmap.analysis.density.kde` lays out its raster and picks its method, and the default bandwidth's rule.

Shared by the in-memory estimate (:mod:`~gridmap.analysis.density`) and the one over Dask partitions
(:mod:`~gridmap.analysis._density_dask`), so both plan the same raster the same way.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from gridmap.analysis._density_binned import _subcells
from gridmap.analysis._density_inputs import Bounds
from gridmap.analysis._density_kernels import GAUSS_SUPPORT_SIGMAS, _reach
from gridmap.errors import SchemaError

logger = logging.getLogger("gridmap.analysis.density")

#: Units of :attr:`DensityGrid.values` as :func:`kde` returns them.
UNITS = "reports per km²"
#: Default bounds reach this many σ beyond the data for the Gaussian.
GAUSS_BOUNDS_SIGMAS = 4.0
#: Most cells of the raster.
_MAX_CELLS = 40_000_000
#: Most cells of the binned estimate's computing grid (about 130 bytes each at the peak, ten moment grids and
#: their spectra: memory below about 1 GB); beyond it the kernel is summed exactly.
_MAX_FFT_CELLS = 7_000_000
#: The exact sum is used below this many kernel evaluations (points × cells in a kernel's window)...
_MAX_EXACT_EVALUATIONS = 10_000_000
#: ... or when it costs less than the binned path, reckoned in kernel evaluations per point and per FFT cell.
_COST_PER_POINT = 6.0
_COST_PER_FFT_CELL = 12.0
#: Exact sums at doubtful cells may cost up to this share of the binned path (an exact evaluation there costs
#: about three units)...
_REPAIR_SHARE = 0.05
#: ... and always this many kernel evaluations.
_REPAIR_MIN_EVALUATIONS = 300_000
#: Default cell: the shorter side of the bounds divided by this (ArcGIS's default).
_CELLS_ON_SHORT_SIDE = 250.0
_M2_PER_KM2 = 1e6


def _silverman(sd: float, dm: float, n: float) -> float:
    """``0.9 · min(SD, sqrt(1 / ln 2) · D_m) · n^(−0.2)`` (see :func:`default_bandwidth`), checked."""
    radius = 0.9 * min(sd, math.sqrt(1.0 / math.log(2.0)) * dm) * n ** -0.2
    if not (math.isfinite(radius) and radius > 0):
        raise SchemaError(
            "cannot choose a bandwidth: the points lie (almost) all in one place, so their spread is zero;"
            " give bandwidth_m=... in metres (e.g. 100)")
    logger.debug("default bandwidth %.2f m (SD %.2f m, median distance %.2f m, n %.1f)", radius, sd, dm, n)
    return radius


@dataclass(frozen=True)
class _Plan:
    """How :func:`kde` computes a raster: its shape and bounds, and the method (``sub`` None: the exact sum)."""

    rows: int
    cols: int
    bounds: Bounds
    window: int
    sub: int | None
    pad: int
    budget: float


def _plan(n_points: int, kernel: str, bandwidth: float, cell: float, bounds: Bounds) -> _Plan:
    """The raster's shape and bounds and the cheaper method for `n_points` points (see "Method")."""
    cols = max(1, int(math.ceil((bounds[2] - bounds[0]) / cell - 1e-9)))
    rows = max(1, int(math.ceil((bounds[3] - bounds[1]) / cell - 1e-9)))
    minx, miny = bounds[0], bounds[1]
    maxx, maxy = minx + cols * cell, miny + rows * cell
    if rows * cols > _MAX_CELLS:
        raise SchemaError(
            f"the density raster would have {rows * cols:,} cells (cell {cell:.2f} m over {maxx - minx:.0f} x"
            f" {maxy - miny:.0f} m); give a larger cell_m or smaller bounds")
    reach = _reach(kernel, bandwidth, GAUSS_SUPPORT_SIGMAS)
    window = 2 * int(math.ceil(reach / cell)) + 3
    exact_cost = n_points * window * window
    sub, pad, binned_cost = _subcells(kernel, bandwidth, cell), 0, 0.0
    if sub is not None:
        pad = int(math.ceil(reach / (cell / sub)))
        fft_cells = (rows * sub + 2 * pad) * (cols * sub + 2 * pad)
        binned_cost = _COST_PER_POINT * n_points + _COST_PER_FFT_CELL * fft_cells
        if fft_cells > _MAX_FFT_CELLS:
            logger.info("kde: %d sub-cells per cell would need %d computing cells; summing exactly", sub, fft_cells)
            sub = None
    if sub is None or exact_cost <= max(_MAX_EXACT_EVALUATIONS, binned_cost):
        if sub is None:
            logger.info("kde: bandwidth %.2f m, cell %.2f m: summing every point's kernel exactly (%d evaluations)",
                        bandwidth, cell, exact_cost)
        logger.debug("kde: exact sum (%d kernel evaluations)", exact_cost)
        sub = None
    else:
        logger.debug("kde: binned estimate on %d x %d sub-cells per cell", sub, sub)
    budget = max(_REPAIR_MIN_EVALUATIONS, binned_cost * _REPAIR_SHARE)
    return _Plan(rows, cols, (minx, miny, maxx, maxy), window, sub, pad, budget)
