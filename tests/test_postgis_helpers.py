"""The notebooks' helpers take a ``postgresql://`` URL wherever they take a workspace's path (issue 14, "A workspace
URL"): every public ``gridmap`` function whose first parameter is a workspace, called with the URL of a PostGIS copy
of the sample, gives what it gives for the GeoPackage the copy was made from; the analysis functions that take an
open store (``workspace=``) give the same for an open PostGIS store.

The list of such functions is found by inspecting ``gridmap.__all__``, so that a new one without a test here fails
``test_every_function_taking_a_workspace_is_checked_with_a_url``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

import _postgis
import gridmap
from gridmap.demo import write_messy_reports_csv
from gridmap.storage.copy import copy_workspace

pytestmark = pytest.mark.postgis

WEEK = {"start": "2025-03-03", "end": "2025-03-10"}
NOW = pd.Timestamp("2026-01-01", tz="Asia/Shanghai")

#: The public functions whose first parameter is where the workspace is, and the test that calls each with a URL.
CHECKED = {
    "briefing": "test_pages_from_a_url_are_the_same",
    "export_html": "test_pages_from_a_url_are_the_same",
    "report_map": "test_pages_from_a_url_are_the_same",
    "scoreboard_html": "test_pages_from_a_url_are_the_same",
    "scoreboard": "test_tables_from_a_url_are_the_same",
    "weekly_figures": "test_tables_from_a_url_are_the_same",
    "spot_check": "test_tables_from_a_url_are_the_same",
    "import_file": "test_import_and_retry_through_a_url_store_the_same",
    "retry_quarantine": "test_import_and_retry_through_a_url_store_the_same",
}


@pytest.fixture(scope="module")
def sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    gpkg = tmp_path_factory.mktemp("helpers") / "gulou.gpkg"
    gridmap.init_workspace(gpkg, sample=True).close()
    for url in _postgis.postgis_database(request.node):
        copy_workspace(gpkg, url)
        yield {"gpkg": gpkg, "postgis": url}


def test_every_function_taking_a_workspace_is_checked_with_a_url() -> None:
    taking = set()
    for name in gridmap.__all__:
        obj = getattr(gridmap, name)
        if inspect.isfunction(obj):
            first = next(iter(inspect.signature(obj).parameters), "")
            if first in ("workspace", "workspace_or_layers"):
                taking.add(name)
    assert taking == set(CHECKED)
    assert all(name in globals() for name in CHECKED.values())


def test_pages_from_a_url_are_the_same(sample: dict[str, Any], tmp_path: Path) -> None:
    out: dict[str, list[bytes]] = {"briefing": [], "export_html": [], "scoreboard_html": [], "report_map": []}
    for key in ("gpkg", "postgis"):
        where = sample[key] if key == "gpkg" else str(sample[key])
        out["briefing"].append(gridmap.briefing(where, tmp_path / f"{key}.png", lang="en", **WEEK).read_bytes())
        out["export_html"].append(gridmap.export_html(where, tmp_path / f"{key}.html", offline=False,
                                                      **WEEK).read_bytes())
        out["scoreboard_html"].append(gridmap.scoreboard_html(where, tmp_path / f"{key}-board.html", offline=False,
                                                              now=NOW, **WEEK).read_bytes())
        html = gridmap.report_map(where, lang="en", **WEEK).get_root().render()
        out["report_map"].append(re.sub(r"_[0-9a-f]{32}", "_ID", html).encode())  # folium's random element ids
    for name, (a, b) in out.items():
        assert a == b, name
    assert out["briefing"][0][:4] == b"\x89PNG" and len(out["export_html"][0]) > 100_000


def test_tables_from_a_url_are_the_same(sample: dict[str, Any]) -> None:
    boards = [gridmap.scoreboard(str(sample[key]), now=NOW, lang="en", **WEEK) for key in ("gpkg", "postgis")]
    assert int(boards[0]["reports"].sum()) > 0
    pd.testing.assert_frame_equal(boards[0], boards[1])
    weekly = [gridmap.weekly_figures(str(sample[key]), end=WEEK["end"], weeks=2, now=NOW)
              for key in ("gpkg", "postgis")]
    pd.testing.assert_frame_equal(weekly[0], weekly[1])
    checks = [gridmap.spot_check(str(sample[key]), n=10, seed=3, **WEEK) for key in ("gpkg", "postgis")]
    pd.testing.assert_frame_equal(pd.DataFrame(checks[0].checklist), pd.DataFrame(checks[1].checklist))


def test_analyses_given_an_open_postgis_store_are_the_same(sample: dict[str, Any]) -> None:
    found = []
    for key in ("gpkg", "postgis"):
        with gridmap.open_workspace(sample[key]) as ws:
            found.append((gridmap.recurrences(ws), gridmap.recurring_sites(ws),
                          gridmap.validate_grids(workspace=ws).summary()))
    pd.testing.assert_frame_equal(found[0][0], found[1][0])
    assert len(found[0][0]) > 0
    assert_geodataframe_equal(found[0][1], found[1][1])
    assert found[0][2] == found[1][2]


def test_import_and_retry_through_a_url_store_the_same(sample: dict[str, Any], tmp_path: Path,
                                                       postgis_url: str) -> None:
    """import_file and retry_quarantine given the URL: the same counts, the same rows and quarantine."""
    gpkg = tmp_path / "copy.gpkg"
    copy_workspace(sample["gpkg"], gpkg)
    copy_workspace(sample["gpkg"], postgis_url)
    csv = write_messy_reports_csv(tmp_path / "messy.csv")
    summaries, retried, stored = [], [], []
    for where in (gpkg, postgis_url):
        summary = gridmap.import_file(where, "reports", csv, coords="wgs84")
        assert summary.read == summary.accepted + summary.duplicates + summary.quarantined
        assert summary.quarantined > 0
        summaries.append((summary.read, summary.accepted, summary.duplicates, summary.quarantined))
        retried.append(gridmap.retry_quarantine(where, "reports", now=NOW).to_dict())
        with gridmap.open_workspace(where) as ws:
            stored.append((ws.read_layer("reports"), ws.quarantine()[["layer", "reason", "detail"]]))
    assert summaries[0] == summaries[1]
    assert {k: v for k, v in retried[0].items() if k != "workspace"} == \
        {k: v for k, v in retried[1].items() if k != "workspace"}
    assert_geodataframe_equal(stored[0][0], stored[1][0])
    pd.testing.assert_frame_equal(stored[0][1], stored[1][1])
