"""The ``extra`` column of the row checks (:mod:`gridmap.io.records`): a file's unmapped columns as JSON.

Every column of a file that no model column takes is kept, one JSON object per row
(:func:`extra_json`), merged into the file's own ``extra`` when it has one.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gridmap.model import EXTRA_COLUMN

__all__ = ["extra_json"]


def extra_json(records: pd.DataFrame, columns: Sequence[Any]) -> pd.Series:
    """The values of `columns` as one JSON object per row, ``{header: value}``: what ``extra`` stores.

    Empty values (missing, ``""`` or blanks) are left out and a row with nothing left is NA.
    Text is kept exactly as read (not stripped); whole numbers are JSON integers, other numbers
    JSON numbers (a non-finite one its text); times their text (``2025-03-01 08:00:00``);
    ``ensure_ascii=False``, so Chinese stays readable in QGIS. Vectorised with pyarrow: text
    goes through ``json.dumps`` one value at a time only where it holds control characters.

    Parameters
    ----------
    records : pandas.DataFrame
        The reader's records; not modified.
    columns : sequence
        Columns of `records`, in the order their keys are written.

    Returns
    -------
    pandas.Series
        ``str`` dtype, index 0..n-1.

    Examples
    --------
    >>> frame = pd.DataFrame({"网格名称": ["北门一网格", " "], "面积": [1.0, 2.5], "备注": ['说"好"', None]})
    >>> extra_json(frame, ["网格名称", "面积", "备注"]).tolist()
    ['{"网格名称": "北门一网格", "面积": 1, "备注": "说\\\\"好\\\\""}', '{"面积": 2.5}']
    """
    n = len(records)
    if not columns or n == 0:
        return pd.Series(pd.array([None] * n, dtype="str"), index=pd.RangeIndex(n))
    parts = []
    for col in columns:
        key = pa.scalar(json.dumps(str(col), ensure_ascii=False) + ": ")
        # "key": value, (null where empty); no null_handling="skip": pyarrow 26 drops all-null rows with it
        parts.append(pc.binary_join_element_wise(key, _json_values(records[col]), ", ", ""))
    body = pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")
    body = pc.utf8_rtrim(body, ", ")  # a value ends in '"', a digit, or a letter of true/false/null
    body = pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), body)
    text = pc.binary_join_element_wise("{", body, "}", "")
    return pd.Series(pd.array(text, dtype="str"), index=pd.RangeIndex(n))


def _json_values(values: pd.Series) -> pa.Array:
    """Each value as JSON text, null where it is empty."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) and not values.isna().any():
        return pc.if_else(pa.array(values.to_numpy(dtype=bool)), "true", "false")
    if pd.api.types.is_integer_dtype(dtype):
        return pc.cast(pa.array(values, from_pandas=True), pa.string())
    if pd.api.types.is_float_dtype(dtype):
        return _json_floats(values.to_numpy(dtype="float64", na_value=np.nan))
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        text = values.map(str, na_action="ignore")  # each time in full, 2025-03-05 00:00:00 (+08:00)
        return _json_strings(pa.array(text.astype(object), type=pa.string(), from_pandas=True))
    try:
        arr = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed values (a spreadsheet's numbers and text)
        return _json_python(values)
    return _json_strings(arr)


def _json_strings(arr: pa.Array) -> pa.Array:
    """Text as JSON strings; only values holding a quote, a backslash or a control character go
    through ``json.dumps``, the others are just quoted."""
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(arr), ""), True)
    arr = pc.if_else(blank, pa.scalar(None, pa.string()), arr)
    quoted = pc.binary_join_element_wise('"', arr, '"', "")
    special = pc.fill_null(pc.match_substring_regex(arr, '[\\\\"\\x00-\\x1f]'), False)
    if not pc.any(special).as_py():  # the common case: nothing to escape
        return quoted
    escaped = [json.dumps(v, ensure_ascii=False) for v in pc.filter(arr, special).to_pylist()]
    return pc.replace_with_mask(quoted, special, pa.array(escaped, type=pa.string()))


def _json_floats(arr: np.ndarray) -> pa.Array:
    out = np.full(len(arr), None, dtype=object)
    finite = np.isfinite(arr)
    whole = finite & (np.floor(arr) == arr) & (np.abs(arr) < 2**53)
    out[whole] = arr[whole].astype("int64").astype(str)
    other = finite & ~whole
    out[other] = [repr(float(v)) for v in arr[other]]
    odd = ~finite & ~np.isnan(arr)
    out[odd] = [json.dumps(repr(float(v))) for v in arr[odd]]
    return pa.array(out, type=pa.string())


def _json_python(values: pd.Series) -> pa.Array:
    """One value at a time, for columns of mixed types."""
    out = [None if (v := _json_value(raw)) is None else json.dumps(v, ensure_ascii=False)
           for raw in values.to_numpy(dtype=object)]
    return pa.array(out, type=pa.string())


def _json_value(value: Any) -> Any:
    """A value as JSON can hold it, or None when it is empty."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if np.isnan(number):
            return None
        if not np.isfinite(number):
            return repr(number)
        return int(number) if number == np.floor(number) and abs(number) < 2**53 else number
    if isinstance(value, str):
        return value if value.strip() else None
    return str(value)


def _with_file_extra(built: pd.Series, from_file: pd.Series | None) -> pd.Series:
    """``extra`` of the unmapped columns, merged into the file's own ``extra`` column when it has one.

    A file's ``extra`` (a workspace layer exported and imported again) keeps its keys; a key of an
    unmapped column of the same name wins.
    """
    if from_file is None:
        return built
    merged = []
    for own, new in zip(from_file.to_numpy(dtype=object), built.to_numpy(dtype=object)):
        obj = _json_object(own)
        obj.update(json.loads(new) if isinstance(new, str) else {})
        merged.append(json.dumps(obj, ensure_ascii=False) if obj else None)
    return pd.Series(pd.array(merged, dtype="str"), index=built.index)


def _json_object(value: Any) -> dict[str, Any]:
    """A file's ``extra`` value as a dict: its JSON object, or {"extra": text} when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return {}
    try:
        obj = json.loads(value)
    except ValueError:
        return {EXTRA_COLUMN: value}
    return obj if isinstance(obj, dict) else {EXTRA_COLUMN: value}
