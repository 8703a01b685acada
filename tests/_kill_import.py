"""Helper process for tests/test_workspace.py: append a large, deterministic reports frame.

Run as ``python tests/_kill_import.py WORKSPACE ROWS``. It prints ``staging`` just
before the append starts and ``done <accepted> <duplicates>`` when it committed;
the tests kill it with SIGKILL somewhere in between.
"""

from __future__ import annotations

import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def build_frame(rows: int) -> gpd.GeoDataFrame:
    """The same `rows` point reports every time (fixed seed)."""
    rng = np.random.default_rng(20250301)
    times = pd.Timestamp("2025-03-01", tz="Asia/Shanghai") + pd.to_timedelta(rng.integers(0, 86_400_000, rows), "ms")
    return gpd.GeoDataFrame(
        {
            "report_id": [f"K{i:08d}" for i in range(rows)],
            "reported_at": times,
            "category": "garbage_dumping",
            "description": "垃圾乱倒",
        },
        geometry=shapely.points(rng.uniform(109.72, 109.74, rows), rng.uniform(38.28, 38.30, rows)),
        crs="EPSG:4326",
    )


def main(argv: list[str]) -> int:
    from gridmap.storage import open_workspace

    path, rows = argv[0], int(argv[1])
    frame = build_frame(rows)
    with open_workspace(path) as ws:
        sys.stdout.write("staging\n")
        sys.stdout.flush()
        summary = ws.append("reports", frame, source="kill.csv", source_digest="k111")
    sys.stdout.write(f"done {summary.accepted} {summary.duplicates}\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
