"""The street graph of :mod:`gridmap.analysis.route`: streets noded at their crossings, gaps joined, stops snapped."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pyproj
import shapely
from shapely.geometry import LineString, Point
from shapely.ops import substring

from gridmap.crs import metric_crs, require_crs
from gridmap.errors import SchemaError

logger = logging.getLogger(__name__)

#: Node coordinates are rounded to this many decimals of a metre to key them (a micrometre).
_KEY_DECIMALS = 6


def _key(x: float, y: float) -> tuple[float, float]:
    return (round(float(x), _KEY_DECIMALS), round(float(y), _KEY_DECIMALS))


def _metric_lines(streets: gpd.GeoDataFrame, crs: pyproj.CRS) -> list[LineString]:
    """Every street as LineStrings in `crs` (MultiLineStrings exploded, empty and missing geometries left out)."""
    geoms = np.asarray(streets.geometry.to_crs(crs).values, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    parts = shapely.get_parts(geoms) if len(geoms) else np.asarray([], dtype=object)
    lines = [g for g in parts if g.geom_type == "LineString" and g.length > 0]
    if len(lines) < len(parts):
        logger.warning("%d street part(s) are not lines; left out of the street graph", len(parts) - len(lines))
    return lines


def _noded(lines: list[LineString]) -> list[LineString]:
    """The lines cut at every crossing (``shapely.node``, else ``shapely.union_all``), each piece a LineString;
    closed pieces split in two."""
    if not lines:
        return []
    node = getattr(shapely, "node", shapely.union_all)  # shapely.node is 2.1+; a union of lines nodes them too
    pieces = [g for g in shapely.get_parts(node(shapely.MultiLineString(lines))) if g.length > 0]
    out: list[LineString] = []
    for piece in pieces:
        if piece.is_closed:  # a loop with no crossing: two halves, so that it is an edge between two nodes
            half = piece.length / 2.0
            out += [substring(piece, 0.0, half), substring(piece, half, piece.length)]
        else:
            out.append(piece)
    return out


def _add_edge(graph: nx.Graph, key_a: tuple[float, float], key_b: tuple[float, float], geometry: LineString, *,
              join: bool = False) -> None:
    """Add the edge between the nodes at `key_a` and `key_b` (new nodes as needed); of two parallel edges the
    shorter is kept (the longer is never on a shortest path)."""
    ids = graph.graph["keys"]
    for key in (key_a, key_b):
        if key not in ids:
            ids[key] = len(ids)
            graph.add_node(ids[key], x=key[0], y=key[1])
    a, b = ids[key_a], ids[key_b]
    if a == b:
        return
    length = float(geometry.length)
    if graph.has_edge(a, b) and graph[a][b]["weight"] <= length:
        return
    graph.add_edge(a, b, weight=length, geometry=geometry, join=join)


def _ends(graph: nx.Graph) -> list[int]:
    return [n for n, degree in graph.degree() if degree == 1]


def _join_pieces(graph: nx.Graph, tolerance: float) -> int:
    """Join disconnected pieces where an end (a node of degree 1) lies within `tolerance` metres of a node of
    another piece: a straight join edge, nearest pairs first, one join per pair of pieces merged (Kruskal's
    rule over the pieces, so no join is made between pieces already connected). Returns the number of joins."""
    if tolerance <= 0 or graph.number_of_nodes() < 2:
        return 0
    piece = {n: i for i, comp in enumerate(nx.connected_components(graph)) for n in comp}
    if len(set(piece.values())) < 2:
        return 0
    nodes = np.asarray(list(graph.nodes))
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes])
    tree = shapely.STRtree(shapely.points(xy))
    ends = np.asarray(_ends(graph))
    if not len(ends):
        return 0
    end_xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in ends])
    left, right = tree.query(shapely.points(end_xy), predicate="dwithin", distance=tolerance)
    pairs = sorted((float(np.hypot(*(end_xy[i] - xy[j]))), int(ends[i]), int(nodes[j])) for i, j in zip(left, right)
                   if piece[int(ends[i])] != piece[int(nodes[j])])
    parent = {p: p for p in set(piece.values())}

    def root(p: int) -> int:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    joins = 0
    for _, a, b in pairs:
        ra, rb = root(piece[a]), root(piece[b])
        if ra == rb:
            continue
        parent[ra] = rb
        line = LineString([(graph.nodes[a]["x"], graph.nodes[a]["y"]), (graph.nodes[b]["x"], graph.nodes[b]["y"])])
        graph.add_edge(a, b, weight=float(line.length), geometry=line, join=True)
        joins += 1
    return joins


def build_street_graph(streets: gpd.GeoDataFrame, *, crs: object | None = None,
                       join_tolerance_m: float = 5.0) -> nx.Graph:
    """The street network as a graph to walk on: streets cut at their crossings, small gaps joined.

    Parameters
    ----------
    streets : geopandas.GeoDataFrame
        (Multi)LineStrings in any CRS (the ``streets`` layer). Not modified.
    crs : pyproj.CRS or str, optional
        The metric CRS to build the graph in; default :func:`gridmap.crs.metric_crs` of the streets (the
        CGCS2000 3-degree Gauss-Kruger zone in China, as coverage measures).
    join_tolerance_m : float
        Pieces of the network that touch no other piece are joined by a straight edge where an end of one
        (a node of degree 1) lies within this many metres of a node of the other (default 5 m: a street
        digitised a few metres short of its crossing). 0 joins nothing.

    Returns
    -------
    networkx.Graph
        Nodes are integers with ``x``, ``y`` (metres in the metric CRS); every edge has ``weight`` (its
        length, metres), ``geometry`` (the street piece, a LineString in the metric CRS) and ``join`` (True
        for a join edge). ``graph.graph`` holds ``crs`` (the metric CRS, a pyproj.CRS), ``joins`` (the
        number of join edges made), ``keys`` (node id by rounded coordinates) and ``pieces`` (connected
        pieces after the joins).

    Raises
    ------
    CRSError
        When `streets` has no CRS.
    SchemaError
        When `join_tolerance_m` is negative or not a number, or the streets hold no line.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> s = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)]), LineString([(50, -50), (50, 50)]),
    ...                                LineString([(103, 0), (200, 0)])], crs="EPSG:4546")
    >>> g = build_street_graph(s, crs="EPSG:4546")  # the CRS of these made-up coordinates
    >>> g.number_of_nodes(), g.number_of_edges(), g.graph["joins"]
    (7, 6, 1)
    >>> round(sum(w for _, _, w in g.edges(data="weight")), 6)
    300.0
    """
    require_crs(streets, what="streets")
    tolerance = _tolerance(join_tolerance_m)
    if not (~(streets.geometry.isna() | streets.geometry.is_empty)).any():
        raise SchemaError("the streets layer holds no line to walk along: import the streets first "
                          "(gridmap import WORKSPACE streets FILE)")
    metric = pyproj.CRS.from_user_input(crs) if crs is not None else metric_crs(streets)
    graph = nx.Graph(crs=metric, keys={}, joins=0)
    for piece in _noded(_metric_lines(streets, metric)):
        coords = np.asarray(piece.coords)
        _add_edge(graph, _key(*coords[0]), _key(*coords[-1]), piece)
    graph.graph["joins"] = _join_pieces(graph, tolerance)
    graph.graph["pieces"] = nx.number_connected_components(graph) if graph.number_of_nodes() else 0
    logger.info("street graph: %d nodes, %d edges, %d joins, %d pieces", graph.number_of_nodes(),
                graph.number_of_edges(), graph.graph["joins"], graph.graph["pieces"])
    return graph


def _tolerance(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number >= 0):
        raise SchemaError(f"join_tolerance_m must be a number of metres >= 0, got {value!r} "
                          "(on the command line: --join-tolerance 5)")
    return number


# ---------------------------------------------------------------------------------------------------------------
# snapping points onto the graph
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Snapped:
    """Points snapped onto a street graph: the node of each (-1 when it has no position) and its distance off
    the street, metres."""

    nodes: np.ndarray
    off_m: np.ndarray
    on_street: np.ndarray


def _edge_list(graph: nx.Graph) -> tuple[list[tuple[int, int]], np.ndarray]:
    edges = [(a, b) for a, b in graph.edges]
    geoms = np.asarray([graph[a][b]["geometry"] for a, b in edges], dtype=object)
    return edges, geoms


def snap_points(graph: nx.Graph, points: np.ndarray) -> tuple[nx.Graph, Snapped]:
    """A copy of `graph` with each point of `points` (shapely Points in the graph's CRS; None or empty for
    no position) snapped to its nearest point on an edge, the edge split there (a new node), and the snaps.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, Point
    >>> s = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)])], crs="EPSG:4546")
    >>> points = np.array([Point(30, 4), Point(100, 0)], dtype=object)
    >>> g, snapped = snap_points(build_street_graph(s, crs=s.crs), points)
    >>> snapped.off_m.tolist(), g.number_of_nodes(), sorted(w for _, _, w in g.edges(data="weight"))
    ([4.0, 0.0], 3, [30.0, 70.0])
    """
    out = graph.copy()
    out.graph = dict(graph.graph, keys=dict(graph.graph["keys"]))
    n = len(points)
    nodes, off, on_street = np.full(n, -1), np.full(n, np.nan), np.empty(n, dtype=object)
    edges, geoms = _edge_list(graph)
    has = np.array([p is not None and not p.is_empty for p in points], dtype=bool)
    if not len(edges) or not has.any():
        return out, Snapped(nodes, off, on_street)
    tree = shapely.STRtree(geoms)
    which = np.flatnonzero(has)
    nearest = tree.query_nearest(np.asarray(points[which], dtype=object), all_matches=False)[1]
    by_edge: dict[int, list[tuple[float, int]]] = {}
    for i, e in zip(which, nearest):
        along = float(shapely.line_locate_point(geoms[e], points[i]))
        on_street[i] = shapely.line_interpolate_point(geoms[e], along)
        off[i] = float(shapely.distance(points[i], on_street[i]))
        by_edge.setdefault(int(e), []).append((along, int(i)))
    for e, items in by_edge.items():
        _split_edge(out, edges[e], geoms[e], sorted(items), nodes)
    return out, Snapped(nodes, off, on_street)


def _split_edge(graph: nx.Graph, edge: tuple[int, int], geometry: LineString, items: list[tuple[float, int]],
                nodes: np.ndarray) -> None:
    """Split `edge` at each distance along its geometry in `items` (sorted), recording each point's node."""
    start = np.asarray(geometry.coords)[0]
    a, b = edge
    if _key(*start) != (graph.nodes[a]["x"], graph.nodes[a]["y"]):
        a, b = b, a
    join = bool(graph[a][b].get("join", False))
    cuts = sorted({min(max(along, 0.0), geometry.length) for along, _ in items})
    keys = [_key(*geometry.interpolate(c).coords[0]) for c in cuts]
    bounds = [0.0] + cuts + [geometry.length]
    ids = graph.graph["keys"]
    chain = [(graph.nodes[a]["x"], graph.nodes[a]["y"])] + keys + [(graph.nodes[b]["x"], graph.nodes[b]["y"])]
    if any(k not in ids for k in keys):
        graph.remove_edge(a, b)
        for k in range(len(chain) - 1):
            piece = substring(geometry, bounds[k], bounds[k + 1])
            if bounds[k + 1] - bounds[k] > 0:
                _add_edge(graph, chain[k], chain[k + 1], _as_line(piece, chain[k], chain[k + 1]), join=join)
    for along, i in items:
        nodes[i] = ids[keys[cuts.index(min(max(along, 0.0), geometry.length))]]


def _as_line(piece: object, a: tuple[float, float], b: tuple[float, float]) -> LineString:
    """A piece of an edge as a LineString whose ends are exactly the node coordinates `a` and `b`."""
    coords = np.asarray(piece.coords) if isinstance(piece, LineString) else np.asarray([a, b])  # a Point: too short
    coords = coords.copy()
    coords[0], coords[-1] = a, b
    return LineString(coords) if len(coords) >= 2 else LineString([a, b])


def nearest_node(graph: nx.Graph, point: Point) -> int:
    """The node of `graph` nearest `point` (metric CRS)."""
    nodes = list(graph.nodes)
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes])
    return int(nodes[int(np.argmin(np.hypot(xy[:, 0] - point.x, xy[:, 1] - point.y)))])
