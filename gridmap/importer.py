"""Import a field file into a workspace: read → prepare → append, nothing lost.

The three stages are separate functions (:func:`gridmap.read`,
:func:`gridmap.prepare`, :meth:`gridmap.Workspace.append`) so a notebook can
look at each; :func:`import_file` chains them the way ``gridmap import`` does.
"""

from __future__ import annotations

import logging
import math
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd

from gridmap._errors import CRSError
from gridmap.model import EXTRA_COLUMN, ImportSummary, layer_spec

if TYPE_CHECKING:  # pragma: no cover
    from gridmap.workspace import Workspace

__all__ = ["import_file"]

logger = logging.getLogger(__name__)

_GRID_ASSIGNED = ("reports", "targets")


def _grids_for(workspace: "Workspace", layer: str) -> Any:
    if layer not in _GRID_ASSIGNED:
        return None
    grids = workspace.read_layer("grids")
    return grids if len(grids) else None


def _rectified_reports(workspace: "Workspace", layer: str) -> dict[str, bool] | None:
    """For ``spotchecks``: every report id of the workspace → whether it was ever rectified.

    Ever rectified: it has a rectification, or a status past ``reported``.
    """
    if layer != "spotchecks":
        return None
    reports = workspace._query("SELECT report_id, status FROM reports")
    fixed = set(workspace._query("SELECT DISTINCT report_id FROM rectifications")["report_id"])
    return {str(rid): (rid in fixed or (isinstance(status, str) and status not in ("", "reported")))
            for rid, status in zip(reports["report_id"], reports["status"])}


def _district_lon(workspace: "Workspace") -> float | None:
    """Longitude of the workspace's subdistrict (else grids) centre, or None when it has neither."""
    for layer in ("subdistrict", "grids"):
        frame = workspace.read_layer(layer)
        if len(frame):
            minx, _, maxx, _ = (float(v) for v in frame.to_crs(4326).total_bounds)
            if math.isfinite(minx) and math.isfinite(maxx):
                return (minx + maxx) / 2.0
    return None


def _check_crs(workspace: "Workspace", result: Any, coords: str | None, *, what: str) -> None:
    """Refuse records without a CRS (saying which --crs to pass) and --coords on projected ones."""
    import geopandas as gpd
    import shapely

    from gridmap.crs import check_coords_for, missing_crs_message

    records = result.records
    if not isinstance(records, gpd.GeoDataFrame):
        return
    if records.crs is None:
        xy = shapely.get_coordinates(records.geometry.to_numpy())
        raise CRSError(missing_crs_message(xy, what=what, near_lon=_district_lon(workspace)))
    check_coords_for(records.crs, coords, what=what)


def _community_codes(workspace: "Workspace", layer: str) -> dict[str, str] | None:
    """Community name → code from the workspace's communities, for a layer that names communities (grids)."""
    if layer == "communities" or "community_code" not in layer_spec(layer).column_names:
        return None
    communities = workspace.read_layer("communities")
    return {str(name).strip(): str(code) for name, code in zip(communities["name"], communities["community_code"])
            if isinstance(name, str) and name.strip() and isinstance(code, str)}


def _header_map(workspace: "Workspace", layer: str, columns: Mapping[str, str] | None) -> dict[str, str]:
    """The stored aliases of `layer` (``gridmap alias``), overridden by the `columns` given for this import."""
    from gridmap.records import check_column_map

    given = check_column_map(layer, columns)  # refused before anything is read
    stored = workspace.column_aliases(layer)
    # a column mapped for this import is filled from that header, not from a stored alias of it
    merged = {str(source): str(target) for source, target in zip(stored["source"], stored["target"])
              if target not in given.values() or target == EXTRA_COLUMN}
    merged.update(given)
    return merged


def _repairs(frame: pd.DataFrame | None) -> list[dict[str, float | None]]:
    if frame is None or len(frame) == 0:
        return []
    cols = ["_record", "area_before_m2", "area_after_m2", "change_pct"]
    # A zero-area bow-tie repaired to a real polygon changes by an infinite percentage: say None.
    return [{k: (int(v) if k == "_record" else float(v) if math.isfinite(v) else None) for k, v in zip(cols, row)}
            for row in frame[cols].itertuples(index=False)]


def import_file(
    workspace: "Workspace | str | PathLike[str]",
    layer: str,
    path: str | PathLike[str],
    *,
    coords: str | None = None,
    encoding: str | None = None,
    source_layer: str | None = None,
    sheet: str | int | None = None,
    header_row: int | None = None,
    crs: object | None = None,
    repair: bool = False,
    defaults: Mapping[str, object] | None = None,
    now: pd.Timestamp | None = None,
    columns: Mapping[str, str] | None = None,
) -> ImportSummary:
    """Import one file into a workspace layer and say what happened.

    Records that cannot be stored go to the workspace's ``quarantine`` table
    with their reason; records already stored (same key) are counted as
    duplicates. The import is one transaction: it lands whole or not at all.

    Spot checks (``spotchecks``, e.g. the checklist CSV of ``gridmap spotcheck``
    filled in) must name a report of the workspace (else ``unknown_report``)
    that was rectified (else ``not_rectified``); in the same transaction each
    report's status follows its latest rectification or spot check.

    Which column of the file fills which model column, first match wins (headers compared
    stripped and lower-cased):

    1. `columns` (``--map SOURCE=TARGET``);
    2. the workspace's stored aliases of the layer (``gridmap alias``, :meth:`Workspace.add_column_alias`);
    3. the model's own column names;
    4. the built-in aliases (:func:`gridmap.model.alias_target`: 网格编号, 所属社区, 上报时间,
       DBF-truncated names such as ``community_``, ...).

    A user's mapping thus overrides even a header that is a model name. Of two headers
    for one column the one ranked higher wins. Every column of the file that fills no model
    column is kept, as one JSON object per row, in the layer's ``extra`` column, and listed in
    ``ImportSummary.unmapped``. Community names (所属社区, 社区名称) are stored as the codes the
    workspace's communities layer gives them; an unknown name is quarantined (``unknown_community``).

    Parameters
    ----------
    workspace : Workspace or path-like
        An open workspace, or the path of one.
    layer : str
        Target layer, one of :data:`gridmap.model.LAYERS`.
    path : path-like
        The file (or folder of photos) to import.
    coords : {"wgs84", "gcj02", "bd09"}, optional
        Coordinate system of the file's longitude/latitude; required for CSV.
    encoding : str, optional
        Text encoding of CSV or shapefile attributes; detected when omitted.
    source_layer : str, optional
        Layer inside a GeoPackage source.
    sheet : str or int, optional
        Sheet of an Excel workbook: its name or 1-based position (default: the first visible).
    header_row : int, optional
        1-based row of the sheet's header (default: found below any title or blank rows).
    crs : str, int or pyproj.CRS, optional
        The CRS of a shapefile without ``.prj`` (``--crs``), e.g. ``"EPSG:4546"``;
        the geometries are reprojected to WGS84. A file with a different CRS of its
        own is refused (:func:`gridmap.crs.declare_crs`); a file without one is refused
        with the likely ``--crs`` to pass (:func:`gridmap.crs.missing_crs_message`).
        `coords` other than ``"wgs84"`` is refused for projected data.
    repair : bool
        Repair invalid geometries (keeping the originals in the log) instead
        of quarantining them.
    defaults : mapping, optional
        Values for columns the file lacks, e.g. ``{"inspector": "巡查员A"}``. A key column (``report_id``
        of reports, ``grid_code`` of grids, ...) is refused, see :func:`gridmap.records.check_defaults`.
    now : pandas.Timestamp, optional
        The present, for the future-time check (default: now).
    columns : mapping of str to str, optional
        The file's headers mapped to model columns, ``{"巡查发现问题": "description"}``
        (``--map 巡查发现问题=description``); a target the layer lacks is refused.

    Returns
    -------
    ImportSummary
        ``read == accepted + duplicates + quarantined``.

    Examples
    --------
    >>> import gridmap, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ws = gridmap.init_workspace(d / "w.gpkg")
    >>> _ = (d / "r.csv").write_text(
    ...     "report_id,reported_at,category,description,lon,lat\\n"
    ...     "R1,2025-03-01 08:00,垃圾乱倒,北大街,109.73,38.29\\n"
    ...     "R2,2025-03-01 09:00,垃圾乱倒,纬经颠倒,38.29,109.73\\n", encoding="utf-8")
    >>> s = gridmap.import_file(ws, "reports", d / "r.csv", coords="wgs84")
    >>> (s.read, s.accepted, s.duplicates, s.quarantined, s.reasons)
    (2, 1, 0, 1, {'swapped_coordinates': 1})
    >>> gridmap.import_file(ws, "reports", d / "r.csv", coords="wgs84").duplicates
    1
    >>> ws.close()
    """
    from gridmap.io.dispatch import read
    from gridmap.records import check_column_map, check_defaults, prepare
    from gridmap.workspace import Workspace, open_workspace

    spec = layer_spec(layer)
    check_defaults(spec.name, defaults)  # before anything is read: a key column set for every row is refused
    check_column_map(spec.name, columns)
    ws = workspace if isinstance(workspace, Workspace) else open_workspace(workspace)
    try:
        header_map = _header_map(ws, spec.name, columns)
        result = read(path, layer=spec.name, coords=coords, encoding=encoding, source_layer=source_layer,
                      sheet=sheet, header_row=header_row, crs=crs)
        _check_crs(ws, result, coords, what=Path(path).name)
        batch = prepare(
            spec.name,
            result,
            coords=coords,
            subdistrict=ws.subdistrict_geometry() if spec.geometry else None,
            grids=_grids_for(ws, spec.name),
            repair=repair,
            now=now,
            defaults=defaults,
            rectified=_rectified_reports(ws, spec.name),
            columns=header_map,
            communities=_community_codes(ws, spec.name),
        )
        summary = ws.append(
            spec.name,
            batch.accepted,
            quarantine=batch.quarantine,
            source=batch.source,
            source_digest=batch.source_digest,
            read=batch.read,
        )
        summary.repairs = _repairs(batch.repairs)
        summary.unmapped = list(batch.unmapped)
    finally:
        if ws is not workspace:
            ws.close()
    logger.info("%s", summary.describe())
    return summary
