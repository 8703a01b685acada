"""Tests of the photo reader: real JPEGs written with Pillow carrying real EXIF GPS IFDs."""

from __future__ import annotations

import hashlib
import json
import shutil
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from gridmap.errors import ReadError
from gridmap.io.photos import dms_to_degrees, read_photos
from gridmap.model import QUARANTINE_REASONS

GPS_IFD, EXIF_IFD = 0x8825, 0x8769


def _jpeg(path: Path, *, gps: dict | None = None, exif_ifd: dict | None = None, ifd0: dict | None = None) -> Path:
    """Write an 8x8 JPEG whose EXIF holds the given IFD0, Exif and GPS tags."""
    exif = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    if exif_ifd:
        exif.get_ifd(EXIF_IFD).update(exif_ifd)
    if gps:
        exif.get_ifd(GPS_IFD).update(gps)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 120, 40)).save(path, "JPEG", exif=exif)
    return path


def _r(*values: float | tuple[int, int]) -> tuple[IFDRational, ...]:
    return tuple(IFDRational(*v) if isinstance(v, tuple) else IFDRational(v) for v in values)


def _sha_id(path: Path) -> str:
    return "PHOTO-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@pytest.fixture()
def album(tmp_path: Path) -> Path:
    root = tmp_path / "album"
    # 38°17'24.0"N 109°43'48.0"E = 38.29, 109.73 (24/3600 = 0.00666..., 17/60 = 0.28333...)
    _jpeg(root / "a.jpg",
          gps={1: "N", 2: _r(38, 17, 24), 3: "E", 4: _r(109, 43, 48)},
          exif_ifd={0x9003: "2020:05:01 08:30:00", 0x9011: "+08:00"},
          ifd0={0x010E: "北大街 柴草垛".encode("utf-8")})
    # 33°30'S 70°15'W, DateTime only (no offset), caption in UserComment (UNICODE, big-endian as Pillow writes)
    _jpeg(root / "sub" / "B.JPEG",
          gps={1: "S", 2: _r(33, 30, 0), 3: "W", 4: _r(70, 15, 0)},
          exif_ifd={0x9286: b"UNICODE\0" + "污水乱泼".encode("utf-16-be")},
          ifd0={0x0132: "2020:05:02 09:00:00"})
    _jpeg(root / "c.jpg", exif_ifd={0x9003: "2020:05:03 10:00:00"}, ifd0={0x010E: "没有定位".encode("gbk")})
    (root / "d.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    Image.new("RGB", (4, 4)).save(root / "e.jpg", "PNG")
    (root / "notes.txt").write_text("not a photo", encoding="utf-8")
    return root


def test_album_records_and_quarantine(album: Path) -> None:
    res = read_photos(album)
    assert res.read == len(res.records) + len(res.quarantine) == 5
    assert res.coords == "wgs84" and res.layer_hint == "reports" and res.records.crs.to_epsg() == 4326
    assert res.meta["ignored_files"] == [str(album / "notes.txt")]
    rec = res.records
    # sorted walk: a.jpg, c.jpg, d.jpg, e.jpg, then sub/B.JPEG
    assert rec["_record"].tolist() == [1, 5]
    assert rec["photo"].tolist() == [str(album / "a.jpg"), str(album / "sub" / "B.JPEG")]
    lon, lat = rec.geometry[0].coords[0]
    assert lon == pytest.approx(109.73, abs=1e-12) and lat == pytest.approx(38.29, abs=1e-12)
    assert rec.geometry[1].coords[0] == pytest.approx((-70.25, -33.5), abs=1e-12)
    assert rec["reported_at"].tolist() == ["2020-05-01T08:30:00+08:00", "2020-05-02T09:00:00"]
    assert rec["description"].tolist() == ["北大街 柴草垛", "污水乱泼"]
    assert set(rec["source"]) == {"photo"}
    assert rec["report_id"].tolist() == [_sha_id(album / "a.jpg"), _sha_id(album / "sub" / "B.JPEG")]
    q = res.quarantine
    assert q["record"].tolist() == [2, 3, 4]
    assert q["reason"].tolist() == ["no_gps", "unreadable_record", "unreadable_record"]
    assert set(q["reason"]) <= set(QUARANTINE_REASONS) and set(q["layer"]) == {"reports"}
    raw = json.loads(q["raw"][0])
    assert raw["report_id"] == _sha_id(album / "c.jpg") and raw["reported_at"] == "2020-05-03T10:00:00"
    assert raw["description"] == "没有定位"
    assert q["detail"][2].startswith("e.jpg: the file is a PNG image, not a JPEG")


def test_reimport_gives_the_same_ids_and_copies_collide(album: Path, tmp_path: Path) -> None:
    shutil.copy(album / "a.jpg", album / "a-copy.jpg")
    first, second = read_photos(album), read_photos(album)
    assert first.records["report_id"].tolist() == second.records["report_id"].tolist()
    ids = first.records.set_index("photo")["report_id"]
    assert ids[str(album / "a.jpg")] == ids[str(album / "a-copy.jpg")]
    assert first.records["report_id"].str.fullmatch(r"PHOTO-[0-9a-f]{12}").all()


def test_single_file_and_rational_seconds(tmp_path: Path) -> None:
    # 17.4 seconds written as the rational 174/10, and minutes as 17/1
    photo = _jpeg(tmp_path / "one.JPG", gps={1: "N", 2: _r(38, 17, (174, 10)), 3: "E", 4: _r(109, (87, 2), 0)},
                  exif_ifd={0x9003: "2020:05:01 08:30:00", 0x9010: "+08:00"})
    res = read_photos(photo)
    lon, lat = res.records.geometry[0].coords[0]
    assert lat == pytest.approx(float(38 + Fraction(17, 60) + Fraction(174, 10) / 3600), abs=1e-12)
    assert lon == pytest.approx(float(109 + Fraction(87, 2) / 60), abs=1e-12)
    # OffsetTime is the fallback of OffsetTimeOriginal
    assert res.records["reported_at"][0] == "2020-05-01T08:30:00+08:00"
    assert res.source == str(photo) and res.records["photo"][0] == str(photo)


def test_gps_time_fallback_and_bad_gps(tmp_path: Path) -> None:
    _jpeg(tmp_path / "p" / "g.jpg", gps={1: "N", 2: _r(38, 0, 0), 3: "E", 4: _r(109, 0, 0),
                                         0x1D: "2020:05:03", 7: _r(1, 2, 3)})
    _jpeg(tmp_path / "p" / "z.jpg", gps={1: "N", 2: _r(38, (1, 0), 0), 3: "E", 4: _r(109, 0, 0)})
    _jpeg(tmp_path / "p" / "r.jpg", gps={2: _r(38, 0, 0), 4: _r(109, 0, 0)})
    res = read_photos(tmp_path / "p")
    assert res.records["reported_at"].tolist() == ["2020-05-03T01:02:03+00:00"]
    assert res.quarantine["reason"].tolist() == ["unparseable_coordinates", "unparseable_coordinates"]
    assert "hemisphere reference '' is not N, S, E or W" in res.quarantine["detail"][0]
    raw = json.loads(res.quarantine["raw"][1])
    assert raw["gps_GPSLatitudeRef"] == "N" and raw["gps_GPSLatitude"].startswith("(38")


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no such file or folder"):
        read_photos(tmp_path / "missing")
    (tmp_path / "x.png").write_bytes(b"png")
    with pytest.raises(ReadError, match=r"is not a \.jpg/\.jpeg file"):
        read_photos(tmp_path / "x.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    res = read_photos(empty)
    assert res.read == 0 and list(res.records.columns)[:2] == ["_record", "report_id"]


_deg = st.integers(0, 179)
_min = st.integers(0, 59)
_sec = st.fractions(min_value=0, max_value=Fraction(5999, 100), max_denominator=1000)


@given(_deg, _min, _sec, st.sampled_from("NSEW"))
def test_dms_matches_exact_fractions(d: int, m: int, s: Fraction, ref: str) -> None:
    exact = d + Fraction(m, 60) + s / 3600
    expected = -exact if ref in "SW" else exact
    got = dms_to_degrees((IFDRational(d), IFDRational(m), IFDRational(s.numerator, s.denominator)), ref)
    assert got == pytest.approx(float(expected), abs=1e-12)


@given(st.floats(0, 179.999999, allow_nan=False))
def test_decimal_to_dms_and_back(value: float) -> None:
    degrees, rest = divmod(value, 1)
    minutes, rest = divmod(rest * 60, 1)
    seconds = rest * 60
    assert dms_to_degrees((degrees, minutes, seconds), "E") == pytest.approx(value, abs=1e-9)
    assert dms_to_degrees((degrees, minutes, seconds), "W") == pytest.approx(-value, abs=1e-9)
