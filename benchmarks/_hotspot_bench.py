"""Hot spot lines of ``benchmarks/density.py``: gridmap.hotspots against the pipeline people write.

- ``hotspots`` at about 100k fishnet cells (50 m) with 200k reports, against
  geopandas ``sjoin`` for the counts + libpysal ``Queen.from_dataframe`` + esda
  ``G_Local(star=True, transform="B", permutations=0)`` (analytic z only, as
  ours: in the peer's favour, its default of 999 permutations is far slower).
  Both sides start from the same EPSG:4326 frames and end with z per cell.
  Targets: at least 5x faster, max |z difference| at most 1e-6.
- ``emerging_hotspots`` at 10k cells (100 m) x 52 weeks with 200k reports,
  from the WGS84 frames to the categories. Target: at most 2 s.

Run through ``python benchmarks/density.py`` or ``python benchmarks/_hotspot_bench.py``.
"""

from __future__ import annotations

import time
import warnings
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

X0, Y0 = 500_000.0, 4_230_000.0  # EPSG:4546 near Yulin
METRIC = "EPSG:4546"


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


def _peer(reports: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> np.ndarray:
    from esda.getisord import G_Local
    from libpysal.weights import Queen

    joined = gpd.sjoin(reports, cells, predicate="within", how="inner")
    counts = joined["cell_id"].value_counts().reindex(cells["cell_id"], fill_value=0).to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = Queen.from_dataframe(cells, use_index=False)
        return G_Local(counts, w, transform="B", star=True, permutations=0).Zs


def run(print_line: Callable[[str], None]) -> None:
    """Time both hot spot benchmarks and print one line per result."""
    from gridmap.hotspot import emerging_hotspots, fishnet, hotspots

    side = 15_800.0
    cells = fishnet(_area(side - 1.0), 50)
    reports = _reports(side, 200_000, 1)
    t0 = time.perf_counter()
    ours = hotspots(reports, cells)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    peer_z = _peer(reports, cells)
    t_peer = time.perf_counter() - t0
    diff = float(np.nanmax(np.abs(ours["gi_z"].to_numpy() - peer_z)))
    print_line(f"hotspots: {len(cells)} cells, {len(reports)} reports: gridmap {t_ours:.2f} s,"
               f" sjoin+Queen+G_Local {t_peer:.2f} s, ratio {t_peer / t_ours:.1f}x (target >= 5x)")
    print_line(f"hotspots: max |z gridmap - z esda| = {diff:.2e} (target <= 1e-6);"
               f" counts equal: {bool(ours['count'].sum() == len(reports))}")
    cells = fishnet(_area(9_999.0), 100)
    reports = _reports(10_000.0, 200_000, 2, times=True)
    t0 = time.perf_counter()
    out = emerging_hotspots(reports, cells, interval="week")
    t_em = time.perf_counter() - t0
    top = out["category"].value_counts().head(3).to_dict()
    print_line(f"emerging_hotspots: {len(cells)} cells x {int(out['n_steps'].iloc[0])} weeks,"
               f" {len(reports)} reports: {t_em:.2f} s (target <= 2 s); most common: {top}")


if __name__ == "__main__":
    run(print)
