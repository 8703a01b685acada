"""The spot-check page: a map of the numbered reports to check, and the printable checklist below it.

The sample is drawn by :func:`gridmap.analysis.spotcheck.spot_check` (for a workspace:
:func:`gridmap.spot_check`, whose result's ``to_html`` comes here); this module only draws
it. The page is written by the one shared page path
(:func:`gridmap.pages.common.page_html`): offline by default, every user string
escaped (:func:`gridmap.maps.escape.html_text`), the checklist inserted after
rendering, never through Jinja2.
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import geopandas as gpd

from gridmap.errors import SchemaError
from gridmap.maps.common import for_web
from gridmap.maps.escape import html_text as esc
from gridmap.maps.page import page_root, stable_ids
from gridmap.pages.common import check_assets, page_html

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.maps.assets import AssetCache
    from gridmap.analysis.spotcheck import SpotCheck

__all__ = ["PAGE_LABELS", "spotcheck_html", "write_spotcheck_page"]

logger = logging.getLogger(__name__)

#: Labels of the page in zh-Hans and English.
PAGE_LABELS: dict[str, dict[str, Any]] = {
    "zh": {
        "title": "抽查清单", "seed": "随机种子", "period": "时段", "by": "分层", "all": "全部",
        "strata": {"community": "社区", "grid": "网格", "cadre": "网格员"},
        "illustrative": "示意数据：边界与报告均为演示用，并非实测", "no": "序号", "report_id": "编号",
        "community": "社区", "grid": "网格", "category": "类别", "reported": "上报时间", "rectified": "整改日期",
        "cadre": "网格员", "point": "位置（WGS84 / GCJ-02）", "result": "核查结果", "pass": "通过", "fail": "不通过",
        "sign": "核查人签字／日期", "count": "共 {n} 条", "map": "抽查点位图",
    },
    "en": {
        "title": "Spot-check list", "seed": "seed", "period": "period", "by": "strata", "all": "all",
        "strata": {"community": "community", "grid": "grid", "cadre": "cadre"},
        "illustrative": "Illustrative data: boundaries and reports are made up, not surveyed", "no": "no.",
        "report_id": "report", "community": "community", "grid": "grid", "category": "category",
        "reported": "reported", "rectified": "rectified", "cadre": "cadre", "point": "point (WGS84 / GCJ-02)",
        "result": "result", "pass": "pass", "fail": "fail", "sign": "checker's signature / date",
        "count": "{n} reports", "map": "map of the reports to check",
    },
}


_PAGE_CSS = """
<style>
.sc-pin { background: #c0392b; color: #fff; border: 2px solid #fff; border-radius: 50%; width: 24px; height: 24px;
  line-height: 20px; text-align: center; font: bold 12px/20px sans-serif; box-shadow: 0 0 3px #000; }
.sc-sheet { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 12px; font-size: 12px; }
.sc-sheet h1 { font-size: 18px; margin: 4px 0; }
.sc-note { color: #a33; font-weight: bold; }
.sc-sheet table { border-collapse: collapse; width: 100%; }
.sc-sheet th, .sc-sheet td { border: 1px solid #555; padding: 3px 4px; vertical-align: top; }
.sc-sheet thead { display: table-header-group; }
.sc-sheet tr { break-inside: avoid; page-break-inside: avoid; }
.sc-box { display: inline-block; width: 11px; height: 11px; border: 1px solid #000; margin: 0 3px 0 6px; }
.sc-sign { display: inline-block; min-width: 90px; border-bottom: 1px solid #000; height: 16px; }
.sc-mono { font-family: monospace; white-space: nowrap; }
@page { size: A4 portrait; margin: 12mm; }
@media print { .folium-map { height: 110mm !important; } .leaflet-control-container { display: none; } }
</style>
"""


def _period_text(sample: SpotCheck, labels: Mapping[str, Any]) -> str:
    first = "…" if sample.start is None else sample.start.strftime("%Y-%m-%d %H:%M")
    last = "…" if sample.end is None else sample.end.strftime("%Y-%m-%d %H:%M")
    return labels["all"] if sample.start is None and sample.end is None else f"[{first}, {last})"


def _sheet_html(sample: SpotCheck, labels: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{esc(labels[k])}</th>" for k in (
        "no", "report_id", "community", "grid", "category", "reported", "rectified", "cadre", "point", "result"))
    rows = []
    for r in sample.checklist.itertuples(index=False):
        community = r.community_name if isinstance(r.community_name, str) else (r.community_code or "")
        grid = r.grid_name if isinstance(r.grid_name, str) else (r.grid or "")
        point = f"{r.lon:.6f}, {r.lat:.6f}<br>{r.lon_gcj02:.6f}, {r.lat_gcj02:.6f}"
        checks = (f"<span class=\"sc-box\"></span>{esc(labels['pass'])}<span class=\"sc-box\"></span>"
                  f"{esc(labels['fail'])}<br><span class=\"sc-sign\"></span>")
        cells = [str(r.no), esc(r.report_id), esc(community), esc(grid), esc(r.category),
                 esc(r.reported_at.strftime("%Y-%m-%d %H:%M")), esc(r.rectified_date or ""), esc(r.cadre or ""),
                 f"<span class=\"sc-mono\">{point}</span>", checks]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    note = f'<p class="sc-note">{esc(labels["illustrative"])}</p>' if sample.illustrative else ""
    facts = (f"{esc(labels['seed'])}: <b>{esc(sample.seed)}</b> · {esc(labels['period'])}: "
             f"{esc(_period_text(sample, labels))} · {esc(labels['by'])}: {esc(labels['strata'][sample.by])} · "
             f"{esc(labels['count'].format(n=len(sample.checklist)))}")
    return (f'<section class="sc-sheet"><h1>{esc(labels["title"])}</h1>{note}<p>{facts}</p>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p>{esc(labels["sign"])}: <span class="sc-sign" style="min-width:240px"></span></p></section>')


def _grid_outlines(fmap: Any, grids: gpd.GeoDataFrame | None) -> None:
    """Thin grid outlines with the grid's name as tooltip, so the checker sees where each point lies."""
    import folium  # deferred: heavy, only drawing needs it

    if grids is None:
        return
    grids = for_web(grids, what="grids")  # a no-op on a sample from gridmap.spot_check, rounded already
    for row in grids.itertuples(index=False):
        geometry = getattr(row, grids.geometry.name)
        if geometry is None or geometry.is_empty:
            continue
        name = getattr(row, "name", None)
        label = name if isinstance(name, str) and name.strip() else getattr(row, "grid_code", "")
        folium.GeoJson(geometry.__geo_interface__, style_function=lambda _f: {
            "color": "#555555", "weight": 1.2, "fill": True, "fillColor": "#ffffff", "fillOpacity": 0.35},
            tooltip=folium.Tooltip(esc(label))).add_to(fmap)


def _map(sample: SpotCheck, labels: Mapping[str, Any]) -> Any:
    import folium  # deferred: heavy, only drawing needs it

    points = sample.checklist
    west, south, east, north = (float(v) for v in points.total_bounds)
    fmap = folium.Map(location=[round((south + north) / 2, 6), round((west + east) / 2, 6)], zoom_start=15,
                      tiles=None, control_scale=True, height=480)
    _grid_outlines(fmap, sample.grids)
    for r in points.itertuples(index=False):
        folium.Marker(
            [float(r.lat), float(r.lon)],
            icon=folium.DivIcon(html=f'<div class="sc-pin">{int(r.no)}</div>', icon_size=(24, 24),
                                icon_anchor=(12, 12)),
            tooltip=folium.Tooltip(esc(f"{int(r.no)} · {r.report_id}")),
        ).add_to(fmap)
    if west < east or south < north:
        fmap.fit_bounds([[south, west], [north, east]], padding=(20, 20))
    page_root(fmap).header.add_child(folium.Element(_PAGE_CSS))
    page_root(fmap).title = esc(f"{labels['title']} · {labels['seed']} {sample.seed}")
    return stable_ids(fmap)


def _page(sample: SpotCheck, *, offline: bool, lang: str, cache: "AssetCache | None") -> str:
    """The page's HTML: the map, then the checklist (inserted after rendering, never through Jinja2)."""
    if lang not in PAGE_LABELS:
        raise SchemaError(f"lang={lang!r} is not known; use one of: {', '.join(PAGE_LABELS)}")
    labels = PAGE_LABELS[lang]
    if offline:
        check_assets(cache)
    return page_html(_map(sample, labels), offline=offline, lang=lang, cache=cache,
                     extra_body=_sheet_html(sample, labels))


def spotcheck_html(sample: "SpotCheck", *, offline: bool = True, lang: str = "zh",
                   cache: "AssetCache | None" = None) -> str:
    """The HTML of the spot-check page of `sample`: the map, then the checklist.

    Parameters
    ----------
    sample : gridmap.SpotCheck
        The drawn sample (:func:`gridmap.spot_check`).
    offline : bool
        True (default): scripts and styles inside the page from the asset cache.
    lang : {"zh", "en"}
        Language of the page.
    cache : gridmap.maps.assets.AssetCache, optional
        The asset cache for ``offline=True``.

    Returns
    -------
    str

    Raises
    ------
    SchemaError
        An unknown `lang`.
    AssetsMissingError
        Offline, when the asset cache is incomplete.

    Examples
    --------
    >>> import gridmap
    >>> sample = gridmap.spot_check(gridmap.sample_layers(n_reports=300, track_days=1), n=8, seed=2)
    >>> html = spotcheck_html(sample, offline=False, lang="en")
    >>> all(rid in html for rid in sample.checklist["report_id"])
    True
    """
    return _page(sample, offline=offline, lang=lang, cache=cache)


def write_spotcheck_page(sample: "SpotCheck", path: str | PathLike[str], *, offline: bool = True, lang: str = "zh",
                         cache: "AssetCache | None" = None) -> Path:
    """Write the spot-check page of `sample` to `path` (overwritten); as :meth:`gridmap.SpotCheck.to_html`.

    Examples
    --------
    >>> import tempfile, pathlib, gridmap
    >>> sample = gridmap.spot_check(gridmap.sample_layers(n_reports=300, track_days=1), n=8, seed=2)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = write_spotcheck_page(sample, pathlib.Path(tmp) / "c.html", offline=False)
    ...     "抽查清单" in out.read_text(encoding="utf-8")
    True
    """
    out = Path(path)
    out.write_text(spotcheck_html(sample, offline=offline, lang=lang, cache=cache), encoding="utf-8")
    logger.info("wrote %s (%.2f MB)", out, out.stat().st_size / 1e6)
    return out
