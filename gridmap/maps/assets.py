"""The offline asset cache: every script, style sheet, font and image a folium page loads.

A folium page loads Leaflet, jQuery, Bootstrap, Font Awesome and a few plugins from
CDNs; opened without a network it is a blank page. :func:`fetch_assets` fills a cache
on a connected machine, once; :mod:`gridmap.maps.offline` then inlines the cached files
into a single HTML file. The network is used **only** by :func:`fetch_assets`.

Where the cache lives
---------------------
``~/.cache/gridmap/assets`` by default; the environment variable ``GRIDMAP_ASSETS_DIR``
overrides it (for CI, shared machines, or a cache copied from a USB stick). The folder
holds ``manifest.json`` (URL -> file, sha256, source) and ``files/``.

Sources
-------
Every byte written to the cache is checked against a hash before anything is written;
a mismatch refuses the whole fetch with :class:`AssetIntegrityError` and leaves the
cache as it was. ``source="npm"`` downloads each package's tarball from the npm
registry (the registry's version document gives ``dist.tarball``) and checks it
against the registry's published ``dist.integrity`` (sha512; ``dist.shasum``, sha1,
only when the registry publishes no integrity), then extracts only the needed files.
``source="cdn"`` downloads the same files one by one from jsDelivr, whose ``/npm/``
URLs serve exactly the files of the npm tarballs, each checked against the sha256
pinned in :data:`CDN_SHA256` (computed from the npm tarballs); it never uses a
moving URL (``@main``, "latest 4.x"). Both sources then take every file a style
sheet references (``url(...)``: fonts, images). The cache is keyed by folium's URL
either way, so both fill the same slots. Some folium assets are not published on
npm as the same file; their closest source is:

========================================================  ============================================
folium URL (abridged)                                     npm mode source
========================================================  ============================================
jsdelivr ``leaflet@1.9.3/dist/leaflet.js``, ``.css``      ``leaflet@1.9.3`` same paths (+ ``images/``)
code.jquery.com ``jquery-3.7.1.min.js``                   ``jquery@3.7.1`` ``dist/jquery.min.js`` (the
                                                          same bytes: jQuery's published SRI matches)
jsdelivr ``bootstrap@5.2.2`` bundle js, min css           ``bootstrap@5.2.2`` same paths
netdna ``bootstrap/3.0.0/css/bootstrap-glyphicons.css``   ``bootstrap@3.1.1`` (3.0.0 is not on npm):
                                                          only the Glyphicons rules and ``@font-face``
                                                          of ``dist/css/bootstrap.css``, fonts from
                                                          ``dist/fonts/``
jsdelivr ``@fortawesome/fontawesome-free@6.2.0``          same package, ``css/all.min.css`` + webfonts
cdnjs ``Leaflet.awesome-markers/2.0.2`` js, css           ``leaflet.awesome-markers@2.0.4`` (2.0.2 is
                                                          not on npm) ``dist/`` (+ ``images/``)
jsdelivr gh folium ``leaflet.awesome.rotate.min.css``     not published anywhere but folium's git:
                                                          generated here, 360 rules
                                                          ``.fa-rotate-N{transform:rotate(Ndeg)}``
                                                          (both sources; nothing downloaded)
jsdelivr gh folium@main ``leaflet_heat.min.js``           npm: the same file shipped inside the
                                                          installed folium wheel (``folium/templates/``);
                                                          cdn: pinned to folium's tag v0.20.0
d3js.org ``d3.v4.min.js`` (latest 4.x)                    ``d3@4.13.0`` ``build/d3.min.js``
cdnjs ``moment.js/2.18.1/moment.min.js``                  ``moment@2.18.1`` ``min/moment.min.js``
========================================================  ============================================

The list covers folium's default map template (``folium.folium._default_js`` and
``_default_css``) and the plugins gridmap draws with (``HeatMap``,
``TimeSliderChoropleth``); a test fails when folium changes one of them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import logging
import os
import posixpath
import re
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Literal

from gridmap.errors import GridmapError, UnsafeFileError

__all__ = [
    "ASSET_URLS",
    "LEAFLET_ICONS",
    "ASSETS_DIR_ENV",
    "CDN_SHA256",
    "FETCH_HINT",
    "AssetCache",
    "AssetFetchError",
    "AssetIntegrityError",
    "AssetsMissingError",
    "asset_cache",
    "css_references",
    "default_cache_dir",
    "fetch_assets",
    "normalize_url",
]

logger = logging.getLogger(__name__)

ASSETS_DIR_ENV = "GRIDMAP_ASSETS_DIR"
FETCH_HINT = "run `gridmap assets fetch` (from the CDNs) or `gridmap assets fetch --from npm` on a connected machine"
MANIFEST = "manifest.json"
_MAX_DOWNLOAD = 64 * 2**20  # one tarball or file
_MAX_MEMBER = 32 * 2**20  # one file inside a tarball
_MAX_TAR_TOTAL = 512 * 2**20  # all members of one tarball together
_USER_AGENT = "gridmap-assets/1 (+https://pypi.org/project/gridmap)"


class AssetsMissingError(GridmapError, FileNotFoundError):
    """Assets a page needs are not in the offline asset cache."""


class AssetFetchError(GridmapError, ConnectionError):
    """An asset or registry document could not be downloaded."""


class AssetIntegrityError(GridmapError, ValueError):
    """Downloaded or cached bytes do not match their published or recorded hash."""


@dataclasses.dataclass(frozen=True)
class _Npm:
    package: str
    version: str
    path: str  # inside the package, without the tarball's top folder
    glyphicons_only: bool = False


@dataclasses.dataclass(frozen=True)
class _FoliumFile:
    path: str  # relative to the installed folium package


@dataclasses.dataclass(frozen=True)
class _Generated:
    name: str


_Source = _Npm | _FoliumFile | _Generated

LEAFLET_ICONS = ("marker-icon.png", "marker-icon-2x.png", "marker-shadow.png")
_JSD = "https://cdn.jsdelivr.net"
_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
_SOURCES: dict[str, _Source] = {
    f"{_JSD}/npm/leaflet@1.9.3/dist/leaflet.js": _Npm("leaflet", "1.9.3", "dist/leaflet.js"),
    f"{_JSD}/npm/leaflet@1.9.3/dist/leaflet.css": _Npm("leaflet", "1.9.3", "dist/leaflet.css"),
    # Leaflet's default marker icons: loaded by leaflet.js, not by its CSS
    **{
        f"{_JSD}/npm/leaflet@1.9.3/dist/images/{name}": _Npm("leaflet", "1.9.3", f"dist/images/{name}")
        for name in LEAFLET_ICONS
    },
    "https://code.jquery.com/jquery-3.7.1.min.js": _Npm("jquery", "3.7.1", "dist/jquery.min.js"),
    f"{_JSD}/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": _Npm(
        "bootstrap", "5.2.2", "dist/js/bootstrap.bundle.min.js"
    ),
    f"{_JSD}/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": _Npm("bootstrap", "5.2.2", "dist/css/bootstrap.min.css"),
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": _Npm(
        "bootstrap", "3.1.1", "dist/css/bootstrap.css", glyphicons_only=True
    ),
    f"{_JSD}/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": _Npm(
        "@fortawesome/fontawesome-free", "6.2.0", "css/all.min.css"
    ),
    f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": _Npm(
        "leaflet.awesome-markers", "2.0.4", "dist/leaflet.awesome-markers.js"
    ),
    f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": _Npm(
        "leaflet.awesome-markers", "2.0.4", "dist/leaflet.awesome-markers.css"
    ),
    f"{_JSD}/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": _Generated("rotate"),
    f"{_JSD}/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js": _FoliumFile(
        "templates/leaflet_heat.min.js"
    ),
    "https://d3js.org/d3.v4.min.js": _Npm("d3", "4.13.0", "build/d3.min.js"),
    f"{_CDNJS}/moment.js/2.18.1/moment.min.js": _Npm("moment", "2.18.1", "min/moment.min.js"),
}
ASSET_URLS: tuple[str, ...] = tuple(_SOURCES)
"""The URLs of every top-level script and style sheet the cache holds (see the table above)."""

FOLIUM_GH = "gh/python-visualization/folium@v0.20.0/folium"
"""Where ``source="cdn"`` takes folium's own files: a fixed tag of folium's git, never ``@main``."""

CDN_SHA256: dict[str, str] = {
    "npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css":
        "01b035efb5dfa529c512f82962ed633328222da6f33c224244806d4798c67349",
    "npm/@fortawesome/fontawesome-free@6.2.0/webfonts/fa-brands-400.ttf":
        "c7ae37d35b8edd322f5c85b8f54f8cb76f5e8446581ae20da5e7e3a9bdee900b",
    "npm/@fortawesome/fontawesome-free@6.2.0/webfonts/fa-brands-400.woff2":
        "3fe890d088ecf0cc9bc1b9069201e52972dbad6237865524090e15982d0de718",
    "npm/@fortawesome/fontawesome-free@6.2.0/webfonts/fa-regular-400.ttf":
        "fdc1f7533021117d87697715eac26ba3d4eef9225c7eedbbfb1b0d0cfff0ab8c",
    "npm/@fortawesome/fontawesome-free@6.2.0/webfonts/fa-regular-400.woff2":
        "fe69d94841462d397faeff253ee09a6dc7941be931f942a55e6b9def8f3b048d",
    "npm/@fortawesome/fontawesome-free@6.2.0/webfonts/fa-solid-900.ttf":
        "6d53c706f3b7178ccfc82c94d3fc7968828dacd351717f27c757a65cfd853147",
    "npm/@fortawesome/fontawesome-free@6.2.0/webfonts/fa-solid-900.woff2":
        "d27bc752105c079f8a516e9142406a9fc12cbb409f9bf8681f2ddfe0360b52a6",
    "npm/@fortawesome/fontawesome-free@6.2.0/webfonts/fa-v4compatibility.ttf":
        "4d73f280597014ae892270cee177513ad329955de91ad9d2a45a1f5760a32ffa",
    "npm/@fortawesome/fontawesome-free@6.2.0/webfonts/fa-v4compatibility.woff2":
        "7d1c2ce5f34e1b3567536e8d3039c6c34f8257742982c5ff5a5b47a82e5a67d7",
    "npm/bootstrap@3.1.1/dist/css/bootstrap.css": "0e430441e9833f9e3b9219b4837068670afbb50171678365b95f45de9291b632",
    "npm/bootstrap@3.1.1/dist/fonts/glyphicons-halflings-regular.eot":
        "f495f34e4f177cf0115af995bbbfeb3fcabc88502876e76fc51a4ab439bc8431",
    "npm/bootstrap@3.1.1/dist/fonts/glyphicons-halflings-regular.svg":
        "d168d50a88c730b4e6830dc0da2a2b51dae4658a77d9619943c27b8ecfc19d1a",
    "npm/bootstrap@3.1.1/dist/fonts/glyphicons-halflings-regular.ttf":
        "bd18efd3efd70fec8ad09611a20cdbf99440b2c1d40085c29be036f891d65358",
    "npm/bootstrap@3.1.1/dist/fonts/glyphicons-halflings-regular.woff":
        "fc969dc1c6ff531abcf368089dcbaf5775133b0626ff56b52301a059fc0f9e1e",
    "npm/bootstrap@5.2.2/dist/css/bootstrap.min.css":
        "2143941c03dacda8b4f1016ced6e0c6f34e5c04585a3bcffe33c3c626c448a4a",
    "npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js":
        "c4b2394a30fa0e4a23c6b308541353e20872a6fd765ed8fb70e6b402029deb00",
    "npm/d3@4.13.0/build/d3.min.js": "8585db4092b8a9d26201e0d58e343d1b40fa034c4b9c343878923d7649bb1699",
    "npm/jquery@3.7.1/dist/jquery.min.js": "fc9a93dd241f6b045cbff0481cf4e1901becd0e12fb45166a8f17f95823f0b1a",
    "npm/leaflet.awesome-markers@2.0.4/dist/images/markers-shadow.png":
        "8703a2262710f5e3d29e65d2acdf90d6512e159e119d27b8234731d8a6208a20",
    "npm/leaflet.awesome-markers@2.0.4/dist/images/markers-shadow@2x.png":
        "b21a536be27313fb504f69f5899ff0b1245b276571769ac08d6c32c35676e47a",
    "npm/leaflet.awesome-markers@2.0.4/dist/images/markers-soft.png":
        "e41bc4be3d9cc8fcda26990db42fde1990230d352bc5f6f614fe89e163fb4edb",
    "npm/leaflet.awesome-markers@2.0.4/dist/images/markers-soft@2x.png":
        "d6926e36feb2224311ab88e08dd7c0eebdbe34a64b45ee09a8bc38ecab0cd5ee",
    "npm/leaflet.awesome-markers@2.0.4/dist/leaflet.awesome-markers.css":
        "bfba947d37a17ffa470a27a764affd7115cc747bae47e5ac24386feb5e99321c",
    "npm/leaflet.awesome-markers@2.0.4/dist/leaflet.awesome-markers.js":
        "8b0382d98ee76b3706729ebfb2c088b99be258aa30f6054de67b527602348d07",
    "npm/leaflet@1.9.3/dist/images/layers-2x.png": "066daca850d8ffbef007af00b06eac0015728dee279c51f3cb6c716df7c42edf",
    "npm/leaflet@1.9.3/dist/images/layers.png": "1dbbe9d028e292f36fcba8f8b3a28d5e8932754fc2215b9ac69e4cdecf5107c6",
    "npm/leaflet@1.9.3/dist/images/marker-icon-2x.png":
        "00179c4c1ee830d3a108412ae0d294f55776cfeb085c60129a39aa6fc4ae2528",
    "npm/leaflet@1.9.3/dist/images/marker-icon.png": "574c3a5cca85f4114085b6841596d62f00d7c892c7b03f28cbfa301deb1dc437",
    "npm/leaflet@1.9.3/dist/images/marker-shadow.png":
        "264f5c640339f042dd729062cfc04c17f8ea0f29882b538e3848ed8f10edb4da",
    "npm/leaflet@1.9.3/dist/leaflet.css": "90b693d86392a4779c861b28cf307e7e59c3fb35328c4d8b95f58f814d38c722",
    "npm/leaflet@1.9.3/dist/leaflet.js": "5819285cec137b229c94e1ee5ad73e8b6b84345a4367d60f75fe477fe0fb7b03",
    "npm/moment@2.18.1/min/moment.min.js": "d618d4869738e0dc22360f0ec0cbb6433257843f24723fac240dda0906685238",
    f"{FOLIUM_GH}/templates/leaflet_heat.min.js": "7378c428ff2318ec48e7e73c0d46061f938aa75551c519c74cd790b044dfa0fa",
}
"""The sha256 of every file ``source="cdn"`` downloads, by its path under the CDN (jsDelivr).

The ``npm/`` ones are the files of the npm tarballs (computed from the tarballs, each checked
against the registry's sha512 integrity); ``leaflet_heat.min.js`` is the file folium 0.20.0
ships in its wheel. A file without a pin here is never downloaded.
"""


def default_cache_dir() -> Path:
    """Return the asset cache folder: ``$GRIDMAP_ASSETS_DIR`` or ``~/.cache/gridmap/assets``.

    Returns
    -------
    Path
        The folder (it may not exist yet).

    Examples
    --------
    >>> default_cache_dir().name in {"assets"} or ASSETS_DIR_ENV in os.environ
    True
    """
    env = os.environ.get(ASSETS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "gridmap" / "assets"


def normalize_url(url: str) -> str:
    """Return the cache key of ``url``: https for protocol-relative, no query, no fragment.

    Parameters
    ----------
    url : str
        An absolute or protocol-relative URL.

    Returns
    -------
    str
        The URL as the cache stores it.

    Examples
    --------
    >>> normalize_url("//example.org/f/a.eot?#iefix")
    'https://example.org/f/a.eot'
    """
    if url.startswith("//"):
        url = "https:" + url
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""", re.I)


def css_references(css: str) -> list[str]:
    """Return the ``url(...)`` references of a style sheet a browser would fetch, in order, unique.

    ``data:`` URIs and fragment-only references (``url(#default#VML)``) are left out.

    Parameters
    ----------
    css : str
        Style sheet text.

    Returns
    -------
    list of str
        The references as written (relative or absolute).

    Examples
    --------
    >>> css_references("a{background:url(images/x.png)} b{c:url('data:,1')} i{s:url(\\"f.woff2\\")}")
    ['images/x.png', 'f.woff2']
    """
    refs: list[str] = []
    for match in _CSS_URL.finditer(css):
        ref = next(g for g in match.groups() if g is not None).strip()
        if not ref or ref.startswith(("#", "data:", "about:")) or ref in refs:
            continue
        refs.append(ref)
    return refs


class AssetCache:
    """The asset cache in one folder: look up, check and read cached files by URL.

    Parameters
    ----------
    path : Path
        The cache folder (holding ``manifest.json``).

    Examples
    --------
    >>> import tempfile
    >>> cache = AssetCache(Path(tempfile.mkdtemp()))
    >>> cache.missing(["https://d3js.org/d3.v4.min.js"])
    ['https://d3js.org/d3.v4.min.js']
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._manifest: dict[str, dict[str, object]] | None = None

    def __repr__(self) -> str:
        return f"AssetCache({str(self.path)!r}, {len(self.entries)} files)"

    @property
    def entries(self) -> dict[str, dict[str, object]]:
        """The manifest: URL -> ``{"file", "sha256", "bytes", "source"}`` (empty when there is none)."""
        if self._manifest is None:
            self._manifest = _read_manifest(self.path)
        return self._manifest

    def missing(self, urls: Iterable[str]) -> list[str]:
        """Return the URLs among ``urls`` whose file is not in the cache, in order."""
        out: list[str] = []
        for url in urls:
            entry = self.entries.get(normalize_url(url))
            if entry is None or not (self.path / str(entry["file"])).is_file():
                out.append(url)
        return out

    def path_for(self, url: str) -> Path:
        """Return the cached file of ``url``.

        Raises
        ------
        AssetsMissingError
            When the URL is not cached; the message names the command that fills the cache.
        """
        if self.missing([url]):
            raise missing_assets_error([url], self.path)
        return self.path / str(self.entries[normalize_url(url)]["file"])

    def read_bytes(self, url: str) -> bytes:
        """Return the cached bytes of ``url``, checked against the manifest's sha256.

        Raises
        ------
        AssetsMissingError
            When the URL is not cached.
        AssetIntegrityError
            When the file was changed after it was fetched.
        """
        path = self.path_for(url)
        data = path.read_bytes()
        expected = self.entries[normalize_url(url)].get("sha256")
        if hashlib.sha256(data).hexdigest() != expected:
            raise AssetIntegrityError(
                f"cached asset {path} does not match its recorded sha256 (changed on disk?); "
                f"delete {self.path} and {FETCH_HINT}"
            )
        return data


def asset_cache(cache_dir: str | os.PathLike[str] | None = None) -> AssetCache:
    """Open the asset cache (``cache_dir``, else ``$GRIDMAP_ASSETS_DIR``, else ``~/.cache/gridmap/assets``).

    Parameters
    ----------
    cache_dir : path-like, optional
        The cache folder; need not exist (then every asset is missing).

    Returns
    -------
    AssetCache

    Examples
    --------
    >>> import tempfile
    >>> asset_cache(tempfile.mkdtemp()).entries
    {}
    """
    return AssetCache(Path(cache_dir) if cache_dir is not None else default_cache_dir())


def missing_assets_error(urls: Iterable[str], cache_dir: Path) -> AssetsMissingError:
    """Build the error raised when ``urls`` are not cached (the message names the fetch command)."""
    listed = ", ".join(urls)
    return AssetsMissingError(
        f"the offline asset cache {cache_dir} lacks {listed}; {FETCH_HINT} "
        f"(or point {ASSETS_DIR_ENV} at a filled cache)"
    )


def _read_manifest(folder: Path) -> dict[str, dict[str, object]]:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assets = doc["assets"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AssetIntegrityError(
            f"{path} is not a gridmap asset manifest ({exc}); delete it and {FETCH_HINT}"
        ) from exc
    return dict(assets)


# --------------------------------------------------------------------------- fetching


def fetch_assets(
    *,
    source: Literal["npm", "cdn"] = "npm",
    registry: str = "https://registry.npmjs.org",
    cdn: str = "https://cdn.jsdelivr.net",
    cache_dir: str | os.PathLike[str] | None = None,
    urls: Iterable[str] | None = None,
    timeout: float = 30.0,
) -> list[Path]:
    """Download the assets of folium pages into the offline cache (the only function that uses the network).

    Parameters
    ----------
    source : {"npm", "cdn"}
        ``"npm"``: package tarballs from ``registry``, each checked against the registry's
        published integrity hash; ``"cdn"``: the same files one by one from ``cdn``, each
        checked against its sha256 pinned in :data:`CDN_SHA256`. See the module's table for
        the package of each URL.
    registry : str
        Base URL of an npm registry (``source="npm"`` only).
    cdn : str
        Base URL of jsDelivr or a mirror serving the same paths (``source="cdn"`` only).
    cache_dir : path-like, optional
        The cache folder; default :func:`default_cache_dir`.
    urls : iterable of str, optional
        Fetch only these top-level URLs (default :data:`ASSET_URLS`).
    timeout : float
        Seconds per network request.

    Returns
    -------
    list of Path
        The files written (``manifest.json`` last).

    Raises
    ------
    AssetFetchError
        A host is unreachable or answers with an error.
    AssetIntegrityError
        A tarball does not match the registry's integrity hash (or the registry publishes
        none), or a CDN file does not match its pinned sha256. Nothing is written then.
    UnsafeFileError
        A tarball holds an absolute or ``..`` member path or an oversized member.

    Examples
    --------
    >>> fetch_assets(source="ftp")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    gridmap.maps.assets.AssetFetchError: source must be 'npm' or 'cdn'
    """
    if source not in ("npm", "cdn"):
        raise AssetFetchError(f"source must be 'npm' or 'cdn', not {source!r}")
    wanted = list(ASSET_URLS if urls is None else urls)
    unknown = [u for u in wanted if u not in _SOURCES]
    if unknown:
        raise AssetFetchError(f"no known source for {unknown}; choose among gridmap.maps.assets.ASSET_URLS")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if source == "cdn":
        blobs = _collect_cdn(wanted, cdn=cdn, timeout=timeout)
    else:
        blobs = _collect_npm(wanted, registry=registry, timeout=timeout)
    return _store(folder, blobs)


@dataclasses.dataclass(frozen=True)
class _Blob:
    url: str
    data: bytes
    origin: str


def _download(url: str, *, timeout: float, limit: int = _MAX_DOWNLOAD) -> bytes:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise AssetFetchError(f"refusing to download {url!r}: only http and https URLs are fetched")
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, "Accept": "*/*"})
    logger.info("downloading %s", url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            data = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise AssetFetchError(f"{url} answered HTTP {exc.code} {exc.reason}; check the URL or registry") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AssetFetchError(
            f"cannot reach {url} ({reason}); fetch the assets on a machine with network access "
            f"(set HTTPS_PROXY if you need a proxy) and copy the cache folder, see {ASSETS_DIR_ENV}"
        ) from exc
    if len(data) > limit:
        raise AssetFetchError(f"{url} is larger than {limit} bytes; refusing it")
    return data


class _CdnFiles(Mapping[str, bytes]):
    """The files of one npm package as jsDelivr serves them: only pinned paths exist, each checked on download."""

    def __init__(self, cdn: str, prefix: str, *, timeout: float) -> None:
        self._cdn, self._prefix, self._timeout = cdn.rstrip("/"), prefix, timeout
        self._got: dict[str, bytes] = {}

    def __contains__(self, inner: object) -> bool:
        return f"{self._prefix}/{inner}" in CDN_SHA256

    def __getitem__(self, inner: str) -> bytes:
        if inner not in self:
            raise KeyError(inner)
        if inner not in self._got:
            self._got[inner] = _download_pinned(self._cdn, f"{self._prefix}/{inner}", timeout=self._timeout)
        return self._got[inner]

    def __iter__(self) -> Iterator[str]:
        return (key[len(self._prefix) + 1:] for key in CDN_SHA256 if key.startswith(self._prefix + "/"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _download_pinned(cdn: str, path: str, *, timeout: float) -> bytes:
    """Download ``cdn/path`` and check it against ``CDN_SHA256[path]``."""
    url = f"{cdn.rstrip('/')}/{path}"
    expected = CDN_SHA256.get(path)
    if expected is None:
        raise AssetIntegrityError(f"{url} has no pinned sha256 in gridmap.maps.assets.CDN_SHA256; refusing it")
    data = _download(url, timeout=timeout)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise AssetIntegrityError(
            f"{url} does not match its pinned sha256 (expected {expected}, got {actual}); the download was "
            "corrupted or tampered with: nothing was written, try again or use `gridmap assets fetch --from npm`"
        )
    return data


def _collect_cdn(urls: list[str], *, cdn: str, timeout: float) -> list[_Blob]:
    blobs: list[_Blob] = []
    packages: dict[tuple[str, str], _CdnFiles] = {}
    for url in urls:
        src = _SOURCES[url]
        if isinstance(src, _Generated):
            blobs.append(_Blob(url, _rotate_css().encode(), "generated"))
        elif isinstance(src, _FoliumFile):
            path = f"{FOLIUM_GH}/{src.path}"
            blobs.append(_Blob(url, _download_pinned(cdn, path, timeout=timeout), f"cdn:{path}"))
        else:
            key = (src.package, src.version)
            if key not in packages:
                packages[key] = _CdnFiles(cdn, f"npm/{src.package}@{src.version}", timeout=timeout)
            blobs.extend(_npm_blobs(url, src, packages[key], origin=f"cdn:npm/{src.package}@{src.version}"))
    return blobs


def _collect_npm(urls: list[str], *, registry: str, timeout: float) -> list[_Blob]:
    blobs: list[_Blob] = []
    tarballs: dict[tuple[str, str], dict[str, bytes]] = {}
    for url in urls:
        src = _SOURCES[url]
        if isinstance(src, _Generated):
            blobs.append(_Blob(url, _rotate_css().encode(), "generated"))
        elif isinstance(src, _FoliumFile):
            blobs.append(_Blob(url, _folium_file(src.path), f"folium wheel:{src.path}"))
        else:
            key = (src.package, src.version)
            if key not in tarballs:
                tarballs[key] = _package_files(src.package, src.version, registry=registry, timeout=timeout)
            blobs.extend(_npm_blobs(url, src, tarballs[key], origin=f"{src.package}@{src.version}"))
    return blobs


def _npm_blobs(url: str, src: _Npm, files: Mapping[str, bytes], *, origin: str) -> list[_Blob]:
    """The blobs of one top-level URL and of the files its style sheet references, taken from `files`."""
    if src.path not in files:
        raise AssetFetchError(f"{origin} has no file {src.path}; the npm mapping of {url} needs updating")
    data = files[src.path]
    if src.glyphicons_only:
        data = _glyphicon_rules(data.decode("utf-8"), origin=f"{origin}/{src.path}").encode()
    blobs = [_Blob(url, data, f"{origin}:{src.path}")]
    if not src.path.endswith(".css"):
        return blobs
    base = posixpath.dirname(src.path)
    for ref in css_references(data.decode("utf-8")):
        inner = posixpath.normpath(posixpath.join(base, normalize_url(ref)))
        if inner not in files:
            logger.warning("%s references %s, which %s does not ship; left out", url, ref, origin)
            continue
        blobs.append(_Blob(normalize_url(urllib.parse.urljoin(url, ref)), files[inner], f"{origin}:{inner}"))
    return blobs


def _registry_doc(package: str, version: str, *, registry: str, timeout: float) -> dict[str, object]:
    """The ``dist`` object of ``package@version``'s version document in the registry."""
    url = f"{registry.rstrip('/')}/{urllib.parse.quote(package, safe='@')}/{urllib.parse.quote(version)}"
    raw = _download(url, timeout=timeout, limit=8 * 2**20)
    try:
        doc = json.loads(raw)
        dist = doc["dist"]
        dist["tarball"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AssetFetchError(f"{url} is not an npm version document with dist.tarball ({exc})") from exc
    return dict(dist)


def _package_files(package: str, version: str, *, registry: str, timeout: float) -> dict[str, bytes]:
    dist = _registry_doc(package, version, registry=registry, timeout=timeout)
    data = _download(str(dist["tarball"]), timeout=timeout)
    _check_integrity(data, dist, label=f"{package}@{version}")
    return read_npm_tarball(data, label=f"{package}@{version}")


_SRI_ALGORITHMS = ("sha512", "sha384", "sha256", "sha1")  # strongest first


def _check_integrity(data: bytes, dist: Mapping[str, object], *, label: str) -> None:
    """Check ``data`` against ``dist.integrity`` (Subresource Integrity, strongest algorithm given) or,
    only when the registry publishes no integrity, ``dist.shasum`` (sha1 hex); refuse it without either.

    See https://docs.npmjs.com/cli/v10/configuring-npm/package-lock-json#packages and
    https://www.w3.org/TR/SRI/#the-integrity-attribute for the two fields.
    """
    integrity = str(dist.get("integrity") or "")
    hashes: dict[str, list[str]] = {}
    for item in integrity.split():
        algorithm, _, digest = item.partition("-")
        hashes.setdefault(algorithm.lower(), []).append(digest.split("?", 1)[0])
    strongest = next((a for a in _SRI_ALGORITHMS if a in hashes), None)
    if strongest is not None:
        actual = base64.b64encode(hashlib.new(strongest, data).digest()).decode()
        if actual not in hashes[strongest]:
            raise AssetIntegrityError(
                f"the tarball of {label} does not match the registry's {strongest} integrity; "
                "the download was corrupted or tampered with: nothing was written, try again"
            )
        return
    shasum = str(dist.get("shasum") or "").lower()
    if not shasum:
        raise AssetIntegrityError(
            f"the registry publishes no integrity hash (dist.integrity or dist.shasum) for {label}; "
            "refusing an unverifiable tarball: use the official registry or `gridmap assets fetch --from cdn`"
        )
    if hashlib.sha1(data).hexdigest() != shasum:  # noqa: S324 (npm publishes sha1)
        raise AssetIntegrityError(
            f"the tarball of {label} does not match the registry's sha1 shasum; nothing was written, try again"
        )


def _safe_member_name(name: str) -> str | None:
    """Return the member path without its top folder, or None when the path is unsafe."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = name.split("/")
    if ".." in parts:
        return None
    return "/".join(parts[1:]) if len(parts) > 1 else parts[0]


def read_npm_tarball(data: bytes, *, label: str = "tarball") -> dict[str, bytes]:
    """Return the regular files of an npm ``.tgz`` by path inside the package (top folder removed).

    Every member name is checked first: an absolute path or a ``..`` part refuses the whole
    tarball, as do members above 32 MB or more than 512 MB in all. Nothing is written to disk.

    Parameters
    ----------
    data : bytes
        The gzip-compressed tarball.
    label : str
        Name for messages.

    Returns
    -------
    dict of str to bytes

    Raises
    ------
    UnsafeFileError
        On an unsafe member name or size.

    Examples
    --------
    >>> import io, tarfile
    >>> buf = io.BytesIO()
    >>> with tarfile.open(fileobj=buf, mode="w:gz") as tar:
    ...     info = tarfile.TarInfo("package/dist/a.js"); info.size = 2
    ...     tar.addfile(info, io.BytesIO(b"1;"))
    >>> read_npm_tarball(buf.getvalue())
    {'dist/a.js': b'1;'}
    """
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                inner = _safe_member_name(member.name)
                if inner is None:
                    raise UnsafeFileError(f"{label} holds the unsafe member path {member.name!r}; refusing the tarball")
                total += max(member.size, 0)
                if member.size > _MAX_MEMBER or total > _MAX_TAR_TOTAL:
                    raise UnsafeFileError(f"{label} member {member.name!r} exceeds the size caps; refusing the tarball")
                if member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        files[inner] = handle.read(_MAX_MEMBER + 1)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise AssetFetchError(f"{label} is not a readable .tgz ({exc})") from exc
    return files


def _glyphicon_rules(css: str, *, origin: str) -> str:
    """Keep only the Glyphicons ``@font-face`` and ``.glyphicon*`` top-level rules of a Bootstrap 3 sheet."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    kept: list[str] = []
    depth, start = 0, 0
    for pos, char in enumerate(css):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                rule = css[start : pos + 1].strip()
                start = pos + 1
                prelude = rule.split("{", 1)[0]
                if ".glyphicon" in prelude or (prelude.startswith("@font-face") and "Glyphicons" in rule):
                    kept.append(rule)
    return f"/* Glyphicons rules of {origin} (MIT licence) for gridmap's offline cache */\n" + "\n".join(kept) + "\n"


def _rotate_css() -> str:
    """folium's rotation classes for awesome-markers: ``.fa-rotate-N`` turns by N degrees."""
    rules = (f".fa-rotate-{n}{{-webkit-transform:rotate({n}deg);transform:rotate({n}deg)}}" for n in range(360))
    return "/* generated by gridmap: folium's leaflet.awesome.rotate rules */\n" + "\n".join(rules) + "\n"


def _folium_file(path: str) -> bytes:
    import folium  # deferred: heavy, only drawing needs it

    file = Path(folium.__file__).parent / path
    if not file.is_file():
        raise AssetFetchError(f"the installed folium has no {path}; reinstall folium or use source='cdn'")
    return file.read_bytes()


def _store(folder: Path, blobs: list[_Blob]) -> list[Path]:
    files_dir = folder / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(folder)
    written: list[Path] = []
    for blob in blobs:
        key = normalize_url(blob.url)
        name = posixpath.basename(urllib.parse.urlsplit(key).path) or "asset"
        name = re.sub(r"[^A-Za-z0-9._@-]", "_", name)
        rel = f"files/{hashlib.sha256(key.encode()).hexdigest()[:16]}-{name}"
        _atomic_write(folder / rel, blob.data)
        manifest[key] = {
            "file": rel,
            "sha256": hashlib.sha256(blob.data).hexdigest(),
            "bytes": len(blob.data),
            "source": blob.origin,
        }
        written.append(folder / rel)
    doc = {"format": 1, "assets": dict(sorted(manifest.items()))}
    _atomic_write(folder / MANIFEST, json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8"))
    written.append(folder / MANIFEST)
    logger.info("asset cache %s: %d files written", folder, len(written) - 1)
    return written


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
