"""The leaders' page in Debian's headless Chromium with the network cut: layers, phone layout, hostile text, Amap.

Every test here opens a real exported file with every request but the file
itself refused, and skips with its reason when Chromium, Playwright or the
asset cache is absent (``.ci/run`` installs and fills all three).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from _browser import artifact, offline_page, playwright_or_skip, real_cache_or_skip

import gridmap
from gridmap.crs import from_wgs84
from gridmap.pages.report import export_html
from gridmap.model import CATEGORIES, register_category

pytestmark = pytest.mark.slow
PERIOD = {"start": "2025-03-01", "end": "2025-04-01"}
PHONE_RE = re.compile(r"1[3-9]\d{9}")

_ALL_OVERLAYS_ON = """() => {
    const boxes = [...document.querySelectorAll('.leaflet-control-layers-overlays input[type=checkbox]')];
    boxes.filter(b => !b.checked).forEach(b => b.click());
    return boxes.length;
}"""
_FIND = ("Object.values(window.gridmapReport.map._layers)"
         ".find(l => l instanceof window.GridmapPoints && l._data.role === '{role}')")
_REPORT_LAYER = _FIND.format(role="reports")
_TARGET_LAYER = _FIND.format(role="targets")


@pytest.fixture(scope="module")
def layers() -> dict:
    return gridmap.sample_layers(n_reports=1500, track_days=3)


@pytest.fixture(scope="module")
def page_path(layers: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = real_cache_or_skip()
    playwright_or_skip()
    out = tmp_path_factory.mktemp("report") / "report.html"
    return export_html(layers, out, illustrative=True, cache=cache, **PERIOD)


@pytest.mark.browser
def test_every_layer_renders_without_network_or_errors(page_path: Path) -> None:
    with offline_page(page_path, viewport=(1280, 800), phone=False) as s:
        page = s.page
        page.wait_for_selector("canvas.leaflet-tile-loaded", state="attached", timeout=15_000)
        overlays = page.evaluate(_ALL_OVERLAYS_ON)
        page.wait_for_timeout(500)
        facts = page.evaluate("""() => ({
            svgPaths: document.querySelectorAll('.leaflet-overlay-pane svg path').length,
            tiles: document.querySelectorAll('canvas.leaflet-tile-loaded').length,
            image: [...document.querySelectorAll('img.leaflet-image-layer')]
                .map(i => [i.src.slice(0, 14), i.naturalWidth]),
            panelOpen: document.getElementById('gm-panel').open,
            title: document.title,
            leaflet: window.L && window.L.version,
        })""")
        painted = page.evaluate(f"""() => {{
            const layer = {_REPORT_LAYER};
            let inked = 0;
            for (const c of document.querySelectorAll('canvas.leaflet-tile-loaded')) {{
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (let i = 3; i < d.length; i += 4) {{ if (d[i] > 0) {{ inked++; }} }}
            }}
            return {{n: layer._data.n, inked: inked}};
        }}""")
    assert s.attempted == []  # not one request besides the file
    assert s.errors == []
    assert facts["leaflet"] == "1.9.3"
    assert overlays >= 10  # grids, covered, dead corners, places x2, zones, wall, density, hot spots, sites, reports
    assert facts["svgPaths"] > 36 + 12  # 36 grids and 12 zones at least, plus corners, places, cells
    assert facts["image"] and facts["image"][0][0] == "data:image/png" and facts["image"][0][1] > 100
    assert facts["tiles"] > 0 and painted["inked"] > 1000 and painted["n"] > 0
    assert facts["panelOpen"] is True  # wide screens start with the panel open
    assert facts["title"] == "鼓楼街道环境卫生网格化管理报告（2025-03-01 – 2025-03-31）"  # subdistrict + period


@pytest.mark.browser
def test_phone_layout(page_path: Path) -> None:
    shot = artifact("report_375x667.png")
    with offline_page(page_path) as s:
        page = s.page
        page.wait_for_selector("canvas.leaflet-tile-loaded", state="attached", timeout=15_000)
        before = page.evaluate("""() => {
            const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; };
            const panel = document.getElementById('gm-panel');
            return {
                map: r(document.querySelector('.folium-map')),
                panel: r(panel), open: panel.open,
                zoom: [...document.querySelectorAll('.leaflet-control-zoom a')].map(a => r(a)),
                toggle: r(document.querySelector('.leaflet-control-layers-toggle')),
                badge: document.querySelector('#gm-panel > summary .gm-badge').textContent,
                animating: !!document.querySelector('.leaflet-zoom-anim'),
            };
        }""")
        page.screenshot(path=str(shot))
        page.tap("#gm-panel > summary")
        page.wait_for_timeout(200)
        opened = page.evaluate("""() => {
            const panel = document.getElementById('gm-panel'), b = panel.getBoundingClientRect();
            const body = panel.querySelector('.gm-body');
            return {open: panel.open, height: b.height, top: b.top, scrolls: body.scrollHeight > body.clientHeight};
        }""")
        page.screenshot(path=str(artifact("report_375x667_panel.png")))
        page.tap("#gm-panel > summary")
        closed = page.evaluate("document.getElementById('gm-panel').open")
    assert s.attempted == [] and s.errors == []
    assert before["map"] == [0, 0, 375, 667]  # the map fills the screen
    assert before["animating"] is False  # the first view is drawn at once, not half-way through a zoom
    assert before["open"] is False and before["panel"][3] <= 90  # collapsed: one short bar
    assert before["panel"][2] <= 375 - 16
    assert all(w >= 44 and h >= 44 for _, _, w, h in before["zoom"])  # touch-sized buttons
    assert before["toggle"][2] >= 44 and before["toggle"][3] >= 44
    assert before["badge"] == "示意数据（非测绘边界）"
    assert opened["open"] is True and opened["height"] <= 0.55 * 667 + 90 and opened["scrolls"]
    assert closed is False
    assert shot.stat().st_size > 10_000


@pytest.mark.browser
def test_tapping_a_report_opens_its_popup(page_path: Path, layers: dict) -> None:
    times = pd.to_datetime(layers["reports"]["reported_at"]).dt.tz_convert("Asia/Shanghai")
    chosen = layers["reports"][(times.dt.month == 3)]
    target = chosen.iloc[len(chosen) // 2]
    with offline_page(page_path) as s:
        page = s.page
        page.wait_for_selector("canvas.leaflet-tile-loaded", state="attached", timeout=15_000)
        xy = page.evaluate(f"""() => {{
            const map = window.gridmapReport.map;
            map.setView([{target.geometry.y}, {target.geometry.x}], 19, {{animate: false}});
            const p = map.latLngToContainerPoint([{target.geometry.y}, {target.geometry.x}]);
            return [p.x, p.y];
        }}""")
        page.wait_for_timeout(300)
        page.mouse.click(xy[0], xy[1])
        page.wait_for_selector(".gm-popup", timeout=5_000)
        text = page.inner_text(".leaflet-popup-content")
    assert target["report_id"] in text
    assert target["description"] in text
    assert s.errors == [] and s.attempted == []


# ----------------------------------------------------------------------------- hostile text (BAD-INPUTS 1, 2, 12)

JINJA = '{{ "gm" ~ "PWNED" }} {% if true %}gmIF{% endif %} {{ unbalanced'
HTML = '<img src=x onerror="window.__pwned=1"></script><script>window.__pwned=2</script>'
JS = "`${window.__pwned=3}` \\u003c \\ '\" </div>"
PHONES = "电话13912345678，+86 137-1234-5678"


@pytest.fixture()
def hostile_category():  # type: ignore[no-untyped-def]
    key = "gm_hostile_label"
    register_category(key, f"类别{JINJA}{HTML}", f"cat {JS}")
    yield key
    CATEGORIES.pop(key, None)


def _hostile(layers: dict, category: str) -> tuple[dict, list[str]]:
    out = {k: (v.copy() if v is not None else None) for k, v in layers.items()}
    reports = out["reports"]
    march = reports.index[(pd.to_datetime(reports["reported_at"]).dt.month == 3).to_numpy()]
    ids = []
    for n, (text, idx) in enumerate(zip((JINJA, HTML, JS, PHONES), march[:4])):
        reports.loc[idx, "description"] = text
        reports.loc[idx, "category"] = category if n == 1 else reports.loc[idx, "category"]
        ids.append(reports.loc[idx, "report_id"])
    grids = out["grids"]
    grids.loc[grids.index[0], "name"] = f"网格{HTML}"
    grids.loc[grids.index[1], "name"] = f"网格{JINJA}"
    grids.loc[grids.index[2], "name"] = f"网格{JS}"
    grids.loc[grids.index[0], "cadre"] = "王小明"
    out["communities"].loc[out["communities"].index[0], "name"] = f"社区{HTML}{JINJA}"
    out["demolition_zones"].loc[out["demolition_zones"].index[0], "name"] = f"片区{JS}{PHONES}"
    out["wall"].loc[out["wall"].index[0], "name"] = f"城墙{HTML}"
    targets = out["targets"]
    first_point = targets.index[(targets.geometry.geom_type == "Point").to_numpy()][0]
    targets.loc[first_point, "name"] = f"点位{HTML}{JINJA}"
    return out, ids


_OPEN_EVERYTHING = """() => {
    const map = window.gridmapReport.map, texts = [];
    map.eachLayer(l => {
        for (const kind of ['Tooltip', 'Popup']) {
            const bound = l['get' + kind] && l['get' + kind]();
            if (!bound) { continue; }
            try {
                l['open' + kind]();
                const el = bound.getElement && bound.getElement();
                texts.push(el ? el.textContent : '');
                l['close' + kind]();
            } catch (e) { texts.push('ERROR ' + e); }
        }
    });
    return texts;
}"""


@pytest.mark.browser
def test_hostile_text_is_shown_literally_and_runs_nothing(
        layers: dict, hostile_category: str, tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    hostile, ids = _hostile(layers, hostile_category)
    out = export_html(hostile, tmp_path / "hostile.html", cache=cache, **PERIOD)  # builds: Jinja2 ran nothing
    html = out.read_text(encoding="utf-8")
    assert PHONE_RE.search(html) is None
    assert "gmPWNED" not in html  # Jinja2 would have joined "gm" ~ "PWNED"
    reports = hostile["reports"].set_index("report_id")
    with offline_page(out, viewport=(1280, 800), phone=False) as s:
        page = s.page
        page.wait_for_selector("canvas.leaflet-tile-loaded", state="attached", timeout=15_000)
        page.evaluate(_ALL_OVERLAYS_ON)
        page.wait_for_timeout(300)
        opened = page.evaluate(_OPEN_EVERYTHING)
        popups = []
        for rid in ids:
            point = reports.loc[rid].geometry
            popups.append(page.evaluate(f"""() => {{
                const layer = {_REPORT_LAYER}, map = window.gridmapReport.map;
                map.setView([{point.y}, {point.x}], 19, {{animate: false}});
                const hits = layer.hitsAt(L.latLng({point.y}, {point.x}));
                const box = layer.popupContent(hits);
                L.popup().setLatLng([{point.y}, {point.x}]).setContent(box).openOn(map);
                return document.body.contains(box) ? box.textContent : 'NOT SHOWN';
            }}"""))
        point = hostile["targets"].loc[hostile["targets"]["name"] == f"点位{HTML}{JINJA}"].geometry.iloc[0]
        popups.append(page.evaluate(f"""() => {{
            const layer = {_TARGET_LAYER}, map = window.gridmapReport.map;
            map.setView([{point.y}, {point.x}], 19, {{animate: false}});
            const box = layer.popupContent(layer.hitsAt(L.latLng({point.y}, {point.x})));
            L.popup().setLatLng([{point.y}, {point.x}]).setContent(box).openOn(map);
            return document.body.contains(box) ? box.textContent : 'NOT SHOWN';
        }}"""))
        panel = page.evaluate("document.getElementById('gm-panel').textContent")
        legend = page.evaluate("document.querySelector('.leaflet-control-layers').textContent")
        state = page.evaluate("""() => ({
            pwned: window.__pwned === undefined ? null : window.__pwned,
            injected: document.querySelectorAll('img[src="x"]').length,
        })""")
    everything = "\n".join(opened + popups + [panel, legend])
    assert state["pwned"] is None  # no payload ran
    assert state["injected"] == 0  # no <img src=x> was created
    assert s.attempted == []  # an <img src=x> would have asked for "x"
    assert s.errors == []
    assert not [t for t in opened if t.startswith("ERROR")]
    # shown literally, where each payload was put
    assert JINJA in popups[0] and HTML in popups[1] and JS in popups[2]
    assert f"类别{JINJA}{HTML}" in popups[1]  # the user's category label
    assert f"网格{HTML}" in everything and f"网格{JINJA}" in everything and f"网格{JS}" in everything
    assert f"社区{HTML}{JINJA}" in panel
    assert f"城墙{HTML}" in everything and f"片区{JS}" in everything
    assert f"点位{HTML}{JINJA}" in popups[-1]
    # personal data: no phone on the page, names masked
    assert not PHONE_RE.search(everything) and "137-1234-5678" not in everything
    assert "王小明" not in everything and "王**" in everything


# ----------------------------------------------------------------------------- Amap: drawn where GCJ-02 puts it


@pytest.mark.browser
def test_amap_draws_a_known_point_at_its_gcj02_position(layers: dict, tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    out = export_html(layers, tmp_path / "amap.html", basemap="amap", cache=cache, **PERIOD)
    targets = layers["targets"][layers["targets"].geometry.geom_type == "Point"]
    target = targets.iloc[0]
    wlon, wlat = target.geometry.x, target.geometry.y
    glon, glat = (float(v) for v in from_wgs84(wlon, wlat, "gcj02"))
    with offline_page(out, viewport=(800, 800), phone=False) as s:
        page = s.page
        page.wait_for_selector("canvas.leaflet-tile-loaded", state="attached", timeout=15_000)
        page.evaluate(f"""() => {{
            document.getElementById('gm-panel').open = false;  // the open panel would cover the centre
            window.gridmapReport.map.setView([{glat}, {glon}], 17, {{animate: false}});
        }}""")
        page.wait_for_timeout(500)
        found = page.evaluate(f"""() => {{
            const map = window.gridmapReport.map, layer = {_TARGET_LAYER};
            const names = p => layer.hitsAt(L.latLng(p[0], p[1]), 3).map(i => layer.valueOf(1, i));
            const ink = p => {{
                const c = map.latLngToContainerPoint(p), box = map.getContainer().getBoundingClientRect();
                const x = box.left + c.x, y = box.top + c.y;
                for (const t of layer.getContainer().querySelectorAll('canvas')) {{
                    const r = t.getBoundingClientRect();
                    if (x >= r.left && x < r.right && y >= r.top && y < r.bottom) {{
                        return [...t.getContext('2d').getImageData(Math.floor(x - r.left), Math.floor(y - r.top),
                                                                    1, 1).data];
                    }}
                }}
                return null;
            }};
            const c = map.latLngToContainerPoint([{wlat}, {wlon}]), d = map.latLngToContainerPoint([{glat}, {glon}]);
            return {{atGcj: names([{glat}, {glon}]), atWgs: names([{wlat}, {wlon}]), inkGcj: ink([{glat}, {glon}]),
                     inkWgs: ink([{wlat}, {wlon}]), pixels: Math.hypot(c.x - d.x, c.y - d.y)}};
        }}""")
    assert target["name"] in found["atGcj"]  # the place is found where GCJ-02 puts it ...
    assert target["name"] not in found["atWgs"]  # ... and not at its WGS84 position
    red, green = (0xe3, 0x1a, 0x1c), (0x1a, 0x96, 0x41)  # unvisited / visited
    r, g, b, a = found["inkGcj"]
    assert a > 200 and min(sum(abs(u - v) for u, v in zip((r, g, b), c)) for c in (red, green)) < 60  # drawn there
    assert found["inkWgs"] is None or found["inkWgs"][3] == 0  # nothing drawn at the unshifted spot
    assert found["pixels"] > 50  # at zoom 17 the WGS84 spot is well away from the drawn one
    assert any("autonavi.com" in u for u in s.attempted)  # the Amap tiles were asked for (and refused)
    assert not [u for u in s.attempted if "autonavi.com" not in u]
