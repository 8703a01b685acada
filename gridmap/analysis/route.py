"""A route that clears the dead corners: one open walk along the streets through every stop of a grid.

A cadre with nine dead corners wants one walk that clears them all. :func:`route_stops` takes the stops of one
grid from a sweep-coverage result (every dead corner's walk-to point and every must-visit place not visited);
:func:`clear_route` orders them into one walk along the ``streets`` layer:

1. :func:`build_street_graph`: the streets cut at their crossings (``shapely.node``) into a networkx graph in the
   metric CRS of :func:`gridmap.crs.metric_crs`, edge weight = length; pieces that touch nothing else are joined
   by a straight edge where an end lies within ``join_tolerance_m`` of the other piece, and the joins counted;
2. every stop, and the start, is snapped to its nearest point on a street (the street is split there); the
   straight stretch from the street to the stop is its *off-street leg*, walked there and back (the last one
   only there);
3. shortest paths between every two of the start and the stops (Dijkstra 1959, one run from each, networkx);
4. the visiting order of the open path from the start (it does not return): exact up to 10 stops (Held-Karp
   dynamic programming), else nearest neighbour, then 2-opt and or-opt moves until none shortens it, restarted
   from a few other first stops (:mod:`gridmap.analysis._route_order` cites them).

Stops the walk cannot reach (no position, or on a piece of streets not connected to the start's after the joins)
are listed in :attr:`RouteResult.unreachable` with the reason, never dropped silently.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import LineString, Point
>>> streets = gpd.GeoDataFrame({"street_name": ["a", "b"]}, geometry=[LineString([(0, 0), (300, 0)]),
...                            LineString([(150, -100), (150, 100)])], crs="EPSG:4546")
>>> stops = gpd.GeoDataFrame({"stop_id": ["x", "y", "z"], "kind": "dead_corner"},
...                          geometry=[Point(300, 10), Point(150, 100), Point(100, 0)], crs="EPSG:4546")
>>> r = clear_route(streets, stops, crs=streets.crs)  # the CRS of these made-up coordinates
>>> r.stops["stop_id"].tolist(), round(r.length_m, 6), r.joins, len(r.unreachable)
(['z', 'y', 'x'], 510.0, 0, 0)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
from shapely.geometry import LineString, Point

from gridmap.analysis._route_graph import Snapped, build_street_graph, snap_points
from gridmap.analysis._route_order import (
    EXACT_STOPS,
    best_order,
    distance_matrix,
    held_karp,
    nearest_neighbour,
    path_length,
)
from gridmap.analysis._route_walk import node_path, stops_frame, unreachable_frame, walk_coords, walk_line
from gridmap.crs import require_crs, transformer
from gridmap.errors import SchemaError
from gridmap.export.checklist import write_checklist
from gridmap.export.gpx import write_route_gpx
from gridmap.model import STORAGE_CRS

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.analysis.coverage import CoverageResult

__all__ = ["RouteResult", "build_street_graph", "clear_route", "grid_start", "route_stops"]

logger = logging.getLogger(__name__)

#: The reasons a stop is left out of the walk.
REASONS = {
    "no_position": "no position (empty geometry)",
    "not_connected": "on streets not connected to the start's (another piece of the network, farther than the "
                     "join tolerance from it: raise --join-tolerance or complete the streets layer)",
}


@dataclass
class RouteResult:
    """What :func:`clear_route` found.

    Attributes
    ----------
    stops : geopandas.GeoDataFrame
        EPSG:4326 points, the stops in walking order: ``order`` (1, 2, ...), ``stop_id``, ``kind``, ``lon``,
        ``lat`` (WGS84), ``lon_gcj02``, ``lat_gcj02`` (GCJ-02 for Amap/WeChat), ``leg_m`` (metres from the
        previous stop, or from the start: back to the street from the previous stop, along the streets, and out
        to this stop), ``cumulative_m``, ``off_street_m`` (the stop's distance from the street) and
        ``amap_url`` (``https://uri.amap.com/marker?position=LON,LAT&name=...``, GCJ-02: a link, never fetched).
    line : shapely.geometry.LineString
        The walk in WGS84: the street geometry along the shortest paths and the straight off-street legs.
    length_m : float
        The walk's length, metres: the sum of ``leg_m`` (and the line's length in the metric CRS).
    joins : int
        Join edges made between street pieces (:func:`build_street_graph`).
    unreachable : geopandas.GeoDataFrame
        EPSG:4326, the stops not on the walk: ``stop_id``, ``kind``, ``lon``, ``lat``, ``lon_gcj02``,
        ``lat_gcj02``, ``off_street_m``, ``reason``.
    streets : geopandas.GeoDataFrame
        EPSG:4326, the street graph's edges (``length_m``, ``join``), for maps.
    stats : dict
        ``stops_in``, ``stops_routed``, ``unreachable``, ``joins``, ``pieces``, ``nodes``, ``edges``,
        ``metric_crs``, ``start`` (``"given"`` or ``"first street node"``), ``start_lon``, ``start_lat``
        (WGS84, on the street), ``start_off_street_m``, ``street_m`` (along the streets), ``off_street_m``
        (off-street legs, there and back), ``nearest_neighbour_m`` (the walk's length in nearest-neighbour
        order, before the 2-opt and or-opt moves).
    """

    stops: gpd.GeoDataFrame
    line: LineString
    length_m: float
    joins: int
    unreachable: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    stats: dict[str, Any] = field(default_factory=dict)

    def to_gpx(self, path: str | PathLike[str], *, name: str = "gridmap route") -> Path:
        """Write the route as GPX 1.1 (:func:`gridmap.export.gpx.write_route_gpx`): a ``rte`` of the stops in
        order and a ``trk`` of the walk, WGS84."""
        return write_route_gpx(self.stops, self.line, path, name=name)

    def to_csv(self, path: str | PathLike[str], *, lang: str = "zh") -> Path:
        """Write the checklist of stops as CSV for Excel (:func:`gridmap.export.checklist.write_checklist`)."""
        return write_checklist(self.stops, path, lang=lang)


# ---------------------------------------------------------------------------------------------------------------
# the stops of a grid
# ---------------------------------------------------------------------------------------------------------------


def _grid_targets(coverage: "CoverageResult", grid_code: str) -> gpd.GeoDataFrame:
    """The grid's must-visit places not visited (visited False, not unknown)."""
    targets = coverage.targets
    if targets is None or not len(targets):
        return targets.iloc[:0] if targets is not None else gpd.GeoDataFrame(geometry=[], crs=STORAGE_CRS)
    targets = targets.to_crs(STORAGE_CRS)
    if "grid_code" in targets.columns:
        mine = targets["grid_code"].astype(str) == grid_code
    else:
        polygon = coverage.grids.loc[coverage.grids["grid_code"].astype(str) == grid_code].geometry.iloc[0]
        mine = targets.geometry.intersects(polygon)
    unvisited = targets["visited"].astype("boolean").eq(False).fillna(False).astype(bool)
    return targets[mine.to_numpy() & unvisited.to_numpy()]


def _target_ids(targets: gpd.GeoDataFrame) -> list[str]:
    for column in ("target_id", "name"):
        if column in targets.columns:
            return [str(v) for v in targets[column]]
    return [str(v) for v in targets.index]


def route_stops(coverage: "CoverageResult", grid_code: str) -> gpd.GeoDataFrame:
    """The stops of one grid for :func:`clear_route`: its dead corners and its must-visit places not visited.

    Parameters
    ----------
    coverage : gridmap.analysis.coverage.CoverageResult
        What :func:`gridmap.sweep_coverage` returned (with its targets, when the places are to be visited).
    grid_code : str
        The grid.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points: ``stop_id`` (the dead corner's ``corner_id``, or the place's ``target_id``),
        ``kind`` (``"dead_corner"`` or the place's kind), ``lon``, ``lat``; dead corners first (largest
        first), then the places in their order. A place that is a polygon is represented by a point inside it.

    Raises
    ------
    SchemaError
        When the grid is not in the result, or when its coverage is unknown (no GPS fix in the period: no
        data, not "nothing to clear").

    Examples
    --------
    >>> from gridmap.sample import sample_boundaries, sample_tracks
    >>> from gridmap.analysis.coverage import sweep_coverage
    >>> b = sample_boundaries()
    >>> cov = sweep_coverage(b["grids"], sample_tracks(b, n_fixes=2000, days=1), targets=b["targets"])
    >>> code = cov.dead_corners["grid_code"].iloc[0]
    >>> stops = route_stops(cov, code)
    >>> bool((stops["kind"] == "dead_corner").sum() == (cov.dead_corners["grid_code"] == code).sum())
    True
    """
    code = str(grid_code)
    grids = coverage.grids
    if not (grids["grid_code"].astype(str) == code).any():
        known = ", ".join(grids["grid_code"].astype(str).head(3))
        raise SchemaError(f"grid {code!r} is not in the coverage result; give one of the grids' codes with --grid "
                          f"(e.g. {known})")
    if not coverage.stats.get("coverage_known", True):
        raise SchemaError(f"coverage of grid {code} is unknown (no data: no GPS fix in the period), so its dead "
                          "corners are unknown too; choose a period with fixes (--since/--until)")
    corners = coverage.dead_corners
    corners = corners[corners["grid_code"].astype(str) == code]
    targets = _grid_targets(coverage, code)
    points = [Point(x, y) for x, y in zip(corners["lon"], corners["lat"])]
    points += list(targets.geometry.representative_point()) if len(targets) else []
    kinds = ["dead_corner"] * len(corners)
    kinds += [str(k) for k in targets["kind"]] if "kind" in targets.columns else ["target"] * len(targets)
    frame = pd.DataFrame({"stop_id": [str(c) for c in corners["corner_id"]] + _target_ids(targets), "kind": kinds})
    series = gpd.GeoSeries(points, crs=STORAGE_CRS)
    return gpd.GeoDataFrame(frame.assign(lon=series.x.to_numpy(), lat=series.y.to_numpy()), geometry=series.values,
                            crs=STORAGE_CRS)


def grid_start(streets: gpd.GeoDataFrame, grid: gpd.GeoDataFrame) -> tuple[float, float] | None:
    """The grid's first street node: where the first street (in the layer's order) that enters the grid first
    does so, WGS84 ``(lon, lat)``; None when no street enters the grid.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, box
    >>> s = gpd.GeoDataFrame(geometry=[LineString([(109.70, 38.29), (109.74, 38.29)])], crs=4326)
    >>> g = gpd.GeoDataFrame({"grid_code": ["G"]}, geometry=[box(109.72, 38.28, 109.73, 38.30)], crs=4326)
    >>> tuple(round(v, 6) for v in grid_start(s, g))
    (109.72, 38.29)
    """
    require_crs(streets, what="streets")
    polygon = grid.to_crs(STORAGE_CRS).geometry.union_all()
    for geom in streets.to_crs(STORAGE_CRS).geometry:
        if geom is None or geom.is_empty or not geom.intersects(polygon):
            continue
        inside = geom.intersection(polygon)
        parts = [p for p in getattr(inside, "geoms", [inside]) if p.geom_type == "LineString" and not p.is_empty]
        if parts:
            x, y = parts[0].coords[0]
            return float(x), float(y)
    return None


# ---------------------------------------------------------------------------------------------------------------
# the route
# ---------------------------------------------------------------------------------------------------------------


def _stop_points(stops: gpd.GeoDataFrame, crs: pyproj.CRS) -> np.ndarray:
    """The stops in the metric CRS as points (a point inside a polygon; None without a position)."""
    geoms = stops.geometry.to_crs(crs)
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):
        out[i] = None if g is None or g.is_empty else (g if g.geom_type == "Point" else g.representative_point())
    return out


def _start_point(streets: gpd.GeoDataFrame, graph: nx.Graph, start: tuple[float, float] | None) -> Point:
    """The given start (WGS84 lon, lat) in the metric CRS, else the first vertex of the first street."""
    crs = graph.graph["crs"]
    if start is not None:
        lon, lat = (float(v) for v in start)
        if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise SchemaError(f"the start {start!r} is not a WGS84 longitude, latitude; give e.g. --from 109.73,38.29")
        x, y = transformer(STORAGE_CRS, crs).transform(lon, lat)
        return Point(x, y)
    for geom in streets.geometry.to_crs(crs):
        if geom is not None and not geom.is_empty:
            first = geom.geoms[0] if geom.geom_type.startswith("Multi") else geom
            return Point(first.coords[0])
    raise SchemaError("the streets layer holds no line")  # pragma: no cover - build_street_graph refuses first


def _column(stops: gpd.GeoDataFrame, name: str, default: list[str]) -> list[str]:
    return [str(v) for v in stops[name]] if name in stops.columns else default


@dataclass
class _Plan:
    """The snapped graph, the terminals (0 = the start), their distances, the order and the off-street legs."""

    graph: nx.Graph
    nodes: list[int]
    matrix: np.ndarray
    preds: list[dict[int, int | None]]
    off: np.ndarray
    order: np.ndarray
    nn_order: np.ndarray


def _walk_length(plan: _Plan, order: np.ndarray) -> float:
    """The walk's length in `order`: along the streets, plus every off-street leg there and back, the last there."""
    if len(order) < 2:
        return 0.0
    off = plan.off[order[1:]]
    return path_length(plan.matrix, order) + 2.0 * float(off.sum()) - float(off[-1])


def _plan(graph: nx.Graph, snapped: Snapped, routed: np.ndarray, exact_up_to: int) -> _Plan:
    """Distances between the start (snap 0) and the routed stops (snaps 1..), and the order."""
    nodes = [int(snapped.nodes[0])] + [int(snapped.nodes[i + 1]) for i in routed]
    matrix, preds = distance_matrix(graph, nodes)
    off = np.concatenate([[0.0], snapped.off_m[routed + 1]])
    nn = nearest_neighbour(matrix, 0, list(range(1, len(nodes))))
    plan = _Plan(graph, nodes, matrix, preds, off, nn, nn)
    plan.order = held_karp(matrix) if len(routed) <= exact_up_to else best_order(matrix, nn)
    return plan


def _walk(plan: _Plan, snapped: Snapped, points: np.ndarray, routed: np.ndarray) -> tuple[list[np.ndarray],
                                                                                          np.ndarray]:
    """The walk's coordinate pieces and each stop's leg, in order."""
    pieces: list[np.ndarray] = []
    legs = np.zeros(len(plan.order) - 1)
    for k, (u, v) in enumerate(zip(plan.order[:-1], plan.order[1:])):
        stop = routed[v - 1]
        street = walk_coords(plan.graph, node_path(plan.preds[u], plan.nodes[u], plan.nodes[v]))
        back = [np.asarray(snapped.on_street[routed[u - 1] + 1].coords)] if u > 0 else []
        out = [np.asarray(points[stop + 1].coords)]
        pieces += back + [street] + out
        legs[k] = plan.off[u] + plan.matrix[u, v] + plan.off[v]
    return pieces, legs


def _edges_frame(graph: nx.Graph) -> gpd.GeoDataFrame:
    rows = [(d["weight"], bool(d.get("join", False)), d["geometry"]) for _, _, d in graph.edges(data=True)]
    frame = pd.DataFrame({"length_m": [r[0] for r in rows], "join": [r[1] for r in rows]})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([r[2] for r in rows], crs=graph.graph["crs"]),
                            crs=graph.graph["crs"]).to_crs(STORAGE_CRS)


def clear_route(
    streets: gpd.GeoDataFrame,
    stops: gpd.GeoDataFrame,
    *,
    start: tuple[float, float] | None = None,
    join_tolerance_m: float = 5.0,
    crs: object | None = None,
    id_column: str = "stop_id",
    kind_column: str = "kind",
    exact_up_to: int = EXACT_STOPS,
) -> RouteResult:
    """One open walk along the streets through every stop: the visiting order and its length.

    Parameters
    ----------
    streets : geopandas.GeoDataFrame
        The streets (``streets`` layer, (Multi)LineStrings), any CRS. Not modified.
    stops : geopandas.GeoDataFrame
        The places to visit (points; a polygon counts as a point inside it), any CRS, with an `id_column`
        (default ``stop_id``, else the index) and a `kind_column` (default ``kind``), e.g. from
        :func:`route_stops`. Not modified.
    start : tuple of float, optional
        Where the walk starts, WGS84 ``(lon, lat)``, snapped to the nearest street; default the first vertex of
        the first street of `streets` (give the grid's streets first to start in the grid, as ``gridmap route``
        does).
    join_tolerance_m : float
        Street pieces whose ends lie within this many metres are joined (:func:`build_street_graph`).
    crs : pyproj.CRS or str, optional
        The metric CRS to walk in; default :func:`gridmap.crs.metric_crs` of the streets.
    id_column, kind_column : str
        The stops' columns naming them and their kind.
    exact_up_to : int
        Up to this many reachable stops (default 10) the order is the shortest open path (Held-Karp); above it,
        nearest neighbour improved by 2-opt and or-opt (:mod:`gridmap.analysis._route_order`). 0: always the
        heuristic.

    Returns
    -------
    RouteResult

    Raises
    ------
    CRSError
        When `streets` or `stops` has no CRS.
    SchemaError
        When the streets hold no line, or the start is not a longitude, latitude.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, Point
    >>> streets = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)]), LineString([(200, 0), (300, 0)])],
    ...                            crs="EPSG:4546")
    >>> stops = gpd.GeoDataFrame({"stop_id": ["near", "far"]}, geometry=[Point(50, 5), Point(250, 0)],
    ...                          crs="EPSG:4546")
    >>> r = clear_route(streets, stops, crs=streets.crs)  # the CRS of these made-up coordinates
    >>> r.stops["stop_id"].tolist(), r.stops["leg_m"].tolist(), r.unreachable["stop_id"].tolist()
    (['near'], [55.0], ['far'])
    """
    require_crs(stops, what="stops")
    graph = build_street_graph(streets, crs=crs, join_tolerance_m=join_tolerance_m)
    if graph.number_of_edges() == 0:
        raise SchemaError("the streets layer holds no line to walk along: import the streets first "
                          "(gridmap import WORKSPACE streets FILE)")
    metric: pyproj.CRS = graph.graph["crs"]
    ids = _column(stops, id_column, [str(v) for v in stops.index])
    kinds = _column(stops, kind_column, ["stop"] * len(stops))
    start_point = _start_point(streets, graph, start)
    points = np.concatenate([np.asarray([start_point], dtype=object), _stop_points(stops, metric)])
    snapped_graph, snapped = snap_points(graph, points)
    reach = nx.node_connected_component(snapped_graph, int(snapped.nodes[0]))
    reason = [None if snapped.nodes[i + 1] in reach else
              REASONS["no_position"] if snapped.nodes[i + 1] < 0 else REASONS["not_connected"]
              for i in range(len(stops))]
    routed = np.asarray([i for i, r in enumerate(reason) if r is None], dtype=int)
    plan = _plan(snapped_graph, snapped, routed, int(exact_up_to))
    pieces, legs = _walk(plan, snapped, points, routed)
    start_xy = np.asarray(snapped.on_street[0].coords)
    line, line_m = walk_line([start_xy] + pieces, metric)
    ordered = routed[plan.order[1:] - 1]
    rows = pd.DataFrame({"order": np.arange(1, len(ordered) + 1), "stop_id": [ids[i] for i in ordered],
                         "kind": [kinds[i] for i in ordered], "leg_m": legs, "cumulative_m": np.cumsum(legs),
                         "off_street_m": snapped.off_m[ordered + 1]})
    frame = stops_frame(rows, gpd.GeoSeries(points[ordered + 1], crs=metric))
    lost = [i for i, r in enumerate(reason) if r is not None]
    lost_rows = pd.DataFrame({"stop_id": [ids[i] for i in lost], "kind": [kinds[i] for i in lost],
                              "off_street_m": snapped.off_m[np.asarray(lost, dtype=int) + 1],
                              "reason": [reason[i] for i in lost]})
    unreachable = unreachable_frame(lost_rows, gpd.GeoSeries(points[np.asarray(lost, dtype=int) + 1], crs=metric))
    length = float(legs.sum())
    stats = _stats(graph, snapped, plan, start, stops=len(stops), routed=len(routed), length=length)
    logger.info("route: %d stops, %.0f m (line %.0f m), %d unreachable, %d joins", len(routed), length, line_m,
                len(lost), graph.graph["joins"])
    return RouteResult(frame, line, length, int(graph.graph["joins"]), unreachable, _edges_frame(graph), stats)


def _stats(graph: nx.Graph, snapped: Snapped, plan: _Plan, start: tuple[float, float] | None, *, stops: int,
           routed: int, length: float) -> dict[str, Any]:
    on = snapped.on_street[0]
    lon, lat = transformer(graph.graph["crs"], STORAGE_CRS).transform(on.x, on.y)
    off_legs = _walk_length(plan, plan.order) - path_length(plan.matrix, plan.order)
    return {
        "stops_in": stops, "stops_routed": routed, "unreachable": stops - routed, "joins": int(graph.graph["joins"]),
        "pieces": int(graph.graph["pieces"]), "nodes": graph.number_of_nodes(), "edges": graph.number_of_edges(),
        "metric_crs": graph.graph["crs"].to_string(), "start": "given" if start is not None else "first street node",
        "start_lon": float(lon), "start_lat": float(lat), "start_off_street_m": float(snapped.off_m[0]),
        "street_m": path_length(plan.matrix, plan.order), "off_street_m": float(off_legs),
        "nearest_neighbour_m": _walk_length(plan, plan.nn_order), "length_m": length,
    }
