"""Tests of gridmap.analysis.recurrence: rebound rules counted by hand, a brute-force reference, sites, inputs."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from _opcount import extra_calls

from gridmap.errors import CRSError, SchemaError
from gridmap.analysis.recurrence import RECURRENCE_COLUMNS, SITE_COLUMNS, clear_cache, recurrences, recurring_sites
from gridmap.sample import sample_boundaries, sample_reports
from gridmap.storage import init_workspace

X0, Y0 = 388_900.0, 4_240_450.0  # near Yulin in EPSG:4546 (CGCS2000 GK CM 111E), the CRS metric_crs picks there
T0 = pd.Timestamp("2025-05-01 09:00", tz="Asia/Shanghai")
GARBAGE, SEWAGE = "garbage_dumping", "sewage_splashing"


def _reports(rows: list[tuple[str, float, float, float, str]]) -> gpd.GeoDataFrame:
    """Reports from (id, dx m, dy m, day after T0, category), in EPSG:4546."""
    return gpd.GeoDataFrame(
        {"report_id": [r[0] for r in rows],
         "reported_at": [T0 + pd.Timedelta(days=r[3]) for r in rows],
         "category": [r[4] for r in rows],
         "grid_code": ["610802001001001"] * len(rows)},
        geometry=[Point(X0 + r[1], Y0 + r[2]) for r in rows], crs="EPSG:4546")


def _fixes(rows: list[tuple[str, float]]) -> pd.DataFrame:
    """Rectifications from (report id, day after T0)."""
    return pd.DataFrame({"report_id": [r[0] for r in rows],
                         "rectified_at": [T0 + pd.Timedelta(days=r[1]) for r in rows]})


def _pairs(rec: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(rec["report_id"], rec["previous_report_id"]))


# ---------------------------------------------------------------------------------------------------------------
# each rule by hand
# ---------------------------------------------------------------------------------------------------------------


def test_radius_is_inclusive_and_measured_in_metres() -> None:
    # B at (30, 40): 50 m exactly; C at (30, 40.01): 50.008 m
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 30, 40, 5, GARBAGE), ("C", 30, 40.01, 5, SEWAGE),
                        ("D", 0, 0, 0, SEWAGE)])
    rec = recurrences(reports, rectifications=_fixes([("A", 1), ("D", 1)]))
    assert _pairs(rec) == {("B", "A")}
    row = rec.iloc[0]
    assert row["distance_m"] == 50.0
    assert row["days_since_rectification"] == 4.0
    assert row["previous_rectified_at"] == T0 + pd.Timedelta(days=1)
    assert row["reported_at"] == T0 + pd.Timedelta(days=5)
    assert row["category"] == GARBAGE and row["grid_code"] == "610802001001001"
    assert list(rec.columns) == list(RECURRENCE_COLUMNS)


def test_report_before_rectification_is_a_duplicate_sighting() -> None:
    # B comes while A is still open (fixed on day 3): a duplicate sighting; C comes after the fix
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 5, 0, 2, GARBAGE), ("C", 0, 5, 4, GARBAGE)])
    rec = recurrences(reports, rectifications=_fixes([("A", 3)]))
    assert _pairs(rec) == {("C", "A")}
    # a report at the very instant of the fix is not after it
    same_instant = _reports([("A", 0, 0, 0, GARBAGE), ("B", 5, 0, 3, GARBAGE), ("Z", 900, 0, 4, SEWAGE)])
    assert recurrences(same_instant, rectifications=_fixes([("A", 3)])).empty
    # without any rectification nothing recurs
    assert recurrences(reports, rectifications=_fixes([])).empty


def test_window_is_inclusive() -> None:
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 1, 0, 31, GARBAGE),  # exactly 30 days after the fix
                        ("P", 500, 0, 0, GARBAGE), ("Q", 500, 1, 31.01, GARBAGE)])  # 30.01 days
    fixes = _fixes([("A", 1), ("P", 1)])
    rec = recurrences(reports, rectifications=fixes)
    assert _pairs(rec) == {("B", "A")}
    assert rec["days_since_rectification"].tolist() == [30.0]
    assert _pairs(recurrences(reports, rectifications=fixes, window_days=30.02)) == {("B", "A"), ("Q", "P")}
    assert _pairs(recurrences(reports, rectifications=fixes, window_days=math.inf)) == {("B", "A"), ("Q", "P")}


def test_category_filter() -> None:
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 10, 0, 5, SEWAGE)])
    fixes = _fixes([("A", 1)])
    assert recurrences(reports, rectifications=fixes).empty
    rec = recurrences(reports, rectifications=fixes, same_category=False)
    assert _pairs(rec) == {("B", "A")}
    assert rec["category"].tolist() == [SEWAGE]  # the new report's category


def test_chain_pairs_each_report_with_the_latest_fix() -> None:
    # A fixed day 1; B day 5 recurs A; B fixed day 6; C day 10 is within reach of both: the latest fix (B's) wins
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 20, 0, 5, GARBAGE), ("C", 40, 0, 10, GARBAGE)])
    rec = recurrences(reports, rectifications=_fixes([("A", 1), ("B", 6)]))
    assert _pairs(rec) == {("B", "A"), ("C", "B")}
    assert rec["report_id"].tolist() == ["B", "C"]  # sorted by time
    assert rec["days_since_rectification"].tolist() == [4.0, 4.0]
    # C is 40 m from A and 20 m from B; with radius 30 only B reaches it, with radius 15 neither
    assert _pairs(recurrences(reports, rectifications=_fixes([("A", 1)]), radius_m=30)) == {("B", "A")}
    assert _pairs(recurrences(reports, rectifications=_fixes([("A", 1)]), radius_m=45)) == {("B", "A"), ("C", "A")}


def test_several_rectifications_use_the_latest_before_the_new_report() -> None:
    # A fixed on day 1 and (reopened) on day 40; B on day 45 is 5 days after the latest fix
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 3, 4, 45, GARBAGE), ("C", 4, 3, 35, GARBAGE)])
    rec = recurrences(reports, rectifications=_fixes([("A", 1), ("A", 40), ("C", 36)]))
    # B: A's latest fix before day 45 is day 40 (5 days), C's is day 36 (9 days): the later fix, A's, wins.
    # C: A's latest fix before day 35 is day 1, 34 days back: outside the window, so C recurs nothing.
    assert _pairs(rec) == {("B", "A")}
    assert rec["days_since_rectification"].tolist() == [5.0]
    assert rec["previous_rectified_at"].tolist() == [T0 + pd.Timedelta(days=40)]


def test_rectification_dated_before_its_report_is_ignored() -> None:
    reports = _reports([("A", 0, 0, 10, GARBAGE), ("B", 1, 1, 12, GARBAGE)])
    rec = recurrences(reports, rectifications=_fixes([("A", 5), ("Z", 1)]))
    assert rec.empty
    assert rec.attrs["rectifications_ignored"] == 1
    assert rec.attrs["rectifications_unmatched"] == 1


def test_reports_without_time_are_skipped_and_counted() -> None:
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 1, 0, 5, GARBAGE), ("C", 2, 0, 6, GARBAGE)])
    reports["reported_at"] = reports["reported_at"].where(reports["report_id"] != "C")
    rec = recurrences(reports, rectifications=_fixes([("A", 1)]))
    assert _pairs(rec) == {("B", "A")}
    assert rec.attrs["skipped_no_time"] == 1 and rec.attrs["reports_used"] == 2


def test_naive_times_are_taken_as_china_standard_time() -> None:
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 1, 0, 5, GARBAGE)])
    reports["reported_at"] = reports["reported_at"].dt.tz_localize(None)
    fixes = _fixes([("A", 1)])
    fixes["rectified_at"] = fixes["rectified_at"].dt.tz_convert("UTC")  # same instants, another zone
    rec = recurrences(reports, rectifications=fixes)
    assert rec["days_since_rectification"].tolist() == [4.0]
    assert str(rec["reported_at"].dt.tz) == "Asia/Shanghai"


# ---------------------------------------------------------------------------------------------------------------
# against a brute-force O(n²) reference
# ---------------------------------------------------------------------------------------------------------------


def _brute_force(reports: gpd.GeoDataFrame, fixes: pd.DataFrame, *, radius_m: float, window_days: float,
                 same_category: bool) -> set[tuple[str, str, float]]:
    """Every rule written out in plain Python over all pairs."""
    rows = list(zip(reports["report_id"], reports.geometry.x, reports.geometry.y, reports["reported_at"],
                    reports["category"]))
    fixes_of: dict[str, list[pd.Timestamp]] = {}
    for rid, when in zip(fixes["report_id"], fixes["rectified_at"]):
        fixes_of.setdefault(rid, []).append(when)
    window = pd.Timedelta(days=window_days)
    out = set()
    for rid, x, y, t, cat in rows:
        best = None
        for pid, px, py, pt, pcat in rows:
            d = math.hypot(x - px, y - py)
            if pid == rid or d > radius_m or (same_category and cat != pcat):
                continue
            before = [w for w in fixes_of.get(pid, []) if pt < w < t]
            if not before or t - max(before) > window:
                continue
            key = (-max(before).value, d, -pt.value, pid)
            if best is None or key < best[0]:
                best = (key, pid, (t - max(before)) / pd.Timedelta(days=1))
        if best is not None:
            out.add((rid, best[1], best[2]))
    return out


_event = st.tuples(st.integers(-60, 60), st.integers(-60, 60), st.integers(0, 24 * 40), st.sampled_from([0, 1]),
                   st.lists(st.integers(-48, 24 * 20), max_size=2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_event, min_size=1, max_size=25), radius=st.sampled_from([10.0, 25.0, 50.0]),
       window=st.sampled_from([1.0, 5.5, 30.0]), same=st.booleans())
def test_matches_brute_force(events: list, radius: float, window: float, same: bool) -> None:
    # fix offsets in hours after the report; negative ones (fix before report) must be ignored
    reports, fixes = _frames(events)
    rec = recurrences(reports, rectifications=fixes, radius_m=radius, window_days=window, same_category=same)
    ours = set(zip(rec["report_id"], rec["previous_report_id"], rec["days_since_rectification"]))
    assert ours == _brute_force(reports, fixes, radius_m=radius, window_days=window, same_category=same)
    assert rec["report_id"].is_unique


def _brute_components(xy: np.ndarray, cats: list[str], radius: float, same: bool) -> set[frozenset[int]]:
    n = len(xy)
    label = list(range(n))

    def find(i: int) -> int:
        while label[i] != i:
            i = label[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if math.dist(xy[i], xy[j]) <= radius and (not same or cats[i] == cats[j]):
                label[find(i)] = find(j)
    groups: dict[int, set[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), set()).add(i)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=40, deadline=None)
@given(points=st.lists(st.tuples(st.integers(-100, 100), st.integers(-100, 100), st.sampled_from([0, 1])),
                       min_size=1, max_size=30), same=st.booleans())
def test_sites_are_the_connected_components(points: list, same: bool) -> None:
    reports = _reports([(f"R{i:03d}", p[0], p[1], i, (GARBAGE, SEWAGE)[p[2]]) for i, p in enumerate(points)])
    sites = recurring_sites(reports, rectifications=_fixes([]), radius_m=20, same_category=same, min_reports=1)
    ours = {frozenset(int(r[1:]) for r in ids.split(",")) for ids in sites["report_ids"]}
    xy = np.array([(p[0], p[1]) for p in points], dtype=float)
    assert ours == _brute_components(xy, [(GARBAGE, SEWAGE)[p[2]] for p in points], 20.0, same)
    assert sites["reports"].sum() == len(points)


# ---------------------------------------------------------------------------------------------------------------
# recurring sites
# ---------------------------------------------------------------------------------------------------------------


def test_site_of_a_chain_with_counts_grid_and_cadre() -> None:
    # A-B 40 m, B-C 40 m, A-C 80 m: one site of 3 reports linked through B; D far away is alone
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 40, 0, 4, GARBAGE), ("C", 80, 0, 10, GARBAGE),
                        ("D", 2000, 0, 3, GARBAGE)])
    grids = gpd.GeoDataFrame({"grid_code": ["G1", "G2"], "cadre": ["张三", "李四"]},
                             geometry=[box(X0 - 500, Y0 - 500, X0 + 500, Y0 + 500),
                                       box(X0 + 1500, Y0 - 500, X0 + 2500, Y0 + 500)], crs="EPSG:4546")
    sites = recurring_sites(reports, rectifications=_fixes([("A", 1), ("B", 6)]), grids=grids)
    assert list(sites.columns) == list(SITE_COLUMNS) + ["geometry"]
    assert len(sites) == 1  # D alone is below min_reports=2
    site = sites.iloc[0]
    assert (site["site_id"], site["reports"], site["recurrences"]) == ("S0001", 3, 2)
    assert site["report_ids"] == "A,B,C"
    assert site["median_days_to_rebound"] == 3.5  # B: 3 days after A's fix (day 1), C: 4 after B's (day 6)
    assert (site["grid_code"], site["cadre"]) == ("G1", "张三")
    assert site["first_seen"] == T0 and site["last_seen"] == T0 + pd.Timedelta(days=10)
    centre = gpd.GeoSeries([site.geometry], crs=4326).to_crs(4546).iloc[0]
    assert centre.distance(Point(X0 + 40, Y0)) < 0.01  # mean of x = 0, 40, 80
    assert sites.crs.to_epsg() == 4326
    alone = recurring_sites(reports, rectifications=_fixes([("A", 1), ("B", 6)]), min_reports=1)
    assert len(alone) == 2 and math.isnan(alone.iloc[1]["median_days_to_rebound"])
    assert alone.iloc[1]["cadre"] is None and alone.iloc[1]["grid_code"] == "610802001001001"


def test_sample_has_recurring_sites() -> None:
    boundaries = sample_boundaries()
    reports, fixes = sample_reports(boundaries, n_reports=1500, days=365)
    rec = recurrences(reports, rectifications=fixes)
    sites = recurring_sites(reports, rectifications=fixes, grids=boundaries["grids"])
    assert len(rec) > 0 and (sites["recurrences"] > 0).sum() > 0
    assert sites["recurrences"].sum() == len(rec)  # every recurrence lies in one site
    assert sites["reports"].sum() <= len(reports)
    assert set(sites["grid_code"].dropna()) <= set(boundaries["grids"]["grid_code"])
    assert sites["cadre"].notna().all()


def test_workspace_input_equals_frames(tmp_path) -> None:
    boundaries = sample_boundaries()
    reports, fixes = sample_reports(boundaries, n_reports=300, days=120)
    with init_workspace(tmp_path / "w.gpkg") as ws:
        ws.append("grids", boundaries["grids"], source="test")
        ws.append("reports", reports, source="test")
        ws.append("rectifications", fixes, source="test")
        from_ws = recurrences(ws)
        from_frames = recurrences(reports, rectifications=fixes)
        pd.testing.assert_frame_equal(from_ws[["report_id", "previous_report_id", "days_since_rectification"]],
                                      from_frames[["report_id", "previous_report_id", "days_since_rectification"]])
        assert _pairs(recurrences(reports, workspace=ws)) == _pairs(from_frames)
        sites = recurring_sites(ws)
        assert sites["cadre"].notna().all()  # grids read from the workspace


# ---------------------------------------------------------------------------------------------------------------
# inputs, units, errors
# ---------------------------------------------------------------------------------------------------------------


def test_inputs_are_not_modified() -> None:
    reports = _reports([("A", 0, 0, 0, GARBAGE), ("B", 30, 40, 5, GARBAGE), ("C", 1, 1, 3, SEWAGE)])
    reports.index = [10, 20, 30]
    fixes = _fixes([("A", 1), ("C", 4)])
    before_r, before_f = reports.copy(), fixes.copy()
    recurrences(reports, rectifications=fixes)
    recurring_sites(reports, rectifications=fixes, min_reports=1)
    assert_geodataframe_equal(reports, before_r)
    pd.testing.assert_frame_equal(fixes, before_f)


def test_distance_in_metres_from_geographic_input() -> None:
    geod = pyproj.Geod(ellps="GRS80")
    lon, lat = 109.73, 38.29
    lon2, lat2, _ = geod.fwd(lon, lat, 60.0, 37.0)  # 37 m to the north-east
    reports = gpd.GeoDataFrame({"report_id": ["A", "B"], "reported_at": [T0, T0 + pd.Timedelta(hours=36)],
                                "category": [GARBAGE] * 2}, geometry=[Point(lon, lat), Point(lon2, lat2)], crs=4326)
    rec = recurrences(reports, rectifications=_fixes([("A", 0.5)]))
    assert rec["distance_m"].iloc[0] == pytest.approx(37.0, rel=1e-3)  # GK scale error near CM 111E is tiny
    assert rec["days_since_rectification"].dtype == np.float64
    assert rec["days_since_rectification"].iloc[0] == pytest.approx(1.0)
    assert recurrences(reports, rectifications=_fixes([("A", 0.5)]), radius_m=36.9).empty


def test_errors_say_what_to_do() -> None:
    reports = _reports([("A", 0, 0, 0, GARBAGE)])
    with pytest.raises(CRSError, match="no coordinate reference system.*set_crs"):
        recurrences(reports.set_crs(None, allow_override=True), rectifications=_fixes([]))
    with pytest.raises(SchemaError, match="no rectifications: pass rectifications="):
        recurrences(reports)
    with pytest.raises(SchemaError, match="radius_m must be a positive number"):
        recurrences(reports, rectifications=_fixes([]), radius_m=0)
    with pytest.raises(SchemaError, match="window_days must be a positive number"):
        recurrences(reports, rectifications=_fixes([]), window_days=-1)
    with pytest.raises(SchemaError, match="duplicate report_id.*drop_duplicates"):
        recurrences(pd.concat([reports, reports]), rectifications=_fixes([]))
    with pytest.raises(SchemaError, match="lack column.*category.*same_category=False"):
        recurrences(reports.drop(columns="category"), rectifications=_fixes([]))
    with pytest.raises(SchemaError, match="rectifications lack column"):
        recurrences(reports, rectifications=pd.DataFrame({"report_id": ["A"]}))
    with pytest.raises(SchemaError, match="min_reports must be"):
        recurring_sites(reports, rectifications=_fixes([]), min_reports=0)
    with pytest.raises(SchemaError, match="reports must be points"):
        recurrences(reports.set_geometry(reports.buffer(1)), rectifications=_fixes([]))


def test_empty_input_gives_empty_frames_with_the_columns() -> None:
    reports = _reports([])
    rec = recurrences(reports, rectifications=_fixes([]))
    sites = recurring_sites(reports, rectifications=_fixes([]))
    assert list(rec.columns) == list(RECURRENCE_COLUMNS) and rec.empty
    assert list(sites.columns) == list(SITE_COLUMNS) + ["geometry"] and sites.empty and sites.crs.to_epsg() == 4326


@pytest.mark.slow
def test_100k_reports_with_no_per_report_python_work() -> None:
    """Recurrences of 100k reports run no Python code per report (deterministic stand-in for "fast").

    The Python function calls for 100k reports exceed those for 1,000 reports by less than one per
    100 reports; a loop over reports or pairs would add at least one per report.
    """
    small = sample_reports(n_reports=1_000, days=365)
    reports, fixes = sample_reports(n_reports=100_000, days=365)

    def fresh(reports: gpd.GeoDataFrame, fixes: pd.DataFrame) -> pd.DataFrame:
        clear_cache()  # computed each time, never a cache hit
        return recurrences(reports, rectifications=fixes)

    rec, extra = extra_calls(lambda: fresh(*small), lambda: fresh(reports, fixes))
    assert rec["report_id"].is_unique and len(rec) > 0
    assert set(rec["report_id"]) <= set(reports["report_id"])
    assert extra < (100_000 - 1_000) / 100, extra


def _mode_oracle(values: list) -> object:
    """Most frequent non-missing value (as text); a tie goes to the value seen first; None if all are missing."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for pos, value in enumerate(values):
        if value is None:
            continue
        counts[str(value)] = counts.get(str(value), 0) + 1
        first.setdefault(str(value), pos)
    if not counts:
        return None
    return max(counts, key=lambda v: (counts[v], -first[v]))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 5), st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))),
                     min_size=1, max_size=40))
@example(rows=[(0, "b"), (0, "a"), (0, "a"), (0, "b")])  # a tie: "b" was seen first
@example(rows=[(1, None), (0, "c")])  # a label with only missing values
def test_vectorised_mode_matches_the_per_group_reference(rows: list) -> None:
    from gridmap.analysis.recurrence import _most_frequent_by

    frame = pd.DataFrame({"label": [r[0] for r in rows], "category": pd.Series([r[1] for r in rows], dtype=object)})
    labels = sorted({r[0] for r in rows})
    got = _most_frequent_by(frame, "category", pd.Index(labels))
    assert list(got.index) == labels
    expected = [_mode_oracle([v for lab, v in rows if lab == label]) for label in labels]
    assert [None if pd.isna(v) else v for v in got] == expected


# ---------------------------------------------------------------------------------------------------------------
# the grid searches against the brute force: dense clusters, chains, ties, points exactly at the radius
# ---------------------------------------------------------------------------------------------------------------


# a small lattice (many pairs at exactly 5, 10, 25 m: 3-4-5 triangles), coarse times (many rectifications at the
# same instant), one or two categories, up to three fixes per report
_dense_event = st.tuples(st.integers(-8, 8).map(lambda v: 3.0 * v), st.integers(-8, 8).map(lambda v: 4.0 * v),
                         st.integers(0, 12).map(lambda v: 24 * v), st.sampled_from([0, 0, 1]),
                         st.lists(st.sampled_from([-24, 12, 24, 48, 96, 240]), max_size=3))


def _frames(events: list) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Reports of (x, y, hours, category, [fix offsets in hours]) events, and their rectifications."""
    reports = gpd.GeoDataFrame(
        {"report_id": [f"R{i:03d}" for i in range(len(events))],
         "reported_at": [T0 + pd.Timedelta(hours=e[2]) for e in events],
         "category": [(GARBAGE, SEWAGE)[e[3]] for e in events]},
        geometry=[Point(X0 + e[0], Y0 + e[1]) for e in events], crs="EPSG:4546")
    fixes = pd.DataFrame({"report_id": [f"R{i:03d}" for i, e in enumerate(events) for _ in e[4]],
                          "rectified_at": [T0 + pd.Timedelta(hours=e[2] + h) for e in events for h in e[4]]})
    return reports, fixes


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_dense_event, min_size=1, max_size=40), radius=st.sampled_from([5.0, 10.0, 25.0, 1000.0]),
       window=st.sampled_from([0.5, 2.0, 30.0, 10_000.0]), same=st.booleans())
# ties on the rectification time and the distance (3-4-5 at 5 m): the latest reported, then the smallest id wins
@example(events=[(0.0, 0.0, 0, 0, [24]), (3.0, 4.0, 0, 0, [24]), (-3.0, -4.0, 0, 0, [24]), (0.0, 0.0, 96, 0, [])],
         radius=5.0, window=30.0, same=True)
# every report in one cell and several rectifications at one instant
@example(events=[(0.0, 0.0, 0, 0, [24, 48]), (0.0, 0.0, 24, 0, [24]), (3.0, 0.0, 72, 0, [])] * 3,
         radius=25.0, window=2.0, same=False)
def test_dense_clusters_and_ties_match_brute_force(events: list, radius: float, window: float, same: bool) -> None:
    reports, fixes = _frames(events)
    rec = recurrences(reports, rectifications=fixes, radius_m=radius, window_days=window, same_category=same)
    ours = set(zip(rec["report_id"], rec["previous_report_id"], rec["days_since_rectification"]))
    assert ours == _brute_force(reports, fixes, radius_m=radius, window_days=window, same_category=same)
    sites = recurring_sites(reports, rectifications=fixes, radius_m=radius, window_days=window, same_category=same,
                            min_reports=1)
    groups = {frozenset(int(r[1:]) for r in ids.split(",")) for ids in sites["report_ids"]}
    xy = np.array([(e[0], e[1]) for e in events])
    assert groups == _brute_components(xy, [(GARBAGE, SEWAGE)[e[3]] for e in events], radius, same)


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from([-1.0, 0.0, 1.0]), st.sampled_from([-1.0, 0.0, 1.0])),
                      min_size=1, max_size=30),
       radius=st.sampled_from([10.0, 20.0]), gap=st.sampled_from([0.0, 1e-7, 0.5]))
@example(steps=[(1.0, 0.0)] * 12, radius=10.0, gap=1e-7)  # a straight chain a hair too long to link
def test_chains_at_the_radius_are_linked_exactly(steps: list, radius: float, gap: float) -> None:
    # a walk whose steps are exactly the radius (or a hair more): each step links or not, the components say so
    xy = np.cumsum(np.array([(0.0, 0.0)] + steps) * (radius + gap), axis=0)
    reports = _reports([(f"R{i:03d}", x, y, i, GARBAGE) for i, (x, y) in enumerate(xy)])
    sites = recurring_sites(reports, rectifications=_fixes([]), radius_m=radius, min_reports=1)
    groups = {frozenset(int(r[1:]) for r in ids.split(",")) for ids in sites["report_ids"]}
    metric = np.column_stack([reports.geometry.x, reports.geometry.y])
    assert groups == _brute_components(metric, [GARBAGE] * len(xy), radius, True)


def test_a_dense_market_matches_brute_force() -> None:
    # 400 reports within 30 m of each other over 60 days: every report has hundreds of neighbours
    rng = np.random.default_rng(3)
    n = 400
    rows = [(f"R{i:03d}", float(rng.normal(0, 10)), float(rng.normal(0, 10)), float(rng.uniform(0, 60)),
             (GARBAGE, SEWAGE)[int(rng.integers(0, 2))]) for i in range(n)]
    reports = _reports(rows)
    fixes = _fixes([(r[0], r[3] + float(rng.uniform(0.01, 3))) for r in rows if rng.random() < 0.8])
    rec = recurrences(reports, rectifications=fixes, radius_m=8.0, window_days=5.0)
    ours = set(zip(rec["report_id"], rec["previous_report_id"], rec["days_since_rectification"]))
    assert len(ours) > 100
    assert ours == _brute_force(reports, fixes, radius_m=8.0, window_days=5.0, same_category=True)


def test_cells_far_apart_are_renumbered_without_overflow() -> None:
    # a radius of 1 mm over 3,000 km: more cells than an int64 key can number, so columns are renumbered
    from gridmap.analysis._recurrence_search import cell_keys, linked_components

    cx = np.array([0, 1, 3, 10**15, 10**15 + 2, 4 * 10**15], dtype=np.int64)
    cy = np.array([0, 2, 0, 7, 7, 10**15], dtype=np.int64)
    keys, step = cell_keys(np.zeros(6, dtype=np.int64), cx, cy, pad=2)
    assert len(set(keys.tolist())) == 6
    assert keys[4] - keys[3] == 2 * step  # neighbours two columns apart stay two apart
    xy = np.array([[0.0, 0.0], [0.0005, 0.0007], [3e6, 3e6], [3e6 + 0.0009, 3e6], [3e6, 3e6 + 0.0011]])
    labels = linked_components(xy, np.zeros(5, dtype=np.int64), 0.001)
    assert labels.tolist() == [0, 0, 1, 1, 2]


# ---------------------------------------------------------------------------------------------------------------
# computed once for the same inputs
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def counted(caplog):
    """Count the computations by their log line, from an empty cache."""
    clear_cache()
    caplog.set_level("INFO", logger="gridmap.analysis.recurrence")
    yield lambda: sum("recurrences computed" in r.getMessage() for r in caplog.records)
    clear_cache()


def test_sites_after_recurrences_compute_once_and_any_change_computes_again(counted) -> None:
    reports, fixes = sample_reports(n_reports=600, days=120)
    rec = recurrences(reports, rectifications=fixes)
    sites = recurring_sites(reports, rectifications=fixes)
    assert counted() == 1
    assert sites["recurrences"].sum() == len(rec)
    rec.loc[0, "report_id"] = "changed by the caller"  # the caller's copy, not the cache
    assert recurrences(reports, rectifications=fixes)["report_id"].iloc[0] != "changed by the caller"
    assert counted() == 1
    moved = reports.copy()
    moved.geometry = moved.geometry.where(moved.index != 5, moved.geometry.translate(0.0, 1e-6))
    later = fixes.copy()
    later.loc[3, "rectified_at"] += pd.Timedelta(seconds=1)
    relabelled = reports.copy()
    relabelled.loc[7, "category"] = SEWAGE if relabelled.loc[7, "category"] != SEWAGE else GARBAGE
    changes = [dict(reports=moved, rectifications=fixes), dict(reports=reports, rectifications=later),
               dict(reports=relabelled, rectifications=fixes), dict(reports=reports, rectifications=fixes.iloc[1:]),
               dict(reports=reports, rectifications=fixes, radius_m=49.0),
               dict(reports=reports, rectifications=fixes, window_days=29.0),
               dict(reports=reports, rectifications=fixes, same_category=False)]
    for k, change in enumerate(changes, start=2):
        got = recurrences(change.pop("reports"), **change)
        assert counted() == k
        assert got.attrs["radius_m"] == change.get("radius_m", 50.0)


def test_changed_inputs_give_the_answer_of_a_fresh_computation(counted) -> None:

    reports, fixes = sample_reports(n_reports=500, days=90)
    recurrences(reports, rectifications=fixes)
    shifted = fixes.assign(rectified_at=fixes["rectified_at"] - pd.Timedelta(days=2))
    cached_then_changed = recurrences(reports, rectifications=shifted)
    clear_cache()
    pd.testing.assert_frame_equal(cached_then_changed, recurrences(reports, rectifications=shifted))


def test_a_leaders_page_and_a_scoreboard_of_the_same_layers_compute_once(counted, tmp_path) -> None:
    import gridmap

    layers = gridmap.sample_layers(n_reports=1500, track_days=1)
    gridmap.export_html(layers, tmp_path / "report.html", offline=False, illustrative=True)
    assert counted() == 1
    gridmap.scoreboard(layers, start="2025-03-03", end="2025-03-10", lang="en")
    assert counted() == 1


def test_the_pair_search_answers_when_cells_cannot_be_keyed(monkeypatch) -> None:
    # coordinates spread over more cells than an int64 key can number: both searches fall back to listing pairs
    from gridmap.analysis import _recurrence_search

    monkeypatch.setattr(_recurrence_search, "_KEY_LIMIT", 1)
    reports, fixes = _frames([(0.0, 0.0, 0, 0, [24]), (3.0, 4.0, 48, 0, [24]), (30.0, 0.0, 96, 0, []),
                              (6.0, 8.0, 120, 1, [])])
    rec = recurrences(reports, rectifications=fixes, radius_m=10.0)
    assert set(zip(rec["report_id"], rec["previous_report_id"])) == {("R001", "R000")}
    sites = recurring_sites(reports, rectifications=fixes, radius_m=10.0, min_reports=1)
    assert sorted(sites["report_ids"]) == ["R000,R001", "R002", "R003"]
