"""Sweep coverage on Dask (a dask-geopandas frame or a GeoParquet archive) gives the in-memory answer."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import dask
import dask.dataframe as dd
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

import gridmap
from gridmap.analysis.coverage import CoverageResult, sweep_coverage
from gridmap.archive import archive_files, archive_layer, read_archive, read_archive_points
from gridmap.errors import CRSError, SchemaError
from gridmap.sample import sample_boundaries, sample_tracks

CRS = "EPSG:4546"  # CGCS2000 Gauss-Kruger CM 111E, the metric CRS near Yulin
X0, Y0 = 388_000.0, 4_240_000.0
SIDE = 400.0
T0 = pd.Timestamp("2025-03-03 08:00", tz="Asia/Shanghai")


def grids_frame(polys: list) -> gpd.GeoDataFrame:
    n = len(polys)
    return gpd.GeoDataFrame({"grid_code": [f"G{k:03d}" for k in range(n)], "community_code": ["C1"] * n},
                            geometry=polys, crs=CRS)


def walk(xy: np.ndarray, inspector: str, t0: pd.Timestamp, step_s: float = 5.0) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    times = t0 + pd.to_timedelta(np.arange(len(xy)) * step_s, unit="s")
    return gpd.GeoDataFrame({"inspector": [inspector] * len(xy), "time": times}, geometry=shapely.points(xy), crs=CRS)


def row(y: float, inspector: str, t0: pd.Timestamp) -> gpd.GeoDataFrame:
    """A walk along y from 50 m west of the square to 50 m east of it, a fix every 6 m and 5 s."""
    xs = np.linspace(X0 - 50, X0 + SIDE + 50, 84)
    return walk(np.column_stack([xs, np.full(len(xs), Y0 + y)]), inspector, t0)


def partitioned(frames: list[gpd.GeoDataFrame]) -> dd.DataFrame:
    """A Dask frame with exactly these partitions, in this order."""
    meta = frames[0].iloc[:0]
    return dd.from_delayed([dask.delayed(f) for f in frames], meta=meta, verify_meta=False)


def split_by_time(frame: gpd.GeoDataFrame, cuts: list[pd.Timestamp]) -> list[gpd.GeoDataFrame]:
    """Partitions [-inf, c1), [c1, c2), ..., [ck, inf) of the fixes' times (rows without a time in the first)."""
    times = pd.to_datetime(frame["time"], utc=True)
    edges = [None, *sorted(cuts), None]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        keep = np.ones(len(frame), dtype=bool) if lo is None else (times >= lo).to_numpy().copy()
        if hi is not None:
            keep &= (times < hi).to_numpy()
        if lo is not None:
            keep &= times.notna().to_numpy()
        else:
            keep |= times.isna().to_numpy()
        out.append(frame[keep])
    return out


def vector_covered(grid, paths: list[LineString], radius: float) -> float:
    """Exact vector reference: buffer every walked piece (64 segments a quarter circle), union, intersect."""
    return float(shapely.area(shapely.intersection(grid, shapely.union_all(
        [p.buffer(radius, quad_segs=64) for p in paths]))))


def assert_same(memory: CoverageResult, dask_result: CoverageResult) -> None:
    """The same result: per grid covered area (to 1e-9 of the area, in fact to the bit), dead corners, counts."""
    area = memory.grids["area_m2"].to_numpy()
    np.testing.assert_array_equal(dask_result.grids["area_m2"].to_numpy(), area)
    gap = np.abs(dask_result.grids["covered_m2"].to_numpy() - memory.grids["covered_m2"].to_numpy())
    assert (gap <= 1e-9 * area).all()
    np.testing.assert_array_equal(dask_result.grids["covered_m2"].to_numpy(), memory.grids["covered_m2"].to_numpy())
    assert_geodataframe_equal(dask_result.dead_corners, memory.dead_corners)
    assert_geodataframe_equal(dask_result.grids, memory.grids)
    assert dask_result.stats == memory.stats
    if memory.targets is not None:
        assert_geodataframe_equal(dask_result.targets, memory.targets)


@pytest.fixture(scope="module")
def sample() -> tuple[dict, gpd.GeoDataFrame, CoverageResult]:
    b = sample_boundaries()
    tracks = sample_tracks(b, n_fixes=4000, days=2)
    return b, tracks, sweep_coverage(b["grids"], tracks, targets=b["targets"])


@pytest.mark.parametrize("k", [1, 3, 7])
def test_sample_in_time_partitions_equals_in_memory(sample, k: int) -> None:  # type: ignore[no-untyped-def]
    b, tracks, memory = sample
    ordered = tracks.sort_values("time", kind="stable").reset_index(drop=True)
    if k == 3:
        import dask_geopandas

        frame = dask_geopandas.from_geopandas(ordered, npartitions=k, sort=False)
        assert isinstance(frame, dask_geopandas.GeoDataFrame)
    else:
        frame = dd.from_pandas(ordered, npartitions=k, sort=False)
    assert frame.npartitions == k
    with dask.config.set(scheduler="threads"):
        result = sweep_coverage(b["grids"], frame, targets=b["targets"])
    assert_same(memory, result)


def test_archive_directory_equals_in_memory_on_the_same_fixes(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    with gridmap.init_workspace(tmp_path / "w.gpkg", sample=True) as ws:
        archive_layer(ws, tmp_path / "a", start="2025-03-03", end="2025-03-06")
        grids, targets = ws.read_layer("grids"), ws.read_layer("targets")
        window = ws.read_window("tracks", start="2025-03-03 12:00", end="2025-03-05 09:30")
    start, end = "2025-03-03 12:00", "2025-03-05 09:30"
    memory = sweep_coverage(grids, window, targets=targets, start=start, end=end)
    with dask.config.set(scheduler="synchronous"):
        result = sweep_coverage(grids, tmp_path / "a", targets=targets, start=start, end=end, progress=True)
    assert memory.stats["fixes_in"] == len(window) > 10_000
    assert_same(memory, result)
    assert "100% Completed" in capsys.readouterr().out  # Dask's progress bar


@pytest.mark.parametrize("rows", [700, 3000])
def test_busy_days_read_in_slices_of_time_give_the_in_memory_answer(tmp_path: Path, rows: int,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    # a city's day does not fit one task: each day is read in slices of time of at most about `rows` fixes;
    # paths crossing a slice's edge are joined as across midnight, and the answer is that of one machine
    from gridmap.analysis import _coverage_dask
    from gridmap.archive import archive_files, day_slices

    with gridmap.init_workspace(tmp_path / "w.gpkg", sample=True) as ws:
        archive_layer(ws, tmp_path / "a", start="2025-03-03", end="2025-03-05")
        grids, targets = ws.read_layer("grids"), ws.read_layer("targets")
        window = ws.read_window("tracks", start="2025-03-03 09:00", end="2025-03-05")
    start, end = "2025-03-03 09:00", "2025-03-05"
    for day in archive_files(tmp_path / "a"):  # each day: slices that follow each other, none empty
        slices = day_slices(day, start=start, end=end, max_rows=rows)
        assert len(slices) >= 3 and [b for _, b in slices[:-1]] == [a for a, _ in slices[1:]]
        assert all(a < b for a, b in slices)
    monkeypatch.setattr(_coverage_dask, "SLICE_ROWS", rows)
    memory = sweep_coverage(grids, window, targets=targets, start=start, end=end)
    with dask.config.set(scheduler="threads"), caplog.at_level("INFO", logger="gridmap.analysis.coverage"):
        result = sweep_coverage(grids, tmp_path / "a", targets=targets, start=start, end=end)
    assert memory.stats["fixes_in"] == len(window) > 10_000
    assert_same(memory, result)
    assert any("slices of time" in r.getMessage() for r in caplog.records)


def test_two_workers_of_a_distributed_cluster_give_the_same_answer(sample) -> None:  # type: ignore[no-untyped-def]
    from distributed import Client, LocalCluster

    b, tracks, memory = sample
    frame = partitioned(split_by_time(tracks, [pd.Timestamp("2025-03-03 12:00", tz="Asia/Shanghai"),
                                               pd.Timestamp("2025-03-04", tz="Asia/Shanghai")]))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster):
        result = sweep_coverage(b["grids"], frame, targets=b["targets"], progress=True)
    assert_same(memory, result)


@pytest.mark.slow
def test_two_worker_processes_read_the_archive_and_give_the_same_answer(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    with gridmap.init_workspace(tmp_path / "w.gpkg", sample=True) as ws:
        archive_layer(ws, tmp_path / "a", start="2025-03-03", end="2025-03-05")
        grids = ws.read_layer("grids")
    memory = sweep_coverage(grids, read_archive(tmp_path / "a", start="2025-03-03", end="2025-03-05").compute(),
                            start="2025-03-03", end="2025-03-05")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        result = sweep_coverage(grids, tmp_path / "a", start="2025-03-03", end="2025-03-05")
    assert_same(memory, result)


def test_dask_partitions_without_a_crs_are_refused() -> None:
    track = row(200.5, "甲", T0)
    frame = partitioned([track.set_crs(None, allow_override=True)])
    with dask.config.set(scheduler="synchronous"), pytest.raises(CRSError, match="tracks"):
        sweep_coverage(grids_frame([box(X0, Y0, X0 + SIDE, Y0 + SIDE)]), frame)


def test_a_grid_covered_half_by_one_day_and_half_by_another_reads_100_percent() -> None:
    grid = box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    day1, day2 = T0, T0 + pd.Timedelta(days=1)
    # rows 40 m apart swept 30 m each side, 30 min apart (not joined): 甲 the south half on day 1, 乙 the north on day 2
    south = pd.concat([row(y, "甲", day1 + pd.Timedelta(minutes=30 * k)) for k, y in enumerate(range(20, 200, 40))])
    north = pd.concat([row(y, "乙", day2 + pd.Timedelta(minutes=30 * k)) for k, y in enumerate(range(220, 400, 40))])
    lines = [LineString(shapely.get_coordinates(f.geometry.values)) for f in
             [row(y, "", T0) for y in range(20, 400, 40)]]
    exact = vector_covered(grid, lines, 30.0)
    assert exact == pytest.approx(SIDE * SIDE, rel=1e-12)
    with dask.config.set(scheduler="threads"):
        both = sweep_coverage(grids_frame([grid]), partitioned([south, north]), radius_m=30)
        halves = [sweep_coverage(grids_frame([grid]), partitioned([f]), radius_m=30) for f in (south, north)]
    assert both.grids["coverage_ratio"].iloc[0] == pytest.approx(exact / (SIDE * SIDE), abs=1e-9)
    assert both.grids["dead_corners"].iloc[0] == 0
    for half, lo in zip(halves, (0, 200)):  # each day alone: its half (the exact union of its own rows)
        own = vector_covered(grid, [ln for ln in lines if lo <= ln.coords[0][1] - Y0 < lo + 200], 30.0)
        assert abs(half.grids["covered_m2"].iloc[0] - own) <= 0.0025 * SIDE * SIDE
        assert own < 0.56 * SIDE * SIDE


def test_a_walk_across_midnight_is_not_broken_by_the_day_boundary() -> None:
    grid = box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    midnight = pd.Timestamp("2025-03-04", tz="Asia/Shanghai")
    track = row(200.5, "甲", midnight - pd.Timedelta(seconds=5 * 41 + 2))  # 42 fixes before midnight, 42 after
    days = split_by_time(track, [midnight])
    assert [len(d) for d in days] == [42, 42]
    whole = sweep_coverage(grids_frame([grid]), track, radius_m=25)
    with dask.config.set(scheduler="synchronous"):
        split = sweep_coverage(grids_frame([grid]), partitioned(days), radius_m=25)
    assert split.stats["breaks_gap"] == split.stats["breaks_speed"] == split.stats["isolated_fixes"] == 0
    assert split.grids["covered_m2"].iloc[0] == whole.grids["covered_m2"].iloc[0]
    exact = vector_covered(grid, [LineString(shapely.get_coordinates(track.geometry.values))], 25.0)
    assert abs(split.grids["covered_m2"].iloc[0] - exact) <= 0.0025 * SIDE * SIDE
    assert exact == pytest.approx(2 * 25 * SIDE, rel=1e-9)  # the strip across the whole square, no gap


def test_a_break_at_the_boundary_is_counted_once_and_ends_are_discs() -> None:
    grid = box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    midnight = pd.Timestamp("2025-03-04", tz="Asia/Shanghai")
    lone = walk([[X0 + 100, Y0 + 100]], "甲", midnight - pd.Timedelta(minutes=20))  # alone on day 1
    jump = walk([[X0 + 300, Y0 + 300], [X0 + 300, Y0 + 50]], "甲", midnight + pd.Timedelta(seconds=1))
    frames = [lone, jump]
    memory = sweep_coverage(grids_frame([grid]), pd.concat(frames), radius_m=20)
    with dask.config.set(scheduler="synchronous"):
        result = sweep_coverage(grids_frame([grid]), partitioned(frames), radius_m=20)
    assert (result.stats["breaks_gap"], result.stats["breaks_speed"], result.stats["isolated_fixes"]) == (1, 1, 3)
    assert result.grids["covered_m2"].iloc[0] == pytest.approx(3 * math.pi * 400, abs=0.0002 * SIDE * SIDE)
    assert_same(memory, result)


def test_partitions_overlapping_in_time_for_one_inspector_are_refused() -> None:
    grid = box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    track = row(200.5, "甲", T0)
    interleaved = [track.iloc[::2], track.iloc[1::2]]
    with dask.config.set(scheduler="synchronous"), pytest.raises(SchemaError, match="must not overlap in time"):
        sweep_coverage(grids_frame([grid]), partitioned(interleaved), radius_m=25)
    # two inspectors at the same times in two partitions are fine
    other = row(100.5, "乙", T0)
    with dask.config.set(scheduler="synchronous"):
        fine = sweep_coverage(grids_frame([grid]), partitioned([track, other]), radius_m=25)
    assert fine.stats["fixes_used"] == 2 * len(track)


def _write_day(frame: gpd.GeoDataFrame, root: Path, day: str) -> None:
    folder = root / "tracks" / f"date={day}"
    folder.mkdir(parents=True)
    frame.to_crs("EPSG:4326").to_parquet(folder / "part-0.parquet", index=False, schema_version="1.1.0",
                                         write_covering_bbox=True, row_group_size=50)


def test_archive_with_walked_lines_reads_only_their_geometry_and_agrees(tmp_path: Path) -> None:
    grid = box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    line = gpd.GeoDataFrame({"inspector": ["丙"], "time": [T0]},
                            geometry=[LineString([(X0 + 20, Y0 + 350), (X0 + 380, Y0 + 360)])], crs=CRS)
    far = walk([[X0 + 9000, Y0 + 9000]], "丁", T0)  # beyond the grids' reach: not read from the archive
    day1 = pd.concat([row(100.5, "甲", T0), line, far], ignore_index=True)
    day2 = row(250.5, "甲", T0 + pd.Timedelta(days=1))
    _write_day(day1, tmp_path, "2025-03-03")
    _write_day(day2, tmp_path, "2025-03-04")
    first = read_archive_points(archive_files(tmp_path)[0])
    assert list(first.others) == [84] and shapely.get_type_id(first.geometries).tolist() == [1]
    lon0, lat0, lon1, lat1 = gpd.GeoSeries([grid], crs=CRS).to_crs("EPSG:4326").total_bounds
    near = (lon0 - 0.04, lat0 - 0.04, lon1 + 0.04, lat1 + 0.04)  # the far fix is ~0.1° away
    whole = read_archive(tmp_path, bbox=near).compute()  # the same fixes (WGS84 in the archive) in memory
    memory = sweep_coverage(grids_frame([grid]), whole, radius_m=30)
    with dask.config.set(scheduler="threads"):
        result = sweep_coverage(grids_frame([grid]), str(tmp_path), radius_m=30)
    assert result.stats["lines"] == 1 and result.stats["fixes_in"] == 168
    assert_same(memory, result)
    whole_day = memory.grids["covered_m2"].iloc[0]
    exact = vector_covered(grid, [LineString(shapely.get_coordinates(f.geometry.values)) for f in
                                  (row(100.5, "", T0), row(250.5, "", T0))] + [line.geometry.iloc[0]], 30.0)
    assert abs(whole_day - exact) <= 0.0025 * SIDE * SIDE
    days = [read_archive_points(f, bbox=near) for f in archive_files(tmp_path)]
    assert sum(len(d.x) for d in days) == len(whole) == 169
    points = (whole.geom_type == "Point").to_numpy()
    xs = np.concatenate([d.x for d in days])[points]
    np.testing.assert_array_equal(xs, shapely.get_x(whole.geometry.values[points]))


# ---------------------------------------------------------------------------------------------------------------
# any fixes, any cut points
# ---------------------------------------------------------------------------------------------------------------


@st.composite
def fixes_and_cuts(draw: st.DrawFn) -> tuple[gpd.GeoDataFrame, list[pd.Timestamp]]:
    n = draw(st.integers(1, 60))
    inspectors = draw(st.lists(st.sampled_from(["甲", "乙", "丙", " ", ""]), min_size=n, max_size=n))
    x = draw(st.lists(st.floats(-60, SIDE + 60), min_size=n, max_size=n))
    y = draw(st.lists(st.floats(-60, SIDE + 60), min_size=n, max_size=n))
    seconds = draw(st.lists(st.integers(0, 3600), min_size=n, max_size=n))
    times = pd.Series(T0 + pd.to_timedelta(seconds, unit="s"))
    times[draw(st.lists(st.integers(0, n - 1), max_size=2))] = pd.NaT
    frame = gpd.GeoDataFrame({"inspector": inspectors, "time": times},
                             geometry=shapely.points(X0 + np.array(x), Y0 + np.array(y)), crs=CRS)
    cuts = draw(st.lists(st.integers(0, 3600), max_size=4, unique=True))
    return frame, [T0 + pd.Timedelta(seconds=c) for c in cuts]


def _hypothesis_case(seconds: list[int], cuts: list[int], xs: list[float]) -> tuple[gpd.GeoDataFrame, list]:
    frame = walk(np.column_stack([X0 + np.array(xs), np.full(len(xs), Y0 + 200.5)]), "甲", T0)
    frame["time"] = T0 + pd.to_timedelta(seconds, unit="s")
    return frame, [T0 + pd.Timedelta(seconds=c) for c in cuts]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fixes_and_cuts())
@example(_hypothesis_case([0, 5, 10, 400], [5], [10.0, 16.0, 22.0, 100.0]))  # cut inside a path, then a gap
@example(_hypothesis_case([0, 5, 10], [5, 10], [10.0, 390.0, 392.0]))  # a jump at one cut, a one-fix partition
@example((walk([[X0, Y0]], "甲", T0).assign(time=pd.NaT), []))  # no usable fix: unknown in both
def test_any_fixes_split_anywhere_in_time_give_the_in_memory_answer(
        case: tuple[gpd.GeoDataFrame, list[pd.Timestamp]]) -> None:
    frame, cuts = case
    grids = grids_frame([box(X0, Y0, X0 + SIDE / 2, Y0 + SIDE), box(X0 + SIDE / 2, Y0, X0 + SIDE, Y0 + SIDE)])
    memory = sweep_coverage(grids, frame, radius_m=25, max_gap_s=120)
    with dask.config.set(scheduler="synchronous"):
        parts = split_by_time(frame, cuts)  # in any order: the ends are joined in time order
        result = sweep_coverage(grids, partitioned(parts[::-1] if len(cuts) % 2 else parts), radius_m=25,
                                max_gap_s=120)
    assert result.stats == memory.stats
    area = memory.grids["area_m2"].to_numpy()
    got, want = result.grids["covered_m2"].to_numpy(), memory.grids["covered_m2"].to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))  # unknown (no data) exactly when in memory
    assert (np.abs(np.nan_to_num(got) - np.nan_to_num(want)) <= 1e-9 * area).all()
    assert_geodataframe_equal(result.dead_corners, memory.dead_corners)


def test_the_in_memory_run_does_not_import_dask() -> None:
    code = ("import sys, gridmap\n"
            "from gridmap.sample import sample_boundaries, sample_tracks\n"
            "b = sample_boundaries()\n"
            "r = gridmap.sweep_coverage(b['grids'], sample_tracks(b, n_fixes=300, days=1))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'dask_geopandas')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(gridmap.__file__).parents[1])})
    assert out.stdout.strip() == "[]"


def test_an_archive_without_the_window_s_days_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="holds no day of tracks in the window"):
        sweep_coverage(grids_frame([box(X0, Y0, X0 + SIDE, Y0 + SIDE)]), tmp_path, start="2025-03-03")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-500, 500), st.floats(-500, 500), st.floats(0, 400), st.floats(0, 400)),
                min_size=1, max_size=12),
       st.lists(st.tuples(st.floats(-700, 700), st.floats(-700, 700), st.floats(-900, 900), st.floats(-900, 900)),
                max_size=40))
@example([(0.0, 0.0, 0.0, 0.0)], [(0.0, 0.0, 0.0, 0.0), (1e12, 0.0, -2e12, 5.0)])  # a point box, a huge piece
def test_pieces_reach_exactly_the_groups_whose_boxes_they_meet(boxes: list, pieces: list) -> None:
    from gridmap.analysis._coverage_pieces import _box_pairs

    box_array = np.array([(x, y, x + w, y + h) for x, y, w, h in boxes])
    a = np.array([(x, y) for x, y, _, _ in pieces]).reshape(-1, 2)
    b = a + np.array([(dx, dy) for _, _, dx, dy in pieces]).reshape(-1, 2)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    got = list(zip(*(v.tolist() for v in _box_pairs(lo, hi, box_array))))
    want = {(i, j) for i in range(len(a)) for j in range(len(box_array))  # brute force: closed boxes meet
            if lo[i, 0] <= box_array[j, 2] and hi[i, 0] >= box_array[j, 0]
            and lo[i, 1] <= box_array[j, 3] and hi[i, 1] >= box_array[j, 1]}
    assert len(got) == len(set(got)) and set(got) == want
