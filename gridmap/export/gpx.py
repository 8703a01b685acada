"""GPX 1.1 of a route for the cadre's phone: the stops in order as a route, the walk as a track.

GPX coordinates are WGS84 decimal degrees by definition (GPX 1.1 schema, ``latitudeType`` and
``longitudeType``, https://www.topografix.com/GPX/1/1/); phone apps (OsmAnd, Organic Maps, 两步路) show the
``rte`` as numbered turn points and the ``trk`` as the line to follow.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from os import PathLike
from pathlib import Path
from typing import Any, Iterable

__all__ = ["GPX_NS", "write_route_gpx"]

#: The GPX 1.1 namespace.
GPX_NS = "http://www.topografix.com/GPX/1/1"


def _point(parent: ET.Element, tag: str, lon: float, lat: float) -> ET.Element:
    return ET.SubElement(parent, tag, lat=f"{float(lat):.7f}", lon=f"{float(lon):.7f}")


def _text(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text


def _route(root: ET.Element, stops: Any, name: str) -> None:
    rte = ET.SubElement(root, "rte")
    _text(rte, "name", name)
    for row in stops.itertuples(index=False):
        pt = _point(rte, "rtept", row.lon, row.lat)
        _text(pt, "name", f"{int(row.order)}. {row.stop_id}")
        _text(pt, "desc", f"{row.kind}; {float(row.leg_m):.0f} m")
        link = ET.SubElement(pt, "link", href=str(row.amap_url))
        _text(link, "text", "Amap (GCJ-02)")


def _track(root: ET.Element, coords: Iterable[tuple[float, ...]], name: str) -> None:
    trk = ET.SubElement(root, "trk")
    _text(trk, "name", name)
    seg = ET.SubElement(trk, "trkseg")
    for xy in coords:
        _point(seg, "trkpt", xy[0], xy[1])


def write_route_gpx(stops: Any, line: Any, path: str | PathLike[str], *, name: str = "gridmap route") -> Path:
    """Write a route as GPX 1.1: a ``<rte>`` with one ``<rtept>`` per stop in order, and a ``<trk>`` of the walk.

    Parameters
    ----------
    stops : pandas.DataFrame
        The stops in order with ``order``, ``stop_id``, ``kind``, ``lon``, ``lat`` (WGS84), ``leg_m`` and
        ``amap_url`` (:attr:`gridmap.analysis.route.RouteResult.stops`).
    line : shapely.geometry.LineString
        The walk in WGS84.
    path : str or os.PathLike
        The file to write (UTF-8).
    name : str
        The route's and the track's name.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> from shapely.geometry import LineString
    >>> stops = pd.DataFrame({"order": [1], "stop_id": ["a"], "kind": ["dead_corner"], "lon": [109.73],
    ...                       "lat": [38.29], "leg_m": [12.0], "amap_url": ["https://uri.amap.com/marker?x=1&y=2"]})
    >>> out = write_route_gpx(stops, LineString([(109.72, 38.29), (109.73, 38.29)]),
    ...                       pathlib.Path(tempfile.mkdtemp()) / "r.gpx")
    >>> text = out.read_text(encoding="utf-8")
    >>> "<rtept lat=\\"38.2900000\\" lon=\\"109.7300000\\">" in text, "x=1&amp;y=2" in text
    (True, True)
    """
    ET.register_namespace("", GPX_NS)
    root = ET.Element("gpx", version="1.1", creator="gridmap", xmlns=GPX_NS)
    meta = ET.SubElement(root, "metadata")
    _text(meta, "name", name)
    _route(root, stops, name)
    _track(root, list(line.coords) if line is not None and not line.is_empty else [], name)
    ET.indent(root)
    out = Path(path)
    out.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
    return out
