"""Geometry of the row checks (:mod:`gridmap.io.records`): coordinates checked, repaired, stored, put in grids.

On the raw coordinates, before any GCJ-02/BD-09 conversion: ``missing_coordinates``,
``unparseable_coordinates``, ``swapped_coordinates``, ``coordinates_out_of_range``,
``outside_china`` (the box :data:`CHINA_BOUNDS`), ``wrong_geometry_type``, ``invalid_geometry``;
then the conversion to WGS84 (EPSG:4326) and ``outside_subdistrict``. Grids are assigned by location.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from gridmap.crs import metric_crs, require_crs, single_vertices, to_storage
from gridmap.errors import CRSError, ReadError, SchemaError
from gridmap.io._records_base import _COORD_NAMES, _as_text, _Verdicts
from gridmap.model import STORAGE_CRS, LayerSpec

#: The CRS that :func:`gridmap.crs.to_storage` converts to (its ``to_crs(4326)``).
_STORAGE = CRS.from_user_input(4326)

__all__ = ["CHINA_BOUNDS", "REPAIR_COLUMNS"]

# the row checks log as one module: logging configured for gridmap.io.records sees all of them
logger = logging.getLogger("gridmap.io.records")

#: Bounding box (min lon, min lat, max lon, max lat) used as "inside China".
CHINA_BOUNDS: tuple[float, float, float, float] = (73.5, 18.1, 135.1, 53.6)
REPAIR_COLUMNS = ["_record", "area_before_m2", "area_after_m2", "change_pct"]

_TYPE_NAMES = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
               "GeometryCollection")
_POINT, _LINE, _POLYGON, _MULTILINE, _MULTIPOLYGON = 0, 1, 3, 5, 6
#: Shapely type ids each layer geometry accepts.
_ACCEPTED_TYPES: Mapping[str, frozenset[int]] = {
    "Point": frozenset({_POINT}),
    "MultiPolygon": frozenset({_POLYGON, _MULTIPOLYGON}),
    "MultiLineString": frozenset({_LINE, _MULTILINE}),
    "Geometry": frozenset({_POINT, _POLYGON, _MULTIPOLYGON}),
}


def _empty_repairs() -> pd.DataFrame:
    return pd.DataFrame({
        "_record": pd.Series([], dtype="int64"),
        "area_before_m2": pd.Series([], dtype="float64"),
        "area_after_m2": pd.Series([], dtype="float64"),
        "change_pct": pd.Series([], dtype="float64"),
    })


def _raw_geometry(records: pd.DataFrame, coord_cols: Mapping[str, Any], spec: LayerSpec) -> tuple[np.ndarray, CRS]:
    """The records' geometries as a shapely array, and their CRS (refusing data without one)."""
    if isinstance(records, gpd.GeoDataFrame) and records._geometry_column_name in records.columns:
        require_crs(records, what=f"records for layer {spec.name!r}")
        return np.asarray(records.geometry.array, dtype=object), CRS.from_user_input(records.crs)
    if len(records) == 0:
        return np.empty(0, dtype=object), CRS.from_user_input(STORAGE_CRS)
    if set(coord_cols) == set(_COORD_NAMES):
        lon = _coordinate(records[coord_cols["lon"]])
        lat = _coordinate(records[coord_cols["lat"]])
        both_empty = np.isnan(lon[1]) & np.isnan(lat[1])
        geoms = shapely.points(lon[0], lat[0])
        geoms[both_empty] = None
        return geoms, CRS.from_user_input(STORAGE_CRS)
    raise ReadError(f"layer {spec.name!r} needs geometry, but the records have none and no longitude/latitude "
                    "columns; add lon and lat columns (or 经度, 纬度) or read a file with geometry")


def _coordinate(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(number or NaN for not-a-number, NaN where empty) — NaN in the first marks unparseable."""
    text = _as_text(values)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
    given = np.where(text.notna().to_numpy(dtype=bool), 0.0, np.nan)
    return numbers, given


def _check_geometry(
    raw: np.ndarray, crs: CRS, spec: LayerSpec, verdicts: _Verdicts, record_no: np.ndarray, *, datum: str,
    repair: bool, subdistrict: Any, max_outside_km: float,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Run the coordinate checks; return the stored (EPSG:4326, promoted) geometries and the repairs."""
    geoms = raw.copy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    verdicts.flag(~present, "missing_coordinates", "the record has no coordinates; add them or drop the record")
    lonlat = _as_lonlat(geoms, crs, present)
    _check_ranges(lonlat, present, crs, verdicts)
    _check_types(geoms, spec, verdicts)
    geoms, repairs = _check_validity(geoms, crs, spec, verdicts, record_no, repair=repair)
    geoms = _promote(geoms, spec)
    stored = np.full(len(geoms), None, dtype=object)
    ok = ~verdicts.bad
    if ok.any():
        stored[ok] = _to_storage(geoms[ok], crs, datum)
    if subdistrict is not None:
        _check_subdistrict(stored, subdistrict, verdicts, max_outside_km)
    return stored, repairs


def _as_lonlat(geoms: np.ndarray, crs: CRS, mask: np.ndarray) -> np.ndarray:
    """Geometries in longitude/latitude for the range checks: raw when geographic, else reprojected."""
    if crs.is_geographic:
        return geoms
    out = np.full(len(geoms), None, dtype=object)
    if mask.any():
        with np.errstate(invalid="ignore"):
            out[mask] = gpd.GeoSeries(geoms[mask], crs=crs).to_crs(STORAGE_CRS).array
    return out


def _in_box(minx: np.ndarray, miny: np.ndarray, maxx: np.ndarray, maxy: np.ndarray) -> np.ndarray:
    west, south, east, north = CHINA_BOUNDS
    return (minx >= west) & (maxx <= east) & (miny >= south) & (maxy <= north)


def _check_ranges(lonlat: np.ndarray, present: np.ndarray, crs: CRS, verdicts: _Verdicts) -> None:
    """unparseable → swapped → out of range → outside China, on every vertex (via bounds).

    The "mostly out of range" rule looks at every record with coordinates, whatever
    other check it fails.
    """
    xy, index = shapely.get_coordinates(lonlat[present], return_index=True)
    rows = np.flatnonzero(present)
    nonfinite = np.zeros(len(lonlat), dtype=bool)
    nonfinite[rows[np.unique(index[~np.isfinite(xy).all(axis=1)])]] = True
    how = ("are not numbers" if crs.is_geographic
           else f"cannot be transformed from {crs.to_string()} to longitude/latitude")
    verdicts.flag(nonfinite, "unparseable_coordinates", lambda idx: [
        f"coordinates {_short_wkt(lonlat[i])} {how}; correct them in the source" for i in idx])
    usable = present & ~nonfinite
    if len(xy) == len(rows):  # one vertex each (points): its bounds are the vertex, no second pass over them
        minx, miny = _vertex_columns(xy, rows, usable, len(lonlat))
        maxx, maxy = minx, miny
    else:
        bounds = np.full((len(lonlat), 4), np.nan)
        bounds[usable] = shapely.bounds(lonlat[usable])
        minx, miny, maxx, maxy = bounds.T
    with np.errstate(invalid="ignore"):
        out_of_range = usable & ((minx < -180) | (maxx > 180) | (miny < -90) | (maxy > 90))
        swapped_in = usable & _in_box(miny, minx, maxy, maxx)
        outside = usable & ~_in_box(minx, miny, maxx, maxy)
    _raise_if_mostly_out_of_range(out_of_range & ~swapped_in, usable, crs)

    def where(idx: np.ndarray) -> list[str]:
        return [_short_wkt(lonlat[i]) for i in idx]

    verdicts.flag(outside & swapped_in, "swapped_coordinates", lambda idx: [
        f"{w} has latitude and longitude swapped (swapped it lies in China); put longitude (x) first"
        for w in where(idx)])
    verdicts.flag(out_of_range, "coordinates_out_of_range", lambda idx: [
        f"{w} is outside longitude [-180, 180] / latitude [-90, 90]; check the file's CRS and the values"
        for w in where(idx)])
    verdicts.flag(outside, "outside_china", lambda idx: [
        f"{w} lies outside China (lon 73.5-135.1, lat 18.1-53.6); check the coordinates and the declared CRS"
        for w in where(idx)])


def _vertex_columns(xy: np.ndarray, rows: np.ndarray, usable: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of each record's single vertex (`xy[k]` belongs to record `rows[k]`), NaN where not `usable`.

    Examples
    --------
    >>> _vertex_columns(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0, 2]), np.array([True, False, True]), 3)
    (array([ 1., nan,  3.]), array([ 2., nan,  4.]))
    """
    if len(rows) == n and usable.all():
        return xy[:, 0].copy(), xy[:, 1].copy()
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    kept = usable[rows]
    x[usable], y[usable] = xy[kept, 0], xy[kept, 1]
    return x, y


def _raise_if_mostly_out_of_range(out: np.ndarray, usable: np.ndarray, crs: CRS) -> None:
    considered, bad = int(usable.sum()), int((out & usable).sum())
    if crs.is_geographic and considered and bad * 2 > considered:
        raise CRSError(
            f"{bad} of {considered} records have coordinates outside longitude/latitude range "
            f"although the file says {crs.to_string()}; the file is probably in a projected CRS. "
            "Declare its real CRS: delete the wrong .prj and import the file with --crs EPSG:NNNN (the code of "
            "the GIS project, e.g. --crs EPSG:4546 for CGCS2000 Gauss-Kruger CM 111E).")


def _short_wkt(geom: Any) -> str:
    if geom is None:
        return "(none)"
    return shapely.to_wkt(geom, rounding_precision=6, trim=True)[:80]


def _check_types(geoms: np.ndarray, spec: LayerSpec, verdicts: _Verdicts) -> None:
    accepted = _ACCEPTED_TYPES[str(spec.geometry)]
    types = shapely.get_type_id(geoms)
    wrong = ~np.isin(types, list(accepted)) & ~verdicts.bad
    holds = " or ".join(_TYPE_NAMES[t] for t in sorted(accepted))
    verdicts.flag(wrong, "wrong_geometry_type", lambda idx: [
        f"a {_TYPE_NAMES[types[i]] if 0 <= types[i] < 8 else 'geometry'} cannot go in layer {spec.name!r}, "
        f"which holds {holds}; convert or split it in GIS" for i in idx])


def _check_validity(geoms: np.ndarray, crs: CRS, spec: LayerSpec, verdicts: _Verdicts, record_no: np.ndarray, *,
                    repair: bool) -> tuple[np.ndarray, pd.DataFrame]:
    todo = ~verdicts.bad & (shapely.get_type_id(geoms) != _POINT)
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[todo] = ~shapely.is_valid(geoms[todo])
    if not invalid.any():
        return geoms, _empty_repairs()
    if not repair:
        verdicts.flag(invalid, "invalid_geometry", lambda idx: [
            f"invalid geometry: {reason}; fix it in GIS, or import with repair=True to repair it "
            "(the area change is reported)" for reason in shapely.is_valid_reason(geoms[idx])])
        return geoms, _empty_repairs()
    return _repair(geoms, invalid, crs, verdicts, record_no)


def _repair(geoms: np.ndarray, invalid: np.ndarray, crs: CRS, verdicts: _Verdicts,
            record_no: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    idx = np.flatnonzero(invalid)
    before = geoms[idx]
    fixed = np.array([_same_dimension_parts(g, shapely.make_valid(g)) for g in before], dtype=object)
    emptied = shapely.is_empty(fixed)
    verdicts.flag(np.isin(np.arange(len(geoms)), idx[emptied]), "invalid_geometry",
                  "invalid geometry that repair reduces to nothing (e.g. a polygon with no area); redraw it")
    keep = ~emptied
    out = geoms.copy()
    out[idx[keep]] = fixed[keep]
    for i, old, new in zip(idx[keep], before[keep], fixed[keep]):
        logger.info("record %d: repaired invalid geometry %s; original WKT: %s", record_no[i],
                    shapely.is_valid_reason(old), shapely.to_wkt(old))
    area_before, area_after = _metric_areas(before[keep], crs), _metric_areas(fixed[keep], crs)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(area_before > 0, (area_after - area_before) / area_before * 100.0,
                          np.where(area_after > 0, np.inf, 0.0))
    repairs = pd.DataFrame({"_record": record_no[idx[keep]].astype("int64"), "area_before_m2": area_before,
                            "area_after_m2": area_after, "change_pct": change})
    return out, repairs


def _same_dimension_parts(original: BaseGeometry, fixed: BaseGeometry) -> BaseGeometry:
    """Keep the parts of a repaired geometry that have the original's dimension."""
    dim = shapely.get_dimensions(original)
    parts = shapely.get_parts(fixed)
    parts = parts[shapely.get_dimensions(parts) == dim]
    if len(parts) == 0:
        return shapely.from_wkt("GEOMETRYCOLLECTION EMPTY")
    if dim == 2:
        polys = shapely.get_parts(parts)  # flatten nested multipolygons
        return shapely.multipolygons(polys[shapely.get_type_id(polys) == _POLYGON])
    lines = shapely.get_parts(parts)
    return shapely.multilinestrings(lines[shapely.get_type_id(lines) == _LINE])


def _metric_areas(geoms: np.ndarray, crs: CRS) -> np.ndarray:
    """Areas in m² in the metric CRS chosen for the data (raw lon/lat taken as WGS84; GCJ-02 shifts
    barely change areas)."""
    series = gpd.GeoSeries(geoms, crs=crs)
    geographic = series if crs.is_geographic else series.to_crs(STORAGE_CRS)
    geographic = geographic.set_crs(STORAGE_CRS, allow_override=True)
    metric = metric_crs(gpd.GeoDataFrame(geometry=geographic))
    return geographic.to_crs(metric).area.to_numpy(dtype="float64")


def _promote(geoms: np.ndarray, spec: LayerSpec) -> np.ndarray:
    """Polygon → MultiPolygon, LineString → MultiLineString where the layer holds multi types."""
    types = shapely.get_type_id(geoms)
    out = geoms.copy()
    if spec.geometry in ("MultiPolygon", "Geometry"):
        polys = np.flatnonzero(types == _POLYGON)
        if len(polys):
            out[polys] = shapely.multipolygons(geoms[polys], indices=np.arange(len(polys)))
    if spec.geometry == "MultiLineString":
        lines = np.flatnonzero(types == _LINE)
        if len(lines):
            out[lines] = shapely.multilinestrings(geoms[lines], indices=np.arange(len(lines)))
    return out


def _to_storage(geoms: np.ndarray, crs: CRS, datum: str) -> np.ndarray:
    """`geoms` (rows that passed :func:`_check_ranges`) in EPSG:4326 and the WGS84 datum.

    Geometries in EPSG:4326 of the WGS84 datum come back as they are: :func:`gridmap.crs.to_storage`
    would return the same objects (geopandas skips a transform to the exact same CRS), and its check
    of the share of coordinates out of range cannot fail on rows whose every vertex is in range.
    """
    if datum == "wgs84" and crs.is_exact_same(_STORAGE):
        return geoms
    stored = to_storage(gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, crs=crs)), coords=datum, what="the records")
    return np.asarray(stored.geometry.array, dtype=object)


def _subdistrict_4326(subdistrict: Any) -> BaseGeometry:
    if isinstance(subdistrict, BaseGeometry):
        return subdistrict
    if isinstance(subdistrict, (gpd.GeoDataFrame, gpd.GeoSeries)):
        frame = subdistrict if isinstance(subdistrict, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=subdistrict)
        require_crs(frame, what="the subdistrict")
        return frame.to_crs(STORAGE_CRS).geometry.union_all()
    raise SchemaError(f"subdistrict must be a shapely geometry or a GeoDataFrame, not {type(subdistrict).__name__}")


def _check_subdistrict(stored: np.ndarray, subdistrict: Any, verdicts: _Verdicts, max_km: float) -> None:
    """Quarantine records farther than `max_km` (metric) from the subdistrict."""
    area = _subdistrict_4326(subdistrict)
    metric = metric_crs(gpd.GeoDataFrame(geometry=[area], crs=STORAGE_CRS))
    area_m = gpd.GeoSeries([area], crs=STORAGE_CRS).to_crs(metric)
    zone = area_m.buffer(max_km * 1000.0, quad_segs=32).to_crs(STORAGE_CRS).iloc[0]
    shapely.prepare(zone)
    todo = np.flatnonzero(~verdicts.bad)
    geoms = stored[todo]
    xy = single_vertices(geoms)  # points (the bulk of imports): their coordinates in one pass
    if xy is not None:
        near = shapely.intersects_xy(zone, xy[:, 0], xy[:, 1])
    else:
        near = np.ones(len(todo), dtype=bool)
        points = shapely.get_type_id(geoms) == _POINT
        near[points] = shapely.intersects_xy(zone, shapely.get_x(geoms[points]), shapely.get_y(geoms[points]))
        near[~points] = shapely.intersects(geoms[~points], zone)
    far = np.zeros(len(stored), dtype=bool)
    far[todo[~near]] = True

    def detail(idx: np.ndarray) -> list[str]:
        dist = gpd.GeoSeries(stored[idx], crs=STORAGE_CRS).to_crs(metric).distance(area_m.iloc[0]).to_numpy()
        return [f"{_short_wkt(stored[i])} lies {d / 1000:.1f} km from the subdistrict (limit {max_km:g} km); "
                "check the declared coordinate system (--coords, or --crs for metres) and the values"
                for i, d in zip(idx, dist)]

    verdicts.flag(far, "outside_subdistrict", detail)


def _assign_grids(stored: np.ndarray, ok: np.ndarray, grids: gpd.GeoDataFrame, current: pd.Series) -> pd.Series:
    """grid_code by location for the accepted rows; rows in no grid get an empty grid_code."""
    if "grid_code" not in grids.columns:
        raise SchemaError(f"grids need a grid_code column; they have: {', '.join(map(str, grids.columns))}")
    require_crs(grids, what="the grids")
    grid_geoms = np.asarray(grids.to_crs(STORAGE_CRS).geometry.array, dtype=object)
    codes = _as_text(grids["grid_code"]).to_numpy(dtype=object)
    rows = np.flatnonzero(ok)
    geoms = stored[rows]
    anchors = geoms.copy()
    areas = shapely.get_type_id(geoms) != _POINT
    anchors[areas] = shapely.point_on_surface(geoms[areas])
    tree = shapely.STRtree(grid_geoms)
    hit_row, hit_grid = tree.query(anchors, predicate="intersects")
    first_rows, first_grid = _first_hits(hit_row, hit_grid)
    which = np.full(len(stored), len(codes), dtype=np.intp)  # len(codes): the missing code after the last grid
    which[rows[first_rows]] = first_grid
    result = pd.Series(pd.array([*codes, None], dtype="str").take(which), index=current.index)
    changed = int((current.notna() & result.notna() & (current != result)).sum())
    if changed:
        logger.info("%d records had a grid_code other than the grid holding them; the location wins", changed)
    return result


def _first_hits(hit_row: np.ndarray, hit_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row with a hit and the smallest grid index it hit (pairs from :meth:`shapely.STRtree.query`).

    The query lists the pairs by row already; then one pass over them does it, without sorting.

    Examples
    --------
    >>> _first_hits(np.array([0, 0, 2, 5, 5, 5]), np.array([3, 1, 4, 2, 0, 7]))
    (array([0, 2, 5]), array([1, 4, 0]))
    >>> _first_hits(np.array([2, 0, 2]), np.array([1, 5, 0]))
    (array([0, 2]), array([5, 0]))
    """
    if len(hit_row) == 0:
        return hit_row, hit_grid
    if (np.diff(hit_row) < 0).any():
        order = np.argsort(hit_row, kind="stable")
        hit_row, hit_grid = hit_row[order], hit_grid[order]
    starts = np.flatnonzero(np.r_[True, hit_row[1:] != hit_row[:-1]])
    return hit_row[starts], np.minimum.reduceat(hit_grid, starts)
