"""Pick the reader for a file by its kind and return what it read.

=================================== ====================================
file                                reader
=================================== ====================================
``.csv``, ``.txt``, ``.tsv``        :func:`gridmap.io.tabular.read_csv`
``.xlsx``, ``.xls``, ``.ods``       :func:`gridmap.io.excel.read_excel`
``.geojson``, ``.json``, ``.gpkg``  :func:`gridmap.io.vector.read_vector`
``.shp``, ``.zip`` (a shapefile)    :func:`gridmap.io.vector.read_vector`
``.kml``, ``.kmz``                  :func:`gridmap.io.kml.read_kml`
``.gpx``                            :func:`gridmap.io.gpx.read_gpx`
a folder, ``.jpg``, ``.jpeg``       :func:`gridmap.io.photos.read_photos`
=================================== ====================================
"""

from __future__ import annotations

import logging
import zipfile
from os import PathLike
from pathlib import Path

from gridmap.errors import ReadError
from gridmap.io.base import ReadResult, read_guard
from gridmap.io.excel import EXCEL_SUFFIXES, read_excel
from gridmap.io.gpx import read_gpx
from gridmap.io.kml import read_kml
from gridmap.io.photos import read_photos
from gridmap.io.tabular import read_csv
from gridmap.io.vector import read_vector
from gridmap.model import LAYERS

__all__ = ["read", "COORDS", "suffix_is_excel"]

logger = logging.getLogger(__name__)

#: Coordinate systems that can be declared for longitude/latitude input.
COORDS = ("wgs84", "gcj02", "bd09")

_CSV = {".csv", ".txt", ".tsv"}
_VECTOR = {".geojson", ".json", ".gpkg", ".shp"}
_PHOTO = {".jpg", ".jpeg"}


def _zip_holds_kml(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n.lower() for n in zf.namelist()]
    except zipfile.BadZipFile as exc:
        raise ReadError(f"{path.name} is not a readable zip file: {exc}") from None
    return any(n.endswith(".kml") for n in names) and not any(n.endswith(".shp") for n in names)


def read(
    path: str | PathLike[str],
    *,
    layer: str = "unknown",
    coords: str | None = None,
    encoding: str | None = None,
    source_layer: str | None = None,
    sheet: str | int | None = None,
    header_row: int | None = None,
    crs: object | None = None,
) -> ReadResult:
    """Read a field file of any supported kind, losing nothing.

    Parameters
    ----------
    path : path-like
        The file, or a folder of phone photos.
    layer : str
        The workspace layer the records are meant for; it is stamped on
        quarantined records and tells the CSV reader whether coordinates are
        expected (tables without geometry, like ``rectifications``, have none).
    coords : {"wgs84", "gcj02", "bd09"}, optional
        The coordinate system of longitude/latitude in the file. Required for
        CSV with coordinates (phones differ, so there is no silent default).
    encoding : str, optional
        Text encoding of a CSV or shapefile ``.dbf``; detected when omitted.
    source_layer : str, optional
        Layer inside a GeoPackage to read.
    sheet : str or int, optional
        Sheet of a workbook: its name or 1-based position (default: the first).
    header_row : int, optional
        1-based row of a workbook sheet's header (default: found automatically).
    crs : str, int or pyproj.CRS, optional
        The CRS of a shapefile without ``.prj`` or of a CSV's x/y in metres (``--crs EPSG:4546``); only
        for CSV, GeoJSON, GeoPackage and Shapefile, see :func:`gridmap.io.vector.read_vector` and
        :func:`gridmap.io.tabular.read_csv`.

    Returns
    -------
    ReadResult
        Decoded records plus the records that could not be decoded.

    Raises
    ------
    ReadError
        When the file does not exist, is of an unknown kind or cannot be read
        at all.

    Examples
    --------
    >>> import gridmap, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = p.write_text("report_id,reported_at,category,description,lon,lat\\n"
    ...                  "R1,2025-03-01 08:00,垃圾乱倒,北大街,109.73,38.29\\n", encoding="utf-8")
    >>> result = gridmap.read(p, layer="reports", coords="gcj02")
    >>> result.read, len(result.records), len(result.quarantine)
    (1, 1, 0)
    """
    p = Path(path)
    if coords is not None and coords not in COORDS:
        raise ReadError(f"--coords {coords}: not a known coordinate system; use one of {', '.join(COORDS)}")
    if not p.exists():
        raise ReadError(f"{p}: no such file or folder; check the path (quote a path with spaces)")
    logger.info("reading %s for layer %s", p, layer)
    with read_guard(p):  # every reader (GPX, photos and Excel too): a failure nobody foresaw is a message
        result = _read_any(p, layer=layer, coords=coords, encoding=encoding, source_layer=source_layer, sheet=sheet,
                           header_row=header_row, crs=crs)
    if coords is not None:
        # A declared system wins over the format's default (Amap exports KML in GCJ-02).
        result.coords = coords
    return result


def _read_any(p: Path, *, layer: str, coords: str | None, encoding: str | None, source_layer: str | None,
              sheet: "str | int | None", header_row: int | None, crs: object | None = None) -> ReadResult:
    suffix = p.suffix.lower()
    tables = suffix in _CSV or suffix_is_excel(p)
    if crs is not None and not (suffix in _VECTOR or tables or (suffix == ".zip" and not _zip_holds_kml(p))):
        raise ReadError(f"--crs is for CSV, Excel, GeoJSON, GeoPackage and Shapefile files; {p.name} is not one"
                        " (KML, GPX and photos are longitude/latitude: use --coords)")
    if suffix_is_excel(p):
        result = read_excel(p, layer=layer, coords=coords, sheet=sheet, header_row=header_row,
                            require_coordinates=_has_geometry(layer), crs=crs)
    else:
        if sheet is not None or header_row is not None:
            raise ReadError(f"--sheet and --header-row are for Excel workbooks; {p.name} is not one: drop them")
        result = _read_by_kind(p, layer=layer, coords=coords, encoding=encoding, source_layer=source_layer, crs=crs)
    return result


def suffix_is_excel(path: str | PathLike[str]) -> bool:
    """Whether the file's name says it is a spreadsheet workbook.

    Examples
    --------
    >>> suffix_is_excel("台账.XLSX"), suffix_is_excel("a.xls"), suffix_is_excel("a.csv")
    (True, True, False)
    """
    return Path(path).suffix.lower() in EXCEL_SUFFIXES


def _has_geometry(layer: str) -> bool:
    """Whether records for `layer` carry a location (rectifications and spot checks do not)."""
    spec = LAYERS.get(layer)
    return spec is None or spec.geometry is not None


def _read_by_kind(p: Path, *, layer: str, coords: str | None, encoding: str | None,
                  source_layer: str | None, crs: object | None = None) -> ReadResult:
    suffix = p.suffix.lower()
    if p.is_dir() or suffix in _PHOTO:
        return read_photos(p, layer=layer)
    if suffix in _CSV:
        return read_csv(p, layer=layer, coords=coords, encoding=encoding, require_coordinates=_has_geometry(layer),
                        crs=crs)
    if suffix in (".kml", ".kmz") or (suffix == ".zip" and _zip_holds_kml(p)):
        return read_kml(p, layer=layer)
    if suffix == ".gpx":
        return read_gpx(p, layer=layer)
    if suffix in _VECTOR or suffix == ".zip":
        return read_vector(p, layer=layer, encoding=encoding, source_layer=source_layer, crs=crs)
    raise ReadError(
        f"{p.name}: unknown kind of file {suffix or '(no extension)'}; gridmap reads CSV, Excel, GeoJSON, GeoPackage, "
        "Shapefile (also zipped), KML, KMZ, GPX and JPEG photos"
    )
