"""Imports of each kind of field file through ``gridmap import``, end to end: phone photos,
GPX tracks, rectifications (with the report lifecycle), and categories users add."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from gridmap.cli import main

Cap = pytest.CaptureFixture[str]


@pytest.fixture()
def ws(sample_copy: Path) -> Path:
    return sample_copy


@pytest.fixture()
def template(sample_template: Path) -> Path:
    return sample_template


def _json(capsys: Cap, argv: list[str]) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(argv + ["--json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code != 2 else {"err": out.err})


def _one(ws: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(ws)) as con:
        return con.execute(sql, params).fetchall()


def _dms(value: float) -> tuple[IFDRational, ...]:
    deg = int(value)
    minutes = int((value - deg) * 60)
    seconds = round(((value - deg) * 60 - minutes) * 60 * 1000)
    return IFDRational(deg), IFDRational(minutes), IFDRational(seconds, 1000)


def _photo(path: Path, lon: float | None, lat: float | None, when: str) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769).update({0x9003: when, 0x9011: "+08:00"})
    if lon is not None and lat is not None:
        exif.get_ifd(0x8825).update({1: "N", 2: _dms(lat), 3: "E", 4: _dms(lon)})
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (90, 90, 90)).save(path, "JPEG", exif=exif)


def test_photo_folder_imports_as_reports(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    album = tmp_path / "album"
    _photo(album / "a.jpg", 109.7312, 38.2903, "2025:04:02 09:15:00")
    _photo(album / "day2" / "b.JPG", 109.7330, 38.2890, "2025:04:03 16:40:00")
    _photo(album / "nogps.jpg", None, None, "2025:04:03 17:00:00")
    code, s = _json(capsys, ["import", str(ws), "reports", str(album), "--set", "category=卫生死角"])
    assert code == 0, s
    assert (s["read"], s["accepted"], s["quarantined"]) == (3, 2, 1) and s["reasons"] == {"no_gps": 1}
    rows = _one(ws, "SELECT category, source, photo, reported_at FROM reports WHERE report_id LIKE 'PHOTO-%'"
                    " ORDER BY reported_at")
    assert [r[0] for r in rows] == ["sanitation_dead_corner"] * 2
    assert {r[1] for r in rows} == {"photo"}
    assert rows[0][2].endswith("a.jpg") and rows[1][2].endswith("b.JPG")
    # 09:15 at +08:00 is 01:15 UTC
    assert rows[0][3].startswith("2025-04-02T01:15:00")
    # the photo's EXIF position (WGS84) is stored as is: 38.2903 N, 109.7312 E
    stored = gpd.read_file(ws, layer="reports", where="photo LIKE '%a.jpg'")
    assert stored.geometry.iloc[0].x == pytest.approx(109.7312, abs=1e-6)
    assert stored.geometry.iloc[0].y == pytest.approx(38.2903, abs=1e-6)


def test_photos_without_a_category_are_refused_with_the_fix(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    _photo(tmp_path / "p" / "a.jpg", 109.7312, 38.2903, "2025:04:02 09:15:00")
    code, s = _json(capsys, ["import", str(ws), "reports", str(tmp_path / "p")])
    assert code == 2 and "category" in s["err"]


GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="phone" xmlns="http://www.topografix.com/GPX/1/1">
<trk><name>巡查</name><trkseg>
<trkpt lat="38.2900" lon="109.7300"><time>2025-03-03T00:30:00Z</time></trkpt>
<trkpt lat="38.2901" lon="109.7301"><time>2025-03-03T00:30:10Z</time></trkpt>
<trkpt lat="38.2902" lon="109.7302"><time>2025-03-03T00:30:20Z</time></trkpt>
<trkpt lat="38.2902" lon="109.7302"><time>2025-03-03T00:30:20Z</time></trkpt>
<trkpt lat="38.2903"><time>2025-03-03T00:30:30Z</time></trkpt>
<trkpt lat="38.2904" lon="109.7304"></trkpt>
</trkseg></trk></gpx>
"""


def test_gpx_track_imports_as_fixes_of_an_inspector(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    gpx = tmp_path / "walk.gpx"
    gpx.write_text(GPX, encoding="utf-8")
    code, s = _json(capsys, ["import", str(ws), "tracks", str(gpx), "--inspector", "巡查员甲"])
    assert code == 0
    # 6 points: 3 stored, 1 repeated fix (same inspector and time), 1 without lon, 1 without time
    assert (s["read"], s["accepted"], s["duplicates"], s["quarantined"]) == (6, 3, 1, 2)
    assert s["reasons"] == {"missing_coordinates": 1, "missing_time": 1}
    rows = _one(ws, "SELECT time FROM tracks WHERE inspector = '巡查员甲' ORDER BY time")
    assert [r[0][:19] for r in rows] == ["2025-03-03T00:30:00", "2025-03-03T00:30:10", "2025-03-03T00:30:20"]


def test_gpx_without_an_inspector_is_refused(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    gpx = tmp_path / "walk.gpx"
    gpx.write_text(GPX, encoding="utf-8")
    code, s = _json(capsys, ["import", str(ws), "tracks", str(gpx)])
    assert code == 2 and "inspector" in s["err"]


def test_rectifications_move_reports_along_their_lifecycle(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    reports = tmp_path / "r.csv"
    reports.write_text("report_id,reported_at,category,description,lon,lat\n"
                       "L1,2025-05-01 08:00,垃圾乱倒,a,109.731,38.291\n"
                       "L2,2025-05-01 09:00,垃圾乱倒,b,109.732,38.291\n"
                       "L3,2025-05-01 10:00,垃圾乱倒,c,109.733,38.291\n", encoding="utf-8")
    assert _json(capsys, ["import", str(ws), "reports", str(reports), "--coords", "wgs84"])[1]["accepted"] == 3
    fixes = tmp_path / "fix.csv"
    fixes.write_text("report_id,整改时间,核验时间,整改人,吨数,车次\n"
                     "L1,2025-05-02 10:00,,张三,1.5,2\n"
                     "L2,2025-05-02 11:00,2025-05-03 09:00,李四,0.5,1\n"
                     "L9,2025-05-02 12:00,,王五,abc,1\n", encoding="utf-8")
    code, s = _json(capsys, ["import", str(ws), "rectifications", str(fixes)])
    assert code == 0 and (s["read"], s["accepted"], s["quarantined"]) == (3, 2, 1)
    assert s["reasons"] == {"unparseable_value": 1}
    status = dict(_one(ws, "SELECT report_id, status FROM reports WHERE report_id IN ('L1','L2','L3')"))
    assert status == {"L1": "rectified", "L2": "verified", "L3": "reported"}
    tonnes = _one(ws, "SELECT sum(tonnes), sum(truck_trips) FROM rectifications WHERE report_id IN ('L1','L2')")
    assert tonnes == [(2.0, 3)]


def test_added_category_persists_in_the_workspace(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    assert main(["category", str(ws), "--add", "illegal_ad_posting", "乱贴小广告", "--en", "illegal ad posting"]) == 0
    csv = tmp_path / "ads.csv"
    csv.write_text("report_id,reported_at,category,description,lon,lat\n"
                   "AD1,2025-05-01 08:00,乱贴小广告,电线杆,109.731,38.291\n", encoding="utf-8")
    # a new process knows the category only from the workspace
    result = subprocess.run([sys.executable, "-m", "gridmap", "import", str(ws), "reports", str(csv),
                             "--coords", "wgs84", "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] == 1
    assert _one(ws, "SELECT category FROM reports WHERE report_id = 'AD1'") == [("illegal_ad_posting",)]
    listing = subprocess.run([sys.executable, "-m", "gridmap", "category", str(ws)], capture_output=True, text=True)
    assert "乱贴小广告" in listing.stdout and "垃圾乱倒" in listing.stdout


def test_bad_set_argument_is_a_clear_error(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    capsys.readouterr()
    assert main(["import", str(ws), "reports", str(tmp_path / "x.csv"), "--set", "nonsense"]) == 2
    assert "COLUMN=VALUE" in capsys.readouterr().err


def test_sample_statuses_agree_with_rectifications(template: Path) -> None:
    with closing(sqlite3.connect(template)) as con:
        reports = pd.read_sql("SELECT report_id, status FROM reports", con)
        fixes = pd.read_sql("SELECT report_id, rectified_at, verified_at FROM rectifications", con)
    latest = fixes.sort_values("rectified_at").groupby("report_id").last()
    merged = reports.set_index("report_id").join(latest, how="inner")
    rectified_or_verified = merged[merged["status"].isin(["rectified", "verified"])]
    expected = rectified_or_verified["verified_at"].notna().map({True: "verified", False: "rectified"})
    assert (rectified_or_verified["status"] == expected).mean() > 0.95
