"""Deprecated shim: :mod:`gridmap.supervision` moved to :mod:`gridmap.analysis.supervision` (issue 13).

The public names still import from here for one release, with a
:class:`DeprecationWarning`; import them from :mod:`gridmap.analysis.supervision` instead,
or, for the functions that also open a workspace from its path (``scoreboard``,
``run_scoreboard``, ``weekly_figures``), from :mod:`gridmap.jobs.supervision`.
"""

from __future__ import annotations

import warnings

from gridmap.analysis.supervision import (  # noqa: F401 - re-exported for the old import path
    BY_CHOICES, DEFAULT_DEADLINES_HOURS, DEFAULT_DEADLINE_HOURS, Rules, SCOREBOARD_COLUMNS, ScoreboardRun,
    cadre_keys, period_figures, presented, resolve_period, scoreboard_headers, write_scoreboard,
)
from gridmap.jobs.supervision import (  # noqa: F401 - the old functions took a path too: they are the jobs now
    run_scoreboard, scoreboard, weekly_figures,
)

__all__ = ['BY_CHOICES', 'DEFAULT_DEADLINES_HOURS', 'DEFAULT_DEADLINE_HOURS', 'Rules', 'SCOREBOARD_COLUMNS',
           'ScoreboardRun', 'cadre_keys', 'period_figures', 'presented', 'resolve_period',
           'run_scoreboard', 'scoreboard', 'scoreboard_headers', 'weekly_figures', 'write_scoreboard']

warnings.warn("gridmap.supervision is deprecated: it moved to gridmap.analysis.supervision (and the functions "
              "that open a workspace to gridmap.jobs.supervision); import from there",
              DeprecationWarning, stacklevel=2)
