"""The checklist of a route as CSV for Excel: one row per stop in walking order, with a box to tick."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from gridmap.errors import SchemaError
from gridmap.export.spreadsheet import write_csv
from gridmap.model.layers import kind_label

__all__ = ["CHECKLIST_HEADERS", "write_checklist"]

#: The checklist's headers per language, in column order: the route's column for each (None: the empty box).
CHECKLIST_HEADERS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "zh": (("顺序", "order"), ("点位", "stop_id"), ("类型", "kind"), ("本段步行(米)", "leg_m"),
           ("累计(米)", "cumulative_m"), ("离街距离(米)", "off_street_m"), ("经度(GCJ-02)", "lon_gcj02"),
           ("纬度(GCJ-02)", "lat_gcj02"), ("高德地图链接", "amap_url"), ("完成 ☐", None)),
    "en": (("order", "order"), ("stop", "stop_id"), ("kind", "kind"), ("distance to walk (m)", "leg_m"),
           ("cumulative (m)", "cumulative_m"), ("off street (m)", "off_street_m"), ("longitude (GCJ-02)", "lon_gcj02"),
           ("latitude (GCJ-02)", "lat_gcj02"), ("Amap link", "amap_url"), ("done ☐", None)),
}


def _cell(frame: Any, column: str | None, lang: str) -> Any:
    if column is None:
        return [""] * len(frame)
    values = frame[column]
    if column in ("leg_m", "cumulative_m", "off_street_m"):
        return values.astype(float).round(1).to_numpy()
    if column in ("lon_gcj02", "lat_gcj02"):
        return values.astype(float).round(6).to_numpy()
    if column == "kind":
        return [kind_label(v, lang) for v in values]
    return values.to_numpy()


def write_checklist(stops: Any, path: str | PathLike[str], *, lang: str = "zh") -> Path:
    """Write a route's stops as a checklist CSV (UTF-8 with BOM, safe cells: :func:`write_csv`).

    Parameters
    ----------
    stops : pandas.DataFrame
        :attr:`gridmap.analysis.route.RouteResult.stops`.
    path : str or os.PathLike
        The file to write.
    lang : {"zh", "en"}
        zh-Hans headers (default) or English.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> stops = pd.DataFrame({"order": [1], "stop_id": ["G-01"], "kind": ["dead_corner"], "leg_m": [12.34],
    ...                       "cumulative_m": [12.34], "off_street_m": [2.0], "lon_gcj02": [109.7],
    ...                       "lat_gcj02": [38.3], "amap_url": ["https://uri.amap.com/marker?position=109.7,38.3"]})
    >>> out = write_checklist(stops, pathlib.Path(tempfile.mkdtemp()) / "c.csv", lang="en")
    >>> out.read_text(encoding="utf-8-sig").splitlines()[1]
    '1,"G-01","dead corner",12.3,12.3,2.0,109.7,38.3,"https://uri.amap.com/marker?position=109.7,38.3",""'
    """
    if lang not in CHECKLIST_HEADERS:
        raise SchemaError(f"lang must be 'zh' or 'en', got {lang!r}")
    frame = pd.DataFrame({header: _cell(stops, column, lang) for header, column in CHECKLIST_HEADERS[lang]})
    return write_csv(frame, path)
