"""Offices and the rows of no office in a PostGIS workspace (issue 14): the owner's fixes and keys across offices.

Two subdistricts: the illustrative sample (610802001) and a copy of its boundaries moved east and recoded
(610802002), plus one grid of each office sharing an edge. The owner imports GPS fixes for both offices at
once; which office each fix belongs to is computed here by brute force with Shapely (the grids whose polygon
contains or touches the point; the smallest grid_code of those; none: no office) from what the owner reads
back, and compared with what each office role, a read-all role and plain SQL see. Then an office imports a
ledger whose report ids another office already stored: every such record is quarantined, and nothing of the
other office's rows shows in what the importing office can read.
"""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, box

import gridmap
from gridmap.cli import main
from gridmap.sample import sample_boundaries
from gridmap.storage.url import parse_workspace_url

A, B = "610802001", "610802002"
CRS = "EPSG:4326"
SHIFT = 0.04  # degrees east of the sample: office B's subdistrict (the sample is 0.028 degrees wide)
EDGE_X = 109.75  # the edge shared by the two offices' extra grids


# ------------------------------------------------------------------------------------------------- helpers
def _in_schema(url: str, schema: str) -> str:
    return url + ("&" if "?" in url else "?") + f"schema={schema}"


def _with_login(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(role)}:{quote(password, safe='')}@{host}"))


def _sql(url: str) -> Any:
    """A plain connection to the workspace at `url`, its schema first in the search path."""
    import psycopg

    loc = parse_workspace_url(url)
    return psycopg.connect(loc.conninfo, autocommit=True, options=f"-c search_path={loc.schema},public")


@pytest.fixture
def roles(postgis_url: str) -> Iterator[Callable[[str], dict[str, str]]]:
    """Grant office A, office B and a read-all role on a workspace URL; their URLs (with a password each)."""
    from gridmap.storage.postgis import grant_office

    made: list[str] = []

    def grant(url: str) -> dict[str, str]:
        tag = uuid.uuid4().hex[:8]
        names = {"a": f"office_a_{tag}", "b": f"office_b_{tag}", "all": f"district_{tag}"}
        grant_office(url, role=names["a"], office=A)
        grant_office(url, role=names["b"], office=B)
        grant_office(url, role=names["all"], read_all=True)
        made.extend(names.values())
        urls = {"owner": url}
        with _sql(postgis_url) as con:
            for key, role in names.items():
                con.execute(f"ALTER ROLE {role} PASSWORD 'pw-{key}-{tag}'")
                urls[key] = _with_login(url, role, f"pw-{key}-{tag}")
        return urls

    yield grant
    with _sql(postgis_url) as con:
        for role in made:
            con.execute(f"DROP OWNED BY {role}")
            con.execute(f"DROP ROLE {role}")


def _recode(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Office B's copy of one of the sample's boundary layers: moved east, every code of A made B's."""
    out = frame.copy()
    out["geometry"] = out.geometry.translate(xoff=SHIFT)
    for column in ("code", "community_code", "grid_code"):
        if column in out.columns:
            out[column] = B + out[column].str.slice(9)
    if "area_code" in out.columns:
        out["area_code"] = None
    return out


def _boundaries() -> dict[str, gpd.GeoDataFrame]:
    """Both offices' subdistrict, communities and grids, and two grids (one each) sharing the edge x = EDGE_X."""
    sample = sample_boundaries(seed=0)
    edge = gpd.GeoDataFrame({"grid_code": [f"{A}009001", f"{B}009001"],
                             "community_code": [f"{A}009", f"{B}009"]},
                            geometry=[MultiPolygon([box(EDGE_X - 0.01, 38.31, EDGE_X, 38.32)]),
                                      MultiPolygon([box(EDGE_X, 38.31, EDGE_X + 0.01, 38.32)])], crs=CRS)
    return {"subdistrict": pd.concat([sample["subdistrict"], _recode(sample["subdistrict"])], ignore_index=True),
            "communities": pd.concat([sample["communities"], _recode(sample["communities"])], ignore_index=True),
            "grids": pd.concat([sample["grids"], _recode(sample["grids"]), edge], ignore_index=True)}


def _two_offices(url: str, roles: Callable[[str], dict[str, str]]) -> tuple[Any, dict[str, str]]:
    """A new workspace at `url` holding both offices' boundaries, and the URLs of its roles (:func:`roles`)."""
    ws = gridmap.init_workspace(url)
    for layer, frame in _boundaries().items():
        ws.append(layer, frame)
    return ws, roles(url)


def _fixes(grids: gpd.GeoDataFrame) -> list[tuple[float, float]]:
    """Points over both offices and the gap between them, grid vertices, points on the shared edge, one far."""
    rng = np.random.default_rng(14)
    x0, y0, x1, y1 = grids.total_bounds
    out = list(zip(rng.uniform(x0 - 0.004, x1 + 0.004, 300).tolist(), rng.uniform(y0 - 0.004, y1 + 0.004, 300)
                   .tolist()))
    for geom in grids.geometry.iloc[::9]:  # vertices, most of them shared by two or three grids of one office
        out += [tuple(xy) for xy in shapely.get_coordinates(geom)[:3].tolist()]
    out += [(EDGE_X, 38.315), (EDGE_X, 38.31), (EDGE_X, 38.32), (EDGE_X - 0.005, 38.32)]  # on A's and B's edge
    out.append((109.70, 38.27))  # outside every grid, near the sample
    return out


def _write_fixes(path: Path, points: list[tuple[float, float]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["巡查员", "定位时间", "经度", "纬度"])
        for i, (x, y) in enumerate(points):
            stamp = pd.Timestamp("2025-03-03 08:00") + pd.Timedelta(seconds=i)
            writer.writerow([f"巡查员{i % 7}", stamp.strftime("%Y-%m-%d %H:%M:%S"), repr(x), repr(y)])
    return path


def _import(capsys: pytest.CaptureFixture[str], url: str, layer: str, path: Path, *args: str) -> dict[str, Any]:
    capsys.readouterr()
    code = main(["import", url, layer, str(path), "--coords", "wgs84", "--json", *args])
    out = capsys.readouterr()
    assert code in (0, 1), out.err
    summary = json.loads(out.out.strip())
    assert summary["read"] == summary["accepted"] + summary["duplicates"] + summary["quarantined"]
    return summary


def _expected_offices(grids: gpd.GeoDataFrame, tracks: gpd.GeoDataFrame) -> list[str | None]:
    """Each fix's office by brute force: the smallest grid_code among the grids whose polygon meets the point."""
    codes = grids["grid_code"].to_numpy(dtype=object)
    meets = shapely.intersects(grids.geometry.to_numpy()[:, None], tracks.geometry.to_numpy()[None, :])
    return [min(codes[meets[:, j]])[:9] if meets[:, j].any() else None for j in range(len(tracks))]


def _keys(frame: pd.DataFrame) -> set[tuple[str, pd.Timestamp]]:
    return set(zip(frame["inspector"], frame["time"]))


def _check_offices(urls: dict[str, str]) -> None:
    """Each office reads exactly the fixes of its grids; the read-all role and the owner read every fix."""
    owner = gridmap.open_workspace(urls["owner"])
    tracks, grids = owner.read_layer("tracks"), owner.read_layer("grids")
    want = _expected_offices(grids, tracks)
    keys = list(zip(tracks["inspector"], tracks["time"]))
    mine = {office: {k for k, o in zip(keys, want) if o == office} for office in (A, B, None)}
    assert all(len(mine[o]) >= 5 for o in (A, B, None))  # the test covers both offices and the rows of no office
    grid_codes = grids["grid_code"].to_numpy(dtype=object)
    meets = shapely.intersects(grids.geometry.to_numpy()[:, None], tracks.geometry.to_numpy()[None, :])
    assert any({c[:9] for c in grid_codes[meets[:, j]]} == {A, B} for j in range(len(tracks)))  # an edge of two
    for key, office in (("a", A), ("b", B)):
        got = gridmap.open_workspace(urls[key]).read_layer("tracks")
        assert _keys(got) == mine[office]
    assert _keys(gridmap.open_workspace(urls["all"]).read_layer("tracks")) == set(keys)
    with _sql(urls["owner"]) as con:  # the stored office itself, as the owner sees it
        stored = {(i, t): o for i, t, o in con.execute("SELECT inspector, time, office FROM tracks")}
    assert {(i, pd.Timestamp(t)): o for (i, t), o in stored.items()} == dict(zip(keys, want))


# ------------------------------------------------------------------------------------------------- the owner's fixes
@pytest.mark.postgis
def test_fixes_the_owner_imports_belong_to_the_office_of_their_grid(
        postgis_url: str, tmp_path: Path, roles: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ws = gridmap.init_workspace(postgis_url)
    for layer, frame in _boundaries().items():
        ws.append(layer, frame)
    path = _write_fixes(tmp_path / "fixes.csv", _fixes(ws.read_layer("grids")))
    summary = _import(capsys, postgis_url, "tracks", path)
    assert summary["accepted"] == len(pd.read_csv(path)) and summary["quarantined"] == 0
    _check_offices(roles(postgis_url))


@pytest.mark.postgis
def test_fixes_copied_from_a_geopackage_belong_to_the_office_of_their_grid(
        postgis_url: str, tmp_path: Path, roles: Any, capsys: pytest.CaptureFixture[str]) -> None:
    gpkg = tmp_path / "city.gpkg"
    ws = gridmap.init_workspace(gpkg)
    for layer, frame in _boundaries().items():
        ws.append(layer, frame)
    path = _write_fixes(tmp_path / "fixes.csv", _fixes(ws.read_layer("grids")))
    assert _import(capsys, str(gpkg), "tracks", path)["accepted"] == len(pd.read_csv(path))
    url = _in_schema(postgis_url, "copied")
    assert main(["copy", str(gpkg), url]) == 0
    _check_offices(roles(url))


@pytest.mark.postgis
def test_a_fix_written_or_moved_by_sql_gets_the_office_of_its_grid(postgis_url: str, roles: Any) -> None:
    """What QGIS does: plain INSERT and UPDATE, as the owner and as an office."""
    import psycopg

    ws, urls = _two_offices(postgis_url, roles)
    in_a, in_b = "ST_SetSRID(ST_MakePoint(109.745, 38.315), 4326)", "ST_SetSRID(ST_MakePoint(109.755, 38.315), 4326)"
    outside = "ST_SetSRID(ST_MakePoint(109.70, 38.27), 4326)"
    with _sql(postgis_url) as con:
        con.execute(f"INSERT INTO tracks (inspector, time, geom) VALUES ('q', '2025-03-03 08:00+08', {in_a}),"
                    f" ('q', '2025-03-03 08:01+08', {in_b}), ('q', '2025-03-03 08:02+08', {outside}),"
                    f" ('q', '2025-03-03 08:03+08', 'SRID=4326;POINT({EDGE_X} 38.315)')")
        office = "SELECT office FROM tracks WHERE time = %s"
        assert [con.execute(office, [f"2025-03-03 08:0{i}+08"]).fetchone()[0] for i in range(4)] == [A, B, None, A]
        con.execute(f"UPDATE tracks SET geom = {in_b} WHERE time = '2025-03-03 08:00+08'")  # the owner moves a fix
        assert con.execute(office, ["2025-03-03 08:00+08"]).fetchone()[0] == B
        con.execute(f"UPDATE tracks SET office = '{A}' WHERE time = '2025-03-03 08:02+08'")  # outside: no office
        assert con.execute(office, ["2025-03-03 08:02+08"]).fetchone()[0] is None
    loc = parse_workspace_url(postgis_url)
    with psycopg.connect(loc.conninfo, autocommit=True, options="-c search_path=gridmap") as con:  # PostGIS not on it
        con.execute(f"INSERT INTO tracks (inspector, time, geom) VALUES ('q', '2025-03-03 08:04+08',"
                    f" 'SRID=4326;POINT({EDGE_X + 0.005} 38.315)')")
        assert con.execute("SELECT office FROM tracks WHERE time = '2025-03-03 08:04+08'").fetchone()[0] == B
    with _sql(urls["a"]) as con:  # an office's fix keeps the office, wherever it lies
        con.execute(f"INSERT INTO tracks (inspector, time, geom) VALUES ('a', '2025-03-03 09:00+08', {in_b})")
        con.execute(f"UPDATE tracks SET geom = {outside} WHERE inspector = 'a'")
        assert con.execute("SELECT inspector, office FROM tracks ORDER BY time").fetchall() == [("q", A), ("a", A)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            con.execute(f"INSERT INTO tracks (inspector, time, geom, office) VALUES ('a', now(), {in_b}, '{B}')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):  # B's grid: B's row
            con.execute(f"INSERT INTO tracks (inspector, time, geom, office) VALUES ('a', now(), {in_b}, NULL)")
    assert len(gridmap.open_workspace(urls["b"]).read_layer("tracks")) == 3  # the owner's three fixes in B's grids


# ------------------------------------------------------------------------------------------ keys of another office
REPORT_HEADER = ["编号", "上报时间", "类别", "描述", "经度", "纬度"]
A_SECRETS = ("甲办秘密描述", "王秘密", "13912345678")


def _ledger(path: Path, rows: list[list[str]], extra: list[list[str]] | None = None) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(REPORT_HEADER + (["上报人", "联系电话"] if extra else []))
        for i, row in enumerate(rows):
            writer.writerow(row + (extra[i] if extra else []))
    return path


@pytest.mark.postgis
def test_a_key_another_office_holds_is_quarantined_and_nothing_of_that_office_shows(
        postgis_url: str, tmp_path: Path, roles: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ws, urls = _two_offices(postgis_url, roles)
    grids = ws.read_layer("grids")
    a_pts = [g.representative_point() for g in grids.geometry[grids["grid_code"].str.startswith(A)].iloc[:4]]
    b_pts = [g.representative_point() for g in grids.geometry[grids["grid_code"].str.startswith(B)].iloc[:5]]
    a_rows = [[f"RA-{i}", f"2025-03-01 {8 + i:02d}:00", "垃圾乱倒", "北大街口" if i < 2 else f"{A_SECRETS[0]}{i}",
               repr(p.x), repr(p.y)] for i, p in enumerate(a_pts)]
    a_ledger = _ledger(tmp_path / "a.csv", a_rows, [[A_SECRETS[1], A_SECRETS[2]]] * len(a_rows))
    a_sum = _import(capsys, urls["a"], "reports", a_ledger)
    assert a_sum["accepted"] == 4, json.dumps(a_sum, ensure_ascii=False)
    before = ws.read_layer("reports")
    assert all(A_SECRETS[1] in extra and A_SECRETS[2] in extra for extra in before["extra"])  # stored, in A's rows
    b_rows = [a_rows[0][:], a_rows[1][:],  # A's ids with A's content (what an office may not learn: that it is equal)
              ["RA-2", "2025-03-02 10:00", "污水乱泼", "乙办描述", repr(b_pts[0].x), repr(b_pts[0].y)],
              ["RA-3", "2025-03-02 11:00", "垃圾乱倒", "", repr(b_pts[1].x), repr(b_pts[1].y)]]
    b_rows += [[f"RB-{i}", f"2025-03-02 1{i}:30", "垃圾乱倒", "乙办", repr(p.x), repr(p.y)]
               for i, p in enumerate(b_pts[2:])]
    b_rows.append(b_rows[-1][:])  # the same record twice: a duplicate
    ledger = _ledger(tmp_path / "b.csv", b_rows)
    overlap = [i for i, r in enumerate(b_rows) if r[0] in {a[0] for a in a_rows}]
    new = {r[0] for r in b_rows} - {a[0] for a in a_rows}
    summary = _import(capsys, urls["b"], "reports", ledger)
    assert (summary["read"], summary["accepted"], summary["duplicates"], summary["quarantined"]) == \
        (len(b_rows), len(new), 1, len(overlap))
    assert summary["reasons"] == {"key_conflict": len(overlap)}

    b = gridmap.open_workspace(urls["b"])
    assert set(b.read_layer("reports")["report_id"]) == new
    quarantine = b.quarantine()
    assert sorted(quarantine["record"].astype(int)) == [i + 1 for i in overlap]  # record numbers count data rows
    assert set(quarantine["reason"]) == {"key_conflict"}
    shapes = set()
    for _, row in quarantine.iterrows():
        key = b_rows[int(row["record"]) - 1][0]
        assert f"report_id {key} is already used by a row of another office" in row["detail"]
        shapes.add(row["detail"].replace(key, "<key>"))
    assert len(shapes) == 1  # equal content and other content read the same: nothing tells them apart
    everything = json.dumps(quarantine.astype(str).to_dict("records"), ensure_ascii=False)
    for secret in A_SECRETS:  # A's descriptions of its other rows, its reporter's name and phone
        assert secret not in everything
    for i in (2, 3):  # A's times and positions of the rows B gave other content
        assert pd.Timestamp(a_rows[i][1]).strftime("%m-%d %H:%M") not in everything
        assert a_rows[i][4][:9] not in everything
    assert gridmap.open_workspace(urls["a"]).quarantine().empty
    after = ws.read_layer("reports")  # A's rows unchanged, as the owner reads them
    pd.testing.assert_frame_equal(after[after["report_id"].str.startswith("RA")].reset_index(drop=True),
                                  before.reset_index(drop=True))
    assert len(ws.quarantine()) == len(overlap)

    # the owner sees every row: for it the same records are what they always were (duplicates, or conflicts shown)
    b_rows.append(["RO-1", "2025-03-03 08:00", "垃圾乱倒", "", repr(b_pts[2].x), repr(b_pts[2].y)])
    owner = _import(capsys, postgis_url, "reports", _ledger(tmp_path / "owner.csv", b_rows))
    assert (owner["accepted"], owner["quarantined"]) == (1, 2) and owner["duplicates"] == len(b_rows) - 3
    details = ws.quarantine(source="owner.csv")["detail"].tolist()
    assert len(details) == 2 and all("is already stored with" in d for d in details)


@pytest.mark.postgis
def test_a_fix_of_another_office_at_the_same_time_is_a_key_conflict(postgis_url: str, roles: Any) -> None:
    ws, urls = _two_offices(postgis_url, roles)
    times = pd.to_datetime(["2025-03-03 08:00", "2025-03-03 08:01"], utc=True)
    fixes = gpd.GeoDataFrame({"inspector": ["张三", "张三"], "time": times},
                             geometry=[Point(109.745, 38.315), Point(109.746, 38.315)], crs=CRS)
    assert gridmap.open_workspace(urls["a"]).append("tracks", fixes).accepted == 2
    b = gridmap.open_workspace(urls["b"])
    mixed = gpd.GeoDataFrame({"inspector": ["张三", "李四"], "time": times},
                             geometry=[Point(109.755, 38.315)] * 2, crs=CRS)
    summary = b.append("tracks", mixed, source="b.gpx")
    assert (summary.read, summary.accepted, summary.duplicates, summary.quarantined) == (2, 1, 0, 1)
    (detail,) = b.quarantine()["detail"]
    assert "another office" in detail and "109.745" not in detail
    assert _keys(b.read_layer("tracks")) == {("李四", times[1])}
    assert len(ws.read_layer("tracks")) == 3


@pytest.mark.postgis
def test_two_offices_importing_one_file_each_keep_its_bad_record(
        postgis_url: str, tmp_path: Path, roles: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A quarantined record is kept once per office: the second office's is not skipped for the first's."""
    ws, urls = _two_offices(postgis_url, roles)
    grids = ws.read_layer("grids")
    a_pt = grids.geometry[grids["grid_code"].str.startswith(A)].iloc[0].representative_point()
    b_pt = grids.geometry[grids["grid_code"].str.startswith(B)].iloc[0].representative_point()
    rows = [["RS-1", "2025-03-01 08:00", "垃圾乱倒", "", repr(a_pt.x), repr(a_pt.y)],
            ["RS-2", "2025-03-01 09:00", "垃圾乱倒", "", "", ""],  # no position: quarantined
            ["RS-3", "2025-03-01 10:00", "垃圾乱倒", "", repr(b_pt.x), repr(b_pt.y)]]
    ledger = _ledger(tmp_path / "shared.csv", rows)
    seen = {}
    for office in ("a", "b"):
        summary = _import(capsys, urls[office], "reports", ledger)  # the counts add up (checked there)
        assert summary["quarantined"] >= 1
        seen[office] = gridmap.open_workspace(urls[office]).quarantine()
    for office in ("a", "b"):
        records = seen[office][seen[office]["detail"].str.contains("another office") == False]  # noqa: E712
        assert list(records["record"].astype(int)) == [2], office  # its own copy of the record without a position
    owner = ws.quarantine()
    assert list(owner[owner["record"].astype(int) == 2]["source"]) == ["shared.csv", "shared.csv"]
