"""How gridmap writes numbers for people: one rule for every percentage, and "no data" for missing values.

Every percentage gridmap shows (command line, PNG and PDF figures, HTML pages, reasons in tables)
goes through :func:`format_percent`, so the same ratio reads the same everywhere. The rule: one
decimal, **rounded down** (a grid at 94.96 % reads 94.9 %, never 95.0 %, so a figure never shows a
better class than its colour and a grid with a dead corner never reads 100 %), with a thin space
before the sign. A missing value (None, NaN, the ratio of nothing) reads "无数据" (zh-Hans) or
"no data" (English), never 0.

Examples
--------
>>> format_percent(0.8875), format_percent(1.0), format_percent(float("nan"), lang="en")
('88.7 %', '100.0 %', 'no data')
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["NO_DATA", "format_percent", "format_percent_change", "is_missing", "no_data"]

#: The label of a missing value, by language.
NO_DATA: dict[str, str] = {"zh": "无数据", "en": "no data"}

# Ratios are floored after adding this, so that 0.957 (stored as 0.95699999...) still reads 95.7 %.
_EPS = 1e-9


def no_data(lang: str = "zh") -> str:
    """The label of a missing value: "无数据" or "no data".

    Examples
    --------
    >>> no_data(), no_data("en")
    ('无数据', 'no data')
    """
    return NO_DATA["en" if lang == "en" else "zh"]


def is_missing(value: Any) -> bool:
    """True for None, NaN, pandas' NA and anything that is not a finite number.

    Examples
    --------
    >>> is_missing(None), is_missing(float("nan")), is_missing(0.0)
    (True, True, False)
    """
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def _floor_tenths(percent: float) -> float:
    return math.floor(percent * 10 + _EPS) / 10


def format_percent(ratio: Any, *, lang: str = "zh") -> str:
    """A ratio (0..1) as a percentage with one decimal, rounded down; "无数据"/"no data" when missing.

    Parameters
    ----------
    ratio : float or None
        The ratio, e.g. covered area / grid area.
    lang : {"zh", "en"}
        The language of the missing-value label.

    Returns
    -------
    str
        For example ``"88.7 %"``.

    Examples
    --------
    >>> format_percent(0.94999), format_percent(0.957), format_percent(0.0), format_percent(None)
    ('94.9 %', '95.7 %', '0.0 %', '无数据')
    >>> format_percent(-0.0004)
    '-0.1 %'
    """
    if is_missing(ratio):
        return no_data(lang)
    return f"{_floor_tenths(100 * float(ratio)) + 0.0:.1f} %"


def format_percent_change(delta: Any, *, lang: str = "zh") -> str:
    """A change of a ratio in percentage points, with its sign; "无数据"/"no data" when missing.

    The magnitude is rounded down like :func:`format_percent`, so a change never reads larger than it is.

    Examples
    --------
    >>> format_percent_change(0.0123), format_percent_change(-0.05), format_percent_change(0.0)
    ('+1.2 pp', '-5.0 pp', '±0.0 pp')
    >>> format_percent_change(float("nan"), lang="en")
    'no data'
    """
    if is_missing(delta):
        return no_data(lang)
    magnitude = _floor_tenths(abs(100 * float(delta)))
    sign = "±" if magnitude == 0 else ("+" if delta > 0 else "-")
    return f"{sign}{magnitude:.1f} pp"
