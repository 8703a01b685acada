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
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.analysis._hotspot_cells import _assign, _report_points
from gridmap.analysis._hotspot_emerging import _period_start, _times
from gridmap.archive import archive_day_files, open_day
from gridmap.crs import metric_crs, transformer
from gridmap.errors import CRSError, SchemaError
from gridmap.model import DEFAULT_TZ

logger = logging.getLogger("gridmap.analysis.hotspot")  # the public module's logger: one name to configure

#: Partial results added together per task of the tree reduction.
FAN_IN = 8
#: Rows of an archive's day counted by one task (a day is cut at its row groups: counting needs no order).
COUNT_ROWS = 500_000
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

        self.directory, self.layer = directory, layer
        self.paths = [str(p) for p in archive_day_files(directory, layer)]
        if not self.paths:
            raise SchemaError(f"{directory} holds no day of {layer}: archive it first "
                              f"(gridmap archive WORKSPACE {directory} --layer {layer} --from DAY --to DAY)")
        schema = open_day(self.paths[0]).schema_arrow
        geo = json.loads(schema.metadata[b"geo"])
        self.geometry = SimpleNamespace(name=geo["primary_column"])
        crs = geo["columns"][self.geometry.name].get("crs")
        self.crs = pyproj.CRS.from_json_dict(crs) if crs else pyproj.CRS.from_user_input("OGC:CRS84")
        self.columns = [c for c in schema.names if c != "bbox"] if columns is None else list(columns)
        self.npartitions = len(self.paths)

    def between(self, first: pd.Timestamp, end: pd.Timestamp) -> ArchiveDays:
        """Only the days (Asia/Shanghai dates, as the folders are named) from `first` to before `end`."""
        lo, hi = first.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d")
        out = copy.copy(self)
        out.paths = [p for p in self.paths if lo <= Path(p).parent.name[5:] < hi]
        out.npartitions = len(out.paths)
        return out

    def __getitem__(self, columns: list[str]) -> ArchiveDays:
        out = copy.copy(self)
        out.columns = [c for c in self.columns if c in columns]
        return out

    def to_delayed(self) -> list[Any]:
        """One delayed GeoDataFrame a day, of the chosen columns."""
        import dask  # deferred: Dask is an optional extra

        return [dask.delayed(ArchiveDays.read, pure=True)(path, self.columns) for path in self.paths]

    @staticmethod
    def read(path: str, columns: list[str], row_groups: list[int] | None = None) -> Any:
        """A day's file of an archive (or its `row_groups`), only `columns`."""
        if row_groups is None:
            return gpd.read_parquet(path, columns=columns)
        table = _read_columns(path, columns, row_groups)
        geo = json.loads(table.schema.metadata[b"geo"])
        name = geo["primary_column"]
        crs = geo["columns"][name].get("crs")
        geometry = gpd.GeoSeries.from_wkb(table.column(name).to_numpy(zero_copy_only=False),
                                          crs=pyproj.CRS.from_json_dict(crs) if crs else "OGC:CRS84")
        return gpd.GeoDataFrame(table.drop_columns([name]).to_pandas(), geometry=geometry.rename(name))


def _read_columns(path: str, columns: list[str], row_groups: list[int] | None) -> Any:
    """`columns` of a Parquet file, or of its `row_groups` only, as a pyarrow Table (with the file's metadata); a
    broken file is :func:`gridmap.archive.open_day`'s ReadError either way."""
    day = open_day(path)
    return day.read(columns=columns) if row_groups is None else day.read_row_groups(row_groups, columns=columns)


def row_group_chunks(path: str, max_rows: int = COUNT_ROWS) -> list[list[int] | None]:
    """The row groups of a file in consecutive runs of at most about `max_rows` rows ([None]: the whole file).

    Counting needs no order, so a day's file is counted in such chunks: tasks small enough to share out evenly
    among the workers (seven days over two workers would leave one idle an eighth of the time).
    """

    meta = open_day(path).metadata
    if meta.num_rows <= max_rows:
        return [None]
    chunks: list[list[int]] = [[]]
    rows = 0
    for group in range(meta.num_row_groups):
        size = meta.row_group(group).num_rows
        if chunks[-1] and rows + size > max_rows:
            chunks.append([])
            rows = 0
        chunks[-1].append(group)
        rows += size
    return list(chunks)


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
    """`value` as one node of the graph for every task that needs it (not copied into each task).

    Under a ``distributed`` client it is scattered to every worker beforehand (cells can be megabytes);
    with the local schedulers it is one delayed node.
    """
    import dask  # deferred: Dask is an optional extra
    from dask.base import get_scheduler  # deferred: as above

    if value is None:
        return None
    client = getattr(get_scheduler(), "__self__", None)
    if client is not None and hasattr(client, "scatter"):
        return client.scatter(value, broadcast=True, hash=False)
    return dask.delayed(value, pure=True)


# ----------------------------------------------------------------------------------------------- lattices

#: Corners of lattice squares may miss the lattice by this share of the side (a round trip through degrees).
_LATTICE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Lattice:
    """Cells that are the squares of one lattice in a metric CRS (as :func:`~gridmap.analysis.hotspot.fishnet`
    makes them), meeting only along identical edges and corners in their own CRS."""

    metric: pyproj.CRS
    size: float
    origin: tuple[float, float]  # the lattice's corner (metric): squares are origin + size * (col, row)
    col0: int
    row0: int
    table: np.ndarray  # rows (south first) x columns: the first cell on each square, -1 for none

    def candidates(self, x: np.ndarray, y: np.ndarray, crs: Any) -> np.ndarray:
        """The cell each point's metric coordinates fall in (-1 for none): to be confirmed by a predicate."""
        mx, my = transformer(crs, self.metric).transform(x, y)
        col = np.floor((np.asarray(mx, dtype=np.float64) - self.origin[0]) / self.size) - self.col0
        row = np.floor((np.asarray(my, dtype=np.float64) - self.origin[1]) / self.size) - self.row0
        rows, cols = self.table.shape
        ok = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (row >= 0) & (col < cols) & (row < rows)
        out = np.full(len(x), -1, dtype=np.int64)
        out[ok] = self.table[row[ok].astype(np.int64), col[ok].astype(np.int64)]
        return out


def find_lattice(geoms: np.ndarray, crs: Any) -> Lattice | None:
    """The lattice of the cells when they are squares of one (see :class:`Lattice`), else None."""
    found = _square_corners(geoms, pyproj.CRS.from_user_input(crs))
    if found is None:
        return None
    metric, size, origin, col, row, corners = found
    col0, row0 = int(col.min()), int(row.min())
    shape = (int(row.max()) - row0 + 1, int(col.max()) - col0 + 1)
    if shape[0] * shape[1] > 4 * len(geoms) + 1_000_000:
        return None
    table = np.full(shape, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(table, (row - row0, col - col0), np.arange(len(geoms)))
    table[table == np.iinfo(np.int64).max] = -1
    if not _corners_shared(table, corners):
        return None
    return Lattice(metric, size, origin, col0, row0, table)


_Squares = tuple[Any, float, tuple[float, float], np.ndarray, np.ndarray, np.ndarray]


def _square_corners(geoms: np.ndarray, crs: pyproj.CRS) -> _Squares | None:
    """Metric CRS, side, origin, lattice column and row of each cell, and its corners in its own CRS (SW, SE, NW,
    NE). The lattice starts at the cells' south-west corner (a fishnet starts at its area's, not at 0)."""
    if not ((shapely.get_type_id(geoms) == 3).all() and (shapely.get_num_interior_rings(geoms) == 0).all()
            and (shapely.get_num_coordinates(geoms) == 5).all() and shapely.is_valid(geoms).all()):
        return None
    series = gpd.GeoSeries(geoms, crs=crs)
    metric = metric_crs(series) if crs.is_geographic else crs
    own = shapely.get_coordinates(geoms).reshape(-1, 5, 2)[:, :4]
    m = shapely.get_coordinates(series.to_crs(metric).values).reshape(-1, 5, 2)[:, :4]
    size = float(np.median(m[..., 0].max(axis=1) - m[..., 0].min(axis=1)))
    if not (np.isfinite(size) and size > 0):
        return None
    x0, y0 = float(m[..., 0].min()), float(m[..., 1].min())
    grid = (m - np.array([x0, y0])) / size
    index = np.round(grid)
    if np.abs(grid - index).max() > _LATTICE_TOLERANCE:
        return None
    col, row = index[..., 0].min(axis=1), index[..., 1].min(axis=1)
    code = (index[..., 0] - col[:, None]) + 2 * (index[..., 1] - row[:, None])
    if not (np.sort(code, axis=1) == np.arange(4)).all():
        return None
    corners = np.empty_like(own)
    corners[np.arange(len(own))[:, None], code.astype(np.int64)] = own
    return metric, size, (x0, y0), col.astype(np.int64), row.astype(np.int64), corners


def _corners_shared(table: np.ndarray, corners: np.ndarray) -> bool:
    """Neighbouring squares' cells share identical corners (SW 0, SE 1, NW 2, NE 3): their interiors are apart."""
    pairs = [((slice(None), slice(None, -1)), (slice(None), slice(1, None)), [(1, 0), (3, 2)]),  # east
             ((slice(None, -1), slice(None)), (slice(1, None), slice(None)), [(2, 0), (3, 1)]),  # north
             ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None)), [(3, 0)]),  # north-east
             ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1)), [(2, 1)])]  # north-west
    for here, there, shared in pairs:
        a, b = table[here].ravel(), table[there].ravel()
        both = (a >= 0) & (b >= 0)
        for i, j in shared:
            if not (corners[a[both], i] == corners[b[both], j]).all():
                return False
    return True


# ----------------------------------------------------------------------------------------------- per cell


def count_partition(part: Any, geoms: np.ndarray, crs: Any, lattice: Lattice | None = None) -> np.ndarray:
    """Counts of one partition's reports per cell, then the reports in no cell and those without a location.

    The same rule as the in-memory count (first cell whose closure holds the report, in the cells' CRS).
    """
    if len(part) == 0:
        return np.zeros(len(geoms) + 2, dtype=np.int64)
    points, has = _report_points(part, pyproj.CRS.from_user_input(crs))
    xy = shapely.get_coordinates(points)
    return count_xy(xy[:, 0], xy[:, 1], int((~has).sum()), geoms, crs, lattice)


def count_xy(x: np.ndarray, y: np.ndarray, missing: int, geoms: np.ndarray, crs: Any,
             lattice: Lattice | None) -> np.ndarray:
    """Counts per cell of points at (x, y) in the cells' CRS, then the points in no cell, then `missing`.

    On a lattice, a point inside (not on the boundary of) the cell its metric coordinates point to is in no
    other cell's closure (the lattice's cells meet only along identical edges), so it counts there; every
    other point is located with the STRtree as in memory.
    """
    n = len(geoms)
    where = np.full(len(x), -1, dtype=np.int64)
    rest = np.ones(len(x), dtype=bool)
    if lattice is not None and len(x):
        cand = lattice.candidates(x, y, crs)
        known = cand >= 0
        hit = np.zeros(len(x), dtype=bool)
        hit[known] = shapely.contains_xy(geoms[cand[known]], x[known], y[known])
        where[hit] = cand[hit]
        rest = ~hit
    if rest.any():
        where[rest] = _assign(shapely.points(x[rest], y[rest]), geoms)
    inside = where >= 0
    out = np.zeros(n + 2, dtype=np.int64)
    out[:n] = np.bincount(where[inside], minlength=n)
    out[n], out[n + 1] = int((~inside).sum()), missing
    return out


def count_day(path: str, geometry: str, source: Any, geoms: np.ndarray, crs: Any,
              lattice: Lattice | None, row_groups: list[int] | None = None) -> np.ndarray:
    """Counts of a day's file of an archive (or of its `row_groups`), its points' coordinates read straight off
    their WKB when it can."""
    xy = read_points_xy(path, geometry, row_groups)
    target = pyproj.CRS.from_user_input(crs)
    if xy is None:
        return count_partition(ArchiveDays.read(path, [geometry], row_groups), geoms, crs, lattice)
    x, y, missing = xy
    src = pyproj.CRS.from_user_input(source)
    if not src.is_exact_same(target):  # as geopandas' to_crs
        x, y = transformer(src, target).transform(x, y)
    return count_xy(np.asarray(x), np.asarray(y), missing, geoms, crs, lattice)


def read_points_xy(path: str, geometry: str,
                   row_groups: list[int] | None = None) -> tuple[np.ndarray, np.ndarray, int] | None:
    """x, y of the points of a GeoParquet file (or of its `row_groups`) and the rows without one; None unless every
    geometry is missing or a non-empty 2-D point in little-endian WKB (21 bytes): then the coordinates are those
    bytes, bit for bit."""
    import pyarrow as pa  # deferred: pyarrow comes with the Dask extra

    column = _read_columns(path, [geometry], row_groups).column(geometry).combine_chunks()
    if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        return None
    width = np.int64 if pa.types.is_large_binary(column.type) else np.int32
    offsets = np.frombuffer(column.buffers()[1], dtype=width)[column.offset:column.offset + len(column) + 1]
    lengths = np.diff(offsets)
    valid = lengths > 0  # a null has no bytes; an empty point still has 21
    if not (lengths[valid] == 21).all():
        return None
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8) if len(column) else np.zeros(0, np.uint8)
    rows = data[offsets[:-1][valid].astype(np.int64)[:, None] + np.arange(21)[None, :]]
    kind = np.ascontiguousarray(rows[:, 1:5]).view("<u4").ravel()
    xy = np.ascontiguousarray(rows[:, 5:21]).view("<f8")
    if not ((rows[:, 0] == 1).all() and (kind == 1).all()) or np.isnan(xy).any():
        return None
    return xy[:, 0].copy(), xy[:, 1].copy(), int((~valid).sum())


def partitioned_counts(reports: Any, geoms: np.ndarray, crs: Any) -> tuple[np.ndarray, int, int]:
    """Counts per cell of partitioned reports, the reports in no cell and those without a location."""
    import dask  # deferred: Dask is an optional extra

    frame = partitioned_frame(reports)
    _check_frame(frame)
    found = find_lattice(geoms, crs)
    cells, lattice = shared(geoms), shared(found)
    if isinstance(frame, ArchiveDays):
        parts = [dask.delayed(count_day, pure=True)(path, frame.geometry.name, frame.crs, cells, crs, lattice, chunk)
                 for path in frame.paths for chunk in row_group_chunks(path, COUNT_ROWS)]
    else:
        parts = [dask.delayed(count_partition, pure=True)(p, cells, crs, lattice) for p in partitions(frame, [])]
    (total,) = compute(tree_sum(parts))
    n = len(geoms)
    logger.info("counted %d partition(s) of reports into %d cells%s", len(parts), n,
                " (a lattice: cells found by arithmetic)" if found is not None else "")
    return total[:n].astype(np.int64), int(total[n]), int(total[n + 1])


def _check_frame(frame: Any) -> None:
    if getattr(frame, "crs", None) is None:

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
    """Counts per cell and step of partitioned reports: each partition binned on its own, then added up.

    Of an archive only the days of the steps are read (the others hold no report of them).
    """
    import dask  # deferred: Dask is an optional extra

    frame = partitioned_frame(reports)
    _check_frame(frame)
    _require_time(frame)
    if isinstance(frame, ArchiveDays):
        frame = frame.between(steps[0], _step_after(steps[-1], interval))
    cells = shared(geoms)
    parts = [dask.delayed(_cube_part, pure=True)(p, cells, crs, steps, interval)
             for p in partitions(frame, ["reported_at"])]
    if not parts:
        return np.zeros((len(geoms), len(steps)), dtype=np.int64)
    (total, timed) = compute(tree_sum(parts))[0]
    if not isinstance(frame, ArchiveDays) and int(timed[0]) == 0:  # every archived row has a time
        raise SchemaError("no report has a time ('reported_at'); the space-time cube needs timed reports")
    return np.asarray(total, dtype=np.int64)


def _cube_part(part: Any, geoms: np.ndarray, crs: Any, steps: list[pd.Timestamp],
               interval: str) -> tuple[np.ndarray, np.ndarray]:
    """A partition's cube and its number of timed reports."""
    timed = int(_times(part).notna().sum()) if len(part) else 0
    return cube_counts(part, geoms, crs, steps, interval), np.array([timed], dtype=np.int64)


def _step_after(step: pd.Timestamp, interval: str) -> pd.Timestamp:
    naive = step.tz_localize(None)
    following = naive + (pd.Timedelta(days=7) if interval == "week" else pd.offsets.MonthBegin(1))
    return pd.Timestamp(following).tz_localize(step.tz)
