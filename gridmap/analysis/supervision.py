"""The supervision scoreboard (督查): the same figures, computed the same way, every week.

Data frames in, data frames out: this module computes from the layers (a dict
of frames, or an open workspace read through its ``read_layer``); the public
:func:`gridmap.scoreboard` (:mod:`gridmap.jobs.supervision`) also opens a
workspace from its path and hands the layers in. The figures of one period
live in ``_scoreboard_figures``, the words and headers in ``_scoreboard_tables``.

The article's supervision group notifies each community's problems and
criticises the communities that lag. :func:`scoreboard` turns the layers
into one row per community (or grid, cadre, street or area) for the reports
made in a period ``[start, end)``, ranks the rows and flags the laggards with
the rule that flagged them. Every figure is defined here, once.

Definitions
-----------
Units (``by``)
    ``community``, ``grid``, ``cadre``: the units of the grids (a cadre's unit
    is every grid naming the cadre). ``street``: one row per street of the
    ``streets`` layer (``street_name``, ``street_chief``; ``grids``: the grids
    its line runs through or touches); a report is the street's when the
    street is the nearest within ``Rules.street_distance_m`` (default 15 m,
    CLI ``--street-distance``) of it
    (:func:`gridmap.analysis.attribution.attribute_reports`; 街长包街). ``area``:
    one row per area (``area_code``, ``name``, ``leader``; the ``areas``
    layer and every ``area_code`` the grids name; ``grids``: the grids naming
    it); a report is the area's of its grid, or of the area polygon holding it
    when its grid names none (领导包片). Every other figure below is the
    same for every unit.
The *cut-off* is ``end``, or now when ``end`` lies in the future: the table
says what was known at the end of the period, so a closed week gives the same
figures when it is computed again later (unless late records for it are
imported).

``reports``
    Reports with ``start <= reported_at < end``, counted in the unit of the
    grid holding them (reports outside every grid, or for ``street`` near no
    street, for ``area`` in no area, are counted in
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
    fixes, a unit nobody walked through has coverage 0. By ``street`` it is
    the street's own coverage: the share of its length within reach of the
    swept path (``CoverageResult.streets``), and ``dead_corners`` counts the
    street's dead stretches; by ``area``, the covered share of the area's
    grids together (area-weighted, ``CoverageResult.by_area``) with their dead
    corners; an area holding no grid has no coverage (no data).
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
from typing import Any, Mapping

import numpy as np
import pandas as pd

from gridmap.analysis._scoreboard_figures import (  # the figures of one period; public names re-exported
    _COMPONENTS, BY_CHOICES, DEFAULT_DEADLINE_HOURS, DEFAULT_DEADLINES_HOURS, _Context, _context, _cutoff,
    _deadline_hours, _figures, _Period, _rank, cadre_keys,
)
from gridmap.analysis._scoreboard_figures import _events, _report_facts  # noqa: F401 - re-exported (per-report facts)
from gridmap.analysis._scoreboard_tables import (  # words, headers and notes; public names re-exported
    _NOTE_LABELS, _RULE_TEXT, _lagging, _notes, presented, scoreboard_headers,
)
from gridmap.analysis.attribution import DEFAULT_STREET_DISTANCE_M
from gridmap.analysis.inputs import LayerSource, read_frames
from gridmap.analysis.recurrence import DEFAULT_WINDOW_DAYS
from gridmap.analysis.selection import as_time
from gridmap.errors import GridmapError, SchemaError
from gridmap.export.spreadsheet import write_csv, write_xlsx
from gridmap.model import DEFAULT_TZ

__all__ = [
    "BY_CHOICES",
    "DEFAULT_DEADLINES_HOURS",
    "DEFAULT_DEADLINE_HOURS",
    "SCOREBOARD_COLUMNS",
    "SCOREBOARD_LAYERS",
    "Rules",
    "ScoreboardRun",
    "cadre_keys",
    "period_figures",
    "presented",
    "resolve_period",
    "scoreboard_periods",
    "weekly_periods",
    "REPORTS_NAMED_BY",
    "run_scoreboard",
    "scoreboard",
    "scoreboard_headers",
    "weekly_figures",
    "write_scoreboard",
]

logger = logging.getLogger(__name__)

#: The layers a scoreboard reads (``grids`` and ``reports`` needed, the others used when present).
SCOREBOARD_LAYERS = ("grids", "communities", "reports", "rectifications", "spotchecks", "tracks", "streets", "areas")


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
    street_distance_m : float
        For ``by="street"``: a report at most this many metres from a street
        is the street's (default 15;
        :func:`gridmap.analysis.attribution.attribute_reports`).

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
    street_distance_m: float = DEFAULT_STREET_DISTANCE_M

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(_COMPONENTS)
        if unknown:
            raise SchemaError(f"unknown score component(s) {sorted(unknown)}; components: {', '.join(_COMPONENTS)}")
        if any(not np.isfinite(w) or w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise SchemaError(f"score weights must be non-negative numbers, not all 0; got {dict(self.weights)}")
        if self.min_reports < 0 or self.bottom_ranks < 0:
            raise SchemaError("min_reports and bottom_ranks must be 0 or more")
        if not np.isfinite(self.street_distance_m) or self.street_distance_m < 0:
            raise SchemaError(f"street_distance_m must be 0 metres or more, got {self.street_distance_m!r} "
                              "(--street-distance M)")

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


# ---------------------------------------------------------------------------------------------------------------
# what a scoreboard reads
# ---------------------------------------------------------------------------------------------------------------

#: Besides its period, a scoreboard reads the reports its rectifications name, whatever their age: a report of the
#: period recurs an earlier report through that report's rectification (:mod:`gridmap.analysis.recurrence`).
REPORTS_NAMED_BY = {"reports": ("rectifications", "report_id")}


def weekly_periods(end: Any, weeks: Any) -> dict[str, tuple[Any, Any]]:
    """What :func:`weekly_figures` reads of each layer when `end` is given: the weeks' reports and GPS fixes, and the
    rectifications and spot checks made since the first week began (none of them when `end` is not given, or
    the options are bad: the analysis then reads and refuses as before).

    Why no other row changes a figure: a week counts its own reports;
    their events are rectifications made at or after the report (so after the first week began; one dated
    before its report is ignored, and a missing time never counts) and spot checks made at or after the
    report's first rectification; the coverage of a week uses the fixes of that week only (a stored fix is a
    point with a time); recurrences are not part of the weekly figures.

    Examples
    --------
    >>> [t.isoformat() for t in weekly_periods("2025-03-10", 2)["reports"]]
    ['2025-02-24T00:00:00+08:00', '2025-03-10T00:00:00+08:00']
    >>> weekly_periods(None, 8), weekly_periods("2025-03-10", 0)
    ({}, {})
    """
    try:
        last, count = as_time(end), int(weeks)
    except (SchemaError, TypeError, ValueError):
        return {}
    if last is None or last is pd.NaT or count < 1:
        return {}
    first = last - pd.Timedelta(days=7 * count)
    return {"reports": (first, last), "tracks": (first, last), "rectifications": (first, None),
            "spotchecks": (first, None)}


def scoreboard_periods(start: Any, end: Any, *, weeks: int = 0) -> dict[str, tuple[Any, Any]]:
    """What :func:`run_scoreboard` reads of each layer for the period ``[start, end)``, and what
    :func:`weekly_figures` of its layers reads for the `weeks` weeks before the period's end; none when the period
    is not given (it is then the week of the latest report, found in the whole layer) or is bad (the analysis
    then refuses as before).

    With the period ``[first, last)`` (:func:`resolve_period`) and the one before it (of the same length), from
    ``lo``, the earlier of the previous period's start and ``last - weeks``:

    * reports and GPS fixes of ``[lo, last)``: the two periods' reports and coverage;
    * spot checks from ``lo``: a report's events come at or after the report;
    * rectifications from ``lo`` minus :data:`gridmap.analysis.recurrence.DEFAULT_WINDOW_DAYS`: besides the
      reports' own, every fix a report of the periods may recur (one made at most that long before it);
    * and the reports those rectifications name (:data:`REPORTS_NAMED_BY`), of any age: the earlier reports
      a report of the periods recurs.

    Examples
    --------
    >>> reads = scoreboard_periods("2025-03-03", "2025-03-10")
    >>> [t.date().isoformat() for t in reads["reports"]]
    ['2025-02-24', '2025-03-10']
    >>> reads["rectifications"][0].date().isoformat(), reads["rectifications"][1]
    ('2025-01-25', None)
    >>> scoreboard_periods("2025-03-03", "2025-03-10", weeks=8)["tracks"][0].date().isoformat()
    '2025-01-13'
    >>> scoreboard_periods(None, None), scoreboard_periods("2025-03-10", "2025-03-03")
    ({}, {})
    """
    if start is None and end is None:
        return {}
    try:
        first, last = resolve_period(start, end)
        count = int(weeks)
    except (SchemaError, TypeError, ValueError):
        return {}
    lo = first - (last - first)
    if count > 0:
        lo = min(lo, last - pd.Timedelta(days=7 * count))
    return {"reports": (lo, last), "tracks": (lo, last), "spotchecks": (lo, None),
            "rectifications": (lo - pd.Timedelta(days=DEFAULT_WINDOW_DAYS), None)}


# ---------------------------------------------------------------------------------------------------------------
# the scoreboard
# ---------------------------------------------------------------------------------------------------------------

#: Columns of a scoreboard, in order (the first ones name the unit and depend on ``by``).
SCOREBOARD_COLUMNS: tuple[str, ...] = (
    "grids", "reports", "rectified", "verified", "reopened", "rectification_rate", "median_hours_to_rectify",
    "overdue", "overdue_rate", "recurrences", "recurrence_rate", "coverage_ratio", "dead_corners", "score",
    "rank", "previous_rank", "rank_change", "score_change", "reports_change", "rectification_rate_change",
    "coverage_ratio_change", "lagging", "lagging_reason",
)

_UNIT_COLUMNS = {"community": ("community_code", "name"), "grid": ("grid_code", "name", "community_code"),
                 "cadre": ("cadre",), "street": ("street_name", "street_chief"),
                 "area": ("area_code", "name", "leader")}


#: Where the reports lie that no unit holds, by unit (the rest: outside every grid).
_OUTSIDE = {"street": "near no street", "area": "in no area"}


def _check(by: str, lang: str, layers: Mapping[str, Any]) -> None:
    if by not in BY_CHOICES:
        raise SchemaError(f"by must be one of {', '.join(BY_CHOICES)}, got {by!r}")
    if lang not in _RULE_TEXT:
        raise SchemaError(f"lang must be 'zh' or 'en', got {lang!r}")
    if layers.get("grids") is None or len(layers["grids"]) == 0:
        raise GridmapError("the workspace has no grids: import them first (gridmap import WORKSPACE grids FILE)")
    if layers.get("reports") is None:
        raise GridmapError("the workspace has no reports layer")
    if by == "street" and (layers.get("streets") is None or len(layers["streets"]) == 0):
        raise GridmapError("the workspace has no streets: import them first (gridmap import WORKSPACE streets FILE), "
                           "or rank by another unit (--by community)")
    if by == "street" and layers["streets"]["street_name"].duplicated().any():
        twice = sorted(set(layers["streets"].loc[layers["streets"]["street_name"].duplicated(), "street_name"]))
        raise SchemaError(f"street names must be unique to rank streets; named twice: {', '.join(map(str, twice))} "
                          "(rename them in the streets file and import it again)")
    areas, grids = layers.get("areas"), layers["grids"]
    if by == "area" and (areas is None or len(areas) == 0) and (
            "area_code" not in grids.columns or grids["area_code"].isna().all()):
        raise GridmapError("the workspace has no areas and no grid names one: import them first (gridmap import "
                           "WORKSPACE areas FILE), or rank by another unit (--by community)")


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


def _shared(layers: Mapping[str, Any], by: str, deadlines: Mapping[str, float] | None,
            rules: "Rules | Mapping[str, Any] | None", *, recurrences: bool = True) -> _Context:
    """What every period of one scoreboard shares, the deadlines and rules checked first."""
    return _context(layers, by, _deadline_hours(deadlines), Rules.from_value(rules), recurrences=recurrences)


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
        The frames by layer name, as :func:`scoreboard` reads them (not modified).
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
    ctx = _shared(layers, by, deadlines, rules, recurrences=recurrences)
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


def run_scoreboard(layers: LayerSource, *, start: Any, end: Any, by: str = "community",
                   deadlines: Mapping[str, float] | None = None, rules: "Rules | Mapping[str, Any] | None" = None,
                   lang: str = "zh", now: pd.Timestamp | None = None,
                   meta: Mapping[str, str] | None = None) -> ScoreboardRun:
    """Read the layers once and compute the scoreboard (see :func:`scoreboard`), keeping what pages need.

    `layers` and the other parameters are as for :func:`scoreboard`; `meta`
    (the workspace's facts, such as ``illustrative``) defaults to the reader's
    ``meta``, or none for a dict of layers. :func:`gridmap.jobs.supervision.run_scoreboard`
    also takes a workspace's path.

    Examples
    --------
    >>> import gridmap
    >>> run = run_scoreboard(gridmap.sample_layers(n_reports=300, track_days=1), start="2025-03-03",
    ...                      end="2025-03-10")
    >>> len(run.facts) == int(run.board["reports"].sum()) + run.board.attrs["unassigned_reports"]
    True
    """
    frames, found = read_frames(layers, SCOREBOARD_LAYERS, what="the scoreboard")
    facts_of_store = dict(found if meta is None else meta)
    _check(by, lang, frames)
    first, last = resolve_period(start, end, frames["reports"])
    ctx = _shared(frames, by, deadlines, rules)
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
    if unassigned:  # most reports lie off the streets (in yards, alleys, lots): by street that is no warning
        logger.log(logging.INFO if by == "street" else logging.WARNING,
                   "%d report(s) of the period lie %s and are not in the scoreboard", unassigned,
                   _OUTSIDE.get(by, "outside every grid"))
    table.attrs.update({
        "start": first.isoformat(), "end": last.isoformat(), "previous_start": previous.start.isoformat(),
        "cutoff": current.cutoff.isoformat(), "by": by, "unassigned_reports": unassigned,
        "rules": asdict(ctx.rules), "deadlines_hours": dict(ctx.deadlines),
        "illustrative": facts_of_store.get("illustrative") == "true",
        "unknown_parts": known_now["unknown_parts"], "previous_unknown_parts": known_before["unknown_parts"],
        "previous_has_data": known_before["has_data"],
    })
    return ScoreboardRun(frames, facts_of_store, table, facts)


def scoreboard(
    layers: LayerSource,
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
    layers : dict of layers, or an open workspace
        The frames by layer name, or any object with ``read_layer(name)``
        (:class:`~gridmap.analysis.inputs.LayerReader`, e.g. an open
        :class:`gridmap.Workspace`): ``grids`` and ``reports`` needed;
        ``communities``, ``rectifications``, ``spotchecks`` and ``tracks``
        used when present. Not modified. For a workspace's path, use
        :func:`gridmap.scoreboard` (:func:`gridmap.jobs.supervision.scoreboard`).
    start, end : str or pandas.Timestamp or None
        The period, ``start <= reported_at < end`` (no zone: Asia/Shanghai).
        A missing bound makes it a week (see :func:`resolve_period`).
    by : {"community", "grid", "cadre", "street", "area"}
        The unit of a row (see the definitions).
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
        and ``name``; ``grid_code``, ``name`` and ``community_code``;
        ``cadre``; ``street_name`` and ``street_chief``; or ``area_code``,
        ``name`` and ``leader``), then :data:`SCOREBOARD_COLUMNS`. ``attrs`` holds
        ``start``, ``end``, ``previous_start``, ``cutoff`` (ISO text),
        ``by``, ``unassigned_reports``, ``rules``, ``deadlines_hours``,
        ``unknown_parts`` and ``previous_unknown_parts`` (the score's
        components with no data in each period) and ``previous_has_data``.

    Raises
    ------
    SchemaError
        An unknown `by`, language, rule or category, or an empty period.
    GridmapError
        When the workspace has no grids (for ``by="street"`` no streets, for
        ``by="area"`` no area).

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
    return run_scoreboard(layers, start=start, end=end, by=by, deadlines=deadlines, rules=rules, lang=lang,
                          now=now).board


def weekly_figures(
    layers: LayerSource,
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
    layers : dict of layers, or an open workspace
        As :func:`scoreboard` (for a path: :func:`gridmap.weekly_figures`).
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
    data, _ = read_frames(layers, SCOREBOARD_LAYERS, what="the weekly figures")
    _check(by, "en", data)
    _, last = resolve_period(None, end, data["reports"])
    ctx = _shared(data, by, deadlines, None, recurrences=False)
    key = BY_CHOICES[by]
    keep = [key] + (["name"] if "name" in _UNIT_COLUMNS[by] else []) + [
        "reports", "rectified", "rectification_rate", "coverage_ratio", "dead_corners"]
    frames = []
    for k in range(int(weeks), 0, -1):
        start, stop = last - pd.Timedelta(days=7 * k), last - pd.Timedelta(days=7 * (k - 1))
        table, _ = _figures(ctx, _Period(start, stop, _cutoff(stop, now)))
        frames.append(table[keep].assign(week_start=start))
    out = pd.concat(frames, ignore_index=True)
    return out[["week_start"] + keep]


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
