"""The fast paths of a large import give what the general ones give (issue 16).

Each shortcut taken for speed is checked against an independent computation:
the stage's WKB against shapely's writer, the staging file against the one
``pyogrio.write_dataframe`` writes, the UTC time text against numpy's
formatter, the R-tree's rowid table against the entries given (and SQLite's
own R-tree checker), and a CSV read against the values in it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gridmap.io.tabular import read_csv
from gridmap.model import layer_spec
from gridmap.storage.gpkg._columns import _utc_ms_text
from gridmap.storage.gpkg._rtree import bulk_load
from gridmap.storage.gpkg._stage import _stage_frame, _write_stage, stage_wkb

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=50))
@example([(0.0, -0.0)])
@example([(109.73, 38.29), (1e308, -1e-308)])
def test_point_wkb_is_shapelys(xy: list[tuple[float, float]]) -> None:
    geoms = shapely.points(np.array(xy, dtype="float64"))
    assert stage_wkb(geoms).to_pylist() == list(shapely.to_wkb(geoms))


@pytest.mark.parametrize("geoms", [
    [shapely.Point(1, 2, 3), shapely.Point(1, 2)],  # a 3-D point: shapely's writer
    [shapely.Point(1, 2), shapely.LineString([(0, 0), (1, 1)])],  # mixed types
    [shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])],
    [shapely.Point(float("nan"), 1.0)],
    [],
])
def test_other_wkb_is_shapelys(geoms: list) -> None:
    values = np.array(geoms, dtype=object)
    assert stage_wkb(values).to_pylist() == list(shapely.to_wkb(values))


def _table_rows(path: Path, table: str = "stage") -> list[tuple]:
    with closing(sqlite3.connect(path)) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY fid").fetchall()


def _gpkg_facts(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as con:
        return [
            *con.execute("SELECT table_name, column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns"),
            *con.execute("SELECT table_name, data_type, srs_id FROM gpkg_contents"),
            *con.execute("SELECT name, type FROM pragma_table_info('stage') ORDER BY cid"),
        ]


@pytest.mark.parametrize("layer, geoms", [
    ("reports", [shapely.Point(109.7 + i / 1000, 38.2 + i / 3000) for i in range(40)]),
    ("targets", [shapely.Point(109.7, 38.2), shapely.box(109.7, 38.2, 109.71, 38.21)]),
])
def test_stage_file_is_what_pyogrio_writes(tmp_path: Path, layer: str, geoms: list) -> None:
    """The staging file written from Arrow holds the rows, types and blobs pyogrio's own writer gives."""
    n = len(geoms)
    spec = layer_spec(layer)
    key = spec.key[0]
    frame = gpd.GeoDataFrame({
        key: [f"K{i}" for i in range(n)],
        **({"reported_at": pd.Timestamp("2025-03-01 08:00", tz="Asia/Shanghai") + pd.to_timedelta(np.arange(n), "s"),
            "category": ["garbage_dumping"] * n, "description": [None if i % 3 else "北街" for i in range(n)]}
           if layer == "reports" else {"kind": ["dump"] * n, "name": [f"点{i}" for i in range(n)]}),
    }, geometry=geoms, crs="EPSG:4326")
    staged = _stage_frame(spec, frame).rows
    ours = _write_stage(spec, staged, tmp_path)
    peer = tmp_path / "peer.gpkg"
    # the boxes and Hilbert ranks stay in memory: the file holds the model columns and the geometry
    in_file = staged.drop(columns=["_minx", "_miny", "_maxx", "_maxy", "_hilbert"])
    pyogrio.write_dataframe(in_file, peer, layer="stage", use_arrow=True, geometry_type="Unknown",
                            layer_options={"SPATIAL_INDEX": "NO"})
    assert _table_rows(ours) == _table_rows(peer)
    assert _gpkg_facts(ours) == _gpkg_facts(peer)
    assert len(_table_rows(ours)) == n


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.integers(-62_135_596_800_000, 253_402_300_799_999),
                          st.integers(-2**62, 2**62)), max_size=40))
@example([0, None, -1, 253_402_300_800_000, -62_135_596_800_001])  # the epoch, 1969, year 10000, year 0
def test_utc_text_is_numpys(ms: list[int | None]) -> None:
    utc = np.array([np.datetime64("NaT") if v is None else np.datetime64(v, "ms") for v in ms],
                   dtype="datetime64[ms]")
    expected = [None if v is None else str(np.datetime_as_string(np.datetime64(v, "ms"), unit="ms")) + "Z"
                for v in ms]
    assert _utc_ms_text(utc).to_pylist() == expected


@pytest.mark.parametrize("ids", [np.arange(1, 2001), np.arange(5, 4005, 2), np.r_[np.arange(1, 500), 10_000]])
def test_rtree_rowids_are_the_entries(ids: np.ndarray) -> None:
    """A gap-free run of ids goes in through one JSON array, others pair by pair: the same rowid table."""
    rng = np.random.default_rng(len(ids))
    x, y = rng.uniform(0, 100, len(ids)), rng.uniform(0, 100, len(ids))
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("CREATE VIRTUAL TABLE idx USING rtree(id, minx, maxx, miny, maxy)")
    assert bulk_load(con, "idx", ids, x, x + 1, y, y + 1)
    assert con.execute("SELECT rtreecheck('idx')").fetchone()[0] == "ok"
    rowids = [r[0] for r in con.execute("SELECT rowid FROM idx_rowid ORDER BY rowid")]
    assert rowids == sorted(ids.tolist())
    # each rowid points at the leaf holding it
    for rowid, node in con.execute("SELECT rowid, nodeno FROM idx_rowid WHERE rowid % 97 = 1"):
        blob = con.execute("SELECT data FROM idx_node WHERE nodeno = ?", (node,)).fetchone()[0]
        count = int.from_bytes(blob[2:4], "big")
        cells = [int.from_bytes(blob[4 + 24 * k:12 + 24 * k], "big", signed=True) for k in range(count)]
        assert rowid in cells


def test_csv_coordinates_parsed_once_keep_their_values(tmp_path: Path) -> None:
    """Plain numbers (the fast path) and a decimal comma or full-width digits (the careful one) give the same points."""
    path = tmp_path / "r.csv"
    path.write_text("id,经度,纬度\nA,109.73,38.29\nB,\"109,74\",３８.３\nC,109.75,38.31\n", encoding="utf-8")
    res = read_csv(path, layer="reports", coords="wgs84")
    xy = shapely.get_coordinates(res.records.geometry.to_numpy())
    assert xy.tolist() == [[109.73, 38.29], [109.74, 38.3], [109.75, 38.31]]


@pytest.mark.parametrize("layer, geoms", [
    ("reports", [shapely.Point(109.7, 38.2), shapely.Point(109.8, 38.3)]),
    ("targets", [shapely.Point(109.7, 38.2), shapely.box(109.7, 38.2, 109.71, 38.21)]),
    ("targets", [shapely.box(109.7, 38.2, 109.71, 38.21), shapely.Point(109.7, 38.2)]),
])
def test_staged_boxes_are_shapelys_bounds(layer: str, geoms: list) -> None:
    """Boxes of one-vertex geometries come from their vertices; any other mix from shapely.bounds: the same."""
    spec = layer_spec(layer)
    frame = gpd.GeoDataFrame({spec.key[0]: [f"K{i}" for i in range(len(geoms))],
                              **({"kind": ["dump"] * len(geoms)} if layer == "targets" else
                                 {"reported_at": ["2025-03-01T08:00:00+08:00"] * len(geoms),
                                  "category": ["garbage_dumping"] * len(geoms)})},
                             geometry=geoms, crs="EPSG:4326")
    staged = _stage_frame(spec, frame).rows
    expected = shapely.bounds(shapely.force_2d(np.array(geoms, dtype=object)))
    assert staged[["_minx", "_miny", "_maxx", "_maxy"]].to_numpy().tolist() == expected.tolist()
