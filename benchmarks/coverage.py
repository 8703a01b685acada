"""Benchmark: sweep coverage of the generator's GPS fixes, against the way people write it with shapely.

Both sides get the same fixes (``gridmap.sample.sample_tracks(n_fixes=...)`` over
the illustrative sample) and the same path: fixes of one inspector joined in
time order, broken where the gap exceeds 300 s or the speed 8 m/s (the same
rules and defaults as ``sweep_coverage``; an isolated fix is a disc).

- **gridmap**: ``gridmap.coverage.sweep_coverage(grids, tracks, radius_m=30)``,
  timed from the WGS84 frames to the finished result (reprojection, filtering,
  breaks, rasters, dead corners, covered polygons, roll-ups).
- **the peer**, shapely as people write it: buffer every 2-point segment (and
  the isolated fixes, which have no segment; ``shapely.buffer``, default 8
  segments per quarter circle), ``shapely.union_all``, intersect with every
  grid, take the areas. Timed from the already projected segments (its
  preparation is not counted: in its favour). A variant that also buffers every
  fix (redundant discs, slower) is timed and printed too, but the target is
  judged against the peer.
- gridmap is timed with its default threads (grids are independent) and with
  one thread, and both ratios are printed.

The script prints the times and ratios (target: gridmap at least 20x faster
than the peer), the largest per-grid difference in covered area as a percentage of the
grid's area (target: at most 0.25 %), and gridmap's peak resident memory at 1M
fixes, measured in a forked child (``ru_maxrss``; target: at most 1 GiB).

Run: ``python benchmarks/coverage.py [--fixes 200000] [--big 1000000]``
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from typing import Any

import numpy as np

RADIUS = 30.0
MAX_GAP_S = 300.0
MAX_SPEED = 8.0


def naive_segments(tracks: Any, crs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Joined segments (a, b), isolated fixes and all fixes, by the same rules as sweep_coverage."""
    frame = tracks.to_crs(crs).sort_values(["inspector", "time"], kind="stable")
    xy = np.column_stack([frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()])
    name = frame["inspector"].to_numpy()
    t = frame["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    same = name[1:] == name[:-1]
    dt = np.diff(t) / 1e9
    dist = np.hypot(*np.diff(xy, axis=0).T)
    joined = same & (dt <= MAX_GAP_S) & (dist <= MAX_SPEED * dt)
    linked = np.zeros(len(xy), dtype=bool)
    linked[:-1] |= joined
    linked[1:] |= joined
    return xy[:-1][joined], xy[1:][joined], xy[~linked], xy


def naive_coverage(a: np.ndarray, b: np.ndarray, fixes: np.ndarray, grid_geoms: np.ndarray) -> np.ndarray:
    """Buffer every segment and every fix given, union them, intersect with each grid: covered m² per grid."""
    import shapely

    pieces = np.concatenate([shapely.buffer(shapely.linestrings(np.stack([a, b], axis=1)), RADIUS),
                             shapely.buffer(shapely.points(fixes), RADIUS)])
    union = shapely.union_all(pieces)
    return shapely.area(shapely.intersection(grid_geoms, union))


def compare(n_fixes: int) -> dict[str, Any]:
    from gridmap.coverage import sweep_coverage
    from gridmap.crs import metric_crs
    from gridmap.sample import sample_boundaries, sample_tracks

    b = sample_boundaries()
    tracks = sample_tracks(b, n_fixes=n_fixes)
    grids = b["grids"]
    crs = metric_crs(grids)
    grid_geoms = grids.to_crs(crs).geometry.values
    a, bb, lone, every = naive_segments(tracks, crs)
    geoms = np.asarray(grid_geoms, dtype=object)
    t0 = time.perf_counter()
    reference = naive_coverage(a, bb, every, geoms)
    naive_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lean = naive_coverage(a, bb, lone, geoms)
    lean_s = time.perf_counter() - t0
    sweep_coverage(grids, tracks, radius_m=RADIUS)  # warm-up: imports, PROJ database
    t0 = time.perf_counter()
    sweep_coverage(grids, tracks, radius_m=RADIUS, workers=1)
    ours_1_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = sweep_coverage(grids, tracks, radius_m=RADIUS)
    ours_s = time.perf_counter() - t0
    area = result.grids["area_m2"].to_numpy()
    diff = np.abs(result.grids["covered_m2"].to_numpy() - reference) / area * 100
    diff_lean = float((np.abs(result.grids["covered_m2"].to_numpy() - lean) / area * 100).max())
    return {"fixes": n_fixes, "segments": len(a), "isolated": len(lone), "naive_s": naive_s, "ours_s": ours_s,
            "ours_1_s": ours_1_s,
            "lean_s": lean_s, "max_diff_lean_pct": diff_lean,
            "max_diff_pct": float(diff.max()), "mean_diff_pct": float(diff.mean()),
            "mean_coverage": float(result.grids["coverage_ratio"].mean()), "used": result.stats["fixes_used"]}


def _peak_child(queue: Any, n_fixes: int) -> None:
    from gridmap.coverage import sweep_coverage
    from gridmap.sample import sample_boundaries, sample_tracks

    b = sample_boundaries()
    tracks = sample_tracks(b, n_fixes=n_fixes)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    result = sweep_coverage(b["grids"], tracks, radius_m=RADIUS)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({"seconds": elapsed, "peak_mib": peak / 1024, "before_mib": before / 1024,
               "used": result.stats["fixes_used"]})


def peak_memory(n_fixes: int) -> dict[str, Any]:
    """Run sweep_coverage on `n_fixes` in a forked child; its ru_maxrss (KiB on Linux) is its own peak."""
    from _fork import in_child

    return in_child(_peak_child, n_fixes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, default=200_000, help="fixes for the comparison (default 200000)")
    parser.add_argument("--big", type=int, default=1_000_000, help="fixes for the memory run (default 1000000)")
    args = parser.parse_args()
    big = peak_memory(args.big)  # first, in a fresh fork of a small parent
    res = compare(args.fixes)
    ratio = res["lean_s"] / res["ours_s"]
    print(f"fixes: {res['fixes']:,} ({res['used']:,} used; {res['segments']:,} segments,"
          f" {res['isolated']:,} isolated fixes), radius {RADIUS:g} m, 36 grids,"
          f" mean coverage {res['mean_coverage']:.2%}")
    print(f"peer: shapely, buffer every segment (+ isolated fixes), union_all, intersect: {res['lean_s']:8.3f} s")
    print(f"      the same buffering every fix as well (redundant discs):                 {res['naive_s']:8.3f} s")
    threads = f"default threads ({os.cpu_count()} cores):"
    print(f"gridmap sweep_coverage, {threads:<53}{res['ours_s']:8.3f} s")
    print(f"gridmap sweep_coverage, one thread (workers=1):                              {res['ours_1_s']:8.3f} s")
    print(f"speed-up against the peer: {ratio:.1f}x (target >= 20x) {'OK' if ratio >= 20 else 'MISSED'};"
          f" one thread {res['lean_s'] / res['ours_1_s']:.1f}x;"
          f" against buffering every fix {res['naive_s'] / res['ours_s']:.1f}x")
    worst = max(res["max_diff_pct"], res["max_diff_lean_pct"])
    print(f"largest per-grid difference in covered area: {res['max_diff_lean_pct']:.4f} % of the grid's area"
          f" against the peer, {res['max_diff_pct']:.4f} % against buffering every fix (mean"
          f" {res['mean_diff_pct']:.4f} %; target <= 0.25 %) {'OK' if worst <= 0.25 else 'MISSED'}")
    print(f"peak memory at {args.big:,} fixes: {big['peak_mib']:.0f} MiB (after generating the fixes:"
          f" {big['before_mib']:.0f} MiB; sweep {big['seconds']:.2f} s; target <= 1024 MiB)"
          f" {'OK' if big['peak_mib'] <= 1024 else 'MISSED'}")


if __name__ == "__main__":
    main()
