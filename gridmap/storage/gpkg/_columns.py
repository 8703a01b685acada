"""Storage conversions of the GeoPackage store: SQL names, times, typed columns, geometry blobs.

Also the column definitions of the bookkeeping tables (import log, quarantine link, meta,
categories, aliases), the name of the staging table and :class:`_Staged` (a frame in
storage form), shared by the other modules of this subpackage.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gridmap.errors import SchemaError, WorkspaceBusyError, WorkspaceError
from gridmap.model import DEFAULT_TZ, STORAGE_CRS, Column, LayerSpec
from gridmap.storage.rows import GEOMETRY_COLUMN  # noqa: F401 - re-exported: the geometry column of every store

logger = logging.getLogger(__name__)

_IMPORT_COLUMNS: tuple[Column, ...] = (
    Column("layer", doc="layer imported into"),
    Column("source", doc="file name or description of the source"),
    Column("source_digest", doc="first 16 hex digits of the source's SHA-256"),
    Column("read", "int", doc="records read"),
    Column("accepted", "int", doc="records stored"),
    Column("duplicates", "int", doc="records already stored or repeated in the source"),
    Column("quarantined", "int", doc="records quarantined"),
    Column("reasons", doc="quarantine reason counts as JSON"),
    Column("imported_at", "datetime", doc="when the import was committed"),
    Column("options", doc="what the import was run with, as JSON (coords, crs, defaults, ...): "
                          "gridmap quarantine --retry prepares the quarantined records again with them"),
)
#: The workspace's own column of the quarantine table (after gridmap.model.QUARANTINE_COLUMNS): the
#: import (fid in gridmap_imports) that quarantined the record, whose options a retry uses.
_QUARANTINE_IMPORT = Column("import_fid", "int", doc="fid of the import (gridmap_imports) that quarantined it")
_META_COLUMNS: tuple[Column, ...] = (Column("key"), Column("value"))
_CATEGORY_COLUMNS: tuple[Column, ...] = (
    Column("key", doc="category key"), Column("zh", doc="zh-Hans label"), Column("en", doc="English label"),
)
_ALIAS_COLUMNS: tuple[Column, ...] = (
    Column("layer", doc="layer the mapping applies to"),
    Column("source", doc="the header as it appears in the user's files"),
    Column("target", doc="the model column it stands for"),
)
_PANDAS_DTYPES = {"str": "string", "int": "Int64", "float": "float64", "datetime": "datetime64[ms, UTC]"}
_BBOX = ("_minx", "_maxx", "_miny", "_maxy")
#: Name of the staging table, and of the staging database when attached.
_STAGE = "stage"


@dataclass
class _Staged:
    """What :func:`_stage_frame` made of a frame: the rows to stage and what became of the others."""

    rows: pd.DataFrame  # model columns in storage form, geometry and boxes; index 0..n-1 = stage fid - 1
    positions: np.ndarray  # the frame position of each staged row
    records: np.ndarray  # the record number of every frame row (its ``_record``, else its 1-based position)
    repeated: int  # rows repeating an earlier row of the frame, key and content alike (duplicates)
    conflicts: list[tuple[int, str]]  # (frame position, detail) of rows whose key an earlier row has otherwise


# ---------------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _utc_now_text() -> str:
    """The current time as GeoPackage DateTime text (UTC, milliseconds, ``Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _empty_column(col: Column) -> pd.Series:
    return pd.Series([], dtype=_PANDAS_DTYPES[col.dtype], name=col.name)


def _empty_frame(columns: Sequence[Column], geometry: str | None) -> pd.DataFrame:
    """An empty, typed frame with `columns` (and a geometry column when `geometry` is given)."""
    data = {c.name: _empty_column(c) for c in columns}
    if geometry is None:
        return pd.DataFrame(data)
    import geopandas as gpd

    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=STORAGE_CRS, name=GEOMETRY_COLUMN))


def _ogr_geometry_type(geometry: str) -> str:
    return "Unknown" if geometry == "Geometry" else geometry


def _index_stage(con: sqlite3.Connection, key: Sequence[str]) -> None:
    """Index the attached stage on the layer's key, once (it serves the joins of the stage to the layer).

    Built only when a join needs it: a batch of new rows only (the usual import) needs none,
    and indexing a million staged keys costs a few tenths of a second.
    """
    con.execute(f"CREATE INDEX IF NOT EXISTS {_STAGE}.stage_key ON {_STAGE}({', '.join(_q(k) for k in key)})")


def _busy_or_raise(exc: sqlite3.OperationalError, path: Path) -> None:
    """Turn SQLite's lock errors into :class:`WorkspaceBusyError`; re-raise anything else."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        raise WorkspaceBusyError(
            f"workspace busy: another process is writing {path}; try again when it has finished"
        ) from exc
    raise WorkspaceError(f"cannot write workspace {path}: {exc}") from exc


def _parse_times(values: pd.Series) -> pd.Series:
    """Parse times; a column mixing zones (or zoned and naive values) is converted value by value to UTC."""
    if values.dtype != object:
        return pd.to_datetime(values)
    try:
        return pd.to_datetime(values, format="ISO8601")
    except ValueError:
        pass

    def one(value: Any) -> pd.Timestamp:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            return pd.NaT
        stamp = pd.Timestamp(value)
        return (stamp.tz_localize(DEFAULT_TZ) if stamp.tzinfo is None else stamp).tz_convert("UTC")

    return pd.Series([one(v) for v in values], index=values.index, dtype="datetime64[ms, UTC]")


def _to_storage_time(values: pd.Series, *, name: str) -> pd.Series:
    """Times as GeoPackage DateTime text in UTC (``2025-03-01T00:00:00.000Z``); missing → None.

    Times without a zone are taken to be :data:`gridmap.model.DEFAULT_TZ`, as the
    model says. The GeoPackage 1.3 spec (table 5, "DATETIME") stores ISO 8601
    text in UTC with a ``Z``, ``YYYY-MM-DDTHH:MM:SS.SSSZ``; GDAL reads it back as a DateTime.

    Times are stored to the **millisecond** (a finer time is floored), never with
    microseconds, because the readers of the file cannot read more. Measured
    (issue 12) on a GeoPackage DATETIME column holding ``2025-03-01T00:00:00.000300Z``
    and ``...00.123456Z``: GDAL 3.12.4 (pyogrio 0.13, with and without Arrow) reads
    them as ``00:00:00.000`` and ``00:00:00.123`` and warns "Non-conformant content
    for record 1 in column t, ..., successfully parsed"; QGIS 3.22.16 (Debian's
    python3-qgis, GDAL 3.6.2) shows the same, ``QDateTime`` having millisecond
    resolution. Microseconds would be silently truncated by both, with a warning per
    value. So two times less than a millisecond apart cannot both be kept under the
    same key: :func:`gridmap.io.records.prepare` quarantines the later one as
    ``sub_millisecond_time`` instead of letting it count as a duplicate. Read back with
    pandas (:func:`_from_storage_column`) a stored time is exactly the stored millisecond.
    """
    series = values
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        try:
            series = _parse_times(series)
        except (ValueError, TypeError) as exc:
            raise SchemaError(
                f"column {name!r} holds values that are not times ({exc}); quarantine them (unparseable_time) first"
            ) from None
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        logger.info("column %r has times without a zone: taking them as %s", name, DEFAULT_TZ)
        series = series.dt.tz_localize(DEFAULT_TZ)
    utc = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ms]")
    out = pd.Series(_utc_ms_text(utc), index=values.index, dtype="string")
    out[np.isnat(utc)] = pd.NA
    return out


def _utc_ms_text(utc: np.ndarray) -> Any:
    """``YYYY-MM-DDTHH:MM:SS.fffZ`` text (a pyarrow array) of naive UTC ``datetime64[ms]`` values; NaT → null.

    The digits of each field are written with integer arithmetic into one byte
    buffer that pyarrow takes as it is, without a Python object or a formatted
    numpy string per value (a million times in a fifth of a second). Years
    outside 0000-9999 (which need more digits or a sign) are left to numpy's
    ``datetime_as_string``, which gives the same text for the others.

    Examples
    --------
    >>> _utc_ms_text(np.array(["2025-03-01T00:00:00.5", "NaT"], dtype="datetime64[ms]")).to_pylist()
    ['2025-03-01T00:00:00.500Z', None]
    >>> _utc_ms_text(np.array(["1969-12-31T23:59:59.999"], dtype="datetime64[ms]")).to_pylist()
    ['1969-12-31T23:59:59.999Z']
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    nat = np.isnat(utc)
    fields = _time_fields(np.where(nat, np.datetime64(0, "ms"), utc.astype("datetime64[ms]")))
    if not ((fields[0] >= 0) & (fields[0] <= 9999)).all():
        text = pa.array(np.datetime_as_string(utc, unit="ms"), type=pa.string(), mask=nat)
        return pc.binary_join_element_wise(text, pa.scalar("Z"), "")
    out = np.empty((len(utc), 24), dtype=np.uint8)
    out[:] = np.frombuffer(b"0000-00-00T00:00:00.000Z", dtype=np.uint8)
    for value, start, width in zip(fields, (0, 5, 8, 11, 14, 17, 20), (4, 2, 2, 2, 2, 2, 3)):
        for k in range(width):
            out[:, start + width - 1 - k] += (value // 10 ** k % 10).astype(np.uint8)
    offsets = np.arange(0, 24 * len(utc) + 1, 24, dtype=np.int32)
    validity = pa.py_buffer(np.packbits(~nat, bitorder="little")) if nat.any() else None
    return pa.StringArray.from_buffers(len(utc), pa.py_buffer(offsets), pa.py_buffer(out), validity)


def _time_fields(utc: np.ndarray) -> tuple[np.ndarray, ...]:
    """Year, month, day, hour, minute, second and millisecond (int64 arrays) of ``datetime64[ms]`` values."""
    days = utc.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    years = months.astype("datetime64[Y]")
    month = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    hour, rest = np.divmod((utc - days.astype("datetime64[ms]")).astype(np.int64), 3_600_000)
    minute, rest = np.divmod(rest, 60_000)
    second, milli = np.divmod(rest, 1000)
    return years.astype(np.int64) + 1970, month, day, hour, minute, second, milli


def _to_storage_column(values: pd.Series, col: Column) -> pd.Series:
    """One model column converted to the type it is stored with."""
    if col.dtype == "datetime":
        return _to_storage_time(values, name=col.name)
    try:
        if col.dtype == "int":
            return pd.to_numeric(values).astype("Int64")
        if col.dtype == "float":
            return pd.to_numeric(values).astype("float64")
    except (ValueError, TypeError) as exc:
        raise SchemaError(
            f"column {col.name!r} should hold {col.dtype} values ({exc}); quarantine them (unparseable_value) first"
        ) from None
    return values.astype("string")


def _from_storage_column(values: pd.Series, col: Column) -> pd.Series:
    """One stored column converted to its model type (times tz-aware in DEFAULT_TZ)."""
    if col.dtype == "datetime":
        parsed = pd.to_datetime(values.astype(object), format="ISO8601", utc=True)
        return parsed.dt.tz_convert(DEFAULT_TZ).astype(f"datetime64[ms, {DEFAULT_TZ}]")
    if col.dtype == "int":
        return pd.to_numeric(values).astype("Int64")
    if col.dtype == "float":
        return pd.to_numeric(values).astype("float64")
    return values.astype("string")


def _typed_frame(frame: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """`frame` with each model column converted from storage to model types, in model order."""
    out = frame.copy()
    for col in columns:
        out[col.name] = _from_storage_column(out[col.name], col)
    rest = [c for c in out.columns if c not in {col.name for col in columns}]
    return out[[c.name for c in columns] + rest]


def _gpkg_blob_to_wkb(blob: bytes | None) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob.

    GeoPackage 1.3, clause 2.1.3 "Geometry Encoding": ``GP``, a version byte, a
    flags byte (bit 0: byte order of the header; bits 1-3: envelope contents,
    0 none, 1 → 4 doubles, 2 or 3 → 6 doubles, 4 → 8 doubles), an int32
    srs_id, the envelope, then standard WKB.
    """
    if blob is None:
        return None
    data = bytes(blob)
    if data[:2] != b"GP":
        raise WorkspaceError("a geometry in the workspace is not a GeoPackage blob; check the file with QGIS/GDAL")
    envelope = (data[3] >> 1) & 0b111
    size = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get(envelope)
    if size is None:
        raise WorkspaceError(f"a geometry blob in the workspace has an invalid envelope indicator {envelope}")
    return data[8 + size:]


def _gpkg_bounds(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage blob, or None when it is null or empty."""
    import shapely

    wkb = _gpkg_blob_to_wkb(blob)
    if wkb is None:
        return None
    geom = shapely.from_wkb(wkb)
    if geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return minx, maxx, miny, maxy


def _st_bound(index: int) -> Any:
    def bound(blob: bytes | None) -> float | None:
        bounds = _gpkg_bounds(blob)
        return None if bounds is None else bounds[index]
    return bound


def _register_gpkg_functions(con: sqlite3.Connection) -> None:
    """The SQL functions GDAL's R-tree triggers call (ST_IsEmpty, ST_MinX, ...).

    GDAL registers them on its own connections; a plain sqlite3 connection lacks
    them, and SQLite resolves every function a trigger names when it compiles a
    statement on the table, so even an UPDATE of an attribute fails without
    them. Semantics as in the GeoPackage 1.3 R-tree extension (F.3).
    """
    con.create_function("ST_IsEmpty", 1, lambda blob: None if blob is None else int(_gpkg_bounds(blob) is None),
                        deterministic=True)
    for index, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(name, 1, _st_bound(index), deterministic=True)


def _rows_to_frame(rows: list[tuple], spec: LayerSpec) -> pd.DataFrame:
    """SQLite rows (model columns, then the geometry blob) as a typed frame."""
    names = spec.column_names
    columns = list(zip(*rows)) if rows else [()] * (len(names) + (spec.geometry is not None))
    data = {n: pd.Series(list(v), dtype=object) for n, v in zip(names, columns)}
    frame = _typed_frame(pd.DataFrame(data, columns=names), spec.columns)
    if spec.geometry is None:
        return frame
    import geopandas as gpd
    import shapely

    wkb = np.array([_gpkg_blob_to_wkb(b) for b in columns[-1]], dtype=object)
    return gpd.GeoDataFrame(frame, geometry=shapely.from_wkb(wkb), crs=STORAGE_CRS)
