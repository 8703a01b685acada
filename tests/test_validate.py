"""Tests of gridmap.analysis.validate: gaps, overlaps, slivers and the rest, on hand-made grids near Yulin.

The layout (metres in EPSG:4546, CGCS2000 Gauss-Kruger CM 111E, offsets from X0, Y0):

    subdistrict [0, 300] x [0, 200]
    C1 = [0, 150] x [0, 200]          C2 = [150, 300] x [0, 200]
    +----------+----------+-----------+-----------+   y = 200
    |  G2      |  G3      |  G5       |  G6       |
    +----------+----------+-----------+-----------+   y = 100
    |  G1                 |  G4                   |
    +---------------------+-----------------------+   y = 0
    x = 0      75         150         225         300

Every expected area below is plain rectangle or triangle arithmetic.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from gridmap.errors import CRSError, SchemaError
from gridmap.analysis.validate import PROBLEM_KINDS, GridCheck, validate_grids

X0, Y0 = 388800.0, 4240400.0
C1, C2, C3 = "610802001001", "610802001002", "610802001003"
G = {n: f"{C1 if n <= 3 else C2}{n:03d}" for n in range(1, 7)}


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def shifted(coords: list[tuple[float, float]]) -> Polygon:
    return Polygon([(X0 + x, Y0 + y) for x, y in coords])


BASE = {
    1: rect(0, 0, 150, 100),
    2: rect(0, 100, 75, 200),
    3: rect(75, 100, 150, 200),
    4: rect(150, 0, 300, 100),
    5: rect(150, 100, 225, 200),
    6: rect(225, 100, 300, 200),
}


def make_grids(shapes: dict[int, Polygon] | None = None, **overrides: object) -> gpd.GeoDataFrame:
    shapes = {**BASE, **(shapes or {})}
    numbers = sorted(shapes)
    frame = gpd.GeoDataFrame(
        {
            "grid_code": [G.get(n, f"{C2}{n:03d}") for n in numbers],
            "community_code": [C1 if n <= 3 else C2 for n in numbers],
            "cadre": [f"干部{n}" for n in numbers],
        },
        geometry=[shapes[n] for n in numbers],
        crs=4546,
        index=[f"r{n}" for n in numbers],
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def make_communities(with_empty: bool = False) -> gpd.GeoDataFrame:
    codes, geoms = [C1, C2], [rect(0, 0, 150, 200), rect(150, 0, 300, 200)]
    if with_empty:
        codes.append(C3)
        geoms.append(rect(300, 0, 400, 200))
    return gpd.GeoDataFrame({"community_code": codes, "name": ["一社区", "二社区", "三社区"][: len(codes)]},
                            geometry=geoms, crs=4546)


def make_subdistrict() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": ["610802001"], "name": ["鼓楼街道"]}, geometry=[rect(0, 0, 300, 200)], crs=4546)


def check(grids: gpd.GeoDataFrame, **kwargs: object) -> GridCheck:
    kwargs.setdefault("communities", make_communities())
    kwargs.setdefault("subdistrict", make_subdistrict())
    return validate_grids(grids, **kwargs)


def rows(result: GridCheck, kind: str) -> gpd.GeoDataFrame:
    return result.problems[result.problems["kind"] == kind]


# --- a clean tiling ---------------------------------------------------------------------------------

def test_clean_tiling_is_ok() -> None:
    result = check(make_grids())
    assert result.ok
    assert result.summary() == {kind: 0 for kind in PROBLEM_KINDS}
    assert result.to_dict() == {"ok": True, "problems": [], "checks_run": list(PROBLEM_KINDS), "checks_skipped": [],
                                "territory": "subdistrict"}
    assert list(result.problems.columns) == ["kind", "grids", "area_m2", "detail", "geometry"]
    assert result.problems.crs.to_epsg() == 4326
    assert result.crs.to_epsg() == 4546


# --- each kind ---------------------------------------------------------------------------------------

def test_gap_pieces_with_touching_grids() -> None:
    hole_ring = shifted([(250, 140), (260, 140), (260, 150), (250, 150)]).exterior.coords
    g6_with_hole = Polygon(BASE[6].exterior.coords, [hole_ring])
    result = check(make_grids({1: rect(0, 0, 150, 90), 6: g6_with_hole}))
    gaps = rows(result, "gap").sort_values("area_m2", ascending=False)
    assert result.summary() == {**{k: 0 for k in PROBLEM_KINDS}, "gap": 2}
    strip, hole = gaps.iloc[0], gaps.iloc[1]
    assert strip.area_m2 == pytest.approx(150 * 10, rel=1e-3)
    assert strip.grids == [G[1], G[2], G[3], G[4]]  # G5 only touches the strip's corner
    assert hole.area_m2 == pytest.approx(100, rel=1e-3)
    assert hole.grids == [G[6]]
    assert "1500.0 m² inside the subdistrict is in no grid" in strip.detail
    # the location is the gap itself, in EPSG:4326
    back = gpd.GeoSeries([strip.geometry], crs=4326).to_crs(4546).iloc[0]
    assert back.area == pytest.approx(1500, rel=1e-3)
    assert back.centroid.distance(rect(0, 90, 150, 100).centroid) < 0.01


def test_overlap() -> None:
    result = check(make_grids({2: rect(0, 100, 80, 200)}))
    assert result.summary()["overlap"] == 1 and len(result.problems) == 1
    row = result.problems.iloc[0]
    assert row.grids == [G[2], G[3]]
    assert row.area_m2 == pytest.approx(5 * 100, rel=1e-3)
    assert f"grids {G[2]} and {G[3]} overlap by 500.0 m²" in row.detail


def test_outside_community_and_overlap_across_it() -> None:
    result = check(make_grids({3: rect(75, 100, 160, 200)}))
    assert result.summary() == {**{k: 0 for k in PROBLEM_KINDS}, "overlap": 1, "outside_community": 1}
    out = rows(result, "outside_community").iloc[0]
    assert out.grids == [G[3]] and out.area_m2 == pytest.approx(10 * 100, rel=1e-3)
    assert f"outside its community {C1}" in out.detail
    over = rows(result, "overlap").iloc[0]
    assert over.grids == [G[3], G[5]] and over.area_m2 == pytest.approx(1000, rel=1e-3)


def test_unknown_community_code() -> None:
    grids = make_grids()
    grids.loc["r6", "community_code"] = "610802001009"
    result = check(grids)
    out = rows(result, "outside_community")
    assert len(out) == 1 and len(result.problems) == 1
    assert out.iloc[0].grids == [G[6]] and math.isnan(out.iloc[0].area_m2)
    assert "'610802001009', which is not in the communities layer" in out.iloc[0].detail


def test_thin_and_tiny_slivers() -> None:
    g6_notched = shifted([(225, 100), (300, 100), (300, 199.5), (299.5, 199.5), (299.5, 200), (225, 200)])
    shapes = {4: rect(150, 0, 300, 99), 7: rect(150, 99, 300, 100), 6: g6_notched, 8: rect(299.5, 199.5, 300, 200)}
    grids = make_grids(shapes)
    grids["community_code"] = [C1, C1, C1, C2, C2, C2, C2, C2]
    result = check(grids)
    assert result.summary() == {**{k: 0 for k in PROBLEM_KINDS}, "sliver": 2}
    slivers = rows(result, "sliver").set_index(rows(result, "sliver").grids.str[0])
    thin = slivers.loc[f"{C2}007"]
    assert thin.area_m2 == pytest.approx(150, rel=1e-3)
    compactness = 4 * math.pi * 150 / (2 * 151) ** 2  # 0.0207
    assert f"compactness 4πA/P² = {compactness:.3f}" in thin.detail
    tiny = slivers.loc[f"{C2}008"]
    assert tiny.area_m2 == pytest.approx(0.25, rel=1e-3)
    assert "is tiny: 0.25 m²" in tiny.detail


def test_sliver_thresholds_are_options() -> None:
    result = check(make_grids(), sliver_m2=20000.0)  # G1 and G4 are 15000 m²: every grid is now "tiny"
    assert sorted(c for r in rows(result, "sliver").grids for c in r) == sorted(G.values())
    wide = 4 * math.pi * 150 * 100 / (2 * 250) ** 2  # 0.754 for G1 and G4
    narrow = 4 * math.pi * 75 * 100 / (2 * 175) ** 2  # 0.769 for the others
    result = check(make_grids(), sliver_ratio=(wide + narrow) / 2)
    assert sorted(r[0] for r in rows(result, "sliver").grids) == [G[1], G[4]]
    assert len(rows(check(make_grids(), sliver_ratio=wide - 0.001), "sliver")) == 0


def test_bow_tie_is_reported_invalid_and_checked_as_repaired() -> None:
    bow_tie = shifted([(0, 0), (150, 100), (150, 0), (0, 100), (0, 0)])
    result = check(make_grids({1: bow_tie}))
    invalid = rows(result, "invalid")
    assert len(invalid) == 1 and invalid.iloc[0].grids == [G[1]]
    assert "Self-intersection" in invalid.iloc[0].detail
    assert math.isnan(invalid.iloc[0].area_m2)
    # repaired, the bow-tie keeps its two side triangles (2 x 3750 m²): the top and bottom ones are gaps
    gaps = rows(result, "gap")
    assert gaps.area_m2.sum() == pytest.approx(2 * 150 * 50 / 2, rel=1e-3)
    assert len(rows(result, "overlap")) == 0


def test_missing_geometry_is_invalid_not_a_crash() -> None:
    grids = make_grids()
    grids.loc["r5", "geometry"] = None
    result = check(grids)
    assert rows(result, "invalid").iloc[0].grids == [G[5]]
    assert "no geometry" in rows(result, "invalid").iloc[0].detail
    assert rows(result, "gap").area_m2.iloc[0] == pytest.approx(75 * 100, rel=1e-3)


def test_no_cadre() -> None:
    grids = make_grids()
    grids["cadre"] = grids["cadre"].astype(object)
    grids.loc["r2", "cadre"] = None
    grids.loc["r3", "cadre"] = ""
    grids.loc["r5", "cadre"] = " \t"
    result = check(grids)
    assert [r[0] for r in rows(result, "no_cadre").grids] == [G[2], G[3], G[5]]
    assert len(result.problems) == 3
    assert "has no responsible cadre" in rows(result, "no_cadre").iloc[0].detail
    no_column = check(make_grids().drop(columns="cadre"))
    assert len(rows(no_column, "no_cadre")) == 6


def test_empty_community() -> None:
    result = check(make_grids(), communities=make_communities(with_empty=True))
    empty = rows(result, "empty_community")
    assert len(result.problems) == 1 and len(empty) == 1
    assert empty.iloc[0].grids == [] and f"community {C3} has no grid" in empty.iloc[0].detail
    where = gpd.GeoSeries([empty.iloc[0].geometry], crs=4326).to_crs(4546).iloc[0]
    assert where.area == pytest.approx(100 * 200, rel=1e-3)


def test_gaps_inside_communities_without_subdistrict() -> None:
    grids = make_grids().drop(index="r6")
    result = validate_grids(grids, communities=make_communities())
    gap = rows(result, "gap")
    assert len(gap) == 1 and gap.iloc[0].area_m2 == pytest.approx(75 * 100, rel=1e-3)
    assert sorted(gap.iloc[0].grids) == [G[4], G[5]]
    assert "inside the communities" in gap.iloc[0].detail


def test_no_grids_at_all() -> None:
    empty = make_grids().iloc[0:0]
    result = check(empty)
    assert result.summary() == {**{k: 0 for k in PROBLEM_KINDS}, "gap": 1, "empty_community": 2}
    assert rows(result, "gap").area_m2.iloc[0] == pytest.approx(300 * 200, rel=1e-3)
    assert rows(result, "gap").grids.iloc[0] == []


def test_without_communities_or_subdistrict_only_grid_checks() -> None:
    result = validate_grids(make_grids({1: rect(0, 0, 150, 90), 2: rect(0, 100, 80, 200)}))
    assert result.summary() == {**{k: 0 for k in PROBLEM_KINDS}, "overlap": 1}


# --- inputs, CRS, outputs ----------------------------------------------------------------------------

def broken_grids() -> gpd.GeoDataFrame:
    grids = make_grids({1: rect(0, 0, 150, 90), 3: rect(75, 100, 160, 200)})
    grids["cadre"] = grids["cadre"].astype(object)
    grids.loc["r2", "cadre"] = None
    return grids


def test_inputs_are_not_modified() -> None:
    grids, communities, sub = broken_grids(), make_communities(True), make_subdistrict()
    copies = grids.copy(), communities.copy(), sub.copy()
    result = validate_grids(grids, communities=communities, subdistrict=sub)
    assert not result.ok
    for frame, copy in zip((grids, communities, sub), copies):
        assert_geodataframe_equal(frame, copy)


def test_to_dict_is_json() -> None:
    result = check(broken_grids(), communities=make_communities(True))
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert data["ok"] is False
    assert len(data["problems"]) == len(result.problems)
    kinds = {p["kind"] for p in data["problems"]}
    assert kinds == {"gap", "overlap", "outside_community", "no_cadre", "empty_community"}
    for problem in data["problems"]:
        assert set(problem) == {"kind", "grids", "area_m2", "detail", "lon", "lat"}
        assert 109.7 < problem["lon"] < 109.8 and 38.2 < problem["lat"] < 38.4
    assert any(p["area_m2"] is None for p in data["problems"] if p["kind"] == "no_cadre")
    gap = next(p for p in data["problems"] if p["kind"] == "gap")
    assert gap["area_m2"] == pytest.approx(1500, rel=1e-3)


def test_wgs84_inputs_give_the_same_areas() -> None:
    metric = check(broken_grids())
    geographic = validate_grids(broken_grids().to_crs(4326), communities=make_communities().to_crs(4326),
                                subdistrict=make_subdistrict().to_crs(4326))
    assert geographic.summary() == metric.summary()
    for kind, expected in (("gap", 1500), ("overlap", 1000), ("outside_community", 1000)):
        assert rows(geographic, kind).area_m2.iloc[0] == pytest.approx(expected, rel=1e-3)
        assert rows(metric, kind).area_m2.iloc[0] == pytest.approx(expected, rel=1e-3)


def test_mixed_crs_inputs() -> None:
    result = validate_grids(make_grids().to_crs(3857), communities=make_communities().to_crs(4326),
                            subdistrict=make_subdistrict())
    assert result.ok, result.problems


def test_workspace_layers_from_a_geopackage(tmp_path) -> None:
    path = tmp_path / "ws.gpkg"
    broken_grids().to_file(path, layer="grids", engine="pyogrio")
    make_communities(True).to_file(path, layer="communities", engine="pyogrio")
    make_subdistrict().to_file(path, layer="subdistrict", engine="pyogrio")

    class GeoPackage:
        def read_layer(self, name: str) -> gpd.GeoDataFrame:
            return gpd.read_file(path, layer=name, engine="pyogrio")

    from_file = validate_grids(workspace=GeoPackage())
    direct = check(broken_grids(), communities=make_communities(True))
    assert from_file.summary() == direct.summary()
    assert rows(from_file, "gap").area_m2.iloc[0] == pytest.approx(1500, rel=1e-3)
    # a frame given explicitly wins over the workspace's layer
    assert validate_grids(make_grids(), workspace=GeoPackage(), communities=make_communities()).ok


def test_refusals() -> None:
    with pytest.raises(CRSError, match="the grids layer has no coordinate reference system"):
        validate_grids(gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[box(0, 0, 1, 1)]))
    with pytest.raises(CRSError, match="the communities layer has no coordinate reference system"):
        validate_grids(make_grids(), communities=make_communities().set_crs(None, allow_override=True))
    with pytest.raises(SchemaError, match=r"pass grids=<GeoDataFrame> or workspace="):
        validate_grids()
    with pytest.raises(SchemaError, match=r"the grids layer has no 'grid_code' column.*rename"):
        validate_grids(make_grids().rename(columns={"grid_code": "code"}))
    with pytest.raises(SchemaError, match=r"the grids layer has no 'community_code' column"):
        validate_grids(make_grids().drop(columns="community_code"), communities=make_communities())
    with pytest.raises(SchemaError, match="sliver_m2 must be a finite number >= 0"):
        validate_grids(make_grids(), sliver_m2=-1)


# --- a property: remove one strip of a random tiling, find exactly that gap ------------------------------

@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(5.0, 295.0), min_size=2, max_size=6, unique=True), st.data())
def test_removed_strip_is_the_only_gap(cuts: list[float], data: st.DataObject) -> None:
    xs = [0.0, *sorted(cuts), 300.0]
    if min(b - a for a, b in zip(xs, xs[1:])) < 5.0:
        return  # strips narrower than 5 m would (rightly) also be slivers
    strips = [rect(a, 0, b, 200) for a, b in zip(xs, xs[1:])]
    drop = data.draw(st.integers(0, len(strips) - 1))
    kept = [i for i in range(len(strips)) if i != drop]
    grids = gpd.GeoDataFrame({"grid_code": [f"g{i}" for i in kept], "cadre": ["某人"] * len(kept)},
                             geometry=[strips[i] for i in kept], crs=4546)
    result = validate_grids(grids, subdistrict=make_subdistrict())
    gaps = rows(result, "gap")
    assert len(result.problems) == len(gaps) == 1
    assert gaps.area_m2.iloc[0] == pytest.approx((xs[drop + 1] - xs[drop]) * 200, rel=1e-3)
    assert sorted(gaps.grids.iloc[0]) == sorted(f"g{i}" for i in (drop - 1, drop + 1) if 0 <= i < len(strips))


# --- which checks ran ---------------------------------------------------------------------------------

def test_grids_alone_say_the_gap_and_community_checks_were_skipped() -> None:
    result = validate_grids(make_grids())
    assert result.ok
    assert result.checks_run == ["invalid", "overlap", "sliver", "no_cadre"]
    skipped = {s["check"]: s["reason"] for s in result.checks_skipped}
    assert set(skipped) == {"gap", "outside_community", "empty_community"}
    assert "territory='union'" in skipped["gap"] and "--territory union" in skipped["gap"]
    assert skipped["outside_community"] == "no communities layer"
    assert result.territory is None
    assert result.to_dict()["checks_skipped"] == result.checks_skipped


def test_union_territory_finds_a_hole_enclosed_by_grids() -> None:
    hole = rect(40, 40, 60, 55)  # 20 m x 15 m cut out of G1
    grids = make_grids({1: rect(0, 0, 150, 100).difference(hole)})
    skipped = validate_grids(grids)
    assert skipped.ok and "gap" not in skipped.checks_run  # without a territory the hole is not looked for
    found = validate_grids(grids, territory="union")
    assert found.territory == "the outline of the grids' union"
    assert "gap" in found.checks_run and [s["check"] for s in found.checks_skipped] == [
        "outside_community", "empty_community"]
    gaps = rows(found, "gap")
    assert len(gaps) == 1 and gaps.iloc[0].area_m2 == pytest.approx(hole.area, rel=1e-9)
    assert gaps.iloc[0].grids == [G[1]]


def test_union_territory_changes_nothing_with_a_subdistrict() -> None:
    grids = make_grids({1: rect(0, 0, 150, 90)})
    assert check(grids, territory="union").to_dict() == check(grids).to_dict()


def test_unknown_territory_is_refused() -> None:
    with pytest.raises(SchemaError, match="territory must be None or 'union'"):
        validate_grids(make_grids(), territory="outline")


def test_clean_grids_then_a_planted_gap_and_overlap_measured_against_shapely() -> None:
    clean = check(make_grids())
    assert clean.checks_run == list(PROBLEM_KINDS) and clean.checks_skipped == [] and len(clean.problems) == 0
    g3 = shifted([(75, 100), (150, 100), (150, 200), (75, 200), (60, 150)])  # pushes into G2
    g5 = rect(150, 100, 225, 180)  # leaves a strip uncovered
    planted = make_grids({3: g3, 5: g5})
    result = check(planted)
    assert result.summary()["gap"] == 1 and result.summary()["overlap"] == 1
    union = shapely.union_all(list(planted.geometry))
    expected_gap = make_subdistrict().geometry.iloc[0].difference(union).area
    expected_overlap = g3.intersection(BASE[2]).area
    assert rows(result, "gap").iloc[0].area_m2 == pytest.approx(expected_gap, rel=1e-9)
    overlap = rows(result, "overlap").iloc[0]
    assert overlap.area_m2 == pytest.approx(expected_overlap, rel=1e-9)
    assert sorted(overlap.grids) == sorted([G[2], G[3]])
