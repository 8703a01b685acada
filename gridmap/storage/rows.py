"""Row rules every store applies the same way: key conflicts inside one frame, and their sentence.

A store stages a frame in its own storage form (the GeoPackage as SQLite values and GPKG
blobs, PostGIS as Python values and EWKB) and shows a stored value in its own way
(`show`); what counts as a key conflict and how it is told to the user is one rule, here.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import shapely

from gridmap.model import LayerSpec
from gridmap.storage.base import GEOMETRY_TOLERANCE, content_columns

__all__ = ["GEOMETRY_COLUMN", "Show", "conflict_detail", "frame_conflicts", "same_values"]

#: The geometry column of every store's layer tables (GDAL's GeoPackage default, kept in PostGIS).
GEOMETRY_COLUMN = "geom"
#: How a store shows one of its stored values to a person: ``show(value, column, spec)``.
Show = Callable[[Any, str, LayerSpec], str]


def same_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise equality of two object arrays of storage values, two missing values being equal.

    Examples
    --------
    >>> same_values(np.array([1, None, "a"], dtype=object), np.array([1, None, "b"], dtype=object)).tolist()
    [True, True, False]
    """
    na_a, na_b = pd.isna(a), pd.isna(b)
    equal = np.array([not (p or q) and bool(x == y) for x, y, p, q in zip(a, b, na_a, na_b)], dtype=bool)
    return (na_a & na_b) | equal


def conflict_detail(spec: LayerSpec, key: Sequence[Any], differ: Sequence[tuple[str, Any, Any]], where: str,
                    show: Show) -> str:
    """The sentence of a key conflict: the key, the stored (or earlier) version, this row's, and what to do."""
    keys = ", ".join(f"{k} {show(v, k, spec)}" for k, v in zip(spec.key, key))
    label = {GEOMETRY_COLUMN: "position" if spec.geometry == "Point" else "geometry"}

    def side(i: int) -> str:
        return ", ".join(f"{label.get(c, c)} {show(d[i], c, spec)}" for c, *d in differ)

    fix = ("two positions of one device at one time: check the device's clock and the file"
           if spec.name == "tracks" else f"give the row its own {' and '.join(spec.key)} or correct the file")
    return f"{keys} {where} with {side(0)}; this row has {side(1)}; {fix}"


def frame_conflicts(spec: LayerSpec, attrs: pd.DataFrame, geoms: np.ndarray | None, repeated: np.ndarray,
                    records: np.ndarray, show: Show) -> list[tuple[int, str]]:
    """(position, detail) of each repeated row whose content differs from the first row of its key.

    `attrs` are the frame's values in the store's storage form, `geoms` its shapely
    geometries (None for a table), `repeated` marks the rows whose key an earlier row of
    the frame has, `records` the record number shown for each row.
    """
    key = list(spec.key)
    position = pd.Series(np.arange(len(attrs)), index=attrs.index)
    first = position.groupby([attrs[k] for k in key], sort=False, dropna=False).transform("first").to_numpy()
    rows = np.flatnonzero(repeated)
    earlier = first[rows]
    columns = content_columns(spec.name)
    values = {c: attrs[c].to_numpy(dtype=object) for c in [*key, *columns]}
    differs = {c: ~same_values(values[c][rows], values[c][earlier]) for c in columns}
    if geoms is not None:
        differs[GEOMETRY_COLUMN] = ~shapely.equals_exact(geoms[rows], geoms[earlier], tolerance=GEOMETRY_TOLERANCE)
        values[GEOMETRY_COLUMN] = geoms
    out = []
    for i, (row, first_row) in enumerate(zip(rows, earlier)):
        changed = [(c, values[c][first_row], values[c][row]) for c, mask in differs.items() if mask[i]]
        if changed:
            out.append((int(row), conflict_detail(spec, [values[k][row] for k in key], changed,
                                                  f"is used by record {records[first_row]} earlier in this file",
                                                  show)))
    return out
