"""Commands that compose pages to share: ``briefing``, ``report``, ``scoreboard``, ``spotcheck``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gridmap.errors import GridmapError
from gridmap.cli._common import _add_period_and_lang, _add_subdistrict, _add_workspace, _out, _warn_not_redacted
from gridmap.formatting import is_missing, no_data


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to `sub`, the ``gridmap`` command's subparsers."""
    p = sub.add_parser("briefing", help="a printable A4 page: coverage map, heatmap, community table")
    _add_workspace(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--png", type=Path, help="the page as PNG")
    target.add_argument("--pdf", type=Path, help="the page as PDF (CJK font embedded)")
    _add_period_and_lang(p)
    _add_subdistrict(p)
    p.set_defaults(func=_cmd_briefing)
    _add_report_parser(sub)

    p = sub.add_parser("scoreboard", help="the supervision ranking of communities, grids, cadres, streets or areas, "
                                          "lagging flags")
    _add_workspace(p)
    _add_period_and_lang(p)
    _add_subdistrict(p)
    p.add_argument("--by", choices=("community", "grid", "cadre", "street", "area"), default="community",
                   help="unit of a row (street: reports near the street; area: reports of the area's grids)")
    p.add_argument("--street-distance", type=float, default=None, metavar="M",
                   help="with --by street: a report at most M metres from a street is the street's (default 15)")
    p.add_argument("--csv", type=Path, help="the table as CSV (safe to open in Excel and WPS)")
    p.add_argument("--xlsx", type=Path, help="the table, its definitions and the weekly figures as XLSX")
    p.add_argument("--html", type=Path, help="the ranking with its evidence on a map (HTML, offline by default)")
    p.add_argument("--online", dest="offline", action="store_false", default=True,
                   help="load Leaflet from the CDNs instead of the asset cache")
    p.add_argument("--no-redact", action="store_true",
                   help="keep cadre, street chief and area leader names in the HTML page (internal use only)")
    p.set_defaults(func=_cmd_scoreboard)

    p = sub.add_parser("spotcheck", help="a reproducible stratified sample of rectified reports to check on site")
    _add_workspace(p)
    p.add_argument("--n", type=int, required=True, help="reports to draw (at least one per stratum)")
    p.add_argument("--seed", required=True, help="seed of the draw (write it down: the same seed draws the same)")
    _add_period_and_lang(p)
    _add_subdistrict(p)
    p.add_argument("--by", choices=("community", "grid", "cadre"), default="community", help="strata")
    p.add_argument("--csv", type=Path, help="the checklist as CSV (fill in result/checked_at/checker, import back)")
    p.add_argument("--html", type=Path, help="map and printable checklist (HTML, offline by default)")
    p.add_argument("--online", dest="offline", action="store_false", default=True,
                   help="load Leaflet from the CDNs instead of the asset cache")
    p.set_defaults(func=_cmd_spotcheck)


def _add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="the leaders' map: one HTML page (offline by default) to share")
    _add_workspace(p)
    p.add_argument("--html", type=Path, required=True, help="the page to write")
    _add_period_and_lang(p)
    _add_subdistrict(p)
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


def _cmd_briefing(args: argparse.Namespace) -> int:
    # deferred: GeoPandas and matplotlib
    from gridmap.pages.briefing import briefing

    out = briefing(args.workspace, args.png or args.pdf, start=args.date_from, end=args.date_to, lang=args.lang,
                   subdistrict=args.subdistrict)
    _out(f"wrote {out}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    # deferred: pandas and folium
    from gridmap.pages.report import export_html

    if args.basemap == "tianditu" and not args.tianditu_key:
        raise GridmapError("the Tianditu (天地图) basemap needs a key: register for a free browser-side key at "
                           "https://console.tianditu.gov.cn/ and pass it with --tianditu-key KEY, or choose "
                           "--basemap none|osm|amap")
    if args.no_redact:
        _warn_not_redacted()
    out = export_html(args.workspace, args.html, offline=args.offline, basemap=args.basemap, lang=args.lang,
                      redact=not args.no_redact, start=args.date_from, end=args.date_to, title=args.title,
                      tianditu_key=args.tianditu_key, tianditu_kind=args.tianditu_kind, subdistrict=args.subdistrict)
    _out(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


#: Weeks of the scoreboard's charts (spreadsheet and page).
_CHART_WEEKS = 8


def _cmd_scoreboard(args: argparse.Namespace) -> int:
    # deferred: pandas
    from gridmap.jobs.supervision import run_scoreboard, weekly_figures, write_scoreboard

    # one read of the workspace and one computation serve the table, the spreadsheets and the page
    charted = bool(args.xlsx or args.html) and args.by == "community"
    rules = None if args.street_distance is None else {"street_distance_m": args.street_distance}
    run = run_scoreboard(args.workspace, start=args.date_from, end=args.date_to, by=args.by, deadlines=None,
                         rules=rules, lang=args.lang, now=None, weeks=_CHART_WEEKS if charted else 0,
                         subdistrict=args.subdistrict)
    board = run.board
    weekly = weekly_figures(run.layers, end=board.attrs["end"], weeks=_CHART_WEEKS) if charted else None
    _print_scoreboard(board)
    for path in write_scoreboard(board, csv=args.csv, xlsx=args.xlsx, lang=args.lang,
                                 weekly=weekly if args.xlsx else None):
        _out(f"wrote {path}")
    if args.html:
        _write_scoreboard_page(args, run, weekly)
    return 0


def _write_scoreboard_page(args: argparse.Namespace, run: Any, weekly: Any) -> None:
    from gridmap.pages.common import check_assets  # deferred: GeoPandas, SciPy, branca
    from gridmap.pages.scoreboard import write_page  # deferred: folium, GeoPandas

    if args.no_redact:
        sys.stderr.write("warning: --no-redact keeps cadre, street chief and area leader names in the page: for "
                         "internal use only\n")
    if args.offline:
        check_assets(None)
    out = write_page(run, weekly, args.html, lang=args.lang, offline=args.offline, redact=not args.no_redact)
    _out(f"wrote {out}")


def _print_scoreboard(board: Any) -> None:
    """The ranking, one row per unit, with the reason a unit lags."""
    attrs = board.attrs
    _out(f"scoreboard by {attrs['by']}, reports made {attrs['start']} to {attrs['end']} (exclusive); "
         f"lagging: {int(board['lagging'].sum())} of {len(board)}")
    if attrs["unassigned_reports"]:
        where = {"street": "near no street", "area": "in no area"}.get(attrs["by"], "outside every grid")
        _out(f"  {attrs['unassigned_reports']} report(s) lie {where} and are not ranked")
    key = board.columns[0]
    for row in board.to_dict("records"):
        reason = f"  {row['lagging_reason']}" if row["lagging"] else ""
        score = f"{no_data('en'):>5}" if is_missing(row["score"]) else f"{row['score']:5.1f}"
        rectified = no_data("en") if is_missing(row["rectified"]) else row["rectified"]
        _out(f"  {row['rank']:>3}  {row[key]!s:<16} score {score}  rectified {rectified}/{row['reports']}{reason}")


def _cmd_spotcheck(args: argparse.Namespace) -> int:
    # deferred: GeoPandas
    from gridmap.jobs.spotcheck import spot_check

    if args.n < 1:
        raise GridmapError(f"--n must be at least 1, got {args.n}")
    sample = spot_check(args.workspace, n=args.n, start=args.date_from, end=args.date_to, seed=args.seed,
                        by=args.by, lang=args.lang, subdistrict=args.subdistrict)
    _out(f"spot check of {len(sample.checklist)} of {int(sample.strata['population'].sum())} rectified reports,"
         f" by {sample.by}, seed {sample.seed}:")
    for row in sample.strata.itertuples(index=False):
        _out(f"  {row.stratum:<20} {row.population:>6} {row.drawn:>4}")
    if args.csv:
        _out(f"wrote {sample.to_csv(args.csv)}")
    if args.html:
        _out(f"wrote {sample.to_html(args.html, offline=args.offline, lang=args.lang)}")
    return 0
