"""Reports to the right person: attribute_reports against brute force and hand-made cases."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

import gridmap
from gridmap.analysis.attribution import attribute_reports
from gridmap.errors import SchemaError

# EPSG:4546 is the metric CRS gridmap chooses near Yulin (CM 111E): data given in it is measured as given
CRS = 4546
X0, Y0 = 500000.0, 4240000.0


def _grids() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"grid_code": ["G1", "G2"], "area_code": ["A1", None]},
                            geometry=[box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 100, Y0, X0 + 200, Y0 + 100)],
                            crs=CRS)


def _points(xy: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"report_id": [f"r{i}" for i in range(len(xy))]},
                            geometry=[Point(x, y) for x, y in xy], crs=CRS)


def _brute_street(point: Point, streets: list[LineString], names: list[str], limit: float) -> str | None:
    """Every street's shapely distance; the smallest within the limit, the first street at equal distance."""
    best, name = None, None
    for line, street in zip(streets, names):
        d = point.distance(line)
        if d <= limit and (best is None or d < best):
            best, name = d, street
    return name


def _value(v: object) -> object:
    return None if pd.isna(v) else v


coord = st.floats(min_value=0.0, max_value=200.0, allow_nan=False, allow_infinity=False).map(lambda v: round(v, 1))


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.tuples(coord, coord, coord, coord), min_size=1, max_size=6),
       pts=st.lists(st.tuples(coord, coord), min_size=1, max_size=25),
       limit=st.sampled_from([0.0, 5.0, 15.0, 40.0]))
@example(lines=[(0.0, 0.0, 100.0, 0.0), (0.0, 20.0, 100.0, 20.0)], pts=[(50.0, 10.0)], limit=15.0)  # a tie
@example(lines=[(0.0, 0.0, 0.0, 0.0)], pts=[(0.0, 0.0)], limit=0.0)  # a street of one point, a report on it
def test_street_is_nearest_within_distance_like_brute_force(lines, pts, limit):
    streets_geoms = [LineString([(X0 + a, Y0 + b), (X0 + c, Y0 + d)]) for a, b, c, d in lines]
    names = [f"S{i}" for i in range(len(lines))]
    streets = gpd.GeoDataFrame({"street_name": names}, geometry=streets_geoms, crs=CRS)
    reports = _points([(X0 + x, Y0 + y) for x, y in pts])
    out = attribute_reports(reports, grids=_grids(), streets=streets, street_distance_m=limit)
    expected = [_brute_street(p, streets_geoms, names, limit) for p in reports.geometry]
    assert [_value(v) for v in out["street_name"]] == expected


def test_exactly_at_the_distance_is_the_street_s_and_a_centimetre_more_is_not():
    streets = gpd.GeoDataFrame({"street_name": ["东街"]}, geometry=[LineString([(X0, Y0), (X0, Y0 + 100)])], crs=CRS)
    reports = _points([(X0 + 15.0, Y0 + 50), (X0 + 15.01, Y0 + 50), (X0 - 15.0, Y0 + 50)])
    out = attribute_reports(reports, grids=_grids(), streets=streets)
    assert [_value(v) for v in out["street_name"]] == ["东街", None, "东街"]


def test_equal_distance_goes_to_the_street_first_in_the_layer():
    lines = [LineString([(X0 + 60, Y0), (X0 + 60, Y0 + 100)]), LineString([(X0 + 40, Y0), (X0 + 40, Y0 + 100)])]
    for names in (["乙街", "甲街"], ["甲街", "乙街"]):
        streets = gpd.GeoDataFrame({"street_name": names}, geometry=lines, crs=CRS)
        out = attribute_reports(_points([(X0 + 50, Y0 + 50)]), grids=_grids(), streets=streets)
        assert out["street_name"].iloc[0] == names[0]


def test_area_by_grid_then_by_area_polygon():
    areas = gpd.GeoDataFrame({"area_code": ["P1", "P2"]},
                             geometry=[box(X0 + 150, Y0, X0 + 300, Y0 + 100), box(X0 - 100, Y0, X0 + 300, Y0 + 100)],
                             crs=CRS)
    # r0 in G1 (its grid names A1, though area P2 also holds it); r1 in G2 (no area_code) and in P1 and P2: P1
    # first; r2 in G2, only in P2; r3 outside every grid but in P1; r4 in nothing
    reports = _points([(X0 + 50, Y0 + 50), (X0 + 160, Y0 + 50), (X0 + 120, Y0 + 50), (X0 + 250, Y0 + 50),
                       (X0 + 500, Y0 + 50)])
    out = attribute_reports(reports, grids=_grids(), areas=areas)
    assert [_value(v) for v in out["grid_code"]] == ["G1", "G2", "G2", None, None]
    assert [_value(v) for v in out["area_code"]] == ["A1", "P1", "P2", "P1", None]
    no_areas = attribute_reports(reports, grids=_grids())
    assert [_value(v) for v in no_areas["area_code"]] == ["A1", None, None, None, None]
    assert no_areas["street_name"].isna().all()


def test_the_reports_own_grid_code_is_kept_as_the_scoreboard_counts_it():
    reports = _points([(X0 + 50, Y0 + 50), (X0 + 150, Y0 + 50)]).assign(grid_code=["G2", None])
    out = attribute_reports(reports, grids=_grids())
    assert [_value(v) for v in out["grid_code"]] == ["G2", None]
    # the area follows the report's grid (G2 names none)
    assert out["area_code"].isna().all()


def test_reports_in_another_crs_are_measured_in_metres():
    grids = _grids()
    streets = gpd.GeoDataFrame({"street_name": ["东街"]}, geometry=[LineString([(X0, Y0), (X0, Y0 + 100)])], crs=CRS)
    reports = _points([(X0 + 14.0, Y0 + 50), (X0 + 16.0, Y0 + 50)]).to_crs(4326)
    out = attribute_reports(reports, grids=grids.to_crs(4326), streets=streets.to_crs(4326))
    assert [_value(v) for v in out["street_name"]] == ["东街", None]
    assert out.crs.to_epsg() == 4326 and out.geometry.equals(reports.geometry)


def test_inputs_are_not_modified_and_the_index_is_kept():
    layers = gridmap.sample_layers(n_reports=300, track_days=1)
    reports = layers["reports"].iloc[::2]
    before = {name: layers[name].copy() for name in ("grids", "streets", "areas")}
    reports_before = reports.copy()
    out = attribute_reports(reports, grids=layers["grids"], streets=layers["streets"], areas=layers["areas"])
    pd.testing.assert_frame_equal(reports, reports_before)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(layers[name], frame)
    assert out.index.equals(reports.index)
    assert list(out.columns[: len(reports.columns)]) == list(reports.columns)


def test_sample_against_brute_force_in_the_metric_crs():
    layers = gridmap.sample_layers(n_reports=400, track_days=1)
    reports, streets, grids, areas = layers["reports"], layers["streets"], layers["grids"], layers["areas"]
    out = attribute_reports(reports, grids=grids, streets=streets, areas=areas)
    metric = gridmap.crs.metric_crs(grids)
    pts = list(reports.to_crs(metric).geometry)
    lines = list(streets.to_crs(metric).geometry)
    expected = [_brute_street(p, lines, list(streets["street_name"]), 15.0) for p in pts]
    assert [_value(v) for v in out["street_name"]] == expected
    assert any(e is not None for e in expected) and any(e is None for e in expected)
    of_grid = dict(zip(grids["grid_code"], grids["area_code"]))
    area_geoms = list(areas.to_crs(metric).geometry)
    for p, g, got in zip(pts, reports["grid_code"], out["area_code"]):
        want = of_grid.get(g) if isinstance(g, str) else None
        if want is None:
            want = next((c for c, a in zip(areas["area_code"], area_geoms) if a.intersects(p)), None)
        assert _value(got) == want


def test_bad_distance_and_missing_key_are_refused_with_the_flag():
    with pytest.raises(SchemaError, match="--street-distance"):
        attribute_reports(_points([(X0, Y0)]), grids=_grids(), street_distance_m=-1)
    with pytest.raises(SchemaError, match="street_name"):
        attribute_reports(_points([(X0, Y0)]), grids=_grids(), streets=gpd.GeoDataFrame(
            {"name": ["x"]}, geometry=[LineString([(X0, Y0), (X0, Y0 + 1)])], crs=CRS))


def test_empty_and_missing_geometries():
    streets = gpd.GeoDataFrame({"street_name": ["东街"]}, geometry=[LineString([(X0, Y0), (X0, Y0 + 100)])], crs=CRS)
    reports = gpd.GeoDataFrame({"report_id": ["a", "b", "c"]}, geometry=[None, Point(), Point(X0 + 1, Y0 + 1)],
                               crs=CRS)
    out = attribute_reports(reports, grids=_grids(), streets=streets)
    assert [_value(v) for v in out["street_name"]] == [None, None, "东街"]
    assert [_value(v) for v in out["grid_code"]] == [None, None, "G1"]
    empty = attribute_reports(reports.iloc[:0], grids=_grids(), streets=streets)
    assert len(empty) == 0 and {"grid_code", "street_name", "area_code"} <= set(empty.columns)


def test_many_reports_use_the_tree_not_a_python_loop():
    # 100k reports on the sample: the same answers as the brute force on a subset (speed is the benchmark's job)
    layers = gridmap.sample_layers(n_reports=50, track_days=1)
    grids, streets = layers["grids"], layers["streets"]
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = grids.total_bounds
    xy = rng.uniform([minx, miny], [maxx, maxy], size=(100_000, 2))
    reports = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=4326)
    out = attribute_reports(reports, grids=grids, streets=streets, areas=layers["areas"])
    metric = gridmap.crs.metric_crs(grids)
    some = rng.choice(len(reports), 200, replace=False)
    pts = list(reports.iloc[some].to_crs(metric).geometry)
    lines = list(streets.to_crs(metric).geometry)
    expected = [_brute_street(p, lines, list(streets["street_name"]), 15.0) for p in pts]
    assert [_value(v) for v in out["street_name"].iloc[some]] == expected
