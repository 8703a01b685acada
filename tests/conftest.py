"""Fixtures and settings shared by the test modules.

Hypothesis profiles
-------------------
``ci``: derandomized (the same examples on every machine and every run), no example
database, no deadline and no too_slow health check (both wall-clock), failing examples
printed as reproduction blobs. ``dev``: random
examples and the local example database, for exploring; pin every failure it finds with
``@example``. ``HYPOTHESIS_PROFILE`` chooses; the default is ``ci`` when ``CI`` is set
(``.ci/run`` sets both) and ``dev`` otherwise.

PostGIS tests
-------------
See ``tests/_postgis.py``: tests that need a PostgreSQL/PostGIS server carry
``@pytest.mark.postgis`` and take the fixture ``postgis_url`` (a fresh database per
test); with ``GRIDMAP_REQUIRE_POSTGIS=1`` a missing server fails them instead of skipping.

Browser tests
-------------
See ``tests/_browser.py``: tests that need Chromium, Playwright or the filled asset cache
carry ``@pytest.mark.browser``; with ``GRIDMAP_REQUIRE_BROWSER=1`` a missing prerequisite
fails them instead of skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import _browser
import _postgis
from gridmap.cli import main

# too_slow is a wall-clock health check (data generation slower than a time budget): it can flicker on a
# slow or busy machine, so neither profile uses it; nor a deadline
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_UNTIMED)
settings.register_profile("dev", print_blob=True, **_UNTIMED)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(HYPOTHESIS_PROFILE)

_BROWSER_HELPERS = {"real_cache_or_skip", "playwright_or_skip", "offline_page"}


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"hypothesis profile: {HYPOTHESIS_PROFILE}; "
            f"{_browser.REQUIRE_ENV}={'1' if _browser.required() else 'unset'}; "
            f"{_postgis.REQUIRE_ENV}={'1' if _postgis.required() else 'unset'}"]


@pytest.fixture
def postgis_url(request: pytest.FixtureRequest) -> Generator[str, None, None]:
    """The URL of a fresh PostGIS database for this test (dropped afterwards); see tests/_postgis.py."""
    yield from _postgis.postgis_database(request.node)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a test that calls the browser helpers directly without ``@pytest.mark.browser``.

    Calls through fixtures or module helpers are checked when they happen, by the helpers
    themselves (they see the running test through :data:`_browser.current_test`).
    """
    code = getattr(getattr(item, "function", None), "__code__", None)
    used = set(getattr(code, "co_names", ())) & _BROWSER_HELPERS
    if used and item.get_closest_marker(_browser.MARKER) is None:
        pytest.fail(f"{item.nodeid} uses {sorted(used)} from tests/_browser.py "
                    f"but lacks @pytest.mark.{_browser.MARKER}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Let the helpers of tests/_browser.py see the running test (also during its fixtures' setup)."""
    _browser.current_test.append(item)
    try:
        return (yield)
    finally:
        _browser.current_test.pop()


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The illustrative sample workspace, made once per test session. Treat it as read-only."""
    path = tmp_path_factory.mktemp("sample-template") / "gulou.gpkg"
    assert main(["init", str(path), "--sample"]) == 0
    return path


@pytest.fixture()
def sample_copy(sample_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the sample workspace for a test that writes to it (WAL is checkpointed on close)."""
    path = tmp_path / "w.gpkg"
    path.write_bytes(sample_template.read_bytes())
    return path


@pytest.fixture()
def stand_in_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An asset cache of small stand-in files (no network) that commands find through GRIDMAP_ASSETS_DIR.

    For tests of what gridmap writes into a page (offline references, redaction), where the content of the
    third-party scripts does not matter; tests that open a page in Chromium use the real cache (_browser.py).
    """
    from _stub_cache import stub_cache

    folder = stub_cache(tmp_path / "assets")
    monkeypatch.setenv("GRIDMAP_ASSETS_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _own_categories() -> Generator[None, None, None]:
    """Each test starts from the built-in report categories and leaves them so.

    A category added to a workspace (``gridmap category --add``, ``Workspace.add_category``) is also
    registered in the process (:data:`gridmap.model.CATEGORIES`), so without this one test's category
    would be known in every later test and a test of an unknown category would depend on the order.
    """
    from gridmap.model import CATEGORIES

    before = dict(CATEGORIES)
    yield
    CATEGORIES.clear()
    CATEGORIES.update(before)
