"""Hot spots: Getis-Ord Gi* on counts per cell, and emerging hot spots over time.

Where are reports clustered, and is each place getting better or worse? This
module counts reports per cell (the grids, or a square fishnet or hexagons it
builds over the area), computes the Getis-Ord Gi* statistic per cell, and, over
a space-time cube of counts, the emerging hot spot categories ArcGIS Pro
reports.

The public functions are here; their machinery sits in three private modules of
this room: the lattice helpers and the counting (:mod:`~gridmap.analysis._hotspot_cells`),
the neighbourhoods, Gi* and FDR (:mod:`~gridmap.analysis._hotspot_gi`), and the time
steps, Mann-Kendall and the categories (:mod:`~gridmap.analysis._hotspot_emerging`).
Every public name imports from here.

Cells
-----
:func:`fishnet` and :func:`hexagons` build cells in the metric CRS chosen by
:func:`gridmap.crs.metric_crs` on a lattice anchored at the CRS origin, every
vertex computed from its integer lattice index, so neighbouring cells share
bit-identical vertices (in metres and, after the same deterministic transform,
in degrees). Only cells intersecting the area are kept; they are returned in
EPSG:4326 with a ``cell_id`` (0, 1, ... from north-west, row by row).

Counts and neighbours
---------------------
A report counts in the first cell (in the cells' order) whose closure holds it,
so a point on a shared edge or corner is counted once (shapely ``STRtree``
query, predicate ``intersects``). Neighbourhoods are binary weights:

* ``"queen"`` (default): cells sharing an edge or a corner (their geometries
  intersect; exact for cells with shared vertices, see above);
* ``"rook"``: cells sharing an edge (boundaries meet in a line, DE-9IM
  ``****1****``);
* ``"distance:200"``: cells whose centroids (in the metric CRS) lie within 200 m;
* ``"knn:8"``: the 8 cells with the nearest centroids.

With ``include_self=True`` (default, Gi*) each cell is its own neighbour.

Gi*
---
Getis, A. and Ord, J. K. (1992), "The analysis of spatial association by use
of distance statistics", *Geographical Analysis* 24(3), 189-206; Ord, J. K.
and Getis, A. (1995), "Local spatial autocorrelation statistics:
distributional issues and an application", *Geographical Analysis* 27(4),
286-306. In the standardised form ArcGIS documents ("How Hot Spot Analysis
(Getis-Ord Gi*) works")::

    G*_i = (sum_j w_ij x_j - X * sum_j w_ij)
           / (S * sqrt((n * sum_j w_ij**2 - (sum_j w_ij)**2) / (n - 1)))

with X the mean and S the population standard deviation of the counts over all
``n`` cells. The z is read against the standard normal, two-sided. For binary
weights with the diagonal set, this is algebraically identical to esda's
``G_Local(star=True, transform="B").Zs`` (esda: ``(G - E[G]) / sqrt(V[G])``
with ``G = sum_j w_ij x_j / sum x``, ``E[G] = W_i / n``,
``V[G] = W_i (n - W_i) / ((n - 1) n**2) * s**2 / X**2``; multiply through by
``sum x = n X``), and the tests check it to 1e-9. With ``include_self=False``
the same formula is used with ``w_ii = 0`` (ArcGIS's way); esda's
``star=False`` instead takes the mean and variance over the other ``n - 1``
cells, so the two differ there.

When every cell has the same count (``S = 0``, e.g. no reports at all) or a
cell's neighbourhood is every cell, z is undefined: it is NaN, p is NaN, the
cell is not significant and its ``gi_bin`` is 0. Cells without reports have a
count of 0 and a defined z otherwise.

Significance. Without FDR a cell is in bin ±3/±2/±1 when p < 0.01/0.05/0.10,
with the sign of z. With ``fdr=True`` (default), as ArcGIS's "Apply False
Discovery Rate (FDR) Correction" does, each confidence level's critical p is
replaced by the Benjamini-Hochberg threshold (Benjamini, Y. and Hochberg, Y.
(1995), "Controlling the false discovery rate", *J. R. Stat. Soc. B* 57(1),
289-300): sort the n p-values, find the largest k with ``p_(k) <= k/n * q``,
and call significant the k cells with the smallest p-values (none if there is
no such k), for q = 0.01, 0.05, 0.10. ``significant`` uses the same rule at
``alpha``. The decision is a mask (:func:`fdr_reject`), not a critical p-value:
a p-value of exactly 0 is a real p-value, and is always rejected. The p-values
the decisions use are ``log p = log 2 + log Phi(-|z|)`` (``scipy.stats.norm.logsf``),
so cells beyond |z| ~ 37.7, whose p underflows to 0.0 in ``gi_p``, keep their
order by |z| and their significance.

Permutations (``permutations > 0``): conditional randomisation as esda
(Anselin, L. (1995), "Local indicators of spatial association - LISA",
*Geographical Analysis* 27(2), 93-115): each cell keeps its own count and its
``k_i`` other neighbours are drawn without replacement from the other ``n - 1``
counts; ``gi_p_sim = (min(#sim >= obs, #sim < obs) + 1) / (permutations + 1)``
(folded, one-sided, like esda's ``p_sim``). ``seed`` makes it reproducible.

Emerging hot spots
------------------
As ArcGIS Pro's "How Emerging Hot Spot Analysis works":

1. **Space-time cube**: counts per cell and time step (``"week"``: weeks
   starting Monday 00:00; ``"month"``: calendar months; in Asia/Shanghai), empty
   bins 0, from the step holding ``start`` to the step holding ``end``.
2. **Space-time Gi\\***: each bin's neighbours are its cell's spatial neighbours
   (itself included) in the same step and in the previous step (a neighbourhood
   time step of 1: ArcGIS's default depends on the cube, here it is always 1; the
   first step has no previous one). Mean and S are over all cells × steps bins.
3. **FDR** (Benjamini-Hochberg at ``alpha``, :func:`fdr_reject` on log p as
   for Gi* above) over all bins: a bin is a significant hot (cold) spot when
   it is rejected and z > 0 (z < 0).
4. **Mann-Kendall** trend test on each cell's series of Gi* z (Mann, H. B.
   (1945), *Econometrica* 13, 245-259; Kendall, M. G. (1975), *Rank Correlation
   Methods*): ``S = sum_{i<j} sign(z_j - z_i)``, variance with the tie
   correction ``(T(T-1)(2T+5) - sum_g t_g(t_g-1)(2t_g+5)) / 18``, continuity
   corrected ``Z = (S - sign(S)) / sqrt(var)``, two-sided normal p. Cells whose
   series holds NaN get NaN.
5. **Categories** (h = number of significant hot steps of the cell, T = steps,
   "≥ 90 %" means ``h >= 0.9 T``; "trend up" means trend p < ``alpha`` and
   trend z > 0). The final step decides first; then, for a final step that is
   neither hot nor cold, the historical patterns:

   - *new hot spot*: the final step is hot and no earlier step was;
   - *consecutive hot spot*: the final step ends a single uninterrupted run of
     ≥ 2 hot steps, no step before the run was hot, and h < 90 % of T;
   - *intensifying hot spot*: final step hot, h ≥ 90 %, trend up;
   - *persistent hot spot*: final step hot, h ≥ 90 %, no significant trend;
   - *diminishing hot spot*: final step hot, h ≥ 90 %, trend down;
   - *sporadic hot spot*: final step hot, h < 90 %, hot on and off before
     (not new, not consecutive) and never a significant cold spot;
   - *oscillating hot spot*: final step hot, h < 90 %, not new nor consecutive,
     and some earlier step a significant cold spot;
   - *historical hot spot*: final step not hot (and not cold), h ≥ 90 %;
   - the eight cold spot categories mirror these with cold steps, and
     intensifying (diminishing) cold means the z trend is significantly down
     (up): ever colder (warmer);
   - *no pattern detected*: none of these.

   ArcGIS's wording leaves overlaps open; this order resolves them: a new or
   consecutive pattern is reported even if the cell was once a cold spot, and
   a final cold step after ≥ 90 % hot steps is a new (or other) cold spot, not a
   historical hot spot. At least :data:`MIN_STEPS` time steps are required: with
   fewer, no Mann-Kendall trend can be significant at 0.05 and the 90 % rules
   collapse to "every step" (ArcGIS recommends at least 10).

On Dask
-------
:func:`cell_counts`, :func:`hotspots`, :func:`space_time_cube` and
:func:`emerging_hotspots` also take a dask-geopandas GeoDataFrame or an archive
directory (the ``reports`` layer of :mod:`gridmap.archive`, one partition a
day). Each partition is counted on its own with the rule above and the count
vectors (cells, or cells × steps) are added up in a tree with the active Dask
scheduler; the default time span is the partitions' earliest and latest time.
The counts equal the in-memory counts exactly, so the statistics do too. On a
lattice (:func:`fishnet`'s cells: squares of one metric lattice meeting at
identical corners) a report strictly inside the square its metric coordinates
point to counts there; every other report goes through the STRtree as in memory.

Examples
--------
>>> from gridmap.sample import sample_boundaries, sample_reports
>>> b = sample_boundaries()
>>> reports, _ = sample_reports(b, n_reports=500)
>>> cells = fishnet(b["subdistrict"], 100)
>>> result = hotspots(reports, cells)
>>> int(result["count"].sum()) <= 500, result.crs.to_epsg()
(True, 4326)
>>> set(result["gi_bin"]) <= set(range(-3, 4)), int(result["gi_bin"].max()) > 0
(True, True)
"""

from __future__ import annotations

import logging
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import stats

from gridmap.analysis._hotspot_cells import (
    _assign,
    _cells_geometry,
    _cells_polygons,
    _check_count,
    _check_size,
    _keep_cells,
    _metric_area,
    _report_points,
)
# the public names of the two modules below are re-exported (listed in __all__)
from gridmap.analysis._hotspot_emerging import (
    _INTERVALS,
    EMERGING_CATEGORIES,
    MIN_STEPS,
    _as_time,
    _period_start,
    _space_time_z,
    _steps,
    _times,
    categorise,
    mann_kendall,
)
from gridmap.analysis._hotspot_dask import (
    cube_counts,
    is_partitioned,
    partitioned_counts,
    partitioned_cube,
    partitioned_time_range,
)
from gridmap.analysis._hotspot_gi import (
    _check_options,
    _log_p,
    _permutation_p,
    _significance,
    fdr_reject,
    gi_star,
    neighbour_matrix,
)
from gridmap.errors import SchemaError

__all__ = [
    "EMERGING_CATEGORIES",
    "MIN_STEPS",
    "categorise",
    "cell_counts",
    "emerging_hotspots",
    "fdr_reject",
    "fishnet",
    "gi_star",
    "hexagons",
    "hotspots",
    "mann_kendall",
    "neighbour_matrix",
    "space_time_cube",
]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- cells


def fishnet(area: Any, size_m: float) -> gpd.GeoDataFrame:
    """Square cells of `size_m` metres covering `area`.

    Parameters
    ----------
    area : shapely geometry, geopandas.GeoSeries or geopandas.GeoDataFrame
        The area to cover, in any CRS (a bare shapely geometry is taken as WGS84
        longitude/latitude).
    size_m : float
        Side of a square, metres, in the metric CRS of the area
        (:func:`gridmap.crs.metric_crs`). Squares sit on a lattice anchored at
        that CRS's origin.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id`` (0, 1, ... row by row from the north-west) and the square
        polygons that intersect the area, EPSG:4326. Neighbouring squares share
        identical vertices.

    Raises
    ------
    SchemaError
        When `size_m` is not positive or the area is empty.
    CRSError
        When the area has no CRS.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> cells = fishnet(box(109.730, 38.285, 109.740, 38.295), 500)
    >>> len(cells) >= 4, cells.crs.to_epsg(), list(cells.columns)
    (True, 4326, ['cell_id', 'geometry'])
    """
    size = _check_size(size_m)
    region, crs = _metric_area(area)
    minx, miny, maxx, maxy = region.bounds
    c0, c1 = math.floor(minx / size), math.ceil(maxx / size)
    r0, r1 = math.floor(miny / size), math.ceil(maxy / size)
    ncol, nrow = max(c1 - c0, 1), max(r1 - r0, 1)
    _check_count(ncol * nrow, size)
    xs = (c0 + np.arange(ncol + 1)) * size
    ys = (r1 - np.arange(nrow + 1)) * size  # north first
    col_grid, row_grid = np.meshgrid(np.arange(ncol), np.arange(nrow))
    col, row = col_grid.ravel(), row_grid.ravel()
    ring_x = np.stack([xs[col], xs[col + 1], xs[col + 1], xs[col], xs[col]], axis=1)
    ring_y = np.stack([ys[row + 1], ys[row + 1], ys[row], ys[row], ys[row + 1]], axis=1)
    polys = shapely.polygons(np.stack([ring_x, ring_y], axis=2))
    return _keep_cells(polys, region, crs)


def hexagons(area: Any, size_m: float) -> gpd.GeoDataFrame:
    """Pointy-top regular hexagons with sides of `size_m` metres covering `area`.

    Parameters
    ----------
    area : shapely geometry, geopandas.GeoSeries or geopandas.GeoDataFrame
        The area to cover, in any CRS (a bare shapely geometry is taken as WGS84
        longitude/latitude).
    size_m : float
        Side of a hexagon (= distance from its centre to a vertex), metres; the
        area of a cell is ``3 * sqrt(3) / 2 * size_m**2``. Every vertex is
        computed from integer lattice indices (x in steps of ``sqrt(3)/2 * size``,
        y in steps of ``size / 2``), so neighbours share identical vertices.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id`` and the hexagons that intersect the area, EPSG:4326.

    Raises
    ------
    SchemaError
        When `size_m` is not positive or the area is empty.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> cells = hexagons(box(109.730, 38.285, 109.740, 38.295), 300)
    >>> len(cells) > 4, cells.crs.to_epsg()
    (True, 4326)
    """
    size = _check_size(size_m)
    region, crs = _metric_area(area)
    minx, miny, maxx, maxy = region.bounds
    hw, hh = math.sqrt(3.0) / 2.0 * size, size / 2.0  # lattice steps in x and y
    # centres: row r at y index m = 3r, column index k = 2c + (r mod 2)
    r0, r1 = math.floor(miny / (3 * hh)) - 1, math.ceil(maxy / (3 * hh)) + 1
    c0, c1 = math.floor(minx / (2 * hw)) - 1, math.ceil(maxx / (2 * hw)) + 1
    rows = np.arange(r1, r0 - 1, -1)
    cols = np.arange(c0, c1 + 1)
    _check_count(len(rows) * len(cols), size)
    r, c = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    k = 2 * c + np.mod(r, 2)
    m = 3 * r
    dk = np.array([0, 1, 1, 0, -1, -1, 0])
    dm = np.array([-2, -1, 1, 2, 1, -1, -2])
    ring_x = (k[:, None] + dk[None, :]) * hw
    ring_y = (m[:, None] + dm[None, :]) * hh
    polys = shapely.polygons(np.stack([ring_x, ring_y], axis=2))
    return _keep_cells(polys, region, crs)


# ----------------------------------------------------------------------------------------------- Gi*


def hotspots(
    reports: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    *,
    neighbours: str = "queen",
    include_self: bool = True,
    permutations: int = 0,
    alpha: float = 0.05,
    fdr: bool = True,
    seed: int = 0,
) -> gpd.GeoDataFrame:
    """Counts of reports per cell and their Getis-Ord Gi* hot and cold spots.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame, dask_geopandas.GeoDataFrame, str or os.PathLike
        Report points, any CRS (reports without a location are skipped); or a dask-geopandas frame of them
        or an archive directory (its ``reports`` layer), counted partition by partition (:func:`cell_counts`).
    cells : geopandas.GeoDataFrame
        Polygons (grids, :func:`fishnet`, :func:`hexagons`), any CRS, at least 3.
    neighbours : str
        ``"queen"``, ``"rook"``, ``"distance:<m>"`` or ``"knn:<k>"``, see
        :func:`neighbour_matrix`.
    include_self : bool
        Each cell is its own neighbour (Gi*; ArcGIS and esda ``star=True``).
    permutations : int
        0 for analytic inference only; else the number of conditional
        randomisations for ``gi_p_sim``.
    alpha : float
        Level for ``significant``.
    fdr : bool
        Benjamini-Hochberg decisions (:func:`fdr_reject`) for ``significant``
        and ``gi_bin``; else plain ``p < level``.
    seed : int
        Seed of the permutations.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of `cells` (order, index, columns and CRS kept) plus ``count``,
        ``gi_z``, ``gi_p`` (two-sided, normal; 0.0 beyond |z| ~ 37.7, where
        significance is decided on log p), ``gi_p_sim`` (NaN without
        permutations), ``significant`` and ``gi_bin`` (-3..3). ``attrs``:
        ``outside`` (reports in no cell), ``no_location``.

    Raises
    ------
    SchemaError
        For fewer than 3 cells, cells without geometry or a bad option.
    CRSError
        When reports or cells have no CRS.

    Examples
    --------
    >>> from shapely.geometry import Point, box
    >>> cells = gpd.GeoDataFrame(geometry=[box(x, y, x + 100, y + 100) for y in range(0, 1000, 100)
    ...                                    for x in range(0, 1000, 100)], crs="EPSG:4546")
    >>> pts = gpd.GeoDataFrame(geometry=[Point(50, 50)] * 20 + [Point(950, 950)], crs="EPSG:4546")
    >>> out = hotspots(pts, cells)
    >>> int(out["count"].sum()), int(out["gi_bin"].iloc[0]), bool(out["significant"].iloc[0])
    (21, 3, True)
    """
    geoms = _cells_geometry(cells)
    _check_options(alpha=alpha, permutations=permutations)
    counts, outside, no_location = _counts(reports, geoms, cells.crs)
    w = neighbour_matrix(cells, neighbours=neighbours, include_self=include_self)
    z = gi_star(counts.astype(np.float64), w)
    p = 2.0 * stats.norm.sf(np.abs(z))
    significant, bins = _significance(z, alpha=alpha, fdr=fdr)
    p_sim = np.full(len(geoms), np.nan)
    if permutations:
        p_sim = _permutation_p(counts.astype(np.float64), w, int(permutations), int(seed))
    out = cells.copy()
    out["count"] = counts
    out["gi_z"] = z
    out["gi_p"] = p
    out["gi_p_sim"] = p_sim
    out["significant"] = significant
    out["gi_bin"] = bins
    out.attrs = {"outside": outside, "no_location": no_location}
    logger.info("hotspots: %d reports in %d cells, %d outside every cell", int(counts.sum()), len(geoms), outside)
    return out


def _counts(reports: Any, geoms: np.ndarray, crs: Any) -> tuple[np.ndarray, int, int]:
    """Counts per cell, reports in no cell, reports without a location: in memory or partition by partition."""
    if is_partitioned(reports):
        return partitioned_counts(reports, geoms, crs)
    points, has = _report_points(reports, crs)
    where = _assign(points, geoms)
    inside = where >= 0
    counts = np.bincount(where[inside], minlength=len(geoms)).astype(np.int64)
    return counts, int((~inside).sum()), int((~has).sum())


def cell_counts(reports: Any, cells: gpd.GeoDataFrame) -> np.ndarray:
    """Number of reports in each cell, in the cells' order.

    A report counts in the first cell (in the cells' order) whose closure holds it, in the cells' CRS, as
    :func:`hotspots` counts; reports without a location or in no cell are not counted.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame, dask_geopandas.GeoDataFrame, str or os.PathLike
        Report points in any CRS; or a dask-geopandas frame of them, or an archive directory (its
        ``reports`` layer, :func:`gridmap.archive.read_archive`), counted partition by partition with the
        active Dask scheduler (never collected in one place; the counts are the same).
    cells : geopandas.GeoDataFrame
        Polygons (grids, :func:`fishnet`, :func:`hexagons`), any CRS.

    Returns
    -------
    numpy.ndarray
        int64, one count per cell.

    Raises
    ------
    SchemaError
        Cells without geometry, or reports that are not a GeoDataFrame.
    CRSError
        When reports or cells have no CRS.

    Examples
    --------
    >>> from shapely.geometry import Point, box
    >>> cells = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4546")
    >>> pts = gpd.GeoDataFrame(geometry=[Point(0.5, 0.5), Point(1, 0.5), Point(1.5, 0.2), Point(5, 5)],
    ...                        crs="EPSG:4546")
    >>> cell_counts(pts, cells).tolist()  # the point on the shared edge counts in the first cell
    [2, 1]
    """
    geoms = _cells_polygons(cells)
    return _counts(reports, geoms, cells.crs)[0]


# ----------------------------------------------------------------------------------------------- time


def space_time_cube(
    reports: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    *,
    interval: str = "month",
    start: Any = None,
    end: Any = None,
) -> tuple[np.ndarray, list[pd.Timestamp]]:
    """Counts of reports per cell and time step, empty bins 0.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame, dask_geopandas.GeoDataFrame, str or os.PathLike
        Report points with ``reported_at`` (reports without a time or a
        location are skipped with a logged count); or a dask-geopandas frame of
        them or an archive directory (its ``reports`` layer): the time span and
        the counts are then computed partition by partition (an archive's
        partition is a day) and added up, the same counts as in memory.
    cells : geopandas.GeoDataFrame
        Polygons, any CRS.
    interval : {"month", "week"}
        Calendar months, or weeks starting Monday, in Asia/Shanghai.
    start, end : str or pandas.Timestamp, optional
        First and last instants to include (naive times are Asia/Shanghai);
        by default the earliest and latest report. Steps run from the one
        holding `start` to the one holding `end`.

    Returns
    -------
    tuple of (numpy.ndarray, list of pandas.Timestamp)
        Counts (cells × steps, int64) and the start of each step.

    Raises
    ------
    SchemaError
        For an unknown interval, no timed reports, or `end` before `start`.

    Examples
    --------
    >>> from shapely.geometry import Point, box
    >>> cells = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)], crs="EPSG:4546")
    >>> pts = gpd.GeoDataFrame({"reported_at": pd.to_datetime(["2025-01-05", "2025-03-02"]).tz_localize(
    ...     "Asia/Shanghai")}, geometry=[Point(0.5, 0.5), Point(2.5, 0.5)], crs="EPSG:4546")
    >>> counts, steps = space_time_cube(pts, cells)
    >>> counts.tolist(), [s.strftime("%Y-%m") for s in steps]
    ([[1, 0, 0], [0, 0, 0], [0, 0, 1]], ['2025-01', '2025-02', '2025-03'])
    """
    if interval not in _INTERVALS:
        raise SchemaError(f"unknown interval {interval!r}; use 'month' or 'week'")
    geoms = _cells_geometry(cells)
    span: tuple[pd.Timestamp, pd.Timestamp] | None
    if is_partitioned(reports) and start is not None and end is not None:
        span = (_as_time(start), _as_time(end))  # no pass for the span; the cube's pass checks for timed reports
    else:
        span = _time_range(reports)
    if span is None:
        raise SchemaError("no report has a time ('reported_at'); the space-time cube needs timed reports")
    first = _as_time(start) if start is not None else span[0]
    last = _as_time(end) if end is not None else span[1]
    if last < first:
        raise SchemaError(f"end {last} lies before start {first}; swap them")
    steps = _steps(_period_start(first, interval), _period_start(last, interval), interval)
    if is_partitioned(reports):
        return partitioned_cube(reports, geoms, cells.crs, steps, interval), list(steps)
    return cube_counts(reports, geoms, cells.crs, steps, interval), list(steps)


def _time_range(reports: Any) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Earliest and latest report time (None when no report has one), in memory or partition by partition."""
    if is_partitioned(reports):
        return partitioned_time_range(reports)
    times = _times(reports)
    timed = times.notna().to_numpy()
    if (~timed).any():
        logger.info("%d reports without a time skipped", int((~timed).sum()))
    if not timed.any():
        return None
    return times[timed].min(), times[timed].max()


# ----------------------------------------------------------------------------------------------- emerging


def emerging_hotspots(
    reports: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    *,
    interval: str = "month",
    start: Any = None,
    end: Any = None,
    alpha: float = 0.05,
    neighbours: str = "queen",
) -> gpd.GeoDataFrame:
    """Emerging hot and cold spots: space-time Gi*, FDR, Mann-Kendall trend and ArcGIS's categories.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame, dask_geopandas.GeoDataFrame, str or os.PathLike
        Report points with ``reported_at``; those without a time or location
        are skipped (count logged). A dask-geopandas frame or an archive
        directory is counted partition by partition (:func:`space_time_cube`).
    cells : geopandas.GeoDataFrame
        Polygons, any CRS, at least 3.
    interval : {"month", "week"}
        Time step.
    start, end : str or pandas.Timestamp, optional
        Time span (default: the reports' own).
    alpha : float
        Level for the bins (after FDR) and for the trend.
    neighbours : str
        Spatial neighbourhood, see :func:`neighbour_matrix` (the cell itself is
        always included).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of `cells` (order and index kept) plus ``category``, ``trend_z``,
        ``trend_p``, ``hot_steps``, ``cold_steps``, ``n_steps``; ``attrs``:
        ``steps`` (ISO starts), ``counts`` and ``z`` (cells × steps lists).

    Raises
    ------
    SchemaError
        When the span has fewer than :data:`MIN_STEPS` steps, or for bad options.

    Examples
    --------
    >>> from gridmap.sample import sample_boundaries, sample_reports
    >>> b = sample_boundaries()
    >>> reports, _ = sample_reports(b, n_reports=800)
    >>> out = emerging_hotspots(reports, b["grids"])
    >>> len(out) == len(b["grids"]), int(out["n_steps"].iloc[0]), set(out["category"]) <= set(EMERGING_CATEGORIES)
    (True, 12, True)
    """
    _check_options(alpha=alpha)
    counts, steps = space_time_cube(reports, cells, interval=interval, start=start, end=end)
    if len(steps) < MIN_STEPS:
        raise SchemaError(
            f"emerging hot spot analysis needs at least {MIN_STEPS} time steps, the span gives {len(steps)}"
            f" {interval}(s): its trend test cannot be significant with fewer and its 90 % rules need several"
            " steps; use a longer span (start/end) or interval='week'"
        )
    w = neighbour_matrix(cells, neighbours=neighbours, include_self=True)
    z = _space_time_z(counts, w)
    sig = fdr_reject(_log_p(z), alpha, log=True)
    hot, cold = sig & (z > 0), sig & (z < 0)
    trend_z, trend_p = mann_kendall(z)
    out = cells.copy()
    out["category"] = categorise(hot, cold, trend_z, trend_p, alpha=alpha)
    out["trend_z"] = trend_z
    out["trend_p"] = trend_p
    out["hot_steps"] = hot.sum(axis=1).astype(np.int64)
    out["cold_steps"] = cold.sum(axis=1).astype(np.int64)
    out["n_steps"] = len(steps)
    out.attrs = {
        "steps": [s.isoformat() for s in steps],
        "counts": counts.tolist(),
        "z": z.tolist(),
    }
    return out
