"""Read GeoJSON, GeoPackage and Shapefile (also zipped) into a :class:`ReadResult`.

The bulk read uses pyogrio with Arrow. GDAL turns a feature whose geometry it
cannot decode into a feature with a *null* geometry, silently or with a warning;
so when the bulk read fails, warns, or returns null geometries, the features are
read again one by one (fiona, or the JSON itself for GeoJSON) to tell broken
features, which are quarantined as ``unreadable_record``, from genuinely empty
ones, which are returned as read. Invalid geometries are returned as read too:
checking validity is the next stage's job.

Shapefile text is decoded with an encoding decided and checked by
:func:`gridmap.io._encoding.shapefile_encoding`, never by GDAL's Latin-1 fallback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterator

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyogrio.util import vsi_path
from shapely.geometry import shape

from gridmap.errors import ReadError
from gridmap.crs import declare_crs
from gridmap.io.base import ReadResult, file_digest, quarantine_frame, quarantine_row, read_guard
from gridmap.io._encoding import shapefile_encoding
from gridmap.io._zip import check_zip, copy_member_capped, open_zip

if TYPE_CHECKING:
    import zipfile

__all__ = ["read_vector", "gdal_safe_path", "VECTOR_SUFFIXES", "MAX_ZIP_BYTES"]

logger = logging.getLogger(__name__)

#: File name endings read by :func:`read_vector`.
VECTOR_SUFFIXES: tuple[str, ...] = (".geojson", ".json", ".gpkg", ".shp", ".zip")
#: Largest total uncompressed size accepted in a zipped shapefile.
MAX_ZIP_BYTES = 1 << 30
#: Largest compression ratio accepted for a zip member of at least 10 MiB. Higher than
#: :data:`gridmap.io._zip.MAX_RATIO` because a .dbf of wide, mostly blank text fields
#: compresses far better than a KML document.
MAX_ZIP_RATIO = 1000
_RATIO_MIN_BYTES = 10 << 20
_SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx"}
_PYOGRIO_ERRORS = (
    pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
    pyogrio.errors.FeatureError, pyogrio.errors.GeometryError, pyogrio.errors.CRSError,
)
#: The bulk read also fails when GDAL hands over a geometry GEOS cannot decode (a TIN, WKB type 16, from a
#: MultiPatch shapefile): the one-by-one read then gets it from fiona, which turns it into a MultiPolygon.
_BULK_ERRORS = _PYOGRIO_ERRORS + (shapely.errors.GEOSException,)


@dataclass
class _Source:
    """Where records come from and how quarantine rows are stamped."""

    path: Path
    layer: str
    source: str
    digest: str
    driver_layer: str | None = None
    encoding: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def bad(self, record: int, raw: dict[str, Any], detail: str) -> dict[str, Any]:
        return quarantine_row(layer=self.layer, source=self.source, source_digest=self.digest, record=record,
                              raw=raw, reason="unreadable_record", detail=detail)


def read_vector(
    path: str | PathLike[str], *, layer: str = "unknown", encoding: str | None = None,
    source_layer: str | None = None, crs: object | None = None,
) -> ReadResult:
    """Read a GeoJSON, GeoPackage, Shapefile or zipped Shapefile.

    Parameters
    ----------
    path : str or path-like
        ``.geojson``/``.json``, ``.gpkg``, ``.shp``, or ``.zip`` holding one shapefile.
    layer : str
        The gridmap layer the records are meant for; stamped into quarantine
        rows, and used to pick the GeoPackage layer of the same name.
    encoding : str, optional
        Encoding of shapefile attribute text; wins over ``.cpg`` and LDID.
    source_layer : str, optional
        Layer of a GeoPackage to read. Default: its only layer, or the one
        named like `layer`.
    crs : str, int or pyproj.CRS, optional
        The CRS of a file that has none (a shapefile without ``.prj``), e.g.
        ``"EPSG:4546"`` (``--crs``). A file with a CRS of its own (a ``.prj``, a
        GeoPackage's, a GeoJSON's: WGS84 by RFC 7946) is refused when `crs`
        differs from it; see :func:`gridmap.crs.declare_crs`.

    Returns
    -------
    ReadResult
        ``records`` is a GeoDataFrame in the file's CRS, or the declared `crs`
        (``None`` when it has neither) with the file's columns and ``_record`` (1-based feature number).

    Raises
    ------
    ReadError
        When the file cannot be read at all, or the layer to read is ambiguous.
    EncodingError
        When shapefile text has no encoding that decodes it strictly.
    UnsafeFileError
        When a zip has unsafe paths or is too large when unpacked.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pts.geojson"
    >>> feats = [{"type": "Feature", "properties": {"名称": "鼓楼"},
    ...           "geometry": {"type": "Point", "coordinates": [109.73, 38.29]}}]
    >>> _ = p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    >>> res = read_vector(p, layer="targets")
    >>> res.read, list(res.records.columns), res.records.crs.to_epsg()
    (1, ['_record', '名称', 'geometry'], 4326)
    """
    with read_guard(path):
        result = _read_vector(path, layer=layer, encoding=encoding, source_layer=source_layer)
    if isinstance(result.records, gpd.GeoDataFrame):
        result.records = declare_crs(result.records, crs, what=Path(path).name)
    return result


def _read_vector(
    path: str | PathLike[str], *, layer: str, encoding: str | None, source_layer: str | None
) -> ReadResult:
    p = Path(path)
    if not p.is_file():
        raise ReadError(f"{p} does not exist or is not a file")
    suffix = p.suffix.lower()
    src = _Source(p, layer, p.name, file_digest(p))
    if suffix == ".zip":
        with _unzipped_shapefile(p) as shp:
            return _read_shapefile(src, shp, encoding)
    if suffix not in (".shp", ".geojson", ".json", ".gpkg"):
        raise ReadError(f"{p.name}: read_vector reads {', '.join(VECTOR_SUFFIXES)} files, not {suffix or 'this file'}")
    # without its .shx a shapefile is rebuilt in a temporary folder: the user's folder is left as it is
    with gdal_safe_path(p, always=suffix == ".shp" and _lacks_shx(p)) as safe:
        src.path = safe
        if suffix == ".shp":
            return _read_shapefile(src, safe, encoding)
        if suffix == ".gpkg":
            src.driver_layer = _pick_gpkg_layer(safe, name=p.name, layer=layer, source_layer=source_layer)
            return _finish(src, *_read_with_gdal(src))
        return _finish(src, *_read_geojson(src))


@contextlib.contextmanager
def gdal_safe_path(path: Path, *, always: bool = False) -> Iterator[Path]:
    """Yield a path that GDAL (through pyogrio or fiona) takes to mean exactly the file `path`.

    pyogrio and fiona read ``!`` as the separator of an archive and its member, and
    ``scheme://`` as a URL: ``sub/!test.geojson`` would open ``test.geojson`` in the
    current folder. Such a path is replaced by a link (a copy where links are not
    allowed) under a plain name in a temporary folder, together with its companion
    files (a shapefile's ``.shx``, ``.dbf``, ...; a GeoPackage's ``-wal``). Other
    paths are yielded unchanged, unless `always`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> odd = folder / "!test.geojson"
    >>> _ = odd.write_text("{}")
    >>> with gdal_safe_path(odd) as safe:
    ...     print("!" in str(safe), safe.read_text(), safe.suffix)
    False {} .geojson
    >>> with gdal_safe_path(folder / "plain.geojson") as same:
    ...     print(same == folder / "plain.geojson")
    True
    """
    if vsi_path(str(path)) == str(path) and not always:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="gridmap-path-") as tmp:
        logger.info("%s: reading it through %s (a path GDAL would misread, or a part to rebuild)", path, tmp)
        for part in _companions(path):
            link = Path(tmp) / ("data" + part.name[len(path.stem):])
            try:
                link.symlink_to(part.resolve())
            except OSError:  # no symbolic links allowed (Windows without the privilege)
                shutil.copyfile(part, link)
        yield Path(tmp) / ("data" + path.suffix)


def _companions(path: Path) -> list[Path]:
    """`path` and the files GDAL reads along with it (same stem, a shapefile part or a SQLite journal)."""
    parts = [path]
    for other in path.parent.iterdir():
        if other == path or not other.is_file() or not other.name.startswith(path.stem):
            continue
        rest = other.name[len(path.stem):]
        if rest.lower() in _SHAPEFILE_PARTS or rest in (path.suffix + "-wal", path.suffix + "-shm"):
            parts.append(other)
    return parts


def _read_shapefile(src: _Source, shp: Path, encoding: str | None) -> ReadResult:
    if _lacks_shx(shp):
        _restore_shx(shp, src.source)
    src.encoding = shapefile_encoding(shp, encoding=encoding)
    src.meta["encoding"] = src.encoding
    reading = _Source(shp, src.layer, src.source, src.digest, encoding=src.encoding, meta=src.meta)
    return _finish(src, *_read_with_gdal(reading))


def _lacks_shx(shp: Path) -> bool:
    return not (shp.with_suffix(".shx").is_file() or shp.with_suffix(".SHX").is_file())


def _restore_shx(shp: Path, name: str) -> None:
    """Rebuild the missing ``.shx`` of `shp` (a copy in a temporary folder) from the ``.shp`` itself.

    GDAL does this when its configuration option ``SHAPE_RESTORE_SHX`` is ``YES``;
    the record offsets and lengths the index holds are all in the ``.shp``.
    """
    stem = Path(name).stem
    previous = pyogrio.get_gdal_config_option("SHAPE_RESTORE_SHX")
    pyogrio.set_gdal_config_options({"SHAPE_RESTORE_SHX": "YES"})
    try:
        pyogrio.read_info(shp)
    except _PYOGRIO_ERRORS as exc:
        raise ReadError(
            f"{name}: its index file {stem}.shx is missing and could not be rebuilt ({exc}); a shapefile is "
            f"several files: copy {stem}.shx (and .dbf, .prj, .cpg) next to {name}, or zip them all and import the zip"
        ) from None
    finally:
        pyogrio.set_gdal_config_options({"SHAPE_RESTORE_SHX": previous})
    if _lacks_shx(shp):
        raise ReadError(f"{name}: its index file {stem}.shx is missing; copy it next to {name} (a shapefile is "
                        "several files: .shp, .shx, .dbf, .prj, .cpg), or zip them all and import the zip")
    logger.warning("%s: its index file %s.shx is missing; rebuilt it from the .shp in a temporary copy "
                   "(GDAL's SHAPE_RESTORE_SHX; your files are unchanged). Keep the .shx with the .shp next time",
                   name, stem)


def _finish(src: _Source, records: gpd.GeoDataFrame, bad: list[dict[str, Any]]) -> ReadResult:
    quarantine = quarantine_frame(sorted(bad, key=lambda row: row["record"]))
    src.meta.setdefault("driver_layer", src.driver_layer)
    logger.info("%s: %d features read, %d quarantined", src.source, len(records), len(quarantine))
    return ReadResult(records=records, quarantine=quarantine, source=src.source, source_digest=src.digest,
                      coords=None, meta=dict(src.meta))


# --- layer choice -------------------------------------------------------------------------------------------------


def _pick_gpkg_layer(path: Path, *, name: str, layer: str, source_layer: str | None) -> str:
    try:
        names = [str(row[0]) for row in pyogrio.list_layers(path)]
    except _PYOGRIO_ERRORS as exc:
        raise ReadError(f"{name} cannot be opened as a GeoPackage: {exc}") from None
    if source_layer is not None:
        if source_layer not in names:
            raise ReadError(f"{name} has no layer {source_layer!r}; its layers: {', '.join(names)}: "
                            "choose one with --source-layer NAME")
        return source_layer
    if len(names) == 1:
        return names[0]
    alike = [n for n in names if n.lower() == layer.lower()]
    if len(alike) == 1:
        return alike[0]
    if not names:
        raise ReadError(f"{name} holds no layers")
    raise ReadError(f"{name} has several layers ({', '.join(names)}); choose one with --source-layer NAME, "
                    f"e.g. --source-layer {names[0]}")


# --- bulk read and isolation of broken features ------------------------------------------------------------------


def _read_with_gdal(src: _Source) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """Bulk read with pyogrio; on failure, warnings or null geometries, stream with fiona."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = pyogrio.read_dataframe(src.path, layer=src.driver_layer, encoding=src.encoding, use_arrow=True)
    except _BULK_ERRORS as exc:
        logger.info("%s: bulk read failed (%s); reading feature by feature", src.source, exc)
        return _stream_with_fiona(src)
    if not caught and not frame.geometry.isna().any():
        return _numbered(frame), []
    for warning in caught:
        logger.info("%s: GDAL warned: %s", src.source, warning.message)
    streamed, bad = _stream_with_fiona(src)
    return _reconcile(src, frame, streamed, bad)


def _reconcile(
    src: _Source, bulk: gpd.GeoDataFrame, streamed: gpd.GeoDataFrame, bad: list[dict[str, Any]]
) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """Keep the bulk read's typed columns, minus the features the one-by-one read found broken."""
    if len(streamed) + len(bad) != len(bulk):
        logger.warning("%s: the bulk read found %d features, the one-by-one read %d; keeping the latter",
                       src.source, len(bulk), len(streamed) + len(bad))
        return streamed, bad
    numbered = _numbered(bulk)
    broken = {row["record"] for row in bad}
    kept = numbered[~numbered["_record"].isin(broken)].reset_index(drop=True)
    return kept, bad


def _numbered(frame: gpd.GeoDataFrame, records: list[int] | None = None) -> gpd.GeoDataFrame:
    """A copy of `frame` with a first column ``_record`` (1..n in file order unless given)."""
    out = frame.reset_index(drop=True)
    if "_record" in out.columns:
        raise ReadError("the file already has a column '_record'; rename it before importing")
    numbers = records if records is not None else range(1, len(out) + 1)
    out.insert(0, "_record", pd.Series(list(numbers), dtype="int64"))
    return out


@contextlib.contextmanager
def _gdal_messages() -> Iterator[list[str]]:
    """Collect the GDAL errors and warnings fiona logs while the block runs."""
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    fiona_logger = logging.getLogger("fiona")
    handler = _Collect(level=logging.WARNING)
    old_level = fiona_logger.level
    fiona_logger.addHandler(handler)
    if fiona_logger.getEffectiveLevel() > logging.WARNING:
        fiona_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield messages
        messages.extend(str(w.message) for w in caught)
    finally:
        fiona_logger.removeHandler(handler)
        fiona_logger.setLevel(old_level)


def _stream_with_fiona(src: _Source) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """Read feature by feature; a feature that raises or makes GDAL complain is quarantined."""
    import fiona  # deferred: fiona loads its own GDAL, needed only when the bulk read has trouble

    good: list[dict[str, Any]] = []
    numbers: list[int] = []
    bad: list[dict[str, Any]] = []
    try:
        with _gdal_messages() as opening, fiona.open(src.path, layer=src.driver_layer, encoding=src.encoding) as col:
            crs = col.crs_wkt or None
            expected = len(col)
            columns = list(col.schema["properties"])
            features = iter(col)
            for number in range(1, expected + 1):
                feature, problem = _next_feature(features)
                if feature is None and problem is None:
                    break
                row, problem = _feature_row(feature, problem)
                if problem is not None:
                    bad.append(src.bad(number, _feature_raw(feature, number), f"GDAL could not decode it: {problem}"))
                    continue
                good.append(row)
                numbers.append(number)
    except (fiona.errors.FionaError, OSError, ValueError) as exc:
        raise ReadError(f"{src.source} cannot be read: {exc}") from None
    for message in opening:
        logger.info("%s: %s", src.source, message)
    frame = gpd.GeoDataFrame(pd.DataFrame(good, columns=columns + ["geometry"]), geometry="geometry", crs=crs)
    return _numbered(frame, numbers), bad


def _next_feature(features: Iterator[Any]) -> tuple[Any, str | None]:
    """The next feature and the GDAL complaint it raised (None, None at the end)."""
    with _gdal_messages() as messages:
        try:
            feature = next(features)
        except StopIteration:
            return None, None
        except Exception as exc:  # fiona raises many types for one broken feature; all mean the same here
            return None, f"{type(exc).__name__}: {exc}"
    return feature, ("; ".join(messages) if messages else None)


def _feature_row(feature: Any, problem: str | None) -> tuple[dict[str, Any], str | None]:
    """A feature's properties and shapely geometry, or the reason its geometry cannot be decoded."""
    if problem is not None:
        return {}, problem
    row = dict(feature.properties or {})
    try:
        row["geometry"] = shape(feature.geometry) if feature.geometry is not None else None
    except (shapely.errors.ShapelyError, TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        kind = getattr(feature.geometry, "type", "?")
        return {}, f"its {kind} geometry cannot be used ({type(exc).__name__}: {exc}); convert it to polygons"
    return row, None


def _feature_raw(feature: Any, number: int) -> dict[str, Any]:
    if feature is None:
        return {"feature": number}
    raw = dict(feature.properties or {})
    raw["geometry"] = None
    return raw


# --- GeoJSON -------------------------------------------------------------------------------------------------------


def _read_geojson(src: _Source) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """Bulk read with pyogrio; when it warns or finds null geometries, check each feature's JSON."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = pyogrio.read_dataframe(src.path, use_arrow=True)
    except _PYOGRIO_ERRORS as exc:
        raise ReadError(f"{src.source} is not readable GeoJSON (truncated or damaged?): {exc}") from None
    if not caught and not frame.geometry.isna().any():
        return _numbered(frame), []
    for warning in caught:
        logger.info("%s: GDAL warned: %s", src.source, warning.message)
    features = _json_features(src)
    bad = [src.bad(number, raw, detail) for number, raw, detail in _broken_json_features(features)]
    if len(features) != len(frame):
        raise ReadError(f"{src.source}: GDAL read {len(frame)} features but the file holds {len(features)}; "
                        "check the file with a GeoJSON validator")
    numbered = _numbered(frame)
    broken = {row["record"] for row in bad}
    return numbered[~numbered["_record"].isin(broken)].reset_index(drop=True), bad


def _json_features(src: _Source) -> list[Any]:
    try:
        document = json.loads(src.path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReadError(f"{src.source} is not valid JSON: {exc}") from None
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        return list(document.get("features") or [])
    return [document]


def _broken_json_features(features: list[Any]) -> Iterator[tuple[int, dict[str, Any], str]]:
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict):
            yield number, {"feature": json.dumps(feature, ensure_ascii=False)[:2000]}, "not a GeoJSON Feature"
            continue
        geometry = feature.get("geometry")
        if geometry is None:
            continue
        try:
            shape(geometry)
        except (shapely.errors.ShapelyError, TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            raw = dict(feature.get("properties") or {})
            raw["geometry"] = json.dumps(geometry, ensure_ascii=False)[:2000]
            yield number, raw, f"its geometry cannot be decoded ({type(exc).__name__}: {exc}); fix or remove it"


# --- zipped shapefiles ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _unzipped_shapefile(path: Path) -> Iterator[Path]:
    """Check a zip's index, extract its one shapefile to a temporary folder, yield the ``.shp``.

    The index checks (unsafe names, symbolic links, total size, compression ratio,
    encryption) and the capped copy are :mod:`gridmap.io._zip`'s.
    """
    members = [m for m in _checked_index(path) if not m.is_dir()]
    shp = _the_shapefile(members, path.name)
    stem = PurePosixPath(shp.filename).with_suffix("").as_posix().lower()
    with open_zip(path) as archive, tempfile.TemporaryDirectory(prefix="gridmap-zip-") as tmp:
        target = Path(tmp)
        for member in members:
            name = PurePosixPath(member.filename)
            if name.with_suffix("").as_posix().lower() == stem and name.suffix.lower() in _SHAPEFILE_PARTS:
                # a plain name: the member's own could hold '!', which GDAL would misread
                with open(target / ("shapefile" + name.suffix.lower()), "wb") as sink:
                    # a member holding more than its index entry says is refused
                    copy_member_capped(archive, member, sink, cap=member.file_size)
        yield target / "shapefile.shp"


def _checked_index(path: Path) -> list[zipfile.ZipInfo]:
    return check_zip(path, max_total_bytes=MAX_ZIP_BYTES, max_ratio=MAX_ZIP_RATIO,
                     ratio_min_bytes=_RATIO_MIN_BYTES, refuse_symlinks=True)


def _the_shapefile(members: list[zipfile.ZipInfo], name: str) -> zipfile.ZipInfo:
    shps = [m for m in members if m.filename.lower().endswith(".shp") and not m.filename.startswith("__MACOSX/")]
    if len(shps) == 1:
        return shps[0]
    if not shps:
        raise ReadError(f"{name} holds no .shp file; zip one shapefile (.shp, .shx, .dbf, .prj, .cpg)")
    listed = ", ".join(m.filename for m in shps)
    raise ReadError(f"{name} holds several shapefiles ({listed}); zip one shapefile per file")
