"""``gridmap heatmap`` and ``gridmap hotspots`` end to end on the sample workspace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from gridmap.cli import main
from gridmap.hotspot import EMERGING_CATEGORIES

Cap = pytest.CaptureFixture[str]


@pytest.fixture()
def ws(sample_template: Path) -> Path:
    """The shared sample workspace: these commands only read it."""
    return sample_template


def test_heatmap_writes_a_geotiff_in_true_units(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    tif, html, png = tmp_path / "h.tif", tmp_path / "h.html", tmp_path / "h.png"
    capsys.readouterr()
    assert main(["heatmap", str(ws), "--from", "2025-01-01", "--to", "2026-01-01", "--bandwidth", "200",
                 "--cell", "10", "--tif", str(tif), "--html", str(html), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    n = int(out.split(" reports")[0])
    with rasterio.open(tif) as src:
        values = src.read(1).astype(float)
        cell_km2 = abs(src.transform.a * src.transform.e) / 1e6
        assert src.crs.to_epsg() == 4546
    # reports per km², integrating to the number of reports (unit weights)
    assert values.sum() * cell_km2 == pytest.approx(n, rel=5e-3)
    assert "次/平方公里/月" in html.read_text(encoding="utf-8")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_heatmap_filters_by_category_and_recurrence(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    capsys.readouterr()
    assert main(["heatmap", str(ws), "--category", "垃圾乱倒", "--tif", str(tmp_path / "a.tif")]) == 0
    only_dumping = int(capsys.readouterr().out.split(" reports")[0])
    assert main(["heatmap", str(ws), "--recurring-only", "--tif", str(tmp_path / "b.tif")]) == 0
    recurring = int(capsys.readouterr().out.split(" reports")[0])
    assert main(["heatmap", str(ws), "--tif", str(tmp_path / "c.tif")]) == 0
    everything = int(capsys.readouterr().out.split(" reports")[0])
    assert 0 < only_dumping < everything and 0 < recurring < everything


@pytest.mark.parametrize("option", ["--bandwidth", "--cell"])
def test_heatmap_refuses_non_positive_sizes(ws: Path, option: str, capsys: Cap) -> None:
    capsys.readouterr()
    assert main(["heatmap", str(ws), option, "0"]) == 2
    assert option in capsys.readouterr().err


def test_heatmap_unknown_category_lists_the_known_ones(ws: Path, capsys: Cap) -> None:
    capsys.readouterr()
    assert main(["heatmap", str(ws), "--category", "小广告"]) == 2
    assert "垃圾乱倒" in capsys.readouterr().err


@pytest.mark.parametrize("cells", ["grids", "fishnet", "hex"])
def test_hotspots_csv_one_row_per_cell(ws: Path, tmp_path: Path, cells: str, capsys: Cap) -> None:
    csv = tmp_path / "h.csv"
    capsys.readouterr()
    assert main(["hotspots", str(ws), "--cells", cells, "--size", "150", "--csv", str(csv),
                 "--html", str(tmp_path / "h.html")]) == 0
    table = pd.read_csv(csv, encoding="utf-8-sig")
    assert {"count", "gi_z", "gi_p", "gi_bin", "category"} <= set(table.columns)
    assert table["gi_bin"].between(-3, 3).all()
    assert set(table["category"]) <= set(EMERGING_CATEGORIES)
    reports = int(capsys.readouterr().out.split(" reports")[0])
    if cells == "grids":
        assert len(table) == 36 and table["count"].sum() == reports  # the grids tile the subdistrict
    else:
        assert table["count"].sum() == reports
        assert np.isfinite(table["gi_z"]).any()


def test_hotspots_with_one_time_step_explains_instead_of_failing(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    capsys.readouterr()
    assert main(["hotspots", str(ws), "--from", "2025-03-01", "--to", "2025-04-01", "--csv",
                 str(tmp_path / "one.csv")]) == 0
    assert "note: no emerging hot-spot analysis" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["png", "pdf"])
def test_briefing_command_writes_the_page(ws: Path, tmp_path: Path, kind: str, capsys: Cap) -> None:
    out = tmp_path / f"briefing.{kind}"
    capsys.readouterr()
    assert main(["briefing", str(ws), f"--{kind}", str(out), "--from", "2025-03-01", "--to", "2025-04-01"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_bytes()[:4] == (b"\x89PNG" if kind == "png" else b"%PDF")


def test_briefing_needs_exactly_one_output(ws: Path, capsys: Cap) -> None:
    capsys.readouterr()
    assert main(["briefing", str(ws)]) == 2
    captured = capsys.readouterr()
    assert "one of the arguments --png --pdf is required" in captured.err and captured.out == ""
