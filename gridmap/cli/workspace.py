"""Commands that manage a workspace: ``init``, ``info``, ``category``, ``alias``, ``quarantine``, ``copy``.

Every WORKSPACE is a GeoPackage file or a ``postgresql://`` URL; a URL is echoed with its password masked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gridmap.errors import GridmapError
from gridmap.cli._common import (
    LAYER_CHOICES, _add_workspace, _date_text, _is_url, _open_workspace, _out, _parse_maps, _period_of,
)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's commands to `sub`, the ``gridmap`` command's subparsers."""
    p = sub.add_parser("init", help="create a workspace (a GeoPackage, or a schema of a PostGIS database), empty or "
                                    "with the illustrative sample")
    _add_workspace(p)
    p.add_argument("--sample", action="store_true",
                   help="fill it with the illustrative Gulou sample (made-up boundaries and records, not surveyed)")
    p.add_argument("--overwrite", "--force", dest="force", action="store_true",
                   help="replace an existing GeoPackage file (a database schema is never dropped by gridmap)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample generator")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("info", help="layers and row counts of a workspace")
    _add_workspace(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("category", help="list the report categories, or add one to the workspace")
    _add_workspace(p)
    p.add_argument("--add", nargs=2, metavar=("KEY", "ZH"), help="add a category: English key and zh-Hans label")
    p.add_argument("--en", help="English label of the category added")
    p.set_defaults(func=_cmd_category)

    p = sub.add_parser("alias", help="remember what a file's column means (HEADER=COLUMN), or list what is stored")
    _add_workspace(p)
    p.add_argument("layer", nargs="?", metavar="LAYER", help="the layer the files go into (omit to list all)")
    p.add_argument("pairs", nargs="*", metavar="HEADER=COLUMN", help="mappings to store, e.g. 网格名称=name")
    p.add_argument("--json", action="store_true", help='print {"aliases": [...]} (or {"stored": [...]})')
    p.set_defaults(func=_cmd_alias)

    p = sub.add_parser("quarantine", help="list the quarantined records with their reasons")
    _add_workspace(p)
    p.add_argument("--csv", type=Path, help="write them to a CSV file instead")
    p.add_argument("--layer", choices=LAYER_CHOICES, help="only the records meant for this layer")
    p.add_argument("--retry", action="store_true",
                   help="import the records again (after gridmap category --add, gridmap alias ...); "
                        "those that land leave the quarantine")
    p.add_argument("--json", action="store_true", help="with --retry: print the counts as one JSON object")
    p.set_defaults(func=_cmd_quarantine)

    p = sub.add_parser("copy", help="copy a workspace into a new one: GeoPackage to PostGIS, PostGIS to GeoPackage, "
                                    "or GeoPackage to GeoPackage (every layer, import log, quarantine, categories, "
                                    "aliases and metadata)")
    _add_workspace(p, "src", "the workspace to copy: a GeoPackage file or a postgresql:// URL")
    _add_workspace(p, "dst", "the new workspace: a GeoPackage file or a postgresql://USER@HOST:PORT/DB URL "
                             "(?schema=NAME); passwords through PGPASSWORD, ~/.pgpass or PGSERVICE")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing GeoPackage DST; a database DST must be a new or empty schema")
    p.add_argument("--json", action="store_true", help="print the rows copied per table as one JSON object")
    p.set_defaults(func=_cmd_copy)

    p = sub.add_parser("archive", help="write a layer's GPS fixes or reports to a GeoParquet archive, one folder a "
                                       "day (DIR/LAYER/date=YYYY-MM-DD/), for Dask and other engines to read a "
                                       "window of years of them")
    _add_workspace(p)
    p.add_argument("directory", type=Path, metavar="DIR", help="the archive's folder (created when missing)")
    p.add_argument("--layer", choices=("tracks", "reports"), default="tracks", help="the layer (default tracks)")
    p.add_argument("--from", dest="date_from", metavar="DATE", type=_date_text,
                   help="first day to archive, e.g. 2025-03-03 (Asia/Shanghai); default: the layer's first")
    p.add_argument("--to", dest="date_to", metavar="DATE", type=_date_text,
                   help="end of the period, exclusive: --to 2025-03-10 stops at the start of that day")
    p.add_argument("--json", action="store_true", help="print the days and rows written as one JSON object")
    p.set_defaults(func=_cmd_archive)


def _cmd_init(args: argparse.Namespace) -> int:
    from gridmap.storage import init_workspace  # deferred: pandas

    if not _is_url(args.workspace) and args.workspace.exists() and not args.force:
        raise GridmapError(f"{args.workspace} already exists; pass --overwrite to replace it "
                           "(its layers are lost), or give another path")
    with init_workspace(args.workspace, sample=args.sample, overwrite=args.force, seed=args.seed) as ws:
        counts = ws.counts()
    kind = "illustrative sample (made-up boundaries, not surveyed)" if args.sample else "empty"
    _out(f"created {kind} workspace {args.workspace}")
    _print_counts(counts)
    return 0


def _print_counts(counts: dict[str, int]) -> None:
    for layer, n in counts.items():
        _out(f"  {layer:<17} {n:>8}")


def _cmd_info(args: argparse.Namespace) -> int:
    with _open_workspace(args.workspace) as ws:
        info: dict[str, Any] = {"path": str(ws.path), "schema_version": ws.schema_version, "layers": ws.counts()}
    if args.json:
        _out(json.dumps(info, ensure_ascii=False))
    else:
        _out(f"{info['path']} (schema {info['schema_version']})")
        _print_counts(info["layers"])
    return 0


def _cmd_category(args: argparse.Namespace) -> int:
    with _open_workspace(args.workspace) as ws:
        if args.add:
            key, zh = args.add
            category = ws.add_category(key, zh, args.en)
            _out(f"added category {category.key} ({category.zh}, {category.en})")
            return 0
        table = ws.categories()
    for row in table.itertuples(index=False):
        _out(f"{row.key:<26} {row.zh:<10} {row.en}{'' if row.builtin else '  (added)'}")
    return 0


def _cmd_alias(args: argparse.Namespace) -> int:
    """Store header mappings of a layer in the workspace, or list the stored ones."""
    from gridmap.io.records import check_column_map  # deferred: GeoPandas
    from gridmap.model import layer_spec  # deferred: dataclasses, inspect and ast (~10 ms), kept off gridmap --help

    if args.layer is not None and "=" in args.layer:
        raise GridmapError(f"{args.layer!r} is a mapping, not a layer: gridmap alias WORKSPACE LAYER HEADER=COLUMN")
    if args.pairs and args.layer is None:
        raise GridmapError("name the layer before the mappings: gridmap alias WORKSPACE LAYER HEADER=COLUMN")
    layer = None if args.layer is None else layer_spec(args.layer).name
    pairs = _parse_maps(args.pairs, option="gridmap alias WORKSPACE LAYER")
    if layer is not None:
        check_column_map(layer, pairs)  # every pair checked before one is stored
    with _open_workspace(args.workspace) as ws:
        for source, target in pairs.items():
            ws.add_column_alias(str(layer), source, target)
        table = ws.column_aliases(layer)
    rows = [{"layer": r.layer, "source": r.source, "target": r.target} for r in table.itertuples(index=False)]
    if pairs:
        stored = set(check_column_map(str(layer), pairs))
        rows = [r for r in rows if r["source"] in stored]
    _print_aliases(rows, layer=layer, stored=bool(pairs), as_json=args.json)
    return 0


def _print_aliases(rows: list[dict[str, str]], *, layer: str | None, stored: bool, as_json: bool) -> None:
    """The aliases `rows`: those just stored (`stored`) or those listed, as text or one JSON object."""
    if as_json:
        _out(json.dumps({"stored" if stored else "aliases": rows}, ensure_ascii=False))
        return
    if not rows:
        _out("no column aliases stored" + ("" if layer is None else f" for {layer}"))
    for row in rows:
        _out(f"{'stored ' if stored else ''}{row['layer']:<17} {row['source']} → {row['target']}")


def _cmd_quarantine(args: argparse.Namespace) -> int:
    if args.retry:
        return _retry_quarantine(args)
    with _open_workspace(args.workspace) as ws:
        frame = ws.quarantine()
    if args.layer:
        frame = frame[frame["layer"] == args.layer]
    if args.csv:
        from gridmap.export.spreadsheet import write_csv  # deferred: pandas

        write_csv(frame, args.csv)
        _out(f"wrote {len(frame)} quarantined records to {args.csv}")
    else:
        for row in frame.itertuples(index=False):
            _out(f"{row.layer}\t{row.source}#{row.record}\t{row.reason}\t{row.detail}")
    return 0


def _retry_quarantine(args: argparse.Namespace) -> int:
    from gridmap.io.retry import retry_quarantine  # deferred: GeoPandas

    summary = retry_quarantine(args.workspace, layer=args.layer)
    _out(json.dumps(summary.to_dict(), ensure_ascii=False) if args.json else summary.describe())
    return 0


def _cmd_copy(args: argparse.Namespace) -> int:
    """Copy every table of SRC into DST (``gridmap copy``)."""
    from gridmap.storage.copy import copy_workspace  # deferred: pandas, GeoPandas

    copied = copy_workspace(args.src, args.dst, overwrite=args.overwrite)
    if args.json:
        _out(json.dumps(copied, ensure_ascii=False))
        return 0
    _out(f"copied {copied['src']} to {copied['dst']}")
    _print_counts(copied["rows"])
    return 0


def _cmd_archive(args: argparse.Namespace) -> int:
    """Write the layer's rows of the period to the GeoParquet archive (``gridmap archive``)."""
    from gridmap.archive import archive_layer  # deferred: pandas, GeoPandas

    if args.date_from is not None or args.date_to is not None:
        if _period_of(args) is None:
            raise GridmapError(f"--from {args.date_from!r} / --to {args.date_to!r}: give days such as 2025-03-03")
    with _open_workspace(args.workspace) as ws:
        done = archive_layer(ws, args.directory, layer=args.layer, start=args.date_from, end=args.date_to)
    if args.json:
        _out(json.dumps(done.to_dict(), ensure_ascii=False))
        return 0
    if not done.days:
        _out(f"no {done.layer} row in the period: nothing archived")
        return 0
    _out(f"archived {done.rows:,} {done.layer} row(s) of {len(done.days)} day(s) ({done.days[0]} to {done.days[-1]}) "
         f"in {done.directory / done.layer}")
    return 0
