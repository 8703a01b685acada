"""The figures of one period of the scoreboard: units, per-report facts, coverage, score and rank.

Private to the analysis room: :mod:`gridmap.analysis.supervision` defines every
figure (its module documentation) and composes these parts into the scoreboard
(two periods, compared and ranked). Nothing here reads a store or writes a file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd
import shapely

from gridmap.analysis.attribution import attribute_reports
from gridmap.analysis.coverage import sweep_coverage
from gridmap.analysis.recurrence import recurrences
from gridmap.analysis.selection import select_reports
from gridmap.errors import SchemaError
from gridmap.model import CATEGORIES, DEFAULT_TZ, category_key

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.analysis.supervision import Rules

# the scoreboard's messages, whichever of its modules says them
logger = logging.getLogger("gridmap.analysis.supervision")


#: The units a scoreboard can rank, and the column holding each unit's key.
BY_CHOICES: Mapping[str, str] = {
    "community": "community_code", "grid": "grid_code", "cadre": "cadre", "street": "street_name", "area": "area_code"}
#: Units whose reports are attributed by :func:`gridmap.analysis.attribution.attribute_reports` (not by grid).
ATTRIBUTED_UNITS = ("street", "area")

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


def _street_units(layers: Mapping[str, Any]) -> pd.DataFrame:
    """One row per street of the ``streets`` layer (its order): name, chief, and the grids it runs through."""
    streets, grids = layers["streets"], layers["grids"]
    lines = np.asarray(streets.geometry.to_crs(grids.crs).array, dtype=object)
    rows, _ = shapely.STRtree(np.asarray(grids.geometry.array, dtype=object)).query(lines, predicate="intersects")
    crossed = np.bincount(rows, minlength=len(streets)) if len(rows) else np.zeros(len(streets), dtype=int)
    chief = streets["street_chief"] if "street_chief" in streets.columns else pd.Series(None, index=streets.index)
    return pd.DataFrame({"street_name": streets["street_name"].astype(str).to_numpy(),
                         "street_chief": chief.to_numpy(dtype=object), "grids": crossed.astype(int)})


def _area_units(layers: Mapping[str, Any]) -> pd.DataFrame:
    """One row per area (the ``areas`` layer and the grids' ``area_code``): code, name, leader, grids."""
    grids = layers["grids"]
    counts = (grids["area_code"].dropna().astype(str).value_counts() if "area_code" in grids.columns
              else pd.Series(dtype=int))
    areas = layers.get("areas")
    names, leaders = pd.Series(dtype=object), pd.Series(dtype=object)
    if areas is not None and len(areas):
        codes_of = areas["area_code"].astype(str).to_numpy()
        names = pd.Series(areas["name"].to_numpy(dtype=object) if "name" in areas else None, index=codes_of)
        leaders = pd.Series(areas["leader"].to_numpy(dtype=object) if "leader" in areas else None, index=codes_of)
    codes = sorted(set(counts.index) | set(names.index))
    return pd.DataFrame({"area_code": codes, "name": [names.get(c) for c in codes],
                         "leader": [leaders.get(c) for c in codes], "grids": [int(counts.get(c, 0)) for c in codes]})


def _units(layers: Mapping[str, Any], by: str) -> pd.DataFrame:
    """One row per unit: its key, name and number of grids (and community for grids)."""
    if by == "street":
        return _street_units(layers)
    if by == "area":
        return _area_units(layers)
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


def _context(layers: Mapping[str, Any], by: str, deadlines: Mapping[str, float], rules: Rules, *,
             recurrences: bool = True) -> _Context:
    """What the periods share; `deadlines` as merged by :func:`_deadline_hours`."""
    known = _has_rows(layers.get("rectifications"))
    if not known:
        logger.info("the workspace holds no rectification: rectification, overdue and recurrence figures are "
                    "unknown (no data) and left out of the score")
    recurring = _recurring_ids(layers["reports"], layers["rectifications"]) if recurrences and known else frozenset()
    return _Context(layers, by, deadlines, rules, recurring, known)


def _report_rows(ctx: _Context, period: _Period) -> pd.DataFrame:
    """The period's reports with their unit and their facts."""
    layers = ctx.layers
    chosen = select_reports(layers["reports"], start=period.start, end=period.end)
    plain = pd.DataFrame(chosen).drop(columns="geometry", errors="ignore")
    events = _events(plain, layers["rectifications"], layers["spotchecks"], period.cutoff)
    facts = _report_facts(plain, events, period.cutoff, ctx.deadlines)
    facts["unit"] = _unit_of_reports(ctx, chosen, plain)
    facts["recurrence"] = plain["report_id"].isin(ctx.recurring).to_numpy()
    if not ctx.rectifications_known:
        # without any rectification record, whether a report was fixed (in time, for good) is unknown
        for column in _FIX_FACTS:
            facts[column] = pd.array([pd.NA] * len(facts), dtype="boolean")
        facts["hours"] = np.nan
    return facts


def _unit_of_reports(ctx: _Context, chosen: Any, plain: pd.DataFrame) -> np.ndarray:
    """The unit of each report: through its grid, or (street, area) by :func:`attribute_reports`."""
    if ctx.by not in ATTRIBUTED_UNITS:
        return plain["grid_code"].map(_unit_of_grid(ctx.layers, ctx.by)).to_numpy()
    layers = ctx.layers
    attributed = attribute_reports(chosen, grids=layers["grids"], streets=layers.get("streets"),
                                   areas=layers.get("areas"), street_distance_m=ctx.rules.street_distance_m)
    units = attributed[BY_CHOICES[ctx.by]].to_numpy(dtype=object)
    return np.asarray(np.where(pd.isna(units), None, units), dtype=object)


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
    tracks = layers["tracks"]
    if tracks is None or len(tracks) == 0:
        return None
    streets = layers.get("streets") if by == "street" else None  # the street's own coverage (issue 17)
    with _EmptyWindowNote():
        result = sweep_coverage(layers["grids"], tracks, start=period.start, end=period.end, streets=streets)
    if int(result.stats["fixes_used"]) == 0:
        logger.info("no GPS fixes from %s to %s: coverage is unknown (no data) in that period",
                    period.start.date(), period.end.date())
        return None
    return _coverage_table(result, by)


def _coverage_table(result: Any, by: str) -> pd.DataFrame:
    """The unit's ``coverage_ratio`` and ``dead_corners`` from a coverage result, indexed by the unit's key."""
    if by == "community":
        table = result.by_community
    elif by == "cadre":
        table = result.by_cadre.assign(cadre=cadre_keys(result.by_cadre["cadre"]))
    elif by == "street":  # the street's covered length; its dead corners are its dead stretches
        table = pd.DataFrame(result.streets).assign(dead_corners=result.streets["dead_stretches"])
    elif by == "area":  # area-weighted over the area's grids, with their dead corners
        table = result.by_area
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
