"""Deprecated shim: :mod:`gridmap.workspace` moved to :mod:`gridmap.storage`.

Importing this module warns (``DeprecationWarning``) and gives the same objects as
:mod:`gridmap.storage`; it will be removed after one release. Import from
:mod:`gridmap.storage`, or the top-level names from :mod:`gridmap`
(``gridmap.open_workspace``, ``gridmap.init_workspace``, ``gridmap.Workspace``).
"""

import warnings

from gridmap.storage import (
    ALIASES_TABLE,
    CATEGORIES_TABLE,
    GEOMETRY_COLUMN,
    GEOMETRY_TOLERANCE,
    IMPORTS_TABLE,
    META_TABLE,
    NOT_CONTENT,
    QUARANTINE_TABLE,
    SCHEMA_VERSION,
    Workspace,
    content_columns,
    init_workspace,
    open_workspace,
    read_layers,
)

__all__ = [
    "Workspace", "init_workspace", "open_workspace", "META_TABLE", "IMPORTS_TABLE", "QUARANTINE_TABLE",
    "CATEGORIES_TABLE", "ALIASES_TABLE", "read_layers", "content_columns", "NOT_CONTENT", "GEOMETRY_TOLERANCE",
    "GEOMETRY_COLUMN", "SCHEMA_VERSION",
]

warnings.warn("gridmap.workspace moved to gridmap.storage; import from gridmap.storage or gridmap",
              DeprecationWarning, stacklevel=2)
