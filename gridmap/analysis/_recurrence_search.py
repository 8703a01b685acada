"""The two searches behind :mod:`gridmap.analysis.recurrence`, on plain arrays, without enumerating pairs.

Both must give exactly what the O(n²) definitions give (``tests/test_recurrence.py`` compares them with a
brute force), and their cost must not grow with the number of neighbours a report has: at a market or a dump
that keeps coming back, thousands of reports lie within a few hundred metres of each other, and listing every
pair within the radius (as a KD-tree's pair query does) costs millions of pairs.

Latest rectification (:func:`latest_rectifications`)
    The one qualifying rectification a report ``R`` recurs is the *latest* one before ``R`` that lies within
    the radius and the window. So, instead of listing every rectification within the radius, each report
    walks the rectifications near it from the newest before it backwards and stops at the first one within
    the radius. "Near" is a cell of a square grid of side ``4 r`` (a hair more): of two grids shifted by half a
    cell in each axis (four grids), one holds ``R``'s whole disk of radius ``r`` in one cell, so the walk only
    looks at that cell's rectifications, sorted by time. For reports spread evenly, a cell is about
    ``16 / π ≈ 5`` times the disk, so the walk stops after a handful of steps however many neighbours there
    are. All reports walk together (vectorised), in steps of 1, 1, 2, 4, ... rectifications, so the number of
    Python steps grows with the logarithm of the longest walk, never with the number of reports.

Connected components (:func:`linked_components`)
    As in grid-based DBSCAN (Gan & Tao, "DBSCAN revisited", SIGMOD 2015; Gunawan, 2013): cells of side
    ``r / √2`` (a hair less), so that all points of one cell are within ``r`` of each other and form one
    component. Two cells can only be linked when at most two cells apart in each axis (24 neighbours). A link
    is first tried cheaply between each cell's point nearest its centre; the pairs of cells still in
    different components are then decided exactly by a nearest-neighbour query (is the nearest point of the
    other cell within ``r`` of any of this cell's points?), so the cost depends on cells and points, never
    on pairs.

Distances are ``numpy.hypot`` of the metric coordinates compared with ``<= r``, as the reference does; the
grid and KD-tree only pre-select, with a relative margin of 1e-9 that the exact test then decides.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["latest_rectifications", "linked_components"]

_SLACK = 1.0 + 1e-9
_KEY_LIMIT = 2**62
Found = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


# ---------------------------------------------------------------------------------------------------------------
# cell keys
# ---------------------------------------------------------------------------------------------------------------


def _compress(values: np.ndarray) -> np.ndarray:
    """Renumber non-negative cell indices with gaps of 3 or more shortened to 3: neighbours (up to 2 apart) and
    non-neighbours stay what they were."""
    distinct, inverse = np.unique(values, return_inverse=True)
    steps = np.minimum(np.diff(distinct), 3)
    new = np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)
    return new[inverse]


def cell_keys(cat: np.ndarray, cx: np.ndarray, cy: np.ndarray, pad: int = 0) -> tuple[np.ndarray, int] | None:
    """One int64 key per (category, column, row), and the key step of one column; None when it cannot fit.

    ``cx``/``cy`` are non-negative; ``key + dx * step + dy`` is the key of the cell ``(dx, dy)`` away for
    ``|dx|, |dy| <= pad`` (columns and rows are padded so that this never reaches another category or column).
    """
    if len(cat) == 0:
        return np.empty(0, dtype=np.int64), 1
    ny = int(cy.max()) + 1 + 2 * pad
    nx = int(cx.max()) + 1 + 2 * pad
    if (int(cat.max()) + 1) * nx * ny >= _KEY_LIMIT:
        cx, cy = _compress(cx), _compress(cy)
        ny, nx = int(cy.max()) + 1 + 2 * pad, int(cx.max()) + 1 + 2 * pad
        if (int(cat.max()) + 1) * nx * ny >= _KEY_LIMIT:
            return None
    return (cat.astype(np.int64) * nx + (cx + pad)) * ny + (cy + pad), ny


def _segments(keys_sorted: np.ndarray) -> np.ndarray:
    """Start of each run of equal keys in a sorted array, and the end as the last element."""
    return np.concatenate([[0], np.flatnonzero(np.diff(keys_sorted)) + 1, [len(keys_sorted)]])


def _expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner row, offset 0..count-1) for every one of ``counts`` items per row."""
    owner = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, offset


def _hypot(xy: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.hypot(xy[a, 0] - xy[b, 0], xy[a, 1] - xy[b, 1])


# ---------------------------------------------------------------------------------------------------------------
# latest rectification
# ---------------------------------------------------------------------------------------------------------------


def _grid_cells(u: np.ndarray, side: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Cell index of each coordinate in the plain (0) and the half-shifted (1) grid, and which grid centres it."""
    cells = [np.floor(u / side).astype(np.int64), np.floor(u / side + 0.5).astype(np.int64)]
    off0 = np.abs(u / side - cells[0] - 0.5)
    off1 = np.abs(u / side + 0.5 - cells[1] - 0.5)
    return cells, (off1 < off0).astype(np.int64)


def _sorted_search(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """``np.searchsorted(haystack, needles)``, the needles taken in order (cache-friendly on large arrays)."""
    order = np.argsort(needles)
    out = np.empty(len(needles), dtype=np.int64)
    out[order] = np.searchsorted(haystack, needles[order])
    return out


def _event_index(xy: np.ndarray, cat: np.ndarray, ev_pos: np.ndarray, radius_m: float) -> dict | None:
    """Per grid, the rectifications sorted by (cell, time); per report, its grid and its cell key."""
    side = 4.0 * radius_m * (1.0 + 1e-6)
    u = xy - xy.min(axis=0)
    cols, gx = _grid_cells(u[:, 0], side)
    rows, gy = _grid_cells(u[:, 1], side)
    m = len(ev_pos)
    grid_of_report = 2 * gx + gy
    blocks_key, blocks_ev, report_key = [], [], np.zeros(len(xy), dtype=np.int64)
    report_found = np.zeros(len(xy), dtype=bool)
    for g in range(4):
        mine = np.flatnonzero(grid_of_report == g)
        keyed = cell_keys(np.concatenate([cat[ev_pos], cat[mine]]),
                          np.concatenate([cols[g // 2][ev_pos], cols[g // 2][mine]]),
                          np.concatenate([rows[g % 2][ev_pos], rows[g % 2][mine]]))
        if keyed is None:
            return None
        ev_keys, my_keys = keyed[0][:m], keyed[0][m:]
        by_key = np.argsort(ev_keys)
        seg = np.zeros(m, dtype=np.int64)
        seg[1:] = np.cumsum(np.diff(ev_keys[by_key]) != 0)
        # within a cell, by time: rectifications are numbered in time order, so (cell, number) is unique
        composite = np.empty(m, dtype=np.int64)
        composite[by_key] = seg * (m + 1) + by_key
        order = np.argsort(composite)
        sorted_keys = ev_keys[order]
        seg = composite[order] // (m + 1)
        at = np.minimum(_sorted_search(sorted_keys, my_keys), m - 1)
        report_found[mine] = sorted_keys[at] == my_keys
        report_key[mine] = (g * m + seg[at]) * (m + 1)
        blocks_key.append((g * m + seg) * (m + 1) + order)
        blocks_ev.append(order)
    return {"key": np.concatenate(blocks_key), "ev": np.concatenate(blocks_ev), "report_key": report_key,
            "report_found": report_found}


def _walk(xy: np.ndarray, index: dict, ev_pos: np.ndarray, lo: np.ndarray, hi: np.ndarray,
          radius_m: float) -> np.ndarray:
    """For every report, the position (in index order) of the newest rectification within the radius in its
    range ``[lo, hi)`` walked backwards, or -1."""
    found = np.full(len(lo), -1, dtype=np.int64)
    pending = np.flatnonzero(lo < hi)
    ptr = hi[pending]
    step = 1
    while len(pending):
        take = np.minimum(step, ptr - lo[pending])
        owner, offset = _expand(ptr, take)
        at = np.repeat(ptr, take) - 1 - offset
        near = _hypot(xy, pending[owner], ev_pos[index["ev"][at]]) <= radius_m
        hit_rows = np.flatnonzero(near)
        first = hit_rows[np.concatenate([[True], np.diff(owner[hit_rows]) != 0])] if len(hit_rows) else hit_rows
        found[pending[owner[first]]] = at[first]
        ptr = ptr - take
        go_on = (ptr > lo[pending]) & (found[pending] < 0)
        pending, ptr = pending[go_on], ptr[go_on]
        step = min(2 * step, 1 << 20)
    return found


def _break_ties(r: np.ndarray, p: np.ndarray, rect: np.ndarray, d: np.ndarray, t: np.ndarray,
                ids: np.ndarray) -> np.ndarray:
    """Index of the chosen candidate of each report (``r`` ascending) among several with the same (latest)
    rectification time: the nearest, then the latest reported, then the smallest report_id."""
    several = np.zeros(len(r), dtype=bool)
    several[1:] = r[1:] == r[:-1]
    several[:-1] |= several[1:]
    chosen = np.flatnonzero(~several)
    rows = np.flatnonzero(several)
    if len(rows) == 0:
        return chosen
    rr, pp = r[rows], p[rows]
    id_rank = np.argsort(np.argsort(ids[pp].astype(str), kind="stable"), kind="stable")
    order = np.lexsort((id_rank, -t[pp], d[rows], -rect[rows], rr))
    first = np.ones(len(order), dtype=bool)
    first[1:] = rr[order][1:] != rr[order][:-1]
    return np.sort(np.concatenate([chosen, rows[order[first]]]))


def _same_time_runs(ev_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each rectification (sorted by time), the first and one past the last index made at the same instant."""
    change = np.flatnonzero(np.diff(ev_t)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(ev_t)]])
    run = np.repeat(np.arange(len(starts)), np.diff(np.concatenate([starts, [len(ev_t)]])))
    return starts[run], ends[run]


def _ties(xy: np.ndarray, index: dict, ev_pos: np.ndarray, ev_t: np.ndarray, base: np.ndarray, reports: np.ndarray,
          hit: np.ndarray, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """The newest hit of every report, and every other rectification in its cell made at the same instant and
    within the radius: (report, rectification) rows."""
    first_same, end_same = _same_time_runs(ev_t)
    e_hit = index["ev"][hit]
    keys = index["key"]
    below = (hit > 0) & (keys[np.maximum(hit - 1, 0)] >= base + first_same[e_hit])
    above = (hit + 1 < len(keys)) & (keys[np.minimum(hit + 1, len(keys) - 1)] < base + end_same[e_hit])
    tied = np.flatnonzero(below | above)
    if len(tied) == 0:
        return reports, e_hit
    lo = np.searchsorted(keys, base[tied] + first_same[e_hit[tied]])
    hi = np.searchsorted(keys, base[tied] + end_same[e_hit[tied]])
    owner, offset = _expand(lo, hi - lo)
    e = index["ev"][lo[owner] + offset]
    near = _hypot(xy, reports[tied][owner], ev_pos[e]) <= radius_m
    alone = np.ones(len(reports), dtype=bool)
    alone[tied] = False
    return (np.concatenate([reports[alone], reports[tied][owner[near]]]),
            np.concatenate([e_hit[alone], e[near]]))


def latest_rectifications(xy: np.ndarray, t: np.ndarray, cat: np.ndarray, ids: np.ndarray, ev_pos: np.ndarray,
                          ev_t: np.ndarray, radius_m: float, window_ns: int) -> Found | None:
    """For every report that recurs: (report, earlier report, rectification time, distance), as the module of
    :mod:`gridmap.analysis.recurrence` defines them; None when the cells cannot be keyed (coordinates spread over
    more than 2⁶² cells), for the caller to use the pair search.

    ``ev_pos``/``ev_t`` are the usable rectifications (made after their own report) sorted by time.
    """
    empty = np.empty(0, dtype=np.int64)
    if len(ev_t) == 0 or len(t) == 0:
        return empty, empty, empty, np.empty(0, dtype=np.float64)
    index = _event_index(xy, cat, ev_pos, radius_m)
    if index is None:
        return None
    base = index["report_key"]
    by_time = np.argsort(t)
    newest, oldest = np.empty_like(base), np.empty_like(base)
    newest[by_time] = np.searchsorted(ev_t, t[by_time], side="left")  # rectifications strictly before the report
    reach = min(window_ns, max(int(t.max()) - int(ev_t.min()), 0) + 1)  # no int64 overflow for a huge window
    oldest[by_time] = np.searchsorted(ev_t, t[by_time] - reach, side="left")
    lo = np.where(index["report_found"], _sorted_search(index["key"], base + oldest), 0)
    hi = np.where(index["report_found"], _sorted_search(index["key"], base + newest), 0)
    hit = _walk(xy, index, ev_pos, lo, hi, radius_m)
    reports = np.flatnonzero(hit >= 0)
    r, e = _ties(xy, index, ev_pos, ev_t, base[reports], reports, hit[reports], radius_m)
    p, rect = ev_pos[e], ev_t[e]
    d = _hypot(xy, r, p)
    by_report = np.argsort(r, kind="stable")
    r, p, rect, d = r[by_report], p[by_report], rect[by_report], d[by_report]
    best = _break_ties(r, p, rect, d, t, ids) if len(r) > len(reports) else slice(None)
    return r[best], p[best], rect[best], d[best]


# ---------------------------------------------------------------------------------------------------------------
# connected components
# ---------------------------------------------------------------------------------------------------------------


#: Cell offsets (dx, dy) of the neighbours that can hold a point within r, one of each opposite pair.
_HALF_NEIGHBOURS = tuple((dx, dy) for dx in range(0, 3) for dy in range(-2, 3) if (dx, dy) > (0, 0))


def _cells(xy: np.ndarray, cat: np.ndarray, radius_m: float) -> dict | None:
    side = radius_m / math.sqrt(2.0) * (1.0 - 1e-9)
    u = xy - xy.min(axis=0)
    cx, cy = np.floor(u[:, 0] / side).astype(np.int64), np.floor(u[:, 1] / side).astype(np.int64)
    keyed = cell_keys(cat, cx, cy, pad=2)
    if keyed is None:
        return None
    keys, step = keyed
    order = np.argsort(keys)
    bounds = _segments(keys[order])
    starts, counts = bounds[:-1], np.diff(bounds)
    cell_of = np.empty(len(keys), dtype=np.int64)
    cell_of[order] = np.repeat(np.arange(len(starts)), counts)
    centre = np.column_stack([(cx + 0.5) * side, (cy + 0.5) * side])
    off = np.hypot(*(u - centre).T)[order]
    lowest = np.minimum.reduceat(off, starts)
    nearest = np.flatnonzero(off == np.repeat(lowest, counts))
    nearest = nearest[np.concatenate([[True], np.diff(cell_of[order][nearest]) != 0])]
    boxes = np.column_stack([np.minimum.reduceat(xy[order, k], starts) for k in (0, 1)]
                            + [np.maximum.reduceat(xy[order, k], starts) for k in (0, 1)])
    return {"keys": keys[order][starts], "step": step, "order": order, "starts": starts, "counts": counts,
            "cell_of": cell_of, "rep": order[nearest], "boxes": boxes}


def _neighbour_pairs(cells: dict) -> tuple[np.ndarray, np.ndarray]:
    keys = cells["keys"]
    a_all, b_all = [], []
    for dx, dy in _HALF_NEIGHBOURS:
        target = keys + dx * cells["step"] + dy
        at = np.minimum(np.searchsorted(keys, target), len(keys) - 1)
        hit = keys[at] == target
        a_all.append(np.flatnonzero(hit))
        b_all.append(at[hit])
    return np.concatenate(a_all), np.concatenate(b_all)


def _labels(n_cells: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_cells, n_cells))
    return connected_components(graph, directed=False)[1]


def _exact_links(xy: np.ndarray, cells: dict, a: np.ndarray, b: np.ndarray, radius_m: float) -> np.ndarray:
    """Which cell pairs (a, b) hold a point of a within radius of a point of b."""
    swap = cells["counts"][a] > cells["counts"][b]
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    pair, offset = _expand(cells["starts"][a], cells["counts"][a])
    q = cells["order"][cells["starts"][a][pair] + offset]
    box = cells["boxes"][b[pair]]
    gap = np.hypot(np.maximum(np.maximum(box[:, 0] - xy[q, 0], xy[q, 0] - box[:, 2]), 0.0),
                   np.maximum(np.maximum(box[:, 1] - xy[q, 1], xy[q, 1] - box[:, 3]), 0.0))
    close = gap <= radius_m * _SLACK
    pair, q = pair[close], q[close]
    linked = np.zeros(len(a), dtype=bool)
    if len(q) == 0:
        return linked
    targets = np.unique(b)
    members = np.flatnonzero(np.isin(cells["cell_of"], targets))
    lift = 4.0 * radius_m + 1.0
    origin = xy.min(axis=0)
    tree = cKDTree(np.column_stack([xy[members] - origin, cells["cell_of"][members] * lift]))
    dist, at = tree.query(np.column_stack([xy[q] - origin, b[pair] * lift]), k=1,
                          distance_upper_bound=radius_m * _SLACK)
    found = np.isfinite(dist)
    exact = np.zeros(len(q), dtype=bool)
    exact[found] = _hypot(xy, q[found], members[at[found]]) <= radius_m
    unsure = np.flatnonzero(found & ~exact)  # the nearest is a hair beyond r: look at every point that close
    for k in unsure:  # only points within 1e-9 of r: rare
        near = members[tree.query_ball_point([*(xy[q[k]] - origin), b[pair[k]] * lift], radius_m * _SLACK)]
        exact[k] = bool((_hypot(xy, np.full(len(near), q[k]), near) <= radius_m).any())
    linked[np.unique(pair[exact])] = True
    return linked


def linked_components(xy: np.ndarray, cat: np.ndarray, radius_m: float) -> np.ndarray | None:
    """Component label of each point: points linked by chains of steps of at most `radius_m`, within a category
    (``cat`` codes); None when the cells cannot be keyed (the caller then uses the pair search)."""
    if len(xy) == 0:
        return np.empty(0, dtype=np.int64)
    cells = _cells(xy, cat, radius_m)
    if cells is None:
        return None
    a, b = _neighbour_pairs(cells)
    cheap = _hypot(xy, cells["rep"][a], cells["rep"][b]) <= radius_m
    first = _labels(len(cells["keys"]), a[cheap], b[cheap])
    open_ = ~cheap & (first[a] != first[b])
    exact = _exact_links(xy, cells, a[open_], b[open_], radius_m)
    links = np.concatenate([np.flatnonzero(cheap), np.flatnonzero(open_)[exact]])
    labels = _labels(len(cells["keys"]), a[links], b[links])
    # number the components by their first point, as a component search over the points would
    lowest = np.full(int(labels.max()) + 1, len(xy), dtype=np.int64)
    np.minimum.at(lowest, labels, np.minimum.reduceat(cells["order"], cells["starts"]))
    rank = np.empty(len(lowest), dtype=np.int64)
    rank[np.argsort(lowest)] = np.arange(len(lowest))
    return rank[labels][cells["cell_of"]]
