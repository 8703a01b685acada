"""Survey-app exports (ODK Central, KoboToolbox) and ``--set`` on files that already have the column.

Every import is checked for read = accepted + duplicates + quarantined, and the stored values
against the values written into the file (ids, instants, positions), never against gridmap's output.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gridmap.cli import main
from gridmap.workspace import open_workspace


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "w.gpkg"
    assert main(["init", str(ws)]) == 0
    return ws


def _import(ws: Path, layer: str, path: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    code = main(["import", str(ws), layer, str(path), *extra, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out)
    summary = summary[0] if isinstance(summary, list) else summary
    assert summary["read"] == summary["accepted"] + summary["duplicates"] + summary["quarantined"]
    return summary


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ----------------------------------------------------------------------------- --set fills empty values


def test_set_fills_every_empty_category_and_keeps_the_files_values(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path)
    rows = [["R1", "2025-03-01 08:00", "109.7301", "38.2901", "垃圾乱倒"],
            ["R2", "2025-03-01 09:00", "109.7302", "38.2902", ""],
            ["R3", "2025-03-01 10:00", "109.7303", "38.2903", "   "],
            ["R4", "2025-03-01 11:00", "109.7304", "38.2904", ""]]
    path = _write_csv(tmp_path / "r.csv", ["编号", "上报时间", "经度", "纬度", "问题类型"], rows)
    summary = _import(ws, "reports", path, "--coords", "wgs84", "--set", "category=卫生死角", capsys=capsys)
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (4, 4, 0)
    stored = open_workspace(ws).read_layer("reports").set_index("report_id")["category"]
    assert stored.to_dict() == {"R1": "garbage_dumping", "R2": "sanitation_dead_corner",
                                "R3": "sanitation_dead_corner", "R4": "sanitation_dead_corner"}


GPX_WAYPOINTS = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <wpt lat="38.2901000" lon="109.7301000"><name>垃圾点1</name></wpt>
  <wpt lat="38.2952000" lon="109.7355000"><name>垃圾点2</name></wpt>
</gpx>
"""


def test_gpx_waypoints_go_into_targets_with_set_kind(tmp_path: Path, capsys) -> None:
    ws = _workspace(tmp_path)
    path = tmp_path / "points.gpx"
    path.write_text(GPX_WAYPOINTS, encoding="utf-8")
    summary = _import(ws, "targets", path, "--set", "kind=garbage_point", capsys=capsys)
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (2, 2, 0)
    stored = open_workspace(ws).read_layer("targets").set_index("target_id")
    assert stored["kind"].to_dict() == {"垃圾点1": "garbage_point", "垃圾点2": "garbage_point"}
    assert stored["name"].to_dict() == {"垃圾点1": "垃圾点1", "垃圾点2": "垃圾点2"}
    assert stored.geometry["垃圾点2"].x == pytest.approx(109.7355, abs=1e-7)
    assert stored.geometry["垃圾点2"].y == pytest.approx(38.2952, abs=1e-7)
