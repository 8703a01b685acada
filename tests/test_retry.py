"""``gridmap quarantine --retry``: quarantined records imported again once what stopped them is fixed.

Positions are checked against pyproj and against a direct import; counts against the rows in the file.
"""

from __future__ import annotations

import csv
import itertools
import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from gridmap.cli import main
from gridmap.io.importer import import_file
from gridmap.model import CATEGORIES
from gridmap.io.retry import retry_quarantine
from gridmap.storage import init_workspace, open_workspace
from tests._imports import adds_up, downgrade_to_schema_2, rows, run_import

SUBDISTRICT = box(109.70, 38.25, 109.80, 38.33)
HEADER = ["序号", "上报时间", "问题类型", "问题描述", "经度", "纬度"]
LEDGER = [
    ["1", "2025-03-01 08:05", "乱贴小广告", "电线杆", "109.7312", "38.2912"],
    ["2", "2025-03-01 09:30", "垃圾乱倒", "北大街", "109.74", "38.30"],
    ["3", "2025-03-02 10:00", "乱贴小广告", "东门", "109.75", "38.29"],
    ["4", "2025-03-02 11:00", "垃圾乱倒", "纬经颠倒", "38.29", "109.75"],
]


@pytest.fixture(autouse=True)
def _forget_added_categories():
    """Categories are registered process-wide: leave the registry as found."""
    before = dict(CATEGORIES)
    yield
    for key in set(CATEGORIES) - set(before):
        CATEGORIES.pop(key)


_NO_REPORTS = gpd.GeoDataFrame({"report_id": [], "reported_at": [], "category": []}, geometry=[], crs=4326)


def _csv(path: Path, header: list[str], body: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(body)
    return path


def _workspace(path: Path) -> Path:
    with init_workspace(path) as ws:
        ws.append("subdistrict", gpd.GeoDataFrame({"code": ["610802001"], "name": ["鼓楼街道"]},
                                                  geometry=[SUBDISTRICT], crs=4326))
    return path


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    return _workspace(tmp_path / "w.gpkg")


def _retry(capsys, ws: Path, *args: str) -> dict:
    capsys.readouterr()
    assert main(["quarantine", str(ws), "--retry", "--json", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["retried"] == out["accepted"] + out["duplicates"] + out["quarantined"]
    assert out["landed"] == out["accepted"] + out["duplicates"]
    assert sum(out["reasons"].values()) == out["quarantined"]
    return out


def test_a_category_added_lets_the_quarantined_rows_land(tmp_path: Path, ws: Path, capsys) -> None:
    ledger = _csv(tmp_path / "台账.csv", HEADER, LEDGER)
    code, summary = run_import(capsys, str(ws), "reports", str(ledger), "--coords", "wgs84")
    adds_up(summary)
    assert summary["reasons"] == {"unknown_category": 2, "swapped_coordinates": 1}
    assert "gridmap category" in rows(ws, "SELECT detail FROM quarantine WHERE reason = 'unknown_category'")[0][0]
    assert main(["category", str(ws), "--add", "illegal_ads", "乱贴小广告"]) == 0
    out = _retry(capsys, ws)
    assert (out["retried"], out["accepted"], out["duplicates"], out["quarantined"]) == (3, 2, 0, 1)
    assert out["reasons"] == {"swapped_coordinates": 1} and out["skipped"] == 0
    assert rows(ws, "SELECT record, reason FROM quarantine") == [(4, "swapped_coordinates")]
    stored = rows(ws, "SELECT description, category FROM reports ORDER BY description")
    assert stored == [("东门", "illegal_ads"), ("北大街", "garbage_dumping"), ("电线杆", "illegal_ads")]
    # nothing lost over the two steps: every record of the file is stored or quarantined once
    assert rows(ws, "SELECT count(*) FROM reports")[0][0] + rows(ws, "SELECT count(*) FROM quarantine")[0][0] == 4
    again = _retry(capsys, ws)  # the swapped row stays, with its reason; retrying again changes nothing
    assert (again["retried"], again["quarantined"], again["reasons"]) == (1, 1, {"swapped_coordinates": 1})
    assert rows(ws, "SELECT record, reason FROM quarantine") == [(4, "swapped_coordinates")]


def test_the_retried_rows_are_what_a_direct_import_stores(tmp_path: Path, capsys) -> None:
    """A GCJ-02 ledger: retried rows land at the WGS84 position (and with the id) of a direct import, to 1 cm."""
    ledger = _csv(tmp_path / "gcj.csv", HEADER, LEDGER[:3])
    retried, direct = _workspace(tmp_path / "r.gpkg"), _workspace(tmp_path / "d.gpkg")
    run_import(capsys, str(retried), "reports", str(ledger), "--coords", "gcj02", "--set", "source=hotline")
    with open_workspace(direct) as w:
        w.add_category("illegal_ads", "乱贴小广告")
    main(["category", str(retried), "--add", "illegal_ads", "乱贴小广告"])
    assert _retry(capsys, retried)["accepted"] == 2
    code, summary = run_import(capsys, str(direct), "reports", str(ledger), "--coords", "gcj02", "--set",
                               "source=hotline")
    assert summary["accepted"] == 3
    with open_workspace(retried) as w:
        got = w.read_layer("reports").set_index("report_id").sort_index()
    with open_workspace(direct) as w:
        want = w.read_layer("reports").set_index("report_id").sort_index()
    assert list(got.index) == list(want.index)  # same derived ids: importing the ledger again adds nothing
    geod = pyproj.Geod(ellps="WGS84")
    _, _, dist = geod.inv(got.geometry.x.to_numpy(), got.geometry.y.to_numpy(), want.geometry.x.to_numpy(),
                          want.geometry.y.to_numpy())
    assert max(dist) < 0.01
    gcj = Point(109.7312, 38.2912)  # converted, not stored as written: GCJ-02 lies hundreds of metres off
    assert min(geod.inv([gcj.x] * 3, [gcj.y] * 3, got.geometry.x.to_numpy(), got.geometry.y.to_numpy())[2]) > 100
    assert got["source"].tolist() == ["hotline"] * 3  # the --set value of the import applies to the retry
    code, again = run_import(capsys, str(retried), "reports", str(ledger), "--coords", "gcj02", "--set",
                             "source=hotline", "--strict")
    assert code == 0 and again["duplicates"] == 3


def test_a_shapefile_in_gauss_kruger_metres_is_retried_in_its_crs(tmp_path: Path, ws: Path, capsys) -> None:
    to = pyproj.Transformer.from_crs(4326, 4546, always_xy=True)
    lonlat = [(109.7301, 38.2901), (109.7402, 38.3003)]
    frame = gpd.GeoDataFrame({"target_id": ["T1", "T2"], "kind": ["courtyard", "公厕"], "name": ["鼓楼", "北门"]},
                             geometry=[Point(*to.transform(*p)) for p in lonlat], crs="EPSG:4546")
    shp = tmp_path / "targets.shp"
    pyogrio.write_dataframe(frame, shp, encoding="utf-8")
    shp.with_suffix(".prj").unlink()
    code, summary = run_import(capsys, str(ws), "targets", str(shp), "--crs", "EPSG:4546")
    assert summary["reasons"] == {"unknown_kind": 1}
    raw = json.loads(rows(ws, "SELECT raw FROM quarantine")[0][0])
    assert raw["geometry"].startswith("POINT (") and float(raw["geometry"][7:].split()[0]) > 1e5  # metres, as read
    with sqlite3.connect(ws) as con:  # the user corrects the stored record instead of the file (e.g. in QGIS)
        con.execute("UPDATE quarantine SET raw = replace(raw, '公厕', 'other')")
    out = _retry(capsys, ws, "--layer", "targets")
    assert (out["retried"], out["accepted"]) == (1, 1)
    with open_workspace(ws) as w:
        t2 = w.read_layer("targets").set_index("target_id").geometry["T2"]
    assert t2.x == pytest.approx(lonlat[1][0], abs=1e-8) and t2.y == pytest.approx(lonlat[1][1], abs=1e-8)


def test_a_new_reason_replaces_the_old_one_and_layer_limits_the_retry(tmp_path: Path, ws: Path, capsys) -> None:
    checks = _csv(tmp_path / "checks.csv", ["编号", "抽查时间", "抽查结果"], [["R1", "2025-03-05 10:00", "通过"]])
    ledger = _csv(tmp_path / "r.csv", HEADER, LEDGER[:1])
    run_import(capsys, str(ws), "spotchecks", str(checks))
    run_import(capsys, str(ws), "reports", str(ledger), "--coords", "wgs84")
    assert rows(ws, "SELECT layer, reason FROM quarantine ORDER BY fid") == [
        ("spotchecks", "unknown_report"), ("reports", "unknown_category")]
    with open_workspace(ws) as w:
        w.append("reports", gpd.GeoDataFrame({"report_id": ["R1"], "reported_at": ["2025-03-01 08:00"],
                                              "category": ["garbage_dumping"]}, geometry=[Point(109.73, 38.29)],
                                             crs=4326))
    out = _retry(capsys, ws, "--layer", "spotchecks")
    assert (out["retried"], out["quarantined"], out["reasons"]) == (1, 1, {"not_rectified": 1})
    assert rows(ws, "SELECT layer, reason FROM quarantine ORDER BY fid") == [
        ("reports", "unknown_category"), ("spotchecks", "not_rectified")]
    with open_workspace(ws) as w:
        w.append("rectifications", pd.DataFrame({"report_id": ["R1"], "rectified_at": ["2025-03-03 10:00"]}))
    out = _retry(capsys, ws, "--layer", "spotchecks")
    assert (out["retried"], out["accepted"]) == (1, 1)
    assert rows(ws, "SELECT layer, reason FROM quarantine") == [("reports", "unknown_category")]
    assert rows(ws, "SELECT status FROM reports") == [("verified",)]


def test_records_that_cannot_be_retried_stay_and_are_counted(tmp_path: Path, ws: Path, capsys) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("编号,上报时间,类别,经度,纬度\nR1,2025-03-01 08:00,垃圾乱倒,109.73,38.29,extra,fields\n",
                      encoding="utf-8")
    run_import(capsys, str(ws), "reports", str(ragged), "--coords", "wgs84")
    q = pd.DataFrame({"record": [9], "raw": ['{"x": 1}'], "reason": ["missing_value"], "detail": ["..."]})
    with open_workspace(ws) as w:  # appended without options: how to prepare it again is unknown
        w.append("reports", _NO_REPORTS, quarantine=q, source="api", source_digest="a")
    before = rows(ws, "SELECT * FROM quarantine ORDER BY fid")
    summary = retry_quarantine(ws)
    assert (summary.retried, summary.skipped) == (0, 2)
    assert summary.skipped_reasons == {"not_a_record": 1, "options_unknown": 1}
    assert "not retried 1: the raw text is not a record" in summary.describe()
    assert rows(ws, "SELECT * FROM quarantine ORDER BY fid") == before


def test_quarantine_lists_one_layer(tmp_path: Path, ws: Path, capsys) -> None:
    run_import(capsys, str(ws), "reports", str(_csv(tmp_path / "r.csv", HEADER, LEDGER)), "--coords", "wgs84")
    capsys.readouterr()
    assert main(["quarantine", str(ws), "--layer", "tracks"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["quarantine", str(ws), "--layer", "reports"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


# ----------------------------------------------------------------------------- schema 3 migration


def _make_v2(path: Path) -> None:
    """A schema-2 workspace with one quarantined record: no extra, alias table, import options nor import link."""
    _workspace(path)
    q = pd.DataFrame({"record": [2], "raw": ['{"编号": "R2"}'], "reason": ["missing_time"], "detail": ["..."]})
    with open_workspace(path) as w:
        w.append("reports", _NO_REPORTS, quarantine=q, source="old.csv",
                 source_digest="0" * 16, options={"coords": "wgs84"})
    downgrade_to_schema_2(path)


def test_schema_2_gets_import_options_and_the_quarantine_link(tmp_path: Path, capsys) -> None:
    old = tmp_path / "old.gpkg"
    _make_v2(old)
    with open_workspace(old) as w:
        assert w.schema_version == 4
        assert w.quarantine_with_options()["options"].isna().all()  # its import's options were never kept
    assert {"options"} <= {r[1] for r in rows(old, "PRAGMA table_info(gridmap_imports)")}
    assert {"import_fid"} <= {r[1] for r in rows(old, "PRAGMA table_info(quarantine)")}
    ledger = _csv(tmp_path / "r.csv", HEADER, LEDGER[:1])
    run_import(capsys, str(old), "reports", str(ledger), "--coords", "wgs84")
    main(["category", str(old), "--add", "illegal_ads", "乱贴小广告"])
    out = _retry(capsys, old)
    assert (out["retried"], out["accepted"], out["skipped"]) == (1, 1, 1)
    assert out["skipped_reasons"] == {"options_unknown": 1}
    assert rows(old, "SELECT source, reason FROM quarantine") == [("old.csv", "missing_time")]
    assert set(pyogrio.read_info(old, layer="quarantine")["fields"]) >= {"raw", "import_fid"}
    options = json.loads(rows(old, "SELECT options FROM gridmap_imports ORDER BY fid DESC LIMIT 1")[0][0])
    assert options["coords"] == "wgs84" and options["retry"] is True


# ----------------------------------------------------------------------------- invariant


_ledger_rows = st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.booleans()), min_size=1, max_size=10)
_runs = itertools.count()


@settings(max_examples=10, deadline=None)
@given(ledger=_ledger_rows)
@example(ledger=[(0, True, False), (0, True, False), (1, True, True), (0, False, False)])
@example(ledger=[(0, False, True)])  # one swapped row only: degrees gone wrong, not metres (was a CRS refusal)
def test_import_then_retry_loses_nothing(tmp_path_factory, ledger) -> None:
    """Rows (content number, unknown category?, swapped?): a brute-force model of import + category + retry."""
    run = next(_runs)
    label = f"小广告{run}"  # a category of this example's own: the registry is process-wide
    body = []
    for content, unknown, swapped in ledger:
        lon, lat = 109.73 + content * 1e-3, 38.29
        x, y = (lat, lon) if swapped else (lon, lat)
        body.append([f"2025-03-01 08:{content:02d}", label if unknown else "垃圾乱倒", f"第{content}处", f"{x}", f"{y}"])
    folder = tmp_path_factory.mktemp("ledger")
    path = _csv(folder / "l.csv", HEADER[1:], body)
    rows_ok = [(c, u) for c, u, s in ledger if not s]
    known = [c for c, u in rows_ok if not u]
    unknown = [c for c, u in rows_ok if u]
    swapped = sum(s for _, _, s in ledger)
    try:
        with _workspace_open(folder / "w.gpkg") as w:
            first = import_file(w, "reports", path, coords="wgs84")
            assert (first.accepted, first.duplicates) == (len(set(known)), len(known) - len(set(known)))
            assert first.quarantined == swapped + len(unknown)
            w.add_category(f"ad_{run}", label)
            summary = retry_quarantine(w, "reports")
            assert summary.retried == first.quarantined  # the category is part of the content (and of the id)
            assert (summary.accepted, summary.duplicates) == (len(set(unknown)), len(unknown) - len(set(unknown)))
            assert summary.quarantined == swapped
            assert summary.reasons == ({"swapped_coordinates": swapped} if swapped else {})
            counts = w.counts()
    finally:
        CATEGORIES.pop(f"ad_{run}", None)
    assert (counts["reports"], counts["quarantine"]) == (len(set(rows_ok)), swapped)


def _workspace_open(path: Path):
    return open_workspace(_workspace(path))
