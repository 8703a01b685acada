"""Text encodings of incoming files: detect them strictly, or refuse.

Chinese field data arrives as UTF-8 (phones, new software) or as GBK/GB18030
(old desktop GIS, Excel on Chinese Windows). A wrong guess turns 鼓楼街道 into
mojibake without any error, so the rule here is: decode *strictly* with each
candidate in turn and take the first that decodes everything; when none does,
raise :class:`~gridmap.errors.EncodingError` naming the candidates tried.

ASCII is valid in both candidates, and no multi-byte UTF-8 text of any length
is likely to be valid GB18030 by accident *and* be what the user meant, so
UTF-8 is tried first.

The shapefile part reads the dBASE table header itself. The layout used is the
dBASE III table file format (as documented e.g. in "Xbase File Format
Description", https://www.clicketyclick.dk/databases/xbase/format/dbf.html):
a 32-byte header (record count at byte 4, header length at 8, record length
at 10, language driver id (LDID) at 29), then 32-byte field descriptors (name
in bytes 0-10, type at 11, length at 16) ended by ``0x0D``; each record starts
with a deletion flag byte (``*`` = deleted) followed by the fields in order.
"""

from __future__ import annotations

import codecs
import logging
import re
import struct
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Iterable

import numpy as np

from gridmap.errors import EncodingError, ReadError

__all__ = [
    "CANDIDATE_ENCODINGS",
    "DbfField",
    "DbfHeader",
    "read_dbf_header",
    "dbf_text_values",
    "detect_encoding",
    "check_encoding",
    "decode_text",
    "codec_for_cpg",
    "codec_for_ldid",
    "shapefile_encoding",
]

logger = logging.getLogger(__name__)

#: Encodings tried, in order, when a file does not declare its own.
CANDIDATE_ENCODINGS: tuple[str, ...] = ("utf-8", "gb18030")

# Language driver ids whose code page is certain. Values from the dBASE / ESRI
# LDID list (the same list GDAL's shapefile driver applies). LDID 0x57 ("ANSI",
# i.e. the writer's Windows code page: cp936 on Chinese Windows) is left out on
# purpose and handled like LDID 0: it says nothing reliable about the bytes.
_LDID_CODECS: dict[int, str] = {
    0x01: "cp437", 0x02: "cp850", 0x03: "cp1252", 0x13: "cp932",
    0x4D: "gbk", 0x4E: "cp949", 0x4F: "cp950", 0x50: "cp874",
    0x78: "cp950", 0x79: "cp949", 0x7A: "gbk", 0x7B: "cp932", 0x7C: "cp874",
    0xC8: "cp1250", 0xC9: "cp1251", 0xCA: "cp1254", 0xCB: "cp1253",
}
_LDID_ANSI = 0x57

# Encodings of which GB18030 is a superset: text failing them may still be GB18030.
_GB_FAMILY = {"gbk", "gb2312", "cp936", "gb18030"}


@dataclass(frozen=True)
class DbfField:
    """One field descriptor of a dBASE table: name, type letter, byte offset in a record, width."""

    name: str
    type: str
    offset: int
    length: int


@dataclass(frozen=True)
class DbfHeader:
    """The header of a dBASE table (``.dbf``)."""

    n_records: int
    header_length: int
    record_length: int
    ldid: int
    fields: tuple[DbfField, ...]


def read_dbf_header(path: str | PathLike[str]) -> DbfHeader:
    """Parse the header of a dBASE III table (the ``.dbf`` of a shapefile).

    Parameters
    ----------
    path : str or path-like
        The ``.dbf`` file.

    Returns
    -------
    DbfHeader

    Raises
    ------
    ReadError
        When the file is too short or its header is inconsistent.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> head = bytearray(32); head[0] = 3; head[8:10] = (65).to_bytes(2, "little")
    >>> head[10:12] = (5).to_bytes(2, "little"); head[29] = 0x4D
    >>> field = b"NAME".ljust(11, b"\\0") + b"C" + bytes(4) + bytes([4, 0]) + bytes(14)
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.dbf"
    >>> _ = p.write_bytes(bytes(head) + field + b"\\r")
    >>> h = read_dbf_header(p)
    >>> h.ldid, h.fields[0].name, h.fields[0].offset, h.fields[0].length
    (77, 'NAME', 1, 4)
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            raise ReadError(f"{p.name} is not a dBASE table: it is shorter than its 32-byte header")
        n_records, header_length, record_length = struct.unpack("<IHH", head[4:12])
        descriptors = fh.read(max(header_length - 32, 0))
    fields = _parse_field_descriptors(descriptors, p.name)
    if record_length < 1 + sum(f.length for f in fields):
        raise ReadError(f"{p.name} is damaged: its record length {record_length} is shorter than its fields")
    return DbfHeader(n_records, header_length, record_length, head[29], tuple(fields))


def _parse_field_descriptors(data: bytes, name: str) -> list[DbfField]:
    fields: list[DbfField] = []
    offset = 1  # byte 0 of each record is the deletion flag
    for start in range(0, len(data) - 31, 32):
        desc = data[start:start + 32]
        if desc[0] == 0x0D:
            break
        field_name = desc[:11].split(b"\0", 1)[0].decode("latin-1").strip()
        fields.append(DbfField(field_name, chr(desc[11]), offset, desc[16]))
        offset += desc[16]
    if not fields and data[:1] != b"\r":
        raise ReadError(f"{name} is damaged: no field descriptors found in its header")
    return fields


def dbf_text_values(path: str | PathLike[str]) -> list[bytes]:
    """The non-ASCII values of the character fields of a ``.dbf``, as raw bytes.

    Deleted records are skipped (readers skip them too). Trailing padding
    (spaces, NULs) is removed. ASCII values are left out: they decode the same
    in every candidate encoding.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> head = bytearray(32); head[4:8] = (2).to_bytes(4, "little"); head[8:10] = (65).to_bytes(2, "little")
    >>> head[10:12] = (5).to_bytes(2, "little")
    >>> field = b"NAME".ljust(11, b"\\0") + b"C" + bytes(4) + bytes([4, 0]) + bytes(14)
    >>> rows = b" abcd" + b" " + "东城".encode("gbk")
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.dbf"
    >>> _ = p.write_bytes(bytes(head) + field + b"\\r" + rows)
    >>> dbf_text_values(p) == ["东城".encode("gbk")]
    True
    """
    header = read_dbf_header(path)
    data = Path(path).read_bytes()[header.header_length:]
    n = min(header.n_records, len(data) // max(header.record_length, 1))
    if n == 0:
        return []
    table = np.frombuffer(data, dtype=np.uint8, count=n * header.record_length).reshape(n, header.record_length)
    live = table[:, 0] != ord("*")
    values: list[bytes] = []
    for fld in header.fields:
        if fld.type not in "CcVv":
            continue
        cells = table[:, fld.offset:fld.offset + fld.length]
        rows = np.flatnonzero(live & (cells >= 0x80).any(axis=1))
        values.extend(cells[i].tobytes().rstrip(b" \0") for i in rows)
    return values


def _decodes(values: Iterable[bytes], encoding: str) -> bool:
    try:
        for value in values:
            value.decode(encoding, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(values: Iterable[bytes], *, what: str) -> str:
    """Pick the first candidate encoding that decodes every value strictly.

    Parameters
    ----------
    values : iterable of bytes
        Raw text values (or one whole file as a single value).
    what : str
        What the values are, for the error message (e.g. a file name).

    Returns
    -------
    str
        ``"utf-8"`` (also for pure ASCII) or ``"gb18030"``.

    Raises
    ------
    EncodingError
        When no candidate decodes everything; the message names the candidates
        and says to pass ``encoding=`` / ``--encoding``.

    Examples
    --------
    >>> detect_encoding([b"abc", "鼓楼街道".encode("utf-8")], what="x")
    'utf-8'
    >>> detect_encoding(["鼓楼街道".encode("gbk")], what="x")
    'gb18030'
    >>> detect_encoding([b"\\xff\\xfe\\x80"], what="x.dbf")
    Traceback (most recent call last):
    ...
    gridmap.errors.EncodingError: cannot tell the text encoding of x.dbf: ...
    """
    values = list(values)
    for candidate in CANDIDATE_ENCODINGS:
        if _decodes(values, candidate):
            if candidate != CANDIDATE_ENCODINGS[0]:
                logger.info("%s is not UTF-8; it decodes as %s (GBK is a subset), reading it so", what, candidate)
            return candidate
    tried = ", ".join(CANDIDATE_ENCODINGS)
    raise EncodingError(
        f"cannot tell the text encoding of {what}: it is neither valid {tried} "
        f"(tried {tried}, strictly). Pass the right one with --encoding, e.g. --encoding big5 or --encoding cp1252"
    )


def check_encoding(values: Iterable[bytes], encoding: str, *, what: str, declared_by: str) -> str:
    """Return `encoding` (or GB18030 for a failing GBK) when it decodes every value strictly.

    Raises
    ------
    EncodingError
        When the declared encoding does not decode the text.

    Examples
    --------
    >>> check_encoding(["东城".encode("gbk")], "gbk", what="x", declared_by="its .cpg")
    'gbk'
    >>> check_encoding(["东城".encode("gbk")], "utf-8", what="x.dbf", declared_by="its .cpg")
    Traceback (most recent call last):
    ...
    gridmap.errors.EncodingError: x.dbf declares utf-8 (its .cpg) but its text is not valid utf-8; ...
    """
    values = list(values)
    if _decodes(values, encoding):
        return encoding
    if codecs.lookup(encoding).name in _GB_FAMILY and _decodes(values, "gb18030"):
        logger.info("%s declares %s but needs gb18030 (its superset); reading it as gb18030", what, encoding)
        return "gb18030"
    working = [c for c in CANDIDATE_ENCODINGS if _decodes(values, c)]
    hint = f" It does decode as {working[0]}: pass --encoding {working[0]}" if working else \
        " Pass the right encoding with --encoding, e.g. --encoding big5"
    raise EncodingError(f"{what} declares {encoding} ({declared_by}) but its text is not valid {encoding};{hint}")


def decode_text(data: bytes, *, encoding: str | None, what: str) -> tuple[str, str]:
    """Decode a whole text file: explicit encoding, else UTF-8 (BOM or not), else GB18030.

    Returns
    -------
    (str, str)
        The text (without BOM) and the encoding used.

    Raises
    ------
    EncodingError
        When the explicit encoding fails, or no candidate decodes the file.

    Examples
    --------
    >>> decode_text("\\ufeff经度".encode("utf-8"), encoding=None, what="a.csv")
    ('经度', 'utf-8-sig')
    >>> decode_text("经度".encode("gb18030"), encoding=None, what="a.csv")
    ('经度', 'gb18030')
    """
    if encoding is not None:
        _check_codec(encoding)
        try:
            text = data.decode(encoding, errors="strict")
        except UnicodeDecodeError as exc:
            raise EncodingError(
                f"{what} is not valid {encoding} (byte {exc.start}: {exc.reason}); "
                f"pass the right one with --encoding, or leave --encoding out to detect "
                f"{' / '.join(CANDIDATE_ENCODINGS)}"
            ) from None
        return text.removeprefix("\ufeff"), encoding
    if data.startswith(codecs.BOM_UTF8):
        return decode_text(data[len(codecs.BOM_UTF8):], encoding="utf-8", what=what)[0], "utf-8-sig"
    try:  # the first candidate decodes most files: decode once, not once to test and once to read
        return data.decode(CANDIDATE_ENCODINGS[0], errors="strict"), CANDIDATE_ENCODINGS[0]
    except UnicodeDecodeError:
        pass
    chosen = detect_encoding([data], what=what)
    return data.decode(chosen), chosen


def _check_codec(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise EncodingError(
            f"--encoding {encoding}: not an encoding gridmap knows; give a codec name such as --encoding utf-8, "
            "gb18030, gbk or big5, or leave --encoding out to detect it"
        ) from None


def codec_for_cpg(text: str) -> str | None:
    """Python codec for the content of a ``.cpg`` file, or None when it is not understood.

    Examples
    --------
    >>> codec_for_cpg("UTF-8"), codec_for_cpg("936"), codec_for_cpg("ANSI 936"), codec_for_cpg("88591")
    ('utf-8', 'gbk', 'gbk', 'iso8859-1')
    >>> codec_for_cpg("nonsense") is None
    True
    """
    value = text.strip().strip("\0").upper()
    match = re.fullmatch(r"(?:ANSI\s*|CP\s*)?(\d+)", value)
    if match:
        number = match.group(1)
        value = f"ISO8859-{number[4:]}" if number.startswith("8859") and len(number) > 4 else f"cp{number}"
    try:
        return codecs.lookup(value).name
    except LookupError:
        return None


def codec_for_ldid(ldid: int) -> str | None:
    """Python codec for a dBASE language driver id, or None when it says nothing reliable.

    Examples
    --------
    >>> codec_for_ldid(0x4D), codec_for_ldid(0), codec_for_ldid(0x57)
    ('gbk', None, None)
    """
    return _LDID_CODECS.get(ldid)


def shapefile_encoding(shp: str | PathLike[str], *, encoding: str | None = None) -> str:
    """Decide the encoding of a shapefile's attribute text, checking it decodes strictly.

    Order: explicit `encoding`; the ``.cpg`` file; the ``.dbf`` LDID byte; else
    detection (UTF-8, then GB18030). LDID 0x57 ("ANSI", the writer's Windows
    code page) counts as no LDID.

    Parameters
    ----------
    shp : str or path-like
        The ``.shp`` file (the ``.dbf`` and ``.cpg`` beside it are used).
    encoding : str, optional
        An explicit encoding; it wins over everything the files declare.

    Returns
    -------
    str
        A codec name to pass to the reader.

    Raises
    ------
    EncodingError
        When the chosen encoding does not decode the text, or none can be found.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import geopandas as gpd, shapely
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> gdf = gpd.GeoDataFrame({"name": ["东城社区"]}, geometry=[shapely.Point(109.7, 38.3)], crs=4326)
    >>> gdf.to_file(d / "a.shp", engine="pyogrio", encoding="gbk")
    >>> shapefile_encoding(d / "a.shp")  # the .cpg says CP936
    'gbk'
    >>> (d / "a.cpg").unlink()  # no .cpg and LDID 0: detected
    >>> shapefile_encoding(d / "a.shp")
    'gb18030'
    """
    shp = Path(shp)
    dbf = _sibling(shp, ".dbf")
    if dbf is None:
        raise ReadError(f"{shp.name} has no .dbf beside it: copy the whole shapefile (.shp, .shx, .dbf, .prj, .cpg)")
    values = dbf_text_values(dbf)
    if encoding is not None:
        _check_codec(encoding)
        return check_encoding(values, encoding, what=dbf.name, declared_by="--encoding given")
    cpg = _sibling(shp, ".cpg")
    if cpg is not None:
        declared = cpg.read_text(encoding="latin-1")
        codec = codec_for_cpg(declared)
        if codec is not None:
            return check_encoding(values, codec, what=dbf.name, declared_by=f"its .cpg says {declared.strip()!r}")
        logger.warning("%s: .cpg content %r is not an encoding gridmap knows; detecting instead", shp.name, declared)
    ldid = read_dbf_header(dbf).ldid
    codec = codec_for_ldid(ldid)
    if codec is not None:
        return check_encoding(values, codec, what=dbf.name, declared_by=f"its LDID byte 0x{ldid:02X}")
    if ldid not in (0, _LDID_ANSI):
        logger.warning("%s: LDID 0x%02X is not one gridmap knows; detecting the encoding", dbf.name, ldid)
    return detect_encoding(values, what=f"{dbf.name} (no .cpg, LDID 0x{ldid:02X})")


def _sibling(path: Path, suffix: str) -> Path | None:
    """The file next to `path` with another suffix, in either letter case."""
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate
    return None
