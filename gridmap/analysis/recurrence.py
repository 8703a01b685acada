"""Recurrence (反弹, "rebound"): problems that come back after they were fixed.

The article's goal is that a fixed problem "does not rebound" (不反弹). This
module finds the reports that break it, and the places where that happens.

Rules
-----
A report ``R`` *recurs* an earlier report ``P`` when all of these hold:

* ``distance(R, P) <= radius_m``, measured in the metric CRS chosen by
  :func:`gridmap.crs.metric_crs` (CGCS2000 Gauss-Kruger near Yulin);
* ``P`` has a rectification with ``P.reported_at < rectified_at <
  R.reported_at``; when ``P`` was rectified several times (reopened and fixed
  again), the one that counts is the **latest rectification before R was
  reported**;
* ``R.reported_at - rectified_at <= window_days`` (days as 86 400 s);
* ``R.category == P.category`` unless ``same_category=False``.

A report made *before* ``P`` was rectified is a duplicate sighting of the same
open problem, not a recurrence. Rectifications dated at or before their own
report's time are ignored (counted in ``attrs["rectifications_ignored"]``).

When ``R`` recurs several earlier reports, :func:`recurrences` gives **one row
per R**, paired with the earlier report whose qualifying rectification is the
most recent (the fix that failed last, so ``days_since_rectification`` is the
smallest); ties go to the nearest, then the latest reported, then the smallest
``report_id``. So each report counts at most once and a recurrence rate
``len(recurrences) / len(reports)`` is meaningful.

A *recurring site* (:func:`recurring_sites`) is a connected component of the
graph linking every two reports within ``radius_m`` of each other (of the same
category when ``same_category``): a chain A-B-C is one site even when A and C
are farther apart than ``radius_m``.

A report's recurrence is always judged against its history: every report and
rectification given. With ``period=(start, end)``, :func:`recurring_sites`
makes its sites of the period's reports only (``start <= reported_at < end``;
the graph above among them), and a site's ``recurrences`` counts those of its
reports that recur *any* earlier report given, made in the period or before
it. So a leaders' page of a period, given the reports and rectifications a
scoreboard of that period reads, counts the same recurrences as the scoreboard
(:func:`gridmap.analysis.supervision.scoreboard_periods`), from one computation.

Method
------
Neither function lists the pairs of reports within the radius (at a market or a dump that keeps coming back,
thousands of reports lie within a few hundred metres, and the pairs run to millions). A report's recurrence is
found by walking the rectifications of one grid cell around it from the newest before it backwards, stopping
at the first within the radius; sites are the connected components of grid cells of side ``radius_m / √2``
(all reports of one cell are linked) joined by nearest-neighbour tests between neighbouring cells
(:mod:`gridmap.analysis._recurrence_search`, after grid-based DBSCAN: Gan & Tao, "DBSCAN revisited", SIGMOD
2015). The answers are those of the pair definitions above, exactly.

The result for one set of inputs is kept (a small cache keyed by a digest of the exact inputs and options,
:mod:`gridmap.analysis._recurrence_cache`), so a leaders' page and a scoreboard of the same layers, or
:func:`recurrences` then :func:`recurring_sites` (with or without a `period`), compute it once; any change to an
input computes it again. :func:`cache_info` tells how often the search ran and the cache answered;
:func:`clear_cache` forgets what was kept and resets those counts.

Examples
--------
>>> from gridmap.sample import sample_reports
>>> reports, fixes = sample_reports(n_reports=400, days=120)
>>> rec = recurrences(reports, rectifications=fixes)
>>> list(rec.columns)  # doctest: +NORMALIZE_WHITESPACE
['report_id', 'previous_report_id', 'category', 'distance_m', 'days_since_rectification',
 'reported_at', 'previous_rectified_at', 'grid_code']
>>> bool((rec["distance_m"] <= 50).all() and rec["days_since_rectification"].between(0, 30).all())
True
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from gridmap.errors import SchemaError
from gridmap.crs import metric_crs, require_crs, transformer
from gridmap.model import DEFAULT_TZ, STORAGE_CRS
from gridmap.analysis.inputs import LayerReader, is_reader
from gridmap.analysis._recurrence_search import latest_rectifications, linked_components
from gridmap.analysis.selection import as_time
from gridmap.analysis._recurrence_cache import (
    CacheInfo, cache_get, cache_info, cache_put, clear_cache, count_computation, fingerprint,
)

__all__ = ["RECURRENCE_COLUMNS", "SITE_COLUMNS", "DEFAULT_WINDOW_DAYS", "CacheInfo", "cache_info", "clear_cache",
           "recurrences", "recurring_sites"]

logger = logging.getLogger(__name__)

#: Columns of :func:`recurrences`, in order.
RECURRENCE_COLUMNS = ("report_id", "previous_report_id", "category", "distance_m", "days_since_rectification",
                      "reported_at", "previous_rectified_at", "grid_code")
#: Columns of :func:`recurring_sites` (before ``geometry``), in order.
SITE_COLUMNS = ("site_id", "category", "reports", "recurrences", "first_seen", "last_seen",
                "median_days_to_rebound", "grid_code", "cadre", "report_ids")

#: Default ``window_days`` of :func:`recurrences`: a report recurs a fix at most this many days old.
DEFAULT_WINDOW_DAYS = 30.0

_DAY_NS = 86_400 * 10**9
# Pre-filter radius of the KD-tree, a hair larger so that the exact test (hypot <= radius) decides the boundary.
_RADIUS_SLACK = 1.0 + 1e-9


@dataclass
class _Prepared:
    """Reports with a time and a position, as plain arrays, plus what was skipped."""

    ids: np.ndarray  # object str
    t: np.ndarray  # int64 ns UTC
    xy: np.ndarray  # (n, 2) metric
    cat: np.ndarray  # int category codes (all 0 when categories are ignored)
    categories: np.ndarray  # object, category of each report (None when absent)
    grid_code: np.ndarray  # object
    crs: pyproj.CRS
    stats: dict[str, Any]


# ---------------------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------------------


def _check_options(radius_m: float, window_days: float) -> None:
    for name, value in (("radius_m", radius_m), ("window_days", window_days)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0 or math.isnan(value):
            raise SchemaError(f"{name} must be a positive number, got {value!r}; e.g. radius_m=50, window_days=30")
    if not math.isfinite(radius_m):
        raise SchemaError(f"radius_m must be finite, got {radius_m!r}; e.g. radius_m=50")


def _resolve_inputs(reports: Any, rectifications: pd.DataFrame | None,
                    workspace: LayerReader | None) -> tuple[gpd.GeoDataFrame, pd.DataFrame, LayerReader | None]:
    if is_reader(reports):
        workspace = reports
        reports = workspace.read_layer("reports")
    if not isinstance(reports, gpd.GeoDataFrame):
        raise SchemaError(f"reports must be a GeoDataFrame of points or a Workspace, got {type(reports).__name__}")
    if rectifications is None:
        if workspace is None:
            raise SchemaError("no rectifications: pass rectifications= (a frame with report_id and rectified_at)"
                              " or workspace= (whose 'rectifications' layer is then used)")
        rectifications = workspace.read_layer("rectifications")
    missing = [c for c in ("report_id", "rectified_at") if c not in rectifications.columns]
    if missing:
        raise SchemaError(f"rectifications lack column(s) {', '.join(missing)}; they need report_id and rectified_at")
    return reports, rectifications, workspace


def _utc_ns(values: pd.Series, *, what: str) -> np.ndarray:
    """Times as int64 ns since the epoch (UTC); NaT as the int64 minimum. Naive times are taken as DEFAULT_TZ."""
    try:
        times = pd.to_datetime(values)
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{what} holds values that are not times ({exc}); parse them first, e.g. with"
                          " pd.to_datetime, or import the file into a workspace") from exc
    if times.dt.tz is None:
        logger.info("%s has no time zone: taken as %s", what, DEFAULT_TZ)
        times = times.dt.tz_localize(DEFAULT_TZ)
    naive_utc = times.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns")
    return naive_utc.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _as_text(values: pd.Series) -> np.ndarray:
    """``values.astype(str)`` as an object array, without the round trip when the values already are text."""
    text_dtype = isinstance(values.dtype, pd.StringDtype) and values.dtype.na_value is not pd.NA
    if text_dtype or (values.dtype == object
                      and pd.api.types.infer_dtype(values.to_numpy(object), skipna=False) == "string"):
        return values.to_numpy(object)
    return values.astype(str).to_numpy(object)


def _point_xy(reports: gpd.GeoDataFrame, crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """Metric coordinates of each report and a mask of those with a position."""
    geoms = reports.geometry.values
    has = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    kinds = shapely.get_type_id(geoms[has])
    if np.any(kinds != 0):
        raise SchemaError("reports must be points; found other geometry types. Use their representative points,"
                          " e.g. reports.set_geometry(reports.representative_point())")
    xy = np.full((len(reports), 2), np.nan)
    if has.any():
        coords = shapely.get_coordinates(geoms[has])
        if pyproj.CRS.from_user_input(reports.crs) == crs:
            xy[has] = coords
        else:  # the transformer GeoSeries.to_crs uses (always_xy), without making new geometries
            xy[has, 0], xy[has, 1] = transformer(reports.crs, crs).transform(coords[:, 0], coords[:, 1])
    return xy, has & np.isfinite(xy).all(axis=1)


def _prepare(reports: gpd.GeoDataFrame, *, same_category: bool) -> _Prepared:
    require_crs(reports, what="reports")
    needed = ["report_id", "reported_at"] + (["category"] if same_category else [])
    missing = [c for c in needed if c not in reports.columns]
    if missing:
        raise SchemaError(f"reports lack column(s) {', '.join(missing)}; needed: {', '.join(needed)}"
                          + ("" if "category" not in missing else " (or pass same_category=False)"))
    ids = _as_text(reports["report_id"])
    if len(pd.factorize(ids)[1]) < len(ids):
        dup = pd.Index(ids).duplicated()
        raise SchemaError(f"{int(dup.sum())} duplicate report_id(s), e.g. {ids[dup][0]!r}; each report needs a"
                          " unique id: drop duplicates with reports.drop_duplicates('report_id')")
    t = _utc_ns(reports["reported_at"], what="reported_at")
    has_time = t != np.iinfo(np.int64).min
    crs = metric_crs(reports[~(reports.geometry.is_empty | reports.geometry.isna())]) if len(reports) else \
        pyproj.CRS.from_epsg(4546)
    xy, has_pos = _point_xy(reports, crs)
    keep = has_time & has_pos
    stats = {"reports_in": int(len(reports)), "skipped_no_time": int((~has_time).sum()),
             "skipped_no_position": int((has_time & ~has_pos).sum()), "metric_crs": crs.to_string()}
    if stats["skipped_no_time"] or stats["skipped_no_position"]:
        logger.warning("skipped %d report(s) without a time and %d without a position",
                       stats["skipped_no_time"], stats["skipped_no_position"])
    cats = reports["category"].to_numpy(object) if "category" in reports else np.full(len(reports), None, object)
    codes = pd.factorize(pd.Series(cats[keep], dtype=object).astype(str))[0] if same_category \
        else np.zeros(int(keep.sum()), dtype=np.int64)
    grid = reports["grid_code"].to_numpy(object) if "grid_code" in reports else np.full(len(reports), None, object)
    return _Prepared(ids[keep], t[keep], xy[keep], codes, cats[keep], grid[keep], crs, stats)


def _events(prep: _Prepared, rectifications: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(report position, rectification time ns) of each usable rectification, sorted by time."""
    # one hash pass over the report ids (unique, so coded 0..n-1 in order) and the rectifications' ids
    codes = pd.factorize(np.concatenate([prep.ids, _as_text(rectifications["report_id"])]))[0]
    pos = codes[len(prep.ids):]
    pos = np.where(pos < len(prep.ids), pos, -1)
    when = _utc_ns(rectifications["rectified_at"], what="rectified_at")
    timed = when != np.iinfo(np.int64).min
    matched = pos >= 0
    after = np.zeros(len(pos), dtype=bool)
    after[matched & timed] = when[matched & timed] > prep.t[pos[matched & timed]]
    stats = {"rectifications_in": int(len(pos)), "rectifications_unmatched": int((~matched).sum()),
             "rectifications_no_time": int((matched & ~timed).sum()),
             "rectifications_ignored": int((matched & timed & ~after).sum())}
    order = np.argsort(when[after], kind="stable")
    return pos[after][order], when[after][order], stats


# ---------------------------------------------------------------------------------------------------------------
# recurrences
# ---------------------------------------------------------------------------------------------------------------


_Pairs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _no_pairs() -> _Pairs:
    empty = np.empty(0, dtype=np.int64)
    return empty, empty, empty, np.empty(0, dtype=np.float64)


def _block_pairs(prep: _Prepared, ev_pos: np.ndarray, ev_t: np.ndarray, rep: np.ndarray,
                 radius_m: float, window_ns: int) -> _Pairs:
    """Qualifying (R, P, rectified_at, distance) of the reports `rep` of one time block."""
    lo = int(prep.t[rep].min()) - window_ns
    hi = int(prep.t[rep].max())
    a, b = np.searchsorted(ev_t, [lo, hi], side="left")
    if a == b:
        return _no_pairs()
    ev = np.arange(a, b)
    found = cKDTree(prep.xy[rep]).sparse_distance_matrix(cKDTree(prep.xy[ev_pos[ev]]), radius_m * _RADIUS_SLACK,
                                                         output_type="ndarray")
    r, e = rep[found["i"]], ev[found["j"]]
    p = ev_pos[e]
    d = np.hypot(prep.xy[r, 0] - prep.xy[p, 0], prep.xy[r, 1] - prep.xy[p, 1])
    lag = prep.t[r] - ev_t[e]
    ok = (d <= radius_m) & (lag > 0) & (lag <= window_ns) & (prep.cat[r] == prep.cat[p])
    return r[ok], p[ok], ev_t[e][ok], d[ok]


def _best_per_report(r: np.ndarray, p: np.ndarray, rect: np.ndarray, d: np.ndarray,
                     prep: _Prepared) -> np.ndarray:
    """Index of the chosen candidate of each report: latest fix, then nearest, latest reported, smallest id."""
    id_rank = np.argsort(np.argsort(prep.ids[p].astype(str), kind="stable"), kind="stable")
    order = np.lexsort((id_rank, -prep.t[p], d, -rect, r))
    first = np.ones(len(order), dtype=bool)
    first[1:] = r[order][1:] != r[order][:-1]
    return order[first]


def _candidates(prep: _Prepared, ev_pos: np.ndarray, ev_t: np.ndarray, radius_m: float, window_ns: int) -> _Pairs:
    """Every qualifying (R, P, fix) triple, by time blocks of one window."""
    if len(ev_t) == 0 or len(prep.t) == 0:
        return _no_pairs()
    by_time = np.argsort(prep.t, kind="stable")
    span = int(prep.t.max() - prep.t.min())
    step = max(window_ns, 1) if window_ns <= span else span + 1
    block = (prep.t[by_time] - prep.t.min()) // step
    cuts = np.flatnonzero(np.diff(block)) + 1
    parts = [_block_pairs(prep, ev_pos, ev_t, rep, radius_m, window_ns) for rep in np.split(by_time, cuts)]
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(4))  # type: ignore[return-value]


def time_then_id_order(t: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions sorting by time, then by id (as text) among equal times; only tied times compare ids."""
    order = np.argsort(t)  # equal times are put in id order below
    ts = t[order]
    tied = np.zeros(len(order), dtype=bool)
    tied[1:] = ts[1:] == ts[:-1]
    tied[:-1] |= tied[1:]
    if tied.any():
        sub = order[tied]
        order[tied] = sub[np.lexsort((ids[sub].astype(str), t[sub]))]
    return order


def _local(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(DEFAULT_TZ)


def _recurrence_frame(prep: _Prepared, r: np.ndarray, p: np.ndarray, rect: np.ndarray,
                      d: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """One row per (report, earlier report, rectification, distance), sorted by time then report_id; and the
    position of each row's report."""
    order = time_then_id_order(prep.t[r], prep.ids[r])
    r, p, rect, d = r[order], p[order], rect[order], d[order]
    return r, pd.DataFrame({
        "report_id": pd.Series(prep.ids[r], dtype=object),
        "previous_report_id": pd.Series(prep.ids[p], dtype=object),
        "category": pd.Series(prep.categories[r], dtype=object),
        "distance_m": d.astype(np.float64),
        "days_since_rectification": (prep.t[r] - rect).astype(np.float64) / _DAY_NS,
        "reported_at": _local(prep.t[r]),
        "previous_rectified_at": _local(rect),
        "grid_code": pd.Series(prep.grid_code[r], dtype=object),
    })


def _recurrences(prep: _Prepared, rectifications: pd.DataFrame, *, radius_m: float,
                 window_days: float) -> tuple[pd.DataFrame, np.ndarray]:
    """The recurrence frame and, for each of its rows, the position of its report in `prep`."""
    ev_pos, ev_t, ev_stats = _events(prep, rectifications)
    window_ns = int(round(window_days * _DAY_NS)) if math.isfinite(window_days) else np.iinfo(np.int64).max // 4
    found = latest_rectifications(prep.xy, prep.t, prep.cat, prep.ids, ev_pos, ev_t, radius_m, window_ns)
    if found is None:  # coordinates spread over more than 2**62 cells: the pair search
        r, p, rect, d = _candidates(prep, ev_pos, ev_t, radius_m, window_ns)
        best = _best_per_report(r, p, rect, d, prep) if len(r) else np.empty(0, dtype=np.int64)
        found = (r[best], p[best], rect[best], d[best])
    rec_pos, frame = _recurrence_frame(prep, *found)
    frame.attrs.update({**prep.stats, **ev_stats, "radius_m": float(radius_m), "window_days": float(window_days),
                        "reports_used": int(len(prep.t))})
    logger.info("%d recurrence(s) among %d report(s)", len(frame), len(prep.t))
    return frame, rec_pos


@dataclass
class _Computed:
    """What one set of inputs gives, kept in the cache: the prepared reports, the recurrences (and the position
    of each one's report), and the site labels of each period a caller asked sites of (by its bounds in ns)."""

    prep: _Prepared
    rec: pd.DataFrame
    rec_pos: np.ndarray
    labels: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)


def _computed(frame: gpd.GeoDataFrame, fixes: pd.DataFrame, *, radius_m: float, window_days: float,
              same_category: bool) -> _Computed:
    """The recurrences of these exact inputs: from the cache when the same inputs were seen, else computed."""
    key = fingerprint(frame, fixes, (float(radius_m), float(window_days), bool(same_category)))
    entry = cache_get(key)
    if entry is not None:
        logger.debug("recurrences of %d report(s) reused (same inputs as before)", len(entry.prep.t))
        return entry
    prep = _prepare(frame, same_category=same_category)
    rec, rec_pos = _recurrences(prep, fixes, radius_m=radius_m, window_days=window_days)
    rec.attrs["same_category"] = bool(same_category)
    count_computation()
    logger.info("recurrences computed for %d report(s) and %d rectification(s)", len(prep.t), len(fixes))
    entry = _Computed(prep, rec, rec_pos)
    cache_put(key, entry)
    return entry


def recurrences(
    reports: gpd.GeoDataFrame | LayerReader,
    *,
    rectifications: pd.DataFrame | None = None,
    workspace: LayerReader | None = None,
    radius_m: float = 50.0,
    window_days: float = DEFAULT_WINDOW_DAYS,
    same_category: bool = True,
) -> pd.DataFrame:
    """Find the reports that repeat an earlier, already rectified problem (反弹).

    See the module notes for the exact rules; in short, a report recurs an
    earlier one within `radius_m` whose latest rectification before it lies at
    most `window_days` back. Each report appears at most once.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame or LayerReader
        Points with ``report_id``, ``reported_at`` (times without a zone are
        taken as Asia/Shanghai) and ``category``; ``grid_code`` is carried over
        when present. An open workspace (any
        :class:`~gridmap.analysis.inputs.LayerReader`) gives its ``reports``
        and ``rectifications`` layers. Not modified. Reports without a time or position are skipped
        and counted.
    rectifications : pandas.DataFrame, optional
        ``report_id`` and ``rectified_at``, one row per rectification (several
        per report allowed). By default the workspace's.
    workspace : LayerReader, optional
        An open workspace to read the rectifications from when `rectifications`
        is omitted.
    radius_m : float
        Largest distance, in metres, between a report and the one it repeats.
    window_days : float
        Largest time from the rectification to the new report, in days
        (``math.inf`` for no limit).
    same_category : bool
        Whether only reports of the same category can repeat each other.

    Returns
    -------
    pandas.DataFrame
        One row per recurring report, sorted by ``reported_at``: ``report_id``,
        ``previous_report_id``, ``category`` (of the new report),
        ``distance_m`` (metres), ``days_since_rectification`` (float days),
        ``reported_at`` and ``previous_rectified_at`` (Asia/Shanghai),
        ``grid_code`` (of the new report). ``.attrs`` holds the counts
        ``reports_in``, ``skipped_no_time``, ``skipped_no_position``,
        ``reports_used``, ``rectifications_in``, ``rectifications_unmatched``,
        ``rectifications_no_time``, ``rectifications_ignored`` and the options.

    Raises
    ------
    CRSError
        When the reports have no CRS.
    SchemaError
        When a column is missing, report ids repeat, times cannot be read,
        geometries are not points, or an option is not positive.

    Examples
    --------
    >>> import pandas as pd, geopandas as gpd
    >>> from shapely.geometry import Point
    >>> t = pd.to_datetime(["2025-05-01 09:00", "2025-05-10 09:00"]).tz_localize("Asia/Shanghai")
    >>> reports = gpd.GeoDataFrame({"report_id": ["A", "B"], "reported_at": t, "category": ["garbage_dumping"] * 2},
    ...                            geometry=[Point(388900, 4240450), Point(388930, 4240490)], crs="EPSG:4546")
    >>> fixes = pd.DataFrame({"report_id": ["A"], "rectified_at": [pd.Timestamp("2025-05-02 09:00+08:00")]})
    >>> rec = recurrences(reports, rectifications=fixes)
    >>> rec[["report_id", "previous_report_id", "distance_m", "days_since_rectification"]].to_dict("records")
    [{'report_id': 'B', 'previous_report_id': 'A', 'distance_m': 50.0, 'days_since_rectification': 8.0}]
    """
    _check_options(radius_m, window_days)
    frame, fixes, _ = _resolve_inputs(reports, rectifications, workspace)
    require_crs(frame, what="reports")
    entry = _computed(frame, fixes, radius_m=radius_m, window_days=window_days, same_category=same_category)
    return entry.rec.copy()


# ---------------------------------------------------------------------------------------------------------------
# recurring sites
# ---------------------------------------------------------------------------------------------------------------


def _components(prep: _Prepared, radius_m: float) -> np.ndarray:
    """Component label of each report: reports linked within radius_m, within a category."""
    labels = linked_components(prep.xy, prep.cat, radius_m)
    if labels is not None:
        return labels
    n = len(prep.t)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for code in np.unique(prep.cat):
        members = np.flatnonzero(prep.cat == code)
        pairs = cKDTree(prep.xy[members]).query_pairs(radius_m * _RADIUS_SLACK, output_type="ndarray")
        i, j = members[pairs[:, 0]], members[pairs[:, 1]]
        near = np.hypot(prep.xy[i, 0] - prep.xy[j, 0], prep.xy[i, 1] - prep.xy[j, 1]) <= radius_m
        rows.append(i[near])
        cols.append(j[near])
    i = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    j = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _most_frequent_by(frame: pd.DataFrame, column: str, labels: pd.Index) -> pd.Series:
    """The most frequent non-missing value (as text) of `column` for every label.

    Ties go to the value seen first in `frame`'s order; a label without any value gets None.
    """
    present = frame[column].notna().to_numpy()
    codes, uniques = pd.factorize(_as_text(frame[column][present]))
    lab = frame["label"].to_numpy(np.int64)[present]
    width = max(len(uniques), 1)
    pairs, first, count = np.unique(lab * width + codes, return_index=True, return_counts=True)
    best = np.lexsort((first, -count, pairs // width))  # per label: most frequent, then seen first
    chosen = best[np.concatenate([[True], np.diff((pairs // width)[best]) != 0])] if len(best) else best
    out = pd.Series([None] * len(labels), index=labels, dtype=object)
    at = labels.get_indexer((pairs // width)[chosen])
    out.iloc[at[at >= 0]] = np.asarray(uniques, dtype=object)[(pairs % width)[chosen][at >= 0]]
    return out


def _site_table(prep: _Prepared, labels: np.ndarray, rec: pd.DataFrame, rec_pos: np.ndarray,
                min_reports: int) -> pd.DataFrame:
    """One row per component of at least `min_reports` reports (indexed by label)."""
    sizes = np.bincount(labels)
    keep = sizes[labels] >= min_reports
    order = time_then_id_order(prep.t, prep.ids)
    order = order[keep[order]]
    days = np.full(len(prep.t), np.nan)
    days[rec_pos] = rec["days_since_rectification"].to_numpy(np.float64)
    frame = pd.DataFrame({"label": labels[order], "t": prep.t[order], "days": days[order],
                          "x": prep.xy[order, 0], "y": prep.xy[order, 1],
                          "category": pd.Series(prep.categories[order], dtype=object),
                          "grid_code": pd.Series(prep.grid_code[order], dtype=object)})
    groups = frame.groupby("label", sort=True)
    size = groups.size()
    return pd.DataFrame({
        "reports": size,
        "recurrences": groups["days"].count(),
        "t_first": groups["t"].min(),
        "t_last": groups["t"].max(),
        "median_days_to_rebound": groups["days"].median(),
        "category": _most_frequent_by(frame, "category", size.index),
        "grid_code": _most_frequent_by(frame, "grid_code", size.index),
        "report_ids": pd.Series(_joined_ids(prep.ids[order], labels[order]), index=size.index, dtype=object),
        "x": groups["x"].mean(),
        "y": groups["y"].mean(),
    })


def _joined_ids(ids: np.ndarray, labels: np.ndarray) -> list[str]:
    """The ids of each label joined by commas, in their order, labels ascending."""
    by_label = np.argsort(labels.astype(np.int64) * len(labels) + np.arange(len(labels)))  # keeps their order
    cuts = np.flatnonzero(np.diff(labels[by_label])) + 1
    return [",".join(part) for part in np.split(ids[by_label], cuts)] if len(ids) else []


def _grids_at(points: gpd.GeoSeries, grids: gpd.GeoDataFrame) -> tuple[list[Any], list[Any]]:
    """grid_code and cadre of the grid holding each point (the first grid on a shared edge; None outside)."""
    require_crs(grids, what="grids")
    if "grid_code" not in grids.columns:
        raise SchemaError("grids lack the column grid_code; pass the workspace's 'grids' layer")
    polys = grids.to_crs(points.crs)
    tree = shapely.STRtree(np.asarray(polys.geometry.values, dtype=object))
    pi, gi = tree.query(np.asarray(points.values, dtype=object), predicate="intersects")
    first = pd.Series(gi).groupby(pi).min()
    codes = grids["grid_code"].to_numpy(object)
    cadres = grids["cadre"].to_numpy(object) if "cadre" in grids.columns else np.full(len(grids), None, object)
    out_codes: list[Any] = [None] * len(points)
    out_cadres: list[Any] = [None] * len(points)
    for p, g in first.items():
        out_codes[int(p)], out_cadres[int(p)] = codes[int(g)], cadres[int(g)]
    return out_codes, out_cadres


def _empty_sites() -> gpd.GeoDataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SITE_COLUMNS})
    frame = frame.astype({"reports": np.int64, "recurrences": np.int64, "median_days_to_rebound": np.float64})
    frame["first_seen"] = pd.Series(pd.DatetimeIndex([], tz=DEFAULT_TZ))
    frame["last_seen"] = pd.Series(pd.DatetimeIndex([], tz=DEFAULT_TZ))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=STORAGE_CRS), crs=STORAGE_CRS)


def _sites_frame(table: pd.DataFrame, prep: _Prepared, grids: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    if table.empty:
        return _empty_sites()
    table = table.sort_values(["recurrences", "reports", "t_first"], ascending=[False, False, True], kind="stable")
    centres = gpd.GeoSeries(shapely.points(table[["x", "y"]].to_numpy()), crs=prep.crs).to_crs(STORAGE_CRS)
    centres.index = range(len(centres))
    grid_code = table["grid_code"].tolist()
    cadre: list[Any] = [None] * len(table)
    if grids is not None:
        grid_code, cadre = _grids_at(centres, grids)
    width = max(4, len(str(len(table))))
    frame = pd.DataFrame({
        "site_id": [f"S{k + 1:0{width}d}" for k in range(len(table))],
        "category": table["category"].to_numpy(object),
        "reports": table["reports"].to_numpy(np.int64),
        "recurrences": table["recurrences"].to_numpy(np.int64),
        "first_seen": _local(table["t_first"].to_numpy(np.int64)),
        "last_seen": _local(table["t_last"].to_numpy(np.int64)),
        "median_days_to_rebound": table["median_days_to_rebound"].to_numpy(np.float64),
        "grid_code": pd.Series(grid_code, dtype=object),
        "cadre": pd.Series(cadre, dtype=object),
        "report_ids": table["report_ids"].to_numpy(object),
    })
    return gpd.GeoDataFrame(frame, geometry=centres, crs=STORAGE_CRS)


#: The bounds (UTC ns) of no period: every report.
_ALL_TIME = (int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max))


def _period_ns(period: Any) -> tuple[int, int]:
    """The bounds of `period` (``(start, end)``, no zone: Asia/Shanghai) in UTC ns; open bounds as int64 extremes."""
    if period is None:
        return _ALL_TIME
    if isinstance(period, (str, bytes)) or not isinstance(period, (tuple, list)) or len(period) != 2:
        raise SchemaError(f"period must be a pair (start, end), e.g. period=('2025-03-01', '2025-04-01') or"
                          f" (start, None); got {period!r}")
    first, last = (as_time(bound) for bound in period)
    return (_ALL_TIME[0] if first is None else int(first.value), _ALL_TIME[1] if last is None else int(last.value))


def _period_sites(entry: _Computed, bounds: tuple[int, int],
                  radius_m: float) -> tuple[_Prepared, np.ndarray, pd.DataFrame, np.ndarray]:
    """The reports of the period (every report without bounds), their site labels (kept in `entry`), and the
    recurrences of those reports, with each one's position among them."""
    prep, rec, rec_pos = entry.prep, entry.rec, entry.rec_pos
    if bounds != _ALL_TIME:
        keep = (prep.t >= bounds[0]) & (prep.t < bounds[1])
        rows = keep[rec_pos]
        rec, rec_pos = rec[rows], (np.cumsum(keep) - 1)[rec_pos[rows]]
        prep = _Prepared(prep.ids[keep], prep.t[keep], prep.xy[keep], prep.cat[keep], prep.categories[keep],
                         prep.grid_code[keep], prep.crs, prep.stats)
    if bounds not in entry.labels:
        entry.labels[bounds] = _components(prep, radius_m)
    return prep, entry.labels[bounds], rec, rec_pos


def recurring_sites(
    reports: gpd.GeoDataFrame | LayerReader,
    *,
    rectifications: pd.DataFrame | None = None,
    workspace: LayerReader | None = None,
    radius_m: float = 50.0,
    window_days: float = 30.0,
    same_category: bool = True,
    grids: gpd.GeoDataFrame | None = None,
    min_reports: int = 2,
    period: tuple[Any, Any] | None = None,
) -> gpd.GeoDataFrame:
    """Group reports into places where problems keep coming back.

    A site is a connected component of reports linked within `radius_m` (of
    the same category when `same_category`); its recurrences are those of
    :func:`recurrences` with the same options, over every report given (see
    the module notes).

    Parameters
    ----------
    reports, rectifications, workspace, radius_m, window_days, same_category
        As for :func:`recurrences`.
    grids : geopandas.GeoDataFrame, optional
        Grid polygons with ``grid_code`` (and ``cadre``): each site gets the
        grid holding its centre. By default the workspace's grids when a
        workspace is given; without grids, ``grid_code`` is the most frequent
        one among the site's reports and ``cadre`` is None.
    min_reports : int
        Smallest number of reports a site must hold (at least 1).
    period : tuple of (str or pandas.Timestamp or None), optional
        ``(start, end)``: only the reports with ``start <= reported_at < end``
        (no zone: Asia/Shanghai; None leaves that side open) make up the
        sites, while every report given counts as an earlier report they may
        recur (a report recurring one made before the period counts). Default:
        every report.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points (the mean position of the site's reports), one row per
        site, sorted by ``recurrences``, then ``reports`` (both descending),
        then ``first_seen``: ``site_id`` (``S0001``...), ``category`` (the most
        frequent), ``reports``, ``recurrences`` (ints), ``first_seen``,
        ``last_seen`` (Asia/Shanghai), ``median_days_to_rebound`` (float days,
        NaN without recurrence), ``grid_code``, ``cadre``, ``report_ids``
        (comma-joined in time order). ``.attrs`` holds the counts of
        :func:`recurrences` (over every report given) plus ``sites``,
        ``min_reports`` and ``site_reports`` (the reports of the period used).

    Raises
    ------
    CRSError, SchemaError
        As for :func:`recurrences`; SchemaError also when `min_reports` < 1 or
        `period` is not a pair of times.

    Examples
    --------
    >>> from gridmap.sample import sample_boundaries, sample_reports
    >>> b = sample_boundaries()
    >>> reports, fixes = sample_reports(b, n_reports=400, days=120)
    >>> sites = recurring_sites(reports, rectifications=fixes, grids=b["grids"])
    >>> sites.crs.to_epsg(), bool((sites["reports"] >= 2).all())
    (4326, True)
    >>> bool(sites["recurrences"].is_monotonic_decreasing)
    True

    The sites of March alone, their recurrences judged against every report
    (a March report recurring one of February counts):

    >>> march = recurring_sites(reports, rectifications=fixes, period=("2025-03-01", "2025-04-01"))
    >>> in_march = reports["reported_at"].between(pd.Timestamp("2025-03-01", tz="Asia/Shanghai"),
    ...                                          pd.Timestamp("2025-04-01", tz="Asia/Shanghai"), inclusive="left")
    >>> march.attrs["site_reports"] == int(in_march.sum()), march.attrs["reports_used"] == len(reports)
    (True, True)
    """
    _check_options(radius_m, window_days)
    if isinstance(min_reports, bool) or not isinstance(min_reports, (int, np.integer)) or min_reports < 1:
        raise SchemaError(f"min_reports must be a whole number of at least 1, got {min_reports!r}")
    bounds = _period_ns(period)
    frame, fixes, workspace = _resolve_inputs(reports, rectifications, workspace)
    if grids is None and workspace is not None:
        grids = workspace.read_layer("grids")
    require_crs(frame, what="reports")
    entry = _computed(frame, fixes, radius_m=radius_m, window_days=window_days, same_category=same_category)
    prep, labels, rec, rec_pos = _period_sites(entry, bounds, radius_m)
    table = _site_table(prep, labels, rec, rec_pos, min_reports) if len(prep.t) else pd.DataFrame()
    out = _sites_frame(table, prep, grids)
    out.attrs.update({**entry.rec.attrs, "same_category": bool(same_category), "min_reports": int(min_reports),
                      "sites": int(len(out)), "site_reports": int(len(prep.t))})
    return out
