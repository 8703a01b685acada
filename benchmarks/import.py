"""Benchmark: N CSV report rows → validated → workspace, against a bare pyogrio (Arrow) write.

Both sides start from the same CSV file and end with the same rows in a
GeoPackage:

- **gridmap**: ``gridmap.import_file(ws, "reports", csv, coords="wgs84")`` into a
  workspace holding the illustrative boundaries: read, map columns, parse times,
  check coordinates (swap, range, China, subdistrict), categories, assign grids,
  one transaction with duplicates and quarantine.
- **peer**: pyarrow reads the CSV, shapely builds the points, and
  ``pyogrio.write_dataframe(..., use_arrow=True)`` writes them to a fresh
  GeoPackage. No checks at all.

Each side runs in its own child process (fork) so that its peak resident memory
(``ru_maxrss``, which includes GDAL's C allocations) is its own. The script prints
the time of each side, the ratio (target: gridmap within 3x of the peer), the
peak memory and an accuracy check (same rows, same coordinates).

Run: ``python benchmarks/import.py [--rows 1000000]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LABELS = ["乱堆乱放", "垃圾乱倒", "污水乱泼", "柴草垛", "废旧车辆", "占道经营", "污水排放点", "空闲地垃圾杂草", "卫生死角"]


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Write `rows` WGS84 report rows inside the illustrative subdistrict."""
    from gridmap.sample import sample_boundaries

    sub = sample_boundaries()["subdistrict"].geometry.iloc[0]
    minx, miny, maxx, maxy = sub.bounds
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01 07:00")
    frame = pd.DataFrame({
        "report_id": np.char.add("B", np.arange(rows).astype(str)),
        "reported_at": (start + pd.to_timedelta(rng.integers(0, 300 * 86400, rows), unit="s")).strftime(
            "%Y-%m-%d %H:%M:%S"),
        "category": np.array(LABELS)[rng.integers(0, len(LABELS), rows)],
        "description": np.array(["路边垃圾", "院内杂物堆放", "污水外溢"])[rng.integers(0, 3, rows)],
        "lon": np.round(rng.uniform(minx + 0.002, maxx - 0.002, rows), 7),
        "lat": np.round(rng.uniform(miny + 0.002, maxy - 0.002, rows), 7),
    })
    frame.to_csv(path, index=False, encoding="utf-8")


def run_gridmap(csv: Path, out: Path) -> dict[str, Any]:
    import gridmap
    from gridmap.sample import sample_boundaries

    ws = gridmap.init_workspace(out)
    for layer in ("subdistrict", "communities", "grids"):
        ws.append(layer, sample_boundaries()[layer])
    t0 = time.perf_counter()
    summary = gridmap.import_file(ws, "reports", csv, coords="wgs84")
    elapsed = time.perf_counter() - t0
    ws.close()
    return {"seconds": elapsed, "accepted": summary.accepted, "quarantined": summary.quarantined,
            "duplicates": summary.duplicates}


def run_peer(csv: Path, out: Path) -> dict[str, Any]:
    import geopandas as gpd
    import pyarrow.csv as pacsv
    import pyogrio
    import shapely

    t0 = time.perf_counter()
    table = pacsv.read_csv(csv).to_pandas()
    geometry = shapely.points(table.pop("lon").to_numpy(), table.pop("lat").to_numpy())
    gdf = gpd.GeoDataFrame(table, geometry=geometry, crs="EPSG:4326")
    pyogrio.write_dataframe(gdf, out, layer="reports", driver="GPKG", use_arrow=True)
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "accepted": len(gdf), "quarantined": 0, "duplicates": 0}


def _child(func: Any, csv: Path, out: Path, queue: Any) -> None:
    result = func(csv, out)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(result)


def measure(func: Any, csv: Path, out: Path) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(func, csv, out, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def accuracy(ours: Path, peer: Path, n: int = 2000) -> float:
    """Largest coordinate difference (degrees) between the two files over `n` sampled ids."""
    import pyogrio

    a = pyogrio.read_dataframe(ours, layer="reports", columns=["report_id"], use_arrow=True).set_index("report_id")
    b = pyogrio.read_dataframe(peer, layer="reports", columns=["report_id"], use_arrow=True).set_index("report_id")
    if len(a) != len(b) or not a.index.sort_values().equals(b.index.sort_values()):
        raise SystemExit(f"accuracy check failed: {len(a)} rows stored by gridmap, {len(b)} by the peer")
    ids = b.index[np.random.default_rng(1).integers(0, len(b), n)]
    ga, gb = a.loc[ids].geometry.to_numpy(), b.loc[ids].geometry.to_numpy()
    import shapely

    return float(np.max(np.abs(shapely.get_coordinates(ga) - shapely.get_coordinates(gb))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = folder / "reports.csv"
        t0 = time.perf_counter()
        make_csv(csv, args.rows)
        print(f"rows: {args.rows:,}  csv: {csv.stat().st_size / 1e6:.1f} MB (made in {time.perf_counter() - t0:.1f} s)")
        peer = measure(run_peer, csv, folder / "peer.gpkg")
        ours = measure(run_gridmap, csv, folder / "gridmap.gpkg")
        err = accuracy(folder / "gridmap.gpkg", folder / "peer.gpkg")
        print(f"peer    pyogrio arrow write : {peer['seconds']:7.2f} s  peak RSS {peer['peak_rss_mb']:7.0f} MB")
        print(f"gridmap validated import    : {ours['seconds']:7.2f} s  peak RSS {ours['peak_rss_mb']:7.0f} MB"
              f"  (accepted {ours['accepted']:,}, duplicates {ours['duplicates']}, quarantined {ours['quarantined']})")
        ratio = ours["seconds"] / peer["seconds"]
        print(f"time ratio gridmap/peer     : {ratio:7.2f}x  (target <= 3x: {'met' if ratio <= 3 else 'NOT met'})")
        print(f"accuracy: same {ours['accepted']:,} report ids; max coordinate difference {err:.1e} deg")


if __name__ == "__main__":
    main()
