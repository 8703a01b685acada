"""BAD-INPUTS.md case 4: ``gridmap import`` killed with SIGKILL at points of observed progress.

Each kill happens once the import has visibly reached a stage (its private staging
GeoPackage exists; the workspace's WAL holds 10 %, 50 %, 90 % of the bytes a full
import writes there), never after a measured fraction of time. The workspace must
stay intact (SQLite integrity check ok), hold either none or all of the file's rows
after each kill, and a re-import must end with exactly the file's rows.
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


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # not there yet, or removed when the import closed the workspace
        return 0


def _run(cmd: list[str], ws: Path, tmpdir: Path, reached=None) -> tuple[bool, int]:  # type: ignore[no-untyped-def]
    """Run the import into `ws` (staging under `tmpdir`); SIGKILL it once `reached()` holds.

    Returns whether it was killed while still running, and the largest WAL size seen.
    """
    tmpdir.mkdir(exist_ok=True)
    wal = Path(str(ws) + "-wal")
    proc = subprocess.Popen([*cmd[:4], str(ws), *cmd[5:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, TMPDIR=str(tmpdir)))
    biggest, killed = 0, False
    try:
        while proc.poll() is None:
            biggest = max(biggest, _size(wal))
            if reached is not None and reached(tmpdir, biggest):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.001)  # polling interval only: no assertion depends on time
    finally:
        proc.wait()
    return killed and proc.returncode == -signal.SIGKILL, biggest


@pytest.mark.slow
def test_killed_import_leaves_workspace_intact(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine.gpkg"
    assert main(["init", str(pristine), "--sample"]) == 0
    csv = tmp_path / "big.csv"
    _csv(csv)
    cmd = [sys.executable, "-m", "gridmap", "import", "WS", "reports", str(csv), "--coords", "wgs84", "--json"]
    # a full run on a copy tells how many bytes the import writes into the WAL (progress, not time)
    probe = tmp_path / "probe.gpkg"
    probe.write_bytes(pristine.read_bytes())
    _, full_wal = _run(cmd, probe, tmp_path / "tmp-probe")
    assert _state(probe) == ("ok", ROWS) and full_wal > 0
    points = {
        "staging file written": lambda tmp, wal: any(tmp.glob("gridmap-stage-*/stage.gpkg")),
        **{f"WAL at {f:.0%}": (lambda tmp, wal, f=f: wal >= f * full_wal) for f in (0.1, 0.5, 0.9)},
    }
    killed_mid_way = rolled_back = 0
    for n, (name, reached) in enumerate(points.items()):
        ws = tmp_path / f"w{n}.gpkg"
        ws.write_bytes(pristine.read_bytes())
        killed, _ = _run(cmd, ws, tmp_path / f"tmp{n}", reached)
        killed_mid_way += killed
        check, count = _state(ws)
        assert check == "ok", name
        assert count in (0, ROWS), f"partial import after kill at {name}: {count} rows"
        rolled_back += killed and count == 0 and name.startswith("WAL")
        if name == "WAL at 50%":
            resumed = ws
    assert killed_mid_way >= 3
    assert rolled_back >= 1  # at least one kill hit the open transaction in the workspace, which left no row
    result = subprocess.run([*cmd[:4], str(resumed), *cmd[5:]], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    check, count = _state(resumed)
    assert check == "ok" and count == ROWS
    with closing(sqlite3.connect(resumed)) as con:
        rtree = con.execute("SELECT count(*) FROM rtree_reports_geom").fetchone()[0]
        rows = con.execute("SELECT count(*) FROM reports").fetchone()[0]
    assert rtree == rows
