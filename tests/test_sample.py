"""Tests of gridmap.sample: the illustrative Gulou boundaries, reports and GPS tracks.

Every check measures the generated data independently: areas, overlaps and
distances with shapely in metres (EPSG:4546, CGCS2000 Gauss-Kruger CM 111E),
point-in-polygon membership with geopandas' spatial join, recurrences and
speeds by brute force over all pairs or consecutive fixes.
"""

from __future__ import annotations

import json
import math
import re
from itertools import combinations
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer

from _opcount import extra_calls

from gridmap.errors import CRSError, SchemaError
from gridmap.model import CATEGORIES, LAYERS, REPORT_STATUSES, TARGET_KINDS, is_child_code
from gridmap.sample import (
    BOUNDARY_LAYERS,
    sample_boundaries,
    sample_layers,
    sample_reports,
    sample_tracks,
    write_boundaries,
)

REPO_DATA = Path(__file__).resolve().parents[1] / "data" / "boundaries"
METRIC = "EPSG:4546"
TZ = "Asia/Shanghai"
HAN = re.compile(r"[\u4e00-\u9fff]")


def _own(name: str) -> list[str]:
    """The layer's model columns without ``extra``: the sample's files have no columns beyond the model."""
    return [c for c in LAYERS[name].column_names if c != "extra"]


@pytest.fixture(scope="module")
def boundaries() -> dict[str, gpd.GeoDataFrame]:
    return sample_boundaries()


@pytest.fixture(scope="module")
def committed() -> dict[str, gpd.GeoDataFrame]:
    """The committed GeoJSON files, read back with pyogrio (GDAL)."""
    return {name: gpd.read_file(REPO_DATA / f"{name}.geojson", engine="pyogrio") for name in BOUNDARY_LAYERS}


@pytest.fixture(scope="module")
def metric(committed: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    return {name: frame.to_crs(METRIC) for name, frame in committed.items()}


@pytest.fixture(scope="module")
def reports(boundaries: dict[str, gpd.GeoDataFrame]) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    return sample_reports(boundaries)


@pytest.fixture(scope="module")
def tracks(boundaries: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    return sample_tracks(boundaries, days=3)


def _pairwise_overlap(geoms: np.ndarray) -> float:
    """Largest intersection area over all pairs (brute force)."""
    return max(shapely.intersection(a, b).area for a, b in combinations(geoms, 2))


# ---------------------------------------------------------------------------------------------------------------
# the committed files
# ---------------------------------------------------------------------------------------------------------------


def test_committed_geojson_equals_a_fresh_run(tmp_path: Path) -> None:
    paths = write_boundaries(tmp_path / "out")
    assert [p.name for p in paths] == [f"{name}.geojson" for name in BOUNDARY_LAYERS]
    for path in paths:
        committed = REPO_DATA / path.name
        assert committed.is_file(), f"{committed} is missing; regenerate data/boundaries (see its README)"
        assert path.read_bytes() == committed.read_bytes(), f"{path.name} differs from a fresh run"


def test_write_boundaries_is_byte_for_byte_deterministic(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_boundaries(tmp_path / "a", seed=3)]
    second = [p.read_bytes() for p in write_boundaries(tmp_path / "b", seed=3)]
    other = [p.read_bytes() for p in write_boundaries(tmp_path / "c", seed=4)]
    assert first == second
    assert first[2] != other[2]


def test_readme_says_illustrative_and_how_it_was_made() -> None:
    text = (REPO_DATA / "README.md").read_text(encoding="utf-8")
    assert "NOT surveyed" in text and "illustrative" in text.lower()
    assert "write_boundaries('data/boundaries')" in text


@pytest.mark.parametrize("name", BOUNDARY_LAYERS)
def test_geojson_is_rfc7946_and_says_illustrative(name: str) -> None:
    text = (REPO_DATA / f"{name}.geojson").read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection"
    assert doc["gridmap_illustrative"] is True
    assert "NOT surveyed" in doc["description"]
    assert "crs" not in doc  # RFC 7946: WGS84 only, no crs member
    numbers = re.findall(r"-?\d+\.(\d+)", json.dumps([f["geometry"] for f in doc["features"]]))
    assert numbers and max(len(decimals) for decimals in numbers) <= 7
    for feature in doc["features"]:
        geom = shapely.geometry.shape(feature["geometry"])
        for poly in shapely.get_parts(geom):
            if poly.geom_type == "Polygon":  # right-hand rule: exterior counter-clockwise, holes clockwise
                assert poly.exterior.is_ccw
                assert not any(ring.is_ccw for ring in poly.interiors)
        lon, lat = shapely.get_coordinates(geom).T
        assert ((109.69 < lon) & (lon < 109.77) & (38.26 < lat) & (lat < 38.32)).all()


def test_committed_files_read_back_equal_to_the_generator(
        committed: dict[str, gpd.GeoDataFrame], boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    for name in BOUNDARY_LAYERS:
        read = committed[name]
        made = boundaries[name]
        columns = _own(name)
        assert list(read.columns) == columns + ["geometry"]
        assert read[columns].astype(str).values.tolist() == made[columns].astype(str).values.tolist()
        assert shapely.equals_exact(read.geometry.values, made.geometry.values, tolerance=0).all(), name


# ---------------------------------------------------------------------------------------------------------------
# boundaries: schema, counts, codes
# ---------------------------------------------------------------------------------------------------------------


def test_layers_follow_the_model(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    assert list(boundaries) == list(BOUNDARY_LAYERS)
    for name, frame in boundaries.items():
        spec = LAYERS[name]
        assert list(frame.columns) == _own(spec.name) + ["geometry"]
        assert frame.crs.to_epsg() == 4326
        assert frame[spec.required].notna().all().all()
        kinds = set(frame.geom_type)
        if spec.geometry == "Geometry":
            assert kinds == {"Point", "MultiPolygon"}
        else:
            assert kinds == {spec.geometry}, name
        assert shapely.is_valid(frame.geometry.values).all(), name


def test_counts_cadres_and_fake_phones(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    sub, comms, grids = boundaries["subdistrict"], boundaries["communities"], boundaries["grids"]
    assert sub[["code", "name"]].values.tolist() == [["610802001", "鼓楼街道"]]
    assert len(comms) == 6 and comms["name"].str.endswith("社区").all() and comms["secretary"].str.len().ge(2).all()
    assert len(grids) == 36
    assert grids["cadre"].str.strip().str.len().ge(2).all()
    assert grids["cadre"].nunique() == 36
    assert grids["cadre_phone"].str.fullmatch(r"1[3-9]\d{9}").all()
    assert grids.groupby("community_code").size().tolist() == [6] * 6
    assert len(boundaries["areas"]) == 3 and boundaries["areas"]["leader"].str.len().ge(2).all()
    assert 8 <= len(boundaries["streets"]) <= 12
    assert boundaries["streets"]["street_name"].is_unique and boundaries["streets"]["street_chief"].notna().all()


def test_codes_are_hierarchical(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    code = boundaries["subdistrict"].loc[0, "code"]
    comms, grids, areas = boundaries["communities"], boundaries["grids"], boundaries["areas"]
    assert comms["community_code"].str.fullmatch(code + r"\d{3}").all() and comms["community_code"].is_unique
    assert grids["grid_code"].is_unique
    for grid_code, community_code in zip(grids["grid_code"], grids["community_code"]):
        assert re.fullmatch(r"\d{15}", grid_code)
        assert grid_code.startswith(community_code) and is_child_code(grid_code, community_code)
    assert set(grids["community_code"]) == set(comms["community_code"])
    assert areas["area_code"].str.fullmatch(code + r"A\d+").all()
    assert set(grids["area_code"]) == set(areas["area_code"])


# ---------------------------------------------------------------------------------------------------------------
# boundaries: geometry, measured in metres on the files read back
# ---------------------------------------------------------------------------------------------------------------


def test_grids_tile_the_subdistrict_exactly(metric: dict[str, gpd.GeoDataFrame]) -> None:
    sub = metric["subdistrict"].geometry.iloc[0]
    for name in ("grids", "communities", "areas"):
        geoms = metric[name].geometry.values
        union = shapely.union_all(geoms)
        assert abs(union.area - sub.area) < 1.0, name
        assert abs(shapely.area(geoms).sum() - sub.area) < 1.0, name  # no overlap hidden by the union
        assert sub.symmetric_difference(union).area < 1.0, name
        assert _pairwise_overlap(geoms) < 0.01, name


def test_tiling_holds_for_geodesic_areas_too(committed: dict[str, gpd.GeoDataFrame],
                                             metric: dict[str, gpd.GeoDataFrame]) -> None:
    """Areas on the WGS84 ellipsoid (pyproj.Geod), independent of any projection."""
    geod = Geod(ellps="WGS84")
    sub = abs(geod.geometry_area_perimeter(committed["subdistrict"].geometry.iloc[0])[0])
    grids = sum(abs(geod.geometry_area_perimeter(g)[0]) for g in committed["grids"].geometry)
    assert abs(grids - sub) < 1.0
    # Gauss-Kruger CM 111E at 109.73E: scale about 1.00025, so projected areas are ~0.05 % larger
    assert 0.0 < metric["subdistrict"].area.iloc[0] / sub - 1.0 < 0.002


def test_grids_lie_inside_their_community_and_area(metric: dict[str, gpd.GeoDataFrame]) -> None:
    comms = metric["communities"].set_index("community_code").geometry
    areas = metric["areas"].set_index("area_code").geometry
    for grid, community_code, area_code in metric["grids"][["geometry", "community_code", "area_code"]].values:
        assert grid.difference(comms[community_code]).area < 0.01
        assert grid.difference(areas[area_code]).area < 0.01
    for community_code, community in comms.items():
        grids = metric["grids"][metric["grids"]["community_code"] == community_code]
        assert abs(shapely.union_all(grids.geometry.values).area - community.area) < 1.0


def test_subdistrict_size_and_place(metric: dict[str, gpd.GeoDataFrame]) -> None:
    sub = metric["subdistrict"].geometry.iloc[0]
    minx, miny, maxx, maxy = sub.bounds
    assert 2000 <= maxx - minx <= 3000 and 2000 <= maxy - miny <= 3000
    x0, y0 = Transformer.from_crs("EPSG:4326", METRIC, always_xy=True).transform(109.73, 38.29)
    assert shapely.Point(x0, y0).distance(sub.centroid) < 500
    grid_areas = metric["grids"].area
    assert grid_areas.min() > 0.3 * grid_areas.mean()  # no slivers


_CACHE: dict[str, dict[str, gpd.GeoDataFrame]] = {}


def _metric_boundaries() -> dict[str, gpd.GeoDataFrame]:
    """The sample boundaries in metres, made once (hypothesis tests cannot take function-scoped fixtures)."""
    if "m" not in _CACHE:
        _CACHE["m"] = {k: v.to_crs(METRIC) for k, v in sample_boundaries().items()}
    return _CACHE["m"]


@settings(max_examples=200, deadline=None)
@given(fx=st.floats(0.0, 1.0), fy=st.floats(0.0, 1.0))
def test_every_point_of_the_subdistrict_lies_in_exactly_one_grid(fx: float, fy: float) -> None:
    frames = _metric_boundaries()
    sub = frames["subdistrict"].geometry.iloc[0]
    minx, miny, maxx, maxy = sub.bounds
    point = shapely.Point(minx + fx * (maxx - minx), miny + fy * (maxy - miny))
    holders = int(shapely.contains(frames["grids"].geometry.values, point).sum())
    if sub.contains(point):
        assert holders == 1
    elif not sub.touches(point):
        assert holders == 0


def test_demolition_zones_lie_within_150_m_of_the_wall(metric: dict[str, gpd.GeoDataFrame]) -> None:
    zones = metric["demolition_zones"]
    wall = metric["wall"].geometry.iloc[0]
    sub = metric["subdistrict"].geometry.iloc[0]
    assert len(zones) >= 10 and zones["zone_id"].is_unique
    for zone in zones.geometry:
        # the farthest point of the zone: its boundary every metre and its inside every 2 m (1-Lipschitz distance)
        edge = shapely.get_coordinates(shapely.segmentize(zone, 1.0))
        x0, y0, x1, y1 = zone.bounds
        gx, gy = np.meshgrid(np.arange(x0, x1, 2.0), np.arange(y0, y1, 2.0))
        inside = shapely.contains_xy(zone, gx.ravel(), gy.ravel())
        pts = np.vstack([edge, np.column_stack([gx.ravel()[inside], gy.ravel()[inside]])])
        assert shapely.distance(shapely.points(pts), wall).max() <= 148.0
        assert zone.within(sub)
    assert _pairwise_overlap(zones.geometry.values) == 0.0


def test_wall_runs_inside_along_the_west_and_north(metric: dict[str, gpd.GeoDataFrame]) -> None:
    wall_frame = metric["wall"]
    assert wall_frame["name"].tolist() == ["榆林古城墙 (示意)"]
    wall = wall_frame.geometry.iloc[0]
    sub = metric["subdistrict"].geometry.iloc[0]
    assert wall.within(sub) and wall.length > 2000
    pts = shapely.get_coordinates(shapely.segmentize(wall, 10.0))
    assert shapely.distance(shapely.points(pts), sub.boundary).max() < 150  # a bit inside the edge
    cx, cy = sub.centroid.x, sub.centroid.y
    west, north = pts[:, 0] < cx - 500, pts[:, 1] > cy + 800
    assert west.mean() > 0.3 and north.mean() > 0.2 and (west | north).mean() > 0.8


def test_targets(boundaries: dict[str, gpd.GeoDataFrame], metric: dict[str, gpd.GeoDataFrame]) -> None:
    targets = boundaries["targets"]
    assert targets["target_id"].is_unique
    assert set(targets["kind"]) <= set(TARGET_KINDS)
    counts = targets["kind"].value_counts()
    assert counts["garbage_point"] >= 50 and counts["courtyard"] >= 36 and counts["sewage_point"] >= 1
    assert counts["demolition_zone"] == len(boundaries["demolition_zones"])
    points = targets["kind"].isin(["courtyard", "garbage_point", "sewage_point"])
    assert (targets.loc[points].geom_type == "Point").all()
    assert (targets.loc[~points].geom_type == "MultiPolygon").all()
    # one demolition-zone target per zone, the same polygon
    dz = targets[targets["kind"] == "demolition_zone"].geometry.values
    assert shapely.equals_exact(dz, boundaries["demolition_zones"].geometry.values, tolerance=0).all()
    # a vacant lot at 二里半, beside 二里半路
    mt, streets = metric["targets"], metric["streets"].set_index("street_name").geometry
    erliban = mt[mt["name"].str.contains("二里半") & (mt["kind"] == "vacant_lot")]
    assert len(erliban) == 1 and erliban.geometry.iloc[0].distance(streets["二里半路"]) < 100
    # grid codes by an independent spatial join on representative points
    reps = gpd.GeoDataFrame(targets[["target_id", "grid_code"]], geometry=targets.representative_point(), crs=4326)
    joined = gpd.sjoin(reps, boundaries["grids"][["grid_code", "geometry"]], predicate="within")
    assert len(joined) == len(targets)
    assert (joined["grid_code_left"] == joined["grid_code_right"]).all()


def test_streets_cross_the_subdistrict(metric: dict[str, gpd.GeoDataFrame]) -> None:
    sub = metric["subdistrict"].geometry.iloc[0]
    streets = metric["streets"]
    assert {"北大街", "南大街", "二里半路"} <= set(streets["street_name"])
    for line in streets.geometry:
        # clipped to the outline before its vertices were snapped to 10 cm and rounded to 1e-7 degrees
        assert line.length > 500 and line.difference(sub.buffer(0.1)).length < 0.01


def test_same_seed_same_boundaries_other_seed_other(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    again = sample_boundaries(seed=0)
    for name in BOUNDARY_LAYERS:
        assert_geodataframe_equal(again[name], boundaries[name], check_less_precise=False)
    other = sample_boundaries(seed=1)
    assert not shapely.equals_exact(other["grids"].geometry.values, boundaries["grids"].geometry.values, 0).any()
    assert other["grids"]["cadre"].tolist() != boundaries["grids"]["cadre"].tolist()


def test_returned_frames_are_fresh_copies() -> None:
    first = sample_boundaries(seed=2)
    first["grids"].loc[0, "cadre"] = "changed"
    first["grids"].loc[1, "geometry"] = shapely.Point(0, 0)
    second = sample_boundaries(seed=2)
    assert second["grids"].loc[0, "cadre"] != "changed"
    assert second["grids"].geometry.iloc[1].geom_type == "MultiPolygon"


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_other_seeds_tile_exactly_too(seed: int, tmp_path: Path) -> None:
    paths = write_boundaries(tmp_path, seed=seed)
    read = {p.stem: gpd.read_file(p).to_crs(METRIC) for p in paths}
    sub = read["subdistrict"].geometry.iloc[0]
    grids = read["grids"].geometry.values
    assert shapely.is_valid(grids).all()
    assert abs(shapely.area(grids).sum() - sub.area) < 1.0
    assert sub.symmetric_difference(shapely.union_all(grids)).area < 1.0
    assert _pairwise_overlap(grids) < 0.01


def test_bad_seed_is_refused() -> None:
    with pytest.raises(SchemaError, match="seed must be a non-negative integer"):
        sample_boundaries(seed=-1)
    with pytest.raises(SchemaError, match="seed must be a non-negative integer"):
        sample_boundaries(seed=1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# reports and rectifications
# ---------------------------------------------------------------------------------------------------------------


def test_reports_follow_the_model(reports: tuple[gpd.GeoDataFrame, pd.DataFrame]) -> None:
    rep, fixes = reports
    assert list(rep.columns) == _own("reports") + ["geometry"]
    assert list(fixes.columns) == _own("rectifications")
    assert len(rep) == 2000 and rep["report_id"].is_unique
    assert rep.crs.to_epsg() == 4326 and set(rep.geom_type) == {"Point"}
    assert str(rep["reported_at"].dt.tz) == TZ and str(fixes["rectified_at"].dt.tz) == TZ
    # every one of the 9 built-in categories occurs (other tests may register more categories)
    assert set(rep["category"]) <= set(CATEGORIES) and rep["category"].nunique() == 9
    assert rep["category"].value_counts().index[0] == "garbage_dumping"
    assert set(rep["source"]) == {"wechat", "app", "patrol", "hotline"}
    assert set(rep["status"]) <= set(REPORT_STATUSES)
    assert rep["description"].map(lambda s: bool(HAN.search(s))).all()
    assert rep["reported_at"].is_monotonic_increasing


def test_reports_times_are_daytime_within_the_year(reports: tuple[gpd.GeoDataFrame, pd.DataFrame]) -> None:
    rep, fixes = reports
    start, end = pd.Timestamp("2025-01-01", tz=TZ), pd.Timestamp("2026-01-01", tz=TZ)
    assert rep["reported_at"].between(start, end, inclusive="left").all()
    hours = rep["reported_at"].dt.hour
    assert hours.between(7, 19).all()
    assert fixes["rectified_at"].lt(end).all()
    assert fixes["rectified_at"].dt.hour.between(7, 19).all()


def test_reports_lie_inside_the_subdistrict_in_their_grid(
        reports: tuple[gpd.GeoDataFrame, pd.DataFrame], boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    rep = reports[0]
    sub = boundaries["subdistrict"].to_crs(METRIC).geometry.iloc[0]
    assert rep.to_crs(METRIC).within(sub).all()
    joined = gpd.sjoin(rep[["report_id", "grid_code", "geometry"]], boundaries["grids"][["grid_code", "geometry"]],
                       predicate="within")
    assert joined["report_id"].is_unique and len(joined) == len(rep)
    assert (joined["grid_code_left"] == joined["grid_code_right"]).all()


def test_status_is_consistent_with_rectifications(reports: tuple[gpd.GeoDataFrame, pd.DataFrame]) -> None:
    rep, fixes = reports
    assert fixes["report_id"].is_unique
    merged = fixes.merge(rep[["report_id", "reported_at", "status"]], on="report_id", how="left", validate="1:1")
    assert merged["reported_at"].notna().all()
    assert (merged["rectified_at"] > merged["reported_at"]).all()
    fixed = set(fixes["report_id"])
    assert set(rep.loc[rep["status"] != "reported", "report_id"]) == fixed
    assert merged["verified_at"].notna().eq(merged["status"] == "verified").all()
    verified = merged.dropna(subset=["verified_at"])
    assert (verified["verified_at"] > verified["rectified_at"]).all()
    assert rep["status"].value_counts()["verified"] > 500 and (rep["status"] == "reopened").any()
    assert (fixes["tonnes"] >= 0).all() and (fixes["truck_trips"] >= 0).all()
    assert fixes["truck_trips"].dtype == np.int64 and fixes["by"].str.len().ge(2).all()
    assert fixes["tonnes"].sum() > 200 and fixes["truck_trips"].sum() > 160  # the article's campaign scale


def test_recurring_sites_by_brute_force(reports: tuple[gpd.GeoDataFrame, pd.DataFrame]) -> None:
    rep, fixes = reports
    m = rep.to_crs(METRIC)
    xy = np.column_stack([m.geometry.x, m.geometry.y])
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    fixed_at = rep["report_id"].map(fixes.set_index("report_id")["rectified_at"])
    fixed_ns = fixed_at.astype("int64").where(fixed_at.notna()).to_numpy(float)
    reported_ns = rep["reported_at"].astype("int64").to_numpy(float)
    after_days = (reported_ns[None, :] - fixed_ns[:, None]) / 86_400e9  # later j after earlier i's fix
    same = rep["category"].to_numpy()[:, None] == rep["category"].to_numpy()[None, :]
    pairs = (dist <= 50) & same & (after_days >= 3) & (after_days <= 30)
    assert pairs.sum() > 100
    # about 20 places where it keeps coming back: clusters (25 m buffers) holding 10+ reports of such pairs
    involved = xy[pairs.any(axis=1) | pairs.any(axis=0)]
    sites = shapely.get_parts(shapely.union_all(shapely.buffer(shapely.points(involved), 25.0)))
    sizes = np.array([shapely.contains_xy(site, involved[:, 0], involved[:, 1]).sum() for site in sites])
    assert 15 <= (sizes >= 10).sum() <= 35


def test_reports_cluster_near_the_demolition_zones(
        reports: tuple[gpd.GeoDataFrame, pd.DataFrame], metric: dict[str, gpd.GeoDataFrame]) -> None:
    near = shapely.union_all(metric["demolition_zones"].buffer(50).values)
    share_of_area = near.intersection(metric["subdistrict"].geometry.iloc[0]).area / metric["subdistrict"].area.sum()
    share_of_reports = reports[0].to_crs(METRIC).within(near).mean()
    assert share_of_reports > 2.5 * share_of_area


def test_reports_options_and_determinism(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    rep, fixes = sample_reports(boundaries, seed=5, start="2025-06-01", days=10, n_reports=37)
    assert len(rep) == 37
    assert rep["reported_at"].between(pd.Timestamp("2025-06-01", tz=TZ), pd.Timestamp("2025-06-11", tz=TZ)).all()
    again = sample_reports(boundaries, seed=5, start="2025-06-01", days=10, n_reports=37)
    assert_geodataframe_equal(rep, again[0])
    pd.testing.assert_frame_equal(fixes, again[1])
    other = sample_reports(boundaries, seed=6, start="2025-06-01", days=10, n_reports=37)[0]
    assert not rep.geometry.geom_equals(other.geometry).all()
    empty, no_fixes = sample_reports(boundaries, n_reports=0)
    assert len(empty) == 0 and len(no_fixes) == 0
    assert list(empty.columns) == _own("reports") + ["geometry"]


def test_reports_refuse_bad_arguments(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    with pytest.raises(SchemaError, match="days must be at least 1"):
        sample_reports(boundaries, days=0)
    with pytest.raises(SchemaError, match=r"lack the layer\(s\) streets"):
        sample_reports({k: v for k, v in boundaries.items() if k != "streets"})
    grids = boundaries["grids"]
    naked = dict(boundaries, grids=gpd.GeoDataFrame(grids.drop(columns="geometry"), geometry=list(grids.geometry)))
    with pytest.raises(CRSError, match="'grids' has no CRS"):
        sample_reports(naked)


# ---------------------------------------------------------------------------------------------------------------
# tracks
# ---------------------------------------------------------------------------------------------------------------


def _speeds(frame: gpd.GeoDataFrame) -> np.ndarray:
    m = frame.to_crs(METRIC)
    out = []
    for _, grp in m.groupby("inspector", sort=False):
        d = np.hypot(np.diff(grp.geometry.x.to_numpy()), np.diff(grp.geometry.y.to_numpy()))
        dt = np.diff(grp["time"].astype("int64").to_numpy()) / 1e9
        out.append(d / dt)
    return np.concatenate(out)


def test_tracks_follow_the_model(tracks: gpd.GeoDataFrame, boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    assert list(tracks.columns) == _own("tracks") + ["geometry"]
    assert tracks.crs.to_epsg() == 4326 and set(tracks.geom_type) == {"Point"}
    assert str(tracks["time"].dt.tz) == TZ
    assert len(tracks) == 36 * 3 * 360  # one hour a day at 6 fixes a minute
    assert set(tracks["inspector"]) == set(boundaries["grids"]["cadre"])
    assert not tracks.duplicated(["inspector", "time"]).any()
    assert tracks.groupby("inspector")["time"].is_monotonic_increasing.all()
    assert tracks["track_id"].str.fullmatch(r"T\d{2}-2025030[345]-[12]").all()


def test_tracks_walk_in_working_hours_at_walking_speed(tracks: gpd.GeoDataFrame) -> None:
    local = tracks["time"].dt.hour + tracks["time"].dt.minute / 60
    assert (local.between(8.5, 12.5) | local.between(14.5, 18.5)).all()
    speeds = _speeds(tracks)
    assert (speeds < 3.0).mean() > 0.95
    assert 1.0 < np.median(speeds) < 1.6
    assert (speeds > 10).any()  # occasional jumps (outliers)
    steps = tracks.groupby("track_id")["time"].diff().dt.total_seconds().dropna()
    assert 9.0 <= steps.median() <= 11.0 and (steps > 60).any()  # a fix every ~10 s, with gaps


def test_tracks_leave_dead_corners_and_miss_a_few_targets(
        tracks: gpd.GeoDataFrame, boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    m = tracks.to_crs(METRIC)
    grids = boundaries["grids"].to_crs(METRIC)
    coverage = []
    for grid, cadre in zip(grids.geometry, grids["cadre"]):
        seen = shapely.union_all(shapely.buffer(m.geometry.values[(m["inspector"] == cadre).to_numpy()], 30.0))
        coverage.append(grid.intersection(seen).area / grid.area)
    coverage = np.array(coverage)
    assert (coverage < 1.0).any() and coverage.min() < 0.97
    assert np.median(coverage) > 0.9
    points = boundaries["targets"].to_crs(METRIC)
    tree = shapely.STRtree(m.geometry.values)
    _, dist = tree.query_nearest(points.geometry.values, return_distance=True, all_matches=False)
    visited = (dist <= 30).mean()
    assert 0.6 < visited < 1.0


@pytest.mark.parametrize("n_fixes", [0, 300, 1234, 50_000])
def test_n_fixes_is_respected(n_fixes: int, boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    frame = sample_tracks(boundaries, n_fixes=n_fixes)
    assert len(frame) == n_fixes  # exactly: the fixes are split over inspectors, days and sessions, none dropped
    assert list(frame.columns) == _own("tracks") + ["geometry"]


def test_many_fixes_spread_over_more_days_inside_working_hours(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    frame = sample_tracks(boundaries, n_inspectors=4, days=2, n_fixes=20_000)
    assert len(frame) == 20_000
    days = frame["time"].dt.normalize().nunique()
    assert days > 2
    local = frame["time"].dt.hour + frame["time"].dt.minute / 60
    assert (local.between(8.5, 12.6) | local.between(14.5, 18.6)).all()


def test_more_inspectors_than_grids_get_distinct_names(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    frame = sample_tracks(boundaries, n_inspectors=40, days=1, n_fixes=4000)
    assert frame["inspector"].nunique() == 40


def test_tracks_determinism_and_errors(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    a = sample_tracks(boundaries, seed=3, n_fixes=800)
    assert_geodataframe_equal(a, sample_tracks(boundaries, seed=3, n_fixes=800))
    assert not a.geometry.geom_equals(sample_tracks(boundaries, seed=4, n_fixes=800).geometry).all()
    with pytest.raises(SchemaError, match="fixes_per_minute above 0"):
        sample_tracks(boundaries, fixes_per_minute=0)
    with pytest.raises(SchemaError, match=r"lack the layer\(s\) grids"):
        sample_tracks({"subdistrict": boundaries["subdistrict"]})


@pytest.mark.slow
def test_a_million_fixes_with_no_per_fix_python_work(boundaries: dict[str, gpd.GeoDataFrame]) -> None:
    """1M fixes are made with no Python code per fix (deterministic stand-in for "fast"; timings:
    benchmarks/coverage.py makes its tracks the same way): the Python function calls for 1M fixes
    exceed those for 1,000 fixes by less than one per 100 fixes."""
    frame, extra = extra_calls(lambda: sample_tracks(boundaries, n_fixes=1_000),
                               lambda: sample_tracks(boundaries, n_fixes=1_000_000))
    assert len(frame) == 1_000_000
    assert extra < (1_000_000 - 1_000) / 100, extra


# ---------------------------------------------------------------------------------------------------------------
# every layer
# ---------------------------------------------------------------------------------------------------------------


def test_sample_layers_fill_every_layer_and_survive_a_geopackage(tmp_path: Path) -> None:
    layers = sample_layers(n_reports=200, track_days=1)
    assert list(layers) == list(LAYERS)
    assert len(layers["reports"]) == 200 and len(layers["tracks"]) == 36 * 360
    path = tmp_path / "sample.gpkg"
    for name, frame in layers.items():
        spec = LAYERS[name]
        assert list(frame.columns)[: len(_own(spec.name))] == _own(spec.name)
        assert len(frame) > 0, name
        times = [c.name for c in spec.columns if c.dtype == "datetime"]
        # GeoPackage stores UTC times ("...Z"); convert so GDAL reads them without complaint
        frame = frame.assign(**{c: frame[c].dt.tz_convert("UTC") for c in times})
        pyogrio.write_dataframe(frame, path, layer=name, promote_to_multi=False)
        back = pyogrio.read_dataframe(path, layer=name, read_geometry=spec.geometry is not None)
        assert len(back) == len(frame), name
        for column in times:
            stored, made = back[column].dt.tz_convert(TZ), frame[column].dt.tz_convert(TZ)
            assert ((stored == made) | (stored.isna() & made.isna())).all(), (name, column)
        if spec.geometry is not None:
            assert shapely.equals_exact(back.geometry.values, frame.geometry.values, tolerance=0).all(), name
    grids = pyogrio.read_dataframe(path, layer="grids")
    assert math.isclose(grids.to_crs(METRIC).area.sum(), layers["grids"].to_crs(METRIC).area.sum(), rel_tol=1e-12)
