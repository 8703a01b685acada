"""``gridmap copy SRC DST`` / :func:`gridmap.storage.copy.copy_workspace`: a workspace moved between stores, losslessly.

A copy read back gives equal tables (pandas/geopandas testing) and the same stored bookkeeping, checked
also on the files themselves with ``sqlite3`` and GDAL (the R-tree answers a bounding box as shapely does).
GeoPackage → GeoPackage runs without a server; GeoPackage → PostGIS → GeoPackage is ``@pytest.mark.postgis``.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from shapely.geometry import box

from gridmap.cli import main
from gridmap.errors import WorkspaceError
from gridmap.io.importer import import_file
from gridmap.io.retry import retry_quarantine
from gridmap.model import CATEGORIES, LAYERS
from gridmap.storage import init_workspace, open_workspace
from gridmap.storage.copy import copy_workspace

LEDGER = [
    ["序号", "上报时间", "问题类型", "问题描述", "经度", "纬度", "备注"],
    ["1", "2025-03-01 08:05:01.250", "乱贴小广告", "电线杆", "109.7312", "38.2912", "夜间"],
    ["2", "2025-03-01 09:30", "垃圾乱倒", "北大街", "109.74", "38.30", ""],
    ["3", "2025-03-02 10:00", "乱挂横幅", "东门", "109.75", "38.29", "复查"],
    ["4", "2025-03-02 11:00", "垃圾乱倒", "纬经颠倒", "38.29", "109.75", ""],
]


@pytest.fixture(autouse=True)
def _forget_added_categories():
    """Categories are registered process-wide: start without added ones, leave the registry as found."""
    before = dict(CATEGORIES)
    for key in [k for k in CATEGORIES if k not in _BUILTIN]:
        CATEGORIES.pop(key)
    yield
    CATEGORIES.clear()
    CATEGORIES.update(before)


_BUILTIN = set(CATEGORIES)


def _ledger(path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(LEDGER)
    return path


def _rich_workspace(path: Path, tmp: Path) -> Path:
    """The sample, plus a ledger with quarantined rows (with options), a category, a retry and aliases."""
    init_workspace(path, sample=True).close()
    ledger = _ledger(tmp / "台账.csv")
    with open_workspace(path) as ws:
        ws.add_column_alias("reports", "备注", "description")
        ws.add_column_alias("grids", "网格名称", "name")
        first = import_file(ws, "reports", ledger, coords="gcj02")
        assert first.reasons == {"unknown_category": 2, "swapped_coordinates": 1}
        ws.add_category("illegal_ads", "乱贴小广告", "illegal ad posting")
        assert retry_quarantine(ws, layer="reports").accepted == 1  # 乱挂横幅 stays quarantined, the fids get a gap
    return path


@pytest.fixture(scope="module")
def rich_source(tmp_path_factory: pytest.TempPathFactory):
    """:func:`_rich_workspace` built once for the module (each test copies the file); the registry left as found."""
    before = dict(CATEGORIES)
    folder = tmp_path_factory.mktemp("rich")
    yield _rich_workspace(folder / "a.gpkg", folder)
    CATEGORIES.clear()
    CATEGORIES.update(before)


@pytest.fixture()
def src(rich_source: Path, tmp_path: Path) -> Path:
    """A copy of the rich workspace (and its ledger) in this test's folder."""
    for path in rich_source.parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / rich_source.name


def _sql(path: Path, query: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def assert_same_workspace(a: Path | str, b: Path | str) -> None:
    """Every layer, the import log, the quarantine (fids and options), aliases, categories and metadata equal."""
    with open_workspace(a) as x, open_workspace(b) as y:
        for name in LAYERS:
            left, right = x.read_layer(name), y.read_layer(name)
            if isinstance(left, gpd.GeoDataFrame):
                assert_geodataframe_equal(left, right, check_less_precise=False)
            else:
                assert_frame_equal(left, right)
        assert_frame_equal(x.imports(), y.imports())
        assert_frame_equal(x.quarantine_with_options(), y.quarantine_with_options())
        assert_frame_equal(x.column_aliases(), y.column_aliases())
        assert_frame_equal(x.report_states(), y.report_states())
        assert x.meta == y.meta and x.counts() == y.counts()


def test_geopackage_to_geopackage_gives_equal_tables(src: Path, tmp_path: Path) -> None:
    copied = copy_workspace(src, tmp_path / "b.gpkg")
    assert_same_workspace(src, tmp_path / "b.gpkg")
    # the files themselves, read with plain SQL: the same rows in the same order, the same quarantine fids
    order = {"gridmap_meta": "key", "gridmap_categories": "key", "gridmap_column_aliases": "layer, source"}
    for table in ["reports", "rectifications", "grids", "tracks", "gridmap_imports", "quarantine",
                  "gridmap_categories", "gridmap_column_aliases", "gridmap_meta"]:
        keep_fid = table in ("quarantine", "gridmap_imports")
        names = [r[1] for r in _sql(src, f"PRAGMA table_info({table})") if keep_fid or r[1] != "fid"]
        query = f"SELECT {', '.join(names)} FROM {table} ORDER BY {order.get(table, 'fid')}"
        assert _sql(src, query) == _sql(tmp_path / "b.gpkg", query), table
    assert _sql(tmp_path / "b.gpkg", "SELECT fid FROM quarantine") == _sql(src, "SELECT fid FROM quarantine")
    assert [r[0] for r in _sql(src, "SELECT fid FROM quarantine ORDER BY fid")] != \
        list(range(1, 1 + len(_sql(src, "SELECT fid FROM quarantine"))))  # the retry left a gap, and it is kept
    counted = {name: _sql(src, f"SELECT count(*) FROM {name}")[0][0] for name in LAYERS}
    assert {k: copied["rows"][k] for k in LAYERS} == counted
    assert copied["rows"]["gridmap_imports"] == _sql(src, "SELECT count(*) FROM gridmap_imports")[0][0]
    assert copied["rows"]["gridmap_categories"] == 1 and copied["rows"]["gridmap_column_aliases"] == 2


def test_quarantined_records_keep_the_import_that_holds_their_options(src: Path, tmp_path: Path) -> None:
    """Joined on the file's own link (import_fid), each record names an import of the same file and options."""
    copy_workspace(src, tmp_path / "b.gpkg")
    query = ("SELECT q.fid, q.layer, i.layer, i.source, i.source_digest, i.options FROM quarantine AS q"
             " LEFT JOIN gridmap_imports AS i ON i.fid = q.import_fid ORDER BY q.fid")
    before, after = _sql(src, query), _sql(tmp_path / "b.gpkg", query)
    assert before == after
    assert any(row[5] is not None for row in after)  # the ledger's records carry their import's options


def test_a_failed_copy_leaves_no_geopackage(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridmap.storage.gpkg.workspace import Workspace

    def restore_then_fail(self, tables, meta):
        restore(self, {"reports": tables["reports"]}, {})
        raise WorkspaceError("disk full (simulated)")

    restore = Workspace.restore
    monkeypatch.setattr(Workspace, "restore", restore_then_fail)
    with pytest.raises(WorkspaceError, match="simulated"):
        copy_workspace(src, tmp_path / "b.gpkg")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("b.gpkg")]


def test_the_copy_is_a_working_geopackage(src: Path, tmp_path: Path) -> None:
    """GDAL reads the copy; its R-tree answers a bounding box as shapely does; imports go on from where they were."""
    copy_workspace(src, tmp_path / "b.gpkg")
    with open_workspace(tmp_path / "b.gpkg") as ws:
        assert ws.integrity_check() == "ok"
        reports = ws.read_layer("reports")
    window = (109.73, 38.27, 109.76, 38.30)
    found = pyogrio.read_dataframe(tmp_path / "b.gpkg", layer="reports", bbox=window)
    expected = reports[shapely.intersects(reports.geometry.to_numpy(), box(*window))]
    assert 0 < len(found) < len(reports)
    assert sorted(found["report_id"]) == sorted(expected["report_id"].astype(str))
    features = dict(_sql(tmp_path / "b.gpkg", "SELECT table_name, feature_count FROM gpkg_ogr_contents"))
    assert features["reports"] == len(reports)
    again = import_file(tmp_path / "b.gpkg", "reports", tmp_path / "台账.csv", coords="gcj02")
    assert (again.accepted, again.duplicates, again.quarantined) == (0, 2, 2)  # stored rows are duplicates
    with open_workspace(tmp_path / "b.gpkg") as ws:
        assert len(ws.imports()) == _sql(src, "SELECT count(*) FROM gridmap_imports")[0][0] + 1


def test_copy_refuses_an_existing_destination_and_a_copy_onto_itself(src: Path, tmp_path: Path) -> None:
    init_workspace(tmp_path / "b.gpkg").close()
    with pytest.raises(WorkspaceError, match="--overwrite"):
        copy_workspace(src, tmp_path / "b.gpkg")
    with pytest.raises(WorkspaceError, match="two workspaces"):
        copy_workspace(src, tmp_path / "." / "a.gpkg")
    copy_workspace(src, tmp_path / "b.gpkg", overwrite=True)
    assert_same_workspace(src, tmp_path / "b.gpkg")


def test_restore_refuses_a_store_that_holds_rows(tmp_path: Path) -> None:
    with init_workspace(tmp_path / "a.gpkg", sample=True) as full, init_workspace(tmp_path / "b.gpkg") as empty:
        empty.add_category("illegal_ads", "乱贴小广告")  # categories and aliases do not count: no row, no import
        tables = {"reports": full.read_layer("reports")}
        before = full.counts()
        with pytest.raises(WorkspaceError, match="not empty"):
            full.restore(tables, full.meta)
        assert full.counts() == before
        empty.restore(tables, {"illustrative": "true", "schema_version": "1"})
        assert empty.counts()["reports"] == before["reports"] and empty.schema_version == 4
        assert empty.meta["schema_version"] == "4" and empty.meta["illustrative"] == "true"


def test_cli_copy_prints_what_it_copied(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["copy", str(src), str(tmp_path / "b.gpkg"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["src"] == str(src) and out["dst"] == str(tmp_path / "b.gpkg")
    assert out["rows"]["reports"] == _sql(src, "SELECT count(*) FROM reports")[0][0]
    assert main(["copy", str(src), str(tmp_path / "b.gpkg")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["copy", str(tmp_path / "none.gpkg"), str(tmp_path / "c.gpkg")]) == 2
    assert not (tmp_path / "c.gpkg").exists()


_TEXT = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                     max_size=12))


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 10**6), st.floats(allow_nan=True, allow_infinity=False, width=64),
                               _TEXT, st.integers(0, 2 * 10**9)), min_size=1, max_size=8,
                     unique_by=lambda r: r[0]))
@example(rows=[(1, float("nan"), None, 0), (2, -0.0, "", 1)])
@example(rows=[(3, 1e-300, "乱贴\n'x\"", 999)])
def test_any_rectifications_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple]) -> None:
    """Attribute rows of any text, float (NaN: missing) and millisecond time read back equal after a copy."""
    tmp = tmp_path_factory.mktemp("rt")
    frame = pd.DataFrame({
        "report_id": [f"r{r[0]}" for r in rows],
        "rectified_at": pd.to_datetime([1_700_000_000_000 + r[3] for r in rows], unit="ms", utc=True),
        "tonnes": [r[1] for r in rows], "handler": [r[2] for r in rows],
    })
    with init_workspace(tmp / "a.gpkg") as ws:
        assert ws.append("rectifications", frame, source="fixes.csv").accepted == len(rows)
    copy_workspace(tmp / "a.gpkg", tmp / "b.gpkg")
    assert_same_workspace(tmp / "a.gpkg", tmp / "b.gpkg")


@pytest.mark.postgis
def test_geopackage_to_postgis_and_back_gives_equal_tables(postgis_url: str, src: Path, tmp_path: Path) -> None:
    there = copy_workspace(src, postgis_url)
    assert_same_workspace(src, postgis_url)
    back = copy_workspace(postgis_url, tmp_path / "back.gpkg")
    assert there["rows"] == back["rows"]
    assert_same_workspace(src, tmp_path / "back.gpkg")
    with pytest.raises(WorkspaceError):
        copy_workspace(src, postgis_url)  # the schema exists: a database schema is never replaced
