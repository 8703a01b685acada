"""What :func:`gridmap.analysis.coverage.sweep_coverage` reports per grid: figures, dead corners, roll-ups, targets.

Also the RFC 7946 GeoJSON text of the dead corners
(:meth:`gridmap.analysis.coverage.CoverageResult.dead_corners_geojson`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.analysis._coverage_raster import _Cover, _grid_cover
from gridmap.analysis._coverage_tracks import _Fixes, _Paths
from gridmap.crs import from_wgs84
from gridmap.model import DEFAULT_TZ, STORAGE_CRS

#: Columns of :attr:`~gridmap.analysis.coverage.CoverageResult.dead_corners`, in order.
DEAD_CORNER_COLUMNS = ("corner_id", "grid_code", "community_code", "cadre", "area_m2", "lon", "lat",
                       "lon_gcj02", "lat_gcj02")
_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds


@dataclass
class _Measured:
    """Each grid's area, covered area and unreached ground (metric), in grid order."""

    area: np.ndarray
    covered: np.ndarray
    uncovered: list[BaseGeometry]

    @classmethod
    def of(cls, covers: list[_Cover]) -> "_Measured":
        return cls(np.array([c.area_m2 for c in covers], dtype=float),
                   np.array([c.covered_m2 for c in covers], dtype=float), [c.uncovered_geometry() for c in covers])


@dataclass
class _Run:
    """What a run found before the tables are made: each grid's figures, counts, whether coverage is known
    (a path piece was used), the targets' visits (:func:`_target_hits`) and polygon targets' shares."""

    measured: _Measured
    stats: dict[str, Any]
    known: bool
    visits: pd.DataFrame | None
    ratio: np.ndarray | None
    streets: Any = None  # the streets' covered intervals (_coverage_streets._Intervals) when streets were given


def _grid_figures(measured: _Measured, corners: gpd.GeoDataFrame, codes: pd.Series,
                  known: bool) -> dict[str, Any]:
    """Each grid's area, covered and uncovered area, ratio and dead-corner count; all but the area NaN/NA
    when no fix and no track line was used (coverage unknown, not 0)."""
    area = np.asarray(measured.area, dtype=float)
    if not known:
        unknown = np.full(len(area), np.nan)
        return {"area_m2": area, "covered_m2": unknown, "uncovered_m2": unknown.copy(),
                "coverage_ratio": unknown.copy(), "dead_corners": pd.array([pd.NA] * len(area), dtype="Int64")}
    covered = np.asarray(measured.covered, dtype=float)
    counts = corners.groupby("grid_code").size() if len(corners) else pd.Series(dtype=int)
    ratio = np.divide(covered, area, out=np.zeros_like(area), where=area > 0)
    return {"area_m2": area, "covered_m2": covered, "uncovered_m2": np.maximum(area - covered, 0.0),
            "coverage_ratio": np.clip(ratio, 0.0, 1.0),
            "dead_corners": pd.array(codes.map(counts).fillna(0).astype(int).to_numpy(), dtype="Int64")}


def _dead_corners(grids: gpd.GeoDataFrame, uncovered: list[BaseGeometry], crs: pyproj.CRS,
                  min_m2: float) -> gpd.GeoDataFrame:
    """The unreached pieces of at least `min_m2`, with a point inside each to walk to."""
    parts, owner = shapely.get_parts(np.asarray(uncovered, dtype=object), return_index=True)
    parts, inner = shapely.get_parts(parts, return_index=True)  # members of collections from the clip
    owner = owner[inner]
    is_poly = shapely.get_type_id(parts) == 3
    area = shapely.area(parts)
    keep = is_poly & (area >= min_m2) & (area > 0)
    parts, owner, area = parts[keep], owner[keep], area[keep]
    order = np.lexsort((-area, owner))
    parts, owner, area = parts[order], owner[order], area[order]
    walk = walk_to_columns(gpd.GeoSeries(shapely.point_on_surface(parts), crs=crs))
    codes = grids["grid_code"].astype(str).to_numpy()[owner]
    rank = pd.Series(owner).groupby(owner).cumcount().to_numpy() + 1
    frame = pd.DataFrame({
        "corner_id": [f"{c}-{r:02d}" for c, r in zip(codes, rank)],
        "grid_code": codes,
        "community_code": grids["community_code"].to_numpy()[owner],
        "cadre": grids["cadre"].to_numpy()[owner],
        "area_m2": area, **walk,
    })
    geometry = gpd.GeoSeries(parts, crs=crs).to_crs(STORAGE_CRS).values
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=STORAGE_CRS)


def walk_to_columns(points: gpd.GeoSeries) -> dict[str, np.ndarray]:
    """``lon``, ``lat`` (WGS84) and ``lon_gcj02``, ``lat_gcj02`` (to paste into Amap or WeChat) of `points`
    (any CRS): the walk-to columns of dead corners, dead stretches and route stops."""
    wgs = points.to_crs(STORAGE_CRS)
    lon, lat = wgs.x.to_numpy(dtype=float), wgs.y.to_numpy(dtype=float)
    glon, glat = from_wgs84(lon, lat, "gcj02")
    return {"lon": lon, "lat": lat, "lon_gcj02": np.atleast_1d(np.asarray(glon, dtype=float)),
            "lat_gcj02": np.atleast_1d(np.asarray(glat, dtype=float))}


def _rollup(grids: pd.DataFrame, key: str) -> pd.DataFrame:
    """Sums per `key`; a sum over any unknown (NaN/NA) grid is unknown, not the sum of the known ones."""
    columns = ["area_m2", "covered_m2", "uncovered_m2", "dead_corners"]
    plain = pd.DataFrame({key: grids[key], **{c: grids[c] for c in columns}})  # no geometry: a quicker groupby
    groups = plain.groupby(key, sort=True, dropna=False)
    sums = groups[columns].sum()
    size = groups.size()
    if plain[columns].isna().to_numpy().any():  # no NaN/NA at all (coverage known): every sum is known as it is
        unknown = groups[columns].count().lt(size, axis=0)  # fewer known values than grids: some are NaN/NA
        sums = sums.mask(unknown.reindex(index=sums.index, columns=columns))
    sums.insert(0, "grids", size)
    area = sums["area_m2"].to_numpy(dtype=float)
    covered = sums["covered_m2"].to_numpy(dtype=float)
    ratio = np.divide(covered, area, out=np.where(np.isnan(covered), np.nan, 0.0), where=area > 0)
    sums.insert(4, "coverage_ratio", np.clip(ratio, 0.0, 1.0))
    return pd.DataFrame(sums.reset_index())


def _target_geometries(targets: gpd.GeoDataFrame, crs: pyproj.CRS) -> np.ndarray:
    """The targets in the metric CRS; a missing geometry is an empty point."""
    geoms = np.asarray(targets.geometry.to_crs(crs).values, dtype=object)
    return np.where(shapely.is_missing(geoms), shapely.Point(), geoms)


def _polygon_targets(geoms: np.ndarray) -> np.ndarray:
    """Positions of the polygon targets (their covered share is measured like a grid's)."""
    return np.flatnonzero(np.isin(shapely.get_type_id(geoms), (3, 6)))


def _target_hits(geoms: np.ndarray, fixes: _Fixes, lines: np.ndarray, line_inspectors: np.ndarray,
                 radius: float) -> pd.DataFrame:
    """Visits: (target position, time, inspector) of every used fix and every line within `radius` of a target
    (a line's time is NaT)."""
    tree = shapely.STRtree(geoms)
    fix_hit = tree.query(shapely.points(fixes.xy), predicate="dwithin", distance=radius)
    line_hit = tree.query(lines, predicate="dwithin", distance=radius)
    return pd.DataFrame({
        "target": np.concatenate([fix_hit[1], line_hit[1]]).astype(np.int64),
        "time": pd.to_datetime(np.concatenate([fixes.t[fix_hit[0]], np.full(line_hit.shape[1], _NAT)]),
                               utc=True).tz_convert(DEFAULT_TZ),
        "inspector": np.concatenate([fixes.inspector[fix_hit[0]], line_inspectors[line_hit[0]]]).astype(object),
    })


def _targets(targets: gpd.GeoDataFrame, visits: pd.DataFrame, ratio: np.ndarray, *, known: bool) -> gpd.GeoDataFrame:
    """Every target's visits (from the table of :func:`_target_hits`, any number of them stacked) and covered
    share (`ratio`, NaN but for polygons); NA/NaN when not `known`."""
    out = targets.to_crs(STORAGE_CRS)
    pos = np.arange(len(out))
    groups = visits.groupby("target")
    first = groups["time"].min().reindex(pos)
    last = groups["time"].max().reindex(pos)
    names = groups["inspector"].agg(lambda s: ", ".join(sorted({v for v in s if v}))).reindex(pos)
    visited = pd.array(np.isin(pos, visits["target"].to_numpy()), dtype="boolean")
    out["visited"] = visited if known else pd.array([pd.NA] * len(out), dtype="boolean")
    out["first_visit"] = first.to_numpy()
    out["last_visit"] = last.to_numpy()
    out["inspectors"] = names.fillna("").to_numpy(dtype=object)
    out["coverage_ratio"] = ratio if known else np.full(len(out), np.nan)
    return out


def _target_ratios(geoms: np.ndarray, paths: _Paths, radius: float, cell: float) -> np.ndarray:
    """Covered share of every polygon target (NaN for the others)."""
    ratio = np.full(len(geoms), np.nan)
    for k in _polygon_targets(geoms):
        cover = _grid_cover(geoms[k], paths, radius, cell)
        ratio[k] = _share(cover.covered_m2, cover.area_m2)
    return ratio


def _share(covered: float, area: float) -> float:
    return covered / area if area > 0 else 0.0


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if value is pd.NA:
        return None
    return value


def _geojson_text(frame: gpd.GeoDataFrame, columns: tuple[str, ...] = DEAD_CORNER_COLUMNS) -> str:
    """RFC 7946 FeatureCollection of `frame` with `columns` as properties: WGS84, counter-clockwise exteriors
    (lines as they are), coordinates to 7 decimals."""
    geoms = shapely.orient_polygons(np.asarray(frame.geometry.values, dtype=object), exterior_cw=False)
    geoms = shapely.transform(geoms, lambda c: np.round(c, 7)) if len(geoms) else geoms
    features = []
    for row, geom in zip(frame[list(columns)].itertuples(index=False), geoms):
        features.append({
            "type": "Feature",
            "properties": {k: _json_value(v) for k, v in zip(columns, row)},
            "geometry": shapely.geometry.mapping(geom),
        })
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
