"""The PostGIS test server itself: a real PostgreSQL with PostGIS, a fresh database per test.

These tests prove the ground the PostGIS workspace's tests stand on: the fixture's database
answers, has PostGIS, starts empty, and is not shared with another test.
"""

from __future__ import annotations

import pytest

import _postgis

pytestmark = pytest.mark.postgis

_seen: list[str] = []


def _connect(url: str):  # type: ignore[no-untyped-def]
    psycopg = _postgis.psycopg_or_skip()
    return psycopg.connect(url, autocommit=True)


def test_the_server_has_postgis_and_computes_with_it(postgis_url: str) -> None:
    with _connect(postgis_url) as conn:
        version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        assert int(version.split(".")[0]) >= 3
        # a computation PostGIS must do right: the geodesic length of 1 degree of latitude at the
        # equator on WGS84 is 110,574.4 m (the meridian arc, e.g. Snyder 1987, table 2)
        metres = conn.execute("SELECT ST_Length(ST_GeogFromText('LINESTRING(0 0, 0 1)'))").fetchone()[0]
        assert metres == pytest.approx(110574.4, abs=0.5)


@pytest.mark.parametrize("turn", [1, 2])
def test_each_test_gets_a_fresh_database(postgis_url: str, turn: int) -> None:
    with _connect(postgis_url) as conn:
        tables = conn.execute("SELECT count(*) FROM information_schema.tables "
                              "WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'topology', 'tiger')"
                              " AND table_name <> 'spatial_ref_sys' AND table_type = 'BASE TABLE'").fetchone()[0]
        assert tables == 0
        conn.execute("CREATE TABLE left_behind (x int)")
        name = conn.execute("SELECT current_database()").fetchone()[0]
    assert name not in _seen
    _seen.append(name)


class _UnmarkedItem:
    nodeid = "tests/test_x.py::test_unmarked"

    def get_closest_marker(self, name: str) -> None:
        return None


def test_an_unmarked_test_may_not_take_a_database() -> None:
    with pytest.raises(pytest.fail.Exception, match="lacks @pytest.mark.postgis"):
        next(_postgis.postgis_database(_UnmarkedItem()))  # type: ignore[arg-type]


def test_a_missing_server_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_postgis.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="must run, not skip"):
        _postgis.unavailable("no server")
    monkeypatch.setenv(_postgis.REQUIRE_ENV, "")
    with pytest.raises(pytest.skip.Exception):
        _postgis.unavailable("no server")
