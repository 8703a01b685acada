"""The exception hierarchy of gridmap.

Every error a user can cause derives from :class:`GridmapError` and from the
built-in exception it most resembles, so callers may catch either. The command
line turns these into one-line messages (no traceback) and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "GridmapError",
    "CRSError",
    "ReadError",
    "UnsafeFileError",
    "EncodingError",
    "SchemaError",
    "WorkspaceError",
    "WorkspaceBusyError",
    "WorkspaceVersionError",
]


class GridmapError(Exception):
    """Base class of every error gridmap raises on purpose."""


class CRSError(GridmapError, ValueError):
    """Data without a CRS, or coordinates that do not fit their CRS."""


class ReadError(GridmapError, ValueError):
    """A file that cannot be read at all (format, truncation, missing columns)."""


class UnsafeFileError(ReadError):
    """A file refused for safety: XML entity bombs, external entities, zip bombs, path traversal."""


class EncodingError(ReadError):
    """Text whose encoding cannot be determined without risking mojibake."""


class SchemaError(GridmapError, ValueError):
    """A layer name, column or value outside the data model."""


class WorkspaceError(GridmapError, RuntimeError):
    """A workspace that cannot be opened or written."""


class WorkspaceBusyError(WorkspaceError):
    """Another process holds the workspace's write lock longer than the timeout."""


class WorkspaceVersionError(WorkspaceError):
    """A workspace written by a newer gridmap than this one."""
