"""Schema of the GeoPackage store: creating the file, reading its metadata, migrations."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import gridmap  # the hall, for __version__ (it imports nothing at run time)
from gridmap.errors import WorkspaceError, WorkspaceVersionError
from gridmap.model import LAYERS, LAYERS_ADDED_IN, COLUMNS_ADDED_IN, QUARANTINE_COLUMNS, SCHEMA_VERSION, Column
from gridmap.model.layers import INDEXES_ADDED_IN
from gridmap.storage.base import ALIASES_TABLE, CATEGORIES_TABLE, IMPORTS_TABLE, META_TABLE, QUARANTINE_TABLE
from gridmap.storage.gpkg._columns import (
    _ALIAS_COLUMNS, _CATEGORY_COLUMNS, _IMPORT_COLUMNS, _META_COLUMNS, _QUARANTINE_IMPORT, _busy_or_raise,
    _empty_frame, _ogr_geometry_type, _q, _utc_now_text,
)

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------------------
# creating a workspace
# ---------------------------------------------------------------------------------------------------------------


def _create_tables(path: Path) -> None:
    """Create every layer and table with GDAL (so each is registered in gpkg_contents)."""
    import pyogrio

    for spec in LAYERS.values():
        empty = _empty_frame(spec.columns, spec.geometry)
        options: dict[str, Any] = {"layer": spec.name, "use_arrow": True}
        if spec.geometry is not None:
            options.update(geometry_type=_ogr_geometry_type(spec.geometry))
        pyogrio.write_dataframe(empty, path, **options)
    pyogrio.write_dataframe(_empty_frame((*QUARANTINE_COLUMNS, _QUARANTINE_IMPORT), None), path,
                            layer=QUARANTINE_TABLE, use_arrow=True)
    pyogrio.write_dataframe(_empty_frame(_IMPORT_COLUMNS, None), path, layer=IMPORTS_TABLE, use_arrow=True)
    pyogrio.write_dataframe(_empty_frame(_META_COLUMNS, None), path, layer=META_TABLE, use_arrow=True)
    pyogrio.write_dataframe(_empty_frame(_CATEGORY_COLUMNS, None), path, layer=CATEGORIES_TABLE, use_arrow=True)
    pyogrio.write_dataframe(_empty_frame(_ALIAS_COLUMNS, None), path, layer=ALIASES_TABLE, use_arrow=True)


def subdistrict_index_ddl(stored: int) -> list[str]:
    """``CREATE INDEX`` of every subdistrict index added after schema `stored` (0: all), up to this gridmap's.

    Each is a B-tree index on the expression ``substr(col, 1, 9)`` (SQLite indexes on expressions,
    https://www.sqlite.org/expridx.html), which serves exactly the condition ``substr(col, 1, 9) = ?``
    that reads one subdistrict's rows; the pairs are the frozen :data:`gridmap.model.layers.INDEXES_ADDED_IN`.

    Examples
    --------
    >>> print(subdistrict_index_ddl(3)[-2])
    CREATE INDEX IF NOT EXISTS "ix_reports_grid_code_9" ON "reports" (substr("grid_code", 1, 9))
    >>> subdistrict_index_ddl(4)
    []
    """
    return [f"CREATE INDEX IF NOT EXISTS {_q(f'ix_{layer}_{column}_9')} ON {_q(layer)} (substr({_q(column)}, 1, 9))"
            for version, pairs in sorted(INDEXES_ADDED_IN.items()) if stored < version <= SCHEMA_VERSION
            for layer, column in pairs]


def _finish_schema(path: Path, meta: Mapping[str, str]) -> None:
    """Unique and subdistrict indexes, metadata rows and WAL journaling, with Python's sqlite3."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        if con.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise WorkspaceError(f"cannot switch {path} to WAL journaling; is it on a network drive? use a local disk")
        con.execute("BEGIN IMMEDIATE")
        for spec in LAYERS.values():
            cols = ", ".join(_q(k) for k in spec.key)
            con.execute(f"CREATE UNIQUE INDEX {_q(f'ux_{spec.name}_key')} ON {_q(spec.name)} ({cols})")
        con.execute(
            f"CREATE UNIQUE INDEX ux_quarantine_record ON {QUARANTINE_TABLE} (layer, source_digest, record, reason)"
        )
        con.execute(f"CREATE UNIQUE INDEX ux_meta_key ON {META_TABLE} (key)")
        con.execute(f"CREATE UNIQUE INDEX ux_categories_key ON {CATEGORIES_TABLE} (key)")
        con.execute(f"CREATE UNIQUE INDEX {_q(f'ux_{ALIASES_TABLE}_key')} ON {ALIASES_TABLE} (layer, source)")
        for statement in subdistrict_index_ddl(0):
            con.execute(statement)
        con.executemany(f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?)", list(meta.items()))
        con.execute("COMMIT")
    finally:
        con.close()


def _gridmap_version() -> str:
    version = getattr(gridmap, "__version__", None)
    if version is None:  # e.g. an editable install seen as a namespace package
        from importlib.metadata import version as dist_version

        version = dist_version("gridmap")
    return str(version)


def _remove_workspace_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            candidate.unlink()


def _build_workspace_file(target: Path, meta: Mapping[str, str]) -> None:
    """Build the workspace in a temporary folder under a plain name, then move it to `target`.

    GDAL (through pyogrio) reads ``!`` in a path as an archive separator: written
    straight to ``w/a!b.gpkg`` the layers would go to another file. Building
    elsewhere also means a failed build leaves nothing at `target`.
    """
    with tempfile.TemporaryDirectory(prefix="gridmap-init-") as tmp:
        built = Path(tmp) / "workspace.gpkg"
        _create_tables(built)
        _finish_schema(built, meta)  # closes its connection: the WAL is checkpointed and removed
        try:
            shutil.move(str(built), str(target))
        except BaseException:
            _remove_workspace_files(target)
            raise


# ---------------------------------------------------------------------------------------------------------------
# opening a workspace
# ---------------------------------------------------------------------------------------------------------------


def _read_meta(path: Path) -> dict[str, str]:
    """The workspace's meta table; refuses files that are not gridmap workspaces."""
    hint = f"create a workspace with `gridmap init {path}`"
    if not path.is_file():
        raise WorkspaceError(f"no workspace at {path}; {hint}")
    try:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            rows = con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall()
            tables = {r[0].lower() for r in con.execute("SELECT table_name FROM gpkg_contents")}
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc).lower():
            _busy_or_raise(exc, path)
        raise WorkspaceError(f"{path} is not a gridmap workspace ({exc}); {hint}") from None
    except sqlite3.DatabaseError as exc:
        raise WorkspaceError(f"{path} is not a gridmap workspace ({exc}); {hint}") from None
    base = [t for t in LAYERS if t not in LAYERS_ADDED_IN]  # later layers are added by _migrate
    missing = [t for t in (*base, QUARANTINE_TABLE, IMPORTS_TABLE, META_TABLE) if t.lower() not in tables]
    if missing:
        raise WorkspaceError(f"{path} is not a complete gridmap workspace: missing {', '.join(missing)}; {hint}")
    return {str(k): str(v) for k, v in rows}


def _check_version(meta: Mapping[str, str], path: Path) -> int:
    try:
        version = int(meta["schema_version"])
    except (KeyError, ValueError):
        raise WorkspaceError(
            f"{path} has no valid schema_version in {META_TABLE}; it is not a gridmap workspace:"
            f" create one with `gridmap init`"
        ) from None
    if version > SCHEMA_VERSION:
        raise WorkspaceVersionError(
            f"{path} was written by a newer gridmap (schema {version}); upgrade gridmap"
            f" (this one reads schema {SCHEMA_VERSION})"
        )
    return version


_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "datetime": "DATETIME"}


def _create_attribute_table(con: sqlite3.Connection, name: str, columns: Sequence[Column],
                            key: Sequence[str]) -> None:
    """Create a table without geometry with SQL, exactly as GDAL makes one (table, contents rows, triggers).

    GeoPackage 1.3 clause 2.4 ("Attributes"): a table registered in
    ``gpkg_contents`` with ``data_type = 'attributes'``; GDAL also keeps a
    feature count in ``gpkg_ogr_contents`` with two triggers, as it does for
    the ``rectifications`` table of a new workspace. `key` gets a unique index.
    """
    cols = ", ".join(f"{_q(c.name)} {_SQL_TYPES[c.dtype]}" for c in columns)
    con.execute(f'CREATE TABLE {_q(name)} ( "fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, {cols})')
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, srs_id)"
                " VALUES (?, 'attributes', ?, '', ?, 0)", (name, name, _utc_now_text()))
    con.execute("INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, 0)", (name,))
    literal = name.replace("'", "''")
    for event, sign in (("INSERT", "+"), ("DELETE", "-")):
        trigger = _q(f"trigger_{event.lower()}_feature_count_{name}")
        con.execute(f"CREATE TRIGGER {trigger} AFTER {event} ON {_q(name)} BEGIN UPDATE gpkg_ogr_contents"
                    f" SET feature_count = feature_count {sign} 1 WHERE lower(table_name) = lower('{literal}'); END")
    keys = ", ".join(_q(k) for k in key)
    con.execute(f"CREATE UNIQUE INDEX {_q(f'ux_{name}_key')} ON {_q(name)} ({keys})")


def _add_missing_columns(con: sqlite3.Connection, stored: int) -> list[str]:
    """Add the columns of :data:`gridmap.model.COLUMNS_ADDED_IN` newer than `stored` to every layer lacking them."""
    added = []
    for column, version in COLUMNS_ADDED_IN.items():
        if not stored < version <= SCHEMA_VERSION:
            continue
        for spec in LAYERS.values():
            have = {r[1] for r in con.execute(f"PRAGMA table_info({_q(spec.name)})")}
            if column not in have:
                col = spec.column(column)
                con.execute(f"ALTER TABLE {_q(spec.name)} ADD COLUMN {_q(column)} {_SQL_TYPES[col.dtype]}")
                added.append(f"{spec.name}.{column}")
    return added


def _add_table_columns(con: sqlite3.Connection, table: str, columns: Sequence[Column]) -> None:
    """Add those of `columns` that `table` lacks (``ALTER TABLE ... ADD COLUMN``: old rows hold NULL)."""
    have = {r[1] for r in con.execute(f"PRAGMA table_info({_q(table)})")}
    for col in columns:
        if col.name not in have:
            con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(col.name)} {_SQL_TYPES[col.dtype]}")


def _migrate(path: Path, version: int, *, busy_timeout: float) -> None:
    """Bring a workspace of an older schema up to :data:`SCHEMA_VERSION` in one transaction.

    Version 2 added the ``spotchecks`` table; version 3 the ``extra`` column of every
    layer, the column-alias table (:data:`ALIASES_TABLE`), the ``options`` of each import
    (:data:`IMPORTS_TABLE`) and, in the quarantine, the ``import_fid`` of the import that
    quarantined each record (records quarantined before have none: ``gridmap quarantine
    --retry`` leaves them, their import's options being unknown); version 4 the indexes on the
    subdistrict part of each layer's code (:func:`subdistrict_index_ddl`). The version is read again
    inside the transaction (``BEGIN IMMEDIATE`` takes the write lock first), so two processes opening
    the same old file migrate it once.
    """
    con = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    stored = SCHEMA_VERSION
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            stored = int(con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'").fetchone()[0])
            tables = {r[0].lower() for r in con.execute("SELECT table_name FROM gpkg_contents")}
            for name, added in LAYERS_ADDED_IN.items():
                if stored < added <= SCHEMA_VERSION and name.lower() not in tables:
                    spec = LAYERS[name]
                    _create_attribute_table(con, name, spec.columns, spec.key)
            _add_missing_columns(con, stored)
            if ALIASES_TABLE.lower() not in tables:
                _create_attribute_table(con, ALIASES_TABLE, _ALIAS_COLUMNS, ("layer", "source"))
            _add_table_columns(con, IMPORTS_TABLE, [c for c in _IMPORT_COLUMNS if c.name == "options"])
            _add_table_columns(con, QUARANTINE_TABLE, [_QUARANTINE_IMPORT])
            for statement in subdistrict_index_ddl(stored):
                con.execute(statement)
            if stored < SCHEMA_VERSION:
                con.execute(f"UPDATE {META_TABLE} SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        _busy_or_raise(exc, path)
    finally:
        con.close()
    if stored >= SCHEMA_VERSION:
        logger.debug("workspace %s was already migrated to schema %s by another process", path, stored)
        return
    steps = [*(n for n, v in LAYERS_ADDED_IN.items() if stored < v),
             *(f"index {layer}(substr({column}, 1, 9))" for v, pairs in INDEXES_ADDED_IN.items() if stored < v
               for layer, column in pairs)]
    logger.info("migrated workspace %s from schema %s to %s (added: %s)", path, stored, SCHEMA_VERSION,
                ", ".join(steps) or "nothing")
