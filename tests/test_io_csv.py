"""Tests of gridmap.io.tabular.read_csv on real CSV files written in tmp_path."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _opcount import extra_calls

from gridmap.errors import EncodingError, ReadError
from gridmap.io.tabular import find_coordinate_columns, read_csv


def _write(tmp_path, text: str, *, encoding: str = "utf-8", name: str = "r.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _balanced(res) -> None:
    assert res.read == len(res.records) + len(res.quarantine)


def test_gb18030_chinese_headers(tmp_path):
    text = "编号,经度,纬度,描述\nA1,109.73,38.29,北大街废弃摩托车\nA2,109.74,38.30,二里半占道经营\n"
    path = _write(tmp_path, text, encoding="gb18030")
    res = read_csv(path, layer="reports", coords="gcj02")
    _balanced(res)
    assert res.meta["encoding"] == "gb18030"
    assert list(res.records.columns) == ["_record", "编号", "经度", "纬度", "描述", "geometry"]
    assert res.records["描述"].tolist() == ["北大街废弃摩托车", "二里半占道经营"]
    assert res.records.crs.to_epsg() == 4326 and res.coords == "gcj02"
    assert [(p.x, p.y) for p in res.records.geometry] == [(109.73, 38.29), (109.74, 38.30)]
    assert res.records["_record"].tolist() == [1, 2]


def test_bom_utf8(tmp_path):
    path = _write(tmp_path, "\ufefflng,lat,name\n109.7,38.2,东城\n", encoding="utf-8")
    res = read_csv(path, coords="wgs84")
    assert res.meta["encoding"] == "utf-8-sig"
    assert list(res.records.columns)[:3] == ["_record", "lng", "lat"]  # no BOM glued to the first name
    assert res.records["name"].tolist() == ["东城"]
    _balanced(res)


def test_values_stay_text(tmp_path):
    path = _write(tmp_path, "id,NA_col,x,y\n007,NA,1,2\n008,,3,4\n")
    res = read_csv(path, coords="wgs84")
    assert res.records["id"].tolist() == ["007", "008"]
    assert res.records["NA_col"].tolist() == ["NA", ""]


def test_without_coords_refused(tmp_path):
    path = _write(tmp_path, "经度,纬度\n109.7,38.2\n")
    with pytest.raises(ReadError, match=r"with --coords wgs84\|gcj02\|bd09: phone apps \(Amap, WeChat\) use gcj02"):
        read_csv(path)
    with pytest.raises(ReadError, match="unknown coordinate system 'mars'"):
        read_csv(path, coords="mars")


def test_coordinate_problems_quarantined(tmp_path):
    rows = [
        ("A1", "109.73", "38.29"),      # good
        ("A2", "", "38.29"),            # missing
        ("A3", "109.73", "  "),         # missing (blank)
        ("A4", "abc", "38.29"),         # unparseable
        ("A5", "109.7.3", "38.29"),     # unparseable
        ("A6", " 109.75 ", "38.3"),     # good after trimming
        ("A7", "１０９．７６", "３８．３"),  # full-width digits: good
        ("A8", "109,77", "38,31"),      # decimal commas: good
        ("A9", "inf", "38.3"),          # unparseable
    ]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([("编号", "经度", "纬度"), *rows])
    res = read_csv(_write(tmp_path, buf.getvalue()), layer="reports", coords="gcj02")
    _balanced(res)
    assert res.read == 9
    reasons = dict(zip(res.quarantine["record"], res.quarantine["reason"]))
    assert reasons == {2: "missing_coordinates", 3: "missing_coordinates", 4: "unparseable_coordinates",
                       5: "unparseable_coordinates", 9: "unparseable_coordinates"}
    assert res.records["_record"].tolist() == [1, 6, 7, 8]
    assert np.allclose(res.records.geometry.x, [109.73, 109.75, 109.76, 109.77])
    assert np.allclose(res.records.geometry.y, [38.29, 38.3, 38.3, 38.31])
    assert set(res.quarantine["layer"]) == {"reports"}
    assert '"编号": "A4"' in res.quarantine.set_index("record").loc[4, "raw"]


def test_ragged_lines_quarantined(tmp_path):
    text = "id,lon,lat\n1,109.7,38.2\n2,109.7\n\n3,109.7,38.2,extra\n4,109.8,38.3\n"
    res = read_csv(_write(tmp_path, text), coords="wgs84")
    _balanced(res)
    assert res.read == 4
    assert res.quarantine[["record", "raw", "reason"]].values.tolist() == [
        [2, "2,109.7", "unreadable_record"], [3, "3,109.7,38.2,extra", "unreadable_record"]]
    assert res.records["id"].tolist() == ["1", "4"]
    assert res.records["_record"].tolist() == [1, 4]
    assert res.quarantine["detail"].str.contains("header has 3").all()


def test_unterminated_quote_takes_slow_path(tmp_path):
    text = 'id,lon,lat\n1,109.7,38.2\n2,"109.7,38.2\n3,109.8,38.3\n'
    res = read_csv(_write(tmp_path, text), coords="wgs84")
    _balanced(res)
    assert res.records["id"].tolist() == ["1"]
    assert res.quarantine["reason"].tolist() == ["unreadable_record"]
    assert "3,109.8,38.3" in res.quarantine["raw"].iloc[0]  # swallowed line kept in the raw text


def test_quoted_newline_is_one_record(tmp_path):
    text = 'id,desc,lon,lat\n1,"two\nlines",109.7,38.2\n2,x,109.8,38.3\n'
    res = read_csv(_write(tmp_path, text), coords="bd09")
    assert res.records["desc"].tolist() == ["two\nlines", "x"]
    assert res.records["_record"].tolist() == [1, 2]
    assert res.coords == "bd09"


def test_no_coordinates(tmp_path):
    path = _write(tmp_path, "编号,整改时间\nA1,2026-05-01\n")
    res = read_csv(path, layer="rectifications", require_coordinates=False)
    assert not hasattr(res.records, "geometry") and res.coords is None
    assert res.records.to_dict("list") == {"_record": [1], "编号": ["A1"], "整改时间": ["2026-05-01"]}
    with pytest.raises(ReadError, match="no longitude/latitude columns; name them one of 经度"):
        read_csv(path)


def test_encoding_errors(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"lon,lat,name\n1,2,\xff\xfe\x80\n")
    with pytest.raises(EncodingError, match=r"neither valid utf-8, gb18030.*with --encoding, e\.g\. --encoding big5"):
        read_csv(path, coords="wgs84")
    gbk = _write(tmp_path, "lon,lat,name\n1,2,鼓楼\n", encoding="gbk", name="gbk.csv")
    with pytest.raises(EncodingError, match="not valid utf-8"):
        read_csv(gbk, coords="wgs84", encoding="utf-8")
    assert read_csv(gbk, coords="wgs84", encoding="gbk").records["name"].tolist() == ["鼓楼"]


def test_header_problems(tmp_path):
    with pytest.raises(ReadError, match="duplicate column names 'a'"):
        read_csv(_write(tmp_path, "a,a,lon,lat\n1,2,3,4\n"), coords="wgs84")
    with pytest.raises(ReadError, match="is empty"):
        read_csv(_write(tmp_path, "", name="empty.csv"), coords="wgs84")
    with pytest.raises(ReadError, match="has a longitude column .* but no latitude column"):
        read_csv(_write(tmp_path, "lon,v\n1,2\n", name="half.csv"), coords="wgs84")


def test_find_coordinate_columns_prefers_specific_names():
    assert find_coordinate_columns(["X", "Y", "经度", "纬度"]) == ("经度", "纬度")
    with pytest.raises(ReadError, match="several longitude columns"):
        find_coordinate_columns(["lon", "LON ", "lat"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-180, 180, allow_nan=False), st.floats(-90, 90, allow_nan=False)),
                min_size=1, max_size=20))
def test_coordinates_round_trip(tmp_path_factory, points):
    """Any finite lon/lat written with repr() comes back exactly (float repr round-trips)."""
    path = tmp_path_factory.mktemp("rt") / "p.csv"
    path.write_text("lon,lat\n" + "".join(f"{x!r},{y!r}\n" for x, y in points), encoding="utf-8")
    res = read_csv(path, coords="wgs84")
    assert len(res.quarantine) == 0 and res.read == len(points)
    assert list(zip(res.records.geometry.x, res.records.geometry.y)) == points


def _rows_csv(path, n: int):
    lines = [f"R{i},2026-05-01 08:00,暴露垃圾,北大街,109.{i % 1000:03d},38.{i % 997:03d}\n" for i in range(n)]
    path.write_text("编号,上报时间,类别,描述,经度,纬度\n" + "".join(lines) + "bad,line\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_million_rows_read_with_no_per_row_python_work(tmp_path):
    """1M rows come back whole, and reading them runs no Python code per row (timings: benchmarks/import.py).

    Deterministic stand-in for "fast": the Python function calls of the 1M-row read exceed those of a
    1,000-row read by less than one per 100 rows (a row loop would add at least one per row).
    """
    n = 1_000_000
    small, big = _rows_csv(tmp_path / "small.csv", 1_000), _rows_csv(tmp_path / "big.csv", n)
    res, extra = extra_calls(lambda: read_csv(small, coords="gcj02"), lambda: read_csv(big, coords="gcj02"))
    assert res.read == n + 1 and len(res.quarantine) == 1 and res.quarantine["record"].iloc[0] == n + 1
    assert res.records.geometry.x.iloc[-1] == pytest.approx(109 + ((n - 1) % 1000) / 1000)
    assert extra < (n - 1_000) / 100, extra


_NAME = st.text(st.characters(categories=("Lu", "Ll", "Lo")), min_size=1, max_size=6)
_VALUE = st.text(st.sampled_from(list("ab 东街,;\t\"'.-1")), max_size=8)


@settings(max_examples=60, deadline=None)
@given(delimiter=st.sampled_from([",", "\t", ";"]),
       names=st.lists(_NAME, min_size=2, max_size=5, unique=True),
       data=st.data())
def test_any_separator_round_trips_through_the_csv_writer(tmp_path_factory, delimiter, names, data):
    """What Python's csv writer writes with comma, tab or semicolon comes back value for value."""
    rows = data.draw(st.lists(st.lists(_VALUE, min_size=len(names), max_size=len(names)), min_size=1, max_size=8))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(names)
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("sep") / "t.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    res = read_csv(path, require_coordinates=False)
    assert res.read == len(rows) and len(res.quarantine) == 0
    assert list(res.records.columns) == ["_record", *names]
    assert res.records[names].values.tolist() == rows
