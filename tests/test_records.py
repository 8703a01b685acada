"""Tests of gridmap.io.records.prepare: every record accepted typed or quarantined with its reason."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer
from shapely.geometry import LineString, Point, Polygon, box

from _opcount import extra_calls

from gridmap.errors import CRSError, ReadError, SchemaError
from gridmap.crs import from_wgs84
from gridmap.io.base import ReadResult, quarantine_frame, quarantine_row
from gridmap.model import CATEGORIES, LAYERS
from gridmap.io.records import CHINA_BOUNDS, PreparedBatch, parse_times, prepare

YULIN = (109.73, 38.29)
NOW = pd.Timestamp("2025-03-10 12:00", tz="Asia/Shanghai")
GEOD = Geod(ellps="WGS84")
TO_4546 = Transformer.from_crs(4326, 4546, always_xy=True)


def read_result(records: pd.DataFrame, *, quarantine: pd.DataFrame | None = None,
                coords: str | None = None, source: str = "field.geojson") -> ReadResult:
    if "_record" not in records.columns:
        records = records.assign(_record=np.arange(1, len(records) + 1))
    return ReadResult(records, quarantine_frame() if quarantine is None else quarantine, source, "ab" * 8,
                      coords=coords)


def report_rows(rows: list[dict], crs: object = 4326) -> gpd.GeoDataFrame:
    """Reports with Chinese headers as a phone export has them; defaults fill a good row."""
    good = {"编号": "R", "上报时间": "2025-03-01 08:00", "类别": "垃圾乱倒", "描述": "北大街", "geometry": Point(*YULIN)}
    full = []
    for i, row in enumerate(rows):
        merged = {**good, **row}
        if "编号" not in row:
            merged["编号"] = f"R{i + 1}"
        full.append(merged)
    return gpd.GeoDataFrame(full, geometry="geometry", crs=crs)


def prepare_reports(rows: list[dict], **kwargs: object) -> PreparedBatch:
    kwargs.setdefault("now", NOW)
    return prepare("reports", read_result(report_rows(rows)), **kwargs)


def reason_of(batch: PreparedBatch, record: int) -> str:
    return batch.quarantine.set_index("record").loc[record, "reason"]


def detail_of(batch: PreparedBatch, record: int) -> str:
    return batch.quarantine.set_index("record").loc[record, "detail"]


# ----------------------------------------------------------------------------- columns and shape


def test_accepted_has_model_columns_in_order_typed_and_fresh_index() -> None:
    records = report_rows([{}, {}, {"类别": "不存在"}])
    records.index = [10, 20, 30]
    records["随便"] = ["x", "y", "z"]
    batch = prepare("reports", read_result(records), now=NOW)
    expected = LAYERS["reports"].column_names + ["geometry", "_record"]
    assert list(batch.accepted.columns) == expected
    assert list(batch.accepted.index) == [0, 1]
    assert batch.accepted["_record"].tolist() == [1, 2]
    assert batch.accepted["_record"].dtype == np.int64
    assert str(batch.accepted["reported_at"].dtype) == "datetime64[us, Asia/Shanghai]"
    assert batch.accepted.crs.to_epsg() == 4326
    assert batch.accepted["description"].tolist() == ["北大街", "北大街"]
    assert batch.read == 3 and len(batch.quarantine) == 1


def test_unknown_columns_are_kept_in_extra(caplog: pytest.LogCaptureFixture) -> None:
    records = report_rows([{}])
    records["备注甲"] = ["extra"]
    with caplog.at_level(logging.INFO, logger="gridmap.io.records"):
        batch = prepare("reports", read_result(records), now=NOW)
    assert "备注甲" not in batch.accepted.columns
    assert batch.unmapped == ["备注甲"] and batch.accepted.loc[0, "extra"] == '{"备注甲": "extra"}'
    assert any("备注甲" in r.getMessage() and "extra" in r.getMessage() for r in caplog.records)


def test_missing_required_column_raises_listing_missing_and_found() -> None:
    records = report_rows([{}]).drop(columns=["类别"])
    with pytest.raises(ReadError, match=r"needs column\(s\) category.*file has only: 编号, 上报时间, 描述, geometry"):
        prepare("reports", read_result(records), now=NOW)


def test_exact_model_name_beats_an_alias() -> None:
    records = report_rows([{}])
    records["reported_at"] = ["2025-03-02 09:00"]  # the exact name; 上报时间 is only an alias
    batch = prepare("reports", read_result(records), now=NOW)
    assert batch.accepted.loc[0, "reported_at"] == pd.Timestamp("2025-03-02 01:00", tz="UTC")


def test_defaults_fill_missing_columns_and_reject_unknown_ones() -> None:
    track = gpd.GeoDataFrame({"time": ["2025-03-01T00:00:00Z"]}, geometry=[Point(*YULIN)], crs=4326)
    batch = prepare("tracks", read_result(track), defaults={"inspector": "张三"}, now=NOW)
    assert batch.accepted["inspector"].tolist() == ["张三"]
    unknown = r"--set phone=\.\.\.: layer 'tracks' has no column 'phone'.*inspector, time, track_id.*drop --set phone"
    with pytest.raises(SchemaError, match=unknown):
        prepare("tracks", read_result(track), defaults={"phone": "1"}, now=NOW)
    with pytest.raises(ReadError, match=r"needs column\(s\) inspector.*same value with --inspector NAME\.$"):
        prepare("tracks", read_result(track), now=NOW)


def test_defaults_may_not_set_a_key_column_in_prepare() -> None:
    """Every row would share one key: all but the first would be duplicates (issue 12, item 3)."""
    reports = gpd.GeoDataFrame({"reported_at": ["2025-03-01 08:00", "2025-03-01 09:00"],
                                "category": ["垃圾乱倒", "暴露垃圾"]},
                               geometry=[Point(*YULIN), Point(*YULIN)], crs=4326)
    with pytest.raises(SchemaError, match=r"--set report_id=X .*same report_id, its key"):
        prepare("reports", read_result(reports), defaults={"report_id": "X"}, now=NOW)
    reports["report_id"] = ["R1", "R2"]  # refused even when the file has the column (the value would not be used)
    with pytest.raises(SchemaError, match="its key"):
        prepare("reports", read_result(reports), defaults={"report_id": "X"}, now=NOW)
    batch = prepare("reports", read_result(reports), now=NOW)
    assert batch.accepted["category"].tolist() == ["garbage_dumping", "garbage_dumping"]


def test_kml_name_serves_as_report_id() -> None:
    records = report_rows([{}]).drop(columns=["编号"]).assign(Name=["北大街001"])
    batch = prepare("reports", read_result(records, source="a.kml"), now=NOW)
    assert batch.accepted["report_id"].tolist() == ["北大街001"]


def test_generic_id_header_names_the_layers_identifier() -> None:
    targets = gpd.GeoDataFrame({"ID": [5.0], "kind": ["垃圾点"]}, geometry=[Point(*YULIN)], crs=4326)
    batch = prepare("targets", read_result(targets), now=NOW)
    assert batch.accepted["target_id"].tolist() == ["5"]
    assert batch.accepted["kind"].tolist() == ["garbage_point"]


def test_numeric_ids_do_not_become_floats() -> None:
    records = report_rows([{}, {}, {}])
    records["编号"] = [123.0, 7.0, np.nan]
    records["网格编码"] = ["00123", " 610802001003005 ", None]
    batch = prepare("reports", read_result(records), now=NOW)
    assert batch.accepted["report_id"].tolist() == ["123", "7"]
    assert batch.accepted["grid_code"].tolist() == ["00123", "610802001003005"]
    assert reason_of(batch, 3) == "missing_value"
    assert "report_id" in detail_of(batch, 3)
    mixed = report_rows([{}, {}, {}]).assign(编号=pd.Series(["A1", 5.0, 7], dtype=object))
    assert prepare("reports", read_result(mixed), now=NOW).accepted["report_id"].tolist() == ["A1", "5", "7"]


def test_caller_data_is_not_modified() -> None:
    records = report_rows([{}, {"上报时间": "2030-01-01"}, {"geometry": Point(38.29, 109.73)},
                           {"geometry": box(109.7, 38.2, 109.8, 38.3)}])
    earlier = quarantine_frame([quarantine_row(layer="", source="f", source_digest="ab" * 8, record=9, raw="?",
                                               reason="unreadable_record", detail="bad bytes")])
    result = read_result(records, quarantine=earlier)
    before_records, before_q = result.records.copy(deep=True), result.quarantine.copy(deep=True)
    prepare("reports", result, coords="gcj02", now=NOW)
    pd.testing.assert_frame_equal(result.records, before_records)
    pd.testing.assert_frame_equal(result.quarantine, before_q)
    assert result.records.geometry.iloc[0].equals(Point(*YULIN))


def test_reader_quarantine_is_kept_and_the_count_adds_up() -> None:
    earlier = quarantine_frame([
        quarantine_row(layer="", source="f.csv", source_digest="ab" * 8, record=r, raw="?", reason="unreadable_record",
                       detail="undecodable bytes") for r in (3, 5)])
    records = report_rows([{}, {"类别": "没有"}, {}]).assign(_record=[1, 2, 4])
    batch = prepare("reports", read_result(records, quarantine=earlier), now=NOW)
    assert batch.read == 5
    assert len(batch.accepted) + len(batch.quarantine) == 5
    assert batch.reasons() == {"unknown_category": 1, "unreadable_record": 2}
    assert batch.quarantine["record"].tolist() == [3, 5, 2]
    assert set(batch.quarantine["layer"]) == {"reports"}
    assert set(batch.quarantine["source_digest"]) == {"ab" * 8}


def test_a_file_whose_every_record_the_reader_quarantined() -> None:
    earlier = quarantine_frame([quarantine_row(layer="reports", source="f.kml", source_digest="ab" * 8, record=1,
                                               raw="?", reason="unreadable_record", detail="truncated")])
    batch = prepare("reports", read_result(pd.DataFrame(), quarantine=earlier), now=NOW)
    assert (batch.read, len(batch.accepted), batch.reasons()) == (1, 0, {"unreadable_record": 1})
    assert list(batch.accepted.columns) == LAYERS["reports"].column_names + ["geometry", "_record"]


# ----------------------------------------------------------------------------- every reason, counted


def test_every_report_reason_with_exact_counts() -> None:
    rows = [
        {},                                                      # 1 good
        {"类别": ""},                                            # 2 missing_value
        {"geometry": None},                                      # 3 missing_coordinates
        {"geometry": Point()},                                   # 4 missing_coordinates
        {"geometry": Point(float("nan"), 38.29)},                # 5 unparseable_coordinates
        {"geometry": Point(200.0, 10.0)},                        # 6 coordinates_out_of_range
        {"geometry": Point(38.29, 109.73)},                      # 7 swapped_coordinates (lat out of range)
        {"geometry": Point(38.29, 80.0)},                        # 8 swapped_coordinates (in range, outside China)
        {"geometry": Point(2.35, 48.85)},                        # 9 outside_china (Paris)
        {"geometry": box(109.72, 38.28, 109.74, 38.30)},         # 10 wrong_geometry_type
        {"上报时间": None},                                      # 11 missing_time
        {"上报时间": "下午三点"},                                # 12 unparseable_time
        {"上报时间": "2025-03-10 12:11"},                        # 13 future_time (now + 11 min)
        {"类别": "小广告x"},                                     # 14 unknown_category
        {"状态": "丢了"},                                        # 15 unparseable_value (status)
        {"geometry": Point(108.94, 34.34)},                      # 16 outside_subdistrict (Xi'an)
        {"上报时间": "2025-03-10 12:09"},                        # 17 good: within the 10 min slack
        {"geometry": Point(109.73, 38.33)},                      # 18 good: about 2 km north of the box
    ]
    subdistrict = box(109.70, 38.27, 109.76, 38.31)
    batch = prepare_reports(rows, subdistrict=subdistrict)
    assert batch.reasons() == {
        "missing_value": 1, "missing_coordinates": 2, "unparseable_coordinates": 1, "coordinates_out_of_range": 1,
        "swapped_coordinates": 2, "outside_china": 1, "wrong_geometry_type": 1, "missing_time": 1,
        "unparseable_time": 1, "future_time": 1, "unknown_category": 1, "unparseable_value": 1,
        "outside_subdistrict": 1,
    }
    assert batch.accepted["_record"].tolist() == [1, 17, 18]
    expected = {2: "missing_value", 3: "missing_coordinates", 7: "swapped_coordinates", 8: "swapped_coordinates",
                9: "outside_china", 10: "wrong_geometry_type", 13: "future_time", 16: "outside_subdistrict"}
    for record, reason in expected.items():
        assert reason_of(batch, record) == reason
    assert "Polygon" in detail_of(batch, 10) and "Point" in detail_of(batch, 10)
    assert "'下午三点'" in detail_of(batch, 12)
    assert "'丢了'" in detail_of(batch, 15) and "reported (已上报)" in detail_of(batch, 15)
    # Xi'an to the Yulin box: about 440 km (independent geodesic distance from Xi'an to the box corner)
    km = GEOD.inv(108.94, 34.34, 109.70, 38.27)[2] / 1000
    shown = float(detail_of(batch, 16).split(" lies ")[1].split(" km")[0])
    assert shown == pytest.approx(km, rel=0.02)


def test_the_first_failing_check_wins_one_row_each() -> None:
    batch = prepare_reports([{"类别": "", "上报时间": "2030-01-01", "geometry": Point(38.29, 109.73)},
                             {"上报时间": "2030-01-01", "类别": "不知道"}])
    assert batch.quarantine["reason"].tolist() == ["missing_value", "future_time"]
    assert batch.read == 2 and len(batch.accepted) == 0


def test_quarantine_raw_keeps_the_files_own_values() -> None:
    batch = prepare_reports([{"geometry": Point(38.29, 109.73), "描述": "纬经颠倒"}])
    raw = batch.quarantine.loc[0, "raw"]
    assert '"描述": "纬经颠倒"' in raw and "POINT (38.29 109.73)" in raw
    assert "longitude (x) first" in batch.quarantine.loc[0, "detail"]


def test_swapped_and_out_of_range_thresholds_use_the_documented_china_box() -> None:
    west, south, east, north = CHINA_BOUNDS
    rows = [{"geometry": Point(west, south)}, {"geometry": Point(east, north)},
            {"geometry": Point(west - 0.01, 30.0)}, {"geometry": Point(120.0, north + 0.01)}]
    batch = prepare_reports(rows)
    assert batch.accepted["_record"].tolist() == [1, 2]
    assert batch.quarantine["reason"].tolist() == ["outside_china", "outside_china"]


def test_most_records_out_of_range_is_a_crs_error() -> None:
    projected = [{"geometry": Point(388891.0 + i, 4240450.0)} for i in range(3)]
    with pytest.raises(CRSError, match=r"3 of 4 records .*outside longitude/latitude range.*Declare its real CRS"):
        prepare_reports(projected + [{}])


def test_records_without_crs_are_refused() -> None:
    records = report_rows([{}]).set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="has no coordinate reference system"):
        prepare("reports", read_result(records), now=NOW)


def test_projected_input_is_reprojected_exactly() -> None:
    x, y = TO_4546.transform(*YULIN)
    records = report_rows([{"geometry": Point(x, y)}], crs=4546)
    batch = prepare("reports", read_result(records), now=NOW)
    point = batch.accepted.geometry.iloc[0]
    assert (point.x, point.y) == pytest.approx(YULIN, abs=1e-9)


def test_invalid_and_typed_geometries_for_polygon_and_line_layers() -> None:
    bowtie = Polygon([(109.70, 38.27), (109.72, 38.29), (109.72, 38.27), (109.70, 38.29)])
    grids = gpd.GeoDataFrame({"网格编码": ["G1", "G2", "G3"], "社区编码": ["C1"] * 3},
                             geometry=[box(109.70, 38.27, 109.71, 38.28), bowtie, Point(*YULIN)], crs=4326)
    batch = prepare("grids", read_result(grids), now=NOW)
    assert batch.reasons() == {"invalid_geometry": 1, "wrong_geometry_type": 1}
    assert "Self-intersection" in detail_of(batch, 2) and "repair=True" in detail_of(batch, 2)
    assert batch.accepted.geometry.iloc[0].geom_type == "MultiPolygon"
    assert batch.accepted.geometry.iloc[0].equals(box(109.70, 38.27, 109.71, 38.28))
    streets = gpd.GeoDataFrame({"街道名称": ["北大街"]}, geometry=[LineString([(109.73, 38.28), (109.73, 38.30)])],
                               crs=4326)
    assert prepare("streets", read_result(streets)).accepted.geometry.iloc[0].geom_type == "MultiLineString"


def test_every_vertex_is_checked_not_just_the_first() -> None:
    ring = Polygon([(109.70, 38.27), (109.71, 38.27), (200.0, 38.28), (109.70, 38.28)])
    good = box(109.70, 38.27, 109.71, 38.28)
    grids = gpd.GeoDataFrame({"grid_code": ["G1", "G2", "G3"], "community_code": ["C1"] * 3},
                             geometry=[ring, good, good], crs=4326)
    batch = prepare("grids", read_result(grids))
    assert batch.reasons() == {"coordinates_out_of_range": 1}


# ----------------------------------------------------------------------------- repair


BOWTIE_LOCAL = [(0, 0), (300, 150), (300, 0), (0, 100)]  # lobes 6000 m² and 13500 m², crossing at (120, 60)


def bowtie_4546(points: list[tuple[float, float]]) -> Polygon:
    x0, y0 = TO_4546.transform(*YULIN)
    return Polygon([(x0 + x, y0 + y) for x, y in points])


def test_repair_reports_the_area_change_of_a_bow_tie(caplog: pytest.LogCaptureFixture) -> None:
    # Shoelace of the self-crossing ring: the lobes have opposite orientation, so |13500 - 6000| = 7500 m²;
    # make_valid gives the two triangles: 6000 + 13500 = 19500 m² (+160 %).
    symmetric = [(0, 0), (200, 100), (200, 0), (0, 100)]  # two lobes of 5000 m² cancel: 0 → 10000 m²
    grids = gpd.GeoDataFrame({"grid_code": ["G1", "G2", "G3"], "community_code": ["C"] * 3},
                             geometry=[bowtie_4546(BOWTIE_LOCAL), bowtie_4546(symmetric),
                                       bowtie_4546([(0, 0), (100, 0), (100, 100), (0, 100)])], crs=4546)
    with caplog.at_level(logging.INFO, logger="gridmap.io.records"):
        batch = prepare("grids", read_result(grids), repair=True)
    assert len(batch.accepted) == 3 and len(batch.quarantine) == 0
    rep = batch.repairs.set_index("_record")
    assert list(batch.repairs.columns) == ["_record", "area_before_m2", "area_after_m2", "change_pct"]
    assert rep.index.tolist() == [1, 2]
    assert rep.loc[1, "area_before_m2"] == pytest.approx(7500, rel=1e-6)
    assert rep.loc[1, "area_after_m2"] == pytest.approx(19500, rel=1e-6)
    assert rep.loc[1, "change_pct"] == pytest.approx(160.0, rel=1e-5)
    assert rep.loc[2, "area_before_m2"] == pytest.approx(0, abs=1e-3)
    assert rep.loc[2, "area_after_m2"] == pytest.approx(10000, rel=1e-6)
    fixed = batch.accepted.geometry.iloc[0]
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon" and len(fixed.geoms) == 2
    assert gpd.GeoSeries([fixed], crs=4326).to_crs(4546).area.iloc[0] == pytest.approx(19500, rel=1e-6)
    original_wkt = shapely.to_wkt(grids.geometry.iloc[0])
    assert any(original_wkt in r.getMessage() for r in caplog.records)


def test_without_repair_no_repairs_are_reported() -> None:
    grids = gpd.GeoDataFrame({"grid_code": ["G1"], "community_code": ["C"]},
                             geometry=[bowtie_4546(BOWTIE_LOCAL)], crs=4546)
    batch = prepare("grids", read_result(grids))
    assert batch.reasons() == {"invalid_geometry": 1} and batch.repairs.empty


# ----------------------------------------------------------------------------- coordinates systems


def test_gcj02_input_is_converted_to_wgs84() -> None:
    lon, lat = 109.7351, 38.2912
    batch = prepare_reports([{"geometry": Point(lon, lat)}], coords="gcj02")
    out = batch.accepted.geometry.iloc[0]
    moved = GEOD.inv(lon, lat, out.x, out.y)[2]
    assert 100 < moved < 700
    back_lon, back_lat = from_wgs84([out.x], [out.y], "gcj02")
    error_m = GEOD.inv(lon, lat, float(back_lon[0]), float(back_lat[0]))[2]
    assert error_m < 0.01


def test_coords_come_from_the_reader_unless_overridden() -> None:
    records = report_rows([{}])
    from_reader = prepare("reports", read_result(records, coords="bd09"), now=NOW).accepted.geometry.iloc[0]
    overridden = prepare("reports", read_result(records, coords="bd09"), coords="wgs84", now=NOW)
    assert GEOD.inv(*YULIN, from_reader.x, from_reader.y)[2] > 100
    assert overridden.accepted.geometry.iloc[0].equals(Point(*YULIN))
    with pytest.raises(SchemaError, match="--coords utm: .*wgs84, gcj02, bd09"):
        prepare("reports", read_result(records), coords="utm")


def test_lon_lat_columns_without_geometry() -> None:
    table = pd.DataFrame({"编号": ["A", "B", "C", "D"], "时间": ["2025-03-01 08:00"] * 4, "类型": ["柴草垛"] * 4,
                          "经度": ["109.73", "东经", "", 109.74], "纬度": [38.29, 38.3, None, 38.28]})
    batch = prepare("reports", read_result(table, source="a.csv"), now=NOW)
    assert batch.accepted["report_id"].tolist() == ["A", "D"]
    assert batch.accepted.geometry.iloc[1].equals(Point(109.74, 38.28))
    assert batch.reasons() == {"missing_coordinates": 1, "unparseable_coordinates": 1}
    no_xy = table.drop(columns=["经度", "纬度"])
    with pytest.raises(ReadError, match="no longitude/latitude columns"):
        prepare("reports", read_result(no_xy), now=NOW)


def test_subdistrict_as_projected_geodataframe() -> None:
    x0, y0 = TO_4546.transform(*YULIN)
    sub = gpd.GeoDataFrame(geometry=[box(x0 - 1000, y0 - 1000, x0 + 1000, y0 + 1000)], crs=4546)
    # 5.5 km and 4.5 km east of the box edge (1 km east of the centre)
    lon_far, lat_far = Transformer.from_crs(4546, 4326, always_xy=True).transform(x0 + 6500, y0)
    lon_near, lat_near = Transformer.from_crs(4546, 4326, always_xy=True).transform(x0 + 5500, y0)
    batch = prepare_reports([{"geometry": Point(lon_far, lat_far)}, {"geometry": Point(lon_near, lat_near)}],
                            subdistrict=sub)
    assert batch.reasons() == {"outside_subdistrict": 1}
    assert "5.5 km" in detail_of(batch, 1) and "limit 5 km" in detail_of(batch, 1)


# ----------------------------------------------------------------------------- times


def test_naive_times_are_shanghai_and_zoned_keep_their_instant() -> None:
    batch = prepare_reports([{"上报时间": "2025-03-01 08:00"}, {"上报时间": "2025-03-01T08:00:00+00:00"}])
    utc = batch.accepted["reported_at"].dt.tz_convert("UTC")
    assert utc.tolist() == [pd.Timestamp("2025-03-01 00:00", tz="UTC"), pd.Timestamp("2025-03-01 08:00", tz="UTC")]
    assert str(batch.accepted["reported_at"].dt.tz) == "Asia/Shanghai"


@pytest.mark.parametrize("text, utc", [
    ("2025/3/1 8:05", "2025-03-01 00:05"),
    ("2025-03-01 08:05:00", "2025-03-01 00:05"),
    ("2025年3月1日 8时5分", "2025-03-01 00:05"),
    ("2025年3月1日8点", "2025-03-01 00:00"),
    ("2025.03.01 08:05:30", "2025-03-01 00:05:30"),
    ("2025/3/1", "2025-02-28 16:00"),
    ("2025-03-01T08:05:00.250", "2025-03-01 00:05:00.250"),
    ("2025-03-01T00:05Z", "2025-03-01 00:05"),
    ("2025-03-01 09:05 +0900", "2025-03-01 00:05"),
    ("2025-03-01 00:05 UTC", "2025-03-01 00:05"),
    ("1740787500", "2025-03-01 00:05"),
    ("1740787500000", "2025-03-01 00:05"),
])
def test_time_formats(text: str, utc: str) -> None:
    times, empty = parse_times(pd.Series([text]))
    assert not empty[0]
    assert times.iloc[0] == pd.Timestamp(utc, tz="UTC")


def test_unparseable_and_impossible_times_are_nat() -> None:
    times, empty = parse_times(pd.Series(["2025-02-30 08:00", "下午", "  ", None, "2025年13月1日"]))
    assert times.isna().all()
    assert empty.tolist() == [False, False, True, True, False]


def test_typed_time_columns() -> None:
    naive = pd.Series(pd.to_datetime(["2025-03-01 08:00", None]))
    aware = pd.Series(pd.to_datetime(["2025-03-01 08:00"]).tz_localize("UTC"))
    epoch = pd.Series([1740787200, 1740787200000])
    assert parse_times(naive)[0].iloc[0] == pd.Timestamp("2025-03-01 00:00", tz="UTC")
    assert parse_times(naive)[1].tolist() == [False, True]
    assert parse_times(aware)[0].iloc[0] == pd.Timestamp("2025-03-01 08:00", tz="UTC")
    assert parse_times(epoch)[0].tolist() == [pd.Timestamp("2025-03-01 00:00", tz="UTC")] * 2


@settings(max_examples=60, deadline=None)
@given(moment=st.datetimes(min_value=pd.Timestamp("1995-01-01").to_pydatetime(),
                           max_value=pd.Timestamp("2035-01-01").to_pydatetime()),
       style=st.sampled_from(["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "{y}年{m}月{d}日 {H}时{M}分{S}秒",
                              "%Y-%m-%dT%H:%M:%S+08:00", "%Y-%m-%dT%H:%M:%SZ"]))
def test_time_parsing_property(moment: object, style: str) -> None:
    ts = pd.Timestamp(moment).floor("s")
    if style.startswith("{"):
        text = style.format(y=ts.year, m=ts.month, d=ts.day, H=ts.hour, M=ts.minute, S=ts.second)
    else:
        text = ts.strftime(style)
    expected = ts.tz_localize("UTC") if style.endswith("Z") else ts.tz_localize("Asia/Shanghai")
    assert parse_times(pd.Series([text]))[0].iloc[0] == expected


def test_future_times_relative_to_now_including_naive_now() -> None:
    rows = [{"上报时间": "2025-03-10 12:10"}, {"上报时间": "2025-03-10 12:10:01"}]
    batch = prepare_reports(rows, now=pd.Timestamp("2025-03-10 12:00"))  # naive: Shanghai
    assert batch.accepted["_record"].tolist() == [1]
    assert reason_of(batch, 2) == "future_time"
    assert "later than now (2025-03-10T12:00:00+08:00)" in detail_of(batch, 2)


def test_optional_time_may_be_empty_but_not_garbage() -> None:
    fixes = pd.DataFrame({"report_id": ["R1", "R2", "R3"], "rectified_at": ["2025-03-02 10:00"] * 3,
                          "verified_at": [None, "明天", "2025-03-03 9:00"]})
    batch = prepare("rectifications", read_result(fixes), now=NOW)
    assert batch.accepted["report_id"].tolist() == ["R1", "R3"]
    assert pd.isna(batch.accepted.loc[0, "verified_at"])
    assert batch.reasons() == {"unparseable_time": 1}
    assert not isinstance(batch.accepted, gpd.GeoDataFrame)
    assert list(batch.accepted.columns) == LAYERS["rectifications"].column_names + ["_record"]


# ----------------------------------------------------------------------------- coded values and numbers


def test_categories_by_key_zh_and_en_label_unknown_lists_the_known() -> None:
    batch = prepare_reports([{"类别": "柴草垛"}, {"类别": "garbage_dumping"}, {"类别": " Scrapped Vehicle "},
                             {"类别": "乱扔烟头"}])
    assert batch.accepted["category"].tolist() == ["firewood_pile", "garbage_dumping", "scrapped_vehicle"]
    detail = detail_of(batch, 4)
    assert "'乱扔烟头'" in detail
    for cat in CATEGORIES.values():
        assert f"{cat.key} ({cat.zh})" in detail


def test_status_defaults_to_reported_and_accepts_labels() -> None:
    records = report_rows([{}, {}, {}])
    records["状态"] = [None, "已整改", "verified"]
    batch = prepare("reports", read_result(records), now=NOW)
    assert batch.accepted["status"].tolist() == ["reported", "rectified", "verified"]


def test_target_kinds() -> None:
    targets = gpd.GeoDataFrame({"target_id": ["T1", "T2", "T3", "T4"], "kind": ["居民院落", "vacant_lot", "公园", "other"]},
                               geometry=[Point(*YULIN), box(109.72, 38.28, 109.73, 38.29), Point(*YULIN),
                                         LineString([(109.72, 38.28), (109.73, 38.29)])], crs=4326)
    batch = prepare("targets", read_result(targets))
    assert batch.accepted["kind"].tolist() == ["courtyard", "vacant_lot"]
    assert batch.accepted.geometry.geom_type.tolist() == ["Point", "MultiPolygon"]
    assert batch.reasons() == {"unknown_kind": 1, "wrong_geometry_type": 1}
    assert "garbage_point (垃圾点)" in detail_of(batch, 3)


def test_numbers_parse_or_are_quarantined() -> None:
    fixes = pd.DataFrame({"report_id": [f"R{i}" for i in range(6)], "整改时间": ["2025-03-02 10:00"] * 6,
                          "吨数": ["1.5", "1,200", "abc", "2", None, "-1"],
                          "车次": [3.0, "4", "5", "2.5", None, "1"]})
    batch = prepare("rectifications", read_result(fixes), now=NOW)
    assert batch.accepted["tonnes"].tolist()[:2] == [1.5, 1200.0]
    assert batch.accepted["truck_trips"].tolist()[:2] == [3, 4]
    assert str(batch.accepted["truck_trips"].dtype) == "Int64"
    assert batch.accepted["report_id"].tolist() == ["R0", "R1", "R4"]
    assert pd.isna(batch.accepted.loc[2, "tonnes"]) and pd.isna(batch.accepted.loc[2, "truck_trips"])
    assert batch.reasons() == {"unparseable_value": 3}
    assert "'abc'" in detail_of(batch, 3) and "whole number" in detail_of(batch, 4)


# ----------------------------------------------------------------------------- grids


def test_grid_codes_are_assigned_by_location() -> None:
    x0, y0 = TO_4546.transform(*YULIN)
    grids = gpd.GeoDataFrame({"grid_code": [610802001003001.0, 610802001003002.0]},
                             geometry=[box(x0 - 500, y0 - 500, x0, y0 + 500), box(x0, y0 - 500, x0 + 500, y0 + 500)],
                             crs=4546)
    to_ll = Transformer.from_crs(4546, 4326, always_xy=True)
    west, east, away = to_ll.transform(x0 - 100, y0), to_ll.transform(x0 + 100, y0), to_ll.transform(x0 + 900, y0)
    records = report_rows([{"geometry": Point(*west)}, {"geometry": Point(*east)}, {"geometry": Point(*away)},
                           {"geometry": Point(38.29, 109.73)}])
    records["网格编码"] = ["wrong", None, "keep?", None]
    batch = prepare("reports", read_result(records), grids=grids, now=NOW)
    codes = batch.accepted["grid_code"].tolist()
    assert codes[:2] == ["610802001003001", "610802001003002"]
    assert pd.isna(codes[2]) and len(codes) == 3
    # an L-shaped target whose centroid lies outside it: the representative point decides
    ell = Polygon([(x0 + 50, y0 - 400), (x0 + 450, y0 - 400), (x0 + 450, y0 + 400), (x0 + 350, y0 + 400),
                   (x0 + 350, y0 - 300), (x0 + 50, y0 - 300)])
    targets = gpd.GeoDataFrame({"target_id": ["T1"], "kind": ["拆迁片区"]}, geometry=[ell], crs=4546)
    tb = prepare("targets", read_result(targets), grids=grids)
    assert tb.accepted["grid_code"].tolist() == ["610802001003002"]


# ----------------------------------------------------------------------------- nothing lost, ever


ROW_KINDS = {
    "good": ({}, None),
    "swapped": ({"geometry": Point(38.29, 109.73)}, "swapped_coordinates"),
    "no_geometry": ({"geometry": None}, "missing_coordinates"),
    "far_away": ({"geometry": Point(-74.0, 40.7)}, "outside_china"),
    "out_of_range": ({"geometry": Point(500.0, 500.0)}, "coordinates_out_of_range"),
    "future": ({"上报时间": "2031-01-01 00:00"}, "future_time"),
    "no_time": ({"上报时间": ""}, "missing_time"),
    "bad_time": ({"上报时间": "昨天"}, "unparseable_time"),
    "bad_category": ({"类别": "???"}, "unknown_category"),
    "no_id": ({"编号": None}, "missing_value"),
    "polygon": ({"geometry": box(109.7, 38.2, 109.8, 38.3)}, "wrong_geometry_type"),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(st.sampled_from(sorted(ROW_KINDS)), min_size=1, max_size=30),
       reader_rejects=st.integers(min_value=0, max_value=3))
def test_nothing_is_lost_for_any_mix_of_rows(kinds: list[str], reader_rejects: int) -> None:
    rows = [ROW_KINDS[k][0] for k in kinds]
    records = report_rows(rows).assign(_record=np.arange(1, len(rows) + 1) * 2)
    earlier = quarantine_frame([quarantine_row(layer="reports", source="f", source_digest="ab" * 8, record=2 * i + 1,
                                               raw="?", reason="unreadable_record", detail="x")
                                for i in range(reader_rejects)])
    result = read_result(records, quarantine=earlier)
    out_of_range = kinds.count("out_of_range")
    with_coordinates = sum(k not in ("no_geometry",) for k in kinds)
    if out_of_range * 2 > with_coordinates:
        with pytest.raises(CRSError, match="outside longitude/latitude range"):
            prepare("reports", result, now=NOW)
        return
    batch = prepare("reports", result, now=NOW)
    expected: dict[str, int] = {}
    for kind in kinds:
        reason = ROW_KINDS[kind][1]
        if reason:
            expected[reason] = expected.get(reason, 0) + 1
    if reader_rejects:
        expected["unreadable_record"] = reader_rejects
    assert batch.reasons() == dict(sorted(expected.items()))
    assert batch.read == len(kinds) + reader_rejects == len(batch.accepted) + len(batch.quarantine)
    good = [2 * (i + 1) for i, k in enumerate(kinds) if k == "good"]
    assert batch.accepted["_record"].tolist() == good
    assert sorted(batch.quarantine["record"].tolist() + good) == sorted(
        [2 * (i + 1) for i in range(len(kinds))] + [2 * i + 1 for i in range(reader_rejects)])


# ----------------------------------------------------------------------------- performance


def _lattice_reports(n: int, swapped: int) -> tuple[np.ndarray, np.ndarray, ReadResult, gpd.GeoDataFrame]:
    rng = np.random.default_rng(1)
    lon = 109.70 + rng.random(n) * 0.06
    lat = 38.27 + rng.random(n) * 0.04
    seconds = rng.integers(0, 60 * 86400, n)
    times = (pd.Timestamp("2025-01-01") + pd.to_timedelta(seconds, unit="s")).strftime("%Y-%m-%d %H:%M:%S")
    labels = np.array([c.zh for c in CATEGORIES.values()])[rng.integers(0, len(CATEGORIES), n)]
    lon[:swapped], lat[:swapped] = 38.29, 109.73  # swapped, to be quarantined
    records = gpd.GeoDataFrame({"编号": pd.Series(np.arange(n)).astype("str"), "上报时间": times, "类别": labels,
                                "_record": np.arange(1, n + 1)}, geometry=shapely.points(lon, lat), crs=4326)
    grids = gpd.GeoDataFrame({"grid_code": [f"G{i}" for i in range(36)]},
                             geometry=[box(109.70 + (i % 6) * 0.01, 38.27 + (i // 6) * 0.04 / 6,
                                           109.71 + (i % 6) * 0.01, 38.27 + (i // 6 + 1) * 0.04 / 6)
                                       for i in range(36)], crs=4326)
    return lon, lat, read_result(records), grids


@pytest.mark.slow
def test_a_million_reports_prepare_with_no_per_row_python_work() -> None:
    """1M reports get the right grids, and preparing them runs no Python code per row.

    Deterministic stand-in for "fast" (timings: benchmarks/import.py): the Python function calls of
    preparing 1M reports exceed those of 2,000 reports (with the same 1,000 to quarantine) by less than
    one per 100 rows.
    """
    n = 1_000_000
    lon, lat, big, grids = _lattice_reports(n, 1000)
    _, _, small, _ = _lattice_reports(2000, 1000)  # as many quarantined rows: they are reported one by one
    area = box(109.70, 38.27, 109.76, 38.31)
    batch, extra = extra_calls(lambda: prepare("reports", small, grids=grids, subdistrict=area, now=NOW),
                               lambda: prepare("reports", big, grids=grids, subdistrict=area, now=NOW))
    assert batch.reasons() == {"swapped_coordinates": 1000}
    assert len(batch.accepted) == n - 1000
    # the grid of each point, computed independently from its position in the 6 x 6 lattice
    col = np.minimum(((lon[1000:] - 109.70) / 0.01).astype(int), 5)
    row = np.minimum(((lat[1000:] - 38.27) / (0.04 / 6)).astype(int), 5)
    fx, fy = (lon[1000:] - 109.70) / 0.01, (lat[1000:] - 38.27) / (0.04 / 6)
    interior = (np.abs(fx - np.round(fx)) > 1e-6) & (np.abs(fy - np.round(fy)) > 1e-6)
    expected = np.array([f"G{r * 6 + c}" for r, c in zip(row, col)])
    assert (batch.accepted["grid_code"].to_numpy()[interior] == expected[interior]).all()
    assert extra < (n - 2000) / 100, extra
