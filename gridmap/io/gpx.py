"""Read GPX 1.0 and 1.1 files: inspectors' tracks and waypoints.

GPX coordinates are WGS84 decimal degrees by definition (GPX 1.1 schema,
``latitudeType``/``longitudeType``, https://www.topografix.com/GPX/1/1/), so
records are EPSG:4326.

One record per ``trk/trkseg/trkpt`` and per ``wpt``, numbered in document
order. Columns: ``_record``, ``_kind`` (``"trkpt"`` or ``"wpt"``; underscored like
every reader-internal column, so it never collides with a model column such as
``targets.kind``), ``track_id``
(the track's name or ``trk-N``), ``segment`` (1-based within the track),
``time`` (as written), ``ele`` (float, NaN when absent), ``name``, ``desc``
and, when the file names its author (GPX 1.1 ``metadata/author/name``, GPX 1.0
``author``), ``inspector``. Route points (``rte/rtept``) are planned, not
walked: they are not records, and their number is logged and kept in
``meta["skipped_route_points"]``.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from os import PathLike
from pathlib import Path
from typing import Any, Iterator

from shapely.geometry import Point

from gridmap._errors import ReadError
from gridmap.io._base import ReadResult, file_digest, quarantine_frame, quarantine_row, records_frame
from gridmap.io._xml import child, child_text, children, local_name, parse_xml_file

__all__ = ["read_gpx"]

logger = logging.getLogger(__name__)

_COLUMNS = ("_record", "_kind", "track_id", "segment", "time", "ele", "name", "desc")


class _BadPoint(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _coordinate(pt: ET.Element, axis: str) -> float:
    text = (pt.get(axis) or "").strip()
    if not text:
        raise _BadPoint("missing_coordinates", f"the <{local_name(pt.tag)}> has no {axis} attribute")
    try:
        value = float(text)
    except ValueError:
        raise _BadPoint("unparseable_coordinates", f"{axis}={text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise _BadPoint("unparseable_coordinates", f"{axis}={text[:40]!r} is not a finite number")
    return value


def _elevation(pt: ET.Element) -> float:
    text = child_text(pt, "ele")
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise _BadPoint("unparseable_value", f"ele={text[:40]!r} is not a number") from None


def _inspector(root: ET.Element) -> str | None:
    """The file's author: GPX 1.1 ``metadata/author/name`` or GPX 1.0 ``author``."""
    meta = child(root, "metadata")
    author = None if meta is None else child(meta, "author")
    if author is not None:
        return child_text(author, "name") or None
    return child_text(root, "author") or None


def _points(root: ET.Element) -> Iterator[tuple[ET.Element, dict[str, Any]]]:
    """Every wpt and trkpt in document order, with the attributes its parents give it."""
    track_number = 0
    for elem in root:
        tag = local_name(elem.tag)
        if tag == "wpt":
            yield elem, {"_kind": "wpt"}
        elif tag == "trk":
            track_number += 1
            track_id = child_text(elem, "name") or f"trk-{track_number}"
            for seg_number, seg in enumerate(children(elem, "trkseg"), start=1):
                for pt in children(seg, "trkpt"):
                    yield pt, {"_kind": "trkpt", "track_id": track_id, "segment": seg_number}


def _decode(pt: ET.Element, attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes and geometry of one point; raises _BadPoint."""
    values = {
        **attrs,
        "time": child_text(pt, "time"),
        "ele": _elevation(pt),
        "name": child_text(pt, "name"),
        "desc": child_text(pt, "desc"),
    }
    values["geometry"] = Point(_coordinate(pt, "lon"), _coordinate(pt, "lat"))
    return values


def _raw(pt: ET.Element, attrs: dict[str, Any]) -> dict[str, Any]:
    raw = {**attrs, "lat": pt.get("lat"), "lon": pt.get("lon")}
    for name in ("ele", "time", "name", "desc"):
        raw[name] = child_text(pt, name)
    return raw


def _layer_hint(root: ET.Element) -> str | None:
    tags = {local_name(e.tag) for e in root.iter()}
    if "trkpt" in tags:
        return "tracks"
    if "wpt" in tags:
        return "targets"
    return None


def read_gpx(path: str | PathLike[str], *, layer: str = "unknown") -> ReadResult:
    """Read the track points and waypoints of a GPX 1.0 or 1.1 file.

    Parameters
    ----------
    path : str or path-like
        The ``.gpx`` file.
    layer : str, optional
        The layer the records are meant for; written into quarantine rows.

    Returns
    -------
    ReadResult
        ``records`` in EPSG:4326 (``coords="wgs84"``); ``layer_hint`` is
        ``"tracks"`` when the file has track points, ``"targets"`` when it has
        only waypoints. Points without lat/lon, with non-numeric ones or with a
        non-numeric elevation are quarantined. A file of route points only has
        ``meta["nothing_read"]``, why nothing was read and what to do.

    Raises
    ------
    UnsafeFileError
        Entity declarations or external references in the XML.
    ReadError
        A missing file, ill-formed or truncated XML (nothing is imported), or a
        document that is not GPX.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "walk.gpx"
    >>> _ = p.write_text('''<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
    ... <trkpt lat="38.29" lon="109.73"><time>2020-05-01T08:00:00Z</time></trkpt>
    ... <trkpt lon="109.74"><time>2020-05-01T08:01:00Z</time></trkpt>
    ... </trkseg></trk></gpx>''')
    >>> res = read_gpx(p)
    >>> res.layer_hint, res.records["track_id"].tolist(), res.records.geometry[0].wkt
    ('tracks', ['trk-1'], 'POINT (109.73 38.29)')
    >>> res.quarantine[["record", "reason"]].values.tolist()
    [[2, 'missing_coordinates']]
    """
    p = Path(path)
    if not p.is_file():
        raise ReadError(f"{p}: no such file; give the path of a .gpx file")
    root = parse_xml_file(p)
    if local_name(root.tag) != "gpx":
        raise ReadError(f"{p}: the document's root element is <{local_name(root.tag)}>, not <gpx>; is it a GPX file?")
    source, digest = str(path), file_digest(p)
    inspector = _inspector(root)
    extra = {} if inspector is None else {"inspector": inspector}
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for number, (pt, attrs) in enumerate(_points(root), start=1):
        try:
            rows.append({"_record": number, **_decode(pt, attrs), **extra})
        except _BadPoint as exc:
            bad.append(quarantine_row(layer=layer, source=source, source_digest=digest, record=number,
                                      raw={**_raw(pt, attrs), **extra}, reason=exc.reason, detail=exc.detail))
    skipped = sum(1 for e in root.iter() if local_name(e.tag) == "rtept")
    if skipped:
        logger.warning("%s: %d route points (rte/rtept) are planned routes, not tracks; skipped", source, skipped)
    logger.info("%s: %d GPX points, %d quarantined", source, len(rows), len(bad))
    first = _COLUMNS + (("inspector",) if inspector is not None else ())
    meta: dict[str, Any] = {"format": "gpx", "version": root.get("version"), "skipped_route_points": skipped}
    if skipped and not rows and not bad:
        meta["nothing_read"] = (f"it holds only {skipped} route point(s) (rte/rtept): a route is planned, not walked; "
                                "export the recorded track (trk) from the GPS or the app instead")
    return ReadResult(records_frame(rows, first=first), quarantine_frame(bad), source=source, source_digest=digest,
                      coords="wgs84", layer_hint=_layer_hint(root), meta=meta)
