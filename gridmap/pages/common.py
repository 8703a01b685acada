"""The one path by which every page becomes a file to share: privacy, offline assets, the internal mark.

Every page gridmap writes (the leaders' report :mod:`gridmap.pages.report`, the
scoreboard :mod:`gridmap.pages.scoreboard`, the spot-check sheet
:mod:`gridmap.pages.spotcheck`, maps saved with ``gridmap coverage --html``)
goes through :func:`page_html`: the elements are renumbered in page order, the
assets are inlined from the cache when offline (:mod:`gridmap.maps.offline`),
the language is declared, and a redacted page that still holds a phone-shaped
number is refused. :func:`shareable` and :func:`shareable_coverage` redact the
layers before they are drawn (:mod:`gridmap.export.privacy`); :func:`check_assets`
stops before any work when the cache cannot make a page offline.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd

from gridmap.errors import GridmapError
from gridmap.export.privacy import PHONE_SEARCH_RE, personal_columns, redact_frame
from gridmap.maps.escape import html_text
from gridmap.maps.offline import inline_html
from gridmap.maps.page import stable_ids
from gridmap.maps.static_supervision import supervision_chart_png_bytes

if TYPE_CHECKING:  # pragma: no cover
    import folium

    from gridmap.analysis.coverage import CoverageResult
    from gridmap.maps.assets import AssetCache

__all__ = ["page_html", "save_page", "check_assets", "shareable", "shareable_coverage", "chart_html",
           "INTERNAL_LABELS"]

logger = logging.getLogger(__name__)

#: The mark put on a page written without redaction, per language.
INTERNAL_LABELS: dict[str, str] = {"zh": "内部使用：未脱敏，请勿转发", "en": "internal: not redacted, do not forward"}

# Scripts and style sheets folium links that this page never uses (icon fonts, Bootstrap): left out offline.
_UNUSED_ASSETS = (
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css",
)


def shareable(frame: Any, redact: bool = True) -> Any:
    """A copy of a layer fit for a shared page: names masked, phone columns dropped, phone-shaped text masked.

    With ``redact=False`` (internal use) `frame` itself is returned. None stays None.

    Examples
    --------
    >>> import pandas as pd
    >>> shown = shareable(pd.DataFrame({"grid_code": ["G1"], "cadre": ["王小明"], "cadre_phone": ["13912345678"]}))
    >>> shown.to_dict("records")
    [{'grid_code': 'G1', 'cadre': '王**'}]
    """
    if frame is None or not redact:
        return frame
    names, phones = personal_columns()
    geometry = getattr(frame, "_geometry_column_name", None)
    # Only text is redacted: numbers reach the page formatted by us (percentages, areas), never as long digit runs.
    text = [c for c in frame.columns if c != geometry and c not in names and c not in phones
            and (pd.api.types.is_string_dtype(frame[c].dtype) or pd.api.types.is_object_dtype(frame[c].dtype))]
    return redact_frame(frame, text_columns=text)


def shareable_coverage(result: "CoverageResult", redact: bool = True) -> "CoverageResult":
    """A coverage result fit for a shared page: cadre names masked, phones dropped, no inspector names.

    Every table is masked: the grids, dead corners and targets, the roll-ups ``by_community`` and ``by_cadre``,
    and the street chiefs and area leaders (``streets``, ``dead_stretches``, ``by_street_chief``, ``by_area``).
    The result given is not changed; ``redact=False`` returns it as it is.
    """
    if not redact:
        return result
    targets = result.targets
    if targets is not None and "inspectors" in targets:
        targets = targets.drop(columns=["inspectors"])
    return dataclasses.replace(result, grids=shareable(result.grids, True),
                               dead_corners=shareable(result.dead_corners, True),
                               targets=shareable(targets, True),
                               **{name: shareable(getattr(result, name), True)
                                  for name in ("by_community", "by_cadre", "streets", "dead_stretches",
                                               "by_street_chief", "by_area")})


def page_html(fmap: "folium.Map", *, offline: bool, lang: str, cache: "AssetCache | None" = None,
              redact: bool = True, extra_body: str = "") -> str:
    """The HTML of a page gridmap shares: assets inlined when offline, its language declared, no phone left.

    Parameters
    ----------
    fmap : folium.Map
        The page's map.
    offline : bool
        Inline every asset from the cache (the unused folium assets left out).
    lang : {"zh", "en"}
        Declared as ``<html lang>``.
    cache : gridmap.maps.assets.AssetCache, optional
        The asset cache.
    redact : bool
        Refuse a page that still holds a phone-shaped number.
    extra_body : str
        HTML (already escaped) put at the end of the body after rendering,
        never through Jinja2.

    Returns
    -------
    str

    Examples
    --------
    >>> import folium
    >>> page_html(folium.Map(tiles=None), offline=False, lang="en").splitlines()[:2]
    ['<!DOCTYPE html>', '<html lang="en">']
    """
    # folium's random 32-digit ids can hold a run of digits shaped like a mobile number (seen in CI): renumber
    # the elements in page order before rendering, for every page
    html = stable_ids(fmap).get_root().render()
    html = html.replace("<html>", f'<html lang="{"zh-Hans" if lang == "zh" else "en"}">', 1)
    if extra_body:
        cut = html.rfind("</body>")
        html = html[:cut] + extra_body + html[cut:]
    if redact:
        # the page's own content, before the libraries are inlined: minified third-party code (verified
        # against its published hash) holds digit runs such as 44012345678 that are nobody's phone
        _refuse_phone_numbers(html)
    if offline:
        html = inline_html(html, cache=cache, exclude=_UNUSED_ASSETS)
    return html


def check_assets(cache: "AssetCache | None" = None) -> None:
    """Stop before any work when the asset cache cannot make a page offline.

    Raises
    ------
    AssetsMissingError
        The message names the command that fills the cache (``gridmap assets fetch``).
    """
    import folium  # deferred: folium is heavy, and only this check and the maps need it

    inline_html(folium.Map(tiles=None).get_root().render(), cache=cache, exclude=_UNUSED_ASSETS)


def _refuse_phone_numbers(html: str) -> None:
    """The last check before a shared page is written: no run of digits shaped like a mobile number."""
    found = PHONE_SEARCH_RE.search(html)
    if found is not None:
        where = html[max(0, found.start() - 60):found.start()].replace("\n", " ")
        raise GridmapError(f"the redacted page still holds a phone-shaped number after ...{where!r}; nothing was "
                           "written. This is a bug in gridmap: please report it with the input that caused it")


def _internal_banner(lang: str) -> str:
    text = INTERNAL_LABELS["en" if lang == "en" else "zh"]
    return (f'<div class="gm-internal" style="position:fixed;bottom:8px;right:8px;z-index:10000;'
            f'background:#f8d7da;border:1px solid #d9534f;padding:4px 8px;font:14px sans-serif">'
            f"{html_text(text)}</div>")


def save_page(fmap: "folium.Map", path: str | PathLike[str], *, offline: bool = True, lang: str = "zh",
              redact: bool = True, cache: "AssetCache | None" = None) -> Path:
    """Write a map as a page to share, by the rules of the leaders' page (:func:`gridmap.pages.report.export_html`).

    Offline (the default) every script, style and image is inside the one file; with ``redact=True`` the
    page is refused if a phone-shaped number is left in it (redact the layers first with :func:`shareable`);
    with ``redact=False`` a "内部使用：未脱敏，请勿转发" mark is put on the page.

    Parameters
    ----------
    fmap : folium.Map
        The page's map; its elements are renumbered in page order (:func:`gridmap.maps.page.stable_ids`).
    path : str or os.PathLike
        The HTML file; overwritten.
    offline, lang, redact, cache
        As :func:`page_html`.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    AssetsMissingError
        Offline, when the cache lacks a file (nothing is written).

    Examples
    --------
    >>> import tempfile, pathlib, folium
    >>> out = save_page(folium.Map(tiles=None), pathlib.Path(tempfile.mkdtemp()) / "m.html", offline=False,
    ...                 redact=False)
    >>> "内部使用：未脱敏" in out.read_text(encoding="utf-8")
    True
    """
    out = Path(path)
    extra = "" if redact else _internal_banner(lang)
    out.write_text(page_html(fmap, offline=offline, lang=lang, cache=cache, redact=redact, extra_body=extra),
                   encoding="utf-8")
    logger.info("wrote %s (%.2f MB)", out, out.stat().st_size / 1e6)
    return out


def chart_html(weekly: pd.DataFrame | None, lang: str, illustrative: bool, labels: Mapping[str, str]) -> str:
    """The week-over-week chart as an HTML block (a PNG inlined), shared by the scoreboard and the leaders' pages.

    Returns "" when there is no weekly table.

    Examples
    --------
    >>> chart_html(None, "zh", False, {"chart": "周对比"})
    ''
    """
    if weekly is None or len(weekly) == 0:
        return ""
    png = base64.b64encode(supervision_chart_png_bytes(weekly, lang=lang, illustrative=illustrative)).decode()
    return (f'<div class="gm-meta"><b>{html_text(labels["chart"])}</b></div>'
            f'<img class="gm-chart" style="max-width:100%;height:auto;display:block" alt="{html_text(labels["chart"])}"'
            f' src="data:image/png;base64,{png}">')
