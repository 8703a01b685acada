"""Streets, areas and routes end to end, with the real figures (the sweep is never replaced).

The street and area tables of the leaders' page, the briefing, the coverage map of ``gridmap coverage``, the
scoreboard by street and by area and the route page of ``gridmap route``, all on the illustrative sample, each
checked against a computation of its own:

* a street's covered length is recomputed from the GPS fixes with shapely alone: consecutive fixes of one
  inspector joined when at most 300 s apart and at most 8 m/s (the sweep's documented defaults), every fix and
  every join buffered by the 30 m radius, the union intersected with the street. The tolerance is the issue's
  exactness, 0.1 % of the street's length (the shortest sample street: about 1.3 m); the buffer's polygon (16
  segments a quarter circle) lies inside the true disc by at most 30 m x (1 - cos(pi / 64)) ~ 4 cm per crossing of
  the reach boundary, far below it;
* an area's coverage is its grids' covered area over their area (area-weighted), from the grids of the sweep.

Names of street chiefs, area leaders and cadres never appear raw on a shared page.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gridmap
from gridmap.cli import main
from gridmap.crs import metric_crs, to_wgs84
from gridmap.export.privacy import mask_name
from gridmap.pages.briefing import briefing
from gridmap.pages.report import export_html

from test_street_pages import _capture_figure, _table, _texts

START, END = "2025-03-01", "2025-04-01"
WEEK = ["--from", "2025-03-03", "--to", "2025-03-10"]
WEEK_START, WEEK_END = "2025-03-03", "2025-03-10"
RADIUS, MAX_GAP_S, MAX_SPEED, MIN_STRETCH_M = 30.0, 300.0, 8.0, 20.0


# ---------------------------------------------------------------------------------------------------------------
# independent figures
# ---------------------------------------------------------------------------------------------------------------


def _pieces(tracks: gpd.GeoDataFrame, crs: object, start: str, end: str) -> np.ndarray:
    """The walked path in pieces, metric: every fix of [start, end) (Asia/Shanghai) and every join of two
    consecutive fixes of one inspector at most MAX_GAP_S apart and at most MAX_SPEED."""
    lo, hi = pd.Timestamp(start, tz="Asia/Shanghai"), pd.Timestamp(end, tz="Asia/Shanghai")
    fixes = tracks[(tracks["time"] >= lo) & (tracks["time"] < hi)].to_crs(crs)
    fixes = fixes.assign(x=fixes.geometry.x, y=fixes.geometry.y).sort_values(["inspector", "time"], kind="stable")
    xy = fixes[["x", "y"]].to_numpy()
    seconds = (fixes["time"] - lo).dt.total_seconds().to_numpy()
    who = fixes["inspector"].to_numpy()
    gap, step = np.diff(seconds), np.hypot(*np.diff(xy, axis=0).T)
    joined = (who[1:] == who[:-1]) & (gap <= MAX_GAP_S) & ((step == 0) | ((gap > 0) & (step <= MAX_SPEED * gap)))
    joins = shapely.linestrings(np.stack([xy[:-1][joined], xy[1:][joined]], axis=1))
    return np.concatenate([shapely.points(xy), joins])


def _street_covered(streets: gpd.GeoDataFrame, tracks: gpd.GeoDataFrame, crs: object, start: str,
                    end: str) -> pd.DataFrame:
    """Per street: its length, the length of it within RADIUS of the path (the union of the pieces' buffers near
    it, by shapely), and its dead stretches: the uncovered pieces (joined where they touch) of at least
    MIN_STRETCH_M, with the shortest piece's margin to that limit."""
    pieces = _pieces(tracks, crs, start, end)
    tree = shapely.STRtree(pieces)
    metric = streets.to_crs(crs)
    covered, dead, margin = [], [], []
    for line in metric.geometry:
        near = pieces[tree.query(line, predicate="dwithin", distance=RADIUS)]
        swept = shapely.union_all(shapely.buffer(near, RADIUS, quad_segs=16))
        covered.append(line.intersection(swept).length)
        left = shapely.line_merge(line.difference(swept))
        lengths = [g.length for g in getattr(left, "geoms", [left]) if not g.is_empty]
        dead.append(sum(length >= MIN_STRETCH_M for length in lengths))
        margin.append(min((abs(length - MIN_STRETCH_M) for length in lengths), default=np.inf))
    return pd.DataFrame({"street_name": list(streets["street_name"]), "length_m": metric.length.to_numpy(),
                         "covered_m": covered, "dead": dead, "margin": margin})


def _area_figures(grids: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Per area_code: grids, area-weighted coverage and dead corners, from the sweep's grids."""
    rows = []
    for code, group in grids.dropna(subset=["area_code"]).groupby("area_code", sort=True):
        area = areas.loc[areas["area_code"] == code].iloc[0]
        rows.append({"area_code": code, "name": area["name"], "leader": area["leader"], "grids": len(group),
                     "coverage": float(group["covered_m2"].sum()) / float(group["area_m2"].sum()),
                     "dead_corners": int(group["dead_corners"].sum())})
    return pd.DataFrame(rows)


def _floor_percent(ratio: float) -> str:
    return f"{math.floor(ratio * 1000 + 1e-9) / 10:.1f} %"


def _percent(text: str) -> float:
    return float(text.replace("%", "").strip()) / 100


def _people(layers: dict) -> set[str]:
    return (set(layers["streets"]["street_chief"].dropna()) | set(layers["areas"]["leader"].dropna())
            | set(layers["grids"]["cadre"].dropna()))


@pytest.fixture(scope="module")
def layers() -> dict:
    return gridmap.sample_layers(n_reports=300, track_days=1)


@pytest.fixture(scope="module")
def result(layers: dict) -> gridmap.CoverageResult:
    return gridmap.sweep_coverage(layers["grids"], layers["tracks"], targets=layers["targets"], start=START,
                                  end=END, streets=layers["streets"], areas=layers["areas"])


@pytest.fixture(scope="module")
def brute(layers: dict) -> pd.DataFrame:
    return _street_covered(layers["streets"], layers["tracks"], metric_crs(layers["grids"]), START, END)


# ---------------------------------------------------------------------------------------------------------------
# the figures themselves
# ---------------------------------------------------------------------------------------------------------------


def test_every_street_s_covered_length_and_dead_stretches_are_the_buffer_union_s(result, brute) -> None:
    streets = result.streets
    assert list(streets["street_name"]) == list(brute["street_name"])
    assert streets["length_m"].to_numpy() == pytest.approx(brute["length_m"].to_numpy(), rel=1e-9)
    assert np.abs(streets["covered_m"].to_numpy() - brute["covered_m"].to_numpy()).max() <= \
        0.001 * brute["length_m"].min()
    # a piece within a few centimetres of 20 m could fall either side; none does on the sample
    assert brute["margin"].min() > 1.0
    assert streets["dead_stretches"].astype(int).tolist() == brute["dead"].tolist()
    assert len(result.dead_stretches) == brute["dead"].sum() > 0
    ratios = (streets["covered_m"] / streets["length_m"]).to_numpy()
    assert streets["coverage_ratio"].to_numpy() == pytest.approx(ratios)
    # the sample is neither all swept nor all missed: the check can tell streets apart
    assert 0 < brute["covered_m"].sum() < brute["length_m"].sum()
    assert (brute["covered_m"] < brute["length_m"] - 1).sum() >= 3


def test_by_area_is_the_grids_area_weighted(result, layers) -> None:
    expected = _area_figures(result.grids, layers["areas"])
    got = result.by_area.set_index("area_code").loc[expected["area_code"]]
    assert got["coverage_ratio"].to_numpy() == pytest.approx(expected["coverage"].to_numpy(), rel=1e-12)
    assert got["grids"].astype(int).tolist() == expected["grids"].tolist()
    assert got["dead_corners"].astype(int).tolist() == expected["dead_corners"].tolist()
    assert len(set(np.round(expected["coverage"], 6))) > 1  # areas differ, so a wrong grouping would show


# ---------------------------------------------------------------------------------------------------------------
# the leaders' page and the briefing
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(layers, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("page") / "report.html"
    return export_html(layers, out, start=START, end=END, offline=False).read_text(encoding="utf-8")


def test_leaders_page_area_table_is_the_area_weighted_recomputation(page, result, layers) -> None:
    rows = _table(page, "gm-areas")
    assert rows[0] == ["片区", "包片领导", "网格数", "覆盖率", "卫生死角"]
    expected = [[r.name, mask_name(r.leader), str(r.grids), _floor_percent(r.coverage), str(r.dead_corners)]
                for r in _area_figures(result.grids, layers["areas"]).itertuples()]
    assert rows[1:] == expected


def test_leaders_page_street_table_is_the_buffer_union(page, brute, layers) -> None:
    rows = _table(page, "gm-streets")[1:]
    assert sorted(r[0] for r in rows) == sorted(layers["streets"]["street_name"])
    shown = [_percent(r[3]) for r in rows]
    assert shown == sorted(shown)  # lowest first
    chiefs = dict(zip(layers["streets"]["street_name"], layers["streets"]["street_chief"]))
    truth = dict(zip(brute["street_name"], brute["covered_m"] / brute["length_m"]))
    for row in rows:
        # shown rounded down to 0.1 %; the truth within 0.1 % of the street's length of the figure
        assert _percent(row[3]) - 0.001 - 1e-9 <= truth[row[0]] < _percent(row[3]) + 0.002, row
        assert row[1] == mask_name(chiefs[row[0]])


def test_leaders_page_names_no_person(page, layers) -> None:
    raw = [p for p in _people(layers) if p in page]
    assert raw == []
    assert "街巷清扫覆盖率" in page or "街巷清扫覆盖率".encode("unicode_escape").decode() in page


def test_briefing_shows_the_areas_and_the_lowest_street_with_no_names(layers, result, brute, monkeypatch,
                                                                      tmp_path) -> None:
    figures = _capture_figure(monkeypatch)  # the drawn figure is kept; the sweep runs as it is
    briefing(layers, tmp_path / "brief.png", start=START, end=END, illustrative=True)
    texts = _texts(figures[0])
    for row in _area_figures(result.grids, layers["areas"]).itertuples():
        assert row.name in texts and _floor_percent(row.coverage) in texts
    ratio = brute["covered_m"] / brute["length_m"]
    lowest = brute.loc[ratio.idxmin()]
    assert ratio.nsmallest(2).diff().iloc[-1] > 0.002  # the lowest street is the lowest by more than the tolerance
    assert lowest["street_name"] in texts
    shown = [t for t in texts if re.fullmatch(r"\d+\.\d %", t) and abs(_percent(t) - ratio.min()) < 0.002]
    assert shown
    assert not [t for t in texts for p in _people(layers) if p in t]


# ---------------------------------------------------------------------------------------------------------------
# the commands on the sample workspace
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def week(sample_template: Path) -> dict:
    """The sample workspace's layers and its week's sweep (streets and areas), and the brute street figures."""
    with gridmap.open_workspace(sample_template) as ws:
        frames = {name: ws.read_layer(name) for name in ("grids", "tracks", "targets", "streets", "areas")}
    run = gridmap.sweep_coverage(frames["grids"], frames["tracks"], targets=frames["targets"], start=WEEK_START,
                                 end=WEEK_END, streets=frames["streets"], areas=frames["areas"])
    brute = _street_covered(frames["streets"], frames["tracks"], metric_crs(frames["grids"]), WEEK_START, WEEK_END)
    return {**frames, "result": run, "brute": brute}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_cli_coverage_map_has_the_street_layer(sample_template: Path, week: dict, tmp_path: Path,
                                               stand_in_assets: Path) -> None:
    out, streets_csv = tmp_path / "c.html", tmp_path / "s.csv"
    assert main(["coverage", str(sample_template), *WEEK, "--quiet", "--html", str(out),
                 "--streets-csv", str(streets_csv)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "街巷清扫覆盖率" in text or "街巷清扫覆盖率".encode("unicode_escape").decode() in text
    for name in week["streets"]["street_name"]:
        assert name in text or name.encode("unicode_escape").decode() in text
    assert not [p for p in _people(week) if p in text]
    stretches = week["result"].dead_stretches  # each drawn as one dashed line (maps.streets)
    assert text.count('"dashArray": "10 6"') == len(stretches) > 0
    brute = week["brute"]
    got = {r["street_name"]: float(r["covered_m"]) for r in _rows(streets_csv)}
    for name, covered, length in zip(brute["street_name"], brute["covered_m"], brute["length_m"]):
        assert got[name] == pytest.approx(covered, abs=0.001 * length)


def test_cli_scoreboard_coverage_by_street_and_area(sample_template: Path, week: dict, tmp_path: Path) -> None:
    """The coverage column (reports are counted in test_scoreboard_levels): a street's is its covered length over
    its length (the buffer union), an area's its grids' covered area over their area."""
    by_street, by_area = tmp_path / "s.csv", tmp_path / "a.csv"
    for by, out in (("street", by_street), ("area", by_area)):
        assert main(["scoreboard", str(sample_template), *WEEK, "--by", by, "--lang", "en", "--csv", str(out)]) == 0
    brute = week["brute"]
    truth = dict(zip(brute["street_name"], brute["covered_m"] / brute["length_m"]))
    streets = _rows(by_street)
    assert sorted(r["street_name"] for r in streets) == sorted(truth)
    for row in streets:  # the CSV keeps 4 decimals of the fraction
        assert float(row["coverage_ratio"]) == pytest.approx(truth[row["street_name"]], abs=0.001 + 5e-5), row
    assert brute["margin"].min() > 1.0  # no uncovered piece near the 20 m limit: the count is not a coin toss
    expected_dead = dict(zip(brute["street_name"], brute["dead"]))
    assert {r["street_name"]: int(r["dead_corners"]) for r in streets} == expected_dead
    expected = _area_figures(week["result"].grids, week["areas"]).set_index("area_code")
    areas = _rows(by_area)
    assert sorted(r["area_code"] for r in areas) == sorted(expected.index)
    for row in areas:
        assert float(row["coverage_ratio"]) == pytest.approx(expected.loc[row["area_code"], "coverage"], abs=5e-5)
        assert int(row["grids"]) == expected.loc[row["area_code"], "grids"]
        assert int(row["dead_corners"]) == expected.loc[row["area_code"], "dead_corners"]


# ---------------------------------------------------------------------------------------------------------------
# the route page in Chromium
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_route_page_numbers_its_markers_in_the_checklist_order(sample_template: Path, week: dict,
                                                               tmp_path: Path) -> None:
    """Marker k sits on the checklist's row k (its GCJ-02 position turned back to WGS84) and is named as it."""
    from _browser import offline_page, playwright_or_skip, real_cache_or_skip

    real_cache_or_skip()
    playwright_or_skip()
    counts = {code: len(gridmap.route_stops(week["result"], code)) for code in week["grids"]["grid_code"]}
    code = max(counts, key=lambda c: counts[c])
    assert counts[code] >= 3
    html, table = tmp_path / "r.html", tmp_path / "r.csv"
    assert main(["route", str(sample_template), "--grid", code, "--since", WEEK_START, "--until", WEEK_END,
                 "--html", str(html), "--csv", str(table), "--lang", "en"]) == 0
    rows = _rows(table)
    with offline_page(html, phone=False, viewport=(1000, 700)) as s:
        s.page.wait_for_selector(".gm-route-stop", state="attached", timeout=15_000)
        markers = s.page.evaluate("""() => {
            const map = Object.values(window).find(v => v instanceof L.Map);
            const out = [];
            map.eachLayer(l => {
                const html = l.options && l.options.icon && l.options.icon.options.html;
                if (!html || !l.getLatLng) return;
                const div = document.createElement('div'); div.innerHTML = html;
                const tip = document.createElement('div');
                const content = l.getTooltip() ? l.getTooltip().getContent() : '';
                if (typeof content === 'string') { tip.innerHTML = content; } else { tip.appendChild(content); }
                out.push({n: div.textContent.trim(), lat: l.getLatLng().lat, lon: l.getLatLng().lng,
                          tip: tip.textContent});
            });
            return out;
        }""")
    assert s.attempted == [] and s.errors == []
    numbered = sorted((m for m in markers if m["n"].isdigit()), key=lambda m: int(m["n"]))
    assert [int(m["n"]) for m in numbered] == list(range(1, len(rows) + 1))
    lon, lat = to_wgs84(np.array([float(r["longitude (GCJ-02)"]) for r in rows]),
                        np.array([float(r["latitude (GCJ-02)"]) for r in rows]), "gcj02")
    for k, marker in enumerate(numbered):
        nearest = int(np.argmin(np.hypot(np.asarray(lon) - marker["lon"], np.asarray(lat) - marker["lat"])))
        assert nearest == k, marker  # the marker numbered k + 1 is the checklist's row k + 1, and no other
        # 6 decimals in the page and in the CSV, and the GCJ-02 inversion: within 2e-5 degrees (about 2 m)
        assert abs(marker["lon"] - lon[k]) < 2e-5 and abs(marker["lat"] - lat[k]) < 2e-5
        assert marker["tip"].strip() == f"{k + 1}. {rows[k]['stop']}"
