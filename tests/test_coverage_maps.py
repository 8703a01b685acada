"""Tests of the coverage maps: the folium page (gridmap.maps.coverage) and the PNG (gridmap.maps.static).

The maps are checked on a hand-built result with known numbers near Yulin (the
`result` fixture, with exactly the attributes and columns of
``gridmap.analysis.coverage.CoverageResult``), with hostile text in names, and on a real
``sweep_coverage`` result over the sample. Pages are rendered with folium and
read as text; PNGs are read back with Pillow.
"""

from __future__ import annotations

import html
import math
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.ft2font import FT2Font
from PIL import Image
from pyproj import Transformer
from shapely.geometry import LineString, Point, box

from gridmap.errors import CRSError, GridmapError, SchemaError
from gridmap.crs import from_wgs84
from gridmap.maps import fonts as _fonts
from gridmap.maps.legend import COVERAGE_COLOURS
from gridmap.maps.coverage import LABELS, coverage_map
from gridmap.maps.static import _north_angle, coverage_png, nice_scale_length

METRIC = "EPSG:4546"  # CGCS2000 / 3-degree Gauss-Kruger CM 111E
TZ = "Asia/Shanghai"
HOSTILE = "X{{ 7*7 }}Y<img src=x onerror=alert(1)>`${x}`"
INSPECTORS = ("王巡查", "李巡查")
PHONES = ("13800000001", "13912345678", "15011112222")
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# folium names elements with uuid4 hex: random digit runs that must not be taken for phone numbers
FOLIUM_ID_RE = re.compile(r"_[0-9a-f]{32}(?![0-9a-f])")


def _to_wgs(geoms: list) -> list:
    tr = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True)
    return [shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))) for g in geoms]


def _origin() -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4326", METRIC, always_xy=True).transform(109.73, 38.29)


def _grids(x0: float, y0: float) -> gpd.GeoDataFrame:
    squares = [box(x0 + i * 200, y0, x0 + (i + 1) * 200, y0 + 200) for i in range(3)]
    ratios = [0.30, 0.90, 0.97]
    frame = gpd.GeoDataFrame({
        "grid_code": ["610802001001001", "610802001001002", "610802001002001"],
        "name": ["北门社区第1网格", HOSTILE, "南门社区第1网格"],
        "community_code": ["610802001001", "610802001001", "610802001002"],
        "cadre": ["张干部", "Z{{ 7*7 }}W`${x}`", "刘干部"],
        "cadre_phone": list(PHONES),
        "area_code": ["610802001A1"] * 3,
        "area_m2": [40000.0] * 3,
        "covered_m2": [40000.0 * r for r in ratios],
        "uncovered_m2": [40000.0 * (1 - r) for r in ratios],
        "coverage_ratio": ratios,
        "dead_corners": [1, 1, 0],
    }, geometry=_to_wgs(squares), crs="EPSG:4326", index=[10, 11, 12])
    return frame


def _dead_corners(x0: float, y0: float) -> gpd.GeoDataFrame:
    polys = _to_wgs([box(x0 + 10, y0 + 10, x0 + 40, y0 + 40), box(x0 + 360, y0 + 150, x0 + 380, y0 + 190)])
    points = [p.point_on_surface() for p in polys]
    lon = np.array([p.x for p in points])
    lat = np.array([p.y for p in points])
    glon, glat = from_wgs84(lon, lat, "gcj02")
    return gpd.GeoDataFrame({
        "corner_id": ["610802001001001-01", "610802001001002-01"],
        "grid_code": ["610802001001001", "610802001001002"],
        "community_code": ["610802001001", "610802001001"],
        "cadre": ["张干部", "Z{{ 7*7 }}W`${x}`"],
        "area_m2": [900.0, 800.0],
        "lon": lon, "lat": lat, "lon_gcj02": glon, "lat_gcj02": glat,
    }, geometry=polys, crs="EPSG:4326")


def _targets(x0: float, y0: float) -> gpd.GeoDataFrame:
    geoms = _to_wgs([Point(x0 + 100, y0 + 100), Point(x0 + 25, y0 + 25), box(x0 + 420, y0 + 20, x0 + 480, y0 + 80)])
    t = pd.Timestamp("2025-03-03 08:41", tz=TZ)
    return gpd.GeoDataFrame({
        "target_id": ["T1", "T2", "T3"],
        "kind": ["garbage_point", "sewage_point", "courtyard"],
        "name": ["钟楼垃圾点", "Q{{ 7*7 }}R<script>alert(2)</script>", "文昌院落"],
        "grid_code": ["610802001001001", "610802001001001", "610802001002001"],
        "visited": [True, False, True],
        "first_visit": [t, pd.NaT, t + pd.Timedelta(hours=1)],
        "last_visit": [t + pd.Timedelta(days=2), pd.NaT, t + pd.Timedelta(hours=3)],
        "inspectors": [", ".join(INSPECTORS), "", INSPECTORS[1]],
        "coverage_ratio": [np.nan, np.nan, 0.625],
    }, geometry=geoms, crs="EPSG:4326")


def _rollup(grids: pd.DataFrame, key: str) -> pd.DataFrame:
    out = grids.groupby(key, as_index=False).agg(
        grids=("grid_code", "size"), area_m2=("area_m2", "sum"), covered_m2=("covered_m2", "sum"),
        uncovered_m2=("uncovered_m2", "sum"), dead_corners=("dead_corners", "sum"))
    out["coverage_ratio"] = out["covered_m2"] / out["area_m2"]
    return out


def _stand_in() -> SimpleNamespace:
    x0, y0 = _origin()
    grids = _grids(x0, y0)
    covered = gpd.GeoDataFrame(
        {"grid_code": list(grids["grid_code"])},
        geometry=_to_wgs([box(x0 + i * 200, y0 + 60, x0 + (i + 1) * 200, y0 + 120) for i in range(3)]),
        crs="EPSG:4326")
    return SimpleNamespace(
        grids=grids, dead_corners=_dead_corners(x0, y0), covered=covered, targets=_targets(x0, y0),
        by_community=_rollup(grids, "community_code"), by_cadre=_rollup(grids, "cadre"),
        stats={"fixes_in": 10, "fixes_used": 8, "radius_m": 30.0, "start": "2025-03-03T00:00:00+08:00",
               "end": "2025-03-10T00:00:00+08:00", "metric_crs": METRIC},
        message=None,
    )


def _zones_and_wall() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    x0, y0 = _origin()
    zones = gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["西城墙拆迁片区<b>{{ 7*7 }}</b>"], "status": ["cleared"]},
                             geometry=[box(x0 - 80, y0, x0 - 10, y0 + 150)], crs=METRIC)
    wall = gpd.GeoDataFrame({"name": ["榆林古城墙"]}, geometry=[LineString([(x0 - 5, y0 - 20), (x0 - 5, y0 + 220)])],
                            crs=METRIC)
    return zones, wall


@pytest.fixture
def result() -> SimpleNamespace:
    return _stand_in()


def _page(fmap) -> str:
    return fmap.get_root().render()


# ---------------------------------------------------------------------------------------------------------------
# the web map
# ---------------------------------------------------------------------------------------------------------------


def test_legend_lists_classes_in_percent_with_their_colours(result):
    page = _page(coverage_map(result))
    shown = html.unescape(page)
    assert "网格覆盖率" in shown
    for label, colour in zip(["0–50 %", "50–70 %", "70–85 %", "85–95 %", "95–100 %"], COVERAGE_COLOURS):
        assert re.search(rf"background:{colour}\"></span>{re.escape(label)}</div>", shown), label


def test_grids_are_filled_by_their_class_colour(result):
    page = _page(coverage_map(result))
    # 0.30 → class 0-50 %, 0.90 → 85-95 %, 0.97 → 95-100 %; 70-85 % and 50-70 % are not used
    fills = re.findall(r'"fillColor": "(#[0-9a-f]{6})", "fillOpacity": 0.6', page)
    assert sorted(fills) == sorted([COVERAGE_COLOURS[0], COVERAGE_COLOURS[3], COVERAGE_COLOURS[4]])


def test_grid_tooltips_show_coverage_and_dead_corners(result):
    shown = html.unescape(_page(coverage_map(result)))
    for name, pct, corners in (("北门社区第1网格", "30.0 %", 1), ("南门社区第1网格", "97.0 %", 0)):
        assert re.search(rf"网格: {name}<br>网格编码: \d{{15}}<br>网格员: [^<]+<br>覆盖率: {re.escape(pct)}"
                         rf"<br>卫生死角: {corners} 处", shown), name


def test_zh_labels_by_default_and_english_on_request(result):
    zones, wall = _zones_and_wall()
    zh = html.unescape(_page(coverage_map(result, demolition_zones=zones, wall=wall)))
    en = html.unescape(_page(coverage_map(result, demolition_zones=zones, wall=wall, lang="en")))
    for key in ("legend", "grids", "covered", "dead_corners", "visited_targets", "unvisited_targets", "zones", "wall"):
        assert LABELS["zh"][key] in zh, key
        assert LABELS["en"][key] in en, key
    for zh_only in ("网格覆盖率", "已覆盖区域", "未巡查点位", "首次巡查", "前往位置"):
        assert zh_only not in en
    assert "grid coverage" not in zh and "covered ground" not in zh
    assert "污水排放点" in zh and "sewage point" in en  # target kind labels


def test_unknown_language_is_refused(result):
    with pytest.raises(SchemaError, match=r"unknown map language 'fr'.*'zh'.*'en'"):
        coverage_map(result, lang="fr")


def test_dead_corner_popups_give_grid_cadre_area_and_both_coordinates(result):
    shown = html.unescape(_page(coverage_map(result)))
    for _, row in result.dead_corners.iterrows():
        gcj = f"{row['lon_gcj02']:.6f},{row['lat_gcj02']:.6f}"
        wgs = f"{row['lon']:.6f},{row['lat']:.6f}"
        assert f"GCJ-02（高德/微信）: {gcj}" in shown
        assert f"WGS84（GPS）: {wgs}" in shown
        assert f"uri.amap.com/marker?position={gcj}" in shown
        assert f"面积: {row['area_m2']:,.0f} m²" in shown
        assert f"网格编码: {row['grid_code']}" in shown
    # the GCJ-02 point lies 100-700 m from the WGS84 one near Yulin: the popup does not repeat one twice
    assert f"{result.dead_corners['lon'][0]:.6f}" != f"{result.dead_corners['lon_gcj02'][0]:.6f}"


def test_target_popups_without_inspector_names(result):
    page = _page(coverage_map(result))
    shown = html.unescape(page)
    assert "点位: 钟楼垃圾点<br>类型: 垃圾点<br>已巡查: 是<br>首次巡查: 2025-03-03 08:41<br>最近巡查: 2025-03-05 08:41" in shown
    assert "类型: 污水排放点<br>已巡查: 否<br>首次巡查: —<br>最近巡查: —" in shown
    assert "点位: 文昌院落<br>类型: 居民院落<br>已巡查: 是" in shown and "覆盖率: 62.5 %" in shown
    for name in INSPECTORS:
        assert name not in page and name not in shown


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_hostile_text_is_shown_literally_and_never_evaluated(result, lang):
    zones, wall = _zones_and_wall()
    page = _page(coverage_map(result, demolition_zones=zones, wall=wall, lang=lang, title="T{{ 7*7 }}U"))
    for left, right in (("X", "Y"), ("Z", "W"), ("Q", "R"), ("T", "U"), ("<b>", "</b>")):
        assert f"{left}49{right}" not in page
        assert f"{left} 49 {right}" not in page
    assert "<img src=x" not in page and "<script>alert(2)" not in page and "<b>{{" not in page
    assert "{{ 7*7 }}" not in page  # every brace reaches the page as a character reference
    assert "X&#123;&#123; 7*7 &#125;&#125;Y&lt;img src=x onerror=alert(1)&gt;&#96;&#36;&#123;x&#125;&#96;" in page
    assert "Q&#123;&#123; 7*7 &#125;&#125;R&lt;script&gt;alert(2)&lt;/script&gt;" in page
    shown = html.unescape(page)
    assert HOSTILE in shown and "Z{{ 7*7 }}W`${x}`" in shown


def test_no_phone_numbers_and_no_inspectors_in_the_page(result):
    zones, wall = _zones_and_wall()
    page = _page(coverage_map(result, demolition_zones=zones, wall=wall, illustrative=True))
    text = FOLIUM_ID_RE.sub("_ID", page)
    assert PHONE_RE.findall(text) == []
    for phone in PHONES:
        assert phone not in page
    for name in INSPECTORS:
        assert name not in page
    assert "cadre_phone" not in page and "inspector" not in page


def test_coordinates_are_rounded_to_six_decimals(result):
    page = _page(coverage_map(result))
    geojson_numbers = re.findall(r"\[(-?\d+\.\d+), (-?\d+\.\d+)\]", page)
    assert len(geojson_numbers) > 20
    assert max(len(n.split(".")[1]) for pair in geojson_numbers for n in pair) <= 6
    assert not re.search(r"\d\.\d{9,}", FOLIUM_ID_RE.sub("_ID", page))


def test_map_with_only_grids_renders(result):
    bare = SimpleNamespace(grids=result.grids, dead_corners=result.dead_corners.iloc[0:0], covered=None,
                           targets=None, by_community=result.by_community, by_cadre=result.by_cadre,
                           stats={}, message=None)
    fmap = coverage_map(bare)
    page = _page(fmap)
    assert "网格覆盖率" in html.unescape(page) and page.count('"fillOpacity": 0.6') == 3
    assert "<iframe" in fmap._repr_html_()  # renders inline in a notebook


def test_illustrative_mark_and_title(result):
    shown = html.unescape(_page(coverage_map(result, illustrative=True, title="鼓楼街道 第10周")))
    assert "示意数据（非测绘边界）" in shown and "鼓楼街道 第10周" in shown
    assert "示意数据" not in html.unescape(_page(coverage_map(result)))


def test_caller_frames_are_not_changed(result):
    before = {name: getattr(result, name).copy() for name in ("grids", "dead_corners", "covered", "targets")}
    zones, wall = _zones_and_wall()
    zones_before = zones.copy()
    coverage_map(result, demolition_zones=zones, wall=wall)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(pd.DataFrame(getattr(result, name)), pd.DataFrame(frame))
    pd.testing.assert_frame_equal(pd.DataFrame(zones), pd.DataFrame(zones_before))
    assert result.grids.crs == "EPSG:4326" and zones.crs == METRIC


def test_layers_without_crs_are_refused(result):
    zones, _ = _zones_and_wall()
    with pytest.raises(CRSError, match="demolition zones"):
        coverage_map(result, demolition_zones=zones.set_crs(None, allow_override=True))


# ---------------------------------------------------------------------------------------------------------------
# fonts
# ---------------------------------------------------------------------------------------------------------------


def test_found_font_really_has_the_chinese_glyphs():
    path = _fonts.find_cjk_font()
    charmap = FT2Font(str(path)).get_charmap()  # matplotlib's FreeType, independent of fontTools
    assert all(ord(ch) in charmap for ch in "鼓楼网格覆盖率卫生死角拆迁片区")


def test_missing_cjk_font_names_what_to_install(monkeypatch, result, tmp_path):
    monkeypatch.setattr(_fonts, "_candidate_files", lambda: [])
    with pytest.raises(GridmapError, match=r"no CJK font found: install one, e\.g\. .*apt-get install fonts-noto-cjk"):
        _fonts.find_cjk_font()
    with pytest.raises(GridmapError, match="fonts-noto-cjk"):
        coverage_png(result, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_a_font_without_the_glyphs_is_not_taken(monkeypatch):
    from matplotlib import font_manager

    latin = Path(font_manager.findfont("DejaVu Sans", fallback_to_default=True))
    assert ord("网") not in FT2Font(str(latin)).get_charmap()
    monkeypatch.setattr(_fonts, "_candidate_files", lambda: [latin])
    with pytest.raises(GridmapError, match="fonts-noto-cjk"):
        _fonts.find_cjk_font()


# ---------------------------------------------------------------------------------------------------------------
# the PNG
# ---------------------------------------------------------------------------------------------------------------


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def _pixels_of(rgb: np.ndarray, colour: str, tol: int = 6) -> int:
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=2) <= tol).sum())


@pytest.mark.parametrize("dpi", [72, 150])
def test_png_is_a_real_png_of_the_requested_size(result, tmp_path, dpi):
    zones, wall = _zones_and_wall()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = coverage_png(result, tmp_path / "c.png", demolition_zones=zones, wall=wall, dpi=dpi, illustrative=True)
    assert [str(w.message) for w in caught] == []  # no "Glyph ... missing from font" among them
    assert out == tmp_path / "c.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size == (round(11 * dpi), round(9 * dpi))
        assert img.info["dpi"] == pytest.approx((dpi, dpi), abs=0.03)  # stored as pixels per metre
    rgb = _rgb(out)
    assert rgb.std() > 20  # not blank
    # the grids' classes and the dead corners are drawn in their colours
    for colour in (COVERAGE_COLOURS[0], COVERAGE_COLOURS[3], COVERAGE_COLOURS[4], "#e31a1c"):
        assert _pixels_of(rgb, colour) > 50, colour


def test_png_in_english_and_without_optional_layers(result, tmp_path):
    bare = SimpleNamespace(grids=result.grids, dead_corners=result.dead_corners.iloc[0:0], covered=None,
                           targets=None, stats={}, message=None)
    out = coverage_png(bare, tmp_path / "en.png", lang="en", dpi=60)
    assert _rgb(out).std() > 20


def test_png_does_not_touch_pyplot_state(result, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    coverage_png(result, tmp_path / "p.png", dpi=40)
    assert plt.get_fignums() == before


@pytest.mark.parametrize("dpi", [0, -5, float("nan"), 5000, True])
def test_png_refuses_bad_dpi(result, tmp_path, dpi):
    with pytest.raises(SchemaError, match="dpi must be a number between 20 and 1200"):
        coverage_png(result, tmp_path / "d.png", dpi=dpi)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1.0, max_value=1e7, allow_nan=False))
def test_scale_bar_length_is_round_and_the_largest_that_fits(width):
    length = nice_scale_length(width)
    power = 10 ** math.floor(math.log10(length) + 1e-9)
    assert round(length / power, 9) in (1.0, 2.0, 5.0)
    assert length <= width / 5 * (1 + 1e-9)
    # brute force: no round value between it and a fifth of the width
    candidates = [m * 10.0 ** k for k in range(-1, 8) for m in (1, 2, 5)]
    assert max(c for c in candidates if c <= width / 5 * (1 + 1e-9)) == pytest.approx(length)


def test_north_arrow_follows_meridian_convergence():
    # Gauss-Kruger CM 111E at 109.73E 38.29N: convergence gamma = atan(tan(dlon) sin(lat)) (spherical formula),
    # true north leans east of grid north west of the central meridian
    gamma = math.degrees(math.atan(math.tan(math.radians(109.73 - 111)) * math.sin(math.radians(38.29))))
    angle = math.degrees(_north_angle(gpd.GeoSeries(crs=METRIC).crs, 109.73, 38.29))
    assert angle == pytest.approx(90 + gamma, abs=0.01)
    assert angle < 90


# ---------------------------------------------------------------------------------------------------------------
# a real sweep over the sample
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_run():
    from gridmap.analysis.coverage import sweep_coverage
    from gridmap.sample import sample_boundaries, sample_tracks

    b = sample_boundaries()
    tracks = sample_tracks(n_fixes=20_000)
    # the sample's inspectors are the grids' cadres (shown as cadres); give half the fixes to non-cadres
    names = tracks["inspector"].to_numpy().copy()
    firsts = sorted(set(names))[::2]
    mask = np.isin(names, firsts)
    names[mask] = np.char.add("外聘巡查员", names[mask].astype(str))
    tracks["inspector"] = names
    return b, tracks, sweep_coverage(b["grids"], tracks, targets=b["targets"])


def test_real_result_map(sample_run):
    b, tracks, res = sample_run
    page = _page(coverage_map(res, demolition_zones=b["demolition_zones"], wall=b["wall"], illustrative=True))
    shown = html.unescape(page)
    # one coloured polygon per grid, in the colour of its class (brute force over the class limits)
    limits = [0.0, 0.5, 0.7, 0.85, 0.95]
    expected = sorted(COVERAGE_COLOURS[max(i for i, lo in enumerate(limits) if r >= lo)]
                      for r in res.grids.coverage_ratio)
    assert sorted(re.findall(r'"fillColor": "(#[0-9a-f]{6})", "fillOpacity": 0.6', page)) == expected
    assert len(res.dead_corners) > 0
    for _, row in res.dead_corners.iterrows():
        assert f"GCJ-02（高德/微信）: {row['lon_gcj02']:.6f},{row['lat_gcj02']:.6f}" in shown
    assert PHONE_RE.findall(FOLIUM_ID_RE.sub("_ID", page)) == []
    others = set(tracks["inspector"].unique()) - set(b["grids"]["cadre"])
    assert len(others) >= 10 and "外聘巡查员" not in shown
    assert res.targets["inspectors"].str.contains("外聘巡查员").any()  # the result does carry them
    for name in others:
        assert name not in page and name not in shown
    for cadre in b["grids"]["cadre"]:
        assert cadre in shown
    assert shown.count("已巡查: 是") == int(res.targets["visited"].sum())
    assert shown.count("已巡查: 否") == int((~res.targets["visited"]).sum())


def test_real_result_png(sample_run, tmp_path):
    b, _, res = sample_run
    out = coverage_png(res, tmp_path / "sample.png", demolition_zones=b["demolition_zones"], wall=b["wall"], dpi=100)
    rgb = _rgb(out)
    assert rgb.shape == (900, 1100, 3)
    assert _pixels_of(rgb, "#e31a1c") > 1000  # the dead corners


# --- the overall figure and missing coverage ------------------------------------------------------------------


def _captured_heading(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    import gridmap.maps.static as static

    seen: list[tuple[str, ...]] = []
    real = static._heading

    def spy(fig, title, font, parts=(), **kwargs):  # type: ignore[no-untyped-def]
        seen.append(tuple(parts))
        return real(fig, title, font, parts, **kwargs)

    monkeypatch.setattr(static, "_heading", spy)
    return seen


def test_png_heading_reads_the_floor_of_the_independent_overall(
        result: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _captured_heading(monkeypatch)
    coverage_png(result, tmp_path / "c.png", dpi=40)
    grids = result.grids
    expected = f"{math.floor(1000 * grids['covered_m2'].sum() / grids['area_m2'].sum() + 1e-9) / 10:.1f} %"
    assert seen and seen[0][0] == f"总覆盖率 {expected}"


def test_no_fix_reads_no_data_in_the_png_and_the_web_map(
        result: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blind = SimpleNamespace(**{**vars(result), "stats": {**result.stats, "fixes_used": 0, "lines": 0}})
    seen = _captured_heading(monkeypatch)
    coverage_png(blind, tmp_path / "c.png", dpi=40)
    assert seen[0][:2] == ("总覆盖率 无数据", "卫生死角 无数据")
    page = html.unescape(_page(coverage_map(blind)))
    assert "覆盖率: 无数据" in page and "0.0 %" not in page
    assert "覆盖率: 无数据" not in html.unescape(_page(coverage_map(result)))
