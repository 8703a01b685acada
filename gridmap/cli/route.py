"""The ``route`` command: one walk that clears a grid's dead corners and unvisited must-visit places.

In every other command ``--from``/``--to`` give the period; here ``--from LON,LAT`` is where the walk starts
(the issue's name for it), so the period of the sweep is ``--since DATE`` / ``--until DATE`` (the same parsing and
meaning as ``--from``/``--to`` elsewhere: [since, until), Asia/Shanghai unless a zone is given).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gridmap.errors import GridmapError
from gridmap.cli._common import (
    _add_workspace, _date_text, _is_illustrative, _open_workspace, _out, _read_layer, _require_positive_metres,
)


def _lon_lat(text: str) -> tuple[float, float]:
    """An argparse type: ``LON,LAT`` as two floats, else the reason (``argument --from: ...``)."""
    parts = text.replace("，", ",").split(",")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a start point: write it as LON,LAT, e.g. --from 109.7345,38.2901 (in route, --from "
            "is where the walk starts; the period is --since/--until)") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise argparse.ArgumentTypeError(f"{text!r}: longitude must be within -180..180 and latitude within -90..90, "
                                         "longitude first, e.g. --from 109.7345,38.2901")
    return lon, lat


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``route`` command to `sub`, the ``gridmap`` command's subparsers."""
    p = sub.add_parser("route", help="one walk along the streets that clears a grid's dead corners (GPX, map, CSV)")
    _add_workspace(p)
    p.add_argument("--grid", required=True, metavar="CODE", help="the grid whose dead corners to clear")
    p.add_argument("--from", dest="start", metavar="LON,LAT", type=_lon_lat,
                   help="where the walk starts, e.g. --from 109.7345,38.2901 (default: where the first street "
                        "that enters the grid does so); NOT a date here: the period is --since/--until")
    p.add_argument("--coords", choices=("wgs84", "gcj02"), default="wgs84",
                   help="the system of --from: wgs84 (GPS, default) or gcj02 (Amap, WeChat)")
    p.add_argument("--since", dest="date_from", metavar="DATE", type=_date_text,
                   help="first day (or time) of the sweep to count, e.g. 2025-03-03 (Asia/Shanghai unless a zone "
                        "is given): what --from is in the other commands")
    p.add_argument("--until", dest="date_to", metavar="DATE", type=_date_text,
                   help="end of the sweep's period, exclusive: --until 2025-03-10 stops at the start of that day "
                        "(what --to is in the other commands)")
    p.add_argument("--radius", type=float, default=30.0, help="metres around the walked path counted as reached")
    p.add_argument("--join-tolerance", type=float, default=5.0, metavar="METRES",
                   help="join street pieces whose ends lie within this many metres (default 5; 0 joins none)")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of labels")
    p.add_argument("--gpx", type=Path, help="the route for the cadre's phone (GPX 1.1: stops in order and the walk)")
    p.add_argument("--html", type=Path, help="the route map (one offline HTML file; needs gridmap assets fetch)")
    p.add_argument("--csv", type=Path, help="the checklist of stops (CSV for Excel/WPS)")
    p.set_defaults(func=_cmd_route)


def _check_options(args: argparse.Namespace) -> tuple[float, float] | None:
    """Refuse bad numbers; the start in WGS84; an offline page's assets checked before any work."""
    _require_positive_metres("--radius", args.radius)
    if not args.join_tolerance >= 0:
        raise GridmapError(f"--join-tolerance must be a number of metres >= 0, got {args.join_tolerance:g}")
    if args.html:
        from gridmap.pages.common import check_assets  # deferred: GeoPandas, SciPy, branca

        check_assets(None)
    if args.start is None:
        return None
    if args.coords == "wgs84":
        return args.start
    from gridmap.crs import to_wgs84  # deferred: numpy, pyproj

    lon, lat = to_wgs84(args.start[0], args.start[1], "gcj02")
    return float(lon), float(lat)


def _layers(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    from gridmap.analysis.coverage import reach_m  # deferred: GeoPandas, SciPy

    with _open_workspace(args.workspace) as ws:
        layers = {name: _read_layer(ws, args, name) for name in ("grids", "targets", "streets")}
        layers["tracks"] = _read_layer(ws, args, "tracks", period="period", near_m=reach_m(args.radius),
                                       or_first=False)
        return layers, _is_illustrative(ws)


def _grid(layers: dict[str, Any], args: argparse.Namespace) -> Any:
    """The grid of --grid (one row), or a clear refusal."""
    grids = layers["grids"]
    if len(grids) == 0:
        raise GridmapError(f"{args.workspace} has no grids: import them first (gridmap import WORKSPACE grids FILE)")
    mine = grids[grids["grid_code"].astype(str) == args.grid.strip()]
    if len(mine) == 0:
        some = ", ".join(grids["grid_code"].astype(str).head(3))
        raise GridmapError(f"--grid {args.grid!r} is not a grid of {args.workspace}; give a grid code such as "
                           f"{some} (gridmap coverage WORKSPACE lists the grids)")
    if len(layers["streets"]) == 0:
        raise GridmapError(f"{args.workspace} has no streets to walk along: import them first "
                           "(gridmap import WORKSPACE streets FILE)")
    return mine


def _cmd_route(args: argparse.Namespace) -> int:
    from gridmap.analysis.coverage import sweep_coverage  # deferred: GeoPandas, SciPy
    from gridmap.analysis.route import clear_route, grid_start, route_stops  # deferred: GeoPandas, networkx

    start = _check_options(args)
    layers, illustrative = _layers(args)
    grid = _grid(layers, args)
    targets = layers["targets"] if len(layers["targets"]) else None
    # the grid's coverage alone: each grid is measured on its own, so this is its figure of `gridmap coverage`
    coverage = sweep_coverage(grid, layers["tracks"], radius_m=args.radius, targets=targets, start=args.date_from,
                              end=args.date_to)
    stops = route_stops(coverage, args.grid.strip())
    if len(stops) == 0:
        _out(f"nothing to clear: grid {args.grid.strip()} has no dead corner and no unvisited must-visit place "
             "in the period")
        return 0
    given = start is not None
    start = start if given else grid_start(layers["streets"], grid)  # None: no street enters the grid
    result = clear_route(layers["streets"], stops, start=start, join_tolerance_m=args.join_tolerance)
    _print_route(result, args.grid.strip(), given=given)
    _write_outputs(args, result, illustrative=illustrative)
    return 0


def _print_route(result: Any, grid_code: str, *, given: bool) -> None:
    stats = result.stats
    where = ("the point given" if given else "where the grid's first street enters it" if stats["start"] == "given"
             else "the first node of the first street (no street enters the grid)")
    _out(f"route for grid {grid_code}: {len(result.stops)} stops, {result.length_m:,.0f} m, from {where} "
         f"({stats['start_lon']:.6f},{stats['start_lat']:.6f} WGS84); street pieces joined: {result.joins}")
    for row in result.stops.itertuples(index=False):
        _out(f"  {row.order:>3}. {row.stop_id} ({row.kind})  walk {row.leg_m:,.0f} m, total {row.cumulative_m:,.0f} m"
             f"  GCJ-02 {row.lon_gcj02:.6f},{row.lat_gcj02:.6f}")
    if len(result.unreachable):
        _out(f"unreachable ({len(result.unreachable)}): not on the route, visit them another way")
        for row in result.unreachable.itertuples(index=False):
            _out(f"  {row.stop_id} ({row.kind}) at {row.lon:.6f},{row.lat:.6f} WGS84: {row.reason}")


def _write_outputs(args: argparse.Namespace, result: Any, *, illustrative: bool) -> None:
    if args.gpx:
        _out(f"wrote {result.to_gpx(args.gpx, name=f'gridmap route {args.grid.strip()}')}")
    if args.csv:
        _out(f"wrote {result.to_csv(args.csv, lang=args.lang)}")
    if args.html:
        from gridmap.maps.route import route_map  # deferred: GeoPandas, folium
        from gridmap.pages.common import save_page  # deferred: GeoPandas, SciPy, branca

        fmap = route_map(result, lang=args.lang, illustrative=illustrative)
        _out(f"wrote {save_page(fmap, args.html, offline=True, lang=args.lang, redact=True)}")
