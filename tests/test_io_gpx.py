"""Tests of the GPX reader."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmap.errors import ReadError, UnsafeFileError
from gridmap.io.gpx import read_gpx
from gridmap.model import QUARANTINE_REASONS

GPX11 = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <metadata><name>巡查</name><author><name>李四</name></author></metadata>
  <wpt lat="38.2900" lon="109.7300"><ele>1050</ele><time>2020-05-01T07:59:00Z</time>
    <name>垃圾点</name><desc>北大街口</desc></wpt>
  <rte><rtept lat="38.0" lon="109.0"/><rtept lat="38.1" lon="109.1"/></rte>
  <trk><name>早班</name>
    <trkseg>
      <trkpt lat="38.2801" lon="109.7001"><ele>1049.5</ele><time>2020-05-01T08:00:00Z</time></trkpt>
      <trkpt lat="38.2802" lon="109.7002"><time>2020-05-01T08:00:10Z</time></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="abc" lon="109.7003"><time>2020-05-01T08:00:20Z</time></trkpt>
      <trkpt lat="38.2804" lon="109.7004"><ele>high</ele><time>2020-05-01T08:00:30Z</time></trkpt>
    </trkseg>
  </trk>
  <trk>
    <trkseg>
      <trkpt lon="109.7100"><time>2020-05-01T09:00:00Z</time></trkpt>
      <trkpt lat="38.2901" lon="109.7101"><time>2020-05-01T09:00:10+08:00</time></trkpt>
    </trkseg>
  </trk>
</gpx>
"""

GPX10 = """<?xml version="1.0"?>
<gpx version="1.0" creator="old" xmlns="http://www.topografix.com/GPX/1/0">
  <author>王五</author>
  <wpt lat="-33.5" lon="-70.25"><name>南半球</name></wpt>
  <trk><name>t</name><trkseg><trkpt lat="38.5" lon="109.5"><time>2020-01-01T00:00:00Z</time></trkpt></trkseg></trk>
</gpx>
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _assert_counts(res) -> None:
    assert res.read == len(res.records) + len(res.quarantine)
    numbers = sorted(res.records["_record"].tolist() + res.quarantine["record"].tolist())
    assert numbers == list(range(1, res.read + 1))
    assert set(res.quarantine["reason"]) <= set(QUARANTINE_REASONS)


def test_gpx11_tracks_waypoints_and_bad_points(tmp_path: Path) -> None:
    res = read_gpx(_write(tmp_path / "walk.gpx", GPX11))  # no layer: waypoints and track points both
    _assert_counts(res)
    # 1 waypoint + 4 + 2 track points; route points are not records
    assert res.read == 7 and res.meta["skipped_route_points"] == 2
    assert res.layer_hint == "tracks" and res.coords == "wgs84" and res.records.crs.to_epsg() == 4326
    rec = res.records
    assert rec["_record"].tolist() == [1, 2, 3, 7]
    assert rec["_kind"].tolist() == ["wpt", "trkpt", "trkpt", "trkpt"]
    assert rec["track_id"].tolist()[1:] == ["早班", "早班", "trk-2"]
    assert rec["segment"].tolist()[1:] == [1, 1, 1]
    assert rec["time"].tolist() == ["2020-05-01T07:59:00Z", "2020-05-01T08:00:00Z", "2020-05-01T08:00:10Z",
                                    "2020-05-01T09:00:10+08:00"]
    assert rec["ele"][0] == 1050 and rec["ele"][1] == 1049.5 and math.isnan(rec["ele"][2])
    assert rec["name"][0] == "垃圾点" and rec["desc"][0] == "北大街口"
    assert set(rec["inspector"]) == {"李四"}  # metadata/author, not the track name
    assert [g.coords[0] for g in rec.geometry] == [(109.73, 38.29), (109.7001, 38.2801), (109.7002, 38.2802),
                                                   (109.7101, 38.2901)]
    q = res.quarantine
    assert q["record"].tolist() == [4, 5, 6]
    assert q["reason"].tolist() == ["unparseable_coordinates", "unparseable_value", "missing_coordinates"]
    assert set(q["layer"]) == {"unknown"}
    raw = json.loads(q["raw"][0])
    assert raw["lat"] == "abc" and raw["time"] == "2020-05-01T08:00:20Z" and raw["track_id"] == "早班"
    assert "lat='abc' is not a number" in q["detail"][0]


def test_gpx10_author_and_southern_western_hemisphere(tmp_path: Path) -> None:
    res = read_gpx(_write(tmp_path / "old.gpx", GPX10))
    _assert_counts(res)
    assert res.meta["version"] == "1.0" and res.layer_hint == "tracks"
    assert res.records.geometry[0].coords[0] == (-70.25, -33.5)
    assert set(res.records["inspector"]) == {"王五"}


def test_waypoints_only_hint_targets_and_no_inspector_column(tmp_path: Path) -> None:
    text = '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><wpt lat="1" lon="2"/></gpx>'
    res = read_gpx(_write(tmp_path / "w.gpx", text))
    assert res.layer_hint == "targets" and "inspector" not in res.records.columns
    assert read_gpx(_write(tmp_path / "e.gpx", "<gpx/>")).layer_hint is None


def test_truncated_gpx_refused_whole(tmp_path: Path) -> None:
    cut = GPX11[: GPX11.index('<trkpt lat="abc"') + 10]
    with pytest.raises(ReadError, match="ill-formed XML.*nothing was imported"):
        read_gpx(_write(tmp_path / "cut.gpx", cut))


def test_entity_bomb_and_external_entity_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-GPX-99", encoding="utf-8")
    xxe = f'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY x SYSTEM "file://{secret}">]><gpx><wpt lat="1" lon="2">' \
          "<name>&x;</name></wpt></gpx>"
    with pytest.raises(UnsafeFileError, match="declares the XML entity 'x'") as info:
        read_gpx(_write(tmp_path / "xxe.gpx", xxe))
    assert "SECRET-GPX-99" not in str(info.value)
    lol = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    bomb = f'<!DOCTYPE gpx [<!ENTITY l0 "lol">{lol}]><gpx><wpt lat="1" lon="2"><name>&l9;</name></wpt></gpx>'
    path = _write(tmp_path / "bomb.gpx", bomb)
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeFileError, match="declares the XML entity 'l0'"):  # the first one: none expanded
            read_gpx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # expanded, &l9; would be 10**9 * "lol": 3 GB


def test_not_gpx_and_missing(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"root element is <kml>, not <gpx>"):
        read_gpx(_write(tmp_path / "k.gpx", "<kml/>"))
    with pytest.raises(ReadError, match="no such file"):
        read_gpx(tmp_path / "none.gpx")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-180, 180, allow_nan=False), st.floats(-90, 90, allow_nan=False)),
                min_size=1, max_size=10))
def test_track_points_round_trip(tmp_path_factory: pytest.TempPathFactory, points: list) -> None:
    pts = "".join(f'<trkpt lat="{lat!r}" lon="{lon!r}"/>' for lon, lat in points)
    text = f'<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{pts}</trkseg></trk></gpx>'
    res = read_gpx(_write(tmp_path_factory.mktemp("gpx") / "t.gpx", text))
    assert [g.coords[0] for g in res.records.geometry] == [(lon, lat) for lon, lat in points]
    assert res.records["_record"].tolist() == list(range(1, len(points) + 1))
