"""The append transaction of the GeoPackage store: copy staged rows, R-tree, contents, quarantine, log."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from gridmap.model import QUARANTINE_COLUMNS, ImportSummary, LayerSpec
from gridmap.storage.base import IMPORTS_TABLE, QUARANTINE_TABLE
from gridmap.storage.gpkg._columns import (
    GEOMETRY_COLUMN, _BBOX, _IMPORT_COLUMNS, _QUARANTINE_IMPORT, _STAGE, _Staged, _index_stage, _q, _utc_now_text,
)
from gridmap.storage.gpkg._conflicts import _check_stage_fids, _conflict_rows, _stored_conflicts
from gridmap.storage.gpkg._rtree import BulkLoad, bulk_load, start_bulk_load
from gridmap.storage.gpkg import _stage

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------------
# the transaction
# ---------------------------------------------------------------------------------------------------------------


def _insert_triggers(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """GDAL's AFTER INSERT triggers on `table` (R-tree and feature count), as (name, sql)."""
    rows = con.execute(
        "SELECT name, sql FROM main.sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = lower(?)",
        (table,),
    ).fetchall()
    prefixes = (f"rtree_{table}_".lower(), f"trigger_insert_feature_count_{table}".lower())
    return [(n, s) for n, s in rows if n.lower().startswith(prefixes) and "AFTER INSERT" in s.upper()]


def _layer_indexes(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """The explicit indexes of `table` (its key's unique index, the subdistrict indexes), as (name, sql)."""
    rows = con.execute(
        "SELECT name, sql FROM main.sqlite_master"
        " WHERE type = 'index' AND sql IS NOT NULL AND lower(tbl_name) = lower(?)",
        (table,),
    ).fetchall()
    return [(str(n), str(s)) for n, s in rows]


def _indexes_to_rebuild(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame,
                        stored: int) -> list[tuple[str, str]]:
    """The layer's indexes to drop before the copy and build after it: all of them when the layer is empty.

    Into an empty layer every staged row is new (the frame's repeats of a key were sorted out
    by ``_stage``), so the copy needs no index to find stored keys; filling each index in
    the random order of the keys costs more than building it once from the sorted rows
    (SQLite sorts them for ``CREATE INDEX``). The unique index built after the copy
    still refuses two rows of one key, failing the transaction. A layer that holds rows
    keeps its indexes: ``INSERT OR IGNORE`` finds the stored keys through its unique index.
    """
    if stored or len(staged) < _stage._BULK_RTREE_MIN_ROWS:
        return []
    return _layer_indexes(con, spec.name)


def _copy_staged_rows(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame, stored: int) -> int:
    """Copy staged rows into the layer holding `stored` rows (keys already stored are ignored); return the rows
    inserted."""
    table = _q(spec.name)
    cols = [_q(c) for c in spec.column_names]
    if spec.geometry is not None:
        cols.insert(0, _q(GEOMETRY_COLUMN))
    col_list = ", ".join(cols)
    old_max = con.execute(f"SELECT coalesce(max(fid), 0) FROM main.{table}").fetchone()[0]
    triggers = _insert_triggers(con, spec.name)
    for name, _ in triggers:
        con.execute(f"DROP TRIGGER main.{_q(name)}")
    indexes = _indexes_to_rebuild(con, spec, staged, stored)
    for name, _ in indexes:
        con.execute(f"DROP INDEX main.{_q(name)}")
    planned = _start_rtree(con, spec, staged, old_max)
    try:
        inserted = con.execute(
            f"INSERT OR IGNORE INTO main.{table} ({col_list}) SELECT {col_list} FROM {_STAGE}.{_STAGE} ORDER BY fid"
        ).rowcount
        for _, sql in indexes:
            con.execute(sql)
        if spec.geometry is not None and inserted:
            bulk = inserted >= _stage._BULK_RTREE_MIN_ROWS
            if not (bulk and _bulk_load_rtree(con, spec, staged, old_max, inserted, planned)):
                _insert_rtree_rows(con, spec, staged, old_max)
    finally:
        if planned is not None:
            planned[0].discard()
    for _, sql in triggers:
        con.execute(sql)
    return int(inserted)


def _start_rtree(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame,
                 old_max: int) -> tuple[BulkLoad, int] | None:
    """Start packing the layer's R-tree with the staged rows' boxes before they are copied, in a worker thread.

    The rows are not in the layer yet: the packing takes the fids they will get when every
    one is inserted, in stage order, after the layer's largest fid (or the larger one
    ``sqlite_sequence`` remembers: GDAL's tables are ``AUTOINCREMENT``), and
    :func:`_finish_rtree` checks that they got them. Returns the load and the first fid, or
    None for a batch too small to bulk load, a layer without geometry or a tree that cannot be.
    """
    n = len(staged)
    if spec.geometry is None or n < _stage._BULK_RTREE_MIN_ROWS:
        return None
    try:
        row = con.execute("SELECT max(seq) FROM main.sqlite_sequence WHERE lower(name) = lower(?)",
                          (spec.name,)).fetchone()
    except sqlite3.OperationalError:  # no AUTOINCREMENT table in the file: no sqlite_sequence
        row = None
    first = max(int(old_max), int(row[0]) if row and row[0] is not None else 0) + 1
    box = _boxes(staged)
    load = start_bulk_load(con, _rtree_name(spec), np.arange(first, first + n, dtype=np.int64),
                           box[:, 0], box[:, 1], box[:, 2], box[:, 3])
    return None if load is None else (load, first)


def _finish_rtree(con: sqlite3.Connection, spec: LayerSpec, n: int, old_max: int, inserted: int,
                  planned: tuple[BulkLoad, int] | None) -> bool:
    """Store the tree :func:`_start_rtree` packed when the `n` staged rows got the fids it took; else False.

    They did when all were inserted, the new fids run without a gap from the first one
    foreseen, and the stage numbers its rows 1..n (the copy went in stage fid order).
    """
    if planned is None or inserted != n:
        return False
    load, first = planned
    if _fid_range(con, f"main.{_q(spec.name)}", old_max) != (first, first + n - 1):
        logger.info("R-tree of %s: the new rows did not get the fids foreseen; packing it again", spec.name)
        return False
    if _fid_range(con, f"{_STAGE}.{_STAGE}", 0) != (1, n):
        return False
    return load.finish(con)


def _new_rows_query(spec: LayerSpec, columns: str) -> str:
    """SQL selecting `columns` of the rows just copied (``m``: the layer, ``s``: the stage), given ``fid > ?``.

    Index the stage first (:func:`_index_stage`).
    """
    join = " AND ".join(f"m.{_q(k)} = s.{_q(k)}" for k in spec.key)
    return f"SELECT {columns} FROM main.{_q(spec.name)} AS m JOIN {_STAGE}.{_STAGE} AS s ON {join} WHERE m.fid > ?"


def _rtree_name(spec: LayerSpec) -> str:
    return f"rtree_{spec.name}_{GEOMETRY_COLUMN}"


def _insert_rtree_rows(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame, old_max: int) -> None:
    """Insert the new rows' boxes into the layer's R-tree with SQL (SQLite's R*-tree insertion, one by one).

    In the Hilbert order of :func:`gridmap.storage.gpkg._stage._hilbert_rank`.
    """
    fid, box, order = _joined_entries(con, spec, staged, old_max)
    con.executemany(f"INSERT INTO main.{_q(_rtree_name(spec))} (id, minx, maxx, miny, maxy) VALUES (?, ?, ?, ?, ?)",
                    zip(fid[order].tolist(), *(box[order, k].tolist() for k in range(4))))


def _joined_entries(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame,
                    old_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The new rows' fids, their boxes (n x 4: minx, maxx, miny, maxy) and Hilbert order, joining layer and stage.

    The boxes are not in the staging file: staged row i is stage fid i + 1 (checked), its box row i of `staged`.
    """
    _index_stage(con, spec.key)
    rows = con.execute(_new_rows_query(spec, "m.fid, s.fid"), (old_max,)).fetchall()
    fid = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    position = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)) - 1
    _check_stage_fids(con, len(staged), rows)
    box = _boxes(staged)[position]
    order = np.argsort(staged["_hilbert"].to_numpy(dtype=np.int64)[position], kind="stable")
    return fid, box.reshape(len(rows), 4), order


def _new_entries(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame, old_max: int,
                 inserted: int) -> tuple[np.ndarray, np.ndarray]:
    """The new rows' fids and boxes (n x 4: minx, maxx, miny, maxy).

    When every staged row was inserted, the rows went in in stage fid order
    (``ORDER BY fid``) and each got a fid above the previous one; if the new
    fids form one gap-free run and the stage's fids are 1..n (GDAL numbers the
    staged frame's rows in order), staged row i got fid ``first + i`` and its
    box is read from `staged` without a join. Otherwise the new rows are joined
    to the stage on the key.
    """
    n = len(staged)
    if inserted == n:
        # the n rows inserted are all the fids above old_max: min and max (rowid look-ups) show whether they run
        # without a gap (counting them would scan them). The stage gave n rows (each stage row is inserted at most
        # once), so fids running from 1 to n there are exactly 1..n, without counting the stage either.
        lo, hi = _fid_range(con, f"main.{_q(spec.name)}", old_max)
        if lo is not None and hi - lo + 1 == n and _fid_range(con, f"{_STAGE}.{_STAGE}", 0) == (1, n):
            return np.arange(lo, hi + 1, dtype=np.int64), _boxes(staged)
    fid, box, _ = _joined_entries(con, spec, staged, old_max)
    return fid, box


def _fid_range(con: sqlite3.Connection, table: str, above: int) -> tuple[Any, Any]:
    """The smallest and the largest fid above `above` in `table` (None, None when there is none).

    Two queries: SQLite finds a lone ``min()`` or ``max()`` of the rowid by one seek in the
    table's b-tree, but both in one query by scanning every row in the range.
    """
    lo = con.execute(f"SELECT min(fid) FROM {table} WHERE fid > ?", (above,)).fetchone()[0]
    hi = con.execute(f"SELECT max(fid) FROM {table} WHERE fid > ?", (above,)).fetchone()[0]
    return lo, hi


def _boxes(staged: pd.DataFrame) -> np.ndarray:
    """The staged rows' boxes (n x 4: minx, maxx, miny, maxy), float64, from the columns as they are."""
    return np.column_stack([staged[c].to_numpy(dtype="float64") for c in _BBOX])


def _bulk_load_rtree(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame, old_max: int,
                     inserted: int, planned: tuple[BulkLoad, int] | None = None) -> bool:
    """Rebuild the layer's R-tree, STR-packed, with the new rows' boxes (see :mod:`gridmap.storage.gpkg._rtree`).

    The tree :func:`_start_rtree` packed while the rows were copied when they got the fids
    it foresaw; else reads the new rows' fids and boxes, then only the R-tree's shadow
    tables: the R-tree virtual table is not used through SQL in this transaction before
    its shadow tables are rewritten. False when the tree cannot be bulk loaded.
    """
    if _finish_rtree(con, spec, len(staged), old_max, inserted, planned):
        return True
    fid, box = _new_entries(con, spec, staged, old_max, inserted)
    return bulk_load(con, _rtree_name(spec), fid, box[:, 0], box[:, 1], box[:, 2], box[:, 3])


def _update_contents(con: sqlite3.Connection, spec: LayerSpec, staged: pd.DataFrame, count: int) -> None:
    """Keep ``gpkg_ogr_contents.feature_count`` (the layer's `count` rows) and ``gpkg_contents`` (extent,
    last_change) right."""
    table = spec.name
    con.execute("UPDATE gpkg_ogr_contents SET feature_count = ? WHERE lower(table_name) = lower(?)", (count, table))
    con.execute("UPDATE gpkg_contents SET last_change = ? WHERE lower(table_name) = lower(?)", (_utc_now_text(), table))
    if spec.geometry is None or len(staged) == 0:
        return
    ext = (float(staged["_minx"].min()), float(staged["_miny"].min()),
           float(staged["_maxx"].max()), float(staged["_maxy"].max()))
    con.execute(
        "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?1), ?1), min_y = min(coalesce(min_y, ?2), ?2),"
        " max_x = max(coalesce(max_x, ?3), ?3), max_y = max(coalesce(max_y, ?4), ?4)"
        " WHERE lower(table_name) = lower(?5)",
        (*ext, table),
    )


def _apply_status_events(con: sqlite3.Connection) -> None:
    """Set the status of every report named in the rows just staged from its latest event.

    The events are the report's rectifications and its spot checks. A
    rectification happened at its ``verified_at`` when it has one (status
    ``verified``), else at its ``rectified_at`` (status ``rectified``); a spot
    check happened at ``checked_at`` (status = its result, ``verified`` or
    ``reopened``). The latest event wins; at equal times a spot check beats a
    rectification (the check is made on the fix). Reports whose status already
    says so are left alone. Times are stored as UTC text of one format, so the
    text order is the time order.
    """
    staged = f"SELECT report_id FROM {_STAGE}.{_STAGE}"
    con.execute(
        f"""
        WITH events AS (
            SELECT report_id, coalesce(verified_at, rectified_at) AS at, 0 AS kind,
                   CASE WHEN verified_at IS NOT NULL THEN 'verified' ELSE 'rectified' END AS status
            FROM main.rectifications WHERE report_id IN ({staged})
            UNION ALL
            SELECT report_id, checked_at AS at, 1 AS kind, result AS status
            FROM main.spotchecks WHERE report_id IN ({staged})
        ),
        latest AS (
            SELECT report_id, status FROM (
                SELECT report_id, status,
                       row_number() OVER (PARTITION BY report_id ORDER BY at DESC, kind DESC) AS rank
                FROM events)
            WHERE rank = 1
        )
        UPDATE main.reports SET status = (SELECT status FROM latest WHERE latest.report_id = reports.report_id)
        WHERE report_id IN (SELECT report_id FROM latest)
          AND coalesce(status, '') != (SELECT status FROM latest WHERE latest.report_id = reports.report_id)
        """
    )


def _insert_quarantine(con: sqlite3.Connection, rows: list[tuple], import_fid: int) -> None:
    """Add quarantine rows, each linked to the import that quarantined it; a record already there stays as it is."""
    if not rows:
        return
    columns = (*QUARANTINE_COLUMNS, _QUARANTINE_IMPORT)
    names = ", ".join(_q(c.name) for c in columns)
    marks = ", ".join("?" for _ in columns)
    con.executemany(f"INSERT OR IGNORE INTO {QUARANTINE_TABLE} ({names}) VALUES ({marks})",
                    [(*row, import_fid) for row in rows])


def _insert_log(con: sqlite3.Connection, summary: ImportSummary, digest: str,
                options: Mapping[str, Any] | None) -> int:
    """Add the import's row to the log; return its fid."""
    d = summary.to_dict()
    text = None if options is None else json.dumps(dict(options), ensure_ascii=False, default=str)
    row = (d["layer"], d["source"], digest, d["read"], d["accepted"], d["duplicates"], d["quarantined"],
           json.dumps(d["reasons"], ensure_ascii=False), _utc_now_text(), text)
    names = ", ".join(_q(c.name) for c in _IMPORT_COLUMNS)
    cursor = con.execute(f"INSERT INTO {IMPORTS_TABLE} ({names}) VALUES ({', '.join('?' * len(row))})", row)
    return int(cursor.lastrowid or 0)


@dataclass
class _Batch:
    """Everything one :meth:`Workspace.append` writes."""

    spec: LayerSpec
    frame: pd.DataFrame
    staged: _Staged
    qrows: list[tuple]
    read: int
    source: str
    digest: str
    options: Mapping[str, Any] | None
    raw_records: pd.DataFrame | None
    replaces: list[int]


def _write_in_transaction(con: sqlite3.Connection, batch: _Batch, has_stage: bool) -> ImportSummary:
    """Copy the staged rows, find key conflicts, log the import and quarantine what did not land."""
    spec, staged = batch.spec, batch.staged
    old_max = con.execute(f"SELECT coalesce(max(fid), 0) FROM main.{_q(spec.name)}").fetchone()[0]
    # counted before the copy: only the rows stored so far are scanned, the new ones are counted by the insert
    before = con.execute(f"SELECT count(*) FROM main.{_q(spec.name)}").fetchone()[0]
    accepted = _copy_staged_rows(con, spec, staged.rows, before) if has_stage else 0
    stored = _stored_conflicts(con, spec, staged, old_max, before) if accepted < len(staged.rows) else []
    if accepted:
        _update_contents(con, spec, staged.rows, before + accepted)
        if spec.name in ("rectifications", "spotchecks"):
            _apply_status_events(con)
    conflicts = _conflict_rows(spec, batch.frame, staged, sorted(staged.conflicts + stored),
                               raw_records=batch.raw_records, source=batch.source, digest=batch.digest)
    qrows = batch.qrows + conflicts
    reasons = dict(Counter(str(r[5]) for r in qrows))
    summary = ImportSummary(
        spec.name, batch.source, read=batch.read, accepted=accepted,
        duplicates=staged.repeated + len(staged.rows) - accepted - len(stored), quarantined=len(qrows),
        reasons=reasons,
    )
    import_fid = _insert_log(con, summary, batch.digest, batch.options)
    if batch.replaces:
        con.executemany(f"DELETE FROM {QUARANTINE_TABLE} WHERE fid = ?", [(f,) for f in batch.replaces])
    _insert_quarantine(con, qrows, import_fid)
    return summary
