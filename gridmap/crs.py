"""Coordinates: WGS84, GCJ-02 and BD-09; the storage CRS; the CRS to measure in.

Chinese phone maps do not give WGS84. Amap (Gaode), Tencent maps and WeChat
locations use **GCJ-02**, an obfuscation of WGS84 mandated for published maps
in China; Baidu maps use **BD-09**, a further offset of GCJ-02. Neither has an
official public specification and PROJ does not (and will not) implement them,
so they cannot be expressed as a ``pyproj.CRS``. This module converts them at
the edge (on import) and everything deeper in gridmap is plain WGS84.

Where the formulas come from
----------------------------
The forward WGS84 → GCJ-02 formula is the one that circulates publicly in many
independent implementations and articles (the "eviltransform" and
"coordtransform" families of open-source libraries, among others): the
Krasovsky 1940 ellipsoid (``a = 6378245.0``, ``ee = 0.00669342162296594323``),
a polynomial-plus-sine series in the offsets from (105° E, 35° N), and identity
outside a rough bounding box of China (longitude 72.004–137.8347, latitude
0.8293–55.8271). GCJ-02 → BD-09 is the equally widely published Baidu formula
with ``x_pi = π · 3000 / 180``. The code here is our own vectorised writing of
those formulas.

The inverses (GCJ-02 → WGS84, BD-09 → GCJ-02) have no closed form. The usual
one-step inverse, ``w ≈ g − (F(g) − g)``, errs by up to metres. Here the
inverse is solved by fixed-point iteration ``w ← w + (g − F(w))``, which
converges because the offset varies slowly (its Jacobian is of order 10⁻³),
until every point moves less than 1e-10 degrees (about 10 µm) or 30 iterations
have passed; the result is within a centimetre of the true WGS84 point.

Examples
--------
>>> from gridmap.crs import from_wgs84, to_wgs84
>>> lon, lat = from_wgs84(109.73, 38.29, "gcj02")
>>> back_lon, back_lat = to_wgs84(lon, lat, "gcj02")
>>> round(float(back_lon), 9), round(float(back_lat), 9)
(109.73, 38.29)
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Callable, Sequence, Union

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridmap.errors import CRSError

__all__ = [
    "COORDINATE_SYSTEMS",
    "to_wgs84",
    "from_wgs84",
    "metric_crs",
    "require_crs",
    "to_storage",
    "to_metric",
    "gauss_kruger_epsg",
    "missing_crs_message",
    "declare_crs",
    "check_coords_for",
    "PROJECTED_MIN_M",
    "transformer",
    "single_vertices",
]

#: A coordinate beyond this magnitude is metres of a projection, not degrees. Between 90/180 and this,
#: coordinates are degrees gone wrong (swapped latitude/longitude, a typo), quarantined row by row with
#: their reason rather than taken for a projection. Gauss-Kruger eastings are 100,000-900,000 m (25-45
#: million zone-prefixed) and northings millions: far beyond.
PROJECTED_MIN_M = 1000.0

_THREAD = threading.local()


def transformer(source: object, target: object) -> pyproj.Transformer:
    """An always-xy transformer from `source` to `target` (anything :meth:`pyproj.CRS.from_user_input` takes),
    made once per thread: making one costs 35-50 ms, as much as projecting 200,000 points, and a transformer
    must not be shared by threads (Dask's threaded workers, the grids computed on threads).

    Examples
    --------
    >>> x, y = transformer("EPSG:4326", "EPSG:4546").transform(109.735, 38.291)
    >>> round(x), transformer("EPSG:4326", "EPSG:4546") is transformer("EPSG:4326", "EPSG:4546")
    (389330, True)
    """
    cache = _THREAD.__dict__.setdefault("transformers", {})
    key = (str(source), str(target))
    if key not in cache:
        cache[key] = pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(source),
                                                 pyproj.CRS.from_user_input(target), always_xy=True)
    return cache[key]


logger = logging.getLogger(__name__)

#: Coordinate systems of longitude/latitude that gridmap converts, with what uses them.
COORDINATE_SYSTEMS: dict[str, str] = {
    "wgs84": "GPS, photo EXIF, Tianditu (CGCS2000 equals WGS84 to centimetres)",
    "gcj02": "Amap/Gaode, Tencent maps, WeChat locations (the GCJ-02 obfuscation)",
    "bd09": "Baidu maps (BD-09, a further offset of GCJ-02)",
}

ArrayLike = Union[float, Sequence[float], np.ndarray]
Bounds = tuple[float, float, float, float]

# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 formula.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# Rough bounding box of China used by the published formula (outside: GCJ-02 == WGS84).
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
# Baidu's constant.
_X_PI = math.pi * 3000.0 / 180.0

_TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 30

# CGCS2000 3-degree Gauss-Kruger "CM" CRSs: EPSG:4534 (CM 75E) ... EPSG:4554 (CM 135E).
_GK_FIRST_EPSG = 4534
_GK_CM_RANGE = (75, 135)
# First EPSG code of each datum's 3-degree Gauss-Kruger CRSs, verified against PROJ's database (tests):
# "CM" variant (no zone prefix; CM 75E first) and "zone" variant (zone prefixed to x; zone 25 first).
_GK_FIRST = {
    "CGCS2000": {"cm": 4534, "zone": 4513},
    "Xian 1980": {"cm": 2370, "zone": 2349},
    "Beijing 1954": {"cm": 2422, "zone": 2401},
}
_GK_ZONES = (25, 45)
# Northings of China in those projections: the South China Sea islands (about 3.5N) to Mohe (53.6N).
_GK_NORTHING = (300_000, 6_200_000)
# Longitudes covered by those zones (each reaches 1.5 degrees either side of its CM).
_GK_LON = (73.5, 136.5)


def single_vertices(geoms: np.ndarray) -> np.ndarray | None:
    """The (n, 2) vertices of `geoms` when every geometry has exactly one (points, the bulk of every import), else
    None: then a geometry's bounds are its vertex, twice, and need no second pass over the geometries.

    Examples
    --------
    >>> single_vertices(np.array([shapely.Point(1, 2), shapely.Point(3, 4)]))
    array([[1., 2.],
           [3., 4.]])
    >>> single_vertices(np.array([shapely.Point(1, 2), shapely.LineString([(0, 0), (1, 1)]), shapely.Point()]))
    """
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    if len(xy) == len(geoms) and bool((owner == np.arange(len(geoms))).all()):
        return xy
    return None


def _system(name: str) -> str:
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key not in COORDINATE_SYSTEMS:
        raise CRSError(
            f"unknown coordinate system {name!r}; use one of {', '.join(COORDINATE_SYSTEMS)}"
            " (wgs84 for GPS and photos, gcj02 for Amap/Tencent/WeChat, bd09 for Baidu)"
        )
    return key


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x.copy(), y.copy()  # copies: the caller's data is never touched


def _float_arrays(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # numpy arithmetic on 0-d arrays gives scalars: always hand back arrays
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < _CHINA_LON[0]) | (lon > _CHINA_LON[1]) | (lat < _CHINA_LAT[0]) | (lat > _CHINA_LAT[1])


def _series_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pi = math.pi
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    return ret


def _series_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pi = math.pi
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    return ret


def _wgs_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published forward formula, vectorised."""
    dlat = _series_lat(lon - 105.0, lat - 35.0)
    dlon = _series_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * np.cos(radlat) * math.pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def _gcj_to_bd(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published Baidu formula, vectorised."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_approx(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published approximate inverse of the Baidu formula (a starting point only)."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    lon: np.ndarray,
    lat: np.ndarray,
    start: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(w) == (lon, lat)`` for w by fixed-point iteration, all points at once."""
    x, y = start
    for iteration in range(1, _MAX_ITERATIONS + 1):
        fx, fy = forward(x, y)
        step_x = lon - fx
        step_y = lat - fy
        x = x + step_x
        y = y + step_y
        change = np.maximum(np.abs(step_x), np.abs(step_y))
        finite = change[np.isfinite(change)]
        if finite.size == 0 or float(finite.max()) < _TOLERANCE_DEG:
            logger.debug("inverse converged after %d iterations", iteration)
            return x, y
    logger.warning(
        "coordinate inverse did not converge within %d iterations (largest step %.3g degrees);"
        " points near the edge of China's box may be off", _MAX_ITERATIONS, float(finite.max())
    )
    return x, y


def _gcj_to_wgs(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _invert(_wgs_to_gcj, lon, lat, (lon, lat))


def _bd_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _invert(_gcj_to_bd, lon, lat, _bd_to_gcj_approx(lon, lat))


def to_wgs84(lon: ArrayLike, lat: ArrayLike, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert longitude/latitude from `source` to WGS84.

    Parameters
    ----------
    lon, lat : float, sequence of float or numpy.ndarray
        Longitudes and latitudes in degrees (broadcast against each other).
        NaN stays NaN.
    source : {"wgs84", "gcj02", "bd09"}
        The system the coordinates are in. ``"wgs84"`` returns a copy.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 longitudes and latitudes, float64, with the broadcast shape of the
        inputs (0-dimensional arrays for scalars). Within 1 cm of the true
        WGS84 point everywhere in China (iterative inverse, see the module notes).

    Raises
    ------
    CRSError
        When `source` is not one of the known systems.

    Examples
    --------
    >>> lon, lat = to_wgs84([109.736, float("nan")], [38.291, 38.3], "gcj02")
    >>> lon.dtype, bool(np.isnan(lon[1]))
    (dtype('float64'), True)
    >>> to_wgs84(2.35, 48.85, "gcj02")  # outside China GCJ-02 is WGS84
    (array(2.35), array(48.85))
    """
    system = _system(source)
    x, y = _as_arrays(lon, lat)
    if system == "wgs84":
        return x, y
    with np.errstate(invalid="ignore", over="ignore"):  # inf in, NaN out: no numpy warning
        if system == "bd09":
            x, y = _bd_to_gcj(x, y)
        return _float_arrays(*_gcj_to_wgs(x, y))


def from_wgs84(lon: ArrayLike, lat: ArrayLike, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 longitude/latitude to `target` (the published forward formulas).

    Parameters
    ----------
    lon, lat : float, sequence of float or numpy.ndarray
        WGS84 longitudes and latitudes in degrees. NaN stays NaN.
    target : {"wgs84", "gcj02", "bd09"}
        The system to convert to. ``"wgs84"`` returns a copy.

    Returns
    -------
    tuple of numpy.ndarray
        Longitudes and latitudes in `target`, float64.

    Raises
    ------
    CRSError
        When `target` is not one of the known systems.

    Examples
    --------
    >>> lon, lat = from_wgs84([116.404], [39.915], "gcj02")
    >>> [round(float(v), 8) for v in (lon[0], lat[0])]
    [116.4102445, 39.91640428]
    >>> lon, lat = from_wgs84(109.73, 38.29, "bd09")
    >>> lon.shape, lon.dtype
    ((), dtype('float64'))
    """
    system = _system(target)
    x, y = _as_arrays(lon, lat)
    if system == "wgs84":
        return x, y
    with np.errstate(invalid="ignore", over="ignore"):  # inf in, NaN out: no numpy warning
        x, y = _wgs_to_gcj(x, y)
        if system == "bd09":
            x, y = _gcj_to_bd(x, y)
    return _float_arrays(x, y)


def require_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries, *, what: str = "data") -> None:
    """Refuse data without a CRS, saying how to declare one.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or geopandas.GeoSeries
        The data to check.
    what : str
        What the data is, for the message (a layer or file name).

    Raises
    ------
    CRSError
        When ``gdf.crs`` is None.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> require_crs(gpd.GeoDataFrame(geometry=[Point(109.73, 38.29)], crs=4326))
    >>> require_crs(gpd.GeoDataFrame(geometry=[Point(109.73, 38.29)]), what="grids.shp")
    Traceback (most recent call last):
    gridmap.errors.CRSError: grids.shp has no coordinate reference system (CRS)...declare it...set_crs(...
    """
    if getattr(gdf, "crs", None) is None:
        raise CRSError(
            f"{what} has no coordinate reference system (CRS), so its coordinates cannot be placed on the map;"
            " declare it: call gdf.set_crs('EPSG:4326') for longitude/latitude (or the EPSG code of its"
            " projection, e.g. 'EPSG:4546' for CGCS2000 Gauss-Kruger CM 111E), or give the file a .prj /"
            " declare --coords for longitude/latitude or --crs EPSG:NNNN for a projection (gridmap import)"
        )


def _bounds_wgs84(data: gpd.GeoDataFrame | gpd.GeoSeries | Sequence[float]) -> Bounds:
    if isinstance(data, (gpd.GeoDataFrame, gpd.GeoSeries)):
        require_crs(data)
        minx, miny, maxx, maxy = (float(v) for v in data.to_crs(4326).total_bounds)
    else:
        values = [float(v) for v in data]
        if len(values) != 4:
            raise CRSError(f"bounds must be (minx, miny, maxx, maxy) in WGS84 degrees, got {data!r}")
        minx, miny, maxx, maxy = values
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise CRSError("cannot choose a metric CRS for empty data (no finite bounds); give data with geometries")
    return minx, miny, maxx, maxy


def _utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone holding (lon, lat): 326zz north, 327zz south (zones by 6 degrees)."""
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def metric_crs(data: gpd.GeoDataFrame | gpd.GeoSeries | Sequence[float]) -> pyproj.CRS:
    """Choose the metric CRS to measure lengths and areas of `data` in.

    Inside China (the centre of the data within longitude 73.5–136.5 and the
    latitude range of China's rough box, 0.8293–55.8271), the CGCS2000 3-degree
    Gauss-Kruger CRS whose central meridian (CM) is nearest the centre
    longitude, in the "CM" variant without zone prefix in the false easting:
    EPSG:4534 (CM 75E) … EPSG:4554 (CM 135E), i.e. EPSG = 4534 + (CM − 75) / 3.
    Elsewhere the WGS84 UTM zone of the centre (EPSG:326zz north, 327zz south).
    The scale error of either is below 0.1 % within its zone.

    Parameters
    ----------
    data : geopandas.GeoDataFrame, geopandas.GeoSeries or tuple of 4 floats
        Data in any CRS (its bounds are taken in WGS84), or WGS84 bounds
        ``(minx, miny, maxx, maxy)``.

    Returns
    -------
    pyproj.CRS

    Raises
    ------
    CRSError
        When the data has no CRS or no geometry.

    Examples
    --------
    >>> metric_crs((109.70, 38.27, 109.76, 38.31)).to_epsg()  # Yulin, CM 111E
    4546
    >>> metric_crs((13.3, 52.4, 13.5, 52.6)).to_epsg()  # Berlin, UTM 33N
    32633
    """
    minx, miny, maxx, maxy = _bounds_wgs84(data)
    lon = (minx + maxx) / 2.0
    lat = (miny + maxy) / 2.0
    if _GK_LON[0] <= lon <= _GK_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]:
        cm = int(round(lon / 3.0)) * 3
        cm = min(max(cm, _GK_CM_RANGE[0]), _GK_CM_RANGE[1])
        epsg = _GK_FIRST_EPSG + (cm - _GK_CM_RANGE[0]) // 3
    else:
        epsg = _utm_epsg(lon, lat)
    logger.debug("metric CRS for centre (%.4f, %.4f): EPSG:%d", lon, lat, epsg)
    return pyproj.CRS.from_epsg(epsg)


def _out_of_range_share(gdf: gpd.GeoDataFrame) -> float:
    coords = shapely.get_coordinates(gdf.geometry.values)
    if len(coords) == 0:
        return 0.0
    bad = (np.abs(coords[:, 0]) > 180.0) | (np.abs(coords[:, 1]) > 90.0)
    return float(bad.mean())


def _check_geographic_ranges(gdf: gpd.GeoDataFrame, *, what: str) -> None:
    if not gdf.crs.is_geographic:
        return
    share = _out_of_range_share(gdf)
    if share > 0.5:
        raise CRSError(
            f"{what} is labelled {gdf.crs.to_string()} (longitude/latitude in degrees) but {share:.0%} of its"
            " coordinates lie outside longitude [-180, 180] / latitude [-90, 90]: the data looks projected"
            " (metres) but is labelled geographic; declare its real CRS: delete the file's wrong .prj and import it"
            " with --crs EPSG:NNNN, e.g. --crs EPSG:4546 for CGCS2000 Gauss-Kruger CM 111E"
        )


def _wgs84_function(source: str) -> Callable[[np.ndarray], np.ndarray]:
    def convert(coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=np.float64)
        lon, lat = to_wgs84(out[:, 0], out[:, 1], source)
        out[:, 0] = lon
        out[:, 1] = lat
        return out

    return convert


def to_storage(gdf: gpd.GeoDataFrame, *, coords: str = "wgs84", what: str = "data") -> gpd.GeoDataFrame:
    """Return a copy of `gdf` in the storage CRS, WGS84 longitude/latitude (EPSG:4326).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Data in any declared CRS. Not modified.
    coords : {"wgs84", "gcj02", "bd09"}
        The system of the longitude/latitude once in EPSG:4326: ``"gcj02"`` for
        data from Amap/Tencent/WeChat, ``"bd09"`` for Baidu. Every coordinate of
        every geometry (points, lines, polygons, multi-parts) is converted to WGS84.
    what : str
        What the data is, for error messages.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame with the same index and columns, CRS EPSG:4326.

    Raises
    ------
    CRSError
        When the data has no CRS; when it is labelled geographic but most
        coordinates (more than half) are outside the longitude/latitude ranges
        (projected data labelled EPSG:4326); when `coords` is unknown.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> gdf = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(388891.34, 4240450.89)], crs=4546)
    >>> out = to_storage(gdf)
    >>> out.crs.to_epsg(), round(float(out.geometry.x.iloc[0]), 2), round(float(out.geometry.y.iloc[0]), 2)
    (4326, 109.73, 38.29)
    """
    system = _system(coords)
    require_crs(gdf, what=what)
    _check_geographic_ranges(gdf, what=what)
    out = gdf.to_crs(4326)
    if out is gdf:  # pragma: no cover - to_crs returns a new frame in geopandas >= 1.0
        out = gdf.copy()
    if system != "wgs84":
        geoms = shapely.transform(
            np.asarray(out.geometry.values, dtype=object), _wgs84_function(system), include_z=None
        )
        out[out.geometry.name] = gpd.GeoSeries(geoms, index=out.index, crs=out.crs)
        logger.info("converted %d geometries of %s from %s to WGS84", len(out), what, system)
    return out


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` in the metric CRS chosen by :func:`metric_crs`.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> gdf = gpd.GeoDataFrame(geometry=[Point(109.73, 38.29)], crs=4326)
    >>> to_metric(gdf).crs.to_epsg()
    4546
    """
    return gdf.to_crs(metric_crs(gdf))


def gauss_kruger_epsg(cm: int, *, prefixed: bool = False) -> dict[str, int]:
    """EPSG codes of the 3-degree Gauss-Kruger CRSs with central meridian `cm`, per datum.

    CGCS2000 (today's national system), Xian 1980 and Beijing 1954, each in the
    "CM" variant (false easting 500 km) or, with `prefixed`, the "zone" variant
    whose x carries the zone number (zone = CM / 3) in front: 37xxxxxx for CM 111E.

    Parameters
    ----------
    cm : int
        Central meridian in degrees east, a multiple of 3 from 75 to 135.
    prefixed : bool
        The zone-prefixed variant.

    Returns
    -------
    dict of str to int
        Datum name → EPSG code.

    Raises
    ------
    CRSError
        When `cm` is not one of those meridians.

    Examples
    --------
    >>> gauss_kruger_epsg(111)
    {'CGCS2000': 4546, 'Xian 1980': 2382, 'Beijing 1954': 2434}
    >>> gauss_kruger_epsg(111, prefixed=True)
    {'CGCS2000': 4525, 'Xian 1980': 2361, 'Beijing 1954': 2413}
    """
    if cm % 3 or not _GK_CM_RANGE[0] <= cm <= _GK_CM_RANGE[1]:
        raise CRSError(f"no 3-degree Gauss-Kruger zone has central meridian {cm}E (75E, 78E, ... 135E)")
    step = (cm - _GK_CM_RANGE[0]) // 3
    return {datum: first["zone" if prefixed else "cm"] + step for datum, first in _GK_FIRST.items()}


def _gk_offer(cm: int, *, prefixed: bool) -> str:
    codes = gauss_kruger_epsg(cm, prefixed=prefixed)
    kind = f"zone {cm // 3}" if prefixed else f"CM {cm}E"
    first, *older = codes.items()
    return (f"--crs EPSG:{first[1]} (CGCS2000 / 3-degree Gauss-Kruger {kind}); for older surveys "
            + " or ".join(f"--crs EPSG:{code} ({datum})" for datum, code in older))


def missing_crs_message(xy: np.ndarray, *, what: str = "the file", near_lon: float | None = None,
                        head: str | None = None) -> str:
    """Say that `what` has no CRS, guess it from the coordinates' magnitude and give the ``--crs`` to pass.

    The guess, from the median coordinate:

    - longitude/latitude in degrees → ``--crs EPSG:4326`` (with ``--coords`` for Amap/Baidu);
    - x of 8 digits whose first two are a zone 25–45, y 300,000–6,200,000 m →
      the zone-prefixed 3-degree Gauss-Kruger CRS of that zone (37xxxxxx: EPSG:4525);
    - x 100,000–900,000 m, y 300,000–6,200,000 m (China from the South China Sea
      islands to Mohe; 2,000,000 would leave out Hainan) → a 3-degree Gauss-Kruger CRS
      without prefix; its central meridian cannot be told from x, so it is the
      multiple of 3 nearest `near_lon` (the workspace's longitude: EPSG:4546 around
      Yulin, 109.7E) or, without it, the rule for choosing one.

    Each with the Xian 1980 and Beijing 1954 equivalents.

    Parameters
    ----------
    xy : numpy.ndarray
        Coordinates, shape (n, 2) or more columns (only x, y used).
    what : str
        The file's name, for the message.
    near_lon : float, optional
        Longitude of the district (degrees east), when known.
    head : str, optional
        The message's opening, ending in "with --crs" (default: `what` has no CRS, declare it with --crs);
        the guess follows it.

    Returns
    -------
    str

    Examples
    --------
    >>> msg = missing_crs_message(np.array([[388891.3, 4240450.9]]), what="grids.shp", near_lon=109.7)
    >>> "--crs EPSG:4546" in msg, "--crs EPSG:2382" in msg, "--crs EPSG:2434" in msg
    (True, True, True)
    >>> "--crs EPSG:4525" in missing_crs_message(np.array([[37388891.3, 4240450.9]]))
    True
    """
    if head is None:
        head = (f"{what} has no coordinate reference system (CRS: a shapefile without .prj, or a table's x/y in "
                "metres); declare the one it was made in with --crs")
    pts = np.atleast_2d(np.asarray(xy, dtype=np.float64))[:, :2]
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return f"{head} EPSG:NNNN"
    x, y = (float(v) for v in np.median(pts, axis=0))
    if abs(x) <= 180 and abs(y) <= 90:
        return (f"{head}: its coordinates look like longitude/latitude, so pass --crs EPSG:4326"
                " (add --coords gcj02 for Amap/Tencent/WeChat, --coords bd09 for Baidu)")
    if not _GK_NORTHING[0] <= y <= _GK_NORTHING[1]:
        return f"{head} EPSG:NNNN (its coordinates, e.g. x={x:.0f} y={y:.0f}, are not in a system gridmap can guess)"
    zone = int(x // 1_000_000)
    if 10_000_000 <= x < 100_000_000 and _GK_ZONES[0] <= zone <= _GK_ZONES[1]:
        return (f"{head}: its x ({x:.0f}) carries zone number {zone} in front, a 3-degree Gauss-Kruger zone "
                f"(central meridian {zone * 3}E), so pass " + _gk_offer(zone * 3, prefixed=True))
    if 100_000 <= x <= 900_000:
        what_kind = (f"{head}: its coordinates are metres of a 3-degree Gauss-Kruger projection without zone"
                     " prefix")
        if near_lon is not None and _GK_LON[0] <= near_lon <= _GK_LON[1]:
            cm = int(round(near_lon / 3.0)) * 3
            return (f"{what_kind}; the workspace lies at {near_lon:.2f}E, central meridian {cm}E, so pass "
                    + _gk_offer(cm, prefixed=False))
        return (f"{what_kind}, whose central meridian (CM) x cannot tell: take the multiple of 3 nearest your"
                " district's longitude and pass --crs EPSG:<4534 + (CM - 75) / 3> for CGCS2000 (e.g. --crs"
                " EPSG:4546 for CM 111E around Yulin), <2370 + (CM - 75) / 3> for Xian 1980 or"
                " <2422 + (CM - 75) / 3> for Beijing 1954")
    return f"{head} EPSG:NNNN (its coordinates, e.g. x={x:.0f} y={y:.0f}, are not in a system gridmap can guess)"


def _same_crs(a: pyproj.CRS, b: pyproj.CRS) -> bool:
    if a.equals(b, ignore_axis_order=True):
        return True
    code_a, code_b = a.to_epsg(min_confidence=70), b.to_epsg(min_confidence=70)
    return code_a is not None and code_a == code_b


def declare_crs(gdf: gpd.GeoDataFrame, crs: object | None, *, what: str = "the file") -> gpd.GeoDataFrame:
    """Give `gdf` the declared CRS `crs` when it has none; refuse a declaration that contradicts its own.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Data as read. Not modified.
    crs : str, int, pyproj.CRS or None
        The declared CRS (``--crs``), e.g. ``"EPSG:4546"``; None leaves `gdf` as it is.
    what : str
        The file's name, for messages.

    Returns
    -------
    geopandas.GeoDataFrame
        `gdf` itself when nothing is declared or the declaration restates its CRS, else a copy with `crs`.

    Raises
    ------
    CRSError
        When `crs` is not a CRS PROJ knows, or `gdf` has a different CRS of its own
        (a .prj, a GeoPackage's or GeoJSON's CRS is never silently overridden).

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> gdf = gpd.GeoDataFrame(geometry=[Point(388891.3, 4240450.9)])
    >>> declare_crs(gdf, "EPSG:4546").crs.to_epsg(), gdf.crs is None
    (4546, True)
    >>> declare_crs(gdf.set_crs(4326), "EPSG:4546", what="a.shp")
    Traceback (most recent call last):
    gridmap.errors.CRSError: a.shp declares its own CRS, EPSG:4326 ... not EPSG:4546...
    """
    if crs is None:
        return gdf
    try:
        wanted = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise CRSError(f"--crs {crs}: not a coordinate reference system PROJ knows; give an EPSG code like"
                       " --crs EPSG:4546") from None
    if gdf.crs is None:
        logger.info("%s: CRS declared as %s", what, wanted.to_string())
        return gdf.set_crs(wanted)
    own = pyproj.CRS.from_user_input(gdf.crs)
    if _same_crs(own, wanted):
        return gdf
    own_name = f"EPSG:{own.to_epsg()}" if own.to_epsg() else own.name
    raise CRSError(
        f"{what} declares its own CRS, {own_name} ({own.name}), not {crs}: gridmap does not override it; drop"
        " --crs, or, if the file's own CRS (its .prj) is wrong, fix or delete the .prj and import with --crs"
        f" {crs}. A GeoJSON is longitude/latitude (WGS84) by its standard (RFC 7946), so --crs can only restate"
        " EPSG:4326 there"
    )


def check_coords_for(crs: object | None, coords: str | None, *, what: str = "the file") -> None:
    """Refuse ``--coords gcj02``/``bd09`` for data whose CRS is projected (metres).

    ``--coords`` names the system of longitude/latitude (GCJ-02, BD-09); projected
    coordinates are declared with ``--crs``. ``wgs84`` (or None) is accepted: it is
    what projected data becomes on import anyway.

    Examples
    --------
    >>> check_coords_for("EPSG:4326", "gcj02")
    >>> check_coords_for("EPSG:4546", "gcj02", what="a.shp")
    Traceback (most recent call last):
    gridmap.errors.CRSError: a.shp has projected coordinates ... --coords is for longitude/latitude...--crs...
    """
    if crs is None or coords is None or _system(coords) == "wgs84":
        return
    own = pyproj.CRS.from_user_input(crs)
    if own.is_projected:
        raise CRSError(
            f"{what} has projected coordinates (metres, {own.name}), but --coords is for longitude/latitude"
            f" (GCJ-02, BD-09) only: drop --coords {coords}; a projected file's system is its .prj or --crs"
            " EPSG:NNNN"
        )
