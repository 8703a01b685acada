"""A real PostgreSQL/PostGIS server for the tests marked ``postgis`` (shared by those tests).

The server is whatever libpq's environment names (``PGHOST``, ``PGPORT``, ``PGUSER``,
``PGPASSWORD``, ``~/.pgpass``, ``PGSERVICE``): ``.ci/run`` runs the suite inside
``pg_virtualenv -t -o fsync=off``, a throwaway Debian cluster that sets them and is dropped
afterwards. Each test gets a database of its own, created from a template database that
already has ``CREATE EXTENSION postgis`` (fast: a file copy), and dropped after the test.

Every test that uses :func:`postgis_database` (the fixture ``postgis_url``) must carry
``@pytest.mark.postgis`` (checked: an unmarked one fails). When no server answers, psycopg
is missing or PostGIS is not installed, such a test skips with the reason, unless
``GRIDMAP_REQUIRE_POSTGIS=1`` (set by ``.ci/run``): then it fails, so CI cannot pass without
having run them.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Iterator, NoReturn
from urllib.parse import quote

import pytest

REQUIRE_ENV = "GRIDMAP_REQUIRE_POSTGIS"
MARKER = "postgis"
TEMPLATE = "gridmap_test_template"
_state: dict[str, Any] = {}


def required() -> bool:
    """True when ``GRIDMAP_REQUIRE_POSTGIS`` is set to a true value: a missing server fails, not skips."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def unavailable(reason: str) -> NoReturn:
    """Skip the running test for `reason`, or fail it when :func:`required`."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: PostGIS tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def psycopg_or_skip() -> Any:
    """``psycopg`` (3) when installed; skip (or fail) otherwise."""
    try:
        import psycopg
    except ImportError as exc:
        unavailable(f"psycopg 3 is absent ({exc}): pip install 'psycopg[binary]'")
    return psycopg


def admin_connection() -> Any:
    """An autocommit connection to the server's maintenance database, as libpq's environment says."""
    psycopg = psycopg_or_skip()
    try:
        return psycopg.connect(dbname=os.environ.get("PGDATABASE", "postgres"), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable(f"no PostgreSQL server answers ({str(exc).strip().splitlines()[0]}): run the tests inside "
                    "`pg_virtualenv -t -o fsync=off` (Debian's postgresql and postgresql-15-postgis-3)")


def _ensure_template(conn: Any) -> None:
    if _state.get("template"):
        return
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [TEMPLATE]).fetchone()
    if not exists:
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        psycopg = psycopg_or_skip()
        with psycopg.connect(dbname=TEMPLATE, autocommit=True) as tconn:
            try:
                tconn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except psycopg.Error as exc:
                conn.execute(f'DROP DATABASE "{TEMPLATE}"')
                unavailable(f"PostGIS is not installed on the server ({exc}): apt-get install postgresql-15-postgis-3")
    _state["template"] = True


def url_for(dbname: str) -> str:
    """A ``postgresql://`` URL for `dbname` on the environment's server, without a password (libpq finds it)."""
    host = os.environ.get("PGHOST", "localhost")
    port = os.environ.get("PGPORT", "5432")
    user = os.environ.get("PGUSER", "postgres")
    if host.startswith("/"):  # a socket directory: libpq takes it as the host parameter
        return f"postgresql://{quote(user)}@/{dbname}?host={quote(host, safe='')}&port={port}"
    return f"postgresql://{quote(user)}@{host}:{port}/{dbname}"


def postgis_database(item: pytest.Item | None = None) -> Iterator[str]:
    """Create a fresh PostGIS database for one test, yield its URL, drop it afterwards."""
    if item is not None and item.get_closest_marker(MARKER) is None:
        pytest.fail(f"{item.nodeid} uses a PostGIS database but lacks @pytest.mark.{MARKER}", pytrace=False)
    conn = admin_connection()
    try:
        _ensure_template(conn)
        name = f"gridmap_test_{uuid.uuid4().hex[:12]}"
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        try:
            yield url_for(name)
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
