"""``gridmap heatmap`` and ``gridmap hotspots`` end to end on the sample workspace."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from _stub_cache import PHONE, REMOTE

from gridmap.cli import main
from gridmap.analysis.hotspot import EMERGING_CATEGORIES

Cap = pytest.CaptureFixture[str]


@pytest.fixture()
def ws(sample_template: Path) -> Path:
    """The shared sample workspace: these commands only read it."""
    return sample_template


def assert_shareable(page: Path, ws: Path) -> str:
    """One offline file, no phone-shaped number, no cadre named in full."""
    html = page.read_text(encoding="utf-8")
    assert REMOTE.search(html) is None and "stand-in for https://cdn.jsdelivr.net/npm/leaflet@1.9.3" in html
    assert PHONE.search(html) is None
    assert not any(name in html for name in gpd.read_file(ws, layer="grids")["cadre"])
    return html


def test_heatmap_writes_a_geotiff_in_true_units(ws: Path, tmp_path: Path, capsys: Cap, stand_in_assets: Path) -> None:
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
    page = assert_shareable(html, ws)
    assert "次/平方公里/月" in page
    assert "问题报告密度热力图" in page and "问题反弹热力图" not in page  # every report: no rebound title
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert re.search(r"; [1-9]\d* recurring sites$", out.splitlines()[0])


def test_heatmap_without_rectifications_says_no_data_not_zero(sample_copy: Path, tmp_path: Path, capsys: Cap,
                                                              stand_in_assets: Path) -> None:
    with closing(sqlite3.connect(sample_copy)) as con:
        con.execute("DELETE FROM rectifications")
        con.commit()
    capsys.readouterr()
    assert main(["heatmap", str(sample_copy), "--recurring-only", "--tif", str(tmp_path / "r.tif")]) == 2
    captured = capsys.readouterr()
    assert "--recurring-only needs rectifications" in captured.err and "no data, not zero" in captured.err
    assert not (tmp_path / "r.tif").exists()
    html = tmp_path / "h.html"
    assert main(["heatmap", str(sample_copy), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("recurring sites: no data (no rectifications, so no rebound can be found)")
    assert "0 recurring sites" not in out
    page = html.read_text(encoding="utf-8")
    assert "反弹" not in page and json.dumps("反弹点位")[1:-1] not in page


def test_heatmap_recurring_only_has_the_rebound_title(ws: Path, tmp_path: Path, capsys: Cap,
                                                      stand_in_assets: Path) -> None:
    html = tmp_path / "h.html"
    assert main(["heatmap", str(ws), "--recurring-only", "--html", str(html)]) == 0
    page = assert_shareable(html, ws)
    assert "问题反弹热力图" in page and json.dumps("反弹点位")[1:-1] in page


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
def test_hotspots_csv_one_row_per_cell(ws: Path, tmp_path: Path, cells: str, capsys: Cap,
                                       stand_in_assets: Path) -> None:
    csv = tmp_path / "h.csv"
    capsys.readouterr()
    assert main(["hotspots", str(ws), "--cells", cells, "--size", "150", "--csv", str(csv),
                 "--html", str(tmp_path / "h.html")]) == 0
    assert_shareable(tmp_path / "h.html", ws)
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
