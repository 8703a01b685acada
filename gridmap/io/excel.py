"""Read Excel ledgers (台账): ``.xlsx``, ``.xlsm``, ``.xls`` and ``.ods`` through python-calamine.

A sheet is turned into the same all-text table the CSV reader builds, then
handed to :func:`gridmap.io.tabular.read_table`, so column detection,
coordinates and the quarantine behave exactly as for a CSV:

- the header is the first row that looks like one (at least two text cells
  and at least half as many filled cells as the widest of the first rows), so
  a title row (often merged across the columns) and blank rows above it are
  skipped; ``header_row=`` (1-based, as Excel numbers rows) overrides it;
- date cells become text ``YYYY-MM-DD HH:MM:SS[.ffffff]`` without a zone,
  which the next stage reads as Asia/Shanghai like a text date. calamine
  converts serial numbers with the workbook's own epoch (1900 or 1904) and
  the 1900 leap-year bug (serial 60 is the non-existent 1900-02-29, so later
  serials count one day too many from 1899-12-31); times are rounded to the
  millisecond, the precision Excel shows;
- numbers become their shortest text (``109.73``, ``1001`` not ``1001.0``), and
  numbers stored as text stay text that the next stage parses;
- a merged range below the header gives its value to every cell it covers;
- formulas read as the value Excel cached when it last saved the file;
- a record's number (``_record``) is its Excel row number; blank rows are skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from os import PathLike
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import python_calamine

from gridmap.errors import CRSError, ReadError
from gridmap.io.base import ReadResult, file_digest
from gridmap.io.tabular import read_table

__all__ = ["read_excel", "EXCEL_SUFFIXES", "find_header_row", "cell_text", "column_text"]

logger = logging.getLogger(__name__)

#: File name endings read as spreadsheets.
EXCEL_SUFFIXES: tuple[str, ...] = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")

_RESAVE = "open it in Excel or WPS and save it again as .xlsx, or save the sheet as CSV and import that"
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")

#: Rows looked at to find the header.
HEADER_SCAN_ROWS = 50

_FIX = ("remove the workbook's password in Excel (File > Info > Protect Workbook) or save the sheet as CSV, "
        "then import that")


def read_excel(
    path: str | PathLike[str], *, layer: str = "unknown", coords: str | None = None,
    sheet: str | int | None = None, header_row: int | None = None, require_coordinates: bool = True,
    crs: object | None = None,
) -> ReadResult:
    """Read one sheet of a workbook, building points from its longitude/latitude columns.

    Parameters
    ----------
    path : str or path-like
        The workbook (``.xlsx``, ``.xlsm``, ``.xlsb``, ``.xls``, ``.ods``).
    layer : str
        The gridmap layer the rows are meant for; stamped into quarantine rows.
    coords : {"wgs84", "gcj02", "bd09"}, optional
        Coordinate system of the longitude/latitude columns (required when the sheet has them).
    sheet : str or int, optional
        The sheet's name, or its 1-based position (a name wins when a sheet is
        called ``"2"``). Default: the first visible worksheet.
    header_row : int, optional
        1-based Excel row number of the header. Default: found automatically.
    require_coordinates : bool
        False for a table without geometry (see :func:`gridmap.io.tabular.read_csv`).
    crs : str, int or pyproj.CRS, optional
        The CRS of x/y columns in metres (``--crs``), checked as for a CSV
        (:func:`gridmap.io.tabular.read_csv`).

    Returns
    -------
    ReadResult
        As :func:`gridmap.io.tabular.read_csv`; ``meta`` also holds ``sheet``
        and ``header_row``.

    Raises
    ------
    ReadError
        When the workbook is encrypted or damaged, the sheet does not exist
        (the message lists the sheets), the sheet is empty, or the header is unusable.

    Examples
    --------
    >>> import tempfile, pathlib, openpyxl
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "台账.xlsx"
    >>> wb = openpyxl.Workbook()
    >>> for row in (["鼓楼街道问题台账"], [], ["编号", "经度", "纬度"], ["A1", 109.73, "38.29"]):
    ...     wb.active.append(row)
    >>> wb.save(p)
    >>> res = read_excel(p, layer="reports", coords="wgs84")
    >>> res.read, res.meta["header_row"], res.records["_record"].tolist(), res.records.geometry.iloc[0].wkt
    (1, 3, [4], 'POINT (109.73 38.29)')
    """
    p = Path(path)
    if not p.is_file():
        raise ReadError(f"{p} does not exist or is not a file")
    digest = file_digest(p)
    name, rows, merged = _sheet_rows(p, sheet)
    header_at = _header_index(rows, header_row, source=p.name, sheet=name)
    frame, numbers = _table(rows, merged, header_at, source=p.name)
    logger.info("%s: sheet %r, header in row %d, %d rows", p.name, name, header_at + 1, len(frame))
    meta = {"sheet": name, "header_row": header_at + 1}
    try:
        return read_table(frame, numbers, source=p.name, source_digest=digest, layer=layer, coords=coords,
                          require_coordinates=require_coordinates, meta=meta, crs=crs)
    except CRSError:  # about --crs/--coords, not about the sheet or its header
        raise
    except ReadError as exc:
        raise ReadError(f"{exc} [sheet {name!r}, header taken from row {header_at + 1}: choose another sheet "
                        "with --sheet NAME|N or the row of the column names with --header-row N]") from None


# --- workbook and sheet --------------------------------------------------------------------------------------------


def _sheet_rows(p: Path, sheet: str | int | None) -> tuple[str, list[list[Any]], list[Any]]:
    """The chosen sheet's name, its rows from A1 (empty cells as ``""``) and its merged ranges."""
    if p.suffix.lower() in (".xlsx", ".xlsm", ".xlsb") and _is_ole(p):
        # Excel stores a password-encrypted .xlsx inside an OLE compound file instead of a zip
        raise ReadError(f"{p.name} is encrypted with a password (it is not a plain .xlsx zip); {_FIX}")
    try:
        wb = python_calamine.CalamineWorkbook.from_path(str(p))
    except python_calamine.PasswordError:
        raise ReadError(f"{p.name} is protected with a password; {_FIX}") from None
    except Exception as exc:  # calamine raises many kinds (zip, XML, CFB) for one cause: not a readable workbook
        raise ReadError(f"{p.name} cannot be read as an Excel workbook: it is damaged or not a spreadsheet "
                        f"({type(exc).__name__}: {exc}); {_RESAVE}") from None
    with wb:
        name = _choose_sheet(wb, sheet, source=p.name)
        try:
            ws = wb.get_sheet_by_name(name)
            rows = ws.to_python(skip_empty_area=False)
            merged = list(ws.merged_cell_ranges or [])
        except Exception as exc:  # a damaged sheet part
            raise ReadError(f"{p.name}: sheet {name!r} cannot be read ({type(exc).__name__}: {exc}); "
                            f"choose another with --sheet or {_RESAVE}") from None
    return name, rows, merged


def _is_ole(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(8) == _OLE_MAGIC


def _choose_sheet(wb: Any, sheet: str | int | None, *, source: str) -> str:
    names: list[str] = list(wb.sheet_names)
    listing = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names, start=1))
    if sheet is None:
        visible = [m.name for m in wb.sheets_metadata
                   if str(m.visible).endswith("Visible") and str(m.typ).endswith("WorkSheet")]
        if not visible and not names:
            raise ReadError(f"{source} has no sheets")
        return (visible or names)[0]
    if isinstance(sheet, str) and sheet in names:
        return sheet
    text = str(sheet).strip()
    if text in names:
        return text
    if text.lstrip("+").isdigit() and 1 <= int(text) <= len(names):
        return names[int(text) - 1]
    raise ReadError(f"{source} has no sheet {sheet!r}; its sheets are {listing}: "
                    "choose one with --sheet NAME or --sheet N (1 is the first)")


# --- header --------------------------------------------------------------------------------------------------------


def _filled(row: Sequence[Any]) -> list[Any]:
    return [v for v in row if not _empty(v)]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value))


def find_header_row(rows: Sequence[Sequence[Any]]) -> int | None:
    """0-based index of the header among a sheet's rows, or None when no row looks like one.

    The header is the first row with at least two filled cells (one in a
    one-column sheet), all of them text, and at least half as many filled cells as the widest of the first
    :data:`HEADER_SCAN_ROWS` rows: a title (one cell, however merged), a
    "填报单位：… 填报日期：…" line and blank rows above it are passed over.

    Examples
    --------
    >>> find_header_row([["2025年3月问题台账", "", ""], ["", "", ""], ["编号", "经度", "纬度"], ["A1", 109.7, 38.3]])
    2
    >>> find_header_row([["编号", "经度", "纬度"]])
    0
    >>> find_header_row([["标题", "", ""], [1, 2, 3]]) is None
    True
    """
    head = rows[:HEADER_SCAN_ROWS]
    widest = max((len(_filled(r)) for r in head), default=0)
    need = max(min(2, widest), math.ceil(widest / 2))
    for i, row in enumerate(head):
        filled = _filled(row)
        if len(filled) >= need and all(isinstance(v, str) for v in filled):
            return i
    return None


def _header_index(rows: list[list[Any]], header_row: int | None, *, source: str, sheet: str) -> int:
    if not any(_filled(r) for r in rows):
        raise ReadError(f"{source}: sheet {sheet!r} is empty; choose the sheet with the ledger with --sheet")
    if header_row is not None:
        if header_row < 1 or header_row > len(rows):
            raise ReadError(f"--header-row {header_row} is outside sheet {sheet!r} of {source} "
                            f"(rows 1 to {len(rows)}): give the row of the column names with --header-row N, "
                            "or leave --header-row out to find it")
        if not _filled(rows[header_row - 1]):
            raise ReadError(f"row {header_row} of sheet {sheet!r} in {source} is blank; "
                            "give the row of the column names with --header-row N")
        return header_row - 1
    found = find_header_row(rows)
    if found is None:
        raise ReadError(f"{source}: no header row found in sheet {sheet!r} (a row of column names); "
                        "give its row number with --header-row N")
    return found


# --- cells to text -------------------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A cell's value as the text a CSV export would hold.

    Numbers get their shortest exact text (integers without ``.0``); dates
    and times ISO 8601 without a zone, rounded to the millisecond; empty
    cells ``""``; booleans ``TRUE``/``FALSE`` as Excel shows them.

    Examples
    --------
    >>> import datetime as dt
    >>> cell_text(109.73), cell_text(1001.0), cell_text(13800000000.0), cell_text(""), cell_text(True)
    ('109.73', '1001', '13800000000', '', 'TRUE')
    >>> cell_text(dt.datetime(2025, 3, 1, 8, 4, 59, 999_999)), cell_text(dt.date(2025, 3, 1))
    ('2025-03-01 08:05:00', '2025-03-01')
    >>> cell_text(dt.datetime(2025, 3, 1, 8, 5, 7, 123_000))
    '2025-03-01 08:05:07.123000'
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return _datetime_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return _datetime_text(dt.datetime.combine(dt.date(2000, 1, 1), value))[11:]
    return str(value)


def _datetime_text(value: dt.datetime) -> str:
    ms = round(value.microsecond / 1000)
    rounded = value.replace(microsecond=0) + dt.timedelta(milliseconds=ms)
    return rounded.isoformat(sep=" ")


def _table(rows: list[list[Any]], merged: list[Any], header_at: int, *, source: str) -> tuple[pd.DataFrame, np.ndarray]:
    width = max(len(r) for r in rows)
    header = list(rows[header_at]) + [""] * (width - len(rows[header_at]))
    body = pd.DataFrame(rows[header_at + 1:], columns=range(width), dtype=object)
    _fill_merged(body, merged, first=header_at + 1)
    texts = {j: column_text(body[j]) for j in range(width)}
    blank = {j: texts[j].str.strip().eq("").to_numpy() for j in range(width)}
    keep = [j for j in range(width) if not _empty(header[j]) or not blank[j].all()]
    names = [cell_text(header[j]).strip() or f"unnamed_{j + 1}" for j in keep]
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise ReadError(f"{source} has duplicate column names {', '.join(map(repr, dupes))} in row {header_at + 1}; "
                        "rename them, or give the header's row with --header-row N")
    filled = np.zeros(len(body), dtype=bool)
    for j in keep:
        filled |= ~blank[j]
    every = bool(filled.all())  # no blank rows: the columns are taken as they are, not copied
    frame = pd.DataFrame({name: (texts[j] if every else texts[j][filled]).reset_index(drop=True)
                          for name, j in zip(names, keep)}, columns=names, dtype=str)
    numbers = np.arange(header_at + 2, header_at + 2 + len(body), dtype="int64")[filled]
    return frame.reset_index(drop=True), numbers


def column_text(values: pd.Series) -> pd.Series:
    """Every cell of a column as :func:`cell_text` writes it, text columns and number columns fast.

    Examples
    --------
    >>> column_text(pd.Series([109.73, 1001.0, float("nan")], dtype=object)).tolist()
    ['109.73', '1001', '']
    >>> column_text(pd.Series(["a", None, 2.5, True], dtype=object)).tolist()
    ['a', '', '2.5', 'TRUE']
    """
    kind = pd.api.types.infer_dtype(values, skipna=False)
    if kind == "string":
        return values.astype(str)
    if kind == "floating":
        return _float_column_text(values)
    if kind in ("datetime", "date"):
        text = _datetime_column_text(values)
        if text is not None:
            return text
    return values.map(cell_text).astype(str)


def _float_column_text(values: pd.Series) -> pd.Series:
    """:func:`cell_text` of a column of floats, without a Python object per cell.

    Whole numbers are written as integers; pyarrow writes the others as the
    shortest text that reads back as the same float, as ``repr`` does, except
    where ``repr`` writes an exponent (below 1e-4 and from 1e16) or pyarrow
    does: those few numpy writes, as ``repr`` does.
    """
    numbers = values.to_numpy(dtype="float64")
    finite = np.isfinite(numbers)
    size = np.abs(np.where(finite, numbers, 0.0))
    whole = finite & (numbers == np.trunc(numbers)) & (size < 1e16)
    fraction = finite & ~whole
    shortest = pc.cast(pa.array(np.where(fraction, numbers, 0.0)), pa.string())
    exponent = fraction & ((size < 1e-4) | (size >= 1e16) | np.asarray(pc.match_substring(shortest, "e"), dtype=bool))
    integers = pc.cast(pa.array(np.where(whole, numbers, 0.0).astype("int64")), pa.string())
    text = pc.if_else(pa.array(whole), integers, pc.if_else(pa.array(fraction), shortest, ""))
    if exponent.any():
        text = pc.replace_with_mask(text, pa.array(exponent), pa.array(numbers[exponent].astype(str), type=pa.string()))
    return pd.Series(text, index=values.index, dtype=str)


def _datetime_column_text(values: pd.Series) -> pd.Series | None:
    """:func:`cell_text` of a column of datetimes and dates (calamine gives a date for a whole-day
    serial), without a Python object per cell; None when it holds anything else."""
    cells = values.to_numpy(dtype=object)
    kinds = set(map(type, cells))  # exact types: a subclass (pd.Timestamp) goes cell by cell
    if not kinds <= {dt.datetime, dt.date}:
        return None
    day = np.fromiter(map(type, cells), dtype=object, count=len(cells)) == dt.date if dt.date in kinds else None
    stamps = pd.to_datetime(pd.Series(cells, dtype=object)).dt.round("ms").to_numpy(dtype="datetime64[us]")
    text = np.datetime_as_string(stamps.astype("datetime64[s]"), unit="s").astype("U26")
    fraction = stamps.astype("int64") % 1_000_000 != 0
    if fraction.any():
        text[fraction] = np.datetime_as_string(stamps[fraction], unit="us")
    if day is not None:
        text[day] = np.datetime_as_string(stamps[day].astype("datetime64[D]"), unit="D")
    spaced = pc.replace_substring(pa.array(text, type=pa.string()), "T", " ", max_replacements=1)
    return pd.Series(spaced, index=values.index, dtype=str)


def _fill_merged(body: pd.DataFrame, merged: list[Any], *, first: int) -> None:
    """Give each merged range's top-left value to every cell it covers, in sheet rows from `first` on.

    `body` is this module's own frame of the rows below the header (row 0 is sheet row `first`).
    """
    for (r0, c0), (r1, c1) in merged:
        if r1 < first or c0 >= body.shape[1]:
            continue
        top = r0 - first
        if top < 0:
            continue  # a range that starts in or above the header (a title) gives nothing to the records
        rows = slice(top, min(r1 - first, len(body) - 1) + 1)
        cols = list(range(c0, min(c1, body.shape[1] - 1) + 1))
        value = body.iat[top, c0]
        body.iloc[rows, cols] = value
