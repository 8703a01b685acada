"""Deprecated shim: :mod:`gridmap._errors` moved to :mod:`gridmap.errors` (issue 13).

Importing this module warns (``DeprecationWarning``) and gives the same classes as
:mod:`gridmap.errors`; it will be removed after one release. Catch the errors as
``gridmap.GridmapError`` (and the other names of :mod:`gridmap`) or import them from
:mod:`gridmap.errors`.
"""

import warnings

from gridmap.errors import (
    CRSError,
    EncodingError,
    GridmapError,
    ReadError,
    SchemaError,
    UnsafeFileError,
    WorkspaceBusyError,
    WorkspaceError,
    WorkspaceVersionError,
)

__all__ = ["GridmapError", "CRSError", "ReadError", "UnsafeFileError", "EncodingError", "SchemaError",
           "WorkspaceError", "WorkspaceBusyError", "WorkspaceVersionError"]

warnings.warn("gridmap._errors is deprecated: it moved to gridmap.errors; import from gridmap.errors or gridmap",
              DeprecationWarning, stacklevel=2)
