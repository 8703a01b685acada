"""The COPY text the PostGIS store writes (issue 14): nasty values round-trip exactly through a real server.

The store builds ``COPY ... FROM STDIN`` text a block of rows at a time (gridmap.storage.postgis._stage:
``copy_text``); a mistake in its escaping (backslash, tab, newline, carriage return, ``\\N``) or its
number and time formatting would silently change stored values. Each server test COPYs a frame into the
store's staging table, reads every value back from PostgreSQL and compares it with the input, computed
independently (the exact input text, the UTC instant floored to the millisecond from the nanoseconds,
the float's bits). Tests that need the server carry ``@pytest.mark.postgis`` and take ``postgis_url``.
"""

from __future__ import annotations

import importlib
import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from hypothesis import HealthCheck, example, given, settings, strategies as st

from gridmap.errors import SchemaError
from gridmap.model import LAYERS

stage = importlib.import_module("gridmap.storage.postgis._stage")
append = importlib.import_module("gridmap.storage.postgis._append")
sql = importlib.import_module("gridmap.storage.postgis._sql")

SERVER = settings(max_examples=40, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: Every character PostgreSQL text can hold: all but NUL (refused, see below) and lone surrogates
#: (not encodable as UTF-8, so no file can hold them); control characters included.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
NASTY = ["\\", "\\N", "\\.", "a\tb", "\r\n", "\n", "\\\\t", "中文\\N", "", "\x01\x1f\x7f\u2028", "𝄞", '"q"']
TEXTS = st.none() | st.sampled_from(NASTY) | TEXT
EPOCH_NS = (pd.Timestamp("1901-01-01", tz="UTC").value, pd.Timestamp("2200-01-01", tz="UTC").value)
#: A time as nanoseconds since the epoch, often on or next to a millisecond edge.
TIMES = st.one_of(st.integers(*EPOCH_NS),
                  st.builds(lambda ms, ns: ms * 1_000_000 + ns, st.integers(EPOCH_NS[0] // 10**6, EPOCH_NS[1] // 10**6),
                            st.sampled_from([0, 1, 999_999, 500_000, 999_000])))
FLOATS = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([-0.0, 5e-324, 0.1, 1e300])
INTS = st.none() | st.integers(-2**63, 2**63 - 1)
JSON_TEXT = st.none() | st.dictionaries(TEXT, TEXTS | st.integers(), max_size=3).map(
    lambda d: json.dumps(d, ensure_ascii=False))


def _stage_read_back(url: str, layer: str, frame: pd.DataFrame, select: str) -> list[tuple]:
    """COPY `frame` (through the store's staging) into the staging table; its rows as the server reads them."""
    import psycopg

    from gridmap.storage.url import parse_workspace_url

    staged = stage.stage_frame(LAYERS[layer], frame)
    out: list[tuple] = []
    with sql.connect(parse_workspace_url(url)) as con:
        try:
            with con.transaction():
                append.copy_stage(con, LAYERS[layer], staged.rows)
                out = con.execute(f"SELECT {select} FROM gridmap_stage ORDER BY _pos").fetchall()
                raise psycopg.Rollback()
        except psycopg.Rollback:
            pass
    return out


def _expected_text(value: Any) -> Any:
    return None if value is None else value


def _expected_float(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _same_float(got: float | None, want: float | None) -> bool:
    if want is None or got is None:
        return got is want
    return got == want and math.copysign(1, got) == math.copysign(1, want)


# ------------------------------------------------------------------------------------------ the server reads back


@pytest.mark.postgis
@SERVER
@given(st.lists(st.tuples(TEXTS, TEXTS, TIMES, st.none() | TIMES, FLOATS, INTS, JSON_TEXT), min_size=1, max_size=8))
@example([("\\N", None, 0, None, None, None, None), ("", "\\N", 999_999, 1_000_000, -0.0, -2**63, '{"a": "\\"q\\""}'),
          ("a\tb\\", "x\r\ny", -1, -999_999, float("nan"), 2**63 - 1, '{"中": "\\\\N\\t"}')])
def test_text_times_numbers_and_json_round_trip_exactly(postgis_url: str, rows: list[tuple]) -> None:
    ids = [f"{key if key is not None else ''}#{i}" for i, (key, *_) in enumerate(rows)]  # unique, never empty
    frame = pd.DataFrame({
        "report_id": ids,
        "rectified_at": pd.to_datetime([r[2] for r in rows], unit="ns", utc=True),
        "verified_at": pd.to_datetime([pd.NaT if r[3] is None else r[3] for r in rows], unit="ns", utc=True),
        "by": pd.Series([r[1] for r in rows], dtype=object),
        "tonnes": pd.Series([np.nan if r[4] is None else r[4] for r in rows], dtype="float64"),
        "truck_trips": pd.array([r[5] for r in rows], dtype="Int64"),
        "extra": pd.Series([r[6] for r in rows], dtype=object),
    })
    back = _stage_read_back(postgis_url, "rectifications", frame,
                            'report_id, "by", tonnes, truck_trips, (extract(epoch FROM rectified_at) * 1000)::bigint,'
                            ' (extract(epoch FROM verified_at) * 1000)::bigint, extra::text')
    assert len(back) == len(rows)
    for i, (got, row) in enumerate(zip(back, rows)):
        _, by, at, verified, tonnes, trips, extra = row
        assert got[0] == ids[i]
        assert got[1] == _expected_text(by)
        assert _same_float(got[2], _expected_float(tonnes)), (got[2], tonnes)
        assert got[3] == trips
        assert got[4] == at // 1_000_000  # the instant floored to the millisecond (floor division of the ns)
        assert got[5] == (None if verified is None else verified // 1_000_000)
        assert got[6] == extra


@pytest.mark.postgis
@SERVER
@given(st.lists(st.tuples(TEXTS, st.floats(-180, 180), st.floats(-90, 90)), min_size=1, max_size=8),
       st.booleans())
@example([("路边垃圾\\N", -0.0, 5e-324), (None, 180.0, -90.0)], True)
def test_points_and_chinese_text_round_trip_exactly(postgis_url: str, rows: list[tuple], arrow: bool) -> None:
    descriptions = [r[0] for r in rows]
    text: Any = pd.Series(descriptions, dtype=object)
    if arrow:  # as an Arrow-read file gives it: Arrow-backed, in more than one chunk
        half = len(descriptions) // 2
        chunks = pa.chunked_array([pa.array(descriptions[:half], pa.string()),
                                   pa.array(descriptions[half:], pa.string())])
        text = pd.Series(pd.arrays.ArrowStringArray(chunks))
    frame = gpd.GeoDataFrame({"report_id": [f"中{i}" for i in range(len(rows))],
                              "reported_at": pd.Timestamp("2025-03-01 08:00", tz="Asia/Shanghai"),
                              "category": "garbage_dumping", "description": text},
                             geometry=shapely.points([r[1] for r in rows], [r[2] for r in rows]), crs="EPSG:4326")
    back = _stage_read_back(postgis_url, "reports", frame,
                            "report_id, description, ST_X(geom), ST_Y(geom), ST_SRID(geom)")
    for i, (got, (description, x, y)) in enumerate(zip(back, rows)):
        assert got[0] == f"中{i}"
        assert got[1] == description
        assert _same_float(got[2], x) and _same_float(got[3], y)
        assert got[4] == 4326


# ------------------------------------------------------------------------------------- the store, end to end


def _nasty_reports() -> gpd.GeoDataFrame:
    descriptions = [*NASTY, None, "路边垃圾\t第二行\n第三行\r\\"]
    n = len(descriptions)
    times = pd.Timestamp("2025-03-01 08:00:00", tz="Asia/Shanghai") + pd.to_timedelta(
        [0, 999_999, 1_000_000, 1_999_999] * (n // 4) + [0] * (n % 4), unit="ns")
    extras = [json.dumps({"备注": d, "q": '"'}, ensure_ascii=False) if i % 2 else None
              for i, d in enumerate(descriptions)]
    return gpd.GeoDataFrame({"report_id": [f"R\\{i}\t" for i in range(n)], "reported_at": times,
                             "category": "garbage_dumping", "description": descriptions, "extra": extras},
                            geometry=shapely.points(109.73 + np.arange(n) * 1e-4, 38.28), crs="EPSG:4326")


def _values(series: pd.Series) -> list[Any]:
    return [None if pd.isna(v) else v for v in series]


@pytest.mark.postgis
def test_nasty_rows_read_back_equal_and_a_second_import_is_all_duplicates(postgis_url: str) -> None:
    from gridmap.storage.postgis import init_postgis

    frame = _nasty_reports()
    with init_postgis(postgis_url) as ws:
        first = ws.append("reports", frame, source="nasty.csv", source_digest="d1")
        again = ws.append("reports", frame, source="nasty.csv", source_digest="d1")
        stored = ws.read_layer("reports")
    assert (first.accepted, first.duplicates, first.quarantined) == (len(frame), 0, 0)
    assert (again.accepted, again.duplicates, again.quarantined) == (0, len(frame), 0)  # no false key conflict
    assert stored["report_id"].tolist() == frame["report_id"].tolist()  # in frame order
    for column in ("description", "extra"):
        assert _values(stored[column]) == _values(frame[column])
    floored = frame["reported_at"].dt.as_unit("ns").astype("int64") // 10**6  # ns since the epoch, floored to ms
    assert stored["reported_at"].dt.as_unit("ms").astype("int64").tolist() == floored.tolist()


@pytest.mark.postgis
def test_fids_follow_the_frame_order_across_blocks_and_pages(postgis_url: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The insert has no ORDER BY: the stage's physical order must be the frame's, over many pages and blocks."""
    from gridmap.storage.postgis import init_postgis

    monkeypatch.setattr(stage, "COPY_BLOCK_ROWS", 997)
    rng = np.random.default_rng(7)
    n = 6000
    ids = [f"K{v}" for v in rng.permutation(n)]  # keys out of their sort order
    widths = rng.integers(0, 400, n)  # rows of very different sizes: pages fill unevenly
    frame = gpd.GeoDataFrame({"report_id": ids, "reported_at": pd.Timestamp("2025-03-01", tz="UTC"),
                              "category": "garbage_dumping", "description": ["字" * w for w in widths]},
                             geometry=shapely.points(rng.uniform(109, 110, n), rng.uniform(38, 39, n)), crs="EPSG:4326")
    with init_postgis(postgis_url) as ws:
        ws.append("reports", frame.iloc[:10], source="a.csv", source_digest="a")
        ws.append("reports", frame, source="b.csv", source_digest="b")
        stored = ws.read_layer("reports")
    assert stored["report_id"].tolist() == ids


# ------------------------------------------------------------------------------------- without a server


@settings(max_examples=200)
@given(st.lists(st.integers(int(np.datetime64("0000-01-01T00:00:00.000", "ms").astype("int64")),
                            int(np.datetime64("9999-12-31T23:59:59.999", "ms").astype("int64"))),
                min_size=1, max_size=20))
@example([0, -1, 951_782_400_000, 253_402_300_799_999])  # the epoch, a millisecond before, 2000-02-29, the last
def test_iso_millis_equals_numpy(millis: list[int]) -> None:
    utc = np.array(millis, dtype="int64").astype("datetime64[ms]")
    years = utc.astype("datetime64[Y]").astype("int64") + 1970
    utc = utc[(years >= 0) & (years <= 9999)]
    got = [bytes(row).decode() for row in stage.iso_millis(utc)]
    assert got == [f"{s}Z" for s in np.datetime_as_string(utc, unit="ms")]


@given(st.lists(st.tuples(st.floats(allow_nan=False), st.floats(allow_nan=False)), min_size=1, max_size=10))
@example([(-0.0, 5e-324), (float("inf"), -1.5)])
def test_point_ewkb_equals_shapely(coords: list[tuple[float, float]]) -> None:
    points = shapely.points(coords)
    want = shapely.to_wkb(shapely.set_srid(points, 4326), hex=True, include_srid=True).tolist()
    assert stage.ewkb_hex(points).to_pylist() == want


def test_text_with_nul_is_refused_naming_the_column() -> None:
    rows = pd.DataFrame({"_pos": [0], "note": ["a\x00b"]})
    with pytest.raises(SchemaError, match="'note' holds text with a NUL"):
        list(stage.copy_text(rows))


@pytest.mark.postgis
def test_an_append_with_nul_text_is_refused_and_writes_nothing(postgis_url: str) -> None:
    from gridmap.storage.postgis import init_postgis

    frame = _nasty_reports()
    bad = frame.assign(description=[*frame["description"].iloc[:-1], "坏\x00"])
    with init_postgis(postgis_url) as ws:
        with pytest.raises(SchemaError, match="'description' holds text with a NUL"):
            ws.append("reports", bad, source="bad.csv", source_digest="b")
        assert len(ws.read_layer("reports")) == 0 and len(ws.imports()) == 0
        assert ws.append("reports", frame, source="nasty.csv", source_digest="d1").accepted == len(frame)
