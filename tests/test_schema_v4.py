"""Schema 4: indexes for reading one subdistrict's rows, and the migration of a schema-3 workspace in both stores.

Reading one subdistrict filters on the first nine digits of a layer's code with exactly
``substr(col, 1, 9) = ?`` (GeoPackage) or ``left(col, 9) = %s`` (PostGIS). Schema 4 adds B-tree indexes
on those expressions (and, in PostGIS, on ``office``). What is expected is written here from the
issue, not taken from gridmap: the (layer, code column) pairs below, and the planners of SQLite and
PostgreSQL saying whether they use an index. A schema-3 workspace is made by creating a current one
and undoing schema 4 by hand (dropping the indexes, storing version 3).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd
import pyogrio
import pytest

import gridmap
from gridmap.cli import main
from gridmap.errors import WorkspaceError, WorkspaceVersionError
from gridmap.model import LAYERS
from gridmap.storage import init_workspace, open_workspace
from gridmap.storage.url import parse_workspace_url

from tests._imports import downgrade_to_schema_3

#: The code column each layer's subdistrict is read from (issue 14, "one subdistrict").
CODE_COLUMNS = (("subdistrict", "code"), ("communities", "community_code"), ("grids", "grid_code"),
                ("areas", "area_code"), ("reports", "grid_code"), ("targets", "grid_code"))
#: Every table of a PostGIS workspace with an ``office`` column (the layers, the import log, the quarantine).
FENCED = (*LAYERS, "gridmap_imports", "quarantine")
ROOT = Path(__file__).resolve().parents[1]


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))


def test_the_frozen_index_steps_are_the_code_columns_of_the_issue() -> None:
    from gridmap.model.layers import INDEXES_ADDED_IN

    assert INDEXES_ADDED_IN[4] == CODE_COLUMNS
    assert gridmap.model.SCHEMA_VERSION == 4
    for layer, column in CODE_COLUMNS:
        assert LAYERS[layer].column(column).dtype == "str"


# ----------------------------------------------------------------------------- GeoPackage


def _sqlite(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(path)) as con:
        return list(con.execute(sql, params).fetchall())


def _expression_indexes(path: Path) -> dict[tuple[str, str], str]:
    """{(table, SQL of the indexed expression): index name} for every index on an expression (PRAGMA index_xinfo)."""
    out = {}
    for name, table, sql in _sqlite(path, "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'"
                                          " AND sql IS NOT NULL"):
        keys = _sqlite(path, f'PRAGMA index_xinfo("{name}")')
        if any(row[1] == -2 for row in keys):  # cid -2: a key that is an expression, not a column
            expression = re.search(r"\((.*)\)\s*$", sql, re.S).group(1)  # type: ignore[union-attr]
            out[(table, " ".join(expression.replace('"', "").split()))] = name
    return out


def _plan(path: Path, sql: str, params: tuple) -> str:
    return " | ".join(str(r[-1]) for r in _sqlite(path, "EXPLAIN QUERY PLAN " + sql, params))


def _every_layer(ws: Any) -> dict[str, pd.DataFrame]:
    return {name: ws.read_layer(name) for name in LAYERS}


def test_geopackage_schema_3_is_migrated_to_indexes_the_planner_uses(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old, fresh = tmp_path / "old.gpkg", tmp_path / "fresh.gpkg"
    with init_workspace(old, sample=True) as ws:
        before = _every_layer(ws)
    init_workspace(fresh).close()
    downgrade_to_schema_3(old)
    wanted = {(layer, f"substr({column}, 1, 9)") for layer, column in CODE_COLUMNS}
    assert set(_expression_indexes(old)) == set()
    query = "SELECT report_id FROM reports WHERE substr(grid_code, 1, 9) = ?"
    assert "USING INDEX" not in _plan(old, query, ("610802001",))  # schema 3: a scan of the whole table
    with caplog.at_level(logging.INFO, logger="gridmap.storage"):
        with open_workspace(old) as ws:
            assert ws.schema_version == 4 and ws.meta["schema_version"] == "4"
            after = _every_layer(ws)
            assert ws.integrity_check() == "ok"
    assert f"migrated workspace {old} from schema 3 to 4" in caplog.text
    assert set(_expression_indexes(old)) == wanted == set(_expression_indexes(fresh))
    for name in LAYERS:
        _frames_equal(after[name], before[name])
    assert len(before["reports"]) > 0 and len(before["grids"]) > 0
    indexes = _expression_indexes(old)
    for layer, column in CODE_COLUMNS:
        plan = _plan(old, f'SELECT * FROM "{layer}" WHERE substr("{column}", 1, 9) = ?', ("610802001",))
        assert f"USING INDEX {indexes[(layer, f'substr({column}, 1, 9)')]}" in plan, (layer, plan)
    code = before["reports"]["grid_code"].dropna().iloc[0][:9]
    ids = [r[0] for r in _sqlite(old, query + " ORDER BY fid", (code,))]
    assert ids == before["reports"].loc[before["reports"]["grid_code"].str.slice(0, 9) == code, "report_id"].tolist()
    assert _sqlite(old, "PRAGMA integrity_check") == [("ok",)]


def test_geopackage_migrated_twice_at_once_adds_each_index_once(tmp_path: Path) -> None:
    old = tmp_path / "old.gpkg"
    init_workspace(old).close()
    downgrade_to_schema_3(old)
    barrier, versions, errors = threading.Barrier(2), [], []

    def open_it() -> None:
        barrier.wait()
        try:
            with open_workspace(old) as ws:
                versions.append(ws.schema_version)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and versions == [4, 4]
    names = [r[0] for r in _sqlite(old, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%substr(%'")]
    assert len(names) == len(set(names)) == len(CODE_COLUMNS)


def test_gdal_reads_and_writes_a_schema_4_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "w.gpkg"
    with init_workspace(path, sample=True) as ws:
        counts = ws.counts()
        reports = ws.read_layer("reports")
    assert {n for n, _ in pyogrio.list_layers(path)} >= set(LAYERS)
    for name, n in counts.items():
        assert len(pyogrio.read_dataframe(path, layer=name)) == n, name
    extra = reports.iloc[:1].copy()
    extra["report_id"] = "written-by-gdal"
    extra["grid_code"] = "610802999001001"
    pyogrio.write_dataframe(extra, path, layer="reports", append=True)  # GDAL keeps the expression index up to date
    found = _sqlite(path, "SELECT report_id FROM reports WHERE substr(grid_code, 1, 9) = ?", ("610802999",))
    assert found == [("written-by-gdal",)]
    assert _sqlite(path, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.qgis
def test_qgis_opens_and_edits_a_migrated_geopackage(tmp_path: Path) -> None:
    probe = subprocess.run(["/usr/bin/python3", "-c", "import qgis.core"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("python3-qgis is not installed (apt-get install python3-qgis to run this check)")
    path = tmp_path / "q.gpkg"
    init_workspace(path, sample=True).close()
    downgrade_to_schema_3(path)
    with open_workspace(path) as ws:
        counts = ws.counts()
    script = textwrap.dedent("""
        import json, sys
        from qgis.core import QgsApplication, QgsFeature, QgsVectorLayer
        app = QgsApplication([], False); app.initQgis()
        out = {}
        for name in json.loads(sys.argv[2]):
            lyr = QgsVectorLayer(f'{sys.argv[1]}|layername={name}', name, 'ogr')
            out[name] = [lyr.isValid(), lyr.featureCount()]
        lyr = QgsVectorLayer(f'{sys.argv[1]}|layername=grids', 'grids', 'ogr')
        feature = next(lyr.getFeatures())
        lyr.startEditing()
        lyr.changeAttributeValue(feature.id(), lyr.fields().indexOf('grid_code'), '610802777001001')
        out['committed'] = lyr.commitChanges()
        print(json.dumps(out))
    """)
    done = subprocess.run(["/usr/bin/python3", "-c", script, str(path), json.dumps(list(counts))],
                          capture_output=True, text=True, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.pop("committed") is True
    assert result == {name: [True, n] for name, n in counts.items()}
    assert _sqlite(path, "SELECT count(*) FROM grids WHERE substr(grid_code, 1, 9) = '610802777'") == [(1,)]
    assert _sqlite(path, "PRAGMA integrity_check") == [("ok",)]


# ----------------------------------------------------------------------------- PostGIS


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def _pg(url: str) -> Any:
    import psycopg

    return psycopg.connect(parse_workspace_url(url).conninfo, autocommit=True)


def _pg_rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with _pg(url) as con:
        cur = con.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


def _index_defs(url: str, schema: str) -> set[str]:
    """Every index definition of `schema`, the schema's name replaced by ``S``."""
    rows = _pg_rows(url, "SELECT indexdef FROM pg_indexes WHERE schemaname = %s", (schema,))
    return {d.replace(f" ON {schema}.", " ON S.") for (d,) in rows}


def _downgrade_pg(url: str, schema: str) -> None:
    """Undo schema 4 by hand: drop every index on ``left(...)`` or on ``office``; the quarantine's key without the
    office, as schema 3 made it; store version 3."""
    with _pg(url) as con:
        names = con.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND (indexdef LIKE '%%\"left\"(%%'"
                            " OR indexdef LIKE '%%(office)')", [schema]).fetchall()
        for (name,) in names:
            con.execute(f'DROP INDEX "{schema}"."{name}"')
        con.execute(f'DROP INDEX "{schema}".ux_quarantine_record_office')
        con.execute(f'ALTER TABLE "{schema}".quarantine ADD CONSTRAINT ux_quarantine_record'
                    " UNIQUE (layer, source_digest, record, reason)")
        con.execute(f"UPDATE \"{schema}\".gridmap_meta SET value = '3' WHERE key = 'schema_version'")


def _version(url: str, schema: str) -> str:
    return _pg_rows(url, f"SELECT value FROM \"{schema}\".gridmap_meta WHERE key = 'schema_version'")[0][0]


def _expected_defs() -> set[str]:
    """The definitions schema 4 adds, as PostgreSQL prints them (``left`` is a keyword, so it is quoted)."""
    out = {f'USING btree ("left"({column}, 9))@{layer}' for layer, column in CODE_COLUMNS}
    return out | {f"USING btree (office)@{table}" for table in FENCED}


def _schema_4_defs(defs: set[str]) -> set[str]:
    found = set()
    for d in defs:
        m = re.fullmatch(r"CREATE INDEX \S+ ON S\.(\S+) (USING btree \((\"left\"\(\w+, 9\)|office)\))", d)
        if m:
            found.add(f"{m.group(2)}@{m.group(1)}")
    return found


def _plan_nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _index_used(url: str, schema: str, sql: str) -> list[tuple[str, str]]:
    """(node type, index name) of every index node of PostgreSQL's plan of `sql`."""
    with _pg(url) as con:
        con.execute(f'SET search_path = "{schema}", public')
        plan = con.execute("EXPLAIN (FORMAT JSON) " + sql).fetchone()[0][0]["Plan"]
    return [(n["Node Type"], n["Index Name"]) for n in _plan_nodes(plan) if "Index Name" in n]


@pytest.mark.postgis
def test_postgis_schema_3_is_migrated_to_the_indexes_of_a_new_workspace(
        postgis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    old, fresh = _with_schema(postgis_url, "old"), _with_schema(postgis_url, "fresh")
    with init_workspace(old, sample=True) as ws:
        before = _every_layer(ws)
    init_workspace(fresh).close()
    new_defs = _index_defs(postgis_url, "fresh")
    assert _schema_4_defs(new_defs) == _expected_defs()
    _downgrade_pg(postgis_url, "old")
    assert _schema_4_defs(_index_defs(postgis_url, "old")) == set()
    with caplog.at_level(logging.INFO, logger="gridmap.storage"):
        with open_workspace(old) as ws:
            assert ws.schema_version == 4 and ws.meta["schema_version"] == "4"
            after = _every_layer(ws)
            assert ws.integrity_check() == "ok"
    assert "migrated PostGIS workspace" in caplog.text and "from schema 3 to 4" in caplog.text
    assert parse_workspace_url(old).masked in caplog.text
    assert _index_defs(postgis_url, "old") == new_defs
    assert _version(postgis_url, "old") == "4"
    for name in LAYERS:
        _frames_equal(after[name], before[name])
    assert len(before["reports"]) > 0
    with caplog.at_level(logging.INFO, logger="gridmap.storage"):
        caplog.clear()
        open_workspace(old).close()  # a second open does nothing
    assert "migrated" not in caplog.text and _index_defs(postgis_url, "old") == new_defs


@pytest.mark.postgis
def test_postgis_planner_uses_the_new_indexes_on_20000_reports(postgis_url: str) -> None:
    url = _with_schema(postgis_url, "big")
    init_workspace(url).close()
    _downgrade_pg(postgis_url, "big")
    with _pg(postgis_url) as con:  # 20,000 reports of 50 subdistricts (400 each), written as the owner
        con.execute("INSERT INTO big.reports (report_id, reported_at, category, grid_code, geom)"
                    " SELECT 'r' || i, timestamptz '2025-03-01' + i * interval '1 minute', 'garbage_dumping',"
                    " '610802' || lpad((i % 50)::text, 3, '0') || '001001',"
                    " ST_SetSRID(ST_MakePoint(109.7 + (i % 100) * 0.001, 38.2), 4326)"
                    " FROM generate_series(1, 20000) AS i")
        con.execute("ANALYZE big.reports")
    query = "SELECT report_id FROM reports WHERE left(grid_code, 9) = '610802007'"
    assert _index_used(postgis_url, "big", query) == []  # schema 3: a scan of the whole table
    open_workspace(url).close()
    with _pg(postgis_url) as con:
        con.execute("ANALYZE big.reports")
    used = _index_used(postgis_url, "big", query)
    assert used and {n for _, n in used} == {"ix_reports_grid_code_9"}
    assert {t for t, _ in used} <= {"Index Scan", "Bitmap Index Scan", "Index Only Scan"}
    office = _index_used(postgis_url, "big", "SELECT report_id FROM reports WHERE office = '610802007'")
    assert {n for _, n in office} == {"ix_reports_office"}
    rows = _pg_rows(postgis_url, "SELECT count(*) FROM big.reports WHERE left(grid_code, 9) = '610802007'")
    assert rows == [(400,)]


_OPENER = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
import gridmap
with gridmap.open_workspace(sys.argv[1]) as ws:
    print(ws.schema_version)
"""


@pytest.mark.postgis
def test_postgis_two_processes_opening_one_old_workspace_migrate_it_once(postgis_url: str) -> None:
    url = _with_schema(postgis_url, "old")
    init_workspace(url).close()
    _downgrade_pg(postgis_url, "old")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with _pg(postgis_url) as gate:  # both processes wait on the metadata table, then race into the migration
        gate.execute("BEGIN")
        gate.execute("LOCK TABLE old.gridmap_meta IN ACCESS EXCLUSIVE MODE")
        procs = [subprocess.Popen([sys.executable, "-c", _OPENER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for _ in range(2)]
        deadline, waiting = time.monotonic() + 120, 0
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            waiting = gate.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'old.gridmap_meta'"
                                   "::regclass").fetchone()[0]
            if waiting == 2:
                break
            time.sleep(0.05)
        assert waiting == 2, [p.communicate() for p in procs]
        gate.execute("COMMIT")
        outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [out.strip() for out, _ in outs] == ["4", "4"]
    assert sum(err.count("migrated PostGIS workspace") for _, err in outs) == 1
    assert _schema_4_defs(_index_defs(postgis_url, "old")) == _expected_defs()
    names = _pg_rows(postgis_url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'old'")
    assert len(names) == len(set(names))
    assert _version(postgis_url, "old") == "4"


def _with_login(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(role)}:{quote(password, safe='')}@{host}"))


@pytest.mark.postgis
def test_postgis_office_role_opening_an_old_workspace_is_told_who_migrates(postgis_url: str,
                                                                           capsys: pytest.CaptureFixture) -> None:
    from gridmap.storage.postgis import grant_office

    init_workspace(postgis_url).close()
    role, password = f"office_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex[:8]}"
    grant_office(postgis_url, role=role, office="610802001")
    with _pg(postgis_url) as con:
        con.execute(f"ALTER ROLE {role} PASSWORD '{password}'")
    try:
        _downgrade_pg(postgis_url, "gridmap")
        office_url = _with_login(postgis_url, role, password)
        with pytest.raises(WorkspaceError, match=r"schema 3 .*needs schema 4.*only the owner.*gridmap info") as err:
            open_workspace(office_url)
        assert password not in str(err.value)
        assert main(["info", office_url]) == 2
        printed = capsys.readouterr()
        assert "only the owner" in printed.err and "Traceback" not in printed.err and password not in printed.err
        assert _version(postgis_url, "gridmap") == "3"
        assert _schema_4_defs(_index_defs(postgis_url, "gridmap")) == set()  # nothing was half done
        open_workspace(postgis_url).close()  # the owner migrates it
        with open_workspace(office_url) as ws:
            assert ws.schema_version == 4
    finally:
        with _pg(postgis_url) as con:
            con.execute(f"DROP OWNED BY {role}")
            con.execute(f"DROP ROLE {role}")


@pytest.mark.postgis
def test_postgis_schema_5_and_schema_2_are_refused(postgis_url: str) -> None:
    init_workspace(postgis_url).close()
    defs = _index_defs(postgis_url, "gridmap")
    _pg_rows(postgis_url, "UPDATE gridmap.gridmap_meta SET value = '5' WHERE key = 'schema_version'")
    with pytest.raises(WorkspaceVersionError, match=r"newer gridmap \(schema 5\); upgrade gridmap"):
        open_workspace(postgis_url)
    _pg_rows(postgis_url, "UPDATE gridmap.gridmap_meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(WorkspaceError, match=r"schema 2, older than any PostGIS workspace.*gridmap copy"):
        open_workspace(postgis_url)
    assert _version(postgis_url, "gridmap") == "2" and _index_defs(postgis_url, "gridmap") == defs


def test_geopackage_schema_5_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.gpkg"
    init_workspace(path).close()
    with closing(sqlite3.connect(path)) as con:
        con.execute("UPDATE gridmap_meta SET value = '5' WHERE key = 'schema_version'")
        con.commit()
    with pytest.raises(WorkspaceVersionError, match=r"newer gridmap \(schema 5\); upgrade gridmap"):
        open_workspace(path)
