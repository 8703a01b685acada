"""The illustrative boundaries (not surveyed): subdistrict, communities, grids, areas, streets, the old wall,
demolition zones and targets, built in metres and converted exactly to WGS84.

Part of :mod:`gridmap.sample`; its docstring says how the boundaries are built.

Examples
--------
>>> b = sample_boundaries()
>>> len(b["grids"]), b["grids"].crs.to_epsg()
(36, 4326)
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from gridmap.errors import CRSError, SchemaError
from gridmap.model import DISTRICT_CODE, STORAGE_CRS
from gridmap.sample.common import (
    _assign_grid,
    _center_metric,
    _check_seed,
    _multi_line,
    _multi_polygon,
    _own_columns,
    _person_names,
    _rng,
    _to_lonlat,
    _uniform_points,
)

#: Boundary layers made by :func:`sample_boundaries`, in the order they are written.
BOUNDARY_LAYERS: tuple[str, ...] = (
    "subdistrict", "communities", "grids", "areas", "streets", "wall", "demolition_zones", "targets",
)
_SUBDISTRICT_CODE = DISTRICT_CODE + "001"
_SUBDISTRICT_NAME = "鼓楼街道"
_HALF_WIDTH_M, _HALF_HEIGHT_M = 1200.0, 1450.0
_SNAP_M = 0.1  # snap-rounding grid of the noded boundary lines
# Communities from north-west to south-east (2 columns x 3 rows); areas pair each row.
_COMMUNITY_NAMES = ("北门社区", "文庙社区", "西城社区", "东城社区", "钟楼社区", "南门社区")
_AREA_NAMES = ("北片区", "中片区", "南片区")
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
_WALL_NAME = "榆林古城墙 (示意)"


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


def _require_layers(boundaries: Mapping[str, gpd.GeoDataFrame] | None, seed: int,
                    needed: Sequence[str]) -> dict[str, gpd.GeoDataFrame]:
    """The boundaries reports and tracks are made in: those given (checked to have the `needed` layers,
    filled and with a CRS), or the sample's own for `seed`."""
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
