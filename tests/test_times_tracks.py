"""Issue 12: times, GPS tracks and coordinates as offices deliver them.

Each file is built the way an office or a device makes it (a GPX from a phone with waypoints marked
among the fixes, a watch platform's CSV export with several devices, a surveyor's ledger with x/y in
metres, a QField/Mergin GeoPackage with several layers). Every import is checked for
read = accepted + duplicates + quarantined, and the stored values against values computed
independently of gridmap (the instants written into the file, positions transformed with pyproj
directly, to 1 cm), never against gridmap's own output.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import pytest
from _imports import adds_up, rows, run_import
from hypothesis import example, given
from hypothesis import strategies as st
from shapely.geometry import Point, box

from gridmap.cli import main
from gridmap.io.base import ReadResult, quarantine_frame
from gridmap.model import QUARANTINE_REASONS
from gridmap.io.records import prepare
from gridmap.storage import open_workspace

UTC = dt.timezone.utc
CST = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai: UTC+8 since 1991 (no daylight saving)
#: The district: points around Yulin's old town, and a subdistrict polygon holding them.
LON0, LAT0 = 109.7301, 38.2901


def _workspace(tmp_path: Path, *, subdistrict: bool = False) -> Path:
    ws = tmp_path / "w.gpkg"
    assert main(["init", str(ws)]) == 0
    if subdistrict:
        area = gpd.GeoDataFrame({"code": ["610802001"], "name": ["鼓楼街道"]},
                                geometry=[box(LON0 - 0.05, LAT0 - 0.05, LON0 + 0.05, LAT0 + 0.05)], crs=4326)
        path = tmp_path / "subdistrict.geojson"
        area.to_file(path, engine="pyogrio")
        assert main(["import", str(ws), "subdistrict", str(path)]) == 0
    return ws


def _ok(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, summary = run_import(capsys, *args)
    assert code == 0, summary
    adds_up(summary)
    return summary


def _metres(lon_a: float, lat_a: float, lon_b: float, lat_b: float) -> float:
    """Geodesic distance on WGS84 (pyproj.Geod), for "right to 1 cm"."""
    return float(pyproj.Geod(ellps="WGS84").inv(lon_a, lat_a, lon_b, lat_b)[2])


def _quarantine(ws: Path) -> list[tuple]:
    return rows(ws, "SELECT record, reason, detail, raw FROM quarantine ORDER BY record")


# ----------------------------------------------------------------------------- implausible times


def _track_csv(path: Path, lines: list[tuple[str, str, float, float]]) -> Path:
    text = "巡查员,定位时间,经度,纬度\n" + "".join(f"{a},{t},{x},{y}\n" for a, t, x, y in lines)
    path.write_text(text, encoding="utf-8")
    return path


def test_times_before_2000_are_quarantined_not_duplicates(tmp_path: Path, capsys) -> None:
    # a watch whose clock reset: the 32-bit minimum and Unix time 0, at different positions each
    ws = _workspace(tmp_path)
    lines = [("甲", "1901-12-13T20:45:52Z", LON0 + i * 1e-4, LAT0) for i in range(5)]
    lines += [("甲", "1970-01-01 08:00:00", LON0, LAT0 + i * 1e-4) for i in range(3)]
    lines += [("甲", "1999-12-31 23:59:59", LON0, LAT0), ("甲", "2000-01-01 00:00:00", LON0 + 0.001, LAT0)]
    lines += [("甲", "2025-03-01 08:00:00", LON0, LAT0)]
    s = _ok(capsys, str(ws), "tracks", str(_track_csv(tmp_path / "watch.csv", lines)), "--coords", "wgs84")
    assert (s["read"], s["accepted"], s["duplicates"], s["quarantined"]) == (11, 2, 0, 9)
    assert s["reasons"] == {"implausible_time": 9}
    stored = rows(ws, "SELECT time FROM tracks ORDER BY time")
    assert stored == [("1999-12-31T16:00:00.000Z",), ("2025-03-01T00:00:00.000Z",)]
    q = _quarantine(ws)
    assert [r[0] for r in q] == list(range(1, 10))
    assert all("before 2000-01-01" in r[2] and "write the real time" in r[2] for r in q)
    assert json.loads(q[0][3])["定位时间"] == "1901-12-13T20:45:52Z"  # the raw value is kept
    assert "implausible_time" in QUARANTINE_REASONS


def test_gpx_with_the_32_bit_minimum_time_is_quarantined(tmp_path: Path, capsys) -> None:
    # the gpxpy test file's case: many fixes at one bogus time and different positions
    ws = _workspace(tmp_path)
    pts = "".join(f'<trkpt lat="{LAT0 + i * 1e-4:.6f}" lon="{LON0:.6f}"><time>1901-12-13T20:45:52Z</time></trkpt>'
                  for i in range(183))
    gpx = tmp_path / "old.gpx"
    gpx.write_text(f'<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{pts}'
                   "</trkseg></trk></gpx>", encoding="utf-8")
    s = _ok(capsys, str(ws), "tracks", str(gpx), "--inspector", "甲")
    assert (s["read"], s["accepted"], s["duplicates"], s["reasons"]) == (183, 0, 0, {"implausible_time": 183})


EARLIEST = dt.datetime(2000, 1, 1, tzinfo=CST)
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SLACK = dt.timedelta(minutes=10)


def _expected_verdict(t: dt.datetime) -> str:
    """The rule, stated independently: before 2000-01-01 (China time) implausible, later than now + 10 min future."""
    if t < EARLIEST:
        return "implausible_time"
    if t > NOW + SLACK:
        return "future_time"
    return "accepted"


@given(st.integers(min_value=-70 * 365 * 86400 * 10**6, max_value=130 * 365 * 86400 * 10**6))
@example(int((EARLIEST - dt.datetime(1970, 1, 1, tzinfo=UTC)) / dt.timedelta(microseconds=1)))  # the first ok
@example(int((EARLIEST - dt.datetime(1970, 1, 1, tzinfo=UTC)) / dt.timedelta(microseconds=1)) - 1)
@example(0)  # Unix time 0
@example(-(2**31) * 10**6)  # the 32-bit time_t minimum, 1901-12-13T20:45:52Z
@example(int((NOW + SLACK - dt.datetime(1970, 1, 1, tzinfo=UTC)) / dt.timedelta(microseconds=1)))
@example(int((NOW + SLACK - dt.datetime(1970, 1, 1, tzinfo=UTC)) / dt.timedelta(microseconds=1)) + 1)
def test_time_plausibility_rule(micros: int) -> None:
    t = dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=micros)
    text = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    records = pd.DataFrame({"inspector": ["甲"], "time": [text], "lon": [LON0], "lat": [LAT0], "_record": [1]})
    batch = prepare("tracks", ReadResult(records, quarantine_frame(), "t.csv", "0" * 16, coords="wgs84"),
                    now=pd.Timestamp(NOW))
    verdict = _expected_verdict(t)
    assert batch.read == len(batch.accepted) + len(batch.quarantine) == 1
    if verdict == "accepted":
        assert len(batch.accepted) == 1
        assert batch.accepted["time"].iloc[0].to_pydatetime() == t  # to the microsecond
    else:
        assert batch.quarantine["reason"].tolist() == [verdict]


# ----------------------------------------------------------------------------- sub-millisecond times


def test_sub_millisecond_fixes_are_not_merged(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path)
    lines = [
        ("甲", "2025-03-01T00:00:00.000000Z", LON0, LAT0),            # kept
        ("甲", "2025-03-01T00:00:00.000300Z", LON0 + 0.0002, LAT0),   # 0.3 ms later, elsewhere: not a duplicate
        ("乙", "2025-03-01T00:00:00.000300Z", LON0, LAT0),            # another inspector: its own key
        ("甲", "2025-03-01T00:00:00.000000Z", LON0, LAT0),            # the same fix twice: a duplicate
        ("甲", "2025-03-01T00:00:01.000800Z", LON0, LAT0 + 0.0001),   # .0008 and .0012: different milliseconds
        ("甲", "2025-03-01T00:00:01.001200Z", LON0, LAT0 + 0.0002),
    ]
    s = _ok(capsys, str(ws), "tracks", str(_track_csv(tmp_path / "fast.csv", lines)), "--coords", "wgs84")
    assert (s["read"], s["accepted"], s["duplicates"], s["quarantined"]) == (6, 4, 1, 1)
    assert s["reasons"] == {"sub_millisecond_time": 1}
    q = _quarantine(ws)
    assert q[0][0] == 2 and "less than a millisecond" in q[0][2]
    assert json.loads(q[0][3])["定位时间"] == "2025-03-01T00:00:00.000300Z"
    stored = sorted(rows(ws, "SELECT inspector, time FROM tracks"))
    assert stored == sorted([("甲", "2025-03-01T00:00:00.000Z"), ("甲", "2025-03-01T00:00:01.000Z"),
                             ("甲", "2025-03-01T00:00:01.001Z"), ("乙", "2025-03-01T00:00:00.000Z")])
    expected = sorted([("甲", dt.datetime(2025, 3, 1, 0, 0, 0, 0, tzinfo=UTC)),
                       ("甲", dt.datetime(2025, 3, 1, 0, 0, 1, 0, tzinfo=UTC)),
                       ("甲", dt.datetime(2025, 3, 1, 0, 0, 1, 1000, tzinfo=UTC)),
                       ("乙", dt.datetime(2025, 3, 1, 0, 0, 0, 0, tzinfo=UTC))])
    with open_workspace(ws) as w:
        back = w.read_layer("tracks")
    assert sorted((str(a), t.to_pydatetime()) for a, t in zip(back["inspector"], back["time"])) == expected
    # GDAL (what QGIS uses) reads the stored text as the same instants, without a "non-conformant" warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gdal = pyogrio.read_dataframe(ws, layer="tracks", columns=["inspector", "time"], read_geometry=False)
    times = pd.to_datetime(gdal["time"], utc=True)
    assert sorted((str(a), t.to_pydatetime()) for a, t in zip(gdal["inspector"], times)) == expected


def _expected_sub_ms(micros: list[int]) -> list[str]:
    """The rule stated independently: within one millisecond (floored) the earliest time is kept, rows with
    exactly that time are left to the duplicate check, every other row is refused."""
    earliest: dict[int, int] = {}
    for m in micros:
        earliest[m // 1000] = min(earliest.get(m // 1000, m), m)
    return ["accepted" if m == earliest[m // 1000] else "sub_millisecond_time" for m in micros]


@given(st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=12))
@example([300, 0])  # the later row comes first in the file: the earlier one is still the one kept
@example([999, 1000])  # 1 µs apart across a millisecond boundary: both kept
@example([0, 0, 300])
def test_sub_millisecond_rule(micros: list[int]) -> None:
    base = dt.datetime(2025, 3, 1, tzinfo=UTC)
    times = [(base + dt.timedelta(microseconds=m)).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for m in micros]
    n = len(micros)
    records = pd.DataFrame({"inspector": ["甲"] * n, "time": times, "lon": [LON0 + i * 1e-5 for i in range(n)],
                            "lat": [LAT0] * n, "_record": range(1, n + 1)})
    batch = prepare("tracks", ReadResult(records, quarantine_frame(), "t.csv", "0" * 16, coords="wgs84"),
                    now=pd.Timestamp(NOW))
    assert batch.read == len(batch.accepted) + len(batch.quarantine) == n
    verdicts = dict(zip(batch.quarantine["record"], batch.quarantine["reason"]))
    got = [verdicts.get(i + 1, "accepted") for i in range(n)]
    assert got == _expected_sub_ms(micros)


# ----------------------------------------------------------------------------- GPX waypoints


def _gpx(waypoints: str, track: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="两步路" '
            f'xmlns="http://www.topografix.com/GPX/1/1">{waypoints}{track}'
            '<rte><rtept lat="38.30" lon="109.74"/></rte></gpx>')


WPTS = ('<wpt lat="38.2950" lon="109.7350"><time>2025-03-01T00:02:00Z</time><name>垃圾点1</name></wpt>'
        '<wpt lat="38.2960" lon="109.7360"><time>2025-03-01T00:03:00Z</time><name>垃圾点2</name></wpt>')
TRKPTS = [(38.2901 + i * 1e-4, 109.7301 + i * 1e-4, f"2025-03-01T00:0{i}:00Z") for i in range(5)]
TRACK = ("<trk><name>早班</name><trkseg>"
         + "".join(f'<trkpt lat="{la}" lon="{lo}"><time>{t}</time></trkpt>' for la, lo, t in TRKPTS)
         + "</trkseg></trk>")


def test_gpx_into_tracks_stores_track_points_only_and_says_what_it_left(tmp_path: Path, capsys, caplog) -> None:
    # a waypoint marked at 00:02 (the time of a track point, elsewhere) no longer displaces that fix
    ws = _workspace(tmp_path)
    gpx = tmp_path / "walk.gpx"
    gpx.write_text(_gpx(WPTS, TRACK), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="gridmap.io.gpx"):
        s = _ok(capsys, str(ws), "tracks", str(gpx), "--inspector", "甲")
    assert (s["read"], s["accepted"], s["duplicates"], s["quarantined"]) == (5, 5, 0, 0)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "2 waypoints not imported" in said and "counts the 5 track points only" in said
    assert "gridmap import WORKSPACE targets walk.gpx --set kind=" in said and "reports walk.gpx" in said
    assert "1 route points" in said
    got = rows(ws, "SELECT time, track_id FROM tracks ORDER BY time")
    assert got == [(t.replace("Z", ".000Z"), "早班") for _, _, t in TRKPTS]
    with open_workspace(ws) as w:
        fixes = w.read_layer("tracks").sort_values("time")
    for (la, lo, _), geom in zip(TRKPTS, fixes.geometry):
        assert _metres(lo, la, geom.x, geom.y) < 0.01


def test_waypoint_only_gpx_is_refused_for_tracks_and_goes_to_targets_or_reports(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path)
    gpx = tmp_path / "points.gpx"
    gpx.write_text(_gpx(WPTS, ""), encoding="utf-8")
    code, out = run_import(capsys, str(ws), "tracks", str(gpx), "--inspector", "甲")
    assert code == 2
    assert "2 waypoints (wpt) and no track points" in out["err"]
    assert "gridmap import WORKSPACE targets points.gpx --set kind=" in out["err"]
    assert "gridmap import WORKSPACE reports points.gpx" in out["err"]
    assert rows(ws, "SELECT count(*) FROM tracks") == [(0,)] and rows(ws, "SELECT count(*) FROM quarantine") == [(0,)]
    s = _ok(capsys, str(ws), "targets", str(gpx), "--set", "kind=garbage_point")
    assert (s["read"], s["accepted"], s["quarantined"]) == (2, 2, 0)
    assert rows(ws, "SELECT target_id, kind FROM targets ORDER BY target_id") == [
        ("垃圾点1", "garbage_point"), ("垃圾点2", "garbage_point")]
    s = _ok(capsys, str(ws), "reports", str(gpx), "--set", "category=垃圾乱倒")
    assert (s["read"], s["accepted"], s["quarantined"]) == (2, 2, 0)
    assert rows(ws, "SELECT report_id, reported_at, category FROM reports ORDER BY report_id") == [
        ("垃圾点1", "2025-03-01T00:02:00.000Z", "garbage_dumping"),
        ("垃圾点2", "2025-03-01T00:03:00.000Z", "garbage_dumping")]


def test_track_points_are_not_targets(tmp_path: Path, capsys, caplog) -> None:
    ws = _workspace(tmp_path)
    gpx = tmp_path / "walk.gpx"
    gpx.write_text(_gpx(WPTS, TRACK), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="gridmap.io.gpx"):
        s = _ok(capsys, str(ws), "targets", str(gpx), "--set", "kind=garbage_point")
    assert (s["read"], s["accepted"]) == (2, 2)
    assert "5 track points not imported into targets" in " ".join(r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------- CSV with x/y in metres


def _gk(lon: float, lat: float, epsg: int) -> tuple[float, float]:
    return pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)


PLACES = [(109.7301, 38.2901), (109.7355, 38.2952), (109.7402, 38.2899), (109.7250, 38.2850)]


def _ledger(path: Path, east: str, north: str, epsg: int, *, north_first: bool = False) -> Path:
    head = [north, east] if north_first else [east, north]
    lines = ["编号,上报时间,问题类型," + ",".join(head)]
    for i, (lon, lat) in enumerate(PLACES, start=1):
        e, n = _gk(lon, lat, epsg)
        xy = [f"{n:.3f}", f"{e:.3f}"] if north_first else [f"{e:.3f}", f"{n:.3f}"]
        lines.append(f"TZ-{i},2025-03-0{i} 08:00,垃圾乱倒," + ",".join(xy))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _stored_vs_pyproj(ws: Path, epsg: int, ledger: Path) -> None:
    """Each stored point within 1 cm of the file's x/y transformed by pyproj directly."""
    table = pd.read_csv(ledger, dtype=str)
    e_col, n_col = [c for c in table.columns if c not in ("编号", "上报时间", "问题类型")]
    if table[e_col].astype(float).median() > 1e6 > table[n_col].astype(float).median():
        e_col, n_col = n_col, e_col
    back = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)
    with open_workspace(ws) as w:
        stored = w.read_layer("reports").set_index("report_id")
    assert len(stored) == len(table)
    for rid, e, n in zip(table["编号"], table[e_col].astype(float), table[n_col].astype(float)):
        lon, lat = back.transform(e, n)
        geom = stored.loc[rid].geometry
        assert _metres(lon, lat, geom.x, geom.y) < 0.01


@pytest.mark.parametrize("east, north, north_first", [
    ("x", "y", False), ("东坐标", "北坐标", False), ("Y坐标", "X坐标", True),  # surveyors: X is north
])
def test_ledger_in_metres_with_crs(tmp_path: Path, capsys, east: str, north: str, north_first: bool) -> None:
    ws = _workspace(tmp_path, subdistrict=True)
    ledger = _ledger(tmp_path / "ledger.csv", east, north, 4546, north_first=north_first)
    s = _ok(capsys, str(ws), "reports", str(ledger), "--crs", "EPSG:4546")
    assert (s["read"], s["accepted"], s["duplicates"], s["quarantined"]) == (4, 4, 0, 0)
    _stored_vs_pyproj(ws, 4546, ledger)
    assert rows(ws, "SELECT reported_at FROM reports ORDER BY report_id")[0] == ("2025-03-01T00:00:00.000Z",)


def test_a_ledger_of_swapped_degrees_is_not_taken_for_metres(tmp_path: Path, capsys) -> None:
    """Latitude/longitude swapped in every row (y = 109.7 > 90) are degrees gone wrong: each row is
    quarantined as swapped_coordinates, the file is not refused as a table of metres without a CRS."""
    ws = _workspace(tmp_path, subdistrict=True)
    ledger = tmp_path / "swapped.csv"
    ledger.write_text("编号,上报时间,类别,经度,纬度\n"
                      "S1,2025-03-01 08:00,垃圾乱倒,38.291,109.731\n"
                      "S2,2025-03-01 09:00,垃圾乱倒,38.292,109.732\n", encoding="utf-8")
    summary = _ok(capsys, str(ws), "reports", str(ledger), "--coords", "wgs84")
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (2, 0, 2)
    assert summary["reasons"] == {"swapped_coordinates": 2}


def test_ledger_in_metres_without_crs_names_the_crs(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path, subdistrict=True)
    ledger = _ledger(tmp_path / "ledger.csv", "东坐标", "北坐标", 4546)
    for extra in ([], ["--coords", "wgs84"], ["--coords", "gcj02"]):
        code, out = run_import(capsys, str(ws), "reports", str(ledger), *extra)
        assert code == 2, out
        assert "--crs EPSG:4546 (CGCS2000 / 3-degree Gauss-Kruger CM 111E)" in out["err"]
        assert "--crs EPSG:2382" in out["err"] and "coordinates_out_of_range" not in out["err"]
    code, out = run_import(capsys, str(ws), "reports", str(ledger), "--crs", "EPSG:4546", "--coords", "gcj02")
    assert code == 2 and "--coords is for longitude/latitude" in out["err"] and "--crs" in out["err"]
    assert rows(ws, "SELECT count(*) FROM reports") == [(0,)] and rows(ws, "SELECT count(*) FROM quarantine") == [(0,)]


def test_ledger_with_zone_prefixed_x(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path, subdistrict=True)
    ledger = _ledger(tmp_path / "ledger.csv", "x", "y", 4525)  # 37xxxxxx: zone 37, CM 111E
    code, out = run_import(capsys, str(ws), "reports", str(ledger))
    assert code == 2 and "--crs EPSG:4525" in out["err"]
    s = _ok(capsys, str(ws), "reports", str(ledger), "--crs", "EPSG:4525")
    assert (s["read"], s["accepted"]) == (4, 4)
    _stored_vs_pyproj(ws, 4525, ledger)


def test_excel_ledger_in_metres_with_a_title_row(tmp_path: Path, capsys) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    ws = _workspace(tmp_path, subdistrict=True)
    csv_ledger = _ledger(tmp_path / "ledger.csv", "Y坐标", "X坐标", 4546, north_first=True)
    table = pd.read_csv(csv_ledger, dtype=str)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["鼓楼街道问题台账（2025年3月）"])
    sheet.append(list(table.columns))
    for values in table.itertuples(index=False):
        sheet.append([values[0], values[1], values[2], float(values[3]), float(values[4])])
    xlsx = tmp_path / "台账.xlsx"
    book.save(xlsx)
    code, out = run_import(capsys, str(ws), "reports", str(xlsx))
    assert code == 2 and "--crs EPSG:4546" in out["err"]
    code, out = run_import(capsys, str(ws), "reports", str(xlsx), "--crs", "EPSG:4546", "--coords", "bd09")
    assert code == 2 and "--coords is for longitude/latitude" in out["err"]
    s = _ok(capsys, str(ws), "reports", str(xlsx), "--crs", "EPSG:4546")
    assert (s["read"], s["accepted"], s["quarantined"]) == (4, 4, 0)
    _stored_vs_pyproj(ws, 4546, csv_ledger)


# ----------------------------------------------------------------------------- QField / Mergin GeoPackage


def _qfield_gpkg(path: Path) -> tuple[list[tuple], list[tuple]]:
    """Two layers as QField/Mergin Maps write them: fid, uuid, datetime, photo paths; 4326 and EPSG:4546."""
    reports = [("QF-1", dt.datetime(2025, 3, 1, 8, 5, 30, 250000, tzinfo=CST), 109.7311, 38.2911, "垃圾乱倒"),
               ("QF-2", dt.datetime(2025, 3, 2, 17, 40, 0, tzinfo=CST), 109.7322, 38.2922, "道路不洁")]
    frame = gpd.GeoDataFrame({
        "uuid": [f"{{{uuid.uuid4()}}}" for _ in reports],
        "编号": [r[0] for r in reports],
        "上报时间": pd.to_datetime([r[1] for r in reports]),
        "问题类型": [r[4] for r in reports],
        "photo": [f"DCIM/IMG_2025030{i}_0805.jpg" for i in (1, 2)],
    }, geometry=[Point(r[2], r[3]) for r in reports], crs=4326)
    pyogrio.write_dataframe(frame, path, layer="问题上报")
    points = [("东门垃圾点", 109.7350, 38.2950), ("西门垃圾点", 109.7250, 38.2860)]
    to_gk = pyproj.Transformer.from_crs(4326, 4546, always_xy=True)
    gk = gpd.GeoDataFrame({"uuid": [str(uuid.uuid4()) for _ in points], "名称": [p[0] for p in points],
                           "created": pd.to_datetime(["2025-02-20T09:00:00Z"] * 2)},
                          geometry=[Point(*to_gk.transform(p[1], p[2])) for p in points], crs=4546)
    pyogrio.write_dataframe(gk, path, layer="垃圾点位")
    return reports, points


def test_qfield_geopackage_imports_with_source_layer(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path, subdistrict=True)
    gpkg = tmp_path / "mergin_project.gpkg"
    reports, points = _qfield_gpkg(gpkg)
    code, out = run_import(capsys, str(ws), "reports", str(gpkg))
    assert code == 2 and "问题上报" in out["err"] and "垃圾点位" in out["err"] and "--source-layer" in out["err"]
    s = _ok(capsys, str(ws), "reports", str(gpkg), "--source-layer", "问题上报")
    assert (s["read"], s["accepted"], s["quarantined"]) == (2, 2, 0)
    with open_workspace(ws) as w:
        got = w.read_layer("reports").set_index("report_id")
    for rid, when, lon, lat, _ in reports:
        assert got.loc[rid, "reported_at"].to_pydatetime() == when
        assert _metres(lon, lat, got.loc[rid].geometry.x, got.loc[rid].geometry.y) < 0.01
    assert got.loc["QF-1", "photo"] == "DCIM/IMG_20250301_0805.jpg"
    s = _ok(capsys, str(ws), "targets", str(gpkg), "--source-layer", "垃圾点位", "--set", "kind=garbage_point")
    assert (s["read"], s["accepted"], s["quarantined"]) == (2, 2, 0)
    with open_workspace(ws) as w:
        targets = w.read_layer("targets").set_index("target_id")
    for name, lon, lat in points:  # written through pyproj to EPSG:4546 and back by gridmap
        assert _metres(lon, lat, targets.loc[name].geometry.x, targets.loc[name].geometry.y) < 0.01


# ----------------------------------------------------------------------------- a watch platform's export


def _watch_export(path: Path, header: list[str]) -> list[tuple[str, str, float, float]]:
    """Three watches reporting at the same minutes, plus one row whose device number is empty."""
    devices = ["862104051234567", "862104051234568", "862104051234569"]
    fixes = []
    for d, device in enumerate(devices):
        for minute in range(4):
            fixes.append((device, f"2025-03-01 08:{minute:02d}:00", LON0 + d * 1e-3, LAT0 + minute * 1e-4))
    fixes.append(("", "2025-03-01 08:00:00", LON0 + 0.01, LAT0))
    lines = [",".join(header)]
    lines += [f"{dev},{t},{x:.6f},{y:.6f},3.2,87%" for dev, t, x, y in fixes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return fixes


@pytest.mark.parametrize("header", [["设备号", "定位时间", "经度", "纬度", "速度", "电量"],
                                    ["IMEI", "GPS时间", "经度", "纬度", "速度", "电量"],
                                    ["终端编号", "gps_time", "经度", "纬度", "速度", "电量"]])
def test_watch_export_keeps_each_device_its_own_track(tmp_path: Path, capsys, header: list[str]) -> None:
    ws = _workspace(tmp_path)
    fixes = _watch_export(tmp_path / "watch.csv", header)
    s = _ok(capsys, str(ws), "tracks", str(tmp_path / "watch.csv"), "--coords", "wgs84", "--inspector", "备用手表")
    assert (s["read"], s["accepted"], s["duplicates"], s["quarantined"]) == (13, 13, 0, 0)
    counts = dict(rows(ws, "SELECT inspector, count(*) FROM tracks GROUP BY inspector"))
    assert counts == {"862104051234567": 4, "862104051234568": 4, "862104051234569": 4, "备用手表": 1}
    with open_workspace(ws) as w:
        got = w.read_layer("tracks")
    for dev, t, x, y in fixes:
        row = got[(got["inspector"] == (dev or "备用手表"))
                  & (got["time"] == pd.Timestamp(t, tz="Asia/Shanghai"))]
        assert len(row) == 1 and _metres(x, y, row.geometry.iloc[0].x, row.geometry.iloc[0].y) < 0.01


def test_inspector_only_fills_rows_without_a_device(tmp_path: Path, capsys) -> None:
    # without --inspector the row with no device is quarantined (missing_value), never merged into a device
    ws = _workspace(tmp_path)
    _watch_export(tmp_path / "watch.csv", ["设备号", "定位时间", "经度", "纬度", "速度", "电量"])
    s = _ok(capsys, str(ws), "tracks", str(tmp_path / "watch.csv"), "--coords", "wgs84")
    assert (s["read"], s["accepted"], s["duplicates"], s["reasons"]) == (13, 12, 0, {"missing_value": 1})
    assert len(rows(ws, "SELECT DISTINCT inspector FROM tracks")) == 3
