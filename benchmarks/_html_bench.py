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

    layers = gridmap.sample_layers(n_reports=n, track_days=7)
    distinct = int(layers["reports"]["description"].nunique())
    before = reset_peak()
    t0 = time.perf_counter()
    gridmap.export_html(layers, path, offline=True, illustrative=True)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mb": peak_mb(), "before_mb": before, "bytes": path.stat().st_size,
            "distinct_descriptions": distinct, **read_points(path)}


def _unpack(text: str, kind: str) -> np.ndarray:
    raw = base64.b64decode(text.translate(str.maketrans("-_.~!*()$@", "0123456789")))
    return np.frombuffer(raw, dtype={"u8": "<u1", "u16": "<u2", "u32": "<u4"}[kind])


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
        for code, value in enumerate(field.get("values") or []):
            if value in left_out:
                out["omitted"] += int((_unpack(field["codes"], field["type"]) == code).sum())
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

    import gridmap
    from gridmap.maps.offline import inline_html

    layers = gridmap.sample_layers(n_reports=n, track_days=7)
    reports = layers["reports"]
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

    import gridmap
    from gridmap.maps.offline import inline_html
    from gridmap.model import REPORT_STATUSES, category_label

    layers = gridmap.sample_layers(n_reports=n, track_days=7)
    reports = layers["reports"]
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
