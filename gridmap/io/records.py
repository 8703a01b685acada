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

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from gridmap.errors import SchemaError
from gridmap.io._records_base import _normalise, _Verdicts
from gridmap.io._records_columns import (  # re-exported: public names of this module
    READER_COLUMNS, SURVEY_ALIASES, _map_columns, _model_frame, check_column_map, check_defaults,
)
from gridmap.io._records_extra import extra_json  # re-exported
from gridmap.io._records_geometry import (  # re-exported: public names of this module
    CHINA_BOUNDS, REPAIR_COLUMNS, _assign_grids, _check_geometry, _empty_repairs, _raw_geometry,
)
from gridmap.io._records_keys import DERIVED_ID_PREFIX, DERIVED_ID_SOURCES, _DerivedIds, derived_ids  # re-exported
from gridmap.io._records_times import EARLIEST_TIME, FUTURE_SLACK, TIME_DTYPE, UTC_HEADERS, parse_times  # re-exported
from gridmap.io._records_values import _check_reports, _check_required, _resolve_communities, _typed_columns
from gridmap.io.base import QUARANTINE_NAMES, ReadResult, quarantine_frame, raw_json
from gridmap.model import COMMUNITY_NAME_HEADERS, DEFAULT_TZ, STORAGE_CRS, LayerSpec, layer_spec

__all__ = ["PreparedBatch", "prepare", "check_defaults", "check_column_map", "extra_json", "derived_ids",
           "DERIVED_ID_SOURCES", "DERIVED_ID_PREFIX", "parse_times", "CHINA_BOUNDS", "FUTURE_SLACK", "EARLIEST_TIME",
           "COORDS", "SURVEY_ALIASES", "UTC_HEADERS", "READER_COLUMNS", "TIME_DTYPE", "REPAIR_COLUMNS"]

logger = logging.getLogger(__name__)

#: Coordinate systems that may be declared for longitude/latitude.
COORDS = ("wgs84", "gcj02", "bd09")


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


def _record_numbers(records: pd.DataFrame) -> np.ndarray:
    if "_record" in records.columns:
        return pd.to_numeric(records["_record"]).to_numpy(dtype="int64")
    logger.warning("records carry no _record column; numbering them 1..%d", len(records))
    return np.arange(1, len(records) + 1, dtype="int64")


# ----------------------------------------------------------------------------- output


def _accepted_frame(typed: Mapping[str, pd.Series], geometry: np.ndarray | None, record_no: np.ndarray,
                    bad: np.ndarray, spec: LayerSpec) -> pd.DataFrame:
    keep = ~bad
    every = bool(keep.all())  # nothing quarantined: no copy of each column through a mask

    def kept(values: Any) -> Any:
        return values if every else values[keep]

    data = {name: kept(typed[name]).reset_index(drop=True) for name in spec.column_names}
    frame = pd.DataFrame(data, index=pd.RangeIndex(int(keep.sum())))
    for col in spec.columns:
        if col.dtype == "str" and frame[col.name].dtype != "str":
            frame[col.name] = frame[col.name].astype("str")
    if geometry is not None:
        frame = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(kept(geometry), crs=STORAGE_CRS, index=frame.index))
    frame["_record"] = kept(record_no).astype("int64")
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
