"""Benchmark: the weekly scoreboard on many reports, against a plain per-report reference.

Data: ``gridmap.sample_layers(n_reports=N, track_days=7)`` for each N of ``--sizes``
(illustrative), the week 2025-03-03 to 2025-03-10 and the week before it.

- **gridmap**: ``gridmap.scoreboard(layers, start, end)``: both periods, every
  column (events at the cut-off, overdue against deadlines, recurrences over
  all reports, the sweep coverage of each period, rank, lagging). Timed whole,
  and its parts: recurrences, and one period's figures.
- **the reference**, written the way an analyst would in plain Python: for
  each report of the week, walk its rectifications and spot checks one by one
  to find its state at the cut-off and its first fix, then count per
  community with a dict. It computes ``reports``, ``rectified``, ``verified``,
  ``reopened`` and ``overdue`` only (no coverage, no recurrences).

Printed per N: time of each, the ratio for the same work (ours without coverage
and recurrences against the reference), whether the five shared columns
agree exactly for every community (accuracy), and the peak resident memory of
a forked child computing only our scoreboard (``ru_maxrss``).

Run: ``python benchmarks/scoreboard.py [--sizes 20000,100000]``
"""

from __future__ import annotations

import argparse
import resource
import time
from collections import defaultdict
from typing import Any

import pandas as pd

START, END = "2025-03-03", "2025-03-10"


def _reference(layers: dict[str, Any]) -> pd.DataFrame:
    """State at the cut-off, first fix and overdue per report, by a loop over each report's events."""
    from gridmap.analysis.supervision import DEFAULT_DEADLINES_HOURS

    start, end = pd.Timestamp(START, tz="Asia/Shanghai"), pd.Timestamp(END, tz="Asia/Shanghai")
    community = dict(zip(layers["grids"]["grid_code"], layers["grids"]["community_code"]))
    fixes: dict[str, list[tuple[pd.Timestamp, Any]]] = defaultdict(list)
    for rid, fixed, verified in layers["rectifications"][["report_id", "rectified_at", "verified_at"]].itertuples(
            index=False):
        fixes[rid].append((fixed, verified))
    checks: dict[str, list[tuple[pd.Timestamp, str]]] = defaultdict(list)
    for rid, checked, result in layers["spotchecks"][["report_id", "checked_at", "result"]].itertuples(index=False):
        checks[rid].append((checked, result))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    reports = layers["reports"]
    for rid, at, category, grid in reports[["report_id", "reported_at", "category", "grid_code"]].itertuples(
            index=False):
        if not (start <= at < end) or grid not in community:
            continue
        events: list[tuple[pd.Timestamp, int, str, bool]] = []
        for fixed, verified in fixes.get(rid, []):
            if fixed >= at:  # a fix dated before its report (and its verification) is bad data
                events.append((fixed, 0, "rectified", True))
                if pd.notna(verified):
                    events.append((max(fixed, verified), 1, "verified", False))
        first_fix = min((e[0] for e in events if e[3]), default=None)
        events += [(t, 2, r, False) for t, r in checks.get(rid, []) if first_fix is not None and t >= first_fix]
        mine = sorted(e for e in events if at <= e[0] <= end)
        state = mine[-1][2] if mine else None
        done = [e[0] for e in mine if e[3]]
        limit = pd.Timedelta(hours=DEFAULT_DEADLINES_HOURS.get(category, 72.0))
        late = (done[0] - at > limit) if done else (end - at > limit)
        row = counts[community[grid]]
        row["reports"] += 1
        row["rectified"] += state in ("rectified", "verified")
        row["verified"] += state == "verified"
        row["reopened"] += state == "reopened"
        row["overdue"] += bool(late)
    return pd.DataFrame.from_dict({k: dict(v) for k, v in counts.items()}, orient="index").fillna(0).astype(int)


def _ours(layers: dict[str, Any]) -> pd.DataFrame:
    import gridmap

    return gridmap.scoreboard(layers, start=START, end=END, lang="en", now=pd.Timestamp("2026-01-01", tz="UTC"))


def _peak_child(queue: Any, n: int) -> None:
    import gridmap

    layers = gridmap.sample_layers(n_reports=n, track_days=7)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _ours(layers)
    queue.put((before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _peak(n: int) -> tuple[float, float]:
    from _fork import in_child

    return in_child(_peak_child, n)


def _parts(layers: dict[str, Any]) -> dict[str, float]:
    from gridmap.analysis.recurrence import recurrences
    from gridmap.analysis.supervision import period_figures

    t = time.perf_counter()
    recurrences(layers["reports"], rectifications=layers["rectifications"])
    took = time.perf_counter() - t
    t = time.perf_counter()
    period_figures(layers, START, END, recurrences=False)
    with_coverage = time.perf_counter() - t
    t = time.perf_counter()
    period_figures({**layers, "tracks": None}, START, END, recurrences=False)
    return {"recurrences (all reports)": took, "one period's figures with coverage": with_coverage,
            "one period's figures without coverage and recurrences (what the reference computes)":
            time.perf_counter() - t}


def run(n: int) -> None:
    import gridmap

    layers = gridmap.sample_layers(n_reports=n, track_days=7)
    chosen = gridmap.select_reports(layers["reports"], start=START, end=END)
    print(f"== {n:,} reports (gridmap.sample_layers, track_days=7); {len(chosen):,} in the week {START} to {END}")
    t = time.perf_counter()
    board = _ours(layers)
    ours = time.perf_counter() - t
    t = time.perf_counter()
    ref = _reference(layers)
    peer = time.perf_counter() - t
    shared = ["reports", "rectified", "verified", "reopened", "overdue"]
    mine = board.set_index("community_code")[shared]
    mine = mine[mine["reports"] > 0].sort_index()
    agree = mine.equals(ref[shared].sort_index().reindex(mine.index).astype(mine.dtypes.to_dict()))
    before, peak = _peak(n)
    print(f"ours: gridmap.scoreboard (both periods, every column): {ours:.2f} s; peak RSS {peak:.0f} MB "
          f"({before:.0f} MB before: +{peak - before:.0f} MB)")
    parts = _parts(layers)
    for name, seconds in parts.items():
        print(f"      of which {name}: {seconds:.2f} s")
    same = parts["one period's figures without coverage and recurrences (what the reference computes)"]
    print(f"reference: per-report loop over events, 5 count columns of one period only: {peer:.2f} s")
    print(f"time for the same work, reference / ours: {peer / same:.1f}x; "
          f"the 5 shared columns agree for every community: {agree}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000,100000")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        run(n)


if __name__ == "__main__":
    main()
