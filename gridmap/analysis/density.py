"""Kernel density of problem reports in true units: reports per km².

Unlike a web heat layer (Leaflet.heat draws in screen pixels and changes with
the zoom), :func:`kde` estimates a density on the ground: a raster in a metric
CRS whose values are points (or weights) per square kilometre, so that the
raster integrates to the number of reports (the sum of the weights).

The public names are here (with the choice between the two methods below); the
machinery sits in private modules of this room: the kernels and the exact sum
(:mod:`~gridmap.analysis._density_kernels`), the binned estimate with its error bound
and repair (:mod:`~gridmap.analysis._density_binned`) and its kernel tables
(:mod:`~gridmap.analysis._density_tables`), and the checks of the options and inputs
(:mod:`~gridmap.analysis._density_inputs`).

Kernels
-------
``"quartic"``
    As ArcGIS Pro ("How Kernel Density works") defines it, after Silverman
    (1986, eq. 4.5): ``K(d) = 3 / (π r²) · (1 − (d/r)²)²`` for ``d < r``, 0
    beyond, with ``r = bandwidth_m``. It integrates to 1 over the plane.
    QGIS (Heatmap / Kernel density estimation, "quartic (biweight)") uses the
    same shape but other units: its *raw* output is ``Σ w · (1 − (d/r)²)²``
    (1 at a lone point), so gridmap's values are QGIS's raw values times
    ``3 / (π r²)`` and times 10⁶ for r in metres (points per km²). QGIS's
    *scaled* output multiplies the shape by ``116 / (5 π r²) · 15 / 16`` instead,
    which is 7.25 times the unit-mass constant ``3 / (π r²)``, so it does not
    integrate to the number of points and does not equal gridmap's values.
``"gaussian"``
    ``K(d) = 1 / (2π σ²) · exp(−d² / (2σ²))`` with ``σ = bandwidth_m``,
    evaluated out to 5σ (it is never cut before that; beyond 5σ the kernel
    holds less than 4e-6 of its mass and its value is below 3.8e-6 of its peak).

Accuracy
--------
Where the density exceeds 1 % of its peak, each cell holds the exact sum of
every point's kernel at the cell's centre within 0.5 % (max relative error),
at every bandwidth; the Gaussian's sum is of the kernel out to 5σ. When that
cannot be vouched for within a bounded cost, :func:`kde` logs a warning naming
the cells and the size of the bound (see Method).

Method
------
The points are projected to a metric CRS (their own when it is projected in
metres, else :func:`gridmap.crs.metric_crs`). Then one of two ways, whichever
costs less:

*Exact sum.* Every point's kernel is evaluated at the centres of the cells
within its reach and added up. This is chosen when it is cheap (few points or a
bandwidth of few cells) and always when the bandwidth spans too few cells for
the binned estimate below (0.91 cells for the quartic, 0.38 for the Gaussian).

*Binned estimate.* The points are binned into the cell holding them (or an odd
number of sub-cells per cell side, up to 7), and so are their moments about the
cell's centre up to the third order, ``w · ux^i · uy^j`` for ``i + j ≤ 3``. Each of the
ten grids is convolved (FFT) with a table of the kernel's polynomial in ``(ux, uy)``
about each offset: its Taylor coefficients, exact for the quartic inside its disc, or
a least-squares fit where the quartic's edge crosses a cell. This is binning with a
third-order Taylor correction (Wand & Jones 1995, *Kernel Smoothing*, appendix D;
Hall & Wand 1996): its error is of fourth order, where linear binning's is of second
(``h²/8 · max|K''|`` per point). One more convolution, of the weights per cell with
the tables' largest error over a cell (Taylor's remainder, or for the cells the
quartic's edge crosses the largest error on a fine lattice plus the error of
interpolating between its points), bounds the error at every cell; the details are in
:mod:`~gridmap.analysis._density_tables`. The number of sub-cells is the fewest whose
bound for evenly spread points stays below half the target: one cell per side from a
quartic radius of about 6.4 cells and a Gaussian σ of about 2.6 cells. Every cell above
1 % of the peak whose bound exceeds 0.5 % of its value is then summed exactly, the most
doubtful first, up to about a twentieth of the estimate's own cost (at least 300,000
kernel evaluations); the rest, if any, keep the estimate and are named in a logged
warning (typical of dense clusters at their 1 % edge, where the bound is loose and the
measured error far below 0.5 %). The binned grid is padded by the kernel's reach, so
points outside `bounds` still add their share inside it.

Density whose kernel reaches beyond `bounds` is cut: the raster integrates to
the total weight only when every kernel fits inside `bounds` (the default
bounds are the data's extent plus the kernel's reach, so it does).

Defaults
--------
*Bandwidth*: ArcGIS Pro's spatial variant of Silverman's rule of thumb
("How Kernel Density works", default search radius):
``0.9 · min(SD, sqrt(1 / ln 2) · D_m) · n^(−0.2)``, where ``SD`` is the
standard distance of the points, ``D_m`` the median distance from their mean
centre, ``n`` the number of points (the sum of the weights when weights are
given, which also weight the centre, ``SD`` and the median). ArcGIS uses it as
the quartic radius; for the Gaussian it is σ, as in Silverman's rule.

*Cell*: the shorter side of the bounds divided by 250 (ArcGIS's default output
cell size, from the extent).

*Bounds*: the data's extent enlarged by the bandwidth (quartic) or 4σ
(Gaussian), in the metric CRS.

On Dask
-------
:func:`kde` also takes a dask-geopandas GeoDataFrame or an archive directory
(its ``reports`` layer). The points are never gathered: the metric CRS, the
counts, the mean centre and the extent, the default bandwidth's standard
distance and its *exact* weighted median distance (pinned down by counting the
partitions' distances in buckets of their bit patterns, then reading the few
left in the median's bucket), the binned grids or exact sums, and the repair of
doubtful cells are each a pass over the partitions whose small results are
added up (:mod:`~gridmap.analysis._density_dask`). Floating-point sums in
another order make the raster equal the in-memory one within about 1e-12 of
its peak.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import Point
>>> pts = gpd.GeoDataFrame(geometry=[Point(109.73, 38.29), Point(109.731, 38.291)], crs=4326)
>>> grid = kde(pts, bandwidth_m=200, cell_m=10)
>>> grid.units, grid.crs.to_epsg(), grid.values.shape
('reports per km²', 4546, (51, 49))
>>> round(float(grid.values.sum()) * (grid.cell_m / 1000) ** 2, 3)
2.0
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from affine import Affine

from gridmap.analysis._density_binned import _binned_density
from gridmap.analysis._density_dask import partitioned_kde
from gridmap.analysis._density_inputs import (
    Bounds,  # re-exported
    _check_kernel,
    _grid_bounds,
    _points_frame,
    _positive,
    _metric_points,
    _weighted_median,
)
from gridmap.analysis._density_kernels import GAUSS_SUPPORT_SIGMAS  # noqa: F401 - re-exported
from gridmap.analysis._density_kernels import (
    KERNELS,
    _direct_sum,
    _reach,
)
from gridmap.analysis._density_plan import (
    _CELLS_ON_SHORT_SIDE,
    _M2_PER_KM2,
    GAUSS_BOUNDS_SIGMAS,  # re-exported
    UNITS,  # re-exported
    _plan,
    _silverman,
)
from gridmap.analysis._hotspot_dask import is_partitioned
from gridmap.errors import SchemaError

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.storage import WorkspaceStore

__all__ = ["DensityGrid", "KERNELS", "kde", "default_bandwidth"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DensityGrid:
    """A density raster in a metric CRS, made by :func:`kde`.

    Attributes
    ----------
    values : numpy.ndarray
        2-D float64, ``(rows, cols)``, first row north, in :attr:`units`.
    transform : affine.Affine
        GDAL/rasterio convention: ``transform * (col, row)`` (``transform @ (col, row)``
        with affine >= 3, where ``*`` is deprecated) is the north-west corner of cell
        ``(row, col)``; ``Affine(cell, 0, minx, 0, -cell, maxy)``.
    crs : pyproj.CRS
        The metric CRS of the raster.
    kernel : str
        ``"quartic"`` or ``"gaussian"``.
    bandwidth_m : float
        Quartic radius or Gaussian σ, metres.
    cell_m : float
        Cell side, metres.
    units : str
        What the values count, e.g. ``"reports per km²"``.
    total : float
        Sum of the weights of the points used (their number without weights).
    bounds : tuple of float
        ``(minx, miny, maxx, maxy)`` of the raster in :attr:`crs`.
    n_points : int
        Points used.
    skipped : int
        Rows skipped for a missing or empty geometry.
    """

    values: np.ndarray
    transform: Affine
    crs: pyproj.CRS
    kernel: str
    bandwidth_m: float
    cell_m: float
    units: str
    total: float
    bounds: Bounds
    n_points: int = 0
    skipped: int = 0

    @property
    def cell_km2(self) -> float:
        """Area of one cell in km²."""
        return self.cell_m * self.cell_m / _M2_PER_KM2

    def scaled(self, factor: float, units: str) -> DensityGrid:
        """Return a copy with values and total multiplied by `factor`, labelled `units`.

        Parameters
        ----------
        factor : float
            Positive multiplier, e.g. ``1 / months`` for a density per month.
        units : str
            The new units, e.g. ``"reports per km² per month"``.

        Returns
        -------
        DensityGrid

        Examples
        --------
        >>> import geopandas as gpd
        >>> from shapely.geometry import Point
        >>> g = kde(gpd.GeoSeries([Point(0, 0)], crs=32649), bandwidth_m=100, cell_m=10)
        >>> m = g.scaled(1 / 12, "reports per km² per month")
        >>> m.units, round(m.total, 4), bool(abs(m.values.max() * 12 - g.values.max()) < 1e-9)
        ('reports per km² per month', 0.0833, True)
        """
        number = _positive(factor, "factor", "(a multiplier, e.g. 1 / months)")
        if not isinstance(units, str) or not units.strip():
            raise SchemaError(f"units must be a non-empty text such as 'reports per km² per month', got {units!r}")
        return replace(self, values=self.values * number, total=self.total * number, units=units)

    def to_geotiff(self, path: str | PathLike[str], *, dtype: str = "float32") -> Path:
        """Write the raster as a single-band GeoTIFF (no nodata value, DEFLATE-compressed).

        Parameters
        ----------
        path : str or os.PathLike
            File to write (replaced when it exists).
        dtype : {"float32", "float64"}
            Sample type of the band.

        Returns
        -------
        pathlib.Path

        Examples
        --------
        >>> import tempfile, pathlib, rasterio
        >>> import geopandas as gpd
        >>> from shapely.geometry import Point
        >>> g = kde(gpd.GeoSeries([Point(500000, 4200000)], crs=32649), bandwidth_m=100, cell_m=10)
        >>> out = g.to_geotiff(pathlib.Path(tempfile.mkdtemp()) / "kde.tif")
        >>> with rasterio.open(out) as src:
        ...     src.crs.to_epsg(), src.shape == g.values.shape, src.transform == g.transform
        (32649, True, True)
        """
        import rasterio  # deferred: rasterio loads GDAL, needed only to write a GeoTIFF
        from rasterio.crs import CRS as RioCRS  # deferred: rasterio (GDAL), as above

        if dtype not in ("float32", "float64"):
            raise SchemaError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        epsg = self.crs.to_epsg()
        rio_crs = RioCRS.from_epsg(epsg) if epsg else RioCRS.from_wkt(self.crs.to_wkt())
        out = Path(path)
        rows, cols = self.values.shape
        profile = dict(driver="GTiff", height=rows, width=cols, count=1, dtype=dtype, crs=rio_crs,
                       transform=self.transform, compress="deflate")
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(self.values.astype(dtype), 1)
            dst.update_tags(units=self.units, kernel=self.kernel, bandwidth_m=repr(self.bandwidth_m),
                            cell_m=repr(self.cell_m), total=repr(self.total))
            dst.set_band_description(1, f"density, {self.units}")
        logger.info("wrote %d x %d density raster to %s", rows, cols, out)
        return out


# ---------------------------------------------------------------------------------------------------------------
# the public functions
# ---------------------------------------------------------------------------------------------------------------


def kde(
    points: gpd.GeoDataFrame | gpd.GeoSeries | WorkspaceStore | str | PathLike[str],
    *,
    bandwidth_m: float | None = None,
    cell_m: float | None = None,
    kernel: str = "quartic",
    weights: str | Sequence[float] | np.ndarray | pd.Series | None = None,
    bounds: Sequence[float] | gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> DensityGrid:
    """Estimate the density of points in reports per km² on a metric raster.

    Parameters
    ----------
    points : GeoDataFrame, GeoSeries, WorkspaceStore, dask_geopandas.GeoDataFrame, str or os.PathLike
        Points in any declared CRS, or a workspace (its ``reports`` layer); or
        a dask-geopandas frame of points or an archive directory (its
        ``reports`` layer): the default bandwidth's statistics, the default
        bounds and the binning are then computed partition by partition with
        the active Dask scheduler and added up (the raster equals the in-memory
        one up to floating-point rounding; `weights` must then be a column name).
        Rows with a missing or empty geometry are skipped and counted
        (:attr:`DensityGrid.skipped`). Not modified.
    bandwidth_m : float, optional
        Quartic radius or Gaussian σ in metres; by default ArcGIS's spatial
        Silverman rule (:func:`default_bandwidth`).
    cell_m : float, optional
        Cell side in metres; by default the shorter side of the bounds / 250.
    kernel : {"quartic", "gaussian"}
        See the module notes.
    weights : str or array-like, optional
        A column name of `points` or one finite, non-negative number per row
        (e.g. tonnes); each point counts as its weight. By default 1 each.
    bounds : tuple of 4 floats or geopandas.GeoDataFrame or geopandas.GeoSeries, optional
        Extent of the raster: ``(minx, miny, maxx, maxy)`` in the CRS of
        `points`, or the extent of geometries in any CRS. By default the data's
        extent plus the bandwidth (quartic) or 4σ (Gaussian). The raster starts
        at the west and south edges and grows east and north to whole cells.
        Density spilling outside the bounds is cut.

    Returns
    -------
    DensityGrid

    Raises
    ------
    CRSError
        When `points` has no CRS.
    SchemaError
        When `bandwidth_m` or `cell_m` is not a positive number, `kernel` is
        unknown, the geometries are not points, `weights` are unusable, there
        are no points, or the raster would be too large.

    Examples
    --------
    >>> from gridmap.sample import sample_boundaries, sample_reports
    >>> reports, _ = sample_reports(sample_boundaries(), n_reports=300)
    >>> grid = kde(reports, bandwidth_m=150)
    >>> grid.kernel, grid.n_points, round(grid.total)
    ('quartic', 300, 300)
    >>> bool(abs(grid.values.sum() * grid.cell_km2 - 300) < 1.5)
    True
    """
    if is_partitioned(points):
        return DensityGrid(**partitioned_kde(points, bandwidth_m=bandwidth_m, cell_m=cell_m, kernel=kernel,
                                             weights=weights, bounds=bounds))
    kernel_name = _check_kernel(kernel)
    bandwidth = None if bandwidth_m is None else _positive(bandwidth_m, "bandwidth_m", "metres, e.g. bandwidth_m=150")
    cell_opt = None if cell_m is None else _positive(cell_m, "cell_m", "metres, e.g. cell_m=10")
    frame = _points_frame(points)
    crs, xy, w, skipped = _metric_points(frame, weights)
    if bandwidth is None:
        bandwidth = default_bandwidth(xy, weights=w)
    grid_bounds = _grid_bounds(bounds, frame, crs, xy, _reach(kernel_name, bandwidth, GAUSS_BOUNDS_SIGMAS))
    cell = cell_opt if cell_opt is not None else min(grid_bounds[2] - grid_bounds[0],
                                                     grid_bounds[3] - grid_bounds[1]) / _CELLS_ON_SHORT_SIDE
    cell = _positive(cell, "cell_m", "metres (the bounds have no extent: give cell_m or bounds)")
    values, final_bounds = _density(xy, w, kernel_name, bandwidth, cell, grid_bounds)
    logger.info("kde: %d points (%d skipped), %s kernel, bandwidth %.1f m, cell %.2f m, %d x %d cells",
                len(xy), skipped, kernel_name, bandwidth, cell, values.shape[0], values.shape[1])
    return DensityGrid(values=values, transform=Affine(cell, 0.0, final_bounds[0], 0.0, -cell, final_bounds[3]),
                       crs=crs, kernel=kernel_name, bandwidth_m=float(bandwidth), cell_m=float(cell), units=UNITS,
                       total=float(w.sum()), bounds=final_bounds, n_points=len(xy), skipped=skipped)


def default_bandwidth(xy: np.ndarray, *, weights: np.ndarray | None = None) -> float:
    """ArcGIS Pro's default search radius, a spatial variant of Silverman's rule of thumb.

    ``0.9 · min(SD, sqrt(1 / ln 2) · D_m) · n^(−0.2)`` with ``SD`` the
    standard distance, ``D_m`` the median distance to the mean centre and ``n``
    the number of points or the sum of the weights (ArcGIS Pro, "How Kernel
    Density works"; Silverman 1986, eq. 3.31).

    Parameters
    ----------
    xy : numpy.ndarray
        ``(n, 2)`` coordinates in metres.
    weights : numpy.ndarray, optional
        Non-negative weight per point.

    Returns
    -------
    float
        Metres.

    Raises
    ------
    SchemaError
        When the points have no spread (fewer than two distinct places): then
        give `bandwidth_m`.

    Examples
    --------
    >>> xy = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
    >>> round(default_bandwidth(xy), 3)  # SD = D_m = 70.711; 0.9 * 70.711 * 4 ** -0.2
    48.23
    """
    coords = np.asarray(xy, dtype=np.float64)
    w = np.ones(len(coords)) if weights is None else np.asarray(weights, dtype=np.float64)
    n = float(w.sum())
    if len(coords) == 0 or n <= 0:
        raise SchemaError("no points with weight to choose a bandwidth from; give bandwidth_m=...")
    centre = (coords * w[:, None]).sum(axis=0) / n
    d2 = ((coords - centre) ** 2).sum(axis=1)
    sd = math.sqrt(float((w * d2).sum()) / n)
    dm = _weighted_median(np.sqrt(d2), w)
    return _silverman(sd, dm, n)


# ---------------------------------------------------------------------------------------------------------------
# the computation
# ---------------------------------------------------------------------------------------------------------------


def _density(xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float, cell: float,
             bounds: Bounds) -> tuple[np.ndarray, Bounds]:
    """Density per km² at the cell centres and the raster's bounds (exact sum or corrected binned FFT)."""
    plan = _plan(len(xy), kernel, bandwidth, cell, bounds)
    x0, y1, shape = plan.bounds[0], plan.bounds[3], (plan.rows, plan.cols)
    if plan.sub is None:
        values = _direct_sum(xy, w, kernel, bandwidth, cell, x0=x0, y1=y1, shape=shape, window=plan.window)
    else:
        values = _binned_density(xy, w, kernel, bandwidth, cell, plan.sub, plan.pad, x0=x0, y1=y1, shape=shape,
                                 budget=plan.budget)
    return values * _M2_PER_KM2, plan.bounds
