"""The PostGIS store's ``read_window``: a window (:class:`gridmap.storage.base.Window`) as SQL served by the indexes.

* a period: ``time >= %s AND time < %s`` (the B-tree index of the layer's time column);
* a box: ``geom && ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)`` (the GiST index;
  https://postgis.net/docs/geometry_overlaps.html);
* a subdistrict of a layer with a code: ``left(col, 9) = %s``, written exactly so: the schema's expression
  index on ``left(col, 9)`` serves only this expression; of rectifications and spot checks:
  ``report_id IN (SELECT report_id FROM reports WHERE left(grid_code, 9) = %s)``; of a layer without a code:
  ``geom && (SELECT ST_SetSRID(ST_Extent(geom)::geometry, 4326) FROM grids WHERE left(grid_code, 9) = %s)``
  (the extent of the subdistrict's grids, https://postgis.net/docs/ST_Extent.html; no grid: NULL, no row);
* keys: ``key = ANY(%s)`` (the primary key or unique index of the layer's key).

``&&`` compares the float32 boxes of the index, rounded outwards: the SQL finds a superset of the rows meeting
a box, and the rows are then kept exactly as :func:`gridmap.storage.base.window_mask` says (for a layer without
a code, with the exact extent of the subdistrict's grids read back). A limit reads pages of insertion order
(:func:`gridmap.storage.base.first_rows_in_pages`).
"""

from __future__ import annotations

from typing import Any

from gridmap.model import LayerSpec
from gridmap.storage.base import SUBDISTRICT_CODE_COLUMNS, Window, single_key, subdistrict_rule, time_column
from gridmap.storage.postgis._sql import GEOMETRY_COLUMN, SRID, q, select_expression


def select_rows(spec: LayerSpec) -> str:
    """``SELECT fid, <the layer's columns as read>[, geometry as WKB] FROM <layer>``."""
    cols = ["fid", *(select_expression(c) for c in spec.columns)]
    if spec.geometry is not None:
        cols.append(f"ST_AsBinary({q(GEOMETRY_COLUMN)})")
    return f"SELECT {', '.join(cols)} FROM {q(spec.name)}"


def window_tests(spec: LayerSpec, window: Window) -> tuple[list[str], list[Any]]:
    """The SQL conditions (joined by AND) and their parameters finding (a superset of) `window`'s rows.

    Examples
    --------
    >>> from gridmap.model import layer_spec
    >>> spec = layer_spec("reports")
    >>> window_tests(spec, Window.of(spec, None, None, None, subdistrict="610802001", keys=["R1"]))
    (['left(grid_code, 9) = %s', '"report_id" = ANY(%s)'], ['610802001', ['R1']])
    >>> tracks = layer_spec("tracks")
    >>> window_tests(tracks, Window.of(tracks, None, None, None, subdistrict="610802001"))[0]
    ['"geom" && (SELECT ST_SetSRID(ST_Extent(geom)::geometry, 4326) FROM grids WHERE left(grid_code, 9) = %s)']
    """
    tests: list[str] = []
    params: list[Any] = []
    if window.start is not None:
        tests.append(f"{q(time_column(spec))} >= %s")
        params.append(window.start.to_pydatetime())
    if window.end is not None:
        tests.append(f"{q(time_column(spec))} < %s")
        params.append(window.end.to_pydatetime())
    if window.bbox is not None:
        tests.append(f"{q(GEOMETRY_COLUMN)} && ST_MakeEnvelope(%s, %s, %s, %s, {SRID})")
        params.extend(window.bbox)
    if window.subdistrict is not None:
        rule = subdistrict_rule(spec.name)
        if rule == "code":
            tests.append(f"left({SUBDISTRICT_CODE_COLUMNS[spec.name]}, 9) = %s")
        elif rule == "report":
            tests.append("report_id IN (SELECT report_id FROM reports WHERE left(grid_code, 9) = %s)")
        else:
            tests.append(f"{q(GEOMETRY_COLUMN)} && (SELECT ST_SetSRID(ST_Extent({GEOMETRY_COLUMN})::geometry, {SRID})"
                         " FROM grids WHERE left(grid_code, 9) = %s)")
        params.append(window.subdistrict)
    if window.keys is not None:
        if window.keys:
            tests.append(f"{q(single_key(spec))} = ANY(%s)")
            params.append(list(window.keys))
        else:
            tests.append("FALSE")
    return tests, params
