"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmap.cli import main


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The illustrative sample workspace, made once per test session. Treat it as read-only."""
    path = tmp_path_factory.mktemp("sample-template") / "gulou.gpkg"
    assert main(["init", str(path), "--sample"]) == 0
    return path


@pytest.fixture()
def sample_copy(sample_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the sample workspace for a test that writes to it (WAL is checkpointed on close)."""
    path = tmp_path / "w.gpkg"
    path.write_bytes(sample_template.read_bytes())
    return path
