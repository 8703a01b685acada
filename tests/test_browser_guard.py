"""The guard of the browser tests (tests/_browser.py): skip with the reason, or fail when CI requires them."""

from __future__ import annotations

from pathlib import Path

import pytest

import _browser


@pytest.mark.browser
@pytest.mark.parametrize("required", [False, True])
def test_missing_chromium_skips_or_fails(monkeypatch: pytest.MonkeyPatch, required: bool) -> None:
    monkeypatch.setattr(_browser, "CHROMIUM", Path("/nonexistent/chromium"))
    if required:
        monkeypatch.setenv(_browser.REQUIRE_ENV, "1")
    else:
        monkeypatch.delenv(_browser.REQUIRE_ENV, raising=False)
    expected = pytest.fail.Exception if required else pytest.skip.Exception
    with pytest.raises(expected, match=r"Chromium is absent \(/nonexistent/chromium\): apt-get install -y chromium"):
        _browser.playwright_or_skip()


@pytest.mark.browser
@pytest.mark.parametrize("required", [False, True])
def test_empty_asset_cache_skips_or_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, required: bool) -> None:
    monkeypatch.setenv("GRIDMAP_ASSETS_DIR", str(tmp_path))
    if required:
        monkeypatch.setenv(_browser.REQUIRE_ENV, "1")
    else:
        monkeypatch.delenv(_browser.REQUIRE_ENV, raising=False)
    expected = pytest.fail.Exception if required else pytest.skip.Exception
    with pytest.raises(expected, match=f"asset cache {tmp_path} lacks 16 of 16 files") as info:
        _browser.real_cache_or_skip()
    assert ("must run, not skip" in str(info.value)) == required


def test_helper_called_from_an_unmarked_test_fails(request: pytest.FixtureRequest,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """This test has no browser marker; reached through a function it does not name, the helper still fails it."""
    monkeypatch.delenv(_browser.REQUIRE_ENV, raising=False)
    helper = getattr(_browser, "real_cache_or_skip")  # not a name in this function's code: only the runtime check
    with pytest.raises(pytest.fail.Exception, match="test_helper_called_from_an_unmarked_test_fails calls "
                                                    r"_browser.real_cache_or_skip but lacks @pytest.mark.browser"):
        helper()
    assert _browser.current_test[-1] is request.node
