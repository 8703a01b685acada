"""The leaders' report page: compact encoding, the exported file, redaction, options and the command line."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely.geometry
from hypothesis import given, settings
from hypothesis import strategies as st

import gridmap
from gridmap.errors import SchemaError
from gridmap.cli import main
from gridmap.crs import from_wgs84, metric_crs
from gridmap.pages.report import export_html, report_map
from gridmap.maps.assets import AssetsMissingError, asset_cache
from gridmap.maps.compact import QUANTUM_DEG, CompactPoints, json_for_script
from gridmap.maps.offline import remote_references

from _browser import real_cache_or_skip
from _compact import decode as _decode, payload_of as _payload

PHONE = re.compile(r"1[3-9]\d{9}")
PERIOD = {"start": "2025-03-01", "end": "2025-04-01"}


@pytest.fixture(scope="module")
def layers() -> dict:
    return gridmap.sample_layers(n_reports=1500, track_days=3)


# ----------------------------------------------------------------------------- decoding, written independently


coords = st.lists(st.tuples(st.floats(73.5, 135.0), st.floats(18.0, 53.5)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(points=coords, spread=st.sampled_from([0.01, 0.5, 5.0]))
def test_coordinates_survive_within_half_a_quantum(points: list, spread: float) -> None:
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    lon = lon[0] + (lon - lon[0]) * spread / 62  # extents from under 1 km to a few degrees (16 or 32 bits)
    lat = lat[0] + (lat - lat[0]) * spread / 36
    layer = CompactPoints(lon, lat, [("k", ["a"] * len(lon))], colour_field=0, name="p")
    got = _decode(layer.payload)
    assert np.abs(got["lon"] - lon).max() <= QUANTUM_DEG / 2 + 1e-9
    assert np.abs(got["lat"] - lat).max() <= QUANTUM_DEG / 2 + 1e-9


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=30))
def test_texts_survive_and_stay_inert(texts: list) -> None:
    n = len(texts)
    layer = CompactPoints(np.full(n, 109.73), np.full(n, 38.29), [("描述", texts)], colour_field=0, name="p")
    got = _decode(layer.payload)["fields"]["描述"]
    assert got == [None if t in (None, "") else t for t in texts]
    assert "<" not in layer.payload and ">" not in layer.payload and "&" not in layer.payload
    assert not re.search(r"\{[{%#]", layer.payload)  # nothing Jinja2 would read as a tag


def test_binary_arrays_hold_no_digit_at_all() -> None:
    rng = np.random.default_rng(1)
    lon, lat = 109.7 + rng.random(5000) * 0.05, 38.27 + rng.random(5000) * 0.05
    ids = [f"R{i:06d}" for i in range(5000)]
    layer = CompactPoints(lon, lat, [("id", ids)], colour_field=0, id_field=0, name="p")
    data = json.loads(layer.payload)
    for blob in (data["x"], data["y"], data["fields"][0]["codes"]):
        assert not re.search(r"\d", blob)
    assert _decode(layer.payload)["fields"]["id"] == ids  # the ids as numbers, rebuilt


def test_mixed_ids_fall_back_to_text() -> None:
    ids = ["R000001", "X2", None]
    layer = CompactPoints([109.7] * 3, [38.3] * 3, [("id", ids)], colour_field=0, id_field=0, name="p")
    assert json.loads(layer.payload)["fields"][0]["kind"] == "text"
    assert _decode(layer.payload)["fields"]["id"] == ["R000001", "X2", None]


def test_text_budget_keeps_the_newest_first() -> None:
    texts = [f"描述{i:03d}" + "x" * 20 for i in range(50)]  # 32 bytes each in UTF-8
    newest_first = np.arange(50)[::-1]
    layer = CompactPoints(np.full(50, 109.73), np.full(50, 38.29), [("d", texts)], colour_field=0,
                          order=newest_first, text_budget=35 * 10, omitted="(未收录)", name="p")
    got = _decode(layer.payload)["fields"]["d"]
    kept = [i for i, t in enumerate(got) if t == texts[i]]
    assert kept == list(range(40, 50))  # (32 + 3) * 10 bytes: exactly the ten newest
    assert all(got[i] == "(未收录)" for i in range(40))
    assert layer.dropped == {"d": 40}


def test_palette_follows_the_given_colours() -> None:
    layer = CompactPoints([109.7, 109.71], [38.3, 38.31], [("c", ["垃圾", "污水"])], colour_field=0,
                          palette={"污水": "#00ff00"}, name="p")
    got = _decode(layer.payload)
    assert got["palette"][2] == "#00ff00"  # index 0 is "missing", then 垃圾, 污水


def test_json_for_script_examples() -> None:
    hostile = "</script><script>alert(1)</script>{{ 7*7 }}{% x %}{#c#}\u2028"
    text = json_for_script({"t": hostile, "n": [1, 2]})
    assert json.loads(text) == {"t": hostile, "n": [1, 2]}
    assert "</script" not in text.lower() and not re.search(r"\{[{%#]", text) and "\u2028" not in text


# ----------------------------------------------------------------------------- the exported page


@pytest.mark.browser
def test_offline_page_is_self_contained_deterministic_and_free_of_phones(layers: dict, tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    one = export_html(layers, tmp_path / "a.html", illustrative=True, cache=cache, **PERIOD)
    two = export_html(layers, tmp_path / "b.html", illustrative=True, cache=cache, **PERIOD)
    html = one.read_text(encoding="utf-8")
    assert html == two.read_text(encoding="utf-8")  # same data, same bytes
    assert remote_references(html) == []
    assert not re.search(r"""<(script|link|img)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?//""", html, flags=re.I)
    assert PHONE.search(html) is None
    assert not re.search(r"[0-9a-f]{32}", html)  # folium's random ids are gone
    assert html.startswith("<!DOCTYPE html>\n<html lang=\"zh-Hans\">")
    assert "示意数据（非测绘边界）" in html
    assert "fontawesome-free" not in html and "bootstrap.bundle" not in html  # unused assets left out
    assert one.stat().st_size < 2_500_000


def test_page_counts_match_an_independent_selection(layers: dict) -> None:
    html = report_map(layers, **PERIOD).get_root().render()
    times = pd.to_datetime(layers["reports"]["reported_at"]).dt.tz_convert("Asia/Shanghai")
    expected = int(((times >= pd.Timestamp("2025-03-01", tz="Asia/Shanghai"))
                    & (times < pd.Timestamp("2025-04-01", tz="Asia/Shanghai"))).sum())
    assert f"问题报告 {expected:,}</span>" in html
    payload = _payload(html, "reports")
    decoded = _decode(payload)
    assert decoded["n"] == expected
    chosen = layers["reports"][(times >= pd.Timestamp("2025-03-01", tz="Asia/Shanghai"))
                               & (times < pd.Timestamp("2025-04-01", tz="Asia/Shanghai"))]
    assert sorted(decoded["fields"]["编号"]) == sorted(chosen["report_id"])
    by_id = dict(zip(decoded["fields"]["编号"], zip(decoded["lon"], decoded["lat"])))
    for rid, point in zip(chosen["report_id"], chosen.geometry):
        lon, lat = by_id[rid]
        assert abs(lon - point.x) <= QUANTUM_DEG and abs(lat - point.y) <= QUANTUM_DEG


def test_english_labels_and_no_mark_without_the_sample_flag(layers: dict) -> None:
    html = report_map(layers, lang="en", **PERIOD).get_root().render()
    assert "overall coverage" in html and "reports per km² per month" in html
    assert "illustrative data" not in html


def test_missing_asset_cache_stops_before_any_work(layers: dict, tmp_path: Path, caplog) -> None:
    empty = asset_cache(tmp_path / "empty-cache")
    with caplog.at_level(logging.INFO, logger="gridmap"):
        with pytest.raises(AssetsMissingError, match=r"gridmap assets fetch"):
            export_html(layers, tmp_path / "r.html", cache=empty)
    assert not (tmp_path / "r.html").exists()
    assert not any("kde" in r.getMessage() for r in caplog.records)  # the analysis never started


def test_unknown_options_fail_first(layers: dict, tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="tianditu-key"):
        export_html(layers, tmp_path / "r.html", basemap="tianditu", offline=False)
    with pytest.raises(SchemaError, match="language"):
        export_html(layers, tmp_path / "r.html", lang="fr", offline=False)
    with pytest.raises(SchemaError, match="basemap"):
        export_html(layers, tmp_path / "r.html", basemap="google", offline=False)


def test_online_page_links_the_cdns(layers: dict, tmp_path: Path) -> None:
    html = export_html(layers, tmp_path / "r.html", offline=False, **PERIOD).read_text(encoding="utf-8")
    assert "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in remote_references(html)


def test_caller_layers_are_not_modified(layers: dict) -> None:
    before = {k: v.copy() for k, v in layers.items() if v is not None}
    report_map(layers, basemap="amap", **PERIOD)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(pd.DataFrame(layers[name]), pd.DataFrame(frame))


def test_amap_shifts_every_layer_into_gcj02(layers: dict) -> None:
    html = report_map(layers, basemap="amap", **PERIOD).get_root().render()
    wall = layers["wall"].geometry.iloc[0]
    x, y = wall.geoms[0].coords[0] if hasattr(wall, "geoms") else wall.coords[0]
    gx, gy = from_wgs84(x, y, "gcj02")
    assert f"[{round(float(gx), 6)}, {round(float(gy), 6)}]" in html  # GeoJSON lon, lat: the GCJ-02 vertex
    assert f"[{round(x, 6)}, {round(y, 6)}]" not in html
    payload = _payload(html, "reports")
    decoded = _decode(payload)
    times = pd.to_datetime(layers["reports"]["reported_at"]).dt.tz_convert("Asia/Shanghai")
    chosen = layers["reports"][(times >= pd.Timestamp("2025-03-01", tz="Asia/Shanghai"))
                               & (times < pd.Timestamp("2025-04-01", tz="Asia/Shanghai"))]
    first = chosen.iloc[0]
    i = decoded["fields"]["编号"].index(first["report_id"])
    glon, glat = from_wgs84(first.geometry.x, first.geometry.y, "gcj02")
    assert abs(decoded["lon"][i] - float(glon)) <= QUANTUM_DEG and abs(decoded["lat"][i] - float(glat)) <= QUANTUM_DEG


# ----------------------------------------------------------------------------- privacy


def _with_personal_data(layers: dict) -> dict:
    out = {k: (v.copy() if v is not None else None) for k, v in layers.items()}
    grids = out["grids"]
    grids.loc[grids.index[0], "cadre"] = "王小明"
    grids.loc[grids.index[0], "cadre_phone"] = "13912345678"
    grids.loc[grids.index[1], "cadre"] = "欧阳娜娜"
    reports = out["reports"]
    in_march = pd.to_datetime(reports["reported_at"]).dt.month == 3
    first = reports.index[in_march.to_numpy()][0]
    reports.loc[first, "description"] = "垃圾堆积，请联系13812345678或+86 137-1234-5678"
    reports.loc[first, "report_id"] = "15912345678"
    out["communities"].loc[out["communities"].index[0], "secretary"] = "李四"
    return out


def test_redacted_page_has_no_phone_and_masks_names(layers: dict, tmp_path: Path) -> None:
    personal = _with_personal_data(layers)
    html = export_html(personal, tmp_path / "r.html", offline=False, **PERIOD).read_text(encoding="utf-8")
    assert PHONE.search(html) is None
    assert "137-1234-5678" not in html
    assert "王小明" not in html and "欧阳娜娜" not in html and "李四" not in html
    assert "王**" in html and "欧阳**" in html
    assert "已隐去电话号码" in html


def test_unredacted_page_keeps_them_and_says_so(layers: dict, tmp_path: Path, caplog) -> None:
    personal = _with_personal_data(layers)
    with caplog.at_level(logging.WARNING, logger="gridmap"):
        html = export_html(personal, tmp_path / "r.html", offline=False, redact=False, **PERIOD)\
            .read_text(encoding="utf-8")
    assert "13812345678" in html and "王小明" in html
    assert "内部使用：未脱敏，请勿转发" in html
    assert any("without redaction" in r.getMessage() for r in caplog.records)


def test_no_track_or_inspector_reaches_the_page(layers: dict) -> None:
    html = report_map(layers, **PERIOD).get_root().render()
    names = set(layers["tracks"]["inspector"].astype(str))
    assert not [n for n in names if n in html]
    # no track drawn as a line: every line on the page lies on a street or the wall (the streets' dead stretches
    # are pieces of them); a track's line would leave them
    lines = [shapely.geometry.shape(g) for g in _line_geometries(html)]
    assert lines and re.search(r'"type": "MultiLineString"', html)
    fixed = layers["streets"].geometry.union_all().union(layers["wall"].geometry.union_all())
    crs = metric_crs(layers["streets"])
    on_them = gpd.GeoSeries([fixed], crs=4326).to_crs(crs).buffer(1.0).iloc[0]
    assert all(on_them.contains(line) for line in gpd.GeoSeries(lines, crs=4326).to_crs(crs))


def _line_geometries(html: str) -> list[dict]:
    """Every LineString / MultiLineString geometry object in the page's GeoJSON."""
    found, decoder = [], json.JSONDecoder()
    for match in re.finditer(r'"geometry": (?=\{)', html):
        geometry, _ = decoder.raw_decode(html, match.end())
        if isinstance(geometry, dict) and geometry.get("type") in ("LineString", "MultiLineString"):
            found.append(geometry)
    return found


# ----------------------------------------------------------------------------- size


@pytest.mark.browser
@pytest.mark.slow
def test_100k_reports_fit_in_5_mb(tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    big = gridmap.sample_layers(n_reports=100_000, track_days=1)
    out = export_html(big, tmp_path / "big.html", cache=cache, illustrative=True)
    size = out.stat().st_size
    assert size <= 5_000_000, size
    html = out.read_text(encoding="utf-8")
    payload = _payload(html, "reports")
    assert json.loads(payload)["n"] == 100_000
    assert PHONE.search(html) is None


# ----------------------------------------------------------------------------- command line


@pytest.mark.browser
def test_cli_report_writes_the_page(sample_template: Path, tmp_path: Path, capsys) -> None:
    cache = real_cache_or_skip()
    out = tmp_path / "report.html"
    code = main(["report", str(sample_template), "--html", str(out), "--from", "2025-03-01", "--to", "2025-04-01"])
    assert code == 0, capsys.readouterr().err
    assert "wrote" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert remote_references(html) == [] and PHONE.search(html) is None
    assert "示意数据（非测绘边界）" in html  # the sample workspace says it is illustrative
    assert cache is not None


def test_cli_no_redact_warns(sample_template: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "internal.html"
    code = main(["report", str(sample_template), "--html", str(out), "--online", "--no-redact", "--from",
                 "2025-03-01", "--to", "2025-03-08"])
    assert code == 0
    assert "--no-redact keeps names and phone numbers" in capsys.readouterr().err
    assert "内部使用" in out.read_text(encoding="utf-8")


def test_cli_tianditu_without_key_is_a_clear_error(sample_template: Path, tmp_path: Path, capsys) -> None:
    code = main(["report", str(sample_template), "--html", str(tmp_path / "r.html"), "--online",
                 "--basemap", "tianditu"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--tianditu-key" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


# ----------------------------------------------------------------------------- figures: right or "no data"


def test_overall_coverage_and_table_read_floor_of_the_independent_ratio(layers: dict) -> None:
    import math
    from html import unescape

    html = unescape(report_map(layers, **PERIOD).get_root().render())
    result = gridmap.sweep_coverage(layers["grids"], layers["tracks"], start=PERIOD["start"], end=PERIOD["end"])
    grids = result.grids
    expected = f"{math.floor(1000 * grids['covered_m2'].sum() / grids['area_m2'].sum() + 1e-9) / 10:.1f} %"
    assert f"总覆盖率 {expected}</span>" in html
    for code, rows in grids.groupby("community_code"):
        ratio = rows["covered_m2"].sum() / rows["area_m2"].sum()
        assert f"<td>{math.floor(1000 * ratio + 1e-9) / 10:.1f} %</td>" in html, code


def test_no_tracks_and_no_rectifications_read_no_data(layers: dict) -> None:
    from html import unescape

    blind = {**layers, "tracks": layers["tracks"].iloc[:0], "rectifications": layers["rectifications"].iloc[:0]}
    html = unescape(report_map(blind, **PERIOD).get_root().render())
    assert "总覆盖率 无数据</span>" in html and "本时段无巡查轨迹：覆盖率无数据" in html
    assert "卫生死角清单（按面积） (无数据)" in html
    assert "无整改记录：问题反弹无数据" in html
    assert json.dumps("反弹点位")[1:-1] not in html and "反弹点位" not in html
    assert "0.0 %" not in html
    full = unescape(report_map(layers, **PERIOD).get_root().render())
    assert "无整改记录" not in full and "本时段无巡查轨迹" not in full


def test_a_random_folium_id_shaped_like_a_phone_never_blocks_a_page() -> None:
    """CI once drew a folium id holding 1[3-9]+9 digits; the page refused itself. Ids are renumbered first."""
    import folium

    from gridmap.pages.common import page_html

    fmap = folium.Map(tiles=None)
    fmap._id = "07" + "13812345678" + "0" * 19  # the shape of the id CI drew (a uuid4 hex of digits)
    html = page_html(fmap, offline=False, lang="zh")
    assert "13812345678" not in html and re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", html) is None
