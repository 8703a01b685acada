"""Benchmark: recurrences plus recurring sites, against the pair-listing KD-tree approach, on three layouts.

Layouts, each at 100,000 and 1,000,000 reports (``--sizes``):

- **sample**: ``gridmap.sample_reports(n_reports=N, days=365)`` (illustrative; the sample's area is fixed, so
  at 1,000,000 reports it is itself very dense);
- **dense**: reports around 12 markets or dumps that keep coming back (a normal spread of 120 m around each, so
  thousands of reports lie within a few hundred metres of each other), three categories, a year, 90 %
  rectified 1 hour to 5 days after being reported;
- **market**: every report at one market that keeps coming back (a normal spread of 30 m: all N reports within
  about 100 m of each other, the most neighbours a report can have), otherwise as **dense**.

- **ours**: ``recurrences(reports, rectifications=fixes)`` then ``recurring_sites(...)`` on the same inputs, as
  a leaders' page and a scoreboard call them (the second reuses the first's work), cache emptied first.
- **peer**: the obvious SciPy approach (what gridmap did before): per block of one window, the KD-tree pairs
  (``cKDTree.sparse_distance_matrix``) of reports and rectifications within the radius, the latest per report by
  a lexsort; sites as ``connected_components`` of ``cKDTree.query_pairs``; and, when scikit-learn is installed,
  ``DBSCAN(eps=r, min_samples=1)`` for the sites. The peer starts from the same frames and projects them as
  ours does. It lists every pair within the radius, so it is not run where there are more than
  ``--max-pairs`` such pairs (counted with ``cKDTree.count_neighbors``); there a brute force of 300 random
  reports checks our recurrences, and their neighbours within the radius are checked to share their site.

Printed per figure (one line each): our time (best of ``--repeat``), the peer's and the ratio, whether the
results are equal (recurrence rows and the partition into sites), the peak resident memory of a forked child
computing only ours (``ru_maxrss``), and the target (100,000: <= 0.5 s; 1,000,000: <= 5 s) met or NOT met.

Then one line for the last clause of issue 16's target: ``--once`` reports (default 100,000) of
``gridmap.sample_layers`` stored in a GeoPackage (``WorkspaceStore.restore``), and a leaders' page
(``gridmap.export_html``) and a scoreboard page (``gridmap.pages.scoreboard.scoreboard_html`` with the pages' chart
weeks) of one week of March 2025 built one after the other in one process, cache emptied first: how many times the
recurrences were computed (``gridmap.analysis.recurrence.cache_info``), the target being once.

Run: ``python benchmarks/recurrence.py [--sizes 100000,1000000] [--layouts sample,dense,market] [--once 100000]``
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# benchmarks/ last on sys.path, for _fork, never first (run as a script it is first, and its html.py would shadow
# the standard library's html, which the pages of the last line import through folium)
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

RADIUS_M, WINDOW_DAYS = 50.0, 30.0
TARGET_S = {100_000: 0.5, 1_000_000: 5.0}
_DAY_NS = 86_400 * 10**9


# ---------------------------------------------------------------------------------------------------------------
# layouts
# ---------------------------------------------------------------------------------------------------------------


def dense_layout(n: int, *, seed: int = 0, sites: int = 12, spread_m: float = 120.0) -> tuple[Any, pd.DataFrame]:
    """Reports clustered at a few places that keep coming back, and their rectifications."""
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    centres = rng.uniform(-4000, 4000, size=(sites, 2)) + (388_900.0, 4_240_450.0)
    xy = centres[rng.integers(0, sites, n)] + rng.normal(0, spread_m, size=(n, 2))
    t = pd.Timestamp("2025-01-01", tz="Asia/Shanghai") + pd.to_timedelta(rng.integers(0, 365 * 86400, n), unit="s")
    cats = np.array(["garbage_dumping", "sewage_splashing", "clutter"], dtype=object)[rng.integers(0, 3, n)]
    ids = np.array([f"D{i:07d}" for i in range(n)], dtype=object)
    reports = gpd.GeoDataFrame({"report_id": ids, "reported_at": t, "category": cats},
                               geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:4546").to_crs(4326)
    fixed = rng.random(n) < 0.9
    fixes = pd.DataFrame({"report_id": ids[fixed],
                          "rectified_at": t[fixed] + pd.to_timedelta(rng.integers(3600, 5 * 86400, int(fixed.sum())),
                                                                     unit="s")})
    return reports, fixes


def layout(name: str, n: int) -> tuple[Any, pd.DataFrame]:
    import gridmap

    if name == "sample":
        return gridmap.sample_reports(n_reports=n, days=365)
    return dense_layout(n) if name == "dense" else dense_layout(n, sites=1, spread_m=30.0)


# ---------------------------------------------------------------------------------------------------------------
# ours
# ---------------------------------------------------------------------------------------------------------------


def ours(reports: Any, fixes: pd.DataFrame) -> tuple[float, pd.DataFrame, Any]:
    from gridmap.analysis.recurrence import clear_cache, recurrences, recurring_sites

    clear_cache()
    t = time.perf_counter()
    rec = recurrences(reports, rectifications=fixes, radius_m=RADIUS_M, window_days=WINDOW_DAYS)
    sites = recurring_sites(reports, rectifications=fixes, radius_m=RADIUS_M, window_days=WINDOW_DAYS)
    return time.perf_counter() - t, rec, sites


def _peak_child(queue: Any, name: str, n: int) -> None:
    reports, fixes = layout(name, n)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ours(reports, fixes)
    queue.put((before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


# ---------------------------------------------------------------------------------------------------------------
# the peer: list the pairs with a KD-tree
# ---------------------------------------------------------------------------------------------------------------


def _ns(values: pd.Series) -> np.ndarray:
    """UTC nanoseconds of zoned times."""
    return pd.to_datetime(values).dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").view(np.int64)


def _arrays(reports: Any, fixes: pd.DataFrame) -> dict[str, Any]:
    """Metric coordinates, times, categories and the usable rectifications, written out independently."""
    metric = reports.to_crs(4546)
    t = _ns(reports["reported_at"])
    ids = reports["report_id"].astype(str).to_numpy(object)
    pos = pd.Index(ids).get_indexer(fixes["report_id"].astype(str).to_numpy(object))
    when = _ns(fixes["rectified_at"])
    ok = (pos >= 0) & (when > t[np.maximum(pos, 0)])
    order = np.argsort(when[ok], kind="stable")
    return {"xy": np.column_stack([metric.geometry.x, metric.geometry.y]), "t": t, "ids": ids,
            "cat": pd.factorize(reports["category"].astype(str))[0], "ev_pos": pos[ok][order],
            "ev_t": when[ok][order]}


def _peer_recurrences(a: dict[str, Any]) -> set[tuple[str, str, int]]:
    from scipy.spatial import cKDTree

    xy, t, ev_pos, ev_t = a["xy"], a["t"], a["ev_pos"], a["ev_t"]
    window = int(WINDOW_DAYS * _DAY_NS)
    rows = []
    block = (t - t.min()) // window
    for b in np.unique(block):
        rep = np.flatnonzero(block == b)
        lo, hi = np.searchsorted(ev_t, [t[rep].min() - window, t[rep].max()])
        ev = np.arange(lo, hi)
        if len(ev) == 0:
            continue
        found = cKDTree(xy[rep]).sparse_distance_matrix(cKDTree(xy[ev_pos[ev]]), RADIUS_M * (1 + 1e-9),
                                                        output_type="ndarray")
        r, e = rep[found["i"]], ev[found["j"]]
        p = ev_pos[e]
        d = np.hypot(*(xy[r] - xy[p]).T)
        lag = t[r] - ev_t[e]
        keep = (d <= RADIUS_M) & (lag > 0) & (lag <= window) & (a["cat"][r] == a["cat"][p])
        rows.append((r[keep], p[keep], ev_t[e][keep], d[keep]))
    r, p, rect, d = (np.concatenate([row[k] for row in rows]) for k in range(4))
    rank = np.argsort(np.argsort(a["ids"][p].astype(str), kind="stable"), kind="stable")
    order = np.lexsort((rank, -t[p], d, -rect, r))
    first = order[np.concatenate([[True], r[order][1:] != r[order][:-1]])] if len(order) else order
    return set(zip(a["ids"][r[first]], a["ids"][p[first]], (t[r[first]] - rect[first]).tolist()))


def _peer_sites(a: dict[str, Any]) -> set[frozenset[str]]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    xy, n = a["xy"], len(a["t"])
    pairs = []
    for code in np.unique(a["cat"]):
        members = np.flatnonzero(a["cat"] == code)
        found = cKDTree(xy[members]).query_pairs(RADIUS_M * (1 + 1e-9), output_type="ndarray")
        i, j = members[found[:, 0]], members[found[:, 1]]
        near = np.hypot(*(xy[i] - xy[j]).T) <= RADIUS_M
        pairs.append((i[near], j[near]))
    i = np.concatenate([p[0] for p in pairs])
    j = np.concatenate([p[1] for p in pairs])
    labels = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)[1]
    return _partition(a["ids"], labels)


def _dbscan_sites(a: dict[str, Any]) -> set[frozenset[str]] | None:
    try:
        from sklearn.cluster import DBSCAN
    except ImportError:
        return None
    labels = np.empty(len(a["t"]), dtype=np.int64)
    for code in np.unique(a["cat"]):
        members = np.flatnonzero(a["cat"] == code)
        labels[members] = DBSCAN(eps=RADIUS_M, min_samples=1).fit(a["xy"][members]).labels_ + code * len(labels)
    return _partition(a["ids"], labels)


def _partition(ids: np.ndarray, labels: np.ndarray) -> set[frozenset[str]]:
    """The groups of at least two reports (``recurring_sites``' default ``min_reports=2``)."""
    order = np.argsort(labels, kind="stable")
    groups = np.split(ids[order], np.flatnonzero(np.diff(labels[order])) + 1)
    return {frozenset(g) for g in groups if len(g) >= 2}


def _pairs_within(a: dict[str, Any]) -> int:
    from scipy.spatial import cKDTree

    tree = cKDTree(a["xy"])
    return int((tree.count_neighbors(tree, RADIUS_M) - len(a["t"])) // 2)


# ---------------------------------------------------------------------------------------------------------------
# checks where the peer cannot run
# ---------------------------------------------------------------------------------------------------------------


def _spot_check(a: dict[str, Any], rec: pd.DataFrame, sites: Any, k: int = 300) -> bool:
    """Brute force of k random reports' recurrences; their neighbours within r share their site."""
    rng = np.random.default_rng(1)
    xy, t, ev_pos, ev_t = a["xy"], a["t"], a["ev_pos"], a["ev_t"]
    lags = (rec["days_since_rectification"] * _DAY_NS).round().astype(np.int64)
    got = dict(zip(rec["report_id"], zip(rec["previous_report_id"], lags)))
    site_of = {rid: s for s, ids in zip(sites["site_id"], sites["report_ids"]) for rid in ids.split(",")}
    window = int(WINDOW_DAYS * _DAY_NS)
    for r in rng.choice(len(t), size=min(k, len(t)), replace=False):
        p = ev_pos
        d = np.hypot(*(xy[p] - xy[r]).T)
        ok = (d <= RADIUS_M) & (ev_t < t[r]) & (t[r] - ev_t <= window) & (a["cat"][p] == a["cat"][r])
        want = None
        if ok.any():
            c = np.flatnonzero(ok)
            best = c[np.lexsort((a["ids"][p[c]].astype(str), -t[p[c]], d[c], -ev_t[c]))[0]]
            want = (a["ids"][p[best]], int(t[r] - ev_t[best]))
        if got.get(a["ids"][r]) != want:
            return False
        near = np.flatnonzero((np.hypot(*(xy - xy[r]).T) <= RADIUS_M) & (a["cat"] == a["cat"][r]))
        if len(near) > 1 and {site_of.get(a["ids"][j]) for j in near} != {site_of.get(a["ids"][r])}:
            return False
    return True


# ---------------------------------------------------------------------------------------------------------------
# one figure
# ---------------------------------------------------------------------------------------------------------------


def _our_sets(rec: pd.DataFrame, sites: Any) -> tuple[set[tuple[str, str, int]], set[frozenset[str]]]:
    lag = (rec["days_since_rectification"] * _DAY_NS).round().astype(np.int64).tolist()
    rows = set(zip(rec["report_id"], rec["previous_report_id"], lag))
    return rows, {frozenset(ids.split(",")) for ids in sites["report_ids"]}


def run(name: str, n: int, *, repeat: int, max_pairs: int) -> str:
    from _fork import in_child

    reports, fixes = layout(name, n)
    times = []
    for _ in range(repeat):
        seconds, rec, sites = ours(reports, fixes)
        times.append(seconds)
    mine = min(times)
    a = _arrays(reports, fixes)
    pairs = _pairs_within(a)
    if pairs <= max_pairs:
        t = time.perf_counter()
        want_rec, want_sites = _peer_recurrences(_arrays(reports, fixes)), _peer_sites(a)
        peer = time.perf_counter() - t
        got_rec, got_sites = _our_sets(rec, sites)
        equal = f"equal to the peer: {got_rec == want_rec and got_sites == want_sites}"
        dbscan = _dbscan_sites(a)
        if dbscan is not None:
            equal += f" (sites equal to DBSCAN(min_samples=1): {got_sites == dbscan})"
        versus = f"peer {peer:.2f} s, {peer / mine:.1f}x ours"
    else:
        versus = f"peer not run ({pairs:,} pairs within {RADIUS_M:.0f} m would be listed)"
        equal = f"spot check (300 reports against a brute force, their neighbours' sites): {_spot_check(a, rec, sites)}"
    before, peak = in_child(_peak_child, name, n)
    target = TARGET_S.get(n)
    verdict = "no target" if target is None else ("met" if mine <= target else "NOT met")
    return (f"{name} {n:,}: ours {mine:.2f} s (of {', '.join(f'{s:.2f}' for s in times)}; {len(rec):,} recurrences,"
            f" {len(sites):,} sites); {versus}; {equal}; peak RSS {peak:.0f} MB ({before:.0f} MB once the data"
            f" was made); target <= {target} s: {verdict}")


def once_line(n: int, start: str = "2025-03-03", end: str = "2025-03-10") -> str:
    """A leaders' page and a scoreboard page of one stored workspace, one after the other in one process."""
    import tempfile

    import gridmap
    from gridmap.analysis.recurrence import cache_info, clear_cache
    from gridmap.pages.report import CHART_WEEKS
    from gridmap.pages.scoreboard import scoreboard_html

    layers = gridmap.sample_layers(n_reports=n, track_days=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workspace.gpkg"
        with gridmap.init_workspace(path) as ws:
            ws.restore({name: frame for name, frame in layers.items() if frame is not None}, {"illustrative": "true"})
        clear_cache()
        t = time.perf_counter()
        gridmap.export_html(path, Path(tmp) / "page.html", offline=False, start=start, end=end)
        page_done = cache_info()
        scoreboard_html(path, Path(tmp) / "board.html", start=start, end=end, offline=False, weeks=CHART_WEEKS)
        seconds = time.perf_counter() - t
        info = cache_info()
    verdict = "met" if info.computations == 1 else "NOT met"
    return (f"leaders' page then scoreboard page of one stored workspace ({n:,} sample reports in a GeoPackage, week"
            f" {start} to {end}, {CHART_WEEKS} chart weeks): recurrences computed {info.computations} time(s)"
            f" ({page_done.computations} by the page, {info.computations - page_done.computations} by the"
            f" scoreboard; {info.hits} cache hit(s); both pages {seconds:.1f} s) (issue 16: computed once: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--layouts", default="sample,dense,market")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-pairs", type=int, default=30_000_000)
    parser.add_argument("--once", type=int, default=100_000, help="reports of the page-and-scoreboard line (0: none)")
    args = parser.parse_args()
    for name in (args.layouts.split(",") if args.layouts else []):
        for n in (int(s) for s in args.sizes.split(",")):
            print(run(name, n, repeat=args.repeat, max_pairs=args.max_pairs), flush=True)
    if args.once > 0:
        print(once_line(args.once), flush=True)


if __name__ == "__main__":
    main()
