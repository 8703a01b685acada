"""The data model: layers, their geometry and columns, categories, statuses, codes.

Everything else in gridmap names layers and columns through this module, so the
model is written down once. The README's "Data model" section mirrors it.

Codes
-----
Codes are hierarchical digit strings, each level extending its parent. This
layout is gridmap's own; it resembles the statistical division codes but does
**not** claim to follow GB/T 30428 or CJ/T 213, whose layout we could not verify.

========== ======= =============================== ==================
level      digits  made of                         example (sample)
========== ======= =============================== ==================
district   6       administrative division code    ``610802`` Yuyang
subdistrict 9      district + 3                    ``610802001``
community  12      subdistrict + 3                 ``610802001003``
grid       15      community + 3                   ``610802001003005``
area       11      subdistrict + ``A`` + 1         ``610802001A2``
========== ======= =============================== ==================

Times
-----
All times are stored time-zone aware. A time read without a zone is taken to be
China Standard Time, :data:`DEFAULT_TZ` (``Asia/Shanghai``, UTC+8, no daylight
saving), because that is what phones and chat groups in China show.

Examples
--------
>>> from gridmap.model import LAYERS, category_key
>>> LAYERS["grids"].geometry
'MultiPolygon'
>>> category_key("垃圾乱倒")
'garbage_dumping'
>>> category_key("garbage_dumping")
'garbage_dumping'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Mapping

from gridmap.errors import SchemaError

__all__ = [
    "DEFAULT_TZ",
    "DISTRICT_CODE",
    "SCHEMA_VERSION",
    "LAYERS_ADDED_IN",
    "COLUMNS_ADDED_IN",
    "EXTRA_COLUMN",
    "STORAGE_CRS",
    "Column",
    "LayerSpec",
    "LAYERS",
    "CATEGORIES",
    "TARGET_KINDS",
    "REPORT_STATUSES",
    "STATUS_TRANSITIONS",
    "SPOTCHECK_RESULTS",
    "spotcheck_result",
    "QUARANTINE_REASONS",
    "QUARANTINE_COLUMNS",
    "ImportSummary",
    "COLUMN_ALIASES",
    "LAYER_COLUMN_ALIASES",
    "COMMUNITY_NAME_HEADERS",
    "DBF_NAME_LENGTH",
    "GENERIC_ID_HEADERS",
    "GENERIC_TIME_HEADERS",
    "dbf_truncated",
    "alias_target",
    "alias_table",
    "alias_table_markdown",
    "Category",
    "CATEGORY_ALIASES",
    "STANDARD_CATEGORY_SOURCE",
    "normalize_label",
    "category_lookup",
    "unknown_category_hint",
    "category_key",
    "builtin_category_keys",
    "category_label",
    "register_category",
    "code_level",
    "is_child_code",
    "layer_spec",
]

#: Time zone given to times that carry none.
DEFAULT_TZ = "Asia/Shanghai"
#: Administrative division code of Yuyang District, Yulin.
DISTRICT_CODE = "610802"
#: Coordinates are stored geographic, WGS84.
STORAGE_CRS = "EPSG:4326"
#: Version of the workspace schema written by this gridmap.
SCHEMA_VERSION = 3
#: Layers each schema version added after version 1 (a workspace of an older version is migrated on open).
LAYERS_ADDED_IN: Mapping[str, int] = {"spotchecks": 2}
#: Columns each schema version added to every layer (version 3: ``extra``).
COLUMNS_ADDED_IN: Mapping[str, int] = {"extra": 3}
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

#: Target kinds (must-visit places).
TARGET_KINDS: Mapping[str, str] = {
    "courtyard": "居民院落",
    "demolition_zone": "拆迁片区",
    "sewage_point": "污水排放点",
    "vacant_lot": "空闲地",
    "garbage_point": "垃圾点",
    "other": "其他",
}

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


@dataclass(frozen=True)
class Category:
    """A report category: a stable English key, a zh-Hans and an English label."""

    key: str
    zh: str
    en: str


_BUILTIN_CATEGORIES: tuple[Category, ...] = (
    Category("random_piling", "乱堆乱放", "random piling"),
    Category("garbage_dumping", "垃圾乱倒", "garbage dumping"),
    Category("sewage_splashing", "污水乱泼", "sewage splashing"),
    Category("firewood_pile", "柴草垛", "firewood/straw pile"),
    Category("scrapped_vehicle", "废旧车辆", "scrapped vehicle"),
    Category("road_occupying_business", "占道经营", "road-occupying business"),
    Category("sewage_discharge_point", "污水排放点", "sewage discharge point"),
    Category("vacant_lot_garbage", "空闲地垃圾杂草", "vacant-lot garbage or weeds"),
    Category("sanitation_dead_corner", "卫生死角", "sanitation dead corner"),
    # Event names of the digital urban management standards that no seed category covers.
    Category("accumulated_garbage_muck", "积存垃圾渣土", "accumulated garbage or muck"),
    Category("road_not_clean", "道路不洁", "road not clean"),
    Category("road_spillage", "道路遗撒", "road spillage"),
    Category("abandoned_furniture", "废弃家具设备", "abandoned furniture or equipment"),
    Category("overflowing_bin", "垃圾满溢", "overflowing garbage bin or station"),
    Category("illegal_structure", "私搭乱建", "illegal structure"),
    Category("dirty_green_space", "绿地脏乱", "dirty green space"),
    Category("sewage_overflow", "污水冒溢", "sewage overflow"),
)

#: Where the event names of :data:`CATEGORY_ALIASES` and the standard's built-in categories come from.
STANDARD_CATEGORY_SOURCE = (
    "GB/T 30428.2-2013 数字化城市管理信息系统 第2部分：管理部件和事件 (events, 市容环境类 and 街面秩序类), "
    "which replaced CJ/T 214-2007; which of gridmap's categories each name maps to is gridmap's own judgement"
)

#: Event names of the digital urban management standards (GB/T 30428.2-2013, CJ/T 214-2007 before it)
#: that mean the same as one of gridmap's categories, mapped to its key. Names the seed lacks are
#: built-in categories of their own (``accumulated_garbage_muck`` 积存垃圾渣土, ``overflowing_bin``
#: 垃圾满溢, ...). The mapping is gridmap's judgement, not the standard's. A category's own key or
#: label wins over an alias, so a workspace that added, say, 暴露垃圾 as its own category keeps it.
CATEGORY_ALIASES: Mapping[str, str] = {
    # exposed garbage lying in the open: what the 垃圾乱倒 clean-ups remove
    "暴露垃圾": "garbage_dumping",
    "乱倒垃圾": "garbage_dumping",
    # piled objects and materials, piled sundries
    "乱堆物堆料": "random_piling",
    "乱堆杂物": "random_piling",
    "乱堆物料": "random_piling",
    "废弃车辆": "scrapped_vehicle",
    "僵尸车": "scrapped_vehicle",
    # a shop trading outside its door occupies the road just as a stall does (the article's shop clean-up)
    "店外经营": "road_occupying_business",
    "出店经营": "road_occupying_business",
    "跨门营业": "road_occupying_business",
    "垃圾站(箱)满溢": "overflowing_bin",
    "垃圾箱满溢": "overflowing_bin",
    "垃圾桶满溢": "overflowing_bin",
    "垃圾站满溢": "overflowing_bin",
    "积存垃圾": "accumulated_garbage_muck",
    "违章搭建": "illegal_structure",
    "违法建设": "illegal_structure",
}

#: Report categories by key. Extend with :func:`register_category`.
CATEGORIES: dict[str, Category] = {c.key: c for c in _BUILTIN_CATEGORIES}

_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def register_category(key: str, zh: str, en: str | None = None) -> Category:
    """Add a report category (or return the existing identical one).

    Parameters
    ----------
    key : str
        Lower-case English key, letters, digits and underscores.
    zh : str
        zh-Hans label shown to users.
    en : str, optional
        English label; defaults to the key with spaces.

    Returns
    -------
    Category

    Examples
    --------
    >>> from gridmap.model import register_category, category_key
    >>> register_category("illegal_ad", "小广告", "illegal advertising").key
    'illegal_ad'
    >>> category_key("小广告")
    'illegal_ad'
    """
    if not _KEY_RE.match(key):
        raise SchemaError(f"category key {key!r} must be lower-case letters, digits and underscores")
    cat = Category(key, zh.strip(), en or key.replace("_", " "))
    old = CATEGORIES.get(key)
    if old is not None and old != cat:
        raise SchemaError(f"category {key!r} already exists ({old.zh}, {old.en}); use it as it is, or add yours under "
                          "another KEY")
    for other in CATEGORIES.values():
        if other.key != key and other.zh == cat.zh:
            raise SchemaError(f"label {cat.zh!r} already belongs to category {other.key!r}")
    CATEGORIES[key] = cat
    return cat


def builtin_category_keys() -> frozenset[str]:
    """Keys of the categories gridmap ships (the article's and the standard's), as opposed to those users added."""
    return frozenset(c.key for c in _BUILTIN_CATEGORIES)


def normalize_label(value: object) -> str:
    """The form a category spelling is compared in: NFKC, lower case, spaces collapsed.

    NFKC folds full-width characters to half-width (``（箱）`` to ``(箱)``), so full-width and
    ASCII parentheses, full-width spaces and surrounding whitespace do not matter.

    Examples
    --------
    >>> normalize_label(" 垃圾站（箱）满溢 ") == normalize_label("垃圾站 (箱) 满溢")
    True
    >>> normalize_label("Random  Piling")
    'random piling'
    """
    text = unicodedata.normalize("NFKC", str(value)).lower()
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s*([()])\s*", r"\1", text)


def category_lookup() -> dict[str, str]:
    """Every accepted category spelling (normalised by :func:`normalize_label`) mapped to its key.

    Keys, zh-Hans and English labels of :data:`CATEGORIES`, and the standard's event names of
    :data:`CATEGORY_ALIASES`; a category's own key or label wins over an alias.

    Examples
    --------
    >>> lookup = category_lookup()
    >>> lookup["暴露垃圾"], lookup["垃圾站(箱)满溢"], lookup["垃圾乱倒"]
    ('garbage_dumping', 'overflowing_bin', 'garbage_dumping')
    """
    lookup = {normalize_label(alias): key for alias, key in CATEGORY_ALIASES.items() if key in CATEGORIES}
    for cat in CATEGORIES.values():
        lookup.update({normalize_label(cat.en): cat.key, normalize_label(cat.zh): cat.key})
    lookup.update({normalize_label(key): key for key in CATEGORIES})
    return lookup


def unknown_category_hint() -> str:
    """What to do about an unknown category: the command that adds one, and the known ones."""
    known = ", ".join(f"{c.key} ({c.zh})" for c in CATEGORIES.values())
    return (f"add it with gridmap category WORKSPACE --add KEY 中文名 (e.g. --add illegal_ad 小广告), "
            f"or use one of: {known}")


def category_key(value: str) -> str:
    """Return the category key for a key, a zh-Hans or English label, or a standard event name.

    Spelling is compared after :func:`normalize_label` (case, full-width characters and spaces
    do not matter); the standard's event names are in :data:`CATEGORY_ALIASES`.

    Raises
    ------
    SchemaError
        When `value` matches no category; the message names ``gridmap category --add`` and lists
        the known ones.

    Examples
    --------
    >>> category_key("暴露垃圾"), category_key(" 垃圾站（箱）满溢 ")
    ('garbage_dumping', 'overflowing_bin')
    """
    text = str(value).strip()
    key = category_lookup().get(normalize_label(text))
    if key is not None:
        return key
    raise SchemaError(f"unknown category {text!r}; {unknown_category_hint()}")


def category_label(key: str, lang: str = "zh") -> str:
    """Return the label of a category key in ``"zh"`` (zh-Hans) or ``"en"``.

    Examples
    --------
    >>> category_label("firewood_pile")
    '柴草垛'
    >>> category_label("firewood_pile", "en")
    'firewood/straw pile'
    """
    cat = CATEGORIES.get(key)
    if cat is None:
        return str(key)
    return cat.en if lang == "en" else cat.zh


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


#: Column names accepted on import (stripped and lower-cased English or Chinese) for every layer, mapped
#: to model names. An alias applies only in a layer that has its target column (网格员 → cadre in grids;
#: a ledger of reports keeps its 网格员 column in ``extra``). Layer-specific spellings that would mean
#: another column elsewhere are in :data:`LAYER_COLUMN_ALIASES`, which wins; :func:`alias_target` resolves
#: a header, and the README's table (section "Your own files") is :func:`alias_table_markdown`.
COLUMN_ALIASES: Mapping[str, str] = {
    # reports
    "id": "report_id", "编号": "report_id", "事件编号": "report_id", "上报编号": "report_id",
    "问题编号": "report_id", "案件编号": "report_id", "工单编号": "report_id", "工单号": "report_id",
    "time": "reported_at", "datetime": "reported_at", "reported": "reported_at", "上报时间": "reported_at",
    "时间": "reported_at", "report_time": "reported_at", "发现时间": "reported_at", "上报日期": "reported_at",
    "发现日期": "reported_at", "巡查时间": "reported_at", "立案时间": "reported_at",
    "类别": "category", "类型": "category", "问题类型": "category", "事件类型": "category",
    "问题类别": "category", "问题分类": "category", "案件类型": "category", "案件类别": "category",
    "事件类别": "category", "事件小类": "category",
    "描述": "description", "问题描述": "description", "内容": "description", "desc": "description",
    "问题内容": "description", "事件描述": "description", "情况描述": "description", "案件描述": "description",
    "具体问题": "description", "存在问题": "description",
    "来源": "source", "问题来源": "source", "案件来源": "source", "上报来源": "source", "上报方式": "source",
    "状态": "status",
    "照片": "photo", "图片": "photo", "现场照片": "photo", "照片路径": "photo",
    # coordinates of a table (a CSV's are found by its reader)
    "lon": "lon", "lng": "lon", "long": "lon", "longitude": "lon", "x": "lon", "经度": "lon",
    "lat": "lat", "latitude": "lat", "y": "lat", "纬度": "lat",
    # grids (also the grid of a report or target; those are assigned by location anyway)
    "网格编号": "grid_code", "网格编码": "grid_code", "网格代码": "grid_code", "网格号": "grid_code",
    "gridcode": "grid_code", "grid_id": "grid_code", "grid_no": "grid_code",
    "网格员": "cadre", "网格长": "cadre", "包抓干部": "cadre", "责任人": "cadre", "驻组干部": "cadre",
    "网格责任人": "cadre", "包抓人": "cadre", "网格员姓名": "cadre",
    "电话": "cadre_phone", "联系电话": "cadre_phone", "手机": "cadre_phone", "手机号": "cadre_phone",
    "手机号码": "cadre_phone", "电话号码": "cadre_phone", "联系方式": "cadre_phone", "网格员电话": "cadre_phone",
    "phone": "cadre_phone", "mobile": "cadre_phone", "tel": "cadre_phone",
    "片区": "area_code", "片区编码": "area_code", "片区编号": "area_code", "片区代码": "area_code",
    "所属片区": "area_code",
    # communities: the code; a community NAME in one of COMMUNITY_NAME_HEADERS is resolved to its code
    "社区编码": "community_code", "社区代码": "community_code", "社区编号": "community_code",
    "所属社区编码": "community_code", "所属社区": "community_code", "社区": "community_code",
    "书记": "secretary", "社区书记": "secretary", "支部书记": "secretary", "党支部书记": "secretary",
    # names of places
    "名称": "name",
    # areas
    "领导": "leader", "包片领导": "leader", "片长": "leader", "包片负责人": "leader",
    # streets
    "街长": "street_chief", "路长": "street_chief", "街巷长": "street_chief",
    "街道名称": "street_name", "街道": "street_name", "道路名称": "street_name", "道路": "street_name",
    "路名": "street_name", "街路名称": "street_name", "街巷名称": "street_name",
    # targets
    "点位类型": "kind", "点位编号": "target_id",
    # rectifications
    "整改时间": "rectified_at", "整改日期": "rectified_at", "整改完成时间": "rectified_at", "处置时间": "rectified_at",
    "核验时间": "verified_at", "核验日期": "verified_at", "验收时间": "verified_at",
    "整改人": "by", "整改责任人": "by", "处置人": "by",
    "吨数": "tonnes", "清运量": "tonnes", "清运吨数": "tonnes", "车次": "truck_trips", "清运车次": "truck_trips",
    # tracks
    "巡查员": "inspector", "巡查人": "inspector", "巡查人员": "inspector", "定位时间": "time",
    "轨迹编号": "track_id",
    # tracks: the device of a watch/terminal platform's export is its own inspector (one track per device)
    "设备号": "inspector", "设备编号": "inspector", "终端号": "inspector", "终端编号": "inspector", "imei": "inspector",
    "gps时间": "time", "gps_time": "time",
    # spot checks
    "抽查时间": "checked_at", "核查时间": "checked_at", "抽查日期": "checked_at", "督查时间": "checked_at",
    "抽查结果": "result", "核查结果": "result", "结果": "result", "督查结果": "result",
    "抽查人": "checker", "核查人": "checker", "督查人": "checker", "抽查人员": "checker",
    "备注": "note", "抽查意见": "note", "说明": "note",
}

#: Spellings whose meaning depends on the layer: layer → header → column. They win over
#: :data:`COLUMN_ALIASES` in their layer (社区名称 is a community's own name in ``communities`` but
#: names the community a grid belongs to in ``grids``; 类型 is a target's kind but a report's category).
LAYER_COLUMN_ALIASES: Mapping[str, Mapping[str, str]] = {
    "subdistrict": {"街道编码": "code", "街道代码": "code", "街道名称": "name", "街道": "name"},
    "communities": {"社区名称": "name", "社区": "name"},
    "grids": {"网格名称": "name", "社区名称": "community_code", "负责人": "cadre"},
    "areas": {"片区名称": "name", "片区": "name", "负责人": "leader"},
    "streets": {"负责人": "street_chief"},
    "wall": {},
    "demolition_zones": {"拆迁片区": "name", "片区名称": "name", "拆迁片区名称": "name", "片区编号": "zone_id",
                         "拆迁片区编号": "zone_id", "拆迁状态": "status", "进度": "status"},
    "targets": {"类型": "kind", "点位": "name", "点位名称": "name", "地点名称": "name"},
    "reports": {"处理状态": "status", "办理状态": "status", "整改状态": "status", "案件状态": "status"},
    "rectifications": {"完成时间": "rectified_at", "负责人": "by"},
    "spotchecks": {"检查时间": "checked_at", "检查结果": "result", "检查人": "checker"},
    "tracks": {},
}

#: Headers whose values are community NAMES (所属社区 ``北门社区``): stored as the community's code when the
#: workspace's communities layer knows the name; a value that already is a code is kept.
COMMUNITY_NAME_HEADERS: frozenset[str] = frozenset({"所属社区", "社区名称", "社区"})

#: Length of a DBF field name: a shapefile's ``community_code`` is read back as ``community_``.
DBF_NAME_LENGTH = 10
#: Headers that mean "the identifier" or "the time" whatever the layer (``编号`` is a grid's grid_code).
GENERIC_ID_HEADERS: frozenset[str] = frozenset({"id", "编号"})
GENERIC_TIME_HEADERS: frozenset[str] = frozenset({"time", "datetime", "时间"})
_COORDINATES = ("lon", "lat")


def dbf_truncated(layer: str) -> dict[str, str]:
    """The DBF-truncated form (first 10 characters) of every column of `layer` longer than that.

    Examples
    --------
    >>> dbf_truncated("grids")
    {'community_': 'community_code', 'cadre_phon': 'cadre_phone'}
    """
    spec = layer_spec(layer)
    return {c.name[:DBF_NAME_LENGTH]: c.name for c in spec.columns if len(c.name) > DBF_NAME_LENGTH}


def _id_column(spec: LayerSpec) -> str | None:
    first = spec.key[0]
    return first if first == "code" or first.endswith(("_id", "_code")) else None


def alias_target(header: str, layer: str) -> str | None:
    """The model column (or ``lon``/``lat``) a built-in spelling of header stands for in `layer`, or None.

    `header` is compared stripped and lower-cased. Precedence: the model's own name; a
    layer-specific alias (:data:`LAYER_COLUMN_ALIASES`); an alias of :data:`COLUMN_ALIASES`
    whose column the layer has; a DBF-truncated model name (:func:`dbf_truncated`); the generic
    ``id``/``编号`` (the layer's identifier) and ``time``/``时间`` (its first time column).
    Mappings a user gives (``--map``, ``gridmap alias``) win over all of these; see
    :func:`gridmap.io.importer.import_file`.

    Examples
    --------
    >>> alias_target("网格编号", "grids"), alias_target("社区名称", "communities"), alias_target("社区名称", "grids")
    ('grid_code', 'name', 'community_code')
    >>> alias_target("类型", "targets"), alias_target("类型", "reports"), alias_target("网格员", "reports")
    ('kind', 'category', None)
    >>> alias_target("Community_", "grids"), alias_target("编号", "grids"), alias_target("时间", "tracks")
    ('community_code', 'grid_code', 'time')
    """
    spec = layer_spec(layer)
    name = str(header).replace("\ufeff", "").strip().lower()
    columns = spec.column_names
    coordinates = _COORDINATES if spec.geometry is not None else ()  # a table without geometry keeps them in extra
    if name in columns or name in coordinates:
        return name
    if name in LAYER_COLUMN_ALIASES.get(spec.name, {}):
        return LAYER_COLUMN_ALIASES[spec.name][name]
    target = COLUMN_ALIASES.get(name)
    if target is not None and (target in columns or target in coordinates):
        return target
    truncated = dbf_truncated(spec.name).get(name)
    if truncated is not None:
        return truncated
    if name in GENERIC_ID_HEADERS:
        return _id_column(spec)
    if name in GENERIC_TIME_HEADERS:
        return next((c.name for c in spec.columns if c.dtype == "datetime"), None)
    return None


def alias_table() -> list[tuple[str, str]]:
    """Every built-in header spelling with what it means in each layer: (header, "column (layers); ...").

    Built from :data:`COLUMN_ALIASES` and :data:`LAYER_COLUMN_ALIASES` through :func:`alias_target`,
    sorted by header; a header that means nothing in a layer is kept in ``extra`` there.

    Examples
    --------
    >>> dict(alias_table())["类型"]
    'kind (targets); category (reports)'
    """
    headers = set(COLUMN_ALIASES) | {h for table in LAYER_COLUMN_ALIASES.values() for h in table}
    rows = []
    for header in sorted(headers):
        where: dict[str, list[str]] = {}
        for layer in LAYERS:
            target = alias_target(header, layer)
            if target is not None:
                where.setdefault(target, []).append(layer)
        rows.append((header, "; ".join(f"{t} ({', '.join(ls)})" for t, ls in where.items())))
    return rows


def alias_table_markdown() -> str:
    """The README's table of built-in header spellings (section "Your own files", "Column names").

    Examples
    --------
    >>> alias_table_markdown().splitlines()[:2]
    ['| header | column (layers) |', '|---|---|']
    """
    lines = ["| header | column (layers) |", "|---|---|"]
    lines += [f"| {header} | {meaning} |" for header, meaning in alias_table()]
    return "\n".join(lines)


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
