"""Issue 15: coverage and hot spots through a real two-worker Dask cluster give the in-memory answers.

The cluster (tests/_dask_cluster.py) is three programs started here: ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1, reached through ``gridmap.dask_scheduler("tcp://...")``. What is checked against what:

* that both workers are separate processes started by the fixture that ran tasks: their process ids and
  parents read with psutil, and where the scheduler says each result lives (``who_has``);
* coverage of the sample archive's days computed by the cluster against ``sweep_coverage`` of the same fixes in
  memory (per grid, the covered area within 1e-9 of the grid's area; the same dead corners);
* report counts per cell against a brute-force point-in-polygon loop in shapely (the first cell holding the
  point, as the in-memory ``hotspots`` counts), and Gi* and the emerging analysis against the in-memory
  functions on the same reports.

Needs the archive paths of ``sweep_coverage`` and of the hot-spot functions (issue 15's helpers ``dcov`` and
``dhot``); the cluster tests of this module's first part need only ``dask_scheduler``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psutil
import pytest
import shapely

import gridmap
from gridmap.cli import main
from _dask_cluster import ROOT, Cluster, dask_cluster  # noqa: F401  (the module-scoped fixture)
from gridmap.analysis import hotspot  # hotspot.cell_counts: issue 15's archive counting (helper dhot)
from gridmap.analysis.hotspot import emerging_hotspots, fishnet, hotspots

TZ = "Asia/Shanghai"
DAYS = ("2025-03-03", "2025-03-05")  # two days of the sample's fixes: two partitions
REPORTS = ("2025-01-01", "2025-03-01")  # two months of reports (59 partitions), weekly for the emerging analysis


def _growing_cluster(path: Path, grids: gpd.GeoDataFrame) -> Path:
    """A CSV of reports piling up in one grid, more each fortnight: a hot spot that the sample alone lacks."""
    centre = grids.to_crs("EPSG:4326").geometry.iloc[5].representative_point()
    rows, number = ["report_id,reported_at,category,description,lon,lat"], 0
    for day in range(59):
        date = pd.Timestamp("2025-01-01") + pd.Timedelta(days=day)
        for k in range(1 + day // 15):
            number += 1
            rows.append(f"X{number:03d},{date:%Y-%m-%d} {8 + k}:{7 * number % 60:02d},垃圾乱倒,北大街,"
                        f"{centre.x + 0.0002 * (number % 5 - 2):.6f},{centre.y + 0.0002 * (number % 3 - 1):.6f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sample(sample_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample workspace with a growing cluster of reports; its layers, and an archive of two days of its
    fixes and two months of its reports."""
    folder = tmp_path_factory.mktemp("cluster-archive")
    path = folder / "w.gpkg"
    path.write_bytes(sample_template.read_bytes())
    extra = _growing_cluster(folder / "extra.csv", gpd.read_file(path, layer="grids"))
    assert main(["import", str(path), "reports", str(extra), "--coords", "wgs84"]) == 0
    with gridmap.open_workspace(path) as ws:
        layers = {name: ws.read_layer(name) for name in ("grids", "targets", "subdistrict", "tracks", "reports")}
        gridmap.archive_layer(ws, folder / "archive", layer="tracks", start=DAYS[0], end=DAYS[1])
        gridmap.archive_layer(ws, folder / "archive", layer="reports", start=REPORTS[0], end=REPORTS[1])
    layers["archive"], layers["path"] = folder / "archive", path
    return layers


def in_window(frame: pd.DataFrame, column: str, start: str, end: str) -> pd.DataFrame:
    """The rows with start <= time < end (Asia/Shanghai), by plain pandas comparisons."""
    times = frame[column]
    keep = times.notna() & (times >= pd.Timestamp(start, tz=TZ)) & (times < pd.Timestamp(end, tz=TZ))
    return frame[keep.to_numpy()]


# -- the cluster itself ---------------------------------------------------------------------------------------------


@pytest.mark.dask_cluster
def test_two_worker_processes_of_the_fixture_run_tasks(dask_cluster: Cluster) -> None:  # noqa: F811
    with gridmap.dask_scheduler(dask_cluster.address) as client:
        pids = client.run(os.getpid)
        assert len(pids) == 2 and len(set(pids.values())) == 2 and os.getpid() not in pids.values()
        # each worker process is a child of one `dask worker` program started by the fixture, not of this process
        assert {psutil.Process(pid).ppid() for pid in pids.values()} == set(dask_cluster.worker_pids)
        # a task pinned to each worker runs there (its pid) and its result is held there (who_has)
        futures = {address: client.submit(lambda n: (os.getpid(), n * n), number, workers=[address],
                                          allow_other_workers=False, pure=False)
                   for number, address in enumerate(sorted(pids))}
        for number, (address, future) in enumerate(sorted(futures.items())):
            assert future.result() == (pids[address], number * number)
            assert client.who_has(future)[future.key] == (address,)
        # the workers import the gridmap of this checkout
        files = client.run(lambda: __import__("gridmap").__file__)
        assert {Path(f).resolve() for f in files.values()} == {ROOT / "gridmap" / "__init__.py"}


@pytest.mark.dask_cluster
def test_the_cluster_is_stopped_after_its_block(tmp_path: Path) -> None:
    from _dask_cluster import running_cluster

    with running_cluster(tmp_path) as cluster:
        programs = list(cluster.processes)
        assert all(p.poll() is None for p in programs)
    assert all(p.poll() is not None for p in programs)  # scheduler and both workers have exited


# -- coverage -------------------------------------------------------------------------------------------------------


@pytest.mark.dask_cluster
def test_coverage_through_the_cluster_equals_in_memory(sample: dict[str, Any],
                                                       dask_cluster: Cluster) -> None:  # noqa: F811
    from distributed import get_task_stream

    grids, targets = sample["grids"], sample["targets"]
    memory = gridmap.sweep_coverage(grids, sample["tracks"], targets=targets, start=DAYS[0], end=DAYS[1])
    with gridmap.dask_scheduler(dask_cluster.address) as client, get_task_stream(client) as stream:
        remote = gridmap.sweep_coverage(grids, sample["archive"], targets=targets, start=DAYS[0], end=DAYS[1])
        workers = set(client.scheduler_info(n_workers=-1)["workers"])
    assert stream.data and {task["worker"] for task in stream.data} <= workers  # the cluster did the work
    ours = memory.grids.set_index("grid_code")
    theirs = remote.grids.set_index("grid_code").loc[ours.index]
    assert len(ours) == len(grids) == 36
    assert memory.stats["fixes_used"] == remote.stats["fixes_used"] > 0
    tolerance = 1e-9 * ours["area_m2"].to_numpy()
    assert np.all(np.abs(theirs["covered_m2"].to_numpy() - ours["covered_m2"].to_numpy()) <= tolerance)
    assert theirs["dead_corners"].tolist() == ours["dead_corners"].tolist()
    assert len(remote.dead_corners) == len(memory.dead_corners) > 0
    assert remote.targets["visited"].tolist() == memory.targets["visited"].tolist()


@pytest.mark.dask_cluster
def test_the_command_line_through_the_cluster(sample: dict[str, Any], dask_cluster: Cluster,  # noqa: F811
                                              tmp_path: Path) -> None:
    window = ["--from", DAYS[0], "--to", DAYS[1], "--quiet"]
    assert main(["coverage", str(sample["path"]), *window, "--csv", str(tmp_path / "ws.csv")]) == 0
    assert main(["coverage", str(sample["path"]), *window, "--tracks", str(sample["archive"]),
                 "--scheduler", dask_cluster.address, "--csv", str(tmp_path / "cluster.csv")]) == 0
    ours = pd.read_csv(tmp_path / "ws.csv", dtype={"grid_code": str}, encoding="utf-8-sig").set_index("grid_code")
    theirs = pd.read_csv(tmp_path / "cluster.csv", dtype={"grid_code": str}, encoding="utf-8-sig") \
        .set_index("grid_code").loc[ours.index]
    assert np.all(np.abs(theirs["covered_m2"] - ours["covered_m2"]) <= 1e-9 * ours["area_m2"])
    assert theirs["dead_corners"].tolist() == ours["dead_corners"].tolist()


# -- hot spots ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cells(sample: dict[str, Any]) -> gpd.GeoDataFrame:
    return fishnet(sample["subdistrict"], 250.0)


def brute_force_counts(reports: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> np.ndarray:
    """Reports per cell: each located report to the first cell (input order) whose closure holds it."""
    points = reports.geometry.to_crs(cells.crs)
    counts = np.zeros(len(cells), dtype=np.int64)
    polygons = list(cells.geometry)
    for point in points:
        if point is None or point.is_empty:
            continue
        for position, polygon in enumerate(polygons):
            if shapely.intersects(polygon, point):
                counts[position] += 1
                break
    return counts


@pytest.mark.dask_cluster
def test_cell_counts_of_the_archive_through_the_cluster(sample: dict[str, Any], cells: gpd.GeoDataFrame,
                                                        dask_cluster: Cluster) -> None:  # noqa: F811
    archived = in_window(sample["reports"], "reported_at", *REPORTS)
    expected = brute_force_counts(archived, cells)
    with gridmap.dask_scheduler(dask_cluster.address):
        counted = hotspot.cell_counts(sample["archive"], cells)
        reports = gridmap.read_archive(sample["archive"], layer="reports", start="2025-02-01", end="2025-03-01")
        window = hotspot.cell_counts(reports, cells)
    assert isinstance(counted, np.ndarray) and counted.dtype == np.int64
    assert counted.tolist() == expected.tolist() and counted.sum() > 0
    february = brute_force_counts(in_window(sample["reports"], "reported_at", "2025-02-01", "2025-03-01"), cells)
    assert window.tolist() == february.tolist()


@pytest.mark.dask_cluster
def test_hotspots_through_the_cluster_equal_in_memory(sample: dict[str, Any], cells: gpd.GeoDataFrame,
                                                      dask_cluster: Cluster) -> None:  # noqa: F811
    reports = in_window(sample["reports"], "reported_at", *REPORTS)
    memory_hot = hotspots(reports, cells)
    memory_emerging = emerging_hotspots(reports, cells, interval="week")
    assert (memory_hot["gi_bin"] > 0).any() and (memory_emerging["category"] != "no pattern detected").any()
    with gridmap.dask_scheduler(dask_cluster.address):
        frame = gridmap.read_archive(sample["archive"], layer="reports", start=REPORTS[0], end=REPORTS[1])
        hot = hotspots(frame, cells)
        emerging = emerging_hotspots(frame, cells, interval="week")
    assert hot["count"].tolist() == memory_hot["count"].tolist() == brute_force_counts(reports, cells).tolist()
    np.testing.assert_allclose(hot["gi_z"].to_numpy(), memory_hot["gi_z"].to_numpy(), rtol=1e-12, atol=1e-12)
    assert hot["gi_bin"].tolist() == memory_hot["gi_bin"].tolist()
    assert emerging["category"].tolist() == memory_emerging["category"].tolist()
    np.testing.assert_allclose(emerging["trend_z"].to_numpy(), memory_emerging["trend_z"].to_numpy(),
                               rtol=1e-12, atol=1e-12, equal_nan=True)


# -- the schedulers of this machine ---------------------------------------------------------------------------------


def test_threads_make_an_in_process_cluster_active_and_close_it() -> None:
    import dask
    import dask.array as da

    with gridmap.dask_scheduler("threads", workers=2) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        assert len(workers) == 2 and all(w["nthreads"] == max(1, (os.cpu_count() or 1) // 2) for w in workers.values())
        assert set(client.run(os.getpid).values()) == {os.getpid()}  # threads of this process
        assert dask.config.get("scheduler") == "dask.distributed"
        assert float(da.arange(100, chunks=10).sum().compute()) == 4950.0
    assert client.status == "closed" and dask.config.get("scheduler", None) is None


def test_processes_start_worker_processes_of_one_thread() -> None:
    with gridmap.dask_scheduler("processes", workers=2) as client:
        pids = client.run(os.getpid)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        assert len(pids) == 2 and os.getpid() not in pids.values()
        assert all(psutil.Process(pid).parent() is not None for pid in pids.values())
        assert [w["nthreads"] for w in workers.values()] == [1, 1]
        assert client.submit(lambda: os.getpid(), pure=False).result() in pids.values()
    assert client.status == "closed"
    assert not any(_running(pid) for pid in pids.values())


def _running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie waiting for its parent does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_synchronous_runs_in_the_calling_thread_and_is_undone_after() -> None:
    import threading

    import dask

    ran_in: list[int] = []
    with gridmap.dask_scheduler("synchronous") as client:
        assert client is None
        dask.delayed(lambda: ran_in.append(threading.get_ident()))().compute()
    assert ran_in == [threading.get_ident()]
    assert dask.config.get("scheduler", None) is None


def test_an_error_in_the_block_still_closes_the_cluster() -> None:
    import logging

    import dask
    import distributed  # noqa: F401  (its import sets its loggers' levels: the state to come back to)

    before = logging.getLogger("distributed").level
    with pytest.raises(ZeroDivisionError):
        with gridmap.dask_scheduler("threads") as client:
            assert not logging.getLogger("distributed").isEnabledFor(logging.WARNING)  # quiet inside
            1 / 0
    assert client.status == "closed" and dask.config.get("scheduler", None) is None
    assert logging.getLogger("distributed").level == before  # and as it was after


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_a_local_cluster_prints_nothing(scheduler: str, tmp_path: Path) -> None:
    """Started and stopped as the command line does (logging of warnings to stderr): not one line of output."""
    import subprocess
    import sys

    program = ("import logging, dask, gridmap\n"
               "if __name__ == '__main__':  # as gridmap/__main__.py: a worker process imports this file again\n"
               "    logging.basicConfig(level=logging.WARNING)\n"
               f"    with gridmap.dask_scheduler({scheduler!r}, workers=2):\n"
               "        assert dask.delayed(sum)([1, 2, 3]).compute() == 6\n")
    script = tmp_path / "run.py"
    script.write_text(program, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
