"""Deprecated shim: :mod:`gridmap.importer` moved to :mod:`gridmap.io.importer` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.io.importer` instead.
"""

from __future__ import annotations

import warnings

from gridmap.io.importer import (  # noqa: F401 - re-exported for the old import path
    import_file, import_options, prepare_for,
)

__all__ = ['import_file', 'import_options', 'prepare_for']

warnings.warn("gridmap.importer is deprecated: it moved to gridmap.io.importer; import from there",
              DeprecationWarning, stacklevel=2)
