"""A small zlib/DEFLATE decoder in JavaScript, for pages opened in browsers without ``DecompressionStream``.

Compact point layers (:mod:`gridmap.maps.compact`) may carry their large text
fields deflated (``zlib.compress``). Browsers decode them with the native
``DecompressionStream("deflate")`` (Chromium 80, Firefox 113, Safari 16.4);
older ones, and in-app browsers that lack it, run :data:`INFLATE_JS` instead:
a plain decoder of the zlib format (RFC 1950) and the DEFLATE format
(RFC 1951: stored blocks, fixed and dynamic Huffman codes, distances up to
32 KiB), written for this package, with no third-party code. Huffman codes are
decoded canonically, one bit at a time, from the count of codes of each length
(RFC 1951 §3.2.2), which keeps the decoder short; it inflates tens of
megabytes a second, enough for a few megabytes of text once the page has
drawn.

The script defines ``window.gridmapInflate(bytes)``: a ``Uint8Array`` holding a
zlib stream in, the inflated ``Uint8Array`` out; a damaged stream throws an
``Error``. The Adler-32 checksum is not checked (the page is one file; its
text is compared with the source by the tests).

Examples
--------
>>> "gridmapInflate" in INFLATE_JS and "{{" not in INFLATE_JS
True
"""

from __future__ import annotations

__all__ = ["INFLATE_JS"]

#: The decoder; no Jinja2 delimiter may appear in it (folium renders macro output as a template once more).
INFLATE_JS = r"""
(function () {
  if (window.gridmapInflate) { return; }
  var LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258];
  var LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
  var DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
    3073, 4097, 6145, 8193, 12289, 16385, 24577];
  var DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
  var CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
  var fixed = null;
  // A canonical Huffman code (RFC 1951 3.2.2): how many codes of each length, and the symbols in code order.
  function huffman(lengths, start, n) {
    var counts = new Uint16Array(16), symbols = new Uint16Array(n), offsets = new Uint16Array(16), i;
    for (i = 0; i < n; i++) { counts[lengths[start + i]]++; }
    counts[0] = 0;
    for (i = 1; i < 16; i++) { offsets[i] = offsets[i - 1] + counts[i - 1]; }
    for (i = 0; i < n; i++) { if (lengths[start + i]) { symbols[offsets[lengths[start + i]]++] = i; } }
    return {counts: counts, symbols: symbols};
  }
  function fixedCodes() {
    var lengths = new Uint8Array(288 + 30), i;
    for (i = 0; i < 288; i++) { lengths[i] = i < 144 ? 8 : (i < 256 ? 9 : (i < 280 ? 7 : 8)); }
    for (i = 288; i < 318; i++) { lengths[i] = 5; }
    return [huffman(lengths, 0, 288), huffman(lengths, 288, 30)];
  }
  function inflateRaw(src, start) {
    var pos = start, bits = 0, nbits = 0, size = 0, out = new Uint8Array(Math.max(1024, src.length * 4));
    function need(n) {
      while (nbits < n) {
        if (pos >= src.length) { throw new Error("inflate: the stream ends too early"); }
        bits |= src[pos++] << nbits; nbits += 8;
      }
    }
    function take(n) { need(n); var v = bits & ((1 << n) - 1); bits >>>= n; nbits -= n; return v; }
    function room(n) {
      if (size + n <= out.length) { return; }
      var bigger = new Uint8Array(Math.max(out.length * 2, size + n));
      bigger.set(out.subarray(0, size)); out = bigger;
    }
    function decode(h) {
      var code = 0, first = 0, index = 0, count, len;
      for (len = 1; len < 16; len++) {
        if (!nbits) { need(1); }
        code |= bits & 1; bits >>>= 1; nbits--;
        count = h.counts[len];
        if (code - first < count) { return h.symbols[index + code - first]; }
        index += count; first = (first + count) << 1; code <<= 1;
      }
      throw new Error("inflate: a code that is not in the Huffman table");
    }
    function stored() {
      bits = 0; nbits = 0;  // the rest of the current byte
      if (pos + 4 > src.length) { throw new Error("inflate: the stream ends too early"); }
      var n = src[pos] | (src[pos + 1] << 8), check = src[pos + 2] | (src[pos + 3] << 8);
      if ((n ^ 0xffff) !== check) { throw new Error("inflate: a stored block's length fails its check"); }
      pos += 4;
      if (pos + n > src.length) { throw new Error("inflate: the stream ends too early"); }
      room(n); out.set(src.subarray(pos, pos + n), size); size += n; pos += n;
    }
    function dynamic() {
      var nlit = take(5) + 257, ndist = take(5) + 1, nlen = take(4) + 4, i = 0, sym, rep, value;
      var cl = new Uint8Array(19), lengths = new Uint8Array(nlit + ndist);
      for (i = 0; i < nlen; i++) { cl[CL_ORDER[i]] = take(3); }
      var clCode = huffman(cl, 0, 19);
      i = 0;
      while (i < nlit + ndist) {
        sym = decode(clCode);
        if (sym < 16) { lengths[i++] = sym; continue; }
        value = 0;
        if (sym === 16) {
          if (!i) { throw new Error("inflate: a repeat with nothing to repeat"); }
          value = lengths[i - 1]; rep = 3 + take(2);
        } else if (sym === 17) { rep = 3 + take(3); } else { rep = 11 + take(7); }
        if (i + rep > nlit + ndist) { throw new Error("inflate: code lengths overrun"); }
        while (rep--) { lengths[i++] = value; }
      }
      return [huffman(lengths, 0, nlit), huffman(lengths, nlit, ndist)];
    }
    function symbols(lit, dist) {
      for (;;) {
        var sym = decode(lit);
        if (sym < 256) { if (size >= out.length) { room(1); } out[size++] = sym; continue; }
        if (sym === 256) { return; }
        sym -= 257;
        if (sym >= 29) { throw new Error("inflate: a bad length code"); }
        var length = LEN_BASE[sym] + take(LEN_EXTRA[sym]), d = decode(dist);
        if (d >= 30) { throw new Error("inflate: a bad distance code"); }
        d = DIST_BASE[d] + take(DIST_EXTRA[d]);
        if (d > size) { throw new Error("inflate: a distance before the start"); }
        room(length);
        for (var k = 0; k < length; k++) { out[size] = out[size - d]; size++; }
      }
    }
    var last = 0, type, codes;
    while (!last) {
      last = take(1); type = take(2);
      if (type === 0) { stored(); continue; }
      if (type === 3) { throw new Error("inflate: a reserved block type"); }
      codes = type === 1 ? (fixed = fixed || fixedCodes()) : dynamic();
      symbols(codes[0], codes[1]);
    }
    return out.slice(0, size);
  }
  window.gridmapInflate = function (src) {
    // zlib header (RFC 1950): method 8 (deflate), window up to 32 KiB, no preset dictionary, header check.
    if (src.length < 2 || (src[0] & 15) !== 8 || (src[0] >> 4) > 7 || (src[1] & 32) || ((src[0] << 8) | src[1]) % 31) {
      throw new Error("inflate: not a zlib stream");
    }
    return inflateRaw(src, 2);
  };
})();
"""

if "{{" in INFLATE_JS or "{%" in INFLATE_JS or "{#" in INFLATE_JS:  # pragma: no cover - a guard for editors
    raise RuntimeError("INFLATE_JS must not contain a Jinja2 opening delimiter")
