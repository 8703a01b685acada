"""A folium map of sweep coverage: grids by coverage class, covered ground, dead corners and targets.

The map draws a :class:`gridmap.analysis.coverage.CoverageResult`; it computes nothing
but colours and labels. It shows coverage as *area*: no individual track and no
inspector's name reaches the page (whereabouts are sensitive personal data,
BAD-INPUTS.md case 12), and no phone number either. Every user string is escaped
with :func:`gridmap.maps.escape.html_text` before folium sees it (cases 1-2).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd

from gridmap.analysis.coverage import overall_coverage
from gridmap.maps.common import (
    amap_link,
    coordinates_text,
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
from gridmap.maps.legend import (
    COVERAGE_COLOURS,
    NO_DATA_COLOUR,
    coverage_class_labels,
    coverage_colour,
    legend_html,
)
from gridmap.maps.streets import add_dead_stretches, add_streets, street_labels, street_legend_entries
from gridmap.formatting import format_percent, is_missing
from gridmap.model.layers import kind_label

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd

    from gridmap.analysis.coverage import CoverageResult

__all__ = ["coverage_map", "LABELS"]

logger = logging.getLogger(__name__)

#: Every label the coverage maps (web and static) show, per language.
LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "网格清扫覆盖率", "legend": "网格覆盖率", "grids": "网格", "grid": "网格", "grid_code": "网格编码",
        "cadre": "网格员", "coverage": "覆盖率", "dead_corners": "卫生死角", "count": "处", "covered": "已覆盖区域",
        "area": "面积", "walk_to": "前往位置", "wgs84": "WGS84（GPS）", "gcj02": "GCJ-02（高德/微信）",
        "open_amap": "在高德地图中打开", "targets": "必查点位", "visited_targets": "已巡查点位",
        "unvisited_targets": "未巡查点位", "target": "点位", "kind": "类型", "visited": "已巡查", "yes": "是", "no": "否",
        "first_visit": "首次巡查", "last_visit": "最近巡查", "zones": "拆迁片区", "zone": "拆迁片区", "status": "状态",
        "wall": "古城墙", "illustrative": "示意数据（非测绘边界）", "overall": "总覆盖率", "north": "北",
        "crs": "坐标系", "window": "时段", "lang": "zh", "no_data": "无数据",
    },
    "en": {
        "title": "sweep coverage by grid", "legend": "grid coverage", "grids": "grids", "grid": "grid",
        "grid_code": "grid code", "cadre": "cadre", "coverage": "coverage", "dead_corners": "dead corners",
        "count": "", "covered": "covered ground", "area": "area", "walk_to": "walk to", "wgs84": "WGS84 (GPS)",
        "gcj02": "GCJ-02 (Amap/WeChat)", "open_amap": "open in Amap", "targets": "must-visit places",
        "visited_targets": "visited places", "unvisited_targets": "unvisited places", "target": "place",
        "kind": "kind", "visited": "visited", "yes": "yes", "no": "no", "first_visit": "first visit",
        "last_visit": "last visit", "zones": "demolition zones", "zone": "demolition zone", "status": "status",
        "wall": "old city wall", "illustrative": "illustrative data (not surveyed boundaries)",
        "overall": "overall coverage", "north": "N", "crs": "CRS", "window": "period", "lang": "en",
        "no_data": "no data",
    },
}

#: Colours of the layers other than the grid classes.
COLOURS: dict[str, str] = {
    "dead_corner": "#e31a1c", "covered": "#3182bd", "visited": "#1a9641", "unvisited": "#e31a1c",
    "zone": "#8c510a", "wall": "#4d3319", "grid_edge": "#333333",
}

# Drawing only: covered ground and dead corners are simplified by this much before they go
# into the page (their edges are raster steps of a few metres).
_SIMPLIFY_M = 1.0


def labels_for(lang: str) -> dict[str, str]:
    """The label dict of `lang` (``"zh"`` or ``"en"``).

    Raises
    ------
    SchemaError
        For any other language.

    Examples
    --------
    >>> labels_for("en")["legend"]
    'grid coverage'
    """
    return pick_labels(LABELS, lang)


def _grid_tooltip(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    count = row.get("dead_corners")
    corners = labels["no_data"] if count is None or is_missing(count) else f"{int(count)} {labels['count']}".strip()
    return lines_html([
        *grid_pairs(row, labels),
        (labels["cadre"], value_text(row, "cadre")),
        (labels["coverage"], format_percent(row.get("coverage_ratio"), lang=labels["lang"])),
        (labels["dead_corners"], corners),
    ])


def add_grids(fmap: "folium.Map", grids: "gpd.GeoDataFrame", labels: Mapping[str, str]) -> None:
    """Add the layer of grids coloured by sweep coverage (class colours of :mod:`gridmap.maps.legend`) to `fmap`."""
    shape_layer(fmap, labels["grids"], grids,
                style=lambda row: {"color": COLOURS["grid_edge"], "weight": 1,
                                   "fillColor": coverage_colour(row.get("coverage_ratio")), "fillOpacity": 0.6},
                tooltip=lambda row: _grid_tooltip(row, labels))


def add_covered(fmap: "folium.Map", covered: "gpd.GeoDataFrame | None", labels: Mapping[str, str]) -> None:
    """Add the layer of ground covered by the inspectors' tracks to `fmap` (nothing when `covered` is None or empty)."""
    import folium  # deferred: heavy, only drawing needs it

    if covered is None or not len(covered):
        return
    shapes = for_web(covered[[covered.geometry.name]], what="covered ground", simplify_m=_SIMPLIFY_M)
    if not len(shapes):
        return
    folium.GeoJson(
        shapes.geometry.__geo_interface__,
        name=labels["covered"],
        style_function=lambda _f: {"color": COLOURS["covered"], "weight": 0, "fillColor": COLOURS["covered"],
                                   "fillOpacity": 0.25},
        interactive=False,
        show=False,  # off at first: over the grids it would tint every class colour
    ).add_to(fmap)


def _dead_corner_popup(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    text = lines_html([
        (labels["dead_corners"], value_text(row, "corner_id")),
        (labels["grid_code"], value_text(row, "grid_code")),
        (labels["cadre"], value_text(row, "cadre")),
        (labels["area"], f"{float(row['area_m2']):,.0f} m²"),
        (labels["walk_to"] + " " + labels["wgs84"], coordinates_text(row["lon"], row["lat"])),
        (labels["walk_to"] + " " + labels["gcj02"], coordinates_text(row["lon_gcj02"], row["lat_gcj02"])),
    ])
    return f"{text}<br>{amap_link(row, labels['open_amap'])}"


def add_dead_corners(fmap: "folium.Map", corners: "gpd.GeoDataFrame | None", labels: Mapping[str, str]) -> None:
    """Add the dead corners (red) to `fmap`, each with a popup giving its area and the point to walk to."""
    import folium  # deferred: heavy, only drawing needs it

    layer = folium.FeatureGroup(name=labels["dead_corners"])
    if corners is not None and len(corners):
        shapes = for_web(corners, what="dead corners", simplify_m=_SIMPLIFY_M / 2)
        colour = COLOURS["dead_corner"]
        for _, row in shapes.iterrows():
            popup = folium.Popup(_dead_corner_popup(row, labels), parse_html=False, max_width=360)
            folium.GeoJson(
                row.geometry.__geo_interface__,
                style_function=lambda _f: {"color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.7},
                popup=popup,  # type: ignore[arg-type]  # folium annotates GeoJsonPopup; GeoJson takes a Popup too
            ).add_to(layer)
    layer.add_to(fmap)


def _target_popup(row: Mapping[str, Any], labels: Mapping[str, str], lang: str) -> str:
    visited = row.get("visited")
    if visited is None or pd.isna(visited):  # no GPS fix in the period: unknown, not "no"
        visited_text = labels["no_data"]
    else:
        visited_text = labels["yes"] if bool(visited) else labels["no"]
    pairs = [
        (labels["target"], value_text(row, "name", value_text(row, "target_id"))),
        (labels["kind"], kind_label(row.get("kind"), lang)),
        (labels["visited"], visited_text),
        (labels["first_visit"], time_text(row.get("first_visit"))),
        (labels["last_visit"], time_text(row.get("last_visit"))),
    ]
    ratio = row.get("coverage_ratio")
    if ratio is not None and not pd.isna(ratio):
        pairs.append((labels["coverage"], format_percent(ratio, lang=lang)))
    return lines_html(pairs)


def _add_target(layer: Any, row: Mapping[str, Any], geometry: Any, popup: str, colour: str) -> None:
    import folium  # deferred: heavy, only drawing needs it

    if geometry.geom_type == "Point":
        folium.CircleMarker(
            location=[geometry.y, geometry.x], radius=6, color="#222222", weight=1, fill=True,
            fill_color=colour, fill_opacity=0.9, popup=folium.Popup(popup, parse_html=False, max_width=320),
        ).add_to(layer)
        return
    shown = folium.Popup(popup, parse_html=False, max_width=320)
    folium.GeoJson(
        geometry.__geo_interface__,
        style_function=lambda _f: {"color": colour, "weight": 3, "fillOpacity": 0.0},
        popup=shown,  # type: ignore[arg-type]  # folium annotates GeoJsonPopup; GeoJson takes a Popup too
    ).add_to(layer)


def add_targets(fmap: "folium.Map", targets: "gpd.GeoDataFrame", labels: Mapping[str, str], lang: str) -> None:
    """Add the must-visit places to `fmap`, visited and unvisited in their own colours."""
    import folium  # deferred: heavy, only drawing needs it

    shapes = for_web(targets, what="targets")
    known = shapes["visited"].notna().to_numpy()
    visited = shapes["visited"].fillna(False).astype(bool).to_numpy()
    for chosen, name, colour in ((known & visited, labels["visited_targets"], COLOURS["visited"]),
                                 (known & ~visited, labels["unvisited_targets"], COLOURS["unvisited"]),
                                 (~known, f"{labels['targets']} ({labels['no_data']})", NO_DATA_COLOUR)):
        if colour == NO_DATA_COLOUR and not chosen.any():
            continue
        layer = folium.FeatureGroup(name=name)
        for _, row in shapes[chosen].iterrows():
            _add_target(layer, row, row.geometry, _target_popup(row, labels, lang), colour)
        layer.add_to(fmap)


def add_zones(fmap: "folium.Map", zones: "gpd.GeoDataFrame", labels: Mapping[str, str]) -> None:
    """Add the demolition zones (outlines, not coverage) to `fmap`."""
    shape_layer(fmap, labels["zones"], for_web(zones, what="demolition zones"),
                style=lambda _row: {"color": COLOURS["zone"], "weight": 2, "dashArray": "6 4",
                                    "fillColor": COLOURS["zone"], "fillOpacity": 0.1},
                tooltip=lambda row: lines_html([(labels["zone"], value_text(row, "name", value_text(row, "zone_id"))),
                                                (labels["status"], value_text(row, "status"))]))


def add_wall(fmap: "folium.Map", wall: "gpd.GeoDataFrame", labels: Mapping[str, str]) -> None:
    """Add the old city wall to `fmap`."""
    shape_layer(fmap, labels["wall"], for_web(wall, what="wall"),
                style=lambda _row: {"color": COLOURS["wall"], "weight": 5, "opacity": 0.9},
                tooltip=lambda row: html_text(value_text(row, "name", labels["wall"])))


def _add_legend(fmap: "folium.Map", labels: Mapping[str, str], result: "CoverageResult") -> None:
    entries = list(zip(COVERAGE_COLOURS, coverage_class_labels())) + [(NO_DATA_COLOUR, labels["no_data"])]
    entries += [(COLOURS["covered"], labels["covered"]), (COLOURS["dead_corner"], labels["dead_corners"]),
                (COLOURS["visited"], labels["visited_targets"]), (COLOURS["unvisited"], labels["unvisited_targets"])]
    entries += street_legend_entries(result, street_labels(labels["lang"]))
    overlay(fmap, legend_html(labels["legend"], entries))


def coverage_map(
    result: "CoverageResult",
    *,
    demolition_zones: "gpd.GeoDataFrame | None" = None,
    wall: "gpd.GeoDataFrame | None" = None,
    lang: str = "zh",
    illustrative: bool = False,
    title: str | None = None,
) -> "folium.Map":
    """Draw a sweep-coverage result as an interactive web map.

    Layers (each can be switched in the layer control): grids coloured by
    coverage class with a tooltip (grid, code, cadre, coverage, dead corners);
    covered ground, light (switched off at first: it would tint the classes);
    dead corners in red with a popup giving grid, cadre, area and a point to
    walk to in WGS84 and in GCJ-02 (paste into Amap or WeChat, or follow the
    Amap link); visited (green) and unvisited (red)
    must-visit places; demolition zones; the old wall; when the result has
    streets (``sweep_coverage(..., streets=)``), the streets coloured by the
    same coverage classes (grey: no data) with a tooltip (street, chief,
    length, covered length, coverage, dead stretches) and the dead stretches as
    thick dashed red lines with a walk-to popup (:mod:`gridmap.maps.streets`). A legend lists the
    coverage classes in percent. No track, inspector name or phone number is
    drawn.

    Parameters
    ----------
    result : gridmap.analysis.coverage.CoverageResult
        What :func:`gridmap.sweep_coverage` returned.
    demolition_zones : geopandas.GeoDataFrame, optional
        The ``demolition_zones`` layer (any CRS).
    wall : geopandas.GeoDataFrame, optional
        The ``wall`` layer (any CRS).
    lang : {"zh", "en"}
        Language of the labels: zh-Hans (default) or English.
    illustrative : bool
        Add a visible "illustrative data (not surveyed boundaries)" mark.
    title : str, optional
        A title shown at the top of the map.

    Returns
    -------
    folium.Map
        Shows inline in a notebook; ``.save("coverage.html")`` writes a page.

    Raises
    ------
    SchemaError
        When `lang` is neither ``"zh"`` nor ``"en"``.
    CRSError
        When a layer has no CRS.

    Examples
    --------
    >>> import gridmap
    >>> from gridmap.maps.coverage import coverage_map
    >>> b = gridmap.sample_boundaries()
    >>> result = gridmap.sweep_coverage(b["grids"], gridmap.sample_tracks(n_fixes=3000, days=1))
    >>> m = coverage_map(result, wall=b["wall"], illustrative=True)
    >>> "网格覆盖率" in m.get_root().render()
    True
    """

    labels = labels_for(lang)
    grids = for_web(result.grids, what="coverage grids")
    if is_missing(overall_coverage(result)):  # no GPS fix in the period: coverage unknown, not 0 %
        grids = grids.assign(coverage_ratio=float("nan"))
    fmap = new_map(*grids.total_bounds)
    add_grids(fmap, grids, labels)
    add_covered(fmap, getattr(result, "covered", None), labels)
    if demolition_zones is not None and len(demolition_zones):
        add_zones(fmap, demolition_zones, labels)
    if wall is not None and len(wall):
        add_wall(fmap, wall, labels)
    add_dead_corners(fmap, result.dead_corners, labels)
    add_streets(fmap, getattr(result, "streets", None), street_labels(lang))
    add_dead_stretches(fmap, getattr(result, "dead_stretches", None), street_labels(lang))
    targets = getattr(result, "targets", None)
    if targets is not None and len(targets):
        add_targets(fmap, targets, labels, lang)
    _add_legend(fmap, labels, result)
    return finish(fmap, title, labels, illustrative)
