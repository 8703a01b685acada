"""Kernel density of problem reports in true units: reports per km².

Unlike a web heat layer (Leaflet.heat draws in screen pixels and changes with
the zoom), :func:`kde` estimates a density on the ground: a raster in a metric
CRS whose values are points (or weights) per square kilometre, so that the
raster integrates to the number of reports (the sum of the weights).

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
the binned estimate below (3.5 cells for the quartic, 1.4 for the Gaussian).

*Corrected binned estimate.* The points are spread onto a grid of sub-cells (an
odd number per cell side, up to 7) by *linear binning* (each weight shared
between the four nearest nodes, bilinearly; Wand & Jones 1995, *Kernel
Smoothing*, appendix D), and so are their second moments within the sub-cell,
``w · f(1 − f) · h² / 2`` in x and in y (``f`` the fractional position between
nodes, ``h`` the sub-cell). The grids are convolved (FFT) with the kernel and
with its second derivatives ``∂²K/∂x²`` and ``∂²K/∂y²`` sampled at the node
offsets, and the moment terms are subtracted: this removes linear binning's
second-order error (``f(1 − f) h² / 2 · ∂²K``) exactly, leaving third-order terms.
Alongside, one more convolution gives a bound on the remaining error at every
cell (Taylor's theorem with the kernel's third and fourth derivatives bounded
over each point's sub-cell; where a sub-cell straddles the edge of the
quartic's support, whose second derivative jumps there, the plain bound of
linear interpolation). Every cell above 1 % of the peak whose bound exceeds
0.5 % of its value is then summed exactly, the most doubtful first, up to about
a sixth of the estimate's own cost (at least 300,000 kernel evaluations); the
rest, if any, keep the estimate and are named in a logged warning (typical of
dense clusters at their 1 % edge, where the bound is loose and the measured
error far below 0.5 %). The number of sub-cells is the fewest whose bound for
evenly spread points stays below half the target. The binned grid is padded by the kernel's reach, so points outside
`bounds` still add their share inside it.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from affine import Affine
from scipy import fft as sp_fft

from gridmap.errors import SchemaError
from gridmap.crs import metric_crs, require_crs

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.storage import WorkspaceStore

__all__ = ["DensityGrid", "KERNELS", "kde", "default_bandwidth"]

logger = logging.getLogger(__name__)

#: Kernels :func:`kde` knows.
KERNELS = ("quartic", "gaussian")
#: Units of :attr:`DensityGrid.values` as :func:`kde` returns them.
UNITS = "reports per km²"
#: The Gaussian is evaluated out to this many σ.
GAUSS_SUPPORT_SIGMAS = 5.0
#: Default bounds reach this many σ beyond the data for the Gaussian.
GAUSS_BOUNDS_SIGMAS = 4.0
#: The accuracy promised: max relative error against the exact sum at cell centres...
_TARGET_RELATIVE_ERROR = 0.005
#: ... where the density exceeds this share of its peak.
_PEAK_SHARE = 0.01
#: Margin kept below the target by the error bound (floating point).
_SAFETY = 0.9
#: Share of the target the bound may take for evenly spread points when choosing the sub-cells.
_UNIFORM_SHARE = 0.5
#: Most sub-cells per cell side (odd) when the bandwidth spans few cells.
_MAX_SUBCELLS = 7
#: Most cells of the raster.
_MAX_CELLS = 40_000_000
#: Most cells of the binned estimate's computing grid (about 70 bytes each at the peak: memory below about 1 GB);
#: beyond it the kernel is summed exactly.
_MAX_FFT_CELLS = 14_000_000
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
_EXACT_CHUNK = 2_000_000
#: Default cell: the shorter side of the bounds divided by this (ArcGIS's default).
_CELLS_ON_SHORT_SIDE = 250.0
_M2_PER_KM2 = 1e6

Bounds = tuple[float, float, float, float]


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
        import rasterio
        from rasterio.crs import CRS as RioCRS

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
    points: gpd.GeoDataFrame | gpd.GeoSeries | WorkspaceStore,
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
    points : geopandas.GeoDataFrame, geopandas.GeoSeries or gridmap.storage.WorkspaceStore
        Points in any declared CRS, or a workspace (its ``reports`` layer).
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
    kernel_name = _check_kernel(kernel)
    bandwidth = None if bandwidth_m is None else _positive(bandwidth_m, "bandwidth_m", "metres, e.g. bandwidth_m=150")
    cell_opt = None if cell_m is None else _positive(cell_m, "cell_m", "metres, e.g. cell_m=10")
    frame = _points_frame(points)
    crs = _work_crs(frame)
    xy, w, skipped = _xy_weights(frame, weights, crs)
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
    radius = 0.9 * min(sd, math.sqrt(1.0 / math.log(2.0)) * dm) * n ** -0.2
    if not (math.isfinite(radius) and radius > 0):
        raise SchemaError(
            "cannot choose a bandwidth: the points lie (almost) all in one place, so their spread is zero;"
            " give bandwidth_m=... in metres (e.g. 100)")
    logger.debug("default bandwidth %.2f m (SD %.2f m, median distance %.2f m, n %.1f)", radius, sd, dm, n)
    return radius


# ---------------------------------------------------------------------------------------------------------------
# options and inputs
# ---------------------------------------------------------------------------------------------------------------


def _positive(value: Any, name: str, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not (math.isfinite(number) and number > 0):
        raise SchemaError(f"{name} must be a positive number of {what}; got {value!r}")
    return number


def _check_kernel(kernel: Any) -> str:
    name = str(kernel).strip().lower()
    if name not in KERNELS:
        raise SchemaError(f"unknown kernel {kernel!r}; choose one of: {', '.join(KERNELS)}")
    return name


def _points_frame(points: Any) -> gpd.GeoDataFrame | gpd.GeoSeries:
    if isinstance(points, gpd.GeoSeries):
        require_crs(points, what="the points")
        return points
    if isinstance(points, gpd.GeoDataFrame):
        require_crs(points, what="the points")
        return points
    if hasattr(points, "read_layer"):
        frame = points.read_layer("reports")
        require_crs(frame, what="the workspace's reports")
        return frame
    raise SchemaError(f"kde needs a GeoDataFrame or GeoSeries of points or a workspace, got {type(points).__name__}")


def _work_crs(frame: gpd.GeoDataFrame) -> pyproj.CRS:
    crs = pyproj.CRS.from_user_input(frame.crs)
    if crs.is_projected and crs.axis_info and crs.axis_info[0].unit_name in ("metre", "meter"):
        return crs
    return metric_crs(frame)


def _xy_weights(frame: gpd.GeoDataFrame | gpd.GeoSeries, weights: Any,
                crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray, int]:
    """Metric coordinates and weights of the usable points, and the number of rows skipped."""
    w = _weights(frame, weights)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    coords, rows = _coordinates(geoms)
    if len(coords) != len(geoms) or not np.array_equal(rows, np.arange(len(geoms))):
        _refuse_non_points(geoms)
        w = w[rows]  # missing and empty geometries have no coordinate
    source = pyproj.CRS.from_user_input(frame.crs)
    if source == crs and len(coords) == len(geoms):
        return coords, w, 0  # the common case, without copies
    x, y = coords[:, 0], coords[:, 1]
    unusable = np.zeros(len(x), dtype=bool)
    if source != crs:
        x, y = pyproj.Transformer.from_crs(source, crs, always_xy=True).transform(x, y)
        unusable |= ~(np.isfinite(x) & np.isfinite(y))
    skipped = len(geoms) - len(x) + int(unusable.sum())
    if skipped:
        logger.info("kde: skipped %d of %d rows without a usable point", skipped, len(frame))
        keep = ~unusable
        x, y, w = x[keep], y[keep], w[keep]
    if len(x) == 0:
        raise SchemaError("kde got no points with a geometry; check the input (all geometries are missing or empty)")
    return np.column_stack([x, y]), w, skipped


def _coordinates(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the geometries and the position of each one's geometry, in two threads for many."""
    if len(geoms) < 200_000:
        return shapely.get_coordinates(geoms, return_index=True)
    half = len(geoms) // 2
    with ThreadPoolExecutor(max_workers=2) as pool:  # shapely releases the GIL
        parts = list(pool.map(lambda part: shapely.get_coordinates(part, return_index=True),
                              (geoms[:half], geoms[half:])))
    return np.concatenate([parts[0][0], parts[1][0]]), np.concatenate([parts[0][1], parts[1][1] + half])


def _refuse_non_points(geoms: np.ndarray) -> None:
    kinds = shapely.get_type_id(geoms)
    others = np.unique(kinds[kinds > 0])  # -1 is a missing geometry, 0 a point
    if len(others):
        found = sorted(shapely.GeometryType(int(k)).name.lower() for k in others)
        raise SchemaError(f"kde needs points, found {', '.join(found)} geometries; take their centroids"
                          " (gdf.geometry.centroid in a metric CRS) or representative points first")


def _weights(frame: gpd.GeoDataFrame | gpd.GeoSeries, weights: Any) -> np.ndarray:
    if weights is None:
        return np.ones(len(frame))
    if isinstance(weights, str):
        if not isinstance(frame, gpd.GeoDataFrame) or weights not in frame.columns:
            columns = frame.columns if isinstance(frame, gpd.GeoDataFrame) else []
            raise SchemaError(f"weights column {weights!r} not found; columns are {', '.join(map(str, columns))}")
        raw = frame[weights]
    else:
        raw = weights
    try:
        w = np.array(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"weights must be numbers (one per point): {exc}") from None
    if len(w) != len(frame):
        raise SchemaError(f"weights has {len(w)} values for {len(frame)} points; give one weight per point")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise SchemaError(f"weights must be finite and non-negative; {int(bad.sum())} are not (first at position"
                          f" {int(np.flatnonzero(bad)[0])}); fill or drop them first")
    return w


def _weighted_median(values: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(w[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2.0)])


def _reach(kernel: str, bandwidth: float, gauss_sigmas: float) -> float:
    return bandwidth if kernel == "quartic" else gauss_sigmas * bandwidth


def _grid_bounds(bounds: Any, frame: gpd.GeoDataFrame, crs: pyproj.CRS, xy: np.ndarray, reach: float) -> Bounds:
    if bounds is None:
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        return float(lo[0] - reach), float(lo[1] - reach), float(hi[0] + reach), float(hi[1] + reach)
    if isinstance(bounds, (gpd.GeoDataFrame, gpd.GeoSeries)):
        require_crs(bounds, what="the bounds")
        box = tuple(float(v) for v in bounds.to_crs(crs).total_bounds)
    else:
        try:
            values = [float(v) for v in bounds]
        except (TypeError, ValueError):
            values = []
        if len(values) != 4:
            raise SchemaError(f"bounds must be (minx, miny, maxx, maxy) in the points' CRS or a GeoDataFrame,"
                              f" got {bounds!r}")
        box = tuple(values)
        source = pyproj.CRS.from_user_input(frame.crs)
        if source != crs:
            to_crs = pyproj.Transformer.from_crs(source, crs, always_xy=True)
            box = to_crs.transform_bounds(box[0], box[1], box[2], box[3], densify_pts=21)
    if not (all(math.isfinite(v) for v in box) and box[2] > box[0] and box[3] > box[1]):
        raise SchemaError(f"bounds must have minx < maxx and miny < maxy, got {bounds!r}")
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


# ---------------------------------------------------------------------------------------------------------------
# the computation
# ---------------------------------------------------------------------------------------------------------------


def _density(xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float, cell: float,
             bounds: Bounds) -> tuple[np.ndarray, Bounds]:
    """Density per km² at the cell centres and the raster's bounds (exact sum or corrected binned FFT)."""
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
    exact_cost = len(xy) * window * window
    sub = _subcells(kernel, bandwidth, cell)
    if sub is not None:
        pad = int(math.ceil(reach / (cell / sub)))
        fft_cells = (rows * sub + 2 * pad) * (cols * sub + 2 * pad)
        binned_cost = _COST_PER_POINT * len(xy) + _COST_PER_FFT_CELL * fft_cells
        if fft_cells > _MAX_FFT_CELLS:
            logger.info("kde: %d sub-cells per cell would need %d computing cells; summing exactly", sub, fft_cells)
            sub = None
    if sub is None or exact_cost <= max(_MAX_EXACT_EVALUATIONS, binned_cost):
        if sub is None:
            logger.info("kde: bandwidth %.2f m, cell %.2f m: summing every point's kernel exactly (%d evaluations)",
                        bandwidth, cell, exact_cost)
        logger.debug("kde: exact sum (%d kernel evaluations)", exact_cost)
        values = _direct_sum(xy, w, kernel, bandwidth, cell, x0=minx, y1=maxy, shape=(rows, cols), window=window)
        return values * _M2_PER_KM2, (minx, miny, maxx, maxy)
    budget = max(_REPAIR_MIN_EVALUATIONS, binned_cost * _REPAIR_SHARE)
    logger.debug("kde: binned estimate on %d x %d sub-cells per cell", sub, sub)
    values = _binned_density(xy, w, kernel, bandwidth, cell, sub, pad, x0=minx, y1=maxy, shape=(rows, cols),
                             budget=budget)
    return values * _M2_PER_KM2, (minx, miny, maxx, maxy)


# -- the error bound of the corrected binned estimate --------------------------------------------------------------
#
# A point p with weight w is shared bilinearly between the four nodes n_i of its sub-cell (step h, fractions
# fx, fy), and its second moments mx = w·fx(1−fx)·h²/2 and my = w·fy(1−fy)·h²/2 are shared the same way. The
# estimate at c is Σ b_i [K(c − n_i) − mx K_xx(c − n_i) − my K_yy(c − n_i)]. Taylor's theorem about c − p: the
# first-order terms cancel, the second-order ones are exactly mx K_xx + my K_yy (mixed terms cancel), so what
# is left is the third-order term f(1−f)(1−2f)h³/6 · K_xxx (≤ 0.0161 h³ |K_xxx|, and the same in y; the mixed
# third-order terms cancel), the fourth-order remainder and the interpolation error of the correction. All of
# these are bounded by maxima of the kernel's derivatives over the square c − n ± h, which holds p and its
# four nodes, so Σ_n binned(n) · E(c − n) bounds the error at c. Where that square straddles the edge of the
# quartic's support (its second derivative jumps there), the bound is the plain one of linear interpolation,
# h²/8 · max(|K_xx| + |K_yy|), for the estimate and again for the correction.

_THIRD_ORDER = 0.0161  # max over f of f(1 − f)|1 − 2f| / 6 = √3 / 108


def _error_bound_at(kernel: str, bandwidth: float, h: float, d: np.ndarray) -> np.ndarray:
    """Bound on the corrected binned estimate's error (per m², unit weight) at node-to-centre distance `d`."""
    lo = np.maximum(d - math.sqrt(2.0) * h, 0.0)
    hi = d + math.sqrt(2.0) * h
    if kernel == "quartic":
        r = bandwidth
        a = 3.0 / (math.pi * r * r)
        third: Any = _THIRD_ORDER * h ** 3 * 24.0 * math.sqrt(2.0) * a * np.minimum(hi, r) / r ** 4
        fourth: Any = 5.0 * a * h ** 4 / r ** 4  # an array in the Gaussian branch
        band = 2.0 * a * h * h / (r * r)
        return np.where(hi < r, third + fourth, np.where(lo < r, band, 0.0))
    sigma = bandwidth
    t = hi / sigma
    kmax = np.exp(-lo * lo / (2.0 * sigma * sigma)) / (2.0 * math.pi * sigma * sigma)
    third = _THIRD_ORDER * h ** 3 * kmax / sigma ** 3 * 2.0 * (t ** 3 + 3.0 * t)
    quad = (t ** 4 + 6.0 * t * t + 3.0, (t ** 3 + 3.0 * t) * t, (t * t + 1.0) ** 2)
    taylor = (2.0 * quad[0] + 8.0 * quad[1] + 6.0 * quad[2]) / 24.0
    fourth = h ** 4 * kmax / sigma ** 4 * (taylor + (quad[0] + quad[2]) / 32.0)
    cut = GAUSS_SUPPORT_SIGMAS * sigma
    jump = math.exp(-GAUSS_SUPPORT_SIGMAS ** 2 / 2.0) / (2.0 * math.pi * sigma * sigma)
    straddle = (lo < cut) & (hi >= cut)
    second = h * h / 4.0 * kmax / sigma ** 2 * 2.0 * (t * t + 1.0)
    return np.where(lo >= cut, 0.0, third + fourth + straddle * (jump + second))


def _uniform_bound(kernel: str, bandwidth: float, h: float) -> float:
    """Relative error bound where the points are spread evenly: the integral of the bound over the plane."""
    reach = _reach(kernel, bandwidth, GAUSS_SUPPORT_SIGMAS) + 2.0 * h
    d = (np.arange(4000) + 0.5) * (reach / 4000)
    return float(np.sum(_error_bound_at(kernel, bandwidth, h, d) * 2.0 * math.pi * d) * (reach / 4000))


def _subcells(kernel: str, bandwidth: float, cell: float) -> int | None:
    """Fewest (odd) sub-cells per cell side whose error bound for evenly spread points is well within the target.

    None when even :data:`_MAX_SUBCELLS` are not enough: then the kernel is summed exactly.
    """
    for sub in range(1, _MAX_SUBCELLS + 1, 2):
        if _uniform_bound(kernel, bandwidth, cell / sub) <= _UNIFORM_SHARE * _TARGET_RELATIVE_ERROR:
            return sub
    return None


# -- the binned FFT estimate ---------------------------------------------------------------------------------------


def _binned_density(xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float, cell: float, sub: int, pad: int,
                    *, x0: float, y1: float, shape: tuple[int, int], budget: float) -> np.ndarray:
    """Corrected binned estimate per m² at the cell centres; cells its error bound cannot vouch for summed exactly."""
    rows, cols = shape
    h = cell / sub
    grids = _linear_binning(xy, w, x0=x0 - pad * h, y1=y1 + pad * h, step=h,
                            shape=(rows * sub + 2 * pad, cols * sub + 2 * pad))
    offsets = np.arange(-pad, pad + 1, dtype=np.float64) * h
    dy, dx = offsets[:, None], offsets[None, :]
    k, kxx, kyy = _kernel_and_second_derivatives(kernel, bandwidth, dx, dy)
    # circular convolution of the binned grid's own size: its wrap-around reaches only the first 2 pad outputs
    fshape = [sp_fft.next_fast_len(n, real=True) for n in grids[0].shape]
    binned = sp_fft.rfft2(grids[0], fshape)
    spectrum = binned * _small_rfft2(k, fshape)
    spectrum -= sp_fft.rfft2(grids[1], fshape) * _small_rfft2(kxx, fshape)
    spectrum -= sp_fft.rfft2(grids[2], fshape) * _small_rfft2(kyy, fshape)
    del grids
    first = 2 * pad + sub // 2
    take = (slice(first, first + rows * sub, sub), slice(first, first + cols * sub, sub))
    dens = sp_fft.irfft2(spectrum, fshape)[take]
    del spectrum
    bound = _bound_grid(binned, fshape, kernel, bandwidth, h, pad, take)
    # FFT round-off: relative to the largest value, far below the bound's own scale
    bound = np.abs(bound) + 1e-12 * float(np.abs(dens).max(initial=0.0))
    dens = _repair(dens, bound, xy, w, kernel, bandwidth, cell, x0=x0, y1=y1, budget=budget)
    return np.ascontiguousarray(np.maximum(dens, 0.0), dtype=np.float64)


def _small_rfft2(kernel_grid: np.ndarray, fshape: list[int]) -> np.ndarray:
    """``rfft2(kernel_grid, fshape)`` for a grid much smaller than `fshape`: its rows first, then the columns."""
    return sp_fft.fft(sp_fft.rfft(kernel_grid, n=fshape[1], axis=1), n=fshape[0], axis=0)


def _bound_grid(spectrum: np.ndarray, fshape: list[int], kernel: str, bandwidth: float, h: float, pad: int,
                take: tuple[slice, slice]) -> np.ndarray:
    """The error bound at the cell centres: the binned weights (their spectrum) convolved with the bound."""
    offsets = np.arange(-pad, pad + 1, dtype=np.float64) * h
    bound_kernel = _error_bound_at(kernel, bandwidth, h, np.sqrt(offsets[:, None] ** 2 + offsets[None, :] ** 2))
    return sp_fft.irfft2(spectrum * _small_rfft2(bound_kernel, fshape), fshape)[take]


def _repair(dens: np.ndarray, bound: np.ndarray, xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float,
            cell: float, *, x0: float, y1: float, budget: float) -> np.ndarray:
    """Sum the kernel exactly at the cells where the bound does not keep the estimate within the target.

    The most doubtful cells first, up to `budget` kernel evaluations; a warning names the cells left over.
    """
    floor = _PEAK_SHARE * float(np.max(dens - bound, initial=0.0))
    doubtful = (dens + bound >= floor) & (bound > _TARGET_RELATIVE_ERROR * _SAFETY * (dens - bound))
    if not doubtful.any():
        return dens
    rr, cc = np.nonzero(doubtful)
    ratio = bound[rr, cc] / np.maximum(dens[rr, cc] - bound[rr, cc], 1e-300)
    order = np.argsort(-ratio, kind="stable")
    rr, cc, ratio = rr[order], cc[order], ratio[order]
    cells = _CellWindows(xy, kernel, bandwidth, cell, x0=x0, y1=y1, shape=dens.shape)
    cost = np.cumsum(cells.window_sums(cells.counts(), rr, cc))
    fixed = int(np.searchsorted(cost, budget, side="right"))
    out = dens.copy()
    if fixed:
        out[rr[:fixed], cc[:fixed]] = cells.exact_sums(xy, w, rr[:fixed], cc[:fixed])
    logger.debug("kde: %d of %d cells summed exactly where the binning error bound exceeds %.1f %%",
                 fixed, dens.size, 100 * _TARGET_RELATIVE_ERROR)
    if fixed < len(rr):
        logger.warning(
            "kde: the error bound cannot vouch for %.1f %% at %d of %d cells above %d %% of the peak (bound up to"
            " %.2f %%; the error itself is usually far smaller); summing them exactly would take %d more kernel"
            " evaluations, so they keep the binned estimate. A smaller cell_m tightens the bound.",
            100 * _TARGET_RELATIVE_ERROR, len(rr) - fixed, dens.size, round(100 * _PEAK_SHARE),
            100 * float(ratio[fixed]), int(cost[-1] - (cost[fixed - 1] if fixed else 0)))
    return out


class _CellWindows:
    """Each point's cell on the raster widened by the kernel's reach (`k` cells each side), row-major keys."""

    def __init__(self, xy: np.ndarray, kernel: str, bandwidth: float, cell: float, *, x0: float, y1: float,
                 shape: tuple[int, int]) -> None:
        rows, cols = shape
        self.k = int(math.ceil(_reach(kernel, bandwidth, GAUSS_SUPPORT_SIGMAS) / cell)) + 1
        self.shape = (rows + 2 * self.k, cols + 2 * self.k)
        self.kernel, self.bandwidth, self.cell, self.x0, self.y1 = kernel, bandwidth, cell, x0, y1
        col = np.floor((xy[:, 0] - x0) / cell) + self.k
        row = np.floor((y1 - xy[:, 1]) / cell) + self.k
        near = (col >= 0) & (col < self.shape[1]) & (row >= 0) & (row < self.shape[0])
        self.keys = np.where(near, row * self.shape[1] + col, -1).astype(np.int64)

    def counts(self) -> np.ndarray:
        """Points per widened cell."""
        keys = self.keys[self.keys >= 0]
        return np.bincount(keys, minlength=self.shape[0] * self.shape[1]).reshape(self.shape)

    def window_sums(self, grid: np.ndarray, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        """Sum of `grid` (widened) over the window of each raster cell ``(rr, cc)``."""
        total = np.zeros((grid.shape[0] + 1, grid.shape[1] + 1))
        total[1:, 1:] = grid.cumsum(axis=0).cumsum(axis=1)
        span = 2 * self.k + 1
        return total[rr + span, cc + span] - total[rr, cc + span] - total[rr + span, cc] + total[rr, cc]

    def exact_sums(self, xy: np.ndarray, w: np.ndarray, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        """The kernel summed over every point within reach of each raster cell ``(rr, cc)``, per m²."""
        span = 2 * self.k + 1
        chosen = np.zeros(self.shape)
        chosen[rr + self.k, cc + self.k] = 1.0
        # a widened cell matters when a chosen cell lies within k cells of it: a box sum about each widened cell
        needed = np.zeros((self.shape[0] + 2 * span, self.shape[1] + 2 * span))
        needed[span:-span, span:-span] = chosen
        total = np.zeros((needed.shape[0] + 1, needed.shape[1] + 1))
        total[1:, 1:] = needed.cumsum(axis=0).cumsum(axis=1)
        r0 = np.arange(self.shape[0])[:, None] + span - self.k
        c0 = np.arange(self.shape[1])[None, :] + span - self.k
        near_chosen = (total[r0 + span, c0 + span] - total[r0, c0 + span] - total[r0 + span, c0]
                       + total[r0, c0]) > 0.5
        keep = np.flatnonzero((self.keys >= 0) & near_chosen.ravel()[np.maximum(self.keys, 0)])
        order = keep[np.argsort(self.keys[keep])]
        keys, pts, wts = self.keys[order], xy[order], w[order]
        out = np.empty(len(rr))
        step = max(1, 4096 // span)
        offsets = np.arange(span)
        for start in range(0, len(rr), step):
            r_part, c_part = rr[start:start + step], cc[start:start + step]
            # one run of sorted points per (cell, window row): a window row's columns are contiguous keys
            first = ((r_part[:, None] + offsets[None, :]) * self.shape[1] + c_part[:, None]).ravel()
            lo = np.searchsorted(keys, first, side="left")
            counts = np.searchsorted(keys, first + span - 1, side="right") - lo
            owner = np.repeat(np.repeat(np.arange(len(r_part)), span), counts)
            index = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
            dx = self.x0 + (c_part[owner] + 0.5) * self.cell - pts[index, 0]
            dy = self.y1 - (r_part[owner] + 0.5) * self.cell - pts[index, 1]
            values = wts[index] * _kernel_at(self.kernel, self.bandwidth, dx * dx + dy * dy)
            out[start:start + step] = np.bincount(owner, weights=values, minlength=len(r_part))
        return out


def _kernel_and_second_derivatives(kernel: str, bandwidth: float, dx: np.ndarray,
                                   dy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K, ∂²K/∂x² and ∂²K/∂y² per m² at the offsets (dx, dy) (broadcast)."""
    d2 = dx * dx + dy * dy
    k = _kernel_at(kernel, bandwidth, d2)
    b2 = bandwidth * bandwidth
    if kernel == "quartic":
        a = 3.0 / (math.pi * b2)
        inside = d2 < b2
        kxx = np.where(inside, -4.0 * a / b2 * (1.0 - (3.0 * dx * dx + dy * dy) / b2), 0.0)
        kyy = np.where(inside, -4.0 * a / b2 * (1.0 - (dx * dx + 3.0 * dy * dy) / b2), 0.0)
        return k, kxx, kyy
    return k, k * (dx * dx - b2) / (b2 * b2), k * (dy * dy - b2) / (b2 * b2)


def _direct_sum(xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float, cell: float, *, x0: float,
                y1: float, shape: tuple[int, int], window: int) -> np.ndarray:
    """The exact sum of every point's kernel at the cell centres of its window, per m²."""
    rows, cols = shape
    out = np.zeros(rows * cols)
    steps = np.arange(window) - window // 2
    chunk = max(1, _EXACT_CHUNK // (window * window))
    for start in range(0, len(xy), chunk):
        part, wp = xy[start:start + chunk], w[start:start + chunk]
        col = np.floor((part[:, 0] - x0) / cell).astype(np.int64)[:, None, None] + steps[None, None, :]
        row = np.floor((y1 - part[:, 1]) / cell).astype(np.int64)[:, None, None] + steps[None, :, None]
        dx = x0 + (col + 0.5) * cell - part[:, 0, None, None]
        dy = y1 - (row + 0.5) * cell - part[:, 1, None, None]
        k = wp[:, None, None] * _kernel_at(kernel, bandwidth, dx * dx + dy * dy)
        keep = (col >= 0) & (col < cols) & (row >= 0) & (row < rows) & (k > 0)
        flat = np.broadcast_to(row * cols, keep.shape)[keep] + np.broadcast_to(col, keep.shape)[keep]
        out += np.bincount(flat, weights=k[keep], minlength=rows * cols)
    return out.reshape(rows, cols)


def _linear_binning(xy: np.ndarray, w: np.ndarray, *, x0: float, y1: float, step: float,
                    shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights and their second moments shared bilinearly between the four nearest cell centres (rows north first).

    Returns the binned weights and the binned ``w · fx(1 − fx) · step² / 2`` and ``w · fy(1 − fy) · step² / 2``,
    with ``fx``, ``fy`` each point's fractional position between its nodes.
    """
    rows, cols = shape
    inv = 1.0 / step
    # fractional cell-centre index, shifted by one: an extra row and column on each side catch the
    # neighbours of edge points and are cut off at the end
    fx = xy[:, 0] * inv
    fx -= x0 * inv - 0.5
    fy = xy[:, 1] * -inv
    fy += y1 * inv + 0.5
    if fx.size and (min(fx.min(), fy.min()) < 0 or fx.max() >= cols + 1 or fy.max() >= rows + 1):
        inside = (fx >= 0) & (fx < cols + 1) & (fy >= 0) & (fy < rows + 1)
        fx, fy, w = fx[inside], fy[inside], w[inside]
    ix = fx.astype(np.int64)  # floor, as fx >= 0
    iy = fy.astype(np.int64)
    fx -= ix
    fy -= iy
    width = cols + 2
    size = (rows + 2) * width
    base = iy * width
    base += ix
    half_h2 = step * step / 2.0
    out = []
    for weight in (w, w * fx * (1.0 - fx) * half_h2, w * fy * (1.0 - fy) * half_h2):
        east = weight * fx
        west = weight - east
        south = west * fy
        grid = np.bincount(base, weights=west - south, minlength=size)
        grid += np.bincount(base + width, weights=south, minlength=size)
        np.multiply(east, fy, out=south)
        grid += np.bincount(base + width + 1, weights=south, minlength=size)
        east -= south
        grid += np.bincount(base + 1, weights=east, minlength=size)
        out.append(grid.reshape(rows + 2, width)[1:-1, 1:-1])
    return out[0], out[1], out[2]


def _kernel_at(kernel: str, bandwidth: float, d2: np.ndarray) -> np.ndarray:
    """The kernel per m² at squared distances `d2` (m²); the Gaussian cut beyond 5σ."""
    if kernel == "quartic":
        u = 1.0 - d2 / (bandwidth * bandwidth)
        return np.where(u > 0, 3.0 / (math.pi * bandwidth * bandwidth) * u * u, 0.0)
    sigma2 = bandwidth * bandwidth
    inside = d2 <= (GAUSS_SUPPORT_SIGMAS * GAUSS_SUPPORT_SIGMAS) * sigma2
    return np.where(inside, np.exp(-d2 / (2.0 * sigma2)) / (2.0 * math.pi * sigma2), 0.0)
