"""A leaders' page and a scoreboard of the same workspace search recurrences once (issue 16), and agree.

The page judges each report of its period against the report's history, as the scoreboard does: both read the
same reports and rectifications and ask the same question, so the cache of :mod:`gridmap.analysis.recurrence`
answers the second. Every count is checked against a brute force over every (report, rectification) pair of the
whole workspace, the module's pair rules written out, and the page's sites against connected components of a
full distance matrix of the period's reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components
from shapely.geometry import Point

import gridmap
from gridmap.analysis.recurrence import cache_info, clear_cache
from gridmap.cli import main
from gridmap.crs import metric_crs
from gridmap.errors import SchemaError
from gridmap.jobs.supervision import run_scoreboard
from gridmap.pages import report
from gridmap.pages.report import CHART_WEEKS, export_html
from gridmap.pages.scoreboard import scoreboard_html

TZ = "Asia/Shanghai"
START, END = "2025-03-03", "2025-03-10"
RADIUS_M = 50.0
WINDOW_NS = 30 * 86_400 * 10**9
NOW = pd.Timestamp("2026-06-01", tz=TZ)


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("once") / "gulou.gpkg"
    gridmap.init_workspace(path, sample=True).close()
    return path


@pytest.fixture
def fresh() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def page_sites(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The recurring sites each leaders' page built here shows (what its ``recurring_sites`` call returned)."""
    seen: list[Any] = []
    original = report.recurring_sites

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(original(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(report, "recurring_sites", spy)
    return seen


def build_page(path: Path, out: Path) -> str:
    return export_html(path, out / "page.html", offline=False, start=START, end=END).read_text(encoding="utf-8")


def build_board(path: Path, out: Path) -> None:
    scoreboard_html(path, out / "board.html", start=START, end=END, offline=False, weeks=CHART_WEEKS, now=NOW)


# ---------------------------------------------------------------------------------------------------------------
# the brute force
# ---------------------------------------------------------------------------------------------------------------


def _utc_ns(times: pd.Series) -> np.ndarray:
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)


def _metric(reports: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ids, UTC ns, metric xy and categories of the reports with a time and a position."""
    placed = reports[reports["reported_at"].notna() & ~(reports.geometry.isna() | reports.geometry.is_empty)]
    projected = placed.to_crs(metric_crs(placed)) if len(placed) else placed
    return (placed["report_id"].astype(str).to_numpy(), _utc_ns(placed["reported_at"]),
            np.column_stack([projected.geometry.x, projected.geometry.y]), placed["category"].astype(str).to_numpy())


def brute_recurring(reports: gpd.GeoDataFrame, fixes: pd.DataFrame) -> set[str]:
    """Ids of the reports R with an earlier report P within 50 m, of R's category, rectified after P was reported
    and before R, at most 30 days before R: the module's rules, over every (report, rectification) pair."""
    ids, t, xy, cat = _metric(reports)
    where = {rid: k for k, rid in enumerate(ids)}
    fixes = fixes[fixes["rectified_at"].notna() & fixes["report_id"].astype(str).isin(where)]
    p = np.array([where[rid] for rid in fixes["report_id"].astype(str)], dtype=np.int64)
    f = _utc_ns(fixes["rectified_at"])
    valid = f > t[p]
    p, f = p[valid], f[valid]
    found = set()
    for r in range(len(ids)):
        near = np.hypot(xy[p, 0] - xy[r, 0], xy[p, 1] - xy[r, 1]) <= RADIUS_M
        if np.any(near & (cat[p] == cat[r]) & (f < t[r]) & (t[r] - f <= WINDOW_NS)):
            found.add(str(ids[r]))
    return found


def brute_sites(reports: gpd.GeoDataFrame) -> set[frozenset[str]]:
    """Groups of at least two reports linked within 50 m (same category), from a full distance matrix."""
    ids, _, xy, cat = _metric(reports)
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    linked = (d <= RADIUS_M) & (cat[:, None] == cat[None, :])
    _, labels = connected_components(linked.astype(np.int8), directed=False)
    groups = [frozenset(ids[labels == k]) for k in np.unique(labels)]
    return {g for g in groups if len(g) >= 2}


def in_period(reports: gpd.GeoDataFrame, start: str = START, end: str = END) -> gpd.GeoDataFrame:
    times = reports["reported_at"]
    return reports[(times >= pd.Timestamp(start, tz=TZ)) & (times < pd.Timestamp(end, tz=TZ))]


def whole(path: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    with gridmap.open_workspace(path) as ws:
        return ws.read_layer("reports"), ws.read_layer("rectifications")


# ---------------------------------------------------------------------------------------------------------------
# (a) computed once, in either order
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page_first", [True, False])
def test_a_page_and_a_scoreboard_page_of_one_workspace_search_recurrences_once(
        sample_path: Path, tmp_path: Path, fresh: None, page_first: bool) -> None:
    steps = [build_page, build_board] if page_first else [build_board, build_page]
    steps[0](sample_path, tmp_path)
    assert cache_info().computations == 1
    steps[1](sample_path, tmp_path)
    info = cache_info()
    assert info.computations == 1 and info.hits >= 1


def test_the_report_and_scoreboard_commands_search_recurrences_once(sample_path: Path, tmp_path: Path,
                                                                    fresh: None) -> None:
    period = ["--from", START, "--to", END]
    assert main(["scoreboard", str(sample_path), *period, "--html", str(tmp_path / "b.html"), "--online"]) == 0
    assert main(["report", str(sample_path), *period, "--html", str(tmp_path / "p.html"), "--online"]) == 0
    assert cache_info().computations == 1


def test_cache_info_counts_and_clear_cache_resets(fresh: None) -> None:
    reports, fixes = gridmap.sample_reports(n_reports=200, days=60)
    gridmap.recurrences(reports, rectifications=fixes)
    gridmap.recurring_sites(reports, rectifications=fixes, period=("2025-02-01", None))
    gridmap.recurrences(reports, rectifications=fixes.iloc[1:])
    assert cache_info()[:3] == (1, 2, 2)  # hits, misses, computations
    clear_cache()
    assert cache_info()[:3] == (0, 0, 0) and cache_info().currsize == 0


# ---------------------------------------------------------------------------------------------------------------
# (b) the page's sites and (c) the scoreboard's column, against the brute force
# ---------------------------------------------------------------------------------------------------------------


def test_the_pages_sites_count_recurrences_of_the_whole_history(sample_path: Path, tmp_path: Path, fresh: None,
                                                                page_sites: list[Any]) -> None:
    html = build_page(sample_path, tmp_path)
    (sites,) = page_sites
    reports, fixes = whole(sample_path)
    week = in_period(reports)
    recurring = brute_recurring(reports, fixes) & set(week["report_id"].astype(str))
    want = brute_sites(week)
    got = {frozenset(ids.split(",")): int(n) for ids, n in zip(sites["report_ids"], sites["recurrences"])}
    assert set(got) == want
    assert got == {site: len(site & recurring) for site in want}
    assert sum(got.values()) > 0
    # the history rows never reach the page's own figures: it counts the week's reports only
    assert f'<span class="gm-key">问题报告 {len(week):,}</span>' in html
    assert sites.attrs["site_reports"] == len(week) < sites.attrs["reports_used"]


def test_the_scoreboards_recurrences_are_those_of_the_brute_force(sample_path: Path, fresh: None) -> None:
    run = run_scoreboard(sample_path, start=START, end=END, now=NOW, weeks=CHART_WEEKS)
    reports, fixes = whole(sample_path)
    recurring = brute_recurring(reports, fixes)
    facts = run.facts.assign(report_id=run.facts["report_id"].astype(str))
    want = facts["report_id"].isin(recurring)
    assert facts["recurrence"].astype(bool).tolist() == want.tolist()
    assert int(want.sum()) > 0
    per_unit = want.groupby(facts["unit"].astype(str)).sum()
    board = run.board.set_index(run.board["community_code"].astype(str))["recurrences"]
    assert board.astype(int).to_dict() == {code: int(per_unit.get(code, 0)) for code in board.index}


# ---------------------------------------------------------------------------------------------------------------
# (d) a report recurring one made before the period
# ---------------------------------------------------------------------------------------------------------------


def _hand_made(path: Path) -> None:
    """Two reports of the week at one place, which a report of December (rectified two days before the week)
    left behind; a third report far away."""
    b = gridmap.sample_boundaries()
    crs = metric_crs(b["grids"])
    centre = b["grids"].to_crs(crs).geometry.iloc[0].representative_point()
    at = [Point(centre.x + dx, centre.y) for dx in (0.0, 10.0, 20.0, 3000.0)]
    when = pd.to_datetime(["2024-12-01 09:00", "2025-03-04 09:00", "2025-03-05 09:00",
                           "2025-03-05 10:00"]).tz_localize(TZ)
    status = ["rectified", "reported", "reported", "reported"]
    reports = gpd.GeoDataFrame({"report_id": ["OLD", "NEW1", "NEW2", "FAR"], "reported_at": when,
                                "category": ["garbage_dumping"] * 4, "status": status},
                               geometry=at, crs=crs).to_crs(4326)
    fixes = pd.DataFrame({"report_id": ["OLD"], "rectified_at": [pd.Timestamp("2025-03-01 09:00", tz=TZ)]})
    with gridmap.init_workspace(path) as ws:
        ws.append("communities", b["communities"])
        ws.append("grids", b["grids"])
        ws.append("reports", reports)
        ws.append("rectifications", fixes)


def test_a_report_recurring_one_made_before_the_period_counts_on_the_page(
        tmp_path: Path, fresh: None, page_sites: list[Any]) -> None:
    path = tmp_path / "hand.gpkg"
    _hand_made(path)
    html = build_page(path, tmp_path)
    (sites,) = page_sites
    assert sites[["report_ids", "reports", "recurrences"]].to_dict("records") == [
        {"report_ids": "NEW1,NEW2", "reports": 2, "recurrences": 2}]
    assert '<span class="gm-key">问题报告 3</span>' in html  # OLD is history, not a report of the page
    reports, fixes = whole(path)
    assert brute_recurring(reports, fixes) == {"NEW1", "NEW2"}
    run = run_scoreboard(path, start=START, end=END, now=NOW, weeks=CHART_WEEKS)
    assert set(run.facts.loc[run.facts["recurrence"].astype(bool), "report_id"]) == {"NEW1", "NEW2"}
    assert cache_info().computations == 1


# ---------------------------------------------------------------------------------------------------------------
# recurring_sites(period=): any layout
# ---------------------------------------------------------------------------------------------------------------


DAY0 = pd.Timestamp("2025-03-01", tz=TZ)
CATEGORIES = ["garbage_dumping", "sewage_splashing"]


@st.composite
def layouts(draw: Any) -> tuple[gpd.GeoDataFrame, pd.DataFrame, tuple[int, int]]:
    """Reports on a line in 20 m steps (linked within 50 m: up to two steps apart) over 40 days, some rectified
    1 to 12 days later, and a period of whole days."""
    n = draw(st.integers(1, 12))
    steps = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    hours = draw(st.lists(st.integers(0, 40 * 24), min_size=n, max_size=n, unique=True))
    cats = draw(st.lists(st.sampled_from(CATEGORIES), min_size=n, max_size=n))
    lags = draw(st.lists(st.one_of(st.none(), st.integers(1, 12 * 24)), min_size=n, max_size=n))
    lo, hi = sorted(draw(st.lists(st.integers(0, 42), min_size=2, max_size=2, unique=True)))
    ids = [f"R{k:02d}" for k in range(n)]
    when = [DAY0 + pd.Timedelta(hours=h) for h in hours]
    reports = gpd.GeoDataFrame({"report_id": ids, "reported_at": pd.DatetimeIndex(when), "category": cats},
                               geometry=[Point(388_900.0 + 20.0 * k, 4_240_450.0) for k in steps], crs="EPSG:4546")
    fixed = [(rid, t + pd.Timedelta(hours=lag)) for rid, t, lag in zip(ids, when, lags) if lag is not None]
    fixes = pd.DataFrame({"report_id": [f[0] for f in fixed],
                          "rectified_at": pd.DatetimeIndex([f[1] for f in fixed], tz=TZ)})
    return reports, fixes, (lo, hi)


@settings(max_examples=80, deadline=None)
@given(layout=layouts())
@example(layout=(  # a report of the period recurring one made before it, as on the leaders' page
    gpd.GeoDataFrame({"report_id": ["A", "B", "C"], "reported_at": pd.DatetimeIndex(
        [DAY0, DAY0 + pd.Timedelta(days=10), DAY0 + pd.Timedelta(days=11)]), "category": ["clutter"] * 3},
        geometry=[Point(388_900.0, 4_240_450.0), Point(388_920.0, 4_240_450.0), Point(388_940.0, 4_240_450.0)],
        crs="EPSG:4546"),
    pd.DataFrame({"report_id": ["A"], "rectified_at": [DAY0 + pd.Timedelta(days=8)]}), (9, 20)))
def test_sites_of_a_period_count_recurrences_of_every_report_given(
        layout: tuple[gpd.GeoDataFrame, pd.DataFrame, tuple[int, int]]) -> None:
    reports, fixes, (lo, hi) = layout
    start, end = DAY0 + pd.Timedelta(days=lo), DAY0 + pd.Timedelta(days=hi)
    sites = gridmap.recurring_sites(reports, rectifications=fixes, period=(start, end))
    period = in_period(reports, start.isoformat(), end.isoformat())
    recurring = brute_recurring(reports, fixes)
    want = brute_sites(period)
    got = {frozenset(ids.split(",")): int(k) for ids, k in zip(sites["report_ids"], sites["recurrences"])}
    assert got == {site: len(site & recurring) for site in want}
    assert sites.attrs["site_reports"] == len(period)


@pytest.mark.parametrize("period", ["2025-03-01", ("someday", None), ("2025-03-01",)])
def test_a_period_that_is_not_a_pair_of_times_is_refused(period: Any) -> None:
    reports, fixes = gridmap.sample_reports(n_reports=20, days=10)
    with pytest.raises(SchemaError, match="period|date or time"):
        gridmap.recurring_sites(reports, rectifications=fixes, period=period)
