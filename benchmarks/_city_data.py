"""A simulated city for benchmarks/city.py, written straight to a GeoParquet archive in chunks.

Illustrative, not a real city: 20 subdistricts (5 x 4) of 36 grids each (6 x 6, six communities of six grids),
720 grids on a jittered lattice of about 400 m x 450 m cells, about 12 km x 10.8 km, placed near Yulin (Shaanxi,
where the bundled sample lies) in WGS84. Codes look like the sample's: subdistrict ``610802SSS``,
community ``610802SSSCCC``, grid ``610802SSSCCCGGG``.

Inspectors (:func:`write_tracks`) walk a city-wide street lattice (streets 60 to 150 m apart), each in their own
subdistrict: a random walk from crossing to crossing (one to three blocks, then turn), reflected at the
subdistrict's edge, at 1.0 to 1.5 m/s (each fix's pace varying by +-20 %), one fix every 8 to 12 s, from a start
between 06:00 and 07:00 local time with a lunch break of 60 to 90 min halfway; GPS noise of 3 m, 0.2 % of the
intervals with a gap of 1 to 20 minutes (no signal, still walking) and 0.1 % of the fixes jumped 150 to 1,500 m
(multipath). Reports (:func:`write_reports`) cluster around 2,000 recurring places (70 %, Gaussian 20 to 120 m,
Zipf-like weights) over a uniform background (30 %), at daytime hours.

Each day goes to ``DIR/LAYER/date=YYYY-MM-DD/part-0.parquet`` (the day in Asia/Shanghai), the layout
:func:`gridmap.read_archive` reads, written chunk by chunk with one ``pyarrow.parquet.ParquetWriter``: the schema
and metadata are those geopandas writes (``to_parquet(schema_version="1.1.0", write_covering_bbox=True)``) for the
layer's columns (:func:`gridmap.model.layer_spec`), zstd, each chunk's rows sorted along a Hilbert curve over the
chunk's extent (ties by the layer's key), row groups of :data:`gridmap.archive.ROW_GROUP_ROWS` (the last of each
chunk shorter). The ``geo`` metadata's ``bbox`` is the city's extent: it is written before the day's rows are
known, and every row lies inside it (positions are clipped to it). Never more than a chunk is in memory.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import shapely

from gridmap.archive import ROW_GROUP_ROWS
from gridmap.model import layer_spec

TZ = "Asia/Shanghai"
METRIC = "EPSG:32649"  # UTM zone 49N: 108 to 114 degrees east
SW_CORNER = (109.66, 38.22)  # lon, lat of the city's south-west corner (illustrative)
SUB_COLS, SUB_ROWS, GRIDS_PER_SIDE = 5, 4, 6
CELL_X, CELL_Y = 400.0, 450.0
FIX_STEP_S = 10.0
CHUNK_ROWS = 1_000_000
SUBDISTRICT_NAMES = ["鼓楼", "新明楼", "青山路", "上郡路", "驼峰路", "崇文路", "航宇路", "沙河路", "长城路", "金沙路",
                     "明珠路", "芹河", "牛家梁", "金鸡滩", "麻黄梁", "鱼河", "上盐湾", "镇川", "鱼河峁", "古塔"]
COMMUNITY_SUFFIXES = ["东", "西", "南", "北", "中", "新"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任")
GIVEN = ["向东", "晓东", "军", "翠萍", "秀兰", "利军", "瑞霞", "文华", "建国", "海燕", "志强", "丽娟", "国庆", "红梅",
         "宏伟", "小平", "卫东", "春花", "建华", "玉兰", "永刚", "桂英", "振华", "淑珍"]
CATEGORIES = ["garbage_dumping", "accumulated_garbage_muck", "overflowing_bin", "road_not_clean", "road_spillage",
              "random_piling", "sanitation_dead_corner", "vacant_lot_garbage", "sewage_overflow", "sewage_splashing",
              "sewage_discharge_point", "dirty_green_space", "firewood_pile", "abandoned_furniture",
              "scrapped_vehicle", "road_occupying_business", "illegal_structure"]
SOURCES, SOURCE_P = ["wechat", "patrol", "app", "hotline"], [0.46, 0.25, 0.19, 0.10]
STATUSES, STATUS_P = ["verified", "rectified", "reopened", "reported"], [0.57, 0.40, 0.025, 0.005]
#: Share of reports per local hour of the day (0..23), daytime heavy.
HOUR_P = np.array([1, 1, 1, 1, 1, 2, 4, 7, 9, 9, 8, 7, 5, 6, 7, 7, 7, 6, 5, 4, 3, 2, 1, 1], dtype=float)
HOUR_P /= HOUR_P.sum()


@dataclass
class City:
    """The simulated city: grids (EPSG:4326), subdistrict boxes and the street lattice (metres, :data:`METRIC`)."""

    grids: gpd.GeoDataFrame
    sub_boxes: np.ndarray  # (20, 4) metric boxes of the subdistricts: x0, y0, x1, y1
    streets_x: np.ndarray
    streets_y: np.ndarray
    extent: tuple[float, float, float, float]  # lon/lat box every generated point lies in
    to_lonlat: pyproj.Transformer

    def subdistrict_grids(self, index: int) -> gpd.GeoDataFrame:
        """The 36 grids of subdistrict `index` (0..19)."""
        return self.grids[self.grids["grid_code"].str[6:9] == f"{index + 1:03d}"].reset_index(drop=True)

    def subdistrict_of_inspector(self, inspector: np.ndarray) -> np.ndarray:
        """The subdistrict (0..19) each inspector (0..) walks in: in turn."""
        return np.asarray(inspector) % len(self.sub_boxes)


def make_city(seed: int = 0) -> City:
    """The 720 grids (grid_code, name, community_code, cadre) and the street lattice of the illustrative city."""
    rng = np.random.default_rng(seed)
    to_metric = pyproj.Transformer.from_crs(4326, METRIC, always_xy=True)
    to_lonlat = pyproj.Transformer.from_crs(METRIC, 4326, always_xy=True)
    x0, y0 = to_metric.transform(*SW_CORNER)
    nx, ny = SUB_COLS * GRIDS_PER_SIDE, SUB_ROWS * GRIDS_PER_SIDE
    vx = x0 + np.arange(nx + 1)[None, :] * CELL_X + np.zeros((ny + 1, 1))
    vy = y0 + np.arange(ny + 1)[:, None] * CELL_Y + np.zeros((1, nx + 1))
    inner = (slice(1, ny), slice(1, nx))
    vx[inner] += rng.uniform(-60, 60, vx[inner].shape)
    vy[inner] += rng.uniform(-60, 60, vy[inner].shape)
    lon, lat = to_lonlat.transform(vx, vy)
    rows = []
    for r in range(ny):
        for c in range(nx):
            ring = [(lon[r, c], lat[r, c]), (lon[r, c + 1], lat[r, c + 1]), (lon[r + 1, c + 1], lat[r + 1, c + 1]),
                    (lon[r + 1, c], lat[r + 1, c]), (lon[r, c], lat[r, c])]
            sub = (r // GRIDS_PER_SIDE) * SUB_COLS + c // GRIDS_PER_SIDE
            community, grid = GRIDS_PER_SIDE - 1 - r % GRIDS_PER_SIDE, c % GRIDS_PER_SIDE
            code = f"610802{sub + 1:03d}{community + 1:03d}"
            rows.append({"grid_code": f"{code}{grid + 1:03d}",
                         "name": f"{SUBDISTRICT_NAMES[sub]}{COMMUNITY_SUFFIXES[community]}社区第{grid + 1}网格",
                         "community_code": code,
                         "cadre": str(rng.choice(SURNAMES)) + str(rng.choice(GIVEN)),
                         "geometry": shapely.MultiPolygon([shapely.Polygon(ring)])})
    grids = gpd.GeoDataFrame(rows, crs=4326).sort_values("grid_code", kind="stable").reset_index(drop=True)
    subs = np.array([[x0 + (s % SUB_COLS) * GRIDS_PER_SIDE * CELL_X, y0 + (s // SUB_COLS) * GRIDS_PER_SIDE * CELL_Y,
                      x0 + (s % SUB_COLS + 1) * GRIDS_PER_SIDE * CELL_X,
                      y0 + (s // SUB_COLS + 1) * GRIDS_PER_SIDE * CELL_Y] for s in range(SUB_COLS * SUB_ROWS)])
    streets_x = _lattice(x0 - 60, x0 + nx * CELL_X + 60, rng)
    streets_y = _lattice(y0 - 60, y0 + ny * CELL_Y + 60, rng)
    ex0, ey0, ex1, ey1 = grids.total_bounds
    pad = 0.03  # degrees (about 3 km): room for GPS jumps beyond the edge
    return City(grids, subs, streets_x, streets_y, (ex0 - pad, ey0 - pad, ex1 + pad, ey1 + pad), to_lonlat)


def _lattice(lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """Street positions from `lo` to `hi`, 60 to 150 m apart."""
    out = lo + np.concatenate([[0.0], np.cumsum(rng.uniform(60.0, 150.0, int((hi - lo) / 60.0) + 2))])
    return out[out <= hi]


# ---------------------------------------------------------------------------------------------------------------
# the walks
# ---------------------------------------------------------------------------------------------------------------


def split_evenly(total: int, parts: int) -> np.ndarray:
    """`total` split into `parts` whole numbers differing by at most one (the first ones larger)."""
    return total // parts + (np.arange(parts) < total % parts).astype(np.int64)


def _fold(raw: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Positions of a walk on ``lo..hi`` reflected at both ends (`raw` unbounded; lo, hi per row)."""
    span = (hi - lo)[:, None]
    period = 2 * np.maximum(span, 1)
    r = np.mod(raw - lo[:, None], period)
    return lo[:, None] + np.where(r > span, period - r, r)


def _street_range(streets: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first and last street inside each ``[lo, hi]`` (at least two streets)."""
    first = np.searchsorted(streets, lo, side="left")
    last = np.maximum(np.searchsorted(streets, hi, side="right") - 1, first + 1)
    return first, np.minimum(last, len(streets) - 1)


def walk_corners(city: City, subdistrict: np.ndarray, legs: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Corners (x, y metres; shape (inspectors, legs + 1)) of each inspector's random walk over the street lattice."""
    m = len(subdistrict)
    box = city.sub_boxes[subdistrict]
    fx, lx = _street_range(city.streets_x, box[:, 0], box[:, 2])
    fy, ly = _street_range(city.streets_y, box[:, 1], box[:, 3])
    start_x, start_y = rng.integers(fx, lx + 1), rng.integers(fy, ly + 1)
    axis = rng.integers(0, 2, (m, legs))
    step = rng.choice(np.array([-3, -2, -1, 1, 2, 3]), (m, legs))
    ix = _fold(start_x[:, None] + np.cumsum(np.where(axis == 0, step, 0), axis=1), fx, lx)
    iy = _fold(start_y[:, None] + np.cumsum(np.where(axis == 1, step, 0), axis=1), fy, ly)
    ix = np.concatenate([start_x[:, None], ix], axis=1)
    iy = np.concatenate([start_y[:, None], iy], axis=1)
    return city.streets_x[ix], city.streets_y[iy]


def _times_and_along(counts: np.ndarray, day: pd.Timestamp, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Per fix (inspectors' fixes one after another): epoch ms, metres walked since the start, owner row."""
    owner = np.repeat(np.arange(len(counts)), counts)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    pos = np.arange(len(owner)) - first[owner]
    dt = rng.uniform(FIX_STEP_S - 2, FIX_STEP_S + 2, len(owner))
    gaps = rng.random(len(owner)) < 0.002
    dt[gaps] += rng.uniform(60, 1200, int(gaps.sum()))
    pace = rng.uniform(1.0, 1.5, len(counts))[owner] * rng.uniform(0.8, 1.2, len(owner))
    walked = pace * dt
    lunch = pos == counts[owner] // 2
    dt[lunch] += rng.uniform(3600, 5400, int(lunch.sum()))
    dt[pos == 0] = 0.0
    walked[pos == 0] = 0.0
    starts = day.tz_localize(TZ).value / 1e9 + 6 * 3600 + rng.uniform(0, 3600, len(counts))
    seconds = _cumsum_by(dt, first, counts) + starts[owner]
    along = _cumsum_by(walked, first, counts)
    return np.round(seconds * 1000).astype(np.int64), along, owner


def _cumsum_by(values: np.ndarray, first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each group (groups are consecutive runs of `counts` rows from `first`)."""
    total = np.cumsum(values)
    before = np.where(first > 0, total[np.maximum(first - 1, 0)], 0.0)
    return total - np.repeat(before, counts)


def _positions(city: City, subdistrict: np.ndarray, along: np.ndarray, owner: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """x, y (metres) of each fix: `along` metres down its owner's walk, with GPS noise and jumps."""
    need = float(along.max()) if len(along) else 0.0
    legs = int(need / 50.0) + 8  # a leg is at least one street gap (60 m) unless a reflection cancels it
    cx, cy = walk_corners(city, subdistrict, legs, rng)
    length = np.concatenate([np.zeros((len(cx), 1)), np.cumsum(np.abs(np.diff(cx)) + np.abs(np.diff(cy)), axis=1)],
                            axis=1)
    offset = (np.arange(len(cx)) * (length[:, -1].max() + need + 1.0))[:, None]
    reach = np.minimum(along, length[owner, -1])  # (a walk shorter than asked: the inspector stands at its end)
    at = reach + offset[owner, 0]
    x = np.interp(at, (length + offset).ravel(), cx.ravel())
    y = np.interp(at, (length + offset).ravel(), cy.ravel())
    x, y = x + rng.normal(0, 3.0, len(x)), y + rng.normal(0, 3.0, len(y))
    jump = rng.random(len(x)) < 0.001
    angle, dist = rng.uniform(0, 2 * np.pi, int(jump.sum())), rng.uniform(150, 1500, int(jump.sum()))
    x[jump] += dist * np.cos(angle)
    y[jump] += dist * np.sin(angle)
    return x, y


def inspector_name(index: np.ndarray | int) -> Any:
    """The inspector's name as stored: ``巡查员0001`` (zero-padded, so names sort like their numbers)."""
    return np.char.add("巡查员", np.char.zfill(np.asarray(index).astype(str), 4))


def track_chunks(city: City, n_fixes: int, inspectors: int, days: list[pd.Timestamp],
                 seed: int = 0) -> Iterator[tuple[pd.Timestamp, dict[str, np.ndarray]]]:
    """(day, columns) chunks of fixes: each day's inspectors in groups of about :data:`CHUNK_ROWS` fixes."""
    rng = np.random.default_rng(seed + 1)
    for day, per_day in zip(days, split_evenly(n_fixes, len(days))):
        counts = split_evenly(int(per_day), inspectors)
        per_chunk = max(1, CHUNK_ROWS // max(1, int(counts.max())))
        for lo in range(0, inspectors, per_chunk):
            who = np.arange(lo, min(lo + per_chunk, inspectors))
            if counts[who].sum() == 0:
                continue
            ms, along, owner = _times_and_along(counts[who], day, rng)
            x, y = _positions(city, city.subdistrict_of_inspector(who), along, owner, rng)
            lon, lat = city.to_lonlat.transform(x, y)
            lon, lat = np.clip(lon, city.extent[0], city.extent[2]), np.clip(lat, city.extent[1], city.extent[3])
            yield day, {"who": who[owner], "ms": ms, "lon": lon, "lat": lat, "day": np.full(len(ms), day.value)}


def report_chunks(city: City, n_reports: int, days: list[pd.Timestamp],
                  seed: int = 0) -> Iterator[tuple[pd.Timestamp, dict[str, np.ndarray]]]:
    """(day, columns) chunks of reports: recurring places over a background, daytime hours."""
    rng = np.random.default_rng(seed + 2)
    x0, y0, x1, y1 = city.sub_boxes[:, 0].min(), city.sub_boxes[:, 1].min(), city.sub_boxes[:, 2].max(), \
        city.sub_boxes[:, 3].max()
    places = np.column_stack([rng.uniform(x0, x1, 2000), rng.uniform(y0, y1, 2000)])
    spread = rng.uniform(20, 120, 2000)
    weight = 1.0 / np.arange(1, 2001) ** 0.8
    weight /= weight.sum()
    number = 0
    for day, per_day in zip(days, split_evenly(n_reports, len(days))):
        for size in split_evenly(int(per_day), max(1, -(-int(per_day) // CHUNK_ROWS))):
            n = int(size)
            near = rng.random(n) < 0.7
            place = rng.choice(len(places), n, p=weight)
            x = np.where(near, places[place, 0] + rng.normal(0, 1, n) * spread[place], rng.uniform(x0, x1, n))
            y = np.where(near, places[place, 1] + rng.normal(0, 1, n) * spread[place], rng.uniform(y0, y1, n))
            lon, lat = city.to_lonlat.transform(x, y)
            lon, lat = np.clip(lon, city.extent[0], city.extent[2]), np.clip(lat, city.extent[1], city.extent[3])
            seconds = rng.choice(24, n, p=HOUR_P) * 3600 + rng.uniform(0, 3600, n)
            ms = np.round((day.tz_localize(TZ).value / 1e9 + seconds) * 1000).astype(np.int64)
            yield day, {"number": np.arange(number, number + n), "ms": ms, "lon": lon, "lat": lat,
                        "category": rng.choice(len(CATEGORIES), n), "source": rng.choice(4, n, p=SOURCE_P),
                        "status": rng.choice(4, n, p=STATUS_P)}
            number += n


# ---------------------------------------------------------------------------------------------------------------
# writing GeoParquet chunk by chunk
# ---------------------------------------------------------------------------------------------------------------


def point_wkb(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """ISO WKB of 2D points (little endian, 21 bytes each), as shapely.to_wkb writes them, built without objects."""
    rec = np.empty(len(lon), dtype=np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")]))
    rec["order"], rec["kind"], rec["x"], rec["y"] = 1, 1, lon, lat
    offsets = np.arange(len(lon) + 1, dtype=np.int32) * 21
    return pa.Array.from_buffers(pa.binary(), len(lon), [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())])


def layer_schema(layer: str, template: gpd.GeoDataFrame, extent: tuple[float, float, float, float]) -> pa.Schema:
    """The Arrow schema and metadata geopandas writes for `template` (the layer's columns), bbox = `extent`."""
    buffer = io.BytesIO()
    template.to_parquet(buffer, index=False, compression="zstd", schema_version="1.1.0", write_covering_bbox=True)
    schema = pq.read_schema(io.BytesIO(buffer.getvalue()))
    geo = json.loads(schema.metadata[b"geo"])
    geo["columns"]["geometry"]["bbox"] = list(extent)
    names = [c.name for c in layer_spec(layer).columns] + ["geometry", "bbox"]
    if schema.names != names:
        raise AssertionError(f"{layer}: geopandas wrote columns {schema.names}, the layer has {names}")
    return schema.with_metadata({**schema.metadata, b"geo": json.dumps(geo).encode()})


def _text(values: np.ndarray, labels: list[str] | np.ndarray) -> pa.Array:
    """Labels by index, as large_string (through a dictionary: no Python object per row)."""
    dictionary = pa.array(np.asarray(labels, dtype=object), type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(values, type=pa.int32()), dictionary).cast(pa.large_string())


def _sorted(table: pa.Table, lon: np.ndarray, lat: np.ndarray, keys: list[np.ndarray]) -> pa.Table:
    """The chunk's rows along a Hilbert curve over its extent (geopandas' hilbert_distance, level 16), ties by keys."""
    hilbert = gpd.GeoSeries(shapely.points(lon, lat)).hilbert_distance(level=16).to_numpy()
    order = np.lexsort([*reversed(keys), hilbert])
    return table.take(pa.array(order))


def _geometry_columns(lon: np.ndarray, lat: np.ndarray) -> list[pa.Array]:
    bbox = pa.StructArray.from_arrays([pa.array(lon), pa.array(lat), pa.array(lon), pa.array(lat)],
                                      names=["xmin", "ymin", "xmax", "ymax"])
    return [point_wkb(lon, lat), bbox]


def track_table(schema: pa.Schema, cols: dict[str, np.ndarray]) -> pa.Table:
    """A chunk of fixes as an Arrow table of `schema`, Hilbert-sorted (ties by inspector, time)."""
    who, lon, lat = cols["who"], cols["lon"], cols["lat"]
    names, index = np.unique(who, return_inverse=True)
    stamp = pd.Timestamp(int(cols["day"][0])).strftime("%Y%m%d")
    n = len(who)
    arrays = [_text(index, inspector_name(names)), pa.array(cols["ms"], type=schema.field("time").type),
              _text(index, np.char.add(np.char.add("T", np.char.zfill(names.astype(str), 4)), f"-{stamp}-1")),
              pa.nulls(n, pa.large_string()), *_geometry_columns(lon, lat)]
    return _sorted(pa.Table.from_arrays(arrays, schema=schema), lon, lat, [who, cols["ms"]])


def report_table(schema: pa.Schema, cols: dict[str, np.ndarray], grid_of: Callable[..., np.ndarray],
                 grid_codes: np.ndarray) -> pa.Table:
    """A chunk of reports as an Arrow table of `schema`, Hilbert-sorted (ties by report_id)."""
    lon, lat, n = cols["lon"], cols["lat"], len(cols["lon"])
    ids = pa.array(np.char.add("C", np.char.zfill(cols["number"].astype(str), 10)), type=pa.large_string())
    grid = grid_of(lon, lat)
    codes = pa.array(np.where(grid >= 0, grid_codes[np.maximum(grid, 0)], None), type=pa.large_string())
    arrays = [ids, pa.array(cols["ms"], type=schema.field("reported_at").type),
              _text(cols["category"], CATEGORIES), pa.nulls(n, pa.large_string()), _text(cols["source"], SOURCES),
              _text(cols["status"], STATUSES), codes, pa.nulls(n, pa.large_string()), pa.nulls(n, pa.large_string()),
              *_geometry_columns(lon, lat)]
    return _sorted(pa.Table.from_arrays(arrays, schema=schema), lon, lat, [cols["number"]])


class DayWriter:
    """Writes each day's chunks to ``root/date=YYYY-MM-DD/part-0.parquet`` (a temporary file renamed when done)."""

    def __init__(self, root: Path, schema: pa.Schema) -> None:
        self.root, self.schema = root, schema
        self.day: str | None = None
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0
        self.bytes = 0
        self.days: list[str] = []

    def write(self, day: pd.Timestamp, table: pa.Table) -> None:
        name = day.strftime("%Y-%m-%d")
        if name != self.day:
            self.close()
            folder = self.root / f"date={name}"
            folder.mkdir(parents=True, exist_ok=True)
            self.day, self.days = name, [*self.days, name]
            self.writer = pq.ParquetWriter(folder / f".part-0.parquet.{os.getpid()}.tmp", self.schema,
                                           compression="zstd")
        assert self.writer is not None
        self.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.writer is None or self.day is None:
            return
        self.writer.close()
        folder = self.root / f"date={self.day}"
        temporary = folder / f".part-0.parquet.{os.getpid()}.tmp"
        os.replace(temporary, folder / "part-0.parquet")
        self.bytes += (folder / "part-0.parquet").stat().st_size
        self.writer = None


def period_days(start: str, days: int) -> list[pd.Timestamp]:
    """The `days` local days from `start` (naive midnights)."""
    return list(pd.date_range(pd.Timestamp(start), periods=days, freq="D"))


def _template(layer: str, city: City) -> gpd.GeoDataFrame:
    """One row of the layer as the workspace holds it (strings, ms times in Asia/Shanghai), for the schema."""
    spec = layer_spec(layer)
    row: dict[str, Any] = {}
    for column in spec.columns:
        if column.dtype == "datetime":
            row[column.name] = pd.Series([pd.Timestamp("2025-03-03 08:00", tz=TZ)]).astype(f"datetime64[ms, {TZ}]")
        else:
            row[column.name] = pd.Series(["x"], dtype="string")
    frame = pd.DataFrame(row)
    return gpd.GeoDataFrame(frame, geometry=[shapely.Point(city.extent[:2])], crs=4326)


def write_tracks(city: City, directory: Path, n_fixes: int, inspectors: int, days: list[pd.Timestamp],
                 seed: int = 0) -> DayWriter:
    """`n_fixes` fixes of `inspectors` over `days` to ``directory/tracks``; returns the writer (rows, bytes, days)."""
    out = DayWriter(Path(directory) / "tracks", layer_schema("tracks", _template("tracks", city), city.extent))
    for day, cols in track_chunks(city, n_fixes, inspectors, days, seed):
        out.write(day, track_table(out.schema, cols))
    out.close()
    return out


def grid_finder(city: City) -> Callable[..., np.ndarray]:
    """A function (lon, lat) -> index of the grid holding each point (-1 outside every grid)."""
    geoms = np.asarray(city.grids.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms)

    def find(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        pairs = tree.query(shapely.points(lon, lat), predicate="within")
        out = np.full(len(lon), -1, dtype=np.int64)
        out[pairs[0]] = pairs[1]
        return out

    return find


def write_reports(city: City, directory: Path, n_reports: int, days: list[pd.Timestamp], seed: int = 0) -> DayWriter:
    """`n_reports` reports over `days` to ``directory/reports``; returns the writer."""
    out = DayWriter(Path(directory) / "reports", layer_schema("reports", _template("reports", city), city.extent))
    find, codes = grid_finder(city), city.grids["grid_code"].to_numpy()
    for day, cols in report_chunks(city, n_reports, days, seed):
        out.write(day, report_table(out.schema, cols, find, codes))
    out.close()
    return out
