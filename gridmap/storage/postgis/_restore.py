"""Writing another store's tables as they are into an empty PostGIS workspace (``gridmap copy``).

All in one transaction: each layer is COPYed into the staging table and inserted as it is
(no key rule, no report status, no import-log row of its own); then the import log (fids
1..n in order), the quarantine (each record keeping its ``fid``, linked to its import by
:func:`gridmap.storage.base.quarantine_import_links`) and the metadata. The identity
sequences are moved past the restored fids, so the next append numbers on from them
(``setval``, https://www.postgresql.org/docs/15/functions-sequence.html).

Each row gets its office as in an append (:mod:`gridmap.storage.postgis._access`): the layers go in
the order of :data:`gridmap.model.LAYERS` but the fixes last, after the grids, so that the owner's
fixes, which come without an office, get that of the grid they lie in (the bulk insert looks it up).
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from gridmap.errors import SchemaError
from gridmap.model import LAYERS, QUARANTINE_COLUMNS, layer_spec
from gridmap.storage.base import IMPORTS_TABLE, META_TABLE, QUARANTINE_TABLE, quarantine_import_links
from gridmap.storage.postgis._access import GRID_POINT_LAYERS
from gridmap.storage.postgis._append import copy_stage, insert_staged
from gridmap.storage.postgis._sql import _IMPORT_COLUMNS, _QUARANTINE_IMPORT, q, storage_column
from gridmap.storage.postgis._stage import stage_frame

_STAGE = "gridmap_stage"


def _restore_layer(con: Any, name: str, frame: pd.DataFrame) -> None:
    """Insert the rows of `frame` into the (empty) layer `name`, values as they are."""
    spec = layer_spec(name)
    staged = stage_frame(spec, frame)
    if staged.repeated or staged.conflicts:
        raise SchemaError(f"cannot restore {name!r}: {staged.repeated + len(staged.conflicts)} rows repeat "
                          "a key; a store never holds two rows of one key")
    copy_stage(con, spec, staged.rows)
    inserted = insert_staged(con, spec)
    con.execute(f"DROP TABLE {_STAGE}")
    if inserted != len(staged.rows):
        raise SchemaError(f"cannot restore {name!r}: {len(staged.rows) - inserted} rows were already stored")


def _rows(frame: pd.DataFrame, columns: tuple[Any, ...]) -> list[tuple]:
    """The rows of `frame` in storage form, None for missing values."""
    stored = pd.DataFrame({c.name: storage_column(frame[c.name], c) for c in columns}, index=frame.index)
    return [tuple(row) for row in stored.astype(object).itertuples(index=False)]


def _move_sequence(con: Any, table: str) -> None:
    con.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'fid'), coalesce(max(fid), 0) + 1, false)"
                f" FROM {q(table)}", [table])


def _restore_bookkeeping(con: Any, imports: pd.DataFrame, quarantine: pd.DataFrame,
                         meta: Mapping[str, str]) -> None:
    log = _rows(imports, _IMPORT_COLUMNS)
    names = ", ".join(q(c.name) for c in _IMPORT_COLUMNS)
    marks = ", ".join("%s" for _ in range(len(_IMPORT_COLUMNS) + 1))
    q_columns = (*QUARANTINE_COLUMNS, _QUARANTINE_IMPORT)
    q_names = ", ".join(q(c.name) for c in q_columns)
    q_marks = ", ".join("%s" for _ in range(len(q_columns) + 1))
    links = quarantine_import_links(imports, quarantine)
    fids = [int(f) for f in quarantine["fid"]] if "fid" in quarantine.columns else list(range(1, len(quarantine) + 1))
    q_rows = _rows(quarantine, QUARANTINE_COLUMNS)
    with con.cursor() as cur:
        cur.executemany(f"INSERT INTO {IMPORTS_TABLE} (fid, {names}) VALUES ({marks})",
                        [(i, *row) for i, row in enumerate(log, start=1)])
        cur.executemany(f"INSERT INTO {QUARANTINE_TABLE} (fid, {q_names}) VALUES ({q_marks})",
                        [(fid, *row, link) for fid, row, link in zip(fids, q_rows, links)])
        cur.executemany(f"INSERT INTO {META_TABLE} (key, value) VALUES (%s, %s)"
                        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        [(str(k), str(v)) for k, v in meta.items() if k != "schema_version"])
    for table in (IMPORTS_TABLE, QUARANTINE_TABLE):
        _move_sequence(con, table)


def restore_in_transaction(con: Any, tables: Mapping[str, pd.DataFrame], meta: Mapping[str, str]) -> None:
    """Every layer, the import log, the quarantine and the metadata, inside the caller's transaction."""
    for name in sorted(LAYERS, key=lambda n: n in GRID_POINT_LAYERS):  # fixes after grids: see the module
        frame = tables.get(name)
        if frame is not None and len(frame):
            _restore_layer(con, name, frame)
    no_quarantine = pd.DataFrame(columns=["fid", *(c.name for c in QUARANTINE_COLUMNS), "options"])
    imports = tables.get(IMPORTS_TABLE, pd.DataFrame(columns=[c.name for c in _IMPORT_COLUMNS]))
    _restore_bookkeeping(con, imports, tables.get(QUARANTINE_TABLE, no_quarantine), meta)
