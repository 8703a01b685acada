"""Tests of gridmap.crs: GCJ-02/BD-09 conversions, metric CRS choice, storage CRS."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from gridmap.errors import CRSError
from gridmap.crs import from_wgs84, metric_crs, require_crs, to_metric, to_storage, to_wgs84

GEOD = pyproj.Geod(ellps="WGS84")


# --- an independent scalar reference, written from the published formula text --------------------------

def ref_wgs_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 -> GCJ-02, one point, plain math (Krasovsky a=6378245, ee=0.00669342162296594323)."""
    if not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lon, lat
    a, ee, pi = 6378245.0, 0.00669342162296594323, math.pi
    x, y = lon - 105.0, lat - 35.0
    t_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
             + (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
             + (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0)
    t_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
             + (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
             + (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * pi
    magic = 1.0 - ee * math.sin(rad) ** 2
    m_radius = a * (1.0 - ee) / (magic * math.sqrt(magic))  # meridian radius of curvature
    n_radius = a / math.sqrt(magic)  # prime vertical radius of curvature
    return lon + t_lon * 180.0 / (n_radius * math.cos(rad) * pi), lat + t_lat * 180.0 / (m_radius * pi)


def ref_gcj_to_bd(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 -> BD-09, one point, the published Baidu formula."""
    x_pi = math.pi * 3000.0 / 180.0
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# points well inside China's box (the formula is discontinuous at the box edge)
china_lon = st.floats(73.5, 135.0, allow_nan=False)
china_lat = st.floats(18.0, 53.5, allow_nan=False)


# --- published sample points ------------------------------------------------------------------------

def test_published_sample_points() -> None:
    # Values printed in wandergis/coordtransform test/app.js (a widely used implementation).
    lon, lat = from_wgs84(116.404, 39.915, "gcj02")
    assert float(lon) == pytest.approx(116.41024449916938, abs=1e-12)
    assert float(lat) == pytest.approx(39.91640428150164, abs=1e-12)
    # gcj02tobd09(116.404, 39.915): reach that GCJ point from its WGS84 preimage
    w_lon, w_lat = to_wgs84(116.404, 39.915, "gcj02")
    b_lon, b_lat = from_wgs84(w_lon, w_lat, "bd09")
    assert float(b_lon) == pytest.approx(116.41036949371029, abs=1e-9)
    assert float(b_lat) == pytest.approx(39.92133699351021, abs=1e-9)


def test_published_one_step_inverse_is_metres_off_and_ours_is_not() -> None:
    # the same source prints gcj02towgs84(116.404, 39.915) by the one-step inverse
    one_step = (116.39775550083061, 39.91359571849836)
    ours = to_wgs84(116.404, 39.915, "gcj02")
    back = ref_wgs_to_gcj(float(ours[0]), float(ours[1]))
    assert metres(back[0], back[1], 116.404, 39.915) < 0.001
    back_one = ref_wgs_to_gcj(*one_step)
    assert metres(back_one[0], back_one[1], 116.404, 39.915) > 0.03  # 6 cm here, metres elsewhere


@settings(max_examples=200, deadline=None)
@given(st.floats(60.0, 150.0), st.floats(-5.0, 60.0))
def test_forward_matches_scalar_reference(lon: float, lat: float) -> None:
    g_lon, g_lat = from_wgs84(lon, lat, "gcj02")
    r_lon, r_lat = ref_wgs_to_gcj(lon, lat)
    assert float(g_lon) == pytest.approx(r_lon, abs=1e-11)
    assert float(g_lat) == pytest.approx(r_lat, abs=1e-11)
    b_lon, b_lat = from_wgs84(lon, lat, "bd09")
    rb_lon, rb_lat = ref_gcj_to_bd(r_lon, r_lat)
    assert float(b_lon) == pytest.approx(rb_lon, abs=1e-11)
    assert float(b_lat) == pytest.approx(rb_lat, abs=1e-11)


def test_offset_size_is_hundreds_of_metres_in_yulin() -> None:
    g = ref_wgs_to_gcj(109.73, 38.29)
    assert 50 < metres(109.73, 38.29, *g) < 1000


# --- inverses ---------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_gcj_round_trip_within_a_centimetre(lon: float, lat: float) -> None:
    g_lon, g_lat = ref_wgs_to_gcj(lon, lat)
    w_lon, w_lat = to_wgs84(g_lon, g_lat, "gcj02")
    assert metres(lon, lat, float(w_lon), float(w_lat)) < 0.01


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_bd_round_trip_within_a_centimetre(lon: float, lat: float) -> None:
    b_lon, b_lat = ref_gcj_to_bd(*ref_wgs_to_gcj(lon, lat))
    w_lon, w_lat = to_wgs84(b_lon, b_lat, "bd09")
    assert metres(lon, lat, float(w_lon), float(w_lat)) < 0.01


def test_iterative_inverse_beats_one_step_over_china() -> None:
    lon, lat = (a.ravel() for a in np.meshgrid(np.linspace(73.6, 135.0, 120), np.linspace(18.0, 53.5, 120)))
    g = np.array([ref_wgs_to_gcj(x, y) for x, y in zip(lon, lat)])
    f = np.array([ref_wgs_to_gcj(x, y) for x, y in g])
    one_lon, one_lat = g[:, 0] - (f[:, 0] - g[:, 0]), g[:, 1] - (f[:, 1] - g[:, 1])
    assert metres(lon, lat, one_lon, one_lat).max() > 1.0  # metres off: not good enough
    w_lon, w_lat = to_wgs84(g[:, 0], g[:, 1], "gcj02")
    assert metres(lon, lat, w_lon, w_lat).max() < 0.01


def test_bd_inverse_vectorised_over_china() -> None:
    lon, lat = (a.ravel() for a in np.meshgrid(np.linspace(74.0, 134.0, 60), np.linspace(19.0, 53.0, 60)))
    b = np.array([ref_gcj_to_bd(*ref_wgs_to_gcj(x, y)) for x, y in zip(lon, lat)])
    w_lon, w_lat = to_wgs84(b[:, 0], b[:, 1], "bd09")
    assert metres(lon, lat, w_lon, w_lat).max() < 0.01


# --- outside China, NaN, input forms ----------------------------------------------------------------

@pytest.mark.parametrize("system", ["gcj02", "bd09"])
@pytest.mark.parametrize("point", [(2.35, 48.85), (139.69, 35.69), (-74.0, 40.7), (100.0, 60.0)])
def test_outside_china_gcj_is_identity(system: str, point: tuple[float, float]) -> None:
    g = from_wgs84(*point, "gcj02")
    assert (float(g[0]), float(g[1])) == point
    w = to_wgs84(*point, "gcj02")
    assert (float(w[0]), float(w[1])) == point
    if system == "bd09":  # BD-09 still shifts by Baidu's constant offsets, and inverts
        b = from_wgs84(*point, "bd09")
        assert float(b[0]) != point[0]
        back = to_wgs84(b[0], b[1], "bd09")
        assert metres(point[0], point[1], float(back[0]), float(back[1])) < 0.01


@pytest.mark.parametrize("system", ["wgs84", "gcj02", "bd09"])
def test_nan_passes_through(system: str) -> None:
    lon = np.array([109.73, np.nan, 109.74])
    lat = np.array([38.29, 38.3, np.nan])
    for func in (to_wgs84, from_wgs84):
        out_lon, out_lat = func(lon, lat, system)
        assert np.isnan(out_lon[1]) and np.isnan(out_lat[2])
        assert np.isfinite(out_lon[0]) and np.isfinite(out_lat[0])


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_infinite_input_gives_no_numpy_warning(system: str) -> None:
    # pytest turns warnings into errors: a RuntimeWarning from np.sin(inf) would fail here
    lon, lat = to_wgs84([np.inf, 109.73], [38.29, 38.29], system)
    assert np.isfinite(lon[1]) and not np.isfinite(lon[0])
    lon, lat = from_wgs84([109.73, 109.73], [np.inf, 38.29], system)
    assert np.isfinite(lat[1]) and not np.isfinite(lat[0])


def test_inverse_at_the_edge_of_chinas_box_terminates(caplog: pytest.LogCaptureFixture) -> None:
    # just inside the box the GCJ preimage may lie outside it, where the forward is the identity:
    # there is no exact solution; the iteration must stop at its cap and say so, not hang
    with caplog.at_level("WARNING", logger="gridmap.crs"):
        lon, lat = to_wgs84([72.0045, 110.0], [40.0, 40.0], "gcj02")
    assert np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))
    back = ref_wgs_to_gcj(float(lon[1]), float(lat[1]))
    assert metres(back[0], back[1], 110.0, 40.0) < 0.01
    assert abs(float(lon[0]) - 72.0045) < 0.01


def test_scalar_list_and_array_inputs() -> None:
    s = from_wgs84(109.73, 38.29, "gcj02")
    lst = from_wgs84([109.73, 109.74], [38.29, 38.30], "gcj02")
    arr = from_wgs84(np.array([109.73, 109.74], dtype=np.float32), np.array([38.29, 38.30]), "gcj02")
    for out in (s, lst, arr):
        assert all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in out)
    assert s[0].shape == () and lst[0].shape == (2,)
    assert float(s[0]) == lst[0][0] == pytest.approx(ref_wgs_to_gcj(109.73, 38.29)[0], abs=1e-12)
    ints = to_wgs84([110, 111], [38, 39], "wgs84")
    assert ints[0].dtype == np.float64 and ints[0].tolist() == [110.0, 111.0]


def test_inputs_not_mutated_and_wgs84_is_a_copy() -> None:
    lon = np.array([109.73, 109.74])
    lat = np.array([38.29, 38.30])
    out_lon, _ = to_wgs84(lon, lat, "wgs84")
    out_lon[0] = 0.0
    assert lon[0] == 109.73
    to_wgs84(lon, lat, "bd09")
    from_wgs84(lon, lat, "gcj02")
    assert lon.tolist() == [109.73, 109.74] and lat.tolist() == [38.29, 38.30]


def test_system_names() -> None:
    assert float(from_wgs84(109.73, 38.29, "GCJ-02")[0]) == float(from_wgs84(109.73, 38.29, "gcj02")[0])
    with pytest.raises(CRSError, match=r"unknown coordinate system 'utm'.*wgs84, gcj02, bd09"):
        to_wgs84(1.0, 2.0, "utm")


# --- metric CRS -------------------------------------------------------------------------------------

def test_metric_crs_yulin_is_gk_cm_111() -> None:
    crs = metric_crs((109.70, 38.27, 109.76, 38.31))
    assert crs.to_epsg() == 4546
    assert "CM 111E" in crs.name
    pts = gpd.GeoDataFrame(geometry=[Point(109.70, 38.27), Point(109.76, 38.31)], crs=4326)
    assert metric_crs(pts).to_epsg() == 4546
    assert metric_crs(pts.to_crs(3857).geometry).to_epsg() == 4546


@settings(max_examples=100, deadline=None)
@given(st.floats(73.5, 136.5), st.floats(18.0, 53.0))
def test_metric_crs_central_meridian_is_nearest(lon: float, lat: float) -> None:
    crs = metric_crs((lon, lat, lon, lat))
    cm = int(crs.name.split("CM ")[1].rstrip("E"))
    assert abs(cm - lon) <= 1.5 + 1e-9
    assert crs.to_epsg() == 4534 + (cm - 75) // 3
    assert crs.name.startswith("CGCS2000 / 3-degree Gauss-Kruger CM")


@pytest.mark.parametrize(
    "bounds",
    [(13.3, 52.4, 13.5, 52.6), (8.6, 50.0, 8.8, 50.2), (151.1, -33.95, 151.3, -33.8), (-74.1, 40.6, -73.9, 40.8)],
)
def test_metric_crs_outside_china_is_utm_like_geopandas(bounds: tuple[float, float, float, float]) -> None:
    box = gpd.GeoSeries([shapely.box(*bounds)], crs=4326)
    assert metric_crs(bounds) == box.estimate_utm_crs()
    assert metric_crs(bounds).name.startswith("WGS 84 / UTM zone")


def test_metric_crs_germany() -> None:
    assert metric_crs((13.3, 52.4, 13.5, 52.6)).to_epsg() == 32633  # Berlin: UTM 33N


def test_metric_crs_refuses_empty_and_crs_less() -> None:
    with pytest.raises(CRSError, match="empty data"):
        metric_crs(gpd.GeoDataFrame(geometry=[], crs=4326))
    with pytest.raises(CRSError, match="no coordinate reference system"):
        metric_crs(gpd.GeoDataFrame(geometry=[Point(1, 2)]))
    with pytest.raises(CRSError, match=r"\(minx, miny, maxx, maxy\)"):
        metric_crs((1.0, 2.0))


def test_to_metric_areas_match_geodesic() -> None:
    square = shapely.box(109.72, 38.28, 109.74, 38.30)
    gdf = gpd.GeoDataFrame({"v": [1]}, geometry=[square], crs=4326, index=[7])
    out = to_metric(gdf)
    assert out.crs.to_epsg() == 4546 and list(out.index) == [7]
    geodesic = abs(GEOD.geometry_area_perimeter(square)[0])
    assert out.area.iloc[0] == pytest.approx(geodesic, rel=1e-3)


# --- require_crs / to_storage -----------------------------------------------------------------------

def test_require_crs_message() -> None:
    with pytest.raises(CRSError, match=r"grids\.shp has no coordinate reference system.*set_crs\('EPSG:4326'\)"
                                       r".*\.prj / declare --coords"):
        require_crs(gpd.GeoDataFrame(geometry=[Point(1, 2)]), what="grids.shp")
    require_crs(gpd.GeoDataFrame(geometry=[Point(1, 2)], crs=4326))


def test_to_storage_from_gauss_kruger() -> None:
    poly = Polygon([(388800, 4240400), (389100, 4240400), (389100, 4240600), (388800, 4240600)])
    gdf = gpd.GeoDataFrame({"grid_code": ["g1", "g2"]}, geometry=[poly, Point(388891.34, 4240450.89)],
                           crs=4546, index=[10, 20])
    before = gdf.copy()
    out = to_storage(gdf)
    assert out.crs.to_epsg() == 4326 and list(out.index) == [10, 20]
    assert out["grid_code"].tolist() == ["g1", "g2"]
    t = pyproj.Transformer.from_crs(4546, 4326, always_xy=True)
    expected = np.column_stack(t.transform(*np.asarray(poly.exterior.coords).T))
    assert np.allclose(np.asarray(out.geometry.iloc[0].exterior.coords), expected, atol=1e-12)
    assert out.geometry.iloc[1].x == pytest.approx(109.73, abs=1e-6)
    assert_geodataframe_equal(gdf, before)


def _to_gcj(geom, system: str):
    def conv(c: np.ndarray) -> np.ndarray:
        pts = [ref_wgs_to_gcj(x, y) for x, y in c[:, :2]]
        if system == "bd09":
            pts = [ref_gcj_to_bd(x, y) for x, y in pts]
        out = c.copy()
        out[:, :2] = np.array(pts).reshape(-1, 2)
        return out
    return shapely.transform(geom, conv, include_z=None)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_to_storage_converts_every_coordinate(system: str) -> None:
    outer = [(109.72, 38.28), (109.75, 38.28), (109.75, 38.30), (109.72, 38.30)]
    hole = [(109.73, 38.285), (109.74, 38.285), (109.74, 38.29)]
    wgs = [
        MultiPolygon([Polygon(outer, [hole]), shapely.box(109.76, 38.28, 109.77, 38.29)]),
        LineString([(109.70, 38.27), (109.71, 38.28), (109.72, 38.275)]),
        Point(109.731, 38.291, 1080.0),
    ]
    declared = gpd.GeoDataFrame({"n": [1, 2, 3]}, geometry=[_to_gcj(g, system) for g in wgs], crs=4326, index=[5, 6, 7])
    before = declared.copy()
    out = to_storage(declared, coords=system)
    assert_geodataframe_equal(declared, before)
    assert list(out.index) == [5, 6, 7] and out.crs.to_epsg() == 4326
    for got, want in zip(out.geometry, wgs):
        assert got.geom_type == want.geom_type
        a, b = shapely.get_coordinates(got, include_z=True), shapely.get_coordinates(want, include_z=True)
        assert a.shape == b.shape
        assert metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max() < 0.01
    assert out.geometry.iloc[2].z == 1080.0  # heights kept
    # and the declared GCJ/BD positions really were far from WGS84
    d = shapely.get_coordinates(declared.geometry.iloc[1])
    w = shapely.get_coordinates(wgs[1])
    assert metres(d[:, 0], d[:, 1], w[:, 0], w[:, 1]).min() > 50


def test_to_storage_refuses_projected_labelled_geographic() -> None:
    poly = Polygon([(388800, 4240400), (389100, 4240400), (389100, 4240600)])
    mislabelled = gpd.GeoDataFrame(geometry=[poly, Point(388891.34, 4240450.89)], crs=4326)
    with pytest.raises(CRSError, match=r"labelled EPSG:4326.*100% of its coordinates.*looks projected.*"
                                       r"delete the file's wrong \.prj and import it with --crs EPSG:NNNN, e\.g\. "
                                       r"--crs EPSG:4546"):
        to_storage(mislabelled, what="grids.gpkg")
    cgcs_geographic = mislabelled.set_crs(4490, allow_override=True)
    with pytest.raises(CRSError, match="looks projected"):
        to_storage(cgcs_geographic)


def test_to_storage_accepts_a_minority_out_of_range() -> None:
    # a few bad points are a per-record problem (quarantined later), not a wrong CRS
    gdf = gpd.GeoDataFrame(geometry=[Point(109.73, 38.29), Point(109.74, 38.30), Point(38.29, 190.0)], crs=4326)
    out = to_storage(gdf)
    assert len(out) == 3


def test_to_storage_refuses_missing_crs_and_unknown_coords() -> None:
    with pytest.raises(CRSError, match="no coordinate reference system"):
        to_storage(gpd.GeoDataFrame(geometry=[Point(109.73, 38.29)]))
    with pytest.raises(CRSError, match="unknown coordinate system 'mars'"):
        to_storage(gpd.GeoDataFrame(geometry=[Point(109.73, 38.29)], crs=4326), coords="mars")
