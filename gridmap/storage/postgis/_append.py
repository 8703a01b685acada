"""The append transaction of the PostGIS store: lock, COPY into a staging table, insert, quarantine, log.

One transaction (PostgreSQL: everything between ``BEGIN`` and ``COMMIT`` is atomic; a session that
dies before ``COMMIT`` is rolled back by the server, https://www.postgresql.org/docs/15/tutorial-transactions.html):

1. ``pg_advisory_xact_lock`` on each table the append changes (the layer; for rectifications and
   spot checks also ``reports``, whose status they set), taken in name order so two appenders never
   wait for each other in a circle; held until the transaction ends
   (https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS). Two importers of one layer
   thus run one after the other: the second sees every row of the first as stored, so a row is
   accepted by one and a counted duplicate (or key conflict) for the other, never both.
2. The staged rows go to a ``TEMPORARY`` table ``ON COMMIT DROP`` through ``COPY ... FROM STDIN``
   (https://www.postgresql.org/docs/15/sql-copy.html; psycopg 3's ``cursor.copy``).
3. Key conflicts: one join of the stage and the layer on the key (its primary key index) finds the
   stored rows of a staged key with other content; geometries that differ as stored are compared
   again with Shapely to :data:`gridmap.storage.base.GEOMETRY_TOLERANCE`.
4. ``INSERT ... SELECT ... ON CONFLICT (key) DO NOTHING``
   (https://www.postgresql.org/docs/15/sql-insert.html#SQL-ON-CONFLICT): a staged key already stored is
   skipped; the row count is what was accepted. Without the advisory lock (a client that does not take it)
   the primary key still makes a second insert of one key wait for the first and then skip it.
   For a role bound by row-level security (an office, :mod:`gridmap.storage.postgis._access`) a key may
   be held by a row it cannot see, of another office: the insert skips it too. One anti-join after the
   insert finds them, the staged keys this role does not see now (a row it inserted is its own, so it
   sees it): each is quarantined as ``key_conflict`` naming only the key, nothing of the other row (not
   even whether its content is equal), so read = accepted + duplicates + quarantined still holds.
5. The status of reports named by new rectifications or spot checks, the import log row, the deleted
   quarantine rows of a retry and the new quarantine rows (``ON CONFLICT DO NOTHING``: a record already
   quarantined stays as it is).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from gridmap.errors import WorkspaceError
from gridmap.model import QUARANTINE_COLUMNS, ImportSummary, LayerSpec
from gridmap.storage.base import GEOMETRY_TOLERANCE, IMPORTS_TABLE, QUARANTINE_TABLE, content_columns
from gridmap.storage.postgis._access import CODE_COLUMNS, OFFICE_COLUMN, REPORT_EVENT_LAYERS, staged_office_sql
from gridmap.storage.postgis._sql import (
    GEOMETRY_COLUMN, _IMPORT_COLUMNS, _QUARANTINE_IMPORT, geometry_type, q, sql_type, utc_now,
)
from gridmap.storage.postgis._stage import Staged, conflict_rows, copy_text, show
from gridmap.storage.rows import conflict_detail

_STAGE = "gridmap_stage"


@dataclass
class Batch:
    """Everything one append writes."""

    spec: LayerSpec
    frame: pd.DataFrame
    staged: Staged
    qrows: list[tuple]
    read: int
    source: str
    digest: str
    options: Mapping[str, Any] | None
    raw_records: pd.DataFrame | None
    replaces: list[int]


def lock_tables(con: Any, schema: str, layer: str) -> None:
    """Take the transaction-level advisory locks of the tables an append to `layer` changes, in name order."""
    tables = sorted({layer, "reports"} if layer in ("rectifications", "spotchecks") else {layer})
    for table in tables:
        con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"gridmap:{schema}.{table}"])


def copy_stage(con: Any, spec: LayerSpec, rows: pd.DataFrame) -> None:
    """Create the temporary staging table and COPY `rows` (:attr:`Staged.rows`) into it, as text in blocks."""
    cols = [f"{q(c.name)} {sql_type(c)}" for c in spec.columns]
    if spec.geometry is not None:
        cols.append(f"{q(GEOMETRY_COLUMN)} {geometry_type(spec)}")
    con.execute(f"CREATE TEMPORARY TABLE {_STAGE} (_pos bigint NOT NULL, {', '.join(cols)}) ON COMMIT DROP")
    from psycopg.copy import QueuedLibpqWriter  # deferred: psycopg is needed only by a PostGIS workspace

    names = ", ".join(q(c) for c in rows.columns)
    with con.cursor() as cur, cur.copy(f"COPY {_STAGE} ({names}) FROM STDIN", writer=QueuedLibpqWriter(cur)) as copy:
        for block in copy_text(rows):  # a thread sends each block while the next one is built
            copy.write(block)


def check_office_rows(con: Any, spec: LayerSpec) -> None:
    """Refuse, before the server does, staged rows whose code lies in another office than the writing role's.

    The database enforces the fence anyway (the policy's ``WITH CHECK``, see
    :mod:`gridmap.storage.postgis._access`); this names the rows. Nothing to check for the workspace's
    owner (no office) or a layer without a code.
    """
    column = CODE_COLUMNS.get(spec.name, "report_id" if spec.name in REPORT_EVENT_LAYERS else None)
    office = con.execute("SELECT gridmap_office()").fetchone()[0]
    if column is None or office is None:
        return
    code = q(column)
    theirs = f"gridmap_report_office({code})" if column == "report_id" else f"left({code}, 9)"
    count, first = con.execute(f"SELECT count(*), min({code}) FROM {_STAGE} WHERE {code} IS NOT NULL"
                               f" AND {theirs} <> %s", [office]).fetchone()
    if count:
        kind = "name a report of another office" if column == "report_id" else f"have a {column} of another subdistrict"
        raise WorkspaceError(f"this role writes only the rows of office {office}, but {count} row(s) of "
                             f"{spec.name} {kind} (first: {first}); import them as that office's role or as the "
                             "workspace's owner")


def stored_conflicts(con: Any, spec: LayerSpec, staged: Staged) -> list[tuple[int, str]]:
    """(frame position, detail) of the staged rows whose key is stored with other content."""
    import shapely  # deferred: Shapely, needed only for spatial layers

    columns = content_columns(spec.name)
    tests = [f"m.{q(c)} IS DISTINCT FROM s.{q(c)}" for c in columns]
    pairs = [f"m.{q(c)}, s.{q(c)}" for c in columns]
    if spec.geometry is not None:
        geom = q(GEOMETRY_COLUMN)
        tests.append(f"NOT coalesce(ST_OrderingEquals(m.{geom}, s.{geom}), m.{geom} IS NULL AND s.{geom} IS NULL)")
        pairs.append(f"ST_AsBinary(m.{geom}), ST_AsBinary(s.{geom})")
    if not tests:
        return []
    join = " AND ".join(f"m.{q(k)} = s.{q(k)}" for k in spec.key)
    keys = ", ".join(f"s.{q(k)}" for k in spec.key)
    found = con.execute(f"SELECT s._pos, {keys}, {', '.join(pairs)} FROM {_STAGE} AS s JOIN {q(spec.name)} AS m"
                        f" ON {join} WHERE {' OR '.join(tests)} ORDER BY s._pos").fetchall()
    shown = [*columns, *([GEOMETRY_COLUMN] if spec.geometry is not None else [])]
    nkey, out = len(spec.key), []
    for row in found:
        values = row[1 + nkey:]
        differ = []
        for i, column in enumerate(shown):
            stored, incoming = values[2 * i], values[2 * i + 1]
            if column == GEOMETRY_COLUMN:
                stored, incoming = (None if g is None else shapely.from_wkb(bytes(g)) for g in (stored, incoming))
                if stored is not None and incoming is not None and shapely.equals_exact(
                        stored, incoming, tolerance=GEOMETRY_TOLERANCE):
                    continue
            elif stored == incoming or (stored is None and incoming is None):
                continue
            differ.append((column, stored, incoming))
        if differ:
            out.append((int(row[0]), conflict_detail(spec, row[1:1 + nkey], differ, "is already stored", show)))
    return out


def insert_staged(con: Any, spec: LayerSpec) -> int:
    """``INSERT ... SELECT ... ON CONFLICT (key) DO NOTHING`` from the stage, in frame order; the rows inserted.

    One pass over the stage, no sort: the stage is created in this transaction and filled by one
    ``COPY`` in frame order (``_pos``), which PostgreSQL appends page after page (a table created in the
    same transaction is filled without the free space map), and a temporary table is scanned
    sequentially from its first page (no parallel or synchronized scan of temporary tables), so the
    rows reach the layer, and get their ``fid``, in frame order without an ``ORDER BY _pos`` that
    sorted the whole stage (on disk, beyond ``work_mem``). The writer's office (the column's default,
    ``gridmap_office()``, :mod:`gridmap.storage.postgis._access`) is computed once for the statement
    instead of once per row; a layer's trigger still sets the office of a row with a code, and a fix gets
    the office of its grid here, set-based (:func:`gridmap.storage.postgis._access.staged_office_sql`).
    """
    cols = [q(c) for c in spec.column_names] + ([q(GEOMETRY_COLUMN)] if spec.geometry is not None else [])
    names = ", ".join(cols)
    key = ", ".join(q(k) for k in spec.key)
    office = staged_office_sql(spec.name, "s") or "(SELECT gridmap_office())"
    cur = con.execute(f"INSERT INTO {q(spec.name)} ({names}, {q(OFFICE_COLUMN)}) SELECT {names}, {office}"
                      f" FROM {_STAGE} AS s ON CONFLICT ({key}) DO NOTHING")
    return int(cur.rowcount)


def hidden_conflicts(con: Any, spec: LayerSpec) -> list[tuple[int, str]]:
    """(frame position, detail) of the staged rows whose key a row this role cannot see holds (after the insert).

    Such a row is of another office (or of no office, on a layer an office may not read then): the
    primary key refused the staged row, and it was neither inserted nor stored visibly. Nothing for a role
    that row-level security does not bind (the owner sees every row: ``row_security_active``).
    """
    if not con.execute("SELECT row_security_active(%s)", [spec.name]).fetchone()[0]:
        return []
    join = " AND ".join(f"m.{q(k)} = s.{q(k)}" for k in spec.key)
    keys = ", ".join(f"s.{q(k)}" for k in spec.key)
    found = con.execute(f"SELECT s._pos, {keys} FROM {_STAGE} AS s WHERE NOT EXISTS (SELECT 1 FROM {q(spec.name)}"
                        f" AS m WHERE {join}) ORDER BY s._pos").fetchall()
    return [(int(row[0]), hidden_detail(spec, row[1:])) for row in found]


def hidden_detail(spec: LayerSpec, key: tuple) -> str:
    """The detail of a key held by a row of another office: the key (this import's own values) and the fix.

    Examples
    --------
    >>> from gridmap.model import layer_spec
    >>> print(hidden_detail(layer_spec("reports"), ("R-1",)))
    report_id R-1 is already used by a row of another office (or of the district), which this role may not \
read; the record was not stored: give it its own report_id, or ask the district (the workspace's owner) to import it
    """
    keys = ", ".join(f"{k} {show(v, k, spec)}" for k, v in zip(spec.key, key))
    return (f"{keys} is already used by a row of another office (or of the district), which this role may not read; "
            f"the record was not stored: give it its own {' and '.join(spec.key)}, or ask the district (the "
            "workspace's owner) to import it")


def apply_status_events(con: Any) -> None:
    """Set the status of every report named by the staged rows from its latest event.

    As the GeoPackage store: a rectification happened at its ``verified_at`` when it has one (status
    ``verified``), else at ``rectified_at`` (``rectified``); a spot check at ``checked_at`` (its
    ``result``); the latest wins, at equal times the spot check.
    """
    staged = f"SELECT report_id FROM {_STAGE}"
    con.execute(f"""
        WITH events AS (
            SELECT report_id, coalesce(verified_at, rectified_at) AS at, 0 AS kind,
                   CASE WHEN verified_at IS NOT NULL THEN 'verified' ELSE 'rectified' END AS status
            FROM rectifications WHERE report_id IN ({staged})
            UNION ALL
            SELECT report_id, checked_at, 1, result FROM spotchecks WHERE report_id IN ({staged})
        ), latest AS (
            SELECT DISTINCT ON (report_id) report_id, status FROM events ORDER BY report_id, at DESC, kind DESC
        )
        UPDATE reports AS r SET status = latest.status FROM latest
        WHERE r.report_id = latest.report_id AND r.status IS DISTINCT FROM latest.status""")


def insert_log(con: Any, summary: ImportSummary, digest: str, options: Mapping[str, Any] | None) -> int:
    """Add the import's row to the log; its fid."""
    d = summary.to_dict()
    text = None if options is None else json.dumps(dict(options), ensure_ascii=False, default=str)
    row = (d["layer"], d["source"], digest, d["read"], d["accepted"], d["duplicates"], d["quarantined"],
           json.dumps(d["reasons"], ensure_ascii=False), utc_now(), text)
    names = ", ".join(q(c.name) for c in _IMPORT_COLUMNS)
    marks = ", ".join("%s" for _ in row)
    return int(con.execute(f"INSERT INTO {IMPORTS_TABLE} ({names}) VALUES ({marks}) RETURNING fid", row)
               .fetchone()[0])


def insert_quarantine(con: Any, rows: list[tuple], import_fid: int) -> None:
    """Add quarantine rows linked to their import; a record already there stays as it is."""
    if not rows:
        return
    names = ", ".join(q(c.name) for c in (*QUARANTINE_COLUMNS, _QUARANTINE_IMPORT))
    marks = ", ".join("%s" for _ in range(len(QUARANTINE_COLUMNS) + 1))
    with con.cursor() as cur:
        cur.executemany(f"INSERT INTO {QUARANTINE_TABLE} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                        [(*row, import_fid) for row in rows])


def write_in_transaction(con: Any, schema: str, batch: Batch) -> ImportSummary:
    """Everything of one append, inside the caller's transaction."""
    spec, staged = batch.spec, batch.staged
    lock_tables(con, schema, spec.name)
    accepted, stored, hidden = 0, [], []
    if len(staged.rows):
        copy_stage(con, spec, staged.rows)
        check_office_rows(con, spec)
        stored = stored_conflicts(con, spec, staged)
        accepted = insert_staged(con, spec)
        hidden = hidden_conflicts(con, spec)
        if accepted and spec.name in ("rectifications", "spotchecks"):
            apply_status_events(con)
    conflicts = conflict_rows(spec, batch.frame, staged, sorted(staged.conflicts + stored + hidden),
                              raw_records=batch.raw_records, source=batch.source, digest=batch.digest)
    qrows = batch.qrows + conflicts
    summary = ImportSummary(spec.name, batch.source, read=batch.read, accepted=accepted,
                            duplicates=staged.repeated + len(staged.rows) - accepted - len(stored) - len(hidden),
                            quarantined=len(qrows), reasons=dict(Counter(str(r[5]) for r in qrows)))
    import_fid = insert_log(con, summary, batch.digest, batch.options)
    if batch.replaces:
        with con.cursor() as cur:
            cur.executemany(f"DELETE FROM {QUARANTINE_TABLE} WHERE fid = %s", [(f,) for f in batch.replaces])
    insert_quarantine(con, qrows, import_fid)
    return summary
