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
