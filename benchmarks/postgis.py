"""Benchmark: the PostGIS workspace (issue 14) against a local server, in three parts.

Run it against any server libpq's environment names (``PGHOST``, ``PGPORT``, ``PGUSER``,
``PGPASSWORD``); for a throwaway one: ``pg_virtualenv -t -o fsync=off python benchmarks/postgis.py``.
It creates a database of its own (``--database``, dropped first if it exists, and dropped at the end
unless ``--keep``) with the postgis extension; everything below happens in it.

1. **import**: N report rows (default 1,000,000, the rows of ``benchmarks/import.py``: WGS84 points
   inside the illustrative subdistrict) from CSV into a fresh workspace (``gridmap.init_workspace(url)``
   holding the illustrative boundaries) with every check: ``gridmap.import_file(url, "reports", csv,
   coords="wgs84")`` (read, map columns, parse times, coordinates, categories, grids, duplicates,
   quarantine, one transaction). **Peer**: pyarrow reads the same CSV, shapely builds the points and
   geopandas ``GeoDataFrame.to_postgis`` (SQLAlchemy + GeoAlchemy2, ``COPY``) writes those already
   valid rows to a plain table (schema ``peer``). No checks. Target: gridmap within 2x of the peer.
   The two sides run in turn ``--repeat`` times (default 2; the machine is shared), the best of each kept.
   Each side runs in a forked child, so its peak resident memory (``ru_maxrss``) is its own. Checked:
   read = accepted + duplicates + quarantined; accepted = the rows in the table; both tables hold the
   same ids, coordinates and instants (the peer's naive times read as Asia/Shanghai).
2. **window**: a workspace (schema ``big``) whose ``reports`` table is filled on the server with
   ``INSERT ... SELECT ... generate_series`` (default 10,000,000 rows; ``--reports``), not through the
   importer: times spread evenly over ``--days`` (default 1,096: three years, as a city's archive
   grows) with up to a day of jitter, so rows arrive roughly in time order as imports append them;
   the table's secondary indexes are dropped during the fill and created again from their own
   definitions, then ANALYZE. Measured: ``PostgisWorkspace.read_window("reports", start, end)`` of one
   week (the Monday nearest the middle of the span; best of 3) against ``read_layer("reports")`` of
   the whole table. Reading 10,000,000 rows into a frame needs many GB in Python objects, so when the
   table has more rows than ``--full-read-rows`` (default 2,000,000) the full read is measured on its
   first rows (``read_layer(where="fid <= K")``) and its time extrapolated linearly to the whole
   table; the output says which. Target: the window read at least 20x faster. Checked: the window holds exactly
   the rows an SQL ``count(*)`` of the period says, and the plan uses the time index. The reports are
   spread over 50 subdistricts in turn; one subdistrict's week (``read_window(..., subdistrict=CODE)``)
   is read too, its rows checked against ``count(*)``, and the indexes its plan uses printed.
3. **concurrent**: four processes each run ``gridmap.import_file`` of 250,000 rows (``--importer-rows``)
   into the workspace of part 1 (which already holds its N rows), started together. Each file is four
   quarters: rows already stored (duplicates), rows shared with the next importer, rows shared with the
   previous one (whichever lands first accepts them, the other counts duplicates), and rows of its own.
   Printed: wall time and throughput (rows read per second, all four together). Checked: every
   importer's read = accepted + duplicates + quarantined; the accepted rows add up to the new distinct
   ids (each accepted exactly once); the duplicates to the rest; the table grew by exactly that.

Run: ``python benchmarks/postgis.py [--rows 1000000] [--reports 10000000] [--importer-rows 250000] [--quick]
[--parts import,window,concurrent]`` (``--parts import`` runs part 1 alone: the ratio, quickly, on a shared machine;
part 3 needs part 1's workspace, so ``concurrent`` runs with ``import``).
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing as mp
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import pandas as pd

# benchmarks/ last on sys.path, not first: its html.py must not shadow the standard library's html for the
# rest of a process that imported this module (a test), nor for processes it spawns (Dask's workers)
if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))

from _fork import in_child  # noqa: E402

_import_bench = importlib.import_module("import")  # benchmarks/import.py: the same report rows
make_frame: Callable[..., pd.DataFrame] = _import_bench.make_frame
make_csv: Callable[[pd.DataFrame, Path], None] = _import_bench.make_csv

TZ = "Asia/Shanghai"
PEER_SCHEMA = "peer"
BIG_SCHEMA = "big"
SPAN_START = pd.Timestamp("2023-01-01 00:00", tz=TZ)
#: The parts of the benchmark, in the order they run.
PARTS = ("import", "window", "concurrent")


def window_start(days: int) -> pd.Timestamp:
    """The Monday nearest the middle of a span of `days` days from :data:`SPAN_START` (local midnight)."""
    middle = SPAN_START + pd.Timedelta(days=days // 2)
    return middle - pd.Timedelta(days=middle.day_of_week)


# --- the server ------------------------------------------------------------------------------------------------


def url_for(dbname: str, schema: str | None = None) -> str:
    """A ``postgresql://`` URL for `dbname` on libpq's server, without a password (libpq finds it)."""
    host = os.environ.get("PGHOST", "localhost")
    port = os.environ.get("PGPORT", "5432")
    user = os.environ.get("PGUSER", "postgres")
    if host.startswith("/"):
        url = f"postgresql://{quote(user)}@/{dbname}?host={quote(host, safe='')}&port={port}"
    else:
        url = f"postgresql://{quote(user)}@{host}:{port}/{dbname}"
    return with_schema(url, schema)


def with_schema(url: str, schema: str | None) -> str:
    """`url` naming workspace schema `schema` (unchanged when None)."""
    if schema is None:
        return url
    return url + ("&" if "?" in url else "?") + f"schema={schema}"


def connect(url: str) -> Any:
    """An autocommit psycopg connection to `url`'s database (schema part ignored)."""
    import psycopg

    from gridmap.storage.url import parse_workspace_url

    return psycopg.connect(parse_workspace_url(url).conninfo, autocommit=True)


def sql_value(url: str, sql: str, params: Any = ()) -> Any:
    """The first value of the first row of `sql`."""
    with connect(url) as con:
        return con.execute(sql, list(params)).fetchone()[0]


def fresh_database(name: str) -> str:
    """Create database `name` (dropping any of that name) with PostGIS; its URL."""
    import psycopg

    with psycopg.connect(dbname=os.environ.get("PGDATABASE", "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = url_for(name)
    with connect(url) as con:
        con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(dbname=os.environ.get("PGDATABASE", "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(func: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``func(*args)`` in a forked child; its result with the child's peak RSS (``peak_rss_mb``)."""
    def target(queue: Any, *a: Any) -> None:
        try:
            out = func(*a)
        except BaseException as exc:  # report it in the parent, which would otherwise wait forever
            queue.put({"error": f"{type(exc).__name__}: {exc}"})
            raise
        out["peak_rss_mb"] = _peak_mb()
        queue.put(out)

    result = in_child(target, *args)
    if "error" in result:
        raise SystemExit(f"{func.__name__} failed: {result['error']}")
    return result


# --- part 1: the import ----------------------------------------------------------------------------------------


def new_workspace(url: str) -> Any:
    """A fresh workspace at `url` holding the illustrative boundaries (so every check runs)."""
    import gridmap
    from gridmap.sample import sample_boundaries

    ws = gridmap.init_workspace(url)
    for layer in ("subdistrict", "communities", "grids"):
        ws.append(layer, sample_boundaries()[layer])
    return ws


def run_gridmap_import(url: str, csv: Path) -> dict[str, Any]:
    """Import `csv` into the workspace at `url` (created by :func:`new_workspace`); time and counts."""
    import gridmap

    t0 = time.perf_counter()
    summary = gridmap.import_file(url, "reports", csv, coords="wgs84")
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "read": summary.read, "accepted": summary.accepted,
            "duplicates": summary.duplicates, "quarantined": summary.quarantined}


def peer_engine(url: str) -> Any:
    """A SQLAlchemy engine (psycopg 3) on `url`'s database."""
    import psycopg
    import sqlalchemy

    from gridmap.storage.url import parse_workspace_url

    conninfo = parse_workspace_url(url).conninfo
    return sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo))


def run_peer(url: str, csv: Path) -> dict[str, Any]:
    """pyarrow reads `csv`, shapely makes the points, ``to_postgis`` writes them to ``peer.reports``."""
    import geopandas as gpd
    import pyarrow.csv as pacsv
    import shapely

    engine = peer_engine(url)
    with connect(url) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {PEER_SCHEMA}")
        con.execute(f"DROP TABLE IF EXISTS {PEER_SCHEMA}.reports")  # an earlier run's, not timed
    t0 = time.perf_counter()
    table = pacsv.read_csv(csv).to_pandas()
    geometry = shapely.points(table.pop("lon").to_numpy(), table.pop("lat").to_numpy())
    gdf = gpd.GeoDataFrame(table, geometry=geometry, crs="EPSG:4326")
    gdf.to_postgis("reports", engine, schema=PEER_SCHEMA, if_exists="replace", index=False)
    seconds = time.perf_counter() - t0
    engine.dispose()
    return {"seconds": seconds, "read": len(gdf), "accepted": len(gdf), "duplicates": 0, "quarantined": 0}


def import_accuracy(url: str) -> dict[str, Any]:
    """Rows in both tables, rows in gridmap's, rows matched on id, max coordinate difference, times differing."""
    sql = (f"SELECT count(*), max(greatest(abs(ST_X(g.geom) - ST_X(p.geometry)), abs(ST_Y(g.geom) - "
           f"ST_Y(p.geometry)))), count(*) FILTER (WHERE g.reported_at <> (p.reported_at AT TIME ZONE '{TZ}')) "
           f"FROM gridmap.reports AS g JOIN {PEER_SCHEMA}.reports AS p USING (report_id)")
    with connect(url) as con:
        matched, err, times = con.execute(sql).fetchone()
        stored = con.execute("SELECT count(*) FROM gridmap.reports").fetchone()[0]
        peer = con.execute(f"SELECT count(*) FROM {PEER_SCHEMA}.reports").fetchone()[0]
    return {"matched": matched, "max_err": float(err or 0.0), "times_differ": times, "stored": stored,
            "peer_rows": peer}


def check_counts(label: str, side: dict[str, Any]) -> None:
    if side["read"] != side["accepted"] + side["duplicates"] + side["quarantined"]:
        raise SystemExit(f"{label}: read {side['read']} != accepted + duplicates + quarantined ({side})")


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of `runs`, with every run's seconds (``all_seconds``) and the largest peak RSS."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["all_seconds"] = [r["seconds"] for r in runs]
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return best


def part_import(url: str, csv: Path, repeat: int = 1) -> dict[str, Any]:
    """Part 1: the peer, then gridmap, each in a forked child, `repeat` times in turn; the best of each.

    Every gridmap run imports into a fresh workspace: the last into the default schema ``gridmap``
    (kept for the accuracy check and part 3), the earlier ones into scratch schemas dropped afterwards.
    """
    peers, ours_runs = [], []
    for k in range(repeat):
        peers.append(measured(run_peer, url, csv))
        target = url if k == repeat - 1 else with_schema(url, f"gridmap_run{k}")
        new_workspace(target).close()
        ours_runs.append(measured(run_gridmap_import, target, csv))
        check_counts("gridmap import", ours_runs[-1])
        if target != url:
            with connect(url) as con:
                con.execute(f"DROP SCHEMA gridmap_run{k} CASCADE")
    peer, ours = _best(peers), _best(ours_runs)
    acc = import_accuracy(url)
    if acc["stored"] != ours_runs[-1]["accepted"]:
        raise SystemExit(f"gridmap import accepted {ours['accepted']} rows but the table holds {acc['stored']}")
    if not (acc["matched"] == acc["peer_rows"] == acc["stored"]) or acc["times_differ"]:
        raise SystemExit(f"accuracy check failed: {acc}")
    return {"peer": peer, "ours": ours, "accuracy": acc}


def print_import(rows: int, res: dict[str, Any]) -> None:
    peer, ours, acc = res["peer"], res["ours"], res["accuracy"]
    runs = len(peer["all_seconds"])
    print(f"== 1. import {rows:,} report rows from CSV (best of {runs}, the sides in turn) ==")
    if runs > 1:
        print(f"all runs: peer {', '.join(f'{t:.2f}' for t in peer['all_seconds'])} s; gridmap "
              f"{', '.join(f'{t:.2f}' for t in ours['all_seconds'])} s (peak RSS: the largest of the runs)")
    print(f"peer    geopandas to_postgis  : {peer['seconds']:7.2f} s  peak RSS {peer['peak_rss_mb']:7.0f} MB"
          "  (pyarrow CSV + shapely points + COPY, no checks)")
    print(f"gridmap import_file (checks)  : {ours['seconds']:7.2f} s  peak RSS {ours['peak_rss_mb']:7.0f} MB"
          f"  (read {ours['read']:,}: accepted {ours['accepted']:,}, duplicates {ours['duplicates']:,},"
          f" quarantined {ours['quarantined']:,})")
    ratio = ours["seconds"] / peer["seconds"]
    print(f"time ratio gridmap/peer       : {ratio:7.2f}x  (target <= 2x: {'met' if ratio <= 2 else 'NOT met'})")
    print(f"counts: read = accepted + duplicates + quarantined; accepted = {acc['stored']:,} rows in the table")
    print(f"accuracy: the same {acc['matched']:,} report ids as the peer; max coordinate difference "
          f"{acc['max_err']:.1e} deg; {acc['times_differ']} instants differ")


# --- part 2: one week out of many ------------------------------------------------------------------------------

#: Subdistricts the filled reports are spread over, and the one read alone (``read_window(subdistrict=...)``).
SUBDISTRICTS = 50
ONE_SUBDISTRICT = "610802007"


def fill_reports(url: str, n: int, days: int, seed: int = 0) -> float:
    """Fill the workspace's ``reports`` with `n` rows on the server (``generate_series``); the seconds taken."""
    from gridmap.model import CATEGORIES
    from gridmap.sample import sample_boundaries
    from gridmap.storage.url import parse_workspace_url

    schema = parse_workspace_url(url).schema
    minx, miny, maxx, maxy = sample_boundaries()["subdistrict"].geometry.iloc[0].bounds
    keys = list(CATEGORIES)[:9]
    step = days * 86400 / n
    t0 = time.perf_counter()
    with connect(url) as con, con.transaction():
        con.execute(f"SET search_path = {schema}, public")
        con.execute("SET maintenance_work_mem = '512MB'")
        con.execute("SELECT setseed(%s)", [seed / 1000])
        defs = [r[0] for r in con.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index AS i WHERE i.indrelid = 'reports'::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)").fetchall()]
        names = [r[0] for r in con.execute(
            "SELECT c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid WHERE i.indrelid ="
            " 'reports'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conindid = i.indexrelid)"
        ).fetchall()]
        for name in names:
            con.execute(f'DROP INDEX "{name}"')
        con.execute(  # 50 subdistricts 610802000 ... 610802049 (grid codes 6108020NN001001), in turn
            "INSERT INTO reports (report_id, reported_at, category, description, source, status, grid_code, geom)"
            " SELECT 'P' || i, %s::timestamptz + make_interval(secs => i * %s + random() * 86400),"
            " (%s::text[])[1 + i %% 9], '路边垃圾', 'app', 'reported',"
            f" '6108020' || lpad((i %% {SUBDISTRICTS})::text, 2, '0') || '001001',"
            " ST_SetSRID(ST_MakePoint(%s + random() * %s, %s + random() * %s), 4326)"
            " FROM generate_series(0, %s - 1) AS i",
            [SPAN_START.to_pydatetime(), step, keys, minx + 0.002, maxx - minx - 0.004, miny + 0.002,
             maxy - miny - 0.004, n])
        for statement in defs:
            con.execute(statement)
    with connect(url) as con:
        con.execute(f"ANALYZE {schema}.reports")
    return time.perf_counter() - t0


def window_count(url: str, start: pd.Timestamp, end: pd.Timestamp, subdistrict: str | None = None) -> tuple[int, str]:
    """The SQL count of reports in ``[start, end)`` (of one subdistrict), and the plan of that query."""
    from gridmap.storage.url import parse_workspace_url

    schema = parse_workspace_url(url).schema
    sql = f"FROM {schema}.reports WHERE reported_at >= %s AND reported_at < %s"
    params = [start.to_pydatetime(), end.to_pydatetime()]
    if subdistrict is not None:
        sql += " AND left(grid_code, 9) = %s"
        params.append(subdistrict)
    with connect(url) as con:
        count = con.execute(f"SELECT count(*) {sql}", params).fetchone()[0]
        plan = "\n".join(r[0] for r in con.execute(f"EXPLAIN SELECT * {sql} ORDER BY fid", params).fetchall())
    return int(count), plan


def run_window(url: str, start: pd.Timestamp, end: pd.Timestamp, repeat: int = 3,
               subdistrict: str | None = None) -> dict[str, Any]:
    """Best of `repeat` ``read_window`` of ``[start, end)`` (of one subdistrict); its rows."""
    import gridmap

    ws = gridmap.open_workspace(url)
    where = {} if subdistrict is None else {"subdistrict": subdistrict}
    best, rows = float("inf"), -1
    for _ in range(repeat):
        t0 = time.perf_counter()
        frame = ws.read_window("reports", start=start, end=end, **where)
        best = min(best, time.perf_counter() - t0)
        rows = len(frame)
    return {"seconds": best, "rows": rows}


def run_full(url: str, limit: int | None) -> dict[str, Any]:
    """``read_layer("reports")``, or of its first `limit` rows (by fid) when `limit` is given; once."""
    import gridmap

    ws = gridmap.open_workspace(url)
    t0 = time.perf_counter()
    frame = ws.read_layer("reports") if limit is None else ws.read_layer("reports", where=f"fid <= {int(limit)}")
    return {"seconds": time.perf_counter() - t0, "rows": len(frame)}


def part_window(url: str, n: int, days: int, full_read_rows: int) -> dict[str, Any]:
    """Part 2: fill `n` rows, read one week and the whole table (or its first `full_read_rows`)."""
    big = with_schema(url, BIG_SCHEMA)
    import gridmap

    gridmap.init_workspace(big).close()
    fill = fill_reports(big, n, days)
    start = window_start(days)
    end = start + pd.Timedelta(days=7)
    count, plan = window_count(big, start, end)
    window = measured(run_window, big, start, end)
    if window["rows"] != count:
        raise SystemExit(f"window read returned {window['rows']} rows, SQL counts {count}")
    one_count, one_plan = window_count(big, start, end, ONE_SUBDISTRICT)
    one = measured(run_window, big, start, end, 3, ONE_SUBDISTRICT)
    if one["rows"] != one_count:
        raise SystemExit(f"one subdistrict's window read returned {one['rows']} rows, SQL counts {one_count}")
    limit = None if n <= full_read_rows else full_read_rows
    full = measured(run_full, big, limit)
    expected = n if limit is None else sql_value(big, f"SELECT count(*) FROM {BIG_SCHEMA}.reports WHERE fid <= %s",
                                                 [limit])
    if full["rows"] != expected:
        raise SystemExit(f"full read returned {full['rows']} rows, expected {expected}")
    full_seconds = full["seconds"] * (n / full["rows"]) if limit is not None else full["seconds"]
    return {"n": n, "days": days, "fill": fill, "count": count, "plan": plan, "window": window, "full": full,
            "limit": limit, "full_seconds": full_seconds, "start": start, "end": end, "one": one,
            "one_count": one_count, "one_plan": one_plan}


def print_window(res: dict[str, Any]) -> None:
    window, full, n = res["window"], res["full"], res["n"]
    print(f"== 2. one week out of {n:,} stored reports ==")
    print(f"fill: {n:,} rows over {res['days']:,} days by INSERT ... SELECT generate_series, indexes, ANALYZE:"
          f" {res['fill']:.1f} s")
    uses = "uses ix_reports_reported_at" if "ix_reports_reported_at" in res["plan"] else "does NOT use the time index"
    print(f"read_window {res['start']:%Y-%m-%d}..{res['end']:%Y-%m-%d} (best of 3): {window['seconds']:7.3f} s"
          f"  peak RSS {window['peak_rss_mb']:6.0f} MB  ({window['rows']:,} rows = SQL count {res['count']:,};"
          f" the plan {uses})")
    if res["limit"] is None:
        print(f"read_layer whole table (once)   : {full['seconds']:7.2f} s  peak RSS {full['peak_rss_mb']:6.0f} MB"
              f"  ({full['rows']:,} rows)")
    else:
        print(f"read_layer first {full['rows']:,} rows (once): {full['seconds']:7.2f} s  peak RSS "
              f"{full['peak_rss_mb']:6.0f} MB")
        base = window["peak_rss_mb"]  # a child that read only a week: the peak without the big frame
        need = base + (full["peak_rss_mb"] - base) * n / full["rows"]
        print(f"  the whole table of {n:,} rows was NOT read into a frame: the memory above a week's read grows with"
              f" the rows, so it would need about {need / 1024:.1f} GiB on this machine (2 cores, 24 GiB, shared);"
              f" its time extrapolated linearly: {res['full_seconds']:.1f} s")
    ratio = res["full_seconds"] / window["seconds"]
    how = "measured" if res["limit"] is None else "extrapolated"
    print(f"speed-up window vs whole table ({how}): {ratio:7.1f}x  (target >= 20x: "
          f"{'met' if ratio >= 20 else 'NOT met'})")
    one, used = res["one"], sorted(set(re.findall(r"ix_reports_\w+", res["one_plan"])))
    print(f"one subdistrict ({ONE_SUBDISTRICT}, of {SUBDISTRICTS}) of that week: {one['seconds']:7.3f} s  peak RSS"
          f" {one['peak_rss_mb']:6.0f} MB  ({one['rows']:,} rows = SQL count {res['one_count']:,}; the plan uses"
          f" {', '.join(used) or 'no index'}; {res['full_seconds'] / one['seconds']:.0f}x faster than the whole table)")


# --- part 3: four concurrent importers -------------------------------------------------------------------------


def importer_rows(frame: pd.DataFrame, base: int, quarter: int, k: int, importers: int = 4) -> pd.DataFrame:
    """Rows of importer `k`: stored rows, rows shared with the next and the previous importer, its own rows.

    ``frame`` rows ``[0, base)`` are already stored; new rows start at ``base``: shared block ``s`` at
    ``base + s * quarter``, own block of importer ``k`` at ``base + (importers + k) * quarter``.
    """
    def block(lo: int) -> pd.DataFrame:
        return frame.iloc[lo:lo + quarter]

    parts = [block(k * quarter), block(base + k * quarter), block(base + ((k - 1) % importers) * quarter),
             block(base + (importers + k) * quarter)]
    return pd.concat(parts, ignore_index=True)


def _importer(queue: Any, barrier: Any, url: str, csv: Path) -> None:
    import gridmap

    barrier.wait()
    t0 = time.time()
    try:
        summary = gridmap.import_file(url, "reports", csv, coords="wgs84")
    except BaseException as exc:
        queue.put({"error": f"{type(exc).__name__}: {exc}"})
        raise
    queue.put({"start": t0, "end": time.time(), "read": summary.read, "accepted": summary.accepted,
               "duplicates": summary.duplicates, "quarantined": summary.quarantined, "peak_rss_mb": _peak_mb()})


def run_concurrent(url: str, csvs: list[Path]) -> list[dict[str, Any]]:
    """Run one importer process per file, started together; their results."""
    ctx = mp.get_context("fork")
    queue, barrier = ctx.Queue(), ctx.Barrier(len(csvs))
    procs = [ctx.Process(target=_importer, args=(queue, barrier, url, csv)) for csv in csvs]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise SystemExit(f"an importer failed: {errors}")
    return results


def part_concurrent(url: str, csvs: list[Path], quarter: int) -> dict[str, Any]:
    """Part 3 on the workspace of part 1; the expected counts from the design of :func:`importer_rows`."""
    before = sql_value(url, "SELECT count(*) FROM gridmap.reports")
    results = run_concurrent(url, csvs)
    after = sql_value(url, "SELECT count(*) FROM gridmap.reports")
    importers = len(csvs)
    new_ids = 2 * importers * quarter  # the shared blocks and the own blocks
    total = {key: sum(r[key] for r in results) for key in ("read", "accepted", "duplicates", "quarantined")}
    for k, r in enumerate(results):
        check_counts(f"importer {k}", r)
    if total["accepted"] != new_ids or after - before != new_ids or total["quarantined"]:
        raise SystemExit(f"concurrent importers: accepted {total['accepted']}, table grew by {after - before}, "
                         f"quarantined {total['quarantined']}; expected {new_ids} new rows accepted once each")
    if total["duplicates"] != total["read"] - new_ids:
        raise SystemExit(f"concurrent importers: {total['duplicates']} duplicates, expected {total['read'] - new_ids}")
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {"results": results, "total": total, "before": before, "after": after, "wall": wall,
            "new_ids": new_ids}


def print_concurrent(res: dict[str, Any]) -> None:
    total, results = res["total"], res["results"]
    per = results[0]["read"]
    print(f"== 3. {len(results)} concurrent importers of {per:,} rows each into a workspace of {res['before']:,} ==")
    for k, r in enumerate(results):
        print(f"importer {k}: {r['end'] - r['start']:6.2f} s  peak RSS {r['peak_rss_mb']:6.0f} MB  (read "
              f"{r['read']:,}: accepted {r['accepted']:,}, duplicates {r['duplicates']:,}, quarantined "
              f"{r['quarantined']:,})")
    print(f"all together: {res['wall']:.2f} s wall, {total['read'] / res['wall']:,.0f} rows/s read "
          f"({total['accepted'] / res['wall']:,.0f} rows/s accepted)")
    print(f"counts add up: accepted {total['accepted']:,} = the {res['new_ids']:,} new distinct ids, each once;"
          f" duplicates {total['duplicates']:,} = {total['read']:,} read - {res['new_ids']:,}; table "
          f"{res['before']:,} -> {res['after']:,}")


# --- the run ---------------------------------------------------------------------------------------------------


def write_inputs(folder: Path, rows: int, quarter: int, importers: int = 4) -> tuple[Path, list[Path]]:
    """The CSV of part 1 (`rows` rows) and one CSV per importer of part 3."""
    frame = make_frame(rows + 2 * importers * quarter)
    csv = folder / "reports.csv"
    make_csv(frame.iloc[:rows], csv)
    csvs = []
    for k in range(importers):
        path = folder / f"importer{k}.csv"
        make_csv(importer_rows(frame, rows, quarter, k, importers), path)
        csvs.append(path)
    return csv, csvs


def _inputs_child(queue: Any, folder: Path, rows: int, quarter: int) -> None:
    queue.put(write_inputs(folder, rows, quarter))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the import (part 1)")
    parser.add_argument("--reports", type=int, default=10_000_000, help="rows stored for the window read (part 2)")
    parser.add_argument("--days", type=int, default=1096, help="days the stored reports span (part 2)")
    parser.add_argument("--full-read-rows", type=int, default=2_000_000,
                        help="read the whole table only up to this many rows, else its first rows, extrapolated")
    parser.add_argument("--importer-rows", type=int, default=250_000, help="rows per concurrent importer (part 3)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side of the import (best taken)")
    parser.add_argument("--database", default="gridmap_bench", help="database to create (dropped first)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to run, of {', '.join(PARTS)} (concurrent needs import)")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not args.parts or set(args.parts) - set(PARTS) or ("concurrent" in args.parts and "import" not in args.parts):
        parser.error(f"--parts takes some of {', '.join(PARTS)}; concurrent needs import (it imports into its"
                     " workspace)")
    if args.quick:
        args.rows, args.reports, args.importer_rows, args.repeat = 20_000, 200_000, 4_000, 1
    if args.rows < args.importer_rows:
        parser.error("--rows must be at least --importer-rows (a quarter of each importer's rows is already stored)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    quarter = args.importer_rows // 4
    url = fresh_database(args.database)
    print(f"server: {sql_value(url, 'SELECT version()').split(',')[0]}; "
          f"PostGIS {sql_value(url, 'SELECT postgis_lib_version()')}; database {args.database}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            csv, csvs = in_child(_inputs_child, Path(tmp), args.rows, quarter)  # keeps this process small
            print(f"rows: {args.rows:,}  csv: {csv.stat().st_size / 1e6:.1f} MB; {len(csvs)} importer files of "
                  f"{4 * quarter:,} rows (made in {time.perf_counter() - t0:.1f} s)")
            print(f"peak RSS of this parent process: {_peak_mb():.0f} MB (each measurement runs in a forked child,"
                  " whose peak includes what it inherits)")
            if "import" in args.parts:
                print_import(args.rows, part_import(url, csv, args.repeat))
            if "window" in args.parts:
                print_window(part_window(url, args.reports, args.days, args.full_read_rows))
            if "concurrent" in args.parts:
                print_concurrent(part_concurrent(url, csvs, quarter))
    finally:
        if not args.keep:
            drop_database(args.database)


if __name__ == "__main__":
    main()
