"""The GeoPackage workspace: one ``.gpkg`` file holding every layer of the model.

A workspace is an OGC GeoPackage that QGIS and GDAL open as is. It holds

* every layer of :data:`gridmap.model.LAYERS` (EPSG:4326, with an R-tree
  spatial index on each geometry column and a UNIQUE index on the layer's key),
* ``quarantine``: records that could not be imported, with their reason,
* ``gridmap_meta``: key/value pairs (``schema_version``, ``created_at``,
  ``gridmap_version``, ``illustrative``),
* ``gridmap_imports``: one row per import (what was read, accepted, duplicated
  and quarantined).

The tables without geometry are registered in ``gpkg_contents`` as
``attributes`` so QGIS lists them.

Writes
------
:meth:`Workspace.append` is transactional and idempotent. The frame is first
written by GDAL (pyogrio, Arrow) into a private staging GeoPackage, which gives
correct GeoPackage geometry blobs; then, in **one** SQLite transaction on the
workspace (``BEGIN IMMEDIATE``), the staged rows are copied with
``INSERT OR IGNORE`` (the UNIQUE key index turns rows already stored into
counted duplicates; when some were, one join of the stage and the layer on the key
finds those stored with other content, quarantined as ``key_conflict``), the
R-tree rows are inserted from bounding boxes computed with shapely (with SQL
for small batches; a batch of 10,000 new rows or more
rebuilds the R-tree in bulk, packed with Sort-Tile-Recursive, by writing its
shadow tables: see :mod:`gridmap._rtree`), ``gpkg_ogr_contents``/``gpkg_contents`` are brought up to date,
and the quarantine and import-log rows are added. GDAL's R-tree and feature
count triggers call SQL functions (``ST_MinX`` ...) that Python's ``sqlite3``
does not have, so they are dropped and recreated *inside* the transaction: a
killed process leaves them, like everything else, as they were.

Journaling
----------
The workspace uses SQLite's write-ahead log (``journal_mode=WAL``, set at
creation; it persists in the file) with ``synchronous=FULL``. Journaling is
never switched off, so an import killed half-way leaves the file intact and
without any of its rows. With WAL a reader (QGIS, a notebook) never blocks a
writer nor the reverse. A writer that waits for another writer longer than
``busy_timeout`` seconds gets :class:`~gridmap._errors.WorkspaceBusyError`.

.. warning::
   WAL needs shared memory between the processes using the file, so it does
   **not** work on network drives (SMB/NFS shares): keep workspaces on a local
   disk. See https://www.sqlite.org/wal.html ("WAL does not work over a network
   filesystem").

GDAL's wheels bundle their own SQLite, and two SQLite libraries in one
process do not see each other's POSIX locks
(https://www.sqlite.org/howtocorrupt.html, section 2.2.1): when GDAL closes the
workspace it deletes the ``-wal``/``-shm`` files under any ``sqlite3``
connection still open in the same process ("disk I/O error"). So gridmap
reads and writes the workspace only through Python's ``sqlite3``; GDAL only
writes the private staging file. Reading a workspace with GDAL/geopandas from
*another* process (QGIS, a second notebook) is safe; in the same process,
close your own ``sqlite3`` connections first.

Examples
--------
>>> import tempfile, pathlib
>>> from gridmap.workspace import init_workspace
>>> tmp = tempfile.TemporaryDirectory()
>>> ws = init_workspace(pathlib.Path(tmp.name) / "gulou.gpkg")
>>> ws.counts()["reports"]
0
>>> ws.schema_version
3
>>> ws.close()
>>> tmp.cleanup()
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from gridmap._errors import CRSError, SchemaError, WorkspaceBusyError, WorkspaceError, WorkspaceVersionError
from gridmap.model import (
    DEFAULT_TZ,
    EXTRA_COLUMN,
    LAYERS,
    LAYERS_ADDED_IN,
    COLUMNS_ADDED_IN,
    QUARANTINE_COLUMNS,
    QUARANTINE_REASONS,
    SCHEMA_VERSION,
    STORAGE_CRS,
    Category,
    Column,
    ImportSummary,
    LayerSpec,
    layer_spec,
)

__all__ = [
    "Workspace", "init_workspace", "open_workspace", "META_TABLE", "IMPORTS_TABLE", "QUARANTINE_TABLE",
    "CATEGORIES_TABLE", "ALIASES_TABLE", "read_layers", "content_columns", "NOT_CONTENT", "GEOMETRY_TOLERANCE",
]

logger = logging.getLogger(__name__)

#: Key/value table of workspace facts.
META_TABLE = "gridmap_meta"
#: One row per import.
IMPORTS_TABLE = "gridmap_imports"
#: Records that could not be imported.
QUARANTINE_TABLE = "quarantine"
#: Report categories users added (the built-in ones live in gridmap.model.CATEGORIES).
CATEGORIES_TABLE = "gridmap_categories"
#: Column mappings users stored (``gridmap alias``): a source header → a model column, per layer.
ALIASES_TABLE = "gridmap_column_aliases"
#: Name of the geometry column of every spatial layer (GDAL's GeoPackage default).
GEOMETRY_COLUMN = "geom"

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
# Geometry type ids (shapely.get_type_id) each layer geometry type accepts.
_ACCEPTED_TYPE_IDS = {
    "Point": {0}, "MultiLineString": {1, 5}, "MultiPolygon": {3, 6}, "Geometry": {0, 1, 3, 4, 5, 6, 7},
}
_BBOX = ("_minx", "_maxx", "_miny", "_maxy")
_STAGE = "stage"
#: Batches adding at least this many rows to a spatial layer rebuild its R-tree in bulk (gridmap._rtree)
#: instead of inserting the entries one by one with SQL (~15 s per million entries).
_BULK_RTREE_MIN_ROWS = 10_000


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
    same key: :func:`gridmap.records.prepare` quarantines the later one as
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

    numpy writes the text and pyarrow appends the ``Z``, without a Python
    object per value (a million times in a quarter of a second).

    Examples
    --------
    >>> _utc_ms_text(np.array(["2025-03-01T00:00:00.5", "NaT"], dtype="datetime64[ms]")).to_pylist()
    ['2025-03-01T00:00:00.500Z', None]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(np.datetime_as_string(utc, unit="ms"), type=pa.string(), mask=np.isnat(utc))
    return pc.binary_join_element_wise(text, pa.scalar("Z"), "")


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


# ---------------------------------------------------------------------------------------------------------------
# preparing a frame for storage
# ---------------------------------------------------------------------------------------------------------------


def _storage_attributes(spec: LayerSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The model columns of `frame`, converted to storage types; refuses missing required values."""
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"cannot append to {spec.name!r}: required column(s) {', '.join(missing)} missing;"
            f" the layer's columns are {', '.join(spec.column_names)}"
        )
    out = pd.DataFrame(index=frame.index)
    for col in spec.columns:
        values = frame[col.name] if col.name in frame.columns else pd.Series(pd.NA, index=frame.index, dtype=object)
        out[col.name] = _to_storage_column(values, col)
    empty = {c: int(n) for c in spec.required if (n := out[c].isna().sum())}
    if empty:
        raise SchemaError(
            f"cannot append to {spec.name!r}: empty required values {empty}; quarantine those rows"
            " (reason missing_value) before appending"
        )
    return out


def _storage_geometry(spec: LayerSpec, frame: pd.DataFrame) -> Any:
    """The frame's geometries in EPSG:4326, single parts promoted to the layer's multi type."""
    import geopandas as gpd
    import shapely

    assert spec.geometry is not None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise SchemaError(f"layer {spec.name!r} holds {spec.geometry} geometries: pass a GeoDataFrame")
    geoms = frame.geometry
    if geoms.crs is None:
        raise CRSError(
            f"the frame for {spec.name!r} has no CRS; declare it with frame.set_crs(...) (EPSG:4326 for lon/lat)"
        )
    if not geoms.crs.equals(STORAGE_CRS):
        logger.info("reprojecting %s rows for %r from %s to %s", len(geoms), spec.name, geoms.crs, STORAGE_CRS)
        geoms = geoms.to_crs(STORAGE_CRS)
    values = geoms.to_numpy()
    bad_missing = int((shapely.is_missing(values) | shapely.is_empty(values)).sum())
    if bad_missing:
        raise SchemaError(
            f"cannot append to {spec.name!r}: {bad_missing} rows without geometry; quarantine them"
            " (reason missing_coordinates) before appending"
        )
    type_ids = shapely.get_type_id(values)
    wrong = ~np.isin(type_ids, list(_ACCEPTED_TYPE_IDS[spec.geometry]))
    if wrong.any():
        found = sorted({shapely.get_type_id(g) for g in values[wrong]})
        raise SchemaError(
            f"layer {spec.name!r} holds {spec.geometry} geometries but {int(wrong.sum())} rows have type id(s)"
            f" {found}; quarantine them (reason wrong_geometry_type) before appending"
        )
    values = _promote_to_multi(values, type_ids, spec.geometry)
    return gpd.GeoSeries(values, index=frame.index, crs=STORAGE_CRS, name=GEOMETRY_COLUMN)


def _promote_to_multi(values: np.ndarray, type_ids: np.ndarray, geometry: str) -> np.ndarray:
    import shapely

    single = {"MultiPolygon": (3, shapely.multipolygons), "MultiLineString": (1, shapely.multilinestrings)}
    if geometry not in single:
        return values
    type_id, make = single[geometry]
    out = values.copy()
    pick = np.flatnonzero(type_ids == type_id)
    if len(pick):
        out[pick] = make(values[pick], indices=np.arange(len(pick)))
    return out


@dataclass
class _Staged:
    """What :func:`_stage_frame` made of a frame: the rows to stage and what became of the others."""

    rows: pd.DataFrame  # model columns in storage form, geometry and boxes; index 0..n-1 = stage fid - 1
    positions: np.ndarray  # the frame position of each staged row
    records: np.ndarray  # the record number of every frame row (its ``_record``, else its 1-based position)
    repeated: int  # rows repeating an earlier row of the frame, key and content alike (duplicates)
    conflicts: list[tuple[int, str]]  # (frame position, detail) of rows whose key an earlier row has otherwise


def _stage_frame(spec: LayerSpec, frame: pd.DataFrame) -> _Staged:
    """The rows to stage (model columns in storage form, geometry and bbox), and the in-frame repeats.

    A row whose key an earlier row of the frame has is a duplicate when its content
    (:func:`content_columns` and the geometry) is that row's too, else a key conflict.
    """
    attrs = _storage_attributes(spec, frame)
    repeated = attrs.duplicated(subset=list(spec.key), keep="first").to_numpy(dtype=bool)
    records = _record_numbers(frame)
    geoms = None if spec.geometry is None else _storage_geometry(spec, frame).to_numpy()
    conflicts = _frame_conflicts(spec, attrs, geoms, repeated, records) if repeated.any() else []
    keep = ~repeated
    positions = np.flatnonzero(keep)
    attrs = attrs.loc[keep] if repeated.any() else attrs
    n_repeated = int(repeated.sum()) - len(conflicts)
    if geoms is None:
        return _Staged(attrs.reset_index(drop=True), positions, records, n_repeated, conflicts)
    import geopandas as gpd
    import shapely

    kept = geoms[keep]
    bounds = shapely.bounds(kept)
    for i, name in enumerate(("_minx", "_miny", "_maxx", "_maxy")):
        attrs[name] = bounds[:, i]
    # the Hilbert order only serves SQL R-tree inserts; a batch this large is bulk loaded (unless mostly duplicates)
    attrs["_hilbert"] = _hilbert_rank(bounds) if len(bounds) < _BULK_RTREE_MIN_ROWS else np.arange(len(bounds))
    staged = gpd.GeoDataFrame(attrs, geometry=kept, crs=STORAGE_CRS)
    staged = staged.rename_geometry(GEOMETRY_COLUMN)
    return _Staged(staged.reset_index(drop=True), positions, records, n_repeated, conflicts)


def _record_numbers(frame: pd.DataFrame) -> np.ndarray:
    """Each row's ``_record`` (its number in the source file), else its 1-based position in the frame."""
    if "_record" in frame.columns:
        numbers = pd.to_numeric(frame["_record"], errors="coerce").to_numpy(dtype="float64")
        if np.isfinite(numbers).all():
            return numbers.astype("int64")
    return np.arange(1, len(frame) + 1, dtype="int64")


def _hilbert_rank(bounds: np.ndarray) -> np.ndarray:
    """Rank of each box centre along a Hilbert curve over the boxes' extent.

    Inserting R-tree entries in this order keeps neighbouring entries in the
    same nodes, which makes SQLite's R-tree insertion about twice as fast as in
    random order (the idea of Hilbert-packed R-trees: Kamel & Faloutsos 1994).
    """
    import geopandas as gpd
    import shapely

    if len(bounds) == 0:  # geopandas cannot take the extent of nothing
        return np.empty(0, dtype="int64")
    centres = shapely.points((bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2)
    distance = gpd.GeoSeries(centres).hilbert_distance().to_numpy()
    rank = np.empty(len(distance), dtype="int64")
    rank[np.argsort(distance, kind="stable")] = np.arange(len(distance))
    return rank


def _write_stage(spec: LayerSpec, staged: pd.DataFrame, folder: Path) -> Path:
    """Write the staged rows with GDAL into ``folder/stage.gpkg`` and index their key."""
    import pyogrio

    path = folder / "stage.gpkg"
    options: dict[str, Any] = {"layer": _STAGE, "use_arrow": True}
    if spec.geometry is not None:
        options.update(geometry_type="Unknown", layer_options={"SPATIAL_INDEX": "NO"})
    pyogrio.write_dataframe(staged, path, **options)
    con = sqlite3.connect(path)
    try:
        con.execute(f"CREATE INDEX stage_key ON {_STAGE}({', '.join(_q(k) for k in spec.key)})")
        con.commit()
    finally:
        con.close()
    return path


def _quarantine_rows(quarantine: pd.DataFrame | None, *, layer: str, source: str, digest: str) -> list[tuple]:
    """Quarantine records as tuples in column order, defaults filled, reasons checked."""
    if quarantine is None or len(quarantine) == 0:
        return []
    q = quarantine.copy()
    defaults = {"layer": layer, "source": source, "source_digest": digest}
    for name, default in defaults.items():
        q[name] = q[name].fillna(default) if name in q.columns else default
    for name in ("record", "reason"):
        if name not in q.columns or q[name].isna().any():
            raise SchemaError(f"every quarantine row needs a {name!r}; build them with gridmap.io._base.quarantine_row")
    unknown = sorted(set(q["reason"]) - set(QUARANTINE_REASONS))
    if unknown:
        raise SchemaError(f"unknown quarantine reason(s) {unknown}; known reasons: {', '.join(QUARANTINE_REASONS)}")
    if "quarantined_at" not in q.columns:
        q["quarantined_at"] = pd.Timestamp.now(tz="UTC")
    stored = pd.DataFrame({c.name: _to_storage_column(q.get(c.name, pd.Series(None, index=q.index)), c)
                           for c in QUARANTINE_COLUMNS})
    stored["quarantined_at"] = stored["quarantined_at"].fillna(_utc_now_text())
    return [tuple(None if pd.isna(v) else v for v in row) for row in stored.astype(object).itertuples(index=False)]


# ---------------------------------------------------------------------------------------------------------------
# key conflicts: one key, two contents
# ---------------------------------------------------------------------------------------------------------------

#: Columns a stored row and the same row imported again may differ in without being different rows: those the
#: workspace fills itself (a report's ``status`` follows its rectifications and spot checks; ``grid_code`` is
#: assigned by location, so it changes when grids are imported later) and a track's ``track_id``, which a reader
#: makes up from the file's layout (``trk-1``) when the track has no name.
NOT_CONTENT: Mapping[str, frozenset[str]] = {
    "reports": frozenset({"status", "grid_code"}),
    "targets": frozenset({"grid_code"}),
    "tracks": frozenset({"track_id"}),
}
#: Two geometries of one key are the same when they have the same vertices, each coordinate equal to within this
#: many degrees (EPSG:4326; 1e-9° is 0.1 mm): float noise of a conversion is not a different position.
GEOMETRY_TOLERANCE = 1e-9
_KEY_CONFLICT = "key_conflict"


def content_columns(layer: str) -> list[str]:
    """The columns that make a row's content besides its key and geometry: what a key conflict compares.

    A row whose key is already stored (or used by an earlier row of the same file) is a
    duplicate only when these values and the geometry are the same too; otherwise it is
    quarantined as ``key_conflict``. Left out: the key, ``extra`` (the file's other columns)
    and :data:`NOT_CONTENT`.

    Examples
    --------
    >>> content_columns("reports")
    ['reported_at', 'category', 'description', 'source', 'photo']
    >>> content_columns("tracks")
    []
    """
    spec = layer_spec(layer)
    skip = {*spec.key, EXTRA_COLUMN, *NOT_CONTENT.get(spec.name, ())}
    return [c for c in spec.column_names if c not in skip]


def _same_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise equality of two object arrays of storage values, two missing values being equal."""
    na_a, na_b = pd.isna(a), pd.isna(b)
    equal = np.array([not (p or q) and bool(x == y) for x, y, p, q in zip(a, b, na_a, na_b)], dtype=bool)
    return (na_a & na_b) | equal


def _same_geometry_blobs(a: bytes | None, b: bytes | None) -> int:
    """SQL function: 1 when two GeoPackage blobs hold the same geometry to :data:`GEOMETRY_TOLERANCE`."""
    import shapely

    if a is None or b is None:
        return int(a is None and b is None)
    ga, gb = shapely.from_wkb(_gpkg_blob_to_wkb(a)), shapely.from_wkb(_gpkg_blob_to_wkb(b))
    return int(bool(shapely.equals_exact(ga, gb, tolerance=GEOMETRY_TOLERANCE)))


def _show(value: Any, column: str, spec: LayerSpec) -> str:
    """A stored value as a person reads it: times in Asia/Shanghai, geometries as short WKT, empty as (empty)."""
    if value is None or (not isinstance(value, (bytes, str)) and pd.isna(value)):
        return "(empty)"
    if column == GEOMETRY_COLUMN:
        import shapely

        geom = value if not isinstance(value, bytes) else shapely.from_wkb(_gpkg_blob_to_wkb(value))
        return shapely.to_wkt(geom, rounding_precision=9, trim=True)[:120]
    if spec.column(column).dtype == "datetime":
        stamp = pd.Timestamp(str(value)).tz_convert(DEFAULT_TZ)
        return stamp.isoformat(sep=" ", timespec="milliseconds" if stamp.microsecond else "seconds")
    return str(value)


def _conflict_detail(spec: LayerSpec, key: Sequence[Any], differ: Sequence[tuple[str, Any, Any]],
                     where: str) -> str:
    """The sentence of a key conflict: the key, the stored (or earlier) version, this row's, and what to do."""
    keys = ", ".join(f"{k} {_show(v, k, spec)}" for k, v in zip(spec.key, key))
    label = {GEOMETRY_COLUMN: "position" if spec.geometry == "Point" else "geometry"}

    def side(i: int) -> str:
        return ", ".join(f"{label.get(c, c)} {_show(d[i], c, spec)}" for c, *d in differ)

    fix = ("two positions of one device at one time: check the device's clock and the file"
           if spec.name == "tracks" else f"give the row its own {' and '.join(spec.key)} or correct the file")
    return f"{keys} {where} with {side(0)}; this row has {side(1)}; {fix}"


def _frame_conflicts(spec: LayerSpec, attrs: pd.DataFrame, geoms: np.ndarray | None, repeated: np.ndarray,
                     records: np.ndarray) -> list[tuple[int, str]]:
    """(position, detail) of each repeated row whose content differs from the first row of its key."""
    import shapely

    key = list(spec.key)
    position = pd.Series(np.arange(len(attrs)), index=attrs.index)
    first = position.groupby([attrs[k] for k in key], sort=False, dropna=False).transform("first").to_numpy()
    rows = np.flatnonzero(repeated)
    earlier = first[rows]
    columns = content_columns(spec.name)
    values = {c: attrs[c].to_numpy(dtype=object) for c in [*key, *columns]}
    differs = {c: ~_same_values(values[c][rows], values[c][earlier]) for c in columns}
    if geoms is not None:
        differs[GEOMETRY_COLUMN] = ~shapely.equals_exact(geoms[rows], geoms[earlier], tolerance=GEOMETRY_TOLERANCE)
        values[GEOMETRY_COLUMN] = geoms
    out = []
    for i, (row, first_row) in enumerate(zip(rows, earlier)):
        changed = [c for c, mask in differs.items() if mask[i]]
        if changed:
            differ = [(c, values[c][first_row], values[c][row]) for c in changed]
            detail = _conflict_detail(spec, [values[k][row] for k in key], differ,
                                      f"is used by record {records[first_row]} earlier in this file")
            out.append((int(row), detail))
    return out


def _stored_conflicts(con: sqlite3.Connection, spec: LayerSpec, staged: _Staged, old_max: int) -> list[tuple[int, str]]:
    """(frame position, detail) of the staged rows whose key was stored before this import with other content.

    Called only when some staged row was not inserted (its key was already stored). One
    join of the stage and the layer on the key (both indexed), the outer loop over the
    smaller side; the content is compared in SQL, the geometry as stored blobs first and,
    where the bytes differ, to :data:`GEOMETRY_TOLERANCE`.
    """
    columns = content_columns(spec.name)
    tests = [f"m.{_q(c)} IS NOT s.{_q(c)}" for c in columns]
    shown = [*columns]
    if spec.geometry is not None:
        con.create_function("gridmap_same_geometry", 2, _same_geometry_blobs, deterministic=True)
        geom = _q(GEOMETRY_COLUMN)
        tests.append(f"(m.{geom} IS NOT s.{geom} AND NOT gridmap_same_geometry(m.{geom}, s.{geom}))")
        shown.append(GEOMETRY_COLUMN)
    if not tests:
        return []
    join = " AND ".join(f"m.{_q(k)} = s.{_q(k)}" for k in spec.key)
    stage, layer = f"{_STAGE}.{_STAGE} AS s", f"main.{_q(spec.name)} AS m"
    old_rows = con.execute(f"SELECT count(*) FROM main.{_q(spec.name)} WHERE fid <= ?", (old_max,)).fetchone()[0]
    outer, inner = (layer, stage) if old_rows < len(staged.rows) else (stage, layer)
    select = ", ".join(["s.fid", *(f"s.{_q(k)}" for k in spec.key), *(f"m.{_q(c)}, s.{_q(c)}" for c in shown)])
    found = con.execute(f"SELECT {select} FROM {outer} CROSS JOIN {inner} ON {join}"
                        f" WHERE m.fid <= ? AND ({' OR '.join(tests)})", (old_max,)).fetchall()
    _check_stage_fids(con, len(staged.rows), found)
    out = []
    nkey = len(spec.key)
    for row in found:
        pairs = row[1 + nkey:]
        differ = [(c, pairs[2 * i], pairs[2 * i + 1]) for i, c in enumerate(shown)
                  if _differs(c, pairs[2 * i], pairs[2 * i + 1])]
        detail = _conflict_detail(spec, row[1:1 + nkey], differ, "is already stored")
        out.append((int(staged.positions[row[0] - 1]), detail))
    return out


def _differs(column: str, stored: Any, incoming: Any) -> bool:
    if column == GEOMETRY_COLUMN:
        return not _same_geometry_blobs(stored, incoming)
    return stored != incoming


def _check_stage_fids(con: sqlite3.Connection, n: int, found: list[tuple]) -> None:
    """Staged row i has stage fid i + 1 (GDAL numbers a new layer's rows in order); refuse to guess otherwise."""
    if not found:
        return
    stage = con.execute(f"SELECT min(fid), max(fid), count(*) FROM {_STAGE}.{_STAGE}").fetchone()
    if tuple(stage) != (1, n, n):
        raise WorkspaceError(f"the staging file numbers its {n} rows {stage[0]}..{stage[1]}, not 1..{n}; "
                             "nothing was written (please report this)")


def _conflict_rows(spec: LayerSpec, frame: pd.DataFrame, staged: _Staged, conflicts: list[tuple[int, str]], *,
                   raw_records: pd.DataFrame | None, source: str, digest: str) -> list[tuple]:
    """Quarantine rows (tuples in column order) of the key conflicts, each with the incoming record as raw."""
    from gridmap.io._base import raw_json

    if not conflicts:
        return []
    positions = np.array([p for p, _ in conflicts], dtype="int64")
    numbers = staged.records[positions]
    raws: dict[int, str] = {}
    if raw_records is not None and "_record" in raw_records.columns:
        picked = raw_records[raw_records["_record"].isin(numbers)]
        columns = [c for c in picked.columns if c != "_record"]
        raws = {int(n): raw_json(r) for n, r in zip(picked["_record"], picked[columns].to_dict("records"))}
    own = [c for c in frame.columns if c in spec.column_names]
    geometry = getattr(frame, "_geometry_column_name", None) if spec.geometry is not None else None
    now = _utc_now_text()
    out = []
    for (pos, detail), number in zip(conflicts, numbers):
        raw = raws.get(int(number))
        if raw is None:  # no source record given: the row as appended is the record
            values = {c: frame[c].iloc[pos] for c in own}
            if geometry is not None:
                values["geometry"] = frame[geometry].iloc[pos]
            raw = raw_json(values)
        out.append((spec.name, source, digest, int(number), raw, _KEY_CONFLICT, detail, now))
    return out


# ---------------------------------------------------------------------------------------------------------------
# the transaction
# ---------------------------------------------------------------------------------------------------------------


def _insert_triggers(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """GDAL's AFTER INSERT triggers on `table` (R-tree and feature count), as (name, sql)."""
    rows = con.execute(
        "SELECT name, sql FROM main.sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = lower(?)",
        (table,),
    ).fetchall()
    prefixes = (f"rtree_{table}_".lower(), f"trigger_insert_feature_count_{table}".lower())
    return [(n, s) for n, s in rows if n.lower().startswith(prefixes) and "AFTER INSERT" in s.upper()]


def _copy_staged_rows(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame) -> int:
    """Copy staged rows into the layer (keys already stored are ignored); return the rows inserted."""
    table = _q(spec.name)
    cols = [_q(c) for c in spec.column_names]
    if spec.geometry is not None:
        cols.insert(0, _q(GEOMETRY_COLUMN))
    col_list = ", ".join(cols)
    old_max = con.execute(f"SELECT coalesce(max(fid), 0) FROM main.{table}").fetchone()[0]
    triggers = _insert_triggers(con, spec.name)
    for name, _ in triggers:
        con.execute(f"DROP TRIGGER main.{_q(name)}")
    inserted = con.execute(
        f"INSERT OR IGNORE INTO main.{table} ({col_list}) SELECT {col_list} FROM {_STAGE}.{_STAGE} ORDER BY fid"
    ).rowcount
    if spec.geometry is not None and inserted:
        if inserted < _BULK_RTREE_MIN_ROWS or not _bulk_load_rtree(con, spec, staged, old_max, inserted):
            _insert_rtree_rows(con, spec, old_max)
    for _, sql in triggers:
        con.execute(sql)
    return int(inserted)


def _new_rows_query(spec: LayerSpec, columns: str) -> str:
    """SQL selecting `columns` of the rows just copied (``m``: the layer, ``s``: the stage), given ``fid > ?``."""
    join = " AND ".join(f"m.{_q(k)} = s.{_q(k)}" for k in spec.key)
    return f"SELECT {columns} FROM main.{_q(spec.name)} AS m JOIN {_STAGE}.{_STAGE} AS s ON {join} WHERE m.fid > ?"


def _rtree_name(spec: LayerSpec) -> str:
    return f"rtree_{spec.name}_{GEOMETRY_COLUMN}"


def _insert_rtree_rows(con: sqlite3.Connection, spec: LayerSpec, old_max: int) -> None:
    """Insert the new rows' boxes into the layer's R-tree with SQL (SQLite's R*-tree insertion, one by one)."""
    columns = "m.fid, " + ", ".join("s." + b for b in _BBOX)
    con.execute(
        f"INSERT INTO main.{_q(_rtree_name(spec))} (id, minx, maxx, miny, maxy)"
        f" {_new_rows_query(spec, columns)} ORDER BY s._hilbert",
        (old_max,),
    )


def _new_entries(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame, old_max: int,
                 inserted: int) -> tuple[np.ndarray, np.ndarray]:
    """The new rows' fids and boxes (n x 4: minx, maxx, miny, maxy).

    When every staged row was inserted, the rows went in in stage fid order
    (``ORDER BY fid``) and each got a fid above the previous one; if the new
    fids form one gap-free run and the stage's fids are 1..n (GDAL numbers the
    staged frame's rows in order), staged row i got fid ``first + i`` and its
    box is read from `staged` without a join. Otherwise the new rows are joined
    to the stage on the key.
    """
    n = len(staged)
    if inserted == n:
        lo, hi, count = con.execute(f"SELECT min(fid), max(fid), count(*) FROM main.{_q(spec.name)} WHERE fid > ?",
                                    (old_max,)).fetchone()
        stage = con.execute(f"SELECT min(fid), max(fid), count(*) FROM {_STAGE}.{_STAGE}").fetchone()
        if count == n and hi - lo + 1 == n and tuple(stage) == (1, n, n):
            return np.arange(lo, hi + 1, dtype=np.int64), staged[list(_BBOX)].to_numpy(dtype="float64")
    columns = "m.fid, " + ", ".join("s." + b for b in _BBOX)
    rows = con.execute(_new_rows_query(spec, columns), (old_max,)).fetchall()
    fid = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return fid, np.array([r[1:] for r in rows], dtype="float64").reshape(len(rows), 4)


def _bulk_load_rtree(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame, old_max: int,
                     inserted: int) -> bool:
    """Rebuild the layer's R-tree, STR-packed, with the new rows' boxes (see :mod:`gridmap._rtree`).

    Reads the new rows' fids and boxes, then only the R-tree's shadow tables:
    the R-tree virtual table is not used through SQL in this transaction before
    its shadow tables are rewritten. False when the tree cannot be bulk loaded.
    """
    from gridmap._rtree import bulk_load

    fid, box = _new_entries(con, spec, staged, old_max, inserted)
    return bulk_load(con, _rtree_name(spec), fid, box[:, 0], box[:, 1], box[:, 2], box[:, 3])


def _update_contents(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame) -> None:
    """Keep ``gpkg_ogr_contents.feature_count`` and ``gpkg_contents`` (extent, last_change) right."""
    table = spec.name
    count = con.execute(f"SELECT count(*) FROM main.{_q(table)}").fetchone()[0]
    con.execute("UPDATE gpkg_ogr_contents SET feature_count = ? WHERE lower(table_name) = lower(?)", (count, table))
    con.execute("UPDATE gpkg_contents SET last_change = ? WHERE lower(table_name) = lower(?)", (_utc_now_text(), table))
    if spec.geometry is None or len(staged) == 0:
        return
    ext = (float(staged["_minx"].min()), float(staged["_miny"].min()),
           float(staged["_maxx"].max()), float(staged["_maxy"].max()))
    con.execute(
        "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?1), ?1), min_y = min(coalesce(min_y, ?2), ?2),"
        " max_x = max(coalesce(max_x, ?3), ?3), max_y = max(coalesce(max_y, ?4), ?4)"
        " WHERE lower(table_name) = lower(?5)",
        (*ext, table),
    )


def _apply_status_events(con: sqlite3.Connection) -> None:
    """Set the status of every report named in the rows just staged from its latest event.

    The events are the report's rectifications and its spot checks. A
    rectification happened at its ``verified_at`` when it has one (status
    ``verified``), else at its ``rectified_at`` (status ``rectified``); a spot
    check happened at ``checked_at`` (status = its result, ``verified`` or
    ``reopened``). The latest event wins; at equal times a spot check beats a
    rectification (the check is made on the fix). Reports whose status already
    says so are left alone. Times are stored as UTC text of one format, so the
    text order is the time order.
    """
    staged = f"SELECT report_id FROM {_STAGE}.{_STAGE}"
    con.execute(
        f"""
        WITH events AS (
            SELECT report_id, coalesce(verified_at, rectified_at) AS at, 0 AS kind,
                   CASE WHEN verified_at IS NOT NULL THEN 'verified' ELSE 'rectified' END AS status
            FROM main.rectifications WHERE report_id IN ({staged})
            UNION ALL
            SELECT report_id, checked_at AS at, 1 AS kind, result AS status
            FROM main.spotchecks WHERE report_id IN ({staged})
        ),
        latest AS (
            SELECT report_id, status FROM (
                SELECT report_id, status,
                       row_number() OVER (PARTITION BY report_id ORDER BY at DESC, kind DESC) AS rank
                FROM events)
            WHERE rank = 1
        )
        UPDATE main.reports SET status = (SELECT status FROM latest WHERE latest.report_id = reports.report_id)
        WHERE report_id IN (SELECT report_id FROM latest)
          AND coalesce(status, '') != (SELECT status FROM latest WHERE latest.report_id = reports.report_id)
        """
    )


def _insert_quarantine(con: sqlite3.Connection, rows: list[tuple], import_fid: int) -> None:
    """Add quarantine rows, each linked to the import that quarantined it; a record already there stays as it is."""
    if not rows:
        return
    columns = (*QUARANTINE_COLUMNS, _QUARANTINE_IMPORT)
    names = ", ".join(_q(c.name) for c in columns)
    marks = ", ".join("?" for _ in columns)
    con.executemany(f"INSERT OR IGNORE INTO {QUARANTINE_TABLE} ({names}) VALUES ({marks})",
                    [(*row, import_fid) for row in rows])


def _insert_log(con: sqlite3.Connection, summary: ImportSummary, digest: str,
                options: Mapping[str, Any] | None) -> int:
    """Add the import's row to the log; return its fid."""
    d = summary.to_dict()
    text = None if options is None else json.dumps(dict(options), ensure_ascii=False, default=str)
    row = (d["layer"], d["source"], digest, d["read"], d["accepted"], d["duplicates"], d["quarantined"],
           json.dumps(d["reasons"], ensure_ascii=False), _utc_now_text(), text)
    names = ", ".join(_q(c.name) for c in _IMPORT_COLUMNS)
    cursor = con.execute(f"INSERT INTO {IMPORTS_TABLE} ({names}) VALUES ({', '.join('?' * len(row))})", row)
    return int(cursor.lastrowid or 0)


@dataclass
class _Batch:
    """Everything one :meth:`Workspace.append` writes."""

    spec: LayerSpec
    frame: pd.DataFrame
    staged: _Staged
    qrows: list[tuple]
    read: int
    source: str
    digest: str
    options: Mapping[str, Any] | None
    raw_records: pd.DataFrame | None
    replaces: list[int]


def _write_in_transaction(con: sqlite3.Connection, batch: _Batch, has_stage: bool) -> ImportSummary:
    """Copy the staged rows, find key conflicts, log the import and quarantine what did not land."""
    spec, staged = batch.spec, batch.staged
    old_max = con.execute(f"SELECT coalesce(max(fid), 0) FROM main.{_q(spec.name)}").fetchone()[0]
    accepted = _copy_staged_rows(con, spec, staged.rows) if has_stage else 0
    stored = _stored_conflicts(con, spec, staged, old_max) if accepted < len(staged.rows) else []
    if accepted:
        _update_contents(con, spec, staged.rows)
        if spec.name in ("rectifications", "spotchecks"):
            _apply_status_events(con)
    conflicts = _conflict_rows(spec, batch.frame, staged, sorted(staged.conflicts + stored),
                               raw_records=batch.raw_records, source=batch.source, digest=batch.digest)
    qrows = batch.qrows + conflicts
    reasons = dict(Counter(str(r[5]) for r in qrows))
    summary = ImportSummary(
        spec.name, batch.source, read=batch.read, accepted=accepted,
        duplicates=staged.repeated + len(staged.rows) - accepted - len(stored), quarantined=len(qrows),
        reasons=reasons,
    )
    import_fid = _insert_log(con, summary, batch.digest, batch.options)
    if batch.replaces:
        con.executemany(f"DELETE FROM {QUARANTINE_TABLE} WHERE fid = ?", [(f,) for f in batch.replaces])
    _insert_quarantine(con, qrows, import_fid)
    return summary


# ---------------------------------------------------------------------------------------------------------------
# creating a workspace
# ---------------------------------------------------------------------------------------------------------------


def _create_tables(path: Path) -> None:
    """Create every layer and table with GDAL (so each is registered in gpkg_contents)."""
    import pyogrio

    for spec in LAYERS.values():
        empty = _empty_frame(spec.columns, spec.geometry)
        options: dict[str, Any] = {"layer": spec.name, "use_arrow": True}
        if spec.geometry is not None:
            options.update(geometry_type=_ogr_geometry_type(spec.geometry))
        pyogrio.write_dataframe(empty, path, **options)
    pyogrio.write_dataframe(_empty_frame((*QUARANTINE_COLUMNS, _QUARANTINE_IMPORT), None), path,
                            layer=QUARANTINE_TABLE, use_arrow=True)
    pyogrio.write_dataframe(_empty_frame(_IMPORT_COLUMNS, None), path, layer=IMPORTS_TABLE, use_arrow=True)
    pyogrio.write_dataframe(_empty_frame(_META_COLUMNS, None), path, layer=META_TABLE, use_arrow=True)
    pyogrio.write_dataframe(_empty_frame(_CATEGORY_COLUMNS, None), path, layer=CATEGORIES_TABLE, use_arrow=True)
    pyogrio.write_dataframe(_empty_frame(_ALIAS_COLUMNS, None), path, layer=ALIASES_TABLE, use_arrow=True)


def _finish_schema(path: Path, meta: Mapping[str, str]) -> None:
    """Unique indexes, metadata rows and WAL journaling, with Python's sqlite3."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        if con.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise WorkspaceError(f"cannot switch {path} to WAL journaling; is it on a network drive? use a local disk")
        con.execute("BEGIN IMMEDIATE")
        for spec in LAYERS.values():
            cols = ", ".join(_q(k) for k in spec.key)
            con.execute(f"CREATE UNIQUE INDEX {_q(f'ux_{spec.name}_key')} ON {_q(spec.name)} ({cols})")
        con.execute(
            f"CREATE UNIQUE INDEX ux_quarantine_record ON {QUARANTINE_TABLE} (layer, source_digest, record, reason)"
        )
        con.execute(f"CREATE UNIQUE INDEX ux_meta_key ON {META_TABLE} (key)")
        con.execute(f"CREATE UNIQUE INDEX ux_categories_key ON {CATEGORIES_TABLE} (key)")
        con.execute(f"CREATE UNIQUE INDEX {_q(f'ux_{ALIASES_TABLE}_key')} ON {ALIASES_TABLE} (layer, source)")
        con.executemany(f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?)", list(meta.items()))
        con.execute("COMMIT")
    finally:
        con.close()


def _gridmap_version() -> str:
    import gridmap

    version = getattr(gridmap, "__version__", None)
    if version is None:  # e.g. an editable install seen as a namespace package
        from importlib.metadata import version as dist_version

        version = dist_version("gridmap")
    return str(version)


def _remove_workspace_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            candidate.unlink()


def _build_workspace_file(target: Path, meta: Mapping[str, str]) -> None:
    """Build the workspace in a temporary folder under a plain name, then move it to `target`.

    GDAL (through pyogrio) reads ``!`` in a path as an archive separator: written
    straight to ``w/a!b.gpkg`` the layers would go to another file. Building
    elsewhere also means a failed build leaves nothing at `target`.
    """
    with tempfile.TemporaryDirectory(prefix="gridmap-init-") as tmp:
        built = Path(tmp) / "workspace.gpkg"
        _create_tables(built)
        _finish_schema(built, meta)  # closes its connection: the WAL is checkpointed and removed
        try:
            shutil.move(str(built), str(target))
        except BaseException:
            _remove_workspace_files(target)
            raise


def init_workspace(
    path: str | PathLike[str], *, sample: bool = False, overwrite: bool = False, seed: int = 0
) -> Workspace:
    """Create a workspace GeoPackage with every layer of the model, empty or filled with sample data.

    Parameters
    ----------
    path : str or path-like
        The ``.gpkg`` file to create, on a local disk (WAL journaling does not
        work on network drives).
    sample : bool
        Fill the layers with :func:`gridmap.sample.sample_layers` (illustrative
        data, not surveyed; the workspace's ``illustrative`` flag says so).
    overwrite : bool
        Replace an existing file. Without it an existing file is an error.
    seed : int
        Seed of the sample data.

    Returns
    -------
    Workspace

    Raises
    ------
    WorkspaceError
        When `path` exists and `overwrite` is false, or WAL cannot be enabled.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
    ...     print(ws.meta["schema_version"], ws.meta["illustrative"])
    3 false
    >>> tmp.cleanup()
    """
    target = Path(path)
    if target.exists():
        if not overwrite:
            raise WorkspaceError(
                f"{target} already exists; pass overwrite=True (gridmap init --overwrite) to replace it"
            )
        _remove_workspace_files(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "schema_version": str(SCHEMA_VERSION),
        "created_at": _utc_now_text(),
        "gridmap_version": _gridmap_version(),
        "illustrative": "true" if sample else "false",
    }
    _build_workspace_file(target, meta)
    logger.info("created workspace %s (schema %s)", target, SCHEMA_VERSION)
    ws = open_workspace(target)
    if sample:
        _fill_sample(ws, seed=seed)
    return ws


def _fill_sample(ws: Workspace, *, seed: int) -> None:
    from gridmap.sample import sample_layers

    for name, frame in sample_layers(seed=seed).items():
        ws.append(name, frame, source=f"gridmap.sample(seed={seed})", source_digest=f"sample-{seed}")


# ---------------------------------------------------------------------------------------------------------------
# opening a workspace
# ---------------------------------------------------------------------------------------------------------------


def _read_meta(path: Path) -> dict[str, str]:
    """The workspace's meta table; refuses files that are not gridmap workspaces."""
    hint = f"create a workspace with `gridmap init {path}`"
    if not path.is_file():
        raise WorkspaceError(f"no workspace at {path}; {hint}")
    try:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            rows = con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall()
            tables = {r[0].lower() for r in con.execute("SELECT table_name FROM gpkg_contents")}
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc).lower():
            _busy_or_raise(exc, path)
        raise WorkspaceError(f"{path} is not a gridmap workspace ({exc}); {hint}") from None
    except sqlite3.DatabaseError as exc:
        raise WorkspaceError(f"{path} is not a gridmap workspace ({exc}); {hint}") from None
    base = [t for t in LAYERS if t not in LAYERS_ADDED_IN]  # later layers are added by _migrate
    missing = [t for t in (*base, QUARANTINE_TABLE, IMPORTS_TABLE, META_TABLE) if t.lower() not in tables]
    if missing:
        raise WorkspaceError(f"{path} is not a complete gridmap workspace: missing {', '.join(missing)}; {hint}")
    return {str(k): str(v) for k, v in rows}


def _check_version(meta: Mapping[str, str], path: Path) -> int:
    try:
        version = int(meta["schema_version"])
    except (KeyError, ValueError):
        raise WorkspaceError(
            f"{path} has no valid schema_version in {META_TABLE}; it is not a gridmap workspace:"
            f" create one with `gridmap init`"
        ) from None
    if version > SCHEMA_VERSION:
        raise WorkspaceVersionError(
            f"{path} was written by a newer gridmap (schema {version}); upgrade gridmap"
            f" (this one reads schema {SCHEMA_VERSION})"
        )
    return version


_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "datetime": "DATETIME"}


def _create_attribute_table(con: sqlite3.Connection, name: str, columns: Sequence[Column],
                            key: Sequence[str]) -> None:
    """Create a table without geometry with SQL, exactly as GDAL makes one (table, contents rows, triggers).

    GeoPackage 1.3 clause 2.4 ("Attributes"): a table registered in
    ``gpkg_contents`` with ``data_type = 'attributes'``; GDAL also keeps a
    feature count in ``gpkg_ogr_contents`` with two triggers, as it does for
    the ``rectifications`` table of a new workspace. `key` gets a unique index.
    """
    cols = ", ".join(f"{_q(c.name)} {_SQL_TYPES[c.dtype]}" for c in columns)
    con.execute(f'CREATE TABLE {_q(name)} ( "fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, {cols})')
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, srs_id)"
                " VALUES (?, 'attributes', ?, '', ?, 0)", (name, name, _utc_now_text()))
    con.execute("INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, 0)", (name,))
    literal = name.replace("'", "''")
    for event, sign in (("INSERT", "+"), ("DELETE", "-")):
        trigger = _q(f"trigger_{event.lower()}_feature_count_{name}")
        con.execute(f"CREATE TRIGGER {trigger} AFTER {event} ON {_q(name)} BEGIN UPDATE gpkg_ogr_contents"
                    f" SET feature_count = feature_count {sign} 1 WHERE lower(table_name) = lower('{literal}'); END")
    keys = ", ".join(_q(k) for k in key)
    con.execute(f"CREATE UNIQUE INDEX {_q(f'ux_{name}_key')} ON {_q(name)} ({keys})")


def _add_missing_columns(con: sqlite3.Connection, stored: int) -> list[str]:
    """Add the columns of :data:`gridmap.model.COLUMNS_ADDED_IN` newer than `stored` to every layer lacking them."""
    added = []
    for column, version in COLUMNS_ADDED_IN.items():
        if not stored < version <= SCHEMA_VERSION:
            continue
        for spec in LAYERS.values():
            have = {r[1] for r in con.execute(f"PRAGMA table_info({_q(spec.name)})")}
            if column not in have:
                col = spec.column(column)
                con.execute(f"ALTER TABLE {_q(spec.name)} ADD COLUMN {_q(column)} {_SQL_TYPES[col.dtype]}")
                added.append(f"{spec.name}.{column}")
    return added


def _add_table_columns(con: sqlite3.Connection, table: str, columns: Sequence[Column]) -> None:
    """Add those of `columns` that `table` lacks (``ALTER TABLE ... ADD COLUMN``: old rows hold NULL)."""
    have = {r[1] for r in con.execute(f"PRAGMA table_info({_q(table)})")}
    for col in columns:
        if col.name not in have:
            con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(col.name)} {_SQL_TYPES[col.dtype]}")


def _migrate(path: Path, version: int, *, busy_timeout: float) -> None:
    """Bring a workspace of an older schema up to :data:`SCHEMA_VERSION` in one transaction.

    Version 2 added the ``spotchecks`` table; version 3 the ``extra`` column of every
    layer, the column-alias table (:data:`ALIASES_TABLE`), the ``options`` of each import
    (:data:`IMPORTS_TABLE`) and, in the quarantine, the ``import_fid`` of the import that
    quarantined each record (records quarantined before have none: ``gridmap quarantine
    --retry`` leaves them, their import's options being unknown). The version is read again inside
    the transaction, so two processes opening the same old file migrate it once.
    """
    con = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            stored = int(con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'").fetchone()[0])
            tables = {r[0].lower() for r in con.execute("SELECT table_name FROM gpkg_contents")}
            for name, added in LAYERS_ADDED_IN.items():
                if stored < added <= SCHEMA_VERSION and name.lower() not in tables:
                    spec = LAYERS[name]
                    _create_attribute_table(con, name, spec.columns, spec.key)
            _add_missing_columns(con, stored)
            if ALIASES_TABLE.lower() not in tables:
                _create_attribute_table(con, ALIASES_TABLE, _ALIAS_COLUMNS, ("layer", "source"))
            _add_table_columns(con, IMPORTS_TABLE, [c for c in _IMPORT_COLUMNS if c.name == "options"])
            _add_table_columns(con, QUARANTINE_TABLE, [_QUARANTINE_IMPORT])
            if stored < SCHEMA_VERSION:
                con.execute(f"UPDATE {META_TABLE} SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        _busy_or_raise(exc, path)
    finally:
        con.close()
    logger.info("migrated workspace %s from schema %s to %s (added: %s)", path, version, SCHEMA_VERSION,
                ", ".join(n for n, v in LAYERS_ADDED_IN.items() if version < v) or "nothing")


def open_workspace(path: str | PathLike[str], *, busy_timeout: float = 10.0) -> Workspace:
    """Open an existing workspace.

    Parameters
    ----------
    path : str or path-like
        A GeoPackage created by :func:`init_workspace` (``gridmap init``).
    busy_timeout : float
        Seconds a write waits for another process's write to finish before
        raising :class:`~gridmap._errors.WorkspaceBusyError`.

    Returns
    -------
    Workspace

    Raises
    ------
    WorkspaceError
        When `path` is missing or not a gridmap workspace.
    WorkspaceVersionError
        When the workspace was written by a newer gridmap.

    Notes
    -----
    A workspace of an older schema is migrated when opened, in one
    transaction: schema 1 → 2 adds the ``spotchecks`` table, 2 → 3 the ``extra``
    column of every layer, the table of column aliases, the ``options`` of each import
    and the quarantine's link to its import (``import_fid``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory()
    >>> init_workspace(pathlib.Path(tmp.name) / "w.gpkg").close()
    >>> with open_workspace(pathlib.Path(tmp.name) / "w.gpkg", busy_timeout=2) as ws:
    ...     ws.integrity_check()
    'ok'
    >>> tmp.cleanup()
    """
    target = Path(path)
    meta = _read_meta(target)
    version = _check_version(meta, target)
    if version < SCHEMA_VERSION:
        _migrate(target, version, busy_timeout=busy_timeout)
        meta, version = _read_meta(target), SCHEMA_VERSION
    ws = Workspace(target, meta=meta, schema_version=version, busy_timeout=busy_timeout)
    ws._register_categories()
    return ws


# ---------------------------------------------------------------------------------------------------------------
# the workspace
# ---------------------------------------------------------------------------------------------------------------


class Workspace:
    """An open gridmap workspace (a GeoPackage file).

    Create one with :func:`init_workspace` or :func:`open_workspace`. Every
    operation opens its own short SQLite connection, so a ``Workspace`` holds
    no lock between calls.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely.geometry import Point
    >>> tmp = tempfile.TemporaryDirectory()
    >>> ws = init_workspace(pathlib.Path(tmp.name) / "w.gpkg")
    >>> reports = gpd.GeoDataFrame(
    ...     {"report_id": ["r1", "r2"], "category": ["garbage_dumping"] * 2,
    ...      "reported_at": pd.to_datetime(["2025-03-01 09:00", "2025-03-02 10:30"]).tz_localize("Asia/Shanghai")},
    ...     geometry=[Point(109.73, 38.29), Point(109.74, 38.28)], crs="EPSG:4326")
    >>> ws.append("reports", reports, source="demo").accepted
    2
    >>> ws.append("reports", reports, source="demo").duplicates
    2
    >>> ws.read_layer("reports")["reported_at"].iloc[0]
    Timestamp('2025-03-01 09:00:00+0800', tz='Asia/Shanghai')
    >>> ws.close()
    >>> tmp.cleanup()
    """

    def __init__(self, path: Path, *, meta: Mapping[str, str], schema_version: int, busy_timeout: float) -> None:
        self._path = Path(path)
        self._meta = dict(meta)
        self._schema_version = schema_version
        self._busy_timeout = float(busy_timeout)
        self._closed = False

    # -- properties --------------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The workspace file."""
        return self._path

    @property
    def schema_version(self) -> int:
        """Schema version stored in the workspace."""
        return self._schema_version

    @property
    def meta(self) -> dict[str, str]:
        """A copy of the workspace's key/value metadata."""
        return dict(self._meta)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Workspace {str(self._path)!r} schema {self._schema_version} ({state})>"

    # -- connections -------------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """A new connection in autocommit mode, WAL, synchronous=FULL, busy timeout set."""
        if self._closed:
            raise WorkspaceError(f"workspace {self._path} is closed; open it again with open_workspace()")
        con = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        _register_gpkg_functions(con)
        try:
            con.execute("PRAGMA synchronous = FULL")
            con.execute("PRAGMA cache_size = -65536")  # 64 MiB: fewer spills while building the R-tree
            con.execute("PRAGMA foreign_keys = OFF")
        except sqlite3.OperationalError as exc:
            con.close()
            _busy_or_raise(exc, self._path)
        return con

    def pragmas(self) -> dict[str, str]:
        """Journal mode and synchronous setting of the workspace's write connections.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     ws.pragmas()
        {'journal_mode': 'wal', 'synchronous': 'FULL'}
        >>> tmp.cleanup()
        """
        con = self._connect()
        try:
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
            sync = con.execute("PRAGMA synchronous").fetchone()[0]
        finally:
            con.close()
        return {"journal_mode": str(mode).lower(), "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[sync]}

    def _query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        con = self._connect()
        try:
            return pd.read_sql_query(sql, con, params=list(params))
        finally:
            con.close()

    # -- reading -----------------------------------------------------------------------------------------------
    def read_layer(self, name: str, *, where: str | None = None) -> pd.DataFrame:
        """Read a layer, typed per the model.

        The rows are read with Python's ``sqlite3`` and the GeoPackage geometry
        blobs decoded here, not through GDAL: in one process, GDAL's bundled
        SQLite would delete the WAL files under another open ``sqlite3``
        connection (see the module notes), which ends in "disk I/O error".

        Parameters
        ----------
        name : str
            A layer of :data:`gridmap.model.LAYERS`.
        where : str, optional
            An SQLite ``WHERE`` clause, e.g. ``"category = 'firewood_pile'"``
            (run on a read-only connection).

        Returns
        -------
        geopandas.GeoDataFrame or pandas.DataFrame
            The model columns in order (times tz-aware in Asia/Shanghai, ints
            as nullable ``Int64``, text as ``string``), the geometry in
            EPSG:4326 for spatial layers; no GDAL ``fid`` column.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     list(ws.read_layer("tracks").columns)
        ['inspector', 'time', 'track_id', 'extra', 'geometry']
        >>> tmp.cleanup()
        """
        spec = layer_spec(name)
        cols = [_q(c) for c in spec.column_names]
        if spec.geometry is not None:
            cols.append(_q(GEOMETRY_COLUMN))
        sql = f"SELECT {', '.join(cols)} FROM {_q(name)}" + (f" WHERE ({where})" if where else "") + " ORDER BY fid"
        con = self._connect()
        try:
            con.execute("PRAGMA query_only = ON")  # `where` is the caller's SQL: it may read, never write
            rows = con.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            raise WorkspaceError(f"cannot read layer {name!r} of {self._path} (where={where!r}): {exc}") from exc
        finally:
            con.close()
        return _rows_to_frame(rows, spec)

    def counts(self) -> dict[str, int]:
        """Rows per layer, and in ``quarantine``.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     sum(ws.counts().values())
        0
        >>> tmp.cleanup()
        """
        con = self._connect()
        try:
            return {t: int(con.execute(f"SELECT count(*) FROM {_q(t)}").fetchone()[0])
                    for t in (*LAYERS, QUARANTINE_TABLE)}
        finally:
            con.close()

    def quarantine(self, source: str | None = None) -> pd.DataFrame:
        """The quarantined records, all or those of one `source`, oldest first.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     list(ws.quarantine().columns)[:4]
        ['layer', 'source', 'source_digest', 'record']
        >>> tmp.cleanup()
        """
        names = ", ".join(_q(c.name) for c in QUARANTINE_COLUMNS)
        sql = f"SELECT {names} FROM {QUARANTINE_TABLE}"
        params: tuple[str, ...] = ()
        if source is not None:
            sql, params = sql + " WHERE source = ?", (source,)
        return _typed_frame(self._query(sql + " ORDER BY fid", params), QUARANTINE_COLUMNS)

    def quarantine_with_options(self, layer: str | None = None) -> pd.DataFrame:
        """The quarantined records (of one `layer` or all) with their ``fid`` and their import's ``options``.

        ``options`` is the JSON text the import logged (:func:`gridmap.importer.import_options`),
        missing for records quarantined before imports logged their options; what
        :func:`gridmap.retry_quarantine` needs to prepare the records again.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     list(ws.quarantine_with_options().columns)[-2:]
        ['quarantined_at', 'options']
        >>> tmp.cleanup()
        """
        names = ", ".join(f"q.{_q(c.name)}" for c in QUARANTINE_COLUMNS)
        sql = (f"SELECT q.fid AS fid, {names}, i.options AS options FROM {QUARANTINE_TABLE} AS q"
               f" LEFT JOIN {IMPORTS_TABLE} AS i ON i.fid = q.{_q(_QUARANTINE_IMPORT.name)}")
        params: tuple[str, ...] = ()
        if layer is not None:
            sql, params = sql + " WHERE q.layer = ?", (layer_spec(layer).name,)
        frame = self._query(sql + " ORDER BY q.fid", params)
        out = _typed_frame(frame, QUARANTINE_COLUMNS)
        out["fid"] = pd.to_numeric(frame["fid"]).astype("int64")
        out["options"] = frame["options"].astype("string")
        return out[["fid", *(c.name for c in QUARANTINE_COLUMNS), "options"]]

    def imports(self) -> pd.DataFrame:
        """The import log, one row per :meth:`append`, oldest first.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     len(ws.imports())
        0
        >>> tmp.cleanup()
        """
        names = ", ".join(_q(c.name) for c in _IMPORT_COLUMNS)
        return _typed_frame(self._query(f"SELECT {names} FROM {IMPORTS_TABLE} ORDER BY fid"), _IMPORT_COLUMNS)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``'ok'`` for an intact file."""
        con = self._connect()
        try:
            return "\n".join(str(r[0]) for r in con.execute("PRAGMA integrity_check"))
        finally:
            con.close()

    def _register_categories(self) -> None:
        """Make the categories stored in this workspace known to gridmap.model in this process."""
        from gridmap.model import register_category

        con = self._connect()
        try:
            rows = con.execute(f"SELECT key, zh, en FROM {CATEGORIES_TABLE}").fetchall()
        except sqlite3.OperationalError:
            rows = []  # a workspace made before custom categories existed
        finally:
            con.close()
        for key, zh, en in rows:
            register_category(key, zh, en)

    def add_category(self, key: str, zh: str, en: str | None = None) -> Category:
        """Add a report category to this workspace (kept in it for every later session).

        Parameters
        ----------
        key : str
            Lower-case English key, letters, digits and underscores.
        zh : str
            zh-Hans label users see and may type on import.
        en : str, optional
            English label.

        Returns
        -------
        gridmap.model.Category

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     ws.add_category("illegal_ad_posting", "乱贴小广告", "illegal ad posting").zh
        '乱贴小广告'
        >>> with open_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     "illegal_ad_posting" in set(ws.categories()["key"])
        True
        >>> tmp.cleanup()
        """
        from gridmap.model import register_category

        category = register_category(key, zh, en)
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(f"INSERT OR IGNORE INTO {CATEGORIES_TABLE} (key, zh, en) VALUES (?, ?, ?)",
                        (category.key, category.zh, category.en))
            con.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _busy_or_raise(exc, self._path)
        finally:
            con.close()
        return category

    def categories(self) -> pd.DataFrame:
        """Every report category known here: ``key``, ``zh``, ``en`` and ``builtin``."""
        from gridmap.model import CATEGORIES, builtin_category_keys

        builtin = builtin_category_keys()
        return pd.DataFrame(
            [{"key": c.key, "zh": c.zh, "en": c.en, "builtin": c.key in builtin} for c in CATEGORIES.values()]
        )

    def add_column_alias(self, layer: str, source: str, target: str) -> None:
        """Store that header `source` of `layer`'s files means model column `target` (``gridmap alias``).

        The mapping is kept in the workspace (:data:`ALIASES_TABLE`), so next month's file of the same
        shape imports without ``--map``. A second mapping of the same header replaces the first.

        Parameters
        ----------
        layer : str
            A layer of :data:`gridmap.model.LAYERS`.
        source : str
            The header as written in the files (matched stripped and case-insensitively).
        target : str
            A column of the layer, or ``lon``/``lat`` for coordinate columns.

        Raises
        ------
        SchemaError
            An unknown layer or target column, or an empty header.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     ws.add_column_alias("reports", "巡查发现问题", "description")
        ...     ws.column_aliases().values.tolist()
        [['reports', '巡查发现问题', 'description']]
        >>> tmp.cleanup()
        """
        spec = layer_spec(layer)
        header = str(source).replace("\ufeff", "").strip().lower()
        targets = [*spec.column_names, "lon", "lat"]
        if not header:
            raise SchemaError("an alias needs a header: gridmap alias WORKSPACE LAYER 'HEADER=COLUMN'")
        if target not in targets:
            raise SchemaError(f"{target!r} is not a column of layer {spec.name!r}; map {source!r} to one of: "
                              f"{', '.join(targets)}")
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(f"DELETE FROM {ALIASES_TABLE} WHERE layer = ? AND source = ?", (spec.name, header))
            con.execute(f"INSERT INTO {ALIASES_TABLE} (layer, source, target) VALUES (?, ?, ?)",
                        (spec.name, header, target))
            con.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _busy_or_raise(exc, self._path)
        finally:
            con.close()
        logger.info("alias stored: %s header %r → %s", spec.name, header, target)

    def column_aliases(self, layer: str | None = None) -> pd.DataFrame:
        """The stored column aliases (``layer``, ``source``, ``target``), of one layer or of all, sorted."""
        where, params = ("", ()) if layer is None else (" WHERE layer = ?", (layer_spec(layer).name,))
        frame = self._query(f"SELECT layer, source, target FROM {ALIASES_TABLE}{where} ORDER BY layer, source",
                            params)
        return frame.astype("string") if len(frame) else pd.DataFrame(
            {c.name: pd.Series(dtype="string") for c in _ALIAS_COLUMNS})

    def subdistrict_geometry(self) -> Any:
        """The union of the ``subdistrict`` layer (EPSG:4326), or None when it is empty."""
        import shapely

        frame = self.read_layer("subdistrict")
        if len(frame) == 0:
            return None
        return shapely.union_all(frame.geometry.to_numpy())

    # -- writing -----------------------------------------------------------------------------------------------
    def append(
        self,
        layer: str,
        frame: pd.DataFrame,
        *,
        quarantine: pd.DataFrame | None = None,
        source: str = "<frame>",
        source_digest: str = "",
        read: int | None = None,
        options: Mapping[str, Any] | None = None,
        raw_records: pd.DataFrame | None = None,
        replaces: Sequence[int] = (),
    ) -> ImportSummary:
        """Append rows to a layer in one transaction, skipping rows already stored.

        A row whose key is already stored, or used by an earlier row of `frame`, is a
        duplicate when its content is the same (:func:`content_columns` and the geometry, to
        :data:`GEOMETRY_TOLERANCE`), and is not stored again; with other content it is
        quarantined as ``key_conflict``, the detail naming the stored (or earlier) and the
        incoming values of each column that differs. Never is a row with different content
        dropped as a duplicate.

        Parameters
        ----------
        layer : str
            A layer of :data:`gridmap.model.LAYERS`.
        frame : pandas.DataFrame or geopandas.GeoDataFrame
            Rows with the layer's model columns (other columns are ignored;
            ``_record``, the row's number in the source, numbers a key conflict).
            Spatial layers need a GeoDataFrame with a CRS. Times without a zone
            are taken as Asia/Shanghai; times are stored to the millisecond.
        quarantine : pandas.DataFrame, optional
            Records of the same source that could not be imported (columns of
            :data:`gridmap.model.QUARANTINE_COLUMNS`); stored in the same
            transaction. A record already quarantined (same layer, digest,
            record and reason) is not stored twice but still counted.
        source, source_digest : str
            Where the rows came from, for the log and the quarantine.
        read : int, optional
            Records read from the source; defaults to ``len(frame) + len(quarantine)``.
        options : mapping, optional
            What the import was run with (JSON-able), kept in the import log; the
            quarantined records of an import with options can be retried
            (:func:`gridmap.retry_quarantine`).
        raw_records : pandas.DataFrame, optional
            The reader's records (with ``_record``): a key conflict is quarantined
            with its record as read. Without them, with the row of `frame`.
        replaces : sequence of int
            Quarantine rows (their ``fid``) whose records `frame` and `quarantine`
            hold again (a retry): deleted in the same transaction.

        Returns
        -------
        gridmap.model.ImportSummary
            ``read == accepted + duplicates + quarantined``.

        Raises
        ------
        WorkspaceBusyError
            When another process holds the write lock longer than ``busy_timeout``.
        SchemaError, CRSError
            When the frame does not fit the layer; nothing is written.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> import pandas as pd
        >>> tmp = tempfile.TemporaryDirectory()
        >>> ws = init_workspace(pathlib.Path(tmp.name) / "w.gpkg")
        >>> fixes = pd.DataFrame({"report_id": ["r1", "r1", "r1"],
        ...                       "rectified_at": ["2025-03-02T10:00:00+08:00"] * 3, "tonnes": [1.5, 1.5, 2.0]})
        >>> summary = ws.append("rectifications", fixes, source="fixes.csv")
        >>> print(summary.describe().splitlines()[0])
        fixes.csv → rectifications: read 3, accepted 1, duplicates 1, quarantined 1
        >>> for part in ws.quarantine()["detail"].iloc[0].split("; "):
        ...     print(part)
        report_id r1, rectified_at 2025-03-02 10:00:00+08:00 is used by record 1 earlier in this file with tonnes 1.5
        this row has tonnes 2.0
        give the row its own report_id and rectified_at or correct the file
        >>> ws.close()
        >>> tmp.cleanup()
        """
        spec = layer_spec(layer)
        qrows = _quarantine_rows(quarantine, layer=layer, source=source, digest=source_digest)
        staged = _stage_frame(spec, frame)
        n_read = len(frame) + len(qrows) if read is None else int(read)
        if n_read != len(frame) + len(qrows):
            raise SchemaError(
                f"read={n_read} but the frame has {len(frame)} rows and the quarantine {len(qrows)}:"
                f" {n_read - len(frame) - len(qrows)} records would be lost; quarantine every record not in the frame"
            )
        batch = _Batch(spec, frame, staged, qrows, read=n_read, source=source, digest=source_digest,
                       options=options, raw_records=raw_records, replaces=[int(f) for f in replaces])
        with tempfile.TemporaryDirectory(prefix="gridmap-stage-") as folder:
            stage_path = _write_stage(spec, staged.rows, Path(folder)) if len(staged.rows) else None
            summary = self._commit(batch, stage_path)
        logger.info("%s", summary.describe())
        return summary

    def _commit(self, batch: "_Batch", stage_path: Path | None) -> ImportSummary:
        con = self._connect()
        try:
            if stage_path is not None:
                con.execute(f"ATTACH DATABASE ? AS {_STAGE}", (str(stage_path),))
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                _busy_or_raise(exc, self._path)
            try:
                summary = _write_in_transaction(con, batch, stage_path is not None)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            _busy_or_raise(exc, self._path)
        finally:
            con.close()
        return summary

    # -- lifetime ----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Mark the workspace closed (it holds no connection between calls)."""
        self._closed = True

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_layers(source: "Workspace | str | PathLike[str] | Mapping[str, Any]", names: Sequence[str], *,
                what: str = "this function") -> tuple[dict[str, Any], dict[str, str]]:
    """The layers `names` of a workspace, of the workspace at a path, or of a mapping of layers, and its metadata.

    The one way gridmap's pages and tables take their input: an open
    :class:`Workspace`, the path of one (opened and closed here), or a dict of
    layers by name (e.g. :func:`gridmap.sample.sample_layers`; missing names
    are None, and the frames are used as they are, not copied).

    Parameters
    ----------
    source : Workspace, str, os.PathLike or mapping
        Where the layers come from.
    names : sequence of str
        The layers wanted.
    what : str
        Who asks, for the error message.

    Returns
    -------
    layers : dict
        By name, in the order of `names`.
    meta : dict
        The workspace's ``gridmap_meta`` facts, plus ``last_import`` (ISO
        time of the latest import) when it has any; empty for a mapping.

    Raises
    ------
    SchemaError
        When `source` is none of these.

    Examples
    --------
    >>> layers, meta = read_layers({"grids": "g"}, ["grids", "reports"])
    >>> layers, meta
    ({'grids': 'g', 'reports': None}, {})
    >>> read_layers(42, ["grids"], what="the report")
    Traceback (most recent call last):
    gridmap._errors.SchemaError: the report takes a workspace, its path or a dict of layers, not int
    """
    if isinstance(source, Mapping):
        return {name: source.get(name) for name in names}, {}
    if isinstance(source, Workspace):
        return _layers_and_meta(source, names)
    if isinstance(source, (str, PathLike)):
        with open_workspace(source) as ws:
            return _layers_and_meta(ws, names)
    raise SchemaError(f"{what} takes a workspace, its path or a dict of layers, not {type(source).__name__}")


def _layers_and_meta(ws: Workspace, names: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    meta = dict(ws.meta)
    imports = ws.imports()
    stamps = pd.to_datetime(imports["imported_at"], utc=True, errors="coerce").dropna() if len(imports) else ()
    if len(stamps):
        meta["last_import"] = stamps.max().isoformat()
    return {name: ws.read_layer(name) for name in names}, meta
