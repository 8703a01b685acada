"""Basemaps for the folium maps: none, OpenStreetMap, Tianditu (天地图) and Amap (高德地图).

Which coordinates each basemap expects
--------------------------------------
- ``"none"``: no tiles; the page makes no network request.
- ``"osm"``: OpenStreetMap's standard tiles, WGS84 / Web Mercator.
- ``"tianditu"``: Tianditu, the official basemap of China, in its Web Mercator
  tile matrix set (``_w`` layers). Its datum is CGCS2000, which equals WGS84 to
  centimetres, so WGS84 overlays need no shift. A key (``tk``) is required;
  register at https://console.tianditu.gov.cn/ to get one.
- ``"amap"``: Amap/Gaode road tiles. They are drawn in **GCJ-02**, so every
  overlay must be shifted WGS84 → GCJ-02 (:func:`to_display_crs`,
  :func:`shift_latlon`) or it lands 100–700 m away from the streets.

Where the tile URLs come from
-----------------------------
Tianditu: the public map-service documentation of the National Platform for
Common GeoSpatial Information Services, http://lbs.tianditu.gov.cn/server/MapService.html
("地图服务"), which lists the layers ``vec`` (vector), ``cva`` (vector labels),
``img`` (imagery), ``cia`` (imagery labels) and their English-label variants
``eva``/``eia``, the Web Mercator suffix ``_w``, the subdomains ``t0``–``t7``
and the ``DataServer?T=<layer>_w&x=&y=&l=&tk=`` request form used here.
Amap: the widely used public ``webrd0{1-4}.is.autonavi.com/appmaptile`` road
tile endpoint (``style=8``).

Examples
--------
>>> import folium
>>> fmap = add_basemap(folium.Map(tiles=None), "osm")
>>> "tile.openstreetmap.org" in fmap.get_root().render()
True
>>> needs_gcj02("amap"), needs_gcj02("tianditu")
(True, False)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import geopandas as gpd
import numpy as np
import shapely

from gridmap.errors import SchemaError
from gridmap.crs import from_wgs84, require_crs

if TYPE_CHECKING:  # pragma: no cover
    import folium

__all__ = ["BASEMAPS", "add_basemap", "needs_gcj02", "to_display_crs", "shift_latlon"]

logger = logging.getLogger(__name__)

#: The basemaps gridmap knows, with the coordinate system their tiles are drawn in.
BASEMAPS: dict[str, str] = {
    "none": "no tiles (no network request)",
    "osm": "OpenStreetMap (WGS84)",
    "tianditu": "Tianditu 天地图 (CGCS2000, equal to WGS84 to centimetres; key required)",
    "amap": "Amap/Gaode 高德地图 (GCJ-02: overlays are shifted)",
}

_TIANDITU_KINDS = ("vector", "imagery")
_LANGS = ("zh", "en")
# Tianditu keys are 32 hexadecimal characters; accept letters and digits only, so
# the key can never break out of the URL or the JavaScript string it lands in.
_KEY_PATTERN = re.compile(r"[A-Za-z0-9]{8,64}")

_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
_TIANDITU_URL = "https://t{s}.tianditu.gov.cn/DataServer?T={layer}&x={x}&y={y}&l={z}&tk={key}"
_TIANDITU_SUBDOMAINS = "01234567"
_TIANDITU_ATTR = '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a>'
_AMAP_URL = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
_AMAP_SUBDOMAINS = "1234"
_AMAP_ATTR = '&copy; <a href="https://www.amap.com/">高德地图</a>'

# (base layer, label layer) per kind and language; eva/eia carry English labels.
_TIANDITU_LAYERS: dict[tuple[str, str], tuple[str, str]] = {
    ("vector", "zh"): ("vec_w", "cva_w"),
    ("vector", "en"): ("vec_w", "eva_w"),
    ("imagery", "zh"): ("img_w", "cia_w"),
    ("imagery", "en"): ("img_w", "eia_w"),
}

_NAMES: dict[str, dict[str, str]] = {
    "zh": {
        "osm": "OpenStreetMap",
        "vector": "天地图 矢量",
        "imagery": "天地图 影像",
        "labels": "天地图 注记",
        "amap": "高德地图",
    },
    "en": {
        "osm": "OpenStreetMap",
        "vector": "Tianditu vector",
        "imagery": "Tianditu imagery",
        "labels": "Tianditu labels",
        "amap": "Amap",
    },
}

GeoT = TypeVar("GeoT", gpd.GeoDataFrame, gpd.GeoSeries)


@dataclass(frozen=True)
class _Tiles:
    url: str
    attr: str
    name: str
    subdomains: str
    max_zoom: int
    overlay: bool = False


def _basemap_key(basemap: str) -> str:
    key = str(basemap).strip().lower()
    if key not in BASEMAPS:
        raise SchemaError(f"unknown basemap {basemap!r}; use one of {', '.join(BASEMAPS)}")
    return key


def _check_lang(lang: str) -> str:
    if lang not in _LANGS:
        raise SchemaError(f"unknown map language {lang!r}; use 'zh' (the default) or 'en'")
    return lang


def _check_tianditu_key(key: str | None) -> str:
    if key is None or not str(key).strip():
        raise SchemaError(
            "the Tianditu (天地图) basemap needs a key: register for a free browser-side key at"
            " https://console.tianditu.gov.cn/ and pass it with --tianditu-key KEY"
            " (tianditu_key=... in Python), or choose --basemap none|osm|amap"
        )
    key = str(key).strip()
    if not _KEY_PATTERN.fullmatch(key):
        raise SchemaError(
            "the Tianditu key must be letters and digits only (a 32-character hexadecimal string as shown"
            " in the Tianditu console); check what was passed with --tianditu-key"
        )
    return key


def _tianditu_tiles(key: str, kind: str, lang: str) -> list[_Tiles]:
    if kind not in _TIANDITU_KINDS:
        raise SchemaError(f"unknown Tianditu kind {kind!r}; use 'vector' or 'imagery'")
    base, labels = _TIANDITU_LAYERS[(kind, lang)]
    names = _NAMES[lang]
    return [
        _Tiles(_TIANDITU_URL.format(layer=layer, key=key, s="{s}", x="{x}", y="{y}", z="{z}"),
               _TIANDITU_ATTR, name, _TIANDITU_SUBDOMAINS, 18, overlay)
        for layer, name, overlay in ((base, names[kind], False), (labels, names["labels"], True))
    ]


def _tiles_for(basemap: str, *, tianditu_key: str | None, tianditu_kind: str, lang: str) -> list[_Tiles]:
    names = _NAMES[lang]
    if basemap == "osm":
        return [_Tiles(_OSM_URL, _OSM_ATTR, names["osm"], "abc", 19)]
    if basemap == "amap":
        return [_Tiles(_AMAP_URL, _AMAP_ATTR, names["amap"], _AMAP_SUBDOMAINS, 18)]
    if basemap == "tianditu":
        return _tianditu_tiles(_check_tianditu_key(tianditu_key), tianditu_kind, lang)
    return []


def add_basemap(
    fmap: "folium.Map",
    basemap: str = "none",
    *,
    tianditu_key: str | None = None,
    tianditu_kind: str = "vector",
    lang: str = "zh",
) -> "folium.Map":
    """Add the tile layers of `basemap` to `fmap` and return it.

    Like folium's ``add_to``, this adds to the map it is given (a folium map is
    a page being built, not the caller's data).

    Parameters
    ----------
    fmap : folium.Map
        The map, typically built with ``tiles=None``.
    basemap : {"none", "osm", "tianditu", "amap"}
        ``"none"`` adds nothing (no network request). ``"osm"`` OpenStreetMap;
        ``"tianditu"`` Tianditu in Web Mercator, base plus labels (CGCS2000,
        equal to WGS84 to centimetres: overlays need no shift); ``"amap"``
        Amap/Gaode road tiles, drawn in GCJ-02: shift overlays with
        :func:`to_display_crs` and :func:`shift_latlon`.
    tianditu_key : str, optional
        The Tianditu key (``tk``); required for ``"tianditu"``.
    tianditu_kind : {"vector", "imagery"}
        Tianditu's vector map (vec_w + cva_w) or imagery (img_w + cia_w).
    lang : {"zh", "en"}
        Language of the layer names; with ``"en"`` Tianditu's English labels
        (eva_w / eia_w) are used.

    Returns
    -------
    folium.Map
        `fmap`, with the tile layers added.

    Raises
    ------
    SchemaError
        For an unknown basemap, kind or language, and for Tianditu without a
        (well-formed) key; the message says where to get one.

    Examples
    --------
    >>> import folium
    >>> html = add_basemap(folium.Map(tiles=None), "tianditu", tianditu_key="0" * 32).get_root().render()
    >>> "T=vec_w" in html and "T=cva_w" in html
    True
    >>> add_basemap(folium.Map(tiles=None), "tianditu")
    Traceback (most recent call last):
    gridmap.errors.SchemaError: the Tianditu (天地图) basemap needs a key: ...--tianditu-key KEY...
    """
    import folium  # deferred: heavy, only drawing needs it

    key = _basemap_key(basemap)
    tiles = _tiles_for(key, tianditu_key=tianditu_key, tianditu_kind=tianditu_kind, lang=_check_lang(lang))
    for spec in tiles:
        folium.TileLayer(
            tiles=spec.url, attr=spec.attr, name=spec.name, subdomains=spec.subdomains,
            max_zoom=spec.max_zoom, overlay=spec.overlay, control=True,
        ).add_to(fmap)
    logger.debug("basemap %s: %d tile layer(s) added", key, len(tiles))
    return fmap


def needs_gcj02(basemap: str) -> bool:
    """Whether `basemap`'s tiles are drawn in GCJ-02, so overlays must be shifted (only Amap).

    Raises
    ------
    SchemaError
        For an unknown basemap.

    Examples
    --------
    >>> [needs_gcj02(b) for b in ("none", "osm", "tianditu", "amap")]
    [False, False, False, True]
    """
    return _basemap_key(basemap) == "amap"


def _to_gcj02(coords: np.ndarray) -> np.ndarray:
    out = np.array(coords, dtype=np.float64)  # keeps a Z column when there is one
    out[:, 0], out[:, 1] = from_wgs84(coords[:, 0], coords[:, 1], "gcj02")
    return out


def to_display_crs(gdf: GeoT, basemap: str) -> GeoT:
    """A copy of `gdf` whose coordinates line up with `basemap`'s tiles.

    For ``"amap"`` the copy is in longitude/latitude (reprojected to EPSG:4326
    first when needed) with every vertex shifted WGS84 → GCJ-02 by
    :func:`gridmap.crs.from_wgs84`; its CRS stays labelled EPSG:4326 because
    PROJ has no GCJ-02, so use it for drawing only, never for storing or
    measuring. For any other basemap it is an unchanged copy. Points, lines,
    polygons (holes included) and multi-geometries are handled; Z values are
    kept; the index is kept; `gdf` is never modified.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or geopandas.GeoSeries
        Data with a CRS.
    basemap : {"none", "osm", "tianditu", "amap"}
        The basemap it will be drawn over.

    Returns
    -------
    geopandas.GeoDataFrame or geopandas.GeoSeries
        The same type as `gdf`.

    Raises
    ------
    CRSError
        When `gdf` has no CRS.
    SchemaError
        For an unknown basemap.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> pts = gpd.GeoDataFrame(geometry=[Point(109.7345, 38.2902)], crs=4326)
    >>> shifted = to_display_crs(pts, "amap")
    >>> lon, lat = from_wgs84(109.7345, 38.2902, "gcj02")
    >>> shifted.geometry.iloc[0].x == float(lon), pts.geometry.iloc[0].x
    (True, 109.7345)
    """
    key = _basemap_key(basemap)
    require_crs(gdf, what="the layer to draw")
    if key != "amap":
        return gdf.copy()
    out = gdf.to_crs(4326) if not gdf.crs.equals("EPSG:4326") else gdf.copy()
    geoms = shapely.transform(np.asarray(out.geometry.values, dtype=object), _to_gcj02, include_z=None)
    if isinstance(out, gpd.GeoSeries):
        return gpd.GeoSeries(geoms, index=out.index, crs=out.crs, name=out.name)
    out[out.geometry.name] = gpd.GeoSeries(geoms, index=out.index, crs=out.crs)
    return out


def shift_latlon(lat: float, lon: float, basemap: str) -> tuple[float, float]:
    """One WGS84 point as ``(lat, lon)`` where `basemap` draws it (GCJ-02 for Amap, unchanged otherwise).

    Note the folium order: latitude first, as for markers and bounds.

    Raises
    ------
    SchemaError
        For an unknown basemap.

    Examples
    --------
    >>> shift_latlon(38.2902, 109.7345, "osm")
    (38.2902, 109.7345)
    >>> lat, lon = shift_latlon(38.2902, 109.7345, "amap")
    >>> lat != 38.2902 and lon != 109.7345
    True
    """
    if not needs_gcj02(basemap):
        return float(lat), float(lon)
    glon, glat = from_wgs84(lon, lat, "gcj02")
    return float(glat), float(glon)
