"""The staging file of a batch of plain points, written without GDAL: GeoPackage blobs by numpy, rows by ADBC.

An import of reports or tracks stages a million two-dimensional points. GDAL writes
such a staging file (one Arrow table) in about 1.5 s, mostly its per-feature work;
the same rows go into SQLite through the ADBC SQLite driver's bulk ingest
(``adbc_driver_sqlite``: prepared inserts bound from the Arrow buffers in C) in about
0.6 s. The geometry blobs are what GDAL writes for a point, byte for byte, built with
numpy (GeoPackage 1.3, clause 2.1.3 "Geometry Encoding"): ``GP``, version 0, flags
``0x01`` (little-endian header, no envelope, not empty), the int32 ``srs_id``, then the
21 bytes of the point's WKB (byte order 1, type 1, x and y as float64: OGC Simple
Features 1.2.1, 8.2). The file is a minimal GeoPackage (application id, the three
required spatial reference systems, ``gpkg_contents``, ``gpkg_geometry_columns``, the
stage table with GDAL's column types), so GDAL reads it as it reads its own; only
the stage table's rows matter to the copy into the workspace.

Anything else (other geometries, a 3-D or empty point, a coordinate that is not
finite, a column type other than text, integer or real) goes through GDAL as before:
:func:`point_blobs` and :func:`sqlite_types` return None for it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from gridmap.storage.gpkg._columns import _q

__all__ = ["GPKG_APPLICATION_ID", "GPKG_USER_VERSION", "point_blobs", "sqlite_types", "write_point_stage"]

#: ``PRAGMA application_id`` of a GeoPackage ("GPKG" as a big-endian int32) and ``user_version`` of 1.4.
GPKG_APPLICATION_ID = 0x47504B47
GPKG_USER_VERSION = 10400
#: Bytes of one point's GeoPackage blob: 8 of header, 21 of WKB.
_BLOB_SIZE = 29
#: SQL type of each Arrow type a stage column may have, as GDAL declares it.
_SQL_TYPES = {"string": "TEXT", "large_string": "TEXT", "int64": "INTEGER", "double": "REAL"}


def point_blobs(geoms: np.ndarray, x: np.ndarray, y: np.ndarray, srs_id: int) -> Any:
    """GeoPackage blobs (a pyarrow binary array) of `geoms` at coordinates `x`, `y`, or None unless all are
    two-dimensional points with finite coordinates (on a little-endian machine).

    `x` and `y` are the points' coordinates (the staged boxes' minima: a point's box is
    its vertex twice); the geometries are only checked to be 2-D points.

    Examples
    --------
    >>> import shapely
    >>> blobs = point_blobs(np.array([shapely.Point(109.5, 38.25)]), np.array([109.5]), np.array([38.25]), 4326)
    >>> blob = blobs[0].as_py()
    >>> blob[:8].hex(), blob[8:] == shapely.to_wkb(shapely.Point(109.5, 38.25))
    ('47500001e6100000', True)
    >>> point_blobs(np.array([shapely.Point(1, 2, 3)]), np.array([1.0]), np.array([2.0]), 4326) is None
    True
    """
    import pyarrow as pa
    import shapely

    n = len(geoms)
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    if n == 0 or sys.byteorder != "little" or len(x) != n or len(y) != n:
        return None
    if not (bool((shapely.get_type_id(geoms) == 0).all()) and not bool(shapely.has_z(geoms).any())
            and bool(np.isfinite(x).all()) and bool(np.isfinite(y).all())):
        return None
    raw = np.empty((n, _BLOB_SIZE), dtype=np.uint8)
    raw[:, :4] = np.frombuffer(b"GP\x00\x01", dtype=np.uint8)
    raw[:, 4:8] = np.frombuffer(np.int32(srs_id).astype("<i4").tobytes(), dtype=np.uint8)
    raw[:, 8] = 1
    raw[:, 9:13] = np.frombuffer(np.uint32(1).astype("<u4").tobytes(), dtype=np.uint8)
    raw[:, 13:21] = x.astype("<f8").view(np.uint8).reshape(n, 8)
    raw[:, 21:29] = y.astype("<f8").view(np.uint8).reshape(n, 8)
    offsets = np.arange(0, _BLOB_SIZE * n + 1, _BLOB_SIZE, dtype=np.int32)
    return pa.BinaryArray.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw)])


def sqlite_types(table: Any) -> list[str] | None:
    """The SQL type GDAL declares for each column of the Arrow `table`, or None when one has another type.

    Examples
    --------
    >>> import pyarrow as pa
    >>> sqlite_types(pa.table({"a": ["x"], "b": [1], "c": [0.5]}))
    ['TEXT', 'INTEGER', 'REAL']
    >>> sqlite_types(pa.table({"a": [True]})) is None
    True
    """
    types = [_SQL_TYPES.get(str(field.type)) for field in table.schema]
    return None if any(t is None for t in types) else [str(t) for t in types]


def _geopackage_sql(layer: str, columns: list[tuple[str, str]], geometry: str, srs: tuple[int, str, str],
                    extent: tuple[float, float, float, float], count: int) -> list[tuple[str, tuple]]:
    """Statements (with parameters) creating a minimal GeoPackage around one empty feature table."""
    srs_id, srs_name, wkt = srs
    definitions = ", ".join(f"{_q(name)} {kind}" for name, kind in columns)
    return [
        ("CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY,"
         " organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,"
         " description TEXT)", ()),
        ("INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined Cartesian SRS', -1, 'NONE', -1, 'undefined',"
         " 'undefined Cartesian coordinate reference system')", ()),
        ("INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined',"
         " 'undefined geographic coordinate reference system')", ()),
        ("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, ?, NULL)", (srs_name, srs_id, srs_id, wkt)),
        ("CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,"
         " identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT"
         " (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,"
         " srs_id INTEGER)", ()),
        ("INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, max_x, max_y, srs_id)"
         " VALUES (?, 'features', ?, ?, ?, ?, ?, ?)", (layer, layer, *extent, srs_id)),
        ("CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,"
         " geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,"
         " PRIMARY KEY (table_name, column_name))", ()),
        ("INSERT INTO gpkg_geometry_columns VALUES (?, ?, 'GEOMETRY', ?, 0, 0)", (layer, geometry, srs_id)),
        ("CREATE TABLE gpkg_ogr_contents (table_name TEXT NOT NULL PRIMARY KEY, feature_count INTEGER DEFAULT NULL)",
         ()),
        ("INSERT INTO gpkg_ogr_contents VALUES (?, ?)", (layer, count)),
        (f"CREATE TABLE {_q(layer)} (\"fid\" INTEGER PRIMARY KEY NOT NULL, {definitions})", ()),
    ]


def write_point_stage(path: Path, layer: str, table: Any, geometry: str, srs: tuple[int, str, str],
                      extent: tuple[float, float, float, float]) -> None:
    """Write the Arrow `table` (its column `geometry` holding :func:`point_blobs`) as feature table `layer` of a
    new GeoPackage at `path`; the rows are numbered 1..n (``fid``) in table order.

    `srs` is the ``(srs_id, name, WKT definition)`` of the geometries' reference system, `extent` the
    points' ``(min_x, min_y, max_x, max_y)`` (kept in ``gpkg_contents``, as GDAL does).

    Examples
    --------
    >>> import tempfile, sqlite3, shapely, pyarrow as pa
    >>> tmp = tempfile.TemporaryDirectory()
    >>> x, y = np.array([109.5, 109.6]), np.array([38.2, 38.3])
    >>> blobs = point_blobs(shapely.points(x, y), x, y, 4326)
    >>> path = Path(tmp.name) / "s.gpkg"
    >>> write_point_stage(path, "stage", pa.table({"geom": blobs, "k": ["a", "b"]}), "geom",
    ...                   (4326, "WGS 84", "GEOGCS[...]"), (109.5, 38.2, 109.6, 38.3))
    >>> con = sqlite3.connect(path)
    >>> con.execute("SELECT fid, k, length(geom) FROM stage").fetchall()
    [(1, 'a', 29), (2, 'b', 29)]
    >>> con.execute("SELECT min_x, max_y FROM gpkg_contents").fetchall()
    [(109.5, 38.3)]
    >>> con.close(); tmp.cleanup()
    """
    import adbc_driver_sqlite.dbapi as adbc

    kinds = sqlite_types(table.drop_columns([geometry]))
    if kinds is None:
        raise ValueError("write_point_stage: a column is not text, integer or real; write the stage with GDAL")
    names = [c for c in table.column_names if c != geometry]
    columns = [(geometry, "GEOMETRY"), *zip(names, kinds)]
    with adbc.connect(str(path), autocommit=True) as con:
        with con.cursor() as cur:
            # a private file that is thrown away after the import: a crash only loses the stage
            cur.execute("PRAGMA synchronous = OFF")
            cur.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
            cur.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
            for sql, params in _geopackage_sql(layer, columns, geometry, srs, extent, table.num_rows):
                cur.execute(sql, params or None)
            cur.adbc_ingest(layer, table.select([geometry, *names]), mode="append")
