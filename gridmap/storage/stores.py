"""Which store a workspace location names: a GeoPackage path, or a ``postgresql://`` URL for PostGIS.

:func:`open_workspace` and :func:`init_workspace` are the ones gridmap's importer, jobs, pages and
command line call: they hand a ``postgresql://`` (or ``postgres://``) URL to the PostGIS store
(:mod:`gridmap.storage.postgis`, loaded only then, so a GeoPackage user never needs psycopg) and
anything else to the GeoPackage store (:mod:`gridmap.storage.gpkg`). A location is shown to people
only through :func:`describe_location`, which masks a password in a URL.

Examples
--------
>>> describe_location("postgresql://office:s3cret@db.example/city?schema=gulou")
'postgresql://office:***@db.example/city?schema=gulou'
>>> import pathlib
>>> describe_location(pathlib.Path("gulou.gpkg"))
'gulou.gpkg'
"""

from __future__ import annotations

from os import PathLike, fspath
from typing import Any

from gridmap.errors import GridmapError, WorkspaceError
from gridmap.storage.gpkg import init_workspace as init_geopackage
from gridmap.storage.gpkg import open_workspace as open_geopackage
from gridmap.storage.base import WorkspaceStore
from gridmap.storage.url import is_database_url, mask_url

__all__ = ["open_workspace", "init_workspace", "describe_location", "missing_driver_error", "POSTGIS_EXTRA_HINT"]

#: How to install what a PostGIS workspace needs (psycopg 3), named by every error about it.
POSTGIS_EXTRA_HINT = "pip install 'gridmap[postgis]'"


def describe_location(location: Any) -> str:
    """A workspace location as it may be shown to anyone: a path as is, a URL with its password masked."""
    if isinstance(location, (str, PathLike)):
        return mask_url(fspath(location))
    path = getattr(location, "path", None)  # an open store: its path (a PostGIS store's prints masked)
    return mask_url(str(path if path is not None else location))


def missing_driver_error(exc: ImportError) -> WorkspaceError:
    """The error for a ``postgresql://`` location when psycopg (or the PostGIS store) cannot be imported."""
    return WorkspaceError(f"a postgresql:// workspace needs psycopg 3 ({exc.name or exc} is missing): "
                          f"{POSTGIS_EXTRA_HINT}")


def _is_missing_driver(exc: ImportError) -> bool:
    """Whether `exc` says psycopg (or the PostGIS store itself) is not installed, not a bug inside it."""
    name = exc.name or ""
    return name.split(".")[0] in ("psycopg", "psycopg_binary", "psycopg_c") or name == "gridmap.storage.postgis"


def _masked_error(exc: GridmapError) -> GridmapError:
    """`exc` itself, or one of its type whose message has the URL's password masked."""
    text = str(exc)
    return exc if mask_url(text) == text else type(exc)(mask_url(text))


def _open_postgis(url: str) -> WorkspaceStore:
    try:
        from gridmap.storage.postgis import open_postgis  # deferred: psycopg, only for a postgresql:// URL
    except ImportError as exc:
        if _is_missing_driver(exc):
            raise missing_driver_error(exc) from None
        raise
    try:
        store: WorkspaceStore = open_postgis(url)
    except GridmapError as exc:
        raise _masked_error(exc) from None
    return store


def _init_postgis(url: str, *, sample: bool, seed: int) -> WorkspaceStore:
    try:
        from gridmap.storage.postgis import init_postgis  # deferred: psycopg, only for a postgresql:// URL
    except ImportError as exc:
        if _is_missing_driver(exc):
            raise missing_driver_error(exc) from None
        raise
    try:
        store: WorkspaceStore = init_postgis(url, sample=sample, seed=seed)
    except GridmapError as exc:
        raise _masked_error(exc) from None
    return store


def open_workspace(location: str | PathLike[str], *, busy_timeout: float = 10.0) -> WorkspaceStore:
    """Open an existing workspace: a GeoPackage file, or a PostGIS schema named by a ``postgresql://`` URL.

    Parameters
    ----------
    location : str or path-like
        The ``.gpkg`` file, or ``postgresql://USER@HOST:PORT/DB`` (``?schema=NAME``, default ``gridmap``;
        the password from ``PGPASSWORD``, ``~/.pgpass`` or a ``PGSERVICE`` entry, not typed in the URL).
    busy_timeout : float
        The GeoPackage's write wait, seconds (:func:`gridmap.storage.gpkg.open_workspace`); a PostGIS
        server queues writers itself, so it is not used for a URL.

    Returns
    -------
    WorkspaceStore

    Raises
    ------
    WorkspaceError
        When the location is no gridmap workspace (a URL's password masked in the message), or psycopg
        is missing for a URL (``pip install 'gridmap[postgis]'``).
    """
    if is_database_url(location):
        return _open_postgis(fspath(location))
    return open_geopackage(location, busy_timeout=busy_timeout)


def init_workspace(location: str | PathLike[str], *, sample: bool = False, overwrite: bool = False,
                   seed: int = 0) -> WorkspaceStore:
    """Create a workspace with every layer of the model: a GeoPackage file, or a PostGIS schema for a URL.

    Parameters
    ----------
    location : str or path-like
        The ``.gpkg`` file to create, or ``postgresql://USER@HOST:PORT/DB`` (``?schema=NAME``).
    sample : bool
        Fill the layers with :func:`gridmap.sample.sample_layers` (illustrative data, not surveyed).
    overwrite : bool
        Replace an existing GeoPackage file. A database schema is never dropped by gridmap: for a URL
        an existing gridmap schema is refused whatever `overwrite` says (drop it yourself, or name
        another with ``?schema=``).
    seed : int
        Seed of the sample data.

    Returns
    -------
    WorkspaceStore

    Examples
    --------
    >>> import pathlib, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
    ...     ws.counts()["grids"]
    0
    >>> tmp.cleanup()
    """
    if is_database_url(location):
        return _init_postgis(fspath(location), sample=sample, seed=seed)
    return init_geopackage(location, sample=sample, overwrite=overwrite, seed=seed)
