"""Times of the row checks (:mod:`gridmap.io.records`): many formats parsed, vectorised, and checked.

Times without a zone are Asia/Shanghai (:data:`gridmap.model.DEFAULT_TZ`); times with a zone keep
their instant; 9-13 digit numbers are Unix epoch seconds or milliseconds. A time is refused when it
is empty but required, unreadable, before :data:`EARLIEST_TIME` or later than now + :data:`FUTURE_SLACK`,
or (in a key) less than a millisecond after another row's with the same key.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd

from gridmap.io._records_base import _as_text, _is_empty, _normalise, _Verdicts
from gridmap.model import DEFAULT_TZ, Column, LayerSpec

__all__ = ["FUTURE_SLACK", "EARLIEST_TIME", "TIME_DTYPE", "UTC_HEADERS", "parse_times"]

# the row checks log as one module: logging configured for gridmap.io.records sees all of them
logger = logging.getLogger("gridmap.io.records")

#: Times up to this much later than ``now`` are still accepted (phone clocks drift).
FUTURE_SLACK = pd.Timedelta(minutes=10)
#: Times before this instant (2000-01-01 00:00 Asia/Shanghai) are quarantined as ``implausible_time``: no
#: campaign record is that old, while a device whose clock was never set or was reset writes exactly such
#: times (1970-01-01, Unix time 0; 1901-12-13 20:45:52 UTC, the 32-bit time_t minimum; 1980-01-06, GPS week 0).
EARLIEST_TIME = pd.Timestamp("2000-01-01", tz="Asia/Shanghai")
TIME_DTYPE = f"datetime64[us, {DEFAULT_TZ}]"
#: Headers whose times carry no zone but are UTC: KoboToolbox's ``_submission_time`` ("the time the
#: submission was received by the server, in UTC", KoboToolbox docs, "Data table: metadata fields").
UTC_HEADERS = frozenset({"_submission_time"})


# A time of day followed by a zone designator: "08:00Z", "08:00:00+08:00", "08:00 +0800".
# (ASCII classes only, so pyarrow's RE2 engine runs it instead of a Python loop.)
_ZONED_RE = r"[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?[ \t]*(?:Z|z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)$"
_EPOCH_RE = r"[0-9]{9,13}"
# Dates written the Chinese way: 2025/3/1 8:05, 2025.3.1, 2025年3月1日 8时5分3秒, 2025-3-1 8点.
_LOCAL_RE = (
    r"^(?P<year>\d{4})\s*[-/.年]\s*(?P<month>\d{1,2})\s*[-/.月]\s*(?P<day>\d{1,2})\s*[日号]?"
    r"(?:[\sT]*(?P<hour>\d{1,2})\s*[:时点]\s*(?:(?P<minute>\d{1,2})\s*(?:[:分]\s*"
    r"(?:(?P<second>\d{1,2}(?:\.\d+)?)\s*秒?)?)?)?)?$"
)
_TIME_HINT = "write it like 2025-03-01 08:05 (Asia/Shanghai assumed) or ISO 8601 with a zone, e.g. 2025-03-01T00:05Z"


def _utc_marked(values: pd.Series, header: Any) -> pd.Series:
    """Times of a header in :data:`UTC_HEADERS` with ``Z`` appended where they name no zone; others as they are."""
    if _normalise(header) not in UTC_HEADERS:
        return values
    text = values.astype("str").str.strip()
    naive = ~_is_empty(values) & ~text.str.contains(_ZONED_RE, regex=True).fillna(False).to_numpy(dtype=bool)
    if naive.any():
        logger.info("times of column %r are UTC (KoboToolbox's server time); read as UTC", header)
    return text.where(~naive, text + "Z").where(~_is_empty(values), values)


def _typed_times(values: pd.Series, col: Column, verdicts: _Verdicts, now: pd.Timestamp) -> pd.Series:
    parsed, empty = parse_times(values)
    unparsed = parsed.isna().to_numpy(dtype=bool) & ~empty
    if col.required:
        verdicts.flag(empty, "missing_time", f"required time {col.name!r} is empty; fill it in ({_TIME_HINT})")
    verdicts.flag(unparsed, "unparseable_time", lambda idx: [
        f"{col.name} {values.iloc[i]!r} is not a time gridmap can read; {_TIME_HINT}" for i in idx])
    early = (parsed < EARLIEST_TIME).fillna(False).to_numpy(dtype=bool)
    verdicts.flag(early, "implausible_time", lambda idx: [
        f"{col.name} {values.iloc[i]!r} ({parsed.iloc[i].isoformat()}) is before 2000-01-01, so it is not a real "
        "time but a device clock never set or reset (1970-01-01 is Unix time 0, 1901-12-13 the 32-bit minimum); "
        "write the real time in the file, or drop the row, and import it again" for i in idx])
    limit = now + FUTURE_SLACK
    future = (parsed > limit).fillna(False).to_numpy(dtype=bool)
    verdicts.flag(future, "future_time", lambda idx: [
        f"{col.name} {values.iloc[i]!r} ({parsed.iloc[i].isoformat()}) is later than now "
        f"({now.tz_convert(DEFAULT_TZ).isoformat(timespec='seconds')}); check the phone's clock and time zone"
        for i in idx])
    return parsed.where(~(unparsed | early | future))


def _check_sub_millisecond(typed: Mapping[str, pd.Series], spec: LayerSpec, verdicts: _Verdicts) -> None:
    """Quarantine a row whose key time is < 1 ms from an earlier row's with the same other key values.

    The workspace stores times to the millisecond (see :func:`gridmap.storage.Workspace.append`):
    two fixes 0.3 ms apart would get the same stored key and the later one would silently count as
    a "duplicate". The first row of such a group (by time, then file order) is kept; rows with exactly
    its time are left to the duplicate check; the others are quarantined.
    """
    times = [c for c in spec.key if spec.column(c).dtype == "datetime"]
    if not times:
        return
    ok = ~verdicts.bad
    frame = pd.DataFrame({c: typed[c] for c in spec.key})
    for col in times:
        frame[col] = frame[col].astype(TIME_DTYPE)
        ok &= frame[col].notna().to_numpy(dtype=bool)
    if not ok.any() or not any(_has_sub_millisecond(frame.loc[ok, c]) for c in times):
        return  # the usual case (times to the second or millisecond): no sorting or grouping at all
    rows = frame[ok].copy()
    rows["_pos"] = np.flatnonzero(ok)
    stamp = {c: rows[c].dt.floor("ms") for c in times}  # what the workspace stores
    group_cols = [c for c in spec.key if c not in times]
    keyed = rows.assign(**{f"_ms_{c}": v for c, v in stamp.items()})
    group = group_cols + [f"_ms_{c}" for c in times]
    keyed = keyed.sort_values(times + ["_pos"], kind="stable")
    first = keyed.groupby(group, dropna=False, sort=False)[times].transform("first")
    differs = np.zeros(len(keyed), dtype=bool)
    for col in times:
        differs |= (keyed[col] != first[col]).to_numpy(dtype=bool)
    if not differs.any():
        return
    firsts = keyed.groupby(group, dropna=False, sort=False)["_pos"].transform("first").to_numpy()
    positions = keyed["_pos"].to_numpy()
    mask = np.zeros(len(verdicts.bad), dtype=bool)
    mask[positions[differs]] = True
    kept_of = dict(zip(positions[differs], firsts[differs]))
    col = times[0]

    def detail(idx: np.ndarray) -> list[str]:
        return [f"{col} {typed[col].iloc[i].isoformat()} is less than a millisecond after "
                f"{typed[col].iloc[kept_of[i]].isoformat()} of another row with the same "
                f"{', '.join(group_cols) or 'key'}; the workspace stores times to the millisecond (GeoPackage "
                "DATETIME, as GDAL and QGIS read it), so both cannot be kept. If it is the same event, drop this "
                "row; if not, correct its time in the file and import it again" for i in idx]

    verdicts.flag(mask, "sub_millisecond_time", detail)


def _has_sub_millisecond(times: pd.Series) -> bool:
    micros = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype("int64")
    return bool((micros % 1000 != 0).any())


def parse_times(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse times of many formats, vectorised; return (times in Asia/Shanghai, empty mask).

    Times without a zone are taken as :data:`gridmap.model.DEFAULT_TZ`; times
    with one keep their instant. Unparseable values come back as NaT (and not
    empty).

    Examples
    --------
    >>> times, empty = parse_times(pd.Series(["2025-03-01 08:00", "2025-03-01T00:00Z", "2025年3月1日 8时5分", "",
    ...                                       "1740787200", "2025/3/1 8:05"]))
    >>> [str(t) for t in times]  # doctest: +NORMALIZE_WHITESPACE
    ['2025-03-01 08:00:00+08:00', '2025-03-01 08:00:00+08:00', '2025-03-01 08:05:00+08:00', 'NaT',
     '2025-03-01 08:00:00+08:00', '2025-03-01 08:05:00+08:00']
    >>> empty.tolist()
    [False, False, False, True, False, False]
    """
    values = values.reset_index(drop=True)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(DEFAULT_TZ).astype(TIME_DTYPE), values.isna().to_numpy(dtype=bool)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return _localise(values), values.isna().to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return _from_epoch(values.astype("float64")), values.isna().to_numpy(dtype=bool)
    text = _as_text(values)
    empty = text.isna().to_numpy(dtype=bool)
    out = pd.Series(pd.NaT, index=text.index, dtype=TIME_DTYPE)
    epoch = text.str.fullmatch(_EPOCH_RE).fillna(False).to_numpy(dtype=bool)
    zoned = text.str.contains(_ZONED_RE, regex=True).fillna(False).to_numpy(dtype=bool) & ~epoch
    naive = ~(empty | epoch | zoned)
    if epoch.any():
        out[epoch] = _from_epoch(pd.to_numeric(text[epoch]).astype("float64"))
    if zoned.any():
        iso = text[zoned].str.replace(r"[ \t]*UTC$", "Z", regex=True)
        out[zoned] = pd.to_datetime(iso, format="ISO8601", errors="coerce", utc=True).dt.tz_convert(
            DEFAULT_TZ).astype(TIME_DTYPE)
    if naive.any():
        out[naive] = _localise(pd.to_datetime(text[naive], format="ISO8601", errors="coerce"))
    retry = out.isna().to_numpy(dtype=bool) & ~empty
    if retry.any():
        out[retry] = _parse_local(text[retry])
    return out, empty


def _localise(naive: pd.Series) -> pd.Series:
    local = naive.astype("datetime64[us]").dt.tz_localize(DEFAULT_TZ, ambiguous="NaT", nonexistent="NaT")
    return local.astype(TIME_DTYPE)


def _from_epoch(seconds_or_ms: pd.Series) -> pd.Series:
    """Unix epoch numbers: milliseconds when larger than 1e11 (i.e. after 1973 in ms), else seconds."""
    arr = seconds_or_ms.to_numpy(dtype="float64")
    ms = np.where(np.abs(arr) > 1e11, arr, arr * 1000.0)
    ok = np.isfinite(ms) & (np.abs(ms) < 9e15)
    stamps = pd.to_datetime(pd.Series(np.where(ok, ms, np.nan), index=seconds_or_ms.index), unit="ms", utc=True)
    return stamps.dt.tz_convert(DEFAULT_TZ).astype(TIME_DTYPE)


def _parse_local(text: pd.Series) -> pd.Series:
    """The Chinese ways of writing a naive time, via one vectorised regex."""
    parts = text.str.extract(_LOCAL_RE)
    numbers = parts.apply(pd.to_numeric, errors="coerce")
    numbers[["hour", "minute", "second"]] = numbers[["hour", "minute", "second"]].fillna(0)
    stamps = pd.to_datetime(numbers[["year", "month", "day", "hour", "minute", "second"]], errors="coerce")
    return _localise(stamps)
