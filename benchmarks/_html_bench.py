"""Helpers of ``benchmarks/html.py``: build both pages in forked children, read our page back, time Chromium.

Import this only after ``benchmarks/`` is off the front of ``sys.path`` (``benchmarks/html.py`` would
otherwise shadow the standard library's ``html``, which folium, Jinja2 and this module use).
"""

from __future__ import annotations

import base64
import json
import multiprocessing as mp
import queue as queue_mod
import re
import shutil
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 375, "height": 667}
OURS_DRAWN = ("() => document.querySelectorAll('canvas.leaflet-tile-loaded').length > 0"
              " && document.querySelectorAll('.leaflet-overlay-pane path').length > 0")
PEER_DRAWN = "(n) => document.querySelectorAll('path.leaflet-interactive').length >= n"
MB = 1e6


# ---------------------------------------------------------------------------------------------------- ledger text

# Words of a sanitation ledger (台账): where (community, street, house number, landmark), what (a problem of the
# report's category), how much, since when or how bad, and what was done or asked.
_LANDMARKS = (
    "小区北门", "小区南门", "小区东侧", "菜市场入口", "菜市场后巷", "公厕旁", "垃圾收集点", "垃圾中转站外", "公交站台",
    "幼儿园门口", "小学后墙", "中学围墙外", "变电箱旁", "绿化带内", "巷口", "楼道口", "单元门前", "车棚后",
    "加油站对面", "便利店门前", "停车场角落", "桥洞下", "排水沟边", "围墙外侧", "老槐树下", "社区服务站旁",
    "卫生院门口", "快递驿站旁", "烧烤店后门", "洗车店门前", "修车铺旁", "废品收购站外", "广场西南角", "健身器材旁",
    "消防通道内", "拆迁工地围挡外", "早市路段", "夜市路段", "银行门前", "药店旁", "清真寺后巷", "文化站门口",
)
_PROBLEMS: dict[str, tuple[str, ...]] = {
    "garbage_dumping": ("生活垃圾乱倒", "垃圾溢出桶外", "装修垃圾倾倒", "餐厨垃圾堆积发臭", "塑料袋等垃圾散落",
                        "有人夜间偷倒垃圾", "垃圾桶破损垃圾外漏", "大件垃圾随意丢弃"),
    "random_piling": ("杂物乱堆乱放", "建筑材料占道堆放", "废旧家具堆放", "纸箱杂物堆积", "砖块沙土乱堆",
                      "旧轮胎堆放", "废弃花盆杂物堆积", "私搭乱建堆放木料"),
    "sewage_splashing": ("污水乱泼", "洗菜水泼在路面", "污水结冰路滑", "门前污水横流", "洗车污水漫流",
                         "餐馆泔水泼洒"),
    "firewood_pile": ("柴草垛堆放", "煤块柴草混堆", "院内柴草堆靠近电线", "玉米秸秆堆放", "废木料堆积"),
    "scrapped_vehicle": ("废旧摩托车停放", "报废车辆长期占道", "僵尸自行车堆放", "无牌三轮车停放",
                         "废旧电动车堆放", "报废面包车长期停放"),
    "road_occupying_business": ("商户占道经营", "摊点占用人行道", "出店经营堆放货物", "早市摊贩占道",
                                "烧烤摊占道", "水果摊占用盲道", "修车摊占道作业"),
    "sewage_discharge_point": ("污水直排雨水口", "暗管排放污水", "化粪池外溢", "检查井冒水", "排污口异味明显"),
    "vacant_lot_garbage": ("空地垃圾杂草丛生", "空闲地有人倾倒垃圾", "拆迁空地建筑垃圾未清", "空地积存生活垃圾",
                           "闲置院落堆满杂物"),
    "sanitation_dead_corner": ("墙角卫生死角垃圾未清", "巷子深处卫生死角", "楼后夹道积存垃圾", "楼梯间下方积存杂物",
                               "背街小巷垃圾长期未清"),
}
_OTHER_PROBLEMS = ("发现环境卫生问题", "环境脏乱", "卫生状况较差")
_QUANTITIES: dict[str, tuple[str, ...]] = {
    "garbage_dumping": ("约{n}立方米", "约{n}袋", "约{n}车", "{n}处"),
    "random_piling": ("约{n}平方米", "约{n}立方米", "{n}堆", "长约{n}米"),
    "sewage_splashing": ("约{n}平方米", "长约{n}米", "{n}处"),
    "firewood_pile": ("约{n}立方米", "{n}垛", "高约{n}米"),
    "scrapped_vehicle": ("{n}辆", "共{n}辆"),
    "road_occupying_business": ("{n}家", "{n}个摊位", "占道约{n}米"),
    "sewage_discharge_point": ("{n}处", "约{n}米长"),
    "vacant_lot_garbage": ("约{n}平方米", "约{n}立方米"),
    "sanitation_dead_corner": ("约{n}平方米", "{n}处", "约{n}袋"),
}
_WHEN = ("", "", "今早巡查发现", "群众来电反映", "午后巡查时", "夜间", "网格员上报", "微信群反映", "复查时发现")
_HOW = ("", "，影响通行", "，气味较大", "，群众多次反映", "，有火灾隐患", "，蚊蝇滋生", "，影响市容",
        "，夜间尤为严重", "，已持续{n}天", "，雨后更严重", "，第{n}次反弹", "，周边居民意见较大", "，存在安全隐患")
_ACTIONS = ("", "，请尽快清运", "，已通知网格员处理", "，已联系环卫所", "，建议设置警示牌", "，需协调城管执法",
            "，已拍照留存", "，请物业配合清理", "，要求当日整改", "，已转社区跟进", "，请安排车辆清运",
            "，已约谈商户", "，限{n}日内整改", "，已下发整改通知书", "，请街道协调处理")


def ledger_descriptions(layers: dict[str, Any], seed: int = 16, shortest: int = 20, longest: int = 60) -> list[str]:
    """One distinct description of `shortest` to `longest` characters per report, composed like ledger text.

    Each is [when] + community (of the report's grid) + street (the nearest to the report) + house number
    [+ building and unit] + landmark + a problem of the report's category + a quantity in that category's
    units + [how bad or since when] + [what was done or asked], the optional parts and the numbers drawn
    from ``numpy.random.default_rng(seed)``; a text already given, or outside the length range, is drawn
    again. Deterministic for a given sample and seed.
    """
    import shapely

    reports = layers["reports"]
    grids, communities = layers["grids"], layers["communities"]
    community_of_grid = dict(zip(grids["grid_code"], grids["community_code"].map(
        dict(zip(communities["community_code"], communities["name"])))))
    streets = layers["streets"].to_crs(3857)
    tree = shapely.STRtree(list(streets.geometry))
    nearest = tree.query_nearest(list(reports.to_crs(3857).geometry), all_matches=False)[1]
    street_names = streets["street_name"].to_numpy(object)[nearest]
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    out = []
    for cat, grid, street in zip(reports["category"], reports["grid_code"], street_names):
        community = community_of_grid.get(grid, "")
        problems = _PROBLEMS.get(cat, _OTHER_PROBLEMS)
        units = _QUANTITIES.get(cat, ("{n}处",))
        while True:
            number = f"{int(rng.integers(1, 300))}号"
            if rng.random() < 0.3:
                number += f"{int(rng.integers(1, 20))}号楼{int(rng.integers(1, 7))}单元"
            text = "".join((
                _WHEN[rng.integers(len(_WHEN))], community, street, number, _LANDMARKS[rng.integers(len(_LANDMARKS))],
                problems[rng.integers(len(problems))],
                units[rng.integers(len(units))].format(n=int(rng.integers(1, 40))),
                _HOW[rng.integers(len(_HOW))].format(n=int(rng.integers(2, 20))),
                _ACTIONS[rng.integers(len(_ACTIONS))].format(n=int(rng.integers(1, 8)))))
            if shortest <= len(text) <= longest and text not in seen:
                break
        seen.add(text)
        out.append(text)
    return out


def ledger_sample(n: int) -> dict[str, Any]:
    """``gridmap.sample_layers(n_reports=n, track_days=7)`` with :func:`ledger_descriptions` as descriptions."""
    import gridmap

    layers = gridmap.sample_layers(n_reports=n, track_days=7)
    reports = layers["reports"].copy()
    reports["description"] = ledger_descriptions(layers)
    return {**layers, "reports": reports}


# ---------------------------------------------------------------------------------------------------- memory


def _status_mb(key: str) -> float:
    text = Path("/proc/self/status").read_text(encoding="ascii")
    found = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return float(found.group(1)) * 1024 / MB if found else float("nan")


def reset_peak() -> float:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0); return the RSS in MB."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:  # not Linux, or not allowed: the peak then also covers what came before
        pass
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """This process's peak RSS since the last :func:`reset_peak` (VmHWM), MB."""
    return _status_mb("VmHWM")


# ---------------------------------------------------------------------------------------------------- children


def in_child(work: Callable[..., dict[str, Any]], args: tuple[Any, ...], timeout_s: float) -> dict[str, Any]:
    """Run ``work(*args)`` in a forked child (its own peak memory); kill it after `timeout_s`."""
    ctx = mp.get_context("fork")
    box = ctx.Queue()
    child = ctx.Process(target=_child_main, args=(work, args, box))
    t0 = time.perf_counter()
    child.start()
    try:
        while True:
            try:
                out = box.get(timeout=2.0)
                break
            except queue_mod.Empty:
                if not child.is_alive():
                    out = {"error": f"the child died (exit code {child.exitcode})"}
                    break
                if time.perf_counter() - t0 > timeout_s:
                    out = {"timeout": timeout_s}
                    break
    finally:
        if child.is_alive() and ("timeout" in out or "error" in out):
            child.kill()
        child.join()
    return out


def _child_main(work: Callable[..., dict[str, Any]], args: tuple[Any, ...], box: Any) -> None:
    try:
        box.put(work(*args))
    except BaseException as exc:  # reported by the parent, which goes on with the other measurements
        box.put({"error": f"{type(exc).__name__}: {exc}"})


# ---------------------------------------------------------------------------------------------------- ours


def build_ours(n: int, path: Path) -> dict[str, Any]:
    """Generate the sample, then time ``gridmap.export_html(..., offline=True)``; peak RSS over the build."""
    import gridmap

    layers = ledger_sample(n)
    reports = layers["reports"]
    distinct = int(reports["description"].nunique())
    before = reset_peak()
    t0 = time.perf_counter()
    gridmap.export_html(layers, path, offline=True, illustrative=True)
    seconds = time.perf_counter() - t0
    lengths = reports["description"].str.len()
    return {"seconds": seconds, "peak_mb": peak_mb(), "before_mb": before, "bytes": path.stat().st_size,
            "distinct_descriptions": distinct, "chars": (int(lengths.min()), float(lengths.mean()), int(lengths.max())),
            "expected": dict(zip(reports["report_id"], reports["description"])), **read_points(path)}


def _bytes(text: str) -> bytes:
    return base64.b64decode(text.translate(str.maketrans("-_.~!*()$@", "0123456789")))


def _unpack(text: str, kind: str) -> np.ndarray:
    return np.frombuffer(_bytes(text), dtype={"u8": "<u1", "u16": "<u2", "u32": "<u4"}[kind])


def _field_codes(field: dict[str, Any], n: int) -> tuple[np.ndarray, list[Any]]:
    """A field's index per point and its texts, deflated (``z``) or not."""
    if "z" not in field:
        return _unpack(field["codes"], field["type"]), field.get("values") or []
    raw = zlib.decompress(_bytes(field["z"]))
    width = {"u8": 1, "u16": 2, "u32": 4}[field["type"]]
    codes = np.cumsum(np.frombuffer(raw[:n * width], dtype=f"<u{width}").astype(np.uint64)) % (1 << (8 * width))
    return codes, json.loads(raw[n * width:]) if field["kind"] == "text" else []


def read_points(path: Path) -> dict[str, Any]:
    """Read our page's report layer back: points, payload bytes, reports whose description was left out."""
    html = path.read_text(encoding="utf-8")
    layers = [text for text in re.findall(r"new GridmapPoints\((\{.*?\})\);\n", html, re.S)
              if json.loads(text).get("role") == "reports"]
    if not layers:
        return {"points": None}
    data = json.loads(layers[0])
    out: dict[str, Any] = {"points": int(data["n"]), "payload_bytes": len(layers[0].encode("utf-8")),
                           "omitted": 0}
    from gridmap.pages.report import REPORT_LABELS

    left_out = {labels["omitted"] for labels in REPORT_LABELS.values()}
    for field in data["fields"]:
        codes, values = _field_codes(field, out["points"])
        for code, value in enumerate(values):
            if value in left_out:
                out["omitted"] += int((codes == code).sum())
        if "z" in field:
            out.setdefault("deflated", {})[field["label"]] = len(field["z"])
    return out


# ---------------------------------------------------------------------------------------------------- peer


def peer_popups(reports: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Latitudes, longitudes and one escaped popup (category, date, status, grid code, description) per report."""
    from html import escape

    import pandas as pd

    from gridmap.model import REPORT_STATUSES, category_label

    wgs = reports.to_crs(4326)
    days = pd.to_datetime(wgs["reported_at"], utc=True).dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d")
    labels = {key: category_label(key, "zh") for key in wgs["category"].dropna().unique()}

    def text(value: Any) -> str:
        return escape(str(value)) if isinstance(value, str) else ""

    popups = [f"<b>类别</b>: {text(labels.get(c, c))}<br><b>上报日期</b>: {text(d)}<br>"
              f"<b>状态</b>: {text(REPORT_STATUSES.get(s, s))}<br><b>网格</b>: {text(g)}<br>"
              f"<b>描述</b>: {text(t)}"
              for c, d, s, g, t in zip(wgs["category"], days, wgs["status"], wgs["grid_code"], wgs["description"])]
    return wgs.geometry.y.to_numpy(), wgs.geometry.x.to_numpy(), popups


def build_peer(n: int, path: Path, offline_path: Path) -> dict[str, Any]:
    """Generate the sample, then time a plain folium map with one CircleMarker + Popup a report, saved."""
    import folium

    from gridmap.maps.offline import inline_html

    reports = ledger_sample(n)["reports"]
    before = reset_peak()
    t0 = time.perf_counter()
    lat, lon, popups = peer_popups(reports)
    fmap = folium.Map(tiles=None)
    for y, x, popup in zip(lat.tolist(), lon.tolist(), popups):
        folium.CircleMarker([y, x], radius=4, popup=folium.Popup(popup, parse_html=False)).add_to(fmap)
    fmap.fit_bounds([[float(lat.min()), float(lon.min())], [float(lat.max()), float(lon.max())]])
    fmap.save(str(path))
    seconds = time.perf_counter() - t0
    peak = peak_mb()
    t0 = time.perf_counter()
    offline_path.write_text(inline_html(path.read_text(encoding="utf-8")), encoding="utf-8")
    return {"seconds": seconds, "peak_mb": peak, "before_mb": before, "bytes": path.stat().st_size,
            "offline_bytes": offline_path.stat().st_size, "inline_seconds": time.perf_counter() - t0}


def build_peer_geojson(n: int, path: Path, offline_path: Path) -> dict[str, Any]:
    """Generate the sample, then time folium's own best way to draw many points: one ``folium.GeoJson``
    layer of the reports, drawn as circle markers, with a ``GeoJsonPopup`` of the same fields, saved."""
    import folium
    import geopandas as gpd
    import pandas as pd

    from gridmap.maps.offline import inline_html
    from gridmap.model import REPORT_STATUSES, category_label

    reports = ledger_sample(n)["reports"]
    before = reset_peak()
    t0 = time.perf_counter()
    wgs = reports.to_crs(4326)
    labels = {key: category_label(key, "zh") for key in wgs["category"].dropna().unique()}
    frame = gpd.GeoDataFrame({
        "category": wgs["category"].map(labels).fillna(""),
        "date": pd.to_datetime(wgs["reported_at"], utc=True).dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d"),
        "status": wgs["status"].map(lambda s: REPORT_STATUSES.get(s, s)).fillna(""),
        "grid": wgs["grid_code"].fillna(""),
        "description": wgs["description"].fillna(""),
    }, geometry=wgs.geometry.values, crs=4326)
    fmap = folium.Map(tiles=None)
    folium.GeoJson(frame, marker=folium.CircleMarker(radius=4),
                   popup=folium.GeoJsonPopup(fields=["category", "date", "status", "grid", "description"],
                                             aliases=["类别", "上报日期", "状态", "网格", "描述"])).add_to(fmap)
    bounds = frame.total_bounds
    fmap.fit_bounds([[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]])
    fmap.save(str(path))
    seconds = time.perf_counter() - t0
    peak = peak_mb()
    t0 = time.perf_counter()
    offline_path.write_text(inline_html(path.read_text(encoding="utf-8")), encoding="utf-8")
    return {"seconds": seconds, "peak_mb": peak, "before_mb": before, "bytes": path.stat().st_size,
            "offline_bytes": offline_path.stat().st_size, "inline_seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------------------- browser


def browser_missing() -> str | None:
    """Why the browser part cannot run, or None."""
    import importlib.util

    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is absent (pip install playwright)"
    return None


def render(path: Path, condition: str, arg: Any, timeout_s: float) -> dict[str, Any]:
    """Open `path` in headless Chromium with every other request refused; seconds until `condition` holds."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    uri = path.resolve().as_uri()
    errors: list[str] = []
    refused: list[str] = []
    out: dict[str, Any] = {"seconds": None, "errors": errors, "refused": refused}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)

            def refuse(route: Any) -> None:
                if route.request.url == uri:
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            page.route("**/*", refuse)
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            t0 = time.perf_counter()
            try:
                page.goto(uri, wait_until="commit", timeout=timeout_s * 1000)
                left = max(0.1, timeout_s - (time.perf_counter() - t0))
                page.wait_for_function(condition, arg=arg, timeout=left * 1000)
                seconds = time.perf_counter() - t0
                if seconds > timeout_s:
                    return out
                out["seconds"] = seconds
            except (PlaywrightTimeout, PlaywrightError) as exc:
                if not isinstance(exc, PlaywrightTimeout) and "Timeout" not in str(exc):
                    out["failure"] = str(exc).splitlines()[0]
                return out
            try:
                out["heap_mb"] = page.evaluate("() => performance.memory.usedJSHeapSize") / MB
            except (PlaywrightError, TypeError):
                out["heap_mb"] = None
        finally:
            browser.close()
    return out


def keep_pages(paths: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for p in paths:
        if p.exists():
            shutil.copy2(p, folder / p.name)


# ---------------------------------------------------------------------------------------------------- popups

#: Every point's popup as the page builds it on a tap (``popupContent``), read back as (id, description) rows.
_ALL_POPUPS = """async () => {
    const layer = Object.values(window.gridmapReport.map._layers)
        .find(l => l instanceof window.GridmapPoints && l._data.role === 'reports');
    const rows = [];
    for (let i = 0; i < layer._data.n; i++) {
        const box = layer.popupContent([i]);
        const row = {};
        for (const div of box.querySelectorAll('.gm-popup-item > div')) {
            const label = div.querySelector('b').textContent;
            row[label] = div.textContent.slice(label.length);
        }
        rows.push([row['编号: '] ?? null, row['描述: '] ?? null]);
    }
    return {rows: rows};
}"""
#: When the report layer's texts were ready, ms since the navigation started.
_TEXTS_READY = """async () => {
    const layer = Object.values(window.gridmapReport.map._layers)
        .find(l => l instanceof window.GridmapPoints && l._data.role === 'reports');
    if (!layer.decoded) { return null; }
    await layer.decoded;
    return layer.readyAt;
}"""
#: A real tap on the first report: the popup the page opens (after its texts are inflated).
_TAP = """() => {
    const map = window.gridmapReport.map;
    const layer = Object.values(map._layers)
        .find(l => l instanceof window.GridmapPoints && l._data.role === 'reports');
    const at = layer.nearestLatLng(0);
    map.setView(at, 19, {animate: false});
    map.fire('click', {latlng: at, containerPoint: map.latLngToContainerPoint(at)});
    return layer.valueOf(1, 0);
}"""
NO_DECOMPRESSION_STREAM = "delete window.DecompressionStream;"


def check_popups(path: Path, expected: dict[str, Any], timeout_s: float, *, native: bool = True) -> dict[str, Any]:
    """Open our page in headless Chromium (every other request refused), with or without DecompressionStream,
    and compare every report's popup description with the source (`expected`: report id -> description)."""
    from playwright.sync_api import sync_playwright

    uri = path.resolve().as_uri()
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.route("**/*", lambda route: route.continue_() if route.request.url == uri else route.abort())
            if not native:
                page.add_init_script(NO_DECOMPRESSION_STREAM)
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            t0 = time.perf_counter()
            page.goto(uri, wait_until="commit", timeout=timeout_s * 1000)
            page.wait_for_function(OURS_DRAWN, timeout=timeout_s * 1000)
            drawn = time.perf_counter() - t0
            native_there = page.evaluate("() => typeof window.DecompressionStream === 'function'")
            ready_ms = page.evaluate(_TEXTS_READY)
            texts_at = None if ready_ms is None else ready_ms / 1000
            tapped_id = page.evaluate(_TAP)
            page.wait_for_selector(".leaflet-popup-content .gm-popup", timeout=timeout_s * 1000)
            tapped = page.inner_text(".leaflet-popup-content")
            got = page.evaluate(_ALL_POPUPS)
        finally:
            browser.close()
    wrong = [(i, d) for i, d in got["rows"] if i not in expected or d != _shown(expected[i])]
    return {"drawn": drawn, "texts_at": texts_at, "checked": len(got["rows"]), "wrong": wrong,
            "native": native_there, "errors": errors,
            "tap_ok": _shown(expected.get(tapped_id)) is None or f"描述: {expected[tapped_id]}" in tapped}


def _shown(description: Any) -> str | None:
    """What a popup shows for a description: the text, or no row at all when it is missing or empty."""
    return description if isinstance(description, str) and description else None
