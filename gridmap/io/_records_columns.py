"""Column mapping of the row checks (:mod:`gridmap.io.records`): a file's headers onto a layer's model columns.

Headers are matched stripped and lower-cased: the user's mapping (``--map``, stored aliases) first,
then the model's own names, then the built-in aliases (:func:`gridmap.model.alias_target`) and the
survey apps' headers (:data:`SURVEY_ALIASES`). Values for every row (``--set``) are checked here
too (:func:`check_defaults`), and the frame of raw model columns is built (:func:`_model_frame`).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.errors import ReadError, SchemaError
from gridmap.io._records_base import _COORD_NAMES, _is_empty, _normalise
from gridmap.io._records_extra import _with_file_extra, extra_json
from gridmap.io._records_keys import DERIVED_ID_SOURCES
from gridmap.io._records_times import _utc_marked
from gridmap.model import (
    COLUMN_ALIASES, EXTRA_COLUMN, LAYER_COLUMN_ALIASES, LayerSpec, alias_target, layer_spec,
)

__all__ = ["READER_COLUMNS", "SURVEY_ALIASES", "check_column_map", "check_defaults"]

# the row checks log as one module: logging configured for gridmap.io.records sees all of them
logger = logging.getLogger("gridmap.io.records")

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
