"""Grid checks: every piece of ground in exactly one grid, every grid with a cadre.

The campaign's rule for grids is "横向到边、纵向到底": horizontally to every edge,
vertically to the bottom. Spatially that means the grids tile the subdistrict
without gaps or overlaps, each grid lies inside the community it belongs to,
and each has a responsible cadre. :func:`validate_grids` collects every
violation it can find (it never stops at the first) and returns them together
in a :class:`GridCheck`.

Problem kinds
-------------
=================== ===================================================================
kind                what it means
=================== ===================================================================
``invalid``         a geometry that is not valid; the detail is shapely's
                    ``is_valid_reason``. For the area checks it is repaired with
                    ``shapely.make_valid`` (polygonal parts kept), never dropped silently.
``gap``             ground inside the subdistrict (without one: inside the union of the
                    communities) that no grid covers; one row per connected piece, with
                    the grids sharing an edge with it (a shared corner does not count).
``overlap``         ground covered by two grids; one row per pair of grids.
``outside_community`` the part of a grid outside the community whose code it carries,
                    or a grid whose community code matches no community.
``sliver``          a grid that is tiny (area below ``sliver_m2``) or thin: Polsby-Popper
                    compactness ``4πA/P²`` (1 for a disc, π/4 for a square, about 0.03
                    for a 100 m × 1 m strip) below ``sliver_ratio``.
``no_cadre``        a grid whose cadre is missing, empty or only whitespace.
``empty_community`` a community that holds no grid.
=================== ===================================================================

Areas are measured in the metric CRS chosen by :func:`gridmap.crs.metric_crs`;
pieces whose area is at most ``tolerance_m2`` are floating-point noise and are
not reported.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> x, y = 388800, 4240400  # metres in EPSG:4546, Yulin's old town
>>> sub = gpd.GeoDataFrame({"code": ["610802001"]}, geometry=[box(x, y, x + 300, y + 200)], crs=4546)
>>> grids = gpd.GeoDataFrame(
...     {"grid_code": ["g1", "g2"], "cadre": ["王芳", " "]},
...     geometry=[box(x, y, x + 150, y + 200), box(x + 150, y, x + 290, y + 200)], crs=4546)
>>> check = validate_grids(grids, subdistrict=sub)
>>> check.ok
False
>>> check.problems[["kind", "grids", "area_m2"]]
       kind grids  area_m2
0       gap  [g2]   2000.0
1  no_cadre  [g2]      NaN
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from gridmap.errors import SchemaError
from gridmap.analysis.inputs import LayerReader
from gridmap.crs import metric_crs, require_crs

__all__ = ["PROBLEM_KINDS", "TERRITORIES", "GridCheck", "validate_grids"]

logger = logging.getLogger(__name__)

#: Problem kinds reported by :func:`validate_grids`, in report order, with what each means.
PROBLEM_KINDS: dict[str, str] = {
    "invalid": "a geometry that is not valid",
    "gap": "ground that no grid covers",
    "overlap": "ground covered by two grids",
    "outside_community": "a grid (partly) outside its community",
    "sliver": "a tiny or thin grid",
    "no_cadre": "a grid without a responsible cadre",
    "empty_community": "a community without grids",
}

#: What `territory` of :func:`validate_grids` may be: None (subdistrict, else communities) or "union".
TERRITORIES = (None, "union")
_UNION_TERRITORY = "the outline of the grids' union"
_NO_TERRITORY = ("no subdistrict or communities layer to look for gaps in; import one, or look for holes inside the "
                 "outline of the grids' union with territory='union' (gridmap validate --territory union)")
_NO_COMMUNITIES = "no communities layer"

_COLUMNS = ["kind", "grids", "area_m2", "detail"]
# A grid touches a gap when more than _TOUCH_LENGTH_M metres of its boundary lie within
# _TOUCH_M metres of the gap (a shared edge, not a shared corner).
_TOUCH_M = 0.01
_TOUCH_LENGTH_M = 0.1


@dataclass
class GridCheck:
    """The problems found by :func:`validate_grids`.

    Attributes
    ----------
    problems : geopandas.GeoDataFrame
        One row per problem, columns ``kind`` (see :data:`PROBLEM_KINDS`),
        ``grids`` (a list of grid codes), ``area_m2`` (float, NaN where the
        problem has no area), ``detail`` (an English sentence saying what is
        wrong) and ``geometry`` (where: the problem piece or the grid or
        community concerned, EPSG:4326).
    crs : pyproj.CRS or None
        The metric CRS the areas were measured in.
    checks_run : list of str
        The problem kinds that were looked for, in :data:`PROBLEM_KINDS` order.
    checks_skipped : list of dict
        ``{"check": kind, "reason": why}`` for each kind that could not be looked for.
    territory : str or None
        What gaps were looked for inside: ``"subdistrict"``, ``"communities"``,
        ``"the outline of the grids' union"``, or None when the gap check was skipped.
    """

    problems: gpd.GeoDataFrame
    crs: pyproj.CRS | None = field(default=None)
    checks_run: list[str] = field(default_factory=lambda: list(PROBLEM_KINDS))
    checks_skipped: list[dict[str, str]] = field(default_factory=list)
    territory: str | None = None

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return len(self.problems) == 0

    def summary(self) -> dict[str, int]:
        """Number of problems of each kind (every kind listed, zeros included).

        Examples
        --------
        >>> GridCheck(_empty_problems()).summary()["gap"]
        0
        """
        counts = self.problems["kind"].value_counts()
        return {kind: int(counts.get(kind, 0)) for kind in PROBLEM_KINDS}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form: ``{"ok", "problems", "checks_run", "checks_skipped", "territory"}``.

        Each problem is ``{kind, grids, area_m2, detail, lon, lat}`` with
        ``area_m2`` None where there is no area and lon/lat a representative
        point of its location (None when it has none). ``ok`` says no problem
        was found by the checks that ran; read ``checks_skipped`` too.

        Examples
        --------
        >>> d = GridCheck(_empty_problems(), checks_run=["overlap"],
        ...               checks_skipped=[{"check": "gap", "reason": "no subdistrict"}]).to_dict()
        >>> d["ok"], d["checks_run"], d["checks_skipped"], d["territory"]
        (True, ['overlap'], [{'check': 'gap', 'reason': 'no subdistrict'}], None)
        """
        return {"ok": self.ok, "problems": [_problem_dict(row) for row in self.problems.itertuples(index=False)],
                "checks_run": list(self.checks_run), "checks_skipped": [dict(s) for s in self.checks_skipped],
                "territory": self.territory}


def _problem_dict(row: Any) -> dict[str, Any]:
    area = float(row.area_m2)
    geom = row.geometry
    lon = lat = None
    if geom is not None and not geom.is_empty:
        point = geom.representative_point()
        lon, lat = float(point.x), float(point.y)
    return {
        "kind": str(row.kind),
        "grids": [str(code) for code in row.grids],
        "area_m2": None if math.isnan(area) else area,
        "detail": str(row.detail),
        "lon": lon,
        "lat": lat,
    }


def _empty_problems() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in _COLUMNS}, geometry=[], crs=4326).astype(
        {"area_m2": "float64"}
    )


def _problem(kind: str, grids: list[str], area: float, detail: str, geom: BaseGeometry | None) -> dict[str, Any]:
    return {"kind": kind, "grids": list(grids), "area_m2": float(area), "detail": detail, "geometry": geom}


# --- preparing the inputs ---------------------------------------------------------------------------

def _load(frame: gpd.GeoDataFrame | None, workspace: LayerReader | None, layer: str,
          *, keep_empty: bool = False) -> gpd.GeoDataFrame | None:
    """The layer given or read from the workspace; None when absent (or empty, unless `keep_empty`)."""
    if frame is None and workspace is not None:
        frame = workspace.read_layer(layer)
    if frame is None or (len(frame) == 0 and not keep_empty):
        return None
    require_crs(frame, what=f"the {layer} layer")
    return frame


def _need_column(frame: gpd.GeoDataFrame, column: str, layer: str) -> None:
    if column not in frame.columns:
        raise SchemaError(
            f"the {layer} layer has no {column!r} column (columns: {', '.join(map(str, frame.columns))});"
            f" rename the column holding the {column.replace('_', ' ')} to {column!r}"
        )


def _codes(frame: gpd.GeoDataFrame, column: str) -> list[str]:
    """Codes as strings; a missing code is named by the row's index label."""
    return [str(v).strip() if _filled(v) else f"row {idx}" for idx, v in zip(frame.index, frame[column])]


def _filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    try:
        if pd.isna(value):
            return False
    except (TypeError, ValueError):
        pass
    return str(value).strip() != ""


def _polygonal(geom: BaseGeometry | None) -> BaseGeometry | None:
    """The valid polygonal part of a geometry (repaired when invalid), or None when there is none."""
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    merged = shapely.union_all(parts)
    return None if merged.is_empty or merged.area == 0 else merged


def _metric(frame: gpd.GeoDataFrame, crs: pyproj.CRS) -> list[BaseGeometry | None]:
    return [_polygonal(g) for g in frame.geometry.to_crs(crs)]


def _to_wgs84(geom: BaseGeometry | None, crs: pyproj.CRS) -> BaseGeometry | None:
    if geom is None:
        return None
    return gpd.GeoSeries([geom], crs=crs).to_crs(4326).iloc[0]


# --- the checks -------------------------------------------------------------------------------------

def _invalid(frame: gpd.GeoDataFrame, names: list[str], layer: str, *, grid_layer: bool) -> list[dict[str, Any]]:
    rows = []
    geoms = frame.geometry.to_crs(4326)
    for name, original, shown in zip(names, frame.geometry, geoms):
        if original is None or original.is_empty:
            reason = "it has no geometry (missing or empty); draw its boundary"
        elif not original.is_valid:
            reason = (f"its geometry is invalid: {shapely.is_valid_reason(original)}; fix the boundary"
                      " (e.g. remove the self-intersection) in a GIS")
        else:
            continue
        label = f"grid {name}" if grid_layer else f"{layer} {name}"
        rows.append(_problem("invalid", [name] if grid_layer else [], math.nan, f"{label}: {reason}", shown))
    return rows


def _gaps(region: BaseGeometry, grids: list[BaseGeometry | None], codes: list[str], crs: pyproj.CRS,
          *, region_name: str, tolerance: float) -> list[dict[str, Any]]:
    present = [g for g in grids if g is not None]
    covered = shapely.union_all(present) if present else shapely.Polygon()
    uncovered = region.difference(covered)
    tree = shapely.STRtree(np.array(grids, dtype=object))
    rows = []
    for piece in shapely.get_parts(uncovered):
        if piece.geom_type != "Polygon" or piece.area <= tolerance:
            continue
        touching = _touching(piece, grids, codes, tree)
        detail = (f"{piece.area:.1f} m² inside the {region_name} is in no grid"
                  f"{' (next to ' + ', '.join(touching) + ')' if touching else ''}; extend a grid to cover it")
        rows.append(_problem("gap", touching, piece.area, detail, _to_wgs84(piece, crs)))
    return rows


def _touching(piece: BaseGeometry, grids: list[BaseGeometry | None], codes: list[str],
              tree: shapely.STRtree) -> list[str]:
    """Codes of the grids sharing an edge (not only a corner) with `piece`, in input order."""
    near = sorted(int(i) for i in tree.query(piece, predicate="dwithin", distance=_TOUCH_M))
    zone = piece.buffer(_TOUCH_M)
    # the tree holds only the grids that have a geometry, so grids[i] is never None here
    return [codes[i] for i in near
            if cast(BaseGeometry, grids[i]).boundary.intersection(zone).length > _TOUCH_LENGTH_M]


def _overlaps(grids: list[BaseGeometry | None], codes: list[str], crs: pyproj.CRS,
              *, tolerance: float) -> list[dict[str, Any]]:
    tree = shapely.STRtree(np.array(grids, dtype=object))
    rows = []
    left, right = tree.query(np.array(grids, dtype=object), predicate="intersects")
    for i, j in sorted({(int(a), int(b)) for a, b in zip(left, right) if a < b}):
        shared = _polygonal(cast(BaseGeometry, grids[i]).intersection(grids[j]))  # i, j come from the tree
        if shared is None or shared.area <= tolerance:
            continue
        detail = (f"grids {codes[i]} and {codes[j]} overlap by {shared.area:.1f} m²;"
                  " give the shared ground to one of them")
        rows.append(_problem("overlap", [codes[i], codes[j]], shared.area, detail, _to_wgs84(shared, crs)))
    return rows


def _outside_community(grids: list[BaseGeometry | None], codes: list[str], community_of: list[str | None],
                       communities: dict[str, BaseGeometry | None], shown: gpd.GeoSeries, crs: pyproj.CRS,
                       *, tolerance: float) -> list[dict[str, Any]]:
    rows = []
    for geom, code, owner, where in zip(grids, codes, community_of, shown):
        if owner is None or owner not in communities:
            named = "no community code" if owner is None else f"community code {owner!r}, which is not in the"
            detail = (f"grid {code} has {named}{' communities layer' if owner is not None else ''};"
                      " set its community_code to one of the communities")
            rows.append(_problem("outside_community", [code], math.nan, detail, where))
            continue
        home = communities[owner]
        if geom is None or home is None:
            continue
        outside = _polygonal(geom.difference(home))
        if outside is not None and outside.area > tolerance:
            detail = (f"{outside.area:.1f} m² of grid {code} lie outside its community {owner};"
                      " move the boundary or change its community_code")
            rows.append(_problem("outside_community", [code], outside.area, detail, _to_wgs84(outside, crs)))
    return rows


def _slivers(grids: list[BaseGeometry | None], codes: list[str], shown: gpd.GeoSeries,
             *, sliver_m2: float, sliver_ratio: float) -> list[dict[str, Any]]:
    rows = []
    for geom, code, where in zip(grids, codes, shown):
        if geom is None:
            continue
        area, perimeter = geom.area, geom.length
        compactness = 4.0 * math.pi * area / perimeter**2 if perimeter > 0 else 0.0
        if area < sliver_m2:
            why = f"is tiny: {area:.2f} m² (below {sliver_m2:g} m²)"
        elif compactness < sliver_ratio:
            why = f"is thin: compactness 4πA/P² = {compactness:.3f} (below {sliver_ratio:g})"
        else:
            continue
        detail = f"grid {code} {why}; it is probably a digitising error: merge it into a neighbour"
        rows.append(_problem("sliver", [code], area, detail, where))
    return rows


def _no_cadre(frame: gpd.GeoDataFrame, codes: list[str], shown: gpd.GeoSeries) -> list[dict[str, Any]]:
    cadres = frame["cadre"] if "cadre" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
    return [
        _problem("no_cadre", [code], math.nan,
                 f"grid {code} has no responsible cadre; fill in its cadre (驻组干部)", where)
        for code, cadre, where in zip(codes, cadres, shown)
        if not _filled(cadre)
    ]


def _empty_communities(communities: gpd.GeoDataFrame, names: list[str], used: set[str]) -> list[dict[str, Any]]:
    shown = communities.geometry.to_crs(4326)
    return [
        _problem("empty_community", [], math.nan,
                 f"community {name} has no grid; divide it into grids or assign grids to it", where)
        for name, where in zip(names, shown)
        if name not in used
    ]


# --- the whole ---------------------------------------------------------------------------------------

def _community_shapes(communities: gpd.GeoDataFrame, names: list[str], crs: pyproj.CRS) -> dict[str, Any]:
    shapes: dict[str, list[BaseGeometry]] = {}
    for name, geom in zip(names, _metric(communities, crs)):
        shapes.setdefault(name, [])
        if geom is not None:
            shapes[name].append(geom)
    return {name: (shapely.union_all(parts) if parts else None) for name, parts in shapes.items()}


def _coverage_region(subdistrict: gpd.GeoDataFrame | None, communities: dict[str, Any] | None,
                     crs: pyproj.CRS, grids: list[BaseGeometry | None], territory: str | None
                     ) -> tuple[BaseGeometry | None, str]:
    if subdistrict is not None:
        parts = [g for g in _metric(subdistrict, crs) if g is not None]
        return (shapely.union_all(parts) if parts else None), "subdistrict"
    if communities:
        parts = [g for g in communities.values() if g is not None]
        return (shapely.union_all(parts) if parts else None), "communities"
    if territory == "union":
        return _union_outline(grids), _UNION_TERRITORY
    return None, ""


def _union_outline(grids: list[BaseGeometry | None]) -> BaseGeometry | None:
    """The union of the grids with its holes filled: ground enclosed by grids counts as territory."""
    present = [g for g in grids if g is not None]
    if not present:
        return None
    union = shapely.union_all(present)
    return shapely.union_all([shapely.Polygon(part.exterior) for part in shapely.get_parts(union)
                              if part.geom_type == "Polygon"])


def _check_options(sliver_m2: float, sliver_ratio: float, tolerance_m2: float) -> None:
    for name, value in (("sliver_m2", sliver_m2), ("sliver_ratio", sliver_ratio), ("tolerance_m2", tolerance_m2)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise SchemaError(f"{name} must be a finite number >= 0, got {value!r}")


def validate_grids(
    grids: gpd.GeoDataFrame | None = None,
    *,
    communities: gpd.GeoDataFrame | None = None,
    subdistrict: gpd.GeoDataFrame | None = None,
    workspace: LayerReader | None = None,
    sliver_m2: float = 1.0,
    sliver_ratio: float = 0.05,
    tolerance_m2: float = 0.01,
    territory: str | None = None,
) -> GridCheck:
    """Check that grids tile the subdistrict and each has a cadre ("横向到边、纵向到底").

    Parameters
    ----------
    grids : geopandas.GeoDataFrame, optional
        Grid polygons in any CRS with a ``grid_code`` column, a ``cadre``
        column (a grid without it has no cadre) and, when `communities` is
        given, a ``community_code`` column. Read from `workspace` when None.
    communities : geopandas.GeoDataFrame, optional
        Community polygons with a ``community_code`` column. Without them the
        ``outside_community`` and ``empty_community`` checks are skipped.
    subdistrict : geopandas.GeoDataFrame, optional
        The subdistrict's polygon(s). Gaps are looked for inside it, or, without
        it, inside the union of the communities; without either, not at all.
    workspace : object with ``read_layer(name)``, optional
        Source of the ``grids``, ``communities`` and ``subdistrict`` layers not
        given as frames.
    sliver_m2 : float
        A grid with a smaller area (m²) is a sliver.
    sliver_ratio : float
        A grid with a smaller Polsby-Popper compactness ``4πA/P²`` is a sliver.
    tolerance_m2 : float
        Gap, overlap and outside pieces of at most this area (m²) are ignored.
    territory : {None, "union"}
        Where to look for gaps when there is neither a subdistrict nor
        communities: None (default) skips the gap check and says so in
        ``checks_skipped``; ``"union"`` looks for holes inside the outline of
        the grids' union (a warning is logged: ground outside every grid at the
        edge cannot be found that way). With a subdistrict or communities it
        changes nothing.

    Returns
    -------
    GridCheck
        Every problem found; the inputs are not modified.

    Raises
    ------
    CRSError
        When a layer has no CRS.
    SchemaError
        When neither `grids` nor `workspace` is given, a needed column is
        missing, or an option is negative.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> x, y = 388800, 4240400  # metres in EPSG:4546, Yulin's old town
    >>> grids = gpd.GeoDataFrame(
    ...     {"grid_code": ["g1", "g2"], "cadre": ["李强", "张伟"]},
    ...     geometry=[box(x, y, x + 100, y + 100), box(x + 90, y, x + 200, y + 100)], crs=4546)
    >>> check = validate_grids(grids)
    >>> check.summary()["overlap"], round(float(check.problems.area_m2.iloc[0]), 6)
    (1, 1000.0)
    """
    _check_options(sliver_m2, sliver_ratio, tolerance_m2)
    if territory not in TERRITORIES:
        raise SchemaError(f"territory must be None or 'union', got {territory!r}")
    if grids is None and workspace is None:
        raise SchemaError("validate_grids needs the grids: pass grids=<GeoDataFrame> or workspace=<Workspace>")
    grid_frame = _load(grids, workspace, "grids", keep_empty=True)
    community_frame = _load(communities, workspace, "communities")
    subdistrict_frame = _load(subdistrict, workspace, "subdistrict")
    if grid_frame is None:
        grid_frame = gpd.GeoDataFrame({"grid_code": [], "community_code": []}, geometry=[], crs=4326)
    _need_column(grid_frame, "grid_code", "grids")
    if community_frame is not None:
        _need_column(community_frame, "community_code", "communities")
        _need_column(grid_frame, "community_code", "grids")
    anchor = next((f for f in (grid_frame, subdistrict_frame, community_frame) if f is not None and len(f)), None)
    crs = metric_crs(anchor) if anchor is not None else pyproj.CRS.from_epsg(4326)
    rows, region_name = _all_problems(grid_frame, community_frame, subdistrict_frame, crs, territory=territory,
                                      sliver_m2=sliver_m2, sliver_ratio=sliver_ratio, tolerance_m2=tolerance_m2)
    skipped = _skipped(community_frame is not None, region_name)
    problems = gpd.GeoDataFrame(rows, columns=[*_COLUMNS, "geometry"], geometry="geometry", crs=4326) if rows \
        else _empty_problems()
    problems["area_m2"] = problems["area_m2"].astype("float64")
    check = GridCheck(problems.reset_index(drop=True), crs=crs,
                      checks_run=[k for k in PROBLEM_KINDS if k not in {s["check"] for s in skipped}],
                      checks_skipped=skipped, territory=region_name or None)
    logger.info("grid check in %s: %s", crs.name, {k: v for k, v in check.summary().items() if v})
    return check


def _skipped(has_communities: bool, region_name: str) -> list[dict[str, str]]:
    """The checks that could not run, each with why."""
    skipped = [] if region_name else [{"check": "gap", "reason": _NO_TERRITORY}]
    if not has_communities:
        skipped += [{"check": "outside_community", "reason": _NO_COMMUNITIES},
                    {"check": "empty_community", "reason": _NO_COMMUNITIES}]
    return skipped


def _all_problems(grid_frame: gpd.GeoDataFrame, community_frame: gpd.GeoDataFrame | None,
                  subdistrict_frame: gpd.GeoDataFrame | None, crs: pyproj.CRS, *, territory: str | None,
                  sliver_m2: float, sliver_ratio: float, tolerance_m2: float) -> tuple[list[dict[str, Any]], str]:
    codes = _codes(grid_frame, "grid_code")
    metric_grids = _metric(grid_frame, crs)
    shown = grid_frame.geometry.to_crs(4326)
    rows = _invalid(grid_frame, codes, "grids", grid_layer=True)
    community_shapes: dict[str, Any] | None = None
    community_names: list[str] = []
    if community_frame is not None:
        community_names = _codes(community_frame, "community_code")
        community_shapes = _community_shapes(community_frame, community_names, crs)
        rows += _invalid(community_frame, community_names, "community", grid_layer=False)
    if subdistrict_frame is not None:
        names = _codes(subdistrict_frame, "code") if "code" in subdistrict_frame.columns \
            else [str(i) for i in subdistrict_frame.index]
        rows += _invalid(subdistrict_frame, names, "subdistrict", grid_layer=False)
    region, region_name = _coverage_region(subdistrict_frame, community_shapes, crs, metric_grids, territory)
    if region is not None:
        if region_name == _UNION_TERRITORY:
            logger.warning("no subdistrict or communities layer: gaps are looked for inside %s only; ground "
                           "outside every grid at the edge of the territory cannot be found this way", region_name)
        rows += _gaps(region, metric_grids, codes, crs, region_name=region_name, tolerance=tolerance_m2)
    else:
        region_name = ""
        logger.warning("gaps between grids are not checked: %s", _NO_TERRITORY)
    rows += _overlaps(metric_grids, codes, crs, tolerance=tolerance_m2)
    if community_frame is not None and community_shapes is not None:
        owners = [str(v).strip() if _filled(v) else None for v in grid_frame["community_code"]]
        rows += _outside_community(metric_grids, codes, owners, community_shapes, shown, crs,
                                   tolerance=tolerance_m2)
    rows += _slivers(metric_grids, codes, shown, sliver_m2=sliver_m2, sliver_ratio=sliver_ratio)
    rows += _no_cadre(grid_frame, codes, shown)
    if community_frame is not None:
        used = {str(v).strip() for v in grid_frame["community_code"] if _filled(v)}
        rows += _empty_communities(community_frame, community_names, used)
    return rows, region_name
