"""Tests pinning the quicker raster steps of sweep coverage (issue 16, one thread on the sample) to independent answers.

Each step computes the same numbers as before, in fewer or cheaper NumPy operations; each is checked here
against a direct computation of what it stands for:

- distances to the nearest sampled cell, computed only for the wanted cells from SciPy's feature transform:
  bit for bit SciPy's own distance transform, for any cell size;
- the cells of a mask from ``numpy.flatnonzero``: exactly ``numpy.nonzero``; the sampled cells near the
  band, their distances taken at the sampled cells only: a brute force over the band cells;
- the summed-area test and the distance of :class:`_Samples` on one raster of sampled cells: a brute force
  over every sampled cell;
- the cells a grid's edges cross, kept once per run of points: the distinct pairs of the full sampling;
- the inside test along rows, its parity summed in uint8: shapely's point-in-polygon at the cell centres, on a
  comb with more than 255 crossings per row (the sum wraps around; its parity does not);
- the sample points of the path pieces, gathered column by column: the points of the definition, piece by
  piece;
- the pieces near a grid, from contiguous columns: every piece whose box meets the box, by brute force.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from gridmap.analysis._coverage_region import _crossed_cells, _nonzero, _ring_edges, _scanline_inside
from gridmap.analysis._coverage_raster import (
    _feature_distance,
    _near_mask,
    _near_segments,
    _piece_samples,
    _Samples,
)
from gridmap.analysis._coverage_tracks import _Paths

CELLS = st.sampled_from([3.75, 0.5, 1.0, 2.9, 0.3, 1.7, 5.0])


def paths_of(a: np.ndarray, b: np.ndarray) -> _Paths:
    return _Paths(np.asarray(a, dtype=float), np.asarray(b, dtype=float), np.empty(0, dtype=object),
                  np.empty(0, dtype=object), len(a))


def masks(max_side: int = 40) -> st.SearchStrategy[np.ndarray]:
    return st.tuples(st.integers(1, max_side), st.integers(1, max_side), st.floats(0.0, 1.0),
                     st.integers(0, 2 ** 31)).map(
        lambda t: np.random.default_rng(t[3]).random((t[0], t[1])) < t[2])


@settings(max_examples=60, deadline=None)
@given(mask=masks(), cell=CELLS)
@example(mask=np.eye(7, dtype=bool), cell=0.3)
def test_distance_of_the_wanted_cells_is_scipys_distance_bit_for_bit(mask: np.ndarray, cell: float) -> None:
    free = ~mask
    if free.all():
        return
    want, nearest = ndimage.distance_transform_edt(free, sampling=cell, return_indices=True)
    rows, cols = np.nonzero(np.ones_like(free))
    got = _feature_distance(nearest, rows, cols, cell)
    np.testing.assert_array_equal(got, want[rows, cols])


@settings(max_examples=80, deadline=None)
@given(mask=masks(30))
@example(mask=np.zeros((0, 5), dtype=bool))
@example(mask=np.zeros((3, 0), dtype=bool))
@example(mask=np.ones((1, 1), dtype=bool))
def test_cells_of_a_mask_are_numpys_nonzero(mask: np.ndarray) -> None:
    rows, cols = _nonzero(mask)
    want_rows, want_cols = np.nonzero(mask)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(cols, want_cols)
    assert rows.dtype == want_rows.dtype and cols.dtype == want_cols.dtype


def random_pieces(seed: int, n: int, extent: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, extent, (n, 2))
    b = a + rng.normal(0, extent / 8, (n, 2)) * (rng.random((n, 1)) < 0.8)  # a fifth are isolated fixes
    order = np.argsort(a[:, 0], kind="stable")  # the canonical order starts at growing x
    return a[order], b[order]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 31), n=st.integers(1, 40), cell=st.sampled_from([1.0, 2.5, 3.75]))
def test_summed_area_test_and_distance_match_a_brute_force(seed: int, n: int, cell: float) -> None:
    a, b = random_pieces(seed, n, 60.0)
    paths = paths_of(a, b)
    margin, i0, j0, ni, nj = 3, 2, 1, 14, 11
    samples = _Samples(paths, np.arange(n), i0 - margin, j0 - margin, ni + 2 * margin, nj + 2 * margin, cell)
    # every sampled cell, from the definition: points every <= cell along each piece, both ends included
    cells = set()
    for pa, pb in zip(a, b):
        steps = max(math.ceil(math.hypot(*(pb - pa)) / cell), 1)
        for k in range(steps + 1):
            x, y = pa + (pb - pa) * (k / steps)
            c, r = math.floor(x / cell) - (i0 - margin), math.floor(y / cell) - (j0 - margin)
            if 0 <= c < ni + 2 * margin and 0 <= r < nj + 2 * margin:
                cells.add((r, c))
    occupied = np.zeros((nj + 2 * margin, ni + 2 * margin), dtype=bool)
    for r, c in cells:
        occupied[r, c] = True
    np.testing.assert_array_equal(samples.occupied, occupied)
    half = 1
    square = samples.in_square(margin, half)
    for r in range(nj):
        for c in range(ni):
            box = occupied[r + margin - half:r + margin + half + 1, c + margin - half:c + margin + half + 1]
            assert square[r, c] == box.any()
    wanted = np.random.default_rng(seed + 1).random((nj, ni)) < 0.5
    if not wanted.any():
        return
    limit = 3.2 * cell
    dist = samples.distance(wanted, margin, limit)
    occ_r, occ_c = np.nonzero(occupied)
    for r in range(nj):
        for c in range(ni):
            if not wanted[r, c]:
                assert dist[r, c] == np.inf
                continue
            brute = np.hypot((occ_r - r - margin) * cell, (occ_c - c - margin) * cell).min(initial=np.inf)
            if brute < limit:
                assert math.isclose(dist[r, c], brute, rel_tol=1e-12)  # exact below the limit
            else:
                assert dist[r, c] >= limit


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31), n=st.integers(3, 12), cell=CELLS)
def test_crossed_cells_are_the_distinct_pairs_of_the_full_sampling(seed: int, n: int, cell: float) -> None:
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(5, 40, n)
    ring = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)]) + 1000.0
    a, b = ring, np.roll(ring, -1, axis=0)
    cells, edge = _crossed_cells(a, b, cell)
    want = set()
    for k in range(len(a)):  # every cell/8 along each edge, both ends
        steps = max(math.ceil(math.hypot(*(b[k] - a[k])) / (cell / 8.0)), 1)
        for s in range(steps + 1):
            x, y = a[k] + (b[k] - a[k]) * (s / steps)
            want.add((math.floor(x / cell), math.floor(y / cell), k))
    got = {(int(i), int(j), int(e)) for (i, j), e in zip(cells, edge)}
    assert got == want


def test_inside_test_survives_more_than_255_crossings_a_row() -> None:
    cell = 1.0
    teeth = 300  # a comb: each row through the teeth crosses 600 edges
    comb = shapely.union_all([shapely.box(3 * k + 0.25, 0.25, 3 * k + 1.75, 50.25) for k in range(teeth)]
                             + [shapely.box(0.25, -10.25, 3 * teeth, 0.5)])
    a, b = _ring_edges(comb)
    ni, nj = 3 * teeth + 2, 64
    i0, j0 = -1, -12
    inside = _scanline_inside(a, b, i0, j0, ni, nj, cell)
    xs = (i0 + np.arange(ni) + 0.5) * cell
    ys = (j0 + np.arange(nj) + 0.5) * cell
    want = shapely.contains_xy(comb, *np.meshgrid(xs, ys))
    assert want.sum(axis=1).max() > 255
    np.testing.assert_array_equal(inside, want.astype(float))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31), n=st.integers(1, 30), cell=CELLS)
def test_sample_points_are_those_of_the_definition(seed: int, n: int, cell: float) -> None:
    a, b = random_pieces(seed, n, 40.0)
    gi, gj, start = _piece_samples(paths_of(a, b), cell)
    for k, (pa, pb) in enumerate(zip(a, b)):
        steps = max(math.ceil(math.hypot(*(pb - pa)) / cell), 1)
        assert start[k + 1] - start[k] == steps + 1
        frac = np.arange(steps + 1) / steps
        want_i = np.floor((pa[0] + (pb[0] - pa[0]) * frac) / cell)
        want_j = np.floor((pa[1] + (pb[1] - pa[1]) * frac) / cell)
        np.testing.assert_array_equal(gi[start[k]:start[k + 1]], want_i)
        np.testing.assert_array_equal(gj[start[k]:start[k + 1]], want_j)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31), n=st.integers(1, 60), box=st.tuples(*[st.floats(0, 100)] * 4))
def test_pieces_near_a_box_are_every_piece_whose_box_meets_it(seed: int, n: int,
                                                              box: tuple[float, float, float, float]) -> None:
    a, b = random_pieces(seed, n, 100.0)
    x0, x1 = sorted(box[:2])
    y0, y1 = sorted(box[2:])
    got = _near_segments(paths_of(a, b), x0, y0, x1, y1)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    want = [k for k in range(n) if lo[k, 0] <= x1 and hi[k, 0] >= x0 and lo[k, 1] <= y1 and hi[k, 1] >= y0]
    np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(mask=masks(25), where=masks(25), limit=st.sampled_from([0.5, 1.3, 2.37, 3.61, 9.9]))
@example(mask=np.zeros((4, 4), dtype=bool), where=np.ones((4, 4), dtype=bool), limit=1.3)
def test_cells_near_a_mask_are_those_within_the_limit_by_brute_force(mask: np.ndarray, where: np.ndarray,
                                                                     limit: float) -> None:
    shape = (min(mask.shape[0], where.shape[0]), min(mask.shape[1], where.shape[1]))
    mask, where = mask[:shape[0], :shape[1]], where[:shape[0], :shape[1]]
    got = _near_mask(mask, limit, where)
    mr, mc = np.nonzero(mask)
    for r in range(shape[0]):
        for c in range(shape[1]):
            near = bool(len(mr)) and float(np.hypot(mr - r, mc - c).min()) <= limit
            assert got[r, c] == (bool(where[r, c]) and near)
