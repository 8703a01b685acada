"""Coordinates as delivered (issue 12, item 5): --crs for files without a CRS, the metres guess, --coords refused.

Files are written with pyogrio the way surveyors deliver them: a shapefile in CGCS2000 Gauss-Kruger metres whose
.prj has been lost. Expected coordinates come from pyproj directly, never from gridmap.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
from pyproj.database import query_crs_info
from shapely.geometry import Point, box

import gridmap
from gridmap import cli
from gridmap.errors import CRSError
from gridmap.crs import gauss_kruger_epsg, missing_crs_message

# WGS84 points in Yulin (around 109.73E 38.29N), and a subdistrict box around them
LONLAT = [(109.7301, 38.2901), (109.7402, 38.3003), (109.7505, 38.3107)]
SUBDISTRICT = box(109.70, 38.27, 109.78, 38.33)


def _projected(epsg: int) -> list[tuple[float, float]]:
    to = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    return [to.transform(lon, lat) for lon, lat in LONLAT]


def _shapefile(tmp_path, xy, *, prj: bool = False, epsg: int = 4546, name: str = "targets"):
    frame = gpd.GeoDataFrame(
        {"target_id": ["T1", "T2", "T3"], "kind": ["courtyard"] * 3, "name": ["鼓楼", "北大街", "东城"]},
        geometry=[Point(x, y) for x, y in xy], crs=f"EPSG:{epsg}",
    )
    shp = tmp_path / f"{name}.shp"
    pyogrio.write_dataframe(frame, shp, encoding="utf-8")
    if not prj:
        shp.with_suffix(".prj").unlink()
    return shp


@pytest.fixture()
def ws_path(tmp_path):
    path = tmp_path / "w.gpkg"
    with gridmap.init_workspace(path) as ws:
        sub = tmp_path / "sub.geojson"
        gpd.GeoDataFrame({"code": ["610802001"], "name": ["鼓楼街道"]}, geometry=[SUBDISTRICT],
                         crs=4326).to_file(sub, driver="GeoJSON", engine="pyogrio")
        assert gridmap.import_file(ws, "subdistrict", sub).accepted == 1
    return path


def _run(args, capsys):
    status = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


def _balanced(summary) -> None:
    assert summary["read"] == summary["accepted"] + summary["duplicates"] + summary["quarantined"]


# -- the EPSG codes, checked against PROJ's own database -------------------------------------------------------


@pytest.mark.parametrize("cm", range(75, 136, 3))
def test_gauss_kruger_codes_match_proj(cm):
    zone = cm // 3
    for datum, code in gauss_kruger_epsg(cm).items():
        assert pyproj.CRS.from_epsg(code).name == f"{datum} / 3-degree Gauss-Kruger CM {cm}E"
    for datum, code in gauss_kruger_epsg(cm, prefixed=True).items():
        assert pyproj.CRS.from_epsg(code).name == f"{datum} / 3-degree Gauss-Kruger zone {zone}"


def test_gauss_kruger_codes_are_all_proj_has():
    names = {i.name: int(i.code) for i in query_crs_info(auth_name="EPSG", pj_types="PROJECTED_CRS")
             if "/ 3-degree Gauss-Kruger" in i.name
             and i.name.split(" /")[0] in ("CGCS2000", "Xian 1980", "Beijing 1954")}
    ours = {}
    for cm in range(75, 136, 3):
        for prefixed in (False, True):
            kind = f"zone {cm // 3}" if prefixed else f"CM {cm}E"
            for datum, code in gauss_kruger_epsg(cm, prefixed=prefixed).items():
                ours[f"{datum} / 3-degree Gauss-Kruger {kind}"] = code
    assert ours == names
    assert pyproj.CRS.from_epsg(4525).name == "CGCS2000 / 3-degree Gauss-Kruger zone 37"
    assert pyproj.CRS.from_epsg(4546).name == "CGCS2000 / 3-degree Gauss-Kruger CM 111E"


def test_gauss_kruger_refuses_other_meridians():
    with pytest.raises(CRSError, match="central meridian 110E"):
        gauss_kruger_epsg(110)


# -- the metres guess -------------------------------------------------------------------------------------------


def test_guess_without_workspace_gives_the_rule():
    msg = missing_crs_message(np.array(_projected(4546)), what="a.shp")
    assert "central meridian" in msg and "4534 + (CM - 75) / 3" in msg and "--crs EPSG:4546" in msg


def _proj_codes_by_name() -> dict[str, int]:
    return {i.name: int(i.code) for i in query_crs_info(auth_name="EPSG", pj_types="PROJECTED_CRS")}


@pytest.mark.parametrize("lon", [76.0, 88.2, 103.4, 109.73, 117.0, 126.5, 134.9])
def test_guess_with_workspace_longitude_names_that_zone(lon):
    # independent: the nearest central meridian by brute force, its codes looked up in PROJ by name
    cm = min(range(75, 136, 3), key=lambda c: abs(lon - c))
    by_name = _proj_codes_by_name()
    msg = missing_crs_message(np.array([[400000.0, 4200000.0]]), near_lon=lon)
    for datum in ("CGCS2000", "Xian 1980", "Beijing 1954"):
        assert f"--crs EPSG:{by_name[f'{datum} / 3-degree Gauss-Kruger CM {cm}E']}" in msg


def test_guess_degrees_says_4326():
    msg = missing_crs_message(np.array(LONLAT))
    assert "--crs EPSG:4326" in msg and "--coords gcj02" in msg


# -- the import command ---------------------------------------------------------------------------------------


def test_shapefile_without_prj_in_metres_is_refused_naming_4546(tmp_path, ws_path, capsys):
    shp = _shapefile(tmp_path, _projected(4546))
    status, out, err = _run(["import", ws_path, "targets", shp], capsys)
    assert status == 2
    assert "targets.shp has no coordinate reference system" in err
    assert "--crs EPSG:4546" in err and "--crs EPSG:2382" in err and "--crs EPSG:2434" in err
    assert "Traceback" not in err
    with gridmap.open_workspace(ws_path) as ws:
        assert len(ws.read_layer("targets")) == 0


def test_shapefile_without_prj_imports_with_crs(tmp_path, ws_path, capsys):
    xy = _projected(4546)
    shp = _shapefile(tmp_path, xy)
    status, out, err = _run(["import", ws_path, "targets", shp, "--crs", "EPSG:4546", "--json"], capsys)
    assert status == 0, err
    summary = json.loads(out)
    _balanced(summary)
    assert (summary["read"], summary["accepted"]) == (3, 3)
    back = pyproj.Transformer.from_crs(4546, 4326, always_xy=True)
    with gridmap.open_workspace(ws_path) as ws:
        stored = ws.read_layer("targets").set_index("target_id").sort_index()
    assert stored.crs.to_epsg() == 4326
    for (x, y), (_, row) in zip(xy, stored.iterrows()):
        lon, lat = back.transform(x, y)
        assert row.geometry.x == pytest.approx(lon, abs=1e-8)
        assert row.geometry.y == pytest.approx(lat, abs=1e-8)
    assert stored["name"].tolist() == ["鼓楼", "北大街", "东城"]


def test_zone_prefixed_x_names_4525(tmp_path, ws_path, capsys):
    xy = _projected(4525)
    assert all(37_000_000 < x < 38_000_000 for x, _ in xy)
    shp = _shapefile(tmp_path, xy, epsg=4525)
    status, out, err = _run(["import", ws_path, "targets", shp], capsys)
    assert status == 2
    assert "--crs EPSG:4525" in err and "--crs EPSG:2361" in err and "--crs EPSG:2413" in err
    status, out, err = _run(["import", ws_path, "targets", shp, "--crs", "EPSG:4525", "--json"], capsys)
    assert status == 0, err
    summary = json.loads(out)
    _balanced(summary)
    assert summary["accepted"] == 3


def test_coords_on_projected_shapefile_points_to_crs(tmp_path, ws_path, capsys):
    shp = _shapefile(tmp_path, _projected(4546), prj=True)
    status, out, err = _run(["import", ws_path, "targets", shp, "--coords", "gcj02"], capsys)
    assert status == 2
    assert "--coords is for longitude/latitude" in err and "--crs" in err
    status, out, err = _run(["import", ws_path, "targets", tmp_path / "none.shp", "--coords", "gcj02"], capsys)
    assert status == 2


def test_coords_on_shapefile_without_prj_declared_by_crs(tmp_path, ws_path, capsys):
    shp = _shapefile(tmp_path, _projected(4546))
    status, out, err = _run(["import", ws_path, "targets", shp, "--crs", "EPSG:4546", "--coords", "bd09"], capsys)
    assert status == 2 and "--coords is for longitude/latitude" in err


def test_prj_plus_conflicting_crs_is_refused(tmp_path, ws_path, capsys):
    shp = _shapefile(tmp_path, _projected(4546), prj=True)
    status, out, err = _run(["import", ws_path, "targets", shp, "--crs", "EPSG:4545"], capsys)
    assert status == 2
    assert "declares its own CRS" in err and "EPSG:4546" in err and "EPSG:4545" in err
    with gridmap.open_workspace(ws_path) as ws:
        assert len(ws.read_layer("targets")) == 0


def test_prj_plus_same_crs_imports(tmp_path, ws_path, capsys):
    shp = _shapefile(tmp_path, _projected(4546), prj=True)
    status, out, err = _run(["import", ws_path, "targets", shp, "--crs", "EPSG:4546", "--json"], capsys)
    assert status == 0, err
    summary = json.loads(out)
    _balanced(summary)
    assert summary["accepted"] == 3


def test_geojson_refuses_a_projected_crs(tmp_path, ws_path, capsys):
    path = tmp_path / "t.geojson"
    gpd.GeoDataFrame({"target_id": ["T1"], "kind": ["courtyard"]}, geometry=[Point(*LONLAT[0])],
                     crs=4326).to_file(path, driver="GeoJSON", engine="pyogrio")
    status, out, err = _run(["import", ws_path, "targets", path, "--crs", "EPSG:4546"], capsys)
    assert status == 2 and "RFC 7946" in err
    status, out, err = _run(["import", ws_path, "targets", path, "--crs", "EPSG:4326", "--json"], capsys)
    assert status == 0, err
    _balanced(json.loads(out))


def test_projected_crs_refused_for_degrees_in_a_csv(tmp_path, ws_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("report_id,reported_at,category,lon,lat\nR1,2025-03-01 08:00,垃圾乱倒,109.73,38.29\n",
                    encoding="utf-8")
    status, out, err = _run(["import", ws_path, "reports", path, "--crs", "EPSG:4546", "--coords", "wgs84"], capsys)
    assert status == 2 and "are longitude/latitude in degrees, not metres of --crs EPSG:4546" in err


def test_unknown_crs_is_a_message(tmp_path, ws_path, capsys):
    shp = _shapefile(tmp_path, _projected(4546))
    status, out, err = _run(["import", ws_path, "targets", shp, "--crs", "EPSG:999999"], capsys)
    assert status == 2 and "not a coordinate reference system PROJ knows" in err


def test_api_import_file_with_crs(tmp_path, ws_path):
    shp = _shapefile(tmp_path, _projected(4546))
    with pytest.raises(CRSError, match="EPSG:4546"):
        gridmap.import_file(ws_path, "targets", shp)
    summary = gridmap.import_file(ws_path, "targets", shp, crs=4546)
    assert summary.read == summary.accepted + summary.duplicates + summary.quarantined == 3


# -- invariants -------------------------------------------------------------------------------------------------

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(lon=st.floats(73.6, 136.4), lat=st.floats(4.0, 53.5), prefixed=st.booleans())
@example(lon=74.0, lat=18.0, prefixed=False)  # Hainan's latitude: northing below 2,000 km
def test_projected_points_are_guessed_back(lon, lat, prefixed):
    """A point anywhere in China, projected with its own zone's CGCS2000 GK CRS, is guessed back to that code."""
    cm = min(range(75, 136, 3), key=lambda c: abs(lon - c))
    name = f"CGCS2000 / 3-degree Gauss-Kruger {'zone ' + str(cm // 3) if prefixed else f'CM {cm}E'}"
    code = _proj_codes_by_name()[name]
    x, y = pyproj.Transformer.from_crs(4326, code, always_xy=True).transform(lon, lat)
    msg = missing_crs_message(np.array([[x, y]]), near_lon=None if prefixed else lon)
    assert f"--crs EPSG:{code} " in msg


# -- more deliveries ------------------------------------------------------------------------------------------


def test_empty_workspace_gives_the_rule(tmp_path, capsys):
    ws = tmp_path / "empty.gpkg"
    gridmap.init_workspace(ws).close()
    shp = _shapefile(tmp_path, _projected(4546))
    status, out, err = _run(["import", ws, "targets", shp], capsys)
    assert status == 2 and "4534 + (CM - 75) / 3" in err and "--crs EPSG:4546" in err


def test_zipped_shapefile_without_prj_imports_with_crs(tmp_path, ws_path, capsys):
    import zipfile

    _shapefile(tmp_path, _projected(4546))
    archive = tmp_path / "grids_delivery.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("targets.*"):
            zf.write(part, part.name)
    status, out, err = _run(["import", ws_path, "targets", archive], capsys)
    assert status == 2 and "--crs EPSG:4546" in err
    status, out, err = _run(["import", ws_path, "targets", archive, "--crs", "EPSG:4546", "--json"], capsys)
    assert status == 0, err
    summary = json.loads(out)
    _balanced(summary)
    assert summary["accepted"] == 3


def test_degrees_without_prj_from_amap(tmp_path, ws_path, capsys):
    """Longitude/latitude without .prj: --crs EPSG:4326 declares it, --coords gcj02 still converts it."""
    from gridmap.crs import from_wgs84

    glon, glat = from_wgs84([p[0] for p in LONLAT], [p[1] for p in LONLAT], "gcj02")
    shp = _shapefile(tmp_path, list(zip(glon, glat)), epsg=4326)
    status, out, err = _run(["import", ws_path, "targets", shp, "--coords", "gcj02"], capsys)
    assert status == 2 and "--crs EPSG:4326" in err
    status, out, err = _run(["import", ws_path, "targets", shp, "--crs", "EPSG:4326", "--coords", "gcj02",
                             "--json"], capsys)
    assert status == 0, err
    _balanced(json.loads(out))
    with gridmap.open_workspace(ws_path) as ws:
        stored = ws.read_layer("targets").set_index("target_id").sort_index()
    for (lon, lat), (_, row) in zip(LONLAT, stored.iterrows()):
        # within 1 cm of the true WGS84 point (about 1e-7 degrees)
        assert row.geometry.x == pytest.approx(lon, abs=1e-7) and row.geometry.y == pytest.approx(lat, abs=1e-7)
