"""Preparing a frame for the PostGIS store: storage values, geometry as EWKB, repeats and key conflicts.

The same rules as the GeoPackage store (:func:`gridmap.storage.base.content_columns`,
:data:`gridmap.storage.base.GEOMETRY_TOLERANCE`), written anew for this store so that the two
are independent implementations of one interface.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gridmap.errors import CRSError, SchemaError
from gridmap.model import DEFAULT_TZ, EXTRA_COLUMN, QUARANTINE_COLUMNS, QUARANTINE_REASONS, STORAGE_CRS, LayerSpec
from gridmap.model.quarantine import raw_json
from gridmap.storage.rows import frame_conflicts
from gridmap.storage.postgis._sql import (
    GEOMETRY_COLUMN, SRID, check_json, storage_column, storage_times, typed_column, utc_now,
)

logger = logging.getLogger(__name__)

KEY_CONFLICT = "key_conflict"
_ACCEPTED_TYPE_IDS = {"Point": {0}, "MultiLineString": {1, 5}, "MultiPolygon": {3, 6},
                      "Geometry": {0, 1, 3, 4, 5, 6, 7}}


@dataclass
class Staged:
    """A frame in storage form: the rows to COPY and what became of the others."""

    rows: pd.DataFrame  # ``_pos`` (frame position), the model columns typed (:func:`typed_column`), ``geom`` (shapely)
    geoms: np.ndarray | None  # shapely geometries of the staged rows
    records: np.ndarray  # each frame row's record number (``_record``, else its 1-based position)
    repeated: int  # rows repeating an earlier row of the frame, content alike (duplicates)
    conflicts: list[tuple[int, str]]  # (frame position, detail) of rows repeating a key with other content


def _attributes(spec: LayerSpec, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        raise SchemaError(f"cannot append to {spec.name!r}: required column(s) {', '.join(missing)} missing;"
                          f" the layer's columns are {', '.join(spec.column_names)}")
    out = pd.DataFrame(index=frame.index)
    for col in spec.columns:
        values = frame[col.name] if col.name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        out[col.name] = typed_column(values, col)
    empty = {c: int(n) for c in spec.required if (n := out[c].isna().sum())}
    if empty:
        raise SchemaError(f"cannot append to {spec.name!r}: empty required values {empty}; quarantine those rows"
                          " (reason missing_value) before appending")
    check_json(out[EXTRA_COLUMN].dropna().astype(object), EXTRA_COLUMN)
    return out


def _geometries(spec: LayerSpec, frame: pd.DataFrame) -> np.ndarray:
    """The frame's geometries in EPSG:4326, single parts promoted to the layer's multi type."""
    import geopandas as gpd  # deferred: GeoPandas and Shapely, needed only for spatial layers
    import shapely

    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise SchemaError(f"layer {spec.name!r} holds {spec.geometry} geometries: pass a GeoDataFrame")
    geoms = frame.geometry
    if geoms.crs is None:
        raise CRSError(f"the frame for {spec.name!r} has no CRS; declare it with frame.set_crs(...) (EPSG:4326 "
                       "for lon/lat)")
    if not geoms.crs.equals(STORAGE_CRS):
        geoms = geoms.to_crs(STORAGE_CRS)
    values = geoms.to_numpy()
    if (n := int((shapely.is_missing(values) | shapely.is_empty(values)).sum())):
        raise SchemaError(f"cannot append to {spec.name!r}: {n} rows without geometry; quarantine them"
                          " (reason missing_coordinates) before appending")
    type_ids = shapely.get_type_id(values)
    wrong = ~np.isin(type_ids, list(_ACCEPTED_TYPE_IDS[str(spec.geometry)]))
    if wrong.any():
        raise SchemaError(f"layer {spec.name!r} holds {spec.geometry} geometries but {int(wrong.sum())} rows have"
                          f" type id(s) {sorted(set(type_ids[wrong].tolist()))}; quarantine them (reason "
                          "wrong_geometry_type) before appending")
    out = values.copy()
    for single, make, target in ((3, shapely.multipolygons, "MultiPolygon"),
                                 (1, shapely.multilinestrings, "MultiLineString")):
        pick = np.flatnonzero(type_ids == single)
        if spec.geometry == target and len(pick):
            out[pick] = make(values[pick], indices=np.arange(len(pick)))
    return out


def _records(frame: pd.DataFrame) -> np.ndarray:
    if "_record" in frame.columns:
        numbers = pd.to_numeric(frame["_record"], errors="coerce").to_numpy(dtype="float64")
        if np.isfinite(numbers).all():
            return numbers.astype("int64")
    return np.arange(1, len(frame) + 1, dtype="int64")


def stage_frame(spec: LayerSpec, frame: pd.DataFrame) -> Staged:
    """The rows to COPY (first row of each key), the in-frame duplicates and key conflicts."""
    attrs = _attributes(spec, frame)
    repeated = attrs.duplicated(subset=list(spec.key), keep="first").to_numpy(dtype=bool)
    records = _records(frame)
    geoms = None if spec.geometry is None else _geometries(spec, frame)
    conflicts = frame_conflicts(spec, attrs, geoms, repeated, records, show) if repeated.any() else []
    keep = ~repeated
    rows = attrs.loc[keep].reset_index(drop=True)
    rows.insert(0, "_pos", np.flatnonzero(keep))
    kept = None
    if geoms is not None:
        kept = geoms[keep]
        rows[GEOMETRY_COLUMN] = kept
    return Staged(rows, kept, records, int(repeated.sum()) - len(conflicts), conflicts)


def show(value: Any, column: str, spec: LayerSpec) -> str:
    """A value as a person reads it: times in Asia/Shanghai, geometries as short WKT, empty as (empty)."""
    if value is None or (not isinstance(value, (bytes, str)) and not hasattr(value, "geom_type") and pd.isna(value)):
        return "(empty)"
    if column == GEOMETRY_COLUMN:
        import shapely  # deferred: Shapely, needed only for spatial layers

        return shapely.to_wkt(value, rounding_precision=9, trim=True)[:120]
    if spec.column(column).dtype == "datetime":
        stamp = pd.Timestamp(value)
        stamp = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).tz_convert(DEFAULT_TZ)
        return stamp.isoformat(sep=" ", timespec="milliseconds" if stamp.microsecond else "seconds")
    return str(value)


def quarantine_rows(quarantine: pd.DataFrame | None, *, layer: str, source: str, digest: str) -> list[tuple]:
    """Quarantine records as tuples in column order, defaults filled, reasons checked."""
    if quarantine is None or len(quarantine) == 0:
        return []
    qr = quarantine.copy()
    for name, default in {"layer": layer, "source": source, "source_digest": digest}.items():
        qr[name] = qr[name].fillna(default) if name in qr.columns else default
    for name in ("record", "reason"):
        if name not in qr.columns or qr[name].isna().any():
            raise SchemaError(f"every quarantine row needs a {name!r}; build them with gridmap.io.base.quarantine_row")
    unknown = sorted(set(qr["reason"]) - set(QUARANTINE_REASONS))
    if unknown:
        raise SchemaError(f"unknown quarantine reason(s) {unknown}; known reasons: {', '.join(QUARANTINE_REASONS)}")
    if "quarantined_at" not in qr.columns:
        qr["quarantined_at"] = pd.Timestamp.now(tz="UTC")
    stored = pd.DataFrame({c.name: storage_column(qr.get(c.name, pd.Series(None, index=qr.index)), c)
                           for c in QUARANTINE_COLUMNS})
    now = storage_times(pd.Series([utc_now()]), name="quarantined_at").iloc[0]
    stored["quarantined_at"] = stored["quarantined_at"].where(stored["quarantined_at"].notna(), now)
    return [tuple(row) for row in stored.itertuples(index=False)]


def conflict_rows(spec: LayerSpec, frame: pd.DataFrame, staged: Staged, conflicts: list[tuple[int, str]], *,
                  raw_records: pd.DataFrame | None, source: str, digest: str) -> list[tuple]:
    """Quarantine rows of the key conflicts, each with the incoming record as raw."""
    if not conflicts:
        return []
    numbers = staged.records[np.array([p for p, _ in conflicts], dtype="int64")]
    raws: dict[int, str] = {}
    if raw_records is not None and "_record" in raw_records.columns:
        picked = raw_records[raw_records["_record"].isin(numbers)]
        columns = [c for c in picked.columns if c != "_record"]
        raws = {int(n): raw_json(r) for n, r in zip(picked["_record"], picked[columns].to_dict("records"))}
    own = [c for c in frame.columns if c in spec.column_names]
    geometry = getattr(frame, "_geometry_column_name", None) if spec.geometry is not None else None
    now = storage_times(pd.Series([utc_now()]), name="quarantined_at").iloc[0]
    out = []
    for (pos, detail), number in zip(conflicts, numbers):
        raw = raws.get(int(number))
        if raw is None:
            values = {c: frame[c].iloc[pos] for c in own}
            if geometry is not None:
                values["geometry"] = frame[geometry].iloc[pos]
            raw = raw_json(values)
        out.append((spec.name, source, digest, int(number), raw, KEY_CONFLICT, detail, now))
    return out


# ---------------------------------------------------------------------------------------------------------------
# COPY text, built a block of rows at a time with Arrow's vectorised string kernels
# ---------------------------------------------------------------------------------------------------------------

#: Rows per block of COPY text: bounds the memory of the text being built (about 10-30 MB a block).
COPY_BLOCK_ROWS = 100_000
#: COPY's text format (https://www.postgresql.org/docs/15/sql-copy.html, "Text Format"): a backslash, tab,
#: newline or carriage return inside a value is written as a backslash sequence (backslash first, so that
#: the backslashes of the other sequences are not doubled); NULL is ``\N``.
COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
COPY_NULL = "\\N"
_NEEDS_ESCAPE = r"[\\\t\n\r\x00]"  # RE2 syntax
_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
#: EWKB of a 2D point in EPSG:4326, before its coordinates: little endian, type 1 with the SRID flag
#: (0x20000001), SRID 4326 (PostGIS's EWKB, as ``shapely.to_wkb(include_srid=True)`` writes it).
_POINT_HEADER = np.frombuffer(bytes.fromhex("0101000020E6100000"), dtype=np.uint8)


def _fixed_width(chars: np.ndarray) -> pa.Array:
    """An (n, width) uint8 array of ASCII as an Arrow string array of n values."""
    n, width = chars.shape
    offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(np.ascontiguousarray(chars))])


def iso_millis(utc: np.ndarray) -> np.ndarray:
    """UTC ``datetime64[ms]`` values (none NaT, years 0-9999) as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (n, 24) ASCII bytes.

    The civil date of a day number is Howard Hinnant's ``civil_from_days``
    (https://howardhinnant.github.io/date_algorithms.html#civil_from_days), in whole-array integer steps.

    Examples
    --------
    >>> t = np.array(["2024-02-29T23:59:59.999", "1969-12-31T00:00:00.001"], dtype="datetime64[ms]")
    >>> [bytes(row).decode() for row in iso_millis(t)]
    ['2024-02-29T23:59:59.999Z', '1969-12-31T00:00:00.001Z']
    """
    days, rem = np.divmod(utc.astype("int64"), 86_400_000)
    era, doe = np.divmod(days + 719_468, 146_097)
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = np.where(mp < 10, mp + 3, mp - 9)
    day = doy - (153 * mp + 2) // 5 + 1
    fields: list[tuple[np.ndarray, int] | str] = [
        (yoe + era * 400 + (month <= 2), 4), "-", (month, 2), "-", (day, 2), "T", (rem // 3_600_000, 2), ":",
        (rem // 60_000 % 60, 2), ":", (rem // 1000 % 60, 2), ".", (rem % 1000, 3), "Z"]
    out = np.empty((len(days), 24), dtype=np.uint8)
    at = 0
    for field in fields:
        if isinstance(field, str):
            out[:, at] = ord(field)
            at += 1
            continue
        value, width = field
        for k in range(width):
            out[:, at + k] = 48 + value // 10 ** (width - 1 - k) % 10
        at += width
    return out


def _time_text(values: pd.Series) -> pa.Array:
    utc = values.to_numpy(dtype="datetime64[ms]")
    missing = np.isnat(utc)
    years = utc[~missing].astype("datetime64[Y]").astype("int64") + 1970
    if len(years) and (years.min() < 0 or years.max() > 9999):
        text = pa.array(np.char.add(np.datetime_as_string(utc, unit="ms"), "Z"), type=pa.string())
    else:
        text = _fixed_width(iso_millis(np.where(missing, np.datetime64(0, "ms"), utc)))
    return pc.if_else(pa.array(missing), pa.scalar(COPY_NULL), text)


def ewkb_hex(geoms: np.ndarray) -> pa.Array:
    """Shapely geometries as hex EWKB with SRID 4326 (what ``shapely.to_wkb(hex=True, include_srid=True)`` writes).

    2D points are written directly from their coordinates (25 bytes each); other geometries by Shapely.

    Examples
    --------
    >>> import shapely
    >>> ewkb_hex(np.array([shapely.Point(1.5, -2)])).to_pylist()
    ['0101000020E6100000000000000000F83F00000000000000C0']
    """
    import shapely  # deferred: Shapely, needed only for spatial layers

    if len(geoms) and (shapely.get_type_id(geoms) == 0).all() and not shapely.has_z(geoms).any():
        xy = shapely.get_coordinates(geoms)
        if len(xy) == len(geoms):
            raw = np.empty((len(geoms), 25), dtype=np.uint8)
            raw[:, :9] = _POINT_HEADER
            raw[:, 9:] = np.ascontiguousarray(xy, dtype="<f8").view(np.uint8).reshape(len(geoms), 16)
            chars = np.empty((len(geoms), 50), dtype=np.uint8)
            chars[:, 0::2], chars[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
            return _fixed_width(chars)
    return pa.array(shapely.to_wkb(shapely.set_srid(geoms, SRID), hex=True, include_srid=True), type=pa.string())


def escape_copy_text(values: pa.Array, name: str) -> pa.Array:
    r"""Text values in COPY's text format: backslash sequences for backslash, tab, newline, CR; NULL as ``\N``.

    Examples
    --------
    >>> print(" | ".join(escape_copy_text(pa.array(["a\tb", "\\N", "", "x\r\n", None]), "x").to_pylist()))
    a\tb | \\N |  | x\r\n | \N
    """
    special = pc.match_substring_regex(values, _NEEDS_ESCAPE)
    if pc.any(special).as_py():
        if pc.any(pc.match_substring(values, "\x00")).as_py():
            raise SchemaError(f"column {name!r} holds text with a NUL character (\\x00), which PostgreSQL cannot"
                              " store; remove it from the file")
        for old, new in COPY_ESCAPES:
            values = pc.replace_substring(values, old, new)
    return pc.fill_null(values, COPY_NULL)


def column_text(values: pd.Series) -> pa.Array:
    """One staged column as COPY text values (no nulls: a missing value is ``\\N``)."""
    if values.name == GEOMETRY_COLUMN:
        return ewkb_hex(values.to_numpy())
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _time_text(values)
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = pa.array(values.to_numpy(dtype="float64"), from_pandas=True)  # NaN: missing
        return pc.fill_null(pc.cast(numbers, pa.string()), COPY_NULL)
    if pd.api.types.is_integer_dtype(values.dtype):
        return pc.fill_null(pc.cast(pa.array(values), pa.string()), COPY_NULL)
    if isinstance(values.dtype, pd.StringDtype):  # Arrow's own array (pyarrow storage) or pandas' (python)
        text = pa.array(values.array)  # a ChunkedArray when the frame came from Arrow in several chunks
        text = pc.cast(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text, pa.string())
    else:
        text = pa.array(values.to_numpy(dtype=object, na_value=None), type=pa.string(), from_pandas=True)
    return escape_copy_text(text, str(values.name))


def _text_bytes(lines: pa.Array) -> memoryview:
    """The characters of a string array, end to end."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, stop = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return memoryview(lines.buffers()[2])[start:stop]


def copy_text(rows: pd.DataFrame, *, block_rows: int | None = None) -> Iterator[memoryview]:
    r"""The staged rows as ``COPY ... FROM STDIN`` text (UTF-8), `block_rows` (:data:`COPY_BLOCK_ROWS`) rows a block.

    Columns are tab-separated, rows end with a newline; each column is converted as a whole
    (:func:`column_text`) and the lines are joined by Arrow, not row by row in Python.

    Examples
    --------
    >>> rows = pd.DataFrame({"_pos": [0, 1], "name": ["a\\b", None], "n": pd.array([7, None], dtype="Int64")})
    >>> print(b"".join(copy_text(rows)).decode().replace("\t", " | "))
    0 | a\\b | 7
    1 | \N | \N
    <BLANKLINE>
    """
    step = block_rows or COPY_BLOCK_ROWS
    for start in range(0, len(rows), step):
        block = rows.iloc[start:start + step]
        columns = [column_text(block[name]) for name in block.columns]
        columns[-1] = pc.binary_join_element_wise(columns[-1], pa.scalar("\n"), "")
        lines = pc.binary_join_element_wise(*columns, "\t") if len(columns) > 1 else columns[0]
        yield _text_bytes(lines)
