"""A folium map of a route that clears the dead corners: the streets, the walk, numbered stops, the start.

The map draws a :class:`gridmap.analysis.route.RouteResult`; it computes nothing. Each stop is a numbered
marker (a Leaflet ``divIcon``: no image to load, so the page stays one offline file) whose popup gives its kind,
the distance to walk to it and a link to open it in Amap (GCJ-02 coordinates; the page does not fetch the link).
Stops the walk cannot reach are drawn apart (grey crosses) with the reason. Every user string is escaped with
:func:`gridmap.maps.escape.html_text` before folium sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from gridmap.maps.common import finish, for_web, lines_html, new_map, overlay, pick_labels
from gridmap.maps.escape import html_text
from gridmap.maps.legend import legend_html
from gridmap.model.layers import kind_label

if TYPE_CHECKING:  # pragma: no cover
    import folium

    from gridmap.analysis.route import RouteResult

__all__ = ["LABELS", "COLOURS", "route_map"]

#: Every label the route map shows, per language.
LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "清除卫生死角路线", "legend": "路线", "streets": "街道", "join": "连接段（补全街道缺口）",
        "walk": "步行路线", "stops": "途经点（按顺序）", "start": "起点", "unreachable": "无法到达的点位",
        "stop": "点位", "kind": "类型", "order": "顺序", "leg": "本段步行", "cumulative": "累计",
        "off_street": "离街距离", "reason": "原因", "open_amap": "在高德地图中打开",
        "length": "全程", "illustrative": "示意数据（非测绘边界）", "lang": "zh",
    },
    "en": {
        "title": "route clearing the dead corners", "legend": "route", "streets": "streets",
        "join": "join (a gap in the streets closed)", "walk": "walk", "stops": "stops (in order)", "start": "start",
        "unreachable": "unreachable stops", "stop": "stop", "kind": "kind", "order": "order", "leg": "distance to walk",
        "cumulative": "cumulative", "off_street": "off the street", "reason": "reason", "open_amap": "open in Amap",
        "length": "length", "illustrative": "illustrative data (not surveyed boundaries)",
        "lang": "en",
    },
}

#: The colours of the map's layers.
COLOURS: dict[str, str] = {"street": "#9e9e9e", "join": "#ff7f00", "walk": "#2166ac", "stop": "#e31a1c",
                           "start": "#1a9641", "unreachable": "#636363"}


def _kind_text(kind: Any, labels: Mapping[str, str]) -> str:
    return kind_label(kind, labels["lang"])


def _badge(text: str, colour: str, *, shape: str = "50%") -> str:
    return (f'<div class="gm-route-stop" style="width:22px;height:22px;line-height:22px;border-radius:{shape};'
            f'background:{colour};color:#fff;border:2px solid #fff;box-shadow:0 0 2px #333;text-align:center;'
            f'font:bold 12px sans-serif">{html_text(text)}</div>')


def _marker(layer: Any, lat: float, lon: float, icon_html: str, popup: str, tooltip: str) -> None:
    import folium  # deferred: heavy, only drawing needs it

    folium.Marker(location=[round(float(lat), 6), round(float(lon), 6)],
                  icon=folium.DivIcon(html=icon_html, icon_size=(26, 26), icon_anchor=(13, 13)),
                  popup=folium.Popup(popup, parse_html=False, max_width=340),
                  tooltip=folium.Tooltip(html_text(tooltip), parse_html=False)).add_to(layer)


def _stop_popup(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    text = lines_html([
        (labels["order"], str(int(row["order"]))), (labels["stop"], str(row["stop_id"])),
        (labels["kind"], _kind_text(row["kind"], labels)), (labels["leg"], f"{float(row['leg_m']):,.0f} m"),
        (labels["cumulative"], f"{float(row['cumulative_m']):,.0f} m"),
        (labels["off_street"], f"{float(row['off_street_m']):,.0f} m"),
    ])
    # a link for the reader to follow; the page itself never fetches it
    return f'{text}<br><a href="{html_text(str(row["amap_url"]))}" target="_blank">{html_text(labels["open_amap"])}</a>'


def _add_streets(fmap: "folium.Map", result: "RouteResult", labels: Mapping[str, str]) -> None:
    import folium  # deferred: heavy, only drawing needs it

    streets = for_web(result.streets, what="route streets")
    layer = folium.FeatureGroup(name=labels["streets"])
    for joined, colour, dash in ((False, COLOURS["street"], None), (True, COLOURS["join"], "4 4")):
        chosen = streets[streets["join"] == joined]
        if len(chosen):
            folium.GeoJson(chosen[[chosen.geometry.name]].__geo_interface__, interactive=False,
                           style_function=lambda _f, c=colour, d=dash: {"color": c, "weight": 3, "opacity": 0.8,
                                                                        "dashArray": d}).add_to(layer)
    layer.add_to(fmap)


def _add_walk(fmap: "folium.Map", result: "RouteResult", labels: Mapping[str, str]) -> None:
    import folium  # deferred: heavy, only drawing needs it

    coords = [[round(y, 6), round(x, 6)] for x, y in result.line.coords]
    layer = folium.FeatureGroup(name=labels["walk"])
    folium.PolyLine(coords, color=COLOURS["walk"], weight=5, opacity=0.85,
                    tooltip=html_text(f"{labels['length']} {result.length_m:,.0f} m")).add_to(layer)
    layer.add_to(fmap)


def _add_stops(fmap: "folium.Map", result: "RouteResult", labels: Mapping[str, str]) -> None:
    import folium  # deferred: heavy, only drawing needs it

    layer = folium.FeatureGroup(name=labels["stops"])
    for _, row in result.stops.iterrows():
        _marker(layer, row["lat"], row["lon"], _badge(str(int(row["order"])), COLOURS["stop"]),
                _stop_popup(row, labels), f"{int(row['order'])}. {row['stop_id']}")
    start = (result.stats["start_lat"], result.stats["start_lon"])
    _marker(layer, start[0], start[1], _badge("▶", COLOURS["start"], shape="4px"), html_text(labels["start"]),
            labels["start"])
    layer.add_to(fmap)
    if len(result.unreachable):
        lost = folium.FeatureGroup(name=labels["unreachable"])
        for _, row in result.unreachable.iterrows():
            popup = lines_html([(labels["stop"], str(row["stop_id"])),
                                (labels["kind"], _kind_text(row["kind"], labels)),
                                (labels["reason"], str(row["reason"]))])
            _marker(lost, row["lat"], row["lon"], _badge("✕", COLOURS["unreachable"], shape="2px"), popup,
                    f"{labels['unreachable']}: {row['stop_id']}")
        lost.add_to(fmap)


def _bounds(result: "RouteResult") -> tuple[float, float, float, float]:
    """The box of the walk, the stops, the start and the unreachable stops (WGS84), a little padded."""
    xs = [v for v in result.line.xy[0]] + list(result.stops["lon"]) + list(result.unreachable["lon"])
    ys = [v for v in result.line.xy[1]] + list(result.stops["lat"]) + list(result.unreachable["lat"])
    xs.append(result.stats["start_lon"])
    ys.append(result.stats["start_lat"])
    pad = 0.0005  # about 50 m
    return min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad


def route_map(result: "RouteResult", *, lang: str = "zh", illustrative: bool = False,
              title: str | None = None) -> "folium.Map":
    """Draw a route as an interactive web map.

    Layers: the street graph (grey; the joins that closed gaps dashed orange), the walk (blue), the stops as
    numbered red markers in walking order with a popup (kind, distance to walk, cumulative, distance off the
    street, an Amap link in GCJ-02), the start (a green ▶), the unreachable stops (grey ✕, with the reason),
    and a legend. Save it offline with :func:`gridmap.pages.common.save_page`, as the other maps.

    Parameters
    ----------
    result : gridmap.analysis.route.RouteResult
        What :func:`gridmap.clear_route` returned.
    lang : {"zh", "en"}
        Language of the labels.
    illustrative : bool
        Add a visible "illustrative data (not surveyed boundaries)" mark (the sample workspace).
    title : str, optional
        A title shown at the top of the map (default: the route's title and length).

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, Point
    >>> from gridmap.analysis.route import clear_route
    >>> s = gpd.GeoDataFrame(geometry=[LineString([(109.73, 38.29), (109.74, 38.29)])], crs=4326)
    >>> stops = gpd.GeoDataFrame({"stop_id": ["G-01"], "kind": "dead_corner"}, geometry=[Point(109.735, 38.2901)],
    ...                          crs=4326)
    >>> html = route_map(clear_route(s, stops), lang="en", illustrative=True).get_root().render()
    >>> "gm-route-stop" in html, "uri.amap.com/marker" in html, "illustrative data" in html
    (True, True, True)
    """
    labels = pick_labels(LABELS, lang)
    fmap = new_map(*_bounds(result))
    _add_streets(fmap, result, labels)
    _add_walk(fmap, result, labels)
    _add_stops(fmap, result, labels)
    entries = [(COLOURS["walk"], labels["walk"]), (COLOURS["stop"], labels["stops"]),
               (COLOURS["start"], labels["start"]),
               (COLOURS["unreachable"], labels["unreachable"]), (COLOURS["street"], labels["streets"]),
               (COLOURS["join"], labels["join"])]
    overlay(fmap, legend_html(f"{labels['legend']}: {result.length_m:,.0f} m", entries))
    return finish(fmap, title if title is not None else labels["title"], labels, illustrative)
