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
from gridmap.errors import SchemaError
from gridmap.storage import WorkspaceStore, open_workspace

__all__ = ["WorkspaceSource", "opened"]

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
