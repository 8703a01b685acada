"""Tests of gridmap.export.privacy: phone numbers, names, shared frames and photo metadata (BAD-INPUTS case 12)."""

from __future__ import annotations

import io
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms
from PIL.TiffImagePlugin import IFDRational

from gridmap.errors import ReadError, SchemaError
from gridmap.model import LAYERS
from gridmap.export.privacy import COMPOUND_SURNAMES, mask_name, personal_columns, redact_frame, redact_text, strip_exif
from gridmap.sample import sample_boundaries, sample_reports

#: The acceptance search of issue 5, written here independently of the module.
ACCEPTANCE = re.compile(r"1[3-9]\d{9}")
GPS_IFD = 0x8825
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _stars(text: str) -> str:
    """The expected mask: every decimal digit (ASCII or full-width) becomes '*'."""
    return "".join("*" if ch.isdecimal() else ch for ch in text)


# --------------------------------------------------------------------------- phone numbers

@pytest.mark.parametrize(("text", "expected"), [
    ("13800138000", "***********"),
    ("138 0013 8000", "*** **** ****"),
    ("138-0013-8000", "***-****-****"),
    ("+8613800138000", "+*************"),
    ("+86 138 0013 8000", "+** *** **** ****"),
    ("0086-138-0013-8000", "****-***-****-****"),
    ("(+86)13800138000", "(+**)***********"),
    ("１３８００１３８０００", "***********"),
    ("0912-1234567", "****-*******"),
    ("010-12345678", "***-********"),
    ("(0912)1234567", "(****)*******"),
    ("（0912） 1234567", "（****） *******"),
    ("联系电话13800138000张师傅", "联系电话***********张师傅"),
    ("请拨打13800138000.", "请拨打***********."),
    ("请拨打13800138000。谢谢", "请拨打***********。谢谢"),
    ("tel:13900001111,15912345678", "tel:***********,***********"),
])
def test_phone_forms_are_masked(text: str, expected: str) -> None:
    for strict in (False, True):
        assert redact_text(text, strict=strict) == expected


@pytest.mark.parametrize("text", [
    "2025-01-13 13:45:00",
    "R000123 于 2025年3月1日 上报",
    "610802001003005",
    "位置 109.7312345678, 38.29123456789",
    "12345678901",  # 12 is no mobile prefix
    "1380013800",  # 10 digits
    "清运160车次，200余吨，坐标(38.2912, 109.7312)",
    "0912 1234567",  # fixed line without dash or parentheses is not caught (documented)
])
def test_other_digits_survive(text: str) -> None:
    assert redact_text(text) == text
    assert redact_text(text, strict=False) == text


@pytest.mark.parametrize(("text", "loose", "strict"), [
    ("38.13912345678", "38.13912345678", "38.***********"),
    ("R2025013912345678", "R2025013912345678", "R20250***********"),
    ("138001380001", "138001380001", "***********1"),
    ("8613800138000", "8613800138000", "86***********"),
])
def test_strict_masks_runs_inside_longer_numbers(text: str, loose: str, strict: str) -> None:
    assert redact_text(text, strict=False) == loose
    assert redact_text(text) == strict
    assert not ACCEPTANCE.search(redact_text(text))


def test_redact_text_refuses_non_text() -> None:
    with pytest.raises(TypeError, match="needs a str, got int"):
        redact_text(13800138000)  # type: ignore[arg-type]


def _mobile() -> st.SearchStrategy[str]:
    digits = st.tuples(st.sampled_from("3456789"), st.text("0123456789", min_size=9, max_size=9))
    number = digits.map(lambda t: "1" + t[0] + t[1])
    sep = st.sampled_from(["", " ", "-"])
    prefix = st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "(+86)", "+86-"])
    return st.builds(lambda p, n, s: p + n[:3] + s + n[3:7] + s + n[7:], prefix, number, sep)


def _fixed() -> st.SearchStrategy[str]:
    area = st.builds(lambda d: "0" + d, st.text("0123456789", min_size=2, max_size=3))
    local = st.text("0123456789", min_size=7, max_size=8)
    form = st.sampled_from(["{a}-{n}", "({a}){n}", "（{a}）{n}", "({a}) {n}"])
    return st.builds(lambda a, n, f: f.format(a=a, n=n), area, local, form)


def _phone() -> st.SearchStrategy[str]:
    plain = st.one_of(_mobile(), _fixed())
    return st.tuples(plain, st.booleans()).map(lambda t: t[0].translate(FULLWIDTH) if t[1] else t[0])


def _filler() -> st.SearchStrategy[str]:
    """Text with digits that are no phone: short numbers, dates, coordinates, ids, grid codes."""
    return st.one_of(
        st.text(st.characters(categories=("L",), exclude_characters="0123456789"), max_size=6),
        st.integers(0, 10**10 - 1).map(str),
        st.dates().map(lambda d: d.isoformat()),
        st.tuples(st.integers(0, 180), st.integers(1, 10), st.floats(0, 1)).map(
            lambda t: f"{t[0] + t[2]:.{t[1]}f}"),
        st.integers(1, 999_999).map(lambda i: f"R{i:06d}"),
        st.tuples(st.integers(1, 999), st.integers(1, 999)).map(lambda t: f"610802001{t[0]:03d}{t[1]:03d}"),
    )


#: Separators between pieces: never a digit, '.', '-', space or a parenthesis, which could glue pieces into a number.
SEPARATORS = st.sampled_from(["，", "张师傅", "：", "a", "；", "\n", "电话", "/"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _phone(), _filler(), SEPARATORS), min_size=1, max_size=8))
def test_random_text_keeps_no_phone_and_every_other_digit(pieces: list[tuple[bool, str, str, str]]) -> None:
    text = "".join((phone if is_phone else filler) + sep for is_phone, phone, filler, sep in pieces)
    expected = "".join((_stars(phone) if is_phone else filler) + sep for is_phone, phone, filler, sep in pieces)
    for strict in (False, True):
        out = redact_text(text, strict=strict)
        assert out == expected
        assert not ACCEPTANCE.search(out)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("0123456789１３８.-+ ()张a"), max_size=60))
def test_strict_result_never_matches_the_acceptance_search(text: str) -> None:
    out = redact_text(text)
    assert not ACCEPTANCE.search(out)
    assert len(out) == len(text)
    # only digits are ever replaced, and only by '*'
    assert all(a == b or (a.isdecimal() and b == "*") for a, b in zip(text, out))


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize(("name", "expected"), [
    ("王小明", "王**"),
    ("李四", "李*"),
    ("欧阳娜娜", "欧阳**"),
    ("诸葛亮", "诸葛*"),
    ("司马相如", "司马**"),
    ("令狐冲", "令狐*"),
    ("欧阳", "欧*"),  # only a surname: keep less, not the whole name
    ("阿依古丽·买买提", "阿***·***"),
    (" 王小明", " 王**"),
    ("张师傅", "张**"),
    ("Zhang Wei", "Z**** W**"),
    ("Jean-Pierre Li", "J***-P***** L*"),
    ("", ""),
    (None, None),
])
def test_mask_name(name: str | None, expected: str | None) -> None:
    assert mask_name(name) == expected


def test_compound_surnames_listed_in_the_brief() -> None:
    assert COMPOUND_SURNAMES == set("欧阳 司马 诸葛 上官 司徒 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 夏侯 令狐".split())


@given(st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=2, max_size=6))
def test_chinese_names_keep_surname_and_length(name: str) -> None:
    out = mask_name(name)
    keep = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    assert out == name[:keep] + "*" * (len(name) - keep)


# --------------------------------------------------------------------------- frames

def test_personal_columns_follow_the_model_flags() -> None:
    names, phones = personal_columns()
    flagged = {c.name for spec in LAYERS.values() for c in spec.columns if c.personal}
    assert names | phones == flagged and not names & phones
    assert {"cadre", "secretary", "leader", "street_chief", "by", "inspector"} <= names
    assert phones == {"cadre_phone"}


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    boundaries = sample_boundaries()
    reports, fixes = sample_reports(boundaries, n_reports=80, days=60)
    return {"grids": boundaries["grids"], "reports": reports, "rectifications": fixes}


def test_redact_grids(layers: dict[str, gpd.GeoDataFrame]) -> None:
    grids = layers["grids"].copy()
    grids.index = pd.RangeIndex(100, 100 + len(grids))  # a non-default index must be kept
    before = grids.copy(deep=True)
    assert ACCEPTANCE.search(grids.drop(columns="geometry").to_csv())  # the input really holds phones
    out = redact_frame(grids)
    assert_geodataframe_equal(grids, before)  # input unchanged
    assert isinstance(out, gpd.GeoDataFrame) and out.crs == grids.crs
    assert out.index.equals(grids.index)
    assert "cadre_phone" not in out.columns
    assert not ACCEPTANCE.search(out.to_csv())
    assert all(c not in COMPOUND_SURNAMES for c in grids["cadre"].str[:2])
    assert out["cadre"].tolist() == [n[0] + "*" * (len(n) - 1) for n in grids["cadre"]]
    for col in ("grid_code", "name", "community_code", "area_code"):
        assert out[col].tolist() == grids[col].tolist()
    assert out.geometry.geom_equals_exact(grids.geometry, tolerance=0).all()


def test_redact_reports_descriptions(layers: dict[str, gpd.GeoDataFrame]) -> None:
    reports = layers["reports"].copy()
    planted = {0: "联系电话13800138000张师傅", 3: "王小明 138-0013-8000 反映，见(0912)1234567",
               7: "+86 159 1234 5678 报告 38.29123456789"}
    for pos, text in planted.items():
        reports.iloc[pos, reports.columns.get_loc("description")] = text
    before = reports.copy(deep=True)
    out = redact_frame(reports)
    assert_geodataframe_equal(reports, before)
    assert ACCEPTANCE.search(reports.to_csv())
    assert not ACCEPTANCE.search(out.to_csv())
    assert out["description"].iloc[0] == "联系电话***********张师傅"
    assert out["description"].iloc[3] == "王小明 ***-****-**** 反映，见(****)*******"
    assert out["description"].iloc[7] == "+** *** **** **** 报告 38.29123456789"
    others = [i for i in range(len(reports)) if i not in planted]
    assert out["description"].iloc[others].tolist() == reports["description"].iloc[others].tolist()
    pd.testing.assert_frame_equal(pd.DataFrame(out.drop(columns=["description", "geometry"])),
                                  pd.DataFrame(reports.drop(columns=["description", "geometry"])))


def test_redact_rectifications_masks_who(layers: dict[str, gpd.GeoDataFrame]) -> None:
    fixes = layers["rectifications"]
    out = redact_frame(fixes)
    assert type(out) is pd.DataFrame
    names = fixes["by"].dropna()
    assert len(names) > 0
    assert out.loc[names.index, "by"].tolist() == [n[0] + "*" * (len(n) - 1) for n in names]
    assert out["tonnes"].equals(fixes["tonnes"])


def test_numeric_phone_column_is_masked() -> None:
    frame = pd.DataFrame({"tel": [13800138000, 42], "count": [3, 5]}, index=["a", "b"])
    out = redact_frame(frame)
    assert out["tel"].tolist() == ["***********", "42"]
    assert out["count"].tolist() == [3, 5] and out["count"].dtype == frame["count"].dtype
    assert frame["tel"].tolist() == [13800138000, 42]
    assert not ACCEPTANCE.search(out.to_csv())


def test_explicit_columns() -> None:
    frame = pd.DataFrame({"who": ["李雷", None], "note": ["13800138000", "ok"], "mobile": ["x", "y"]})
    out = redact_frame(frame, name_columns=["who"], text_columns=["note"], drop_columns=["mobile"])
    assert list(out.columns) == ["who", "note"]
    assert out["who"].iloc[0] == "李*" and pd.isna(out["who"].iloc[1])
    assert out["note"].tolist() == ["***********", "ok"]


def test_redact_frame_errors(layers: dict[str, gpd.GeoDataFrame]) -> None:
    with pytest.raises(SchemaError, match=r"name_columns \['nobody'\] not in the frame"):
        redact_frame(layers["grids"], name_columns=["nobody"])
    with pytest.raises(SchemaError, match="geometry column 'geometry'"):
        redact_frame(layers["grids"], text_columns=["geometry"])


# --------------------------------------------------------------------------- photos

def _r(*values: int) -> tuple[IFDRational, ...]:
    return tuple(IFDRational(v) for v in values)


def _photo(image: Image.Image, **save: object) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Xiaomi"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: _r(38, 17, 24), 3: "E", 4: _r(109, 43, 48)})
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif, xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>GPS 38.29</x:xmpmeta>",
               comment="王小明 13800138000", **save)
    return buf.getvalue()


def _noise(size: int, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _assert_clean(data: bytes, original: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "JPEG"
    assert all(name == "APP0" or name == "APP2" and body.startswith(b"ICC_PROFILE\0")
               for name, body in image.applist)
    assert len(image.getexif()) == 0 and image.getexif().get_ifd(GPS_IFD) == {}
    assert not {"exif", "xmp", "comment"} & set(image.info)
    assert b"Exif\x00\x00" not in data and b"xmpmeta" not in data and b"13800138000" not in data
    with Image.open(io.BytesIO(original)) as before:
        assert before.getexif().get_ifd(GPS_IFD)  # the test photo really had a GPS position
        assert image.tobytes() == before.convert(image.mode).tobytes()  # lossless: same pixels
    return image


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"restart_marker_blocks": 2}, {"subsampling": 0}])
def test_strip_exif_is_lossless(options: dict[str, object]) -> None:
    original = _photo(_noise(48), quality=90, **options)
    clean = strip_exif(original)
    _assert_clean(clean, original)
    assert len(clean) < len(original)
    assert strip_exif(clean) == clean


def test_strip_exif_keeps_icc_profile() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = _photo(_noise(16), icc_profile=icc)
    image = _assert_clean(strip_exif(original), original)
    assert image.info["icc_profile"] == icc


def test_strip_exif_of_a_clean_jpeg_changes_nothing() -> None:
    buf = io.BytesIO()
    _noise(24).save(buf, "JPEG")
    assert strip_exif(buf.getvalue()) == buf.getvalue()


def test_strip_exif_drops_appended_images() -> None:
    buf = io.BytesIO()  # a multi-picture file: MPF index in APP2, a second JPEG after the first EOI
    _noise(16).save(buf, "MPO", save_all=True, append_images=[_noise(16, seed=2)])
    original = buf.getvalue()
    with Image.open(io.BytesIO(original)) as before:
        assert before.format == "MPO" and before.n_frames == 2
        assert "APP2" in [name for name, _ in before.applist]
        first = before.tobytes()
    clean = strip_exif(original)
    assert clean.count(b"\xff\xd8\xff") == 1 and clean.endswith(b"\xff\xd9") and b"MPF" not in clean
    with Image.open(io.BytesIO(clean)) as after:
        assert after.format == "JPEG" and getattr(after, "n_frames", 1) == 1
        assert [name for name, _ in after.applist] == ["APP0"]
        assert after.tobytes() == first


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1), st.booleans(), st.integers(20, 95))
def test_strip_exif_random_images(width: int, height: int, seed: int, progressive: bool, quality: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    original = _photo(Image.fromarray(pixels), progressive=progressive, quality=quality)
    _assert_clean(strip_exif(original), original)


def test_strip_exif_errors() -> None:
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    with pytest.raises(ReadError, match="not a JPEG"):
        strip_exif(png.getvalue())
    original = _photo(_noise(32))
    with pytest.raises(ReadError, match="truncated"):
        strip_exif(original[: len(original) - 40])
    with pytest.raises(ReadError, match="truncated"):
        strip_exif(original[:30])
