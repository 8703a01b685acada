"""Read problem reports from phone photos: EXIF GPS position, time and caption.

EXIF GPS positions are WGS84 (EXIF 2.32, CIPA DC-008-2019, section 4.6.6:
GPSMapDatum defaults to WGS-84; GPSLatitude/GPSLongitude are three RATIONALs,
degrees, minutes and seconds, with GPSLatitudeRef "N"/"S" and
GPSLongitudeRef "E"/"W"). Times come from DateTimeOriginal (fallback DateTime,
then GPSDateStamp + GPSTimeStamp in UTC) with OffsetTimeOriginal (fallback
OffsetTime) when present.

Each JPEG is one record with the columns ``_record``, ``report_id``
(``"PHOTO-"`` + the first 12 hex digits of the file's SHA-256, so importing the
same photo twice is recognised), ``reported_at`` (ISO 8601, with the offset
when the photo records one), ``description`` (ImageDescription or UserComment,
else ""), ``source`` (``"photo"``), ``photo`` (the file's path) and
``geometry``. Pixels are not decoded: a photo whose header and EXIF are
readable is readable.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import struct
import warnings
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any, Iterable, Mapping

from PIL import Image, UnidentifiedImageError
from PIL.ExifTags import GPSTAGS
from shapely.geometry import Point

from gridmap.errors import ReadError
from gridmap.io.base import ReadResult, file_digest, quarantine_frame, quarantine_row, records_frame

__all__ = ["read_photos", "dms_to_degrees"]

logger = logging.getLogger(__name__)

_JPEG_SUFFIXES = (".jpg", ".jpeg")
_IFD_EXIF, _IFD_GPS = 0x8769, 0x8825
_TAG_DESCRIPTION, _TAG_DATETIME = 0x010E, 0x0132
_TAG_ORIGINAL, _TAG_OFFSET, _TAG_OFFSET_ORIGINAL, _TAG_USER_COMMENT = 0x9003, 0x9010, 0x9011, 0x9286
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_TIME, _GPS_DATUM, _GPS_DATE = 1, 2, 3, 4, 7, 0x12, 0x1D
_OFFSET_RE = re.compile(r"^[+-](?:[01]\d|2[0-3]):[0-5]\d$")
_COLUMNS = ("_record", "report_id", "reported_at", "description", "source", "photo")


class _BadPhoto(Exception):
    def __init__(self, reason: str, detail: str, raw: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.raw = raw or {}


def _number(value: Any) -> float:
    """A float from an EXIF RATIONAL (IFDRational, (num, den) pair or number); NaN when den is 0."""
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
        return float(num) / float(den) if den else math.nan
    return float(value)


def dms_to_degrees(dms: Iterable[Any], ref: str) -> float:
    """Convert EXIF degrees, minutes, seconds and a hemisphere to decimal degrees.

    ``degrees + minutes / 60 + seconds / 3600``, negative for ``"S"`` and
    ``"W"``. One or two values (decimal degrees, or degrees and decimal
    minutes, as some cameras write) are accepted too.

    Parameters
    ----------
    dms : iterable of rationals
        One to three non-negative values.
    ref : str
        ``"N"``, ``"S"``, ``"E"`` or ``"W"``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For a missing or unknown hemisphere, a zero denominator, or negative values.

    Examples
    --------
    >>> round(dms_to_degrees((38, 17, 24), "N"), 10)
    38.29
    >>> round(dms_to_degrees((109, 43, 48), "W"), 10)
    -109.73
    """
    hemisphere = str(ref or "").strip("\0 ").upper()
    if hemisphere not in ("N", "S", "E", "W"):
        raise ValueError(f"hemisphere reference {ref!r} is not N, S, E or W")
    parts = [_number(v) for v in dms]
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(v) and v >= 0 for v in parts):
        raise ValueError(f"{parts} are not 1-3 finite non-negative degree/minute/second values")
    degrees = sum(v / 60**i for i, v in enumerate(parts))
    return -degrees if hemisphere in ("S", "W") else degrees


def _position(gps: Mapping[int, Any]) -> Point:
    if _GPS_LAT not in gps or _GPS_LON not in gps:
        raise _BadPhoto("no_gps", "the photo's EXIF has no GPS latitude/longitude; the phone's location was off")
    try:
        lat = dms_to_degrees(gps[_GPS_LAT], gps.get(_GPS_LAT_REF, ""))
        lon = dms_to_degrees(gps[_GPS_LON], gps.get(_GPS_LON_REF, ""))
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise _BadPhoto("unparseable_coordinates", f"the photo's EXIF GPS position cannot be read: {exc}") from None
    datum = str(gps.get(_GPS_DATUM, "") or "").strip("\0 ").upper().replace(" ", "").replace("-", "")
    if datum and datum != "WGS84":
        logger.warning("EXIF GPSMapDatum %r is not WGS-84; the position is read as WGS84", datum)
    return Point(lon, lat)


def _exif_stamp(text: Any) -> str | None:
    """ISO form of an EXIF "YYYY:MM:DD HH:MM:SS"; the raw text when it does not parse; None when blank."""
    raw = str(text or "").strip("\0 ")
    if not raw or not raw.strip("0: "):
        return None
    try:
        return datetime.strptime(raw[:19], "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return raw


def _gps_stamp(gps: Mapping[int, Any]) -> str | None:
    date, hms = gps.get(_GPS_DATE), gps.get(_GPS_TIME)
    if not date or not hms:
        return None
    try:
        hours, minutes, seconds = (_number(v) for v in hms)
        stamp = f"{str(date).strip()} {int(hours):02d}:{int(minutes):02d}:{int(seconds):02d}"
    except (ValueError, TypeError):
        return None
    iso = _exif_stamp(stamp)
    return None if iso is None or "T" not in iso else iso + "+00:00"


def _reported_at(ifd0: Mapping[int, Any], exif: Mapping[int, Any], gps: Mapping[int, Any]) -> str | None:
    stamp = _exif_stamp(exif.get(_TAG_ORIGINAL)) or _exif_stamp(ifd0.get(_TAG_DATETIME))
    if stamp is None:
        return _gps_stamp(gps)
    offset = str(exif.get(_TAG_OFFSET_ORIGINAL) or exif.get(_TAG_OFFSET) or "").strip("\0 ")
    if "T" in stamp and _OFFSET_RE.match(offset):
        return stamp + offset
    return stamp


def _decode_text(data: bytes) -> str:
    """Decode caption bytes: UTF-8, else GB18030 (Chinese phones), else Latin-1."""
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _user_comment(value: Any, endian: str) -> str:
    """Decode an EXIF UserComment: an 8-byte character code, then the text (EXIF 2.32, 4.6.5)."""
    if isinstance(value, str):
        return value
    data = bytes(value or b"")
    code, body = data[:8], data[8:]
    if code.startswith(b"UNICODE"):
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", "replace")
        return body.decode("utf-16-be" if endian == ">" else "utf-16-le", "replace")
    if code.startswith(b"JIS"):
        return body.decode("shift_jis", "replace")
    return _decode_text(body)


def _description(ifd0: Mapping[int, Any], exif: Mapping[int, Any], endian: str) -> str:
    caption = ifd0.get(_TAG_DESCRIPTION)
    if isinstance(caption, str):
        # Pillow decodes EXIF ASCII as Latin-1; phones write UTF-8 or GBK there.
        caption = _decode_text(caption.encode("latin-1", "replace"))
    text = str(caption or "").strip("\0 \t\r\n")
    if not text:
        text = _user_comment(exif.get(_TAG_USER_COMMENT), endian).strip("\0 \t\r\n")
    return text


def _exif_of(path: Path) -> tuple[dict[int, Any], dict[int, Any], dict[int, Any], str]:
    """IFD0, Exif IFD, GPS IFD and byte order of a JPEG; raises _BadPhoto when unreadable."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(path) as img:
                if img.format != "JPEG":
                    raise _BadPhoto("unreadable_record", f"the file is a {img.format} image, not a JPEG")
                exif = img.getexif()
                ifds = dict(exif), dict(exif.get_ifd(_IFD_EXIF)), dict(exif.get_ifd(_IFD_GPS))
                endian = str(getattr(exif, "endian", "<") or "<")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error, EOFError,
            Image.DecompressionBombError) as exc:
        raise _BadPhoto("unreadable_record", f"the JPEG cannot be read ({type(exc).__name__}: {exc})") from None
    for warning in caught:
        if issubclass(warning.category, Image.DecompressionBombWarning):
            raise _BadPhoto("unreadable_record", f"the image is too large to open safely ({warning.message})")
        logger.debug("%s: %s", path, warning.message)
    return ifds[0], ifds[1], ifds[2], endian


def _report_id(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "PHOTO-" + digest.hexdigest()[:12]


def _photo_record(path: Path) -> dict[str, Any]:
    """Attributes and geometry of one photo; raises _BadPhoto carrying the raw values found."""
    try:
        base = {"report_id": _report_id(path), "photo": str(path), "source": "photo"}
    except OSError as exc:
        raise _BadPhoto("unreadable_record", f"the file cannot be read: {exc.strerror or exc}",
                        raw={"photo": str(path)}) from None
    try:
        ifd0, exif, gps, endian = _exif_of(path)
    except _BadPhoto as bad:
        raise _BadPhoto(bad.reason, bad.detail, raw=base) from None
    values = {**base, "reported_at": _reported_at(ifd0, exif, gps), "description": _description(ifd0, exif, endian)}
    try:
        values["geometry"] = _position(gps)
    except _BadPhoto as bad:
        raw = {**values, **{f"gps_{GPSTAGS.get(k, k)}": str(v) for k, v in gps.items()}}
        raise _BadPhoto(bad.reason, bad.detail, raw=raw) from None
    return values


def _photo_files(path: Path) -> tuple[list[Path], list[Path]]:
    """The JPEGs under `path` (sorted, recursively, no symlinked folders) and the other files."""
    if path.is_file():
        if path.suffix.lower() not in _JPEG_SUFFIXES:
            raise ReadError(f"{path} is not a .jpg/.jpeg file; give a JPEG or a folder of JPEGs")
        return [path], []
    if not path.is_dir():
        raise ReadError(f"{path}: no such file or folder; give a JPEG or a folder of JPEGs")
    photos: list[Path] = []
    others: list[Path] = []
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            target = photos if name.lower().endswith(_JPEG_SUFFIXES) else others
            target.append(Path(folder) / name)
    return photos, others


def _not_a_photo_folder(others: list[Path]) -> str:
    """Why a folder of other files gave no records, and the command that imports them.

    Examples
    --------
    >>> print(_not_a_photo_folder([Path("交付/网格.shp"), Path("交付/网格.dbf")]))
    ... # doctest: +NORMALIZE_WHITESPACE
    it holds no JPEG photo but 2 other file(s) (网格.dbf, 网格.shp): a folder is read as a folder of phone
    photos; give the file itself instead, e.g. gridmap import WORKSPACE LAYER 交付/网格.shp
    >>> print(_not_a_photo_folder([Path("相册/IMG_0001.HEIC")]))  # doctest: +NORMALIZE_WHITESPACE
    it holds no JPEG photo but 1 other file(s) (IMG_0001.HEIC): gridmap reads photos as JPEG (.jpg/.jpeg) with
    their GPS position; convert them to JPEG, or take JPEGs (iPhone: Settings > Camera > Formats > Most Compatible)
    """
    shown = sorted(o.name for o in others)
    listing = ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else "")
    readable = (".shp", ".gpkg", ".geojson", ".json", ".csv", ".tsv", ".xlsx", ".xls", ".kml", ".kmz", ".gpx", ".zip")
    example = next((o for suffix in readable for o in sorted(others) if o.suffix.lower() == suffix), None)
    head = f"it holds no JPEG photo but {len(others)} other file(s) ({listing})"
    if example is None:
        return (f"{head}: gridmap reads photos as JPEG (.jpg/.jpeg) with their GPS position; convert them to JPEG, "
                "or take JPEGs (iPhone: Settings > Camera > Formats > Most Compatible)")
    return (f"{head}: a folder is read as a folder of phone photos; give the file itself instead, e.g. "
            f"gridmap import WORKSPACE LAYER {example}")


def read_photos(path: str | PathLike[str], *, layer: str = "reports") -> ReadResult:
    """Read problem reports from JPEG photos with EXIF GPS positions.

    Parameters
    ----------
    path : str or path-like
        One JPEG, or a folder searched recursively for ``*.jpg``/``*.jpeg``
        (any case); other files are ignored and logged.
    layer : str, optional
        The layer the records are meant for; written into quarantine rows.

    Returns
    -------
    ReadResult
        ``records`` in EPSG:4326 (``coords="wgs84"``, ``layer_hint="reports"``);
        photos without a GPS position are quarantined as ``no_gps``,
        unreadable or corrupt ones as ``unreadable_record``.
        ``meta["ignored_files"]`` lists the non-JPEG files; a folder with other
        files and no JPEG has ``meta["nothing_read"]``, why and what to do.

    Raises
    ------
    ReadError
        `path` does not exist, or is a single file that is not a JPEG.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> exif = Image.Exif()
    >>> gps = exif.get_ifd(0x8825)
    >>> gps.update({1: "N", 2: (38.0, 17.0, 24.0), 3: "E", 4: (109.0, 43.0, 48.0)})
    >>> Image.new("RGB", (8, 8)).save(folder / "a.jpg", exif=exif)
    >>> Image.new("RGB", (8, 8)).save(folder / "b.jpg")
    >>> res = read_photos(folder)
    >>> [round(v, 6) for v in res.records.geometry[0].coords[0]], res.quarantine["reason"].tolist()
    ([109.73, 38.29], ['no_gps'])
    """
    p = Path(path)
    photos, others = _photo_files(p)
    for other in others:
        logger.info("%s: not a JPEG, ignored", other)
    source, digest = str(path), file_digest(p)
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for number, photo in enumerate(photos, start=1):
        try:
            rows.append({"_record": number, **_photo_record(photo)})
        except _BadPhoto as exc:
            bad.append(quarantine_row(layer=layer, source=source, source_digest=digest, record=number,
                                      raw=exc.raw or {"photo": str(photo)}, reason=exc.reason,
                                      detail=f"{photo.name}: {exc.detail}"))
    logger.info("%s: %d photos with a position, %d quarantined, %d other files ignored",
                source, len(rows), len(bad), len(others))
    meta: dict[str, Any] = {"format": "jpeg", "ignored_files": [str(o) for o in others]}
    if not photos and others:
        meta["nothing_read"] = _not_a_photo_folder(others)
    return ReadResult(records_frame(rows, first=_COLUMNS), quarantine_frame(bad), source=source,
                      source_digest=digest,
                      coords="wgs84", layer_hint="reports", meta=meta)
