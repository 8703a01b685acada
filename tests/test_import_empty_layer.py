"""A large batch into an empty layer: the layer's indexes are built once after the copy (issue 16).

The copy into an empty layer drops the layer's indexes (its key's unique index, the
subdistrict index) and builds them again after the rows are in, in the same transaction.
Checked against independent computations: the CSV parsed by pandas, read back with
pyogrio (GDAL); the R-tree against the stored points; the indexes against the schema
before the import; the accounting against pandas' own count of repeats; and a failure
after the copy against the workspace before the import.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import gridmap
import gridmap.storage.gpkg._append as append
import gridmap.storage.gpkg._stage as stage
from gridmap.sample import sample_boundaries

THRESHOLD = 50  # batches of at least this many rows take the bulk paths (lowered from 10,000 for the tests)
LABELS = ["垃圾乱倒", "乱堆乱放", "污水乱泼"]


@pytest.fixture
def bulk(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The bulk paths for batches of THRESHOLD rows; the names of the indexes each append rebuilt, in order."""
    monkeypatch.setattr(stage, "_BULK_RTREE_MIN_ROWS", THRESHOLD)
    rebuilt: list[list[str]] = []
    real = append._indexes_to_rebuild

    def spy(*args: object) -> list[tuple[str, str]]:
        out = real(*args)  # type: ignore[arg-type]
        rebuilt.append([name for name, _ in out])
        return out

    monkeypatch.setattr(append, "_indexes_to_rebuild", spy)
    return rebuilt


def _workspace(path: Path) -> Path:
    with gridmap.init_workspace(path) as ws:
        for layer in ("subdistrict", "communities", "grids"):
            ws.append(layer, sample_boundaries()[layer])
    return path


def _csv(path: Path, n: int, seed: int, *, prefix: str = "R") -> pd.DataFrame:
    """`n` reports inside the sample subdistrict, written to `path`; the frame written."""
    minx, miny, maxx, maxy = sample_boundaries()["subdistrict"].total_bounds
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "report_id": [f"{prefix}{i}" for i in rng.permutation(n)],
        "reported_at": (pd.Timestamp("2025-03-01 08:00") + pd.to_timedelta(rng.integers(0, 86400 * 30, n), unit="s")
                        ).strftime("%Y-%m-%d %H:%M:%S"),
        "category": np.array(LABELS)[rng.integers(0, len(LABELS), n)],
        "description": [f"描述{i}" for i in rng.integers(0, 10**6, n)],
        "lon": np.round(rng.uniform(minx + 0.003, maxx - 0.003, n), 7),
        "lat": np.round(rng.uniform(miny + 0.003, maxy - 0.003, n), 7),
    })
    frame.to_csv(path, index=False, encoding="utf-8")
    return frame


def _sql(path: Path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as con:
        return con.execute(query).fetchall()


def _schema(path: Path) -> list[tuple]:
    """Every index and trigger of the reports layer, with its SQL."""
    return _sql(path, "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'reports'"
                      " AND type IN ('index', 'trigger') ORDER BY name")


def _state(path: Path) -> list:
    """What a failed import must leave as it was: the schema, the rows, the log, the quarantine, the contents."""
    return [_schema(path), _sql(path, "SELECT count(*) FROM reports"),
            _sql(path, "SELECT count(*) FROM gridmap_imports"), _sql(path, "SELECT count(*) FROM quarantine"),
            _sql(path, "SELECT count(*) FROM rtree_reports_geom"),
            _sql(path, "SELECT * FROM gpkg_contents WHERE table_name = 'reports'"),
            _sql(path, "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'reports'")]


def test_rows_read_back_by_gdal_are_the_csv(tmp_path: Path, bulk: list[list[str]]) -> None:
    ws = _workspace(tmp_path / "w.gpkg")
    schema = _schema(ws)
    assert any(t == "index" and n == "ux_reports_key" for t, n, _ in schema)
    expected = _csv(tmp_path / "r.csv", 300, seed=1)
    summary = gridmap.import_file(ws, "reports", tmp_path / "r.csv", coords="wgs84")
    assert (summary.read, summary.accepted, summary.duplicates, summary.quarantined) == (300, 300, 0, 0)
    assert sorted(bulk[-1]) == ["ix_reports_grid_code_9", "ux_reports_key"]  # the path under test was taken
    assert _schema(ws) == schema  # the same indexes and triggers, each with the same SQL
    got = pyogrio.read_dataframe(ws, layer="reports").set_index("report_id").loc[expected["report_id"]]
    assert list(got["description"]) == list(expected["description"])
    xy = shapely.get_coordinates(got.geometry.to_numpy())
    assert np.array_equal(xy, expected[["lon", "lat"]].to_numpy())
    local = pd.to_datetime(expected["reported_at"]).dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
    assert (pd.to_datetime(got["reported_at"], utc=True).to_numpy() == local.to_numpy()).all()
    # fids in file order, as the general path numbers them
    fids = dict(_sql(ws, "SELECT report_id, fid FROM reports"))
    assert [fids[r] for r in expected["report_id"]] == sorted(fids.values())
    assert _sql(ws, "PRAGMA integrity_check") == [("ok",)]
    assert _sql(ws, "SELECT rtreecheck('rtree_reports_geom')") == [("ok",)]


def test_rtree_and_contents_are_the_points(tmp_path: Path, bulk: None) -> None:
    ws = _workspace(tmp_path / "w.gpkg")
    frame = _csv(tmp_path / "r.csv", 200, seed=2)
    gridmap.import_file(ws, "reports", tmp_path / "r.csv", coords="wgs84")
    where = {r: (x, y) for r, x, y in zip(frame["report_id"], frame["lon"], frame["lat"])}
    entries = {fid: box for fid, *box in _sql(ws, "SELECT id, minx, maxx, miny, maxy FROM rtree_reports_geom")}
    fids = dict(_sql(ws, "SELECT report_id, fid FROM reports"))
    assert set(entries) == set(fids.values())
    for rid, fid in fids.items():  # each box holds its point, within one float32 step (SQLite stores float32)
        x, y = where[rid]
        minx, maxx, miny, maxy = entries[fid]
        assert minx <= x <= maxx and miny <= y <= maxy
        assert max(maxx - minx, maxy - miny) <= 2 * np.spacing(np.float32(max(abs(x), abs(y))))
    extent = _sql(ws, "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = 'reports'")[0]
    assert extent == (frame["lon"].min(), frame["lat"].min(), frame["lon"].max(), frame["lat"].max())
    assert _sql(ws, "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'reports'") == [(200,)]
    info = pyogrio.read_info(ws, layer="reports")
    assert info["features"] == 200 and tuple(info["total_bounds"]) == extent


def test_the_unique_index_built_after_the_copy_finds_the_rows_again(tmp_path: Path, bulk: list[list[str]]) -> None:
    ws = _workspace(tmp_path / "w.gpkg")
    _csv(tmp_path / "r.csv", 120, seed=3)
    gridmap.import_file(ws, "reports", tmp_path / "r.csv", coords="wgs84")
    again = gridmap.import_file(ws, "reports", tmp_path / "r.csv", coords="wgs84")  # the layer is not empty now
    assert (again.accepted, again.duplicates, again.quarantined) == (0, 120, 0)
    assert [len(names) for names in bulk[-2:]] == [2, 0]  # rebuilt into the empty layer, kept for the second
    plan = _sql(ws, "EXPLAIN QUERY PLAN SELECT fid FROM reports WHERE report_id = 'R1'")
    assert "ux_reports_key" in " ".join(str(r[-1]) for r in plan)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(THRESHOLD - 5, THRESHOLD + 40), repeats=st.integers(0, 10), conflicts=st.integers(0, 10),
       stored=st.integers(0, 5), seed=st.integers(0, 2**16))
@example(n=THRESHOLD, repeats=0, conflicts=0, stored=0, seed=0)
@example(n=THRESHOLD + 10, repeats=10, conflicts=10, stored=0, seed=1)
@example(n=THRESHOLD + 10, repeats=3, conflicts=2, stored=4, seed=2)
def test_accounting_matches_pandas(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, n: int,
                                   repeats: int, conflicts: int, stored: int, seed: int) -> None:
    """Repeats inside the file, and keys already stored (then the layer is not empty), counted as pandas counts them."""
    monkeypatch.setattr(stage, "_BULK_RTREE_MIN_ROWS", THRESHOLD)
    folder = tmp_path_factory.mktemp("acc")
    ws = _workspace(folder / "w.gpkg")
    frame = _csv(folder / "r.csv", n, seed=seed)
    if stored:
        frame.iloc[:stored].to_csv(folder / "old.csv", index=False)
        gridmap.import_file(ws, "reports", folder / "old.csv", coords="wgs84")
    rng = np.random.default_rng(seed)
    same = frame.iloc[rng.integers(0, n, repeats)]
    other = frame.iloc[rng.integers(0, n, conflicts)].assign(description="另一个描述")
    file = pd.concat([frame, same, other], ignore_index=True)
    file.to_csv(folder / "r.csv", index=False)
    summary = gridmap.import_file(ws, "reports", folder / "r.csv", coords="wgs84")
    # each key's first row is its row of `frame`; the stored rows are the first `stored` of them, as they are;
    # an exact copy is a duplicate, a copy with another description a key conflict
    assert (summary.read, summary.accepted) == (len(file), n - stored)
    assert summary.duplicates == stored + repeats
    assert summary.quarantined == conflicts == summary.reasons.get("key_conflict", 0)
    assert _sql(ws, "SELECT count(*) FROM reports") == [(n,)]
    stored_ids = {r for (r,) in _sql(ws, "SELECT report_id FROM reports")}
    assert stored_ids == set(frame["report_id"])
    assert _sql(ws, "SELECT rtreecheck('rtree_reports_geom')") == [("ok",)]


@pytest.mark.parametrize("fail_in", ["_update_contents", "_bulk_load_rtree"])
def test_a_failure_after_the_copy_leaves_the_workspace_as_it_was(tmp_path: Path, bulk: None,
                                                                 monkeypatch: pytest.MonkeyPatch, fail_in: str) -> None:
    ws = _workspace(tmp_path / "w.gpkg")
    _csv(tmp_path / "r.csv", 150, seed=4)
    before = _state(ws)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(append, fail_in, boom)
    with pytest.raises(RuntimeError, match="disk gone"):
        gridmap.import_file(ws, "reports", tmp_path / "r.csv", coords="wgs84")
    assert _state(ws) == before  # no row, the indexes and triggers back with their SQL
    monkeypatch.undo()
    monkeypatch.setattr(stage, "_BULK_RTREE_MIN_ROWS", THRESHOLD)
    assert gridmap.import_file(ws, "reports", tmp_path / "r.csv", coords="wgs84").accepted == 150


def test_two_rows_of_one_key_cannot_pass_the_rebuilt_index(tmp_path: Path, bulk: None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Should a repeated key ever reach the copy (here: a staged row given twice), building the unique index
    fails the transaction: nothing is stored."""
    ws = _workspace(tmp_path / "w.gpkg")
    _csv(tmp_path / "r.csv", 80, seed=5)
    before = _state(ws)
    real = stage._stage_frame

    def with_a_repeat(spec, rows):  # type: ignore[no-untyped-def]
        staged = real(spec, rows)
        if spec.name != "reports":
            return staged
        again = pd.concat([staged.rows, staged.rows.iloc[[0]]], ignore_index=True)
        return dataclasses.replace(staged, rows=again, positions=np.append(staged.positions, staged.positions[0]))

    monkeypatch.setattr("gridmap.storage.gpkg.workspace._stage_frame", with_a_repeat)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        gridmap.import_file(ws, "reports", tmp_path / "r.csv", coords="wgs84")
    assert _state(ws) == before


def test_restore_builds_the_indexes_of_the_copied_layer(tmp_path: Path, bulk: list[list[str]]) -> None:
    """``gridmap copy`` (Workspace.restore) writes each layer into an empty one: the same rows, the same indexes."""
    from gridmap.model import LAYERS
    from gridmap.storage import IMPORTS_TABLE, QUARANTINE_TABLE

    source = _workspace(tmp_path / "a.gpkg")
    _csv(tmp_path / "r.csv", 130, seed=6)
    gridmap.import_file(source, "reports", tmp_path / "r.csv", coords="wgs84")
    with gridmap.open_workspace(source) as a, gridmap.init_workspace(tmp_path / "b.gpkg") as b:
        tables = {name: a.read_layer(name) for name in LAYERS}
        tables.update({IMPORTS_TABLE: a.imports(), QUARANTINE_TABLE: a.quarantine_with_options()})
        b.restore(tables, a.meta)
    target = tmp_path / "b.gpkg"
    assert ["ix_reports_grid_code_9", "ux_reports_key"] in [sorted(names) for names in bulk]
    assert _schema(target) == _schema(source)
    columns = "report_id, reported_at, category, description, grid_code, hex(geom)"
    assert _sql(target, f"SELECT {columns} FROM reports ORDER BY report_id") == \
        _sql(source, f"SELECT {columns} FROM reports ORDER BY report_id")
    assert _sql(target, "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'reports'") == [(130,)]
    assert _sql(target, "SELECT rtreecheck('rtree_reports_geom')") == [("ok",)]
