"""Tests of the KML/KMZ reader, the safe XML parser and the zip checks (BAD-INPUTS cases 6-8)."""

from __future__ import annotations

import json
import struct
import tracemalloc
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmap.errors import EncodingError, ReadError, UnsafeFileError
from gridmap.io._xml import parse_xml_bytes
from gridmap.io._zip import check_member_name, check_zip, read_member_capped
from gridmap.io.kml import parse_kml_coordinates, read_kml
from gridmap.model import QUARANTINE_REASONS

KML_NS = "http://www.opengis.net/kml/2.2"
SECRET = "TOP-SECRET-7f3a91"

# A document in three namespace styles: default namespace, "kml:" prefix, no namespace.
BODY = """
<Document><name>鼓楼街道</name>
  <Folder><name>北大街社区</name>
    <Placemark><name>垃圾点一</name><description>北大街 废旧摩托车</description>
      <TimeStamp><when>2020-05-01T08:30:00+08:00</when></TimeStamp>
      <ExtendedData>
        <Data name="category"><displayName>类别</displayName><value>废旧车辆</value></Data>
        <Data name="name"><value>shadowed</value></Data>
      </ExtendedData>
      <Point><coordinates>109.7310,38.2905,1050.5</coordinates></Point>
    </Placemark>
    <Folder><name>二里半</name>
      <Placemark><name>网格一</name>
        <ExtendedData><SchemaData schemaUrl="#grid"><SimpleData name="grid_code">610802001001001</SimpleData>
        <SimpleData name="cadre">张三</SimpleData></SchemaData></ExtendedData>
        <Polygon><outerBoundaryIs><LinearRing><coordinates>
          109.70,38.28,0 109.71,38.28,0 109.71,38.29,0 109.70,38.29,0 109.70,38.28,0
        </coordinates></LinearRing></outerBoundaryIs>
        <innerBoundaryIs><LinearRing><coordinates>
          109.702,38.282 109.704,38.282 109.704,38.284 109.702,38.284 109.702,38.282
        </coordinates></LinearRing></innerBoundaryIs></Polygon>
      </Placemark>
    </Folder>
  </Folder>
  <Placemark><name>古城墙</name><LineString><coordinates>109.72,38.28 109.73, 38.29 109.74,38.30</coordinates>
  </LineString></Placemark>
  <Placemark><name>两块地</name><MultiGeometry>
    <Polygon><outerBoundaryIs><LinearRing><coordinates>0,0 1,0 1,1 0,1 0,0</coordinates></LinearRing>
    </outerBoundaryIs></Polygon>
    <Polygon><outerBoundaryIs><LinearRing><coordinates>2,0 4,0 4,1 2,1 2,0</coordinates></LinearRing>
    </outerBoundaryIs></Polygon>
  </MultiGeometry></Placemark>
  <Placemark><name>混合</name><MultiGeometry><Point><coordinates>1,2</coordinates></Point>
    <LineString><coordinates>0,0 1,1</coordinates></LineString></MultiGeometry></Placemark>
</Document>
"""


def _styled(style: str) -> str:
    if style == "default":
        return f'<?xml version="1.0" encoding="UTF-8"?><kml xmlns="{KML_NS}">{BODY}</kml>'
    if style == "prefixed":
        body = BODY.replace("<", "<kml:").replace("<kml:/", "</kml:")
        return f'<?xml version="1.0"?><kml:kml xmlns:kml="{KML_NS}">{body}</kml:kml>'
    return f"<kml>{BODY}</kml>"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _kml(placemarks: str, doctype: str = "") -> str:
    head = f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'
    return f'{head}<kml xmlns="{KML_NS}"><Document>{placemarks}</Document></kml>'


def _point(name: str, coords: str) -> str:
    return f"<Placemark><name>{name}</name><Point><coordinates>{coords}</coordinates></Point></Placemark>"


def _assert_counts(res) -> None:
    assert res.read == len(res.records) + len(res.quarantine)
    numbers = sorted(res.records["_record"].tolist() + res.quarantine["record"].tolist())
    assert numbers == list(range(1, res.read + 1))
    assert set(res.quarantine["reason"]) <= set(QUARANTINE_REASONS)


# -- KML -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["default", "prefixed", "bare"])
def test_nested_folders_geometries_and_attributes(tmp_path: Path, style: str) -> None:
    res = read_kml(_write(tmp_path / "gulou.kml", _styled(style)), layer="grids")
    _assert_counts(res)
    rec = res.records
    assert rec["name"].tolist() == ["垃圾点一", "网格一", "古城墙", "两块地", "混合"]
    assert rec["_record"].tolist() == [1, 2, 3, 4, 5]
    assert rec.crs.to_epsg() == 4326 and res.coords == "wgs84" and res.read == 5
    assert rec["folder"].tolist()[:2] == ["北大街社区", "北大街社区 / 二里半"] and pd.isna(rec["folder"][2])
    assert rec["time"][0] == "2020-05-01T08:30:00+08:00"
    assert rec["category"][0] == "废旧车辆" and rec["data_name"][0] == "shadowed"
    assert rec["grid_code"][1] == "610802001001001" and rec["cadre"][1] == "张三"
    assert rec["description"][0] == "北大街 废旧摩托车"
    assert not rec.geometry.has_z.any()
    assert rec.geometry[0].coords[0] == (109.7310, 38.2905)
    grid = rec.geometry[1]
    assert grid.geom_type == "Polygon" and len(grid.interiors) == 1
    # area by hand: 0.01 x 0.01 square minus a 0.002 x 0.002 hole
    assert grid.area == pytest.approx(0.01 * 0.01 - 0.002 * 0.002, rel=1e-9)
    assert rec.geometry[2].geom_type == "LineString" and len(rec.geometry[2].coords) == 3
    assert rec.geometry[3].geom_type == "MultiPolygon" and rec.geometry[3].area == pytest.approx(1 + 2)
    assert rec.geometry[4].geom_type == "GeometryCollection"


def test_undecodable_placemarks_are_quarantined_with_raw_values(tmp_path: Path) -> None:
    body = (
        _point("好点", "109.73,38.29")
        + _point("坏坐标", "109.73;38.29")
        + "<Placemark><name>无几何</name></Placemark>"
        + _point("空坐标", "   ")
        + _point("无穷", "inf,38")
        + "<Placemark><name>两点环</name><Polygon><outerBoundaryIs><LinearRing><coordinates>0,0 1,1"
          "</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>"
        + _point("尾点", "109.74,38.30")
    )
    res = read_kml(_write(tmp_path / "mixed.kml", _kml(body)), layer="reports")
    _assert_counts(res)
    assert res.records["_record"].tolist() == [1, 7]
    q = res.quarantine
    assert q["record"].tolist() == [2, 3, 4, 5, 6]
    assert q["reason"].tolist() == ["unparseable_coordinates", "missing_coordinates", "missing_coordinates",
                                    "unparseable_coordinates", "invalid_geometry"]
    assert set(q["layer"]) == {"reports"} and set(q["source"]) == {str(tmp_path / "mixed.kml")}
    raw = json.loads(q["raw"][0])
    assert raw["name"] == "坏坐标" and "109.73;38.29" in raw["geometry_xml"]
    assert q["detail"].str.len().min() > 10


def test_gx_track_gives_one_point_per_coord_with_its_time(tmp_path: Path) -> None:
    track = (
        '<Placemark><name>巡查</name><gx:Track>'
        "<when>2020-05-01T08:00:00Z</when><when>2020-05-01T08:01:00Z</when><when>2020-05-01T08:02:00Z</when>"
        "<gx:coord>109.70 38.28 1000</gx:coord><gx:coord>109.71 38.29 1000</gx:coord>"
        "<gx:coord>x y</gx:coord></gx:Track></Placemark>"
    )
    text = _kml(track).replace("<kml ", '<kml xmlns:gx="http://www.google.com/kml/ext/2.2" ')
    res = read_kml(_write(tmp_path / "track.kml", text))
    _assert_counts(res)
    assert res.read == 3
    assert res.records["time"].tolist() == ["2020-05-01T08:00:00Z", "2020-05-01T08:01:00Z"]
    assert [g.coords[0] for g in res.records.geometry] == [(109.70, 38.28), (109.71, 38.29)]
    assert set(res.records["track_id"]) == {"巡查"}
    assert res.quarantine["reason"].tolist() == ["unparseable_coordinates"]
    assert json.loads(res.quarantine["raw"][0])["time"] == "2020-05-01T08:02:00Z"


def test_gbk_declared_kml_is_transcoded(tmp_path: Path) -> None:
    text = _kml(_point("柴草垛", "109.73,38.29")).replace('encoding="UTF-8"', 'encoding="GBK"')
    path = tmp_path / "gbk.kml"
    path.write_bytes(text.encode("gbk"))
    assert read_kml(path).records["name"].tolist() == ["柴草垛"]


def test_kml_declared_gbk_but_not_gbk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "liar.kml"
    path.write_bytes(_kml(_point("x", "1,2")).replace('encoding="UTF-8"', 'encoding="GBK"').encode() + b"\xff\xff")
    with pytest.raises(EncodingError, match="does not decode"):
        read_kml(path)


def test_not_kml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"root element is <gpx>, not <kml>"):
        read_kml(_write(tmp_path / "a.kml", "<gpx/>"))
    with pytest.raises(ReadError, match="no such file"):
        read_kml(tmp_path / "missing.kml")


# -- BAD-INPUTS case 6: entity bombs and external entities ----------------------------------------


def test_billion_laughs_refused_before_expansion(tmp_path: Path) -> None:
    lol = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    doctype = f'<!DOCTYPE kml [<!ENTITY l0 "lol">{lol}]>'
    path = _write(tmp_path / "bomb.kml", _kml(_point("&l9;", "109.73,38.29"), doctype))
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeFileError, match="declares the XML entity 'l0'"):  # the first one: none expanded
            read_kml(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # expanded, &l9; would be 10**9 * "lol": 3 GB


@pytest.mark.parametrize(
    "doctype, match",
    [
        ('<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file://{secret}">]>', "declares the XML entity 'xxe'"),
        ('<!DOCTYPE kml [<!ENTITY % xxe SYSTEM "file://{secret}"> %xxe;]>', "declares the XML entity 'xxe'"),
        ('<!DOCTYPE kml SYSTEM "file://{secret}">', "names an external DTD"),
        ('<!DOCTYPE kml PUBLIC "-//x//y" "file://{secret}">', "names an external DTD"),
    ],
)
def test_external_references_refused_and_secret_never_leaks(tmp_path: Path, doctype: str, match: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    path = _write(tmp_path / "xxe.kml", _kml(_point("&xxe;", "109.73,38.29"), doctype.format(secret=secret)))
    with pytest.raises(UnsafeFileError, match=match) as info:
        read_kml(path)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in str(info.value.__context__)


def test_undeclared_entity_is_ill_formed_and_bare_doctype_accepted(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="undefined entity"):
        read_kml(_write(tmp_path / "u.kml", _kml(_point("&xxe;", "1,2"))))
    res = read_kml(_write(tmp_path / "d.kml", _kml(_point("ok", "1,2"), "<!DOCTYPE kml>")))
    assert res.records["name"].tolist() == ["ok"]


# -- BAD-INPUTS case 7: truncated files are refused whole -----------------------------------------


def test_truncated_kml_refused_whole(tmp_path: Path) -> None:
    full = _kml("".join(_point(f"R{i}", f"109.7{i},38.2{i}") for i in range(1, 6)))
    cut = full[: full.index("<name>R3") + 30]  # in the middle of the 3rd of 5 placemarks
    assert read_kml(_write(tmp_path / "full.kml", full)).read == 5
    with pytest.raises(ReadError, match=r"ill-formed XML at line 1, column \d+ .*nothing was imported"):
        read_kml(_write(tmp_path / "cut.kml", cut))


def test_oversized_xml_refused_before_parsing() -> None:
    with pytest.raises(UnsafeFileError, match="over the 100-byte limit"):
        parse_xml_bytes(b"<kml>" + b" " * 200 + b"</kml>", source="big.kml", max_bytes=100)


# -- KMZ and BAD-INPUTS case 8 --------------------------------------------------------------------


def _kmz(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_kmz_reads_doc_kml(tmp_path: Path) -> None:
    kmz = _kmz(tmp_path / "gulou.kmz", {"files/icon.png": b"\x89PNG", "other.kml": _kml(_point("x", "0,0")),
                                        "doc.kml": _styled("default")})
    res = read_kml(kmz)
    _assert_counts(res)
    assert res.records["name"].tolist()[:2] == ["垃圾点一", "网格一"]
    assert res.meta == {"format": "kmz", "member": "doc.kml"}
    # without doc.kml, the first .kml at the root is the document
    kmz2 = _kmz(tmp_path / "b.kmz", {"sub/a.kml": _kml(_point("deep", "0,0")), "z.kml": _kml(_point("root", "0,0"))})
    assert read_kml(kmz2).records["name"].tolist() == ["root"]
    with pytest.raises(ReadError, match="holds no .kml document"):
        read_kml(_kmz(tmp_path / "c.kmz", {"readme.txt": "hi"}))


@pytest.mark.parametrize("member, problem", [
    ("../x.kml", "has a '..' part"), ("files/../../x.kml", "has a '..' part"), ("..\\x.kml", "has a '..' part"),
    ("/tmp/x.kml", "is an absolute path"), ("C:/x.kml", "starts with a drive letter"),
])
def test_kmz_with_unsafe_member_names_refused(tmp_path: Path, member: str, problem: str) -> None:
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    kmz = _kmz(tmp_path / "evil.kmz", {"doc.kml": _kml(_point("a", "1,2")), member: _kml(_point("b", "1,2"))})
    with pytest.raises(UnsafeFileError, match=f"zip member .* {problem}"):
        read_kml(kmz)
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.kmz"]


def test_check_member_name_accepts_ordinary_names() -> None:
    for name in ("doc.kml", "files/图片 1.jpg", "a..b/c.kml", "x/..hidden"):
        check_member_name(name)


@pytest.fixture(scope="module")
def spaces_kmz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """doc.kml of 200 MiB of blanks inside a zip of about 200 KB (ratio about 1000:1)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.kmz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("doc.kml", "w") as member:
            member.write(f'<kml xmlns="{KML_NS}"><Document>'.encode())
            chunk = b" " * (1 << 20)
            for _ in range(200):
                member.write(chunk)
            member.write(b"</Document></kml>")
    assert path.stat().st_size < 1 << 20
    return path


@dataclass
class _ZipReads:
    opened: int = 0  # members opened for decompression
    delivered: int = 0  # decompressed bytes handed to the reader
    peak: int = 0  # largest Python memory in use during the call (tracemalloc)


def _bounded(call, monkeypatch: pytest.MonkeyPatch) -> _ZipReads:
    """Run `call`, counting zip members opened, decompressed bytes read from them, and peak memory."""
    seen = _ZipReads()
    real_open, real_read = zipfile.ZipFile.open, zipfile.ZipExtFile.read

    def counting_open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.opened += 1
        return real_open(self, *args, **kwargs)

    def counting_read(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        data = real_read(self, *args, **kwargs)
        seen.delivered += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting_read)
    tracemalloc.start()
    try:
        call()
        seen.peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        monkeypatch.undo()
    return seen


def test_kmz_zip_bomb_refused_from_index(spaces_kmz: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    infos = zipfile.ZipFile(spaces_kmz).infolist()
    assert infos[0].file_size / infos[0].compress_size > 500  # independent check that it is a bomb

    def attempt() -> None:
        with pytest.raises(UnsafeFileError, match=r"ratio \d+:1, limit 100:1.*zip bomb"):
            read_kml(spaces_kmz)

    seen = _bounded(attempt, monkeypatch)
    assert seen.opened == 0 and seen.delivered == 0  # refused from the index alone: nothing decompressed
    assert seen.peak < 100 * 2**20


def _lie_about_size(src: Path, dst: Path, declared: int) -> Path:
    """Copy a one-member zip, writing `declared` as the uncompressed size in its central directory."""
    data = bytearray(src.read_bytes())
    cd = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, declared)
    dst.write_bytes(bytes(data))
    return dst


def test_kmz_lying_about_its_size_refused_with_bounded_memory(spaces_kmz: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    liar = _lie_about_size(spaces_kmz, tmp_path / "liar.kmz", 1000)
    assert zipfile.ZipFile(liar).infolist()[0].file_size == 1000
    assert [i.file_size for i in check_zip(liar)] == [1000]  # the index alone looks harmless

    def attempt() -> None:
        with pytest.raises(UnsafeFileError, match="does not match the archive's index"):
            read_kml(liar)

    seen = _bounded(attempt, monkeypatch)
    assert seen.opened == 1
    assert seen.delivered <= 1000  # of the 200 MiB inside, no more than the declared size was decompressed
    assert seen.peak < 100 * 2**20


def test_zip_limits(tmp_path: Path) -> None:
    many = _kmz(tmp_path / "many.kmz", {f"f{i}.txt": "x" for i in range(12)})
    with pytest.raises(UnsafeFileError, match="12 zip members is over the limit of 10"):
        check_zip(many, max_members=10)
    with pytest.raises(UnsafeFileError, match="declare 24 uncompressed bytes, over the limit of 20"):
        check_zip(_kmz(tmp_path / "big.kmz", {"a.kml": "x" * 12, "b.kml": "y" * 12}), max_total_bytes=20)
    kmz = _kmz(tmp_path / "ok.kmz", {"doc.kml": b" " * 5000})
    with zipfile.ZipFile(kmz) as zf:
        assert read_member_capped(zf, zf.getinfo("doc.kml"), 5000) == b" " * 5000
        with pytest.raises(UnsafeFileError, match="declares 5000 bytes, over the limit of 4999"):
            read_member_capped(zf, zf.getinfo("doc.kml"), 4999)
    not_zip = _write(tmp_path / "plain.kmz", "not a zip")
    with pytest.raises(ReadError, match="not a readable zip archive"):
        read_kml(not_zip)


# -- coordinates: property tests ------------------------------------------------------------------

_lon = st.floats(-180, 180, allow_nan=False, allow_infinity=False)
_lat = st.floats(-90, 90, allow_nan=False, allow_infinity=False)
_alt = st.one_of(st.none(), st.floats(-500, 9000, allow_nan=False, allow_infinity=False))


@given(st.lists(st.tuples(_lon, _lat, _alt), min_size=1, max_size=20),
       st.sampled_from([" ", "\n", "\t ", "\r\n  "]), st.sampled_from([",", ", ", " ,"]))
def test_coordinates_round_trip(points: list, sep: str, comma: str) -> None:
    text = sep.join(comma.join(repr(v) for v in p if v is not None) for p in points)
    assert parse_kml_coordinates(sep + text + sep) == [(lon, lat) for lon, lat, _ in points]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(_lon, _lat), min_size=1, max_size=8))
def test_points_survive_a_kml_file(tmp_path_factory: pytest.TempPathFactory, points: list) -> None:
    body = "".join(_point(f"p{i}", f"{lon!r},{lat!r},12.5") for i, (lon, lat) in enumerate(points))
    path = _write(tmp_path_factory.mktemp("prop") / "p.kml", _kml(body))
    res = read_kml(path)
    assert [g.coords[0] for g in res.records.geometry] == points
    assert res.records["name"].tolist() == [f"p{i}" for i in range(len(points))]
