"""Reproducible stratified spot checks (抽查) of rectified reports.

The supervision group (督查组) verifies on site a random sample of the problems
the communities say they fixed. :func:`spot_check` draws that sample so that
anyone can re-draw it: the same workspace, period, seed and ``n`` give the same
reports on any machine, and every stratum (community, grid or cadre) is drawn.

Population
    Reports of the period ``[start, end)`` (on ``reported_at``) whose current
    status is ``rectified`` or ``verified``: the ones claimed fixed.
    ``reopened`` reports are already known not to hold, ``reported`` ones were
    never fixed.
Strata
    ``by="community"``: the community of the report's grid (``grid_code`` →
    ``grids.community_code``); ``by="grid"``: the grid; ``by="cadre"``: the
    grid's cadre. Reports without a grid (or a grid without cadre) form the
    stratum ``"(none)"``.
Allocation
    Every non-empty stratum gets one check; the other ``n - k`` are shared in
    proportion to the strata's sizes by the largest-remainder (Hamilton) method,
    ties broken by the stratum key; a stratum never gets more than its size and
    the excess is shared again the same way among the others.
Draw
    Inside a stratum the reports are ordered by the hex SHA-256 of
    ``f"{seed}:{report_id}"`` and the first ones taken. A hash, not
    :class:`numpy.random.Generator`: numpy does not promise the same stream
    across versions (NEP 19), while SHA-256 (FIPS 180-4) is the same
    everywhere, and anyone can re-check a draw with :mod:`hashlib`. Because a
    good hash behaves like a random permutation, each report of a stratum of
    size N with k drawn is included with probability k/N over seeds.

The seed is used as text: ``7`` and ``"7"`` draw the same sample.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.analysis.attribution import attribute_reports
from gridmap.analysis.inputs import LayerSource, read_frames
from gridmap.analysis.selection import as_time, select_reports
from gridmap.crs import from_wgs84
from gridmap.errors import GridmapError, SchemaError
from gridmap.export.spreadsheet import write_csv
from gridmap.model import DEFAULT_TZ, STORAGE_CRS, category_label

__all__ = ["SpotCheck", "spot_check", "allocate", "draw_order", "CHECKLIST_COLUMNS", "NO_STRATUM", "SPOTCHECK_LAYERS"]

logger = logging.getLogger(__name__)

#: Columns of :attr:`SpotCheck.checklist` (before the geometry), in order.
CHECKLIST_COLUMNS = (
    "no", "stratum", "report_id", "community_code", "community_name", "grid", "grid_name", "street_name", "area_code",
    "category",
    "reported_at", "rectified_date", "cadre", "lon", "lat", "lon_gcj02", "lat_gcj02",
    "result", "checked_at", "checker", "note",
)
#: Stratum of reports without a grid (or, by cadre, a grid without a cadre).
NO_STRATUM = "(none)"
_CLAIMED_FIXED = ("rectified", "verified")
_BY = {"community": "community_code", "grid": "grid_code", "cadre": "cadre"}
_LANGS = ("zh", "en")


# ---------------------------------------------------------------------------------------------------------------
# allocation and draw
# ---------------------------------------------------------------------------------------------------------------


def _hamilton(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split `total` in proportion to `weights` by largest remainders (exact integers; ties by key)."""
    whole = sum(weights.values())
    share = {key: total * w // whole for key, w in weights.items()}
    left = total - sum(share.values())
    by_remainder = sorted(weights, key=lambda key: (-(total * weights[key] % whole), key))
    for key in by_remainder[:left]:
        share[key] += 1
    return share


def allocate(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """How many reports to draw from each stratum: one each, the rest in proportion to size.

    Parameters
    ----------
    sizes : mapping of str to int
        Reports per stratum; strata of size 0 get 0.
    n : int
        Reports to draw in all.

    Returns
    -------
    dict of str to int
        Draws per stratum, in the order of `sizes`; they add up to
        ``min(n, sum(sizes))``.

    Raises
    ------
    SchemaError
        When ``n`` is smaller than the number of non-empty strata (the message
        gives the smallest ``n`` that draws every stratum) or below 1.

    Examples
    --------
    >>> allocate({"a": 10, "b": 5, "c": 1}, 7)
    {'a': 4, 'b': 2, 'c': 1}
    >>> allocate({"a": 2, "b": 30}, 10)
    {'a': 2, 'b': 8}
    """
    if n < 1:
        raise SchemaError(f"n must be at least 1, got {n}")
    alive = {key: int(size) for key, size in sizes.items() if int(size) > 0}
    if n < len(alive):
        raise SchemaError(f"n={n} cannot draw every one of the {len(alive)} strata; use n of at least {len(alive)}")
    if n >= sum(alive.values()):
        return {key: int(size) for key, size in sizes.items()}
    alloc = {key: 1 for key in alive}
    while (remaining := n - sum(alloc.values())) > 0:
        open_ = {key: size for key, size in alive.items() if alloc[key] < size}
        for key, extra in _hamilton(remaining, open_).items():
            alloc[key] += min(extra, alive[key] - alloc[key])
    return {key: alloc.get(key, 0) for key in sizes}


def draw_order(report_ids: Any, seed: int | str) -> list[str]:
    """Report ids in draw order: by the hex SHA-256 of ``f"{seed}:{report_id}"`` (then by id).

    Examples
    --------
    >>> import hashlib
    >>> ids = ["R1", "R2", "R3"]
    >>> draw_order(ids, 7) == sorted(ids, key=lambda r: hashlib.sha256(f"7:{r}".encode()).hexdigest())
    True
    """
    ids = [str(r) for r in report_ids]
    return sorted(ids, key=lambda rid: (hashlib.sha256(f"{seed}:{rid}".encode("utf-8")).hexdigest(), rid))


# ---------------------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------------------


#: The layers a spot check reads (``reports`` needed, the others used when present).
SPOTCHECK_LAYERS = ("reports", "grids", "rectifications", "communities", "streets", "areas")


def _layers(source: LayerSource, meta: Mapping[str, str] | None) -> tuple[dict[str, Any], bool]:
    """The layers the sample needs, and whether the data are illustrative (`meta`, else the reader's)."""
    layers, found = read_frames(source, SPOTCHECK_LAYERS, what="spot_check")
    if layers["reports"] is None:
        raise SchemaError("spot_check needs a 'reports' layer in the mapping of layers")
    return layers, (found if meta is None else meta).get("illustrative") == "true"


def _grid_table(grids: Any) -> pd.DataFrame:
    columns = ["grid_code", "name", "community_code", "cadre"]
    if grids is None or len(grids) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns}).set_index("grid_code")
    table = pd.DataFrame({c: grids[c].astype(object) if c in grids.columns else None for c in columns})
    return table.drop_duplicates("grid_code").set_index("grid_code")


def _blank(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value)) or str(value).strip() == ""


def _population(layers: Mapping[str, Any], start: Any, end: Any) -> gpd.GeoDataFrame:
    reports = select_reports(layers["reports"], start=start, end=end)
    status = reports["status"].astype(object) if "status" in reports.columns else pd.Series(None, index=reports.index)
    return reports[status.isin(_CLAIMED_FIXED).to_numpy(dtype=bool)].copy()


def _strata(pop: pd.DataFrame, grids: pd.DataFrame, by: str) -> pd.Series:
    codes = pop["grid_code"].astype(object) if "grid_code" in pop.columns else pd.Series(None, index=pop.index)
    if by == "grid":
        keys = codes
    else:
        lookup = grids[_BY[by]].to_dict()
        keys = codes.map(lambda c: None if _blank(c) else lookup.get(c))
    return keys.map(lambda k: NO_STRATUM if _blank(k) else str(k))


# ---------------------------------------------------------------------------------------------------------------
# the checklist
# ---------------------------------------------------------------------------------------------------------------


def _latest_fix_dates(rectifications: Any) -> dict[str, str]:
    """Report id → day (Asia/Shanghai, YYYY-MM-DD) of its latest rectification."""
    if rectifications is None or len(rectifications) == 0:
        return {}
    times = pd.to_datetime(rectifications["rectified_at"])
    if times.dt.tz is None:
        times = times.dt.tz_localize(DEFAULT_TZ)
    days = pd.Series(times.dt.tz_convert(DEFAULT_TZ).dt.strftime("%Y-%m-%d").to_numpy(),
                     index=rectifications["report_id"].astype(str).to_numpy())
    latest = pd.Series(times.to_numpy(), index=days.index)
    order = np.argsort(latest.to_numpy(), kind="stable")
    return {rid: day for rid, day in zip(days.index[order], days.to_numpy()[order]) if isinstance(day, str)}


def _community_names(communities: Any) -> dict[str, str]:
    if communities is None or len(communities) == 0 or "name" not in communities.columns:
        return {}
    return {str(c): str(n) for c, n in zip(communities["community_code"], communities["name"]) if not _blank(n)}


def _streets_and_areas(drawn: gpd.GeoDataFrame, layers: Mapping[str, Any]) -> tuple[pd.Series, pd.Series]:
    """Each drawn report's street and area (:func:`gridmap.analysis.attribution.attribute_reports`), or blank."""
    grids = layers.get("grids")
    if grids is None or len(grids) == 0 or drawn.crs is None or len(drawn) == 0:
        blank = pd.Series([None] * len(drawn), dtype="str")
        return blank, blank.copy()
    found = attribute_reports(drawn, grids=grids, streets=layers.get("streets"), areas=layers.get("areas"))
    return (pd.Series(found["street_name"].to_numpy(), dtype="str"),
            pd.Series(found["area_code"].to_numpy(), dtype="str"))


def _checklist(drawn: gpd.GeoDataFrame, layers: Mapping[str, Any], grids: pd.DataFrame,
               lang: str) -> gpd.GeoDataFrame:
    points = drawn.geometry.to_crs(STORAGE_CRS) if drawn.crs is not None else drawn.geometry
    lon, lat = points.x.to_numpy(dtype=float), points.y.to_numpy(dtype=float)
    glon, glat = from_wgs84(lon, lat, "gcj02")
    codes = [None if _blank(c) else str(c) for c in drawn["grid_code"].astype(object)]
    grid_info = [grids.loc[c] if c is not None and c in grids.index else None for c in codes]
    community = [None if g is None or _blank(g["community_code"]) else str(g["community_code"]) for g in grid_info]
    names = _community_names(layers.get("communities"))
    fixes = _latest_fix_dates(layers.get("rectifications"))
    street, area = _streets_and_areas(drawn, layers)
    ids = drawn["report_id"].astype(str).tolist()
    blank = pd.Series([None] * len(drawn), dtype="str")
    frame = pd.DataFrame({
        "no": np.arange(1, len(drawn) + 1, dtype="int64"),
        "stratum": drawn["_stratum"].astype("str").to_numpy(),
        "report_id": pd.Series(ids, dtype="str"),
        "community_code": pd.Series(community, dtype="str"),
        "community_name": pd.Series([names.get(c) if c else None for c in community], dtype="str"),
        "grid": pd.Series(codes, dtype="str"),
        "grid_name": pd.Series([None if g is None or _blank(g["name"]) else str(g["name"]) for g in grid_info],
                               dtype="str"),
        "street_name": street, "area_code": area,
        "category": pd.Series([category_label(str(c), lang) for c in drawn["category"]], dtype="str"),
        "reported_at": pd.Series(drawn["reported_at"].to_numpy()).dt.tz_convert(DEFAULT_TZ),
        "rectified_date": pd.Series([fixes.get(r) for r in ids], dtype="str"),
        "cadre": pd.Series([None if g is None or _blank(g["cadre"]) else str(g["cadre"]) for g in grid_info],
                           dtype="str"),
        "lon": np.round(lon, 6), "lat": np.round(lat, 6),
        "lon_gcj02": np.round(glon, 6), "lat_gcj02": np.round(glat, 6),
        "result": blank, "checked_at": blank.copy(), "checker": blank.copy(), "note": blank.copy(),
    })
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs=STORAGE_CRS)


# ---------------------------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class SpotCheck:
    """A drawn spot-check sample: the checklist, the strata, and how it was drawn.

    The data and its CSV. The public :class:`gridmap.SpotCheck`
    (:class:`gridmap.jobs.spotcheck.SpotCheck`, what :func:`gridmap.spot_check`
    returns) is this sample plus :meth:`~gridmap.jobs.spotcheck.SpotCheck.to_html`,
    its page: the analysis writes no page.

    Attributes
    ----------
    checklist : geopandas.GeoDataFrame
        One row per drawn report, ordered by stratum then draw order, with the
        columns :data:`CHECKLIST_COLUMNS` and the point (EPSG:4326). ``grid``
        holds the grid code, ``street_name`` the nearest street within 15 m
        and ``area_code`` the area (:mod:`gridmap.analysis.attribution`;
        blank when none); ``result``, ``checked_at``, ``checker`` and
        ``note`` are blank, for the field team.
    strata : pandas.DataFrame
        ``stratum``, ``population`` and ``drawn``, by stratum key.
    seed : int or str
        The seed of the draw.
    start, end : pandas.Timestamp or None
        The period ``[start, end)`` on ``reported_at``.
    by : str
        ``community``, ``grid`` or ``cadre``.
    lang : str
        Language of the category labels.
    illustrative : bool
        Whether the workspace holds illustrative (not surveyed) data.
    """

    checklist: gpd.GeoDataFrame
    strata: pd.DataFrame
    seed: int | str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    by: str
    lang: str = "zh"
    illustrative: bool = False
    #: The grid polygons (EPSG:4326, ``grid_code`` and ``name``) drawn under the points on the page, when known.
    grids: gpd.GeoDataFrame | None = None

    def to_csv(self, path: str | PathLike[str]) -> Path:
        """Write the checklist as CSV (UTF-8 with BOM, formula-looking text neutralised).

        The file, filled in, imports back with ``gridmap import WORKSPACE spotchecks FILE``.

        Examples
        --------
        >>> import tempfile, pathlib, gridmap
        >>> sample = spot_check(gridmap.sample_layers(n_reports=300, track_days=1), n=8, seed=1)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     out = sample.to_csv(pathlib.Path(tmp) / "check.csv")
        ...     out.read_text(encoding="utf-8-sig").splitlines()[0].split(",")[:4]
        ['no', 'stratum', 'report_id', 'community_code']
        """
        table = pd.DataFrame(self.checklist.drop(columns=self.checklist.geometry.name))
        table["reported_at"] = [t.strftime("%Y-%m-%d %H:%M") if pd.notna(t) else None for t in table["reported_at"]]
        return write_csv(table, path)


def spot_check(
    layers: LayerSource,
    *,
    n: int,
    start: Any = None,
    end: Any = None,
    seed: int | str,
    by: str = "community",
    lang: str = "zh",
    meta: Mapping[str, str] | None = None,
) -> SpotCheck:
    """Draw a reproducible stratified random sample of rectified reports for on-site checks.

    Parameters
    ----------
    layers : mapping or LayerReader
        Layers by name, or an open workspace (any object with
        ``read_layer(name)``): ``reports`` needed; ``grids``,
        ``rectifications``, ``communities`` used when given. Not modified.
        For a workspace's path use :func:`gridmap.spot_check`
        (:func:`gridmap.jobs.spotcheck.spot_check`), whose result also writes
        its page.
    n : int
        Reports to draw. At least the number of strata; when it is the whole
        population or more, every report is listed (and a warning logged).
    start, end : str or pandas.Timestamp, optional
        The period ``[start, end)`` on ``reported_at``; no zone means Asia/Shanghai.
    seed : int or str
        The seed; write it on the checklist so anyone can re-draw.
    by : {"community", "grid", "cadre"}
        The strata.
    lang : {"zh", "en"}
        Language of the category labels.
    meta : mapping, optional
        The workspace's facts (``illustrative``); default: the reader's
        ``meta``, none for a mapping.

    Returns
    -------
    SpotCheck

    Raises
    ------
    SchemaError
        Unknown `by` or `lang`; ``n`` smaller than the number of strata (the
        message gives the smallest ``n``).
    GridmapError
        When no report of the period is rectified or verified.

    Examples
    --------
    >>> import gridmap
    >>> layers = gridmap.sample_layers(n_reports=300, track_days=1)
    >>> a = spot_check(layers, n=12, seed=2025)
    >>> b = spot_check(layers, n=12, seed=2025)
    >>> a.checklist["report_id"].tolist() == b.checklist["report_id"].tolist()
    True
    >>> bool((a.strata["drawn"] >= 1).all()), int(a.strata["drawn"].sum())
    (True, 12)
    """
    if by not in _BY:
        raise SchemaError(f"by={by!r} is not known; use one of: {', '.join(_BY)}")
    if lang not in _LANGS:
        raise SchemaError(f"lang={lang!r} is not known; use one of: {', '.join(_LANGS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, str)) or str(seed).strip() == "":
        raise SchemaError(f"seed must be an integer or a non-empty text, got {seed!r}")
    frames, illustrative = _layers(layers, meta)
    grids = _grid_table(frames.get("grids"))
    pop = _population(frames, start, end)
    if len(pop) == 0:
        raise GridmapError("no rectified or verified reports in the period: nothing to spot-check")
    pop["_stratum"] = _strata(pop, grids, by).to_numpy()
    sizes = pop["_stratum"].value_counts().sort_index()
    if n >= len(pop):
        logger.warning("n=%d is not smaller than the %d rectified reports of the period: all are listed", n, len(pop))
    counts = allocate({str(k): int(v) for k, v in sizes.items()}, n)
    drawn_ids: list[str] = []
    for stratum in sizes.index:
        members = pop.loc[pop["_stratum"] == stratum, "report_id"]
        drawn_ids += draw_order(members, seed)[:counts[str(stratum)]]
    by_id = pop.assign(_rid=pop["report_id"].astype(str)).drop_duplicates("_rid").set_index("_rid")
    drawn = by_id.loc[drawn_ids].reset_index(drop=True)
    drawn = gpd.GeoDataFrame(drawn, geometry=drawn.geometry.name, crs=pop.crs)
    strata = pd.DataFrame({"stratum": [str(k) for k in sizes.index], "population": sizes.to_numpy(dtype="int64"),
                           "drawn": [counts[str(k)] for k in sizes.index]})
    strata["drawn"] = strata["drawn"].astype("int64")
    logger.info("spot check: %d of %d reports in %d strata (by %s, seed %r)", len(drawn), len(pop), len(strata),
                by, seed)
    return SpotCheck(_checklist(drawn, frames, grids, lang), strata, seed, as_time(start), as_time(end), by,
                     lang=lang, illustrative=illustrative, grids=_outlines(frames.get("grids")))


def _outlines(grids: Any) -> gpd.GeoDataFrame | None:
    """The grids' polygons for the page's map (codes and names only: no cadre, no phone)."""
    if grids is None or len(grids) == 0 or getattr(grids, "crs", None) is None:
        return None
    keep = [c for c in ("grid_code", "name") if c in grids.columns]
    out = gpd.GeoDataFrame(grids[keep].copy(), geometry=grids.geometry.values, crs=grids.crs)
    out = out[~(out.geometry.isna() | out.geometry.is_empty)]
    return out.to_crs(STORAGE_CRS)
