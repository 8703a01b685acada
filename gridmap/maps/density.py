"""Folium maps of recurring problems: the KDE heatmap in true units and the Gi* hot spots.

The maps draw results computed elsewhere (:func:`gridmap.kde`,
:func:`gridmap.recurring_sites`, :func:`gridmap.hotspots`,
:func:`gridmap.emerging_hotspots`); they compute only colours, labels and the
warp of the density raster to the web map.

The density raster lives in a metric CRS (Gauss-Kruger, EPSG:4546 near Yulin),
whose grid is rotated by the meridian convergence (about 0.8° at Yulin) against
longitude and latitude. Leaflet stretches an image overlay linearly between
its corners in Web Mercator, so the raster is resampled onto a grid that is
regular in longitude and in Mercator *y*: each output pixel centre is mapped
back to metric x, y with pyproj and the density is interpolated bilinearly
between the centres of the four nearest cells (:func:`warp_to_web`).

Leaflet.heat (folium's ``HeatMap``) draws in screen pixels and changes with
zoom: it is offered only as an extra layer, off at first, never as the
analysis. Every user string is escaped with :func:`gridmap.maps.escape.html_text`
(BAD-INPUTS.md cases 1-2); no cadre name or phone number reaches the page
(case 12).
"""

from __future__ import annotations

import base64
import io
import logging
import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from gridmap.errors import SchemaError
from gridmap.maps.common import (
    MISSING,
    finish,
    for_web,
    grid_pairs,
    lines_html,
    new_map,
    overlay,
    pick_labels,
    shape_layer,
    time_text,
    value_text,
)
from gridmap.maps.escape import html_text
from gridmap.maps.legend import legend_html
from gridmap.model import category_label

if TYPE_CHECKING:  # pragma: no cover
    import folium

__all__ = [
    "LABELS",
    "HOTSPOT_BIN_COLOURS",
    "EMERGING_COLOURS",
    "EMERGING_CATEGORIES",
    "heatmap_map",
    "hotspot_map",
    "warp_to_web",
    "density_rgba",
    "count_classes",
]

logger = logging.getLogger(__name__)

#: Every label the density and hot-spot maps (web and static) show, per language.
LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "heat_title": "问题反弹热力图", "report_heat_title": "问题报告密度热力图", "hot_title": "问题热点分析（Gi*）",
        "density": "报告密度",
        "density_units": "次/平方公里/月", "screen_heat": "屏幕热力图（随缩放变化，仅供浏览）",
        "sites": "反弹点位", "site": "点位", "category": "类别", "reports": "报告数", "recurrences": "反弹次数",
        "first_seen": "首次发现", "last_seen": "最近发现", "median_days": "整改后反弹中位天数", "days": "天",
        "grid": "网格", "grids": "网格", "grid_code": "网格编码", "cell": "单元", "count": "报告数",
        "gi_z": "Gi* z 值", "gi_p": "p 值", "gi_bin": "热点/冷点", "hot_legend": "热点/冷点（Gi*）",
        "emerging": "时空热点模式", "emerging_legend": "时空热点模式", "trend_z": "趋势 z 值",
        "monthly": "每月报告数（时间滑块）", "monthly_legend": "每月报告数", "wall": "古城墙",
        "illustrative": "示意数据（非测绘边界）", "north": "北", "crs": "坐标系", "total": "报告总数",
        "bandwidth": "带宽", "kernel": "核函数", "months": "月数", "peak": "峰值",
    },
    "en": {
        "heat_title": "recurring problems: density", "report_heat_title": "problem reports: density",
        "hot_title": "problem hot spots (Gi*)",
        "density": "report density", "density_units": "reports per km² per month",
        "screen_heat": "screen heat (changes with zoom; for browsing only)",
        "sites": "recurring sites", "site": "site", "category": "category", "reports": "reports",
        "recurrences": "recurrences", "first_seen": "first seen", "last_seen": "last seen",
        "median_days": "median days from rectification to rebound", "days": "days", "grid": "grid", "grids": "grids",
        "grid_code": "grid code", "cell": "cell", "count": "reports", "gi_z": "Gi* z", "gi_p": "p",
        "gi_bin": "hot/cold spot", "hot_legend": "hot and cold spots (Gi*)", "emerging": "emerging hot spots",
        "emerging_legend": "emerging hot spot pattern", "trend_z": "trend z",
        "monthly": "reports per month (time slider)", "monthly_legend": "reports per month", "wall": "old city wall",
        "illustrative": "illustrative data (not surveyed boundaries)", "north": "N", "crs": "CRS",
        "total": "reports in all", "bandwidth": "bandwidth", "kernel": "kernel", "months": "months", "peak": "peak",
    },
}

#: Gi* bin colours, ArcGIS-like: -3 (cold, 99 %) to 3 (hot, 99 %); 0 is not significant.
HOTSPOT_BIN_COLOURS: dict[int, str] = {
    -3: "#2c7bb6", -2: "#74add1", -1: "#c6dbef", 0: "#eeeeee", 1: "#fdd0a2", 2: "#f46d43", 3: "#b2182b",
}
_BIN_LABELS: dict[str, dict[int, str]] = {
    "zh": {3: "热点 99% 置信度", 2: "热点 95% 置信度", 1: "热点 90% 置信度", 0: "不显著",
           -1: "冷点 90% 置信度", -2: "冷点 95% 置信度", -3: "冷点 99% 置信度"},
    "en": {3: "hot spot, 99 % confidence", 2: "hot spot, 95 % confidence", 1: "hot spot, 90 % confidence",
           0: "not significant", -1: "cold spot, 90 % confidence", -2: "cold spot, 95 % confidence",
           -3: "cold spot, 99 % confidence"},
}

#: The 17 emerging hot-spot categories (ArcGIS Pro names) with their zh-Hans labels.
EMERGING_CATEGORIES: dict[str, str] = {
    "new hot spot": "新热点", "consecutive hot spot": "连续热点", "intensifying hot spot": "加强热点",
    "persistent hot spot": "持续热点", "diminishing hot spot": "减弱热点", "sporadic hot spot": "零星热点",
    "oscillating hot spot": "振荡热点", "historical hot spot": "历史热点",
    "new cold spot": "新冷点", "consecutive cold spot": "连续冷点", "intensifying cold spot": "加强冷点",
    "persistent cold spot": "持续冷点", "diminishing cold spot": "减弱冷点", "sporadic cold spot": "零星冷点",
    "oscillating cold spot": "振荡冷点", "historical cold spot": "历史冷点",
    "no pattern detected": "无明显模式",
}
#: Fill colour of each emerging category: reds for hot patterns, blues for cold ones.
EMERGING_COLOURS: dict[str, str] = {
    "new hot spot": "#67000d", "consecutive hot spot": "#a50f15", "intensifying hot spot": "#cb181d",
    "persistent hot spot": "#ef3b2c", "diminishing hot spot": "#fb6a4a", "sporadic hot spot": "#fc9272",
    "oscillating hot spot": "#e7298a", "historical hot spot": "#fcbba1",
    "new cold spot": "#08306b", "consecutive cold spot": "#08519c", "intensifying cold spot": "#2171b5",
    "persistent cold spot": "#4292c6", "diminishing cold spot": "#6baed6", "sporadic cold spot": "#9ecae1",
    "oscillating cold spot": "#7570b3", "historical cold spot": "#c6dbef",
    "no pattern detected": "#eeeeee",
}
#: Colour ramp of the density (matplotlib's YlOrRd) and of monthly counts.
DENSITY_CMAP = "YlOrRd"
#: Density below this fraction of the peak is transparent.
FLOOR_FRACTION = 0.01
_OVERLAY_OPACITY = 0.75
_MAX_PIXELS = 1600
SITE_COLOUR = "#6a3d9a"
_GRID_EDGE = "#333333"
_COUNT_COLOURS: tuple[str, ...] = ("#f7f7f7", "#fee391", "#fec44f", "#fe9929", "#d95f0e", "#993404")


def labels_for(lang: str) -> dict[str, str]:
    """The label dict of `lang` (``"zh"`` or ``"en"``).

    Examples
    --------
    >>> labels_for("en")["density_units"]
    'reports per km² per month'
    """
    return pick_labels(LABELS, lang)


def units_text(labels: Mapping[str, str], lang: str) -> str:
    """The density's name with its units in brackets (full-width in Chinese).

    Examples
    --------
    >>> units_text(labels_for("zh"), "zh"), units_text(labels_for("en"), "en")
    ('报告密度（次/平方公里/月）', 'report density (reports per km² per month)')
    """
    if lang == "zh":
        return f"{labels['density']}（{labels['density_units']}）"
    return f"{labels['density']} ({labels['density_units']})"


def bin_label(value: int, lang: str = "zh") -> str:
    """The legend text of a Gi* bin (-3 to 3).

    Examples
    --------
    >>> bin_label(3), bin_label(-1, "en")
    ('热点 99% 置信度', 'cold spot, 90 % confidence')
    """
    labels_for(lang)
    return _BIN_LABELS[lang].get(int(value), str(value))


def emerging_label(category: str, lang: str = "zh") -> str:
    """The label of an emerging hot-spot category (the ArcGIS Pro name in English).

    Examples
    --------
    >>> emerging_label("oscillating hot spot")
    '振荡热点'
    """
    labels_for(lang)
    return str(category) if lang == "en" else EMERGING_CATEGORIES.get(str(category), str(category))


def _check_months(months: float) -> float:
    if isinstance(months, bool) or not isinstance(months, (int, float)) or not math.isfinite(months) or months <= 0:
        raise SchemaError(f"months must be a positive number (the span the reports cover), not {months!r}")
    return float(months)


def monthly_density(density: Any, months: float, labels: Mapping[str, str]) -> Any:
    """The density per month: ``density.scaled(1 / months)`` in true units."""
    return density.scaled(1.0 / _check_months(months), units=labels["density_units"])


def _mercator_y(lat: np.ndarray | float) -> np.ndarray:
    """Web Mercator y on the unit sphere: ln(tan(π/4 + φ/2))."""
    return np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def _lat_from_mercator(y: np.ndarray) -> np.ndarray:
    return np.degrees(2 * np.arctan(np.exp(y)) - np.pi / 2)


def _lonlat_bounds(density: Any) -> tuple[float, float, float, float]:
    """(west, south, east, north): the density's bounds converted to lon/lat, edges densified."""
    to_wgs = Transformer.from_crs(CRS.from_user_input(density.crs), "EPSG:4326", always_xy=True)
    minx, miny, maxx, maxy = density.bounds
    west, south, east, north = to_wgs.transform_bounds(minx, miny, maxx, maxy, densify_pts=101)
    return float(west), float(south), float(east), float(north)


def _output_shape(density: Any, bounds: Sequence[float]) -> tuple[int, int]:
    west, south, east, north = bounds
    cell = float(density.cell_m)
    mid = math.radians((south + north) / 2)
    # metres per degree on the sphere of radius 6371 km: enough to size pixels near the cell size
    per_deg = math.pi * 6_371_000 / 180
    cols = math.ceil((east - west) * per_deg * math.cos(mid) / cell)
    rows = math.ceil((north - south) * per_deg / cell)
    return max(2, min(rows, _MAX_PIXELS)), max(2, min(cols, _MAX_PIXELS))


def _bilinear(values: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Values at fractional (col, row) raster coordinates, bilinear between cell centres; NaN outside."""
    nrows, ncols = values.shape
    inside = (col >= 0) & (col <= ncols) & (row >= 0) & (row <= nrows)
    u = np.clip(col - 0.5, 0, ncols - 1)
    v = np.clip(row - 0.5, 0, nrows - 1)
    i0 = np.minimum(np.floor(u).astype(np.int64), max(ncols - 2, 0))
    j0 = np.minimum(np.floor(v).astype(np.int64), max(nrows - 2, 0))
    i1, j1 = np.minimum(i0 + 1, ncols - 1), np.minimum(j0 + 1, nrows - 1)
    fu, fv = np.clip(u - i0, 0, 1), np.clip(v - j0, 0, 1)
    top = values[j0, i0] * (1 - fu) + values[j0, i1] * fu
    bottom = values[j1, i0] * (1 - fu) + values[j1, i1] * fu
    out = top * (1 - fv) + bottom * fv
    return np.where(inside, out, np.nan)


def warp_to_web(density: Any, *, shape: tuple[int, int] | None = None
                ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Resample a density grid onto a lon/lat image that Leaflet can lay over the map.

    Leaflet's image overlay stretches the image linearly in Web Mercator
    between its corners, so the output columns are regular in longitude and the
    rows regular in Mercator y (first row north). Each output pixel centre is
    mapped back to the density's metric CRS with pyproj and the density is
    interpolated bilinearly between cell centres; pixels outside the raster are
    NaN.

    Parameters
    ----------
    density : gridmap.analysis.density.DensityGrid
        What :func:`gridmap.kde` returned (any object with ``values``,
        ``transform``, ``crs``, ``bounds`` and ``cell_m``).
    shape : (int, int), optional
        Output (rows, columns); by default pixels about the cell size.

    Returns
    -------
    values : numpy.ndarray
        2-D float64 in the density's units, first row north.
    bounds : (west, south, east, north)
        The image corners in degrees: the density's bounds in lon/lat.

    Examples
    --------
    >>> import numpy as np, affine, pyproj
    >>> from types import SimpleNamespace
    >>> g = SimpleNamespace(values=np.ones((4, 4)), transform=affine.Affine(100, 0, 390_000, 0, -100, 4_240_000),
    ...                     crs=pyproj.CRS("EPSG:4546"), bounds=(390_000, 4_239_600, 390_400, 4_240_000),
    ...                     cell_m=100.0)
    >>> img, (w, s, e, n) = warp_to_web(g)
    >>> img.shape[0] >= 2 and w < e and s < n
    True
    """
    bounds = _lonlat_bounds(density)
    west, south, east, north = bounds
    rows, cols = shape if shape is not None else _output_shape(density, bounds)
    lon = west + (np.arange(cols) + 0.5) * (east - west) / cols
    y_north, y_south = _mercator_y(north), _mercator_y(south)
    lat = _lat_from_mercator(y_north - (np.arange(rows) + 0.5) * (y_north - y_south) / rows)
    lon_grid, lat_grid = np.meshgrid(lon, lat)
    to_metric = Transformer.from_crs("EPSG:4326", CRS.from_user_input(density.crs), always_xy=True)
    x, y = to_metric.transform(lon_grid, lat_grid)
    inverse = ~density.transform
    x, y = np.asarray(x), np.asarray(y)
    col = inverse.a * x + inverse.b * y + inverse.c
    row = inverse.d * x + inverse.e * y + inverse.f
    values = np.asarray(density.values, dtype=np.float64)
    return _bilinear(values, np.asarray(col), np.asarray(row)), bounds


def density_rgba(values: np.ndarray, *, peak: float | None = None) -> np.ndarray:
    """Colour a density image: YlOrRd from 1 % of the peak to the peak, transparent below 1 % and at NaN.

    Examples
    --------
    >>> rgba = density_rgba(np.array([[0.0, 0.5, 1.0]]))
    >>> rgba.shape, int(rgba[0, 0, 3]), int(rgba[0, 2, 3]) > 0
    ((1, 3, 4), 0, True)
    """
    from matplotlib import colormaps  # deferred: heavy, only drawing needs it

    finite = np.nan_to_num(values, nan=0.0)
    top = float(np.max(finite)) if peak is None else float(peak)
    if not top > 0:
        return np.zeros((*values.shape, 4), dtype=np.uint8)
    floor = FLOOR_FRACTION * top
    scaled = np.clip((finite - floor) / (top - floor), 0.0, 1.0)
    rgba = (colormaps[DENSITY_CMAP](scaled) * 255).round().astype(np.uint8)
    visible = np.isfinite(values) & (finite >= floor)
    rgba[..., 3] = np.where(visible, round(255 * _OVERLAY_OPACITY), 0).astype(np.uint8)
    return rgba


def png_data_url(rgba: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URL of an RGBA image array (rows top to bottom)."""
    from PIL import Image  # deferred: heavy, only drawing needs it

    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def number_text(value: float) -> str:
    """A density for a legend: three significant digits, no exponent for map-sized numbers.

    Examples
    --------
    >>> number_text(1234.5), number_text(0.01234), number_text(12.0)
    ('1,230', '0.0123', '12')
    """
    if not math.isfinite(value) or value == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    rounded = round(value, digits)
    if digits == 0:
        return f"{round(rounded, 2 - int(math.floor(math.log10(abs(value))))):,.0f}"
    return f"{rounded:,.{digits}f}".rstrip("0").rstrip(".")


def ramp_ticks(peak: float, n: int = 5) -> list[float]:
    """Legend tick values from 1 % of `peak` to `peak`, evenly spaced.

    Examples
    --------
    >>> ramp_ticks(100.0, 3)
    [1.0, 50.5, 100.0]
    """
    return [float(v) for v in np.linspace(FLOOR_FRACTION * peak, peak, n)]


def _ramp_legend(title: str, peak: float) -> str:
    """An HTML legend: a vertical gradient bar with tick values in true units."""
    from matplotlib import colormaps  # deferred: heavy, only drawing needs it
    from matplotlib.colors import to_hex  # deferred: heavy, only drawing needs it

    cmap = colormaps[DENSITY_CMAP]
    stops = ", ".join(f"{to_hex(cmap(t))} {t * 100:.0f}%" for t in np.linspace(0, 1, 9))
    ticks = "".join(f"<div>{html_text(number_text(v))}</div>" for v in reversed(ramp_ticks(peak)))
    return (
        '<div class="gridmap-legend" style="position:fixed;bottom:24px;right:10px;z-index:9999;background:#fff;'
        'padding:6px 10px;border:1px solid #999;border-radius:4px;font:13px sans-serif">'
        f"<b>{html_text(title)}</b><div style=\"display:flex;margin-top:4px\">"
        f'<div style="width:16px;height:130px;border:1px solid #555;background:linear-gradient(to top, {stops})">'
        '</div><div style="display:flex;flex-direction:column;justify-content:space-between;height:132px;'
        f'margin-left:6px">{ticks}</div></div></div>'
    )


def days_text(value: Any, labels: Mapping[str, str]) -> str:
    """Days for a popup: the number rounded to one decimal, "—" when missing."""
    if value is None or pd.isna(value):
        return "—"
    return f"{float(value):.1f} {labels['days']}"


def _site_popup(row: Mapping[str, Any], labels: Mapping[str, str], lang: str) -> str:
    return lines_html([
        (labels["site"], value_text(row, "site_id")),
        (labels["category"], category_label(value_text(row, "category"), lang)),
        (labels["reports"], value_text(row, "reports")),
        (labels["recurrences"], value_text(row, "recurrences")),
        (labels["first_seen"], time_text(row.get("first_seen"), "%Y-%m-%d")),
        (labels["last_seen"], time_text(row.get("last_seen"), "%Y-%m-%d")),
        (labels["median_days"], days_text(row.get("median_days_to_rebound"), labels)),
        (labels["grid_code"], value_text(row, "grid_code")),
    ])


def _add_sites(fmap: "folium.Map", sites: "gpd.GeoDataFrame", labels: Mapping[str, str], lang: str, *,
               show: bool = True) -> None:
    import folium  # deferred: heavy, only drawing needs it

    layer = folium.FeatureGroup(name=labels["sites"], show=show)
    points = for_web(sites, what="recurring sites")
    for _, row in points.iterrows():
        point = row.geometry.representative_point()
        size = 5 + 2 * math.sqrt(max(float(row.get("reports") or 1), 1.0))
        folium.CircleMarker(
            location=[point.y, point.x], radius=round(min(size, 18), 1), color="#222222", weight=1, fill=True,
            fill_color=SITE_COLOUR, fill_opacity=0.85,
            popup=folium.Popup(_site_popup(row, labels, lang), parse_html=False, max_width=360),
        ).add_to(layer)
    layer.add_to(fmap)


def add_grid_outlines(fmap: "folium.Map", grids: "gpd.GeoDataFrame", labels: Mapping[str, str]) -> None:
    """Add the grid outlines (no fill) to `fmap` as one layer named by ``labels['grids']``."""
    shape_layer(fmap, labels["grids"], for_web(grids, what="grids"),
                style=lambda _row: {"color": _GRID_EDGE, "weight": 1, "fillOpacity": 0.0},
                tooltip=lambda row: lines_html(grid_pairs(row, labels)))


def _add_screen_heat(fmap: "folium.Map", reports: "gpd.GeoDataFrame", labels: Mapping[str, str]) -> None:
    from folium.plugins import HeatMap  # deferred: heavy, only drawing needs it

    points = for_web(reports[[reports.geometry.name]], what="reports")
    points = points[points.geometry.geom_type == "Point"]
    data = [[round(float(p.y), 6), round(float(p.x), 6)] for p in points.geometry]
    HeatMap(data, name=labels["screen_heat"], show=False, overlay=True, control=True).add_to(fmap)


def heatmap_map(
    density: Any,
    *,
    sites: "gpd.GeoDataFrame | None" = None,
    grids: "gpd.GeoDataFrame | None" = None,
    reports: "gpd.GeoDataFrame | None" = None,
    months: float = 1.0,
    lang: str = "zh",
    illustrative: bool = False,
    title: str | None = None,
) -> "folium.Map":
    """Draw a KDE density grid as a raster overlay in true units (reports per km² per month).

    The density is divided by `months` (``density.scaled(1 / months)``),
    warped to the web map by :func:`warp_to_web`, coloured from 1 % of its peak
    (transparent below) to the peak, and explained by a legend with values in
    "次/平方公里/月" ("reports per km² per month"). Layers: the density; grid
    outlines (tooltip: grid name and code); recurring sites as markers whose
    popup gives the site, category, reports, recurrences, first and last seen,
    the median days from rectification to rebound and the grid; optionally a
    Leaflet.heat layer of `reports`, off at first, named as a browsing aid (it
    draws in screen pixels and changes with zoom). No cadre name or phone
    number is drawn.

    Parameters
    ----------
    density : gridmap.analysis.density.DensityGrid
        What :func:`gridmap.kde` returned, in reports per km² over the whole period.
    sites : geopandas.GeoDataFrame, optional
        What :func:`gridmap.recurring_sites` returned.
    grids : geopandas.GeoDataFrame, optional
        The ``grids`` layer (outlines only).
    reports : geopandas.GeoDataFrame, optional
        Report points for the screen-heat browsing layer.
    months : float
        The number of months the reports span; the legend is per month.
    lang : {"zh", "en"}
        Language of the labels.
    illustrative : bool
        Add a visible "illustrative data (not surveyed boundaries)" mark.
    title : str, optional
        A title shown at the top of the map.

    Returns
    -------
    folium.Map

    Raises
    ------
    SchemaError
        When `lang` is unknown or `months` is not a positive number.
    CRSError
        When a layer has no CRS.

    Examples
    --------
    >>> import numpy as np, affine, pyproj
    >>> from types import SimpleNamespace
    >>> g = SimpleNamespace(values=np.eye(4) * 30.0, transform=affine.Affine(100, 0, 390_000, 0, -100, 4_240_000),
    ...                     crs=pyproj.CRS("EPSG:4546"), bounds=(390_000, 4_239_600, 390_400, 4_240_000),
    ...                     cell_m=100.0, units="reports per km²",
    ...                     scaled=lambda f, units: SimpleNamespace(values=np.eye(4) * 30.0 * f, units=units))
    >>> m = heatmap_map(g, months=3)
    >>> "次/平方公里/月" in m.get_root().render()
    True
    """
    import folium  # deferred: heavy, only drawing needs it

    labels = labels_for(lang)
    per_month = monthly_density(density, months, labels)
    values, bounds = warp_to_web(with_values(density, per_month.values))
    peak = float(np.nanmax(np.asarray(per_month.values, dtype=np.float64), initial=0.0))
    west, south, east, north = (round(v, 6) for v in bounds)
    fmap = new_map(west, south, east, north)
    folium.raster_layers.ImageOverlay(
        png_data_url(density_rgba(values, peak=peak)), bounds=[[south, west], [north, east]],
        name=units_text(labels, lang),
        origin="upper", mercator_project=False, pixelated=False, interactive=False,
    ).add_to(fmap)
    if grids is not None and len(grids):
        add_grid_outlines(fmap, grids, labels)
    if sites is not None and len(sites):
        _add_sites(fmap, sites, labels, lang)
    if reports is not None and len(reports):
        _add_screen_heat(fmap, reports, labels)
    overlay(fmap, _ramp_legend(units_text(labels, lang), peak))
    return finish(fmap, title, labels, illustrative)


class _Values:
    """The geometry of a density grid with other values (the per-month ones)."""

    def __init__(self, density: Any, values: np.ndarray) -> None:
        self.values = values
        self.transform = density.transform
        self.crs = density.crs
        self.bounds = density.bounds
        self.cell_m = density.cell_m


def with_values(density: Any, values: np.ndarray) -> _Values:
    """`density` with its values replaced by `values` (same grid), for warping another surface onto the web map."""
    return _Values(density, np.asarray(values, dtype=np.float64))


def count_classes(max_count: int) -> list[tuple[int, int]]:
    """Classes of monthly counts for the slider: 0, 1, then doubling ranges up to `max_count`.

    Examples
    --------
    >>> count_classes(9)
    [(0, 0), (1, 1), (2, 3), (4, 7), (8, 9)]
    """
    classes = [(0, 0)]
    low = 1
    while low <= max(int(max_count), 1) and len(classes) < len(_COUNT_COLOURS):
        high = 2 * low - 1
        classes.append((low, high))
        low = high + 1
    last_low = classes[-1][0]
    classes[-1] = (last_low, max(int(max_count), last_low))
    return classes


def _class_text(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}–{high}"


def _count_colour(count: int, classes: Sequence[tuple[int, int]]) -> str:
    for index, (low, high) in enumerate(classes):
        if low <= count <= high:
            return _COUNT_COLOURS[index]
    return _COUNT_COLOURS[len(classes) - 1]


def _cell_text(row: Mapping[str, Any]) -> str:
    for column in ("name", "grid_code", "cell_id"):
        text = value_text(row, column) if column in row else MISSING
        if text != MISSING:
            return text
    return MISSING


def _cell_properties(cells: "gpd.GeoDataFrame", labels: Mapping[str, str], lang: str) -> "gpd.GeoDataFrame":
    """Only the escaped display fields of each cell: no other column (no cadre, no phone) reaches the page."""

    rows = []
    for _, row in cells.iterrows():
        z, p = row.get("gi_z"), row.get("gi_p")
        rows.append({
            "cell": html_text(_cell_text(row)),
            "count": int(row.get("count") or 0),
            "gi_z": "—" if z is None or pd.isna(z) else f"{float(z):.2f}",
            "gi_p": "—" if p is None or pd.isna(p) else f"{float(p):.3g}",
            "bin": html_text(bin_label(int(row.get("gi_bin") or 0), lang)),
            "gi_bin": int(row.get("gi_bin") or 0),
        })
    return gpd.GeoDataFrame(rows, geometry=list(cells.geometry), crs=cells.crs)


def add_hotspot_bins(fmap: "folium.Map", cells: "gpd.GeoDataFrame", labels: Mapping[str, str], lang: str, *,
                     show: bool = True) -> None:
    """Add the Gi* hot- and cold-spot cells to `fmap`, one colour per confidence bin (:data:`HOTSPOT_BIN_COLOURS`)."""
    import folium  # deferred: heavy, only drawing needs it

    shown = _cell_properties(cells, labels, lang)
    fields = ["cell", "count", "gi_z", "gi_p", "bin"]
    aliases = [html_text(labels[k]) for k in ("cell", "count", "gi_z", "gi_p", "gi_bin")]
    folium.GeoJson(
        shown.__geo_interface__, name=labels["hot_legend"], show=show,
        style_function=lambda f: {"color": "#666666", "weight": 0.5, "fillOpacity": 0.75,
                                  "fillColor": HOTSPOT_BIN_COLOURS.get(int(f["properties"]["gi_bin"]), "#eeeeee")},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, localize=False),
    ).add_to(fmap)


def _add_emerging(fmap: "folium.Map", emerging: "gpd.GeoDataFrame", labels: Mapping[str, str], lang: str) -> None:
    import folium  # deferred: heavy, only drawing needs it

    cells = for_web(emerging, what="emerging hot spots")
    shown = gpd.GeoDataFrame({
        "cell": [html_text(_cell_text(r)) for _, r in cells.iterrows()],
        "key": [str(c) for c in cells["category"]],
        "pattern": [html_text(emerging_label(c, lang)) for c in cells["category"]],
        "trend_z": ["—" if pd.isna(z) else f"{float(z):.2f}" for z in cells["trend_z"]],
    }, geometry=list(cells.geometry), crs=cells.crs)
    folium.GeoJson(
        shown.__geo_interface__, name=labels["emerging"], show=False,
        style_function=lambda f: {"color": "#666666", "weight": 0.5, "fillOpacity": 0.75,
                                  "fillColor": EMERGING_COLOURS.get(f["properties"]["key"], "#eeeeee")},
        tooltip=folium.GeoJsonTooltip(fields=["cell", "pattern", "trend_z"],
                                      aliases=[html_text(labels[k]) for k in ("cell", "emerging", "trend_z")],
                                      localize=False),
    ).add_to(fmap)
    present = [c for c in EMERGING_CATEGORIES if c in set(shown["key"])]
    entries = [(EMERGING_COLOURS[c], emerging_label(c, lang)) for c in present]
    overlay(fmap, legend_html(labels["emerging_legend"], entries, position="bottom:24px;left:10px"))


def _monthly_series(emerging: "gpd.GeoDataFrame | None", monthly_counts: Any, n_cells: int
                    ) -> tuple[np.ndarray, list[pd.Timestamp]] | None:
    if monthly_counts is not None:
        counts, steps = monthly_counts
    elif emerging is not None and "counts" in emerging.attrs and "steps" in emerging.attrs:
        counts, steps = emerging.attrs["counts"], emerging.attrs["steps"]
    else:
        return None
    array = np.asarray(counts, dtype=np.int64).reshape(n_cells, -1)
    stamps = [pd.Timestamp(s) for s in steps]
    if array.shape[1] != len(stamps):
        raise SchemaError(f"monthly counts have {array.shape[1]} steps but {len(stamps)} step dates are given; "
                          "pass (counts cells × steps, steps) as space_time_cube returns them")
    return array, stamps


def _epoch_seconds(stamp: pd.Timestamp) -> int:
    utc = stamp.tz_convert("UTC") if stamp.tzinfo is not None else stamp
    return int((utc.tz_localize(None) - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))


def _add_slider(fmap: "folium.Map", cells: "gpd.GeoDataFrame", series: tuple[np.ndarray, list[pd.Timestamp]],
                labels: Mapping[str, str]) -> None:
    from folium.plugins import TimeSliderChoropleth  # deferred: heavy, only drawing needs it

    counts, steps = series
    classes = count_classes(int(counts.max(initial=0)))
    stamps = [str(_epoch_seconds(s)) for s in steps]
    features = [{"type": "Feature", "id": str(i), "properties": {}, "geometry": g.__geo_interface__}
                for i, g in enumerate(cells.geometry)]
    styledict = {str(i): {t: {"color": _count_colour(int(c), classes), "opacity": 0.8}
                          for t, c in zip(stamps, counts[i])} for i in range(len(features))}
    TimeSliderChoropleth({"type": "FeatureCollection", "features": features}, styledict=styledict,
                         name=labels["monthly"], show=False, date_options="YYYY-MM").add_to(fmap)
    entries = [(_COUNT_COLOURS[i], _class_text(lo, hi)) for i, (lo, hi) in enumerate(classes)]
    overlay(fmap, legend_html(labels["monthly_legend"], entries, position="top:80px;right:10px"))


def hotspot_map(
    hot: "gpd.GeoDataFrame",
    *,
    emerging: "gpd.GeoDataFrame | None" = None,
    monthly_counts: tuple[Any, Sequence[Any]] | None = None,
    lang: str = "zh",
    illustrative: bool = False,
    title: str | None = None,
) -> "folium.Map":
    """Draw Gi* hot spots, emerging hot-spot patterns and monthly counts as coloured cells.

    Layers: cells coloured by ``gi_bin`` in seven ArcGIS-like classes (hot
    99/95/90 % in reds, not significant light grey, cold in blues) with a
    tooltip (cell, count, z, p, class) and a legend; when `emerging` is given,
    its ``category`` (the 17 ArcGIS Pro patterns, labelled in zh-Hans or
    English) as another layer with its own legend; when monthly counts are
    known (`monthly_counts`, or ``emerging.attrs["counts"]`` and
    ``["steps"]``), a time slider colouring each cell by its count in the
    month. Only the cell's name, grid code or cell id is shown: no cadre or
    phone number.

    Parameters
    ----------
    hot : geopandas.GeoDataFrame
        What :func:`gridmap.hotspots` returned.
    emerging : geopandas.GeoDataFrame, optional
        What :func:`gridmap.emerging_hotspots` returned, for the same cells.
    monthly_counts : (array, list), optional
        ``(counts cells × steps, steps)`` as :func:`gridmap.space_time_cube` returns them.
    lang : {"zh", "en"}
        Language of the labels.
    illustrative : bool
        Add a visible "illustrative data (not surveyed boundaries)" mark.
    title : str, optional
        A title shown at the top of the map.

    Returns
    -------
    folium.Map

    Raises
    ------
    SchemaError
        When `lang` is unknown or the monthly counts do not match their dates.
    CRSError
        When the cells have no CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"cell_id": [1, 2], "count": [9, 0], "gi_z": [2.8, -0.3], "gi_p": [0.005, 0.8],
    ...                           "gi_bin": [3, 0]}, geometry=[box(109.73, 38.29, 109.731, 38.291),
    ...                           box(109.731, 38.29, 109.732, 38.291)], crs="EPSG:4326")
    >>> import html
    >>> "热点 99% 置信度" in html.unescape(hotspot_map(cells).get_root().render())
    True
    """
    labels = labels_for(lang)
    cells = for_web(hot, what="hot-spot cells")
    fmap = new_map(*cells.total_bounds)
    add_hotspot_bins(fmap, cells, labels, lang)
    if emerging is not None and len(emerging):
        _add_emerging(fmap, emerging, labels, lang)
    series = _monthly_series(emerging, monthly_counts, len(hot))
    if series is not None:
        drawn = ~(hot.geometry.isna() | hot.geometry.is_empty).to_numpy()
        _add_slider(fmap, for_web(hot[drawn], what="hot-spot cells"), (series[0][drawn], series[1]), labels)
    bins = [(HOTSPOT_BIN_COLOURS[b], bin_label(b, lang)) for b in (3, 2, 1, 0, -1, -2, -3)]
    overlay(fmap, legend_html(labels["hot_legend"], bins))
    return finish(fmap, title, labels, illustrative)
