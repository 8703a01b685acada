"""Copying a workspace from one store to another (``gridmap copy SRC DST``), losslessly.

GeoPackage → PostGIS, PostGIS → GeoPackage, GeoPackage → GeoPackage: every layer, the import log,
the quarantine, the categories added, the column aliases and the metadata go through the
:class:`~gridmap.storage.WorkspaceStore` interface only (:meth:`~gridmap.storage.WorkspaceStore.read_layer`,
:meth:`~gridmap.storage.WorkspaceStore.imports`, ... on the source;
:meth:`~gridmap.storage.WorkspaceStore.restore`, :meth:`~gridmap.storage.WorkspaceStore.add_category` and
:meth:`~gridmap.storage.WorkspaceStore.add_column_alias` on the new store), so a copy read back gives equal
tables whichever stores are at either end.

Examples
--------
>>> import pathlib, tempfile
>>> from gridmap.storage import init_workspace, open_workspace
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> init_workspace(tmp / "a.gpkg", sample=True).close()
>>> copied = copy_workspace(tmp / "a.gpkg", tmp / "b.gpkg")
>>> copied["rows"]["reports"] > 0
True
>>> with open_workspace(tmp / "a.gpkg") as a, open_workspace(tmp / "b.gpkg") as b:
...     a.read_layer("reports").equals(b.read_layer("reports"))
True
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from gridmap.errors import WorkspaceError
from gridmap.model import LAYERS
from gridmap.storage.base import ALIASES_TABLE, CATEGORIES_TABLE, IMPORTS_TABLE, QUARANTINE_TABLE, WorkspaceStore
from gridmap.storage.stores import describe_location, init_workspace, open_workspace
from gridmap.storage.url import is_database_url

__all__ = ["copy_workspace", "read_tables"]

logger = logging.getLogger(__name__)


def read_tables(store: WorkspaceStore) -> dict[str, pd.DataFrame]:
    """Every table of `store` in the form :meth:`~gridmap.storage.WorkspaceStore.restore` takes.

    Each layer of :data:`gridmap.model.LAYERS` as :meth:`read_layer` gives it, the import log
    (:data:`IMPORTS_TABLE`), the quarantine with its fids and options (:data:`QUARANTINE_TABLE`), the
    categories added to the workspace (:data:`CATEGORIES_TABLE`: ``key``, ``zh``, ``en``) and the column
    aliases (:data:`ALIASES_TABLE`).
    """
    tables = {name: store.read_layer(name) for name in LAYERS}
    tables[IMPORTS_TABLE] = store.imports()
    tables[QUARANTINE_TABLE] = store.quarantine_with_options()
    known = store.categories()
    added = known[~known["builtin"].astype(bool)] if len(known) else known
    tables[CATEGORIES_TABLE] = added.loc[:, ["key", "zh", "en"]].reset_index(drop=True) if len(added) else \
        pd.DataFrame({"key": [], "zh": [], "en": []}, dtype=object)
    tables[ALIASES_TABLE] = store.column_aliases()
    return tables


def _new_store(dst: str | PathLike[str], *, overwrite: bool) -> WorkspaceStore:
    """The destination, created empty: a GeoPackage (replaced with `overwrite`) or a new PostGIS schema."""
    if not is_database_url(dst) and Path(dst).exists() and not overwrite:
        raise WorkspaceError(f"{describe_location(dst)} already exists; pass overwrite=True (gridmap copy "
                             "--overwrite) to replace it, or give another path")
    return init_workspace(dst, overwrite=overwrite)


def _write_tables(target: WorkspaceStore, tables: dict[str, pd.DataFrame], meta: dict[str, str]) -> None:
    target.restore({name: frame for name, frame in tables.items() if name in LAYERS
                    or name in (IMPORTS_TABLE, QUARANTINE_TABLE)}, meta)
    for row in tables[CATEGORIES_TABLE].itertuples(index=False):
        target.add_category(str(row.key), str(row.zh), None if pd.isna(row.en) else str(row.en))
    for row in tables[ALIASES_TABLE].itertuples(index=False):
        target.add_column_alias(str(row.layer), str(row.source), str(row.target))


def copy_workspace(src: str | PathLike[str], dst: str | PathLike[str], *, overwrite: bool = False) -> dict[str, Any]:
    """Copy the workspace `src` into a new workspace `dst` (``gridmap copy SRC DST``).

    Parameters
    ----------
    src : str or path-like
        A GeoPackage or a ``postgresql://`` URL (its password, if any, is never shown).
    dst : str or path-like
        The new workspace: a GeoPackage file, or ``postgresql://USER@HOST:PORT/DB?schema=NAME`` naming a
        schema that holds no gridmap workspace yet (gridmap never drops a schema).
    overwrite : bool
        Replace an existing GeoPackage `dst` (``--overwrite``).

    Returns
    -------
    dict
        ``src`` and ``dst`` (masked), ``rows``: rows copied per layer, ``quarantine``,
        :data:`IMPORTS_TABLE`, :data:`CATEGORIES_TABLE` (added ones) and :data:`ALIASES_TABLE`.

    Raises
    ------
    WorkspaceError
        `src` is no workspace, `dst` exists (a file without `overwrite`, or a schema), or `src` and
        `dst` are one location. A copy that fails half-way removes the GeoPackage it created.
    """
    if describe_location(src) == describe_location(dst) or (
            not is_database_url(src) and not is_database_url(dst) and Path(src).resolve() == Path(dst).resolve()):
        raise WorkspaceError(f"gridmap copy needs two workspaces; SRC and DST are both {describe_location(src)}")
    with open_workspace(src) as source:
        tables, meta = read_tables(source), source.meta
    target = _new_store(dst, overwrite=overwrite)
    try:
        _write_tables(target, tables, meta)
        rows = {**target.counts(), IMPORTS_TABLE: len(target.imports()),
                CATEGORIES_TABLE: len(tables[CATEGORIES_TABLE]), ALIASES_TABLE: len(target.column_aliases())}
    except BaseException:
        target.close()
        if not is_database_url(dst):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{Path(dst)}{suffix}").unlink(missing_ok=True)
        raise
    target.close()
    logger.info("copied %s to %s", describe_location(src), describe_location(dst))
    return {"src": describe_location(src), "dst": describe_location(dst), "rows": rows}
