"""Reading a set of layers, from any store, a path or a mapping: the one way pages and tables take their input."""

from __future__ import annotations

from os import PathLike
from typing import Any, Mapping, Sequence

import pandas as pd

from gridmap.errors import SchemaError
from gridmap.storage.base import WorkspaceStore
from gridmap.storage.stores import open_workspace

__all__ = ["read_layers"]


def read_layers(source: "WorkspaceStore | str | PathLike[str] | Mapping[str, Any]", names: Sequence[str], *,
                what: str = "this function") -> tuple[dict[str, Any], dict[str, str]]:
    """The layers `names` of a workspace, of the workspace at a path, or of a mapping of layers, and its metadata.

    The one way gridmap's pages and tables take their input: an open
    store (:class:`~gridmap.storage.WorkspaceStore`), the path of a GeoPackage or a ``postgresql://`` URL (opened
    and closed here), or a dict of
    layers by name (e.g. :func:`gridmap.sample.sample_layers`; missing names
    are None, and the frames are used as they are, not copied).

    Parameters
    ----------
    source : WorkspaceStore, str, os.PathLike or mapping
        Where the layers come from (a URL's password is never shown in a message).
    names : sequence of str
        The layers wanted.
    what : str
        Who asks, for the error message.

    Returns
    -------
    layers : dict
        By name, in the order of `names`.
    meta : dict
        The workspace's ``gridmap_meta`` facts, plus ``last_import`` (ISO
        time of the latest import) when it has any; empty for a mapping.

    Raises
    ------
    SchemaError
        When `source` is none of these.

    Examples
    --------
    >>> layers, meta = read_layers({"grids": "g"}, ["grids", "reports"])
    >>> layers, meta
    ({'grids': 'g', 'reports': None}, {})
    >>> read_layers(42, ["grids"], what="the report")
    Traceback (most recent call last):
    gridmap.errors.SchemaError: the report takes a workspace, its path or a dict of layers, not int
    """
    if isinstance(source, Mapping):
        return {name: source.get(name) for name in names}, {}
    if isinstance(source, WorkspaceStore):
        return _layers_and_meta(source, names)
    if isinstance(source, (str, PathLike)):
        with open_workspace(source) as ws:
            return _layers_and_meta(ws, names)
    raise SchemaError(f"{what} takes a workspace, its path or a dict of layers, not {type(source).__name__}")


def _layers_and_meta(ws: WorkspaceStore, names: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    meta = dict(ws.meta)
    imports = ws.imports()
    stamps = pd.to_datetime(imports["imported_at"], utc=True, errors="coerce").dropna() if len(imports) else None
    if stamps is not None and len(stamps):
        meta["last_import"] = stamps.max().isoformat()
    return {name: ws.read_layer(name) for name in names}, meta
