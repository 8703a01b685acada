"""The supervision scoreboard, checked against a small case worked out by hand.

The case (all times Asia/Shanghai, period 2025-03-03 to 2025-03-10, the
previous period the week before):

* community A = grids A1 (cadre 张三) and A2 (cadre 李四); community B = grid
  B1 (cadre 张三 too, so the cadre table merges two communities);
* reports r1..r8 in the period, r0 the week before; rectifications, a
  verification and two spot checks; one rectification dated before its own
  report (ignored); one after the cut-off (ignored);
* a GPS walk straight across A1 only, so A1 is a strip covered and A2, B1
  are not covered at all.

Each expected figure below is written out from that story, not from the code.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from gridmap.errors import GridmapError, SchemaError
from gridmap.crs import metric_crs
from gridmap.analysis.supervision import (
    DEFAULT_DEADLINES_HOURS, SCOREBOARD_COLUMNS, Rules, presented, resolve_period, scoreboard_headers,
    weekly_figures,
)
from gridmap.jobs.supervision import scoreboard

TZ = "Asia/Shanghai"
A, B = "610802001001", "610802001002"
A1, A2, B1 = A + "001", A + "002", B + "001"
START, END = "2025-03-03", "2025-03-10"


def _t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ)


def _grids() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "grid_code": [A1, A2, B1], "name": ["A1网格", "A2网格", "B1网格"], "community_code": [A, A, B],
        "cadre": ["张三", "李四", "张三"], "cadre_phone": ["13700000001", "13700000002", "13700000001"],
        "area_code": [None] * 3,
    }, geometry=[box(109.730, 38.290, 109.732, 38.292), box(109.730, 38.292, 109.732, 38.294),
                 box(109.736, 38.290, 109.738, 38.292)], crs=4326)


_REPORTS = [  # id, time, category, lon, lat, grid
    ("r0", "2025-02-25 08:00", "garbage_dumping", 109.7305, 38.2905, A1),
    ("r1", "2025-03-03 08:00", "garbage_dumping", 109.7305, 38.2905, A1),
    ("r2", "2025-03-04 08:00", "random_piling", 109.7315, 38.2915, A1),
    ("r3", "2025-03-05 08:00", "firewood_pile", 109.7310, 38.2918, A1),
    ("r4", "2025-03-09 20:00", "garbage_dumping", 109.7305, 38.2905, A1),
    ("r5", "2025-03-03 09:00", "sewage_splashing", 109.7305, 38.2930, A2),
    ("r6", "2025-03-06 10:00", "garbage_dumping", 109.7315, 38.2935, A2),
    ("r7", "2025-03-06 12:00", "scrapped_vehicle", 109.7310, 38.2925, A2),
    ("r8", "2025-03-04 10:00", "garbage_dumping", 109.7370, 38.2910, B1),
]

_FIXES = [  # report, rectified_at, verified_at
    ("r0", "2025-02-25 12:00", None),
    ("r1", "2025-03-03 20:00", "2025-03-04 10:00"),
    ("r2", "2025-03-07 08:00", None),
    ("r3", "2025-03-05 07:00", None),  # before its report: ignored
    ("r5", "2025-03-03 15:00", None),
    ("r6", "2025-03-11 10:00", None),  # after the cut-off: ignored
    ("r7", "2025-03-08 12:00", None),
    ("r8", "2025-03-04 12:00", None),
]

_CHECKS = [("r5", "2025-03-05 10:00", "reopened"), ("r7", "2025-03-09 12:00", "verified")]


def _walk() -> gpd.GeoDataFrame:
    """Fixes every 10 s along latitude 38.291 from west of A1 to east of it (about 0.87 m/s)."""
    lons = np.arange(109.7295, 109.73251, 0.0001)
    times = [_t("2025-03-05 09:00") + pd.Timedelta(seconds=10 * k) for k in range(len(lons))]
    return gpd.GeoDataFrame({"inspector": "巡查员甲", "time": times, "track_id": "w1"},
                            geometry=[Point(x, 38.291) for x in lons], crs=4326)


def _layers() -> dict[str, object]:
    reports = gpd.GeoDataFrame({
        "report_id": [r[0] for r in _REPORTS], "reported_at": [_t(r[1]) for r in _REPORTS],
        "category": [r[2] for r in _REPORTS], "description": "", "source": "app", "status": "reported",
        "grid_code": [r[5] for r in _REPORTS], "photo": None,
    }, geometry=[Point(r[3], r[4]) for r in _REPORTS], crs=4326)
    fixes = pd.DataFrame({
        "report_id": [f[0] for f in _FIXES], "rectified_at": [_t(f[1]) for f in _FIXES],
        "verified_at": pd.Series([_t(f[2]) if f[2] else pd.NaT for f in _FIXES], dtype=f"datetime64[ns, {TZ}]"),
        "by": "环卫队", "tonnes": np.nan, "truck_trips": pd.array([pd.NA] * len(_FIXES), dtype="Int64"),
    })
    checks = pd.DataFrame({"report_id": [c[0] for c in _CHECKS], "checked_at": [_t(c[1]) for c in _CHECKS],
                           "result": [c[2] for c in _CHECKS], "checker": "督查组", "note": ""})
    communities = gpd.GeoDataFrame({"community_code": [A, B], "name": ["甲社区", "乙社区"], "secretary": None},
                                   geometry=[box(109.730, 38.290, 109.732, 38.294),
                                             box(109.736, 38.290, 109.738, 38.292)], crs=4326)
    return {"grids": _grids(), "communities": communities, "reports": reports, "rectifications": fixes,
            "spotchecks": checks, "tracks": _walk()}


def _covered_share_of_a1() -> tuple[float, float, float]:
    """Covered m² of A1 and the areas of A1 and A2, by shapely in the metric CRS (the reference)."""
    grids = _grids()
    crs = metric_crs(grids)
    metric = grids.to_crs(crs).geometry.to_numpy()
    walk = _walk().to_crs(crs)
    line = LineString([(p.x, p.y) for p in walk.geometry])
    covered = shapely.area(shapely.intersection(metric[0], line.buffer(30.0, quad_segs=64)))
    return float(covered), float(shapely.area(metric[0])), float(shapely.area(metric[1]))


@pytest.fixture(scope="module")
def board_en() -> pd.DataFrame:
    return scoreboard(_layers(), start=START, end=END, lang="en")


def _row(board: pd.DataFrame, key: str, value: str) -> pd.Series:
    rows = board[board[key] == value]
    assert len(rows) == 1
    return rows.iloc[0]


def test_columns_carry_the_issue_names(board_en: pd.DataFrame) -> None:
    named = ["reports", "rectified", "verified", "rectification_rate", "median_hours_to_rectify", "overdue",
             "recurrences", "recurrence_rate", "coverage_ratio", "dead_corners", "rank", "lagging"]
    assert set(named) <= set(board_en.columns)
    assert list(board_en.columns) == ["community_code", "name", *SCOREBOARD_COLUMNS]


def test_community_figures_by_hand(board_en: pd.DataFrame) -> None:
    a = _row(board_en, "community_code", A)
    # r1..r7; rectified at the cut-off: r1 (verified), r2, r7 (verified by a spot check); r5 reopened by a
    # spot check; r6's fix came after the cut-off; r3's "fix" predates the report.
    assert (a["reports"], a["rectified"], a["verified"], a["reopened"]) == (7, 3, 2, 1)
    assert a["rectification_rate"] == pytest.approx(3 / 7)
    assert a["median_hours_to_rectify"] == pytest.approx(statistics.median([12, 72, 48]))
    # overdue: r2 fixed after 72 h (48 h allowed), r3 never (72 h allowed, 112 h waited), r6 (24 h allowed,
    # 86 h waited at the cut-off). r4 waited 4 h of 24; r5's first fix took 6 h of 24.
    assert (a["overdue"], a["overdue_rate"]) == (3, pytest.approx(3 / 7))
    # r1 recurs r0 (fixed 2025-02-25 12:00, same spot); r4 recurs r1 (fixed 2025-03-03 20:00).
    assert (a["recurrences"], a["recurrence_rate"]) == (2, pytest.approx(2 / 7))
    b = _row(board_en, "community_code", B)
    assert (b["reports"], b["rectified"], b["verified"], b["reopened"], b["overdue"], b["recurrences"]) == \
        (1, 1, 0, 0, 0, 0)
    assert b["rectification_rate"] == 1.0 and b["median_hours_to_rectify"] == pytest.approx(2.0)
    assert a["name"] == "甲社区" and int(a["grids"]) == 2


def test_coverage_and_dead_corners_against_shapely(board_en: pd.DataFrame) -> None:
    covered, area_a1, area_a2 = _covered_share_of_a1()
    a = _row(board_en, "community_code", A)
    assert a["coverage_ratio"] == pytest.approx(covered / (area_a1 + area_a2), rel=2e-3)
    # the strip cuts A1 in two uncovered pieces; A2 is one piece, B1 another
    assert int(a["dead_corners"]) == 3
    b = _row(board_en, "community_code", B)
    assert b["coverage_ratio"] == 0.0 and int(b["dead_corners"]) == 1


def _expected_score(rect: float, overdue: float, cover: float, recur: float) -> float:
    return 40 * rect + 20 * (1 - overdue) + 30 * cover + 10 * (1 - recur)


def test_score_rank_and_change_follow_the_documented_rule(board_en: pd.DataFrame) -> None:
    covered, area_a1, area_a2 = _covered_share_of_a1()
    cover_a = covered / (area_a1 + area_a2)
    a, b = _row(board_en, "community_code", A), _row(board_en, "community_code", B)
    assert a["score"] == pytest.approx(_expected_score(3 / 7, 3 / 7, cover_a, 2 / 7), rel=1e-3)
    assert b["score"] == pytest.approx(_expected_score(1, 0, 0, 0))
    assert list(board_en["community_code"]) == [B, A] and list(board_en["rank"]) == [1, 2]
    # The week before: A had r0 (fixed in 4 h), B nothing, and nobody walked: coverage is unknown that week,
    # not 0, so both scores rest on the other parts, (40 + 20 + 10) / 70 * 100 = 100 each; the tie goes to
    # fewer overdue (both 0), then coverage (both unknown), then more reports: A first.
    assert (int(a["previous_rank"]), int(a["rank_change"])) == (1, -1)
    assert (int(b["previous_rank"]), int(b["rank_change"])) == (2, 1)
    assert board_en.attrs["unknown_parts"] == [] and board_en.attrs["previous_unknown_parts"] == ["coverage_ratio"]
    # a score with coverage and one without are not comparable: no change, rather than a drop of 100 - score
    assert math.isnan(a["score_change"]) and math.isnan(b["score_change"])
    assert int(a["reports_change"]) == 6 and int(b["reports_change"]) == 1
    assert a["rectification_rate_change"] == pytest.approx(3 / 7 - 1.0)
    assert math.isnan(b["rectification_rate_change"])  # no rate the week before
    # no GPS fix the week before: the change is unknown, never cover_a - 0 (the "+100 %" of a week without tracks)
    assert math.isnan(a["coverage_ratio_change"]) and math.isnan(b["coverage_ratio_change"])


def test_lagging_flags_and_reasons(board_en: pd.DataFrame) -> None:
    a, b = _row(board_en, "community_code", A), _row(board_en, "community_code", B)
    assert bool(a["lagging"]) and bool(b["lagging"])
    # percentages as gridmap shows them: one decimal, rounded down (3/7 = 42.857... %, 2/7 = 28.571... %)
    assert a["lagging_reason"].split("; ")[:3] == [
        "rectification_rate 42.8 % < 80.0 %", "overdue_rate 42.8 % > 20.0 %", "recurrence_rate 28.5 % > 20.0 %"]
    assert a["lagging_reason"].split("; ")[3].startswith("coverage_ratio ")
    # B has 1 report, fewer than min_reports = 3: only the coverage rule applies to it.
    assert b["lagging_reason"] == "coverage_ratio 0.0 % < 80.0 %"
    relaxed = scoreboard(_layers(), start=START, end=END, lang="en",
                         rules={"min_coverage_ratio": 0.0, "min_reports": 1, "max_recurrence_rate": 0.5,
                                "max_overdue_rate": 0.5, "min_rectification_rate": 0.4})
    assert not relaxed["lagging"].any() and (relaxed["lagging_reason"] == "").all()
    bottom = scoreboard(_layers(), start=START, end=END, lang="en",
                        rules={"min_coverage_ratio": 0.0, "min_reports": 99, "bottom_ranks": 1})
    assert list(bottom["lagging"]) == [False, True]
    assert bottom["lagging_reason"].iloc[1] == "rank 2 among the last 1"
    zh = scoreboard(_layers(), start=START, end=END)
    assert _row(zh, "community_code", B)["lagging_reason"] == "巡查覆盖率 0.0 % 低于 80.0 %"


def test_cadre_and_grid_tables_by_hand() -> None:
    cadres = scoreboard(_layers(), start=START, end=END, by="cadre", lang="en")
    assert list(cadres.columns[:2]) == ["cadre", "grids"]
    z = _row(cadres, "cadre", "张三")  # A1 and B1: r1..r4 and r8
    assert (z["grids"], z["reports"], z["rectified"], z["verified"], z["overdue"], z["recurrences"]) == \
        (2, 5, 3, 1, 2, 2)
    assert z["median_hours_to_rectify"] == pytest.approx(12.0)  # median of 12, 72 and 2
    li = _row(cadres, "cadre", "李四")  # A2: r5..r7
    assert (li["reports"], li["rectified"], li["verified"], li["reopened"], li["overdue"]) == (3, 1, 1, 1, 1)
    grids = scoreboard(_layers(), start=START, end=END, by="grid", lang="en")
    assert list(grids.columns[:3]) == ["grid_code", "name", "community_code"]
    a1 = _row(grids, "grid_code", A1)
    assert (a1["reports"], a1["rectified"], a1["overdue"], a1["recurrences"]) == (4, 2, 2, 2)
    assert a1["median_hours_to_rectify"] == pytest.approx(42.0)
    covered, area_a1, _ = _covered_share_of_a1()
    assert a1["coverage_ratio"] == pytest.approx(covered / area_a1, rel=2e-3)
    assert int(a1["dead_corners"]) == 2
    assert "cadre_phone" not in grids.columns and "cadre_phone" not in cadres.columns


def test_deadlines_override_and_labels() -> None:
    # random_piling gets 100 h: r2 (72 h) is no longer overdue; labels work like keys
    board = scoreboard(_layers(), start=START, end=END, lang="en", deadlines={"乱堆乱放": 100})
    assert int(_row(board, "community_code", A)["overdue"]) == 2
    assert board.attrs["deadlines_hours"]["random_piling"] == 100.0
    assert board.attrs["deadlines_hours"]["garbage_dumping"] == DEFAULT_DEADLINES_HOURS["garbage_dumping"]
    with pytest.raises(SchemaError, match="positive number of hours"):
        scoreboard(_layers(), start=START, end=END, deadlines={"garbage_dumping": 0})
    with pytest.raises(SchemaError, match="unknown category"):
        scoreboard(_layers(), start=START, end=END, deadlines={"nonsense": 5})


def test_cutoff_is_end_or_now() -> None:
    # Seen on 2025-03-06 00:00, r2 (fixed 03-07) is not fixed yet and r5 was reopened on 03-05: r1 is the
    # only rectified report. Nothing is overdue yet: r2 has waited 40 h of 48, r3 16 h of 72, and r4, r6, r7
    # lie after that moment (a test-only situation; real reports cannot come from the future).
    board = scoreboard(_layers(), start=START, end=END, lang="en", now=_t("2025-03-06 00:00"))
    a = _row(board, "community_code", A)
    assert (a["rectified"], a["reopened"], a["overdue"]) == (1, 1, 0)
    assert board.attrs["cutoff"] == "2025-03-06T00:00:00+08:00"


def test_order_of_input_rows_does_not_matter(board_en: pd.DataFrame) -> None:
    layers = _layers()
    shuffled = {k: (v.sample(frac=1.0, random_state=3) if hasattr(v, "sample") else v) for k, v in layers.items()}
    again = scoreboard(shuffled, start=START, end=END, lang="en")
    pd.testing.assert_frame_equal(again, board_en)


def test_the_callers_layers_are_not_modified() -> None:
    layers = _layers()
    before = {k: v.copy() for k, v in layers.items()}
    scoreboard(layers, start=START, end=END, by="cadre")
    for name, frame in layers.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_reports_outside_every_grid_are_counted_not_lost() -> None:
    layers = _layers()
    reports = layers["reports"].copy()
    reports.loc[reports["report_id"] == "r8", "grid_code"] = None
    layers["reports"] = reports
    board = scoreboard(layers, start=START, end=END, lang="en")
    assert int(board["reports"].sum()) == 7 and board.attrs["unassigned_reports"] == 1


def test_without_tracks_coverage_is_missing_and_left_out_of_the_score() -> None:
    layers = _layers()
    layers["tracks"] = layers["tracks"].iloc[:0]
    board = scoreboard(layers, start=START, end=END, lang="en")
    assert board["coverage_ratio"].isna().all() and board["dead_corners"].isna().all()
    b = _row(board, "community_code", B)
    assert b["score"] == pytest.approx(100.0)  # (40 + 20 + 10) / 70 * 100
    assert "coverage" not in b["lagging_reason"]


def test_rank_ties_are_broken_by_key_and_ranks_are_unique() -> None:
    layers = _layers()
    layers["reports"] = layers["reports"].iloc[:0]
    layers["tracks"] = layers["tracks"].iloc[:0]
    board = scoreboard(layers, start=START, end=END, by="grid", lang="en")
    assert list(board["grid_code"]) == sorted([A1, A2, B1]) and list(board["rank"]) == [1, 2, 3]


def test_options_are_checked() -> None:
    with pytest.raises(SchemaError, match="by must be one of"):
        scoreboard(_layers(), start=START, end=END, by="street_chief")
    with pytest.raises(SchemaError, match="unknown rule"):
        scoreboard(_layers(), start=START, end=END, rules={"min_rate": 1})
    with pytest.raises(SchemaError, match="period is empty"):
        scoreboard(_layers(), start=END, end=START)
    with pytest.raises(SchemaError, match="weights"):
        Rules(weights={"rectification_rate": -1})
    layers = _layers()
    layers["grids"] = layers["grids"].iloc[:0]
    with pytest.raises(GridmapError, match="no grids"):
        scoreboard(layers, start=START, end=END)


def test_period_defaults_to_a_week() -> None:
    first, last = resolve_period(None, "2025-03-10")
    assert (first.isoformat(), last.isoformat()) == ("2025-03-03T00:00:00+08:00", "2025-03-10T00:00:00+08:00")
    reports = _layers()["reports"]
    first, last = resolve_period(None, None, reports)  # latest report: Sunday 2025-03-09 20:00
    assert (first.date().isoformat(), last.date().isoformat()) == ("2025-03-03", "2025-03-10")


def test_headers_zh_and_en(board_en: pd.DataFrame) -> None:
    zh = presented(board_en, "zh")
    assert zh.columns[0] == "社区编码" and "整改率" in zh.columns and "落后原因" in zh.columns
    assert set(zh["是否落后"]) <= {"是", "否"}
    en = presented(board_en, "en")
    assert list(en.columns) == list(board_en.columns)
    assert len(set(scoreboard_headers(board_en.columns, "zh").values())) == len(board_en.columns)


def test_weekly_figures_match_the_scoreboard_of_each_week() -> None:
    weekly = weekly_figures(_layers(), end=END, weeks=2)
    assert len(weekly) == 4
    last = weekly[weekly["week_start"] == _t(START)].set_index("community_code")
    assert int(last.loc[A, "reports"]) == 7 and last.loc[A, "rectification_rate"] == pytest.approx(3 / 7)
    first = weekly[weekly["week_start"] == _t("2025-02-24")].set_index("community_code")
    # nobody walked that week: coverage is unknown (NaN), not 0
    assert int(first.loc[A, "reports"]) == 1 and math.isnan(first.loc[A, "coverage_ratio"])
    assert math.isnan(first.loc[B, "rectification_rate"])


def test_a_real_workspace_gives_the_same_table(tmp_path: Path) -> None:
    """Stored in a GeoPackage and read back (times as UTC text, nullable columns), the figures do not change."""
    from gridmap.storage import init_workspace

    layers = _layers()
    path = tmp_path / "w.gpkg"
    with init_workspace(path) as ws:
        for name in ("communities", "grids", "reports", "rectifications", "spotchecks", "tracks"):
            ws.append(name, layers[name], source=f"{name}.test")
    from_file = scoreboard(path, start=START, end=END, lang="en")
    from_layers = scoreboard(layers, start=START, end=END, lang="en")
    pd.testing.assert_frame_equal(from_file, from_layers, check_dtype=False)
    assert list(from_file["rank"]) == [1, 2]


# ----------------------------------------------------------------------------- per-report facts, brute force

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_T0 = pd.Timestamp("2025-03-03", tz=TZ)
_HOUR = pd.Timedelta(hours=1)
_CATS = ["garbage_dumping", "firewood_pile", "scrapped_vehicle"]


def _brute_force(reports: pd.DataFrame, fixes: pd.DataFrame, checks: pd.DataFrame,
                 cutoff: pd.Timestamp) -> dict[str, tuple[bool, bool, bool, bool, float]]:
    """(rectified, verified, reopened, overdue, hours) per report, by walking its events in time order."""
    out = {}
    for rid, at, category in reports[["report_id", "reported_at", "category"]].itertuples(index=False):
        events = []
        for fixed, verified in fixes[fixes["report_id"] == rid][["rectified_at", "verified_at"]].itertuples(
                index=False):
            if fixed < at:  # a fix dated before its report, and its verification, are bad data
                continue
            events.append((fixed, 0, "rectified"))
            if pd.notna(verified):
                events.append((max(fixed, verified), 1, "verified"))
        first_fix = min((e[0] for e in events if e[1] == 0), default=None)
        for checked, result in checks[checks["report_id"] == rid][["checked_at", "result"]].itertuples(index=False):
            if first_fix is not None and checked >= first_fix:  # a check before any fix checks nothing
                events.append((checked, 2, result))
        events = sorted(e for e in events if at <= e[0] <= cutoff)
        state = events[-1][2] if events else None
        first = min((e[0] for e in events if e[2] == "rectified" and e[1] == 0), default=None)
        limit = DEFAULT_DEADLINES_HOURS[category]
        hours = None if first is None else (first - at) / _HOUR
        overdue = (cutoff - at) / _HOUR > limit if hours is None else hours > limit
        rectified = state in ("rectified", "verified")
        out[rid] = (rectified, state == "verified", state == "reopened", overdue,
                    hours if rectified else float("nan"))
    return out


_event = st.tuples(st.integers(0, 11), st.integers(-30, 250), st.booleans(), st.integers(0, 60))
_check = st.tuples(st.integers(0, 11), st.integers(-30, 250), st.sampled_from(["verified", "reopened"]))


@settings(max_examples=60, deadline=None)
@given(report_hours=st.lists(st.integers(0, 160), min_size=1, max_size=12),
       categories=st.lists(st.sampled_from(_CATS), min_size=12, max_size=12),
       fix_events=st.lists(_event, max_size=20), check_events=st.lists(_check, max_size=8),
       cutoff_hours=st.integers(100, 168))
def test_report_facts_match_a_brute_force_walk(report_hours: list[int], categories: list[str],
                                               fix_events: list[tuple[int, int, bool, int]],
                                               check_events: list[tuple[int, int, str]], cutoff_hours: int) -> None:
    from gridmap.analysis.supervision import _events, _report_facts, _deadline_hours

    reports = pd.DataFrame({"report_id": [f"r{k}" for k in range(len(report_hours))],
                            "reported_at": [_T0 + h * _HOUR for h in report_hours],
                            "category": categories[:len(report_hours)]})
    n = len(reports)
    fixes = pd.DataFrame({
        "report_id": [f"r{e[0] % n}" for e in fix_events],
        "rectified_at": [_T0 + (report_hours[e[0] % n] + e[1]) * _HOUR for e in fix_events],
        "verified_at": pd.Series([_T0 + (report_hours[e[0] % n] + e[1] + e[3]) * _HOUR if e[2] else pd.NaT
                                  for e in fix_events], dtype=f"datetime64[ns, {TZ}]"),
    }).drop_duplicates(["report_id", "rectified_at"])
    checks = pd.DataFrame({
        "report_id": [f"r{c[0] % n}" for c in check_events],
        "checked_at": [_T0 + (report_hours[c[0] % n] + c[1]) * _HOUR for c in check_events],
        "result": [c[2] for c in check_events],
    }).drop_duplicates(["report_id", "checked_at"])
    if len(fixes) == 0:
        fixes = fixes.astype({"rectified_at": f"datetime64[ns, {TZ}]"})
    if len(checks) == 0:
        checks = checks.astype({"checked_at": f"datetime64[ns, {TZ}]"})
    cutoff = _T0 + cutoff_hours * _HOUR
    facts = _report_facts(reports, _events(reports, fixes, checks, cutoff), cutoff, _deadline_hours(None))
    expected = _brute_force(reports, fixes, checks, cutoff)
    # one fact per input report, none dropped, none added, none twice (the loop below alone would not notice)
    assert sorted(facts["report_id"]) == sorted(reports["report_id"]) and set(expected) == set(facts["report_id"])
    for row in facts.itertuples(index=False):
        want = expected[row.report_id]
        assert (bool(row.rectified), bool(row.verified), bool(row.reopened), bool(row.overdue)) == want[:4]
        assert (math.isnan(row.hours) and math.isnan(want[4])) or row.hours == pytest.approx(want[4])


def test_the_page_shows_exactly_the_evidence_behind_the_figures(tmp_path: Path) -> None:
    """On the map: the overdue (r2, r3, r6), reopened (r5) and recurring (r1, r4) reports, each once, where it is."""
    from _compact import decode, payload_of

    from gridmap.pages.scoreboard import PAGE_LABELS, scoreboard_html

    html = scoreboard_html(_layers(), tmp_path / "b.html", start=START, end=END, offline=False, weeks=0,
                           lang="en").read_text(encoding="utf-8")
    found = decode(payload_of(html, "evidence"))
    labels = PAGE_LABELS["en"]
    assert sorted(found["fields"][labels["id"]]) == ["r1", "r2", "r3", "r4", "r5", "r6"]  # each once
    states = dict(zip(found["fields"][labels["id"]], found["fields"][labels["state"]], strict=True))
    assert states == {"r2": labels["overdue"], "r3": labels["overdue"], "r6": labels["overdue"],
                      "r5": labels["reopened"], "r1": labels["recurring"], "r4": labels["recurring"]}
    where = {r[0]: (r[3], r[4]) for r in _REPORTS}
    for rid, lon, lat in zip(found["fields"][labels["id"]], found["lon"], found["lat"], strict=True):
        assert abs(lon - where[rid][0]) <= 1e-5 and abs(lat - where[rid][1]) <= 1e-5


# ----------------------------------------------------------------------------- missing data is not zero

_FIX_COLUMNS = ["rectified", "verified", "reopened", "rectification_rate", "median_hours_to_rectify", "overdue",
                "overdue_rate", "recurrences", "recurrence_rate"]


def hand_made_layers() -> dict[str, object]:
    """The hand-made case of this module (other test modules use it too)."""
    return _layers()


def _without_rectifications() -> dict[str, object]:
    layers = _layers()
    layers["rectifications"] = layers["rectifications"].iloc[:0]  # the layer exists, but holds no record
    return layers


def _gpkg(layers: dict[str, object], path: Path) -> Path:
    from gridmap.storage import init_workspace

    with init_workspace(path) as ws:
        for name in ("communities", "grids", "reports", "rectifications", "spotchecks", "tracks"):
            if len(layers[name]):  # type: ignore[arg-type]
                ws.append(name, layers[name], source=f"{name}.test")
    return path


@pytest.mark.parametrize("source", ["layers", "gpkg"])
def test_without_rectification_records_fix_figures_are_no_data(source: str, tmp_path: Path) -> None:
    layers = _without_rectifications()
    workspace = layers if source == "layers" else _gpkg(layers, tmp_path / "w.gpkg")
    board = scoreboard(workspace, start=START, end=END, lang="en")
    # the counts of reports are known; everything that depends on a fix being recorded is not
    assert dict(zip(board["community_code"], board["reports"])) == {A: 7, B: 1}
    for column in _FIX_COLUMNS:
        assert board[column].isna().all(), column
    assert board.attrs["unknown_parts"] == ["rectification_rate", "on_time_rate", "no_recurrence_rate"]
    # no lagging flag on what is unknown: only the coverage rule (A and B are both below 80 %) speaks
    assert all(reason.startswith("coverage_ratio ") and ";" not in reason for reason in board["lagging_reason"])
    relaxed = scoreboard(workspace, start=START, end=END, lang="en", rules={"min_coverage_ratio": 0.0})
    assert not relaxed["lagging"].any() and (relaxed["lagging_reason"] == "").all()
    # the score rests on coverage alone: its weight rescaled to 100 %
    covered, area_a1, area_a2 = _covered_share_of_a1()
    a, b = _row(board, "community_code", A), _row(board, "community_code", B)
    assert a["score"] == pytest.approx(100 * covered / (area_a1 + area_a2), rel=2e-3)
    assert b["score"] == 0.0
    assert list(board["community_code"]) == [A, B]


def test_without_rectifications_or_tracks_the_score_is_no_data() -> None:
    layers = _without_rectifications()
    layers["tracks"] = layers["tracks"].iloc[:0]
    board = scoreboard(layers, start=START, end=END, lang="en")
    assert board["score"].isna().all() and board["coverage_ratio"].isna().all()
    assert board.attrs["unknown_parts"] == ["rectification_rate", "on_time_rate", "coverage_ratio",
                                            "no_recurrence_rate"]
    assert not board["lagging"].any()
    # ranks still exist, by the documented tie-breaks: more reports first (A: 7, B: 1)
    assert list(board["community_code"]) == [A, B] and list(board["rank"]) == [1, 2]
    assert board["score_change"].isna().all()


def test_a_previous_period_without_any_data_gives_no_previous_rank_or_change() -> None:
    layers = _layers()
    reports = layers["reports"]
    layers["reports"] = reports[reports["report_id"] != "r0"]  # the week before: no report, and no track
    board = scoreboard(layers, start=START, end=END, lang="en")
    assert board.attrs["previous_has_data"] is False
    for column in ("previous_rank", "rank_change", "reports_change", "score_change", "rectification_rate_change",
                   "coverage_ratio_change"):
        assert board[column].isna().all(), column
    # this period's figures do not depend on that (r0 lay before the period)
    assert int(_row(board, "community_code", A)["reports"]) == 7
    assert _row(board, "community_code", A)["rectification_rate"] == pytest.approx(3 / 7)


def test_spreadsheets_leave_missing_values_empty(tmp_path: Path) -> None:
    import csv as csv_module

    from python_calamine import CalamineWorkbook

    from gridmap.analysis.supervision import write_scoreboard

    board = scoreboard(_without_rectifications(), start=START, end=END, lang="en")
    write_scoreboard(board, csv=tmp_path / "b.csv", xlsx=tmp_path / "b.xlsx", lang="en")

    with (tmp_path / "b.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv_module.reader(fh))
    sheet = CalamineWorkbook.from_path(str(tmp_path / "b.xlsx")).get_sheet_by_index(0).to_python()
    for table in (rows, sheet):
        header = table[0]
        assert len(table) == 3
        for column in _FIX_COLUMNS:
            assert [r[header.index(column)] for r in table[1:]] == ["", ""], column
        assert [float(r[header.index("reports")]) for r in table[1:]] == [7.0, 1.0]  # rows by rank: A, B
    notes = CalamineWorkbook.from_path(str(tmp_path / "b.xlsx")).get_sheet_by_index(1).to_python()
    items = {row[0]: row[1] for row in notes}
    assert items["empty cell"] == "no data (not 0)"
    assert items["parts with no data this period, left out of the score"] == \
        "rectification_rate, on_time_rate, no_recurrence_rate"


def _table_cells(html: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of the page's ranked table, parsed from the HTML (tags stripped)."""
    import html as html_module
    import re

    table = re.search(r'<table class="gm-table">(.*?)</table>', html, flags=re.S)
    assert table is not None
    head = [html_module.unescape(h) for h in re.findall(r"<th>(.*?)</th>", table.group(1))]
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), flags=re.S)
    assert body is not None
    rows = [[html_module.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), flags=re.S)]
    return head, rows


def _evidence_layers(html: str) -> int:
    import json
    import re

    return sum(json.loads(p)["role"] == "evidence"
               for p in re.findall(r"new GridmapPoints\((\{.*?\})\);\n", html, flags=re.S))


def test_the_page_says_no_data_and_shows_no_evidence_without_rectifications(tmp_path: Path) -> None:
    from gridmap.pages.scoreboard import PAGE_LABELS, scoreboard_html

    html = scoreboard_html(_without_rectifications(), tmp_path / "b.html", start=START, end=END, offline=False,
                           weeks=0).read_text(encoding="utf-8")
    head, rows = _table_cells(html)
    assert len(rows) == 2
    for header in ("整改率", "超期未整改", "反弹率"):
        assert [row[head.index(header)] for row in rows] == ["无数据", "无数据"], header
    assert [row[head.index("问题数")] for row in rows] == ["7", "1"]
    for row in rows:
        assert "整改率" not in row[-1] and "超期率" not in row[-1] and "反弹率" not in row[-1]  # no such lagging reason
    assert PAGE_LABELS["zh"]["no_rectifications"] in html
    assert _evidence_layers(html) == 0  # nothing is known to be overdue, reopened or recurring


def test_the_page_says_no_data_for_a_previous_period_without_data(tmp_path: Path) -> None:
    from gridmap.pages.scoreboard import PAGE_LABELS, scoreboard_html

    layers = _layers()
    layers["reports"] = layers["reports"][layers["reports"]["report_id"] != "r0"]
    html = scoreboard_html(layers, tmp_path / "b.html", start=START, end=END, offline=False, weeks=0,
                           lang="en").read_text(encoding="utf-8")
    head, rows = _table_cells(html)
    assert [row[head.index("rank_change")] for row in rows] == ["no data", "no data"]
    assert PAGE_LABELS["en"]["no_previous"] in html
    # percentages as gridmap shows them: A's rectification rate 3/7 = 42.857 % (rounded down), B's 1/1
    assert [row[head.index("rectification_rate")] for row in rows] == ["100.0 %", "42.8 %"]


def test_weekly_chart_data_and_figure_show_gaps_not_zeros() -> None:
    from gridmap.maps.static_supervision import supervision_chart_data, supervision_figure

    weekly = weekly_figures(_layers(), end=END, weeks=2)
    data = supervision_chart_data(weekly).set_index(["panel", "unit", "week_start"])
    before, this = _t("2025-02-24"), _t(START)
    # the week before: nobody walked (coverage unknown for both), B had no report (no rate)
    for unit in (A, B):
        assert math.isnan(data.loc[("coverage_ratio", unit, before), "value"])
        assert data.loc[("coverage_ratio", unit, before), "shown"] == "无数据"
    assert math.isnan(data.loc[("rectification_rate", B, before), "value"])
    assert data.loc[("rectification_rate", A, before), "value"] == 1.0  # r0, fixed in 4 h
    assert data.loc[("rectification_rate", A, this), "shown"] == "42.8 %"  # 3/7, rounded down
    figure = supervision_figure(weekly)
    rect_axes, cover_axes = figure.axes
    # the lines draw exactly these values, as percentages, with NaN (a break) where there is no data
    expected = {("rectification_rate", A): [100.0, 300 / 7], ("rectification_rate", B): [math.nan, 100.0]}
    for axes, panel in ((rect_axes, "rectification_rate"), (cover_axes, "coverage_ratio")):
        assert len(axes.lines) == 2
        for line, unit in zip(axes.lines, (A, B)):
            drawn = np.asarray(line.get_ydata(), dtype=float)
            if (panel, unit) in expected:
                np.testing.assert_allclose(drawn, expected[(panel, unit)], equal_nan=True)
    # B's coverage this week is a real 0 (inspectors walked, not through B); the week before is a gap
    cover_b = np.asarray(cover_axes.lines[1].get_ydata(), dtype=float)
    assert math.isnan(cover_b[0]) and cover_b[1] == 0.0
    # the week with no coverage for anyone is hatched and labelled; the rate panel has a value every week
    assert [t.get_text() for t in cover_axes.texts if t.get_gid() == "no-data"] == ["无数据"]
    assert [p for p in cover_axes.patches if p.get_gid() == "no-data"] and \
        not [t for t in rect_axes.texts if t.get_gid() == "no-data"]


def test_weekly_chart_without_rectifications_hatches_every_week() -> None:
    from gridmap.maps.static_supervision import supervision_chart_data, supervision_figure

    weekly = weekly_figures(_without_rectifications(), end=END, weeks=2)
    assert weekly["rectification_rate"].isna().all() and weekly["rectified"].isna().all()
    data = supervision_chart_data(weekly, lang="en")
    rates = data[data["panel"] == "rectification_rate"]
    assert rates["value"].isna().all() and set(rates["shown"]) == {"no data"}
    rect_axes, _ = supervision_figure(weekly, lang="en").axes
    assert [t.get_text() for t in rect_axes.texts if t.get_gid() == "no-data"] == ["no data", "no data"]
    assert all(np.isnan(np.asarray(line.get_ydata(), dtype=float)).all() for line in rect_axes.lines)


def test_the_run_keeps_one_fact_per_report_of_the_period() -> None:
    from gridmap.analysis.supervision import run_scoreboard

    run = run_scoreboard(_layers(), start=START, end=END, lang="en")
    in_period = [r[0] for r in _REPORTS if _t(START) <= _t(r[1]) < _t(END)]
    assert sorted(run.facts["report_id"]) == sorted(in_period) == [f"r{k}" for k in range(1, 9)]
    by_id = run.facts.set_index("report_id")
    assert sorted(by_id.index[by_id["overdue"].astype(bool)]) == ["r2", "r3", "r6"]
    assert sorted(by_id.index[by_id["recurrence"].astype(bool)]) == ["r1", "r4"]
