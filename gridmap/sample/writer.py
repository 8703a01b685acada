"""Writing the illustrative boundaries as GeoJSON files that say they are invented, not surveyed.

Part of :mod:`gridmap.sample`.
"""

from __future__ import annotations

import json
import logging
import math
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from gridmap.sample.boundaries import sample_boundaries
from gridmap.sample.common import _own_columns

logger = logging.getLogger(__name__)

#: What every written sample file says about itself.
ILLUSTRATIVE_NOTE = (
    "Illustrative sample for gridmap, NOT surveyed: invented boundaries, names and phone numbers "
    "around the old town of Yulin (鼓楼街道, 榆阳区, 榆林市, about 109.73E 38.29N), made by "
    "gridmap.sample with a fixed seed. Do not use for administration or navigation."
)


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _geojson_text(name: str, frame: gpd.GeoDataFrame, *, seed: int) -> str:
    """A FeatureCollection, one feature per line, with members saying the data is illustrative."""
    head = {
        "type": "FeatureCollection", "name": name, "gridmap_illustrative": True,
        "description": ILLUSTRATIVE_NOTE, "generator": f"gridmap.sample.write_boundaries(seed={seed})",
    }
    columns = _own_columns(name)
    lines = []
    for row, geom in zip(frame[columns].itertuples(index=False), frame.geometry):
        feature = {
            "type": "Feature",
            "properties": {c: _json_value(v) for c, v in zip(columns, row)},
            "geometry": shapely.geometry.mapping(geom),
        }
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    opening = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    return opening + ',"features":[\n' + ",\n".join(lines) + "\n]}\n"


def write_boundaries(directory: str | PathLike[str], *, seed: int = 0) -> list[Path]:
    """Write the illustrative boundary layers as GeoJSON files (RFC 7946, WGS84).

    One file per layer of :data:`BOUNDARY_LAYERS` (``grids.geojson`` ...),
    coordinates rounded to 7 decimals (about 1 cm) with shared vertices rounded
    identically, so the grids still tile the subdistrict exactly when read back.
    Each file carries the foreign members ``"gridmap_illustrative": true`` and a
    ``"description"`` saying the data is invented, not surveyed. The output is
    byte-for-byte the same for the same seed.

    Parameters
    ----------
    directory : str or path-like
        Folder to write into; created if missing. Existing files are replaced.
    seed : int
        Seed of the generator.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of :data:`BOUNDARY_LAYERS`.

    Examples
    --------
    >>> import tempfile, json
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = write_boundaries(tmp)
    ...     doc = json.loads(paths[2].read_text(encoding="utf-8"))
    >>> [p.name for p in paths][:3]
    ['subdistrict.geojson', 'communities.geojson', 'grids.geojson']
    >>> doc["gridmap_illustrative"], len(doc["features"])
    (True, 36)
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in sample_boundaries(seed=seed).items():
        path = folder / f"{name}.geojson"
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(_geojson_text(name, frame, seed=seed))
        paths.append(path)
    logger.info("wrote %d illustrative boundary layers to %s", len(paths), folder)
    return paths
