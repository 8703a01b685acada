"""Reads that scale: where a job or command knows its period, it reads only that period's rows from the store
(``read_window``, served by the store's time index), and its results are exactly those of reading the whole layer.

The baseline "whole layer" is the store with ``read_window`` replaced by ``read_layer`` (what the jobs did before):
the analysis then filters the period itself. Each test runs both on the illustrative sample, in a GeoPackage and
in its PostGIS copy, and compares every result; a spy on ``read_window`` shows what was read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from hypothesis import example, given, settings
from hypothesis import strategies as st

import _postgis
import gridmap
from gridmap.cli import main
from gridmap.errors import GridmapError
from gridmap.storage.copy import copy_workspace

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("windowed") / "gulou.gpkg"
    gridmap.init_workspace(path, sample=True).close()
    return path


@pytest.fixture(scope="module")
def pg_url(gpkg: Path) -> Iterator[str]:
    """The sample copied into a PostGIS database of this module (used only by the tests marked postgis)."""
    for url in _postgis.postgis_database(None):
        copy_workspace(gpkg, url)
        yield url


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def location(request: pytest.FixtureRequest, gpkg: Path) -> Any:
    return gpkg if request.param == "gpkg" else request.getfixturevalue("pg_url")


def store_class(location: Any) -> type:
    with gridmap.open_workspace(location) as ws:
        return type(ws)


@contextlib.contextmanager
def spied(cls: type, *, whole: bool) -> Iterator[list[tuple[str, Any, Any, int]]]:
    """Record every ``read_window`` of stores of `cls` (layer, start, end, rows returned); with `whole`, answer
    it with the whole layer instead (the reads before windowing)."""
    calls: list[tuple[str, Any, Any, int]] = []
    original = cls.read_window

    def read_window(self: Any, name: str, *, start: Any = None, end: Any = None, **more: Any) -> Any:
        out = self.read_layer(name) if whole else original(self, name, start=start, end=end, **more)
        if "limit" not in more:  # a read of one row to tell an empty layer from an empty window: not recorded
            calls.append((name, start, end, len(out)))
        return out

    with mock.patch.object(cls, "read_window", read_window):
        yield calls


def in_period(location: Any, start: Any, end: Any) -> int:
    """Reports with start <= reported_at < end, counted from the whole layer."""
    with gridmap.open_workspace(location) as ws:
        times = ws.read_layer("reports")["reported_at"]
    keep = times.notna()
    if start is not None:
        keep &= times >= pd.Timestamp(start, tz=TZ)
    if end is not None:
        keep &= times < pd.Timestamp(end, tz=TZ)
    return int(keep.sum())


def assert_same_spot_check(a: Any, b: Any) -> None:
    pd.testing.assert_frame_equal(pd.DataFrame(a.checklist), pd.DataFrame(b.checklist))
    pd.testing.assert_frame_equal(a.strata, b.strata)
    assert_geodataframe_equal(a.grids, b.grids)
    assert (a.seed, a.start, a.end, a.by, a.illustrative) == (b.seed, b.start, b.end, b.by, b.illustrative)


PERIODS = [("2025-03-03", "2025-03-10"), ("2025-11-01", None), (None, "2025-02-01"), (None, None)]


@pytest.mark.parametrize("start, end", PERIODS)
def test_spot_check_reads_only_its_period_and_draws_the_same(location: Any, start: Any, end: Any) -> None:
    cls = store_class(location)
    with spied(cls, whole=True):
        full = gridmap.spot_check(location, n=12, seed=7, start=start, end=end, by="community")
    with spied(cls, whole=False) as calls:
        windowed = gridmap.spot_check(location, n=12, seed=7, start=start, end=end, by="community")
    assert_same_spot_check(windowed, full)
    if start is None and end is None:
        assert calls == []  # no period: the whole layer, as before
    else:
        assert [(name, rows) for name, _, _, rows in calls] == [("reports", in_period(location, start, end))]
        assert calls[0][3] < 2000


def test_spot_check_of_an_open_store_reads_its_period(location: Any) -> None:
    with spied(store_class(location), whole=False) as calls, gridmap.open_workspace(location) as ws:
        windowed = gridmap.spot_check(ws, n=8, seed="a", start="2025-06-01", end="2025-07-01")
        full = gridmap.spot_check({name: ws.read_layer(name) for name in ("reports", "grids", "rectifications",
                                                                          "communities", "streets", "areas")},
                                  n=8, seed="a", start="2025-06-01", end="2025-07-01")
    assert [c[0] for c in calls] == ["reports"]
    pd.testing.assert_frame_equal(pd.DataFrame(windowed.checklist), pd.DataFrame(full.checklist))
    pd.testing.assert_frame_equal(windowed.strata, full.strata)


@pytest.mark.parametrize("command, files", [
    ("hotspots", ["--csv", "t.csv", "--html", "t.html", "--online", "--interval", "week"]),
    ("heatmap", ["--tif", "t.tif", "--html", "t.html", "--online"]),
    ("heatmap", ["--recurring-only", "--category", "firewood_pile", "garbage_dumping", "--tif", "t.tif"]),
])
def test_period_commands_read_only_their_period_and_write_the_same(
        location: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, files: list[str]) -> None:
    cls = store_class(location)
    outputs = []
    for whole in (True, False):
        out = tmp_path / ("whole" if whole else "window")
        out.mkdir()
        args = [a if not a.startswith("t.") else str(out / a) for a in files]
        with spied(cls, whole=whole) as calls:
            assert main([command, str(location), "--from", "2025-01-01", "--to", "2025-04-01", *args]) == 0
        outputs.append((capsys.readouterr().out.replace(str(out), "OUT"),
                        {p.name: p.read_bytes() for p in sorted(out.iterdir())}))
        # the heat map also reads the rectifications made since the period began (its reports' own)
        assert [c[0] for c in calls] == ["reports", "rectifications"][:2 if command == "heatmap" else 1]
        assert calls[0][3] == (2000 if whole else in_period(location, "2025-01-01", "2025-04-01"))
    assert outputs[0][0] == outputs[1][0]
    assert outputs[0][1] == outputs[1][1] and outputs[0][1]


def test_period_commands_without_a_period_read_the_whole_layer(gpkg: Path, tmp_path: Path) -> None:
    with spied(store_class(gpkg), whole=False) as calls:
        assert main(["hotspots", str(gpkg), "--csv", str(tmp_path / "t.csv")]) == 0
    assert calls == []


day = st.dates(min_value=pd.Timestamp("2024-12-01").date(), max_value=pd.Timestamp("2026-01-15").date())


@settings(max_examples=15, deadline=None)
@given(start=st.none() | day, days=st.none() | st.integers(1, 200), seed=st.integers(0, 10**6))
@example(start=None, days=None, seed=0)  # no period at all
@example(start=pd.Timestamp("2025-12-31").date(), days=1, seed=1)  # the sample's last day
@example(start=pd.Timestamp("2026-01-01").date(), days=10, seed=1)  # after every report: nothing to draw
def test_any_period_draws_the_same_spot_check_from_a_window(gpkg: Path, start: Any, days: Any, seed: int) -> None:
    end = None if days is None else (pd.Timestamp(start or "2025-01-01") + pd.Timedelta(days=days)).date()
    results = []
    for whole in (True, False):
        with spied(store_class(gpkg), whole=whole):
            try:
                results.append(gridmap.spot_check(gpkg, n=6, seed=seed, start=start, end=end))
            except GridmapError as exc:
                results.append(str(exc))
    if isinstance(results[0], str):
        assert results[1] == results[0]
    else:
        assert_same_spot_check(results[1], results[0])


@pytest.mark.parametrize("end, weeks, by", [("2025-03-10", 3, "community"), ("2025-03-17", 2, "grid"),
                                            ("2025-06-02", 1, "cadre")])
def test_weekly_figures_read_only_their_weeks_and_give_the_same(
        location: Any, end: str, weeks: int, by: str) -> None:
    cls = store_class(location)
    now = pd.Timestamp("2026-01-01", tz=TZ)
    with spied(cls, whole=True):
        full = gridmap.weekly_figures(location, end=end, weeks=weeks, by=by, now=now)
    with spied(cls, whole=False) as calls:
        windowed = gridmap.weekly_figures(location, end=end, weeks=weeks, by=by, now=now)
    pd.testing.assert_frame_equal(windowed, full)
    first = pd.Timestamp(end, tz=TZ) - pd.Timedelta(days=7 * weeks)
    assert {name: (start, stop) for name, start, stop, _ in calls} == {
        "reports": (first, pd.Timestamp(end, tz=TZ)), "tracks": (first, pd.Timestamp(end, tz=TZ)),
        "rectifications": (first, None), "spotchecks": (first, None)}
    rows = {name: n for name, _, _, n in calls}
    assert rows["reports"] == in_period(location, first.tz_localize(None), end) < 2000


def test_weekly_figures_without_an_end_read_every_row(gpkg: Path) -> None:
    with spied(store_class(gpkg), whole=False) as calls:
        gridmap.weekly_figures(gpkg, weeks=1, now=pd.Timestamp("2026-01-01", tz=TZ))
    assert calls == []  # the last week is the one holding the latest report: found in the whole layer


def test_a_period_without_rectifications_still_knows_the_layer_is_not_empty(gpkg: Path) -> None:
    """A window without a row reads the layer's first row: the figures stay 0 (known), not no data."""
    end, now = "2027-01-04", pd.Timestamp("2027-06-01", tz=TZ)
    with spied(store_class(gpkg), whole=True):
        full = gridmap.weekly_figures(gpkg, end=end, weeks=1, now=now)
    with spied(store_class(gpkg), whole=False) as calls:
        windowed = gridmap.weekly_figures(gpkg, end=end, weeks=1, now=now)
    pd.testing.assert_frame_equal(windowed, full)
    assert {name: n for name, _, _, n in calls}["rectifications"] == 0  # the window was empty ...
    assert windowed["rectified"].notna().all()  # ... yet rectifications are known: 0 of 0, not no data


@settings(max_examples=4, deadline=None)
@given(end=day, weeks=st.integers(1, 3))
@example(end=pd.Timestamp("2025-03-10").date(), weeks=1)  # the week of the sample's tracks
@example(end=pd.Timestamp("2025-01-02").date(), weeks=2)  # weeks before the first report
def test_any_weeks_give_the_same_weekly_figures_from_windows(gpkg: Path, end: Any, weeks: int) -> None:
    now = pd.Timestamp("2026-06-01", tz=TZ)
    results = []
    for whole in (True, False):
        with spied(store_class(gpkg), whole=whole):
            results.append(gridmap.weekly_figures(gpkg, end=end, weeks=weeks, now=now))
    pd.testing.assert_frame_equal(results[1], results[0])


# the scoreboard, the leaders' page, the briefing and the coverage command: windows, same answers


def assert_same_run(a: Any, b: Any) -> None:
    """Two scoreboard runs give the same table and the same facts of each report (the index of the facts is
    the row's place in the reports read, which differs between reading a window and the whole layer)."""
    pd.testing.assert_frame_equal(a.board, b.board)
    assert a.board.attrs == b.board.attrs
    facts = [run.facts.sort_values("report_id").reset_index(drop=True) for run in (a, b)]
    pd.testing.assert_frame_equal(facts[0], facts[1])


def whole_and_windowed(location: Any, compute: Any) -> tuple[Any, Any, list[tuple[str, Any, Any, int]]]:
    cls = store_class(location)
    with spied(cls, whole=True):
        full = compute()
    with spied(cls, whole=False) as calls:
        windowed = compute()
    return full, windowed, calls


SCOREBOARD_PERIODS = [("2025-03-03", "2025-03-10"), ("2025-06-01", "2025-07-01"), ("2025-11-01", None),
                      (None, "2025-02-01"), ("2027-01-04", "2027-01-11")]


@pytest.mark.parametrize("start, end", SCOREBOARD_PERIODS)
def test_scoreboard_reads_its_periods_and_the_reports_it_may_recur_and_ranks_the_same(
        location: Any, start: Any, end: Any) -> None:
    from gridmap.jobs.supervision import run_scoreboard

    now = pd.Timestamp("2026-06-01", tz=TZ)
    full, windowed, calls = whole_and_windowed(
        location, lambda: run_scoreboard(location, start=start, end=end, now=now, weeks=8))
    assert_same_run(windowed, full)
    reports = [n for name, _, _, n in calls if name == "reports"]
    assert reports and sum(reports) < 2000  # never the whole layer of 2,000 reports
    # the weekly figures of the run's layers (the pages' charts) are those of the whole layers
    ends = [full.board.attrs["end"]]
    for a, b in ((full, windowed),):
        pd.testing.assert_frame_equal(gridmap.weekly_figures(dict(b.layers), end=ends[0], weeks=8, now=now),
                                      gridmap.weekly_figures(dict(a.layers), end=ends[0], weeks=8, now=now))


def test_scoreboard_counts_a_recurrence_of_a_report_older_than_every_window(gpkg: Path, tmp_path: Path) -> None:
    """A report of the period recurs a report made long before (rectified within 30 days of it): the earlier
    report is outside every period read, and is read by its key."""
    from gridmap.jobs.supervision import run_scoreboard

    path = tmp_path / "old.gpkg"
    copy_workspace(gpkg, path)
    with gridmap.open_workspace(path) as ws:
        reports = ws.read_layer("reports")
        late = reports[reports["reported_at"] >= pd.Timestamp("2025-03-03", tz=TZ)].iloc[0]
        old = reports.iloc[[0]].copy()
        old["report_id"], old["reported_at"] = "OLD-1", pd.Timestamp("2024-01-05 09:00", tz=TZ)
        old["category"], old["geometry"] = late["category"], [late.geometry]
        ws.append("reports", old)
        fix = ws.read_layer("rectifications").iloc[[0]].copy()
        fix["report_id"] = "OLD-1"
        fix["rectified_at"] = late["reported_at"] - pd.Timedelta(days=3)
        fix["verified_at"] = pd.NaT
        ws.append("rectifications", fix)
    start = late["reported_at"].normalize().tz_localize(None)
    end = start + pd.Timedelta(days=7)
    full, windowed, calls = whole_and_windowed(
        path, lambda: run_scoreboard(path, start=start, end=end, now=pd.Timestamp("2026-06-01", tz=TZ)))
    assert_same_run(windowed, full)
    facts = windowed.facts.set_index("report_id")
    assert bool(facts.loc[late["report_id"], "recurrence"])  # found through the old report, read by its key
    assert "OLD-1" in set(windowed.layers["reports"]["report_id"])


@settings(max_examples=6, deadline=None)
@given(start=day, days=st.integers(1, 60), by=st.sampled_from(["community", "grid", "cadre"]))
@example(start=pd.Timestamp("2025-03-03").date(), days=7, by="community")
@example(start=pd.Timestamp("2024-12-01").date(), days=1, by="grid")  # before the first report
def test_any_period_gives_the_same_scoreboard_from_windows(gpkg: Path, start: Any, days: int, by: str) -> None:
    from gridmap.jobs.supervision import run_scoreboard

    end = (pd.Timestamp(start) + pd.Timedelta(days=days)).date()
    now = pd.Timestamp("2026-06-01", tz=TZ)
    full, windowed, _ = whole_and_windowed(gpkg, lambda: run_scoreboard(gpkg, start=start, end=end, by=by, now=now))
    assert_same_run(windowed, full)


@pytest.mark.parametrize("command, files, period", [
    ("scoreboard", ["--csv", "t.csv", "--xlsx", "t.xlsx", "--html", "t.html", "--online"],
     ["--from", "2025-03-03", "--to", "2025-03-10"]),
    ("report", ["--html", "t.html", "--online"], ["--from", "2025-03-01", "--to", "2025-04-01"]),
    ("report", ["--html", "t.html", "--online", "--lang", "en"], ["--to", "2025-03-10"]),
    ("briefing", ["--png", "t.png"], ["--from", "2025-03-03", "--to", "2025-03-10"]),
    ("coverage", ["--csv", "t.csv", "--dead-corners", "t.geojson"], ["--from", "2025-03-03", "--to", "2025-03-10"]),
])
def test_pages_and_tables_read_only_their_period_and_write_the_same(
        location: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, files: list[str],
        period: list[str]) -> None:
    outputs, reads = [], []
    for whole in (True, False):
        out = tmp_path / ("whole" if whole else "window")
        out.mkdir()
        args = [a if not a.startswith("t.") else str(out / a) for a in files]
        with spied(store_class(location), whole=whole) as calls:
            assert main([command, str(location), *period, *args]) == 0
        printed = capsys.readouterr().out.replace(str(out), "OUT")
        outputs.append(({p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix != ".xlsx"},
                        printed))
        reads.append(calls)
    assert outputs[0][0] == outputs[1][0] and outputs[0][0]
    if command != "coverage":  # coverage counts the fixes it read: the period's, or all of them
        assert outputs[0][1] == outputs[1][1]
    rows = {name: n for name, _, _, n in reads[1]}
    with gridmap.open_workspace(location) as ws:
        counts = ws.counts()
    assert rows.get("tracks", 0) <= counts["tracks"]  # the sample's fixes are all of one week, in every period here
    assert rows.get("reports", 0) < counts["reports"]
