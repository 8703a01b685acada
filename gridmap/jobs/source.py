"""Where a job reads from: an open store, where a workspace is (a GeoPackage path or a ``postgresql://`` URL,
opened and closed here), or a dict of layers.

Examples
--------
>>> with opened({"grids": None}, what="the example") as source:
...     source
{'grids': None}
>>> with opened("nowhere.gpkg", what="the example") as source:  # not opened before the first read
...     isinstance(source, LayerReader)
True
>>> with opened(42, what="the example") as source:
...     pass
Traceback (most recent call last):
gridmap.errors.SchemaError: the example takes a workspace, its path or a dict of layers, not int
"""

from __future__ import annotations

from contextlib import contextmanager
from os import PathLike
from typing import Any, Iterator, Mapping, Union

import pandas as pd

from gridmap.analysis.inputs import LayerReader
from gridmap.analysis.selection import as_time
from gridmap.errors import SchemaError
from gridmap.storage import WorkspaceStore, open_workspace
from gridmap.storage.layers import read_windowed

__all__ = ["WorkspaceSource", "opened", "PeriodReader", "read_periods"]

#: Where a job reads the layers from: an open store, the path of a GeoPackage or a ``postgresql://`` URL, or a dict
#: of layers.
WorkspaceSource = Union[WorkspaceStore, str, "PathLike[str]", Mapping[str, Any]]


class _PathReader:
    """A workspace's location (path or URL) read as a store: opened on the first read, so the analysis checks its
    options first."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = path
        self._store: WorkspaceStore | None = None

    def _open(self) -> WorkspaceStore:
        if self._store is None:
            self._store = open_workspace(self.path)
        return self._store

    def read_layer(self, name: str) -> pd.DataFrame:
        return self._open().read_layer(name)

    def read_window(self, name: str, **window: Any) -> pd.DataFrame:
        return self._open().read_window(name, **window)

    @property
    def meta(self) -> dict[str, str]:
        return self._open().meta

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


@contextmanager
def opened(workspace: WorkspaceSource, *, what: str) -> Iterator[LayerReader | Mapping[str, Any]]:
    """What the analysis reads (a store or a dict of layers); a path is opened on the first read, closed on leaving.

    The analysis checks its options before it reads a layer, so a job hands it
    the store (or the path, opened when first read) rather than the layers read
    in advance: a bad option is refused before any file is touched.

    Raises
    ------
    SchemaError
        When `workspace` is no store, path or dict of layers (`what` names the caller).
    """
    if isinstance(workspace, (str, PathLike)):
        reader = _PathReader(workspace)
        try:
            yield reader
        finally:
            reader.close()
    elif isinstance(workspace, (Mapping, WorkspaceStore)):
        yield workspace
    else:
        raise SchemaError(f"{what} takes a workspace, its path or a dict of layers, not {type(workspace).__name__}")


class PeriodReader:
    """A store read for a period: the layers given a period come through its ``read_window``, the others whole.

    A period without a row of its layer reads the layer's first row instead
    (:func:`gridmap.storage.layers.read_windowed`), so that an analysis can still tell an empty layer (no data)
    from a period without rows.
    Made by :func:`read_periods`; ``meta`` is the store's. A period's bounds are read with
    :func:`gridmap.analysis.selection.as_time` (so a bad date fails as the analysis would fail on it) when the
    layer is read, not before.
    """

    def __init__(self, store: Any, periods: Mapping[str, tuple[Any, Any]]) -> None:
        self._store = store
        self._periods = dict(periods)

    def read_layer(self, name: str) -> pd.DataFrame:
        """Layer `name`: its rows of the period ``[start, end)`` when it has one, else every row."""
        if name not in self._periods:
            return self._store.read_layer(name)
        start, end = (as_time(value) for value in self._periods[name])
        if (start is None and end is None) or start is pd.NaT or end is pd.NaT:
            return self._store.read_layer(name)  # no period (or one no row is in): nothing to push down
        # an analysis may tell an empty layer from a period without rows (no rectification at all: unknown, not 0)
        return read_windowed(self._store, name, start=start, end=end)

    @property
    def meta(self) -> dict[str, str]:
        """The store's facts."""
        return dict(self._store.meta)


def read_periods(source: LayerReader | Mapping[str, Any], periods: Mapping[str, tuple[Any, Any]]
                 ) -> LayerReader | Mapping[str, Any]:
    """`source` (what :func:`opened` gave) reading the layers of `periods` (name → ``(start, end)``) for their period.

    For an analysis that keeps only the rows of ``start <= time < end`` of a layer (its first time column,
    :func:`gridmap.storage.base.time_column`) and uses no other row of it: the store then finds those rows
    through its indexes (:meth:`gridmap.storage.WorkspaceStore.read_window`) instead of reading the whole
    layer, and the analysis gets the same rows in the same order (the layer's first row when the period holds
    none of them). A dict of layers is returned as it is.

    Examples
    --------
    >>> read_periods({"reports": None}, {"reports": ("2025-03-03", None)})
    {'reports': None}
    >>> class Store:
    ...     meta = {"illustrative": "true"}
    ...     def read_layer(self, name):
    ...         return f"all of {name}"
    ...     def read_window(self, name, *, start=None, end=None):
    ...         return f"{name} from {start.date()}"
    >>> reader = read_periods(Store(), {"reports": ("2025-03-03", None)})
    >>> reader.read_layer("reports"), reader.read_layer("grids"), reader.meta
    ('reports from 2025-03-03', 'all of grids', {'illustrative': 'true'})
    """
    if isinstance(source, Mapping):
        return source
    return PeriodReader(source, periods)
