"""The route's outputs: GPX, checklist CSV, the offline map, the stops of a grid and ``gridmap route`` on the sample."""

from __future__ import annotations

import re
from pathlib import Path

import defusedxml.ElementTree as DET
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from gridmap.analysis.coverage import sweep_coverage
from gridmap.analysis.route import clear_route, route_stops
from gridmap.cli import main
from gridmap.crs import from_wgs84
from gridmap.errors import SchemaError
from gridmap.io.gpx import read_gpx
from gridmap.sample import sample_boundaries, sample_tracks

Cap = pytest.CaptureFixture[str]
NS = {"g": "http://www.topografix.com/GPX/1/1"}
CRS = "EPSG:4546"
X0, Y0 = 500_000.0, 4_240_000.0
PERIOD = ["--since", "2025-03-03", "--until", "2025-03-10"]


@pytest.fixture(scope="module")
def small_route():  # type: ignore[no-untyped-def]
    streets = gpd.GeoDataFrame(geometry=[LineString([(X0, Y0), (X0 + 300, Y0)]),
                                         LineString([(X0 + 150, Y0 - 100), (X0 + 150, Y0 + 100)]),
                                         LineString([(X0 + 500, Y0), (X0 + 600, Y0)])], crs=CRS)
    stops = gpd.GeoDataFrame({"stop_id": ["a", "b", "c", "far"], "kind": ["dead_corner", "courtyard", "dead_corner",
                                                                          "dead_corner"]},
                             geometry=[Point(X0 + 290, Y0 + 8), Point(X0 + 150, Y0 + 90), Point(X0 + 60, Y0 - 3),
                                       Point(X0 + 550, Y0)], crs=CRS)
    return clear_route(streets, stops)


def test_gpx_has_the_stops_in_order_and_the_walk(small_route, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = small_route.to_gpx(tmp_path / "r.gpx")
    root = DET.parse(out).getroot()
    assert root.tag == "{http://www.topografix.com/GPX/1/1}gpx" and root.get("version") == "1.1"
    rtepts = root.findall("g:rte/g:rtept", NS)
    names = [p.find("g:name", NS).text for p in rtepts]
    assert names == [f"{o}. {s}" for o, s in zip(small_route.stops["order"], small_route.stops["stop_id"])]
    lat = np.array([float(p.get("lat")) for p in rtepts])
    lon = np.array([float(p.get("lon")) for p in rtepts])
    assert np.allclose(lon, small_route.stops["lon"], atol=1e-7)
    assert np.allclose(lat, small_route.stops["lat"], atol=1e-7)
    trkpts = root.findall("g:trk/g:trkseg/g:trkpt", NS)
    assert len(trkpts) == len(small_route.line.coords)
    # the project's own GPX reader takes the track (route points are planned, not records) and counts the stops
    read = read_gpx(out, layer="tracks")
    assert len(read.records) == len(trkpts) and read.meta["skipped_route_points"] == len(rtepts)
    assert read.records.crs.to_epsg() == 4326


def test_checklist_csv_in_both_languages(small_route, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    zh = pd.read_csv(small_route.to_csv(tmp_path / "zh.csv"), encoding="utf-8-sig", keep_default_na=False)
    assert (tmp_path / "zh.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    assert list(zh.columns) == ["顺序", "点位", "类型", "本段步行(米)", "累计(米)", "离街距离(米)", "经度(GCJ-02)",
                                "纬度(GCJ-02)", "高德地图链接", "完成 ☐"]
    assert zh["点位"].tolist() == small_route.stops["stop_id"].tolist() and zh["顺序"].tolist() == [1, 2, 3]
    assert set(zh["类型"]) == {"卫生死角", "居民院落"} and (zh["完成 ☐"] == "").all()
    en = pd.read_csv(small_route.to_csv(tmp_path / "en.csv", lang="en"), encoding="utf-8-sig")
    assert list(en.columns)[:4] == ["order", "stop", "kind", "distance to walk (m)"] and en.columns[-1] == "done ☐"
    assert np.allclose(en["distance to walk (m)"], small_route.stops["leg_m"], atol=0.05)
    assert np.allclose(en["cumulative (m)"].iloc[-1], small_route.length_m, atol=0.05)
    glon, glat = from_wgs84(small_route.stops["lon"].to_numpy(), small_route.stops["lat"].to_numpy(), "gcj02")
    assert np.allclose(en["longitude (GCJ-02)"], glon, atol=1e-6)
    assert np.allclose(en["latitude (GCJ-02)"], glat, atol=1e-6)
    for link, x, y in zip(en["Amap link"], glon, glat):
        assert link.startswith(f"https://uri.amap.com/marker?position={x:.6f},{y:.6f}&name=")


def test_small_route_by_hand(small_route) -> None:  # type: ignore[no-untyped-def]
    # from (0, 0): c at 60 (off 3), then b: back 3, 90 along, up 90 (0 off) ; then a: down 90, 140 along, off 8
    assert small_route.stops["stop_id"].tolist() == ["c", "b", "a"]
    assert small_route.stops["leg_m"].tolist() == pytest.approx([63.0, 3 + 90 + 90, 90 + 140 + 8])
    assert small_route.unreachable["stop_id"].tolist() == ["far"]


@pytest.fixture(scope="module")
def coverage():  # type: ignore[no-untyped-def]
    b = sample_boundaries()
    return sweep_coverage(b["grids"], sample_tracks(b, n_fixes=3000, days=1), targets=b["targets"])


def test_route_stops_are_the_grids_dead_corners_and_unvisited_places(coverage) -> None:  # type: ignore[no-untyped-def]
    corners, targets = coverage.dead_corners, coverage.targets
    code = corners["grid_code"].value_counts().index[0]
    stops = route_stops(coverage, code)
    mine = corners[corners["grid_code"] == code]
    places = targets[(targets["grid_code"] == code) & (targets["visited"] == False)]  # noqa: E712 - a nullable bool
    assert stops["stop_id"].tolist() == mine["corner_id"].tolist() + places["target_id"].astype(str).tolist()
    assert stops["kind"].tolist() == ["dead_corner"] * len(mine) + places["kind"].tolist()
    assert np.allclose(stops["lon"].iloc[:len(mine)], mine["lon"]) and stops.crs.to_epsg() == 4326
    with pytest.raises(SchemaError, match="--grid"):
        route_stops(coverage, "no-such-grid")


def test_route_stops_of_unknown_coverage_is_an_error() -> None:
    b = sample_boundaries()
    unknown = sweep_coverage(b["grids"], sample_tracks(b, n_fixes=300, days=1), start="2020-01-01", end="2020-01-02")
    with pytest.raises(SchemaError, match="unknown"):
        route_stops(unknown, b["grids"]["grid_code"].iloc[0])


# the command on the sample workspace


def dead_corner_counts(ws: Path, tmp_path: Path) -> pd.Series:
    table = tmp_path / "cov.csv"
    assert main(["coverage", str(ws), "--from", "2025-03-03", "--to", "2025-03-10", "--quiet",
                 "--csv", str(table)]) == 0
    return pd.read_csv(table, dtype={"grid_code": str}).set_index("grid_code")["dead_corners"]


def test_route_command_on_the_sample(sample_template: Path, tmp_path: Path, capsys: Cap) -> None:
    counts = dead_corner_counts(sample_template, tmp_path)
    code = counts.idxmax()
    gpx, csv = tmp_path / "r.gpx", tmp_path / "r.csv"
    capsys.readouterr()
    assert main(["route", str(sample_template), "--grid", code, *PERIOD, "--gpx", str(gpx), "--csv", str(csv),
                 "--lang", "en"]) == 0
    text = capsys.readouterr().out
    assert f"route for grid {code}:" in text and "street pieces joined:" in text
    table = pd.read_csv(csv, encoding="utf-8-sig")
    assert (table["kind"] == "dead corner").sum() == counts[code]
    assert table["order"].tolist() == list(range(1, len(table) + 1))
    rtepts = DET.parse(gpx).getroot().findall("g:rte/g:rtept", NS)
    assert [p.find("g:name", NS).text for p in rtepts] == [f"{o}. {s}" for o, s in zip(table["order"], table["stop"])]
    length = float(re.search(r"stops, ([\d,]+) m", text).group(1).replace(",", ""))
    assert length == pytest.approx(table["cumulative (m)"].iloc[-1], abs=1.0)


def test_route_start_in_gcj02_is_the_same_place(sample_template: Path, tmp_path: Path, capsys: Cap) -> None:
    code = dead_corner_counts(sample_template, tmp_path).idxmax()
    lon, lat = 109.7385, 38.2870
    glon, glat = from_wgs84(lon, lat, "gcj02")
    capsys.readouterr()
    assert main(["route", str(sample_template), "--grid", code, *PERIOD, "--from", f"{lon},{lat}"]) == 0
    wgs = capsys.readouterr().out
    start = f"{float(glon):.9f},{float(glat):.9f}"
    assert main(["route", str(sample_template), "--grid", code, *PERIOD, "--from", start, "--coords", "gcj02"]) == 0
    gcj = capsys.readouterr().out
    assert "from the point given" in wgs and wgs == gcj


def test_route_refusals(sample_template: Path, tmp_path: Path, capsys: Cap,
                        caplog: pytest.LogCaptureFixture) -> None:
    counts = dead_corner_counts(sample_template, tmp_path)
    capsys.readouterr()
    ws = str(sample_template)
    assert main(["route", ws, "--grid", "999", *PERIOD]) == 2
    assert "--grid '999' is not a grid" in capsys.readouterr().err
    assert main(["route", ws, "--grid", counts.index[0], "--from", "2025-03-03"]) == 2
    err = capsys.readouterr().err
    assert "LON,LAT" in err and "--since/--until" in err and "Traceback" not in err
    assert main(["route", ws, "--grid", counts.index[0], "--since", "2020-01-01", "--until", "2020-01-02"]) == 2
    assert "choose a period with fixes (--since/--until)" in capsys.readouterr().err
    assert any("--since/--until in gridmap route" in r.getMessage() for r in caplog.records)
    assert main(["route", ws, "--grid", counts.index[0], *PERIOD, "--join-tolerance", "-1"]) == 2
    assert "--join-tolerance must be a number of metres >= 0" in capsys.readouterr().err
    assert main(["route", ws, "--grid", counts.index[0], *PERIOD, "--from", "200,38"]) == 2
    assert "longitude must be within -180..180" in capsys.readouterr().err


def test_a_grid_with_nothing_to_clear(sample_template: Path, tmp_path: Path, capsys: Cap) -> None:
    from gridmap.storage import open_workspace

    with open_workspace(sample_template) as ws:
        grids, tracks, targets = (ws.read_layer(n) for n in ("grids", "tracks", "targets"))
    cov = sweep_coverage(grids, tracks, targets=targets, start="2025-03-03", end="2025-03-10")
    unvisited = cov.targets["visited"].eq(False).fillna(False).astype(bool)
    left = set(cov.dead_corners["grid_code"]) | set(cov.targets.loc[unvisited, "grid_code"])
    clear = [c for c in grids["grid_code"] if c not in left]
    assert clear, "the sample has grids with nothing left to visit"
    capsys.readouterr()
    assert main(["route", str(sample_template), "--grid", clear[0], *PERIOD]) == 0
    assert "nothing to clear" in capsys.readouterr().out


def test_route_page_content(sample_template: Path, tmp_path: Path, capsys: Cap, stand_in_assets: Path) -> None:
    code = dead_corner_counts(sample_template, tmp_path).idxmax()
    html, csv = tmp_path / "r.html", tmp_path / "r.csv"
    assert main(["route", str(sample_template), "--grid", code, *PERIOD, "--html", str(html), "--csv", str(csv)]) == 0
    page = html.read_text(encoding="utf-8")
    n = len(pd.read_csv(csv, encoding="utf-8-sig"))
    badges = re.findall(r'gm-route-stop[^>]*?(?:>|\\u003e)(\d+)(?:<|\\u003c)', page)  # in the page's JSON
    assert sorted(int(b) for b in badges) == list(range(1, n + 1))
    assert page.count("uri.amap.com/marker?position=") >= n
    assert "示意数据" in page and "清除卫生死角路线" in page


@pytest.mark.browser
def test_route_page_opens_in_chromium_without_network(sample_template: Path, tmp_path: Path, capsys: Cap) -> None:
    from _browser import offline_page, real_cache_or_skip

    real_cache_or_skip()
    code = dead_corner_counts(sample_template, tmp_path).idxmax()
    html, csv = tmp_path / "r.html", tmp_path / "r.csv"
    assert main(["route", str(sample_template), "--grid", code, *PERIOD, "--html", str(html), "--csv", str(csv)]) == 0
    n = len(pd.read_csv(csv, encoding="utf-8-sig"))
    with offline_page(html, phone=False, viewport=(1000, 700)) as s:
        s.page.wait_for_selector(".gm-route-stop", state="attached", timeout=15_000)
        numbers = s.page.evaluate("() => [...document.querySelectorAll('.leaflet-marker-icon .gm-route-stop')]"
                                  ".map(e => e.textContent)")
        lines = s.page.evaluate("() => document.querySelectorAll('path.leaflet-interactive').length")
    assert s.attempted == [] and s.errors == []
    assert sorted(int(t) for t in numbers if t.isdigit()) == list(range(1, n + 1))
    assert "▶" in numbers and lines >= 1
