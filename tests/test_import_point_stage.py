"""The two shortcuts of a large point import (issue 16): the staging file without GDAL, the R-tree packed early.

* A batch of 2-D points is staged by numpy and the ADBC SQLite driver
  (:mod:`gridmap.storage.gpkg._pointstage`): checked against the staging file
  ``pyogrio.write_dataframe`` writes from the same rows (every stored row, byte for
  byte), against GDAL reading the file back, and against shapely's WKB inside each blob.
  Rows it does not take (3-D, empty or non-finite points, other geometries) still go
  through GDAL.
* The R-tree of a bulk batch is packed in a worker thread while the rows are copied,
  with the fids they are foreseen to get (:func:`gridmap.storage.gpkg._append._start_rtree`).
  Checked against the tree the general path builds from the rows' real fids (the shadow
  tables equal), against SQLite's ``rtreecheck`` and against the stored points; and
  where the fids are not the foreseen ones (rows deleted before, keys already stored)
  the tree is still right.
"""

from __future__ import annotations

import sqlite3
import struct
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

import gridmap
import gridmap.storage.gpkg._append as append
import gridmap.storage.gpkg._rtree as rtree
import gridmap.storage.gpkg._stage as stage
from gridmap.model import layer_spec
from gridmap.sample import sample_boundaries
from gridmap.storage.gpkg._pointstage import point_blobs, sqlite_types

THRESHOLD = 50  # batches of at least this many rows take the bulk paths (lowered from 10,000 for the tests)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


def _rows(path: Path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as con:
        return con.execute(query).fetchall()


def _reports(geoms: list, *, key: str = "K") -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame({
        "report_id": [f"{key}{i}" for i in range(n)],
        "reported_at": pd.Timestamp("2025-03-01 08:00", tz="Asia/Shanghai") + pd.to_timedelta(np.arange(n), "s"),
        "category": ["garbage_dumping"] * n,
        "description": [None if i % 3 else "北街 \"引号\"" for i in range(n)],
        "grid_code": [f"61080200100{i % 7}" for i in range(n)],
    }, geometry=geoms, crs="EPSG:4326")


def _both_stages(tmp_path: Path, frame: gpd.GeoDataFrame) -> tuple[Path, Path]:
    """The staging file gridmap writes, and the one pyogrio's own writer gives for the same staged rows."""
    spec = layer_spec("reports")
    staged = stage._stage_frame(spec, frame).rows
    ours = stage._write_stage(spec, staged, tmp_path)
    peer = tmp_path / "peer.gpkg"
    in_file = staged.drop(columns=["_minx", "_miny", "_maxx", "_maxy", "_hilbert"])
    pyogrio.write_dataframe(in_file, peer, layer="stage", use_arrow=True, geometry_type="Unknown",
                            layer_options={"SPATIAL_INDEX": "NO"})
    return ours, peer


def _is_gdal_free(path: Path) -> bool:
    """Whether the staging file was written without GDAL (GDAL's files have its tile matrix tables)."""
    return not _rows(path, "SELECT name FROM sqlite_master WHERE name = 'gpkg_tile_matrix'")


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=30))
@example([(0.0, -0.0)])
@example([(-180.0, 90.0), (1e308, -1e-308), (5e-324, 109.73), (-0.0, float.fromhex("0x1.fffffffffffffp+1023"))])
def test_point_blobs_are_gdals_header_and_shapelys_wkb(xy: list[tuple[float, float]]) -> None:
    geoms = shapely.points(np.array(xy))
    blobs = point_blobs(geoms, np.array([p[0] for p in xy]), np.array([p[1] for p in xy]), 4326).to_pylist()
    assert blobs == [b"GP\x00\x01" + struct.pack("<i", 4326) + wkb for wkb in shapely.to_wkb(geoms)]


degrees = st.floats(-1e7, 1e7, allow_nan=False)  # as far as the staging (its Hilbert ranks of a small batch) goes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(degrees, degrees), min_size=1, max_size=30))
@example([(0.0, -0.0)])
@example([(-180.0, 90.0), (109.73, 5e-324), (-1e7, 1e7)])
def test_point_stage_is_what_pyogrio_writes(tmp_path_factory: pytest.TempPathFactory,
                                            xy: list[tuple[float, float]]) -> None:
    folder = tmp_path_factory.mktemp("stage")
    ours, peer = _both_stages(folder, _reports(list(shapely.points(np.array(xy)))))
    assert _is_gdal_free(ours)
    assert _rows(ours, "SELECT * FROM stage ORDER BY fid") == _rows(peer, "SELECT * FROM stage ORDER BY fid")
    # the blobs hold shapely's WKB of each point behind GDAL's 8-byte header
    blobs = [b for (b,) in _rows(ours, "SELECT geom FROM stage ORDER BY fid")]
    assert [b[8:] for b in blobs] == list(shapely.to_wkb(shapely.points(np.array(xy))))
    assert {b[:8] for b in blobs} == {b"GP\x00\x01" + struct.pack("<i", 4326)}


def test_gdal_reads_the_point_stage_as_its_own(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform([109.6, 38.2], [109.8, 38.4], (200, 2))
    ours, peer = _both_stages(tmp_path, _reports(list(shapely.points(xy))))
    assert _is_gdal_free(ours)
    a, b = pyogrio.read_dataframe(ours, layer="stage"), pyogrio.read_dataframe(peer, layer="stage")
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")))
    assert shapely.equals_exact(a.geometry.to_numpy(), b.geometry.to_numpy(), tolerance=0).all()
    assert a.crs.to_epsg() == b.crs.to_epsg() == 4326
    info = pyogrio.read_info(ours, layer="stage")
    assert info["features"] == 200
    assert np.allclose(info["total_bounds"], [*xy.min(axis=0), *xy.max(axis=0)], rtol=0, atol=0)


@pytest.mark.parametrize("geoms", [
    [shapely.Point(109.7, 38.2, 5.0), shapely.Point(109.8, 38.3, 6.0)],  # 3-D
    [shapely.Point(109.7, 38.2), shapely.Point(float("nan"), 38.3)],  # a coordinate that is not a number
])
def test_other_points_are_staged_by_gdal(tmp_path: Path, geoms: list) -> None:
    ours, peer = _both_stages(tmp_path, _reports(geoms))
    assert not _is_gdal_free(ours)
    assert _rows(ours, "SELECT * FROM stage ORDER BY fid") == _rows(peer, "SELECT * FROM stage ORDER BY fid")


def test_point_blobs_refuse_what_they_cannot_write() -> None:
    pts = np.array([shapely.Point(1, 2), shapely.Point(3, 4)])
    x, y = np.array([1.0, 3.0]), np.array([2.0, 4.0])
    assert point_blobs(pts, x, y, 4326) is not None
    assert point_blobs(np.array([shapely.Point(1, 2), shapely.box(0, 0, 1, 1)]), x, y, 4326) is None
    assert point_blobs(pts, np.array([1.0, np.inf]), y, 4326) is None
    assert point_blobs(pts, x[:1], y[:1], 4326) is None
    assert point_blobs(pts[:0], x[:0], y[:0], 4326) is None
    import pyarrow as pa

    assert sqlite_types(pa.table({"a": pa.array([1], pa.int32())})) is None
    assert sqlite_types(pa.table({"a": ["x"], "b": [2.5]})) == ["TEXT", "REAL"]


# --- the R-tree packed while the rows are copied -------------------------------------------------------------------


def _workspace(path: Path) -> Path:
    with gridmap.init_workspace(path) as ws:
        for layer in ("subdistrict", "communities", "grids"):
            ws.append(layer, sample_boundaries()[layer])
    return path


def _csv(path: Path, n: int, seed: int, prefix: str = "R") -> pd.DataFrame:
    minx, miny, maxx, maxy = sample_boundaries()["subdistrict"].total_bounds
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "report_id": [f"{prefix}{i}" for i in rng.permutation(n)],
        "reported_at": "2025-03-01 08:00:00",
        "category": "垃圾乱倒",
        "description": [f"描述{i}" for i in range(n)],
        "lon": np.round(rng.uniform(minx + 0.003, maxx - 0.003, n), 7),
        "lat": np.round(rng.uniform(miny + 0.003, maxy - 0.003, n), 7),
    })
    frame.to_csv(path, index=False, encoding="utf-8")
    return frame


def _tree_matches_points(ws: Path) -> None:
    """rtreecheck passes, and each stored point's entry (found by its fid) is a float32 box holding the point."""
    assert _rows(ws, "SELECT rtreecheck('rtree_reports_geom')") == [("ok",)]
    fids = [f for (f,) in _rows(ws, "SELECT fid FROM reports ORDER BY fid")]
    entries = _rows(ws, "SELECT id, minx, maxx, miny, maxy FROM rtree_reports_geom ORDER BY id")
    assert [e[0] for e in entries] == fids
    frame = pyogrio.read_dataframe(ws, layer="reports", fid_as_index=True).sort_index()
    xy = shapely.get_coordinates(frame.geometry.to_numpy())
    box = np.array([e[1:] for e in entries])
    assert ((box[:, 0] <= xy[:, 0]) & (xy[:, 0] <= box[:, 1]) & (box[:, 2] <= xy[:, 1]) & (xy[:, 1] <= box[:, 3])).all()
    assert ((box[:, 1] - box[:, 0]) < 1e-5).all() and ((box[:, 3] - box[:, 2]) < 1e-5).all()


@pytest.fixture
def finishes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Bulk paths from THRESHOLD rows; what each early-packed tree's finish returned (none: not started)."""
    monkeypatch.setattr(stage, "_BULK_RTREE_MIN_ROWS", THRESHOLD)
    seen: list[bool] = []
    real = rtree.BulkLoad.finish

    def spy(self: rtree.BulkLoad, con: sqlite3.Connection) -> bool:
        seen.append(real(self, con))
        return seen[-1]

    monkeypatch.setattr(rtree.BulkLoad, "finish", spy)
    return seen


def _shadow(ws: Path) -> list[list[tuple]]:
    return [_rows(ws, f"SELECT * FROM rtree_reports_geom_{t} ORDER BY 1") for t in ("node", "rowid", "parent")]


def test_early_tree_is_the_tree_of_the_real_fids(tmp_path: Path, finishes: list[bool],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The same import with the tree packed early and packed from the fids read after the copy: same shadow tables."""
    for name in ("early", "late"):
        (tmp_path / name).mkdir()
        ws = _workspace(tmp_path / name / "w.gpkg")
        _csv(tmp_path / name / "r.csv", 400, seed=7)
        if name == "late":
            monkeypatch.setattr(append, "_start_rtree", lambda *args: None)
        assert gridmap.import_file(ws, "reports", tmp_path / name / "r.csv", coords="wgs84").accepted == 400
        _tree_matches_points(ws)
    assert finishes == [True]  # the early tree was used once, in the first import
    assert _shadow(tmp_path / "early" / "w.gpkg") == _shadow(tmp_path / "late" / "w.gpkg")


def test_early_tree_after_deleted_rows_takes_the_sequence(tmp_path: Path, finishes: list[bool]) -> None:
    """Rows deleted before: AUTOINCREMENT gives fids after the largest ever used, which the early tree foresaw."""
    ws = _workspace(tmp_path / "w.gpkg")
    _csv(tmp_path / "a.csv", 120, seed=1, prefix="A")
    gridmap.import_file(ws, "reports", tmp_path / "a.csv", coords="wgs84")
    with closing(sqlite3.connect(ws, isolation_level=None)) as con:  # GDAL's delete triggers empty the tree too
        con.execute("DELETE FROM reports")
    assert _rows(ws, "SELECT count(*) FROM reports") == _rows(ws, "SELECT count(*) FROM rtree_reports_geom") == [(0,)]
    assert _rows(ws, "SELECT seq FROM sqlite_sequence WHERE name = 'reports'") == [(120,)]
    _csv(tmp_path / "b.csv", 150, seed=2, prefix="B")
    summary = gridmap.import_file(ws, "reports", tmp_path / "b.csv", coords="wgs84")
    assert summary.accepted == 150
    assert _rows(ws, "SELECT min(fid), max(fid) FROM reports") == [(121, 270)]
    assert finishes == [True, True]
    _tree_matches_points(ws)


def test_keys_already_stored_fall_back_to_the_real_fids(tmp_path: Path, finishes: list[bool]) -> None:
    """Some rows not inserted (their keys stored before): the early tree is dropped, the tree built from the fids."""
    ws = _workspace(tmp_path / "w.gpkg")
    frame = _csv(tmp_path / "r.csv", 200, seed=5)
    frame.iloc[:60].to_csv(tmp_path / "old.csv", index=False)
    assert gridmap.import_file(ws, "reports", tmp_path / "old.csv", coords="wgs84").accepted == 60
    summary = gridmap.import_file(ws, "reports", tmp_path / "r.csv", coords="wgs84")
    assert (summary.accepted, summary.duplicates) == (140, 60)
    assert finishes == [True]  # the first import's; the second one's early tree was not used
    _tree_matches_points(ws)


# --- the collector paused while the reader makes its points --------------------------------------------------------


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_state_is_restored(enabled: bool) -> None:
    """Paused inside, and afterwards as it was before (on or off), also when the block fails."""
    import gc

    from gridmap.io import tabular

    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with tabular._collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(ZeroDivisionError):
            with tabular._collector_paused():
                1 / 0
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_points_made_while_paused_are_the_csvs(tmp_path: Path) -> None:
    """The reader's points (made with the collector paused) hold the CSV's numbers exactly, in file order."""
    frame = _csv(tmp_path / "r.csv", 500, seed=11)
    from gridmap.io.tabular import read_csv

    result = read_csv(tmp_path / "r.csv", layer="reports", coords="wgs84")
    xy = shapely.get_coordinates(result.records.geometry.to_numpy())
    assert xy.tolist() == frame[["lon", "lat"]].to_numpy().tolist()
    assert result.records["report_id"].tolist() == frame["report_id"].tolist()
