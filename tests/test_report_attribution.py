"""Reports to the right person on the leaders' page: each popup names the report's grid, street and area."""

from __future__ import annotations

import json

import pandas as pd

import gridmap
from gridmap.crs import metric_crs
from gridmap.pages.report import report_map

from _compact import decode as _decode, payload_of as _payload

PERIOD = {"start": "2025-03-01", "end": "2025-04-01"}
TZ = "Asia/Shanghai"


def _expected(layers: dict) -> dict[str, tuple[str | None, str | None]]:
    """Per report of the period: the nearest street within 15 m and its area's name, by brute force."""
    reports, grids, streets, areas = layers["reports"], layers["grids"], layers["streets"], layers["areas"]
    times = reports["reported_at"]
    chosen = reports[(times >= pd.Timestamp(PERIOD["start"], tz=TZ)) & (times < pd.Timestamp(PERIOD["end"], tz=TZ))]
    crs = metric_crs(grids)
    lines = list(zip(streets["street_name"], streets.to_crs(crs).geometry))
    polygons = list(zip(areas["area_code"], areas.to_crs(crs).geometry))
    area_name = dict(zip(areas["area_code"], areas["name"]))
    of_grid = dict(zip(grids["grid_code"], grids["area_code"]))
    out = {}
    for rid, grid, point in zip(chosen["report_id"], chosen["grid_code"], chosen.to_crs(crs).geometry):
        d, name = min((point.distance(g), n) for n, g in lines)  # names are distinct: a tie picks one at random
        code = of_grid.get(grid) if isinstance(grid, str) else None
        if not isinstance(code, str):
            code = next((c for c, poly in polygons if poly.intersects(point)), None)
        out[rid] = (name if d <= 15.0 else None, None if code is None else area_name.get(code, code))
    return out


def test_popups_carry_grid_street_and_area() -> None:
    layers = gridmap.sample_layers(n_reports=1500, track_days=1)
    html = report_map(layers, **PERIOD).get_root().render()
    payload = _payload(html, "reports")
    decoded = _decode(payload)
    fields = decoded["fields"]
    assert {"网格", "街道", "片区"} <= set(fields)
    expected = _expected(layers)
    got = {rid: (street, area) for rid, street, area in zip(fields["编号"], fields["街道"], fields["片区"])}
    assert got == expected
    assert any(s for s, _ in expected.values()) and any(s is None for s, _ in expected.values())
    # coded like the grid: each street and area name once in the page's data, a code per report
    street_field = next(f for f in json.loads(payload)["fields"] if f["label"] == "街道")
    assert len(street_field["values"]) <= len(layers["streets"]) + 1
    # no leader or street chief reaches a popup
    for name in list(layers["areas"]["leader"]) + list(layers["streets"]["street_chief"]):
        assert name not in html


def test_english_popup_labels() -> None:
    layers = gridmap.sample_layers(n_reports=300, track_days=1)
    fields = _decode(_payload(report_map(layers, lang="en", **PERIOD).get_root().render(), "reports"))["fields"]
    assert {"grid", "street", "area"} <= set(fields)


def test_spotcheck_checklist_csv_says_grid_street_and_area(tmp_path) -> None:
    from gridmap.analysis.spotcheck import CHECKLIST_COLUMNS, spot_check

    layers = gridmap.sample_layers(n_reports=1500, track_days=1)
    sample = spot_check(layers, n=40, seed=3, start=PERIOD["start"], end=PERIOD["end"])
    out = sample.to_csv(tmp_path / "check.csv")
    frame = pd.read_csv(out, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(frame.columns) == list(CHECKLIST_COLUMNS)
    grid_at = list(frame.columns).index("grid")
    assert list(frame.columns)[grid_at:grid_at + 4] == ["grid", "grid_name", "street_name", "area_code"]
    # by brute force, from the reports' own rows
    reports, grids, streets, areas = layers["reports"], layers["grids"], layers["streets"], layers["areas"]
    crs = metric_crs(grids)
    lines = list(zip(streets["street_name"], streets.to_crs(crs).geometry))
    polygons = list(zip(areas["area_code"], areas.to_crs(crs).geometry))
    of_grid = dict(zip(grids["grid_code"], grids["area_code"]))
    by_id = reports.set_index("report_id")
    metric = by_id.to_crs(crs).geometry
    for rid, street, area in zip(frame["report_id"], frame["street_name"], frame["area_code"]):
        point = metric[rid]
        d, name = min((point.distance(g), n) for n, g in lines)
        assert street == (name if d <= 15.0 else "")
        grid = by_id.loc[rid, "grid_code"]
        code = of_grid.get(grid) if isinstance(grid, str) else None
        if not isinstance(code, str):
            code = next((c for c, poly in polygons if poly.intersects(point)), "")
        assert area == code
    assert (frame["street_name"] != "").any()
