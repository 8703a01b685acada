"""Kernel density of problem reports in true units: reports per km².

Unlike a web heat layer (Leaflet.heat draws in screen pixels and changes with
the zoom), :func:`kde` estimates a density on the ground: a raster in a metric
CRS whose values are points (or weights) per square kilometre, so that the
raster integrates to the number of reports (the sum of the weights).

Kernels
-------
``"quartic"``
    As ArcGIS Pro ("How Kernel Density works") and QGIS (Heatmap / Kernel
    density estimation, "quartic (biweight)") define it, after Silverman
    (1986, eq. 4.5): ``K(d) = 3 / (π r²) · (1 − (d/r)²)²`` for ``d < r``, 0
    beyond, with ``r = bandwidth_m``. It integrates to 1 over the plane.
``"gaussian"``
    ``K(d) = 1 / (2π σ²) · exp(−d² / (2σ²))`` with ``σ = bandwidth_m``,
    evaluated out to 5σ (it is never cut before that; beyond 5σ the kernel
    holds less than 4e-6 of its mass).

Method
------
The points are projected to a metric CRS (their own when it is projected in
metres, else :func:`gridmap.crs.metric_crs`), spread onto the cell grid by
*linear binning* (each point's weight shared between the four nearest cell
centres, bilinearly; Wand & Jones 1995, *Kernel Smoothing*, appendix D), and the
binned grid is convolved with the kernel sampled exactly at the offsets between
cell centres (:func:`scipy.signal.fftconvolve`). The binned grid is padded by the
kernel's reach, so points outside `bounds` still add their share inside it.
Linear binning is exact for a point on a cell centre; elsewhere its error is
of order ``cell² · |∇²K| / 8``, so when the bandwidth spans few cells the
computation runs on a finer grid (an odd number of sub-cells per cell, up to 7)
and keeps the values at the cell centres. Where the density exceeds 1 % of its
peak the result is then within 0.5 % of the exact sum over all points.

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
from scipy import signal

from gridmap._errors import SchemaError
from gridmap.crs import metric_crs, require_crs

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.workspace import Workspace

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
#: Bandwidth (quartic r, Gaussian σ × 3) spanned by at least this many computing cells (0.5 % target).
_MIN_CELLS_PER_BANDWIDTH = 30.0
#: Most sub-cells per cell side (odd) when the bandwidth spans few cells.
_MAX_SUBCELLS = 7
#: Most cells of the computing grid (memory stays below about 1 GB).
_MAX_CELLS = 40_000_000
#: Below this many kernel evaluations (points × cells in a kernel's window) the sum is exact.
_MAX_EXACT_EVALUATIONS = 10_000_000
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
    points: gpd.GeoDataFrame | gpd.GeoSeries | Workspace,
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
    points : geopandas.GeoDataFrame, geopandas.GeoSeries or gridmap.workspace.Workspace
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
            box = pyproj.Transformer.from_crs(source, crs, always_xy=True).transform_bounds(*box, densify_pts=21)
    if not (all(math.isfinite(v) for v in box) and box[2] > box[0] and box[3] > box[1]):
        raise SchemaError(f"bounds must have minx < maxx and miny < maxy, got {bounds!r}")
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


# ---------------------------------------------------------------------------------------------------------------
# the computation
# ---------------------------------------------------------------------------------------------------------------


def _subcells(kernel: str, bandwidth: float, cell: float) -> int:
    """Odd number of computing sub-cells per cell side so that the bandwidth spans enough of them."""
    span = bandwidth if kernel == "quartic" else 3.0 * bandwidth
    need = int(math.ceil(_MIN_CELLS_PER_BANDWIDTH * cell / span))
    if need <= 1:
        return 1
    return min(need + 1 - need % 2, _MAX_SUBCELLS)


def _density(xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float, cell: float,
             bounds: Bounds) -> tuple[np.ndarray, Bounds]:
    """Density per km² at the cell centres and the raster's bounds."""
    cols = max(1, int(math.ceil((bounds[2] - bounds[0]) / cell - 1e-9)))
    rows = max(1, int(math.ceil((bounds[3] - bounds[1]) / cell - 1e-9)))
    minx, miny = bounds[0], bounds[1]
    maxx, maxy = minx + cols * cell, miny + rows * cell
    if rows * cols > _MAX_CELLS:
        raise SchemaError(
            f"the density raster would have {rows * cols:,} cells (cell {cell:.2f} m over {maxx - minx:.0f} x"
            f" {maxy - miny:.0f} m); give a larger cell_m or smaller bounds")
    window = 2 * int(math.ceil(_reach(kernel, bandwidth, GAUSS_SUPPORT_SIGMAS) / cell)) + 3
    if len(xy) * window * window <= _MAX_EXACT_EVALUATIONS:
        values = _direct_sum(xy, w, kernel, bandwidth, cell, x0=minx, y1=maxy, shape=(rows, cols), window=window)
        return values * _M2_PER_KM2, (minx, miny, maxx, maxy)
    sub = _subcells(kernel, bandwidth, cell)
    fine = cell / sub
    support = _reach(kernel, bandwidth, GAUSS_SUPPORT_SIGMAS)
    pad = int(math.ceil(support / fine))
    total_cells = (rows * sub + 2 * pad) * (cols * sub + 2 * pad)
    if total_cells > _MAX_CELLS:
        raise SchemaError(
            f"the density raster would need {total_cells:,} computing cells (bandwidth {bandwidth:.1f} m, cell"
            f" {cell:.2f} m over {maxx - minx:.0f} x {maxy - miny:.0f} m); give a larger cell_m or smaller bounds")
    binned = _linear_binning(xy, w, x0=minx - pad * fine, y1=maxy + pad * fine, step=fine,
                             shape=(rows * sub + 2 * pad, cols * sub + 2 * pad))
    kernel_grid = _kernel_samples(kernel, bandwidth, fine, pad)
    dens = signal.fftconvolve(binned, kernel_grid, mode="valid")
    if sub > 1:
        dens = dens[sub // 2::sub, sub // 2::sub]
    values = np.maximum(dens, 0.0) * _M2_PER_KM2  # FFT round-off can give -1e-20 where the density is zero
    return np.ascontiguousarray(values, dtype=np.float64), (minx, miny, maxx, maxy)


def _direct_sum(xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float, cell: float, *, x0: float,
                y1: float, shape: tuple[int, int], window: int) -> np.ndarray:
    """The exact sum of every point's kernel at the cell centres of its window (few points), per m²."""
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
                    shape: tuple[int, int]) -> np.ndarray:
    """Share each weight bilinearly between the four nearest cell centres (rows north first)."""
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
    east = w * fx
    west = w - east
    south = west * fy
    out = np.bincount(base, weights=west - south, minlength=size)
    out += np.bincount(base + width, weights=south, minlength=size)
    np.multiply(east, fy, out=south)
    out += np.bincount(base + width + 1, weights=south, minlength=size)
    east -= south
    out += np.bincount(base + 1, weights=east, minlength=size)
    return out.reshape(rows + 2, width)[1:-1, 1:-1]


def _kernel_samples(kernel: str, bandwidth: float, step: float, pad: int) -> np.ndarray:
    """The kernel per m² at the offsets between cell centres, ``(2 pad + 1)²``."""
    offsets = np.arange(-pad, pad + 1, dtype=np.float64) * step
    return _kernel_at(kernel, bandwidth, offsets[:, None] ** 2 + offsets[None, :] ** 2)


def _kernel_at(kernel: str, bandwidth: float, d2: np.ndarray) -> np.ndarray:
    """The kernel per m² at squared distances `d2` (m²); the Gaussian cut beyond 5σ."""
    if kernel == "quartic":
        u = 1.0 - d2 / (bandwidth * bandwidth)
        return np.where(u > 0, 3.0 / (math.pi * bandwidth * bandwidth) * u * u, 0.0)
    sigma2 = bandwidth * bandwidth
    inside = d2 <= (GAUSS_SUPPORT_SIGMAS * GAUSS_SUPPORT_SIGMAS) * sigma2
    return np.where(inside, np.exp(-d2 / (2.0 * sigma2)) / (2.0 * math.pi * sigma2), 0.0)
