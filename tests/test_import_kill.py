"""BAD-INPUTS.md case 4: ``gridmap import`` killed with SIGKILL at random moments.

The workspace must stay intact (SQLite integrity check ok), hold either none or
all of the file's rows after each kill, and a re-import must end with exactly the
file's rows.
"""

from __future__ import annotations

import os
from contextlib import closing
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gridmap.cli import main

ROWS = 150_000


def _csv(path: Path) -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(109.725, 109.740, ROWS)
    lat = rng.uniform(38.285, 38.295, ROWS)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("report_id,reported_at,category,description,lon,lat\n")
        for i in range(ROWS):
            fh.write(f"K{i},2025-06-01 08:{i % 60:02d},垃圾乱倒,kill test,{lon[i]:.6f},{lat[i]:.6f}\n")


def _state(ws: Path) -> tuple[str, int]:
    with closing(sqlite3.connect(ws)) as con:
        check = con.execute("PRAGMA integrity_check").fetchone()[0]
        count = con.execute("SELECT count(*) FROM reports WHERE report_id LIKE 'K%'").fetchone()[0]
    return check, count


@pytest.mark.slow
def test_killed_import_leaves_workspace_intact(tmp_path: Path) -> None:
    ws = tmp_path / "w.gpkg"
    assert main(["init", str(ws), "--sample"]) == 0
    csv = tmp_path / "big.csv"
    _csv(csv)
    cmd = [sys.executable, "-m", "gridmap", "import", str(ws), "reports", str(csv), "--coords", "wgs84", "--json"]
    # measure a full run first, on a copy, to spread kills over its whole length
    probe = tmp_path / "probe.gpkg"
    probe.write_bytes(ws.read_bytes())
    t0 = time.perf_counter()
    subprocess.run(cmd[:4] + [str(probe)] + cmd[5:], check=True, capture_output=True)
    full = time.perf_counter() - t0
    killed_mid_way = 0
    for fraction in (0.35, 0.6, 0.8, 0.9, 0.97):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full * fraction)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed_mid_way += 1
        proc.wait()
        check, count = _state(ws)
        assert check == "ok"
        assert count in (0, ROWS), f"partial import after kill at {fraction:.0%}: {count} rows"
        if count == ROWS:
            break
    assert killed_mid_way >= 1
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    check, count = _state(ws)
    assert check == "ok" and count == ROWS
    with closing(sqlite3.connect(ws)) as con:
        rtree = con.execute("SELECT count(*) FROM rtree_reports_geom").fetchone()[0]
        rows = con.execute("SELECT count(*) FROM reports").fetchone()[0]
    assert rtree == rows
