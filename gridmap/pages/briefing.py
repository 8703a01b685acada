"""A printable one-page briefing (A4 landscape) for leaders: coverage, heatmap and a community table.

The page holds, side by side, the sweep-coverage map of the period
(:func:`gridmap.sweep_coverage`), the density of the period's reports in
reports per km² per month (:func:`gridmap.kde`, divided by
:func:`gridmap.analysis.selection.period_months`) and a per-community table (grids,
coverage, dead corners, reports, rectified share); a title, the period, a
legend, scale bars, north arrows and, for the sample, an "illustrative data"
mark. It is drawn with the helpers of :mod:`gridmap.maps.static` and
:mod:`gridmap.maps.static_density` on a figure of its own (Agg canvas, never
``pyplot``), every label in a real CJK font. A PDF embeds that font as a
TrueType subset (``pdf.fonttype`` 42), so the Chinese text prints and can be
searched.

With street and area figures (``sweep_coverage(streets=, areas=)``) the map
draws the streets in their coverage class and the dead stretches, and two small
tables, right of the legend, give each area's coverage and the lowest-covered
streets (:func:`gridmap.pages.levels.draw_briefing_levels`).

Privacy: no personal names or phone numbers reach the page. Cadres, secretaries,
area leaders and street chiefs are people, so rows are labelled by community,
area or street name and maps by coverage percentages; no GPS track is drawn,
only the ground it covered.
"""

from __future__ import annotations

import logging
import math
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.errors import GridmapError, SchemaError
from gridmap.analysis.coverage import overall_coverage, reach_m, sweep_coverage
from gridmap.crs import metric_crs
from gridmap.analysis.density import kde
from gridmap.formatting import format_percent, is_missing, no_data
from gridmap.maps.coverage import labels_for as coverage_labels
from gridmap.maps.density import DENSITY_CMAP, FLOOR_FRACTION, number_text, units_text
from gridmap.maps.density import labels_for as density_labels
from gridmap.maps.fonts import cjk_font_properties
from gridmap.maps.static import (
    draw_coverage_layers, draw_coverage_legend, draw_footer, draw_heading, draw_scale_and_north, map_axes, new_figure,
    sized_font,
)
from gridmap.maps.static_density import draw_heat_layers, lonlat_centre
from gridmap.pages.levels import coverage_levels, draw_briefing_levels
from gridmap.analysis.recurrence import DEFAULT_WINDOW_DAYS
from gridmap.analysis.selection import as_time, period_months, pushdown_period, select_reports
from gridmap.analysis.supervision import REPORTS_NAMED_BY, scoreboard_periods
from gridmap.storage import LayerReads, read_layers

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    from gridmap.analysis.coverage import CoverageResult
    from gridmap.analysis.density import DensityGrid
    from gridmap.storage import Workspace

__all__ = ["briefing", "community_table", "rectified_share", "rectified_known", "page_periods", "page_reads",
           "A4_LANDSCAPE_IN"]

logger = logging.getLogger(__name__)

#: ISO 216 A4 (297 mm × 210 mm) in landscape, inches.
A4_LANDSCAPE_IN = (297 / 25.4, 210 / 25.4)
#: Report statuses counted as rectified (a reopened report is not).
RECTIFIED_STATUSES = frozenset({"rectified", "verified"})

_LAYERS = ("grids", "tracks", "targets", "reports", "rectifications", "communities", "demolition_zones", "wall",
           "streets", "areas")
_FORMATS = {".png": "png", ".pdf": "pdf"}
_DPI = {"png": 150.0, "pdf": 300.0}
_COVERAGE_BOX = (0.01, 0.10, 0.335, 0.74)
_HEAT_BOX = (0.355, 0.10, 0.335, 0.74)
_TABLE_BOX = (0.705, 0.50, 0.285, 0.36)
_LABELS = {
    "zh": {"title": "环境卫生网格化管理简报", "period": "时段", "coverage_panel": "网格清扫覆盖率",
           "heat_panel": "问题报告密度", "community": "社区", "grids": "网格数", "coverage": "覆盖率",
           "dead_corners": "卫生死角", "reports": "报告数", "rectified": "整改率", "total": "合计",
           "table": "各社区情况", "no_reports": "本时段无问题报告", "overall": "总覆盖率", "all_reports": "问题报告"},
    "en": {"title": "sanitation grid management briefing", "period": "period", "coverage_panel": "sweep coverage",
           "heat_panel": "density of problem reports", "community": "community", "grids": "grids",
           "coverage": "coverage", "dead_corners": "dead corners", "reports": "reports", "rectified": "rectified",
           "total": "total", "table": "by community", "no_reports": "no problem reports in the period",
           "overall": "overall coverage", "all_reports": "problem reports"},
}


def _labels(lang: str) -> dict[str, str]:
    merged = {**density_labels(lang), **coverage_labels(lang)}  # both raise SchemaError for an unknown `lang`
    merged.update(_LABELS[lang])
    return merged


def _format_for(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SchemaError(f"cannot tell the briefing's format from {path.name!r}: name the file *.png or *.pdf")
    return fmt


# ---------------------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------------------


def page_periods(start: Any, end: Any, *, weeks: int = 0, history: bool = False) -> dict[str, tuple[Any, Any]]:
    """What a page for the period ``[start, end)`` reads of each layer (:class:`gridmap.storage.LayerReads`), with
    the `weeks` weeks before `end` of its charts (:func:`gridmap.analysis.supervision.weekly_figures`).

    The period's reports and GPS fixes and the rectifications made since it began (a report's rectification comes
    after it; one dated earlier is ignored); from the charts' first week when that is earlier. None when no bound
    is given, a bound is bad (the page then refuses it as before), or the charts' weeks have no end (they are then
    the weeks of the latest report, found in the whole layer).

    With `history` (the leaders' page: a report's recurrence is judged against its history,
    :mod:`gridmap.analysis.recurrence`), the reports and rectifications are read by the scoreboard's rule: with both
    bounds, exactly what a scoreboard of the same period and `weeks` reads
    (:func:`gridmap.analysis.supervision.scoreboard_periods`), so both compute the recurrences once; with one bound,
    also the rectifications of the :data:`~gridmap.analysis.recurrence.DEFAULT_WINDOW_DAYS` before the start.
    :func:`page_reads` then adds the reports those rectifications name, of any age.

    Examples
    --------
    >>> [t.date().isoformat() for t in page_periods("2025-03-01", "2025-04-01")["tracks"]]
    ['2025-03-01', '2025-04-01']
    >>> page_periods("2025-03-01", "2025-04-01", weeks=8)["rectifications"][0].date().isoformat()
    '2025-02-04'
    >>> with_history = page_periods("2025-03-03", "2025-03-10", weeks=8, history=True)
    >>> [with_history[name][0].date().isoformat() for name in ("reports", "tracks", "rectifications")]
    ['2025-01-13', '2025-01-13', '2024-12-14']
    >>> page_periods(None, None), page_periods("2025-03-01", None, weeks=8), page_periods("someday", None)
    ({}, {}, {})
    """
    bounds = pushdown_period(start, end)
    if bounds is None:
        return {}
    first, last = bounds
    if weeks > 0:
        if last is None:
            return {}
        chart = last - pd.Timedelta(days=7 * weeks)
        first = None if first is None else min(first, chart)
    reads = {"reports": (first, last), "tracks": (first, last), "rectifications": (first, None)}
    if history and first is not None:
        board = scoreboard_periods(start, end, weeks=weeks) if last is not None else {}
        reads["reports"] = board.get("reports", reads["reports"])
        reads["rectifications"] = board.get("rectifications", (first - pd.Timedelta(days=DEFAULT_WINDOW_DAYS), None))
    return reads


def page_reads(start: Any, end: Any, *, weeks: int = 0, subdistrict: str | None = None,
               history: bool = False) -> LayerReads:
    """What a page reads of a store (:func:`page_periods`): of one subdistrict, the GPS fixes that can still cover
    its grids (:func:`gridmap.analysis.coverage.reach_m`); with `history`, also the reports the rectifications read
    name (:data:`gridmap.analysis.supervision.REPORTS_NAMED_BY`), as a scoreboard reads them."""
    return LayerReads(page_periods(start, end, weeks=weeks, history=history), REPORTS_NAMED_BY if history else {},
                      subdistrict, {"tracks": reach_m()})


def _load(source: Any, start: Any, end: Any, subdistrict: str | None = None) -> tuple[dict[str, Any], bool]:
    """The layers the page needs for the period (of one subdistrict) and the workspace's illustrative flag (False
    for plain layers)."""

    layers, meta = read_layers(source, _LAYERS, what="briefing", reads=page_reads(start, end, subdistrict=subdistrict))
    return layers, meta.get("illustrative") == "true"


def _present(frame: Any) -> Any:
    return frame if frame is not None and len(frame) else None


def _reports_by_community(reports: "gpd.GeoDataFrame", grids: "gpd.GeoDataFrame") -> pd.Series:
    """Community code of each report: from its grid code, else from the grid its point lies in."""

    to_community = dict(zip(grids["grid_code"].astype(str), grids["community_code"].astype(str)))
    codes = reports["grid_code"].astype(object) if "grid_code" in reports else pd.Series(None, index=reports.index)
    out = pd.Series([to_community.get(str(c)) if isinstance(c, str) else None for c in codes], index=reports.index,
                    dtype=object)
    missing = out.isna().to_numpy()
    if missing.any() and isinstance(reports, gpd.GeoDataFrame) and reports.crs is not None:
        points = reports.loc[missing, [reports.geometry.name]].to_crs(grids.crs)
        hits = gpd.sjoin(points, grids[["community_code", grids.geometry.name]], predicate="within", how="left")
        first = hits[~hits.index.duplicated(keep="first")]["community_code"]
        out.loc[missing] = first.reindex(points.index).astype(object).to_numpy()
    return out


def community_table(
    coverage: "CoverageResult",
    reports: "pd.DataFrame | None" = None,
    *,
    communities: "pd.DataFrame | None" = None,
    rectified_known: bool | None = None,
) -> pd.DataFrame:
    """One row per community: name, grids, coverage, dead corners, reports and the rectified share.

    Parameters
    ----------
    coverage : gridmap.analysis.coverage.CoverageResult
        What :func:`gridmap.sweep_coverage` returned for the period.
    reports : pandas.DataFrame, optional
        The period's reports (``grid_code``, ``status``; reports without a grid
        code are placed by their point). Not modified.
    communities : pandas.DataFrame, optional
        The ``communities`` layer, for the names; without it the code is the name.
    rectified_known : bool, optional
        Whether the data can tell a rectified report at all (see :func:`rectified_known`); when False every
        ``rectified_ratio`` is NaN ("no data"), never 0. Default: the reports carry a status.

    Returns
    -------
    pandas.DataFrame
        ``community_code``, ``name``, ``grids``, ``coverage_ratio`` (0 to 1),
        ``dead_corners`` (NaN with the coverage unknown), ``reports``, ``rectified_ratio`` (reports rectified or
        verified over reports; NaN without reports or when `rectified_known`
        is False), sorted by code. ``coverage_ratio`` is NaN when the coverage
        used no GPS fix (:func:`gridmap.analysis.coverage.overall_coverage` is NaN). No
        personal column.

    Examples
    --------
    >>> import gridmap
    >>> b = gridmap.sample_boundaries()
    >>> r = gridmap.sweep_coverage(b["grids"], gridmap.sample_tracks(b, n_fixes=500, days=1))
    >>> table = community_table(r, communities=b["communities"])
    >>> len(table), int(table["grids"].sum())
    (6, 36)
    """
    roll = coverage.by_community
    table = pd.DataFrame({
        "community_code": roll["community_code"].astype(str).to_numpy(),
        "grids": roll["grids"].astype(int).to_numpy(),
        "coverage_ratio": roll["coverage_ratio"].astype(float).to_numpy(),
        "dead_corners": _counts(roll["dead_corners"]),
    })
    names = {} if communities is None else dict(zip(communities["community_code"].astype(str),
                                                    communities["name"].astype(str)))
    table.insert(1, "name", [names.get(code, code) for code in table["community_code"]])

    if math.isnan(overall_coverage(coverage)):  # no GPS fix: coverage and dead corners unknown, not 0 / every grid
        table["coverage_ratio"] = np.nan
        table["dead_corners"] = np.nan
    counts, rectified = pd.Series(dtype=float), pd.Series(dtype=float)
    if reports is not None and len(reports):
        owner = _reports_by_community(reports, coverage.grids)
        status = reports["status"].astype(object) if "status" in reports else pd.Series(None, index=reports.index)
        done = status.isin(list(RECTIFIED_STATUSES)).to_numpy()
        counts = owner.value_counts()
        rectified = pd.Series(done, index=reports.index).groupby(owner).sum()
    n = table["community_code"].map(counts).fillna(0).to_numpy(dtype=float)
    fixed = table["community_code"].map(rectified).fillna(0).to_numpy(dtype=float)
    table["reports"] = n.astype(int)
    known = (reports is not None and "status" in reports and bool(reports["status"].notna().any())
             if rectified_known is None else rectified_known)
    table["rectified_ratio"] = np.divide(fixed, n, out=np.full(len(n), np.nan), where=(n > 0) & known)
    return table.sort_values("community_code", ignore_index=True)


def rectified_known(reports: "pd.DataFrame | None", rectifications: "pd.DataFrame | None") -> bool:
    """Whether the data can tell how many reports were rectified.

    Only when the ``rectifications`` layer holds a record or a report's status says it was rectified or
    verified. Without either, nothing records a rectification, so the rectified share is unknown
    ("无数据"), not 0 %.

    Examples
    --------
    >>> import pandas as pd
    >>> reports = pd.DataFrame({"status": ["reported", "reported"]})
    >>> rectified_known(reports, None), rectified_known(reports.assign(status=["verified", None]), None)
    (False, True)
    """
    if rectifications is not None and len(rectifications):
        return True
    return bool(reports is not None and "status" in reports and reports["status"].isin(list(RECTIFIED_STATUSES)).any())


# ---------------------------------------------------------------------------------------------------------------
# the period
# ---------------------------------------------------------------------------------------------------------------


def _period_text(start: Any, end: Any, layers: Mapping[str, Any]) -> str:
    """First and last day of the period: the bounds given (`end` exclusive), else the first/last time of the data
    inside the bound given ("…" without any)."""

    times = [frame[col].dropna() for frame, col in ((layers.get("reports"), "reported_at"),
                                                    (layers.get("tracks"), "time"))
             if frame is not None and col in frame and len(frame)]
    seen = pd.concat(times) if times else pd.Series(dtype=object)
    if len(seen) and start is not None:
        seen = seen[seen >= as_time(start)]
    if len(seen) and end is not None:
        seen = seen[seen < as_time(end)]
    first = as_time(start) if start is not None else (as_time(seen.min()) if len(seen) else None)
    if end is not None:
        last = as_time(end) - pd.Timedelta(1, "ns")
    else:
        last = as_time(seen.max()) if len(seen) else None
    day = (lambda t: "…" if t is None else f"{t.tz_convert('Asia/Shanghai'):%Y-%m-%d}")
    return f"{day(first)} – {day(last)}"


# ---------------------------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------------------------


def _coverage_panel(fig: "Figure", result: "CoverageResult", layers: Mapping[str, Any], labels: Mapping[str, str],
                    font: "FontProperties") -> Any:

    crs = metric_crs(result.grids)
    ax = map_axes(fig, result.grids.to_crs(crs).total_bounds, _COVERAGE_BOX)
    zones, wall = _present(layers.get("demolition_zones")), _present(layers.get("wall"))
    draw_coverage_layers(ax, result, crs, font, demolition_zones=zones, wall=wall)
    draw_scale_and_north(ax, crs, lonlat_centre(crs, result.grids.to_crs(crs).total_bounds), labels["north"], font)
    ax.set_title(labels["coverage_panel"], fontproperties=sized_font(font, 12, bold=True))
    draw_coverage_legend(fig, dict(labels), font, zones=zones is not None, wall=wall is not None, result=result)
    legend = fig.legends[-1]  # the coverage legend of gridmap.maps.static, moved under the table
    legend.set_loc("upper left")
    legend.set_bbox_to_anchor((_TABLE_BOX[0], _TABLE_BOX[1] - 0.03), transform=fig.transFigure)
    for text in legend.get_texts():
        text.set_fontproperties(sized_font(font, 8))
    return crs


def _heat_panel(fig: "Figure", density: "DensityGrid | None", months: float, grids: "gpd.GeoDataFrame",
                wall: Any, labels: Mapping[str, str], lang: str, font: "FontProperties") -> None:

    crs = density.crs if density is not None else metric_crs(grids)
    bounds = grids.to_crs(crs).total_bounds
    ax = map_axes(fig, bounds, _HEAT_BOX)
    if density is not None:
        _density_image(fig, ax, density, months, labels, lang, font)
    else:
        ax.text(0.5, 0.5, labels["no_reports"], transform=ax.transAxes, ha="center", va="center",
                fontproperties=sized_font(font, 12), color="#555555", zorder=9)
    draw_heat_layers(ax, crs, sites=None, grids=grids, wall=wall)
    draw_scale_and_north(ax, crs, lonlat_centre(crs, bounds), labels["north"], font)
    ax.set_title(labels["heat_panel"], fontproperties=sized_font(font, 12, bold=True))


def _density_image(fig: "Figure", ax: "Axes", density: "DensityGrid", months: float, labels: Mapping[str, str],
                   lang: str, font: "FontProperties") -> None:
    """The density per month, transparent below 1 % of the peak (as the web map), with a colour bar under it."""
    from matplotlib import colormaps  # deferred: heavy, only drawing needs it

    values = np.asarray(density.scaled(1.0 / months, units=labels["density_units"]).values, dtype=np.float64)
    peak = float(np.nanmax(values, initial=0.0))
    floor = FLOOR_FRACTION * peak
    shown = np.ma.masked_where(~np.isfinite(values) | (values < floor) | (peak <= 0), values)
    minx, miny, maxx, maxy = density.bounds
    image = ax.imshow(shown, extent=(minx, maxx, miny, maxy), origin="upper", cmap=colormaps[DENSITY_CMAP],
                      vmin=floor, vmax=max(peak, floor + 1e-12), alpha=0.85, interpolation="bilinear", zorder=1)
    ax.apply_aspect()  # the equal aspect shrinks the axes: put the bar right under the map as drawn
    box = ax.get_position()
    cax = fig.add_axes((box.x0 + 0.03, box.y0 - 0.035, box.width - 0.06, 0.015))
    ticks = np.linspace(floor, peak, 4) if peak > 0 else [0.0]
    bar = fig.colorbar(image, cax=cax, orientation="horizontal", ticks=list(ticks))
    bar.ax.set_xticklabels([number_text(float(t)) for t in ticks])
    bar.set_label(units_text(labels, lang), fontproperties=sized_font(font, 8))
    for tick in cax.get_xticklabels():
        tick.set_fontproperties(sized_font(font, 7))


def _cell_texts(table: pd.DataFrame, labels: Mapping[str, str]) -> list[list[str]]:
    lang = labels["lang"]
    rows = [[str(r.name), str(r.grids), format_percent(r.coverage_ratio, lang=lang), _count_text(r.dead_corners, lang),
             str(r.reports), format_percent(r.rectified_ratio, lang=lang)] for r in table.itertuples(index=False)]
    rows.append([labels["total"], str(int(table["grids"].sum())), "", _count_text(_total(table["dead_corners"]), lang),
                 str(int(table["reports"].sum())), format_percent(rectified_share(table), lang=lang)])
    return rows


def _counts(values: pd.Series) -> np.ndarray:
    """Counts as ints; as floats with NaN when any is unknown (NA): an int cannot hold "no data"."""
    return values.astype(float).to_numpy() if values.isna().any() else values.astype(int).to_numpy()


def _total(values: pd.Series) -> float:
    """The sum of a column, NaN when any value is missing (a total of partly unknown counts is unknown)."""
    return float("nan") if values.isna().any() else float(values.sum())


def _count_text(value: Any, lang: str) -> str:

    return no_data(lang) if is_missing(value) else str(int(value))


def rectified_share(table: pd.DataFrame) -> float:
    """The rectified share of all the table's reports: NaN when no report, or no community's share, is known.

    Examples
    --------
    >>> rectified_share(pd.DataFrame({"reports": [4, 0, 2], "rectified_ratio": [0.5, float("nan"), 1.0]}))
    0.6666666666666666
    >>> rectified_share(pd.DataFrame({"reports": [4], "rectified_ratio": [float("nan")]}))
    nan
    """
    known = table["rectified_ratio"].notna().to_numpy()
    n = float(table["reports"].to_numpy()[known].sum())
    done = float((table["rectified_ratio"].to_numpy()[known] * table["reports"].to_numpy()[known]).sum())
    return done / n if n > 0 else float("nan")


def _table_panel(fig: "Figure", table: pd.DataFrame, overall: float, labels: Mapping[str, str],
                 font: "FontProperties") -> None:
    ax = fig.add_axes(_TABLE_BOX)
    ax.set_axis_off()
    rows = _cell_texts(table, labels)
    rows[-1][2] = format_percent(overall, lang=labels["lang"])
    header = [labels[k] for k in ("community", "grids", "coverage", "dead_corners", "reports", "rectified")]
    drawn = ax.table(cellText=rows, colLabels=header, loc="upper center", cellLoc="center",
                     colWidths=[0.24, 0.13, 0.17, 0.15, 0.14, 0.17])
    drawn.auto_set_font_size(False)
    for (row, _col), cell in drawn.get_celld().items():
        bold = row == 0 or row == len(rows)
        cell.get_text().set_fontproperties(sized_font(font, 8, bold=bold))
        cell.set_height(0.085)
        if row == 0:
            cell.set_facecolor("#e8e8e8")
    ax.set_title(labels["table"], fontproperties=sized_font(font, 12, bold=True))


def _draw_page(result: "CoverageResult", density: "DensityGrid | None", table: pd.DataFrame, *,
               layers: Mapping[str, Any], months: float, period: str, lang: str, title: str | None,
               illustrative: bool, dpi: float) -> "Figure":
    labels = _labels(lang)
    font = cjk_font_properties(size=9)
    fig = new_figure(dpi)
    fig.set_size_inches(*A4_LANDSCAPE_IN)
    crs = _coverage_panel(fig, result, layers, labels, font)
    _heat_panel(fig, density, months, result.grids, _present(layers.get("wall")), labels, lang, font)

    overall = overall_coverage(result)
    _table_panel(fig, table, overall, labels, font)
    draw_briefing_levels(fig, result, lang, font)  # areas and streets, right of the legend
    parts = [f"{labels['period']} {period}", f"{labels['overall']} {format_percent(overall, lang=lang)}",
             f"{labels['dead_corners']} {_count_text(_total(table['dead_corners']), lang)}",
             f"{labels['all_reports']} {int(table['reports'].sum())}"]
    draw_heading(fig, title or labels["title"], font, parts)
    draw_footer(fig, labels, crs, font, illustrative)
    return fig


def _save_page(fig: "Figure", out: Path, fmt: str, dpi: float) -> Path:
    from matplotlib import rc_context  # deferred: heavy, only drawing needs it

    # Type 42: the TrueType font is embedded (as a subset), not drawn as Type 3 outlines: text stays text.
    with rc_context({"pdf.fonttype": 42}):
        fig.savefig(out, format=fmt, dpi=dpi, facecolor="#ffffff")
    logger.info("wrote %s", out)
    return out


def briefing(
    workspace_or_layers: "Workspace | str | PathLike[str] | Mapping[str, Any]",
    path: str | PathLike[str],
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    lang: str = "zh",
    title: str | None = None,
    illustrative: bool | None = None,
    subdistrict: str | None = None,
) -> Path:
    """Write a one-page A4 landscape briefing as PNG or PDF (the suffix of `path` decides).

    Parameters
    ----------
    workspace_or_layers : gridmap.storage.Workspace, str, os.PathLike or dict
        An open workspace, the path of one, or a dict of layers by name
        (``grids`` and ``tracks`` needed; ``reports``, ``communities``,
        ``targets``, ``demolition_zones``, ``wall`` used when present), e.g.
        :func:`gridmap.sample.sample_layers`. Not modified.
    path : str or os.PathLike
        ``*.png`` (150 dpi) or ``*.pdf`` (CJK font embedded); overwritten.
    start, end : str or pandas.Timestamp, optional
        The period ``start <= time < end`` for the GPS fixes and the reports;
        no zone means Asia/Shanghai. The page shows the first and last day.
    lang : {"zh", "en"}
        Language of the labels.
    title : str, optional
        Title, drawn literally; by default "环境卫生网格化管理简报".
    illustrative : bool, optional
        Show the "illustrative data" mark; by default what the workspace's
        metadata says (False for a dict of layers).
    subdistrict : str, optional
        The 9-digit code of one subdistrict of a workspace holding many: only its rows are read (through the
        store's indexes); not for a dict of layers.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    SchemaError
        When `path` ends neither in ``.png`` nor ``.pdf``, or `lang` is unknown.
    GridmapError
        When there are no grids, or no CJK font is installed (the message
        names the package to install, e.g. Debian's ``fonts-noto-cjk``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=300, track_days=1)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = briefing(layers, pathlib.Path(tmp) / "brief.png", start="2025-03-01", end="2025-04-01",
    ...                    illustrative=True)
    ...     out.read_bytes()[:4] == b"\\x89PNG"
    True
    """

    out = Path(path)
    fmt = _format_for(out)
    _labels(lang)  # an unknown language fails before any work
    cjk_font_properties()  # no CJK font: fail before the slow part, naming the package to install
    layers, flagged = _load(workspace_or_layers, start, end, subdistrict)
    grids = _present(layers["grids"])
    if grids is None:
        raise GridmapError("the workspace has no grids: import them first (gridmap import WORKSPACE grids FILE)")
    result = sweep_coverage(grids, layers["tracks"], targets=_present(layers["targets"]), start=start, end=end,
                            **coverage_levels(layers))
    reports = _present(layers["reports"])
    chosen = select_reports(reports, start=start, end=end) if reports is not None else None
    months = period_months(chosen, start=start, end=end) if chosen is not None else 1.0
    density = _density(chosen, grids)
    table = community_table(result, chosen, communities=_present(layers["communities"]),
                            rectified_known=rectified_known(chosen, _present(layers["rectifications"])))
    fig = _draw_page(result, density, table, layers=layers, months=months, period=_period_text(start, end, layers),
                     lang=lang, title=title, illustrative=flagged if illustrative is None else bool(illustrative),
                     dpi=_DPI[fmt])
    return _save_page(fig, out, fmt, _DPI[fmt])


def _density(reports: Any, grids: "gpd.GeoDataFrame") -> "DensityGrid | None":

    if reports is None or not len(reports):
        return None
    return kde(reports, bounds=grids)
