"""The kernel tables of :func:`gridmap.analysis.density.kde`'s binned estimate, and their error bound.

The binned estimate (:mod:`~gridmap.analysis._density_binned`) bins each point into the (sub-)cell holding it
and keeps, per cell, the sums of ``w · ux^i · uy^j`` for ``i + j ≤ 3`` (ten *moments*), ``(ux, uy)`` the
point's offset from the cell's centre in cell units (each within ±1/2). A point ``p = n + u`` of cell ``n``
adds ``w · K(c − n − u)`` at a cell centre ``c``; as a function of ``u`` over the cell this is approximated by a
polynomial ``Σ A_ij(c − n) · ux^i · uy^j``, so that the estimate is ``Σ_ij (M_ij ⊛ A_ij)(c)``, ten
convolutions (FFT) of the moment grids with the tables ``A_ij``. The error at ``c`` is at most
``Σ_n M_00(n) · B(c − n)`` with ``B(δ)`` the largest error of the polynomial over the cell at offset ``δ``: one
more convolution, of the weights per cell.

This is the Taylor expansion of the kernel about the bin centre that underlies binned kernel estimators
(Wand & Jones 1995, *Kernel Smoothing*, appendix D; Hall & Wand 1996, "On the accuracy of binned kernel density
estimators", *J. Multivariate Anal.* 56), carried to third order: its error is of fourth order,
``O(h⁴ · max|∂⁴K|)``, where linear binning's is of second order, ``h²/8 · max|∂²K|``.

The tables, in units of the (sub-)cell (offsets ``δ`` in cells, the kernel's bandwidth ``ρ`` in cells, per unit
weight and per cell area):

*Cells wholly inside the quartic's disc.* There ``K = a (1 − g|x|²)²`` (``a = 3 / (π ρ²)``, ``g = 1 / ρ²``) is a
polynomial, and ``A_ij`` are its Taylor coefficients about ``δ``, exactly; what is left is the quartic term
``a g² |u|⁴ ≤ a g² / 4`` (``|u|² ≤ 1/2``).

*Cells the quartic's edge crosses* (the kernel is only once continuously differentiable there). ``A_ij`` are
the least-squares fit to the kernel at ``(m + 1)²`` points of a lattice over the cell (spacing ``1/m``), and
``B`` is the largest error at those points plus the error of bilinear interpolation between them,
``(1/m)² / 8 · (max|∂²e/∂ux²| + max|∂²e/∂uy²|)``, a bound on the error everywhere in the cell.

*The Gaussian* ``G = exp(−|x|² / 2ρ²) / (2π ρ²)``: ``A_ij = G(δ) · He_i(δx/ρ) · He_j(δy/ρ) / (ρ^(i+j) i! j!)``
(probabilists' Hermite polynomials, the Taylor coefficients of the Gaussian), and ``B`` is Taylor's remainder,
``|u|⁴ / 24 · max|D⁴_v G| ≤ G(d_min) · max|He_4(d/ρ)| / (96 ρ⁴)`` over the cell (``d_min`` its nearest distance),
plus ``G(d_min)`` where the cell straddles the 5σ cut.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from gridmap.analysis._density_kernels import GAUSS_SUPPORT_SIGMAS

#: The exponents ``(i, j)`` of ``ux^i · uy^j`` of the moment grids, in their order: degree 3 at most.
MOMENTS = ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3))
#: Lattice steps per cell side where the quartic's edge crosses a cell.
_EDGE_STEPS = 24


def moment_tables(kernel: str, rho: float, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The tables ``A_ij`` (``(10, 2 pad + 1, 2 pad + 1)``, offsets −pad..pad, rows first) and the bound ``B``.

    Per unit weight and per cell area, for a bandwidth of `rho` cells; read-only (they are cached).
    """
    return _tables(kernel, float(rho), int(pad))


def uniform_bound(kernel: str, rho: float, pad: int) -> float:
    """The error bound relative to the density where points are spread evenly: ``Σ B``."""
    return float(moment_tables(kernel, rho, pad)[1].sum())


@lru_cache(maxsize=16)
def _tables(kernel: str, rho: float, pad: int) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.arange(-pad, pad + 1, dtype=np.float64)
    dr, dc = np.meshgrid(offsets, offsets, indexing="ij")
    near = np.hypot(np.maximum(np.abs(dc) - 0.5, 0.0), np.maximum(np.abs(dr) - 0.5, 0.0))
    far = np.hypot(np.abs(dc) + 0.5, np.abs(dr) + 0.5)
    if kernel == "quartic":
        tables, bound = _quartic(dc, dr, near, far, rho)
    else:
        tables, bound = _gaussian(dc, dr, near, far, rho)
    tables.setflags(write=False)
    bound.setflags(write=False)
    return tables, bound


def _quartic(dc: np.ndarray, dr: np.ndarray, near: np.ndarray, far: np.ndarray,
             rho: float) -> tuple[np.ndarray, np.ndarray]:
    a, g = 3.0 / (math.pi * rho * rho), 1.0 / (rho * rho)
    inside = far < rho
    e = 1.0 - g * (dc * dc + dr * dr)
    both = 2.0 * g * g * (dc * dc + dr * dr)
    taylor = {  # K(δ − u) = a (1 − g |δ − u|²)², expanded in u
        (0, 0): e * e, (1, 0): 4.0 * g * e * dc, (0, 1): 4.0 * g * e * dr,
        (2, 0): -2.0 * g + 4.0 * g * g * dc * dc + both, (1, 1): 8.0 * g * g * dc * dr,
        (0, 2): -2.0 * g + 4.0 * g * g * dr * dr + both,
        (3, 0): -4.0 * g * g * dc, (2, 1): -4.0 * g * g * dr, (1, 2): -4.0 * g * g * dc, (0, 3): -4.0 * g * g * dr,
    }
    tables = np.stack([np.where(inside, a * taylor[m], 0.0) for m in MOMENTS])
    bound = np.where(inside, a * g * g / 4.0, 0.0)
    edge = np.flatnonzero(~inside & (near < rho))
    if len(edge):
        fit, err = _edge_quadrant(dc.ravel(), dr.ravel(), edge, rho, a, g)
        flat = tables.reshape(len(MOMENTS), -1)
        flat[:, edge] = fit.T
        bound.ravel()[edge] = err
    return tables, bound


def _edge_quadrant(dc: np.ndarray, dr: np.ndarray, edge: np.ndarray, rho: float, a: float,
                   g: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_edge_fit` at the `edge` cells, fitted in one quadrant and mirrored to the others.

    The lattice is symmetric, so the fit at ``(−δx, δy)`` is the fit at ``(δx, δy)`` with ``ux^i`` terms times
    ``(−1)^i`` (and likewise in y), and its largest error is the same.
    """
    pad = int(round(-dc[0]))
    width = 2 * pad + 1
    quadrant = edge[(dc[edge] >= 0) & (dr[edge] >= 0)]
    fit, err = _edge_fit(dc[quadrant], dr[quadrant], rho, a, g)
    lookup = np.full(width * width, -1)
    lookup[quadrant] = np.arange(len(quadrant))
    rep = lookup[(np.abs(dr[edge]) + pad).astype(np.int64) * width + (np.abs(dc[edge]) + pad).astype(np.int64)]
    sx, sy = np.where(dc[edge] < 0, -1.0, 1.0), np.where(dr[edge] < 0, -1.0, 1.0)
    signs = np.stack([sx ** i * sy ** j for i, j in MOMENTS], axis=1)
    return fit[rep] * signs, err[rep]


def _lattice() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of the lattice over a cell (``u`` in [−1/2, 1/2]²), its design matrix and pseudo-inverse."""
    steps = np.arange(_EDGE_STEPS + 1) / _EDGE_STEPS - 0.5
    uy, ux = (v.ravel() for v in np.meshgrid(steps, steps, indexing="ij"))
    design = np.stack([ux ** i * uy ** j for i, j in MOMENTS], axis=1)
    return np.stack([ux, uy]), design, np.linalg.pinv(design)


def _edge_fit(dc: np.ndarray, dr: np.ndarray, rho: float, a: float, g: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares tables and their bound at the cells the quartic's edge crosses (one row per cell)."""
    u, design, pinv = _lattice()
    px = dc[:, None] - u[0][None, :]
    py = dr[:, None] - u[1][None, :]
    values = a * np.square(np.maximum(1.0 - g * (px * px + py * py), 0.0))
    # einsum, not BLAS: these products are small, and a threaded BLAS costs more to start than they take
    fit = np.einsum("sp,kp->sk", values, pinv)
    worst = np.abs(values - np.einsum("sk,pk->sp", fit, design)).max(axis=1)
    c = {m: fit[:, k] for k, m in enumerate(MOMENTS)}
    # |∂²K/∂x²| ≤ 8 a g on the disc (at its edge), and the fit's second derivatives over the cell (|u| ≤ 1/2)
    fxx = 2.0 * np.abs(c[(2, 0)]) + 3.0 * np.abs(c[(3, 0)]) + np.abs(c[(2, 1)])
    fyy = 2.0 * np.abs(c[(0, 2)]) + 3.0 * np.abs(c[(0, 3)]) + np.abs(c[(1, 2)])
    between = (16.0 * a * g + fxx + fyy) / (8.0 * _EDGE_STEPS ** 2)
    return fit, worst + between


def _hermite(z: np.ndarray) -> list[np.ndarray]:
    """``He_0 … He_3`` at `z`."""
    return [np.ones_like(z), z, z * z - 1.0, (z * z - 3.0) * z]


def _gaussian(dc: np.ndarray, dr: np.ndarray, near: np.ndarray, far: np.ndarray,
              rho: float) -> tuple[np.ndarray, np.ndarray]:
    cut = GAUSS_SUPPORT_SIGMAS * rho
    reach = near < cut
    peak = 1.0 / (2.0 * math.pi * rho * rho)
    at = np.where(reach, peak * np.exp(-(dc * dc + dr * dr) / (2.0 * rho * rho)), 0.0)
    hc, hr = _hermite(dc[:1, :] / rho), _hermite(dr[:, :1] / rho)  # one row, one column: the rest repeats them
    scale = [rho ** (i + j) * math.factorial(i) * math.factorial(j) for i, j in MOMENTS]
    tables = np.stack([at * (hc[i] / s) * hr[j] for (i, j), s in zip(MOMENTS, scale)])
    highest = np.where(reach, peak * np.exp(-near * near / (2.0 * rho * rho)), 0.0)
    z = far / rho
    z2 = z * z
    he4 = np.maximum(6.0, np.abs((z2 - 6.0) * z2 + 3.0))  # |He_4| ≤ 6 below √3, then rising
    bound = highest * he4 / (96.0 * rho ** 4) + np.where(far > cut, highest, 0.0)
    return tables, bound
