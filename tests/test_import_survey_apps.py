"""Survey-app exports (ODK Central, KoboToolbox) and ``--set`` on files that already have the column.

Every import is checked for read = accepted + duplicates + quarantined, and the stored values
against the values written into the file (ids, instants, positions), never against gridmap's output.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from gridmap.cli import main
from gridmap.io.base import ReadResult, quarantine_frame
from gridmap.io.records import prepare
from gridmap.storage import open_workspace


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "w.gpkg"
    assert main(["init", str(ws)]) == 0
    return ws


def _import(ws: Path, layer: str, path: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    code = main(["import", str(ws), layer, str(path), *extra, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out)
    summary = summary[0] if isinstance(summary, list) else summary
    assert summary["read"] == summary["accepted"] + summary["duplicates"] + summary["quarantined"]
    return summary


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ----------------------------------------------------------------------------- --set fills empty values


def test_set_fills_every_empty_category_and_keeps_the_files_values(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path)
    rows = [["R1", "2025-03-01 08:00", "109.7301", "38.2901", "垃圾乱倒"],
            ["R2", "2025-03-01 09:00", "109.7302", "38.2902", ""],
            ["R3", "2025-03-01 10:00", "109.7303", "38.2903", "   "],
            ["R4", "2025-03-01 11:00", "109.7304", "38.2904", ""]]
    path = _write_csv(tmp_path / "r.csv", ["编号", "上报时间", "经度", "纬度", "问题类型"], rows)
    summary = _import(ws, "reports", path, "--coords", "wgs84", "--set", "category=卫生死角", capsys=capsys)
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (4, 4, 0)
    stored = open_workspace(ws).read_layer("reports").set_index("report_id")["category"]
    assert stored.to_dict() == {"R1": "garbage_dumping", "R2": "sanitation_dead_corner",
                                "R3": "sanitation_dead_corner", "R4": "sanitation_dead_corner"}


GPX_WAYPOINTS = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <wpt lat="38.2901000" lon="109.7301000"><name>垃圾点1</name></wpt>
  <wpt lat="38.2952000" lon="109.7355000"><name>垃圾点2</name></wpt>
</gpx>
"""


def test_gpx_waypoints_go_into_targets_with_set_kind(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path)
    path = tmp_path / "points.gpx"
    path.write_text(GPX_WAYPOINTS, encoding="utf-8")
    summary = _import(ws, "targets", path, "--set", "kind=garbage_point", capsys=capsys)
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (2, 2, 0)
    stored = open_workspace(ws).read_layer("targets").set_index("target_id")
    assert stored["kind"].to_dict() == {"垃圾点1": "garbage_point", "垃圾点2": "garbage_point"}
    assert stored["name"].to_dict() == {"垃圾点1": "垃圾点1", "垃圾点2": "垃圾点2"}
    assert stored.geometry["垃圾点2"].x == pytest.approx(109.7355, abs=1e-7)
    assert stored.geometry["垃圾点2"].y == pytest.approx(38.2952, abs=1e-7)


# ----------------------------------------------------------------------------- ODK Central and KoboToolbox

ODK_HEADER = ["SubmissionDate", "start", "end", "today", "deviceid", "grp-问题类型", "category", "描述",
              "location-Latitude", "location-Longitude", "location-Altitude", "location-Accuracy",
              "meta-instanceID", "KEY", "SubmitterID", "SubmitterName", "AttachmentsPresent",
              "AttachmentsExpected", "Status", "ReviewState", "DeviceID", "Edits", "FormVersion"]
# (KEY, SubmissionDate, start, category, lat, lon)
ODK_ROWS = [
    ("uuid:6c1b7f0e-0001", "2025-03-02T09:30:12.345Z", "2025-03-02T17:20:01.000+08:00", "垃圾乱倒",
     "38.2912345", "109.7312345"),
    ("uuid:6c1b7f0e-0002", "2025-03-02T10:01:00.000Z", "2025-03-02T17:55:00.000+08:00", "卫生死角",
     "38.2923456", "109.7423456"),
    ("uuid:6c1b7f0e-0003", "2025-03-03T01:02:03.004Z", "2025-03-03T08:59:00.000+08:00", "垃圾乱倒",
     "38.2834567", "109.7234567"),
    ("uuid:6c1b7f0e-0004", "2025-03-03T02:00:00.000Z", "2025-03-03T09:58:00.000+08:00", "垃圾乱倒", "", ""),
]


def _odk_csv(path: Path) -> Path:
    rows = []
    for n, (key, submitted, start, category, lat, lon) in enumerate(ODK_ROWS, start=1):
        status = "missingEncryptedFormData" if n == 2 else ""  # Central's own column, not the report's status
        rows.append([submitted, start, start, start[:10], f"collect:abc{n}", "", category, f"第{n}处",
                     lat, lon, "1050.5" if lat else "", "4.8" if lat else "", key, key, "5", "巡查员A",
                     "0", "0", status, "approved", f"collect:abc{n}", "0", "2025030101"])
    return _write_csv(path, ODK_HEADER, rows)


KOBO_HEADER = ["start", "end", "问题类型", "location", "_location_latitude", "_location_longitude",
               "_location_altitude", "_location_precision", "描述", "_id", "_uuid", "_submission_time",
               "_validation_status", "_notes", "_status", "_submitted_by", "__version__", "_tags", "_index"]
# (_uuid, _submission_time (UTC by Kobo's definition), start, 问题类型, lat, lon)
KOBO_ROWS = [
    ("2f8a9c1e-aaaa-4b1f-9d1e-000000000001", "2025-03-02T09:30:12", "2025-03-02T17:20:01.000+08:00",
     "垃圾乱倒", "38.2856789", "109.7356789"),
    ("2f8a9c1e-aaaa-4b1f-9d1e-000000000002", "2025-03-02T23:59:59", "2025-03-03T07:50:00.000+08:00",
     "垃圾乱倒", "38.2867891", "109.7367891"),
    ("2f8a9c1e-aaaa-4b1f-9d1e-000000000003", "2025-03-04T00:00:01", "2025-03-04T07:40:00.000+08:00",
     "卫生死角", "", ""),
]


def _kobo_csv(path: Path) -> Path:
    rows = []
    for n, (uuid, submitted, start, category, lat, lon) in enumerate(KOBO_ROWS, start=1):
        raw = f"{lat} {lon} 1050.5 4.8" if lat else ""
        rows.append([start, start, category, raw, lat, lon, "1050.5" if lat else "", "4.8" if lat else "",
                     f"第{n}处", str(1000 + n), uuid, submitted, "", "[]", "submitted_via_web", "inspector_a",
                     "vK3x", "[]", str(n)])
    return _write_csv(path, KOBO_HEADER, rows)


@pytest.mark.parametrize("app", ["odk", "kobo"])
def test_survey_export_imports_without_mapping_or_coords(tmp_path: Path, capsys, app: str) -> None:
    ws = _workspace(tmp_path)
    if app == "odk":
        path, rows = _odk_csv(tmp_path / "odk.csv"), ODK_ROWS
        expected_time = {key: pd.Timestamp(submitted) for key, submitted, *_ in rows}
    else:
        path, rows = _kobo_csv(tmp_path / "kobo.csv"), KOBO_ROWS
        expected_time = {key: pd.Timestamp(submitted).tz_localize("UTC") for key, submitted, *_ in rows}
    summary = _import(ws, "reports", path, capsys=capsys)
    complete = [r for r in rows if r[4]]
    assert (summary["read"], summary["accepted"], summary["duplicates"], summary["quarantined"]) == (
        len(rows), len(complete), 0, len(rows) - len(complete))
    stored = open_workspace(ws).read_layer("reports").set_index("report_id")
    assert sorted(stored.index) == sorted(r[0] for r in complete)
    categories = {"垃圾乱倒": "garbage_dumping", "卫生死角": "sanitation_dead_corner"}
    for key, _submitted, _start, category, lat, lon in complete:
        assert pd.Timestamp(stored.loc[key, "reported_at"]) == expected_time[key]
        assert stored.loc[key, "category"] == categories[category]
        assert stored.geometry[key].x == pytest.approx(float(lon), abs=1e-7)
        assert stored.geometry[key].y == pytest.approx(float(lat), abs=1e-7)
    assert summary["reasons"] == {"missing_coordinates": 1}


def test_start_time_is_the_report_time_without_a_submission_time(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path)
    header = ["start", "end", "category", "location-Latitude", "location-Longitude", "meta-instanceID"]
    rows = [["2025-03-02T17:20:01.000+08:00", "2025-03-02T17:25:00.000+08:00", "垃圾乱倒",
             "38.29", "109.73", "uuid:x1"],
            ["2025-03-02 18:00:00", "2025-03-02 18:05:00", "垃圾乱倒", "38.291", "109.731", "uuid:x2"]]
    summary = _import(ws, "reports", _write_csv(tmp_path / "s.csv", header, rows), capsys=capsys)
    assert (summary["read"], summary["accepted"]) == (2, 2)
    stored = open_workspace(ws).read_layer("reports").set_index("report_id")["reported_at"]
    assert pd.Timestamp(stored["uuid:x1"]) == pd.Timestamp("2025-03-02T09:20:01Z")
    assert pd.Timestamp(stored["uuid:x2"]) == pd.Timestamp("2025-03-02T10:00:00Z")  # Asia/Shanghai, no zone


def test_plain_lon_lat_csv_still_needs_coords(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path)
    path = _write_csv(tmp_path / "p.csv", ["编号", "上报时间", "经度", "纬度", "问题类型"],
                      [["R1", "2025-03-01 08:00", "109.73", "38.29", "垃圾乱倒"]])
    capsys.readouterr()
    assert main(["import", str(ws), "reports", str(path)]) != 0
    captured = capsys.readouterr()
    assert "--coords" in captured.out + captured.err


_EMPTY = st.sampled_from([None, float("nan"), "", "  ", "\t"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(_EMPTY, st.sampled_from(["垃圾乱倒", "卫生死角", " 柴草垛 "])), min_size=1, max_size=12),
       st.sampled_from(["垃圾乱倒", "柴草垛"]))
def test_set_fills_exactly_the_empty_values(values: list, fill: str) -> None:
    n = len(values)
    records = gpd.GeoDataFrame(
        {"编号": [f"R{i}" for i in range(n)], "上报时间": ["2025-03-01 08:00"] * n, "类别": values,
         "_record": np.arange(1, n + 1)},
        geometry=[Point(109.73 + i * 1e-4, 38.29) for i in range(n)], crs=4326)
    original = records.copy()
    batch = prepare("reports", ReadResult(records, quarantine_frame(), "r.geojson", "ab" * 8),
                    defaults={"category": fill}, now=pd.Timestamp("2025-03-10 12:00"))
    keys = {"垃圾乱倒": "garbage_dumping", "卫生死角": "sanitation_dead_corner", "柴草垛": "firewood_pile"}

    def empty(v: object) -> bool:
        return v is None or (isinstance(v, float) and np.isnan(v)) or not str(v).strip()

    expected = [keys[fill if empty(v) else v.strip()] for v in values]
    assert batch.accepted["category"].tolist() == expected
    pd.testing.assert_frame_equal(records, original)  # the caller's frame is not modified


@pytest.mark.parametrize("app", ["odk", "kobo"])
def test_questions_inside_a_group_are_recognised(tmp_path: Path, capsys, app: str) -> None:
    ws = _workspace(tmp_path)
    if app == "odk":
        header = ["SubmissionDate", "grp-问题类型", "grp-描述", "grp-location-Latitude", "grp-location-Longitude",
                  "meta-instanceID", "KEY", "Status"]
        rows = [["2025-03-02T09:30:12.345Z", "垃圾乱倒", "路边一堆", "38.29", "109.73", "uuid:g1", "uuid:g1", ""],
                ["2025-03-02T09:40:00.000Z", "卫生死角", "墙角", "38.291", "109.731", "uuid:g2", "uuid:g2", ""]]
    else:
        header = ["start", "grp/问题类型", "grp/描述", "_grp/location_latitude", "_grp/location_longitude",
                  "_uuid", "_submission_time"]
        rows = [["2025-03-02T17:20:01.000+08:00", "垃圾乱倒", "路边一堆", "38.29", "109.73", "g1",
                 "2025-03-02T09:30:12"],
                ["2025-03-02T17:30:01.000+08:00", "卫生死角", "墙角", "38.291", "109.731", "g2",
                 "2025-03-02T09:40:00"]]
    summary = _import(ws, "reports", _write_csv(tmp_path / f"{app}.csv", header, rows), capsys=capsys)
    assert (summary["read"], summary["accepted"]) == (2, 2)
    stored = open_workspace(ws).read_layer("reports").sort_values("report_id")
    assert stored["category"].tolist() == ["garbage_dumping", "sanitation_dead_corner"]
    assert stored["description"].tolist() == ["路边一堆", "墙角"]
    assert stored["report_id"].tolist() == [r[-3] if app == "odk" else r[-2] for r in rows]


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
  <Placemark><name>K1</name><TimeStamp><when>2025-03-02T09:00:00+08:00</when></TimeStamp>
    <Point><coordinates>109.7301,38.2901</coordinates></Point></Placemark>
  <Placemark><name>K2</name><Point><coordinates>109.7302,38.2902</coordinates></Point></Placemark>
</Document></kml>
"""


def test_set_fills_a_kml_placemark_without_a_time(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path)
    path = tmp_path / "p.kml"
    path.write_text(KML, encoding="utf-8")
    summary = _import(ws, "reports", path, "--set", "reported_at=2025-03-01 08:00", "--set", "category=垃圾乱倒",
                      capsys=capsys)
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (2, 2, 0)
    stored = open_workspace(ws).read_layer("reports").set_index("report_id")["reported_at"]
    assert pd.Timestamp(stored["K1"]) == pd.Timestamp("2025-03-02T01:00:00Z")  # the file's time wins
    assert pd.Timestamp(stored["K2"]) == pd.Timestamp("2025-03-01T00:00:00Z")  # 08:00 Asia/Shanghai
