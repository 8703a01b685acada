"""The R-tree packing's fast steps against the plain computations they replace.

The STR order (Leutenegger, Lopez & Edgington 1997) is pinned against a lexsort on
(slice, y centre, index) and the placement of leaf ids against a stable argsort.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

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
