"""Hot spots and heat maps on Dask (issue 15): counts per cell and per step, and kde, partition by partition.

What is checked against what: the counts of an archive directory and of a dask-geopandas frame against a
brute-force count written here (each point in the first cell, in the cells' order, that shapely says
intersects it: the closure rule) and against the in-memory functions on the same reports; Gi* z, p and bins,
and the emerging hot spot categories, against the in-memory results; kde rasters against in-memory kde.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

import gridmap
from gridmap.analysis import _density_dask
from gridmap.analysis.density import default_bandwidth, kde
from gridmap.analysis.hotspot import cell_counts, emerging_hotspots, fishnet, hexagons, hotspots, space_time_cube
from gridmap.errors import SchemaError

TZ = "Asia/Shanghai"
SPAN = ("2025-03-01", "2025-04-01")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("hotdask")
    with gridmap.init_workspace(folder / "w.gpkg", sample=True) as ws:
        reports = ws.read_layer("reports")
        subdistrict = ws.read_layer("subdistrict")
        grids = ws.read_layer("grids")
        gridmap.archive_layer(ws, folder / "a", layer="reports", start=SPAN[0], end=SPAN[1])
    t = reports["reported_at"]
    window = reports[((t >= pd.Timestamp(SPAN[0], tz=TZ)) & (t < pd.Timestamp(SPAN[1], tz=TZ))).to_numpy()]
    return {"dir": folder / "a", "reports": window.reset_index(drop=True), "grids": grids,
            "fishnet": fishnet(subdistrict, 100), "hexagons": hexagons(subdistrict, 80)}


def brute_counts(points: np.ndarray, cells: gpd.GeoDataFrame) -> np.ndarray:
    """Each point in the first cell (cells' order) whose closure holds it, by shapely predicates cell by cell."""
    geoms = np.asarray(cells.geometry.values)
    owner = np.full(len(points), -1)
    for i, cell in enumerate(geoms):
        hit = (owner < 0) & shapely.intersects(cell, points)
        owner[hit] = i
    return np.bincount(owner[owner >= 0], minlength=len(geoms))


def points_in(reports: gpd.GeoDataFrame, crs: Any) -> np.ndarray:
    keep = ~(reports.geometry.isna() | reports.geometry.is_empty)
    return np.asarray(reports[keep.to_numpy()].to_crs(crs).geometry.values)


def split(frame: gpd.GeoDataFrame, n: int) -> Any:
    return dask_geopandas.from_geopandas(frame, npartitions=n, sort=False)


def equal_nan(a: Any, b: Any) -> None:
    np.testing.assert_array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


# ----------------------------------------------------------------------------------------------- counts


@pytest.mark.parametrize("kind", ["grids", "fishnet", "hexagons"])
def test_archive_counts_equal_brute_force_and_memory(sample: dict[str, Any], kind: str) -> None:
    cells = sample[kind]
    expected = brute_counts(points_in(sample["reports"], cells.crs), cells)
    with dask.config.set(scheduler="threads"):
        got = cell_counts(sample["dir"], cells)
        from_str = cell_counts(str(sample["dir"]), cells)
        frame = cell_counts(gridmap.read_archive(sample["dir"], layer="reports"), cells)
    assert got.dtype == np.int64 and len(got) == len(cells)
    assert expected.sum() > 100
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(from_str, expected)
    np.testing.assert_array_equal(frame, expected)
    np.testing.assert_array_equal(cell_counts(sample["reports"], cells), expected)


@pytest.mark.parametrize("wkb_fast_path", [True, False])
def test_a_day_counted_in_chunks_of_row_groups_counts_every_report_once(tmp_path: Path, wkb_fast_path: bool,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # counting needs no order: a busy day is counted in runs of row groups, shared out among the workers
    from gridmap.analysis import _hotspot_dask

    rng = np.random.default_rng(7)
    cells = fishnet(box(109.730, 38.285, 109.740, 38.292), 150)
    lon, lat = rng.uniform(109.729, 109.741, 3000), rng.uniform(38.284, 38.293, 3000)
    corners = shapely.get_coordinates(cells.geometry.to_crs(4326).boundary.values)[:200]  # on cell edges
    points = shapely.points(np.concatenate([lon, corners[:, 0]]), np.concatenate([lat, corners[:, 1]]))
    day = gpd.GeoDataFrame({"report_id": [f"R{i}" for i in range(len(points))]}, geometry=points, crs=4326)
    folder = tmp_path / "a" / "reports" / "date=2025-03-03"
    folder.mkdir(parents=True)
    day.to_parquet(folder / "part-0.parquet", row_group_size=128, schema_version="1.1.0", write_covering_bbox=True)
    chunks = _hotspot_dask.row_group_chunks(str(folder / "part-0.parquet"), 500)
    assert len(chunks) > 4 and sorted(g for c in chunks for g in c) == list(range(-(-len(points) // 128)))
    monkeypatch.setattr(_hotspot_dask, "COUNT_ROWS", 500)
    if not wkb_fast_path:  # the geometries decoded by geopandas instead, from the same row groups
        monkeypatch.setattr(_hotspot_dask, "read_points_xy", lambda *args: None)
    with dask.config.set(scheduler="threads"):
        got = cell_counts(tmp_path / "a", cells)
    np.testing.assert_array_equal(got, brute_counts(points_in(day, cells.crs), cells))
    assert got.sum() > 3000  # (a few random points fall outside the fishnet)


def test_reports_without_location_are_skipped(sample: dict[str, Any]) -> None:
    reports = sample["reports"].copy()
    reports.loc[reports.index[:7], "geometry"] = None
    cells = sample["grids"]
    expected = brute_counts(points_in(reports, cells.crs), cells)
    with dask.config.set(scheduler="synchronous"):
        got = cell_counts(split(reports, 3), cells)
        out = hotspots(split(reports, 4), cells)
    np.testing.assert_array_equal(got, expected)
    assert out.attrs["no_location"] == 7 and int(out["count"].sum()) == int(expected.sum())


LATTICE = box(109.730, 38.285, 109.740, 38.292)


@st.composite
def lattice_points(draw: Any) -> tuple[np.ndarray, np.ndarray]:
    """Points in the lattice's box, many exactly on the fishnet's vertices and edges (in its CRS)."""
    cells = _lattice_cells()
    corners = shapely.get_coordinates(np.asarray(cells.geometry.values))
    n = draw(st.integers(1, 60))
    picks = draw(st.lists(st.integers(0, len(corners) - 1), min_size=n, max_size=n))
    fractions = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 0.25]), min_size=n, max_size=n))
    kinds = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    xy = []
    for pick, f, kind in zip(picks, fractions, kinds):
        x, y = corners[pick]
        nx, ny = corners[min(pick + 1, len(corners) - 1)]
        xy.append((x, y) if kind == 0 else (x + f * (nx - x), y + f * (ny - y)) if kind == 1 else
                  (LATTICE.bounds[0] + f * 0.01, LATTICE.bounds[1] + f * 0.007))
    labels = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return np.array(xy), np.array(labels)


_CELLS: list[gpd.GeoDataFrame] = []


def _lattice_cells() -> gpd.GeoDataFrame:
    if not _CELLS:
        _CELLS.append(fishnet(LATTICE, 250))
    return _CELLS[0]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lattice_points(), st.integers(1, 5))
@example((np.array([[109.730, 38.285]]), np.array([0])), 1)
def test_random_points_random_partitions_same_counts(data: tuple[np.ndarray, np.ndarray], parts: int) -> None:
    xy, labels = data
    cells = _lattice_cells()
    frame = gpd.GeoDataFrame({"group": labels}, geometry=shapely.points(xy), crs=cells.crs)
    expected = brute_counts(np.asarray(frame.geometry.values), cells)
    with dask.config.set(scheduler="synchronous"):
        got = cell_counts(split(frame, min(parts, len(frame))), cells)
        # partitions of uneven size, one per label (some empty)
        by_label = dask_geopandas.from_geopandas(frame.sort_values("group"), npartitions=1)
        by_label = by_label.repartition(npartitions=min(parts, len(frame)))
        again = cell_counts(by_label, cells)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(again, expected)


def nudged(cells: gpd.GeoDataFrame, position: int, by: float) -> gpd.GeoDataFrame:
    out = cells.copy()
    out.loc[out.index[position], "geometry"] = shapely.affinity.translate(out.geometry.iloc[position], by, 0)
    return out


@pytest.mark.parametrize("variant", ["fishnet", "shuffled", "duplicates first", "one nudged", "hexagons"])
def test_lattice_shortcut_gives_brute_force_counts(variant: str, caplog: pytest.LogCaptureFixture) -> None:
    """Points on every vertex and edge midpoint and inside; cells that are (not quite) a lattice."""
    cells = _lattice_cells()
    rng = np.random.default_rng(3)
    variants = {
        "fishnet": cells,
        "shuffled": cells.iloc[rng.permutation(len(cells))],
        "duplicates first": pd.concat([cells.iloc[[5, 2, 5]], cells]),
        "one nudged": nudged(cells, 4, 1e-9),
        "hexagons": hexagons(LATTICE, 120),
    }
    chosen = gpd.GeoDataFrame(variants[variant], crs=cells.crs)
    corners = shapely.get_coordinates(np.asarray(chosen.geometry.values))
    xy = np.concatenate([corners, (corners[:-1] + corners[1:]) / 2,
                         np.column_stack([rng.uniform(109.729, 109.741, 300), rng.uniform(38.284, 38.293, 300)])])
    frame = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=cells.crs)
    expected = brute_counts(np.asarray(frame.geometry.values), chosen)
    with caplog.at_level("INFO", logger="gridmap.analysis.hotspot"), dask.config.set(scheduler="synchronous"):
        got = cell_counts(split(frame, 3), chosen)
    np.testing.assert_array_equal(got, expected)
    shortcut = any("a lattice" in r.getMessage() for r in caplog.records)
    assert shortcut == (variant in ("fishnet", "shuffled", "duplicates first"))


def test_archive_days_with_missing_and_empty_points(tmp_path: Path) -> None:
    """Days written by hand: one with missing geometries, one with an empty point (the general reader)."""
    cells = _lattice_cells()
    rng = np.random.default_rng(5)
    xy = np.column_stack([rng.uniform(109.729, 109.741, 40), rng.uniform(38.284, 38.293, 40)])
    geoms = list(shapely.points(xy))
    geoms[3] = None
    geoms[25] = shapely.Point()
    times = pd.Timestamp("2025-03-03 10:00", tz=TZ) + pd.to_timedelta(np.repeat([0, 1], 20), unit="D")
    reports = gpd.GeoDataFrame({"report_id": [f"r{i}" for i in range(40)], "reported_at": times},
                               geometry=geoms, crs=4326)
    for day, part in ((0, reports.iloc[:20]), (1, reports.iloc[20:])):
        folder = tmp_path / "reports" / f"date=2025-03-0{3 + day}"
        folder.mkdir(parents=True)
        part.to_parquet(folder / "part-0.parquet", schema_version="1.1.0", write_covering_bbox=True)
    keep = ~(reports.geometry.isna() | reports.geometry.is_empty)
    expected = brute_counts(np.asarray(reports[keep.to_numpy()].geometry.values), cells)
    with dask.config.set(scheduler="synchronous"):
        got = cell_counts(tmp_path, cells)
        out = hotspots(tmp_path, cells)
    np.testing.assert_array_equal(got, expected)
    assert out.attrs["no_location"] == 2 and int(out["count"].sum()) == int(expected.sum())


# ----------------------------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("interval", ["week", "month"])
def test_space_time_cube_from_archive_equals_memory(sample: dict[str, Any], interval: str) -> None:
    cells = sample["grids"]
    with dask.config.set(scheduler="threads"):
        got, steps = space_time_cube(sample["dir"], cells, interval=interval)
        windowed, win_steps = space_time_cube(sample["dir"], cells, interval=interval, start="2025-03-05",
                                              end="2025-03-20")
    want, want_steps = space_time_cube(sample["reports"], cells, interval=interval)
    np.testing.assert_array_equal(got, want)
    assert steps == want_steps and got.sum() == len(sample["reports"].dropna(subset=["reported_at"]))
    w2, s2 = space_time_cube(sample["reports"], cells, interval=interval, start="2025-03-05", end="2025-03-20")
    np.testing.assert_array_equal(windowed, w2)
    assert win_steps == s2


def growing_cluster() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Reports over 8 months: a few in every cell each month, and a cluster growing in one corner."""
    rng = np.random.default_rng(7)
    cells = fishnet(box(109.70, 38.26, 109.74, 38.29), 250)
    metric = cells.to_crs(4546)
    centres = shapely.get_coordinates(metric.geometry.centroid.values)
    rows = []
    for month in range(1, 9):
        for cx, cy in centres:
            for _ in range(rng.integers(1, 4)):
                rows.append((cx + rng.uniform(-100, 100), cy + rng.uniform(-100, 100), month))
        for _ in range(0 if month < 5 else 10 * (month - 3)):
            rows.append((centres[0, 0] + rng.uniform(-300, 300), centres[0, 1] + rng.uniform(-300, 300), month))
    xy = np.array([(x, y) for x, y, _ in rows])
    times = pd.to_datetime([f"2025-{m:02d}-{rng.integers(1, 4):02d} 10:00" for *_, m in rows]).tz_localize(TZ)
    frame = gpd.GeoDataFrame({"report_id": [f"r{i:05d}" for i in range(len(rows))], "reported_at": times},
                             geometry=shapely.points(xy), crs=4546).to_crs(4326)
    return frame, cells


class OneLayer:
    """A stand-in for a workspace that holds only a reports layer (what archive_layer reads)."""

    def __init__(self, frame: gpd.GeoDataFrame) -> None:
        self.frame = frame

    def read_layer(self, layer: str) -> gpd.GeoDataFrame:
        return self.frame.copy()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("cluster")
    reports, cells = growing_cluster()
    gridmap.archive_layer(OneLayer(reports), folder / "a", layer="reports")
    return {"dir": folder / "a", "reports": reports, "cells": cells}


def test_hotspots_from_archive_equal_memory(cluster: dict[str, Any]) -> None:
    cells = cluster["cells"]
    with dask.config.set(scheduler="threads"):
        got = hotspots(cluster["dir"], cells)
    want = hotspots(cluster["reports"], cells)
    np.testing.assert_array_equal(got["count"], want["count"])
    equal_nan(got["gi_z"], want["gi_z"])
    equal_nan(got["gi_p"], want["gi_p"])
    np.testing.assert_array_equal(got["gi_bin"], want["gi_bin"])
    np.testing.assert_array_equal(got["significant"], want["significant"])
    assert got.attrs == want.attrs and (want["gi_bin"] == 3).any()


def test_emerging_hotspots_categories_equal(cluster: dict[str, Any]) -> None:
    reports, cells = cluster["reports"], cluster["cells"]
    want = emerging_hotspots(reports, cells)
    assert (want["category"] != "no pattern detected").any()
    with dask.config.set(scheduler="threads"):
        got = emerging_hotspots(cluster["dir"], cells)
        frame = emerging_hotspots(split(reports, 5), cells)
    for out in (got, frame):
        assert out["category"].tolist() == want["category"].tolist()
        equal_nan(out["trend_z"], want["trend_z"])
        assert out.attrs["counts"] == want.attrs["counts"] and out.attrs["steps"] == want.attrs["steps"]


def test_space_time_needs_times(sample: dict[str, Any]) -> None:
    frame = split(sample["reports"].drop(columns="reported_at"), 2)
    with dask.config.set(scheduler="synchronous"), pytest.raises(SchemaError, match="reported_at"):
        space_time_cube(frame, sample["grids"])


@pytest.mark.parametrize("window", [{}, {"start": "2025-03-01", "end": "2025-03-31"}])
def test_no_timed_report_is_the_same_error(sample: dict[str, Any], window: dict[str, str]) -> None:
    untimed = sample["reports"].assign(reported_at=pd.Series(pd.NaT, index=sample["reports"].index,
                                                             dtype="datetime64[ns, Asia/Shanghai]"))
    with pytest.raises(SchemaError, match="no report has a time"):
        space_time_cube(untimed, sample["grids"], **window)
    with dask.config.set(scheduler="synchronous"), pytest.raises(SchemaError, match="no report has a time"):
        space_time_cube(split(untimed, 3), sample["grids"], **window)


def test_archive_without_reports_is_a_clear_error(tmp_path: Path, sample: dict[str, Any]) -> None:
    with pytest.raises(SchemaError, match="gridmap archive"):
        cell_counts(tmp_path / "empty", sample["grids"])


# ----------------------------------------------------------------------------------------------- a real cluster


def test_distributed_two_workers_same_answers(sample: dict[str, Any]) -> None:
    distributed = pytest.importorskip("distributed")
    cells = sample["fishnet"]
    want = hotspots(sample["reports"], cells)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        counts = cell_counts(sample["dir"], cells)
        cube, _ = space_time_cube(sample["dir"], cells, interval="week")
        heat = kde(sample["dir"], bandwidth_m=150.0)
    same_raster(heat, kde(sample["reports"], bandwidth_m=150.0))
    np.testing.assert_array_equal(counts, want["count"])
    np.testing.assert_array_equal(cube, space_time_cube(sample["reports"], cells, interval="week")[0])


# ----------------------------------------------------------------------------------------------- kde


def same_raster(got: Any, want: Any) -> None:
    assert got.values.shape == want.values.shape and got.bounds == want.bounds and got.crs == want.crs
    assert got.n_points == want.n_points and got.skipped == want.skipped and got.total == want.total
    np.testing.assert_allclose(got.bandwidth_m, want.bandwidth_m, rtol=1e-12)
    # sums taken in another order: equal within 1e-12 of each value, and of the peak where FFT round-off rules
    np.testing.assert_allclose(got.values, want.values, rtol=1e-12, atol=1e-12 * float(want.values.max()))


@pytest.mark.parametrize("options", [{}, {"bandwidth_m": 150.0, "cell_m": 3.0}, {"kernel": "gaussian"},
                                     {"bandwidth_m": 120.0, "weights": "tonnes"},
                                     {"bandwidth_m": 100.0, "cell_m": 20.0,
                                      "bounds": (109.725, 38.275, 109.745, 38.295)}])
def test_kde_on_dask_equals_memory(options: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    from gridmap.sample import sample_boundaries, sample_reports

    reports, _ = sample_reports(sample_boundaries(), n_reports=1500)
    reports = reports.assign(tonnes=np.arange(len(reports)) % 4)
    reports.loc[reports.index[:5], "geometry"] = None
    want = kde(reports, **options)
    with caplog.at_level("DEBUG", logger="gridmap.analysis.density"), dask.config.set(scheduler="threads"):
        got = kde(split(reports, 4), **options)
    same_raster(got, want)
    assert want.skipped == 5
    if options.get("cell_m") == 3.0:  # the binned estimate, not the exact sum
        assert any("binned estimate" in r.getMessage() for r in caplog.records)


def test_kde_of_a_dask_geoseries() -> None:
    points = gpd.GeoSeries(shapely.points(np.random.default_rng(2).uniform(0, 500, (200, 2))), crs=4546)
    with dask.config.set(scheduler="synchronous"):
        got = kde(dask_geopandas.from_geopandas(points, npartitions=3, sort=False))
    same_raster(got, kde(points))


def test_kde_from_archive_equals_memory(sample: dict[str, Any]) -> None:
    with dask.config.set(scheduler="threads"):
        got = kde(sample["dir"])
    same_raster(got, kde(sample["reports"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 3)), min_size=4,
                       max_size=60),
       parts=st.integers(1, 5), collect=st.sampled_from([1, 3, 200_000]))
@example(points=[(0, 0, 1), (0, 0, 1), (40, 40, 0), (40, 40, 1)], parts=2, collect=1)
def test_default_bandwidth_median_is_exact(points: list[tuple[int, int, int]], parts: int, collect: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Many tied distances and far outliers (so the median decides), buckets refined down to single values."""
    xy = np.array([(x * 2.5, y * 2.5) for x, y, _ in points] + [(1e5, 0.0), (0.0, 1e5), (-1e5, 0.0)])
    w = np.array([float(k) for *_, k in points] + [1.0, 1.0, 1.0])
    if w[:-3].sum() == 0:
        w[0] = 1.0
    want = default_bandwidth(xy, weights=w)
    frame = gpd.GeoDataFrame({"w": w}, geometry=shapely.points(xy), crs=4546)
    monkeypatch.setattr(_density_dask, "COLLECT_MAX", collect)
    with dask.config.set(scheduler="synchronous"):
        got = kde(split(frame, min(parts, len(frame))), weights="w", cell_m=5000.0).bandwidth_m
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_in_memory_paths_never_import_dask() -> None:
    import subprocess
    import sys

    code = ("import sys, gridmap\n"
            "from gridmap.sample import sample_boundaries, sample_reports\n"
            "from gridmap.analysis.hotspot import cell_counts, emerging_hotspots, hotspots\n"
            "from gridmap.analysis.density import kde\n"
            "b = sample_boundaries(); r, _ = sample_reports(b, n_reports=300)\n"
            "cell_counts(r, b['grids']); hotspots(r, b['grids']); emerging_hotspots(r, b['grids']); kde(r)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'dask_geopandas')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("size", [36.0, 50.0, 83.7])
def test_a_fishnet_of_any_size_is_found_as_a_lattice(size: float) -> None:
    # a fishnet starts at its area's corner, not at a multiple of its side: still one lattice, so counting
    # locates most reports by arithmetic; and the counts stay those of brute force
    from gridmap.analysis import _hotspot_dask

    cells = fishnet(box(109.7301, 38.2851, 109.7399, 38.2917), size)
    geoms = np.asarray(cells.geometry.values)
    lattice = _hotspot_dask.find_lattice(geoms, cells.crs)
    assert lattice is not None and lattice.table.size >= len(cells)
    rng = np.random.default_rng(int(size))
    x, y = rng.uniform(109.7301, 109.7399, 2000), rng.uniform(38.2851, 38.2917, 2000)
    candidate = lattice.candidates(x, y, cells.crs)
    inside = shapely.contains_xy(geoms[np.maximum(candidate, 0)], x, y) & (candidate >= 0)
    assert inside.mean() > 0.95  # arithmetic finds the cell of almost every point
    got = _hotspot_dask.count_xy(x, y, 0, geoms, cells.crs, lattice)[:len(cells)]
    np.testing.assert_array_equal(got, brute_counts(shapely.points(x, y), cells))
