"""Kernel density of points on Dask: :func:`gridmap.analysis.density.kde` partition by partition.

Points come as a dask-geopandas GeoDataFrame or an archive directory (its ``reports`` layer). Nothing
collects the points in one place; every step is a pass over the partitions whose small results are added
up in a tree (:func:`gridmap.analysis._hotspot_dask.tree_sum`) with the active Dask scheduler:

1. the metric CRS (for points in degrees: from the extent in WGS84, as :func:`gridmap.crs.metric_crs`);
2. the number of points, the skipped rows, the sums of the weights and of the weighted coordinates (the mean
   centre) and the extent (the default bounds);
3. without `bandwidth_m`, the default bandwidth (ArcGIS's spatial Silverman rule, see
   :func:`~gridmap.analysis.density.default_bandwidth`) needs the standard distance (one sum) and the exact
   weighted median of the distances from the mean centre. The median is pinned down without collecting the
   distances: a distance is a non-negative float, whose bits read as an integer keep its order, so each pass
   counts the partitions' distances (and weights) in 4,096 buckets of bit patterns, keeps the bucket where
   the cumulative weight reaches half, and splits it again; once a bucket holds at most
   :data:`COLLECT_MAX` points (or one bit pattern) those few values are gathered and the median read off
   exactly as in memory (the smallest distance whose cumulative weight reaches half the total);
4. the raster: the exact sum of every point's kernel, or the linearly binned grids (and the points per cell
   of the repair's cost), each a sum over the points; the FFT and the error bound then run once on the
   summed grids, and the cells the bound cannot vouch for are summed exactly in one more pass.

Sums of floating-point numbers taken in another order differ in their last bits, so the raster equals the
in-memory one within about 1e-12 of its peak (counts, the median and the choice of method are exact for
unit weights).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pyproj
import shapely
from affine import Affine

from gridmap.analysis._density_binned import (
    _bin_points,
    _binned_estimate,
    _CellWindows,
    _doubtful,
    _log_repair,
    _repair_budget,
)
from gridmap.analysis._density_inputs import _check_kernel, _grid_bounds, _positive, _xy_weights
from gridmap.analysis._density_kernels import _direct_sum, _reach
from gridmap.analysis._hotspot_dask import compute, partitioned_frame, partitions, tree_sum
from gridmap.analysis._density_plan import (
    _CELLS_ON_SHORT_SIDE,
    _M2_PER_KM2,
    GAUSS_BOUNDS_SIGMAS,
    UNITS,
    _Plan,
    _plan,
    _silverman,
)
from gridmap.crs import metric_crs
from gridmap.errors import CRSError, SchemaError

logger = logging.getLogger("gridmap.analysis.density")  # the public module's logger: one name to configure

#: A bucket of at most this many distances is gathered to read the median off exactly.
COLLECT_MAX = 200_000
#: Buckets of bit patterns per pass of the median (2**12).
_BUCKET_BITS = 12
_ALL_BITS = 63


# ----------------------------------------------------------------------------------------------- passes


def _delayed(func: Any, frame: Any, *args: Any) -> list[Any]:
    """`func(partition, *args)` for every partition of `frame`, as delayed values."""
    import dask  # deferred: Dask is an optional extra

    return [dask.delayed(func, pure=True)(part, *args) for part in partitions(frame)]


def _pass(func: Any, frame: Any, *args: Any, combine: Any = None) -> Any:
    """One pass over the partitions: `func` on each, the results added up (or combined) in a tree."""
    kwargs = {} if combine is None else {"combine": combine}
    (out,) = compute(tree_sum(_delayed(func, frame, *args), **kwargs))
    return out


def partition_xy(part: Any, column: str | None, crs_wkt: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Metric coordinates and weights of a partition's usable points, and its rows skipped (as in memory)."""
    if len(part) == 0:
        return np.empty((0, 2)), np.empty(0), 0
    geoms = np.asarray(part.geometry.values)
    if (shapely.is_missing(geoms) | shapely.is_empty(geoms)).all():
        return np.empty((0, 2)), np.empty(0), len(part)
    return _xy_weights(part, column, pyproj.CRS.from_user_input(crs_wkt))


def _wgs84_bounds(part: Any) -> np.ndarray:
    if len(part) == 0:
        return np.array([np.inf, np.inf, -np.inf, -np.inf])
    box = np.asarray(part.to_crs(4326).total_bounds, dtype=np.float64)
    return np.where(np.isnan(box), [np.inf, np.inf, -np.inf, -np.inf], box)


def _bounds_combine(*parts: np.ndarray) -> np.ndarray:
    stack = np.stack(parts)
    return np.concatenate([stack[:, :2].min(axis=0), stack[:, 2:].max(axis=0)])


def _work_crs(frame: Any) -> pyproj.CRS:
    """The points' CRS when projected in metres, else the metric CRS of their WGS84 extent (as in memory)."""
    crs = pyproj.CRS.from_user_input(frame.crs)
    if crs.is_projected and crs.axis_info and crs.axis_info[0].unit_name in ("metre", "meter"):
        return crs
    box = _pass(_wgs84_bounds, frame, combine=_bounds_combine)
    return metric_crs(tuple(float(v) for v in np.where(np.isfinite(box), box, np.nan)))


def _stats(part: Any, column: str | None, crs_wkt: str) -> tuple[np.ndarray, np.ndarray]:
    """[points, skipped, Σw, Σwx, Σwy] and [minx, miny, -maxx, -maxy] of a partition."""
    xy, w, skipped = partition_xy(part, column, crs_wkt)
    sums = np.array([len(xy), skipped, w.sum(), (xy[:, 0] * w).sum(), (xy[:, 1] * w).sum()])
    if len(xy) == 0:
        return sums, np.full(4, np.inf)
    return sums, np.concatenate([xy.min(axis=0), -xy.max(axis=0)])


def _stats_combine(*parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return sum((p[0] for p in parts[1:]), parts[0][0].copy()), np.min(np.stack([p[1] for p in parts]), axis=0)


# ----------------------------------------------------------------------------------------------- the median


def _distance_bits(part: Any, column: str | None, crs_wkt: str,
                   centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Squared distances, distances as int64 bit patterns and weights of a partition's points."""
    xy, w, _ = partition_xy(part, column, crs_wkt)
    d2 = ((xy - centre) ** 2).sum(axis=1)
    return d2, np.sqrt(d2).view(np.int64), w


def _histogram(part: Any, column: str | None, crs_wkt: str, centre: np.ndarray, lo: int, shift: int,
               buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Σw·d², and per bucket ``[lo + b·2**shift, lo + (b+1)·2**shift)`` of bit patterns the weights and counts.

    The first slot of the weights holds the weight below `lo`.
    """
    d2, bits, w = _distance_bits(part, column, crs_wkt, centre)
    hi = min(lo + (buckets << shift), 2 ** 63 - 1)
    inside = (bits >= lo) & (bits < hi)
    which = (bits[inside] - lo) >> shift
    weights = np.concatenate([[w[bits < lo].sum()], np.bincount(which, weights=w[inside], minlength=buckets)])
    return np.array([(w * d2).sum()]), weights, np.bincount(which, minlength=buckets)


def _gather(part: Any, column: str | None, crs_wkt: str, centre: np.ndarray, lo: int,
            hi: int) -> tuple[float, np.ndarray, np.ndarray]:
    """The weight below bit pattern `lo`, and the distances and weights with bit patterns in ``[lo, hi)``."""
    _, bits, w = _distance_bits(part, column, crs_wkt, centre)
    inside = (bits >= lo) & (bits < hi)
    return float(w[bits < lo].sum()), bits[inside].view(np.float64), w[inside]


def _gather_combine(*parts: tuple[float, np.ndarray, np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
    return (sum(p[0] for p in parts), np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))


def _median_and_sd(frame: Any, column: str | None, crs_wkt: str, centre: np.ndarray,
                   total: float) -> tuple[float, float]:
    """The exact weighted median distance from `centre` and the standard distance, in passes over the frame."""
    half = total / 2.0
    lo, shift, buckets, sd = 0, _ALL_BITS - _BUCKET_BITS, 1 << _BUCKET_BITS, float("nan")
    while True:
        wd2, weights, counts = _pass(_histogram, frame, column, crs_wkt, centre, lo, shift, buckets)
        if math.isnan(sd):
            sd = math.sqrt(float(wd2[0]) / total)
        reached = weights[0] + np.cumsum(weights[1:])
        b = min(int(np.searchsorted(reached, half)), buckets - 1)
        lo += b << shift
        if counts[b] <= COLLECT_MAX or shift == 0:
            break
        new_shift = max(shift - _BUCKET_BITS, 0)
        buckets, shift = 1 << (shift - new_shift), new_shift
    below, values, w = _pass(_gather, frame, column, crs_wkt, centre, lo, min(lo + (1 << shift), 2 ** 63 - 1),
                             combine=_gather_combine)
    order = np.argsort(values, kind="stable")
    cum = below + np.cumsum(w[order])
    logger.debug("kde: median distance pinned down among %d distances", len(values))
    return float(values[order][min(int(np.searchsorted(cum, half)), len(values) - 1)]), sd


# ----------------------------------------------------------------------------------------------- the raster


def _direct_part(part: Any, column: str | None, crs_wkt: str, kernel: str, bandwidth: float, cell: float,
                 plan: _Plan) -> np.ndarray:
    xy, w, _ = partition_xy(part, column, crs_wkt)
    return _direct_sum(xy, w, kernel, bandwidth, cell, x0=plan.bounds[0], y1=plan.bounds[3],
                       shape=(plan.rows, plan.cols), window=plan.window)


def _binned_part(part: Any, column: str | None, crs_wkt: str, kernel: str, bandwidth: float, cell: float,
                 plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """A partition's binned grids and its points per widened cell (the repair's cost)."""
    xy, w, _ = partition_xy(part, column, crs_wkt)
    assert plan.sub is not None
    x0, y1, shape = plan.bounds[0], plan.bounds[3], (plan.rows, plan.cols)
    grids = _bin_points(xy, w, cell, plan.sub, plan.pad, x0=x0, y1=y1, shape=shape)
    counts = _CellWindows(xy, kernel, bandwidth, cell, x0=x0, y1=y1, shape=shape).counts()
    return grids, counts


def _exact_part(part: Any, column: str | None, crs_wkt: str, kernel: str, bandwidth: float, cell: float,
                plan: _Plan, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
    xy, w, _ = partition_xy(part, column, crs_wkt)
    windows = _CellWindows(xy, kernel, bandwidth, cell, x0=plan.bounds[0], y1=plan.bounds[3],
                           shape=(plan.rows, plan.cols))
    return windows.exact_sums(xy, w, rr, cc)


def _raster(frame: Any, column: str | None, crs_wkt: str, kernel: str, bandwidth: float, cell: float,
            plan: _Plan) -> np.ndarray:
    """Density per m² at the cell centres, as :func:`~gridmap.analysis.density.kde` computes it, part by part."""
    args = (column, crs_wkt, kernel, bandwidth, cell, plan)
    if plan.sub is None:
        return np.asarray(_pass(_direct_part, frame, *args))
    grids, counts = _pass(_binned_part, frame, *args)
    shape = (plan.rows, plan.cols)
    dens, bound = _binned_estimate(grids, kernel, bandwidth, cell, plan.sub, plan.pad, shape=shape)
    del grids
    rr, cc, ratio = _doubtful(dens, bound)
    if len(rr):
        empty = _CellWindows(np.empty((0, 2)), kernel, bandwidth, cell, x0=plan.bounds[0], y1=plan.bounds[3],
                             shape=shape)
        fixed, cost = _repair_budget(empty, counts, rr, cc, plan.budget)
        if fixed:
            dens = dens.copy()
            dens[rr[:fixed], cc[:fixed]] = _pass(_exact_part, frame, *args, rr[:fixed], cc[:fixed])
        _log_repair(dens.size, ratio, cost, fixed)
    return np.ascontiguousarray(np.maximum(dens, 0.0), dtype=np.float64)


# ----------------------------------------------------------------------------------------------- kde


def _weights_column(weights: Any, frame: Any) -> str | None:
    if weights is None:
        return None
    if not isinstance(weights, str):
        raise SchemaError("with points on Dask (a dask-geopandas frame or an archive) give weights as a column"
                          " name, e.g. weights='tonnes'")
    columns = list(frame.columns) if getattr(frame, "ndim", 2) == 2 else []
    if weights not in columns:
        raise SchemaError(f"weights column {weights!r} not found; columns are {', '.join(map(str, columns))}")
    return weights


def partitioned_kde(points: Any, *, bandwidth_m: float | None, cell_m: float | None, kernel: str, weights: Any,
                    bounds: Any) -> dict[str, Any]:
    """:func:`~gridmap.analysis.density.kde` of a dask-geopandas frame or an archive directory, part by part: the
    fields of its :class:`~gridmap.analysis.density.DensityGrid`."""
    kernel_name = _check_kernel(kernel)
    bandwidth = None if bandwidth_m is None else _positive(bandwidth_m, "bandwidth_m", "metres, e.g. bandwidth_m=150")
    cell_opt = None if cell_m is None else _positive(cell_m, "cell_m", "metres, e.g. cell_m=10")
    frame = partitioned_frame(points)
    if getattr(frame, "crs", None) is None:
        raise CRSError("the points have no CRS: set it on the Dask frame (frame.set_crs('EPSG:4326'))")
    column = _weights_column(weights, frame)
    if getattr(frame, "ndim", 2) == 2:  # a frame, not a dask-geopandas GeoSeries: only the columns used
        frame = frame[[c for c in frame.columns if c == column or c == frame.geometry.name]]
    crs = _work_crs(frame)
    crs_wkt = crs.to_wkt()
    sums, lows = _pass(_stats, frame, column, crs_wkt, combine=_stats_combine)
    n_points, skipped, total = int(sums[0]), int(sums[1]), float(sums[2])
    if n_points == 0:
        raise SchemaError("kde got no points with a geometry; check the input (all geometries are missing or empty)")
    if bandwidth is None:
        bandwidth = _bandwidth(frame, column, crs_wkt, sums)
    corners = np.array([[lows[0], lows[1]], [-lows[2], -lows[3]]])
    grid_bounds = _grid_bounds(bounds, frame, crs, corners, _reach(kernel_name, bandwidth, GAUSS_BOUNDS_SIGMAS))
    cell = cell_opt if cell_opt is not None else min(grid_bounds[2] - grid_bounds[0],
                                                     grid_bounds[3] - grid_bounds[1]) / _CELLS_ON_SHORT_SIDE
    cell = _positive(cell, "cell_m", "metres (the bounds have no extent: give cell_m or bounds)")
    plan = _plan(n_points, kernel_name, bandwidth, cell, grid_bounds)
    values = _raster(frame, column, crs_wkt, kernel_name, bandwidth, cell, plan) * _M2_PER_KM2
    logger.info("kde: %d points (%d skipped) in %d partitions, %s kernel, bandwidth %.1f m, cell %.2f m, %d x %d"
                " cells", n_points, skipped, frame.npartitions, kernel_name, bandwidth, cell, plan.rows, plan.cols)
    return dict(values=values, transform=Affine(cell, 0.0, plan.bounds[0], 0.0, -cell, plan.bounds[3]),
                crs=crs, kernel=kernel_name, bandwidth_m=float(bandwidth), cell_m=float(cell), units=UNITS,
                total=total, bounds=plan.bounds, n_points=n_points, skipped=skipped)


def _bandwidth(frame: Any, column: str | None, crs_wkt: str, sums: np.ndarray) -> float:
    """The default bandwidth from the partitions: mean centre, standard distance and exact median distance."""
    total = float(sums[2])
    if total <= 0:
        raise SchemaError("no points with weight to choose a bandwidth from; give bandwidth_m=...")
    centre = np.array([sums[3], sums[4]]) / total
    dm, sd = _median_and_sd(frame, column, crs_wkt, centre, total)
    return _silverman(sd, dm, total)
