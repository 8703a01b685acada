"""Tests pinning the quicker paths of sweep coverage of issue 16 (cov16e) against independent answers.

- the exact uncovered area of a band cell with its four sides known to be the cell's square (one subtraction
  per side instead of the general line test): shapely's clipped square, and bit for bit the general test;
- a grid's unreached cells united by disjoint subsets: the union of every cell's own box (shapely), a valid
  polygon of exactly the cells' area, for masks with holes, diagonal touches and separate corners;
- inspector names gathered from their cleaned forms: the names Python's ``str.strip`` gives, equal names
  numbered alike and a missing one numbered -1;
- the roll-ups without NaN/NA (the unknown-sum mask skipped): sums per key computed in plain Python;
- the diagonals indexed for the pieces near a band cell, built from one flat array of coordinates: the lines
  ``shapely.linestrings`` makes, coordinate for coordinate (so the same boxes, the same tree);
- the distance transform taken in boxes around far-apart clusters of cells (a grid nearly all covered): the
  brute-force least distance to every sample, and a whole run against buffer and union;
- fixes already in order (no sort) and without repeats (nothing dropped): Python's stable sort and a plain
  loop dropping repeated (inspector, time).
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from gridmap.analysis import _coverage_raster  # private: its box choice is watched
from gridmap.analysis._coverage_figures import _rollup  # private: the roll-up itself
from gridmap.analysis._coverage_raster import _convex_area, _diagonals, _Samples  # private: the exact steps
from gridmap.analysis._coverage_region import _cells_polygon  # private: the dead corners' cells
from gridmap.analysis._coverage_tracks import _named, _Paths, _sorted_unique  # private: fixes, pieces
from gridmap.analysis.coverage import sweep_coverage

from _clipped import clipped_square_area, random_cut_cells


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 31), st.integers(1, 14), st.sampled_from([0.5, 1.875, 3.75, 5.0]))
def test_the_square_sides_path_gives_shapelys_area_and_the_general_paths_bits(seed: int, lines: int,
                                                                              half: float) -> None:
    rng = np.random.default_rng(seed)
    cells = 30
    table = random_cut_cells(rng, cells, lines, half, low=-1.2)
    quick = _convex_area(table, half)
    expected = [clipped_square_area(half, table[k, 4:]) for k in range(cells)]
    np.testing.assert_allclose(quick, expected, rtol=0, atol=1e-9 * half ** 2)
    assert np.array_equal(quick, _convex_area(table))  # the same numbers as the general test, to the last bit


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 31), st.integers(1, 24), st.integers(1, 24), st.sampled_from([0.2, 0.5, 0.8]),
       st.sampled_from([0.5, 3.75, 5.0]))
def test_unreached_cells_unite_to_the_union_of_their_boxes(seed: int, nj: int, ni: int, share: float,
                                                           cell: float) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random((nj, ni)) < share
    i0, j0 = int(rng.integers(-50, 50)) + 103_000, int(rng.integers(-50, 50)) + 1_130_000
    got = _cells_polygon(mask, i0, j0, cell)
    rows, cols = np.nonzero(mask)
    boxes = shapely.box((i0 + cols) * cell, (j0 + rows) * cell, (i0 + cols + 1) * cell, (j0 + rows + 1) * cell)
    expected = shapely.union_all(boxes) if len(boxes) else shapely.Polygon()
    assert bool(shapely.is_valid(got))
    assert bool(shapely.equals(got, expected)) or (got.is_empty and expected.is_empty)
    assert math.isclose(got.area, mask.sum() * cell ** 2, rel_tol=1e-12, abs_tol=1e-9)


@given(st.lists(st.one_of(st.none(), st.sampled_from(["张三", " 张三", "张三 ", "李四", "", "  ", "王五"])),
                max_size=40))
def test_names_are_cleaned_and_numbered_as_python_strips_them(values: list[str | None]) -> None:
    names, numbers = _named(pd.Series(values, dtype="str"))
    expected = ["" if v is None else v.strip() for v in values]
    assert list(names) == expected
    for k, v in enumerate(values):
        if v is None:
            assert numbers[k] == -1
    for a in range(len(values)):
        for b in range(len(values)):
            if values[a] is not None and values[b] is not None:
                assert (numbers[a] == numbers[b]) == (expected[a] == expected[b])


@given(st.lists(st.tuples(st.sampled_from(["C1", "C2", "C3"]), st.floats(1.0, 1e6), st.floats(0.0, 1.0),
                          st.integers(0, 9)), min_size=1, max_size=30))
def test_rollups_without_unknown_figures_are_the_plain_sums(rows: list[tuple[str, float, float, int]]) -> None:
    area = np.array([r[1] for r in rows])
    covered = area * np.array([r[2] for r in rows])
    grids = pd.DataFrame({"community_code": [r[0] for r in rows], "area_m2": area, "covered_m2": covered,
                          "uncovered_m2": area - covered,
                          "dead_corners": pd.array([r[3] for r in rows], dtype="Int64")})
    table = _rollup(grids, "community_code").set_index("community_code")
    assert list(table.index) == sorted({r[0] for r in rows})
    for key in table.index:
        mine = [k for k, r in enumerate(rows) if r[0] == key]
        assert table.loc[key, "grids"] == len(mine)
        assert math.isclose(table.loc[key, "area_m2"], math.fsum(area[mine]), rel_tol=1e-12)
        assert math.isclose(table.loc[key, "covered_m2"], math.fsum(covered[mine]), rel_tol=1e-12, abs_tol=1e-9)
        assert table.loc[key, "dead_corners"] == sum(rows[k][3] for k in mine)
        assert math.isclose(table.loc[key, "coverage_ratio"], math.fsum(covered[mine]) / math.fsum(area[mine]),
                            rel_tol=1e-9, abs_tol=1e-12)
    assert not table[["area_m2", "covered_m2", "uncovered_m2", "dead_corners"]].isna().any().any()


@given(st.integers(0, 2 ** 31), st.integers(0, 50))
def test_diagonals_are_the_lines_shapely_makes(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    lo = rng.uniform(-1e6, 5e6, (n, 2))
    hi = np.where(rng.random((n, 1)) < 0.3, lo, lo + rng.uniform(0, 100, (n, 2)))  # some of no length (a lone fix)
    got = _diagonals(lo, hi)
    expected = shapely.linestrings(np.stack([lo, hi], axis=1)) if n else np.empty(0, dtype=object)
    assert len(got) == n
    assert bool(np.all(shapely.equals_exact(got, expected, tolerance=0.0))) if n else True
    np.testing.assert_array_equal(shapely.bounds(got).reshape(-1, 4), np.hstack([lo, hi]).reshape(-1, 4))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 31), st.sampled_from([1.0, 3.75]), st.integers(1, 6))
def test_distances_from_boxes_around_far_apart_cells_are_the_brute_force_ones(seed: int, cell: float,
                                                                              clusters: int) -> None:
    # a few far-apart clusters of wanted cells (a grid nearly all covered: each gets its own box) and samples
    # (lone fixes) scattered over the raster: below the limit, each distance is the least over every sample
    rng = np.random.default_rng(seed)
    nj, ni, margin, limit = 150, 170, 12, 9.5 * cell
    fix = rng.uniform(0, [ni * cell, nj * cell], (int(rng.integers(1, 60)), 2))
    paths = _Paths(fix, fix.copy(), np.empty(0, dtype=object), np.empty(0, dtype=object), len(fix))
    samples = _Samples(paths, np.arange(len(fix)), 0, 0, ni, nj, cell)
    wanted = np.zeros((nj - 2 * margin, ni - 2 * margin), dtype=bool)
    for _ in range(clusters):
        r, c = rng.integers(0, wanted.shape[0] - 6), rng.integers(0, wanted.shape[1] - 6)
        wanted[r:r + 6, c:c + 6] |= rng.random((6, 6)) < 0.5
    if not wanted.any():
        return
    got = samples.distance(wanted, margin, limit)
    cells = np.floor(fix / cell)  # each sample's cell (column, row)
    rows, cols = np.nonzero(wanted)
    exact = np.sqrt(((cols[:, None] + margin - cells[None, :, 0]) * cell) ** 2
                    + ((rows[:, None] + margin - cells[None, :, 1]) * cell) ** 2).min(axis=1)
    near = exact < limit
    np.testing.assert_allclose(got[rows[near], cols[near]], exact[near], rtol=1e-12)
    assert np.all(got[rows[~near], cols[~near]] >= limit)
    assert np.all(np.isinf(got[~wanted]))


def test_a_grid_walked_all_over_but_for_far_apart_gaps_agrees_with_buffer_and_union(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # lines 25 m apart walked end to end (radius 30 m: the ground between them covered), two pairs of
    # neighbouring lines broken by gaps of 70 m far from each other: the unreached ground is two far-apart
    # lenses, so the distance transform is taken in a box around each (the path asserted), and the answer is
    # the vector one
    boxes_used = []
    real = _coverage_raster._transform_boxes

    def spy(*args: Any) -> tuple[list, int]:
        boxes, whole = real(*args)
        boxes_used.append(len(boxes))
        return boxes, whole

    monkeypatch.setattr(_coverage_raster, "_transform_boxes", spy)
    x0, y0 = 388_000.0, 4_240_000.0
    gaps = {3: (50.0, 120.0), 4: (50.0, 120.0), 28: (650.0, 720.0), 29: (650.0, 720.0)}
    rows, pieces = [], []
    for k in range(32):
        y = y0 + 12.5 + 25 * k
        xs = np.arange(x0 - 40, x0 + 841, 3.0)
        lo, hi = gaps.get(k, (np.inf, np.inf))
        xs = xs[(xs - x0 < lo) | (xs - x0 > hi)]
        rows += [{"inspector": f"巡查员{k}", "time": pd.Timestamp("2025-03-03 08:00", tz="Asia/Shanghai")
                  + pd.Timedelta(seconds=j), "x": x, "y": y} for j, x in enumerate(xs)]
        split = np.flatnonzero(np.diff(xs) > 3.5)
        for part in np.split(xs, split + 1):
            pieces.append(shapely.LineString([(part[0], y), (part[-1], y)]))
    frame = pd.DataFrame(rows)
    tracks = gpd.GeoDataFrame(frame[["inspector", "time"]], geometry=gpd.points_from_xy(frame["x"], frame["y"]),
                              crs="EPSG:4546")
    grid = box(x0, y0, x0 + 800, y0 + 800)
    grids = gpd.GeoDataFrame({"grid_code": ["G1"], "community_code": ["C1"]}, geometry=[grid], crs="EPSG:4546")
    result = sweep_coverage(grids, tracks, radius_m=30)
    reach = shapely.union_all(shapely.buffer(np.array(pieces, dtype=object), 30, quad_segs=64))
    exact = shapely.area(shapely.intersection(grid, reach))
    assert exact < grid.area - 500  # the gaps leave ground unreached
    assert abs(result.grids["covered_m2"].iloc[0] - exact) <= 0.0025 * grid.area
    assert max(boxes_used) > 1  # the boxes around the far-apart lenses, not one around them all


@given(st.lists(st.tuples(st.sampled_from(["甲", "乙", "丙"]), st.integers(0, 40)), max_size=40), st.booleans())
def test_fixes_are_sorted_and_repeats_dropped_as_python_does(rows: list[tuple[str, int]], presorted: bool) -> None:
    first_seen = {name: k for k, name in enumerate(dict.fromkeys(r[0] for r in rows))}
    if presorted:  # already in (inspector as first seen, time) order: the path without a sort
        rows = sorted(rows, key=lambda r: (first_seen[r[0]], r[1]))
        first_seen = {name: k for k, name in enumerate(dict.fromkeys(r[0] for r in rows))}
    xy = np.array([[float(k), float(-k)] for k in range(len(rows))]).reshape(-1, 2)
    t = np.array([r[1] for r in rows], dtype=np.int64) * 10 ** 9
    names = np.array([r[0] for r in rows], dtype=object)
    stats: dict = {}
    fixes = _sorted_unique(xy, t, names, stats)
    order = sorted(range(len(rows)), key=lambda k: (first_seen[rows[k][0]], rows[k][1]))  # stable
    kept, seen = [], set()
    for k in order:
        if (rows[k][0], rows[k][1]) not in seen:
            seen.add((rows[k][0], rows[k][1]))
            kept.append(k)
    assert list(fixes.inspector) == [rows[k][0] for k in kept]
    assert list(fixes.t) == [rows[k][1] * 10 ** 9 for k in kept]
    assert fixes.xy.tolist() == [[float(k), float(-k)] for k in kept]
    assert stats["duplicates"] == len(rows) - len(kept) and stats["fixes_used"] == len(kept)
