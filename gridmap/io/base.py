"""What every reader returns, and the helpers readers share to build a quarantine."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import geopandas as gpd
import pandas as pd

from gridmap.errors import GridmapError, ReadError
from gridmap.model import QUARANTINE_COLUMNS, STORAGE_CRS
from gridmap.model.quarantine import raw_json  # re-exported: it is the model's encoding of `raw`

__all__ = ["ReadResult", "quarantine_frame", "quarantine_row", "file_digest", "data_digest", "raw_json",
           "records_frame", "read_guard"]

logger = logging.getLogger(__name__)

QUARANTINE_NAMES = [c.name for c in QUARANTINE_COLUMNS]


@dataclass
class ReadResult:
    """Records read from one source file, and the records that could not be read.

    Attributes
    ----------
    records : pandas.DataFrame or geopandas.GeoDataFrame
        One row per record that could be decoded, with the file's own column
        names and an int column ``_record`` holding the record's 1-based number
        in the source. Spatial records are a GeoDataFrame whose CRS is the
        file's CRS (``None`` when the file declares none: ``prepare`` refuses it).
        CSV points are built from the longitude/latitude columns and labelled
        EPSG:4326 whatever datum was declared; ``coords`` says which.
    quarantine : pandas.DataFrame
        Records that could not be decoded, with the columns of
        :data:`gridmap.model.QUARANTINE_COLUMNS`.
    source : str
        The file's name as given.
    source_digest : str
        First 16 hex digits of the file's SHA-256.
    read : int
        Records seen in the file: ``len(records) + len(quarantine)``.
    coords : str or None
        Declared coordinate system of longitude/latitude: ``"wgs84"``,
        ``"gcj02"``, ``"bd09"`` or ``None`` when the file's CRS applies.
    layer_hint : str or None
        The layer the reader believes the records belong to (GPX tracks → ``tracks``).
    """

    records: pd.DataFrame
    quarantine: pd.DataFrame
    source: str
    source_digest: str
    coords: str | None = None
    layer_hint: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return int(len(self.records) + len(self.quarantine))


def file_digest(path: str | PathLike[str]) -> str:
    """First 16 hex digits of the SHA-256 of a file (or of a folder's file names and sizes)."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for child in sorted(p.rglob("*")):
            if child.is_file():
                h.update(str(child.relative_to(p)).encode())
                h.update(str(child.stat().st_size).encode())
    else:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def data_digest(data: bytes) -> str:
    """:func:`file_digest` of a file whose bytes are already read: the first 16 hex digits of their SHA-256.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_bytes(b"id,lon,lat\\n")
    >>> data_digest(p.read_bytes()) == file_digest(p)
    True
    """
    return hashlib.sha256(data).hexdigest()[:16]


def quarantine_row(
    *, layer: str, source: str, source_digest: str, record: int, raw: Mapping[str, Any] | str, reason: str, detail: str
) -> dict[str, Any]:
    """One quarantine record as a dict with the quarantine columns."""
    return {
        "layer": layer,
        "source": source,
        "source_digest": source_digest,
        "record": int(record),
        "raw": raw if isinstance(raw, str) else raw_json(raw),
        "reason": reason,
        "detail": detail,
        "quarantined_at": pd.Timestamp.now(tz="UTC"),
    }


def quarantine_frame(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """A quarantine DataFrame with exactly the quarantine columns (possibly empty)."""
    frame = pd.DataFrame(list(rows), columns=QUARANTINE_NAMES)
    frame["record"] = frame["record"].astype("int64")
    frame["quarantined_at"] = pd.to_datetime(frame["quarantined_at"], utc=True)
    return frame


def records_frame(rows: list[dict[str, Any]], *, first: tuple[str, ...] = ("_record",)) -> gpd.GeoDataFrame:
    """Build a reader's records GeoDataFrame (EPSG:4326) from row dicts with a ``geometry`` key.

    Columns named in `first` come first (created empty when no row has them),
    then the others in order of appearance; ``_record`` is int64.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> gdf = records_frame([{"_record": 1, "name": "a", "geometry": Point(109.7, 38.3)}])
    >>> list(gdf.columns), gdf.crs.to_epsg(), gdf["_record"].dtype.name
    (['_record', 'name', 'geometry'], 4326, 'int64')
    >>> len(records_frame([]))
    0
    """
    columns = list(first)
    for row in rows:
        columns.extend(k for k in row if k not in columns and k != "geometry")
    frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)
    frame["_record"] = frame["_record"].astype("int64")
    geometry = gpd.GeoSeries([row["geometry"] for row in rows], crs=STORAGE_CRS)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=STORAGE_CRS)


@contextlib.contextmanager
def read_guard(path: str | PathLike[str]) -> Iterator[None]:
    """Turn every unexpected failure inside the block into a :class:`ReadError` naming the file.

    A reader raises :class:`~gridmap.GridmapError` for what it foresees; a library
    deep down (GDAL, GEOS, an XML or CSV parser) can still raise something else on a
    file nobody foresaw. The user then gets one line naming the file and what to do,
    not a traceback; the traceback goes to the debug log (``-vv``). Operating-system
    errors (no such file, no permission) pass through: the command line words them.

    Examples
    --------
    >>> try:
    ...     with read_guard("dir/odd.shp"):
    ...         raise ZeroDivisionError("deep inside")
    ... except ReadError as exc:
    ...     print(exc)  # doctest: +ELLIPSIS
    odd.shp cannot be read (ZeroDivisionError: deep inside); open it in QGIS and export it again ...
    """
    try:
        yield
    except (GridmapError, OSError, MemoryError):
        raise
    except Exception as exc:  # the point: no reader failure reaches the user as a traceback
        name = Path(path).name
        logger.debug("%s: unexpected reader failure", name, exc_info=True)
        raise ReadError(
            f"{name} cannot be read ({type(exc).__name__}: {exc}); open it in QGIS and export it again "
            "as GeoPackage or CSV, and import that file (run with -vv to log the details)"
        ) from None
