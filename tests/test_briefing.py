"""The printable briefing: real PNG and PDF files, the CJK font embedded, the table checked independently."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import shapely
from PIL import Image

import gridmap
from gridmap.errors import GridmapError, SchemaError
from gridmap.pages.briefing import A4_LANDSCAPE_IN, briefing, community_table
from gridmap.maps import fonts as _fonts
from gridmap.storage import init_workspace

START, END = "2025-03-01", "2025-04-01"
PERIOD = "2025-03-01 – 2025-03-31"  # `end` is exclusive: the last day shown is the day before
PHONE = re.compile(r"1[3-9]\d{9}")


@pytest.fixture(scope="module")
def layers() -> dict:
    return gridmap.sample_layers(n_reports=600, track_days=1)


@pytest.fixture(scope="module")
def png(layers: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return briefing(layers, tmp_path_factory.mktemp("png") / "brief.png", start=START, end=END, illustrative=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ws") / "sample.gpkg"
    with init_workspace(path, sample=True):
        pass
    return path


@pytest.fixture(scope="module")
def pdf(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return briefing(workspace, tmp_path_factory.mktemp("pdf") / "brief.pdf", start=START, end=END)


# -- a small PDF text reader of our own: inflate the streams, decode hex strings through the ToUnicode CMaps --


def _objects(data: bytes) -> dict[int, tuple[bytes, bytes]]:
    """Object number -> (dictionary text, inflated stream or b"")."""
    out = {}
    for match in re.finditer(rb"(\d+) 0 obj(.*?)endobj", data, re.S):
        body = match.group(2)
        head, sep, rest = body.partition(b"stream")
        stream = b""
        if sep:
            raw = rest.lstrip(b"\r\n")
            raw = raw[:raw.rindex(b"endstream")]
            stream = zlib.decompress(raw) if b"/FlateDecode" in head else raw
        out[int(match.group(1))] = (head, stream)
    return out


def _utf16(hex_digits: bytes) -> str:
    return bytes.fromhex(hex_digits.decode()).decode("utf-16-be")  # ToUnicode targets are UTF-16BE


def _cmap(stream: bytes) -> dict[int, str]:
    table: dict[int, str] = {}
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", stream, re.S):
        for lo, hi, dst in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*(\[[^\]]*\]|<[0-9a-fA-F]+>)", block):
            codes = range(int(lo, 16), int(hi, 16) + 1)
            if dst.startswith(b"["):
                table.update(zip(codes, [_utf16(t) for t in re.findall(rb"<([0-9a-fA-F]+)>", dst)]))
            else:
                table.update((c, chr(int(dst[1:-1], 16) + i)) for i, c in enumerate(codes))
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
        for src, dst in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            table[int(src, 16)] = _utf16(dst)
    return table


def _literal_bytes(token: bytes) -> bytes:
    """A PDF literal string's bytes (backslash escapes resolved)."""
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def one(m: re.Match) -> bytes:
        esc = m.group(1)
        if esc[:1].isdigit():
            return bytes([int(esc, 8)])
        return escapes.get(esc, esc)
    return re.sub(rb"\\([0-7]{1,3}|.)", one, token, flags=re.S)


def _font_cmaps(objects: dict[int, tuple[bytes, bytes]]) -> dict[bytes, dict[int, str]]:
    """Font resource name (e.g. b"F1") -> its ToUnicode table."""
    out = {}
    blocks = []
    for head, _stream in objects.values():
        blocks += re.findall(rb"/Font\s*<<(.*?)>>", head, re.S)
        blocks += [objects[int(n)][0] for n in re.findall(rb"/Font\s+(\d+) 0 R", head) if int(n) in objects]
    for block in blocks:
        if True:
            for name, num in re.findall(rb"/(\w+)\s+(\d+) 0 R", block):
                font = objects.get(int(num), (b"", b""))[0]
                ref = re.search(rb"/ToUnicode\s+(\d+) 0 R", font)
                if ref:
                    out[name] = _cmap(objects[int(ref.group(1))][1])
    return out


def _decode(segment: bytes, cmap: dict[int, str]) -> str:
    raw = b"".join(_literal_bytes(t) for t in re.findall(rb"\(((?:\\.|[^\\)])*)\)", segment, re.S))
    return "".join(cmap.get(int.from_bytes(raw[i:i + 2], "big"), "?") for i in range(0, len(raw), 2))


def _pdf_text(path: Path) -> str:
    """The page's text: pdftotext (poppler-utils) when installed, else decoded through the fonts' ToUnicode maps."""
    exe = shutil.which("pdftotext")
    if exe:
        return subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True).stdout
    objects = _objects(path.read_bytes())
    cmaps = _font_cmaps(objects)
    if not cmaps:
        pytest.skip("no pdftotext (poppler-utils) and no ToUnicode map in the PDF: cannot read its text")
    texts = []
    for _head, stream in objects.values():
        for block in re.findall(rb"BT(.*?)\nET", stream, re.S):
            parts = re.split(rb"/(\w+) [\d.]+ Tf", block)  # [before, font, text, font, text, ...]
            texts.append("".join(_decode(parts[i + 1], cmaps.get(parts[i], {})) for i in range(1, len(parts), 2)))
    return "\n".join(texts)


# -- PNG --


def test_png_is_a4_landscape_and_not_blank(png: Path) -> None:
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert width / height == pytest.approx(297 / 210, rel=0.005)
    assert A4_LANDSCAPE_IN[0] / A4_LANDSCAPE_IN[1] == pytest.approx(297 / 210)
    white = (pixels == 255).all(axis=2).mean()
    assert white < 0.8  # maps and table drawn, not an empty page
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # colour ramp, classes, text


# -- PDF --


def test_pdf_embeds_the_cjk_font(pdf: Path) -> None:
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"/FontFile2" in data  # an embedded TrueType program (pdf.fonttype 42), not Type 3 outlines
    names = {n.decode() for n in re.findall(rb"/BaseFont\s*/([^\s/<>\[\]]+)", data)}
    assert any("CJK" in n or "Noto" in n for n in names), names


def test_pdf_text_has_title_period_names_and_no_personal_data(pdf: Path, workspace: Path) -> None:
    text = _pdf_text(pdf)
    flat = re.sub(r"\s+", " ", text)
    assert "环境卫生网格化管理简报" in text
    assert PERIOD in flat
    assert "北门社区" in text and "各社区情况" in text
    assert "示意数据" in text  # the sample workspace's meta says illustrative
    assert not PHONE.search(re.sub(r"\s+", "", text))
    with gridmap.open_workspace(workspace) as ws:
        grids, communities = ws.read_layer("grids"), ws.read_layer("communities")
    people = set(grids["cadre"].dropna()) | set(communities["secretary"].dropna())
    assert people and not [p for p in people if p in text]


def test_not_illustrative_without_the_flag(layers: dict, tmp_path: Path) -> None:
    out = briefing(layers, tmp_path / "plain.pdf", start=START, end=END, lang="en")
    text = _pdf_text(out)
    assert "illustrative" not in text and "示意数据" not in text
    assert "by community" in text and PERIOD in re.sub(r"\s+", " ", text)


# -- the community table against an independent computation --


def test_community_table_matches_an_independent_recomputation(layers: dict) -> None:
    result = gridmap.sweep_coverage(layers["grids"], layers["tracks"], start=START, end=END)
    reports = gridmap.select_reports(layers["reports"], start=START, end=END)
    table = community_table(result, reports, communities=layers["communities"]).set_index("community_code")
    grids = result.grids
    names = dict(zip(layers["communities"]["community_code"], layers["communities"]["name"]))
    assert len(table) == grids["community_code"].nunique() == 6
    for code, rows in grids.groupby("community_code"):
        row = table.loc[code]
        assert row["name"] == names[code]
        assert row["grids"] == len(rows)
        assert row["coverage_ratio"] == pytest.approx(rows["covered_m2"].sum() / rows["area_m2"].sum(), rel=1e-12)
        assert row["dead_corners"] == (result.dead_corners["community_code"] == code).sum()
    # reports: brute-force point in polygon, not the stored grid codes
    polygons = list(zip(grids["community_code"], grids.geometry))
    owners = []
    for point in reports.geometry:
        owners.append(next((c for c, poly in polygons if shapely.covers(poly, point)), None))
    done = reports["status"].isin(["rectified", "verified"]).to_numpy()
    owners_arr = np.array(owners, dtype=object)
    for code in table.index:
        mine = owners_arr == code
        assert table.loc[code, "reports"] == mine.sum()
        if mine.sum():
            assert table.loc[code, "rectified_ratio"] == pytest.approx(done[mine].mean())
    assert table["reports"].sum() == len(reports)  # every sample report lies in a grid


def test_community_table_places_reports_without_grid_code(layers: dict) -> None:
    result = gridmap.sweep_coverage(layers["grids"], layers["tracks"].iloc[:200])
    reports = layers["reports"].iloc[:50]
    blank = reports.copy()
    blank["grid_code"] = None
    with_codes = community_table(result, reports)
    by_point = community_table(result, blank)
    assert by_point["reports"].tolist() == with_codes["reports"].tolist()
    assert reports["grid_code"].notna().all()  # the caller's frame is untouched


# -- errors --


def test_wrong_suffix_is_refused(layers: dict, tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"name the file \*\.png or \*\.pdf"):
        briefing(layers, tmp_path / "brief.svg")
    assert not (tmp_path / "brief.svg").exists()


def test_unknown_language_is_refused(layers: dict, tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="fr"):
        briefing(layers, tmp_path / "brief.png", lang="fr")


def test_no_cjk_font_names_the_package(layers: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fonts, "_candidate_files", lambda: [])
    with pytest.raises(GridmapError, match="fonts-noto-cjk"):
        briefing(layers, tmp_path / "brief.pdf")
    assert not (tmp_path / "brief.pdf").exists()


def test_no_grids_is_refused(layers: dict, tmp_path: Path) -> None:
    empty = dict(layers, grids=layers["grids"].iloc[:0])
    with pytest.raises(GridmapError, match="no grids"):
        briefing(empty, tmp_path / "brief.png")


# -- the figures printed in the PDF, read back with pypdf, against an independent computation --


def _floor_percent(ratio: float) -> str:
    return f"{math.floor(1000 * ratio + 1e-9) / 10:.1f} %"


def _pypdf_lines(path: Path) -> list[str]:
    pypdf = pytest.importorskip("pypdf", reason="pypdf reads the PDF's text: pip install pypdf (test extra)")
    reader = pypdf.PdfReader(str(path))
    assert len(reader.pages) == 1
    return [re.sub(r"\s+", " ", line).strip() for line in reader.pages[0].extract_text().splitlines()]


def test_pdf_table_figures_equal_an_independent_computation(layers: dict, tmp_path: Path) -> None:
    out = briefing(layers, tmp_path / "b.pdf", start=START, end=END)
    lines = _pypdf_lines(out)
    result = gridmap.sweep_coverage(layers["grids"], layers["tracks"], start=START, end=END)
    reports = gridmap.select_reports(layers["reports"], start=START, end=END)
    grids = result.grids
    polygons = list(zip(grids["community_code"], grids.geometry))
    owners = np.array([next((c for c, poly in polygons if shapely.covers(poly, p)), None) for p in reports.geometry],
                      dtype=object)
    done = reports["status"].isin(["rectified", "verified"]).to_numpy()
    names = dict(zip(layers["communities"]["community_code"], layers["communities"]["name"]))
    for code, rows in grids.groupby("community_code"):
        mine = owners == code
        dead = int((result.dead_corners["community_code"] == code).sum())
        rect = _floor_percent(done[mine].mean()) if mine.sum() else "无数据"
        row = (f"{names[code]} {len(rows)} {_floor_percent(rows['covered_m2'].sum() / rows['area_m2'].sum())} "
               f"{dead} {int(mine.sum())} {rect}")
        assert row in lines, (row, lines)
    overall = _floor_percent(grids["covered_m2"].sum() / grids["area_m2"].sum())
    total = f"合计 {len(grids)} {overall} {len(result.dead_corners)} {len(reports)} {_floor_percent(done.mean())}"
    assert total in lines
    heading = next(line for line in lines if line.startswith("时段"))
    assert f"总覆盖率 {overall} " in heading and f"问题报告 {len(reports)}" in heading


def test_pdf_says_no_data_without_tracks_or_rectifications(layers: dict, tmp_path: Path) -> None:
    blind = {**layers, "tracks": layers["tracks"].iloc[:0], "reports": layers["reports"].assign(status="reported")}
    blind.pop("rectifications", None)
    lines = _pypdf_lines(briefing(blind, tmp_path / "blind.pdf", start=START, end=END))
    reports = gridmap.select_reports(layers["reports"], start=START, end=END)
    names = set(layers["communities"]["name"])
    rows = [line for line in lines if line.split(" ")[0] in names]
    assert len(rows) == 6
    for line in rows:  # name, grids, coverage, dead corners, reports, rectified
        words = line.split(" ")
        assert words[2] == "无数据" and words[3] == "无数据" and words[5] == "无数据", line
        assert int(words[4]) >= 0
    assert f"合计 36 无数据 无数据 {len(reports)} 无数据" in lines
    assert not [line for line in lines if "0.0 %" in line]
    heading = next(line for line in lines if line.startswith("时段"))
    assert "总覆盖率 无数据" in heading and "卫生死角 无数据" in heading


def test_rectified_share_is_known_from_records_or_statuses(layers: dict) -> None:
    result = gridmap.sweep_coverage(layers["grids"], layers["tracks"], start=START, end=END)
    pending = layers["reports"].assign(status="reported")
    unknown = community_table(result, pending, rectified_known=False)
    assert unknown["rectified_ratio"].isna().all() and (unknown["reports"] > 0).any()
    known = community_table(result, pending, rectified_known=True)
    assert (known.loc[known["reports"] > 0, "rectified_ratio"] == 0).all()  # records exist: truly none fixed
