"""Sweep coverage: which share of each grid the inspectors reached, and where the dead corners are.

The article's 细 practice sweeps courtyards, demolition zones, sewage points and
vacant land one by one and claims "no dead corners" (无死角). This module checks
that claim from the inspectors' own GPS fixes.

The public names are here (with the run itself: options, no-data message, the
grids on threads, the result); the machinery sits in four private modules of this
room: the fixes and path pieces (:mod:`~gridmap.analysis._coverage_tracks`), a
region's share of each lattice cell (:mod:`~gridmap.analysis._coverage_region`),
the covered share of each cell (:mod:`~gridmap.analysis._coverage_raster`), and
the per-grid figures, dead corners, roll-ups and targets
(:mod:`~gridmap.analysis._coverage_figures`); street coverage, dead stretches and
the street chiefs' and area leaders' roll-ups in a fifth
(:mod:`~gridmap.analysis._coverage_streets`, exact: an interval per street
segment and path piece, united).

Meaning
-------
*Covered ground* is every point within ``radius_m`` of the path an inspector
walked. Fixes are joined in time order per inspector; the path breaks where the
time gap exceeds ``max_gap_s`` or the implied speed exceeds ``max_speed_mps``
(a GPS jump); a fix joined to neither neighbour covers a disc. LineString tracks
are walked paths as they are. Areas are measured in the metric CRS chosen by
:func:`gridmap.crs.metric_crs`.

Method
------
Each grid is computed on its own, from the path pieces within one radius of its
bounding box, so the same code runs on Dask (a dask-geopandas frame or a GeoParquet
archive as `tracks`: :mod:`~gridmap.analysis._coverage_dask`, partitions joined
across their boundaries, each grid from the same pieces in the same order):

1. the path pieces are sampled at most ``cell_m`` apart onto a raster of
   ``cell_m`` cells aligned to a global lattice, and
   :func:`scipy.ndimage.distance_transform_edt` gives each cell's distance to
   the nearest sampled cell;
2. from that distance, cells wholly inside or wholly outside the covered ground
   are decided with a proven error bound (the sampled cell is at most
   ``cell·√2/2`` from the path, the path at most ``cell/2`` from a sample);
3. of the remaining cells (a band about three cells wide along the edge of the
   covered ground), those within ``radius_m − cell·√2/2`` of the piece sampled
   in their nearest sampled cell are covered (their distance to the path is at
   most that); the others get their exact distance to every path piece within
   ``radius_m + cell·√2/2`` (the pieces whose box meets the square of that
   half-side around the cell's centre, from a shapely ``STRtree`` of the boxes
   of the pieces sampled within that distance of the band, plus
   ``cell/2 + cell·√2/2``, then the exact point-to-segment distance); the
   covered share of a cell is that of the half-plane tangent to the nearest
   piece's reach, ``|n·u| ≤ R − D`` for ``u`` uniform in the cell, a closed
   form (the CDF of a sum of two uniform variables);
4. where reaches meet inside one cell (pieces facing ways more than 30° apart
   reach into it: two passes about ``2R`` apart, crossing streets, the inner
   side of a bend), and where a reach's edge and the grid's edge cross the same
   cell, the share is that of the union of all the reaches within the grid: the
   uncovered part, cell ∩ grid ∩ the complements of every piece's tangent
   half-plane, is a convex polygon whose area is exact (its vertices are the
   feasible crossings of the lines, summed by the shoelace formula); a cell
   holding a vertex of the grid is cut by shapely from the true buffers;
5. cells crossed by the grid's boundary are weighted by the share of the cell
   inside the grid, exactly (the same half-plane formula for a cell crossed by
   one straight edge; a shapely intersection for cells holding a vertex).

The result agrees with the exact vector answer (buffer, union, intersection)
within a small fraction of a per cent of each grid's area; the tests check
0.25 %.

Examples
--------
>>> from gridmap.sample import sample_boundaries, sample_tracks
>>> b = sample_boundaries()
>>> tracks = sample_tracks(b, n_fixes=3000, days=1)
>>> result = sweep_coverage(b["grids"], tracks, radius_m=30)
>>> len(result.grids) == len(b["grids"]), bool(result.grids["coverage_ratio"].between(0, 1).all())
(True, True)
>>> result.stats["metric_crs"]
'EPSG:4546'
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from tqdm.auto import tqdm

from gridmap.analysis._coverage_figures import DEAD_CORNER_COLUMNS  # noqa: F401 - re-exported
from gridmap.analysis._coverage_figures import (
    _dead_corners,
    _geojson_text,
    _grid_figures,
    _Measured,
    _rollup,
    _Run,
    _target_geometries,
    _target_hits,
    _target_ratios,
    _targets,
)
from gridmap.analysis._coverage_dask import partitioned_run
from gridmap.analysis._coverage_streets import (
    DEAD_STRETCH_COLUMNS,
    STREET_CSV_COLUMNS,
    _Segments,
    area_rollup,
    check_streets,
    reach_intervals,
    street_segments,
    street_tables,
)
from gridmap.analysis._hotspot_dask import is_partitioned
from gridmap.analysis._coverage_raster import _Cover, _grid_cover
from gridmap.analysis._coverage_tracks import (
    _geometry_kinds,
    _lines,
    _outside_grids,
    _Paths,
    _prepare_fixes,
    _require_columns,
    _segments,
)
from gridmap.crs import metric_crs, require_crs
from gridmap.errors import SchemaError
from gridmap.export.spreadsheet import write_csv
from gridmap.model import DEFAULT_TZ, STORAGE_CRS

__all__ = ["CoverageResult", "overall_coverage", "reach_m", "sweep_coverage"]

logger = logging.getLogger(__name__)

#: Columns added to each grid.
GRID_COLUMNS = ("area_m2", "covered_m2", "uncovered_m2", "coverage_ratio", "dead_corners")
#: Columns of the CSV export (those the grids have), in order.
CSV_COLUMNS = ("grid_code", "name", "community_code", "cadre", "area_code") + GRID_COLUMNS


@dataclass
class CoverageResult:
    """What :func:`sweep_coverage` found.

    Attributes
    ----------
    grids : geopandas.GeoDataFrame
        EPSG:4326, one row per input grid, in input order with the input's index
        and columns, plus ``area_m2``, ``covered_m2``, ``uncovered_m2``,
        ``coverage_ratio`` (0 to 1) and ``dead_corners`` (count, nullable
        ``Int64``). When no GPS fix and no track line was used
        (``stats["coverage_known"]`` False) all but ``area_m2`` are NaN / NA:
        coverage is unknown ("无数据" / "no data"), not 0. With fixes in the
        window, a grid nobody walked is a real 0 with its dead corners.
    dead_corners : geopandas.GeoDataFrame
        EPSG:4326 polygons of unreached ground of at least
        ``min_dead_corner_m2``: ``corner_id`` (``"<grid_code>-01"``, largest
        first), ``grid_code``, ``community_code``, ``cadre``, ``area_m2``, and a
        point inside the polygon to walk to, in WGS84 (``lon``, ``lat``) and in
        GCJ-02 (``lon_gcj02``, ``lat_gcj02``, to paste into Amap or WeChat);
        sorted by grid (input order), then area descending. Empty when
        coverage is unknown (no task list is built from absent data).
    covered : geopandas.GeoDataFrame
        EPSG:4326, one (multi)polygon of covered ground per grid
        (``grid_code``), for maps. It says where, not who. Empty polygons
        when coverage is unknown.
    targets : geopandas.GeoDataFrame or None
        None when no targets were given; else EPSG:4326, one row per target in
        input order with its columns, plus ``visited`` (nullable ``boolean``:
        a used fix, or a LineString track, within ``radius_m`` of the target;
        NA, unknown, when coverage is unknown), ``first_visit``,
        ``last_visit`` (Asia/Shanghai, NaT when not visited or only by untimed
        lines), ``inspectors`` (sorted names joined by ``", "``) and
        ``coverage_ratio`` (covered share of a polygon target; NaN for points
        and when coverage is unknown).
    by_community, by_cadre : pandas.DataFrame
        Roll-ups keyed by ``community_code`` / ``cadre``: ``grids``,
        ``area_m2``, ``covered_m2``, ``uncovered_m2``, ``coverage_ratio``,
        ``dead_corners``; a sum over any unknown grid is NaN / NA.
    streets : geopandas.GeoDataFrame or None
        None when no streets were given; else EPSG:4326, one row per input
        street in input order with its index and columns (``street_name``,
        ``street_chief``, ...), plus ``length_m``, ``covered_m`` (length within
        ``radius_m`` of the swept path), ``coverage_ratio`` (0 to 1) and
        ``dead_stretches`` (count, nullable ``Int64``); the geometry is the
        street line. When coverage is unknown all but ``length_m`` are NaN / NA.
    dead_stretches : geopandas.GeoDataFrame or None
        None when no streets were given; else EPSG:4326 (Multi)LineStrings of
        unswept street of at least ``min_dead_stretch_m``: ``stretch_id``
        (``"<street_name>-01"``, longest first), ``street_name``,
        ``street_chief``, ``length_m``, and a walk-to point on the stretch (at
        its middle by length) in WGS84 (``lon``, ``lat``) and GCJ-02
        (``lon_gcj02``, ``lat_gcj02``); sorted by street (input order), then
        length descending. Empty (same columns) when coverage is unknown.
    by_street_chief : pandas.DataFrame or None
        None when no streets were given; else keyed by ``street_chief``:
        ``streets``, ``length_m``, ``covered_m``, ``coverage_ratio``,
        ``dead_stretches``; a sum over any unknown street is NaN / NA.
    by_area : pandas.DataFrame or None
        Keyed by the grids' ``area_code`` (empty with these columns when the
        grids have none): ``name``, ``leader`` (from the ``areas`` layer when
        given, else NaN), ``grids``, ``area_m2``, ``covered_m2``,
        ``uncovered_m2``, ``coverage_ratio`` (area-weighted), ``dead_corners``;
        the same rules as `by_community`.
    stats : dict
        Counts ``fixes_in``, ``no_position``, ``no_time``, ``no_inspector``,
        ``outside_window``, ``duplicates``, ``fixes_used`` (these add up:
        ``fixes_in`` is the sum of the others, each fix counted once under the
        first reason in that order), ``outside_grids`` (used fixes farther than
        ``radius_m`` from every grid, reported, not an error),
        ``isolated_fixes``, ``breaks_gap``, ``breaks_speed``, ``lines``
        (LineString tracks); and ``radius_m``, ``cell_m``, ``start``, ``end``
        (ISO text or None), ``metric_crs``; ``coverage_known`` (False when
        no fix and no track line was used: every figure is then unknown).
    message : str or None
        A sentence when something needs saying: that the time window holds
        no usable fix, so coverage is unknown (no data), with how to check
        (the window, the tracks layer); also logged as a warning.
    streets : geopandas.GeoDataFrame or None
        None when no streets were given; else EPSG:4326, one row per street in
        input order with its index and columns (``street_name``,
        ``street_chief``, ...), plus ``length_m``, ``covered_m`` (the length of
        the street within ``radius_m`` of the swept path, exact: see
        :mod:`~gridmap.analysis._coverage_streets`), ``coverage_ratio``
        (``covered_m / length_m``, NaN for a street of no length) and
        ``dead_stretches`` (count, nullable ``Int64``). Street coverage is per
        street: a street outside every grid counts all the same. When coverage
        is unknown all but ``length_m`` are NaN / NA.
    dead_stretches : geopandas.GeoDataFrame or None
        None when no streets were given; else EPSG:4326 lines, the unreached
        pieces of each street of at least ``min_dead_stretch_m`` (a piece runs
        on across the street's vertices, never from one part of a
        MultiLineString to another): ``stretch_id`` (``"<street_name>-01"``,
        longest first), ``street_name``, ``street_chief``, ``length_m`` and a
        walk-to point on the stretch at its middle by length, in WGS84 (``lon``,
        ``lat``) and GCJ-02 (``lon_gcj02``, ``lat_gcj02``); sorted by street
        (input order), then length descending. Empty (same columns) when
        coverage is unknown.
    by_street_chief : pandas.DataFrame or None
        None when no streets were given; else per ``street_chief``:
        ``streets``, ``length_m``, ``covered_m``, ``coverage_ratio``
        (length-weighted), ``dead_stretches``; a sum over an unknown street is
        NaN / NA.
    by_area : pandas.DataFrame or None
        Per ``area_code`` of the grids (the area leaders' roll-up, 领导包片):
        ``area_code``, ``name`` and ``leader`` (from `areas`, NaN without),
        ``grids``, ``area_m2``, ``covered_m2``, ``uncovered_m2``,
        ``coverage_ratio`` (area-weighted: ``covered_m2 / area_m2``) and
        ``dead_corners``, by the rules of ``by_community``; empty with these
        columns when the grids have no ``area_code``. None only for results
        built without it.
    """

    grids: gpd.GeoDataFrame
    dead_corners: gpd.GeoDataFrame
    covered: gpd.GeoDataFrame
    targets: gpd.GeoDataFrame | None
    by_community: pd.DataFrame
    by_cadre: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    streets: gpd.GeoDataFrame | None = None
    dead_stretches: gpd.GeoDataFrame | None = None
    by_street_chief: pd.DataFrame | None = None
    by_area: pd.DataFrame | None = None

    def to_csv(self, path: str | PathLike[str]) -> Path:
        """Write one row per grid as CSV for Excel (UTF-8 with BOM).

        Columns: those of :data:`CSV_COLUMNS` the grids have (no phone
        numbers). Written by :func:`gridmap.export.spreadsheet.write_csv`: text cells
        starting with ``= + - @``, a tab, a carriage return or a line feed get a
        leading apostrophe (OWASP CSV injection rule) and are quoted; numbers
        stay unquoted numbers.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from gridmap.sample import sample_boundaries, sample_tracks
        >>> b = sample_boundaries()
        >>> r = sweep_coverage(b["grids"], sample_tracks(b, n_fixes=500, days=1))
        >>> out = r.to_csv(pathlib.Path(tempfile.mkdtemp()) / "coverage.csv")
        >>> out.read_text(encoding="utf-8-sig").splitlines()[0]
        'grid_code,name,community_code,cadre,area_code,area_m2,covered_m2,uncovered_m2,coverage_ratio,dead_corners'
        """
        columns = [c for c in CSV_COLUMNS if c in self.grids.columns]
        return write_csv(pd.DataFrame(self.grids[columns]), path)

    def dead_corners_geojson(self, path: str | PathLike[str]) -> Path:
        """Write the dead corners as RFC 7946 GeoJSON (WGS84, counter-clockwise exteriors, 7 decimals).

        Examples
        --------
        >>> import json, tempfile, pathlib
        >>> from gridmap.sample import sample_boundaries, sample_tracks
        >>> b = sample_boundaries()
        >>> r = sweep_coverage(b["grids"], sample_tracks(b, n_fixes=500, days=1))
        >>> out = r.dead_corners_geojson(pathlib.Path(tempfile.mkdtemp()) / "dead.geojson")
        >>> data = json.loads(out.read_text(encoding="utf-8"))
        >>> data["type"], len(data["features"]) == len(r.dead_corners)
        ('FeatureCollection', True)
        """
        out = Path(path)
        out.write_text(_geojson_text(self.dead_corners), encoding="utf-8")
        return out

    def streets_to_csv(self, path: str | PathLike[str]) -> Path:
        """Write one row per street as CSV for Excel (UTF-8 with BOM), like :meth:`to_csv`.

        Columns: ``street_name``, ``street_chief``, ``length_m``, ``covered_m``, ``coverage_ratio``,
        ``dead_stretches``. Raises SchemaError when the run had no streets.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from gridmap.sample import sample_boundaries, sample_tracks
        >>> b = sample_boundaries()
        >>> r = sweep_coverage(b["grids"], sample_tracks(b, n_fixes=500, days=1), streets=b["streets"])
        >>> out = r.streets_to_csv(pathlib.Path(tempfile.mkdtemp()) / "streets.csv")
        >>> out.read_text(encoding="utf-8-sig").splitlines()[0]
        'street_name,street_chief,length_m,covered_m,coverage_ratio,dead_stretches'
        """
        streets = self._require_streets(self.streets)
        columns = [c for c in STREET_CSV_COLUMNS if c in streets.columns]
        return write_csv(pd.DataFrame(streets[columns]), path)

    def dead_stretches_geojson(self, path: str | PathLike[str]) -> Path:
        """Write the dead stretches as RFC 7946 GeoJSON lines (WGS84, 7 decimals); SchemaError without streets.

        Examples
        --------
        >>> import json, tempfile, pathlib
        >>> from gridmap.sample import sample_boundaries, sample_tracks
        >>> b = sample_boundaries()
        >>> r = sweep_coverage(b["grids"], sample_tracks(b, n_fixes=500, days=1), streets=b["streets"])
        >>> out = r.dead_stretches_geojson(pathlib.Path(tempfile.mkdtemp()) / "stretches.geojson")
        >>> len(json.loads(out.read_text(encoding="utf-8"))["features"]) == len(r.dead_stretches)
        True
        """
        out = Path(path)
        stretches = self._require_streets(self.dead_stretches)
        out.write_text(_geojson_text(stretches, DEAD_STRETCH_COLUMNS), encoding="utf-8")
        return out

    @staticmethod
    def _require_streets(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
        if frame is None:
            raise SchemaError("this coverage was measured without streets: give sweep_coverage(..., streets=...)"
                              " (the workspace's streets layer)")
        return frame


# ---------------------------------------------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------------------------------------------


def reach_m(radius_m: float = 30.0, max_gap_s: float = 300.0, max_speed_mps: float = 8.0) -> float:
    """How far from a grid a GPS fix can lie and still change the grid's coverage (:func:`sweep_coverage` with
    these options): the radius swept around a path plus the longest path piece (a piece joins two fixes at most
    `max_gap_s` apart at no more than `max_speed_mps`). A store reading one subdistrict's fixes reads those
    within this distance of its grids' box (:class:`gridmap.storage.LayerReads`).

    Examples
    --------
    >>> reach_m()
    2430.0
    """
    return float(radius_m) + float(max_gap_s) * float(max_speed_mps)


def sweep_coverage(
    grids: gpd.GeoDataFrame,
    tracks: gpd.GeoDataFrame | str | PathLike[str] | Any,
    *,
    radius_m: float = 30.0,
    targets: gpd.GeoDataFrame | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    min_dead_corner_m2: float = 100.0,
    max_gap_s: float = 300.0,
    max_speed_mps: float = 8.0,
    cell_m: float | None = None,
    progress: bool = False,
    workers: int | None = None,
    streets: gpd.GeoDataFrame | None = None,
    areas: pd.DataFrame | None = None,
    min_dead_stretch_m: float = 20.0,
) -> CoverageResult:
    """Measure which share of each grid the inspectors' sweep reached.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid polygons with ``grid_code`` and ``community_code`` (``cadre`` and
        other columns are kept), in any CRS. Not modified.
    tracks : geopandas.GeoDataFrame
        GPS fixes (points) with ``inspector`` and ``time`` (zone-aware, or
        naive = Asia/Shanghai), and/or LineStrings, each a walked path (no time
        needed, ``inspector`` optional; the time window does not apply to
        them), in any CRS. Not modified. Also a dask-geopandas GeoDataFrame of the same, or an archive
        directory (str or os.PathLike, :func:`gridmap.archive.archive_layer`: its ``tracks`` of the days of
        the window, only the fixes within :func:`reach_m` of the grids' box, read without a geometry object
        per fix; ``stats`` count the fixes read): then the run is a Dask graph on the active scheduler (a
        default ``distributed.Client``, or ``dask.config``), one task per partition (a day of the archive),
        and gives the in-memory answer on the same fixes. A frame's partitions must not overlap in time per
        inspector (a path crossing from one partition into the next is joined as in memory). Needs
        ``pip install 'gridmap[dask]'``.
    radius_m : float
        What an inspector sees and reaches around the path, metres (default
        30 m: a courtyard or a stretch of alley seen from its entrance).
    targets : geopandas.GeoDataFrame, optional
        Must-visit places (points or polygons), e.g. the ``targets`` layer.
    start, end : str or pandas.Timestamp, optional
        Keep fixes with ``start <= time < end``; naive = Asia/Shanghai.
    min_dead_corner_m2 : float
        Smallest unreached piece reported as a dead corner (default 100 m²,
        about a 10 m × 10 m patch: smaller slivers are GPS noise, not a place
        someone can be sent to).
    max_gap_s : float
        Longest time between two fixes still joined into one path (default
        300 s = 5 minutes: a longer gap means the phone lost its fix or the
        inspector paused; where they went meanwhile is unknown).
    max_speed_mps : float
        Highest implied speed still joined (default 8 m/s ≈ 29 km/h: above the
        25 km/h limit of e-bikes in GB 17761-2018 and far above walking; a faster
        jump is a GPS error and must not paint a corridor).
    cell_m : float, optional
        Raster cell size, metres. Default ``radius_m / 8`` clamped to
        [0.5, 5] m (3.75 m for 30 m). The band along the coverage edge is
        decided exactly, so the cell size sets speed more than accuracy: on the
        sample, cells of 2, 3, 4 and 5 m all stay within 0.015 % of the grid's
        area of the 1 m answer. The 0.25 % promise holds for cells up to half
        the radius; coarser cells approximate many small discs (lone fixes)
        less well: 25 discs of 8 m in 5 m cells came to 0.28 %.
    progress : bool
        Show a progress bar over grids (``tqdm.auto``: terminal or notebook); on Dask, Dask's progress
        (``distributed.progress`` with a Client, else ``dask.diagnostics.ProgressBar``).
    workers : int, optional
        Threads computing grids at once in memory (default: the machine's cores, at most 4). Grids are
        independent, and numpy, SciPy and GEOS release the GIL. On Dask the scheduler's workers do it.
    streets : geopandas.GeoDataFrame, optional
        Street centre lines (LineString or MultiLineString) with ``street_name`` (``street_chief`` and other
        columns are kept), in any CRS, e.g. the ``streets`` layer: adds :attr:`CoverageResult.streets`,
        ``dead_stretches`` and ``by_street_chief``. Measured in the grids' metric CRS. Not modified. On Dask the
        partitions' covered intervals are united at the end (the in-memory answer), and an archive's fixes
        near the streets are read too.
    areas : pandas.DataFrame, optional
        The areas (片区, e.g. the ``areas`` layer) with ``area_code``, ``name`` and ``leader``: they name the
        rows of :attr:`CoverageResult.by_area` (which sums the grids by their ``area_code``).
    min_dead_stretch_m : float
        Shortest unreached piece of a street reported as a dead stretch (default 20 m: about four shop fronts,
        a place one can be sent to; shorter gaps are the ends of two reaches nearly meeting).

    Returns
    -------
    CoverageResult

    Raises
    ------
    CRSError
        When grids, tracks, targets or streets have no CRS.
    SchemaError
        When ``radius_m`` or another limit is not a positive number, when
        columns are missing, when tracks hold geometries that are neither
        points nor lines, when streets hold geometries that are not lines or
        lack ``street_name``, when a Dask frame's partitions overlap in time
        for one inspector, or when an archive holds no day of the window.
    GridmapError
        When `tracks` is a Dask frame or an archive and Dask is not installed.

    Examples
    --------
    >>> from gridmap.sample import sample_boundaries, sample_tracks
    >>> b = sample_boundaries()
    >>> tracks = sample_tracks(b, n_fixes=3000, days=1)
    >>> r = sweep_coverage(b["grids"], tracks, targets=b["targets"], start="2025-03-03")
    >>> r.stats["fixes_in"] == 3000, r.targets["visited"].dtype
    (True, BooleanDtype)
    >>> r2 = sweep_coverage(b["grids"], tracks, start="2024-01-01", end="2024-01-02")
    >>> r2.message.split(";")[0]
    'no GPS fixes between 2024-01-01T00:00:00+08:00 and 2024-01-02T00:00:00+08:00: coverage is unknown (no data), not 0'
    >>> r2.stats["coverage_known"], bool(r2.grids["coverage_ratio"].isna().all()), len(r2.dead_corners)
    (False, True, 0)
    >>> sweep_coverage(b["grids"], tracks, radius_m=0)
    Traceback (most recent call last):
    gridmap.errors.SchemaError: radius_m must be a positive number of metres...

    Streets and areas: each street's swept length, its dead stretches, the street chiefs and the area leaders.

    >>> r3 = sweep_coverage(b["grids"], tracks, streets=b["streets"], areas=b["areas"])
    >>> bool((r3.streets["covered_m"] <= r3.streets["length_m"]).all()), len(r3.streets) == len(b["streets"])
    (True, True)
    >>> list(r3.dead_stretches.columns[:4])
    ['stretch_id', 'street_name', 'street_chief', 'length_m']
    >>> list(r3.by_area["area_code"]) == sorted(b["areas"]["area_code"]), list(r3.by_area.columns[:3])
    (True, ['area_code', 'name', 'leader'])
    """
    cell = _check_options(radius_m, cell_m, min_dead_corner_m2, max_gap_s, max_speed_mps)
    require_crs(grids, what="grids")
    if targets is not None:
        require_crs(targets, what="targets")
    _require_columns(grids, ("grid_code", "community_code"), what="grids")
    min_stretch = _positive(min_dead_stretch_m, "min_dead_stretch_m", "metres (the shortest dead stretch reported)")
    if streets is not None:
        require_crs(streets, what="streets")
        check_streets(streets)
    window = (_parse_bound(start, "start"), _parse_bound(end, "end"))
    crs = metric_crs(grids)
    grid_geoms = _metric_polygons(grids, crs)
    target_geoms = None if targets is None else _target_geometries(targets, crs)
    street_segs = None if streets is None else street_segments(streets, crs)
    limits = dict(radius=float(radius_m), cell=cell, max_gap_s=float(max_gap_s), max_speed_mps=float(max_speed_mps))
    if not is_partitioned(tracks):  # a Dask frame's partitions are checked by their tasks
        require_crs(tracks, what="tracks")
    if is_partitioned(tracks):  # a Dask frame or an archive: partitioned_run imports dask itself
        run = partitioned_run(grid_geoms, tracks, target_geoms, crs, window, progress=progress,
                              street_segs=street_segs, **limits)
    else:
        run = _in_memory_run(grid_geoms, tracks, target_geoms, crs, window, workers=workers, progress=progress,
                             street_segs=street_segs, **limits)
    stats = run.stats
    stats.update(radius_m=float(radius_m), cell_m=cell, start=_iso(window[0]), end=_iso(window[1]),
                 metric_crs=crs.to_string(), coverage_known=run.known)
    message = None if run.known else _no_data_message(window, stats)
    target_frame = None
    if targets is not None and run.visits is not None and run.ratio is not None:
        target_frame = _targets(targets, run.visits, run.ratio, known=run.known)
    result = _assemble(grids, grid_geoms, run.measured, target_frame, crs, min_m2=min_dead_corner_m2, stats=stats,
                       message=message)
    result.by_area = area_rollup(result.grids, areas)
    if streets is not None and street_segs is not None:
        result.streets, result.dead_stretches, result.by_street_chief = street_tables(
            streets, street_segs, run.streets, crs, min_m=min_stretch, known=run.known)
    return result


def _in_memory_run(grid_geoms: np.ndarray, tracks: gpd.GeoDataFrame, target_geoms: np.ndarray | None,
                   crs: pyproj.CRS, window: tuple[pd.Timestamp | None, pd.Timestamp | None], *, radius: float,
                   cell: float, max_gap_s: float, max_speed_mps: float, workers: int | None, progress: bool,
                   street_segs: _Segments | None = None) -> _Run:
    """Every grid's cover from fixes in memory, grid by grid on threads."""
    stats: dict[str, Any] = {}
    kinds = _geometry_kinds(tracks)
    fixes = _prepare_fixes(tracks, crs, window, stats, kinds)
    paths = _segments(fixes, _lines(tracks, crs, kinds), max_gap_s=max_gap_s, max_speed_mps=max_speed_mps, stats=stats)
    stats["outside_grids"] = _outside_grids(fixes.xy, grid_geoms, radius)
    per_grid = _cover_grids(grid_geoms, paths, radius, cell, workers=workers, progress=progress)
    visits = ratio = None
    if target_geoms is not None:
        visits = _target_hits(target_geoms, fixes, paths.lines, paths.line_inspectors, radius)
        ratio = _target_ratios(target_geoms, paths, radius, cell)
    on_streets = None if street_segs is None else reach_intervals(street_segs, paths.a, paths.b, radius)
    return _Run(_Measured.of(per_grid), stats, len(paths.a) > 0, visits, ratio, on_streets)


# ---------------------------------------------------------------------------------------------------------------
# options and inputs
# ---------------------------------------------------------------------------------------------------------------


def _positive(value: Any, name: str, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (math.isfinite(number) and number > 0):
        raise SchemaError(f"{name} must be a positive number of {what}, got {value!r}; e.g. {name}=30")
    return number


def _check_options(radius_m: float, cell_m: float | None, min_m2: float, max_gap_s: float,
                   max_speed_mps: float) -> float:
    """Check the numeric options; return the cell size."""
    radius = _positive(radius_m, "radius_m", "metres (the distance an inspector reaches from the path)")
    _positive(max_gap_s, "max_gap_s", "seconds")
    _positive(max_speed_mps, "max_speed_mps", "metres per second")
    if not (isinstance(min_m2, (int, float)) and math.isfinite(min_m2) and min_m2 >= 0):
        raise SchemaError(f"min_dead_corner_m2 must be a number of square metres >= 0, got {min_m2!r}")
    if cell_m is None:
        return float(min(max(radius / 8.0, 0.5), 5.0))
    return _positive(cell_m, "cell_m", "metres")


def _parse_bound(value: str | pd.Timestamp | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise SchemaError(
            f"{name}={value!r} is not a date or time; give e.g. '2025-03-03' or '2025-03-03 08:00'") from exc
    if stamp is pd.NaT:
        raise SchemaError(f"{name} is empty (NaT); give a date or time or None")
    return stamp.tz_localize(DEFAULT_TZ) if stamp.tzinfo is None else stamp.tz_convert(DEFAULT_TZ)


def _iso(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else stamp.isoformat()


def _metric_polygons(grids: gpd.GeoDataFrame, crs: pyproj.CRS) -> np.ndarray:
    """Grid geometries in the metric CRS, repaired when invalid (with a warning in the log)."""
    geoms = np.asarray(grids.geometry.to_crs(crs).values, dtype=object)
    geoms = np.where(shapely.is_missing(geoms), shapely.Polygon(), geoms)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        logger.warning("%d grid polygon(s) are invalid (%s); measuring their repaired shape", int(invalid.sum()),
                       "; ".join(shapely.is_valid_reason(geoms[invalid])[:3]))
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    return geoms


# ---------------------------------------------------------------------------------------------------------------
# no data, and every grid's cover
# ---------------------------------------------------------------------------------------------------------------


def _no_data_message(window: tuple[pd.Timestamp | None, ...], stats: dict[str, Any]) -> str:
    """The warning for a run without any usable fix or track line: coverage unknown, and how to check why."""
    start, end = window
    if start is not None and end is not None:
        where = f"between {_iso(start)} and {_iso(end)}"
    elif start is not None:
        where = f"from {_iso(start)} on"
    elif end is not None:
        where = f"before {_iso(end)}"
    else:
        where = "in the tracks"
    unusable = stats["no_position"] + stats["no_time"] + stats["no_inspector"]
    text = (f"no GPS fixes {where}: coverage is unknown (no data), not 0; of {stats['fixes_in']} fixes in the"
            f" tracks, {stats['outside_window']} fall outside the time window and {unusable} lack a position, a"
            " time or an inspector; check the window (start/end; on the command line --from/--to, or --since/--until"
            " in gridmap route) and the tracks layer (gridmap info WORKSPACE)")
    logger.warning(text)
    return text


def _cover_grids(grid_geoms: np.ndarray, paths: _Paths, radius: float, cell: float, *, workers: int | None,
                 progress: bool) -> list[_Cover]:
    """Every grid's cover, grid by grid, on `workers` threads (numpy, SciPy and GEOS release the GIL)."""
    count = min(len(grid_geoms), workers or min(4, os.cpu_count() or 1)) or 1
    with ThreadPoolExecutor(max_workers=count) as pool:
        results = pool.map(lambda g: _grid_cover(g, paths, radius, cell), grid_geoms)
        return list(_progress(results, len(grid_geoms), progress))


def _progress(items: Iterable[_Cover], total: int, show: bool) -> Iterable[_Cover]:
    if not show:
        return items
    return tqdm(items, total=total, desc="coverage", unit="grid")


# ---------------------------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------------------------


def _assemble(grids: gpd.GeoDataFrame, grid_geoms: np.ndarray, measured: _Measured,
              target_frame: gpd.GeoDataFrame | None, crs: pyproj.CRS, *, min_m2: float, stats: dict[str, Any],
              message: str | None) -> CoverageResult:
    out = grids.to_crs(STORAGE_CRS)
    if "cadre" not in out.columns:
        out["cadre"] = ""
    known = bool(stats["coverage_known"])
    uncovered = measured.uncovered
    corners = _dead_corners(out, uncovered if known else [], crs, min_m2)
    for column, values in _grid_figures(measured, corners, out["grid_code"], known).items():
        out[column] = values
    covered_geoms = shapely.difference(grid_geoms, np.asarray(uncovered, dtype=object))
    covered_frame = gpd.GeoDataFrame({"grid_code": out["grid_code"].to_numpy()},
                                     geometry=gpd.GeoSeries(covered_geoms, crs=crs).to_crs(STORAGE_CRS).values,
                                     crs=STORAGE_CRS)
    return CoverageResult(out, corners, covered_frame, target_frame, _rollup(out, "community_code"),
                          _rollup(out, "cadre"), stats, message)


def overall_coverage(coverage: "CoverageResult | pd.DataFrame") -> float:
    """The covered share of all the grids together: sum of covered area over sum of area; NaN when unknown.

    Every figure of overall coverage (command line, PNG, briefing, leaders' page) is this one number,
    an area-weighted mean, not the mean of the grids' ratios.

    Parameters
    ----------
    coverage : CoverageResult or pandas.DataFrame
        What :func:`sweep_coverage` returned, or its ``grids`` (``area_m2`` and ``covered_m2`` columns).

    Returns
    -------
    float
        ``sum(covered_m2) / sum(area_m2)``; NaN when the grids have no area, when any grid's
        ``covered_m2`` is NaN, or when a result used no GPS fix and no track line
        (``stats["coverage_known"]`` False: coverage is then unknown, not 0).

    Examples
    --------
    >>> import pandas as pd
    >>> overall_coverage(pd.DataFrame({"area_m2": [100.0, 300.0], "covered_m2": [100.0, 150.0]}))
    0.625
    >>> overall_coverage(pd.DataFrame({"area_m2": [100.0, 300.0], "covered_m2": [float("nan")] * 2}))
    nan
    """
    grids = coverage if isinstance(coverage, pd.DataFrame) else coverage.grids
    stats = {} if isinstance(coverage, pd.DataFrame) else (getattr(coverage, "stats", None) or {})
    used_something = bool(stats.get("fixes_used", 1) or stats.get("lines", 0))
    if not (stats.get("coverage_known", True) and used_something):
        return float("nan")
    covered = grids["covered_m2"].astype(float)
    if covered.isna().any():  # a share of partly unknown ground is unknown
        return float("nan")
    area = float(grids["area_m2"].sum())
    return float(covered.sum()) / area if area > 0 else float("nan")
