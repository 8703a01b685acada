"""Tests of gridmap.maps.basemaps: tile layers in the rendered HTML, and the GCJ-02 shift for Amap.

No test fetches a tile: everything is checked on the HTML folium renders.
"""

from __future__ import annotations

import copy
import json
import re

import folium
import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal, assert_geoseries_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from gridmap.errors import CRSError, SchemaError
from gridmap.crs import from_wgs84, to_wgs84
from gridmap.maps.basemaps import BASEMAPS, add_basemap, needs_gcj02, shift_latlon, to_display_crs

KEY = "0123456789abcdef0123456789ABCDEF"
# Gulou, Yulin old town (DOMAIN.md)
LON, LAT = 109.7345, 38.2902
GEOD = pyproj.Geod(ellps="WGS84")

_TILE_LAYER = re.compile(r'L\.tileLayer\(\s*("(?:[^"\\]|\\.)*")\s*,\s*(\{.*?\})\s*\);', re.S)


def tile_layers(fmap: folium.Map) -> list[tuple[str, dict]]:
    """(URL, options) of every L.tileLayer in the rendered page, JSON-decoded."""
    html = fmap.get_root().render()
    found = []
    for url, options in _TILE_LAYER.findall(html):
        found.append((json.loads(url), json.loads(re.sub(r",\s*}", "}", options))))
    return found


def geojson_payloads(html: str) -> list[dict]:
    """Every GeoJSON object folium passes to a ``geo_json_..._add({...})`` call."""
    decoder = json.JSONDecoder()
    payloads = []
    for match in re.finditer(r"geo_json_[0-9a-f]+_add\(\s*(?=\{)", html):
        obj, _ = decoder.raw_decode(html, match.end())
        payloads.append(obj)
    return payloads


def blank_map() -> folium.Map:
    return folium.Map(location=[LAT, LON], zoom_start=15, tiles=None)


# --- tile layers -------------------------------------------------------------------------------


def test_none_adds_no_tile_layer():
    fmap = add_basemap(blank_map(), "none")
    assert tile_layers(fmap) == []
    assert "L.tileLayer" not in fmap.get_root().render()


def test_osm_tile_url_and_attribution():
    [(url, options)] = tile_layers(add_basemap(blank_map(), "osm"))
    assert url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert "OpenStreetMap</a> contributors" in options["attribution"]
    assert "https://www.openstreetmap.org/copyright" in options["attribution"]


@pytest.mark.parametrize(
    ("kind", "lang", "base", "labels"),
    [("vector", "zh", "vec_w", "cva_w"), ("imagery", "zh", "img_w", "cia_w"),
     ("vector", "en", "vec_w", "eva_w"), ("imagery", "en", "img_w", "eia_w")],
)
def test_tianditu_base_and_label_layers(kind, lang, base, labels):
    layers = tile_layers(add_basemap(blank_map(), "tianditu", tianditu_key=KEY, tianditu_kind=kind, lang=lang))
    urls = [url for url, _ in layers]
    template = "https://t{s}.tianditu.gov.cn/DataServer?T=%s&x={x}&y={y}&l={z}&tk=" + KEY
    assert urls == [template % base, template % labels]  # labels drawn above the base
    for _, options in layers:
        assert options["subdomains"] == "01234567"
        assert "天地图" in options["attribution"]


def _in_page(text: str, html: str) -> bool:
    return text in html or json.dumps(text)[1:-1] in html  # raw or JSON-escaped


def test_layer_names_in_the_layer_control_follow_lang():
    def page(lang: str) -> str:
        fmap = add_basemap(blank_map(), "tianditu", tianditu_key=KEY, lang=lang)
        folium.LayerControl().add_to(fmap)
        return fmap.get_root().render()

    html_zh, html_en = page("zh"), page("en")
    assert _in_page("天地图 矢量", html_zh) and _in_page("天地图 注记", html_zh)
    assert _in_page("Tianditu vector", html_en) and _in_page("Tianditu labels", html_en)
    assert not _in_page("Tianditu vector", html_zh) and not _in_page("天地图 矢量", html_en)


def test_amap_tile_url_and_attribution():
    [(url, options)] = tile_layers(add_basemap(blank_map(), "amap"))
    assert url == "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
    assert options["subdomains"] == "1234"
    assert "高德地图" in options["attribution"]


def test_basemap_name_is_case_and_space_tolerant():
    assert len(tile_layers(add_basemap(blank_map(), " OSM "))) == 1


def test_add_basemap_returns_the_same_map():
    fmap = blank_map()
    assert add_basemap(fmap, "osm") is fmap


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "   "])
def test_tianditu_without_key_says_how_to_get_one(key):
    fmap = blank_map()
    with pytest.raises(SchemaError, match=r"needs a key.*console\.tianditu\.gov\.cn.*--tianditu-key"):
        add_basemap(fmap, "tianditu", tianditu_key=key)
    assert tile_layers(fmap) == []  # nothing half-added


@pytest.mark.parametrize("key", ['abc"</script><script>alert(1)</script>', "abc def 0123", "k" * 100])
def test_tianditu_refuses_malformed_key(key):
    with pytest.raises(SchemaError, match="letters and digits only"):
        add_basemap(blank_map(), "tianditu", tianditu_key=key)


def test_tianditu_unknown_kind():
    with pytest.raises(SchemaError, match="unknown Tianditu kind 'terrain'; use 'vector' or 'imagery'"):
        add_basemap(blank_map(), "tianditu", tianditu_key=KEY, tianditu_kind="terrain")


def test_unknown_basemap_lists_the_choices():
    with pytest.raises(SchemaError, match="unknown basemap 'baidu'; use one of none, osm, tianditu, amap"):
        add_basemap(blank_map(), "baidu")
    with pytest.raises(SchemaError, match="unknown basemap"):
        needs_gcj02("google")
    with pytest.raises(SchemaError, match="unknown basemap"):
        to_display_crs(gpd.GeoDataFrame(geometry=[Point(LON, LAT)], crs=4326), "bing")


def test_unknown_lang():
    with pytest.raises(SchemaError, match="unknown map language 'fr'"):
        add_basemap(blank_map(), "osm", lang="fr")


def test_to_display_crs_refuses_data_without_crs():
    with pytest.raises(CRSError, match="has no coordinate reference system"):
        to_display_crs(gpd.GeoDataFrame(geometry=[Point(LON, LAT)]), "amap")


# --- the GCJ-02 shift ----------------------------------------------------------------------------


@pytest.mark.parametrize("basemap", list(BASEMAPS))
def test_needs_gcj02_only_for_amap(basemap):
    assert needs_gcj02(basemap) is (basemap == "amap")


def test_known_point_lands_at_its_gcj02_position_100_to_700_m_away():
    gdf = gpd.GeoDataFrame({"name": ["鼓楼"]}, geometry=[Point(LON, LAT)], crs=4326)
    shifted = to_display_crs(gdf, "amap")
    glon, glat = from_wgs84(LON, LAT, "gcj02")
    point = shifted.geometry.iloc[0]
    assert (point.x, point.y) == (float(glon), float(glat))
    _, _, distance = GEOD.inv(LON, LAT, point.x, point.y)
    assert 100.0 <= distance <= 700.0
    assert shift_latlon(LAT, LON, "amap") == (float(glat), float(glon))


def test_published_beijing_value():
    # The widely published GCJ-02 example near Tiananmen: (116.404, 39.915) -> (116.4102445, 39.9164043).
    shifted = to_display_crs(gpd.GeoSeries([Point(116.404, 39.915)], crs=4326), "amap").iloc[0]
    assert shifted.x == pytest.approx(116.4102445, abs=1e-7)
    assert shifted.y == pytest.approx(39.9164043, abs=1e-7)


@pytest.mark.parametrize("basemap", ["none", "osm", "tianditu"])
def test_other_basemaps_leave_coordinates_unchanged(basemap):
    gdf = gpd.GeoDataFrame({"v": [1, 2]}, geometry=[Point(LON, LAT), Point(LON + 0.01, LAT)],
                           crs=4326, index=[7, 3])
    out = to_display_crs(gdf, basemap)
    assert out is not gdf
    assert_geodataframe_equal(out, gdf)
    assert shift_latlon(LAT, LON, basemap) == (LAT, LON)


def _polygon_with_hole() -> Polygon:
    shell = [(LON, LAT), (LON + 0.01, LAT), (LON + 0.01, LAT + 0.008), (LON, LAT + 0.008), (LON, LAT)]
    hole = [(LON + 0.003, LAT + 0.002), (LON + 0.006, LAT + 0.002), (LON + 0.006, LAT + 0.005),
            (LON + 0.003, LAT + 0.002)]
    return Polygon(shell, [hole])


def _expected_ring(coords) -> list[tuple[float, float]]:
    xy = np.asarray(coords)
    lon, lat = from_wgs84(xy[:, 0], xy[:, 1], "gcj02")
    return list(zip(lon.tolist(), lat.tolist()))


def test_polygon_with_hole_shifted_vertex_wise():
    poly = _polygon_with_hole()
    out = to_display_crs(gpd.GeoDataFrame(geometry=[poly], crs=4326), "amap").geometry.iloc[0]
    assert len(out.interiors) == 1
    assert list(out.exterior.coords) == _expected_ring(poly.exterior.coords)
    assert list(out.interiors[0].coords) == _expected_ring(poly.interiors[0].coords)
    assert out.is_valid


def test_lines_and_multi_geometries_keep_index_columns_and_input():
    triangle = Polygon([(LON + 0.02, LAT), (LON + 0.03, LAT), (LON + 0.02, LAT + 0.01)])
    multi = MultiPolygon([_polygon_with_hole(), triangle])
    line = LineString([(LON, LAT), (LON + 0.005, LAT + 0.003), (LON + 0.01, LAT + 0.001)])
    gdf = gpd.GeoDataFrame({"name": ["a", "b", "c", "d"]},
                           geometry=[multi, line, Point(LON, LAT), None], crs=4326, index=["g1", "s1", "r1", "x"])
    before = copy.deepcopy(gdf)
    out = to_display_crs(gdf, "amap")
    assert_geodataframe_equal(gdf, before)  # input untouched
    assert list(out.index) == ["g1", "s1", "r1", "x"]
    assert list(out["name"]) == ["a", "b", "c", "d"]
    assert out.geometry.iloc[3] is None
    for original, shifted in zip(gdf.geometry.iloc[:3], out.geometry.iloc[:3]):
        assert shifted.geom_type == original.geom_type
        assert shapely.get_num_coordinates(shifted) == shapely.get_num_coordinates(original)
        assert [tuple(c) for c in shapely.get_coordinates(shifted)] == _expected_ring(shapely.get_coordinates(original))
    assert len(out.geometry.iloc[0].geoms[0].interiors) == 1


def test_projected_input_is_shifted_from_its_wgs84_position():
    gdf = gpd.GeoDataFrame(geometry=[Point(LON, LAT)], crs=4326).to_crs("EPSG:4546")
    out = to_display_crs(gdf, "amap")
    assert out.crs.to_epsg() == 4326
    transformer = pyproj.Transformer.from_crs(4546, 4326, always_xy=True)
    wgs = transformer.transform(gdf.geometry.iloc[0].x, gdf.geometry.iloc[0].y)
    glon, glat = from_wgs84(wgs[0], wgs[1], "gcj02")
    assert out.geometry.iloc[0].x == pytest.approx(float(glon), abs=1e-9)
    assert out.geometry.iloc[0].y == pytest.approx(float(glat), abs=1e-9)
    assert gdf.crs.to_epsg() == 4546


def test_z_values_kept_and_geoseries_supported():
    series = gpd.GeoSeries([Point(LON, LAT, 1100.0)], crs=4326, index=[5], name="where")
    out = to_display_crs(series, "amap")
    assert isinstance(out, gpd.GeoSeries) and out.name == "where" and list(out.index) == [5]
    point = out.iloc[0]
    glon, glat = from_wgs84(LON, LAT, "gcj02")
    assert (point.x, point.y, point.z) == (float(glon), float(glat), 1100.0)
    assert_geoseries_equal(series, gpd.GeoSeries([Point(LON, LAT, 1100.0)], crs=4326, index=[5], name="where"))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(75.0, 134.0), st.floats(18.0, 53.0)), min_size=1, max_size=20),
)
def test_shift_round_trips_through_the_inverse(points):
    gdf = gpd.GeoDataFrame(geometry=[Point(x, y) for x, y in points], crs=4326)
    out = to_display_crs(gdf, "amap")
    coords = shapely.get_coordinates(out.geometry.values)
    lon, lat = to_wgs84(coords[:, 0], coords[:, 1], "gcj02")
    np.testing.assert_allclose(lon, [p[0] for p in points], atol=1e-8)
    np.testing.assert_allclose(lat, [p[1] for p in points], atol=1e-8)
    _, _, distance = GEOD.inv([p[0] for p in points], [p[1] for p in points], coords[:, 0], coords[:, 1])
    assert np.all(distance < 1500.0)  # GCJ-02 offsets are hundreds of metres, never kilometres


# --- a whole map ---------------------------------------------------------------------------------


def test_amap_map_draws_overlay_and_marker_at_gcj02_positions():
    poly = _polygon_with_hole()
    grids = gpd.GeoDataFrame({"grid_id": ["G01"]}, geometry=[poly], crs=4326)
    fmap = add_basemap(blank_map(), "amap")
    folium.GeoJson(to_display_crs(grids, "amap")).add_to(fmap)
    folium.Marker(list(shift_latlon(LAT, LON, "amap"))).add_to(fmap)
    html = fmap.get_root().render()
    [payload] = geojson_payloads(html)
    rings = payload["features"][0]["geometry"]["coordinates"]
    assert [tuple(c) for c in rings[0]] == _expected_ring(poly.exterior.coords)
    assert [tuple(c) for c in rings[1]] == _expected_ring(poly.interiors[0].coords)
    glon, glat = from_wgs84(LON, LAT, "gcj02")
    marker = re.search(r"L\.marker\(\s*\[([-0-9.e]+),\s*([-0-9.e]+)\]", html)
    assert (float(marker.group(1)), float(marker.group(2))) == (float(glat), float(glon))
    assert grids.geometry.iloc[0].equals_exact(poly, tolerance=0)  # the caller's frame is untouched
