"""What the illustrative sample's parts share: seeded generators, the metric CRS and its conversion to WGS84,
invented names, points in a region, times of day.

Part of :mod:`gridmap.sample` (nothing here is surveyed).
"""

from __future__ import annotations

import functools
import zlib
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry import MultiLineString, MultiPolygon
from shapely.geometry.base import BaseGeometry

from gridmap.crs import transformer
from gridmap.errors import SchemaError
from gridmap.model import DEFAULT_TZ, EXTRA_COLUMN, LAYERS, STORAGE_CRS

#: Metric CRS the sample is built in: CGCS2000 / 3-degree Gauss-Kruger CM 111E.
METRIC_CRS = "EPSG:4546"
_CENTER_LONLAT = (109.73, 38.29)
_DECIMALS = 7  # decimals of stored longitude/latitude, about 1 cm
_SURNAMES = "王李张刘高杨马白贺杜郭呼霍乔薛冯曹雷田康"
_GIVEN_NAMES = (
    "建国", "红梅", "志强", "丽娟", "海涛", "秀兰", "军平", "文华", "玉兰", "永明", "春燕", "晓东", "桂芳", "宏伟",
    "国庆", "淑珍", "卫东", "小龙", "亚楠", "瑞霞", "振华", "彩霞", "世杰", "慧敏", "利军", "艳玲", "向东", "金凤",
    "保平", "翠萍", "斌", "静", "磊", "娜", "勇", "敏", "涛", "霞", "鹏", "燕", "杰", "倩", "刚", "琳", "强", "芳",
    "军", "丹",
)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SchemaError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent generator per seed and purpose, so one part does not shift another."""
    return np.random.default_rng([_check_seed(seed), zlib.crc32(stream.encode())])


@functools.lru_cache(maxsize=1)
def _center_metric() -> tuple[float, float]:
    x, y = transformer(STORAGE_CRS, METRIC_CRS).transform(*_CENTER_LONLAT)
    return float(x), float(y)


def _round_exact(values: np.ndarray) -> np.ndarray:
    """Round to 7 decimals as decimal text does, so the JSON text is short and reads back identically."""
    return np.array([float(f"{v:.{_DECIMALS}f}") for v in np.asarray(values, dtype=float).ravel()])


def _lonlat_function(source: str | CRS, *, exact: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """A coordinate function for ``shapely.transform``: metric → rounded WGS84 longitude/latitude."""
    tr = transformer(source, STORAGE_CRS)

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(coords[:, 0], coords[:, 1])
        if exact:
            return np.column_stack([_round_exact(lon), _round_exact(lat)])
        return np.column_stack([np.round(lon, _DECIMALS), np.round(lat, _DECIMALS)])

    return convert


def _to_lonlat(geoms: Sequence[BaseGeometry] | np.ndarray, source: str | CRS = METRIC_CRS) -> np.ndarray:
    """Metric geometries → WGS84 geometries with vertices rounded to 7 decimals (same vertex, same result)."""
    arr = np.asarray(list(geoms), dtype=object)
    out = shapely.transform(arr, _lonlat_function(source))
    return shapely.remove_repeated_points(out)


def _multi_polygon(geom: BaseGeometry) -> MultiPolygon:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    return MultiPolygon(parts)


def _multi_line(geom: BaseGeometry) -> MultiLineString:
    parts = [p for p in shapely.get_parts(shapely.line_merge(geom)) if p.geom_type == "LineString"]
    return MultiLineString(parts)


def _person_names(rng: np.random.Generator, n: int, *, exclude: Sequence[str] = ()) -> list[str]:
    """`n` distinct invented Chinese names (surname + given name), none of them in `exclude`."""
    pool = [s + g for s in _SURNAMES for g in _GIVEN_NAMES if s + g not in set(exclude)]
    if n > len(pool):
        raise SchemaError(f"the sample can invent at most {len(pool)} distinct names, {n} were asked for")
    return [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]


def _uniform_points(rng: np.random.Generator, region: BaseGeometry, n: int) -> np.ndarray:
    """`n` points uniformly distributed in `region` (rejection sampling in its bounds)."""
    minx, miny, maxx, maxy = region.bounds
    shapely.prepare(region)
    out = np.empty((0, 2))
    while len(out) < n:
        cand = rng.uniform([minx, miny], [maxx, maxy], size=(max(2 * (n - len(out)), 16), 2))
        out = np.vstack([out, cand[shapely.contains_xy(region, cand[:, 0], cand[:, 1])]])
    return out[:n]


def _assign_grid(points: Sequence[BaseGeometry] | np.ndarray, grids: Sequence[BaseGeometry],
                 codes: Sequence[str]) -> list[str | None]:
    """Code of the grid holding each point (the first one for a point on a shared edge; None outside)."""
    tree = shapely.STRtree(np.asarray(list(grids), dtype=object))
    geoms = np.asarray(list(points), dtype=object)
    pairs = tree.query(geoms, predicate="intersects")
    out: list[str | None] = [None] * len(geoms)
    for i, j in zip(pairs[0][::-1], pairs[1][::-1]):  # reversed so the first match wins
        out[int(i)] = codes[int(j)]
    return out


def _own_columns(name: str) -> list[str]:
    """The layer's model columns without ``extra`` (the sample's files have no columns beyond the model)."""
    return [c for c in LAYERS[name].column_names if c != EXTRA_COLUMN]


def _local_midnights(start: str | pd.Timestamp, days: int) -> np.ndarray:
    """UTC nanoseconds of the local (Asia/Shanghai) midnights of `days` + 40 days from `start`'s date."""
    ts = pd.Timestamp(start)
    ts = ts.tz_localize(DEFAULT_TZ) if ts.tzinfo is None else ts.tz_convert(DEFAULT_TZ)
    midnights = pd.date_range(ts.normalize(), periods=days + 40, freq="D")
    return midnights.as_unit("ns").asi8


def _aware(ns: np.ndarray) -> pd.DatetimeIndex:
    """UTC nanoseconds (-1 for missing) as Asia/Shanghai times."""
    values = pd.to_datetime(np.where(ns < 0, np.iinfo(np.int64).min, ns), unit="ns", utc=True)
    return values.tz_convert(DEFAULT_TZ)
