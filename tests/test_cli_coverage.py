"""``gridmap coverage`` end to end on the sample workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gridmap.cli import main

Cap = pytest.CaptureFixture[str]
CSV_COLUMNS = ["grid_code", "community_code", "cadre", "area_m2", "covered_m2", "coverage_ratio", "dead_corners"]


@pytest.fixture()
def ws(sample_template: Path) -> Path:
    """The shared sample workspace: these commands only read it."""
    return sample_template


def test_coverage_writes_every_output(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    out = {k: tmp_path / f"coverage.{k}" for k in ("csv", "html", "png")}
    corners = tmp_path / "dead.geojson"
    capsys.readouterr()
    code = main(["coverage", str(ws), "--from", "2025-03-03", "--to", "2025-03-10", "--quiet",
                 "--csv", str(out["csv"]), "--html", str(out["html"]), "--png", str(out["png"]),
                 "--dead-corners", str(corners)])
    assert code == 0
    text = capsys.readouterr().out
    assert "coverage of 36 grids" in text and "least covered grids" in text
    table = pd.read_csv(out["csv"], dtype={"grid_code": str, "community_code": str}, encoding="utf-8-sig")
    assert set(CSV_COLUMNS) <= set(table.columns)
    assert len(table) == 36 and table["grid_code"].str.len().eq(15).all()
    assert table["coverage_ratio"].between(0, 1).all()
    assert (table["covered_m2"] <= table["area_m2"] * (1 + 1e-9)).all()
    # the sample leaves some corners unvisited on purpose
    assert table["dead_corners"].sum() > 0 and table["coverage_ratio"].min() < 1
    geo = json.loads(corners.read_text(encoding="utf-8"))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == table["dead_corners"].sum()
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "网格覆盖率" in out["html"].read_text(encoding="utf-8")


def test_empty_window_gives_zero_coverage_not_a_crash(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    csv = tmp_path / "c.csv"
    capsys.readouterr()
    assert main(["coverage", str(ws), "--from", "2030-01-01", "--to", "2030-01-02", "--quiet", "--csv", str(csv)]) == 0
    assert "no GPS fixes" in capsys.readouterr().out
    table = pd.read_csv(csv, encoding="utf-8-sig")
    assert (table["coverage_ratio"] == 0).all() and (table["covered_m2"] == 0).all()


@pytest.mark.parametrize("radius", ["0", "-5"])
def test_radius_must_be_positive(ws: Path, radius: str, capsys: Cap) -> None:
    capsys.readouterr()
    assert main(["coverage", str(ws), "--radius", radius, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "radius" in err and "Traceback" not in err


def test_coverage_of_a_workspace_without_grids_is_a_clear_error(tmp_path: Path, capsys: Cap) -> None:
    empty = tmp_path / "e.gpkg"
    main(["init", str(empty)])
    capsys.readouterr()
    assert main(["coverage", str(empty), "--quiet"]) == 2
    assert "no grids" in capsys.readouterr().err
