"""What every row check of :mod:`gridmap.io.records` shares: the verdicts and the text of values.

A check flags the rows it refuses in one :class:`_Verdicts`; the first failing check of a row
gives its reason (later checks never overwrite it).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from gridmap.model import QUARANTINE_REASONS

#: The names a header takes for the longitude/latitude of a point.
_COORD_NAMES = ("lon", "lat")


class _Verdicts:
    """The first failing check of every row (later checks never overwrite it)."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.reason = np.full(n, None, dtype=object)
        self.detail = np.full(n, None, dtype=object)

    def flag(self, mask: Any, reason: str, detail: str | Callable[[np.ndarray], Any]) -> np.ndarray:
        """Quarantine the rows of `mask` not yet quarantined; return their positions."""
        assert reason in QUARANTINE_REASONS, reason
        new = np.flatnonzero(np.asarray(mask, dtype=bool) & ~self.bad)
        if len(new):
            self.bad[new] = True
            self.reason[new] = reason
            self.detail[new] = detail(new) if callable(detail) else detail
        return new


def _normalise(name: object) -> str:
    return str(name).replace("\ufeff", "").strip().lower()


def _is_empty(values: pd.Series) -> np.ndarray:
    empty = np.array(values.isna(), dtype=bool)
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        text = _stripped(values.astype("str"))
        empty = empty | np.array((text == "").fillna(False), dtype=bool)
    return empty


#: The characters ``str.strip`` removes, the same Arrow's ``utf8_trim_whitespace`` does (Unicode White_Space
#: and the ASCII separators 0x1C-0x1F); as UTF-8 byte sequences of 1-3 bytes, by length.
_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"
_SPACE_KEYS = {n: np.array(sorted(int.from_bytes(c.encode("utf-8"), "big") for c in _SPACES
                                  if len(c.encode("utf-8")) == n), dtype=np.int64) for n in (1, 2, 3)}
#: Lookup tables over the 256 byte values: the first, resp. last, bytes of the sequences of :data:`_SPACE_KEYS`.
_SPACE_FIRST = np.isin(np.arange(256), np.concatenate([keys >> (8 * (n - 1)) for n, keys in _SPACE_KEYS.items()]))
_SPACE_LAST = np.isin(np.arange(256), np.concatenate([keys & 0xFF for keys in _SPACE_KEYS.values()]))


def _stripped(text: pd.Series) -> pd.Series:
    """``text.str.strip()``, or `text` itself when no value can start or end with whitespace (no copy then)."""
    return text.str.strip() if _may_need_strip(text) else text


def _may_need_strip(text: pd.Series) -> bool:
    """Whether some value of `text` starts or ends with whitespace (:data:`_SPACES`); True for non-Arrow dtypes.

    For Arrow-backed strings it reads the first and last 1-3 bytes of each value in the Arrow buffers
    (no new strings): a whitespace character is a whole byte sequence, as UTF-8 never puts a lead byte
    inside another character.

    Examples
    --------
    >>> _may_need_strip(pd.Series(["路边垃圾。", "B1", ""], dtype="str"))
    False
    >>> _may_need_strip(pd.Series(["B1", "垃圾\u3000"], dtype="str")), _may_need_strip(pd.Series([" B1"], dtype="str"))
    (True, True)
    """
    array = getattr(text.array, "_pa_array", None)
    if array is None:
        return True
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    return any(_chunk_may_need_strip(chunk) for chunk in chunks)


def _chunk_may_need_strip(chunk: pa.Array) -> bool:
    if pa.types.is_string(chunk.type):
        width: type = np.int32
    elif pa.types.is_large_string(chunk.type):
        width = np.int64
    else:
        return True
    _, offsets_buf, data_buf = chunk.buffers()
    if len(chunk) == 0 or data_buf is None or data_buf.size == 0:
        return False
    offsets = np.frombuffer(offsets_buf, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8)
    start, end = offsets[:-1], offsets[1:]  # a null's slot is judged too: a false alarm only takes the slow path
    # one byte read per value and end; an empty value reads a neighbour's byte, a false alarm at most
    head = np.flatnonzero(_SPACE_FIRST[data[np.minimum(start, data.size - 1)]])
    tail = np.flatnonzero(_SPACE_LAST[data[end - 1]])
    return _spaces_at(data, start[head], end[head], first=True) or _spaces_at(data, start[tail], end[tail], first=False)


def _spaces_at(data: np.ndarray, start: np.ndarray, end: np.ndarray, *, first: bool) -> bool:
    """Whether any value ``data[start:end]`` begins (`first`), else ends, with one of :data:`_SPACES`."""
    for n, keys in _SPACE_KEYS.items():
        fits = end - start >= n
        pos = start[fits] if first else end[fits] - n
        key = np.zeros(len(pos), dtype=np.int64)
        for k in range(n):
            key = (key << 8) | data[pos + k]
        if np.isin(key, keys).any():
            return True
    return False


def _as_text(values: pd.Series) -> pd.Series:
    """Stripped strings, missing for empty; integral floats without '.0' (123.0 → '123')."""
    if pd.api.types.is_float_dtype(values.dtype):
        return _floats_as_text(values)
    if values.dtype == object:
        floats = values.map(lambda v: isinstance(v, (float, np.floating)), na_action="ignore")
        floats = floats.fillna(False).astype(bool)
        if floats.any():
            values = values.copy()
            values[floats] = _floats_as_text(values[floats].astype("float64"))
    text = _stripped(values if values.dtype == "str" else values.astype("str"))
    return text.where(text != "")


def _floats_as_text(values: pd.Series) -> pd.Series:
    arr = values.to_numpy(dtype="float64")
    integral = np.isfinite(arr) & (np.floor(arr) == arr) & (np.abs(arr) < 2**63)
    text = values.astype("str")
    if integral.any():
        text[integral] = pd.Series(arr[integral].astype("int64"), index=values.index[integral]).astype("str")
    return text.where(~values.isna())
