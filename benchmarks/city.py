"""Benchmark: a city's GPS fixes and reports in a GeoParquet archive, on Dask (issue 15).

The city is simulated and illustrative (:mod:`_city_data`): 20 subdistricts x 36 grids (720 grids, about
12 km x 10.8 km near Yulin, Shaanxi, WGS84), 2,000 inspectors walking a street lattice (a fix every ~10 s,
two shifts from 06:00-07:00 local time, GPS noise, gaps and jumps), 50,000,000 fixes over a week
(``--fixes``) and 10,000,000 reports (``--reports``), written straight to the archive layout
:func:`gridmap.read_archive` reads (``DIR/tracks/date=YYYY-MM-DD/part-0.parquet``, GeoParquet 1.1, one day per
file, written chunk by chunk with ``pyarrow.parquet.ParquetWriter``), never all in memory.

Printed, in one run:

1. **generation**: rows, files, bytes and rows per second; the days the archive holds, the row counts of the
   files' footers, and a small window read back with ``gridmap.read_archive``.
2. **coverage**:

   - *in memory*: ``gridmap.sweep_coverage`` of subdistrict 1's 36 grids on the fixes of a window that holds
     about ``--sample-fixes`` fixes (default 300,000; the fixes within ``reach_m() * 1.2`` of its grids'
     box, read from the archive): fixes per second, wall time, this process's resident memory before and at
     its peak during the run (psutil, sampled every 20 ms);
   - *Dask on the whole archive*, 1 and then 2 workers: for each a fresh ``distributed.LocalCluster(n_workers=k,
     threads_per_worker=1, processes=True, memory_limit="2GiB", dashboard_address=None)`` and its ``Client``,
     ``sweep_coverage(grids, DIR, start=, end=)`` of all 720 grids over the week, timed once the workers have
     imported gridmap's Dask paths (as a running cluster's workers have): fixes of the archive per second, wall
     time, the peak resident memory of each worker process (``ru_maxrss``, asked of every worker by
     ``client.run`` right after the run: the worker's peak since it started, its start-up included), the target
     <= 2 GiB each met or not; then the parallel efficiency t1 / (2 * t2), target >= 80 % met or not. To read
     an efficiency below target: the share of the wall time the workers spent computing tasks (Dask's task
     stream; the rest is waiting on each other, on the client or on the scheduler), the CPU seconds the workers
     used in all (the same for 1 and 2 workers when the work does not grow with the workers: then a longer
     wall time means the cores were busy with something else) and the machine's load average when the run
     started (other processes on the same cores);
   - *equality*: the sample's grids and window again through Dask (``sweep_coverage(sub_grids, DIR, start=,
     end=)`` on the 2-worker cluster) against the in-memory answer: the largest per-grid difference in
     ``covered_m2`` as a fraction of the grid's area (promise <= 1e-9) and the dead corners (count per grid
     equal). OK or NOT.
3. **counts**: the reports counted into a fishnet over the city (``gridmap.analysis.hotspot.fishnet`` with square
   cells sized so about ``--cells`` cells (default 100,000) cover the city's grids):

   - *in memory*: ``cell_counts(frame, cells)`` of the first day's reports (read from the archive): reports per
     second, wall time, peak resident memory (as above); and geopandas' ``sjoin`` (the peer, each report to
     the lowest ``cell_id`` whose closed square holds it) of the same frame;
   - *Dask*, 1 and 2 workers (fresh clusters as above): ``cell_counts(DIR, cells)`` of the whole archive:
     reports per second, wall time, peak memory per worker, target, efficiency;
   - *equality*: ``cell_counts(read_archive(DIR, layer="reports", start=day 1, end=day 2), cells)`` on the 2-worker
     cluster against the peer's counts of that day: every cell equal. OK or NOT.
4. **summary**: the measured per-worker throughput (fixes per second per worker, on 2 workers) and the
   extrapolation to a month of a large city, 1,000,000,000 fixes: hours on 1 to 64 workers and the workers
   needed for a night (8 h) and for an hour, assuming the per-worker rate holds (linear scaling beyond what was
   measured: an assumption, said so). A worker's memory follows the size of one day's partition, so the
   per-worker peak measured here is quoted per million fixes of the largest day.

The machine's cores are shared, so the efficiency is only indicative on a busy machine (the output prints the
cores). Needs the ``dask`` extra (dask-geopandas, distributed) and psutil.

Run: ``python benchmarks/city.py [--fixes 50000000] [--reports 10000000] [--cells 100000] [--dir PATH [--reuse]]
[--sample-fixes 300000] [--inspectors N] [--days 7] [--timeout 3600]`` (about 2 to 3 minutes to generate
50,000,000 fixes; the directory is a temporary one, removed at the end, unless ``--dir`` is given).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
# benchmarks/html.py would shadow the standard library's html (which Dask imports): this folder goes last
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE] + [HERE]

import _city_data as cd  # noqa: E402

START = "2025-03-03"  # a Monday
MEMORY_TARGET_MIB = 2048.0
EFFICIENCY_TARGET = 0.80
COVERAGE_TOLERANCE = 1e-9
MONTH_FIXES = 1_000_000_000


# ---------------------------------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------------------------------


@contextmanager
def rss_peak(interval: float = 0.02) -> Iterator[dict[str, float]]:
    """This process's resident memory (MiB) before and at its peak while the block runs (psutil, sampled)."""
    import psutil

    proc = psutil.Process()
    out = {"before_mib": proc.memory_info().rss / 2**20}
    out["peak_mib"] = out["before_mib"]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            out["peak_mib"] = max(out["peak_mib"], proc.memory_info().rss / 2**20)
            done.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()
        out["peak_mib"] = max(out["peak_mib"], proc.memory_info().rss / 2**20)


def warm_up() -> Callable[[], None]:
    """A function for ``client.run``: import what the jobs run (gridmap's Dask paths, GeoPandas, pyarrow), as a
    worker of a long-running cluster already has; made here (nested) so that it travels to the workers by value."""

    def load() -> None:
        import importlib

        for name in ("gridmap.analysis.coverage", "gridmap.analysis._coverage_dask", "gridmap.analysis.hotspot",
                     "gridmap.analysis._hotspot_dask", "gridmap.archive", "pyarrow.dataset", "pyarrow.parquet"):
            importlib.import_module(name)

    return load


def memory_probe() -> Callable[[], dict[str, float]]:
    """A function for ``client.run``: the calling process's resident memory now and its peak (MiB), and its CPU
    seconds so far (user + system).

    The peak is ``VmHWM`` of ``/proc/self/status``: the high-water mark of the process's own address space since
    it started (exec). Not ``ru_maxrss``: on Linux that keeps the parent's peak across fork and exec, so a worker
    spawned by a big process would report the parent's memory. Elsewhere ``ru_maxrss`` is the fallback. The
    function is made here (nested) so that it travels to the workers by value, whatever imported this file.
    """

    def probe() -> dict[str, float]:
        import pathlib
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        status = pathlib.Path("/proc/self/status")
        if status.exists():
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            return {"rss": int(fields["VmRSS"].split()[0]) / 1024, "peak": int(fields["VmHWM"].split()[0]) / 1024,
                    "cpu": cpu}
        return {"rss": usage.ru_maxrss / 1024, "peak": usage.ru_maxrss / 1024, "cpu": cpu}

    return probe


@contextmanager
def cluster(workers: int) -> Iterator[Any]:
    """A fresh local Dask cluster of `workers` processes (1 thread, 2 GiB each) and its Client, made the default.

    Only distributed's errors are logged (its notes, such as each shuffle started, would drown the output).
    """
    import distributed  # deferred: Dask is an optional extra

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit="2GiB",
                                  dashboard_address=None, silence_logs=logging.ERROR) as local, \
            distributed.Client(local) as client:
        client.wait_for_workers(workers)
        yield client


def within(seconds: float, run: Callable[[], Any]) -> Any:
    """`run()` in a daemon thread, waited for at most `seconds`: a paused or stuck cluster ends as a TimeoutError."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = run()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"not done within {seconds:g} s (--timeout)")
    if "error" in box:
        raise box["error"]
    return box["value"]


def on_cluster(workers: int, run: Callable[[], Any], after: Callable[[Any], Any] | None = None, *,
               timeout: float = 3600.0) -> dict[str, Any]:
    """Time `run()` on a fresh cluster of `workers`; the workers' peak memory; then `after(client)` there."""
    import distributed  # deferred: Dask is an optional extra

    out: dict[str, Any] = {"workers": workers}
    try:
        with cluster(workers) as client:
            client.run(warm_up())  # a running cluster has gridmap imported: its import is not the job's time
            before = client.run(memory_probe())
            out["start_mib"] = sorted(v["rss"] for v in before.values())
            out["load"] = os.getloadavg()[0]
            with distributed.get_task_stream(client) as stream:
                t0 = time.perf_counter()
                out["result"] = within(timeout, run)
                out["seconds"] = time.perf_counter() - t0
            out["busy"] = busy_seconds(stream.data)
            after_run = client.run(memory_probe())
            out["peaks_mib"] = sorted(v["peak"] for v in after_run.values())
            out["cpu"] = sum(after_run[w]["cpu"] - before[w]["cpu"] for w in after_run if w in before)
            if after is not None:
                t0 = time.perf_counter()
                out["after"] = within(timeout, lambda: after(client))
                out["after_seconds"] = time.perf_counter() - t0
    except Exception as exc:  # a killed worker (memory), a timeout or an interface not there yet: reported
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def busy_seconds(tasks: list[dict[str, Any]]) -> float:
    """Seconds the workers spent computing tasks (the task stream's "compute" spans), all workers added up."""
    return float(sum(span["stop"] - span["start"] for task in tasks for span in task.get("startstops", ())
                     if span.get("action") == "compute"))


def report_dask(label: str, unit: str, rows: int, runs: list[dict[str, Any]]) -> float | None:
    """Print each run (rate, wall, per-worker peak, memory target) and the efficiency; return it (or None)."""
    for run in runs:
        k = run["workers"]
        if "error" in run:
            killed = "KilledWorker" in run["error"]
            print(f"Dask, {k} worker(s): FAILED ({run['error'][:300]}); target <= 2 GiB per worker:"
                  f" {'NOT met (a worker was killed)' if killed else 'not judged'}")
            continue
        peaks = run["peaks_mib"]
        met = max(peaks) <= MEMORY_TARGET_MIB
        busy = run["busy"] / (k * run["seconds"])
        print(f"Dask, {k} worker(s): {rows / run['seconds']:,.0f} {unit}/s, wall {run['seconds']:.1f} s"
              f" (workers computing {busy:.0%} of it, {run['cpu']:.1f} CPU s in all; load average"
              f" {run['load']:.1f} at the start);"
              f" peak memory per worker {', '.join(f'{p:.0f}' for p in peaks)} MiB"
              f" (at start {', '.join(f'{p:.0f}' for p in run['start_mib'])} MiB);"
              f" target <= 2 GiB each: {'met' if met else 'NOT met'}")
    if len(runs) == 2 and all("seconds" in r for r in runs):
        eff = runs[0]["seconds"] / (2 * runs[1]["seconds"])
        print(f"{label}: parallel efficiency 1 -> 2 workers t1 / (2 t2) = {eff:.1%}; target >= 80 %:"
              f" {'met' if eff >= EFFICIENCY_TARGET else 'NOT met'}")
        return eff
    print(f"{label}: parallel efficiency not measured (a run failed)")
    return None


# ---------------------------------------------------------------------------------------------------------------
# 1. generation
# ---------------------------------------------------------------------------------------------------------------


def default_inspectors(n_fixes: int) -> int:
    """2,000 for 50,000,000 fixes (about 3,600 a day each over a week), fewer for fewer fixes, at least 20."""
    return int(min(2000, max(20, n_fixes // 25_000)))


def archive_rows(directory: Path, layer: str) -> dict[str, int]:
    """Rows per day of the archive's `layer`, from the files' footers."""
    root = Path(directory) / layer
    return {p.name[5:]: pq.ParquetFile(p / "part-0.parquet").metadata.num_rows
            for p in sorted(root.iterdir()) if p.name.startswith("date=")}


def generate(city: cd.City, directory: Path, n_fixes: int, n_reports: int, inspectors: int,
             days: list[pd.Timestamp]) -> dict[str, Any]:
    """Write the tracks and reports archives; rows, bytes, days and seconds of each."""
    out: dict[str, Any] = {}
    for layer in ("tracks", "reports"):
        t0 = time.perf_counter()
        if layer == "tracks":
            writer = cd.write_tracks(city, directory, n_fixes, inspectors, days)
        else:
            writer = cd.write_reports(city, directory, n_reports, days)
        out[layer] = {"rows": writer.rows, "bytes": writer.bytes, "days": writer.days,
                      "seconds": time.perf_counter() - t0}
    return out


def check_read_back(directory: Path, days: list[pd.Timestamp], n_fixes: int, n_reports: int) -> dict[str, Any]:
    """Footers add up; read_archive sees every day; one hour of day 1 in one subdistrict's box reads back."""
    import gridmap
    from gridmap.archive import archive_days

    out: dict[str, Any] = {}
    for layer, rows in (("tracks", n_fixes), ("reports", n_reports)):
        per_day = archive_rows(directory, layer)
        frame = gridmap.read_archive(directory, layer=layer)
        out[layer] = {"footer_rows": sum(per_day.values()), "expected": rows, "days": archive_days(directory, layer),
                      "partitions": frame.npartitions}
    start, end = days[0] + pd.Timedelta(hours=8), days[0] + pd.Timedelta(hours=9)
    window = gridmap.read_archive(directory, start=start, end=end).compute(scheduler="synchronous")
    out["window_rows"] = len(window)
    first, last = start.tz_localize(cd.TZ), end.tz_localize(cd.TZ)
    out["window_ok"] = bool(len(window) == 0 or (window["time"].min() >= first and window["time"].max() < last))
    return out


def report_generation(gen: dict[str, Any], back: dict[str, Any], days: list[pd.Timestamp]) -> bool:
    ok = True
    for layer in ("tracks", "reports"):
        g, b = gen[layer], back[layer]
        print(f"generated {g['rows']:,} {layer} in {g['seconds']:.1f} s ({g['rows'] / g['seconds']:,.0f} rows/s),"
              f" {len(g['days'])} files, {g['bytes'] / 2**20:,.1f} MiB")
        good = b["footer_rows"] == b["expected"] and b["partitions"] == len(days) == len(b["days"])
        ok &= good
        print(f"read back {layer}: {len(b['days'])} days, read_archive partitions {b['partitions']},"
              f" rows in the footers {b['footer_rows']:,} (expected {b['expected']:,}) {'OK' if good else 'NOT'}")
    ok &= back["window_ok"]
    print(f"read_archive of day 1, 08:00-09:00: {back['window_rows']:,} fixes, all in the window:"
          f" {'OK' if back['window_ok'] else 'NOT'}")
    return ok


# ---------------------------------------------------------------------------------------------------------------
# 2. coverage
# ---------------------------------------------------------------------------------------------------------------


def grown_box(grids: Any, metres: float) -> tuple[float, float, float, float]:
    """The grids' box grown by `metres` (in degrees, generously: the smaller metres per degree of longitude)."""
    x0, y0, x1, y1 = grids.total_bounds
    dy = metres / 110_574.0
    dx = metres / (111_320.0 * math.cos(math.radians(max(abs(y0), abs(y1)))))
    return (x0 - dx, y0 - dy, x1 + dx, y1 + dy)


def sample_window(directory: Path, grids: Any, days: list[pd.Timestamp], want: int) -> tuple[Any, ...]:
    """From 06:00 of day 1 a window holding about `want` fixes near `grids` (within 1.2 reaches), and those fixes.

    The window ends on a whole minute after the `want`-th fix (or at the end of the period).
    """
    import gridmap
    from gridmap.analysis.coverage import reach_m

    box = grown_box(grids, 1.2 * reach_m())
    start, stop = days[0] + pd.Timedelta(hours=6), days[-1] + pd.Timedelta(days=1)
    hours = 2.0
    while True:
        end = min(start + pd.Timedelta(hours=hours), stop)
        fixes = gridmap.read_archive(directory, start=start, end=end, bbox=box).compute(scheduler="synchronous")
        if len(fixes) >= want or end >= stop:
            break
        hours *= 2
    if len(fixes) > want:
        cut = fixes["time"].sort_values().iloc[want - 1].tz_convert(cd.TZ).tz_localize(None).ceil("min")
        end = min(cut, end)
    end_local = pd.Timestamp(end).tz_localize(cd.TZ)
    fixes = fixes[fixes["time"] < end_local].reset_index(drop=True)
    return start, pd.Timestamp(end), fixes


def coverage_in_memory(grids: Any, fixes: Any, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
    """sweep_coverage of `grids` on the in-memory `fixes` of the window: seconds, memory, per-grid answers."""
    from gridmap.analysis.coverage import sweep_coverage

    with rss_peak() as mem:
        t0 = time.perf_counter()
        result = sweep_coverage(grids, fixes, start=start, end=end)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "fixes": len(fixes), **mem, **coverage_answers(result)}


def coverage_answers(result: Any) -> dict[str, Any]:
    """Per grid: covered m², area m², dead corners; and the stats."""
    g = result.grids
    return {"covered": g["covered_m2"].to_numpy(dtype=float), "area": g["area_m2"].to_numpy(dtype=float),
            "dead": g["dead_corners"].to_numpy(dtype=float), "codes": g["grid_code"].to_numpy(),
            "dead_ids": sorted(result.dead_corners["corner_id"]), "stats": dict(result.stats)}


def compare_coverage(mem: dict[str, Any], dask: dict[str, Any]) -> dict[str, Any]:
    """Largest per-grid |covered difference| / area, dead corners equal (per grid and by id)."""
    same_grids = bool(np.array_equal(mem["codes"], dask["codes"]))
    if same_grids:
        unknown = np.isnan(mem["covered"]) & np.isnan(dask["covered"])  # both "no data": equal
        diff = np.nan_to_num(np.where(unknown, 0.0, np.abs(mem["covered"] - dask["covered"]) / mem["area"]),
                             nan=np.inf)
    else:
        diff = np.array([np.inf])
    dead_equal = same_grids and bool(np.array_equal(mem["dead"], dask["dead"], equal_nan=True)) \
        and mem["dead_ids"] == dask["dead_ids"]
    max_diff = float(diff.max()) if len(diff) else 0.0
    ok = same_grids and max_diff <= COVERAGE_TOLERANCE and dead_equal
    return {"max_diff": max_diff, "dead_equal": dead_equal, "dead": int(np.nansum(mem["dead"])), "ok": ok}


def coverage_part(city: cd.City, directory: Path, days: list[pd.Timestamp], n_fixes: int,
                  sample_fixes: int, timeout: float = 3600.0) -> dict[str, Any]:
    """The in-memory sample, Dask on 1 and 2 workers on the whole archive, and the equality on the sample."""
    import gridmap

    grids = city.subdistrict_grids(0)
    w0, w1, fixes = sample_window(directory, grids, days, sample_fixes)
    mem = coverage_in_memory(grids, fixes, w0, w1)
    del fixes
    first, last = days[0], days[-1] + pd.Timedelta(days=1)

    def full() -> Any:
        return coverage_answers(gridmap.sweep_coverage(city.grids, str(directory), start=first, end=last))

    def same(client: Any) -> Any:
        return coverage_answers(gridmap.sweep_coverage(grids, str(directory), start=w0, end=w1))

    runs = [on_cluster(1, full, timeout=timeout), on_cluster(2, full, same, timeout=timeout)]
    equal = compare_coverage(mem, runs[1]["after"]) if "after" in runs[1] else None
    return {"window": (w0, w1), "memory": mem, "runs": runs, "equal": equal, "rows": n_fixes}


def report_coverage(res: dict[str, Any]) -> dict[str, Any]:
    mem, (w0, w1) = res["memory"], res["window"]
    print(f"== coverage (radius 30 m): in memory, subdistrict 1 (36 grids), {mem['fixes']:,} fixes of {w0} to {w1}"
          f" within 1.2 reaches of its grids")
    print(f"in memory sweep_coverage: {mem['fixes'] / mem['seconds']:,.0f} fixes/s, wall {mem['seconds']:.2f} s;"
          f" resident memory {mem['before_mib']:.0f} MiB before, peak {mem['peak_mib']:.0f} MiB during the run")
    print(f"== coverage: Dask, all 720 grids, the whole archive ({res['rows']:,} fixes, {w0:%Y-%m-%d} + 7 days)")
    for run in res["runs"]:
        if "result" in run:
            s = run["result"]["stats"]
            print(f"Dask, {run['workers']} worker(s): fixes read {s.get('fixes_in', 0):,},"
                  f" used {s.get('fixes_used', 0):,},"
                  f" mean coverage {np.nanmean(run['result']['covered'] / run['result']['area']):.1%}")
    eff = report_dask("coverage", "fixes", res["rows"], res["runs"])
    eq = res["equal"]
    if eq is None:
        print("equality on the sample: NOT (the Dask run failed)")
    else:
        print(f"the sample through Dask on 2 workers: wall {res['runs'][1]['after_seconds']:.2f} s"
              f" (in memory {mem['seconds']:.2f} s)")
        print(f"equality on the sample (Dask on 2 workers vs in memory): largest per-grid covered difference"
              f" {eq['max_diff']:.2e} of the grid's area (promise <= 1e-9); dead corners equal:"
              f" {eq['dead_equal']} ({eq['dead']} in memory) {'OK' if eq['ok'] else 'NOT'}")
    return {"efficiency": eff, "ok": bool(eq and eq["ok"])}


# ---------------------------------------------------------------------------------------------------------------
# 3. counts
# ---------------------------------------------------------------------------------------------------------------


def city_cells(city: cd.City, n_cells: int) -> tuple[Any, float]:
    """A fishnet over the city's grids with square cells sized for about `n_cells` cells; and the side, m."""
    from gridmap.analysis.hotspot import fishnet
    from gridmap.crs import metric_crs

    area = city.grids.to_crs(metric_crs(city.grids)).union_all()
    side = math.sqrt(area.area / n_cells)
    return fishnet(city.grids, side), side


def peer_counts(reports: Any, cells: Any) -> np.ndarray:
    """geopandas sjoin: each report to the lowest-numbered cell whose closed square holds it; counts per cell."""
    import geopandas as gpd

    joined = gpd.sjoin(reports[["geometry"]], cells[["geometry"]].reset_index(drop=True), predicate="intersects",
                       how="inner")
    first = joined.groupby(level=0)["index_right"].min()
    return np.bincount(first.to_numpy(), minlength=len(cells)).astype(np.int64)


def counting() -> Callable[..., Any]:
    """gridmap.analysis.hotspot.cell_counts (helper dhot adds it), or a stand-in saying it is missing."""
    from gridmap.analysis import hotspot

    found = getattr(hotspot, "cell_counts", None)
    if found is not None:
        return found  # type: ignore[no-any-return]

    def missing(*_: Any) -> Any:
        raise NotImplementedError("gridmap.analysis.hotspot.cell_counts is not there (issue 15, helper dhot)")

    return missing


def counts_part(city: cd.City, directory: Path, days: list[pd.Timestamp], n_reports: int,
                n_cells: int, timeout: float = 3600.0) -> dict[str, Any]:
    """In memory on day 1 (cell_counts and the peer), Dask on 1 and 2 workers on the archive, equality on day 1."""
    import gridmap

    cell_counts = counting()
    cells, side = city_cells(city, n_cells)
    d0, d1 = days[0], days[0] + pd.Timedelta(days=1)
    day = gridmap.read_archive(directory, layer="reports", start=d0, end=d1).compute(scheduler="synchronous")
    t0 = time.perf_counter()
    peer = peer_counts(day, cells)
    peer_s = time.perf_counter() - t0
    with rss_peak() as mem:
        t0 = time.perf_counter()
        try:
            ours: Any = np.asarray(cell_counts(day, cells))
        except Exception as exc:  # the interface not there yet: reported, not hidden
            ours = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - t0
    n_day = len(day)
    del day

    def full() -> Any:
        return np.asarray(cell_counts(str(directory), cells))

    def same(client: Any) -> Any:
        return np.asarray(cell_counts(gridmap.read_archive(directory, layer="reports", start=d0, end=d1), cells))

    runs = [on_cluster(1, full, timeout=timeout), on_cluster(2, full, same, timeout=timeout)]
    return {"cells": len(cells), "side": side, "day_rows": n_day, "peer": peer, "peer_s": peer_s, "ours": ours,
            "seconds": seconds, "memory": mem, "runs": runs, "rows": n_reports}


def report_counts(res: dict[str, Any]) -> dict[str, Any]:
    mem = res["memory"]
    print(f"== counts: reports into a fishnet of {res['cells']:,} cells of {res['side']:.1f} m over the city")
    if isinstance(res["ours"], str):
        print(f"in memory cell_counts, day 1 ({res['day_rows']:,} reports): FAILED ({res['ours'][:300]})")
    else:
        print(f"in memory cell_counts, day 1 ({res['day_rows']:,} reports): {res['day_rows'] / res['seconds']:,.0f}"
              f" reports/s, wall {res['seconds']:.2f} s; resident memory {mem['before_mib']:.0f} MiB before, peak"
              f" {mem['peak_mib']:.0f} MiB during the run; equal to the peer:"
              f" {np.array_equal(res['ours'], res['peer'])}")
    print(f"peer (geopandas sjoin, same day): {res['day_rows'] / res['peer_s']:,.0f} reports/s,"
          f" wall {res['peer_s']:.2f} s")
    print(f"== counts: Dask, the whole archive ({res['rows']:,} reports)")
    for run in res["runs"]:
        if "result" in run:
            print(f"Dask, {run['workers']} worker(s): reports counted in a cell {int(run['result'].sum()):,}")
    eff = report_dask("counts", "reports", res["rows"], res["runs"])
    after = res["runs"][1].get("after")
    ok = after is not None and np.array_equal(after, res["peer"]) and np.array_equal(res["ours"], res["peer"])
    if after is None:
        print("equality on day 1: NOT (the Dask run failed)")
    else:
        print(f"day 1 through Dask on 2 workers: wall {res['runs'][1]['after_seconds']:.2f} s"
              f" (in memory {res['seconds']:.2f} s)")
        print(f"equality on day 1 (Dask on 2 workers vs the peer, {int(res['peer'].sum()):,} reports in cells):"
              f" cells differing {int(np.sum(after != res['peer']))} {'OK' if ok else 'NOT'}")
    return {"efficiency": eff, "ok": bool(ok)}


# ---------------------------------------------------------------------------------------------------------------
# 4. summary
# ---------------------------------------------------------------------------------------------------------------


def summary(cov: dict[str, Any], n_fixes: int, n_days: int) -> dict[str, Any]:
    """Per-worker throughput (1 and 2 workers) and the extrapolation to MONTH_FIXES."""
    runs = {r["workers"]: r for r in cov["runs"] if "seconds" in r}
    out: dict[str, Any] = {}
    if 1 in runs:
        out["one"] = n_fixes / runs[1]["seconds"]
    if 2 in runs:
        out["per_worker"] = n_fixes / runs[2]["seconds"] / 2
        out["peak_mib"] = max(runs[2]["peaks_mib"])
        out["start_mib"] = max(runs[2]["start_mib"])
    rate = out.get("per_worker", out.get("one"))
    if rate:
        out["hours"] = {w: MONTH_FIXES / (rate * w) / 3600 for w in (1, 2, 4, 8, 16, 32, 64)}
        out["night_workers"] = math.ceil(MONTH_FIXES / (rate * 8 * 3600))
        out["hour_workers"] = math.ceil(MONTH_FIXES / (rate * 3600))
    out["day_fixes"] = n_fixes / n_days
    out["in_memory"] = cov["memory"]["fixes"] / cov["memory"]["seconds"] if "memory" in cov else None
    return out


def report_summary(s: dict[str, Any]) -> None:
    print("== summary")
    if "hours" not in s:
        print("no Dask run finished: no throughput to extrapolate")
        return
    if "one" in s:
        print(f"throughput on 1 worker: {s['one']:,.0f} fixes/s")
    if "per_worker" in s:
        print(f"throughput per worker on 2 workers: {s['per_worker']:,.0f} fixes/s per worker")
    if s.get("in_memory"):
        print(f"(in memory, one process, subdistrict 1's 36 grids: {s['in_memory']:,.0f} fixes/s)")
    print(f"a month of a large city, {MONTH_FIXES:,} fixes, at that rate per worker (assuming it holds as workers are"
          f" added: an extrapolation, not measured):")
    print("  " + "; ".join(f"{w} worker(s) {h:,.1f} h" for w, h in s["hours"].items()))
    print(f"  workers for one night (8 h): {s['night_workers']}; for one hour: {s['hour_workers']}")
    if "peak_mib" in s:
        from gridmap.archive import SLICE_ROWS

        slices = math.ceil(s["day_fixes"] / SLICE_ROWS)
        print(f"memory: a worker's peak here {s['peak_mib']:.0f} MiB ({s['start_mib']:.0f} MiB at start); a task reads"
              f" a day's fixes in slices of time of at most about {SLICE_ROWS:,} (gridmap.archive.SLICE_ROWS; here"
              f" about {slices} a day), so a busier day (a month of {MONTH_FIXES:,} has days of about"
              f" {MONTH_FIXES / 30:,.0f}) makes more slices, not bigger ones")


# ---------------------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fixes", type=int, default=50_000_000, help="GPS fixes over the period (default 50000000)")
    parser.add_argument("--reports", type=int, default=10_000_000, help="reports over the period (default 10000000)")
    parser.add_argument("--cells", type=int, default=100_000, help="about this many fishnet cells (default 100000)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="the archive's directory (default a temporary one, removed at the end; a given one"
                             " is kept)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --dir: measure the archive already there (made with the same --seed)")
    parser.add_argument("--sample-fixes", type=int, default=300_000,
                        help="fixes of the in-memory coverage sample (default 300000)")
    parser.add_argument("--inspectors", type=int, default=None,
                        help="inspectors (default 2000 for 50,000,000 fixes, fewer for fewer, at least 20)")
    parser.add_argument("--days", type=int, default=7, help="days of the period from 2025-03-03 (default 7)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=("all", "coverage", "counts"), default="all",
                        help="measure coverage, the counts, or both (default)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds a Dask run may take before it counts as failed (default 3600)")
    args = parser.parse_args(argv)
    if min(args.fixes, args.reports, args.cells, args.sample_fixes, args.days) <= 0:
        parser.error("--fixes, --reports, --cells, --sample-fixes and --days must be positive")
    if args.reuse and args.dir is None:
        parser.error("--reuse needs --dir PATH (the archive to use)")
    return args


def the_archive(args: argparse.Namespace, directory: Path) -> tuple[int, int, list[pd.Timestamp]]:
    """Fixes, reports and days: of the archive already in `directory` (--reuse), else those asked for."""
    from gridmap.archive import archive_days

    if not args.reuse:
        if args.dir is not None and directory.exists() and any(directory.iterdir()):
            raise SystemExit(f"{directory} is not empty: give an empty or new --dir, or add --reuse")
        return args.fixes, args.reports, cd.period_days(START, args.days)
    days = archive_days(directory, "tracks")
    if not days or days != archive_days(directory, "reports"):
        raise SystemExit(f"{directory} holds no archive of this benchmark (tracks and reports of the same days):"
                         " leave out --reuse to make one")
    fixes, reports = (sum(archive_rows(directory, layer).values()) for layer in ("tracks", "reports"))
    return fixes, reports, cd.period_days(days[0], len(days))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print it; return what was measured (for tests)."""
    args = parse(argv)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="gridmap-city-"))
    n_fixes, n_reports, days = the_archive(args, directory)
    inspectors = args.inspectors or default_inspectors(n_fixes)
    print(f"machine: {os.cpu_count()} cores (shared); times are wall-clock seconds; archive in {directory}")
    made = f"reusing the archive there (made with --seed {args.seed})" if args.reuse else f"{inspectors:,} inspectors"
    print(f"city (simulated, illustrative): 20 subdistricts x 36 grids near Yulin, Shaanxi (WGS84), {made},"
          f" {n_fixes:,} fixes and {n_reports:,} reports over {len(days)} days from {days[0]:%Y-%m-%d}")
    city = cd.make_city(args.seed)
    try:
        gen = None if args.reuse else generate(city, directory, n_fixes, n_reports, inspectors, days)
        back = check_read_back(directory, days, n_fixes, n_reports)
        gen_ok = report_generation(gen, back, days) if gen is not None else True
        cov = cov_verdict = cnt = cnt_verdict = summ = None
        if args.part in ("all", "coverage"):
            cov = coverage_part(city, directory, days, n_fixes, args.sample_fixes, args.timeout)
            cov_verdict = report_coverage(cov)
        if args.part in ("all", "counts"):
            cnt = counts_part(city, directory, days, n_reports, args.cells, args.timeout)
            cnt_verdict = report_counts(cnt)
        if cov is not None:
            summ = summary(cov, n_fixes, len(days))
            report_summary(summ)
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    return {"generation": gen, "read_back": back, "generation_ok": gen_ok, "coverage": cov, "coverage_ok":
            cov_verdict, "counts": cnt, "counts_ok": cnt_verdict, "summary": summ}


if __name__ == "__main__":
    main()
