"""Issue 12, item 7: a failed import says what to do, as a command-line flag, and ``--json`` prints it as JSON.

A catalogue of bad invocations, each built from a real file written the way an office or a GIS program writes
it. For every one, by hand: the exit status, the flag (or, where no flag can help, the step) that fixes it, and a
fragment of the message that says what went wrong. Each case is run twice: without ``--json`` (one
``gridmap: error:`` line on stderr, nothing on stdout) and with it (stdout is exactly one JSON object
``{"error": ..., "exit": ...}`` holding the same message). No case may show API wording (``defaults=``,
``coords=``, ``source_layer=``, ...), a Python dict repr or a traceback, and no refused import may change the
workspace.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import geopandas as gpd
import pyogrio
import pyproj
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

import gridmap
from gridmap.cli import main

Cap = pytest.CaptureFixture[str]

LONLAT = [(109.7301, 38.2901), (109.7402, 38.3003)]  # Yulin; the workspace's subdistrict lies around them
HEADER = "report_id,reported_at,category,description,lon,lat"
ROW = "R1,2025-03-01 08:00,垃圾乱倒,北大街,109.73,38.29"
# the keyword arguments of the Python API, which a command-line user cannot type
API_WORDING = re.compile(r"\b(defaults|coords|source_layer|sheet|encoding|header_row|crs|overwrite)=")


# -- the files ----------------------------------------------------------------------------------------------------


def _csv(path: Path, header: str = HEADER, rows: tuple[str, ...] = (ROW,), encoding: str = "utf-8") -> Path:
    path.write_text("\n".join((header, *rows)) + "\n", encoding=encoding)
    return path


def _targets(path: Path, *, epsg: int, label: int | None = None, prj: bool = True) -> Path:
    """Two targets in EPSG:`epsg` metres (or degrees), labelled EPSG:`label` (default: the truth)."""
    to = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    frame = gpd.GeoDataFrame({"target_id": ["T1", "T2"], "kind": ["courtyard", "courtyard"]},
                             geometry=[Point(*to.transform(*ll)) for ll in LONLAT], crs=f"EPSG:{label or epsg}")
    pyogrio.write_dataframe(frame, path, encoding="utf-8")
    if not prj:
        path.with_suffix(".prj").unlink()
    return path


def _two_layer_gpkg(path: Path) -> Path:
    frame = gpd.GeoDataFrame({"target_id": ["T1"], "kind": ["courtyard"]}, geometry=[Point(*LONLAT[0])], crs=4326)
    pyogrio.write_dataframe(frame, path, layer="a")
    pyogrio.write_dataframe(frame, path, layer="b")
    return path


def _ledger(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "台账"
    sheet.append(HEADER.split(","))
    sheet.append(["R1", "2025-03-01 08:00", "垃圾乱倒", "北大街", 109.73, 38.29])
    book.save(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("files")
    shapefile_folder = d / "交付"
    shapefile_folder.mkdir()
    _targets(shapefile_folder / "网格.shp", epsg=4546)
    heic_folder = d / "相册"
    heic_folder.mkdir()
    (heic_folder / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    no_dbf = _targets(d / "nodbf.shp", epsg=4546)
    no_dbf.with_suffix(".dbf").unlink()
    kmz = d / "map.kmz"
    with zipfile.ZipFile(kmz, "w") as archive:
        archive.writestr("images/overlay.png", b"\x89PNG")
    (d / "links.kml").write_text(
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><NetworkLink><Link><href>http://example.invalid/'
        'grids.kml</href></Link></NetworkLink><GroundOverlay><Icon><href>scan.jpg</href></Icon></GroundOverlay>'
        "</Document></kml>", encoding="utf-8")
    (d / "route.gpx").write_text('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><rte>'
                                 '<rtept lat="38.29" lon="109.73"/><rtept lat="38.30" lon="109.74"/></rte></gpx>',
                                 encoding="utf-8")
    (d / "cut.geojson").write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", ',
                                   encoding="utf-8")
    (d / "notes.docx").write_bytes(b"PK\x03\x04 not really a document")
    (d / "undecodable.csv").write_bytes(f"{HEADER}\n".encode() + b"R1,2025-03-01 08:00,\xff\xfe\x80,x,109.73,38.29\n")
    return {
        "reports": _csv(d / "reports.csv"),
        "no_category": _csv(d / "no_category.csv", HEADER.replace("category", "kategorie")),
        "tracks_no_inspector": _csv(d / "watch.csv", "time,lon,lat", ("2025-03-01 08:00,109.73,38.29",)),
        "metres_csv": _csv(d / "metres.csv", "report_id,reported_at,category,lon,lat",
                           ("R1,2025-03-01 08:00,垃圾乱倒,388891.3,4240450.9",
                            "R2,2025-03-01 09:00,垃圾乱倒,388899.3,4240460.9")),
        "two_layers": _two_layer_gpkg(d / "field.gpkg"),
        "projected": _targets(d / "projected.shp", epsg=4546),
        "no_prj": _targets(d / "no_prj.shp", epsg=4546, prj=False),
        "wrong_prj": _targets(d / "wrong_prj.shp", epsg=4546, label=4326),
        "metres_geojson": _targets(d / "metres.geojson", epsg=4546, label=4326),
        "ledger": _ledger(d / "ledger.xlsx"),
        "undecodable": d / "undecodable.csv",
        "shapefile_folder": shapefile_folder,
        "heic_folder": heic_folder,
        "no_dbf": no_dbf,
        "kmz": kmz,
        "links": d / "links.kml",
        "route": d / "route.gpx",
        "cut": d / "cut.geojson",
        "docx": d / "notes.docx",
        "missing": d / "nope.csv",
        "not_a_workspace": _csv(d / "ledger.gpkg"),
        "no_workspace": d / "none.gpkg",
        "folder": d,
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a subdistrict around Yulin (109.74E: the --crs guess is the 111E zone, EPSG:4546)."""
    d = tmp_path_factory.mktemp("ws")
    path = d / "w.gpkg"
    sub = d / "sub.geojson"
    gpd.GeoDataFrame({"code": ["610802001"], "name": ["鼓楼街道"]}, geometry=[box(109.70, 38.27, 109.78, 38.33)],
                     crs=4326).to_file(sub, driver="GeoJSON", engine="pyogrio")
    with gridmap.init_workspace(path) as ws:
        assert gridmap.import_file(ws, "subdistrict", sub).accepted == 1
    return path


@pytest.fixture(scope="module")
def newer_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("newer") / "w.gpkg"
    gridmap.init_workspace(path).close()
    with closing(sqlite3.connect(path)) as con, con:
        con.execute("UPDATE gridmap_meta SET value = '99' WHERE key = 'schema_version'")
    return path


# -- the catalogue ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A bad command line, the exit status expected, the fix it must name and what it must say went wrong."""

    args: Callable[[Path, dict[str, Path]], list[object]]
    fix: str  # the flag (or, where no flag can help, the step) that fixes it: must appear verbatim
    said: str  # a regular expression for what went wrong
    status: int = 2


def _import(layer: str, name: str, *options: str) -> Callable[[Path, dict[str, Path]], list[object]]:
    return lambda ws, f: ["import", ws, layer, f[name], *options]


CASES: dict[str, Case] = {
    "missing required column": Case(
        _import("reports", "no_category", "--coords", "wgs84"), "--set category=VALUE",
        r"no_category\.csv: layer 'reports' needs column\(s\) category but the file has only: .*kategorie"),
    "missing inspector of tracks": Case(
        _import("tracks", "tracks_no_inspector", "--coords", "wgs84"), "--inspector NAME",
        r"layer 'tracks' needs column\(s\) inspector"),
    "--set on the key column": Case(
        _import("reports", "reports", "--coords", "wgs84", "--set", "report_id=X"), "drop --set report_id",
        r"--set report_id=X would give every row of layer 'reports' the same report_id, its key"),
    "--set on the whole key of tracks": Case(
        _import("tracks", "tracks_no_inspector", "--coords", "wgs84", "--set", "inspector=甲", "--set",
                "time=2025-03-01 08:00"), "drop --set time",
        r"--set time=2025-03-01 08:00 would give every row of layer 'tracks' the same time, part of its key "
        r"\(inspector, time\)"),
    "--set of a column the layer lacks": Case(
        _import("reports", "reports", "--coords", "wgs84", "--set", "phone=1"), "drop --set phone",
        r"--set phone=\.\.\.: layer 'reports' has no column 'phone'"),
    "--set without =": Case(
        _import("reports", "reports", "--coords", "wgs84", "--set", "category"), "--set category=垃圾乱倒",
        r"--set takes COLUMN=VALUE"),
    "--inspector outside tracks": Case(
        _import("reports", "reports", "--coords", "wgs84", "--inspector", "甲"), "--inspector is for tracks",
        r"drop it for layer reports"),
    "unknown layer": Case(
        _import("nolayer", "reports"), "choose from", r"argument layer: invalid choice: 'nolayer'.*'reports'"),
    "unknown --source-layer": Case(
        _import("targets", "two_layers", "--source-layer", "zz"), "--source-layer NAME",
        r"field\.gpkg has no layer 'zz'; its layers: a, b"),
    "several layers, no --source-layer": Case(
        _import("targets", "two_layers"), "--source-layer NAME", r"field\.gpkg has several layers \(a, b\)"),
    "unknown --coords": Case(
        _import("reports", "reports", "--coords", "utm"), "--coords",
        r"argument --coords: invalid choice: 'utm' \(choose from 'wgs84', 'gcj02', 'bd09'\)"),
    "CSV without --coords": Case(
        _import("reports", "reports"), "--coords wgs84|gcj02|bd09", r"reports\.csv has longitude/latitude columns"),
    "--coords gcj02 on projected data": Case(
        _import("targets", "projected", "--coords", "gcj02"), "drop --coords gcj02",
        r"projected\.shp has projected coordinates \(metres, CGCS2000 / 3-degree Gauss-Kruger CM 111E\)"),
    "--crs against the file's own CRS": Case(
        _import("targets", "projected", "--crs", "EPSG:4547"), "drop --crs",
        r"projected\.shp declares its own CRS, EPSG:4546 .*not EPSG:4547"),
    "--crs that PROJ does not know": Case(
        _import("targets", "no_prj", "--crs", "EPSG:999999"), "--crs EPSG:4546",
        r"--crs EPSG:999999: not a coordinate reference system PROJ knows"),
    "shapefile without .prj in metres": Case(
        _import("targets", "no_prj"), "--crs EPSG:4546",
        r"no_prj\.shp has no coordinate reference system .*central meridian 111E"),
    "shapefile whose .prj says degrees, in metres": Case(
        _import("targets", "wrong_prj"), "--crs EPSG:4546",
        r"wrong_prj\.shp: 2 of 2 records have coordinates outside longitude/latitude.*says EPSG:4326.*Delete its "
        r"\.prj"),
    "GeoJSON in metres": Case(
        _import("targets", "metres_geojson"), "export it again in EPSG:4326", r"RFC 7946"),
    "CSV of metres": Case(
        _import("reports", "metres_csv", "--coords", "wgs84"), "--crs EPSG:4546",
        r"metres\.csv has no coordinate reference system"),
    "--crs on a CSV of degrees": Case(
        _import("reports", "reports", "--crs", "EPSG:4546"), "drop --crs and declare their datum with --coords",
        r"reports\.csv: its coordinates \(lon/lat\) are longitude/latitude in degrees, not metres of --crs EPSG:4546"),
    "--sheet that does not exist": Case(
        _import("reports", "ledger", "--coords", "wgs84", "--sheet", "三月"), "--sheet NAME",
        r"ledger\.xlsx has no sheet '三月'; its sheets are 1: '台账'"),
    "--sheet number beyond the workbook": Case(
        _import("reports", "ledger", "--coords", "wgs84", "--sheet", "2"), "--sheet N", r"has no sheet '2'"),
    "--header-row beyond the sheet": Case(
        _import("reports", "ledger", "--coords", "wgs84", "--header-row", "40"), "--header-row N",
        r"--header-row 40 is outside sheet '台账' of ledger\.xlsx \(rows 1 to 2\)"),
    "--header-row not a number": Case(
        _import("reports", "ledger", "--coords", "wgs84", "--header-row", "三"), "--header-row",
        r"argument --header-row: invalid int value: '三'"),
    "--sheet on a CSV": Case(
        _import("reports", "reports", "--coords", "wgs84", "--sheet", "1"), "drop them",
        r"--sheet and --header-row are for Excel workbooks; reports\.csv is not one"),
    "--encoding that cannot decode the file": Case(
        _import("reports", "reports", "--coords", "wgs84", "--encoding", "ascii"), "leave --encoding out",
        r"reports\.csv is not valid ascii"),
    "--encoding unknown": Case(
        _import("reports", "reports", "--coords", "wgs84", "--encoding", "gbkk"), "--encoding utf-8",
        r"--encoding gbkk: not an encoding gridmap knows"),
    "text in no encoding gridmap can tell": Case(
        _import("reports", "undecodable", "--coords", "wgs84"), "--encoding big5",
        r"cannot tell the text encoding of undecodable\.csv"),
    "missing file": Case(_import("reports", "missing", "--coords", "wgs84"), "check the path",
                         r"nope\.csv: no such file or folder"),
    "a folder of a shapefile": Case(
        _import("targets", "shapefile_folder"), "give the file itself instead, e.g. gridmap import WORKSPACE LAYER",
        r"交付: nothing to import: it holds no JPEG photo but 5 other file\(s\) .*交付/网格\.shp"),
    "a folder of iPhone photos (HEIC)": Case(
        _import("reports", "heic_folder"), "convert them to JPEG",
        r"相册: nothing to import: it holds no JPEG photo but 1 other file\(s\) \(IMG_0001\.HEIC\)"),
    "shapefile without .dbf": Case(_import("targets", "no_dbf"), "copy the whole shapefile",
                                   r"nodbf\.shp has no \.dbf beside it"),
    "KML of NetworkLinks and overlays only": Case(
        _import("reports", "links"), "save it as KML/KMZ and import that",
        r"links\.kml: nothing to import: it holds 1 NetworkLink, 1 GroundOverlay, no Placemark.*grids\.kml"),
    "GPX of a planned route": Case(
        _import("tracks", "route"), "export the recorded track (trk)",
        r"route\.gpx: nothing to import: it holds only 2 route point\(s\)"),
    "KMZ without a KML document": Case(
        _import("reports", "kmz"), "save the map as KML or KMZ again",
        r"the KMZ holds no \.kml document \(members: images/overlay\.png\)"),
    "truncated GeoJSON": Case(_import("targets", "cut"), "GeoJSON", r"cut\.geojson is not readable GeoJSON"),
    "unknown kind of file": Case(_import("reports", "docx"), "gridmap reads CSV, Excel",
                                 r"notes\.docx: unknown kind of file \.docx"),
    "a file that is not a workspace": Case(
        lambda ws, f: ["import", f["not_a_workspace"], "reports", f["reports"], "--coords", "wgs84"],
        "gridmap init", r"ledger\.gpkg is not a gridmap workspace"),
    "no workspace at the path": Case(
        lambda ws, f: ["import", f["no_workspace"], "reports", f["reports"], "--coords", "wgs84"],
        "gridmap init", r"no workspace at .*none\.gpkg"),
    "a folder for the workspace": Case(
        lambda ws, f: ["import", f["folder"], "reports", f["reports"], "--coords", "wgs84"],
        "gridmap init", r"no workspace at "),
    "info of no workspace": Case(lambda ws, f: ["info", f["no_workspace"]], "gridmap init", r"no workspace at"),
    "validate of no workspace": Case(lambda ws, f: ["validate", f["no_workspace"]], "gridmap init",
                                     r"no workspace at"),
    "unknown option": Case(_import("reports", "reports", "--coords", "wgs84", "--rename", "编号=report_id"),
                           "--rename", r"unrecognized arguments: --rename 编号=report_id"),
}


#: Refusals of the other commands (without --json): dates, sizes, keys, names.
OTHER_CASES: dict[str, Case] = {
    "--from that is no date": Case(lambda ws, f: ["coverage", ws, "--from", "2025-13-01"], "argument --from",
                                   r"'2025-13-01' is not a date or time; write it like 2025-03-01"),
    "--to that is no date": Case(lambda ws, f: ["scoreboard", ws, "--to", "2025-02-30"], "argument --to",
                                 r"'2025-02-30' is not a date or time"),
    "--from of a briefing": Case(lambda ws, f: ["briefing", ws, "--png", f["folder"] / "b.png", "--from", "三月"],
                                 "argument --from", r"'三月' is not a date or time"),
    "--radius 0": Case(lambda ws, f: ["coverage", ws, "--radius", "0"], "--radius",
                       r"must be a positive number of metres, got 0\.0"),
    "Tianditu without a key": Case(
        lambda ws, f: ["report", ws, "--html", f["folder"] / "r.html", "--basemap", "tianditu", "--online"],
        "--tianditu-key KEY", r"the Tianditu \(天地图\) basemap needs a key"),
    "a category that exists": Case(lambda ws, f: ["category", ws, "--add", "garbage_dumping", "倒垃圾"],
                                   "another KEY", r"category 'garbage_dumping' already exists \(垃圾乱倒, garbage "
                                                  r"dumping\)"),
    "a category key with capitals": Case(lambda ws, f: ["category", ws, "--add", "Bad Key", "坏"], "lower-case",
                                         r"category key 'Bad Key'"),
}


def _counts(ws: Path) -> list[tuple]:
    with closing(sqlite3.connect(ws)) as con:
        return [con.execute(f"SELECT count(*) FROM {table}").fetchone()
                for table in ("reports", "targets", "tracks", "quarantine", "gridmap_imports")]


def _run(capsys: Cap, words: list[object]) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main([str(w) for w in words])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("name", [*CASES, *OTHER_CASES])
def test_refusal_names_its_fix(name: str, workspace: Path, files: dict[str, Path], capsys: Cap) -> None:
    case = CASES.get(name) or OTHER_CASES[name]
    before = _counts(workspace)
    status, out, err = _run(capsys, case.args(workspace, files))
    assert status == case.status
    assert out == ""
    assert err.count("gridmap: error: ") == 1 and err.endswith("\n")
    message = err.split("gridmap: error: ", 1)[1].rstrip("\n")
    assert "\n" not in message  # one line
    assert case.fix in message, message
    assert re.search(case.said, message), message
    assert not API_WORDING.search(err), err
    assert "{'" not in err and "Traceback" not in err
    assert _counts(workspace) == before  # nothing stored, nothing quarantined, no import logged


@pytest.mark.parametrize("name", list(CASES))  # every case is of import, info or validate: all have --json
def test_refusal_with_json_is_one_json_object(name: str, workspace: Path, files: dict[str, Path],
                                              capsys: Cap) -> None:
    case = CASES[name]
    status, out, err = _run(capsys, [*case.args(workspace, files), "--json"])
    assert status == case.status
    assert out.endswith("\n") and out.count("\n") == 1  # one line: one object, nothing else
    obj = json.loads(out)
    assert isinstance(obj, dict) and set(obj) == {"error", "exit"}
    assert obj["exit"] == case.status
    assert f"gridmap: error: {obj['error']}\n" in err  # the same message on stderr
    assert case.fix in obj["error"] and re.search(case.said, obj["error"])
    assert not API_WORDING.search(out) and "{'" not in obj["error"] and "Traceback" not in err


def test_abbreviated_json_option_answers_in_json(workspace: Path, files: dict[str, Path], capsys: Cap) -> None:
    """argparse takes ``--js`` for ``--json``: a command line that fails to parse answers in JSON too."""
    status, out, err = _run(capsys, ["import", workspace, "reports", files["reports"], "--coords", "utm", "--js"])
    assert status == 2
    assert json.loads(out) == {"error": "argument --coords: invalid choice: 'utm' (choose from 'wgs84', 'gcj02', "
                                        "'bd09')", "exit": 2}


def test_newer_workspace_says_upgrade(newer_workspace: Path, files: dict[str, Path], capsys: Cap) -> None:
    for words in (["info", newer_workspace, "--json"],
                  ["import", newer_workspace, "reports", files["reports"], "--coords", "wgs84", "--json"]):
        status, out, err = _run(capsys, words)
        assert status == 2
        assert json.loads(out) == {"error": f"{newer_workspace} was written by a newer gridmap (schema 99); upgrade "
                                            f"gridmap (this one reads schema {gridmap.storage.SCHEMA_VERSION})",
                                   "exit": 2}


def test_busy_workspace_is_a_message(tmp_path: Path, files: dict[str, Path], capsys: Cap,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the write lock: exit 2 with a sentence, no traceback (a 0.2 s wait, not 10 s)."""
    import gridmap.storage as workspace_module

    ws = tmp_path / "w.gpkg"
    gridmap.init_workspace(ws).close()
    monkeypatch.setitem(workspace_module.open_workspace.__kwdefaults__, "busy_timeout", 0.2)
    holder = sqlite3.connect(ws, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        status, out, err = _run(capsys, ["import", ws, "reports", files["reports"], "--coords", "wgs84", "--json"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert status == 2
    message = json.loads(out)["error"]
    assert message.startswith("workspace busy: another process is writing") and "try again" in message
    assert "Traceback" not in err and _counts(ws)[0] == (0,)


def test_init_over_an_existing_workspace_names_overwrite(workspace: Path, capsys: Cap) -> None:
    status, out, err = _run(capsys, ["init", workspace])
    assert status == 2 and out == ""
    assert err == f"gridmap: error: {workspace} already exists; pass --overwrite to replace it (its layers are lost)," \
                  " or give another path\n"
    assert not API_WORDING.search(err)


# -- nothing read: an empty source is not an error, and says so ----------------------------------------------------


def test_an_empty_source_imports_nothing_and_says_why(tmp_path: Path, capsys: Cap) -> None:
    ws = tmp_path / "w.gpkg"
    gridmap.init_workspace(ws).close()
    header_only = _csv(tmp_path / "三月.csv", rows=())
    empty_folder = tmp_path / "photos"
    empty_folder.mkdir()
    status, out, err = _run(capsys, ["import", ws, "reports", header_only, "--coords", "wgs84"])
    assert status == 0 and err == ""
    assert out == ("三月.csv → reports: read 0, accepted 0, duplicates 0, quarantined 0\n"
                   "  note: 三月.csv holds no records: nothing was imported\n")
    status, out, err = _run(capsys, ["import", ws, "reports", empty_folder, "--json"])
    assert status == 0
    summary = json.loads(out)
    assert summary["read"] == summary["accepted"] == summary["duplicates"] == summary["quarantined"] == 0
    assert summary["warnings"] == ["photos holds no records: nothing was imported"]
    status, out, _ = _run(capsys, ["import", ws, "reports", _csv(tmp_path / "r.csv"), "--coords", "wgs84", "--json"])
    assert status == 0 and json.loads(out)["warnings"] == [] and json.loads(out)["accepted"] == 1


# -- any file at all: a summary or one JSON error, never a traceback --------------------------------------------

SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".geojson", ".json", ".gpkg", ".shp", ".zip", ".kml", ".kmz",
            ".gpx", ".jpg", ".docx", "")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300),
                      st.text(alphabet="经度纬度,;\t\n\"'<>{}[]:0123456789.-abclnotx PK", max_size=200).map(str.encode),
                      st.sampled_from([b"PK\x03\x04", b"<kml>", b"<gpx>", b'{"type":"FeatureCollection"}',
                                       b"\xef\xbb\xbf", b"SQLite format 3\x00"])),
       suffix=st.sampled_from(SUFFIXES), layer=st.sampled_from(["reports", "grids", "tracks", "rectifications"]))
@example(data=b"", suffix=".csv", layer="reports")
@example(data=b"SQLite format 3\x00", suffix=".gpkg", layer="grids")
@example(data=b"PK\x03\x04", suffix=".kmz", layer="reports")
@example(data=b"lon,lat\n109.73,38.29\n", suffix=".csv", layer="rectifications")
def test_any_file_gives_a_summary_or_one_json_error(data: bytes, suffix: str, layer: str, workspace: Path,
                                                    capsys: Cap) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"f{suffix}"
        path.write_bytes(data)
        status, out, err = _run(capsys, ["import", workspace, layer, path, "--coords", "wgs84", "--json"])
    assert "Traceback" not in err
    assert out.endswith("\n") and out.count("\n") == 1
    obj = json.loads(out)
    if status == 2:
        assert set(obj) == {"error", "exit"} and obj["exit"] == 2 and obj["error"]
        assert f"gridmap: error: {obj['error']}\n" in err and not API_WORDING.search(err) and "{'" not in err
    else:
        assert status == 0 and obj["read"] == obj["accepted"] + obj["duplicates"] + obj["quarantined"]
