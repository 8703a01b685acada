"""The quarantine: its columns, the reasons a record is quarantined, its raw values as JSON, and
what one import did (:class:`ImportSummary`).

Part of :mod:`gridmap.model` (which re-exports every public name here but :func:`raw_json`).

Examples
--------
>>> [c.name for c in QUARANTINE_COLUMNS][:4]
['layer', 'source', 'source_digest', 'record']
>>> raw_json({"name": "北门", "n": float("nan")})
'{"name": "北门", "n": null}'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from gridmap.model.layers import Column, _c

#: Columns of the ``quarantine`` table (a table without geometry).
QUARANTINE_COLUMNS: tuple[Column, ...] = (
    _c("layer", required=True, doc="layer the record was meant for"),
    _c("source", required=True, doc="file name the record came from"),
    _c("source_digest", required=True, doc="SHA-256 of the file, first 16 hex digits"),
    _c("record", "int", required=True, doc="1-based row or feature number in the source"),
    _c("raw", doc="the raw values as JSON (geometry as WKT when there was one)"),
    _c("reason", required=True, doc="reason code, see QUARANTINE_REASONS"),
    _c("detail", doc="a sentence saying what was wrong and how to fix it"),
    _c("quarantined_at", "datetime", doc="when the record was quarantined"),
)

#: Reason codes for quarantined records, with what each means.
QUARANTINE_REASONS: Mapping[str, str] = {
    "unreadable_record": "the record could not be decoded from the file",
    "missing_value": "a required value is empty",
    "missing_coordinates": "no coordinates or empty geometry",
    "unparseable_coordinates": "coordinates that are not numbers",
    "coordinates_out_of_range": "longitude outside [-180, 180] or latitude outside [-90, 90]",
    "swapped_coordinates": "latitude and longitude appear swapped",
    "outside_china": "the point lies outside China",
    "outside_subdistrict": "the point lies far outside the workspace's subdistrict",
    "missing_time": "no time given",
    "unparseable_time": "a time that cannot be parsed",
    "future_time": "a time in the future",
    "implausible_time": "a time before 2000-01-01: a device clock never set or reset (1970, 1901), not a real time",
    "sub_millisecond_time": "a time less than a millisecond from another row's with the same key; the workspace "
                            "stores times to the millisecond, so it cannot keep both",
    "unknown_category": "a category that is neither a known key, label nor alias; add it with gridmap category --add",
    "unknown_kind": "a target kind that is not one of TARGET_KINDS",
    "invalid_geometry": "a geometry that is not valid (reason given)",
    "wrong_geometry_type": "a geometry of a type the layer does not hold",
    "unparseable_value": "a number or other typed value that cannot be parsed",
    "no_gps": "a photo without GPS position in its EXIF",
    "unknown_result": "a spot-check result that is neither verified nor reopened (通过/不合格)",
    "unknown_report": "no report with this report_id in the workspace",
    "not_rectified": "the report was never rectified, so there is no fix to spot-check",
    "unknown_community": "a community name the communities layer does not know; import the communities first "
                         "or write the community code",
    "key_conflict": "the row's key is already stored (or used earlier in the file) with different content; "
                    "give the row its own key or correct the file",
}


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "wkt"):
        return value.wkt
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except ValueError:
            return str(value)
    if hasattr(value, "item"):
        try:
            return _jsonable(value.item())
        except (ValueError, TypeError):
            pass
    return None if _is_missing(value) else str(value)


def _is_missing(value: Any) -> bool:
    """Whether pandas calls `value` missing (``pd.NA``, ``Decimal("NaN")``, ...); pandas is loaded only here,
    for values no branch above knew, so the model stays cheap to import."""
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def raw_json(values: Mapping[str, Any]) -> str:
    """Serialise a record's raw values as JSON text (geometries as WKT, NaN as null): the quarantine's ``raw``.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> raw_json({"id": 7, "where": Point(109.7, 38.3), "when": None})
    '{"id": 7, "where": "POINT (109.7 38.3)", "when": null}'
    """
    return json.dumps({str(k): _jsonable(v) for k, v in values.items()}, ensure_ascii=False)


@dataclass
class ImportSummary:
    """What one import did: rows read, accepted, duplicates and quarantined.

    ``read == accepted + duplicates + quarantined`` always holds; the
    constructor checks it.

    Examples
    --------
    >>> s = ImportSummary("reports", "a.csv", read=5, accepted=3, duplicates=1, quarantined=1,
    ...                   reasons={"future_time": 1})
    >>> s.to_dict()["read"]
    5
    """

    layer: str
    source: str
    read: int
    accepted: int
    duplicates: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    #: Geometries repaired on request: ``_record``, ``area_before_m2``, ``area_after_m2``, ``change_pct``.
    repairs: list[dict[str, float | None]] = field(default_factory=list)
    #: Why rows are missing although nothing failed, e.g. "links.kml holds no records: ..." (``--json``: ``warnings``).
    warnings: list[str] = field(default_factory=list)
    #: The file's columns no model column took, in file order: their values are kept in ``extra`` (JSON).
    unmapped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.read != self.accepted + self.duplicates + self.quarantined:
            raise AssertionError(
                f"import of {self.source} lost rows: read {self.read} != accepted {self.accepted}"
                f" + duplicates {self.duplicates} + quarantined {self.quarantined}"
            )
        if sum(self.reasons.values()) != self.quarantined:
            raise AssertionError(f"reason counts {self.reasons} do not add up to {self.quarantined} quarantined")

    def to_dict(self) -> dict[str, object]:
        """The JSON form printed by ``gridmap import --json``."""
        return {
            "layer": self.layer,
            "source": self.source,
            "read": int(self.read),
            "accepted": int(self.accepted),
            "duplicates": int(self.duplicates),
            "quarantined": int(self.quarantined),
            "reasons": {k: int(v) for k, v in sorted(self.reasons.items())},
            **({"repaired": self.repairs} if self.repairs else {}),
            "warnings": list(self.warnings),
            "unmapped": [str(c) for c in self.unmapped],
        }

    def describe(self) -> str:
        """One human-readable paragraph, as ``gridmap import`` prints it."""
        lines = [
            f"{self.source} → {self.layer}: read {self.read}, accepted {self.accepted}, "
            f"duplicates {self.duplicates}, quarantined {self.quarantined}"
        ]
        for reason, count in sorted(self.reasons.items()):
            lines.append(f"  quarantined {count}: {reason} ({QUARANTINE_REASONS.get(reason, reason)})")
        if self.unmapped:
            lines.append(f"  kept in extra (no model column): {', '.join(map(str, self.unmapped))}")
        for rep in self.repairs:
            change = "" if rep["change_pct"] is None else f" ({rep['change_pct']:+.2f} %)"
            lines.append(f"  repaired record {rep['_record']}: area {rep['area_before_m2']:.1f} m² → "
                         f"{rep['area_after_m2']:.1f} m²{change}")
        lines.extend(f"  note: {warning}" for warning in self.warnings)
        return "\n".join(lines)
