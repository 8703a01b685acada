"""What any store of the model promises: the :class:`WorkspaceStore` interface, its table names and key rules.

A *workspace* holds every layer of :data:`gridmap.model.LAYERS` plus the bookkeeping
of imports (the import log, the quarantine, metadata, categories and column aliases).
gridmap's analysis, importer and pages use a workspace only through the methods of
:class:`WorkspaceStore`, so they never know which store they read: today the
GeoPackage (:class:`gridmap.storage.Workspace`, in :mod:`gridmap.storage.gpkg`) or a
PostgreSQL/PostGIS schema (``PostgisWorkspace``, in ``gridmap.storage.postgis``, loaded only for a
``postgresql://`` URL).

This module owns

* :class:`WorkspaceStore`, the interface (a :class:`typing.Protocol`, checkable with
  ``isinstance``), and what each of its methods promises;
* the names of the bookkeeping tables every store keeps (:data:`META_TABLE`, ...);
* the rule of idempotent keys: what makes two rows of one key the same row
  (:func:`content_columns`, :data:`NOT_CONTENT`, :data:`GEOMETRY_TOLERANCE`).

How a store keeps its data (files, journaling, spatial indexes, locks) is its own
business and stays private to its subpackage. Each store's subpackage also offers
``init_workspace(target, *, sample=False, overwrite=False, seed=0)`` (create every layer and
table, empty or with :func:`gridmap.sample.sample_layers`) and ``open_workspace(target, ...)``
(refuse what is not a gridmap workspace with ``WorkspaceError``, one written by a newer
gridmap with ``WorkspaceVersionError``, and migrate an older schema in one transaction);
:func:`gridmap.storage.open_workspace` and :func:`gridmap.storage.init_workspace` call the store a location names
(a GeoPackage path, or a ``postgresql://`` URL for PostGIS: :mod:`gridmap.storage.stores`).

Examples
--------
>>> import tempfile, pathlib
>>> from gridmap.storage import WorkspaceStore, init_workspace
>>> tmp = tempfile.TemporaryDirectory()
>>> with init_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
...     isinstance(ws, WorkspaceStore)
True
>>> tmp.cleanup()
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from gridmap.errors import SchemaError
from gridmap.model import DEFAULT_TZ, EXTRA_COLUMN, Category, ImportSummary, LayerSpec, layer_spec

__all__ = [
    "WorkspaceStore", "META_TABLE", "IMPORTS_TABLE", "QUARANTINE_TABLE", "CATEGORIES_TABLE", "ALIASES_TABLE",
    "content_columns", "NOT_CONTENT", "GEOMETRY_TOLERANCE", "Window", "time_column", "window_mask", "window_rows",
    "SUBDISTRICT_CODE_COLUMNS", "SUBDISTRICT_REPORT_LAYERS", "SUBDISTRICT_EXTENT_LAYERS", "subdistrict_rule",
    "in_subdistrict", "subdistrict_extent", "single_key", "first_rows_in_pages",
    "IMPORT_LINK", "quarantine_import_links",
]

#: Key/value table of workspace facts.
META_TABLE = "gridmap_meta"
#: One row per import.
IMPORTS_TABLE = "gridmap_imports"
#: Records that could not be imported.
QUARANTINE_TABLE = "quarantine"
#: Report categories users added (the built-in ones live in gridmap.model.CATEGORIES).
CATEGORIES_TABLE = "gridmap_categories"
#: Column mappings users stored (``gridmap alias``): a source header → a model column, per layer.
ALIASES_TABLE = "gridmap_column_aliases"

#: Columns a stored row and the same row imported again may differ in without being different rows: those the
#: workspace fills itself (a report's ``status`` follows its rectifications and spot checks; ``grid_code`` is
#: assigned by location, so it changes when grids are imported later) and a track's ``track_id``, which a reader
#: makes up from the file's layout (``trk-1``) when the track has no name.
NOT_CONTENT: Mapping[str, frozenset[str]] = {
    "reports": frozenset({"status", "grid_code"}),
    "targets": frozenset({"grid_code"}),
    "tracks": frozenset({"track_id"}),
}
#: Two geometries of one key are the same when they have the same vertices, each coordinate equal to within this
#: many degrees (EPSG:4326; 1e-9° is 0.1 mm): float noise of a conversion is not a different position.
GEOMETRY_TOLERANCE = 1e-9


def content_columns(layer: str) -> list[str]:
    """The columns that make a row's content besides its key and geometry: what a key conflict compares.

    A row whose key is already stored (or used by an earlier row of the same file) is a
    duplicate only when these values and the geometry are the same too; otherwise it is
    quarantined as ``key_conflict``. Left out: the key, ``extra`` (the file's other columns)
    and :data:`NOT_CONTENT`.

    Examples
    --------
    >>> content_columns("reports")
    ['reported_at', 'category', 'description', 'source', 'photo']
    >>> content_columns("tracks")
    []
    """
    spec = layer_spec(layer)
    skip = {*spec.key, EXTRA_COLUMN, *NOT_CONTENT.get(spec.name, ())}
    return [c for c in spec.column_names if c not in skip]


def time_column(spec: LayerSpec) -> str:
    """The time column a period of layer `spec` is read by (:meth:`WorkspaceStore.read_window`): its first.

    Examples
    --------
    >>> from gridmap.model import layer_spec
    >>> time_column(layer_spec("reports")), time_column(layer_spec("tracks"))
    ('reported_at', 'time')
    """
    for col in spec.columns:
        if col.dtype == "datetime":
            return col.name
    raise SchemaError(f"layer {spec.name!r} has no time column: read it without start/end")


#: The code column each layer's subdistrict is read from (codes are hierarchical,
#: :func:`gridmap.model.layers.code_level`: the first 9 characters of a community, grid or area code are its
#: subdistrict's code). A row without a code belongs to no subdistrict.
SUBDISTRICT_CODE_COLUMNS: Mapping[str, str] = {
    "subdistrict": "code", "communities": "community_code", "grids": "grid_code", "areas": "area_code",
    "reports": "grid_code", "targets": "grid_code",
}
#: Layers whose rows belong to the subdistrict of the report they name (``report_id``).
SUBDISTRICT_REPORT_LAYERS: tuple[str, ...] = ("rectifications", "spotchecks")
#: Layers without a code: a row belongs to a subdistrict when its bounding box meets the bounding box of the
#: subdistrict's grids (those whose ``grid_code`` starts with the subdistrict's code).
SUBDISTRICT_EXTENT_LAYERS: tuple[str, ...] = ("tracks", "streets", "wall", "demolition_zones")

_SUBDISTRICT_RE = re.compile(r"[0-9]{9}")  # ASCII digits only (\d would take any Unicode digit)


def subdistrict_rule(name: str) -> str:
    """How the rows of layer `name` are told to be in a subdistrict: ``'code'``, ``'report'`` or ``'extent'``.

    ``'code'``: the first 9 characters of the layer's :data:`SUBDISTRICT_CODE_COLUMNS` column are the
    subdistrict's code; ``'report'``: the row's ``report_id`` names a report of the subdistrict;
    ``'extent'``: the row's bounding box meets that of the subdistrict's grids. Any other layer is a
    ``SchemaError``.

    Examples
    --------
    >>> subdistrict_rule("reports"), subdistrict_rule("spotchecks"), subdistrict_rule("tracks")
    ('code', 'report', 'extent')
    """
    if name in SUBDISTRICT_CODE_COLUMNS:
        return "code"
    if name in SUBDISTRICT_REPORT_LAYERS:
        return "report"
    if name in SUBDISTRICT_EXTENT_LAYERS:
        return "extent"
    raise SchemaError(f"layer {name!r} cannot be read by subdistrict: it has no code, report or place that "
                      "tells its subdistrict; read it without subdistrict")


def in_subdistrict(codes: pd.Series, subdistrict: str) -> np.ndarray:
    """Which `codes` lie in `subdistrict`: their first 9 characters are its code (a missing code: none).

    Examples
    --------
    >>> import pandas as pd
    >>> in_subdistrict(pd.Series(["610802001003005", "610802002001001", None, "610802001A2"]), "610802001").tolist()
    [True, False, False, True]
    """
    text = pd.Series(codes, dtype="string")
    return (text.str.slice(0, 9) == subdistrict).fillna(False).to_numpy(dtype=bool)


def subdistrict_extent(grids: pd.DataFrame, subdistrict: str) -> tuple[float, float, float, float] | None:
    """The bounding box ``(minx, miny, maxx, maxy)`` of the grids of `subdistrict` (``grid_code`` and geometry),
    None when it has no grid (or none with a non-empty geometry).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame({"grid_code": ["610802001001001", "610802001001002", "610802002001001"]},
    ...                          geometry=[box(0, 0, 1, 1), box(1, 0, 2, 3), box(5, 5, 6, 6)], crs="EPSG:4326")
    >>> subdistrict_extent(grids, "610802001"), subdistrict_extent(grids, "610802003")
    ((0.0, 0.0, 2.0, 3.0), None)
    """
    import shapely  # deferred: Shapely, needed only for geometry

    geoms = grids.geometry.to_numpy()[in_subdistrict(grids["grid_code"], subdistrict)]
    bounds = shapely.bounds(geoms).reshape(-1, 4)
    bounds = bounds[~np.isnan(bounds).any(axis=1)]
    if not len(bounds):
        return None
    low, high = bounds.min(axis=0), bounds.max(axis=0)
    return float(low[0]), float(low[1]), float(high[2]), float(high[3])


def single_key(spec: LayerSpec) -> str:
    """The one column of layer `spec`'s key, which :meth:`WorkspaceStore.read_window`'s `keys` are values of;
    a key of several columns is a ``SchemaError``.

    Examples
    --------
    >>> from gridmap.model import layer_spec
    >>> single_key(layer_spec("reports"))
    'report_id'
    """
    if len(spec.key) != 1:
        raise SchemaError(f"layer {spec.name!r} has a key of {len(spec.key)} columns ({', '.join(spec.key)}): "
                          "it cannot be read by keys; read it without keys")
    return spec.key[0]


def _checked_subdistrict(spec: LayerSpec, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SUBDISTRICT_RE.fullmatch(value):
        raise SchemaError(f"subdistrict must be a 9-digit subdistrict code (text) such as 610802001, not {value!r}")
    subdistrict_rule(spec.name)
    return str(value)


def _checked_keys(spec: LayerSpec, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    column = single_key(spec)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise SchemaError(f"keys must be a sequence of {column} values (e.g. a list), not {value!r}")
    keys = list(value)
    for key in keys:
        if not isinstance(key, str):
            raise SchemaError(f"keys of layer {spec.name!r} are {column} values (text), not {key!r}")
    return tuple(dict.fromkeys(str(k) for k in keys))


def _checked_limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SchemaError(f"limit must be a positive whole number of rows (e.g. 1), not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Window:
    """What :meth:`WorkspaceStore.read_window` reads, each part optional: a period ``[start, end)`` (tz-aware; a
    naive time is Asia/Shanghai), a box ``(minx, miny, maxx, maxy)`` in EPSG:4326, a 9-digit `subdistrict` code,
    the `keys` (values of the layer's one key column, each once) and at most `limit` rows."""

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    bbox: tuple[float, float, float, float] | None
    subdistrict: str | None = None
    keys: tuple[str, ...] | None = None
    limit: int | None = None

    @classmethod
    def of(cls, spec: LayerSpec, start: Any, end: Any, bbox: Sequence[float] | None, *, subdistrict: Any = None,
           keys: Any = None, limit: Any = None) -> "Window":
        """Check a window against layer `spec` (a period needs a time column, a box a geometry, a subdistrict
        a layer :func:`subdistrict_rule` knows, keys a key of one column, :func:`single_key`; a limit is a
        positive int); every refusal is a ``SchemaError`` naming what to pass instead.

        Examples
        --------
        >>> from gridmap.model import layer_spec
        >>> Window.of(layer_spec("reports"), None, None, None, subdistrict="610802001", keys=["r1", "r1"], limit=5)
        Window(start=None, end=None, bbox=None, subdistrict='610802001', keys=('r1',), limit=5)
        >>> Window.of(layer_spec("reports"), None, None, None, subdistrict="6108")
        Traceback (most recent call last):
        gridmap.errors.SchemaError: subdistrict must be a 9-digit subdistrict code (text) such as 610802001, not '6108'
        """
        def stamp(value: Any) -> pd.Timestamp | None:
            if value is None:
                return None
            out = pd.Timestamp(value)
            return out.tz_localize(DEFAULT_TZ) if out.tzinfo is None else out

        if (start is not None or end is not None):
            time_column(spec)
        if bbox is not None:
            if spec.geometry is None:
                raise SchemaError(f"layer {spec.name!r} has no geometry: read it without bbox")
            if len(bbox) != 4:
                raise SchemaError(f"bbox must be (minx, miny, maxx, maxy), not {bbox!r}")
        box = None if bbox is None else (float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3]))
        return cls(stamp(start), stamp(end), box, _checked_subdistrict(spec, subdistrict), _checked_keys(spec, keys),
                   _checked_limit(limit))


def _box_mask(frame: pd.DataFrame, box: tuple[float, float, float, float]) -> np.ndarray:
    """Which rows' bounding boxes meet `box` (edges included; an empty or missing geometry meets nothing)."""
    import shapely  # deferred: Shapely, needed only for a box

    minx, miny, maxx, maxy = box
    b = shapely.bounds(frame.geometry.to_numpy()).reshape(-1, 4)
    return (b[:, 2] >= minx) & (b[:, 0] <= maxx) & (b[:, 3] >= miny) & (b[:, 1] <= maxy)


def _subdistrict_mask(frame: pd.DataFrame, spec: LayerSpec, subdistrict: str, grids: pd.DataFrame | None,
                      reports: pd.DataFrame | None) -> np.ndarray:
    rule = subdistrict_rule(spec.name)
    if rule == "code":
        return in_subdistrict(frame[SUBDISTRICT_CODE_COLUMNS[spec.name]], subdistrict)
    if rule == "report":
        if reports is None:
            raise SchemaError(f"the subdistrict of {spec.name!r} rows is that of their report: pass reports=")
        ids = reports.loc[in_subdistrict(reports["grid_code"], subdistrict), "report_id"]
        return frame["report_id"].isin(ids).fillna(False).to_numpy(dtype=bool)
    if grids is None:
        raise SchemaError(f"the subdistrict of {spec.name!r} rows is the extent of its grids: pass grids=")
    extent = subdistrict_extent(grids, subdistrict)
    if extent is None or not len(frame):
        return np.zeros(len(frame), dtype=bool)
    return _box_mask(frame, extent)


def window_mask(frame: pd.DataFrame, spec: LayerSpec, window: Window, *, grids: pd.DataFrame | None = None,
                reports: pd.DataFrame | None = None) -> np.ndarray:
    """Which rows of `frame` (a layer as read) are in `window`: the exact rule every store's read_window keeps.

    A row is in the period when ``start <= time < end``; in the box when its geometry's bounding box
    meets the box (edges included); among the keys when its key (:func:`single_key`) is one of them;
    in the subdistrict as :func:`subdistrict_rule` says, which needs `reports` (``report_id``,
    ``grid_code``) for rectifications and spot checks and `grids` (``grid_code``, geometry) for the
    layers without a code. Every part of the window must hold. The `limit` is not a mask:
    :func:`window_rows` keeps the first rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from gridmap.model import layer_spec
    >>> spec = layer_spec("rectifications")
    >>> frame = pd.DataFrame({"report_id": ["r1", "r2"], "rectified_at": pd.to_datetime(
    ...     ["2025-03-01 09:00", "2025-03-02 09:00"]).tz_localize("Asia/Shanghai")})
    >>> window_mask(frame, spec, Window.of(spec, "2025-03-01", "2025-03-02", None)).tolist()
    [True, False]
    >>> reports = pd.DataFrame({"report_id": ["r1", "r2"], "grid_code": ["610802002001001", "610802001001001"]})
    >>> window_mask(frame, spec, Window.of(spec, None, None, None, subdistrict="610802001"), reports=reports).tolist()
    [False, True]
    """
    keep = np.ones(len(frame), dtype=bool)
    if window.start is not None or window.end is not None:
        times = frame[time_column(spec)]
        if window.start is not None:
            keep &= (times >= window.start).fillna(False).to_numpy(dtype=bool)
        if window.end is not None:
            keep &= (times < window.end).fillna(False).to_numpy(dtype=bool)
    if window.bbox is not None and len(frame):
        keep &= _box_mask(frame, window.bbox)
    if window.keys is not None:
        keep &= frame[single_key(spec)].isin(window.keys).fillna(False).to_numpy(dtype=bool)
    if window.subdistrict is not None:
        keep &= _subdistrict_mask(frame, spec, window.subdistrict, grids, reports)
    return keep


def window_rows(frame: pd.DataFrame, spec: LayerSpec, window: Window, *, grids: pd.DataFrame | None = None,
                reports: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of `frame` (a layer as read, in insertion order) in `window`, at most its `limit` (the first):
    what :meth:`WorkspaceStore.read_window` returns, computed from the whole layer (:func:`window_mask`).

    Examples
    --------
    >>> import pandas as pd
    >>> from gridmap.model import layer_spec
    >>> spec = layer_spec("grids")
    >>> grids = pd.DataFrame({"grid_code": ["610802001001001", "610802002001001", "610802001001002"]})
    >>> window = Window.of(spec, None, None, None, subdistrict="610802001", limit=5)
    >>> window_rows(grids, spec, window)["grid_code"].tolist()
    ['610802001001001', '610802001001002']
    """
    kept = frame[window_mask(frame, spec, window, grids=grids, reports=reports)]
    if window.limit is not None:
        kept = kept.iloc[:window.limit]
    return kept.reset_index(drop=True)


def first_rows_in_pages(fetch: Callable[[int, int], Sequence[Sequence[Any]]],
                        keep: Callable[[Sequence[Sequence[Any]]], pd.DataFrame], limit: int) -> pd.DataFrame:
    """The first `limit` rows a store's window keeps, read in pages of insertion order: how a store answers a
    `limit` when its SQL finds a superset of the window (an index of rounded boxes, times floored to the
    millisecond), whose first `limit` rows may hold fewer of the window's.

    ``fetch(after, size)`` returns the next `size` stored rows (their ``fid`` first) with ``fid > after`` in
    ``fid`` order; ``keep(rows)`` the frame of those in the window. The pages grow (`limit`, then twice as
    many each time); the reading stops at `limit` rows kept or at a short page.

    Examples
    --------
    >>> import pandas as pd
    >>> stored = [(fid, fid % 3 == 0) for fid in range(1, 20)]
    >>> fetch = lambda after, size: [r for r in stored if r[0] > after][:size]
    >>> keep = lambda rows: pd.DataFrame({"fid": [r[0] for r in rows if r[1]]}, dtype="int64")
    >>> first_rows_in_pages(fetch, keep, 4)["fid"].tolist()
    [3, 6, 9, 12]
    """
    first: pd.DataFrame | None = None
    parts: list[pd.DataFrame] = []
    found, after, size = 0, 0, limit
    while True:
        rows = fetch(after, size)
        frame = keep(rows)
        first = frame if first is None else first
        if len(frame):
            parts.append(frame)
        found += len(frame)
        if found >= limit or len(rows) < size:
            break
        after, size = int(rows[-1][0]), size * 2
    out = first if not parts else parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    assert out is not None
    return out.iloc[:limit].reset_index(drop=True)


#: The columns an import and its quarantined records share: when a workspace is copied
#: (:meth:`WorkspaceStore.restore`), a quarantine row is linked to the first import with the same
#: values (its options compared as the JSON text stored).
IMPORT_LINK = ("layer", "source", "source_digest", "options")


def quarantine_import_links(imports: pd.DataFrame, quarantine: pd.DataFrame) -> list[int | None]:
    """For each quarantine row, the fid (1-based position) of the first import it shares :data:`IMPORT_LINK` with.

    A row without options links to no import (its options read back missing either way); a row
    with options that no import has is refused: it could not read back equal.
    """
    first: dict[tuple, int] = {}
    for fid, row in enumerate(imports[list(IMPORT_LINK)].astype(object).itertuples(index=False), start=1):
        first.setdefault(tuple(None if pd.isna(v) else v for v in row), fid)
    links: list[int | None] = []
    for row in quarantine[list(IMPORT_LINK)].astype(object).itertuples(index=False):
        key = tuple(None if pd.isna(v) else v for v in row)
        if key[-1] is None:
            links.append(None)
        elif key in first:
            links.append(first[key])
        else:
            raise SchemaError(f"cannot restore the quarantine: no import of {key[0]!r} from {key[1]!r} ran with "
                              f"options {key[-1]}; pass the import log of the same store")
    return links


@runtime_checkable
class WorkspaceStore(Protocol):
    """The interface of a workspace: what the importer, the analysis and the pages may ask of any store.

    Every method below is a promise a store keeps, whatever it is built on. Frames are
    typed per the model (:data:`gridmap.model.LAYERS`): times tz-aware in
    Asia/Shanghai, ints nullable ``Int64``, text ``string``, geometry EPSG:4326. A
    store opens its connections per call, so an open store holds no lock between
    calls; writes by other processes are seen by the next call.

    ``isinstance(obj, WorkspaceStore)`` checks that `obj` has every method (not their
    signatures: ``tests/test_storage.py`` checks those for the GeoPackage store). What a
    store offers beyond this (the GeoPackage's ``pragmas()``) is its own and not for the
    analysis to use.
    """

    @property
    def path(self) -> Path | str:
        """Where the store lives: a file, or for a server store its URL masked (printable: no password)."""

    @property
    def meta(self) -> dict[str, str]:
        """A copy of the key/value facts of :data:`META_TABLE` (``schema_version``, ``created_at``,
        ``gridmap_version``, ``illustrative``)."""

    @property
    def schema_version(self) -> int:
        """The schema version stored; an open store is always at :data:`gridmap.model.SCHEMA_VERSION`
        (opening migrates an older one in one transaction, and refuses a newer one)."""

    def read_layer(self, name: str, *, where: str | None = None) -> pd.DataFrame:
        """Every row of layer `name` (or those matching the SQL condition `where`), in insertion order.

        The model's columns in order, plus ``geometry`` for spatial layers (a GeoDataFrame in
        EPSG:4326). `where` is read-only: a store never writes while answering it; keep it to plain
        SQL comparisons (``category = 'firewood_pile'``, ``reported_at >= '2025-03-01'``) that every
        SQL store runs alike. An unknown layer is a ``SchemaError``; a `where` the store cannot run a
        ``WorkspaceError``.
        """

    def read_window(self, name: str, *, start: Any = None, end: Any = None,
                    bbox: tuple[float, float, float, float] | None = None, subdistrict: str | None = None,
                    keys: Sequence[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """The rows of layer `name` in a window, found through the store's indexes instead of reading the whole
        layer: :meth:`read_layer` filtered by :func:`window_rows` (same columns, dtypes, CRS and order).

        Every part is optional, and a row must meet every part given: ``start <= time < end`` (its first
        time column, :func:`time_column`); its bounding box meets `bbox` (``(minx, miny, maxx, maxy)``,
        EPSG:4326); it is in `subdistrict` (a 9-digit code, by the rule of :func:`subdistrict_rule`); its
        key (:func:`single_key`) is one of `keys` (no keys: no rows). Of those, the first `limit` in
        insertion order (``limit=1`` asks cheaply whether there is any). A period of a layer without
        time, a box of one without geometry, a subdistrict that is not 9 digits or of a layer without a
        rule, keys of a layer whose key has several columns, or a limit that is not a positive int is a
        ``SchemaError``."""

    def counts(self) -> dict[str, int]:
        """Rows per layer of :data:`gridmap.model.LAYERS`, and in ``quarantine``."""

    def append(self, layer: str, frame: pd.DataFrame, *, quarantine: pd.DataFrame | None = None,
               source: str = "<frame>", source_digest: str = "", read: int | None = None,
               options: Mapping[str, Any] | None = None, raw_records: pd.DataFrame | None = None,
               replaces: Sequence[int] = ()) -> ImportSummary:
        """Store the rows of `frame` and the records of `quarantine` in **one** transaction.

        Promises: all or nothing (a failure or a killed process leaves the store as it was);
        idempotent keys (a row whose key is stored, or repeated earlier in `frame`, with the same
        content, :func:`content_columns` and the geometry to :data:`GEOMETRY_TOLERANCE`, is a
        counted duplicate; with other content it is quarantined as ``key_conflict``, never dropped);
        a record already quarantined is not stored twice; one row is added to the import log with
        `options`; the quarantine rows of fids `replaces` are deleted in the same transaction;
        ``read == accepted + duplicates + quarantined`` or a ``SchemaError`` before writing.
        Another writer holding the store longer than its timeout is a ``WorkspaceBusyError``.
        """

    def restore(self, tables: Mapping[str, pd.DataFrame], meta: Mapping[str, str]) -> None:
        """Write another store's tables, as they are, into this empty store: how ``gridmap copy`` moves a workspace.

        `tables` maps a layer of :data:`gridmap.model.LAYERS` to its rows as :meth:`read_layer` returns
        them, :data:`IMPORTS_TABLE` to :meth:`imports` and :data:`QUARANTINE_TABLE` to
        :meth:`quarantine_with_options` (a missing name: no rows); `meta` is another store's :attr:`meta`.
        Nothing is checked or recomputed: no key rule, no report status, no grid assignment, no import-log
        row of its own; rows keep their order (insertion order), every value (times to the millisecond,
        ``extra``, ``status``, ``grid_code``) and geometry. The import log keeps its rows in order; each
        quarantine row keeps its ``fid`` and is linked to the first import of the same ``layer``,
        ``source``, ``source_digest`` and ``options`` (to none when its ``options`` are missing), so that
        :meth:`imports`, :meth:`quarantine_with_options` and every layer read back equal. Every `meta` key
        but ``schema_version`` is stored (replacing the store's own). Categories and column aliases are not
        part of it (:meth:`add_category`, :meth:`add_column_alias` copy them). A store holding any layer
        row, import or quarantined record is a ``WorkspaceError`` before anything is written; a store writes
        it in as few transactions as it can (a server store in one).
        """

    def quarantine(self, source: str | None = None) -> pd.DataFrame:
        """The quarantined records (columns of :data:`gridmap.model.QUARANTINE_COLUMNS`), of one
        `source` or all, oldest first."""

    def quarantine_with_options(self, layer: str | None = None) -> pd.DataFrame:
        """The quarantined records of one `layer` or all, with their ``fid`` (for ``replaces``) and
        the ``options`` (JSON text, missing when unknown) of the import that quarantined them."""

    def imports(self) -> pd.DataFrame:
        """The import log, one row per :meth:`append`, oldest first: ``layer``, ``source``,
        ``source_digest``, ``read``, ``accepted``, ``duplicates``, ``quarantined``, ``reasons``
        (JSON), ``imported_at``, ``options`` (JSON)."""

    def report_states(self) -> pd.DataFrame:
        """Every stored report's ``report_id`` and ``status``, and ``rectified``: whether a
        rectification of it is stored (bool), in insertion order: what spot checks are checked against."""

    def categories(self) -> pd.DataFrame:
        """Every report category known (built-in and stored): ``key``, ``zh``, ``en``, ``builtin``."""

    def add_category(self, key: str, zh: str, en: str | None = None) -> Category:
        """Store a report category (kept for every later session) and register it in this process."""

    def column_aliases(self, layer: str | None = None) -> pd.DataFrame:
        """The stored column aliases (``layer``, ``source``, ``target``), of one layer or all, sorted."""

    def add_column_alias(self, layer: str, source: str, target: str) -> None:
        """Store that header `source` (stripped, lower-cased) of `layer`'s files means column `target`;
        a second alias of the same header replaces the first. A bad layer or target is a ``SchemaError``."""

    def subdistrict_geometry(self) -> Any:
        """The union of the ``subdistrict`` layer (a shapely geometry, EPSG:4326), or None when empty."""

    def integrity_check(self) -> str:
        """``'ok'`` when the store is intact, else what is wrong."""

    def close(self) -> None:
        """Close the store; later calls raise ``WorkspaceError``. Closing twice is harmless."""

    def __enter__(self) -> WorkspaceStore:
        """The store itself (``with open_workspace(path) as ws:``)."""

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """:meth:`close`."""
