"""Fast steps of the import (R-tree packing, coordinate checks) against the plain computations they replace.

The STR order (Leutenegger, Lopez & Edgington 1997) is pinned against a lexsort on
(slice, y centre, index) and the placement of leaf ids against a stable argsort.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gridmap.io._records_geometry as geometry
import gridmap.storage.gpkg._rtree as rtree


def _reference_str_order(boxes: np.ndarray, capacity: int) -> np.ndarray:
    count = len(boxes)
    slices = math.ceil(math.sqrt(math.ceil(count / capacity)))
    cx = boxes[:, 0].astype("float64") + boxes[:, 1]
    cy = boxes[:, 2].astype("float64") + boxes[:, 3]
    slice_of = np.empty(count, dtype=np.int64)
    slice_of[np.argsort(cx, kind="stable")] = np.arange(count) // (slices * capacity)
    return np.lexsort((cy, slice_of))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), capacity=st.integers(2, 60), grid=st.sampled_from([3, 50, 0]), seed=st.integers(0, 99))
@example(n=2601, capacity=51, grid=3, seed=0)  # many ties in both centres
def test_str_order_matches_lexsort(n: int, capacity: int, grid: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, grid, size=(n, 2)).astype("float32") if grid else rng.random((n, 2)).astype("float32")
    boxes = np.column_stack([xy[:, 0], xy[:, 0] + 0.5, xy[:, 1], xy[:, 1]]).astype("float32")
    got = rtree._str_order(boxes, capacity)
    np.testing.assert_array_equal(got, _reference_str_order(boxes, capacity))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 500), low=st.integers(1, 10**6), gap=st.booleans(), repeat=st.booleans(),
       seed=st.integers(0, 99))
@example(n=3, low=10, gap=False, repeat=True, seed=0)
def test_by_id_matches_stable_argsort(n: int, low: int, gap: bool, repeat: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(low, low + n, dtype=np.int64))
    if gap and n > 1:
        ids[ids == ids.max()] += 5
    if repeat and n > 2:
        ids[0] = ids[1]
    nodes = rng.integers(2, 1000, size=n).astype(np.int64)
    order = np.argsort(ids, kind="stable")
    got_ids, got_nodes = rtree._by_id(ids, nodes)
    np.testing.assert_array_equal(got_ids, ids[order])
    np.testing.assert_array_equal(got_nodes, nodes[order])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), seed=st.integers(0, 99), holes=st.booleans())
def test_vertex_columns_match_shapely_bounds(n: int, seed: int, holes: bool) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-200, 200, size=(n, 2))
    if holes:
        xy[rng.random(n) < 0.2, 0] = np.nan
    geoms = shapely.points(xy)
    present = np.ones(n, dtype=bool) if not holes else rng.random(n) < 0.8
    got_xy, index = shapely.get_coordinates(geoms[present], return_index=True)
    rows = np.flatnonzero(present)
    usable = present.copy()
    usable[rows[np.unique(index[~np.isfinite(got_xy).all(axis=1)])]] = False
    x, y = geometry._vertex_columns(got_xy, rows, usable, n)
    bounds = np.full((n, 4), np.nan)
    bounds[usable] = shapely.bounds(geoms[usable])
    np.testing.assert_array_equal(x, bounds[:, 0])
    np.testing.assert_array_equal(x, bounds[:, 2])
    np.testing.assert_array_equal(y, bounds[:, 1])
    np.testing.assert_array_equal(y, bounds[:, 3])
