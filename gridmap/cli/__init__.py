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

Every WORKSPACE argument is a GeoPackage file or a ``postgresql://`` URL (kept as typed, not made a
path); every line the command prints, a failure's included, has a URL's password masked (``***``).

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
141  the reader of the output went away (``gridmap coverage WS | head -1``): nothing more is
   printed, no message (128 + SIGPIPE, as other command-line tools end)

Layout
------
``gridmap.cli`` assembles the parser from one module per command group, each with an
``add_parsers(subparsers)`` and the handlers of its commands: :mod:`~gridmap.cli.workspace`
(init, info, category, alias, quarantine, copy), :mod:`~gridmap.cli.access` (grant),
:mod:`~gridmap.cli.imports` (import),
:mod:`~gridmap.cli.analysis` (validate, coverage, heatmap, hotspots), :mod:`~gridmap.cli.route` (route),
:mod:`~gridmap.cli.pages`
(briefing, report, scoreboard, spotcheck), :mod:`~gridmap.cli.assets` and :mod:`~gridmap.cli.demo`.
What they share (output, failures, common options, opening the workspace) is in ``_common``.
Handlers import the library modules that load pandas, GeoPandas, folium or matplotlib inside the
function (each such import says so), so that ``gridmap --help`` loads none of them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from gridmap.errors import GridmapError
from gridmap.cli import access, analysis, assets, demo, imports, pages, route, workspace
from gridmap.cli._common import _configure_logging, _fail, _Parser, _refuse_empty_period, _UsageError

__all__ = ["build_parser", "main"]

COMMAND_MODULES = (workspace, access, imports, analysis, route, pages, assets, demo)
"""The command groups, in the order ``gridmap --help`` lists their commands."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gridmap`` command.

    Examples
    --------
    >>> args = build_parser().parse_args(["coverage", "gulou.gpkg", "--radius", "25"])
    >>> args.command, str(args.workspace), args.radius, args.lang
    ('coverage', 'gulou.gpkg', 25.0, 'zh')
    """
    parser = _Parser(
        prog="gridmap",
        description="Grid management of sanitation campaigns: workspace, imports, checks, maps.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def _reader_gone() -> int:
    """The output's reader closed the pipe: send what is left to /dev/null (so the exit flush stays quiet)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a file descriptor
        pass
    return 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    With ``--json`` a failure, a bad command line included, also prints one JSON object on stdout,
    ``{"error": "...", "exit": 2}``.

    Examples
    --------
    >>> main(["info", "no-such-workspace.gpkg", "--json"])  # doctest: +ELLIPSIS
    {"error": "...", "exit": 2}
    2
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
        _refuse_empty_period(args)
        status = func(args)
        sys.stdout.flush()  # a closed pipe shows here, not as a message at exit
        return status
    except BrokenPipeError:
        return _reader_gone()
    except GridmapError as exc:
        return _fail(str(exc), as_json=as_json)
    except FileNotFoundError as exc:
        return _fail(f"{exc.filename or exc}: no such file", as_json=as_json)
    except OSError as exc:  # unreadable: no permission, a folder given for a file
        return _fail(f"{exc.filename or ''}: cannot be read ({exc.strerror or exc})".lstrip(": "), as_json=as_json)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.stderr.write("gridmap: interrupted\n")
        return 130
