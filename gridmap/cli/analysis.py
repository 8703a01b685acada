"""Commands that analyse a workspace: ``validate``, ``coverage``, ``heatmap``, ``hotspots``.

Each reads the layers it needs, calls the library, prints a summary and writes the files asked for.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gridmap.errors import GridmapError
from gridmap.cli._common import (
    _add_archive_options,
    _add_workspace,
    _add_page_options,
    _add_period_and_lang,
    _check_archive_options,
    _check_page_options,
    _is_illustrative,
    _open_workspace,
    _add_subdistrict,
    _read_layer,
    _out,
    _reports_in,
    _require_positive_metres,
    _save_page,
    _scheduler_for,
)
from gridmap.formatting import format_percent, is_missing, no_data

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.analysis.coverage import CoverageResult
    from gridmap.storage import WorkspaceStore as Workspace


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to `sub`, the ``gridmap`` command's subparsers."""
    p = sub.add_parser("validate", help="check the grids: gaps, overlaps, slivers, invalid, no cadre")
    _add_workspace(p)
    p.add_argument("--json", action="store_true",
                   help='print {"ok": ..., "problems": [...], "checks_run": [...], "checks_skipped": [...]}')
    p.add_argument("--territory", choices=("layers", "union"), default="layers",
                   help="where to look for gaps: inside the subdistrict or communities layer (default), or, when "
                        "there is neither, inside the outline of the grids' union (union; a warning says so)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("coverage", help="sweep coverage of every grid from the inspectors' GPS fixes; dead corners")
    _add_workspace(p)
    _add_period_and_lang(p)
    _add_subdistrict(p)
    p.add_argument("--radius", type=float, default=30.0, help="metres around the walked path counted as reached")
    p.add_argument("--csv", type=Path, help="one row per grid")
    p.add_argument("--html", type=Path, help="the coverage map (HTML)")
    p.add_argument("--png", type=Path, help="the coverage map for briefings (PNG)")
    _add_page_options(p)
    p.add_argument("--dead-corners", type=Path, metavar="FILE.geojson", help="the dead-corner task list as GeoJSON")
    p.add_argument("--no-streets", action="store_true",
                   help="no street coverage (by default the workspace's streets layer is measured)")
    p.add_argument("--min-dead-stretch", type=float, default=20.0, metavar="M",
                   help="shortest unreached piece of a street reported as a dead stretch, metres (default 20)")
    p.add_argument("--streets-csv", type=Path, metavar="FILE", help="one row per street (street coverage)")
    p.add_argument("--dead-stretches", type=Path, metavar="FILE.geojson",
                   help="the dead stretches of the streets as GeoJSON lines")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_archive_options(p, "--tracks", "tracks")
    p.set_defaults(func=_cmd_coverage)

    p = sub.add_parser("heatmap", help="density of reports in true units (reports per km² per month)")
    _add_workspace(p)
    _add_period_and_lang(p)
    _add_subdistrict(p)
    p.add_argument("--category", nargs="+", help="only these categories (key or zh-Hans label)")
    p.add_argument("--recurring-only", action="store_true", help="only reports that are part of a recurrence")
    p.add_argument("--bandwidth", type=float, help="kernel radius (quartic) or sigma (gaussian), metres")
    p.add_argument("--cell", type=float, help="cell size, metres")
    p.add_argument("--kernel", choices=("quartic", "gaussian"), default="quartic")
    p.add_argument("--tif", type=Path, help="the density as a GeoTIFF")
    p.add_argument("--html", type=Path, help="the heat map (HTML)")
    p.add_argument("--png", type=Path, help="the heat map for briefings (PNG)")
    _add_page_options(p)
    p.set_defaults(func=_cmd_heatmap)

    p = sub.add_parser("hotspots", help="Getis-Ord Gi* hot spots and emerging hot spots over time")
    _add_workspace(p)
    _add_period_and_lang(p)
    _add_subdistrict(p)
    p.add_argument("--cells", choices=("grids", "fishnet", "hex"), default="grids", help="the cells to count in")
    p.add_argument("--size", type=float, default=100.0, help="fishnet or hexagon size, metres (default 100)")
    p.add_argument("--interval", choices=("week", "month"), default="month", help="time step of the emerging analysis")
    p.add_argument("--csv", type=Path, help="one row per cell")
    p.add_argument("--html", type=Path, help="the hot-spot map (HTML)")
    _add_page_options(p)
    _add_archive_options(p, "--reports", "reports")
    p.set_defaults(func=_cmd_hotspots)


# validate


def _cmd_validate(args: argparse.Namespace) -> int:
    from gridmap.analysis.validate import validate_grids  # deferred: GeoPandas

    territory = None if args.territory == "layers" else args.territory
    with _open_workspace(args.workspace) as ws:
        check = validate_grids(workspace=ws, territory=territory)
    if args.json:
        _out(json.dumps(check.to_dict(), ensure_ascii=False))
    else:
        _print_validation(check)
    return 0 if check.ok else 1


def _print_validation(check: Any) -> None:
    """The checks run and skipped, then one line per problem: its kind, grids, area, place and detail."""
    _out(f"checks run: {', '.join(check.checks_run)}"
         + (f" (gaps looked for inside {check.territory})" if check.territory else ""))
    for skipped in check.checks_skipped:
        _out(f"check skipped: {skipped['check']}: {skipped['reason']}")
    if check.ok:
        _out("ok: no problem found by the checks run" if check.checks_skipped
             else "ok: the grids tile the subdistrict and every grid has a cadre")
    for row in check.to_dict()["problems"]:
        area = "" if row["area_m2"] is None else f" {row['area_m2']:.1f} m²"
        where = "" if row["lon"] is None else f" at {row['lon']:.6f},{row['lat']:.6f}"
        _out(f"{row['kind']}: {', '.join(row['grids']) or '-'}{area}{where} — {row['detail']}")


# coverage


def _cmd_coverage(args: argparse.Namespace) -> int:
    from gridmap.analysis.coverage import reach_m, sweep_coverage  # deferred: GeoPandas, SciPy

    _require_positive_metres("--radius", args.radius)
    _require_positive_metres("--min-dead-stretch", args.min_dead_stretch)
    _refuse_street_files_without_streets(args)
    archive = _check_archive_options(args, "--tracks", "tracks")
    _check_page_options(args)
    names = ("grids", "targets", "demolition_zones", "wall", "areas") + (() if args.no_streets else ("streets",))
    with _open_workspace(args.workspace) as ws:
        layers = {name: _read_layer(ws, args, name) for name in names}
        if archive is None:
            # only the period's fixes are read (the time index); sweep_coverage keeps no other fix
            layers["tracks"] = _read_layer(ws, args, "tracks", period="period", near_m=reach_m(args.radius),
                                           or_first=False)
        illustrative = _is_illustrative(ws)
    if len(layers["grids"]) == 0:
        raise GridmapError(f"{args.workspace} has no grids: import them first (gridmap import WORKSPACE grids FILE)")
    targets = layers["targets"] if len(layers["targets"]) else None
    streets = layers["streets"] if len(layers.get("streets", ())) else None
    if streets is None and (args.streets_csv or args.dead_stretches):
        raise GridmapError(f"{args.workspace} has no streets: import them first (gridmap import WORKSPACE streets"
                           " FILE), or leave out --streets-csv and --dead-stretches")
    tracks = layers["tracks"] if archive is None else archive  # the archive: its window's days, read by Dask
    with _scheduler_for(args, archive):
        result = sweep_coverage(layers["grids"], tracks, radius_m=args.radius, targets=targets,
                                start=args.date_from, end=args.date_to, progress=not args.quiet, streets=streets,
                                areas=layers["areas"] if len(layers["areas"]) else None,
                                min_dead_stretch_m=args.min_dead_stretch)
    _print_coverage(result, lang=args.lang, streets_asked=not args.no_streets, redact=not args.no_redact)
    _write_coverage_outputs(args, result, layers, illustrative=illustrative)
    return 0


def _refuse_street_files_without_streets(args: argparse.Namespace) -> None:
    if args.no_streets and (args.streets_csv or args.dead_stretches):
        raise GridmapError("--streets-csv and --dead-stretches need street coverage: leave out --no-streets")


def _print_streets_and_areas(result: CoverageResult, *, lang: str, asked: bool, redact: bool) -> None:
    """The street line (swept metres of the streets' length, dead stretches) and the area leaders' table.

    In the words of the command's other lines; `lang` chooses how a missing figure reads ("无数据" / "no data").
    """
    streets = result.streets
    if streets is None:
        if asked:
            _out("street coverage: the workspace has no streets (the streets layer is empty): no street figures")
    else:
        length = float(streets["length_m"].sum())
        covered = float(streets["covered_m"].sum(min_count=len(streets))) if len(streets) else float("nan")
        share = covered / length if length > 0 else float("nan")
        swept = no_data(lang) if is_missing(covered) else f"{covered:.0f}"
        count = 0 if result.dead_stretches is None else len(result.dead_stretches)
        dead = no_data(lang) if is_missing(covered) else str(count)
        _out(f"street coverage: {len(streets)} streets, swept {swept} of {length:.0f} m"
             f" ({format_percent(share, lang=lang)}); dead stretches: {dead}")
    if result.by_area is not None and len(result.by_area):
        _print_areas(result.by_area, lang=lang, redact=redact)


def _print_areas(table: Any, *, lang: str, redact: bool) -> None:
    from gridmap.export.privacy import mask_name  # deferred: pandas

    _out("areas (leaders):")
    for row in table.itertuples(index=False):
        name = row.name if isinstance(row.name, str) and row.name.strip() else ""
        leader = row.leader if isinstance(row.leader, str) and row.leader.strip() else "none"
        shown = mask_name(leader) if redact and isinstance(row.leader, str) else leader
        corners = no_data(lang) if is_missing(row.coverage_ratio) else str(row.dead_corners)
        _out(f"  {_grid_label(name, row.area_code)}  {shown}  {format_percent(row.coverage_ratio, lang=lang):>8}"
             f"  {row.grids} grids  dead corners {corners}")


def _grid_label(name: Any, code: Any) -> str:
    """A grid as people name it: its name and code, e.g. "北大街一网格 (610802001001001)"; the code alone without a name."""
    code_text = str(code)
    if isinstance(name, str) and name.strip() and name.strip() != code_text:
        return f"{name.strip()} ({code_text})"
    return code_text


def _print_coverage(result: CoverageResult, *, lang: str = "zh", streets_asked: bool = False,
                    redact: bool = True) -> None:
    from gridmap.analysis.coverage import overall_coverage  # deferred: GeoPandas, SciPy

    grids = result.grids
    stats = result.stats
    if result.message:
        _out(f"note: {result.message}")
    total = float(grids["area_m2"].sum())
    overall = overall_coverage(result)
    corners = no_data(lang) if is_missing(overall) else str(len(result.dead_corners))
    _out(f"coverage of {len(grids)} grids: {format_percent(overall, lang=lang)} of {total / 1e6:.3f} km²"
         f" (radius {stats['radius_m']:g} m; {stats['fixes_used']} of {stats['fixes_in']} fixes used,"
         f" {stats['outside_grids']} outside every grid); dead corners: {corners}")
    _print_streets_and_areas(result, lang=lang, asked=streets_asked, redact=redact)
    if is_missing(overall):
        return  # no grid's coverage is known: no ranking of the least covered
    worst = grids.sort_values(["coverage_ratio", "grid_code"]).head(5)
    names = worst["name"] if "name" in worst else worst["grid_code"]
    _out("least covered grids:")
    for name, row in zip(names, worst.itertuples(index=False)):
        _out(f"  {_grid_label(name, row.grid_code)}  {format_percent(row.coverage_ratio, lang=lang):>8}"
             f"  dead corners {row.dead_corners}")


def _write_coverage_outputs(args: argparse.Namespace, result: CoverageResult, layers: dict[str, Any], *,
                            illustrative: bool) -> None:
    """The files asked for: --csv, --dead-corners, --streets-csv, --dead-stretches, --html, --png."""
    extra: dict[str, Any] = {
        "demolition_zones": layers["demolition_zones"] if len(layers["demolition_zones"]) else None,
        "wall": layers["wall"] if len(layers["wall"]) else None,
    }
    if args.csv:
        result.to_csv(args.csv)
        _out(f"wrote {args.csv}")
    if args.dead_corners:
        result.dead_corners_geojson(args.dead_corners)
        _out(f"wrote {args.dead_corners}")
    if args.streets_csv and result.streets is not None:
        result.streets_to_csv(args.streets_csv)
        _out(f"wrote {args.streets_csv}")
    if args.dead_stretches and result.dead_stretches is not None:
        result.dead_stretches_geojson(args.dead_stretches)
        _out(f"wrote {args.dead_stretches}")
    if args.html:
        from gridmap.pages.common import shareable, shareable_coverage  # deferred: GeoPandas, SciPy, branca
        from gridmap.maps.coverage import coverage_map  # deferred: GeoPandas, SciPy, branca

        redact = not args.no_redact
        shown = {key: shareable(value, redact) for key, value in extra.items()}
        _save_page(args, coverage_map(shareable_coverage(result, redact), lang=args.lang, illustrative=illustrative,
                                      **shown))
    if args.png:
        from gridmap.maps.static import coverage_png  # deferred: GeoPandas, SciPy, matplotlib

        coverage_png(result, args.png, lang=args.lang, illustrative=illustrative, **extra)
        _out(f"wrote {args.png}")


# heatmap


class _Heat(NamedTuple):
    """What the heatmap command computed: the density of `reports`, the period's months, the recurring sites."""

    reports: Any
    density: Any
    months: float
    sites: Any  # None: no rectifications, so no rebound can be found (no data, not zero)


def _cmd_heatmap(args: argparse.Namespace) -> int:
    _require_positive_metres("--bandwidth", args.bandwidth)
    _require_positive_metres("--cell", args.cell)
    _check_page_options(args)
    with _open_workspace(args.workspace) as ws:
        reports = _reports_in(ws, args)
        # a report's rectifications come after it: those made since the period began
        layers = {"rectifications": _read_layer(ws, args, "rectifications", period="since"),
                  **{name: _read_layer(ws, args, name) for name in ("grids", "wall")}}
        illustrative = _is_illustrative(ws)
    if args.recurring_only:
        reports = _recurring_reports(reports, layers["rectifications"])
    if len(reports) == 0:
        raise GridmapError("no reports in the period and categories asked for: nothing to map")
    heat = _compute_heat(args, reports, layers)
    site_text = f"{len(heat.sites)} recurring sites" if heat.sites is not None else \
        "recurring sites: no data (no rectifications, so no rebound can be found)"
    peak = float(heat.density.values.max()) / heat.months
    _out(f"{len(reports)} reports over {heat.months:.1f} months; {args.kernel} kernel, bandwidth"
         f" {heat.density.bandwidth_m:.0f} m, cells of {heat.density.cell_m:.1f} m; peak {peak:.1f} reports per km²"
         f" per month; {site_text}")
    _write_heat_outputs(args, heat, layers, illustrative=illustrative)
    return 0


def _recurring_reports(reports: Any, fixes: Any) -> Any:
    """The reports that are part of a recurrence (--recurring-only); refused without rectifications."""
    from gridmap.analysis.recurrence import recurrences  # deferred: GeoPandas, SciPy

    if len(fixes) == 0:
        raise GridmapError("--recurring-only needs rectifications: the workspace has none, so no rebound can be "
                           "found (no data, not zero); import them (gridmap import WORKSPACE rectifications FILE) "
                           "or map every report without --recurring-only")
    pairs = recurrences(reports, rectifications=fixes)
    involved = set(pairs["report_id"]) | set(pairs["previous_report_id"])
    return reports[reports["report_id"].isin(involved)]


def _compute_heat(args: argparse.Namespace, reports: Any, layers: dict[str, Any]) -> _Heat:
    from gridmap.analysis.density import kde  # deferred: GeoPandas, SciPy
    from gridmap.analysis.recurrence import recurring_sites  # deferred: GeoPandas, SciPy
    from gridmap.analysis.selection import period_months  # deferred: pandas

    fixes = layers["rectifications"]
    density = kde(reports, bandwidth_m=args.bandwidth, cell_m=args.cell, kernel=args.kernel)
    months = period_months(reports, start=args.date_from, end=args.date_to)
    sites = recurring_sites(reports, rectifications=fixes, grids=layers["grids"]) if len(fixes) > 0 else None
    return _Heat(reports=reports, density=density, months=months, sites=sites)


def _heat_title(lang: str, *, recurring: bool) -> str:
    """The heat map's title: a rebound title only for the reports that are part of a rebound."""
    from gridmap.maps.density import labels_for  # deferred: GeoPandas, branca

    return labels_for(lang)["heat_title" if recurring else "report_heat_title"]


def _write_heat_outputs(args: argparse.Namespace, heat: _Heat, layers: dict[str, Any], *,
                        illustrative: bool) -> None:
    """The files asked for: --tif, --html, --png."""
    sites = heat.sites if heat.sites is not None and len(heat.sites) else None
    grids, wall = layers["grids"], layers["wall"]
    title = _heat_title(args.lang, recurring=args.recurring_only)
    if args.tif:
        heat.density.to_geotiff(args.tif)
        _out(f"wrote {args.tif}")
    if args.html:
        from gridmap.pages.common import shareable  # deferred: GeoPandas, SciPy, branca
        from gridmap.maps.density import heatmap_map  # deferred: GeoPandas, branca

        redact = not args.no_redact
        shown_reports = heat.reports[[heat.reports.geometry.name]]  # the browsing layer needs points only
        _save_page(args, heatmap_map(heat.density, sites=shareable(sites, redact), grids=shareable(grids, redact),
                                     reports=shown_reports, months=heat.months, lang=args.lang,
                                     illustrative=illustrative, title=title))
    if args.png:
        from gridmap.maps.static_density import heatmap_png  # deferred: GeoPandas, SciPy, matplotlib

        heatmap_png(heat.density, args.png, sites=sites, grids=grids, wall=wall if len(wall) else None,
                    months=heat.months, lang=args.lang, illustrative=illustrative, title=title)
        _out(f"wrote {args.png}")


# hotspots


def _hotspot_cells(ws: Workspace, args: argparse.Namespace, kind: str, size: float) -> tuple[Any, str]:
    """The cells to count in (--cells) and the name of their id column."""
    from gridmap.analysis.hotspot import fishnet, hexagons  # deferred: GeoPandas, SciPy

    if kind == "grids":
        return _read_layer(ws, args, "grids"), "grid_code"
    area = _read_layer(ws, args, "subdistrict")
    if len(area) == 0:
        area = _read_layer(ws, args, "grids")
    if len(area) == 0:
        raise GridmapError("the workspace has neither a subdistrict nor grids to lay cells over")
    return (fishnet(area, size) if kind == "fishnet" else hexagons(area, size)), "cell_id"


def _cmd_hotspots(args: argparse.Namespace) -> int:
    _require_positive_metres("--size", args.size)
    archive = _check_archive_options(args, "--reports", "reports")
    _check_page_options(args)
    with _open_workspace(args.workspace) as ws:
        reports = _reports_in(ws, args) if archive is None else None
        cells, id_column = _hotspot_cells(ws, args, args.cells, args.size)
        illustrative = _is_illustrative(ws)
    with _scheduler_for(args, archive):
        if archive is not None:
            reports = _archived_reports(archive, args)
        hot, emerging, count = _compute_hotspots(args, reports, cells)
    bins = hot["gi_bin"].value_counts().to_dict()
    _out(f"{count} reports in {len(cells)} cells: hot spots (99/95/90 %) {bins.get(3, 0)}/{bins.get(2, 0)}/"
         f"{bins.get(1, 0)}, cold spots {bins.get(-3, 0)}/{bins.get(-2, 0)}/{bins.get(-1, 0)}")
    if emerging is not None:
        for category, number in emerging["category"].value_counts().items():
            _out(f"  {category}: {number}")
    _write_hotspot_outputs(args, hot, emerging, id_column, illustrative=illustrative)
    return 0


def _archived_reports(archive: Path, args: argparse.Namespace) -> Any:
    """The reports of [--from, --to) of the archive, as a dask-geopandas frame (read partition by partition)."""
    from gridmap.archive import read_archive  # deferred: GeoPandas; Dask inside

    return read_archive(archive, layer="reports", start=args.date_from, end=args.date_to)


def _compute_hotspots(args: argparse.Namespace, reports: Any, cells: Any) -> tuple[Any, Any, int]:
    """Gi* of the cells, the emerging analysis (None when it cannot run: a note says why) and the reports' number."""
    from gridmap.analysis.hotspot import emerging_hotspots, hotspots  # deferred: GeoPandas, SciPy

    hot = hotspots(reports, cells)
    try:
        emerging = emerging_hotspots(reports, cells, interval=args.interval)
    except GridmapError as exc:
        _out(f"note: no emerging hot-spot analysis: {exc}")
        emerging = None
    return hot, emerging, int(len(reports))  # a Dask frame counts its rows partition by partition


def _write_hotspot_outputs(args: argparse.Namespace, hot: Any, emerging: Any, id_column: str, *,
                           illustrative: bool) -> None:
    """The files asked for: --csv, --html."""
    if args.csv:
        from gridmap.export.spreadsheet import write_csv  # deferred: pandas

        write_csv(_hotspot_table(hot, emerging, id_column), args.csv)
        _out(f"wrote {args.csv}")
    if args.html:
        from gridmap.pages.common import shareable  # deferred: GeoPandas, SciPy, branca
        from gridmap.maps.density import hotspot_map  # deferred: GeoPandas, branca

        redact = not args.no_redact
        _save_page(args, hotspot_map(shareable(hot, redact), emerging=shareable(emerging, redact), lang=args.lang,
                                     illustrative=illustrative))


def _hotspot_table(hot: Any, emerging: Any, id_column: str) -> Any:
    """One row per cell: its count and Gi* figures, and with the emerging analysis its category and trend."""
    columns = [id_column, "count", "gi_z", "gi_p", "significant", "gi_bin"]
    table = hot[columns].copy()
    if emerging is not None:
        for column in ("category", "trend_z", "trend_p"):
            table[column] = emerging[column].to_numpy()
    return table
