"""Workspace URLs: what libpq gets, which schema, and that a password never shows."""

from __future__ import annotations

import string
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gridmap.errors import WorkspaceError
from gridmap.storage.url import DEFAULT_SCHEMA, is_database_url, mask_url, parse_workspace_url

PASSWORDS = st.text(alphabet=string.ascii_letters + string.digits + "!$%()*+,-.;=_~", min_size=1, max_size=30)


@given(password=PASSWORDS, user=st.sampled_from(["office_0101", "postgres", "a"]))
@example(password="***", user="a")
@example(password="postgresql", user="postgres")
def test_a_password_in_the_url_never_shows(password: str, user: str) -> None:
    url = f"postgresql://{user}:{quote(password, safe='')}@db.example:5432/city?schema=gulou&password={password}"
    expected = f"postgresql://{user}:***@db.example:5432/city?schema=gulou&password=***"
    loc = parse_workspace_url(url)
    assert loc.masked == str(loc) == expected
    assert repr(loc) == f"WorkspaceURL({expected!r}, schema='gulou')"
    assert mask_url(f"error at {url} (retry)") == f"error at {expected} (retry)"


@given(password=PASSWORDS)
def test_the_masked_url_holds_the_password_nowhere_it_was(password: str) -> None:
    secret = quote(password, safe="")
    url = f"postgresql://u:{secret}@h:1/d"
    assert mask_url(url) == "postgresql://u:***@h:1/d"


def test_schema_is_taken_out_of_what_libpq_gets() -> None:
    loc = parse_workspace_url("postgresql://u@h:5432/city?schema=gulou&sslmode=require")
    assert loc.schema == "gulou"
    assert loc.conninfo == "postgresql://u@h:5432/city?sslmode=require"
    assert parse_workspace_url("postgres://u@h/city").schema == DEFAULT_SCHEMA == "gridmap"
    socket = parse_workspace_url("postgresql://u@/city?host=%2Fvar%2Frun%2Fpostgresql&port=5433")
    assert socket.conninfo == "postgresql://u@/city?host=/var/run/postgresql&port=5433"


@pytest.mark.parametrize("bad", ["Gulou", "1abc", "a-b", "x" * 64, "a;drop"])
def test_an_invalid_schema_is_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(WorkspaceError, match="lower-case letters, digits"):
        parse_workspace_url(f"postgresql://u:pw@h/city?schema={quote(bad)}")


def test_only_postgres_urls_are_database_urls(tmp_path: Path) -> None:
    assert is_database_url("postgresql://u@h/d") and is_database_url("POSTGRES://u@h/d")
    assert not is_database_url(tmp_path / "w.gpkg") and not is_database_url("w.gpkg") and not is_database_url(42)
    with pytest.raises(WorkspaceError, match="not a PostgreSQL workspace URL"):
        parse_workspace_url("w.gpkg")
