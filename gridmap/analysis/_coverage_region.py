"""A region's cells on the lattice of :func:`gridmap.analysis.coverage.sweep_coverage`: its share of each cell.

Step 5 of the notes of :mod:`gridmap.analysis.coverage` ("Method"): cells
crossed by the grid's boundary are weighted by the share of the cell inside
the grid (the half-plane formula for one straight edge, shapely for a cell
holding a vertex).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


#: The union of boxes for :func:`_cells_polygon`: by disjoint subsets where shapely has it (2.1 and later).
_UNION = getattr(shapely, "disjoint_subset_union_all", shapely.union_all)


@dataclass
class _Weights:
    """Share of each cell inside the region, and the region's edge crossing each cell.

    ``edge`` is -1 for a cell no edge crosses, -2 for a cell crossed by several
    (it holds a vertex), else the number of its one edge ``a[k]→b[k]`` (the
    region on its left).
    """

    share: np.ndarray
    edge: np.ndarray
    a: np.ndarray
    b: np.ndarray


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``numpy.nonzero`` of a 2-D mask (rows, columns, in row-major order): the same arrays, from
    ``numpy.flatnonzero`` and one division, several times quicker for the small rasters of one grid."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _half_plane_share(s: np.ndarray, nx: np.ndarray, ny: np.ndarray, cell: float) -> np.ndarray:
    """Share of a square cell (side `cell`, centre 0) where ``n·u <= s``, n a unit vector.

    ``n·u`` for u uniform in the cell is the sum of two uniform variables on
    ``[-α, α]`` and ``[-β, β]`` (α = |nx|·cell/2 ≥ β = |ny|·cell/2 or swapped),
    whose density is a trapezoid; this is its CDF in closed form.
    """
    h = cell / 2.0
    alpha = np.maximum(np.abs(nx), np.abs(ny)) * h
    beta = np.minimum(np.abs(nx), np.abs(ny)) * h
    u = -np.abs(s)
    corner = (u + alpha + beta) ** 2 / (8.0 * alpha * np.maximum(beta, 1e-300))
    low = np.where(u <= -(alpha + beta), 0.0, np.where(u <= -(alpha - beta), corner, 0.5 + u / (2.0 * alpha)))
    return np.where(s <= 0, low, 1.0 - low)


def _region_weights(region: BaseGeometry, i0: int, j0: int, ni: int, nj: int, cell: float) -> _Weights:
    """Share of each cell inside `region`: centre test, then exact shares for cells its boundary crosses."""
    xs = (i0 + np.arange(ni) + 0.5) * cell
    ys = (j0 + np.arange(nj) + 0.5) * cell
    shapely.prepare(region)
    edges_a, edges_b = _ring_edges(region)
    crossing = np.full((nj, ni), -1, dtype=np.int64)
    if len(edges_a) == 0:
        return _Weights(np.zeros((nj, ni)), crossing, edges_a, edges_b)
    weight = _scanline_inside(edges_a, edges_b, i0, j0, ni, nj, cell)
    cells, edge = _crossed_cells(edges_a, edges_b, cell)
    cells -= np.array([i0, j0])
    ok = (cells[:, 0] >= 0) & (cells[:, 0] < ni) & (cells[:, 1] >= 0) & (cells[:, 1] < nj)
    cells, edge = np.compress(ok, cells, axis=0), edge[ok]
    key = cells[:, 1] * ni + cells[:, 0]
    order = np.lexsort((edge, key))
    key, edge = key[order], edge[order]
    first = np.concatenate(([True], key[1:] != key[:-1]))
    uniq = key[first]
    n_edges = np.add.reduceat(np.concatenate(([True], (key[1:] != key[:-1]) | (edge[1:] != edge[:-1]))).astype(int),
                              np.flatnonzero(first))
    one = n_edges == 1
    row, col = uniq // ni, uniq % ni
    weight[row[one], col[one]] = _edge_shares(edges_a[edge[first][one]], edges_b[edge[first][one]],
                                              xs[col[one]], ys[row[one]], cell)
    many = ~one
    boxes = shapely.box(xs[col[many]] - cell / 2, ys[row[many]] - cell / 2, xs[col[many]] + cell / 2,
                        ys[row[many]] + cell / 2)
    weight[row[many], col[many]] = shapely.area(shapely.intersection(boxes, region)) / cell ** 2
    crossing[row[one], col[one]] = edge[first][one]
    crossing[row[many], col[many]] = -2
    return _Weights(weight, crossing, edges_a, edges_b)


def _scanline_inside(a: np.ndarray, b: np.ndarray, i0: int, j0: int, ni: int, nj: int, cell: float) -> np.ndarray:
    """1.0 for cells whose centre is inside the rings (even-odd rule along each row of centres), else 0.0."""
    ya, yb = a[:, 1][None, :], b[:, 1][None, :]
    ys = ((j0 + np.arange(nj) + 0.5) * cell)[:, None]
    crosses = (ya <= ys) != (yb <= ys)  # half-open: a vertex on the row counts once
    row, edge = _nonzero(crosses)
    y = ys[row, 0]
    x = a[edge, 0] + (y - a[edge, 1]) * (b[edge, 0] - a[edge, 0]) / (b[edge, 1] - a[edge, 1])
    first_right = np.clip(np.ceil(x / cell - i0 - 0.5), 0, ni).astype(np.int64)  # first centre right of x
    toggles = np.bincount(row * (ni + 1) + first_right, minlength=nj * (ni + 1)).reshape(nj, ni + 1)
    # only the parity counts: the running exclusive-or of each count's lowest bit (of uint8, a byte a cell)
    return np.bitwise_xor.accumulate(toggles.astype(np.uint8) & 1, axis=1)[:, :ni].astype(np.float64)


def _ring_edges(region: BaseGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges of every ring, oriented so the region lies on their left."""
    oriented = shapely.orient_polygons(region, exterior_cw=False)
    polys = shapely.get_parts(oriented)
    polys = polys[shapely.get_type_id(polys) == 3]
    holes = int(shapely.get_num_interior_rings(polys).max(initial=0))
    rings = np.concatenate([shapely.get_exterior_ring(polys)]
                           + [shapely.get_interior_ring(polys, k) for k in range(holes)])
    rings = rings[~shapely.is_missing(rings)]
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    follow = ring[1:] == ring[:-1]
    return coords[:-1][follow], coords[1:][follow]


def _crossed_cells(a: np.ndarray, b: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Lattice cells (i, j) each edge passes through (sampled every cell/8), with the edge number; a cell may
    appear more than once for one edge (callers take the distinct pairs)."""
    steps = np.maximum(np.ceil(np.hypot(*(b - a).T) / (cell / 8.0)).astype(np.int64), 1)
    edge = np.repeat(np.arange(len(a)), steps + 1)
    first = np.repeat(np.cumsum(steps + 1) - (steps + 1), steps + 1)
    frac = ((np.arange(edge.size) - first) / np.repeat(steps, steps + 1))[:, None]
    pts = np.take(a, edge, axis=0) + np.take(b - a, edge, axis=0) * frac
    cells = np.floor(pts / cell).astype(np.int64)
    # an edge's points step through its cells in order: a cell is kept once per run of points in it
    new = np.concatenate(([True], (cells[1:, 0] != cells[:-1, 0]) | (cells[1:, 1] != cells[:-1, 1])
                          | (edge[1:] != edge[:-1])))
    return np.compress(new, cells, axis=0), edge[new]


def _edge_shares(a: np.ndarray, b: np.ndarray, cx: np.ndarray, cy: np.ndarray, cell: float) -> np.ndarray:
    """Share of each cell on the left of its one crossing edge a→b (the region's side)."""
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    nx, ny = -d[:, 1] / length, d[:, 0] / length  # left normal
    s = nx * (cx - a[:, 0]) + ny * (cy - a[:, 1])  # centre's signed distance, positive inside
    return _half_plane_share(s, nx, ny, cell)


def _cells_polygon(mask: np.ndarray, i0: int, j0: int, cell: float) -> BaseGeometry:
    """Union of the cells of `mask`: runs along each row, runs of the same columns in consecutive rows merged
    into one box, then the union of the boxes."""
    if not mask.any():
        return shapely.Polygon()
    nj, ni = mask.shape
    padded = np.zeros((nj, ni + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)
    srow, scol = _nonzero(step == 1)
    _, ecol = _nonzero(step == -1)  # same row order: runs alternate start, end
    order = np.lexsort((srow, ecol, scol))
    srow, scol, ecol = srow[order], scol[order], ecol[order]
    new = np.concatenate(([True], (scol[1:] != scol[:-1]) | (ecol[1:] != ecol[:-1]) | (srow[1:] != srow[:-1] + 1)))
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(srow)] - 1
    x0, x1 = (i0 + scol[first]) * cell, (i0 + ecol[first]) * cell
    # the boxes of separate dead corners never meet: united group by group (GEOS's disjoint-subset union), the
    # same ground as one union of all, in half the time for a grid with many corners
    return _UNION(shapely.box(x0, (j0 + srow[first]) * cell, x1, (j0 + srow[last] + 1) * cell))
