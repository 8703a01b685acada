"""Choosing reports for an analysis: a period, categories, and the period's length in months.

Periods are half-open, ``start <= time < end``, like ``gridmap coverage --from/--to``.
A date or time without a zone is read as Asia/Shanghai.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from gridmap.errors import SchemaError
from gridmap.model import DEFAULT_TZ, category_key

__all__ = ["select_reports", "period_months", "as_time", "pushdown_period", "DAYS_PER_MONTH"]

#: Days in the average Gregorian month, the unit of "per month" densities.
DAYS_PER_MONTH = 30.4375


def as_time(value: Any) -> pd.Timestamp | None:
    """A zone-aware timestamp from a string, date or timestamp (no zone → Asia/Shanghai); None stays None.

    Examples
    --------
    >>> as_time("2025-03-01").isoformat()
    '2025-03-01T00:00:00+08:00'
    >>> as_time("2025-03-01T00:00:00Z").isoformat()
    '2025-03-01T00:00:00+00:00'
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise SchemaError(f"{value!r} is not a date or time; write it like 2025-03-01 or 2025-03-01T08:00") from None
    return stamp.tz_localize(DEFAULT_TZ) if stamp.tzinfo is None else stamp


def pushdown_period(start: Any, end: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None] | None:
    """The period ``[start, end)`` as zone-aware bounds a store can read through its index, or None when there is
    nothing to push down: no bound given, or a bad one (the analysis then refuses it with its own message).

    Examples
    --------
    >>> [t.date().isoformat() for t in pushdown_period("2025-03-01", "2025-04-01")]
    ['2025-03-01', '2025-04-01']
    >>> pushdown_period(None, None), pushdown_period("someday", None), pushdown_period("2025-03-01", None)[1]
    (None, None, None)
    """
    try:
        first, last = as_time(start), as_time(end)
    except SchemaError:
        return None
    if first is pd.NaT or last is pd.NaT or (first is None and last is None):
        return None
    return first, last


def select_reports(
    reports: pd.DataFrame,
    *,
    start: Any = None,
    end: Any = None,
    categories: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Reports with a time in ``[start, end)`` and, when given, of the `categories`.

    Parameters
    ----------
    reports : pandas.DataFrame or geopandas.GeoDataFrame
        The ``reports`` layer (``reported_at`` zone-aware, ``category`` keys).
    start, end : str, datetime or pandas.Timestamp, optional
        Bounds of the period; no zone means Asia/Shanghai.
    categories : iterable of str, optional
        Category keys or zh-Hans labels.

    Returns
    -------
    Same type as `reports`
        The rows kept, in their order and with their index; reports without a
        time are left out.

    Raises
    ------
    SchemaError
        An unknown category (the message lists the known ones) or an unreadable date.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"reported_at": pd.to_datetime(["2025-02-28 23:00", "2025-03-01 08:00"]).tz_localize(
    ...     "Asia/Shanghai"), "category": ["garbage_dumping", "firewood_pile"]})
    >>> len(select_reports(r, start="2025-03-01")), len(select_reports(r, categories=["垃圾乱倒"]))
    (1, 1)
    """
    times = reports["reported_at"]
    keep = times.notna()
    first, last = as_time(start), as_time(end)
    if first is not None:
        keep &= times >= first
    if last is not None:
        keep &= times < last
    if categories:
        wanted = {category_key(c) for c in categories}
        keep &= reports["category"].isin(wanted)
    return reports[keep]


def period_months(reports: pd.DataFrame, *, start: Any = None, end: Any = None) -> float:
    """Length of the period in months of :data:`DAYS_PER_MONTH` days.

    The bounds given win; a missing one is taken from the reports' first or
    last time. At least one day.

    Examples
    --------
    >>> import pandas as pd
    >>> empty = pd.DataFrame({"reported_at": pd.Series([], dtype="datetime64[ns, Asia/Shanghai]")})
    >>> round(period_months(empty, start="2025-01-01", end="2026-01-01"), 3)
    11.992
    """
    times = reports["reported_at"].dropna()
    first = as_time(start) if start is not None else (times.min() if len(times) else None)
    last = as_time(end) if end is not None else (times.max() if len(times) else None)
    if first is None or last is None:
        return 1.0
    return max((last - first).total_seconds() / (DAYS_PER_MONTH * 86400), 1.0 / DAYS_PER_MONTH)
