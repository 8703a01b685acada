"""Read KML and KMZ files (Google Earth, 奥维 Ovi maps, LocaSpace exports).

Every ``Placemark`` of the document, at any depth of ``Document`` and
``Folder`` nesting, is one record; a ``gx:Track`` is the exception and gives
one point record per ``gx:coord``, each with its ``when``. Every geometry of a
Placemark is read: Google Earth writes an empty ``<Point/>`` beside a
``gx:Track`` or ``gx:MultiTrack``, whose positions are then the records. KML coordinates are
WGS84 longitude, latitude[, altitude] by definition (OGC 07-147r2, KML 2.2,
section 16.9.1), so records are EPSG:4326 and altitude is dropped.

Columns: ``_record``, ``name``, ``description``, ``time`` (``TimeStamp/when``
as written), ``time_begin``/``time_end`` (``TimeSpan``), ``folder`` (the
enclosing Folder names joined by " / "), ``track_id`` (gx:Track points only),
every ``ExtendedData`` ``Data``/``SimpleData`` value under its own name
(prefixed ``data_`` when the name is one of these columns), and ``geometry``.
"""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Iterator

from shapely.geometry import (
    GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon,
)
from shapely.geometry.base import BaseGeometry

from gridmap.errors import ReadError
from gridmap.io.base import ReadResult, file_digest, quarantine_frame, quarantine_row, read_guard, records_frame
from gridmap.io._xml import MAX_XML_BYTES, child, child_text, children, local_name, parse_xml_bytes, read_capped
from gridmap.io._zip import MAX_MEMBER_BYTES, check_zip, open_zip, read_member_capped

__all__ = ["read_kml", "parse_kml_coordinates"]

logger = logging.getLogger(__name__)

_GEOMETRY_TAGS = ("Point", "LineString", "LinearRing", "Polygon", "MultiGeometry", "Track", "MultiTrack", "Model")
_FIXED_COLUMNS = ("_record", "name", "description", "time", "time_begin", "time_end", "folder", "track_id")
_RAW_CAP = 4000
_PAIR_SEP = re.compile(r"\s*,\s*")


class _BadRecord(Exception):
    """A record that cannot be decoded: carries the quarantine reason and a detail sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Outcome:
    """One record taken from the document: attributes plus a geometry, or a quarantine reason."""

    attrs: dict[str, Any]
    geometry: BaseGeometry | None = None
    reason: str | None = None
    detail: str = ""
    raw_geometry: str = ""


def parse_kml_coordinates(text: str | None) -> list[tuple[float, float]]:
    """Parse a KML ``coordinates`` string into (longitude, latitude) pairs.

    Tuples are separated by white space, values within a tuple by commas
    (blanks around commas are tolerated); a third value (altitude) is dropped.

    Parameters
    ----------
    text : str or None
        The element's text.

    Returns
    -------
    list of (float, float)

    Raises
    ------
    ValueError
        For an empty string, a tuple with fewer than 2 or more than 3 values,
        or values that are not finite numbers.

    Examples
    --------
    >>> parse_kml_coordinates(" 109.73,38.29,1050\\n109.74, 38.30 ")
    [(109.73, 38.29), (109.74, 38.3)]
    >>> parse_kml_coordinates("109.73;38.29")
    Traceback (most recent call last):
    ...
    ValueError: coordinate tuple '109.73;38.29' is not lon,lat[,alt]
    """
    if text is None or not text.strip():
        raise ValueError("empty coordinates")
    pairs = []
    for token in _PAIR_SEP.sub(",", text.strip()).split():
        values = token.split(",")
        if len(values) not in (2, 3):
            raise ValueError(f"coordinate tuple {token[:60]!r} is not lon,lat[,alt]")
        try:
            lon, lat = float(values[0]), float(values[1])
        except ValueError:
            raise ValueError(f"coordinate tuple {token[:60]!r} holds values that are not numbers") from None
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise ValueError(f"coordinate tuple {token[:60]!r} is not finite")
        pairs.append((lon, lat))
    return pairs


def _coords_of(elem: ET.Element, *, minimum: int, what: str) -> list[tuple[float, float]]:
    text = child_text(elem, "coordinates")
    if not text:
        raise _BadRecord("missing_coordinates", f"the {what} has no coordinates")
    try:
        pairs = parse_kml_coordinates(text)
    except ValueError as exc:
        raise _BadRecord("unparseable_coordinates", f"the {what}'s coordinates cannot be read: {exc}") from None
    if len(pairs) < minimum:
        raise _BadRecord("invalid_geometry", f"a {what} needs at least {minimum} coordinates, found {len(pairs)}")
    return pairs


def _polygon(elem: ET.Element) -> Polygon:
    outer = child(elem, "outerBoundaryIs")
    ring = None if outer is None else child(outer, "LinearRing")
    if ring is None:
        raise _BadRecord("missing_coordinates", "the Polygon has no outerBoundaryIs/LinearRing")
    shell = _coords_of(ring, minimum=3, what="Polygon's outer ring")
    holes = [
        _coords_of(hole, minimum=3, what="Polygon's inner ring")
        for inner in children(elem, "innerBoundaryIs")
        for hole in children(inner, "LinearRing")
    ]
    return Polygon(shell, holes)


def _coord_pair(coord: ET.Element) -> tuple[float, float]:
    """The (lon, lat) of one ``gx:coord`` ("lon lat [alt]", blank-separated)."""
    text = (coord.text or "").split()
    if len(text) not in (2, 3):
        raise _BadRecord("unparseable_coordinates", f"gx:coord {' '.join(text)[:60]!r} is not 'lon lat [alt]'")
    try:
        return parse_kml_coordinates(f"{text[0]},{text[1]}")[0]
    except ValueError as exc:
        raise _BadRecord("unparseable_coordinates", f"gx:coord cannot be read: {exc}") from None


def _track_pairs(elem: ET.Element) -> list[tuple[float, float]]:
    pairs = [_coord_pair(coord) for coord in children(elem, "coord")]
    if not pairs:
        raise _BadRecord("missing_coordinates", "the gx:Track has no gx:coord")
    return pairs


def _combine(parts: list[BaseGeometry]) -> BaseGeometry:
    """Merge the parts of a MultiGeometry into the narrowest shapely collection."""
    flat: list[BaseGeometry] = []
    for part in parts:
        flat.extend(part.geoms if part.geom_type.startswith("Multi") else [part])
    kinds = {g.geom_type for g in flat}
    if kinds == {"Point"}:
        return MultiPoint(flat)
    if kinds == {"LineString"}:
        return MultiLineString(flat)
    if kinds == {"Polygon"}:
        return MultiPolygon(flat)
    return GeometryCollection(flat)


def _geometry(elem: ET.Element) -> BaseGeometry:
    """The 2D shapely geometry of a KML geometry element."""
    kind = local_name(elem.tag)
    try:
        if kind == "Point":
            pairs = _coords_of(elem, minimum=1, what="Point")
            if len(pairs) != 1:
                raise _BadRecord("unparseable_coordinates", f"a Point needs one coordinate tuple, found {len(pairs)}")
            return Point(pairs[0])
        if kind in ("LineString", "LinearRing"):
            return LineString(_coords_of(elem, minimum=2, what=kind))
        if kind == "Polygon":
            return _polygon(elem)
        if kind in ("Track", "MultiTrack"):
            tracks = [elem] if kind == "Track" else list(children(elem, "Track"))
            pairs = [p for t in tracks for p in _track_pairs(t)]
            if not pairs:
                raise _BadRecord("missing_coordinates", "the gx:MultiTrack has no gx:coord")
            return Point(pairs[0]) if len(pairs) == 1 else LineString(pairs)
        if kind == "MultiGeometry":
            parts = [_geometry(sub) for sub in elem if local_name(sub.tag) in _GEOMETRY_TAGS]
            if not parts:
                raise _BadRecord("missing_coordinates", "the MultiGeometry is empty")
            return _combine(parts)
    except ValueError as exc:  # shapely refusing a ring or line
        raise _BadRecord("invalid_geometry", f"the {kind} cannot be built: {exc}") from None
    raise _BadRecord("wrong_geometry_type", f"KML {kind} geometries are not supported; use Point, Line or Polygon")


def _extended_data(pm: ET.Element) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for ext in children(pm, "ExtendedData"):
        for item in ext.iter():
            tag = local_name(item.tag)
            key = (item.get("name") or "").strip()
            if tag == "Data" and key:
                values[key] = child_text(item, "value")
            elif tag == "SimpleData" and key:
                values[key] = "".join(item.itertext()).strip()
    return values


def _attributes(pm: ET.Element, folders: tuple[str, ...]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"name": child_text(pm, "name"), "description": child_text(pm, "description")}
    stamp = child(pm, "TimeStamp")
    attrs["time"] = None if stamp is None else child_text(stamp, "when")
    span = child(pm, "TimeSpan")
    if span is not None:
        attrs["time_begin"] = child_text(span, "begin")
        attrs["time_end"] = child_text(span, "end")
    attrs["folder"] = " / ".join(folders) if folders else None
    for key, value in _extended_data(pm).items():
        column = key
        while column in _FIXED_COLUMNS or column == "geometry" or column in attrs:
            column = f"data_{column}"
        attrs[column] = value
    return attrs


def _raw_xml(elem: ET.Element | None) -> str:
    if elem is None:
        return ""
    return ET.tostring(elem, encoding="unicode")[:_RAW_CAP]


def _track_outcomes(geom: ET.Element, attrs: dict[str, Any], number: int) -> Iterator[_Outcome]:
    """One outcome per gx:coord of a gx:Track or gx:MultiTrack, with its own time."""
    tracks = [geom] if local_name(geom.tag) == "Track" else list(children(geom, "Track"))
    track_id = attrs.get("name") or f"track-{number}"
    found = False
    for track in tracks:
        whens = [(w.text or "").strip() or None for w in children(track, "when")]
        for i, coord in enumerate(children(track, "coord")):
            found = True
            point_attrs = {**attrs, "time": whens[i] if i < len(whens) else None, "track_id": track_id}
            try:
                yield _Outcome(point_attrs, geometry=Point(_coord_pair(coord)))
            except _BadRecord as bad:
                yield _Outcome(point_attrs, reason=bad.reason, detail=bad.detail, raw_geometry=coord.text or "")
    if not found:
        detail = "the gx:Track has no gx:coord"
        yield _Outcome(attrs, reason="missing_coordinates", detail=detail, raw_geometry=_raw_xml(geom))


def _is_blank(geom: ET.Element) -> bool:
    """A geometry element without any coordinate text (Google Earth writes ``<Point/>`` beside a gx:Track)."""
    return not "".join(geom.itertext()).strip()


def _placemark_outcomes(pm: ET.Element, folders: tuple[str, ...], number: int) -> Iterator[_Outcome]:
    """The records of one Placemark, from every geometry it holds.

    Each gx:Track or gx:MultiTrack gives its points; the other geometries with
    coordinates give one record (several are combined as a MultiGeometry would
    be). Blank geometry elements are ignored unless the Placemark has nothing else.
    """
    attrs = _attributes(pm, folders)
    geoms = [sub for sub in pm if local_name(sub.tag) in _GEOMETRY_TAGS]
    if not geoms:
        yield _Outcome(attrs, reason="missing_coordinates", detail="the Placemark has no geometry")
        return
    tracks = [g for g in geoms if local_name(g.tag) in ("Track", "MultiTrack")]
    others = [g for g in geoms if g not in tracks and not _is_blank(g)]
    if not tracks and not others:
        others = geoms[:1]  # only blank geometries: quarantined with the first one's reason
    for track in tracks:
        yield from _track_outcomes(track, attrs, number)
    if others:
        yield _shape_outcome(others, attrs)


def _shape_outcome(geoms: list[ET.Element], attrs: dict[str, Any]) -> _Outcome:
    try:
        parts = [_geometry(geom) for geom in geoms]
    except _BadRecord as bad:
        return _Outcome(attrs, reason=bad.reason, detail=bad.detail, raw_geometry=_raw_xml(geoms[0]))
    return _Outcome(attrs, geometry=parts[0] if len(parts) == 1 else _combine(parts))


def _placemarks(root: ET.Element) -> Iterator[tuple[ET.Element, tuple[str, ...]]]:
    """Every Placemark in document order with the names of its enclosing Folders (no recursion)."""
    stack: list[tuple[ET.Element, tuple[str, ...]]] = [(root, ())]
    while stack:
        elem, folders = stack.pop()
        tag = local_name(elem.tag)
        if tag == "Placemark":
            yield elem, folders
            continue
        if tag == "Folder":
            folders = folders + (child_text(elem, "name") or "",)
        stack.extend((sub, folders) for sub in reversed(list(elem)))


_NOT_RECORDS = ("NetworkLink", "GroundOverlay", "ScreenOverlay", "PhotoOverlay")


def _not_records(root: ET.Element) -> tuple[dict[str, int], list[str]]:
    """How many elements of each kind in :data:`_NOT_RECORDS` the document holds, and the NetworkLinks' hrefs."""
    counts = {kind: 0 for kind in _NOT_RECORDS}
    hrefs: list[str] = []
    for elem in root.iter():
        kind = local_name(elem.tag) if isinstance(elem.tag, str) else ""
        if kind in counts:
            counts[kind] += 1
        if kind == "NetworkLink":
            links = (h for h in elem.iter() if isinstance(h.tag, str) and local_name(h.tag) == "href")
            hrefs.extend(text for text in ((h.text or "").strip() for h in links) if text)
    return counts, hrefs


def _why_nothing(root: ET.Element) -> str:
    """Why a document gave no records: what it holds instead of Placemarks, and what to do.

    Examples
    --------
    >>> root = ET.fromstring('<kml><Document><NetworkLink><Link><href>http://a/b.kml</href></Link></NetworkLink>'
    ...                      '<GroundOverlay/><GroundOverlay/></Document></kml>')
    >>> print(_why_nothing(root))  # doctest: +ELLIPSIS
    it holds 1 NetworkLink, 2 GroundOverlay, no Placemark. A NetworkLink only points to another file ...
    """
    counts, hrefs = _not_records(root)
    found = [f"{n} {kind}" for kind, n in counts.items() if n]
    if not found:
        return "it holds no Placemark; export the points, lines or areas themselves (as Placemarks) and import again"
    advice = []
    if counts["NetworkLink"]:
        shown = ", ".join(hrefs[:3]) + (", ..." if len(hrefs) > 3 else "")
        advice.append("A NetworkLink only points to another file" + (f" ({shown})" if shown else "")
                      + ": open that file in Google Earth, save it as KML/KMZ and import that.")
    if any(counts[kind] for kind in _NOT_RECORDS[1:]):
        advice.append("An overlay is a picture laid over the map, not records.")
    return f"it holds {', '.join(found)}, no Placemark. " + " ".join(advice)


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def _kmz_document(path: Path) -> tuple[ET.Element, str]:
    """Parse the main KML of a KMZ: ``doc.kml``, else the first ``.kml`` at the root, else anywhere."""
    infos = [i for i in check_zip(path) if not i.is_dir()]
    kmls = [i for i in infos if i.filename.lower().endswith(".kml")]
    at_root = [i for i in kmls if "/" not in i.filename.strip("/")]
    doc = next((i for i in at_root if i.filename.lower() == "doc.kml"), None) or next(iter(at_root + kmls), None)
    if doc is None:
        members = ", ".join(i.filename for i in infos[:10]) + (", ..." if len(infos) > 10 else "")
        raise ReadError(f"{path}: the KMZ holds no .kml document (members: {members or 'none'}); "
                        "save the map as KML or KMZ again in Google Earth and import that")
    with open_zip(path) as zf:
        data = read_member_capped(zf, doc, min(MAX_MEMBER_BYTES, MAX_XML_BYTES))
    return parse_xml_bytes(data, source=f"{path}!{doc.filename}"), doc.filename


def _document(path: Path) -> tuple[ET.Element, dict[str, Any]]:
    if not path.is_file():
        raise ReadError(f"{path}: no such file; give the path of a .kml or .kmz file")
    if path.suffix.lower() == ".kmz" or _is_zip(path):
        root, member = _kmz_document(path)
        meta: dict[str, Any] = {"format": "kmz", "member": member}
    else:
        root, meta = parse_xml_bytes(read_capped(path, max_bytes=MAX_XML_BYTES), source=str(path)), {"format": "kml"}
    if local_name(root.tag) != "kml":
        raise ReadError(
            f"{path}: the document's root element is <{local_name(root.tag)}>, not <kml>; is it a KML file?"
        )
    return root, meta


def read_kml(path: str | PathLike[str], *, layer: str = "unknown") -> ReadResult:
    """Read the placemarks of a KML or KMZ file.

    Parameters
    ----------
    path : str or path-like
        A ``.kml`` file or a ``.kmz`` archive (detected by extension or content).
    layer : str, optional
        The layer the records are meant for; written into quarantine rows.

    Returns
    -------
    ReadResult
        ``records`` in EPSG:4326 (``coords="wgs84"``), one row per Placemark
        (per point of a gx:Track); Placemarks whose geometry cannot be decoded
        are quarantined with their attributes and geometry XML. A document with
        no Placemark but NetworkLinks or overlays has ``meta["nothing_read"]``,
        the reason and what to do (``gridmap import`` refuses it with that text).

    Raises
    ------
    UnsafeFileError
        Entity declarations or external references in the XML; a KMZ with
        unsafe member names, a zip bomb or an oversized document.
    ReadError
        A missing file, ill-formed or truncated XML (nothing is imported), or a
        document that is not KML.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "points.kml"
    >>> _ = p.write_text('''<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
    ... <Placemark><name>垃圾点</name><Point><coordinates>109.73,38.29,0</coordinates></Point></Placemark>
    ... <Placemark><name>坏点</name><Point><coordinates>abc,def</coordinates></Point></Placemark>
    ... </Document></kml>''', encoding="utf-8")
    >>> res = read_kml(p)
    >>> res.records[["_record", "name"]].values.tolist(), res.records.geometry[0].wkt
    ([[1, '垃圾点']], 'POINT (109.73 38.29)')
    >>> res.quarantine["reason"].tolist(), res.read
    (['unparseable_coordinates'], 2)
    """
    with read_guard(path):
        return _read_kml(path, layer=layer)


def _read_kml(path: str | PathLike[str], *, layer: str) -> ReadResult:
    p = Path(path)
    root, meta = _document(p)
    source, digest = str(path), file_digest(p)
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    number = 0
    for pm_number, (pm, folders) in enumerate(_placemarks(root), start=1):
        for outcome in _placemark_outcomes(pm, folders, pm_number):
            number += 1
            if outcome.reason is None:
                rows.append({"_record": number, **outcome.attrs, "geometry": outcome.geometry})
                continue
            raw = {**outcome.attrs, "geometry_xml": outcome.raw_geometry}
            bad.append(quarantine_row(layer=layer, source=source, source_digest=digest, record=number,
                                      raw=raw, reason=outcome.reason, detail=outcome.detail))
    logger.info("%s: %d placemark records, %d quarantined", source, len(rows), len(bad))
    if number == 0:
        why = _why_nothing(root)
        logger.warning("%s: nothing read: %s", p.name, why)
        if any(_not_records(root)[0].values()):  # links or overlays instead of records: the wrong kind of KML
            meta["nothing_read"] = why
    return ReadResult(records_frame(rows, first=("_record", "name", "description", "time")),
                      quarantine_frame(bad), source=source, source_digest=digest, coords="wgs84", meta=meta)
