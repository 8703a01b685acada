"""Reports to the right person: each report's grid, street and area (驻组干部包户，街长包街，领导包片).

The campaign's three levels answer for three kinds of place: a grid's cadre
for the households of the grid, a street chief for a street, an area leader
for the grids of an area. :func:`attribute_reports` says, for every report,
which grid, street and area it belongs to, so that the scoreboard
(``--by street``, ``--by area``), the leaders' page and the checklists name
all three.

Definitions
-----------
``grid_code``
    The grid holding the report, as the scoreboard counts it: the report's own
    ``grid_code`` (the import assigns it by location, :mod:`gridmap.io.records`:
    the first grid, in the grids' order, whose polygon intersects the report).
    Only reports given without a ``grid_code`` column are located here, by the
    same rule.
``street_name``
    The nearest street within ``street_distance_m`` (default 15 m, distance
    ``<=``) of the report, measured in the metric CRS the rest of gridmap uses
    (:func:`gridmap.crs.metric_crs` of the grids); at equal distance the street
    that comes first in the ``streets`` layer; NA when no street is that near.
``area_code``
    The ``area_code`` of the report's grid; when the grid has none (or the
    report lies in no grid), the first area polygon (in the ``areas`` order)
    holding the report; NA otherwise.

Personal data
-------------
The street chief (``street_chief``) and the area leader (``leader``) are
personal (:mod:`gridmap.model`): they are *not* copied onto every report, so
a report table written to a shared file carries no name. Join them where a
name is needed, e.g. ``out.merge(streets[["street_name", "street_chief"]],
how="left")``, and mask them on shared outputs as cadres are masked.

Examples
--------
>>> import gridmap
>>> layers = gridmap.sample_layers(n_reports=200, track_days=1)
>>> out = attribute_reports(layers["reports"], grids=layers["grids"], streets=layers["streets"],
...                         areas=layers["areas"])
>>> bool(out["grid_code"].equals(layers["reports"]["grid_code"]))
True
>>> set(out.columns) - set(layers["reports"].columns) == {"street_name", "area_code"}
True
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.crs import metric_crs, require_crs
from gridmap.errors import SchemaError

__all__ = ["DEFAULT_STREET_DISTANCE_M", "ATTRIBUTION_COLUMNS", "attribute_reports"]

logger = logging.getLogger(__name__)

#: A report this close to a street (metres, inclusive) is the street's.
DEFAULT_STREET_DISTANCE_M = 15.0
#: The columns :func:`attribute_reports` sets.
ATTRIBUTION_COLUMNS = ("grid_code", "street_name", "area_code")


def _text(values: Any, n: int) -> pd.Series:
    """Codes and names as text (missing and empty text: missing), converted once per distinct value."""
    series = pd.Series(values, dtype=object).reset_index(drop=True) if n else pd.Series([], dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=object)  # the last entry: missing (code -1)
    table[:-1] = [None if v == "" else str(v) for v in uniques]
    table[-1] = None
    return pd.Series(table[codes], dtype="str")


def _pick(values: Any, which: np.ndarray) -> np.ndarray:
    """``values[which]`` as objects, None where `which` is -1."""
    table = np.empty(len(values) + 1, dtype=object)
    table[:-1] = np.asarray(values, dtype=object)
    table[-1] = None
    return table[which]


def _geometries(frame: gpd.GeoDataFrame, crs: Any) -> np.ndarray:
    """The frame's geometries in `crs`, missing ones as None."""
    return np.asarray(frame.geometry.to_crs(crs).array, dtype=object)


def _first_holding(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Per point, the index of the first polygon (input order) intersecting it; -1 for none."""
    out = np.full(len(points), -1, dtype=np.intp)
    if len(points) == 0 or len(polygons) == 0:
        return out
    rows, hits = shapely.STRtree(polygons).query(points, predicate="intersects")
    if len(rows):
        first = pd.Series(hits).groupby(rows).min()
        out[first.index.to_numpy()] = first.to_numpy()
    return out


def _nearest_street(points: np.ndarray, streets: np.ndarray, distance: float) -> np.ndarray:
    """Per point, the index of the nearest street within `distance` (ties: the lowest index); -1 for none."""
    out = np.full(len(points), -1, dtype=np.intp)
    usable = np.flatnonzero(~(shapely.is_missing(points) | shapely.is_empty(points)))
    if len(usable) == 0 or len(streets) == 0:
        return out
    tree = shapely.STRtree(streets)
    if distance > 0:
        rows, hits = tree.query_nearest(points[usable], max_distance=distance, all_matches=True)
    else:  # shapely wants a positive max_distance: at 0 m, the streets the report lies on
        rows, hits = tree.query(points[usable], predicate="intersects")
    if len(rows):
        first = pd.Series(hits).groupby(rows).min()  # equal distances: the street first in the layer
        out[usable[first.index.to_numpy()]] = first.to_numpy()
    return out


def _grid_codes(reports: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, points: np.ndarray, crs: Any) -> pd.Series:
    """The reports' own ``grid_code``; located in the grids (projected only then) when they have none."""
    if "grid_code" in reports.columns:
        return _text(reports["grid_code"].to_numpy(dtype=object), len(reports))
    which = _first_holding(points, _geometries(grids, crs))
    return _text(_pick(grids["grid_code"], which), len(reports))


def _area_codes(grid_code: pd.Series, grids: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None,
                points: np.ndarray, crs: Any) -> pd.Series:
    if "area_code" in grids.columns:
        of_grid = pd.Series(_text(grids["area_code"].to_numpy(dtype=object), len(grids)).to_numpy(),
                            index=_text(grids["grid_code"].to_numpy(dtype=object), len(grids)).to_numpy())
        of_grid = of_grid[~of_grid.index.duplicated()]
        area = _text(grid_code.map(of_grid).to_numpy(dtype=object), len(grid_code))
    else:
        area = _text([None] * len(grid_code), len(grid_code))
    todo = np.flatnonzero(area.isna().to_numpy())
    if areas is not None and len(areas) and len(todo):
        require_crs(areas, what="the areas")
        which = _first_holding(points[todo], _geometries(areas, crs))
        area.iloc[todo] = _text(_pick(areas["area_code"], which), len(todo)).to_numpy()
    return area


def attribute_reports(reports: gpd.GeoDataFrame, *, grids: gpd.GeoDataFrame,
                      streets: gpd.GeoDataFrame | None = None, areas: gpd.GeoDataFrame | None = None,
                      street_distance_m: float = DEFAULT_STREET_DISTANCE_M) -> gpd.GeoDataFrame:
    """A copy of `reports` with each report's ``grid_code``, ``street_name`` and ``area_code``.

    The rules are this module's definitions (:mod:`gridmap.analysis.attribution`).

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        Points in any CRS (not modified); ``grid_code`` kept when present.
    grids : geopandas.GeoDataFrame
        ``grid_code`` and, when known, ``area_code``; their bounds choose the
        metric CRS.
    streets : geopandas.GeoDataFrame, optional
        ``street_name`` lines; without them every ``street_name`` is NA.
    areas : geopandas.GeoDataFrame, optional
        ``area_code`` polygons, for reports whose grid names no area.
    street_distance_m : float
        A report at most this far (metres) from a street is the street's.

    Returns
    -------
    geopandas.GeoDataFrame
        The reports (same index, columns and CRS) with ``grid_code`` (the
        reports' own when given), ``street_name`` and ``area_code`` as text
        (pandas' ``str`` dtype, as the import writes codes; missing: none).

    Raises
    ------
    SchemaError
        A negative or non-finite `street_distance_m`, or a layer without its
        key column.
    CRSError
        A layer without a CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, Point, box
    >>> grids = gpd.GeoDataFrame({"grid_code": ["G1"], "area_code": ["A1"]},
    ...                          geometry=[box(500000, 4240000, 500100, 4240100)], crs=4546)
    >>> streets = gpd.GeoDataFrame({"street_name": ["东街", "西街"]},
    ...                            geometry=[LineString([(500050, 4240000), (500050, 4240100)]),
    ...                                      LineString([(500030, 4240000), (500030, 4240100)])], crs=4546)
    >>> reports = gpd.GeoDataFrame({"report_id": ["r1", "r2", "r3"]},
    ...                            geometry=[Point(500040, 4240050), Point(500065, 4240050),
    ...                                      Point(500200, 4240050)], crs=4546)
    >>> out = attribute_reports(reports, grids=grids, streets=streets)
    >>> out[["grid_code", "street_name", "area_code"]].fillna("-").values.tolist()
    [['G1', '东街', 'A1'], ['G1', '东街', 'A1'], ['-', '-', '-']]
    """
    distance = float(street_distance_m)
    if not np.isfinite(distance) or distance < 0:
        raise SchemaError(f"the street distance must be 0 metres or more, got {street_distance_m!r} "
                          "(--street-distance M)")
    for frame, key, what in ((grids, "grid_code", "grids"), (streets, "street_name", "streets"),
                             (areas, "area_code", "areas")):
        if frame is not None and key not in frame.columns:
            raise SchemaError(f"the {what} need a {key} column; they have: {', '.join(map(str, frame.columns))}")
    require_crs(reports, what="the reports")
    require_crs(grids, what="the grids")
    out = reports.copy()
    crs = metric_crs(grids)
    points = _geometries(reports, crs)
    grid_code = _grid_codes(reports, grids, points, crs)
    street = _text([None] * len(reports), len(reports))
    if streets is not None and len(streets):
        require_crs(streets, what="the streets")
        which = _nearest_street(points, _geometries(streets, crs), distance)
        street = _text(_pick(streets["street_name"], which), len(reports))
    area = _area_codes(grid_code, grids, areas, points, crs)
    if "grid_code" not in out.columns:
        out["grid_code"] = pd.Series(grid_code.to_numpy(), index=out.index, dtype="str")
    out["street_name"] = pd.Series(street.to_numpy(), index=out.index, dtype="str")
    out["area_code"] = pd.Series(area.to_numpy(), index=out.index, dtype="str")
    logger.debug("attributed %d reports: %d with a street, %d with an area", len(out),
                 int(out["street_name"].notna().sum()), int(out["area_code"].notna().sum()))
    return out
