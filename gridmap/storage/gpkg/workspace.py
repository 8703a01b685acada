"""The GeoPackage workspace: :class:`Workspace`, :func:`init_workspace` and :func:`open_workspace`.

:class:`Workspace` implements :class:`gridmap.storage.WorkspaceStore` on one ``.gpkg``
file through Python's ``sqlite3`` (see :mod:`gridmap.storage.gpkg` for the journaling
and the transaction); creating and migrating the file is in ``_schema``, the append
transaction in ``_stage``, ``_conflicts`` and ``_append``.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Sequence

import pandas as pd

from gridmap.errors import SchemaError, WorkspaceError
from gridmap.model import (
    CATEGORIES, LAYERS, QUARANTINE_COLUMNS, SCHEMA_VERSION, Category, ImportSummary, builtin_category_keys,
    layer_spec, register_category,
)
from gridmap.storage.base import (
    ALIASES_TABLE, CATEGORIES_TABLE, IMPORTS_TABLE, QUARANTINE_TABLE, Window, subdistrict_rule,
)
from gridmap.storage.gpkg._columns import (
    GEOMETRY_COLUMN, _ALIAS_COLUMNS, _IMPORT_COLUMNS, _QUARANTINE_IMPORT, _STAGE, _busy_or_raise, _q,
    _register_gpkg_functions, _rows_to_frame, _typed_frame, _utc_now_text,
)
from gridmap.storage.gpkg._stage import _quarantine_rows, _stage_frame, _write_stage
from gridmap.storage.gpkg._append import _Batch, _write_in_transaction
from gridmap.storage.gpkg._window import read_window_rows
from gridmap.storage.gpkg._restore import _restore_bookkeeping, _restore_layer
from gridmap.storage.gpkg._schema import (
    _build_workspace_file, _check_version, _gridmap_version, _migrate, _read_meta, _remove_workspace_files,
)

logger = logging.getLogger(__name__)


def init_workspace(
    path: str | PathLike[str], *, sample: bool = False, overwrite: bool = False, seed: int = 0
) -> Workspace:
    """Create a workspace GeoPackage with every layer of the model, empty or filled with sample data.

    Parameters
    ----------
    path : str or path-like
        The ``.gpkg`` file to create, on a local disk (WAL journaling does not
        work on network drives).
    sample : bool
        Fill the layers with :func:`gridmap.sample.sample_layers` (illustrative
        data, not surveyed; the workspace's ``illustrative`` flag says so).
    overwrite : bool
        Replace an existing file. Without it an existing file is an error.
    seed : int
        Seed of the sample data.

    Returns
    -------
    Workspace

    Raises
    ------
    WorkspaceError
        When `path` exists and `overwrite` is false, or WAL cannot be enabled.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
    ...     print(ws.meta["schema_version"], ws.meta["illustrative"])
    4 false
    >>> tmp.cleanup()
    """
    target = Path(path)
    if target.exists():
        if not overwrite:
            raise WorkspaceError(
                f"{target} already exists; pass overwrite=True (gridmap init --overwrite) to replace it"
            )
        _remove_workspace_files(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "schema_version": str(SCHEMA_VERSION),
        "created_at": _utc_now_text(),
        "gridmap_version": _gridmap_version(),
        "illustrative": "true" if sample else "false",
    }
    _build_workspace_file(target, meta)
    logger.info("created workspace %s (schema %s)", target, SCHEMA_VERSION)
    ws = open_workspace(target)
    if sample:
        _fill_sample(ws, seed=seed)
    return ws


def _fill_sample(ws: Workspace, *, seed: int) -> None:
    # deferred: GeoPandas, Shapely and pyproj (the sample's generator), needed only for init_workspace(sample=True)
    from gridmap.sample import sample_layers

    for name, frame in sample_layers(seed=seed).items():
        ws.append(name, frame, source=f"gridmap.sample(seed={seed})", source_digest=f"sample-{seed}")


def open_workspace(path: str | PathLike[str], *, busy_timeout: float = 10.0) -> Workspace:
    """Open an existing workspace.

    Parameters
    ----------
    path : str or path-like
        A GeoPackage created by :func:`init_workspace` (``gridmap init``).
    busy_timeout : float
        Seconds a write waits for another process's write to finish before
        raising :class:`~gridmap.errors.WorkspaceBusyError`.

    Returns
    -------
    Workspace

    Raises
    ------
    WorkspaceError
        When `path` is missing or not a gridmap workspace.
    WorkspaceVersionError
        When the workspace was written by a newer gridmap.

    Notes
    -----
    A workspace of an older schema is migrated when opened, in one
    transaction: schema 1 → 2 adds the ``spotchecks`` table, 2 → 3 the ``extra``
    column of every layer, the table of column aliases, the ``options`` of each import
    and the quarantine's link to its import (``import_fid``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory()
    >>> init_workspace(pathlib.Path(tmp.name) / "w.gpkg").close()
    >>> with open_workspace(pathlib.Path(tmp.name) / "w.gpkg", busy_timeout=2) as ws:
    ...     ws.integrity_check()
    'ok'
    >>> tmp.cleanup()
    """
    target = Path(path)
    meta = _read_meta(target)
    version = _check_version(meta, target)
    if version < SCHEMA_VERSION:
        _migrate(target, version, busy_timeout=busy_timeout)
        meta, version = _read_meta(target), SCHEMA_VERSION
    ws = Workspace(target, meta=meta, schema_version=version, busy_timeout=busy_timeout)
    ws._register_categories()
    return ws


# ---------------------------------------------------------------------------------------------------------------
# the workspace
# ---------------------------------------------------------------------------------------------------------------


class Workspace:
    """An open gridmap workspace (a GeoPackage file).

    Create one with :func:`init_workspace` or :func:`open_workspace`. Every
    operation opens its own short SQLite connection, so a ``Workspace`` holds
    no lock between calls.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely.geometry import Point
    >>> tmp = tempfile.TemporaryDirectory()
    >>> ws = init_workspace(pathlib.Path(tmp.name) / "w.gpkg")
    >>> reports = gpd.GeoDataFrame(
    ...     {"report_id": ["r1", "r2"], "category": ["garbage_dumping"] * 2,
    ...      "reported_at": pd.to_datetime(["2025-03-01 09:00", "2025-03-02 10:30"]).tz_localize("Asia/Shanghai")},
    ...     geometry=[Point(109.73, 38.29), Point(109.74, 38.28)], crs="EPSG:4326")
    >>> ws.append("reports", reports, source="demo").accepted
    2
    >>> ws.append("reports", reports, source="demo").duplicates
    2
    >>> ws.read_layer("reports")["reported_at"].iloc[0]
    Timestamp('2025-03-01 09:00:00+0800', tz='Asia/Shanghai')
    >>> ws.close()
    >>> tmp.cleanup()
    """

    def __init__(self, path: Path, *, meta: Mapping[str, str], schema_version: int, busy_timeout: float) -> None:
        self._path = Path(path)
        self._meta = dict(meta)
        self._schema_version = schema_version
        self._busy_timeout = float(busy_timeout)
        self._closed = False

    # -- properties --------------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The workspace file."""
        return self._path

    @property
    def schema_version(self) -> int:
        """Schema version stored in the workspace."""
        return self._schema_version

    @property
    def meta(self) -> dict[str, str]:
        """A copy of the workspace's key/value metadata."""
        return dict(self._meta)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Workspace {str(self._path)!r} schema {self._schema_version} ({state})>"

    # -- connections -------------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """A new connection in autocommit mode, WAL, synchronous=FULL, busy timeout set."""
        if self._closed:
            raise WorkspaceError(f"workspace {self._path} is closed; open it again with open_workspace()")
        con = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        _register_gpkg_functions(con)
        try:
            con.execute("PRAGMA synchronous = FULL")
            con.execute("PRAGMA cache_size = -65536")  # 64 MiB: fewer spills while building the R-tree
            con.execute("PRAGMA foreign_keys = OFF")
        except sqlite3.OperationalError as exc:
            con.close()
            _busy_or_raise(exc, self._path)
        return con

    def pragmas(self) -> dict[str, str]:
        """Journal mode and synchronous setting of the workspace's write connections.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     ws.pragmas()
        {'journal_mode': 'wal', 'synchronous': 'FULL'}
        >>> tmp.cleanup()
        """
        con = self._connect()
        try:
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
            sync = con.execute("PRAGMA synchronous").fetchone()[0]
        finally:
            con.close()
        return {"journal_mode": str(mode).lower(), "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[sync]}

    def _query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        con = self._connect()
        try:
            return pd.read_sql_query(sql, con, params=list(params))
        finally:
            con.close()

    # -- reading -----------------------------------------------------------------------------------------------
    def read_layer(self, name: str, *, where: str | None = None) -> pd.DataFrame:
        """Read a layer, typed per the model.

        The rows are read with Python's ``sqlite3`` and the GeoPackage geometry
        blobs decoded here, not through GDAL: in one process, GDAL's bundled
        SQLite would delete the WAL files under another open ``sqlite3``
        connection (see the module notes), which ends in "disk I/O error".

        Parameters
        ----------
        name : str
            A layer of :data:`gridmap.model.LAYERS`.
        where : str, optional
            An SQLite ``WHERE`` clause, e.g. ``"category = 'firewood_pile'"``
            (run on a read-only connection).

        Returns
        -------
        geopandas.GeoDataFrame or pandas.DataFrame
            The model columns in order (times tz-aware in Asia/Shanghai, ints
            as nullable ``Int64``, text as ``string``), the geometry in
            EPSG:4326 for spatial layers; no GDAL ``fid`` column.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     list(ws.read_layer("tracks").columns)
        ['inspector', 'time', 'track_id', 'extra', 'geometry']
        >>> tmp.cleanup()
        """
        spec = layer_spec(name)
        cols = [_q(c) for c in spec.column_names]
        if spec.geometry is not None:
            cols.append(_q(GEOMETRY_COLUMN))
        sql = f"SELECT {', '.join(cols)} FROM {_q(name)}" + (f" WHERE ({where})" if where else "") + " ORDER BY fid"
        con = self._connect()
        try:
            con.execute("PRAGMA query_only = ON")  # `where` is the caller's SQL: it may read, never write
            rows = con.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            raise WorkspaceError(f"cannot read layer {name!r} of {self._path} (where={where!r}): {exc}") from exc
        finally:
            con.close()
        return _rows_to_frame(rows, spec)

    def read_window(self, name: str, *, start: Any = None, end: Any = None,
                    bbox: tuple[float, float, float, float] | None = None, subdistrict: str | None = None,
                    keys: Sequence[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """The rows of layer `name` in a period, a box, a subdistrict and/or among keys, at most `limit`.

        :meth:`read_layer` (its columns, dtypes, CRS and insertion order) filtered by
        :func:`gridmap.storage.base.window_rows`, found through the layer's indexes (time column, R-tree,
        code, key: :mod:`gridmap.storage.gpkg._window`). A part the layer cannot be read by is a ``SchemaError``.

        Parameters
        ----------
        name : str
            A layer of :data:`gridmap.model.LAYERS`.
        start, end : time, optional
            The period ``[start, end)`` of the layer's first time column (a naive time is Asia/Shanghai).
        bbox : (minx, miny, maxx, maxy), optional
            Rows whose geometry's bounding box meets this box (EPSG:4326, edges included).
        subdistrict : str, optional
            A 9-digit code: rows whose code starts with it; rectifications and spot checks of its reports;
            tracks, streets, wall and demolition zones meeting its grids' extent (``subdistrict_rule``).
        keys : sequence of str, optional
            Rows whose key (the layer's one key column) is one of these; an empty sequence reads no row.
        limit : int, optional
            At most this many rows, the first in insertion order.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg", sample=True) as ws:
        ...     week = ws.read_window("reports", start="2025-03-03", end="2025-03-10")
        ...     times = ws.read_layer("reports")["reported_at"].dt.tz_localize(None)
        ...     code = ws.read_layer("subdistrict")["code"].iloc[0]
        ...     print(len(week) == ((times >= "2025-03-03") & (times < "2025-03-10")).sum(), code)
        ...     mine, none = ws.read_window("grids", subdistrict=code), ws.read_window("grids", subdistrict="610802999")
        ...     print(len(mine), len(none))
        ...     print(ws.read_window("reports", keys=["R000002", "R000001", "nope"])["report_id"].tolist())
        ...     print(ws.read_window("rectifications", subdistrict=code, limit=1)["report_id"].tolist())
        True 610802001
        36 0
        ['R000001', 'R000002']
        ['R000001']
        >>> tmp.cleanup()
        """
        spec = layer_spec(name)
        window = Window.of(spec, start, end, bbox, subdistrict=subdistrict, keys=keys, limit=limit)
        grids = None
        if window.subdistrict is not None and subdistrict_rule(spec.name) == "extent":
            grids = self.read_window("grids", subdistrict=window.subdistrict)
        con = self._connect()
        try:
            return read_window_rows(con, spec, window, grids=grids)
        except sqlite3.OperationalError as exc:
            raise WorkspaceError(f"cannot read a window of layer {name!r} of {self._path}: {exc}") from exc
        finally:
            con.close()

    def counts(self) -> dict[str, int]:
        """Rows per layer, and in ``quarantine``.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     sum(ws.counts().values())
        0
        >>> tmp.cleanup()
        """
        con = self._connect()
        try:
            return {t: int(con.execute(f"SELECT count(*) FROM {_q(t)}").fetchone()[0])
                    for t in (*LAYERS, QUARANTINE_TABLE)}
        finally:
            con.close()

    def quarantine(self, source: str | None = None) -> pd.DataFrame:
        """The quarantined records, all or those of one `source`, oldest first.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     list(ws.quarantine().columns)[:4]
        ['layer', 'source', 'source_digest', 'record']
        >>> tmp.cleanup()
        """
        names = ", ".join(_q(c.name) for c in QUARANTINE_COLUMNS)
        sql = f"SELECT {names} FROM {QUARANTINE_TABLE}"
        params: tuple[str, ...] = ()
        if source is not None:
            sql, params = sql + " WHERE source = ?", (source,)
        return _typed_frame(self._query(sql + " ORDER BY fid", params), QUARANTINE_COLUMNS)

    def quarantine_with_options(self, layer: str | None = None) -> pd.DataFrame:
        """The quarantined records (of one `layer` or all) with their ``fid`` and their import's ``options``.

        ``options`` is the JSON text the import logged (:func:`gridmap.io.importer.import_options`),
        missing for records quarantined before imports logged their options; what
        :func:`gridmap.retry_quarantine` needs to prepare the records again.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     list(ws.quarantine_with_options().columns)[-2:]
        ['quarantined_at', 'options']
        >>> tmp.cleanup()
        """
        names = ", ".join(f"q.{_q(c.name)}" for c in QUARANTINE_COLUMNS)
        sql = (f"SELECT q.fid AS fid, {names}, i.options AS options FROM {QUARANTINE_TABLE} AS q"
               f" LEFT JOIN {IMPORTS_TABLE} AS i ON i.fid = q.{_q(_QUARANTINE_IMPORT.name)}")
        params: tuple[str, ...] = ()
        if layer is not None:
            sql, params = sql + " WHERE q.layer = ?", (layer_spec(layer).name,)
        frame = self._query(sql + " ORDER BY q.fid", params)
        out = _typed_frame(frame, QUARANTINE_COLUMNS)
        out["fid"] = pd.to_numeric(frame["fid"]).astype("int64")
        out["options"] = frame["options"].astype("string")
        return out[["fid", *(c.name for c in QUARANTINE_COLUMNS), "options"]]

    def imports(self) -> pd.DataFrame:
        """The import log, one row per :meth:`append`, oldest first.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     len(ws.imports())
        0
        >>> tmp.cleanup()
        """
        names = ", ".join(_q(c.name) for c in _IMPORT_COLUMNS)
        return _typed_frame(self._query(f"SELECT {names} FROM {IMPORTS_TABLE} ORDER BY fid"), _IMPORT_COLUMNS)

    def report_states(self) -> pd.DataFrame:
        """Every stored report's ``report_id`` and ``status``, and whether a rectification of it is stored.

        Returns
        -------
        pandas.DataFrame
            ``report_id`` and ``status`` (``string``), ``rectified`` (bool), in insertion order.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg", sample=True) as ws:
        ...     states = ws.report_states()
        ...     len(states) == ws.counts()["reports"], list(states.columns)
        (True, ['report_id', 'status', 'rectified'])
        >>> tmp.cleanup()
        """
        frame = self._query("SELECT r.report_id AS report_id, r.status AS status, EXISTS (SELECT 1 FROM"
                            " rectifications AS x WHERE x.report_id = r.report_id) AS rectified FROM reports AS r"
                            " ORDER BY r.fid")
        return pd.DataFrame({"report_id": frame["report_id"].astype("string"),
                             "status": frame["status"].astype("string"),
                             "rectified": frame["rectified"].astype(bool)})

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``'ok'`` for an intact file."""
        con = self._connect()
        try:
            return "\n".join(str(r[0]) for r in con.execute("PRAGMA integrity_check"))
        finally:
            con.close()

    def _register_categories(self) -> None:
        """Make the categories stored in this workspace known to gridmap.model in this process."""
        con = self._connect()
        try:
            rows = con.execute(f"SELECT key, zh, en FROM {CATEGORIES_TABLE}").fetchall()
        except sqlite3.OperationalError:
            rows = []  # a workspace made before custom categories existed
        finally:
            con.close()
        for key, zh, en in rows:
            register_category(key, zh, en)

    def add_category(self, key: str, zh: str, en: str | None = None) -> Category:
        """Add a report category to this workspace (kept in it for every later session).

        Parameters
        ----------
        key : str
            Lower-case English key, letters, digits and underscores.
        zh : str
            zh-Hans label users see and may type on import.
        en : str, optional
            English label.

        Returns
        -------
        gridmap.model.Category

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     ws.add_category("illegal_ad_posting", "乱贴小广告", "illegal ad posting").zh
        '乱贴小广告'
        >>> with open_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     "illegal_ad_posting" in set(ws.categories()["key"])
        True
        >>> tmp.cleanup()
        """
        category = register_category(key, zh, en)
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(f"INSERT OR IGNORE INTO {CATEGORIES_TABLE} (key, zh, en) VALUES (?, ?, ?)",
                        (category.key, category.zh, category.en))
            con.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _busy_or_raise(exc, self._path)
        finally:
            con.close()
        return category

    def categories(self) -> pd.DataFrame:
        """Every report category known here: ``key``, ``zh``, ``en`` and ``builtin``."""
        builtin = builtin_category_keys()
        return pd.DataFrame(
            [{"key": c.key, "zh": c.zh, "en": c.en, "builtin": c.key in builtin} for c in CATEGORIES.values()]
        )

    def add_column_alias(self, layer: str, source: str, target: str) -> None:
        """Store that header `source` of `layer`'s files means model column `target` (``gridmap alias``).

        The mapping is kept in the workspace (:data:`ALIASES_TABLE`), so next month's file of the same
        shape imports without ``--map``. A second mapping of the same header replaces the first.

        Parameters
        ----------
        layer : str
            A layer of :data:`gridmap.model.LAYERS`.
        source : str
            The header as written in the files (matched stripped and case-insensitively).
        target : str
            A column of the layer, or ``lon``/``lat`` for coordinate columns.

        Raises
        ------
        SchemaError
            An unknown layer or target column, or an empty header.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
        ...     ws.add_column_alias("reports", "巡查发现问题", "description")
        ...     ws.column_aliases().values.tolist()
        [['reports', '巡查发现问题', 'description']]
        >>> tmp.cleanup()
        """
        spec = layer_spec(layer)
        header = str(source).replace("\ufeff", "").strip().lower()
        targets = [*spec.column_names, "lon", "lat"]
        if not header:
            raise SchemaError("an alias needs a header: gridmap alias WORKSPACE LAYER 'HEADER=COLUMN'")
        if target not in targets:
            raise SchemaError(f"{target!r} is not a column of layer {spec.name!r}; map {source!r} to one of: "
                              f"{', '.join(targets)}")
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(f"DELETE FROM {ALIASES_TABLE} WHERE layer = ? AND source = ?", (spec.name, header))
            con.execute(f"INSERT INTO {ALIASES_TABLE} (layer, source, target) VALUES (?, ?, ?)",
                        (spec.name, header, target))
            con.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _busy_or_raise(exc, self._path)
        finally:
            con.close()
        logger.info("alias stored: %s header %r → %s", spec.name, header, target)

    def column_aliases(self, layer: str | None = None) -> pd.DataFrame:
        """The stored column aliases (``layer``, ``source``, ``target``), of one layer or of all, sorted."""
        where, params = ("", ()) if layer is None else (" WHERE layer = ?", (layer_spec(layer).name,))
        frame = self._query(f"SELECT layer, source, target FROM {ALIASES_TABLE}{where} ORDER BY layer, source",
                            params)
        return frame.astype("string") if len(frame) else pd.DataFrame(
            {c.name: pd.Series(dtype="string") for c in _ALIAS_COLUMNS})

    def subdistrict_geometry(self) -> Any:
        """The union of the ``subdistrict`` layer (EPSG:4326), or None when it is empty."""
        import shapely

        frame = self.read_layer("subdistrict")
        if len(frame) == 0:
            return None
        return shapely.union_all(frame.geometry.to_numpy())

    # -- writing -----------------------------------------------------------------------------------------------
    def append(
        self,
        layer: str,
        frame: pd.DataFrame,
        *,
        quarantine: pd.DataFrame | None = None,
        source: str = "<frame>",
        source_digest: str = "",
        read: int | None = None,
        options: Mapping[str, Any] | None = None,
        raw_records: pd.DataFrame | None = None,
        replaces: Sequence[int] = (),
    ) -> ImportSummary:
        """Append rows to a layer in one transaction, skipping rows already stored.

        A row whose key is already stored, or used by an earlier row of `frame`, is a
        duplicate when its content is the same (:func:`content_columns` and the geometry, to
        :data:`GEOMETRY_TOLERANCE`), and is not stored again; with other content it is
        quarantined as ``key_conflict``, the detail naming the stored (or earlier) and the
        incoming values of each column that differs. Never is a row with different content
        dropped as a duplicate.

        Parameters
        ----------
        layer : str
            A layer of :data:`gridmap.model.LAYERS`.
        frame : pandas.DataFrame or geopandas.GeoDataFrame
            Rows with the layer's model columns (other columns are ignored;
            ``_record``, the row's number in the source, numbers a key conflict).
            Spatial layers need a GeoDataFrame with a CRS. Times without a zone
            are taken as Asia/Shanghai; times are stored to the millisecond.
        quarantine : pandas.DataFrame, optional
            Records of the same source that could not be imported (columns of
            :data:`gridmap.model.QUARANTINE_COLUMNS`); stored in the same
            transaction. A record already quarantined (same layer, digest,
            record and reason) is not stored twice but still counted.
        source, source_digest : str
            Where the rows came from, for the log and the quarantine.
        read : int, optional
            Records read from the source; defaults to ``len(frame) + len(quarantine)``.
        options : mapping, optional
            What the import was run with (JSON-able), kept in the import log; the
            quarantined records of an import with options can be retried
            (:func:`gridmap.retry_quarantine`).
        raw_records : pandas.DataFrame, optional
            The reader's records (with ``_record``): a key conflict is quarantined
            with its record as read. Without them, with the row of `frame`.
        replaces : sequence of int
            Quarantine rows (their ``fid``) whose records `frame` and `quarantine`
            hold again (a retry): deleted in the same transaction.

        Returns
        -------
        gridmap.model.ImportSummary
            ``read == accepted + duplicates + quarantined``.

        Raises
        ------
        WorkspaceBusyError
            When another process holds the write lock longer than ``busy_timeout``.
        SchemaError, CRSError
            When the frame does not fit the layer; nothing is written.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> import pandas as pd
        >>> tmp = tempfile.TemporaryDirectory()
        >>> ws = init_workspace(pathlib.Path(tmp.name) / "w.gpkg")
        >>> fixes = pd.DataFrame({"report_id": ["r1", "r1", "r1"],
        ...                       "rectified_at": ["2025-03-02T10:00:00+08:00"] * 3, "tonnes": [1.5, 1.5, 2.0]})
        >>> summary = ws.append("rectifications", fixes, source="fixes.csv")
        >>> print(summary.describe().splitlines()[0])
        fixes.csv → rectifications: read 3, accepted 1, duplicates 1, quarantined 1
        >>> for part in ws.quarantine()["detail"].iloc[0].split("; "):
        ...     print(part)
        report_id r1, rectified_at 2025-03-02 10:00:00+08:00 is used by record 1 earlier in this file with tonnes 1.5
        this row has tonnes 2.0
        give the row its own report_id and rectified_at or correct the file
        >>> ws.close()
        >>> tmp.cleanup()
        """
        spec = layer_spec(layer)
        qrows = _quarantine_rows(quarantine, layer=layer, source=source, digest=source_digest)
        staged = _stage_frame(spec, frame)
        n_read = len(frame) + len(qrows) if read is None else int(read)
        if n_read != len(frame) + len(qrows):
            raise SchemaError(
                f"read={n_read} but the frame has {len(frame)} rows and the quarantine {len(qrows)}:"
                f" {n_read - len(frame) - len(qrows)} records would be lost; quarantine every record not in the frame"
            )
        batch = _Batch(spec, frame, staged, qrows, read=n_read, source=source, digest=source_digest,
                       options=options, raw_records=raw_records, replaces=[int(f) for f in replaces])
        with tempfile.TemporaryDirectory(prefix="gridmap-stage-") as folder:
            stage_path = _write_stage(spec, staged.rows, Path(folder)) if len(staged.rows) else None
            summary = self._commit(batch, stage_path)
        logger.info("%s", summary.describe())
        return summary

    def _commit(self, batch: "_Batch", stage_path: Path | None) -> ImportSummary:
        con = self._connect()
        try:
            if stage_path is not None:
                con.execute(f"ATTACH DATABASE ? AS {_STAGE}", (str(stage_path),))
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                _busy_or_raise(exc, self._path)
            try:
                summary = _write_in_transaction(con, batch, stage_path is not None)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            _busy_or_raise(exc, self._path)
        finally:
            con.close()
        return summary

    def restore(self, tables: Mapping[str, pd.DataFrame], meta: Mapping[str, str]) -> None:
        """Write another store's tables, as they are, into this empty workspace (``gridmap copy``).

        See :meth:`gridmap.storage.WorkspaceStore.restore`. Here each layer is copied in its own
        transaction (through the staging file, as :meth:`append` does, without its checks), then
        the import log, the quarantine and the metadata in one more.

        Raises
        ------
        WorkspaceError
            When the workspace already holds a row, an import or a quarantined record.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with init_workspace(pathlib.Path(tmp.name) / "a.gpkg", sample=True) as a:
        ...     tables = {name: a.read_layer(name) for name in LAYERS}
        ...     tables.update({IMPORTS_TABLE: a.imports(), QUARANTINE_TABLE: a.quarantine_with_options()})
        ...     with init_workspace(pathlib.Path(tmp.name) / "b.gpkg") as b:
        ...         b.restore(tables, a.meta)
        ...         b.counts() == a.counts(), b.meta["illustrative"], len(b.imports()) == len(a.imports())
        (True, 'true', True)
        >>> tmp.cleanup()
        """
        held = {name: n for name, n in self.counts().items() if n}
        if held or len(self.imports()):
            raise WorkspaceError(f"workspace {self._path} is not empty ({held or 'it has an import log'}); "
                                 "restore (gridmap copy) writes into a new workspace only")
        for name in LAYERS:
            frame = tables.get(name)
            if frame is not None and len(frame):
                self._write(lambda con, spec=layer_spec(name), rows=frame: _restore_layer(con, spec, rows))
        no_quarantine = pd.DataFrame(columns=["fid", *(c.name for c in QUARANTINE_COLUMNS), "options"])
        imports = tables.get(IMPORTS_TABLE, pd.DataFrame(columns=[c.name for c in _IMPORT_COLUMNS]))
        quarantine = tables.get(QUARANTINE_TABLE, no_quarantine)
        self._write(lambda con: _restore_bookkeeping(con, imports, quarantine, meta))
        self._meta.update({k: str(v) for k, v in meta.items() if k != "schema_version"})
        logger.info("restored %s rows into %s", sum(self.counts().values()), self._path)

    def _write(self, work: Any) -> None:
        """Run `work(connection)` (which opens and ends its own transaction); a busy workspace is an error."""
        con = self._connect()
        try:
            work(con)
        except sqlite3.OperationalError as exc:
            _busy_or_raise(exc, self._path)
        finally:
            con.close()

    # -- lifetime ----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Mark the workspace closed (it holds no connection between calls)."""
        self._closed = True

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
