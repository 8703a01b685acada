"""Cells and counts of the hot spot analysis: lattice helpers, and reports assigned to cells.

The machinery behind :func:`gridmap.analysis.hotspot.fishnet`, :func:`~gridmap.analysis.hotspot.hexagons`
and the counts of :func:`~gridmap.analysis.hotspot.hotspots` and
:func:`~gridmap.analysis.hotspot.space_time_cube` (the notes of :mod:`gridmap.analysis.hotspot`,
"Cells" and "Counts and neighbours", describe the lattice and the counting rule).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.crs import metric_crs, require_crs
from gridmap.errors import CRSError, SchemaError
from gridmap.model import STORAGE_CRS

logger = logging.getLogger("gridmap.analysis.hotspot")  # the public module's logger: one name to configure


# ----------------------------------------------------------------------------------------------- cells


def _area_series(area: Any) -> gpd.GeoSeries:
    """The area as a GeoSeries with a CRS (bare shapely geometries are taken as WGS84 lon/lat)."""
    if isinstance(area, gpd.GeoDataFrame):
        area = area.geometry
    if isinstance(area, gpd.GeoSeries):
        require_crs(area, what="the area")
        return area
    if isinstance(area, BaseGeometry):
        minx, miny, maxx, maxy = area.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise CRSError(
                "a bare shapely geometry is taken as WGS84 longitude/latitude, but this one's coordinates lie"
                " outside [-180, 180] x [-90, 90]; pass gpd.GeoSeries([geom], crs='EPSG:...') with its real CRS"
            )
        return gpd.GeoSeries([area], crs=STORAGE_CRS)
    raise SchemaError(f"area must be a shapely polygon, GeoSeries or GeoDataFrame, got {type(area).__name__}")


def _check_size(size_m: float) -> float:
    size = float(size_m)
    if not math.isfinite(size) or size <= 0:
        raise SchemaError(f"cell size must be a positive number of metres, got {size_m!r}")
    return size


def _metric_area(area: Any) -> tuple[BaseGeometry, pyproj.CRS]:
    series = _area_series(area)
    series = series[~(series.is_empty | series.isna())]
    if len(series) == 0:
        raise SchemaError("the area has no geometry: give at least one non-empty polygon")
    crs = metric_crs(series)
    return shapely.union_all(series.to_crs(crs).values), crs


def _keep_cells(polys: np.ndarray, region: BaseGeometry, crs: pyproj.CRS) -> gpd.GeoDataFrame:
    shapely.prepare(region)
    keep = shapely.intersects(region, polys)
    cells = polys[keep]
    logger.debug("%d of %d lattice cells intersect the area", len(cells), len(polys))
    frame = gpd.GeoDataFrame({"cell_id": np.arange(len(cells), dtype=np.int64)}, geometry=cells, crs=crs)
    return frame.to_crs(STORAGE_CRS)


def _check_count(n: int, size: float) -> None:
    if n > 20_000_000:
        raise SchemaError(f"{n} cells of {size:g} m would cover the area's bounds; choose a larger size_m")


# ----------------------------------------------------------------------------------------------- counts


def _cells_geometry(cells: gpd.GeoDataFrame) -> np.ndarray:
    if isinstance(cells, gpd.GeoDataFrame) and len(cells) < 3:
        raise SchemaError(f"Gi* needs at least 3 cells, got {len(cells)}; use smaller cells or a larger area")
    return _cells_polygons(cells)


def _cells_polygons(cells: gpd.GeoDataFrame) -> np.ndarray:
    """The cells' geometries (any number), checked: a GeoDataFrame with a CRS and no missing geometry."""
    if not isinstance(cells, gpd.GeoDataFrame):
        raise SchemaError(f"cells must be a GeoDataFrame of polygons, got {type(cells).__name__}")
    require_crs(cells, what="the cells")
    geoms = cells.geometry.values
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        raise SchemaError(f"{int(bad.sum())} cells have no geometry (positions {np.flatnonzero(bad)[:5].tolist()}"
                          "...); drop them before the analysis")
    return np.asarray(geoms)


def _report_points(reports: gpd.GeoDataFrame, crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """Report geometries in the cells' CRS and the mask of reports that have one."""
    if not isinstance(reports, gpd.GeoDataFrame):
        raise SchemaError(f"reports must be a GeoDataFrame of points, got {type(reports).__name__}")
    require_crs(reports, what="the reports")
    geoms = np.asarray(reports.geometry.values)
    has = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if (~has).any():
        logger.info("%d reports without a location skipped", int((~has).sum()))
    pts = gpd.GeoSeries(geoms[has], crs=reports.crs).to_crs(crs).values
    return np.asarray(pts), has


def _assign(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Position of the first cell holding each point (closure), -1 for none."""
    tree = shapely.STRtree(cells)
    pt_idx, cell_idx = tree.query(points, predicate="intersects")
    out = np.full(len(points), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, pt_idx, cell_idx)
    out[out == np.iinfo(np.int64).max] = -1
    return out
