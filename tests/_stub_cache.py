"""An asset cache filled with small stand-ins for every asset (no network): enough to build offline pages."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from gridmap.maps.assets import ASSET_URLS

#: A script or style sheet loaded from the network (a page that is not one offline file).
REMOTE = re.compile(r"""<(script|link)\b[^>]*\b(src|href)\s*=\s*["']?https?:""", flags=re.I)
#: A run of digits shaped like a mainland mobile number, standing alone.
PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")


def stub_cache(folder: Path) -> Path:
    """Write a manifest and one tiny file per URL of ``ASSET_URLS`` into `folder`; return `folder`."""
    files = folder / "files"
    files.mkdir(parents=True, exist_ok=True)
    assets = {}
    for i, url in enumerate(ASSET_URLS):
        data = f"/* stand-in for {url} */\n".encode()
        name = f"files/{i:03d}-{url.rsplit('/', 1)[-1] or 'index'}"
        (folder / name).write_bytes(data)
        assets[url] = {"file": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "source": "stub"}
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "assets": assets}), encoding="utf-8")
    return folder
