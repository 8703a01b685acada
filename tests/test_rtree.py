"""Bulk loading of SQLite R-trees (gridmap.storage.gpkg._rtree) and its use by Workspace.append.

Checked with SQLite's own R-tree checker (``rtreecheck``), queries through the
R-tree virtual table against brute force, SQLite's own float32 rounding, and
GDAL's spatial filter.
"""

from __future__ import annotations

import math
import sqlite3
import struct
import uuid
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gridmap.storage.gpkg._stage as stage
from gridmap.storage.gpkg._rtree import bulk_load, outward_float32, rtree_layout
from gridmap.storage import init_workspace

RTREE = "rtree_reports_geom"
QUERY = "SELECT id FROM {} WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?"


def _memory_rtree(page_size: int = 4096, *, name: str = "idx", args: str = "id, minx, maxx, miny, maxy",
                  module: str = "rtree") -> sqlite3.Connection:
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute(f"PRAGMA page_size = {page_size}")
    con.execute(f"CREATE VIRTUAL TABLE {name} USING {module}({args})")
    return con


def _f32(values: np.ndarray) -> np.ndarray:
    """Values made exactly representable as float32 (so float32 storage does not move them)."""
    return np.asarray(values, dtype="float64").astype("float32").astype("float64")


def _boxes(rng: np.random.Generator, n: int, *, points: bool) -> np.ndarray:
    """n boxes (minx, maxx, miny, maxy), float32-exact; degenerate (points) or with random sizes."""
    x, y = _f32(rng.uniform(0, 100, n)), _f32(rng.uniform(0, 100, n))
    w = np.zeros(n) if points else _f32(rng.exponential(2.0, n))
    h = np.zeros(n) if points else _f32(rng.exponential(2.0, n))
    return np.column_stack([x, _f32(x + w), y, _f32(y + h)])


def _brute(boxes: np.ndarray, ids: np.ndarray, q: tuple[float, float, float, float]) -> set[int]:
    hit = (boxes[:, 1] >= q[0]) & (boxes[:, 0] <= q[1]) & (boxes[:, 3] >= q[2]) & (boxes[:, 2] <= q[3])
    return set(ids[hit].tolist())


def _check_queries(con: sqlite3.Connection, name: str, boxes: np.ndarray, ids: np.ndarray, *, seed: int,
                   queries: int = 100, span: tuple[float, float, float, float] = (0, 110, 0, 110)) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(queries):
        x0, y0 = rng.uniform(span[0], span[1]), rng.uniform(span[2], span[3])
        size = rng.exponential((span[1] - span[0]) / 10)
        q = (x0, x0 + size, y0, y0 + size)
        got = {r[0] for r in con.execute(QUERY.format(name), q)}
        assert got == _brute(boxes, ids, q), q


def _rtreecheck(con: sqlite3.Connection, name: str) -> str:
    return str(con.execute("SELECT rtreecheck(?)", (name,)).fetchone()[0])


def _leaf_counts(con: sqlite3.Connection, name: str) -> list[int]:
    """Cell count of each leaf (nodes named in _rowid), read from the node blobs' header by hand."""
    blobs = con.execute(f"SELECT data FROM {name}_node WHERE nodeno IN (SELECT nodeno FROM {name}_rowid)")
    return sorted(struct.unpack(">H", bytes(b)[2:4])[0] for (b,) in blobs)


# ---------------------------------------------------------------------------------------------------------------
# the loader on plain SQLite R-trees
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [4096, 1024, 512])
@pytest.mark.parametrize("points", [True, False])
def test_bulk_load_keeps_old_entries_and_answers_like_brute_force(page_size: int, points: bool) -> None:
    rng = np.random.default_rng(page_size + points)
    old, new = _boxes(rng, 300, points=points), _boxes(rng, 6000, points=points)
    with closing(_memory_rtree(page_size)) as con:
        con.executemany("INSERT INTO idx VALUES (?, ?, ?, ?, ?)",
                        [(i + 1, *b) for i, b in enumerate(old.tolist())])
        before = {r[0]: r[1:] for r in con.execute("SELECT * FROM idx")}
        node_size = con.execute("SELECT length(data) FROM idx_node WHERE nodeno = 1").fetchone()[0]
        con.execute("BEGIN")
        new_ids = np.arange(1001, 1001 + len(new))
        assert bulk_load(con, "idx", new_ids, new[:, 0], new[:, 1], new[:, 2], new[:, 3])
        con.execute("COMMIT")
        assert _rtreecheck(con, "idx") == "ok"
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        after = {r[0]: r[1:] for r in con.execute("SELECT * FROM idx")}
        assert len(after) == 300 + len(new)
        assert {k: after[k] for k in before} == before  # old entries kept bit for bit
        assert con.execute("SELECT length(data) FROM idx_node WHERE nodeno = 1").fetchone()[0] == node_size
        # STR packs full leaves: ceil(N / M) leaves, all full but one
        per_node = (node_size - 4) // 24
        total = 300 + len(new)
        counts = _leaf_counts(con, "idx")
        assert len(counts) == math.ceil(total / per_node)
        assert counts[1:] == [per_node] * (len(counts) - 1) and sum(counts) == total
        ids = np.concatenate([np.arange(1, 301), new_ids])
        _check_queries(con, "idx", np.concatenate([old, new]), ids, seed=page_size)


def test_tree_depth_and_parents_follow_the_node_capacity() -> None:
    with closing(_memory_rtree(512)) as con:  # 448-byte nodes: 18 cells
        per_node = (con.execute("SELECT length(data) FROM idx_node WHERE nodeno = 1").fetchone()[0] - 4) // 24
        assert per_node == 18
        for total in (1, 18, 19, 324, 325, 6000):
            x = _f32(np.random.default_rng(total).uniform(0, 1, total))
            con.execute("BEGIN")
            for table in ("idx_node", "idx_rowid", "idx_parent"):  # start from an empty tree each time
                con.execute(f"DELETE FROM {table}" + (" WHERE nodeno <> 1" if table == "idx_node" else ""))
            con.execute("UPDATE idx_node SET data = zeroblob(448) WHERE nodeno = 1")
            assert bulk_load(con, "idx", np.arange(total), x, x, x, x)
            con.execute("COMMIT")
            assert _rtreecheck(con, "idx") == "ok"
            root = bytes(con.execute("SELECT data FROM idx_node WHERE nodeno = 1").fetchone()[0])
            depth = struct.unpack(">H", root[:2])[0]
            assert depth == min(d for d in range(10) if 18 ** (d + 1) >= total), total
            nodes = con.execute("SELECT count(*) FROM idx_node").fetchone()[0]
            assert con.execute("SELECT count(*) FROM idx_parent").fetchone()[0] == nodes - 1
            assert con.execute("SELECT count(*) FROM idx").fetchone()[0] == total


@pytest.mark.parametrize(("module", "args"), [
    ("rtree", "id, minx, maxx, miny, maxy, +label"),   # auxiliary column
    ("rtree_i32", "id, minx, maxx, miny, maxy"),        # integer coordinates
    ("rtree", "id, minx, maxx, miny, maxy, minz, maxz"),  # 3-D
    ("rtree", "id, x0, x1, y0, y1"),                    # other column names
])
def test_unexpected_layouts_are_refused_and_left_alone(module: str, args: str) -> None:
    with closing(_memory_rtree(module=module, args=args)) as con:
        values = "1, 0, 1, 0, 1" + (", 'a'" if "+label" in args else ", 0, 1" if "minz" in args else "")
        con.execute(f"INSERT INTO idx VALUES ({values})")
        before = con.execute("SELECT nodeno, data FROM idx_node").fetchall()
        assert rtree_layout(con, "idx") is None
        x = np.array([5.0, 6.0])
        assert not bulk_load(con, "idx", np.array([2, 3]), x, x, x, x)
        assert con.execute("SELECT nodeno, data FROM idx_node").fetchall() == before
        assert con.execute("SELECT count(*) FROM idx_rowid").fetchone() == (1,)
    with closing(_memory_rtree()) as con:
        assert rtree_layout(con, "no_such_table") is None


def test_bad_boxes_are_refused() -> None:
    with closing(_memory_rtree()) as con:
        one = np.array([1.0])
        assert not bulk_load(con, "idx", np.array([1]), one, one - 1, one, one)  # min > max
        assert not bulk_load(con, "idx", np.array([1]), one, one, one * np.nan, one)
        assert con.execute("SELECT count(*) FROM idx_rowid").fetchone() == (0,)


def test_reading_the_virtual_table_in_the_same_transaction_is_safe() -> None:
    """The R-tree module keeps a blob handle on ``_node`` open; rewriting ``_node`` under it must not confuse it."""
    rng = np.random.default_rng(5)
    first, second = _boxes(rng, 2000, points=False), _boxes(rng, 3000, points=False)
    with closing(_memory_rtree()) as con:
        con.execute("BEGIN")
        con.executemany("INSERT INTO idx VALUES (?, ?, ?, ?, ?)",
                        [(i + 1, *b) for i, b in enumerate(first.tolist())])
        ids = np.arange(1, 2001)
        _check_queries(con, "idx", first, ids, seed=1, queries=20)  # the module reads its nodes here
        new_ids = np.arange(5001, 8001)
        assert bulk_load(con, "idx", new_ids, second[:, 0], second[:, 1], second[:, 2], second[:, 3])
        both, all_ids = np.concatenate([first, second]), np.concatenate([ids, new_ids])
        _check_queries(con, "idx", both, all_ids, seed=2, queries=50)
        con.execute("INSERT INTO idx VALUES (9001, 50, 51, 50, 51)")  # SQL insert after the rewrite
        con.execute("COMMIT")
        assert _rtreecheck(con, "idx") == "ok"
        _check_queries(con, "idx", np.vstack([both, [50, 51, 50, 51]]), np.append(all_ids, 9001), seed=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e30, 1e30, allow_nan=False), min_size=1, max_size=30))
def test_outward_rounding_contains_and_is_tightest(values: list[float]) -> None:
    v = np.array(values)
    lo, hi = outward_float32(v, v)
    assert lo.dtype == np.float32 and hi.dtype == np.float32
    assert (lo.astype("float64") <= v).all() and (hi.astype("float64") >= v).all()
    # tightest: the next float32 towards the value overshoots it
    assert (np.nextafter(lo, np.float32(np.inf)).astype("float64") > v).all()
    assert (np.nextafter(hi, np.float32(-np.inf)).astype("float64") < v).all()
    # SQLite's own rounding (an SQL insert) contains normal values too, never more tightly than ours
    # (it multiplies by 1 -/+ 2**-23, which does not move values below float32's normal range)
    with closing(_memory_rtree()) as con:
        con.executemany("INSERT INTO idx VALUES (?, ?, ?, 0, 0)", [(i, x, x) for i, x in enumerate(values)])
        stored = np.array(con.execute("SELECT minx, maxx FROM idx ORDER BY id").fetchall())
    normal = (np.abs(v) >= 1e-37) | (v == 0)
    assert ((stored[:, 0] <= v) & (stored[:, 1] >= v))[normal].all()
    assert (stored[normal, 0] <= lo[normal]).all() and (stored[normal, 1] >= hi[normal]).all()


@settings(max_examples=40, deadline=None)
@given(old=st.integers(0, 60), new=st.integers(1, 400), points=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_property_any_sizes_check_ok_and_query_like_brute_force(old: int, new: int, points: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = _boxes(rng, old, points=points), _boxes(rng, new, points=points)
    with closing(_memory_rtree(512)) as con:
        con.executemany("INSERT INTO idx VALUES (?, ?, ?, ?, ?)", [(i + 1, *r) for i, r in enumerate(a.tolist())])
        con.execute("BEGIN")
        new_ids = np.arange(100, 100 + new)
        assert bulk_load(con, "idx", new_ids, b[:, 0], b[:, 1], b[:, 2], b[:, 3])
        con.execute("COMMIT")
        assert _rtreecheck(con, "idx") == "ok"
        _check_queries(con, "idx", np.concatenate([a, b]), np.concatenate([np.arange(1, old + 1), new_ids]),
                       seed=seed, queries=20)


# ---------------------------------------------------------------------------------------------------------------
# Workspace.append: bulk path for large batches, SQL path for small ones
# ---------------------------------------------------------------------------------------------------------------


def _reports(ids: list[str], lon: np.ndarray, lat: np.ndarray) -> gpd.GeoDataFrame:
    start = pd.Timestamp("2025-03-01 08:00", tz="Asia/Shanghai")
    return gpd.GeoDataFrame(
        {"report_id": ids, "reported_at": start + pd.to_timedelta(np.arange(len(ids)), unit="s"),
         "category": "garbage_dumping"},
        geometry=shapely.points(lon, lat), crs="EPSG:4326",
    )


def _state(path: Path) -> tuple[str, str, dict[int, tuple], dict[str, int]]:
    with closing(sqlite3.connect(path)) as con:
        check = _rtreecheck(con, RTREE)
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        entries = {r[0]: r[1:] for r in con.execute(f"SELECT * FROM {RTREE}")}
        fids = dict(con.execute("SELECT report_id, fid FROM reports").fetchall())
    return check, integrity, entries, fids


def test_bulk_appends_onto_earlier_sql_and_bulk_appends(tmp_path: Path) -> None:
    path = tmp_path / "w.gpkg"
    rng = np.random.default_rng(11)
    where: dict[str, tuple[float, float]] = {}

    def batch(prefix: str, n: int) -> gpd.GeoDataFrame:
        lon, lat = _f32(rng.uniform(109.72, 109.74, n)), _f32(rng.uniform(38.28, 38.30, n))
        ids = [f"{prefix}{i}" for i in range(n)]
        where.update(zip(ids, zip(lon.tolist(), lat.tolist())))
        return _reports(ids, lon, lat)

    with init_workspace(path) as ws:
        assert ws.append("reports", batch("s", 300)).accepted == 300  # SQL path
        _, _, small_entries, _ = _state(path)
        assert ws.append("reports", batch("a", 12_000)).accepted == 12_000  # bulk path
        check, integrity, entries, fids = _state(path)
        assert (check, integrity) == ("ok", "ok")
        assert {k: entries[k] for k in small_entries} == small_entries
        with closing(sqlite3.connect(path)) as con:  # packed full leaves: the bulk path ran
            assert len(_leaf_counts(con, RTREE)) == math.ceil(12_300 / 51)
        # a second bulk batch: 11,000 new rows and 1,000 stored keys sent again somewhere else
        again = batch("b", 11_000)
        moved = _reports([f"a{i}" for i in range(1000)], np.full(1000, 110.5), np.full(1000, 39.5))
        summary = ws.append("reports", pd.concat([again, moved], ignore_index=True))
        # stored keys with another position are key conflicts (quarantined), never stored again
        assert (summary.accepted, summary.duplicates, summary.quarantined) == (11_000, 0, 1000)
        assert summary.reasons == {"key_conflict": 1000}
        check, integrity, after, fids = _state(path)
        assert (check, integrity) == ("ok", "ok")
        assert {k: after[k] for k in entries} == entries  # every earlier entry kept as it was
        with closing(sqlite3.connect(path)) as con:
            assert con.execute(QUERY.format(RTREE), (110, 111, 39, 40)).fetchall() == []  # none for conflicts
        assert ws.append("reports", batch("t", 40)).accepted == 40  # SQL path (triggers) after a bulk load
    check, integrity, entries, fids = _state(path)
    assert (check, integrity) == ("ok", "ok")
    assert set(entries) == set(fids.values()) and len(fids) == 23_340
    for rid, fid in fids.items():  # each entry is its point, exactly (coordinates are float32-exact)
        x, y = where[rid]
        assert entries[fid] == (x, x, y, y)
    ids = np.array(list(fids.values()))
    xy = np.array([where[r] for r in fids])
    boxes = np.column_stack([xy[:, 0], xy[:, 0], xy[:, 1], xy[:, 1]])
    with closing(sqlite3.connect(path)) as con:
        _check_queries(con, RTREE, boxes, ids, seed=4, queries=200, span=(109.715, 109.745, 38.275, 38.305))
    # GDAL's spatial filter goes through the same R-tree
    names = np.array(list(fids))
    for x0, y0, size in [(109.725, 38.285, 0.004), (109.719, 38.279, 0.003), (109.73, 38.29, 0.02)]:
        got = pyogrio.read_dataframe(path, layer="reports", bbox=(x0, y0, x0 + size, y0 + size))["report_id"]
        inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x0 + size) & (xy[:, 1] >= y0) & (xy[:, 1] <= y0 + size)
        assert set(got) == set(names[inside]) and inside.any()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(0, 120), min_size=1, max_size=3), layer=st.sampled_from(["reports", "grids"]),
       seed=st.integers(0, 2**32 - 1))
def test_property_appends_around_the_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sizes: list[int],
                                               layer: str, seed: int) -> None:
    monkeypatch.setattr(stage, "_BULK_RTREE_MIN_ROWS", 50)  # both paths with small batches
    rng = np.random.default_rng(seed)
    path = tmp_path / f"{uuid.uuid4().hex}.gpkg"
    boxes: dict[str, np.ndarray] = {}
    with init_workspace(path) as ws:
        for k, n in enumerate(sizes):
            b = _boxes(rng, n, points=layer == "reports") / 1000 + np.array([109.7, 109.7, 38.2, 38.2])
            b = np.column_stack([_f32(b[:, 0]), _f32(b[:, 1]), _f32(b[:, 2]), _f32(b[:, 3])])
            keys = [f"{k}-{i}" for i in range(n)]
            boxes.update(zip(keys, b))
            if layer == "reports":
                frame = _reports(keys, b[:, 0], b[:, 2])
            else:
                geoms = shapely.multipolygons([[shapely.box(r[0], r[2], r[1], r[3])] for r in b]) if n else []
                frame = gpd.GeoDataFrame({"grid_code": keys, "community_code": "610802001001"},
                                         geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))
            assert ws.append(layer, frame).accepted == n
    key = "report_id" if layer == "reports" else "grid_code"
    with closing(sqlite3.connect(path)) as con:
        name = f"rtree_{layer}_geom"
        assert _rtreecheck(con, name) == "ok"
        fids = dict(con.execute(f"SELECT {key}, fid FROM {layer}").fetchall())
        assert con.execute(f"SELECT count(*) FROM {name}").fetchone() == (len(boxes),) == (len(fids),)
        if boxes:
            ids = np.array([fids[k] for k in boxes])
            _check_queries(con, name, np.array(list(boxes.values())), ids, seed=seed, queries=20,
                           span=(109.7, 109.81, 38.2, 38.31))
