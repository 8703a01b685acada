"""The leaders' map: one HTML page with coverage, recurring problems, hot spots and the task list.

:func:`report_map` builds the page as a folium map (it shows inline in a
notebook); :func:`export_html` writes it as one file that opens anywhere:
with ``offline=True`` (the default) every script, style sheet, icon and image
is inside the file (:mod:`gridmap.maps.offline`), so with ``basemap="none"`` it
makes no network request at all.

What the page holds
-------------------
Layers (switched in the layer control, top right): grids coloured by sweep
coverage, covered ground, dead corners (red, with a popup giving the point to
walk to), visited and unvisited must-visit places, demolition zones, the old
city wall, the density of the period's reports in reports per km² per month,
Gi* hot and cold spots on 150 m hexagons, recurring sites (of the period's reports, a recurrence judged against
the reports and rectifications a scoreboard of the period reads: one of a report made before the period counts),
and every report of the period as a point (tap for its category, status, date, grid, street (the nearest within
15 m), area and description). A panel (bottom left, collapsible) gives the title, period, the
date the data was last updated, the "illustrative data" mark for the sample,
the legend, a per-community table and the dead-corner list, each with a button
that flies the map there; with street figures, streets by coverage class, dead
stretches, and area-leader and street tables (:mod:`gridmap.pages.levels`).

How it stays small and fast
---------------------------
Reports travel compactly encoded (:class:`gridmap.maps.compact.CompactPoints`,
about 20 bytes a report) and are drawn on canvas tiles; popups are built on
tap. Descriptions are kept under a byte budget, newest first.

Safety and privacy
------------------
Every user string is escaped for where it lands: HTML text
(:func:`gridmap.maps.escape.html_text`, also inert to Jinja2) or JSON data
shown with ``textContent``. With ``redact=True`` (the default) the page holds
no phone number (cadre phones dropped; phone-shaped runs in any text, id or
code masked), cadre names are masked (王小明 → 王**), and no GPS track or
inspector name is drawn: coverage is shown as ground covered, not who walked
where. No photo is embedded. Names typed inside free text (a description
saying "请联系王小明") cannot be told from other words and stay: read
descriptions before forwarding a page.
"""

from __future__ import annotations

import logging
import math
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from gridmap.errors import GridmapError
from gridmap.analysis.attribution import attribute_reports
from gridmap.analysis.coverage import overall_coverage, sweep_coverage
from gridmap.analysis.density import kde
from gridmap.formatting import format_percent
from gridmap.analysis.hotspot import hexagons, hotspots
from gridmap.maps import coverage as cov
from gridmap.maps.basemaps import add_basemap, shift_latlon, to_display_crs
from gridmap.maps.common import for_web, pick_labels, time_text
from gridmap.maps.compact import CompactPoints
from gridmap.maps.coverage import COLOURS
from gridmap.maps.coverage import labels_for as coverage_labels
from gridmap.maps.density import (
    DENSITY_CMAP, FLOOR_FRACTION, HOTSPOT_BIN_COLOURS, SITE_COLOUR, add_grid_outlines, add_hotspot_bins, bin_label,
    days_text, density_rgba, monthly_density, number_text, png_data_url, units_text, warp_to_web, with_values,
)
from gridmap.maps.density import labels_for as density_labels
from gridmap.maps.escape import html_text
from gridmap.maps.legend import COVERAGE_COLOURS, coverage_class_labels
from gridmap.maps.page import finish_page
from gridmap.model import REPORT_STATUSES, category_label
from gridmap.model.layers import kind_label
from gridmap.pages.briefing import _cell_texts, _period_text, community_table, page_reads, rectified_known
from gridmap.pages.common import chart_html, check_assets, page_html, save_page, shareable
from gridmap.pages.common import shareable_coverage
from gridmap.pages.levels import area_table_html, coverage_levels, street_table_html
from gridmap.maps.streets import add_dead_stretches, add_streets, street_labels, street_legend_entries
from gridmap.analysis.recurrence import recurring_sites
from gridmap.analysis.selection import as_time, period_months, select_reports
from gridmap.analysis.supervision import weekly_figures
from gridmap.storage import read_layers

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd

    from gridmap.analysis.coverage import CoverageResult
    from gridmap.maps.assets import AssetCache
    from gridmap.storage import WorkspaceStore

__all__ = ["export_html", "report_map", "default_title", "page_html", "save_page", "check_assets", "shareable",
           "shareable_coverage", "REPORT_LABELS"]

logger = logging.getLogger(__name__)

_LAYERS = ("grids", "tracks", "targets", "reports", "rectifications", "communities", "demolition_zones", "wall",
           "subdistrict", "streets", "areas")
_REPORT_COLUMNS = ("report_id", "reported_at", "category", "description", "status", "grid_code", "street_name",
                   "area_code")
#: Bytes of distinct description text the page may carry (newest reports first); past 64 KiB they are deflated,
#: and this bounds the deflated stream (100,000 distinct descriptions of 20-60 characters take about 2 MB).
DESCRIPTION_BUDGET = 3_000_000
#: Dead corners listed in the panel (largest first); all of them are on the map.
MAX_LISTED_CORNERS = 300
#: Hexagon size of the hot-spot layer, metres (centre to corner).
HOTSPOT_CELL_M = 150.0
#: Weeks of the panel's week-over-week chart of rectification rate and coverage by community.
CHART_WEEKS = 8

#: The page's own labels, per language.
REPORT_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "环境卫生网格化管理报告", "period": "时段", "updated": "数据更新至", "overall": "总覆盖率",
        "dead_corners": "卫生死角", "reports": "问题报告", "legend": "图例", "communities": "各社区情况",
        "corner_list": "卫生死角清单（按面积）", "grid": "网格", "area": "面积", "cadre": "网格员", "go": "定位",
        "more_corners": "另有 {n} 处见地图", "report_id": "编号", "category": "类别", "status": "状态",
        "date": "上报日期", "description": "描述", "omitted": "（未收录于本文件）", "more": "此处还有 {n} 条",
        "redacted": "已隐去电话号码，姓名已遮蔽", "internal": "内部使用：未脱敏，请勿转发",
        "none": "无", "density": "报告密度（次/平方公里/月）", "hot": "热点/冷点（Gi*）", "sites": "反弹点位",
        "coverage_legend": "网格覆盖率", "community": "社区", "grids": "网格数", "coverage": "覆盖率",
        "rectified": "整改率", "total": "合计", "no_tracks": "本时段无巡查轨迹：覆盖率无数据", "chart": "按周变化",
        "no_rebounds": "无整改记录：问题反弹无数据", "lang": "zh", "street": "街道", "leader_area": "片区",
    },
    "en": {
        "title": "Sanitation grid management report", "period": "period", "updated": "data as of",
        "overall": "overall coverage", "dead_corners": "dead corners", "reports": "reports", "legend": "legend",
        "communities": "by community", "corner_list": "dead corners (largest first)", "grid": "grid", "area": "area",
        "cadre": "cadre", "go": "show", "more_corners": "{n} more on the map", "report_id": "id",
        "category": "category", "status": "status", "date": "reported", "description": "description",
        "omitted": "(not included in this file)", "more": "{n} more here",
        "redacted": "phone numbers removed, names masked", "internal": "internal: not redacted, do not forward",
        "none": "none", "density": "report density (reports per km² per month)", "hot": "hot and cold spots (Gi*)",
        "sites": "recurring sites", "coverage_legend": "grid coverage", "community": "community", "grids": "grids",
        "coverage": "coverage", "rectified": "rectified", "total": "total",
        "no_tracks": "no GPS fixes in the period: coverage no data", "chart": "week by week",
        "no_rebounds": "no rectification records: rebounds no data", "lang": "en", "street": "street",
        "leader_area": "area",
    },
}


def _labels(lang: str) -> dict[str, str]:

    merged = {**density_labels(lang), **coverage_labels(lang)}
    merged.update(pick_labels(REPORT_LABELS, lang))
    return merged


# ---------------------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------------------


class _Inputs:
    """The layers, the workspace's illustrative flag and when its data was last imported."""

    def __init__(self, layers: dict[str, Any], illustrative: bool, updated: pd.Timestamp | None) -> None:
        self.layers = layers
        self.illustrative = illustrative
        self.updated = updated


def _present(frame: Any) -> Any:
    return frame if frame is not None and len(frame) else None


def _load(source: Any, start: Any, end: Any, subdistrict: str | None) -> _Inputs:

    reads = page_reads(start, end, weeks=CHART_WEEKS, subdistrict=subdistrict, history=True)  # a scoreboard's reads
    found, meta = read_layers(source, _LAYERS, what="the report", reads=reads)
    layers = {name: _present(frame) for name, frame in found.items()}
    updated = pd.Timestamp(meta["last_import"]) if "last_import" in meta else None
    return _Inputs(layers, meta.get("illustrative") == "true", updated or _latest_data_time(layers))


def _latest_data_time(layers: Mapping[str, Any]) -> pd.Timestamp | None:

    pairs = ((layers.get("reports"), "reported_at"), (layers.get("tracks"), "time"))
    latest = (as_time(frame[col].dropna().max()) for frame, col in pairs
              if frame is not None and col in frame and frame[col].notna().any())
    seen = [stamp for stamp in latest if stamp is not None]
    return max(seen) if seen else None


def _day(stamp: pd.Timestamp | None) -> str:
    return "…" if stamp is None else f"{pd.Timestamp(stamp).tz_convert('Asia/Shanghai'):%Y-%m-%d}"


# ---------------------------------------------------------------------------------------------------------------
# analysis
# ---------------------------------------------------------------------------------------------------------------


class _Analysis:
    """Everything the page shows, computed for the period."""

    coverage: "CoverageResult | None" = None
    reports: "gpd.GeoDataFrame | None" = None
    density: Any = None
    months: float = 1.0
    hot: "gpd.GeoDataFrame | None" = None
    sites: "gpd.GeoDataFrame | None" = None
    table: pd.DataFrame | None = None
    weekly: pd.DataFrame | None = None
    #: False without rectification records: no rebound can be found, so "no data", not "0 recurring sites".
    rebounds_known: bool = True


def _analyse(layers: Mapping[str, Any], start: Any, end: Any) -> _Analysis:

    grids = layers["grids"]
    out = _Analysis()
    if layers["tracks"] is not None:
        out.coverage = sweep_coverage(grids, layers["tracks"], targets=layers["targets"], start=start, end=end,
                                      **coverage_levels(layers))
        if math.isnan(overall_coverage(out.coverage)):  # no fix in the period: coverage unknown, not 0 %
            out.coverage = None
    reports = layers["reports"]
    if reports is not None:
        chosen = select_reports(reports, start=start, end=end)
        chosen = chosen[~(chosen.geometry.isna() | chosen.geometry.is_empty)]
        out.reports = attribute_reports(chosen, grids=grids, streets=layers.get("streets"),
                                        areas=layers.get("areas")) if len(chosen) else None
    if out.reports is not None:
        out.months = period_months(out.reports, start=start, end=end)
        out.density, out.hot, out.sites = _recurring(out.reports, layers, grids, (start, end))
    if out.coverage is not None:
        out.table = community_table(out.coverage, out.reports, communities=layers["communities"],
                                    rectified_known=rectified_known(out.reports, layers["rectifications"]))
    out.rebounds_known = layers["rectifications"] is not None
    if reports is not None:

        out.weekly = weekly_figures(layers, end=end, weeks=CHART_WEEKS)
    return out


def _recurring(reports: "gpd.GeoDataFrame", layers: Mapping[str, Any], grids: "gpd.GeoDataFrame",
               period: tuple[Any, Any]) -> tuple[Any, ...]:
    """Density and hot spots of the period's `reports`; sites of the period, recurrences judged over all read."""
    density = kde(reports, bounds=grids) if len(reports) >= 2 else None
    try:
        hot = hotspots(reports, hexagons(grids, HOTSPOT_CELL_M))
    except GridmapError as exc:  # e.g. too few reports or cells for Gi*
        logger.info("no hot-spot layer: %s", exc)
        hot = None
    sites = None
    if layers["rectifications"] is not None:
        sites = _present(recurring_sites(layers["reports"], rectifications=layers["rectifications"], grids=grids,
                                         period=period))
    return density, hot, sites


# ---------------------------------------------------------------------------------------------------------------
# the map's layers
# ---------------------------------------------------------------------------------------------------------------


def _display(frame: Any, basemap: str) -> Any:

    return None if frame is None else to_display_crs(frame, basemap)


def _coverage_layers(fmap: "folium.Map", result: "CoverageResult", zones: Any, wall: Any, basemap: str,
                     labels: Mapping[str, str], lang: str) -> None:

    grids = for_web(_display(result.grids, basemap), what="coverage grids")
    cov.add_grids(fmap, grids, labels)
    covered = getattr(result, "covered", None)
    cov.add_covered(fmap, _display(covered, basemap) if covered is not None and len(covered) else None, labels)
    if zones is not None:
        cov.add_zones(fmap, _display(zones, basemap), labels)
    if wall is not None:
        cov.add_wall(fmap, _display(wall, basemap), labels)
    corners = result.dead_corners
    if corners is not None and len(corners):
        cov.add_dead_corners(fmap, _display(corners, basemap), labels)
    if result.targets is not None and len(result.targets):
        _targets_layer(fmap, _display(result.targets, basemap), labels, lang)
    add_streets(fmap, _display(result.streets, basemap), street_labels(lang))  # streets: few lines, tooltips
    add_dead_stretches(fmap, _display(result.dead_stretches, basemap), street_labels(lang))


def _date_texts(values: Any, fmt: str = "%Y-%m-%d") -> list[str | None]:

    return [None if text == "—" else text for text in (time_text(v, fmt) for v in values)]


def _targets_layer(fmap: "folium.Map", targets: "gpd.GeoDataFrame", labels: Mapping[str, str], lang: str) -> None:
    """Must-visit places: points in one compact layer coloured by visited; polygon places as outlines."""

    shapes = for_web(targets, what="targets")
    points = shapes[shapes.geometry.geom_type == "Point"]
    others = shapes[shapes.geometry.geom_type != "Point"]
    if len(others):
        cov.add_targets(fmap, others, labels, lang)
    if not len(points):
        return
    visited = points["visited"].fillna(False).astype(bool).to_numpy()
    yes, no = labels["visited_targets"], labels["unvisited_targets"]
    given = points["name"] if "name" in points else points["target_id"]
    names = [n if isinstance(n, str) and n else str(t) for n, t in zip(given, points["target_id"])]
    fields: list[tuple[str, Sequence[Any]]] = [
        (labels["targets"], [yes if v else no for v in visited]),
        (labels["target"], names),
        (labels["kind"], [kind_label(k, lang) for k in points["kind"]]),
        (labels["first_visit"], _date_texts(points.get("first_visit", [None] * len(points)), "%Y-%m-%d %H:%M")),
        (labels["last_visit"], _date_texts(points.get("last_visit", [None] * len(points)), "%Y-%m-%d %H:%M")),
    ]
    CompactPoints(points.geometry.x.to_numpy(), points.geometry.y.to_numpy(), fields, colour_field=0,
                  palette={yes: cov.COLOURS["visited"], no: cov.COLOURS["unvisited"]}, name=labels["targets"],
                  radius=6.0, role="targets", more=labels["more"]).add_to(fmap)


def _outline_layers(fmap: "folium.Map", grids: Any, zones: Any, wall: Any, basemap: str,
                    labels: Mapping[str, str]) -> None:
    """Without GPS fixes: grid outlines, zones and the wall, so the page still shows where things are."""

    add_grid_outlines(fmap, _display(grids, basemap), labels)
    if zones is not None:
        cov.add_zones(fmap, _display(zones, basemap), labels)
    if wall is not None:
        cov.add_wall(fmap, _display(wall, basemap), labels)


def _density_layer(fmap: "folium.Map", density: Any, months: float, basemap: str, labels: Mapping[str, str],
                   lang: str) -> float:
    """The density per month as an image overlay (off at first); returns its peak."""
    import folium  # deferred: heavy, only drawing needs it

    per_month = monthly_density(density, months, labels)
    values, bounds = warp_to_web(with_values(density, per_month.values))
    peak = float(np.nanmax(np.asarray(per_month.values, dtype=np.float64), initial=0.0))
    west, south, east, north = bounds
    # Over Amap the corners move into GCJ-02; the shift varies by centimetres across a subdistrict.
    south, west = shift_latlon(south, west, basemap)
    north, east = shift_latlon(north, east, basemap)
    folium.raster_layers.ImageOverlay(
        png_data_url(density_rgba(values, peak=peak)),
        bounds=[[round(south, 6), round(west, 6)], [round(north, 6), round(east, 6)]],
        name=f"{labels['density']}（{units_text(labels, lang)}）" if lang == "zh" else labels["density"],
        origin="upper", mercator_project=False, pixelated=False, interactive=False, show=False,
    ).add_to(fmap)
    return peak


def _analysis_layers(fmap: "folium.Map", found: _Analysis, basemap: str, labels: Mapping[str, str],
                     lang: str) -> float | None:

    peak = None
    if found.density is not None:
        peak = _density_layer(fmap, found.density, found.months, basemap, labels, lang)
    if found.hot is not None and len(found.hot):
        add_hotspot_bins(fmap, for_web(_display(found.hot, basemap), what="hot-spot cells"), labels, lang, show=False)
    if found.sites is not None:
        _sites_layer(fmap, _display(found.sites, basemap), labels, lang)
    return peak


def _sites_layer(fmap: "folium.Map", sites: "gpd.GeoDataFrame", labels: Mapping[str, str], lang: str) -> None:
    """Recurring sites as one compact layer (off at first), most reports first."""

    shown = for_web(sites, what="recurring sites")
    points = shown.geometry.representative_point()
    fields: list[tuple[str, Sequence[Any]]] = [
        (labels["sites"], [labels["sites"]] * len(shown)),
        (labels["site"], [str(v) for v in shown["site_id"]]),
        (labels["category"], [category_label(str(c), lang) if isinstance(c, str) else None for c in shown["category"]]),
        (labels["reports"], [str(int(v)) for v in shown["reports"]]),
        (labels["recurrences"], [str(int(v)) for v in shown["recurrences"]]),
        (labels["first_seen"], _date_texts(shown["first_seen"])),
        (labels["last_seen"], _date_texts(shown["last_seen"])),
        (labels["median_days"], [days_text(v, labels) for v in shown["median_days_to_rebound"]]),
        (labels["grid_code"], [v if isinstance(v, str) else None for v in shown["grid_code"]]),
    ]
    order = np.argsort(-shown["reports"].to_numpy(dtype=float), kind="stable")
    CompactPoints(points.x.to_numpy(), points.y.to_numpy(), fields, colour_field=0, order=order,
                  palette={labels["sites"]: SITE_COLOUR}, name=labels["sites"], show=False, radius=7.0,
                  role="sites", more=labels["more"]).add_to(fmap)


def _report_fields(reports: "gpd.GeoDataFrame", grids: Any, labels: Mapping[str, str],
                   lang: str, areas: Any = None) -> list[tuple[str, list[Any]]]:

    def column(name: str) -> pd.Series:
        return reports[name] if name in reports else pd.Series(None, index=reports.index, dtype=object)

    names = {} if grids is None else _grid_names(grids)
    area_names = {} if areas is None or "name" not in areas else {
        str(c): n for c, n in zip(areas["area_code"], areas["name"]) if isinstance(n, str) and n}
    categories = {key: category_label(key, lang) for key in column("category").dropna().astype(str).unique()}
    statuses = column("status").map(lambda s: (REPORT_STATUSES.get(s, s) if lang == "zh" else s)
                                    if isinstance(s, str) else None)
    days = pd.to_datetime(column("reported_at"), utc=True, errors="coerce").dt.tz_convert("Asia/Shanghai")
    return [
        (labels["category"], [categories.get(c) if isinstance(c, str) else None for c in column("category")]),
        (labels["report_id"], [None if pd.isna(v) else str(v) for v in column("report_id")]),
        (labels["date"], [None if pd.isna(d) else f"{d:%Y-%m-%d}" for d in days]),
        (labels["status"], list(statuses)),
        (labels["grid"], [names.get(str(g), str(g)) if isinstance(g, str) else None for g in column("grid_code")]),
        (labels["street"], [v if isinstance(v, str) else None for v in column("street_name")]),
        (labels["leader_area"], [area_names.get(a, a) if isinstance(a, str) else None for a in column("area_code")]),
        (labels["description"], [v if isinstance(v, str) else None for v in column("description")]),
    ]


def _reports_layer(fmap: "folium.Map", reports: "gpd.GeoDataFrame", grids: Any, basemap: str,
                   labels: Mapping[str, str], lang: str, areas: Any = None) -> dict[str, str]:
    """The period's reports as one compact layer; returns the colour of each category label shown."""

    shown = _display(reports.to_crs(4326), basemap)
    xy = shown.geometry.get_coordinates()
    fields = _report_fields(reports, grids, labels, lang, areas)
    keys = sorted(reports["category"].dropna().astype(str).unique()) if "category" in reports else []
    palette = {category_label(k, lang): colour for k, colour in zip(keys, _CATEGORY_COLOURS * 3)}
    times = pd.to_datetime(reports["reported_at"], utc=True, errors="coerce")
    newest_first = np.argsort(-times.fillna(pd.Timestamp(0, tz="UTC")).astype("int64").to_numpy(), kind="stable")
    layer = CompactPoints(xy["x"].to_numpy(), xy["y"].to_numpy(), fields, colour_field=0, palette=palette,
                          order=newest_first, id_field=1, text_budget=DESCRIPTION_BUDGET, omitted=labels["omitted"],
                          more=labels["more"], name=f"{labels['reports']}（{len(reports):,}）" if lang == "zh"
                          else f"{labels['reports']} ({len(reports):,})", show=True, role="reports")
    layer.add_to(fmap)
    return palette


_CATEGORY_COLOURS = ["#1f78b4", "#e31a1c", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928", "#e7298a", "#666666",
                     "#17becf", "#bcbd22"]


# ---------------------------------------------------------------------------------------------------------------
# the panel
# ---------------------------------------------------------------------------------------------------------------


def _grid_names(grids: "gpd.GeoDataFrame") -> dict[str, str]:
    """Each grid's name by its code (the code when it has no name)."""
    return {str(c): str(n) if isinstance(n, str) and n else str(c)
            for c, n in zip(grids["grid_code"], grids.get("name", grids["grid_code"]))}


def default_title(subdistrict: Any, period: str, *, lang: str = "zh") -> str:
    """The page's default title: the subdistrict's name (from its layer, when it has one), the report, the period.

    Examples
    --------
    >>> import pandas as pd
    >>> default_title(pd.DataFrame({"name": ["鼓楼街道"]}), "2025-03-01 – 2025-03-31")
    '鼓楼街道环境卫生网格化管理报告（2025-03-01 – 2025-03-31）'
    >>> default_title(None, "2025-03-01 – 2025-03-31", lang="en")
    'Sanitation grid management report (2025-03-01 – 2025-03-31)'
    """
    labels = REPORT_LABELS["en" if lang == "en" else "zh"]
    names = [] if subdistrict is None or "name" not in subdistrict else \
        [str(n).strip() for n in subdistrict["name"] if isinstance(n, str) and n.strip()]
    place = "、".join(dict.fromkeys(names))
    if lang == "en":
        return f"{place + ' ' if place else ''}{labels['title'][0].lower() if place else labels['title'][0]}" \
               f"{labels['title'][1:]} ({period})"
    return f"{place}{labels['title']}（{period}）"


def _percent(ratio: Any, labels: Mapping[str, str]) -> str:

    return format_percent(ratio, lang=labels["lang"])


def _summary_html(title: str, found: _Analysis, labels: Mapping[str, str], *, illustrative: bool,
                  redact: bool) -> str:

    parts = [f'<span class="gm-title">{html_text(title)}</span>']
    overall = float("nan") if found.coverage is None else overall_coverage(found.coverage)
    parts.append(f'<span class="gm-key">{html_text(labels["overall"])} {html_text(_percent(overall, labels))}</span>')
    if found.coverage is not None:
        parts.append(f'<span class="gm-key">{html_text(labels["dead_corners"])} '
                     f'{len(found.coverage.dead_corners):,}</span>')
    n = 0 if found.reports is None else len(found.reports)
    parts.append(f'<span class="gm-key">{html_text(labels["reports"])} {n:,}</span>')
    if illustrative:
        parts.append(f'<span class="gm-badge">{html_text(labels["illustrative"])}</span>')
    if not redact:
        parts.append(f'<span class="gm-badge gm-warn">{html_text(labels["internal"])}</span>')
    return "<summary>" + " ".join(parts) + "</summary>"


def _legend_html(found: _Analysis, palette: Mapping[str, str], peak: float | None, labels: Mapping[str, str],
                 lang: str) -> str:

    def row(colour: str, text: str, dot: bool = False) -> str:
        cls = "gm-swatch gm-dot" if dot else "gm-swatch"
        return f'<div><span class="{cls}" style="background:{colour}"></span>{html_text(text)}</div>'

    rows = []
    if found.coverage is not None:
        rows.append(f"<div><b>{html_text(labels['coverage_legend'])}</b></div>")
        rows += [row(c, t) for c, t in zip(COVERAGE_COLOURS, coverage_class_labels())]
        rows += [row(COLOURS["dead_corner"], labels["dead_corners"]),
                 row(COLOURS["unvisited"], labels["unvisited_targets"], dot=True),
                 row(COLOURS["visited"], labels["visited_targets"], dot=True),
                 row(COLOURS["zone"], labels["zones"]), row(COLOURS["wall"], labels["wall"])]
        rows += [row(c, t) for c, t in street_legend_entries(found.coverage, street_labels(lang))]
    if palette:
        rows.append(f"<div><b>{html_text(labels['reports'])}</b></div>")
        rows += [row(colour, text, dot=True) for text, colour in palette.items()]
    if peak is not None and peak > 0:
        from matplotlib import colormaps  # deferred: heavy, only drawing needs it
        from matplotlib.colors import to_hex  # deferred: heavy, only drawing needs it

        cmap = colormaps[DENSITY_CMAP]
        stops = ", ".join(f"{to_hex(cmap(t))} {t * 100:.0f}%" for t in np.linspace(0, 1, 9))
        rows.append(f"<div><b>{html_text(labels['density'])}</b></div>"
                    f'<div>{html_text(number_text(FLOOR_FRACTION * peak))} '
                    f'<span class="gm-ramp" style="background:linear-gradient(to right, {stops})"></span> '
                    f"{html_text(number_text(peak))}</div>")
    if found.hot is not None and len(found.hot):
        rows.append(f"<div><b>{html_text(labels['hot'])}</b></div>")
        rows += [row(HOTSPOT_BIN_COLOURS[b], bin_label(b, lang)) for b in (3, 2, 1, 0, -1, -2, -3)]
    return f'<details open><summary>{html_text(labels["legend"])}</summary><div class="gm-legend">' \
           + "".join(rows) + "</div></details>"


def _community_html(table: pd.DataFrame, overall: float, labels: Mapping[str, str]) -> str:

    rows = _cell_texts(table, labels)
    rows[-1][2] = _percent(overall, labels)
    head = "".join(f"<th>{html_text(labels[k])}</th>"
                   for k in ("community", "grids", "coverage", "dead_corners", "reports", "rectified"))
    body = "".join(
        f'<tr{" class=gm-total" if i == len(rows) - 1 else ""}>' + "".join(f"<td>{html_text(c)}</td>" for c in r)
        + "</tr>" for i, r in enumerate(rows))
    return (f'<details open><summary>{html_text(labels["communities"])}</summary>'
            f'<table class="gm-table"><tr>{head}</tr>{body}</table></details>')


def _corner_rows(corners: "gpd.GeoDataFrame", grids: "gpd.GeoDataFrame", basemap: str,
                 labels: Mapping[str, str]) -> list[str]:

    names = _grid_names(grids)
    rows = []
    for _, row in corners.iterrows():
        lat, lon = shift_latlon(float(row["lat"]), float(row["lon"]), basemap)
        grid = names.get(str(row.get("grid_code")), str(row.get("grid_code")))
        cadre = row.get("cadre")
        cadre_text = cadre if isinstance(cadre, str) and cadre else "—"
        rows.append(
            f"<tr><td>{html_text(grid)}</td><td>{float(row['area_m2']):,.0f} m²</td><td>{html_text(cadre_text)}</td>"
            f'<td><button type="button" class="gm-go" data-lat="{lat:.6f}" data-lon="{lon:.6f}">'
            f"{html_text(labels['go'])}</button></td></tr>")
    return rows


def _corners_html(found: _Analysis, basemap: str, labels: Mapping[str, str]) -> str:
    result = found.coverage
    if result is None:  # no GPS fix: where the dead corners are is unknown, not "none"
        return (f'<details><summary>{html_text(labels["corner_list"])} ({html_text(labels["no_data"])})</summary>'
                f'<div>{html_text(labels["no_tracks"])}</div></details>')
    corners = result.dead_corners
    count = 0 if corners is None else len(corners)
    head = f'<summary>{html_text(labels["corner_list"])} ({count:,})</summary>'
    if not count:
        return f"<details>{head}<div>{html_text(labels['none'])}</div></details>"
    largest = corners.sort_values("area_m2", ascending=False, kind="stable").head(MAX_LISTED_CORNERS)
    header = "".join(f"<th>{html_text(labels[k])}</th>" for k in ("grid", "area", "cadre", "go"))
    rows = "".join(_corner_rows(largest, result.grids, basemap, labels))
    more = ""
    if count > len(largest):
        more = f"<div>{html_text(labels['more_corners'].replace('{n}', f'{count - len(largest):,}'))}</div>"
    return f'<details>{head}<table class="gm-table"><tr>{header}</tr>{rows}</table>{more}</details>'


def _panel_html(title: str, period: str, updated: str, found: _Analysis, palette: Mapping[str, str],
                peak: float | None, basemap: str, labels: Mapping[str, str], lang: str, *, illustrative: bool,
                redact: bool) -> str:
    meta = [f'<div class="gm-meta">{html_text(labels["period"])}: {html_text(period)}</div>',
            f'<div class="gm-meta">{html_text(labels["updated"])}: {html_text(updated)}</div>']
    if illustrative:
        meta.append(f'<div class="gm-meta"><span class="gm-badge">{html_text(labels["illustrative"])}</span></div>')
    meta.append(f'<div class="gm-meta">{html_text(labels["redacted"] if redact else labels["internal"])}</div>')
    if found.coverage is None:
        meta.append(f'<div class="gm-meta">{html_text(labels["no_tracks"])}</div>')
    if not found.rebounds_known:
        meta.append(f'<div class="gm-meta">{html_text(labels["no_rebounds"])}</div>')
    body = "".join(meta) + _legend_html(found, palette, peak, labels, lang)
    if found.table is not None and found.coverage is not None:

        body += _community_html(found.table, overall_coverage(found.coverage), labels)
    if found.coverage is not None:  # the area leaders next to the communities, then the streets, lowest first
        body += area_table_html(found.coverage.by_area, lang) + street_table_html(found.coverage.streets, lang)
    body += _corners_html(found, basemap, labels)
    if found.weekly is not None:

        body += chart_html(found.weekly, lang, illustrative, labels)
    summary = _summary_html(title, found, labels, illustrative=illustrative, redact=redact)
    return f'{summary}<div class="gm-body">{body}</div>'


# ---------------------------------------------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------------------------------------------


def _check_options(basemap: str, lang: str, tianditu_key: str | None, tianditu_kind: str) -> dict[str, str]:
    import folium  # deferred: heavy, only drawing needs it

    labels = _labels(lang)  # an unknown language fails here, before any work
    add_basemap(folium.Map(tiles=None), basemap, tianditu_key=tianditu_key, tianditu_kind=tianditu_kind, lang=lang)
    return labels


def report_map(
    workspace_or_layers: "WorkspaceStore | str | PathLike[str] | Mapping[str, Any]",
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    basemap: str = "none",
    tianditu_key: str | None = None,
    tianditu_kind: str = "vector",
    lang: str = "zh",
    redact: bool = True,
    title: str | None = None,
    illustrative: bool | None = None,
    subdistrict: str | None = None,
) -> "folium.Map":
    """Build the leaders' report page as a folium map (shown inline in a notebook).

    Parameters
    ----------
    workspace_or_layers : gridmap.storage.WorkspaceStore, str, os.PathLike or dict
        An open workspace, the path of one, or a dict of layers by name
        (``grids`` needed; ``tracks``, ``targets``, ``reports``,
        ``rectifications``, ``communities``, ``demolition_zones``, ``wall``
        used when present), e.g. :func:`gridmap.sample.sample_layers`. Not
        modified.
    start, end : str or pandas.Timestamp, optional
        The period ``start <= time < end`` for GPS fixes and reports; no zone
        means Asia/Shanghai.
    basemap : {"none", "osm", "tianditu", "amap"}
        Tiles under the layers; over ``"amap"`` every layer is shifted into
        GCJ-02. ``"none"`` makes no network request.
    tianditu_key, tianditu_kind : str
        The Tianditu key (required for ``"tianditu"``) and ``"vector"`` or
        ``"imagery"``.
    lang : {"zh", "en"}
        Language of the labels.
    redact : bool
        True (default): no phone numbers, names masked, no tracks. False is for
        internal use only: the page says so, and a warning is logged.
    title : str, optional
        The page's title, shown literally; default :func:`default_title`: the subdistrict's name, "环境卫生网格化管理报告"
        and the period.
    illustrative : bool, optional
        Show the "illustrative data" mark; default: what the workspace's
        metadata says (False for a dict of layers).
    subdistrict : str, optional
        The 9-digit code of one subdistrict of a workspace holding many: only its rows are read (through the
        store's indexes); not for a dict of layers.

    Returns
    -------
    folium.Map

    Raises
    ------
    SchemaError
        For an unknown language or basemap, or Tianditu without a key.
    GridmapError
        When there are no grids.

    Examples
    --------
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=300, track_days=1)
    >>> m = report_map(layers, start="2025-03-01", end="2025-04-01", illustrative=True)
    >>> html = m.get_root().render()
    >>> "示意数据" in html, "gm-panel" in html
    (True, True)
    """
    labels = _check_options(basemap, lang, tianditu_key, tianditu_kind)
    inputs = _load(workspace_or_layers, start, end, subdistrict)
    layers = inputs.layers
    if layers["grids"] is None:
        raise GridmapError("the workspace has no grids: import them first (gridmap import WORKSPACE grids FILE)")
    if not redact:
        logger.warning("building a report without redaction: names and phone numbers stay in the page; "
                       "keep it internal and do not forward it")
    found = _analyse(layers, start, end)
    return _compose(inputs, found, start=start, end=end, basemap=basemap, tianditu_key=tianditu_key,
                    tianditu_kind=tianditu_kind, lang=lang, redact=redact, title=title, labels=labels,
                    illustrative=inputs.illustrative if illustrative is None else bool(illustrative))


def _compose(inputs: _Inputs, found: _Analysis, *, start: Any, end: Any, basemap: str, tianditu_key: str | None,
             tianditu_kind: str, lang: str, redact: bool, title: str | None, labels: Mapping[str, str],
             illustrative: bool) -> "folium.Map":
    import folium  # deferred: heavy, only drawing needs it

    layers = inputs.layers
    grids = shareable(layers["grids"], redact)
    zones, wall = shareable(layers["demolition_zones"], redact), shareable(layers["wall"], redact)
    if found.coverage is not None:
        found.coverage = shareable_coverage(found.coverage, redact)
    if found.reports is not None:  # only what the page shows is kept (and redacted)
        shown = [c for c in _REPORT_COLUMNS if c in found.reports.columns] + [found.reports.geometry.name]
        found.reports = shareable(found.reports[shown], redact)
    found.sites, found.hot = shareable(found.sites, redact), shareable(found.hot, redact)
    found.table = shareable(found.table, redact)
    bounds = _display(grids.to_crs(4326), basemap).total_bounds
    west, south, east, north = (float(v) for v in bounds)
    # No folium fit_bounds: the panel's script fits the map without animation when the page opens.
    fmap = folium.Map(location=[round((south + north) / 2, 6), round((west + east) / 2, 6)], zoom_start=15,
                      tiles=None, control_scale=True)
    add_basemap(fmap, basemap, tianditu_key=tianditu_key, tianditu_kind=tianditu_kind, lang=lang)
    if found.coverage is not None:
        _coverage_layers(fmap, found.coverage, zones, wall, basemap, labels, lang)
    else:
        _outline_layers(fmap, grids, zones, wall, basemap, labels)
    peak = _analysis_layers(fmap, found, basemap, labels, lang)
    palette = {} if found.reports is None else _reports_layer(fmap, found.reports, grids, basemap, labels, lang,
                                                              layers.get("areas"))
    period = _period_text(start, end, layers)
    shown_title = title or default_title(layers.get("subdistrict"), period, lang=lang)
    panel = _panel_html(shown_title, period, _day(inputs.updated), found, palette,
                        peak, basemap, labels, lang, illustrative=illustrative, redact=redact)
    return finish_page(fmap, panel, bounds=(west, south, east, north), title=shown_title)


def export_html(
    workspace_or_layers: "WorkspaceStore | str | PathLike[str] | Mapping[str, Any]",
    path: str | PathLike[str],
    *,
    offline: bool = True,
    basemap: str = "none",
    lang: str = "zh",
    redact: bool = True,
    title: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    tianditu_key: str | None = None,
    tianditu_kind: str = "vector",
    illustrative: bool | None = None,
    cache: "AssetCache | None" = None,
    subdistrict: str | None = None,
) -> Path:
    """Write the leaders' report page (see :func:`report_map`) as one HTML file.

    Parameters
    ----------
    workspace_or_layers : gridmap.storage.WorkspaceStore, str, os.PathLike or dict
        See :func:`report_map`. Not modified.
    path : str or os.PathLike
        The HTML file; overwritten.
    offline : bool
        True (default): every script, style sheet, font and image is put inside
        the file from the asset cache (:func:`gridmap.maps.assets.asset_cache`);
        with ``basemap="none"`` the page makes no network request. False: the
        page loads Leaflet from the CDNs folium uses.
    basemap, lang, redact, title, start, end, tianditu_key, tianditu_kind, illustrative, subdistrict
        See :func:`report_map`.
    cache : gridmap.maps.assets.AssetCache, optional
        The asset cache for ``offline=True``.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    AssetsMissingError
        Offline, when the asset cache lacks a file; the message names the
        command that fills it (``gridmap assets fetch``, or ``gridmap assets
        fetch --from npm``). Checked before any work; nothing is written.
    SchemaError, GridmapError
        As :func:`report_map`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=300, track_days=1)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = export_html(layers, pathlib.Path(tmp) / "report.html", offline=False)
    ...     "<!DOCTYPE html>" in out.read_text(encoding="utf-8")
    True
    """
    out = Path(path)
    if offline:
        check_assets(cache)
    fmap = report_map(workspace_or_layers, start=start, end=end, basemap=basemap, tianditu_key=tianditu_key,
                      tianditu_kind=tianditu_kind, lang=lang, redact=redact, title=title, illustrative=illustrative,
                      subdistrict=subdistrict)
    out.write_text(page_html(fmap, offline=offline, lang=lang, cache=cache, redact=redact), encoding="utf-8")
    logger.info("wrote %s (%.2f MB)", out, out.stat().st_size / 1e6)
    return out
