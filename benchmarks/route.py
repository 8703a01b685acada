"""Benchmark: the route that clears the dead corners (``gridmap.clear_route``) against nearest neighbour alone and
networkx's Christofides, on 200 stops along a 2,000-edge street graph.

Workload (seeded): a perturbed street lattice of 26 x 40 crossings 80 m apart (each moved up to 15 m), 2,014
lattice edges less 14 chosen at random whose removal keeps the network connected: 2,000 streets, one LineString
each, in EPSG:4546 (about 111.0E, 38.3N). 200 stops: a point on a random street, moved 0 to 20 m off it at a
right angle (a dead corner's walk-to point beside the street). The walk starts at the first street's first node.

- **gridmap**: ``clear_route(streets, stops)`` from the frames to the finished result (graph, noding, snapping,
  Dijkstra from the start and every stop, nearest neighbour, 2-opt and or-opt, the walk's line, the frames);
  best of 3 (every run printed; the target is judged on the slowest). Its peak memory: ``ru_maxrss`` of a
  forked child that builds the workload and runs it once.
- **nearest neighbour alone**: the length of the same walk in nearest-neighbour order, before the 2-opt and
  or-opt moves (``stats["nearest_neighbour_m"]``).
- **Christofides** (networkx ``nx.approximation.traveling_salesman_problem(G, method=christofides)``): on the
  complete graph of the start and the stops, weighted by the same walking distances, computed here independently
  with networkx on the lattice (shortest path between the stops' streets plus each stop's off-street leg);
  timed for that call alone (the distances are not counted: in its favour). It returns a closed tour; printed
  are the tour, the tour less its longest edge (the best open path the tour implies, from wherever that edge
  was: in its favour, ours must start at the start), and the tour less the longer of the start's two edges
  (an open path from the start: the same task as ours).

Printed side by side: times, lengths, ratios, peak memory, and "met" or "NOT met" for the target of issue 17
(at most 2 s for 200 stops on a 2,000-edge graph).

Run: ``python benchmarks/route.py [--stops 200] [--seed 0]``
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
from typing import Any

import numpy as np

# benchmarks/ last on sys.path, not first (its html.py must not shadow the standard library's html, which
# networkx imports): run as a script, Python put it first; as in city.py, it is moved to the end
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE] + [HERE]

from _fork import in_child  # noqa: E402

TARGET_S = 2.0
ROWS, COLS, SPACING, JITTER, EDGES = 26, 40, 80.0, 15.0, 2000
X0, Y0 = 500_000.0, 4_240_000.0
CRS = "EPSG:4546"


def street_lattice(seed: int) -> tuple[dict[tuple[int, int], tuple[float, float]], list[Any]]:
    """Node positions and the 2,000 edges kept (connected)."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    pos = {(r, c): (X0 + c * SPACING + rng.uniform(-JITTER, JITTER), Y0 + r * SPACING + rng.uniform(-JITTER, JITTER))
           for r in range(ROWS) for c in range(COLS)}
    g = nx.grid_2d_graph(ROWS, COLS)
    edges = sorted(g.edges)
    order = rng.permutation(len(edges))
    for k in order:
        if g.number_of_edges() == EDGES:
            break
        a, b = edges[k]
        g.remove_edge(a, b)
        if not nx.has_path(g, a, b):
            g.add_edge(a, b)
    return pos, sorted(g.edges)


def workload(n_stops: int, seed: int) -> tuple[Any, Any, dict, list, list]:
    """The streets and stops frames, and for the peer: positions, edges, and each stop's (edge, share, off)."""
    import geopandas as gpd
    import shapely
    from shapely.geometry import LineString, Point

    pos, edges = street_lattice(seed)
    rng = np.random.default_rng(seed + 1)
    streets = gpd.GeoDataFrame({"street_name": [f"s{i}" for i in range(len(edges))]},
                               geometry=[LineString([pos[a], pos[b]]) for a, b in edges], crs=CRS)
    points = []
    for _ in range(n_stops):
        e = edges[int(rng.integers(len(edges)))]
        t, off = float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.0, 20.0))
        a, b = np.asarray(pos[e[0]]), np.asarray(pos[e[1]])
        u = (b - a) / np.hypot(*(b - a))
        points.append(Point(*(a + t * (b - a) + off * np.array([-u[1], u[0]]))))
    # for the peer: each stop on its nearest street (the one a walker would step onto), found here with shapely
    lines = streets.geometry.values
    nearest = shapely.STRtree(lines).query_nearest(points, all_matches=False)[1]
    places = [(edges[k], float(lines[k].project(p, normalized=True)), float(lines[k].distance(p)))
              for k, p in zip(nearest, points)]
    stops = gpd.GeoDataFrame({"stop_id": [f"p{i}" for i in range(n_stops)], "kind": "dead_corner"},
                             geometry=points, crs=CRS)
    return streets, stops, pos, edges, places


def walking_distances(pos: dict, edges: list, places: list) -> np.ndarray:
    """Walking distance between every two of the start (node of the first street's first end) and the stops:
    along the streets (networkx Dijkstra from each stop's street ends) plus both off-street legs."""
    import networkx as nx

    g = nx.Graph()
    for a, b in edges:
        g.add_edge(a, b, weight=math.dist(pos[a], pos[b]))
    start = edges[0][0]
    ends = [[(start, 0.0)]] + [[(e[0], t * math.dist(pos[e[0]], pos[e[1]])),
                                (e[1], (1 - t) * math.dist(pos[e[0]], pos[e[1]]))] for e, t, _ in places]
    off = np.array([0.0] + [o for _, _, o in places])
    nodes = sorted({node for pair in ends for node, _ in pair})
    dist = {node: nx.single_source_dijkstra_path_length(g, node, weight="weight") for node in nodes}
    n = len(ends)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            best = min(da + dist[a][b] + db for a, da in ends[i] for b, db in ends[j])
            if i and j and places[i - 1][0] == places[j - 1][0]:  # one street: straight along it
                a, b = places[i - 1][0]
                best = min(best, abs(places[i - 1][1] - places[j - 1][1]) * math.dist(pos[a], pos[b]))
            out[i, j] = out[j, i] = best + off[i] + off[j]
    return out


def christofides(matrix: np.ndarray) -> tuple[float, float, float, float]:
    """(seconds, closed tour, tour less its longest edge, tour less the longer of the start's edges)."""
    import networkx as nx

    g = nx.Graph()
    n = len(matrix)
    g.add_weighted_edges_from((i, j, float(matrix[i, j])) for i in range(n) for j in range(i + 1, n))
    t0 = time.perf_counter()
    tour = nx.approximation.traveling_salesman_problem(g, weight="weight", cycle=True,
                                                       method=nx.approximation.christofides)
    seconds = time.perf_counter() - t0
    legs = [float(matrix[a, b]) for a, b in zip(tour[:-1], tour[1:])]
    closed = sum(legs)
    at_start = [w for (a, b), w in zip(zip(tour[:-1], tour[1:]), legs) if 0 in (a, b)]
    return seconds, closed, closed - max(legs), closed - max(at_start)


def _ours_in_child(queue: Any, n_stops: int, seed: int) -> None:
    from gridmap.analysis.route import clear_route

    streets, stops, *_ = workload(n_stops, seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    clear_route(streets, stops)
    queue.put((before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str] | None = None) -> None:
    from gridmap.analysis.route import clear_route

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    streets, stops, pos, edges, places = workload(args.stops, args.seed)
    times, result = [], None
    for _ in range(3):
        t0 = time.perf_counter()
        result = clear_route(streets, stops)
        times.append(time.perf_counter() - t0)
    assert result is not None
    ours, slowest = min(times), max(times)
    matrix = walking_distances(pos, edges, places)
    order = [0] + [int(s[1:]) + 1 for s in result.stops["stop_id"]]
    check = sum(matrix[a, b] for a, b in zip(order[:-1], order[1:]))  # the last leg ends at the stop: off once
    t_chr, closed, open_best, open_start = christofides(matrix)
    before, peak = in_child(_ours_in_child, args.stops, args.seed)
    nn = result.stats["nearest_neighbour_m"]
    print(f"machine: {os.cpu_count()} cores; times are wall-clock seconds")
    print(f"== {args.stops} stops on {len(streets):,} streets ({result.stats['nodes']:,} nodes, "
          f"{result.stats['edges']:,} edges after noding), seed {args.seed}; {len(result.unreachable)} unreachable")
    print(f"gridmap clear_route, all runs: {', '.join(f'{t:.3f}' for t in times)} s")
    print(f"gridmap clear_route (graph, snapping, Dijkstra x {args.stops + 1}, NN + 2-opt + or-opt, line), best of 3:"
          f" {ours:8.3f} s   length {result.length_m:10,.0f} m")
    print(f"  the same walk's length from the peer's distances (check):                          "
          f"   length {check:10,.0f} m")
    print(f"nearest neighbour alone (the same distances and start):                              "
          f"   length {nn:10,.0f} m  -> gridmap {100 * (result.length_m / nn - 1):+.1f} %")
    print(f"networkx Christofides on the complete graph of the same distances (the call alone): {t_chr:8.3f} s")
    print(f"  closed tour (returns to the start):                                                "
          f"   length {closed:10,.0f} m")
    print(f"  tour less its longest edge (the best open path it implies, from anywhere):         "
          f"   length {open_best:10,.0f} m  -> gridmap {100 * (result.length_m / open_best - 1):+.1f} %")
    print(f"  tour less the longer of the start's two edges (an open path from the start):       "
          f"   length {open_start:10,.0f} m  -> gridmap {100 * (result.length_m / open_start - 1):+.1f} %")
    print(f"time ratio Christofides (the call alone) / gridmap (the whole route): {t_chr / ours:.1f}x")
    print(f"peak memory of clear_route's process: {peak:.0f} MiB (after building the workload: {before:.0f} MiB)")
    print(f"target <= {TARGET_S:g} s for {args.stops} stops on a {len(streets):,}-edge street graph (issue 17): "
          f"{_met(slowest <= TARGET_S)} (the slowest of 3 runs {slowest:.3f} s; peak {peak:.0f} MiB)")


if __name__ == "__main__":
    main()
