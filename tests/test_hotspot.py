"""Tests of gridmap.analysis.hotspot: cells, counts, neighbours, Gi*, FDR, permutations, emerging hot spots."""

from __future__ import annotations

import itertools
import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import assume, example, given, settings, strategies as st
from scipy import stats
from shapely.geometry import Point, box
from statsmodels.stats.multitest import multipletests

from gridmap.errors import CRSError, SchemaError
from gridmap.crs import metric_crs
from gridmap.analysis.hotspot import (
    EMERGING_CATEGORIES,
    MIN_STEPS,
    categorise,
    emerging_hotspots,
    fdr_reject,
    fishnet,
    gi_star,
    hexagons,
    hotspots,
    mann_kendall,
    neighbour_matrix,
    space_time_cube,
)

METRIC = "EPSG:4546"
X0, Y0 = 500_000.0, 4_238_000.0  # near Yulin in EPSG:4546


def lattice(nx: int, ny: int, size: float = 100.0, index: object = None) -> gpd.GeoDataFrame:
    geoms = [box(X0 + i * size, Y0 + j * size, X0 + (i + 1) * size, Y0 + (j + 1) * size)
             for j in range(ny) for i in range(nx)]
    return gpd.GeoDataFrame({"name": [f"c{k}" for k in range(len(geoms))]}, geometry=geoms, crs=METRIC,
                            index=index)


def points(xy: np.ndarray, times: object = None) -> gpd.GeoDataFrame:
    data = {} if times is None else {"reported_at": times}
    return gpd.GeoDataFrame(data, geometry=shapely.points(xy), crs=METRIC)


def libpysal_w(cells: gpd.GeoDataFrame, kind: str = "queen"):
    from libpysal import weights

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal's own deprecation/island notes are not ours to test
        cls = weights.Queen if kind == "queen" else weights.Rook
        return cls.from_dataframe(cells.reset_index(drop=True), use_index=False)


def dense(w_lib, n: int) -> np.ndarray:
    out = np.zeros((n, n))
    for i, nb in w_lib.neighbors.items():
        out[i, nb] = 1.0
    return out


def gi_by_formula(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Getis-Ord Gi*, written out term by term (Ord & Getis 1995, ArcGIS's form)."""
    n = len(x)
    xbar = sum(x) / n
    s = math.sqrt(sum(v * v for v in x) / n - xbar * xbar)
    z = []
    for i in range(n):
        swx = sum(w[i, j] * x[j] for j in range(n))
        sw = sum(w[i, j] for j in range(n))
        sw2 = sum(w[i, j] ** 2 for j in range(n))
        den = s * math.sqrt((n * sw2 - sw * sw) / (n - 1))
        z.append((swx - xbar * sw) / den if den > 0 else math.nan)
    return np.array(z)


# ------------------------------------------------------------------------------------------- cells


def test_fishnet_covers_area_with_exact_squares():
    area = gpd.GeoSeries([shapely.Point(X0 + 333, Y0 + 777).buffer(640)], crs=METRIC)
    cells = fishnet(area, 200)
    assert cells.crs.to_epsg() == 4326
    assert cells["cell_id"].tolist() == list(range(len(cells)))
    metric = cells.to_crs(METRIC)
    assert np.allclose(metric.area, 200 * 200, rtol=1e-6)
    assert metric.union_all().buffer(1e-6).contains(area.iloc[0])
    assert metric.intersects(area.iloc[0]).all()  # only cells touching the area
    # squares sit on the lattice anchored at the CRS origin
    assert np.allclose(np.mod(metric.bounds["minx"] + 1e-6, 200), 1e-6, atol=1e-3)


def test_fishnet_cells_share_identical_vertices_queen_of_interior_is_nine():
    cells = fishnet(box(109.70, 38.27, 109.74, 38.30), 500)
    w = neighbour_matrix(cells)
    counts = np.asarray(w.sum(axis=1)).ravel()
    assert counts.max() == 9 and (counts == 9).sum() > 10
    assert np.array_equal(w.toarray(), dense(libpysal_w(cells), len(cells)) + np.eye(len(cells)))


def test_hexagons_area_neighbours_and_libpysal():
    area = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 2000, Y0 + 1500)], crs=METRIC)
    cells = hexagons(area, 150)
    metric = cells.to_crs(METRIC)
    assert np.allclose(metric.area, 3 * math.sqrt(3) / 2 * 150**2, rtol=1e-6)
    assert metric.union_all().buffer(1e-6).contains(area.geometry.iloc[0])
    queen = neighbour_matrix(cells, include_self=False).toarray()
    rook = neighbour_matrix(cells, neighbours="rook", include_self=False).toarray()
    assert queen.sum(axis=1).max() == 6
    assert np.array_equal(queen, rook)  # hexagons never meet at a corner only
    assert np.array_equal(queen, dense(libpysal_w(cells), len(cells)))


@pytest.mark.parametrize("size", [0, -5, float("nan")])
def test_bad_cell_size_is_refused(size):
    with pytest.raises(SchemaError, match="cell size must be a positive number of metres"):
        fishnet(box(109.7, 38.2, 109.8, 38.3), size)


def test_area_without_crs_is_refused():
    with pytest.raises(CRSError, match="has no coordinate reference system"):
        hexagons(gpd.GeoSeries([box(0, 0, 1, 1)]), 100)
    with pytest.raises(CRSError, match="taken as WGS84"):
        fishnet(box(X0, Y0, X0 + 10, Y0 + 10), 100)


# ------------------------------------------------------------------------------------------- counts


def test_counts_match_brute_force_including_points_on_edges_and_corners():
    cells = lattice(6, 5)
    rng = np.random.default_rng(3)
    xy = np.column_stack([rng.uniform(X0 - 50, X0 + 650, 400), rng.uniform(Y0 - 50, Y0 + 550, 400)])
    on_grid = np.column_stack([X0 + 100 * rng.integers(0, 7, 60), Y0 + rng.uniform(0, 500, 60)])
    corners = np.column_stack([X0 + 100 * rng.integers(0, 7, 30), Y0 + 100 * rng.integers(0, 6, 30)])
    xy = np.vstack([xy, on_grid, corners])
    out = hotspots(points(xy), cells)
    expected = np.zeros(len(cells), dtype=int)
    outside = 0
    for x, y in xy:
        pt = Point(x, y)
        hits = [k for k, g in enumerate(cells.geometry) if g.intersects(pt)]
        if hits:
            expected[hits[0]] += 1
        else:
            outside += 1
    assert out["count"].tolist() == expected.tolist()
    assert out.attrs["outside"] == outside and out["count"].sum() + outside == len(xy)


def test_reports_in_another_crs_are_counted_where_they_lie():
    cells = lattice(4, 4)
    xy = np.array([[X0 + 50, Y0 + 50], [X0 + 350, Y0 + 250]])
    wgs = points(xy).to_crs(4326)
    out = hotspots(wgs, cells.to_crs(4326))
    assert out["count"].iloc[0] == 1 and out["count"].iloc[11] == 1 and out["count"].sum() == 2


# ------------------------------------------------------------------------------------------- weights


def test_queen_and_rook_match_libpysal_on_irregular_grids():
    from gridmap.sample import sample_boundaries

    grids = sample_boundaries()["grids"]
    for kind in ("queen", "rook"):
        ours = neighbour_matrix(grids, neighbours=kind, include_self=False).toarray()
        assert np.array_equal(ours, dense(libpysal_w(grids, kind), len(grids))), kind


def test_distance_and_knn_neighbours_against_brute_force():
    cells = lattice(5, 4, size=100.0)
    xy = shapely.get_coordinates(cells.centroid)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    band = neighbour_matrix(cells, neighbours="distance:150", include_self=False).toarray()
    assert np.array_equal(band, ((d <= 150) & (d > 0)).astype(float))
    knn = neighbour_matrix(cells, neighbours="knn:3", include_self=True).toarray()
    assert np.array_equal(knn.sum(axis=1), np.full(len(cells), 4.0))
    for i in range(len(cells)):
        others = np.flatnonzero(knn[i] - np.eye(len(cells))[i])
        kth = np.sort(np.delete(d[i], i))[2]
        assert (d[i, others] <= kth + 1e-9).all()


@pytest.mark.parametrize("bad", ["bishop", "distance:-3", "knn:2.5", "knn:x"])
def test_unknown_neighbours_are_refused(bad):
    with pytest.raises(SchemaError, match="unknown neighbours"):
        neighbour_matrix(lattice(3, 3), neighbours=bad)


# ------------------------------------------------------------------------------------------- Gi*


def test_gi_star_matches_the_formula_and_esda():
    from esda.getisord import G_Local

    cells = lattice(7, 6)
    rng = np.random.default_rng(11)
    centre = np.array([X0 + 180, Y0 + 420])
    xy = np.vstack([centre + rng.normal(0, 90, (150, 2)),
                    np.column_stack([rng.uniform(X0, X0 + 700, 100), rng.uniform(Y0, Y0 + 600, 100)])])
    out = hotspots(points(xy), cells)
    x = out["count"].to_numpy(dtype=float)
    w_lib = libpysal_w(cells)
    w = dense(w_lib, len(cells)) + np.eye(len(cells))
    assert np.allclose(out["gi_z"], gi_by_formula(x, w), atol=1e-12, rtol=0)
    esda = G_Local(x, w_lib, transform="B", star=True, permutations=0)
    assert np.max(np.abs(out["gi_z"].to_numpy() - esda.Zs)) < 1e-9
    assert np.allclose(out["gi_p"], 2 * stats.norm.sf(np.abs(esda.Zs)))
    assert out["gi_p_sim"].isna().all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=9, max_size=9).filter(lambda v: len(set(v)) > 1))
def test_gi_star_formula_property_on_3x3(values):
    cells = lattice(3, 3)
    w = neighbour_matrix(cells).toarray()
    x = np.array(values, dtype=float)
    z = gi_star(x, neighbour_matrix(cells))
    finite = np.isfinite(z)
    assert not finite[4]  # the centre's neighbourhood is every cell: undefined
    assert np.allclose(z[finite], gi_by_formula(x, w)[finite], atol=1e-12, rtol=0)


def test_no_reports_gives_zero_counts_and_undefined_z():
    cells = lattice(4, 4)
    out = hotspots(points(np.empty((0, 2))), cells)
    assert (out["count"] == 0).all() and out["gi_z"].isna().all() and out["gi_p"].isna().all()
    assert (out["gi_bin"] == 0).all() and not out["significant"].any()


def test_cells_without_reports_have_a_defined_z():
    cells = lattice(5, 5)
    out = hotspots(points(np.array([[X0 + 50, Y0 + 50]] * 7)), cells)
    assert (out["count"].iloc[1:] == 0).all()
    assert out["gi_z"].notna().all() and out["gi_z"].iloc[-1] < 0 < out["gi_z"].iloc[0]


def test_input_unchanged_index_and_columns_kept():
    cells = lattice(4, 3, index=[f"g{k}" for k in range(12)][::-1])
    reports = points(np.array([[X0 + 50, Y0 + 50], [X0 + 150, Y0 + 50], [X0 + 250, Y0 + 250]]))
    cells_before, reports_before = cells.copy(), reports.copy()
    out = hotspots(reports, cells)
    pd.testing.assert_frame_equal(cells, cells_before)
    pd.testing.assert_frame_equal(reports, reports_before)
    assert out.index.tolist() == cells.index.tolist() and out["name"].tolist() == cells["name"].tolist()
    assert out.crs == cells.crs
    assert list(out.columns[-6:]) == ["count", "gi_z", "gi_p", "gi_p_sim", "significant", "gi_bin"]


def bh_statsmodels(p: np.ndarray, q: float) -> np.ndarray:
    """statsmodels' Benjamini-Hochberg decisions on the non-NaN p-values; NaN is never rejected."""
    p = np.asarray(p, dtype=float)
    out = np.zeros(p.shape, dtype=bool)
    known = ~np.isnan(p)
    if known.any():
        out[known] = multipletests(p[known], alpha=q, method="fdr_bh")[0]
    return out


P_VALUES = st.one_of(st.floats(0, 1),
                     st.sampled_from([0.0, 5e-324, 1e-300, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, math.nan]))


@settings(max_examples=300, deadline=None)
@given(st.lists(P_VALUES, max_size=80), st.sampled_from([0.01, 0.05, 0.1]))
@example([0.0], 0.05)  # the strongest evidence alone: the old 0.0 "none rejected" sentinel rejected nothing
@example([0.0, 0.0, 0.7], 0.05)
@example([math.nan, 0.0, 0.0, 0.04], 0.05)
@example([math.nan, math.nan], 0.05)
@example([], 0.05)
@example([0.01, 0.01, 0.01, 0.9], 0.01)  # ties at the critical value
def test_fdr_reject_equals_statsmodels(pvals, q):
    p = np.array(pvals, dtype=float)
    assert fdr_reject(p, q).tolist() == bh_statsmodels(p, q).tolist()


def test_fdr_reject_equals_statsmodels_on_random_vectors_with_zeros_ties_and_nan():
    rng = np.random.default_rng(8)
    for _ in range(200):
        n = int(rng.integers(1, 3000))
        p = rng.uniform(0, 1, n) ** rng.uniform(1, 12)  # from flat to piled up near 0
        p[rng.random(n) < rng.uniform(0, 0.2)] = 0.0
        p[rng.random(n) < 0.1] = p[rng.integers(n)]  # ties
        p[rng.random(n) < rng.uniform(0, 0.2)] = np.nan
        q = float(rng.choice([0.01, 0.05, 0.1]))
        expected = bh_statsmodels(p, q)
        assert fdr_reject(p, q).tolist() == expected.tolist()
        assert fdr_reject(p.reshape(1, -1), q).tolist() == [expected.tolist()]  # any shape


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-3000, 0), st.just(math.nan)), max_size=60), st.sampled_from([0.01, 0.05, 0.1]))
@example([-2229.6, -1000.0, -3.0], 0.05)  # about the log p of z = 66.7 and z = 44.6 (p = 0.0 both), and p ~ 0.05
def test_fdr_reject_on_log_p_equals_statsmodels_on_p(logs, q):
    log_p = np.array(logs, dtype=float)
    n = int((~np.isnan(log_p)).sum())
    critical = np.log(np.arange(1, n + 1) / max(n, 1) * q)
    assume(all(np.min(np.abs(v - critical), initial=1.0) > 1e-9 for v in log_p[~np.isnan(log_p)]))
    p = np.exp(log_p)  # below about -745 this underflows to 0.0: order lost, decision not
    assert fdr_reject(log_p, q, log=True).tolist() == bh_statsmodels(p, q).tolist()


def test_bins_follow_fdr_thresholds_per_level_and_plain_levels_without():
    cells = lattice(12, 10)
    rng = np.random.default_rng(5)
    per_cell = np.where(np.arange(120) % 12 >= 6, rng.poisson(10, 120), rng.poisson(1, 120))
    corner = shapely.get_coordinates(cells.geometry.values, include_z=False)[::5][:120]  # each cell's first vertex
    xy = np.repeat(corner + 50.0, per_cell, axis=0)
    reports = points(xy)
    for fdr in (True, False):
        out = hotspots(reports, cells, fdr=fdr)
        p, z = out["gi_p"].to_numpy(), out["gi_z"].to_numpy()
        expected = np.zeros(len(p), dtype=int)
        for value, level in ((1, 0.10), (2, 0.05), (3, 0.01)):
            cut = bh_statsmodels(p, level) if fdr else p < level
            expected[cut] = value
        expected *= np.sign(z).astype(int)
        assert out["gi_bin"].tolist() == expected.tolist()
        assert out["significant"].tolist() == (bh_statsmodels(p, 0.05) if fdr else p < 0.05).tolist()
        assert (out["gi_bin"] == 3).any() and (out["gi_bin"] < 0).any()
    assert (hotspots(reports, cells, fdr=True)["gi_bin"] != 0).sum() <= (out["gi_bin"] != 0).sum()


def gi_of_a_spike(k: float, n: int, sw: float) -> float:
    """Gi* of a cell with `sw` binary neighbours (itself included) holding one spike of k among n cells (else 0)."""
    mean = k / n
    s = math.sqrt(k * k / n - mean * mean)
    return (k - mean * sw) / (s * math.sqrt((n * sw - sw * sw) / (n - 1)))


def test_one_extreme_cell_on_a_large_fishnet_is_a_99_percent_hot_spot_with_and_without_fdr():
    # Issue 11: on a fishnet of >= ~13,000 cells one extreme cell has |z| > 37.7, its p is exactly 0.0, and a
    # BH threshold of 0.0 read as "none rejected" made the strongest hot spot vanish.
    area = gpd.GeoSeries([box(X0 + 1, Y0 + 1, X0 + 7_599, Y0 + 7_599)], crs=METRIC)
    cells = fishnet(area, 50)
    n = len(cells)
    assert n >= 20_000
    centre = gpd.GeoSeries([Point(X0 + 3_825, Y0 + 3_825)], crs=METRIC).to_crs(4326).iloc[0]
    spike = int(np.flatnonzero(cells.contains(centre))[0])
    block = cells.intersects(cells.geometry.iloc[spike]).to_numpy()  # the spike's queen neighbourhood
    assert block.sum() == 9
    reports = gpd.GeoDataFrame(geometry=[centre] * 50_000, crs=4326)
    expected_z = gi_of_a_spike(50_000, n, 9)  # every cell of the block: the spike among its 9 (all interior)
    assert expected_z > 45
    for fdr in (True, False):
        out = hotspots(reports, cells, fdr=fdr)
        assert out["count"].iloc[spike] == 50_000 and out["count"].sum() == 50_000
        assert np.allclose(out["gi_z"].to_numpy()[block], expected_z, rtol=1e-9, atol=0)
        assert (out["gi_p"].to_numpy()[block] == 0.0).all()  # p underflows: the case the old rule lost
        assert out["gi_bin"].iloc[spike] == 3 and bool(out["significant"].iloc[spike])
        assert out["gi_bin"].tolist() == (3 * block).tolist()
        assert out["significant"].tolist() == block.tolist()
        if fdr:
            assert out["significant"].tolist() == bh_statsmodels(out["gi_p"].to_numpy(), 0.05).tolist()


def test_permutation_p_reproducible_and_agrees_with_esda():
    from esda.getisord import G_Local

    cells = lattice(5, 5)
    rng = np.random.default_rng(2)
    xy = np.vstack([np.array([X0 + 50, Y0 + 50]) + rng.normal(0, 60, (60, 2)),
                    np.column_stack([rng.uniform(X0, X0 + 500, 40), rng.uniform(Y0, Y0 + 500, 40)])])
    a = hotspots(points(xy), cells, permutations=999, seed=1)
    b = hotspots(points(xy), cells, permutations=999, seed=1)
    assert a["gi_p_sim"].tolist() == b["gi_p_sim"].tolist()
    assert a["gi_p_sim"].between(1 / 1000, 0.5 + 1 / 1000).all()
    x = a["count"].to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # esda without numba says so
        esda = G_Local(x, libpysal_w(cells), transform="B", star=True, permutations=999, seed=7)
    assert np.max(np.abs(a["gi_p_sim"].to_numpy() - esda.p_sim)) < 0.08  # ~5 Monte Carlo SDs
    assert a["gi_p_sim"].iloc[0] <= 0.01 and a["gi_p"].iloc[0] < 0.01


def test_bad_options_are_refused():
    with pytest.raises(SchemaError, match="alpha must lie strictly between 0 and 1"):
        hotspots(points(np.empty((0, 2))), lattice(3, 3), alpha=1.5)
    with pytest.raises(SchemaError, match="at least 3 cells"):
        hotspots(points(np.empty((0, 2))), lattice(2, 1))
    with pytest.raises(CRSError, match="the reports has no coordinate reference system"):
        hotspots(gpd.GeoDataFrame(geometry=[Point(0, 0)]), lattice(3, 3))


# ------------------------------------------------------------------------------------------- emerging


def mk_by_kendalltau(series: np.ndarray) -> tuple[float, float]:
    """Mann-Kendall from scipy's Kendall tau-b of (time, value): S = tau_b * sqrt(n0 (n0 - n_ties))."""
    t = len(series)
    n0 = t * (t - 1) / 2
    _, counts = np.unique(series, return_counts=True)
    n_ties = float((counts * (counts - 1) / 2).sum())
    tau = stats.kendalltau(np.arange(t), series).statistic
    s = round(tau * math.sqrt(n0 * (n0 - n_ties)))
    var = (t * (t - 1) * (2 * t + 5) - (counts * (counts - 1) * (2 * counts + 5)).sum()) / 18
    z = 0.0 if s == 0 else (s - np.sign(s)) / math.sqrt(var)
    return z, 2 * stats.norm.sf(abs(z))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=5, max_size=30).filter(lambda v: len(set(v)) > 1))
def test_mann_kendall_matches_kendalltau(values):
    series = np.array(values, dtype=float) / 2
    z, p = mann_kendall(series[None, :])
    ez, ep = mk_by_kendalltau(series)
    assert z[0] == pytest.approx(ez, abs=1e-9) and p[0] == pytest.approx(ep, abs=1e-9)


def flags(*rows: str) -> np.ndarray:
    return np.array([[c == "H" for c in r] for r in rows])


CASES = [  # (hot/cold pattern over 10 steps, trend z, trend p, expected)
    ("..........", 0, 1, "no pattern detected"),
    (".........H", 0, 1, "new hot spot"),
    (".......HHH", 0, 1, "consecutive hot spot"),
    ("HHHHHHHHHH", 3, 0.001, "intensifying hot spot"),
    ("HHHHHHHHHH", 0.5, 0.6, "persistent hot spot"),
    (".HHHHHHHHH", -3, 0.001, "diminishing hot spot"),
    ("..H..H.HHH", 0, 1, "sporadic hot spot"),
    ("CC...H...H", 0, 1, "oscillating hot spot"),
    ("HHHHHHHHH.", 0, 1, "historical hot spot"),
    (".........C", 0, 1, "new cold spot"),
    ("......CCCC", 0, 1, "consecutive cold spot"),
    ("CCCCCCCCCC", -3, 0.001, "intensifying cold spot"),
    ("CCCCCCCCCC", 0, 1, "persistent cold spot"),
    ("CCCCCCCCCC", 3, 0.001, "diminishing cold spot"),
    ("C..C...C.C", 0, 1, "sporadic cold spot"),
    ("H.H....C.C", 0, 1, "oscillating cold spot"),
    ("CCCCCCCCC.", 0, 1, "historical cold spot"),
]


def test_each_category_from_its_rule():
    hot = np.array([[c == "H" for c in pattern] for pattern, *_ in CASES])
    cold = np.array([[c == "C" for c in pattern] for pattern, *_ in CASES])
    got = categorise(hot, cold, np.array([c[1] for c in CASES], float), np.array([c[2] for c in CASES], float))
    assert got.tolist() == [c[3] for c in CASES]
    assert sorted(set(got)) == sorted(EMERGING_CATEGORIES)


def test_ninety_percent_rule_and_rule_order():
    # 20 steps: 18 hot incl. final is >= 90 %: persistent; 17 is not: sporadic
    assert categorise(flags("H.HHHHHHHHHHHHHHH.HH"), flags("." * 20), [0.0], [1.0])[0] == "persistent hot spot"
    assert categorise(flags("H..HHHHHHHHHHHHHH.HH"), flags("." * 20), [0.0], [1.0])[0] == "sporadic hot spot"
    # a final cold step after >= 90 % hot steps: the final step decides (new cold spot)
    hot = flags("HHHHHHHHH.")
    assert categorise(hot, flags(".........H"), [0.0], [1.0])[0] == "new cold spot"


def month_times(month_of_each: list[int]) -> pd.Series:
    return pd.Series(pd.to_datetime([f"2025-{m:02d}-15 12:00" for m in month_of_each]).tz_localize("Asia/Shanghai"))


def test_space_time_cube_counts_match_groupby():
    cells = lattice(4, 4)
    rng = np.random.default_rng(9)
    xy = np.column_stack([rng.uniform(X0, X0 + 400, 300), rng.uniform(Y0, Y0 + 400, 300)])
    months = rng.integers(1, 13, 300).tolist()
    times = month_times(months)
    times.iloc[:5] = pd.NaT
    counts, steps = space_time_cube(points(xy, times), cells)
    assert [s.month for s in steps] == list(range(1, 13)) and all(str(s.tz) == "Asia/Shanghai" for s in steps)
    col = np.floor((xy[:, 0] - X0) / 100).astype(int)
    row = np.floor((xy[:, 1] - Y0) / 100).astype(int)
    frame = pd.DataFrame({"cell": row * 4 + col, "month": months})[5:]
    expected = np.zeros((16, 12), dtype=int)
    for (cell, month), n in frame.groupby(["cell", "month"]).size().items():
        expected[cell, month - 1] = n
    assert counts.tolist() == expected.tolist()


def test_weeks_start_on_monday():
    cells = lattice(3, 3)
    t = pd.Series(pd.to_datetime(["2025-03-05 08:00", "2025-03-30 23:59"]).tz_localize("Asia/Shanghai"))
    counts, steps = space_time_cube(points(np.array([[X0 + 10, Y0 + 10]] * 2), t), cells, interval="week")
    assert [s.strftime("%a %Y-%m-%d") for s in steps][0] == "Mon 2025-03-03"
    assert len(steps) == 4 and counts[0].tolist() == [1, 0, 0, 1]


def test_space_time_z_matches_dense_formula():
    cells = lattice(3, 3)
    rng = np.random.default_rng(4)
    n_pts = 200
    xy = np.column_stack([rng.uniform(X0, X0 + 300, n_pts), rng.uniform(Y0, Y0 + 300, n_pts)])
    months = rng.integers(1, 7, n_pts).tolist()
    out = emerging_hotspots(points(xy, month_times(months)), cells)
    counts = np.array(out.attrs["counts"], dtype=float)
    n, t = counts.shape
    w = neighbour_matrix(cells).toarray()
    big = np.zeros((n * t, n * t))  # bin (i, s) at i * t + s
    for i, j, s in itertools.product(range(n), range(n), range(t)):
        if w[i, j]:
            big[i * t + s, j * t + s] = 1
            if s > 0:
                big[i * t + s, j * t + s - 1] = 1
    expected = gi_by_formula(counts.ravel(), big).reshape(n, t)
    assert np.allclose(np.array(out.attrs["z"], dtype=float), expected, atol=1e-12, rtol=0)
    assert out.attrs["steps"][0].startswith("2025-01-01T00:00:00+08:00") and out["n_steps"].eq(6).all()


def emerging_scenario(extra_xy: list, extra_months: list, index: list | None = None) -> tuple:
    cells = lattice(6, 6, index=index)
    rng = np.random.default_rng(0)
    base = np.column_stack([rng.uniform(X0, X0 + 600, 360), rng.uniform(Y0, Y0 + 600, 360)])
    xy = np.vstack([base] + [np.array(extra_xy, dtype=float).reshape(-1, 2)])
    times = month_times(list(np.tile(np.arange(1, 13), 30)) + list(extra_months))
    return points(xy, times), cells


@pytest.mark.parametrize("per_month, expected", [
    ([0] * 11 + [40], "new hot spot"),
    ([0] * 9 + [40] * 3, "consecutive hot spot"),
    ([40] * 12, "persistent hot spot"),
    ([40] * 11 + [0], "historical hot spot"),
])
def test_emerging_end_to_end_categories(per_month, expected):
    months = np.repeat(np.arange(1, 13), per_month)
    reports, cells = emerging_scenario([[X0 + 550, Y0 + 550]] * len(months), months,
                                       index=[f"g{k}" for k in range(36)])
    before = reports.copy()
    out = emerging_hotspots(reports, cells)
    pd.testing.assert_frame_equal(reports, before)
    assert out.index.tolist() == cells.index.tolist()
    assert out.loc["g35", "category"] == expected
    assert set(out["category"]) <= set(EMERGING_CATEGORIES)
    assert np.array(out.attrs["counts"]).sum() == len(reports)
    assert np.array(out.attrs["counts"])[35].tolist() == [c + int((np.tile(np.arange(1, 13), 30)[
        np.flatnonzero(np.floor((reports.geometry.x[:360] - X0) / 100) + 6 * np.floor(
            (reports.geometry.y[:360] - Y0) / 100) == 35)] == m).sum()) for m, c in zip(range(1, 13), per_month)]


def test_too_few_steps_is_explained():
    cells = lattice(3, 3)
    reports = points(np.array([[X0 + 10, Y0 + 10]] * 3), month_times([1, 2, 2]))
    with pytest.raises(SchemaError, match=f"needs at least {MIN_STEPS} time steps, the span gives 2 month"):
        emerging_hotspots(reports, cells)
    with pytest.raises(SchemaError, match="unknown interval 'day'"):
        emerging_hotspots(reports, cells, interval="day")


def test_reports_without_time_are_skipped():
    cells = lattice(3, 3)
    times = month_times([1, 2, 3, 4, 5, 6])
    times.iloc[2] = pd.NaT
    reports = points(np.array([[X0 + 10, Y0 + 10]] * 6), times)
    out = emerging_hotspots(reports, cells)
    assert np.array(out.attrs["counts"]).sum() == 5 and len(out.attrs["steps"]) == 6
    with pytest.raises(SchemaError, match="no report has a time"):
        space_time_cube(points(np.array([[X0, Y0]]), pd.Series([pd.NaT])), cells)


def test_metric_crs_of_lattice_is_the_one_used():
    assert metric_crs(lattice(2, 2)).to_epsg() == 4546


BLOCK = [r * 7 + c for r in (2, 3, 4) for c in (2, 3, 4)]  # the 3 x 3 cells around g24, the centre of a 7 x 7 lattice


def block_cube(block: list[int], base: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, np.ndarray]:
    """Reports for a 7 x 7 lattice over 12 months: `base` per cell and month, `block[m]` in the 3 x 3 block.

    Each report is a real point drawn inside its cell (1 m clear of the edges) and timed mid-month, so the
    cube of counts the analysis must rebuild is known in advance.
    """
    cells = lattice(7, 7, index=[f"g{k}" for k in range(49)])
    counts = np.full((49, 12), base, dtype=int)
    counts[BLOCK] = block
    rng = np.random.default_rng(17)
    xy, months = [], []
    for k, m in itertools.product(range(49), range(12)):
        x, y = X0 + 100 * (k % 7), Y0 + 100 * (k // 7)
        n = counts[k, m]
        xy.append(np.column_stack([rng.uniform(x + 1, x + 99, n), rng.uniform(y + 1, y + 99, n)]))
        months += [m + 1] * n
    return points(np.vstack(xy), month_times(months)), cells, counts


def space_time_gi_dense(counts: np.ndarray) -> np.ndarray:
    """Space-time Gi* of a 7 x 7 lattice cube, by the closed formula on a dense bins x bins queen matrix."""
    n, t = counts.shape
    rc = np.array([(k // 7, k % 7) for k in range(n)])
    queen = (np.abs(rc[:, None, :] - rc[None, :, :]).max(axis=2) <= 1).astype(float)  # itself included
    time = np.eye(t) + np.eye(t, k=-1)  # same step and the previous one
    w = np.kron(queen, time)  # bin (i, s) at i * t + s
    x = counts.ravel()
    nb, xbar, s = x.size, x.mean(), x.std()
    sw = w.sum(axis=1)
    return ((w @ x - xbar * sw) / (s * np.sqrt((nb * sw - sw**2) / (nb - 1)))).reshape(n, t)


def pattern(hot_steps: str) -> tuple[int, int]:
    return hot_steps.count("H"), hot_steps.count("C")


# Each block series is chosen so that, by the rules in gridmap.analysis.hotspot's notes, g24's significant steps follow
# the pattern given (a burst or a gap in month m also marks month m + 1, whose neighbourhood holds month m);
# the trend sign is that of the block's counts (0: no significant trend expected).
CUBES = [  # (block counts per month, background per cell and month, hot/cold steps of g24, trend, expected)
    ([30 + 3 * m for m in range(12)], 10, "HHHHHHHHHHHH", 1, "intensifying hot spot"),
    ([40 - 2 * m for m in range(12)], 10, "HHHHHHHHHHHH", -1, "diminishing hot spot"),
    ([10, 10, 30, 10, 10, 10, 10, 30, 10, 10, 10, 30], 10, "..HH...HH..H", 0, "sporadic hot spot"),
    ([0, 0, 10, 10, 10, 30, 10, 10, 10, 10, 10, 30], 10, "CCC..HH....H", None, "oscillating hot spot"),
    ([10] * 11 + [0], 10, "...........C", 0, "new cold spot"),
    ([10] * 9 + [0] * 3, 10, ".........CCC", None, "consecutive cold spot"),
    ([8, 7, 7, 6, 5, 5, 4, 3, 3, 2, 1, 0], 20, "CCCCCCCCCCCC", -1, "intensifying cold spot"),
    ([0] * 12, 10, "CCCCCCCCCCCC", 0, "persistent cold spot"),
    ([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5], 10, "CCCCCCCCCCCC", 1, "diminishing cold spot"),
    ([10, 10, 0, 10, 10, 10, 10, 0, 10, 10, 10, 0], 10, "..CC...CC..C", 0, "sporadic cold spot"),
    ([10, 30, 10, 10, 10, 10, 0, 10, 10, 10, 10, 0], 10, ".HH...CC...C", None, "oscillating cold spot"),
    ([0] * 11 + [20], 10, "CCCCCCCCCCC.", 0, "historical cold spot"),
]


@pytest.mark.parametrize("block, base, steps, trend, expected", CUBES, ids=[c[-1] for c in CUBES])
def test_emerging_end_to_end_cube_per_category(block, base, steps, trend, expected):
    reports, cells, counts = block_cube(block, base)
    out = emerging_hotspots(reports, cells)
    assert np.array(out.attrs["counts"]).tolist() == counts.tolist()
    assert (out.loc["g24", "hot_steps"], out.loc["g24", "cold_steps"]) == pattern(steps)
    z_all = space_time_gi_dense(counts.astype(float))
    assert np.allclose(np.array(out.attrs["z"], dtype=float), z_all, atol=1e-9, rtol=0)
    significant = bh_statsmodels(2 * stats.norm.sf(np.abs(z_all.ravel())), 0.05).reshape(z_all.shape)
    z = z_all[24]
    assert "".join("." if not s else "H" if v > 0 else "C" for s, v in zip(significant[24], z)) == steps
    mk_z, mk_p = mk_by_kendalltau(z)
    assert out.loc["g24", "trend_z"] == pytest.approx(mk_z, abs=1e-9)
    if trend is not None:
        assert (np.sign(mk_z) if mk_p < 0.05 else 0) == trend
    assert out.loc["g24", "category"] == expected


def test_city_sized_cube_with_a_growing_spike_is_an_intensifying_hot_spot():
    # Issue 11: at city size every significant bin of a spike has p = 0.0 and the old rule called the whole
    # city "no pattern detected". Cells: 150 x 150 of 100 m (22,500); 12 months; one cell (g_s, at row and
    # column 75) gets 1000 + 10 m reports in month m = 0..11, no other cell any.
    side, months = 150, 12
    cells = lattice(side, side)
    spike = 75 * side + 75
    per_month = 1000 + 10 * np.arange(months)
    centre = [X0 + 75 * 100 + 50, Y0 + 75 * 100 + 50]
    reports = points(np.array([centre] * int(per_month.sum())), month_times(np.repeat(np.arange(1, 13), per_month)))
    # Expected by the rules, from the closed form. Only g_s's bins are non-zero; a cell of g_s's 3 x 3 block
    # (all interior) has g_s among its 9 spatial neighbours, so its bin at month m sums g_s's counts of m and
    # m - 1 over sw = 9 (m = 0) or 18 bins; every other cell's neighbourhoods hold only zeros.
    n_bins = side * side * months
    x = per_month.astype(float)
    mean = x.sum() / n_bins
    s = math.sqrt((x * x).sum() / n_bins - mean * mean)
    lag = x + np.concatenate([[0.0], x[:-1]])
    sw = np.where(np.arange(months) == 0, 9.0, 18.0)
    z_block = (lag - mean * sw) / (s * np.sqrt((n_bins * sw - sw * sw) / (n_bins - 1)))
    z_rest = -mean * sw / (s * np.sqrt((n_bins * sw - sw * sw) / (n_bins - 1)))  # interior cells, no spike
    assert z_block.min() > 37.7  # every hot bin has p == 0.0 exactly
    assert (2 * stats.norm.sf(z_block) == 0.0).all()
    assert np.abs(z_rest).max() < 0.1  # nothing else is near significance (p > 0.9, far from any BH cut)
    # Hot at all 12 steps (>= 90 %, final step hot) and z rising every month: the Mann-Kendall trend is up.
    assert (np.diff(z_block) > 0).all()
    mk_z, mk_p = mk_by_kendalltau(z_block)
    assert mk_z > 0 and mk_p < 0.05
    # final step hot, h = T >= 0.9 T, significant upward trend: "intensifying hot spot" (not new: h > 1; not
    # consecutive: that needs h < 90 % of T).
    out = emerging_hotspots(reports, cells)
    rc = np.array([(k // side, k % side) for k in range(side * side)])
    block = (np.abs(rc - [75, 75]).max(axis=1) <= 1)
    assert out["n_steps"].eq(months).all() and block[spike] and block.sum() == 9
    assert np.array(out.attrs["counts"])[spike].tolist() == per_month.tolist()
    assert np.array(out.attrs["counts"]).sum() == per_month.sum()
    assert np.allclose(np.array(out.attrs["z"])[block], z_block, rtol=1e-9, atol=0)
    assert out["hot_steps"].tolist() == (months * block).tolist()
    assert (out["cold_steps"] == 0).all()
    assert out["trend_z"].to_numpy()[block] == pytest.approx(np.full(9, mk_z), abs=1e-9)
    assert out["category"].tolist() == np.where(block, "intensifying hot spot", "no pattern detected").tolist()


def test_every_category_has_an_end_to_end_cube():
    earlier = {"new hot spot", "consecutive hot spot", "persistent hot spot", "historical hot spot"}
    end_to_end = {c[-1] for c in CUBES} | earlier
    assert end_to_end == set(EMERGING_CATEGORIES) - {"no pattern detected"}
