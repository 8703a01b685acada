"""Illustrative problem reports, their rectifications and spot checks (invented, not real cases).

Part of :mod:`gridmap.sample`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from gridmap.crs import metric_crs
from gridmap.errors import SchemaError
from gridmap.model import DEFAULT_TZ, STORAGE_CRS
from gridmap.sample.boundaries import _ERLIBAN_STREET, _near_streets, _require_layers
from gridmap.sample.common import (
    _assign_grid,
    _aware,
    _local_midnights,
    _lonlat_function,
    _own_columns,
    _rng,
    _uniform_points,
)

_HOUR_NS = 3_600 * 10**9
_NORTH_STREET = "北大街"

# Report generation: category weights (keys of gridmap.model.CATEGORIES).
_CATEGORY_WEIGHTS: dict[str, float] = {
    "garbage_dumping": 0.28, "random_piling": 0.20, "sewage_splashing": 0.10, "sanitation_dead_corner": 0.10,
    "road_occupying_business": 0.08, "firewood_pile": 0.07, "vacant_lot_garbage": 0.07,
    "sewage_discharge_point": 0.05, "scrapped_vehicle": 0.05,
}
_HOTSPOT_WEIGHTS: dict[str, float] = {
    "random_piling": 0.30, "garbage_dumping": 0.30, "sanitation_dead_corner": 0.25, "firewood_pile": 0.15,
}
_GARBAGE_CATEGORIES = frozenset(
    {"garbage_dumping", "random_piling", "vacant_lot_garbage", "sanitation_dead_corner", "firewood_pile"}
)
_SOURCES: dict[str, float] = {"wechat": 0.45, "patrol": 0.25, "app": 0.20, "hotline": 0.10}
_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "random_piling": ("{place}附近杂物乱堆乱放，影响通行", "{place}旁建筑材料乱堆乱放"),
    "garbage_dumping": ("{place}有人乱倒生活垃圾", "{place}垃圾堆积，气味较大，请尽快清运"),
    "sewage_splashing": ("{place}门前污水乱泼", "{place}路面有污水，结冰路滑"),
    "firewood_pile": ("{place}院内柴草垛堆放，有火灾隐患",),
    "scrapped_vehicle": ("{place}停放多辆废旧摩托车", "{place}有报废车辆长期占道"),
    "road_occupying_business": ("{place}商户占道经营", "{place}摊点占用人行道"),
    "sewage_discharge_point": ("{place}发现污水排放点",),
    "vacant_lot_garbage": ("{place}空闲地垃圾杂草丛生", "{place}空地有人倾倒垃圾"),
    "sanitation_dead_corner": ("{place}墙角卫生死角，垃圾未清", "{place}巷子深处卫生死角"),
}
_RECURRING_SITES = {"garbage_point": 16, "sewage_point": 2, "vacant_lot": 2}


@dataclass
class _Metric:
    """Boundary geometries in metres, for generating reports."""

    crs: CRS
    region: BaseGeometry
    streets: dict[str, BaseGeometry]
    zones: list[BaseGeometry]
    targets: dict[str, list[tuple[str, BaseGeometry]]]


def _metric_view(layers: Mapping[str, gpd.GeoDataFrame]) -> _Metric:
    crs = metric_crs(layers["subdistrict"])
    region = layers["subdistrict"].to_crs(crs).union_all().buffer(-3.0)
    streets = layers["streets"].to_crs(crs)
    targets = layers["targets"].to_crs(crs)
    by_kind: dict[str, list[tuple[str, BaseGeometry]]] = {}
    for kind, name, geom in zip(targets["kind"], targets["name"], targets.geometry):
        by_kind.setdefault(str(kind), []).append((str(name), geom))
    return _Metric(
        crs=crs, region=region,
        streets={str(n): g for n, g in zip(streets["street_name"], streets.geometry)},
        zones=list(layers["demolition_zones"].to_crs(crs).geometry),
        targets=by_kind,
    )


def _time_of_day_ns(rng: np.random.Generator, n: int) -> np.ndarray:
    """Daytime hours 07:00-20:00 with a morning and an afternoon peak, in nanoseconds after midnight."""
    morning = rng.random(n) < 0.55
    hours = np.where(morning, rng.normal(9.5, 1.3, n), rng.normal(15.5, 1.6, n))
    hours = np.clip(hours, 7.0, 19.99)
    return (hours * 3600).astype(np.int64) * 10**9


def _weighted_choice(rng: np.random.Generator, weights: Mapping[str, float], n: int) -> np.ndarray:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return np.asarray(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def _fix_lag_ns(rng: np.random.Generator, t: np.ndarray, midnights: np.ndarray) -> np.ndarray:
    """Time from report to rectification: log-normal, median 20 h, 1 h to 14 days; night work moves to 07:00-13:00."""
    t = np.asarray(t, dtype=np.int64)
    hours = np.clip(rng.lognormal(math.log(20.0), 0.9, len(t)), 1.0, 24.0 * 14)
    done = t + (hours * 3600).astype(np.int64) * 10**9
    day = np.clip(np.searchsorted(midnights, done, side="right") - 1, 0, len(midnights) - 2)
    tod = done - midnights[day]
    morning = midnights[day] + 7 * _HOUR_NS + (rng.uniform(0.0, 6.0, len(t)) * 3600).astype(np.int64) * 10**9
    done = np.where(tod < 7 * _HOUR_NS, morning, done)
    done = np.where(tod >= 20 * _HOUR_NS, morning + (midnights[day + 1] - midnights[day]), done)
    return done - t


def _recurring_sites(geo: _Metric) -> list[tuple[str, np.ndarray, str]]:
    """(place name, metric xy, category) of up to 20 places where problems come back."""
    category = {"garbage_point": "garbage_dumping", "sewage_point": "sewage_splashing",
                "vacant_lot": "vacant_lot_garbage"}
    sites = []
    for kind, count in _RECURRING_SITES.items():
        for name, geom in geo.targets.get(kind, [])[:count]:
            xy = np.asarray(shapely.point_on_surface(geom).coords[0])
            sites.append((name, xy, category[kind]))
    return sites


def _chain(rng: np.random.Generator, midnights: np.ndarray, days: int) -> list[tuple[int, int]]:
    """(reported_at, rectification lag) of one recurring site: each report 3-30 days after the last fix."""
    end = midnights[days]
    t = int(midnights[rng.integers(0, min(days, 60))] + _time_of_day_ns(rng, 1)[0])
    out = []
    while t < end:
        lag = int(_fix_lag_ns(rng, np.array([t]), midnights)[0])
        out.append((t, lag))
        day = int(np.searchsorted(midnights, t + lag, side="right")) - 1 + int(rng.integers(4, 30))
        if day >= len(midnights):
            break
        t = int(midnights[day] + _time_of_day_ns(rng, 1)[0])
    return out


def _recurring_reports(rng: np.random.Generator, geo: _Metric, midnights: np.ndarray, days: int,
                       budget: int) -> pd.DataFrame:
    sites = _recurring_sites(geo)
    chains = [_chain(rng, midnights, days) for _ in sites]
    taken = [0] * len(chains)
    total = 0
    while total < budget and any(t < len(c) for t, c in zip(taken, chains)):
        for i, c in enumerate(chains):
            if taken[i] < len(c) and total < budget:
                taken[i] += 1
                total += 1
    rows = []
    for (name, xy, cat), chain, k in zip(sites, chains, taken):
        for t, lag in chain[:k]:
            r, a = 20.0 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            rows.append({"x": xy[0] + r * math.cos(a), "y": xy[1] + r * math.sin(a), "t": t, "lag": lag,
                         "category": cat, "place": name, "recurring": True})
    return pd.DataFrame(rows, columns=["x", "y", "t", "lag", "category", "place", "recurring"])


def _anchored_points(rng: np.random.Generator, geo: _Metric, categories: np.ndarray) -> np.ndarray:
    """Locations by category: scrapped vehicles on 北大街, road occupation at 二里半, sewage at sewage points..."""
    n = len(categories)
    streets = list(geo.streets.values())
    pts = np.where((rng.random(n) < 0.5)[:, None], _near_streets(rng, streets, n, spread=12.0),
                   _uniform_points(rng, geo.region, n))
    themed = {
        "scrapped_vehicle": ([geo.streets.get(_NORTH_STREET)], 0.7, 10.0),
        "road_occupying_business": ([geo.streets.get(_ERLIBAN_STREET)], 0.6, 10.0),
        "sewage_discharge_point": ([g for _, g in geo.targets.get("sewage_point", [])], 0.6, 20.0),
        "sewage_splashing": ([g for _, g in geo.targets.get("sewage_point", [])], 0.3, 30.0),
        "vacant_lot_garbage": ([g for _, g in geo.targets.get("vacant_lot", [])], 0.7, 20.0),
        "garbage_dumping": ([g for _, g in geo.targets.get("garbage_point", [])], 0.4, 25.0),
    }
    for cat, (anchors, share, spread) in themed.items():
        anchors = [a for a in anchors if a is not None and not a.is_empty]
        mask = (categories == cat) & (rng.random(n) < share)
        if anchors and mask.any():
            pts[mask] = _near_anchors(rng, anchors, int(mask.sum()), spread=spread)
    return pts


def _near_anchors(rng: np.random.Generator, anchors: Sequence[BaseGeometry], n: int, *, spread: float) -> np.ndarray:
    """Points near anchors: along lines, or around a point on the surface of points and polygons."""
    idx = rng.integers(0, len(anchors), n)
    base = []
    for i in idx:
        geom = anchors[i]
        if geom.geom_type in ("LineString", "MultiLineString"):
            base.append(geom.interpolate(rng.uniform(0.0, geom.length)))
        else:
            base.append(shapely.point_on_surface(geom))
    return shapely.get_coordinates(base) + rng.normal(0.0, spread, (n, 2))


def _background_reports(rng: np.random.Generator, geo: _Metric, midnights: np.ndarray, days: int,
                        n: int) -> pd.DataFrame:
    n_hot = int(round(0.2 * n)) if geo.zones else 0
    hot_cats = _weighted_choice(rng, _HOTSPOT_WEIGHTS, n_hot)
    zone_idx = rng.integers(0, max(len(geo.zones), 1), n_hot)
    hot_xy = shapely.get_coordinates([shapely.centroid(geo.zones[i]) for i in zone_idx]).reshape(-1, 2)
    hot_xy = hot_xy + rng.normal(0.0, 45.0, (n_hot, 2))
    cats = _weighted_choice(rng, _CATEGORY_WEIGHTS, n - n_hot)
    xy = np.vstack([hot_xy, _anchored_points(rng, geo, cats)])
    outside = ~shapely.contains_xy(geo.region, xy[:, 0], xy[:, 1])
    xy[outside] = _uniform_points(rng, geo.region, int(outside.sum()))
    t = midnights[rng.integers(0, days, n)] + _time_of_day_ns(rng, n)
    return pd.DataFrame({
        "x": xy[:, 0], "y": xy[:, 1], "t": t, "lag": _fix_lag_ns(rng, t, midnights),
        "category": np.concatenate([hot_cats, cats]), "place": _nearest_street(geo, xy), "recurring": False,
    })


def _nearest_street(geo: _Metric, xy: np.ndarray) -> np.ndarray:
    names = np.asarray(list(geo.streets), dtype=object)
    if len(names) == 0 or len(xy) == 0:
        return np.full(len(xy), "街巷", dtype=object)
    tree = shapely.STRtree(list(geo.streets.values()))
    idx = tree.query_nearest(shapely.points(xy), all_matches=False)[1]
    return names[idx]


def _descriptions(rng: np.random.Generator, categories: np.ndarray, places: np.ndarray) -> list[str]:
    out = []
    for cat, place in zip(categories, places):
        templates = _DESCRIPTIONS.get(str(cat), ("{place}发现环境卫生问题",))
        out.append(templates[int(rng.integers(0, len(templates)))].format(place=place))
    return out


def _rectification_plan(rng: np.random.Generator, raw: pd.DataFrame, end_ns: int) -> pd.DataFrame:
    """Status and rectification times of each report (ns; -1 when none)."""
    n = len(raw)
    t = raw["t"].to_numpy(np.int64)
    rect = t + raw["lag"].to_numpy(np.int64)
    rectified = rect <= end_ns
    reopened = rectified & ~raw["recurring"].to_numpy(bool) & (rng.random(n) < 0.03)
    ver = rect + (rng.uniform(2.0, 72.0, n) * 3600).astype(np.int64) * 10**9
    verified = rectified & ~reopened & (rng.random(n) < 0.6) & (ver <= end_ns)
    status = np.select([reopened, verified, rectified], ["reopened", "verified", "rectified"], default="reported")
    return pd.DataFrame({"rect": np.where(rectified, rect, -1), "verified": np.where(verified, ver, -1),
                         "status": status}, index=raw.index)


def _rectification_amounts(rng: np.random.Generator, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tonnes of garbage removed and truck trips used per rectification."""
    n = len(categories)
    garbage = np.isin(categories, list(_GARBAGE_CATEGORIES))
    vehicles = categories == "scrapped_vehicle"
    tonnes = np.where(garbage, np.clip(np.round(rng.lognormal(math.log(0.5), 0.8, n), 1), 0.1, None), 0.0)
    tonnes = np.where(vehicles, 0.3, tonnes)
    trips = np.where(garbage, np.ceil(tonnes / 2.0), np.where(vehicles, 1, 0)).astype(np.int64)
    return tonnes, trips


def sample_reports(
    boundaries: Mapping[str, gpd.GeoDataFrame] | None = None,
    *,
    seed: int = 0,
    start: str | pd.Timestamp = "2025-01-01",
    days: int = 365,
    n_reports: int = 2000,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Make a period of illustrative problem reports and their rectifications.

    About a quarter of the reports come from up to 20 recurring sites (mostly
    garbage points): after each rectification the problem is reported again
    within 20 m, 3 to 30 days later. A fifth cluster around the demolition zones
    beside the old wall; scrapped vehicles gather on 北大街 and road-occupying
    business at 二里半路; the rest lie beside streets or anywhere in the
    subdistrict. Reports come in daytime (07:00-20:00 China Standard Time).

    Parameters
    ----------
    boundaries : dict of str to geopandas.GeoDataFrame, optional
        Layers as returned by :func:`sample_boundaries` (needs ``subdistrict``,
        ``grids``, ``streets``, ``targets`` and ``demolition_zones``); made with
        `seed` when omitted.
    seed : int
        Seed of the generator; the same arguments give identical frames.
    start : str or pandas.Timestamp
        First day (a time without zone is taken as Asia/Shanghai).
    days : int
        Length of the period in days; nothing is reported or fixed after it.
    n_reports : int
        Number of reports, exactly.

    Returns
    -------
    reports : geopandas.GeoDataFrame
        Columns of the ``reports`` layer, points in EPSG:4326, sorted by
        ``reported_at`` (aware, Asia/Shanghai); ``report_id`` ``R000001``...;
        ``status`` reported, rectified, verified or reopened; ``grid_code`` of
        the grid holding the point.
    rectifications : pandas.DataFrame
        Columns of the ``rectifications`` layer: one row per report whose status
        is not ``reported``, ``rectified_at`` after ``reported_at``,
        ``verified_at`` only for verified reports.

    Raises
    ------
    SchemaError
        When a needed boundary layer is missing or an argument is out of range.
    CRSError
        When a boundary layer has no CRS.

    Examples
    --------
    >>> reports, fixes = sample_reports(n_reports=60, days=90)
    >>> len(reports), reports["reported_at"].dt.tz.key
    (60, 'Asia/Shanghai')
    >>> bool((reports.set_index("report_id").loc[fixes["report_id"], "reported_at"].to_numpy()
    ...       < fixes["rectified_at"].to_numpy()).all())
    True
    """
    if days < 1 or n_reports < 0:
        raise SchemaError(f"days must be at least 1 and n_reports at least 0, got days={days}, n_reports={n_reports}")
    layers = _require_layers(boundaries, seed, ("subdistrict", "grids", "streets", "targets", "demolition_zones"))
    rng = _rng(seed, "reports")
    geo = _metric_view(layers)
    midnights = _local_midnights(start, days)
    chains = _recurring_reports(rng, geo, midnights, days, budget=n_reports // 4)
    raw = pd.concat([chains, _background_reports(rng, geo, midnights, days, n_reports - len(chains))],
                    ignore_index=True)
    raw = raw.sort_values(["t", "x"], kind="stable", ignore_index=True)
    plan = _rectification_plan(rng, raw, int(midnights[days]))
    points = shapely.points(_lonlat_function(geo.crs, exact=False)(raw[["x", "y"]].to_numpy(float)))
    grids = layers["grids"].to_crs(STORAGE_CRS)
    codes = _assign_grid(points, list(grids.geometry), [str(c) for c in grids["grid_code"]])
    cadre_of = dict(zip(grids["grid_code"], grids["cadre"])) if "cadre" in grids else {}
    return (_reports_frame(rng, raw, plan, points, codes),
            _rectifications_frame(rng, raw, plan, [cadre_of.get(c) for c in codes]))


def _report_ids(n: int) -> np.ndarray:
    return np.asarray([f"R{i + 1:06d}" for i in range(n)], dtype=object)


def _reports_frame(rng: np.random.Generator, raw: pd.DataFrame, plan: pd.DataFrame, points: np.ndarray,
                   codes: list[str | None]) -> gpd.GeoDataFrame:
    cats = raw["category"].to_numpy(object)
    frame = pd.DataFrame({
        "report_id": _report_ids(len(raw)),
        "reported_at": _aware(raw["t"].to_numpy(np.int64)),
        "category": cats,
        "description": _descriptions(rng, cats, raw["place"].to_numpy(object)),
        "source": _weighted_choice(rng, _SOURCES, len(raw)),
        "status": plan["status"].to_numpy(object),
        "grid_code": codes,
        "photo": pd.Series([None] * len(raw), dtype="str"),
    })
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, crs=STORAGE_CRS))


def _rectifications_frame(rng: np.random.Generator, raw: pd.DataFrame, plan: pd.DataFrame,
                          cadres: list[Any]) -> pd.DataFrame:
    """One rectification per report that was fixed, by the cadre of the report's grid."""
    done = plan["rect"].to_numpy(np.int64) >= 0
    tonnes, trips = _rectification_amounts(rng, raw["category"].to_numpy(object))
    by = [str(c) if isinstance(c, str) and c.strip() else "网格员" for c, d in zip(cadres, done) if d]
    return pd.DataFrame({
        "report_id": _report_ids(len(raw))[done],
        "rectified_at": _aware(plan["rect"].to_numpy(np.int64)[done]),
        "verified_at": _aware(plan["verified"].to_numpy(np.int64)[done]),
        "by": pd.Series(by, dtype="str"),
        "tonnes": tonnes[done],
        "truck_trips": trips[done],
    })


def sample_spotchecks(reports: pd.DataFrame, rectifications: pd.DataFrame) -> pd.DataFrame:
    """Spot checks (抽查) consistent with the sample reports' statuses.

    Every ``reopened`` report gets a failed check one day after its latest
    rectification (so a workspace filled with the sample keeps it reopened),
    and every fifth ``verified`` report (by the CRC-32 of its id) a passed check
    at its ``verified_at``. The checker is the supervision group (督查组).

    Examples
    --------
    >>> reports, fixes = sample_reports(n_reports=400, days=120)
    >>> checks = sample_spotchecks(reports, fixes)
    >>> status = reports.set_index("report_id").loc[checks["report_id"], "status"]
    >>> bool((status.to_numpy() == checks["result"].to_numpy()).all())
    True
    """
    columns = _own_columns("spotchecks")
    status = dict(zip(reports["report_id"], reports["status"]))
    latest = rectifications.sort_values("rectified_at").groupby("report_id", sort=True).last()
    rows = []
    for report_id, fix in latest.iterrows():
        state = status.get(report_id)
        if state == "reopened":
            rows.append((report_id, fix["rectified_at"] + pd.Timedelta(days=1), "reopened"))
        elif state == "verified" and pd.notna(fix["verified_at"]) and zlib.crc32(str(report_id).encode()) % 5 == 0:
            rows.append((report_id, fix["verified_at"], "verified"))
    frame = pd.DataFrame(rows, columns=columns[:3])
    frame["checked_at"] = pd.to_datetime(frame["checked_at"]).astype(f"datetime64[ms, {DEFAULT_TZ}]")
    frame["checker"] = pd.Series(["督查组"] * len(frame), dtype="str")
    frame["note"] = pd.Series([None] * len(frame), dtype="str")
    return frame[columns]
