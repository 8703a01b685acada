"""Tests of the point paths of gridmap.io.records.prepare: WGS84 points kept as they are, subdistrict by coordinates.

Points in EPSG:4326 of the WGS84 datum are stored without a second conversion, and the distance to
the subdistrict is checked on their coordinates in one pass; answers are checked against geodesic
distances (pyproj.Geod) and the input coordinates, for every datum and for points mixed with others.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Point, box

from gridmap.crs import from_wgs84
from gridmap.io.base import ReadResult, quarantine_frame
from gridmap.io.records import prepare

NOW = pd.Timestamp("2025-03-10 12:00", tz="Asia/Shanghai")
GEOD = Geod(ellps="WGS84")
SUB = box(109.70, 38.26, 109.76, 38.32)  # about 5.2 x 6.7 km near Yulin
LIMIT_KM = 5.0


def reports(points: list, crs: object = 4326) -> ReadResult:
    n = len(points)
    frame = gpd.GeoDataFrame({
        "report_id": [f"R{i}" for i in range(n)], "reported_at": ["2025-03-01 08:00"] * n,
        "category": ["垃圾乱倒"] * n, "_record": np.arange(1, n + 1),
    }, geometry=points, crs=crs)
    return ReadResult(frame, quarantine_frame(), "a.csv", "ab" * 8)


def east_of_box(km: float, lat: float) -> Point:
    """The point `km` geodesic kilometres east of the box's east edge, along the parallel `lat`."""
    lon, _, _ = GEOD.fwd(SUB.bounds[2], lat, 90.0, km * 1000.0)
    return Point(lon, lat)


@settings(max_examples=40, deadline=None)
@given(kms=st.lists(st.one_of(st.floats(0.0, 0.9 * LIMIT_KM), st.floats(1.1 * LIMIT_KM, 40.0)), min_size=1,
                    max_size=12),
       inside=st.integers(0, 3))
@example(kms=[4.4, 5.6], inside=0)
@example(kms=[0.0], inside=2)
def test_points_far_from_the_subdistrict_quarantined_by_geodesic_distance(kms: list[float], inside: int) -> None:
    points = [east_of_box(km, 38.29) for km in kms] + [Point(109.73, 38.29)] * inside
    batch = prepare("reports", reports(points), subdistrict=SUB, max_outside_km=LIMIT_KM, now=NOW)
    far = {i + 1 for i, km in enumerate(kms) if km > LIMIT_KM}
    assert set(batch.quarantine["record"]) == far
    assert set(batch.quarantine["reason"]) <= {"outside_subdistrict"}
    kept = [p for i, p in enumerate(points) if i + 1 not in far]
    got = shapely_xy(batch.accepted.geometry)
    assert got == [(p.x, p.y) for p in kept]  # stored exactly as given: WGS84 needs no conversion


def shapely_xy(geoms: gpd.GeoSeries) -> list[tuple[float, float]]:
    return [(g.x, g.y) for g in geoms]


def test_multipoint_target_checked_against_the_subdistrict_too() -> None:
    """Targets may be polygons: a mix of points and polygons takes the general path."""
    near, far, farther = east_of_box(2.0, 38.29), east_of_box(12.0, 38.29), east_of_box(13.0, 38.30)
    frame = gpd.GeoDataFrame({
        "target_id": ["T1", "T2", "T3", "T4"], "kind": ["garbage_point"] * 4, "name": ["a", "b", "c", "d"],
        "_record": [1, 2, 3, 4],
    }, geometry=[near, box(far.x, far.y, farther.x, farther.y), Point(109.73, 38.29), far], crs=4326)
    batch = prepare("targets", ReadResult(frame, quarantine_frame(), "t.csv", "ab" * 8), subdistrict=SUB,
                    max_outside_km=LIMIT_KM, now=NOW)
    assert batch.quarantine["record"].tolist() == [2, 4]
    assert batch.quarantine["reason"].tolist() == ["outside_subdistrict"] * 2


@pytest.mark.parametrize("datum", ["gcj02", "bd09"])
def test_other_datums_still_converted(datum: str) -> None:
    lon, lat = np.array([109.73, 109.74]), np.array([38.29, 38.30])
    src_lon, src_lat = from_wgs84(lon, lat, datum)
    batch = prepare("reports", reports([Point(x, y) for x, y in zip(src_lon, src_lat)]), coords=datum, now=NOW)
    got = np.array(shapely_xy(batch.accepted.geometry))
    assert np.abs(got[:, 0] - lon).max() < 1e-5 and np.abs(got[:, 1] - lat).max() < 1e-5
    assert np.abs(got[:, 0] - src_lon).max() > 1e-4  # converted, not kept


def test_projected_points_reprojected_to_wgs84() -> None:
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 4546, always_xy=True).transform(109.73, 38.29)
    batch = prepare("reports", reports([Point(x, y)], crs=4546), now=NOW)
    point = batch.accepted.geometry.iloc[0]
    assert abs(point.x - 109.73) < 1e-7 and abs(point.y - 38.29) < 1e-7
