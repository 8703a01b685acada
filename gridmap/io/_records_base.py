"""What every row check of :mod:`gridmap.io.records` shares: the verdicts and the text of values.

A check flags the rows it refuses in one :class:`_Verdicts`; the first failing check of a row
gives its reason (later checks never overwrite it).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

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
        text = values.astype("str").str.strip()
        empty = empty | np.array((text == "").fillna(False), dtype=bool)
    return empty


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
    text = (values if values.dtype == "str" else values.astype("str")).str.strip()
    return text.where(text != "")


def _floats_as_text(values: pd.Series) -> pd.Series:
    arr = values.to_numpy(dtype="float64")
    integral = np.isfinite(arr) & (np.floor(arr) == arr) & (np.abs(arr) < 2**63)
    text = values.astype("str")
    if integral.any():
        text[integral] = pd.Series(arr[integral].astype("int64"), index=values.index[integral]).astype("str")
    return text.where(~values.isna())
