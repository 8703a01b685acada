"""Tests of the maps of recurring problems: gridmap.maps.density (folium) and gridmap.maps.static_density (PNG).

The maps are checked first on hand-made stand-ins with exactly the attributes of
the shared result schemas (``DensityGrid``, ``recurring_sites``, ``hotspots``,
``emerging_hotspots``) near Yulin, with hostile text, cadre names and phone
numbers in them, then on real results over the sample. Positions are checked
against pyproj and the Web Mercator formula computed here; pages are rendered
with folium and read as text; PNGs are read back with Pillow.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import re
import warnings
from datetime import datetime, timezone

import affine
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import colormaps
from PIL import Image
from pyproj import CRS, Transformer
from shapely.geometry import Point, box

import gridmap
from gridmap.errors import CRSError, SchemaError
from gridmap.maps.density import EMERGING_CATEGORIES, heatmap_map, hotspot_map, warp_to_web
from gridmap.maps.static_density import heatmap_png, hotspot_png

METRIC = "EPSG:4546"  # CGCS2000 / 3-degree Gauss-Kruger CM 111E
TZ = "Asia/Shanghai"
HOSTILE = "X{{ 7*7 }}Y<img src=x onerror=alert(1)>`${x}`"
CADRES = ("张干部", "李干部")
PHONES = ("13800000001", "13912345678")
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
FOLIUM_ID_RE = re.compile(r"_[0-9a-f]{32}(?![0-9a-f])")
DATA_URL_RE = re.compile(r'"data:image/png;base64,([A-Za-z0-9+/=]+)"\s*,\s*(\[\[[^\]]+\],\s*\[[^\]]+\]\])')
# The 17 pattern names of ArcGIS Pro's Emerging Hot Spot Analysis, as issue 4 lists them.
ARCGIS_PATTERNS = [f"{kind} {side} spot" for side in ("hot", "cold") for kind in (
    "new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating", "historical")]
ARCGIS_PATTERNS.append("no pattern detected")


@dataclasses.dataclass
class StandInDensity:
    """The shared DensityGrid schema, built by hand."""

    values: np.ndarray
    transform: affine.Affine
    crs: CRS
    kernel: str
    bandwidth_m: float
    cell_m: float
    units: str
    total: float
    bounds: tuple[float, float, float, float]

    def scaled(self, factor: float, units: str) -> "StandInDensity":
        return dataclasses.replace(self, values=self.values * factor, total=self.total * factor, units=units)


def _origin() -> tuple[float, float]:
    x, y = Transformer.from_crs("EPSG:4326", METRIC, always_xy=True).transform(109.73, 38.29)
    return round(x / 100) * 100.0, round(y / 100) * 100.0


def _blob(peak_xy: tuple[float, float], *, x0: float, y1: float, cell: float = 20.0, rows: int = 110,
          cols: int = 130, sigma: float = 60.0, height: float = 300.0) -> StandInDensity:
    """A Gaussian bump of known peak position and height on a north-up metric grid."""
    xc = x0 + (np.arange(cols) + 0.5) * cell
    yc = y1 - (np.arange(rows) + 0.5) * cell
    gx, gy = np.meshgrid(xc, yc)
    values = height * np.exp(-((gx - peak_xy[0]) ** 2 + (gy - peak_xy[1]) ** 2) / (2 * sigma ** 2))
    return StandInDensity(values=values, transform=affine.Affine(cell, 0, x0, 0, -cell, y1), crs=CRS(METRIC),
                          kernel="gaussian", bandwidth_m=sigma, cell_m=cell, units="reports per km²",
                          total=float(values.sum() * cell * cell / 1e6),
                          bounds=(x0, y1 - rows * cell, x0 + cols * cell, y1))


@pytest.fixture(scope="module")
def density() -> StandInDensity:
    x0, y1 = _origin()
    return _blob((x0 + 1010.0, y1 - 830.0), x0=x0, y1=y1)


def _to_wgs(geoms: list) -> list:
    tr = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True)
    return [shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))) for g in geoms]


@pytest.fixture(scope="module")
def grids() -> gpd.GeoDataFrame:
    x0, y1 = _origin()
    squares = [box(x0 + i * 1300, y1 - 2200, x0 + (i + 1) * 1300, y1) for i in range(2)]
    return gpd.GeoDataFrame({"grid_code": ["610802001001001", "610802001001002"], "name": [HOSTILE, "南门网格"],
                             "cadre": list(CADRES), "cadre_phone": list(PHONES)},
                            geometry=_to_wgs(squares), crs="EPSG:4326")


@pytest.fixture(scope="module")
def sites() -> gpd.GeoDataFrame:
    x0, y1 = _origin()
    points = _to_wgs([Point(x0 + 1010, y1 - 830), Point(x0 + 300, y1 - 300)])
    return gpd.GeoDataFrame({
        "site_id": [HOSTILE, "S2"], "category": ["garbage_dumping", "firewood_pile"], "reports": [5, 2],
        "recurrences": [3, 1],
        "first_seen": pd.to_datetime(["2025-01-03 09:00", "2025-02-01 10:00"]).tz_localize(TZ),
        "last_seen": pd.to_datetime(["2025-05-20 17:00", "2025-03-01 08:00"]).tz_localize(TZ),
        "median_days_to_rebound": [6.5, float("nan")], "grid_code": ["610802001001001", "610802001001002"],
        "cadre": list(CADRES), "report_ids": ["r1,r2,r3,r4,r5", "r8,r9"],
    }, geometry=points, crs="EPSG:4326")


def _page(fmap) -> str:
    return fmap.get_root().render()


def _shown(page: str) -> str:
    """What a reader sees: character references decoded, folium's random element ids removed."""
    return html.unescape(FOLIUM_ID_RE.sub("_id", page))


def _mercator_y(lat: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _expected_pixel(lon: float, lat: float, bounds: tuple[float, ...], shape: tuple[int, int]) -> tuple[float, float]:
    """(row, col) of (lon, lat) in an image Leaflet stretches between `bounds` in Web Mercator."""
    west, south, east, north = bounds
    rows, cols = shape
    col = (lon - west) / (east - west) * cols
    row = (_mercator_y(north) - _mercator_y(lat)) / (_mercator_y(north) - _mercator_y(south)) * rows
    return row, col


def _densified_bounds(bounds: tuple[float, ...], crs: str = METRIC) -> tuple[float, float, float, float]:
    """lon/lat bounding box of a metric rectangle, from 2,000 points along each edge (independent of the code)."""
    minx, miny, maxx, maxy = bounds
    t = np.linspace(0, 1, 2000)
    xs = np.concatenate([minx + t * (maxx - minx), np.full_like(t, maxx), maxx - t * (maxx - minx),
                         np.full_like(t, minx)])
    ys = np.concatenate([np.full_like(t, miny), miny + t * (maxy - miny), np.full_like(t, maxy),
                         maxy - t * (maxy - miny)])
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _overlay(page: str) -> tuple[np.ndarray, list[list[float]]]:
    match = DATA_URL_RE.search(page)
    assert match, "no image overlay with a PNG data URL in the page"
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(match.group(1)))).convert("RGBA"))
    return image, json.loads(match.group(2))


# ----------------------------------------------------------------- heatmap_map


def test_heatmap_legend_in_true_units_per_month(density: StandInDensity) -> None:
    months = 4.0
    shown = _shown(_page(heatmap_map(density, months=months)))
    assert "报告密度（次/平方公里/月）" in shown
    legend = shown[shown.index('class="gridmap-legend"'):]
    ticks = [float(t.replace(",", "")) for t in re.findall(r"<div>([\d.,]+)</div>", legend)]
    peak = 300.0 / months  # the bump's height, per month
    assert max(ticks) == pytest.approx(peak, rel=5e-3)
    assert min(ticks) == pytest.approx(0.01 * peak, rel=5e-3)


def test_heatmap_english_labels(density: StandInDensity, sites: gpd.GeoDataFrame) -> None:
    shown = _shown(_page(heatmap_map(density, sites=sites, lang="en", title="T")))
    assert "report density (reports per km² per month)" in shown
    assert json.dumps("recurring sites") in shown
    assert "first seen" in shown and "median days from rectification to rebound" in shown
    assert "次/平方公里" not in shown and "反弹点位" not in shown


def test_overlay_bounds_equal_density_bounds_in_lonlat(density: StandInDensity) -> None:
    _image, corners = _overlay(_page(heatmap_map(density)))
    (south, west), (north, east) = corners
    ew, es, ee, en = _densified_bounds(density.bounds)
    assert (west, south, east, north) == pytest.approx((ew, es, ee, en), abs=1.5e-6)


def test_warp_puts_the_peak_on_its_lonlat_pixel(density: StandInDensity) -> None:
    values, bounds = warp_to_web(density)
    peak_x, peak_y = density.bounds[0] + 1010.0, density.bounds[3] - 830.0
    lon, lat = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True).transform(peak_x, peak_y)
    row, col = _expected_pixel(lon, lat, bounds, values.shape)
    got_row, got_col = np.unravel_index(np.nanargmax(values), values.shape)
    assert abs(got_row + 0.5 - row) <= 1.0 and abs(got_col + 0.5 - col) <= 1.0
    # the warp samples, it does not rescale: bilinear never overshoots, and a pixel centre within about
    # half a 20 m pixel of the peak of a σ = 60 m bump sees at least exp(-(10² + 10²) / (2·60²)) of it
    assert 300.0 * math.exp(-200 / 7200) - 1.0 <= np.nanmax(values) <= 300.0 + 1e-9


def test_page_image_shows_the_peak_at_its_pixel(density: StandInDensity) -> None:
    image, corners = _overlay(_page(heatmap_map(density)))
    (south, west), (north, east) = corners
    lon, lat = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True).transform(
        density.bounds[0] + 1010.0, density.bounds[3] - 830.0)
    row, col = _expected_pixel(lon, lat, (west, south, east, north), image.shape[:2])
    top = np.array(colormaps["YlOrRd"](1.0)[:3]) * 255
    distance = np.abs(image[..., :3].astype(float) - top).sum(axis=2)
    rows, cols = np.nonzero(distance <= distance.min() + 1e-9)
    assert abs(rows.mean() + 0.5 - row) <= 1.0 and abs(cols.mean() + 0.5 - col) <= 1.0
    # transparent where the density is below 1 % of its peak: the image corners are far from the bump
    assert image[0, 0, 3] == 0 and image[-1, -1, 3] == 0 and image[int(row), int(col), 3] > 0


@settings(max_examples=12, deadline=None)
@given(fx=st.floats(0.05, 0.95), fy=st.floats(0.05, 0.95))
def test_warp_peak_anywhere_on_a_large_grid(fx: float, fy: float) -> None:
    # 11 km × 10 km at 25 m: the ~0.8° grid convergence shifts the corners by ~6 pixels, so a warp that
    # ignored the rotation (stretching the raster over its lon/lat box) would fail here
    x0, y1 = _origin()
    px, py = x0 + fx * 11_000, y1 - fy * 10_000
    grid = _blob((px, py), x0=x0, y1=y1, cell=25.0, rows=400, cols=440, sigma=60.0)
    values, bounds = warp_to_web(grid)
    lon, lat = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True).transform(px, py)
    row, col = _expected_pixel(lon, lat, bounds, values.shape)
    got_row, got_col = np.unravel_index(np.nanargmax(values), values.shape)
    assert abs(got_row + 0.5 - row) <= 1.0 and abs(got_col + 0.5 - col) <= 1.0


def test_a_warp_ignoring_the_rotation_would_be_caught() -> None:
    x0, y1 = _origin()
    px, py = x0 + 10_500, y1 - 9_500  # near the south-east corner
    grid = _blob((px, py), x0=x0, y1=y1, cell=25.0, rows=400, cols=440, sigma=60.0)
    _values, bounds = warp_to_web(grid)
    lon, lat = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True).transform(px, py)
    row, col = _expected_pixel(lon, lat, bounds, grid.values.shape)
    naive_row, naive_col = np.unravel_index(np.argmax(grid.values), grid.values.shape)
    assert max(abs(naive_row + 0.5 - row), abs(naive_col + 0.5 - col)) > 3


def test_hostile_text_escaped_and_no_personal_data(density: StandInDensity, sites: gpd.GeoDataFrame,
                                                   grids: gpd.GeoDataFrame) -> None:
    page = _page(heatmap_map(density, sites=sites, grids=grids, title=HOSTILE, illustrative=True))
    assert "<img src=x" not in page and "X49Y" not in page and "${x}" not in page
    assert HOSTILE in _shown(page)  # shown literally
    assert not PHONE_RE.search(FOLIUM_ID_RE.sub("_id", page))
    assert not any(name in page or json.dumps(name) in page for name in CADRES)
    shown = _shown(page)
    assert "垃圾乱倒" in shown and "2025-01-03" in shown and "6.5 天" in shown
    assert "示意数据（非测绘边界）" in shown


def test_screen_heat_is_an_extra_layer_off_by_default(density: StandInDensity, sites: gpd.GeoDataFrame) -> None:
    reports = sites[["geometry"]].copy()
    page = _page(heatmap_map(density, reports=reports))
    names = re.findall(r"var (heat_map_[0-9a-f]{32}) = L\.heatLayer\(", page)
    assert len(names) == 1
    assert f"{names[0]}.addTo(" not in page
    assert re.search(re.escape(json.dumps("屏幕热力图（随缩放变化，仅供浏览）")) + r"\s*:\s*" + names[0], page)
    image_layers = re.findall(r"var (image_overlay_[0-9a-f]{32}) = L\.imageOverlay\(", page)
    assert len(image_layers) == 1 and f"{image_layers[0]}.addTo(" in page


def test_heatmap_rejects_bad_options(density: StandInDensity) -> None:
    with pytest.raises(SchemaError, match="unknown map language 'fr'.*'zh'"):
        heatmap_map(density, lang="fr")
    with pytest.raises(SchemaError, match="months must be a positive number"):
        heatmap_map(density, months=0)
    crs_less = gpd.GeoDataFrame({"site_id": ["s"]}, geometry=[Point(109.73, 38.29)])
    with pytest.raises(CRSError):
        heatmap_map(density, sites=crs_less)


# ----------------------------------------------------------------- hotspot_map


@pytest.fixture(scope="module")
def hot() -> gpd.GeoDataFrame:
    x0, y1 = _origin()
    squares = [box(x0 + i * 200, y1 - 200, x0 + (i + 1) * 200, y1) for i in range(7)]
    return gpd.GeoDataFrame({
        "cell_id": range(7), "name": [HOSTILE] + [f"网格{i}" for i in range(1, 7)],
        "cadre_phone": [PHONES[0]] * 7, "count": [12, 8, 5, 1, 0, 0, 0],
        "gi_z": [3.1, 2.2, 1.7, 0.1, -1.7, -2.1, -2.9], "gi_p": [0.002, 0.03, 0.09, 0.9, 0.09, 0.035, 0.004],
        "gi_p_sim": [np.nan] * 7, "significant": [True, True, False, False, False, True, True],
        "gi_bin": [3, 2, 1, 0, -1, -2, -3],
    }, geometry=_to_wgs(squares), crs="EPSG:4326", index=[20, 21, 22, 23, 24, 25, 26])


@pytest.fixture(scope="module")
def emerging(hot: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = hot[["cell_id", "name", "geometry"]].copy()
    out["category"] = ["new hot spot", "oscillating hot spot", "persistent cold spot", "no pattern detected",
                       "historical hot spot", "sporadic cold spot", "no pattern detected"]
    out["trend_z"] = [2.0, 0.3, -1.5, 0.0, -0.4, 0.1, 0.0]
    out["trend_p"] = [0.04, 0.7, 0.13, 1.0, 0.7, 0.9, 1.0]
    out["hot_steps"], out["cold_steps"], out["n_steps"] = 0, 0, 3
    out.attrs["steps"] = ["2025-01-01T00:00:00+08:00", "2025-02-01T00:00:00+08:00", "2025-03-01T00:00:00+08:00"]
    out.attrs["counts"] = [[4, 4, 4], [2, 3, 3], [1, 2, 2], [0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
    out.attrs["z"] = [[0.0] * 3 for _ in range(7)]
    return out


def test_hotspot_legends_zh(hot: gpd.GeoDataFrame, emerging: gpd.GeoDataFrame) -> None:
    shown = _shown(_page(hotspot_map(hot, emerging=emerging)))
    for label in ("热点 99% 置信度", "热点 95% 置信度", "热点 90% 置信度", "不显著", "冷点 90% 置信度",
                  "冷点 95% 置信度", "冷点 99% 置信度"):
        assert label in shown
    for label in ("新热点", "振荡热点", "持续冷点", "历史热点", "零星冷点", "无明显模式"):
        assert label in shown
    assert "加强热点" not in shown  # only the categories present are listed


def test_hotspot_english_labels(hot: gpd.GeoDataFrame, emerging: gpd.GeoDataFrame) -> None:
    shown = _shown(_page(hotspot_map(hot, emerging=emerging, lang="en")))
    assert "hot spot, 99 % confidence" in shown and "oscillating hot spot" in shown
    assert "reports per month" in shown and "热点" not in shown


def test_emerging_labels_cover_the_arcgis_patterns() -> None:
    assert list(EMERGING_CATEGORIES) == ARCGIS_PATTERNS
    assert len(set(EMERGING_CATEGORIES.values())) == 17


def test_cells_coloured_by_bin(hot: gpd.GeoDataFrame) -> None:
    page = _page(hotspot_map(hot))
    data = json.loads(re.search(r"(\{\"bbox\".*?\"type\": \"FeatureCollection\"\})", page).group(1))
    bins = [f["properties"]["gi_bin"] for f in data["features"]]
    assert bins == [3, 2, 1, 0, -1, -2, -3]
    assert set(data["features"][0]["properties"]) == {"cell", "count", "gi_z", "gi_p", "bin", "gi_bin"}


def test_time_slider_by_month(hot: gpd.GeoDataFrame, emerging: gpd.GeoDataFrame) -> None:
    page = _page(hotspot_map(hot, emerging=emerging))
    stamps = json.loads(re.search(r"let timestamps = (\[[^\]]*\]);", page).group(1))
    expected = [str(int(datetime(2025, m, 1, tzinfo=timezone.utc).timestamp()) - 8 * 3600) for m in (1, 2, 3)]
    assert stamps == expected
    styles = json.loads(re.search(r"let styledict = (\{.*?\});\n", page).group(1))
    assert len(styles) == 7
    zero = styles["4"][expected[0]]["color"]
    assert all(styles[str(i)][t]["color"] == zero for i in (4, 5, 6) for t in expected)
    # the largest monthly count gets the darkest class, different from the empty one
    assert styles["0"][expected[0]]["color"] != zero
    assert styles["0"][expected[0]]["color"] != styles["3"][expected[1]]["color"]


def test_time_slider_from_cube_and_mismatch(hot: gpd.GeoDataFrame) -> None:
    counts = np.zeros((7, 2), dtype=int)
    counts[0] = [3, 9]
    steps = [pd.Timestamp("2025-01-01", tz=TZ), pd.Timestamp("2025-02-01", tz=TZ)]
    page = _page(hotspot_map(hot, monthly_counts=(counts, steps)))
    assert len(json.loads(re.search(r"let timestamps = (\[[^\]]*\]);", page).group(1))) == 2
    with pytest.raises(SchemaError, match="2 steps but 3 step dates"):
        hotspot_map(hot, monthly_counts=(counts, steps + [pd.Timestamp("2025-03-01", tz=TZ)]))


def test_hotspot_map_escapes_and_hides_phones(hot: gpd.GeoDataFrame, emerging: gpd.GeoDataFrame) -> None:
    page = _page(hotspot_map(hot, emerging=emerging, title=HOSTILE))
    assert "<img src=x" not in page and "X49Y" not in page
    assert HOSTILE in _shown(page)
    assert not PHONE_RE.search(FOLIUM_ID_RE.sub("_id", page))


# ----------------------------------------------------------------- PNGs


def _png(path) -> Image.Image:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data))


def test_heatmap_png(tmp_path, density: StandInDensity, sites: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = heatmap_png(density, tmp_path / "heat.png", sites=sites, grids=grids, months=2, title="a $ b {{ x }}",
                          illustrative=True, dpi=60)
    assert not [w for w in caught if "Glyph" in str(w.message)]
    image = _png(out)
    assert image.size == (660, 540)
    rgb = np.asarray(image.convert("RGB")).reshape(-1, 3)
    # the ramp's top colour, blended at alpha 0.85 on white, is on the page (the peak)
    top = np.array(colormaps["YlOrRd"](1.0)[:3]) * 255 * 0.85 + 255 * 0.15
    assert np.abs(rgb - top).sum(axis=1).min() < 30


@pytest.mark.parametrize("with_emerging", [False, True])
def test_hotspot_png(tmp_path, hot: gpd.GeoDataFrame, emerging: gpd.GeoDataFrame, with_emerging: bool) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = hotspot_png(hot, tmp_path / "hot.png", emerging=emerging if with_emerging else None, lang="zh", dpi=60)
    assert not [w for w in caught if "Glyph" in str(w.message)]
    rgb = np.asarray(_png(out).convert("RGB")).reshape(-1, 3)
    hot99 = np.array([0xb2, 0x18, 0x2b])
    assert (np.abs(rgb - hot99).sum(axis=1) < 6).sum() > 50


def test_pngs_reject_bad_options(tmp_path, density: StandInDensity, hot: gpd.GeoDataFrame) -> None:
    with pytest.raises(SchemaError, match="dpi must be a number between 20 and 1200"):
        heatmap_png(density, tmp_path / "x.png", dpi=5)
    with pytest.raises(SchemaError, match="unknown map language"):
        hotspot_png(hot, tmp_path / "x.png", lang="de")
    with pytest.raises(CRSError):
        hotspot_png(hot.set_crs(None, allow_override=True), tmp_path / "x.png")


# ----------------------------------------------------------------- real results


@pytest.fixture(scope="module")
def sample() -> tuple[gpd.GeoDataFrame, pd.DataFrame, dict]:
    boundaries = gridmap.sample_boundaries()
    reports, rectifications = gridmap.sample_reports(boundaries, n_reports=400)
    return reports, rectifications, boundaries


def test_real_kde_overlay(sample) -> None:
    reports, rectifications, boundaries = sample
    grid = gridmap.kde(reports)
    sites = gridmap.recurring_sites(reports, rectifications=rectifications, grids=boundaries["grids"])
    page = _page(heatmap_map(grid, sites=sites, grids=boundaries["grids"], reports=reports, months=12))
    image, corners = _overlay(page)
    (south, west), (north, east) = corners
    expected = _densified_bounds(grid.bounds, grid.crs.to_string())
    assert (west, south, east, north) == pytest.approx(expected, abs=1.5e-6)
    values, bounds = warp_to_web(grid)
    row, col = np.unravel_index(np.argmax(grid.values), grid.values.shape)
    x, y = grid.transform.c + (col + 0.5) * grid.transform.a, grid.transform.f + (row + 0.5) * grid.transform.e
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    exp_row, exp_col = _expected_pixel(lon, lat, bounds, values.shape)
    got_row, got_col = np.unravel_index(np.nanargmax(values), values.shape)
    assert abs(got_row + 0.5 - exp_row) <= 1.5 and abs(got_col + 0.5 - exp_col) <= 1.5
    assert not PHONE_RE.search(FOLIUM_ID_RE.sub("_id", page))


def test_real_hotspots_map(sample, tmp_path) -> None:
    reports, _rect, boundaries = sample
    # import from the module directly (gridmap.analysis.hotspot); gridmap.hotspots is the function
    from gridmap.analysis.hotspot import emerging_hotspots, fishnet, hotspots

    cells = fishnet(boundaries["grids"], 250)
    hot = hotspots(reports, cells)
    emerging = emerging_hotspots(reports, cells, interval="month")
    shown = _shown(_page(hotspot_map(hot, emerging=emerging)))
    assert "不显著" in shown or "热点 90% 置信度" in shown
    stamps = re.findall(r"let timestamps = (\[[^\]]*\]);", _page(hotspot_map(hot, emerging=emerging)))
    assert len(json.loads(stamps[0])) == len(emerging.attrs["steps"])
    assert _png(hotspot_png(hot, tmp_path / "hot.png", emerging=emerging, dpi=40))
