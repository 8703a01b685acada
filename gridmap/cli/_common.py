"""What every command module of :mod:`gridmap.cli` shares: output, failures, common options, the workspace.

The underscore names here are for the modules of ``gridmap.cli`` only; nothing outside the package uses them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from gridmap.errors import GridmapError

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.storage import WorkspaceStore as Workspace

#: The help of every command's WORKSPACE argument.
WORKSPACE_HELP = ("the workspace: a GeoPackage file (e.g. gulou.gpkg) or a PostGIS database URL "
                  "postgresql://USER@HOST:PORT/DB (?schema=NAME, default gridmap); give the password through "
                  "PGPASSWORD, ~/.pgpass or PGSERVICE, never on the command line")

LAYER_CHOICES = (
    "subdistrict", "communities", "grids", "areas", "streets", "wall",
    "demolition_zones", "targets", "reports", "rectifications", "tracks", "spotchecks",
)


def _masked(text: str) -> str:
    """`text` with the password of any ``postgresql://`` URL in it masked (gridmap.storage.url.mask_url)."""
    if "postgres" not in text.lower():
        return text  # nothing to mask: gridmap.storage (pandas) stays unloaded
    from gridmap.storage.url import mask_url  # deferred: pandas (gridmap.storage loads it), only for a URL

    return mask_url(text)


def _out(text: str) -> None:
    """One line of the command's output on stdout (a database URL's password masked)."""
    sys.stdout.write(_masked(text) + "\n")


def _fail(message: str, *, as_json: bool, status: int = 2) -> int:
    """Say why the command failed: one line on stderr and, with --json, one JSON object on stdout.

    A database URL's password in `message` is masked in both.
    """
    message = _masked(message)
    sys.stderr.write(f"gridmap: error: {message}\n")
    if as_json:
        _out(json.dumps({"error": message, "exit": status}, ensure_ascii=False))
    return status


class _UsageError(SystemExit):
    """A bad command line (unknown option, bad choice): exit status 2, the message kept for ``--json``."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(2)
        self.message = message
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """argparse, except that a bad command line raises :class:`_UsageError` instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message, self.format_usage())


def _configure_logging(verbosity: int) -> None:
    """Log warnings only (-v: info, -vv: debug), to stderr."""
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _parse_settings(pairs: Sequence[str] | None) -> dict[str, object]:
    """``COLUMN=VALUE`` pairs of ``--set`` as a dict; the first ``=`` splits, so a value may hold one."""
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


def _require_positive_metres(option: str, value: float | None) -> None:
    """Refuse a size option of zero or less (None means the library's default)."""
    if value is not None and value <= 0:
        raise GridmapError(f"{option} must be a positive number of metres, got {value}")


def _date_text(text: str) -> str:
    """An argparse type: `text` unchanged when it is a date or time, else the reason (``argument --from: ...``)."""
    from gridmap.analysis.selection import as_time  # deferred: pandas

    try:
        as_time(text)
    except GridmapError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or time; write it like 2025-03-01 or "
                                         "'2025-03-01 08:00'") from None
    return text


def _refuse_empty_period(args: argparse.Namespace) -> None:
    """Refuse a period whose start is not before its end (--from/--to; --since/--until in ``gridmap route``):
    every command would otherwise read nothing and show "no data" for a typing slip."""
    start, end = getattr(args, "date_from", None), getattr(args, "date_to", None)
    if start is None or end is None:
        return
    from gridmap.analysis.selection import as_time  # deferred: pandas

    first, last = as_time(start), as_time(end)
    if first is not None and last is not None and not first < last:
        names = ("--since", "--until") if getattr(args, "command", None) == "route" else ("--from", "--to")
        raise GridmapError(f"the period is empty: {names[0]} {start} is not before {names[1]} {end}; the period is"
                           f" [{names[0]}, {names[1]}), so give the earlier day first")


def _add_period_and_lang(p: argparse.ArgumentParser) -> None:
    """The --from/--to period ([from, to), Asia/Shanghai unless a zone is given) and --lang options."""
    p.add_argument("--from", dest="date_from", metavar="DATE", type=_date_text,
                   help="first day (or time) to count, e.g. 2025-03-03 (Asia/Shanghai unless a zone is given)")
    p.add_argument("--to", dest="date_to", metavar="DATE", type=_date_text,
                   help="end of the period, exclusive: --to 2025-03-10 stops at the start of that day")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of labels")


def _add_subdistrict(p: argparse.ArgumentParser) -> None:
    """--subdistrict CODE: read only one subdistrict's rows (pushed down to the store's SQL)."""
    p.add_argument("--subdistrict", metavar="CODE",
                   help="only the rows of this subdistrict (its 9-digit code, e.g. 610802001): for a workspace "
                        "holding many offices, read through the database's indexes")


def _add_page_options(p: argparse.ArgumentParser) -> None:
    """--offline/--online and --no-redact for a command's --html page, as for `gridmap report`."""
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--offline", dest="offline", action="store_true", default=True,
                      help="the --html page holds every script and style (default; needs `gridmap assets fetch`)")
    mode.add_argument("--online", dest="offline", action="store_false",
                      help="the --html page loads Leaflet from the CDNs instead")
    p.add_argument("--no-redact", action="store_true",
                   help="keep names and phone numbers in the --html page (internal use only; the page says so)")


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
        from gridmap.pages.common import check_assets  # deferred: GeoPandas, SciPy, branca

        check_assets(None)


def _save_page(args: argparse.Namespace, fmap: Any) -> None:
    """Write the folium map `fmap` to ``--html`` as the command's options say (offline, lang, redact)."""
    from gridmap.pages.common import save_page  # deferred: GeoPandas, SciPy, branca

    out = save_page(fmap, args.html, offline=args.offline, lang=args.lang, redact=not args.no_redact)
    _out(f"wrote {out}")


def workspace_location(text: str) -> str | Path:
    """An argparse type: a ``postgresql://`` URL as it is (a Path would fold its ``//``), else a path.

    Examples
    --------
    >>> workspace_location("postgresql://office@db:5432/city?schema=gulou")
    'postgresql://office@db:5432/city?schema=gulou'
    >>> isinstance(workspace_location("gulou.gpkg"), Path)
    True
    """
    if text.strip().lower().startswith(("postgresql://", "postgres://")):
        return text.strip()
    return Path(text)


def _add_workspace(p: argparse.ArgumentParser, name: str = "workspace", text: str = WORKSPACE_HELP) -> None:
    """The positional WORKSPACE argument: a GeoPackage path or a postgresql:// URL."""
    p.add_argument(name, type=workspace_location, metavar=name.upper(), help=text)


def _is_url(location: str | Path) -> bool:
    """Whether the command's workspace is a database URL (not a file: no file checks apply)."""
    return isinstance(location, str)


def _open_workspace(location: str | Path) -> Workspace:
    """The workspace at `location` (a GeoPackage path or a postgresql:// URL), opened for the command."""
    from gridmap.storage import open_workspace  # deferred: pandas

    return open_workspace(location)


def _is_illustrative(ws: Workspace) -> bool:
    """Whether the workspace holds the illustrative sample (its maps say so)."""
    return ws.meta.get("illustrative") == "true"


def _period_of(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """The period of --from/--to as times, when one is given and both are readable (else None: the analysis then
    reads every row and refuses a bad date as before)."""
    import pandas as pd  # deferred: pandas
    from gridmap.analysis.selection import as_time  # deferred: pandas

    try:
        start, end = as_time(args.date_from), as_time(args.date_to)
    except GridmapError:
        return None
    if (start is None and end is None) or start is pd.NaT or end is pd.NaT:
        return None
    return start, end


def _read_layer(ws: Workspace, args: argparse.Namespace, name: str, *, period: str = "none",
                near_m: float | None = None, or_first: bool = True) -> Any:
    """Layer `name` as the command needs it, read through the store's indexes: only the rows of --subdistrict
    (when the command has it and it is given; within `near_m` metres of its grids' box when given), and with
    `period` ``"period"`` only those of [--from, --to), with ``"since"`` those from --from on (a report's
    rectifications come after it); ``"none"``: every row.

    A period without a row gives the layer's first row (:func:`gridmap.storage.layers.read_part`), so that
    an empty layer (no data) stays told from an empty period; with `or_first` False, no row.
    """
    from gridmap.storage.layers import read_part  # deferred: pandas

    bounds = _period_of(args) if period != "none" else None
    start, end = (None, None) if bounds is None else (bounds[0], bounds[1] if period == "period" else None)
    return read_part(ws, name, start=start, end=end, subdistrict=getattr(args, "subdistrict", None), near_m=near_m,
                     or_first=or_first)


def _reports_in(ws: Workspace, args: argparse.Namespace) -> Any:
    """The workspace's reports in [--from, --to), of the --category given, with a time.

    Only the period's reports are read (the store's ``read_window``, through its time index): the commands that
    call this use no report outside it.
    """
    from gridmap.analysis.selection import select_reports  # deferred: pandas

    reports = _read_layer(ws, args, "reports", period="period")
    return select_reports(reports, start=args.date_from, end=args.date_to, categories=getattr(args, "category", None))


def _add_archive_options(p: argparse.ArgumentParser, option: str, layer: str) -> None:
    """``option DIR`` (read `layer` from a GeoParquet archive instead of the workspace) and --scheduler/--workers."""
    p.add_argument(option, type=Path, metavar="DIR",
                   help=f"read the {layer} of the window from this archive (written by gridmap archive WORKSPACE DIR "
                        f"--layer {layer} --from DAY --to DAY) with Dask, instead of from the workspace")
    p.add_argument("--scheduler", metavar="threads|processes|synchronous|tcp://HOST:PORT",
                   help=f"with {option}: who computes: threads (default) or processes on this machine, Dask's "
                        "synchronous scheduler, or the address of a running `dask scheduler`")
    p.add_argument("--workers", type=int, metavar="N",
                   help=f"with {option} and --scheduler threads or processes: the local Dask workers (default: one "
                        "worker of a thread per core for threads, one process per core for processes)")


def _check_archive_options(args: argparse.Namespace, option: str, layer: str) -> Path | None:
    """Refuse --scheduler/--workers without the archive, a bad pair, or a folder that holds no day of `layer`.

    Returns the archive's folder, or None when the layer is read from the workspace.
    """
    directory = getattr(args, option.lstrip("-").replace("-", "_"))
    if directory is None:
        if args.scheduler is not None or args.workers is not None:
            raise GridmapError(f"--scheduler and --workers choose who reads an archive: give {option} DIR, an archive "
                               f"written by gridmap archive WORKSPACE DIR --layer {layer} --from DAY --to DAY")
        return None
    from gridmap.archive import archive_days  # deferred: GeoPandas
    from gridmap.jobs.scheduler import check_scheduler  # deferred: keeps the parser light

    check_scheduler(args.scheduler or "threads", args.workers)
    if not archive_days(directory, layer):
        raise GridmapError(f"{option} {directory} is not an archive of {layer} (no {layer}/date=YYYY-MM-DD folder in "
                           f"it): write one with gridmap archive WORKSPACE {directory} --layer {layer} "
                           "--from DAY --to DAY")
    return Path(directory)


def _scheduler_for(args: argparse.Namespace, archive: Path | None) -> Any:
    """The Dask scheduler of --scheduler/--workers for reading `archive` (nothing to start without one)."""
    if archive is None:
        return nullcontext()
    from gridmap.jobs.scheduler import dask_scheduler  # deferred: keeps the parser light

    return dask_scheduler(args.scheduler or "threads", args.workers)
