"""``read_window`` by subdistrict, by keys and with a row limit (issue 14: "one subdistrict, pushed down to SQL").

Every answer of a store is compared with the whole layer (``read_layer``) filtered here by brute force, in
plain pandas and shapely (not gridmap's own rule, :func:`gridmap.storage.base.window_mask`): same rows, in
insertion order, same columns, dtypes and CRS. The illustrative sample holds one subdistrict (610802001); the
fixture adds a second one (610802002, east of it: a community, an area, grids, reports, rectifications, spot
checks, targets, tracks, a street and a demolition zone) and rows of no subdistrict (a report outside every grid,
tracks far away, one just past the new grids' extent), so that a filter returning everything, or nothing, fails.
Each test runs on the GeoPackage and on its PostGIS copy (marked ``postgis``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, box

import _postgis
import gridmap
from gridmap.errors import SchemaError
from gridmap.model import LAYERS
from gridmap.storage.copy import copy_workspace

TZ = "Asia/Shanghai"
SAMPLE = "610802001"
OTHER = "610802002"
NOBODY = "610802999"  # a well-formed code without any row
CODE_COLUMN = {"subdistrict": "code", "communities": "community_code", "grids": "grid_code", "areas": "area_code",
               "reports": "grid_code", "targets": "grid_code"}
REPORT_LAYERS = ("rectifications", "spotchecks")
CODELESS = ("tracks", "streets", "wall", "demolition_zones")
SINGLE_KEY = {"subdistrict": "code", "communities": "community_code", "grids": "grid_code", "areas": "area_code",
              "streets": "street_name", "wall": "name", "demolition_zones": "zone_id", "targets": "target_id",
              "reports": "report_id"}
X0, X1, Y0, Y1 = 109.80, 109.82, 38.27, 38.29  # the second subdistrict's grids cover this box exactly


def frame(rows: dict[str, list], geometry: list | None = None) -> pd.DataFrame:
    data = pd.DataFrame(rows)
    return data if geometry is None else gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326")


def at(*times: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(times), format="ISO8601")).dt.tz_localize(TZ)


def poly(x0: float, y0: float, x1: float, y1: float) -> MultiPolygon:
    return MultiPolygon([box(x0, y0, x1, y1)])


def second_subdistrict() -> dict[str, pd.DataFrame]:
    """The rows of subdistrict 610802002 and rows of none, by layer (appended after the sample's)."""
    xm = (X0 + X1) / 2
    return {
        "subdistrict": frame({"code": [OTHER], "name": ["新明楼街道"]}, [poly(X0, Y0, X1, Y1)]),
        "communities": frame({"community_code": [OTHER + "001"], "name": ["东山社区"]}, [poly(X0, Y0, X1, Y1)]),
        "grids": frame({"grid_code": [OTHER + "001001", OTHER + "001002"], "name": ["东山1", "东山2"],
                        "community_code": [OTHER + "001"] * 2, "area_code": [OTHER + "A1"] * 2},
                       [poly(X0, Y0, xm, Y1), poly(xm, Y0, X1, Y1)]),
        "areas": frame({"area_code": [OTHER + "A1"], "name": ["东片区"]}, [poly(X0, Y0, X1, Y1)]),
        "targets": frame({"target_id": ["T-E1", "T-E2"], "kind": ["courtyard", "vacant_lot"],
                          "grid_code": [OTHER + "001001", None]}, [Point(X0 + 0.001, Y0 + 0.001), Point(110.5, 39)]),
        "reports": frame({"report_id": ["E001", "E002", "E003", "E004", "X001"],
                          "reported_at": at("2025-03-04 09:00", "2025-03-05 10:00", "2025-06-01 08:00",
                                            "2025-12-30 23:59:59", "2025-03-04 12:00"),
                          "category": ["garbage_dumping"] * 5,
                          "grid_code": [OTHER + "001001", OTHER + "001002", OTHER + "001001", OTHER + "001002",
                                        None]},
                         [Point(X0 + 0.002, Y0 + 0.002), Point(X1 - 0.002, Y0 + 0.003), Point(X0 + 0.004, Y1 - 0.004),
                          Point(X1 - 0.001, Y1 - 0.001), Point(110.5, 39.0)]),
        "rectifications": frame({"report_id": ["E001", "E002", "E002", "X001", "ZZZ"],
                                 "rectified_at": at("2025-03-05 09:00", "2025-03-06 09:00", "2025-03-09 09:00",
                                                    "2025-03-05 09:00", "2025-03-05 09:00")}),
        "spotchecks": frame({"report_id": ["E001", "E002", "X001"],
                             "checked_at": at("2025-03-07 09:00", "2025-03-10 09:00", "2025-03-07 09:00"),
                             "result": ["verified", "reopened", "verified"]}),
        "tracks": frame({"inspector": ["东山巡查员"] * 6,
                         "time": at("2025-03-04 08:00", "2025-03-04 08:01", "2025-03-04 08:02", "2025-03-04 08:03",
                                    "2025-03-04 08:04", "2025-03-04 08:05")},
                        [Point(X0 + 0.001, Y0 + 0.001), Point(X1, Y0 + 0.01),  # inside; on the extent's edge
                         Point(X1 + 1e-9, Y0 + 0.01), Point(111.0, 40.0),  # just past the edge; far away
                         Point(X1 - 0.001, Y1 - 0.001), Point(X0, Y1)]),  # inside; on the extent's corner
        "streets": frame({"street_name": ["东山路", "远方路"]},
                         [MultiLineString([LineString([(X0 - 0.01, Y0 + 0.01), (X0 + 0.01, Y0 + 0.01)])]),
                          MultiLineString([LineString([(111.0, 40.0), (111.1, 40.1)])])]),
        "demolition_zones": frame({"zone_id": ["DZ-E1", "DZ-E2"], "name": ["东山拆迁片区1", "东山拆迁片区2"],
                                   "status": ["pending"] * 2},  # beside the grids (not meeting them); in them
                                  [poly(X1 + 1e-7, Y0, X1 + 0.01, Y1),
                                   poly(X0 + 0.001, Y0 + 0.001, X0 + 0.003, Y0 + 0.003)]),
    }


@pytest.fixture(scope="module")
def gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("window-more") / "two.gpkg"
    with gridmap.init_workspace(path, sample=True) as ws:
        for name, rows in second_subdistrict().items():
            summary = ws.append(name, rows, source="second subdistrict")
            assert summary.accepted == len(rows), summary.describe()
    return path


@pytest.fixture(scope="module")
def pg_url(gpkg: Path) -> Iterator[str]:
    """The two-subdistrict workspace copied into a PostGIS database of this module (tests marked postgis)."""
    for url in _postgis.postgis_database(None):
        copy_workspace(gpkg, url)
        yield url


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def location(request: pytest.FixtureRequest, gpkg: Path) -> Any:
    return gpkg if request.param == "gpkg" else request.getfixturevalue("pg_url")


_whole: dict[tuple[str, str], pd.DataFrame] = {}


def whole(location: Any, name: str) -> pd.DataFrame:
    """Layer `name` read whole (cached per location)."""
    key = (str(location), name)
    if key not in _whole:
        with gridmap.open_workspace(location) as ws:
            _whole[key] = ws.read_layer(name)
    return _whole[key].copy()


def read(location: Any, name: str, **window: Any) -> pd.DataFrame:
    with gridmap.open_workspace(location) as ws:
        return ws.read_window(name, **window)


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    want = want.reset_index(drop=True)
    if isinstance(want, gpd.GeoDataFrame):
        assert isinstance(got, gpd.GeoDataFrame)
        assert_geodataframe_equal(got, want, check_less_precise=False)
        assert got.crs == want.crs
    else:
        pd.testing.assert_frame_equal(got, want)


# -- the brute force: plain pandas and shapely ------------------------------------------------------------------


def code_of(value: Any) -> str | None:
    return value[:9] if isinstance(value, str) else None


def meets(geom: Any, bounds: tuple[float, float, float, float] | None) -> bool:
    if bounds is None or geom is None or geom.is_empty:
        return False
    minx, miny, maxx, maxy = geom.bounds
    return maxx >= bounds[0] and minx <= bounds[2] and maxy >= bounds[1] and miny <= bounds[3]


def grids_extent(location: Any, code: str) -> tuple[float, float, float, float] | None:
    grids = whole(location, "grids")
    mine = [g for c, g in zip(grids["grid_code"].astype(object), grids.geometry) if code_of(c) == code]
    if not mine:
        return None
    bounds = np.array([g.bounds for g in mine])
    return (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())


def subdistrict_keep(location: Any, name: str, rows: pd.DataFrame, code: str) -> list[bool]:
    if name in CODE_COLUMN:
        return [code_of(v) == code for v in rows[CODE_COLUMN[name]].astype(object)]
    if name in REPORT_LAYERS:
        reports = whole(location, "reports")
        ids = {r for r, g in zip(reports["report_id"], reports["grid_code"].astype(object)) if code_of(g) == code}
        return [r in ids for r in rows["report_id"]]
    extent = grids_extent(location, code)
    return [meets(g, extent) for g in rows.geometry]


def expected(location: Any, name: str, *, subdistrict: str | None = None, keys: list | None = None,
             limit: int | None = None, start: Any = None, end: Any = None, bbox: Any = None) -> pd.DataFrame:
    rows = whole(location, name)
    keep = [True] * len(rows)
    if subdistrict is not None:
        keep = [a and b for a, b in zip(keep, subdistrict_keep(location, name, rows, subdistrict))]
    if keys is not None:
        wanted = set(keys)
        keep = [a and k in wanted for a, k in zip(keep, rows[SINGLE_KEY[name]])]
    if start is not None or end is not None:
        times = rows[[c.name for c in LAYERS[name].columns if c.dtype == "datetime"][0]]
        lo = pd.Timestamp(start, tz=TZ) if start is not None else None
        hi = pd.Timestamp(end, tz=TZ) if end is not None else None
        keep = [a and not pd.isna(t) and (lo is None or t >= lo) and (hi is None or t < hi)
                for a, t in zip(keep, times)]
    if bbox is not None:
        keep = [a and meets(g, bbox) for a, g in zip(keep, rows.geometry)]
    out = rows[np.array(keep, dtype=bool)]
    return (out if limit is None else out.iloc[:limit]).reset_index(drop=True)


# -- subdistrict -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("code", [SAMPLE, OTHER, NOBODY])
def test_every_layer_by_subdistrict_is_the_filtered_layer(location: Any, name: str, code: str) -> None:
    got = read(location, name, subdistrict=code)
    want = expected(location, name, subdistrict=code)
    assert_same(got, want)
    if code == NOBODY:
        assert len(got) == 0
    elif name != "wall":  # the wall lies in the sample's subdistrict only
        assert 0 < len(got) < len(whole(location, name)), (name, code, len(got))


def test_the_fixture_puts_rows_on_both_sides_of_every_rule(location: Any) -> None:
    """What the brute force must tell apart really is there (independently of read_window)."""
    reports = whole(location, "reports")
    assert reports["grid_code"].isna().sum() == 1  # a report of no subdistrict
    tracks = expected(location, "tracks", subdistrict=OTHER)
    assert sorted(tracks["time"].dt.strftime("%H:%M")) == ["08:00", "08:01", "08:04", "08:05"]  # edge in, 1e-9 out
    assert expected(location, "demolition_zones", subdistrict=OTHER)["zone_id"].tolist() == ["DZ-E2"]
    assert expected(location, "streets", subdistrict=OTHER)["street_name"].tolist() == ["东山路"]
    assert expected(location, "rectifications", subdistrict=OTHER)["report_id"].tolist() == ["E001", "E002", "E002"]
    assert len(expected(location, "rectifications", subdistrict=SAMPLE)) == len(whole(location, "rectifications")) - 5


@pytest.mark.parametrize("code", ["6108020", "6108020010", "610802001001", "", "61080200a", "61080200１", " 610802001",
                                  610802001, ["610802001"]])
def test_a_malformed_subdistrict_is_refused(location: Any, code: Any) -> None:
    with pytest.raises(SchemaError, match=r"9-digit subdistrict code .*610802001"):
        read(location, "reports", subdistrict=code)


# -- keys --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SINGLE_KEY))
def test_every_single_key_layer_by_keys(location: Any, name: str) -> None:
    every = whole(location, name)[SINGLE_KEY[name]].tolist()
    some = every[::3][::-1]  # every third, asked in reverse: the answer keeps insertion order
    cases = {"all": every, "some": some, "none": [], "unknown": ["no such key", "R9999999"],
             "duplicates": some + some[:2] + ["no such key"], "tuple": tuple(some)}
    for label, keys in cases.items():
        got = read(location, name, keys=keys)
        assert_same(got, expected(location, name, keys=list(keys)))
        assert len(got) == {"all": len(every), "none": 0, "unknown": 0}.get(label, len(some)), label


def test_no_keys_is_an_empty_frame_with_the_layers_columns(location: Any) -> None:
    for name in ("reports", "grids", "subdistrict"):
        got = read(location, name, keys=[])
        want = whole(location, name).iloc[:0].reset_index(drop=True)
        assert list(got.columns) == list(want.columns) and len(got) == 0
        assert_same(got, want)


def test_more_keys_than_sql_variables(location: Any) -> None:
    """Thousands of keys (SQLite allows 999 or 32766 variables in one statement): none is lost."""
    every = whole(location, "reports")["report_id"].tolist()
    keys = [f"nope-{i}" for i in range(40000)] + every[1::2]
    assert_same(read(location, "reports", keys=keys), expected(location, "reports", keys=keys))


@pytest.mark.parametrize("name", ["rectifications", "spotchecks", "tracks"])
def test_keys_of_a_layer_with_a_key_of_several_columns_are_refused(location: Any, name: str) -> None:
    with pytest.raises(SchemaError, match="key of 2 columns"):
        read(location, name, keys=["E001"])


@pytest.mark.parametrize("keys, match", [("R000001", "sequence"), (b"R1", "sequence"), ([1, 2], "text"),
                                         (["R000001", None], "text"), (5, "sequence")])
def test_bad_keys_are_refused(location: Any, keys: Any, match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        read(location, "reports", keys=keys)


# -- limit -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LAYERS))
def test_limit_gives_the_first_rows_in_insertion_order(location: Any, name: str) -> None:
    n = len(whole(location, name))
    for limit in (1, 2, 7, n, n + 5):
        assert_same(read(location, name, limit=limit), expected(location, name, limit=limit))


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "3", 2.0])
def test_a_limit_that_is_not_a_positive_int_is_refused(location: Any, limit: Any) -> None:
    with pytest.raises(SchemaError, match="positive whole number"):
        read(location, "reports", limit=limit)


def test_limit_one_of_an_empty_layer_and_of_an_empty_window(location: Any) -> None:
    assert len(read(location, "reports", limit=1)) == 1
    assert_same(read(location, "reports", start="2030-01-01", limit=1), whole(location, "reports").iloc[:0])
    assert_same(read(location, "tracks", subdistrict=NOBODY, limit=1), whole(location, "tracks").iloc[:0])


def test_limit_counts_only_rows_in_the_window_not_the_index_candidates(tmp_path: Path) -> None:
    """A point 1e-9° past the box's edge is a candidate of the float32 R-tree but not in the box: a limit of 1
    must still give the first row that is in the box (the store reads on), not nothing."""
    path = tmp_path / "edge.gpkg"
    with gridmap.init_workspace(path) as ws:
        times = at("2025-03-01 08:00", "2025-03-01 08:01", "2025-03-01 08:02")
        ws.append("tracks", frame({"inspector": ["a", "a", "a"], "time": times},
                                  [Point(109.75 + 1e-9, 38.25), Point(109.7499, 38.25), Point(109.7, 38.25)]))
        got = ws.read_window("tracks", bbox=(109.6, 38.2, 109.75, 38.3), limit=1)
        assert got["time"].dt.strftime("%H:%M").tolist() == ["08:01"]
        got = ws.read_window("tracks", bbox=(109.6, 38.2, 109.75, 38.3), limit=2)
        assert got["time"].dt.strftime("%H:%M").tolist() == ["08:01", "08:02"]


# -- combinations ------------------------------------------------------------------------------------------------


COMBINATIONS = [
    ("reports", {"subdistrict": OTHER, "start": "2025-03-05", "end": "2025-12-31"}),
    ("reports", {"subdistrict": SAMPLE, "start": "2025-03-03", "end": "2025-03-10", "limit": 5}),
    ("reports", {"subdistrict": SAMPLE, "keys": ["E001", "R000001", "R000002", "X001"], "end": "2025-01-01 11:00"}),
    ("reports", {"subdistrict": OTHER, "bbox": (X0, Y0, (X0 + X1) / 2, Y1), "keys": ["E001", "E002", "E003"]}),
    ("tracks", {"subdistrict": OTHER, "start": "2025-03-04 08:01", "end": "2025-03-04 08:05"}),
    ("tracks", {"subdistrict": SAMPLE, "start": "2025-03-04 09:00", "end": "2025-03-04 12:00", "limit": 50,
                "bbox": (109.735, 38.280, 109.745, 38.290)}),
    ("tracks", {"subdistrict": SAMPLE, "bbox": (X0, Y0, X1, Y1)}),  # the sample's grids do not reach this box
    ("rectifications", {"subdistrict": OTHER, "start": "2025-03-06"}),
    ("spotchecks", {"subdistrict": SAMPLE, "start": "2025-06-01", "end": "2025-07-01", "limit": 3}),
    ("grids", {"subdistrict": OTHER, "keys": [OTHER + "001002", SAMPLE + "001001"], "limit": 1}),
    ("targets", {"subdistrict": SAMPLE, "bbox": (109.735, 38.280, 109.745, 38.290), "limit": 4}),
    ("streets", {"subdistrict": SAMPLE, "keys": ["东山路", "北大街"]}),
]


@pytest.mark.parametrize("name, window", COMBINATIONS)
def test_parts_of_a_window_combine_with_and(location: Any, name: str, window: dict[str, Any]) -> None:
    got = read(location, name, **window)
    assert_same(got, expected(location, name, **window))
    if "limit" not in window and not window.get("bbox") == (X0, Y0, X1, Y1):
        assert len(got), "a combination that finds nothing tests little"


@pytest.mark.parametrize("name, window", [("grids", {"start": "2025-01-01"}),
                                          ("rectifications", {"bbox": (0, 0, 1, 1)}),
                                          ("tracks", {"keys": ["x"], "subdistrict": SAMPLE})])
def test_a_part_the_layer_cannot_be_read_by_is_refused_even_in_company(location: Any, name: str,
                                                                       window: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        read(location, name, **window)


# -- random windows ----------------------------------------------------------------------------------------------


day = st.dates(min_value=pd.Timestamp("2024-12-20").date(), max_value=pd.Timestamp("2026-01-05").date())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), code=st.sampled_from([None, SAMPLE, OTHER, NOBODY]), limit=st.none() | st.integers(1, 60),
       start=st.none() | day, days=st.none() | st.integers(1, 120))
@example(data=None, code=OTHER, limit=1, start=None, days=None)
@example(data=None, code=SAMPLE, limit=None, start=pd.Timestamp("2025-03-01").date(), days=7)
def test_random_windows_of_reports(location: Any, data: Any, code: Any, limit: Any, start: Any, days: Any) -> None:
    every = whole(location, "reports")["report_id"].tolist() + ["no such key"]
    keys = None if data is None else data.draw(st.none() | st.lists(st.sampled_from(every), max_size=40))
    end = None if days is None else pd.Timestamp(start or "2025-01-01") + pd.Timedelta(days=days)
    window = {"subdistrict": code, "keys": keys, "limit": limit, "start": start, "end": end}
    assert_same(read(location, "reports", **window), expected(location, "reports", **window))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["rectifications", "spotchecks", "tracks"]), code=st.sampled_from([SAMPLE, OTHER]),
       limit=st.none() | st.integers(1, 500), start=st.none() | day, days=st.none() | st.integers(1, 30))
@example(name="tracks", code=OTHER, limit=3, start=pd.Timestamp("2025-03-04").date(), days=1)
def test_random_windows_of_event_layers(location: Any, name: str, code: str, limit: Any, start: Any,
                                        days: Any) -> None:
    end = None if days is None else pd.Timestamp(start or "2025-03-01") + pd.Timedelta(days=days)
    window = {"subdistrict": code, "limit": limit, "start": start, "end": end}
    assert_same(read(location, name, **window), expected(location, name, **window))


# -- the SQL -----------------------------------------------------------------------------------------------------


@pytest.mark.postgis
def test_postgis_reads_a_subdistrict_with_left_col_9(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The expression the schema's index is on: ``left(col, 9) = %s`` (and the reports' for their events)."""
    from gridmap.storage.postgis import PostgisWorkspace

    seen: list[str] = []
    real = PostgisWorkspace._fetch

    def spy(self: Any, sql: str, params: Any = (), doing: str = "read") -> list[tuple]:
        seen.append(sql)
        return real(self, sql, params, doing)

    monkeypatch.setattr(PostgisWorkspace, "_fetch", spy)
    for name, column in CODE_COLUMN.items():
        seen.clear()
        read(pg_url, name, subdistrict=OTHER)
        assert f"left({column}, 9) = %s" in seen[0]
    seen.clear()
    read(pg_url, "spotchecks", subdistrict=OTHER)
    assert "report_id IN (SELECT report_id FROM reports WHERE left(grid_code, 9) = %s)" in seen[0]
    seen.clear()
    read(pg_url, "tracks", subdistrict=OTHER, limit=1)
    assert "ST_Extent(geom)" in seen[0] and "left(grid_code, 9) = %s" in seen[0] and "LIMIT %s" in seen[0]
