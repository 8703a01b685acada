"""Column names as offices write them: built-in aliases, DBF-truncated names, --map, stored aliases, extra.

The files are built the way offices make them: a GBK shapefile of grids without .cpg and without a
code-page byte with Chinese field names, the same with English names cut to the DBF's 10 characters,
and an Excel ledger (.xlsx and .xls) with a title row and columns the model has no place for.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

import gridmap
from gridmap.cli import main
from gridmap.pages.common import shareable
from gridmap.model import (
    COLUMN_ALIASES, LAYER_COLUMN_ALIASES, LAYERS, alias_table, alias_table_markdown, alias_target, dbf_truncated,
)
from gridmap.export.privacy import redact_frame
from gridmap.io.records import extra_json
from gridmap.storage import open_workspace

from _imports import adds_up, rows, run_import

README = Path(__file__).resolve().parents[1] / "README.md"
X0, Y0 = 109.73, 38.29
COMMUNITIES = {"610802001001": "北门社区", "610802001002": "南门社区"}
# one row per grid: code, name, community (as written in the file), cadre, phone, area (mu), remark
GRIDS = [
    ("610802001001001", "北门社区第一网格", "北门社区", "王小明", "13912345678", 12.5, "含农贸市场"),
    ("610802001001002", "北门社区第二网格", "北门社区", "李四", "13800000002", 3.0, ""),
    ("610802001002001", "南门社区第一网格", "610802001002", "张向东", "13700000003", 7.25, "老城区"),
    ("610802001003001", "西门社区第一网格", "西门社区", "赵六", "13600000004", 1.0, "待划转"),
]


def _workspace(tmp_path: Path, name: str = "w.gpkg") -> Path:
    ws = tmp_path / name
    gridmap.init_workspace(ws).close()
    return ws


def _square(i: int) -> object:
    return box(X0 + 0.002 * i, Y0, X0 + 0.002 * (i + 1), Y0 + 0.002)


def _communities(tmp_path: Path, ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The communities layer, from a GeoJSON with the Chinese headers 社区编码 and 社区名称."""
    path = tmp_path / "communities.geojson"
    gpd.GeoDataFrame({"社区编码": list(COMMUNITIES), "社区名称": list(COMMUNITIES.values())},
                     geometry=[box(X0, Y0, X0 + 0.004, Y0 + 0.002), box(X0 + 0.004, Y0, X0 + 0.008, Y0 + 0.002)],
                     crs="EPSG:4326").to_file(path, driver="GeoJSON", engine="pyogrio")
    code, summary = run_import(capsys, str(ws), "communities", str(path))
    assert code == 0 and summary["accepted"] == 2 and summary["unmapped"] == []


def _gbk_ldid0(frame: gpd.GeoDataFrame, shp: Path) -> Path:
    """Write `frame` as a GBK shapefile, then blank the DBF's code-page byte and delete the .cpg."""
    pyogrio.write_dataframe(frame, shp, encoding="cp936")
    with open(shp.with_suffix(".dbf"), "r+b") as fh:
        fh.seek(29)
        fh.write(b"\0")
    shp.with_suffix(".cpg").unlink()
    return shp


def _grids_frame(headers: dict[str, str]) -> gpd.GeoDataFrame:
    """The grids of GRIDS under the given header for each of code/name/community/cadre/phone/area/remark."""
    keys = ["code", "name", "community", "cadre", "phone", "area", "remark"]
    data = {headers[k]: [row[i] for row in GRIDS] for i, k in enumerate(keys) if k in headers}
    return gpd.GeoDataFrame(data, geometry=[_square(i) for i in range(len(GRIDS))], crs="EPSG:4326")


def _dbf_bytes(shp: Path) -> bytes:
    return shp.with_suffix(".dbf").read_bytes()


# ----------------------------------------------------------------------------- shapefiles of grids


def test_gbk_shapefile_with_chinese_field_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    _communities(tmp_path, ws, capsys)
    shp = _gbk_ldid0(_grids_frame({"code": "网格编号", "name": "网格名称", "community": "所属社区", "cadre": "网格员",
                                   "phone": "联系电话", "area": "占地面积", "remark": "备注"}), tmp_path / "网格.shp")
    dbf = _dbf_bytes(shp)
    assert dbf[29] == 0 and not shp.with_suffix(".cpg").exists() and "网格编号".encode("gbk") in dbf
    code, summary = run_import(capsys, str(ws), "grids", str(shp))
    assert code == 0
    adds_up(summary)
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (4, 3, 1)
    assert summary["reasons"] == {"unknown_community": 1}
    assert summary["unmapped"] == ["占地面积", "备注"]
    stored = rows(ws, "SELECT grid_code, name, community_code, cadre, cadre_phone, extra FROM grids ORDER BY grid_code")
    expected_code = {"北门社区": "610802001001", "610802001002": "610802001002"}
    want = [(g[0], g[1], expected_code[g[2]], g[3], g[4]) for g in GRIDS[:3]]
    assert [r[:5] for r in stored] == want
    for row, grid in zip(stored, GRIDS[:3]):
        assert json.loads(row[5]) == {"占地面积": grid[5], **({"备注": grid[6]} if grid[6] else {})}
    (raw, detail), = rows(ws, "SELECT raw, detail FROM quarantine WHERE reason = 'unknown_community'")
    assert "西门社区" in raw and "西门社区" in detail and "北门社区" in detail
    assert "gridmap import WORKSPACE communities" in detail and "community code" in detail


def test_community_names_without_communities_layer_say_import_it_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    shp = _gbk_ldid0(_grids_frame({"code": "网格编号", "name": "网格名称", "community": "所属社区"}), tmp_path / "g.shp")
    code, summary = run_import(capsys, str(ws), "grids", str(shp))
    adds_up(summary)
    # only the row that wrote the code itself lands; names cannot be resolved yet
    assert (summary["accepted"], summary["reasons"]) == (1, {"unknown_community": 3})
    assert rows(ws, "SELECT grid_code, community_code FROM grids") == [("610802001002001", "610802001002")]
    details = [d for (d,) in rows(ws, "SELECT detail FROM quarantine")]
    assert all("gridmap import WORKSPACE communities" in d and "community code" in d for d in details)


def test_english_field_names_cut_to_ten_characters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    shp = _gbk_ldid0(_grids_frame({"code": "grid_code", "name": "name", "community": "community_",
                                   "cadre": "cadre", "phone": "cadre_phon"}).iloc[:3], tmp_path / "grids_en.shp")
    dbf = _dbf_bytes(shp)
    assert b"community_" in dbf and b"cadre_phon" in dbf and b"community_code" not in dbf
    # the file says codes: 北门社区 is not a code, so write the codes as an office's GIS would
    frame = gpd.read_file(shp, engine="pyogrio", encoding="gbk")
    assert list(frame.columns[:5]) == ["grid_code", "name", "community_", "cadre", "cadre_phon"]
    frame["community_"] = [g[0][:12] for g in GRIDS[:3]]
    shp = _gbk_ldid0(frame, tmp_path / "grids_en2.shp")
    code, summary = run_import(capsys, str(ws), "grids", str(shp))
    adds_up(summary)
    assert (summary["accepted"], summary["unmapped"]) == (3, [])
    stored = rows(ws, "SELECT grid_code, name, community_code, cadre, cadre_phone, extra FROM grids ORDER BY grid_code")
    assert stored == [(g[0], g[1], g[0][:12], g[3], g[4], None) for g in GRIDS[:3]]


def test_dbf_truncated_names_are_never_ambiguous_within_a_layer() -> None:
    every = set(COLUMN_ALIASES) | {h for table in LAYER_COLUMN_ALIASES.values() for h in table}
    for layer, spec in LAYERS.items():
        truncated = dbf_truncated(layer)
        long_names = [c.name for c in spec.columns if len(c.name) > 10]
        assert sorted(truncated.values()) == sorted(long_names)  # one form each, so no two columns share one
        for short, column in truncated.items():
            assert short == column[:10] and short not in spec.column_names
            assert alias_target(short, layer) == column
            # no built-in alias spells the short form and means another column
            assert short not in every or alias_target(short, layer) == column
    assert dbf_truncated("reports") == {"reported_a": "reported_at", "descriptio": "description"}
    assert dbf_truncated("rectifications") == {"rectified_": "rectified_at", "verified_a": "verified_at",
                                               "truck_trip": "truck_trips"}
    assert dbf_truncated("streets") == {"street_nam": "street_name", "street_chi": "street_chief"}


# ----------------------------------------------------------------------------- Excel ledgers

LEDGER_HEADER = ["序号", "编号", "上报时间", "问题类型", "问题描述", "经度", "纬度", "上报人", "联系电话", "网格名称"]
LEDGER = [
    [1, "TZ-0301-1", dt.datetime(2025, 3, 1, 8, 5), "垃圾乱倒", "北大街口有垃圾", 109.731, 38.291, "刘一", "13512345678",
     "北门社区第一网格"],
    [2, "TZ-0301-2", dt.datetime(2025, 3, 1, 9, 30), "暴露垃圾", "南门外", 109.735, 38.292, None, None, "南门社区第一网格"],
    [3, "TZ-0301-3", dt.datetime(2025, 3, 2, 14, 0), "乱摆摊", "", 109.733, 38.291, "陈二", "13400000000", None],
]


def _expected_extra(row: list) -> dict:
    """What the ledger row's unmapped columns (序号, 上报人, 联系电话, 网格名称) should give.

    The Excel reader reads every cell as text, as a CSV's (a phone number must keep its digits),
    so 序号 1 comes back as "1".
    """
    values = dict(zip(LEDGER_HEADER, row))
    return {k: str(values[k]) for k in ("序号", "上报人", "联系电话", "网格名称") if values[k] not in (None, "")}


def _xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["鼓楼街道环境卫生问题台账（2025年3月）"])
    sheet.append([])
    sheet.append(LEDGER_HEADER)
    for row in LEDGER:
        sheet.append(row)
    book.save(path)
    return path


def _xls(path: Path) -> Path:
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("台账")
    dates = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    sheet.write(0, 0, "鼓楼街道环境卫生问题台账（2025年3月）")
    for j, name in enumerate(LEDGER_HEADER):
        sheet.write(2, j, name)
    for i, row in enumerate(LEDGER, start=3):
        for j, value in enumerate(row):
            if value is not None:
                sheet.write(i, j, value, dates) if isinstance(value, dt.datetime) else sheet.write(i, j, value)
    book.save(str(path))
    return path


@pytest.mark.parametrize("make", [_xlsx, _xls], ids=["xlsx", "xls"])
def test_excel_ledger_keeps_unmapped_columns_in_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      make) -> None:
    ws = _workspace(tmp_path)
    book = make(tmp_path / f"台账.{make.__name__[1:]}")
    code, summary = run_import(capsys, str(ws), "reports", str(book), "--coords", "wgs84")
    assert code == 0
    adds_up(summary)
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (3, 2, 1)
    assert summary["reasons"] == {"unknown_category": 1}  # 乱摆摊 is no category
    assert summary["unmapped"] == ["序号", "上报人", "联系电话", "网格名称"]
    stored = rows(ws, "SELECT report_id, reported_at, category, description, extra FROM reports ORDER BY report_id")
    assert [(r[0], pd.Timestamp(r[1]), r[2], r[3]) for r in stored] == [
        ("TZ-0301-1", pd.Timestamp("2025-03-01 08:05", tz="Asia/Shanghai"), "garbage_dumping", "北大街口有垃圾"),
        ("TZ-0301-2", pd.Timestamp("2025-03-01 09:30", tz="Asia/Shanghai"), "garbage_dumping", "南门外"),
    ]
    assert [json.loads(r[4]) for r in stored] == [_expected_extra(LEDGER[0]), _expected_extra(LEDGER[1])]
    # the summary printed for people names them too
    capsys.readouterr()
    assert main(["import", str(ws), "reports", str(book), "--coords", "wgs84"]) == 0
    assert "kept in extra (no model column): 序号, 上报人, 联系电话, 网格名称" in capsys.readouterr().out


def test_file_without_unmapped_columns_has_no_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    csv = tmp_path / "r.csv"
    csv.write_text("report_id,reported_at,category,lon,lat\nR1,2025-03-01 08:00,垃圾乱倒,109.73,38.29\n",
                   encoding="utf-8")
    code, summary = run_import(capsys, str(ws), "reports", str(csv), "--coords", "wgs84")
    assert (code, summary["accepted"], summary["unmapped"]) == (0, 1, [])
    assert rows(ws, "SELECT extra FROM reports") == [(None,)]


# ----------------------------------------------------------------------------- --map and gridmap alias

PATROL_HEADER = "编号,上报时间,问题类型,巡查发现问题,描述,lon,lat"
PATROL_ROWS = ["P1,2025-03-01 08:00,垃圾乱倒,路口堆放建筑垃圾,旧描述一,109.731,38.291",
               "P2,2025-03-01 09:00,柴草垛,院内柴草,,109.732,38.292"]


def _patrol_csv(path: Path, header: str = PATROL_HEADER) -> Path:
    path.write_text("\n".join([header, *PATROL_ROWS]) + "\n", encoding="utf-8")
    return path


def _stored_reports(ws: Path) -> list[tuple]:
    return rows(ws, "SELECT report_id, reported_at, category, description, extra FROM reports ORDER BY report_id")


def test_map_and_stored_alias_equal_a_renamed_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _patrol_csv(tmp_path / "patrol.csv")
    # by hand: the header renamed to the model's name, and the old 描述 column renamed out of the way
    renamed = _patrol_csv(tmp_path / "renamed.csv", "编号,上报时间,问题类型,description,旧描述,lon,lat")
    by_hand, mapped, aliased = (_workspace(tmp_path, f"{n}.gpkg") for n in ("hand", "map", "alias"))
    _, s_hand = run_import(capsys, str(by_hand), "reports", str(renamed), "--coords", "wgs84")
    _, s_map = run_import(capsys, str(mapped), "reports", str(source), "--coords", "wgs84",
                          "--map", "巡查发现问题=description")
    assert main(["alias", str(aliased), "reports", "巡查发现问题=description"]) == 0
    assert "巡查发现问题 → description" in capsys.readouterr().out
    _, s_alias = run_import(capsys, str(aliased), "reports", str(source), "--coords", "wgs84")
    hand = _stored_reports(by_hand)
    assert [(r[0], r[3]) for r in hand] == [("P1", "路口堆放建筑垃圾"), ("P2", "院内柴草")]
    assert [r[4] and json.loads(r[4]) for r in hand] == [{"旧描述": "旧描述一"}, None]
    # the user's mapping beats the built-in alias 描述 → description, which is then kept in extra
    assert [r[:4] for r in _stored_reports(mapped)] == [r[:4] for r in hand]
    assert [r[:4] for r in _stored_reports(aliased)] == [r[:4] for r in hand]
    assert [r[4] and json.loads(r[4]) for r in _stored_reports(aliased)] == [{"描述": "旧描述一"}, None]
    assert s_alias["unmapped"] == ["描述"] and s_hand["unmapped"] == ["旧描述"]
    assert s_map["accepted"] == s_alias["accepted"] == s_hand["accepted"] == 2
    # the alias persists: the workspace opened again still has it, and lists it
    with open_workspace(aliased) as w:
        assert w.column_aliases("reports").values.tolist() == [["reports", "巡查发现问题", "description"]]
    capsys.readouterr()
    assert main(["alias", str(aliased), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "aliases": [{"layer": "reports", "source": "巡查发现问题", "target": "description"}]}
    assert main(["alias", str(aliased), "grids"]) == 0
    assert capsys.readouterr().out.strip() == "no column aliases stored for grids"
    assert main(["alias", str(aliased), "网格名称=name"]) == 2
    assert "is a mapping, not a layer" in capsys.readouterr().err


def test_map_with_a_source_holding_an_equals_sign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    src = _patrol_csv(tmp_path / "p.csv", "编号,上报时间,问题类型,a=b,描述,lon,lat")
    _, summary = run_import(capsys, str(ws), "reports", str(src), "--coords", "wgs84", "--map", "a=b=description")
    assert summary["unmapped"] == ["描述"]
    assert [r[3] for r in _stored_reports(ws)] == ["路口堆放建筑垃圾", "院内柴草"]


def test_map_and_alias_refuse_a_column_the_layer_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    src = _patrol_csv(tmp_path / "p.csv")
    code, out = run_import(capsys, str(ws), "reports", str(src), "--coords", "wgs84", "--map", "巡查发现问题=cadre")
    assert code == 2 and "cadre is not a column of layer 'reports'" in out["err"]
    assert "report_id, reported_at, category, description" in out["err"]
    assert rows(ws, "SELECT COUNT(*) FROM reports") == [(0,)]
    capsys.readouterr()
    assert main(["alias", str(ws), "grids", "网格名=name", "片=area"]) == 2
    err = capsys.readouterr().err
    assert "area is not a column of layer 'grids'" in err and "grid_code, name, community_code" in err
    with open_workspace(ws) as w:  # nothing stored, not even the good pair before the bad one
        assert len(w.column_aliases()) == 0
    assert main(["alias", str(ws), "grids", "网格名"]) == 2
    assert "HEADER=COLUMN" in capsys.readouterr().err


def test_import_file_columns_override_stored_aliases(tmp_path: Path) -> None:
    ws_path = _workspace(tmp_path)
    src = _patrol_csv(tmp_path / "p.csv")
    with open_workspace(ws_path) as ws:
        ws.add_column_alias("reports", "巡查发现问题", "description")
        summary = gridmap.import_file(ws, "reports", src, coords="wgs84", columns={"描述": "description"})
    assert summary.unmapped == ["巡查发现问题"]
    stored = _stored_reports(ws_path)
    assert [r[3] for r in stored] == ["旧描述一", None]
    assert [json.loads(r[4]) for r in stored] == [{"巡查发现问题": "路口堆放建筑垃圾"}, {"巡查发现问题": "院内柴草"}]


# ----------------------------------------------------------------------------- the alias table


def test_readme_lists_exactly_the_model_aliases() -> None:
    text = README.read_text(encoding="utf-8")
    assert "## Your own files" in text and "### Column names" in text
    table = re.search(r"<!-- alias-table:start -->\n(.*?)\n<!-- alias-table:end -->", text, re.S).group(1)
    assert table == alias_table_markdown()
    listed = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert sorted(listed) == sorted(set(COLUMN_ALIASES) | {h for t in LAYER_COLUMN_ALIASES.values() for h in t})
    # each row says what alias_target says, layer by layer
    for header, meaning in alias_table():
        for part in meaning.split("; "):
            column, layers = re.fullmatch(r"(\w+) \((.*)\)", part).groups()
            assert all(alias_target(header, layer) == column for layer in layers.split(", "))


@pytest.mark.parametrize(("header", "layer", "column"), [
    ("网格编号", "grids", "grid_code"), ("网格编码", "grids", "grid_code"), ("网格代码", "grids", "grid_code"),
    ("网格名称", "grids", "name"), ("所属社区", "grids", "community_code"), ("社区名称", "grids", "community_code"),
    ("社区编码", "grids", "community_code"), ("社区代码", "grids", "community_code"), ("网格长", "grids", "cadre"),
    ("包抓干部", "grids", "cadre"), ("责任人", "grids", "cadre"), ("手机号", "grids", "cadre_phone"),
    ("电话", "grids", "cadre_phone"), ("片区", "grids", "area_code"), ("片区编码", "grids", "area_code"),
    ("社区名称", "communities", "name"), ("包片领导", "areas", "leader"), ("片区名称", "areas", "name"),
    ("街长", "streets", "street_chief"), ("道路名称", "streets", "street_name"), ("街道", "streets", "street_name"),
    ("拆迁片区", "demolition_zones", "name"), ("片区名称", "demolition_zones", "name"),
    ("点位类型", "targets", "kind"), ("类型", "targets", "kind"), ("类型", "reports", "category"),
    ("整改人", "rectifications", "by"), ("整改时间", "rectifications", "rectified_at"),
    ("核验时间", "rectifications", "verified_at"), ("抽查结果", "spotchecks", "result"),
    ("抽查时间", "spotchecks", "checked_at"), ("定位时间", "tracks", "time"),
    # harmless elsewhere: a ledger's 网格员/网格名称/电话 are not a report's columns
    ("网格员", "reports", None), ("网格名称", "targets", None), ("电话", "reports", None), ("街道", "grids", None),
])
def test_builtin_aliases(header: str, layer: str, column: str | None) -> None:
    assert alias_target(header, layer) == column


# ----------------------------------------------------------------------------- extra as JSON

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=60)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.lists(st.none() | _text, min_size=3, max_size=3),
                       min_size=1, max_size=5).filter(lambda columns: "\x01数值" not in columns),
       st.lists(st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-2**53, 2**53),
                min_size=3, max_size=3))
@example({'"\\\n': [" ", "\x00", '"'], "备注": ["张三", None, ""]}, [1.5, None, 3])
def test_extra_json_round_trips_any_headers_and_values(columns: dict[str, list], numbers: list) -> None:
    frame = pd.DataFrame({h: pd.Series(v, dtype=object) for h, v in columns.items()})
    number_header = "\x01数值"
    frame[number_header] = pd.Series([np.nan if v is None else float(v) for v in numbers], dtype="float64")
    text = extra_json(frame, list(frame.columns))
    for i in range(3):
        want = {h: v[i] for h, v in columns.items() if v[i] is not None and v[i].strip()}
        if numbers[i] is not None:
            want[number_header] = float(numbers[i])
        got = text.iloc[i]
        if not want:
            assert pd.isna(got)
            continue
        assert json.loads(got) == want and list(json.loads(got)) == list(want)  # the file's column order
        assert got == json.dumps(json.loads(got), ensure_ascii=False)  # plain json.dumps form, Chinese readable


def test_extra_keeps_times_as_text_and_whole_numbers_as_integers() -> None:
    frame = pd.DataFrame({"期限": pd.to_datetime(["2025-03-05 00:00", None]), "次数": pd.array([2, None], "Int64"),
                          "面积": [3.0, 0.5], "是否": [True, False]})
    assert extra_json(frame, list(frame.columns)).tolist() == [
        '{"期限": "2025-03-05 00:00:00", "次数": 2, "面积": 3, "是否": true}', '{"面积": 0.5, "是否": false}']


# ----------------------------------------------------------------------------- privacy


def test_shared_exports_never_show_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(tmp_path)
    csv = tmp_path / "r.csv"
    csv.write_text("report_id,reported_at,category,description,联系人,电话,lon,lat\n"
                   "R1,2025-03-01 08:00,垃圾乱倒,北大街,张三,13912345678,109.73,38.29\n", encoding="utf-8")
    code, summary = run_import(capsys, str(ws), "reports", str(csv), "--coords", "wgs84")
    assert (code, summary["unmapped"]) == (0, ["联系人", "电话"])
    with open_workspace(ws) as w:
        reports = w.read_layer("reports")
    assert json.loads(reports.loc[0, "extra"]) == {"联系人": "张三", "电话": "13912345678"}  # it is there to leak
    for shared in (shareable(reports), redact_frame(reports)):
        assert "extra" not in shared.columns
        dumped = shared.drop(columns=shared.geometry.name).to_json(force_ascii=False, date_format="iso")
        assert "张三" not in dumped and "13912345678" not in dumped and "北大街" in dumped


def test_reader_columns_are_not_the_files_own(tmp_path: Path) -> None:
    from gridmap.io.base import ReadResult, quarantine_frame
    from gridmap.io.records import prepare

    fixes = gpd.GeoDataFrame({"_record": [1, 2], "_kind": ["trkpt", "trkpt"], "time": ["2025-03-01 08:00:00"] * 2,
                              "ele": [1100.5, None], "segment": [1, 1]},
                             geometry=gpd.points_from_xy([X0, X0 + 0.001], [Y0, Y0]), crs="EPSG:4326")
    batch = prepare("tracks", ReadResult(fixes, quarantine_frame(), "t.gpx", "0" * 16),
                    defaults={"inspector": "巡查员A"}, now=pd.Timestamp("2025-03-02"))
    assert batch.unmapped == ["ele", "segment"]
    assert [json.loads(v) for v in batch.accepted["extra"]] == [{"ele": 1100.5, "segment": 1}, {"segment": 1}]


def test_a_files_own_extra_column_is_merged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A layer exported with its extra and imported again keeps it; new unmapped columns join it."""
    ws = _workspace(tmp_path)
    csv = tmp_path / "again.csv"
    pd.DataFrame({"report_id": ["R1", "R2", "R3"], "reported_at": ["2025-03-01 08:00"] * 3,
                  "category": ["垃圾乱倒"] * 3, "extra": ['{"上报人": "刘一", "序号": 1}', None, "not json"],
                  "网格名称": ["一网格", None, "三网格"], "lon": [X0] * 3, "lat": [Y0] * 3}).to_csv(csv, index=False)
    code, summary = run_import(capsys, str(ws), "reports", str(csv), "--coords", "wgs84")
    assert (code, summary["accepted"], summary["unmapped"]) == (0, 3, ["网格名称"])
    stored = [v and json.loads(v) for (v,) in rows(ws, "SELECT extra FROM reports ORDER BY report_id")]
    assert stored == [{"上报人": "刘一", "序号": 1, "网格名称": "一网格"}, None,
                      {"extra": "not json", "网格名称": "三网格"}]


def test_a_stored_alias_to_extra_keeps_the_column_in_extra(tmp_path: Path) -> None:
    ws_path = _workspace(tmp_path)
    with open_workspace(ws_path) as ws:
        ws.add_column_alias("reports", "描述", "extra")  # the workspace accepts it; import must not choke on it
        summary = gridmap.import_file(ws, "reports", _patrol_csv(tmp_path / "p.csv"), coords="wgs84")
    assert summary.unmapped == ["巡查发现问题", "描述"]
    assert [r[3] for r in _stored_reports(ws_path)] == [None, None]
