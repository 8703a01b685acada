"""The GeoPackage's ``read_window``: a window (:class:`gridmap.storage.base.Window`) as SQL served by the indexes.

* a period compares the layer's time column with the stored UTC text (``YYYY-MM-DDTHH:MM:SS.sssZ``, which
  sorts as the times do), its bounds floored to the millisecond: a superset of the period;
* a box, and the extent of a subdistrict's grids for a layer without a code, is looked up in the layer's
  R-tree (``rtree_<layer>_geom``, whose float32 boxes are rounded outwards): a superset of the rows meeting it;
* a subdistrict of a layer with a code is ``substr(col, 1, 9) = ?`` (written exactly so: the schema's
  expression index on ``substr(col, 1, 9)`` serves only this expression); of rectifications and spot checks,
  ``report_id IN (SELECT report_id FROM reports WHERE substr(grid_code, 1, 9) = ?)``;
* keys go into a temporary table of the read's connection (no limit on their number, unlike SQL variables)
  and are matched through the layer's unique key index.

The rows found are then kept exactly as :func:`gridmap.storage.base.window_mask` says. With a limit the rows
are read in pages of insertion order (``fid > last ORDER BY fid LIMIT n``) until `limit` rows are kept: the SQL
finds a superset, so its first `n` rows may hold fewer than `n` of the window's.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any, Sequence

import pandas as pd

from gridmap.model import LayerSpec
from gridmap.storage.base import (
    SUBDISTRICT_CODE_COLUMNS, Window, first_rows_in_pages, single_key, subdistrict_extent, subdistrict_rule,
    time_column, window_mask,
)
from gridmap.storage.gpkg._columns import GEOMETRY_COLUMN, _q, _rows_to_frame

#: The temporary table (of the read's own connection) holding the keys of a window.
KEYS_TABLE = "gridmap_window_keys"


def _utc_text(stamp: pd.Timestamp) -> str:
    """A time as the stored text: UTC, floored to the millisecond."""
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _rtree_test(spec: LayerSpec, box: tuple[float, float, float, float]) -> tuple[str, list[Any]]:
    rtree = _q(f"rtree_{spec.name}_{GEOMETRY_COLUMN}")
    minx, miny, maxx, maxy = box
    return (f"fid IN (SELECT id FROM {rtree} WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)",
            [minx, maxx, miny, maxy])


def window_tests(spec: LayerSpec, window: Window,
                 extent: tuple[float, float, float, float] | None = None) -> tuple[list[str], list[Any]]:
    """The SQL conditions (joined by AND) and their parameters finding a superset of `window`'s rows.

    `extent` is the bounding box of the subdistrict's grids, for a layer without a code (none: no row).

    Examples
    --------
    >>> from gridmap.model import layer_spec
    >>> spec = layer_spec("reports")
    >>> window_tests(spec, Window.of(spec, "2025-03-01", None, None, subdistrict="610802001"))
    (['"reported_at" >= ?', 'substr(grid_code, 1, 9) = ?'], ['2025-02-28T16:00:00.000Z', '610802001'])
    """
    tests: list[str] = []
    params: list[Any] = []
    for bound, op in ((window.start, ">="), (window.end, "<=")):
        if bound is not None:
            tests.append(f"{_q(time_column(spec))} {op} ?")
            params.append(_utc_text(bound))
    if window.bbox is not None:
        test, values = _rtree_test(spec, window.bbox)
        tests.append(test)
        params.extend(values)
    if window.subdistrict is not None:
        rule = subdistrict_rule(spec.name)
        if rule == "code":
            tests.append(f"substr({SUBDISTRICT_CODE_COLUMNS[spec.name]}, 1, 9) = ?")
            params.append(window.subdistrict)
        elif rule == "report":
            tests.append("report_id IN (SELECT report_id FROM reports WHERE substr(grid_code, 1, 9) = ?)")
            params.append(window.subdistrict)
        elif extent is None:
            tests.append("0")
        else:
            test, values = _rtree_test(spec, extent)
            tests.append(test)
            params.extend(values)
    if window.keys is not None:
        tests.append(f"{_q(single_key(spec))} IN (SELECT key FROM temp.{KEYS_TABLE})" if window.keys else "0")
    return tests, params


def _load_keys(con: sqlite3.Connection, keys: tuple[str, ...]) -> None:
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {KEYS_TABLE} (key TEXT PRIMARY KEY) WITHOUT ROWID")
    con.execute(f"DELETE FROM temp.{KEYS_TABLE}")
    con.executemany(f"INSERT OR IGNORE INTO temp.{KEYS_TABLE} (key) VALUES (?)", [(k,) for k in keys])


def read_window_rows(con: sqlite3.Connection, spec: LayerSpec, window: Window, *,
                     grids: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of layer `spec` in `window`, in insertion order, read on `con` (a connection of the workspace).

    `grids` are the subdistrict's grids (``grid_code`` and geometry) when the window has a subdistrict and
    the layer no code (:func:`gridmap.storage.base.subdistrict_rule` ``'extent'``).
    """
    rule = subdistrict_rule(spec.name) if window.subdistrict is not None else None
    extent = None
    if rule == "extent" and grids is not None and window.subdistrict is not None:
        extent = subdistrict_extent(grids, window.subdistrict)
    tests, params = window_tests(spec, window, extent)
    if window.keys:
        _load_keys(con, window.keys)
    cols = ["fid", *(_q(c) for c in spec.column_names)] + ([_q(GEOMETRY_COLUMN)] if spec.geometry else [])
    sql = f"SELECT {', '.join(cols)} FROM {_q(spec.name)} WHERE {' AND '.join(tests) or '1'}"
    # rectifications and spot checks: the subquery on reports is exact, so the rows need not be checked again
    recheck = dataclasses.replace(window, subdistrict=None) if rule == "report" else window

    def keep(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
        frame = _rows_to_frame([tuple(r[1:]) for r in rows], spec)
        return frame[window_mask(frame, spec, recheck, grids=grids)].reset_index(drop=True)

    if window.limit is None:
        return keep(con.execute(sql + " ORDER BY fid", params).fetchall())

    def fetch(after: int, size: int) -> list[tuple]:
        return con.execute(f"{sql} AND fid > ? ORDER BY fid LIMIT ?", [*params, after, size]).fetchall()

    return first_rows_in_pages(fetch, keep, window.limit)
