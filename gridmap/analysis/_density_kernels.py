"""The two kernels of :func:`gridmap.analysis.density.kde` and the exact sum of every point's kernel.

The kernels' definitions and sources are in the notes of :mod:`gridmap.analysis.density`
("Kernels"); the exact sum is its first method ("Method", *Exact sum*).
"""

from __future__ import annotations

import math

import numpy as np

#: Kernels :func:`~gridmap.analysis.density.kde` knows.
KERNELS = ("quartic", "gaussian")
#: The Gaussian is evaluated out to this many σ.
GAUSS_SUPPORT_SIGMAS = 5.0
_EXACT_CHUNK = 2_000_000


def _reach(kernel: str, bandwidth: float, gauss_sigmas: float) -> float:
    return bandwidth if kernel == "quartic" else gauss_sigmas * bandwidth


def _kernel_at(kernel: str, bandwidth: float, d2: np.ndarray) -> np.ndarray:
    """The kernel per m² at squared distances `d2` (m²); the Gaussian cut beyond 5σ."""
    if kernel == "quartic":
        u = 1.0 - d2 / (bandwidth * bandwidth)
        return np.where(u > 0, 3.0 / (math.pi * bandwidth * bandwidth) * u * u, 0.0)
    sigma2 = bandwidth * bandwidth
    inside = d2 <= (GAUSS_SUPPORT_SIGMAS * GAUSS_SUPPORT_SIGMAS) * sigma2
    return np.where(inside, np.exp(-d2 / (2.0 * sigma2)) / (2.0 * math.pi * sigma2), 0.0)


def _kernel_and_second_derivatives(kernel: str, bandwidth: float, dx: np.ndarray,
                                   dy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K, ∂²K/∂x² and ∂²K/∂y² per m² at the offsets (dx, dy) (broadcast)."""
    d2 = dx * dx + dy * dy
    k = _kernel_at(kernel, bandwidth, d2)
    b2 = bandwidth * bandwidth
    if kernel == "quartic":
        a = 3.0 / (math.pi * b2)
        inside = d2 < b2
        kxx = np.where(inside, -4.0 * a / b2 * (1.0 - (3.0 * dx * dx + dy * dy) / b2), 0.0)
        kyy = np.where(inside, -4.0 * a / b2 * (1.0 - (dx * dx + 3.0 * dy * dy) / b2), 0.0)
        return k, kxx, kyy
    return k, k * (dx * dx - b2) / (b2 * b2), k * (dy * dy - b2) / (b2 * b2)


def _direct_sum(xy: np.ndarray, w: np.ndarray, kernel: str, bandwidth: float, cell: float, *, x0: float,
                y1: float, shape: tuple[int, int], window: int) -> np.ndarray:
    """The exact sum of every point's kernel at the cell centres of its window, per m²."""
    rows, cols = shape
    out = np.zeros(rows * cols)
    steps = np.arange(window) - window // 2
    chunk = max(1, _EXACT_CHUNK // (window * window))
    for start in range(0, len(xy), chunk):
        part, wp = xy[start:start + chunk], w[start:start + chunk]
        col = np.floor((part[:, 0] - x0) / cell).astype(np.int64)[:, None, None] + steps[None, None, :]
        row = np.floor((y1 - part[:, 1]) / cell).astype(np.int64)[:, None, None] + steps[None, :, None]
        dx = x0 + (col + 0.5) * cell - part[:, 0, None, None]
        dy = y1 - (row + 0.5) * cell - part[:, 1, None, None]
        k = wp[:, None, None] * _kernel_at(kernel, bandwidth, dx * dx + dy * dy)
        keep = (col >= 0) & (col < cols) & (row >= 0) & (row < rows) & (k > 0)
        flat = np.broadcast_to(row * cols, keep.shape)[keep] + np.broadcast_to(col, keep.shape)[keep]
        out += np.bincount(flat, weights=k[keep], minlength=rows * cols)
    return out.reshape(rows, cols)
