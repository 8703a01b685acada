"""benchmarks/postgis.py at a very small size: its three parts run and their counts are right (no timings).

The expected counts are computed here independently: from the generated CSV files (ids read back with
pandas) and from the server's tables (our own SQL), never from what the benchmark reports.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "postgis.py"


@pytest.fixture(scope="module")
def bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_postgis", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_postgis"] = module
    spec.loader.exec_module(module)
    return module


def _ids(con: Any, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"SELECT report_id FROM {table}").fetchall()]


@pytest.mark.postgis
def test_import_and_concurrent_importers_count_every_row_once(bench: Any, postgis_url: str, tmp_path: Path) -> None:
    rows, quarter = 120, 10
    csv, csvs = bench.write_inputs(tmp_path, rows, quarter)
    source = pd.read_csv(csv)
    res = bench.part_import(postgis_url, csv, 2)  # the first gridmap run into a scratch schema, dropped
    ours = res["ours"]
    assert (ours["read"], ours["accepted"], ours["duplicates"], ours["quarantined"]) == (rows, rows, 0, 0)
    assert len(ours["all_seconds"]) == len(res["peer"]["all_seconds"]) == 2
    with bench.connect(postgis_url) as con:
        schemas = {r[0] for r in con.execute("SELECT nspname FROM pg_namespace").fetchall()}
        assert {"gridmap", "peer"} <= schemas and not any(s.startswith("gridmap_run") for s in schemas)
        stored = con.execute("SELECT report_id, ST_X(geom), ST_Y(geom) FROM gridmap.reports").fetchall()
        assert sorted(_ids(con, "peer.reports")) == sorted(source["report_id"])
    got = pd.DataFrame(stored, columns=["report_id", "lon", "lat"]).set_index("report_id").sort_index()
    want = source.set_index("report_id").sort_index()[["lon", "lat"]]
    pd.testing.assert_frame_equal(got, want, check_exact=True)

    files = [pd.read_csv(path)["report_id"] for path in csvs]
    assert all(len(f) == 4 * quarter for f in files)
    new_ids = set().union(*map(set, files)) - set(source["report_id"])
    conc = bench.part_concurrent(postgis_url, csvs, quarter)
    accepted = sum(r["accepted"] for r in conc["results"])
    duplicates = sum(r["duplicates"] for r in conc["results"])
    assert accepted == len(new_ids) == 2 * 4 * quarter
    assert duplicates == sum(map(len, files)) - len(new_ids)
    with bench.connect(postgis_url) as con:
        ids = _ids(con, "gridmap.reports")
    assert len(ids) == len(set(ids)) == rows + len(new_ids)
    assert set(ids) == set(source["report_id"]) | new_ids


@pytest.mark.postgis
def test_window_read_returns_the_week_and_the_full_read_its_rows(bench: Any, postgis_url: str) -> None:
    n, days, limit = 3000, 200, 1000
    res = bench.part_window(postgis_url, n, days, limit)
    start = bench.SPAN_START + pd.Timedelta(days=days // 2)
    assert res["start"].day_of_week == 0 and abs(res["start"] - start) < pd.Timedelta(days=7)
    assert res["end"] - res["start"] == pd.Timedelta(days=7)
    with bench.connect(postgis_url) as con:
        total = con.execute("SELECT count(*) FROM big.reports").fetchone()[0]
        week = con.execute("SELECT count(*) FROM big.reports WHERE extract(epoch FROM reported_at) >= %s"
                           " AND extract(epoch FROM reported_at) < %s",
                           [res["start"].timestamp(), res["end"].timestamp()]).fetchone()[0]
        one = con.execute("SELECT count(*) FROM big.reports WHERE extract(epoch FROM reported_at) >= %s"
                          " AND extract(epoch FROM reported_at) < %s AND substring(grid_code FROM 1 FOR 9) = %s",
                          [res["start"].timestamp(), res["end"].timestamp(), bench.ONE_SUBDISTRICT]).fetchone()[0]
    assert total == n
    assert 0 < week < n
    assert res["window"]["rows"] == week
    assert 0 < one < week and res["one"]["rows"] == one
    assert res["limit"] == limit and res["full"]["rows"] == limit
