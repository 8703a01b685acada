"""Street coverage on the maps and pages: coloured street lines, dead stretches, the area-leader and street tables.

The figures (``CoverageResult.streets``, ``.dead_stretches``, ``.by_area``) are built here by hand with the
contract's columns and known ratios, and put into a real :func:`gridmap.sweep_coverage` result on two small
grids (``dataclasses.replace``); the renderers must draw exactly them: each street in the colour of its class on
the documented scale (0-50-70-85-95-100 %, ColorBrewer PiYG), grey and "无数据" when its coverage is unknown
(never 0 %), names masked on shared pages.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image
from pyproj import Transformer
from shapely.geometry import LineString, box

from gridmap.analysis.coverage import sweep_coverage
from gridmap.maps.coverage import coverage_map
from gridmap.maps.static import coverage_png
from gridmap.pages.common import page_html, shareable_coverage

METRIC = "EPSG:4546"
TZ = "Asia/Shanghai"
# street name -> (chief, masked chief, length m, coverage ratio, dead stretches, colour of its class)
STREETS = {
    "东大街": ("王小明", "王**", 400.0, 0.5, 1, "#f1b6da"),  # 50 % is the lower limit of the 50-70 % class
    "西小巷": ("欧阳娜娜", "欧阳**", 150.0, 0.10, 2, "#d01c8b"),
    "北巷": ("李四", "李*", 120.0, float("nan"), None, "#bdbdbd"),  # coverage unknown: grey, "无数据"
    "南巷": ("张三丰", "张**", 180.0, 0.97, 0, "#4dac26"),
}
LEADERS = {"A1": ("东片区", "刘强强", "刘**"), "A2": ("西片区", "霍红梅", "霍**")}


def _to_wgs(geoms: list) -> list:
    tr = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True)
    return [shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))) for g in geoms]


def _origin() -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4326", METRIC, always_xy=True).transform(109.73, 38.29)


def _lines(x0: float, y0: float) -> list[LineString]:
    """One street per row of STREETS, each as long as it says, side by side across the two grids."""
    return [LineString([(x0, y0 + 20 + 40 * k), (x0 + length, y0 + 20 + 40 * k)])
            for k, (_c, _m, length, *_r) in enumerate(STREETS.values())]


def _streets(x0: float, y0: float) -> gpd.GeoDataFrame:
    rows = list(STREETS.items())
    lengths = np.array([r[1][2] for r in rows])
    ratios = np.array([r[1][3] for r in rows])
    return gpd.GeoDataFrame({
        "street_name": [name for name, _ in rows],
        "street_chief": [r[1][0] for r in rows],
        "note": ["联系13912345678"] * len(rows),
        "length_m": lengths,
        "covered_m": lengths * ratios,
        "coverage_ratio": ratios,
        "dead_stretches": pd.array([r[1][4] for r in rows], dtype="Int64"),
    }, geometry=_to_wgs(_lines(x0, y0)), crs="EPSG:4326", index=[5, 6, 7, 8])


def _stretches(x0: float, y0: float) -> gpd.GeoDataFrame:
    pieces = [LineString([(x0 + 200, y0 + 20), (x0 + 400, y0 + 20)]),  # the unswept half of 东大街
              LineString([(x0 + 50, y0 + 60), (x0 + 150, y0 + 60)]), LineString([(x0, y0 + 60), (x0 + 35, y0 + 60)])]
    middles = _to_wgs([p.interpolate(0.5, normalized=True) for p in pieces])
    lon, lat = np.array([p.x for p in middles]), np.array([p.y for p in middles])
    return gpd.GeoDataFrame({
        "stretch_id": ["东大街-01", "西小巷-01", "西小巷-02"],
        "street_name": ["东大街", "西小巷", "西小巷"],
        "street_chief": ["王小明", "欧阳娜娜", "欧阳娜娜"],
        "length_m": [200.0, 100.0, 35.0],
        "lon": lon, "lat": lat, "lon_gcj02": lon + 0.005, "lat_gcj02": lat + 0.001,
    }, geometry=_to_wgs(pieces), crs="EPSG:4326")


def _by_area() -> pd.DataFrame:
    return pd.DataFrame({
        "area_code": ["A1", "A2"], "name": [LEADERS["A1"][0], LEADERS["A2"][0]],
        "leader": [LEADERS["A1"][1], LEADERS["A2"][1]], "grids": [1, 1], "area_m2": [40000.0, 40000.0],
        "covered_m2": [24936.0, float("nan")], "uncovered_m2": [15064.0, float("nan")],
        "coverage_ratio": [0.6234, float("nan")], "dead_corners": pd.array([3, None], dtype="Int64"),
    })


@pytest.fixture(scope="module")
def base():
    """A real sweep over two 200 m grids: one inspector walks across both, 100 m up."""
    x0, y0 = _origin()
    grids = gpd.GeoDataFrame({
        "grid_code": ["610802001001001", "610802001001002"], "community_code": ["610802001001"] * 2,
        "cadre": ["张干部", "刘干部"], "area_code": ["A1", "A2"],
    }, geometry=_to_wgs([box(x0, y0, x0 + 200, y0 + 200), box(x0 + 200, y0, x0 + 400, y0 + 200)]), crs="EPSG:4326")
    xs = np.arange(x0 - 20, x0 + 421, 5.0)
    times = pd.Timestamp("2025-03-03 08:00", tz=TZ) + pd.to_timedelta(np.arange(len(xs)) * 4, unit="s")
    tracks = gpd.GeoDataFrame({"inspector": ["王巡查"] * len(xs), "time": times},
                              geometry=shapely.points(np.column_stack([xs, np.full(len(xs), y0 + 100)])), crs=METRIC)
    return sweep_coverage(grids, tracks, radius_m=30)


@pytest.fixture(scope="module")
def result(base):
    x0, y0 = _origin()
    chiefs = pd.DataFrame({"street_chief": sorted(v[0] for v in STREETS.values()), "streets": 1})
    return dataclasses.replace(base, streets=_streets(x0, y0), dead_stretches=_stretches(x0, y0), by_area=_by_area(),
                               by_street_chief=chiefs)


def _blocks(page: str) -> list[str]:
    """The page's GeoJSON layers, one text per layer: its style function and its tooltip/popup."""
    return re.split(r"function geo_json_[0-9a-f]+_styler\(", page)[1:]


def _street_blocks(page: str) -> dict[str, str]:
    out = {}
    for block in _blocks(page):
        if "dashArray" in block:  # a dead stretch: its popup names its street too
            continue
        for name in STREETS:
            if f"街巷: {name}<" in block or f"street: {name}<" in block:
                out[name] = block
    return out


# ---------------------------------------------------------------------------------------------------------------
# the web map
# ---------------------------------------------------------------------------------------------------------------


def test_each_street_is_drawn_in_the_colour_of_its_class(result):
    page = coverage_map(shareable_coverage(result)).get_root().render()
    blocks = _street_blocks(page)
    assert sorted(blocks) == sorted(STREETS)
    for name, (*_r, colour) in STREETS.items():
        assert f'"color": "{colour}"' in blocks[name], name
    # under the coloured lines, one dark casing layer holding every street
    assert page.count('"color": "#333333", "opacity": 0.8, "weight": 7') == 1


def test_street_tooltips_give_masked_chief_length_covered_percent_and_dead_stretches(result):
    page = coverage_map(shareable_coverage(result)).get_root().render()
    blocks = _street_blocks(page)
    for name, (chief, masked, length, ratio, dead, _colour) in STREETS.items():
        text = html.unescape(blocks[name])
        assert f"街长: {masked}<" in text and chief not in text
        assert f"长度: {length:,.0f} m<" in text
        if math.isnan(ratio):
            assert "已覆盖长度: 无数据<" in text and "覆盖率: 无数据<" in text and "未清扫路段: 无数据" in text
            assert "0.0 %" not in text
        else:
            shown = math.floor(ratio * 1000 + 1e-9) / 10  # one decimal, rounded down
            assert f"覆盖率: {shown:.1f} %<" in text
            assert f"已覆盖长度: {length * ratio:,.0f} m<" in text
            assert f"未清扫路段: {dead}" in text


def test_dead_stretches_are_thick_dashed_red_with_their_walk_to_point(result):
    page = coverage_map(shareable_coverage(result), lang="en").get_root().render()
    stretches = _stretches(*_origin())
    dashed = [b for b in _blocks(page) if '"dashArray": "10 6"' in b]
    assert len(dashed) == len(stretches)
    for block, row in zip(dashed, stretches.itertuples()):
        text = html.unescape(block)
        assert '"color": "#e31a1c"' in block and '"weight": 6' in block
        assert f"dead stretches: {row.stretch_id}<" in text and f"length: {row.length_m:,.0f} m<" in text
        assert f"{row.lon_gcj02:.6f},{row.lat_gcj02:.6f}" in text and f"{row.lon:.6f},{row.lat:.6f}" in text
        assert f"uri.amap.com/marker?position={row.lon_gcj02:.6f},{row.lat_gcj02:.6f}" in text
        assert "street chief: " + ("王**" if row.street_name == "东大街" else "欧阳**") in text


def test_layer_control_and_legend_name_the_street_layers(result):
    page = coverage_map(shareable_coverage(result)).get_root().render()
    for name in ("街巷清扫覆盖率", "未清扫路段"):
        assert json.dumps(name)[1:-1] in page or name in page  # the layer control's overlay names
    legend = page[page.index("gridmap-legend"):]
    for colour, label in (("#333333", "街巷"), ("#bdbdbd", "街巷无数据"), ("#e31a1c", "未清扫路段")):
        assert f"background:{colour}\"></span>{label}</div>" in legend


def test_without_streets_nothing_is_drawn_and_nothing_fails(base):
    assert base.streets is None and base.dead_stretches is None
    page = coverage_map(shareable_coverage(base)).get_root().render()
    assert "街巷" not in page and "未清扫路段" not in page and "dashArray\": \"10 6\"" not in page


def test_unknown_coverage_draws_every_street_grey_reading_no_data_and_no_stretch(result):
    streets = result.streets.assign(covered_m=np.nan, coverage_ratio=np.nan,
                                    dead_stretches=pd.array([None] * len(result.streets), dtype="Int64"))
    unknown = dataclasses.replace(result, streets=streets, dead_stretches=result.dead_stretches.iloc[:0])
    page = coverage_map(shareable_coverage(unknown), lang="en").get_root().render()
    blocks = _street_blocks(page)
    assert sorted(blocks) == sorted(STREETS)
    for name, block in blocks.items():
        text = html.unescape(block)
        assert '"color": "#bdbdbd"' in block
        assert "coverage: no data<" in text and "covered length: no data<" in text and "dead stretches: no data" in text
        assert "0.0 %" not in text and ": 0<" not in text
    assert '"dashArray": "10 6"' not in page


def test_hostile_street_names_are_shown_as_text(result):
    hostile = "X{{ 7*7 }}<img src=x onerror=alert(1)>"
    streets = result.streets.assign(street_name=[hostile, "西小巷", "北巷", "南巷"])
    page = coverage_map(dataclasses.replace(result, streets=streets)).get_root().render()
    assert "<img src=x" not in page and "{{ 7*7 }}" not in page
    assert hostile in html.unescape(page)


def test_a_shared_page_holds_no_raw_name_and_no_phone(result):
    page = page_html(coverage_map(shareable_coverage(result)), offline=False, lang="zh")
    for chief, masked, *_rest in STREETS.values():
        assert chief not in page
        assert masked in page
    assert "13912345678" not in page


def test_shareable_coverage_masks_every_level_and_leaves_the_result_alone(result):
    shared = shareable_coverage(result)
    assert list(shared.streets["street_chief"]) == [v[1] for v in STREETS.values()]
    assert set(shared.dead_stretches["street_chief"]) == {"王**", "欧阳**"}
    assert list(shared.by_area["leader"]) == [LEADERS["A1"][2], LEADERS["A2"][2]]
    masks = {chief: masked for chief, masked, *_r in STREETS.values()}
    assert list(shared.by_street_chief["street_chief"]) == [masks[c] for c in result.by_street_chief["street_chief"]]
    assert not shared.streets["note"].str.contains("13912345678").any()
    assert list(result.streets["street_chief"]) == [v[0] for v in STREETS.values()]  # the caller's frames unchanged
    # the grids' roll-up by cadre too (it was left as it was until issue 16's round)
    assert sorted(shared.by_cadre["cadre"]) == ["刘**", "张**"]
    assert sorted(result.by_cadre["cadre"]) == ["刘干部", "张干部"]
    assert shareable_coverage(result, redact=False) is result


# ---------------------------------------------------------------------------------------------------------------
# the PNG
# ---------------------------------------------------------------------------------------------------------------


def _pixels_of(path: Path, colour: str, tol: int = 6) -> int:
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=2) <= tol).sum())


def test_png_draws_the_streets_in_their_colours_and_grey_for_no_data(base, result, tmp_path):
    without = coverage_png(base, tmp_path / "without.png", dpi=200)
    with_streets = coverage_png(result, tmp_path / "with.png", dpi=200)
    # grey from the unknown street (and its legend swatch): the grids' coverage is known
    assert _pixels_of(with_streets, "#bdbdbd") > _pixels_of(without, "#bdbdbd") + 100
    # the grids are 30 % swept (0-50 %, magenta): pink (50-70 %) is 东大街's, the dark casing every street's
    # (the dead stretches, red over red dead corners here, are checked on a white ground below)
    assert _pixels_of(with_streets, "#f1b6da") > _pixels_of(without, "#f1b6da") + 50
    assert _pixels_of(with_streets, "#333333") > _pixels_of(without, "#333333") + 200


def _drawn(streets: gpd.GeoDataFrame, stretches: gpd.GeoDataFrame | None) -> tuple[np.ndarray, object]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from gridmap.maps.streets import draw_streets

    fig = Figure(figsize=(6, 4), dpi=200)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    minx, miny, maxx, maxy = streets.total_bounds
    ax.set_xlim(minx - 20, maxx + 20)
    ax.set_ylim(miny - 20, maxy + 20)
    draw_streets(ax, streets, stretches)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(np.int16), ax


PALETTE = ("#d01c8b", "#f1b6da", "#f7f7f7", "#b8e186", "#4dac26", "#bdbdbd", "#333333", "#e31a1c", "#ffffff")


def _pixel(rgb: np.ndarray, ax, x: float, y: float, *, strict: bool = True) -> str:
    """The colour of the palette nearest to the pixel at (x, y) (line edges are anti-aliased)."""
    px, py = ax.transData.transform((x, y))
    value = rgb[rgb.shape[0] - 1 - int(round(py)), int(round(px))]
    distances = [np.abs(value - [int(c[i:i + 2], 16) for i in (1, 3, 5)]).max() for c in PALETTE]
    assert not strict or min(distances) <= 40, value  # clearly one of them
    return PALETTE[int(np.argmin(distances))]


def test_static_streets_take_their_class_colour_and_dead_stretches_are_dashed_red():
    x0, y0 = _origin()
    streets = _streets(x0, y0).to_crs(METRIC)
    stretches = _stretches(x0, y0).to_crs(METRIC)
    rgb, ax = _drawn(streets, None)
    for line, (*_r, colour) in zip(streets.geometry, STREETS.values()):
        # a quarter along each street, away from the dead stretches
        point = line.interpolate(0.25, normalized=True)
        assert _pixel(rgb, ax, point.x, point.y) == colour
    rgb, ax = _drawn(streets, stretches)
    line = stretches.geometry.iloc[0]
    along = [_pixel(rgb, ax, *line.interpolate(t, normalized=True).coords[0], strict=False)
             for t in np.linspace(0.05, 0.95, 60)]
    red = sum(c == "#e31a1c" for c in along)
    assert 10 < red < len(along) - 5  # dashed: red dashes with the street's own colour in the gaps
    assert "#f1b6da" in along
