"""Street coverage and the area roll-up of gridmap.analysis.coverage: exact answers by hand (closed forms), a
bracket by shapely's buffers (Hypothesis), dead stretches by hand, unknown coverage, roll-ups by hand, Dask."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiLineString, Point, box

from _dask_cluster import dask_cluster  # noqa: F401  (the module-scoped fixture)

from gridmap.analysis.coverage import sweep_coverage
from gridmap.errors import CRSError, SchemaError
from gridmap.sample import sample_boundaries, sample_tracks

CRS = "EPSG:4546"  # CGCS2000 Gauss-Kruger CM 111E, the metric CRS near Yulin
X0, Y0 = 388_000.0, 4_240_000.0
T0 = pd.Timestamp("2025-03-03 08:00", tz="Asia/Shanghai")
R = 30.0


def grids_frame(n: int = 1, *, area_codes: list[str] | None = None) -> gpd.GeoDataFrame:
    polys = [box(X0 + 500 * k, Y0 - 200, X0 + 500 * k + 400, Y0 + 200) for k in range(n)]
    frame = gpd.GeoDataFrame({"grid_code": [f"G{k:03d}" for k in range(n)], "community_code": ["C1"] * n,
                              "cadre": [f"干部{k}" for k in range(n)]}, geometry=polys, crs=CRS)
    if area_codes is not None:
        frame["area_code"] = area_codes
    return frame


def streets_frame(lines: list, names: list[str] | None = None, chiefs: list[str] | None = None,
                  crs: str | None = CRS) -> gpd.GeoDataFrame:
    n = len(lines)
    return gpd.GeoDataFrame({"street_name": names or [f"路{k}" for k in range(n)],
                             "street_chief": chiefs or [f"街长{k}" for k in range(n)]}, geometry=lines, crs=crs)


def walk(xy: np.ndarray, inspector: str = "张三", step_s: float = 5.0, t0: pd.Timestamp = T0) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    times = t0 + pd.to_timedelta(np.arange(len(xy)) * step_s, unit="s")
    return gpd.GeoDataFrame({"inspector": [inspector] * len(xy), "time": times}, geometry=shapely.points(xy), crs=CRS)


def straight(x_from: float, x_to: float, y: float, spacing: float = 6.0, **kw: object) -> gpd.GeoDataFrame:
    n = int(round(abs(x_to - x_from) / spacing)) + 1
    return walk(np.column_stack([np.linspace(x_from, x_to, n), np.full(n, y)]), **kw)  # type: ignore[arg-type]


def lone_fixes(points: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    """One fix per inspector: each an isolated fix, a disc of radius R."""
    return pd.concat([walk(np.array(p), inspector=f"巡查{k}") for k, p in enumerate(points)], ignore_index=True)


def street_400(vertices: int = 2) -> gpd.GeoDataFrame:
    """A straight street of 400 m along y = Y0 from X0 (collinear vertices every 400/(vertices-1) m)."""
    xs = np.linspace(X0, X0 + 400, vertices)
    return streets_frame([LineString(np.column_stack([xs, np.full(vertices, Y0)]))])


def run(tracks: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, **kw: object):  # type: ignore[no-untyped-def]
    return sweep_coverage(grids_frame(), tracks, radius_m=R, streets=streets, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# exact answers by hand
# ---------------------------------------------------------------------------------------------------------------


def test_a_path_along_half_of_a_400_m_street_reads_50_percent() -> None:
    # the path starts 50 m before the street and stops R short of its middle: the reach ends exactly at 200 m
    result = run(straight(X0 - 50, X0 + 200 - R, Y0, spacing=5.0), street_400())
    row = result.streets.iloc[0]
    assert abs(row["length_m"] - 400.0) < 1e-6
    assert abs(row["covered_m"] - 200.0) <= 0.001 * 400  # the bound; in fact
    assert abs(row["covered_m"] - 200.0) < 1e-6
    assert abs(row["coverage_ratio"] - 0.5) < 1e-9


@pytest.mark.parametrize("d", [0.0, 10.0, 29.0])
def test_a_path_ending_at_the_middle_reaches_the_cap_beyond_its_end(d: float) -> None:
    # a path at distance d from the street from before its start to its middle: the reach's round cap crosses
    # the street sqrt(R² − d²) beyond the path's end
    result = run(straight(X0 - 60, X0 + 200, Y0 + d), street_400(vertices=9))
    expected = 200.0 + math.sqrt(R * R - d * d)
    assert abs(result.streets["covered_m"].iloc[0] - expected) < 1e-6


@settings(max_examples=25, deadline=None)
@given(d=st.floats(0.0, 60.0).filter(lambda d: abs(d - R) > 1e-6))
@example(d=R - 0.01)
@example(d=R + 0.01)
def test_a_parallel_path_covers_all_within_the_radius_and_nothing_beyond(d: float) -> None:
    result = run(straight(X0 - 60, X0 + 460, Y0 + d), street_400(vertices=5))
    covered = result.streets["covered_m"].iloc[0]
    assert covered == pytest.approx(400.0 if d < R else 0.0, abs=1e-6)
    assert int(result.streets["dead_stretches"].iloc[0]) == (0 if d < R else 1)


@settings(max_examples=25, deadline=None)
@given(h=st.floats(0.0, 29.9), angle=st.floats(0.0, math.pi))
def test_a_street_crossing_a_lone_fix_s_reach_gives_the_exact_chord(h: float, angle: float) -> None:
    # the street passes at distance h from the fix, in any direction: the chord of the disc is 2·sqrt(R² − h²)
    c = np.array([X0 + 200, Y0])
    u = np.array([math.cos(angle), math.sin(angle)])
    n = np.array([-u[1], u[0]])
    middle = c + h * n
    street = LineString([middle - 150 * u, middle + 150 * u])
    result = run(lone_fixes([(c[0], c[1])]), streets_frame([street]))
    assert abs(result.streets["covered_m"].iloc[0] - 2 * math.sqrt(R * R - h * h)) < 1e-6


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.2, math.pi - 0.2), offset=st.floats(-40.0, 40.0))
@example(alpha=0.25, offset=0.0)  # a street shorter than the chord once made this fail (a test bug)
@example(alpha=0.2, offset=40.0)
def test_a_street_crossing_a_straight_path_at_an_angle_gives_2r_over_sin(alpha: float, offset: float) -> None:
    # the path runs along y = Y0 over 600 m; the street crosses it at angle alpha away from the path's ends:
    # the reach there is a strip of half-width R, cut by the street in a chord of 2R / sin(alpha)
    crossing = np.array([X0 + 200 + offset, Y0])
    u = np.array([math.cos(alpha), math.sin(alpha)])
    street = LineString([crossing - 200 * u, crossing + 200 * u])  # longer than the chord, 2R / sin(0.2) = 302 m
    result = run(straight(X0 - 100, X0 + 500, Y0), streets_frame([street]))
    assert abs(result.streets["covered_m"].iloc[0] - 2 * R / math.sin(alpha)) < 1e-6


# ---------------------------------------------------------------------------------------------------------------
# against shapely's buffers
# ---------------------------------------------------------------------------------------------------------------

QUAD = 64
# shapely's buffer with QUAD segments a quarter circle has its vertices on the circle of the radius given and
# straight sides at exactly that distance: the buffer of R lies inside the true reach of R, and the buffer of
# R / cos(pi / (4·QUAD)) (its chords at least R from the centre) holds the true reach: a bracket.
R_OUT = R / math.cos(math.pi / (4 * QUAD))

coordinate = st.floats(0.0, 200.0, allow_nan=False)
points = st.lists(st.tuples(coordinate, coordinate), min_size=1, max_size=5)


def shapely_covered(street: LineString, pieces: list, radius: float) -> float:
    """Segment by segment (a street doubling back counts each pass, as its length does)."""
    union = shapely.union_all([p.buffer(radius, quad_segs=QUAD) for p in pieces])
    xy = shapely.get_coordinates(street)
    return sum(float(LineString(xy[k:k + 2]).intersection(union).length) for k in range(len(xy) - 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(street_xy=st.lists(st.tuples(coordinate, coordinate), min_size=2, max_size=4), path=points,
       lone=st.lists(st.tuples(coordinate, coordinate), max_size=3))
@example(street_xy=[(0.0, 0.0), (200.0, 0.0)], path=[(0.0, 30.0), (200.0, 30.0)], lone=[])
@example(street_xy=[(0.0, 0.0), (0.0, 0.0), (100.0, 0.0)], path=[(50.0, 0.0)], lone=[(50.0, 0.0)])
@example(street_xy=[(0.0, 0.0), (0.0, 1.0), (0.0, 0.0)], path=[(0.0, 0.0)], lone=[])  # doubling back: twice
def test_covered_length_lies_between_shapely_buffers_inside_and_around_the_reach(street_xy, path, lone) -> None:
    # type: ignore[no-untyped-def]
    street = LineString([(X0 + x, Y0 + y) for x, y in street_xy])
    path_xy = np.array([(X0 + x, Y0 + y) for x, y in path])
    lone_xy = [(X0 + x, Y0 + y) for x, y in lone]
    tracks = pd.concat([walk(path_xy, step_s=60.0)] + ([lone_fixes(lone_xy)] if lone_xy else []),
                       ignore_index=True)
    far_grid = gpd.GeoDataFrame({"grid_code": ["G"], "community_code": ["C"]},
                                geometry=[box(X0 + 5000, Y0, X0 + 5010, Y0 + 10)], crs=CRS)  # quick: nobody near
    result = sweep_coverage(far_grid, tracks, radius_m=R, streets=streets_frame([street]), max_gap_s=3600,
                            max_speed_mps=100)
    pieces: list = [LineString(path_xy[k:k + 2]) if not np.array_equal(path_xy[k], path_xy[k + 1])
                    else Point(path_xy[k]) for k in range(len(path_xy) - 1)]
    pieces += [Point(p) for p in ([path_xy[0]] if len(path_xy) == 1 else []) + lone_xy]
    covered = result.streets["covered_m"].iloc[0]
    assert shapely_covered(street, pieces, R) - 1e-6 <= covered <= shapely_covered(street, pieces, R_OUT) + 1e-6
    assert abs(result.streets["length_m"].iloc[0] - street.length) < 1e-6


# ---------------------------------------------------------------------------------------------------------------
# dead stretches
# ---------------------------------------------------------------------------------------------------------------


def test_dead_stretches_by_hand_joined_across_vertices_longest_first() -> None:
    # discs at x = 100, 130 (together [70, 160]), 300 ([270, 330]) and 385 ([355, 400]) on a 400 m street with a
    # vertex every 50 m: unreached [0, 70], [160, 270], [330, 355]; with a minimum of 30 m the 25 m one is left out
    street = street_400(vertices=9)
    result = run(lone_fixes([(X0 + 100, Y0), (X0 + 130, Y0), (X0 + 300, Y0), (X0 + 385, Y0)]), street,
                 min_dead_stretch_m=30)
    dead = result.dead_stretches
    assert list(dead["stretch_id"]) == ["路0-01", "路0-02"]
    np.testing.assert_allclose(dead["length_m"], [110.0, 70.0], atol=1e-6)
    metric = dead.to_crs(CRS)
    ends = [shapely.get_coordinates(g)[[0, -1]] for g in metric.geometry]
    np.testing.assert_allclose(ends[0], [[X0 + 160, Y0], [X0 + 270, Y0]], atol=1e-4)
    np.testing.assert_allclose(ends[1], [[X0, Y0], [X0 + 70, Y0]], atol=1e-4)
    assert metric.geometry.iloc[0].geom_type == "LineString"  # one line across the vertices at 200 and 250 m
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(X0 + 215, Y0)
    assert dead["lon"].iloc[0] == pytest.approx(lon, abs=1e-7) and dead["lat"].iloc[0] == pytest.approx(lat, abs=1e-7)
    # GCJ-02 is WGS84 shifted by a few hundred metres at most in China
    assert 0 < abs(dead["lon_gcj02"].iloc[0] - lon) + abs(dead["lat_gcj02"].iloc[0] - lat) < 0.01
    row = result.streets.iloc[0]
    assert row["covered_m"] == pytest.approx(90 + 60 + 45, abs=1e-6) and int(row["dead_stretches"]) == 2
    # the identity of the brief: dead = length − covered − the unreached pieces shorter than the minimum
    assert dead["length_m"].sum() == pytest.approx(row["length_m"] - row["covered_m"] - 25.0, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(xs=st.lists(st.floats(-40.0, 440.0), min_size=1, max_size=6), minimum=st.floats(1.0, 80.0))
def test_dead_stretches_are_the_unreached_pieces_of_at_least_the_minimum(xs: list[float], minimum: float) -> None:
    # discs centred on a straight street: the unreached pieces are the gaps between the intervals [x − R, x + R]
    # on [0, 400], computed here by hand
    covered = sorted((max(x - R, 0.0), min(x + R, 400.0)) for x in xs if x - R < 400 and x + R > 0)
    gaps, at = [], 0.0
    for lo, hi in covered:
        if lo > at:
            gaps.append(lo - at)
        at = max(at, hi)
    if at < 400:
        gaps.append(400 - at)
    result = run(lone_fixes([(X0 + x, Y0) for x in xs]), street_400(vertices=5), min_dead_stretch_m=minimum)
    assume(all(abs(g - minimum) > 1e-6 for g in gaps))  # a gap of the minimum's length may fall either way
    kept = sorted((g for g in gaps if g >= minimum), reverse=True)
    np.testing.assert_allclose(result.dead_stretches["length_m"].to_numpy(), kept, atol=1e-6)
    assert int(result.streets["dead_stretches"].iloc[0]) == len(kept)
    assert result.streets["covered_m"].iloc[0] == pytest.approx(400 - sum(gaps), abs=1e-6)


def test_a_ring_road_s_dead_stretch_runs_on_through_its_start_point() -> None:
    # a closed square street of 4 × 100 m starting at its corner (0, 0); a lone fix at the middle of the top side
    # reaches 20..80 m of it: the rest, 340 m, is one stretch from (20, 100) round through (0, 0) to (80, 100),
    # its middle 170 m along, at (50, 0)
    ring = LineString([(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 100), (X0, Y0 + 100), (X0, Y0)])
    result = run(lone_fixes([(X0 + 50, Y0 + 100)]), streets_frame([ring]))
    dead = result.dead_stretches
    assert len(dead) == 1 and dead["length_m"].iloc[0] == pytest.approx(340.0, abs=1e-6)
    line = dead.to_crs(CRS).geometry.iloc[0]
    np.testing.assert_allclose(shapely.get_coordinates(line)[[0, -1]], [[X0 + 20, Y0 + 100], [X0 + 80, Y0 + 100]],
                               atol=1e-4)
    assert line.length == pytest.approx(340.0, abs=1e-4)
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(X0 + 50, Y0)
    assert dead["lon"].iloc[0] == pytest.approx(lon, abs=1e-7) and dead["lat"].iloc[0] == pytest.approx(lat, abs=1e-7)
    assert int(result.streets["dead_stretches"].iloc[0]) == 1


def test_a_multilinestring_street_outside_every_grid_counts_and_its_parts_do_not_join() -> None:
    far = X0 + 5000  # far from the one grid
    street = MultiLineString([[(far, Y0), (far + 100, Y0)], [(far + 100, Y0), (far + 200, Y0)]])
    result = run(lone_fixes([(far + 100, Y0)]), streets_frame([street]), min_dead_stretch_m=1)
    assert result.streets["length_m"].iloc[0] == pytest.approx(200.0)
    assert result.streets["covered_m"].iloc[0] == pytest.approx(60.0, abs=1e-6)
    np.testing.assert_allclose(result.dead_stretches["length_m"], [70.0, 70.0], atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# unknown coverage, roll-ups, bad input, files
# ---------------------------------------------------------------------------------------------------------------


def test_unknown_coverage_is_nan_not_zero() -> None:
    streets = street_400()
    result = run(straight(X0, X0 + 400, Y0), streets, start="2024-01-01", end="2024-01-02")
    assert result.stats["coverage_known"] is False
    row = result.streets.iloc[0]
    assert row["length_m"] == pytest.approx(400.0)
    assert math.isnan(row["covered_m"]) and math.isnan(row["coverage_ratio"]) and row["dead_stretches"] is pd.NA
    assert len(result.dead_stretches) == 0 and "stretch_id" in result.dead_stretches.columns
    assert math.isnan(result.by_street_chief["covered_m"].iloc[0])
    assert result.by_street_chief["dead_stretches"].isna().all()


def test_a_street_nobody_walked_is_a_real_zero_with_one_dead_stretch() -> None:
    result = run(straight(X0, X0 + 100, Y0 + 150), street_400())
    assert result.streets["covered_m"].iloc[0] == 0.0 and result.streets["coverage_ratio"].iloc[0] == 0.0
    assert list(result.dead_stretches["stretch_id"]) == ["路0-01"]


def test_by_street_chief_and_by_area_against_hand_sums() -> None:
    streets = streets_frame([LineString([(X0, Y0), (X0 + 400, Y0)]), LineString([(X0, Y0 + 100), (X0 + 100, Y0 + 100)]),
                             LineString([(X0 + 500, Y0), (X0 + 900, Y0)])], chiefs=["甲", "甲", "乙"])
    grids = grids_frame(3, area_codes=["A1", "A1", "A2"])
    areas = pd.DataFrame({"area_code": ["A1", "A2"], "name": ["北片区", "南片区"], "leader": ["刘强", "霍红梅"]})
    tracks = straight(X0 - 50, X0 + 200 - R, Y0)
    result = sweep_coverage(grids, tracks, radius_m=R, streets=streets, areas=areas)
    chief = result.by_street_chief.set_index("street_chief")
    # street 0: 200 m; street 1 (100 m away from the path): 0; street 2: 0
    assert chief.loc["甲", "streets"] == 2 and chief.loc["甲", "length_m"] == pytest.approx(500.0)
    assert chief.loc["甲", "covered_m"] == pytest.approx(200.0, abs=1e-6)
    assert chief.loc["甲", "coverage_ratio"] == pytest.approx(0.4, abs=1e-9)
    assert chief.loc["乙", "covered_m"] == 0.0 and chief.loc["乙", "dead_stretches"] == 1
    g = result.grids
    area = result.by_area.set_index("area_code")
    for code in ("A1", "A2"):
        mine = g[g["area_code"] == code]
        assert area.loc[code, "grids"] == len(mine)
        assert area.loc[code, "area_m2"] == pytest.approx(mine["area_m2"].sum())
        assert area.loc[code, "covered_m2"] == pytest.approx(mine["covered_m2"].sum())
        assert area.loc[code, "coverage_ratio"] == pytest.approx(mine["covered_m2"].sum() / mine["area_m2"].sum())
        assert area.loc[code, "dead_corners"] == mine["dead_corners"].sum()
    assert area.loc["A1", "name"] == "北片区" and area.loc["A2", "leader"] == "霍红梅"
    assert list(result.by_area.columns) == ["area_code", "name", "leader", "grids", "area_m2", "covered_m2",
                                            "uncovered_m2", "coverage_ratio", "dead_corners"]


def test_by_area_without_areas_has_no_names_and_without_area_codes_is_empty() -> None:
    result = sweep_coverage(grids_frame(2, area_codes=["A1", "A2"]), straight(X0, X0 + 100, Y0), radius_m=R)
    assert result.streets is None and result.dead_stretches is None and result.by_street_chief is None
    assert result.by_area["name"].isna().all() and len(result.by_area) == 2
    empty = sweep_coverage(grids_frame(1), straight(X0, X0 + 100, Y0), radius_m=R).by_area
    assert len(empty) == 0 and "leader" in empty.columns


def test_bad_streets_and_options_are_clear_errors() -> None:
    tracks = straight(X0, X0 + 100, Y0)
    with pytest.raises(CRSError, match="streets"):
        run(tracks, streets_frame([LineString([(X0, Y0), (X0 + 1, Y0)])], crs=None))
    with pytest.raises(SchemaError, match="not lines"):
        run(tracks, streets_frame([box(X0, Y0, X0 + 10, Y0 + 10)]))
    with pytest.raises(SchemaError, match="street_name"):
        run(tracks, street_400().drop(columns="street_name"))
    for bad in (0, -5, float("nan"), "x"):
        with pytest.raises(SchemaError, match="min_dead_stretch_m"):
            run(tracks, street_400(), min_dead_stretch_m=bad)


def test_empty_and_missing_street_geometries_have_length_zero_and_no_ratio() -> None:
    streets = streets_frame([LineString(), None, LineString([(X0, Y0), (X0 + 400, Y0)])])
    result = run(straight(X0, X0 + 400, Y0), streets)
    np.testing.assert_allclose(result.streets["length_m"], [0.0, 0.0, 400.0])
    assert result.streets["coverage_ratio"].isna().tolist() == [True, True, False]


def test_an_empty_streets_frame_gives_empty_tables_with_their_columns() -> None:
    result = run(straight(X0, X0 + 100, Y0), street_400().iloc[:0])
    assert len(result.streets) == 0 and len(result.dead_stretches) == 0 and len(result.by_street_chief) == 0
    assert result.streets["length_m"].dtype == float and result.streets["covered_m"].dtype == float
    assert list(result.by_street_chief.columns) == ["street_chief", "streets", "length_m", "covered_m",
                                                    "coverage_ratio", "dead_stretches"]


def test_streets_csv_and_dead_stretches_geojson(tmp_path: Path) -> None:
    result = run(lone_fixes([(X0 + 200, Y0)]), street_400(), min_dead_stretch_m=20)
    csv_path = result.streets_to_csv(tmp_path / "streets.csv")
    assert csv_path.read_bytes()[:3] == b"\xef\xbb\xbf"
    table = pd.read_csv(csv_path, encoding="utf-8-sig")
    assert list(table.columns) == ["street_name", "street_chief", "length_m", "covered_m", "coverage_ratio",
                                   "dead_stretches"]
    assert table["covered_m"].iloc[0] == pytest.approx(60.0, abs=1e-6)
    geo = json.loads(result.dead_stretches_geojson(tmp_path / "dead.geojson").read_text(encoding="utf-8"))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 2
    assert geo["features"][0]["properties"]["stretch_id"] == "路0-01"
    assert geo["features"][0]["geometry"]["type"] == "LineString"
    assert geo["features"][0]["properties"]["length_m"] == pytest.approx(170.0, abs=1e-6)
    without = sweep_coverage(grids_frame(), straight(X0, X0 + 100, Y0), radius_m=R)
    with pytest.raises(SchemaError, match="streets="):
        without.streets_to_csv(tmp_path / "none.csv")


# ---------------------------------------------------------------------------------------------------------------
# Dask gives the in-memory answer
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> tuple[dict, gpd.GeoDataFrame]:
    b = sample_boundaries()
    return b, sample_tracks(b, n_fixes=3000, days=2)


def assert_same_streets(memory, other) -> None:  # type: ignore[no-untyped-def]
    a, b = memory.streets, other.streets
    np.testing.assert_allclose(b["covered_m"], a["covered_m"], rtol=0, atol=1e-9 * a["length_m"].max())
    assert (b["dead_stretches"] == a["dead_stretches"]).all()
    assert list(b["street_name"]) == list(a["street_name"])
    assert list(other.dead_stretches["stretch_id"]) == list(memory.dead_stretches["stretch_id"])
    np.testing.assert_allclose(other.dead_stretches["length_m"], memory.dead_stretches["length_m"], atol=1e-6)
    pd.testing.assert_frame_equal(other.by_area, memory.by_area)


def test_dask_partitions_give_the_in_memory_street_coverage(sample) -> None:  # type: ignore[no-untyped-def]
    import dask
    import dask.dataframe as dd

    b, tracks = sample
    memory = sweep_coverage(b["grids"], tracks, streets=b["streets"], areas=b["areas"])
    assert memory.streets["coverage_ratio"].between(0, 1).all() and memory.streets["covered_m"].gt(0).all()
    frame = dd.from_pandas(tracks.sort_values("time", kind="stable").reset_index(drop=True), npartitions=3,
                           sort=False)
    with dask.config.set(scheduler="threads"):
        result = sweep_coverage(b["grids"], frame, streets=b["streets"], areas=b["areas"])
    assert_same_streets(memory, result)


def test_a_distributed_cluster_gives_the_in_memory_street_coverage(sample) -> None:  # type: ignore[no-untyped-def]
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    b, tracks = sample
    memory = sweep_coverage(b["grids"], tracks, streets=b["streets"])
    frame = dd.from_pandas(tracks.sort_values("time", kind="stable").reset_index(drop=True), npartitions=2,
                           sort=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster):
        result = sweep_coverage(b["grids"], frame, streets=b["streets"])
    assert_same_streets(memory, result)


@pytest.mark.dask_cluster
def test_a_real_cluster_of_worker_processes_gives_the_in_memory_street_coverage(  # type: ignore[no-untyped-def]
        sample, dask_cluster) -> None:  # noqa: F811
    import dask.dataframe as dd

    import gridmap

    b, tracks = sample
    memory = sweep_coverage(b["grids"], tracks, streets=b["streets"], areas=b["areas"])
    frame = dd.from_pandas(tracks.sort_values("time", kind="stable").reset_index(drop=True), npartitions=2,
                           sort=False)
    with gridmap.dask_scheduler(dask_cluster.address):
        result = sweep_coverage(b["grids"], frame, streets=b["streets"], areas=b["areas"])
    assert_same_streets(memory, result)


def test_an_archive_reads_the_fixes_near_the_streets_too(tmp_path: Path) -> None:
    import dask

    import gridmap
    from gridmap.archive import archive_layer

    with gridmap.init_workspace(tmp_path / "w.gpkg", sample=True) as ws:
        archive_layer(ws, tmp_path / "a", start="2025-03-03", end="2025-03-04")
        grids, streets = ws.read_layer("grids"), ws.read_layer("streets")
        window = ws.read_window("tracks", start="2025-03-03", end="2025-03-04")
    memory = sweep_coverage(grids, window, streets=streets, start="2025-03-03", end="2025-03-04")
    with dask.config.set(scheduler="synchronous"):
        result = sweep_coverage(grids, tmp_path / "a", streets=streets, start="2025-03-03", end="2025-03-04")
    assert_same_streets(memory, result)


# ---------------------------------------------------------------------------------------------------------------
# gridmap coverage on the sample workspace
# ---------------------------------------------------------------------------------------------------------------

WEEK = ["--from", "2025-03-03", "--to", "2025-03-10"]


def floor_percent(part: float, whole: float) -> str:
    """A share as a person must read it, computed here from scratch: floor to 0.1 %."""
    return f"{math.floor(1000 * part / whole + 1e-9) / 10:.1f} %"


def test_cli_prints_street_and_area_lines_and_writes_the_street_files(sample_template: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from gridmap.cli import main

    files = {k: tmp_path / k for k in ("grids.csv", "streets.csv", "dead.geojson")}
    capsys.readouterr()
    assert main(["coverage", str(sample_template), *WEEK, "--quiet", "--csv", str(files["grids.csv"]),
                 "--streets-csv", str(files["streets.csv"]), "--dead-stretches", str(files["dead.geojson"])]) == 0
    text = capsys.readouterr().out
    streets = pd.read_csv(files["streets.csv"], encoding="utf-8-sig")
    layer = gpd.read_file(sample_template, layer="streets")
    assert list(streets["street_name"]) == list(layer["street_name"])
    metric = layer.to_crs(CRS)
    np.testing.assert_allclose(streets["length_m"], metric.length, rtol=1e-3)  # another metric CRS: near
    assert (streets["covered_m"] <= streets["length_m"] + 1e-6).all()
    features = json.loads(files["dead.geojson"].read_text(encoding="utf-8"))["features"]
    assert len(features) == streets["dead_stretches"].sum()
    assert all(f["properties"]["length_m"] >= 20 for f in features)
    covered, length = streets["covered_m"].sum(), streets["length_m"].sum()
    assert (f"street coverage: {len(layer)} streets, swept {covered:.0f} of {length:.0f} m"
            f" ({floor_percent(covered, length)}); dead stretches: {len(features)}") in text
    grids = pd.read_csv(files["grids.csv"], encoding="utf-8-sig", dtype={"area_code": str})
    areas = gpd.read_file(sample_template, layer="areas")
    assert "areas (leaders):" in text
    for area in areas.itertuples():
        mine = grids[grids["area_code"] == area.area_code]
        share = floor_percent(mine["covered_m2"].sum(), mine["area_m2"].sum())
        line = next(t for t in text.splitlines() if f"({area.area_code})" in t)
        assert area.name in line and share in line and f"{len(mine)} grids" in line
        assert area.leader not in line and area.leader[0] + "*" in line  # masked as on shared pages


def test_cli_in_english_without_redaction_and_without_streets(sample_template: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from gridmap.cli import main

    capsys.readouterr()
    assert main(["coverage", str(sample_template), *WEEK, "--quiet", "--lang", "en", "--no-redact"]) == 0
    text = capsys.readouterr().out
    assert "street coverage: 10 streets, swept" in text and "areas (leaders):" in text
    assert all(leader in text for leader in gpd.read_file(sample_template, layer="areas")["leader"])
    assert main(["coverage", str(sample_template), *WEEK, "--quiet", "--no-streets"]) == 0
    assert "street coverage" not in capsys.readouterr().out
    assert main(["coverage", str(sample_template), "--quiet", "--no-streets", "--streets-csv", "x.csv"]) == 2
    assert "--no-streets" in capsys.readouterr().err
    for bad in ("0", "-3"):
        assert main(["coverage", str(sample_template), "--quiet", "--min-dead-stretch", bad]) == 2
        err = capsys.readouterr().err
        assert "--min-dead-stretch" in err and "Traceback" not in err


def test_cli_empty_streets_layer_and_empty_window_say_so_plainly(sample_copy: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    from gridmap.cli import main

    capsys.readouterr()
    assert main(["coverage", str(sample_copy), "--from", "2030-01-01", "--to", "2030-01-02", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "street coverage: 10 streets, swept 无数据 of " in text and "(无数据); dead stretches: 无数据" in text
    with sqlite3.connect(sample_copy) as db:
        db.execute("DELETE FROM streets")
    assert main(["coverage", str(sample_copy), *WEEK, "--quiet"]) == 0
    assert "street coverage: the workspace has no streets (the streets layer is empty)" in capsys.readouterr().out
    assert main(["coverage", str(sample_copy), *WEEK, "--quiet", "--lang", "en"]) == 0
    assert "the streets layer is empty): no street figures" in capsys.readouterr().out
    assert main(["coverage", str(sample_copy), *WEEK, "--quiet", "--dead-stretches", str(tmp_path / "d.json")]) == 2
    err = capsys.readouterr().err
    assert "has no streets" in err and "gridmap import" in err
