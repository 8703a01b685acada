"""``gridmap demo``: build the illustrative sample and everything gridmap makes from it.

It runs offline. As capabilities land, the demo writes more (heatmap, leaders'
report); today it writes the workspace, an import of a deliberately messy phone
export with its quarantine, the grid check, a map of the grids, the sweep
coverage of the sample week (CSV, dead-corner task list, web map and PNG) with its
street coverage (CSV per street, dead stretches as GeoJSON), the route that clears
the dead corners of the grid with the most stops that week (GPX, offline map, CSV
checklist), the heat map of recurring problems over the sample year (web map and
PNG), the leaders' page, and the week's scoreboard (by community, street and area)
with a spot-check list.
"""

from __future__ import annotations

import json
import logging
from os import PathLike
from pathlib import Path
from typing import Any

from gridmap.analysis.coverage import CoverageResult, sweep_coverage
from gridmap.analysis.density import kde
from gridmap.analysis.recurrence import recurrences, recurring_sites
from gridmap.analysis.route import clear_route, grid_start, route_stops
from gridmap.analysis.selection import period_months
from gridmap.jobs.spotcheck import spot_check
from gridmap.jobs.supervision import scoreboard, weekly_figures, write_scoreboard
from gridmap.analysis.validate import validate_grids
from gridmap.export.spreadsheet import write_csv
from gridmap.io.importer import import_file
from gridmap.maps.assets import AssetsMissingError
from gridmap.maps.coverage import coverage_map
from gridmap.maps.density import heatmap_map, labels_for
from gridmap.maps.grids import grids_map
from gridmap.maps.route import route_map
from gridmap.maps.static import coverage_png
from gridmap.maps.static_density import heatmap_png
from gridmap.pages.common import save_page, shareable, shareable_coverage
from gridmap.pages.levels import coverage_levels
from gridmap.pages.report import export_html
from gridmap.pages.scoreboard import scoreboard_html
from gridmap.storage import WorkspaceStore, init_workspace

__all__ = ["busiest_grid", "run_demo", "write_messy_reports_csv"]

logger = logging.getLogger(__name__)

#: A phone export with the faults BAD-INPUTS.md lists: (row, what is wrong).
_MESSY_ROWS: tuple[tuple[str, str], ...] = (
    ("D-001,2025-03-01 08:05,垃圾乱倒,北大街路口垃圾堆放,109.7340,38.2920", "good, zh label"),
    ("D-002,2025/3/1 9:30,garbage_dumping,\"文庙巷口, 建筑垃圾\",109.7355,38.2881", "good, key, slash date"),
    ("D-003,2025-03-01T10:00:00+08:00,柴草垛,院内柴草垛,109.7312,38.2903", "good, ISO with zone"),
    ("D-001,2025-03-01 08:05,垃圾乱倒,北大街路口垃圾堆放,109.7340,38.2920", "duplicate of D-001"),
    ("D-004,2025-03-02 08:00,污水乱泼,纬度经度写反了,38.2910,109.7330", "lat/lon swapped"),
    ("D-005,2025-03-02 09:00,乱堆乱放,坐标为空,,", "missing coordinates"),
    ("D-006,2025-03-02 10:00,占道经营,坐标不是数字,东经109度,38.29", "unparseable coordinates"),
    ("D-007,2099-01-01 08:00,废旧车辆,时间在未来,109.7330,38.2890", "future time"),
    ("D-008,昨天上午,废旧车辆,时间无法解析,109.7331,38.2891", "unparseable time"),
    ("D-009,2025-03-03 08:00,小广告,未知类别,109.7332,38.2892", "unknown category"),
    ("D-010,2025-03-03 09:00,垃圾乱倒,在北京,116.40,39.90", "far outside the subdistrict"),
    ("D-011,2025-03-03 10:00,垃圾乱倒,在东京,139.69,35.69", "outside China"),
    ("D-012,2025-03-03 11:00,卫生死角,{{ 7*7 }} <b>模板注入</b>,109.7325,38.2885", "hostile text, kept verbatim"),
)


def write_messy_reports_csv(path: str | PathLike[str]) -> Path:
    """Write a small CSV of phone reports (WGS84) with one of each common fault.

    Returns
    -------
    pathlib.Path
        The file written (UTF-8 with BOM, as Excel on Windows writes it).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_messy_reports_csv(pathlib.Path(tempfile.mkdtemp()) / "messy.csv")
    >>> len(p.read_text(encoding="utf-8-sig").splitlines())
    14
    """
    out = Path(path)
    lines = ["report_id,上报时间,问题类型,描述,经度,纬度"] + [row for row, _ in _MESSY_ROWS]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return out


def _save_shared(fmap: Any, path: Path) -> Path:
    """Write a page by the sharing rules (redacted); offline when the asset cache is filled, else loading Leaflet
    online, with a warning naming the command that fills the cache."""
    try:
        return save_page(fmap, path)
    except AssetsMissingError:
        logger.warning("the asset cache is empty, so %s loads Leaflet from the CDNs; run `gridmap assets fetch "
                       "--from npm` (or `gridmap assets fetch`) for a page that opens offline", path.name)
        return save_page(fmap, path, offline=False)


def _write_coverage(ws: WorkspaceStore, folder: Path) -> list[Path]:
    """The sweep coverage of the sample's week of GPS fixes: CSV, dead corners, map, PNG; per street (CSV, dead
    stretches); the route that clears the grid with the most stops (GPX, map, checklist)."""
    layers = {name: ws.read_layer(name) for name in ("grids", "tracks", "targets", "demolition_zones", "wall",
                                                     "streets", "areas")}
    result = sweep_coverage(layers["grids"], layers["tracks"], targets=layers["targets"], **coverage_levels(layers))
    extra = {"demolition_zones": layers["demolition_zones"], "wall": layers["wall"]}
    paths = [folder / "coverage.csv", folder / "dead-corners.geojson", folder / "coverage.html",
             folder / "coverage.png", folder / "street-coverage.csv", folder / "dead-stretches.geojson"]
    result.to_csv(paths[0])
    result.dead_corners_geojson(paths[1])
    shown = {key: shareable(value) for key, value in extra.items()}
    _save_shared(coverage_map(shareable_coverage(result), illustrative=True, **shown), paths[2])
    coverage_png(result, paths[3], illustrative=True, **extra)
    result.streets_to_csv(paths[4])
    result.dead_stretches_geojson(paths[5])
    return paths + _write_route(result, layers, folder)


def busiest_grid(coverage: CoverageResult) -> str | None:
    """The grid with the most route stops (dead corners and unvisited must-visit places), the first of a tie in
    the grids' order; None when no grid has a stop.

    Examples
    --------
    >>> from gridmap.sample import sample_boundaries, sample_tracks
    >>> b = sample_boundaries()
    >>> cov = sweep_coverage(b["grids"], sample_tracks(b, n_fixes=2000, days=1), targets=b["targets"])
    >>> code = busiest_grid(cov)
    >>> most = max(len(route_stops(cov, c)) for c in cov.grids["grid_code"])
    >>> len(route_stops(cov, code)) == most
    True
    """
    counts = {str(code): len(route_stops(coverage, str(code))) for code in coverage.grids["grid_code"]}
    best = max(counts, key=lambda code: counts[code], default=None)
    return best if best is not None and counts[best] > 0 else None


def _write_route(coverage: CoverageResult, layers: dict[str, Any], folder: Path) -> list[Path]:
    """The route that clears the grid with the most stops of the week: GPX, offline map, CSV checklist."""
    code = busiest_grid(coverage)
    if code is None or len(layers["streets"]) == 0:
        logger.info("no grid has a dead corner or an unvisited must-visit place, or there is no street: no route")
        return []
    grid = layers["grids"][layers["grids"]["grid_code"].astype(str) == code]
    result = clear_route(layers["streets"], route_stops(coverage, code), start=grid_start(layers["streets"], grid))
    logger.info("route for grid %s: %d stops, %.0f m", code, len(result.stops), result.length_m)
    paths = [folder / "route.gpx", folder / "route.html", folder / "route.csv"]
    result.to_gpx(paths[0], name=f"gridmap route {code} (示意数据)")
    _save_shared(route_map(result, illustrative=True), paths[1])
    result.to_csv(paths[2])
    return paths


def _write_heatmap(ws: WorkspaceStore, folder: Path) -> list[Path]:
    """The heat map of recurring problems over the sample year: web map and PNG."""
    reports, fixes, grids = ws.read_layer("reports"), ws.read_layer("rectifications"), ws.read_layer("grids")
    sites, title = None, labels_for("zh")["report_heat_title"]
    if len(fixes):  # without rectifications no rebound can be found: map every report, no rebound label
        pairs = recurrences(reports, rectifications=fixes)
        sites, title = recurring_sites(reports, rectifications=fixes, grids=grids), labels_for("zh")["heat_title"]
    involved = set(pairs["report_id"]) | set(pairs["previous_report_id"]) if sites is not None else None
    density = kde(reports if involved is None else reports[reports["report_id"].isin(involved)])
    months = period_months(reports)
    paths = [folder / "heatmap.html", folder / "heatmap.png"]
    _save_shared(heatmap_map(density, sites=shareable(sites), grids=shareable(grids), months=months,
                             illustrative=True, title=title), paths[0])
    heatmap_png(density, paths[1], sites=sites, grids=grids, wall=ws.read_layer("wall"), months=months,
                illustrative=True, title=title)
    return paths


def _write_report(ws: WorkspaceStore, folder: Path) -> list[Path]:
    """The leaders' page for March 2025: offline when the asset cache is filled, else loading Leaflet online."""
    path = folder / "report.html"
    try:
        export_html(ws, path, start="2025-03-01", end="2025-04-01")
    except AssetsMissingError:
        logger.warning("the asset cache is empty, so report.html loads Leaflet from the CDNs; run "
                       "`gridmap assets fetch --from npm` (or `gridmap assets fetch`) for a page that opens offline")
        export_html(ws, path, start="2025-03-01", end="2025-04-01", offline=False)
    return [path]


def _write_supervision(ws: WorkspaceStore, folder: Path) -> list[Path]:
    """The sample week's scoreboard (CSV, XLSX, HTML page; by street and by area CSV) and a spot-check list (CSV,
    HTML)."""
    start, end = "2025-03-03", "2025-03-10"
    board = scoreboard(ws, start=start, end=end)
    paths = write_scoreboard(board, csv=folder / "scoreboard.csv", xlsx=folder / "scoreboard.xlsx",
                             weekly=weekly_figures(ws, end=end, weeks=8))
    for by in ("street", "area"):
        paths += write_scoreboard(scoreboard(ws, start=start, end=end, by=by), csv=folder / f"scoreboard-{by}.csv")
    check = spot_check(ws, n=12, seed=20250310, start=start, end=end)
    paths.append(check.to_csv(folder / "spotcheck.csv"))
    try:
        paths += [scoreboard_html(ws, folder / "scoreboard.html", start=start, end=end),
                  check.to_html(folder / "spotcheck.html")]
    except AssetsMissingError:
        logger.warning("the asset cache is empty, so scoreboard.html and spotcheck.html load Leaflet from the CDNs")
        paths += [scoreboard_html(ws, folder / "scoreboard.html", start=start, end=end, offline=False),
                  check.to_html(folder / "spotcheck.html", offline=False)]
    return paths


def run_demo(out: str | PathLike[str], *, seed: int = 0) -> list[Path]:
    """Build the sample workspace in `out` and write what gridmap makes from it.

    Parameters
    ----------
    out : path-like
        Output folder, created when missing.
    seed : int
        Seed of the sample generator.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    ws_path = folder / "gulou-sample.gpkg"
    written: list[Path] = [ws_path]
    with init_workspace(ws_path, sample=True, overwrite=True, seed=seed) as ws:
        messy = write_messy_reports_csv(folder / "messy-phone-reports.csv")
        summary = import_file(ws, "reports", messy, coords="wgs84")
        (folder / "import-summary.json").write_text(
            json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        write_csv(ws.quarantine(), folder / "quarantine.csv")
        check = validate_grids(workspace=ws)
        (folder / "grid-check.json").write_text(
            json.dumps(check.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _save_shared(grids_map(shareable(ws.read_layer("grids")), problems=shareable(check.problems),
                               illustrative=True), folder / "grids.html")
        coverage_files = _write_coverage(ws, folder)
        heatmap_files = _write_heatmap(ws, folder)
        report_files = _write_report(ws, folder)
        supervision_files = _write_supervision(ws, folder)
    written += [messy, folder / "import-summary.json", folder / "quarantine.csv",
                folder / "grid-check.json", folder / "grids.html", *coverage_files, *heatmap_files, *report_files,
                *supervision_files]
    logger.info("demo written to %s", folder)
    return written
