"""The offline asset cache, filled from a local npm-style registry on 127.0.0.1 (no external network)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import folium
import pytest
from folium import plugins

from _browser import real_cache_or_skip

from gridmap.errors import GridmapError, UnsafeFileError
from gridmap.maps import assets
from gridmap.maps.assets import (
    ASSET_URLS,
    FETCH_HINT,
    AssetFetchError,
    AssetIntegrityError,
    AssetsMissingError,
    asset_cache,
    fetch_assets,
)

LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"


def _tgz(files: dict[str, bytes], *, top: str = "package") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class _Registry:
    """A real HTTP server on loopback serving npm version documents and tarballs."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.requests: list[str] = []
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                registry.requests.append(self.path)
                body = registry.routes.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, name: str, version: str, files: dict[str, bytes], *, integrity: str | None = None,
                **dist_fields: str | None) -> bytes:
        """Serve `files` as name@version's tarball; `dist_fields` replace (None: remove) fields of ``dist``."""
        tgz = _tgz(files)
        path = f"/tarballs/{name.replace('/', '_')}-{version}.tgz"
        self.routes[path] = tgz
        dist: dict[str, str | None] = {"tarball": self.url + path,
                                       "integrity": integrity if integrity is not None else _sri(tgz),
                                       "shasum": hashlib.sha1(tgz).hexdigest()}
        dist.update(dist_fields)
        dist = {k: v for k, v in dist.items() if v is not None}
        quoted = name.replace("/", "%2F")
        self.routes[f"/{quoted}/{version}"] = json.dumps({"name": name, "version": version, "dist": dist}).encode()
        return tgz


@pytest.fixture
def registry() -> Iterator[_Registry]:
    reg = _Registry()
    reg.thread.start()
    try:
        yield reg
    finally:
        reg.server.shutdown()
        reg.server.server_close()
        reg.thread.join(timeout=5)


LEAFLET_FILES = {
    "dist/leaflet.js": b"window.L = {version: '1.9.3-test'};",
    "dist/leaflet.css": b".leaflet-control-layers-toggle{background-image:url(images/layers.png)}"
    b".x{behavior:url(#default#VML)} .y{background:url('data:image/png;base64,AA==')}",
    "dist/images/layers.png": b"\x89PNG layers",
    "dist/images/marker-icon.png": b"\x89PNG icon",
    "dist/images/marker-icon-2x.png": b"\x89PNG icon2x",
    "dist/images/marker-shadow.png": b"\x89PNG shadow",
    "README.md": b"not needed",
}


def test_url_table_covers_folium_defaults_and_gridmap_plugins() -> None:
    """A folium upgrade that changes an asset URL must fail here, not on a leader's phone."""
    needed = [url for _, url in folium.folium._default_js + folium.folium._default_css]
    for plugin in (plugins.HeatMap, plugins.TimeSliderChoropleth):
        needed += [url for _, url in plugin.default_js + plugin.default_css]
    assert sorted(set(needed) - set(ASSET_URLS)) == []


def test_fetch_from_local_registry_writes_files_and_manifest(registry: _Registry, tmp_path: Path) -> None:
    registry.publish("leaflet", "1.9.3", LEAFLET_FILES)
    written = fetch_assets(source="npm", registry=registry.url, cache_dir=tmp_path, urls=[LEAFLET_JS, LEAFLET_CSS])
    assert written[-1] == tmp_path / "manifest.json"
    cache = asset_cache(tmp_path)
    layers = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/images/layers.png"
    assert cache.read_bytes(LEAFLET_JS) == LEAFLET_FILES["dist/leaflet.js"]
    assert cache.read_bytes(layers) == LEAFLET_FILES["dist/images/layers.png"]
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["assets"]
    assert manifest[LEAFLET_CSS]["sha256"] == hashlib.sha256(LEAFLET_FILES["dist/leaflet.css"]).hexdigest()
    assert manifest[LEAFLET_CSS]["source"] == "leaflet@1.9.3:dist/leaflet.css"
    assert set(manifest) == {LEAFLET_JS, LEAFLET_CSS, layers}  # README and unreferenced icons not taken
    assert registry.requests[0] == "/leaflet/1.9.3"
    assert cache.missing([LEAFLET_JS, "https://d3js.org/d3.v4.min.js"]) == ["https://d3js.org/d3.v4.min.js"]


def test_fetch_every_asset_from_local_registry(registry: _Registry, tmp_path: Path) -> None:
    """All npm sources (scoped package, glyphicons filter, generated and folium-wheel files) in one run."""
    packages: dict[tuple[str, str], dict[str, bytes]] = {}
    for url in ASSET_URLS:
        src = assets._SOURCES[url]
        if isinstance(src, assets._Npm):
            packages.setdefault((src.package, src.version), {})[src.path] = f"/* {url} */".encode()
    bootstrap3 = packages[("bootstrap", "3.1.1")]
    bootstrap3["dist/css/bootstrap.css"] = (
        b"/* {comment} */ body{color:red}\n@font-face{font-family:'Glyphicons Halflings';"
        b"src:url('../fonts/g.woff') format('woff')}\n.glyphicon-plus:before{content:\"+\"}\n.btn{x:y}"
    )
    bootstrap3["dist/fonts/g.woff"] = b"wOFF glyph"
    for (name, version), files in packages.items():
        registry.publish(name, version, files)
    fetch_assets(source="npm", registry=registry.url, cache_dir=tmp_path)
    cache = asset_cache(tmp_path)
    assert cache.missing(ASSET_URLS) == []
    glyph_url = "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css"
    glyph = cache.read_bytes(glyph_url).decode()
    assert ".glyphicon-plus:before" in glyph and "Glyphicons Halflings" in glyph
    assert "body{color:red}" not in glyph and ".btn" not in glyph
    font = "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/fonts/g.woff"
    assert cache.read_bytes(font) == b"wOFF glyph"
    rotate = cache.read_bytes(next(u for u in ASSET_URLS if "rotate" in u)).decode()
    assert ".fa-rotate-45{" in rotate and "rotate(45deg)" in rotate and ".fa-rotate-360" not in rotate
    heat = next(u for u in ASSET_URLS if "leaflet_heat" in u)
    assert cache.read_bytes(heat) == (Path(folium.__file__).parent / "templates/leaflet_heat.min.js").read_bytes()
    assert "/@fortawesome%2Ffontawesome-free/6.2.0" in registry.requests


def test_integrity_mismatch_writes_nothing(registry: _Registry, tmp_path: Path) -> None:
    registry.publish("leaflet", "1.9.3", LEAFLET_FILES, integrity=_sri(b"some other tarball"))
    with pytest.raises(AssetIntegrityError, match=r"leaflet@1\.9\.3 does not match the registry's sha512"):
        fetch_assets(source="npm", registry=registry.url, cache_dir=tmp_path, urls=[LEAFLET_JS])
    assert not (tmp_path / "manifest.json").exists()
    assert asset_cache(tmp_path).missing([LEAFLET_JS]) == [LEAFLET_JS]


@pytest.mark.parametrize("evil", ["../evil.js", "/etc/evil.js", "package/../../evil.js"])
def test_tarball_with_unsafe_member_is_refused(registry: _Registry, tmp_path: Path, evil: str) -> None:
    files = {f"package/{k}": v for k, v in LEAFLET_FILES.items()} | {evil: b"alert(1)"}
    tgz = _tgz(files, top="")
    registry.routes["/tarballs/evil.tgz"] = tgz
    dist = {"tarball": registry.url + "/tarballs/evil.tgz", "integrity": _sri(tgz)}
    registry.routes["/leaflet/1.9.3"] = json.dumps({"dist": dist}).encode()
    cache_dir = tmp_path / "cache"
    with pytest.raises(UnsafeFileError, match="unsafe member path"):
        fetch_assets(source="npm", registry=registry.url, cache_dir=cache_dir, urls=[LEAFLET_JS])
    assert not list(tmp_path.rglob("evil.js"))
    assert not (cache_dir / "manifest.json").exists()


def test_unreachable_registry_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, now closed: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AssetFetchError, match=r"cannot reach http://127\.0\.0\.1:\d+/leaflet/1\.9\.3"):
        fetch_assets(
            source="npm", registry=f"http://127.0.0.1:{port}", cache_dir=tmp_path, urls=[LEAFLET_JS], timeout=5
        )


def test_missing_version_document_names_http_status(registry: _Registry, tmp_path: Path) -> None:
    with pytest.raises(AssetFetchError, match="answered HTTP 404"):
        fetch_assets(source="npm", registry=registry.url, cache_dir=tmp_path, urls=[LEAFLET_JS])


def test_bad_arguments() -> None:
    with pytest.raises(AssetFetchError, match="source must be 'npm' or 'cdn'"):
        fetch_assets(source="git")  # type: ignore[arg-type]
    with pytest.raises(AssetFetchError, match="no known source"):
        fetch_assets(urls=["https://example.org/x.js"])


def test_missing_asset_error_names_the_fetch_command(tmp_path: Path) -> None:
    cache = asset_cache(tmp_path / "empty")
    with pytest.raises(AssetsMissingError, match=r"run `gridmap assets fetch` \(from the CDNs\)") as info:
        cache.path_for(LEAFLET_JS)
    assert "`gridmap assets fetch --from npm` on a connected machine" in str(info.value)
    assert isinstance(info.value, GridmapError) and isinstance(info.value, FileNotFoundError)
    assert FETCH_HINT in str(info.value)


def test_tampered_cache_file_is_detected(registry: _Registry, tmp_path: Path) -> None:
    registry.publish("leaflet", "1.9.3", LEAFLET_FILES)
    fetch_assets(source="npm", registry=registry.url, cache_dir=tmp_path, urls=[LEAFLET_JS])
    asset_cache(tmp_path).path_for(LEAFLET_JS).write_bytes(b"evil()")
    with pytest.raises(AssetIntegrityError, match="does not match its recorded sha256"):
        asset_cache(tmp_path).read_bytes(LEAFLET_JS)


def test_env_variable_selects_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(assets.ASSETS_DIR_ENV, str(tmp_path / "elsewhere"))
    assert asset_cache().path == tmp_path / "elsewhere"
    monkeypatch.delenv(assets.ASSETS_DIR_ENV)
    assert asset_cache().path == Path.home() / ".cache" / "gridmap" / "assets"


def test_oversized_member_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets, "_MAX_MEMBER", 10)
    with pytest.raises(UnsafeFileError, match="exceeds the size caps"):
        assets.read_npm_tarball(_tgz({"dist/big.js": b"x" * 11}))


# ----------------------------------------------------------------------------- npm: the integrity fields


def test_shasum_is_the_fallback_only_without_integrity(registry: _Registry, tmp_path: Path) -> None:
    registry.publish("leaflet", "1.9.3", LEAFLET_FILES, shasum="0" * 40)  # wrong shasum, right integrity: fine
    fetch_assets(source="npm", registry=registry.url, cache_dir=tmp_path / "a", urls=[LEAFLET_JS])
    assert asset_cache(tmp_path / "a").read_bytes(LEAFLET_JS) == LEAFLET_FILES["dist/leaflet.js"]
    tgz = registry.publish("leaflet", "1.9.3", LEAFLET_FILES, integrity="")  # no integrity: shasum decides
    dist = json.loads(registry.routes["/leaflet/1.9.3"])["dist"]
    assert "integrity" not in dist or not dist["integrity"]
    assert dist["shasum"] == hashlib.sha1(tgz).hexdigest()
    fetch_assets(source="npm", registry=registry.url, cache_dir=tmp_path / "b", urls=[LEAFLET_JS])
    assert asset_cache(tmp_path / "b").missing([LEAFLET_JS]) == []


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"integrity": "", "shasum": "0" * 40}, "does not match the registry's sha1 shasum"),
        ({"integrity": "", "shasum": None}, "publishes no integrity hash"),
        ({"integrity": "sha1-" + base64.b64encode(b"x" * 20).decode()}, "does not match the registry's sha1 integrity"),
    ],
)
def test_npm_tarball_refused_without_a_matching_published_hash(registry: _Registry, tmp_path: Path,
                                                               fields: dict, match: str) -> None:
    registry.publish("leaflet", "1.9.3", LEAFLET_FILES, **fields)
    with pytest.raises(AssetIntegrityError, match=match):
        fetch_assets(source="npm", registry=registry.url, cache_dir=tmp_path / "c", urls=[LEAFLET_JS])
    assert not (tmp_path / "c").exists()


# ----------------------------------------------------------------------------- cdn: every file pinned

HEAT = next(u for u in ASSET_URLS if "leaflet_heat" in u)
GLYPH = "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css"
BOOTSTRAP3_CSS = (b"body{color:red}\n@font-face{font-family:'Glyphicons Halflings';"
                  b"src:url('../fonts/g.woff') format('woff')}\n.glyphicon-plus:before{content:\"+\"}")
FAKE_CDN = {
    "npm/leaflet@1.9.3/dist/leaflet.js": LEAFLET_FILES["dist/leaflet.js"],
    "npm/leaflet@1.9.3/dist/leaflet.css": LEAFLET_FILES["dist/leaflet.css"],
    "npm/leaflet@1.9.3/dist/images/layers.png": LEAFLET_FILES["dist/images/layers.png"],
    f"{assets.FOLIUM_GH}/templates/leaflet_heat.min.js": b"/* heat */",
    "npm/bootstrap@3.1.1/dist/css/bootstrap.css": BOOTSTRAP3_CSS,
    "npm/bootstrap@3.1.1/dist/fonts/g.woff": b"wOFF glyph",
}


@pytest.fixture
def cdn(registry: _Registry, monkeypatch: pytest.MonkeyPatch) -> _Registry:
    """The loopback server as a CDN serving FAKE_CDN, with the pins replaced by the fake files' sha256."""
    for path, data in FAKE_CDN.items():
        registry.routes["/" + path] = data
    pins = {path: hashlib.sha256(data).hexdigest() for path, data in FAKE_CDN.items()}
    monkeypatch.setattr(assets, "CDN_SHA256", pins)
    return registry


def test_cdn_fetch_checks_each_file_against_its_pin(cdn: _Registry, tmp_path: Path) -> None:
    fetch_assets(source="cdn", cdn=cdn.url, cache_dir=tmp_path, urls=[LEAFLET_JS, LEAFLET_CSS, HEAT, GLYPH])
    cache = asset_cache(tmp_path)
    assert cache.read_bytes(LEAFLET_CSS) == LEAFLET_FILES["dist/leaflet.css"]
    assert cache.read_bytes("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/images/layers.png") == b"\x89PNG layers"
    assert cache.read_bytes(HEAT) == b"/* heat */"
    assert cache.read_bytes("https://netdna.bootstrapcdn.com/bootstrap/3.0.0/fonts/g.woff") == b"wOFF glyph"
    glyph = cache.read_bytes(GLYPH).decode()
    assert ".glyphicon-plus:before" in glyph and "body{color:red}" not in glyph
    assert sorted(cdn.requests) == sorted("/" + p for p in FAKE_CDN)  # each pinned file once, nothing else
    assert all("@main" not in r for r in cdn.requests)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["assets"]
    assert manifest[HEAT]["source"] == f"cdn:{assets.FOLIUM_GH}/templates/leaflet_heat.min.js"


@pytest.mark.parametrize("tampered", ["npm/leaflet@1.9.3/dist/leaflet.js", "npm/leaflet@1.9.3/dist/images/layers.png",
                                      f"{assets.FOLIUM_GH}/templates/leaflet_heat.min.js"])
def test_cdn_file_with_a_wrong_hash_is_refused_and_the_cache_untouched(
        cdn: _Registry, tmp_path: Path, tampered: str) -> None:
    cache_dir = tmp_path / "cache"
    fetch_assets(source="cdn", cdn=cdn.url, cache_dir=cache_dir, urls=[LEAFLET_JS, HEAT])  # an earlier good fetch
    before = {p.relative_to(cache_dir): p.read_bytes() for p in cache_dir.rglob("*") if p.is_file()}
    cdn.routes["/" + tampered] = b"evil()"
    with pytest.raises(AssetIntegrityError, match=f"{tampered} does not match its pinned sha256"):
        fetch_assets(source="cdn", cdn=cdn.url, cache_dir=cache_dir, urls=[LEAFLET_JS, LEAFLET_CSS, HEAT])
    assert {p.relative_to(cache_dir): p.read_bytes() for p in cache_dir.rglob("*") if p.is_file()} == before
    empty = tmp_path / "empty"
    with pytest.raises(AssetIntegrityError, match="does not match its pinned sha256"):
        fetch_assets(source="cdn", cdn=cdn.url, cache_dir=empty, urls=[LEAFLET_JS, LEAFLET_CSS, HEAT])
    assert not empty.exists()


def test_cdn_never_downloads_an_unpinned_file(cdn: _Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(assets.CDN_SHA256, "npm/leaflet@1.9.3/dist/leaflet.js")
    with pytest.raises(AssetFetchError, match="the npm mapping of .*leaflet.js needs updating"):
        fetch_assets(source="cdn", cdn=cdn.url, cache_dir=tmp_path, urls=[LEAFLET_JS])
    assert cdn.requests == [] and not (tmp_path / "manifest.json").exists()
    monkeypatch.delitem(assets.CDN_SHA256, "npm/leaflet@1.9.3/dist/images/layers.png")
    fetch_assets(source="cdn", cdn=cdn.url, cache_dir=tmp_path, urls=[LEAFLET_CSS])
    assert "/npm/leaflet@1.9.3/dist/images/layers.png" not in cdn.requests  # an unpinned reference is left out


def test_every_cdn_download_is_pinned_and_versioned() -> None:
    """Every file the CDN source can download has a sha256 pin, under a fixed version or tag."""
    for url in ASSET_URLS:
        src = assets._SOURCES[url]
        if isinstance(src, assets._Npm):
            assert f"npm/{src.package}@{src.version}/{src.path}" in assets.CDN_SHA256, url
        elif isinstance(src, assets._FoliumFile):
            assert f"{assets.FOLIUM_GH}/{src.path}" in assets.CDN_SHA256, url
    for path, digest in assets.CDN_SHA256.items():
        assert len(digest) == 64 and int(digest, 16) >= 0
        assert "@main" not in path and "latest" not in path
        package = path.split("/", 1)[1] if path.startswith("npm/") else path
        assert re.search(r"@v?\d+\.\d+\.\d+/", package), path


def test_folium_file_pin_matches_the_installed_wheel() -> None:
    if folium.__version__ != "0.20.0":
        pytest.skip(f"the pin is for folium 0.20.0's file; folium {folium.__version__} is installed")
    heat = (Path(folium.__file__).parent / "templates/leaflet_heat.min.js").read_bytes()
    assert hashlib.sha256(heat).hexdigest() == assets.CDN_SHA256[f"{assets.FOLIUM_GH}/templates/leaflet_heat.min.js"]


@pytest.mark.browser
def test_pins_match_the_files_of_a_cache_filled_from_npm() -> None:
    """jsDelivr's /npm/ files are the tarballs' files: each pin equals the integrity-checked npm file."""
    cache = real_cache_or_skip()
    checked = 0
    for url, entry in cache.entries.items():
        source = str(entry["source"])
        match = re.fullmatch(r"(.+@[^:@]+):(.+)", source)
        if match is None or url == GLYPH:  # generated, folium wheel, or the filtered Glyphicons sheet
            continue
        assert assets.CDN_SHA256[f"npm/{match[1]}/{match[2]}"] == entry["sha256"], url
        checked += 1
    assert checked >= 30
