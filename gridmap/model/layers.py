"""The layers of a workspace: their geometry and columns, the values some columns take, and codes.

Part of :mod:`gridmap.model` (which re-exports every public name here); see its docstring
for the layout of codes and how times are stored.

Examples
--------
>>> LAYERS["grids"].geometry, layer_spec("reports").key
('MultiPolygon', ('report_id',))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from gridmap.errors import SchemaError

#: Time zone given to times that carry none.
DEFAULT_TZ = "Asia/Shanghai"
#: Administrative division code of Yuyang District, Yulin.
DISTRICT_CODE = "610802"
#: Coordinates are stored geographic, WGS84.
STORAGE_CRS = "EPSG:4326"
#: Version of the workspace schema written by this gridmap.
SCHEMA_VERSION = 4
#: Layers each schema version added after version 1 (a workspace of an older version is migrated on open).
LAYERS_ADDED_IN: Mapping[str, int] = {"spotchecks": 2}
#: Columns each schema version added to every layer (version 3: ``extra``).
COLUMNS_ADDED_IN: Mapping[str, int] = {"extra": 3}
#: Indexes on a code column's first nine digits (the subdistrict: ``substr(col, 1, 9)``, PostgreSQL's
#: ``left(col, 9)``) each schema version added, as (layer, code column) pairs; frozen literals, so that a
#: migration does not change when the model does. Version 4: every layer whose rows carry a code.
INDEXES_ADDED_IN: Mapping[int, tuple[tuple[str, str], ...]] = {
    4: (("subdistrict", "code"), ("communities", "community_code"), ("grids", "grid_code"),
        ("areas", "area_code"), ("reports", "grid_code"), ("targets", "grid_code")),
}
#: Name of the column every layer keeps the file's unmapped columns in, as one JSON object.
EXTRA_COLUMN = "extra"


@dataclass(frozen=True)
class Column:
    """One attribute column of a layer.

    Parameters
    ----------
    name : str
        Column name as stored.
    dtype : str
        One of ``"str"``, ``"int"``, ``"float"``, ``"datetime"``.
    required : bool
        Whether a row without a value is quarantined (``missing_value``).
    doc : str
        One line saying what the column holds.
    personal : bool
        Personal data (names, phones): masked or dropped in shared exports.
    """

    name: str
    dtype: str = "str"
    required: bool = False
    doc: str = ""
    personal: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """A workspace layer: its geometry type, columns and unique key.

    Parameters
    ----------
    name : str
        Layer (table) name in the GeoPackage.
    geometry : str or None
        ``"Point"``, ``"MultiPolygon"``, ``"MultiLineString"``, ``"Geometry"``
        (points or polygons) or ``None`` for a table without geometry.
    columns : tuple of Column
        Attribute columns, in storage order.
    key : tuple of str
        Columns whose values identify a row: a second row with the same key is a
        duplicate and is not stored again (idempotent imports).
    doc : str
        What the layer holds.
    """

    name: str
    geometry: str | None
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str = ""

    @property
    def column_names(self) -> list[str]:
        """Names of the attribute columns, in storage order."""
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        """Names of the columns every row must have."""
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        """Return the column called `name`.

        Raises
        ------
        SchemaError
            When the layer has no such column.
        """
        for col in self.columns:
            if col.name == name:
                return col
        raise SchemaError(f"layer {self.name!r} has no column {name!r}; columns: {', '.join(self.column_names)}")


def _c(name: str, dtype: str = "str", required: bool = False, doc: str = "", personal: bool = False) -> Column:
    return Column(name, dtype, required, doc, personal)


_LAYER_LIST: tuple[LayerSpec, ...] = (
    LayerSpec(
        "subdistrict", "MultiPolygon",
        (_c("code", required=True, doc="9-digit subdistrict code"), _c("name", required=True, doc="name, e.g. 鼓楼街道")),
        ("code",), "the whole territory (街道)",
    ),
    LayerSpec(
        "communities", "MultiPolygon",
        (
            _c("community_code", required=True, doc="12-digit community code"),
            _c("name", required=True, doc="community name (社区)"),
            _c("secretary", doc="party secretary who answers for the community", personal=True),
        ),
        ("community_code",), "communities (社区)",
    ),
    LayerSpec(
        "grids", "MultiPolygon",
        (
            _c("grid_code", required=True, doc="15-digit grid code"),
            _c("name", doc="grid name (网格)"),
            _c("community_code", required=True, doc="code of the community the grid belongs to"),
            _c("cadre", doc="the cadre who answers for the grid (驻组干部)", personal=True),
            _c("cadre_phone", doc="the cadre's phone number", personal=True),
            _c("area_code", doc="code of the leader's area (片区) holding the grid"),
        ),
        ("grid_code",), "grids (网格), one responsible cadre each",
    ),
    LayerSpec(
        "areas", "MultiPolygon",
        (
            _c("area_code", required=True, doc="area code: subdistrict code + 'A' + number"),
            _c("name", doc="area name (片区)"),
            _c("leader", doc="the leader who answers for the area (包片领导)", personal=True),
        ),
        ("area_code",), "a leader's group of grids (片区)",
    ),
    LayerSpec(
        "streets", "MultiLineString",
        (
            _c("street_name", required=True, doc="street name"),
            _c("street_chief", doc="the street chief (街长)", personal=True),
        ),
        ("street_name",), "streets with their street chiefs",
    ),
    LayerSpec(
        "wall", "MultiLineString", (_c("name", required=True, doc="e.g. 榆林古城墙"),), ("name",), "the old city wall",
    ),
    LayerSpec(
        "demolition_zones", "MultiPolygon",
        (
            _c("zone_id", required=True, doc="zone identifier"),
            _c("name", doc="zone name (拆迁片区)"),
            _c("status", doc="e.g. cleared, in_progress, pending"),
        ),
        ("zone_id",), "demolition zones along the old wall",
    ),
    LayerSpec(
        "targets", "Geometry",
        (
            _c("target_id", required=True, doc="target identifier"),
            _c("kind", required=True, doc="one of TARGET_KINDS"),
            _c("name", doc="what the place is called"),
            _c("grid_code", doc="grid holding the target (assigned by location)"),
        ),
        ("target_id",), "must-visit places of a sweep (points or polygons)",
    ),
    LayerSpec(
        "reports", "Point",
        (
            _c("report_id", required=True, doc="unique report identifier"),
            _c("reported_at", "datetime", required=True, doc="when the problem was reported (zone-aware)"),
            _c("category", required=True, doc="category key, see CATEGORIES"),
            _c("description", doc="free text from the reporter"),
            _c("source", doc="where the report came from: wechat, app, patrol, photo, hotline"),
            _c("status", doc="reported, rectified, verified or reopened"),
            _c("grid_code", doc="grid holding the report (assigned by location)"),
            _c("photo", doc="path of the photo, if any"),
        ),
        ("report_id",), "problem reports from phones and patrols",
    ),
    LayerSpec(
        "rectifications", None,
        (
            _c("report_id", required=True, doc="the report that was fixed"),
            _c("rectified_at", "datetime", required=True, doc="when it was fixed"),
            _c("verified_at", "datetime", doc="when the fix was verified on site"),
            _c("by", doc="who fixed it", personal=True),
            _c("tonnes", "float", doc="garbage removed, tonnes"),
            _c("truck_trips", "int", doc="truck trips used"),
        ),
        ("report_id", "rectified_at"), "rectifications (整改) of reports",
    ),
    LayerSpec(
        "spotchecks", None,
        (
            _c("report_id", required=True, doc="the rectified report checked on site"),
            _c("checked_at", "datetime", required=True, doc="when the spot check (抽查) was made"),
            _c("result", required=True, doc="verified (the fix holds) or reopened (it did not)"),
            _c("checker", doc="inspector of the supervision group (督查组)", personal=True),
            _c("note", doc="remarks of the checker"),
        ),
        ("report_id", "checked_at"), "on-site spot checks (抽查) of rectified reports",
    ),
    LayerSpec(
        "tracks", "Point",
        (
            _c("inspector", required=True, doc="who carried the phone", personal=True),
            _c("time", "datetime", required=True, doc="time of the GPS fix"),
            _c("track_id", doc="optional identifier of the track or session"),
        ),
        ("inspector", "time"), "inspectors' GPS fixes (sensitive personal data)",
    ),
)


def _with_extra(spec: LayerSpec) -> LayerSpec:
    """`spec` with the ``extra`` column last: the file's columns the model has no column for, as JSON.

    It is personal (dropped or masked in shared exports): a ledger's unmapped columns may hold names
    and phone numbers.
    """
    extra = _c(EXTRA_COLUMN, doc="the source file's other columns as one JSON object {header: value}; "
               "nothing is dropped", personal=True)
    return LayerSpec(spec.name, spec.geometry, (*spec.columns, extra), spec.key, spec.doc)


#: Every workspace layer by name, in a stable order.
LAYERS: Mapping[str, LayerSpec] = {spec.name: _with_extra(spec) for spec in _LAYER_LIST}

#: Target kinds (must-visit places).
TARGET_KINDS: Mapping[str, str] = {
    "courtyard": "居民院落",
    "demolition_zone": "拆迁片区",
    "sewage_point": "污水排放点",
    "vacant_lot": "空闲地",
    "garbage_point": "垃圾点",
    "other": "其他",
}

#: A route stop that is a dead corner (:func:`gridmap.analysis.route.route_stops`), in each language.
DEAD_CORNER_KIND = {"zh": "卫生死角", "en": "dead corner"}


def kind_label(kind: object, lang: str) -> str:
    """The label of a must-visit place's kind (or of a route stop's ``dead_corner``) in `lang`.

    zh-Hans from :data:`TARGET_KINDS`; in English the key in words; an unknown kind as it is.

    Examples
    --------
    >>> kind_label("courtyard", "zh"), kind_label("water_point", "en"), kind_label("dead_corner", "zh")
    ('居民院落', 'water point', '卫生死角')
    """
    key = str(kind)
    if key == "dead_corner":
        return DEAD_CORNER_KIND["en" if lang == "en" else "zh"]
    if lang == "en":
        return key.replace("_", " ")
    return TARGET_KINDS.get(key, key)


#: Report lifecycle statuses with zh-Hans labels.
REPORT_STATUSES: Mapping[str, str] = {
    "reported": "已上报",
    "rectified": "已整改",
    "verified": "已核验",
    "reopened": "已反弹重开",
}

#: Allowed status changes: reported → rectified → verified, or reopened.
STATUS_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "reported": frozenset({"rectified"}),
    "rectified": frozenset({"verified", "reopened"}),
    "verified": frozenset({"reopened"}),
    "reopened": frozenset({"rectified"}),
}


#: Spot-check results with zh-Hans labels.
SPOTCHECK_RESULTS: Mapping[str, str] = {"verified": "通过", "reopened": "不通过"}

# Accepted spellings of spot-check results (compared stripped and lower-cased).
_RESULT_SPELLINGS: Mapping[str, str] = {
    **{word: "verified" for word in ("verified", "pass", "passed", "ok", "通过", "合格", "核验通过", "已核验")},
    **{word: "reopened" for word in ("reopened", "fail", "failed", "不通过", "不合格", "未通过", "反弹", "未整改",
                                     "重开")},
}


def spotcheck_result(value: object) -> str | None:
    """The result key (``verified`` or ``reopened``) for a spelling, or None when it is not known.

    Examples
    --------
    >>> spotcheck_result("合格"), spotcheck_result(" Fail "), spotcheck_result("maybe")
    ('verified', 'reopened', None)
    """
    return _RESULT_SPELLINGS.get(str(value).strip().lower())


_CODE_LEVELS = {6: "district", 9: "subdistrict", 12: "community", 15: "grid"}


def code_level(code: str) -> str:
    """Return the level of a code: district, subdistrict, community, grid or area.

    Examples
    --------
    >>> code_level("610802001003005")
    'grid'
    >>> code_level("610802001A2")
    'area'
    """
    text = str(code)
    if re.fullmatch(r"\d{9}A\d+", text):
        return "area"
    if text.isdigit() and len(text) in _CODE_LEVELS:
        return _CODE_LEVELS[len(text)]
    raise SchemaError(f"{text!r} is not a gridmap code (6, 9, 12 or 15 digits, or an area code like 610802001A2)")


def is_child_code(child: str, parent: str) -> bool:
    """Whether `child` lies directly or indirectly under `parent`.

    Examples
    --------
    >>> is_child_code("610802001003005", "610802001003")
    True
    >>> is_child_code("610802001004005", "610802001003")
    False
    """
    return len(str(child)) > len(str(parent)) and str(child).startswith(str(parent))


def layer_spec(name: str) -> LayerSpec:
    """Return the spec of layer `name`.

    Raises
    ------
    SchemaError
        When there is no such layer; the message lists the layers.
    """
    try:
        return LAYERS[name]
    except KeyError:
        raise SchemaError(f"unknown layer {name!r}; layers: {', '.join(LAYERS)}") from None
