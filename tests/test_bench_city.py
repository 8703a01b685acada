"""benchmarks/city.py at a tiny size: the simulated city, its archive, the measurements (no timings asserted).

Everything expected is computed here independently: the archive is read back with pyarrow and geopandas file by
file (not through the generator), positions are checked against the grids with geopandas, the schema against the
one ``gridmap.archive.archive_layer`` writes for the bundled sample, the counts with geopandas ``sjoin`` and the
coverage with the in-memory ``sweep_coverage`` on fixes read with geopandas.

The last test runs the whole script and needs the Dask paths of issue 15 (``sweep_coverage`` of an archive
directory, ``gridmap.analysis.hotspot.cell_counts``): it passes once those are merged.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

import gridmap
from gridmap.archive import ROW_GROUP_ROWS, archive_layer
from gridmap.model import layer_spec

pytest.importorskip("dask_geopandas")
pytest.importorskip("distributed")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
TZ = "Asia/Shanghai"


def _load(name: str, file: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, BENCH / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> Any:
    return _load("bench_city", "city.py")


@pytest.fixture(scope="module")
def cd(bench: Any) -> Any:
    return sys.modules["_city_data"]


@pytest.fixture(scope="module")
def archive(cd: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("city")
    city = cd.make_city(0)
    days = cd.period_days("2025-03-03", 3)
    tracks = cd.write_tracks(city, root, 6001, 21, days)
    reports = cd.write_reports(city, root, 2003, days)
    return {"root": root, "city": city, "days": days, "tracks": tracks, "reports": reports, "fixes": 6001,
            "n_reports": 2003, "inspectors": 21}


def _files(root: Path, layer: str) -> dict[str, Path]:
    return {p.name[5:]: p / "part-0.parquet" for p in sorted((root / layer).iterdir())}


def test_the_city_is_720_grids_tiling_twenty_subdistricts(cd: Any) -> None:
    grids = cd.make_city(0).grids
    assert len(grids) == 720 and grids["grid_code"].is_unique and grids.crs.to_epsg() == 4326
    assert grids["grid_code"].str.len().eq(15).all()
    assert (grids["grid_code"].str[:12] == grids["community_code"]).all()
    assert grids["grid_code"].str[:9].value_counts().eq(36).all() and grids["grid_code"].str[:9].nunique() == 20
    assert grids["community_code"].value_counts().eq(6).all()
    assert grids["cadre"].str.len().between(2, 3).all() and grids.geometry.is_valid.all()
    metric = grids.to_crs(32649)
    union = shapely.union_all(metric.geometry.values)
    assert union.geom_type == "Polygon"  # one piece, no holes between grids
    assert metric.area.sum() == pytest.approx(union.area, rel=1e-9)  # no overlaps
    assert union.area == pytest.approx(30 * 400 * 24 * 450, rel=1e-6)  # the jitter moves inner vertices only
    lon0, lat0, lon1, lat1 = grids.total_bounds
    assert 109 < lon0 < lon1 < 110.5 and 38 < lat0 < lat1 < 38.6


def test_the_archive_is_what_read_archive_reads_one_file_a_day(archive: dict[str, Any]) -> None:
    root, days = archive["root"], archive["days"]
    for layer, total in (("tracks", archive["fixes"]), ("reports", archive["n_reports"])):
        files = _files(root, layer)
        assert list(files) == [d.strftime("%Y-%m-%d") for d in days]
        column = "time" if layer == "tracks" else "reported_at"
        per_day = {}
        for day, path in files.items():
            frame = gpd.read_parquet(path)
            per_day[day] = len(frame)
            local = frame[column].dt.tz_convert(TZ).dt.strftime("%Y-%m-%d")
            assert (local == day).all()
        want = [total // 3 + (i < total % 3) for i in range(3)]
        assert list(per_day.values()) == want
        read = gridmap.read_archive(root, layer=layer)
        assert read.npartitions == 3
        back = read.compute(scheduler="synchronous")
        assert len(back) == total
        assert list(back.columns) == [c.name for c in layer_spec(layer).columns] + ["geometry"]
    fixes = gridmap.read_archive(root).compute(scheduler="synchronous")
    assert not fixes.duplicated(["inspector", "time"]).any()
    assert fixes["inspector"].nunique() == archive["inspectors"]
    reports = gridmap.read_archive(root, layer="reports").compute(scheduler="synchronous")
    assert reports["report_id"].is_unique


def test_the_files_have_the_schema_geopandas_writes_for_the_layers(archive: dict[str, Any], tmp_path: Path) -> None:
    with gridmap.init_workspace(tmp_path / "w.gpkg", sample=True) as ws:
        for layer in ("tracks", "reports"):
            archive_layer(ws, tmp_path / "a", layer=layer, start="2025-03-03", end="2025-03-04")
    for layer in ("tracks", "reports"):
        ours = pq.ParquetFile(_files(archive["root"], layer)["2025-03-04"])
        theirs = pq.read_schema(tmp_path / "a" / layer / "date=2025-03-03" / "part-0.parquet")
        assert ours.schema_arrow.remove_metadata().equals(theirs.remove_metadata())
        assert json.loads(ours.schema_arrow.metadata[b"pandas"]) == json.loads(theirs.metadata[b"pandas"])
        geo, want = json.loads(ours.schema_arrow.metadata[b"geo"]), json.loads(theirs.metadata[b"geo"])
        bbox = geo["columns"]["geometry"].pop("bbox")
        want["columns"]["geometry"].pop("bbox")
        assert geo == want  # version 1.1.0, WKB, WGS84 as PROJJSON, Point, the bbox covering
        assert ours.metadata.row_group(0).column(0).compression == "ZSTD"
        frame = gpd.read_parquet(_files(archive["root"], layer)["2025-03-04"])
        x0, y0, x1, y1 = frame.total_bounds
        assert bbox[0] <= x0 and bbox[1] <= y0 and x1 <= bbox[2] and y1 <= bbox[3]
        table = ours.read()
        xy = shapely.get_coordinates(shapely.from_wkb(table["geometry"].to_numpy(zero_copy_only=False)))
        assert table["geometry"].to_pylist() == list(shapely.to_wkb(shapely.points(xy)))
        boxes = table["bbox"].to_pandas()
        assert [b["xmin"] for b in boxes] == list(xy[:, 0]) == [b["xmax"] for b in boxes]
        assert [b["ymin"] for b in boxes] == list(xy[:, 1]) == [b["ymax"] for b in boxes]


def test_each_chunk_is_sorted_along_the_hilbert_curve_in_row_groups(
        cd: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cd, "CHUNK_ROWS", 700)  # 700 fixes per inspector and day: one inspector a chunk
    monkeypatch.setattr(cd, "ROW_GROUP_ROWS", 256)
    city = cd.make_city(1)
    cd.write_tracks(city, tmp_path, 4 * 700, 4, cd.period_days("2025-03-05", 1))
    path = tmp_path / "tracks" / "date=2025-03-05" / "part-0.parquet"
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [256, 256, 188] * 4
    frame = gpd.read_parquet(path)
    for _, chunk in frame.groupby("inspector", sort=False):
        h = chunk.geometry.hilbert_distance(level=16).to_numpy()  # geopandas, over the chunk's own extent
        assert (np.diff(h) >= 0).all()
    assert list(frame["inspector"].drop_duplicates()) == sorted(frame["inspector"].unique())
    assert ROW_GROUP_ROWS == 16_384  # what the benchmark writes when not patched


def test_inspectors_walk_their_subdistrict_at_a_walking_pace(archive: dict[str, Any]) -> None:
    city, root = archive["city"], archive["root"]
    fixes = gridmap.read_archive(root).compute(scheduler="synchronous").to_crs(32649)
    fixes = fixes.sort_values(["inspector", "time"], kind="stable")
    x, y = fixes.geometry.x.to_numpy(), fixes.geometry.y.to_numpy()
    who = fixes["inspector"].to_numpy()
    same = who[1:] == who[:-1]
    dt = np.diff(fixes["time"].dt.as_unit("ms").astype("int64").to_numpy())[same] / 1000
    speed = np.hypot(np.diff(x), np.diff(y))[same] / dt
    assert np.all(dt > 0)
    assert 0.9 < np.median(speed) < 1.8 and np.mean(speed < 3) > 0.95
    assert np.median(dt) == pytest.approx(10, abs=0.5)
    assert 0 < np.mean(speed > 8) < 0.01  # a few GPS jumps, which sweep_coverage breaks
    local = fixes["time"].dt.tz_convert(TZ)
    assert (local.dt.hour >= 6).all()
    # each inspector keeps to the grids of one subdistrict (jumps aside): inspector k walks subdistrict k % 20
    grids = city.grids.to_crs(32649)
    number = fixes["inspector"].str[3:].astype(int).to_numpy()
    sub = np.char.add("610802", np.char.zfill((number % 20 + 1).astype(str), 3))
    hit = gpd.sjoin(fixes[["geometry"]].reset_index(drop=True), grids[["grid_code", "geometry"]], how="left",
                    predicate="intersects")
    hit = hit[~hit.index.duplicated()]
    own = hit["grid_code"].fillna("").str[:9].to_numpy() == sub
    assert np.mean(own) > 0.9


def test_each_report_names_the_grid_that_holds_it(archive: dict[str, Any]) -> None:
    reports = gridmap.read_archive(archive["root"], layer="reports").compute(scheduler="synchronous")
    grids = archive["city"].grids
    holding = grids[["grid_code", "geometry"]].rename(columns={"grid_code": "holding"})
    hit = gpd.sjoin(reports[["report_id", "geometry"]], holding, how="left", predicate="intersects")
    hit = hit.drop_duplicates("report_id").set_index("report_id")["holding"]
    named = reports.set_index("report_id")["grid_code"]
    pd.testing.assert_series_equal(hit.reindex(named.index).astype(object).fillna("-"),
                                   named.astype(object).fillna("-"), check_names=False)
    assert reports["grid_code"].notna().mean() > 0.95
    assert set(reports["category"]) <= set(gridmap.model.builtin_category_keys())
    hours = reports["reported_at"].dt.tz_convert(TZ).dt.hour
    assert ((hours >= 8) & (hours < 20)).mean() > 0.6  # daytime heavy


# another cluster on this machine may hold the HTTP server's default port: distributed then warns and moves on
FREE_PORT = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")


@FREE_PORT
def test_worker_peak_memory_is_measured_per_worker_and_failures_are_reported(bench: Any) -> None:
    def allocate() -> int:
        import distributed

        client = distributed.get_client()

        def fill() -> int:
            block = np.ones(300 * 2**20, dtype=np.uint8)  # 300 MiB, touched
            return int(block.sum())

        return int(client.submit(fill, pure=False).result())

    run = bench.on_cluster(1, allocate)
    assert run["result"] == 300 * 2**20
    assert run["peaks_mib"][0] - run["start_mib"][0] >= 280  # the worker's own peak, not the parent's
    assert run["seconds"] > 0 and 0 < run["busy"] <= run["seconds"]  # the one task's compute time
    assert run["cpu"] > 0.01  # filling and summing 300 MiB takes CPU time on the worker
    two = bench.on_cluster(2, lambda: (_ for _ in ()).throw(RuntimeError("no such interface")))
    assert two["error"] == "RuntimeError: no such interface" and "seconds" not in two
    slow = bench.on_cluster(1, lambda: time.sleep(5), timeout=0.5)
    assert slow["error"].startswith("TimeoutError") and "seconds" not in slow


def test_coverage_comparison_and_extrapolation_arithmetic(bench: Any) -> None:
    area = np.array([1e5, 2e5])
    mem = {"codes": np.array(["a", "b"]), "covered": np.array([5e4, np.nan]), "area": area,
           "dead": np.array([2.0, np.nan]), "dead_ids": ["a-01", "a-02"]}
    same = bench.compare_coverage(mem, dict(mem))
    assert same["ok"] and same["max_diff"] == 0.0
    off = bench.compare_coverage(mem, {**mem, "covered": np.array([5e4 + 1e-3, np.nan])})
    assert not off["ok"] and off["max_diff"] == pytest.approx(1e-8)
    assert not bench.compare_coverage(mem, {**mem, "dead_ids": ["a-01"]})["ok"]
    runs = [{"workers": 1, "seconds": 100.0, "peaks_mib": [900.0], "start_mib": [150.0]},
            {"workers": 2, "seconds": 60.0, "peaks_mib": [800.0, 850.0], "start_mib": [150.0, 160.0]}]
    s = bench.summary({"runs": runs}, 6_000_000, 6)
    assert s["per_worker"] == 50_000 and s["one"] == 60_000
    assert s["hours"][8] == pytest.approx(1e9 / (50_000 * 8) / 3600)
    assert s["night_workers"] == 1 + int(1e9 / (50_000 * 8 * 3600))
    assert s["hour_workers"] == 1 + int(1e9 / (50_000 * 3600))


@FREE_PORT
@pytest.mark.slow
def test_the_whole_benchmark_at_a_tiny_size(bench: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Needs issue 15's Dask paths (sweep_coverage of an archive directory; hotspot.cell_counts)."""
    out = bench.main(["--fixes", "20000", "--reports", "5000", "--cells", "400", "--sample-fixes", "4000",
                      "--dir", str(tmp_path / "city")])
    printed = capsys.readouterr().out
    assert out["generation_ok"] and out["coverage_ok"]["ok"] and out["counts_ok"]["ok"], printed
    for part in ("coverage", "counts"):
        for run in out[part]["runs"]:
            assert "error" not in run, run
            assert len(run["peaks_mib"]) == run["workers"] and min(run["peaks_mib"]) > 0
    # the whole archive's counts, independently: every report read with geopandas, joined to the cells
    cells, _ = bench.city_cells(bench.cd.make_city(0), 400)
    files = sorted((tmp_path / "city" / "reports").glob("date=*/part-0.parquet"))
    reports = pd.concat([gpd.read_parquet(f) for f in files], ignore_index=True)
    joined = gpd.sjoin(reports[["geometry"]], cells[["geometry"]], predicate="intersects")
    first = joined.groupby(level=0)["index_right"].min()
    want = np.bincount(first.to_numpy(), minlength=len(cells))
    for run in out["counts"]["runs"]:
        np.testing.assert_array_equal(run["result"], want)
    # the whole archive's coverage, independently: in memory on every fix read with geopandas
    files = sorted((tmp_path / "city" / "tracks").glob("date=*/part-0.parquet"))
    fixes = pd.concat([gpd.read_parquet(f) for f in files], ignore_index=True)
    city = bench.cd.make_city(0)
    whole = gridmap.sweep_coverage(city.grids, gpd.GeoDataFrame(fixes, crs=4326))
    for run in out["coverage"]["runs"]:
        diff = np.abs(run["result"]["covered"] - whole.grids["covered_m2"].to_numpy()) / whole.grids["area_m2"]
        assert float(np.nanmax(diff)) <= 1e-9
        np.testing.assert_array_equal(run["result"]["dead"], whole.grids["dead_corners"].to_numpy(dtype=float))
    assert "equality on the sample" in printed and "== summary" in printed and "NOT" not in printed.replace(
        "NOT met", "")


def test_reuse_measures_the_archive_that_is_there(bench: Any, archive: dict[str, Any], tmp_path: Path) -> None:
    root = str(archive["root"])
    fixes, reports, days = bench.the_archive(bench.parse(["--dir", root, "--reuse", "--fixes", "5"]), archive["root"])
    assert (fixes, reports) == (archive["fixes"], archive["n_reports"]) and days == archive["days"]
    with pytest.raises(SystemExit, match="not empty"):
        bench.the_archive(bench.parse(["--dir", root]), archive["root"])
    with pytest.raises(SystemExit, match="no archive"):
        bench.the_archive(bench.parse(["--dir", str(tmp_path), "--reuse"]), tmp_path)
    fixes, reports, days = bench.the_archive(bench.parse(["--dir", str(tmp_path / "new"), "--days", "2"]),
                                             tmp_path / "new")
    assert (fixes, reports) == (50_000_000, 10_000_000) and [d.day for d in days] == [3, 4]
