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
npm as the same file; :mod:`gridmap.maps._asset_sources` lists each one's closest source.
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
from gridmap.maps._asset_sources import (  # re-exported: the registry of URLs and the pinned hashes
    ASSET_URLS,
    CDN_SHA256,
    FOLIUM_GH,
    LEAFLET_ICONS,
    _SOURCES,
    _FoliumFile,
    _Generated,
    _Npm,
)

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
