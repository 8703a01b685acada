"""How a scoreboard is told to people: the lagging rules in words, headers, rounding, the notes sheet.

Private to the analysis room: :mod:`gridmap.analysis.supervision` uses these to
write ``lagging_reason`` and its spreadsheets (:func:`~gridmap.analysis.supervision.write_scoreboard`);
:func:`scoreboard_headers` and :func:`presented` are public there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from gridmap.errors import SchemaError
from gridmap.formatting import format_percent, is_missing
from gridmap.model import category_label

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.analysis.supervision import Rules


# ---------------------------------------------------------------------------------------------------------------
# lagging
# ---------------------------------------------------------------------------------------------------------------

_RULE_TEXT = {
    "en": {"rectification_rate": "rectification_rate {v} < {t}", "overdue_rate": "overdue_rate {v} > {t}",
           "recurrence_rate": "recurrence_rate {v} > {t}", "coverage_ratio": "coverage_ratio {v} < {t}",
           "bottom": "rank {v} among the last {t}", "sep": "; "},
    "zh": {"rectification_rate": "整改率 {v} 低于 {t}", "overdue_rate": "超期率 {v} 高于 {t}",
           "recurrence_rate": "反弹率 {v} 高于 {t}", "coverage_ratio": "巡查覆盖率 {v} 低于 {t}",
           "bottom": "排名第 {v} 位，处于末 {t} 位", "sep": "；"},
}


def _below(value: Any, limit: float) -> bool:
    """``value < limit`` for a known value; a missing value (no data) breaks no rule."""
    return not is_missing(value) and float(value) < limit


def _above(value: Any, limit: float) -> bool:
    """``value > limit`` for a known value; a missing value (no data) breaks no rule."""
    return not is_missing(value) and float(value) > limit


def _broken_rules(row: Any, rules: Rules, n_units: int, lang: str) -> list[tuple[str, str, str]]:
    def pct(value: Any) -> str:
        return format_percent(value, lang=lang)

    broken = []
    if row.reports >= rules.min_reports and row.reports > 0:
        if _below(row.rectification_rate, rules.min_rectification_rate):
            broken.append(("rectification_rate", pct(row.rectification_rate), pct(rules.min_rectification_rate)))
        if _above(row.overdue_rate, rules.max_overdue_rate):
            broken.append(("overdue_rate", pct(row.overdue_rate), pct(rules.max_overdue_rate)))
        if _above(row.recurrence_rate, rules.max_recurrence_rate):
            broken.append(("recurrence_rate", pct(row.recurrence_rate), pct(rules.max_recurrence_rate)))
    if _below(row.coverage_ratio, rules.min_coverage_ratio):
        broken.append(("coverage_ratio", pct(row.coverage_ratio), pct(rules.min_coverage_ratio)))
    if rules.bottom_ranks and row.rank > n_units - rules.bottom_ranks:
        broken.append(("bottom", str(int(row.rank)), str(rules.bottom_ranks)))
    return broken


def _lagging(table: pd.DataFrame, rules: Rules, lang: str) -> tuple[np.ndarray, list[str]]:
    texts = _RULE_TEXT[lang]
    flags, reasons = [], []
    for row in table.itertuples(index=False):
        broken = _broken_rules(row, rules, len(table), lang)
        flags.append(bool(broken))
        reasons.append(texts["sep"].join(texts[name].format(v=v, t=t) for name, v, t in broken))
    return np.asarray(flags, dtype=bool), reasons


# ---------------------------------------------------------------------------------------------------------------
# headers
# ---------------------------------------------------------------------------------------------------------------

_ZH_HEADERS: Mapping[str, str] = {
    "community_code": "社区编码", "name": "名称", "grid_code": "网格编码", "cadre": "责任干部", "grids": "网格数",
    "reports": "问题数", "rectified": "已整改", "verified": "已核验", "reopened": "抽查反弹",
    "rectification_rate": "整改率", "median_hours_to_rectify": "整改用时中位数（小时）", "overdue": "超期未整改",
    "overdue_rate": "超期率", "recurrences": "反弹数", "recurrence_rate": "反弹率", "coverage_ratio": "巡查覆盖率",
    "dead_corners": "死角数", "score": "得分", "rank": "排名", "previous_rank": "上期排名",
    "street_name": "街道名称", "street_chief": "街长", "area_code": "片区编码", "leader": "包片领导",
    "rank_change": "排名变化", "score_change": "得分变化", "reports_change": "问题数变化",
    "rectification_rate_change": "整改率变化", "coverage_ratio_change": "覆盖率变化", "lagging": "是否落后",
    "lagging_reason": "落后原因", "week_start": "周起始日",
}


def scoreboard_headers(columns: Any, lang: str = "zh") -> dict[str, str]:
    """Column headers shown to users: the English names for ``"en"``, Chinese for ``"zh"``.

    Examples
    --------
    >>> scoreboard_headers(["community_code", "rectification_rate"])
    {'community_code': '社区编码', 'rectification_rate': '整改率'}
    >>> scoreboard_headers(["rank"], "en")
    {'rank': 'rank'}
    """
    if lang not in _RULE_TEXT:
        raise SchemaError(f"lang must be 'zh' or 'en', got {lang!r}")
    return {c: (_ZH_HEADERS.get(c, c) if lang == "zh" else c) for c in columns}


#: Decimals kept in a published table: rates to 0.01 %, hours to 0.1 h, scores to 0.01.
_ROUNDING = {"rectification_rate": 4, "overdue_rate": 4, "recurrence_rate": 4, "coverage_ratio": 4,
             "rectification_rate_change": 4, "coverage_ratio_change": 4, "median_hours_to_rectify": 1,
             "score": 2, "score_change": 2}


def presented(board: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """The scoreboard as users read it: headers in `lang`, ``lagging`` as 是/否 in Chinese.

    Numbers stay numbers (rates as fractions from 0 to 1, rounded to 0.01 %;
    hours to 0.1 h; scores to 0.01) so a spreadsheet can sort and sum them.

    Examples
    --------
    >>> import pandas as pd
    >>> t = presented(pd.DataFrame({"rank": [1], "lagging": [True]}))
    >>> list(t.columns), t.iloc[0, 1]
    (['排名', '是否落后'], '是')
    """
    out = board.copy()
    for column, digits in _ROUNDING.items():
        if column in out.columns:
            out[column] = out[column].astype(float).round(digits)
    if lang == "zh" and "lagging" in out.columns:
        out["lagging"] = np.where(out["lagging"].astype(bool), "是", "否")
    return out.rename(columns=scoreboard_headers(out.columns, lang))


# ---------------------------------------------------------------------------------------------------------------
# the notes sheet of the spreadsheet
# ---------------------------------------------------------------------------------------------------------------

_NOTE_LABELS = {
    "zh": {"sheet": "排名", "notes": "说明", "weekly": "按周", "item": "项目", "value": "取值",
           "period": "统计时段（含起不含止）", "previous": "对比上期起始", "cutoff": "数据截止", "by": "排名单元",
           "unassigned": "未落入网格的问题数（未参与排名）",
           "unassigned_street": "不在任何街道附近的问题数（未参与排名）",
           "unassigned_area": "未落入片区的问题数（未参与排名）", "deadline": "整改时限（小时）：", "rule": "规则：",
           "illustrative": "示意数据，非实测边界", "empty": "空白单元格", "no_data": "无数据（不是 0）",
           "unknown": "本期无数据、不计入得分的部分", "previous_unknown": "上期无数据的部分",
           "no_previous": "上期无任何数据：上期排名与变化为空白", "none": "无"},
    "en": {"sheet": "scoreboard", "notes": "notes", "weekly": "weekly", "item": "item", "value": "value",
           "period": "period [start, end)", "previous": "previous period starts", "cutoff": "data cut-off",
           "by": "unit", "unassigned": "reports outside every grid (not ranked)",
           "unassigned_street": "reports near no street (not ranked)",
           "unassigned_area": "reports in no area (not ranked)", "deadline": "deadline hours: ",
           "rule": "rule: ", "illustrative": "illustrative data, not surveyed boundaries", "empty": "empty cell",
           "no_data": "no data (not 0)", "unknown": "parts with no data this period, left out of the score",
           "previous_unknown": "parts with no data in the previous period",
           "no_previous": "no data at all in the previous period: previous rank and changes are empty",
           "none": "none"},
}


def _notes(board: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The definitions behind a scoreboard, as rows of (item, value), for its spreadsheet."""
    text, attrs = _NOTE_LABELS[lang], board.attrs
    rows: list[tuple[str, Any]] = [
        (text["period"], f"{attrs['start']} – {attrs['end']}"), (text["previous"], attrs["previous_start"]),
        (text["cutoff"], attrs["cutoff"]), (text["by"], attrs["by"]),
        (text.get(f"unassigned_{attrs['by']}", text["unassigned"]), int(attrs["unassigned_reports"])),
        (text["empty"], text["no_data"]),
        (text["unknown"], ", ".join(attrs.get("unknown_parts", [])) or text["none"]),
        (text["previous_unknown"], ", ".join(attrs.get("previous_unknown_parts", [])) or text["none"]),
    ]
    if not attrs.get("previous_has_data", True):
        rows.append((text["no_previous"], ""))
    for key, value in attrs["rules"].items():
        if key == "weights":
            rows += [(f"{text['rule']}weight {k}", float(w)) for k, w in value.items()]
        else:
            rows.append((f"{text['rule']}{key}", value))
    rows += [(f"{text['deadline']}{category_label(k, lang)}", float(h)) for k, h in attrs["deadlines_hours"].items()]
    if attrs.get("illustrative"):
        rows.append((text["illustrative"], ""))
    return pd.DataFrame(rows, columns=[text["item"], text["value"]])
