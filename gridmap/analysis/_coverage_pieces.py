"""Sweep coverage in partitions: what each partition of the fixes gives, joining partitions, each group's cover.

The steps of :func:`gridmap.analysis.coverage.sweep_coverage` on a partitioned input (a dask-geopandas frame or
an archive, :mod:`~gridmap.analysis._coverage_dask` builds the graph); no Dask here, only numpy, shapely and
pandas, so each step is a plain function of small inputs:

1. a partition (a day) filters its fixes as the in-memory run does, joins them into path pieces by the same
   gap and speed rule, and gives (a) its pieces, each tagged with every *group* of grids whose query box
   (:func:`~gridmap.analysis._coverage_raster._query_box`) its box meets; (b) per inspector its first and last
   fix with whether each is already joined inside the partition (its *ends*); (c) its counts; (d) the targets'
   visits, one row per target and inspector at the first and last time;
2. the ends of all partitions, per inspector in time order, are joined across the boundaries by the same rule
   (a path crossing midnight is not broken); an end joined to neither side is an isolated fix (a disc);
3. each group's pieces (from every partition and from step 2) are sorted in the canonical order of
   :func:`~gridmap.analysis._coverage_tracks._canonical` and every region of the group (grids, then polygon
   targets) gets :func:`~gridmap.analysis._coverage_raster._grid_cover` from them: the same pieces in the same
   order as in one process, so the same numbers.

With streets (:mod:`~gridmap.analysis._coverage_streets`), step 1 also gives the street segments' covered
intervals of all the partition's pieces (wherever they lie: street coverage is not per grid) and step 2 those
of the pieces joining partitions; united at the end, they are the in-memory union of the same pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.analysis._coverage_figures import _target_hits
from gridmap.analysis._coverage_raster import _grid_cover, _query_box
from gridmap.analysis._coverage_streets import _Intervals, _Segments, reach_intervals
from gridmap.analysis._coverage_tracks import (
    _box_pairs,
    _canonical,
    _clean_names,
    _filter_fixes,
    _Fixes,
    _line_segments,
    _lines,
    _links,
    _outside_grids,
    _Paths,
    _prepare_fixes,
)
from gridmap.archive import read_archive_points
from gridmap.crs import require_crs
from gridmap.errors import SchemaError
from gridmap.model import DEFAULT_TZ, STORAGE_CRS

#: Regions (grids and polygon targets) per group: adjacent ones along a Hilbert curve share their pieces.
GROUP_REGIONS = 4
#: The counts a partition gives, summed over partitions (the ends' join adds breaks and isolated fixes).
PART_COUNTS = ("fixes_in", "no_position", "no_time", "no_inspector", "outside_window", "duplicates", "fixes_used",
               "breaks_gap", "breaks_speed", "isolated_fixes", "lines", "outside_grids", "line_pieces")
PIECE_COLUMNS = ("group", "ax", "ay", "bx", "by")
END_COLUMNS = ("inspector", "single", "t0", "x0", "y0", "linked0", "t1", "x1", "y1", "linked1")


@dataclass
class _Plan:
    """What every task of a partitioned run needs (sent once)."""

    crs: pyproj.CRS
    window: tuple[pd.Timestamp | None, pd.Timestamp | None]
    radius: float
    cell: float
    max_gap_s: float
    max_speed_mps: float
    grid_geoms: np.ndarray  # metric
    target_geoms: np.ndarray | None  # metric, every target (visits)
    regions: np.ndarray  # grids, then polygon targets
    region_group: np.ndarray  # group of each region
    group_boxes: np.ndarray  # (groups, 4); NaN for a group of empty regions
    streets: _Segments | None = None  # the streets' segments (metric) when street coverage is asked for

    def street_intervals(self, a: np.ndarray, b: np.ndarray) -> _Intervals | None:
        """The streets' covered intervals of the pieces ``a → b`` (None without streets)."""
        return None if self.streets is None else reach_intervals(self.streets, a, b, self.radius)


def _plan(grid_geoms: np.ndarray, target_geoms: np.ndarray | None, polygon_targets: np.ndarray, crs: pyproj.CRS,
          window: tuple[pd.Timestamp | None, pd.Timestamp | None], *, radius: float, cell: float, max_gap_s: float,
          max_speed_mps: float) -> _Plan:
    """The regions (grids, then polygon targets), cut into groups of adjacent ones along a Hilbert curve."""
    extra = target_geoms[polygon_targets] if target_geoms is not None else np.empty(0, dtype=object)
    regions = np.concatenate([grid_geoms, extra]).astype(object)
    boxes = np.array([_query_box(r, radius, cell) or (np.nan,) * 4 for r in regions], dtype=float).reshape(-1, 4)
    order = _hilbert_order(boxes)
    group = np.empty(len(regions), dtype=np.int64)
    group[order] = np.arange(len(regions)) // GROUP_REGIONS
    count = int(group.max()) + 1 if len(group) else 0
    group_boxes = np.full((count, 4), np.nan)
    for g in range(count):
        member = boxes[group == g]
        if not np.isnan(member).all():  # grown by 1 m: a superset is harmless, each region picks its own
            group_boxes[g] = [*(np.nanmin(member[:, :2], axis=0) - 1.0), *(np.nanmax(member[:, 2:], axis=0) + 1.0)]
    return _Plan(crs, window, radius, cell, max_gap_s, max_speed_mps, grid_geoms, target_geoms, regions, group,
                 group_boxes)


def _hilbert_order(boxes: np.ndarray) -> np.ndarray:
    """Positions of the boxes along a Hilbert curve through their centres (empty ones last)."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    known = ~np.isnan(cx)
    if not known.any():
        return np.arange(len(boxes))
    cx, cy = np.where(known, cx, np.nanmin(cx)), np.where(known, cy, np.nanmin(cy))
    distance = gpd.GeoSeries(shapely.points(cx, cy)).hilbert_distance(level=16).to_numpy()
    return np.lexsort((np.arange(len(boxes)), distance, ~known))


# ---------------------------------------------------------------------------------------------------------------
# 1. a partition
# ---------------------------------------------------------------------------------------------------------------


def _frame_part(frame: gpd.GeoDataFrame, plan: _Plan) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int],
                                                               pd.DataFrame, _Intervals | None]:
    """A partition of a (dask-)geopandas frame of tracks: pieces, ends, counts and visits."""
    require_crs(frame, what="tracks (a partition of the Dask frame)")
    stats: dict[str, Any] = {}
    fixes = _prepare_fixes(frame, plan.crs, plan.window, stats)
    return _part(fixes, _lines(frame, plan.crs), plan, stats)


def _day_part(path: str, plan: _Plan, bbox: tuple[float, float, float, float] | None,
              window: tuple[pd.Timestamp | None, pd.Timestamp | None] | None = None) -> tuple[
        pd.DataFrame, pd.DataFrame, dict[str, int], pd.DataFrame, _Intervals | None]:
    """One day's file of an archive, or a slice of its time `window` (read without a geometry object per fix):
    pieces, ends, counts, visits."""
    start, end = plan.window if window is None else window
    rows = read_archive_points(path, columns=("inspector", "time"), start=start, end=end, bbox=bbox)
    types = shapely.get_type_id(rows.geometries)
    if not np.isin(types, (1, 5)).all():
        raise SchemaError(f"tracks hold {int((~np.isin(types, (1, 5))).sum())} geometries that are neither points"
                          " (GPS fixes) nor lines (walked paths); keep only Point or LineString rows")
    point = np.ones(len(rows.x), dtype=bool)
    point[rows.others] = False
    stats: dict[str, Any] = {}
    columns = rows.columns
    xy = np.column_stack([rows.x, rows.y])[point]
    fixes = _filter_fixes(xy, columns["time"][point], columns["inspector"][point], pyproj.CRS(STORAGE_CRS), plan.crs,
                          plan.window, stats)
    lines = np.asarray(gpd.GeoSeries(rows.geometries, crs=STORAGE_CRS).to_crs(plan.crs).values, dtype=object)
    return _part(fixes, (lines, _clean_names(columns["inspector"].iloc[rows.others])), plan, stats)


def _part(fixes: _Fixes, lines: tuple[np.ndarray, np.ndarray], plan: _Plan, stats: dict[str, Any]) -> tuple[
        pd.DataFrame, pd.DataFrame, dict[str, int], pd.DataFrame, _Intervals | None]:
    """Pieces inside the partition (its inspectors' first and last fixes are left to the join of the ends)."""
    xy, t, code = fixes.xy, fixes.t, fixes.code
    joined, gap, jump = _links(xy, t, code, plan.max_gap_s, plan.max_speed_mps)
    linked = np.zeros(len(xy), dtype=bool)
    linked[:-1] |= joined
    linked[1:] |= joined
    change = code[1:] != code[:-1]
    first, last = np.r_[True, change][: len(xy)], np.r_[change, True][: len(xy)]
    alone = ~linked & ~first & ~last
    line_geoms, line_names = lines
    la, lb = _line_segments(line_geoms)
    stats.update(breaks_gap=int(gap.sum()), breaks_speed=int(jump.sum()), isolated_fixes=int(alone.sum()),
                 lines=len(line_geoms), outside_grids=_outside_grids(xy, plan.grid_geoms, plan.radius),
                 line_pieces=len(la))
    a = np.concatenate([xy[:-1][joined], xy[alone], la]).reshape(-1, 2)
    b = np.concatenate([xy[1:][joined], xy[alone], lb]).reshape(-1, 2)
    ends = pd.DataFrame({
        "inspector": fixes.inspector[first], "single": np.flatnonzero(first) == np.flatnonzero(last),
        "t0": t[first], "x0": xy[first, 0], "y0": xy[first, 1], "linked0": linked[first],
        "t1": t[last], "x1": xy[last, 0], "y1": xy[last, 1], "linked1": linked[last]})
    hits = _part_hits(fixes, line_geoms, line_names, plan)
    counts = {k: int(stats[k]) for k in PART_COUNTS}
    return _to_groups(a, b, plan), ends, counts, hits, plan.street_intervals(a, b)


def _to_groups(a: np.ndarray, b: np.ndarray, plan: _Plan) -> pd.DataFrame:
    """Each piece once for every group whose box meets the piece's box."""
    piece, group = _box_pairs(np.minimum(a, b), np.maximum(a, b), plan.group_boxes)
    return _pieces(group, a[piece], b[piece])


def _pieces(group: np.ndarray, a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"group": group.astype(np.int64), "ax": a[:, 0], "ay": a[:, 1], "bx": b[:, 0],
                         "by": b[:, 1]})


def _part_hits(fixes: _Fixes, line_geoms: np.ndarray, line_names: np.ndarray, plan: _Plan) -> pd.DataFrame:
    """The targets' visits of a partition, compacted; only fixes inside a target's box grown by the radius
    (a little more) get a point object to test, by the same query as in one process."""
    if plan.target_geoms is None:
        return _empty_hits()
    grow = plan.radius * (1 + 1e-9) + 1e-6
    boxes = shapely.bounds(plan.target_geoms) + np.array([-grow, -grow, grow, grow])
    near = np.unique(_box_pairs(fixes.xy, fixes.xy, boxes)[0])
    subset = _Fixes(fixes.xy[near], fixes.t[near], fixes.inspector[near], fixes.code[near])
    return _compact_hits(_target_hits(plan.target_geoms, subset, line_geoms, line_names, plan.radius))


def _empty_hits() -> pd.DataFrame:
    return pd.DataFrame({"target": np.empty(0, np.int64),
                         "time": pd.Series([], dtype=f"datetime64[ns, {DEFAULT_TZ}]"),
                         "inspector": np.empty(0, dtype=object)})


def _compact_hits(hits: pd.DataFrame) -> pd.DataFrame:
    """Per target and inspector only the first and the last visit (what the targets' table reports)."""
    if len(hits) == 0:
        return _empty_hits()
    times = hits.groupby(["target", "inspector"], sort=False)["time"]
    return pd.concat([times.min(), times.max()]).reset_index()[["target", "time", "inspector"]]


# ---------------------------------------------------------------------------------------------------------------
# 2. the partitions' ends joined
# ---------------------------------------------------------------------------------------------------------------


def _join_ends(parts: list[pd.DataFrame], plan: _Plan) -> tuple[pd.DataFrame, dict[str, int], _Intervals | None]:
    """Join each inspector's last fix of a partition to the first of the next by the gap and speed rule.

    Raises SchemaError when two partitions of one inspector overlap or touch in time (then one process would
    interleave their fixes, which partitions cannot).
    """
    ends = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) \
        else pd.DataFrame({c: [] for c in END_COLUMNS})
    code, _ = pd.factorize(ends["inspector"].to_numpy(dtype=object))
    order = np.lexsort((ends["t0"].to_numpy(np.int64), code))
    e = {c: ends[c].to_numpy()[order] for c in END_COLUMNS[1:]}
    code = code[order]
    same = code[1:] == code[:-1]
    _refuse_overlap(same & (e["t0"][1:] <= e["t1"][:-1]), e["t0"][1:])
    dt = (e["t0"][1:] - e["t1"][:-1]) / 1e9
    dist = np.hypot(e["x0"][1:] - e["x1"][:-1], e["y0"][1:] - e["y1"][:-1])
    gap = same & (dt > plan.max_gap_s)
    jump = same & ~gap & (dist > plan.max_speed_mps * dt)
    joined = same & ~gap & ~jump
    before, after = np.r_[False, joined], np.r_[joined, False]
    single = e["single"].astype(bool)
    first_alone = ~e["linked0"].astype(bool) & ~before & ~(single & after)
    last_alone = ~e["linked1"].astype(bool) & ~after & ~single
    start, stop = np.column_stack([e["x0"], e["y0"]]), np.column_stack([e["x1"], e["y1"]])
    a = np.concatenate([stop[:-1][joined], start[first_alone], stop[last_alone]]).reshape(-1, 2)
    b = np.concatenate([start[1:][joined], start[first_alone], stop[last_alone]]).reshape(-1, 2)
    counts = {"breaks_gap": int(gap.sum()), "breaks_speed": int(jump.sum()),
              "isolated_fixes": int(first_alone.sum() + last_alone.sum())}
    return pd.concat([_to_groups(a, b, plan), _markers(plan)], ignore_index=True), counts, \
        plan.street_intervals(a, b)


def _refuse_overlap(overlap: np.ndarray, times: np.ndarray) -> None:
    if not overlap.any():
        return
    when = pd.Timestamp(int(times[np.flatnonzero(overlap)[0]]), tz="UTC").tz_convert(DEFAULT_TZ).isoformat()
    raise SchemaError(f"the tracks' partitions overlap in time for one inspector (a partition starting {when} begins"
                      " before another of the same inspector ends): the partitions must not overlap in time per"
                      " inspector; give the archive directory or gridmap.read_archive(...) (one partition a day),"
                      " or cut a frame by time (e.g. dask_geopandas.from_geopandas(frame.sort_values('time'),"
                      " npartitions=N) with no instant of one inspector in two partitions)")


def _markers(plan: _Plan) -> pd.DataFrame:
    """One row without a piece per group, so every group (and each of its regions) gets a task."""
    count = len(plan.group_boxes)
    nan = np.full((count, 2), np.nan)
    return _pieces(np.arange(count), nan, nan)


# ---------------------------------------------------------------------------------------------------------------
# 3. each group's regions
# ---------------------------------------------------------------------------------------------------------------


def _cover_groups(frame: pd.DataFrame, plan: _Plan) -> pd.DataFrame:
    """Every region of the groups in `frame`: covered area and (grids) unreached ground as WKB."""
    n_grids = len(plan.grid_geoms)
    region, covered, uncovered = [], [], []
    empty = np.empty(0, dtype=object)
    for group, rows in frame.groupby("group", sort=True):
        rows = rows[~np.isnan(rows["ax"].to_numpy())]
        a, b = _canonical(rows[["ax", "ay"]].to_numpy(float), rows[["bx", "by"]].to_numpy(float))
        paths = _Paths(a, b, empty, empty, 0)
        for r in np.flatnonzero(plan.region_group == group):
            cover = _grid_cover(plan.regions[r], paths, plan.radius, plan.cell)
            region.append(int(r))
            covered.append(cover.covered_m2)
            uncovered.append(shapely.to_wkb(cover.uncovered_geometry()) if r < n_grids else None)
    return pd.DataFrame({"region": np.asarray(region, dtype=np.int64), "covered_m2": np.asarray(covered, float),
                         "uncovered": pd.Series(uncovered, dtype=object)})
