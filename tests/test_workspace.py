"""The GeoPackage workspace, checked with GDAL (pyogrio) and raw SQLite, independently of gridmap."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from _opcount import extra_calls

from gridmap.errors import CRSError, SchemaError, WorkspaceBusyError, WorkspaceError, WorkspaceVersionError
from gridmap.io.base import quarantine_frame, quarantine_row
from gridmap.model import LAYERS, QUARANTINE_COLUMNS, SCHEMA_VERSION
from tests._imports import downgrade_to_schema_2
from gridmap.storage import (
    ALIASES_TABLE, CATEGORIES_TABLE, IMPORTS_TABLE, META_TABLE, QUARANTINE_TABLE, init_workspace, open_workspace,
)

HELPER = Path(__file__).with_name("_kill_import.py")
OGR_TYPES = {"str": "OFTString", "int": "OFTInteger64", "float": "OFTReal", "datetime": "OFTDateTime"}
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture()
def ws_path(tmp_path: Path) -> Path:
    path = tmp_path / "gulou.gpkg"
    init_workspace(path).close()
    return path


def _sql(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _reports(ids: list[str], *, lon: list[float] | None = None, lat: list[float] | None = None) -> gpd.GeoDataFrame:
    n = len(ids)
    lon = lon if lon is not None else [109.73 + 0.001 * i for i in range(n)]
    lat = lat if lat is not None else [38.29 - 0.001 * i for i in range(n)]
    start = pd.Timestamp("2025-03-01 08:00", tz="Asia/Shanghai")
    return gpd.GeoDataFrame(
        {
            "report_id": ids,
            "reported_at": [start + pd.Timedelta(minutes=i) for i in range(n)],
            "category": ["firewood_pile"] * n,
            "description": [f"柴草垛 {i}" for i in range(n)],
            "_record": list(range(1, n + 1)),
        },
        geometry=[Point(x, y) for x, y in zip(lon, lat)],
        crs="EPSG:4326",
    )


def _quarantine(records: list[int], reason: str = "future_time", *, digest: str = "d1") -> pd.DataFrame:
    return quarantine_frame(
        quarantine_row(layer="reports", source="a.csv", source_digest=digest, record=r, raw={"id": f"q{r}"},
                       reason=reason, detail="a time in the future")
        for r in records
    )


# ---------------------------------------------------------------------------------------------------------------
# creating and opening
# ---------------------------------------------------------------------------------------------------------------


def test_init_creates_every_layer_with_model_columns_and_geometry(ws_path: Path) -> None:
    listed = {name: gtype for name, gtype in pyogrio.list_layers(ws_path)}
    tables = {QUARANTINE_TABLE, IMPORTS_TABLE, META_TABLE, CATEGORIES_TABLE, ALIASES_TABLE}
    assert set(listed) == set(LAYERS) | tables
    for spec in LAYERS.values():
        expected_type = {None: None, "Geometry": "Unknown"}.get(spec.geometry, spec.geometry)
        assert listed[spec.name] == expected_type, spec.name
        info = pyogrio.read_info(ws_path, layer=spec.name)
        assert list(info["fields"]) == spec.column_names
        assert info["ogr_types"] == [OGR_TYPES[c.dtype] for c in spec.columns]
        assert info["features"] == 0
        if spec.geometry is not None:
            assert info["crs"] == "EPSG:4326"
    quarantine_info = pyogrio.read_info(ws_path, layer=QUARANTINE_TABLE)
    assert list(quarantine_info["fields"]) == [c.name for c in QUARANTINE_COLUMNS] + ["import_fid"]


def test_init_registers_contents_and_spatial_indexes(ws_path: Path) -> None:
    contents = dict(_sql(ws_path, "SELECT table_name, data_type FROM gpkg_contents"))
    for spec in LAYERS.values():
        assert contents[spec.name] == ("attributes" if spec.geometry is None else "features")
    for table in (QUARANTINE_TABLE, IMPORTS_TABLE, META_TABLE, CATEGORIES_TABLE):
        assert contents[table] == "attributes"
    rows = _sql(ws_path, "SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'")
    rtree = {t for (t,) in rows}
    assert rtree == {s.name for s in LAYERS.values() if s.geometry is not None}
    tables = {n for (n,) in _sql(ws_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {f"rtree_{t}_geom" for t in rtree} <= tables
    srs = _sql(ws_path, "SELECT DISTINCT srs_id FROM gpkg_geometry_columns")
    assert srs == [(4326,)]


def test_meta_version_and_journaling(ws_path: Path) -> None:
    meta = dict(_sql(ws_path, f"SELECT key, value FROM {META_TABLE}"))
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["illustrative"] == "false"
    created = datetime.fromisoformat(meta["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 120
    assert _sql(ws_path, "PRAGMA journal_mode") == [("wal",)]  # persisted in the file
    with open_workspace(ws_path) as ws:
        assert ws.schema_version == SCHEMA_VERSION
        assert ws.meta["gridmap_version"]
        pragmas = ws.pragmas()
        assert pragmas["journal_mode"] == "wal"
        assert pragmas["synchronous"] != "OFF"
        assert ws.integrity_check() == "ok"


def test_init_refuses_existing_file_unless_overwrite(ws_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="already exists; pass overwrite=True"):
        init_workspace(ws_path)
    with open_workspace(ws_path) as ws:
        ws.append("reports", _reports(["a"]))
    with init_workspace(ws_path, overwrite=True) as ws:
        assert ws.counts()["reports"] == 0


def test_newer_schema_is_refused(ws_path: Path) -> None:
    con = sqlite3.connect(ws_path)
    con.execute(f"UPDATE {META_TABLE} SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    newer = rf"written by a newer gridmap \(schema {SCHEMA_VERSION + 1}\); upgrade gridmap"
    with pytest.raises(WorkspaceVersionError, match=newer):
        open_workspace(ws_path)


def test_files_that_are_not_workspaces_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs=4326), plain)
    with pytest.raises(WorkspaceError, match="not a gridmap workspace.*gridmap init"):
        open_workspace(plain)
    text = tmp_path / "notes.gpkg"
    text.write_text("not a database at all " * 100)
    with pytest.raises(WorkspaceError, match="not a gridmap workspace.*gridmap init"):
        open_workspace(text)
    with pytest.raises(WorkspaceError, match="no workspace at .*gridmap init"):
        open_workspace(tmp_path / "missing.gpkg")
    assert not (tmp_path / "missing.gpkg").exists()


def test_sample_fills_layers_with_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    seen: list[int] = []

    def sample_layers(*, seed: int = 0) -> dict[str, pd.DataFrame]:
        seen.append(seed)
        grid = MultiPolygon([box(109.72, 38.28, 109.73, 38.29)])
        grids = gpd.GeoDataFrame({"grid_code": ["610802001001001"], "community_code": ["610802001001"]},
                                 geometry=[grid], crs=4326)
        return {"grids": grids, "reports": _reports(["s1", "s2", "s3"])}

    monkeypatch.setitem(sys.modules, "gridmap.sample", types.SimpleNamespace(sample_layers=sample_layers))
    with init_workspace(tmp_path / "s.gpkg", sample=True, seed=7) as ws:
        assert seen == [7]
        assert ws.meta["illustrative"] == "true"
        counts = ws.counts()
        assert (counts["grids"], counts["reports"], counts["tracks"]) == (1, 3, 0)


# ---------------------------------------------------------------------------------------------------------------
# appending
# ---------------------------------------------------------------------------------------------------------------


def test_append_counts_duplicates_and_quarantine(ws_path: Path) -> None:
    # 3 distinct keys, 2 identical repeats in the file (a repeat with other content is a key_conflict: test_keys.py)
    frame = _reports(["r1", "r2", "r3"]).iloc[[0, 1, 1, 2, 0]].assign(_record=[1, 2, 3, 4, 5])
    quarantine = _quarantine([6, 7])
    with open_workspace(ws_path) as ws:
        first = ws.append("reports", frame, quarantine=quarantine, source="a.csv", source_digest="d1")
        assert (first.read, first.accepted, first.duplicates, first.quarantined) == (7, 3, 2, 2)
        assert first.reasons == {"future_time": 2}
        second = ws.append("reports", frame, quarantine=quarantine, source="a.csv", source_digest="d1")
        assert (second.read, second.accepted, second.duplicates, second.quarantined) == (7, 0, 5, 2)
        more = ws.append("reports", pd.concat([frame.iloc[[3]], _reports(["r4"])]), source="b.csv",
                         source_digest="d2")
        assert (more.accepted, more.duplicates) == (1, 1)
        assert ws.counts()["reports"] == 4
        assert ws.counts()["quarantine"] == 2  # stored once
        stored_q = ws.quarantine()
        assert sorted(stored_q["record"]) == [6, 7]
        assert set(stored_q["reason"]) == {"future_time"}
        assert len(ws.quarantine(source="b.csv")) == 0
        log = ws.imports()
    assert list(log["source"]) == ["a.csv", "a.csv", "b.csv"]
    assert list(log["accepted"]) == [3, 0, 1]
    assert list(log["duplicates"]) == [2, 5, 1]
    assert [json.loads(r) for r in log["reasons"]] == [{"future_time": 2}, {"future_time": 2}, {}]
    assert str(log["imported_at"].dt.tz) == "Asia/Shanghai"
    # first occurrence wins within a file; GDAL sees the stored rows
    stored = pyogrio.read_dataframe(ws_path, layer="reports")
    assert sorted(stored["report_id"]) == ["r1", "r2", "r3", "r4"]
    r2 = stored.set_index("report_id").loc["r2"]
    assert r2["description"] == "柴草垛 1"


def test_stored_rows_equal_the_input(ws_path: Path) -> None:
    frame = _reports([f"id{i}" for i in range(50)])
    with open_workspace(ws_path) as ws:
        ws.append("reports", frame)
        back = ws.read_layer("reports")
    assert isinstance(back, gpd.GeoDataFrame) and back.crs == "EPSG:4326"
    assert "fid" not in back.columns and "_record" not in back.columns
    back = back.set_index("report_id").loc[frame["report_id"]]
    assert list(back["description"]) == list(frame["description"])
    assert (back["reported_at"].to_numpy() == frame["reported_at"].to_numpy()).all()
    assert shapely.equals_exact(back.geometry.to_numpy(), frame.geometry.to_numpy(), tolerance=0).all()
    assert back["status"].isna().all()


def test_read_read_mismatch_is_refused_and_nothing_lands(ws_path: Path) -> None:
    with open_workspace(ws_path) as ws:
        with pytest.raises(SchemaError, match="records would be lost"):
            ws.append("reports", _reports(["a", "b"]), read=5)
        assert ws.counts()["reports"] == 0 and len(ws.imports()) == 0


def test_times_round_trip_with_zone(ws_path: Path) -> None:
    instants = [
        datetime(2025, 3, 1, 8, 0, 0, tzinfo=SHANGHAI),
        datetime(2025, 3, 1, 0, 0, 0, 123000, tzinfo=timezone.utc),
        datetime(2024, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
    ]
    frame = _reports(["t0", "t1", "t2"])
    frame["reported_at"] = pd.Series(instants, dtype=object)
    naive = _reports(["t3"])
    naive["reported_at"] = [pd.Timestamp("2025-03-01 08:00")]  # no zone: taken as China Standard Time
    with open_workspace(ws_path) as ws:
        ws.append("reports", frame)
        ws.append("reports", naive)
        back = ws.read_layer("reports").set_index("report_id")
    assert str(back["reported_at"].dt.tz) == "Asia/Shanghai"
    for rid, instant in zip(["t0", "t1", "t2"], instants):
        assert back.loc[rid, "reported_at"].to_pydatetime() == instant
    assert back.loc["t3", "reported_at"].to_pydatetime() == datetime(2025, 3, 1, 0, 0, tzinfo=timezone.utc)
    raw = dict(_sql(ws_path, "SELECT report_id, reported_at FROM reports"))
    # GeoPackage convention: ISO 8601 text in UTC with a Z, computed here by hand
    assert raw["t0"] == "2025-03-01T00:00:00.000Z"
    assert raw["t1"] == "2025-03-01T00:00:00.123Z"
    assert raw["t2"] == "2025-01-01T04:59:59.000Z"
    gdal = pyogrio.read_dataframe(ws_path, layer="reports")  # GDAL parses it as a DateTime
    assert str(gdal["reported_at"].dtype).startswith("datetime64")


def test_attribute_table_types_round_trip(ws_path: Path) -> None:
    fixes = pd.DataFrame({
        "report_id": ["r1", "r2", "r1"],
        "rectified_at": pd.to_datetime(["2025-03-02 10:00", "2025-03-02 11:00", "2025-03-03 10:00"]).tz_localize(
            "Asia/Shanghai"),
        "verified_at": [pd.Timestamp("2025-03-04 09:00", tz="Asia/Shanghai"), pd.NaT, pd.NaT],
        "tonnes": [1.25, None, 0.5],
        "truck_trips": [3, None, 1],
    })
    with open_workspace(ws_path) as ws:
        summary = ws.append("rectifications", fixes)
        assert (summary.accepted, summary.duplicates) == (3, 0)  # the key is (report_id, rectified_at)
        back = ws.read_layer("rectifications")
    assert type(back) is pd.DataFrame
    assert str(back["truck_trips"].dtype) == "Int64"
    assert back["truck_trips"].tolist()[0] == 3 and back["truck_trips"].isna().tolist() == [False, True, False]
    assert back["tonnes"].tolist()[0] == 1.25 and np.isnan(back["tonnes"].tolist()[1])
    assert back["verified_at"].isna().tolist() == [False, True, True]
    assert back["by"].isna().all()


def test_polygons_are_promoted_and_subdistrict_union(ws_path: Path) -> None:
    squares = gpd.GeoDataFrame({"code": ["610802001", "610802002"], "name": ["鼓楼街道", "东"]},
                               geometry=[box(0, 0, 1, 1), MultiPolygon([box(1, 0, 2, 1)])], crs=4326)
    with open_workspace(ws_path) as ws:
        assert ws.subdistrict_geometry() is None
        ws.append("subdistrict", squares)
        back = ws.read_layer("subdistrict")
        union = ws.subdistrict_geometry()
    assert list(back.geom_type) == ["MultiPolygon", "MultiPolygon"]
    assert union.area == pytest.approx(2.0, abs=1e-12)
    assert union.bounds == (0.0, 0.0, 2.0, 1.0)
    assert list(back["name"]) == ["鼓楼街道", "东"]


def test_bad_frames_raise_and_write_nothing(ws_path: Path) -> None:
    with open_workspace(ws_path) as ws:
        with pytest.raises(SchemaError, match="required column.*report_id missing"):
            ws.append("reports", _reports(["a"]).drop(columns="report_id"))
        missing_key = _reports(["a", "b"])
        missing_key.loc[1, "report_id"] = None
        with pytest.raises(SchemaError, match="empty required values.*missing_value"):
            ws.append("reports", missing_key)
        with pytest.raises(CRSError, match="no CRS; declare it"):
            ws.append("reports", _reports(["a"]).set_crs(None, allow_override=True))
        polygon = _reports(["a"]).set_geometry([Polygon([(0, 0), (1, 0), (1, 1)])], crs=4326)
        with pytest.raises(SchemaError, match="holds Point geometries.*wrong_geometry_type"):
            ws.append("reports", polygon)
        with pytest.raises(SchemaError, match="unknown layer 'nope'"):
            ws.append("nope", _reports(["a"]))
        with pytest.raises(SchemaError, match="unknown quarantine reason"):
            ws.append("reports", _reports(["a"]), quarantine=_quarantine([2], reason="because"))
        with pytest.raises(SchemaError, match="without geometry.*missing_coordinates"):
            ws.append("reports", _reports(["a"]).set_geometry([Point()], crs=4326))
        assert sum(ws.counts().values()) == 0 and len(ws.imports()) == 0


def test_projected_frames_are_stored_in_lonlat(ws_path: Path) -> None:
    frame = _reports(["p"], lon=[109.73], lat=[38.29]).to_crs("EPSG:4546")
    with open_workspace(ws_path) as ws:
        ws.append("reports", frame)
        back = ws.read_layer("reports")
    assert back.geometry.iloc[0].x == pytest.approx(109.73, abs=1e-9)
    assert back.geometry.iloc[0].y == pytest.approx(38.29, abs=1e-9)


def test_callers_frame_is_not_changed(ws_path: Path) -> None:
    frame = _reports(["a", "b", "a"])
    frame.index = [10, 20, 30]
    quarantine = _quarantine([4])
    before, q_before = frame.copy(deep=True), quarantine.copy(deep=True)
    with open_workspace(ws_path) as ws:
        ws.append("reports", frame, quarantine=quarantine)
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_frame_equal(quarantine, q_before)


def test_closed_workspace_refuses_work(ws_path: Path) -> None:
    ws = open_workspace(ws_path)
    ws.close()
    with pytest.raises(WorkspaceError, match="is closed; open it again"):
        ws.counts()


def test_read_layer_where_and_bad_where(ws_path: Path) -> None:
    with open_workspace(ws_path) as ws:
        ws.append("reports", _reports(["a", "b", "c"]))
        assert list(ws.read_layer("reports", where="report_id IN ('a', 'c')")["report_id"]) == ["a", "c"]
        with pytest.raises(WorkspaceError, match="cannot read layer 'reports'.*no_such_column"):
            ws.read_layer("reports", where="no_such_column = 1")
        empty = ws.read_layer("tracks")
    assert len(empty) == 0 and str(empty["time"].dtype) == "datetime64[ms, Asia/Shanghai]"


# ---------------------------------------------------------------------------------------------------------------
# GDAL sees a consistent GeoPackage: counts, R-tree, spatial filter
# ---------------------------------------------------------------------------------------------------------------


def test_gdal_reads_every_layer_and_rtree_is_consistent(ws_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 2000
    lon, lat = rng.uniform(109.70, 109.76, n), rng.uniform(38.26, 38.32, n)
    frame = _reports([f"b{i}" for i in range(n)], lon=list(lon), lat=list(lat))
    streets = gpd.GeoDataFrame({"street_name": ["北大街"]},
                               geometry=[shapely.LineString([(109.73, 38.28), (109.73, 38.30)])], crs=4326)
    with open_workspace(ws_path) as ws:
        ws.append("reports", frame.iloc[:1200])
        ws.append("reports", frame)  # 800 new, 1200 duplicates
        ws.append("streets", streets)
        counts = ws.counts()
    assert counts["reports"] == n and counts["streets"] == 1
    for name in LAYERS:
        assert len(pyogrio.read_dataframe(ws_path, layer=name)) == counts[name]
        assert pyogrio.read_info(ws_path, layer=name, force_feature_count=True)["features"] == counts[name]
    assert _sql(ws_path, "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name='reports'") == [(n,)]
    assert _sql(ws_path, "SELECT count(*) FROM rtree_reports_geom") == [(n,)]
    # every R-tree box holds its own point (R-tree boxes are float32, rounded outwards)
    boxes = _sql(ws_path, "SELECT r.minx, r.maxx, r.miny, r.maxy, p.report_id FROM rtree_reports_geom r"
                          " JOIN reports p ON p.fid = r.id")
    where = {f"b{i}": (lon[i], lat[i]) for i in range(n)}
    assert all(b[0] <= where[b[4]][0] <= b[1] and b[2] <= where[b[4]][1] <= b[3] for b in boxes)
    ulp = 2 * float(np.spacing(np.float32(109.76)))
    assert all(b[1] - b[0] <= ulp and b[3] - b[2] <= ulp for b in boxes)
    # the extent GDAL reports covers every point
    ext = _sql(ws_path, "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name='reports'")[0]
    assert ext == (lon.min(), lat.min(), lon.max(), lat.max())
    # GDAL's spatial filter (through the R-tree) returns exactly the points inside, by brute force
    for bbox in [(109.72, 38.28, 109.74, 38.30), (109.70, 38.26, 109.705, 38.33), (109.9, 38.0, 110.0, 38.1)]:
        got = set(pyogrio.read_dataframe(ws_path, layer="reports", bbox=bbox)["report_id"])
        inside = (lon >= bbox[0]) & (lon <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])
        assert got == {f"b{i}" for i in np.flatnonzero(inside)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    points=st.lists(
        st.tuples(st.floats(-180, 180, allow_nan=False), st.floats(-90, 90, allow_nan=False),
                  st.integers(0, 4_000_000_000_000)),
        min_size=1, max_size=20,
    )
)
def test_property_points_and_times_round_trip_exactly(ws_path: Path, points: list[tuple[float, float, int]]) -> None:
    token = uuid.uuid4().hex  # not `random`: hypothesis seeds it the same way for every example
    ids = [f"{token}-{i}" for i in range(len(points))]
    frame = _reports(ids, lon=[p[0] for p in points], lat=[p[1] for p in points])
    frame["reported_at"] = [pd.Timestamp(p[2], unit="ms", tz="UTC") for p in points]
    with open_workspace(ws_path) as ws:
        assert ws.append("reports", frame).accepted == len(points)
        back = ws.read_layer("reports", where=f"report_id LIKE '{token}-%'").set_index("report_id").loc[ids]
    assert list(back.geometry.x) == [p[0] for p in points]  # doubles stored bit for bit
    assert list(back.geometry.y) == [p[1] for p in points]
    assert [t.value // 1_000_000 for t in back["reported_at"].dt.tz_convert("UTC")] == [p[2] for p in points]
    rtree = _sql(ws_path, "SELECT count(*) FROM rtree_reports_geom r JOIN reports p ON p.fid = r.id"
                          " WHERE p.report_id LIKE ?", (f"{token}-%",))
    assert rtree == [(len(points),)]


# ---------------------------------------------------------------------------------------------------------------
# concurrency and crashes (BAD-INPUTS.md cases 4 and 5)
# ---------------------------------------------------------------------------------------------------------------


def test_busy_workspace_raises_and_writes_nothing(ws_path: Path) -> None:
    blocker = sqlite3.connect(ws_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        ws = open_workspace(ws_path, busy_timeout=0.5)
        start = time.monotonic()
        with pytest.raises(WorkspaceBusyError, match="workspace busy: another process is writing .*; try again"):
            ws.append("reports", _reports(["a", "b"]), quarantine=_quarantine([3]))
        waited = time.monotonic() - start
        assert waited >= 0.4  # it did wait for the lock (SQLite sleeps the whole 0.5 s timeout); no upper bound
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert ws.counts() == {name: 0 for name in (*LAYERS, QUARANTINE_TABLE)}
    assert len(ws.imports()) == 0
    assert ws.append("reports", _reports(["a", "b"])).accepted == 2  # the lock is gone: it works


def test_reader_does_not_block_writer_and_sees_a_snapshot(ws_path: Path) -> None:
    reader = sqlite3.connect(ws_path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM reports").fetchone() == (0,)
    try:
        with open_workspace(ws_path, busy_timeout=1) as ws:
            assert ws.append("reports", _reports(["a", "b", "c"])).accepted == 3
        assert reader.execute("SELECT count(*) FROM reports").fetchone() == (0,)  # its snapshot
    finally:
        reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM reports").fetchone() == (3,)
    reader.close()


def _start_helper(path: Path, rows: int, tmp: Path) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmp))
    tmp.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, str(HELPER), str(path), str(rows)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_line(proc: subprocess.Popen, expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == expected, (line, proc.stderr.read() if proc.stderr else "")


def test_concurrent_gdal_reader_during_an_import(ws_path: Path, tmp_path: Path) -> None:
    rows = 60_000
    proc = _start_helper(ws_path, rows, tmp_path / "tmp")
    _wait_for_line(proc, "staging")
    seen: list[int] = []
    while proc.poll() is None:
        seen.append(len(pyogrio.read_dataframe(ws_path, layer="reports", columns=["report_id"], read_geometry=False)))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == f"done {rows} 0"
    seen.append(len(pyogrio.read_dataframe(ws_path, layer="reports", columns=["report_id"], read_geometry=False)))
    assert seen and set(seen) <= {0, rows} and seen[-1] == rows


@pytest.mark.slow
@pytest.mark.parametrize("when", ["wal-grows", "random"])
def test_sigkill_during_import_leaves_workspace_intact(ws_path: Path, tmp_path: Path, when: str) -> None:
    rows = 300_000
    wal = Path(str(ws_path) + "-wal")
    proc = _start_helper(ws_path, rows, tmp_path / "tmp")
    _wait_for_line(proc, "staging")
    if when == "wal-grows":  # the transaction has started writing pages
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if wal.exists() and wal.stat().st_size > 0:
                break
            time.sleep(0.001)
    else:
        time.sleep(random.Random(7).uniform(0.5, 4.0))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    with open_workspace(ws_path) as ws:
        assert ws.integrity_check() == "ok"
        landed = ws.counts()["reports"]
        sys.stderr.write(f"\nkilled ({when}): {landed} of {rows} rows had landed\n")
        assert landed in (0, rows)
        assert len(ws.imports()) == (1 if landed else 0)
        assert _sql(ws_path, "SELECT count(*) FROM rtree_reports_geom") == [(landed,)]
        triggers = {n for (n,) in _sql(ws_path, "SELECT name FROM sqlite_master WHERE type='trigger'"
                                                " AND tbl_name='reports'")}
        assert {"rtree_reports_geom_insert", "trigger_insert_feature_count_reports"} <= triggers
    again = _start_helper(ws_path, rows, tmp_path / "tmp")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert out.splitlines()[-1] == f"done {rows - landed} {landed}"
    with open_workspace(ws_path) as ws:
        assert ws.counts()["reports"] == rows
        assert ws.integrity_check() == "ok"
    assert pyogrio.read_info(ws_path, layer="reports", force_feature_count=True)["features"] == rows
    assert _sql(ws_path, "SELECT count(DISTINCT report_id) FROM reports") == [(rows,)]
    assert not list((tmp_path / "tmp").glob("gridmap-stage-*/*.gpkg-wal"))


@pytest.mark.slow
def test_append_of_a_million_rows_has_no_per_row_python_work(tmp_path: Path) -> None:
    """1M rows land whole, and appending them runs no Python code per row (timings: benchmarks/import.py).

    Deterministic stand-in for "about as fast as a bare GDAL write": the Python function calls of
    appending 1M rows exceed those of 1,000 rows by less than one per 100 rows.
    """
    import _kill_import

    small, frame = _kill_import.build_frame(1_000), _kill_import.build_frame(1_000_000)
    counter = iter(range(10))
    summary, extra = extra_calls(lambda: init_workspace(tmp_path / f"s{next(counter)}.gpkg").append("reports", small),
                                 lambda: init_workspace(tmp_path / "ws.gpkg").append("reports", frame))
    assert summary.accepted == 1_000_000
    assert extra < (1_000_000 - 1_000) / 100, extra
    assert _sql(tmp_path / "ws.gpkg", "SELECT count(*) FROM rtree_reports_geom") == [(1_000_000,)]


def test_qgis_opens_every_layer(tmp_path: Path) -> None:
    probe = subprocess.run(["/usr/bin/python3", "-c", "import qgis.core"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("python3-qgis is not installed (apt-get install python3-qgis to run this check)")
    path = tmp_path / "q.gpkg"
    with init_workspace(path) as ws:
        ws.append("reports", _reports(["a", "b"]))
        counts = ws.counts()
    script = (
        "import json, sys\nfrom qgis.core import QgsApplication, QgsVectorLayer\n"
        "app = QgsApplication([], False); app.initQgis()\nout = {}\n"
        "for name in json.loads(sys.argv[2]):\n"
        "    lyr = QgsVectorLayer(f'{sys.argv[1]}|layername={name}', name, 'ogr')\n"
        "    out[name] = [lyr.isValid(), lyr.featureCount()]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(["/usr/bin/python3", "-c", script, str(path), json.dumps(list(counts))],
                          capture_output=True, text=True, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {name: [True, n] for name, n in counts.items()}


def test_threads_do_not_see_partial_rows(ws_path: Path) -> None:
    """Python-sqlite readers in other threads see an import all or nothing."""
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        con = sqlite3.connect(ws_path)
        while not stop.is_set():
            seen.append(con.execute("SELECT count(*) FROM reports").fetchone()[0])
        con.close()

    thread = threading.Thread(target=read)
    thread.start()
    try:
        with open_workspace(ws_path) as ws:
            ws.append("reports", _reports([f"x{i}" for i in range(5000)]))
    finally:
        stop.set()
        thread.join()
    assert seen and set(seen) <= {0, 5000}


def test_open_sqlite_connection_survives_reads_and_appends(ws_path: Path) -> None:
    """A caller's sqlite3 connection left open in the same process keeps working (no GDAL on the workspace)."""
    lingering = sqlite3.connect(ws_path)
    assert lingering.execute("SELECT count(*) FROM reports").fetchone() == (0,)
    with open_workspace(ws_path) as ws:
        ws.append("subdistrict", gpd.GeoDataFrame({"code": ["610802001"], "name": ["鼓楼街道"]},
                                                  geometry=[box(109.7, 38.2, 109.8, 38.3)], crs=4326))
        assert ws.subdistrict_geometry().area == pytest.approx(0.01)
        ws.read_layer("reports")
        assert ws.append("reports", _reports(["a", "b"])).accepted == 2
    assert lingering.execute("SELECT count(*) FROM reports").fetchone() == (2,)
    lingering.close()


# ----------------------------------------------------------------------------- schema 2 → 3


def _make_v2(path: Path) -> None:
    """A schema-2 workspace: no ``extra`` column on the layers, no column-alias table, version 2."""
    init_workspace(path).close()
    downgrade_to_schema_2(path)


def test_schema_2_workspace_gets_extra_columns_and_the_alias_table(tmp_path: Path) -> None:
    old = tmp_path / "old.gpkg"
    _make_v2(old)
    con = sqlite3.connect(old)
    assert "extra" not in {r[1] for r in con.execute('PRAGMA table_info("reports")')}
    con.close()
    with open_workspace(old) as ws:
        assert ws.schema_version == SCHEMA_VERSION == 4
        ws.add_column_alias("grids", " 网格名 ", "name")
        assert ws.column_aliases("grids").values.tolist() == [["grids", "网格名", "name"]]
        ws.append("rectifications", pd.DataFrame({"report_id": ["r"], "rectified_at": ["2025-03-01"],
                                                  "extra": ['{"班组": "一组"}']}))
        assert ws.read_layer("rectifications")["extra"].tolist() == ['{"班组": "一组"}']
        assert ws.integrity_check() == "ok"
    con = sqlite3.connect(old)
    for name in LAYERS:  # every layer, spatial or not, has the column GDAL can read
        assert "extra" in {r[1] for r in con.execute(f'PRAGMA table_info("{name}")')}, name
    con.close()
    assert set(pyogrio.read_info(old, layer="reports")["fields"]) >= {"report_id", "extra"}
    assert ALIASES_TABLE in {n for n, _ in pyogrio.list_layers(old)}


def test_a_stored_alias_is_replaced_and_a_bad_target_refused(ws_path: Path) -> None:
    from gridmap.errors import SchemaError

    with open_workspace(ws_path) as ws:
        ws.add_column_alias("reports", "说明", "description")
        ws.add_column_alias("reports", "说明", "category")
        assert ws.column_aliases().values.tolist() == [["reports", "说明", "category"]]
        with pytest.raises(SchemaError, match="not a column of layer 'reports'"):
            ws.add_column_alias("reports", "x", "nonsense")
