"""The illustrative Gulou sample: boundaries, reports and GPS tracks, made by a seeded generator.

**Nothing here is surveyed.** We have no boundaries of Gulou Subdistrict (鼓楼街道,
Yuyang District 榆阳区, Yulin, Shaanxi). Everything this module makes is invented
around the old town of Yulin (about 109.73° E, 38.29° N) so that gridmap can be shown
and tested on data shaped like the real thing: one subdistrict of about 2.4 km by
2.9 km, 6 communities, 36 grids with one cadre each, 3 leaders' areas, streets with
street chiefs, an old city wall with demolition zones along it, must-visit targets,
a year of problem reports and inspectors' GPS fixes. Names and phone numbers are
invented (phones are ``138000000nn``). Written files say so too (the GeoJSON member
``"gridmap_illustrative": true``).

How the boundaries are built
----------------------------
Everything is constructed in metres in CGCS2000 / 3-degree Gauss-Kruger CM 111E
(EPSG:4546). Community and grid boundaries are Voronoi ridges (smoothed by a few
Lloyd iterations) clipped to an irregular outline. All lines are noded together
with snap rounding on a 10 cm grid and polygonised into faces, so neighbouring
faces share identical vertices. Every vertex is then converted to WGS84 with one
transformer and rounded to 7 decimals (about 1 cm); grids, communities, areas and
the subdistrict are dissolved from those faces by cancelling shared edges, never by
a floating-point overlay. Shared vertices therefore stay bit-identical and the
layers tile each other exactly, also after writing and reading GeoJSON.

Examples
--------
>>> from gridmap.sample import sample_boundaries
>>> b = sample_boundaries()
>>> len(b["communities"]), len(b["grids"])
(6, 36)
>>> b["subdistrict"].loc[0, "name"], b["subdistrict"].loc[0, "code"]
('鼓楼街道', '610802001')
"""

from __future__ import annotations

import functools
import json
import logging
import math
import zlib
from collections import Counter
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.affinity
from pyproj import CRS, Transformer
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from gridmap.errors import CRSError, SchemaError
from gridmap.model import DEFAULT_TZ, DISTRICT_CODE, EXTRA_COLUMN, LAYERS, STORAGE_CRS

__all__ = [
    "BOUNDARY_LAYERS",
    "ILLUSTRATIVE_NOTE",
    "METRIC_CRS",
    "sample_boundaries",
    "sample_reports",
    "sample_tracks",
    "sample_spotchecks",
    "sample_layers",
    "write_boundaries",
]

logger = logging.getLogger(__name__)

#: Metric CRS the sample is built in: CGCS2000 / 3-degree Gauss-Kruger CM 111E.
METRIC_CRS = "EPSG:4546"
#: Boundary layers made by :func:`sample_boundaries`, in the order they are written.
BOUNDARY_LAYERS: tuple[str, ...] = (
    "subdistrict", "communities", "grids", "areas", "streets", "wall", "demolition_zones", "targets",
)
#: What every written sample file says about itself.
ILLUSTRATIVE_NOTE = (
    "Illustrative sample for gridmap, NOT surveyed: invented boundaries, names and phone numbers "
    "around the old town of Yulin (鼓楼街道, 榆阳区, 榆林市, about 109.73E 38.29N), made by "
    "gridmap.sample with a fixed seed. Do not use for administration or navigation."
)

_CENTER_LONLAT = (109.73, 38.29)
_SUBDISTRICT_CODE = DISTRICT_CODE + "001"
_SUBDISTRICT_NAME = "鼓楼街道"
_HALF_WIDTH_M, _HALF_HEIGHT_M = 1200.0, 1450.0
_SNAP_M = 0.1  # snap-rounding grid of the noded boundary lines
_DECIMALS = 7  # decimals of stored longitude/latitude, about 1 cm
_DAY_NS = 86_400 * 10**9
_HOUR_NS = 3_600 * 10**9

# Communities from north-west to south-east (2 columns x 3 rows); areas pair each row.
_COMMUNITY_NAMES = ("北门社区", "文庙社区", "西城社区", "东城社区", "钟楼社区", "南门社区")
_AREA_NAMES = ("北片区", "中片区", "南片区")
_SURNAMES = "王李张刘高杨马白贺杜郭呼霍乔薛冯曹雷田康"
_GIVEN_NAMES = (
    "建国", "红梅", "志强", "丽娟", "海涛", "秀兰", "军平", "文华", "玉兰", "永明", "春燕", "晓东", "桂芳", "宏伟",
    "国庆", "淑珍", "卫东", "小龙", "亚楠", "瑞霞", "振华", "彩霞", "世杰", "慧敏", "利军", "艳玲", "向东", "金凤",
    "保平", "翠萍", "斌", "静", "磊", "娜", "勇", "敏", "涛", "霞", "鹏", "燕", "杰", "倩", "刚", "琳", "强", "芳",
    "军", "丹",
)
# Streets: name, direction ("ns" or "ew"), offset from the centre as a fraction of the half size, part.
_STREETS: tuple[tuple[str, str, float, str], ...] = (
    ("北大街", "ns", 0.04, "north"),
    ("南大街", "ns", 0.04, "south"),
    ("新建路", "ew", 0.62, "all"),
    ("文化路", "ew", 0.30, "all"),
    ("人民路", "ew", -0.05, "all"),
    ("上郡路", "ew", -0.38, "all"),
    ("二里半路", "ew", -0.72, "all"),
    ("长城路", "ns", -0.45, "all"),
    ("青山路", "ns", 0.42, "all"),
    ("兴中路", "ns", 0.75, "all"),
)
_ERLIBAN_STREET = "二里半路"
_NORTH_STREET = "北大街"
_WALL_NAME = "榆林古城墙 (示意)"

# Report generation: category weights (keys of gridmap.model.CATEGORIES).
_CATEGORY_WEIGHTS: dict[str, float] = {
    "garbage_dumping": 0.28, "random_piling": 0.20, "sewage_splashing": 0.10, "sanitation_dead_corner": 0.10,
    "road_occupying_business": 0.08, "firewood_pile": 0.07, "vacant_lot_garbage": 0.07,
    "sewage_discharge_point": 0.05, "scrapped_vehicle": 0.05,
}
_HOTSPOT_WEIGHTS: dict[str, float] = {
    "random_piling": 0.30, "garbage_dumping": 0.30, "sanitation_dead_corner": 0.25, "firewood_pile": 0.15,
}
_GARBAGE_CATEGORIES = frozenset(
    {"garbage_dumping", "random_piling", "vacant_lot_garbage", "sanitation_dead_corner", "firewood_pile"}
)
_SOURCES: dict[str, float] = {"wechat": 0.45, "patrol": 0.25, "app": 0.20, "hotline": 0.10}
_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "random_piling": ("{place}附近杂物乱堆乱放，影响通行", "{place}旁建筑材料乱堆乱放"),
    "garbage_dumping": ("{place}有人乱倒生活垃圾", "{place}垃圾堆积，气味较大，请尽快清运"),
    "sewage_splashing": ("{place}门前污水乱泼", "{place}路面有污水，结冰路滑"),
    "firewood_pile": ("{place}院内柴草垛堆放，有火灾隐患",),
    "scrapped_vehicle": ("{place}停放多辆废旧摩托车", "{place}有报废车辆长期占道"),
    "road_occupying_business": ("{place}商户占道经营", "{place}摊点占用人行道"),
    "sewage_discharge_point": ("{place}发现污水排放点",),
    "vacant_lot_garbage": ("{place}空闲地垃圾杂草丛生", "{place}空地有人倾倒垃圾"),
    "sanitation_dead_corner": ("{place}墙角卫生死角，垃圾未清", "{place}巷子深处卫生死角"),
}
_RECURRING_SITES = {"garbage_point": 16, "sewage_point": 2, "vacant_lot": 2}

# Tracks: walking, GPS and working-hour parameters.
_SESSION_STARTS_S = (8 * 3600 + 1800, 14 * 3600 + 1800)  # patrols start 08:30 and 14:30 plus up to 40 min
_SESSION_MAX_S = 3 * 3600.0
_GAP_P, _GAP_S = 0.003, (60.0, 600.0)
_OUTLIER_P, _OUTLIER_M = 0.003, (100.0, 400.0)
_GPS_SIGMA_M = 5.0 / math.sqrt(2.0)  # per axis, so the radial RMS error is 5 m
_SWEEP_SPACING_M = 50.0
_DEAD_CORNER_M = 100.0
_DEAD_CORNER_SHARE = 0.35


# ---------------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------------


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SchemaError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent generator per seed and purpose, so one part does not shift another."""
    return np.random.default_rng([_check_seed(seed), zlib.crc32(stream.encode())])


@functools.lru_cache(maxsize=16)
def _transformer(src: str | CRS, dst: str | CRS) -> Transformer:
    """A cached always-xy transformer (building one takes tens of milliseconds)."""
    return Transformer.from_crs(src, dst, always_xy=True)


@functools.lru_cache(maxsize=1)
def _center_metric() -> tuple[float, float]:
    x, y = _transformer(STORAGE_CRS, METRIC_CRS).transform(*_CENTER_LONLAT)
    return float(x), float(y)


def _round_exact(values: np.ndarray) -> np.ndarray:
    """Round to 7 decimals as decimal text does, so the JSON text is short and reads back identically."""
    return np.array([float(f"{v:.{_DECIMALS}f}") for v in np.asarray(values, dtype=float).ravel()])


def _lonlat_function(source: str | CRS, *, exact: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """A coordinate function for ``shapely.transform``: metric → rounded WGS84 longitude/latitude."""
    tr = _transformer(source, STORAGE_CRS)

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(coords[:, 0], coords[:, 1])
        if exact:
            return np.column_stack([_round_exact(lon), _round_exact(lat)])
        return np.column_stack([np.round(lon, _DECIMALS), np.round(lat, _DECIMALS)])

    return convert


def _to_lonlat(geoms: Sequence[BaseGeometry] | np.ndarray, source: str | CRS = METRIC_CRS) -> np.ndarray:
    """Metric geometries → WGS84 geometries with vertices rounded to 7 decimals (same vertex, same result)."""
    arr = np.asarray(list(geoms), dtype=object)
    out = shapely.transform(arr, _lonlat_function(source))
    return shapely.remove_repeated_points(out)


def _multi_polygon(geom: BaseGeometry) -> MultiPolygon:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    return MultiPolygon(parts)


def _multi_line(geom: BaseGeometry) -> MultiLineString:
    parts = [p for p in shapely.get_parts(shapely.line_merge(geom)) if p.geom_type == "LineString"]
    return MultiLineString(parts)


def _person_names(rng: np.random.Generator, n: int, *, exclude: Sequence[str] = ()) -> list[str]:
    """`n` distinct invented Chinese names (surname + given name), none of them in `exclude`."""
    pool = [s + g for s in _SURNAMES for g in _GIVEN_NAMES if s + g not in set(exclude)]
    if n > len(pool):
        raise SchemaError(f"the sample can invent at most {len(pool)} distinct names, {n} were asked for")
    return [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]


def _uniform_points(rng: np.random.Generator, region: BaseGeometry, n: int) -> np.ndarray:
    """`n` points uniformly distributed in `region` (rejection sampling in its bounds)."""
    minx, miny, maxx, maxy = region.bounds
    shapely.prepare(region)
    out = np.empty((0, 2))
    while len(out) < n:
        cand = rng.uniform([minx, miny], [maxx, maxy], size=(max(2 * (n - len(out)), 16), 2))
        out = np.vstack([out, cand[shapely.contains_xy(region, cand[:, 0], cand[:, 1])]])
    return out[:n]


# ---------------------------------------------------------------------------------------------------------------
# the partition: outline, communities, grids (metric), exact faces (WGS84)
# ---------------------------------------------------------------------------------------------------------------


def _outline(rng: np.random.Generator) -> Polygon:
    """An irregular, star-shaped outline of about 2.4 km x 2.9 km around the old town."""
    cx, cy = _center_metric()
    n = 18
    angles = np.linspace(0.0, 2 * math.pi, n, endpoint=False) + rng.uniform(-0.12, 0.12, n)
    radius = 1.0 + rng.uniform(-0.07, 0.07, n)
    xs = cx + _HALF_WIDTH_M * radius * np.cos(angles)
    ys = cy + _HALF_HEIGHT_M * radius * np.sin(angles)
    return Polygon(np.column_stack([xs, ys]))


def _voronoi(seeds: np.ndarray, region: BaseGeometry) -> np.ndarray:
    """Voronoi cells of `seeds` (in seed order), extended well beyond `region`."""
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=region.envelope.buffer(2000), ordered=True)
    return np.asarray(shapely.get_parts(cells))


def _lloyd(seeds: np.ndarray, region: BaseGeometry, *, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Move seeds to the centroids of their clipped cells (Lloyd's algorithm); return seeds and unclipped cells."""
    for _ in range(iterations):
        clipped = shapely.intersection(_voronoi(seeds, region), region)
        seeds = shapely.get_coordinates(shapely.centroid(clipped))
    return seeds, _voronoi(seeds, region)


def _community_seeds(rng: np.random.Generator, outline: Polygon) -> np.ndarray:
    minx, miny, maxx, maxy = outline.bounds
    fx = np.array([0.3, 0.7, 0.3, 0.7, 0.3, 0.7]) + rng.uniform(-0.05, 0.05, 6)
    fy = np.array([0.8, 0.8, 0.5, 0.5, 0.2, 0.2]) + rng.uniform(-0.05, 0.05, 6)
    return np.column_stack([minx + fx * (maxx - minx), miny + fy * (maxy - miny)])


def _reading_order(points: np.ndarray, *, band: float) -> np.ndarray:
    """Indices of points from north to south (in bands of `band` metres), west to east within a band."""
    return np.lexsort((points[:, 0], -np.round(points[:, 1] / band)))


@dataclass(frozen=True)
class _Partition:
    outline: Polygon
    faces: tuple[Polygon, ...]  # WGS84, rounded, exactly sharing vertices
    community_of_face: tuple[int, ...]
    grid_of_face: tuple[int, ...]  # 0..35, community-major, reading order inside the community
    metric_grids: tuple[BaseGeometry, ...]


def _partition(rng: np.random.Generator) -> _Partition:
    outline = _outline(rng)
    comm_seeds, comm_cells = _lloyd(_community_seeds(rng, outline), outline, iterations=4)
    lines: list[BaseGeometry] = [outline.exterior]
    lines += list(shapely.intersection(shapely.boundary(comm_cells), outline))
    grid_seeds = []
    for cell in comm_cells:
        region = cell.intersection(outline)
        seeds, cells = _lloyd(_uniform_points(rng, region, 6), region, iterations=8)
        seeds = seeds[_reading_order(seeds, band=150.0)]
        grid_seeds.append(seeds)
        lines += list(shapely.intersection(shapely.boundary(_voronoi(seeds, region)), region))
    noded = shapely.union_all(lines, grid_size=_SNAP_M)
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    reps = shapely.get_coordinates(shapely.point_on_surface(faces))
    inside = shapely.contains_xy(outline, reps[:, 0], reps[:, 1])
    faces, reps = faces[inside], reps[inside]
    comm = np.argmin(np.linalg.norm(reps[:, None, :] - comm_seeds[None, :, :], axis=2), axis=1)
    grid = np.array([
        6 * c + int(np.argmin(np.linalg.norm(grid_seeds[c] - rep, axis=1))) for c, rep in zip(comm, reps)
    ])
    if len(set(grid.tolist())) != 36:  # pragma: no cover - a construction bug, not a user error
        raise RuntimeError(f"the sample partition produced {len(set(grid.tolist()))} grids instead of 36")
    metric_grids = tuple(shapely.union_all(faces[grid == g]) for g in range(36))
    return _Partition(outline, tuple(_to_lonlat(faces)), tuple(comm.tolist()), tuple(grid.tolist()), metric_grids)


def _dissolve_exact(faces: Sequence[Polygon]) -> MultiPolygon:
    """Union of faces of a planar partition by cancelling shared edges (no new coordinates)."""
    counts: Counter[tuple[tuple[float, float], tuple[float, float]]] = Counter()
    for face in faces:
        for ring in (face.exterior, *face.interiors):
            pts = list(ring.coords)
            for p, q in zip(pts[:-1], pts[1:]):
                counts[(p, q) if p <= q else (q, p)] += 1
    edges = [LineString(edge) for edge, n in counts.items() if n % 2 == 1]
    pieces = shapely.get_parts(shapely.polygonize(edges))
    faces_arr = np.asarray(faces, dtype=object)
    keep = [p for p in pieces if shapely.contains(faces_arr, p.point_on_surface()).any()]
    return MultiPolygon(keep)


def _oriented(geoms: Sequence[BaseGeometry]) -> list[BaseGeometry]:
    """RFC 7946 ring orientation: exteriors counter-clockwise, holes clockwise."""
    return list(shapely.orient_polygons(np.asarray(list(geoms), dtype=object), exterior_cw=False))


# ---------------------------------------------------------------------------------------------------------------
# boundary records
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    records: tuple[dict[str, Any], ...]
    geometries: tuple[BaseGeometry, ...]


def _polygon_layers(part: _Partition, people: list[str]) -> dict[str, _Layer]:
    faces = part.faces
    comm = np.asarray(part.community_of_face)
    grid = np.asarray(part.grid_of_face)
    secretaries, cadres, leaders = people[:6], people[6:42], people[42:45]

    def dissolve(mask: np.ndarray) -> MultiPolygon:
        return _dissolve_exact([f for f, m in zip(faces, mask) if m])

    comm_codes = [f"{_SUBDISTRICT_CODE}{k + 1:03d}" for k in range(6)]
    area_codes = [f"{_SUBDISTRICT_CODE}A{a + 1}" for a in range(3)]
    sub = _Layer(({"code": _SUBDISTRICT_CODE, "name": _SUBDISTRICT_NAME},), (dissolve(np.ones(len(faces), bool)),))
    communities = _Layer(
        tuple({"community_code": comm_codes[k], "name": _COMMUNITY_NAMES[k], "secretary": secretaries[k]}
              for k in range(6)),
        tuple(dissolve(comm == k) for k in range(6)),
    )
    grid_rows = []
    for g in range(36):
        k, j = divmod(g, 6)
        grid_rows.append({
            "grid_code": f"{comm_codes[k]}{j + 1:03d}", "name": f"{_COMMUNITY_NAMES[k]}第{j + 1}网格",
            "community_code": comm_codes[k], "cadre": cadres[g], "cadre_phone": f"138{g + 1:08d}",
            "area_code": area_codes[k // 2],
        })
    grids = _Layer(tuple(grid_rows), tuple(dissolve(grid == g) for g in range(36)))
    areas = _Layer(
        tuple({"area_code": area_codes[a], "name": _AREA_NAMES[a], "leader": leaders[a]} for a in range(3)),
        tuple(dissolve(comm // 2 == a) for a in range(3)),
    )
    return {"subdistrict": sub, "communities": communities, "grids": grids, "areas": areas}


def _street_line(rng: np.random.Generator, outline: Polygon, direction: str, offset: float, part: str) -> LineString:
    cx, cy = _center_metric()
    t = np.linspace(-1.6, 1.6, 9)
    if part == "north":
        t = np.linspace(0.0, 1.6, 5)
    elif part == "south":
        t = np.linspace(-1.6, 0.0, 5)
    wiggle = rng.normal(0.0, 12.0, len(t))
    if direction == "ns":
        xs, ys = cx + offset * _HALF_WIDTH_M + wiggle, cy + t * _HALF_HEIGHT_M
    else:
        xs, ys = cx + t * _HALF_WIDTH_M, cy + offset * _HALF_HEIGHT_M + wiggle
    return LineString(np.column_stack([xs, ys])).intersection(outline)


def _streets(rng: np.random.Generator, outline: Polygon, chiefs: list[str]) -> tuple[_Layer, list[BaseGeometry]]:
    metric = [_street_line(rng, outline, d, off, part) for _, d, off, part in _STREETS]
    records = tuple({"street_name": name, "street_chief": chief} for (name, *_), chief in zip(_STREETS, chiefs))
    geoms = tuple(_multi_line(g) for g in _to_lonlat(metric))
    return _Layer(records, geoms), metric


def _wall_metric(outline: Polygon) -> LineString:
    """The old wall: the outline 70 m inside, along its western and northern sides."""
    cx, cy = _center_metric()
    ring = outline.buffer(-70.0, join_style="mitre").exterior
    angles = np.radians(np.linspace(65.0, 235.0, 60))
    wedge = Polygon([(cx, cy), *zip(cx + 6000 * np.cos(angles), cy + 6000 * np.sin(angles))])
    wall = shapely.line_merge(ring.intersection(wedge))
    if wall.geom_type != "LineString":  # pragma: no cover - the ring start fell inside the wedge twice
        wall = max(shapely.get_parts(wall), key=lambda g: g.length)
    return wall


def _zone_rectangle(wall: LineString, inner: Polygon, s: float, rng: np.random.Generator) -> Polygon:
    """A demolition zone: a rectangle beside the wall at arc length `s`, on the town side."""
    p0, p1 = np.asarray(wall.interpolate(s - 5.0).coords[0]), np.asarray(wall.interpolate(s + 5.0).coords[0])
    tangent = (p1 - p0) / np.linalg.norm(p1 - p0)
    normal = np.array([-tangent[1], tangent[0]])
    base = (p0 + p1) / 2.0
    if not inner.contains(Point(base + 10.0 * normal)):
        normal = -normal
    center = base + normal * rng.uniform(35.0, 60.0)
    half_len, half_depth = rng.uniform(25.0, 45.0), rng.uniform(15.0, 25.0)
    signs = ((-1, -1), (1, -1), (1, 1), (-1, 1))
    return Polygon([center + a * half_len * tangent + b * half_depth * normal for a, b in signs])


def _demolition_zones(rng: np.random.Generator, outline: Polygon, wall: LineString) -> tuple[_Layer, list[Polygon]]:
    n = 12
    inner = outline.buffer(-70.0, join_style="mitre")
    spacing = wall.length / n
    positions = (np.arange(n) + 0.5 + rng.uniform(-0.2, 0.2, n)) * spacing
    zones = [_zone_rectangle(wall, inner, float(s), rng) for s in positions]
    statuses = rng.choice(["cleared", "cleared", "cleared", "in_progress", "pending"], size=n)
    records = tuple(
        {"zone_id": f"DZ{k + 1:02d}", "name": f"古城墙拆迁片区{k + 1}号", "status": str(statuses[k])} for k in range(n)
    )
    geoms = tuple(_multi_polygon(g) for g in _to_lonlat(zones))
    return _Layer(records, geoms), zones


def _near_streets(rng: np.random.Generator, streets: Sequence[BaseGeometry], n: int, *, spread: float) -> np.ndarray:
    """`n` points beside random streets, `spread` metres (normal) off the centre line."""
    idx = rng.integers(0, len(streets), n)
    pts = [streets[i].interpolate(rng.uniform(0.0, streets[i].length)) for i in idx]
    return shapely.get_coordinates(pts) + rng.normal(0.0, spread, (n, 2))


def _small_rectangle(rng: np.random.Generator, center: np.ndarray, size: tuple[float, float]) -> Polygon:
    w, h = rng.uniform(*size), rng.uniform(*size)
    x, y = center
    return shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def _target_geometries(
    rng: np.random.Generator, part: _Partition, streets: dict[str, BaseGeometry], zones: list[Polygon],
) -> list[tuple[str, str, BaseGeometry]]:
    """(kind, name, metric geometry) of every target."""
    safe = part.outline.buffer(-25.0)
    out: list[tuple[str, str, BaseGeometry]] = []
    for g, grid in enumerate(part.metric_grids):
        points = [_uniform_points(rng, grid.buffer(-15.0), 1)[0], _near_corner(rng, grid)]
        for m, xy in enumerate(points):
            out.append(("courtyard", f"{_COMMUNITY_NAMES[g // 6]}第{g % 6 + 1}网格{m + 1}号院落", Point(xy)))
    for k, zone in enumerate(zones):
        out.append(("demolition_zone", f"古城墙拆迁片区{k + 1}号", zone))
    names = list(streets)
    for kind, n, spread, label in (("sewage_point", 8, 15.0, "污水排放点"), ("garbage_point", 54, 15.0, "垃圾点")):
        for m, xy in enumerate(_points_in(rng, safe, [streets[s] for s in names], n, spread=spread)):
            street = names[int(np.argmin([streets[s].distance(Point(xy)) for s in names]))]
            out.append((kind, f"{street}{label}{m + 1}号", Point(xy)))
    erliban = streets[_ERLIBAN_STREET]
    anchor = np.asarray(erliban.interpolate(0.6, normalized=True).coords[0]) + np.array([0.0, 45.0])
    out.append(("vacant_lot", "二里半空闲地", _small_rectangle(rng, anchor, (50.0, 80.0))))
    for m, xy in enumerate(_uniform_points(rng, part.outline.buffer(-80.0), 4)):
        out.append(("vacant_lot", f"空闲地{m + 1}号", _small_rectangle(rng, xy, (40.0, 70.0))))
    return out


def _near_corner(rng: np.random.Generator, grid: BaseGeometry) -> np.ndarray:
    """A point 40-60 m from a random vertex of `grid`, towards its centre (inside the grid)."""
    corners = shapely.get_coordinates(grid)[:-1]
    center = np.asarray(grid.centroid.coords[0])
    for k in rng.permutation(len(corners)):
        step = center - corners[k]
        xy = corners[k] + step / np.linalg.norm(step) * rng.uniform(40.0, 60.0)
        if grid.buffer(-10.0).contains(Point(xy)):
            return xy
    return _uniform_points(rng, grid.buffer(-15.0), 1)[0]  # pragma: no cover - no vertex has room


def _points_in(rng: np.random.Generator, region: BaseGeometry, streets: Sequence[BaseGeometry], n: int,
               *, spread: float) -> np.ndarray:
    """`n` points: two thirds beside streets, one third anywhere, all inside `region`."""
    on_street = _near_streets(rng, streets, n, spread=spread)
    anywhere = _uniform_points(rng, region, n)
    pick = rng.random(n) < 2 / 3
    pts = np.where(pick[:, None], on_street, anywhere)
    outside = ~shapely.contains_xy(region, pts[:, 0], pts[:, 1])
    pts[outside] = anywhere[outside]
    return pts


def _assign_grid(points: Sequence[BaseGeometry] | np.ndarray, grids: Sequence[BaseGeometry],
                 codes: Sequence[str]) -> list[str | None]:
    """Code of the grid holding each point (the first one for a point on a shared edge; None outside)."""
    tree = shapely.STRtree(np.asarray(list(grids), dtype=object))
    geoms = np.asarray(list(points), dtype=object)
    pairs = tree.query(geoms, predicate="intersects")
    out: list[str | None] = [None] * len(geoms)
    for i, j in zip(pairs[0][::-1], pairs[1][::-1]):  # reversed so the first match wins
        out[int(i)] = codes[int(j)]
    return out


def _targets(rng: np.random.Generator, part: _Partition, streets: dict[str, BaseGeometry], zones: list[Polygon],
             grids: _Layer) -> _Layer:
    items = _target_geometries(rng, part, streets, zones)
    prefix = {"courtyard": "CY", "demolition_zone": "DZ", "sewage_point": "SP", "vacant_lot": "VL",
              "garbage_point": "GP"}
    counters: Counter[str] = Counter()
    lonlat = _to_lonlat([g for _, _, g in items])
    geoms = [g if g.geom_type == "Point" else _multi_polygon(g) for g in lonlat]
    codes = _assign_grid([shapely.point_on_surface(g) for g in geoms], grids.geometries,
                         [r["grid_code"] for r in grids.records])
    records = []
    for (kind, name, _), code in zip(items, codes):
        counters[kind] += 1
        records.append({"target_id": f"{prefix[kind]}{counters[kind]:03d}", "kind": kind, "name": name,
                        "grid_code": code})
    return _Layer(tuple(records), tuple(geoms))


@functools.lru_cache(maxsize=4)
def _boundary_layers(seed: int) -> dict[str, _Layer]:
    rng = _rng(seed, "boundaries")
    part = _partition(rng)
    people = _person_names(rng, 45 + len(_STREETS))
    layers = _polygon_layers(part, people)
    streets, metric_streets = _streets(rng, part.outline, people[45:])
    layers["streets"] = streets
    wall = _wall_metric(part.outline)
    layers["wall"] = _Layer(({"name": _WALL_NAME},), (_multi_line(_to_lonlat([wall])[0]),))
    layers["demolition_zones"], zones = _demolition_zones(rng, part.outline, wall)
    by_name = {name: geom for (name, *_), geom in zip(_STREETS, metric_streets)}
    layers["targets"] = _targets(rng, part, by_name, zones, layers["grids"])
    for name in ("subdistrict", "communities", "grids", "areas", "demolition_zones", "targets"):
        layer = layers[name]
        layers[name] = _Layer(layer.records, tuple(_oriented(layer.geometries)))
    return layers


def _own_columns(name: str) -> list[str]:
    """The layer's model columns without ``extra`` (the sample's files have no columns beyond the model)."""
    return [c for c in LAYERS[name].column_names if c != EXTRA_COLUMN]


def _layer_frame(name: str, layer: _Layer) -> gpd.GeoDataFrame:
    columns = _own_columns(name)
    frame = pd.DataFrame([dict(r) for r in layer.records], columns=columns)
    return gpd.GeoDataFrame(frame, geometry=list(layer.geometries), crs=STORAGE_CRS)


def sample_boundaries(*, seed: int = 0) -> dict[str, gpd.GeoDataFrame]:
    """Make the illustrative boundary layers of Gulou Subdistrict (not surveyed).

    Parameters
    ----------
    seed : int
        Seed of the generator; the same seed gives identical layers.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        The layers of :data:`BOUNDARY_LAYERS` with the model's columns, in
        EPSG:4326: ``subdistrict`` (1), ``communities`` (6), ``grids`` (36, one
        cadre each), ``areas`` (3 leaders' areas of 2 communities each),
        ``streets`` (10), ``wall`` (1), ``demolition_zones`` (12, beside the
        wall) and ``targets`` (courtyards, demolition zones, sewage points,
        vacant lots, garbage points). Polygon layers hold MultiPolygons and line
        layers MultiLineStrings. New frames on every call.

    Raises
    ------
    SchemaError
        When `seed` is not a non-negative integer.

    Examples
    --------
    >>> b = sample_boundaries()
    >>> list(b)
    ['subdistrict', 'communities', 'grids', 'areas', 'streets', 'wall', 'demolition_zones', 'targets']
    >>> b["grids"].loc[0, ["grid_code", "name", "cadre_phone"]].tolist()
    ['610802001001001', '北门社区第1网格', '13800000001']
    >>> sorted(b["targets"]["kind"].unique())
    ['courtyard', 'demolition_zone', 'garbage_point', 'sewage_point', 'vacant_lot']
    """
    layers = _boundary_layers(_check_seed(seed))
    return {name: _layer_frame(name, layers[name]) for name in BOUNDARY_LAYERS}


# ---------------------------------------------------------------------------------------------------------------
# writing GeoJSON
# ---------------------------------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _geojson_text(name: str, frame: gpd.GeoDataFrame, *, seed: int) -> str:
    """A FeatureCollection, one feature per line, with members saying the data is illustrative."""
    head = {
        "type": "FeatureCollection", "name": name, "gridmap_illustrative": True,
        "description": ILLUSTRATIVE_NOTE, "generator": f"gridmap.sample.write_boundaries(seed={seed})",
    }
    columns = _own_columns(name)
    lines = []
    for row, geom in zip(frame[columns].itertuples(index=False), frame.geometry):
        feature = {
            "type": "Feature",
            "properties": {c: _json_value(v) for c, v in zip(columns, row)},
            "geometry": shapely.geometry.mapping(geom),
        }
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    opening = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    return opening + ',"features":[\n' + ",\n".join(lines) + "\n]}\n"


def write_boundaries(directory: str | PathLike[str], *, seed: int = 0) -> list[Path]:
    """Write the illustrative boundary layers as GeoJSON files (RFC 7946, WGS84).

    One file per layer of :data:`BOUNDARY_LAYERS` (``grids.geojson`` ...),
    coordinates rounded to 7 decimals (about 1 cm) with shared vertices rounded
    identically, so the grids still tile the subdistrict exactly when read back.
    Each file carries the foreign members ``"gridmap_illustrative": true`` and a
    ``"description"`` saying the data is invented, not surveyed. The output is
    byte-for-byte the same for the same seed.

    Parameters
    ----------
    directory : str or path-like
        Folder to write into; created if missing. Existing files are replaced.
    seed : int
        Seed of the generator.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of :data:`BOUNDARY_LAYERS`.

    Examples
    --------
    >>> import tempfile, json
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = write_boundaries(tmp)
    ...     doc = json.loads(paths[2].read_text(encoding="utf-8"))
    >>> [p.name for p in paths][:3]
    ['subdistrict.geojson', 'communities.geojson', 'grids.geojson']
    >>> doc["gridmap_illustrative"], len(doc["features"])
    (True, 36)
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in sample_boundaries(seed=seed).items():
        path = folder / f"{name}.geojson"
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(_geojson_text(name, frame, seed=seed))
        paths.append(path)
    logger.info("wrote %d illustrative boundary layers to %s", len(paths), folder)
    return paths


# ---------------------------------------------------------------------------------------------------------------
# reading boundaries back into metres for reports and tracks
# ---------------------------------------------------------------------------------------------------------------


def _require_layers(boundaries: Mapping[str, gpd.GeoDataFrame] | None, seed: int,
                    needed: Sequence[str]) -> dict[str, gpd.GeoDataFrame]:
    if boundaries is None:
        return sample_boundaries(seed=seed)
    missing = [n for n in needed if n not in boundaries or len(boundaries[n]) == 0]
    if missing:
        raise SchemaError(
            f"boundaries lack the layer(s) {', '.join(missing)}; pass the dict returned by sample_boundaries() "
            "or one with those layers filled"
        )
    for name in needed:
        if boundaries[name].crs is None:
            raise CRSError(f"boundary layer {name!r} has no CRS; declare it, e.g. frame.set_crs('EPSG:4326')")
    return dict(boundaries)


def _metric_crs_of(frame: gpd.GeoDataFrame) -> CRS:
    from gridmap.crs import metric_crs

    return metric_crs(frame)


@dataclass
class _Metric:
    """Boundary geometries in metres, for generating reports."""

    crs: CRS
    region: BaseGeometry
    streets: dict[str, BaseGeometry]
    zones: list[BaseGeometry]
    targets: dict[str, list[tuple[str, BaseGeometry]]]


def _metric_view(layers: Mapping[str, gpd.GeoDataFrame]) -> _Metric:
    crs = _metric_crs_of(layers["subdistrict"])
    region = layers["subdistrict"].to_crs(crs).union_all().buffer(-3.0)
    streets = layers["streets"].to_crs(crs)
    targets = layers["targets"].to_crs(crs)
    by_kind: dict[str, list[tuple[str, BaseGeometry]]] = {}
    for kind, name, geom in zip(targets["kind"], targets["name"], targets.geometry):
        by_kind.setdefault(str(kind), []).append((str(name), geom))
    return _Metric(
        crs=crs, region=region,
        streets={str(n): g for n, g in zip(streets["street_name"], streets.geometry)},
        zones=list(layers["demolition_zones"].to_crs(crs).geometry),
        targets=by_kind,
    )


# ---------------------------------------------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------------------------------------------


def _local_midnights(start: str | pd.Timestamp, days: int) -> np.ndarray:
    """UTC nanoseconds of the local (Asia/Shanghai) midnights of `days` + 40 days from `start`'s date."""
    ts = pd.Timestamp(start)
    ts = ts.tz_localize(DEFAULT_TZ) if ts.tzinfo is None else ts.tz_convert(DEFAULT_TZ)
    midnights = pd.date_range(ts.normalize(), periods=days + 40, freq="D")
    return midnights.as_unit("ns").asi8


def _time_of_day_ns(rng: np.random.Generator, n: int) -> np.ndarray:
    """Daytime hours 07:00-20:00 with a morning and an afternoon peak, in nanoseconds after midnight."""
    morning = rng.random(n) < 0.55
    hours = np.where(morning, rng.normal(9.5, 1.3, n), rng.normal(15.5, 1.6, n))
    hours = np.clip(hours, 7.0, 19.99)
    return (hours * 3600).astype(np.int64) * 10**9


def _weighted_choice(rng: np.random.Generator, weights: Mapping[str, float], n: int) -> np.ndarray:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return np.asarray(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def _fix_lag_ns(rng: np.random.Generator, t: np.ndarray, midnights: np.ndarray) -> np.ndarray:
    """Time from report to rectification: log-normal, median 20 h, 1 h to 14 days; night work moves to 07:00-13:00."""
    t = np.asarray(t, dtype=np.int64)
    hours = np.clip(rng.lognormal(math.log(20.0), 0.9, len(t)), 1.0, 24.0 * 14)
    done = t + (hours * 3600).astype(np.int64) * 10**9
    day = np.clip(np.searchsorted(midnights, done, side="right") - 1, 0, len(midnights) - 2)
    tod = done - midnights[day]
    morning = midnights[day] + 7 * _HOUR_NS + (rng.uniform(0.0, 6.0, len(t)) * 3600).astype(np.int64) * 10**9
    done = np.where(tod < 7 * _HOUR_NS, morning, done)
    done = np.where(tod >= 20 * _HOUR_NS, morning + (midnights[day + 1] - midnights[day]), done)
    return done - t


def _recurring_sites(geo: _Metric) -> list[tuple[str, np.ndarray, str]]:
    """(place name, metric xy, category) of up to 20 places where problems come back."""
    category = {"garbage_point": "garbage_dumping", "sewage_point": "sewage_splashing",
                "vacant_lot": "vacant_lot_garbage"}
    sites = []
    for kind, count in _RECURRING_SITES.items():
        for name, geom in geo.targets.get(kind, [])[:count]:
            xy = np.asarray(shapely.point_on_surface(geom).coords[0])
            sites.append((name, xy, category[kind]))
    return sites


def _chain(rng: np.random.Generator, midnights: np.ndarray, days: int) -> list[tuple[int, int]]:
    """(reported_at, rectification lag) of one recurring site: each report 3-30 days after the last fix."""
    end = midnights[days]
    t = int(midnights[rng.integers(0, min(days, 60))] + _time_of_day_ns(rng, 1)[0])
    out = []
    while t < end:
        lag = int(_fix_lag_ns(rng, np.array([t]), midnights)[0])
        out.append((t, lag))
        day = int(np.searchsorted(midnights, t + lag, side="right")) - 1 + int(rng.integers(4, 30))
        if day >= len(midnights):
            break
        t = int(midnights[day] + _time_of_day_ns(rng, 1)[0])
    return out


def _recurring_reports(rng: np.random.Generator, geo: _Metric, midnights: np.ndarray, days: int,
                       budget: int) -> pd.DataFrame:
    sites = _recurring_sites(geo)
    chains = [_chain(rng, midnights, days) for _ in sites]
    taken = [0] * len(chains)
    total = 0
    while total < budget and any(t < len(c) for t, c in zip(taken, chains)):
        for i, c in enumerate(chains):
            if taken[i] < len(c) and total < budget:
                taken[i] += 1
                total += 1
    rows = []
    for (name, xy, cat), chain, k in zip(sites, chains, taken):
        for t, lag in chain[:k]:
            r, a = 20.0 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            rows.append({"x": xy[0] + r * math.cos(a), "y": xy[1] + r * math.sin(a), "t": t, "lag": lag,
                         "category": cat, "place": name, "recurring": True})
    return pd.DataFrame(rows, columns=["x", "y", "t", "lag", "category", "place", "recurring"])


def _anchored_points(rng: np.random.Generator, geo: _Metric, categories: np.ndarray) -> np.ndarray:
    """Locations by category: scrapped vehicles on 北大街, road occupation at 二里半, sewage at sewage points..."""
    n = len(categories)
    streets = list(geo.streets.values())
    pts = np.where((rng.random(n) < 0.5)[:, None], _near_streets(rng, streets, n, spread=12.0),
                   _uniform_points(rng, geo.region, n))
    themed = {
        "scrapped_vehicle": ([geo.streets.get(_NORTH_STREET)], 0.7, 10.0),
        "road_occupying_business": ([geo.streets.get(_ERLIBAN_STREET)], 0.6, 10.0),
        "sewage_discharge_point": ([g for _, g in geo.targets.get("sewage_point", [])], 0.6, 20.0),
        "sewage_splashing": ([g for _, g in geo.targets.get("sewage_point", [])], 0.3, 30.0),
        "vacant_lot_garbage": ([g for _, g in geo.targets.get("vacant_lot", [])], 0.7, 20.0),
        "garbage_dumping": ([g for _, g in geo.targets.get("garbage_point", [])], 0.4, 25.0),
    }
    for cat, (anchors, share, spread) in themed.items():
        anchors = [a for a in anchors if a is not None and not a.is_empty]
        mask = (categories == cat) & (rng.random(n) < share)
        if anchors and mask.any():
            pts[mask] = _near_anchors(rng, anchors, int(mask.sum()), spread=spread)
    return pts


def _near_anchors(rng: np.random.Generator, anchors: Sequence[BaseGeometry], n: int, *, spread: float) -> np.ndarray:
    """Points near anchors: along lines, or around a point on the surface of points and polygons."""
    idx = rng.integers(0, len(anchors), n)
    base = []
    for i in idx:
        geom = anchors[i]
        if geom.geom_type in ("LineString", "MultiLineString"):
            base.append(geom.interpolate(rng.uniform(0.0, geom.length)))
        else:
            base.append(shapely.point_on_surface(geom))
    return shapely.get_coordinates(base) + rng.normal(0.0, spread, (n, 2))


def _background_reports(rng: np.random.Generator, geo: _Metric, midnights: np.ndarray, days: int,
                        n: int) -> pd.DataFrame:
    n_hot = int(round(0.2 * n)) if geo.zones else 0
    hot_cats = _weighted_choice(rng, _HOTSPOT_WEIGHTS, n_hot)
    zone_idx = rng.integers(0, max(len(geo.zones), 1), n_hot)
    hot_xy = shapely.get_coordinates([shapely.centroid(geo.zones[i]) for i in zone_idx]).reshape(-1, 2)
    hot_xy = hot_xy + rng.normal(0.0, 45.0, (n_hot, 2))
    cats = _weighted_choice(rng, _CATEGORY_WEIGHTS, n - n_hot)
    xy = np.vstack([hot_xy, _anchored_points(rng, geo, cats)])
    outside = ~shapely.contains_xy(geo.region, xy[:, 0], xy[:, 1])
    xy[outside] = _uniform_points(rng, geo.region, int(outside.sum()))
    t = midnights[rng.integers(0, days, n)] + _time_of_day_ns(rng, n)
    return pd.DataFrame({
        "x": xy[:, 0], "y": xy[:, 1], "t": t, "lag": _fix_lag_ns(rng, t, midnights),
        "category": np.concatenate([hot_cats, cats]), "place": _nearest_street(geo, xy), "recurring": False,
    })


def _nearest_street(geo: _Metric, xy: np.ndarray) -> np.ndarray:
    names = np.asarray(list(geo.streets), dtype=object)
    if len(names) == 0 or len(xy) == 0:
        return np.full(len(xy), "街巷", dtype=object)
    tree = shapely.STRtree(list(geo.streets.values()))
    idx = tree.query_nearest(shapely.points(xy), all_matches=False)[1]
    return names[idx]


def _descriptions(rng: np.random.Generator, categories: np.ndarray, places: np.ndarray) -> list[str]:
    out = []
    for cat, place in zip(categories, places):
        templates = _DESCRIPTIONS.get(str(cat), ("{place}发现环境卫生问题",))
        out.append(templates[int(rng.integers(0, len(templates)))].format(place=place))
    return out


def _rectification_plan(rng: np.random.Generator, raw: pd.DataFrame, end_ns: int) -> pd.DataFrame:
    """Status and rectification times of each report (ns; -1 when none)."""
    n = len(raw)
    t = raw["t"].to_numpy(np.int64)
    rect = t + raw["lag"].to_numpy(np.int64)
    rectified = rect <= end_ns
    reopened = rectified & ~raw["recurring"].to_numpy(bool) & (rng.random(n) < 0.03)
    ver = rect + (rng.uniform(2.0, 72.0, n) * 3600).astype(np.int64) * 10**9
    verified = rectified & ~reopened & (rng.random(n) < 0.6) & (ver <= end_ns)
    status = np.select([reopened, verified, rectified], ["reopened", "verified", "rectified"], default="reported")
    return pd.DataFrame({"rect": np.where(rectified, rect, -1), "verified": np.where(verified, ver, -1),
                         "status": status}, index=raw.index)


def _aware(ns: np.ndarray) -> pd.DatetimeIndex:
    """UTC nanoseconds (-1 for missing) as Asia/Shanghai times."""
    values = pd.to_datetime(np.where(ns < 0, np.iinfo(np.int64).min, ns), unit="ns", utc=True)
    return values.tz_convert(DEFAULT_TZ)


def _rectification_amounts(rng: np.random.Generator, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tonnes of garbage removed and truck trips used per rectification."""
    n = len(categories)
    garbage = np.isin(categories, list(_GARBAGE_CATEGORIES))
    vehicles = categories == "scrapped_vehicle"
    tonnes = np.where(garbage, np.clip(np.round(rng.lognormal(math.log(0.5), 0.8, n), 1), 0.1, None), 0.0)
    tonnes = np.where(vehicles, 0.3, tonnes)
    trips = np.where(garbage, np.ceil(tonnes / 2.0), np.where(vehicles, 1, 0)).astype(np.int64)
    return tonnes, trips


def sample_reports(
    boundaries: Mapping[str, gpd.GeoDataFrame] | None = None,
    *,
    seed: int = 0,
    start: str | pd.Timestamp = "2025-01-01",
    days: int = 365,
    n_reports: int = 2000,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Make a period of illustrative problem reports and their rectifications.

    About a quarter of the reports come from up to 20 recurring sites (mostly
    garbage points): after each rectification the problem is reported again
    within 20 m, 3 to 30 days later. A fifth cluster around the demolition zones
    beside the old wall; scrapped vehicles gather on 北大街 and road-occupying
    business at 二里半路; the rest lie beside streets or anywhere in the
    subdistrict. Reports come in daytime (07:00-20:00 China Standard Time).

    Parameters
    ----------
    boundaries : dict of str to geopandas.GeoDataFrame, optional
        Layers as returned by :func:`sample_boundaries` (needs ``subdistrict``,
        ``grids``, ``streets``, ``targets`` and ``demolition_zones``); made with
        `seed` when omitted.
    seed : int
        Seed of the generator; the same arguments give identical frames.
    start : str or pandas.Timestamp
        First day (a time without zone is taken as Asia/Shanghai).
    days : int
        Length of the period in days; nothing is reported or fixed after it.
    n_reports : int
        Number of reports, exactly.

    Returns
    -------
    reports : geopandas.GeoDataFrame
        Columns of the ``reports`` layer, points in EPSG:4326, sorted by
        ``reported_at`` (aware, Asia/Shanghai); ``report_id`` ``R000001``...;
        ``status`` reported, rectified, verified or reopened; ``grid_code`` of
        the grid holding the point.
    rectifications : pandas.DataFrame
        Columns of the ``rectifications`` layer: one row per report whose status
        is not ``reported``, ``rectified_at`` after ``reported_at``,
        ``verified_at`` only for verified reports.

    Raises
    ------
    SchemaError
        When a needed boundary layer is missing or an argument is out of range.
    CRSError
        When a boundary layer has no CRS.

    Examples
    --------
    >>> reports, fixes = sample_reports(n_reports=60, days=90)
    >>> len(reports), reports["reported_at"].dt.tz.key
    (60, 'Asia/Shanghai')
    >>> bool((reports.set_index("report_id").loc[fixes["report_id"], "reported_at"].to_numpy()
    ...       < fixes["rectified_at"].to_numpy()).all())
    True
    """
    if days < 1 or n_reports < 0:
        raise SchemaError(f"days must be at least 1 and n_reports at least 0, got days={days}, n_reports={n_reports}")
    layers = _require_layers(boundaries, seed, ("subdistrict", "grids", "streets", "targets", "demolition_zones"))
    rng = _rng(seed, "reports")
    geo = _metric_view(layers)
    midnights = _local_midnights(start, days)
    chains = _recurring_reports(rng, geo, midnights, days, budget=n_reports // 4)
    raw = pd.concat([chains, _background_reports(rng, geo, midnights, days, n_reports - len(chains))],
                    ignore_index=True)
    raw = raw.sort_values(["t", "x"], kind="stable", ignore_index=True)
    plan = _rectification_plan(rng, raw, int(midnights[days]))
    points = shapely.points(_lonlat_function(geo.crs, exact=False)(raw[["x", "y"]].to_numpy(float)))
    grids = layers["grids"].to_crs(STORAGE_CRS)
    codes = _assign_grid(points, list(grids.geometry), [str(c) for c in grids["grid_code"]])
    cadre_of = dict(zip(grids["grid_code"], grids["cadre"])) if "cadre" in grids else {}
    return (_reports_frame(rng, raw, plan, points, codes),
            _rectifications_frame(rng, raw, plan, [cadre_of.get(c) for c in codes]))


def _report_ids(n: int) -> np.ndarray:
    return np.asarray([f"R{i + 1:06d}" for i in range(n)], dtype=object)


def _reports_frame(rng: np.random.Generator, raw: pd.DataFrame, plan: pd.DataFrame, points: np.ndarray,
                   codes: list[str | None]) -> gpd.GeoDataFrame:
    cats = raw["category"].to_numpy(object)
    frame = pd.DataFrame({
        "report_id": _report_ids(len(raw)),
        "reported_at": _aware(raw["t"].to_numpy(np.int64)),
        "category": cats,
        "description": _descriptions(rng, cats, raw["place"].to_numpy(object)),
        "source": _weighted_choice(rng, _SOURCES, len(raw)),
        "status": plan["status"].to_numpy(object),
        "grid_code": codes,
        "photo": pd.Series([None] * len(raw), dtype="str"),
    })
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, crs=STORAGE_CRS))


def _rectifications_frame(rng: np.random.Generator, raw: pd.DataFrame, plan: pd.DataFrame,
                          cadres: list[Any]) -> pd.DataFrame:
    """One rectification per report that was fixed, by the cadre of the report's grid."""
    done = plan["rect"].to_numpy(np.int64) >= 0
    tonnes, trips = _rectification_amounts(rng, raw["category"].to_numpy(object))
    by = [str(c) if isinstance(c, str) and c.strip() else "网格员" for c, d in zip(cadres, done) if d]
    return pd.DataFrame({
        "report_id": _report_ids(len(raw))[done],
        "rectified_at": _aware(plan["rect"].to_numpy(np.int64)[done]),
        "verified_at": _aware(plan["verified"].to_numpy(np.int64)[done]),
        "by": pd.Series(by, dtype="str"),
        "tonnes": tonnes[done],
        "truck_trips": trips[done],
    })


def sample_spotchecks(reports: pd.DataFrame, rectifications: pd.DataFrame) -> pd.DataFrame:
    """Spot checks (抽查) consistent with the sample reports' statuses.

    Every ``reopened`` report gets a failed check one day after its latest
    rectification (so a workspace filled with the sample keeps it reopened),
    and every fifth ``verified`` report (by the CRC-32 of its id) a passed check
    at its ``verified_at``. The checker is the supervision group (督查组).

    Examples
    --------
    >>> reports, fixes = sample_reports(n_reports=400, days=120)
    >>> checks = sample_spotchecks(reports, fixes)
    >>> status = reports.set_index("report_id").loc[checks["report_id"], "status"]
    >>> bool((status.to_numpy() == checks["result"].to_numpy()).all())
    True
    """
    columns = _own_columns("spotchecks")
    status = dict(zip(reports["report_id"], reports["status"]))
    latest = rectifications.sort_values("rectified_at").groupby("report_id", sort=True).last()
    rows = []
    for report_id, fix in latest.iterrows():
        state = status.get(report_id)
        if state == "reopened":
            rows.append((report_id, fix["rectified_at"] + pd.Timedelta(days=1), "reopened"))
        elif state == "verified" and pd.notna(fix["verified_at"]) and zlib.crc32(str(report_id).encode()) % 5 == 0:
            rows.append((report_id, fix["verified_at"], "verified"))
    frame = pd.DataFrame(rows, columns=columns[:3])
    frame["checked_at"] = pd.to_datetime(frame["checked_at"]).astype(f"datetime64[ms, {DEFAULT_TZ}]")
    frame["checker"] = pd.Series(["督查组"] * len(frame), dtype="str")
    frame["note"] = pd.Series([None] * len(frame), dtype="str")
    return frame[columns]


# ---------------------------------------------------------------------------------------------------------------
# tracks
# ---------------------------------------------------------------------------------------------------------------


def _lawnmower(area: BaseGeometry, *, angle: float, spacing: float) -> np.ndarray:
    """Vertices of a back-and-forth sweep of `area` along lines `spacing` apart at `angle` (radians)."""
    c = area.centroid
    rot = shapely.affinity.rotate(area, -angle, origin=c, use_radians=True)
    minx, miny, maxx, maxy = rot.bounds
    ys = np.arange(miny + spacing / 2, maxy, spacing)
    lines = shapely.linestrings([[[minx - 1, y], [maxx + 1, y]] for y in ys])
    rows = []
    for k, cut in enumerate(shapely.intersection(lines, rot)):
        segs = [np.asarray(g.coords) for g in shapely.get_parts(cut) if g.geom_type == "LineString"]
        if not segs:
            continue
        pts = np.vstack([s[np.argsort(s[:, 0])] for s in sorted(segs, key=lambda s: s[:, 0].min())])
        rows.append(pts[::-1] if k % 2 else pts)
    if not rows:
        return np.asarray([[c.x, c.y], [c.x + 1.0, c.y]])
    route = shapely.affinity.rotate(LineString(np.vstack(rows)), angle, origin=c, use_radians=True)
    return np.asarray(route.coords)


def _dead_corner(grid: BaseGeometry, targets: np.ndarray) -> np.ndarray:
    """The grid vertex the sweep leaves out: the one nearest a target point (when within 70 m), else the farthest."""
    corners = shapely.get_coordinates(grid)
    if len(targets):
        dist = np.linalg.norm(corners[:, None, :] - targets[None, :, :], axis=2)
        k, _ = np.unravel_index(np.argmin(dist), dist.shape)
        if dist.min() <= 70.0:
            return corners[k]
    center = np.asarray(grid.centroid.coords[0])
    return corners[int(np.argmax(np.linalg.norm(corners - center, axis=1)))]


def _walkable(grid: BaseGeometry, *, corner: np.ndarray | None) -> BaseGeometry:
    """The part of a grid the route sweeps: 10 m inside, minus a disk around the dead corner if any."""
    area = grid.buffer(-10.0)
    if corner is not None:
        area = area.difference(Point(corner).buffer(_DEAD_CORNER_M))
    return area if not area.is_empty else grid


@dataclass(frozen=True)
class _Route:
    x: np.ndarray
    y: np.ndarray
    s: np.ndarray  # cumulative length

    @classmethod
    def of(cls, coords: np.ndarray) -> "_Route":
        steps = np.linalg.norm(np.diff(coords, axis=0), axis=1)
        keep = np.concatenate([[True], steps > 1e-6])
        coords = coords[keep]
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(coords, axis=0), axis=1))])
        return cls(coords[:, 0], coords[:, 1], s)

    def at(self, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions after walking `dist` metres, turning back at either end (ping-pong)."""
        length = float(self.s[-1]) or 1.0
        d = np.mod(dist, 2 * length)
        d = np.where(d > length, 2 * length - d, d)
        return np.interp(d, self.s, self.x), np.interp(d, self.s, self.y)


def _fix_counts(total: int, n_inspectors: int, days: int) -> np.ndarray:
    """Fixes per (inspector, day) adding up to `total` exactly, shape (n_inspectors, days)."""
    r = n_inspectors * days
    edges = (np.arange(r + 1) * total) // r
    return np.diff(edges).reshape(n_inspectors, days)


def _session_plan(counts: np.ndarray) -> np.ndarray:
    """Fixes per session: a morning and an afternoon patrol per (inspector, day); shape (n, days, 2)."""
    morning = counts // 2
    return np.stack([morning, counts - morning], axis=-1)


@dataclass(frozen=True)
class _TrackOptions:
    interval_s: float
    total: int
    days: int
    n_inspectors: int


def _track_options(*, days: int, n_inspectors: int, fixes_per_minute: float, n_fixes: int | None) -> _TrackOptions:
    if days < 1 or n_inspectors < 1 or not fixes_per_minute > 0 or (n_fixes is not None and n_fixes < 0):
        raise SchemaError(
            "days and n_inspectors must be at least 1, fixes_per_minute above 0 and n_fixes not negative; got "
            f"days={days}, n_inspectors={n_inspectors}, fixes_per_minute={fixes_per_minute}, n_fixes={n_fixes}"
        )
    interval = 60.0 / fixes_per_minute
    total = int(n_fixes) if n_fixes is not None else int(round(60 * fixes_per_minute)) * n_inspectors * days
    per_session = max(int(_SESSION_MAX_S / (interval + _GAP_P * sum(_GAP_S) / 2)), 1)
    need = math.ceil(total / (n_inspectors * 2 * per_session))
    if need > days:
        logger.info("%d fixes do not fit %d days of working hours; spreading them over %d days", total, days, need)
    return _TrackOptions(interval, total, max(days, need), n_inspectors)


def _elapsed_s(rng: np.random.Generator, sessions: np.ndarray, interval: float) -> np.ndarray:
    """Seconds since the start of its session for every fix: ~interval steps, a few longer gaps."""
    n = int(sessions.sum())
    steps = interval * rng.uniform(0.9, 1.1, n)
    steps += np.where(rng.random(n) < _GAP_P, rng.uniform(*_GAP_S, n), 0.0)
    first = np.cumsum(sessions) - sessions
    firsts = first[sessions > 0]
    steps[firsts] = 0.0
    total = np.cumsum(steps)
    return total - np.repeat(total[firsts], sessions[sessions > 0])


def _target_points(layers: Mapping[str, gpd.GeoDataFrame], crs: CRS) -> np.ndarray:
    """Metric coordinates of the point targets (empty when there are no targets)."""
    targets = layers.get("targets")
    if targets is None or len(targets) == 0 or targets.crs is None:
        return np.empty((0, 2))
    geoms = targets.to_crs(crs).geometry
    return shapely.get_coordinates(geoms[geoms.geom_type == "Point"].values).reshape(-1, 2)


def _track_routes(grids: Sequence[BaseGeometry], dead: np.ndarray, targets: np.ndarray,
                  rng: np.random.Generator) -> list[list[_Route]]:
    """Two sweeps per grid (along and across a random direction), avoiding the dead corner."""
    out = []
    for grid, is_dead in zip(grids, dead):
        inside = targets[shapely.contains_xy(grid, targets[:, 0], targets[:, 1])] if len(targets) else targets
        area = _walkable(grid, corner=_dead_corner(grid, inside) if is_dead else None)
        angle = rng.uniform(0.0, math.pi)
        out.append([_Route.of(_lawnmower(area, angle=a, spacing=_SWEEP_SPACING_M))
                    for a in (angle, angle + math.pi / 2)])
    return out


def _inspector_names(rng: np.random.Generator, grids: gpd.GeoDataFrame, n: int) -> list[str]:
    cadres = [str(c) for c in grids["cadre"]] if "cadre" in grids else []
    own = [c if c and c != "nan" else f"巡查员{i + 1}" for i, c in enumerate(cadres[: min(n, len(grids))])]
    return own + _person_names(rng, n - len(own), exclude=own)


def sample_tracks(
    boundaries: Mapping[str, gpd.GeoDataFrame] | None = None,
    *,
    seed: int = 0,
    start: str | pd.Timestamp = "2025-03-03",
    days: int = 7,
    n_inspectors: int = 36,
    fixes_per_minute: float = 6.0,
    n_fixes: int | None = None,
) -> gpd.GeoDataFrame:
    """Make illustrative GPS fixes of inspectors sweeping their grids.

    Inspector *i* walks grid *i* (modulo the number of grids; the first ones
    are the grids' cadres) along a back-and-forth (lawnmower) route 50 m apart,
    alternating between two directions day by day, at 1.0-1.4 m/s, in a morning
    patrol from about 08:30 and an afternoon patrol from about 14:30. A fix is
    taken about every ``60 / fixes_per_minute`` seconds with Gaussian noise of
    5 m RMS, a few gaps of 1-10 minutes and a few jumps of 100-400 m (outliers).
    About a third of the grids have a corner the route never enters (a dead
    corner, 100 m around the grid vertex farthest from its centre), so most
    but not all targets are passed.

    Parameters
    ----------
    boundaries : dict of str to geopandas.GeoDataFrame, optional
        Layers with ``grids`` (and ``subdistrict``); made with `seed` when omitted.
    seed : int
        Seed of the generator.
    start : str or pandas.Timestamp
        First day (Asia/Shanghai when the time has no zone).
    days : int
        Days of patrols. When `n_fixes` does not fit the working hours of
        `days` days, more days are added.
    n_inspectors : int
        Number of inspectors.
    fixes_per_minute : float
        GPS fix rate.
    n_fixes : int, optional
        Total number of fixes, exactly. Defaults to one hour of patrol per
        inspector and day. The generator is vectorised: a million fixes take
        a few seconds.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``inspector``, ``time`` (aware, Asia/Shanghai, milliseconds) and
        ``track_id`` (inspector number, date and patrol: ``T01-20250303-1``),
        points in EPSG:4326, sorted by inspector and time.

    Raises
    ------
    SchemaError
        When the grids are missing or an argument is out of range.
    CRSError
        When the grids have no CRS.

    Examples
    --------
    >>> tracks = sample_tracks(n_fixes=500, days=2)
    >>> len(tracks), tracks["inspector"].nunique()
    (500, 36)
    >>> tracks.groupby("inspector")["time"].is_monotonic_increasing.all()
    np.True_
    """
    opts = _track_options(days=days, n_inspectors=n_inspectors, fixes_per_minute=fixes_per_minute, n_fixes=n_fixes)
    layers = _require_layers(boundaries, seed, ("grids",))
    rng = _rng(seed, "tracks")
    grids = layers["grids"]
    crs = _metric_crs_of(grids)
    metric = list(grids.to_crs(crs).geometry)
    dead = rng.random(len(metric)) < _DEAD_CORNER_SHARE
    routes = _track_routes(metric, dead, _target_points(layers, crs), rng)
    sessions = _session_plan(_fix_counts(opts.total, opts.n_inspectors, opts.days))
    x, y, t = _walk(rng, routes, sessions, opts, _local_midnights(start, opts.days))
    return _tracks_frame(rng, grids, sessions, x, y, t, crs, start)


def _walk(rng: np.random.Generator, routes: list[list[_Route]], sessions: np.ndarray, opts: _TrackOptions,
          midnights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (metres) and times (UTC ns) of every fix, inspector-major, then day, then session."""
    flat = sessions.reshape(-1)
    n_insp, n_days = sessions.shape[:2]
    elapsed = _elapsed_s(rng, flat, opts.interval_s)
    starts = (midnights[:n_days][None, :, None] + np.asarray(_SESSION_STARTS_S, dtype=np.int64)[None, None, :] * 10**9
              + rng.integers(0, 40 * 60, (n_insp, n_days, 2)) * 10**9).reshape(-1)
    session_of_fix = np.repeat(np.arange(len(flat)), flat)
    t = starts[session_of_fix] + np.round(elapsed * 1000).astype(np.int64) * 10**6
    speed = rng.uniform(1.0, 1.4, int(n_insp))
    ends = np.zeros(len(flat))
    last = np.cumsum(flat) - 1
    ends[flat > 0] = elapsed[last[flat > 0]]
    offset = rng.uniform(0.0, 5000.0, (n_insp, n_days, 2))
    offset[:, :, 1] = offset[:, :, 0] + ends.reshape(n_insp, n_days, 2)[:, :, 0] * speed[:, None]
    dist = offset.reshape(-1)[session_of_fix] + elapsed * np.repeat(speed, n_days * 2)[session_of_fix]
    x, y = np.empty(len(t)), np.empty(len(t))
    route_of_fix = session_of_fix // 2  # (inspector, day), sorted
    bounds = np.searchsorted(route_of_fix, np.arange(n_insp * n_days + 1))
    for r in np.flatnonzero(np.diff(bounds)):
        insp, day = divmod(int(r), n_days)
        part = slice(bounds[r], bounds[r + 1])
        x[part], y[part] = routes[insp % len(routes)][day % 2].at(dist[part])
    return x, y, t


def _tracks_frame(rng: np.random.Generator, grids: gpd.GeoDataFrame, sessions: np.ndarray, x: np.ndarray,
                  y: np.ndarray, t: np.ndarray, crs: CRS, start: str | pd.Timestamp) -> gpd.GeoDataFrame:
    n = len(t)
    x = x + rng.normal(0.0, _GPS_SIGMA_M, n)
    y = y + rng.normal(0.0, _GPS_SIGMA_M, n)
    jump = rng.random(n) < _OUTLIER_P
    dist, ang = rng.uniform(*_OUTLIER_M, n), rng.uniform(0.0, 2 * math.pi, n)
    x, y = np.where(jump, x + dist * np.cos(ang), x), np.where(jump, y + dist * np.sin(ang), y)
    lonlat = _lonlat_function(crs, exact=False)(np.column_stack([x, y]))
    n_insp, n_days = sessions.shape[:2]
    names = np.asarray(_inspector_names(rng, grids, n_insp), dtype=object)
    first_day = pd.Timestamp(_local_midnights(start, 1)[0], tz="UTC").tz_convert(DEFAULT_TZ)
    dates = [(first_day + pd.Timedelta(days=d)).strftime("%Y%m%d") for d in range(n_days)]
    ids = np.asarray([f"T{i + 1:02d}-{d}-{p}" for i in range(n_insp) for d in dates for p in (1, 2)], dtype=object)
    session_of_fix = np.repeat(np.arange(sessions.size), sessions.reshape(-1))
    frame = pd.DataFrame({
        "inspector": names[session_of_fix // (2 * n_days)],
        "time": _aware(t),
        "track_id": ids[session_of_fix],
    })
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(shapely.points(lonlat), crs=STORAGE_CRS))


# ---------------------------------------------------------------------------------------------------------------
# everything
# ---------------------------------------------------------------------------------------------------------------


def sample_layers(*, seed: int = 0, n_reports: int = 2000,
                  track_days: int = 7) -> dict[str, gpd.GeoDataFrame | pd.DataFrame]:
    """Make every layer of the model with illustrative data: what ``gridmap init --sample`` stores.

    Parameters
    ----------
    seed : int
        Seed of the generator.
    n_reports : int
        Number of reports over the year 2025.
    track_days : int
        Days of inspectors' GPS tracks from 2025-03-03 (one hour of fixes a
        day per inspector, 36 inspectors).

    Returns
    -------
    dict of str to geopandas.GeoDataFrame or pandas.DataFrame
        One frame per layer of :data:`gridmap.model.LAYERS`, in that order;
        ``rectifications`` is a plain DataFrame.

    Examples
    --------
    >>> from gridmap.model import LAYERS
    >>> layers = sample_layers(n_reports=50, track_days=1)
    >>> list(layers) == list(LAYERS)
    True
    >>> len(layers["reports"]), len(layers["tracks"])
    (50, 12960)
    """
    boundaries = sample_boundaries(seed=seed)
    reports, rectifications = sample_reports(boundaries, seed=seed, n_reports=n_reports)
    tracks = sample_tracks(boundaries, seed=seed, days=track_days)
    layers: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {
        **boundaries, "reports": reports, "rectifications": rectifications, "tracks": tracks,
        "spotchecks": sample_spotchecks(reports, rectifications),
    }
    return {name: layers[name] for name in LAYERS}
