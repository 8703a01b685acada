"""The spot-check job: draw the sample of a workspace (or its path, or a dict of layers), with its page.

:func:`gridmap.spot_check` and the CLI's ``gridmap spotcheck`` come here. The
draw is the analysis' (:func:`gridmap.analysis.spotcheck.spot_check`, where the
population, strata, allocation and draw are defined); this module reads the
layers and the workspace's facts through the open store (opening and closing a
path: :func:`gridmap.jobs.source.opened`; only the period's reports, through the store's indexes:
:func:`gridmap.jobs.source.read_periods`) and returns a :class:`SpotCheck`: the drawn sample, which also
writes its CSV and its page (:mod:`gridmap.pages.spotcheck`).

Examples
--------
>>> import gridmap
>>> sample = spot_check(gridmap.sample_layers(n_reports=300, track_days=1), n=8, seed=1)
>>> isinstance(sample, SpotCheck), len(sample.checklist)
(True, 8)
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridmap.analysis import spotcheck
from gridmap.analysis.selection import pushdown_period
from gridmap.jobs.source import WorkspaceSource, opened, read_periods
from gridmap.maps.common import for_web
from gridmap.pages.spotcheck import write_spotcheck_page
from gridmap.storage import LayerReads, read_layers

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.maps.assets import AssetCache

__all__ = ["SpotCheck", "spot_check"]


@dataclass
class SpotCheck(spotcheck.SpotCheck):
    """A drawn spot-check sample (:class:`gridmap.analysis.spotcheck.SpotCheck`) that also writes its page.

    The attributes and :meth:`to_csv` are the sample's; :meth:`to_html` writes
    the page (a map of the numbered reports and the printable checklist).
    """

    def to_html(self, path: str | PathLike[str], *, offline: bool = True, lang: str = "zh",
                cache: "AssetCache | None" = None) -> Path:
        """Write one page: a map of the numbered reports and the printable checklist below it.

        Parameters
        ----------
        path : str or os.PathLike
            The HTML file; overwritten.
        offline : bool
            True (default): scripts and styles inside the file from the asset
            cache (``gridmap assets fetch``); the page makes no network request.
        lang : {"zh", "en"}
            Language of the page.
        cache : gridmap.maps.assets.AssetCache, optional
            The asset cache for ``offline=True``.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        AssetsMissingError
            Offline, when the asset cache is incomplete; nothing is written.

        Examples
        --------
        >>> import tempfile, pathlib, gridmap
        >>> sample = spot_check(gridmap.sample_layers(n_reports=300, track_days=1), n=8, seed=1)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     page = sample.to_html(pathlib.Path(tmp) / "check.html", offline=False).read_text(encoding="utf-8")
        >>> sample.checklist["report_id"].iloc[0] in page
        True
        """
        return write_spotcheck_page(self, path, offline=offline, lang=lang, cache=cache)


def spot_check(
    workspace: WorkspaceSource,
    *,
    n: int,
    start: Any = None,
    end: Any = None,
    seed: int | str,
    by: str = "community",
    lang: str = "zh",
    subdistrict: str | None = None,
) -> SpotCheck:
    """Draw a reproducible stratified random sample of rectified reports of a workspace for on-site checks.

    Parameters
    ----------
    workspace : WorkspaceStore, path or mapping
        An open workspace, the path of one (opened and closed here), or layers
        by name (``reports`` needed; ``grids``, ``rectifications``,
        ``communities`` used when given). Not modified.
    n, start, end, seed, by, lang
        As :func:`gridmap.analysis.spotcheck.spot_check`: reports to draw, the
        period ``[start, end)`` on ``reported_at``, the seed (write it on the
        checklist so anyone can re-draw), the strata, the language of the labels.
    subdistrict : str, optional
        The 9-digit code of one subdistrict of a workspace holding many offices (``--subdistrict``): only its
        rows of every layer are read (through the store's indexes), and the draw is the one of a workspace
        holding that subdistrict alone. Not for a dict of layers (give that subdistrict's frames instead).

    Returns
    -------
    SpotCheck
        The sample, marked illustrative when the workspace says so; its grid
        outlines rounded for the page (:func:`gridmap.maps.common.for_web`).

    Raises
    ------
    SchemaError
        Unknown `by` or `lang`; ``n`` smaller than the number of strata (the
        message gives the smallest ``n``); a source that is no workspace, path
        or dict of layers; `subdistrict` with a dict of layers, or a malformed code.
    GridmapError
        When no report of the period is rectified or verified.

    Examples
    --------
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=300, track_days=1)
    >>> a = spot_check(layers, n=12, seed=2025)
    >>> a.checklist["report_id"].tolist() == spot_check(layers, n=12, seed=2025).checklist["report_id"].tolist()
    True
    """
    if subdistrict is not None:
        layers, meta = read_layers(workspace, spotcheck.SPOTCHECK_LAYERS, what="spot_check",
                                   reads=LayerReads(_report_period(start, end), subdistrict=subdistrict))
        drawn = spotcheck.spot_check(layers, n=n, start=start, end=end, seed=seed, by=by, lang=lang, meta=meta)
        return _for_page(drawn)
    with opened(workspace, what="spot_check") as source:
        # only the period's reports can be drawn; rectifications are read whole (the checklist gives each drawn
        # report's latest rectification, whenever it was made)
        reader = read_periods(source, {"reports": (start, end)})
        drawn = spotcheck.spot_check(reader, n=n, start=start, end=end, seed=seed, by=by, lang=lang)
    return _for_page(drawn)


def _report_period(start: Any, end: Any) -> dict[str, tuple[Any, Any]]:
    """The reports' period to read through the store's index; none (every report) when a bound is bad: the draw
    then refuses it with its own message."""
    bounds = pushdown_period(start, end)
    return {} if bounds is None else {"reports": bounds}


def _for_page(drawn: spotcheck.SpotCheck) -> SpotCheck:
    """The analysis' sample as the job's, its grid outlines rounded for the page."""
    sample = SpotCheck(**{f.name: getattr(drawn, f.name) for f in fields(drawn)})
    if sample.grids is not None:
        sample = replace(sample, grids=for_web(sample.grids, what="grids"))
    return sample
