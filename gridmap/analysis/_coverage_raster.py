"""The covered share of each cell of one region's raster, for :func:`gridmap.analysis.coverage.sweep_coverage`.

Steps 1 to 4 of the notes of :mod:`gridmap.analysis.coverage` ("Method"): the
path pieces sampled onto the raster (each piece's sample cells made once per
run and cell size, :func:`_piece_samples`), cells decided from their distance
with a proven bound, band cells near enough the piece of their nearest sampled
cell decided as covered, the rest of the band along the edge of the covered
ground measured exactly (the nearest piece's tangent half-plane, or the union
of every reach where reaches meet or the grid's edge crosses the cell).
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from gridmap.analysis._coverage_region import (
    _cells_polygon,
    _half_plane_share,
    _nonzero,
    _region_weights,
    _Weights,
)
from gridmap.analysis._coverage_tracks import _Paths

logger = logging.getLogger("gridmap.analysis.coverage")  # the public module's logger: one name to configure

#: Most cells in one raster; larger grids get coarser cells (memory stays bounded per grid).
_MAX_CELLS = 16_000_000
#: Path pieces sampled at once (:func:`_piece_samples`), and the first points of every piece sampled together.
_SAMPLE_CHUNK = 65_536
_SAMPLE_ROUNDS = 4
#: Most cells in a raster whose nearest sampled cells are kept (two more integers a cell).
_MAX_NEAREST = 4_000_000
_SQRT2 = math.sqrt(2.0)
#: Two path pieces whose directions from a cell differ by more than this angle (cosine) meet in a corner there.
_MEET_COS = math.cos(math.radians(30.0))


@dataclass
class _Cover:
    """One region's raster: cell weights inside the region and covered shares, from lattice cell (i0, j0)."""

    region: BaseGeometry
    cell: float
    i0: int
    j0: int
    weight: np.ndarray  # share of each cell inside the region, 0..1
    covered: np.ndarray  # covered share of each cell, 0..1

    @property
    def area_m2(self) -> float:
        return float(shapely.area(self.region))

    @property
    def covered_m2(self) -> float:
        return min(float((self.weight * self.covered).sum()) * self.cell ** 2, self.area_m2)

    def uncovered_geometry(self) -> BaseGeometry:
        """Unreached ground (cells mostly uncovered), clipped to the region."""
        mask = (self.weight > 0) & (self.covered < 0.5)
        return shapely.intersection(_cells_polygon(mask, self.i0, self.j0, self.cell), self.region)


def _grid_cover(region: BaseGeometry, paths: _Paths, radius: float, cell: float) -> _Cover:
    """Covered share of every cell of `region`'s raster, from the path pieces near it only."""
    if shapely.is_empty(region):
        return _Cover(region, cell, 0, 0, np.zeros((0, 0)), np.zeros((0, 0)))
    cell, i0, j0, ni, nj, margin = _raster_frame(region, radius, cell)
    weights = _region_weights(region, i0, j0, ni, nj, cell)
    weight = weights.share
    covered = np.zeros((nj, ni))
    near = _near_segments(paths, *_frame_box(cell, i0, j0, ni, nj, margin))
    if near.size == 0:
        return _Cover(region, cell, i0, j0, weight, covered)
    samples = _Samples(paths, near, i0 - margin, j0 - margin, ni + 2 * margin, nj + 2 * margin, cell)
    # a sampled cell's centre is within cell/√2 of the path, and the path within cell/2 of a sample, so:
    inner, outer = radius - _SQRT2 * cell, radius + _SQRT2 * cell + cell / 2
    rest = weight > 0
    if inner >= 0:  # a sampled cell in the square of half-side h around a cell is within h·√2 cells of it
        near_sample = samples.in_square(margin, int(math.floor(inner / (_SQRT2 * cell) - 1e-9)))
        covered[rest & near_sample] = 1.0
        rest &= ~near_sample
    if not rest.any():
        return _Cover(region, cell, i0, j0, weight, covered)
    dist = samples.distance(rest, margin, outer)
    covered[rest & (dist <= inner)] = 1.0
    band = rest & (dist > inner) & (dist < outer)
    if band.any():
        sure = samples.surely_covered(band, margin, i0, j0, radius)
        covered[sure] = 1.0
        band &= ~sure
    if band.any():
        covered[band] = _band_cover(band, weights, paths, samples, region, i0, j0, radius, cell, margin)
    return _Cover(region, cell, i0, j0, weight, covered)


def _raster_frame(region: BaseGeometry, radius: float, cell: float) -> tuple[float, int, int, int, int, int]:
    """The raster of a non-empty `region`: cell size (coarsened for a huge region), first lattice cell (i0, j0),
    cells across (ni, nj), and the margin in cells around it within which path pieces are looked for."""
    x0, y0, x1, y1 = region.bounds
    cell = _cell_for(x1 - x0, y1 - y0, radius, cell)
    i0, j0 = math.floor(x0 / cell), math.floor(y0 / cell)
    ni, nj = max(math.ceil(x1 / cell) - i0, 1), max(math.ceil(y1 / cell) - j0, 1)
    return cell, i0, j0, ni, nj, math.ceil(radius / cell) + 4


def _frame_box(cell: float, i0: int, j0: int, ni: int, nj: int, margin: int) -> tuple[float, float, float, float]:
    return ((i0 - margin) * cell, (j0 - margin) * cell, (i0 + ni + margin) * cell, (j0 + nj + margin) * cell)


def _query_box(region: BaseGeometry, radius: float, cell: float) -> tuple[float, float, float, float] | None:
    """The box (x0, y0, x1, y1) from which :func:`_grid_cover` takes the path pieces of `region` (a piece whose
    box meets it); None for an empty region (it takes none)."""
    if shapely.is_empty(region):
        return None
    return _frame_box(*_raster_frame(region, radius, cell))


def _band_cover(band: np.ndarray, weights: _Weights, paths: _Paths, samples: "_Samples", region: BaseGeometry,
                i0: int, j0: int, radius: float, cell: float, margin: int) -> np.ndarray:
    """Covered share of the band cells: the nearest piece's half-plane, or the union where it is not enough.

    The union is taken where reaches facing different ways meet, and where the
    grid's edge and a reach's edge cross one cell (there the product of the
    cell's share inside the grid and its covered share is not the share of
    the cell both inside and covered).
    """
    rows, cols = _nonzero(band)
    px = (i0 + cols + 0.5) * cell
    py = (j0 + rows + 0.5) * cell
    # a cell's points lie within cell/√2 of its centre: farther pieces cannot reach it
    padded = np.zeros(samples.shape, dtype=bool)
    padded[rows + margin, cols + margin] = True
    pairs, dist, vx, vy = samples.pieces_within(px, py, padded, radius + cell / _SQRT2)
    shares, meet, pairs, facing = _band_shares(len(rows), pairs, dist, vx, vy, radius, cell)
    hard = meet | ((weights.share[band] < 1) & (shares > 0) & (shares < 1))
    if not hard.any():
        return shares
    number = np.full(len(rows), -1)
    number[hard] = np.arange(int(hard.sum()))
    keep = hard[pairs[0]]
    hard_pairs = np.stack([number[pairs[0][keep]], pairs[1][keep]])
    shares[hard] = _union_shares((rows[hard], cols[hard]), hard_pairs, paths, region, weights, i0, j0, radius, cell,
                                 tuple(v[keep] for v in facing))
    return shares


def _piece_samples(paths: _Paths, cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lattice cells (i, j) of points every ≤ `cell` along each path piece (both ends included), piece by
    piece, and where each piece's points start (one more at the end); made once per cell size and kept on
    `paths` (a point's cell does not depend on the region)."""
    known = paths.cache.get(("samples", cell))
    if known is not None:
        return known
    # contiguous columns: np.take copies a strided array whole before gathering from it
    ax, ay = np.ascontiguousarray(paths.a[:, 0]), np.ascontiguousarray(paths.a[:, 1])
    dx, dy = paths.b[:, 0] - ax, paths.b[:, 1] - ay
    steps = np.maximum(np.ceil(np.hypot(dx, dy) / cell).astype(np.int64), 1)
    start = np.r_[0, np.cumsum(steps + 1)]
    kind = _index_type(paths, cell)
    gi, gj = np.empty(start[-1], dtype=kind), np.empty(start[-1], dtype=kind)
    for k in range(_SAMPLE_ROUNDS):  # the k-th point of every piece that has one, all pieces at once
        which = np.flatnonzero(steps >= k) if k > 1 else slice(None)
        frac = k / _gathered(steps, which)
        at = _gathered(start[:-1], which)
        gi[at + k] = np.floor((_gathered(ax, which) + _gathered(dx, which) * frac) / cell)
        gj[at + k] = np.floor((_gathered(ay, which) + _gathered(dy, which) * frac) / cell)
    long = np.flatnonzero(steps >= _SAMPLE_ROUNDS)  # the further points of long pieces, a chunk at a time
    for first in range(0, len(long), _SAMPLE_CHUNK):
        piece = long[first:first + _SAMPLE_CHUNK]
        seg, at = _expand(start[piece] + _SAMPLE_ROUNDS, steps[piece] + 1 - _SAMPLE_ROUNDS)
        source = np.take(piece, seg)  # the piece of each point
        frac = (at - np.take(start, source)) / np.take(steps, source)
        gi[at] = np.floor((np.take(ax, source) + np.take(dx, source) * frac) / cell)
        gj[at] = np.floor((np.take(ay, source) + np.take(dy, source) * frac) / cell)
    paths.cache[("samples", cell)] = gi, gj, start
    return gi, gj, start


def _gathered(values: np.ndarray, which: np.ndarray | slice) -> np.ndarray:
    """``values[which]``: np.take for an index array (quicker than fancy indexing), the view for a slice."""
    return values[which] if isinstance(which, slice) else np.take(values, which)


def _index_type(paths: _Paths, cell: float) -> type:
    """int32 for the lattice cells of the path pieces when every one fits with room to spare (half the memory
    of int64, fewer fresh pages to touch), else int64."""
    if len(paths.a) == 0:
        return np.int64
    reach = float(np.maximum(-paths.lo.min(), paths.hi.max())) / cell  # the largest |coordinate|; NaN if any
    return np.int32 if reach < 2.0 ** 30 else np.int64  # NaN compares False: int64


def _expand(start: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the ranges ``[start[k], start[k] + counts[k])``: the range number k and the position, for every
    position of every range, in order."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.take(start - (np.cumsum(counts) - counts), owner) + np.arange(len(owner))


class _Samples:
    """Points every ≤ `cell` along the path pieces `near`, on a raster of ni × nj cells from lattice (i0, j0)."""

    def __init__(self, paths: _Paths, near: np.ndarray, i0: int, j0: int, ni: int, nj: int, cell: float) -> None:
        gi, gj, start = _piece_samples(paths, cell)
        seg, at = _expand(start[near], start[near + 1] - start[near])
        col, row = np.take(gi, at) - np.int64(i0), np.take(gj, at) - np.int64(j0)  # int64 whatever their type
        ok = (col.view(np.uint64) < ni) & (row.view(np.uint64) < nj)  # as unsigned, a negative one is huge
        self.flat, self.local = (row * ni + col)[ok], seg[ok]  # each sample's cell as a flat index: 1-D gathers
        self.near, self.paths = near, paths
        self.shape = (nj, ni)
        self.cell = cell
        self._occupied: np.ndarray | None = None
        self.nearest: list[tuple[int, int, np.ndarray]] = []
        self.box_of = np.zeros((0, 0), dtype=np.int32)  # set by distance

    @property
    def occupied(self) -> np.ndarray:
        """The cells of this raster holding a sample (made once, for :meth:`in_square` and :meth:`distance`)."""
        if self._occupied is None:
            occupied = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
            occupied[self.flat] = True
            self._occupied = occupied.reshape(self.shape)
        return self._occupied

    def in_square(self, margin: int, half: int) -> np.ndarray:
        """Cells of the region's raster (this raster less `margin` cells each side) with a sampled cell in the
        square of ``2·half + 1`` cells around them (a summed-area table of the sampled cells)."""
        nj, ni = self.shape[0] - 2 * margin, self.shape[1] - 2 * margin
        if half < 0:
            return np.zeros((nj, ni), dtype=bool)
        table = np.zeros((self.shape[0] + 1, self.shape[1] + 1), dtype=np.int32)
        table[1:, 1:] = self.occupied  # a sampled cell counts once
        table = table.cumsum(axis=0, dtype=np.int32).cumsum(axis=1, dtype=np.int32)
        lo, hi = margin - half, margin + half + 1
        count = (table[hi:hi + nj, hi:hi + ni] - table[lo:lo + nj, hi:hi + ni] - table[hi:hi + nj, lo:lo + ni]
                 + table[lo:lo + nj, lo:lo + ni])
        return count > 0

    def distance(self, wanted: np.ndarray, margin: int, limit: float) -> np.ndarray:
        """Distance from the centre of each cell of `wanted` (a mask of the region's raster, this raster less
        `margin` cells each side) to the nearest cell holding a sample: exact below `limit` metres, at least
        `limit` otherwise (a distance transform of the box around `wanted` grown by `limit` only, or of the
        boxes around its parts when they are far smaller: :func:`_transform_boxes`); inf off `wanted`. When
        the box around all of `wanted` has at most :data:`_MAX_NEAREST` cells, also which cell is nearest (for
        :meth:`surely_covered`)."""
        rows, cols = _nonzero(wanted)
        rows, cols = rows + margin, cols + margin
        grow = int(math.ceil(limit / self.cell)) + 1
        out = np.full(wanted.shape, np.inf)
        boxes, whole = _transform_boxes(rows, cols, grow, self.shape)
        self.nearest = []  # (first row, first column, SciPy's indices) of each box transformed
        self.box_of = np.full(wanted.shape, -1, dtype=np.int32)  # the box whose transform answered each cell
        for r0, r1, c0, c1, at in boxes:
            free = ~self.occupied[r0:r1, c0:c1]
            if free.all():
                continue
            nearest = ndimage.distance_transform_edt(free, sampling=self.cell, return_distances=False,
                                                     return_indices=True)
            rr, cc = (rows, cols) if at is None else (rows[at], cols[at])
            out[rr - margin, cc - margin] = _feature_distance(nearest, rr - r0, cc - c0, self.cell)
            if whole <= _MAX_NEAREST:
                self.box_of[rr - margin, cc - margin] = len(self.nearest)
                self.nearest.append((r0, c0, nearest))
        return out

    def surely_covered(self, band: np.ndarray, margin: int, i0: int, j0: int, radius: float) -> np.ndarray:
        """The cells of `band` (a mask of the region's raster, lattice cell (i0, j0) first) wholly within
        `radius` of a path piece holding a sample in the cell nearest them (:meth:`distance`): their
        distance to the path is at most that to this piece, so they are covered, as the exact step would
        find them (a cell within ``radius − cell·√2/2`` of its nearest piece is inside that piece's
        tangent half-plane, share 1, and no union is taken for it). Deciding them here spares that step."""
        out = np.zeros(band.shape, dtype=bool)
        if not self.nearest:
            return out
        piece = np.full(self.shape[0] * self.shape[1], -1, dtype=np.int64)
        piece[self.flat] = self.local  # one piece of each sampled cell (the last one given)
        piece = piece.reshape(self.shape)
        rows, cols = _nonzero(band)  # every one has a box: its distance is below the limit
        at = np.empty((2, len(rows)), dtype=np.int64)
        box = self.box_of[rows, cols] if len(self.nearest) > 1 else None
        for k, (r0, c0, nearest) in enumerate(self.nearest):
            mine = slice(None) if box is None else np.flatnonzero(box == k)
            at[:, mine] = nearest[:, rows[mine] + margin - r0, cols[mine] + margin - c0] + np.array([[r0], [c0]])
        seg = self.near[piece[at[0], at[1]]]
        vx, vy = _offsets((i0 + cols + 0.5) * self.cell, (j0 + rows + 0.5) * self.cell,
                          np.take(self.paths.a, seg, axis=0), np.take(self.paths.b, seg, axis=0))
        out[rows, cols] = np.hypot(vx, vy) <= radius - self.cell / _SQRT2
        return out

    def pieces_within(self, px: np.ndarray, py: np.ndarray, band: np.ndarray,
                      reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every (point, path piece) with the piece within `reach` of the point (px, py) of a cell of `band` (on
        this raster), ordered by point; with their distance and the vector from the piece's
        nearest point.

        A piece within `reach` of a cell's centre has a sample within ``reach + cell/2`` of it (samples are at
        most `cell` apart along the piece), in a cell whose centre is within another ``cell·√2/2``: only the
        pieces with a sample that near a band cell are indexed (shapely ``STRtree`` of their boxes), the
        pieces whose box meets the square of half-side `reach` around a point are its candidates, and their
        exact distance (:func:`_offsets`) decides.
        """
        far = reach + self.cell / 2 + self.cell / _SQRT2 + self.cell / 100  # a hundredth of a cell for rounding
        held = np.zeros(len(self.near), dtype=bool)
        held[self.local[np.take(_near_mask(band, far / self.cell, self.occupied).ravel(), self.flat)]] = True
        local = np.flatnonzero(held)  # in order, once each
        piece = self.near[local]
        # only boxes count (no predicate): a diagonal of each box is a cheaper geometry with that box
        lo, hi = np.take(self.paths.lo, piece, axis=0), np.take(self.paths.hi, piece, axis=0)
        tree = shapely.STRtree(_diagonals(lo, hi))
        corner = np.column_stack([px, py])
        point, found = tree.query(_diagonals(corner - reach, corner + reach))
        vx, vy = _offsets_of(px, py, point, np.take(self.paths.a, piece, axis=0), np.take(self.paths.b, piece, axis=0),
                             found)
        ok = vx * vx + vy * vy <= reach * reach
        point, found, vx, vy = point[ok], found[ok], vx[ok], vy[ok]
        if len(point) > 1 and (np.diff(point) < 0).any():
            order = np.argsort(point, kind="stable")
            point, found, vx, vy = point[order], found[order], vx[order], vy[order]
        return np.stack([point, piece[found]]), np.hypot(vx, vy), vx, vy


def _diagonals(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Lines from ``lo[k]`` to ``hi[k]`` (n × 2 each): what ``shapely.linestrings`` makes of them, built from one
    flat array of coordinates and their offsets (``shapely.from_ragged_array``), a fifth quicker for many."""
    coords = np.empty((2 * len(lo), 2))
    coords[0::2], coords[1::2] = lo, hi
    return shapely.from_ragged_array(shapely.GeometryType.LINESTRING, coords, (np.arange(0, 2 * len(lo) + 1, 2),))


#: Cells of a region's raster per side of the squares in which :func:`_transform_boxes` groups the wanted cells,
#: in units of the growth (the distance limit in cells).
_BOX_TILE = 3


def _transform_boxes(rows: np.ndarray, cols: np.ndarray, grow: int,
                     shape: tuple[int, int]) -> tuple[list[tuple[int, int, int, int, np.ndarray | None]], int]:
    """The boxes (r0, r1, c0, c1, which cells) to distance-transform for the cells (rows, cols) of a raster of
    `shape`, each box grown by `grow` cells around its cells, and the size of the one box around them all.

    One box around them all, unless the cells lie in a few far-apart clusters (a grid nearly all covered):
    then the cells in each square of ``_BOX_TILE · grow`` cells get their own box when these boxes add up to
    at most half of the one box. A cell's distance below the limit is found all the same (its box holds
    every cell within `grow` of it), in a transform of fewer cells."""
    r0, c0 = max(int(rows.min()) - grow, 0), max(int(cols.min()) - grow, 0)
    r1, c1 = min(int(rows.max()) + grow + 1, shape[0]), min(int(cols.max()) + grow + 1, shape[1])
    whole = (r1 - r0) * (c1 - c0)
    one: list[tuple[int, int, int, int, np.ndarray | None]] = [(r0, r1, c0, c1, None)]
    side = _BOX_TILE * grow
    key = (rows // side) * (shape[1] // side + 1) + cols // side
    order = np.argsort(key, kind="stable")
    first = np.flatnonzero(np.diff(np.take(key, order), prepend=-1))
    if len(first) < 2:
        return one, whole
    lo_r, hi_r = (f.reduceat(np.take(rows, order), first) for f in (np.minimum, np.maximum))
    lo_c, hi_c = (f.reduceat(np.take(cols, order), first) for f in (np.minimum, np.maximum))
    lo_r, lo_c = np.maximum(lo_r - grow, 0), np.maximum(lo_c - grow, 0)
    hi_r, hi_c = np.minimum(hi_r + grow + 1, shape[0]), np.minimum(hi_c + grow + 1, shape[1])
    if int(((hi_r - lo_r) * (hi_c - lo_c)).sum()) * 2 > whole:
        return one, whole
    parts = np.split(order, first[1:])
    return [(int(a), int(b), int(c), int(d), at) for a, b, c, d, at in zip(lo_r, hi_r, lo_c, hi_c, parts)], whole


def _feature_distance(nearest: np.ndarray, rows: np.ndarray, cols: np.ndarray, cell: float) -> np.ndarray:
    """Distance from cells (rows, cols) to their nearest feature cell `nearest[:, rows, cols]` (the indices of
    :func:`scipy.ndimage.distance_transform_edt`), for these cells only: the same arithmetic as SciPy's
    distances (offsets in cells as float64, times `cell`, squared, summed, square root), so the same numbers."""
    dr = (nearest[0, rows, cols] - rows).astype(np.float64) * cell
    dc = (nearest[1, rows, cols] - cols).astype(np.float64) * cell
    return np.sqrt(dr * dr + dc * dc)


def _near_mask(mask: np.ndarray, limit: float, where: np.ndarray) -> np.ndarray:
    """The cells of `where` whose centre is within `limit` cells of the centre of a cell of `mask` (a distance
    transform of the box around `mask` grown by `limit` only, its distances taken at the cells of `where`
    alone: :func:`_feature_distance`, SciPy's own arithmetic); False elsewhere."""
    rows, cols = _nonzero(mask)
    out = np.zeros(mask.shape, dtype=bool)
    if len(rows) == 0:
        return out
    grow = int(math.ceil(limit))
    r0, c0 = max(int(rows.min()) - grow, 0), max(int(cols.min()) - grow, 0)
    r1, c1 = min(int(rows.max()) + grow + 1, mask.shape[0]), min(int(cols.max()) + grow + 1, mask.shape[1])
    nearest = ndimage.distance_transform_edt(~mask[r0:r1, c0:c1], return_distances=False, return_indices=True)
    r, c = _nonzero(where[r0:r1, c0:c1])
    out[r + r0, c + c0] = _feature_distance(nearest, r, c, 1.0) <= limit  # in cells: SciPy multiplies by nothing
    return out


def _cell_for(width: float, height: float, radius: float, cell: float) -> float:
    """Coarsen the cell for a huge region so its raster stays under _MAX_CELLS."""
    cells = (width / cell + 2 * radius / cell + 10) * (height / cell + 2 * radius / cell + 10)
    if cells <= _MAX_CELLS:
        return cell
    coarse = cell * math.sqrt(cells / _MAX_CELLS) * 1.01
    logger.info("region of %.0f m x %.0f m: cells of %.2f m instead of %.2f m to bound memory",
                width, height, coarse, cell)
    return coarse


def _near_segments(paths: _Paths, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The path pieces whose box meets the box (x0, y0, x1, y1), in order. Pieces in the canonical order start
    at growing x, and none spans more than the widest piece across: only those starting within that of the
    box are looked at."""
    first, last = 0, len(paths.a)
    widest = _widest(paths)
    lox, loy, hix, hiy = _box_columns(paths)
    if widest is not None:
        first = int(np.searchsorted(paths.a[:, 0], x0 - widest, side="left"))
        last = int(np.searchsorted(paths.a[:, 0], x1 + widest, side="right"))
    at = slice(first, last)
    return first + np.flatnonzero((lox[at] <= x1) & (hix[at] >= x0) & (loy[at] <= y1) & (hiy[at] >= y0))


def _box_columns(paths: _Paths) -> tuple[np.ndarray, ...]:
    """The pieces' boxes' x0, y0, x1, y1 as contiguous columns, made once per run and kept on `paths` (the
    comparisons of each grid run three times quicker on them than on the strided columns of (n, 2) arrays)."""
    if "box columns" not in paths.cache:
        columns = (paths.lo[:, 0], paths.lo[:, 1], paths.hi[:, 0], paths.hi[:, 1])
        paths.cache["box columns"] = tuple(np.ascontiguousarray(c) for c in columns)
    return paths.cache["box columns"]


def _widest(paths: _Paths) -> float | None:
    """The widest piece across (x), when the pieces start at growing x (no NaN); else None (kept on `paths`)."""
    if "widest" not in paths.cache:
        ax = paths.a[:, 0]
        ordered = len(ax) > 0 and bool(np.all(ax[1:] >= ax[:-1]))
        width = paths.hi[:, 0] - paths.lo[:, 0]
        width = width[np.isfinite(width)]  # a piece with a NaN end meets no box
        widest = float(width.max()) if len(width) else 0.0
        paths.cache["widest"] = widest * (1 + 1e-9) + 1e-6 if ordered else None  # a hair more for rounding
    return paths.cache["widest"]


def _band_shares(n: int, pairs: np.ndarray, dist: np.ndarray, vx: np.ndarray, vy: np.ndarray, radius: float,
                 cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Covered share of `n` band cells from the tangent half-plane of their nearest path piece.

    `pairs` holds (cell, piece) for every piece within ``radius + cell·√2/2`` of a cell's centre, ordered by
    cell, with the distance and the vector (vx, vy) from the piece to the centre. Returns the shares, a mask
    of the cells where path pieces facing other ways also reach into the cell (two reaches meet there, so
    the union is not one half-plane), the (cell, piece) pairs of every piece reaching the cell, and their
    distance and unit vector (dist, nx, ny).
    A piece's tangent half-plane holds its whole reach (the distance to a
    convex set is a convex function: Boyd and Vandenberghe, *Convex
    Optimization*, 2004, §3.2.5), so a piece whose half-plane misses the cell
    cannot reach it.
    """
    cell_of = pairs[0]
    nx, ny = _normal(dist, vx, vy)
    share = _half_plane_share(radius - dist, nx, ny, cell)
    out, meet = np.zeros(n), np.zeros(n, dtype=bool)
    if len(cell_of) == 0:
        return out, meet, pairs, (dist, nx, ny)
    first = np.concatenate(([True], cell_of[1:] != cell_of[:-1]))
    group = np.cumsum(first) - 1
    lowest = np.minimum.reduceat(dist, np.flatnonzero(first))
    at = np.flatnonzero(dist == lowest[group])
    nearest = at[np.concatenate(([True], group[at][1:] != group[at][:-1]))]  # the first nearest piece of each cell
    out[cell_of[nearest]] = share[nearest]
    facing = nx * nx[nearest][group] + ny * ny[nearest][group]
    other = (share > 0) & (facing < _MEET_COS) & (share[nearest][group] < 1)
    meet[cell_of[other]] = True
    reach = share > 0
    return out, meet, np.compress(reach, pairs, axis=1), (dist[reach], nx[reach], ny[reach])


def _piece_geometries(paths: _Paths, pieces: np.ndarray) -> np.ndarray:
    """Shapely geometries of path pieces: a point for an isolated fix, else a 2-point line."""
    a, b = paths.a[pieces], paths.b[pieces]
    geoms = shapely.linestrings(np.stack([a, b], axis=1))
    point = np.flatnonzero(np.all(a == b, axis=1))
    geoms[point] = shapely.points(a[point])
    return geoms


def _offsets(px: np.ndarray, py: np.ndarray, sa: np.ndarray, sb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vector from the nearest point of each segment sa→sb to its point (px, py)."""
    d = sb - sa
    length2 = (d ** 2).sum(axis=1)
    t = np.clip(((px - sa[:, 0]) * d[:, 0] + (py - sa[:, 1]) * d[:, 1]) / np.where(length2 > 0, length2, 1.0), 0, 1)
    return px - (sa[:, 0] + t * d[:, 0]), py - (sa[:, 1] + t * d[:, 1])


def _offsets_of(px: np.ndarray, py: np.ndarray, point: np.ndarray, sa: np.ndarray, sb: np.ndarray,
                found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_offsets` of the points ``point`` and the segments ``found`` (pairs), each segment's direction
    and squared length made once (the same numbers)."""
    d = sb - sa
    length2 = (d ** 2).sum(axis=1)
    safe = np.where(length2 > 0, length2, 1.0)
    qx, qy = np.take(px, point), np.take(py, point)  # np.take: the same values as px[point], quicker
    ax, ay, dx, dy = (v[found] for v in (sa[:, 0], sa[:, 1], d[:, 0], d[:, 1]))  # strided: np.take would copy
    t = np.clip(((qx - ax) * dx + (qy - ay) * dy) / np.take(safe, found), 0, 1)
    return qx - (ax + t * dx), qy - (ay + t * dy)


def _normal(dist: np.ndarray, vx: np.ndarray, vy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unit vector of (vx, vy) of length `dist`; (1, 0) for a point on its segment."""
    safe = np.where(dist > 0, dist, 1.0)
    return np.where(dist > 0, vx / safe, 1.0), np.where(dist > 0, vy / safe, 0.0)


def _distance_and_normal(px: np.ndarray, py: np.ndarray, sa: np.ndarray,
                         sb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance from each point to its segment sa→sb, and the unit vector from the segment's nearest point."""
    vx, vy = _offsets(px, py, sa, sb)
    dist = np.hypot(vx, vy)
    return (dist, *_normal(dist, vx, vy))


def _union_shares(cells: tuple[np.ndarray, np.ndarray], pairs: np.ndarray, paths: _Paths, region: BaseGeometry,
                  weights: _Weights, i0: int, j0: int, radius: float, cell: float,
                  facing: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """Covered share (of the part inside the region) of `cells`: the union of all reaches into each cell.

    Each piece's reach is replaced by its tangent half-plane at the cell (as
    for one piece), the grid's edge crossing the cell is a half-plane too, and
    the uncovered part, cell ∩ grid ∩ ⋂ (complements of the reaches), is a
    convex polygon whose area is exact (its vertices are the feasible
    intersections of the lines, in angular order, by the shoelace formula).
    Pieces facing nearly the same way (within 360°/64) are represented by the
    one reaching farthest. Cells holding a vertex of the grid are measured by
    :func:`_exact_shares` (shapely). `facing` holds each pair's distance and unit vector (dist, nx, ny) when
    already known (:func:`_band_shares`).
    """
    rows, cols = cells
    cell_of, piece = pairs
    out = np.zeros(len(rows))
    px = (i0 + cols + 0.5) * cell
    py = (j0 + rows + 0.5) * cell
    if facing is None:
        facing = _distance_and_normal(px[cell_of], py[cell_of], paths.a[piece], paths.b[piece])
    dist, nx, ny = facing
    direction = np.floor((np.arctan2(ny, nx) + math.pi) / (2 * math.pi) * 64).astype(np.int64) % 64
    order = np.lexsort((dist, cell_of * 64 + direction))  # by cell, direction (0..63), distance: two keys, quicker
    cell_of, dist, nx, ny, direction = (v[order] for v in (cell_of, dist, nx, ny, direction))
    keep = np.concatenate(([True], (cell_of[1:] != cell_of[:-1]) | (direction[1:] != direction[:-1])))
    cell_of, dist, nx, ny = cell_of[keep], dist[keep], nx[keep], ny[keep]
    first = np.concatenate(([True], cell_of[1:] != cell_of[:-1]))
    rank = np.arange(len(cell_of)) - np.flatnonzero(first)[np.cumsum(first) - 1]
    width = int(rank.max()) + 1 if len(rank) else 0
    h = cell / 2.0
    # lines n·u <= s in cell coordinates u (centre 0): the 4 sides, the grid's edge, the reaches' complements
    lines = np.zeros((len(rows), 5 + width, 3))
    lines[:, :, 2] = 1.0  # 0·u <= 1: no constraint
    lines[:, :4] = [[1, 0, h], [-1, 0, h], [0, 1, h], [0, -1, h]]
    edge = weights.edge[rows, cols]
    one = edge >= 0
    if one.any():
        ea, eb = weights.a[edge[one]], weights.b[edge[one]]
        d = eb - ea
        length = np.hypot(d[:, 0], d[:, 1])
        mx, my = -d[:, 1] / length, d[:, 0] / length  # left normal, into the region
        lines[one, 4] = np.column_stack([-mx, -my, mx * (px[one] - ea[:, 0]) + my * (py[one] - ea[:, 1])])
    lines[cell_of, 5 + rank] = np.column_stack([-nx, -ny, dist - radius])
    part = weights.share[rows, cols]
    if width:
        count = np.bincount(cell_of, minlength=len(rows))
        uncovered = np.zeros(len(rows))
        low, most = 0, int(count.max())
        square = h if np.isfinite(lines).all() else None  # the first four lines are the cell's sides (see above)
        for top in (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, width):  # cells with few lines don't pay for many
            if low >= most:  # no cell has more lines than the sizes done
                break
            take = np.flatnonzero((count > low) & (count <= top))
            if len(take):
                uncovered[take] = _convex_area(lines[take, :5 + top], square)
            low = max(low, top)
        out = np.clip(1.0 - uncovered / (np.maximum(part, 1e-12) * cell ** 2), 0.0, 1.0)
    many = edge == -2
    if many.any():
        index = np.full(len(rows), -1)
        index[many] = np.arange(int(many.sum()))
        sub = index[pairs[0]] >= 0
        out[many] = _exact_shares((rows[many], cols[many]), np.stack([index[pairs[0][sub]], pairs[1][sub]]),
                                  paths, region, weights.share, i0, j0, radius, cell)
    return out


def _convex_area(lines: np.ndarray, half: float | None = None) -> np.ndarray:
    """Area of each polygon {u : n·u <= s for every line (nx, ny, s)}, bounded (the lines include a square).

    The vertices are the crossings of two lines that satisfy every line; in
    angular order about their mean they bound the convex polygon, whose area is
    the shoelace (surveyor's) formula, ``½ |Σ x_k y_{k+1} − x_{k+1} y_k|``
    (Braden, "The Surveyor's Area Formula", *College Math. J.* 17(4), 1986).
    Only the feasible crossings are ordered (all polygons' together). `half`: see :func:`_inside_sides`.
    """
    p, q = _pairs_of(lines.shape[1])
    a, b = np.take(lines, p, axis=1), np.take(lines, q, axis=1)  # np.take: the same rows, quicker
    det = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    ok = np.abs(det) > 1e-12
    safe = np.where(ok, det, 1.0)
    x = (a[..., 2] * b[..., 1] - a[..., 1] * b[..., 2]) / safe
    y = (a[..., 0] * b[..., 2] - a[..., 2] * b[..., 0]) / safe
    if half is None:
        tol = 1e-9 * np.abs(lines[:, :4, 2]).max(axis=1)[:, None]
    else:  # the same number for every cell
        tol = np.full((len(lines), 1), 1e-9 * half)
    ok &= _inside_sides(lines, x, y, tol, half)  # the cell's sides first; the other lines only for the crossings inside
    at = np.flatnonzero(ok)
    cell = at // ok.shape[1]
    rest = lines[cell, 4:]
    vx, vy = np.take(x, at), np.take(y, at)
    keep = ((rest[..., 0] * vx[:, None] + rest[..., 1] * vy[:, None] - rest[..., 2]) <= tol[cell]).all(axis=1)
    cell, vx, vy = cell[keep], vx[keep], vy[keep]
    n = len(lines)
    count = np.bincount(cell, minlength=n)
    cx = np.bincount(cell, weights=vx, minlength=n) / np.maximum(count, 1)
    cy = np.bincount(cell, weights=vy, minlength=n) / np.maximum(count, 1)
    order = np.lexsort((np.arctan2(vy - cy[cell], vx - cx[cell]), cell))
    cell, vx, vy = cell[order], vx[order], vy[order]
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    after = np.arange(len(cell)) + 1  # the next vertex of the same polygon, the first after the last
    last = start + count - 1
    after[last[count > 0]] = start[count > 0]
    cross = vx * vy[after] - vx[after] * vy
    area = np.zeros(n)
    np.add.at(area, cell, cross)
    return np.where(count >= 3, 0.5 * np.abs(area), 0.0)


def _inside_sides(lines: np.ndarray, x: np.ndarray, y: np.ndarray, tol: np.ndarray,
                  half: float | None) -> np.ndarray:
    """Whether each crossing (x, y) (cells × pairs) satisfies the first four lines of its cell, ``n·u − s <= tol``.

    With `half` given, those lines are the sides of the square of half-side `half` centred at 0 in every cell
    and every line is finite (:func:`_union_shares` makes them so): then ``1·x + 0·y − h`` is ``x − h`` to the
    last bit (``0·y`` is a zero, adding it changes nothing; the crossings are finite), and so on for the other
    sides, and every cell's tol is ``1e-9·h``: the same answers from one subtraction per side."""
    if half is not None:
        limit = 1e-9 * half
        return (x - half <= limit) & (-x - half <= limit) & (y - half <= limit) & (-y - half <= limit)
    ok = np.ones(x.shape, dtype=bool)
    for k in range(4):
        ok &= lines[:, k, 0][:, None] * x + lines[:, k, 1][:, None] * y - lines[:, k, 2][:, None] <= tol
    return ok


@functools.lru_cache(maxsize=None)
def _pairs_of(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (p, q) of 0 <= p < q < n (``numpy.triu_indices``, made once for each n)."""
    return np.triu_indices(n, 1)


def _exact_shares(cells: tuple[np.ndarray, np.ndarray], pairs: np.ndarray, paths: _Paths, region: BaseGeometry,
                  weight: np.ndarray, i0: int, j0: int, radius: float, cell: float) -> np.ndarray:
    """Covered share (of the part inside `region`) of `cells` (rows, cols), exactly, from the union of reaches.

    `pairs` holds (cell number, path piece) for every piece that may reach a
    cell; each cell's share is the area of cell ∩ region ∩ ⋃ buffer(piece)
    (shapely, 16 segments per quarter circle: at most 0.04 m of an arc is missed).
    """
    rows, cols = cells
    x = (i0 + cols) * cell
    y = (j0 + rows) * cell
    boxes = shapely.box(x, y, x + cell, y + cell)
    w = weight[rows, cols]
    part = boxes.copy()
    cut = w < 1
    if cut.any():
        part[cut] = shapely.intersection(boxes[cut], region)
    cell_of, piece = pairs
    if len(piece) == 0:
        return np.zeros(len(rows))
    uniq, inverse = np.unique(piece, return_inverse=True)
    reach = shapely.buffer(_piece_geometries(paths, uniq), radius, quad_segs=16)
    pieces = shapely.intersection(reach[inverse], part[cell_of])
    order = np.argsort(cell_of, kind="stable")
    cell_of, pieces = cell_of[order], pieces[order]
    first = np.concatenate(([True], cell_of[1:] != cell_of[:-1]))
    rank = np.arange(len(cell_of)) - np.flatnonzero(first)[np.cumsum(first) - 1]
    table = np.full((len(rows), int(rank.max()) + 1), None, dtype=object)
    table[cell_of, rank] = pieces
    area = shapely.area(shapely.union_all(table, axis=1))
    return np.clip(area / (np.maximum(w, 1e-12) * cell ** 2), 0.0, 1.0)
