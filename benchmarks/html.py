"""Benchmark: the leaders' HTML page against a plain folium map with one marker and popup per report.

Both sides start from the same illustrative sample,
``gridmap.sample_layers(n_reports=N, track_days=7)``, for each N of ``--sizes``, whose descriptions are
replaced by N distinct ones of 20-60 characters written like a sanitation ledger's
(``_html_bench.ledger_descriptions``): [when: 今早巡查发现, 群众来电反映...] + the community of the
report's grid + the street nearest to it + a house number [+ building and unit] + one of 42 landmarks
(菜市场入口, 公厕旁...) + one of 3-8 problems of the report's category (装修垃圾倾倒, 商户占道经营...) + a
quantity in that category's units (约12立方米, 3辆...) + [how bad or since when: 蚊蝇滋生, 已持续6天...]
+ [what was done or asked: 已通知网格员处理, 限3日内整改...], drawn with ``numpy.random.default_rng(16)``
and drawn again when a text repeats or falls outside 20-60 characters (deterministic; about 45 characters,
130 bytes of UTF-8 on average, 13 MB for 100,000).

- **gridmap**: ``gridmap.export_html(layers, path, offline=True, illustrative=True)``:
  one self-contained file (Leaflet inlined from the asset cache, the reports
  compactly encoded and drawn on canvas tiles, popups built on tap). Timed from
  the layers to the written file, so it includes the analysis the page also
  shows (sweep coverage of a week of GPS fixes, dead corners, density, Gi* hot
  spots, recurring sites, the panel): in the peer's favour.
- **the peer**, folium as people write it: ``folium.Map(tiles=None)``, one
  ``folium.CircleMarker([lat, lon], radius=4, popup=folium.Popup(html,
  parse_html=False))`` per report (category, date, status, grid code and
  description, escaped with ``html.escape``), ``fit_bounds``, ``fmap.save()``.
  Timed from the layers to the saved file. Its saved page links Leaflet on the
  CDNs; an offline copy (``gridmap.maps.offline.inline_html``, same asset
  cache) is made for the browser, and both sizes are printed.
- **the GeoJson peer**, folium's own best way to draw many points: one
  ``folium.GeoJson`` layer of all reports with ``marker=folium.CircleMarker(radius=4)``
  and a ``folium.GeoJsonPopup`` of the same five fields; same timing, same
  offline copy. The size target is checked against the smaller of the two peers.

Measured, per N: build time; file size and bytes per report (ours against the
peer's saved CDN page, the smaller of the peer's two: target at least 20x
smaller); peak memory of the build, as the peak resident set size (VmHWM) of
a forked child that builds only that page, reset (``/proc/self/clear_refs``)
after the sample was generated, printed with its rise over the RSS before the
build; and the time until the map has rendered in headless Chromium (375x667,
every request but the file itself refused), from before ``page.goto`` to:
ours, a canvas tile of the report layer loaded and the SVG grid polygons
drawn; the peer, N ``path.leaflet-interactive`` elements. Console errors are
counted. Our page is also read back: points in its report layer, size of their
payload, and reports whose description did not fit its text budget.

Our page carries a field over 64 KiB deflated (``gridmap.maps.compact``), its descriptions within
``gridmap.pages.report.DESCRIPTION_BUDGET`` characters of deflated stream; the browser inflates them
with ``DecompressionStream`` or, without it, with the page's own decoder (``gridmap.maps.inflate``).
Every popup is then checked in Chromium, twice (with ``DecompressionStream``, and with it deleted by an
init script): the page builds each of the N popups as on a tap (``popupContent``), and its id and
description are compared with the source; one real tap is checked too, and the time until the texts are
ready (since navigation) printed.

Targets (issue 16), printed met/NOT met per N: the file <= 5 MB; rendered in <= 2 s; every popup's
description exact, both ways.

Needs a filled asset cache (``gridmap assets fetch --from npm``); the browser
part needs ``/usr/bin/chromium`` and playwright and is skipped without them.
Sizes are in MB of 10^6 bytes.

Run: ``python benchmarks/html.py [--sizes 20000,100000] [--browser-timeout 120] [--keep DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``html`` (which folium and Jinja2 import): put the standard
# library first, and this folder (for ``_html_bench``) last.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import tempfile  # noqa: E402
from typing import Any, Callable  # noqa: E402

TARGET_RATIO = 20.0
TARGET_MB = 5.0
TARGET_RENDER_S = 2.0

# (key, label) of each peer; the build function of each is ``_html_bench.BUILDERS[key]``.
PEERS = (("peer", "peer: folium CircleMarker + Popup per report, fmap.save()"),
         ("geojson", "peer: folium GeoJson layer + GeoJsonPopup, fmap.save()"))


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes takes comma-separated report counts, not {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--sizes needs at least one positive report count")
    return sizes


def _check_assets() -> None:
    """Exit with a clear message when the asset cache cannot make the pages offline."""
    import folium

    from gridmap.maps.assets import AssetsMissingError
    from gridmap.maps.offline import inline_html

    try:
        inline_html(folium.Map(tiles=None).get_root().render())
    except AssetsMissingError as exc:
        sys.exit(f"the offline asset cache is empty or incomplete: {exc}\n"
                 "fill it first: gridmap assets fetch --from npm")


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.2f} MB"


def _memory(res: dict[str, Any]) -> str:
    return (f"peak RSS {res['peak_mb']:.0f} MB ({res['before_mb']:.0f} MB before the build:"
            f" +{res['peak_mb'] - res['before_mb']:.0f} MB)")


def _failed(res: dict[str, Any]) -> str | None:
    if "timeout" in res:
        return f"did not finish within {res['timeout']:.0f} s (killed)"
    if "error" in res:
        return f"failed: {res['error']}"
    return None


def _build(n: int, folder: Path, build_timeout: float, say: Callable[[str], None]) -> dict[str, Any]:
    import _html_bench as hb

    ours_path = folder / f"ours_{n}.html"
    ours = hb.in_child(hb.build_ours, (n, ours_path), build_timeout)
    why = _failed(ours)
    if why:
        say(f"ours: gridmap.export_html(offline=True): {why}")
    else:
        say(f"ours: gridmap.export_html(offline=True): build {ours['seconds']:.2f} s {_memory(ours)};"
            f" {_mb(ours['bytes'])}, {ours['bytes'] / n:.1f} bytes/report")
        if ours.get("points") is not None:
            shortest, mean, longest = ours["chars"]
            say(f"      descriptions: {ours['distinct_descriptions']:,} distinct, {shortest}-{longest} characters"
                f" (mean {mean:.1f})")
            say(f"      report layer: {ours['points']:,} points, payload {_mb(ours['payload_bytes'])}"
                f" ({ours['payload_bytes'] / max(ours['points'], 1):.1f} bytes/report); descriptions left out of"
                f" the file: {ours['omitted']:,}")
            if ours.get("deflated"):
                say("      deflated fields (base64 characters): " + ", ".join(
                    f"{label} {size:,}" for label, size in ours["deflated"].items()))
            say(f"      the rest of the page (Leaflet, the other layers, the panel):"
                f" {_mb(ours['bytes'] - ours['payload_bytes'])}")
        say("      (the page also holds coverage, covered ground, dead corners, targets, density, hot spots,"
            " recurring sites and the panel; Leaflet inline)")
    row: dict[str, Any] = {"n": n, "ours": ours, "paths": {"ours": ours_path}}
    builders = {"peer": hb.build_peer, "geojson": hb.build_peer_geojson}
    for key, label in PEERS:
        peer_path, offline_path = folder / f"{key}_{n}.html", folder / f"{key}_offline_{n}.html"
        peer = hb.in_child(builders[key], (n, peer_path, offline_path), build_timeout)
        row[key] = peer
        row["paths"][key] = offline_path
        row["paths"][f"{key}_saved"] = peer_path
        why = _failed(peer)
        if why:
            say(f"{label}: {why}")
            continue
        say(f"{label}: build {peer['seconds']:.2f} s {_memory(peer)}; saved page (CDN links)"
            f" {_mb(peer['bytes'])}, {peer['bytes'] / n:.1f} bytes/report; offline copy (inline_html,"
            f" {peer['inline_seconds']:.2f} s) {_mb(peer['offline_bytes'])}, {peer['offline_bytes'] / n:.1f}"
            " bytes/report")
    return row


def _size_ratio(row: dict[str, Any], key: str | None = None) -> float | None:
    """Peer's saved page / ours, bytes; without `key`, against the smaller of the peers that finished."""
    ours = row["ours"]
    keys = [key] if key else [k for k, _ in PEERS]
    sizes = [row[k]["bytes"] for k in keys if not _failed(row[k])]
    if _failed(ours) or not sizes:
        return None
    return min(sizes) / ours["bytes"]


def _verdict(ratio: float | None) -> str:
    if ratio is None:
        return "n/a (a side did not finish)"
    return f"{ratio:.1f}x (target >= {TARGET_RATIO:g}x smaller: {'met' if ratio >= TARGET_RATIO else 'NOT met'})"


def _render(row: dict[str, Any], timeout_s: float, say: Callable[[str], None]) -> None:
    import _html_bench as hb

    n = row["n"]
    pages = [("ours", "ours", row["paths"]["ours"], hb.OURS_DRAWN, None)]
    pages += [(key, f"{key} (offline copy)", row["paths"][key], hb.PEER_DRAWN, n) for key, _ in PEERS]
    for key, label, path, condition, arg in pages:
        if _failed(row[key]) or not path.exists():
            row[f"{key}_render"] = None
            say(f"{label}: not rendered (no page)")
            continue
        res = hb.render(path, condition, arg, timeout_s)
        row[f"{key}_render"] = res
        errors = f"console errors: {len(res['errors'])}" + (f" (first: {res['errors'][0][:160]!r})"
                                                            if res["errors"] else "")
        refused = f", requests refused: {len(res['refused'])}" if res["refused"] else ""
        if res["seconds"] is None:
            what = res.get("failure") or f"did not render within {timeout_s:g} s"
            say(f"{label}: {what}; {errors}{refused}")
        else:
            heap = f" (JS heap {res['heap_mb']:.0f} MB)" if res.get("heap_mb") else ""
            say(f"{label}: rendered in {res['seconds']:.2f} s{heap}; {errors}{refused}")
    if row["ours_render"] is not None and "expected" in row["ours"]:
        _popups(row, timeout_s, say)
    ours = row.get("ours_render")
    for key, _ in PEERS:
        peer = row.get(f"{key}_render")
        if ours and peer and ours["seconds"] and peer["seconds"]:
            say(f"render time, {key} / ours: {peer['seconds'] / ours['seconds']:.1f}x")


def _popups(row: dict[str, Any], timeout_s: float, say: Callable[[str], None]) -> None:
    """Every popup of our page against the source, with the browser's DecompressionStream and without it."""
    import _html_bench as hb

    for native, how in ((True, "with DecompressionStream"), (False, "without DecompressionStream (own inflate)")):
        try:
            res = hb.check_popups(row["paths"]["ours"], row["ours"]["expected"], timeout_s, native=native)
        except Exception as exc:  # reported, and counted as not met
            res = {"failure": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
        row[f"popups_{native}"] = res
        if "failure" in res:
            say(f"ours, popups {how}: failed: {res['failure']}")
            continue
        wrong = res["wrong"]
        first = f" (first: {wrong[0]!r})" if wrong else ""
        say(f"ours, popups {how}: {res['checked']:,} checked, {len(wrong):,} wrong{first}; drawn in"
            f" {res['drawn']:.2f} s, texts ready {_seconds(res['texts_at'])} after navigation began; a real tap"
            f" {'showed its description' if res['tap_ok'] else 'showed a WRONG description'};"
            f" DecompressionStream present: {res['native']}; console errors: {len(res['errors'])}")


def _seconds(value: float | None) -> str:
    return "n/a (not deflated)" if value is None else f"{value:.2f} s"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _targets(row: dict[str, Any], say: Callable[[str], None]) -> None:
    """The issue's three targets for our page: size, render time, every popup exact (both ways)."""
    ours, rendered = row["ours"], row.get("ours_render")
    if _failed(ours):
        say("  targets: n/a (our page was not built)")
        return
    mb = ours["bytes"] / 1e6
    say(f"  target size <= {TARGET_MB:g} MB: {mb:.2f} MB, {mb / TARGET_MB:.2f} of the target,"
        f" build peak RSS {ours['peak_mb']:.0f} MB: {_met(mb <= TARGET_MB)}")
    if rendered is None or rendered.get("seconds") is None:
        say(f"  target render <= {TARGET_RENDER_S:g} s: not measured (no browser, or it did not render): NOT met")
    else:
        sec = rendered["seconds"]
        heap = f", JS heap {rendered['heap_mb']:.0f} MB" if rendered.get("heap_mb") else ""
        say(f"  target render <= {TARGET_RENDER_S:g} s (375x667): {sec:.2f} s, {sec / TARGET_RENDER_S:.2f} of the"
            f" target{heap}: {_met(sec <= TARGET_RENDER_S)}")
    for native, how in ((True, "with DecompressionStream"), (False, "without it")):
        res = row.get(f"popups_{native}")
        if res is None or "failure" in res:
            say(f"  target every popup exact, {how}: not checked: NOT met")
            continue
        exact = res["checked"] - len(res["wrong"])
        ok = not res["wrong"] and res["checked"] == ours["points"] and res["tap_ok"] and res["native"] is native
        say(f"  target every popup exact, {how}: {exact:,} of {ours['points']:,} exact"
            f" ({exact / max(ours['points'], 1):.4f}), texts ready {_seconds(res['texts_at'])}: {_met(ok)}")


def _render_text(res: dict[str, Any] | None, timeout_s: float, skipped: bool) -> str:
    if skipped:
        return "skipped"
    if res is None:
        return "no page"
    return f"{res['seconds']:.2f} s" if res["seconds"] is not None else f"> {timeout_s:g} s (did not render)"


def _side(res: dict[str, Any], n: int) -> str:
    """Bytes per report, build time and peak memory of one side, or why it has none."""
    why = _failed(res)
    if why:
        return why
    return f"{res['bytes'] / n:.1f} bytes/report, build {res['seconds']:.2f} s, {_memory(res)}"


def _summary(rows: list[dict[str, Any]], timeout_s: float, skipped: bool, say: Callable[[str], None]) -> None:
    say("== summary")
    for row in rows:
        n, ours = row["n"], row["ours"]
        r_ours = row.get("ours_render")
        say(f"N = {n:,} reports")
        say(f"  ours: {_side(ours, n)}; render {_render_text(r_ours, timeout_s, skipped)}")
        for key, label in PEERS:
            peer, r_peer = row[key], row.get(f"{key}_render")
            build = "" if _failed(ours) or _failed(peer) else f"; build ratio {peer['seconds'] / ours['seconds']:.1f}x"
            render = ""
            if r_ours and r_peer and r_ours["seconds"] and r_peer["seconds"]:
                render = f"; render ratio {r_peer['seconds'] / r_ours['seconds']:.1f}x"
            say(f"  {label.removeprefix('peer: ')}: {_side(peer, n)}; render"
                f" {_render_text(r_peer, timeout_s, skipped)}{build}{render}")
            say(f"    size, peer's saved page / ours: {_verdict(_size_ratio(row, key))}")
        say(f"  size against the smaller peer: {_verdict(_size_ratio(row))}")
        _targets(row, say)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=[20_000, 100_000],
                        help="comma-separated report counts (default 20000,100000)")
    parser.add_argument("--browser-timeout", type=float, default=120.0,
                        help="seconds to wait for a page to render in Chromium (default 120)")
    parser.add_argument("--build-timeout", type=float, default=300.0,
                        help="seconds a build child may take (sample generation included) before it is"
                             " killed (default 300)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="copy the pages into DIR (default: they are deleted)")
    args = parser.parse_args()

    def say(line: str) -> None:
        print(line, flush=True)

    _check_assets()
    import _html_bench as hb

    missing = hb.browser_missing()
    if missing:
        say(f"browser part skipped: {missing}")
    rows = []
    for n in args.sizes:
        say(f"== {n:,} reports: gridmap.sample_layers(n_reports={n}, track_days=7), {n:,} distinct ledger-like"
            " descriptions")
        with tempfile.TemporaryDirectory(prefix="gridmap-html-bench-") as tmp:
            row = _build(n, Path(tmp), args.build_timeout, say)
            row["ours_render"] = None
            say(f"bytes per report, peer's saved page / ours: {_verdict(_size_ratio(row))}")
            if not missing:
                say("headless Chromium 375x667, every request but the file itself refused:")
                _render(row, args.browser_timeout, say)
            if args.keep is not None:
                hb.keep_pages(list(row["paths"].values()), args.keep)
                say(f"pages kept in {args.keep}")
        rows.append(row)
    _summary(rows, args.browser_timeout, missing is not None, say)


if __name__ == "__main__":
    main()
