"""The ``gridmap`` command (also ``python -m gridmap``).

The command only parses arguments and calls the library. A user's mistake
(a missing file, a CSV without a declared coordinate system, a workspace of a
newer schema) prints one line starting with ``gridmap: error:`` and exits with
status 2, never a traceback. The line names the fix as a command-line option
(``--set category=VALUE``, ``--crs EPSG:4546``, ``--source-layer NAME``), also when
the library raised it: the API's docstrings map each option to its keyword.

With ``--json`` (``import``, ``info``, ``validate``) every failure, a bad command
line included, also prints exactly one JSON object on stdout,
``{"error": "<the same message>", "exit": 2}``, and nothing else; the message
goes to stderr as without ``--json``.

Exit statuses
-------------
0  the work was done: an import with quarantined rows included, and an import
   of an empty source (a CSV of a header line, an empty FeatureCollection): it
   reads 0 rows and says so (``note:``; ``"warnings"`` with ``--json``)
1  ``import --strict`` quarantined something; ``validate`` found problems
2  the input could not be used at all, the message says why and what to do;
   also an import that read nothing because of the source's kind (a KML of
   NetworkLinks or overlays only, a folder without photos, a GPX of routes)
130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence

from gridmap._errors import GridmapError

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.coverage import CoverageResult

__all__ = ["main", "build_parser"]

logger = logging.getLogger("gridmap")

LAYER_CHOICES = (
    "subdistrict", "communities", "grids", "areas", "streets", "wall",
    "demolition_zones", "targets", "reports", "rectifications", "tracks", "spotchecks",
)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


class _UsageError(SystemExit):
    """A bad command line (unknown option, bad choice): exit status 2, the message kept for ``--json``."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(2)
        self.message = message
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """argparse, except that a bad command line raises :class:`_UsageError` instead of printing and exiting."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        raise _UsageError(message, self.format_usage())


def _cmd_init(args: argparse.Namespace) -> int:
    from gridmap.storage import init_workspace

    if args.workspace.exists() and not args.force:
        raise GridmapError(f"{args.workspace} already exists; pass --overwrite to replace it "
                           "(its layers are lost), or give another path")
    with init_workspace(args.workspace, sample=args.sample, overwrite=args.force, seed=args.seed) as ws:
        counts = ws.counts()
    kind = "illustrative sample" if args.sample else "empty"
    _out(f"created {kind} workspace {args.workspace}")
    for layer, n in counts.items():
        _out(f"  {layer:<17} {n:>8}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from gridmap.importer import import_file

    defaults = _parse_settings(args.set)
    if args.inspector:
        if args.layer != "tracks":
            raise GridmapError(f"--inspector is for tracks (GPS fixes without an inspector); drop it for layer "
                               f"{args.layer}, or give a value every row lacks with --set COLUMN=VALUE")
        defaults["inspector"] = args.inspector
    summary = import_file(
        args.workspace, args.layer, args.file, coords=args.coords, encoding=args.encoding,
        source_layer=args.source_layer, repair=args.repair, defaults=defaults or None,
        sheet=args.sheet, header_row=args.header_row, crs=args.crs, columns=_parse_maps(args.map) or None,
    )
    if args.json:
        _out(json.dumps(summary.to_dict(), ensure_ascii=False))
    else:
        _out(summary.describe())
        if summary.quarantined:
            _out(f"  see the quarantine: gridmap quarantine {args.workspace}")
    return 1 if (args.strict and summary.quarantined) else 0


def _parse_settings(pairs: Sequence[str] | None) -> dict[str, object]:
    settings: dict[str, object] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise GridmapError(f"--set takes COLUMN=VALUE, e.g. --set category=垃圾乱倒; got {pair!r}")
        settings[key.strip()] = value
    return settings


def _parse_maps(pairs: Sequence[str] | None, option: str = "--map") -> dict[str, str]:
    """``SOURCE=TARGET`` pairs as a dict; the last ``=`` splits, so a header may hold one."""
    maps: dict[str, str] = {}
    for pair in pairs or ():
        source, sep, target = pair.rpartition("=")
        if not sep or not source.strip() or not target.strip():
            raise GridmapError(f"{option} takes HEADER=COLUMN, e.g. {option} 网格名称=name; got {pair!r}")
        maps[source.strip()] = target.strip()
    return maps


def _cmd_alias(args: argparse.Namespace) -> int:
    """Store header mappings of a layer in the workspace, or list the stored ones."""
    from gridmap.model import layer_spec
    from gridmap.records import check_column_map
    from gridmap.storage import open_workspace

    if args.layer is not None and "=" in args.layer:
        raise GridmapError(f"{args.layer!r} is a mapping, not a layer: gridmap alias WORKSPACE LAYER HEADER=COLUMN")
    if args.pairs and args.layer is None:
        raise GridmapError("name the layer before the mappings: gridmap alias WORKSPACE LAYER HEADER=COLUMN")
    layer = None if args.layer is None else layer_spec(args.layer).name
    pairs = _parse_maps(args.pairs, option="gridmap alias WORKSPACE LAYER")
    if layer is not None:
        check_column_map(layer, pairs)  # every pair checked before one is stored
    with open_workspace(args.workspace) as ws:
        for source, target in pairs.items():
            ws.add_column_alias(str(layer), source, target)
        table = ws.column_aliases(layer)
    rows = [{"layer": r.layer, "source": r.source, "target": r.target} for r in table.itertuples(index=False)]
    if pairs:
        stored = set(check_column_map(str(layer), pairs))
        rows = [r for r in rows if r["source"] in stored]
    if args.json:
        _out(json.dumps({"stored" if pairs else "aliases": rows}, ensure_ascii=False))
        return 0
    if not rows:
        _out("no column aliases stored" + ("" if layer is None else f" for {layer}"))
    for row in rows:
        _out(f"{'stored ' if pairs else ''}{row['layer']:<17} {row['source']} → {row['target']}")
    return 0


def _cmd_category(args: argparse.Namespace) -> int:
    from gridmap.storage import open_workspace

    with open_workspace(args.workspace) as ws:
        if args.add:
            key, zh = args.add
            category = ws.add_category(key, zh, args.en)
            _out(f"added category {category.key} ({category.zh}, {category.en})")
            return 0
        table = ws.categories()
    for row in table.itertuples(index=False):
        _out(f"{row.key:<26} {row.zh:<10} {row.en}{'' if row.builtin else '  (added)'}")
    return 0


def _require_positive_metres(option: str, value: float | None) -> None:
    """Refuse a size option of zero or less (None means the library's default)."""
    if value is not None and value <= 0:
        raise GridmapError(f"{option} must be a positive number of metres, got {value}")


def _date_text(text: str) -> str:
    """An argparse type: `text` unchanged when it is a date or time, else the reason (``argument --from: ...``)."""
    from gridmap.selection import as_time

    try:
        as_time(text)
    except GridmapError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or time; write it like 2025-03-01 or "
                                         "'2025-03-01 08:00'") from None
    return text


def _add_period_and_lang(p: argparse.ArgumentParser) -> None:
    """The --from/--to period ([from, to), Asia/Shanghai unless a zone is given) and --lang options."""
    p.add_argument("--from", dest="date_from", metavar="DATE", type=_date_text,
                   help="first day (or time) to count, e.g. 2025-03-03 (Asia/Shanghai unless a zone is given)")
    p.add_argument("--to", dest="date_to", metavar="DATE", type=_date_text,
                   help="end of the period, exclusive: --to 2025-03-10 stops at the start of that day")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of labels")


def _add_page_options(p: argparse.ArgumentParser) -> None:
    """--offline/--online and --no-redact for a command's --html page, as for `gridmap report`."""
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--offline", dest="offline", action="store_true", default=True,
                      help="the --html page holds every script and style (default; needs `gridmap assets fetch`)")
    mode.add_argument("--online", dest="offline", action="store_false",
                      help="the --html page loads Leaflet from the CDNs instead")
    p.add_argument("--no-redact", action="store_true",
                   help="keep names and phone numbers in the --html page (internal use only; the page says so)")


def _cmd_coverage(args: argparse.Namespace) -> int:
    from gridmap.coverage import sweep_coverage
    from gridmap.storage import open_workspace

    _require_positive_metres("--radius", args.radius)
    _check_page_options(args)
    with open_workspace(args.workspace) as ws:
        layers = {name: ws.read_layer(name) for name in ("grids", "tracks", "targets", "demolition_zones", "wall")}
        illustrative = ws.meta.get("illustrative") == "true"
    if len(layers["grids"]) == 0:
        raise GridmapError(f"{args.workspace} has no grids: import them first (gridmap import WORKSPACE grids FILE)")
    targets = layers["targets"] if len(layers["targets"]) else None
    result = sweep_coverage(layers["grids"], layers["tracks"], radius_m=args.radius, targets=targets,
                            start=args.date_from, end=args.date_to, progress=not args.quiet)
    _print_coverage(result, lang=args.lang)
    _write_coverage_outputs(args, result, layers, illustrative=illustrative)
    return 0


def _grid_label(name: Any, code: Any) -> str:
    """A grid as people name it: its name and code, e.g. "北大街一网格 (610802001001001)"; the code alone without a name."""
    code_text = str(code)
    if isinstance(name, str) and name.strip() and name.strip() != code_text:
        return f"{name.strip()} ({code_text})"
    return code_text


def _print_coverage(result: CoverageResult, *, lang: str = "zh") -> None:
    from gridmap.coverage import overall_coverage
    from gridmap.formatting import format_percent, is_missing, no_data

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
    if is_missing(overall):
        return  # no grid's coverage is known: no ranking of the least covered
    worst = grids.sort_values(["coverage_ratio", "grid_code"]).head(5)
    names = worst["name"] if "name" in worst else worst["grid_code"]
    _out("least covered grids:")
    for name, row in zip(names, worst.itertuples(index=False)):
        _out(f"  {_grid_label(name, row.grid_code)}  {format_percent(row.coverage_ratio, lang=lang):>8}"
             f"  dead corners {row.dead_corners}")


def _warn_not_redacted() -> None:
    sys.stderr.write("warning: --no-redact keeps names and phone numbers in the page: for internal use only, "
                     "do not forward it\n")


def _check_page_options(args: argparse.Namespace) -> None:
    """Before any work: an offline page needs a filled asset cache; --no-redact is for internal use only."""
    if not getattr(args, "html", None):
        return
    if args.no_redact:
        _warn_not_redacted()
    if args.offline:
        from gridmap.html_report import check_assets

        check_assets(None)


def _save_page(args: argparse.Namespace, fmap: Any) -> None:
    from gridmap.html_report import save_page

    out = save_page(fmap, args.html, offline=args.offline, lang=args.lang, redact=not args.no_redact)
    _out(f"wrote {out}")


def _write_coverage_outputs(args: argparse.Namespace, result: CoverageResult, layers: dict[str, Any], *,
                            illustrative: bool) -> None:
    extra = {"demolition_zones": layers["demolition_zones"] if len(layers["demolition_zones"]) else None,
             "wall": layers["wall"] if len(layers["wall"]) else None}
    if args.csv:
        result.to_csv(args.csv)
        _out(f"wrote {args.csv}")
    if args.dead_corners:
        result.dead_corners_geojson(args.dead_corners)
        _out(f"wrote {args.dead_corners}")
    if args.html:
        from gridmap.html_report import shareable, shareable_coverage
        from gridmap.maps.coverage import coverage_map

        redact = not args.no_redact
        shown = {key: shareable(value, redact) for key, value in extra.items()}
        _save_page(args, coverage_map(shareable_coverage(result, redact), lang=args.lang, illustrative=illustrative,
                                      **shown))
    if args.png:
        from gridmap.maps.static import coverage_png

        coverage_png(result, args.png, lang=args.lang, illustrative=illustrative, **extra)
        _out(f"wrote {args.png}")


def _reports_in(ws: Any, args: argparse.Namespace) -> Any:
    """The workspace's reports in [--from, --to), of the --category given, with a time."""
    from gridmap.selection import select_reports

    return select_reports(ws.read_layer("reports"), start=args.date_from, end=args.date_to,
                          categories=getattr(args, "category", None))


def _cmd_heatmap(args: argparse.Namespace) -> int:
    from gridmap.density import kde
    from gridmap.recurrence import recurrences, recurring_sites
    from gridmap.selection import period_months
    from gridmap.storage import open_workspace

    _require_positive_metres("--bandwidth", args.bandwidth)
    _require_positive_metres("--cell", args.cell)
    _check_page_options(args)
    with open_workspace(args.workspace) as ws:
        reports = _reports_in(ws, args)
        fixes = ws.read_layer("rectifications")
        grids = ws.read_layer("grids")
        wall = ws.read_layer("wall")
        illustrative = ws.meta.get("illustrative") == "true"
    rebounds_known = len(fixes) > 0
    if args.recurring_only and not rebounds_known:
        raise GridmapError("--recurring-only needs rectifications: the workspace has none, so no rebound can be "
                           "found (no data, not zero); import them (gridmap import WORKSPACE rectifications FILE) "
                           "or map every report without --recurring-only")
    if args.recurring_only:
        pairs = recurrences(reports, rectifications=fixes)
        involved = set(pairs["report_id"]) | set(pairs["previous_report_id"])
        reports = reports[reports["report_id"].isin(involved)]
    if len(reports) == 0:
        raise GridmapError("no reports in the period and categories asked for: nothing to map")
    density = kde(reports, bandwidth_m=args.bandwidth, cell_m=args.cell, kernel=args.kernel)
    months = period_months(reports, start=args.date_from, end=args.date_to)
    sites = recurring_sites(reports, rectifications=fixes, grids=grids) if rebounds_known else None
    peak = float(density.values.max()) / months
    site_text = f"{len(sites)} recurring sites" if sites is not None else \
        "recurring sites: no data (no rectifications, so no rebound can be found)"
    _out(f"{len(reports)} reports over {months:.1f} months; {args.kernel} kernel, bandwidth"
         f" {density.bandwidth_m:.0f} m, cells of {density.cell_m:.1f} m; peak {peak:.1f} reports per km² per month;"
         f" {site_text}")
    sites = sites if sites is not None and len(sites) else None
    title = _heat_title(args.lang, recurring=args.recurring_only)
    if args.tif:
        density.to_geotiff(args.tif)
        _out(f"wrote {args.tif}")
    if args.html:
        from gridmap.maps.density import heatmap_map

        from gridmap.html_report import shareable

        redact = not args.no_redact
        shown_reports = reports[[reports.geometry.name]]  # the browsing layer needs points only
        _save_page(args, heatmap_map(density, sites=shareable(sites, redact), grids=shareable(grids, redact),
                                     reports=shown_reports, months=months, lang=args.lang,
                                     illustrative=illustrative, title=title))
    if args.png:
        from gridmap.maps.static_density import heatmap_png

        heatmap_png(density, args.png, sites=sites, grids=grids, wall=wall if len(wall) else None, months=months,
                    lang=args.lang, illustrative=illustrative, title=title)
        _out(f"wrote {args.png}")
    return 0


def _heat_title(lang: str, *, recurring: bool) -> str:
    """The heat map's title: a rebound title only for the reports that are part of a rebound."""
    from gridmap.maps.density import labels_for

    return labels_for(lang)["heat_title" if recurring else "report_heat_title"]


def _hotspot_cells(ws: Any, kind: str, size: float) -> tuple[Any, str]:
    from gridmap.hotspot import fishnet, hexagons

    if kind == "grids":
        return ws.read_layer("grids"), "grid_code"
    area = ws.read_layer("subdistrict")
    if len(area) == 0:
        area = ws.read_layer("grids")
    if len(area) == 0:
        raise GridmapError("the workspace has neither a subdistrict nor grids to lay cells over")
    return (fishnet(area, size) if kind == "fishnet" else hexagons(area, size)), "cell_id"


def _cmd_hotspots(args: argparse.Namespace) -> int:
    from gridmap.hotspot import emerging_hotspots, hotspots
    from gridmap.storage import open_workspace

    _require_positive_metres("--size", args.size)
    _check_page_options(args)
    with open_workspace(args.workspace) as ws:
        reports = _reports_in(ws, args)
        cells, id_column = _hotspot_cells(ws, args.cells, args.size)
        illustrative = ws.meta.get("illustrative") == "true"
    hot = hotspots(reports, cells)
    try:
        emerging = emerging_hotspots(reports, cells, interval=args.interval)
    except GridmapError as exc:
        _out(f"note: no emerging hot-spot analysis: {exc}")
        emerging = None
    bins = hot["gi_bin"].value_counts().to_dict()
    _out(f"{len(reports)} reports in {len(cells)} cells: hot spots (99/95/90 %) {bins.get(3, 0)}/{bins.get(2, 0)}/"
         f"{bins.get(1, 0)}, cold spots {bins.get(-3, 0)}/{bins.get(-2, 0)}/{bins.get(-1, 0)}")
    if emerging is not None:
        for category, count in emerging["category"].value_counts().items():
            _out(f"  {category}: {count}")
    if args.csv:
        from gridmap.spreadsheet import write_csv

        write_csv(_hotspot_table(hot, emerging, id_column), args.csv)
        _out(f"wrote {args.csv}")
    if args.html:
        from gridmap.maps.density import hotspot_map

        from gridmap.html_report import shareable

        redact = not args.no_redact
        _save_page(args, hotspot_map(shareable(hot, redact), emerging=shareable(emerging, redact), lang=args.lang,
                                     illustrative=illustrative))
    return 0


def _hotspot_table(hot: Any, emerging: Any, id_column: str) -> Any:
    columns = [id_column, "count", "gi_z", "gi_p", "significant", "gi_bin"]
    table = hot[columns].copy()
    if emerging is not None:
        for column in ("category", "trend_z", "trend_p"):
            table[column] = emerging[column].to_numpy()
    return table


def _cmd_assets_fetch(args: argparse.Namespace) -> int:
    from gridmap.maps.assets import fetch_assets

    written = fetch_assets(source=args.source, registry=args.registry)
    _out(f"asset cache filled from {args.source}: {len(written)} files")
    return 0


def _cmd_briefing(args: argparse.Namespace) -> int:
    from gridmap.briefing_page import briefing

    out = briefing(args.workspace, args.png or args.pdf, start=args.date_from, end=args.date_to, lang=args.lang)
    _out(f"wrote {out}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from gridmap.html_report import export_html

    if args.basemap == "tianditu" and not args.tianditu_key:
        raise GridmapError("the Tianditu (天地图) basemap needs a key: register for a free browser-side key at "
                           "https://console.tianditu.gov.cn/ and pass it with --tianditu-key KEY, or choose "
                           "--basemap none|osm|amap")
    if args.no_redact:
        _warn_not_redacted()
    out = export_html(args.workspace, args.html, offline=args.offline, basemap=args.basemap, lang=args.lang,
                      redact=not args.no_redact, start=args.date_from, end=args.date_to, title=args.title,
                      tianditu_key=args.tianditu_key, tianditu_kind=args.tianditu_kind)
    _out(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from gridmap.validate import validate_grids
    from gridmap.storage import open_workspace

    territory = None if args.territory == "layers" else args.territory
    with open_workspace(args.workspace) as ws:
        check = validate_grids(workspace=ws, territory=territory)
    if args.json:
        _out(json.dumps(check.to_dict(), ensure_ascii=False))
    else:
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
    return 0 if check.ok else 1


def _cmd_info(args: argparse.Namespace) -> int:
    from gridmap.storage import open_workspace

    with open_workspace(args.workspace) as ws:
        info = {"path": str(ws.path), "schema_version": ws.schema_version, "layers": ws.counts()}
    if args.json:
        _out(json.dumps(info, ensure_ascii=False))
    else:
        _out(f"{info['path']} (schema {info['schema_version']})")
        for layer, n in info["layers"].items():
            _out(f"  {layer:<17} {n:>8}")
    return 0


def _cmd_quarantine(args: argparse.Namespace) -> int:
    from gridmap.storage import open_workspace

    if args.retry:
        return _retry_quarantine(args)
    with open_workspace(args.workspace) as ws:
        frame = ws.quarantine()
    if args.layer:
        frame = frame[frame["layer"] == args.layer]
    if args.csv:
        from gridmap.spreadsheet import write_csv

        write_csv(frame, args.csv)
        _out(f"wrote {len(frame)} quarantined records to {args.csv}")
    else:
        for row in frame.itertuples(index=False):
            _out(f"{row.layer}\t{row.source}#{row.record}\t{row.reason}\t{row.detail}")
    return 0


def _retry_quarantine(args: argparse.Namespace) -> int:
    from gridmap.retry import retry_quarantine

    summary = retry_quarantine(args.workspace, layer=args.layer)
    _out(json.dumps(summary.to_dict(), ensure_ascii=False) if args.json else summary.describe())
    return 0


def _cmd_scoreboard(args: argparse.Namespace) -> int:
    from gridmap.supervision import run_scoreboard, weekly_figures, write_scoreboard

    # one read of the workspace and one computation serve the table, the spreadsheets and the page
    run = run_scoreboard(args.workspace, start=args.date_from, end=args.date_to, by=args.by, deadlines=None,
                         rules=None, lang=args.lang, now=None)
    board = run.board
    charted = bool(args.xlsx or args.html) and args.by == "community"
    weekly = weekly_figures(run.layers, end=board.attrs["end"], weeks=8) if charted else None
    _print_scoreboard(board)
    for path in write_scoreboard(board, csv=args.csv, xlsx=args.xlsx, lang=args.lang,
                                 weekly=weekly if args.xlsx else None):
        _out(f"wrote {path}")
    if args.html:
        from gridmap.html_report import check_assets
        from gridmap.supervision_page import write_page

        if args.no_redact:
            sys.stderr.write("warning: --no-redact keeps cadre names in the page: for internal use only\n")
        if args.offline:
            check_assets(None)
        out = write_page(run, weekly, args.html, lang=args.lang, offline=args.offline, redact=not args.no_redact)
        _out(f"wrote {out}")
    return 0


def _print_scoreboard(board: Any) -> None:
    attrs = board.attrs
    _out(f"scoreboard by {attrs['by']}, reports made {attrs['start']} to {attrs['end']} (exclusive); "
         f"lagging: {int(board['lagging'].sum())} of {len(board)}")
    if attrs["unassigned_reports"]:
        _out(f"  {attrs['unassigned_reports']} report(s) lie outside every grid and are not ranked")
    from gridmap.formatting import is_missing, no_data

    key = board.columns[0]
    for row in board.to_dict("records"):
        reason = f"  {row['lagging_reason']}" if row["lagging"] else ""
        score = f"{no_data('en'):>5}" if is_missing(row["score"]) else f"{row['score']:5.1f}"
        rectified = no_data("en") if is_missing(row["rectified"]) else row["rectified"]
        _out(f"  {row['rank']:>3}  {row[key]!s:<16} score {score}  rectified {rectified}/{row['reports']}{reason}")


def _cmd_spotcheck(args: argparse.Namespace) -> int:
    from gridmap.spotcheck import spot_check

    if args.n < 1:
        raise GridmapError(f"--n must be at least 1, got {args.n}")
    sample = spot_check(args.workspace, n=args.n, start=args.date_from, end=args.date_to, seed=args.seed,
                        by=args.by, lang=args.lang)
    _out(f"spot check of {len(sample.checklist)} of {int(sample.strata['population'].sum())} rectified reports,"
         f" by {sample.by}, seed {sample.seed}:")
    for row in sample.strata.itertuples(index=False):
        _out(f"  {row.stratum:<20} {row.population:>6} {row.drawn:>4}")
    if args.csv:
        _out(f"wrote {sample.to_csv(args.csv)}")
    if args.html:
        _out(f"wrote {sample.to_html(args.html, offline=args.offline, lang=args.lang)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from gridmap.demo import run_demo

    written = run_demo(args.out, seed=args.seed)
    _out(f"demo written to {args.out}:")
    for path in written:
        _out(f"  {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gridmap`` command."""
    parser = _Parser(
        prog="gridmap",
        description="Grid management of sanitation campaigns: workspace, imports, checks, maps.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create a workspace (a GeoPackage), empty or with the illustrative sample")
    p.add_argument("workspace", type=Path)
    p.add_argument("--sample", action="store_true", help="fill it with the illustrative Gulou sample")
    p.add_argument("--overwrite", "--force", dest="force", action="store_true", help="replace an existing file")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample generator")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("import", help="import a file into a layer; bad rows go to the quarantine")
    p.add_argument("workspace", type=Path)
    p.add_argument("layer", choices=LAYER_CHOICES)
    p.add_argument("file", type=Path)
    p.add_argument("--coords", choices=("wgs84", "gcj02", "bd09"),
                   help="coordinate system of the file's lon/lat (required for CSV: Amap/WeChat gcj02, Baidu bd09)")
    p.add_argument("--crs", metavar="EPSG:NNNN",
                   help="CRS of a file that has none: a shapefile without .prj, a table of x/y in metres; "
                   "e.g. --crs EPSG:4546 (CGCS2000 Gauss-Kruger CM 111E)")
    p.add_argument("--encoding", help="text encoding of a CSV or .dbf (detected when omitted)")
    p.add_argument("--source-layer", help="layer to read inside a GeoPackage")
    p.add_argument("--sheet", metavar="NAME|N", help="sheet of an Excel workbook: its name or number (1 = first)")
    p.add_argument("--header-row", type=int, metavar="N",
                   help="Excel row number of the column names (found below a title or blank rows when omitted)")
    p.add_argument("--inspector",
                   help="inspector name for GPS fixes that carry none (a GPX, or a watch export's rows without a"
                        " device number); each device of the file stays its own track")
    p.add_argument("--set", action="append", metavar="COLUMN=VALUE",
                   help="value for a column the file lacks or leaves empty (the file's values win), e.g."
                        " --set category=卫生死角 for photos (repeatable)")
    p.add_argument("--map", action="append", metavar="HEADER=COLUMN",
                   help="read the file's column HEADER as model column COLUMN, e.g. --map 巡查发现问题=description"
                        " (repeatable; wins over stored and built-in aliases)")
    p.add_argument("--repair", action="store_true", help="repair invalid geometries instead of quarantining them")
    p.add_argument("--json", action="store_true", help="print one JSON object with the counts")
    p.add_argument("--strict", action="store_true", help="exit 1 when anything was quarantined")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("validate", help="check the grids: gaps, overlaps, slivers, invalid, no cadre")
    p.add_argument("workspace", type=Path)
    p.add_argument("--json", action="store_true",
                   help='print {"ok": ..., "problems": [...], "checks_run": [...], "checks_skipped": [...]}')
    p.add_argument("--territory", choices=("layers", "union"), default="layers",
                   help="where to look for gaps: inside the subdistrict or communities layer (default), or, when "
                        "there is neither, inside the outline of the grids' union (union; a warning says so)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("category", help="list the report categories, or add one to the workspace")
    p.add_argument("workspace", type=Path)
    p.add_argument("--add", nargs=2, metavar=("KEY", "ZH"), help="add a category: English key and zh-Hans label")
    p.add_argument("--en", help="English label of the category added")
    p.set_defaults(func=_cmd_category)

    p = sub.add_parser("alias", help="remember what a file's column means (HEADER=COLUMN), or list what is stored")
    p.add_argument("workspace", type=Path)
    p.add_argument("layer", nargs="?", metavar="LAYER", help="the layer the files go into (omit to list all)")
    p.add_argument("pairs", nargs="*", metavar="HEADER=COLUMN", help="mappings to store, e.g. 网格名称=name")
    p.add_argument("--json", action="store_true", help='print {"aliases": [...]} (or {"stored": [...]})')
    p.set_defaults(func=_cmd_alias)

    p = sub.add_parser("coverage", help="sweep coverage of every grid from the inspectors' GPS fixes; dead corners")
    p.add_argument("workspace", type=Path)
    _add_period_and_lang(p)
    p.add_argument("--radius", type=float, default=30.0, help="metres around the walked path counted as reached")
    p.add_argument("--csv", type=Path, help="one row per grid")
    p.add_argument("--html", type=Path, help="the coverage map (HTML)")
    p.add_argument("--png", type=Path, help="the coverage map for briefings (PNG)")
    _add_page_options(p)
    p.add_argument("--dead-corners", type=Path, metavar="FILE.geojson", help="the dead-corner task list as GeoJSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_coverage)

    p = sub.add_parser("heatmap", help="density of reports in true units (reports per km² per month)")
    p.add_argument("workspace", type=Path)
    _add_period_and_lang(p)
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
    p.add_argument("workspace", type=Path)
    _add_period_and_lang(p)
    p.add_argument("--cells", choices=("grids", "fishnet", "hex"), default="grids", help="the cells to count in")
    p.add_argument("--size", type=float, default=100.0, help="fishnet or hexagon size, metres (default 100)")
    p.add_argument("--interval", choices=("week", "month"), default="month", help="time step of the emerging analysis")
    p.add_argument("--csv", type=Path, help="one row per cell")
    p.add_argument("--html", type=Path, help="the hot-spot map (HTML)")
    _add_page_options(p)
    p.set_defaults(func=_cmd_hotspots)

    p = sub.add_parser("briefing", help="a printable A4 page: coverage map, heatmap, community table")
    p.add_argument("workspace", type=Path)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--png", type=Path, help="the page as PNG")
    target.add_argument("--pdf", type=Path, help="the page as PDF (CJK font embedded)")
    _add_period_and_lang(p)
    p.set_defaults(func=_cmd_briefing)

    p = sub.add_parser("report", help="the leaders' map: one HTML page (offline by default) to share")
    p.add_argument("workspace", type=Path)
    p.add_argument("--html", type=Path, required=True, help="the page to write")
    _add_period_and_lang(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--offline", dest="offline", action="store_true", default=True,
                      help="every script, style and image inside the file (default; needs `gridmap assets fetch`)")
    mode.add_argument("--online", dest="offline", action="store_false", help="load Leaflet from the CDNs instead")
    p.add_argument("--basemap", choices=("none", "osm", "tianditu", "amap"), default="none",
                   help="tiles under the layers (default none: no network request); amap shifts layers to GCJ-02")
    p.add_argument("--tianditu-key", metavar="KEY", help="Tianditu key (tk), required with --basemap tianditu")
    p.add_argument("--tianditu-kind", choices=("vector", "imagery"), default="vector", help="Tianditu map kind")
    p.add_argument("--no-redact", action="store_true",
                   help="keep names and phone numbers (internal use only; the page says so)")
    p.add_argument("--title", help="the page's title (default: the subdistrict's name, the report and the period)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("scoreboard", help="the supervision ranking of communities, grids or cadres, lagging flags")
    p.add_argument("workspace", type=Path)
    _add_period_and_lang(p)
    p.add_argument("--by", choices=("community", "grid", "cadre"), default="community", help="unit of a row")
    p.add_argument("--csv", type=Path, help="the table as CSV (safe to open in Excel and WPS)")
    p.add_argument("--xlsx", type=Path, help="the table, its definitions and the weekly figures as XLSX")
    p.add_argument("--html", type=Path, help="the ranking with its evidence on a map (HTML, offline by default)")
    p.add_argument("--online", dest="offline", action="store_false", default=True,
                   help="load Leaflet from the CDNs instead of the asset cache")
    p.add_argument("--no-redact", action="store_true", help="keep cadre names in the HTML page (internal use only)")
    p.set_defaults(func=_cmd_scoreboard)

    p = sub.add_parser("spotcheck", help="a reproducible stratified sample of rectified reports to check on site")
    p.add_argument("workspace", type=Path)
    p.add_argument("--n", type=int, required=True, help="reports to draw (at least one per stratum)")
    p.add_argument("--seed", required=True, help="seed of the draw (write it down: the same seed draws the same)")
    _add_period_and_lang(p)
    p.add_argument("--by", choices=("community", "grid", "cadre"), default="community", help="strata")
    p.add_argument("--csv", type=Path, help="the checklist as CSV (fill in result/checked_at/checker, import back)")
    p.add_argument("--html", type=Path, help="map and printable checklist (HTML, offline by default)")
    p.add_argument("--online", dest="offline", action="store_false", default=True,
                   help="load Leaflet from the CDNs instead of the asset cache")
    p.set_defaults(func=_cmd_spotcheck)

    p = sub.add_parser("assets", help="the offline asset cache (Leaflet and the other scripts maps need)")
    assets = p.add_subparsers(dest="assets_command", required=True, metavar="ACTION")
    f = assets.add_parser("fetch", help="download the scripts and style sheets into the cache (needs the network)")
    f.add_argument("--from", dest="source", choices=("cdn", "npm"), default="cdn",
                   help="the CDNs folium uses (default) or the npm registry's package tarballs")
    f.add_argument("--registry", default="https://registry.npmjs.org", help="npm registry to use with --from npm")
    f.set_defaults(func=_cmd_assets_fetch)

    p = sub.add_parser("info", help="layers and row counts of a workspace")
    p.add_argument("workspace", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("quarantine", help="list the quarantined records with their reasons")
    p.add_argument("workspace", type=Path)
    p.add_argument("--csv", type=Path, help="write them to a CSV file instead")
    p.add_argument("--layer", choices=LAYER_CHOICES, help="only the records meant for this layer")
    p.add_argument("--retry", action="store_true",
                   help="import the records again (after gridmap category --add, gridmap alias ...); "
                        "those that land leave the quarantine")
    p.add_argument("--json", action="store_true", help="with --retry: print the counts as one JSON object")
    p.set_defaults(func=_cmd_quarantine)

    p = sub.add_parser("demo", help="build the sample workspace and everything gridmap makes from it")
    p.add_argument("--out", type=Path, default=Path("gridmap-demo"), help="output folder (default gridmap-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _fail(message: str, *, as_json: bool, status: int = 2) -> int:
    """Say why the command failed: one line on stderr and, with --json, one JSON object on stdout."""
    sys.stderr.write(f"gridmap: error: {message}\n")
    if as_json:
        _out(json.dumps({"error": message, "exit": status}, ensure_ascii=False))
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    With ``--json`` a failure, a bad command line included, also prints one JSON object on stdout,
    ``{"error": "...", "exit": 2}``.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    as_json = any(len(w) > 3 and "--json".startswith(w) for w in words)  # argparse takes --js for --json
    parser = build_parser()
    try:
        args = parser.parse_args(words)
    except _UsageError as exc:
        sys.stderr.write(exc.usage)
        return _fail(exc.message, as_json=as_json)
    _configure_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    as_json = bool(getattr(args, "json", False))
    try:
        return func(args)
    except GridmapError as exc:
        return _fail(str(exc), as_json=as_json)
    except FileNotFoundError as exc:
        return _fail(f"{exc.filename or exc}: no such file", as_json=as_json)
    except OSError as exc:  # unreadable: no permission, a folder given for a file
        return _fail(f"{exc.filename or ''}: cannot be read ({exc.strerror or exc})".lstrip(": "), as_json=as_json)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.stderr.write("gridmap: interrupted\n")
        return 130
