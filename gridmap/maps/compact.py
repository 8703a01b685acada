"""Many points in a small page: a compact encoding and a canvas layer that draws it and builds popups on demand.

A folium map with one ``CircleMarker`` and one popup per report writes about a
kilobyte of JavaScript per report, and a browser spends seconds creating the
objects. Here the points travel as a few typed arrays instead:

- coordinates quantised to 1e-5° (about 1 m; phone GPS is good to 5–10 m)
  and stored as unsigned offsets from the south-west corner (16 bits each when
  the extent is under 0.65°, else 32 bits);
- every other field dictionary-encoded: the distinct texts once, and per point
  an 8-, 16- or 32-bit index into them. Free text (descriptions) is kept under
  a byte budget, most recent first; what does not fit shows as "not included in
  this file";
- identifiers of the form prefix + zero-padded number (``R000123``) as numbers;
- a field that would take more than :data:`PACK_OVER` bytes (with 100,000
  distinct descriptions, about 12 MB of UTF-8) is deflated (``zlib.compress``):
  its indices, stored as differences from the previous point's (``1, 1, 1...``
  when every point has its own text), and its distinct texts as JSON, numbered
  in order of first appearance so that the differences stay small. The browser
  inflates it with ``DecompressionStream("deflate")``, or, where that is
  missing, with this package's own decoder (:mod:`gridmap.maps.inflate`),
  after the points are drawn; a tap waits for it. The colouring field is never
  deflated (the tiles need it at once), nor is a field holding a run of
  eleven digits (a shared page's last check must see any phone-shaped number).

The binary arrays are base64 with the ten digits replaced by ``-_.~!*()$@``, so
the data holds no run of digits (a phone-number search over the file cannot be
tripped by chance), and the JSON escapes ``<``, ``>``, ``&`` and any ``{``
that Jinja2 would read as a tag (folium renders a macro's output once more as a
template). In the browser an ``L.GridLayer`` draws the points on canvas tiles;
a tap finds the nearest points by binary search over their Web Mercator x and
builds the popup with ``textContent`` only, so no user text is ever parsed as
HTML.

Examples
--------
>>> import numpy as np
>>> layer = CompactPoints(np.array([109.73, 109.74]), np.array([38.29, 38.30]),
...                       [("类别", ["垃圾", "污水"])], colour_field=0, palette={"垃圾": "#e31a1c"}, name="报告")
>>> layer.count, layer.payload.count("109.73")
(2, 1)
"""

from __future__ import annotations

import base64
import json
import logging
import re
import zlib
from typing import Any, Mapping, Sequence

import numpy as np
from branca.element import Template
from folium.map import Layer

from gridmap.maps.inflate import INFLATE_JS

__all__ = ["CompactPoints", "pack", "QUANTUM_DEG", "POINTS_JS", "json_for_script", "PACK_OVER"]

logger = logging.getLogger(__name__)

#: Coordinate step of the encoding, degrees (about 1.1 m north-south).
QUANTUM_DEG = 1e-5
#: Stand-ins for the digits 0–9 in the base64 text.
_DIGIT_STANDINS = "-_.~!*()$@"
_TO_STANDINS = str.maketrans("0123456789", _DIGIT_STANDINS)
_DEFAULT_PALETTE = ("#1f78b4", "#e31a1c", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#fb9a99",
                    "#b2df8a", "#fdbf6f", "#cab2d6", "#666666")
_ID_RE = re.compile(r"^(\D*)(\d{1,9})$")
#: A field whose indices and texts would take more than this many bytes in the file is deflated.
PACK_OVER = 65_536
_WIDTHS = {"u1": 1, "u2": 2, "u4": 4}
#: A field holding a run of eleven digits (the shape of a mobile number) is never deflated: the last check of a
#: shared page (``gridmap.pages.common``) searches the file's text for phone-shaped numbers and must see it.
_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")


def pack(values: Any, dtype: str) -> str:
    """Little-endian bytes of `values` as base64 whose digits are replaced by ``-_.~!*()$@``.

    Examples
    --------
    >>> pack([0, 1, 65535], "u2")
    'AAABAP//'
    >>> pack([211], "u1")  # base64 "0w==": the digit 0 becomes "-"
    '-w=='
    >>> base64.b64decode(pack([7], "u1").translate(str.maketrans("-_.~!*()$@", "0123456789")))
    b'\\x07'
    """
    raw = np.ascontiguousarray(np.asarray(values), dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
    return _b64(raw)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").translate(_TO_STANDINS)


def _index_type(n: int) -> str:
    return "u1" if n < 2 ** 8 else ("u2" if n < 2 ** 16 else "u4")


_JS_TYPES = {"u1": "u8", "u2": "u16", "u4": "u32"}
_JINJA_OPEN = re.compile(r"\{(?=[{%#])")


def json_for_script(obj: Any) -> str:
    """JSON that is safe inside ``<script>`` and inert to Jinja2.

    ``<``, ``>``, ``&``, U+2028 and U+2029 become ``\\u`` escapes (they can only
    occur inside strings), and so does any ``{`` followed by ``{``, ``%`` or
    ``#`` (a JSON object never opens that way, so such a brace is in a string).

    Examples
    --------
    >>> json_for_script({"t": "</script>{{ 7*7 }}"})
    '{"t": "\\\\u003c/script\\\\u003e\\\\u007b{ 7*7 }}"}'
    >>> json.loads(json_for_script({"t": "</script>{{ 7*7 }}"}))["t"]
    '</script>{{ 7*7 }}'
    """
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return _JINJA_OPEN.sub(r"\\u007b", text)


def _texts(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = None if value is None or (isinstance(value, float) and value != value) or value == "" else str(value)
    return out


def _id_field(label: str, texts: np.ndarray, deflate: bool = False) -> dict[str, Any] | None:
    """Identifiers as prefix + zero-padded numbers, or None when they are not all of that form."""
    if not len(texts) or any(t is None for t in texts):
        return None
    matches = [m for m in (_ID_RE.match(t) for t in texts) if m is not None]
    if len(matches) != len(texts):
        return None
    prefixes = {m.group(1) for m in matches}
    widths = {len(m.group(2)) for m in matches}
    if len(prefixes) != 1 or len(widths) != 1:
        return None
    numbers = np.array([int(m.group(2)) for m in matches], dtype=np.int64)
    field: dict[str, Any] = {"label": label, "kind": "id", "prefix": prefixes.pop(), "width": widths.pop(),
                             "type": "u32"}
    if deflate and 4 * len(numbers) * 4 // 3 > PACK_OVER:
        field["z"] = _deflated(numbers, "u4", None)
    else:
        field["codes"] = pack(numbers, "u4")
    return field


def _deflated(codes: np.ndarray, kind: str, values: list[str | None] | None) -> str:
    """zlib of the indices' differences (little-endian `kind`, modulo its range), then `values` as JSON; base64."""
    dtype = np.dtype(kind).newbyteorder("<")
    deltas = np.mod(np.diff(np.asarray(codes, dtype=np.int64), prepend=0), 1 << (8 * dtype.itemsize))
    raw = deltas.astype(dtype).tobytes()
    if values is not None:
        try:
            raw += json.dumps(values, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: JSON's \u escapes carry it
            raw += json.dumps(values, allow_nan=False).encode("ascii")
    return _b64(zlib.compress(raw, 9))


def _by_first_appearance(values: list[str | None], codes: np.ndarray) -> tuple[list[str | None], np.ndarray]:
    """Renumber the texts in order of first appearance over the points (0, missing, stays 0)."""
    used, first = np.unique(codes[codes > 0], return_index=True)
    ranked = used[np.argsort(first, kind="stable")]
    remap = np.zeros(len(values), dtype=np.int64)
    remap[ranked] = np.arange(1, len(ranked) + 1)
    return [None] + [values[int(c)] for c in ranked], remap[codes]


def _text_bytes(values: Sequence[str | None]) -> int:
    return sum(len(v.encode("utf-8", "surrogatepass")) + 3 for v in values if v is not None)


def _deflated_text_field(label: str, texts: np.ndarray, order: np.ndarray, budget: int | None,
                         omitted: str) -> tuple[dict[str, Any], int]:
    """A deflated text field whose base64 stream stays within `budget` characters, dropping the last in `order`."""
    raw_budget: int | None = None
    for attempt in range(41):  # each pass keeps at most 97 % of the text that overflowed; the last keeps none
        values, codes, dropped = _dictionary(texts, order, raw_budget, omitted)
        values, codes = _by_first_appearance(values, codes)
        kind = _index_type(len(values))
        stream = _deflated(codes, kind, values)
        if budget is None or len(stream) <= budget or raw_budget == 0:
            break
        kept = _text_bytes(values)
        raw_budget = int(kept * budget / len(stream) * 0.97) if kept > 1000 and attempt < 39 else 0
    return {"label": label, "kind": "text", "type": _JS_TYPES[kind], "count": len(values), "z": stream}, dropped


def _dictionary_field(label: str, texts: np.ndarray, order: np.ndarray, budget: int | None, omitted: str,
                      deflate: bool = False) -> tuple[dict[str, Any], int]:
    """Distinct texts (index 0 = missing) and an index per point; texts past `budget` bytes map to `omitted`.

    With `deflate`, a field over :data:`PACK_OVER` bytes is deflated, and `budget` bounds its stream instead.
    """
    if deflate:
        unique = set(t for t in texts if t is not None)
        size = _text_bytes(list(unique)) + len(texts) * _WIDTHS[_index_type(len(unique) + 2)] * 4 // 3
        if size > PACK_OVER and not any(_ELEVEN_DIGITS.search(t) for t in unique):
            return _deflated_text_field(label, texts, order, budget, omitted)
    values, codes, dropped = _dictionary(texts, order, budget, omitted)
    kind = _index_type(len(values))
    return {"label": label, "kind": "text", "values": values, "codes": pack(codes, kind),
            "type": _JS_TYPES[kind]}, dropped


def _dictionary(texts: np.ndarray, order: np.ndarray, budget: int | None,
                omitted: str) -> tuple[list[str | None], np.ndarray, int]:
    """Distinct texts in `order` (index 0 = missing), an index per point, and how many texts missed `budget`."""
    values: list[str | None] = [None]
    index: dict[str, int] = {}
    used, dropped = 0, 0
    codes = np.zeros(len(texts), dtype=np.int64)
    omitted_code = -1
    for i in order:
        text = texts[i]
        if text is None:
            continue
        code = index.get(text)
        if code is None:
            size = len(text.encode("utf-8")) + 3
            if budget is not None and used + size > budget:
                if omitted_code < 0:
                    omitted_code = len(values)
                    values.append(omitted)
                codes[i] = omitted_code
                dropped += 1
                continue
            used += size
            code = index[text] = len(values)
            values.append(text)
        codes[i] = code
    return values, codes, dropped


def _coordinates(lon: np.ndarray, lat: np.ndarray) -> dict[str, Any]:
    west, south = float(np.floor(lon.min() / QUANTUM_DEG) * QUANTUM_DEG), float(
        np.floor(lat.min() / QUANTUM_DEG) * QUANTUM_DEG)
    qx = np.rint((lon - west) / QUANTUM_DEG).astype(np.int64)
    qy = np.rint((lat - south) / QUANTUM_DEG).astype(np.int64)
    kind = "u2" if max(int(qx.max()), int(qy.max())) < 2 ** 16 else "u4"
    return {"x0": round(west, 5), "y0": round(south, 5), "q": QUANTUM_DEG, "xy": _JS_TYPES[kind],
            "x": pack(qx, kind), "y": pack(qy, kind)}


class CompactPoints(Layer):
    """A folium layer of many points, compactly encoded, drawn on canvas tiles, with popups built on tap.

    Parameters
    ----------
    lon, lat : array-like of float
        WGS84 (or, over Amap tiles, GCJ-02) coordinates of the points.
    fields : sequence of (label, values)
        What a popup shows, in order: a label and one value per point (None
        for missing). Values are shown as plain text, never as HTML.
    colour_field : int
        Index of the field whose value colours the point.
    palette : mapping of str to str, optional
        Colour of each value of that field (CSS colour); others get a default
        palette in order of appearance.
    order : array-like of int, optional
        Priority of the points for the text budget (first kept first), e.g.
        newest first. Default: input order.
    id_field : int, optional
        Index of a field of identifiers, stored as numbers when they are a
        prefix and zero-padded digits.
    text_budget : int, optional
        Bytes of distinct text each field may carry (None: no limit): its
        UTF-8 plus 3 bytes a text; for a deflated field (over
        :data:`PACK_OVER` bytes), the characters of its deflated stream.
    omitted : str
        Shown for a text that did not fit the budget.
    more : str
        Shown after the listed points when more lie under the tap; ``{n}`` is
        replaced by their count in the browser.
    name, show : str, bool
        Layer control name and whether the layer is on at first.
    role : str
        A name for scripts and tests to find the layer by (``layer._data.role``).
    radius : float
        Radius of a point in pixels at zoom 16 (smaller when zoomed out).

    Examples
    --------
    >>> import folium
    >>> fmap = folium.Map(tiles=None)
    >>> CompactPoints([109.7], [38.3], [("desc", ["<b>x</b>"])], colour_field=0, name="p").add_to(fmap) is not None
    True
    >>> "<b>x</b>" in fmap.get_root().render()
    False
    """

    _template = Template(
        "{% macro script(this, kwargs) %}\n"
        "{{ this.library }}\n"
        "var {{ this.get_name() }} = new GridmapPoints({{ this.payload }});\n"
        "{% endmacro %}\n"
    )

    def __init__(self, lon: Any, lat: Any, fields: Sequence[tuple[str, Sequence[Any]]], *, colour_field: int = 0,
                 palette: Mapping[str, str] | None = None, order: Any = None, id_field: int | None = None,
                 text_budget: int | None = None, omitted: str = "(not included in this file)",
                 more: str = "+{n} more", name: str = "points", show: bool = True, radius: float = 4.0,
                 role: str = "points") -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GridmapPoints"
        lon_a, lat_a = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        if lon_a.shape != lat_a.shape or lon_a.ndim != 1:
            raise ValueError("lon and lat must be 1-D arrays of the same length")
        if not (np.isfinite(lon_a).all() and np.isfinite(lat_a).all()):
            raise ValueError("every point needs finite coordinates: drop the others first")
        self.count = int(len(lon_a))
        priority = np.arange(self.count) if order is None else np.asarray(order, dtype=np.int64)
        encoded, self.dropped = self._fields(fields, priority, id_field, text_budget, omitted, colour_field)
        data: dict[str, Any] = {"n": self.count, "fields": encoded, "colour": int(colour_field),
                                "palette": self._palette(encoded[colour_field] if encoded else None, palette),
                                "radius": float(radius), "more": more, "role": str(role)}
        if self.count:
            data.update(_coordinates(lon_a, lat_a))
        self.payload = json_for_script(data)
        deflated = any("z" in field for field in encoded)
        self.library = (INFLATE_JS + POINTS_JS) if deflated else POINTS_JS

    def _fields(self, fields: Sequence[tuple[str, Sequence[Any]]], order: np.ndarray, id_field: int | None,
                budget: int | None, omitted: str,
                colour_field: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
        encoded, dropped = [], {}
        for i, (label, values) in enumerate(fields):
            texts = _texts(values)
            if len(texts) != self.count:
                raise ValueError(f"field {label!r} has {len(texts)} values for {self.count} points")
            deflate = i != colour_field
            as_id = _id_field(label, texts, deflate) if i == id_field else None
            if as_id is not None:
                encoded.append(as_id)
                continue
            field, n = _dictionary_field(label, texts, order, budget, omitted, deflate)
            encoded.append(field)
            if n:
                dropped[label] = n
                logger.info("%d %r texts did not fit the page's %d-byte budget; shown as %r", n, label, budget,
                            omitted)
        return encoded, dropped

    @staticmethod
    def _palette(field: dict[str, Any] | None, palette: Mapping[str, str] | None) -> list[str]:
        if field is None or field.get("kind") != "text":
            return [_DEFAULT_PALETTE[0]]
        given = dict(palette or {})
        spare = iter(_DEFAULT_PALETTE * (1 + len(field["values"]) // len(_DEFAULT_PALETTE)))
        return [given.get(v) or next(spare) if v is not None else "#999999" for v in field["values"]]


#: The browser side: decode, draw on canvas tiles, find points under a tap, build popups with textContent.
#: No Jinja2 delimiter may appear here (the macro output is rendered once more as a template).
POINTS_JS = r"""
(function () {
  if (window.GridmapPoints) { return; }
  var STANDINS = "-_.~!*()$@";
  var TYPES = {u8: Uint8Array, u16: Uint16Array, u32: Uint32Array};
  // The value of each base64 character, the digits' stand-ins in the digits' places (52-61).
  var SIX = new Uint8Array(128), ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + STANDINS + "+/";
  for (var c = 0; c < 64; c++) { SIX[ALPHABET.charCodeAt(c)] = c; }
  function bytesOf(text) {
    var n = text.length;
    while (n && text.charCodeAt(n - 1) === 61) { n--; }  // "=" padding
    var bytes = new Uint8Array((n * 3) >> 2), acc = 0, bits = 0, j = 0;
    for (var i = 0; i < n; i++) {
      acc = ((acc << 6) | SIX[text.charCodeAt(i)]) & 0xffffff; bits += 6;
      if (bits >= 8) { bits -= 8; bytes[j++] = (acc >> bits) & 255; }
    }
    return bytes;
  }
  function unpack(text, kind) { return new TYPES[kind](bytesOf(text).buffer); }
  // A zlib stream inflated: natively where DecompressionStream is, else by gridmapInflate (our own decoder).
  function inflate(bytes) {
    var fallback = function () { return window.gridmapInflate(bytes); };
    if (typeof DecompressionStream === "function" && typeof Response === "function") {
      try {
        var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
        return new Response(stream).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); }, fallback);
      } catch (err) { /* an older browser: our own decoder below */ }
    }
    return new Promise(function (resolve) { setTimeout(function () { resolve(fallback()); }, 0); });
  }
  // A deflated field: the indices' differences (prefix sums give the indices), then the texts as JSON.
  function undeflate(field, n, bytes) {
    var width = {u8: 1, u16: 2, u32: 4}[field.type], codes = new TYPES[field.type](bytes.slice(0, n * width).buffer);
    for (var i = 1; i < n; i++) { codes[i] += codes[i - 1]; }
    var values = field.kind === "text" ? JSON.parse(new TextDecoder().decode(bytes.subarray(n * width))) : null;
    return {codes: codes, values: values};
  }
  function lowerBound(keys, order, value) {
    var lo = 0, hi = order.length;
    while (lo < hi) { var mid = (lo + hi) >>> 1; if (keys[order[mid]] < value) { lo = mid + 1; } else { hi = mid; } }
    return lo;
  }
  window.GridmapPoints = L.GridLayer.extend({
    initialize: function (data) {
      // A pane of its own above the vector layers (overlayPane is 400), below markers, tooltips and popups;
      // it takes no pointer events, so taps reach the polygons under the points.
      L.GridLayer.prototype.initialize.call(this, {pane: "gridmapPoints", updateWhenZooming: false});
      var n = data.n, i;
      this._data = data;
      this._lat = new Float64Array(n); this._lon = new Float64Array(n);
      this._mx = new Float64Array(n); this._my = new Float64Array(n);
      if (n) {
        var xs = unpack(data.x, data.xy), ys = unpack(data.y, data.xy);
        for (i = 0; i < n; i++) {
          var lon = data.x0 + xs[i] * data.q, lat = data.y0 + ys[i] * data.q;
          this._lon[i] = lon; this._lat[i] = lat;
          this._mx[i] = (lon + 180) / 360;
          var s = Math.sin(lat * Math.PI / 180);
          this._my[i] = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
        }
      }
      var order = new Uint32Array(n), mx = this._mx;
      for (i = 0; i < n; i++) { order[i] = i; }
      this._order = Array.prototype.slice.call(order).sort(function (a, b) { return mx[a] - mx[b]; });
      this._codes = data.fields.map(function (f) { return f.z ? null : unpack(f.codes, f.type); });
      this._values = data.fields.map(function (f) { return f.z ? null : f.values; });
      this._colours = this._codes.length ? this._codes[data.colour] : new Uint8Array(n);
      var self = this, packed = [], begin = null;
      data.fields.forEach(function (f, k) { if (f.z) { packed.push(k); } });
      this._pending = packed.length > 0;
      this.decoded = null;
      this.startDecoding = function () { if (begin) { begin(); begin = null; } };
      if (!packed.length) { return; }
      // Deflated fields (long texts) are read once the first tiles are drawn (the layer's "load"), at a tap,
      // or after two seconds when the layer is off; a tap waits for them. readyAt: when they arrived, ms since
      // the page's navigation started (for benchmarks).
      this.decoded = new Promise(function (resolve) { begin = resolve; }).then(function () {
        return Promise.all(packed.map(function (k) {
          var f = data.fields[k];
          return inflate(bytesOf(f.z)).then(function (bytes) {
            var got = undeflate(f, n, bytes);
            self._codes[k] = got.codes; self._values[k] = got.values;
          });
        }));
      }).then(function () { self._pending = false; self.readyAt = performance.now(); });
      this.decoded.catch(function (err) { console.error("gridmap: a field could not be read", err); });
      this.once("load", this.startDecoding);
      setTimeout(this.startDecoding, 2000);
    },
    _radius: function (zoom) { return Math.max(1.5, this._data.radius * Math.min(1, Math.pow(1.25, zoom - 16))); },
    createTile: function (coords) {
      var tile = document.createElement("canvas"), size = this.getTileSize();
      tile.width = size.x; tile.height = size.y;
      var ctx = tile.getContext("2d"), scale = size.x * Math.pow(2, coords.z), r = this._radius(coords.z);
      var left = coords.x * size.x, top = coords.y * size.y, paths = {};
      var k = lowerBound(this._mx, this._order, (left - r) / scale), order = this._order;
      for (; k < order.length; k++) {
        var i = order[k], x = this._mx[i] * scale - left;
        if (x > size.x + r) { break; }
        var y = this._my[i] * scale - top;
        if (y < -r || y > size.y + r) { continue; }
        var c = this._colours[i];
        (paths[c] = paths[c] || []).push(x, y);
      }
      ctx.lineWidth = 1; ctx.strokeStyle = "rgba(255,255,255,0.9)";
      for (var key in paths) {
        var xy = paths[key];
        ctx.beginPath();
        for (var j = 0; j < xy.length; j += 2) {
          ctx.moveTo(xy[j] + r, xy[j + 1]); ctx.arc(xy[j], xy[j + 1], r, 0, 2 * Math.PI);
        }
        ctx.fillStyle = this._data.palette[key] || "#1f78b4"; ctx.globalAlpha = 0.85; ctx.fill();
        ctx.globalAlpha = 1; ctx.stroke();
      }
      return tile;
    },
    onAdd: function (map) {
      if (!map.getPane("gridmapPoints")) {
        var pane = map.createPane("gridmapPoints");
        pane.style.zIndex = 450; pane.style.pointerEvents = "none";
      }
      L.GridLayer.prototype.onAdd.call(this, map);
      // One tap handler per map for every points layer on it: one popup listing what lies under the finger.
      if (!map._gmPoints) { map._gmPoints = []; map.on("click", onMapClick, map); }
      map._gmPoints.push(this);
    },
    onRemove: function (map) {
      if (map._gmPoints) { map._gmPoints = map._gmPoints.filter(function (l) { return l !== this; }, this); }
      L.GridLayer.prototype.onRemove.call(this, map);
    },
    hitsAt: function (latlng, tolerance) {
      var map = this._map, zoom = map.getZoom(), scale = 256 * Math.pow(2, zoom);
      var p = map.project(latlng, zoom), t = (tolerance || 12) + this._radius(zoom), hits = [];
      var order = this._order, k = lowerBound(this._mx, order, (p.x - t) / scale);
      for (; k < order.length; k++) {
        var i = order[k], dx = this._mx[i] * scale - p.x;
        if (dx > t) { break; }
        var dy = this._my[i] * scale - p.y;
        if (dx * dx + dy * dy <= t * t) { hits.push([dx * dx + dy * dy, i]); }
      }
      hits.sort(function (a, b) { return a[0] - b[0]; });
      return hits.map(function (h) { return h[1]; });
    },
    valueOf: function (f, i) {
      var field = this._data.fields[f], code = this._codes[f][i];
      if (field.kind === "id") {
        var digits = String(code);
        while (digits.length < field.width) { digits = "0" + digits; }
        return field.prefix + digits;
      }
      return this._values[f][code];
    },
    popupContent: function (indices) {
      var box = document.createElement("div"), listed = indices.slice(0, 5), self = this;
      box.className = "gm-popup";
      listed.forEach(function (i, n) {
        var item = document.createElement("div");
        item.className = "gm-popup-item";
        if (n) { item.style.borderTop = "1px solid #ddd"; item.style.marginTop = "4px"; item.style.paddingTop = "4px"; }
        self._data.fields.forEach(function (field, f) {
          var value = self.valueOf(f, i);
          if (value === null || value === undefined) { return; }
          var row = document.createElement("div"), label = document.createElement("b");
          label.textContent = field.label + ": ";
          row.appendChild(label);
          row.appendChild(document.createTextNode(value));
          item.appendChild(row);
        });
        box.appendChild(item);
      });
      if (indices.length > listed.length) {
        var more = document.createElement("div");
        more.textContent = this._data.more.replace("{n}", String(indices.length - listed.length));
        box.appendChild(more);
      }
      return box;
    },
    nearestLatLng: function (i) { return L.latLng(this._lat[i], this._lon[i]); }
  });
  // Layers added later (reports) are listed first; the popup sits on the nearest point of the first layer hit.
  function onMapClick(e) {
    var map = this, found = [];
    map._gmPoints.slice().reverse().forEach(function (layer) {
      var hits = layer.hitsAt(e.latlng);
      if (hits.length) { found.push([layer, hits]); }
    });
    if (!found.length) { return; }
    var open = function () {
      var box = document.createElement("div");
      found.forEach(function (item, k) {
        if (k) { box.appendChild(document.createElement("hr")); }
        box.appendChild(item[0].popupContent(item[1]));
      });
      L.popup({maxWidth: 300, maxHeight: 320, autoPan: true}).setLatLng(found[0][0].nearestLatLng(found[0][1][0]))
        .setContent(box).openOn(map);
    };
    var waiting = found.filter(function (item) { return item[0]._pending; });
    if (!waiting.length) { open(); return; }
    Promise.all(waiting.map(function (item) { item[0].startDecoding(); return item[0].decoded; })).then(open);
  }
})();
"""

if _JINJA_OPEN.search(POINTS_JS):  # pragma: no cover - a guard for whoever edits the script
    raise RuntimeError("POINTS_JS must not contain a Jinja2 opening delimiter")
