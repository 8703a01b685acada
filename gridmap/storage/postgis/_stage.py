"""Preparing a frame for the PostGIS store: storage values, geometry as EWKB, repeats and key conflicts.

The same rules as the GeoPackage store (:func:`gridmap.storage.base.content_columns`,
:data:`gridmap.storage.base.GEOMETRY_TOLERANCE`), written anew for this store so that the two
are independent implementations of one interface.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridmap.errors import CRSError, SchemaError
from gridmap.model import DEFAULT_TZ, EXTRA_COLUMN, QUARANTINE_COLUMNS, QUARANTINE_REASONS, STORAGE_CRS, LayerSpec
from gridmap.model.quarantine import raw_json
from gridmap.storage.rows import frame_conflicts
from gridmap.storage.postgis._sql import GEOMETRY_COLUMN, SRID, check_json, storage_column, storage_times, utc_now

logger = logging.getLogger(__name__)

KEY_CONFLICT = "key_conflict"
_ACCEPTED_TYPE_IDS = {"Point": {0}, "MultiLineString": {1, 5}, "MultiPolygon": {3, 6},
                      "Geometry": {0, 1, 3, 4, 5, 6, 7}}


@dataclass
class Staged:
    """A frame in storage form: the rows to COPY and what became of the others."""

    rows: pd.DataFrame  # ``_pos`` (frame position), the model columns as Python values, ``geom`` (hex EWKB)
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
        out[col.name] = storage_column(values, col)
    empty = {c: int(n) for c in spec.required if (n := out[c].isna().sum())}
    if empty:
        raise SchemaError(f"cannot append to {spec.name!r}: empty required values {empty}; quarantine those rows"
                          " (reason missing_value) before appending")
    check_json(out[EXTRA_COLUMN], EXTRA_COLUMN)
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
    import shapely  # deferred: Shapely, needed only for spatial layers

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
        rows[GEOMETRY_COLUMN] = shapely.to_wkb(shapely.set_srid(kept, SRID), hex=True, include_srid=True)
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
