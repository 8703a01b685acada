"""The command that fences an office to its own rows of a PostGIS workspace: ``grant``.

The fence is PostgreSQL's row-level security (:mod:`gridmap.storage.postgis`), not gridmap: once
granted, the role reads and writes only its office's rows whatever client it uses (gridmap, psql, QGIS).
"""

from __future__ import annotations

import argparse
import json

from gridmap.errors import WorkspaceError
from gridmap.cli._common import _add_workspace, _is_url, _out

GRANT_HELP = ("create (or update) a PostgreSQL role that reads and writes only the rows of one office "
              "(subdistrict) of a PostGIS workspace, enforced by the database's row-level security; or, with "
              "--read-all, a district role that reads every row and writes none. Run it as the workspace's owner. "
              "gridmap gives the role no password: set one with ALTER ROLE NAME PASSWORD '...' (psql: \\password "
              "NAME) or let it log in by peer or certificate authentication")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's command to `sub`, the ``gridmap`` command's subparsers."""
    p = sub.add_parser("grant", help=GRANT_HELP, description=GRANT_HELP)
    _add_workspace(p, "url", "the PostGIS workspace, postgresql://OWNER@HOST:PORT/DB[?schema=NAME]")
    p.add_argument("--role", required=True, metavar="NAME",
                   help="the role to create or update (lower-case letters, digits and _, e.g. office_610802001)")
    p.add_argument("--office", metavar="CODE", help="the 9-digit code of the subdistrict whose rows the role may "
                                                    "read and write, e.g. 610802001")
    p.add_argument("--read-all", action="store_true",
                   help="instead of --office: a district role that reads every row and writes none")
    p.add_argument("--json", action="store_true", help="print what was done as one JSON object")
    p.set_defaults(func=_cmd_grant)


def _cmd_grant(args: argparse.Namespace) -> int:
    """Create or update the role (``gridmap grant``)."""
    from gridmap.storage.stores import missing_driver_error  # deferred: pandas

    if not _is_url(args.url):
        raise WorkspaceError(f"{args.url} is a GeoPackage, which has no roles: grant works on a PostGIS workspace "
                             "(postgresql://OWNER@HOST/DB); copy it there with gridmap copy")
    try:
        from gridmap.storage.postgis import grant_office  # deferred: psycopg, only for a PostGIS workspace
    except ImportError as exc:
        raise missing_driver_error(exc) from None
    done = grant_office(args.url, role=args.role, office=args.office, read_all=args.read_all)
    if args.json:
        _out(json.dumps(done.to_dict(), ensure_ascii=False))
        return 0
    what = "reads every row, writes none" if done.read_all else f"reads and writes only office {done.office}'s rows"
    _out(f"role {done.role} {'created' if done.created else 'updated'} in {args.url}: {what}")
    _out(f"it has no password from gridmap: set one with ALTER ROLE {done.role} PASSWORD '...' (psql: \\password "
         f"{done.role}), or use peer or certificate authentication")
    return 0
