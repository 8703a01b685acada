"""Street coverage for :func:`gridmap.analysis.coverage.sweep_coverage`: how much of each street the sweep reached,
the dead stretches (unreached pieces of a street), the street chiefs' and the area leaders' roll-ups.

Method (exact, no sampling)
---------------------------
A street is cut into its segments ``P + t·(Q − P)``, ``t ∈ [0, 1]``. The ground an inspector reached is the
union of the reaches (every point within ``R``) of the path pieces: segments ``A–B`` between joined fixes, a
lone fix as ``A = B``, a walked line's segments. The reach of one piece is convex (the set of points within
``R`` of a convex set, the Minkowski sum of the segment and a disc), so its intersection with a line is one
interval of ``t``, and the reach is the union of three simple convex sets: the discs of radius ``R`` around
``A`` and ``B`` and the rectangle of half-width ``R`` along ``A–B`` (a stadium). The interval is therefore
``[min, max]`` of the non-empty intervals the line cuts from those three: a quadratic for each disc, four
linear inequalities for the rectangle. The intervals of every piece near a segment (an STRtree of the segments'
boxes grown by ``R``) are united by a sort and a sweep, and a segment's covered length is the total length of its
united intervals times the segment's length: exact up to floating point.

A *dead stretch* is a maximal unreached piece of one line part of a street: the complements of the united
intervals, joined across a vertex where one segment's gap ends at its end and the next segment's starts at its
start. A stretch of at least ``min_dead_stretch_m`` is reported, with a walk-to point at its middle by length.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.analysis._coverage_figures import _rollup, walk_to_columns
from gridmap.analysis._coverage_tracks import _box_pairs, _require_columns
from gridmap.errors import SchemaError
from gridmap.model import STORAGE_CRS

#: Columns added to each street of :attr:`~gridmap.analysis.coverage.CoverageResult.streets`.
STREET_COLUMNS = ("length_m", "covered_m", "coverage_ratio", "dead_stretches")
#: Columns of :attr:`~gridmap.analysis.coverage.CoverageResult.dead_stretches`, in order.
DEAD_STRETCH_COLUMNS = ("stretch_id", "street_name", "street_chief", "length_m", "lon", "lat", "lon_gcj02",
                        "lat_gcj02")
#: Columns of :attr:`~gridmap.analysis.coverage.CoverageResult.by_street_chief`.
STREET_CHIEF_COLUMNS = ("street_chief", "streets", "length_m", "covered_m", "coverage_ratio", "dead_stretches")
#: Columns of :attr:`~gridmap.analysis.coverage.CoverageResult.by_area`.
AREA_COLUMNS = ("area_code", "name", "leader", "grids", "area_m2", "covered_m2", "uncovered_m2", "coverage_ratio",
                "dead_corners")
#: Columns of the street CSV export (those the streets have), in order.
STREET_CSV_COLUMNS = ("street_name", "street_chief") + STREET_COLUMNS
_CHUNK = 200_000  # path pieces queried at once (bounds the pairs held in memory)
_CHUNK_M = 50.0  # longest piece of a street segment in the search for pairs


@dataclass
class _Segments:
    """The streets' segments ``p → q`` (metric), with their street (row position) and line part."""

    p: np.ndarray  # (n, 2)
    q: np.ndarray  # (n, 2)
    street: np.ndarray  # int64, row position of the street
    part: np.ndarray  # int64, global number of the line part
    count: int  # number of streets

    @property
    def length(self) -> np.ndarray:
        return np.hypot(*(self.q - self.p).T) if len(self.p) else np.empty(0)


@dataclass
class _Intervals:
    """Covered parameter intervals ``[t0, t1]`` on street segments (``seg``), in no particular order."""

    seg: np.ndarray
    t0: np.ndarray
    t1: np.ndarray

    @classmethod
    def empty(cls) -> "_Intervals":
        return cls(np.empty(0, np.int64), np.empty(0), np.empty(0))

    @classmethod
    def concat(cls, items: list["_Intervals"]) -> "_Intervals":
        if not items:
            return cls.empty()
        return cls(np.concatenate([i.seg for i in items]).astype(np.int64), np.concatenate([i.t0 for i in items]),
                   np.concatenate([i.t1 for i in items]))


# ---------------------------------------------------------------------------------------------------------------
# the streets' segments
# ---------------------------------------------------------------------------------------------------------------


def check_streets(streets: gpd.GeoDataFrame) -> None:
    """Refuse streets without ``street_name`` or with geometries that are not lines (SchemaError naming the fix)."""
    _require_columns(streets, ("street_name",), what="streets")
    geoms = np.asarray(streets.geometry.values, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    types = shapely.get_type_id(geoms[present])
    bad = ~np.isin(types, (1, 2, 5))  # LineString, LinearRing, MultiLineString
    if bad.any():
        kinds = sorted({g.geom_type for g in geoms[present][bad]})
        raise SchemaError(f"streets hold {int(bad.sum())} geometries that are not lines ({', '.join(kinds)}); the"
                          " streets layer takes LineString or MultiLineString rows (a street's centre line)")


def street_segments(streets: gpd.GeoDataFrame, crs: pyproj.CRS) -> _Segments:
    """Every street's segments in the metric `crs` (zero-length segments dropped; missing lines have none)."""
    geoms = np.asarray(streets.geometry.to_crs(crs).values, dtype=object)
    geoms = np.where(shapely.is_missing(geoms), shapely.LineString(), geoms)
    parts, street = shapely.get_parts(geoms, return_index=True)
    coords, part = shapely.get_coordinates(parts, return_index=True)
    follow = np.flatnonzero(part[1:] == part[:-1]) if len(part) else np.empty(0, np.int64)
    p, q = coords[follow], coords[follow + 1]
    real = np.hypot(*(q - p).T) > 0
    return _Segments(p[real], q[real], street[part[follow]][real].astype(np.int64),
                     part[follow][real].astype(np.int64), len(geoms))


# ---------------------------------------------------------------------------------------------------------------
# the covered intervals
# ---------------------------------------------------------------------------------------------------------------


def reach_intervals(segs: _Segments, a: np.ndarray, b: np.ndarray, radius: float) -> _Intervals:
    """The united covered intervals of every street segment reached by the pieces ``a → b`` (n × 2, metric).

    The pairs to measure: a piece and a segment whose boxes meet once the segment's is grown by ``radius``
    (:func:`~gridmap.analysis._coverage_tracks._box_pairs`, without a geometry object per piece; the segments
    are cut into chunks of at most ``_CHUNK_M`` for this, so that its tiles stay small).
    """
    a, b = np.asarray(a, float).reshape(-1, 2), np.asarray(b, float).reshape(-1, 2)
    if len(segs.p) == 0 or len(a) == 0:
        return _Intervals.empty()
    owner, boxes = _chunk_boxes(segs, radius)
    found = []
    for start in range(0, len(a), _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, len(a)))
        piece, chunk = _box_pairs(np.minimum(a[rows], b[rows]), np.maximum(a[rows], b[rows]), boxes)
        key = np.unique(piece * len(segs.p) + owner[chunk])  # each (piece, segment) once
        piece, seg = rows[key // len(segs.p)], key % len(segs.p)
        t0, t1 = pair_intervals(segs.p[seg], segs.q[seg], a[piece], b[piece], radius)
        keep = t1 > t0
        found.append(merge_intervals(_Intervals(seg[keep].astype(np.int64), t0[keep], t1[keep])))
    return merge_intervals(_Intervals.concat(found))


def _chunk_boxes(segs: _Segments, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """The segments cut into chunks of at most ``_CHUNK_M`` metres: each chunk's segment and its box grown by
    `radius` (a superset of the ground within `radius` of the segment)."""
    pieces = np.maximum(np.ceil(segs.length / _CHUNK_M), 1).astype(np.int64)
    owner = np.repeat(np.arange(len(segs.p)), pieces)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    d = (segs.q - segs.p)[owner] / pieces[owner, None]
    start, stop = segs.p[owner] + k[:, None] * d, segs.p[owner] + (k[:, None] + 1) * d
    grow = radius * (1 + 1e-9) + 1e-6
    boxes = np.column_stack([np.minimum(start, stop) - grow, np.maximum(start, stop) + grow])
    return owner, boxes


def pair_intervals(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray,
                   radius: float) -> tuple[np.ndarray, np.ndarray]:
    """For each pair: the interval ``[t0, t1] ⊂ [0, 1]`` of ``P + t(Q − P)`` within `radius` of segment ``A–B``
    (``t1 <= t0`` when none). The reach of ``A–B`` is the union of two discs and a rectangle; the line's
    intervals in the three are united into their hull, one interval since the reach is convex.

    Examples
    --------
    A street from (0, 0) to (100, 0) and a lone fix at (50, 0) reaching 30 m: the street from 20 to 80 m.

    >>> import numpy as np
    >>> t0, t1 = pair_intervals(np.array([[0.0, 0.0]]), np.array([[100.0, 0.0]]), np.array([[50.0, 0.0]]),
    ...                         np.array([[50.0, 0.0]]), 30.0)
    >>> float(t0[0]), float(t1[0])
    (0.2, 0.8)
    """
    d = q - p
    starts, ends = [], []
    for centre in (a, b):
        starts_i, ends_i = _disc(p - centre, d, radius)
        starts.append(starts_i)
        ends.append(ends_i)
    rect = _rectangle(p - a, d, b - a, radius)
    starts.append(rect[0])
    ends.append(rect[1])
    lo, hi = np.stack(starts), np.stack(ends)
    real = hi >= lo
    t0 = np.where(real, lo, np.inf).min(axis=0)
    t1 = np.where(real, hi, -np.inf).max(axis=0)
    return np.clip(t0, 0.0, 1.0), np.clip(t1, 0.0, 1.0)


def _disc(w: np.ndarray, d: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """``t`` with ``|w + t·d| <= R``: the roots of ``|d|² t² + 2 (d·w) t + |w|² − R² = 0`` (empty: NaN)."""
    dd = np.einsum("ij,ij->i", d, d)
    bw = np.einsum("ij,ij->i", d, w)
    c = np.einsum("ij,ij->i", w, w) - radius * radius
    disc = bw * bw - dd * c
    root = np.sqrt(np.where(disc >= 0, disc, np.nan))
    return (-bw - root) / dd, (-bw + root) / dd


def _rectangle(w: np.ndarray, d: np.ndarray, e: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """``t`` with ``w + t·d`` in the rectangle ``0 <= s <= |e|``, ``|h| <= R`` (``s`` along ``e``, ``h`` across);
    empty (NaN) for a zero-length ``e`` (a lone fix: its discs say it all)."""
    le = np.hypot(e[:, 0], e[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        u = e / le[:, None]
    n = np.column_stack([-u[:, 1], u[:, 0]])
    s_lo, s_hi = _linear(np.einsum("ij,ij->i", w, u), np.einsum("ij,ij->i", d, u), 0.0, le)
    h_lo, h_hi = _linear(np.einsum("ij,ij->i", w, n), np.einsum("ij,ij->i", d, n), -radius, radius)
    lo, hi = np.maximum(s_lo, h_lo), np.minimum(s_hi, h_hi)
    empty = ~(le > 0) | ~(hi >= lo)
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def _linear(c0: np.ndarray, c1: np.ndarray, lo: float | np.ndarray,
            hi: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``t`` with ``lo <= c0 + t·c1 <= hi``: an interval, all of ℝ, or empty (``lo > hi``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r0, r1 = (lo - c0) / c1, (hi - c0) / c1
    flat = c1 == 0
    inside = (c0 >= lo) & (c0 <= hi)
    t_lo = np.where(flat, np.where(inside, -np.inf, np.inf), np.minimum(r0, r1))
    t_hi = np.where(flat, np.where(inside, np.inf, -np.inf), np.maximum(r0, r1))
    return t_lo, t_hi


def merge_intervals(found: _Intervals) -> _Intervals:
    """The union of the intervals of each segment as disjoint intervals, sorted by segment then start."""
    if len(found.seg) == 0:
        return _Intervals.empty()
    order = np.lexsort((found.t0, found.seg))
    seg, t0, t1 = found.seg[order], found.t0[order], found.t1[order]
    offset = 2.0 * seg  # every t lies in [0, 1]: offsets keep the segments apart in one running maximum
    reach = np.maximum.accumulate(t1 + offset)
    new = np.r_[True, (seg[1:] != seg[:-1]) | (t0[1:] + offset[1:] > reach[:-1])]
    first = np.flatnonzero(new)
    return _Intervals(seg[first], t0[first], np.maximum.reduceat(t1, first))


# ---------------------------------------------------------------------------------------------------------------
# the dead stretches
# ---------------------------------------------------------------------------------------------------------------


def _gaps(segs: _Segments, merged: _Intervals) -> _Intervals:
    """The complements of the united intervals in ``[0, 1]`` on every segment, sorted by segment then start."""
    n = len(segs.p)
    rank = np.arange(len(merged.seg)) - np.searchsorted(merged.seg, merged.seg)  # position within its segment
    count = np.bincount(merged.seg, minlength=n)
    start = np.concatenate([np.zeros(n), merged.t1])
    start_key = np.lexsort((np.r_[np.full(n, -1), rank], np.r_[np.arange(n), merged.seg]))
    end = np.concatenate([merged.t0, np.ones(n)])
    end_key = np.lexsort((np.r_[rank, count], np.r_[merged.seg, np.arange(n)]))
    seg = np.r_[np.arange(n), merged.seg][start_key]
    gap = _Intervals(seg, start[start_key], end[end_key])
    keep = gap.t1 > gap.t0
    return _Intervals(gap.seg[keep], gap.t0[keep], gap.t1[keep])


def dead_stretches(streets: gpd.GeoDataFrame, segs: _Segments, merged: _Intervals, crs: pyproj.CRS,
                   min_m: float) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The unreached stretches of at least `min_m` metres (EPSG:4326 frame) and their count per street."""
    gap = _gaps(segs, merged)
    joins = np.zeros(len(gap.seg), dtype=bool)  # a gap continuing the previous one across a vertex
    joins[1:] = (gap.seg[1:] == gap.seg[:-1] + 1) & (segs.part[gap.seg[1:]] == segs.part[gap.seg[:-1]]) \
        & (gap.t1[:-1] == 1.0) & (gap.t0[1:] == 0.0)
    stretch, rank = _around_rings(segs, gap, np.cumsum(~joins) - 1)
    stretch = np.unique(stretch, return_inverse=True)[1].reshape(-1)  # numbered 0, 1, ... again
    count = int(stretch.max()) + 1 if len(stretch) else 0
    length = np.bincount(stretch, (gap.t1 - gap.t0) * segs.length[gap.seg], minlength=count)
    order = np.lexsort((rank, stretch))
    first = order[np.r_[True, stretch[order][1:] != stretch[order][:-1]]] if len(order) else order
    owner = segs.street[gap.seg[first]]
    keep = np.flatnonzero(length >= min_m)
    lines = _stretch_lines(segs, gap, stretch, rank, first)[keep]
    order = np.lexsort((-length[keep], owner[keep]))
    frame = _stretch_frame(streets, lines[order], owner[keep][order], length[keep][order], crs)
    return frame, np.bincount(owner[keep], minlength=segs.count)


def _around_rings(segs: _Segments, gap: _Intervals, stretch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stretches with those of a closed line part joined through its start point (the stretch reaching the
    part's end continues into the one leaving its start), and each gap's rank along its stretch."""
    rank = np.arange(len(gap.seg), dtype=float)
    if len(gap.seg) == 0:
        return stretch, rank
    parts, first_seg = np.unique(segs.part, return_index=True)
    last_seg = np.r_[first_seg[1:], len(segs.part)] - 1
    closed = (segs.p[first_seg] == segs.q[last_seg]).all(axis=1)
    where = np.searchsorted(parts, segs.part[gap.seg])
    head = np.flatnonzero(closed[where] & (gap.seg == first_seg[where]) & (gap.t0 == 0.0))
    tail = np.flatnonzero(closed[where] & (gap.seg == last_seg[where]) & (gap.t1 == 1.0))
    _, at_head, at_tail = np.intersect1d(where[head], where[tail], return_indices=True)
    stretch = stretch.copy()
    for h, t in zip(head[at_head], tail[at_tail]):
        if stretch[h] != stretch[t]:  # the tail's stretch comes first, then the head's
            moved = stretch == stretch[t]
            stretch[moved] = stretch[h]
            rank[moved] -= len(gap.seg)
    return stretch, rank


def _stretch_lines(segs: _Segments, gap: _Intervals, stretch: np.ndarray, rank: np.ndarray,
                   first: np.ndarray) -> np.ndarray:
    """One LineString per stretch: its first gap's start point, then every gap's end point, by rank."""
    if len(stretch) == 0:
        return np.empty(0, dtype=object)
    d = segs.q[gap.seg] - segs.p[gap.seg]
    begin = segs.p[gap.seg[first]] + gap.t0[first, None] * d[first]
    end = segs.p[gap.seg] + gap.t1[:, None] * d
    which = np.r_[stretch[first], stretch]
    key = np.lexsort((np.r_[np.full(len(first), -np.inf), rank], which))
    coords = np.concatenate([begin, end])[key]
    return np.asarray(shapely.linestrings(coords, indices=which[key]), dtype=object)


def _stretch_frame(streets: gpd.GeoDataFrame, lines: np.ndarray, owner: np.ndarray, length: np.ndarray,
                   crs: pyproj.CRS) -> gpd.GeoDataFrame:
    """The stretches' table: id, street, chief, length and a walk-to point at the middle by length."""
    names = streets["street_name"].astype(str).to_numpy()[owner]
    chiefs = _chiefs(streets)[owner]
    middle = shapely.line_interpolate_point(lines, 0.5, normalized=True) if len(lines) else lines
    walk = walk_to_columns(gpd.GeoSeries(middle, crs=crs))
    rank = pd.Series(owner).groupby(owner).cumcount().to_numpy() + 1
    frame = pd.DataFrame({
        "stretch_id": pd.Series([f"{n}-{r:02d}" for n, r in zip(names, rank)], dtype=object),
        "street_name": pd.Series(names, dtype=object), "street_chief": pd.Series(chiefs, dtype=object),
        "length_m": np.asarray(length, float), **walk})
    geometry = gpd.GeoSeries(lines, crs=crs).to_crs(STORAGE_CRS).values
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=STORAGE_CRS)


def _chiefs(streets: pd.DataFrame) -> np.ndarray:
    if "street_chief" not in streets.columns:
        return np.full(len(streets), "", dtype=object)
    return streets["street_chief"].to_numpy(dtype=object)


# ---------------------------------------------------------------------------------------------------------------
# the tables
# ---------------------------------------------------------------------------------------------------------------


def street_tables(streets: gpd.GeoDataFrame, segs: _Segments, merged: _Intervals | None, crs: pyproj.CRS, *,
                  min_m: float, known: bool) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """The streets (EPSG:4326, input rows plus :data:`STREET_COLUMNS`), the dead stretches and the chiefs'
    roll-up. Unknown coverage (`known` False): every figure but the length NaN/NA, no stretches."""
    out = streets.to_crs(STORAGE_CRS)
    if "street_chief" not in out.columns:
        out["street_chief"] = ""
    length = np.bincount(segs.street, segs.length, minlength=segs.count).astype(float)
    merged = merged if merged is not None and known else _Intervals.empty()
    if not known:
        stretches, _ = dead_stretches(out, segs, _Intervals.empty(), crs, np.inf)
        nan = np.full(len(length), np.nan)
        out["length_m"], out["covered_m"], out["coverage_ratio"] = length, nan, nan.copy()
        out["dead_stretches"] = pd.array([pd.NA] * len(length), dtype="Int64")
    else:
        covered = np.bincount(segs.street[merged.seg], (merged.t1 - merged.t0) * segs.length[merged.seg],
                              minlength=segs.count).astype(float)
        stretches, counts = dead_stretches(out, segs, merged, crs, min_m)
        out["length_m"], out["covered_m"] = length, np.minimum(covered, length)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["coverage_ratio"] = np.where(length > 0, np.clip(covered / length, 0.0, 1.0), np.nan)
        out["dead_stretches"] = pd.array(counts, dtype="Int64")
    return out, stretches, chief_rollup(out)


def chief_rollup(streets: pd.DataFrame) -> pd.DataFrame:
    """Sums per ``street_chief``; a sum over any unknown street is unknown (NaN/NA)."""
    columns = ["length_m", "covered_m", "dead_stretches"]
    plain = pd.DataFrame({"street_chief": streets["street_chief"], **{c: streets[c] for c in columns}})
    groups = plain.groupby("street_chief", sort=True, dropna=False)
    sums = groups[columns].sum()
    size = groups.size()
    unknown = groups[["covered_m", "dead_stretches"]].count().lt(size, axis=0)
    sums[["covered_m", "dead_stretches"]] = sums[["covered_m", "dead_stretches"]].mask(unknown)
    sums.insert(0, "streets", size)
    length, covered = sums["length_m"].to_numpy(float), sums["covered_m"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sums.insert(3, "coverage_ratio", np.where(length > 0, np.clip(covered / length, 0.0, 1.0), np.nan))
    sums["dead_stretches"] = sums["dead_stretches"].astype("Int64")
    return pd.DataFrame(sums.reset_index())[list(STREET_CHIEF_COLUMNS)]


def area_rollup(grids: pd.DataFrame, areas: pd.DataFrame | None) -> pd.DataFrame:
    """Per ``area_code`` of the grids the same sums as ``by_community`` (area-weighted ratio), with the area's
    ``name`` and ``leader`` from `areas` (NaN without); empty with :data:`AREA_COLUMNS` when grids have no
    ``area_code``."""
    if "area_code" not in grids.columns:
        empty = {c: pd.Series([], dtype=object if c in ("area_code", "name", "leader") else float)
                 for c in AREA_COLUMNS}
        return pd.DataFrame(empty)
    table = _rollup(grids, "area_code")
    info = pd.DataFrame(areas).drop_duplicates("area_code") if areas is not None and "area_code" in areas.columns \
        else pd.DataFrame({"area_code": pd.Series([], dtype=object)})
    for column in ("name", "leader"):
        if column in info.columns:
            named = table["area_code"].map(info.set_index("area_code")[column]).astype(object).to_numpy()
        else:  # no areas given (or no such column): NaN for every area, as a lookup in nothing gives
            named = np.full(len(table), np.nan, dtype=object)
        table.insert(1 if column == "name" else 2, column, named)
    return pd.DataFrame(table[list(AREA_COLUMNS)])
