"""Same answers from PostGIS: every analysis of the illustrative sample computed from a PostGIS workspace equals
the one computed from the GeoPackage it was copied from (issue 14, "Same answers").

The sample is built once as a GeoPackage (``gridmap.init_workspace(path, sample=True)``) and copied once into a
PostGIS database of this module (``gridmap.copy_workspace``, what ``gridmap copy`` runs); each test runs one analysis
with the same parameters on both workspaces and compares the results: frames with pandas/geopandas' testing
functions (exact, dtypes included), rasters with numpy (exact), pages and briefings byte for byte.

What is normalised, and why: nothing in the frames, the leaders' page or the PNG briefing; in the commands'
printed summaries, the folder the test writes their files to (it differs by test design). The page states when the
data were last imported (the copied import log), not when it was generated, and names no workspace location, so the
two files are identical. The PDF briefing carries its generation time (``/CreationDate``, written by matplotlib's
PDF backend when the file is saved), which legitimately differs between two runs: that one field is removed
before comparing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

import _postgis
import gridmap
from gridmap.cli import main
from gridmap.storage.copy import copy_workspace

pytestmark = pytest.mark.postgis

#: The sample's week of GPS tracks (coverage, scoreboard, spot check, pages).
WEEK = {"start": "2025-03-03", "end": "2025-03-10"}
#: A quarter of reports, for the heat map, the hot spots and the recurrences.
QUARTER = {"start": "2025-01-01", "end": "2025-04-01"}
#: A fixed present for the scoreboard's cut-off.
NOW = pd.Timestamp("2026-01-01", tz="Asia/Shanghai")


@pytest.fixture(scope="module")
def workspaces(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The sample as a GeoPackage and its copy in a PostGIS database of this module (dropped afterwards)."""
    gpkg = tmp_path_factory.mktemp("same-answers") / "gulou.gpkg"
    gridmap.init_workspace(gpkg, sample=True).close()
    for url in _postgis.postgis_database(request.node):
        copy_workspace(gpkg, url)
        yield {"gpkg": gpkg, "postgis": url}


def on_both(workspaces: dict[str, Any], fn: Callable[[Any], Any]) -> tuple[Any, Any]:
    """`fn` of the open GeoPackage workspace, and of the open PostGIS one."""
    out = []
    for key in ("gpkg", "postgis"):
        with gridmap.open_workspace(workspaces[key]) as ws:
            out.append(fn(ws))
    return out[0], out[1]


def period_reports(ws: Any, period: dict[str, str]) -> Any:
    return gridmap.select_reports(ws.read_layer("reports"), **period)


def test_the_copy_holds_the_same_rows(workspaces: dict[str, Any]) -> None:
    gpkg, pg = on_both(workspaces, lambda ws: ws.counts())
    assert gpkg == pg
    assert gpkg["reports"] == 2000 and gpkg["tracks"] > 0  # the comparisons below are not of empty layers


def test_coverage_is_the_same(workspaces: dict[str, Any]) -> None:
    def cover(ws: Any) -> Any:
        return gridmap.sweep_coverage(ws.read_layer("grids"), ws.read_layer("tracks"),
                                      targets=ws.read_layer("targets"), **WEEK)

    a, b = on_both(workspaces, cover)
    assert a.stats["fixes_used"] > 0
    assert a.stats == b.stats
    assert_geodataframe_equal(a.grids, b.grids, check_less_precise=False)
    assert_geodataframe_equal(a.dead_corners, b.dead_corners)
    assert_geodataframe_equal(a.targets, b.targets)
    pd.testing.assert_frame_equal(a.by_community, b.by_community)
    pd.testing.assert_frame_equal(a.by_cadre, b.by_cadre)
    assert gridmap.overall_coverage(a) == gridmap.overall_coverage(b)


def test_heat_map_is_the_same(workspaces: dict[str, Any]) -> None:
    def heat(ws: Any) -> Any:
        return gridmap.kde(period_reports(ws, QUARTER), bounds=ws.read_layer("grids"))

    a, b = on_both(workspaces, heat)
    assert a.n_points > 100
    np.testing.assert_array_equal(a.values, b.values)
    assert (a.transform, a.crs, a.bandwidth_m, a.cell_m, a.total, a.bounds, a.n_points, a.skipped) == \
        (b.transform, b.crs, b.bandwidth_m, b.cell_m, b.total, b.bounds, b.n_points, b.skipped)


def test_hot_spots_and_emerging_hot_spots_are_the_same(workspaces: dict[str, Any]) -> None:
    def hot(ws: Any) -> tuple[Any, Any]:
        reports, grids = period_reports(ws, QUARTER), ws.read_layer("grids")
        return (gridmap.hotspots(reports, grids),
                gridmap.emerging_hotspots(reports, grids, interval="week", **QUARTER))

    (hot_a, emerging_a), (hot_b, emerging_b) = on_both(workspaces, hot)
    assert hot_a["count"].sum() > 100
    assert_geodataframe_equal(hot_a, hot_b)
    assert_geodataframe_equal(emerging_a, emerging_b)


def test_recurrences_and_recurring_sites_are_the_same(workspaces: dict[str, Any]) -> None:
    def recur(ws: Any) -> tuple[Any, Any]:
        reports, fixes = period_reports(ws, QUARTER), ws.read_layer("rectifications")
        return (gridmap.recurrences(reports, rectifications=fixes),
                gridmap.recurring_sites(reports, rectifications=fixes, grids=ws.read_layer("grids")))

    (pairs_a, sites_a), (pairs_b, sites_b) = on_both(workspaces, recur)
    assert len(pairs_a) > 0 and len(sites_a) > 0
    pd.testing.assert_frame_equal(pd.DataFrame(pairs_a), pd.DataFrame(pairs_b))
    assert_geodataframe_equal(sites_a, sites_b)


@pytest.mark.parametrize("by", ["community", "grid"])
def test_scoreboard_and_weekly_figures_are_the_same(workspaces: dict[str, Any], by: str) -> None:
    boards = [gridmap.scoreboard(workspaces[key], by=by, lang="en", now=NOW, **WEEK) for key in ("gpkg", "postgis")]
    assert int(boards[0]["reports"].sum()) > 0
    pd.testing.assert_frame_equal(boards[0], boards[1])
    assert boards[0].attrs == boards[1].attrs
    weekly = [gridmap.weekly_figures(workspaces[key], end=WEEK["end"], weeks=3, by=by, now=NOW)
              for key in ("gpkg", "postgis")]
    pd.testing.assert_frame_equal(weekly[0], weekly[1])


def test_spot_check_is_the_same(workspaces: dict[str, Any], tmp_path: Path) -> None:
    checks = [gridmap.spot_check(workspaces[key], n=12, seed=2025, **WEEK) for key in ("gpkg", "postgis")]
    a, b = checks
    assert len(a.checklist) == 12
    pd.testing.assert_frame_equal(pd.DataFrame(a.checklist), pd.DataFrame(b.checklist))
    pd.testing.assert_frame_equal(a.strata, b.strata)
    assert_geodataframe_equal(a.grids, b.grids)
    assert (a.seed, a.start, a.end, a.by, a.illustrative) == (b.seed, b.start, b.end, b.by, b.illustrative)
    assert a.to_csv(tmp_path / "a.csv").read_bytes() == b.to_csv(tmp_path / "b.csv").read_bytes()


def test_leaders_page_is_the_same(workspaces: dict[str, Any], tmp_path: Path) -> None:
    pages = []
    for key in ("gpkg", "postgis"):
        out = tmp_path / f"{key}.html"
        assert main(["report", str(workspaces[key]), "--html", str(out), "--online", "--lang", "en",
                     "--from", WEEK["start"], "--to", WEEK["end"]]) == 0
        pages.append(out.read_bytes())
    assert len(pages[0]) > 100_000
    assert pages[0] == pages[1]


def test_png_briefing_is_the_same(workspaces: dict[str, Any], tmp_path: Path) -> None:
    pngs = [gridmap.briefing(workspaces[key], tmp_path / f"{key}.png", lang="en", **WEEK).read_bytes()
            for key in ("gpkg", "postgis")]
    assert pngs[0][:4] == b"\x89PNG"
    assert pngs[0] == pngs[1]


def without_creation_date(pdf: bytes) -> bytes:
    """The PDF without its generation time (the one field two runs legitimately differ in)."""
    out, n = re.subn(rb"/CreationDate \(D:[0-9+\-Z']+\)", b"/CreationDate ()", pdf)
    assert n == 1
    return out


def test_pdf_briefing_is_the_same_but_for_its_creation_time(workspaces: dict[str, Any], tmp_path: Path) -> None:
    pdfs = []
    for key in ("gpkg", "postgis"):
        out = tmp_path / f"{key}.pdf"
        assert main(["briefing", str(workspaces[key]), "--pdf", str(out), "--from", WEEK["start"],
                     "--to", WEEK["end"]]) == 0
        pdfs.append(out.read_bytes())
    assert pdfs[0].startswith(b"%PDF")
    assert without_creation_date(pdfs[0]) == without_creation_date(pdfs[1])


@pytest.mark.parametrize("command, files", [
    ("coverage", ["--csv", "t.csv", "--quiet"]),
    ("heatmap", ["--tif", "t.tif"]),
    ("hotspots", ["--csv", "t.csv", "--interval", "week"]),
    ("scoreboard", ["--csv", "t.csv", "--by", "grid"]),
    ("spotcheck", ["--csv", "t.csv", "--n", "12", "--seed", "2025"]),
])
def test_commands_print_and_write_the_same(workspaces: dict[str, Any], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], command: str,
                                           files: list[str]) -> None:
    """The CLI's summaries and files (stdout with the output folder written as OUT: the one path that differs)."""
    outputs = []
    for key in ("gpkg", "postgis"):
        out = tmp_path / key
        out.mkdir()
        args = [str(out / a) if a.startswith("t.") else a for a in files]
        assert main([command, str(workspaces[key]), "--from", WEEK["start"], "--to", WEEK["end"], *args]) == 0
        printed = capsys.readouterr().out.replace(str(out), "OUT")
        outputs.append((printed, {p.name: p.read_bytes() for p in out.iterdir()}))
    assert outputs[0][1] and outputs[0][0].count("\n") >= 2
    assert outputs[0] == outputs[1]
