"""The route that clears the dead corners (gridmap.analysis.route): order, length, legs, joins, unreachable stops.

Every expected figure is computed here independently: shortest paths from networkx on a graph the test builds
itself from the lattice it drew, the best open path by brute force over itertools.permutations.
"""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

from gridmap.analysis.route import build_street_graph, clear_route
from gridmap.errors import CRSError, SchemaError

CRS = "EPSG:4546"  # CGCS2000 Gauss-Kruger CM 111E: what metric_crs chooses for these coordinates
X0, Y0 = 500_000.0, 4_240_000.0  # about 111.0E, 38.3N
SPACING = 100.0


Node = tuple[int, int]


def lattice(rows: int, cols: int, seed: int,
            keep: float) -> tuple[dict[Node, tuple[float, float]], list[tuple[Node, Node]]]:
    """A perturbed lattice: node positions (jittered up to 20 m) and the edges kept (each with probability
    `keep`, the first row always kept so the start has a street)."""
    rng = np.random.default_rng(seed)
    pos = {(r, c): (X0 + c * SPACING + rng.uniform(-20, 20), Y0 + r * SPACING + rng.uniform(-20, 20))
           for r in range(rows) for c in range(cols)}
    edges = []
    for r in range(rows):
        for c in range(cols):
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr < rows and c + dc < cols and (r == 0 and dr == 0 or rng.uniform() < keep):
                    edges.append(((r, c), (r + dr, c + dc)))
    return pos, edges


def spanning_tree(pos: dict, edges: list, seed: int) -> list:
    """A random spanning tree of the lattice (minimum spanning tree under random weights), first row kept."""
    g = nx.Graph()
    rng = np.random.default_rng(seed + 2)
    for a, b in edges:
        g.add_edge(a, b, weight=-1.0 if a[0] == b[0] == 0 else float(rng.uniform()))
    return sorted(tuple(sorted(e)) for e in nx.minimum_spanning_tree(g).edges)


def streets_of(pos: dict, edges: list) -> gpd.GeoDataFrame:
    """The kept edges as streets: runs of consecutive kept edges along a row or a column are one LineString
    (so that the code must node them at the crossings), the first row first."""
    kept = set(edges)
    lines = []
    rows = 1 + max(r for r, _ in pos)
    cols = 1 + max(c for _, c in pos)
    for horizontal, outer, inner in ((True, rows, cols), (False, cols, rows)):
        for a in range(outer):
            run: list[tuple[int, int]] = []
            for b in range(inner):
                node = (a, b) if horizontal else (b, a)
                prev = (a, b - 1) if horizontal else (b - 1, a)
                if run and (prev, node) in kept:
                    run.append(node)
                else:
                    if len(run) > 1:
                        lines.append(LineString([pos[n] for n in run]))
                    run = [node]
            if len(run) > 1:
                lines.append(LineString([pos[n] for n in run]))
    return gpd.GeoDataFrame({"street_name": [f"s{i}" for i in range(len(lines))]}, geometry=lines, crs=CRS)


def on_edges(pos: dict, edges: list, seed: int, n: int) -> list[tuple[tuple, float, Point]]:
    """`n` stops on random edges: (edge, share along it, the point)."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for _ in range(n):
        e = edges[int(rng.integers(len(edges)))]
        t = float(rng.uniform(0.05, 0.95))
        a, b = np.asarray(pos[e[0]]), np.asarray(pos[e[1]])
        out.append((e, t, Point(*(a + t * (b - a)))))
    return out


def network_distances(pos: dict, edges: list, stops: list, start: tuple) -> np.ndarray:
    """Shortest walking distances between the start node and the stops (on their edges), from networkx here."""
    g = nx.Graph()
    for a, b in edges:
        g.add_edge(a, b, weight=math.dist(pos[a], pos[b]))
    d = dict(nx.all_pairs_dijkstra_path_length(g, weight="weight"))
    places = [(None, 0.0, start)] + [(e, t, None) for e, t, _ in stops]

    def ends(place: tuple) -> list[tuple[tuple, float]]:
        e, t, node = place
        if e is None:
            return [(node, 0.0)]
        length = math.dist(pos[e[0]], pos[e[1]])
        return [(e[0], t * length), (e[1], (1 - t) * length)]

    n = len(places)
    out = np.full((n, n), np.inf)
    for i, j in itertools.product(range(n), repeat=2):
        best = min((da + d[a].get(b, np.inf) + db for a, da in ends(places[i]) for b, db in ends(places[j])),
                   default=np.inf)
        if places[i][0] is not None and places[i][0] == places[j][0]:  # same edge: straight along it
            best = min(best, abs(places[i][1] - places[j][1]) * math.dist(*(pos[k] for k in places[i][0])))
        out[i, j] = best
    return out


def best_open_path(matrix: np.ndarray, stops: list[int]) -> float:
    """The shortest open path from 0 through `stops`, by brute force."""
    best = np.inf
    for perm in itertools.permutations(stops):
        order = (0,) + perm
        best = min(best, sum(matrix[a, b] for a, b in zip(order[:-1], order[1:])))
    return float(best)


def stops_frame(points: list[Point]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"stop_id": [f"p{i}" for i in range(len(points))], "kind": "dead_corner"},
                            geometry=points, crs=CRS)


def metric_coords(line: LineString) -> np.ndarray:
    return np.asarray(gpd.GeoSeries([line], crs=4326).to_crs(CRS).iloc[0].coords)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(2, 4), cols=st.integers(2, 4), seed=st.integers(0, 10_000),
       keep=st.sampled_from([0.5, 0.8, 1.0, "tree"]), n=st.integers(1, 8))
@example(rows=2, cols=2, seed=0, keep=1.0, n=1)
@example(rows=4, cols=4, seed=7, keep=0.5, n=8)
@example(rows=4, cols=4, seed=5, keep="tree", n=8)
@example(rows=2, cols=3, seed=0, keep=0.5, n=3)  # node keys are rounded to 1 µm: sums agree to 0.1 mm
def test_route_is_within_ten_percent_of_the_best_open_path(rows: int, cols: int, seed: int, keep: float | str,
                                                           n: int) -> None:
    pos, edges = lattice(rows, cols, seed, 1.0 if keep == "tree" else float(keep))
    if keep == "tree":
        edges = spanning_tree(pos, edges, seed)
    stops = on_edges(pos, edges, seed, n)
    result = clear_route(streets_of(pos, edges), stops_frame([p for _, _, p in stops]))
    matrix = network_distances(pos, edges, stops, (0, 0))  # the first street starts at node (0, 0)
    reachable = [i for i in range(1, n + 1) if np.isfinite(matrix[0, i])]
    # unreachable stops are listed, never dropped; each reachable stop visited exactly once
    assert sorted(result.unreachable["stop_id"]) == sorted(f"p{i - 1}" for i in range(1, n + 1) if i not in reachable)
    assert sorted(result.stops["stop_id"]) == sorted(f"p{i - 1}" for i in reachable)
    assert result.stops["order"].tolist() == list(range(1, len(reachable) + 1))
    assert result.joins == 0
    best = best_open_path(matrix, reachable)
    order = [0] + [int(s[1:]) + 1 for s in result.stops["stop_id"]]
    walked = sum(matrix[a, b] for a, b in zip(order[:-1], order[1:]))
    assert result.stats["street_m"] == pytest.approx(walked, abs=1e-4)  # its distances are the true ones (0.1 mm)
    assert walked <= 1.10 * best + 1e-4
    # every stop is on a street here: the length is the street walk, the sum of the legs and the line's length
    assert result.length_m == pytest.approx(walked, abs=1e-4)
    assert result.stops["leg_m"].sum() == pytest.approx(result.length_m, abs=1e-6)
    assert LineString(metric_coords(result.line)).length == pytest.approx(result.length_m, abs=1e-4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 8), offset=st.floats(0.5, 25.0))
@example(seed=3, n=8, offset=25.0)
def test_every_vertex_is_on_a_street_or_on_a_final_leg_to_a_stop(seed: int, n: int, offset: float) -> None:
    pos, edges = lattice(3, 3, seed, 1.0)
    streets = streets_of(pos, edges)
    rng = np.random.default_rng(seed)
    points = [Point(p.x + rng.uniform(-offset, offset), p.y + rng.uniform(-offset, offset))
              for _, _, p in on_edges(pos, edges, seed, n)]
    result = clear_route(streets, stops_frame(points))
    network = shapely.union_all(streets.geometry.values)
    off = {f"p{i}": float(network.distance(p)) for i, p in enumerate(points)}  # distance to the street, here
    coords = metric_coords(result.line)
    stop_xy = {f"p{i}": np.asarray(p.coords[0]) for i, p in enumerate(points)}
    for xy in coords:
        if network.distance(Point(xy)) < 1e-6:
            continue
        near = [s for s, q in stop_xy.items() if np.hypot(*(q - xy)) < 1e-4]
        assert near, f"vertex {xy} is neither on a street nor a stop"
    # each stop's off-street leg: the stop's distance to the street, no longer
    assert np.allclose(result.stops["off_street_m"], [off[s] for s in result.stops["stop_id"]], atol=1e-6)
    for k in range(1, len(coords) - 1):
        here = coords[k]
        for s, q in stop_xy.items():
            if np.hypot(*(q - here)) < 1e-4:
                assert np.hypot(*(coords[k - 1] - here)) <= off[s] + 1e-4
                assert np.hypot(*(coords[k + 1] - here)) <= off[s] + 1e-4
    assert coords[-1] == pytest.approx(stop_xy[result.stops["stop_id"].iloc[-1]], abs=1e-4)
    legs = result.stops["leg_m"].to_numpy()
    assert legs.sum() == pytest.approx(result.length_m, rel=1e-12)
    assert result.stops["cumulative_m"].to_numpy() == pytest.approx(np.cumsum(legs))
    assert LineString(coords).length == pytest.approx(result.length_m, abs=1e-4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(2, 4), cols=st.integers(2, 4), seed=st.integers(0, 10_000), n=st.integers(3, 8))
@example(rows=3, cols=4, seed=11, n=8)
def test_the_heuristic_order_beats_nearest_neighbour_and_stays_near_the_best(
        rows: int, cols: int, seed: int, n: int) -> None:
    """Without the exact order (exact_up_to=0): nearest neighbour, 2-opt and or-opt, restarted. No published
    bound holds for these local searches; over 400 seeded lattices the worst was 4.9 % above the best (16 %
    without the restarts), so 15 % is asserted."""
    pos, edges = lattice(rows, cols, seed, 1.0)
    stops = on_edges(pos, edges, seed, n)
    result = clear_route(streets_of(pos, edges), stops_frame([p for _, _, p in stops]), exact_up_to=0)
    matrix = network_distances(pos, edges, stops, (0, 0))
    assert sorted(result.stops["stop_id"]) == [f"p{i}" for i in range(n)]
    best = best_open_path(matrix, list(range(1, n + 1)))
    assert result.stats["street_m"] <= result.stats["nearest_neighbour_m"] + 1e-6
    assert best - 1e-4 <= result.stats["street_m"] <= 1.15 * best + 1e-4


def two_streets(gap: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"street_name": ["a", "b"]},
                            geometry=[LineString([(X0, Y0), (X0 + 100, Y0)]),
                                      LineString([(X0 + 100 + gap, Y0), (X0 + 200 + gap, Y0)])], crs=CRS)


def test_streets_three_metres_apart_are_joined_at_five_not_at_one() -> None:
    stops = stops_frame([Point(X0 + 50, Y0), Point(X0 + 170, Y0 + 2)])
    joined = clear_route(two_streets(3.0), stops, join_tolerance_m=5.0)
    assert joined.joins == 1 and joined.stats["pieces"] == 1 and len(joined.unreachable) == 0
    assert joined.length_m == pytest.approx(50 + 50 + 3 + 67 + 2)  # along a, the 3 m join, along b, off 2 m
    apart = clear_route(two_streets(3.0), stops, join_tolerance_m=1.0)
    assert apart.joins == 0 and apart.stats["pieces"] == 2
    assert apart.stops["stop_id"].tolist() == ["p0"] and apart.unreachable["stop_id"].tolist() == ["p1"]
    assert "not connected" in apart.unreachable["reason"].iloc[0]
    assert build_street_graph(two_streets(3.0), join_tolerance_m=5.0).graph["joins"] == 1


def test_the_graph_nodes_crossings_and_keeps_lengths() -> None:
    cross = gpd.GeoDataFrame(geometry=[LineString([(X0, Y0), (X0 + 200, Y0)]),
                                       LineString([(X0 + 50, Y0 - 50), (X0 + 50, Y0 + 50)])], crs=CRS)
    g = build_street_graph(cross)
    assert g.number_of_nodes() == 5 and g.number_of_edges() == 4
    assert sorted(round(w, 9) for _, _, w in g.edges(data="weight")) == [50.0, 50.0, 50.0, 150.0]
    assert all(d["geometry"].length == pytest.approx(d["weight"]) for _, _, d in g.edges(data=True))
    assert g.graph["crs"].to_epsg() == 4546
    wgs = cross.to_crs(4326)  # any CRS in: the same graph in the metric CRS
    assert sorted(round(w, 4) for _, _, w in build_street_graph(wgs).edges(data="weight")) == [50.0, 50.0, 50.0, 150.0]


def test_a_given_start_and_stops_in_wgs84() -> None:
    streets = two_streets(0.0).to_crs(4326)
    stops = stops_frame([Point(X0 + 20, Y0), Point(X0 + 180, Y0)]).to_crs(4326)
    start = gpd.GeoSeries([Point(X0 + 200, Y0 + 7)], crs=CRS).to_crs(4326).iloc[0]
    r = clear_route(streets, stops, start=(start.x, start.y))
    assert r.stops["stop_id"].tolist() == ["p1", "p0"]
    assert r.length_m == pytest.approx(20 + 160, abs=1e-3)
    assert r.stats["start"] == "given" and r.stats["start_off_street_m"] == pytest.approx(7.0, abs=1e-3)
    assert r.stops.crs.to_epsg() == 4326 and r.stops["lon"].iloc[0] == pytest.approx(r.stops.geometry.x.iloc[0])
    assert r.stops["amap_url"].str.startswith("https://uri.amap.com/marker?position=").all()


def test_stops_without_a_position_are_listed_and_no_crs_is_refused() -> None:
    stops = gpd.GeoDataFrame({"stop_id": ["a", "b"], "kind": "x"}, geometry=[Point(X0 + 10, Y0), None], crs=CRS)
    r = clear_route(two_streets(0.0), stops)
    assert r.stops["stop_id"].tolist() == ["a"] and r.unreachable["stop_id"].tolist() == ["b"]
    assert "no position" in r.unreachable["reason"].iloc[0]
    with pytest.raises(CRSError, match="streets has no coordinate reference system"):
        build_street_graph(two_streets(0.0).set_crs(None, allow_override=True))
    with pytest.raises(SchemaError, match="join_tolerance_m"):
        build_street_graph(two_streets(0.0), join_tolerance_m=-1)
    with pytest.raises(SchemaError, match="no line"):
        clear_route(two_streets(0.0).iloc[:0], stops)


def test_the_callers_frames_are_not_changed() -> None:
    streets, stops = two_streets(3.0), stops_frame([Point(X0 + 50, Y0)])
    before = (streets.copy(), stops.copy())
    clear_route(streets, stops)
    pd.testing.assert_frame_equal(streets, before[0])
    pd.testing.assert_frame_equal(stops, before[1])


def test_stops_on_a_crossing_and_on_the_same_spot() -> None:
    cross = gpd.GeoDataFrame(geometry=[LineString([(X0, Y0), (X0 + 200, Y0)]),
                                       LineString([(X0 + 100, Y0 - 100), (X0 + 100, Y0 + 100)])], crs=CRS)
    stops = stops_frame([Point(X0 + 100, Y0), Point(X0 + 100, Y0 + 100), Point(X0 + 100, Y0 + 100),
                         Point(X0 + 200, Y0)])
    r = clear_route(cross, stops)
    # from the west end both arms must be reached: 100 to the crossing, one arm there and back (200), the other
    # (100): 400 m at best, whichever arm comes first; the two stops on one spot follow each other, 0 m apart
    assert r.length_m == pytest.approx(400.0) and sorted(r.stops["stop_id"]) == ["p0", "p1", "p2", "p3"]
    ids = r.stops["stop_id"].tolist()
    assert abs(ids.index("p1") - ids.index("p2")) == 1
    assert r.stops["leg_m"].iloc[max(ids.index("p1"), ids.index("p2"))] == pytest.approx(0.0, abs=1e-9)
