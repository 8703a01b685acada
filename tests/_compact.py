"""Test helpers: decode the compact point layers of gridmap's pages (written here, independently of the encoder)."""

from __future__ import annotations

import base64
import json
import re

import numpy as np


def unpack(text: str, kind: str) -> np.ndarray:
    raw = base64.b64decode(text.translate(str.maketrans("-_.~!*()$@", "0123456789")))
    return np.frombuffer(raw, dtype={"u8": "<u1", "u16": "<u2", "u32": "<u4"}[kind])


def decode(payload: str) -> dict:
    data = json.loads(payload)
    out = {"n": data["n"]}
    if data["n"]:
        out["lon"] = data["x0"] + unpack(data["x"], data["xy"]) * data["q"]
        out["lat"] = data["y0"] + unpack(data["y"], data["xy"]) * data["q"]
    fields = {}
    for field in data["fields"]:
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
