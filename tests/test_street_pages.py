"""The leaders' page and the briefing with street coverage and area leaders.

The pages' own ``sweep_coverage`` is wrapped to replace its street and area figures with hand-built ones of the
same columns: the sample's streets with set ratios (one unknown, which the sample's real sweep never gives),
dead stretches as the first 60 m of each street, and the area roll-up recomputed here from the real grid figures
(area-weighted). The pages must show exactly these: the area-leader table next to the community table with
leaders masked, the streets lowest coverage first with "无数据" for the unknown one, the street layer on the map;
the briefing still on one A4 page. ``test_street_levels_end_to_end.py`` runs the real figures through."""

from __future__ import annotations

import dataclasses
import html
import math
import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _browser import offline_page, playwright_or_skip, real_cache_or_skip
from PIL import Image

import gridmap
from gridmap.crs import metric_crs
from gridmap.pages import briefing as briefing_module
from gridmap.pages import report as report_module
from gridmap.pages.briefing import briefing
from gridmap.pages.report import export_html, report_map

START, END = "2025-03-01", "2025-04-01"
UNKNOWN = 3  # the row of the street whose coverage is unknown


@pytest.fixture(scope="module")
def layers() -> dict:
    return gridmap.sample_layers(n_reports=300, track_days=1)


def _floor_percent(ratio: float) -> str:
    return f"{math.floor(ratio * 1000 + 1e-9) / 10:.1f} %"


def _streets(layers: dict) -> gpd.GeoDataFrame:
    streets = layers["streets"].copy()
    ratios = np.linspace(0.15, 0.95, len(streets))[::-1].copy()
    ratios[UNKNOWN] = np.nan
    metric = streets.to_crs(metric_crs(streets))
    streets["length_m"] = metric.length.to_numpy()
    streets["covered_m"] = streets["length_m"] * ratios
    streets["coverage_ratio"] = ratios
    streets["dead_stretches"] = pd.array([1] * len(streets), dtype="Int64")
    streets.loc[streets.index[UNKNOWN], "dead_stretches"] = pd.NA
    return streets


def _stretches(layers: dict) -> gpd.GeoDataFrame:
    streets = layers["streets"]
    crs = metric_crs(streets)
    lines = [shapely.line_merge(g) if g.geom_type == "MultiLineString" else g for g in streets.to_crs(crs).geometry]
    pieces = [shapely.ops.substring(line if line.geom_type == "LineString" else line.geoms[0], 0, 60) for line in lines]
    frame = gpd.GeoDataFrame({"stretch_id": streets["street_name"] + "-01", "street_name": streets["street_name"],
                              "street_chief": streets["street_chief"], "length_m": 60.0},
                             geometry=pieces, crs=crs).drop(index=streets.index[UNKNOWN])
    middles = frame.geometry.interpolate(0.5, normalized=True).to_crs(4326)
    frame = frame.to_crs(4326)
    return frame.assign(lon=middles.x.to_numpy(), lat=middles.y.to_numpy(), lon_gcj02=middles.x.to_numpy() + 0.006,
                        lat_gcj02=middles.y.to_numpy() + 0.001)


def _by_area(grids: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for code, group in grids.groupby("area_code", sort=True):
        area = areas.loc[areas["area_code"] == code].iloc[0]
        covered, total = float(group["covered_m2"].sum()), float(group["area_m2"].sum())
        rows.append({"area_code": code, "name": area["name"], "leader": area["leader"], "grids": len(group),
                     "area_m2": total, "covered_m2": covered, "uncovered_m2": total - covered,
                     "coverage_ratio": covered / total, "dead_corners": int(group["dead_corners"].sum())})
    return pd.DataFrame(rows)


def _with_levels(monkeypatch: pytest.MonkeyPatch, module: Any, layers: dict) -> list:
    """Wrap `module.sweep_coverage` to add the street and area figures; returns the results it gave."""
    real = module.sweep_coverage
    given: list = []

    def sweep(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        result = dataclasses.replace(result, streets=_streets(layers), dead_stretches=_stretches(layers),
                                     by_area=_by_area(result.grids, layers["areas"]))
        given.append(result)
        return result

    monkeypatch.setattr(module, "sweep_coverage", sweep)
    return given


def _table(page: str, css: str) -> list[list[str]]:
    block = page[page.index(f'class="{css}"'):]
    block = block[:block.index("</table>")]
    return [[html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", block)]


def _people(layers: dict) -> set[str]:
    return set(layers["streets"]["street_chief"].dropna()) | set(layers["areas"]["leader"].dropna())


# ---------------------------------------------------------------------------------------------------------------
# the leaders' page
# ---------------------------------------------------------------------------------------------------------------


def test_report_has_the_area_leader_table_after_the_community_table(layers, monkeypatch) -> None:
    given = _with_levels(monkeypatch, report_module, layers)
    page = report_map(layers, start=START, end=END).get_root().render()
    result = given[0]
    rows = _table(page, "gm-areas")
    assert rows[0] == ["片区", "包片领导", "网格数", "覆盖率", "卫生死角"]
    areas = layers["areas"].set_index("area_code")
    expected = []
    for code, group in result.grids.groupby("area_code", sort=True):
        ratio = group["covered_m2"].sum() / group["area_m2"].sum()
        leader = areas.loc[code, "leader"]
        expected.append([areas.loc[code, "name"], leader[0] + "*" * (len(leader) - 1), str(len(group)),
                         _floor_percent(ratio), str(int(group["dead_corners"].sum()))])
    assert rows[1:] == expected
    assert page.index("各社区情况") < page.index('class="gm-areas"') < page.index("卫生死角清单")


def test_report_street_table_lowest_first_masked_and_no_data_last(layers, monkeypatch) -> None:
    _with_levels(monkeypatch, report_module, layers)
    page = report_map(layers, start=START, end=END).get_root().render()
    rows = _table(page, "gm-streets")[1:]
    streets = _streets(layers)
    known = streets.drop(index=streets.index[UNKNOWN]).sort_values("coverage_ratio", kind="stable")
    assert [r[0] for r in rows] == list(known["street_name"]) + [streets["street_name"].iloc[UNKNOWN]]
    assert [r[3] for r in rows[:-1]] == [_floor_percent(v) for v in known["coverage_ratio"]]
    assert rows[-1][2:] == [f"{streets['length_m'].iloc[UNKNOWN]:,.0f} m", "无数据", "无数据"]
    for row, chief in zip(rows[:-1], known["street_chief"]):
        assert row[1] == chief[0] + "*" * (len(chief) - 1)
    assert not [p for p in _people(layers) if p in page]  # no raw name anywhere on the shared page
    assert "0.0 &#37;" not in page.split('class="gm-streets"')[1].split("</table>")[0]


def test_report_map_draws_the_street_layer_and_the_dead_stretches(layers, monkeypatch) -> None:
    _with_levels(monkeypatch, report_module, layers)
    page = report_map(layers, start=START, end=END).get_root().render()
    assert page.count('"dashArray": "10 6"') == len(layers["streets"]) - 1  # one stretch per known street
    assert page.count("街长: ") >= len(layers["streets"])
    assert "#bdbdbd" in page  # the unknown street, grey
    for name in ("街巷清扫覆盖率", "未清扫路段"):
        assert name.encode("unicode_escape").decode() in page or name in page


def test_report_without_streets_draws_no_street_layer_and_no_street_table(layers, monkeypatch) -> None:
    given: list = []
    real = report_module.sweep_coverage

    def sweep(*args: Any, **kwargs: Any) -> Any:
        given.append(real(*args, **kwargs))
        return given[-1]

    monkeypatch.setattr(report_module, "sweep_coverage", sweep)
    without = {name: frame for name, frame in layers.items() if name != "streets"}
    page = report_map(without, start=START, end=END).get_root().render()
    assert given and given[0].streets is None
    assert 'class="gm-streets"' not in page and '"dashArray": "10 6"' not in page
    by_area = given[0].by_area
    assert ('class="gm-areas"' in page) == (by_area is not None and len(by_area) > 0)


def test_coverage_levels_passes_only_present_layers_the_sweep_takes(layers) -> None:
    import inspect

    from gridmap.pages.levels import coverage_levels

    taken = inspect.signature(gridmap.sweep_coverage).parameters
    given = coverage_levels(layers)
    assert set(given) == {name for name in ("streets", "areas") if name in taken}
    assert all(given[name] is layers[name] for name in given)
    assert coverage_levels({**layers, "streets": layers["streets"].iloc[:0], "areas": None}) == {}


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_in_chromium_shows_the_street_layer_and_the_area_table(layers, monkeypatch, tmp_path) -> None:
    cache = real_cache_or_skip()
    playwright_or_skip()
    _with_levels(monkeypatch, report_module, layers)
    out = export_html(layers, tmp_path / "report.html", cache=cache, start=START, end=END, illustrative=True)
    with offline_page(out, viewport=(1280, 800), phone=False) as s:
        page = s.page
        page.wait_for_selector(".leaflet-control-layers-overlays", state="attached", timeout=15_000)
        facts = page.evaluate("""() => ({
            overlays: [...document.querySelectorAll('.leaflet-control-layers-overlays label')]
                .map(l => l.textContent.trim()),
            dashed: [...document.querySelectorAll('.leaflet-overlay-pane svg path')]
                .filter(p => p.getAttribute('stroke-dasharray') === '10 6').length,
            areaRows: [...document.querySelectorAll('.gm-areas tr')].map(r => r.innerText),
            areaVisible: (() => { const t = document.querySelector('.gm-areas table');
                                  return !!t && t.getBoundingClientRect().height > 0; })(),
        })""")
    assert s.attempted == [] and s.errors == []
    assert "街巷清扫覆盖率" in facts["overlays"] and "未清扫路段" in facts["overlays"]
    assert facts["dashed"] == len(layers["streets"]) - 1
    assert facts["areaVisible"] and len(facts["areaRows"]) == 1 + len(layers["areas"])
    assert "北片区" in facts["areaRows"][1]


# ---------------------------------------------------------------------------------------------------------------
# the briefing
# ---------------------------------------------------------------------------------------------------------------


def _capture_figure(monkeypatch: pytest.MonkeyPatch) -> list:
    figures: list = []
    real = briefing_module._save_page

    def save(fig: Any, *args: Any) -> Any:
        figures.append(fig)
        return real(fig, *args)

    monkeypatch.setattr(briefing_module, "_save_page", save)
    return figures


def _texts(fig: Any) -> list[str]:
    """Every text drawn on the figure: titles, labels, legends and the tables' cells."""
    drawn = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontproperties"))]
    cells = [c.get_text().get_text() for ax in fig.axes for table in ax.tables for c in table.get_celld().values()]
    return drawn + cells


def test_briefing_has_the_area_and_street_tables_without_names(layers, monkeypatch, tmp_path) -> None:
    given = _with_levels(monkeypatch, briefing_module, layers)
    figures = _capture_figure(monkeypatch)
    out = briefing(layers, tmp_path / "brief.png", start=START, end=END, illustrative=True)
    texts = _texts(figures[0])
    assert "各片区情况" in texts and "街巷覆盖率（由低到高）" in texts
    by_area = given[0].by_area
    for name, ratio in zip(by_area["name"], by_area["coverage_ratio"]):
        assert name in texts and _floor_percent(ratio) in texts
    lowest = _streets(layers).sort_values("coverage_ratio").iloc[0]
    assert lowest["street_name"] in texts and _floor_percent(lowest["coverage_ratio"]) in texts
    people = _people(layers)
    assert not [t for t in texts for p in people if p in t]  # the briefing shows no person, masked or not
    assert not [t for t in texts if "**" in t or t.endswith("*")]
    with Image.open(out) as image:
        assert image.size[0] / image.size[1] == pytest.approx(297 / 210, rel=0.005)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_briefing_tables_fit_the_page_and_overlap_nothing(layers, monkeypatch, tmp_path, lang) -> None:
    _with_levels(monkeypatch, briefing_module, layers)
    figures = _capture_figure(monkeypatch)
    briefing(layers, tmp_path / "brief.pdf", start=START, end=END, lang=lang)
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    tables = [ax for ax in fig.axes if ax.tables]
    assert len(tables) == 3  # communities, areas, streets
    boxes = [ax.get_tightbbox(renderer) for ax in tables]
    for box in boxes:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    legend = fig.legends[-1].get_window_extent(renderer)
    maps = [ax.get_window_extent(renderer) for ax in fig.axes if not ax.tables and ax.get_position().height > 0.3]
    assert len(maps) == 2  # the coverage map and the heat map
    for i, box in enumerate(boxes):
        assert not box.overlaps(legend), i
        for other in boxes[i + 1:] + maps:
            assert not box.overlaps(other), i
    footer = min(t.get_window_extent(renderer).y1 for t in fig.texts if "EPSG" in t.get_text())
    assert min(b.y0 for b in boxes) > footer  # above the footer line
