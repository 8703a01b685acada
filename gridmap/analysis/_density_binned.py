"""The binned estimate of :func:`gridmap.analysis.density.kde`: moment binning, FFT, error bound, repair.

The method and its sources are in the notes of :mod:`gridmap.analysis.density`
("Method", *Binned estimate*); the kernel tables and the error bound's derivation are in
:mod:`~gridmap.analysis._density_tables`.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy import fft as sp_fft

from gridmap.analysis._density_kernels import (
    GAUSS_SUPPORT_SIGMAS,
    _kernel_at,
    _reach,
)
from gridmap.analysis._density_tables import MOMENTS, moment_tables, uniform_bound

logger = logging.getLogger("gridmap.analysis.density")  # the public module's logger: one name to configure

#: The accuracy promised: max relative error against the exact sum at cell centres...
_TARGET_RELATIVE_ERROR = 0.005
#: ... where the density exceeds this share of its peak.
_PEAK_SHARE = 0.01
#: Margin kept below the target by the error bound (floating point).
_SAFETY = 0.9
#: Share of the target the bound may take for evenly spread points when choosing the sub-cells.
_UNIFORM_SHARE = 0.5
#: Most sub-cells per cell side (odd) when the bandwidth spans few cells.
_MAX_SUBCELLS = 7


# -- the choice of sub-cells ----------------------------------------------------------------------------------------


def _subcells(kernel: str, bandwidth: float, cell: float) -> int | None:
    """Fewest (odd) sub-cells per cell side whose error bound for evenly spread points is well within the target.

    None when even :data:`_MAX_SUBCELLS` are not enough: then the kernel is summed exactly.
    """
    reach = _reach(kernel, bandwidth, GAUSS_SUPPORT_SIGMAS)
    for sub in range(1, _MAX_SUBCELLS + 1, 2):
        h = cell / sub
        if uniform_bound(kernel, bandwidth / h, int(math.ceil(reach / h))) <= _UNIFORM_SHARE * _TARGET_RELATIVE_ERROR:
            return sub
    return None


# -- the binned FFT estimate ---------------------------------------------------------------------------------------


def _binned_density(xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float, cell: float, sub: int, pad: int,
                    *, x0: float, y1: float, shape: tuple[int, int], budget: float) -> np.ndarray:
    """Binned estimate per m² at the cell centres; cells its error bound cannot vouch for summed exactly."""
    grids = _bin_points(xy, w, cell, sub, pad, x0=x0, y1=y1, shape=shape)
    dens, bound = _binned_estimate(grids, kernel, bandwidth, cell, sub, pad, shape=shape)
    del grids
    dens = _repair(dens, bound, xy, w, kernel, bandwidth, cell, x0=x0, y1=y1, budget=budget)
    return np.ascontiguousarray(np.maximum(dens, 0.0), dtype=np.float64)


def _bin_points(xy: np.ndarray, w: np.ndarray, cell: float, sub: int, pad: int, *, x0: float, y1: float,
                shape: tuple[int, int]) -> np.ndarray:
    """The moment grids (:data:`MOMENTS`, stacked) of the padded sub-cell grid.

    Sums over the points: the grids of parts of the points add up to the grids of all of them.
    """
    rows, cols = shape
    h = cell / sub
    return _moment_binning(xy, w, x0=x0 - pad * h, y1=y1 + pad * h, step=h,
                           shape=(rows * sub + 2 * pad, cols * sub + 2 * pad))


def _binned_estimate(grids: np.ndarray, kernel: str, bandwidth: float, cell: float,
                     sub: int, pad: int, *, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The estimate per m² at the cell centres and its error bound, from the moment grids."""
    rows, cols = shape
    h = cell / sub
    tables, bound_table = moment_tables(kernel, bandwidth / h, pad)
    # circular convolution of the binned grid's own size: its wrap-around reaches only the first 2 pad outputs
    fshape = [sp_fft.next_fast_len(n, real=True) for n in grids[0].shape]
    weights = sp_fft.rfft2(grids[0], fshape)
    spectrum = weights * _small_rfft2(tables[0], fshape)
    for grid, table in zip(grids[1:], tables[1:]):
        spectrum += sp_fft.rfft2(grid, fshape) * _small_rfft2(table, fshape)
    first = 2 * pad + sub // 2
    take = (slice(first, first + rows * sub, sub), slice(first, first + cols * sub, sub))
    area = 1.0 / (h * h)  # the tables are per cell area
    dens = sp_fft.irfft2(spectrum, fshape)[take] * area
    del spectrum
    bound = sp_fft.irfft2(weights * _small_rfft2(bound_table, fshape), fshape)[take] * area
    # FFT round-off: relative to the largest value, far below the bound's own scale
    bound = np.abs(bound) + 1e-12 * float(np.abs(dens).max(initial=0.0))
    return dens, bound


def _small_rfft2(kernel_grid: np.ndarray, fshape: list[int]) -> np.ndarray:
    """``rfft2(kernel_grid, fshape)`` for a grid much smaller than `fshape`: its rows first, then the columns."""
    return sp_fft.fft(sp_fft.rfft(kernel_grid, n=fshape[1], axis=1), n=fshape[0], axis=0)


def _repair(dens: np.ndarray, bound: np.ndarray, xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float,
            cell: float, *, x0: float, y1: float, budget: float) -> np.ndarray:
    """Sum the kernel exactly at the cells where the bound does not keep the estimate within the target.

    The most doubtful cells first, up to `budget` kernel evaluations; a warning names the cells left over.
    """
    rr, cc, ratio = _doubtful(dens, bound)
    if not len(rr):
        return dens
    cells = _CellWindows(xy, kernel, bandwidth, cell, x0=x0, y1=y1, shape=dens.shape)
    fixed, cost = _repair_budget(cells, cells.counts(), rr, cc, budget)
    out = dens.copy()
    if fixed:
        out[rr[:fixed], cc[:fixed]] = cells.exact_sums(xy, w, rr[:fixed], cc[:fixed])
    _log_repair(dens.size, ratio, cost, fixed)
    return out


def _doubtful(dens: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and bound/estimate ratios of the cells to sum exactly, the most doubtful first."""
    floor = _PEAK_SHARE * float(np.max(dens - bound, initial=0.0))
    doubtful = (dens + bound >= floor) & (bound > _TARGET_RELATIVE_ERROR * _SAFETY * (dens - bound))
    rr, cc = np.nonzero(doubtful)
    ratio = bound[rr, cc] / np.maximum(dens[rr, cc] - bound[rr, cc], 1e-300)
    order = np.argsort(-ratio, kind="stable")
    return rr[order], cc[order], ratio[order]


def _repair_budget(cells: _CellWindows, counts: np.ndarray, rr: np.ndarray, cc: np.ndarray,
                   budget: float) -> tuple[int, np.ndarray]:
    """How many of the doubtful cells (in order) fit in `budget` kernel evaluations, and their running cost."""
    cost = np.cumsum(cells.window_sums(counts, rr, cc))
    return int(np.searchsorted(cost, budget, side="right")), cost


def _log_repair(size: int, ratio: np.ndarray, cost: np.ndarray, fixed: int) -> None:
    logger.debug("kde: %d of %d cells summed exactly where the binning error bound exceeds %.1f %%",
                 fixed, size, 100 * _TARGET_RELATIVE_ERROR)
    if fixed < len(ratio):
        logger.warning(
            "kde: the error bound cannot vouch for %.1f %% at %d of %d cells above %d %% of the peak (bound up to"
            " %.2f %%; the error itself is usually far smaller); summing them exactly would take %d more kernel"
            " evaluations, so they keep the binned estimate. A smaller cell_m tightens the bound.",
            100 * _TARGET_RELATIVE_ERROR, len(ratio) - fixed, size, round(100 * _PEAK_SHARE),
            100 * float(ratio[fixed]), int(cost[-1] - (cost[fixed - 1] if fixed else 0)))


class _CellWindows:
    """Each point's cell on the raster widened by the kernel's reach (`k` cells each side), row-major keys."""

    def __init__(self, xy: np.ndarray, kernel: str, bandwidth: float, cell: float, *, x0: float, y1: float,
                 shape: tuple[int, int]) -> None:
        rows, cols = shape
        self.k = int(math.ceil(_reach(kernel, bandwidth, GAUSS_SUPPORT_SIGMAS) / cell)) + 1
        self.shape = (rows + 2 * self.k, cols + 2 * self.k)
        self.kernel, self.bandwidth, self.cell, self.x0, self.y1 = kernel, bandwidth, cell, x0, y1
        col = np.floor((xy[:, 0] - x0) / cell) + self.k
        row = np.floor((y1 - xy[:, 1]) / cell) + self.k
        near = (col >= 0) & (col < self.shape[1]) & (row >= 0) & (row < self.shape[0])
        self.keys = np.where(near, row * self.shape[1] + col, -1).astype(np.int64)

    def counts(self) -> np.ndarray:
        """Points per widened cell."""
        keys = self.keys[self.keys >= 0]
        return np.bincount(keys, minlength=self.shape[0] * self.shape[1]).reshape(self.shape)

    def window_sums(self, grid: np.ndarray, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        """Sum of `grid` (widened) over the window of each raster cell ``(rr, cc)``."""
        total = np.zeros((grid.shape[0] + 1, grid.shape[1] + 1))
        total[1:, 1:] = grid.cumsum(axis=0).cumsum(axis=1)
        span = 2 * self.k + 1
        return total[rr + span, cc + span] - total[rr, cc + span] - total[rr + span, cc] + total[rr, cc]

    def exact_sums(self, xy: np.ndarray, w: np.ndarray, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        """The kernel summed over every point within reach of each raster cell ``(rr, cc)``, per m²."""
        span = 2 * self.k + 1
        chosen = np.zeros(self.shape)
        chosen[rr + self.k, cc + self.k] = 1.0
        # a widened cell matters when a chosen cell lies within k cells of it: a box sum about each widened cell
        needed = np.zeros((self.shape[0] + 2 * span, self.shape[1] + 2 * span))
        needed[span:-span, span:-span] = chosen
        total = np.zeros((needed.shape[0] + 1, needed.shape[1] + 1))
        total[1:, 1:] = needed.cumsum(axis=0).cumsum(axis=1)
        r0 = np.arange(self.shape[0])[:, None] + span - self.k
        c0 = np.arange(self.shape[1])[None, :] + span - self.k
        near_chosen = (total[r0 + span, c0 + span] - total[r0, c0 + span] - total[r0 + span, c0]
                       + total[r0, c0]) > 0.5
        keep = np.flatnonzero((self.keys >= 0) & near_chosen.ravel()[np.maximum(self.keys, 0)])
        order = keep[np.argsort(self.keys[keep])]
        keys, pts, wts = self.keys[order], xy[order], w[order]
        out = np.empty(len(rr))
        step = max(1, 4096 // span)
        offsets = np.arange(span)
        for start in range(0, len(rr), step):
            r_part, c_part = rr[start:start + step], cc[start:start + step]
            # one run of sorted points per (cell, window row): a window row's columns are contiguous keys
            first = ((r_part[:, None] + offsets[None, :]) * self.shape[1] + c_part[:, None]).ravel()
            lo = np.searchsorted(keys, first, side="left")
            counts = np.searchsorted(keys, first + span - 1, side="right") - lo
            owner = np.repeat(np.repeat(np.arange(len(r_part)), span), counts)
            index = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
            dx = self.x0 + (c_part[owner] + 0.5) * self.cell - pts[index, 0]
            dy = self.y1 - (r_part[owner] + 0.5) * self.cell - pts[index, 1]
            values = wts[index] * _kernel_at(self.kernel, self.bandwidth, dx * dx + dy * dy)
            out[start:start + step] = np.bincount(owner, weights=values, minlength=len(r_part))
        return out


def _moment_binning(xy: np.ndarray, w: np.ndarray, *, x0: float, y1: float, step: float,
                    shape: tuple[int, int]) -> np.ndarray:
    """Per cell (rows north first), the sums of ``w · ux^i · uy^j`` over its points for each of :data:`MOMENTS`.

    ``(ux, uy)`` is a point's offset from its cell's centre in cells (east and south positive); points outside
    the grid are left out.
    """
    rows, cols = shape
    fx = xy[:, 0] - x0
    fx *= 1.0 / step
    fy = y1 - xy[:, 1]
    fy *= 1.0 / step
    if fx.size and (min(fx.min(), fy.min()) < 0 or fx.max() >= cols or fy.max() >= rows):
        inside = (fx >= 0) & (fx < cols) & (fy >= 0) & (fy < rows)
        fx, fy, w = fx[inside], fy[inside], w[inside]
    ix = fx.astype(np.int64)  # floor, as fx >= 0
    iy = fy.astype(np.int64)
    key = iy * cols
    key += ix
    ux = fx - ix
    ux -= 0.5
    uy = fy - iy
    uy -= 0.5
    del fx, fy, ix, iy
    wx = [w, w * ux]
    wx += [wx[1] * ux, wx[1] * ux * ux]
    uy_powers = [None, uy, uy * uy, uy * uy * uy]
    out = np.empty((len(MOMENTS), rows * cols))
    for k, (i, j) in enumerate(MOMENTS):
        weight = wx[i] if j == 0 else wx[i] * uy_powers[j]
        out[k] = np.bincount(key, weights=weight, minlength=rows * cols)
    return out.reshape(len(MOMENTS), rows, cols)
