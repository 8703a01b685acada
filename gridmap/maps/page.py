"""The leaders' page around a folium map: a collapsible panel, phone-sized controls and stable element ids.

The map fills the window. Everything else sits in one panel at the bottom left,
an HTML ``<details>`` element: collapsed it is a one-line bar (title, overall
coverage, dead corners, reports, and the "illustrative data" badge when it
applies); tapped, it opens a scrollable body (at most 55 % of the screen's
height) with the period, the data's date, the legend, the community table and
the dead-corner list. It starts open on screens at least 768 px wide and
collapsed on phones. ``<details>`` needs no script to open and close, so it
works in any Chromium-based in-app browser. Leaflet's zoom buttons and layer
switcher get 44 px touch targets on touch screens (the size Apple's and
Google's guidelines recommend).

folium names every element with a random 32-digit hexadecimal id, so two
exports of the same data differ, and an id can by chance contain eleven
digits that look like a mobile number. :func:`stable_ids` renumbers the
elements in page order with six hexadecimal digits.

Examples
--------
>>> import folium
>>> fmap = folium.Map(tiles=None)
>>> _ = ReportPanel("<summary>t</summary>").add_to(fmap)
>>> stable_ids(fmap).get_name()
'map_000002'
"""

from __future__ import annotations

import itertools
import json
import re
from typing import TYPE_CHECKING

from branca.element import Element, Figure, MacroElement, Template

from gridmap.maps.escape import html_text

if TYPE_CHECKING:  # pragma: no cover
    import folium

__all__ = ["ReportPanel", "stable_ids", "finish_page", "page_root", "PAGE_CSS"]

#: Style of the panel, the tables and the touch-sized controls.
PAGE_CSS = """
.gm-panel { position: fixed; left: 8px; bottom: 50px; z-index: 1000; box-sizing: border-box;
  max-width: min(440px, calc(100vw - 16px));
  background: rgba(255, 255, 255, 0.97); border: 1px solid #888; border-radius: 6px;
  box-shadow: 0 1px 5px rgba(0, 0, 0, 0.35);
  font: 13px/1.45 system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; }
.gm-panel > summary { cursor: pointer; padding: 8px 10px; min-height: 28px; list-style: none; }
.gm-panel > summary::-webkit-details-marker { display: none; }
.gm-panel > summary::before { content: "\\25B8  "; }
.gm-panel[open] > summary::before { content: "\\25BE  "; }
.gm-title { font-weight: bold; }
.gm-key { white-space: nowrap; margin-left: 6px; color: #333; }
.gm-badge { display: inline-block; margin-left: 6px; padding: 0 6px; background: #fff3cd; border: 1px solid #d9b84a;
  border-radius: 3px; white-space: nowrap; }
.gm-warn { background: #f8d7da; border-color: #d9534f; }
.gm-body { max-height: 55vh; overflow: auto; padding: 0 10px 10px; -webkit-overflow-scrolling: touch; }
.gm-body details { margin-top: 6px; }
.gm-body details > summary { cursor: pointer; font-weight: bold; padding: 4px 0; }
.gm-meta { color: #444; margin: 2px 0; }
.gm-table { border-collapse: collapse; width: 100%; }
.gm-table th, .gm-table td { border-bottom: 1px solid #ddd; padding: 3px 4px; text-align: right; white-space: nowrap; }
.gm-table th:first-child, .gm-table td:first-child { text-align: left; white-space: normal; }
.gm-table tr.gm-total td { font-weight: bold; }
.gm-go { font: inherit; padding: 2px 8px; min-height: 28px; }
.gm-swatch { display: inline-block; width: 14px; height: 14px; margin-right: 6px; vertical-align: middle;
  border: 1px solid #555; }
.gm-dot { border-radius: 50%; }
.gm-ramp { display: inline-block; width: 160px; height: 12px; vertical-align: middle; border: 1px solid #555; }
.gm-legend div { margin: 2px 0; }
.gm-popup { font: 13px/1.45 system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif;
  overflow-wrap: anywhere; }
.leaflet-touch .leaflet-bar a { width: 44px; height: 44px; line-height: 44px; font-size: 22px; }
.leaflet-touch .leaflet-control-layers-toggle { width: 44px; height: 44px; }
.leaflet-control-layers-expanded { max-height: 60vh; overflow: auto; }
.leaflet-control-layers label { padding: 4px 0; }
"""

_SCRIPT = """
(function (map, bounds) {
  // Fit the data at once, without the zoom animation a first fitBounds starts (a half-drawn first view).
  if (bounds) { map.fitBounds(bounds, {animate: false}); }
  var panel = document.getElementById("gm-panel");
  if (panel && window.matchMedia && window.matchMedia("(min-width: 768px)").matches) { panel.open = true; }
  var buttons = document.querySelectorAll("button.gm-go");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (e) {
      var lat = parseFloat(this.getAttribute("data-lat")), lon = parseFloat(this.getAttribute("data-lon"));
      if (isFinite(lat) && isFinite(lon)) { map.flyTo([lat, lon], Math.max(map.getZoom(), 17)); }
      if (panel && !(window.matchMedia && window.matchMedia("(min-width: 768px)").matches)) { panel.open = false; }
    });
  }
  window.gridmapReport = {map: map};
})
"""

_JINJA_OPEN = re.compile(r"\{(?=[{%#])")
for _text in (PAGE_CSS, _SCRIPT):  # pragma: no branch - a guard: macro output is rendered again by Jinja2
    if _JINJA_OPEN.search(_text):  # pragma: no cover
        raise RuntimeError("the page's CSS and script must not contain a Jinja2 opening delimiter")


class ReportPanel(MacroElement):
    """The collapsible panel of the leaders' page (its inner HTML already escaped), with the page's style.

    Parameters
    ----------
    inner_html : str
        The ``<summary>`` and body of the panel. Every user string in it must
        already be escaped with :func:`gridmap.maps.escape.html_text` (which
        also makes it inert to Jinja2).
    bounds : tuple of float, optional
        ``(west, south, east, north)`` to fit the map to, at once, when the page opens.
    """

    _template = Template(
        "{% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}\n"
        "{% macro html(this, kwargs) %}"
        '<details id="gm-panel" class="gm-panel">{{ this.inner_html }}</details>'
        "{% endmacro %}\n"
        "{% macro script(this, kwargs) %}{{ this.script }}({{ this._parent.get_name() }}, {{ this.bounds }});"
        "{% endmacro %}\n"
    )

    def __init__(self, inner_html: str, *, bounds: tuple[float, float, float, float] | None = None) -> None:
        super().__init__()
        self._name = "ReportPanel"
        if _JINJA_OPEN.search(inner_html):
            raise ValueError("the panel's HTML holds a Jinja2 delimiter: escape user text with html_text first")
        self.inner_html = inner_html
        self.css = PAGE_CSS
        self.script = _SCRIPT
        self.bounds = "null" if bounds is None else json.dumps(
            [[round(float(bounds[1]), 6), round(float(bounds[0]), 6)],
             [round(float(bounds[3]), 6), round(float(bounds[2]), 6)]])


def page_root(fmap: "folium.Map") -> Figure:
    """The HTML page (a branca ``Figure``) `fmap` is drawn into: its ``header``, ``html`` and ``title``.

    folium types ``get_root()`` as a plain ``Element``; a map's root is always the ``Figure``
    folium made for it.

    Raises
    ------
    TypeError
        When the map's root is not a ``Figure`` (a map placed inside another element).

    Examples
    --------
    >>> import folium
    >>> page_root(folium.Map(tiles=None)).title is None
    True
    """
    root = fmap.get_root()
    if not isinstance(root, Figure):
        raise TypeError(f"the map is drawn into a {type(root).__name__}, not a page (branca Figure)")
    return root


def stable_ids(fmap: "folium.Map") -> "folium.Map":
    """Renumber every element of the map's page in order (``000001``, ``000002``...) and return `fmap`.

    Call it last, just before rendering: elements added later get random ids again.

    Examples
    --------
    >>> import folium
    >>> one, two = folium.Map(tiles=None), folium.Map(tiles=None)
    >>> stable_ids(one).get_root().render() == stable_ids(two).get_root().render()
    True
    """
    counter = itertools.count(1)

    seen: set[int] = set()

    def walk(element: Element) -> None:
        if id(element) in seen:
            return
        seen.add(id(element))
        element._id = f"{next(counter):06x}"
        renamed = []
        for key, child in list(element._children.items()):
            was = child.get_name()
            walk(child)
            # folium's templates sometimes use the key a child was added under (its old name) as a variable.
            renamed.append((child.get_name() if key == was else key, child))
        element._children.clear()
        element._children.update(renamed)
        # Some elements keep parts outside their children (a Popup's ``html`` holds its content).
        for name, value in sorted(vars(element).items()):
            if name != "_parent" and isinstance(value, Element):
                walk(value)

    walk(fmap.get_root())
    return fmap


def finish_page(fmap: "folium.Map", panel_html: str, *, bounds: tuple[float, float, float, float],
                title: str) -> "folium.Map":
    """Add the panel (fitted to `bounds` when the page opens), the layer control and the title; renumber ids.

    Parameters
    ----------
    fmap : folium.Map
        The page's map, its layers added.
    panel_html : str
        The panel's ``<summary>`` and body, every user string already escaped.
    bounds : tuple of float
        ``(west, south, east, north)`` to show first.
    title : str
        The page's title, shown literally (escaped here).

    Returns
    -------
    folium.Map
        `fmap`, with stable element ids (:func:`stable_ids`).

    Examples
    --------
    >>> import folium
    >>> page = finish_page(folium.Map(tiles=None), "<summary>x</summary>", bounds=(109.7, 38.2, 109.8, 38.3),
    ...                    title="<b>t</b>")
    >>> page.get_root().title
    '&lt;b&gt;t&lt;/b&gt;'
    """
    import folium  # deferred: heavy, only drawing needs it

    ReportPanel(panel_html, bounds=bounds).add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)
    page_root(fmap).title = html_text(title)
    return stable_ids(fmap)
