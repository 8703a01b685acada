"""Turn what a reader read into rows a workspace layer can store, losing nothing.

:func:`prepare` is the stage between the readers (:mod:`gridmap.io`) and the
workspace. It maps the file's column names onto the layer's model columns,
checks every record and types every value. Each record ends up either in
``accepted`` (typed, in EPSG:4326) or in ``quarantine`` with the reason of its
**first** failing check, so ``read == len(accepted) + len(quarantine)`` always
holds; :func:`prepare` asserts it before returning.

Checks, in the order they are applied
-------------------------------------
1. required values (``missing_value``);
2. geometry, on the raw coordinates before any GCJ-02/BD-09 conversion:
   ``missing_coordinates``, ``unparseable_coordinates``, ``swapped_coordinates``,
   ``coordinates_out_of_range``, ``outside_china``, ``wrong_geometry_type``,
   ``invalid_geometry``; then conversion to WGS84 and ``outside_subdistrict``;
3. times: ``missing_time``, ``unparseable_time``, ``implausible_time`` (before
   :data:`EARLIEST_TIME`, 2000-01-01), ``future_time``; then, for a key holding a time,
   ``sub_millisecond_time`` (see :func:`parse_times` and
   :func:`gridmap.storage.Workspace.append`: times are stored to the millisecond);
4. coded values: ``unknown_category``, ``unknown_kind``, ``unknown_result``,
   ``unparseable_value`` (status, numbers);
5. for ``spotchecks``, when the workspace's reports are given:
   ``unknown_report``, ``not_rectified``.

"Inside China" is a bounding-box test, :data:`CHINA_BOUNDS` (longitude
73.5–135.1° E, latitude 18.1–53.6° N, the extent of mainland China and
Hainan). It is deliberately coarse: it catches swapped and foreign
coordinates, it does not follow the border, and it excludes the South China
Sea islands south of 18.1° N.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import Point
>>> from gridmap.io.base import ReadResult, quarantine_frame
>>> from gridmap.io.records import prepare
>>> records = gpd.GeoDataFrame(
...     {"编号": ["R1", "R2"], "上报时间": ["2025-03-01 08:00", "2025/3/1 9:30"],
...      "类别": ["垃圾乱倒", "柴草垛"], "_record": [1, 2]},
...     geometry=[Point(109.73, 38.29), Point(38.29, 109.73)], crs="EPSG:4326")
>>> result = ReadResult(records, quarantine_frame(), "a.geojson", "0123456789abcdef")
>>> batch = prepare("reports", result)
>>> batch.accepted[["report_id", "category", "status"]].values.tolist()
[['R1', 'garbage_dumping', 'reported']]
>>> str(batch.accepted.loc[0, "reported_at"])
'2025-03-01 08:00:00+08:00'
>>> batch.reasons()
{'swapped_coordinates': 1}
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from gridmap.errors import CRSError, ReadError, SchemaError
from gridmap.io.base import QUARANTINE_NAMES, ReadResult, quarantine_frame, raw_json
from gridmap.model import (
    COLUMN_ALIASES, COMMUNITY_NAME_HEADERS, DEFAULT_TZ, EXTRA_COLUMN, LAYER_COLUMN_ALIASES, QUARANTINE_REASONS,
    REPORT_STATUSES, STORAGE_CRS, TARGET_KINDS, Column, LayerSpec, alias_target, category_lookup, layer_spec,
    normalize_label, spotcheck_result, unknown_category_hint,
)

__all__ = ["PreparedBatch", "prepare", "check_defaults", "check_column_map", "extra_json", "derived_ids",
           "DERIVED_ID_SOURCES", "DERIVED_ID_PREFIX", "parse_times", "CHINA_BOUNDS", "FUTURE_SLACK", "EARLIEST_TIME",
           "COORDS", "SURVEY_ALIASES", "UTC_HEADERS", "READER_COLUMNS"]

logger = logging.getLogger(__name__)

#: Bounding box (min lon, min lat, max lon, max lat) used as "inside China".
CHINA_BOUNDS: tuple[float, float, float, float] = (73.5, 18.1, 135.1, 53.6)
#: Times up to this much later than ``now`` are still accepted (phone clocks drift).
FUTURE_SLACK = pd.Timedelta(minutes=10)
#: Times before this instant (2000-01-01 00:00 Asia/Shanghai) are quarantined as ``implausible_time``: no
#: campaign record is that old, while a device whose clock was never set or was reset writes exactly such
#: times (1970-01-01, Unix time 0; 1901-12-13 20:45:52 UTC, the 32-bit time_t minimum; 1980-01-06, GPS week 0).
EARLIEST_TIME = pd.Timestamp("2000-01-01", tz="Asia/Shanghai")
#: Coordinate systems that may be declared for longitude/latitude.
COORDS = ("wgs84", "gcj02", "bd09")

TIME_DTYPE = f"datetime64[us, {DEFAULT_TZ}]"
REPAIR_COLUMNS = ["_record", "area_before_m2", "area_after_m2", "change_pct"]

_TYPE_NAMES = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
               "GeometryCollection")
_POINT, _LINE, _POLYGON, _MULTILINE, _MULTIPOLYGON = 0, 1, 3, 5, 6
#: Shapely type ids each layer geometry accepts.
_ACCEPTED_TYPES: Mapping[str, frozenset[int]] = {
    "Point": frozenset({_POINT}),
    "MultiPolygon": frozenset({_POLYGON, _MULTIPOLYGON}),
    "MultiLineString": frozenset({_LINE, _MULTILINE}),
    "Geometry": frozenset({_POINT, _POLYGON, _MULTIPOLYGON}),
}
_COORD_NAMES = ("lon", "lat")
#: Columns readers add that are not the file's own: the record number and the GPX point kind.
READER_COLUMNS = frozenset({"_record", "_kind"})
#: Headers of survey-app exports, for reports: ODK Central's CSV export (``KEY``, ``meta-instanceID``,
#: ``SubmissionDate``) and KoboToolbox's (``_uuid``, ``_submission_time``), plus the ``start`` time
#: both record. The value is (model column, rank): rank 1 is used only when no rank-0 header is present.
SURVEY_ALIASES: Mapping[str, tuple[str, int]] = {
    "key": ("report_id", 0), "_uuid": ("report_id", 0),
    "meta-instanceid": ("report_id", 1), "instanceid": ("report_id", 1),
    "submissiondate": ("reported_at", 0), "_submission_time": ("reported_at", 0),
    "start": ("reported_at", 1),
}
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


@dataclass
class PreparedBatch:
    """The outcome of :func:`prepare`: accepted rows and quarantined records.

    Attributes
    ----------
    layer : str
        The layer the rows are meant for.
    accepted : pandas.DataFrame or geopandas.GeoDataFrame
        Typed rows with exactly the layer's model columns in model order, then
        ``geometry`` (EPSG:4326; absent for the ``rectifications`` table), then
        the int column ``_record``; a fresh 0..n-1 index.
    quarantine : pandas.DataFrame
        The reader's quarantined records followed by those rejected here, with
        the columns of :data:`gridmap.model.QUARANTINE_COLUMNS`.
    source, source_digest : str
        The file's name and digest, from the reader.
    read : int
        Records seen in the file; equals ``len(accepted) + len(quarantine)``.
    repairs : pandas.DataFrame
        Geometries repaired (``repair=True``): ``_record``, ``area_before_m2``,
        ``area_after_m2``, ``change_pct`` (``inf`` when a zero area grew).
    unmapped : list of str
        The file's columns no model column took, in file order; their values
        are in the ``extra`` column as JSON (:func:`extra_json`).
    """

    layer: str
    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    source: str
    source_digest: str
    read: int
    repairs: pd.DataFrame = field(default_factory=lambda: _empty_repairs())
    unmapped: list[str] = field(default_factory=list)

    def reasons(self) -> dict[str, int]:
        """Count quarantined records by reason code.

        Examples
        --------
        >>> from gridmap.io.base import quarantine_frame, quarantine_row
        >>> q = quarantine_frame([quarantine_row(layer="reports", source="a.csv", source_digest="0" * 16,
        ...                                      record=3, raw={}, reason="future_time", detail="...")])
        >>> PreparedBatch("reports", pd.DataFrame(), q, "a.csv", "0" * 16, read=1).reasons()
        {'future_time': 1}
        """
        counts = self.quarantine["reason"].value_counts(sort=False)
        return {str(k): int(v) for k, v in sorted(counts.items())}


def _empty_repairs() -> pd.DataFrame:
    return pd.DataFrame({
        "_record": pd.Series([], dtype="int64"),
        "area_before_m2": pd.Series([], dtype="float64"),
        "area_after_m2": pd.Series([], dtype="float64"),
        "change_pct": pd.Series([], dtype="float64"),
    })


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


# ----------------------------------------------------------------------------- the entry point


def prepare(
    layer: str,
    result: ReadResult,
    *,
    coords: str | None = None,
    subdistrict: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    grids: gpd.GeoDataFrame | None = None,
    repair: bool = False,
    now: pd.Timestamp | None = None,
    max_outside_km: float = 5.0,
    defaults: Mapping[str, object] | None = None,
    rectified: Mapping[str, bool] | None = None,
    columns: Mapping[str, str] | None = None,
    communities: Mapping[str, str] | None = None,
) -> PreparedBatch:
    """Check, type and reproject a reader's records for one workspace layer.

    Parameters
    ----------
    layer : str
        Target layer, one of :data:`gridmap.model.LAYERS`.
    result : ReadResult
        What a reader returned. It is not modified.
    coords : {"wgs84", "gcj02", "bd09"}, optional
        Datum of the longitude/latitude; overrides ``result.coords``. When both
        are None the file's CRS applies (``"wgs84"``).
    subdistrict : shapely geometry or GeoDataFrame, optional
        The workspace's territory (a bare geometry is taken as EPSG:4326).
        Records farther than `max_outside_km` from it are quarantined
        (``outside_subdistrict``).
    grids : GeoDataFrame, optional
        Grids with a ``grid_code`` column, in any CRS. For ``reports`` and
        ``targets`` the grid is assigned by location (a polygon target by its
        representative point); a record in no grid keeps an empty grid_code.
        A point on a border between grids gets the grid listed first.
    repair : bool
        Repair invalid geometries with :func:`shapely.make_valid` (keeping only
        the polygonal, resp. linear, parts) instead of quarantining them; the
        area change is reported in ``repairs`` and the original WKT is logged.
    now : pandas.Timestamp, optional
        The present, for ``future_time`` (default: the clock). Naive means
        Asia/Shanghai. Times later than ``now`` + :data:`FUTURE_SLACK` are refused.
    max_outside_km : float
        How far outside the subdistrict a record may lie, in km.
    defaults : mapping, optional
        Values for every row (``--set COLUMN=VALUE``), e.g. ``{"inspector": "张三"}``
        for a GPX track. They fill the column when the file lacks it and every
        empty value (missing, NaN, ``""`` or blanks) when it has it; a value
        present in the file wins. Key columns cannot be set (:func:`check_defaults`).
    rectified : mapping of str to bool, optional
        For ``spotchecks``: every report id of the workspace, mapped to whether
        the report was ever rectified. A check of an id not in it is quarantined
        as ``unknown_report``, of a report never rectified as ``not_rectified``.
        None skips both checks.
    columns : mapping of str to str, optional
        The user's header mapping, header → model column (``--map``, stored aliases), checked
        by :func:`check_column_map`. It wins over the model's own names and the built-in aliases.
    communities : mapping of str to str, optional
        Community name → community code (the workspace's ``communities`` layer). A
        ``community_code`` value that is a known name is stored as its code. Read from a
        header of :data:`gridmap.model.COMMUNITY_NAME_HEADERS` (所属社区, 社区名称), a value
        that is neither a known name nor a code (digits, or a known code) is quarantined
        (``unknown_community``).

    Returns
    -------
    PreparedBatch

    Raises
    ------
    ReadError
        When a required column is missing from the whole file.
    CRSError
        Spatial records without a CRS, or most coordinates outside the range of
        their (geographic) CRS: declare the file's real CRS.
    SchemaError
        An unknown layer, `coords` value or `defaults` column.

    Notes
    -----
    Headers are matched after stripping and lower-casing: the user's `columns`
    first, then exact model names, then the built-in aliases (:func:`gridmap.model.alias_target`:
    layer-specific ones, :data:`gridmap.model.COLUMN_ALIASES`, DBF-truncated model names such as
    ``community_``). The generic headers
    ``id``/``编号`` name the layer's identifier column (``target_id`` for
    targets) and ``time``/``datetime``/``时间`` its first time column. For
    ``reports`` without an id column, ``name`` (KML/GPX placemark names) serves as
    ``report_id``. ODK Central and KoboToolbox headers (:data:`SURVEY_ALIASES`): ``KEY`` or
    ``_uuid`` (else ``meta-instanceID``) is the report id, ``SubmissionDate`` or ``_submission_time``
    (else ``start``) the report time; ``_submission_time`` without a zone is UTC
    (:data:`UTC_HEADERS`). Every other column of the file is kept, as JSON, in the
    ``extra`` column (:func:`extra_json`) and named in ``unmapped``. Times without a zone
    are Asia/Shanghai; times with a zone keep their instant; 9-13 digit numbers are
    Unix epoch seconds (up to 10 digits) or milliseconds.

    Polygons are stored as MultiPolygons (also polygon ``targets``) and lines as
    MultiLineStrings. Identifiers and other text are stripped strings (pandas
    ``str`` dtype, missing as NA); whole numbers read as floats lose their ``.0``.

    Ledgers without ids: a ``reports`` (or ``targets``) file without an id column gets each
    id derived from the row's content, :func:`derived_ids` (time, WGS84 position to 1e-6°,
    category key and description; for targets kind, position and name), so the same ledger
    imported again gives the same ids and next month's ledger, whose 序号 restart at 1, new ones.
    序号 is never an id. Where a name stands in for the id (a KML placemark's ``name``, a target's
    name), rows with an empty name get a derived id. A file with an id column keeps its ids, and a
    row with an empty one is quarantined (``missing_value``).

    Examples
    --------
    >>> import pandas as pd
    >>> from gridmap.io.base import ReadResult, quarantine_frame
    >>> rows = pd.DataFrame({"事件编号": [7.0, 8.0], "整改时间": ["2025年3月2日 10时30分", "2030-01-01"],
    ...                      "吨数": ["1.5", "lots"], "_record": [1, 2]})
    >>> result = ReadResult(rows, quarantine_frame(), "fix.csv", "f" * 16)
    >>> batch = prepare("rectifications", result, defaults={"by": "李四"}, now=pd.Timestamp("2025-03-05 12:00"))
    >>> batch.accepted[["report_id", "by", "tonnes"]].values.tolist()
    [['7', '李四', 1.5]]
    >>> str(batch.accepted.loc[0, "rectified_at"])
    '2025-03-02 10:30:00+08:00'
    >>> batch.quarantine[["record", "reason"]].values.tolist()
    [[2, 'future_time']]
    """
    spec = layer_spec(layer)
    datum = _resolve_coords(coords, result)
    records = result.records
    now_ts = _resolve_now(now)
    used = frozenset(result.meta.get(k) for k in ("lon_column", "lat_column") if result.meta.get(k) is not None)
    mapping, coord_cols, unmapped = _map_columns(list(records.columns), spec, records,
                                                 user=check_column_map(spec.name, columns), used=used)
    derived = _DerivedIds.plan(spec, mapping)
    frame = _model_frame(records, derived.mapping(mapping, records), spec, defaults, result.source, unmapped)
    derived.mark(frame)
    record_no = _record_numbers(records)
    verdicts = _Verdicts(len(frame))
    _check_required(frame, spec, verdicts)
    geometry, repairs = None, _empty_repairs()
    if spec.geometry is not None:
        raw_geoms, crs = _raw_geometry(records, coord_cols, spec)
        geometry, repairs = _check_geometry(
            raw_geoms, crs, spec, verdicts, record_no, datum=datum, repair=repair,
            subdistrict=subdistrict, max_outside_km=max_outside_km,
        )
    typed = _typed_columns(frame, spec, verdicts, now_ts)
    if "community_code" in mapping and spec.name != "communities":
        _resolve_communities(typed, verdicts, communities,
                             by_name=_normalise(mapping["community_code"]) in COMMUNITY_NAME_HEADERS)
    derived.fill(typed, geometry, ~verdicts.bad)
    if rectified is not None and spec.name == "spotchecks":
        _check_reports(typed["report_id"], rectified, verdicts)
    if grids is not None and spec.name in ("reports", "targets") and geometry is not None:
        typed["grid_code"] = _assign_grids(geometry, ~verdicts.bad, grids, typed["grid_code"])
    accepted = _accepted_frame(typed, geometry, record_no, verdicts.bad, spec)
    quarantine = _quarantine_frame(result, records, record_no, verdicts, spec.name)
    batch = PreparedBatch(spec.name, accepted, quarantine, result.source, result.source_digest, result.read,
                          repairs, [str(c) for c in unmapped])
    if unmapped:
        logger.info("columns kept in extra for layer %s (no model column): %s", spec.name,
                    ", ".join(map(str, unmapped)))
    if batch.read != len(accepted) + len(quarantine):
        raise AssertionError(f"prepare lost records of {result.source}: read {batch.read} != accepted "
                             f"{len(accepted)} + quarantined {len(quarantine)}")
    logger.info("%s → %s: read %d, accepted %d, quarantined %d %s", result.source, spec.name, batch.read,
                len(accepted), len(quarantine), batch.reasons())
    return batch


# ----------------------------------------------------------------------------- options


def _resolve_coords(coords: str | None, result: ReadResult) -> str:
    value = coords if coords is not None else (result.coords or "wgs84")
    text = str(value).strip().lower().replace("-", "")
    if text not in COORDS:
        raise SchemaError(f"--coords {value}: not a known coordinate system; use one of {', '.join(COORDS)}"
                          " (gcj02 for Amap/WeChat/Tencent, bd09 for Baidu, wgs84 for GPS and photos)")
    return text


def _resolve_now(now: pd.Timestamp | None) -> pd.Timestamp:
    ts = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if ts.tzinfo is None:
        ts = ts.tz_localize(DEFAULT_TZ)
    return ts


# ----------------------------------------------------------------------------- columns


def _normalise(name: object) -> str:
    return str(name).replace("\ufeff", "").strip().lower()


def _alias_target(name: str, spec: LayerSpec) -> str | None:
    """Model column (or lon/lat) that header `name` stands for in this layer, if any."""
    target = alias_target(name, spec.name)
    if target is None and name in SURVEY_ALIASES and spec.name == "reports":
        return SURVEY_ALIASES[name][0]
    return target


def check_column_map(layer: str, columns: Mapping[str, str] | None) -> dict[str, str]:
    """A user's header mapping (``--map SOURCE=TARGET``, ``columns=``) checked, with normalised headers.

    Headers are compared stripped and lower-cased (as every header is); a target must be a
    column of the layer or ``lon``/``lat``. A header mapped to ``extra`` is kept there (so no
    built-in alias applies to it).

    Raises
    ------
    SchemaError
        An empty header or a target the layer lacks; the message lists the layer's columns.

    Examples
    --------
    >>> check_column_map("grids", {" 网格名 ": "name"})
    {'网格名': 'name'}
    >>> check_column_map("grids", {"网格名": "grid_name"})
    Traceback (most recent call last):
    ...
    gridmap.errors.SchemaError: 网格名=grid_name: grid_name is not a column of layer 'grids'; ...
    """
    spec = layer_spec(layer)
    targets = [*spec.column_names, *_COORD_NAMES]
    checked: dict[str, str] = {}
    for source, target in (columns or {}).items():
        header = _normalise(source)
        if not header:
            raise SchemaError(f"{source}={target}: the header (before '=') is empty; write HEADER=COLUMN")
        if target not in targets:
            raise SchemaError(f"{source}={target}: {target} is not a column of layer {spec.name!r}; "
                              f"map it to one of: {', '.join(targets)}")
        checked[header] = target
    return checked


def _map_columns(columns: list[Any], spec: LayerSpec, records: pd.DataFrame, *,
                 user: Mapping[str, str] | None = None,
                 used: frozenset[Any] = frozenset()) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """Map model column → file column, lon/lat → file column; and the file's columns that map to nothing.

    `user` (normalised header → column) wins over everything; then a model's own name; then the
    built-in aliases. Of two headers for one column the better wins and the other is unmapped.
    Reader columns (``_record``, the geometry, :data:`READER_COLUMNS`) and `used` (the columns the
    reader built the points from) are neither.
    """
    geometry = None
    if isinstance(records, gpd.GeoDataFrame) and records._geometry_column_name in records.columns:
        geometry = records._geometry_column_name
    skip = {*READER_COLUMNS, *used, *([geometry] if geometry is not None else [])}
    user = user or {}
    best: dict[str, tuple[Any, int]] = {}
    unmapped: list[Any] = []
    # a survey app's fallback headers (its start time, instanceID) only when the better one is absent
    ranked = sorted(columns, key=lambda c: SURVEY_ALIASES.get(_normalise(c), ("", 0))[1])
    group_sep = _survey_group_separator(columns)
    for col in ranked:
        if col in skip:
            continue
        name = _normalise(col)
        target, rank = (user[name], 0) if name in user else (_alias_target(name, spec), 2)
        if target is None and group_sep is not None:
            target = _grouped_target(name, group_sep, spec)
        if rank and target == name:
            rank = 1
        if target == EXTRA_COLUMN and rank == 0:
            target = None  # the user keeps this column in extra
        if target in _COORD_NAMES and geometry is not None:
            target = None  # the reader made the geometry: other coordinate-like columns are data
        held = best.get(target) if target is not None else None
        if target is None or (held is not None and held[1] <= rank):
            unmapped.append(col)
            continue
        if held is not None:
            unmapped.append(held[0])
        best[target] = (col, rank)
    mapping = {target: col for target, (col, _) in best.items()}
    if spec.name == "reports" and "report_id" not in mapping:
        name_col = next((c for c in unmapped if _normalise(c) in ("name", "名称")), None)
        if name_col is not None:
            mapping["report_id"] = name_col
            unmapped.remove(name_col)
            logger.info("using column %r as report_id (the file has no id column)", name_col)
    if spec.name == "targets" and "target_id" not in mapping and "name" in mapping:
        mapping["target_id"] = mapping["name"]
        logger.info("using column %r as target_id (the file has no id column)", mapping["name"])
    if (spec.name == "reports" and "submissiondate" in map(_normalise, columns)
            and _normalise(mapping.get("status", "")) == "status" and best["status"][1]):
        # ODK Central's own "Status" column is the submission's state (e.g. missingEncryptedFormData),
        # not the report's lifecycle status: a reader-internal column never fills a model column
        unmapped.append(mapping.pop("status"))
    coord_cols = {k: mapping.pop(k) for k in _COORD_NAMES if k in mapping}
    order = {c: i for i, c in enumerate(columns)}
    unmapped.sort(key=lambda c: order.get(c, len(order)))
    return mapping, coord_cols, unmapped


def _survey_group_separator(columns: list[Any]) -> str | None:
    """``"-"`` for an ODK Central export, ``"/"`` for a KoboToolbox one (group paths in headers), else None.

    ODK Central writes a question inside a group as ``group-question``; KoboToolbox, when the
    export includes groups, as ``group/question``.
    """
    names = {_normalise(c) for c in columns}
    if {"submissiondate", "key"} <= names:
        return "-"
    if {"_uuid", "_submission_time"} <= names:
        return "/"
    return None


def _grouped_target(name: str, sep: str, spec: LayerSpec) -> str | None:
    """The model column of a survey question inside a group (``grp-问题类型``), never a coordinate."""
    if sep not in name:
        return None
    target = _alias_target(name.rsplit(sep, 1)[1].strip(), spec)
    return None if target in _COORD_NAMES else target


def check_defaults(layer: str, defaults: Mapping[str, object] | None) -> None:
    """Refuse values for every row (``--set``, ``defaults=``) that name no column, or that set a key column.

    One value shared by every row in a key column gives every row the same key, so all rows but
    the first would count as duplicates and be dropped (a ledger whose 序号 restarts every month,
    imported with ``--set report_id=X``, lost 324 of 421 rows that way). The one exception is a
    key that also holds a time the file provides: a track's ``inspector`` (``--inspector``, one
    file per device) or the ``report_id`` of rectifications and spot checks still leave every row
    its own key through its time.

    Parameters
    ----------
    layer : str
        Target layer, one of :data:`gridmap.model.LAYERS`.
    defaults : mapping or None
        Column → value for every row.

    Raises
    ------
    SchemaError
        A column the layer lacks, or a key column; the message says what to do instead. It names
        the command line's ``--set COLUMN=VALUE`` (``defaults={COLUMN: VALUE}`` here), as every
        message of an import does: most users meet it at the command line.

    Examples
    --------
    >>> check_defaults("tracks", {"inspector": "巡查员A"})
    >>> check_defaults("reports", {"report_id": "R1"})
    Traceback (most recent call last):
    ...
    gridmap.errors.SchemaError: --set report_id=R1 would give every row of layer 'reports' the same report_id, ...
    >>> check_defaults("reports", {"inspector": "巡查员A"})
    Traceback (most recent call last):
    ...
    gridmap.errors.SchemaError: --set inspector=...: layer 'reports' has no column 'inspector'; ...
    """
    spec = layer_spec(layer)
    for key in defaults or {}:
        if key not in spec.column_names:
            raise SchemaError(f"--set {key}=...: layer {spec.name!r} has no column {key!r}; name one of its "
                              f"columns ({', '.join(spec.column_names)}) or drop --set {key}")
    varying = [c for c in spec.key if c not in (defaults or {}) and spec.column(c).dtype == "datetime"]
    fixed = [c for c in spec.key if c in (defaults or {})]
    if fixed and not varying:
        # the time of a key is what must vary (--inspector for one device's file is fine): name it first
        key = next((c for c in fixed if spec.column(c).dtype == "datetime"), fixed[0])
        value = (defaults or {})[key]
        whose = "its key: all rows but the first" if len(spec.key) == 1 else \
            f"part of its key ({', '.join(spec.key)}): rows"
        example = "" if spec.column(key).dtype == "datetime" else \
            " (a column such as 编号, or the month and the ledger's 序号, e.g. 2025-03-017)"
        derived = (f"; or leave the {key} column out: a file without one gets ids derived from each row's content"
                   if key == DERIVED_ID_SOURCES.get(spec.name, (None,))[0] else "")
        raise SchemaError(
            f"--set {key}={value} would give every row of layer {spec.name!r} the same {key}, {whose} would count "
            f"as duplicates or key conflicts, not stored. A key column cannot be set for every row; "
            f"give each row its own {key} in the file instead{example} and drop --set {key}{derived}.")


def _model_frame(records: pd.DataFrame, mapping: Mapping[str, Any], spec: LayerSpec,
                 defaults: Mapping[str, object] | None, source: str, unmapped: Sequence[Any] = ()) -> pd.DataFrame:
    """A new frame with the model columns the file has (plus defaults), raw values, index 0..n-1.

    The `unmapped` columns go into ``extra`` as one JSON object per row (:func:`extra_json`).
    """
    n = len(records)
    data = {model: _utc_marked(records[col], col).reset_index(drop=True) for model, col in mapping.items()}
    if unmapped:
        data[EXTRA_COLUMN] = _with_file_extra(extra_json(records, unmapped), data.get(EXTRA_COLUMN))
    check_defaults(spec.name, defaults)
    for key, value in (defaults or {}).items():
        if key not in data:
            data[key] = pd.Series([value] * n, dtype=object)
        else:  # a value in the file wins; --set fills every empty one (None, NaN, "" or blanks)
            data[key] = data[key].astype(object).where(~_is_empty(data[key]), value)
    missing = [c for c in spec.required if c not in data]
    if missing and n:  # a file whose every record the reader quarantined has nothing to map
        raise ReadError(_missing_columns_message(source, spec, missing, records))
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    for col in spec.column_names:
        if col not in frame:
            frame[col] = pd.Series(np.nan, index=frame.index, dtype="str")
    return frame


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


def _utc_marked(values: pd.Series, header: Any) -> pd.Series:
    """Times of a header in :data:`UTC_HEADERS` with ``Z`` appended where they name no zone; others as they are."""
    if _normalise(header) not in UTC_HEADERS:
        return values
    text = values.astype("str").str.strip()
    naive = ~_is_empty(values) & ~text.str.contains(_ZONED_RE, regex=True).fillna(False).to_numpy(dtype=bool)
    if naive.any():
        logger.info("times of column %r are UTC (KoboToolbox's server time); read as UTC", header)
    return text.where(~naive, text + "Z").where(~_is_empty(values), values)


def _missing_columns_message(source: str, spec: LayerSpec, missing: list[str], records: pd.DataFrame) -> str:
    """Which columns the file lacks, the headers accepted for them, and the flag that fills them.

    The fix is named as on the command line (``--set COLUMN=VALUE``, ``--inspector NAME``), not as
    the API's ``defaults=``: most users meet the message there.

    Examples
    --------
    >>> frame = pd.DataFrame({"_record": [1], "编号": ["R1"], "时间": ["2025-03-01"]})
    >>> print(_missing_columns_message("r.csv", layer_spec("reports"), ["category"], frame))
    ... # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    r.csv: layer 'reports' needs column(s) category but the file has only: 编号, 时间. Rename the header to
    category (accepted headers: category, ...); or map your header with --map 'HEADER=category' (gridmap alias
    WORKSPACE reports 'HEADER=category' remembers it); or give every row the same value with --set category=VALUE.
    """
    found = [str(c) for c in records.columns if c not in READER_COLUMNS]
    accepted = []
    headers = sorted(set(COLUMN_ALIASES) | {h for table in LAYER_COLUMN_ALIASES.values() for h in table})
    for col in missing:
        names = [col] + [h for h in headers if h != col and alias_target(h, spec.name) == col]
        accepted.append(f"{col} (accepted headers: {', '.join(names)})")
    flags = [_flag_for(spec, col) for col in missing]
    shared = [flag for flag in flags if flag]
    keys = [col for col, flag in zip(missing, flags) if not flag]
    fixes = []
    if shared:
        fixes.append(f"give every row the same value with {' '.join(shared)}")
    if keys:
        fixes.append(f"give each row its own {', '.join(keys)} in the file (a key cannot be one value for every row)")
    return (f"{source}: layer {spec.name!r} needs column(s) {', '.join(missing)} but the file has only: "
            f"{', '.join(found) or 'no columns'}. Rename the header to {'; '.join(accepted)}; or map your "
            f"header with --map 'HEADER={missing[0]}' (gridmap alias WORKSPACE {spec.name} 'HEADER={missing[0]}' "
            f"remembers it); or {'; or '.join(fixes)}.")


def _flag_for(spec: LayerSpec, column: str) -> str | None:
    """The command-line option giving every row `column`: ``--inspector NAME`` for tracks, else ``--set``.

    None for a key column that ``--set`` may not fill (:func:`check_defaults`).
    """
    if spec.name == "tracks" and column == "inspector":
        return "--inspector NAME"
    try:
        check_defaults(spec.name, {column: "VALUE"})
    except SchemaError:
        return None
    return f"--set {column}=VALUE"


def _record_numbers(records: pd.DataFrame) -> np.ndarray:
    if "_record" in records.columns:
        return pd.to_numeric(records["_record"]).to_numpy(dtype="int64")
    logger.warning("records carry no _record column; numbering them 1..%d", len(records))
    return np.arange(1, len(records) + 1, dtype="int64")


def _check_required(frame: pd.DataFrame, spec: LayerSpec, verdicts: _Verdicts) -> None:
    for col in spec.columns:
        if col.required and col.dtype != "datetime":
            empty = _is_empty(frame[col.name])
            verdicts.flag(empty, "missing_value",
                          f"required value {col.name!r} is empty; fill it in and import the file again")


def _is_empty(values: pd.Series) -> np.ndarray:
    empty = np.array(values.isna(), dtype=bool)
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        text = values.astype("str").str.strip()
        empty = empty | np.array((text == "").fillna(False), dtype=bool)
    return empty


# ----------------------------------------------------------------------------- values


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
        verdicts.flag(bad, reason, lambda idx, c=column, t=text, h=hint: [
            f"{c} {t.iloc[i]!r} is not known; {h}" for i in idx])
        typed[column] = codes


# ----------------------------------------------------------------------------- times


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


# ----------------------------------------------------------------------------- geometry


def _raw_geometry(records: pd.DataFrame, coord_cols: Mapping[str, Any], spec: LayerSpec) -> tuple[np.ndarray, CRS]:
    """The records' geometries as a shapely array, and their CRS (refusing data without one)."""
    from gridmap.crs import require_crs

    if isinstance(records, gpd.GeoDataFrame) and records._geometry_column_name in records.columns:
        require_crs(records, what=f"records for layer {spec.name!r}")
        return np.asarray(records.geometry.array, dtype=object), CRS.from_user_input(records.crs)
    if len(records) == 0:
        return np.empty(0, dtype=object), CRS.from_user_input(STORAGE_CRS)
    if set(coord_cols) == set(_COORD_NAMES):
        lon = _coordinate(records[coord_cols["lon"]])
        lat = _coordinate(records[coord_cols["lat"]])
        both_empty = np.isnan(lon[1]) & np.isnan(lat[1])
        geoms = shapely.points(lon[0], lat[0])
        geoms[both_empty] = None
        return geoms, CRS.from_user_input(STORAGE_CRS)
    raise ReadError(f"layer {spec.name!r} needs geometry, but the records have none and no longitude/latitude "
                    "columns; add lon and lat columns (or 经度, 纬度) or read a file with geometry")


def _coordinate(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(number or NaN for not-a-number, NaN where empty) — NaN in the first marks unparseable."""
    text = _as_text(values)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
    given = np.where(text.notna().to_numpy(dtype=bool), 0.0, np.nan)
    return numbers, given


def _check_geometry(
    raw: np.ndarray, crs: CRS, spec: LayerSpec, verdicts: _Verdicts, record_no: np.ndarray, *, datum: str,
    repair: bool, subdistrict: Any, max_outside_km: float,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Run the coordinate checks; return the stored (EPSG:4326, promoted) geometries and the repairs."""
    geoms = raw.copy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    verdicts.flag(~present, "missing_coordinates", "the record has no coordinates; add them or drop the record")
    lonlat = _as_lonlat(geoms, crs, present)
    _check_ranges(lonlat, present, crs, verdicts)
    _check_types(geoms, spec, verdicts)
    geoms, repairs = _check_validity(geoms, crs, spec, verdicts, record_no, repair=repair)
    geoms = _promote(geoms, spec)
    stored = np.full(len(geoms), None, dtype=object)
    ok = ~verdicts.bad
    if ok.any():
        stored[ok] = _to_storage(geoms[ok], crs, datum)
    if subdistrict is not None:
        _check_subdistrict(stored, subdistrict, verdicts, max_outside_km)
    return stored, repairs


def _as_lonlat(geoms: np.ndarray, crs: CRS, mask: np.ndarray) -> np.ndarray:
    """Geometries in longitude/latitude for the range checks: raw when geographic, else reprojected."""
    if crs.is_geographic:
        return geoms
    out = np.full(len(geoms), None, dtype=object)
    if mask.any():
        with np.errstate(invalid="ignore"):
            out[mask] = gpd.GeoSeries(geoms[mask], crs=crs).to_crs(STORAGE_CRS).array
    return out


def _in_box(minx: np.ndarray, miny: np.ndarray, maxx: np.ndarray, maxy: np.ndarray) -> np.ndarray:
    west, south, east, north = CHINA_BOUNDS
    return (minx >= west) & (maxx <= east) & (miny >= south) & (maxy <= north)


def _check_ranges(lonlat: np.ndarray, present: np.ndarray, crs: CRS, verdicts: _Verdicts) -> None:
    """unparseable → swapped → out of range → outside China, on every vertex (via bounds).

    The "mostly out of range" rule looks at every record with coordinates, whatever
    other check it fails.
    """
    xy, index = shapely.get_coordinates(lonlat[present], return_index=True)
    rows = np.flatnonzero(present)
    nonfinite = np.zeros(len(lonlat), dtype=bool)
    nonfinite[rows[np.unique(index[~np.isfinite(xy).all(axis=1)])]] = True
    how = ("are not numbers" if crs.is_geographic
           else f"cannot be transformed from {crs.to_string()} to longitude/latitude")
    verdicts.flag(nonfinite, "unparseable_coordinates", lambda idx: [
        f"coordinates {_short_wkt(lonlat[i])} {how}; correct them in the source" for i in idx])
    usable = present & ~nonfinite
    bounds = np.full((len(lonlat), 4), np.nan)
    bounds[usable] = shapely.bounds(lonlat[usable])
    minx, miny, maxx, maxy = bounds.T
    with np.errstate(invalid="ignore"):
        out_of_range = usable & ((minx < -180) | (maxx > 180) | (miny < -90) | (maxy > 90))
        swapped_in = usable & _in_box(miny, minx, maxy, maxx)
        outside = usable & ~_in_box(minx, miny, maxx, maxy)
    _raise_if_mostly_out_of_range(out_of_range & ~swapped_in, usable, crs)

    def where(idx: np.ndarray) -> list[str]:
        return [_short_wkt(lonlat[i]) for i in idx]

    verdicts.flag(outside & swapped_in, "swapped_coordinates", lambda idx: [
        f"{w} has latitude and longitude swapped (swapped it lies in China); put longitude (x) first"
        for w in where(idx)])
    verdicts.flag(out_of_range, "coordinates_out_of_range", lambda idx: [
        f"{w} is outside longitude [-180, 180] / latitude [-90, 90]; check the file's CRS and the values"
        for w in where(idx)])
    verdicts.flag(outside, "outside_china", lambda idx: [
        f"{w} lies outside China (lon 73.5-135.1, lat 18.1-53.6); check the coordinates and the declared CRS"
        for w in where(idx)])


def _raise_if_mostly_out_of_range(out: np.ndarray, usable: np.ndarray, crs: CRS) -> None:
    considered, bad = int(usable.sum()), int((out & usable).sum())
    if crs.is_geographic and considered and bad * 2 > considered:
        raise CRSError(
            f"{bad} of {considered} records have coordinates outside longitude/latitude range "
            f"although the file says {crs.to_string()}; the file is probably in a projected CRS. "
            "Declare its real CRS: delete the wrong .prj and import the file with --crs EPSG:NNNN (the code of "
            "the GIS project, e.g. --crs EPSG:4546 for CGCS2000 Gauss-Kruger CM 111E).")


def _short_wkt(geom: Any) -> str:
    if geom is None:
        return "(none)"
    return shapely.to_wkt(geom, rounding_precision=6, trim=True)[:80]


def _check_types(geoms: np.ndarray, spec: LayerSpec, verdicts: _Verdicts) -> None:
    accepted = _ACCEPTED_TYPES[str(spec.geometry)]
    types = shapely.get_type_id(geoms)
    wrong = ~np.isin(types, list(accepted)) & ~verdicts.bad
    holds = " or ".join(_TYPE_NAMES[t] for t in sorted(accepted))
    verdicts.flag(wrong, "wrong_geometry_type", lambda idx: [
        f"a {_TYPE_NAMES[types[i]] if 0 <= types[i] < 8 else 'geometry'} cannot go in layer {spec.name!r}, "
        f"which holds {holds}; convert or split it in GIS" for i in idx])


def _check_validity(geoms: np.ndarray, crs: CRS, spec: LayerSpec, verdicts: _Verdicts, record_no: np.ndarray, *,
                    repair: bool) -> tuple[np.ndarray, pd.DataFrame]:
    todo = ~verdicts.bad & (shapely.get_type_id(geoms) != _POINT)
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[todo] = ~shapely.is_valid(geoms[todo])
    if not invalid.any():
        return geoms, _empty_repairs()
    if not repair:
        verdicts.flag(invalid, "invalid_geometry", lambda idx: [
            f"invalid geometry: {reason}; fix it in GIS, or import with repair=True to repair it "
            "(the area change is reported)" for reason in shapely.is_valid_reason(geoms[idx])])
        return geoms, _empty_repairs()
    return _repair(geoms, invalid, crs, verdicts, record_no)


def _repair(geoms: np.ndarray, invalid: np.ndarray, crs: CRS, verdicts: _Verdicts,
            record_no: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    idx = np.flatnonzero(invalid)
    before = geoms[idx]
    fixed = np.array([_same_dimension_parts(g, shapely.make_valid(g)) for g in before], dtype=object)
    emptied = shapely.is_empty(fixed)
    verdicts.flag(np.isin(np.arange(len(geoms)), idx[emptied]), "invalid_geometry",
                  "invalid geometry that repair reduces to nothing (e.g. a polygon with no area); redraw it")
    keep = ~emptied
    out = geoms.copy()
    out[idx[keep]] = fixed[keep]
    for i, old, new in zip(idx[keep], before[keep], fixed[keep]):
        logger.info("record %d: repaired invalid geometry %s; original WKT: %s", record_no[i],
                    shapely.is_valid_reason(old), shapely.to_wkt(old))
    area_before, area_after = _metric_areas(before[keep], crs), _metric_areas(fixed[keep], crs)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(area_before > 0, (area_after - area_before) / area_before * 100.0,
                          np.where(area_after > 0, np.inf, 0.0))
    repairs = pd.DataFrame({"_record": record_no[idx[keep]].astype("int64"), "area_before_m2": area_before,
                            "area_after_m2": area_after, "change_pct": change})
    return out, repairs


def _same_dimension_parts(original: BaseGeometry, fixed: BaseGeometry) -> BaseGeometry:
    """Keep the parts of a repaired geometry that have the original's dimension."""
    dim = shapely.get_dimensions(original)
    parts = shapely.get_parts(fixed)
    parts = parts[shapely.get_dimensions(parts) == dim]
    if len(parts) == 0:
        return shapely.from_wkt("GEOMETRYCOLLECTION EMPTY")
    if dim == 2:
        polys = shapely.get_parts(parts)  # flatten nested multipolygons
        return shapely.multipolygons(polys[shapely.get_type_id(polys) == _POLYGON])
    lines = shapely.get_parts(parts)
    return shapely.multilinestrings(lines[shapely.get_type_id(lines) == _LINE])


def _metric_areas(geoms: np.ndarray, crs: CRS) -> np.ndarray:
    """Areas in m² in the metric CRS chosen for the data (raw lon/lat taken as WGS84; GCJ-02 shifts
    barely change areas)."""
    from gridmap.crs import metric_crs

    series = gpd.GeoSeries(geoms, crs=crs)
    geographic = series if crs.is_geographic else series.to_crs(STORAGE_CRS)
    geographic = geographic.set_crs(STORAGE_CRS, allow_override=True)
    metric = metric_crs(gpd.GeoDataFrame(geometry=geographic))
    return geographic.to_crs(metric).area.to_numpy(dtype="float64")


def _promote(geoms: np.ndarray, spec: LayerSpec) -> np.ndarray:
    """Polygon → MultiPolygon, LineString → MultiLineString where the layer holds multi types."""
    types = shapely.get_type_id(geoms)
    out = geoms.copy()
    if spec.geometry in ("MultiPolygon", "Geometry"):
        polys = np.flatnonzero(types == _POLYGON)
        if len(polys):
            out[polys] = shapely.multipolygons(geoms[polys], indices=np.arange(len(polys)))
    if spec.geometry == "MultiLineString":
        lines = np.flatnonzero(types == _LINE)
        if len(lines):
            out[lines] = shapely.multilinestrings(geoms[lines], indices=np.arange(len(lines)))
    return out


def _to_storage(geoms: np.ndarray, crs: CRS, datum: str) -> np.ndarray:
    from gridmap.crs import to_storage

    stored = to_storage(gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, crs=crs)), coords=datum, what="the records")
    return np.asarray(stored.geometry.array, dtype=object)


def _subdistrict_4326(subdistrict: Any) -> BaseGeometry:
    if isinstance(subdistrict, BaseGeometry):
        return subdistrict
    if isinstance(subdistrict, (gpd.GeoDataFrame, gpd.GeoSeries)):
        from gridmap.crs import require_crs

        frame = subdistrict if isinstance(subdistrict, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=subdistrict)
        require_crs(frame, what="the subdistrict")
        return frame.to_crs(STORAGE_CRS).geometry.union_all()
    raise SchemaError(f"subdistrict must be a shapely geometry or a GeoDataFrame, not {type(subdistrict).__name__}")


def _check_subdistrict(stored: np.ndarray, subdistrict: Any, verdicts: _Verdicts, max_km: float) -> None:
    """Quarantine records farther than `max_km` (metric) from the subdistrict."""
    from gridmap.crs import metric_crs

    area = _subdistrict_4326(subdistrict)
    metric = metric_crs(gpd.GeoDataFrame(geometry=[area], crs=STORAGE_CRS))
    area_m = gpd.GeoSeries([area], crs=STORAGE_CRS).to_crs(metric)
    zone = area_m.buffer(max_km * 1000.0, quad_segs=32).to_crs(STORAGE_CRS).iloc[0]
    shapely.prepare(zone)
    todo = np.flatnonzero(~verdicts.bad)
    geoms = stored[todo]
    near = np.ones(len(todo), dtype=bool)
    points = shapely.get_type_id(geoms) == _POINT
    near[points] = shapely.intersects_xy(zone, shapely.get_x(geoms[points]), shapely.get_y(geoms[points]))
    near[~points] = shapely.intersects(geoms[~points], zone)
    far = np.zeros(len(stored), dtype=bool)
    far[todo[~near]] = True

    def detail(idx: np.ndarray) -> list[str]:
        dist = gpd.GeoSeries(stored[idx], crs=STORAGE_CRS).to_crs(metric).distance(area_m.iloc[0]).to_numpy()
        return [f"{_short_wkt(stored[i])} lies {d / 1000:.1f} km from the subdistrict (limit {max_km:g} km); "
                "check the declared coordinate system (--coords, or --crs for metres) and the values"
                for i, d in zip(idx, dist)]

    verdicts.flag(far, "outside_subdistrict", detail)


# ----------------------------------------------------------------------------- grids


def _assign_grids(stored: np.ndarray, ok: np.ndarray, grids: gpd.GeoDataFrame, current: pd.Series) -> pd.Series:
    """grid_code by location for the accepted rows; rows in no grid get an empty grid_code."""
    from gridmap.crs import require_crs

    if "grid_code" not in grids.columns:
        raise SchemaError(f"grids need a grid_code column; they have: {', '.join(map(str, grids.columns))}")
    require_crs(grids, what="the grids")
    grid_geoms = np.asarray(grids.to_crs(STORAGE_CRS).geometry.array, dtype=object)
    codes = _as_text(grids["grid_code"]).to_numpy(dtype=object)
    rows = np.flatnonzero(ok)
    geoms = stored[rows]
    anchors = geoms.copy()
    areas = shapely.get_type_id(geoms) != _POINT
    anchors[areas] = shapely.point_on_surface(geoms[areas])
    tree = shapely.STRtree(grid_geoms)
    hit_row, hit_grid = tree.query(anchors, predicate="intersects")
    first_rows, first_grid = _first_hits(hit_row, hit_grid)
    which = np.full(len(stored), len(codes), dtype=np.intp)  # len(codes): the missing code after the last grid
    which[rows[first_rows]] = first_grid
    result = pd.Series(pd.array([*codes, None], dtype="str").take(which), index=current.index)
    changed = int((current.notna() & result.notna() & (current != result)).sum())
    if changed:
        logger.info("%d records had a grid_code other than the grid holding them; the location wins", changed)
    return result


def _first_hits(hit_row: np.ndarray, hit_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row with a hit and the smallest grid index it hit (pairs from :meth:`shapely.STRtree.query`).

    The query lists the pairs by row already; then one pass over them does it, without sorting.

    Examples
    --------
    >>> _first_hits(np.array([0, 0, 2, 5, 5, 5]), np.array([3, 1, 4, 2, 0, 7]))
    (array([0, 2, 5]), array([1, 4, 0]))
    >>> _first_hits(np.array([2, 0, 2]), np.array([1, 5, 0]))
    (array([0, 2]), array([5, 0]))
    """
    if len(hit_row) == 0:
        return hit_row, hit_grid
    if (np.diff(hit_row) < 0).any():
        order = np.argsort(hit_row, kind="stable")
        hit_row, hit_grid = hit_row[order], hit_grid[order]
    starts = np.flatnonzero(np.r_[True, hit_row[1:] != hit_row[:-1]])
    return hit_row[starts], np.minimum.reduceat(hit_grid, starts)


# ----------------------------------------------------------------------------- output


def _accepted_frame(typed: Mapping[str, pd.Series], geometry: np.ndarray | None, record_no: np.ndarray,
                    bad: np.ndarray, spec: LayerSpec) -> pd.DataFrame:
    keep = ~bad
    data = {name: typed[name][keep].reset_index(drop=True) for name in spec.column_names}
    frame = pd.DataFrame(data, index=pd.RangeIndex(int(keep.sum())))
    for col in spec.columns:
        if col.dtype == "str":
            frame[col.name] = frame[col.name].astype("str")
    if geometry is not None:
        frame = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry[keep], crs=STORAGE_CRS, index=frame.index))
    frame["_record"] = record_no[keep].astype("int64")
    return frame


def _quarantine_frame(result: ReadResult, records: pd.DataFrame, record_no: np.ndarray, verdicts: _Verdicts,
                      layer: str) -> pd.DataFrame:
    idx = np.flatnonzero(verdicts.bad)
    raw_cols = [c for c in records.columns if c != "_record"]
    raws = records.iloc[idx][raw_cols].to_dict("records") if len(idx) else []
    when = pd.Timestamp.now(tz="UTC")
    rows = pd.DataFrame({
        "layer": layer, "source": result.source, "source_digest": result.source_digest,
        "record": record_no[idx], "raw": [raw_json(r) for r in raws],
        "reason": verdicts.reason[idx], "detail": verdicts.detail[idx], "quarantined_at": when,
    }, columns=QUARANTINE_NAMES)
    earlier = result.quarantine.copy()
    if len(earlier):
        earlier["layer"] = earlier["layer"].where(earlier["layer"].notna() & (earlier["layer"] != ""), layer)
    parts = [frame for frame in (earlier, rows) if len(frame)]
    if not parts:
        return quarantine_frame()
    combined = quarantine_frame(pd.concat(parts, ignore_index=True).to_dict("records"))
    return combined


# ----------------------------------------------------------------------------- ids derived from content


#: Layers whose rows get an id derived from their content when the file has no id column: the id column, and the
#: columns it is derived from besides the position.
DERIVED_ID_SOURCES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "reports": ("report_id", ("reported_at", "category", "description")),
    "targets": ("target_id", ("kind", "name")),
}
#: Prefix of an id derived from content (``h-`` and 16 hex digits of a SHA-1).
DERIVED_ID_PREFIX = "h-"
_NAME_HEADERS = ("name", "名称")


def derived_ids(layer: str, values: Mapping[str, pd.Series], geometry: Any) -> pd.Series:
    """Ids derived from content, for rows of a file without an id column (see :func:`prepare`).

    The id is :data:`DERIVED_ID_PREFIX` and the first 16 hex digits of the SHA-1 of the UTF-8
    text of the row's fields joined by the unit separator ``\\x1f``:

    * ``reports``: the report time in UTC rounded to the whole second (``2025-03-01T00:05:00Z``),
      the position, the category key and the description;
    * ``targets``: the kind key, the position and the name.

    The position is the WKT of the geometry in WGS84 (after any GCJ-02/BD-09 conversion) with
    every coordinate to 6 decimals (``POINT (109.730000 38.290000)``; 1e-6° is about 0.1 m);
    a missing description or name is empty text. Rounding makes the id survive float noise
    (a value read as 109.73000000000001 from one copy of a ledger and 109.73 from another, an
    Excel time a microsecond off), so the same ledger imported again gives the same ids
    (duplicates), and next month's ledger, whose 序号 start again at 1, adds its rows.

    Parameters
    ----------
    layer : {"reports", "targets"}
        The layer.
    values : mapping of str to pandas.Series
        The typed columns named in :data:`DERIVED_ID_SOURCES` (times tz-aware, category and
        kind as keys), one row per geometry.
    geometry : array-like of shapely geometries
        The rows' geometries in EPSG:4326.

    Returns
    -------
    pandas.Series
        ``str`` dtype, on the index of the first of `values`.

    Examples
    --------
    >>> import shapely, hashlib
    >>> values = {"reported_at": pd.Series(pd.to_datetime(["2025-03-01 08:05:00.2"]).tz_localize("Asia/Shanghai")),
    ...           "category": pd.Series(["garbage_dumping"]), "description": pd.Series([None], dtype="str")}
    >>> ids = derived_ids("reports", values, [shapely.Point(109.73, 38.29)])
    >>> text = "2025-03-01T00:05:00Z\\x1fPOINT (109.730000 38.290000)\\x1fgarbage_dumping\\x1f"
    >>> ids.tolist() == ["h-" + hashlib.sha1(text.encode()).hexdigest()[:16]]
    True
    """
    import hashlib

    if layer not in DERIVED_ID_SOURCES:
        raise SchemaError(f"layer {layer!r} has no ids derived from content; only {', '.join(DERIVED_ID_SOURCES)}")
    _, columns = DERIVED_ID_SOURCES[layer]
    index = values[columns[0]].index
    where = shapely.to_wkt(np.asarray(geometry, dtype=object), rounding_precision=6, trim=False)
    fields = []
    for column in columns:
        series = values[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            text = series.dt.tz_convert("UTC").dt.round("s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            text = series.astype("str")
        fields.append(text.fillna("").to_numpy(dtype=object))
    if layer == "reports":  # time, position, category, description
        rows = zip(fields[0], where, fields[1], fields[2])
    else:  # kind, position, name
        rows = zip(fields[0], where, fields[1])
    ids = [DERIVED_ID_PREFIX + hashlib.sha1("\x1f".join(r).encode("utf-8")).hexdigest()[:16] for r in rows]
    return pd.Series(pd.array(ids, dtype="str"), index=index)


@dataclass
class _DerivedIds:
    """Which rows of a batch get an id derived from content, and the stand-in that gets them through the checks.

    All rows when the file has no id column; when a placemark's (or feature's) name stands in for
    the id (:func:`_map_columns`), the rows whose name is empty.
    """

    layer: str
    column: str | None
    every_row: bool
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @classmethod
    def plan(cls, spec: LayerSpec, mapping: Mapping[str, Any]) -> "_DerivedIds":
        column = DERIVED_ID_SOURCES.get(spec.name, (None,))[0]
        if column is None:
            return cls(spec.name, None, False)
        if column not in mapping:
            logger.info("%s: the file has no id column; %s is derived from the content", spec.name, column)
            return cls(spec.name, column, True)
        source = mapping[column]
        by_name = (_normalise(source) in _NAME_HEADERS if spec.name == "reports"
                   else source == mapping.get("name"))
        return cls(spec.name, column if by_name else None, False)

    def mapping(self, mapping: Mapping[str, Any], records: pd.DataFrame) -> Mapping[str, Any]:
        """`mapping` with the record number standing in for an absent id column (replaced by :meth:`fill`)."""
        if not self.every_row or "_record" not in records.columns:
            return mapping
        return {**mapping, self.column: "_record"}

    def mark(self, frame: pd.DataFrame) -> None:
        """Note the rows to derive ids for and fill their empty ids with a stand-in (`frame` is prepare's own)."""
        if self.column is None:
            self.rows = np.zeros(len(frame), dtype=bool)
            return
        self.rows = np.ones(len(frame), dtype=bool) if self.every_row else _is_empty(frame[self.column])
        if self.rows.any():
            frame[self.column] = frame[self.column].astype(object).where(~self.rows, DERIVED_ID_PREFIX)

    def fill(self, typed: dict[str, pd.Series], geometry: np.ndarray | None, ok: np.ndarray) -> None:
        """Replace the stand-ins of the rows that passed every check by ids derived from their content."""
        todo = self.rows & ok
        if self.column is None or geometry is None or not todo.any():
            return
        _, columns = DERIVED_ID_SOURCES[self.layer]
        ids = typed[self.column].astype("str").copy()
        ids[todo] = derived_ids(self.layer, {c: typed[c][todo] for c in columns}, geometry[todo]).to_numpy()
        typed[self.column] = ids
