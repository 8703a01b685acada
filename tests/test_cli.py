"""The ``gridmap`` command end to end, on real files and a real workspace."""

from __future__ import annotations

import csv
import json
import os
from contextlib import closing
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from pyproj import Transformer
from shapely.geometry import box

from _stub_cache import REMOTE

from gridmap.cli import main
from gridmap.demo import write_messy_reports_csv
from gridmap.export.privacy import mask_name


NOW_FREE_REASONS = {
    "swapped_coordinates": 1,
    "missing_coordinates": 1,
    "unparseable_coordinates": 1,
    "future_time": 1,
    "unparseable_time": 1,
    "unknown_category": 1,
    "outside_subdistrict": 1,
    "outside_china": 1,
}


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ws") / "gulou.gpkg"
    assert main(["init", str(path), "--sample"]) == 0
    return path


def _json_out(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


def test_info_of_sample(sample_ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["info", str(sample_ws), "--json"]) == 0
    info = _json_out(capsys)
    assert info["layers"]["communities"] == 6
    assert info["layers"]["grids"] == 36
    assert info["layers"]["reports"] > 0 and info["layers"]["tracks"] > 0


def test_import_messy_csv_counts_and_idempotence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "w.gpkg"
    assert main(["init", str(ws), "--sample"]) == 0
    with closing(sqlite3.connect(ws)) as con:
        before = con.execute("SELECT count(*) FROM reports").fetchone()[0]
    csv = write_messy_reports_csv(tmp_path / "messy.csv")
    capsys.readouterr()
    assert main(["import", str(ws), "reports", str(csv), "--coords", "wgs84", "--json"]) == 0
    first = _json_out(capsys)
    assert set(first) >= {"read", "accepted", "duplicates", "quarantined", "reasons"}
    assert (first["read"], first["accepted"], first["duplicates"], first["quarantined"]) == (13, 4, 1, 8)
    assert first["reasons"] == NOW_FREE_REASONS
    # independent check in the file itself
    with closing(sqlite3.connect(ws)) as con:
        assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == before + 4
        stored = con.execute("SELECT description FROM reports WHERE report_id = 'D-012'").fetchone()[0]
        assert stored == "{{ 7*7 }} <b>模板注入</b>"
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 8
    assert main(["import", str(ws), "reports", str(csv), "--coords", "wgs84", "--json"]) == 0
    second = _json_out(capsys)
    assert (second["read"], second["accepted"], second["duplicates"], second["quarantined"]) == (13, 0, 5, 8)
    with closing(sqlite3.connect(ws)) as con:
        assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == before + 4
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 8
    assert main(["import", str(ws), "reports", str(csv), "--coords", "wgs84", "--strict"]) == 1


def test_import_human_output_adds_up(sample_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = write_messy_reports_csv(tmp_path / "m.csv")
    capsys.readouterr()
    main(["import", str(sample_ws), "reports", str(csv), "--coords", "wgs84"])
    out = capsys.readouterr().out
    m = re.search(r"read (\d+), accepted (\d+), duplicates (\d+), quarantined (\d+)", out)
    assert m is not None
    read, accepted, dup, quarantined = map(int, m.groups())
    assert read == accepted + dup + quarantined == 13
    assert "future_time" in out


def test_csv_without_declared_coords_is_refused(
        sample_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = write_messy_reports_csv(tmp_path / "m.csv")
    capsys.readouterr()
    assert main(["import", str(sample_ws), "reports", str(csv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gridmap: error:") and "--coords" in err
    assert "Traceback" not in err


def test_missing_file_and_bad_workspace_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(tmp_path / "nope.gpkg"), "reports", str(tmp_path / "x.csv"), "--coords", "wgs84"]) == 2
    assert main(["info", str(tmp_path / "nope.gpkg")]) == 2
    not_ws = tmp_path / "plain.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326").to_file(not_ws)
    assert main(["info", str(not_ws)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "gridmap init" in err


def test_validate_clean_sample(sample_ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["validate", str(sample_ws), "--json"]) == 0
    assert _json_out(capsys) == {
        "ok": True, "problems": [], "territory": "subdistrict", "checks_skipped": [],
        "checks_run": ["invalid", "gap", "overlap", "outside_community", "sliver", "no_cadre", "empty_community"]}
    assert main(["validate", str(sample_ws)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == ("checks run: invalid, gap, overlap, outside_community, sliver, no_cadre, "
                                    "empty_community (gaps looked for inside subdistrict)")
    assert "check skipped" not in text


def _grids_only_workspace(tmp_path: Path, *, hole: bool) -> Path:
    """A workspace with two abutting 100 m grids and nothing else; with `hole`, a 20 m x 10 m hole in the first."""
    ws = tmp_path / "g.gpkg"
    assert main(["init", str(ws)]) == 0
    x0, y0 = Transformer.from_crs("EPSG:4326", "EPSG:4546", always_xy=True).transform(109.73, 38.29)
    first = box(x0, y0, x0 + 100, y0 + 100)
    if hole:
        first = first.difference(box(x0 + 40, y0 + 40, x0 + 60, y0 + 50))
    grids = gpd.GeoDataFrame(
        {"grid_code": ["610802001001001", "610802001001002"], "name": ["一", "二"],
         "community_code": ["610802001001"] * 2, "cadre": ["张三", "李四"], "cadre_phone": ["", ""]},
        geometry=[first, box(x0 + 100, y0, x0 + 200, y0 + 100)], crs="EPSG:4546")
    src = tmp_path / "grids.geojson"
    grids.to_crs("EPSG:4326").to_file(src, driver="GeoJSON")
    assert main(["import", str(ws), "grids", str(src)]) == 0
    return ws


def test_validate_of_grids_alone_says_what_it_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _grids_only_workspace(tmp_path, hole=True)
    capsys.readouterr()
    assert main(["validate", str(ws), "--json"]) == 0  # the hole is not looked for, and the output says so
    result = _json_out(capsys)
    assert result["ok"] is True and result["territory"] is None
    assert result["checks_run"] == ["invalid", "overlap", "sliver", "no_cadre"]
    assert [s["check"] for s in result["checks_skipped"]] == ["gap", "outside_community", "empty_community"]
    assert "--territory union" in result["checks_skipped"][0]["reason"]
    assert main(["validate", str(ws)]) == 0
    text = capsys.readouterr().out
    assert "check skipped: gap: no subdistrict or communities layer" in text
    assert "ok: no problem found by the checks run" in text and "tile the subdistrict" not in text
    assert main(["validate", str(ws), "--territory", "union", "--json"]) == 1
    union = _json_out(capsys)
    assert union["territory"] == "the outline of the grids' union" and "gap" in union["checks_run"]
    gaps = [p for p in union["problems"] if p["kind"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["grids"] == ["610802001001001"]
    assert gaps[0]["area_m2"] == pytest.approx(200.0, rel=2e-3)  # 20 m x 10 m, through a WGS84 round trip


def _one_json_object(text: str) -> dict:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


@pytest.mark.parametrize("case", ["missing_workspace", "unreadable_file", "bad_option", "unknown_option"])
@pytest.mark.parametrize("command", ["info", "validate", "import"])
def test_json_failures_print_one_json_object(sample_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             case: str, command: str) -> None:
    ws = tmp_path / "nope.gpkg" if case == "missing_workspace" else sample_ws
    args = {"info": ["info", str(ws)], "validate": ["validate", str(ws)],
            "import": ["import", str(ws), "reports", str(write_messy_reports_csv(tmp_path / "m.csv")),
                       "--coords", "wgs84"]}[command]
    if case == "unreadable_file":
        if command != "import":
            args[1] = str(tmp_path)  # a folder where the workspace file should be
        else:
            garbage = tmp_path / "broken.gpkg"
            garbage.write_bytes(b"not a GeoPackage\x00\x01")
            args[3] = str(garbage)  # a file that cannot be read as what its name says
    elif case == "bad_option":
        args += {"info": ["-v", "-v", "--verbose=x"], "validate": ["--territory", "everywhere"],
                 "import": ["--coords", "utm"]}[command]
    elif case == "unknown_option":
        args += ["--no-such-option"]
    capsys.readouterr()
    assert main([*args, "--json"]) == 2
    captured = capsys.readouterr()
    obj = _one_json_object(captured.out)
    assert set(obj) == {"error", "exit"} and obj["exit"] == 2 and obj["error"]
    assert "Traceback" not in captured.err and captured.err.count("gridmap: error:") == 1


def test_report_title_default_and_given(sample_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "r.html"
    period = ["--from", "2025-03-03", "--to", "2025-03-10", "--online"]
    assert main(["report", str(sample_ws), "--html", str(page), *period]) == 0
    html = page.read_text(encoding="utf-8")
    assert "<title>鼓楼街道环境卫生网格化管理报告（2025-03-03 – 2025-03-09）</title>" in html
    assert main(["report", str(sample_ws), "--html", str(page), *period, "--title", "北门<社区>周报"]) == 0
    html = page.read_text(encoding="utf-8")
    assert "<title>北门&lt;社区&gt;周报</title>" in html and "鼓楼街道环境卫生网格化管理报告" not in html


def test_validate_finds_overlap_and_no_cadre(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "w.gpkg"
    assert main(["init", str(ws)]) == 0
    # two 100 m x 100 m grids in metres (EPSG:4546) overlapping by 10 m x 100 m = 1000 m²
    x0, y0 = Transformer.from_crs("EPSG:4326", "EPSG:4546", always_xy=True).transform(109.73, 38.29)
    grids = gpd.GeoDataFrame(
        {"grid_code": ["610802001001001", "610802001001002"], "name": ["一", "二"],
         "community_code": ["610802001001"] * 2, "cadre": ["张三", ""], "cadre_phone": ["", ""]},
        geometry=[box(x0, y0, x0 + 100, y0 + 100), box(x0 + 90, y0, x0 + 190, y0 + 100)], crs="EPSG:4546")
    src = tmp_path / "grids.geojson"
    grids.to_crs("EPSG:4326").to_file(src, driver="GeoJSON")
    assert main(["import", str(ws), "grids", str(src)]) == 0
    capsys.readouterr()
    assert main(["validate", str(ws), "--json"]) == 1
    result = _json_out(capsys)
    assert result["ok"] is False
    kinds = {p["kind"]: p for p in result["problems"]}
    assert kinds["overlap"]["area_m2"] == pytest.approx(1000.0, rel=2e-3)
    assert sorted(kinds["overlap"]["grids"]) == ["610802001001001", "610802001001002"]
    assert kinds["no_cadre"]["grids"] == ["610802001001002"]


def test_python_dash_m_is_the_same_command(tmp_path: Path) -> None:
    ws = tmp_path / "w.gpkg"
    result = subprocess.run([sys.executable, "-m", "gridmap", "init", str(ws)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, "-m", "gridmap", "info", str(ws), "--json"],
                            capture_output=True, text=True)
    assert json.loads(result.stdout)["layers"]["grids"] == 0
    result = subprocess.run([sys.executable, "-m", "gridmap", "import", str(ws), "reports", str(tmp_path / "x.csv"),
                             "--coords", "wgs84"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr


#: What the demo writes, in the order it prints them (18 before issue 17, 7 more since).
DEMO_FILES = ("gulou-sample.gpkg", "messy-phone-reports.csv", "import-summary.json", "quarantine.csv",
              "grid-check.json", "grids.html", "coverage.csv", "dead-corners.geojson", "coverage.html", "coverage.png",
              "street-coverage.csv", "dead-stretches.geojson", "route.gpx", "route.html", "route.csv",
              "heatmap.html", "heatmap.png", "report.html", "scoreboard.csv", "scoreboard.xlsx",
              "scoreboard-street.csv", "scoreboard-area.csv", "spotcheck.csv", "scoreboard.html", "spotcheck.html")


def test_demo_writes_everything_offline_and_leaks_no_phone(tmp_path: Path, stand_in_assets: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    capsys.readouterr()
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"demo written to {out}:"
    assert [Path(line.strip()).name for line in printed[1:]] == list(DEMO_FILES)
    assert all((out / name).stat().st_size > 0 for name in DEMO_FILES)
    _check_street_and_route_outputs(out)
    for name in ("gulou-sample.gpkg", "quarantine.csv", "grid-check.json", "grids.html", "import-summary.json"):
        assert (out / name).stat().st_size > 0
    html = (out / "grids.html").read_text(encoding="utf-8")
    phones = gpd.read_file(out / "gulou-sample.gpkg", layer="grids")["cadre_phone"]
    assert phones.str.fullmatch(r"1[3-9]\d{9}").all()
    assert not any(phone in html for phone in phones)
    # no phone-like number standing alone (folium's hex element ids may hold digit runs)
    assert re.search(r"(?<![0-9A-Za-z.])1[3-9]\d{9}(?![0-9A-Za-z])", html) is None
    assert "示意数据" in html
    grids = gpd.read_file(out / "gulou-sample.gpkg", layer="grids")
    people = (set(grids["cadre"]) | set(gpd.read_file(out / "gulou-sample.gpkg", layer="streets")["street_chief"])
              | set(gpd.read_file(out / "gulou-sample.gpkg", layer="areas")["leader"]))
    for page in ("grids.html", "coverage.html", "heatmap.html", "report.html", "scoreboard.html", "route.html"):
        text = (out / page).read_text(encoding="utf-8")
        assert REMOTE.search(text) is None, page  # one offline file each
        assert re.search(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])", text) is None, page
        assert not any(name in text for name in people), page  # cadres, street chiefs, leaders masked or absent
    assert all(mask_name(name) in html for name in grids["cadre"])  # the grids page names them masked
    heat = (out / "heatmap.html").read_text(encoding="utf-8")
    # the sample has rectifications, so rebounds are known: the rebound title and layer (named in JSON) are there
    assert "示意数据" in (out / "route.html").read_text(encoding="utf-8")
    assert "问题反弹热力图" in heat and json.dumps("反弹点位")[1:-1] in heat
    report = (out / "report.html").read_text(encoding="utf-8")  # the leaders' page: redacted by default
    assert re.search(r"1[3-9]\d{9}", report) is None and "示意数据（非测绘边界）" in report
    summary = json.loads((out / "import-summary.json").read_text(encoding="utf-8"))
    assert summary["read"] == summary["accepted"] + summary["duplicates"] + summary["quarantined"]
    board = (out / "scoreboard.html").read_text(encoding="utf-8")  # shared: cadre names masked, no phone
    assert re.search(r"1[3-9]\d{9}", board) is None and "示意数据" in board
    header = (out / "scoreboard.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("社区编码,名称,网格数,问题数")
    assert (out / "scoreboard.xlsx").read_bytes()[:2] == b"PK"
    checklist = (out / "spotcheck.csv").read_text(encoding="utf-8-sig").splitlines()
    assert checklist[0].startswith("no,stratum,report_id") and len(checklist) == 13


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _check_street_and_route_outputs(out: Path) -> None:
    """The demo's street, route and level files against an independent run on the layers it wrote."""
    from gridmap.analysis.coverage import sweep_coverage
    from gridmap.analysis.route import route_stops
    from gridmap.crs import metric_crs

    from test_scoreboard_levels import _brute_counts

    layers = {name: gpd.read_file(out / "gulou-sample.gpkg", layer=name)
              for name in ("grids", "tracks", "targets", "streets", "areas")}
    result = sweep_coverage(layers["grids"], layers["tracks"], targets=layers["targets"], streets=layers["streets"],
                            areas=layers["areas"])
    crs = metric_crs(layers["grids"])
    streets = _csv_rows(out / "street-coverage.csv")
    # one row per street in the layer's order; each length the street's own length in the metric CRS
    assert [r["street_name"] for r in streets] == list(layers["streets"]["street_name"])
    lengths = layers["streets"].to_crs(crs).length.to_numpy()
    assert [float(r["length_m"]) for r in streets] == pytest.approx(list(lengths), rel=1e-6)
    covered = [float(r["covered_m"]) for r in streets]
    assert sum(covered) == pytest.approx(float(result.streets["covered_m"].sum()), rel=1e-9)
    assert all(0 <= c <= length + 1e-6 for c, length in zip(covered, lengths))
    # the dead stretches: each lies on its street and is at least 20 m long (within 5 cm: GeoJSON keeps 7 decimals
    # of a degree, at most about 1.1 cm here)
    stretches = gpd.read_file(out / "dead-stretches.geojson")
    assert len(stretches) == len(result.dead_stretches) == sum(int(r["dead_stretches"]) for r in streets)
    by_name = dict(zip(layers["streets"]["street_name"], layers["streets"].to_crs(crs).geometry))
    for name, line in zip(stretches["street_name"], stretches.to_crs(crs).geometry):
        assert by_name[name].buffer(0.05).contains(line) and line.length >= 20 - 0.05
    # the route: the grid with the most stops, every stop once, in the order of the GPX and the checklist
    counts = {code: len(route_stops(result, code)) for code in result.grids["grid_code"]}
    checklist = _csv_rows(out / "route.csv")
    ids = [r["点位"] for r in checklist]
    assert len(ids) == max(counts.values()) > 0 and [int(r["顺序"]) for r in checklist] == list(range(1, len(ids) + 1))
    busiest = [code for code, n in counts.items() if n == len(ids)]
    assert sorted(ids) == sorted(route_stops(result, busiest[0])["stop_id"])
    gpx = (out / "route.gpx").read_text(encoding="utf-8")
    assert re.findall(r"<rtept[^>]*>\s*<name>([^<]*)</name>", gpx) == [f"{i}. {s}" for i, s in enumerate(ids, 1)]
    assert f"gridmap route {busiest[0]} (示意数据)" in gpx
    legs = [float(r["本段步行(米)"]) for r in checklist]
    assert float(checklist[-1]["累计(米)"]) == pytest.approx(sum(legs), abs=0.1 * len(legs))
    # the scoreboards by street and by area: the reports of the week counted by brute force
    for by, key, count in (("street", "街道名称", "问题数"), ("area", "片区编码", "问题数")):
        rows = _csv_rows(out / f"scoreboard-{by}.csv")
        expected, _ = _brute_counts(out / "gulou-sample.gpkg", by)
        assert {r[key]: int(r[count]) for r in rows if int(r[count])} == expected, by


def test_a_reader_that_goes_away_ends_the_command_quietly(sample_ws: Path) -> None:
    """``gridmap info WS | head -0``: the pipe is closed before anything is written; exit 141, stderr empty."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "gridmap", "info", str(sample_ws)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the interpreter has started: every write meets a closed pipe
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert err == ""


@pytest.mark.parametrize(("command", "names"), [
    (["report", "--html", "p.html", "--online"], ("--from", "--to")),
    (["coverage"], ("--from", "--to")),
    (["heatmap", "--png", "h.png"], ("--from", "--to")),
    (["scoreboard"], ("--from", "--to")),
    (["route", "--grid", "610802001001001"], ("--since", "--until")),
])
@pytest.mark.parametrize(("first", "last"), [("2025-03-10", "2025-03-03"), ("2025-03-10", "2025-03-10"),
                                             ("2025-03-10 08:00", "2025-03-10")])
def test_an_empty_period_is_refused_by_every_command(sample_ws: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str], command: list[str],
                                                     names: tuple[str, str], first: str, last: str) -> None:
    # "2025-03-10" is midnight (Asia/Shanghai), so 08:00 that day is after it: [start, end) holds nothing
    before = sample_ws.stat().st_mtime_ns
    words = [command[0], str(sample_ws), *command[1:], names[0], first, names[1], last]
    assert main([w.replace("p.html", str(tmp_path / "p.html")).replace("h.png", str(tmp_path / "h.png"))
                 for w in words]) == 2
    err = capsys.readouterr().err
    assert f"the period is empty: {names[0]} {first} is not before {names[1]} {last}" in err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir()) and sample_ws.stat().st_mtime_ns == before  # nothing written


def test_a_one_day_period_is_not_refused(sample_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", str(sample_ws), "--from", "2025-03-03", "--to", "2025-03-04"]) == 0
    assert "the period is empty" not in capsys.readouterr().err
