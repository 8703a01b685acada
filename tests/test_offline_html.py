"""Single-file offline HTML: inlining from the asset cache, checked in headless Chromium with the network cut."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import folium
import pytest
from folium.plugins import HeatMap

from _browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, playwright_or_skip, real_cache_or_skip

from gridmap.maps.assets import AssetsMissingError, asset_cache
from gridmap.maps.offline import escape_script, inline_html, remote_references, save_offline

D3 = "https://d3js.org/d3.v4.min.js"


def _map() -> folium.Map:
    fmap = folium.Map(location=[38.29, 109.73], zoom_start=15, tiles=None)
    square = [[109.725, 38.285], [109.735, 38.285], [109.735, 38.295], [109.725, 38.295], [109.725, 38.285]]
    folium.GeoJson(
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [square]}},
        name="网格",
    ).add_to(fmap)
    folium.CircleMarker([38.29, 109.73], radius=6, tooltip="垃圾点").add_to(fmap)
    folium.Marker([38.288, 109.728]).add_to(fmap)  # Leaflet's default icon: a data: URI offline
    HeatMap([[38.29, 109.73, 1.0], [38.291, 109.731, 0.5]]).add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return fmap


def test_missing_cache_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(AssetsMissingError, match=r"run `gridmap assets fetch` \(from the CDNs\) or") as info:
        save_offline(_map(), tmp_path / "m.html", cache=asset_cache(tmp_path / "empty"))
    message = str(info.value)
    assert "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in message
    assert "https://code.jquery.com/jquery-3.7.1.min.js" in message  # every missing URL, not only the first
    assert not (tmp_path / "m.html").exists()


def test_escape_script_keeps_no_closing_tag() -> None:
    js = 'var a = "</SCRIPT><script>x()</script><!-- y";'
    out = escape_script(js)
    assert not re.search(r"</script|<script|<!--", out, flags=re.I)
    assert out.count("<\\/") == 2


def test_remote_references_sees_markup_and_css() -> None:
    page = (
        '<link rel="stylesheet" href="https://a.org/x.css"><a href="https://leafletjs.com">L</a>'
        "<style>@import 'https://b.org/i.css'; .q{background:url(https://c.org/p.png)}</style>"
        '<div style="background:url(//d.org/q.png)"></div>'
    )
    assert remote_references(page) == ["https://a.org/x.css", "https://c.org/p.png", "https://b.org/i.css",
                                       "//d.org/q.png"]


@pytest.mark.browser
def test_inlined_page_has_no_remote_reference(tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    out = save_offline(_map(), tmp_path / "map.html", cache=cache)
    html = out.read_text(encoding="utf-8")
    online = _map().get_root().render()
    assert remote_references(online)  # the plain folium page does fetch from CDNs ...
    assert remote_references(html) == []  # ... the offline one does not
    assert not re.search(r"""<(script|link|img)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?//""", html, flags=re.I)
    leaflet_js = cache.read_bytes("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js").decode()
    assert leaflet_js[:200] in html
    layers_png = cache.read_bytes("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/images/layers.png")
    assert base64.b64encode(layers_png).decode() in html  # CSS image as a data: URI


@pytest.mark.browser
def test_exclude_drops_unused_assets(tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    fa = "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css"
    full = inline_html(_map().get_root().render(), cache=cache)
    lean = inline_html(_map().get_root().render(), cache=cache, exclude=[fa])
    assert fa in full and fa not in lean
    assert len(full) - len(lean) > 300_000  # the Font Awesome woff2 fonts, base64


@pytest.mark.browser
def test_inline_escapes_script_content(tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    page = f'<html><body><script src="{D3}"></script><p id="after">after</p></body></html>'
    html = inline_html(page, cache=cache)
    assert html.lower().count("</script") == 1  # only the closing tag we wrote
    assert '<p id="after">after</p>' in html


# ----------------------------------------------------------------------------- browser


def _open_offline(path: Path, shot: Path | None = None, *, wait_map: bool = True) -> dict[str, object]:
    sync_api = playwright_or_skip()
    attempted: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)

            def refuse(route):  # type: ignore[no-untyped-def]
                attempted.append(route.request.url)
                if route.request.url == path.as_uri():
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", refuse)
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(path.as_uri(), wait_until="load", timeout=30_000)
            if not wait_map:
                return {"attempted": list(attempted), "L": page.evaluate("typeof window.L")}
            page.wait_for_selector(".leaflet-pane path.leaflet-interactive", state="attached", timeout=10_000)
            facts = page.evaluate(
                """() => ({
                    panes: document.querySelectorAll('.leaflet-pane').length,
                    paths: document.querySelectorAll('.leaflet-overlay-pane svg path').length,
                    heat: document.querySelectorAll('canvas.leaflet-heatmap-layer').length,
                    icons: [...document.querySelectorAll('img.leaflet-marker-icon')]
                        .map(i => [i.src.slice(0, 15), i.naturalWidth]),
                    mapHeight: document.querySelector('.folium-map').getBoundingClientRect().height,
                    jquery: typeof window.jQuery, L: window.L && window.L.version,
                })"""
            )
            if shot is not None:
                page.screenshot(path=str(shot))
        finally:
            browser.close()
    facts["attempted"] = [u for u in attempted if u != path.as_uri()]
    facts["errors"] = errors
    return facts


@pytest.mark.browser
@pytest.mark.slow
def test_offline_page_renders_in_chromium_without_network(tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    playwright_or_skip()
    out = save_offline(_map(), tmp_path / "map.html", cache=cache)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n", encoding="utf-8")  # test output, never committed
    shot = ARTIFACTS / "offline_map_375x667.png"
    facts = _open_offline(out, shot)
    assert facts["attempted"] == []  # not a single request besides the file itself
    assert facts["errors"] == []
    assert facts["L"] == "1.9.3" and facts["jquery"] == "function"
    assert facts["panes"] >= 5
    assert facts["paths"] >= 2  # the grid polygon and the circle marker
    assert facts["heat"] == 1
    assert facts["icons"] == [["data:image/png;", 25]]  # Leaflet's default icon, 25 px wide, inline
    assert facts["mapHeight"] == 667  # the map fills the phone screen
    assert shot.stat().st_size > 5_000


@pytest.mark.browser
@pytest.mark.slow
def test_plain_folium_page_does_try_the_network(tmp_path: Path) -> None:
    """The control experiment: the same map saved by folium asks for CDN files (which we refuse)."""
    playwright_or_skip()
    out = tmp_path / "online.html"
    _map().save(str(out))
    facts = _open_offline(out, wait_map=False)
    assert "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in facts["attempted"]
    assert facts["L"] == "undefined"  # refused: the blank page the issue describes


def test_a_phone_shaped_run_in_an_inlined_library_does_not_refuse_the_page(tmp_path: Path) -> None:
    """The last privacy check reads the page's own content, not the third-party code inlined after it.

    `gridmap hotspots --html` with the real cache was refused because a minified library holds the run
    44012345678-like digits; a phone in the page's data is still refused.
    """
    from _stub_cache import stub_cache
    from gridmap.errors import GridmapError
    from gridmap.pages.common import page_html

    folder = stub_cache(tmp_path / "assets")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    leaflet_js = next(url for url in manifest["assets"] if url.endswith("leaflet.js"))
    entry = manifest["assets"][leaflet_js]
    minified = b'var Hg=al($t(260,.75,.35)),Xg=Wa($a("44013912345678"));\n'
    (folder / entry["file"]).write_bytes(minified)
    entry.update(sha256=hashlib.sha256(minified).hexdigest(), bytes=len(minified))
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    page = page_html(folium.Map(tiles=None), offline=True, lang="zh", redact=True, cache=asset_cache(folder))
    assert "44013912345678" in page  # the library is inside the one file, and the page was not refused
    with_phone = folium.Map(tiles=None)
    folium.Marker([38.29, 109.73], popup="张三 13912345678").add_to(with_phone)
    with pytest.raises(GridmapError, match="phone-shaped number"):
        page_html(with_phone, offline=True, lang="zh", redact=True, cache=asset_cache(folder))
