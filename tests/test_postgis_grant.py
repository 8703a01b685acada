"""Office roles of a PostGIS workspace (issue 14): each office fenced to its own rows by the database.

Two offices' data (subdistricts 610802001 and an invented 610802002) are written by the owner; two
office roles and a read-all role are granted, each given a password by SQL, and each connects with
a URL holding it. What each may see is computed independently from the owner's view (rows whose
code starts with the office's 9 digits), and checked both through gridmap and through plain SQL.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, box

import gridmap
from gridmap.cli import main
from gridmap.errors import WorkspaceError

OFFICES = ("610802001", "610802002")
CRS = "EPSG:4326"


def grant_office(url: str, **kwargs: Any) -> Any:
    """:func:`gridmap.storage.postgis.grant_office` (imported here: psycopg is needed only by these tests)."""
    from gridmap.storage.postgis import grant_office as grant

    return grant(url, **kwargs)


def _poly(x: float, y: float, size: float = 0.01) -> MultiPolygon:
    return MultiPolygon([box(x, y, x + size, y + size)])


def _office_frames(office: str, n: int) -> dict[str, pd.DataFrame]:
    """Small but complete data of one office: its subdistrict, a community, two grids, reports, events."""
    x = 109.0 + 0.1 * int(office[-1])
    community = f"{office}001"
    grids = [f"{community}001", f"{community}002"]
    reports = [f"R{office}-{i}" for i in range(n)]
    return {
        "subdistrict": gpd.GeoDataFrame({"code": [office], "name": [f"街道{office}"]},
                                        geometry=[_poly(x, 34.0, 0.05)], crs=CRS),
        "communities": gpd.GeoDataFrame({"community_code": [community], "name": [f"社区{office}"]},
                                        geometry=[_poly(x, 34.0, 0.02)], crs=CRS),
        "grids": gpd.GeoDataFrame({"grid_code": grids, "community_code": [community] * 2},
                                  geometry=[_poly(x, 34.0), _poly(x + 0.01, 34.0)], crs=CRS),
        "areas": gpd.GeoDataFrame({"area_code": [f"{office}A1"], "name": ["片区"]},
                                  geometry=[_poly(x, 34.0, 0.02)], crs=CRS),
        "reports": gpd.GeoDataFrame(
            {"report_id": reports, "reported_at": pd.date_range("2025-03-01", periods=n, freq="h", tz="UTC"),
             "category": ["garbage_dumping"] * n, "grid_code": [grids[i % 2] for i in range(n)]},
            geometry=[Point(x + 0.005, 34.005 + 0.0001 * i) for i in range(n)], crs=CRS),
        "rectifications": pd.DataFrame({"report_id": reports[:2],
                                        "rectified_at": pd.to_datetime(["2025-03-05", "2025-03-06"], utc=True)}),
        "spotchecks": pd.DataFrame({"report_id": reports[:1], "checked_at": pd.to_datetime(["2025-03-07"], utc=True),
                                    "result": ["pass"]}),
    }


def _with_login(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(role)}:{quote(password, safe='')}@{host}"))


def _sql(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, options="-c search_path=gridmap,public")


@pytest.fixture
def city(postgis_url: str) -> Iterator[dict[str, Any]]:
    """A workspace with two offices' rows (written by the owner), two office roles and a read-all role."""
    ws = gridmap.init_workspace(postgis_url)
    for office, n in zip(OFFICES, (5, 3)):
        for layer, frame in _office_frames(office, n).items():
            ws.append(layer, frame)
    ws.append("streets", gpd.GeoDataFrame({"street_name": ["北大街"]},
                                          geometry=[_multiline()], crs=CRS))
    tag = uuid.uuid4().hex[:8]
    roles = {"a": f"office_a_{tag}", "b": f"office_b_{tag}", "all": f"district_{tag}"}
    grant_office(postgis_url, role=roles["a"], office=OFFICES[0])
    grant_office(postgis_url, role=roles["b"], office=OFFICES[1])
    grant_office(postgis_url, role=roles["all"], read_all=True)
    urls = {"owner": postgis_url}
    with _sql(postgis_url) as con:
        for key, role in roles.items():
            password = f"pw '{key}' {tag}"
            con.execute(f"ALTER ROLE {role} PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
            urls[key] = _with_login(postgis_url, role, password)
    try:
        yield {"ws": ws, "roles": roles, "urls": urls}
    finally:
        with _sql(postgis_url) as con:
            for role in roles.values():
                con.execute(f"DROP OWNED BY {role}")
                con.execute(f"DROP ROLE {role}")


def _multiline() -> Any:
    from shapely.geometry import MultiLineString

    return MultiLineString([[(109.1, 34.0), (109.3, 34.0)]])


def _owner_view(url: str) -> dict[str, pd.DataFrame]:
    ws = gridmap.open_workspace(url)
    layers = ("subdistrict", "communities", "grids", "areas", "reports", "rectifications", "spotchecks", "streets")
    return {layer: ws.read_layer(layer) for layer in layers}


def _expected(owner: dict[str, pd.DataFrame], office: str) -> dict[str, pd.DataFrame]:
    """What an office may see, computed from the owner's frames by the codes' first nine digits."""
    code = {"subdistrict": "code", "communities": "community_code", "grids": "grid_code", "areas": "area_code",
            "reports": "grid_code"}
    out = {layer: owner[layer][owner[layer][column].str.slice(0, 9) == office].reset_index(drop=True)
           for layer, column in code.items()}
    mine = set(out["reports"]["report_id"])
    for layer in ("rectifications", "spotchecks"):
        out[layer] = owner[layer][owner[layer]["report_id"].isin(mine)].reset_index(drop=True)
    out["streets"] = owner["streets"]  # loaded by the district: every office reads it
    return out


def _assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)  # no office column leaks into the model's frames
    key = [c for c in want.columns if c != "geometry"][0]
    pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry", errors="ignore")).sort_values(key)
                                  .reset_index(drop=True),
                                  pd.DataFrame(want.drop(columns="geometry", errors="ignore")).sort_values(key)
                                  .reset_index(drop=True))


@pytest.mark.postgis
def test_each_office_reads_only_its_rows_through_gridmap(city: dict[str, Any]) -> None:
    owner = _owner_view(city["urls"]["owner"])
    assert sorted(set(owner["reports"]["grid_code"].str.slice(0, 9))) == list(OFFICES)
    for key, office in (("a", OFFICES[0]), ("b", OFFICES[1])):
        ws = gridmap.open_workspace(city["urls"][key])
        want = _expected(owner, office)
        for layer, frame in want.items():
            _assert_same(ws.read_layer(layer), frame)
        assert len(want["reports"]) == (5 if key == "a" else 3)
    reader = gridmap.open_workspace(city["urls"]["all"])
    for layer, frame in owner.items():
        _assert_same(reader.read_layer(layer), frame)


@pytest.mark.postgis
def test_offices_cannot_read_change_or_delete_each_others_rows_by_sql(city: dict[str, Any]) -> None:
    import psycopg

    before = _owner_view(city["urls"]["owner"])
    for key, mine, theirs in (("a", *OFFICES), ("b", *OFFICES[::-1])):
        with _sql(city["urls"][key]) as con:
            assert con.execute("SELECT count(*) FROM reports WHERE grid_code LIKE %s",
                               [theirs + "%"]).fetchone()[0] == 0
            assert {r[0] for r in con.execute("SELECT left(grid_code, 9) FROM grids")} == {mine}
            for table in ("reports", "grids", "communities", "rectifications", "spotchecks", "areas"):
                assert con.execute(f"UPDATE {table} SET extra = '{{}}' WHERE office = %s",
                                   [theirs]).rowcount == 0
                assert con.execute(f"DELETE FROM {table} WHERE office = %s", [theirs]).rowcount == 0
            assert con.execute("DELETE FROM reports WHERE grid_code LIKE %s", [theirs + "%"]).rowcount == 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                con.execute("INSERT INTO grids (grid_code, community_code) VALUES (%s, %s)",
                            [theirs + "001009", theirs + "001"])
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):  # moving a row out
                con.execute("UPDATE grids SET grid_code = %s WHERE grid_code = %s",
                            [theirs + "001009", mine + "001001"])
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):  # their report
                con.execute("INSERT INTO rectifications (report_id, rectified_at) VALUES (%s, now())",
                            [f"R{theirs}-0"])
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):  # a code-less row
                con.execute("INSERT INTO tracks (inspector, time, office) VALUES ('x', now(), %s)", [theirs])
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the role table is the owner's
                con.execute("UPDATE gridmap_roles SET office = %s", [theirs])
            assert con.execute("SELECT office FROM gridmap_roles").fetchall() == [(mine,)]
    after = _owner_view(city["urls"]["owner"])
    for layer, frame in before.items():
        _assert_same(after[layer], frame)


@pytest.mark.postgis
def test_office_writes_land_in_its_office_and_another_offices_rows_are_refused(city: dict[str, Any]) -> None:
    a = gridmap.open_workspace(city["urls"]["a"])
    tracks = gpd.GeoDataFrame({"inspector": ["张三", "张三"],
                               "time": pd.to_datetime(["2025-03-03 08:00", "2025-03-03 08:01"], utc=True)},
                              geometry=[Point(109.1, 34.0), Point(109.1, 34.001)], crs=CRS)
    summary = a.append("tracks", tracks, source="a.csv")
    assert summary.accepted == 2
    frames = _office_frames(OFFICES[1], 4)  # office b's data, 4th report is new
    new = frames["reports"].iloc[[3]]
    with pytest.raises(WorkspaceError, match=f"office {OFFICES[0]}.*610802002001002"):
        a.append("reports", new, source="b.csv")
    events = pd.DataFrame({"report_id": [f"R{OFFICES[0]}-4", f"R{OFFICES[1]}-2"],
                           "rectified_at": pd.to_datetime(["2025-03-09", "2025-03-09"], utc=True)})
    with pytest.raises(WorkspaceError, match=f"office {OFFICES[0]}.*a report of another office.*R{OFFICES[1]}-2"):
        a.append("rectifications", events)
    assert a.append("rectifications", events.iloc[:1]).accepted == 1
    b = gridmap.open_workspace(city["urls"]["b"])
    owner = gridmap.open_workspace(city["urls"]["owner"])
    assert len(owner.read_layer("rectifications")) == 2 + 2 + 1
    assert len(owner.read_layer("reports")) == 8  # nothing written by the refused import
    assert len(a.read_layer("tracks")) == 2 and len(b.read_layer("tracks")) == 0
    assert len(owner.read_layer("tracks")) == 2
    assert list(a.imports()["source"]) == ["a.csv", "<frame>"] and b.imports().empty
    assert len(owner.imports()) == 7 * 2 + 1 + 2  # every owner import (7 layers x 2 offices, streets) and a's two
    assert b.append("reports", new, source="b.csv").accepted == 1
    assert set(a.read_layer("reports")["report_id"]) == {f"R{OFFICES[0]}-{i}" for i in range(5)}
    assert len(owner.read_layer("reports")) == 9
    reasons = pd.DataFrame({"record": [7], "reason": ["missing_value"], "raw": ["{}"], "detail": ["no id"]})
    b.append("reports", new.iloc[:0], quarantine=reasons, source="b2.csv")
    assert len(b.quarantine()) == 1 and a.quarantine().empty and len(owner.quarantine()) == 1


@pytest.mark.postgis
def test_read_all_role_reads_everything_and_writes_nothing(city: dict[str, Any]) -> None:
    import psycopg

    reader = gridmap.open_workspace(city["urls"]["all"])
    owner = gridmap.open_workspace(city["urls"]["owner"])
    assert reader.counts() == owner.counts()
    with pytest.raises(WorkspaceError, match="permission denied"):
        reader.append("reports", _office_frames(OFFICES[0], 6)["reports"].iloc[[5]])
    with _sql(city["urls"]["all"]) as con:
        assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == 8
        for statement in ("UPDATE reports SET extra = '{}'", "DELETE FROM grids",
                          "INSERT INTO tracks (inspector, time) VALUES ('x', now())"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                con.execute(statement)
    assert owner.counts()["reports"] == 8


@pytest.mark.postgis
def test_grant_is_idempotent_and_moves_a_role(city: dict[str, Any]) -> None:
    url, role = city["urls"]["owner"], city["roles"]["a"]
    again = grant_office(url, role=role, office=OFFICES[0])
    assert (again.created, again.office, again.read_all) == (False, OFFICES[0], False)
    assert grant_office(url, role=role, office=OFFICES[0]).created is False
    ws = gridmap.open_workspace(city["urls"]["a"])
    assert set(ws.read_layer("grids")["grid_code"].str.slice(0, 9)) == {OFFICES[0]}
    with _sql(url) as con:
        assert con.execute("SELECT count(*) FROM gridmap_roles WHERE role = %s", [role]).fetchone()[0] == 1
        policies = con.execute("SELECT count(*) FROM pg_policies WHERE schemaname = 'gridmap' AND tablename = 'reports'"
                               ).fetchone()[0]
        assert policies == 2
        # QGIS finds the workspace's default styles in public.layer_styles: an office may read them
        assert con.execute("SELECT has_table_privilege(%s, 'public.layer_styles', 'SELECT')", [role]).fetchone()[0]
    grant_office(url, role=role, office=OFFICES[1])  # the office moves: now b's rows only
    assert set(ws.read_layer("grids")["grid_code"].str.slice(0, 9)) == {OFFICES[1]}
    grant_office(url, role=role, read_all=True)  # a district reader: every row, no writes
    assert len(ws.read_layer("reports")) == 8
    with pytest.raises(WorkspaceError, match="permission denied"):
        ws.append("reports", _office_frames(OFFICES[1], 6)["reports"].iloc[[5]])


@pytest.mark.postgis
@pytest.mark.parametrize("office", ["61080200", "6108020010", "61080200A", "610802001001"])
def test_an_office_that_is_not_nine_digits_is_refused(postgis_url: str, office: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(WorkspaceError, match="9 digits"):
        grant_office(postgis_url, role="office_x", office=office)
    assert main(["grant", postgis_url, "--office", office, "--role", "office_x"]) != 0
    err = capsys.readouterr().err
    assert "9 digits" in err and "Traceback" not in err


@pytest.mark.postgis
def test_grant_refuses_the_owner_and_bad_arguments(postgis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    gridmap.init_workspace(postgis_url)
    with _sql(postgis_url) as con:
        me = con.execute("SELECT current_user").fetchone()[0]
    with pytest.raises(WorkspaceError, match="row-level security would not bind"):
        grant_office(postgis_url, role=me, office=OFFICES[0])
    with pytest.raises(WorkspaceError, match="--read-all"):
        grant_office(postgis_url, role="office_x", office=OFFICES[0], read_all=True)
    with pytest.raises(WorkspaceError, match="role name"):
        grant_office(postgis_url, role="Robert'); DROP", office=OFFICES[0])
    assert main(["grant", postgis_url, "--role", "office_x"]) != 0
    assert "--read-all" in capsys.readouterr().err


@pytest.mark.postgis
def test_grant_by_the_cli(postgis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    gridmap.init_workspace(postgis_url)
    role = f"office_cli_{uuid.uuid4().hex[:8]}"
    try:
        assert main(["grant", postgis_url, "--office", OFFICES[0], "--role", role]) == 0
        out = capsys.readouterr().out
        assert role in out and OFFICES[0] in out and "ALTER ROLE" in out
        with _sql(postgis_url) as con:
            assert con.execute("SELECT office FROM gridmap_roles WHERE role = %s", [role]).fetchone() == (OFFICES[0],)
            assert con.execute("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = %s",
                               [role]).fetchone() == (True,)
    finally:
        with _sql(postgis_url) as con:
            con.execute(f"DROP OWNED BY {role}")
            con.execute(f"DROP ROLE {role}")


@given(st.text(alphabet="0123456789A٣ -", max_size=12))
@example("٣" * 9)  # a Unicode digit is not a code digit
@example("610802001")
def test_an_office_code_is_exactly_nine_ascii_digits(text: str) -> None:
    check_office = pytest.importorskip("gridmap.storage.postgis").check_office

    if len(text) == 9 and all(c in "0123456789" for c in text):
        assert check_office(text) == text
    else:
        with pytest.raises(WorkspaceError, match="9 digits"):
            check_office(text)


def test_grant_refuses_a_geopackage(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grant", str(tmp_path / "w.gpkg"), "--office", OFFICES[0], "--role", "office_x"]) == 2
    err = capsys.readouterr().err
    assert "postgresql://" in err and "Traceback" not in err
