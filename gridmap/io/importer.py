"""Import a field file into a workspace: read → prepare → append, nothing lost.

The three stages are separate functions (:func:`gridmap.read`,
:func:`gridmap.prepare`, :meth:`gridmap.Workspace.append`) so a notebook can
look at each; :func:`import_file` chains them the way ``gridmap import`` does.
"""

from __future__ import annotations

import inspect
import logging
import math
from os import PathLike
from pathlib import Path
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.crs import PROJECTED_MIN_M, check_coords_for, missing_crs_message, single_vertices
from gridmap.errors import CRSError, ReadError
from gridmap.io.base import ReadResult
from gridmap.io.dispatch import read
from gridmap.io.records import PreparedBatch, check_column_map, check_defaults, prepare
from gridmap.model import EXTRA_COLUMN, ImportSummary, layer_spec
from gridmap.storage import WorkspaceStore, open_workspace

__all__ = ["import_file", "prepare_for", "import_options"]

logger = logging.getLogger(__name__)

_GRID_ASSIGNED = ("reports", "targets")


def _grids_for(workspace: WorkspaceStore, layer: str) -> Any:
    if layer not in _GRID_ASSIGNED:
        return None
    grids = workspace.read_layer("grids")
    return grids if len(grids) else None


def _rectified_reports(workspace: WorkspaceStore, layer: str) -> dict[str, bool] | None:
    """For ``spotchecks``: every report id of the workspace → whether it was ever rectified.

    Ever rectified: it has a rectification, or a status past ``reported``.
    """
    if layer != "spotchecks":
        return None
    states = workspace.report_states()
    return {str(rid): bool(fixed) or (isinstance(status, str) and status not in ("", "reported"))
            for rid, status, fixed in zip(states["report_id"], states["status"], states["rectified"])}


def _district_lon(workspace: WorkspaceStore) -> float | None:
    """Longitude of the workspace's subdistrict (else grids) centre, or None when it has neither."""
    for layer in ("subdistrict", "grids"):
        frame = workspace.read_layer(layer)
        if len(frame):
            minx, _, maxx, _ = (float(v) for v in frame.to_crs(4326).total_bounds)
            if math.isfinite(minx) and math.isfinite(maxx):
                return (minx + maxx) / 2.0
    return None


def _check_crs(workspace: WorkspaceStore, result: ReadResult, coords: str | None, *, path: Path) -> None:
    """Refuse records without a CRS (saying which --crs to pass), metres labelled degrees, and --coords on metres."""
    records = result.records
    if not isinstance(records, gpd.GeoDataFrame):
        return
    what = path.name
    if records.crs is None:
        xy = shapely.get_coordinates(records.geometry.to_numpy())
        raise CRSError(missing_crs_message(xy, what=what, near_lon=_district_lon(workspace)))
    _check_degrees(workspace, records, path)
    check_coords_for(records.crs, coords, what=what)


def _check_degrees(workspace: WorkspaceStore, records: Any, path: Path) -> None:
    """Refuse a file labelled longitude/latitude whose coordinates are mostly metres, naming the fix for its kind.

    A shapefile's wrong ``.prj`` is deleted and the CRS declared with ``--crs`` (the likely code is
    guessed as for a file without a CRS); a GeoJSON is degrees by RFC 7946, and a table's coordinate
    columns are longitude/latitude by definition: those are exported again.
    """
    if not pyproj.CRS.from_user_input(records.crs).is_geographic:
        return
    geoms = records.geometry.to_numpy()
    vertices = single_vertices(geoms)  # a point's bounds are its vertex, twice
    bounds = vertices if vertices is not None else shapely.bounds(geoms)
    usable = np.isfinite(bounds).all(axis=1)
    out = usable & (np.abs(bounds) > PROJECTED_MIN_M).any(axis=1)  # swapped lat/lon are degrees, not metres
    if not usable.any() or 2 * int(out.sum()) <= int(usable.sum()):
        return
    what = path.name
    seen = (f"{what}: {int(out.sum())} of {int(usable.sum())} records have coordinates outside longitude/latitude"
            " (projected coordinates in metres, not degrees)")
    suffix = path.suffix.lower()
    if suffix in (".shp", ".zip", ".gpkg"):
        xy = shapely.get_coordinates(records.geometry.to_numpy()[out])
        head = (f"{seen}, although the file says {records.crs.to_string()}: its own CRS is wrong. Delete its .prj "
                "(a GeoPackage: assign the right CRS in QGIS and export it again) and declare the CRS with --crs")
        raise CRSError(missing_crs_message(xy, what=what, near_lon=_district_lon(workspace), head=head))
    if suffix in (".geojson", ".json"):
        raise CRSError(f"{seen}, although a GeoJSON holds longitude/latitude (WGS84) by its standard (RFC 7946): "
                       "export it again in EPSG:4326, or as a shapefile and import that (with --crs EPSG:NNNN "
                       "if it has no .prj)")
    raise CRSError(f"{seen}: gridmap reads the coordinates of CSV, Excel, KML and GPX files as longitude/latitude "
                   "(--coords). Open the table in QGIS as a delimited-text layer in its CRS, export it as a GeoPackage "
                   "and import that")


def _nothing_read(result: Any, name: str) -> list[str]:
    """Refuse a source that read nothing because of its kind; a note for one that is merely empty.

    A reader that finds no record because the file is of the wrong kind (a KML of NetworkLinks
    only, a folder of other files taken for a photo folder, a GPX of routes) says why in
    ``meta["nothing_read"]``: that import is refused, with the reason. A source with no record
    at all (a CSV of a header line, an empty FeatureCollection) imports nothing, with a note.
    """
    if result.read:
        return []
    why = result.meta.get("nothing_read")
    if why:
        raise ReadError(f"{name}: nothing to import: {why}")
    return [f"{name} holds no records: nothing was imported"]


def _community_codes(workspace: WorkspaceStore, layer: str) -> dict[str, str] | None:
    """Community name → code from the workspace's communities, for a layer that names communities (grids)."""
    if layer == "communities" or "community_code" not in layer_spec(layer).column_names:
        return None
    communities = workspace.read_layer("communities")
    return {str(name).strip(): str(code) for name, code in zip(communities["name"], communities["community_code"])
            if isinstance(name, str) and name.strip() and isinstance(code, str)}


def _header_map(workspace: WorkspaceStore, layer: str, columns: Mapping[str, str] | None) -> dict[str, str]:
    """The stored aliases of `layer` (``gridmap alias``), overridden by the `columns` given for this import."""
    given = check_column_map(layer, columns)  # refused before anything is read
    stored = workspace.column_aliases(layer)
    # a column mapped for this import is filled from that header, not from a stored alias of it
    merged = {str(source): str(target) for source, target in zip(stored["source"], stored["target"])
              if target not in given.values() or target == EXTRA_COLUMN}
    merged.update(given)
    return merged


def import_options(result: ReadResult, *, coords: str | None = None, **prepare_options: Any) -> dict[str, Any]:
    """What an import was run with, as JSON-able values: enough to prepare its records again (a retry).

    ``coords`` is the datum the records' longitude/latitude were taken in (the declared one, else
    the reader's), ``crs`` the CRS of the records' geometries as WKT (after any ``--crs``), ``meta``
    the reader's facts (:attr:`gridmap.ReadResult.meta`), and the other keys the options passed on to
    :func:`gridmap.prepare` (``defaults``, ``repair``, ...).

    Examples
    --------
    >>> import pandas as pd
    >>> from gridmap.io.base import ReadResult, quarantine_frame
    >>> result = ReadResult(pd.DataFrame({"_record": [1]}), quarantine_frame(), "a.csv", "0" * 16, coords="gcj02")
    >>> import_options(result, defaults={"source": "hotline"}, repair=False)
    {'coords': 'gcj02', 'crs': None, 'meta': {}, 'defaults': {'source': 'hotline'}, 'repair': False}
    """
    records = result.records
    crs = getattr(records, "crs", None) if getattr(records, "_geometry_column_name", None) in records.columns else None
    defaults = prepare_options.pop("defaults", None)
    return {
        "coords": coords if coords is not None else result.coords,
        "crs": None if crs is None else pyproj.CRS.from_user_input(crs).to_wkt(),
        "meta": {str(k): v for k, v in result.meta.items() if isinstance(v, (str, int, float, bool)) or v is None},
        "defaults": None if defaults is None else {str(k): v for k, v in defaults.items()},
        **prepare_options,
    }


def prepare_for(workspace: WorkspaceStore, layer: str, result: ReadResult, options: Mapping[str, Any] | None = None,
                *, now: pd.Timestamp | None = None) -> PreparedBatch:
    """:func:`gridmap.prepare` with what the workspace knows (its subdistrict, grids and reports) and `options`.

    The one place :func:`import_file` and :func:`gridmap.retry_quarantine` prepare records, so a
    retried record is checked exactly as an imported one.

    Parameters
    ----------
    workspace : WorkspaceStore
        An open workspace.
    layer : str
        The layer.
    result : gridmap.ReadResult
        What a reader read (or the quarantined records rebuilt).
    options : mapping, optional
        An import's options (:func:`import_options`): those :func:`gridmap.prepare` takes are
        passed on (``coords``, ``defaults``, ``repair``, ...), ``columns`` (``--map``) goes over the
        workspace's stored aliases, the others (``crs``, ``meta``) are the records' own.
    now : pandas.Timestamp, optional
        The present, for the future-time check (default: the clock).

    Returns
    -------
    gridmap.PreparedBatch
    """
    spec = layer_spec(layer)
    own = {"layer", "result", "subdistrict", "grids", "rectified", "now", "columns", "communities"}
    takes = set(inspect.signature(prepare).parameters) - own
    given = dict(options or {})
    return prepare(
        spec.name,
        result,
        subdistrict=workspace.subdistrict_geometry() if spec.geometry else None,
        grids=_grids_for(workspace, spec.name),
        rectified=_rectified_reports(workspace, spec.name),
        now=now,
        # the import's own --map, over the aliases stored now (an alias added since applies to a retry)
        columns=_header_map(workspace, spec.name, given.get("columns")),
        communities=_community_codes(workspace, spec.name),
        **{k: v for k, v in given.items() if k in takes},
    )


def _repairs(frame: pd.DataFrame | None) -> list[dict[str, float | None]]:
    if frame is None or len(frame) == 0:
        return []
    cols = ["_record", "area_before_m2", "area_after_m2", "change_pct"]
    # A zero-area bow-tie repaired to a real polygon changes by an infinite percentage: say None.
    return [{k: (int(v) if k == "_record" else float(v) if math.isfinite(v) else None) for k, v in zip(cols, row)}
            for row in frame[cols].itertuples(index=False)]


def import_file(
    workspace: "WorkspaceStore | str | PathLike[str]",
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
    with their reason; records already stored (same key and content) are counted as
    duplicates, a key stored with other content is quarantined (``key_conflict``).
    The import is one transaction: it lands whole or not at all. Its options are
    logged (:func:`import_options`) for :func:`gridmap.retry_quarantine`.

    Spot checks (``spotchecks``, e.g. the checklist CSV of ``gridmap spotcheck``
    filled in) must name a report of the workspace (else ``unknown_report``)
    that was rectified (else ``not_rectified``); in the same transaction each
    report's status follows its latest rectification or spot check.

    Error messages name the fix as ``gridmap import`` spells it, the way most
    users meet them; each option is the keyword below:

    ====================  =============================
    command line          keyword
    ====================  ====================================
    ``--coords``          `coords`
    ``--encoding``        `encoding`
    ``--source-layer``    `source_layer`
    ``--sheet``           `sheet`
    ``--header-row``      `header_row`
    ``--crs``             `crs`
    ``--repair``          `repair`
    ``--set C=V``         `defaults` (``{"C": "V"}``)
    ``--inspector N``     `defaults` (``{"inspector": "N"}``)
    ====================  ====================================
=======
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
    workspace : WorkspaceStore, path-like or str
        An open workspace, or where one is: the path of a GeoPackage or a ``postgresql://`` URL
        (opened and closed here; see :func:`gridmap.storage.open_workspace`).
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
        of reports, ``grid_code`` of grids, ...) is refused, see :func:`gridmap.io.records.check_defaults`.
    now : pandas.Timestamp, optional
        The present, for the future-time check (default: now).
    columns : mapping of str to str, optional
        The file's headers mapped to model columns, ``{"巡查发现问题": "description"}``
        (``--map 巡查发现问题=description``); a target the layer lacks is refused.

    Returns
    -------
    ImportSummary
        ``read == accepted + duplicates + quarantined``. A source with no record at all (a CSV of a
        header line) imports nothing and says so in ``warnings``.

    Raises
    ------
    ReadError
        The file cannot be read; or it read nothing because of its kind (a KML of NetworkLinks or
        overlays only, a folder without photos, a GPX of routes only): the message says why and what to do.
    CRSError
        No CRS (the likely ``--crs`` is named), metres labelled as degrees, or `coords` on projected data.
    SchemaError
        `defaults` naming no column of the layer, or setting its key.

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
    spec = layer_spec(layer)
    check_defaults(spec.name, defaults)  # before anything is read: a key column set for every row is refused
    given = check_column_map(spec.name, columns)  # before anything is read, as --set
    ws = workspace if isinstance(workspace, WorkspaceStore) else open_workspace(workspace)
    try:
        result = read(path, layer=spec.name, coords=coords, encoding=encoding, source_layer=source_layer,
                      sheet=sheet, header_row=header_row, crs=crs)
        warnings = _nothing_read(result, Path(path).name)
        _check_crs(ws, result, coords, path=Path(path))
        options = import_options(result, coords=coords, repair=repair, defaults=defaults, columns=given or None)
        batch = prepare_for(ws, spec.name, result, options, now=now)
        summary = ws.append(
            spec.name,
            batch.accepted,
            quarantine=batch.quarantine,
            source=batch.source,
            source_digest=batch.source_digest,
            read=batch.read,
            options=options,
            raw_records=result.records,
        )
        summary.repairs = _repairs(batch.repairs)
        summary.warnings = warnings
        summary.unmapped = list(batch.unmapped)
    finally:
        if ws is not workspace:
            ws.close()
    logger.info("%s", summary.describe())
    return summary
