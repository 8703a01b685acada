"""Ids derived from content, for ledgers without an id column (see :func:`gridmap.io.records.prepare`)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import shapely

from gridmap.errors import SchemaError
from gridmap.io._records_base import _is_empty, _normalise
from gridmap.model import LayerSpec

__all__ = ["DERIVED_ID_SOURCES", "DERIVED_ID_PREFIX", "derived_ids"]

# the row checks log as one module: logging configured for gridmap.io.records sees all of them
logger = logging.getLogger("gridmap.io.records")

#: Layers whose rows get an id derived from their content when the file has no id column: the id column, and the
#: columns it is derived from besides the position.
DERIVED_ID_SOURCES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "reports": ("report_id", ("reported_at", "category", "description")),
    "targets": ("target_id", ("kind", "name")),
}
#: Prefix of an id derived from content (``h-`` and 16 hex digits of a SHA-1).
DERIVED_ID_PREFIX = "h-"
_NAME_HEADERS = ("name", "名称")


def derived_ids(layer: str, values: Mapping[str, pd.Series], geometry: Any) -> pd.Series:
    """Ids derived from content, for rows of a file without an id column (see :func:`prepare`).

    The id is :data:`DERIVED_ID_PREFIX` and the first 16 hex digits of the SHA-1 of the UTF-8
    text of the row's fields joined by the unit separator ``\\x1f``:

    * ``reports``: the report time in UTC rounded to the whole second (``2025-03-01T00:05:00Z``),
      the position, the category key and the description;
    * ``targets``: the kind key, the position and the name.

    The position is the WKT of the geometry in WGS84 (after any GCJ-02/BD-09 conversion) with
    every coordinate to 6 decimals (``POINT (109.730000 38.290000)``; 1e-6° is about 0.1 m);
    a missing description or name is empty text. Rounding makes the id survive float noise
    (a value read as 109.73000000000001 from one copy of a ledger and 109.73 from another, an
    Excel time a microsecond off), so the same ledger imported again gives the same ids
    (duplicates), and next month's ledger, whose 序号 start again at 1, adds its rows.

    Parameters
    ----------
    layer : {"reports", "targets"}
        The layer.
    values : mapping of str to pandas.Series
        The typed columns named in :data:`DERIVED_ID_SOURCES` (times tz-aware, category and
        kind as keys), one row per geometry.
    geometry : array-like of shapely geometries
        The rows' geometries in EPSG:4326.

    Returns
    -------
    pandas.Series
        ``str`` dtype, on the index of the first of `values`.

    Examples
    --------
    >>> import shapely, hashlib
    >>> values = {"reported_at": pd.Series(pd.to_datetime(["2025-03-01 08:05:00.2"]).tz_localize("Asia/Shanghai")),
    ...           "category": pd.Series(["garbage_dumping"]), "description": pd.Series([None], dtype="str")}
    >>> ids = derived_ids("reports", values, [shapely.Point(109.73, 38.29)])
    >>> text = "2025-03-01T00:05:00Z\\x1fPOINT (109.730000 38.290000)\\x1fgarbage_dumping\\x1f"
    >>> ids.tolist() == ["h-" + hashlib.sha1(text.encode()).hexdigest()[:16]]
    True
    """
    if layer not in DERIVED_ID_SOURCES:
        raise SchemaError(f"layer {layer!r} has no ids derived from content; only {', '.join(DERIVED_ID_SOURCES)}")
    _, columns = DERIVED_ID_SOURCES[layer]
    index = values[columns[0]].index
    where = shapely.to_wkt(np.asarray(geometry, dtype=object), rounding_precision=6, trim=False)
    fields = []
    for column in columns:
        series = values[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            text = series.dt.tz_convert("UTC").dt.round("s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            text = series.astype("str")
        fields.append(text.fillna("").to_numpy(dtype=object))
    # reports: time, position, category, description; targets: kind, position, name
    rows: Iterable[tuple[str, ...]] = zip(fields[0], where, *fields[1:])
    ids = [DERIVED_ID_PREFIX + hashlib.sha1("\x1f".join(r).encode("utf-8")).hexdigest()[:16] for r in rows]
    return pd.Series(pd.array(ids, dtype="str"), index=index)


@dataclass
class _DerivedIds:
    """Which rows of a batch get an id derived from content, and the stand-in that gets them through the checks.

    All rows when the file has no id column; when a placemark's (or feature's) name stands in for
    the id (:func:`_map_columns`), the rows whose name is empty.
    """

    layer: str
    column: str | None
    every_row: bool
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @classmethod
    def plan(cls, spec: LayerSpec, mapping: Mapping[str, Any]) -> "_DerivedIds":
        column = DERIVED_ID_SOURCES.get(spec.name, (None,))[0]
        if column is None:
            return cls(spec.name, None, False)
        if column not in mapping:
            logger.info("%s: the file has no id column; %s is derived from the content", spec.name, column)
            return cls(spec.name, column, True)
        source = mapping[column]
        by_name = (_normalise(source) in _NAME_HEADERS if spec.name == "reports"
                   else source == mapping.get("name"))
        return cls(spec.name, column if by_name else None, False)

    def mapping(self, mapping: Mapping[str, Any], records: pd.DataFrame) -> Mapping[str, Any]:
        """`mapping` with the record number standing in for an absent id column (replaced by :meth:`fill`)."""
        if self.column is None or not self.every_row or "_record" not in records.columns:
            return mapping
        return {**mapping, self.column: "_record"}

    def mark(self, frame: pd.DataFrame) -> None:
        """Note the rows to derive ids for and fill their empty ids with a stand-in (`frame` is prepare's own)."""
        if self.column is None:
            self.rows = np.zeros(len(frame), dtype=bool)
            return
        self.rows = np.ones(len(frame), dtype=bool) if self.every_row else _is_empty(frame[self.column])
        if self.rows.any():
            frame[self.column] = frame[self.column].astype(object).where(~self.rows, DERIVED_ID_PREFIX)

    def fill(self, typed: dict[str, pd.Series], geometry: np.ndarray | None, ok: np.ndarray) -> None:
        """Replace the stand-ins of the rows that passed every check by ids derived from their content."""
        todo = self.rows & ok
        if self.column is None or geometry is None or not todo.any():
            return
        _, columns = DERIVED_ID_SOURCES[self.layer]
        ids = typed[self.column].astype("str").copy()
        ids[todo] = derived_ids(self.layer, {c: typed[c][todo] for c in columns}, geometry[todo]).to_numpy()
        typed[self.column] = ids
