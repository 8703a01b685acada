"""Test helpers: decode the compact point layers of gridmap's pages (written here, independently of the encoder)."""

from __future__ import annotations

import base64
import json
import re
import zlib

import numpy as np


def unpack(text: str, kind: str) -> np.ndarray:
    raw = base64.b64decode(text.translate(str.maketrans("-_.~!*()$@", "0123456789")))
    return np.frombuffer(raw, dtype={"u8": "<u1", "u16": "<u2", "u32": "<u4"}[kind])


def inflated(field: dict, n: int) -> tuple[np.ndarray, list | None]:
    """A deflated field's indices and texts: zlib of the indices' differences, then the texts as JSON."""
    raw = zlib.decompress(base64.b64decode(field["z"].translate(str.maketrans("-_.~!*()$@", "0123456789"))))
    width = {"u8": 1, "u16": 2, "u32": 4}[field["type"]]
    deltas = np.frombuffer(raw[:n * width], dtype=f"<u{width}").astype(np.uint64)
    codes = np.cumsum(deltas) % (1 << (8 * width))
    values = json.loads(raw[n * width:].decode("utf-8")) if field["kind"] == "text" else None
    return codes, values


def decode(payload: str) -> dict:
    data = json.loads(payload)
    out = {"n": data["n"]}
    if data["n"]:
        out["lon"] = data["x0"] + unpack(data["x"], data["xy"]) * data["q"]
        out["lat"] = data["y0"] + unpack(data["y"], data["xy"]) * data["q"]
    fields = {}
    for field in data["fields"]:
        if "z" in field:
            codes, values = inflated(field, data["n"])
            field = {**field, "values": values}
        else:
            codes = unpack(field["codes"], field["type"])
        if field["kind"] == "id":
            fields[field["label"]] = [f"{field['prefix']}{int(c):0{field['width']}d}" for c in codes]
        else:
            fields[field["label"]] = [field["values"][int(c)] for c in codes]
    out["fields"] = fields
    out["palette"] = data["palette"]
    return out


def payload_of(html: str, role: str) -> str:
    found = [p for p in re.findall(r"new GridmapPoints\((\{.*?\})\);\n", html, flags=re.S)
             if json.loads(p)["role"] == role]
    assert len(found) == 1, f"{len(found)} {role} layers"
    return found[0]
