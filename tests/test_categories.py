"""Report categories: the digital urban management standard's event names land on the categories
the README documents, an unknown one says how to add it; and ``--set``/``defaults=`` may not set a
key column."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gridmap
from gridmap.errors import GridmapError, SchemaError, WorkspaceError
from gridmap.cli import main
from gridmap.model import CATEGORIES, CATEGORY_ALIASES, LAYERS, Category, builtin_category_keys, category_key
from gridmap.analysis.supervision import DEFAULT_DEADLINES_HOURS

Cap = pytest.CaptureFixture[str]
README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")

#: The mapping as documented in the README, written out by hand (not read from gridmap.model).
STANDARD_NAMES: dict[str, str] = {
    "暴露垃圾": "garbage_dumping",
    "积存垃圾渣土": "accumulated_garbage_muck",
    "道路不洁": "road_not_clean",
    "道路遗撒": "road_spillage",
    "乱堆物堆料": "random_piling",
    "乱堆杂物": "random_piling",
    "废弃车辆": "scrapped_vehicle",
    "废弃家具设备": "abandoned_furniture",
    "垃圾满溢": "overflowing_bin",
    "垃圾站（箱）满溢": "overflowing_bin",
    "垃圾站(箱)满溢": "overflowing_bin",
    "店外经营": "road_occupying_business",
    "占道经营": "road_occupying_business",
    "私搭乱建": "illegal_structure",
    "绿地脏乱": "dirty_green_space",
    "污水冒溢": "sewage_overflow",
}
#: Spellings as ledgers write them: padded, full-width spaces, mixed parentheses.
MESSY_SPELLINGS: dict[str, str] = {
    " 暴露垃圾 ": "garbage_dumping",
    "\u3000道路不洁\u3000": "road_not_clean",
    "垃圾站（箱)满溢": "overflowing_bin",
    "垃圾站 （箱） 满溢": "overflowing_bin",
    "\t店外经营": "road_occupying_business",
    "Road Spillage": "road_spillage",
    "ILLEGAL_STRUCTURE": "illegal_structure",
}
#: Deadlines chosen for the standard's categories (hours), as the README states them.
NEW_DEADLINES = {
    "road_not_clean": 24.0, "road_spillage": 24.0, "overflowing_bin": 24.0, "sewage_overflow": 24.0,
    "dirty_green_space": 48.0, "accumulated_garbage_muck": 72.0, "abandoned_furniture": 72.0,
    "illegal_structure": 168.0,
}


def _csv(path: Path, names: list[str], prefix: str = "S") -> Path:
    lines = ["report_id,reported_at,category,description,lon,lat"]
    lines += [f'{prefix}{i},2025-05-01 08:{i % 60:02d},"{name}",台账,109.731,38.291' for i, name in enumerate(names)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(capsys: Cap, argv: list[str]) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(argv + ["--json"])
    return code, json.loads(capsys.readouterr().out)


def _rows(ws: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(ws)) as con:
        return con.execute(sql).fetchall()


def test_every_standard_name_imports_to_its_documented_category(
        sample_copy: Path, tmp_path: Path, capsys: Cap) -> None:
    names = {**STANDARD_NAMES, **MESSY_SPELLINGS}
    csv = _csv(tmp_path / "ledger.csv", list(names))
    code, s = _import(capsys, ["import", str(sample_copy), "reports", str(csv), "--coords", "wgs84", "--strict"])
    assert code == 0, s
    assert (s["read"], s["accepted"], s["duplicates"], s["quarantined"]) == (len(names), len(names), 0, 0)
    stored = dict(_rows(sample_copy, "SELECT report_id, category FROM reports WHERE report_id LIKE 'S%'"))
    assert stored == {f"S{i}": key for i, key in enumerate(names.values())}
    # the same ledger again adds nothing
    code, s = _import(capsys, ["import", str(sample_copy), "reports", str(csv), "--coords", "wgs84"])
    assert s["read"] == s["accepted"] + s["duplicates"] + s["quarantined"] == s["duplicates"] == len(names)


def test_an_unknown_category_is_quarantined_naming_gridmap_category_add(
        sample_copy: Path, tmp_path: Path, capsys: Cap) -> None:
    csv = _csv(tmp_path / "ledger.csv", ["暴露垃圾", "井盖缺失", "道路不洁"], prefix="U")
    code, s = _import(capsys, ["import", str(sample_copy), "reports", str(csv), "--coords", "wgs84", "--strict"])
    assert code == 1
    assert (s["read"], s["accepted"], s["duplicates"], s["quarantined"]) == (3, 2, 0, 1)
    assert s["reasons"] == {"unknown_category": 1}
    [(reason, detail)] = _rows(sample_copy, "SELECT reason, detail FROM quarantine WHERE source = 'ledger.csv'")
    assert reason == "unknown_category"
    assert "'井盖缺失'" in detail and "gridmap category WORKSPACE --add KEY 中文名" in detail
    assert "overflowing_bin (垃圾满溢)" in detail and "garbage_dumping (垃圾乱倒)" in detail
    # after adding it, the same spelling lands
    assert main(["category", str(sample_copy), "--add", "missing_manhole_cover", "井盖缺失"]) == 0
    try:
        code, s = _import(capsys, ["import", str(sample_copy), "reports", str(csv), "--coords", "wgs84"])
        assert (s["accepted"], s["duplicates"], s["quarantined"]) == (1, 2, 0)
    finally:
        CATEGORIES.pop("missing_manhole_cover", None)  # the process-wide registry: leave it as found


def test_category_key_refusal_names_the_command() -> None:
    with pytest.raises(SchemaError, match=r"unknown category '井盖缺失'; add it with gridmap category WORKSPACE --add"):
        category_key("井盖缺失")


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(STANDARD_NAMES)),
       left=st.text(alphabet=" \t\u3000", max_size=3), right=st.text(alphabet=" \t\u3000", max_size=3),
       full_open=st.booleans(), full_close=st.booleans())
@example(name="垃圾站(箱)满溢", left="\u3000", right="", full_open=True, full_close=False)
def test_spacing_and_parenthesis_width_do_not_matter(name: str, left: str, right: str, full_open: bool,
                                                     full_close: bool) -> None:
    spelled = name.replace("（", "(").replace("）", ")")
    spelled = spelled.replace("(", "（" if full_open else "(").replace(")", "）" if full_close else ")")
    assert category_key(left + spelled + right) == STANDARD_NAMES[name]


def test_a_categorys_own_label_wins_over_a_standard_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace that already added 暴露垃圾 as its own category keeps getting it."""
    monkeypatch.setitem(CATEGORIES, "exposed_garbage", Category("exposed_garbage", "暴露垃圾", "exposed garbage"))
    assert category_key("暴露垃圾") == "exposed_garbage"
    assert category_key("乱堆杂物") == "random_piling"


def test_every_alias_names_a_builtin_category() -> None:
    assert set(CATEGORY_ALIASES.values()) <= builtin_category_keys()
    for name, key in STANDARD_NAMES.items():
        assert category_key(name) == key


def test_the_standards_categories_have_their_documented_deadlines() -> None:
    for key, hours in NEW_DEADLINES.items():
        assert key in builtin_category_keys()
        assert DEFAULT_DEADLINES_HOURS[key] == hours
        assert f"`{key}`" in README and f"{int(hours)} h" in _readme_row(key)


def _readme_row(key: str) -> str:
    row = next((line for line in README.splitlines() if line.startswith(f"| `{key}` |")), None)
    assert row is not None, f"README's category table has no row for {key}"
    return row


def test_readme_lists_every_category_and_every_alias() -> None:
    for key in builtin_category_keys():
        cells = [c.strip() for c in _readme_row(key).strip("|").split("|")]
        assert cells[1] == CATEGORIES[key].zh and cells[2] == CATEGORIES[key].en
    for name in CATEGORY_ALIASES:
        shown = name.replace("(", "（").replace(")", "）")
        assert name in README or shown in README, f"README does not list the alias {name}"
    assert "GB/T 30428.2-2013" in README and "CJ/T 214-2007" in README


# --------------------------------------------------------------------------- --set / defaults= on a key column

#: Key columns that may be set for every row: the key also holds a time each row carries.
SETTABLE_KEYS = {("tracks", "inspector"), ("rectifications", "report_id"), ("spotchecks", "report_id")}


@pytest.mark.parametrize("layer,column", [(spec.name, c) for spec in LAYERS.values() for c in spec.key])
def test_defaults_may_not_set_a_key_column(layer: str, column: str, tmp_path: Path) -> None:
    missing = tmp_path / "not-read.csv"  # refused before reading: the file need not exist
    if (layer, column) in SETTABLE_KEYS:
        with pytest.raises(WorkspaceError, match="no workspace at"):  # allowed: it goes on to open the workspace
            gridmap.import_file(tmp_path / "nowhere.gpkg", layer, missing, coords="wgs84", defaults={column: "X"})
        return
    whose = "its key" if len(LAYERS[layer].key) == 1 else rf"part of its key \({', '.join(LAYERS[layer].key)}\)"
    # reports and targets without an id column get ids from their content: the refusal offers that too
    derived = (rf"; or leave the {column} column out: a file without one gets ids derived from each row's content"
               if (layer, column) in {("reports", "report_id"), ("targets", "target_id")} else "")
    expected = rf"--set {column}=X .*same {column}, {whose}.* drop --set {column}{derived}\.$"
    with pytest.raises(GridmapError, match=expected):
        gridmap.import_file(tmp_path / "nowhere.gpkg", layer, missing, coords="wgs84", defaults={column: "X"})


def test_setting_the_whole_key_of_tracks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="its key"):
        gridmap.import_file(tmp_path / "w.gpkg", "tracks", tmp_path / "t.csv",
                            defaults={"inspector": "甲", "time": "2025-05-01 08:00"})


def test_cli_set_report_id_exits_2_and_stores_nothing(sample_copy: Path, tmp_path: Path, capsys: Cap) -> None:
    csv = _csv(tmp_path / "ledger.csv", ["暴露垃圾", "道路不洁"], prefix="K")
    before = _rows(sample_copy, "SELECT count(*) FROM reports")
    capsys.readouterr()
    code = main(["import", str(sample_copy), "reports", str(csv), "--coords", "wgs84", "--set", "report_id=X",
                 "--json"])
    out = capsys.readouterr()
    assert code == 2
    message = json.loads(out.out)["error"]
    assert re.search(r"--set report_id=X .*every row .*same report_id, its key.*duplicates", message)
    assert "drop --set report_id" in message and "gridmap: error:" in out.err
    assert _rows(sample_copy, "SELECT count(*) FROM reports") == before
    assert _rows(sample_copy, "SELECT count(*) FROM quarantine WHERE source = 'ledger.csv'") == [(0,)]
