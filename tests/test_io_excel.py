"""Excel ledgers (台账) imported through the command line, built the way offices make them.

Workbooks are written here with openpyxl (``.xlsx``) and xlwt (``.xls``); every
import goes through ``gridmap.cli.main`` into a fresh workspace, and the stored
times and positions are compared with the values written into the cells.
Expected Excel serial numbers are computed independently: in the 1900 system a
date after 1900-02-28 is ``(date - 1899-12-30).days`` (the one-day shift of the
non-existent 1900-02-29), in the 1904 system ``(date - 1904-01-01).days``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from gridmap.cli import main
from gridmap.io.excel import cell_text, column_text, read_excel
from gridmap.storage import open_workspace

HEADER = ["编号", "上报时间", "问题类型", "描述", "经度", "纬度"]
TZ = "Asia/Shanghai"


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "w.gpkg"
    assert main(["init", str(ws)]) == 0
    return ws


def _import(ws: Path, path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    capsys.readouterr()
    code = main(["import", str(ws), "reports", str(path), "--coords", "wgs84", "--json", *extra])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0, out
    summary = json.loads(out[-1])
    assert summary["read"] == summary["accepted"] + summary["duplicates"] + summary["quarantined"]
    return summary


def _reports(ws: Path) -> pd.DataFrame:
    with open_workspace(ws) as w:
        frame = w.read_layer("reports")
    return frame.set_index("report_id")


def _at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_localize(TZ)


def _assert_position(row: pd.Series, lon: float, lat: float) -> None:
    assert row.geometry.x == pytest.approx(lon, abs=1e-7)
    assert row.geometry.y == pytest.approx(lat, abs=1e-7)


def _office_sheet(ws: openpyxl.worksheet.worksheet.Worksheet) -> None:
    """A title merged across the columns, a blank row, the header, rows of every kind of cell."""
    ws["A1"] = "鼓楼街道2025年3月环境卫生问题台账"
    ws.merge_cells("A1:F1")
    ws.append([])
    ws.append(HEADER)
    ws.append([1001, dt.datetime(2025, 3, 1, 8, 5, 7), "垃圾乱倒", "北大街垃圾堆", 109.73, 38.29])
    ws.append(["R2", "2025/3/2 9:30", "垃圾乱倒", "文本日期与文本数字", "109.7412345", "38.2987654"])
    ws.append(["R3", 45717, "垃圾乱倒", "日期序列号", 109.75, 38.31])
    ws.cell(ws.max_row, 2).number_format = "yyyy-mm-dd hh:mm"
    ws.append([])  # a blank row between records is skipped, not a record
    ws.append(["R4", "2025-03-03 10:00", "垃圾乱倒", "缺纬度", 109.76, None])


def test_office_ledger_title_blank_row_dates_and_text_numbers(tmp_path, capsys):
    path = tmp_path / "台账.xlsx"
    wb = openpyxl.Workbook()
    _office_sheet(wb.active)
    wb.save(path)
    ws = _workspace(tmp_path)
    summary = _import(ws, path, capsys)
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (4, 3, 1)
    reports = _reports(ws)
    assert sorted(reports.index) == ["1001", "R2", "R3"]  # a number id reads as 1001, not 1001.0
    assert reports.loc["1001", "reported_at"] == _at("2025-03-01 08:05:07")
    assert reports.loc["R2", "reported_at"] == _at("2025-03-02 09:30")
    assert reports.loc["R3", "reported_at"] == _at("2025-03-01 00:00")
    assert str(reports["reported_at"].dt.tz) == TZ
    _assert_position(reports.loc["1001"], 109.73, 38.29)
    _assert_position(reports.loc["R2"], 109.7412345, 38.2987654)
    _assert_position(reports.loc["R3"], 109.75, 38.31)
    assert reports.loc["R2", "description"] == "文本日期与文本数字"
    with open_workspace(ws) as w:
        quarantine = w.quarantine()
    assert quarantine["reason"].tolist() == ["missing_coordinates"]
    assert quarantine["record"].tolist() == [8]  # the Excel row of R4: rows are numbered as Excel shows them
    assert json.loads(quarantine["raw"].iloc[0])["描述"] == "缺纬度"
    again = _import(ws, path, capsys)
    assert (again["read"], again["accepted"], again["duplicates"]) == (4, 0, 3)


def test_2025_date_cell_is_that_date_despite_the_1900_leap_year_bug(tmp_path):
    serial = (dt.date(2025, 3, 1) - dt.date(1899, 12, 30)).days
    assert serial == 45717  # Excel's DATE(2025,3,1)
    path = tmp_path / "serials.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["日期"])
    for value in (59, 61, serial, dt.date(2025, 3, 1)):
        ws.append([value])
        ws.cell(ws.max_row, 1).number_format = "yyyy-mm-dd"
    wb.save(path)
    res = read_excel(path, require_coordinates=False)
    # 59 is 1900-02-28, 61 is 1900-03-01 (60 is the non-existent 1900-02-29): a naive count would be a day late
    assert res.records["日期"].tolist() == ["1900-02-28", "1900-03-01", "2025-03-01", "2025-03-01"]


def test_1904_workbook_dates(tmp_path, capsys):
    path = tmp_path / "mac.xlsx"
    wb = openpyxl.Workbook()
    wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    ws.append(HEADER)
    ws.append(["M1", dt.datetime(2025, 3, 1, 8, 5), "垃圾乱倒", "1904 日期", 109.73, 38.29])
    ws.append(["M2", (dt.date(2025, 3, 4) - dt.date(1904, 1, 1)).days, "垃圾乱倒", "1904 序列号", 109.74, 38.30])
    ws.cell(3, 2).number_format = "yyyy-mm-dd"
    wb.save(path)
    # the cell holds the 1904-based serial, 1462 days less than the 1900-based one
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml").decode()
    serial = float(re.search(r'<c r="B2"[^>]*><v>([^<]+)</v>', xml).group(1))
    assert serial == pytest.approx((dt.datetime(2025, 3, 1, 8, 5) - dt.datetime(1904, 1, 1)) / dt.timedelta(days=1),
                                   abs=1e-9)
    ws_path = _workspace(tmp_path)
    summary = _import(ws_path, path, capsys)
    assert (summary["read"], summary["accepted"]) == (2, 2)
    reports = _reports(ws_path)
    assert reports.loc["M1", "reported_at"] == _at("2025-03-01 08:05")
    assert reports.loc["M2", "reported_at"] == _at("2025-03-04 00:00")
    _assert_position(reports.loc["M2"], 109.74, 38.30)


def _set_cached_value(path: Path, cell: str, value: str) -> None:
    """Write the value Excel would have cached for a formula (openpyxl writes formulas with an empty <v/>)."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text, n = re.subn(rf'(<c r="{cell}"[^>]*>)(<f>[^<]*</f>)<v\s*/>', rf"\g<1>\g<2><v>{value}</v>",
                                  data.decode())
                assert n == 1, "the formula cell was not found"
                data = text.encode()
            dst.writestr(item, data)
    tmp.replace(path)


def test_formulas_read_their_cached_value_and_merged_cells_fill_their_range(tmp_path, capsys):
    path = tmp_path / "formula.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER + ["网格"])
    ws.append(["F1", "2025-03-01 08:00", "垃圾乱倒", "经度由公式算出", "=G2+0.5", 38.29, 109.23])
    ws.append(["F2", "2025-03-01 09:00", "垃圾乱倒", "合并的类型", 109.8, 38.4, 0])
    ws.append(["F3", "2025-03-01 10:00", None, "合并的类型", 109.9, 38.5, 0])
    ws.merge_cells("C3:C4")  # 问题类型 merged over two records, as ledgers do
    wb.save(path)
    # Without a cached value (as openpyxl leaves it) calamine reads the formula cell as empty:
    assert read_excel(path, coords="wgs84").quarantine["reason"].tolist() == ["missing_coordinates"]
    _set_cached_value(path, "E2", "109.73")
    ws_path = _workspace(tmp_path)
    summary = _import(ws_path, path, capsys)
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (3, 3, 0)
    reports = _reports(ws_path)
    _assert_position(reports.loc["F1"], 109.73, 38.29)
    assert reports.loc["F3", "category"] == reports.loc["F1", "category"]
    _assert_position(reports.loc["F3"], 109.9, 38.5)


def _two_sheets(path: Path) -> None:
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "填表说明"
    notes.append(["请按表填写"])
    ledger = wb.create_sheet("3月台账")
    ledger.append(HEADER)
    ledger.append(["S1", "2025-03-05 14:20:30", "垃圾乱倒", "第二张表", 109.7, 38.2])
    wb.save(path)


@pytest.mark.parametrize("sheet", ["3月台账", "2"])
def test_second_sheet_by_name_and_by_number(tmp_path, capsys, sheet):
    path = tmp_path / "two.xlsx"
    _two_sheets(path)
    ws = _workspace(tmp_path)
    summary = _import(ws, path, capsys, "--sheet", sheet)
    assert (summary["read"], summary["accepted"]) == (1, 1)
    reports = _reports(ws)
    assert reports.loc["S1", "reported_at"] == _at("2025-03-05 14:20:30")
    _assert_position(reports.loc["S1"], 109.7, 38.2)


def test_import_file_api_takes_sheet_and_header_row(tmp_path):
    from gridmap import import_file

    path = tmp_path / "two.xlsx"
    _two_sheets(path)
    ws = _workspace(tmp_path)
    summary = import_file(ws, "reports", path, coords="wgs84", sheet=2, header_row=1)
    assert (summary.read, summary.accepted) == (1, 1)
    assert _reports(ws).loc["S1", "reported_at"] == _at("2025-03-05 14:20:30")


def test_unknown_sheet_lists_the_sheets_and_names_the_flag(tmp_path, capsys):
    path = tmp_path / "two.xlsx"
    _two_sheets(path)
    ws = _workspace(tmp_path)
    capsys.readouterr()
    assert main(["import", str(ws), "reports", str(path), "--coords", "wgs84", "--sheet", "4月"]) == 2
    err = capsys.readouterr().err
    assert "'填表说明'" in err and "'3月台账'" in err and "--sheet" in err
    assert "Traceback" not in err
    # the first sheet (notes, no header) is refused with the flags that fix it
    assert main(["import", str(ws), "reports", str(path), "--coords", "wgs84"]) == 2
    err = capsys.readouterr().err
    assert "--header-row" in err and "Traceback" not in err


def test_header_row_given(tmp_path, capsys):
    path = tmp_path / "台账.xlsx"
    wb = openpyxl.Workbook()
    _office_sheet(wb.active)
    wb.save(path)
    ws = _workspace(tmp_path)
    assert _import(ws, path, capsys, "--header-row", "3")["accepted"] == 3
    capsys.readouterr()
    # the title row as header: no coordinate columns, said without a traceback
    assert main(["import", str(ws), "reports", str(path), "--coords", "wgs84", "--header-row", "1"]) == 2
    err = capsys.readouterr().err
    assert "longitude/latitude" in err and "Traceback" not in err
    assert main(["import", str(ws), "reports", str(path), "--coords", "wgs84", "--header-row", "99"]) == 2
    assert "--header-row 99" in capsys.readouterr().err


def test_sheet_flag_on_a_csv_is_refused(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("编号,经度,纬度\nA,109.7,38.2\n", encoding="utf-8")
    ws = _workspace(tmp_path)
    capsys.readouterr()
    assert main(["import", str(ws), "reports", str(path), "--coords", "wgs84", "--sheet", "2"]) == 2
    assert "--sheet" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"not a workbook at all", b"PK\x03\x04 truncated zip",
                                     b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600])
def test_damaged_workbook_is_a_message(tmp_path, capsys, content):
    path = tmp_path / "坏.xlsx"
    path.write_bytes(content)
    ws = _workspace(tmp_path)
    capsys.readouterr()
    assert main(["import", str(ws), "reports", str(path), "--coords", "wgs84"]) == 2
    err = capsys.readouterr().err
    assert "坏.xlsx" in err and "Traceback" not in err and "CSV" in err
    assert ("encrypted with a password" in err) == content.startswith(b"\xd0\xcf\x11\xe0")


def test_xls_from_xlwt(tmp_path, capsys):
    xlwt = pytest.importorskip("xlwt")
    path = tmp_path / "台账.xls"
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("台账")
    sheet.write_merge(0, 0, 0, 5, "鼓楼街道问题台账")
    for col, name in enumerate(HEADER):
        sheet.write(2, col, name)
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
    rows = [
        ["X1", dt.datetime(2025, 3, 6, 7, 45, 10), "垃圾乱倒", "xls 日期", 109.731, 38.291],
        ["X2", "2025-03-07 18:00", "垃圾乱倒", "xls 文本", "109.7412345", "38.2987654"],
    ]
    for r, row in enumerate(rows, start=3):
        for col, value in enumerate(row):
            if isinstance(value, dt.datetime):
                sheet.write(r, col, value, date_style)
            else:
                sheet.write(r, col, value)
    book.save(str(path))
    ws = _workspace(tmp_path)
    summary = _import(ws, path, capsys)
    assert (summary["read"], summary["accepted"]) == (2, 2)
    reports = _reports(ws)
    assert reports.loc["X1", "reported_at"] == _at("2025-03-06 07:45:10")
    assert reports.loc["X2", "reported_at"] == _at("2025-03-07 18:00")
    _assert_position(reports.loc["X1"], 109.731, 38.291)
    _assert_position(reports.loc["X2"], 109.7412345, 38.2987654)


@given(st.floats(allow_nan=False, allow_infinity=False))
@example(1001.0)
@example(13800000000.0)
@example(1e16)
@example(-0.0)
def test_number_text_reads_back_as_the_same_number(value):
    assert float(cell_text(value)) == value


@given(st.lists(st.one_of(st.floats(), st.integers(-10**15, 10**15), st.none(), st.text(max_size=5), st.booleans(),
                          st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1))),
                max_size=8))
@example([109.73, 1001.0, float("nan")])
@example([1e16, 2.0**60, float("inf")])
@example([dt.datetime(2025, 3, 1, 8, 5, 0, 500), dt.datetime(2025, 3, 1, 8, 5, 0, 1500),
          dt.datetime(2025, 3, 1, 23, 59, 59, 999_700)])
def test_column_conversion_agrees_with_cell_by_cell(values):
    series = pd.Series(values, dtype=object)
    assert column_text(series).tolist() == [cell_text(v) for v in values]


def test_default_sheet_is_the_first_visible_one(tmp_path, capsys):
    path = tmp_path / "hidden.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "隐藏的旧表"
    wb.active.append(["无关"])
    wb.active.sheet_state = "hidden"
    ledger = wb.create_sheet("台账")
    ledger.append(HEADER)
    ledger.append(["H1", "2025年3月2日 9时30分", "垃圾乱倒", "中文文本日期", "109.7", "38.2"])
    wb.save(path)
    ws = _workspace(tmp_path)
    assert _import(ws, path, capsys)["accepted"] == 1
    assert _reports(ws).loc["H1", "reported_at"] == _at("2025-03-02 09:30")
