"""Preparing a frame for the GeoPackage: storage columns, geometry, the private staging file.

GDAL (pyogrio) writes the staged rows into a private GeoPackage, which gives correct
geometry blobs (a batch of 2-D points is written without GDAL, with the same blobs:
``_pointstage``); ``_append`` copies them into the workspace in one transaction. Rows
repeating a key earlier in the frame are sorted out here (``_conflicts``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridmap.crs import single_vertices
from gridmap.errors import CRSError, SchemaError
from gridmap.model import QUARANTINE_COLUMNS, QUARANTINE_REASONS, STORAGE_CRS, LayerSpec
from gridmap.storage.gpkg._columns import GEOMETRY_COLUMN, _STAGE, _Staged, _to_storage_column, _utc_now_text
from gridmap.storage.gpkg._conflicts import _show
from gridmap.storage.gpkg._pointstage import point_blobs, sqlite_types, write_point_stage
from gridmap.storage.rows import frame_conflicts

logger = logging.getLogger(__name__)


# Geometry type ids (shapely.get_type_id) each layer geometry type accepts.
_ACCEPTED_TYPE_IDS = {
    "Point": {0}, "MultiLineString": {1, 5}, "MultiPolygon": {3, 6}, "Geometry": {0, 1, 3, 4, 5, 6, 7},
}
#: Batches adding at least this many rows to a spatial layer rebuild its R-tree in bulk (._rtree)
#: instead of inserting the entries one by one with SQL (~15 s per million entries). Read at call time by
#: ._append too, so a test may lower it here.
_BULK_RTREE_MIN_ROWS = 10_000


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


def _stage_frame(spec: LayerSpec, frame: pd.DataFrame) -> _Staged:
    """The rows to stage (model columns in storage form, geometry and bbox), and the in-frame repeats.

    A row whose key an earlier row of the frame has is a duplicate when its content
    (:func:`content_columns` and the geometry) is that row's too, else a key conflict.
    """
    attrs = _storage_attributes(spec, frame)
    repeated = attrs.duplicated(subset=list(spec.key), keep="first").to_numpy(dtype=bool)
    records = _record_numbers(frame)
    geoms = None if spec.geometry is None else _storage_geometry(spec, frame).to_numpy()
    conflicts = frame_conflicts(spec, attrs, geoms, repeated, records, _show) if repeated.any() else []
    keep = ~repeated
    positions = np.flatnonzero(keep)
    attrs = attrs.loc[keep] if repeated.any() else attrs
    n_repeated = int(repeated.sum()) - len(conflicts)
    if geoms is None:
        return _Staged(attrs.reset_index(drop=True), positions, records, n_repeated, conflicts)
    import geopandas as gpd
    import shapely

    kept = geoms[keep]
    xy = single_vertices(kept)
    if xy is not None:  # a vertex is its own box: its columns taken as they are, no (n, 4) array in between
        x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        columns = [x, y, x.copy(), y.copy()]
    else:
        columns = [np.ascontiguousarray(c) for c in shapely.bounds(kept).T]
    for name, values in zip(("_minx", "_miny", "_maxx", "_maxy"), columns):
        attrs[name] = values
    # the Hilbert order only serves SQL R-tree inserts; a batch this large is bulk loaded (unless mostly duplicates)
    attrs["_hilbert"] = (_hilbert_rank(np.column_stack(columns)) if len(kept) < _BULK_RTREE_MIN_ROWS
                         else np.arange(len(kept)))
    # attrs is this function's own frame (its columns were copied in by _storage_attributes): no second copy
    staged = gpd.GeoDataFrame(attrs, geometry=kept, crs=STORAGE_CRS, copy=False)
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


#: Columns of the staged rows that are not written to the staging file.
_IN_MEMORY_ONLY = (GEOMETRY_COLUMN, "_minx", "_miny", "_maxx", "_maxy", "_hilbert")


def _write_stage(spec: LayerSpec, staged: pd.DataFrame, folder: Path) -> Path:
    """Write the staged rows with GDAL into ``folder/stage.gpkg`` (indexed on the key later, when a join needs it).

    A spatial layer's rows go to GDAL as one Arrow table, geometries as WKB (:func:`stage_wkb`),
    as ``pyogrio.write_dataframe(..., use_arrow=True)`` would send them, without its pandas checks;
    their boxes and Hilbert ranks stay in `staged` (``_append`` takes them from there by stage fid).
    """
    import pyogrio

    path = folder / "stage.gpkg"
    if spec.geometry is None:
        pyogrio.write_dataframe(staged, path, layer=_STAGE, use_arrow=True)
        return path
    import pyarrow as pa
    from pyogrio.raw import write_arrow

    attrs = pd.DataFrame({c: staged[c] for c in staged.columns if c not in _IN_MEMORY_ONLY}, copy=False)
    table = pa.Table.from_pandas(attrs, preserve_index=False)
    if _write_points(staged, table, path):
        return path
    table = table.append_column(pa.field(GEOMETRY_COLUMN, pa.binary()), stage_wkb(staged.geometry.to_numpy()))
    write_arrow(table, path, layer=_STAGE, driver="GPKG", geometry_name=GEOMETRY_COLUMN, geometry_type="Unknown",
                crs=STORAGE_CRS, layer_options={"SPATIAL_INDEX": "NO"})
    return path


def _write_points(staged: pd.DataFrame, table: Any, path: Path) -> bool:
    """Write the stage of 2-D points without GDAL (:mod:`._pointstage`); False (nothing written) for other rows."""
    import pyarrow as pa

    if sqlite_types(table) is None:
        return False
    from pyproj import CRS
    from pyproj.enums import WktVersion

    crs = CRS.from_user_input(STORAGE_CRS)
    srs_id = crs.to_epsg()
    blobs = point_blobs(staged.geometry.to_numpy(), staged["_minx"].to_numpy(), staged["_miny"].to_numpy(),
                        int(srs_id or 0))
    if blobs is None or srs_id is None:
        return False
    extent = (float(staged["_minx"].min()), float(staged["_miny"].min()),
              float(staged["_maxx"].max()), float(staged["_maxy"].max()))
    table = table.add_column(0, pa.field(GEOMETRY_COLUMN, pa.binary()), blobs)
    srs = (srs_id, crs.name, str(crs.to_wkt(WktVersion.WKT1_GDAL)))
    write_point_stage(path, _STAGE, table, GEOMETRY_COLUMN, srs, extent)
    return True


def stage_wkb(geoms: np.ndarray) -> Any:
    """The geometries as a pyarrow binary array of WKB, byte for byte what :func:`shapely.to_wkb` writes.

    Two-dimensional points with finite coordinates, the bulk of every import of reports, are
    written by numpy on a little-endian machine: byte order 1, type 1 (uint32), x and y
    (float64), 21 bytes each (OGC Simple Features 1.2.1, 8.2); other geometries by shapely.

    Examples
    --------
    >>> import shapely
    >>> wkb = stage_wkb(np.array([shapely.Point(109.5, 38.25)]))
    >>> wkb[0].as_py() == shapely.to_wkb(shapely.Point(109.5, 38.25))
    True
    """
    import pyarrow as pa
    import shapely

    n = len(geoms)
    points = (n > 0 and sys.byteorder == "little" and bool((shapely.get_type_id(geoms) == 0).all())
              and not bool(shapely.has_z(geoms).any()))
    xy = shapely.get_coordinates(geoms) if points else None
    if xy is None or len(xy) != n or not np.isfinite(xy).all():
        return pa.array(shapely.to_wkb(geoms), type=pa.binary())
    raw = np.empty((n, 21), dtype=np.uint8)
    raw[:, 0] = 1
    raw[:, 1:5] = np.frombuffer(np.uint32(1).tobytes(), dtype=np.uint8)
    raw[:, 5:21] = np.ascontiguousarray(xy, dtype="<f8").view(np.uint8).reshape(n, 16)
    offsets = np.arange(0, 21 * n + 1, 21, dtype=np.int32)
    return pa.BinaryArray.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw)])


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
            raise SchemaError(f"every quarantine row needs a {name!r}; build them with gridmap.io.base.quarantine_row")
    unknown = sorted(set(q["reason"]) - set(QUARANTINE_REASONS))
    if unknown:
        raise SchemaError(f"unknown quarantine reason(s) {unknown}; known reasons: {', '.join(QUARANTINE_REASONS)}")
    if "quarantined_at" not in q.columns:
        q["quarantined_at"] = pd.Timestamp.now(tz="UTC")
    stored = pd.DataFrame({c.name: _to_storage_column(q.get(c.name, pd.Series(None, index=q.index)), c)
                           for c in QUARANTINE_COLUMNS})
    stored["quarantined_at"] = stored["quarantined_at"].fillna(_utc_now_text())
    return [tuple(None if pd.isna(v) else v for v in row) for row in stored.astype(object).itertuples(index=False)]
