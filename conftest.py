"""Collection rules for the whole repository (doctests of gridmap/ and tests/)."""

from __future__ import annotations

from pathlib import Path

SHIM_MARK = '"""Deprecated shim:'


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """Skip the deprecated shims (old import paths) when collecting doctests: importing one warns by design."""
    if collection_path.suffix == ".py" and "gridmap" in collection_path.parts:
        with collection_path.open(encoding="utf-8") as f:
            if f.read(len(SHIM_MARK)) == SHIM_MARK:
                return True
    return None
