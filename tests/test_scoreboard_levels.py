"""The scoreboard by street (街长包街) and by area (领导包片), counted by hand and against brute force.

The hand-made case of test_scoreboard (reports r0..r8, their fixes and spot checks), plus:

* streets: 东西街 along latitude 38.2905 (r1, r4 lie on it, r0 the week before too), 南北路 along longitude
  109.7310 (r3, r7 on it), 乙街 along latitude 38.2911 near B1 (r8 about 11 m away) and 空街 far from every
  report; r2, r5, r6 lie more than 40 m from any street, and r9 (added, outside every grid) too;
* areas: grid A1 names area AR1, B1 names AR2, A2 names none but lies in AR1's polygon; AR3 holds nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

import gridmap
from gridmap.analysis.supervision import SCOREBOARD_COLUMNS, Rules, scoreboard, weekly_figures
from gridmap.cli import main
from gridmap.crs import metric_crs
from gridmap.errors import GridmapError, SchemaError
from gridmap.formatting import format_percent

from test_scoreboard import A1, B1, END, START, hand_made_layers

TZ = "Asia/Shanghai"


def _layers() -> dict[str, object]:
    layers = hand_made_layers()
    grids = layers["grids"].copy()  # type: ignore[union-attr]
    grids["area_code"] = grids["grid_code"].map({A1: "AR1", B1: "AR2"})
    layers["grids"] = grids
    reports = layers["reports"]
    far = gpd.GeoDataFrame({"report_id": ["r9"], "reported_at": [pd.Timestamp("2025-03-05 08:00", tz=TZ)],
                            "category": ["garbage_dumping"], "description": "", "source": "app",
                            "status": "reported", "grid_code": [None], "photo": None},
                           geometry=[Point(109.760, 38.300)], crs=4326)
    layers["reports"] = pd.concat([reports, far], ignore_index=True)  # type: ignore[list-item]
    layers["streets"] = gpd.GeoDataFrame(
        {"street_name": ["东西街", "南北路", "乙街", "空街"], "street_chief": ["赵街长", "钱街长", "孙街长", "李街长"]},
        geometry=[LineString([(109.729, 38.2905), (109.739, 38.2905)]),
                  LineString([(109.7310, 38.289), (109.7310, 38.295)]),
                  LineString([(109.736, 38.2911), (109.738, 38.2911)]),
                  LineString([(109.700, 38.250), (109.701, 38.250)])], crs=4326)
    layers["areas"] = gpd.GeoDataFrame(
        {"area_code": ["AR1", "AR2", "AR3"], "name": ["甲片", "乙片", "丙片"], "leader": ["王五", "赵六", "周七"]},
        geometry=[box(109.729, 38.289, 109.733, 38.295), box(109.735, 38.289, 109.739, 38.293),
                  box(109.700, 38.200, 109.701, 38.201)], crs=4326)
    return layers


def _row(board: pd.DataFrame, key: str, value: str) -> pd.Series:
    rows = board[board[key] == value]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.fixture(scope="module")
def by_street() -> pd.DataFrame:
    return scoreboard(_layers(), start=START, end=END, by="street", lang="en")


def test_street_rows_are_the_streets_with_their_chiefs(by_street: pd.DataFrame) -> None:
    assert list(by_street.columns) == ["street_name", "street_chief", *SCOREBOARD_COLUMNS]
    assert sorted(by_street["street_name"]) == sorted(["东西街", "南北路", "乙街", "空街"])
    assert _row(by_street, "street_name", "乙街")["street_chief"] == "孙街长"
    # the grids each street runs through: 东西街 crosses A1 and B1, 南北路 A1 and A2, 乙街 B1, 空街 none
    assert {r.street_name: int(r.grids) for r in by_street.itertuples()} == {"东西街": 2, "南北路": 2, "乙街": 1,
                                                                             "空街": 0}


def test_street_counts_by_hand(by_street: pd.DataFrame) -> None:
    ew, ns = _row(by_street, "street_name", "东西街"), _row(by_street, "street_name", "南北路")
    # 东西街: r1 (fixed and verified, recurs r0), r4 (not fixed, 4 h of 24 waited, recurs r1)
    assert (ew["reports"], ew["rectified"], ew["verified"], ew["reopened"], ew["overdue"], ew["recurrences"]) == \
        (2, 1, 1, 0, 0, 2)
    # 南北路: r3 (its "fix" predates it: not fixed, overdue), r7 (verified by a spot check)
    assert (ns["reports"], ns["rectified"], ns["verified"], ns["overdue"], ns["recurrences"]) == (2, 1, 1, 1, 0)
    b = _row(by_street, "street_name", "乙街")
    assert (b["reports"], b["rectified"], b["overdue"]) == (1, 1, 0)
    assert _row(by_street, "street_name", "空街")["reports"] == 0
    # r2, r5, r6 and r9 are near no street
    assert by_street.attrs["unassigned_reports"] == 4 and by_street.attrs["by"] == "street"


def _street_lengths() -> dict[str, float]:
    """Each street's length in the metric CRS the sweep measures in (chosen from the grids)."""
    layers = _layers()
    streets = layers["streets"].to_crs(metric_crs(layers["grids"]))  # type: ignore[union-attr]
    return dict(zip(streets["street_name"], streets.length))


def test_street_coverage_is_the_street_s_own(by_street: pd.DataFrame) -> None:
    # the walk runs along latitude 38.291 from 109.7295 to 109.7325: it crosses 南北路 (longitude 109.7310) at a
    # right angle more than 30 m from both its ends, so it reaches 2R = 60 m of it; 东西街 lies 55 m south of it
    # (0.0005 degrees of latitude), 乙街 and 空街 far east: nothing of them
    lengths = _street_lengths()
    ns = _row(by_street, "street_name", "南北路")
    assert ns["coverage_ratio"] == pytest.approx(60.0 / lengths["南北路"], abs=0.001)
    assert ns["dead_corners"] == 2  # its dead stretches: north and south of the crossing
    for name in ("东西街", "乙街", "空街"):
        row = _row(by_street, "street_name", name)
        assert row["coverage_ratio"] == 0.0 and row["dead_corners"] == 1  # one dead stretch: the whole street
    assert by_street.attrs["unknown_parts"] == []


def test_street_score_and_rank(by_street: pd.DataFrame) -> None:
    # weights 40, 20, 30, 10 over (rectification_rate, 1 - overdue_rate, coverage_ratio, 1 - recurrence_rate)
    c = 60.0 / _street_lengths()["南北路"]
    expected = {"东西街": 40 * 0.5 + 20 * 1.0 + 30 * 0.0 + 10 * 0.0, "南北路": 40 * 0.5 + 20 * 0.5 + 30 * c + 10,
                "乙街": 70.0, "空街": 70.0}
    for name, score in expected.items():
        assert _row(by_street, "street_name", name)["score"] == pytest.approx(score, abs=0.05)
    # ties: 乙街 and 空街 (70): more reports first; then 南北路 (42.7), 东西街 (40)
    assert list(by_street["street_name"]) == ["乙街", "空街", "南北路", "东西街"]
    assert list(by_street["rank"]) == [1, 2, 3, 4]
    # the week before: r0 alone, on 东西街, fixed in 4 h, no GPS fix (coverage unknown): 东西街 first
    assert _row(by_street, "street_name", "东西街")["previous_rank"] == 1
    assert _row(by_street, "street_name", "东西街")["rank_change"] == 1 - 4


def test_street_lagging_rules(by_street: pd.DataFrame) -> None:
    # two reports per street: under min_reports (3), no rate rule applies; coverage under 80 % does
    c = format_percent(60.0 / _street_lengths()["南北路"], lang="en")
    reasons = dict(zip(by_street["street_name"], by_street["lagging_reason"]))
    assert reasons == {"东西街": "coverage_ratio 0.0 % < 80.0 %", "南北路": f"coverage_ratio {c} < 80.0 %",
                       "乙街": "coverage_ratio 0.0 % < 80.0 %", "空街": "coverage_ratio 0.0 % < 80.0 %"}
    board = scoreboard(_layers(), start=START, end=END, by="street", lang="en",
                       rules={"min_reports": 2, "min_coverage_ratio": 0.0})
    reasons = dict(zip(board["street_name"], board["lagging_reason"]))
    assert reasons["东西街"] == "rectification_rate 50.0 % < 80.0 %; recurrence_rate 100.0 % > 20.0 %"
    assert reasons["南北路"] == "rectification_rate 50.0 % < 80.0 %; overdue_rate 50.0 % > 20.0 %"
    assert reasons["乙街"] == reasons["空街"] == ""


def test_street_distance_is_configurable() -> None:
    # at 10 m, r8 (about 11 m from 乙街) is near no street; at 50 m, r2 (about 44 m from 南北路) joins 南北路
    near = scoreboard(_layers(), start=START, end=END, by="street", rules={"street_distance_m": 10.0})
    assert _row(near, "street_name", "乙街")["reports"] == 0 and near.attrs["unassigned_reports"] == 5
    assert near.attrs["rules"]["street_distance_m"] == 10.0
    far = scoreboard(_layers(), start=START, end=END, by="street", rules={"street_distance_m": 50.0})
    assert _row(far, "street_name", "南北路")["reports"] >= 3
    with pytest.raises(SchemaError, match="--street-distance"):
        Rules(street_distance_m=-1.0)


def test_area_counts_by_hand() -> None:
    board = scoreboard(_layers(), start=START, end=END, by="area", lang="en")
    assert list(board.columns) == ["area_code", "name", "leader", *SCOREBOARD_COLUMNS]
    ar1, ar2, ar3 = (_row(board, "area_code", c) for c in ("AR1", "AR2", "AR3"))
    # AR1: A1's reports by its grid (r1..r4) and A2's by the area polygon (A2 names no area): community A's
    assert (ar1["reports"], ar1["rectified"], ar1["verified"], ar1["reopened"], ar1["overdue"],
            ar1["recurrences"]) == (7, 3, 2, 1, 3, 2)
    assert (ar1["name"], ar1["leader"], int(ar1["grids"])) == ("甲片", "王五", 1)
    assert (ar2["reports"], ar2["rectified"], int(ar2["grids"])) == (1, 1, 1)
    assert (ar3["reports"], int(ar3["grids"])) == (0, 0)
    assert board.attrs["unassigned_reports"] == 1  # r9, in no grid and no area
    # coverage: an area's is its grids' together (AR1 and AR2 hold one grid each: the grid's own figure); AR3 holds
    # no grid: no data, never 0
    grids = scoreboard(_layers(), start=START, end=END, by="grid", lang="en").set_index("grid_code")
    assert ar1["coverage_ratio"] == pytest.approx(grids.loc[A1, "coverage_ratio"])
    assert ar1["dead_corners"] == grids.loc[A1, "dead_corners"]
    assert ar2["coverage_ratio"] == pytest.approx(grids.loc[B1, "coverage_ratio"])
    assert pd.isna(ar3["coverage_ratio"]) and pd.isna(ar3["dead_corners"])
    # AR1 (7 reports) breaks the rate rules; ranks as documented: AR2 and AR3 score 100, AR2 has more reports
    assert list(board["area_code"]) == ["AR2", "AR3", "AR1"]
    assert ar1["lagging"] and "rectification_rate 42.8 % < 80.0 %" in ar1["lagging_reason"]


def test_area_without_areas_layer_uses_the_grids_area_code() -> None:
    layers = _layers()
    layers["areas"] = None
    board = scoreboard(layers, start=START, end=END, by="area", lang="en")
    assert dict(zip(board["area_code"], board["reports"])) == {"AR1": 4, "AR2": 1}
    assert board["name"].isna().all() and board.attrs["unassigned_reports"] == 4


def test_missing_streets_or_areas_are_refused_with_the_fix() -> None:
    layers = _layers()
    layers["streets"] = None
    with pytest.raises(GridmapError, match="import WORKSPACE streets"):
        scoreboard(layers, start=START, end=END, by="street")
    layers = _layers()
    layers["areas"] = None
    layers["grids"] = layers["grids"].assign(area_code=None)  # type: ignore[union-attr]
    with pytest.raises(GridmapError, match="import WORKSPACE areas"):
        scoreboard(layers, start=START, end=END, by="area")


def test_a_street_named_twice_is_refused() -> None:
    layers = _layers()
    streets = layers["streets"].copy()  # type: ignore[union-attr]
    streets.loc[3, "street_name"] = "东西街"
    layers["streets"] = streets
    with pytest.raises(SchemaError, match="named twice: 东西街"):
        scoreboard(layers, start=START, end=END, by="street")


def test_layers_are_not_modified() -> None:
    layers = _layers()
    before = {k: v.copy() for k, v in layers.items() if v is not None}  # type: ignore[union-attr]
    for by in ("street", "area"):
        scoreboard(layers, start=START, end=END, by=by)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(layers[name], frame)  # type: ignore[arg-type]


def test_weekly_figures_by_street_and_area() -> None:
    w = weekly_figures(_layers(), end=END, weeks=2, by="street")
    assert list(w.columns[:2]) == ["week_start", "street_name"] and len(w) == 8
    last = w[w["week_start"] == w["week_start"].max()]
    assert dict(zip(last["street_name"], last["reports"])) == {"东西街": 2, "南北路": 2, "乙街": 1, "空街": 0}
    a = weekly_figures(_layers(), end=END, weeks=1, by="area")
    assert list(a.columns[:3]) == ["week_start", "area_code", "name"]


# ---------------------------------------------------------------------------------------------------------------
# the command on the sample workspace, against a brute-force count
# ---------------------------------------------------------------------------------------------------------------

SAMPLE_START, SAMPLE_END = "2025-03-03", "2025-03-10"


@pytest.fixture(scope="module")
def sample_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ws") / "w.gpkg"
    gridmap.init_workspace(path, sample=True).close()
    return path


def _brute_counts(path: Path, by: str, distance: float = 15.0) -> tuple[dict[str, int], int]:
    """Reports of the period per street (every report × every street, shapely, metric CRS) or per area."""
    with gridmap.open_workspace(path) as ws:
        grids, reports = ws.read_layer("grids"), ws.read_layer("reports")
        streets, areas = ws.read_layer("streets"), ws.read_layer("areas")
    start, end = pd.Timestamp(SAMPLE_START, tz=TZ), pd.Timestamp(SAMPLE_END, tz=TZ)
    chosen = reports[(reports["reported_at"] >= start) & (reports["reported_at"] < end)]
    crs = metric_crs(grids)
    points = list(chosen.to_crs(crs).geometry)
    counts: dict[str, int] = {}
    none = 0
    if by == "street":
        lines = list(zip(streets["street_name"], streets.to_crs(crs).geometry))
        for p in points:
            best = min(((p.distance(g), k) for k, (_, g) in enumerate(lines)), default=(float("inf"), -1))
            if best[0] <= distance:
                name = lines[best[1]][0]
                counts[name] = counts.get(name, 0) + 1
            else:
                none += 1
        return counts, none
    of_grid = dict(zip(grids["grid_code"], grids["area_code"]))
    polygons = list(zip(areas["area_code"], areas.to_crs(crs).geometry))
    for p, g in zip(points, chosen["grid_code"]):
        code = of_grid.get(g) if isinstance(g, str) else None
        if not isinstance(code, str):
            code = next((c for c, poly in polygons if poly.intersects(p)), None)
        if code is None:
            none += 1
        else:
            counts[code] = counts.get(code, 0) + 1
    return counts, none


@pytest.mark.parametrize("by,key", [("street", "street_name"), ("area", "area_code")])
def test_cli_scoreboard_by_street_and_area_on_the_sample(by: str, key: str, sample_workspace: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.csv"
    code = main(["scoreboard", str(sample_workspace), "--from", SAMPLE_START, "--to", SAMPLE_END, "--by", by,
                 "--lang", "en", "--csv", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"scoreboard by {by}" in printed
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    counted = {r[key]: int(r["reports"]) for r in rows}
    expected, none = _brute_counts(sample_workspace, by)
    assert {k: v for k, v in counted.items() if v} == expected and sum(expected.values()) >= 3
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    if none:
        where = "near no street" if by == "street" else "in no area"
        assert f"{none} report(s) lie {where}" in printed


def test_cli_street_distance_and_zh_headers(sample_workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.csv"
    assert main(["scoreboard", str(sample_workspace), "--from", SAMPLE_START, "--to", SAMPLE_END, "--by", "street",
                 "--street-distance", "40", "--csv", str(out)]) == 0
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:3] == ["街道名称", "街长", "网格数"]
    expected, _ = _brute_counts(sample_workspace, "street", 40.0)
    assert {r["街道名称"]: int(r["问题数"]) for r in rows if int(r["问题数"])} == expected
    area_csv = tmp_path / "a.csv"
    assert main(["scoreboard", str(sample_workspace), "--from", SAMPLE_START, "--to", SAMPLE_END, "--by", "area",
                 "--csv", str(area_csv)]) == 0
    assert area_csv.read_text(encoding="utf-8-sig").splitlines()[0].split(",")[:4] == ["片区编码", "名称", "包片领导",
                                                                                       "网格数"]


def test_cli_refuses_a_negative_street_distance(sample_workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scoreboard", str(sample_workspace), "--from", SAMPLE_START, "--to", SAMPLE_END, "--by", "street",
                 "--street-distance", "-5"])
    assert code != 0
    assert "--street-distance" in capsys.readouterr().err


def test_page_by_street_masks_the_chiefs(tmp_path: Path) -> None:
    from gridmap.pages.scoreboard import scoreboard_html

    layers = _layers()
    html = scoreboard_html(layers, tmp_path / "s.html", start=START, end=END, by="street", offline=False,
                           weeks=0).read_text(encoding="utf-8")
    assert "东西街" in html and "赵街长" not in html and gridmap.mask_name("赵街长") in html
    internal = scoreboard_html(layers, tmp_path / "i.html", start=START, end=END, by="street", offline=False,
                               weeks=0, redact=False).read_text(encoding="utf-8")
    assert "赵街长" in internal
    area = scoreboard_html(layers, tmp_path / "a.html", start=START, end=END, by="area", offline=False,
                           weeks=0).read_text(encoding="utf-8")
    assert "甲片" in area and "王五" not in area and gridmap.mask_name("王五") in area
