"""Sweep coverage of a dask-geopandas frame or a GeoParquet archive, on whatever Dask scheduler is active.

The graph (the steps are in :mod:`~gridmap.analysis._coverage_pieces`): one task per partition (a day of
the archive, or a partition of the frame) gives its path pieces tagged by group of grids, its inspectors' ends,
its counts and its targets' visits; one small task joins the ends across partitions; the pieces are shuffled
on their group (:meth:`dask.dataframe.DataFrame.shuffle`: on a distributed cluster the disk-backed P2P
shuffle), and one task per shuffled partition covers the regions of its groups. Only small things come back
to the caller: per region its covered area and unreached ground, the counts, one visit row per target,
inspector and partition.

What a worker holds at once is one partition's fixes and pieces (a day of the archive, or a slice of a busy
day's time holding about :data:`gridmap.archive.SLICE_ROWS` fixes), or one shuffled partition of
pieces (all the pieces divided by the number of partitions, each piece once per group whose box it meets),
plus the raster of one grid (at most ``_MAX_CELLS`` cells).
"""

from __future__ import annotations

import logging
import operator
import os
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.analysis._coverage_figures import _Measured, _polygon_targets, _Run, _share
from gridmap.analysis._coverage_streets import _Intervals, _Segments, merge_intervals
from gridmap.analysis._coverage_pieces import (
    PART_COUNTS,
    _cover_groups,
    _day_part,
    _frame_part,
    _join_ends,
    _Plan,
    _plan,
)
from gridmap.archive import SLICE_ROWS, archive_files, day_slices
from gridmap.errors import GridmapError, SchemaError
from gridmap.model import STORAGE_CRS

logger = logging.getLogger("gridmap.analysis.coverage")  # the public module's logger: one name to configure


def partitioned_run(grid_geoms: np.ndarray, tracks: Any, target_geoms: np.ndarray | None, crs: pyproj.CRS,
                    window: tuple[pd.Timestamp | None, pd.Timestamp | None], *, radius: float, cell: float,
                    max_gap_s: float, max_speed_mps: float, progress: bool,
                    street_segs: _Segments | None = None) -> _Run:
    """The grids' and polygon targets' cover, counts and visits from a partitioned `tracks`; with `street_segs`,
    the streets' covered intervals of every partition's pieces and of the joins between them, united at the end
    (the in-memory union of the same pieces)."""
    try:
        import dask  # deferred: Dask is an optional extra
        import dask.dataframe as dd  # deferred: Dask is an optional extra
    except ImportError:
        raise GridmapError("coverage of an archive or a Dask frame needs Dask: pip install 'gridmap[dask]'") from None
    polygons = _polygon_targets(target_geoms) if target_geoms is not None else np.empty(0, np.int64)
    plan = _plan(grid_geoms, target_geoms, polygons, crs, window, radius=radius, cell=cell, max_gap_s=max_gap_s,
                 max_speed_mps=max_speed_mps)
    plan.streets = street_segs
    shared = dask.delayed(plan, pure=True)
    parts = _partitions(tracks, plan, shared, reach=radius + max_gap_s * max_speed_mps)
    joined = dask.delayed(_join_ends, pure=True)([dask.delayed(operator.getitem)(p, 1) for p in parts], shared)
    pieces = dd.from_delayed([dask.delayed(operator.getitem)(p, 0) for p in parts]
                             + [dask.delayed(operator.getitem)(joined, 0)], meta=_piece_meta(), verify_meta=False)
    shuffled = pieces.shuffle(on="group", npartitions=len(parts) + 1)
    covers = [dask.delayed(_cover_groups, pure=True)(d, shared) for d in shuffled.to_delayed()]
    counts = [dask.delayed(operator.getitem)(p, 2) for p in parts]
    visits = [dask.delayed(operator.getitem)(p, 3) for p in parts]
    streets = dask.delayed(_united, pure=True)([dask.delayed(operator.getitem)(p, 4) for p in parts]
                                               + [dask.delayed(operator.getitem)(joined, 2)])
    out = _compute([*covers, *counts, *visits, dask.delayed(operator.getitem)(joined, 1), streets], progress)
    cover_frames, count_dicts = out[:len(covers)], out[len(covers):len(covers) + len(counts)]
    visit_frames, join_counts = out[len(covers) + len(counts):-2], out[-2]
    run = _result(plan, polygons, cover_frames, [*count_dicts, join_counts], visit_frames)
    run.streets = out[-1]
    return run


def _united(found: list[_Intervals | None]) -> _Intervals | None:
    """The partitions' street intervals united per segment (None without streets)."""
    real = [f for f in found if f is not None]
    return merge_intervals(_Intervals.concat(real)) if real else None


def _partitions(tracks: Any, plan: _Plan, shared: Any, *, reach: float) -> list[Any]:
    """One delayed task per partition: a day's file of the archive, or a partition of the frame."""
    import dask  # deferred: Dask is an optional extra

    if not isinstance(tracks, (str, os.PathLike)):
        return [dask.delayed(_frame_part, pure=True)(d, shared) for d in tracks.to_delayed()]
    start, end = plan.window
    files = archive_files(tracks, layer="tracks", start=start, end=end)
    if not files:
        raise SchemaError(f"{tracks} holds no day of tracks in the window: archive it first (gridmap archive"
                          f" WORKSPACE {tracks} --layer tracks --from DAY --to DAY) or check --from/--to")
    box = _archive_box(_street_lines(plan), plan.crs, reach)
    logger.info("coverage from %d day(s) of %s, fixes within %.0f m of the grids", len(files), tracks, reach)
    slices = [(f, window) for f in files for window in day_slices(f, start=start, end=end, max_rows=SLICE_ROWS)]
    if len(slices) > len(files):
        logger.info("%d day(s) read in %d slices of time of at most about %d fixes", len(files), len(slices),
                    SLICE_ROWS)
    return [dask.delayed(_day_part, pure=True)(f, shared, box, window) for f, window in slices]


def _street_lines(plan: _Plan) -> np.ndarray:
    """The grids, and the streets' segments when street coverage is asked for: fixes near either are read."""
    if plan.streets is None or len(plan.streets.p) == 0:
        return plan.grid_geoms
    segments = shapely.linestrings(np.stack([plan.streets.p, plan.streets.q], axis=1))
    return np.concatenate([plan.grid_geoms, np.asarray(segments, dtype=object)])


def _archive_box(grid_geoms: np.ndarray, crs: pyproj.CRS, reach: float) -> tuple[float, float, float, float] | None:
    """The grids' box grown by `reach` metres, in EPSG:4326 (None when the grids are empty: read everything)."""
    x0, y0, x1, y1 = shapely.total_bounds(grid_geoms)
    if np.isnan(x0):
        return None
    to_wgs84 = pyproj.Transformer.from_crs(crs, pyproj.CRS(STORAGE_CRS), always_xy=True)
    lon0, lat0, lon1, lat1 = to_wgs84.transform_bounds(x0 - reach, y0 - reach, x1 + reach, y1 + reach,
                                                       densify_pts=21)
    return (float(lon0), float(lat0), float(lon1), float(lat1))


def _piece_meta() -> pd.DataFrame:
    return pd.DataFrame({"group": np.empty(0, np.int64), **{c: np.empty(0) for c in ("ax", "ay", "bx", "by")}})


def _compute(tasks: list[Any], progress: bool) -> list[Any]:
    """Compute on the active scheduler: a default distributed Client (its progress bar), else dask.compute."""
    import dask  # deferred: Dask is an optional extra

    client = _default_client()
    if client is not None:
        futures = client.compute(tasks)
        if progress:
            from distributed import progress as show  # deferred: Dask is an optional extra

            show(futures)
        return list(client.gather(futures))
    if progress:
        from dask.diagnostics import ProgressBar  # deferred: Dask is an optional extra

        with ProgressBar():
            return list(dask.compute(*tasks))
    return list(dask.compute(*tasks))


def _default_client() -> Any:
    """The default distributed Client when Dask's scheduler is left to it, else None."""
    import dask  # deferred: Dask is an optional extra

    if dask.config.get("scheduler", None) not in (None, "dask.distributed", "distributed"):
        return None
    try:
        from distributed import default_client  # deferred: Dask is an optional extra

        return default_client()
    except (ImportError, ValueError):
        return None


def _result(plan: _Plan, polygons: np.ndarray, cover_frames: list[pd.DataFrame], count_dicts: list[dict[str, int]],
            visit_frames: list[pd.DataFrame]) -> _Run:
    """The small results gathered: each grid's figures, polygon targets' shares, counts and visits."""
    covers = pd.concat(cover_frames, ignore_index=True).sort_values("region")
    if not np.array_equal(covers["region"].to_numpy(), np.arange(len(plan.regions))):
        raise GridmapError("internal error: a region of the coverage was not computed exactly once")
    n_grids = len(plan.grid_geoms)
    area = np.array([float(shapely.area(r)) for r in plan.regions], dtype=float)
    covered = covers["covered_m2"].to_numpy(float)
    uncovered = list(shapely.from_wkb(covers["uncovered"].to_numpy()[:n_grids]))
    ratio = None
    if plan.target_geoms is not None:
        ratio = np.full(len(plan.target_geoms), np.nan)
        for j, k in enumerate(polygons):
            ratio[k] = _share(covered[n_grids + j], area[n_grids + j])
    stats = {k: sum(d.get(k, 0) for d in count_dicts) for k in PART_COUNTS}
    line_pieces = stats.pop("line_pieces")
    known = stats["fixes_used"] > 0 or line_pieces > 0
    visits = pd.concat(visit_frames, ignore_index=True) if visit_frames else None
    return _Run(_Measured(area[:n_grids], covered[:n_grids], uncovered), stats, known, visits, ratio)
