"""A fingerprint of the exact inputs of :mod:`gridmap.analysis.recurrence`, and a small cache keyed by it.

A leaders' page and a scoreboard built from the same layers both need the recurrences of the same reports
(the page through :func:`~gridmap.analysis.recurrence.recurring_sites`, the scoreboard through
:func:`~gridmap.analysis.recurrence.recurrences`); the demo's heat map needs both. The work is done once: the
second call finds it under the fingerprint of its inputs. The fingerprint is a BLAKE2b digest of every value
the result depends on (report ids, times, coordinates and their CRS, categories, grid codes; the
rectifications' report ids and times; radius, window and the category rule), so any change to an input is a
different key; a column whose values cannot be hashed exactly (e.g. a mix of ``None`` and ``NaN``, which the
analysis tells apart) makes the inputs uncacheable and the work is simply done again.

The cache holds the last :data:`CACHE_SIZE` results of this process, whatever their size (the demo's heat map
of 2,000 reports asks for both too); the returned frames are copies, so a caller changing one does not change
the cache.
:func:`clear_cache` empties it and resets the counts :func:`cache_info` reports (lookups that found a result,
lookups that did not, and how many times the recurrence search actually ran).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import shapely

__all__ = ["CACHE_SIZE", "CacheInfo", "cache_get", "cache_info", "cache_put", "clear_cache", "count_computation",
           "fingerprint"]

#: How many results of distinct inputs are kept.
CACHE_SIZE = 2


class CacheInfo(NamedTuple):
    """The cache's work since it was last cleared (as :func:`functools.lru_cache`'s ``cache_info()``).

    Attributes
    ----------
    hits : int
        Lookups that found the result of the same inputs.
    misses : int
        Lookups that did not (including inputs that cannot be hashed exactly).
    computations : int
        Times the recurrence search ran (one per miss that went on to compute).
    maxsize : int
        :data:`CACHE_SIZE`.
    currsize : int
        Results kept now.
    """

    hits: int
    misses: int
    computations: int
    maxsize: int
    currsize: int


_CACHE: OrderedDict[bytes, Any] = OrderedDict()
_LOCK = threading.Lock()
_COUNTS = {"hits": 0, "misses": 0, "computations": 0}


class _Uncacheable(Exception):
    """A column whose values a digest cannot tell apart as exactly as the analysis does."""


def _feed_array(h: Any, values: np.ndarray) -> None:
    h.update(str(values.dtype).encode() + str(values.shape).encode())
    h.update(np.ascontiguousarray(values).tobytes())


def _feed_arrow(h: Any, array: Any) -> None:
    import pyarrow as pa  # deferred: only for Arrow-backed columns, which imply pyarrow

    chunked = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    h.update(str(chunked.type).encode())
    for chunk in chunked.chunks:
        h.update(f"{chunk.offset}:{len(chunk)}:{chunk.null_count}".encode())
        for buf in chunk.buffers():
            h.update(b"-" if buf is None else memoryview(buf))


def _feed_objects(h: Any, values: np.ndarray) -> None:
    kind = pd.api.types.infer_dtype(values, skipna=False)
    if kind not in ("string", "empty"):
        raise _Uncacheable(kind)
    h.update(b"str")
    _feed_array(h, pd.util.hash_array(values, categorize=False))


def _feed_series(h: Any, series: pd.Series) -> None:
    h.update(str(series.dtype).encode())
    values = series.array
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        _feed_array(h, np.asarray(values.asi8))
    elif isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        _feed_array(h, series.to_numpy())
    elif isinstance(dtype, pd.ArrowDtype) or (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        import pyarrow as pa  # deferred: only for Arrow-backed columns, which imply pyarrow

        _feed_arrow(h, pa.array(values))
    else:
        _feed_objects(h, series.to_numpy(dtype=object))


def fingerprint(reports: Any, rectifications: pd.DataFrame, options: tuple[Any, ...]) -> bytes | None:
    """A digest of everything a recurrence result depends on; None when some input cannot be hashed exactly."""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr(options).encode())
    try:
        for frame, columns in ((reports, ("report_id", "reported_at", "category", "grid_code")),
                               (rectifications, ("report_id", "rectified_at"))):
            h.update(str(len(frame)).encode())
            for column in columns:
                h.update(column.encode())
                if column in frame.columns:
                    _feed_series(h, frame[column])
                else:
                    h.update(b"absent")
        geoms = reports.geometry.values
        h.update(b"crs" + (b"-" if reports.crs is None else reports.crs.to_wkt().encode()))
        _feed_array(h, np.asarray(shapely.get_type_id(geoms)))
        _feed_array(h, np.asarray(shapely.get_num_coordinates(geoms)))
        _feed_array(h, shapely.get_coordinates(geoms))
    except _Uncacheable:
        return None
    return h.digest()


def cache_get(key: bytes | None) -> Any:
    """The entry stored under `key` (made the most recent), or None."""
    with _LOCK:
        entry = None if key is None else _CACHE.get(key)
        if key is not None and entry is not None:
            _CACHE.move_to_end(key)
        _COUNTS["misses" if entry is None else "hits"] += 1
        return entry


def cache_put(key: bytes | None, entry: Any) -> None:
    """Store `entry` under `key`, dropping the oldest beyond :data:`CACHE_SIZE`."""
    if key is None:
        return
    with _LOCK:
        _CACHE[key] = entry
        _CACHE.move_to_end(key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)


def count_computation() -> None:
    """Count one run of the recurrence search (reported by :func:`cache_info`)."""
    with _LOCK:
        _COUNTS["computations"] += 1


def cache_info() -> CacheInfo:
    """What the cache did since :func:`clear_cache` (or since the process started).

    Returns
    -------
    CacheInfo
        ``hits``, ``misses``, ``computations``, ``maxsize`` and ``currsize``.

    Examples
    --------
    >>> clear_cache()
    >>> cache_get(b"anything") is None
    True
    >>> cache_info()
    CacheInfo(hits=0, misses=1, computations=0, maxsize=2, currsize=0)
    """
    with _LOCK:
        return CacheInfo(_COUNTS["hits"], _COUNTS["misses"], _COUNTS["computations"], CACHE_SIZE, len(_CACHE))


def clear_cache() -> None:
    """Forget every stored result (of :func:`gridmap.analysis.recurrence.recurrences` and
    :func:`~gridmap.analysis.recurrence.recurring_sites`) and reset the counts of :func:`cache_info`.

    Examples
    --------
    >>> clear_cache()
    >>> cache_get(b"anything") is None
    True
    """
    with _LOCK:
        _CACHE.clear()
        for name in _COUNTS:
            _COUNTS[name] = 0
