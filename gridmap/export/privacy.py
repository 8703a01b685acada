"""Remove personal information before data is shared: phone numbers, names, photo metadata.

Exports meant for sharing (``BAD-INPUTS.md`` case 12) must carry no phone number
(a search for ``1[3-9]\\d{9}`` finds nothing), mask personal names and strip
EXIF/XMP (with its GPS position) from embedded photos. Phone numbers and names are
personal information, and a photo's GPS position is a whereabout (行踪轨迹), which
is *sensitive* personal information under the Personal Information Protection Law
of the PRC (PIPL, art. 28).

Phone numbers
-------------
:data:`PHONE_RE` finds these forms; :func:`redact_text` first maps full-width digits and
punctuation (``０``-``９ ＋ － （ ） ．``, as Chinese input methods type them) to ASCII, so
they are caught in either width:

* mainland mobile numbers, 11 digits ``1[3-9]`` + 9, written unbroken
  (``13800138000``) or grouped 3-4-4 by spaces or dashes (``138 0013 8000``,
  ``138-0013-8000``), optionally after a country prefix ``+86``, ``0086`` or
  ``(+86)`` (``+86 138 0013 8000``, ``008613800138000``);
* fixed lines with an area code set off by a dash or by parentheses:
  ``0912-1234567``, ``010-12345678``, ``(0912)1234567``, ``（0912） 1234567``.

A match must stand alone: it is neither preceded by a digit or by a digit and a
decimal point, nor followed by a digit or by a decimal point and a digit, so
decimals such as ``38.13912345678`` and long identifiers are not phone numbers.
Not caught by :data:`PHONE_RE`: fixed lines without separator (``09121234567``),
other groupings (``1380 013 8000``) and foreign numbers. :func:`redact_text` then
(``strict=True``, the default) also masks every run that still matches
``1[3-9]\\d{9}`` inside a longer run of digits, because shared files promise that
the search finds nothing; round coordinates to 7 decimals (1 cm) before
redacting so that no coordinate holds such a run.

A phone number is masked by replacing each of its digits with ``*`` and keeping
its separators and punctuation (``+86 138-0013-8000`` becomes
``+** ***-****-****``): a reader still sees that a number was there, and no digit
of it survives. The common display form ``138****8000`` is not used: it keeps
seven of eleven digits.

Examples
--------
>>> from gridmap.export.privacy import mask_name, redact_text
>>> redact_text("联系电话13800138000张师傅，2025-03-01 共清运3车")
'联系电话***********张师傅，2025-03-01 共清运3车'
>>> mask_name("欧阳娜娜"), mask_name("王小明")
('欧阳**', '王**')
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Sequence, TypeVar

import pandas as pd

from gridmap.errors import ReadError, SchemaError
from gridmap.model import EXTRA_COLUMN, LAYERS

__all__ = [
    "COMPOUND_SURNAMES",
    "PHONE_RE",
    "PHONE_SEARCH_RE",
    "mask_name",
    "personal_columns",
    "redact_frame",
    "redact_text",
    "strip_exif",
]

logger = logging.getLogger(__name__)

FrameT = TypeVar("FrameT", bound=pd.DataFrame)

# Full-width digits and punctuation (as typed with Chinese input methods) map one-to-one to ASCII, so a
# match found in the mapped text masks the same positions of the original.
_TO_ASCII = str.maketrans("０１２３４５６７８９＋－（）．", "0123456789+-().")
# Separators inside a grouped number: space, no-break space, ideographic space, dash.
_SEP = r"[ \u00a0\u3000-]"
_NOT_BEFORE = r"(?<![0-9])(?<![0-9]\.)"
_NOT_AFTER = r"(?![0-9])(?!\.[0-9])"
_MOBILE = rf"(?:\(?(?:\+|00)86\)?{_SEP}?)?1[3-9][0-9]{_SEP}?[0-9]{{4}}{_SEP}?[0-9]{{4}}"
_FIXED = r"(?:\(0[0-9]{2,3}\)[ \u00a0\u3000]?|0[0-9]{2,3}-)[0-9]{7,8}"

#: Phone numbers in the forms listed in the module docstring, in text whose full-width digits and
#: punctuation were mapped to ASCII (:func:`redact_text` does that first).
PHONE_RE: re.Pattern[str] = re.compile(rf"{_NOT_BEFORE}(?:{_MOBILE}|{_FIXED}){_NOT_AFTER}")
#: The acceptance search of shared exports.
PHONE_SEARCH_RE: re.Pattern[str] = re.compile(r"1[3-9][0-9]{9}")

#: Two-character surnames kept whole by :func:`mask_name` (the common compound surnames).
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {"欧阳", "司马", "诸葛", "上官", "司徒", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "夏侯", "令狐"}
)

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# Kept as they are inside masked names: whitespace and the name separators (·•・‧ and dashes).
_NAME_SEP = re.compile(r"[\s·•・‧\-]")
_WORD = re.compile(r"[^\W_]+")


def _mask_matches(pattern: re.Pattern[str], ascii_chars: list[str], chars: list[str]) -> int:
    """Replace the digits of every match of `pattern` by '*', in both lists; return the number of matches."""
    n = 0
    for match in pattern.finditer("".join(ascii_chars)):
        n += 1
        for i in range(match.start(), match.end()):
            if ascii_chars[i].isdigit():
                ascii_chars[i] = chars[i] = "*"
    return n


def redact_text(text: str, *, strict: bool = True) -> str:
    """Mask every phone number in `text`, leaving all other characters as they are.

    Parameters
    ----------
    text : str
        Any text: a report description, a chat message, an address.
    strict : bool
        Also mask runs matching ``1[3-9]\\d{9}`` that sit inside a longer run of
        digits (or after a decimal point), so that the result never matches that
        search. With ``False`` only the forms of :data:`PHONE_RE` are masked.

    Returns
    -------
    str
        `text` with every digit of every phone number replaced by ``*``.

    Examples
    --------
    >>> redact_text("电话 +86 138-0013-8000 或 (0912)1234567")
    '电话 +** ***-****-**** 或 (****)*******'
    >>> redact_text("位置 109.7312345678, 38.29123456789")
    '位置 109.7312345678, 38.29123456789'
    >>> redact_text("编号R2025013912345678"), redact_text("编号R2025013912345678", strict=False)
    ('编号R20250***********', '编号R2025013912345678')
    """
    if not isinstance(text, str):
        raise TypeError(f"redact_text needs a str, got {type(text).__name__}; convert the value with str() first")
    chars, ascii_chars = list(text), list(text.translate(_TO_ASCII))
    n = _mask_matches(PHONE_RE, ascii_chars, chars)
    if strict:
        n += _mask_matches(PHONE_SEARCH_RE, ascii_chars, chars)
    out = "".join(chars)
    if n:
        logger.debug("masked %d phone number(s) in a text of %d characters", n, len(text))
    return out


def _mask_chinese(name: str) -> str:
    keep = 2 if name[:2] in COMPOUND_SURNAMES and len(name.strip()) > 2 else 1
    rest = "".join(ch if _NAME_SEP.match(ch) else "*" for ch in name[keep:])
    return name[:keep] + rest


def _mask_word(match: re.Match[str]) -> str:
    word = match.group(0)
    return word[0] + "*" * (len(word) - 1)


def mask_name(name: str | None) -> str | None:
    """Mask a person's name: keep the surname or initials, one ``*`` per other character.

    A name whose first character is a Chinese character keeps its surname: two
    characters for the compound surnames of :data:`COMPOUND_SURNAMES` (when the
    name is longer than the surname), one otherwise. Any other name keeps the
    first letter of each word. Spaces and the separators ``·`` ``•`` ``-`` are
    kept; empty names and ``None`` are returned as they are.

    Parameters
    ----------
    name : str or None
        The name to mask.

    Returns
    -------
    str or None
        The masked name, as long as `name`.

    Examples
    --------
    >>> [mask_name(n) for n in ("王小明", "欧阳娜娜", "李四", "Zhang Wei", "", None)]
    ['王**', '欧阳**', '李*', 'Z**** W**', '', None]
    """
    if name is None or name == "":
        return name
    if not isinstance(name, str):
        raise TypeError(f"mask_name needs a str or None, got {type(name).__name__}")
    stripped = name.lstrip()
    lead = name[: len(name) - len(stripped)]
    if stripped and _HAN.match(stripped):
        return lead + _mask_chinese(stripped)
    return _WORD.sub(_mask_word, name)


def _is_phone_column(name: object) -> bool:
    text = str(name).lower()
    return text == "phone" or text.endswith("_phone")


def personal_columns() -> tuple[frozenset[str], frozenset[str]]:
    """Personal columns of the data model: (names to mask, phone columns to drop).

    Taken from the ``personal`` flags of :data:`gridmap.model.LAYERS`; a personal
    column called ``phone`` or ending in ``_phone`` holds a phone number.

    Returns
    -------
    names : frozenset of str
    phones : frozenset of str

    Examples
    --------
    >>> names, phones = personal_columns()
    >>> sorted(phones), "cadre" in names
    (['cadre_phone'], True)
    """
    personal = {c.name for spec in LAYERS.values() for c in spec.columns if c.personal}
    phones = frozenset(c for c in personal if _is_phone_column(c))
    return frozenset(personal - phones), phones


def _check_columns(frame: pd.DataFrame, columns: Iterable[object], role: str) -> list[object]:
    wanted = list(columns)
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{role} {missing!r} not in the frame; its columns are {list(frame.columns)!r}: "
            f"pass only existing columns"
        )
    geometry = getattr(frame, "_geometry_column_name", None)
    if geometry is not None and geometry in wanted:
        raise SchemaError(f"{role} include the geometry column {geometry!r}; geometry cannot be redacted as text")
    return wanted


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) or pd.api.types.is_object_dtype(series.dtype)


def _default_text_columns(frame: pd.DataFrame, skip: set[object]) -> list[object]:
    geometry = getattr(frame, "_geometry_column_name", None)
    cols = []
    for col in frame.columns:
        if col in skip or col == geometry:
            continue
        series = frame[col]
        if _is_text(series) or pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series):
            cols.append(col)
    return cols


def _redact_series(series: pd.Series, *, strict: bool) -> pd.Series:
    if _is_text(series):
        # Each distinct text once: a column of 100,000 reports often holds a few hundred distinct values.
        done = {v: redact_text(v, strict=strict) for v in pd.unique(series.dropna()) if isinstance(v, str)}
        return series.map(lambda v: done.get(v, v) if isinstance(v, str) else v).astype(series.dtype)
    strings = pd.Series([None if pd.isna(v) else str(v) for v in series], index=series.index, dtype=object)
    hits = strings.map(lambda v: isinstance(v, str) and bool(PHONE_SEARCH_RE.search(v) or PHONE_RE.search(v)))
    if not hits.any():
        return series
    logger.warning("column %r holds phone numbers as numbers; it is turned into masked text", series.name)
    return pd.Series([None if v is None else redact_text(v, strict=strict) for v in strings], index=series.index,
                     dtype=object, name=series.name)


def redact_frame(
    frame: FrameT,
    *,
    name_columns: Sequence[object] | None = None,
    text_columns: Sequence[object] | None = None,
    drop_columns: Sequence[object] | None = None,
    strict: bool = True,
) -> FrameT:
    """Return a copy of `frame` fit for sharing: names masked, phones removed.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Any workspace layer (or any table); it is not changed.
    name_columns : sequence, optional
        Columns masked with :func:`mask_name`. Default: the frame's columns that
        the data model flags ``personal`` and that are not phone columns
        (``cadre``, ``secretary``, ``leader``, ``street_chief``, ``by``, ``inspector``).
    text_columns : sequence, optional
        Columns passed through :func:`redact_text`. Default: every other column
        holding text (descriptions, names of places, codes...) and every numeric
        column holding a value that looks like a phone number (turned into text).
    drop_columns : sequence, optional
        Columns removed. Default: the frame's personal phone columns (``cadre_phone``) and
        ``extra`` (a file's unmapped columns as JSON: any names, phones or ID numbers).
    strict : bool
        Passed to :func:`redact_text`.

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        Same type and index as `frame`, without the dropped columns.

    Raises
    ------
    SchemaError
        When a column given is not in the frame, or is its geometry column.

    Examples
    --------
    >>> import pandas as pd
    >>> grids = pd.DataFrame({"grid_code": ["610802001001001"], "cadre": ["张向东"],
    ...                       "cadre_phone": ["13800000001"], "name": ["北门社区第1网格"]})
    >>> redact_frame(grids).to_dict("records")
    [{'grid_code': '610802001001001', 'cadre': '张**', 'name': '北门社区第1网格'}]
    """
    names, phones = personal_columns()
    if drop_columns is None:
        drop_columns = [c for c in frame.columns if c in phones or c == EXTRA_COLUMN]
    if name_columns is None:
        name_columns = [c for c in frame.columns if c in names and c not in drop_columns]
    drop = _check_columns(frame, drop_columns, "drop_columns")
    masked = [c for c in _check_columns(frame, name_columns, "name_columns") if c not in drop]
    if text_columns is None:
        text = _default_text_columns(frame, set(drop) | set(masked))
    else:
        text = [c for c in _check_columns(frame, text_columns, "text_columns") if c not in drop]
    out = frame.drop(columns=drop).copy(deep=True)
    for col in masked:
        out[col] = out[col].map(lambda v: mask_name(v) if isinstance(v, str) else v).astype(out[col].dtype)
    for col in text:
        out[col] = _redact_series(out[col], strict=strict)
    logger.info("redacted a frame of %d rows: dropped %s, masked %s, redacted text in %d columns",
                len(out), drop, masked, len(text))
    return out


# JPEG markers (ITU-T T.81, table B.1).
_SOI, _EOI, _SOS, _COM, _TEM = 0xD8, 0xD9, 0xDA, 0xFE, 0x01
_APP0, _APP2, _APP14, _APP15 = 0xE0, 0xE2, 0xEE, 0xEF


def _truncated(where: str) -> ReadError:
    return ReadError(f"the JPEG is truncated or corrupt ({where}); use the original photo file")


def _next_marker(buf: bytes, pos: int) -> tuple[int, int]:
    """The marker at `pos` (after any 0xFF fill bytes) and the position after it."""
    if pos >= len(buf) or buf[pos] != 0xFF:
        raise _truncated(f"no marker at byte {pos}")
    while pos < len(buf) and buf[pos] == 0xFF:
        pos += 1
    if pos >= len(buf):
        raise _truncated("it ends inside a marker")
    return buf[pos], pos + 1


def _entropy_end(buf: bytes, pos: int) -> int:
    """Position of the first marker after the entropy-coded data starting at `pos`."""
    while True:
        i = buf.find(b"\xff", pos)
        if i < 0 or i + 1 >= len(buf):
            raise _truncated("it ends inside the image data, without an EOI marker")
        nxt = buf[i + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:  # stuffed 0xFF byte or restart marker
            pos = i + 2
            continue
        return i


def _keep_segment(marker: int, payload: bytes) -> bool:
    """Keep coding segments, JFIF (APP0), ICC profiles (APP2) and Adobe (APP14); drop other APPn and COM."""
    if marker == _COM:
        return False
    if _APP0 <= marker <= _APP15:
        if marker == _APP2:
            return payload.startswith(b"ICC_PROFILE\x00")
        return marker in (_APP0, _APP14)
    return True


def strip_exif(data: bytes) -> bytes:
    """Remove EXIF, XMP, GPS and other metadata from a JPEG without re-encoding it.

    The JPEG's segments (ITU-T T.81, annex B) are copied one by one, dropping
    APP1 (EXIF with its GPS IFD, XMP), APP2 other than ICC profiles (FlashPix,
    MPF), APP3-APP13 and APP15 (IPTC, vendor data) and comments (COM). JFIF
    (APP0), ICC colour profiles (APP2) and Adobe colour information (APP14) are
    kept, so the image decodes to the same pixels. Anything after the end-of-image
    marker (the further images of a multi-picture file, vendor trailers) is dropped.

    Parameters
    ----------
    data : bytes
        The bytes of a JPEG file.

    Returns
    -------
    bytes
        The JPEG without metadata; the compressed image data is unchanged.

    Raises
    ------
    ReadError
        When `data` is not a JPEG, or is truncated.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> exif = Image.Exif()
    >>> exif.get_ifd(0x8825)[1] = "N"  # GPSLatitudeRef
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (8, 8), "red").save(buf, "JPEG", exif=exif)
    >>> clean = strip_exif(buf.getvalue())
    >>> b"Exif" in buf.getvalue(), b"Exif" in clean, "exif" in Image.open(io.BytesIO(clean)).info
    (True, False, False)
    """
    buf = bytes(data)
    if buf[:2] != b"\xff\xd8":
        raise ReadError("not a JPEG (it does not start with the marker FF D8); strip_exif reads JPEG only: "
                        "convert the photo to JPEG first")
    out = bytearray(buf[:2])
    pos, dropped = 2, 0
    while True:
        marker, pos = _next_marker(buf, pos)
        if marker == _EOI:
            out += b"\xff\xd9"
            break
        if marker == _TEM or 0xD0 <= marker <= 0xD7 or marker == _SOI:
            out += bytes((0xFF, marker))
            continue
        if pos + 2 > len(buf):
            raise _truncated(f"segment {marker:02X} at byte {pos} has no length")
        length = int.from_bytes(buf[pos:pos + 2], "big")
        if length < 2 or pos + length > len(buf):
            raise _truncated(f"segment {marker:02X} at byte {pos} runs past the end")
        if _keep_segment(marker, buf[pos + 2:pos + length]):
            out += bytes((0xFF, marker)) + buf[pos:pos + length]
        else:
            dropped += 1
        pos += length
        if marker == _SOS:
            end = _entropy_end(buf, pos)
            out += buf[pos:end]
            pos = end
    logger.debug("stripped %d metadata segment(s) and %d trailing byte(s) from a JPEG",
                 dropped, len(buf) - pos)
    return bytes(out)
