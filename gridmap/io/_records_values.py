"""Values of the row checks (:mod:`gridmap.io.records`): required values, numbers, codes, communities, reports.

``missing_value``; ``unknown_category``, ``unknown_kind``, ``unknown_result``,
``unparseable_value`` (status, numbers); ``unknown_community``; for spot checks ``unknown_report``
and ``not_rectified``. Times are typed by :mod:`gridmap.io._records_times`.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pandas as pd

from gridmap.io._records_base import _as_text, _is_empty, _Verdicts
from gridmap.io._records_times import _check_sub_millisecond, _typed_times
from gridmap.model import (
    REPORT_STATUSES, TARGET_KINDS, Column, LayerSpec, category_lookup, normalize_label, spotcheck_result,
    unknown_category_hint,
)


def _check_required(frame: pd.DataFrame, spec: LayerSpec, verdicts: _Verdicts) -> None:
    for col in spec.columns:
        if col.required and col.dtype != "datetime":
            empty = _is_empty(frame[col.name])
            verdicts.flag(empty, "missing_value",
                          f"required value {col.name!r} is empty; fill it in and import the file again")


def _typed_columns(frame: pd.DataFrame, spec: LayerSpec, verdicts: _Verdicts,
                   now: pd.Timestamp) -> dict[str, pd.Series]:
    typed: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.dtype == "datetime":
            typed[col.name] = _typed_times(frame[col.name], col, verdicts, now)
        elif col.dtype in ("int", "float"):
            typed[col.name] = _typed_number(frame[col.name], col, verdicts)
        else:
            typed[col.name] = _as_text(frame[col.name])
    _check_codes(typed, spec, verdicts)
    _check_sub_millisecond(typed, spec, verdicts)
    return typed


def _typed_number(values: pd.Series, col: Column, verdicts: _Verdicts) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        number = values.astype("float64")
        given = ~values.isna()
    else:
        text = _as_text(values)
        given = text.notna()
        number = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce").astype("float64")
    arr = number.to_numpy(dtype="float64")
    bad = given.to_numpy(dtype=bool) & ~(np.isfinite(arr) & (arr >= 0))
    if col.dtype == "int":
        bad |= np.isfinite(arr) & (np.floor(arr) != arr)
    verdicts.flag(bad, "unparseable_value", lambda idx: [
        f"{col.name} {values.iloc[i]!r} is not a {'whole ' if col.dtype == 'int' else ''}number >= 0; "
        "write digits only, e.g. 3 or 1.5" for i in idx])
    number = number.where(~bad & given.to_numpy(dtype=bool))
    return number.round().astype("Int64") if col.dtype == "int" else number


def _code_lookup(kind: str) -> tuple[dict[str, str], str]:
    """Accepted spellings → key for categories, target kinds or statuses; and the list to show."""
    if kind == "category":
        return category_lookup(), unknown_category_hint()
    table = TARGET_KINDS if kind == "kind" else REPORT_STATUSES
    lookup = {**{k: k for k in table}, **{zh: k for k, zh in table.items()}}
    return lookup, ", ".join(f"{k} ({zh})" for k, zh in table.items())


def _to_codes(text: pd.Series, lookup: Mapping[str, str], normalize: bool = False) -> pd.Series:
    """Vectorised lookup over the distinct values: exact spelling first, then lower-cased.

    With `normalize`, the distinct values are looked up in the form of :func:`gridmap.model.normalize_label`.
    """
    positions, distinct = pd.factorize(text, use_na_sentinel=True)
    if normalize:
        keys = [lookup.get(normalize_label(v)) for v in distinct]
    else:
        keys = [lookup.get(v, lookup.get(str(v).lower())) for v in distinct]
    table = pd.array(keys + [None], dtype="str")  # the last entry stands for missing values
    positions = np.where(positions < 0, len(keys), positions)
    return pd.Series(table.take(positions), index=text.index)


def _resolve_communities(typed: dict[str, pd.Series], verdicts: _Verdicts, communities: Mapping[str, str] | None, *,
                         by_name: bool) -> None:
    """Community names → their codes; read from a name header, a value neither name nor code is quarantined."""
    names = {str(k).strip(): str(v) for k, v in (communities or {}).items()}
    codes = set(names.values())
    text = typed["community_code"]
    resolved = text.map(lambda v: names.get(v, v), na_action="ignore").astype("str")
    if by_name:
        known = resolved.map(lambda v: v in codes or v.isascii() and v.isdigit(), na_action="ignore")
        bad = (text.notna() & ~known.fillna(True).astype(bool)).to_numpy(dtype=bool)
        known = (f" (it knows {', '.join(sorted(names)[:20])}{', ...' if len(names) > 20 else ''})" if names
                 else " (the workspace has no communities yet)")
        verdicts.flag(bad, "unknown_community", lambda idx: [
            f"community {text.iloc[i]!r} is not a name the communities layer knows{known}; import the communities "
            "layer first (gridmap import WORKSPACE communities FILE), or write the community code instead "
            "(a 社区编码 column)" for i in idx])
    typed["community_code"] = resolved


def _check_results(typed: dict[str, pd.Series], verdicts: _Verdicts) -> None:
    """Spot-check results as keys (verified/reopened); other spellings are quarantined (unknown_result)."""
    text = typed["result"]
    codes = pd.Series([None if pd.isna(v) else spotcheck_result(v) for v in text], index=text.index, dtype="str")
    bad = (codes.isna() & text.notna()).to_numpy(dtype=bool)
    verdicts.flag(bad, "unknown_result", lambda idx: [
        f"result {text.iloc[i]!r} is not known; write 通过 (verified) or 不合格 (reopened)" for i in idx])
    typed["result"] = codes


def _check_reports(report_ids: pd.Series, rectified: Mapping[str, bool], verdicts: _Verdicts) -> None:
    """Spot checks must name a report of the workspace that was rectified."""
    ids = report_ids.to_numpy(dtype=object)
    known = np.array([isinstance(v, str) and v in rectified for v in ids], dtype=bool)
    given = report_ids.notna().to_numpy(dtype=bool)
    verdicts.flag(given & ~known, "unknown_report", lambda idx: [
        f"report {ids[i]!r} is not in the workspace; check the id, or import the report first" for i in idx])
    fixed = np.array([bool(rectified.get(v, False)) if isinstance(v, str) else False for v in ids], dtype=bool)
    verdicts.flag(given & known & ~fixed, "not_rectified", lambda idx: [
        f"report {ids[i]!r} was never rectified, so there is no fix to check; import its rectification first"
        for i in idx])


def _check_codes(typed: dict[str, pd.Series], spec: LayerSpec, verdicts: _Verdicts) -> None:
    if spec.name == "spotchecks":
        _check_results(typed, verdicts)
    checks = {"reports": [("category", "unknown_category"), ("status", "unparseable_value")],
              "targets": [("kind", "unknown_kind")]}.get(spec.name, [])
    for column, reason in checks:
        text = typed[column]
        if column == "status":
            text = text.fillna("reported")
        lookup, known = _code_lookup(column)
        codes = _to_codes(text, lookup, normalize=column == "category")
        bad = (codes.isna() & text.notna()).to_numpy(dtype=bool)
        hint = known if column == "category" else f"use one of: {known}"
        verdicts.flag(bad, reason, _unknown_code_details(column, text, hint))
        typed[column] = codes


def _unknown_code_details(column: str, text: pd.Series, hint: str) -> Callable[[np.ndarray], list[str]]:
    """The details of rows whose `column` value is not a known code (one function per column, bound now)."""
    return lambda idx: [f"{column} {text.iloc[i]!r} is not known; {hint}" for i in idx]
