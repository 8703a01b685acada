"""Helpers shared by the import tests: run ``gridmap import --json``, read the workspace, check the accounting."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from gridmap.cli import main


def run_import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    """``gridmap import ARGS --json``: the exit status and its summary (``{"err": stderr}`` on exit 2)."""
    capsys.readouterr()
    code = main(["import", *args, "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out.strip()) if code != 2 else {"err": captured.err})


def rows(ws: Path, sql: str) -> list[tuple]:
    """The rows of one SQL query on the workspace file."""
    with closing(sqlite3.connect(ws)) as con:
        return con.execute(sql).fetchall()


def adds_up(summary: dict) -> None:
    """Nothing lost: read = accepted + duplicates + quarantined, and the reasons count every quarantined row."""
    assert summary["read"] == summary["accepted"] + summary["duplicates"] + summary["quarantined"]
    assert sum(summary["reasons"].values()) == summary["quarantined"]


def downgrade_to_schema_3(path: Path) -> None:
    """Make the GeoPackage at `path` what schema 3 wrote: without the indexes on ``substr(code, 1, 9)`` (every
    index on an expression with ``substr``), version 3."""
    from gridmap.storage import META_TABLE

    with closing(sqlite3.connect(path)) as con:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%substr(%'"
                                   ).fetchall():
            con.execute(f'DROP INDEX "{name}"')
        con.execute(f"UPDATE {META_TABLE} SET value = '3' WHERE key = 'schema_version'")
        con.commit()


def downgrade_to_schema_2(path: Path) -> None:
    """Make the workspace at `path` what schema 2 wrote: no ``extra`` columns, no column-alias table, no import
    options nor quarantine links, version 2 (what :func:`gridmap.open_workspace` must migrate)."""
    from gridmap.model import LAYERS
    from gridmap.storage import ALIASES_TABLE, META_TABLE

    downgrade_to_schema_3(path)
    with closing(sqlite3.connect(path)) as con:
        for name in LAYERS:
            con.execute(f'ALTER TABLE "{name}" DROP COLUMN extra')
        con.execute("ALTER TABLE gridmap_imports DROP COLUMN options")
        con.execute("ALTER TABLE quarantine DROP COLUMN import_fid")
        con.execute(f"DROP TABLE {ALIASES_TABLE}")
        con.execute("DELETE FROM gpkg_contents WHERE table_name = ?", (ALIASES_TABLE,))
        con.execute("DELETE FROM gpkg_ogr_contents WHERE table_name = ?", (ALIASES_TABLE,))
        con.execute(f"UPDATE {META_TABLE} SET value = '2' WHERE key = 'schema_version'")
        con.commit()
