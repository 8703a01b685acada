"""Hot spots: Getis-Ord Gi* on counts per cell, and emerging hot spots over time.

Where are reports clustered, and is each place getting better or worse? This
module counts reports per cell (the grids, or a square fishnet or hexagons it
builds over the area), computes the Getis-Ord Gi* statistic per cell, and, over
a space-time cube of counts, the emerging hot spot categories ArcGIS Pro
reports.

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
import pyproj
import shapely
from scipy import sparse, stats
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from gridmap.errors import CRSError, SchemaError
from gridmap.crs import metric_crs, require_crs
from gridmap.model import DEFAULT_TZ, STORAGE_CRS

__all__ = [
    "EMERGING_CATEGORIES",
    "MIN_STEPS",
    "categorise",
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

#: The emerging hot spot categories, exactly as ArcGIS Pro names them.
EMERGING_CATEGORIES: tuple[str, ...] = tuple(
    f"{kind} {side} spot"
    for side in ("hot", "cold")
    for kind in ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating",
                 "historical")
) + ("no pattern detected",)
#: Fewest time steps :func:`emerging_hotspots` accepts (the smallest T where a Mann-Kendall trend can be
#: significant at 0.05: T = 5 gives Z = 2.20 for a strictly monotone series).
MIN_STEPS = 5

_BIN_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))
_INTERVALS = {"week": "W-SUN", "month": "M"}
_CHUNK = 256


# ----------------------------------------------------------------------------------------------- cells


def _area_series(area: Any) -> gpd.GeoSeries:
    """The area as a GeoSeries with a CRS (bare shapely geometries are taken as WGS84 lon/lat)."""
    if isinstance(area, gpd.GeoDataFrame):
        area = area.geometry
    if isinstance(area, gpd.GeoSeries):
        require_crs(area, what="the area")
        return area
    if isinstance(area, BaseGeometry):
        minx, miny, maxx, maxy = area.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise CRSError(
                "a bare shapely geometry is taken as WGS84 longitude/latitude, but this one's coordinates lie"
                " outside [-180, 180] x [-90, 90]; pass gpd.GeoSeries([geom], crs='EPSG:...') with its real CRS"
            )
        return gpd.GeoSeries([area], crs=STORAGE_CRS)
    raise SchemaError(f"area must be a shapely polygon, GeoSeries or GeoDataFrame, got {type(area).__name__}")


def _check_size(size_m: float) -> float:
    size = float(size_m)
    if not math.isfinite(size) or size <= 0:
        raise SchemaError(f"cell size must be a positive number of metres, got {size_m!r}")
    return size


def _metric_area(area: Any) -> tuple[BaseGeometry, pyproj.CRS]:
    series = _area_series(area)
    series = series[~(series.is_empty | series.isna())]
    if len(series) == 0:
        raise SchemaError("the area has no geometry: give at least one non-empty polygon")
    crs = metric_crs(series)
    return shapely.union_all(series.to_crs(crs).values), crs


def _keep_cells(polys: np.ndarray, region: BaseGeometry, crs: pyproj.CRS) -> gpd.GeoDataFrame:
    shapely.prepare(region)
    keep = shapely.intersects(region, polys)
    cells = polys[keep]
    logger.debug("%d of %d lattice cells intersect the area", len(cells), len(polys))
    frame = gpd.GeoDataFrame({"cell_id": np.arange(len(cells), dtype=np.int64)}, geometry=cells, crs=crs)
    return frame.to_crs(STORAGE_CRS)


def _check_count(n: int, size: float) -> None:
    if n > 20_000_000:
        raise SchemaError(f"{n} cells of {size:g} m would cover the area's bounds; choose a larger size_m")


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


# ----------------------------------------------------------------------------------------------- counts


def _cells_geometry(cells: gpd.GeoDataFrame) -> np.ndarray:
    if not isinstance(cells, gpd.GeoDataFrame):
        raise SchemaError(f"cells must be a GeoDataFrame of polygons, got {type(cells).__name__}")
    require_crs(cells, what="the cells")
    geoms = cells.geometry.values
    if len(geoms) < 3:
        raise SchemaError(f"Gi* needs at least 3 cells, got {len(geoms)}; use smaller cells or a larger area")
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        raise SchemaError(f"{int(bad.sum())} cells have no geometry (positions {np.flatnonzero(bad)[:5].tolist()}"
                          "...); drop them before the analysis")
    return np.asarray(geoms)


def _report_points(reports: gpd.GeoDataFrame, crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """Report geometries in the cells' CRS and the mask of reports that have one."""
    if not isinstance(reports, gpd.GeoDataFrame):
        raise SchemaError(f"reports must be a GeoDataFrame of points, got {type(reports).__name__}")
    require_crs(reports, what="the reports")
    geoms = np.asarray(reports.geometry.values)
    has = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if (~has).any():
        logger.info("%d reports without a location skipped", int((~has).sum()))
    pts = gpd.GeoSeries(geoms[has], crs=reports.crs).to_crs(crs).values
    return np.asarray(pts), has


def _assign(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Position of the first cell holding each point (closure), -1 for none."""
    tree = shapely.STRtree(cells)
    pt_idx, cell_idx = tree.query(points, predicate="intersects")
    out = np.full(len(points), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, pt_idx, cell_idx)
    out[out == np.iinfo(np.int64).max] = -1
    return out


# ----------------------------------------------------------------------------------------------- weights


def _pairs_to_matrix(i: np.ndarray, j: np.ndarray, n: int, include_self: bool) -> sparse.csr_matrix:
    keep = i != j
    i, j = i[keep], j[keep]
    if include_self:
        i = np.concatenate([i, np.arange(n)])
        j = np.concatenate([j, np.arange(n)])
    m = sparse.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _metric_centroids(geoms: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    series = gpd.GeoSeries(geoms, crs=crs)
    target = metric_crs(series) if crs.is_geographic else crs
    cent = series.to_crs(target).centroid.values
    return shapely.get_coordinates(cent)


def _parse_neighbours(neighbours: str) -> tuple[str, float]:
    text = str(neighbours).strip().lower()
    if text in ("queen", "rook"):
        return text, 0.0
    kind, _, value = text.partition(":")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if kind in ("distance", "knn") and math.isfinite(number) and number > 0:
        if kind == "knn" and number != int(number):
            number = float("nan")
        else:
            return kind, number
    raise SchemaError(
        f"unknown neighbours {neighbours!r}; use 'queen', 'rook', 'distance:<metres>' (e.g. 'distance:200')"
        " or 'knn:<k>' (e.g. 'knn:8') with a positive number"
    )


def neighbour_matrix(
    cells: gpd.GeoDataFrame, *, neighbours: str = "queen", include_self: bool = True
) -> sparse.csr_matrix:
    """Binary spatial weights between cells, as a sparse matrix in the cells' order.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        Polygons with a CRS.
    neighbours : str
        ``"queen"`` (share an edge or a corner), ``"rook"`` (share an edge),
        ``"distance:<m>"`` (centroids within m metres) or ``"knn:<k>"`` (the k
        nearest centroids; not symmetric).
    include_self : bool
        Put 1 on the diagonal (Gi*).

    Returns
    -------
    scipy.sparse.csr_matrix
        n × n, 1.0 where cell j is a neighbour of cell i.

    Raises
    ------
    SchemaError
        For an unknown `neighbours`.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame(geometry=[box(x, y, x + 1, y + 1) for y in range(3) for x in range(3)],
    ...                          crs="EPSG:4546")
    >>> w = neighbour_matrix(cells)
    >>> int(w[4].sum()), int(w[0].sum())  # the centre has 8 neighbours + itself, a corner 3 + itself
    (9, 4)
    >>> int(neighbour_matrix(cells, neighbours="rook", include_self=False)[4].sum())
    4
    """
    kind, number = _parse_neighbours(neighbours)
    geoms = np.asarray(cells.geometry.values)
    n = len(geoms)
    if kind in ("queen", "rook"):
        i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        if kind == "rook":
            off = i != j
            edge = np.zeros(len(i), dtype=bool)
            edge[off] = shapely.relate_pattern(geoms[i[off]], geoms[j[off]], "****1****")
            i, j = i[edge], j[edge]
        return _pairs_to_matrix(i, j, n, include_self)
    xy = _metric_centroids(geoms, cells.crs)
    tree = cKDTree(xy)
    if kind == "distance":
        pairs = tree.query_pairs(number, output_type="ndarray")
        i = np.concatenate([pairs[:, 0], pairs[:, 1]])
        j = np.concatenate([pairs[:, 1], pairs[:, 0]])
        return _pairs_to_matrix(i, j, n, include_self)
    k = min(int(number), n - 1)
    _, idx = tree.query(xy, k=k + 1)
    other = idx != np.arange(n)[:, None]  # with duplicate centroids the cell itself may not come first
    other &= np.cumsum(other, axis=1) <= k
    i = np.repeat(np.arange(n), k + 1).reshape(n, k + 1)[other]
    return _pairs_to_matrix(i, idx[other], n, include_self)


# ----------------------------------------------------------------------------------------------- Gi*


def gi_star(x: np.ndarray, w: sparse.spmatrix) -> np.ndarray:
    """Getis-Ord Gi* z-scores (standardised form, see the module notes).

    Parameters
    ----------
    x : numpy.ndarray
        Values (counts) of the n cells.
    w : scipy.sparse matrix
        n × n weights, row i holding cell i's neighbours (the diagonal included
        for Gi*).

    Returns
    -------
    numpy.ndarray
        z per cell; NaN where the variance is zero (all values equal, or a
        neighbourhood of every cell, like the middle cell below).

    Examples
    --------
    >>> w = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=float))
    >>> np.round(gi_star(np.array([3.0, 1.0, 0.0]), w), 4)
    array([ 1.069 ,     nan, -1.3363])
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    mean = x.mean()
    s = math.sqrt(max(float((x * x).mean() - mean * mean), 0.0))
    w = sparse.csr_matrix(w, dtype=np.float64)
    sw = np.asarray(w.sum(axis=1)).ravel()
    sw2 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    num = w @ x - mean * sw
    with np.errstate(invalid="ignore", divide="ignore"):
        den = s * np.sqrt(np.maximum(n * sw2 - sw * sw, 0.0) / (n - 1))
        z = num / den
    z[~np.isfinite(z) | (den <= 0)] = np.nan
    return z


def fdr_reject(p: np.ndarray, q: float, *, log: bool = False) -> np.ndarray:
    """Benjamini-Hochberg decisions: which p-values are rejected at false discovery rate `q`.

    Benjamini, Y. and Hochberg, Y. (1995), "Controlling the false discovery
    rate", *J. R. Stat. Soc. B* 57(1), 289-300: with the n p-values sorted,
    ``p_(1) <= ... <= p_(n)``, find the largest k with ``p_(k) <= k/n * q`` and
    reject the k smallest (none when there is no such k). The same decisions as
    statsmodels ``multipletests(p, q, method="fdr_bh")[0]``.

    NaN p-values are left out (never rejected; n counts the others).

    Parameters
    ----------
    p : numpy.ndarray
        p-values, any shape.
    q : float
        The false discovery rate to control, e.g. 0.05.
    log : bool
        `p` holds natural logarithms of p-values (e.g. ``log 2 +
        scipy.stats.norm.logsf(abs(z))``), compared with ``log(k/n * q)``; p-values
        that underflow to 0.0 keep their order this way.

    Returns
    -------
    numpy.ndarray
        Boolean, the shape of `p`: True where rejected (significant).

    Examples
    --------
    >>> fdr_reject(np.array([0.001, 0.5, 0.02, 0.03]), 0.05).tolist()
    [True, False, True, True]
    >>> fdr_reject(np.array([0.0, 0.0, 0.9]), 0.05).tolist()  # p = 0 is the strongest evidence, not "none"
    [True, True, False]
    >>> fdr_reject(np.array([0.2, np.nan, 0.5]), 0.05).tolist()
    [False, False, False]
    """
    values = np.asarray(p, dtype=np.float64)
    flat = values.ravel()
    known = np.flatnonzero(~np.isnan(flat))
    order = known[np.argsort(flat[known], kind="stable")]
    n = len(order)
    out = np.zeros(flat.shape, dtype=bool)
    if n == 0:
        return out.reshape(values.shape)
    critical = np.arange(1, n + 1) / float(n) * q
    if log:
        with np.errstate(divide="ignore"):
            critical = np.log(critical)
    ok = np.flatnonzero(flat[order] <= critical)
    if len(ok):
        out[order[:ok[-1] + 1]] = True
    return out.reshape(values.shape)


def _log_p(z: np.ndarray) -> np.ndarray:
    """Natural log of the two-sided normal p of each z (finite however large |z|; NaN for NaN)."""
    return math.log(2.0) + stats.norm.logsf(np.abs(z))


def _significance(z: np.ndarray, *, alpha: float, fdr: bool) -> tuple[np.ndarray, np.ndarray]:
    """``significant`` at alpha and ``gi_bin`` -3..3, ArcGIS's way (FDR decisions per level when fdr)."""
    log_p = _log_p(z)
    known = ~np.isnan(log_p)

    def hit(level: float) -> np.ndarray:
        if fdr:
            return fdr_reject(log_p, level, log=True)
        return known & (log_p < math.log(level))

    bins = np.zeros(len(z), dtype=np.int64)
    for value, level in reversed(_BIN_LEVELS):
        bins[hit(level)] = value
    bins = bins * np.sign(np.nan_to_num(z)).astype(np.int64)
    return hit(alpha), bins


def _permutation_p(x: np.ndarray, w: sparse.csr_matrix, permutations: int, seed: int) -> np.ndarray:
    """Folded pseudo p-values by conditional randomisation (binary weights)."""
    n = len(x)
    rng = np.random.default_rng(seed)
    diag = w.diagonal()
    k = np.asarray(w.sum(axis=1)).ravel().astype(np.int64) - (diag > 0)
    kmax = int(k.max()) if n else 0
    draws = np.stack([rng.choice(n - 1, size=kmax, replace=False) for _ in range(permutations)])
    observed = w @ x
    larger = np.zeros(n)
    for start in range(0, n, _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, n))
        idx = draws[None, :, :] + (draws[None, :, :] >= rows[:, None, None])  # skip the cell itself
        vals = x[idx] * (np.arange(kmax)[None, None, :] < k[rows, None, None])
        sims = vals.sum(axis=2) + (diag[rows] * x[rows])[:, None]
        larger[rows] = (sims >= observed[rows, None] - 1e-9).sum(axis=1)
    larger = np.minimum(larger, permutations - larger)
    return (larger + 1.0) / (permutations + 1.0)


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
    reports : geopandas.GeoDataFrame
        Report points, any CRS (reports without a location are skipped).
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
    points, has = _report_points(reports, cells.crs)
    where = _assign(points, geoms)
    inside = where >= 0
    counts = np.bincount(where[inside], minlength=len(geoms)).astype(np.int64)
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
    out.attrs = {"outside": int((~inside).sum()), "no_location": int((~has).sum())}
    logger.info("hotspots: %d reports in %d cells, %d outside every cell", int(inside.sum()), len(geoms),
                int((~inside).sum()))
    return out


def _check_options(*, alpha: float, permutations: int = 0) -> None:
    if not 0 < float(alpha) < 1:
        raise SchemaError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if int(permutations) < 0 or int(permutations) != permutations:
        raise SchemaError(f"permutations must be a whole number >= 0, got {permutations!r}")


# ----------------------------------------------------------------------------------------------- time


def _times(reports: gpd.GeoDataFrame) -> pd.Series:
    if "reported_at" not in reports.columns:
        raise SchemaError("reports need a 'reported_at' column of times for the space-time analysis")
    t = pd.to_datetime(reports["reported_at"])
    if t.dt.tz is None:
        t = t.dt.tz_localize(DEFAULT_TZ)
    return t.dt.tz_convert(DEFAULT_TZ)


def _period_start(t: pd.Series | pd.Timestamp, interval: str) -> Any:
    freq = _INTERVALS[interval]
    if isinstance(t, pd.Timestamp):
        return _period_start(pd.Series([t]), interval).iloc[0]
    naive = t.dt.tz_localize(None)
    return naive.dt.to_period(freq).dt.start_time.dt.tz_localize(DEFAULT_TZ)


def _as_time(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize(DEFAULT_TZ) if ts.tzinfo is None else ts.tz_convert(DEFAULT_TZ)


def _steps(first: pd.Timestamp, last: pd.Timestamp, interval: str) -> list[pd.Timestamp]:
    freq = "W-MON" if interval == "week" else "MS"
    naive = pd.date_range(first.tz_localize(None), last.tz_localize(None), freq=freq)
    return [ts.tz_localize(DEFAULT_TZ) for ts in naive]


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
    reports : geopandas.GeoDataFrame
        Report points with ``reported_at`` (reports without a time or a
        location are skipped with a logged count).
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
    times = _times(reports)
    timed = times.notna().to_numpy()
    if (~timed).any():
        logger.info("%d reports without a time skipped", int((~timed).sum()))
    if not timed.any():
        raise SchemaError("no report has a time ('reported_at'); the space-time cube needs timed reports")
    first = _as_time(start) if start is not None else times[timed].min()
    last = _as_time(end) if end is not None else times[timed].max()
    if last < first:
        raise SchemaError(f"end {last} lies before start {first}; swap them")
    steps = _steps(_period_start(first, interval), _period_start(last, interval), interval)
    points, has = _report_points(reports, cells.crs)
    keep_t = times.to_numpy()[has]
    ok = timed[has]
    pos = np.full(len(points), -1, dtype=np.int64)
    pos[ok] = _assign(points[ok], geoms)
    period = np.full(len(points), -1, dtype=np.int64)
    period_start = _period_start(pd.Series(keep_t[ok]), interval)
    step_index = pd.Index(steps)
    period[ok] = step_index.get_indexer(period_start)
    within = ok & (pos >= 0) & (period >= 0)
    flat = np.bincount(pos[within] * len(steps) + period[within], minlength=len(geoms) * len(steps))
    return flat.reshape(len(geoms), len(steps)).astype(np.int64), list(steps)


# ----------------------------------------------------------------------------------------------- emerging


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Kendall trend test on each row: continuity-corrected Z (tie-corrected variance) and two-sided p.

    Parameters
    ----------
    series : numpy.ndarray
        2-D, one series per row (time along axis 1). Rows holding NaN give NaN.

    Returns
    -------
    tuple of numpy.ndarray
        Z and p per row.

    Examples
    --------
    >>> z, p = mann_kendall(np.array([[1.0, 2, 3, 4, 5], [5, 4, 3, 2, 1], [1, 1, 1, 1, 1]]))
    >>> np.round(z, 3).tolist(), bool(p[0] < 0.05), float(p[2])
    ([2.205, -2.205, 0.0], True, 1.0)
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    t = x.shape[1]
    s = np.zeros(len(x))
    for i in range(t - 1):
        s += np.sign(x[:, i + 1:] - x[:, i:i + 1]).sum(axis=1)
    srt = np.sort(x, axis=1)
    ties = np.zeros(len(x))
    run = np.ones(len(x))
    for i in range(1, t + 1):
        same = (srt[:, i] == srt[:, i - 1]) if i < t else np.zeros(len(x), dtype=bool)
        ended = ~same
        ties += np.where(ended, run * (run - 1) * (2 * run + 5), 0.0)
        run = np.where(same, run + 1, 1.0)
    var = (t * (t - 1) * (2 * t + 5) - ties) / 18.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    z[np.isnan(x).any(axis=1)] = np.nan
    return z, 2.0 * stats.norm.sf(np.abs(z))


def _trailing_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True at the end of each row."""
    rev = flags[:, ::-1]
    first_false = np.where((~rev).any(axis=1), np.argmax(~rev, axis=1), flags.shape[1])
    return first_false


def _side(flags: np.ndarray, other: np.ndarray, up: np.ndarray, down: np.ndarray, side: str) -> np.ndarray:
    """Categories for the cells whose final step is significant on `side` (others: empty string)."""
    t = flags.shape[1]
    count = flags.sum(axis=1)
    final = flags[:, -1]
    most = count * 10 >= 9 * t
    run = _trailing_run(flags)
    out = np.full(len(flags), "", dtype=object)
    earlier_other = other[:, :-1].any(axis=1)
    rules = [
        (final & (count == 1), "new"),
        (final & (run >= 2) & (count == run) & ~most, "consecutive"),
        (final & most & up, "intensifying"),
        (final & most & down, "diminishing"),
        (final & most, "persistent"),
        (final & earlier_other, "oscillating"),
        (final, "sporadic"),
    ]
    for mask, name in reversed(rules):
        out[mask] = f"{name} {side} spot"
    return out


def categorise(hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray, *,
               alpha: float = 0.05) -> np.ndarray:
    """Emerging hot spot category of each cell from its significant hot/cold steps and its trend.

    Parameters
    ----------
    hot, cold : numpy.ndarray
        Boolean, cells × steps: the bin is a significant hot (cold) spot.
    trend_z, trend_p : numpy.ndarray
        Mann-Kendall Z and p of each cell's Gi* z series.
    alpha : float
        Level at which the trend is significant.

    Returns
    -------
    numpy.ndarray
        One of :data:`EMERGING_CATEGORIES` per cell (rules in the module notes).

    Examples
    --------
    >>> hot = np.array([[0, 0, 0, 0, 1], [0, 0, 0, 1, 1], [1, 1, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=bool)
    >>> categorise(hot, np.zeros_like(hot), np.zeros(4), np.ones(4)).tolist()
    ['new hot spot', 'consecutive hot spot', 'no pattern detected', 'no pattern detected']
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    trend_z = np.asarray(trend_z, dtype=np.float64)
    sig = np.asarray(trend_p, dtype=np.float64) < alpha
    up, down = sig & (trend_z > 0), sig & (trend_z < 0)
    t = hot.shape[1]
    out = np.full(len(hot), "no pattern detected", dtype=object)
    out[(cold.sum(axis=1) * 10 >= 9 * t) & ~cold[:, -1]] = "historical cold spot"
    out[(hot.sum(axis=1) * 10 >= 9 * t) & ~hot[:, -1]] = "historical hot spot"
    cold_cat = _side(cold, hot, down, up, "cold")
    hot_cat = _side(hot, cold, up, down, "hot")
    out[cold_cat != ""] = cold_cat[cold_cat != ""]
    out[hot_cat != ""] = hot_cat[hot_cat != ""]
    return out


def _space_time_z(counts: np.ndarray, w: sparse.csr_matrix) -> np.ndarray:
    """Space-time Gi* z per bin: spatial neighbours in the same and the previous step."""
    x = counts.astype(np.float64)
    n_bins = x.size
    mean = x.mean()
    s = math.sqrt(max(float((x * x).mean() - mean * mean), 0.0))
    wx = w @ x
    lagged = wx.copy()
    lagged[:, 1:] += wx[:, :-1]
    card = np.asarray(w.sum(axis=1)).ravel()[:, None]
    sq = np.asarray(w.multiply(w).sum(axis=1)).ravel()[:, None]
    factor = np.ones(x.shape[1])[None, :]
    factor[:, 1:] = 2.0
    sw, sw2 = card * factor, sq * factor
    with np.errstate(invalid="ignore", divide="ignore"):
        den = s * np.sqrt(np.maximum(n_bins * sw2 - sw * sw, 0.0) / (n_bins - 1))
        z = (lagged - mean * sw) / den
    z[~np.isfinite(z) | (den <= 0)] = np.nan
    return z


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
    reports : geopandas.GeoDataFrame
        Report points with ``reported_at``; those without a time or location
        are skipped (count logged).
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
