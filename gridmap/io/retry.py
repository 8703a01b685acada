"""Import quarantined records again, after what stopped them was fixed (``gridmap quarantine --retry``).

A record is quarantined with its raw values (``raw``: the file's columns as JSON, the geometry
as WKT in the file's own CRS) and is linked to the import that quarantined it, whose options
the workspace keeps (:func:`gridmap.io.importer.import_options`: the declared datum, the file's CRS,
``--set`` values, ``--repair`` ...). :func:`retry_quarantine` rebuilds the records from their raw
values and prepares them with those options exactly as the import did
(:func:`gridmap.io.importer.prepare_for`), but with what the workspace knows *now*: a category added
with ``gridmap category --add``, a column alias stored with ``gridmap alias``, the grids and the
subdistrict imported since, the clock. Each source's records are then appended in one transaction
that also removes their old quarantine rows: those that land now (accepted, or duplicates of stored
rows) leave the quarantine, the others stay with the reason of this attempt. Nothing is lost:
``retried == accepted + duplicates + quarantined``.

Records are not retried (``skipped``) when their raw text is not a record (a line the CSV reader
could not split, ``unreadable_record``: correct the file and import it again), when their import's
options are unknown (records quarantined before gridmap kept them, or appended through
:meth:`gridmap.Workspace.append` without ``options``), or when they can no longer be prepared at all
(the message says why).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

import geopandas as gpd
import pandas as pd
import shapely

from gridmap.errors import GridmapError
from gridmap.io.base import ReadResult, quarantine_frame
from gridmap.io.importer import prepare_for
from gridmap.model import QUARANTINE_REASONS, ImportSummary, layer_spec
from gridmap.storage import WorkspaceStore, open_workspace

__all__ = ["RetrySummary", "retry_quarantine"]

logger = logging.getLogger(__name__)

#: Why a quarantined record was not retried.
SKIP_REASONS: Mapping[str, str] = {
    "not_a_record": "the raw text is not a record (a line the reader could not read): correct the file and import it "
                    "again",
    "options_unknown": "quarantined before gridmap kept each import's options (or appended without them): import the "
                       "file again",
    "cannot_prepare": "the records can no longer be prepared (see the log): import the file again",
}


@dataclass
class RetrySummary:
    """What :func:`retry_quarantine` did.

    ``retried == accepted + duplicates + quarantined``: of the records prepared again, those
    stored now, those already stored (both left the quarantine) and those still quarantined
    (``reasons``). ``skipped`` records were not retried (``skipped_reasons``, see the module notes)
    and stay as they were.

    Examples
    --------
    >>> s = RetrySummary(retried=3, accepted=2, duplicates=0, quarantined=1, reasons={"future_time": 1})
    >>> print(s.describe())
    retried 3 quarantined records: 2 landed (accepted 2, duplicates 0), 1 still quarantined
      still quarantined 1: future_time (a time in the future)
    """

    retried: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    imports: list[ImportSummary] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.retried != self.accepted + self.duplicates + self.quarantined:
            raise AssertionError(f"retry lost records: retried {self.retried} != accepted {self.accepted} + "
                                 f"duplicates {self.duplicates} + quarantined {self.quarantined}")

    @property
    def landed(self) -> int:
        """Records that left the quarantine (accepted or duplicates)."""
        return self.accepted + self.duplicates

    def add(self, summary: ImportSummary) -> None:
        """Count one source's retry."""
        self.imports.append(summary)
        self.retried += summary.read
        self.accepted += summary.accepted
        self.duplicates += summary.duplicates
        self.quarantined += summary.quarantined
        self.reasons = dict(Counter(self.reasons) + Counter(summary.reasons))

    def skip(self, why: str, count: int) -> None:
        """Count records not retried."""
        self.skipped += count
        self.skipped_reasons[why] = self.skipped_reasons.get(why, 0) + count

    def to_dict(self) -> dict[str, object]:
        """The JSON form printed by ``gridmap quarantine --retry --json``."""
        return {
            "retried": self.retried, "landed": self.landed, "accepted": self.accepted,
            "duplicates": self.duplicates, "quarantined": self.quarantined,
            "reasons": dict(sorted(self.reasons.items())), "skipped": self.skipped,
            "skipped_reasons": dict(sorted(self.skipped_reasons.items())),
            "imports": [s.to_dict() for s in self.imports],
        }

    def describe(self) -> str:
        """A few lines, as ``gridmap quarantine --retry`` prints them."""
        lines = [f"retried {self.retried} quarantined records: {self.landed} landed (accepted {self.accepted}, "
                 f"duplicates {self.duplicates}), {self.quarantined} still quarantined"]
        lines += [f"  still quarantined {n}: {reason} ({QUARANTINE_REASONS.get(reason, reason)})"
                  for reason, n in sorted(self.reasons.items())]
        lines += [f"  not retried {n}: {SKIP_REASONS.get(why, why)}" for why, n in sorted(self.skipped_reasons.items())]
        return "\n".join(lines)


def retry_quarantine(workspace: Any, layer: str | None = None, *, now: pd.Timestamp | None = None) -> RetrySummary:
    """Prepare the quarantined records again and store those that now pass (``gridmap quarantine --retry``).

    Parameters
    ----------
    workspace : WorkspaceStore, path-like or str
        An open workspace, or where one is: the path of a GeoPackage or a ``postgresql://`` URL
        (opened and closed here; see :func:`gridmap.storage.open_workspace`).
    layer : str, optional
        Retry only the records meant for this layer.
    now : pandas.Timestamp, optional
        The present, for the future-time check (default: the clock).

    Returns
    -------
    RetrySummary
        ``retried == accepted + duplicates + quarantined``; ``skipped`` records were left as they were.

    Examples
    --------
    >>> import gridmap, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ws = gridmap.init_workspace(d / "w.gpkg")
    >>> _ = (d / "r.csv").write_text("上报时间,类别,经度,纬度\\n2025-03-01 08:00,乱挂横幅,109.73,38.29\\n",
    ...                              encoding="utf-8")
    >>> gridmap.import_file(ws, "reports", d / "r.csv", coords="wgs84").reasons
    {'unknown_category': 1}
    >>> _ = ws.add_category("banner_hanging", "乱挂横幅", "banners hung anywhere")
    >>> print(retry_quarantine(ws).describe())
    retried 1 quarantined records: 1 landed (accepted 1, duplicates 0), 0 still quarantined
    >>> len(ws.quarantine()), ws.read_layer("reports")["category"].tolist()
    (0, ['banner_hanging'])
    >>> ws.close()
    """
    ws = workspace if isinstance(workspace, WorkspaceStore) else open_workspace(workspace)
    try:
        rows = ws.quarantine_with_options(None if layer is None else layer_spec(layer).name)
        summary = RetrySummary()
        for group in _groups(rows, summary):
            _retry_group(ws, group, summary, now=now)
    finally:
        if ws is not workspace:
            ws.close()
    logger.info("%s", summary.describe())
    return summary


def _raw_record(text: Any) -> dict[str, Any] | None:
    """A quarantined record's raw values as a dict, or None when the raw text is not a JSON object."""
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _groups(rows: pd.DataFrame, summary: RetrySummary) -> list[pd.DataFrame]:
    """The retryable rows, by layer, source, import options and whether the record holds a geometry.

    The others are counted as skipped in `summary`.
    """
    raws = [_raw_record(t) for t in rows["raw"]]
    has_raw = pd.Series([r is not None for r in raws], index=rows.index, dtype=bool)
    has_options = rows["options"].notna().astype(bool)
    for why, mask in (("not_a_record", ~has_raw), ("options_unknown", has_raw & ~has_options)):
        if mask.any():
            summary.skip(why, int(mask.sum()))
    todo = rows.assign(_raw=raws, _geometry=[r is not None and "geometry" in r for r in raws])[has_raw & has_options]
    keys = ["layer", "source", "source_digest", "options", "_geometry"]
    return [group for _, group in todo.groupby(keys, sort=False, dropna=False)]


def _records(group: pd.DataFrame, options: Mapping[str, Any]) -> pd.DataFrame:
    """The group's records rebuilt from their raw values, with ``_record``; a GeoDataFrame when they had geometry."""
    raws = list(group["_raw"])
    columns: list[str] = []
    for raw in raws:
        columns.extend(k for k in raw if k not in columns and k != "geometry")
    frame = pd.DataFrame([{c: raw.get(c) for c in columns} for raw in raws], columns=columns)
    frame.insert(0, "_record", group["record"].astype("int64").to_numpy())
    if not bool(group["_geometry"].iloc[0]) or options.get("crs") is None:
        return frame
    wkt = [raw.get("geometry") for raw in raws]
    geometry = shapely.from_wkt([w if isinstance(w, str) else None for w in wkt], on_invalid="ignore")
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=options["crs"]))


def _retry_group(ws: Any, group: pd.DataFrame, summary: RetrySummary, *, now: pd.Timestamp | None) -> None:
    """Prepare one source's records again and append them, replacing their quarantine rows, in one transaction."""
    first = group.iloc[0]
    options = json.loads(first["options"])
    source, digest, layer = str(first["source"]), str(first["source_digest"]), str(first["layer"])
    try:
        records = _records(group, options)
        result = ReadResult(records, quarantine_frame(), source, digest, coords=options.get("coords"),
                            meta=dict(options.get("meta") or {}))
        batch = prepare_for(ws, layer, result, options, now=now)
    except GridmapError as exc:
        logger.warning("%s → %s: %d quarantined records cannot be prepared again: %s", source, layer, len(group), exc)
        summary.skip("cannot_prepare", len(group))
        return
    done = ws.append(layer, batch.accepted, quarantine=batch.quarantine, source=source, source_digest=digest,
                     read=batch.read, options={**options, "retry": True}, raw_records=records,
                     replaces=group["fid"].astype("int64").tolist())
    summary.add(done)
