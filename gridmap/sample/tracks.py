"""Illustrative GPS tracks of inspectors sweeping their grids (invented people and fixes).

Part of :mod:`gridmap.sample`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.affinity
from pyproj import CRS
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from gridmap.crs import metric_crs
from gridmap.errors import SchemaError
from gridmap.model import DEFAULT_TZ, STORAGE_CRS
from gridmap.sample.boundaries import _require_layers
from gridmap.sample.common import _aware, _local_midnights, _lonlat_function, _person_names, _rng

logger = logging.getLogger(__name__)

# Tracks: walking, GPS and working-hour parameters.
_SESSION_STARTS_S = (8 * 3600 + 1800, 14 * 3600 + 1800)  # patrols start 08:30 and 14:30 plus up to 40 min
_SESSION_MAX_S = 3 * 3600.0
_GAP_P, _GAP_S = 0.003, (60.0, 600.0)
_OUTLIER_P, _OUTLIER_M = 0.003, (100.0, 400.0)
_GPS_SIGMA_M = 5.0 / math.sqrt(2.0)  # per axis, so the radial RMS error is 5 m
_SWEEP_SPACING_M = 50.0
_DEAD_CORNER_M = 100.0
_DEAD_CORNER_SHARE = 0.35


def _lawnmower(area: BaseGeometry, *, angle: float, spacing: float) -> np.ndarray:
    """Vertices of a back-and-forth sweep of `area` along lines `spacing` apart at `angle` (radians)."""
    c = area.centroid
    rot = shapely.affinity.rotate(area, -angle, origin=c, use_radians=True)
    minx, miny, maxx, maxy = rot.bounds
    ys = np.arange(miny + spacing / 2, maxy, spacing)
    lines = shapely.linestrings([[[minx - 1, y], [maxx + 1, y]] for y in ys])
    rows = []
    for k, cut in enumerate(shapely.intersection(lines, rot)):
        segs = [np.asarray(g.coords) for g in shapely.get_parts(cut) if g.geom_type == "LineString"]
        if not segs:
            continue
        pts = np.vstack([s[np.argsort(s[:, 0])] for s in sorted(segs, key=lambda s: s[:, 0].min())])
        rows.append(pts[::-1] if k % 2 else pts)
    if not rows:
        return np.asarray([[c.x, c.y], [c.x + 1.0, c.y]])
    route = shapely.affinity.rotate(LineString(np.vstack(rows)), angle, origin=c, use_radians=True)
    return np.asarray(route.coords)


def _dead_corner(grid: BaseGeometry, targets: np.ndarray) -> np.ndarray:
    """The grid vertex the sweep leaves out: the one nearest a target point (when within 70 m), else the farthest."""
    corners = shapely.get_coordinates(grid)
    if len(targets):
        dist = np.linalg.norm(corners[:, None, :] - targets[None, :, :], axis=2)
        k, _ = np.unravel_index(np.argmin(dist), dist.shape)
        if dist.min() <= 70.0:
            return corners[k]
    center = np.asarray(grid.centroid.coords[0])
    return corners[int(np.argmax(np.linalg.norm(corners - center, axis=1)))]


def _walkable(grid: BaseGeometry, *, corner: np.ndarray | None) -> BaseGeometry:
    """The part of a grid the route sweeps: 10 m inside, minus a disk around the dead corner if any."""
    area = grid.buffer(-10.0)
    if corner is not None:
        area = area.difference(Point(corner).buffer(_DEAD_CORNER_M))
    return area if not area.is_empty else grid


@dataclass(frozen=True)
class _Route:
    x: np.ndarray
    y: np.ndarray
    s: np.ndarray  # cumulative length

    @classmethod
    def of(cls, coords: np.ndarray) -> "_Route":
        steps = np.linalg.norm(np.diff(coords, axis=0), axis=1)
        keep = np.concatenate([[True], steps > 1e-6])
        coords = coords[keep]
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(coords, axis=0), axis=1))])
        return cls(coords[:, 0], coords[:, 1], s)

    def at(self, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions after walking `dist` metres, turning back at either end (ping-pong)."""
        length = float(self.s[-1]) or 1.0
        d = np.mod(dist, 2 * length)
        d = np.where(d > length, 2 * length - d, d)
        return np.interp(d, self.s, self.x), np.interp(d, self.s, self.y)


def _fix_counts(total: int, n_inspectors: int, days: int) -> np.ndarray:
    """Fixes per (inspector, day) adding up to `total` exactly, shape (n_inspectors, days)."""
    r = n_inspectors * days
    edges = (np.arange(r + 1) * total) // r
    return np.diff(edges).reshape(n_inspectors, days)


def _session_plan(counts: np.ndarray) -> np.ndarray:
    """Fixes per session: a morning and an afternoon patrol per (inspector, day); shape (n, days, 2)."""
    morning = counts // 2
    return np.stack([morning, counts - morning], axis=-1)


@dataclass(frozen=True)
class _TrackOptions:
    interval_s: float
    total: int
    days: int
    n_inspectors: int


def _track_options(*, days: int, n_inspectors: int, fixes_per_minute: float, n_fixes: int | None) -> _TrackOptions:
    if days < 1 or n_inspectors < 1 or not fixes_per_minute > 0 or (n_fixes is not None and n_fixes < 0):
        raise SchemaError(
            "days and n_inspectors must be at least 1, fixes_per_minute above 0 and n_fixes not negative; got "
            f"days={days}, n_inspectors={n_inspectors}, fixes_per_minute={fixes_per_minute}, n_fixes={n_fixes}"
        )
    interval = 60.0 / fixes_per_minute
    total = int(n_fixes) if n_fixes is not None else int(round(60 * fixes_per_minute)) * n_inspectors * days
    per_session = max(int(_SESSION_MAX_S / (interval + _GAP_P * sum(_GAP_S) / 2)), 1)
    need = math.ceil(total / (n_inspectors * 2 * per_session))
    if need > days:
        logger.info("%d fixes do not fit %d days of working hours; spreading them over %d days", total, days, need)
    return _TrackOptions(interval, total, max(days, need), n_inspectors)


def _elapsed_s(rng: np.random.Generator, sessions: np.ndarray, interval: float) -> np.ndarray:
    """Seconds since the start of its session for every fix: ~interval steps, a few longer gaps."""
    n = int(sessions.sum())
    steps = interval * rng.uniform(0.9, 1.1, n)
    steps += np.where(rng.random(n) < _GAP_P, rng.uniform(*_GAP_S, n), 0.0)
    first = np.cumsum(sessions) - sessions
    firsts = first[sessions > 0]
    steps[firsts] = 0.0
    total = np.cumsum(steps)
    return total - np.repeat(total[firsts], sessions[sessions > 0])


def _target_points(layers: Mapping[str, gpd.GeoDataFrame], crs: CRS) -> np.ndarray:
    """Metric coordinates of the point targets (empty when there are no targets)."""
    targets = layers.get("targets")
    if targets is None or len(targets) == 0 or targets.crs is None:
        return np.empty((0, 2))
    geoms = targets.to_crs(crs).geometry
    return shapely.get_coordinates(geoms[geoms.geom_type == "Point"].values).reshape(-1, 2)


def _track_routes(grids: Sequence[BaseGeometry], dead: np.ndarray, targets: np.ndarray,
                  rng: np.random.Generator) -> list[list[_Route]]:
    """Two sweeps per grid (along and across a random direction), avoiding the dead corner."""
    out = []
    for grid, is_dead in zip(grids, dead):
        inside = targets[shapely.contains_xy(grid, targets[:, 0], targets[:, 1])] if len(targets) else targets
        area = _walkable(grid, corner=_dead_corner(grid, inside) if is_dead else None)
        angle = rng.uniform(0.0, math.pi)
        out.append([_Route.of(_lawnmower(area, angle=a, spacing=_SWEEP_SPACING_M))
                    for a in (angle, angle + math.pi / 2)])
    return out


def _inspector_names(rng: np.random.Generator, grids: gpd.GeoDataFrame, n: int) -> list[str]:
    cadres = [str(c) for c in grids["cadre"]] if "cadre" in grids else []
    own = [c if c and c != "nan" else f"巡查员{i + 1}" for i, c in enumerate(cadres[: min(n, len(grids))])]
    return own + _person_names(rng, n - len(own), exclude=own)


def sample_tracks(
    boundaries: Mapping[str, gpd.GeoDataFrame] | None = None,
    *,
    seed: int = 0,
    start: str | pd.Timestamp = "2025-03-03",
    days: int = 7,
    n_inspectors: int = 36,
    fixes_per_minute: float = 6.0,
    n_fixes: int | None = None,
) -> gpd.GeoDataFrame:
    """Make illustrative GPS fixes of inspectors sweeping their grids.

    Inspector *i* walks grid *i* (modulo the number of grids; the first ones
    are the grids' cadres) along a back-and-forth (lawnmower) route 50 m apart,
    alternating between two directions day by day, at 1.0-1.4 m/s, in a morning
    patrol from about 08:30 and an afternoon patrol from about 14:30. A fix is
    taken about every ``60 / fixes_per_minute`` seconds with Gaussian noise of
    5 m RMS, a few gaps of 1-10 minutes and a few jumps of 100-400 m (outliers).
    About a third of the grids have a corner the route never enters (a dead
    corner, 100 m around the grid vertex farthest from its centre), so most
    but not all targets are passed.

    Parameters
    ----------
    boundaries : dict of str to geopandas.GeoDataFrame, optional
        Layers with ``grids`` (and ``subdistrict``); made with `seed` when omitted.
    seed : int
        Seed of the generator.
    start : str or pandas.Timestamp
        First day (Asia/Shanghai when the time has no zone).
    days : int
        Days of patrols. When `n_fixes` does not fit the working hours of
        `days` days, more days are added.
    n_inspectors : int
        Number of inspectors.
    fixes_per_minute : float
        GPS fix rate.
    n_fixes : int, optional
        Total number of fixes, exactly. Defaults to one hour of patrol per
        inspector and day. The generator is vectorised: a million fixes take
        a few seconds.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``inspector``, ``time`` (aware, Asia/Shanghai, milliseconds) and
        ``track_id`` (inspector number, date and patrol: ``T01-20250303-1``),
        points in EPSG:4326, sorted by inspector and time.

    Raises
    ------
    SchemaError
        When the grids are missing or an argument is out of range.
    CRSError
        When the grids have no CRS.

    Examples
    --------
    >>> tracks = sample_tracks(n_fixes=500, days=2)
    >>> len(tracks), tracks["inspector"].nunique()
    (500, 36)
    >>> tracks.groupby("inspector")["time"].is_monotonic_increasing.all()
    np.True_
    """
    opts = _track_options(days=days, n_inspectors=n_inspectors, fixes_per_minute=fixes_per_minute, n_fixes=n_fixes)
    layers = _require_layers(boundaries, seed, ("grids",))
    rng = _rng(seed, "tracks")
    grids = layers["grids"]
    crs = metric_crs(grids)
    metric = list(grids.to_crs(crs).geometry)
    dead = rng.random(len(metric)) < _DEAD_CORNER_SHARE
    routes = _track_routes(metric, dead, _target_points(layers, crs), rng)
    sessions = _session_plan(_fix_counts(opts.total, opts.n_inspectors, opts.days))
    x, y, t = _walk(rng, routes, sessions, opts, _local_midnights(start, opts.days))
    return _tracks_frame(rng, grids, sessions, x, y, t, crs, start)


def _walk(rng: np.random.Generator, routes: list[list[_Route]], sessions: np.ndarray, opts: _TrackOptions,
          midnights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (metres) and times (UTC ns) of every fix, inspector-major, then day, then session."""
    flat = sessions.reshape(-1)
    n_insp, n_days = sessions.shape[:2]
    elapsed = _elapsed_s(rng, flat, opts.interval_s)
    starts = (midnights[:n_days][None, :, None] + np.asarray(_SESSION_STARTS_S, dtype=np.int64)[None, None, :] * 10**9
              + rng.integers(0, 40 * 60, (n_insp, n_days, 2)) * 10**9).reshape(-1)
    session_of_fix = np.repeat(np.arange(len(flat)), flat)
    t = starts[session_of_fix] + np.round(elapsed * 1000).astype(np.int64) * 10**6
    speed = rng.uniform(1.0, 1.4, int(n_insp))
    ends = np.zeros(len(flat))
    last = np.cumsum(flat) - 1
    ends[flat > 0] = elapsed[last[flat > 0]]
    offset = rng.uniform(0.0, 5000.0, (n_insp, n_days, 2))
    offset[:, :, 1] = offset[:, :, 0] + ends.reshape(n_insp, n_days, 2)[:, :, 0] * speed[:, None]
    dist = offset.reshape(-1)[session_of_fix] + elapsed * np.repeat(speed, n_days * 2)[session_of_fix]
    x, y = np.empty(len(t)), np.empty(len(t))
    route_of_fix = session_of_fix // 2  # (inspector, day), sorted
    bounds = np.searchsorted(route_of_fix, np.arange(n_insp * n_days + 1))
    for r in np.flatnonzero(np.diff(bounds)):
        insp, day = divmod(int(r), n_days)
        part = slice(bounds[r], bounds[r + 1])
        x[part], y[part] = routes[insp % len(routes)][day % 2].at(dist[part])
    return x, y, t


def _tracks_frame(rng: np.random.Generator, grids: gpd.GeoDataFrame, sessions: np.ndarray, x: np.ndarray,
                  y: np.ndarray, t: np.ndarray, crs: CRS, start: str | pd.Timestamp) -> gpd.GeoDataFrame:
    n = len(t)
    x = x + rng.normal(0.0, _GPS_SIGMA_M, n)
    y = y + rng.normal(0.0, _GPS_SIGMA_M, n)
    jump = rng.random(n) < _OUTLIER_P
    dist, ang = rng.uniform(*_OUTLIER_M, n), rng.uniform(0.0, 2 * math.pi, n)
    x, y = np.where(jump, x + dist * np.cos(ang), x), np.where(jump, y + dist * np.sin(ang), y)
    lonlat = _lonlat_function(crs, exact=False)(np.column_stack([x, y]))
    n_insp, n_days = sessions.shape[:2]
    names = np.asarray(_inspector_names(rng, grids, n_insp), dtype=object)
    first_day = pd.Timestamp(_local_midnights(start, 1)[0], tz="UTC").tz_convert(DEFAULT_TZ)
    dates = [(first_day + pd.Timedelta(days=d)).strftime("%Y%m%d") for d in range(n_days)]
    ids = np.asarray([f"T{i + 1:02d}-{d}-{p}" for i in range(n_insp) for d in dates for p in (1, 2)], dtype=object)
    session_of_fix = np.repeat(np.arange(sessions.size), sessions.reshape(-1))
    frame = pd.DataFrame({
        "inspector": names[session_of_fix // (2 * n_days)],
        "time": _aware(t),
        "track_id": ids[session_of_fix],
    })
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(shapely.points(lonlat), crs=STORAGE_CRS))
