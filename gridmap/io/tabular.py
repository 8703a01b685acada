"""Read CSV files (reports from phones, exports from chat groups and Excel).

Every value is kept as text exactly as written (``""`` stays ``""``, ``NA``
stays ``NA``); typed parsing is the next stage's job, except coordinates:
when the file has longitude/latitude columns they become points. Those
coordinates are labelled EPSG:4326 whatever datum the caller declared with
``coords=``; :attr:`ReadResult.coords` carries the declaration so the next
stage can convert GCJ-02/BD-09 to WGS84.

Lines with the wrong number of fields are quarantined with their raw text,
never dropped. Files are parsed with pyarrow (a million rows of six columns,
with points built, in about 4 s); only files pyarrow cannot parse at all (an
unterminated quote) take the slower ``csv`` module path.

The field separator is detected from the header line (:func:`detect_delimiter`):
comma, tab (``.tsv``, Excel's "Unicode text") or semicolon (Excel in locales
with a decimal comma).

Projected coordinates (metres: a surveyor's ledger with x/y, 东坐标/北坐标 or
X坐标/Y坐标) are read with ``crs=``/``--crs EPSG:XXXX`` (e.g. EPSG:4546, CGCS2000
3-degree Gauss-Kruger CM 111E around Yulin): the points get that CRS and the next
stage reprojects them to WGS84; ``coords=`` (a datum of longitude/latitude) is
refused for them. A file whose coordinates are clearly not degrees (median beyond
±180/±90) and comes without ``crs=`` gets points without a CRS, so the import
refuses it with the message of :func:`gridmap.crs.missing_crs_message` naming the
likely ``--crs``, as for a shapefile without ``.prj``, instead of quarantining
every row as out of range. Chinese surveying names the north axis X and the east
axis Y (EPSG:4546's axes are "X north, Y east"), so when the column taken as x
holds northings (1,000,000-9,999,999 m) and the other eastings (below 1,000,000 m,
or zone-prefixed from 10,000,000 m), the two are swapped, and the log says so.

Survey-app exports (ODK Central, KoboToolbox) have no longitude/latitude
columns but geopoint columns (:func:`find_geopoint_columns`); they are GPS
positions, so they are read as WGS84 without ``coords=``.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import logging
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gridmap.errors import CRSError, ReadError
from gridmap.crs import PROJECTED_MIN_M, check_coords_for, declare_crs
from gridmap.io.base import ReadResult, data_digest, quarantine_frame, quarantine_row, read_guard
from gridmap.io._encoding import decode_text

__all__ = ["read_csv", "read_table", "detect_delimiter", "COORD_SYSTEMS", "LON_NAMES", "LAT_NAMES",
           "find_coordinate_columns",
           "find_geopoint_columns"]

logger = logging.getLogger(__name__)

#: Coordinate systems a CSV's longitude/latitude may be declared in.
COORD_SYSTEMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")
#: Column names (lower-cased, stripped) taken as longitude, most specific first.
LON_NAMES: tuple[str, ...] = ("经度", "longitude", "lon", "lng", "long", "x", "东坐标", "x坐标", "easting")
#: Column names (lower-cased, stripped) taken as latitude, most specific first.
LAT_NAMES: tuple[str, ...] = ("纬度", "latitude", "lat", "y", "北坐标", "y坐标", "northing")

_COORDS_HINT = (
    "declare the coordinate system with --coords wgs84|gcj02|bd09: "
    "phone apps (Amap, WeChat) use gcj02, Baidu bd09, GPS wgs84"
)


@dataclass
class _Table:
    """Parsed CSV text: all-string frame, record numbers, quarantined ragged rows."""

    frame: pd.DataFrame
    numbers: np.ndarray
    bad: list[dict[str, Any]]


def read_csv(
    path: str | PathLike[str], *, layer: str = "unknown", coords: str | None = None,
    encoding: str | None = None, require_coordinates: bool = True, crs: object | None = None,
) -> ReadResult:
    """Read a CSV file, building points from its longitude/latitude (or projected x/y) columns.

    Parameters
    ----------
    path : str or path-like
        The CSV file (first line the header; comma, tab or semicolon separated, detected).
    layer : str
        The gridmap layer the rows are meant for; stamped into quarantine rows.
    coords : {"wgs84", "gcj02", "bd09"}, optional
        Coordinate system of the longitude/latitude columns. Required when the
        file has them: there is no silent default.
    encoding : str, optional
        Text encoding. Default: UTF-8 (with or without BOM), else GB18030.
    require_coordinates : bool
        False for a table without geometry (rectifications, spot checks): the
        records are returned as a plain DataFrame, and longitude/latitude
        columns, if the file has them (a spot-check list does), are kept as
        ordinary columns, so no coordinate system needs declaring.
    crs : str, int or pyproj.CRS, optional
        The CRS of the coordinate columns when they are not WGS84 longitude/latitude,
        e.g. ``"EPSG:4546"`` for metres of CGCS2000 3-degree Gauss-Kruger CM 111E
        (``--crs``). With a projected `crs`, `coords` other than ``"wgs84"`` is refused
        (it names a datum of longitude/latitude) and is not needed.

    Returns
    -------
    ReadResult
        ``records`` holds every column as text plus ``_record`` (1-based row
        number, blank lines not counted); with coordinates it is a GeoDataFrame
        of points labelled EPSG:4326 and ``coords`` is the declared system.
        Rows with empty coordinates are quarantined as ``missing_coordinates``,
        non-numbers as ``unparseable_coordinates``, ragged lines as
        ``unreadable_record``.

    Raises
    ------
    ReadError
        When the file is empty, its header is unusable, coordinate columns are
        missing or ambiguous, or `coords` is missing or unknown.
    EncodingError
        When the text is neither UTF-8 nor GB18030 (or not the given encoding).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "reports.csv"
    >>> _ = p.write_text("编号,经度,纬度\\nA1,109.73,38.29\\nA2,,38.3\\n", encoding="utf-8")
    >>> res = read_csv(p, layer="reports", coords="gcj02")
    >>> res.read, len(res.records), res.coords, res.quarantine["reason"].tolist()
    (2, 1, 'gcj02', ['missing_coordinates'])
    >>> res.records.geometry.iloc[0].wkt
    'POINT (109.73 38.29)'
    """
    with read_guard(path):
        return _read_csv(path, layer=layer, coords=coords, encoding=encoding,
                         require_coordinates=require_coordinates, crs=crs)


def _read_csv(path: str | PathLike[str], *, layer: str, coords: str | None, encoding: str | None,
              require_coordinates: bool, crs: object | None = None) -> ReadResult:
    p = Path(path)
    if not p.is_file():
        raise ReadError(f"{p} does not exist or is not a file")
    data = p.read_bytes()
    digest = data_digest(data)  # the bytes read once, not again to hash them
    if not data or data.isspace():  # as `not data.strip()`, without a copy of the file
        raise ReadError(f"{p.name} is empty: a CSV needs a header line and rows")
    text, used = _text_of(data, encoding=encoding, what=p.name)
    stamp = {"layer": layer, "source": p.name, "source_digest": digest}
    # the file's own bytes when they are the UTF-8 of its text (strictly checked), else encoded again for pyarrow
    utf8 = data if used == "utf-8" else data[len(codecs.BOM_UTF8):] if used == "utf-8-sig" else None
    head = text[:_HEAD] if text is not None else _head_text(utf8 or b"")
    delimiter = detect_delimiter(head)
    if delimiter != ",":
        logger.info("%s: fields are separated by %s", p.name, _DELIMITER_NAMES[delimiter])

    def full_text() -> str:  # decoded only when pyarrow cannot read the rows (ragged lines)
        return text if text is not None else (utf8 or b"").decode("utf-8")

    table = _parse(head, full_text, stamp, delimiter, utf8=utf8)
    meta: dict[str, Any] = {"encoding": used, "delimiter": delimiter}
    return _table_result(table, stamp, coords=coords, require_coordinates=require_coordinates, meta=meta, crs=crs)


def _table_result(table: "_Table", stamp: dict[str, Any], *, coords: str | None, require_coordinates: bool,
                  meta: dict[str, Any], crs: object | None = None) -> ReadResult:
    """What a parsed table (CSV or a sheet) becomes: points from its longitude/latitude columns, or plain records."""
    source = stamp["source"]
    columns = find_coordinate_columns(table.frame.columns, source=source) if require_coordinates else None
    if columns is None and require_coordinates:
        columns = find_geopoint_columns(table.frame.columns)
        if columns is not None and coords is None:
            logger.info("%s: survey-app geopoint columns %r/%r are GPS positions, read as WGS84 (no --coords needed)",
                        source, columns[0], columns[1])
            coords = "wgs84"
    if columns is None:
        if require_coordinates:
            raise ReadError(
                f"{source} has no longitude/latitude columns; name them one of "
                f"{'/'.join(LON_NAMES)} and {'/'.join(LAT_NAMES)} (columns found: {', '.join(table.frame.columns)})"
            )
        return _result(_with_numbers(table.frame, table.numbers), table.bad, stamp, coords=None, meta=meta)
    if "geometry" in table.frame.columns:
        raise ReadError(f"{source} has a column named 'geometry' besides {columns[0]!r}/{columns[1]!r}; "
                        "rename it (e.g. to 'wkt'): gridmap builds the geometry from the coordinates")
    parsed = {c: _coordinate_values(table.frame[c]) for c in columns}  # each column parsed once
    medians = {c: _column_median(parsed, c) for c in columns}
    columns = _east_north(medians, columns, source)
    projected = _looks_projected(medians, columns)
    if crs is not None:
        declared = declare_crs(gpd.GeoDataFrame(geometry=gpd.GeoSeries([])), crs, what=source).crs
        check_coords_for(declared, coords, what=source)
        _check_crs_fits(declared, crs, projected, columns, source)
        system = _declared_system(coords, source=source) if coords is not None else None
        point_crs: object | None = declared
    elif projected:
        logger.info("%s: coordinates %r/%r are not degrees and no --crs was given", source, *columns)
        system, point_crs = None, None
    else:
        system, point_crs = _declared_system(coords, source=source), "EPSG:4326"
    meta.update(lon_column=columns[0], lat_column=columns[1])
    records, coord_bad = _points(table, columns, stamp, crs=point_crs, parsed=parsed)
    return _result(records, table.bad + coord_bad, stamp, coords=system, meta=meta)


def _column_median(parsed: Mapping[str, tuple[np.ndarray, np.ndarray]], column: str) -> float:
    values = parsed[column][0]
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else float("nan")


def _looks_projected(medians: Mapping[str, float], columns: tuple[str, str]) -> bool:
    """Whether the median coordinates are metres of a projection, not degrees (:data:`gridmap.crs.PROJECTED_MIN_M`).

    Gauss-Kruger eastings are 100,000-900,000 m (or zone-prefixed, 25-45 million) and northings
    millions: far beyond any degree. A file of swapped lat/lon (x=38, y=110) is not metres.
    """
    x, y = (medians[c] for c in columns)
    return bool(max(abs(x), abs(y)) > PROJECTED_MIN_M)


def _check_crs_fits(declared: Any, crs: object, projected: bool, columns: tuple[str, str], source: str) -> None:
    """Refuse a projected --crs for degrees and a geographic one for metres (every point would land far away)."""
    if declared.is_projected and not projected:
        raise CRSError(f"{source}: its coordinates ({columns[0]}/{columns[1]}) are longitude/latitude in degrees, "
                       f"not metres of --crs {crs}: drop --crs and declare their datum with --coords wgs84|gcj02|bd09")
    if declared.is_geographic and projected:
        raise CRSError(f"{source}: its coordinates ({columns[0]}/{columns[1]}) are metres, not the degrees of "
                       f"--crs {crs}: pass the projected CRS they were measured in, e.g. --crs EPSG:4546 "
                       "(CGCS2000 3-degree Gauss-Kruger CM 111E)")


def _is_northing(value: float) -> bool:
    return 1_000_000 <= value < 10_000_000


def _east_north(medians: Mapping[str, float], columns: tuple[str, str], source: str) -> tuple[str, str]:
    """`columns` as (easting, northing): swapped when the x column holds northings (surveyors' X is north)."""
    x, y = (medians[c] for c in columns)
    if _is_northing(x) and not _is_northing(y) and y >= 100_000:
        logger.info("%s: column %r holds northings and %r eastings (in Chinese surveying X is north): "
                    "reading %r as east, %r as north", source, columns[0], columns[1], columns[1], columns[0])
        return columns[1], columns[0]
    return columns


def _result(records: pd.DataFrame, bad: list[dict[str, Any]], stamp: dict[str, str], *,
            coords: str | None, meta: dict[str, Any]) -> ReadResult:
    quarantine = quarantine_frame(sorted(bad, key=lambda row: row["record"]))
    logger.info("%s: %d rows read, %d quarantined", stamp["source"], len(records), len(quarantine))
    return ReadResult(records=records, quarantine=quarantine, source=stamp["source"],
                      source_digest=stamp["source_digest"], coords=coords, meta=meta)


def _declared_system(coords: str | None, *, source: str) -> str:
    if coords is None:
        raise ReadError(f"{source} has longitude/latitude columns: {_COORDS_HINT}")
    system = coords.strip().lower().replace("-", "").replace("_", "")
    if system not in COORD_SYSTEMS:
        raise ReadError(f"unknown coordinate system {coords!r}; {_COORDS_HINT}")
    return system


def find_coordinate_columns(columns: Any, *, source: str = "the file") -> tuple[str, str] | None:
    """The (longitude, latitude) column names, or None when the file has neither.

    Names are matched case-insensitively after stripping spaces, against
    :data:`LON_NAMES` and :data:`LAT_NAMES`; a more specific name wins
    (``经度`` over ``x``).

    Raises
    ------
    ReadError
        When only one of the two is found, or two columns tie.

    Examples
    --------
    >>> find_coordinate_columns(["编号", " 经度 ", "纬度"])
    (' 经度 ', '纬度')
    >>> find_coordinate_columns(["Lng", "LAT", "x", "y"])
    ('Lng', 'LAT')
    >>> find_coordinate_columns(["名称"]) is None
    True
    """
    lon = _best_column(columns, LON_NAMES, "longitude", source)
    lat = _best_column(columns, LAT_NAMES, "latitude", source)
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        found, missing = ("longitude", "latitude") if lat is None else ("latitude", "longitude")
        names = "/".join(LAT_NAMES if lat is None else LON_NAMES)
        raise ReadError(
            f"{source} has a {found} column ({lon or lat!r}) but no {missing} column; name it one of {names}"
        )
    return lon, lat


def find_geopoint_columns(columns: Any) -> tuple[str, str] | None:
    """The (longitude, latitude) columns of a survey app's first geopoint, or None.

    ODK Central's CSV export splits a geopoint question ``<name>`` (inside a group
    ``<group>-<name>``) into ``<name>-Latitude``, ``-Longitude``, ``-Altitude`` and
    ``-Accuracy`` (ODK Central docs, "Submissions: CSV export");
    KoboToolbox adds ``_<name>_latitude``, ``_longitude``, ``_altitude`` and
    ``_precision`` after the raw ``<name>`` column. Both hold the phone's GPS
    position, WGS84 (ODK XForms spec, ``geopoint``: "latitude longitude
    altitude accuracy" in decimal degrees), so no ``--coords`` is needed.
    Names are matched case-insensitively after stripping.

    Examples
    --------
    >>> find_geopoint_columns(["KEY", "grp-location-Latitude", "grp-location-Longitude", "grp-location-Accuracy"])
    ('grp-location-Longitude', 'grp-location-Latitude')
    >>> find_geopoint_columns(["location", "_location_latitude", "_location_longitude", "_uuid"])
    ('_location_longitude', '_location_latitude')
    >>> find_geopoint_columns(["a-Latitude", "b-Longitude"]) is None
    True
    """
    normal = {str(col).strip().lower(): col for col in columns}
    for text in normal:
        for lat_end, lon_end, prefix in (("-latitude", "-longitude", ""), ("_latitude", "_longitude", "_")):
            if text.endswith(lat_end) and text.startswith(prefix) and len(text) > len(lat_end) + len(prefix):
                lon = text[: -len(lat_end)] + lon_end
                if lon in normal:
                    return normal[lon], normal[text]
    return None


def _best_column(columns: Any, names: tuple[str, ...], what: str, source: str) -> str | None:
    normal = {col: str(col).strip().lower() for col in columns}
    for name in names:
        hits = [col for col, norm in normal.items() if norm == name]
        if len(hits) > 1:
            raise ReadError(f"{source} has several {what} columns ({', '.join(map(repr, hits))}); keep one")
        if hits:
            return hits[0]
    return None


# --- parsing -------------------------------------------------------------------------------------------------------


_DELIMITER_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons"}


def detect_delimiter(text: str) -> str:
    """The field separator of CSV text: the one of comma, tab, semicolon that splits the header most.

    The header line is split by each candidate (quotes respected) and the one
    giving the most fields wins; ties, and a single-column header, go to the
    comma.

    Parameters
    ----------
    text : str
        The file's text, header line first.

    Returns
    -------
    str
        ``","``, ``"\\t"`` or ``";"``.

    Examples
    --------
    >>> detect_delimiter("编号\\t经度\\t纬度\\nA1\\t109.73\\t38.29\\n")
    '\\t'
    >>> detect_delimiter('名称;经度;纬度\\n"北街;东口";109,73;38,29\\n')
    ';'
    >>> detect_delimiter('"a;b",c\\n1,2\\n'), detect_delimiter("只有一列\\n")
    (',', ',')
    """
    head = text[: 1 << 20]
    best, most = ",", 1
    for candidate in _DELIMITER_NAMES:
        try:
            fields = len(next(csv.reader(io.StringIO(head, newline=""), delimiter=candidate)))
        except (StopIteration, csv.Error):
            continue
        if fields > most:
            best, most = candidate, fields
    return best


#: Characters of a file's beginning that the header and the delimiter are found in.
_HEAD = 1 << 20


def _text_of(data: bytes, *, encoding: str | None, what: str) -> tuple[str | None, str]:
    """The file's text and encoding as :func:`gridmap.io._encoding.decode_text` gives them; the text None
    when the file is valid UTF-8 without an explicit `encoding` (checked without decoding it: pyarrow reads the bytes).
    """
    if encoding is None and is_utf8(data):
        return None, "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    return decode_text(data, encoding=encoding, what=what)


def is_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8 as Python's strict codec says, checked by pyarrow without a str of it.

    Arrow's full validation of a string array rejects what ``bytes.decode("utf-8")`` rejects
    (overlong forms, surrogates, code points above U+10FFFF, truncated sequences).

    Examples
    --------
    >>> is_utf8("经度".encode("utf-8")), is_utf8("经度".encode("gb18030")), is_utf8(bytes([0xED, 0xA0, 0x80]))
    (True, False, False)
    """
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data)).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _head_text(utf8: bytes) -> str:
    """The first :data:`_HEAD` characters of valid UTF-8 (a character cut at the end of the bytes read dropped)."""
    return codecs.utf_8_decode(utf8[:4 * _HEAD], "strict", False)[0][:_HEAD]


def _parse(head: str, full_text: Callable[[], str], stamp: dict[str, str], delimiter: str = ",", *,
           utf8: bytes | None = None) -> _Table:
    header = _header(head, stamp["source"], delimiter)
    fast = _parse_fast(full_text().encode("utf-8") if utf8 is None else utf8, header, stamp, delimiter)
    if fast is not None:
        return fast
    logger.info("%s has ragged lines; reading it line by line", stamp["source"])
    return _parse_slow(full_text(), header, stamp, delimiter)


def _header(text: str, source: str, delimiter: str) -> list[str]:
    try:
        first = next(csv.reader(io.StringIO(text[: 1 << 20], newline=""), delimiter=delimiter))
    except (StopIteration, csv.Error) as exc:
        raise ReadError(f"{source} has no readable header line: {exc}") from None
    names = [name if name.strip() else f"unnamed_{i}" for i, name in enumerate(first, start=1)]
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise ReadError(f"{source} has duplicate column names {', '.join(map(repr, dupes))}; rename them")
    return names


def _parse_fast(data: bytes, header: list[str], stamp: dict[str, str], delimiter: str) -> _Table | None:
    """Parse with pyarrow, quarantining ragged rows; None when pyarrow cannot tell where they are."""
    ragged: list[tuple[int | None, str, int]] = []

    def _on_invalid(row: Any) -> str:
        ragged.append((row.number, row.text, row.actual_columns))
        return "skip"

    internal = [f"c{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=internal, skip_rows=1, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             invalid_row_handler=_on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.large_string() for name in internal},  # what pandas keeps: no cast
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        logger.info("pyarrow could not parse the file (%s)", exc)
        return None
    if any(number is None for number, _, _ in ragged):
        return None
    frame = table.to_pandas()
    frame.columns = header
    # pyarrow numbers rows from 1 counting the header and not blank lines: record = number - 1
    numbers = np.arange(1, len(frame) + len(ragged) + 1, dtype="int64")
    if ragged:
        good = np.ones(len(numbers), dtype=bool)
        good[[number - 2 for number, _, _ in ragged if number is not None]] = False
        numbers = numbers[good]
    bad = [
        _ragged(stamp, number - 1, raw, f"the line has {fields} fields but the header has {len(header)}; "
                f"fix the line's {_DELIMITER_NAMES[delimiter]}/quotes")
        for number, raw, fields in ragged if number is not None
    ]
    return _Table(frame, numbers, bad)


class _LineTap:
    """Iterate over lines, remembering those consumed since the last :meth:`take`."""

    def __init__(self, text: str) -> None:
        self._lines: Iterator[str] = iter(io.StringIO(text, newline=""))
        self._taken: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._taken.append(line)
        return line

    def take(self) -> str:
        raw = "".join(self._taken)
        self._taken.clear()
        return raw


def _parse_slow(text: str, header: list[str], stamp: dict[str, str], delimiter: str) -> _Table:
    tap = _LineTap(text)
    reader = csv.reader(tap, delimiter=delimiter)
    next(reader)
    tap.take()
    rows: list[list[str]] = []
    numbers: list[int] = []
    bad: list[dict[str, Any]] = []
    number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            number += 1
            bad.append(_ragged(stamp, number, tap.take(), f"the line cannot be parsed as CSV ({exc})"))
            continue
        raw = tap.take()
        if not row:
            continue
        number += 1
        if len(row) != len(header):
            detail = (f"the line has {len(row)} fields but the header has {len(header)}; "
                      f"fix the line's {_DELIMITER_NAMES[delimiter]}/quotes")
            bad.append(_ragged(stamp, number, raw, detail))
            continue
        rows.append(row)
        numbers.append(number)
    frame = pd.DataFrame(rows, columns=header, dtype=str) if rows else pd.DataFrame(columns=header, dtype=str)
    return _Table(frame, np.asarray(numbers, dtype="int64"), bad)


def _ragged(stamp: dict[str, str], number: int, raw: str, detail: str) -> dict[str, Any]:
    return quarantine_row(**stamp, record=number, raw=raw.rstrip("\r\n"), reason="unreadable_record", detail=detail)


def _with_numbers(frame: pd.DataFrame, numbers: np.ndarray) -> pd.DataFrame:
    if "_record" in frame.columns:
        raise ReadError("the file already has a column '_record'; rename it before importing")
    out = frame.reset_index(drop=True)
    out.insert(0, "_record", pd.Series(numbers, dtype="int64"))
    return out


# --- coordinates ---------------------------------------------------------------------------------------------------


def _clean_numbers(values: pd.Series) -> pd.Series:
    """Trim, fold full-width digits (NFKC), accept a decimal comma and the Unicode minus sign."""
    text = values.astype(str).str.strip()
    wide = text.str.contains(r"[^\x00-\x7f]", regex=True)
    if wide.any():
        folded = text[wide].map(lambda v: unicodedata.normalize("NFKC", v).replace("\u2212", "-").strip())
        text = text.where(~wide, folded)
    comma = text.str.fullmatch(r"[+-]?\d+,\d+")
    if comma.any():
        text = text.where(~comma, text.str.replace(",", ".", regex=False))
    return text


def _to_float(text: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce")
    out = np.array(numbers, dtype="float64")
    out[~np.isfinite(out)] = np.nan
    return out


def _plain_floats(values: pd.Series) -> np.ndarray | None:
    """The values as float64 (non-finite as NaN) when every one is a plain number, else None.

    pyarrow's cast parses a million numbers in milliseconds but refuses blanks,
    spaces, decimal commas and full-width digits; any of those (or a missing
    value) returns None and the caller takes the careful path
    (:func:`_clean_numbers`, :func:`_to_float`), which gives the same numbers.
    """
    try:
        arr = pa.array(values.array)
        if arr.null_count or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return None
        out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False).astype("float64", copy=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        return None
    out[~np.isfinite(out)] = np.nan
    return out


def _coordinate_values(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A coordinate column as float64 (NaN where unparseable) and where it is empty."""
    fast = _plain_floats(values)
    if fast is not None:
        return fast, np.zeros(len(values), dtype=bool)
    text = _clean_numbers(values)
    return _to_float(text), np.asarray((text == "").fillna(False), dtype=bool)


def _points(table: _Table, columns: tuple[str, str], stamp: dict[str, str], *, crs: object | None,
            parsed: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Points of the coordinate `columns`, whose values :func:`_coordinate_values` has `parsed` (by column)."""
    frame = table.frame
    (lon, lon_empty), (lat, lat_empty) = (parsed[c] for c in columns)
    missing = lon_empty | lat_empty
    unparseable = ~missing & (np.isnan(lon) | np.isnan(lat))
    bad: list[dict[str, Any]] = []
    for reason, mask in (("missing_coordinates", missing), ("unparseable_coordinates", unparseable)):
        for pos in np.flatnonzero(mask):
            row = frame.iloc[pos]
            detail = (f"{columns[0]}={row[columns[0]]!r}, {columns[1]}={row[columns[1]]!r}: "
                      + ("fill in both coordinates" if reason == "missing_coordinates"
                         else "write them as numbers: decimal degrees, e.g. 109.73 and 38.29, or metres of "
                         "the CRS given with --crs"))
            bad.append(quarantine_row(**stamp, record=int(table.numbers[pos]), raw=row.to_dict(),
                                      reason=reason, detail=detail))
    keep = ~(missing | unparseable)
    records = _with_numbers(frame if keep.all() else frame[keep], table.numbers[keep])
    with _collector_paused():
        geometry = gpd.points_from_xy(lon[keep], lat[keep], crs=crs)
    return gpd.GeoDataFrame(records, geometry=geometry, crs=crs), bad


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch of shapely points is made; then as it was.

    Every point is a new object the collector tracks, and while a million of them are
    made its full passes walk every tracked object of the process again and again:
    measured here, :func:`shapely.points` takes 0.25 s per million points with the
    collector on and 0.1 s with it off. A point refers to no other Python object, so no
    reference cycle can form while it is paused; the collector's state (on or off) is
    restored when the points are made, also after an error, and nothing else is changed.

    Examples
    --------
    >>> with _collector_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_table(
    frame: pd.DataFrame, numbers: np.ndarray, *, source: str, source_digest: str, layer: str = "unknown",
    coords: str | None = None, require_coordinates: bool = True, meta: dict[str, Any] | None = None,
    crs: object | None = None,
) -> ReadResult:
    """Turn an all-text table read by another reader (an Excel sheet) into what :func:`read_csv` returns.

    Parameters
    ----------
    frame : pandas.DataFrame
        Every value as text, ``""`` for an empty cell, with the header as column names.
    numbers : numpy.ndarray
        The int64 record number of each row, in the order of `frame`.
    source, source_digest : str
        The file's name and digest (see :func:`gridmap.io.base.file_digest`).
    layer, coords, require_coordinates, crs
        As for :func:`read_csv`.
    meta : dict, optional
        Reader facts to keep in :attr:`ReadResult.meta` (a copy is made).

    Returns
    -------
    ReadResult
        As :func:`read_csv`: points from the longitude/latitude columns, rows
        with empty or unparseable coordinates quarantined.

    Examples
    --------
    >>> frame = pd.DataFrame({"编号": ["A1", "A2"], "经度": ["109.73", ""], "纬度": ["38.29", "38.3"]})
    >>> res = read_table(frame, np.array([4, 5]), source="t.xlsx", source_digest="0", coords="wgs84")
    >>> res.read, res.records["_record"].tolist(), res.quarantine["record"].tolist()
    (2, [4], [5])
    """
    stamp = {"layer": layer, "source": source, "source_digest": source_digest}
    table = _Table(frame, np.asarray(numbers, dtype="int64"), [])
    return _table_result(table, stamp, coords=coords, require_coordinates=require_coordinates, meta=dict(meta or {}),
                         crs=crs)
