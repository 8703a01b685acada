"""Counting reports per cell and per time step partition by partition, for reports on Dask.

The machinery behind :func:`gridmap.analysis.hotspot.cell_counts` and the Dask paths of
:func:`~gridmap.analysis.hotspot.hotspots`, :func:`~gridmap.analysis.hotspot.space_time_cube` and
:func:`~gridmap.analysis.hotspot.emerging_hotspots`. Reports come as a dask-geopandas GeoDataFrame or as
an archive directory (its ``reports`` layer, :func:`gridmap.archive.read_archive`: one partition a day).

Each partition is counted on its own with the same rule as in memory (a report counts in the first cell,
in the cells' order, whose closure holds it, in the cells' CRS; see the notes of
:mod:`gridmap.analysis.hotspot`), giving a vector of counts (or a cells × steps array); the vectors are
added up in a tree (:func:`tree_sum`), so no step ever holds more than one partition's rows and a few count
vectors. Counts are integers, so the sum equals the in-memory count exactly. Whatever Dask scheduler is
active (a default ``distributed.Client``, or dask.config) computes them (``dask.compute``).
"""

from __future__ import annotations

import copy
import json
import logging
from os import PathLike
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyproj

from gridmap.analysis._hotspot_cells import _assign, _report_points
from gridmap.analysis._hotspot_emerging import _period_start, _times
from gridmap.errors import SchemaError

logger = logging.getLogger("gridmap.analysis.hotspot")  # the public module's logger: one name to configure

#: Partial results added together per task of the tree reduction.
FAN_IN = 8
_REPORTS = "reports"


# ----------------------------------------------------------------------------------------------- input


def is_partitioned(data: Any) -> bool:
    """True for a dask(-geopandas) frame or an archive directory (str / os.PathLike), without importing Dask.

    Examples
    --------
    >>> import geopandas as gpd
    >>> is_partitioned("archive"), is_partitioned(gpd.GeoDataFrame())
    (True, False)
    """
    if isinstance(data, (str, PathLike)):
        return True
    return hasattr(data, "npartitions") and hasattr(data, "to_delayed")


def partitioned_frame(data: Any, *, layer: str = _REPORTS) -> Any:
    """`data` itself (a Dask frame), or the days of `layer` of the archive directory `data` (:class:`ArchiveDays`)."""
    if isinstance(data, (str, PathLike)):
        return ArchiveDays(data, layer=layer)
    return data


class ArchiveDays:
    """The days of a layer of an archive as partitions, each reading only the columns asked for.

    Duck-types the little of a dask-geopandas frame the partition-wise passes use: ``columns``, ``crs``,
    ``geometry.name``, ``npartitions``, ``frame[columns]`` and ``to_delayed()``. Reading a day's file
    directly (rather than :func:`gridmap.archive.read_archive`'s whole rows) leaves the other columns on disk.
    """

    def __init__(self, directory: str | PathLike[str], *, layer: str = _REPORTS,
                 columns: list[str] | None = None) -> None:
        import pyarrow.parquet as pq  # deferred: pyarrow comes with the Dask extra

        from gridmap.archive import archive_day_files

        self.directory, self.layer = directory, layer
        self.paths = [str(p) for p in archive_day_files(directory, layer)]
        if not self.paths:
            raise SchemaError(f"{directory} holds no day of {layer}: archive it first "
                              f"(gridmap archive WORKSPACE {directory} --layer {layer} --from DAY --to DAY)")
        schema = pq.read_schema(self.paths[0])
        geo = json.loads(schema.metadata[b"geo"])
        self.geometry = SimpleNamespace(name=geo["primary_column"])
        crs = geo["columns"][self.geometry.name].get("crs")
        self.crs = pyproj.CRS.from_json_dict(crs) if crs else pyproj.CRS.from_user_input("OGC:CRS84")
        self.columns = [c for c in schema.names if c != "bbox"] if columns is None else list(columns)
        self.npartitions = len(self.paths)

    def __getitem__(self, columns: list[str]) -> ArchiveDays:
        out = copy.copy(self)
        out.columns = [c for c in self.columns if c in columns]
        return out

    def to_delayed(self) -> list[Any]:
        """One delayed GeoDataFrame a day, of the chosen columns."""
        import dask  # deferred: Dask is an optional extra

        return [dask.delayed(read_day_columns, pure=True)(path, self.columns) for path in self.paths]


def read_day_columns(path: str, columns: list[str]) -> Any:
    """A day's file of an archive, only `columns`."""
    import geopandas as gpd

    return gpd.read_parquet(path, columns=columns)


def partitions(frame: Any, columns: list[str] | None = None) -> list[Any]:
    """One dask.delayed GeoDataFrame per partition of `frame` (only `columns` and the geometry when given)."""
    if columns is not None:
        keep = [c for c in frame.columns if c in columns or c == frame.geometry.name]
        frame = frame[keep]
    return list(frame.to_delayed())


def tree_sum(parts: list[Any], fan_in: int = FAN_IN, combine: Any = None) -> Any:
    """Add up delayed partial results (arrays, or tuples of them) in a tree of `fan_in` per task.

    `combine` (default :func:`add_parts`) joins the results of up to `fan_in` tasks into one.
    """
    import dask  # deferred: Dask is an optional extra

    if not parts:
        raise SchemaError("the input has no partition: give at least one day of reports")
    join = add_parts if combine is None else combine
    level = list(parts)
    while len(level) > 1:
        level = [dask.delayed(join, pure=True)(*level[i:i + fan_in]) for i in range(0, len(level), fan_in)]
    return level[0]


def add_parts(*parts: Any) -> Any:
    """Element-wise sum of partial results: arrays, or tuples of arrays (and numbers) of one layout."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(add_parts(*items) for items in zip(*parts))
    total = first.copy() if isinstance(first, np.ndarray) else first
    for part in parts[1:]:
        total = total + part
    return total


def compute(*values: Any) -> tuple[Any, ...]:
    """``dask.compute`` with the active scheduler."""
    import dask  # deferred: Dask is an optional extra

    return tuple(dask.compute(*values))


def shared(value: Any) -> Any:
    """`value` as one delayed node, sent once to each worker rather than embedded in every task."""
    import dask  # deferred: Dask is an optional extra

    return dask.delayed(value, pure=True)


# ----------------------------------------------------------------------------------------------- per cell


def count_partition(part: Any, geoms: np.ndarray, crs: Any) -> np.ndarray:
    """Counts of one partition's reports per cell, then the reports in no cell and those without a location.

    The same rule as the in-memory count (first cell whose closure holds the report, in the cells' CRS).
    """
    n = len(geoms)
    out = np.zeros(n + 2, dtype=np.int64)
    if len(part) == 0:
        return out
    points, has = _report_points(part, pyproj.CRS.from_user_input(crs))
    where = _assign(points, geoms)
    inside = where >= 0
    out[:n] = np.bincount(where[inside], minlength=n)
    out[n] = int((~inside).sum())
    out[n + 1] = int((~has).sum())
    return out


def partitioned_counts(reports: Any, geoms: np.ndarray, crs: Any) -> tuple[np.ndarray, int, int]:
    """Counts per cell of partitioned reports, the reports in no cell and those without a location."""
    import dask  # deferred: Dask is an optional extra

    frame = partitioned_frame(reports)
    _check_frame(frame)
    cells = shared(geoms)
    parts = [dask.delayed(count_partition, pure=True)(p, cells, crs.to_wkt()) for p in partitions(frame, [])]
    (total,) = compute(tree_sum(parts))
    n = len(geoms)
    logger.info("counted %d partition(s) of reports into %d cells", len(parts), n)
    return total[:n].astype(np.int64), int(total[n]), int(total[n + 1])


def _check_frame(frame: Any) -> None:
    if getattr(frame, "crs", None) is None:
        from gridmap.errors import CRSError

        raise CRSError("the reports have no CRS: set it on the Dask frame (frame.set_crs('EPSG:4326'))")


# ----------------------------------------------------------------------------------------------- per time step


def time_range_partition(part: Any) -> np.ndarray:
    """Earliest and latest report time of a partition (int64 ns since the epoch; a huge/tiny value when none)."""
    times = _times(part)
    timed = times.dropna()
    if len(timed) == 0:
        return np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min], dtype=np.int64)
    return np.array([timed.min().value, timed.max().value], dtype=np.int64)


def partitioned_time_range(reports: Any) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Earliest and latest report time of partitioned reports (Asia/Shanghai), None when no report has one."""
    import dask  # deferred: Dask is an optional extra

    frame = partitioned_frame(reports)
    _require_time(frame)
    parts = [dask.delayed(time_range_partition, pure=True)(p) for p in partitions(frame, ["reported_at"])]
    ranges = compute(*parts)
    lo = min(int(r[0]) for r in ranges)
    hi = max(int(r[1]) for r in ranges)
    if lo > hi:
        return None
    return (pd.Timestamp(lo, tz="UTC").tz_convert(_zone()), pd.Timestamp(hi, tz="UTC").tz_convert(_zone()))


def _zone() -> str:
    from gridmap.model import DEFAULT_TZ

    return str(DEFAULT_TZ)


def _require_time(frame: Any) -> None:
    if "reported_at" not in frame.columns:
        raise SchemaError("reports need a 'reported_at' column of times for the space-time analysis")


def cube_counts(reports: Any, geoms: np.ndarray, crs: Any, steps: list[pd.Timestamp], interval: str) -> np.ndarray:
    """Counts per cell and step (cells × steps, int64) of an in-memory frame of reports, as in memory.

    Reports without a time or location, in no cell or outside the steps are left out.
    """
    n, t = len(geoms), len(steps)
    if len(reports) == 0:
        return np.zeros((n, t), dtype=np.int64)
    times = _times(reports)
    timed = times.notna().to_numpy()
    points, has = _report_points(reports, pyproj.CRS.from_user_input(crs))
    ok = timed[has]
    if not ok.any():
        return np.zeros((n, t), dtype=np.int64)
    pos = np.full(len(points), -1, dtype=np.int64)
    pos[ok] = _assign(points[ok], geoms)
    period = np.full(len(points), -1, dtype=np.int64)
    period_start = _period_start(pd.Series(times[has][ok].to_numpy()), interval)
    period[ok] = pd.Index(steps).get_indexer(period_start)
    within = ok & (pos >= 0) & (period >= 0)
    flat = np.bincount(pos[within] * t + period[within], minlength=n * t)
    return flat.reshape(n, t).astype(np.int64)


def partitioned_cube(reports: Any, geoms: np.ndarray, crs: Any, steps: list[pd.Timestamp],
                     interval: str) -> np.ndarray:
    """Counts per cell and step of partitioned reports: each partition binned on its own, then added up."""
    import dask  # deferred: Dask is an optional extra

    frame = partitioned_frame(reports)
    _check_frame(frame)
    _require_time(frame)
    cells = shared(geoms)
    parts = [dask.delayed(cube_counts, pure=True)(p, cells, crs.to_wkt(), steps, interval)
             for p in partitions(frame, ["reported_at"])]
    (total,) = compute(tree_sum(parts))
    return np.asarray(total, dtype=np.int64)
