"""The supervision scoreboard (督查): the same figures, computed the same way, every week.

The function is :func:`gridmap.scoreboard` (this module is ``gridmap.analysis.supervision``,
so that the package attribute ``gridmap.scoreboard`` stays the function).

The article's supervision group notifies each community's problems and
criticises the communities that lag. :func:`scoreboard` turns the workspace
into one row per community (or grid, or cadre) for the reports made in a
period ``[start, end)``, ranks the rows and flags the laggards with the rule
that flagged them. Every figure is defined here, once.

Definitions
-----------
The *cut-off* is ``end``, or now when ``end`` lies in the future: the table
says what was known at the end of the period, so a closed week gives the same
figures when it is computed again later (unless late records for it are
imported).

``reports``
    Reports with ``start <= reported_at < end``, counted in the unit of the
    grid holding them (reports outside every grid are counted in
    ``attrs["unassigned_reports"]`` and logged, not ranked).
``rectified``
    Reports whose latest event at the cut-off is a rectification or a
    verification. Events are the ``rectifications`` rows (``rectified_at``,
    and ``verified_at`` when there is one) and the spot checks (``spotchecks``
    rows: verified or reopened); events before the report's own time (bad
    data; a fix at the very moment of the report, on the spot, counts), or
    after the cut-off, do not count, nor does the verification of a
    rectification dated before its report, nor a spot check made before the
    report's first rectification (it checked no fix). At equal times a verification
    follows its rectification and a spot check follows both. The ``status``
    column is not used: it says what is true now, not at the cut-off.
``verified``
    Reports whose latest event is a verification (``verified_at``, or a spot
    check that found the fix holding).
``reopened``
    Reports whose latest event is a spot check that found the problem back
    (虚假整改 or 反弹), not fixed again by the cut-off.
``rectification_rate``
    ``rectified / reports`` (NaN without reports).
``median_hours_to_rectify``
    Median, over the rectified reports, of the hours from the report to its
    *first* rectification.
``overdue``
    Reports not rectified within their category's deadline: the first
    rectification came later than ``reported_at + deadline``, or there is
    none and the cut-off is later than that. Deadlines are
    :data:`DEFAULT_DEADLINES_HOURS` unless given.
``overdue_rate``
    ``overdue / reports``.
``recurrences``, ``recurrence_rate``
    Reports of the period that recur an earlier, rectified problem
    (:func:`gridmap.analysis.recurrence.recurrences` with its default 50 m and 30
    days), and their share of ``reports``.
``coverage_ratio``, ``dead_corners``
    Of the sweep in the same period (:func:`gridmap.analysis.coverage.sweep_coverage`
    with its defaults, GPS fixes with ``start <= time < end``). When the
    period holds no usable GPS fix (or the workspace no track at all), both
    are unknown (NaN / NA), not 0: nobody can tell from the data whether
    nobody walked or the tracks were not imported. When the period holds
    fixes, a unit nobody walked through has coverage 0.
Missing data
    When the workspace holds no rectification at all, whether a report was
    fixed is unknown, not "no": ``rectified``, ``verified``, ``reopened``,
    ``rectification_rate``, ``median_hours_to_rectify``, ``overdue``,
    ``overdue_rate``, ``recurrences`` and ``recurrence_rate`` are NA / NaN
    (an overdue report is one *not rectified* in time, and a recurrence
    needs an earlier fix). An unknown figure takes no part in the score and
    breaks no lagging rule; ``attrs["unknown_parts"]`` names the score's
    components that were unknown (``attrs["previous_unknown_parts"]`` for the
    previous period). Tables write a missing value as an empty cell, pages
    as "无数据" / "no data".
``score``
    ``100 * sum(w_i * c_i) / sum(w_i)`` over the *known* components
    ``c = (rectification_rate, 1 - overdue_rate, coverage_ratio,
    1 - recurrence_rate)`` with the weights of :class:`Rules` (default
    40, 20, 30, 10): the weights are rescaled over the parts that are known,
    and the score is NaN when no weighted part is. A unit without reports
    scores full marks on the three report components (when rectifications
    are recorded): it had nothing left undone.
``rank``
    1 = best: ``score`` descending; ties by fewer ``overdue``, then higher
    ``coverage_ratio``, then more ``reports``, then the unit's key ascending,
    so every unit gets its own rank and the order never depends on the input
    order.
``previous_rank``, ``rank_change``, ``*_change``
    The same table for the period of the same length just before
    (``[start - (end - start), start)``): ``rank_change = previous_rank -
    rank`` (positive = moved up), and the differences of ``score``,
    ``reports``, ``rectification_rate`` and ``coverage_ratio``. A change is
    never computed against a missing value: it is NaN when either value is
    unknown (a previous week without tracks has no coverage, not 0), the
    ``score_change`` is NaN when the two scores rest on different known
    components, and when the previous period holds no data at all (no
    report, no GPS fix) ``previous_rank`` and every change are NA / NaN
    (``attrs["previous_has_data"]`` is then False).
``lagging``, ``lagging_reason``
    A unit lags when it breaks any rule of :class:`Rules`; the reason lists
    every rule broken with the unit's value and the threshold. The rules
    on rates apply only to units with at least ``Rules.min_reports``
    reports, so one late report out of one does not brand a community.

The deadlines and thresholds are gridmap's defaults, not the article's (it
gives none): set your own with ``deadlines=`` and ``rules=``, and state them
when the table is published. :func:`scoreboard` puts the ones used in
``attrs``.

Examples
--------
>>> import gridmap
>>> layers = gridmap.sample_layers(n_reports=600, track_days=7)
>>> board = scoreboard(layers, start="2025-03-03", end="2025-03-10")
>>> len(board), int(board["rank"].min()), sorted(board["rank"]) == list(range(1, len(board) + 1))
(6, 1, True)
>>> int(board["reports"].sum()) + board.attrs["unassigned_reports"] == len(gridmap.select_reports(
...     layers["reports"], start="2025-03-03", end="2025-03-10"))
True
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from gridmap.errors import GridmapError, SchemaError
from gridmap.formatting import format_percent, is_missing
from gridmap.model import CATEGORIES, DEFAULT_TZ, category_key
from gridmap.analysis.selection import as_time

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.storage import WorkspaceStore

__all__ = [
    "BY_CHOICES",
    "DEFAULT_DEADLINES_HOURS",
    "DEFAULT_DEADLINE_HOURS",
    "SCOREBOARD_COLUMNS",
    "Rules",
    "ScoreboardRun",
    "cadre_keys",
    "period_figures",
    "presented",
    "resolve_period",
    "run_scoreboard",
    "scoreboard",
    "scoreboard_headers",
    "weekly_figures",
    "write_scoreboard",
]

logger = logging.getLogger(__name__)

#: The units a scoreboard can rank, and the column holding each unit's key.
BY_CHOICES: Mapping[str, str] = {"community": "community_code", "grid": "grid_code", "cadre": "cadre"}

#: Hours to rectify a report of each built-in category before it is overdue.
#: gridmap's defaults (the article gives none): a day for what spreads or
#: blocks (garbage, sewage on the street, road-occupying stalls), two days for
#: piles and dead corners, three for firewood and vacant lots (they need a
#: truck), a week for scrapped vehicles and sewage outlets (an owner or a
#: works order is involved).
DEFAULT_DEADLINES_HOURS: Mapping[str, float] = {
    "garbage_dumping": 24.0,
    "sewage_splashing": 24.0,
    "road_occupying_business": 24.0,
    "random_piling": 48.0,
    "sanitation_dead_corner": 48.0,
    "firewood_pile": 72.0,
    "vacant_lot_garbage": 72.0,
    "scrapped_vehicle": 168.0,
    "sewage_discharge_point": 168.0,
    # the standard's event names that are categories of their own (gridmap.model.CATEGORY_ALIASES): the same
    # reasoning, a day for what spreads or blocks, two for a dirty green space, three for what needs a truck,
    # a week for a structure to pull down
    "road_not_clean": 24.0,
    "road_spillage": 24.0,
    "overflowing_bin": 24.0,
    "sewage_overflow": 24.0,
    "dirty_green_space": 48.0,
    "accumulated_garbage_muck": 72.0,
    "abandoned_furniture": 72.0,
    "illegal_structure": 168.0,
}
#: Deadline of a category added by a user without a deadline of its own.
DEFAULT_DEADLINE_HOURS = 72.0

_COMPONENTS = ("rectification_rate", "on_time_rate", "coverage_ratio", "no_recurrence_rate")


@dataclass(frozen=True)
class Rules:
    """How units are scored and when a unit lags.

    Parameters
    ----------
    weights : mapping
        Weights of the score's components ``rectification_rate``,
        ``on_time_rate`` (``1 - overdue_rate``), ``coverage_ratio`` and
        ``no_recurrence_rate`` (``1 - recurrence_rate``); default 40, 20, 30,
        10 (a 100-point score, rectification first: fixing is the campaign's
        point; coverage next: "no dead corners").
    min_reports : int
        Rate rules apply to units with at least this many reports (default 3).
    min_rectification_rate : float
        Lag below this rectification rate (default 0.8).
    max_overdue_rate : float
        Lag above this share of overdue reports (default 0.2).
    max_recurrence_rate : float
        Lag above this share of recurring reports (default 0.2: one in five
        reports is a problem that came back after its fix, 反弹).
    min_coverage_ratio : float
        Lag below this coverage of the sweep (default 0.8); ignored where
        coverage is unknown (no GPS fix in the period).
    bottom_ranks : int
        Also flag the last `bottom_ranks` units of the ranking (default 0: off;
        a relative rule flags someone even when every unit did well).

    Examples
    --------
    >>> Rules().min_rectification_rate
    0.8
    >>> Rules.from_value({"min_coverage_ratio": 0.9}).min_coverage_ratio
    0.9
    >>> Rules.from_value({"min_coverage": 0.9})
    Traceback (most recent call last):
    gridmap.errors.SchemaError: unknown rule 'min_coverage'; rules: weights, min_reports, ...
    """

    weights: Mapping[str, float] = field(default_factory=lambda: {
        "rectification_rate": 40.0, "on_time_rate": 20.0, "coverage_ratio": 30.0, "no_recurrence_rate": 10.0})
    min_reports: int = 3
    min_rectification_rate: float = 0.8
    max_overdue_rate: float = 0.2
    max_recurrence_rate: float = 0.2
    min_coverage_ratio: float = 0.8
    bottom_ranks: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(_COMPONENTS)
        if unknown:
            raise SchemaError(f"unknown score component(s) {sorted(unknown)}; components: {', '.join(_COMPONENTS)}")
        if any(not np.isfinite(w) or w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise SchemaError(f"score weights must be non-negative numbers, not all 0; got {dict(self.weights)}")
        if self.min_reports < 0 or self.bottom_ranks < 0:
            raise SchemaError("min_reports and bottom_ranks must be 0 or more")

    @classmethod
    def from_value(cls, value: "Rules | Mapping[str, Any] | None") -> "Rules":
        """Rules from None (the defaults), a Rules, or a mapping of the fields to change."""
        if value is None:
            return cls()
        if isinstance(value, Rules):
            return value
        names = [f.name for f in fields(cls)]
        unknown = [k for k in value if k not in names]
        if unknown:
            raise SchemaError(f"unknown rule {unknown[0]!r}; rules: {', '.join(names)}")
        changes = dict(value)
        if "weights" in changes:  # weights given in part keep the other defaults
            changes["weights"] = {**cls().weights, **changes["weights"]}
        return cls(**changes)


# ---------------------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------------------

_LAYERS = ("grids", "communities", "reports", "rectifications", "spotchecks", "tracks")


def _read_layers(source: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The layers a scoreboard needs, from a workspace, its path, or a mapping of layers; and the metadata."""
    from gridmap.storage import read_layers

    return read_layers(source, _LAYERS, what="the scoreboard")


def resolve_period(start: Any, end: Any, reports: pd.DataFrame | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The period ``[start, end)`` of a scoreboard, a week when a bound is missing.

    Without `end`, the period ends at ``start + 7 days``; without either, it
    is the Monday-to-Monday week (Asia/Shanghai) holding the latest report.

    Examples
    --------
    >>> [t.isoformat() for t in resolve_period("2025-03-03", None)]
    ['2025-03-03T00:00:00+08:00', '2025-03-10T00:00:00+08:00']
    >>> import pandas as pd
    >>> r = pd.DataFrame({"reported_at": [pd.Timestamp("2025-03-05 10:00", tz="Asia/Shanghai")]})
    >>> [t.date().isoformat() for t in resolve_period(None, None, r)]
    ['2025-03-03', '2025-03-10']
    """
    first, last = as_time(start), as_time(end)
    week = pd.Timedelta(days=7)
    if first is None and last is None:
        times = None if reports is None else reports["reported_at"].dropna()
        if times is None or len(times) == 0:
            raise SchemaError("no reports to choose a period from: give start and end, e.g. --from 2025-03-03")
        latest = times.max().tz_convert(DEFAULT_TZ)
        first = latest.normalize() - pd.Timedelta(days=latest.weekday())
    if first is None:
        first = last - week
    if last is None:
        last = first + week
    if not first < last:
        raise SchemaError(f"the period is empty: start {first.isoformat()} is not before end {last.isoformat()}")
    return first, last


def _deadline_hours(deadlines: Mapping[str, float] | None) -> dict[str, float]:
    merged = dict(DEFAULT_DEADLINES_HOURS)
    for name, hours in (deadlines or {}).items():
        value = float(hours)
        if not np.isfinite(value) or value <= 0:
            raise SchemaError(f"the deadline of {name!r} must be a positive number of hours, got {hours!r}")
        merged[category_key(name)] = value
    for key in CATEGORIES:
        merged.setdefault(key, DEFAULT_DEADLINE_HOURS)
    return merged


# ---------------------------------------------------------------------------------------------------------------
# units
# ---------------------------------------------------------------------------------------------------------------


def cadre_keys(values: pd.Series) -> pd.Series:
    """The key of each grid's cadre as a scoreboard unit: the name, stripped; "" for a grid without one.

    Examples
    --------
    >>> import pandas as pd
    >>> cadre_keys(pd.Series([" 王小明", None])).tolist()
    ['王小明', '']
    """
    return values.fillna("").astype(str).str.strip()


def _units(layers: Mapping[str, Any], by: str) -> pd.DataFrame:
    """One row per unit: its key, name and number of grids (and community for grids)."""
    grids = pd.DataFrame(layers["grids"]).drop(columns="geometry", errors="ignore")
    if by == "grid":
        out = grids[["grid_code", "name", "community_code"]].assign(grids=1)
        return out.sort_values("grid_code", kind="stable").reset_index(drop=True)
    if by == "cadre":
        counts = cadre_keys(grids["cadre"]).value_counts().sort_index()
        return pd.DataFrame({"cadre": counts.index.to_numpy(), "grids": counts.to_numpy()})
    counts = grids.groupby("community_code").size().rename("grids")
    communities = layers.get("communities")
    names = pd.Series(dtype=object)
    if communities is not None and len(communities):
        names = pd.Series(communities["name"].to_numpy(), index=communities["community_code"].to_numpy())
    codes = sorted(set(counts.index) | set(names.index))
    return pd.DataFrame({"community_code": codes, "name": [names.get(c) for c in codes],
                         "grids": [int(counts.get(c, 0)) for c in codes]})


def _unit_of_grid(layers: Mapping[str, Any], by: str) -> pd.Series:
    grids = layers["grids"]
    if by == "grid":
        values = grids["grid_code"]
    elif by == "cadre":
        values = cadre_keys(grids["cadre"])
    else:
        values = grids["community_code"]
    return pd.Series(values.to_numpy(), index=grids["grid_code"].to_numpy())


# ---------------------------------------------------------------------------------------------------------------
# per-report facts
# ---------------------------------------------------------------------------------------------------------------


def _events(reports: pd.DataFrame, rectifications: Any, spotchecks: Any, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Every event of the reports up to the cut-off: report_id, time, state, and whether it is a rectification."""
    times = reports.set_index("report_id")["reported_at"]
    parts = []
    if rectifications is not None and len(rectifications):
        rect = rectifications[["report_id", "rectified_at", "verified_at"]]
        rect = rect[rect["report_id"].isin(times.index)]
        # a verification counts only with its rectification: none dated before the report
        rect = rect[(rect["rectified_at"] >= times.reindex(rect["report_id"]).to_numpy()).to_numpy(dtype=bool)]
        parts.append(pd.DataFrame({"report_id": rect["report_id"], "time": rect["rectified_at"],
                                   "state": "rectified", "fix": True, "order": 0}))
        ver = rect[rect["verified_at"].notna()]
        verified_time = ver[["rectified_at", "verified_at"]].max(axis=1)
        parts.append(pd.DataFrame({"report_id": ver["report_id"], "time": verified_time,
                                   "state": "verified", "fix": False, "order": 1}))
    if spotchecks is not None and len(spotchecks):
        # a spot check checks a fix: one made before any rectification of the report is ignored
        first_fix = parts[0].groupby("report_id")["time"].min() if parts else pd.Series(dtype=object)
        checks = spotchecks[spotchecks["report_id"].isin(first_fix.index)]
        checks = checks[(checks["checked_at"] >= first_fix.reindex(checks["report_id"]).to_numpy()).to_numpy(
            dtype=bool)]
        parts.append(pd.DataFrame({"report_id": checks["report_id"], "time": checks["checked_at"],
                                   "state": checks["result"].astype(str), "fix": False, "order": 2}))
    if not parts:
        return pd.DataFrame({"report_id": [], "time": pd.Series([], dtype=f"datetime64[ns, {DEFAULT_TZ}]"),
                             "state": [], "fix": pd.Series([], dtype=bool), "order": []})
    events = pd.concat(parts, ignore_index=True)
    events = events[events["report_id"].isin(times.index)]
    reported = times.reindex(events["report_id"]).to_numpy()
    keep = events["time"].notna().to_numpy() & (events["time"].to_numpy() >= reported)
    keep &= (events["time"] <= cutoff).to_numpy()
    return events[keep]


def _report_facts(reports: pd.DataFrame, events: pd.DataFrame, cutoff: pd.Timestamp,
                  deadlines: Mapping[str, float]) -> pd.DataFrame:
    """Per report: rectified, verified, reopened, hours to the first fix, overdue."""
    ordered = events.sort_values(["report_id", "time", "order"], kind="stable")
    latest = ordered.groupby("report_id")["state"].last()
    first_fix = ordered[ordered["fix"]].groupby("report_id")["time"].min()
    ids = reports["report_id"]
    state = latest.reindex(ids).to_numpy()
    fixed_at = pd.to_datetime(first_fix.reindex(ids).to_numpy(), utc=True)
    reported_at = pd.to_datetime(reports["reported_at"].to_numpy(), utc=True)
    hours = np.asarray((fixed_at - reported_at).total_seconds(), dtype=float) / 3600.0
    limit = reports["category"].map(lambda c: deadlines.get(c, DEFAULT_DEADLINE_HOURS)).to_numpy(dtype=float)
    waited = (cutoff.tz_convert("UTC") - reported_at).total_seconds().to_numpy() / 3600.0
    rectified = np.isin(state, ["rectified", "verified"])
    return pd.DataFrame({
        "report_id": ids.to_numpy(),
        "rectified": rectified,
        "verified": state == "verified",
        "reopened": state == "reopened",
        "hours": np.where(rectified, hours, np.nan),
        # overdue looks at the first fix, even when a spot check later reopened the report
        "overdue": np.where(np.isnan(hours), waited > limit, hours > limit),
    }, index=reports.index)


def _recurring_ids(all_reports: Any, rectifications: Any) -> frozenset[Any]:
    """Ids of the reports that recur an earlier, rectified problem.

    Computed once for all periods: a recurrence of a report made before a
    period's end only involves rectifications made before that report, so
    before the cut-off.
    """
    from gridmap.analysis.recurrence import recurrences

    if all_reports is None or len(all_reports) == 0 or rectifications is None or len(rectifications) == 0:
        return frozenset()
    return frozenset(recurrences(all_reports, rectifications=rectifications)["report_id"])


# ---------------------------------------------------------------------------------------------------------------
# one period
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class _Period:
    start: pd.Timestamp
    end: pd.Timestamp
    cutoff: pd.Timestamp


def _cutoff(end: pd.Timestamp, now: pd.Timestamp | None) -> pd.Timestamp:
    present = pd.Timestamp.now(tz=DEFAULT_TZ) if now is None else now
    return min(end, present)


@dataclass
class _Context:
    """What every period of one scoreboard shares."""

    layers: Mapping[str, Any]
    by: str
    deadlines: Mapping[str, float]
    rules: Rules
    recurring: frozenset[Any]
    #: False when the workspace holds no rectification at all: what depends on fixes is unknown, not 0.
    rectifications_known: bool = True


def _has_rows(layer: Any) -> bool:
    return layer is not None and len(layer) > 0


def _context(layers: Mapping[str, Any], by: str, deadlines: Mapping[str, float] | None,
             rules: "Rules | Mapping[str, Any] | None", *, recurrences: bool = True) -> _Context:
    known = _has_rows(layers.get("rectifications"))
    if not known:
        logger.info("the workspace holds no rectification: rectification, overdue and recurrence figures are "
                    "unknown (no data) and left out of the score")
    recurring = _recurring_ids(layers["reports"], layers["rectifications"]) if recurrences and known else frozenset()
    return _Context(layers, by, _deadline_hours(deadlines), Rules.from_value(rules), recurring, known)


def _report_rows(ctx: _Context, period: _Period) -> pd.DataFrame:
    """The period's reports with their unit and their facts."""
    from gridmap.analysis.selection import select_reports

    layers = ctx.layers
    chosen = select_reports(layers["reports"], start=period.start, end=period.end)
    plain = pd.DataFrame(chosen).drop(columns="geometry", errors="ignore")
    events = _events(plain, layers["rectifications"], layers["spotchecks"], period.cutoff)
    facts = _report_facts(plain, events, period.cutoff, ctx.deadlines)
    facts["unit"] = plain["grid_code"].map(_unit_of_grid(layers, ctx.by)).to_numpy()
    facts["recurrence"] = plain["report_id"].isin(ctx.recurring).to_numpy()
    if not ctx.rectifications_known:
        # without any rectification record, whether a report was fixed (in time, for good) is unknown
        for column in _FIX_FACTS:
            facts[column] = pd.array([pd.NA] * len(facts), dtype="boolean")
        facts["hours"] = np.nan
    return facts


#: Per-report facts that depend on rectifications being recorded.
_FIX_FACTS = ("rectified", "verified", "reopened", "overdue", "recurrence")
#: Table columns that are unknown when the workspace holds no rectification.
_FIX_COLUMNS = ("rectified", "verified", "reopened", "rectification_rate", "median_hours_to_rectify", "overdue",
                "overdue_rate", "recurrences", "recurrence_rate")
#: Score components that depend on rectifications being recorded.
_FIX_COMPONENTS = ("rectification_rate", "on_time_rate", "no_recurrence_rate")


class _EmptyWindowNote(logging.Filter):
    """Hold back sweep_coverage's warning about a window without fixes (the scoreboard says it once, as info)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False
        self._logger = logging.getLogger("gridmap.analysis.coverage")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("no GPS fixes"):
            self.seen = True
            return False
        return True

    def __enter__(self) -> "_EmptyWindowNote":
        self._logger.addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeFilter(self)


def _coverage(layers: Mapping[str, Any], period: _Period, by: str) -> pd.DataFrame | None:
    """coverage_ratio and dead_corners per unit, or None (unknown) when the period holds no usable GPS fix."""
    from gridmap.analysis.coverage import sweep_coverage

    tracks = layers["tracks"]
    if tracks is None or len(tracks) == 0:
        return None
    with _EmptyWindowNote():
        result = sweep_coverage(layers["grids"], tracks, start=period.start, end=period.end)
    if int(result.stats["fixes_used"]) == 0:
        logger.info("no GPS fixes from %s to %s: coverage is unknown (no data) in that period",
                    period.start.date(), period.end.date())
        return None
    if by == "community":
        table = result.by_community
    elif by == "cadre":
        table = result.by_cadre.assign(cadre=cadre_keys(result.by_cadre["cadre"]))
    else:
        table = pd.DataFrame(result.grids)
    return pd.DataFrame(table[[BY_CHOICES[by], "coverage_ratio", "dead_corners"]]).set_index(BY_CHOICES[by])


def _figures(ctx: _Context, period: _Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The unranked table of one period, and its reports' facts (``unit`` None: outside every unit)."""
    layers, by = ctx.layers, ctx.by
    units = _units(layers, by)
    key = BY_CHOICES[by]
    facts = _report_rows(ctx, period)
    assigned = facts["unit"].notna()
    grouped = facts[assigned].groupby("unit")
    sums = grouped[["rectified", "verified", "reopened", "overdue", "recurrence"]].sum()
    table = units.set_index(key)
    table["reports"] = grouped.size().reindex(table.index).fillna(0).astype(int)
    for column, source in (("rectified", "rectified"), ("verified", "verified"), ("reopened", "reopened"),
                           ("overdue", "overdue"), ("recurrences", "recurrence")):
        table[column] = sums[source].reindex(table.index).fillna(0).astype("Int64")
    table["median_hours_to_rectify"] = grouped["hours"].median().reindex(table.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = table["reports"].where(table["reports"] > 0)
        table["rectification_rate"] = table["rectified"].astype(float) / n
        table["overdue_rate"] = table["overdue"].astype(float) / n
        table["recurrence_rate"] = table["recurrences"].astype(float) / n
    if not ctx.rectifications_known:
        for column in _FIX_COLUMNS:
            table[column] = pd.NA if table[column].dtype == "Int64" else np.nan
    coverage = _coverage(layers, period, by)
    if coverage is None:
        table["coverage_ratio"] = np.nan
        table["dead_corners"] = pd.array([pd.NA] * len(table), dtype="Int64")
    else:
        table["coverage_ratio"] = coverage["coverage_ratio"].reindex(table.index).astype(float)
        table["dead_corners"] = coverage["dead_corners"].reindex(table.index).astype("Int64")
    unknown = _unknown_parts(ctx.rectifications_known, coverage is not None)
    table["score"] = _score(table, ctx.rules, unknown)
    out = table.reset_index()
    # what the period's figures rest on, for the comparison with the previous period and for the page
    out.attrs = {"unknown_parts": list(unknown), "has_data": bool(len(facts)) or coverage is not None}
    return out, facts


def _unknown_parts(rectifications_known: bool, coverage_known: bool) -> tuple[str, ...]:
    """The score's components that are unknown (no data) in a period, in the order of :data:`_COMPONENTS`."""
    missing = set() if rectifications_known else set(_FIX_COMPONENTS)
    if not coverage_known:
        missing.add("coverage_ratio")
    return tuple(c for c in _COMPONENTS if c in missing)


def _score(table: pd.DataFrame, rules: Rules, unknown: tuple[str, ...] = ()) -> pd.Series:
    """The 100-point score over the known components, weights rescaled; NaN when none is known.

    Report components count as 1 for a unit without reports; unknown components (``unknown``) take no part.
    """
    components = {
        "rectification_rate": table["rectification_rate"].fillna(1.0),
        "on_time_rate": 1.0 - table["overdue_rate"].fillna(0.0),
        "coverage_ratio": table["coverage_ratio"],
        "no_recurrence_rate": 1.0 - table["recurrence_rate"].fillna(0.0),
    }
    used = {k: w for k, w in rules.weights.items() if k not in unknown and w > 0}
    total = sum(used.values())
    if total <= 0:  # said once by the scoreboard, for its own period
        return pd.Series(np.nan, index=table.index)
    score = sum(w * components[k].fillna(0.0) for k, w in used.items())
    return 100.0 * score / total


def _rank(table: pd.DataFrame, key: str) -> pd.Series:
    """Ranks 1..n by the documented order: score, overdue, coverage, reports, key."""
    order = pd.DataFrame({
        "score": -table["score"].round(9),
        "overdue": table["overdue"],
        "coverage": -table["coverage_ratio"].fillna(-1.0),
        "reports": -table["reports"],
        "key": table[key].astype(str),
    }, index=table.index)
    ranked = order.sort_values(["score", "overdue", "coverage", "reports", "key"], kind="stable").index
    return pd.Series(np.arange(1, len(table) + 1), index=ranked).reindex(table.index)


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
# the public function
# ---------------------------------------------------------------------------------------------------------------

#: Columns of a scoreboard, in order (the first ones name the unit and depend on ``by``).
SCOREBOARD_COLUMNS: tuple[str, ...] = (
    "grids", "reports", "rectified", "verified", "reopened", "rectification_rate", "median_hours_to_rectify",
    "overdue", "overdue_rate", "recurrences", "recurrence_rate", "coverage_ratio", "dead_corners", "score",
    "rank", "previous_rank", "rank_change", "score_change", "reports_change", "rectification_rate_change",
    "coverage_ratio_change", "lagging", "lagging_reason",
)

_UNIT_COLUMNS = {"community": ("community_code", "name"), "grid": ("grid_code", "name", "community_code"),
                 "cadre": ("cadre",)}


def _check(by: str, lang: str, layers: Mapping[str, Any]) -> None:
    if by not in BY_CHOICES:
        raise SchemaError(f"by must be one of {', '.join(BY_CHOICES)}, got {by!r}")
    if lang not in _RULE_TEXT:
        raise SchemaError(f"lang must be 'zh' or 'en', got {lang!r}")
    if layers.get("grids") is None or len(layers["grids"]) == 0:
        raise GridmapError("the workspace has no grids: import them first (gridmap import WORKSPACE grids FILE)")
    if layers.get("reports") is None:
        raise GridmapError("the workspace has no reports layer")


def _with_previous(current: pd.DataFrame, previous: pd.DataFrame, key: str, *, previous_has_data: bool = True,
                   same_score_parts: bool = True) -> pd.DataFrame:
    """``previous_rank`` and the changes; unknown (NA / NaN) where the previous value is unknown.

    A previous period without any data (no report, no GPS fix) leaves every
    comparison unknown; a missing previous rate or coverage leaves its change
    unknown (NaN minus anything is NaN: a change is never computed against 0);
    ``score_change`` is unknown when the two scores rest on different parts.
    """
    before = previous.set_index(key).reindex(current[key])
    out = current.copy()
    out["previous_rank"] = before["rank"].astype("Int64").to_numpy()
    out["rank_change"] = (out["previous_rank"] - out["rank"]).astype("Int64")
    for name in ("score", "reports", "rectification_rate", "coverage_ratio"):
        out[f"{name}_change"] = out[name].to_numpy(dtype=float) - before[name].to_numpy(dtype=float)
    out["reports_change"] = out["reports_change"].round().astype("Int64")
    if not same_score_parts:
        out["score_change"] = np.nan
    if not previous_has_data:
        for name in ("previous_rank", "rank_change", "reports_change"):
            out[name] = pd.array([pd.NA] * len(out), dtype="Int64")
        for name in ("score_change", "rectification_rate_change", "coverage_ratio_change"):
            out[name] = np.nan
    return out


def period_figures(layers: Mapping[str, Any], start: Any, end: Any, *, by: str = "community",
                   deadlines: Mapping[str, float] | None = None, rules: "Rules | Mapping[str, Any] | None" = None,
                   recurrences: bool = True, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """The unranked figures of one period ``[start, end)`` by unit: the building block of :func:`scoreboard`.

    :func:`scoreboard` computes this table for the period and the one before,
    then scores, ranks and compares them; this gives one period's counts and
    rates alone (for tools and the benchmarks that time the parts).

    Parameters
    ----------
    layers : dict of layers
        As read by :func:`gridmap.storage.read_layers` (not modified).
    start, end : str or pandas.Timestamp
        The period; a time without a zone is Asia/Shanghai.
    by, deadlines, rules, now
        As :func:`scoreboard`.
    recurrences : bool
        Count recurrences (:func:`gridmap.analysis.recurrence.recurrences`); False
        leaves them out (faster, for timing the rest).

    Returns
    -------
    pandas.DataFrame
        One row per unit, indexed by the unit's key: ``reports``,
        ``rectified``, ``verified``, ``reopened``, ``overdue``, the rates and
        the score parts (no ``rank``).

    Examples
    --------
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=300, track_days=1)
    >>> table = period_figures(layers, "2025-03-03", "2025-03-10", recurrences=False)
    >>> chosen = gridmap.select_reports(layers["reports"], start="2025-03-03", end="2025-03-10")
    >>> int(table["reports"].sum()) <= len(chosen)
    True
    """
    first, last = as_time(start), as_time(end)
    ctx = _context(layers, by, deadlines, rules, recurrences=recurrences)
    table, _facts = _figures(ctx, _Period(first, last, _cutoff(last, now)))
    return table


@dataclass
class ScoreboardRun:
    """One scoreboard computed: its layers and metadata, the table, and the facts of the period's reports.

    ``facts`` has one row per report of the period (index: the reports layer's index): ``report_id``,
    ``rectified``, ``verified``, ``reopened``, ``overdue``, ``recurrence`` (NA when the workspace holds no
    rectification), ``hours`` and ``unit`` (None: outside every grid).
    """

    layers: Mapping[str, Any]
    meta: Mapping[str, str]
    board: pd.DataFrame
    facts: pd.DataFrame


def run_scoreboard(workspace: Any, *, start: Any, end: Any, by: str = "community",
                   deadlines: Mapping[str, float] | None = None, rules: "Rules | Mapping[str, Any] | None" = None,
                   lang: str = "zh", now: pd.Timestamp | None = None) -> ScoreboardRun:
    """Read the layers once and compute the scoreboard (see :func:`scoreboard`), keeping what pages need.

    Examples
    --------
    >>> import gridmap
    >>> run = run_scoreboard(gridmap.sample_layers(n_reports=300, track_days=1), start="2025-03-03",
    ...                      end="2025-03-10")
    >>> len(run.facts) == int(run.board["reports"].sum()) + run.board.attrs["unassigned_reports"]
    True
    """
    layers, meta = _read_layers(workspace)
    _check(by, lang, layers)
    first, last = resolve_period(start, end, layers["reports"])
    ctx = _context(layers, by, deadlines, rules)
    length = last - first
    current = _Period(first, last, _cutoff(last, now))
    previous = _Period(first - length, first, _cutoff(first, now))
    table, facts = _figures(ctx, current)
    before, _ = _figures(ctx, previous)
    known_now, known_before = dict(table.attrs), dict(before.attrs)
    unassigned = int(facts["unit"].isna().sum())
    key = BY_CHOICES[by]
    table["rank"] = _rank(table, key).to_numpy()
    before["rank"] = _rank(before, key).to_numpy()
    if table["score"].isna().all():
        logger.warning("no weighted part of the score is known (no data: %s): the score is no data and units are "
                       "ranked by the tie-breaks", ", ".join(known_now["unknown_parts"]))
    if not known_before["has_data"]:
        logger.info("the previous period (%s to %s) holds no report and no GPS fix: its rank and the changes are "
                    "unknown (no data)", previous.start.date(), previous.end.date())
    table = _with_previous(table, before, key, previous_has_data=known_before["has_data"],
                           same_score_parts=known_now["unknown_parts"] == known_before["unknown_parts"])
    table["lagging"], table["lagging_reason"] = _lagging(table, ctx.rules, lang)
    table = table.sort_values("rank", kind="stable").reset_index(drop=True)
    table = table[list(_UNIT_COLUMNS[by]) + list(SCOREBOARD_COLUMNS)]
    if unassigned:
        logger.warning("%d report(s) of the period lie outside every grid and are not in the scoreboard", unassigned)
    table.attrs.update({
        "start": first.isoformat(), "end": last.isoformat(), "previous_start": previous.start.isoformat(),
        "cutoff": current.cutoff.isoformat(), "by": by, "unassigned_reports": unassigned,
        "rules": asdict(ctx.rules), "deadlines_hours": dict(ctx.deadlines),
        "illustrative": meta.get("illustrative") == "true",
        "unknown_parts": known_now["unknown_parts"], "previous_unknown_parts": known_before["unknown_parts"],
        "previous_has_data": known_before["has_data"],
    })
    return ScoreboardRun(layers, meta, table, facts)


def scoreboard(
    workspace: "WorkspaceStore | str | PathLike[str] | Mapping[str, Any]",
    *,
    start: str | pd.Timestamp | None,
    end: str | pd.Timestamp | None,
    by: str = "community",
    deadlines: Mapping[str, float] | None = None,
    rules: Rules | Mapping[str, Any] | None = None,
    lang: str = "zh",
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Rank the communities (grids, cadres) on the reports of ``[start, end)``.

    Every column is defined in this module's documentation
    (:mod:`gridmap.analysis.supervision`); the README repeats the definitions.

    Parameters
    ----------
    workspace : WorkspaceStore, path, or dict of layers
        ``grids`` and ``reports`` needed; ``communities``, ``rectifications``,
        ``spotchecks`` and ``tracks`` used when present. Not modified.
    start, end : str or pandas.Timestamp or None
        The period, ``start <= reported_at < end`` (no zone: Asia/Shanghai).
        A missing bound makes it a week (see :func:`resolve_period`).
    by : {"community", "grid", "cadre"}
        The unit of a row.
    deadlines : mapping, optional
        Hours allowed per category (key or zh-Hans label), over
        :data:`DEFAULT_DEADLINES_HOURS`.
    rules : Rules or mapping, optional
        Weights and lagging thresholds; a mapping changes the named fields of
        the defaults.
    lang : {"zh", "en"}
        Language of ``lagging_reason``; columns are always the English names
        (use :func:`scoreboard_headers` for Chinese headers).
    now : pandas.Timestamp, optional
        The present, for the cut-off (default: now).

    Returns
    -------
    pandas.DataFrame
        One row per unit, in rank order: the unit's columns (``community_code``
        and ``name``; ``grid_code``, ``name`` and ``community_code``; or
        ``cadre``), then :data:`SCOREBOARD_COLUMNS`. ``attrs`` holds
        ``start``, ``end``, ``previous_start``, ``cutoff`` (ISO text),
        ``by``, ``unassigned_reports``, ``rules``, ``deadlines_hours``,
        ``unknown_parts`` and ``previous_unknown_parts`` (the score's
        components with no data in each period) and ``previous_has_data``.

    Raises
    ------
    SchemaError
        An unknown `by`, language, rule or category, or an empty period.
    GridmapError
        When the workspace has no grids.

    Examples
    --------
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=600, track_days=7)
    >>> board = scoreboard(layers, start="2025-03-03", end="2025-03-10", lang="en")
    >>> list(board.columns[:4])
    ['community_code', 'name', 'grids', 'reports']
    >>> bool((board["rectified"] <= board["reports"]).all())
    True
    >>> by_grid = scoreboard(layers, start="2025-03-03", end="2025-03-10", by="grid",
    ...                      rules={"min_coverage_ratio": 0.99})
    >>> len(by_grid), bool(by_grid["lagging_reason"].str.contains("巡查覆盖率").any())
    (36, True)
    """
    return run_scoreboard(workspace, start=start, end=end, by=by, deadlines=deadlines, rules=rules, lang=lang,
                          now=now).board


# ---------------------------------------------------------------------------------------------------------------
# headers
# ---------------------------------------------------------------------------------------------------------------

_ZH_HEADERS: Mapping[str, str] = {
    "community_code": "社区编码", "name": "名称", "grid_code": "网格编码", "cadre": "责任干部", "grids": "网格数",
    "reports": "问题数", "rectified": "已整改", "verified": "已核验", "reopened": "抽查反弹",
    "rectification_rate": "整改率", "median_hours_to_rectify": "整改用时中位数（小时）", "overdue": "超期未整改",
    "overdue_rate": "超期率", "recurrences": "反弹数", "recurrence_rate": "反弹率", "coverage_ratio": "巡查覆盖率",
    "dead_corners": "死角数", "score": "得分", "rank": "排名", "previous_rank": "上期排名",
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


def weekly_figures(
    workspace: "WorkspaceStore | str | PathLike[str] | Mapping[str, Any]",
    *,
    end: str | pd.Timestamp | None = None,
    weeks: int = 8,
    by: str = "community",
    deadlines: Mapping[str, float] | None = None,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Week-over-week figures of every unit, for the charts: the last `weeks` weeks before `end`.

    Parameters
    ----------
    workspace : WorkspaceStore, path, or dict of layers
        As :func:`scoreboard`.
    end : str or pandas.Timestamp, optional
        End of the last week (exclusive); default: the end of the week holding
        the latest report (see :func:`resolve_period`).
    weeks : int
        How many weeks (default 8).
    by, deadlines, now
        As :func:`scoreboard`.

    Returns
    -------
    pandas.DataFrame
        One row per week and unit: ``week_start`` (zone-aware), the unit's key
        and ``name`` (when it has one), ``reports``, ``rectified``,
        ``rectification_rate``, ``coverage_ratio`` and ``dead_corners``,
        defined as in :func:`scoreboard`.

    Examples
    --------
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=600, track_days=7)
    >>> w = weekly_figures(layers, end="2025-03-10", weeks=3)
    >>> sorted({t.date().isoformat() for t in w["week_start"]})
    ['2025-02-17', '2025-02-24', '2025-03-03']
    >>> len(w)
    18
    """
    if int(weeks) < 1:
        raise SchemaError(f"weeks must be 1 or more, got {weeks!r}")
    layers, _ = _read_layers(workspace)
    _check(by, "en", layers)
    _, last = resolve_period(None, end, layers["reports"])
    ctx = _context(layers, by, deadlines, None, recurrences=False)
    key = BY_CHOICES[by]
    keep = [key] + (["name"] if by != "cadre" else []) + [
        "reports", "rectified", "rectification_rate", "coverage_ratio", "dead_corners"]
    frames = []
    for k in range(int(weeks), 0, -1):
        start, stop = last - pd.Timedelta(days=7 * k), last - pd.Timedelta(days=7 * (k - 1))
        table, _ = _figures(ctx, _Period(start, stop, _cutoff(stop, now)))
        frames.append(table[keep].assign(week_start=start))
    out = pd.concat(frames, ignore_index=True)
    return out[["week_start"] + keep]


_NOTE_LABELS = {
    "zh": {"sheet": "排名", "notes": "说明", "weekly": "按周", "item": "项目", "value": "取值",
           "period": "统计时段（含起不含止）", "previous": "对比上期起始", "cutoff": "数据截止", "by": "排名单元",
           "unassigned": "未落入网格的问题数（未参与排名）", "deadline": "整改时限（小时）：", "rule": "规则：",
           "illustrative": "示意数据，非实测边界", "empty": "空白单元格", "no_data": "无数据（不是 0）",
           "unknown": "本期无数据、不计入得分的部分", "previous_unknown": "上期无数据的部分",
           "no_previous": "上期无任何数据：上期排名与变化为空白", "none": "无"},
    "en": {"sheet": "scoreboard", "notes": "notes", "weekly": "weekly", "item": "item", "value": "value",
           "period": "period [start, end)", "previous": "previous period starts", "cutoff": "data cut-off",
           "by": "unit", "unassigned": "reports outside every grid (not ranked)", "deadline": "deadline hours: ",
           "rule": "rule: ", "illustrative": "illustrative data, not surveyed boundaries", "empty": "empty cell",
           "no_data": "no data (not 0)", "unknown": "parts with no data this period, left out of the score",
           "previous_unknown": "parts with no data in the previous period",
           "no_previous": "no data at all in the previous period: previous rank and changes are empty",
           "none": "none"},
}


def _notes(board: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The definitions behind a scoreboard, as rows of (item, value), for its spreadsheet."""
    from gridmap.model import category_label

    text, attrs = _NOTE_LABELS[lang], board.attrs
    rows: list[tuple[str, Any]] = [
        (text["period"], f"{attrs['start']} – {attrs['end']}"), (text["previous"], attrs["previous_start"]),
        (text["cutoff"], attrs["cutoff"]), (text["by"], attrs["by"]),
        (text["unassigned"], int(attrs["unassigned_reports"])), (text["empty"], text["no_data"]),
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


def write_scoreboard(
    board: pd.DataFrame,
    *,
    csv: str | PathLike[str] | None = None,
    xlsx: str | PathLike[str] | None = None,
    lang: str = "zh",
    weekly: pd.DataFrame | None = None,
) -> list[Path]:
    """Write a scoreboard as CSV and/or XLSX, safe to open in Excel and WPS.

    Text cells that a spreadsheet would run as a formula are neutralised
    (:mod:`gridmap.export.spreadsheet`), names included; numbers stay numbers (rates
    as fractions). The XLSX also holds a sheet of the definitions used
    (period, cut-off, rules, deadlines) and, when given, the weekly figures.

    Parameters
    ----------
    board : pandas.DataFrame
        A table from :func:`scoreboard`.
    csv, xlsx : path-like, optional
        Files to write (overwritten).
    lang : {"zh", "en"}
        Headers in Chinese or with the English column names.
    weekly : pandas.DataFrame, optional
        From :func:`weekly_figures`, as a third sheet.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gridmap
    >>> board = scoreboard(gridmap.sample_layers(n_reports=300, track_days=1), start="2025-03-03",
    ...                    end="2025-03-10")
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> [p.name for p in write_scoreboard(board, csv=d / "b.csv", xlsx=d / "b.xlsx")]
    ['b.csv', 'b.xlsx']
    >>> (d / "b.csv").read_text(encoding="utf-8-sig").splitlines()[0].split(",")[:3]
    ['社区编码', '名称', '网格数']
    """
    from gridmap.export.spreadsheet import write_csv, write_xlsx

    if lang not in _NOTE_LABELS:
        raise SchemaError(f"lang must be 'zh' or 'en', got {lang!r}")
    table = presented(board, lang)
    written: list[Path] = []
    if csv is not None:
        written.append(write_csv(table, csv))
    if xlsx is not None:
        text = _NOTE_LABELS[lang]
        sheets = {text["sheet"]: table, text["notes"]: _notes(board, lang)}
        if weekly is not None:
            sheets[text["weekly"]] = presented(weekly.assign(week_start=weekly["week_start"].dt.strftime("%Y-%m-%d")),
                                               lang)
        written.append(write_xlsx(sheets, xlsx))
    return written
