"""Reading a set of layers, from any store, a path or a mapping: the one way pages and tables take their input."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Mapping, Sequence

import pandas as pd

from gridmap.errors import SchemaError
from gridmap.model import layer_spec
from gridmap.storage.base import WorkspaceStore
from gridmap.storage.stores import open_workspace

__all__ = ["LayerReads", "read_layers", "read_windowed", "read_layer_parts", "read_part", "grown_box"]


@dataclass(frozen=True)
class LayerReads:
    """What a computation needs of each layer, so that a store reads only that (through its indexes).

    Attributes
    ----------
    periods : mapping
        Layer name → ``(start, end)``, tz-aware times or None: the rows with ``start <= time < end`` (the
        layer's first time column), read with :func:`read_windowed`. A layer not named is read whole.
    named_by : mapping
        Layer name → ``(other, column)``: also the rows of the layer whose key is named in `column` of the rows
        read of layer `other` (e.g. ``{"reports": ("rectifications", "report_id")}``: the reports the
        rectifications read are about, whatever their age), read by key.
    subdistrict : str, optional
        The 9-digit code of one subdistrict: only its rows of every layer (``read_window(subdistrict=...)``).
    near : mapping
        Layer name → metres: with `subdistrict`, the rows of that layer whose bounding box meets the box of the
        subdistrict's grids grown by so many metres (:func:`grown_box`), instead of the box itself: e.g. the GPS
        fixes that can still cover part of a grid (:func:`gridmap.analysis.coverage.reach_m`).

    A computation that uses this promises that no other row of these layers changes its results.
    """

    periods: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    named_by: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    subdistrict: str | None = None
    near: Mapping[str, float] = field(default_factory=dict)


def read_windowed(store: Any, name: str, *, start: Any = None, end: Any = None, **where: Any) -> pd.DataFrame:
    """The rows of layer `name` in ``[start, end)`` (``store.read_window``); when none is, the layer's first row.

    `where` (``subdistrict=``, ``bbox=``) narrows both reads as ``read_window`` does.
    The first row (outside the period, since none is in it) lets a computation that keeps only the period's rows
    still tell a period without rows (0) from an empty layer (no data), at the cost of one row, not the layer.

    Examples
    --------
    >>> import tempfile, pathlib, gridmap
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with gridmap.init_workspace(pathlib.Path(tmp.name) / "w.gpkg", sample=True) as ws:
    ...     week = read_windowed(ws, "reports", start=pd.Timestamp("2025-03-03", tz="Asia/Shanghai"),
    ...                          end=pd.Timestamp("2025-03-10", tz="Asia/Shanghai"))
    ...     later = read_windowed(ws, "reports", start=pd.Timestamp("2030-01-01", tz="Asia/Shanghai"))
    ...     len(week) > 1, len(later), len(ws.read_layer("reports"))
    (True, 1, 2000)
    >>> tmp.cleanup()
    """
    rows = store.read_window(name, start=start, end=end, **where)
    return rows if len(rows) else store.read_window(name, limit=1, **where)


def read_part(store: Any, name: str, *, start: Any = None, end: Any = None, subdistrict: str | None = None,
              near_m: float | None = None, or_first: bool = True) -> pd.DataFrame:
    """One layer of an open store as :class:`LayerReads` reads it: its period (none: every row; a period without
    a row: the first row, :func:`read_windowed`, unless `or_first` is False), of one subdistrict (within `near_m`
    metres of its grids' box when given).
    """
    where = _where(store, name, subdistrict, near_m)
    if start is None and end is None:
        return store.read_window(name, **where) if where else store.read_layer(name)
    if not or_first:
        return store.read_window(name, start=start, end=end, **where)
    return read_windowed(store, name, start=start, end=end, **where)


def read_layer_parts(store: Any, names: Sequence[str], reads: LayerReads) -> dict[str, Any]:
    """The layers `names` of an open store as `reads` says: each layer's period, plus the rows named by another.

    A layer named by another is read after it; the rows named are added after the period's rows (each once).
    """
    out: dict[str, Any] = {}
    order = sorted(names, key=lambda name: name in reads.named_by)  # the naming layers first
    for name in order:
        start, end = reads.periods.get(name, (None, None))
        whole = start is None and end is None
        frame = read_part(store, name, start=start, end=end, subdistrict=reads.subdistrict,
                          near_m=reads.near.get(name))
        if not whole and name in reads.named_by:
            frame = _with_named_rows(store, name, frame, out.get(reads.named_by[name][0]), reads.named_by[name][1])
        out[name] = frame
    return {name: out[name] for name in names}


def grown_box(frame: Any, margin_m: float) -> tuple[float, float, float, float] | None:
    """The bounding box (EPSG:4326) of `frame`'s geometries grown by at least `margin_m` metres on every side.

    A degree of latitude is at least 110.5 km and one of longitude at least that times the cosine of the
    latitude farthest from the equator, so dividing by 110 km (and that cosine) grows the box by no less
    than `margin_m`. None for a frame without a geometry.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> frame = gpd.GeoDataFrame(geometry=[shapely.box(109.7, 38.2, 109.8, 38.3)], crs=4326)
    >>> [round(v, 4) for v in grown_box(frame, 1100.0)]
    [109.6873, 38.19, 109.8127, 38.31]
    """
    if frame is None or not len(frame) or frame.geometry.isna().all():
        return None
    minx, miny, maxx, maxy = (float(v) for v in frame.to_crs(4326).total_bounds)
    dlat = margin_m / 110_000.0
    dlon = dlat / math.cos(math.radians(min(89.0, max(abs(miny), abs(maxy)) + dlat)))
    return (minx - dlon, miny - dlat, maxx + dlon, maxy + dlat)


def _where(store: Any, name: str, subdistrict: str | None, near_m: float | None) -> dict[str, Any]:
    """``read_window``'s arguments reading one subdistrict's rows of layer `name` (none without a subdistrict):
    by its rule, or within `near_m` metres of its grids' box."""
    if subdistrict is None:
        return {}
    if near_m is not None:
        box = grown_box(store.read_window("grids", subdistrict=subdistrict), near_m)
        if box is not None:
            return {"bbox": box}
    return {"subdistrict": subdistrict}


def _with_named_rows(store: Any, name: str, frame: pd.DataFrame, other: Any, column: str) -> pd.DataFrame:
    """`frame` and the rows of layer `name` whose key is among the values of `column` of `other`, each once."""
    if other is None or column not in other or not len(other):
        return frame
    (key,) = layer_spec(name).key
    wanted = pd.unique(other[column].dropna().astype(str))
    missing = sorted(set(wanted) - set(frame[key].dropna().astype(str)))
    if not missing:
        return frame
    named = store.read_window(name, keys=missing)
    return pd.concat([frame, named], ignore_index=True) if len(named) else frame


def read_layers(source: "WorkspaceStore | str | PathLike[str] | Mapping[str, Any]", names: Sequence[str], *,
                what: str = "this function", reads: LayerReads | None = None) -> tuple[dict[str, Any], dict[str, str]]:
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
    reads : LayerReads, optional
        What is needed of each layer: a store (or path) then reads only that (:func:`read_layer_parts`); a
        mapping is used as it is.

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
        if reads is not None and reads.subdistrict is not None:
            raise SchemaError(f"{what} reads one subdistrict's rows of a workspace (a store, its path or URL); a dict "
                              "of layers is used as it is: give the frames of that subdistrict without subdistrict=")
        return {name: source.get(name) for name in names}, {}
    if isinstance(source, WorkspaceStore):
        return _layers_and_meta(source, names, reads)
    if isinstance(source, (str, PathLike)):
        with open_workspace(source) as ws:
            return _layers_and_meta(ws, names, reads)
    raise SchemaError(f"{what} takes a workspace, its path or a dict of layers, not {type(source).__name__}")


def _layers_and_meta(ws: WorkspaceStore, names: Sequence[str],
                     reads: LayerReads | None) -> tuple[dict[str, Any], dict[str, str]]:
    meta = dict(ws.meta)
    imports = ws.imports()
    stamps = pd.to_datetime(imports["imported_at"], utc=True, errors="coerce").dropna() if len(imports) else None
    if stamps is not None and len(stamps):
        meta["last_import"] = stamps.max().isoformat()
    if reads is None:
        return {name: ws.read_layer(name) for name in names}, meta
    return read_layer_parts(ws, names, reads), meta
