"""The PostGIS workspace: :class:`PostgisWorkspace`, :func:`init_postgis` and :func:`open_postgis`."""

from __future__ import annotations

import dataclasses
import logging
from contextlib import contextmanager
from os import PathLike
from types import TracebackType
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd

from gridmap.errors import SchemaError, WorkspaceError
from gridmap.model import (
    CATEGORIES, LAYERS, QUARANTINE_COLUMNS, SCHEMA_VERSION, Category, ImportSummary, builtin_category_keys,
    layer_spec, register_category,
)
from gridmap.storage.base import (
    ALIASES_TABLE, CATEGORIES_TABLE, IMPORTS_TABLE, QUARANTINE_TABLE, Window, first_rows_in_pages, subdistrict_rule,
    window_mask,
)
from gridmap.storage.url import WorkspaceURL, parse_workspace_url
from gridmap.storage.postgis._sql import (
    BUSY_TIMEOUT, GEOMETRY_COLUMN, SRID, _ALIAS_COLUMNS, _IMPORT_COLUMNS, connect, q, raise_for, rows_to_frame,
    select_expression, storage_times,
)
from gridmap.storage.postgis._schema import check_version, create_schema, migrate, read_meta
from gridmap.storage.postgis._stage import quarantine_rows, stage_frame
from gridmap.storage.postgis._append import Batch, write_in_transaction
from gridmap.storage.postgis._restore import restore_in_transaction
from gridmap.storage.postgis._qgis import write_default_styles
from gridmap.storage.postgis._window import select_rows, window_tests

logger = logging.getLogger(__name__)


def _gridmap_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gridmap")
    except PackageNotFoundError:
        return "unknown"


def init_postgis(url: str | PathLike[str], *, sample: bool = False, seed: int = 0,
                 exist_ok: bool = False) -> PostgisWorkspace:
    """Create a workspace in the schema `url` names (default ``gridmap``), empty or with the sample.

    Parameters
    ----------
    url : str
        ``postgresql://USER@HOST:PORT/DB[?schema=NAME]`` (the password from ``PGPASSWORD``,
        ``~/.pgpass`` or ``PGSERVICE``, not the URL).
    sample : bool
        Fill the layers with :func:`gridmap.sample.sample_layers` (illustrative data).
    seed : int
        Seed of the sample.
    exist_ok : bool
        Open the workspace already in the schema instead of refusing it (the sample is then not added).

    Raises
    ------
    WorkspaceError
        When the server does not answer, the database has no PostGIS (and this user may not add it),
        or the schema already holds a workspace and `exist_ok` is false.
    """
    loc = parse_workspace_url(url)
    meta = {"schema_version": str(SCHEMA_VERSION), "created_at": storage_times(
        pd.Series([pd.Timestamp.now(tz="UTC")]), name="created_at").iloc[0],
        "gridmap_version": _gridmap_version(), "illustrative": "true" if sample else "false"}
    con = connect(loc)
    try:
        created = create_schema(con, loc, meta, exist_ok=exist_ok)
        if created:
            write_default_styles(con, loc)
    except WorkspaceError:
        raise
    except Exception as exc:
        raise_for(exc, loc, "create the workspace")
    finally:
        con.close()
    ws = open_postgis(url)
    if sample and created:
        from gridmap.sample import sample_layers  # deferred: GeoPandas, Shapely and pyproj, for the sample only

        for name, frame in sample_layers(seed=seed).items():
            ws.append(name, frame, source=f"gridmap.sample(seed={seed})", source_digest=f"sample-{seed}")
    return ws


def open_postgis(url: str | PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT) -> PostgisWorkspace:
    """Open the workspace in the schema `url` names.

    Parameters
    ----------
    url : str
        ``postgresql://USER@HOST:PORT/DB[?schema=NAME]``.
    busy_timeout : float
        Seconds a write waits for another session writing the same table before
        :class:`~gridmap.errors.WorkspaceBusyError` (:data:`BUSY_TIMEOUT` by default).

    Raises
    ------
    WorkspaceError
        When the server does not answer, or the schema holds no workspace (``gridmap init URL``).
    WorkspaceVersionError
        When the workspace was written by a newer gridmap.
    """
    loc = parse_workspace_url(url)
    con = connect(loc, busy_timeout=busy_timeout)
    try:
        meta = read_meta(con, loc)
        if check_version(meta, loc) < SCHEMA_VERSION:
            meta = migrate(con, loc)  # one transaction, once: see gridmap.storage.postgis._schema
        rows = con.execute(f"SELECT key, zh, en FROM {q(loc.schema)}.{CATEGORIES_TABLE}").fetchall()
    except WorkspaceError:
        raise
    except Exception as exc:
        raise_for(exc, loc, "open the workspace")
    finally:
        con.close()
    version = check_version(meta, loc)
    for key, zh, en in rows:
        register_category(key, zh, en)
    return PostgisWorkspace(loc, meta=meta, schema_version=version, busy_timeout=busy_timeout)


class PostgisWorkspace:
    """An open gridmap workspace in a PostgreSQL/PostGIS schema (implements :class:`~gridmap.storage.WorkspaceStore`).

    Every call opens its own connection and closes it, so an open workspace holds no
    lock between calls. :attr:`path` is the masked URL (printable: no password).
    """

    def __init__(self, url: WorkspaceURL, *, meta: Mapping[str, str], schema_version: int,
                 busy_timeout: float = BUSY_TIMEOUT) -> None:
        self._url = url
        self._meta = dict(meta)
        self._schema_version = schema_version
        self._busy_timeout = float(busy_timeout)
        self._closed = False

    @property
    def url(self) -> WorkspaceURL:
        """The workspace's URL (``str()`` of it is masked)."""
        return self._url

    @property
    def path(self) -> str:
        """The masked URL: where the workspace lives, printable anywhere (the password shown as ``***``)."""
        return self._url.masked

    @property
    def meta(self) -> dict[str, str]:
        """A copy of the workspace's key/value metadata."""
        return dict(self._meta)

    @property
    def schema_version(self) -> int:
        """Schema version stored in the workspace."""
        return self._schema_version

    def __repr__(self) -> str:
        return f"<PostgisWorkspace {self._url.masked!r} schema {self._url.schema!r} " \
               f"({'closed' if self._closed else 'open'})>"

    # -- connections -------------------------------------------------------------------------------------------
    @contextmanager
    def _session(self, doing: str, *, read_only: bool = False) -> Iterator[Any]:
        """A connection in one transaction, committed at the end (rolled back on error), then closed."""
        if self._closed:
            raise WorkspaceError(f"workspace {self._url.masked} is closed; open it again with open_postgis()")
        con = connect(self._url, busy_timeout=self._busy_timeout)
        con.read_only = read_only
        try:
            with con.transaction():
                yield con
        except (WorkspaceError, SchemaError):
            raise
        except Exception as exc:
            import psycopg  # deferred: psycopg is needed only by a PostGIS workspace

            if not isinstance(exc, psycopg.Error):
                raise
            raise_for(exc, self._url, doing)
        finally:
            con.close()

    def _fetch(self, sql: str, params: Sequence[Any] = (), doing: str = "read") -> list[tuple]:
        with self._session(doing, read_only=True) as con:
            return list(con.execute(sql, list(params)).fetchall())

    # -- reading -----------------------------------------------------------------------------------------------
    def _select(self, name: str) -> str:
        spec = layer_spec(name)
        cols = [select_expression(c) for c in spec.columns]
        if spec.geometry is not None:
            cols.append(f"ST_AsBinary({q(GEOMETRY_COLUMN)})")
        return f"SELECT {', '.join(cols)} FROM {q(spec.name)}"

    def read_layer(self, name: str, *, where: str | None = None) -> pd.DataFrame:
        """Every row of layer `name` (or those matching the SQL condition `where`), in insertion order.

        `where` runs in a read-only transaction, with times compared in UTC (``TimeZone=UTC``).
        """
        spec = layer_spec(name)
        sql = self._select(name) + (f" WHERE ({where})" if where else "") + " ORDER BY fid"
        rows = self._fetch(sql, doing=f"read layer {name!r} (where={where!r})")
        return rows_to_frame(rows, spec.columns, spec.geometry is not None)

    def read_window(self, name: str, *, start: Any = None, end: Any = None,
                    bbox: tuple[float, float, float, float] | None = None, subdistrict: str | None = None,
                    keys: Sequence[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """The rows of layer `name` in a period, a box, a subdistrict and/or among keys, at most `limit`.

        :meth:`read_layer` filtered by :func:`gridmap.storage.base.window_rows` (the semantics of
        :meth:`gridmap.storage.WorkspaceStore.read_window`), found with the indexes: the period with the
        layer's time column (B-tree), the box with ``geom && ST_MakeEnvelope(...)`` (GiST), a subdistrict
        with ``left(col, 9) = %s`` (or the report's, or the extent of its grids), keys with ``= ANY(%s)``,
        the limit with ``ORDER BY fid LIMIT n``; :mod:`gridmap.storage.postgis._window` has the SQL.
        """
        spec = layer_spec(name)
        window = Window.of(spec, start, end, bbox, subdistrict=subdistrict, keys=keys, limit=limit)
        tests, params = window_tests(spec, window)
        sql = f"{select_rows(spec)} WHERE {' AND '.join(tests) or 'TRUE'}"
        rule = subdistrict_rule(spec.name) if window.subdistrict is not None else None
        # rectifications and spot checks: the subquery on reports is exact, so the rows need not be checked again
        recheck = dataclasses.replace(window, subdistrict=None) if rule == "report" else window
        grids: list[pd.DataFrame] = []  # the subdistrict's grids, read once, when a layer without a code has rows

        def keep(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
            frame = rows_to_frame([r[1:] for r in rows], spec.columns, spec.geometry is not None)
            if not len(frame):
                return frame
            if rule == "extent" and not grids:
                grids.append(self.read_window("grids", subdistrict=window.subdistrict))
            return frame[window_mask(frame, spec, recheck, grids=grids[0] if grids else None)].reset_index(drop=True)

        doing = f"read layer {name!r}"
        if window.limit is None:
            return keep(self._fetch(sql + " ORDER BY fid", params, doing))
        return first_rows_in_pages(
            lambda after, size: self._fetch(f"{sql} AND fid > %s ORDER BY fid LIMIT %s", [*params, after, size], doing),
            keep, window.limit)

    def counts(self) -> dict[str, int]:
        """Rows per layer, and in ``quarantine``."""
        tables = (*LAYERS, QUARANTINE_TABLE)
        sql = " UNION ALL ".join(f"SELECT {i}, count(*) FROM {q(t)}" for i, t in enumerate(tables))
        found = dict(self._fetch(sql))
        return {t: int(found[i]) for i, t in enumerate(tables)}

    def quarantine(self, source: str | None = None) -> pd.DataFrame:
        """The quarantined records, all or those of one `source`, oldest first."""
        sql = f"SELECT {', '.join(select_expression(c) for c in QUARANTINE_COLUMNS)} FROM {QUARANTINE_TABLE}"
        params = [] if source is None else [source]
        rows = self._fetch(sql + (" WHERE source = %s" if source is not None else "") + " ORDER BY fid", params)
        return rows_to_frame(rows, QUARANTINE_COLUMNS)

    def quarantine_with_options(self, layer: str | None = None) -> pd.DataFrame:
        """The quarantined records of one `layer` or all, with their ``fid`` and their import's ``options``."""
        names = ", ".join(select_expression(c, "q.") for c in QUARANTINE_COLUMNS)
        sql = (f"SELECT q.fid, {names}, i.options::text FROM {QUARANTINE_TABLE} AS q"
               f" LEFT JOIN {IMPORTS_TABLE} AS i ON i.fid = q.import_fid")
        params = [] if layer is None else [layer_spec(layer).name]
        rows = self._fetch(sql + (" WHERE q.layer = %s" if layer is not None else "") + " ORDER BY q.fid", params)
        out = rows_to_frame([r[1:-1] for r in rows], QUARANTINE_COLUMNS)
        out.insert(0, "fid", pd.Series([r[0] for r in rows], dtype="int64"))
        out["options"] = pd.Series([r[-1] for r in rows], dtype=object).astype("string")
        return out

    def imports(self) -> pd.DataFrame:
        """The import log, one row per :meth:`append`, oldest first."""
        names = ", ".join(select_expression(c) for c in _IMPORT_COLUMNS)
        return rows_to_frame(self._fetch(f"SELECT {names} FROM {IMPORTS_TABLE} ORDER BY fid"), _IMPORT_COLUMNS)

    def report_states(self) -> pd.DataFrame:
        """Every stored report's ``report_id`` and ``status``, and whether a rectification of it is stored."""
        rows = self._fetch("SELECT r.report_id, r.status, EXISTS (SELECT 1 FROM rectifications AS x"
                           " WHERE x.report_id = r.report_id) FROM reports AS r ORDER BY r.fid")
        return pd.DataFrame({"report_id": pd.Series([r[0] for r in rows], dtype="string"),
                             "status": pd.Series([r[1] for r in rows], dtype="string"),
                             "rectified": pd.Series([bool(r[2]) for r in rows], dtype=bool)})

    def integrity_check(self) -> str:
        """``'ok'`` when every table is there with its primary key and every geometry column is SRID 4326."""
        rows = self._fetch("SELECT c.relname, EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conrelid = c.oid"
                           " AND k.contype = 'p') FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                           " WHERE n.nspname = %s AND c.relkind = 'r'", [self._url.schema])
        have = dict(rows)
        problems = [f"table {t} is missing" for t in (*LAYERS, QUARANTINE_TABLE, IMPORTS_TABLE) if t not in have]
        problems += [f"table {t} has no primary key" for t in LAYERS if t in have and not have[t]]
        srids = self._fetch("SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema = %s",
                            [self._url.schema])
        problems += [f"layer {t} has SRID {s}, not {SRID}" for t, s in srids if s != SRID]
        return "; ".join(problems) or "ok"

    def categories(self) -> pd.DataFrame:
        """Every report category known here: ``key``, ``zh``, ``en`` and ``builtin``."""
        builtin = builtin_category_keys()
        return pd.DataFrame([{"key": c.key, "zh": c.zh, "en": c.en, "builtin": c.key in builtin}
                             for c in CATEGORIES.values()])

    def add_category(self, key: str, zh: str, en: str | None = None) -> Category:
        """Store a report category (kept for every later session) and register it in this process."""
        category = register_category(key, zh, en)
        with self._session("add a category") as con:
            con.execute(f"INSERT INTO {CATEGORIES_TABLE} (key, zh, en) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        [category.key, category.zh, category.en])
        return category

    def column_aliases(self, layer: str | None = None) -> pd.DataFrame:
        """The stored column aliases (``layer``, ``source``, ``target``), of one layer or all, sorted."""
        params = [] if layer is None else [layer_spec(layer).name]
        rows = self._fetch(f"SELECT layer, source, target FROM {ALIASES_TABLE}"
                           + (" WHERE layer = %s" if layer is not None else "") + " ORDER BY layer, source", params)
        return rows_to_frame(rows, _ALIAS_COLUMNS)

    def add_column_alias(self, layer: str, source: str, target: str) -> None:
        """Store that header `source` (stripped, lower-cased) of `layer`'s files means column `target`."""
        spec = layer_spec(layer)
        header = str(source).replace("\ufeff", "").strip().lower()
        targets = [*spec.column_names, "lon", "lat"]
        if not header:
            raise SchemaError("an alias needs a header: gridmap alias WORKSPACE LAYER 'HEADER=COLUMN'")
        if target not in targets:
            raise SchemaError(f"{target!r} is not a column of layer {spec.name!r}; map {source!r} to one of: "
                              f"{', '.join(targets)}")
        with self._session("store an alias") as con:
            con.execute(f"INSERT INTO {ALIASES_TABLE} (layer, source, target) VALUES (%s, %s, %s)"
                        " ON CONFLICT (layer, source) DO UPDATE SET target = excluded.target",
                        [spec.name, header, target])

    def subdistrict_geometry(self) -> Any:
        """The union of the ``subdistrict`` layer (EPSG:4326), or None when it is empty."""
        import shapely  # deferred: Shapely, needed only for geometry

        frame = self.read_layer("subdistrict")
        return None if len(frame) == 0 else shapely.union_all(frame.geometry.to_numpy())

    # -- writing -----------------------------------------------------------------------------------------------
    def append(self, layer: str, frame: pd.DataFrame, *, quarantine: pd.DataFrame | None = None,
               source: str = "<frame>", source_digest: str = "", read: int | None = None,
               options: Mapping[str, Any] | None = None, raw_records: pd.DataFrame | None = None,
               replaces: Sequence[int] = ()) -> ImportSummary:
        """Store the rows of `frame` and the records of `quarantine` in one transaction.

        The semantics of :meth:`gridmap.storage.WorkspaceStore.append`; the transaction is
        described in :mod:`gridmap.storage.postgis._append` (advisory lock, COPY, ON CONFLICT).
        """
        spec = layer_spec(layer)
        qrows = quarantine_rows(quarantine, layer=layer, source=source, digest=source_digest)
        staged = stage_frame(spec, frame)
        n_read = len(frame) + len(qrows) if read is None else int(read)
        if n_read != len(frame) + len(qrows):
            raise SchemaError(f"read={n_read} but the frame has {len(frame)} rows and the quarantine {len(qrows)}:"
                              f" {n_read - len(frame) - len(qrows)} records would be lost; quarantine every record"
                              " not in the frame")
        batch = Batch(spec, frame, staged, qrows, read=n_read, source=source, digest=source_digest, options=options,
                      raw_records=raw_records, replaces=[int(f) for f in replaces])
        with self._session(f"append to {spec.name}") as con:
            summary = write_in_transaction(con, self._url.schema, batch)
        logger.info("%s", summary.describe())
        return summary

    def restore(self, tables: Mapping[str, pd.DataFrame], meta: Mapping[str, str]) -> None:
        """Write another store's tables, as they are, into this empty workspace (``gridmap copy``).

        See :meth:`gridmap.storage.WorkspaceStore.restore`; here in one transaction
        (:mod:`gridmap.storage.postgis._restore`).

        Raises
        ------
        WorkspaceError
            When the workspace already holds a row, an import or a quarantined record.
        """
        held = {name: n for name, n in self.counts().items() if n}
        if held or len(self.imports()):
            raise WorkspaceError(f"workspace {self._url.masked} is not empty ({held or 'it has an import log'}); "
                                 "restore (gridmap copy) writes into a new workspace only")
        with self._session("restore") as con:
            restore_in_transaction(con, tables, meta)
        self._meta.update({k: str(v) for k, v in meta.items() if k != "schema_version"})
        logger.info("restored %s rows into %s", sum(self.counts().values()), self._url.masked)

    # -- lifetime ----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Mark the workspace closed (it holds no connection between calls)."""
        self._closed = True

    def __enter__(self) -> PostgisWorkspace:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
