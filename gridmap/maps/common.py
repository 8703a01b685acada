"""Pieces the folium maps share: labels, escaped popup text, geometry for the page, the base map and banners.

Everything here is private to :mod:`gridmap.maps`. Every user string that reaches
the page goes through :func:`gridmap.maps.escape.html_text` (BAD-INPUTS.md
cases 1-2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import pandas as pd

from gridmap.errors import SchemaError
from gridmap.crs import metric_crs, require_crs
from gridmap.maps.escape import html_text
from gridmap.maps.page import page_root

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd

# Drawing only: coordinates keep 6 decimals (about 10 cm).
_PRECISION_DEG = 1e-6
#: Shown for a missing value.
MISSING = "—"


def pick_labels(table: Mapping[str, dict[str, str]], lang: str) -> dict[str, str]:
    """The label dict of `lang` in `table`.

    Raises
    ------
    SchemaError
        When `table` has no such language.

    Examples
    --------
    >>> pick_labels({"zh": {"a": "甲"}, "en": {"a": "A"}}, "en")
    {'a': 'A'}
    """
    if lang not in table:
        raise SchemaError(f"unknown map language {lang!r}; use 'zh' (zh-Hans, the default) or 'en'")
    return table[lang]


def for_web(gdf: "gpd.GeoDataFrame", *, what: str, simplify_m: float = 0.0) -> "gpd.GeoDataFrame":
    """A copy in EPSG:4326 with coordinates rounded to 6 decimals (optionally simplified in metres first).

    Rows without geometry, or left empty by the rounding, are dropped.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> web = for_web(gpd.GeoDataFrame(geometry=[Point(388900, 4240450)], crs="EPSG:4546"), what="points")
    >>> web.crs.to_epsg(), round(web.geometry.iloc[0].x, 6) == web.geometry.iloc[0].x
    (4326, True)
    """
    require_crs(gdf, what=what)
    out = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)].copy()
    if simplify_m > 0 and len(out):
        metric = out.to_crs(metric_crs(out))
        out = metric.set_geometry(metric.geometry.simplify(simplify_m, preserve_topology=True)).to_crs("EPSG:4326")
    else:
        out = out.to_crs("EPSG:4326")
    # pointwise: only rounds the coordinates (drawing needs no topology, and rounding never fails)
    out = out.set_geometry(out.geometry.set_precision(_PRECISION_DEG, mode="pointwise"))
    return out[~out.geometry.is_empty]


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def coordinates_text(lon: Any, lat: Any) -> str:
    """A point as Amap and WeChat take it: ``"longitude,latitude"`` to six decimals.

    Examples
    --------
    >>> coordinates_text(109.7345, 38.2901)
    '109.734500,38.290100'
    """
    return f"{float(lon):.6f},{float(lat):.6f}"


def amap_link(row: Mapping[str, Any], label: str) -> str:
    """An "open in Amap" link to the row's GCJ-02 point (``lon_gcj02``, ``lat_gcj02``), for a popup.

    uri.amap.com/marker takes GCJ-02 ``lon,lat``; the coordinates are numbers formatted here, the label is
    escaped.

    Examples
    --------
    >>> amap_link({"lon_gcj02": 109.7, "lat_gcj02": 38.3}, "open in Amap")
    '<a href="https://uri.amap.com/marker?position=109.700000,38.300000" target="_blank">open in Amap</a>'
    """
    gcj = coordinates_text(row["lon_gcj02"], row["lat_gcj02"])
    return f'<a href="https://uri.amap.com/marker?position={gcj}" target="_blank">{html_text(label)}</a>'


def value_text(row: Mapping[str, Any], column: str, default: str = MISSING) -> str:
    """``row[column]`` as text, or `default` when it is absent, missing or empty (not escaped).

    Examples
    --------
    >>> value_text({"a": 3, "b": None, "c": ""}, "a"), value_text({"b": None}, "b"), value_text({"c": ""}, "c", "-")
    ('3', '—', '-')
    """
    value = row.get(column)
    if _missing(value) or str(value) == "":
        return default
    return str(value)


def lines_html(pairs: Sequence[tuple[str, str]]) -> str:
    """``label: value`` lines joined by ``<br>``; labels and values are escaped here.

    Examples
    --------
    >>> lines_html([("网格", "<b>"), ("a&b", "1")])
    '网格: &lt;b&gt;<br>a&amp;b: 1'
    """
    return "<br>".join(f"{html_text(label)}: {html_text(value)}" for label, value in pairs)


def grid_pairs(row: Mapping[str, Any], labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """The grid's name (its code when it has none) and its code, as ``(label, value)`` pairs.

    Examples
    --------
    >>> grid_pairs({"grid_code": "G01"}, {"grid": "grid", "grid_code": "grid code"})
    [('grid', 'G01'), ('grid code', 'G01')]
    """
    return [(labels["grid"], value_text(row, "name", value_text(row, "grid_code"))),
            (labels["grid_code"], value_text(row, "grid_code"))]


def time_text(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time formatted with `fmt`, or ``—`` when missing.

    Examples
    --------
    >>> time_text("2025-05-01 09:30"), time_text(None), time_text("2025-05-01 09:30", "%Y-%m-%d")
    ('2025-05-01 09:30', '—', '2025-05-01')
    """
    if _missing(value):
        return MISSING
    return pd.Timestamp(value).strftime(fmt)


def new_map(west: float, south: float, east: float, north: float) -> "folium.Map":
    """A folium map without tiles, with a scale, centred on and fitted to the bounds (rounded to 6 decimals)."""
    import folium  # deferred: heavy, only drawing needs it

    west, south, east, north = (round(float(v), 6) for v in (west, south, east, north))
    fmap = folium.Map(location=[round((south + north) / 2, 6), round((west + east) / 2, 6)], zoom_start=15,
                      tiles=None, control_scale=True)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def shape_layer(fmap: "folium.Map", name: str, shapes: "gpd.GeoDataFrame", *,
                style: Callable[[Any], dict[str, Any]], tooltip: Callable[[Any], str]) -> None:
    """Add a layer `name` drawing each row of `shapes` (from :func:`for_web`) with ``style(row)``.

    ``tooltip(row)`` is the row's tooltip, HTML that is already escaped.
    """
    import folium  # deferred: heavy, only drawing needs it

    layer = folium.FeatureGroup(name=name)
    for _, row in shapes.iterrows():
        folium.GeoJson(
            row.geometry.__geo_interface__,
            style_function=lambda _f, shown=style(row): dict(shown),
            tooltip=folium.Tooltip(tooltip(row), parse_html=False),
        ).add_to(layer)
    layer.add_to(fmap)


def overlay(fmap: "folium.Map", html: str) -> None:
    """Add `html` (already escaped) to the page, over the map."""
    import folium  # deferred: heavy, only drawing needs it

    page_root(fmap).html.add_child(folium.Element(html))


def _banner(fmap: "folium.Map", text: str, *, top: int, colour: str, size: int) -> None:
    overlay(fmap, f'<div style="position:fixed;top:{top}px;left:50px;z-index:9999;background:{colour};'
                  f'padding:4px 8px;border:1px solid #999;font:{size}px sans-serif">{html_text(text)}</div>')


def titles(fmap: "folium.Map", title: str | None, labels: Mapping[str, str], illustrative: bool) -> None:
    """The caller's title at the top and, below it, the "illustrative data" mark when asked for."""
    if title:
        _banner(fmap, title, top=8, colour="#ffffff", size=16)
    if illustrative:
        _banner(fmap, labels["illustrative"], top=44 if title else 8, colour="#fff3cd", size=14)


def finish(fmap: "folium.Map", title: str | None, labels: Mapping[str, str], illustrative: bool) -> "folium.Map":
    """Add the banners and an open layer control; return `fmap`."""
    import folium  # deferred: heavy, only drawing needs it

    titles(fmap, title, labels, illustrative)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap
