"""Deprecated shim: :mod:`gridmap.privacy` moved to :mod:`gridmap.export.privacy` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.export.privacy` instead.
"""

from __future__ import annotations

import warnings

from gridmap.export.privacy import (  # noqa: F401 - re-exported for the old import path
    COMPOUND_SURNAMES, FrameT, PHONE_RE, PHONE_SEARCH_RE, mask_name, personal_columns, redact_frame,
    redact_text, strip_exif,
)

__all__ = ['COMPOUND_SURNAMES', 'FrameT', 'PHONE_RE', 'PHONE_SEARCH_RE', 'mask_name', 'personal_columns',
           'redact_frame', 'redact_text', 'strip_exif']

warnings.warn("gridmap.privacy is deprecated: it moved to gridmap.export.privacy; import from there",
              DeprecationWarning, stacklevel=2)
