"""The scoreboard job: the scoreboard of a workspace, an open store, or a dict of layers.

:func:`gridmap.scoreboard`, :func:`gridmap.weekly_figures` and the CLI's
``gridmap scoreboard`` come here. This module only reads: it opens a workspace
from its path (and closes it), reads the layers a scoreboard needs and the
workspace's facts (:func:`gridmap.storage.read_layers`), and hands them to the
analysis (:mod:`gridmap.analysis.supervision`), where every figure is defined.
:func:`write_scoreboard` (the spreadsheets) is the analysis' own, re-exported so
that a job's caller finds every step here.

Examples
--------
>>> import tempfile, pathlib
>>> import gridmap
>>> from gridmap.analysis import supervision
>>> tmp = tempfile.TemporaryDirectory()
>>> path = pathlib.Path(tmp.name) / "w.gpkg"
>>> gridmap.init_workspace(path, sample=True).close()
>>> board = scoreboard(path, start="2025-03-03", end="2025-03-10", lang="en")
>>> with gridmap.open_workspace(path) as ws:
...     same = supervision.scoreboard(ws, start="2025-03-03", end="2025-03-10", lang="en")
>>> board.equals(same), board.attrs["illustrative"]
(True, True)
>>> tmp.cleanup()
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from gridmap.analysis import supervision
from gridmap.analysis.supervision import (
    SCOREBOARD_LAYERS, Rules, ScoreboardRun, weekly_periods, write_scoreboard,
)
from gridmap.jobs.source import WorkspaceSource, opened, read_periods
from gridmap.pages.scoreboard import scoreboard_reads
from gridmap.storage import read_layers

__all__ = ["run_scoreboard", "scoreboard", "weekly_figures", "weekly_periods", "write_scoreboard"]


def run_scoreboard(workspace: WorkspaceSource, *, start: Any, end: Any, by: str = "community",
                   deadlines: Mapping[str, float] | None = None, rules: Rules | Mapping[str, Any] | None = None,
                   lang: str = "zh", now: pd.Timestamp | None = None, weeks: int = 0,
                   subdistrict: str | None = None) -> ScoreboardRun:
    """Read the layers once and compute the scoreboard (see :func:`scoreboard`), keeping what pages need.

    The layers, the workspace's facts (``illustrative``, and ``last_import``
    from :func:`gridmap.storage.read_layers`), the table and the facts of the
    period's reports (:class:`gridmap.analysis.supervision.ScoreboardRun`).

    Given a period, a store reads only what the scoreboard needs
    (:func:`gridmap.analysis.supervision.scoreboard_periods`: the period and the one before, the rectifications
    that may be recurred and the reports they name), and what :func:`weekly_figures` of the run's layers needs
    for the `weeks` weeks before the period's end (the pages' charts). With `subdistrict` (a 9-digit code), only
    that subdistrict's rows of every layer (a workspace holding many offices).

    Examples
    --------
    >>> import gridmap
    >>> run = run_scoreboard(gridmap.sample_layers(n_reports=300, track_days=1), start="2025-03-03",
    ...                      end="2025-03-10")
    >>> len(run.facts) == int(run.board["reports"].sum()) + run.board.attrs["unassigned_reports"]
    True
    """
    reads = scoreboard_reads(start, end, weeks=weeks, subdistrict=subdistrict)
    layers, meta = read_layers(workspace, SCOREBOARD_LAYERS, what="the scoreboard", reads=reads)
    return supervision.run_scoreboard(layers, start=start, end=end, by=by, deadlines=deadlines, rules=rules,
                                      lang=lang, now=now, meta=meta)


def scoreboard(
    workspace: WorkspaceSource,
    *,
    start: str | pd.Timestamp | None,
    end: str | pd.Timestamp | None,
    by: str = "community",
    deadlines: Mapping[str, float] | None = None,
    rules: Rules | Mapping[str, Any] | None = None,
    lang: str = "zh",
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Rank the communities (grids, cadres) of a workspace on the reports of ``[start, end)``.

    Every column is defined in :mod:`gridmap.analysis.supervision` (the README
    repeats the definitions); this reads the workspace and computes them there.

    Parameters
    ----------
    workspace : WorkspaceStore, path, or dict of layers
        An open workspace, the path of one (opened and closed here), or layers
        by name: ``grids`` and ``reports`` needed; ``communities``,
        ``rectifications``, ``spotchecks``, ``tracks``, ``streets`` and
        ``areas`` used when present.
        Not modified.
    start, end : str or pandas.Timestamp or None
        The period, ``start <= reported_at < end`` (no zone: Asia/Shanghai).
        A missing bound makes it a week
        (:func:`gridmap.analysis.supervision.resolve_period`).
    by : {"community", "grid", "cadre", "street", "area"}
        The unit of a row (:mod:`gridmap.analysis.supervision`).
    deadlines : mapping, optional
        Hours allowed per category (key or zh-Hans label), over
        :data:`gridmap.analysis.supervision.DEFAULT_DEADLINES_HOURS`.
    rules : Rules or mapping, optional
        Weights and lagging thresholds; a mapping changes the named fields of
        the defaults.
    lang : {"zh", "en"}
        Language of ``lagging_reason``; columns are always the English names
        (:func:`gridmap.analysis.supervision.scoreboard_headers` gives Chinese headers).
    now : pandas.Timestamp, optional
        The present, for the cut-off (default: now).

    Returns
    -------
    pandas.DataFrame
        One row per unit, in rank order, as
        :func:`gridmap.analysis.supervision.scoreboard`; ``attrs["illustrative"]``
        says whether the workspace holds illustrative data.

    Raises
    ------
    SchemaError
        An unknown `by`, language, rule or category, or an empty period; a
        source that is no workspace, path or dict of layers.
    GridmapError
        When the workspace has no grids.

    Examples
    --------
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=600, track_days=7)
    >>> board = scoreboard(layers, start="2025-03-03", end="2025-03-10", lang="en")
    >>> list(board.columns[:4])
    ['community_code', 'name', 'grids', 'reports']
    """
    return run_scoreboard(workspace, start=start, end=end, by=by, deadlines=deadlines, rules=rules, lang=lang,
                          now=now).board


def weekly_figures(
    workspace: WorkspaceSource,
    *,
    end: str | pd.Timestamp | None = None,
    weeks: int = 8,
    by: str = "community",
    deadlines: Mapping[str, float] | None = None,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Week-over-week figures of every unit of a workspace, for the charts: the last `weeks` weeks before `end`.

    Parameters
    ----------
    workspace : WorkspaceStore, path, or dict of layers
        As :func:`scoreboard`.
    end, weeks, by, deadlines, now
        As :func:`gridmap.analysis.supervision.weekly_figures`.

    Returns
    -------
    pandas.DataFrame
        One row per week and unit (:func:`gridmap.analysis.supervision.weekly_figures`).

    Examples
    --------
    >>> import gridmap
    >>> w = weekly_figures(gridmap.sample_layers(n_reports=600, track_days=7), end="2025-03-10", weeks=3)
    >>> sorted({t.date().isoformat() for t in w["week_start"]})
    ['2025-02-17', '2025-02-24', '2025-03-03']
    """
    with opened(workspace, what="the scoreboard") as source:
        reader = read_periods(source, weekly_periods(end, weeks))
        return supervision.weekly_figures(reader, end=end, weeks=weeks, by=by, deadlines=deadlines, now=now)
