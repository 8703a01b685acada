"""Headless Debian Chromium, driven by Playwright, with every network request refused (shared by browser tests).

Every test that calls :func:`real_cache_or_skip`, :func:`playwright_or_skip` or :func:`offline_page`
must carry ``@pytest.mark.browser`` (checked here: an unmarked one fails). When a prerequisite
(Debian's Chromium, Playwright, a filled asset cache) is absent such a test skips with the reason,
unless ``GRIDMAP_REQUIRE_BROWSER=1`` (set by ``.ci/run``): then it fails, so CI cannot pass
without having run the browser tests.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NoReturn

import pytest

from gridmap.maps.assets import ASSET_URLS, asset_cache

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
PHONE = (375, 667)
REQUIRE_ENV = "GRIDMAP_REQUIRE_BROWSER"
MARKER = "browser"
current_test: list[pytest.Item] = []  # the running test, set by the autouse fixture in conftest.py


def required() -> bool:
    """True when ``GRIDMAP_REQUIRE_BROWSER`` is set to a true value: missing prerequisites fail, not skip."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def unavailable(reason: str) -> NoReturn:
    """Skip the running test for `reason`, or fail it when :func:`required`."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: browser tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def _check_marker(helper: str) -> None:
    item = current_test[-1] if current_test else None
    if item is not None and item.get_closest_marker(MARKER) is None:
        pytest.fail(f"{item.nodeid} calls _browser.{helper} but lacks @pytest.mark.{MARKER}", pytrace=False)


def real_cache_or_skip():  # type: ignore[no-untyped-def]
    """Return the filled offline asset cache ($GRIDMAP_ASSETS_DIR); skip (or fail, see module doc) otherwise."""
    _check_marker("real_cache_or_skip")
    cache = asset_cache()
    missing = cache.missing(ASSET_URLS)
    if missing:
        unavailable(f"asset cache {cache.path} lacks {len(missing)} of {len(ASSET_URLS)} files: "
                    "run `gridmap assets fetch --from npm` with GRIDMAP_ASSETS_DIR set")
    return cache


def playwright_or_skip():  # type: ignore[no-untyped-def]
    """Return ``playwright.sync_api`` when it and Debian's Chromium are there; skip (or fail) otherwise."""
    _check_marker("playwright_or_skip")
    if not CHROMIUM.exists():
        unavailable(f"Debian's Chromium is absent ({CHROMIUM}): apt-get install -y chromium")
    try:
        import playwright.sync_api as sync_api
    except ImportError as exc:
        unavailable(f"playwright is absent ({exc}): pip install playwright")
    return sync_api


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n", encoding="utf-8")  # test output, never committed
    return ARTIFACTS / name


@dataclass
class Session:
    page: Any
    attempted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def offline_page(path: Path, *, viewport: tuple[int, int] = PHONE, phone: bool = True) -> Iterator[Session]:
    """Open `path` with every request but the file itself refused; collect attempted URLs and console errors."""
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}, is_mobile=phone,
                                    has_touch=phone)
            session = Session(page)

            def refuse(route):  # type: ignore[no-untyped-def]
                if route.request.url == path.as_uri():
                    route.continue_()
                else:
                    session.attempted.append(route.request.url)
                    route.abort()

            page.route("**/*", refuse)
            page.on("console", lambda msg: session.errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: session.errors.append(str(exc)))
            page.goto(path.as_uri(), wait_until="load", timeout=60_000)
            yield session
        finally:
            browser.close()
