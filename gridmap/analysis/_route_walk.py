"""The walk of :mod:`gridmap.analysis.route`: the street geometry along the shortest paths, the off-street legs,
and the ordered stops with their legs, coordinates and Amap links."""

from __future__ import annotations

from urllib.parse import quote

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
from shapely.geometry import LineString

from gridmap.analysis._coverage_figures import walk_to_columns
from gridmap.model import STORAGE_CRS

#: The columns of :attr:`RouteResult.stops`, before the geometry.
STOP_COLUMNS = ("order", "stop_id", "kind", "lon", "lat", "lon_gcj02", "lat_gcj02", "leg_m", "cumulative_m",
                "off_street_m", "amap_url")
#: The columns of :attr:`RouteResult.unreachable`, before the geometry.
UNREACHABLE_COLUMNS = ("stop_id", "kind", "lon", "lat", "lon_gcj02", "lat_gcj02", "off_street_m", "reason")


def node_path(preds: dict[int, int | None], source: int, target: int) -> list[int]:
    """The nodes from `source` to `target` along the predecessors of a Dijkstra run from `source`."""
    path = [target]
    while path[-1] != source:
        step = preds[path[-1]]
        if step is None:  # pragma: no cover - only reachable targets are walked
            raise ValueError("target not reached")
        path.append(step)
    return path[::-1]


def edge_coords(graph: nx.Graph, a: int, b: int) -> np.ndarray:
    """The coordinates of the edge a-b from node a to node b."""
    coords = np.asarray(graph[a][b]["geometry"].coords)
    start = (graph.nodes[a]["x"], graph.nodes[a]["y"])
    first = np.hypot(coords[0, 0] - start[0], coords[0, 1] - start[1])
    if first > np.hypot(coords[-1, 0] - start[0], coords[-1, 1] - start[1]):
        coords = coords[::-1]
    return coords


def walk_coords(graph: nx.Graph, nodes: list[int]) -> np.ndarray:
    """The coordinates along the node path `nodes` (the first node's point when the path has no edge)."""
    first = np.array([[graph.nodes[nodes[0]]["x"], graph.nodes[nodes[0]]["y"]]])
    parts = [first] + [edge_coords(graph, a, b)[1:] for a, b in zip(nodes[:-1], nodes[1:])]
    return np.vstack(parts)


def _dedupe(coords: np.ndarray) -> np.ndarray:
    keep = np.ones(len(coords), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(coords, axis=0)) > 0, axis=1)
    return coords[keep]


def walk_line(pieces: list[np.ndarray], crs: pyproj.CRS) -> tuple[LineString, float]:
    """The walk's pieces joined as one line in WGS84 (repeated points dropped), and its length in `crs`, metres."""
    coords = _dedupe(np.vstack(pieces)) if pieces else np.empty((0, 2))
    if len(coords) < 2:
        coords = np.vstack([coords, coords]) if len(coords) else np.zeros((2, 2))
        metric = LineString(coords)
    else:
        metric = LineString(coords)
    line = gpd.GeoSeries([metric], crs=crs).to_crs(STORAGE_CRS).iloc[0]
    return line, float(metric.length)


def amap_url(lon_gcj: float, lat_gcj: float, name: str) -> str:
    """The Amap marker link of a GCJ-02 point (``https://uri.amap.com/marker?position=LON,LAT&name=...``).

    Examples
    --------
    >>> amap_url(109.7361234, 38.2912345, "死角 1")
    'https://uri.amap.com/marker?position=109.736123,38.291235&name=%E6%AD%BB%E8%A7%92%201'
    """
    return f"https://uri.amap.com/marker?position={lon_gcj:.6f},{lat_gcj:.6f}&name={quote(str(name), safe='')}"


def with_coordinates(frame: pd.DataFrame, points: gpd.GeoSeries) -> pd.DataFrame:
    """`frame` with ``lon``, ``lat`` (WGS84) and ``lon_gcj02``, ``lat_gcj02`` of `points` (any CRS)."""
    return frame.assign(**walk_to_columns(points))


def stops_frame(rows: pd.DataFrame, points: gpd.GeoSeries) -> gpd.GeoDataFrame:
    """The ordered stops: `rows` (``order``, ``stop_id``, ``kind``, ``leg_m``, ``cumulative_m``,
    ``off_street_m``) with their coordinates and Amap links, as a WGS84 GeoDataFrame."""
    out = with_coordinates(rows.reset_index(drop=True), points.reset_index(drop=True))
    out["amap_url"] = [amap_url(x, y, f"{o}. {s}") for x, y, o, s in
                       zip(out["lon_gcj02"], out["lat_gcj02"], out["order"], out["stop_id"])]
    geometry = gpd.points_from_xy(out["lon"], out["lat"], crs=STORAGE_CRS)
    return gpd.GeoDataFrame(out[list(STOP_COLUMNS)], geometry=geometry, crs=STORAGE_CRS)


def unreachable_frame(rows: pd.DataFrame, points: gpd.GeoSeries) -> gpd.GeoDataFrame:
    """The stops left out of the walk, with their coordinates and the reason, as a WGS84 GeoDataFrame."""
    if not len(rows):
        empty = pd.DataFrame({c: pd.Series(dtype=object if c in ("stop_id", "kind", "reason") else float)
                              for c in UNREACHABLE_COLUMNS})
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=STORAGE_CRS), crs=STORAGE_CRS)
    out = with_coordinates(rows.reset_index(drop=True), points.reset_index(drop=True))
    geometry = gpd.points_from_xy(out["lon"], out["lat"], crs=STORAGE_CRS)
    return gpd.GeoDataFrame(out[list(UNREACHABLE_COLUMNS)], geometry=geometry, crs=STORAGE_CRS)
