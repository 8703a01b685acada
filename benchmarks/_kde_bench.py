"""KDE part of ``benchmarks/density.py``: gridmap's ``kde`` against KDEpy and scipy on the same data.

1. 1M clustered points on a 512 x 512 grid of 10 m cells (EPSG:32649, quartic
   radius 200 m): ``gridmap.density.kde`` against KDEpy's ``FFTKDE`` with the
   ``biweight`` kernel evaluated on the same cell centres. KDEpy's ``bw`` is the
   kernel's standard deviation in one dimension (its biweight has variance
   1/7 at radius 1), so ``bw = r / sqrt(7)`` gives radius r; in 2-D KDEpy
   normalises the radial biweight over the unit disc, which is the quartic
   ``3 / (π r²) (1 − (d/r)²)²`` exactly. Both are compared with the exact sum
   over all points at 300 randomly sampled cells whose density exceeds 1 % of
   the peak (max relative error; target ≤ 0.5 % for gridmap) and timed in the
   same process (best of 5; target: gridmap ≤ 1.2 x KDEpy's time). gridmap is timed from a GeoSeries
   of points in the metric CRS (made before the timing: data reaches gridmap as geometries), KDEpy from
   the (n, 2) array; both end with the 512 x 512 grid of densities.
2. 10k points, Gaussian σ = 50 m, the same grid: gridmap against
   ``scipy.stats.gaussian_kde`` evaluated at all 262,144 cell centres. The points
   are whitened so that their sample covariance is exactly ``s² I``; then
   ``bw_method = σ / s`` makes scipy's kernel covariance ``σ² I``, the same
   kernel. Target: gridmap ≥ 100 x faster.

``run(print_line)`` prints one line per result.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

CELL = 10.0
SIZE = 512
ORIGIN = (500_000.0, 4_200_000.0)
CRS = 32649


def _clustered(n: int, margin: float, rng: np.random.Generator) -> np.ndarray:
    """`n` points in clusters of various spread plus a uniform background, `margin` inside the grid."""
    side = SIZE * CELL
    centres = rng.uniform(margin + 400, side - margin - 400, (30, 2))
    spreads = rng.uniform(40, 400, 30)
    which = rng.integers(0, 30, n)
    xy = centres[which] + rng.normal(size=(n, 2)) * spreads[which, None]
    background = rng.random(n) < 0.1
    xy[background] = rng.uniform(0, side, (int(background.sum()), 2))
    xy = np.clip(xy, margin + 1.0, side - margin - 1.0)
    return xy + np.array(ORIGIN)


def _exact(xy: np.ndarray, cx: np.ndarray, cy: np.ndarray, kernel: str, bw: float) -> np.ndarray:
    """Direct sum per km² at (cx, cy), brute force, chunked over points."""
    out = np.zeros(len(cx))
    for start in range(0, len(xy), 20_000):
        part = xy[start:start + 20_000]
        d2 = (cx[:, None] - part[None, :, 0]) ** 2 + (cy[:, None] - part[None, :, 1]) ** 2
        if kernel == "quartic":
            u = np.clip(1.0 - d2 / (bw * bw), 0.0, None)
            out += (3.0 / (math.pi * bw * bw) * u * u).sum(axis=1)
        else:
            out += (np.exp(-d2 / (2 * bw * bw)) / (2 * math.pi * bw * bw)).sum(axis=1)
    return out * 1e6


def _best(fn: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _centres() -> tuple[np.ndarray, np.ndarray]:
    xs = ORIGIN[0] + (np.arange(SIZE) + 0.5) * CELL
    ys_north_first = ORIGIN[1] + SIZE * CELL - (np.arange(SIZE) + 0.5) * CELL
    return xs, ys_north_first


def _sampled_error(values: np.ndarray, xy: np.ndarray, kernel: str, bw: float, rng: np.random.Generator,
                   others: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    xs, ys = _centres()
    idx = np.flatnonzero(values.ravel() > 0.01 * values.max())
    pick = rng.choice(idx, size=min(300, len(idx)), replace=False)
    rows, cols = np.unravel_index(pick, values.shape)
    exact = _exact(xy, xs[cols], ys[rows], kernel, bw)
    errors = {"gridmap": float(np.max(np.abs(values[rows, cols] - exact) / exact))}
    for name, other in (others or {}).items():
        errors[name] = float(np.max(np.abs(other[rows, cols] - exact) / exact))
    return errors


def _kdepy_grid(xy: np.ndarray, bw: float) -> np.ndarray:
    from KDEpy import FFTKDE

    xs, ys = _centres()
    gx, gy = np.meshgrid(xs, ys[::-1], indexing="ij")  # KDEpy wants the grid sorted, first column slowest
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    dens = FFTKDE(kernel="biweight", bw=bw / math.sqrt(7.0)).fit(xy).evaluate(grid)
    # per m² for one unit of weight in total: times n for counts, 1e6 for km²; to rows north first
    return dens.reshape(SIZE, SIZE).T[::-1] * len(xy) * 1e6


def _points(xy: np.ndarray) -> object:
    import geopandas as gpd

    return gpd.GeoSeries.from_xy(xy[:, 0], xy[:, 1], crs=CRS)


def _ours(points: object, bw: float, kernel: str) -> np.ndarray:
    """gridmap's kde from a GeoSeries (made before the timing, as data arrives in gridmap as geometries)."""
    from gridmap.density import kde

    bounds = (ORIGIN[0], ORIGIN[1], ORIGIN[0] + SIZE * CELL, ORIGIN[1] + SIZE * CELL)
    grid = kde(points, bandwidth_m=bw, cell_m=CELL, kernel=kernel, bounds=bounds)
    assert grid.values.shape == (SIZE, SIZE)
    return grid.values


def _scipy_grid(xy: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.stats import gaussian_kde

    xs, ys = _centres()
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    spread = math.sqrt(float(np.cov(xy.T)[0, 0]))
    est = gaussian_kde(xy.T, bw_method=sigma / spread)
    return est(np.vstack([gx.ravel(), gy.ravel()])).reshape(SIZE, SIZE) * len(xy) * 1e6


def _whitened(n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` clustered points whose sample covariance is exactly s² I (s = 600 m)."""
    xy = _clustered(n, 400.0, rng) - np.array(ORIGIN)
    centred = xy - xy.mean(axis=0)
    chol = np.linalg.cholesky(np.cov(centred.T))
    white = centred @ np.linalg.inv(chol).T * 600.0
    return white + SIZE * CELL / 2 + np.array(ORIGIN)


def run(print_line: Callable[[str], None]) -> None:
    """Run both KDE comparisons and print their lines with `print_line`."""
    rng = np.random.default_rng(2025)
    radius = 300.0
    xy = _clustered(1_000_000, radius + CELL, rng)
    points = _points(xy)
    _ours(_points(xy[:1000]), radius, "quartic")  # imports and first-call costs out of the timing
    _kdepy_grid(xy[:1000], radius)
    t_ours, ours = _best(lambda: _ours(points, radius, "quartic"))
    t_kdepy, theirs = _best(lambda: _kdepy_grid(xy, radius))
    errors = _sampled_error(ours, xy, "quartic", radius, rng, {"KDEpy": theirs})
    print_line(f"kde 1M points 512x512 quartic r={radius:.0f} m: gridmap {t_ours * 1000:.0f} ms,"
               f" KDEpy FFTKDE(biweight) {t_kdepy * 1000:.0f} ms, ratio gridmap/KDEpy {t_ours / t_kdepy:.2f}x"
               " (target <= 1.2x)")
    print_line(f"kde 1M max relative error vs direct sum at 300 cells > 1% of peak: gridmap"
               f" {errors['gridmap'] * 100:.3f} %, KDEpy {errors['KDEpy'] * 100:.3f} % (target <= 0.5 %)")
    sigma = 50.0
    small = _whitened(10_000, rng)
    small_points = _points(small)
    t_small, ours_g = _best(lambda: _ours(small_points, sigma, "gaussian"))
    t_scipy, scipy_g = _best(lambda: _scipy_grid(small, sigma), repeat=1)
    errors = _sampled_error(ours_g, small, "gaussian", sigma, rng, {"scipy": scipy_g})
    print_line(f"kde 10k points 512x512 gaussian sigma={sigma:.0f} m: gridmap {t_small * 1000:.1f} ms,"
               f" scipy gaussian_kde {t_scipy:.2f} s, speed-up {t_scipy / t_small:.0f}x (target >= 100x);"
               f" max relative error gridmap {errors['gridmap'] * 100:.3f} %, scipy {errors['scipy'] * 100:.3f} %")


if __name__ == "__main__":
    run(print)
