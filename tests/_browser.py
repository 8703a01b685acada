"""Headless Debian Chromium, driven by Playwright, with every network request refused (shared by browser tests)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

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


def real_cache_or_skip():  # type: ignore[no-untyped-def]
    cache = asset_cache()
    missing = cache.missing(ASSET_URLS)
    if missing:
        pytest.skip(f"asset cache {cache.path} lacks {len(missing)} files: run `gridmap assets fetch --from npm`")
    return cache


def playwright_or_skip():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is absent: apt-get install -y chromium")
    return pytest.importorskip("playwright.sync_api", reason="playwright is absent: pip install playwright")


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
