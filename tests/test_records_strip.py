"""Tests of the text of values in gridmap.io.records: stripping skipped only when nothing is there to strip.

The import strips every text column of a million rows; when no value starts or ends with whitespace
(the usual case) the values are kept as they are instead of being copied. Every answer is checked
against Python's own ``str.strip`` (the same 29 characters as Arrow's ``utf8_trim_whitespace``).
"""

from __future__ import annotations

import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gridmap.io._records_base import _SPACES, _as_text, _is_empty, _may_need_strip, _stripped
from gridmap.io.base import ReadResult, quarantine_frame
from gridmap.io.records import prepare
from gridmap.model import category_lookup

#: Whitespace, characters whose UTF-8 shares a lead byte or a last byte with whitespace (U+3001 、, U+3002 。,
#: U+2026 …, U+201C “, U+00A9 ©, U+1680's neighbour U+1681), CJK, ASCII and a 4-byte character.
ALPHABET = sorted(set(_SPACES) | set("、。…“”©\u1681\u2000\u200bAb1-乱堆路边垃圾\U00020000"))
VALUES = st.lists(st.one_of(st.none(), st.text(alphabet=ALPHABET, max_size=6)), max_size=12)


def arrow_text(values: list[str | None], *, chunks: int = 1, offset: int = 0) -> pd.Series:
    """`values` as an Arrow-backed ``str`` Series of `chunks` chunks, each a slice starting `offset` in."""
    pieces = np.array_split(np.arange(len(values)), max(chunks, 1))
    arrays = []
    for piece in pieces:
        padded = ["pad"] * offset + [values[i] for i in piece]
        arrays.append(pa.array(padded, type=pa.large_string()).slice(offset))
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(arrays, type=pa.large_string())), dtype="str")


def test_spaces_are_what_python_strips() -> None:
    stripped = {chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF and not chr(c).strip()}
    assert set(_SPACES) == stripped
    assert len(_SPACES) == 29


@settings(max_examples=300, deadline=None)
@given(values=VALUES, chunks=st.integers(1, 3), offset=st.integers(0, 2))
@example(values=["乱堆。", "路边“", "B1"], chunks=1, offset=0)  # last bytes shared with U+3000 / U+2000-
@example(values=["、垃圾", "…", "\u1681"], chunks=2, offset=1)  # first bytes shared with whitespace
@example(values=["", None, " "], chunks=1, offset=0)
@example(values=["a\u3000", ""], chunks=1, offset=0)
def test_may_need_strip_is_exact(values: list[str | None], chunks: int, offset: int) -> None:
    text = arrow_text(values, chunks=chunks, offset=offset)
    expected = any(v is not None and v != v.strip() for v in values)
    assert _may_need_strip(text) is expected
    assert [None if pd.isna(v) else v for v in _stripped(text)] == [None if v is None else v.strip() for v in values]


@settings(max_examples=100, deadline=None)
@given(values=VALUES)
def test_as_text_and_is_empty_equal_python(values: list[str | None]) -> None:
    text = arrow_text(values, chunks=2)
    expected = [None if v is None or not v.strip() else v.strip() for v in values]
    assert [None if pd.isna(v) else v for v in _as_text(text)] == expected
    assert _is_empty(text).tolist() == [v is None or not v.strip() for v in values]


def test_other_dtypes_are_stripped_as_before() -> None:
    objects = pd.Series([" a", "b\u3000", None], dtype=object)
    assert _may_need_strip(objects) is True  # not Arrow: always the plain strip
    assert _as_text(objects).tolist()[:2] == ["a", "b"]
    untouched = arrow_text(["B1", "乱堆。"])
    assert _stripped(untouched) is untouched  # nothing to strip: no copy


@pytest.mark.parametrize("pad", ["", " ", "\u3000", "\xa0", "\t"])
def test_prepare_strips_padded_values_like_python(pad: str) -> None:
    ids = [f"{pad}R{i}{pad}" for i in range(4)]
    records = pd.DataFrame({
        "report_id": pd.Series(ids, dtype="str"),
        "reported_at": pd.Series([f"{pad}2025-03-01 08:0{i}{pad}" for i in range(4)], dtype="str"),
        "category": pd.Series([f"{pad}乱堆乱放{pad}"] * 4, dtype="str"),
        "description": pd.Series([f"{pad}路边垃圾。{pad}", "", pad or "x", "“院内”"], dtype="str"),
        "lon": [109.73] * 4, "lat": [38.29] * 4, "_record": np.arange(1, 5),
    })
    frame = gpd.GeoDataFrame(records.drop(columns=["lon", "lat"]),
                             geometry=gpd.points_from_xy(records["lon"], records["lat"]), crs=4326)
    batch = prepare("reports", ReadResult(frame, quarantine_frame(), "a.csv", "ab" * 8),
                    now=pd.Timestamp("2025-03-10 12:00"))
    assert batch.accepted["report_id"].tolist() == [v.strip() for v in ids]
    assert batch.accepted["category"].tolist() == [category_lookup()["乱堆乱放"]] * 4
    descriptions = [v.strip() or None for v in records["description"]]
    assert [None if pd.isna(v) else v for v in batch.accepted["description"]] == descriptions
    assert [t.minute for t in batch.accepted["reported_at"]] == [0, 1, 2, 3]
