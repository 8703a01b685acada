"""Issue 12, "defects found by importing other projects' own test files": each file built the
way the other project's test file was, through ``gridmap import`` into a real workspace, with
read = accepted + duplicates + quarantined wherever an import happens."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio.raw
import pytest
from pyproj import Geod

from gridmap.cli import main

from _imports import adds_up as _adds_up, rows as _rows, run_import as _import

Cap = pytest.CaptureFixture[str]
GEOD = Geod(ellps="WGS84")


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


@pytest.mark.parametrize("name", ["ledger.xlsx", "walk.gpx", "photo.jpg"])
def test_every_reader_failure_nobody_foresaw_is_a_message(tmp_path: Path, capsys: Cap, name: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard sits where the reader is chosen, so the Excel, GPX and photo readers are covered too."""
    import gridmap.io.dispatch as dispatch

    path = tmp_path / name
    path.write_bytes(b"anything")
    ws = _empty_workspace(tmp_path)

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("deep inside a library")

    monkeypatch.setattr(dispatch, "_read_any", broken)
    code, s = _import(capsys, str(ws), "reports" if name != "walk.gpx" else "tracks", str(path), "--coords", "wgs84")
    assert code == 2 and "Traceback" not in s["err"]
    assert f"{name} cannot be read (KeyError" in s["err"] and "export it again" in s["err"]
    assert _rows(ws, "SELECT count(*) FROM reports")[0][0] == 0


# -- 2. '!' in a path ------------------------------------------------------------------------------

def _points_geojson(path: Path, names: list[str], lon0: float) -> None:
    feats = [{"type": "Feature", "properties": {"report_id": n, "reported_at": "2025-03-01 08:00",
                                                "category": "垃圾乱倒"},
              "geometry": {"type": "Point", "coordinates": [lon0 + i / 1000, 38.29]}}
             for i, n in enumerate(names)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False),
                    encoding="utf-8")


def test_bang_in_path_reads_the_file_named_not_one_in_the_cwd(
    tmp_path: Path, capsys: Cap, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _empty_workspace(tmp_path)
    (tmp_path / "sub").mkdir()
    real = tmp_path / "sub" / "!test.geojson"
    _points_geojson(real, ["REAL-1", "REAL-2", "REAL-3"], 109.73)
    _points_geojson(tmp_path / "test.geojson", ["DECOY-1"], 109.75)  # what GDAL read instead
    monkeypatch.chdir(tmp_path)
    code, s = _import(capsys, str(ws), "reports", "sub/!test.geojson", "--coords", "wgs84")
    assert code == 0, s
    _adds_up(s)
    assert (s["read"], s["accepted"]) == (3, 3)
    ids = sorted(r[0] for r in _rows(ws, "SELECT report_id FROM reports"))
    assert ids == ["REAL-1", "REAL-2", "REAL-3"]
    digest = hashlib.sha256(real.read_bytes()).hexdigest()[:16]
    assert _rows(ws, "SELECT source_digest FROM gridmap_imports") == [(digest,)]


def test_bang_in_shapefile_path_reads_its_own_parts(tmp_path: Path, capsys: Cap,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _empty_workspace(tmp_path)
    (tmp_path / "a!b").mkdir()
    square = "POLYGON ((109.73 38.29, 109.731 38.29, 109.731 38.291, 109.73 38.291, 109.73 38.29))"
    frame = gpd.GeoDataFrame({"grid_code": ["610802001901001"]}, geometry=gpd.GeoSeries.from_wkt([square]),
                             crs="EPSG:4326")
    shp = tmp_path / "a!b" / "x!grids.shp"
    pyogrio.write_dataframe(frame, tmp_path / "plain.shp")
    for part in tmp_path.glob("plain.*"):
        part.rename(shp.with_suffix(part.suffix))
    decoy = frame.assign(grid_code="610802001901999")
    pyogrio.write_dataframe(decoy, tmp_path / "grids.shp")  # what 'a!b/x!grids.shp' meant to GDAL
    monkeypatch.chdir(tmp_path)
    code, s = _import(capsys, str(ws), "grids", "a!b/x!grids.shp", "--set", "community_code=610802001901")
    assert code == 0, s
    _adds_up(s)
    assert (s["read"], s["accepted"]) == (1, 1)
    assert _rows(ws, "SELECT grid_code FROM grids") == [("610802001901001",)]


def test_init_with_bang_in_name_creates_that_file_and_opens(tmp_path: Path, capsys: Cap,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "w/a!b.gpkg"]) == 0
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert made == ["w", "w/a!b.gpkg"]  # no stray b.gpkg, no leftover journal
    _points_geojson(tmp_path / "r.geojson", ["R1", "R2"], 109.73)
    code, s = _import(capsys, "w/a!b.gpkg", "reports", "r.geojson", "--coords", "wgs84")
    assert code == 0, s
    _adds_up(s)
    assert s["accepted"] == 2
    with closing(sqlite3.connect(tmp_path / "w" / "a!b.gpkg")) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
    assert {"reports", "grids", "tracks"} <= tables


# -- 3. a shapefile without its .shx ---------------------------------------------------------------

def _grid_squares(n: int) -> gpd.GeoDataFrame:
    squares = [f"POLYGON (({109.73 + i / 100} 38.29, {109.731 + i / 100} 38.29, {109.731 + i / 100} 38.291, "
               f"{109.73 + i / 100} 38.291, {109.73 + i / 100} 38.29))" for i in range(n)]
    return gpd.GeoDataFrame({"grid_code": [f"6108020019010{i:02d}" for i in range(n)]},
                            geometry=gpd.GeoSeries.from_wkt(squares), crs="EPSG:4326")


def test_missing_shx_is_rebuilt_in_a_copy_and_said(tmp_path: Path, capsys: Cap,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    ws = _empty_workspace(tmp_path)
    frame = _grid_squares(3)
    folder = tmp_path / "from_usb"
    folder.mkdir()
    pyogrio.write_dataframe(frame, folder / "grids.shp")
    (folder / "grids.shx").unlink()
    before = sorted(p.name for p in folder.iterdir())
    with caplog.at_level("WARNING", logger="gridmap"):
        code, s = _import(capsys, str(ws), "grids", str(folder / "grids.shp"), "--set", "community_code=610802001901")
    assert code == 0, s
    _adds_up(s)
    assert (s["read"], s["accepted"]) == (3, 3)
    stored = gpd.read_file(ws, layer="grids").to_crs("EPSG:4326").set_index("grid_code").sort_index()
    assert stored.index.tolist() == frame["grid_code"].tolist()
    for code_, square in zip(frame["grid_code"], frame.geometry):
        assert stored.geometry[code_].hausdorff_distance(square) < 1e-7  # about 1 cm
    assert any("grids.shx is missing" in r.getMessage() and "rebuilt" in r.getMessage() for r in caplog.records)
    assert sorted(p.name for p in folder.iterdir()) == before  # the user's folder is left as it was


def test_missing_shx_of_a_damaged_shp_says_which_file_to_copy(tmp_path: Path, capsys: Cap) -> None:
    ws = _empty_workspace(tmp_path)
    pyogrio.write_dataframe(_grid_squares(1), tmp_path / "grids.shp")
    (tmp_path / "grids.shx").unlink()
    (tmp_path / "grids.shp").write_bytes(b"\0" * 50)  # not even a whole header
    code, s = _import(capsys, str(ws), "grids", str(tmp_path / "grids.shp"))
    assert code == 2
    assert "Traceback" not in s["err"] and "flags=" not in s["err"]
    assert "grids.shx is missing" in s["err"] and "copy grids.shx" in s["err"]


# -- 4. Google-style KML: an empty Point beside a gx:MultiTrack -------------------------------------

GX_NS = "http://www.google.com/kml/ext/2.2"
FIXES = [("2025-03-03T00:30:00Z", 109.7301, 38.2901), ("2025-03-03T00:30:10Z", 109.7302, 38.2902),
         ("2025-03-03T00:30:20Z", 109.7303, 38.2903), ("2025-03-03T00:30:30Z", 109.7304, 38.2904)]


def _google_track_kml(path: Path) -> Path:
    """As Google Earth and My Tracks write it: the Placemark's first geometry is an empty Point."""
    def track(fixes: list[tuple[str, float, float]]) -> str:
        return ("<gx:Track>" + "".join(f"<when>{t}</when>" for t, _, _ in fixes)
                + "".join(f"<gx:coord>{x} {y} 1050.5</gx:coord>" for _, x, y in fixes) + "</gx:Track>")

    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="{GX_NS}">'
        "<Document><Placemark><name>早班巡查</name><Point><coordinates></coordinates></Point>"
        f"<gx:MultiTrack><altitudeMode>absolute</altitudeMode>{track(FIXES[:2])}{track(FIXES[2:])}</gx:MultiTrack>"
        "</Placemark></Document></kml>", encoding="utf-8")
    return path


def test_google_kml_track_beside_an_empty_point_keeps_every_fix(tmp_path: Path, capsys: Cap) -> None:
    ws = _empty_workspace(tmp_path)
    kml = _google_track_kml(tmp_path / "mytracks.kml")
    code, s = _import(capsys, str(ws), "tracks", str(kml), "--inspector", "巡查员甲")
    assert code == 0, s
    _adds_up(s)
    assert (s["read"], s["accepted"], s["quarantined"]) == (4, 4, 0)
    stored = gpd.read_file(ws, layer="tracks").to_crs("EPSG:4326").sort_values("time")
    expected_times = [pd.Timestamp(t) for t, _, _ in FIXES]
    assert [pd.Timestamp(t).tz_convert("UTC") for t in stored["time"]] == expected_times
    for geom, (_, lon, lat) in zip(stored.geometry, FIXES):
        assert GEOD.inv(geom.x, geom.y, lon, lat)[2] < 0.01  # metres
    assert set(stored["track_id"]) == {"早班巡查"}


def test_placemark_with_a_point_and_a_polygon_keeps_both(tmp_path: Path) -> None:
    from gridmap.io.kml import read_kml

    kml = tmp_path / "both.kml"
    kml.write_text(
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>垃圾点</name>'
        "<Point><coordinates>109.73,38.29</coordinates></Point><Polygon><outerBoundaryIs><LinearRing><coordinates>"
        "109.72,38.28 109.74,38.28 109.74,38.30 109.72,38.28</coordinates></LinearRing></outerBoundaryIs></Polygon>"
        "</Placemark></Document></kml>", encoding="utf-8")
    res = read_kml(kml)
    assert res.read == 1 and len(res.quarantine) == 0
    geom = res.records.geometry[0]
    assert geom.geom_type == "GeometryCollection"
    assert sorted(g.geom_type for g in geom.geoms) == ["Point", "Polygon"]
    assert geom.geoms[0].coords[0] == (109.73, 38.29)


# -- 5. the field separator: tab, semicolon ---------------------------------------------------------

REPORTS = [("R1", "2025-03-01 08:00", "垃圾乱倒", "北大街, 东口", 109.7301, 38.2901),
           ("R2", "2025-03-01 09:30", "占道经营", "鼓楼; 西侧", 109.7302, 38.2902),
           ("R3", "2025-03-01 10:15", "垃圾乱倒", "新建路", 109.7303, 38.2903)]


@pytest.mark.parametrize(("name", "sep"), [("reports.tsv", "\t"), ("reports.csv", ";")])
def test_delimiter_is_detected(tmp_path: Path, capsys: Cap, name: str, sep: str) -> None:
    ws = _empty_workspace(tmp_path)
    lines = [sep.join(["编号", "上报时间", "问题类型", "描述", "经度", "纬度"])]
    for rid, when, cat, desc, lon, lat in REPORTS:
        text = f'"{desc}"' if sep in desc else desc  # as Excel quotes a value holding the separator
        lines.append(sep.join([rid, when, cat, text, str(lon), str(lat)]))
    path = tmp_path / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8-sig")
    code, s = _import(capsys, str(ws), "reports", str(path), "--coords", "wgs84")
    assert code == 0, s
    _adds_up(s)
    assert (s["read"], s["accepted"], s["quarantined"]) == (3, 3, 0)
    stored = gpd.read_file(ws, layer="reports").set_index("report_id").sort_index()
    keys = {"垃圾乱倒": "garbage_dumping", "占道经营": "road_occupying_business"}  # gridmap.model's categories
    assert stored["category"].tolist() == [keys[r[2]] for r in REPORTS]
    assert stored["description"].tolist() == [r[3] for r in REPORTS]
    for (rid, *_, lon, lat) in REPORTS:
        geom = stored.geometry[rid]
        assert GEOD.inv(geom.x, geom.y, lon, lat)[2] < 0.01


# -- 6. a KML of NetworkLinks and GroundOverlays only ------------------------------------------------

LINKS_ONLY = (
    '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
    "<NetworkLink><name>网格</name><Link><href>grids/doc.kml</href></Link></NetworkLink>"
    "<Folder><NetworkLink><Link><href>http://example.invalid/reports.kml</href></Link></NetworkLink></Folder>"
    "<GroundOverlay><Icon><href>scan.jpg</href></Icon><LatLonBox><north>38.3</north><south>38.2</south>"
    "<east>109.8</east><west>109.7</west></LatLonBox></GroundOverlay></Document></kml>"
)


def test_kml_of_links_and_overlays_says_why_nothing_was_read(tmp_path: Path, capsys: Cap) -> None:
    """Nothing read because of the file's kind is refused (exit 2) with the reason; an empty KML is not."""
    ws = _empty_workspace(tmp_path)
    kml = tmp_path / "links.kml"
    kml.write_text(LINKS_ONLY, encoding="utf-8")
    empty = tmp_path / "empty.kml"
    empty.write_text('<kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>', encoding="utf-8")
    empty_code, s = _import(capsys, str(ws), "reports", str(empty))
    assert empty_code == 0  # an empty file imports nothing, and says so
    _adds_up(s)
    assert s["read"] == 0 and s["warnings"] == ["empty.kml holds no records: nothing was imported"]
    capsys.readouterr()
    code = main(["import", str(ws), "reports", str(kml), "--json"])
    out = capsys.readouterr()
    assert code == 2
    message = json.loads(out.out)["error"]
    assert message.startswith("links.kml: nothing to import: it holds 2 NetworkLink, 1 GroundOverlay, no Placemark")
    assert "grids/doc.kml" in message and "import that" in message
    assert f"gridmap: error: {message}" in out.err
    assert _rows(ws, "SELECT count(*) FROM reports") == [(0,)]
    assert _rows(ws, "SELECT count(*) FROM quarantine") == [(0,)]


def test_links_only_message_reaches_the_terminal(tmp_path: Path) -> None:
    import subprocess
    import sys

    ws = _empty_workspace(tmp_path)
    kml = tmp_path / "links.kml"
    kml.write_text(LINKS_ONLY, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "gridmap", "import", str(ws), "reports", str(kml)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "nothing to import" in done.stderr and "no Placemark" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_bang_in_geopackage_path_and_in_zip_member_names(tmp_path: Path, capsys: Cap,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    ws = _empty_workspace(tmp_path)
    frame = _grid_squares(2)
    (tmp_path / "x!y").mkdir()
    pyogrio.write_dataframe(frame, tmp_path / "plain.gpkg", layer="grids")
    (tmp_path / "plain.gpkg").rename(tmp_path / "x!y" / "g!rids.gpkg")
    pyogrio.write_dataframe(frame.assign(grid_code="610802001901999"), tmp_path / "rids.gpkg", layer="grids")
    monkeypatch.chdir(tmp_path)
    code, s = _import(capsys, str(ws), "grids", "x!y/g!rids.gpkg", "--set", "community_code=610802001901")
    assert code == 0, s
    _adds_up(s)
    assert sorted(r[0] for r in _rows(ws, "SELECT grid_code FROM grids")) == frame["grid_code"].tolist()

    # a zipped shapefile whose members are named with '!' and which lacks its .shx
    pyogrio.write_dataframe(_grid_squares(3).iloc[2:], tmp_path / "third.shp")
    archive = tmp_path / "third.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in ("shp", "dbf", "prj"):
            zf.write(tmp_path / f"third.{part}", f"网格!第三.{part}")
    code, s = _import(capsys, str(ws), "grids", str(archive), "--set", "community_code=610802001901")
    assert code == 0, s
    _adds_up(s)
    assert (s["read"], s["accepted"]) == (1, 1)
    assert sorted(r[0] for r in _rows(ws, "SELECT grid_code FROM grids")) == _grid_squares(3)["grid_code"].tolist()


def test_ragged_tsv_line_is_quarantined_naming_tabs(tmp_path: Path) -> None:
    from gridmap.io.tabular import read_csv

    path = tmp_path / "r.tsv"
    path.write_text("编号\t经度\t纬度\nA1\t109.73\t38.29\nA2\t109.74\nA3\t109.75\t38.30\n", encoding="utf-8")
    res = read_csv(path, coords="wgs84")
    assert res.read == 3 and res.records["编号"].tolist() == ["A1", "A3"]
    assert res.quarantine["record"].tolist() == [2] and res.quarantine["raw"].tolist() == ["A2\t109.74"]
    assert "tabs/quotes" in res.quarantine["detail"][0]
