"""Report categories: the built-in ones, the standard's event names mapped to them, and the registry.

Part of :mod:`gridmap.model` (which re-exports every public name here).

Examples
--------
>>> category_key("垃圾乱倒"), category_label("garbage_dumping", "en")
('garbage_dumping', 'garbage dumping')
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping

from gridmap.errors import SchemaError


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
