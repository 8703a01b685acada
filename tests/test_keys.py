"""Keys: ids derived from content for ledgers without ids, and key conflicts (issue 12, item 3).

Expected ids are computed here from the documented rule (SHA-1 of the canonical text), never by
calling gridmap's own hashing; expected outcomes of key conflicts from a brute-force model of the rule.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from gridmap.model import COLUMN_ALIASES, LAYERS
from gridmap.io.records import derived_ids, prepare
from gridmap.storage import init_workspace, open_workspace
from tests._imports import adds_up, rows, run_import

SUBDISTRICT = box(109.70, 38.25, 109.80, 38.33)
HEADER = ["序号", "上报时间", "问题类型", "问题描述", "经度", "纬度"]
MARCH = [
    ["1", "2025-03-01 08:05", "垃圾乱倒", "北大街口", "109.731234", "38.291234"],
    ["2", "2025-03-01 09:30", "污水乱泼", "", "109.74", "38.3"],
    ["3", "2025-03-02 10:00:00", "垃圾乱倒", "北大街口", "109.7500001", "38.2900002"],
]
APRIL = [
    ["1", "2025-04-01 08:05", "垃圾乱倒", "北大街口", "109.731234", "38.291234"],
    ["2", "2025-04-03 14:00", "柴草垛", "院内", "109.745", "38.305"],
]
CATEGORY_KEYS = {"垃圾乱倒": "garbage_dumping", "污水乱泼": "sewage_splashing", "柴草垛": "firewood_pile"}


def _expected_id(local_time: str, lon: float, lat: float, category: str, description: str) -> str:
    """The documented rule, computed independently: UTC time to the second, position to 1e-6°, key, text."""
    utc = pd.Timestamp(local_time).tz_localize("Asia/Shanghai").tz_convert("UTC").round("s")
    text = "\x1f".join([utc.strftime("%Y-%m-%dT%H:%M:%SZ"), f"POINT ({lon:.6f} {lat:.6f})", category, description])
    return "h-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _csv(path: Path, header: list[str], body: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(body)
    return path


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "w.gpkg"
    with init_workspace(path) as w:
        w.append("subdistrict", gpd.GeoDataFrame({"code": ["610802001"], "name": ["鼓楼街道"]},
                                                 geometry=[SUBDISTRICT], crs=4326))
    return path


def _import(capsys, ws: Path, layer: str, path: Path, *args: str) -> tuple[int, dict]:
    code, summary = run_import(capsys, str(ws), layer, str(path), *args)
    if code != 2:
        adds_up(summary)
    return code, summary


# ----------------------------------------------------------------------------- ids derived from content


def test_a_ledger_without_ids_gets_ids_from_its_content(tmp_path: Path, ws: Path, capsys) -> None:
    ledger = _csv(tmp_path / "台账-3月.csv", HEADER, MARCH)
    code, summary = _import(capsys, ws, "reports", ledger, "--coords", "wgs84")
    assert code == 0 and (summary["read"], summary["accepted"], summary["quarantined"]) == (3, 3, 0)
    stored = dict(rows(ws, "SELECT report_id, description FROM reports ORDER BY fid"))
    expected = [_expected_id(t, float(x), float(y), CATEGORY_KEYS[c], d) for _, t, c, d, x, y in MARCH]
    assert list(stored) == expected
    assert all(not rid.isdigit() for rid in stored)  # 序号 is not the id


def test_the_same_ledger_again_adds_nothing_and_next_month_adds_its_rows(tmp_path: Path, ws: Path, capsys) -> None:
    march = _csv(tmp_path / "3月.csv", HEADER, MARCH)
    april = _csv(tmp_path / "4月.csv", HEADER, APRIL)  # 序号 starts at 1 again
    assert _import(capsys, ws, "reports", march, "--coords", "wgs84")[1]["accepted"] == 3
    code, again = _import(capsys, ws, "reports", march, "--coords", "wgs84", "--strict")
    assert code == 0 and (again["accepted"], again["duplicates"], again["quarantined"]) == (0, 3, 0)
    code, next_month = _import(capsys, ws, "reports", april, "--coords", "wgs84", "--strict")
    assert code == 0 and (next_month["accepted"], next_month["duplicates"]) == (2, 0)
    assert rows(ws, "SELECT count(*) FROM reports") == [(5,)]


def test_float_noise_and_a_time_microseconds_late_give_the_same_id(tmp_path: Path, ws: Path, capsys) -> None:
    clean = _csv(tmp_path / "a.csv", HEADER, MARCH[:1])
    noisy = [["1", "2025-03-01 08:05:00.000004", "垃圾乱倒", "北大街口", "109.73123400000001", "38.29123399999999"]]
    assert _import(capsys, ws, "reports", clean, "--coords", "wgs84")[1]["accepted"] == 1
    code, summary = _import(capsys, ws, "reports", _csv(tmp_path / "b.csv", HEADER, noisy), "--coords", "wgs84")
    assert (summary["accepted"], summary["duplicates"], summary["quarantined"]) == (0, 1, 0)


def test_gcj02_ledger_ids_use_the_wgs84_position(tmp_path: Path, ws: Path, capsys) -> None:
    ledger = _csv(tmp_path / "gcj.csv", HEADER, MARCH[:1])
    assert _import(capsys, ws, "reports", ledger, "--coords", "gcj02")[1]["accepted"] == 1
    with open_workspace(ws) as w:
        stored = w.read_layer("reports")
    point = stored.geometry.iloc[0]
    assert abs(point.x - 109.731234) > 1e-4  # converted: GCJ-02 is offset by hundreds of metres
    assert stored["report_id"].iloc[0] == _expected_id(MARCH[0][1], point.x, point.y, "garbage_dumping", "北大街口")


def test_the_ledger_number_column_is_no_id_alias() -> None:
    assert "序号" not in COLUMN_ALIASES
    records = gpd.GeoDataFrame({"序号": ["1", "2"], "kind": ["垃圾点", "空闲地"], "_record": [1, 2]},
                               geometry=[Point(109.73, 38.29), Point(109.74, 38.30)], crs=4326)
    from gridmap.io.base import ReadResult, quarantine_frame

    batch = prepare("targets", ReadResult(records, quarantine_frame(), "t.geojson", "0" * 16))
    assert all(t.startswith("h-") for t in batch.accepted["target_id"])
    for spec in LAYERS.values():  # a file whose only id-like column is 序号 gets no id from it
        assert COLUMN_ALIASES.get("序号") not in spec.key


def _report_result(names: list[object]):
    from gridmap.io.base import ReadResult, quarantine_frame

    n = len(names)
    records = gpd.GeoDataFrame(
        {"Name": names, "time": ["2025-03-01 08:00"] * n, "类别": ["垃圾乱倒"] * n, "_record": list(range(1, n + 1))},
        geometry=[Point(109.73 + 0.001 * i, 38.29) for i in range(n)], crs=4326)
    return ReadResult(records, quarantine_frame(), "a.kml", "0" * 16)


def test_placemark_names_stay_the_id_and_empty_names_get_ids_from_content() -> None:
    batch = prepare("reports", _report_result(["北大街001", "", None]), now=pd.Timestamp("2026-01-01"))
    ids = batch.accepted["report_id"].tolist()
    assert ids[0] == "北大街001"
    assert ids[1] == _expected_id("2025-03-01 08:00", 109.731, 38.29, "garbage_dumping", "")
    assert ids[2] == _expected_id("2025-03-01 08:00", 109.732, 38.29, "garbage_dumping", "")


def test_an_id_column_with_an_empty_id_is_still_missing_value(tmp_path: Path, ws: Path, capsys) -> None:
    body = [["R1", "2025-03-01 08:00", "垃圾乱倒", "109.73", "38.29"], ["", "2025-03-01 09:00", "垃圾乱倒", "109.74", "38.3"]]
    path = _csv(tmp_path / "r.csv", ["编号", "上报时间", "类别", "经度", "纬度"], body)
    code, summary = _import(capsys, ws, "reports", path, "--coords", "wgs84")
    assert summary["reasons"] == {"missing_value": 1}


def test_targets_without_id_nor_name_get_kind_position_ids() -> None:
    from gridmap.io.base import ReadResult, quarantine_frame

    records = gpd.GeoDataFrame({"kind": ["垃圾点"], "_record": [1]}, geometry=[box(109.73, 38.29, 109.731, 38.291)],
                               crs=4326)
    batch = prepare("targets", ReadResult(records, quarantine_frame(), "t.geojson", "0" * 16))
    ring = "109.731000 38.290000, 109.731000 38.291000, 109.730000 38.291000, 109.730000 38.290000, " \
           "109.731000 38.290000"
    text = "\x1f".join(["garbage_point", f"MULTIPOLYGON ((({ring})))", ""])
    assert batch.accepted["target_id"].tolist() == ["h-" + hashlib.sha1(text.encode()).hexdigest()[:16]]


def test_grids_without_codes_are_refused_as_before(tmp_path: Path, ws: Path, capsys) -> None:
    path = tmp_path / "g.geojson"
    gpd.GeoDataFrame({"网格名称": ["一网格"]}, geometry=[box(109.72, 38.28, 109.74, 38.30)],
                     crs=4326).to_file(path, driver="GeoJSON", engine="pyogrio")
    code, out = _import(capsys, ws, "grids", path)
    assert code == 2 and "grid_code" in out["err"]


_decimals = st.integers(min_value=73_500_000, max_value=135_000_000)


@settings(max_examples=60, deadline=None)
@given(lon=_decimals, lat=st.integers(min_value=18_200_000, max_value=53_500_000), ulps=st.integers(-4, 4),
       second=st.integers(0, 86_399), jitter_us=st.integers(-400_000, 400_000),
       description=st.text(max_size=12), category=st.sampled_from(["garbage_dumping", "firewood_pile"]))
@example(lon=109_730_000, lat=38_290_000, ulps=1, second=0, jitter_us=-1, description="", category="garbage_dumping")
def test_derived_ids_follow_the_rule_and_ignore_float_noise(lon, lat, ulps, second, jitter_us, description,
                                                            category) -> None:
    """Positions with up to 6 decimals (a ledger's), moved by a few ulps, and times off by less than half a second."""
    x, y = lon / 1e6, lat / 1e6
    noisy_x = x
    for _ in range(abs(ulps)):
        noisy_x = np.nextafter(noisy_x, np.inf if ulps > 0 else -np.inf)
    local = pd.Timestamp("2025-03-01") + pd.Timedelta(seconds=second)
    values = {"reported_at": pd.Series([local + pd.Timedelta(microseconds=jitter_us)]).dt.tz_localize("Asia/Shanghai"),
              "category": pd.Series([category]), "description": pd.Series([description], dtype="str")}
    got = derived_ids("reports", values, [Point(float(noisy_x), y)]).iloc[0]
    assert got == _expected_id(str(local), x, y, category, description)


# ----------------------------------------------------------------------------- key conflicts


REPORT_HEADER = ["编号", "上报时间", "类别", "描述", "经度", "纬度"]
R7 = ["R7", "2025-03-01 08:00", "垃圾乱倒", "北大街", "109.73", "38.29"]


def test_a_stored_key_with_other_content_is_a_key_conflict_showing_both(tmp_path: Path, ws: Path, capsys) -> None:
    assert _import(capsys, ws, "reports", _csv(tmp_path / "a.csv", REPORT_HEADER, [R7]), "--coords", "wgs84")[0] == 0
    other = ["R7", "2025-03-01 08:00", "污水乱泼", "南大街", "109.73", "38.29"]
    path = _csv(tmp_path / "b.csv", REPORT_HEADER, [other])
    code, summary = _import(capsys, ws, "reports", path, "--coords", "wgs84", "--strict")
    assert code == 1
    assert (summary["accepted"], summary["duplicates"], summary["quarantined"]) == (0, 0, 1)
    assert summary["reasons"] == {"key_conflict": 1}
    (raw, reason, detail, record), = rows(ws, "SELECT raw, reason, detail, record FROM quarantine")
    assert reason == "key_conflict" and record == 1
    assert json.loads(raw)["类别"] == "污水乱泼" and json.loads(raw)["编号"] == "R7"  # the incoming record as read
    assert "report_id R7 is already stored with category garbage_dumping, description 北大街" in detail
    assert "this row has category sewage_splashing, description 南大街" in detail
    assert "reported_at" not in detail  # only the columns that differ
    assert rows(ws, "SELECT category, description FROM reports") == [("garbage_dumping", "北大街")]


def test_identical_content_is_a_duplicate_and_strict_passes(tmp_path: Path, ws: Path, capsys) -> None:
    path = _csv(tmp_path / "a.csv", REPORT_HEADER, [R7])
    _import(capsys, ws, "reports", path, "--coords", "wgs84")
    code, summary = _import(capsys, ws, "reports", path, "--coords", "wgs84", "--strict")
    assert code == 0 and (summary["duplicates"], summary["quarantined"]) == (1, 0)


def test_within_one_file_the_first_row_of_a_key_wins(tmp_path: Path, ws: Path, capsys) -> None:
    moved = ["R7", "2025-03-01 08:00", "垃圾乱倒", "北大街", "109.7301", "38.29"]
    path = _csv(tmp_path / "a.csv", REPORT_HEADER, [R7, R7, moved])
    code, summary = _import(capsys, ws, "reports", path, "--coords", "wgs84")
    assert (summary["accepted"], summary["duplicates"], summary["quarantined"]) == (1, 1, 1)
    (record, detail), = rows(ws, "SELECT record, detail FROM quarantine")
    assert record == 3 and "is used by record 1 earlier in this file with position POINT (109.73 38.29)" in detail
    assert "this row has position POINT (109.7301 38.29)" in detail


def test_grid_code_assigned_later_and_status_are_not_content(tmp_path: Path, ws: Path, capsys) -> None:
    path = _csv(tmp_path / "a.csv", REPORT_HEADER, [R7])
    _import(capsys, ws, "reports", path, "--coords", "wgs84")
    with open_workspace(ws) as w:
        w.append("grids", gpd.GeoDataFrame({"grid_code": ["610802001001001"], "community_code": ["610802001001"]},
                                           geometry=[box(109.72, 38.28, 109.74, 38.30)], crs=4326))
        w.append("rectifications", pd.DataFrame({"report_id": ["R7"], "rectified_at": ["2025-03-02 10:00"]}))
    assert rows(ws, "SELECT status, grid_code FROM reports") == [("rectified", None)]
    code, summary = _import(capsys, ws, "reports", path, "--coords", "wgs84", "--strict")
    assert code == 0 and (summary["duplicates"], summary["quarantined"]) == (1, 0)


WATCH_HEADER = ["巡查员", "定位时间", "经度", "纬度"]  # 设备号 becomes an alias in another branch


def test_two_fixes_of_one_device_at_one_time_are_a_conflict_identical_ones_duplicates(tmp_path: Path, ws: Path,
                                                                                      capsys) -> None:
    fixes = [["W1", "2025-03-01 08:00:00", "109.73", "38.29"],
             ["W1", "2025-03-01 08:00:00", "109.73", "38.29"],  # the same fix twice: a duplicate
             ["W1", "2025-03-01 08:00:00", "109.75", "38.30"],  # same device, same time, elsewhere: a conflict
             ["W2", "2025-03-01 08:00:00", "109.75", "38.30"]]  # another device
    path = _csv(tmp_path / "watch.csv", WATCH_HEADER, fixes)
    code, summary = _import(capsys, ws, "tracks", path, "--coords", "wgs84", "--strict")
    assert code == 1
    assert (summary["accepted"], summary["duplicates"], summary["quarantined"]) == (2, 1, 1)
    assert summary["reasons"] == {"key_conflict": 1}
    (detail,), = rows(ws, "SELECT detail FROM quarantine")
    assert "two positions of one device at one time" in detail
    later = [["W1", "2025-03-01 08:00:00", "109.7300000000001", "38.29"],  # float noise: the same fix
             ["W2", "2025-03-01 08:00:00", "109.76", "38.30"]]          # stored elsewhere: a conflict
    code, summary = _import(capsys, ws, "tracks", _csv(tmp_path / "w2.csv", WATCH_HEADER, later), "--coords", "wgs84")
    assert (summary["accepted"], summary["duplicates"], summary["quarantined"]) == (0, 1, 1)
    assert rows(ws, "SELECT count(*) FROM tracks") == [(2,)]


def _model(stored: dict, frame: list[tuple[str, str, float]]) -> tuple[int, int, int, dict]:
    """Brute force of the rule: (accepted, duplicates, key conflicts, stored after)."""
    first: dict[str, tuple] = {}
    accepted = duplicates = conflicts = 0
    after = dict(stored)
    for key, text, x in frame:
        content = (text, x)
        if key in first:
            same = first[key] == content
        elif key in stored:
            first[key] = content
            same = stored[key] == content
        else:
            first[key] = content
            after[key] = content
            accepted += 1
            continue
        duplicates += same
        conflicts += not same
    return accepted, duplicates, conflicts, after


_rows = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["甲", "乙"]),
                           st.sampled_from([109.73, 109.73 + 1e-12, 109.731])), min_size=1, max_size=8)


@pytest.fixture(scope="module")
def shared_ws(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "w.gpkg"
    init_workspace(path).close()
    return path


_round = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=_rows, second=_rows)
@example(first=[("a", "甲", 109.73)], second=[("a", "乙", 109.73), ("a", "甲", 109.73)])
@example(first=[("a", "甲", 109.73)], second=[("a", "甲", 109.73 + 1e-12), ("b", "甲", 109.73), ("b", "甲", 109.731)])
def test_accounting_matches_a_brute_force_model(shared_ws: Path, first, second) -> None:
    prefix = f"k{next(_round)}-"

    def frame(batch):
        return gpd.GeoDataFrame({
            "report_id": [prefix + k for k, _, _ in batch], "reported_at": ["2025-03-01 08:00"] * len(batch),
            "category": ["garbage_dumping"] * len(batch), "description": [t for _, t, _ in batch],
            "_record": list(range(1, len(batch) + 1))}, geometry=[Point(x, 38.29) for _, _, x in batch], crs=4326)

    def norm(batch):  # 1e-12° is float noise: the same position
        return [(k, t, round(x, 9)) for k, t, x in batch]

    stored: dict = {}
    with open_workspace(shared_ws) as w:
        for batch in (first, second):
            accepted, duplicates, conflicts, stored = _model(stored, norm(batch))
            summary = w.append("reports", frame(batch), source="h.csv", source_digest=prefix + str(len(stored)))
            assert (summary.read, summary.accepted, summary.duplicates, summary.quarantined) == (
                len(batch), accepted, duplicates, conflicts)
            assert summary.reasons == ({"key_conflict": conflicts} if conflicts else {})
        kept = w.read_layer("reports", where=f"report_id LIKE '{prefix}%'")
    got = {rid[len(prefix):]: (d, round(g.x, 9))
           for rid, d, g in zip(kept["report_id"], kept["description"], kept.geometry)}
    assert got == stored
