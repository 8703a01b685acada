"""Hot spot lines of ``benchmarks/density.py``: gridmap.hotspots against the pipeline people write.

- ``hotspots`` at about 100k fishnet cells (50 m) with 200k reports, against
  geopandas ``sjoin`` for the counts + libpysal ``Queen.from_dataframe`` + esda
  ``G_Local(star=True, transform="B", permutations=0)`` (analytic z only, as
  ours: in the peer's favour, its default of 999 permutations is far slower).
  Both sides start from the same EPSG:4326 frames and end with counts and z per
  cell. Every import of both sides (geopandas' spatial join, libpysal, esda,
  gridmap) and their first-call costs happen on a tiny input before any timing.
  Accuracy: our counts against the peer's sjoin counts cell by cell; the NaN
  positions of the two z vectors compared as positions, then max |z difference|
  over the cells where both are finite.
  Targets: at least 5x faster, counts equal, NaN positions equal, max |Δz| at most 1e-6.
- ``emerging_hotspots`` at 10k cells (100 m) x 52 weeks with 200k reports,
  from the WGS84 frames to the categories. Target: at most 2 s.

Each measurement runs once, in a forked child (``benchmarks/_fork.py``) whose
peak-RSS mark is reset when it starts (``/proc/self/clear_refs``), so its peak
memory is its own: "peak" is the child's highest RSS, "+" what the computation
added to the data both sides start from. Both sides run the same way.

Run through ``python benchmarks/density.py`` or ``python benchmarks/_hotspot_bench.py``.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from _fork import in_child  # benchmarks/ is on sys.path (run as a script, or through density.py)
from shapely.geometry import box

X0, Y0 = 500_000.0, 4_230_000.0  # EPSG:4546 near Yulin
METRIC = "EPSG:4546"
SPEED_TARGET = 5.0
Z_TARGET = 1e-6
EMERGING_TARGET_S = 2.0


def _reports(side_m: float, n: int, seed: int, *, times: bool = False) -> gpd.GeoDataFrame:
    """Clustered reports: half around 40 centres, half uniform, EPSG:4326."""
    rng = np.random.default_rng(seed)
    centres = np.column_stack([rng.uniform(X0, X0 + side_m, 40), rng.uniform(Y0, Y0 + side_m, 40)])
    near = centres[rng.integers(0, 40, n // 2)] + rng.normal(0, side_m / 60, (n // 2, 2))
    flat = np.column_stack([rng.uniform(X0, X0 + side_m, n - n // 2), rng.uniform(Y0, Y0 + side_m, n - n // 2)])
    xy = np.clip(np.vstack([near, flat]), [X0 + 1e-3, Y0 + 1e-3], [X0 + side_m - 1e-3, Y0 + side_m - 1e-3])
    data = {}
    if times:
        start = pd.Timestamp("2025-01-06", tz="Asia/Shanghai")  # a Monday: exactly 52 weeks
        data["reported_at"] = start + pd.to_timedelta(rng.uniform(0, 364 * 86400 - 1, n), unit="s")
    return gpd.GeoDataFrame(data, geometry=shapely.points(xy), crs=METRIC).to_crs(4326)


def _area(side_m: float) -> gpd.GeoSeries:
    return gpd.GeoSeries([box(X0, Y0, X0 + side_m, Y0 + side_m)], crs=METRIC)


def _peer(reports: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Counts per cell by ``sjoin`` and Gi* z by libpysal + esda (imported at module import, see ``_warm_up``)."""
    from esda.getisord import G_Local
    from libpysal.weights import Queen

    joined = gpd.sjoin(reports, cells, predicate="within", how="inner")
    counts = joined["cell_id"].value_counts().reindex(cells["cell_id"], fill_value=0).to_numpy(dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal's island and esda's numba notes
        w = Queen.from_dataframe(cells, use_index=False)
        z = G_Local(counts.astype(float), w, transform="B", star=True, permutations=0).Zs
    return counts, np.asarray(z, dtype=np.float64)


def _ours(reports: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    from gridmap.analysis.hotspot import hotspots

    out = hotspots(reports, cells)
    return out["count"].to_numpy(dtype=np.int64), out["gi_z"].to_numpy(dtype=np.float64)


def _emerging(reports: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> tuple[dict[str, int], int, int]:
    from gridmap.analysis.hotspot import emerging_hotspots

    out = emerging_hotspots(reports, cells, interval="week")
    counted = int(np.array(out.attrs["counts"]).sum())
    return out["category"].value_counts().to_dict(), int(out["n_steps"].iloc[0]), counted


def _stdlib_html() -> None:
    """Import the standard library's ``html`` before esda (via bs4) asks for ``html.entities``.

    Run as a script, ``benchmarks/`` is first on ``sys.path`` and its ``html.py`` (the page benchmark) would
    shadow the standard library's package.
    """
    here = Path(__file__).resolve().parent
    saved = list(sys.path)
    sys.path[:] = [p for p in saved if Path(p or ".").resolve() != here]
    try:
        if "html" in sys.modules and not hasattr(sys.modules["html"], "__path__"):
            del sys.modules["html"]
        import html.entities  # noqa: F401
    finally:
        sys.path[:] = saved


def _warm_up() -> None:
    """Imports and first-call costs of both sides, on a tiny input, before anything is timed."""
    _stdlib_html()
    import esda.getisord  # noqa: F401
    import libpysal.weights  # noqa: F401
    from geopandas.tools import sjoin  # noqa: F401

    from gridmap.analysis.hotspot import fishnet

    cells = fishnet(_area(499.0), 100)
    reports = _reports(500.0, 200, 0, times=True)
    _peer(reports, cells)
    _ours(reports, cells)
    _emerging(reports, cells)


def _rss_kib() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in KiB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def _measured(queue: Any, fn: Callable[..., Any], *args: Any) -> None:
    """In the forked child: reset the peak-RSS mark, run fn once, report (seconds, start MiB, peak MiB, result)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # VmHWM := VmRSS (Linux >= 4.0)
    start, _ = _rss_kib()
    t0 = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - t0
    _, peak = _rss_kib()
    queue.put((seconds, start / 1024, peak / 1024, result))


def _in_child(fn: Callable[..., Any], *args: Any) -> tuple[float, float, float, Any]:
    return in_child(_measured, fn, *args)


def _z_accuracy(ours: np.ndarray, peer: np.ndarray) -> tuple[bool, int, float]:
    """Same non-finite (NaN, inf) positions?, how many on our side, max |Δz| over the cells finite on both."""
    bad_ours, bad_peer = ~np.isfinite(ours), ~np.isfinite(peer)
    same = bool(np.array_equal(bad_ours, bad_peer))
    both = ~bad_ours & ~bad_peer
    worst = float(np.abs(ours[both] - peer[both]).max()) if both.any() else 0.0
    return same, int(bad_ours.sum()), worst


def _yes(ok: bool) -> str:
    return "met" if ok else "NOT met"


def run(print_line: Callable[[str], None], *, side_m: float = 15_800.0, emerging_side_m: float = 10_000.0,
        n_reports: int = 200_000) -> None:
    """Time both hot spot benchmarks and print one line per result (smaller sizes for a quick smoke run)."""
    from gridmap.analysis.hotspot import fishnet

    _warm_up()
    cells = fishnet(_area(side_m - 1.0), 50)
    reports = _reports(side_m, n_reports, 1)
    t_peer, start_peer, peak_peer, (peer_counts, peer_z) = _in_child(_peer, reports, cells)
    t_ours, start_ours, peak_ours, (our_counts, our_z) = _in_child(_ours, reports, cells)
    ratio = t_peer / t_ours
    counts_equal = bool(np.array_equal(our_counts, peer_counts))
    differing = int((our_counts != peer_counts).sum())
    same_nan, n_nan, worst = _z_accuracy(our_z, peer_z)
    z_ok = same_nan and worst <= Z_TARGET
    print_line(f"hotspots: {len(cells)} cells, {len(reports)} reports:"
               f" sjoin+Queen+G_Local {t_peer:.2f} s, gridmap {t_ours:.2f} s,"
               f" ratio {ratio:.1f}x (target >= {SPEED_TARGET:g}x: {_yes(ratio >= SPEED_TARGET)})")
    print_line(f"hotspots accuracy: counts equal to the peer's sjoin counts in every cell: {counts_equal}"
               f" ({differing} cells differ; totals gridmap {int(our_counts.sum())}, peer {int(peer_counts.sum())});"
               f" non-finite z at the same cells: {same_nan} ({n_nan} on our side);"
               f" max |z gridmap - z esda| over cells finite on both = {worst:.2e}"
               f" (target counts equal, same NaN, <= {Z_TARGET:g}: {_yes(counts_equal and z_ok)})")
    print_line(f"hotspots peak memory (forked child): sjoin+Queen+G_Local {peak_peer:.0f} MiB"
               f" (+{peak_peer - start_peer:.0f}), gridmap {peak_ours:.0f} MiB (+{peak_ours - start_ours:.0f})")
    cells = fishnet(_area(emerging_side_m - 1.0), 100)
    reports = _reports(emerging_side_m, n_reports, 2, times=True)
    t_em, start_em, peak_em, (categories, n_steps, counted) = _in_child(_emerging, reports, cells)
    top = dict(list(categories.items())[:3])
    print_line(f"emerging_hotspots: {len(cells)} cells x {n_steps} weeks, {len(reports)} reports"
               f" ({counted} in the cube): {t_em:.2f} s (target <= {EMERGING_TARGET_S:g} s:"
               f" {_yes(t_em <= EMERGING_TARGET_S)}); peak memory {peak_em:.0f} MiB (+{peak_em - start_em:.0f});"
               f" most common: {top}")


if __name__ == "__main__":
    run(print)
