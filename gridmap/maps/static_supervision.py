"""The supervision chart: rectification rate and sweep coverage by community, week over week.

Two panels side by side, one line per community, the weeks along the bottom.
Drawn on a :class:`matplotlib.figure.Figure` of its own (Agg canvas, no
``pyplot`` state) with a real CJK font, like the other static maps.

A missing value (a week without reports, a workspace without rectification
records, a week without GPS tracks) is never drawn as 0: the line breaks
there, a week with no value for any community is hatched and labelled
"无数据" / "no data", and a note under the title says so. The values drawn
are those of :func:`supervision_chart_data`.
"""

from __future__ import annotations

import io
import logging
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

import numpy as np
import pandas as pd

from gridmap.errors import SchemaError
from gridmap.formatting import format_percent, no_data
from gridmap.maps.fonts import cjk_font_properties
from gridmap.maps.static import Box, _check_dpi, _literal, sized_font

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

__all__ = ["supervision_png", "supervision_chart_png_bytes", "supervision_chart_data", "supervision_figure",
           "CHART_LABELS", "CHART_PANELS"]

logger = logging.getLogger(__name__)

#: Labels of the chart in zh-Hans and English.
CHART_LABELS: Mapping[str, Mapping[str, str]] = {
    "zh": {"title": "各社区整改率与巡查覆盖率（按周）", "rect": "整改率", "cover": "巡查覆盖率",
           "week": "周（起始日）", "no_data": "折线断开处、斜线周：无数据（该周无问题、无整改记录或无巡查轨迹），不按 0 计",
           "illustrative": "示意数据，非实测边界"},
    "en": {"title": "Rectification rate and sweep coverage by community, week by week", "rect": "Rectification rate",
           "cover": "Sweep coverage", "week": "week (starting)",
           "no_data": "breaks in a line, hatched weeks: no data (no report, no rectification record or no GPS track "
                      "that week), not 0",
           "illustrative": "illustrative data, not surveyed boundaries"},
}
#: The chart's panels: the column of :func:`gridmap.analysis.supervision.weekly_figures` each draws, and its label key.
CHART_PANELS: Mapping[str, str] = {"rectification_rate": "rect", "coverage_ratio": "cover"}

# Colour-blind-safe qualitative palette (Okabe & Ito 2008, "Color Universal Design"), then greys.
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _units(weekly: pd.DataFrame) -> tuple[str, list[tuple[str, str]]]:
    """The unit column and the (key, label) of every unit, in key order."""
    key = next((c for c in ("community_code", "grid_code", "cadre") if c in weekly.columns), None)
    if key is None or "week_start" not in weekly.columns:
        raise SchemaError("expected the table of gridmap.analysis.supervision.weekly_figures "
                          "(week_start and a unit column)")
    names = weekly.drop_duplicates(key).set_index(key)
    labels = []
    for code in sorted(names.index.astype(str)):
        name = names.loc[code, "name"] if "name" in names.columns else None
        labels.append((code, str(name) if isinstance(name, str) and name.strip() else code))
    return key, labels


def supervision_chart_data(weekly: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """The values the chart draws: one row per panel, unit and week, NaN where there is no data.

    Parameters
    ----------
    weekly : pandas.DataFrame
        The table of :func:`gridmap.analysis.supervision.weekly_figures`.
    lang : {"zh", "en"}
        Language of the ``shown`` text of a missing value.

    Returns
    -------
    pandas.DataFrame
        ``panel`` (a key of :data:`CHART_PANELS`), ``unit`` (the unit's key as text), ``label`` (its name),
        ``week_start``, ``value`` (the ratio, NaN for no data: a gap in the line, never 0) and ``shown``
        (:func:`gridmap.formatting.format_percent`: "无数据" / "no data" when missing).

    Examples
    --------
    >>> import pandas as pd
    >>> w = pd.DataFrame({"week_start": pd.to_datetime(["2025-03-03"] * 2), "community_code": ["A", "B"],
    ...                   "name": ["甲", "乙"], "reports": [4, 0], "rectification_rate": [0.75, float("nan")],
    ...                   "coverage_ratio": [float("nan")] * 2})
    >>> data = supervision_chart_data(w)
    >>> data[data["panel"] == "rectification_rate"]["shown"].tolist(), int(data["value"].isna().sum())
    (['75.0 %', '无数据'], 3)
    """
    key, units = _units(weekly)
    weeks = sorted(pd.to_datetime(weekly["week_start"]).unique())
    rows = []
    for column in CHART_PANELS:
        for code, label in units:
            values = weekly[weekly[key].astype(str) == code].set_index("week_start")[column].reindex(weeks)
            for week, value in zip(weeks, values.to_numpy(dtype=float)):
                rows.append((column, code, label, week, value, format_percent(value, lang=lang)))
    return pd.DataFrame(rows, columns=["panel", "unit", "label", "week_start", "value", "shown"])


def _panel(ax: "Axes", data: pd.DataFrame, units: list[tuple[str, str]], title: str, font: "FontProperties",
           weeks: list[pd.Timestamp], lang: str) -> None:
    x = np.arange(len(weeks))
    for k, (code, label) in enumerate(units):
        y = 100.0 * data[data["unit"] == code]["value"].to_numpy(dtype=float)  # NaN: a break in the line
        colour, marker = _PALETTE[k % len(_PALETTE)], _MARKERS[(k // len(_PALETTE)) % len(_MARKERS)]
        ax.plot(x, y, color=colour, marker=marker, markersize=5, linewidth=1.8, label=_literal(label))
    empty = data.groupby("week_start", sort=True)["value"].apply(lambda v: bool(v.isna().all())).to_numpy()
    for i in np.flatnonzero(empty):  # a week without any value: hatched and labelled, never a 0
        ax.axvspan(i - 0.4, i + 0.4, facecolor="none", edgecolor="#9e9e9e", hatch="///", linewidth=0.0,
                   gid="no-data")
        ax.text(float(i), 50.0, no_data(lang), rotation=90, ha="center", va="center", color="#424242",
                fontproperties=sized_font(font, 9), gid="no-data",
                bbox={"facecolor": "#ffffff", "edgecolor": "none", "pad": 1.5})
    ax.set_title(title, fontproperties=sized_font(font, 12, bold=True))
    ax.set_xlim(-0.6, len(weeks) - 0.4)
    ax.set_ylim(-3, 103)
    ax.set_xticks(x, [w.strftime("%m-%d") for w in weeks])
    ticks = [0, 20, 40, 60, 80, 100]
    ax.set_yticks(ticks, [format_percent(t / 100, lang=lang) for t in ticks])
    ax.grid(True, color="#dddddd", linewidth=0.6)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    for tick in ax.get_xticklabels() + ax.get_yticklabels():
        tick.set_fontproperties(sized_font(font, 9))


class _Layout(NamedTuple):
    """A layout of the chart: figure size (inches), the two panels' axes boxes, where the title and note sit."""

    size: tuple[float, float]
    axes: tuple[Box, Box]
    title_y: float  # figure fraction
    note_y: float
    legend_columns: int


_LAYOUTS = {
    "wide": _Layout(size=(11.0, 4.8), axes=((0.06, 0.17, 0.40, 0.64), (0.55, 0.17, 0.40, 0.64)), title_y=0.95,
                    note_y=0.895, legend_columns=6),
    "tall": _Layout(size=(5.6, 7.6), axes=((0.12, 0.55, 0.84, 0.30), (0.12, 0.16, 0.84, 0.30)), title_y=0.97,
                    note_y=0.935, legend_columns=3),
}


def _draw(weekly: pd.DataFrame, lang: str, illustrative: bool, dpi: float, layout: str) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: heavy, only drawing needs it
    from matplotlib.figure import Figure  # deferred: heavy, only drawing needs it

    labels, shape = CHART_LABELS[lang], _LAYOUTS[layout]
    _, units = _units(weekly)
    data = supervision_chart_data(weekly, lang=lang)
    weeks = sorted(data["week_start"].unique())
    font = cjk_font_properties()
    fig = Figure(figsize=shape.size, dpi=dpi, facecolor="#ffffff")
    FigureCanvasAgg(fig)
    axes = [fig.add_axes(box) for box in shape.axes]
    for ax, (column, label_key) in zip(axes, CHART_PANELS.items()):
        _panel(ax, data[data["panel"] == column], units, labels[label_key], font, weeks, lang)
    first = axes[0]
    title_font = sized_font(font, 13 if layout == "tall" else 14, bold=True)
    fig.text(0.02, shape.title_y, labels["title"], fontproperties=title_font, ha="left", va="center")
    handles, names = first.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), shape.legend_columns), frameon=False,
               prop=sized_font(font, 9), bbox_to_anchor=(0.5, 0.0))
    fig.text(0.02 if layout == "tall" else 0.06, shape.note_y, labels["no_data"],
             fontproperties=sized_font(font, 8), ha="left", va="center", color="#555555")
    if illustrative:
        fig.text(0.98, shape.note_y if layout == "tall" else shape.title_y, labels["illustrative"],
                 fontproperties=sized_font(font, 9), color="#8a6d00", ha="right", va="center",
                 bbox={"facecolor": "#fff3cd", "edgecolor": "#cc9900", "boxstyle": "round,pad=0.3"})
    return fig


def _check(weekly: Any, lang: str, layout: str = "wide") -> None:
    if lang not in CHART_LABELS:
        raise SchemaError(f"lang must be 'zh' or 'en', got {lang!r}")
    if layout not in _LAYOUTS:
        raise SchemaError(f"layout must be 'wide' or 'tall', got {layout!r}")
    if not isinstance(weekly, pd.DataFrame) or len(weekly) == 0:
        raise SchemaError("no weekly figures to draw: compute them with gridmap.analysis.supervision.weekly_figures")


def supervision_figure(weekly: pd.DataFrame, *, lang: str = "zh", illustrative: bool = False, dpi: float = 110,
                       layout: str = "tall") -> "Figure":
    """The chart as a :class:`matplotlib.figure.Figure` (Agg canvas), for callers that draw or inspect it.

    The first axes draw ``rectification_rate``, the second ``coverage_ratio``
    (:data:`CHART_PANELS`); one line per unit, in the order of the unit keys.

    Examples
    --------
    >>> import gridmap
    >>> from gridmap.analysis.supervision import weekly_figures
    >>> w = weekly_figures(gridmap.sample_layers(n_reports=300, track_days=1), end="2025-03-10", weeks=2)
    >>> len(supervision_figure(w).axes)
    2
    """
    _check(weekly, lang, layout)
    return _draw(weekly, lang, illustrative, _check_dpi(dpi), layout)


def supervision_chart_png_bytes(weekly: pd.DataFrame, *, lang: str = "zh", illustrative: bool = False,
                                dpi: float = 110, layout: str = "tall") -> bytes:
    """The chart of :func:`supervision_png` as PNG bytes (for embedding in a page).

    The default ``layout="tall"`` stacks the two panels, which reads better in a
    page's narrow side panel on a phone.

    Examples
    --------
    >>> import gridmap
    >>> from gridmap.analysis.supervision import weekly_figures
    >>> w = weekly_figures(gridmap.sample_layers(n_reports=300, track_days=1), end="2025-03-10", weeks=2)
    >>> supervision_chart_png_bytes(w)[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    _check(weekly, lang, layout)
    fig = _draw(weekly, lang, illustrative, _check_dpi(dpi), layout)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=fig.dpi, format="png", facecolor="#ffffff")
    return buffer.getvalue()


def supervision_png(weekly: pd.DataFrame, path: str | PathLike[str], *, lang: str = "zh",
                    illustrative: bool = False, dpi: float = 150, layout: str = "wide") -> Path:
    """Draw rectification rate and sweep coverage by community, week over week, as a PNG.

    Parameters
    ----------
    weekly : pandas.DataFrame
        The table of :func:`gridmap.analysis.supervision.weekly_figures`.
    path : str or os.PathLike
        The PNG file; overwritten.
    lang : {"zh", "en"}
        Language of the labels; unit names are drawn literally.
    illustrative : bool
        Mark the chart as drawn from illustrative data.
    dpi : float
        Resolution (150 for slides, 300 for print).
    layout : {"wide", "tall"}
        The two panels side by side (default, for slides and A4 landscape) or
        stacked (for a phone or a narrow column).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gridmap
    >>> from gridmap.analysis.supervision import weekly_figures
    >>> w = weekly_figures(gridmap.sample_layers(n_reports=300, track_days=1), end="2025-03-10", weeks=3)
    >>> out = supervision_png(w, pathlib.Path(tempfile.mkdtemp()) / "weekly.png", illustrative=True)
    >>> out.read_bytes()[:4]
    b'\\x89PNG'
    """
    _check(weekly, lang, layout)
    fig = _draw(weekly, lang, illustrative, _check_dpi(dpi), layout)
    out = Path(path)
    fig.savefig(out, dpi=fig.dpi, format="png", facecolor="#ffffff")
    logger.info("wrote %s", out)
    return out
