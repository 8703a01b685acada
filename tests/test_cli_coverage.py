"""``gridmap coverage`` end to end on the sample workspace."""

from __future__ import annotations

import json
import math
from html import unescape
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from _stub_cache import PHONE, REMOTE

from gridmap.cli import main
from gridmap.export.privacy import mask_name

Cap = pytest.CaptureFixture[str]
CSV_COLUMNS = ["grid_code", "community_code", "cadre", "area_m2", "covered_m2", "coverage_ratio", "dead_corners"]


@pytest.fixture()
def ws(sample_template: Path) -> Path:
    """The shared sample workspace: these commands only read it."""
    return sample_template


WEEK = ["--from", "2025-03-03", "--to", "2025-03-10"]


def floor_percent(covered: float, area: float) -> str:
    """The overall coverage as a person must read it, computed here from scratch: floor to 0.1 %."""
    return f"{math.floor(1000 * covered / area + 1e-9) / 10:.1f} %"


def test_coverage_writes_every_output(ws: Path, tmp_path: Path, capsys: Cap, stand_in_assets: Path) -> None:
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
    html = out["html"].read_text(encoding="utf-8")
    assert "网格覆盖率" in html
    # the page follows the sharing rules: one offline file, no phone, cadre names masked
    assert REMOTE.search(html) is None and "stand-in for https://cdn.jsdelivr.net/npm/leaflet@1.9.3" in html
    assert PHONE.search(html) is None
    cadres = gpd.read_file(ws, layer="grids")["cadre"]
    assert not any(name in html for name in cadres)
    assert all(mask_name(name) in html for name in cadres)
    inspectors = set(gpd.read_file(ws, layer="tracks", columns=["inspector"], ignore_geometry=True)["inspector"])
    assert inspectors and not [name for name in inspectors if name in html]  # who walked where is not shown
    assert "内部使用：未脱敏" not in html
    # the overall figure: floor(1000 * sum(covered) / sum(area)) / 10, computed here from the per-grid areas
    assert f"coverage of 36 grids: {floor_percent(table['covered_m2'].sum(), table['area_m2'].sum())} of" in text


def test_no_redact_keeps_names_and_marks_the_page(ws: Path, tmp_path: Path, capsys: Cap, stand_in_assets: Path) -> None:
    html = tmp_path / "c.html"
    capsys.readouterr()
    assert main(["coverage", str(ws), *WEEK, "--quiet", "--html", str(html), "--no-redact"]) == 0
    assert "--no-redact" in capsys.readouterr().err
    page = html.read_text(encoding="utf-8")
    cadres = gpd.read_file(ws, layer="grids")["cadre"]
    assert all(name in page for name in cadres) and "内部使用：未脱敏" in page
    assert REMOTE.search(page) is None


def test_online_page_loads_leaflet_from_the_cdn(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    html = tmp_path / "c.html"
    assert main(["coverage", str(ws), *WEEK, "--quiet", "--html", str(html), "--online"]) == 0
    page = html.read_text(encoding="utf-8")
    assert REMOTE.search(page) is not None and PHONE.search(page) is None


def test_offline_page_without_a_cache_stops_before_any_work(ws: Path, tmp_path: Path, capsys: Cap,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDMAP_ASSETS_DIR", str(tmp_path / "empty"))
    html, csv = tmp_path / "c.html", tmp_path / "c.csv"
    capsys.readouterr()
    assert main(["coverage", str(ws), *WEEK, "--quiet", "--html", str(html), "--csv", str(csv)]) == 2
    captured = capsys.readouterr()
    assert "gridmap assets fetch" in captured.err and captured.out == ""
    assert not html.exists() and not csv.exists()


def test_least_covered_grids_are_named_and_coded(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    csv = tmp_path / "c.csv"
    capsys.readouterr()
    assert main(["coverage", str(ws), *WEEK, "--quiet", "--csv", str(csv)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = pd.read_csv(csv, dtype={"grid_code": str}, encoding="utf-8-sig")
    names = dict(zip(*gpd.read_file(ws, layer="grids")[["grid_code", "name"]].T.to_numpy()))
    worst = table.sort_values(["coverage_ratio", "grid_code"]).head(5)
    listed = lines[lines.index("least covered grids:") + 1:]
    assert len(listed) == 6 and listed[5] == f"wrote {csv}"
    for line, row in zip(listed, worst.itertuples()):
        percent = f"{math.floor(1000 * row.covered_m2 / row.area_m2 + 1e-9) / 10:.1f} %"
        assert line.split()[:3] == [names[row.grid_code], f"({row.grid_code})", percent.split()[0]]


def test_overall_coverage_reads_the_same_in_the_cli_and_the_leaders_page(
        ws: Path, tmp_path: Path, capsys: Cap) -> None:
    csv, page = tmp_path / "c.csv", tmp_path / "r.html"
    capsys.readouterr()
    assert main(["coverage", str(ws), *WEEK, "--quiet", "--csv", str(csv)]) == 0
    text = capsys.readouterr().out
    table = pd.read_csv(csv, encoding="utf-8-sig")
    expected = floor_percent(table["covered_m2"].sum(), table["area_m2"].sum())
    assert f"coverage of 36 grids: {expected} of" in text
    assert main(["report", str(ws), "--html", str(page), *WEEK, "--online"]) == 0
    html = unescape(page.read_text(encoding="utf-8"))
    assert f"总覆盖率 {expected}" in html  # the panel's summary line
    assert f"<td>{expected}</td>" in html  # the total row of the community table


def test_empty_window_gives_no_data_not_zero_and_not_a_crash(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    csv, corners, html, png = (tmp_path / name for name in ("c.csv", "dead.geojson", "c.html", "c.png"))
    capsys.readouterr()
    assert main(["coverage", str(ws), "--from", "2030-01-01", "--to", "2030-01-02", "--quiet", "--csv", str(csv),
                 "--dead-corners", str(corners), "--html", str(html), "--online", "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "no GPS fixes" in text and "coverage is unknown (no data)" in text and "--from/--to" in text
    assert "coverage of 36 grids: 无数据 of" in text and "dead corners: 无数据" in text
    assert "0.0 %" not in text and "least covered" not in text
    table = pd.read_csv(csv, encoding="utf-8-sig", dtype={"grid_code": str})
    assert len(table) == 36 and (table["area_m2"] > 0).all()
    for column in ("covered_m2", "uncovered_m2", "coverage_ratio", "dead_corners"):
        assert table[column].isna().all(), column  # empty cells, not 0
    assert json.loads(corners.read_text(encoding="utf-8"))["features"] == []  # no task list from absent data
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html.read_text(encoding="utf-8")
    # each grid's tooltip, and each of the 10 streets' for its coverage
    assert page.count("覆盖率: 无数据") == 36 + 10 and page.count("卫生死角: 无数据") == 36
    n_targets = len(gpd.read_file(ws, layer="targets", ignore_geometry=True))
    assert n_targets and page.count("已巡查: 无数据") == n_targets  # unknown, not "否"
    assert "已巡查: 否" not in page and "卫生死角: 0" not in page
    capsys.readouterr()
    assert main(["coverage", str(ws), "--from", "2030-01-01", "--to", "2030-01-02", "--quiet", "--lang", "en"]) == 0
    text = capsys.readouterr().out
    assert "coverage of 36 grids: no data of" in text and "dead corners: no data" in text


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


@pytest.mark.browser
def test_coverage_page_opens_in_chromium_without_network(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    from _browser import offline_page, real_cache_or_skip

    real_cache_or_skip()  # the real Leaflet from GRIDMAP_ASSETS_DIR, not stand-ins
    html = tmp_path / "c.html"
    assert main(["coverage", str(ws), *WEEK, "--quiet", "--html", str(html)]) == 0
    with offline_page(html, phone=False, viewport=(1000, 700)) as s:
        s.page.wait_for_selector("path.leaflet-interactive", state="attached", timeout=15_000)
        drawn = s.page.evaluate("() => document.querySelectorAll('path.leaflet-interactive').length")
    assert s.attempted == [] and s.errors == []
    assert drawn >= 36  # every grid drawn by Leaflet from inside the file
