"""The ``import`` command: a file into a layer of the workspace, bad rows to the quarantine."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gridmap.errors import GridmapError
from gridmap.cli._common import _add_workspace, LAYER_CHOICES, _out, _parse_maps, _parse_settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's command to `sub`, the ``gridmap`` command's subparsers."""
    p = sub.add_parser("import", help="import a file into a layer; bad rows go to the quarantine")
    _add_workspace(p)
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


def _defaults(args: argparse.Namespace) -> dict[str, object]:
    """The values of ``--set`` and ``--inspector`` for the columns a file lacks."""
    defaults = _parse_settings(args.set)
    if args.inspector:
        if args.layer != "tracks":
            raise GridmapError(f"--inspector is for tracks (GPS fixes without an inspector); drop it for layer "
                               f"{args.layer}, or give a value every row lacks with --set COLUMN=VALUE")
        defaults["inspector"] = args.inspector
    return defaults


def _cmd_import(args: argparse.Namespace) -> int:
    from gridmap.io.importer import import_file  # deferred: GeoPandas

    defaults = _defaults(args)
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
