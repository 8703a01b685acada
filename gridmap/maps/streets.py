"""Street coverage on the maps: streets as lines coloured by coverage, and the dead stretches.

The lines draw ``CoverageResult.streets`` and ``CoverageResult.dead_stretches``
(:func:`gridmap.sweep_coverage` with ``streets=``); they compute nothing but
colours and labels. A street's colour is the class of its ``coverage_ratio`` on
the same fixed scale as the grids (:mod:`gridmap.maps.legend`: 0-50, 50-70,
70-85, 85-95, 95-100 %, ColorBrewer PiYG), drawn over a dark casing so the
light middle class stays visible on any background; a street whose coverage
is unknown is grey and reads "无数据" / "no data", never 0 %. Dead stretches are
thick dashed red lines; each popup gives the point to walk to in WGS84 and in
GCJ-02 (as the dead corners' popups do).

Names: the street chief is drawn as the frame holds it. Shared pages redact
the result first (:func:`gridmap.pages.common.shareable_coverage` masks
``street_chief`` like ``cadre``: 王小明 → 王**). Every user string is escaped
(:func:`gridmap.maps.common.lines_html`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import shapely

from gridmap.formatting import format_percent, is_missing, no_data
from gridmap.maps.common import amap_link, coordinates_text, for_web, lines_html, pick_labels, value_text
from gridmap.maps.legend import NO_DATA_COLOUR, coverage_colour

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd
    from matplotlib.axes import Axes

__all__ = ["STREET_LABELS", "STREET_COLOURS", "street_labels", "street_colour", "street_tooltip",
           "dead_stretch_popup", "add_streets", "add_dead_stretches", "street_legend_entries", "draw_streets",
           "street_legend_handles", "length_text", "count_text"]

#: The labels of the street layers, per language.
STREET_LABELS: dict[str, dict[str, str]] = {
    "zh": {"streets": "街巷清扫覆盖率", "street": "街巷", "street_chief": "街长", "length": "长度",
           "covered_length": "已覆盖长度", "coverage": "覆盖率", "dead_stretches": "未清扫路段", "stretch": "路段",
           "count": "段", "walk_to": "前往位置", "wgs84": "WGS84（GPS）", "gcj02": "GCJ-02（高德/微信）",
           "open_amap": "在高德地图中打开", "street_no_data": "街巷无数据", "lang": "zh"},
    "en": {"streets": "street coverage", "street": "street", "street_chief": "street chief", "length": "length",
           "covered_length": "covered length", "coverage": "coverage", "dead_stretches": "dead stretches",
           "stretch": "stretch", "count": "", "walk_to": "walk to", "wgs84": "WGS84 (GPS)",
           "gcj02": "GCJ-02 (Amap/WeChat)", "open_amap": "open in Amap", "street_no_data": "street: no data",
           "lang": "en"},
}

#: Colours of the street layers other than the coverage classes.
STREET_COLOURS: dict[str, str] = {"casing": "#333333", "dead_stretch": "#e31a1c"}
#: Line widths (web pixels): street casing, street, dead stretch; and its dash pattern.
_WEB_WIDTHS = (7, 4, 6)
_WEB_DASH = "10 6"


def street_labels(lang: str) -> dict[str, str]:
    """The street labels of `lang` (``"zh"`` or ``"en"``); SchemaError for any other.

    Examples
    --------
    >>> street_labels("en")["dead_stretches"]
    'dead stretches'
    """
    return pick_labels(STREET_LABELS, lang)


def street_colour(ratio: Any) -> str:
    """The colour of a street: its coverage class, grey (:data:`NO_DATA_COLOUR`) when unknown.

    Examples
    --------
    >>> street_colour(0.2), street_colour(0.99), street_colour(float("nan")), street_colour(None)
    ('#d01c8b', '#4dac26', '#bdbdbd', '#bdbdbd')
    """
    return NO_DATA_COLOUR if is_missing(ratio) else coverage_colour(float(ratio))


def length_text(metres: Any, lang: str = "zh") -> str:
    """A length in whole metres with thousands separators; "无数据" / "no data" when missing.

    Examples
    --------
    >>> length_text(1234.6), length_text(float("nan"), "en")
    ('1,235 m', 'no data')
    """
    return no_data(lang) if is_missing(metres) else f"{float(metres):,.0f} m"


def count_text(value: Any, lang: str = "zh") -> str:
    """A count as an integer; "无数据" / "no data" when missing (NA is unknown, not 0).

    Examples
    --------
    >>> count_text(3), count_text(None, "en")
    ('3', 'no data')
    """
    return no_data(lang) if is_missing(value) else str(int(value))


def street_tooltip(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """A street's tooltip (escaped HTML): name, chief, length, covered length, coverage, dead stretches.

    Examples
    --------
    >>> street_tooltip({"street_name": "东大街", "street_chief": "王**", "length_m": 400.0, "covered_m": 200.0,
    ...                 "coverage_ratio": 0.5, "dead_stretches": 1}, street_labels("en"))
    'street: 东大街<br>street chief: 王**<br>length: 400 m<br>covered length: 200 m<br>coverage: 50.0 &#37;<br>dead ...'
    """
    lang = labels["lang"]
    return lines_html([
        (labels["street"], value_text(row, "street_name")),
        (labels["street_chief"], value_text(row, "street_chief")),
        (labels["length"], length_text(row.get("length_m"), lang)),
        (labels["covered_length"], length_text(row.get("covered_m"), lang)),
        (labels["coverage"], format_percent(row.get("coverage_ratio"), lang=lang)),
        (labels["dead_stretches"], count_text(row.get("dead_stretches"), lang)),
    ])


def dead_stretch_popup(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """A dead stretch's popup (escaped HTML): id, street, chief, length, the walk-to point and an Amap link.

    Examples
    --------
    >>> html = dead_stretch_popup({"stretch_id": "东大街-01", "street_name": "东大街", "length_m": 35.0,
    ...                            "lon": 116.4, "lat": 39.9, "lon_gcj02": 116.406, "lat_gcj02": 39.901},
    ...                           street_labels("en"))
    >>> "东大街-01" in html, "116.406000,39.901000" in html
    (True, True)
    """
    lang = labels["lang"]
    text = lines_html([
        (labels["dead_stretches"], value_text(row, "stretch_id")),
        (labels["street"], value_text(row, "street_name")),
        (labels["street_chief"], value_text(row, "street_chief")),
        (labels["length"], length_text(row.get("length_m"), lang)),
        (labels["walk_to"] + " " + labels["wgs84"], coordinates_text(row["lon"], row["lat"])),
        (labels["walk_to"] + " " + labels["gcj02"], coordinates_text(row["lon_gcj02"], row["lat_gcj02"])),
    ])
    return f"{text}<br>{amap_link(row, labels['open_amap'])}"


def _lines_only(frame: "gpd.GeoDataFrame", what: str) -> "gpd.GeoDataFrame":
    shapes = for_web(frame, what=what)
    return shapes[shapes.geometry.geom_type.isin(["LineString", "MultiLineString"])]


def add_streets(fmap: "folium.Map", streets: "gpd.GeoDataFrame | None", labels: Mapping[str, str]) -> None:
    """Add the layer of streets coloured by coverage class (grey: no data) to `fmap`; nothing when None or empty.

    One layer (one switch in the layer control): a dark casing under each coloured line, since the
    70-85 % class is near white, and a tooltip per street (:func:`street_tooltip`).
    """
    import folium  # deferred: heavy, only drawing needs it

    if streets is None or not len(streets):
        return
    shapes = _lines_only(streets, "streets")
    casing, width, _ = _WEB_WIDTHS
    layer = folium.FeatureGroup(name=labels["streets"])
    folium.GeoJson(shapes.geometry.__geo_interface__, interactive=False,
                   style_function=lambda _f: {"color": STREET_COLOURS["casing"], "weight": casing,
                                              "opacity": 0.8}).add_to(layer)
    for _, row in shapes.iterrows():
        folium.GeoJson(
            row.geometry.__geo_interface__,
            style_function=lambda _f, c=street_colour(row.get("coverage_ratio")): {"color": c, "weight": width,
                                                                                   "opacity": 1.0},
            tooltip=folium.Tooltip(street_tooltip(row, labels), parse_html=False),
        ).add_to(layer)
    layer.add_to(fmap)


def add_dead_stretches(fmap: "folium.Map", stretches: "gpd.GeoDataFrame | None", labels: Mapping[str, str]) -> None:
    """Add the dead stretches (thick dashed red) to `fmap`, each with its walk-to popup; nothing when None or empty."""
    import folium  # deferred: heavy, only drawing needs it

    if stretches is None or not len(stretches):
        return
    layer = folium.FeatureGroup(name=labels["dead_stretches"])
    colour, width = STREET_COLOURS["dead_stretch"], _WEB_WIDTHS[2]
    for _, row in _lines_only(stretches, "dead stretches").iterrows():
        popup = folium.Popup(dead_stretch_popup(row, labels), parse_html=False, max_width=360)
        folium.GeoJson(
            row.geometry.__geo_interface__,
            style_function=lambda _f: {"color": colour, "weight": width, "dashArray": _WEB_DASH, "opacity": 0.95},
            popup=popup,  # type: ignore[arg-type]  # folium annotates GeoJsonPopup; GeoJson takes a Popup too
        ).add_to(layer)
    layer.add_to(fmap)


def street_legend_entries(result: Any, labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """The legend's (colour, label) entries for the street layers of `result`; none when it has no streets.

    The street classes share the grids' colours, so only the layers themselves are named: a street
    (coloured by its class over a dark casing), a street without data (grey) and a dead stretch.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> street_legend_entries(SimpleNamespace(streets=None), street_labels("en"))
    []
    """
    if getattr(result, "streets", None) is None:
        return []
    return [(STREET_COLOURS["casing"], labels["street"]), (NO_DATA_COLOUR, labels["street_no_data"]),
            (STREET_COLOURS["dead_stretch"], labels["dead_stretches"])]


def _segments(geometries: Sequence[Any]) -> list[np.ndarray]:
    return [np.asarray(part.coords)[:, :2] for g in geometries if g is not None
            for part in shapely.get_parts(g) if part.geom_type == "LineString" and not part.is_empty]


def draw_streets(ax: "Axes", streets: "gpd.GeoDataFrame | None", stretches: "gpd.GeoDataFrame | None") -> None:
    """Draw streets (coverage colours over a dark casing) and dead stretches (dashed red) on the axes `ax`.

    Both frames must already be in the axes' CRS; None or empty draws nothing. They are drawn over the
    grids and the dead corners (zorder 5.5-5.7) and under the must-visit places and the labels.
    """
    from matplotlib.collections import LineCollection  # deferred: heavy, only drawing needs it

    if streets is not None and len(streets):
        pieces, colours = [], []
        for geometry, ratio in zip(streets.geometry, streets["coverage_ratio"]):
            parts = _segments([geometry])
            pieces += parts
            colours += [street_colour(ratio)] * len(parts)
        if pieces:
            ax.add_collection(LineCollection(pieces, colors=STREET_COLOURS["casing"], linewidths=3.2, zorder=5.5))
            ax.add_collection(LineCollection(pieces, colors=colours, linewidths=2.0, zorder=5.6))
    if stretches is not None and len(stretches):
        pieces = _segments(list(stretches.geometry))
        if pieces:
            ax.add_collection(LineCollection(pieces, colors=STREET_COLOURS["dead_stretch"], linewidths=2.6,
                                             linestyles=(0, (3, 1.5)), zorder=5.7))


def street_legend_handles(result: Any, labels: Mapping[str, str]) -> list[Any]:
    """Matplotlib legend handles for the street layers of `result`; none when it has no streets."""
    from matplotlib.lines import Line2D  # deferred: heavy, only drawing needs it

    return [Line2D([], [], color=c, lw=2.6 if c == STREET_COLOURS["dead_stretch"] else 2.0,
                   ls=(0, (3, 1.5)) if c == STREET_COLOURS["dead_stretch"] else "solid", label=text)
            for c, text in street_legend_entries(result, labels)]
