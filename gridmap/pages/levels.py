"""The two upper levels of the responsibility system as tables: area leaders (领导包片) and street chiefs (街长包街).

"驻组干部包户，街长包街，领导包片": the community table answers for the grids; these
tables answer for the areas (``CoverageResult.by_area``) and the streets
(``CoverageResult.streets``) of :func:`gridmap.sweep_coverage`. They compute
nothing: they turn those frames into rows of text for the leaders' page
(:mod:`gridmap.pages.report`, HTML) and the briefing
(:mod:`gridmap.pages.briefing`, a matplotlib table). Percentages go through
:func:`gridmap.formatting.format_percent`; an unknown figure reads "无数据" /
"no data", never 0. Names are shown as the frames hold them: pages redact the
result first (:func:`gridmap.pages.common.shareable_coverage`), and the
briefing leaves the name columns out (``names=False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from gridmap.formatting import format_percent
from gridmap.maps.common import MISSING, pick_labels
from gridmap.maps.escape import html_text
from gridmap.maps.static import sized_font
from gridmap.maps.streets import count_text, length_text

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.font_manager import FontProperties

__all__ = ["LEVEL_LABELS", "level_labels", "area_rows", "street_rows", "area_table_html", "street_table_html",
           "draw_level_table", "draw_briefing_levels", "lowest_first", "BRIEFING_COLUMN", "coverage_levels"]

#: The tables' labels, per language.
LEVEL_LABELS: dict[str, dict[str, str]] = {
    "zh": {"areas": "各片区情况（包片领导）", "areas_short": "各片区情况", "area": "片区", "leader": "包片领导",
           "grids": "网格数", "coverage": "覆盖率", "dead_corners": "卫生死角", "streets": "街巷覆盖率（由低到高）",
           "street": "街巷", "street_chief": "街长", "length": "长度", "dead_stretches": "未清扫路段",
           "more_streets": "另有 {n} 条街巷见地图", "lang": "zh"},
    "en": {"areas": "by area (area leaders)", "areas_short": "by area", "area": "area", "leader": "leader",
           "grids": "grids", "coverage": "coverage", "dead_corners": "dead corners",
           "streets": "street coverage (lowest first)", "street": "street", "street_chief": "street chief",
           "length": "length", "dead_stretches": "dead stretches", "more_streets": "{n} more streets on the map",
           "lang": "en"},
}


def level_labels(lang: str) -> dict[str, str]:
    """The tables' labels in `lang` (``"zh"`` or ``"en"``); SchemaError for any other.

    Examples
    --------
    >>> level_labels("en")["leader"]
    'leader'
    """
    return pick_labels(LEVEL_LABELS, lang)


def coverage_levels(layers: Mapping[str, Any]) -> dict[str, Any]:
    """The ``streets=`` and ``areas=`` keywords of :func:`gridmap.sweep_coverage` from the layers that have rows.

    The one place the pages (and the demo) pass the street and area layers to the sweep; an absent or empty
    layer is left out (no street figures, no area names).

    Examples
    --------
    >>> sorted(coverage_levels({"streets": None, "areas": None}))
    []
    """
    return {name: frame for name in ("streets", "areas") if (frame := layers.get(name)) is not None and len(frame)}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value if value.strip() else MISSING
    return MISSING if value is None or pd.isna(value) else str(value)


def area_rows(by_area: pd.DataFrame | None, lang: str = "zh", *, names: bool = True) -> list[list[str]]:
    """One row of text per area: name (its code when unnamed), leader (when `names`), grids, coverage, dead corners.

    Examples
    --------
    >>> table = pd.DataFrame({"area_code": ["A1", "A2"], "name": ["东片", None], "leader": ["王**", None],
    ...                       "grids": [2, 1], "coverage_ratio": [0.8765, float("nan")], "dead_corners": [3, pd.NA]})
    >>> area_rows(table, "en")
    [['东片', '王**', '2', '87.6 %', '3'], ['A2', '—', '1', 'no data', 'no data']]
    >>> area_rows(None)
    []
    """
    if by_area is None or not len(by_area):
        return []
    rows = []
    for row in by_area.to_dict("records"):
        name = row.get("name")
        shown = [str(name) if isinstance(name, str) and name.strip() else _text(row.get("area_code"))]
        if names:
            shown.append(_text(row.get("leader")))
        shown += [count_text(row.get("grids"), lang), format_percent(row.get("coverage_ratio"), lang=lang),
                  count_text(row.get("dead_corners"), lang)]
        rows.append(shown)
    return rows


def lowest_first(streets: pd.DataFrame) -> pd.DataFrame:
    """The streets ordered by coverage, lowest first; unknown coverage last; ties keep the input order.

    Examples
    --------
    >>> lowest_first(pd.DataFrame({"coverage_ratio": [0.9, float("nan"), 0.1, 0.9]})).index.tolist()
    [2, 0, 3, 1]
    """
    ratio = pd.to_numeric(streets["coverage_ratio"], errors="coerce").astype(float).to_numpy()
    order = np.lexsort((np.arange(len(ratio)), np.where(np.isnan(ratio), np.inf, ratio)))
    return streets.iloc[order]


def street_rows(streets: pd.DataFrame | None, lang: str = "zh", *, names: bool = True,
                limit: int | None = None) -> list[list[str]]:
    """One row of text per street, lowest coverage first: street, chief (when `names`), length, coverage, dead
    stretches.

    Examples
    --------
    >>> streets = pd.DataFrame({"street_name": ["东街", "西街"], "street_chief": ["王**", "李*"],
    ...                         "length_m": [400.0, 250.0], "coverage_ratio": [0.5, 0.25], "dead_stretches": [1, 2]})
    >>> street_rows(streets, "en", names=False)
    [['西街', '250 m', '25.0 %', '2'], ['东街', '400 m', '50.0 %', '1']]
    """
    if streets is None or not len(streets):
        return []
    chosen = lowest_first(streets)
    if limit is not None:
        chosen = chosen.head(limit)
    rows = []
    for row in chosen.to_dict("records"):
        shown = [_text(row.get("street_name"))]
        if names:
            shown.append(_text(row.get("street_chief")))
        shown += [length_text(row.get("length_m"), lang), format_percent(row.get("coverage_ratio"), lang=lang),
                  count_text(row.get("dead_stretches"), lang)]
        rows.append(shown)
    return rows


def _table_html(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], css: str, more: str = "",
                opened: bool = True) -> str:
    head = "".join(f"<th>{html_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in r) + "</tr>" for r in rows)
    tail = f"<div>{html_text(more)}</div>" if more else ""
    return (f'<details{" open" if opened else ""} class="{css}"><summary>{html_text(title)}</summary>'
            f'<table class="gm-table"><tr>{head}</tr>{body}</table>{tail}</details>')


def area_table_html(by_area: pd.DataFrame | None, lang: str = "zh") -> str:
    """The area-leader table of the leaders' page (escaped HTML); "" when there is no area.

    Examples
    --------
    >>> area_table_html(None)
    ''
    >>> "gm-areas" in area_table_html(pd.DataFrame({"area_code": ["A1"], "name": ["东片"], "leader": ["王**"],
    ...                                              "grids": [2], "coverage_ratio": [0.5], "dead_corners": [1]}))
    True
    """
    rows = area_rows(by_area, lang)
    if not rows:
        return ""
    labels = level_labels(lang)
    header = [labels[k] for k in ("area", "leader", "grids", "coverage", "dead_corners")]
    return _table_html(labels["areas"], header, rows, "gm-areas")


def street_table_html(streets: pd.DataFrame | None, lang: str = "zh", *, limit: int = 50) -> str:
    """The street table of the leaders' page (escaped HTML, closed at first), lowest coverage first, at most `limit`
    rows.

    Examples
    --------
    >>> street_table_html(None)
    ''
    >>> streets = pd.DataFrame({"street_name": ["东街", "西街", "南街"], "coverage_ratio": [0.9, 0.2, 0.5]})
    >>> page = street_table_html(streets, limit=2)
    >>> page.index("西街") < page.index("南街"), "东街" in page, "另有 1 条街巷见地图" in page
    (True, False, True)
    """
    rows = street_rows(streets, lang, limit=limit)
    if not rows:
        return ""
    labels = level_labels(lang)
    header = [labels[k] for k in ("street", "street_chief", "length", "coverage", "dead_stretches")]
    left = 0 if streets is None else len(streets) - len(rows)
    more = labels["more_streets"].replace("{n}", f"{left:,}") if left > 0 else ""
    return _table_html(labels["streets"], header, rows, "gm-streets", more, opened=False)  # closed, as the corners


def draw_level_table(ax: "Axes", title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                     widths: Sequence[float], font: "FontProperties", *, row_height: float,
                     header_height: float | None = None) -> None:
    """Draw a small table (the briefing's area or street table) filling the axes `ax` from the top.

    Heights are axes fractions; the header row may be taller (`header_height`) for labels on two lines.
    """
    ax.set_axis_off()
    drawn = ax.table(cellText=[list(r) for r in rows], colLabels=list(header), loc="upper center",
                     cellLoc="center", colWidths=list(widths))
    drawn.auto_set_font_size(False)
    for (row, _col), cell in drawn.get_celld().items():
        cell.get_text().set_fontproperties(sized_font(font, 7, bold=row == 0))
        cell.set_height(header_height or row_height if row == 0 else row_height)
        if row == 0:
            cell.set_facecolor("#e8e8e8")
    ax.set_title(title, fontproperties=sized_font(font, 10, bold=True), pad=3)


#: Where the briefing puts the two tables: the column right of its legend (figure fractions: the left edge
#: at least, moved right of the legend as drawn, and the right edge).
BRIEFING_COLUMN = (0.822, 0.99)
#: The briefing tables' row height, figure fraction; the top of the first table, the lowest bottom, the gap.
_BRIEF_ROW, _BRIEF_TOP, _BRIEF_FLOOR, _BRIEF_GAP = 0.024, 0.445, 0.075, 0.055
#: At most this many areas and streets on the briefing (the lowest-covered streets first).
BRIEFING_MAX_AREAS, BRIEFING_MAX_STREETS = 6, 6


def _column_left(fig: Any) -> float:
    """The left edge of the briefing's table column: right of the legend as drawn (English labels are wider)."""
    left = BRIEFING_COLUMN[0]
    if fig.legends:
        box = fig.legends[-1].get_window_extent(fig.canvas.get_renderer()).transformed(fig.transFigure.inverted())
        left = max(left, float(box.x1) + 0.012)
    return left


def _brief_table(fig: Any, top: float, title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                 widths: Sequence[float], font: "FontProperties") -> float:
    """Draw one table with its top at `top` (figure fraction); returns its bottom."""
    lines = max(h.count("\n") + 1 for h in header)
    units = len(rows) + lines
    height = units * _BRIEF_ROW
    left = _column_left(fig)
    ax = fig.add_axes((left, top - height, BRIEFING_COLUMN[1] - left, height))
    draw_level_table(ax, title, header, rows, widths, font, row_height=1.0 / units, header_height=lines / units)
    return top - height


def _header(labels: Mapping[str, str], keys: Sequence[str]) -> list[str]:
    # two-word English labels on two lines: the column is narrow
    return [labels[k].replace(" ", "\n", 1) for k in keys]


def draw_briefing_levels(fig: Any, result: Any, lang: str, font: "FontProperties") -> None:
    """Draw the briefing's area table and its street table (lowest coverage first) right of its legend.

    No names: the briefing shows no person (area leaders and street chiefs are people, as cadres are). Draws
    nothing for a result without areas and streets; the street rows are cut to what fits above the footer.
    """
    labels = level_labels(lang)
    top = _BRIEF_TOP
    areas = area_rows(getattr(result, "by_area", None), lang, names=False)[:BRIEFING_MAX_AREAS]
    if areas:
        header = _header(labels, ("area", "grids", "coverage", "dead_corners"))
        top = _brief_table(fig, top, labels["areas_short"], header, areas, (0.28, 0.18, 0.29, 0.25), font) - _BRIEF_GAP
    room = int((top - _BRIEF_FLOOR) / _BRIEF_ROW) - 2
    streets = street_rows(getattr(result, "streets", None), lang, names=False,
                          limit=max(0, min(room, BRIEFING_MAX_STREETS)))
    if streets:
        header = _header(labels, ("street", "length", "coverage", "dead_stretches"))
        title = labels["streets"].replace(" (", "\n(") if lang == "en" else labels["streets"]
        _brief_table(fig, top, title, header, streets, (0.24, 0.24, 0.26, 0.26), font)
