"""Key conflicts in the GeoPackage store: one key, two contents (found in the frame and against stored rows)."""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np
import pandas as pd

from gridmap.errors import WorkspaceError
from gridmap.model import DEFAULT_TZ, LayerSpec
from gridmap.model.quarantine import raw_json
from gridmap.storage.base import GEOMETRY_TOLERANCE, content_columns
from gridmap.storage.rows import conflict_detail
from gridmap.storage.gpkg._columns import (
    GEOMETRY_COLUMN, _STAGE, _Staged, _gpkg_blob_to_wkb, _index_stage, _q, _utc_now_text,
)


_KEY_CONFLICT = "key_conflict"


def _same_geometry_blobs(a: bytes | None, b: bytes | None) -> int:
    """SQL function: 1 when two GeoPackage blobs hold the same geometry to :data:`GEOMETRY_TOLERANCE`."""
    import shapely

    if a is None or b is None:
        return int(a is None and b is None)
    ga, gb = shapely.from_wkb(_gpkg_blob_to_wkb(a)), shapely.from_wkb(_gpkg_blob_to_wkb(b))
    return int(bool(shapely.equals_exact(ga, gb, tolerance=GEOMETRY_TOLERANCE)))


def _show(value: Any, column: str, spec: LayerSpec) -> str:
    """A stored value as a person reads it: times in Asia/Shanghai, geometries as short WKT, empty as (empty)."""
    if value is None or (not isinstance(value, (bytes, str)) and pd.isna(value)):
        return "(empty)"
    if column == GEOMETRY_COLUMN:
        import shapely

        geom = value if not isinstance(value, bytes) else shapely.from_wkb(_gpkg_blob_to_wkb(value))
        return shapely.to_wkt(geom, rounding_precision=9, trim=True)[:120]
    if spec.column(column).dtype == "datetime":
        stamp = pd.Timestamp(str(value)).tz_convert(DEFAULT_TZ)
        return stamp.isoformat(sep=" ", timespec="milliseconds" if stamp.microsecond else "seconds")
    return str(value)


def _stored_conflicts(con: sqlite3.Connection, spec: LayerSpec, staged: _Staged, old_max: int,
                      old_rows: int) -> list[tuple[int, str]]:
    """(frame position, detail) of the staged rows whose key was stored before this import with other content.

    `old_rows` rows were stored before (all with fids up to `old_max`).

    Called only when some staged row was not inserted (its key was already stored). One
    join of the stage and the layer on the key (both indexed), the outer loop over the
    smaller side; the content is compared in SQL, the geometry as stored blobs first and,
    where the bytes differ, to :data:`GEOMETRY_TOLERANCE`.
    """
    columns = content_columns(spec.name)
    tests = [f"m.{_q(c)} IS NOT s.{_q(c)}" for c in columns]
    shown = [*columns]
    if spec.geometry is not None:
        con.create_function("gridmap_same_geometry", 2, _same_geometry_blobs, deterministic=True)
        geom = _q(GEOMETRY_COLUMN)
        tests.append(f"(m.{geom} IS NOT s.{geom} AND NOT gridmap_same_geometry(m.{geom}, s.{geom}))")
        shown.append(GEOMETRY_COLUMN)
    if not tests:
        return []
    join = " AND ".join(f"m.{_q(k)} = s.{_q(k)}" for k in spec.key)
    _index_stage(con, spec.key)
    stage, layer = f"{_STAGE}.{_STAGE} AS s", f"main.{_q(spec.name)} AS m"
    outer, inner = (layer, stage) if old_rows < len(staged.rows) else (stage, layer)
    select = ", ".join(["s.fid", *(f"s.{_q(k)}" for k in spec.key), *(f"m.{_q(c)}, s.{_q(c)}" for c in shown)])
    found = con.execute(f"SELECT {select} FROM {outer} CROSS JOIN {inner} ON {join}"
                        f" WHERE m.fid <= ? AND ({' OR '.join(tests)})", (old_max,)).fetchall()
    _check_stage_fids(con, len(staged.rows), found)
    out = []
    nkey = len(spec.key)
    for row in found:
        pairs = row[1 + nkey:]
        differ = [(c, pairs[2 * i], pairs[2 * i + 1]) for i, c in enumerate(shown)
                  if _differs(c, pairs[2 * i], pairs[2 * i + 1])]
        detail = conflict_detail(spec, row[1:1 + nkey], differ, "is already stored", _show)
        out.append((int(staged.positions[row[0] - 1]), detail))
    return out


def _differs(column: str, stored: Any, incoming: Any) -> bool:
    if column == GEOMETRY_COLUMN:
        return not _same_geometry_blobs(stored, incoming)
    return stored != incoming


def _check_stage_fids(con: sqlite3.Connection, n: int, found: list[tuple]) -> None:
    """Staged row i has stage fid i + 1 (GDAL numbers a new layer's rows in order); refuse to guess otherwise."""
    if not found:
        return
    stage = con.execute(f"SELECT min(fid), max(fid), count(*) FROM {_STAGE}.{_STAGE}").fetchone()
    if tuple(stage) != (1, n, n):
        raise WorkspaceError(f"the staging file numbers its {n} rows {stage[0]}..{stage[1]}, not 1..{n}; "
                             "nothing was written (please report this)")


def _conflict_rows(spec: LayerSpec, frame: pd.DataFrame, staged: _Staged, conflicts: list[tuple[int, str]], *,
                   raw_records: pd.DataFrame | None, source: str, digest: str) -> list[tuple]:
    """Quarantine rows (tuples in column order) of the key conflicts, each with the incoming record as raw."""
    if not conflicts:
        return []
    positions = np.array([p for p, _ in conflicts], dtype="int64")
    numbers = staged.records[positions]
    raws: dict[int, str] = {}
    if raw_records is not None and "_record" in raw_records.columns:
        picked = raw_records[raw_records["_record"].isin(numbers)]
        columns = [c for c in picked.columns if c != "_record"]
        raws = {int(n): raw_json(r) for n, r in zip(picked["_record"], picked[columns].to_dict("records"))}
    own = [c for c in frame.columns if c in spec.column_names]
    geometry = getattr(frame, "_geometry_column_name", None) if spec.geometry is not None else None
    now = _utc_now_text()
    out = []
    for (pos, detail), number in zip(conflicts, numbers):
        raw = raws.get(int(number))
        if raw is None:  # no source record given: the row as appended is the record
            values = {c: frame[c].iloc[pos] for c in own}
            if geometry is not None:
                values["geometry"] = frame[geometry].iloc[pos]
            raw = raw_json(values)
        out.append((spec.name, source, digest, int(number), raw, _KEY_CONFLICT, detail, now))
    return out
