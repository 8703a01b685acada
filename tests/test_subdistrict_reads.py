"""One subdistrict of a workspace holding many offices: ``--subdistrict CODE`` (and ``subdistrict=``) reads only its
rows, through the store's SQL, and every answer is the one of a workspace holding that subdistrict alone.

The workspace of two offices is the illustrative sample (subdistrict 610802001) plus a second office made from it:
every layer moved 0.05° east (about 4.4 km, clear of the first), its codes under 610802002 and its ids, names and
inspectors prefixed. The independent answer is the sample's own workspace, which never held the second office.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest

import _postgis
import gridmap
from gridmap.cli import main
from gridmap.errors import SchemaError
from gridmap.model import LAYERS
from gridmap.storage.copy import copy_workspace

FIRST, SECOND = "610802001", "610802002"
CODES = ("code", "community_code", "grid_code", "area_code")
IDS = ("report_id", "target_id", "zone_id", "street_name", "inspector")


def second_office(layer: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of `frame` as the second office's: moved east, codes under SECOND, ids and names prefixed."""
    out = frame.copy()
    if isinstance(out, gpd.GeoDataFrame):
        out = out.set_geometry(out.geometry.translate(xoff=0.05))
    for column in CODES:
        if column in out:
            out[column] = out[column].map(lambda c: SECOND + c[9:] if isinstance(c, str) else c)
    for column in IDS:
        if column in out:
            out[column] = "B" + out[column].astype(str)
    if layer in ("subdistrict", "wall"):
        out["name"] = out["name"] + "二"
    return out


@pytest.fixture(scope="module")
def offices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("offices")
    alone, both = folder / "alone.gpkg", folder / "both.gpkg"
    gridmap.init_workspace(alone, sample=True).close()
    copy_workspace(alone, both)
    with gridmap.open_workspace(alone) as src, gridmap.open_workspace(both) as dst:
        for layer in LAYERS:
            frame = src.read_layer(layer)
            if len(frame):
                summary = dst.append(layer, second_office(layer, frame), source=f"second office {layer}")
                assert summary.accepted == len(frame)
    return {"alone": alone, "both": both}


@pytest.fixture(scope="module")
def pg_both(offices: dict[str, Path]) -> Iterator[str]:
    """The two offices copied into a PostGIS database of this module (used only by the tests marked postgis)."""
    for url in _postgis.postgis_database(None):
        copy_workspace(offices["both"], url)
        yield url


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def both(request: pytest.FixtureRequest, offices: dict[str, Path]) -> Any:
    return offices["both"] if request.param == "gpkg" else request.getfixturevalue("pg_both")


WEEK = ["--from", "2025-03-03", "--to", "2025-03-10"]


@pytest.mark.parametrize("command, files", [
    ("scoreboard", ["--csv", "t.csv", "--by", "grid"]),
    ("coverage", ["--csv", "t.csv", "--dead-corners", "t.geojson", "--quiet"]),
    ("heatmap", ["--tif", "t.tif"]),
    ("hotspots", ["--csv", "t.csv", "--interval", "week"]),
    ("briefing", ["--png", "t.png", "--lang", "en"]),
    ("report", ["--html", "t.html", "--online", "--lang", "en"]),
    ("spotcheck", ["--n", "12", "--seed", "2025", "--csv", "t.csv", "--html", "t.html", "--online"]),
])
def test_one_subdistrict_of_two_answers_as_that_subdistrict_alone(
        offices: dict[str, Path], both: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str,
        files: list[str]) -> None:
    outputs = []
    for where, extra in ((offices["alone"], []), (both, ["--subdistrict", FIRST])):
        out = tmp_path / ("alone" if extra == [] else "one")
        out.mkdir()
        args = [str(out / a) if a.startswith("t.") else a for a in files]
        assert main([command, str(where), *WEEK, *args, *extra]) == 0
        printed = capsys.readouterr().out.replace(str(out), "OUT")
        # coverage says how many fixes it read: with --subdistrict, those near its grids (the other office's too)
        printed = re.sub(r"\(radius 30 m; \d+ of \d+ fixes used, \d+ outside every grid\)", "(FIXES)", printed)
        outputs.append((printed, {p.name: p.read_bytes() for p in out.iterdir()}))
    assert outputs[0][1] and outputs[0] == outputs[1]


def test_the_whole_workspace_of_two_offices_is_not_the_first_alone(offices: dict[str, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Without --subdistrict both offices count (so the test above could fail)."""
    boards = []
    for where in (offices["alone"], offices["both"]):
        assert main(["scoreboard", str(where), *WEEK, "--by", "grid", "--csv", str(tmp_path / "b.csv")]) == 0
        boards.append(pd.read_csv(tmp_path / "b.csv", encoding="utf-8-sig", dtype=str))
    capsys.readouterr()
    assert len(boards[1]) == 2 * len(boards[0])


def test_each_office_reads_only_its_rows(offices: dict[str, Path]) -> None:
    with gridmap.open_workspace(offices["both"]) as ws:
        for code in (FIRST, SECOND):
            grids = ws.read_window("grids", subdistrict=code)
            reports = ws.read_window("reports", subdistrict=code)
            assert len(grids) == 36 and grids["grid_code"].str.startswith(code).all()
            assert len(reports) == 2000 and reports["grid_code"].str[:9].eq(code).all()


def test_a_library_call_takes_subdistrict_too(offices: dict[str, Path], tmp_path: Path) -> None:
    alone = gridmap.briefing(offices["alone"], tmp_path / "a.png", lang="en", start="2025-03-03", end="2025-03-10")
    one = gridmap.briefing(offices["both"], tmp_path / "b.png", lang="en", start="2025-03-03", end="2025-03-10",
                           subdistrict=FIRST)
    assert alone.read_bytes() == one.read_bytes()


def test_subdistrict_of_a_dict_of_layers_is_refused(tmp_path: Path) -> None:
    layers = gridmap.sample_layers(n_reports=100, track_days=1)
    with pytest.raises(SchemaError, match="dict of layers"):
        gridmap.briefing(layers, tmp_path / "x.png", subdistrict=FIRST)


@pytest.mark.parametrize("code", ["6108", "61080200１", "all"])
def test_a_malformed_code_is_one_line_naming_the_format(offices: dict[str, Path], code: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scoreboard", str(offices["both"]), *WEEK, "--subdistrict", code]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "610802001" in err and err.count("\n") == 1
