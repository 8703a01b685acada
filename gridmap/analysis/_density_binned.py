"""The corrected binned estimate of :func:`gridmap.analysis.density.kde`: linear binning, FFT, error bound.

The method and its sources are in the notes of :mod:`gridmap.analysis.density`
("Method", *Corrected binned estimate*); the error bound's derivation is the
comment above :func:`_error_bound_at`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from scipy import fft as sp_fft

from gridmap.analysis._density_kernels import (
    GAUSS_SUPPORT_SIGMAS,
    _kernel_and_second_derivatives,
    _kernel_at,
    _reach,
)

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


# -- the error bound of the corrected binned estimate --------------------------------------------------------------
#
# A point p with weight w is shared bilinearly between the four nodes n_i of its sub-cell (step h, fractions
# fx, fy), and its second moments mx = w·fx(1−fx)·h²/2 and my = w·fy(1−fy)·h²/2 are shared the same way. The
# estimate at c is Σ b_i [K(c − n_i) − mx K_xx(c − n_i) − my K_yy(c − n_i)]. Taylor's theorem about c − p: the
# first-order terms cancel, the second-order ones are exactly mx K_xx + my K_yy (mixed terms cancel), so what
# is left is the third-order term f(1−f)(1−2f)h³/6 · K_xxx (≤ 0.0161 h³ |K_xxx|, and the same in y; the mixed
# third-order terms cancel), the fourth-order remainder and the interpolation error of the correction. All of
# these are bounded by maxima of the kernel's derivatives over the square c − n ± h, which holds p and its
# four nodes, so Σ_n binned(n) · E(c − n) bounds the error at c. Where that square straddles the edge of the
# quartic's support (its second derivative jumps there), the bound is the plain one of linear interpolation,
# h²/8 · max(|K_xx| + |K_yy|), for the estimate and again for the correction.

_THIRD_ORDER = 0.0161  # max over f of f(1 − f)|1 − 2f| / 6 = √3 / 108


def _error_bound_at(kernel: str, bandwidth: float, h: float, d: np.ndarray) -> np.ndarray:
    """Bound on the corrected binned estimate's error (per m², unit weight) at node-to-centre distance `d`."""
    lo = np.maximum(d - math.sqrt(2.0) * h, 0.0)
    hi = d + math.sqrt(2.0) * h
    if kernel == "quartic":
        r = bandwidth
        a = 3.0 / (math.pi * r * r)
        third: Any = _THIRD_ORDER * h ** 3 * 24.0 * math.sqrt(2.0) * a * np.minimum(hi, r) / r ** 4
        fourth: Any = 5.0 * a * h ** 4 / r ** 4  # an array in the Gaussian branch
        band = 2.0 * a * h * h / (r * r)
        return np.where(hi < r, third + fourth, np.where(lo < r, band, 0.0))
    sigma = bandwidth
    t = hi / sigma
    kmax = np.exp(-lo * lo / (2.0 * sigma * sigma)) / (2.0 * math.pi * sigma * sigma)
    third = _THIRD_ORDER * h ** 3 * kmax / sigma ** 3 * 2.0 * (t ** 3 + 3.0 * t)
    quad = (t ** 4 + 6.0 * t * t + 3.0, (t ** 3 + 3.0 * t) * t, (t * t + 1.0) ** 2)
    taylor = (2.0 * quad[0] + 8.0 * quad[1] + 6.0 * quad[2]) / 24.0
    fourth = h ** 4 * kmax / sigma ** 4 * (taylor + (quad[0] + quad[2]) / 32.0)
    cut = GAUSS_SUPPORT_SIGMAS * sigma
    jump = math.exp(-GAUSS_SUPPORT_SIGMAS ** 2 / 2.0) / (2.0 * math.pi * sigma * sigma)
    straddle = (lo < cut) & (hi >= cut)
    second = h * h / 4.0 * kmax / sigma ** 2 * 2.0 * (t * t + 1.0)
    return np.where(lo >= cut, 0.0, third + fourth + straddle * (jump + second))


def _uniform_bound(kernel: str, bandwidth: float, h: float) -> float:
    """Relative error bound where the points are spread evenly: the integral of the bound over the plane."""
    reach = _reach(kernel, bandwidth, GAUSS_SUPPORT_SIGMAS) + 2.0 * h
    d = (np.arange(4000) + 0.5) * (reach / 4000)
    return float(np.sum(_error_bound_at(kernel, bandwidth, h, d) * 2.0 * math.pi * d) * (reach / 4000))


def _subcells(kernel: str, bandwidth: float, cell: float) -> int | None:
    """Fewest (odd) sub-cells per cell side whose error bound for evenly spread points is well within the target.

    None when even :data:`_MAX_SUBCELLS` are not enough: then the kernel is summed exactly.
    """
    for sub in range(1, _MAX_SUBCELLS + 1, 2):
        if _uniform_bound(kernel, bandwidth, cell / sub) <= _UNIFORM_SHARE * _TARGET_RELATIVE_ERROR:
            return sub
    return None


# -- the binned FFT estimate ---------------------------------------------------------------------------------------


def _binned_density(xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float, cell: float, sub: int, pad: int,
                    *, x0: float, y1: float, shape: tuple[int, int], budget: float) -> np.ndarray:
    """Corrected binned estimate per m² at the cell centres; cells its error bound cannot vouch for summed exactly."""
    grids = _bin_points(xy, w, cell, sub, pad, x0=x0, y1=y1, shape=shape)
    dens, bound = _binned_estimate(grids, kernel, bandwidth, cell, sub, pad, shape=shape)
    del grids
    dens = _repair(dens, bound, xy, w, kernel, bandwidth, cell, x0=x0, y1=y1, budget=budget)
    return np.ascontiguousarray(np.maximum(dens, 0.0), dtype=np.float64)


def _bin_points(xy: np.ndarray, w: np.ndarray, cell: float, sub: int, pad: int, *, x0: float, y1: float,
                shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three linearly binned grids (weights, x and y second moments) of the padded sub-cell grid.

    Sums over the points: the grids of parts of the points add up to the grids of all of them.
    """
    rows, cols = shape
    h = cell / sub
    return _linear_binning(xy, w, x0=x0 - pad * h, y1=y1 + pad * h, step=h,
                           shape=(rows * sub + 2 * pad, cols * sub + 2 * pad))


def _binned_estimate(grids: tuple[np.ndarray, np.ndarray, np.ndarray], kernel: str, bandwidth: float, cell: float,
                     sub: int, pad: int, *, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The corrected estimate per m² at the cell centres and its error bound, from the binned grids."""
    rows, cols = shape
    h = cell / sub
    offsets = np.arange(-pad, pad + 1, dtype=np.float64) * h
    dy, dx = offsets[:, None], offsets[None, :]
    k, kxx, kyy = _kernel_and_second_derivatives(kernel, bandwidth, dx, dy)
    # circular convolution of the binned grid's own size: its wrap-around reaches only the first 2 pad outputs
    fshape = [sp_fft.next_fast_len(n, real=True) for n in grids[0].shape]
    binned = sp_fft.rfft2(grids[0], fshape)
    spectrum = binned * _small_rfft2(k, fshape)
    spectrum -= sp_fft.rfft2(grids[1], fshape) * _small_rfft2(kxx, fshape)
    spectrum -= sp_fft.rfft2(grids[2], fshape) * _small_rfft2(kyy, fshape)
    first = 2 * pad + sub // 2
    take = (slice(first, first + rows * sub, sub), slice(first, first + cols * sub, sub))
    dens = sp_fft.irfft2(spectrum, fshape)[take]
    del spectrum
    bound = _bound_grid(binned, fshape, kernel, bandwidth, h, pad, take)
    # FFT round-off: relative to the largest value, far below the bound's own scale
    bound = np.abs(bound) + 1e-12 * float(np.abs(dens).max(initial=0.0))
    return dens, bound


def _small_rfft2(kernel_grid: np.ndarray, fshape: list[int]) -> np.ndarray:
    """``rfft2(kernel_grid, fshape)`` for a grid much smaller than `fshape`: its rows first, then the columns."""
    return sp_fft.fft(sp_fft.rfft(kernel_grid, n=fshape[1], axis=1), n=fshape[0], axis=0)


def _bound_grid(spectrum: np.ndarray, fshape: list[int], kernel: str, bandwidth: float, h: float, pad: int,
                take: tuple[slice, slice]) -> np.ndarray:
    """The error bound at the cell centres: the binned weights (their spectrum) convolved with the bound."""
    offsets = np.arange(-pad, pad + 1, dtype=np.float64) * h
    bound_kernel = _error_bound_at(kernel, bandwidth, h, np.sqrt(offsets[:, None] ** 2 + offsets[None, :] ** 2))
    return sp_fft.irfft2(spectrum * _small_rfft2(bound_kernel, fshape), fshape)[take]


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


def _linear_binning(xy: np.ndarray, w: np.ndarray, *, x0: float, y1: float, step: float,
                    shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights and their second moments shared bilinearly between the four nearest cell centres (rows north first).

    Returns the binned weights and the binned ``w · fx(1 − fx) · step² / 2`` and ``w · fy(1 − fy) · step² / 2``,
    with ``fx``, ``fy`` each point's fractional position between its nodes.
    """
    rows, cols = shape
    inv = 1.0 / step
    # fractional cell-centre index, shifted by one: an extra row and column on each side catch the
    # neighbours of edge points and are cut off at the end
    fx = xy[:, 0] * inv
    fx -= x0 * inv - 0.5
    fy = xy[:, 1] * -inv
    fy += y1 * inv + 0.5
    if fx.size and (min(fx.min(), fy.min()) < 0 or fx.max() >= cols + 1 or fy.max() >= rows + 1):
        inside = (fx >= 0) & (fx < cols + 1) & (fy >= 0) & (fy < rows + 1)
        fx, fy, w = fx[inside], fy[inside], w[inside]
    ix = fx.astype(np.int64)  # floor, as fx >= 0
    iy = fy.astype(np.int64)
    fx -= ix
    fy -= iy
    width = cols + 2
    size = (rows + 2) * width
    base = iy * width
    base += ix
    half_h2 = step * step / 2.0
    out = []
    for weight in (w, w * fx * (1.0 - fx) * half_h2, w * fy * (1.0 - fy) * half_h2):
        east = weight * fx
        west = weight - east
        south = west * fy
        grid = np.bincount(base, weights=west - south, minlength=size)
        grid += np.bincount(base + width, weights=south, minlength=size)
        np.multiply(east, fy, out=south)
        grid += np.bincount(base + width + 1, weights=south, minlength=size)
        east -= south
        grid += np.bincount(base + 1, weights=east, minlength=size)
        out.append(grid.reshape(rows + 2, width)[1:-1, 1:-1])
    return out[0], out[1], out[2]
