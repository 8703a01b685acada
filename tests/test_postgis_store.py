"""The PostGIS store (issue 14) against a real PostgreSQL/PostGIS, and the GeoPackage store as its referee.

Every test that needs the server carries ``@pytest.mark.postgis`` and takes ``postgis_url`` (a fresh
database, tests/_postgis.py). The GeoPackage store is an independent implementation of the same
interface: the same data through the same path must read back as equal frames from both.
"""

from __future__ import annotations

import importlib
import itertools
import inspect
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, example, given, settings, strategies as st
from shapely.geometry import Point

import gridmap
from gridmap.errors import SchemaError, WorkspaceError, WorkspaceVersionError
from gridmap.model import LAYERS
from gridmap.storage import WorkspaceStore, init_workspace
from gridmap.storage.base import window_mask, Window

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = [name for name in WorkspaceStore.__dict__
           if (not name.startswith("_") or name in ("__enter__", "__exit__")) and name in dir(WorkspaceStore)]
SHANGHAI = "Asia/Shanghai"


def _pg(url: str, schema: str | None = None) -> Any:
    from gridmap.storage.postgis import init_postgis

    return init_postgis(url if schema is None else f"{url}{'&' if '?' in url else '?'}schema={schema}")


def _catalog(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    from gridmap.storage.url import parse_workspace_url

    with psycopg.connect(parse_workspace_url(url).conninfo) as con:
        cur = con.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


def _reports(ids: list[str], *, minute: int = 0, lon: float = 109.73) -> gpd.GeoDataFrame:
    times = pd.Timestamp("2025-03-01 09:00", tz=SHANGHAI) + pd.to_timedelta(np.arange(len(ids)) + minute, "min")
    return gpd.GeoDataFrame({"report_id": ids, "reported_at": times, "category": "garbage_dumping"},
                            geometry=[Point(lon + i * 1e-4, 38.28) for i in range(len(ids))], crs="EPSG:4326")


def _fixes(ids: list[str], tonnes: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"report_id": ids, "rectified_at": "2025-03-02T10:00:00+08:00", "tonnes": tonnes})


def _no_time(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame.drop(columns=[column]).reset_index(drop=True)


# ----------------------------------------------------------------------------------------------- the interface


@pytest.mark.postgis
def test_postgis_workspace_is_a_store_with_the_interface_signatures(postgis_url: str) -> None:
    from gridmap.storage.postgis import PostgisWorkspace

    with _pg(postgis_url) as ws:
        assert isinstance(ws, WorkspaceStore)
        assert ws.path == ws.url.masked and ws.url.schema == "gridmap"
        assert ws.schema_version == gridmap.model.SCHEMA_VERSION
        assert ws.meta["schema_version"] == str(gridmap.model.SCHEMA_VERSION) and ws.meta["illustrative"] == "false"
        assert ws.integrity_check() == "ok"
        assert ws.counts() == {name: 0 for name in (*LAYERS, "quarantine")}
    for name in MEMBERS:
        documented = getattr(WorkspaceStore, name)
        implemented = getattr(PostgisWorkspace, name)
        if isinstance(documented, property):
            assert isinstance(implemented, property), name
            continue
        expected = str(inspect.signature(documented)).replace("WorkspaceStore", "Store")
        assert str(inspect.signature(implemented)).replace("PostgisWorkspace", "Store") == expected, name
    with pytest.raises(WorkspaceError, match="closed"):
        ws.counts()


def test_import_gridmap_storage_loads_no_psycopg() -> None:
    code = ("import gridmap, gridmap.storage, sys;"
            " print('psycopg' in sys.modules, 'gridmap.storage.postgis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.split() == ["False", "False"]


# ----------------------------------------------------------------------------------------------- the schema


@pytest.mark.postgis
def test_catalog_has_keys_gist_srid_and_time_indexes(postgis_url: str) -> None:
    _pg(postgis_url).close()
    keys = _catalog(postgis_url, "SELECT c.relname, array_agg(a.attname ORDER BY k.ord) FROM pg_index AS i"
                    " JOIN pg_class AS c ON c.oid = i.indrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                    " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
                    " JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum"
                    " WHERE i.indisprimary AND n.nspname = 'gridmap' GROUP BY c.relname")
    primary = dict(keys)
    for spec in LAYERS.values():
        timed = any(spec.column(k).dtype == "datetime" for k in spec.key)  # QGIS edits by fid then: test_postgis_qgis
        assert primary[spec.name] == (["fid"] if timed else list(spec.key)), spec.name
    geometry = {t: (g, s, ty) for t, g, s, ty in _catalog(
        postgis_url, "SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns"
                     " WHERE f_table_schema = 'gridmap'")}
    spatial = {s.name: s for s in LAYERS.values() if s.geometry is not None}
    assert set(geometry) == set(spatial)
    for name, spec in spatial.items():
        assert geometry[name] == ("geom", 4326, str(spec.geometry).upper()), name
    indexes = _catalog(postgis_url, "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'gridmap'")
    for name in spatial:
        assert any(t == name and "USING gist (geom)" in d for t, d in indexes), name
    for spec in LAYERS.values():
        for col in (c for c in spec.columns if c.dtype == "datetime"):
            assert any(t == spec.name and "USING btree" in d and d.replace('"', "").endswith(f"({col.name})")
                       for t, d in indexes), \
                (spec.name, col.name)
    types = dict(_catalog(postgis_url, "SELECT table_name, data_type FROM information_schema.columns"
                                       " WHERE table_schema = 'gridmap' AND column_name = 'extra'"))
    assert set(types) == set(LAYERS) and set(types.values()) == {"json"}
    tables = {r[0] for r in _catalog(postgis_url, "SELECT table_name FROM information_schema.tables"
                                                  " WHERE table_schema = 'gridmap'")}
    assert {"gridmap_meta", "gridmap_imports", "quarantine", "gridmap_categories", "gridmap_column_aliases"} <= tables
    columns = {r[0] for r in _catalog(postgis_url, "SELECT column_name FROM information_schema.columns"
                                                   " WHERE table_schema = 'gridmap' AND table_name = %s",
                                      ("quarantine",))}
    assert "import_fid" in columns


@pytest.mark.postgis
def test_init_refuses_a_second_workspace_and_open_refuses_what_is_not_one(postgis_url: str) -> None:
    from gridmap.storage.postgis import init_postgis, open_postgis

    with pytest.raises(WorkspaceError, match="gridmap init"):
        open_postgis(postgis_url)
    init_postgis(postgis_url).close()
    with pytest.raises(WorkspaceError, match="already holds a gridmap workspace"):
        init_postgis(postgis_url)
    with init_postgis(postgis_url, exist_ok=True) as ws:
        assert ws.counts()["reports"] == 0
    other = init_postgis(postgis_url + "?schema=gulou")
    assert other.url.schema == "gulou" and other.counts()["reports"] == 0
    _catalog(postgis_url, "UPDATE gridmap.gridmap_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(WorkspaceVersionError, match="newer gridmap"):
        open_postgis(postgis_url)
    assert open_postgis(postgis_url + "?schema=gulou").schema_version == gridmap.model.SCHEMA_VERSION


@pytest.mark.postgis
def test_passwords_never_appear_in_errors(postgis_url: str) -> None:
    from gridmap.storage.postgis import init_postgis, open_postgis

    parts = urlsplit(postgis_url)
    user, _, host = parts.netloc.rpartition("@")
    secret = "Sup3r-s3cret-pw"
    wrong = urlunsplit(parts._replace(netloc=f"{user}:{secret}@{host}"))
    with pytest.raises(WorkspaceError) as caught:
        open_postgis(wrong)
    message = str(caught.value)
    assert secret not in message and "***" in message
    dead = urlunsplit(parts._replace(netloc=f"{user}:{secret}@127.0.0.1:1", query=""))
    for call in (open_postgis, init_postgis):
        with pytest.raises(WorkspaceError) as caught:
            call(dead)
        assert secret not in str(caught.value) and "***" in str(caught.value) and "cannot connect" in str(caught.value)


# ----------------------------------------------------------------------------------------------- same data, same frames


def _assert_same_layers(gpkg: Any, pg: Any) -> None:
    for name, spec in LAYERS.items():
        a, b = gpkg.read_layer(name), pg.read_layer(name)
        if spec.geometry is None:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        else:
            assert_geodataframe_equal(a, b, check_less_precise=False)
    pd.testing.assert_frame_equal(_no_time(gpkg.imports(), "imported_at"), _no_time(pg.imports(), "imported_at"))
    pd.testing.assert_frame_equal(_no_time(gpkg.quarantine(), "quarantined_at"),
                                  _no_time(pg.quarantine(), "quarantined_at"))
    pd.testing.assert_frame_equal(gpkg.report_states(), pg.report_states())
    assert gpkg.counts() == pg.counts()


@pytest.mark.postgis
@pytest.mark.slow
def test_the_sample_reads_back_equal_from_both_stores(postgis_url: str, tmp_path: Path) -> None:
    from gridmap.storage.postgis import init_postgis

    with init_workspace(tmp_path / "w.gpkg", sample=True) as gpkg, init_postgis(postgis_url, sample=True) as pg:
        assert pg.meta["illustrative"] == "true"
        _assert_same_layers(gpkg, pg)
        assert gpkg.subdistrict_geometry().equals_exact(pg.subdistrict_geometry(), 0)
        again = pg.append("reports", pg.read_layer("reports"), source="again")
        assert (again.accepted, again.duplicates, again.quarantined) == (0, pg.counts()["reports"], 0)


@pytest.mark.postgis
def test_geometry_times_and_status_follow_the_geopackage(postgis_url: str, tmp_path: Path) -> None:
    from shapely.geometry import Polygon

    from gridmap.errors import CRSError

    square = Polygon([(109.70, 38.20), (109.71, 38.20), (109.71, 38.21), (109.70, 38.21)])
    grids = gpd.GeoDataFrame({"grid_code": ["g1"], "community_code": ["c1"], "name": ["网格一"]},
                             geometry=[square], crs="EPSG:4326")
    mercator = gpd.GeoDataFrame({"grid_code": ["g2"], "community_code": ["c1"]},
                                geometry=[square], crs="EPSG:4326").to_crs("EPSG:3857")
    naive = _reports(["r1", "r2"])
    naive["reported_at"] = ["2025-03-01 09:00:00.1239", "2025-03-01 09:00:00.0000"]  # no zone: Shanghai
    events = [("rectifications", pd.DataFrame({"report_id": ["r1", "r2"], "rectified_at": ["2025-03-02 10:00"] * 2,
                                               "verified_at": ["2025-03-03 10:00", None]})),
              ("spotchecks", pd.DataFrame({"report_id": ["r1"], "checked_at": ["2025-03-04 10:00"],
                                           "result": ["reopened"]}))]
    with init_workspace(tmp_path / "w.gpkg") as gpkg, _pg(postgis_url) as pg:
        for ws in (gpkg, pg):
            assert len(ws.column_aliases()) == 0
            ws.add_column_alias("grids", "网格编码", "grid_code")
            ws.add_column_alias("reports", "经度", "lon")
            ws.append("grids", grids)
            ws.append("grids", mercator)
            ws.append("reports", naive)
            for layer, frame in events:
                ws.append(layer, frame)
            with pytest.raises(CRSError):
                ws.append("grids", gpd.GeoDataFrame(grids.drop(columns="geometry"), geometry=[square]))
            with pytest.raises(SchemaError, match="would be lost"):
                ws.append("grids", grids, read=5)
            with pytest.raises(SchemaError, match="required column"):
                ws.append("reports", naive.drop(columns="category"))
        _assert_same_layers(gpkg, pg)
        pd.testing.assert_frame_equal(gpkg.column_aliases(), pg.column_aliases())
        pd.testing.assert_frame_equal(gpkg.column_aliases("reports"), pg.column_aliases("reports"))
        pd.testing.assert_frame_equal(gpkg.categories(), pg.categories())
        stored = pg.read_layer("grids")
        assert stored.geom_type.tolist() == ["MultiPolygon", "MultiPolygon"]
        assert stored.geometry.iloc[1].equals_exact(stored.geometry.iloc[0], 1e-9)  # 3857 back to 4326
        times = pg.read_layer("reports")["reported_at"]
        assert times.tolist() == [pd.Timestamp("2025-03-01 09:00:00.123", tz=SHANGHAI),
                                  pd.Timestamp("2025-03-01 09:00:00", tz=SHANGHAI)]
        assert pg.report_states()["status"].tolist() == ["reopened", "rectified"]


_CSV = """report_id,reported_at,category,lon,lat,备注
r1,2025-03-01 09:00,garbage_dumping,109.730,38.280,东门
r2,2025-03-01 09:05,garbage_dumping,109.731,38.281,
r2,2025-03-01 09:05,garbage_dumping,109.731,38.281,
r3,2025-03-01 09:10,garbage_dumping,109.732,38.282,"a ""quoted"" note"
r3,2025-03-01 09:11,garbage_dumping,109.732,38.282,
r4,,garbage_dumping,109.733,38.283,
r5,2025-03-01 09:20,garbage_dumping,,,
"""
_CSV_LATER = """report_id,reported_at,category,lon,lat
r1,2025-03-01 09:00,garbage_dumping,109.730,38.280
r2,2025-03-01 09:06,garbage_dumping,109.731,38.281
r6,2025-03-01 09:30,firewood_pile,109.734,38.284
"""


@pytest.mark.postgis
def test_import_file_into_both_stores_gives_the_same_rows_quarantine_and_log(postgis_url: str,
                                                                             tmp_path: Path) -> None:
    first, later = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(_CSV, encoding="utf-8")
    later.write_text(_CSV_LATER, encoding="utf-8")
    with init_workspace(tmp_path / "w.gpkg") as gpkg, _pg(postgis_url) as pg:
        for ws in (gpkg, pg):
            one = gridmap.import_file(ws, "reports", first, coords="wgs84")
            assert (one.read, one.accepted, one.duplicates, one.quarantined) == (7, 3, 1, 3)
            two = gridmap.import_file(ws, "reports", later, coords="wgs84")
            assert (two.read, two.accepted, two.duplicates, two.quarantined) == (3, 1, 1, 1)
            again = gridmap.import_file(ws, "reports", first, coords="wgs84")  # idempotent: nothing new
            assert (again.accepted, again.duplicates) == (0, 4)
            for s in (one, two, again):
                assert s.read == s.accepted + s.duplicates + s.quarantined
        _assert_same_layers(gpkg, pg)
        reasons = pg.quarantine()["reason"].tolist()
        assert reasons.count("key_conflict") == 2
        detail = pg.quarantine().query("reason == 'key_conflict'")["detail"].tolist()
        assert any("report_id r2 is already stored with reported_at 2025-03-01 09:05:00+08:00" in d for d in detail)
        extra = pg.read_layer("reports", where="report_id = 'r3'")["extra"].iloc[0]
        assert extra == gpkg.read_layer("reports", where="report_id = 'r3'")["extra"].iloc[0]
        opts = pg.quarantine_with_options("reports")
        pd.testing.assert_frame_equal(_no_time(opts.drop(columns="fid"), "quarantined_at"),
                                      _no_time(gpkg.quarantine_with_options("reports").drop(columns="fid"),
                                               "quarantined_at"))


_SCHEMAS = itertools.count()
_KEYS = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from([1.0, 2.0, None])),
                 min_size=0, max_size=8)


@pytest.mark.postgis
@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=_KEYS, second=_KEYS)
@example(first=[("a", 1.0), ("a", 2.0)], second=[("a", 1.0), ("a", None)])
def test_two_appends_count_like_the_geopackage(postgis_url: str, tmp_path_factory: pytest.TempPathFactory,
                                               first: list, second: list) -> None:
    """Hypothesis: for any two batches of rectifications (repeated keys, same or other tonnes) both stores
    give the same summaries, quarantine and rows, and read = accepted + duplicates + quarantined."""
    from gridmap.storage.postgis import init_postgis

    pg = init_postgis(f"{postgis_url}?schema=h{next(_SCHEMAS)}")  # a fresh workspace per example
    gpkg = init_workspace(tmp_path_factory.mktemp("h") / "w.gpkg")
    for batch in (first, second):
        frame = _fixes([k for k, _ in batch], [t for _, t in batch])
        a, b = gpkg.append("rectifications", frame), pg.append("rectifications", frame)
        assert a.to_dict() == b.to_dict()
        assert b.read == b.accepted + b.duplicates + b.quarantined == len(batch)
    pd.testing.assert_frame_equal(gpkg.read_layer("rectifications"), pg.read_layer("rectifications"))
    pd.testing.assert_frame_equal(_no_time(gpkg.quarantine(), "quarantined_at"),
                                  _no_time(pg.quarantine(), "quarantined_at"))


# ----------------------------------------------------------------------------------------------- transactions


@pytest.mark.postgis
def test_concurrent_overlapping_appends_count_every_row_once(postgis_url: str) -> None:
    from gridmap.storage.postgis import open_postgis

    _pg(postgis_url).close()
    ids = [f"r{i:05d}" for i in range(9000)]
    everything = _reports(ids)
    frames = [everything.iloc[:6000], everything.iloc[3000:]]
    start = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        ws = open_postgis(postgis_url)
        start.wait()
        try:
            results[i] = ws.append("reports", frames[i], source=f"office{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(not isinstance(r, BaseException) and r is not None for r in results), results
    assert sum(r.accepted for r in results) == 9000 and sum(r.duplicates for r in results) == 3000
    assert all(r.quarantined == 0 for r in results)
    with open_postgis(postgis_url) as ws:
        stored = ws.read_layer("reports")
        assert ws.counts()["reports"] == 9000 and stored["report_id"].is_unique
        assert sorted(ws.imports()["accepted"].tolist()) == sorted(r.accepted for r in results)


@pytest.mark.postgis
def test_concurrent_rectifications_and_spot_checks_set_the_status_the_geopackage_sets(postgis_url: str,
                                                                                      tmp_path: Path) -> None:
    """Both layers set report status: the two appends lock ``reports`` too, in one order, so neither deadlocks
    and the final status is each report's latest event whichever append ran first."""
    from gridmap.storage.postgis import open_postgis

    ids = [f"r{i:04d}" for i in range(400)]
    fixes = pd.DataFrame({"report_id": ids, "rectified_at": "2025-03-02 10:00",
                          "verified_at": ["2025-03-05 10:00" if i % 3 else None for i in range(len(ids))]})
    checks = pd.DataFrame({"report_id": ids[::2], "checked_at": "2025-03-04 10:00", "result": "reopened"})
    with init_workspace(tmp_path / "w.gpkg") as gpkg:
        for layer, frame in (("reports", _reports(ids)), ("rectifications", fixes), ("spotchecks", checks)):
            gpkg.append(layer, frame)
        expected = gpkg.report_states()
    _pg(postgis_url).append("reports", _reports(ids))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(layer: str, frame: pd.DataFrame) -> None:
        ws = open_postgis(postgis_url)
        start.wait()
        try:
            ws.append(layer, frame)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=a) for a in (("spotchecks", checks), ("rectifications", fixes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with open_postgis(postgis_url) as ws:
        pd.testing.assert_frame_equal(ws.report_states(), expected)
        assert set(expected["status"]) == {"verified", "reopened", "rectified"}


@pytest.mark.postgis
def test_a_failure_after_copy_leaves_nothing(postgis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    append = importlib.import_module("gridmap.storage.postgis._append")
    real = append.insert_staged

    def insert_then_fail(con: Any, spec: Any) -> int:
        real(con, spec)
        raise RuntimeError("injected after COPY and INSERT")

    with _pg(postgis_url) as ws:
        ws.append("reports", _reports(["r0"]), source="before")
        monkeypatch.setattr(append, "insert_staged", insert_then_fail)
        with pytest.raises(RuntimeError, match="injected"):
            ws.append("reports", _reports(["r1", "r2"], minute=5), source="broken",
                      quarantine=pd.DataFrame({"record": [9], "reason": ["missing_value"]}))
        assert ws.counts()["reports"] == 1 and ws.counts()["quarantine"] == 0
        assert ws.imports()["source"].tolist() == ["before"]
        monkeypatch.setattr(append, "insert_staged", real)
        assert ws.append("reports", _reports(["r1", "r2"], minute=5)).accepted == 2  # no lock was left behind


@pytest.mark.postgis
def test_a_writer_waiting_longer_than_busy_timeout_is_told_the_workspace_is_busy(postgis_url: str) -> None:
    import psycopg

    from gridmap.errors import WorkspaceBusyError
    from gridmap.storage.postgis import open_postgis
    from gridmap.storage.url import parse_workspace_url

    _pg(postgis_url).close()
    ws = open_postgis(postgis_url, busy_timeout=0.5)
    with psycopg.connect(parse_workspace_url(postgis_url).conninfo) as other:  # another importer of reports
        other.execute("SELECT pg_advisory_xact_lock(hashtext('gridmap:gridmap.reports'))")
        with pytest.raises(WorkspaceBusyError, match="busy"):
            ws.append("reports", _reports(["r1"]))
        assert ws.append("tracks", gpd.GeoDataFrame(  # another layer is not held up
            {"inspector": ["w"], "time": ["2025-03-01T09:00:00+08:00"]}, geometry=[Point(109.7, 38.2)],
            crs="EPSG:4326")).accepted == 1
    assert ws.append("reports", _reports(["r1"])).accepted == 1 and ws.counts()["reports"] == 1


_KILLED = """
import os, sys, importlib, time
sys.path.insert(0, {root!r})
from gridmap.storage.postgis import open_postgis
import geopandas as gpd
from shapely.geometry import Point
append = importlib.import_module("gridmap.storage.postgis._append")
real = append.insert_staged
def insert_and_hang(con, spec):
    n = real(con, spec)
    print(n, flush=True)
    time.sleep(600)
append.insert_staged = insert_and_hang
frame = gpd.GeoDataFrame({{"report_id": ["k1", "k2"], "reported_at": ["2025-03-01T09:00:00+08:00"] * 2,
                          "category": ["garbage_dumping"] * 2}}, geometry=[Point(109.7, 38.2)] * 2, crs="EPSG:4326")
open_postgis({url!r}).append("reports", frame, source="killed")
"""


@pytest.mark.postgis
def test_a_killed_importer_leaves_nothing(postgis_url: str) -> None:
    _pg(postgis_url).close()
    proc = subprocess.Popen([sys.executable, "-c", _KILLED.format(root=str(ROOT), url=postgis_url)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "2"  # rows inserted, not committed
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    from gridmap.storage.postgis import open_postgis

    with open_postgis(postgis_url) as ws:  # the server rolls the dead session back, releasing its locks
        summary = ws.append("reports", _reports(["k1"]), source="after")
        assert summary.accepted == 1 and ws.counts()["reports"] == 1
        assert ws.imports()["source"].tolist() == ["after"]


# ----------------------------------------------------------------------------------------------- bookkeeping


@pytest.mark.postgis
def test_categories_aliases_and_replaced_quarantine(postgis_url: str) -> None:
    from gridmap.storage.postgis import open_postgis

    with _pg(postgis_url) as ws:
        ws.add_category("ad_posting_pg", "乱贴广告", "ad posting")
        ws.add_column_alias("reports", " 描述 ", "description")
        ws.add_column_alias("reports", "描述", "category")
        with pytest.raises(SchemaError):
            ws.add_column_alias("reports", "x", "nowhere")
        q = pd.DataFrame({"record": [3, 4], "reason": ["missing_value", "missing_value"]})
        ws.append("reports", _reports(["r1"]), quarantine=q, source="a.csv", source_digest="d1",
                  options={"coords": "wgs84"})
        held = ws.quarantine_with_options()
        assert held["options"].tolist() == ['{"coords": "wgs84"}'] * 2
        ws.append("reports", _reports(["r3"], minute=9), source="a.csv", source_digest="d1",
                  replaces=held["fid"].tolist())
        assert len(ws.quarantine()) == 0
    with open_postgis(postgis_url) as ws:
        assert "ad_posting_pg" in set(ws.categories()["key"])
        assert ws.column_aliases().values.tolist() == [["reports", "描述", "category"]]
        with pytest.raises(WorkspaceError, match="cannot read layer"):
            ws.read_layer("reports", where="no_such_column = 1")
        with pytest.raises(WorkspaceError):
            ws.read_layer("reports", where="true; DELETE FROM reports")
        with pytest.raises(WorkspaceError, match="read-only transaction"):  # `where` never writes
            ws.read_layer("reports", where="setval(pg_get_serial_sequence('reports', 'fid'), 99) > 0")
        assert ws.counts()["reports"] == 2


# ----------------------------------------------------------------------------------------------- windows


def _expected(frame: pd.DataFrame, time: str, start: str, end: str, box: tuple) -> pd.DataFrame:
    """The filter computed independently: times in [start, end), points inside the box (edges included)."""
    t = frame[time]
    inside = (t >= pd.Timestamp(start, tz=SHANGHAI)) & (t < pd.Timestamp(end, tz=SHANGHAI))
    x, y = frame.geometry.x, frame.geometry.y
    inside &= (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    return frame[inside.to_numpy()].reset_index(drop=True)


def test_geopackage_read_window_equals_the_filtered_layer(tmp_path: Path) -> None:
    with init_workspace(tmp_path / "w.gpkg", sample=True) as ws:
        tracks = ws.read_layer("tracks")
        box = (109.735, 38.280, 109.745, 38.290)
        t0 = tracks["time"].iloc[len(tracks) // 2].tz_convert(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        t1 = (pd.Timestamp(t0) + pd.Timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")
        got = ws.read_window("tracks", start=t0, end=t1, bbox=box)
        want = _expected(tracks, "time", t0, t1, box)
        assert len(want) > 0
        assert_geodataframe_equal(got, want)
        with pytest.raises(SchemaError, match="no time column"):
            ws.read_window("grids", start="2025-03-01")
        with pytest.raises(SchemaError, match="no geometry"):
            ws.read_window("rectifications", bbox=box)


@pytest.mark.postgis
@pytest.mark.slow
def test_postgis_read_window_equals_the_filtered_layer_and_uses_the_indexes(postgis_url: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from gridmap.storage.postgis import PostgisWorkspace, init_postgis

    with init_postgis(postgis_url, sample=True) as ws:
        tracks = ws.read_layer("tracks")
        box = (109.735, 38.280, 109.745, 38.290)
        t0 = tracks["time"].iloc[len(tracks) // 2].strftime("%Y-%m-%d %H:%M")
        t1 = (pd.Timestamp(t0) + pd.Timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")
        got = ws.read_window("tracks", start=t0, end=t1, bbox=box)
        want = _expected(tracks, "time", t0, t1, box)
        assert len(want) > 0
        assert_geodataframe_equal(got, want)
        spec = LAYERS["tracks"]
        assert window_mask(tracks, spec, Window.of(spec, t0, t1, box)).sum() == len(want)
        _catalog(postgis_url, "ANALYZE gridmap.tracks")
        seen: list[tuple] = []
        real = PostgisWorkspace._fetch

        def spy(self: Any, sql: str, params: Any = (), doing: str = "read") -> list[tuple]:
            seen.append((sql, list(params)))
            return real(self, sql, params, doing)

        monkeypatch.setattr(PostgisWorkspace, "_fetch", spy)
        for kwargs, index in (({"start": t0, "end": t1}, "ix_tracks_time"), ({"bbox": box}, "gx_tracks_geom")):
            seen.clear()
            ws.read_window("tracks", **kwargs)
            sql, params = seen[0]
            plan = _explain(postgis_url, sql, params)
            assert index in plan and "Seq Scan" not in plan, plan


def _explain(url: str, sql: str, params: list) -> str:
    import psycopg

    from gridmap.storage.url import parse_workspace_url

    with psycopg.connect(parse_workspace_url(url).conninfo) as con:
        con.execute("SET search_path = gridmap, public")
        return "\n".join(r[0] for r in con.execute("EXPLAIN " + sql, params).fetchall())
