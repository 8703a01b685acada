"""The supervision chart: rectification rate and sweep coverage by community, week over week.

Two panels side by side, one line per community, the weeks along the bottom.
Drawn on a :class:`matplotlib.figure.Figure` of its own (Agg canvas, no
``pyplot`` state) with a real CJK font, like the other static maps.
"""

from __future__ import annotations

import io
import logging
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from gridmap._errors import SchemaError
from gridmap.maps._fonts import cjk_font_properties
from gridmap.maps.static import _check_dpi, _literal, _sized

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

__all__ = ["supervision_png", "supervision_chart_png_bytes", "CHART_LABELS"]

logger = logging.getLogger(__name__)

#: Labels of the chart in zh-Hans and English.
CHART_LABELS: Mapping[str, Mapping[str, str]] = {
    "zh": {"title": "各社区整改率与巡查覆盖率（按周）", "rect": "整改率", "cover": "巡查覆盖率",
           "week": "周（起始日）", "no_reports": "空心点：该周无问题", "illustrative": "示意数据，非实测边界"},
    "en": {"title": "Rectification rate and sweep coverage by community, week by week", "rect": "Rectification rate",
           "cover": "Sweep coverage", "week": "week (starting)", "no_reports": "open dot: no report that week",
           "illustrative": "illustrative data, not surveyed boundaries"},
}

# Colour-blind-safe qualitative palette (Okabe & Ito 2008, "Color Universal Design"), then greys.
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _units(weekly: pd.DataFrame) -> tuple[str, list[tuple[str, str]]]:
    """The unit column and the (key, label) of every unit, in key order."""
    key = next((c for c in ("community_code", "grid_code", "cadre") if c in weekly.columns), None)
    if key is None or "week_start" not in weekly.columns:
        raise SchemaError("expected the table of gridmap.supervision.weekly_figures (week_start and a unit column)")
    names = weekly.drop_duplicates(key).set_index(key)
    labels = []
    for code in sorted(names.index.astype(str)):
        name = names.loc[code, "name"] if "name" in names.columns else None
        labels.append((code, str(name) if isinstance(name, str) and name.strip() else code))
    return key, labels


def _panel(ax: "Axes", weekly: pd.DataFrame, key: str, units: list[tuple[str, str]], column: str, title: str,
           font: "FontProperties", weeks: list[pd.Timestamp]) -> None:
    x = np.arange(len(weeks))
    for k, (code, label) in enumerate(units):
        rows = weekly[weekly[key].astype(str) == code].set_index("week_start").reindex(weeks)
        y = 100.0 * rows[column].to_numpy(dtype=float)
        colour, marker = _PALETTE[k % len(_PALETTE)], _MARKERS[(k // len(_PALETTE)) % len(_MARKERS)]
        ax.plot(x, y, color=colour, marker=marker, markersize=5, linewidth=1.8, label=_literal(label))
        if column == "rectification_rate" and "reports" in rows.columns:
            empty = rows["reports"].fillna(0).to_numpy() == 0
            ax.plot(x[empty], np.full(int(empty.sum()), 100.0), linestyle="none", marker=marker, markersize=6,
                    markerfacecolor="white", markeredgecolor=colour)
    ax.set_title(title, fontproperties=_sized(font, 12, bold=True))
    ax.set_ylim(-3, 103)
    ax.set_xticks(x, [w.strftime("%m-%d") for w in weeks])
    ax.set_ylabel("%", fontproperties=_sized(font, 10))
    ax.grid(True, color="#dddddd", linewidth=0.6)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    for tick in ax.get_xticklabels() + ax.get_yticklabels():
        tick.set_fontproperties(_sized(font, 9))


# Figure size (inches) and axes boxes (left, bottom, width, height as figure fractions) of each layout.
_LAYOUTS = {
    "wide": {"size": (11.0, 4.8), "axes": ((0.06, 0.17, 0.40, 0.64), (0.55, 0.17, 0.40, 0.64)), "title_y": 0.95,
             "note_y": 0.895, "legend_columns": 6},
    "tall": {"size": (5.6, 7.6), "axes": ((0.12, 0.55, 0.84, 0.30), (0.12, 0.16, 0.84, 0.30)), "title_y": 0.97,
             "note_y": 0.935, "legend_columns": 3},
}


def _draw(weekly: pd.DataFrame, lang: str, illustrative: bool, dpi: float, layout: str) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels, shape = CHART_LABELS[lang], _LAYOUTS[layout]
    key, units = _units(weekly)
    weeks = sorted(pd.to_datetime(weekly["week_start"]).unique())
    font = cjk_font_properties()
    fig = Figure(figsize=shape["size"], dpi=dpi, facecolor="#ffffff")
    FigureCanvasAgg(fig)
    first, second = (fig.add_axes(box) for box in shape["axes"])
    _panel(first, weekly, key, units, "rectification_rate", labels["rect"], font, weeks)
    _panel(second, weekly, key, units, "coverage_ratio", labels["cover"], font, weeks)
    title_font = _sized(font, 13 if layout == "tall" else 14, bold=True)
    fig.text(0.02, shape["title_y"], labels["title"], fontproperties=title_font, ha="left", va="center")
    handles, names = first.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), shape["legend_columns"]), frameon=False,
               prop=_sized(font, 9), bbox_to_anchor=(0.5, 0.0))
    fig.text(0.02 if layout == "tall" else 0.06, shape["note_y"], labels["no_reports"],
             fontproperties=_sized(font, 8), ha="left", va="center", color="#555555")
    if illustrative:
        fig.text(0.98, shape["note_y"] if layout == "tall" else shape["title_y"], labels["illustrative"],
                 fontproperties=_sized(font, 9), color="#8a6d00", ha="right", va="center",
                 bbox={"facecolor": "#fff3cd", "edgecolor": "#cc9900", "boxstyle": "round,pad=0.3"})
    return fig


def _check(weekly: Any, lang: str, layout: str = "wide") -> None:
    if lang not in CHART_LABELS:
        raise SchemaError(f"lang must be 'zh' or 'en', got {lang!r}")
    if layout not in _LAYOUTS:
        raise SchemaError(f"layout must be 'wide' or 'tall', got {layout!r}")
    if not isinstance(weekly, pd.DataFrame) or len(weekly) == 0:
        raise SchemaError("no weekly figures to draw: compute them with gridmap.supervision.weekly_figures")


def supervision_chart_png_bytes(weekly: pd.DataFrame, *, lang: str = "zh", illustrative: bool = False,
                                dpi: float = 110, layout: str = "tall") -> bytes:
    """The chart of :func:`supervision_png` as PNG bytes (for embedding in a page).

    The default ``layout="tall"`` stacks the two panels, which reads better in a
    page's narrow side panel on a phone.

    Examples
    --------
    >>> import gridmap
    >>> from gridmap.supervision import weekly_figures
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
        The table of :func:`gridmap.supervision.weekly_figures`.
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
    >>> from gridmap.supervision import weekly_figures
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
