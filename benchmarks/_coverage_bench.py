"""Workloads and the peer for benchmarks/coverage.py.

- :func:`street_walks`: inspectors criss-crossing a dense street lattice (the
  streets ``spacing`` apart, 45 to 110 m, so parallel streets near ``2R``
  apart are common), one fix every 5 s at a walking pace with 3 m GPS noise.
- :func:`peer_coverage`: the vector way at its best here: buffer every joined
  2-point segment and every isolated fix (``shapely.buffer``, default 8
  segments per quarter circle), ``shapely.union_all``, intersect with each
  grid, take the areas (buffering whole unbroken runs as long LineStrings was
  30x slower on 200k street-walk fixes).
- :func:`floor_raster` and :func:`floor_transform`: the floor, the least any
  raster answer must do: the path rasterised (a point every cell or less along
  each segment, and every isolated fix, marked on a raster of the grids'
  extent at sweep_coverage's cell size) and one exact Euclidean distance
  transform of that raster (``scipy.ndimage.distance_transform_edt``).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

RADIUS = 30.0
MAX_GAP_S = 300.0
MAX_SPEED = 8.0
STEP_S = 5.0


def _lattice(lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """Street positions from `lo` to `hi`, 45 to 110 m apart."""
    gaps = rng.uniform(45.0, 110.0, int((hi - lo) / 45.0) + 2)
    return lo + np.concatenate([[0.0], np.cumsum(gaps)])


def _walk(xs: np.ndarray, ys: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` fixes of one inspector walking the lattice, turning at random crossings (1.0 to 1.6 m/s)."""
    i, j = int(rng.integers(len(xs))), int(rng.integers(len(ys)))
    points = [np.array([xs[i], ys[j]])]
    total = 0
    while total < n * 1.6 * STEP_S:
        axis = int(rng.integers(2))
        here = (i, j)
        if axis == 0:
            i = int(np.clip(i + rng.choice([-3, -2, -1, 1, 2, 3]), 0, len(xs) - 1))
        else:
            j = int(np.clip(j + rng.choice([-3, -2, -1, 1, 2, 3]), 0, len(ys) - 1))
        if (i, j) == here:
            continue
        nxt = np.array([xs[i], ys[j]])
        total += float(np.abs(nxt - points[-1]).sum())
        points.append(nxt)
    corners = np.array(points)
    legs = np.r_[0.0, np.cumsum(np.hypot(*np.diff(corners, axis=0).T))]
    along = np.cumsum(rng.uniform(1.0, 1.6, n) * STEP_S)
    along = along[along <= legs[-1]]
    path = np.column_stack([np.interp(along, legs, corners[:, 0]), np.interp(along, legs, corners[:, 1])])
    return path + rng.normal(0.0, 3.0, path.shape)


def street_walks(grids: gpd.GeoDataFrame, crs: Any, n_fixes: int, *, inspectors: int = 20,
                 seed: int = 0) -> gpd.GeoDataFrame:
    """GPS fixes (EPSG:4326) of `inspectors` people walking a street lattice over the grids, `n_fixes` in all."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = grids.to_crs(crs).total_bounds
    xs, ys = _lattice(x0 - 40, x1 + 40, rng), _lattice(y0 - 40, y1 + 40, rng)
    xs, ys = xs[xs <= x1 + 40], ys[ys <= y1 + 40]
    frames = []
    per = n_fixes // inspectors
    for k in range(inspectors):
        xy = _walk(xs, ys, per + (k < n_fixes % inspectors), rng)
        times = pd.Timestamp("2025-03-03 08:00", tz="Asia/Shanghai") + pd.to_timedelta(
            np.arange(len(xy)) * STEP_S, unit="s")
        frames.append(gpd.GeoDataFrame({"inspector": f"巡查员{k:02d}", "time": times},
                                       geometry=shapely.points(xy), crs=crs))
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs).to_crs(4326)


def peer_segments(tracks: gpd.GeoDataFrame, crs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joined segments (a, b) and isolated fixes, by the same rules as sweep_coverage (its defaults)."""
    frame = tracks.to_crs(crs).sort_values(["inspector", "time"], kind="stable")
    xy = np.column_stack([frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()])
    name = frame["inspector"].to_numpy()
    t = frame["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    same = name[1:] == name[:-1]
    dt = np.diff(t) / 1e9
    dist = np.hypot(*np.diff(xy, axis=0).T)
    joined = same & (dt <= MAX_GAP_S) & (dist <= MAX_SPEED * dt)
    linked = np.zeros(len(xy), dtype=bool)
    linked[:-1] |= joined
    linked[1:] |= joined
    return xy[:-1][joined], xy[1:][joined], xy[~linked]


def peer_coverage(a: np.ndarray, b: np.ndarray, lone: np.ndarray, grid_geoms: np.ndarray) -> np.ndarray:
    """Buffer every segment and isolated fix, union them, intersect with each grid: covered m² per grid."""
    pieces = np.concatenate([shapely.buffer(shapely.linestrings(np.stack([a, b], axis=1)), RADIUS),
                             shapely.buffer(shapely.points(lone), RADIUS)])
    union = shapely.union_all(pieces)
    return shapely.area(shapely.intersection(grid_geoms, union))


def floor_raster(a: np.ndarray, b: np.ndarray, lone: np.ndarray, grid_geoms: np.ndarray, cell: float) -> np.ndarray:
    """The rasterised path: False on every cell of the grids' extent holding a point of the path (points at most
    `cell` apart along each segment, and the isolated fixes), True elsewhere."""
    x0, y0, x1, y1 = shapely.total_bounds(grid_geoms)
    i0, j0 = int(np.floor(x0 / cell)), int(np.floor(y0 / cell))
    ni, nj = int(np.ceil(x1 / cell)) - i0, int(np.ceil(y1 / cell)) - j0
    a, b = np.concatenate([a, lone]), np.concatenate([b, lone])
    steps = np.maximum(np.ceil(np.hypot(*(b - a).T) / cell).astype(np.int64), 1)
    seg = np.repeat(np.arange(len(a)), steps + 1)
    frac = (np.arange(seg.size) - np.repeat(np.cumsum(steps + 1) - (steps + 1), steps + 1)) / steps[seg]
    col = np.floor((a[seg, 0] + (b - a)[seg, 0] * frac) / cell).astype(np.int64) - i0
    row = np.floor((a[seg, 1] + (b - a)[seg, 1] * frac) / cell).astype(np.int64) - j0
    ok = (col >= 0) & (col < ni) & (row >= 0) & (row < nj)
    free = np.ones((nj, ni), dtype=bool)
    free[row[ok], col[ok]] = False
    return free


def floor_transform(free: np.ndarray, cell: float) -> np.ndarray:
    """Each cell's distance (m) to the nearest cell of the path: one exact Euclidean distance transform."""
    return ndimage.distance_transform_edt(free, sampling=cell)
