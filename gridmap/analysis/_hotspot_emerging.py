"""Time steps, the Mann-Kendall trend test and ArcGIS's emerging hot spot categories.

The machinery of :func:`gridmap.analysis.hotspot.space_time_cube` and
:func:`~gridmap.analysis.hotspot.emerging_hotspots` (the notes of
:mod:`gridmap.analysis.hotspot`, "Emerging hot spots", give the steps, the
category rules and their sources); the public names import from there too.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse, stats

from gridmap.errors import SchemaError
from gridmap.model import DEFAULT_TZ

#: The emerging hot spot categories, exactly as ArcGIS Pro names them.
EMERGING_CATEGORIES: tuple[str, ...] = tuple(
    f"{kind} {side} spot"
    for side in ("hot", "cold")
    for kind in ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating",
                 "historical")
) + ("no pattern detected",)
#: Fewest time steps :func:`~gridmap.analysis.hotspot.emerging_hotspots` accepts (the smallest T where a
#: Mann-Kendall trend can be significant at 0.05: T = 5 gives Z = 2.20 for a strictly monotone series).
MIN_STEPS = 5

_INTERVALS = {"week": "W-SUN", "month": "M"}


# ----------------------------------------------------------------------------------------------- time


def _times(reports: gpd.GeoDataFrame) -> pd.Series:
    if "reported_at" not in reports.columns:
        raise SchemaError("reports need a 'reported_at' column of times for the space-time analysis")
    t = pd.to_datetime(reports["reported_at"])
    if t.dt.tz is None:
        t = t.dt.tz_localize(DEFAULT_TZ)
    return t.dt.tz_convert(DEFAULT_TZ)


def _period_start(t: pd.Series | pd.Timestamp, interval: str) -> Any:
    freq = _INTERVALS[interval]
    if isinstance(t, pd.Timestamp):
        return _period_start(pd.Series([t]), interval).iloc[0]
    naive = t.dt.tz_localize(None)
    return naive.dt.to_period(freq).dt.start_time.dt.tz_localize(DEFAULT_TZ)


def _as_time(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize(DEFAULT_TZ) if ts.tzinfo is None else ts.tz_convert(DEFAULT_TZ)


def _steps(first: pd.Timestamp, last: pd.Timestamp, interval: str) -> list[pd.Timestamp]:
    freq = "W-MON" if interval == "week" else "MS"
    naive = pd.date_range(first.tz_localize(None), last.tz_localize(None), freq=freq)
    return [ts.tz_localize(DEFAULT_TZ) for ts in naive]


# ----------------------------------------------------------------------------------------------- emerging


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Kendall trend test on each row: continuity-corrected Z (tie-corrected variance) and two-sided p.

    Parameters
    ----------
    series : numpy.ndarray
        2-D, one series per row (time along axis 1). Rows holding NaN give NaN.

    Returns
    -------
    tuple of numpy.ndarray
        Z and p per row.

    Examples
    --------
    >>> z, p = mann_kendall(np.array([[1.0, 2, 3, 4, 5], [5, 4, 3, 2, 1], [1, 1, 1, 1, 1]]))
    >>> np.round(z, 3).tolist(), bool(p[0] < 0.05), float(p[2])
    ([2.205, -2.205, 0.0], True, 1.0)
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    t = x.shape[1]
    s = np.zeros(len(x))
    for i in range(t - 1):
        s += np.sign(x[:, i + 1:] - x[:, i:i + 1]).sum(axis=1)
    srt = np.sort(x, axis=1)
    ties = np.zeros(len(x))
    run = np.ones(len(x))
    for i in range(1, t + 1):
        same = (srt[:, i] == srt[:, i - 1]) if i < t else np.zeros(len(x), dtype=bool)
        ended = ~same
        ties += np.where(ended, run * (run - 1) * (2 * run + 5), 0.0)
        run = np.where(same, run + 1, 1.0)
    var = (t * (t - 1) * (2 * t + 5) - ties) / 18.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    z[np.isnan(x).any(axis=1)] = np.nan
    return z, 2.0 * stats.norm.sf(np.abs(z))


def _trailing_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True at the end of each row."""
    rev = flags[:, ::-1]
    first_false = np.where((~rev).any(axis=1), np.argmax(~rev, axis=1), flags.shape[1])
    return first_false


def _side(flags: np.ndarray, other: np.ndarray, up: np.ndarray, down: np.ndarray, side: str) -> np.ndarray:
    """Categories for the cells whose final step is significant on `side` (others: empty string)."""
    t = flags.shape[1]
    count = flags.sum(axis=1)
    final = flags[:, -1]
    most = count * 10 >= 9 * t
    run = _trailing_run(flags)
    out = np.full(len(flags), "", dtype=object)
    earlier_other = other[:, :-1].any(axis=1)
    rules = [
        (final & (count == 1), "new"),
        (final & (run >= 2) & (count == run) & ~most, "consecutive"),
        (final & most & up, "intensifying"),
        (final & most & down, "diminishing"),
        (final & most, "persistent"),
        (final & earlier_other, "oscillating"),
        (final, "sporadic"),
    ]
    for mask, name in reversed(rules):
        out[mask] = f"{name} {side} spot"
    return out


def categorise(hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray, *,
               alpha: float = 0.05) -> np.ndarray:
    """Emerging hot spot category of each cell from its significant hot/cold steps and its trend.

    Parameters
    ----------
    hot, cold : numpy.ndarray
        Boolean, cells × steps: the bin is a significant hot (cold) spot.
    trend_z, trend_p : numpy.ndarray
        Mann-Kendall Z and p of each cell's Gi* z series.
    alpha : float
        Level at which the trend is significant.

    Returns
    -------
    numpy.ndarray
        One of :data:`EMERGING_CATEGORIES` per cell (rules in the notes of :mod:`gridmap.analysis.hotspot`).

    Examples
    --------
    >>> hot = np.array([[0, 0, 0, 0, 1], [0, 0, 0, 1, 1], [1, 1, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=bool)
    >>> categorise(hot, np.zeros_like(hot), np.zeros(4), np.ones(4)).tolist()
    ['new hot spot', 'consecutive hot spot', 'no pattern detected', 'no pattern detected']
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    trend_z = np.asarray(trend_z, dtype=np.float64)
    sig = np.asarray(trend_p, dtype=np.float64) < alpha
    up, down = sig & (trend_z > 0), sig & (trend_z < 0)
    t = hot.shape[1]
    out = np.full(len(hot), "no pattern detected", dtype=object)
    out[(cold.sum(axis=1) * 10 >= 9 * t) & ~cold[:, -1]] = "historical cold spot"
    out[(hot.sum(axis=1) * 10 >= 9 * t) & ~hot[:, -1]] = "historical hot spot"
    cold_cat = _side(cold, hot, down, up, "cold")
    hot_cat = _side(hot, cold, up, down, "hot")
    out[cold_cat != ""] = cold_cat[cold_cat != ""]
    out[hot_cat != ""] = hot_cat[hot_cat != ""]
    return out


def _space_time_z(counts: np.ndarray, w: sparse.csr_matrix) -> np.ndarray:
    """Space-time Gi* z per bin: spatial neighbours in the same and the previous step."""
    x = counts.astype(np.float64)
    n_bins = x.size
    mean = x.mean()
    s = math.sqrt(max(float((x * x).mean() - mean * mean), 0.0))
    wx = w @ x
    lagged = wx.copy()
    lagged[:, 1:] += wx[:, :-1]
    card = np.asarray(w.sum(axis=1)).ravel()[:, None]
    sq = np.asarray(w.multiply(w).sum(axis=1)).ravel()[:, None]
    factor = np.ones(x.shape[1])[None, :]
    factor[:, 1:] = 2.0
    sw, sw2 = card * factor, sq * factor
    with np.errstate(invalid="ignore", divide="ignore"):
        den = s * np.sqrt(np.maximum(n_bins * sw2 - sw * sw, 0.0) / (n_bins - 1))
        z = (lagged - mean * sw) / den
    z[~np.isfinite(z) | (den <= 0)] = np.nan
    return z
