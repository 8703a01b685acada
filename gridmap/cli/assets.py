"""The ``assets`` command: the offline asset cache (Leaflet and the other scripts maps need)."""

from __future__ import annotations

import argparse

from gridmap.cli._common import _out


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's command (``assets fetch``) to `sub`, the ``gridmap`` command's subparsers."""
    p = sub.add_parser("assets", help="the offline asset cache (Leaflet and the other scripts maps need)")
    assets = p.add_subparsers(dest="assets_command", required=True, metavar="ACTION")
    f = assets.add_parser("fetch", help="download the scripts and style sheets into the cache (needs the network)")
    f.add_argument("--from", dest="source", choices=("cdn", "npm"), default="cdn",
                   help="the CDNs folium uses (default) or the npm registry's package tarballs")
    f.add_argument("--registry", default="https://registry.npmjs.org", help="npm registry to use with --from npm")
    f.set_defaults(func=_cmd_assets_fetch)


def _cmd_assets_fetch(args: argparse.Namespace) -> int:
    # deferred: gridmap.maps.assets loads the network stack (urllib, http, ssl), which `gridmap --help` need not
    from gridmap.maps.assets import fetch_assets

    written = fetch_assets(source=args.source, registry=args.registry)
    _out(f"asset cache filled from {args.source}: {len(written)} files")
    return 0
