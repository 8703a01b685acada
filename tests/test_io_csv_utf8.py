"""Tests of the CSV reader's UTF-8 path: a UTF-8 file is checked, not decoded, and reads as the decoded text does.

Every answer is compared with Python's strict ``bytes.decode("utf-8")`` and with the csv module.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gridmap.errors import EncodingError
from gridmap.io.tabular import _HEAD, _head_text, is_utf8, read_csv

#: Pieces that are valid or invalid UTF-8 in every way a decoder can disagree on.
PIECES = st.sampled_from([
    b"a", b"\x00", "经".encode(), "é".encode(), "\U0010FFFF".encode(), b"\xef\xbb\xbf",
    b"\xed\xa0\x80", b"\xed\x9f\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xe7\xbb", b"\xf0\x9f\x98",
])


def python_says_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(PIECES, max_size=8), noise=st.binary(max_size=12))
@example(pieces=[b"\xed\xa0\x80"], noise=b"")  # a surrogate
@example(pieces=[b"\xf4\x90\x80\x80"], noise=b"")  # above U+10FFFF
@example(pieces=[], noise=b"")
def test_is_utf8_agrees_with_python(pieces: list[bytes], noise: bytes) -> None:
    for data in (b"".join(pieces), noise, b"".join(pieces) + noise):
        assert is_utf8(data) == python_says_utf8(data), data


def test_head_text_is_the_decoded_beginning_even_with_a_character_cut() -> None:
    text = "a" + "经" * (2 * _HEAD)  # 6 MiB: the 4 MiB read cuts a character
    assert _head_text(text.encode("utf-8")) == text[:_HEAD]
    assert _head_text("编号,经度\n".encode("utf-8")) == "编号,经度\n"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_utf8_file_reads_as_its_decoded_text(tmp_path: Path, bom: bytes, delimiter: str) -> None:
    text = "\n".join(delimiter.join(row) for row in [
        ["编号", "描述", "经度", "纬度"], ["A1", "路边垃圾。", "109.73", "38.29"], ["A2", "“院内”杂物", "109.74", "38.3"],
    ]) + "\n"
    res = read_csv(write(tmp_path / "r.csv", bom + text.encode("utf-8")), coords="wgs84")
    expected = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    assert [c for c in res.records.columns if c not in ("_record", "geometry")] == expected[0]
    assert res.records[["编号", "描述"]].values.tolist() == [row[:2] for row in expected[1:]]
    assert res.meta["encoding"] == ("utf-8-sig" if bom else "utf-8")
    assert res.meta["delimiter"] == delimiter


def test_ragged_utf8_file_read_line_by_line_from_its_text(tmp_path: Path) -> None:
    text = "编号,描述,经度,纬度\nA1,路边,109.73,38.29\nA2,多,一,列,109.7,38.2\nA3,\"引号,内\",109.74,38.3\n"
    res = read_csv(write(tmp_path / "r.csv", text.encode("utf-8")), coords="wgs84")
    assert res.records["编号"].tolist() == ["A1", "A3"]
    assert res.records["描述"].tolist() == [csv_rows(text)[1][1], csv_rows(text)[3][1]]
    assert res.quarantine["reason"].tolist() == ["unreadable_record"]
    assert res.quarantine["record"].tolist() == [2]


def test_gb18030_and_explicit_encodings_still_decoded(tmp_path: Path) -> None:
    text = "编号,描述,经度,纬度\nA1,路边垃圾,109.73,38.29\n"
    res = read_csv(write(tmp_path / "g.csv", text.encode("gb18030")), coords="wgs84")
    assert res.meta["encoding"] == "gb18030" and res.records["描述"].tolist() == ["路边垃圾"]
    with pytest.raises(EncodingError, match="--encoding"):
        read_csv(write(tmp_path / "bad.csv", text.encode("gb18030")), coords="wgs84", encoding="utf-8")


def test_unterminated_quote_read_line_by_line_from_the_decoded_text(tmp_path: Path) -> None:
    text = '编号,描述,经度,纬度\nA1,路边,109.73,38.29\nA2,"未闭合,109.7,38.2\nA3,院内,109.8,38.3\n'
    res = read_csv(write(tmp_path / "r.csv", text.encode("utf-8")), coords="wgs84")
    assert res.records["编号"].tolist() == ["A1"] and res.records["描述"].tolist() == ["路边"]
    assert res.quarantine["reason"].tolist() == ["unreadable_record"]
    assert "A3,院内,109.8,38.3" in res.quarantine["raw"].iloc[0]  # the swallowed line, as text
