"""KDE part of ``benchmarks/density.py``: gridmap's ``kde`` next to KDEpy and scipy, like with like.

Data: 1M clustered points (30 clusters of 40-400 m spread and a 10 % uniform
background) in a GeoDataFrame in WGS84 (EPSG:4326), as reports arrive; the
raster is 512 x 512 cells of 10 m in the metric CRS gridmap picks for them
(EPSG:4546, CGCS2000 / 3-degree Gauss-Kruger CM 111E), every point at least
600 m inside it (the largest quartic radius; KDEpy wants the data inside its grid).

Each side starts from the same GeoDataFrame. gridmap: ``kde(gdf, ...)``, which
projects the points itself. The peer: the points' coordinates, projected to
EPSG:4546 with pyproj (as its user must), then the peer's estimate at the same
512 x 512 cell centres, converted to points per km². Both are timed the same way
(best of ``REPEAT`` runs each, in this process) and their peak memory is taken
in a forked child that runs each side once (VmHWM after resetting it, minus the
resident size before the run, after ``malloc_trim`` has returned the memory the
parent freed: the memory the estimate itself needs).

Pairs (only the same kernel on both sides):

- quartic: KDEpy ``FFTKDE(kernel="biweight")``. KDEpy scales a kernel by its
  one-dimensional standard deviation; its biweight has variance 1/7 at radius 1,
  so ``bw = r / sqrt(7)`` gives radius r, and in 2-D KDEpy normalises the radial
  biweight over the unit disc (``(1 − d²)² / (π / 3)``), which is the quartic
  ``3 / (π r²) (1 − (d/r)²)²`` exactly (checked below at one point).
- Gaussian: KDEpy ``FFTKDE(kernel="gaussian")`` (2-D normalised over the
  plane: ``exp(−d²/2σ²) / (2π σ²)``, the same kernel). KDEpy cuts its Gaussian
  where the kernel falls below an absolute 1e-4 (its ``practical_support``),
  which in metres fails or cuts at 2σ; its user scales the coordinates so that
  σ = 1 (support 3.9σ), and so does this benchmark (the scaling is timed).
- Gaussian: scipy ``gaussian_kde`` on 10k points and the same 512 x 512 grid (it
  evaluates every point at every cell; 1M x 512² is out of its reach), next to
  gridmap and KDEpy on the same data. The points are whitened so that their
  sample covariance is exactly s² I; then ``bw_method = σ / s`` makes scipy's
  kernel covariance σ² I, the same kernel.

Accuracy: max relative error against the exact sum over all points (a direct
sum with the published formula, using a k-d tree for the points within reach:
the quartic's radius, or 9σ for the Gaussian, beyond which it holds e^-40.5 of
its peak) at 300 cells sampled among those where gridmap's density exceeds 1 %
of its peak. Bandwidths of 1, 2 and 4 cells are in the accuracy rows.

Targets: gridmap's error ≤ 0.5 % at every bandwidth; gridmap ≤ 1.2 x KDEpy's
time for bandwidths of 10-60 cells (issue 16; no time target below 10 cells,
where gridmap sums exactly or on sub-cells to stay accurate); ≥ 100 x faster
than scipy's ``gaussian_kde``.

``run(print_line)`` prints one block per pair.
"""

from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

CELL = 10.0
SIZE = 512
CENTRE_LONLAT = (109.73, 38.29)
REPEAT = 3
TARGET_ERROR = 0.005
TARGET_RATIO = 1.2
SAMPLED_CELLS = 300
QUARTIC_CELLS = (1, 2, 4, 10, 20, 30, 60)
GAUSS_CELLS = (1, 2, 4, 10, 30)


# ---------------------------------------------------------------------------------------------------------------
# data and grid
# ---------------------------------------------------------------------------------------------------------------


class Setup:
    """The points (WGS84 GeoDataFrame and their metres), the metric CRS and the raster's cell centres."""

    def __init__(self, n: int, size: int, margin: float, seed: int, whiten: bool = False) -> None:
        import geopandas as gpd
        import pyproj

        from gridmap.crs import metric_crs

        probe = gpd.GeoSeries.from_xy([CENTRE_LONLAT[0]], [CENTRE_LONLAT[1]], crs=4326)
        self.crs = metric_crs(probe)
        to_m = pyproj.Transformer.from_crs(4326, self.crs, always_xy=True)
        cx, cy = to_m.transform(*CENTRE_LONLAT)
        self.size = size
        self.origin = (math.floor(cx / 1000) * 1000 - size * CELL / 2, math.floor(cy / 1000) * 1000 - size * CELL / 2)
        rng = np.random.default_rng(seed)
        local = _whitened(n, size, rng) if whiten else _clustered(n, size, margin, rng)
        lon, lat = pyproj.Transformer.from_crs(self.crs, 4326, always_xy=True).transform(
            local[:, 0] + self.origin[0], local[:, 1] + self.origin[1])
        self.gdf = gpd.GeoDataFrame({"n": np.ones(n)}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
        # the metres gridmap and the peers work in (the same projection, done once here for the exact sums)
        self.xy = np.column_stack(to_m.transform(lon, lat))
        assert metric_crs(self.gdf).equals(self.crs)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.origin[0], self.origin[1], self.origin[0] + self.size * CELL, self.origin[1] + self.size * CELL)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x of the columns, y of the rows (north first)."""
        xs = self.origin[0] + (np.arange(self.size) + 0.5) * CELL
        ys = self.origin[1] + self.size * CELL - (np.arange(self.size) + 0.5) * CELL
        return xs, ys


def _clustered(n: int, size: int, margin: float, rng: np.random.Generator) -> np.ndarray:
    """`n` points in clusters of various spread plus a uniform background, `margin` inside the grid."""
    side = size * CELL
    centres = rng.uniform(margin + 400, side - margin - 400, (30, 2))
    spreads = rng.uniform(40, 400, 30)
    which = rng.integers(0, 30, n)
    xy = centres[which] + rng.normal(size=(n, 2)) * spreads[which, None]
    background = rng.random(n) < 0.1
    xy[background] = rng.uniform(0, side, (int(background.sum()), 2))
    return np.clip(xy, margin + CELL, side - margin - CELL)


def _whitened(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """`n` clustered points whose sample covariance is exactly s² I (s = 200 m), centred in the grid."""
    xy = _clustered(n, size, 0.0, rng)
    centred = xy - xy.mean(axis=0)
    chol = np.linalg.cholesky(np.cov(centred.T))
    white = centred @ np.linalg.inv(chol).T * 200.0
    return white + size * CELL / 2


# ---------------------------------------------------------------------------------------------------------------
# the estimators, each from the GeoDataFrame to a (rows north first) grid in points per km²
# ---------------------------------------------------------------------------------------------------------------


def ours(setup: Setup, bw: float, kernel: str) -> np.ndarray:
    import geopandas as gpd
    from shapely.geometry import box

    from gridmap.analysis.density import kde

    frame = gpd.GeoSeries([box(*setup.bounds)], crs=setup.crs)  # the raster's extent, in its own CRS
    grid = kde(setup.gdf, bandwidth_m=bw, cell_m=CELL, kernel=kernel, bounds=frame)
    assert grid.values.shape == (setup.size, setup.size) and grid.crs.equals(setup.crs)
    return grid.values


def _projected(setup: Setup) -> np.ndarray:
    """What the peer's user does first: the points' coordinates, projected to metres with pyproj."""
    import pyproj
    import shapely

    lonlat = shapely.get_coordinates(setup.gdf.geometry.values)
    to_m = pyproj.Transformer.from_crs(4326, setup.crs, always_xy=True)
    return np.column_stack(to_m.transform(lonlat[:, 0], lonlat[:, 1]))


def kdepy(setup: Setup, bw: float, kernel: str) -> np.ndarray:
    from KDEpy import FFTKDE

    xy = _projected(setup)
    xs, ys = setup.centres()
    scale = bw if kernel == "gaussian" else 1.0  # KDEpy's Gaussian wants σ = 1 (see the module notes)
    gx, gy = np.meshgrid(xs / scale, ys[::-1] / scale, indexing="ij")  # sorted grid, first column slowest
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    if kernel == "gaussian":
        est = FFTKDE(kernel="gaussian", bw=1.0).fit(xy / scale)
    else:
        est = FFTKDE(kernel="biweight", bw=bw / math.sqrt(7.0)).fit(xy)
    dens = est.evaluate(grid) / (scale * scale)  # per m² for a unit total
    return dens.reshape(setup.size, setup.size).T[::-1] * len(xy) * 1e6


def scipy_kde(setup: Setup, bw: float, kernel: str) -> np.ndarray:
    from scipy.stats import gaussian_kde

    assert kernel == "gaussian"
    xy = _projected(setup)
    xs, ys = setup.centres()
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    spread = math.sqrt(float(np.cov(xy.T)[0, 0]))
    est = gaussian_kde(xy.T, bw_method=bw / spread)
    return est(np.vstack([gx.ravel(), gy.ravel()])).reshape(setup.size, setup.size) * len(xy) * 1e6


# ---------------------------------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------------------------------


def exact_at(setup: Setup, rows: np.ndarray, cols: np.ndarray, kernel: str, bw: float) -> np.ndarray:
    """Direct sum per km² at the cell centres, with the published formula over every point within reach."""
    from scipy.spatial import cKDTree

    xs, ys = setup.centres()
    cx, cy = xs[cols], ys[rows]
    reach = bw if kernel == "quartic" else 9.0 * bw
    tree = cKDTree(setup.xy)
    out = np.zeros(len(cx))
    for i, near in enumerate(tree.query_ball_point(np.column_stack([cx, cy]), reach)):
        p = setup.xy[near]
        d2 = (p[:, 0] - cx[i]) ** 2 + (p[:, 1] - cy[i]) ** 2
        if kernel == "quartic":
            u = np.clip(1.0 - d2 / (bw * bw), 0.0, None)
            out[i] = float((3.0 / (math.pi * bw * bw) * u * u).sum())
        else:
            out[i] = float((np.exp(-d2 / (2 * bw * bw)) / (2 * math.pi * bw * bw)).sum())
    return out * 1e6


def max_errors(setup: Setup, kernel: str, bw: float, grids: dict[str, np.ndarray], seed: int) -> dict[str, float]:
    """Max relative error of each grid against the direct sum at sampled cells above 1 % of gridmap's peak."""
    base = grids["gridmap"]
    idx = np.flatnonzero(base.ravel() > 0.01 * base.max())
    pick = np.random.default_rng(seed).choice(idx, size=min(SAMPLED_CELLS, len(idx)), replace=False)
    rows, cols = np.unravel_index(pick, base.shape)
    exact = exact_at(setup, rows, cols, kernel, bw)
    return {name: float(np.max(np.abs(g[rows, cols] - exact) / exact)) for name, g in grids.items()}


def best_of(fn: Callable[[], np.ndarray], repeat: int = REPEAT) -> tuple[float, np.ndarray]:
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    assert result is not None
    return best, result


def _status_mb(key: str) -> float:
    found = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(encoding="ascii"), re.M)
    return float(found.group(1)) / 1024 if found else float("nan")


def _memory_child(queue: Any, fn: Callable[[], np.ndarray]) -> None:
    try:  # hand back the heap the parent freed but kept (earlier runs), so that the peak counts this run only
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")  # VmHWM := VmRSS (Linux >= 4.0)
    except OSError:
        pass
    before = _status_mb("VmRSS")
    fn()
    queue.put(_status_mb("VmHWM") - before)


def peak_memory_mb(fn: Callable[[], np.ndarray]) -> float:
    """Memory one run needs beyond what the process held (MB), in a forked child."""
    from _fork import in_child

    return float(in_child(_memory_child, fn))


class _Warnings(logging.Handler):
    """Keeps gridmap's warnings, to print each once in its case's block (instead of once per run on stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.messages:
            self.messages.append(message)


WARNINGS = _Warnings()
logging.getLogger("gridmap.analysis.density").addHandler(WARNINGS)


def _pct(x: float) -> str:
    return f"{100 * x:.3f} %"


def _compare(say: Callable[[str], None], setup: Setup, kernel: str, cells: float, peers: dict[str, Callable],
             speed_target: bool, seed: int) -> None:
    bw = cells * CELL
    WARNINGS.messages.clear()
    t_ours, g_ours = best_of(lambda: ours(setup, bw, kernel))
    times, grids = {"gridmap": t_ours}, {"gridmap": g_ours}
    for name, fn in peers.items():
        times[name], grids[name] = best_of(lambda fn=fn: fn(setup, bw, kernel))
    mem = {"gridmap": peak_memory_mb(lambda: ours(setup, bw, kernel))}
    for name, fn in peers.items():
        mem[name] = peak_memory_mb(lambda fn=fn: fn(setup, bw, kernel))
    errors = max_errors(setup, kernel, bw, grids, seed)
    what = f"r = {cells:g} cells ({bw:g} m)" if kernel == "quartic" else f"sigma = {cells:g} cells ({bw:g} m)"
    say(f"{kernel} {what}, {len(setup.xy):,} points, {setup.size}x{setup.size}:")
    ok_error = errors["gridmap"] <= TARGET_ERROR
    for name in peers:
        ratio = t_ours / times[name]
        if speed_target and name.startswith("KDEpy"):
            verdict = f"target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'}"
        elif name.startswith("scipy"):
            say(f"  time      {name} {times[name]:.3f} s, gridmap {t_ours:.3f} s, gridmap {1 / ratio:.0f}x faster"
                f" (target >= 100x faster: {'met' if ratio <= 0.01 else 'NOT met'})")
            continue
        else:
            verdict = "no time target at this bandwidth"
        say(f"  time      {name} {times[name]:.3f} s, gridmap {t_ours:.3f} s, ratio gridmap/{name.split()[0]}"
            f" {ratio:.2f}x ({verdict})")
    say("  max error " + ", ".join(f"{name} {_pct(e)}" for name, e in errors.items())
        + f" (target <= 0.5 % for gridmap: {'met' if ok_error else 'NOT met'})")
    say("  peak mem  " + ", ".join(f"{name} {m:.0f} MB" for name, m in mem.items()))
    say("  " + _summary(kernel, cells, times, errors, mem, speed_target))
    for message in WARNINGS.messages:
        say(f"  gridmap logged: {message}")


def _summary(kernel: str, cells: float, times: dict[str, float], errors: dict[str, float], mem: dict[str, float],
             speed_target: bool) -> str:
    """One line per figure: the target, the ratio, the peak memory and met / NOT met."""
    peer = next(name for name in times if name.startswith("KDEpy"))
    ratio = times["gridmap"] / times[peer]
    error_met = errors["gridmap"] <= TARGET_ERROR
    line = (f"SUMMARY {kernel} {cells:g} cells: time gridmap/KDEpy {ratio:.2f}x"
            + (f" (target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'})" if speed_target
               else " (no time target)")
            + f"; max error gridmap {_pct(errors['gridmap'])}, KDEpy {_pct(errors[peer])}"
            + f" (target <= 0.5 %: {'met' if error_met else 'NOT met'})"
            + f"; peak mem gridmap {mem['gridmap']:.0f} MB, KDEpy {mem[peer]:.0f} MB")
    scipy = "scipy gaussian_kde"
    if scipy in times:
        faster = times[scipy] / times["gridmap"]
        line += (f"; gridmap {faster:.0f}x faster than scipy (target >= 100x: {'met' if faster >= 100 else 'NOT met'}),"
                 f" scipy peak mem {mem[scipy]:.0f} MB")
    return line


def check_kernels_match() -> None:
    """KDEpy's biweight (bw = r/√7) and Gaussian equal gridmap's formulas at one point (else the pairing is wrong)."""
    from KDEpy import FFTKDE

    r = 3.0
    grid = np.column_stack([g.ravel() for g in np.meshgrid(np.linspace(-5, 5, 41), np.linspace(-5, 5, 41),
                                                           indexing="ij")])
    quartic = FFTKDE(kernel="biweight", bw=r / math.sqrt(7)).fit(np.array([[0.0, 0.0]])).evaluate(grid)
    gauss = FFTKDE(kernel="gaussian", bw=1.0).fit(np.array([[0.0, 0.0]])).evaluate(grid)
    d2 = (grid ** 2).sum(axis=1)
    formula_q = np.where(d2 < r * r, 3 / (math.pi * r * r) * (1 - d2 / (r * r)) ** 2, 0.0)
    formula_g = np.exp(-d2 / 2) / (2 * math.pi)
    assert np.allclose(quartic, formula_q, atol=1e-12), "KDEpy's biweight is not the quartic"
    inside = d2 < 3.8 ** 2  # KDEpy cuts its Gaussian near 3.9σ
    assert np.allclose(gauss[inside], formula_g[inside], atol=1e-12), "KDEpy's Gaussian is not the Gaussian"


def run(print_line: Callable[[str], None]) -> None:
    """Run every pair and print their lines with `print_line`."""
    check_kernels_match()
    print_line(f"(best of {REPEAT} for every side; peer times include pyproj from WGS84 to EPSG:4546)")
    big = Setup(1_000_000, SIZE, margin=QUARTIC_CELLS[-1] * CELL, seed=2025)
    small = Setup(1000, SIZE, margin=1000.0, seed=1)
    ours(small, 100.0, "quartic")  # imports and first-call costs out of the timing
    kdepy(small, 100.0, "quartic")
    for i, cells in enumerate(QUARTIC_CELLS):
        _compare(print_line, big, "quartic", cells, {"KDEpy FFTKDE(biweight)": kdepy}, cells >= 10, seed=i)
    for i, cells in enumerate(GAUSS_CELLS):
        _compare(print_line, big, "gaussian", cells, {"KDEpy FFTKDE(gaussian)": kdepy}, cells >= 10, seed=10 + i)
    few = Setup(10_000, SIZE, margin=0.0, seed=7, whiten=True)
    _compare(print_line, few, "gaussian", 5, {"scipy gaussian_kde": scipy_kde, "KDEpy FFTKDE(gaussian)": kdepy},
             False, seed=20)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    run(print)
