"""Grid assignment by location (gridmap.io.records.prepare with grids=) against a brute-force search.

For every accepted report the expected grid is found point by point with shapely: the first grid, in the
order the grids are listed, that intersects the point (a point on a shared border, or in overlapping
grids, takes the grid listed first); a point in no grid gets no grid code.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from gridmap.io.base import ReadResult, quarantine_frame
from gridmap.io.records import prepare

NOW = pd.Timestamp("2025-03-10 12:00", tz="Asia/Shanghai")
X0, Y0, STEP = 109.70, 38.27, 0.01  # a lattice of 0.01-degree cells inside China

_CELL = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 2), st.integers(1, 2))  # col, row, w, h
_POINT = st.tuples(st.integers(0, 20), st.integers(0, 20))  # in quarter cells: 0, 4, 8, ... lie on grid lines


def _expected(points: list[Point], grids: list) -> list[object]:
    out: list[object] = []
    for p in points:
        hit = next((i for i, g in enumerate(grids) if g.intersects(p)), None)
        out.append(None if hit is None else f"G{hit}")
    return out


@settings(max_examples=60, deadline=None)
@given(cells=st.lists(_CELL, min_size=1, max_size=6), spots=st.lists(_POINT, min_size=1, max_size=25))
@example(cells=[(1, 0, 1, 1), (0, 0, 1, 1)], spots=[(4, 2), (2, 2), (6, 2), (20, 20)])  # shared border: first listed
@example(cells=[(0, 0, 2, 2), (0, 0, 1, 1), (0, 0, 2, 2)], spots=[(1, 1), (0, 0), (8, 8)])  # overlaps, duplicates
def test_each_report_gets_the_first_listed_grid_holding_it(cells, spots):
    grids = [box(X0 + c * STEP, Y0 + r * STEP, X0 + (c + w) * STEP, Y0 + (r + h) * STEP) for c, r, w, h in cells]
    points = [Point(X0 + i * STEP / 4, Y0 + j * STEP / 4) for i, j in spots]
    records = gpd.GeoDataFrame({
        "编号": [f"R{k}" for k in range(len(points))], "上报时间": "2025-03-01 08:00", "类别": "垃圾乱倒",
        "_record": np.arange(1, len(points) + 1)}, geometry=points, crs=4326)
    grid_frame = gpd.GeoDataFrame({"grid_code": [f"G{i}" for i in range(len(grids))]}, geometry=grids, crs=4326)
    result = ReadResult(records, quarantine_frame(), "t.csv", "ab" * 8, coords="wgs84")
    batch = prepare("reports", result, grids=grid_frame, now=NOW)
    assert len(batch.accepted) == len(points) and len(batch.quarantine) == 0
    got = [None if pd.isna(v) else v for v in batch.accepted["grid_code"]]
    assert got == _expected(points, grids)
