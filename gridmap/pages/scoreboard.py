"""The scoreboard as one HTML page: the ranking with the evidence on a map.

The map colours each community (grid, cadre's grids, area; a street's line) by
its score and outlines the laggards; the evidence layer shows the period's reports that make a unit
lag (overdue, reopened by a spot check, recurring), each with its id, so a
criticised community can check every one. A panel holds the ranked table, the
rules used and the week-over-week chart. Like the leaders' report
(:mod:`gridmap.pages.report`) the page is one file that works offline, every
user string is escaped, and with ``redact=True`` (the default) cadre, street
chief and area leader names are masked and no phone number is written.
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from gridmap.errors import SchemaError
from gridmap.formatting import format_percent, format_percent_change, is_missing, no_data
from gridmap.maps.common import for_web, shape_layer
from gridmap.maps.compact import CompactPoints
from gridmap.maps.escape import html_text
from gridmap.maps.page import finish_page, page_root
from gridmap.model import category_label
from gridmap.pages.common import chart_html, check_assets, page_html, shareable
from gridmap.analysis.coverage import reach_m
from gridmap.analysis.supervision import (
    BY_CHOICES, REPORTS_NAMED_BY, SCOREBOARD_LAYERS, Rules, ScoreboardRun, cadre_keys, run_scoreboard,
    scoreboard_headers, scoreboard_periods, weekly_figures,
)
from gridmap.storage import LayerReads, read_layers

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd

    from gridmap.maps.assets import AssetCache
    from gridmap.storage import WorkspaceStore

__all__ = ["scoreboard_html", "scoreboard_reads", "write_page", "PAGE_LABELS"]

logger = logging.getLogger(__name__)

#: Labels of the page in zh-Hans and English.
PAGE_LABELS: Mapping[str, Mapping[str, Any]] = {
    "zh": {"title": "环境卫生督查排名", "units": "排名单元", "evidence": "问题依据（超期、反弹、抽查不合格）",
           "overdue": "超期未整改", "reopened": "抽查反弹", "recurring": "整治后反弹", "id": "编号",
           "category": "类别", "reported": "上报时间", "state": "问题", "grid": "网格", "period": "统计时段",
           "previous": "对比上期", "lagging_n": "落后", "rules": "规则", "chart": "按周变化",
           "illustrative": "示意数据，非实测边界", "redacted": "已脱敏：姓名已遮盖，不含电话号码",
           "internal": "内部使用：未脱敏，请勿转发", "more": "另有 {n} 条", "rank": "排名", "of": "共",
           "rule_text": "整改率低于 {rect}、超期率高于 {over}、反弹率高于 {recur}（问题数不少于 {n} 件时）"
                        "或巡查覆盖率低于 {cover} 即为落后；得分 = {weights}",
           "legend_lagging": "红色粗框：落后；灰色：得分无数据", "none": "（无）",
           "no_coverage": "本期无巡查轨迹：覆盖率、死角数为无数据，不计入得分，也不作落后依据",
           "no_rectifications": "工作区无整改记录：整改率、整改用时、超期、反弹为无数据，不计入得分，也不作落后依据",
           "no_previous": "上期无任何数据（无问题、无轨迹）：上期排名与各项变化为无数据",
           "previous_unknown": "上期缺少：{parts}；得分变化为无数据（两期得分口径不同）",
           "list_sep": "、",
           "parts": {"rectification_rate": "整改率", "on_time_rate": "按时率", "coverage_ratio": "覆盖率",
                     "no_recurrence_rate": "不反弹率"},
           "unit_names": {"community": "社区", "grid": "网格", "cadre": "责任干部", "street": "街道（街长）",
                          "area": "片区（包片领导）"}},
    "en": {"title": "Sanitation supervision ranking", "units": "Ranked units",
           "evidence": "Evidence (overdue, recurring, failed spot checks)", "overdue": "overdue",
           "reopened": "reopened by a spot check", "recurring": "came back after its fix", "id": "id",
           "category": "category", "reported": "reported", "state": "problem", "grid": "grid", "period": "period",
           "previous": "compared with", "lagging_n": "lagging", "rules": "rules", "chart": "week by week",
           "illustrative": "illustrative data, not surveyed boundaries",
           "redacted": "redacted: names masked, no phone numbers",
           "internal": "INTERNAL: not redacted, do not forward", "more": "+{n} more", "rank": "rank", "of": "of",
           "rule_text": "lagging: rectification rate below {rect}, overdue rate above {over}, recurrence rate above "
                        "{recur} (with at least {n} reports), or coverage below {cover}; score = {weights}",
           "legend_lagging": "thick red outline: lagging; grey: score no data", "none": "(none)",
           "no_coverage": "no GPS tracks in the period: coverage and dead corners are no data, left out of the score "
                          "and of the lagging rules",
           "no_rectifications": "no rectification records in the workspace: rectification rate, hours to rectify, "
                                "overdue and recurrence are no data, left out of the score and of the lagging rules",
           "no_previous": "no data at all in the previous period (no report, no track): previous rank and changes "
                          "are no data",
           "previous_unknown": "missing in the previous period: {parts}; score change is no data (the two scores "
                               "rest on different parts)",
           "list_sep": ", ",
           "parts": {"rectification_rate": "rectification rate", "on_time_rate": "on-time rate",
                     "coverage_ratio": "coverage", "no_recurrence_rate": "no-recurrence rate"},
           "unit_names": {"community": "community", "grid": "grid", "cadre": "cadre", "street": "street (chief)",
                          "area": "area (leader)"}},
}

_TABLE_COLUMNS = ("rank", "score", "reports", "rectification_rate", "overdue", "recurrence_rate", "coverage_ratio",
                  "rank_change", "lagging_reason")
#: Shown in a unit's tooltip after the table's columns.
_TOOLTIP_CHANGES = ("score_change", "rectification_rate_change", "coverage_ratio_change")
_RATES = ("rectification_rate", "overdue_rate", "recurrence_rate", "coverage_ratio")
_SCORE_CLASSES = ((90.0, "#1a9850"), (80.0, "#91cf60"), (70.0, "#fee08b"), (60.0, "#fc8d59"), (-1.0, "#d73027"))
#: Fill of a unit whose score is unknown (no data): grey, never a score class.
_NO_DATA_COLOUR = "#bdbdbd"
_STATE_COLOURS = {"overdue": "#e31a1c", "reopened": "#6a3d9a", "recurring": "#ff7f00"}


def _score_colour(score: Any) -> str:
    if is_missing(score):
        return _NO_DATA_COLOUR
    for floor, colour in _SCORE_CLASSES:
        if float(score) >= floor:
            return colour
    return _SCORE_CLASSES[-1][1]


def _cell(column: str, value: Any, lang: str = "zh") -> str:
    """A table cell as text: percentages by :func:`gridmap.formatting.format_percent`, "无数据" when missing."""
    if column in _RATES:
        return format_percent(value, lang=lang)
    if column in ("rectification_rate_change", "coverage_ratio_change"):
        return format_percent_change(value, lang=lang)
    if column == "lagging_reason":
        return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    if is_missing(value):
        return no_data(lang)
    if column in ("score", "score_change"):
        return f"{float(value):+.1f}" if column == "score_change" else f"{float(value):.1f}"
    if column == "rank_change":
        return ("↑" if value > 0 else "↓" if value < 0 else "→") + f"{abs(int(value))}"
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# shapes and evidence
# ---------------------------------------------------------------------------------------------------------------


def _unit_shapes(layers: Mapping[str, Any], by: str) -> "gpd.GeoDataFrame":
    """One (multi)polygon per unit, EPSG:4326, keyed by the unit's column."""
    grids = layers["grids"].to_crs(4326)
    key = BY_CHOICES[by]
    if by == "street":  # the streets' lines
        return layers["streets"].to_crs(4326).assign(street_name=lambda f: f["street_name"].astype(str))[
            [key, "geometry"]]
    if by == "area":  # the areas' polygons, else the union of the grids naming the area
        areas = layers.get("areas")
        if areas is not None and len(areas):
            return areas.to_crs(4326)[[key, "geometry"]]
        return grids[grids[key].notna()][[key, "geometry"]].dissolve(by=key, as_index=False)
    if by == "grid":
        return grids[[key, "geometry"]]
    if by == "community" and layers.get("communities") is not None and len(layers["communities"]):
        return layers["communities"].to_crs(4326)[[key, "geometry"]]
    frame = grids.assign(cadre=cadre_keys(grids["cadre"]))
    return frame[[key, "geometry"]].dissolve(by=key, as_index=False)


def _evidence(reports: "gpd.GeoDataFrame", facts: pd.DataFrame) -> "gpd.GeoDataFrame":
    """The period's reports that count against a unit: overdue, reopened, or recurring (from the run's facts).

    An unknown fact (no rectification recorded in the workspace) is no evidence.
    """
    def known_true(column: str) -> np.ndarray:
        return facts[column].astype("boolean").fillna(False).to_numpy(dtype=bool)

    state = np.where(known_true("overdue"), "overdue", np.where(known_true("reopened"), "reopened",
                                                                np.where(known_true("recurrence"), "recurring", "")))
    keep = state != ""
    chosen = reports.loc[facts.index[keep]]
    out = chosen[["report_id", "reported_at", "category", "grid_code", chosen.geometry.name]].copy()
    out["state"] = state[keep]
    return out.to_crs(4326)


# ---------------------------------------------------------------------------------------------------------------
# the map
# ---------------------------------------------------------------------------------------------------------------


def _unit_label(row: Mapping[str, Any], by: str) -> str:
    key = BY_CHOICES[by]
    name = row.get("name")
    if by == "cadre":
        return str(row[key]) or "—"
    if by == "street":  # the street and its chief (masked on a shared page)
        chief = row.get("street_chief")
        return f"{row[key]}（{chief}）" if isinstance(chief, str) and chief else str(row[key])
    leader = row.get("leader") if by == "area" else None  # an area names its leader (masked on a shared page)
    if isinstance(leader, str) and leader:
        return f"{name}（{row[key]}，{leader}）" if isinstance(name, str) and name else f"{row[key]}（{leader}）"
    return f"{name}（{row[key]}）" if isinstance(name, str) and name else str(row[key])


def _tooltip(row: Mapping[str, Any], by: str, headers: Mapping[str, str], total: int, lang: str) -> str:
    lines = [f"<b>{html_text(_unit_label(row, by))}</b>",
             f"{html_text(headers['rank'])}: {int(row['rank'])} / {total}"]
    for column in _TABLE_COLUMNS[1:-1] + _TOOLTIP_CHANGES:
        lines.append(f"{html_text(headers[column])}: {html_text(_cell(column, row[column], lang))}")
    if row["lagging_reason"]:
        lines.append(f'<span style="color:#b00020">{html_text(headers["lagging_reason"])}: '
                     f'{html_text(row["lagging_reason"])}</span>')
    return "<br>".join(lines)


def _units_layer(fmap: "folium.Map", shapes: "gpd.GeoDataFrame", board: pd.DataFrame, by: str, lang: str,
                 labels: Mapping[str, str]) -> None:

    key = BY_CHOICES[by]
    headers = scoreboard_headers(board.columns, lang)
    joined = shapes.merge(board, on=key, how="inner")

    def style(row: Any) -> dict[str, Any]:
        lagging = bool(row["lagging"])
        if by == "street":  # a line: its colour is the score's
            return {"color": "#b00020" if lagging else _score_colour(row["score"]), "weight": 7 if lagging else 5,
                    "opacity": 0.85}
        return {"fillColor": _score_colour(row["score"]), "fillOpacity": 0.55, "weight": 4 if lagging else 1.5,
                "color": "#b00020" if lagging else "#555555"}

    shape_layer(fmap, labels["units"], joined, style=style,
                tooltip=lambda row: _tooltip(row, by, headers, len(board), lang))


def _evidence_layer(fmap: "folium.Map", evidence: "gpd.GeoDataFrame", labels: Mapping[str, str], lang: str) -> None:

    if len(evidence) == 0:
        return
    xy = evidence.geometry.get_coordinates()
    states = [labels[s] for s in evidence["state"]]
    fields = [(labels["state"], states), (labels["id"], evidence["report_id"].astype(str).tolist()),
              (labels["category"], [category_label(c, lang) for c in evidence["category"]]),
              (labels["reported"], [t.strftime("%Y-%m-%d %H:%M") for t in evidence["reported_at"]]),
              (labels["grid"], evidence["grid_code"].astype(str).tolist())]
    palette = {labels[k]: v for k, v in _STATE_COLOURS.items()}
    CompactPoints(xy["x"].to_numpy(), xy["y"].to_numpy(), fields, colour_field=0, palette=palette, id_field=1,
                  more=labels["more"], name=f"{labels['evidence']} ({len(evidence)})", role="evidence",
                  radius=6.0).add_to(fmap)


# ---------------------------------------------------------------------------------------------------------------
# the panel
# ---------------------------------------------------------------------------------------------------------------


def _rules_text(board: pd.DataFrame, labels: Mapping[str, str], lang: str) -> str:
    rules = board.attrs["rules"]
    names = {"rectification_rate": "整改率", "on_time_rate": "按时率", "coverage_ratio": "覆盖率",
             "no_recurrence_rate": "不反弹率"} if lang == "zh" else None
    weights = " + ".join(f"{w:g}×{(names or {}).get(k, k)}" for k, w in rules["weights"].items())

    def pct(name: str) -> str:
        return format_percent(rules[name], lang=lang)

    return labels["rule_text"].format(rect=pct("min_rectification_rate"), over=pct("max_overdue_rate"),
                                      recur=pct("max_recurrence_rate"), n=rules["min_reports"],
                                      cover=pct("min_coverage_ratio"), weights=weights)


def _table_html(board: pd.DataFrame, by: str, lang: str) -> str:
    headers = scoreboard_headers(board.columns, lang)
    labels = PAGE_LABELS[lang]
    head = "".join(f"<th>{html_text(headers[c])}</th>" for c in ("rank",)) + \
        f"<th>{html_text(labels['unit_names'][by])}</th>" + \
        "".join(f"<th>{html_text(headers[c])}</th>" for c in _TABLE_COLUMNS[1:])
    rows = []
    for row in board.to_dict("records"):
        style = ' class="gm-lag"' if row["lagging"] else ""
        cells = [f"<td>{int(row['rank'])}</td>", f"<td>{html_text(_unit_label(row, by))}</td>"]
        cells += [f"<td>{html_text(_cell(c, row[c], lang))}</td>" for c in _TABLE_COLUMNS[1:]]
        rows.append(f"<tr{style}>{''.join(cells)}</tr>")
    return (f'<div class="gm-scroll"><table class="gm-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _panel_html(board: pd.DataFrame, weekly: pd.DataFrame | None, title: str, by: str, lang: str,
                labels: Mapping[str, str], *, illustrative: bool, redact: bool) -> str:
    attrs = board.attrs
    start, end = pd.Timestamp(attrs["start"]), pd.Timestamp(attrs["end"])
    period = f"{start:%Y-%m-%d} – {(end - pd.Timedelta(seconds=1)):%Y-%m-%d}"
    lagging = int(board["lagging"].sum())
    badge = f' <span class="gm-badge">{html_text(labels["illustrative"])}</span>' if illustrative else ""
    summary = (f"<summary><b>{html_text(title)}</b> {html_text(period)} · {html_text(labels['lagging_n'])} "
               f"{lagging} / {len(board)}{badge}</summary>")
    meta = [f'<div class="gm-meta">{html_text(labels["period"])}: {html_text(period)}; '
            f'{html_text(labels["previous"])} {html_text(pd.Timestamp(attrs["previous_start"]).strftime("%Y-%m-%d"))}'
            f"</div>",
            f'<div class="gm-meta">{html_text(labels["redacted"] if redact else labels["internal"])}</div>',
            f'<div class="gm-meta">{html_text(labels["rules"])}: {html_text(_rules_text(board, labels, lang))}</div>',
            f'<div class="gm-meta">{html_text(labels["legend_lagging"])}</div>']
    meta += [f'<div class="gm-meta gm-nodata">{html_text(text)}</div>' for text in _missing_notes(attrs, labels)]
    body = "".join(meta) + _table_html(board, by, lang) + chart_html(weekly, lang, illustrative, labels)
    return f'{summary}<div class="gm-body">{body}</div>'


def _missing_notes(attrs: Mapping[str, Any], labels: Mapping[str, Any]) -> list[str]:
    """The notes that say which parts of the figures are unknown (no data), from the board's attrs."""
    unknown = list(attrs.get("unknown_parts", []))
    notes = []
    if "rectification_rate" in unknown:
        notes.append(labels["no_rectifications"])
    if "coverage_ratio" in unknown:
        notes.append(labels["no_coverage"])
    before = list(attrs.get("previous_unknown_parts", []))
    if not attrs.get("previous_has_data", True):
        notes.append(labels["no_previous"])
    elif before != unknown:
        missing = [labels["parts"][p] for p in before] or [labels["none"]]
        notes.append(labels["previous_unknown"].format(parts=labels["list_sep"].join(missing)))
    return notes


_EXTRA_CSS = (".gm-scroll{overflow-x:auto;max-width:100%}"
              ".gm-table{border-collapse:collapse;font-size:12px;margin:6px 0}"
              ".gm-table th,.gm-table td{border:1px solid #ccc;padding:2px 4px;text-align:right}"
              ".gm-table td:nth-child(2),.gm-table td:last-child{text-align:left}"
              ".gm-lag td{background:#fde0e0}.gm-chart{max-width:100%;height:auto;display:block;margin-top:4px}")


# ---------------------------------------------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------------------------------------------


def _page(run: ScoreboardRun, weekly: pd.DataFrame | None, *, lang: str, redact: bool, illustrative: bool,
          title: str | None) -> "folium.Map":
    import folium  # deferred: heavy, only drawing needs it

    layers, board, by = run.layers, run.board, run.board.attrs["by"]
    labels = PAGE_LABELS[lang]
    shown = shareable(board, redact)
    shown.attrs = dict(board.attrs)
    shapes = shareable(for_web(_unit_shapes(layers, by), what="units"), redact)
    west, south, east, north = (float(v) for v in layers["grids"].to_crs(4326).total_bounds)
    fmap = folium.Map(location=[round((south + north) / 2, 6), round((west + east) / 2, 6)], zoom_start=15,
                      tiles=None, control_scale=True)
    _units_layer(fmap, shapes, shown, by, lang, labels)
    _evidence_layer(fmap, _evidence(layers["reports"], run.facts), labels, lang)
    shown_title = title or labels["title"]
    panel = _panel_html(shown, weekly, shown_title, by, lang, labels, illustrative=illustrative, redact=redact)
    page_root(fmap).header.add_child(folium.Element(f"<style>{_EXTRA_CSS}</style>"))
    return finish_page(fmap, panel, bounds=(west, south, east, north), title=shown_title)


def scoreboard_html(
    workspace: "WorkspaceStore | str | PathLike[str] | Mapping[str, Any]",
    path: str | PathLike[str],
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    by: str = "community",
    deadlines: Mapping[str, float] | None = None,
    rules: Rules | Mapping[str, Any] | None = None,
    lang: str = "zh",
    offline: bool = True,
    redact: bool = True,
    weeks: int = 8,
    title: str | None = None,
    illustrative: bool | None = None,
    cache: "AssetCache | None" = None,
    now: pd.Timestamp | None = None,
    subdistrict: str | None = None,
) -> Path:
    """Write the scoreboard of ``[start, end)`` as one HTML page with its evidence on a map.

    Parameters
    ----------
    workspace : WorkspaceStore, path, or dict of layers
        As :func:`gridmap.analysis.supervision.scoreboard`. Not modified.
    path : str or os.PathLike
        The HTML file; overwritten.
    start, end, by, deadlines, rules, lang, now
        As :func:`gridmap.analysis.supervision.scoreboard`.
    offline : bool
        True (default): Leaflet and every asset inside the file (from the
        asset cache, see ``gridmap assets fetch``); False: linked from CDNs.
    redact : bool
        True (default): cadre, street chief and area leader names masked, no
        phone numbers; False for internal use only (the page says so).
    weeks : int
        Weeks of the week-over-week chart of communities ending with the
        period (0: none; drawn for ``by="community"`` only: a line per grid or
        cadre would be unreadable).
    title : str, optional
        The page's title, shown literally.
    illustrative : bool, optional
        Mark the page as illustrative; default: the workspace's metadata.
    cache : gridmap.maps.assets.AssetCache, optional
        The asset cache for ``offline=True``.
    subdistrict : str, optional
        The 9-digit code of one subdistrict of a workspace holding many: only its rows are read (through the
        store's indexes); not for a dict of layers.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    AssetsMissingError
        Offline, when the asset cache lacks a file (checked before any work).
    SchemaError, GridmapError
        As :func:`gridmap.analysis.supervision.scoreboard`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=400, track_days=7)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = scoreboard_html(layers, pathlib.Path(tmp) / "board.html", start="2025-03-03",
    ...                           end="2025-03-10", offline=False, weeks=2)
    ...     "督查排名" in out.read_text(encoding="utf-8")
    True
    """

    if lang not in PAGE_LABELS:
        raise SchemaError(f"lang must be 'zh' or 'en', got {lang!r}")
    if offline:
        check_assets(cache)
    charted = weeks > 0 and by == "community"
    reads = scoreboard_reads(start, end, weeks=weeks if charted else 0, subdistrict=subdistrict)
    layers, meta = read_layers(workspace, SCOREBOARD_LAYERS, what="the scoreboard", reads=reads)
    run = run_scoreboard(layers, start=start, end=end, by=by, deadlines=deadlines, rules=rules, lang=lang, now=now,
                         meta=meta)
    weekly = weekly_figures(run.layers, end=run.board.attrs["end"], weeks=weeks, by=by, deadlines=deadlines,
                            now=now) if charted else None
    return write_page(run, weekly, path, lang=lang, offline=offline, redact=redact, title=title,
                      illustrative=illustrative, cache=cache)


def scoreboard_reads(start: Any, end: Any, *, weeks: int = 0, subdistrict: str | None = None) -> LayerReads:
    """What a scoreboard reads of a store (:func:`gridmap.analysis.supervision.scoreboard_periods`, and the reports
    its rectifications name): of one subdistrict, the GPS fixes that can still cover its grids
    (:func:`gridmap.analysis.coverage.reach_m`)."""
    return LayerReads(scoreboard_periods(start, end, weeks=weeks), REPORTS_NAMED_BY, subdistrict, {"tracks": reach_m()})


def write_page(run: ScoreboardRun, weekly: pd.DataFrame | None, path: str | PathLike[str], *, lang: str, offline: bool,
               redact: bool, title: str | None = None, illustrative: bool | None = None,
               cache: "AssetCache | None" = None) -> Path:
    """Write the page of a scoreboard already computed (``gridmap scoreboard`` reuses its run for ``--html``)."""

    shown_illustrative = run.meta.get("illustrative") == "true" if illustrative is None else bool(illustrative)
    if not redact:
        logger.warning("writing a scoreboard page without redaction: keep it internal and do not forward it")
    fmap = _page(run, weekly, lang=lang, redact=redact, illustrative=shown_illustrative, title=title)
    out = Path(path)
    out.write_text(page_html(fmap, offline=offline, lang=lang, cache=cache, redact=redact), encoding="utf-8")
    logger.info("wrote %s (%.2f MB)", out, out.stat().st_size / 1e6)
    return out
