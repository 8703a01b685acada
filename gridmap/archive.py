"""An archive of GPS fixes or reports in GeoParquet, one folder a day, for reading a window of years of them.

A workspace keeps what an office works on; a city's years of GPS fixes belong in files that any engine
(Dask, DuckDB, Spark, QGIS) reads a part of. :func:`archive_layer` writes a layer of a workspace as
GeoParquet (https://geoparquet.org/releases/v1.1.0/):

* one folder a day, hive style: ``DIR/LAYER/date=YYYY-MM-DD/part-0.parquet`` (the day in Asia/Shanghai,
  as the sweep's days are counted), so a window of days opens only its folders;
* the ``geo`` metadata of GeoParquet 1.1 (WGS84, the geometry's types) with a bounding-box covering
  column ``bbox`` (xmin, ymin, xmax, ymax) and zstd compression;
* within a day the rows sorted along a Hilbert curve over the day's extent (ties by the layer's key):
  near fixes share a row group of :data:`ROW_GROUP_ROWS`, whose ``bbox`` statistics let a box read skip
  the others;
* a day's file is written to a temporary name and renamed over the old one: a reader never sees half a
  file, archiving the same days again gives the same bytes, and archiving new days never touches old ones.

:func:`read_archive` reads a window back as a dask-geopandas GeoDataFrame, one partition a day of the
window, each reading only the row groups whose time and box statistics meet the window.

Examples
--------
>>> import tempfile, pathlib, gridmap
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> with gridmap.init_workspace(tmp / "w.gpkg", sample=True) as ws:
...     done = archive_layer(ws, tmp / "archive", layer="tracks", start="2025-03-03", end="2025-03-05")
>>> done.days, done.rows
(['2025-03-03', '2025-03-04'], 25920)
>>> sorted(p.name for p in (tmp / "archive" / "tracks").iterdir())
['date=2025-03-03', 'date=2025-03-04']
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.errors import GridmapError, ReadError, SchemaError
from gridmap.model import DEFAULT_TZ, STORAGE_CRS, layer_spec

__all__ = ["ARCHIVE_LAYERS", "ROW_GROUP_ROWS", "SLICE_ROWS", "ArchivePoints", "ArchiveSummary", "archive_days",
           "archive_files", "archive_layer", "day_slices", "open_day", "read_archive", "read_archive_points",
           "time_column"]

logger = logging.getLogger(__name__)

#: The layers an archive holds: those with a time and a point each, that grow every day.
ARCHIVE_LAYERS = ("tracks", "reports")
#: Rows per row group: a box read skips the row groups whose bbox statistics miss it.
ROW_GROUP_ROWS = 16_384
_FILE = "part-0.parquet"


@dataclass
class ArchiveSummary:
    """What :func:`archive_layer` wrote: the layer, the days (one folder each) and the rows."""

    layer: str
    directory: Path
    days: list[str] = field(default_factory=list)
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready values."""
        return {"layer": self.layer, "directory": str(self.directory), "days": list(self.days), "rows": self.rows}


def time_column(layer: str) -> str:
    """The time column a day of `layer` is counted by: the layer's first time column.

    Examples
    --------
    >>> time_column("tracks"), time_column("reports")
    ('time', 'reported_at')
    """
    spec = layer_spec(_check_layer(layer))
    return next(c.name for c in spec.columns if c.dtype == "datetime")


def _check_layer(layer: str) -> str:
    if layer not in ARCHIVE_LAYERS:
        raise SchemaError(f"--layer {layer!r} cannot be archived: choose one of {', '.join(ARCHIVE_LAYERS)}")
    return layer


def _local_days(times: pd.Series) -> pd.Series:
    """The day (Asia/Shanghai, YYYY-MM-DD) of each time."""
    return times.dt.tz_convert(DEFAULT_TZ).dt.strftime("%Y-%m-%d")


def _sorted_day(frame: gpd.GeoDataFrame, key: list[str]) -> gpd.GeoDataFrame:
    """The day's rows along a Hilbert curve over their extent, ties by `key` (the same input, the same order)."""
    if len(frame) == 0:
        return frame
    order = frame.assign(_hilbert=frame.geometry.hilbert_distance(level=16))
    return order.sort_values(["_hilbert", *key], kind="stable").drop(columns="_hilbert").reset_index(drop=True)


def _write_day(frame: gpd.GeoDataFrame, folder: Path) -> None:
    """Write one day's rows as GeoParquet into `folder`, atomically (a temporary file renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{_FILE}.{os.getpid()}.tmp"
    frame.to_parquet(temporary, index=False, compression="zstd", schema_version="1.1.0", write_covering_bbox=True,
                     row_group_size=ROW_GROUP_ROWS)
    os.replace(temporary, folder / _FILE)


def archive_layer(store: Any, directory: str | PathLike[str], *, layer: str = "tracks", start: Any = None,
                  end: Any = None) -> ArchiveSummary:
    """Write the rows of `layer` in ``[start, end)`` of an open workspace to the GeoParquet archive `directory`.

    Parameters
    ----------
    store : WorkspaceStore
        The open workspace (a GeoPackage or PostGIS); its rows of the period are read through its time index.
    directory : str or os.PathLike
        The archive; the layer's days go to ``directory/layer/date=YYYY-MM-DD/``.
    layer : {"tracks", "reports"}
        The layer to archive.
    start, end : str or pandas.Timestamp, optional
        The period (naive: Asia/Shanghai); without it, every row. A day is written whole from the rows
        read, so give whole days (``--from 2025-03-03 --to 2025-03-10``) to archive whole days.

    Returns
    -------
    ArchiveSummary
        The days written and the rows.

    Raises
    ------
    SchemaError
        An unknown layer.
    """
    spec = layer_spec(_check_layer(layer))
    rows = store.read_window(layer, start=start, end=end) if start is not None or end is not None \
        else store.read_layer(layer)
    timed = rows[rows[time_column(layer)].notna()]
    out = ArchiveSummary(layer, Path(directory))
    if len(timed) < len(rows):
        logger.warning("%d row(s) of %s without a time are not archived (an archive is by day)", len(rows) - len(timed),
                       layer)
    days = _local_days(timed[time_column(layer)])
    for day in sorted(days.unique()):
        part = _sorted_day(timed[days.to_numpy() == day].to_crs(STORAGE_CRS), list(spec.key))
        _write_day(part, out.directory / layer / f"date={day}")
        out.days.append(str(day))
        out.rows += len(part)
    logger.info("archived %d %s row(s) of %d day(s) in %s", out.rows, layer, len(out.days), out.directory)
    return out


def archive_days(directory: str | PathLike[str], layer: str = "tracks") -> list[str]:
    """The days (YYYY-MM-DD) the archive holds of `layer`, in order."""
    root = Path(directory) / _check_layer(layer)
    if not root.is_dir():
        return []
    return sorted(p.name[5:] for p in root.iterdir() if p.name.startswith("date=") and (p / _FILE).is_file())


def archive_day_files(directory: str | PathLike[str], layer: str = "tracks") -> list[Path]:
    """The GeoParquet file of each day the archive holds of `layer`, in order (a reader of a few columns opens them).

    Examples
    --------
    >>> import tempfile
    >>> archive_day_files(tempfile.mkdtemp(), "reports")
    []
    """
    return [Path(directory) / layer / f"date={day}" / _FILE for day in archive_days(directory, layer)]


def _window_days(days: list[str], start: pd.Timestamp | None, end: pd.Timestamp | None) -> list[str]:
    """The archived days that meet ``[start, end)`` (each day is [00:00, 24:00) Asia/Shanghai)."""
    keep = []
    for day in days:
        first = pd.Timestamp(day).tz_localize(DEFAULT_TZ)
        if (end is None or first < end) and (start is None or first + pd.Timedelta(days=1) > start):
            keep.append(day)
    return keep


def _read_day(path: str, column: str, start: Any, end: Any, bbox: Any) -> gpd.GeoDataFrame:
    """One day's file: only the row groups whose statistics meet the window, then exactly the window's rows."""
    filters = []
    if start is not None:
        filters.append((column, ">=", start))
    if end is not None:
        filters.append((column, "<", end))
    import pyarrow as pa  # deferred: only archive reads need it

    try:
        frame = gpd.read_parquet(path, bbox=bbox, filters=filters or None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(path, exc) from None
    if "bbox" in frame.columns:
        frame = frame.drop(columns="bbox")
    if bbox is not None:  # the covering column chose row groups and rows by their box; keep those meeting bbox
        frame = frame[frame.geometry.intersects(shapely.box(*bbox))]
    return frame.reset_index(drop=True)


def read_archive(directory: str | PathLike[str], *, layer: str = "tracks", start: Any = None, end: Any = None,
                 bbox: tuple[float, float, float, float] | None = None) -> Any:
    """The rows of `layer` of the archive `directory` in the window, as a dask-geopandas GeoDataFrame.

    One partition a day that meets ``[start, end)``; each reads only the row groups whose time and
    ``bbox`` statistics meet the window, then keeps exactly its rows (``start <= time < end``; the geometry
    meeting `bbox`, ``(minx, miny, maxx, maxy)`` in EPSG:4326). Nothing is read until computed.

    Raises
    ------
    SchemaError
        An unknown layer, or an archive without a day of it.
    GridmapError
        When dask-geopandas is not installed (the message names ``pip install 'gridmap[dask]'``).

    Examples
    --------
    >>> import tempfile, pathlib, gridmap
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with gridmap.init_workspace(tmp / "w.gpkg", sample=True) as ws:
    ...     _ = archive_layer(ws, tmp / "a", start="2025-03-03", end="2025-03-10")
    >>> fixes = read_archive(tmp / "a", start="2025-03-04 08:00", end="2025-03-04 09:00")
    >>> fixes.npartitions, len(fixes.compute()) > 0
    (1, True)
    """
    try:
        import dask.dataframe as dd  # deferred: Dask is an optional extra
        import dask_geopandas  # deferred: Dask is an optional extra
    except ImportError:
        raise GridmapError("reading an archive needs Dask: pip install 'gridmap[dask]'") from None
    _check_layer(layer)
    first, last = (None if t is None else _stamp(t) for t in (start, end))
    days = _window_days(archive_days(directory, layer), first, last)
    if not days:
        raise SchemaError(f"{directory} holds no day of {layer} in the window: archive it first "
                          f"(gridmap archive WORKSPACE {directory} --layer {layer} --from DAY --to DAY)")
    paths = [str(Path(directory) / layer / f"date={day}" / _FILE) for day in days]
    meta = _read_day(paths[0], time_column(layer), first, last, bbox).iloc[:0]
    frame = dd.from_map(_read_day, paths, column=time_column(layer), start=first, end=last, bbox=bbox, meta=meta,
                        enforce_metadata=False)
    return dask_geopandas.from_dask_dataframe(frame, geometry=meta.geometry.name)


def _stamp(value: Any) -> pd.Timestamp:
    out = pd.Timestamp(value)
    return out.tz_localize(DEFAULT_TZ) if out.tzinfo is None else out


# ---------------------------------------------------------------------------------------------------------------
# a day's points without geometry objects (the sweep's fast path)
# ---------------------------------------------------------------------------------------------------------------


def archive_files(directory: str | PathLike[str], *, layer: str = "tracks", start: Any = None,
                  end: Any = None) -> list[str]:
    """The files of the days of `layer` that meet ``[start, end)``, one a day, in order (empty when none).

    Examples
    --------
    >>> archive_files("/nonexistent")
    []
    """
    first, last = (None if t is None else _stamp(t) for t in (start, end))
    days = _window_days(archive_days(directory, layer), first, last)
    return [str(Path(directory) / layer / f"date={day}" / _FILE) for day in days]


def open_day(path: str | PathLike[str]) -> Any:
    """A day's file of an archive as a :class:`pyarrow.parquet.ParquetFile`; a file that is not Parquet (cut
    short, overwritten, copied half) is a :class:`~gridmap.errors.ReadError` naming it and how to write it again.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> bad = pathlib.Path(tempfile.mkdtemp()) / "part-0.parquet"
    >>> _ = bad.write_text("not parquet")
    >>> open_day(bad)
    Traceback (most recent call last):
    gridmap.errors.ReadError: ...part-0.parquet is not a readable day of an archive (...); write that day again: ...
    """
    import pyarrow as pa  # deferred: only archive reads need it
    import pyarrow.parquet as pq  # deferred: as above

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: str | PathLike[str], exc: Exception) -> ReadError:
    return ReadError(f"{path} is not a readable day of an archive ({exc}); write that day again: gridmap archive"
                     " WORKSPACE DIR --layer LAYER --from DAY --to NEXT_DAY")


#: Most rows one task reads of a day's file at once: a busier day is read in slices of time holding about this many
#: (a city's day of 7,000,000 fixes would need several GiB in one task; half a million, a few hundred MiB).
SLICE_ROWS = 500_000


def day_slices(path: str | PathLike[str], *, layer: str = "tracks", start: Any = None, end: Any = None,
               max_rows: int = SLICE_ROWS) -> list[tuple[pd.Timestamp | None, pd.Timestamp | None]]:
    """Windows of time that cut one day's file into slices of at most about `max_rows` rows of ``[start, end)``.

    The windows follow each other without a gap or an overlap (``[start, c1), [c1, c2), ..., [ck, end)``, the
    cuts at times of the file's rows), so each row of the window falls in exactly one, and the rows of one
    inspector in two windows never overlap in time. A file of at most `max_rows` rows is one window,
    ``(start, end)``; else only its time column is read to place the cuts.

    Examples
    --------
    >>> import tempfile, pathlib, gridmap
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with gridmap.init_workspace(tmp / "w.gpkg", sample=True) as ws:
    ...     _ = archive_layer(ws, tmp / "a", start="2025-03-03", end="2025-03-04")
    >>> day = archive_files(tmp / "a")[0]
    >>> day_slices(day, start="2025-03-03")[0][0].isoformat()
    '2025-03-03T00:00:00+08:00'
    >>> slices = day_slices(day, max_rows=5000)
    >>> len(slices), slices[0][0], slices[-1][1]
    (3, None, None)
    """
    import pyarrow.parquet as pq  # deferred: only archive reads need it

    first, last = (None if t is None else _stamp(t) for t in (start, end))
    if open_day(path).metadata.num_rows <= max_rows:
        return [(first, last)]
    column = time_column(layer)
    table = pq.read_table(path, columns=[column], filters=_day_filter(column, first, last, None))
    times = table.column(column).to_pandas().dropna().sort_values().reset_index(drop=True)
    count = -(-len(times) // max_rows)
    cuts = sorted({times.iloc[len(times) * k // count] for k in range(1, count)} - {first})
    bounds = [first, *(c.tz_convert(DEFAULT_TZ) for c in cuts), last]
    return list(zip(bounds[:-1], bounds[1:]))


@dataclass
class ArchivePoints:
    """Rows of one day's file as :func:`read_archive_points` gives them.

    Attributes
    ----------
    columns : pandas.DataFrame
        The columns asked for, one row per row read.
    x, y : numpy.ndarray
        A point's coordinates (EPSG:4326, from the ``bbox`` covering column: a point's box is the point);
        NaN for a row without a geometry and for the rows of `others`.
    others : numpy.ndarray
        Row numbers of the rows that are not points (e.g. walked paths as LineStrings).
    geometries : numpy.ndarray
        Their shapely geometries (EPSG:4326), decoded from WKB; no other row's geometry is decoded.
    """

    columns: pd.DataFrame
    x: np.ndarray
    y: np.ndarray
    others: np.ndarray
    geometries: np.ndarray


def read_archive_points(path: str | PathLike[str], *, columns: tuple[str, ...] = ("inspector", "time"),
                        layer: str = "tracks", start: Any = None, end: Any = None,
                        bbox: tuple[float, float, float, float] | None = None) -> ArchivePoints:
    """The rows of one day's file (:func:`archive_files`) in the window, as columns and point coordinates.

    The same rows as that day's partition of :func:`read_archive` with the same window, in the same order,
    but reading only `columns`, the ``bbox`` covering column and (when the file's ``geo`` metadata names
    other geometry types than points) the geometry column, whose WKB is decoded only for the rows that are not
    points (by the WKB type code). Row groups whose time or ``bbox`` statistics miss the window are skipped.

    Examples
    --------
    >>> import tempfile, pathlib, gridmap
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with gridmap.init_workspace(tmp / "w.gpkg", sample=True) as ws:
    ...     _ = archive_layer(ws, tmp / "a", start="2025-03-03", end="2025-03-04")
    >>> day = archive_files(tmp / "a")[0]
    >>> part = read_archive_points(day, start="2025-03-03 08:00", end="2025-03-03 09:00")
    >>> whole = read_archive(tmp / "a", start="2025-03-03 08:00", end="2025-03-03 09:00").compute()
    >>> bool((part.x == whole.geometry.x.to_numpy()).all()), len(part.others)
    (True, 0)
    """

    first, last = (None if t is None else _stamp(t) for t in (start, end))
    file = open_day(path)
    geo = json.loads(file.schema_arrow.metadata[b"geo"])
    name = geo["primary_column"]
    mixed = set(geo["columns"][name].get("geometry_types") or ["?"]) - {"Point"}
    wanted = [*columns, "bbox", *([name] if mixed else [])]
    table = _read_filtered(path, wanted, _day_filter(time_column(layer), first, last, bbox))
    box = table.column("bbox").combine_chunks().flatten()
    x, y = (box[k].to_numpy(zero_copy_only=False).astype(float) for k in (0, 1))
    others = np.flatnonzero(_not_points(table.column(name).combine_chunks())) if mixed else np.empty(0, np.int64)
    geometries = shapely.from_wkb(table.column(name).take(others).to_numpy(zero_copy_only=False)) if mixed \
        else np.empty(0, dtype=object)
    keep = np.ones(len(x), dtype=bool)
    if bbox is not None:  # the exact test of read_archive: the geometry meets the box (closed)
        keep = (x >= bbox[0]) & (x <= bbox[2]) & (y >= bbox[1]) & (y <= bbox[3])
        keep[others] = shapely.intersects(geometries, shapely.box(*bbox))
    x[others], y[others] = np.nan, np.nan
    if not keep.all():
        renumber = np.cumsum(keep) - 1
        geometries, others = geometries[keep[others]], renumber[others[keep[others]]]
        table, x, y = table.filter(keep), x[keep], y[keep]
    return ArchivePoints(table.select(list(columns)).to_pandas(), x, y, others, geometries)


def _read_filtered(path: str | PathLike[str], columns: list[str], window: Any) -> Any:
    """`columns` of the rows of a file meeting `window` (a pyarrow expression or None), one row group at a time.

    Only the row groups whose statistics may meet the window are read, and each is filtered as soon as it is
    read, so that memory holds the rows kept and one row group, not the whole file (a slice of a busy day's
    time meets every row group of the day: its rows are spread over the day's Hilbert order).
    """
    import pyarrow as pa  # deferred: only archive reads need it
    import pyarrow.dataset as ds  # deferred: as above

    fragment = next(iter(ds.dataset(str(path), format="parquet").get_fragments()))
    if window is None:
        return fragment.to_table(columns=columns)
    groups = fragment.split_by_row_group(window)
    tables = [group.to_table(columns=columns, filter=window) for group in groups]
    out = pa.concat_tables(tables) if tables else fragment.physical_schema.empty_table().select(columns)
    pa.default_memory_pool().release_unused()
    return out


def _day_filter(column: str, start: pd.Timestamp | None, end: pd.Timestamp | None,
                bbox: tuple[float, float, float, float] | None) -> Any:
    """The pyarrow expression of a window: time and the ``bbox`` covering column (None for no window)."""
    import pyarrow.compute as pc  # deferred: only archive reads need it

    terms = []
    if start is not None:
        terms.append(pc.field(column) >= start)
    if end is not None:
        terms.append(pc.field(column) < end)
    if bbox is not None:
        terms += [pc.field("bbox", "xmin") <= bbox[2], pc.field("bbox", "xmax") >= bbox[0],
                  pc.field("bbox", "ymin") <= bbox[3], pc.field("bbox", "ymax") >= bbox[1]]
    out = None
    for term in terms:
        out = term if out is None else out & term
    return out


def _not_points(wkb: Any) -> np.ndarray:
    """Rows whose WKB is not a point (by the type code after the byte-order byte; ISO and EWKB flags masked)."""
    valid = np.asarray(wkb.is_valid())
    if wkb.buffers()[2] is None or not valid.any():
        return np.zeros(len(wkb), dtype=bool)
    width = np.int64 if str(wkb.type).startswith("large") else np.int32
    offsets = np.frombuffer(wkb.buffers()[1], dtype=width)[wkb.offset:wkb.offset + len(wkb)]
    data = np.frombuffer(wkb.buffers()[2], dtype=np.uint8)
    safe = np.where(valid, offsets, 0)
    head = [data[np.minimum(safe + k, len(data) - 1)].astype(np.uint32) for k in range(5)]
    little = head[0] == 1
    code = np.where(little, head[1] | head[2] << 8 | head[3] << 16 | head[4] << 24,
                    head[4] | head[3] << 8 | head[2] << 16 | head[1] << 24)
    return valid & ((code & 0xFFFF) % 1000 != 1)
