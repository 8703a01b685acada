"""Spot checks (抽查): reproducible stratified draws, the checklist, importing results back, schema 1 → 2."""

from __future__ import annotations

import csv
import hashlib
import random
import re
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from gridmap.errors import GridmapError, SchemaError, WorkspaceVersionError
from gridmap.cli import main
from gridmap.io.importer import import_file
from gridmap.model import SCHEMA_VERSION
from gridmap.analysis.spotcheck import CHECKLIST_COLUMNS, NO_STRATUM, allocate
from gridmap.jobs.spotcheck import spot_check
from gridmap.storage import META_TABLE, init_workspace, open_workspace

from test_crs import ref_wgs_to_gcj
from tests._imports import downgrade_to_schema_3

TZ = "Asia/Shanghai"
PHONE = re.compile(r"1[3-9]\d{9}")


# ----------------------------------------------------------------------------- constructed layers


def _layers(sizes: dict[str, int], *, extra_unrectified: int = 0, no_grid: int = 0) -> dict[str, object]:
    """Communities C1.. with one grid each; `sizes[c]` rectified reports in community c."""
    grids, reports, fixes = [], [], []
    for i, (community, size) in enumerate(sorted(sizes.items())):
        code = f"G{i:02d}"
        grids.append({"grid_code": code, "name": f"网格{i}", "community_code": community, "cadre": f"干部{i}",
                      "cadre_phone": "13812345678", "geometry": box(109.70 + i * 0.01, 38.28, 109.709 + i * 0.01,
                                                                    38.289)})
        for j in range(size):
            rid = f"{community}-{j:03d}"
            reports.append({"report_id": rid, "grid_code": code, "status": "rectified" if j % 2 else "verified",
                            "geometry": Point(109.705 + i * 0.01, 38.285)})
            fixes.append({"report_id": rid, "rectified_at": pd.Timestamp("2025-03-05 10:00", tz=TZ)})
        for j in range(extra_unrectified):
            reports.append({"report_id": f"{community}-open{j}", "grid_code": code, "status": "reported",
                            "geometry": Point(109.705 + i * 0.01, 38.285)})
    for j in range(no_grid):
        rid = f"X-{j:03d}"
        reports.append({"report_id": rid, "grid_code": None, "status": "rectified", "geometry": Point(109.6, 38.2)})
        fixes.append({"report_id": rid, "rectified_at": pd.Timestamp("2025-03-06 10:00", tz=TZ)})
    frame = gpd.GeoDataFrame(reports, geometry="geometry", crs="EPSG:4326")
    frame["reported_at"] = pd.Timestamp("2025-03-01 09:00", tz=TZ)
    frame["category"] = "garbage_dumping"
    return {"reports": frame, "grids": gpd.GeoDataFrame(grids, geometry="geometry", crs="EPSG:4326"),
            "rectifications": pd.DataFrame(fixes)}


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spot") / "gulou.gpkg"
    init_workspace(path, sample=True).close()
    return path


# ----------------------------------------------------------------------------- allocation


def _hand_hamilton(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Independent reference: 1 each, then seats one at a time to the largest remaining exact quota (capped)."""
    from fractions import Fraction

    alloc = {k: 1 for k, v in sizes.items() if v}
    while sum(alloc.values()) < n:
        open_ = {k: v for k, v in sizes.items() if v and alloc[k] < v}
        rest = n - sum(alloc.values())
        total = sum(open_.values())
        quota = {k: Fraction(rest * v, total) for k, v in open_.items()}
        floors = {k: int(q) for k, q in quota.items()}
        order = sorted(open_, key=lambda k: (-(quota[k] - floors[k]), k))
        give = dict(floors)
        for k in order[:rest - sum(floors.values())]:
            give[k] += 1
        for k, g in give.items():
            alloc[k] += min(g, sizes[k] - alloc[k])
    return {k: alloc.get(k, 0) for k in sizes}


def test_allocation_matches_hand_computation() -> None:
    # 16 reports, n=7: 1 each, remaining 4 → quotas 4*10/16=2.5, 4*5/16=1.25, 4*1/16=0.25 → 2,1,0 + 1 to a
    assert allocate({"a": 10, "b": 5, "c": 1}, 7) == {"a": 4, "b": 2, "c": 1}
    # a is capped at 2; its excess goes to b
    assert allocate({"a": 2, "b": 30}, 10) == {"a": 2, "b": 8}
    # a tie of remainders (equal sizes) is broken by key: "a" before "b"
    assert allocate({"b": 3, "a": 3}, 3) == {"b": 1, "a": 2}
    # n at or above the population: everyone
    assert allocate({"a": 2, "b": 0, "c": 3}, 9) == {"a": 2, "b": 0, "c": 3}


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 40), min_size=1), st.integers(1, 200))
def test_allocation_properties(sizes: dict[str, int], n: int) -> None:
    alive = [k for k, v in sizes.items() if v]
    if not alive:
        return
    if n < len(alive):
        with pytest.raises(SchemaError, match=rf"use n of at least {len(alive)}"):
            allocate(sizes, n)
        return
    got = allocate(sizes, n)
    assert sum(got.values()) == min(n, sum(sizes.values()))
    assert all(1 <= got[k] <= sizes[k] for k in alive) and all(got[k] == 0 for k in sizes if not sizes[k])
    if n < sum(sizes.values()):
        assert got == _hand_hamilton(sizes, n)


def test_n_smaller_than_strata_is_an_error() -> None:
    layers = _layers({"C1": 3, "C2": 3, "C3": 3, "C4": 3})
    with pytest.raises(SchemaError, match=r"n=3 cannot draw every one of the 4 strata; use n of at least 4"):
        spot_check(layers, n=3, seed=1)


# ----------------------------------------------------------------------------- the draw


def test_same_seed_same_sample_even_with_shuffled_rows() -> None:
    layers = _layers({"C1": 40, "C2": 25, "C3": 9}, extra_unrectified=5, no_grid=4)
    a = spot_check(layers, n=15, seed=20250301)
    shuffled = dict(layers)
    shuffled["reports"] = layers["reports"].sample(frac=1.0, random_state=3)
    b = spot_check(shuffled, n=15, seed=20250301)
    pd.testing.assert_frame_equal(a.checklist.drop(columns="geometry"), b.checklist.drop(columns="geometry"))
    assert list(a.checklist.columns[:-1]) == list(CHECKLIST_COLUMNS)
    assert a.checklist.crs.to_epsg() == 4326


def test_different_seed_different_sample() -> None:
    # 3 strata of 100 with 10 drawn each: the same 30 under two seeds has probability C(100,10)^-3 ≈ 1e-40.
    layers = _layers({"C1": 100, "C2": 100, "C3": 100})
    a = set(spot_check(layers, n=30, seed=1).checklist["report_id"])
    b = set(spot_check(layers, n=30, seed=2).checklist["report_id"])
    assert a != b


def test_every_stratum_drawn_and_population_is_rectified_only() -> None:
    layers = _layers({"C1": 50, "C2": 3, "C3": 1, "C4": 20}, extra_unrectified=10, no_grid=2)
    sample = spot_check(layers, n=8, seed="x")
    strata = sample.strata.set_index("stratum")
    assert set(strata.index) == {"C1", "C2", "C3", "C4", NO_STRATUM}
    assert (strata["drawn"] >= 1).all() and strata["drawn"].sum() == 8
    assert strata.loc["C1", "population"] == 50  # the 10 'reported' ones are not in the population
    assert not sample.checklist["report_id"].str.contains("open").any()
    # ordered by stratum, numbered 1..n
    assert sample.checklist["stratum"].tolist() == sorted(sample.checklist["stratum"])
    assert sample.checklist["no"].tolist() == list(range(1, 9))


def test_draw_order_is_sha256_recomputed_independently() -> None:
    layers = _layers({"C1": 30, "C2": 12})
    seed = "督查-7"
    sample = spot_check(layers, n=10, seed=seed)
    for stratum, group in sample.checklist.groupby("stratum", sort=False):
        members = [f"{stratum}-{j:03d}" for j in range(30 if stratum == "C1" else 12)]
        digests = sorted((hashlib.sha256(f"{seed}:{rid}".encode()).hexdigest(), rid) for rid in members)
        assert group["report_id"].tolist() == [rid for _, rid in digests[:len(group)]]


def test_inclusion_frequency_is_k_over_n_within_strata() -> None:
    layers = _layers({"C1": 20, "C2": 8})
    counts = allocate({"C1": 20, "C2": 8}, 7)  # {'C1': 5, 'C2': 2}
    seeds = 600
    hits: dict[str, int] = {}
    for seed in range(seeds):
        for rid in spot_check(layers, n=7, seed=seed).checklist["report_id"]:
            hits[rid] = hits.get(rid, 0) + 1
    for community, size in (("C1", 20), ("C2", 8)):
        p = counts[community] / size
        sd = (p * (1 - p) / seeds) ** 0.5
        for j in range(size):
            freq = hits.get(f"{community}-{j:03d}", 0) / seeds
            assert abs(freq - p) < 5 * sd, (community, j, freq, p)


def test_strata_by_grid_and_cadre_and_period() -> None:
    layers = _layers({"C1": 5, "C2": 5})
    grids = spot_check(layers, n=4, seed=1, by="grid").strata
    assert grids["stratum"].tolist() == ["G00", "G01"]
    cadres = spot_check(layers, n=4, seed=1, by="cadre").strata
    assert cadres["stratum"].tolist() == ["干部0", "干部1"]
    with pytest.raises(GridmapError, match="no rectified or verified reports in the period"):
        spot_check(layers, n=4, seed=1, start="2025-03-02")
    # [start, end) contains 2025-03-01 09:00 Asia/Shanghai = 01:00 UTC
    assert len(spot_check(layers, n=4, seed=1, start="2025-03-01T01:00Z", end="2025-03-01T01:00:01Z").checklist) == 4


def test_n_above_population_lists_everyone(caplog: pytest.LogCaptureFixture) -> None:
    layers = _layers({"C1": 2, "C2": 1})
    sample = spot_check(layers, n=50, seed=1)
    assert len(sample.checklist) == 3
    assert "all are listed" in caplog.text


@settings(max_examples=25, deadline=None)
@given(st.floats(109.5, 110.0), st.floats(38.0, 38.5))
def test_checklist_points_in_both_systems(lon: float, lat: float) -> None:
    layers = _layers({"C1": 1})
    layers["reports"] = layers["reports"].set_geometry([Point(lon, lat)], crs="EPSG:4326")
    row = spot_check(layers, n=1, seed=0).checklist.iloc[0]
    glon, glat = ref_wgs_to_gcj(lon, lat)  # the published formula, written out in test_crs (not gridmap's code)
    assert row["lon"] == pytest.approx(lon, abs=1e-6) and row["lat"] == pytest.approx(lat, abs=1e-6)
    assert row["lon_gcj02"] == pytest.approx(glon, abs=1e-6)
    assert row["lat_gcj02"] == pytest.approx(glat, abs=1e-6)
    # GCJ-02 near Yulin is shifted by a few hundred metres, never zero
    assert 1e-4 < abs(row["lon_gcj02"] - lon) < 0.02


# ----------------------------------------------------------------------------- importing results back


def _status(path: Path, report_id: str) -> str:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT status FROM reports WHERE report_id = ?", (report_id,)).fetchone()[0]
    finally:
        con.close()


def _small_ws(tmp_path: Path) -> Path:
    path = tmp_path / "w.gpkg"
    layers = _layers({"C1": 4})
    with init_workspace(path) as ws:
        ws.append("grids", layers["grids"])
        ws.append("reports", layers["reports"])
        ws.append("rectifications", layers["rectifications"].iloc[:3])
    return path


def _write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_import_spotchecks_sets_status_and_quarantines(tmp_path: Path) -> None:
    ws = _small_ws(tmp_path)
    assert _status(ws, "C1-003") == "rectified"  # status column from the reports layer, no rectification row
    src = _write(tmp_path / "checks.csv", [
        ["编号", "抽查时间", "抽查结果", "抽查人", "备注"],
        ["C1-000", "2025-03-10 09:00", "通过", "督查甲", ""],
        ["C1-001", "2025-03-10 09:30", "反弹", "督查甲", "又有垃圾"],
        ["C1-002", "2025-03-10 10:00", "maybe", "督查甲", ""],
        ["NOPE", "2025-03-10 10:00", "合格", "督查甲", ""],
        ["C1-open0", "2025-03-10 10:00", "合格", "督查甲", ""],
        ["C1-003", "2025-03-10 11:00", "fail", "督查甲", ""],
    ])
    first = import_file(ws, "spotchecks", src)
    assert (first.read, first.accepted, first.duplicates, first.quarantined) == (6, 3, 0, 3)
    assert first.reasons == {"unknown_result": 1, "unknown_report": 2}
    con = sqlite3.connect(ws)
    reasons = dict(con.execute("SELECT record, reason FROM quarantine WHERE layer = 'spotchecks'").fetchall())
    con.close()
    assert reasons == {3: "unknown_result", 4: "unknown_report", 5: "unknown_report"}
    assert _status(ws, "C1-000") == "verified"
    assert _status(ws, "C1-001") == "reopened"
    assert _status(ws, "C1-003") == "reopened"
    again = import_file(ws, "spotchecks", src)
    assert (again.accepted, again.duplicates, again.quarantined) == (0, 3, 3)


def test_not_rectified_and_unknown_report_reasons(tmp_path: Path) -> None:
    path = tmp_path / "w.gpkg"
    layers = _layers({"C1": 2}, extra_unrectified=1)
    with init_workspace(path) as ws:
        ws.append("reports", layers["reports"])
    src = _write(tmp_path / "c.csv", [["report_id", "checked_at", "result"],
                                      ["C1-open0", "2025-03-10 09:00", "通过"],
                                      ["ZZZ", "2025-03-10 09:00", "通过"],
                                      ["C1-000", "2025-03-10 09:00", "通过"]])
    summary = import_file(path, "spotchecks", src)
    assert summary.reasons == {"not_rectified": 1, "unknown_report": 1}
    assert summary.accepted == 1 and _status(path, "C1-000") == "verified"
    assert _status(path, "C1-open0") == "reported"


def test_status_follows_the_latest_event(tmp_path: Path) -> None:
    ws = _small_ws(tmp_path)
    _write(tmp_path / "c.csv", [["report_id", "checked_at", "result"], ["C1-000", "2025-03-10 09:00", "reopened"]])
    import_file(ws, "spotchecks", tmp_path / "c.csv")
    assert _status(ws, "C1-000") == "reopened"
    # an older rectification does not undo the later spot check ...
    with open_workspace(ws) as w:
        w.append("rectifications", pd.DataFrame({"report_id": ["C1-000"], "rectified_at": ["2025-03-08 10:00"]}))
    assert _status(ws, "C1-000") == "reopened"
    # ... a newer one does
    with open_workspace(ws) as w:
        w.append("rectifications", pd.DataFrame({"report_id": ["C1-000"], "rectified_at": ["2025-03-12 10:00"]}))
    assert _status(ws, "C1-000") == "rectified"


def test_checklist_csv_round_trips_through_import(tmp_path: Path, sample_ws: Path) -> None:
    ws = tmp_path / "copy.gpkg"
    ws.write_bytes(sample_ws.read_bytes())
    sample = spot_check(ws, n=12, seed=42, start="2025-03-01", end="2025-09-01")
    out = sample.to_csv(tmp_path / "checklist.csv")
    frame = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert list(frame.columns) == list(CHECKLIST_COLUMNS)
    assert not PHONE.search(out.read_text(encoding="utf-8-sig"))
    frame["result"] = ["通过" if i % 3 else "不合格" for i in range(len(frame))]
    frame["checked_at"] = "2025-10-01 10:00"
    frame["checker"] = "督查组"
    frame.to_csv(out, index=False, encoding="utf-8-sig")
    summary = import_file(ws, "spotchecks", out)
    assert (summary.read, summary.accepted, summary.quarantined) == (12, 12, 0)
    for i, rid in enumerate(frame["report_id"]):
        assert _status(ws, rid) == ("verified" if i % 3 else "reopened")


# ----------------------------------------------------------------------------- the page


def test_html_lists_every_report_and_gcj_point_without_phones(tmp_path: Path) -> None:
    layers = _layers({"C1": 6, "C2": 4})
    layers["reports"].loc[0, "report_id"] = "C1-<b>{{7*7}}</b>"
    layers["rectifications"].loc[0, "report_id"] = "C1-<b>{{7*7}}</b>"
    sample = spot_check(layers, n=10, seed=5)
    page = sample.to_html(tmp_path / "s.html", offline=False).read_text(encoding="utf-8")
    assert sorted(sample.checklist["report_id"]) == sorted(layers["reports"]["report_id"])  # all 10 drawn
    for point in layers["reports"].geometry:  # every report's GCJ-02 point, by the published formula
        glon, glat = ref_wgs_to_gcj(point.x, point.y)
        assert f"{glon:.6f}, {glat:.6f}" in page
    plain = [r for r in sample.checklist["report_id"] if "<" not in r]
    assert all(r in page for r in plain)
    assert "C1-<b>" not in page and "C1-&lt;b&gt;&#123;&#123;7*7&#125;&#125;" in page and "49" not in page
    assert not PHONE.search(page)
    assert "break-inside: avoid" in page and "size: A4" in page and "通过" in page
    assert "随机种子: <b>5</b>" in page


def test_html_offline_needs_the_asset_cache(tmp_path: Path) -> None:
    from gridmap.maps.assets import AssetCache, AssetsMissingError

    sample = spot_check(_layers({"C1": 3}), n=2, seed=1)
    with pytest.raises(AssetsMissingError, match="gridmap assets fetch"):
        sample.to_html(tmp_path / "s.html", cache=AssetCache(tmp_path / "empty-cache"))
    assert not (tmp_path / "s.html").exists()


def test_illustrative_notice_from_the_workspace(sample_ws: Path, tmp_path: Path) -> None:
    sample = spot_check(sample_ws, n=6, seed=9, lang="en")
    assert sample.illustrative
    page = sample.to_html(tmp_path / "s.html", offline=False, lang="en").read_text(encoding="utf-8")
    assert "Illustrative data" in page
    assert all(rid in page for rid in sample.checklist["report_id"])


# ----------------------------------------------------------------------------- schema 1 → 2


def _make_v1(path: Path) -> None:
    """A schema-1 workspace: what gridmap wrote before spot checks existed (no spotchecks table, version 1)."""
    init_workspace(path).close()
    downgrade_to_schema_3(path)  # nor the indexes of schema 4
    con = sqlite3.connect(path)
    con.execute("DROP TABLE spotchecks")
    con.execute("DELETE FROM gpkg_contents WHERE table_name = 'spotchecks'")
    con.execute("DELETE FROM gpkg_ogr_contents WHERE table_name = 'spotchecks'")
    con.execute(f"UPDATE {META_TABLE} SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()


def _table_facts(path: Path) -> tuple:
    con = sqlite3.connect(path)
    try:
        ddl = con.execute("SELECT sql FROM sqlite_master WHERE name = 'spotchecks'").fetchone()[0]
        triggers = sorted(r[0] for r in con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'spotchecks'"))
        contents = con.execute("SELECT data_type, identifier, srs_id FROM gpkg_contents"
                               " WHERE table_name = 'spotchecks'").fetchone()
        index = con.execute("SELECT sql FROM sqlite_master WHERE name = 'ux_spotchecks_key'").fetchone()[0]
    finally:
        con.close()
    return " ".join(ddl.split()), triggers, contents, index


def test_schema_1_workspace_is_migrated_on_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old, fresh = tmp_path / "old.gpkg", tmp_path / "fresh.gpkg"
    _make_v1(old)
    init_workspace(fresh).close()
    with caplog.at_level("INFO", logger="gridmap.storage"):
        with open_workspace(old) as ws:
            assert ws.schema_version == SCHEMA_VERSION == 4
            assert ws.counts()["spotchecks"] == 0
    assert "migrated workspace" in caplog.text
    assert _table_facts(old) == _table_facts(fresh)  # the same table GDAL made for a new workspace
    assert pyogrio.list_layers(old).tolist().count(["spotchecks", None]) == 1
    con = sqlite3.connect(old)
    assert con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'").fetchone()[0] == "4"
    con.close()
    with open_workspace(old) as ws:  # a second open does nothing more
        ws.append("spotchecks", pd.DataFrame({"report_id": ["r"], "checked_at": ["2025-03-01"],
                                              "result": ["verified"]}))
        assert ws.counts()["spotchecks"] == 1 and ws.integrity_check() == "ok"
    assert len(pyogrio.read_dataframe(old, layer="spotchecks")) == 1


def test_newer_schema_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.gpkg"
    init_workspace(path).close()
    con = sqlite3.connect(path)
    con.execute(f"UPDATE {META_TABLE} SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(WorkspaceVersionError, match=rf"newer gridmap \(schema {SCHEMA_VERSION + 1}\); upgrade gridmap"):
        open_workspace(path)


# ----------------------------------------------------------------------------- the command line


def test_cli_spotcheck_end_to_end(tmp_path: Path, sample_ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "s.html"
    code = main(["spotcheck", str(sample_ws), "--n", "12", "--seed", "7", "--from", "2025-03-01",
                 "--to", "2025-07-01", "--html", str(html), "--online"])
    out = capsys.readouterr().out
    assert code == 0 and html.exists() and f"wrote {html}" in out
    assert out.count("610802001") >= 6  # one line per community stratum
    assert main(["spotcheck", str(sample_ws), "--n", "2", "--seed", "7"]) == 2
    assert "gridmap: error: n=2 cannot draw every one of the 6 strata" in capsys.readouterr().err
    assert main(["spotcheck", str(tmp_path / "missing.gpkg"), "--n", "5", "--seed", "7"]) == 2


def test_cli_import_spotchecks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _small_ws(tmp_path)
    src = _write(tmp_path / "c.csv", [["report_id", "checked_at", "result"], ["C1-000", "2025-03-10", "通过"]])
    assert main(["import", str(ws), "spotchecks", str(src)]) == 0
    assert "accepted 1" in capsys.readouterr().out
    assert _status(ws, "C1-000") == "verified"


def test_seed_is_reproducible_across_row_order_of_a_real_workspace(sample_ws: Path) -> None:
    a = spot_check(sample_ws, n=40, seed=11, by="grid")
    assert (a.strata["drawn"] >= 1).all() and len(a.strata) > 20
    with open_workspace(sample_ws) as ws:
        layers = {name: ws.read_layer(name) for name in ("reports", "grids", "rectifications", "communities")}
    ids = layers["reports"]["report_id"].tolist()
    random.Random(0).shuffle(ids)
    layers["reports"] = layers["reports"].set_index("report_id").loc[ids].reset_index()
    b = spot_check(layers, n=40, seed=11, by="grid")
    assert a.checklist["report_id"].tolist() == b.checklist["report_id"].tolist()


def test_tables_without_geometry_ignore_coordinate_columns(tmp_path: Path) -> None:
    """A rectification list exported with lon/lat needs no declared coordinate system: they are not stored."""
    ws = _small_ws(tmp_path)
    src = _write(tmp_path / "fix.csv", [["report_id", "rectified_at", "lon", "lat"],
                                        ["C1-000", "2025-03-10 09:00", "109.73", "38.29"]])
    summary = import_file(ws, "rectifications", src)
    assert (summary.read, summary.accepted, summary.quarantined) == (1, 1, 0)


@pytest.mark.browser
@pytest.mark.slow
def test_printable_checklist_in_chromium(sample_ws: Path, tmp_path: Path) -> None:
    """Chromium prints the page on A4: the map on top, 60 rows over several pages, every row and point shown."""
    from _browser import offline_page, real_cache_or_skip

    cache = real_cache_or_skip()
    sample = spot_check(sample_ws, n=60, seed=3, start="2025-03-01", end="2025-09-01")
    page_path = sample.to_html(tmp_path / "check.html", cache=cache)
    with offline_page(page_path, viewport=(1280, 900), phone=False) as session:
        page = session.page
        page.wait_for_timeout(300)
        rows = page.locator(".sc-sheet tbody tr").count()
        pins = page.locator(".sc-pin").count()
        outlines = page.locator("path.leaflet-interactive").count()
        page.emulate_media(media="print")
        avoid = page.evaluate("() => getComputedStyle(document.querySelector('.sc-sheet tbody tr')).breakInside")
        pdf = page.pdf(format="A4", print_background=True)
    assert session.attempted == [] and session.errors == []
    assert rows == 60 and pins == 60 and outlines > 0
    assert avoid == "avoid"
    assert pdf[:5] == b"%PDF-"
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 3  # 60 rows of two lines each do not fit on one or two A4 pages under the map
    media = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert media is not None and abs(float(media.group(1)) - 595.9) < 2 and abs(float(media.group(2)) - 842.9) < 2
