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

from pathlib import Path
from types import TracebackType
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from gridmap.errors import SchemaError
from gridmap.model import DEFAULT_TZ, EXTRA_COLUMN, Category, ImportSummary, LayerSpec, layer_spec

__all__ = [
    "WorkspaceStore", "META_TABLE", "IMPORTS_TABLE", "QUARANTINE_TABLE", "CATEGORIES_TABLE", "ALIASES_TABLE",
    "content_columns", "NOT_CONTENT", "GEOMETRY_TOLERANCE", "Window", "time_column", "window_mask",
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


@dataclass(frozen=True)
class Window:
    """A period ``[start, end)`` (tz-aware; a naive time is Asia/Shanghai) and a box ``(minx, miny, maxx, maxy)``
    in EPSG:4326, each optional: what :meth:`WorkspaceStore.read_window` reads."""

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    bbox: tuple[float, float, float, float] | None

    @classmethod
    def of(cls, spec: LayerSpec, start: Any, end: Any, bbox: Sequence[float] | None) -> "Window":
        """Check a window against layer `spec` (a period needs a time column, a box a geometry)."""
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
        return cls(stamp(start), stamp(end), box)


def window_mask(frame: pd.DataFrame, spec: LayerSpec, window: Window) -> np.ndarray:
    """Which rows of `frame` (a layer as read) are in `window`: the exact rule every store's read_window keeps.

    A row is in the period when ``start <= time < end``; in the box when its geometry's bounding box
    meets the box (edges included).

    Examples
    --------
    >>> import pandas as pd
    >>> from gridmap.model import layer_spec
    >>> spec = layer_spec("rectifications")
    >>> frame = pd.DataFrame({"rectified_at": pd.to_datetime(["2025-03-01 09:00", "2025-03-02 09:00"])
    ...                       .tz_localize("Asia/Shanghai")})
    >>> window_mask(frame, spec, Window.of(spec, "2025-03-01", "2025-03-02", None)).tolist()
    [True, False]
    """
    keep = np.ones(len(frame), dtype=bool)
    if window.start is not None or window.end is not None:
        times = frame[time_column(spec)]
        if window.start is not None:
            keep &= (times >= window.start).fillna(False).to_numpy(dtype=bool)
        if window.end is not None:
            keep &= (times < window.end).fillna(False).to_numpy(dtype=bool)
    if window.bbox is not None and len(frame):
        import shapely  # deferred: Shapely, needed only for a box

        minx, miny, maxx, maxy = window.bbox
        b = shapely.bounds(frame.geometry.to_numpy())
        keep &= (b[:, 2] >= minx) & (b[:, 0] <= maxx) & (b[:, 3] >= miny) & (b[:, 1] <= maxy)
    return keep


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
                    bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
        """The rows of layer `name` with ``start <= time < end`` (its first time column, :func:`time_column`)
        and whose bounding box meets `bbox` (``(minx, miny, maxx, maxy)``, EPSG:4326), each bound optional,
        in insertion order: :meth:`read_layer` filtered by :func:`window_mask`, found through the store's
        indexes instead of reading the whole layer. A period of a layer without time, or a box of one without
        geometry, is a ``SchemaError``."""

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
