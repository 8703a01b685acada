"""Issue 12, "defects found by importing other projects' own test files": each file built the
way the other project's test file was, through ``gridmap import`` into a real workspace, with
read = accepted + duplicates + quarantined wherever an import happens."""

from __future__ import annotations

import json
import sqlite3
import struct
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio.raw
import pytest
from pyproj import Geod

from gridmap.cli import main

Cap = pytest.CaptureFixture[str]
GEOD = Geod(ellps="WGS84")


def _import(capsys: Cap, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["import", *args, "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out.strip()) if code != 2 else {"err": captured.err})


def _rows(ws: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(ws)) as con:
        return con.execute(sql).fetchall()


def _adds_up(s: dict) -> None:
    assert s["read"] == s["accepted"] + s["duplicates"] + s["quarantined"]
    assert sum(s["reasons"].values()) == s["quarantined"]


def _empty_workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "empty.gpkg"
    assert main(["init", str(ws)]) == 0
    return ws


# -- 1. a TIN (MultiPatch) shapefile, like Fiona's test_tin.shp -----------------------------------

TRIANGLES = [
    [(109.730, 38.290), (109.731, 38.290), (109.731, 38.291)],
    [(109.732, 38.290), (109.733, 38.290), (109.733, 38.291)],
]


def _tin_wkb(triangle: list[tuple[float, float]]) -> bytes:
    """ISO WKB of a TIN (type 16) of one Triangle (type 17), written by hand."""
    ring = [*triangle, triangle[0]]
    coords = struct.pack(f"<{2 * len(ring)}d", *[c for xy in ring for c in xy])
    return struct.pack("<BII", 1, 16, 1) + struct.pack("<BIII", 1, 17, 1, len(ring)) + coords


def _tin_shapefile(folder: Path) -> Path:
    path = folder / "test_tin.shp"
    pyogrio.raw.write(
        path, geometry=np.array([_tin_wkb(t) for t in TRIANGLES], dtype=object),
        field_data=[np.array(["610802001901001", "610802001901002"], dtype=object)],
        fields=["grid_code"], geometry_type="Unknown", crs="EPSG:4326",
        driver="ESRI Shapefile")
    return path


def test_tin_shapefile_is_read_not_a_traceback(tmp_path: Path, capsys: Cap) -> None:
    shp = _tin_shapefile(tmp_path)
    # the defect's premise: GDAL hands the features over as WKB type 16, which GEOS cannot parse
    with pytest.raises(Exception, match="Unknown WKB type 16"):
        pyogrio.read_dataframe(shp, use_arrow=True)
    ws = _empty_workspace(tmp_path)
    code, s = _import(capsys, str(ws), "grids", str(shp), "--set", "community_code=610802001901")
    assert code == 0, s
    _adds_up(s)
    assert (s["read"], s["accepted"]) == (2, 2)
    grids = gpd.read_file(ws, layer="grids").to_crs("EPSG:4326").set_index("grid_code")
    for code_, triangle in zip(["610802001901001", "610802001901002"], TRIANGLES):
        lons, lats = zip(*triangle)
        expected = abs(GEOD.polygon_area_perimeter(lons, lats)[0])
        assert abs(GEOD.geometry_area_perimeter(grids.geometry[code_])[0]) == pytest.approx(expected, rel=1e-3)


def test_unforeseen_reader_failure_is_one_line_naming_the_file(tmp_path: Path, capsys: Cap,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    shp = _tin_shapefile(tmp_path)
    ws = _empty_workspace(tmp_path)
    import fiona

    def broken_open(*args: object, **kwargs: object) -> None:
        raise KeyError("something nobody foresaw")

    # the bulk read fails on the TIN; the one-by-one read then meets a failure of a kind no reader names
    monkeypatch.setattr(fiona, "open", broken_open)
    code, s = _import(capsys, str(ws), "grids", str(shp))
    assert code == 2
    assert "Traceback" not in s["err"]
    assert "test_tin.shp cannot be read" in s["err"] and "something nobody foresaw" in s["err"]
    assert "export it again" in s["err"]
    assert _rows(ws, "SELECT count(*) FROM grids")[0][0] == 0
