"""Tests of gridmap.io.vector.read_vector on real files written with pyogrio, fiona, zipfile and sqlite3."""

from __future__ import annotations

import json
import sqlite3
import struct
import zipfile

import geopandas as gpd
import pyogrio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from gridmap.errors import EncodingError, ReadError, UnsafeFileError
from gridmap.io import vector
from gridmap.io._encoding import read_dbf_header
from gridmap.io.vector import read_vector

NAMES = ["鼓楼街道", "东城社区", "北大街"]


def _balanced(res) -> None:
    assert res.read == len(res.records) + len(res.quarantine)


def _frame(crs="EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": NAMES, "n": [1, 2, 3]},
        geometry=[Point(109.73, 38.29), Point(109.74, 38.30), Point(109.75, 38.31)], crs=crs,
    )


def _gbk_ldid0_shapefile(tmp_path, name="g"):
    """A classic Chinese shapefile: GBK text, LDID byte 0, no .cpg."""
    shp = tmp_path / f"{name}.shp"
    pyogrio.write_dataframe(_frame(), shp, encoding="cp936")
    with open(tmp_path / f"{name}.dbf", "r+b") as fh:
        fh.seek(29)
        fh.write(b"\0")
    (tmp_path / f"{name}.cpg").unlink()
    return shp


def test_geojson_with_crs(tmp_path):
    path = tmp_path / "targets.geojson"
    _frame("EPSG:4546").to_file(path, driver="GeoJSON", engine="pyogrio")
    res = read_vector(path, layer="targets")
    _balanced(res)
    assert res.records.crs.to_epsg() == 4546
    assert res.records["name"].tolist() == NAMES
    assert res.records["_record"].tolist() == [1, 2, 3]
    assert res.coords is None and res.read == 3


def test_gpkg_two_layers(tmp_path):
    path = tmp_path / "two.gpkg"
    _frame().to_file(path, layer="reports", engine="pyogrio")
    grids = gpd.GeoDataFrame({"code": ["610802001001001"]},
                             geometry=[Polygon([(0, 0), (1, 0), (1, 1)])], crs="EPSG:4326")
    grids.to_file(path, layer="grids", engine="pyogrio")
    with pytest.raises(ReadError, match=r"several layers \(.*reports.*grids.*\); choose one with --source-layer NAME"):
        read_vector(path)
    assert read_vector(path, layer="grids").records["code"].tolist() == ["610802001001001"]
    res = read_vector(path, layer="x", source_layer="reports")
    assert res.records["name"].tolist() == NAMES
    _balanced(res)
    with pytest.raises(ReadError, match="has no layer 'nope'; its layers: "):
        read_vector(path, source_layer="nope")


def test_shapefile_with_and_without_prj(tmp_path):
    shp = tmp_path / "a.shp"
    pyogrio.write_dataframe(_frame(), shp)
    res = read_vector(shp)
    assert res.records.crs.to_epsg() == 4326
    assert res.records["name"].tolist() == NAMES
    (tmp_path / "a.prj").unlink()
    res = read_vector(shp)
    assert res.records.crs is None
    _balanced(res)


def test_gbk_ldid0_comes_back_as_chinese(tmp_path):
    shp = _gbk_ldid0_shapefile(tmp_path)
    assert read_dbf_header(tmp_path / "g.dbf").ldid == 0
    assert not (tmp_path / "g.cpg").exists()
    # what GDAL alone would do: Latin-1 mojibake, no warning
    naive = pyogrio.read_dataframe(shp, use_arrow=False)["name"].tolist()
    assert naive != NAMES and naive[0] == "鼓楼街道".encode("gbk").decode("latin-1")
    res = read_vector(shp)
    assert res.records["name"].tolist() == NAMES
    assert res.meta["encoding"] == "gb18030"
    _balanced(res)


def test_explicit_encoding_wins_over_cpg(tmp_path):
    shp = _gbk_ldid0_shapefile(tmp_path)
    (tmp_path / "g.cpg").write_text("UTF-8")
    with pytest.raises(EncodingError, match=r"declares utf-8 \(its .cpg says 'UTF-8'\).*It does decode as gb18030"):
        read_vector(shp)
    assert read_vector(shp, encoding="gbk").records["name"].tolist() == NAMES


def test_ldid_936_is_used(tmp_path):
    shp = _gbk_ldid0_shapefile(tmp_path)
    with open(tmp_path / "g.dbf", "r+b") as fh:
        fh.seek(29)
        fh.write(bytes([0x4D]))
    res = read_vector(shp)
    assert res.records["name"].tolist() == NAMES and res.meta["encoding"] == "gbk"


def _undecodable(tmp_path):
    shp = _gbk_ldid0_shapefile(tmp_path)
    header = read_dbf_header(tmp_path / "g.dbf")
    field = next(f for f in header.fields if f.name == "name")
    with open(tmp_path / "g.dbf", "r+b") as fh:  # \xff is invalid in both UTF-8 and GB18030
        fh.seek(header.header_length + field.offset)
        fh.write(b"\xff\xfe\x80\xff")
    return shp


def test_undecodable_dbf_refused(tmp_path):
    shp = _undecodable(tmp_path)
    with pytest.raises(EncodingError, match=r"g\.dbf.*tried utf-8, gb18030.*Pass the right one with --encoding"):
        read_vector(shp)


def _zip(tmp_path, shp, name="z.zip", extra=None):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(shp.parent.glob(shp.stem + ".*")):
            zf.write(part, f"data/{part.name}")
        for arcname, data in (extra or {}).items():
            zf.writestr(arcname, data)
    return path


def test_zipped_shapefile(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    pyogrio.write_dataframe(_frame(), src / "a.shp")
    res = read_vector(_zip(tmp_path, src / "a.shp"), layer="reports")
    assert res.records["name"].tolist() == NAMES and res.records.crs.to_epsg() == 4326
    assert res.source == "z.zip"
    _balanced(res)


def test_zipped_gbk_ldid0_and_undecodable(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    res = read_vector(_zip(tmp_path, _gbk_ldid0_shapefile(good), "good.zip"))
    assert res.records["name"].tolist() == NAMES
    with pytest.raises(EncodingError, match="tried utf-8, gb18030"):
        read_vector(_zip(tmp_path, _undecodable(bad), "bad.zip"))


def test_zip_with_traversal_refused(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    pyogrio.write_dataframe(_frame(), src / "a.shp")
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for part in sorted(src.glob("a.*")):
            zf.write(part, f"../evil{part.suffix}")
    before = set(tmp_path.parent.iterdir())
    with pytest.raises(UnsafeFileError, match=r"unsafe path '\.\./evil\.(shp|dbf|shx|prj|cpg)'"):
        read_vector(path)
    assert set(tmp_path.parent.iterdir()) == before
    assert not (tmp_path.parent / "evil.shp").exists()


def test_zip_too_large_and_several_shapefiles(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    pyogrio.write_dataframe(_frame(), src / "a.shp")
    path = _zip(tmp_path, src / "a.shp", extra={"other/b.shp": b"x"})
    with pytest.raises(ReadError, match="several shapefiles"):
        read_vector(path)
    monkeypatch.setattr(vector, "MAX_ZIP_BYTES", 100)
    with pytest.raises(UnsafeFileError, match="more than the 100 allowed"):
        read_vector(_zip(tmp_path, src / "a.shp", "small.zip"))


def test_broken_geojson_features_quarantined(tmp_path):
    features = [
        {"type": "Feature", "properties": {"name": "ok"}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
        {"type": "Feature", "properties": {"name": "bad1"}, "geometry": {"type": "Point", "coordinates": "abc"}},
        {"type": "Feature", "properties": {"name": "bad2"}, "geometry": {"type": "Pointy", "coordinates": [1, 2]}},
        {"type": "Feature", "properties": {"name": "null"}, "geometry": None},
        {"type": "Feature", "properties": {"name": "bowtie"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}},
    ]
    path = tmp_path / "b.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    res = read_vector(path, layer="targets")
    _balanced(res)
    assert res.read == 5
    assert res.records["name"].tolist() == ["ok", "null", "bowtie"]
    assert res.records["_record"].tolist() == [1, 4, 5]
    assert res.records.geometry.iloc[1] is None
    assert not res.records.geometry.iloc[2].is_valid  # invalid geometry returned as read
    assert res.quarantine["record"].tolist() == [2, 3]
    assert set(res.quarantine["reason"]) == {"unreadable_record"}
    assert "Pointy" in res.quarantine["raw"].iloc[1]


def test_truncated_geojson_refused(tmp_path):
    path = tmp_path / "t.geojson"
    text = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}}] * 3})
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ReadError, match="t.geojson"):
        read_vector(path)


def _drop_triggers(con):
    for (name,) in con.execute("select name from sqlite_master where type='trigger'").fetchall():
        con.execute(f'drop trigger "{name}"')


def test_corrupt_gpkg_geometry_quarantined(tmp_path):
    path = tmp_path / "c.gpkg"
    _frame().to_file(path, layer="reports", engine="pyogrio")
    with sqlite3.connect(path) as con:
        _drop_triggers(con)
        con.execute("update reports set geom = X'47500003E6100000DEADBEEF' where name = ?", (NAMES[1],))
        con.execute("update reports set geom = NULL where name = ?", (NAMES[2],))
    con.close()
    res = read_vector(path, layer="reports")
    _balanced(res)
    assert res.records["name"].tolist() == [NAMES[0], NAMES[2]]  # the genuinely null one is kept
    assert res.quarantine["record"].tolist() == [2]
    assert json.loads(res.quarantine["raw"].iloc[0])["name"] == NAMES[1]


def test_corrupt_shp_record_quarantined(tmp_path):
    shp = tmp_path / "p.shp"
    polys = [Polygon([(0, 0), (1, 0), (1, 1)]).buffer(0.1 * i + 0.1) for i in range(3)]
    pyogrio.write_dataframe(gpd.GeoDataFrame({"name": NAMES}, geometry=polys, crs="EPSG:4326"), shp)
    offset = struct.unpack(">i", (tmp_path / "p.shx").read_bytes()[108:112])[0] * 2  # second record (ESRI spec)
    data = bytearray(shp.read_bytes())
    data[offset + 8 + 44: offset + 8 + 48] = struct.pack("<i", 10**8)  # absurd first part start
    shp.write_bytes(bytes(data))
    res = read_vector(shp)
    _balanced(res)
    assert res.records["name"].tolist() == [NAMES[0], NAMES[2]]
    assert res.quarantine["record"].tolist() == [2]
    assert "Corrupted" in res.quarantine["detail"].iloc[0]


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(ReadError, match="does not exist"):
        read_vector(tmp_path / "nope.shp")
    other = tmp_path / "a.kml"
    other.write_text("<kml/>")
    with pytest.raises(ReadError, match=r"read_vector reads \.geojson"):
        read_vector(other)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(-180, 180, allow_nan=False), st.floats(-90, 90, allow_nan=False)),
                min_size=1, max_size=10))
def test_gpkg_points_round_trip(tmp_path_factory, points):
    """Coordinates come back bit for bit from a GeoPackage (doubles are stored as is)."""
    path = tmp_path_factory.mktemp("gp") / "p.gpkg"
    gdf = gpd.GeoDataFrame({"i": range(len(points))}, geometry=[Point(x, y) for x, y in points], crs="EPSG:4326")
    gdf.to_file(path, engine="pyogrio")
    res = read_vector(path)
    assert list(zip(res.records.geometry.x, res.records.geometry.y)) == points
    assert res.records["_record"].tolist() == list(range(1, len(points) + 1))


def test_fiona_fallback_when_bulk_read_fails(tmp_path, monkeypatch):
    """A bulk-read failure (forced here; the file is real) falls back to fiona, feature by feature."""
    path = tmp_path / "c.gpkg"
    _frame().to_file(path, layer="reports", engine="pyogrio")
    with sqlite3.connect(path) as con:
        _drop_triggers(con)
        con.execute("update reports set geom = X'47500003E6100000DEADBEEF' where name = ?", (NAMES[1],))
    con.close()

    def failing(*args, **kwargs):
        raise pyogrio.errors.DataSourceError("forced bulk failure")

    monkeypatch.setattr(vector.pyogrio, "read_dataframe", failing)
    res = read_vector(path)
    _balanced(res)
    assert res.records["name"].tolist() == [NAMES[0], NAMES[2]]
    assert res.records["_record"].tolist() == [1, 3]
    assert res.records.crs.to_epsg() == 4326
    assert res.quarantine["record"].tolist() == [2]
    assert [(p.x, p.y) for p in res.records.geometry] == [(109.73, 38.29), (109.75, 38.31)]
