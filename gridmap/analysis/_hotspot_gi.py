"""Neighbourhoods, Getis-Ord Gi*, the Benjamini-Hochberg FDR and permutation p-values.

The statistics of :func:`gridmap.analysis.hotspot.hotspots` (the notes of
:mod:`gridmap.analysis.hotspot`, "Counts and neighbours" and "Gi*", give the
formulas and their sources); the public names import from there too.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from scipy import sparse, stats
from scipy.spatial import cKDTree

from gridmap.crs import metric_crs
from gridmap.errors import SchemaError

_BIN_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))
_CHUNK = 256


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
    """Getis-Ord Gi* z-scores (standardised form, see the notes of :mod:`gridmap.analysis.hotspot`).

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


def _check_options(*, alpha: float, permutations: int = 0) -> None:
    if not 0 < float(alpha) < 1:
        raise SchemaError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if int(permutations) < 0 or int(permutations) != permutations:
        raise SchemaError(f"permutations must be a whole number >= 0, got {permutations!r}")
