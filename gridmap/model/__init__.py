"""The data model: layers, their geometry and columns, categories, statuses, codes.

Everything else in gridmap names layers and columns through this module, so the
model is written down once. The README's "Data model" section mirrors it.

It is the bottom of the house: it imports nothing of gridmap but :mod:`gridmap.errors`.
Its parts, each re-exported here:

* :mod:`gridmap.model.layers`: the layers and their columns, schema versions, target
  kinds, report statuses, spot-check results, codes;
* :mod:`gridmap.model.quarantine`: the quarantine's columns and reasons, the raw values
  as JSON, what one import did (:class:`ImportSummary`);
* :mod:`gridmap.model.categories`: report categories and their registry;
* :mod:`gridmap.model.aliases`: the header spellings accepted on import.

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

from gridmap.model.aliases import (
    COLUMN_ALIASES,
    COMMUNITY_NAME_HEADERS,
    DBF_NAME_LENGTH,
    GENERIC_ID_HEADERS,
    GENERIC_TIME_HEADERS,
    LAYER_COLUMN_ALIASES,
    alias_table,
    alias_table_markdown,
    alias_target,
    dbf_truncated,
)
from gridmap.model.categories import (
    CATEGORIES,
    CATEGORY_ALIASES,
    STANDARD_CATEGORY_SOURCE,
    Category,
    builtin_category_keys,
    category_key,
    category_label,
    category_lookup,
    normalize_label,
    register_category,
    unknown_category_hint,
)
from gridmap.model.layers import (
    COLUMNS_ADDED_IN,
    DEFAULT_TZ,
    DISTRICT_CODE,
    EXTRA_COLUMN,
    LAYERS,
    LAYERS_ADDED_IN,
    REPORT_STATUSES,
    SCHEMA_VERSION,
    SPOTCHECK_RESULTS,
    STATUS_TRANSITIONS,
    STORAGE_CRS,
    TARGET_KINDS,
    Column,
    LayerSpec,
    code_level,
    is_child_code,
    layer_spec,
    spotcheck_result,
)
from gridmap.model.quarantine import QUARANTINE_COLUMNS, QUARANTINE_REASONS, ImportSummary

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
