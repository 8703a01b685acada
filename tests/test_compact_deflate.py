"""Deflated fields of the compact point layers, and the page's own inflate checked against Python's zlib.

The Python side is decoded by ``tests/_compact.py`` with ``zlib.decompress`` (written independently of the
encoder); the browser side is read back from the popups Chromium builds, with and without
``DecompressionStream``, and the JavaScript decoder (:data:`gridmap.maps.inflate.INFLATE_JS`) is compared with
the bytes Python's zlib was given.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gridmap
from gridmap.maps import compact
from gridmap.maps.compact import PACK_OVER, CompactPoints
from gridmap.maps.inflate import INFLATE_JS
from gridmap.pages.report import export_html

from _browser import CHROMIUM, CHROMIUM_ARGS, playwright_or_skip, real_cache_or_skip
from _compact import decode, payload_of

PHONE = re.compile(r"1[3-9]\d{9}")
PERIOD = {"start": "2025-01-01", "end": "2026-01-01"}  # the whole sample year: every report
TRICKY = ['他说"不行"', "</script><script>alert(1)</script>", "{{ 7*7 }}{% if %}{# c #}", "垃圾🗑️堆放😡",
          "「北门」、《通知》…——！？；：", "a\\b\u2028c\u2029d\n\te", "&amp; &lt;", " 前后空格 ", "\x00\x01控制"]


def ledger_texts(n: int, seed: int = 3) -> list[str]:
    """`n` distinct ledger-like descriptions, a tricky one every 97th."""
    rng = np.random.default_rng(seed)
    places = ["北门社区北大街", "文庙社区文化路", "西城社区人民路", "钟楼社区新建路", "南门社区二里半路"]
    problems = ["生活垃圾乱倒", "杂物乱堆乱放", "污水乱泼", "商户占道经营", "柴草垛堆放", "废旧摩托车停放"]
    out = []
    for i in range(n):
        text = (f"{places[rng.integers(5)]}{rng.integers(1, 300)}号{problems[rng.integers(6)]}"
                f"约{rng.integers(1, 40)}袋，第{i}条，请尽快清运")
        out.append(TRICKY[(i // 97) % len(TRICKY)] + text if i % 97 == 0 else text)
    return out


def layer_of(texts: list[Any], **kwargs: Any) -> CompactPoints:
    n = len(texts)
    rng = np.random.default_rng(0)
    fields = [("类别", ["垃圾"] * n), ("描述", texts)]
    return CompactPoints(109.73 + rng.random(n) * 0.02, 38.28 + rng.random(n) * 0.02, fields, colour_field=0,
                         name="p", **kwargs)


# ----------------------------------------------------------------------------- the encoding, decoded with zlib


def test_a_large_text_field_is_deflated_and_every_text_comes_back() -> None:
    texts = ledger_texts(3000)
    texts[5], texts[6], texts[7] = None, "", float("nan")  # missing three ways
    layer = layer_of(texts)
    data = json.loads(layer.payload)
    field = data["fields"][1]
    assert "z" in field and "values" not in field and "codes" not in field
    assert "z" not in data["fields"][0]  # the colouring field is never deflated
    expected = [None if t is None or t == "" or isinstance(t, float) else t for t in texts]
    assert decode(layer.payload)["fields"]["描述"] == expected
    assert not re.search(r"\d", field["z"])  # no digit at all in the stream's text
    assert "<" not in layer.payload and ">" not in layer.payload and "&" not in layer.payload
    raw = sum(len(t.encode("utf-8")) for t in expected if t)
    assert len(field["z"]) < raw / 2  # it pays: under half the text's UTF-8


def test_a_small_field_stays_plain_json() -> None:
    texts = ledger_texts(40)
    assert sum(len(t.encode()) for t in texts) < PACK_OVER
    field = json.loads(layer_of(texts).payload)["fields"][1]
    assert "z" not in field and field["values"][1:] == texts  # first appearance = input order here


def test_a_phone_shaped_run_keeps_the_field_plain_for_the_pages_last_check() -> None:
    texts = ledger_texts(3000)
    texts[100] = "请联系13812345678处理"
    field = json.loads(layer_of(texts).payload)["fields"][1]
    assert "z" not in field and "请联系13812345678处理" in field["values"]


def test_large_identifiers_are_deflated_and_rebuilt() -> None:
    n = 20_000
    ids = [f"R{i:06d}" for i in range(1, n + 1)]
    ids[100], ids[101] = ids[101], ids[100]  # a step back: the differences wrap around
    layer = CompactPoints(np.full(n, 109.73), np.full(n, 38.29), [("c", ["a"] * n), ("id", ids)], colour_field=0,
                          id_field=1, name="p")
    field = json.loads(layer.payload)["fields"][1]
    assert field["kind"] == "id" and "z" in field and len(field["z"]) < 1000  # sequential numbers: almost nothing
    assert decode(layer.payload)["fields"]["id"] == ids


def test_the_budget_bounds_the_deflated_stream_and_keeps_the_newest() -> None:
    problems = ["生活垃圾乱倒", "杂物乱堆乱放", "商户占道经营", "柴草垛堆放处", "废旧车辆停放"]
    texts = [f"北门社区北大街{i:05d}号{problems[i % 5]}约{(i * 7) % 90 + 10:02d}袋" for i in range(4000)]
    assert len({len(t.encode()) for t in texts}) == 1  # one size: the budget keeps a run of the newest
    newest_first = np.arange(4000)[::-1]
    budget = 4_000
    layer = layer_of(texts, order=newest_first, text_budget=budget, omitted="(未收录)")
    field = json.loads(layer.payload)["fields"][1]
    got = decode(layer.payload)["fields"]["描述"]
    kept = [i for i in range(4000) if got[i] == texts[i]]
    assert "z" in field and len(field["z"]) <= budget
    assert 0 < len(kept) < 4000 and kept == list(range(4000 - len(kept), 4000))  # exactly the newest ones
    assert all(got[i] == "(未收录)" for i in range(4000 - len(kept)))
    assert layer.dropped == {"描述": 4000 - len(kept)}
    assert len(field["z"]) > budget * 0.7  # the budget is used, not thrown away


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=40),
       repeat=st.integers(1, 3))
@example(texts=[None, None], repeat=1)  # nothing but missing values
def test_deflated_texts_survive_any_text(texts: list, repeat: int) -> None:
    texts = texts * repeat  # repeated texts: shared indices, differences going up and down
    with mock.patch.object(compact, "PACK_OVER", -1):
        layer = layer_of(texts)
    field = json.loads(layer.payload)["fields"][1]
    assert "z" in field
    assert decode(layer.payload)["fields"]["描述"] == [None if t in (None, "") else t for t in texts]
    assert not re.search(r"\{[{%#]", layer.payload)


# ----------------------------------------------------------------------------- the JavaScript inflate in Chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (Playwright's sync API allows one at a time)."""
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def inflate_page(browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    page.route("**/*", lambda route: route.abort())
    page.set_content(f"<!DOCTYPE html><html><body><script>{INFLATE_JS}</script></body></html>")
    yield page
    page.close()


_INFLATE = """(b64) => {
    const bin = atob(b64), src = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) { src[i] = bin.charCodeAt(i); }
    try {
        const out = window.gridmapInflate(src);
        let s = '';
        for (let i = 0; i < out.length; i += 0x8000) {
            s += String.fromCharCode.apply(null, out.subarray(i, i + 0x8000));
        }
        return {ok: btoa(s)};
    } catch (err) { return {error: String(err.message)}; }
}"""


def js_inflate(page: Any, stream: bytes) -> dict[str, Any]:
    got = page.evaluate(_INFLATE, base64.b64encode(stream).decode("ascii"))
    return {"ok": base64.b64decode(got["ok"])} if "ok" in got else got


def zlib_stream(data: bytes, level: int = 9, strategy: int = zlib.Z_DEFAULT_STRATEGY, wbits: int = 15,
                mem: int = 8) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, wbits, mem, strategy)
    return c.compress(data) + c.flush()


def _repeats_far_back() -> bytes:
    rng = np.random.default_rng(5)
    head = rng.integers(0, 256, 40_000, dtype=np.uint8).tobytes()
    return head + head[100:300] + head[-32_768 + 7:-32_768 + 300] + rng.integers(0, 4, 9000, dtype=np.uint8).tobytes()


EDGE_CASES = {
    "empty": (b"", {}),
    "one byte": (b"x", {}),
    "stored, over one 65535-byte block": (np.random.default_rng(1).bytes(150_000), {"level": 0}),
    "fixed Huffman": ("北门社区垃圾乱倒".encode() * 500, {"strategy": zlib.Z_FIXED}),
    "dynamic Huffman": ("北门社区垃圾乱倒，请尽快清运".encode() * 2000 + bytes(range(256)), {}),
    "Huffman only": (np.random.default_rng(2).integers(0, 9, 50_000, dtype=np.uint8).tobytes(),
                     {"strategy": zlib.Z_HUFFMAN_ONLY}),
    "run-length": (b"a" * 70_000 + b"b" * 3, {"strategy": zlib.Z_RLE}),
    "distances up to 32 KiB": (_repeats_far_back(), {"mem": 9}),
    "incompressible": (np.random.default_rng(3).bytes(100_000), {}),
    "small window": (b"abcdefgh" * 5000, {"wbits": 9}),
}


@pytest.mark.browser
@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_js_inflate_matches_zlib_on_edge_cases(inflate_page: Any, name: str) -> None:
    data, options = EDGE_CASES[name]
    assert js_inflate(inflate_page, zlib_stream(data, **options)) == {"ok": data}


@pytest.mark.browser
@settings(max_examples=80, deadline=None)
@given(data=st.one_of(st.binary(max_size=3000),
                      st.lists(st.sampled_from([b"\xe5\x9e\x83\xe5\x9c\xbe", b"ab", b"\x00" * 40, b"xyz" * 9,
                                                bytes(range(200))]), max_size=400).map(b"".join)),
       level=st.integers(0, 9),
       strategy=st.sampled_from([zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE,
                                 zlib.Z_FIXED]),
       wbits=st.integers(9, 15), mem=st.integers(1, 9))
def test_js_inflate_matches_zlib_on_random_inputs(inflate_page: Any, data: bytes, level: int, strategy: int,
                                                  wbits: int, mem: int) -> None:
    assert js_inflate(inflate_page, zlib_stream(data, level, strategy, wbits, mem)) == {"ok": data}


@pytest.mark.browser
@pytest.mark.parametrize("damage", ["truncated", "header", "reserved block type"])
def test_js_inflate_refuses_a_damaged_stream(inflate_page: Any, damage: str) -> None:
    stream = zlib_stream("北门社区垃圾乱倒".encode() * 300)
    bad = {"truncated": stream[: len(stream) // 2], "header": b"\x78\x00" + stream[2:],
           "reserved block type": stream[:2] + bytes([0b111]) + stream[3:]}[damage]
    assert "error" in js_inflate(inflate_page, bad)


# ----------------------------------------------------------------------------- the page, with and without
#                                                                               DecompressionStream


@pytest.fixture(scope="module")
def distinct_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    layers = gridmap.sample_layers(n_reports=3000, track_days=1)
    reports = layers["reports"].copy()
    texts: list[Any] = ledger_texts(len(reports))
    texts[1], texts[2], texts[3] = None, "", "请王小明处理"  # missing, empty, and a name typed in free text
    reports["description"] = texts
    cache = real_cache_or_skip()
    path = export_html({**layers, "reports": reports}, tmp_path_factory.mktemp("deflate") / "page.html",
                       illustrative=True, cache=cache, **PERIOD)
    return path, dict(zip(reports["report_id"], texts))


_ROWS = """async () => {
    const layer = Object.values(window.gridmapReport.map._layers)
        .find(l => l instanceof window.GridmapPoints && l._data.role === 'reports');
    await layer.decoded;
    const rows = [];
    for (let i = 0; i < layer._data.n; i++) {
        const row = {};
        for (const div of layer.popupContent([i]).querySelectorAll('.gm-popup-item > div')) {
            const label = div.querySelector('b').textContent;
            row[label] = div.textContent.slice(label.length);
        }
        rows.push(row);
    }
    return {rows: rows, native: typeof window.DecompressionStream === 'function'};
}"""
_TAP = """() => {
    const map = window.gridmapReport.map;
    const layer = Object.values(map._layers)
        .find(l => l instanceof window.GridmapPoints && l._data.role === 'reports');
    const i = layer._data.n - 1, at = layer.nearestLatLng(i);
    map.setView(at, 20, {animate: false});
    map.fire('click', {latlng: at, containerPoint: map.latLngToContainerPoint(at)});
    return layer.valueOf(1, i);
}"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("native", [True, False], ids=["DecompressionStream", "own inflate"])
def test_every_popup_shows_its_description_exactly(browser: Any, distinct_page: tuple[Path, dict[str, Any]],
                                                   native: bool) -> None:
    path, source = distinct_page
    html = path.read_text(encoding="utf-8")
    field = next(f for f in json.loads(payload_of(html, "reports"))["fields"] if f["label"] == "描述")
    assert "z" in field  # the page under test does carry its descriptions deflated
    errors: list[str] = []
    attempted: list[str] = []
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.route("**/*", lambda r: r.continue_() if r.request.url == path.as_uri()
                   else (attempted.append(r.request.url), r.abort()))
        if not native:
            page.add_init_script("delete window.DecompressionStream;")
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path.as_uri(), wait_until="load", timeout=60_000)
        page.wait_for_selector("canvas.leaflet-tile-loaded", state="attached", timeout=15_000)
        tapped_id = page.evaluate(_TAP)
        page.wait_for_selector(".leaflet-popup-content .gm-popup", timeout=10_000)
        tapped = page.inner_text(".leaflet-popup-content")
        got = page.evaluate(_ROWS)
    finally:
        context.close()
    assert errors == [] and attempted == []
    assert got["native"] is native
    rows = got["rows"]
    assert len(rows) == len({r["编号: "] for r in rows}) > 2500
    for row in rows:
        text = source[row["编号: "]]
        assert row.get("描述: ") == (text if isinstance(text, str) and text else None), row["编号: "]
    tricky_shown = [row["描述: "] for row in rows if any(row.get("描述: ", "").startswith(t) for t in TRICKY)]
    assert len(tricky_shown) >= len(TRICKY) - 1  # the tricky texts did reach popups, verbatim (checked above)
    assert f"描述: {source[tapped_id]}" in tapped  # a real tap waits for the texts, then shows the right one
    assert not any(PHONE.search(r.get("描述: ", "")) for r in rows)


_OFF_MAP = """async () => {
    const layer = Object.values(window.gridmapReport.map._layers)
        .find(l => l instanceof window.GridmapPoints && l._data.role === 'reports');
    await layer.decoded;
    const asked = new window.GridmapPoints(layer._data), idle = new window.GridmapPoints(layer._data);
    const before = [asked._pending, idle._pending];
    asked.startDecoding();  // what a tap does
    await asked.decoded;
    await idle.decoded;  // nobody asks: it starts on its own after two seconds
    const n = layer._data.n, same = (l) => [...Array(n).keys()].every(i => l.valueOf(5, i) === layer.valueOf(5, i));
    return {before: before, after: [asked._pending, idle._pending], same: [same(asked), same(idle)]};
}"""


@pytest.mark.browser
@pytest.mark.slow
def test_a_layer_off_the_map_reads_its_texts_when_asked_or_after_a_while(
        browser: Any, distinct_page: tuple[Path, dict[str, Any]]) -> None:
    path, _ = distinct_page
    page = browser.new_page()
    try:
        page.route("**/*", lambda r: r.continue_() if r.request.url == path.as_uri() else r.abort())
        page.goto(path.as_uri(), wait_until="load", timeout=60_000)
        got = page.evaluate(_OFF_MAP)
    finally:
        page.close()
    assert got == {"before": [True, True], "after": [False, False], "same": [True, True]}
