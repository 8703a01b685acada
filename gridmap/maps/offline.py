"""Single-file offline HTML: a rendered folium page with every script, style, font and image inside.

:func:`inline_html` replaces each ``<script src=...>`` and ``<link rel=stylesheet href=...>``
of a page by the cached file's content (see :mod:`gridmap.maps.assets`), and each
``url(...)`` inside those style sheets by a ``data:`` URI. Web fonts keep only their
WOFF2 (else WOFF) source, and IE-only ``.eot`` sources are dropped, to keep the file
small; every browser with WOFF2 support renders them the same. Leaflet's default marker
icons are set to ``data:`` URIs too. Tile layers remain the caller's choice: a map made
with ``tiles=None`` makes no network request at all.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import os
import re
import urllib.parse
from collections.abc import Collection
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from gridmap.maps.assets import (  # _CSS_URL: the url() grammar shared with the cache
    _CSS_URL,
    LEAFLET_ICONS,
    AssetCache,
    asset_cache,
    css_references,
    missing_assets_error,
    normalize_url,
)

if TYPE_CHECKING:
    import folium

__all__ = ["inline_html", "remote_references", "save_offline"]

logger = logging.getLogger(__name__)

_TOKEN = re.compile(
    r"<!--.*?-->|<script\b[^>]*>.*?</script\s*>|<style\b[^>]*>.*?</style\s*>|<link\b[^>]*>",
    re.I | re.S,
)
_OPEN_TAG = re.compile(r"<[a-z]+\b[^>]*>", re.I)
_MIME = {
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


class _StartTag(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.attrs:
            self.attrs = {k.lower(): v or "" for k, v in attrs}


def _attributes(tag: str) -> dict[str, str]:
    parser = _StartTag()
    parser.feed(tag)
    parser.close()
    return parser.attrs


def _is_remote(url: str) -> bool:
    return url.startswith("//") or urllib.parse.urlsplit(url).scheme in ("http", "https")


def escape_script(js: str) -> str:
    """Make JavaScript safe inside ``<script>...</script>``: no ``</script``, ``<script`` or ``<!--`` remains.

    ``</script`` becomes ``<\\/script`` (the same string in JS strings and regular
    expressions); ``<script`` and ``<!--`` become ``\\x3Cscript`` and ``\\x3C!--``, which
    keep the HTML parser out of its "script data escaped" states.

    Examples
    --------
    >>> print(escape_script('var s = "</script><!--";'))
    var s = "<\\/script>\\x3C!--";
    """
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.I)
    js = re.sub(r"<(script)", r"\\x3C\1", js, flags=re.I)
    return js.replace("<!--", "\\x3C!--")


def _data_uri(url: str, data: bytes) -> str:
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    mime = _MIME.get(suffix) or mimetypes.guess_type(url)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


_SRC_DECL = re.compile(r"(?<![-\w])src\s*:\s*([^;}]*)", re.I)


def _best_font_sources(css: str) -> str:
    """Keep only the WOFF2 (else WOFF) items of each multi-item ``src:``; drop ``.eot``-only ``src:``."""

    def pick(match: re.Match[str]) -> str:
        items = [item.strip() for item in match.group(1).split(",") if item.strip()]
        lowered = [item.lower() for item in items]
        if lowered and all(".eot" in item and "woff" not in item for item in lowered):
            return ""  # IE-only source: no browser we target reads it
        for kind in ("woff2", "woff"):
            best = [item for item, low in zip(items, lowered) if f".{kind}" in low or f'"{kind}"' in low]
            if best and len(best) < len(items):
                return "src:" + ",".join(best)
        return match.group(0)

    return _SRC_DECL.sub(pick, css)


class _Inliner:
    """One inlining pass over a page: collects missing URLs instead of stopping at the first."""

    def __init__(self, cache: AssetCache, exclude: Collection[str]) -> None:
        self.cache = cache
        self.exclude = {normalize_url(u) for u in exclude}
        self.missing: list[str] = []

    def _read(self, url: str) -> bytes | None:
        if self.cache.missing([url]):
            if url not in self.missing:
                self.missing.append(url)
            return None
        return self.cache.read_bytes(url)

    def token(self, match: re.Match[str]) -> str:
        text = match.group(0)
        lowered = text[:8].lower()
        if lowered.startswith("<script"):
            return self.script(text)
        if lowered.startswith("<link"):
            return self.link(text)
        return text

    def script(self, text: str) -> str:
        opening = _OPEN_TAG.match(text)
        assert opening is not None, "a script token starts with its opening tag (_TOKEN)"
        attrs = _attributes(opening.group(0))
        src = attrs.get("src", "")
        if not _is_remote(src):
            return text
        url = normalize_url(src)
        if url in self.exclude:
            return ""
        data = self._read(url)
        if data is None:
            return text
        js = data.decode("utf-8")
        if url.endswith("/leaflet.js"):
            js += "\n" + self.leaflet_icons(url)
        kind = f' type="{escape(attrs["type"])}"' if "type" in attrs else ""
        return f"<script{kind}>/* {escape(url)} */\n{escape_script(js)}\n</script>"

    def link(self, text: str) -> str:
        attrs = _attributes(text)
        href = attrs.get("href", "")
        if "stylesheet" not in attrs.get("rel", "").lower().split() or not _is_remote(href):
            return text
        url = normalize_url(href)
        if url in self.exclude:
            return ""
        data = self._read(url)
        if data is None:
            return text
        css = self.css(url, data.decode("utf-8"))
        media = f' media="{escape(attrs["media"])}"' if "media" in attrs else ""
        return f"<style{media}>/* {escape(url)} */\n{css}\n</style>"

    def css(self, base: str, css: str) -> str:
        css = _best_font_sources(css)
        uris: dict[str, str] = {}
        for ref in css_references(css):
            ref_url = normalize_url(urllib.parse.urljoin(base, ref))
            data = self._read(ref_url)
            if data is not None:
                uris[ref] = _data_uri(ref_url, data)

        def swap(match: re.Match[str]) -> str:
            ref = next(g for g in match.groups() if g is not None).strip()
            return f'url("{uris[ref]}")' if ref in uris else match.group(0)

        css = _CSS_URL.sub(swap, css)
        return re.sub(r"</(style)", r"<\\/\1", css, flags=re.I)

    def leaflet_icons(self, leaflet_url: str) -> str:
        """Point Leaflet's default marker icons at data: URIs (Leaflet would build file URLs)."""
        urls = [urllib.parse.urljoin(leaflet_url, f"images/{name}") for name in LEAFLET_ICONS]
        if self.cache.missing(urls):
            return ""
        icon, retina, shadow = (_data_uri(u, self.cache.read_bytes(u)) for u in urls)
        return (
            "L.Icon.Default.imagePath = '';\n"
            f"L.Icon.Default.mergeOptions({{iconUrl: '{icon}', iconRetinaUrl: '{retina}', shadowUrl: '{shadow}'}});"
        )


def inline_html(html: str, *, cache: AssetCache | None = None, exclude: Collection[str] = ()) -> str:
    """Return ``html`` with every remote script and style sheet inlined from the asset cache.

    Parameters
    ----------
    html : str
        A rendered page, e.g. ``fmap.get_root().render()``.
    cache : AssetCache, optional
        Default :func:`gridmap.maps.assets.asset_cache`.
    exclude : collection of str
        Script/style sheet URLs to drop from the page instead of inlining (e.g. Font
        Awesome when a map draws no icons: about 0.8 MB less).

    Returns
    -------
    str
        The self-contained page. Inline scripts, comments and ``<a href>`` links are left as
        they are; ``<script>`` content is escaped with :func:`escape_script`.

    Raises
    ------
    AssetsMissingError
        Listing every URL the cache lacks, and the command that fills it.

    Examples
    --------
    >>> import tempfile
    >>> from gridmap.maps.assets import asset_cache
    >>> page = '<script src="https://d3js.org/d3.v4.min.js"></script>'
    >>> inline_html(page, cache=asset_cache(tempfile.mkdtemp()))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    gridmap.maps.assets.AssetsMissingError: ... lacks https://d3js.org/d3.v4.min.js; run `gridmap assets fetch` ...
    >>> inline_html("<p>no assets</p>", cache=asset_cache(tempfile.mkdtemp()))
    '<p>no assets</p>'
    """
    inliner = _Inliner(cache if cache is not None else asset_cache(), exclude)
    out = _TOKEN.sub(inliner.token, html)
    if inliner.missing:
        raise missing_assets_error(inliner.missing, inliner.cache.path)
    return out


def remote_references(html: str) -> list[str]:
    """Return the http(s) URLs a browser would fetch from the page's markup and style sheets.

    Looks at ``src``/``href`` of every tag except ``<a>`` and at ``url(...)``/``@import``
    in ``<style>`` blocks and ``style`` attributes. URLs that scripts build at run time
    (tile layers) are not seen: only a browser run shows those.

    Examples
    --------
    >>> remote_references('<a href="https://x.org">x</a><img src="https://y.org/i.png">')
    ['https://y.org/i.png']
    """
    finder = _RemoteFinder()
    finder.feed(html)
    finder.close()
    return finder.found


class _RemoteFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value and tag != "a" and name in ("src", "href", "srcset", "poster", "data") and _is_remote(value):
                self.found.append(value)
            if value and name == "style":
                self._css(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._css(data)

    def _css(self, css: str) -> None:
        self.found.extend(ref for ref in css_references(css) if _is_remote(ref))
        self.found.extend(re.findall(r"""@import\s+["'](https?://[^"']+)""", css))


def save_offline(
    fmap: folium.Map,
    path: str | os.PathLike[str],
    *,
    cache: AssetCache | None = None,
    exclude: Collection[str] = (),
) -> Path:
    """Render a folium map and write it as one self-contained UTF-8 HTML file.

    Parameters
    ----------
    fmap : folium.Map
        The map (not changed).
    path : path-like
        Output file.
    cache : AssetCache, optional
        Default :func:`gridmap.maps.assets.asset_cache`.
    exclude : collection of str
        Passed to :func:`inline_html`.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    AssetsMissingError
        When the cache lacks an asset of the page (nothing is written).

    Examples
    --------
    >>> import tempfile, folium
    >>> from gridmap.maps.assets import asset_cache
    >>> empty = asset_cache(tempfile.mkdtemp())
    >>> save_offline(folium.Map(tiles=None), Path(tempfile.mkdtemp()) / "m.html", cache=empty)
    ... # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    gridmap.maps.assets.AssetsMissingError: ... run `gridmap assets fetch` ...
    """
    html = inline_html(fmap.get_root().render(), cache=cache, exclude=exclude)
    out = Path(path)
    out.write_text(html, encoding="utf-8")
    logger.info("wrote offline page %s (%d bytes)", out, out.stat().st_size)
    return out
