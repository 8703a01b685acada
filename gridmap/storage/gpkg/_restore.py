"""Writing another store's tables as they are into an empty GeoPackage (:meth:`Workspace.restore`, ``gridmap copy``).

The layers go through the same staging file and copy as an append (GDAL's geometry blobs,
the R-tree, ``gpkg_contents``), but nothing is checked or recomputed: no key rule, no
report status, no import-log row. The import log, the quarantine (each record keeping its
``fid``) and the metadata are then written with SQL.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from gridmap.errors import SchemaError
from gridmap.model import QUARANTINE_COLUMNS, LayerSpec
from gridmap.storage.base import IMPORTS_TABLE, META_TABLE, QUARANTINE_TABLE, quarantine_import_links
from gridmap.storage.gpkg._append import _copy_staged_rows, _update_contents
from gridmap.storage.gpkg._columns import _IMPORT_COLUMNS, _QUARANTINE_IMPORT, _STAGE, _q, _to_storage_column
from gridmap.storage.gpkg._stage import _stage_frame, _write_stage


def _restore_layer(con: sqlite3.Connection, spec: LayerSpec, frame: pd.DataFrame) -> None:
    """Copy the rows of `frame` into the (empty) layer in one transaction, values as they are."""
    staged = _stage_frame(spec, frame)
    if staged.repeated or staged.conflicts:
        raise SchemaError(f"cannot restore {spec.name!r}: {staged.repeated + len(staged.conflicts)} rows repeat "
                          "a key; a store never holds two rows of one key")
    with tempfile.TemporaryDirectory(prefix="gridmap-restore-") as folder:
        stage_path = _write_stage(spec, staged.rows, Path(folder))
        con.execute(f"ATTACH DATABASE ? AS {_STAGE}", (str(stage_path),))
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                before = con.execute(f"SELECT count(*) FROM main.{_q(spec.name)}").fetchone()[0]
                inserted = _copy_staged_rows(con, spec, staged.rows, before)
                _update_contents(con, spec, staged.rows, before + inserted)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.execute(f"DETACH DATABASE {_STAGE}")


def _storage_rows(frame: pd.DataFrame, columns: tuple[Any, ...]) -> list[tuple]:
    """The rows of `frame` in storage form (times as UTC text), None for missing values."""
    stored = pd.DataFrame({c.name: _to_storage_column(frame[c.name], c) for c in columns}, index=frame.index)
    return [tuple(None if pd.isna(v) else v for v in row) for row in stored.astype(object).itertuples(index=False)]


def _restore_bookkeeping(con: sqlite3.Connection, imports: pd.DataFrame, quarantine: pd.DataFrame,
                         meta: Mapping[str, str]) -> None:
    """The import log (fids 1..n in order), the quarantine (fids kept, linked to their import) and the metadata."""
    log = _storage_rows(imports, _IMPORT_COLUMNS)
    names = ", ".join(_q(c.name) for c in _IMPORT_COLUMNS)
    marks = ", ".join("?" for _ in range(len(_IMPORT_COLUMNS) + 1))
    q_columns = (*QUARANTINE_COLUMNS, _QUARANTINE_IMPORT)
    q_names = ", ".join(_q(c.name) for c in q_columns)
    q_marks = ", ".join("?" for _ in range(len(q_columns) + 1))
    q_rows = _storage_rows(quarantine, QUARANTINE_COLUMNS)
    links = quarantine_import_links(imports, quarantine)
    fids = [int(f) for f in quarantine["fid"]] if "fid" in quarantine.columns else [None] * len(quarantine)
    con.execute("BEGIN IMMEDIATE")
    try:
        con.executemany(f"INSERT INTO {IMPORTS_TABLE} (fid, {names}) VALUES ({marks})",
                        [(i, *row) for i, row in enumerate(log, start=1)])
        con.executemany(f"INSERT INTO {QUARANTINE_TABLE} (fid, {q_names}) VALUES ({q_marks})",
                        [(fid, *row, link) for fid, row, link in zip(fids, q_rows, links)])
        con.executemany(f"INSERT OR REPLACE INTO {META_TABLE} (key, value) VALUES (?, ?)",
                        [(str(k), str(v)) for k, v in meta.items() if k != "schema_version"])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
