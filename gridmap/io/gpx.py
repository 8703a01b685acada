"""Read GPX 1.0 and 1.1 files: inspectors' tracks and waypoints.

GPX coordinates are WGS84 decimal degrees by definition (GPX 1.1 schema,
``latitudeType``/``longitudeType``, https://www.topografix.com/GPX/1/1/), so
records are EPSG:4326.

Which points are records depends on the layer they are read for
(:func:`select_points`):

- ``tracks``: only track points (``trk/trkseg/trkpt``), the fixes walked. Waypoints
  (``wpt``) are places someone marked, not fixes: stored as fixes they would
  displace a real fix at the same time as a "duplicate". They are not records of
  the import (``read`` counts track points only) and are not dropped silently
  either: their number is logged as a warning naming the command that imports
  them, and kept in ``meta["waypoints_not_imported"]``. A file with waypoints and
  no track points is refused, naming that command.
- ``targets`` and ``reports``: only waypoints; track points are counted the same
  way (``meta["track_points_not_imported"]``).
- any other layer (``read_gpx`` called without one): both, in document order.

Route points (``rte/rtept``) are never records: a route is planned, not walked, so
its points are not fixes, and they are not marked places either (they are the turns
of a planned path). Their number is logged and kept in ``meta["skipped_route_points"]``.

Records are numbered 1, 2, ... in document order among the points kept. Columns:
``_record``, ``_kind`` (``"trkpt"`` or ``"wpt"``; underscored like every
reader-internal column, so it never collides with a model column such as
``targets.kind``), ``track_id`` (the track's name or ``trk-N``), ``segment``
(1-based within the track), ``time`` (as written), ``ele`` (float, NaN when
absent), ``name``, ``desc`` and, when the file names its author (GPX 1.1
``metadata/author/name``, GPX 1.0 ``author``), ``inspector``.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from os import PathLike
from pathlib import Path
from typing import Any, Iterator

from shapely.geometry import Point

from gridmap.errors import ReadError
from gridmap.io.base import ReadResult, file_digest, quarantine_frame, quarantine_row, records_frame
from gridmap.io._xml import child, child_text, children, local_name, parse_xml_file

__all__ = ["read_gpx", "select_points"]

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


def select_points(layer: str) -> frozenset[str]:
    """The GPX point kinds that are records of `layer`: track points for tracks, waypoints for targets
    and reports, both otherwise.

    Examples
    --------
    >>> sorted(select_points("tracks")), sorted(select_points("targets")), sorted(select_points("unknown"))
    (['trkpt'], ['wpt'], ['trkpt', 'wpt'])
    """
    if layer == "tracks":
        return frozenset({"trkpt"})
    if layer in ("targets", "reports"):
        return frozenset({"wpt"})
    return frozenset({"trkpt", "wpt"})


def _left_out(source: str, layer: str, kinds: frozenset[str], counts: dict[str, int]) -> dict[str, int]:
    """Log the points not imported into `layer` (waypoints of a tracks import, track points otherwise)."""
    name = Path(source).name
    waypoints = 0 if "wpt" in kinds else counts.get("wpt", 0)
    track_points = 0 if "trkpt" in kinds else counts.get("trkpt", 0)
    if waypoints and not counts.get("trkpt", 0):
        raise ReadError(
            f"{name} holds {waypoints} waypoints (wpt) and no track points (trkpt): waypoints are marked places, "
            f"not GPS fixes of a track. Import them as targets (gridmap import WORKSPACE targets {name} "
            f"--set kind=garbage_point, or another kind) or as reports (gridmap import WORKSPACE reports {name} "
            "--set category=...)")
    if waypoints:
        logger.warning(
            "%s: %d waypoints not imported (they are marked places, not fixes; 'read' counts the %d track points "
            "only): import them with gridmap import WORKSPACE targets %s --set kind=... or gridmap import "
            "WORKSPACE reports %s", name, waypoints, counts.get("trkpt", 0), name, name)
    if track_points:
        logger.warning(
            "%s: %d track points not imported into %s ('read' counts the %d waypoints only): they are GPS fixes; "
            "import them with gridmap import WORKSPACE tracks %s", name, track_points, layer,
            counts.get("wpt", 0), name)
    return {"waypoints_not_imported": waypoints, "track_points_not_imported": track_points}


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
        The layer the records are meant for; written into quarantine rows, and it
        decides which points are records (:func:`select_points`): track points for
        ``tracks``, waypoints for ``targets`` and ``reports``, both otherwise.

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
        A missing file, ill-formed or truncated XML (nothing is imported), a
        document that is not GPX, or waypoints without track points read for
        ``tracks`` (the message names the ``targets``/``reports`` import).

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
    kinds = select_points(layer)
    counts: dict[str, int] = {}
    for pt, attrs in _points(root):
        counts[attrs["_kind"]] = counts.get(attrs["_kind"], 0) + 1
    left_out = _left_out(source, layer, kinds, counts)
    chosen = ((pt, attrs) for pt, attrs in _points(root) if attrs["_kind"] in kinds)
    for number, (pt, attrs) in enumerate(chosen, start=1):
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
    meta: dict[str, Any] = {"format": "gpx", "version": root.get("version"), "skipped_route_points": skipped,
                            **left_out}
    if skipped and not rows and not bad:
        meta["nothing_read"] = (f"it holds only {skipped} route point(s) (rte/rtept): a route is planned, not walked; "
                                "export the recorded track (trk) from the GPS or the app instead")
    return ReadResult(records_frame(rows, first=first), quarantine_frame(bad), source=source, source_digest=digest,
                      coords="wgs84", layer_hint=_layer_hint(root), meta=meta)
