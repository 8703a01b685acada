"""The inspectors' fixes and path pieces for :func:`gridmap.analysis.coverage.sweep_coverage`.

GPS fixes are filtered (every reason counted in the run's ``stats``), sorted by
inspector and time, and joined into path pieces unless the time gap or the
implied speed breaks the path; LineString tracks add their own pieces (the
notes of :mod:`gridmap.analysis.coverage`, "Meaning").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.crs import transformer
from gridmap.errors import SchemaError
from gridmap.model import DEFAULT_TZ


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], *, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns))
        raise SchemaError(f"{what} lack the column(s) {', '.join(missing)}; columns are {have};"
                          " rename them (e.g. frame.rename(columns={'巡查员': 'inspector'})) or import them"
                          " into a workspace first")


@dataclass
class _Fixes:
    """Used fixes in metric coordinates, sorted by inspector then time."""

    xy: np.ndarray  # (n, 2)
    t: np.ndarray  # int64 ns UTC
    inspector: np.ndarray  # object (str)
    code: np.ndarray  # int inspector code


@dataclass
class _Paths:
    """Path pieces: segments a→b (a == b for an isolated fix) and their bounds."""

    a: np.ndarray
    b: np.ndarray
    lines: np.ndarray  # LineString tracks (metric), for visits
    line_inspectors: np.ndarray
    n_fixes: int
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)  # what the rasters reuse

    def __post_init__(self) -> None:
        self.lo = np.minimum(self.a, self.b)
        self.hi = np.maximum(self.a, self.b)


def _geometry_kinds(tracks: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Masks of point rows (including missing geometry) and line rows; refuse anything else."""
    types = shapely.get_type_id(np.asarray(tracks.geometry.values, dtype=object))
    points = (types == 0) | (types == -1)
    lines = (types == 1) | (types == 5)
    other = ~(points | lines)
    if other.any():
        raise SchemaError(f"tracks hold {int(other.sum())} geometries that are neither points (GPS fixes) nor"
                          " lines (walked paths); keep only Point or LineString rows")
    return points, lines


def _parse_times(values: pd.Series) -> pd.Series:
    """Zone-aware times (naive = Asia/Shanghai); what cannot be parsed becomes NaT."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(DEFAULT_TZ)
    if values.dtype.kind == "M":
        return values.dt.tz_localize(DEFAULT_TZ)
    try:  # one ISO 8601 layout for all rows: vectorised
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
    except (TypeError, ValueError):  # mixed zones or layouts: one value at a time
        stamps = pd.Series([_one_time(v) for v in values], index=values.index, dtype=object)
        return pd.to_datetime(stamps, utc=True).dt.tz_convert(DEFAULT_TZ)
    return _parse_times(parsed)


def _one_time(value: Any) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return pd.NaT
    if stamp is pd.NaT:
        return pd.NaT
    return stamp.tz_localize(DEFAULT_TZ) if stamp.tzinfo is None else stamp


def _clean_names(values: pd.Series) -> np.ndarray:
    """Inspector names as stripped text; "" for a missing or blank name."""
    return _named(values)[0]


def _named(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_clean_names`, and a number for each name (equal names, equal numbers; -1 for a missing one)."""
    if not isinstance(values.dtype, pd.StringDtype) and pd.api.types.infer_dtype(values, skipna=True) not in (
            "string", "empty"):  # 5 and 5.0 would be one key
        names = values.astype("string").str.strip().fillna("").to_numpy(dtype=object)
        return names, pd.factorize(names)[0]
    codes, uniques = pd.factorize(values)  # a few inspectors among many fixes: clean each name once
    text = pd.Series(uniques, dtype=object).astype("string").str.strip().fillna("").to_numpy(dtype=object)
    out = np.take(np.r_[text, np.array([""], dtype=object)], codes)  # a missing name (code -1) is the last: ""
    number = np.r_[pd.factorize(text)[0], -1]  # " A" and "A" are one name; a missing one (code -1) is -1
    return out, number[codes]


def _first_seen(numbers: np.ndarray) -> np.ndarray:
    """`numbers` (>= 0) renumbered 0, 1, ... in order of first appearance: what ``pandas.factorize`` gives for
    the names they number (a hash of a few integers, not of every fix's text)."""
    if len(numbers) == 0:
        return np.zeros(0, dtype=np.intp)
    seen = pd.unique(numbers)
    rank = np.zeros(int(numbers.max()) + 1, dtype=np.intp)
    rank[seen] = np.arange(len(seen))
    return rank[numbers]


def _ns(times: pd.Series) -> np.ndarray:
    """int64 nanoseconds since the epoch (UTC); NaT must be filtered out before."""
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)


def _prepare_fixes(tracks: gpd.GeoDataFrame, crs: pyproj.CRS, window: tuple[pd.Timestamp | None, ...],
                   stats: dict[str, Any], kinds: tuple[np.ndarray, np.ndarray] | None = None) -> _Fixes:
    """Filter the point rows (counting every reason) and sort them by inspector and time; `kinds` are the
    masks of :func:`_geometry_kinds` when already known."""
    point_rows, _ = _geometry_kinds(tracks) if kinds is None else kinds
    points = tracks if point_rows.all() else tracks.loc[point_rows]  # read only: no copy of a frame of fixes
    if len(points):
        _require_columns(points, ("inspector", "time"), what="GPS fixes (point tracks)")
        return _filter_fixes(_point_xy(np.asarray(points.geometry.values, dtype=object)), points["time"],
                             points["inspector"], tracks.crs, crs, window, stats)
    return _filter_fixes(np.empty((0, 2)), None, None, tracks.crs, crs, window, stats)


def _point_xy(geoms: np.ndarray) -> np.ndarray:
    """x, y of each point; NaN for a missing or empty one."""
    return np.column_stack([shapely.get_x(geoms), shapely.get_y(geoms)]).reshape(-1, 2)


def _filter_fixes(xy: np.ndarray, times_in: pd.Series | None, names_in: pd.Series | None, source: pyproj.CRS,
                  crs: pyproj.CRS, window: tuple[pd.Timestamp | None, ...], stats: dict[str, Any]) -> _Fixes:
    """Filter fixes given as coordinates in `source` (NaN: no position), raw times and raw names."""
    stats["fixes_in"] = len(xy)
    keep = ~(np.isnan(xy[:, 0]) | np.isnan(xy[:, 1]))  # the columns apart: any(axis=1) over pairs is slow
    stats["no_position"] = int((~keep).sum())
    empty_times = pd.Series([], dtype=f"datetime64[ns, {DEFAULT_TZ}]")
    times = _parse_times(times_in) if times_in is not None and len(xy) else empty_times
    no_time = keep & times.isna().to_numpy()
    stats["no_time"] = int(no_time.sum())
    keep &= ~no_time
    if names_in is not None and len(xy):
        names, numbers = _named(names_in)
    else:
        names, numbers = np.empty(0, dtype=object), np.empty(0, dtype=np.intp)
    no_insp = keep & (names == "")
    stats["no_inspector"] = int(no_insp.sum())
    keep &= ~no_insp
    every = bool(keep.all())  # every fix so far has a position, a time and a name: no masked copies
    t = _ns(times) if every else np.zeros(len(xy), dtype=np.int64)
    if not every:
        t[keep] = _ns(times[keep])
    inside = _in_window(t, window)
    stats["outside_window"] = int((keep & ~inside).sum())
    keep &= inside
    if keep.all():  # the fixes as they are (fresh arrays made above, nobody else's)
        return _sorted_unique(_project(xy, source, crs), t, names, stats, numbers)
    # np.compress and np.take: the rows of a masked or reordered (n, 2) array as xy[keep] and xy[order] give
    # them, an order of magnitude quicker on NumPy 2 for many fixes
    return _sorted_unique(_project(np.compress(keep, xy, axis=0), source, crs), t[keep], names[keep], stats,
                          numbers[keep])


def _project(xy: np.ndarray, source: pyproj.CRS, target: pyproj.CRS) -> np.ndarray:
    """Coordinates from `source` to `target` (no geometry objects built: the fixes are many)."""
    x, y = transformer(source, target).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def _in_window(t: np.ndarray, window: tuple[pd.Timestamp | None, ...]) -> np.ndarray:
    start, end = window
    inside = np.ones(len(t), dtype=bool)
    if start is not None:
        inside &= t >= start.value
    if end is not None:
        inside &= t < end.value
    return inside


def _sorted_unique(xy: np.ndarray, t: np.ndarray, names: np.ndarray, stats: dict[str, Any],
                   numbers: np.ndarray | None = None) -> _Fixes:
    """Sort by inspector and time (stable); drop repeated (inspector, time), keeping the first given. `numbers`
    number the names when known (:func:`_named`)."""
    code = pd.factorize(names)[0] if numbers is None else _first_seen(numbers)
    span = int(t.max()) - int(t.min()) + 1 if len(t) else 1
    order: np.ndarray | None
    if len(t) and (int(code.max()) + 1) * span < 2 ** 62:  # one key (inspector, time): a quicker stable sort
        key = code.astype(np.int64) * span + (t - t.min())
        # fixes often come in this order already (a device's log, a day file): a stable sort would leave them
        order = None if bool(np.all(key[1:] >= key[:-1])) else np.argsort(key, kind="stable")
    else:
        order = np.lexsort((t, code))
    if order is not None:
        xy, t, names, code = (np.take(v, order, axis=0) for v in (xy, t, names, code))
    dup = np.zeros(len(t), dtype=bool)
    dup[1:] = (code[1:] == code[:-1]) & (t[1:] == t[:-1])
    stats["duplicates"] = int(dup.sum())
    stats["fixes_used"] = len(t) - stats["duplicates"]
    if not stats["duplicates"]:  # nothing to drop: the arrays as they are (fresh ones from _filter_fixes)
        return _Fixes(xy, t, names, code)
    return _Fixes(np.compress(~dup, xy, axis=0), t[~dup], names[~dup], code[~dup])


def _lines(tracks: gpd.GeoDataFrame, crs: pyproj.CRS,
           kinds: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """LineString tracks in the metric CRS, with their inspectors ("" when unknown); `kinds` are the masks of
    :func:`_geometry_kinds` when already known."""
    _, line_rows = _geometry_kinds(tracks) if kinds is None else kinds
    if not line_rows.any():
        return np.empty(0, dtype=object), np.empty(0, dtype=object)
    rows = tracks.loc[line_rows]
    geoms = np.asarray(rows.geometry.to_crs(crs).values, dtype=object)
    if "inspector" in rows.columns:
        names = _clean_names(rows["inspector"])
    else:
        names = np.full(len(rows), "", dtype=object)
    return geoms, names


def _links(xy: np.ndarray, t: np.ndarray, code: np.ndarray, max_gap_s: float,
           max_speed_mps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pair of consecutive fixes: joined, broken by the gap, broken by the speed (a GPS jump)."""
    same = code[1:] == code[:-1]
    dt = (t[1:] - t[:-1]) / 1e9
    dist = np.hypot(*(xy[1:] - xy[:-1]).T) if len(xy) > 1 else np.empty(0)
    gap = same & (dt > max_gap_s)
    jump = same & ~gap & (dist > max_speed_mps * dt)
    return same & ~gap & ~jump, gap, jump


def _canonical(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Path pieces in one order whatever order they came in (by ax, ay, bx, by): the raster of a grid then sees
    the same pieces in the same order whether they were made in one process or in partitions."""
    order = np.argsort(a[:, 0])  # one key, unstable: a stable sort of four keys costs ten times as much
    ax = a[order, 0]
    tied = np.r_[False, (ax[1:] == ax[:-1]) | (np.isnan(ax[1:]) & np.isnan(ax[:-1]))]
    tied[:-1] |= tied[1:]
    if tied.any():  # pieces starting at one x: ordered among themselves by (ay, bx, by), then as given
        at = np.sort(order[tied])
        order[tied] = at[np.lexsort((b[at, 1], b[at, 0], a[at, 1], a[at, 0]))]
    return np.take(a, order, axis=0), np.take(b, order, axis=0)


def _segments(fixes: _Fixes, lines: tuple[np.ndarray, np.ndarray], *, max_gap_s: float, max_speed_mps: float,
              stats: dict[str, Any]) -> _Paths:
    """Join consecutive fixes of one inspector unless the gap is too long or the speed impossible."""
    xy = fixes.xy
    joined, gap, jump = _links(xy, fixes.t, fixes.code, max_gap_s, max_speed_mps)
    stats.update(breaks_gap=int(gap.sum()), breaks_speed=int(jump.sum()))
    linked = np.zeros(len(xy), dtype=bool)
    linked[:-1] |= joined
    linked[1:] |= joined
    stats["isolated_fixes"] = int((~linked).sum())
    line_geoms, line_names = lines
    stats["lines"] = len(line_geoms)
    la, lb = _line_segments(line_geoms)
    alone = np.compress(~linked, xy, axis=0)
    a = np.concatenate([np.compress(joined, xy[:-1], axis=0), alone, la]) if len(xy) else la
    b = np.concatenate([np.compress(joined, xy[1:], axis=0), alone, lb]) if len(xy) else lb
    a, b = _canonical(a.reshape(-1, 2), b.reshape(-1, 2))
    return _Paths(a, b, line_geoms, line_names, len(xy))


def _line_segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive vertex pairs of every LineString part (a one-vertex part is a point)."""
    parts = shapely.get_parts(geoms[~shapely.is_empty(geoms)]) if len(geoms) else np.empty(0, dtype=object)
    if len(parts) == 0:
        return np.empty((0, 2)), np.empty((0, 2))
    coords, part = shapely.get_coordinates(parts, return_index=True)
    follow = part[1:] == part[:-1]
    single = np.bincount(part, minlength=len(parts)) == 1
    lone = coords[np.isin(part, np.flatnonzero(single))]
    return np.concatenate([coords[:-1][follow], lone]), np.concatenate([coords[1:][follow], lone])


def _outside_grids(xy: np.ndarray, grid_geoms: np.ndarray, radius: float) -> int:
    """Used fixes farther than `radius` from every grid (exact: the buffers only pre-select).

    A buffer of 16 segments a quarter circle has its vertices on the true circle and its chords at most
    ``r·(1 − cos(π/64)) < 0.0013·r`` inside it: the buffer of ``0.999·r`` lies within the true one and that
    of ``1.002·r`` holds it, so only the fixes between the two are measured.
    """
    if len(xy) == 0:
        return 0
    union = shapely.union_all(grid_geoms)
    inner, outer = (shapely.buffer(union, radius * k, quad_segs=16) for k in (0.999, 1.002))
    shapely.prepare(inner)
    shapely.prepare(outer)
    doubt = np.flatnonzero(~shapely.intersects_xy(inner, xy[:, 0], xy[:, 1]))
    if len(doubt) == 0:
        return 0
    near = shapely.intersects_xy(outer, xy[doubt, 0], xy[doubt, 1])
    close = shapely.dwithin(union, shapely.points(xy[doubt[near]]), radius)
    return int(len(doubt) - close.sum())


def _box_pairs(lo: np.ndarray, hi: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (item, box) pair whose closed boxes meet: items ``lo..hi`` (n × 2), boxes (m × 4, NaN: none).

    Without a geometry object per item (a day holds millions): the plane is cut into square tiles the size
    of the largest box, each box listed under the tiles it meets, each item looked up under its tiles, and
    the candidate pairs tested exactly, each kept once.
    """
    real = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    if len(lo) == 0 or len(real) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    box = boxes[real]
    tile = max(float(np.max(box[:, 2:] - box[:, :2])), 1.0)
    origin = box[:, :2].min(axis=0)
    top = (box[:, 2:] - origin) // tile
    b_tile, b_which = _tiles((box[:, :2] - origin) // tile, top)
    finite = np.isfinite(lo).all(axis=1) & np.isfinite(hi).all(axis=1)  # only these can meet a box
    low = np.clip(np.floor((np.where(finite[:, None], lo, 0.0) - origin) / tile), -1, top.max(axis=0) + 1)
    high = np.clip(np.floor((np.where(finite[:, None], hi, -tile) - origin) / tile), -1, top.max(axis=0) + 1)
    i_tile, i_which = _tiles(low, high)
    order = np.argsort(b_tile, kind="stable")
    b_tile, b_which = b_tile[order], b_which[order]
    first, stop = np.searchsorted(b_tile, i_tile, "left"), np.searchsorted(b_tile, i_tile, "right")
    count = stop - first
    item = np.repeat(i_which, count)
    start = np.repeat(first - np.cumsum(count) + count, count)
    which = b_which[start + np.arange(len(item))]
    g = box[which]
    meet = (lo[item, 0] <= g[:, 2]) & (hi[item, 0] >= g[:, 0]) & (lo[item, 1] <= g[:, 3]) & (hi[item, 1] >= g[:, 1])
    key = np.unique(item[meet] * len(real) + which[meet])
    return key // len(real), real[key % len(real)]


def _tiles(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tile key, row) for every tile of the integer ranges ``low..high`` (n × 2) of each row."""
    low, high = low.astype(np.int64), high.astype(np.int64)
    nx, ny = np.maximum(high[:, 0] - low[:, 0] + 1, 0), np.maximum(high[:, 1] - low[:, 1] + 1, 0)
    count = nx * ny
    row = np.repeat(np.arange(len(low)), count)
    k = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    tx, ty = low[row, 0] + k % nx[row], low[row, 1] + k // nx[row]
    return (tx + (1 << 31)) * (1 << 32) + (ty + (1 << 31)), row
