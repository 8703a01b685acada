"""Connections, names and value conversions of the PostGIS store.

Every connection is opened with the session settings the store relies on:
``TimeZone=UTC`` (a ``where`` such as ``reported_at >= '2025-03-01'`` compares with UTC
times, as the GeoPackage's UTC text does) and ``search_path`` = the workspace's schema, then
``public`` (where ``CREATE EXTENSION postgis`` puts its functions). Errors never show a
password: every message goes through :func:`gridmap.storage.url.mask_url`, and the URL's own
password, if any, is replaced by ``***`` wherever libpq repeats it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Sequence
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd

from gridmap.errors import SchemaError, WorkspaceBusyError, WorkspaceError
from gridmap.model import DEFAULT_TZ, EXTRA_COLUMN, STORAGE_CRS, Column, LayerSpec
from gridmap.storage.url import WorkspaceURL, mask_url
from gridmap.storage.rows import GEOMETRY_COLUMN  # noqa: F401 - re-exported: the geometry column of every store

logger = logging.getLogger(__name__)

#: SRID of every geometry column (EPSG:4326, the model's storage CRS).
SRID = 4326

_IMPORT_COLUMNS: tuple[Column, ...] = (
    Column("layer"), Column("source"), Column("source_digest"), Column("read", "int"), Column("accepted", "int"),
    Column("duplicates", "int"), Column("quarantined", "int"), Column("reasons"), Column("imported_at", "datetime"),
    Column("options"),
)
_QUARANTINE_IMPORT = Column("import_fid", "int")
_ALIAS_COLUMNS: tuple[Column, ...] = (Column("layer"), Column("source"), Column("target"))
_SQL_TYPES = {"str": "text", "int": "bigint", "float": "double precision", "datetime": "timestamptz"}
_PANDAS_DTYPES = {"str": "string", "int": "Int64", "float": "float64", "datetime": f"datetime64[ms, {DEFAULT_TZ}]"}
#: Columns holding JSON text: stored as ``json`` (which keeps the text as given; ``jsonb`` would reorder keys
#: and respace it, and a read must give back the text the GeoPackage gives).
_JSON_COLUMNS = frozenset({EXTRA_COLUMN, "reasons", "options"})


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_type(col: Column) -> str:
    """The PostgreSQL type of a model column."""
    return "json" if col.name in _JSON_COLUMNS else _SQL_TYPES[col.dtype]


def geometry_type(spec: LayerSpec) -> str:
    """``geometry(TYPE, 4326)`` of a spatial layer (the model's ``Geometry`` stays generic)."""
    assert spec.geometry is not None
    return f"geometry({spec.geometry}, {SRID})"


def _password(url: WorkspaceURL) -> str | None:
    try:
        secret = urlsplit(url.conninfo).password
    except ValueError:
        return None
    return unquote(secret) if secret else None


def safe_message(exc: BaseException, url: WorkspaceURL) -> str:
    """The first lines of a driver error, with every password masked.

    Examples
    --------
    >>> from gridmap.storage.url import parse_workspace_url
    >>> url = parse_workspace_url("postgresql://office:pw%21x@db/city")
    >>> safe_message(ValueError("bad password pw!x for postgresql://office:pw%21x@db/city"), url)
    'bad password *** for postgresql://office:***@db/city'
    """
    text = mask_url(" ".join(str(exc).strip().splitlines()[:3]))
    secret = _password(url)
    return text.replace(secret, "***") if secret else text


#: Seconds to wait for the server to answer a new connection.
CONNECT_TIMEOUT = 10
#: Seconds a write waits for another session's write of the same table (the append's advisory lock) before
#: :class:`WorkspaceBusyError`: longer than the GeoPackage's 10 s, as importers of one database queue up.
BUSY_TIMEOUT = 300.0


def connect(url: WorkspaceURL, *, busy_timeout: float = BUSY_TIMEOUT) -> Any:
    """A new psycopg connection (autocommit: each use opens its own ``con.transaction()``) with the session settings.

    Raises
    ------
    WorkspaceError
        When the server does not answer or refuses the login; the message shows the masked URL.
    """
    import psycopg  # deferred: psycopg is needed only by a PostGIS workspace

    # lock_timeout bounds every lock wait, advisory locks included
    # (https://www.postgresql.org/docs/15/runtime-config-client.html#GUC-LOCK-TIMEOUT)
    # client_encoding: COPY text is written as UTF-8 bytes (gridmap.storage.postgis._stage.copy_text)
    options = (f"-c TimeZone=UTC -c client_encoding=UTF8 -c search_path={url.schema},public"
               f" -c lock_timeout={max(1, int(busy_timeout * 1000))}")
    try:
        return psycopg.connect(url.conninfo, connect_timeout=CONNECT_TIMEOUT, options=options,
                               autocommit=True)
    except psycopg.Error as exc:
        raise WorkspaceError(f"cannot connect to {url.masked}: {safe_message(exc, url)}; check the URL, that the "
                             "server runs and the password (PGPASSWORD or ~/.pgpass)") from None


def raise_for(exc: BaseException, url: WorkspaceURL, doing: str) -> None:
    """Turn a driver error into :class:`WorkspaceBusyError` (lock timeout) or :class:`WorkspaceError`."""
    import psycopg  # deferred: psycopg is needed only by a PostGIS workspace

    if isinstance(exc, (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected)):
        raise WorkspaceBusyError(f"workspace busy: another session is writing {url.masked}; try again when it has "
                                 "finished") from None
    raise WorkspaceError(f"cannot {doing} in {url.masked}: {safe_message(exc, url)}") from None


# ---------------------------------------------------------------------------------------------------------------
# values to storage
# ---------------------------------------------------------------------------------------------------------------


def utc_now() -> datetime:
    """Now, in UTC, to the millisecond (what a time column stores)."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _parse_times(values: pd.Series) -> pd.Series:
    if values.dtype != object:
        return pd.to_datetime(values)
    try:
        return pd.to_datetime(values, format="ISO8601")
    except ValueError:
        pass

    def one(value: Any) -> Any:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            return pd.NaT
        stamp = pd.Timestamp(value)
        return (stamp.tz_localize(DEFAULT_TZ) if stamp.tzinfo is None else stamp).tz_convert("UTC")

    return pd.Series([one(v) for v in values], index=values.index, dtype="datetime64[ms, UTC]")


def utc_millis(values: pd.Series, *, name: str) -> np.ndarray:
    """Times as UTC ``datetime64[ms]`` (floored to the millisecond; missing → NaT).

    Times without a zone are :data:`gridmap.model.DEFAULT_TZ`; the millisecond is what the
    GeoPackage store keeps too, so both stores hold the same instants.

    Examples
    --------
    >>> utc_millis(pd.Series(["2025-03-01 08:00:00.1239", None]), name="t")
    array(['2025-03-01T00:00:00.123', 'NaT'], dtype='datetime64[ms]')
    """
    series = values
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        try:
            series = _parse_times(series)
        except (ValueError, TypeError) as exc:
            raise SchemaError(f"column {name!r} holds values that are not times ({exc}); quarantine them "
                              "(unparseable_time) first") from None
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_localize(DEFAULT_TZ)
    return series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ms]")


def storage_times(values: pd.Series, *, name: str) -> pd.Series:
    """Times as ISO 8601 UTC text to the millisecond (``2025-03-01T00:00:00.000Z``), floored; missing → None.

    The instants of :func:`utc_millis`.

    Examples
    --------
    >>> storage_times(pd.Series(["2025-03-01 08:00:00.1239", None]), name="t").tolist()
    ['2025-03-01T00:00:00.123Z', None]
    """
    utc = utc_millis(values, name=name)
    text = np.char.add(np.datetime_as_string(utc, unit="ms").astype(object), "Z")
    out = pd.Series(text, index=values.index, dtype=object)
    out[np.isnat(utc)] = None
    return out


def typed_column(values: pd.Series, col: Column) -> pd.Series:
    """One model column in storage form, typed: UTC ``datetime64[ms]``, ``Int64``, ``float64`` or ``string``.

    Examples
    --------
    >>> typed_column(pd.Series(["1", None]), Column("n", "int")).tolist()
    [1, <NA>]
    """
    if col.dtype == "datetime":
        return pd.Series(utc_millis(values, name=col.name), index=values.index, name=values.name)
    try:
        if col.dtype == "int":
            return pd.to_numeric(values).astype("Int64")
        if col.dtype == "float":
            return pd.to_numeric(values).astype("float64")
        return values.astype("string")
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"column {col.name!r} should hold {col.dtype} values ({exc}); quarantine them "
                          "(unparseable_value) first") from None


def storage_column(values: pd.Series, col: Column) -> pd.Series:
    """One model column as Python values to insert (None for missing; times as :func:`storage_times` text)."""
    if col.dtype == "datetime":
        return storage_times(values, name=col.name)
    out = typed_column(values, col)
    return out.astype(object).where(out.notna(), None)


def check_json(values: pd.Series, name: str) -> None:
    """Refuse text that is not JSON in a JSON column (the server would refuse the whole COPY)."""
    for value in values.dropna().unique():
        try:
            json.loads(value)
        except ValueError:
            raise SchemaError(f"column {name!r} holds {str(value)[:60]!r}, which is not JSON text; "
                              "it must hold the file's other columns as a JSON object") from None


# ---------------------------------------------------------------------------------------------------------------
# stored values to frames
# ---------------------------------------------------------------------------------------------------------------


def select_expression(col: Column, alias: str = "") -> str:
    """How a column is selected: times as epoch milliseconds (exact), JSON as its text.

    Examples
    --------
    >>> select_expression(Column("time", "datetime"), "t.")
    '(extract(epoch FROM t."time") * 1000)::bigint'
    >>> select_expression(Column("extra"))
    '"extra"::text'
    """
    name = f"{alias}{q(col.name)}"
    if col.dtype == "datetime":
        return f"(extract(epoch FROM {name}) * 1000)::bigint"
    if col.name in _JSON_COLUMNS:
        return f"{name}::text"
    return name


def from_storage(values: Sequence[Any], col: Column) -> pd.Series:
    """Stored values (as :func:`select_expression` selects them) as a typed series."""
    raw = pd.Series(list(values), dtype=object)
    if col.dtype == "datetime":
        millis = pd.to_numeric(raw).astype("float64")
        stamps = pd.to_datetime(millis, unit="ms", utc=True)
        return stamps.dt.tz_convert(DEFAULT_TZ).astype(_PANDAS_DTYPES["datetime"]).rename(col.name)
    if col.dtype == "int":
        return pd.to_numeric(raw).astype("Int64").rename(col.name)
    if col.dtype == "float":
        return pd.to_numeric(raw).astype("float64").rename(col.name)
    return raw.astype("string").rename(col.name)


def rows_to_frame(rows: Sequence[Sequence[Any]], columns: Sequence[Column], geometry: bool = False) -> pd.DataFrame:
    """Rows (`columns` in order, then WKB when `geometry`) as a typed frame (a GeoDataFrame with geometry)."""
    data = list(zip(*rows)) if rows else [()] * (len(columns) + geometry)
    frame = pd.DataFrame({c.name: from_storage(v, c) for c, v in zip(columns, data)},
                         columns=[c.name for c in columns])
    if not geometry:
        return frame
    import geopandas as gpd  # deferred: GeoPandas and Shapely, needed only for spatial layers
    import shapely

    wkb = np.array([None if b is None else bytes(b) for b in data[-1]], dtype=object)
    return gpd.GeoDataFrame(frame, geometry=shapely.from_wkb(wkb), crs=STORAGE_CRS)
