"""The options and inputs of :func:`gridmap.analysis.density.kde`: numbers, points, weights and bounds.

Every check raises :class:`~gridmap.errors.SchemaError` with a message naming the fix.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridmap.analysis._density_kernels import KERNELS
from gridmap.crs import metric_crs, require_crs, transformer
from gridmap.errors import SchemaError

logger = logging.getLogger("gridmap.analysis.density")  # the public module's logger: one name to configure

Bounds = tuple[float, float, float, float]


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


_WGS84 = pyproj.CRS.from_epsg(4326)


def _is_metric(crs: pyproj.CRS) -> bool:
    return bool(crs.is_projected and crs.axis_info and crs.axis_info[0].unit_name in ("metre", "meter"))


def _metric_points(frame: gpd.GeoDataFrame | gpd.GeoSeries,
                   weights: Any) -> tuple[pyproj.CRS, np.ndarray, np.ndarray, int]:
    """The CRS to work in and the points' coordinates in it, weights and rows skipped.

    The CRS is the points' own when projected in metres, else :func:`gridmap.crs.metric_crs`'s.

    The geometries' coordinates are read once: for points in WGS84 their extent is the one
    :func:`gridmap.crs.metric_crs` takes (the extent of the frame's points in WGS84).
    """
    source = pyproj.CRS.from_user_input(frame.crs)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    coords, rows = _coordinates(geoms)
    if _is_metric(source):
        crs = source
    elif source == _WGS84 and len(coords) and np.isfinite(coords).all():
        crs = metric_crs(_extent(coords))
    else:
        crs = metric_crs(frame)
    return (crs, *_xy_weights(frame, weights, crs, read=(geoms, coords, rows)))


def _xy_weights(frame: gpd.GeoDataFrame | gpd.GeoSeries, weights: Any, crs: pyproj.CRS,
                read: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Metric coordinates and weights of the usable points, and the number of rows skipped.

    `read`: the geometries, their coordinates and rows (:func:`_coordinates`) when already read.
    """
    w = _weights(frame, weights)
    if read is None:
        geoms = np.asarray(frame.geometry.values, dtype=object)
        coords, rows = _coordinates(geoms)
    else:
        geoms, coords, rows = read
    if len(coords) != len(geoms) or not np.array_equal(rows, np.arange(len(geoms))):
        _refuse_non_points(geoms)
        w = w[rows]  # missing and empty geometries have no coordinate
    source = pyproj.CRS.from_user_input(frame.crs)
    if source == crs and len(coords) == len(geoms):
        return coords, w, 0  # the common case, without copies
    x, y = coords[:, 0], coords[:, 1]
    unusable = np.zeros(len(x), dtype=bool)
    if source != crs:
        x, y = transformer(source, crs).transform(x, y)
        unusable |= ~(np.isfinite(x) & np.isfinite(y))
    skipped = len(geoms) - len(x) + int(unusable.sum())
    if skipped:
        logger.info("kde: skipped %d of %d rows without a usable point", skipped, len(frame))
        keep = ~unusable
        x, y, w = x[keep], y[keep], w[keep]
    if len(x) == 0:
        raise SchemaError("kde got no points with a geometry; check the input (all geometries are missing or empty)")
    return np.column_stack([x, y]), w, skipped


def _extent(xy: np.ndarray) -> Bounds:
    """``(minx, miny, maxx, maxy)`` of ``(n, 2)`` coordinates, column by column (``min(axis=0)`` on ``(n, 2)``
    is a hundred times slower)."""
    x, y = xy[:, 0], xy[:, 1]
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())


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


def _grid_bounds(bounds: Any, frame: gpd.GeoDataFrame, crs: pyproj.CRS, xy: np.ndarray, reach: float) -> Bounds:
    if bounds is None:
        minx, miny, maxx, maxy = _extent(xy)
        return minx - reach, miny - reach, maxx + reach, maxy + reach
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
