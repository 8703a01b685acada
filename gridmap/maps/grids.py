"""A folium map of the grids, coloured by community, with grid-check problems on top."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridmap.crs import require_crs
from gridmap.maps.escape import html_text
from gridmap.maps.page import page_root

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd

__all__ = ["grids_map"]

_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f")

_LABELS = {
    "zh": {"grid": "网格", "community": "社区", "cadre": "网格员", "problems": "网格检查问题",
           "grids": "网格", "illustrative": "示意数据（非测绘边界）"},
    "en": {"grid": "grid", "community": "community", "cadre": "cadre", "problems": "grid-check problems",
           "grids": "grids", "illustrative": "illustrative data (not surveyed boundaries)"},
}


def _tooltip(row: Any, labels: dict[str, str]) -> str:
    # Every value is user text: escape it for HTML before it reaches Leaflet.
    parts = [
        f"{labels['grid']}: {html_text(str(row.get('name') or row.get('grid_code')))}",
        f"{labels['community']}: {html_text(str(row.get('community_code')))}",
        f"{labels['cadre']}: {html_text(str(row.get('cadre') or '—'))}",
    ]
    return "<br>".join(parts)


def grids_map(
    grids: "gpd.GeoDataFrame",
    *,
    problems: "gpd.GeoDataFrame | None" = None,
    lang: str = "zh",
    illustrative: bool = False,
) -> "folium.Map":
    """Draw grids coloured by community, with optional grid-check problems.

    Phone numbers are never drawn. Text is HTML-escaped before it is handed
    to folium (see ``BAD-INPUTS.md`` cases 1 and 2).

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The ``grids`` layer (any CRS; drawn in EPSG:4326).
    problems : geopandas.GeoDataFrame, optional
        ``GridCheck.problems`` from :func:`gridmap.validate_grids`.
    lang : {"zh", "en"}
        Language of labels.
    illustrative : bool
        Add a visible "illustrative data" mark.

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> import gridmap
    >>> m = gridmap.maps.grids.grids_map(gridmap.sample_boundaries()["grids"])
    >>> type(m).__name__
    'Map'
    """
    import folium  # deferred: heavy, only drawing needs it

    require_crs(grids, what="grids")
    labels = _LABELS["en" if lang == "en" else "zh"]
    # 6 decimals is about 10 cm: enough to draw, and short digit runs in the page
    g = grids.to_crs("EPSG:4326")
    g = g.set_geometry(g.geometry.set_precision(1e-6))
    minx, miny, maxx, maxy = g.total_bounds
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=15, tiles=None,
                      control_scale=True)
    layer = folium.FeatureGroup(name=labels["grids"])
    communities = sorted(g["community_code"].astype(str).unique())
    colour = {code: _PALETTE[i % len(_PALETTE)] for i, code in enumerate(communities)}
    for _, row in g.iterrows():
        fill = colour[str(row["community_code"])]
        folium.GeoJson(
            row.geometry.__geo_interface__,
            style_function=lambda _f, fill=fill: {
                "color": "#333333", "weight": 1, "fillColor": fill, "fillOpacity": 0.35},
            tooltip=folium.Tooltip(_tooltip(row, labels), parse_html=False),
        ).add_to(layer)
    layer.add_to(fmap)
    if problems is not None and len(problems):
        bad = folium.FeatureGroup(name=labels["problems"])
        for _, row in problems.to_crs("EPSG:4326").iterrows():
            text = html_text(f"{row['kind']}: {', '.join(map(str, row['grids']))} — {row['detail']}")
            folium.GeoJson(
                row.geometry.__geo_interface__,
                style_function=lambda _f: {"color": "#d62728", "weight": 3, "fillColor": "#d62728",
                                           "fillOpacity": 0.6},
                tooltip=folium.Tooltip(text, parse_html=False),
            ).add_to(bad)
        bad.add_to(fmap)
    if illustrative:
        mark = html_text(labels["illustrative"])
        page_root(fmap).html.add_child(folium.Element(
            f'<div style="position:fixed;top:8px;left:50px;z-index:9999;background:#fff3cd;'
            f'padding:4px 8px;border:1px solid #c90;font:14px sans-serif">{mark}</div>'))
    folium.LayerControl(collapsed=True).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap
