"""BAD-INPUTS.md cases 3, 6, 7, 8, 10, 11, 13, 14 and 15 end to end: a real file of each
kind through ``gridmap import`` into a real workspace, asserting the counts and that
nothing was lost (cases 4 and 5, the killed import and the busy workspace, are in
``test_workspace.py`` and ``test_import_kill.py``)."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from pyproj import Geod, Transformer
from shapely.geometry import Polygon, box

from gridmap.cli import main

from _imports import adds_up as _adds_up, rows as _rows, run_import as _import

Cap = pytest.CaptureFixture[str]
GEOD = Geod(ellps="WGS84")
TO_4546 = Transformer.from_crs("EPSG:4326", "EPSG:4546", always_xy=True)


@pytest.fixture()
def ws(sample_copy: Path) -> Path:
    return sample_copy


# -- case 3: Chinese shapefile, GBK .dbf, no .cpg, code page byte 0 ------------------------------

def _gbk_shapefile(folder: Path) -> Path:
    x, y = TO_4546.transform(109.73, 38.29)
    frame = gpd.GeoDataFrame(
        {"社区编码": ["610802001901", "610802001902"], "名称": ["东城社区", "鼓楼西社区"],
         "书记": ["王小明", "李秀英"]},
        geometry=[box(x, y, x + 100, y + 100), box(x + 100, y, x + 200, y + 100)], crs="EPSG:4546")
    shp = folder / "communities.shp"
    pyogrio.write_dataframe(frame, shp, encoding="cp936")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    with open(shp.with_suffix(".dbf"), "r+b") as fh:
        fh.seek(29)
        fh.write(b"\x00")
    return shp


def test_case3_gbk_shapefile_without_cpg_comes_back_as_chinese(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    shp = _gbk_shapefile(tmp_path)
    raw = shp.with_suffix(".dbf").read_bytes()
    assert "东城社区".encode("gbk") in raw and "社区编码".encode("gbk") in raw and b"\x00" == raw[29:30]
    code, s = _import(capsys, str(ws), "communities", str(shp))
    assert code == 0 and s["accepted"] == 2 and s["quarantined"] == 0
    names = {r[0] for r in _rows(ws, "SELECT name FROM communities WHERE community_code LIKE '6108020019%'")}
    assert names == {"东城社区", "鼓楼西社区"}


def test_case3_zipped_gbk_shapefile(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    _gbk_shapefile(tmp_path)
    archive = tmp_path / "communities.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("communities.*"):
            if part.suffix != ".zip":
                zf.write(part, part.name)
    code, s = _import(capsys, str(ws), "communities", str(archive))
    assert code == 0 and s["accepted"] == 2
    names = {r[0] for r in _rows(ws, "SELECT name FROM communities WHERE community_code LIKE '6108020019%'")}
    assert names == {"东城社区", "鼓楼西社区"}


# -- cases 6, 7, 8: hostile and broken KML/KMZ --------------------------------------------------

KML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
PLACEMARK = ('<Placemark><name>R{i}</name><ExtendedData><Data name="category"><value>垃圾乱倒</value></Data>'
             '</ExtendedData><Point><coordinates>109.73{i},38.29{i}</coordinates></Point></Placemark>')


def _kml(body: str, doctype: str = "") -> str:
    return (KML_HEAD + doctype + '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>' + body
            + "</Document></kml>")


def test_case6_entity_bomb_refused_before_expansion(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    lol = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 10))
    doctype = f'<!DOCTYPE kml [<!ENTITY l0 "lol">{lol}]>'
    bomb = tmp_path / "bomb.kml"
    bomb.write_text(_kml("<Placemark><name>&l9;</name><Point><coordinates>109.73,38.29</coordinates>"
                         "</Point></Placemark>", doctype), encoding="utf-8")
    before = _rows(ws, "SELECT count(*) FROM reports")[0][0]
    tracemalloc.start()
    try:
        code, s = _import(capsys, str(ws), "reports", str(bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and "Traceback" not in s["err"]
    assert "XML entity 'l0'" in s["err"]  # refused at the first declaration: nothing expanded
    assert peak < 100 * 2**20  # expanded, &l9; would be 10**9 * "lol": 3 GB
    assert _rows(ws, "SELECT count(*) FROM reports")[0][0] == before


def test_case6_external_entity_never_leaks(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711", encoding="utf-8")
    doctype = f'<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    evil = tmp_path / "xxe.kml"
    evil.write_text(_kml("<Placemark><name>&xxe;</name><Point><coordinates>109.73,38.29</coordinates>"
                         "</Point></Placemark>", doctype), encoding="utf-8")
    code, s = _import(capsys, str(ws), "reports", str(evil))
    assert code == 2 and "TOP-SECRET-4711" not in s["err"]
    assert b"TOP-SECRET-4711" not in ws.read_bytes()


def test_case7_truncated_kml_refused_whole(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    full = _kml("".join(PLACEMARK.format(i=i) for i in range(1, 6)))
    cut = full[: full.index("<Placemark><name>R3") + 60]
    bad = tmp_path / "cut.kml"
    bad.write_text(cut, encoding="utf-8")
    before = _rows(ws, "SELECT count(*) FROM reports")[0][0]
    code, s = _import(capsys, str(ws), "reports", str(bad))
    assert code == 2
    assert _rows(ws, "SELECT count(*) FROM reports")[0][0] == before


def test_case8_kmz_with_path_traversal_refused(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    kmz = tmp_path / "evil.kmz"
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.writestr("doc.kml", _kml(PLACEMARK.format(i=1)))
        zf.writestr("../../escaped.kml", _kml(PLACEMARK.format(i=2)))
    code, s = _import(capsys, str(ws), "reports", str(kmz))
    assert code == 2
    assert not (tmp_path.parent / "escaped.kml").exists() and not (tmp_path / "escaped.kml").exists()


def test_case8_kmz_bomb_refused_from_its_index(ws: Path, tmp_path: Path, capsys: Cap,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    kmz = tmp_path / "bomb.kmz"
    with zipfile.ZipFile(kmz, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("doc.kml", "w", force_zip64=True) as member:
            member.write(_kml("").encode()[:-17])
            chunk = b" " * (1 << 20)
            for _ in range(300):
                member.write(chunk)
            member.write(b"</Document></kml>")
    assert kmz.stat().st_size < 2 << 20
    before = _rows(ws, "SELECT count(*) FROM reports")[0][0]
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def counting_open(self, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    code, s = _import(capsys, str(ws), "reports", str(kmz))
    monkeypatch.undo()
    assert code == 2 and "zip bomb" in s["err"] and "Traceback" not in s["err"]
    assert opened == []  # refused from the archive's index: not one byte of the 300 MiB decompressed
    assert _rows(ws, "SELECT count(*) FROM reports")[0][0] == before


# -- case 10: invalid polygons --------------------------------------------------------------------

def _bowtie_grids(folder: Path) -> tuple[Path, float]:
    x, y = TO_4546.transform(109.70, 38.31)
    good = box(x, y, x + 100, y + 100)
    bowtie = Polygon([(x + 200, y), (x + 300, y + 100), (x + 300, y), (x + 200, y + 100)])
    frame = gpd.GeoDataFrame(
        {"grid_code": ["610802001901001", "610802001901002"], "community_code": ["610802001901"] * 2,
         "cadre": ["甲", "乙"]}, geometry=[good, bowtie], crs="EPSG:4546")
    path = folder / "grids.gpkg"
    pyogrio.write_dataframe(frame, path, layer="grids")
    # each triangle of the bow-tie is 100*50/2 = 2500 m²; as drawn the ring's signed areas cancel
    return path, 5000.0


def test_case10_invalid_polygon_quarantined_with_reason(tmp_path: Path, capsys: Cap) -> None:
    ws = tmp_path / "empty.gpkg"
    main(["init", str(ws)])
    path, _ = _bowtie_grids(tmp_path)
    code, s = _import(capsys, str(ws), "grids", str(path))
    assert code == 0 and (s["accepted"], s["quarantined"]) == (1, 1)
    assert s["reasons"] == {"invalid_geometry": 1}
    detail = _rows(ws, "SELECT detail, raw FROM quarantine")[0]
    assert "Self-intersection" in detail[0]
    assert "POLYGON" in detail[1]


def test_case10_repair_on_request_reports_area_change(tmp_path: Path, capsys: Cap) -> None:
    ws = tmp_path / "empty.gpkg"
    main(["init", str(ws)])
    path, repaired_area = _bowtie_grids(tmp_path)
    capsys.readouterr()
    assert main(["import", str(ws), "grids", str(path), "--repair", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["accepted"] == 2 and s["quarantined"] == 0
    (rep,) = s["repaired"]
    assert rep["area_before_m2"] == pytest.approx(0.0, abs=1.0)
    assert rep["area_after_m2"] == pytest.approx(repaired_area, rel=5e-3)


# -- case 11: GCJ-02, swapped, outside China ------------------------------------------------------

def test_case11_gcj02_csv_is_stored_in_wgs84(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    csv = tmp_path / "amap.csv"
    csv.write_text("编号,上报时间,问题类型,描述,经度,纬度\n"
                   "G1,2025-04-01 08:00,垃圾乱倒,高德坐标,109.7390,38.2890\n"
                   "G2,2025-04-01 09:00,垃圾乱倒,写反了,38.2890,109.7390\n"
                   "G3,2025-04-01 10:00,垃圾乱倒,曼谷,100.50,13.75\n", encoding="utf-8")
    code, s = _import(capsys, str(ws), "reports", str(csv), "--coords", "gcj02")
    assert code == 0 and s["accepted"] == 1
    assert s["reasons"] == {"swapped_coordinates": 1, "outside_china": 1}
    stored = gpd.read_file(ws, layer="reports", where="report_id = 'G1'")
    lon, lat = stored.geometry.iloc[0].x, stored.geometry.iloc[0].y
    _, _, shift = GEOD.inv(109.7390, 38.2890, lon, lat)
    assert 100 < shift < 700  # GCJ-02 is offset by a few hundred metres in Shaanxi


# -- case 13: missing CRS, projected coordinates labelled EPSG:4326 -----------------------------

def test_case13_shapefile_without_crs_refused_with_how_to(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    shp = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="crs"):
        pyogrio.write_dataframe(gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["拆迁区"]},
                                                 geometry=[box(0, 0, 1, 1)], crs=None), shp)
    assert not shp.with_suffix(".prj").exists()
    code, s = _import(capsys, str(ws), "demolition_zones", str(shp))
    assert code == 2 and "CRS" in s["err"] and "Traceback" not in s["err"]


def test_case13_projected_coordinates_labelled_wgs84_refused(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    x, y = TO_4546.transform(109.73, 38.29)
    frame = gpd.GeoDataFrame({"zone_id": ["Z1", "Z2"]},
                             geometry=[box(x, y, x + 50, y + 50), box(x + 60, y, x + 110, y + 50)], crs="EPSG:4326")
    path = tmp_path / "mislabelled.gpkg"
    pyogrio.write_dataframe(frame, path)
    code, s = _import(capsys, str(ws), "demolition_zones", str(path))
    assert code == 2 and "projected" in s["err"].lower()


# -- case 14: duplicate ids, the same file twice --------------------------------------------------

def test_case14_duplicates_in_file_and_across_imports(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    rows = [f"X{i % 40},2025-05-01 08:{i % 40:02d},乱堆乱放,重复,{109.73 + (i % 40) * 1e-5:.5f},38.29"
            for i in range(100)]  # every repeat identical: duplicates
    csv = tmp_path / "dups.csv"
    csv.write_text("report_id,reported_at,category,description,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")
    before = _rows(ws, "SELECT count(*) FROM reports")[0][0]
    code, first = _import(capsys, str(ws), "reports", str(csv), "--coords", "wgs84")
    assert (first["read"], first["accepted"], first["duplicates"], first["quarantined"]) == (100, 40, 60, 0)
    code, second = _import(capsys, str(ws), "reports", str(csv), "--coords", "wgs84")
    assert (second["read"], second["accepted"], second["duplicates"], second["quarantined"]) == (100, 0, 100, 0)
    assert _rows(ws, "SELECT count(*) FROM reports")[0][0] == before + 40
    _adds_up(first)
    _adds_up(second)
    # repeats with other times and positions are not duplicates but key conflicts (issue 12)
    rows = [f"Y{i % 40},2025-05-01 08:{i % 60:02d},乱堆乱放,重复,{109.73 + i * 1e-5:.5f},38.29" for i in range(100)]
    csv.write_text("report_id,reported_at,category,description,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code, third = _import(capsys, str(ws), "reports", str(csv), "--coords", "wgs84")
    assert (third["read"], third["accepted"], third["duplicates"], third["quarantined"]) == (100, 40, 0, 60)
    assert third["reasons"] == {"key_conflict": 60}
    _adds_up(third)


# -- case 15: times ---------------------------------------------------------------------------------

def test_case15_times_with_and_without_zone(ws: Path, tmp_path: Path, capsys: Cap) -> None:
    csv = tmp_path / "times.csv"
    csv.write_text(
        "report_id,reported_at,category,description,lon,lat\n"
        "T1,2025-03-01 08:00,垃圾乱倒,无时区,109.731,38.291\n"
        "T2,2025-03-01T00:00:00Z,垃圾乱倒,UTC,109.732,38.291\n"
        "T3,2025/3/1 8:00,垃圾乱倒,斜杠,109.733,38.291\n"
        "T4,2099-03-01 08:00,垃圾乱倒,未来,109.734,38.291\n"
        "T5,三月一日早上,垃圾乱倒,无法解析,109.735,38.291\n"
        "T6,,垃圾乱倒,没有时间,109.736,38.291\n", encoding="utf-8")
    code, s = _import(capsys, str(ws), "reports", str(csv), "--coords", "wgs84")
    assert s["accepted"] == 3
    assert s["reasons"] == {"future_time": 1, "unparseable_time": 1, "missing_time": 1}
    stored = gpd.read_file(ws, layer="reports", where="report_id IN ('T1','T2','T3')")
    instants = stored["reported_at"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M").tolist()
    assert instants == ["2025-03-01T00:00"] * 3
    assert np.all(stored["reported_at"].dt.tz is not None)
